//! Keeping API keys and signed-URL signatures out of every message: [`redact_url`] for a
//! URL the client sent, [`redact_text`] for URLs in free text, [`scrub`] for known secrets.

/// What a secret is replaced with.
pub(crate) const REDACTED: &str = "REDACTED";

/// A URL up to its query or fragment: what names an object in a report, without the
/// signature, the credential's id or the expiry of a signed URL.
pub(crate) fn without_query(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url.get(..end).unwrap_or(url)
}

/// A URL with every query value, and any user name and password, replaced by `REDACTED`
/// (parameter names stay); the fragment is dropped.
///
/// ```
/// let url = roboflow_batch::redact::redact_url("https://h/b?api_key=s3cret&pageSize=5");
/// assert_eq!(url, "https://h/b?api_key=REDACTED&pageSize=REDACTED");
/// ```
pub fn redact_url(url: &str) -> String {
    let url = url.split('#').next().unwrap_or(url);
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut out = String::with_capacity(base.len() + query.len());
    match userinfo(base) {
        Some(at) => {
            out.push_str(base.get(..at.start).unwrap_or_default());
            out.push_str(REDACTED);
            out.push_str(base.get(at.end..).unwrap_or_default());
        }
        None => out.push_str(base),
    }
    for (i, pair) in query.split('&').filter(|p| !p.is_empty()).enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        let name = pair.split('=').next().unwrap_or("");
        out.push_str(name);
        out.push('=');
        out.push_str(REDACTED);
    }
    out
}

/// Where the user name and password of a URL are (`user:password` in
/// `https://user:password@host/`), if it has any.
pub(crate) fn userinfo(url: &str) -> Option<std::ops::Range<usize>> {
    let start = url.find("://")? + 3;
    let rest = url.get(start..)?;
    let authority = rest
        .find(['/', '?', '#'])
        .map_or(rest, |end| rest.get(..end).unwrap_or(rest));
    let at = authority.rfind('@')?;
    Some(start..start + at)
}

/// Query parameters whose values are secrets, matched ignoring ASCII case, by store: S3
/// (SigV4, SigV2), GCS, Azure SAS (`sig`, the user-delegation key ids), OAuth JWT-bearer
/// grants, Roboflow (`api_key`) and common names of keys and tokens. Expiry times,
/// permissions, versions and algorithms are not secret. Add a store's names here;
/// [`redact_text`] and every `Display` and `Debug` use them.
pub(crate) const SECRET_QUERY_PARAMS: &str = "\
    x-amz-signature x-amz-credential x-amz-security-token awsaccesskeyid signature \
    x-goog-signature x-goog-credential googleaccessid \
    sig skoid sktid \
    assertion client_assertion \
    api_key api-key apikey key token access_token refresh_token id_token client_secret \
    secret password";

