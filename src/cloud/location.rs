//! Bucket URLs (`s3://bucket/prefix/**/*.jpg`) and the glob that filters their keys.

use std::fmt;

use crate::{Error, Result};

/// Which object store a bucket URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreKind {
    /// Amazon S3 and S3-compatible stores (`s3://`, `s3a://`).
    S3,
    /// Google Cloud Storage (`gs://`, `gcs://`).
    Gcs,
    /// Azure Blob Storage (`az://`, `azure://`, `abfs://`, `abfss://`).
    Azure,
}

impl StoreKind {
    /// A short name for messages: `S3`, `GCS` or `Azure`.
    ///
    /// ```
    /// assert_eq!(roboflow_batch::cloud::StoreKind::Gcs.name(), "GCS");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::S3 => "S3",
            StoreKind::Gcs => "GCS",
            StoreKind::Azure => "Azure",
        }
    }
}

/// A parsed bucket URL: the store, the bucket (or container), the key prefix to list (up
/// to the first segment with `*`, `?` or `[`, as in the official client), and the glob that
/// keys below it must match (none: every object below the prefix).
///
/// ```
/// let u = roboflow_batch::cloud::BucketUrl::parse("s3://photos/2024/**/*.jpg")?;
/// assert_eq!((u.bucket(), u.prefix(), u.glob()), ("photos", "2024/", Some("**/*.jpg")));
/// # Ok::<(), roboflow_batch::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BucketUrl {
    kind: StoreKind,
    bucket: String,
    account: Option<String>,
    prefix: String,
    glob: Option<Glob>,
}

impl BucketUrl {
    /// Parses `s3://`, `s3a://`, `gs://`, `gcs://`, `az://`, `azure://`, `abfs://` and
    /// `abfss://` URLs. Azure also takes `az://container@account.blob.core.windows.net/…`.
    ///
    /// ```
    /// assert!(roboflow_batch::cloud::BucketUrl::parse("ftp://x/y").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<Self> {
        let bad = |rule: &str| Error::invalid("bucket URL", format!("{rule}, got {url:?}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("must look like s3://bucket/prefix, gs://… or az://…"))?;
        let kind = scheme_kind(scheme).ok_or_else(|| bad("the scheme must be s3, gs or az"))?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (bucket, account) = match host.split_once('@') {
            Some((container, acct_host)) if kind == StoreKind::Azure => {
                let account = acct_host.split('.').next().unwrap_or("");
                (
                    container,
                    Some(account.to_string()).filter(|a| !a.is_empty()),
                )
            }
            _ => (host, None),
        };
        if bucket.is_empty() {
            return Err(bad("the bucket name is missing"));
        }
        if bucket.contains(['*', '?', '[', ']']) {
            return Err(bad("the bucket name cannot hold a glob"));
        }
        if bucket
            .chars()
            .any(|c| c.is_control() || c == ' ' || c == '\\')
        {
            return Err(bad("the bucket name has characters no store allows"));
        }
        let (prefix, glob) = split_glob(path);
        let glob = glob.map(Glob::new).transpose()?;
        Ok(BucketUrl {
            kind,
            bucket: bucket.to_string(),
            account,
            prefix,
            glob,
        })
    }

    /// Whether `s` looks like a bucket URL (so a CLI can tell it from a local folder).
    ///
    /// ```
    /// assert!(!roboflow_batch::cloud::BucketUrl::looks_like("./images"));
    /// ```
    pub fn looks_like(s: &str) -> bool {
        s.split_once("://")
            .is_some_and(|(scheme, _)| scheme_kind(scheme).is_some())
    }

    /// The store.
    ///
    /// ```
    /// # use roboflow_batch::cloud::{BucketUrl, StoreKind};
    /// assert_eq!(BucketUrl::parse("az://c/").unwrap().kind(), StoreKind::Azure);
    /// ```
    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    /// The bucket (Azure: the container).
    ///
    /// ```
    /// assert_eq!(roboflow_batch::cloud::BucketUrl::parse("gs://b/x").unwrap().bucket(), "b");
    /// ```
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The Azure storage account named in the URL (`container@account.…`), if any.
    ///
    /// ```
    /// assert_eq!(roboflow_batch::cloud::BucketUrl::parse("az://c@acct.blob.core.windows.net/").unwrap().account(), Some("acct"));
    /// ```
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// The key prefix to list: empty (the whole bucket) or ending in `/`.
    ///
    /// ```
    /// assert_eq!(roboflow_batch::cloud::BucketUrl::parse("s3://b/a/b/*.png").unwrap().prefix(), "a/b/");
    /// ```
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The glob that keys below the prefix must match, if the URL has one.
    ///
    /// ```
    /// assert_eq!(roboflow_batch::cloud::BucketUrl::parse("s3://b/*.png").unwrap().glob(), Some("*.png"));
    /// ```
    pub fn glob(&self) -> Option<&str> {
        self.glob.as_ref().map(|g| g.source.as_str())
    }

    /// Whether `key` is below the prefix and matches the glob (if any).
    ///
    /// ```
    /// assert!(!roboflow_batch::cloud::BucketUrl::parse("s3://b/in/*/x?.jpg").unwrap().matches("in/cats/deep/x1.jpg"));
    /// ```
    pub fn matches(&self, key: &str) -> bool {
        match key.strip_prefix(self.prefix.as_str()) {
            Some(rel) if !rel.is_empty() => self.glob.as_ref().is_none_or(|g| g.matches(rel)),
            _ => false,
        }
    }

    /// `key` relative to the prefix (the part the glob sees), or the whole key.
    pub(crate) fn relative<'k>(&self, key: &'k str) -> &'k str {
        key.strip_prefix(self.prefix.as_str()).unwrap_or(key)
    }
}