/// `text` with the value of every secret-bearing query parameter (`X-Amz-Signature`, `sig`,
/// `token`, `api_key`, …) replaced by `REDACTED`, after `?` or `&` and their quoted forms
/// (`&amp;`, `\u0026`, `%3F`, `%26`, `%3D`); other text is kept.
///
/// ```
/// let text = roboflow_batch::redact::redact_text("fetch https://b/a.jpg?X-Amz-Date=1&X-Amz-Signature=9f8e7d");
/// assert_eq!(text, "fetch https://b/a.jpg?X-Amz-Date=1&X-Amz-Signature=REDACTED");
/// ```
pub fn redact_text(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut i, mut copied) = (0usize, 0usize);
    while i < bytes.len() {
        let rest = bytes.get(i..).unwrap_or_default();
        let Some(sep) = separator_len(rest, i == 0) else {
            i += 1;
            continue;
        };
        let name_start = i + sep;
        let name_len = bytes
            .get(name_start..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            .count();
        let name_end = name_start + name_len;
        let eq = prefix_len(bytes.get(name_end..).unwrap_or_default(), &[b"=", b"%3d"]);
        let name = text.get(name_start..name_end).unwrap_or_default();
        let secret = SECRET_QUERY_PARAMS
            .split_whitespace()
            .any(|p| p.eq_ignore_ascii_case(name));
        if let Some(eq) = eq.filter(|_| name_len > 0 && secret) {
            let value_start = name_end + eq;
            let value_end = value_start + value_len(bytes.get(value_start..).unwrap_or_default());
            if value_end > value_start {
                out.push_str(text.get(copied..value_start).unwrap_or_default());
                out.push_str(REDACTED);
                copied = value_end;
            }
            i = value_end.max(i + 1);
        } else {
            i = name_start.max(i + 1);
        }
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    out
}

/// The length of a parameter separator at the start of `b`: `?`, `&` and their quoted
/// forms, or white space, or nothing at the very start of the text (a bare `name=value`).
fn separator_len(b: &[u8], at_start: bool) -> Option<usize> {
    prefix_len(b, &[b"&amp;", b"\\u0026", b"%26", b"%3f", b"?", b"&"]).or(match b.first() {
        Some(c) if c.is_ascii_whitespace() => Some(1),
        _ => at_start.then_some(0),
    })
}

/// The length of the first of `prefixes` that `b` starts with, ignoring ASCII case.
fn prefix_len(b: &[u8], prefixes: &[&[u8]]) -> Option<usize> {
    let starts = |p: &[u8]| b.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    prefixes.iter().find(|p| starts(p)).map(|p| p.len())
}

/// How far a parameter's value runs: up to a delimiter of URLs or of the text around them.
fn value_len(b: &[u8]) -> usize {
    let mut n = 0;
    while let Some(&c) = b.get(n) {
        let ends = c.is_ascii_whitespace()
            || b"&#\"'<>\\`)]},;".contains(&c)
            || prefix_len(b.get(n..).unwrap_or_default(), &[b"%26"]).is_some();
        if ends {
            break;
        }
        n += 1;
    }
    n
}

/// Shows a value's `Debug` output through [`redact_text`], for fields (such as JSON echoed
/// by the service) that may quote signed URLs.
pub(crate) struct RedactedDebug<'a, T: ?Sized>(pub &'a T);

impl<T: std::fmt::Debug + ?Sized> std::fmt::Debug for RedactedDebug<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_text(&format!("{:?}", self.0)))
    }
}

/// The secrets found in a URL's query string: every value at least 8 characters long.
///
/// Used to scrub the text of errors from lower layers, which may quote the URL.
pub(crate) fn query_secrets(url: &str) -> Vec<String> {
    let Some((_, query)) = url.split_once('?') else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for pair in query.split('&') {
        if let Some((_, v)) = pair.split_once('=')
            && v.len() >= 8
        {
            out.push(v.to_string());
            let decoded = crate::urls::decode_query_component(v);
            if decoded != v {
                out.push(decoded);
            }
        }
    }
    out
}

/// `text` with each non-empty secret replaced by `REDACTED` where it stands as a whole
/// token (a short key `K` leaves `AWS_ACCESS_KEY_ID` alone), or anywhere when it is at
/// least 8 characters long.
///
/// ```
/// let text = roboflow_batch::redact::scrub("set AWS_ACCESS_KEY_ID, key K", &["K"]);
/// assert_eq!(text, "set AWS_ACCESS_KEY_ID, key REDACTED");
/// ```
pub fn scrub<S: AsRef<str>>(text: &str, secrets: &[S]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        let s = s.as_ref();
        if s.is_empty() || !out.contains(s) {
            continue;
        }
        // A secret this long does not stand inside a word by chance: wherever it is, it
        // is the secret (a server may glue it to other text). Only a short one, which
        // real words contain, is matched as a whole token.
        out = if s.chars().count() >= MIN_ANYWHERE {
            out.replace(s, REDACTED)
        } else {
            replace_tokens(&out, s)
        };
    }
    out
}

/// At most `max` characters of a server's text, every secret gone *before* the cut, so that
/// no cut leaves a piece of one; every place that shortens a server's text comes here.
pub(crate) fn clean_snippet<S: AsRef<str>>(text: &str, max: usize, secrets: &[S]) -> String {
    snippet(&redact_text(&scrub(text, secrets)), max)
}

/// Secrets of at least this many characters are removed wherever they stand.
const MIN_ANYWHERE: usize = 8;

/// A character that continues a word: a secret next to one is part of another word.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `text` with `secret` replaced where it is not part of a longer word: at each end where
/// the secret itself starts or ends with a word character, the text's neighbour must not
/// be one (the rule of a regex's `\b`).
fn replace_tokens(text: &str, secret: &str) -> String {
    let starts_word = secret.chars().next().is_some_and(is_word);
    let ends_word = secret.chars().next_back().is_some_and(is_word);
    let step = secret.chars().next().map_or(1, char::len_utf8);
    let mut out = String::with_capacity(text.len());
    let (mut copied, mut from) = (0usize, 0usize);
    while let Some(pos) = text.get(from..).and_then(|t| t.find(secret)) {
        let start = from + pos;
        let end = start + secret.len();
        let before = text.get(..start).and_then(|t| t.chars().next_back());
        let after = text.get(end..).and_then(|t| t.chars().next());
        let joined = (starts_word && before.is_some_and(is_word))
            || (ends_word && after.is_some_and(is_word));
        if !joined {
            out.push_str(text.get(copied..start).unwrap_or_default());
            out.push_str(REDACTED);
            copied = end;
            from = end;
        } else {
            from = start + step;
        }
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    out
}

/// At most `max` characters of `text`, cut on a character boundary, with `…` when cut.
/// Private: text from a server is cut only by [`clean_snippet`].
fn snippet(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_parameter_is_redacted() {
        for name in SECRET_QUERY_PARAMS.split_whitespace() {
            for form in [name.to_string(), name.to_ascii_uppercase()] {
                let got = redact_text(&format!("https://h/p?a=1&{form}=s3cr3tvalue&b=2"));
                assert!(!got.contains("s3cr3tvalue"), "{got}");
                assert!(got.contains("a=1") && got.contains("b=2"), "{got}");
            }
        }
    }

    #[test]
    fn secrets_are_removed_before_the_cut() {
        let s = query_secrets("http://h/p?api_key=abcdefgh&n=1&sig=a%2Fbcdefghi");
        assert_eq!(s, vec!["abcdefgh", "a%2Fbcdefghi", "a/bcdefghi"]);
        // A 26-character key with any part of it before the 512th character (issue 14).
        let key = "0123456789abcdefghijklmnop";
        for keep in 1..key.len() {
            let text = format!("{}{key} and more", "x".repeat(512 - keep));
            let got = clean_snippet(&text, 512, &[key]);
            assert!(!got.contains(&key[..keep]), "{keep}: {got}");
        }
        // An Azure SAS signature quoted bare (not as `sig=`) across the cut, known from
        // the URL the request was sent to.
        let sig = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdl";
        let secrets = query_secrets(&format!("https://a.blob.core.windows.net/c/b?sig={sig}"));
        for keep in 1..sig.len() {
            let text = format!("{}{sig} does not match", "y".repeat(300 - keep));
            let got = clean_snippet(&text, 300, &secrets);
            assert!(!got.contains(&sig[..keep]), "{keep}: {got}");
        }
        let url =
            "https://bk.s3.amazonaws.com/a%20b.jpg?X-Amz-Credential=AKIA&X-Amz-Signature=ab#x";
        assert_eq!(without_query(url), "https://bk.s3.amazonaws.com/a%20b.jpg");
        assert_eq!(without_query("https://h/p#f"), "https://h/p");
        // Cut on a character boundary.
        assert_eq!(clean_snippet("héllo", 2, &[""]), "hé…");
        assert_eq!(clean_snippet("hi", 2, &[""]), "hi");
    }
}