impl fmt::Display for BucketUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = SCHEMES
            .iter()
            .find(|(_, k)| *k == self.kind)
            .map_or("", |(s, _)| s);
        write!(f, "{scheme}://{}", self.bucket)?;
        if let Some(a) = &self.account {
            write!(f, "@{a}")?;
        }
        write!(f, "/{}{}", self.prefix, self.glob().unwrap_or(""))
    }
}

impl fmt::Debug for BucketUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BucketUrl({self})")
    }
}

/// The URL schemes of each store, the first the one written back.
const SCHEMES: [(&str, StoreKind); 8] = [
    ("s3", StoreKind::S3),
    ("s3a", StoreKind::S3),
    ("gs", StoreKind::Gcs),
    ("gcs", StoreKind::Gcs),
    ("az", StoreKind::Azure),
    ("azure", StoreKind::Azure),
    ("abfs", StoreKind::Azure),
    ("abfss", StoreKind::Azure),
];

fn scheme_kind(scheme: &str) -> Option<StoreKind> {
    let found = SCHEMES.iter().find(|(s, _)| s.eq_ignore_ascii_case(scheme));
    found.map(|(_, k)| *k)
}

/// Splits a path into the folder prefix (empty or ending in `/`) and the glob.
fn split_glob(path: &str) -> (String, Option<String>) {
    let is_glob = |s: &str| s.contains(['*', '?', '[']);
    let segments: Vec<&str> = path.split('/').collect();
    match segments.iter().position(|s| is_glob(s)) {
        None => {
            let p = path.trim_matches('/');
            let prefix = if p.is_empty() {
                String::new()
            } else {
                format!("{p}/")
            };
            (prefix, None)
        }
        Some(i) => {
            let prefix: String = segments[..i]
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| format!("{s}/"))
                .collect();
            (prefix, Some(segments[i..].join("/")))
        }
    }
}

/// A glob over `/`-separated keys: `**` (a whole segment) matches any number of segments,
/// including none; `*` any characters within a segment; `?` one character; `[abc]`,
/// `[a-z]` and `[!abc]` one character of a set.
#[derive(Clone, PartialEq, Eq)]
struct Glob {
    source: String,
    segments: Vec<Segment>,
}

#[derive(Clone, PartialEq, Eq)]
enum Segment {
    AnyDepth,
    Pattern(Vec<Token>),
}

#[derive(Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    Star,
    One,
    Set {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Glob {
    fn new(source: String) -> Result<Self> {
        let mut segments = Vec::new();
        for seg in source.split('/') {
            if seg == "**" {
                if segments.last() != Some(&Segment::AnyDepth) {
                    segments.push(Segment::AnyDepth);
                }
                continue;
            }
            segments.push(Segment::Pattern(parse_segment(seg).map_err(|rule| {
                Error::invalid("bucket URL glob", format!("{rule} in {source:?}"))
            })?));
        }
        Ok(Glob { source, segments })
    }

    fn matches(&self, key: &str) -> bool {
        let parts: Vec<&str> = key.split('/').collect();
        match_segments(&self.segments, &parts)
    }
}

fn parse_segment(seg: &str) -> std::result::Result<Vec<Token>, &'static str> {
    let mut out = Vec::new();
    let mut chars = seg.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if out.last() == Some(&Token::Star) => {}
            '*' => out.push(Token::Star),
            '?' => out.push(Token::One),
            '[' => {
                let negated = chars.next_if(|c| matches!(c, '!' | '^')).is_some();
                let mut ranges = Vec::new();
                loop {
                    // A `]` first in the set is one of its characters.
                    match chars.next() {
                        None => return Err("an unclosed `[`"),
                        Some(']') if !ranges.is_empty() => break,
                        Some(lo) => {
                            let mut ahead = chars.clone();
                            match (ahead.next(), ahead.next()) {
                                (Some('-'), Some(hi)) if hi != ']' => {
                                    chars = ahead;
                                    ranges.push((lo, hi));
                                }
                                _ => ranges.push((lo, lo)),
                            }
                        }
                    }
                }
                out.push(Token::Set { negated, ranges });
            }
            c => out.push(Token::Literal(c)),
        }
    }
    Ok(out)
}

fn match_segments(pattern: &[Segment], parts: &[&str]) -> bool {
    match pattern.split_first() {
        None => parts.is_empty(),
        Some((Segment::AnyDepth, rest)) => {
            (0..=parts.len()).any(|skip| match_segments(rest, parts.get(skip..).unwrap_or(&[])))
        }
        Some((Segment::Pattern(tokens), rest)) => match parts.split_first() {
            Some((first, others)) => {
                let chars: Vec<char> = first.chars().collect();
                match_tokens(tokens, &chars) && match_segments(rest, others)
            }
            None => false,
        },
    }
}

/// Iterative wildcard matching with one backtrack point per `*` (linear in practice).
fn match_tokens(tokens: &[Token], s: &[char]) -> bool {
    let (mut t, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match tokens.get(t) {
            Some(Token::Star) => {
                star = Some((t, i));
                t += 1;
            }
            Some(tok) if token_matches(tok, s[i]) => {
                t += 1;
                i += 1;
            }
            _ => match star {
                Some((st, si)) => {
                    t = st + 1;
                    i = si + 1;
                    star = Some((st, si + 1));
                }
                None => return false,
            },
        }
    }
    tokens[t.min(tokens.len())..]
        .iter()
        .all(|tok| *tok == Token::Star)
}

fn token_matches(tok: &Token, c: char) -> bool {
    match tok {
        Token::Literal(l) => *l == c,
        Token::One | Token::Star => true,
        Token::Set { negated, ranges } => {
            ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
        }
    }
}
