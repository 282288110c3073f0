//! Keeping API keys and signed-URL signatures out of every message.
//!
//! The API key travels as the `api_key` query parameter and a signed URL carries its
//! signature in the query string, so a URL is never printed whole. [`redact_url`] keeps
//! the scheme, host and path of a URL the client sent and replaces the value of every query
//! parameter, and any user name and password, with `REDACTED`; [`redact_text`] finds URLs in free text (a response body, an
//! error message) and replaces the values of the parameters that carry secrets; [`scrub`]
//! removes known secrets (the API key) wherever they stand as a value or a whole token.

/// What a secret is replaced with.
///
/// ```
/// use roboflow_batch::redact::{redact_url, REDACTED};
/// assert_eq!(redact_url("https://h/x?api_key=k"), format!("https://h/x?api_key={REDACTED}"));
/// ```
pub const REDACTED: &str = "REDACTED";

/// A URL up to its query or fragment: what names an object in a report, without the
/// signature, the credential's id or the expiry of a signed URL.
///
/// ```
/// use roboflow_batch::redact::without_query;
/// let url = "https://bk.s3.amazonaws.com/a%20b.jpg?X-Amz-Credential=AKIA&X-Amz-Signature=ab#x";
/// assert_eq!(without_query(url), "https://bk.s3.amazonaws.com/a%20b.jpg");
/// assert_eq!(without_query("https://h/p"), "https://h/p");
/// ```
pub fn without_query(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url.get(..end).unwrap_or(url)
}

/// A URL with every query value replaced by `REDACTED`.
///
/// Parameter names stay, so a reader still sees `?api_key=REDACTED&pageSize=REDACTED`
/// and knows which parameters were sent. Fragments are dropped, and so are a user name
/// and password (`https://REDACTED@host/`).
///
/// ```
/// use roboflow_batch::redact::redact_url;
/// let url = "https://api.roboflow.com/x/batches?api_key=s3cret&pageSize=5";
/// assert_eq!(redact_url(url), "https://api.roboflow.com/x/batches?api_key=REDACTED&pageSize=REDACTED");
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

/// Query parameters whose values are secrets, matched ignoring ASCII case: signatures,
/// credentials and tokens of S3 (SigV4 and SigV2), Google Cloud Storage, Azure SAS
/// (`sig`; the user-delegation key ids `skoid`, `sktid`), Roboflow (`api_key`) and common
/// token names. Not listed, as they are not secret: expiry times, permissions, versions
/// and algorithms (`X-Amz-Date`, `se`, `sp`, `sv`, …).
///
/// Add a store's names here; [`redact_text`] and every `Display` and `Debug` use them.
pub(crate) const SECRET_QUERY_PARAMS: &[&str] = &[
    // Amazon S3 and S3-compatible stores.
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "awsaccesskeyid",
    "signature",
    // Google Cloud Storage.
    "x-goog-signature",
    "x-goog-credential",
    "googleaccessid",
    // Azure SAS.
    "sig",
    "skoid",
    "sktid",
    // OAuth JWT-bearer grants (a GCS service account's signed assertion).
    "assertion",
    "client_assertion",
    // Roboflow, and common names for keys and tokens.
    "api_key",
    "api-key",
    "apikey",
    "key",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "secret",
    "password",
];

/// Whether a query parameter's value is a secret (see [`SECRET_QUERY_PARAMS`]).
pub(crate) fn is_secret_param(name: &str) -> bool {
    SECRET_QUERY_PARAMS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(name))
}

/// `text` with the value of every secret-bearing query parameter replaced by `REDACTED`
/// (the names are in `SECRET_QUERY_PARAMS`: `X-Amz-Signature`, `X-Goog-Signature`, `sig`,
/// `signature`, `token`, `api_key`, …). Parameters are found after `?` or `&`, also in the
/// forms that bodies quote URLs in: `&amp;` (HTML), `\u0026` (JSON) and `%3F`, `%26`,
/// `%3D` (a URL inside another URL's query). Other text and other parameters are kept.
///
/// ```
/// use roboflow_batch::redact::redact_text;
/// let body = r#"{"error":"could not fetch https://b.s3.amazonaws.com/a.jpg?X-Amz-Date=20250101&X-Amz-Signature=9f8e7d"}"#;
/// assert_eq!(
///     redact_text(body),
///     r#"{"error":"could not fetch https://b.s3.amazonaws.com/a.jpg?X-Amz-Date=20250101&X-Amz-Signature=REDACTED"}"#,
/// );
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
        let eq = equals_len(bytes.get(name_end..).unwrap_or_default());
        let name = text.get(name_start..name_end).unwrap_or_default();
        if name_len > 0 && eq > 0 && is_secret_param(name) {
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
    const SEPARATORS: &[&[u8]] = &[b"&amp;", b"\\u0026", b"%26", b"%3f", b"?", b"&"];
    if let Some(sep) = SEPARATORS
        .iter()
        .find(|s| b.get(..s.len()).is_some_and(|p| p.eq_ignore_ascii_case(s)))
    {
        return Some(sep.len());
    }
    match b.first() {
        Some(c) if c.is_ascii_whitespace() => Some(1),
        _ if at_start => Some(0),
        _ => None,
    }
}

fn equals_len(b: &[u8]) -> usize {
    if b.first() == Some(&b'=') {
        1
    } else if b.len() >= 3 && b.get(..3).is_some_and(|p| p.eq_ignore_ascii_case(b"%3d")) {
        3
    } else {
        0
    }
}

/// How far a parameter's value runs: up to a delimiter of URLs or of the text around them.
fn value_len(b: &[u8]) -> usize {
    let mut n = 0;
    while let Some(&c) = b.get(n) {
        let ends = c.is_ascii_whitespace()
            || matches!(
                c,
                b'&' | b'#'
                    | b'"'
                    | b'\''
                    | b'<'
                    | b'>'
                    | b'\\'
                    | b'`'
                    | b')'
                    | b']'
                    | b'}'
                    | b','
                    | b';'
            )
            || b.get(n..n + 3)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"%26"));
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

/// `text` with each non-empty secret replaced by `REDACTED` wherever it stands as a value
/// or a whole token: not where it is only part of a longer word (letters, digits and `_`),
/// so that a short key `K` leaves `AWS_ACCESS_KEY_ID` alone, while `api_key=K`, `"K"`,
/// `/K/` and `K` alone are redacted. A secret of 8 characters or more is removed wherever
/// it stands, glued to other text too.
///
/// ```
/// use roboflow_batch::redact::scrub;
/// assert_eq!(scrub("key=abc123 seen", &["abc123"]), "key=REDACTED seen");
/// assert_eq!(scrub("set AWS_ACCESS_KEY_ID, key K", &["K"]), "set AWS_ACCESS_KEY_ID, key REDACTED");
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

/// At most `max` characters of text from a server, with every secret gone: the known
/// `secrets` scrubbed and secret-bearing URL parameters redacted in the whole text
/// *before* the cut, so that no cut leaves a piece of a secret that neither would still
/// recognise. Every place that shortens a server's text goes through here.
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
    fn urls_lose_every_query_value() {
        let cases = [
            ("http://h/p", "http://h/p"),
            ("http://h/p?", "http://h/p"),
            ("http://h/p?api_key=k", "http://h/p?api_key=REDACTED"),
            (
                "http://h/p?a=1&X-Goog-Signature=abc#frag",
                "http://h/p?a=REDACTED&X-Goog-Signature=REDACTED",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(redact_url(input), want, "{input}");
        }
    }

    #[test]
    fn urls_lose_their_user_and_password() {
        let cases = [
            (
                "http://u:PASSWORD@h:1/p?a=1",
                "http://REDACTED@h:1/p?a=REDACTED",
            ),
            ("https://tok@h", "https://REDACTED@h"),
            ("https://a@b:c@h/x", "https://REDACTED@h/x"),
            ("https://h/p@q?x=a@b", "https://h/p@q?x=REDACTED"),
            ("http://h?u=1@2", "http://h?u=REDACTED"),
        ];
        for (input, want) in cases {
            assert_eq!(redact_url(input), want, "{input}");
        }
        assert_eq!(userinfo("http://h/a@b"), None);
        assert_eq!(userinfo("no scheme@h"), None);
    }

    #[test]
    fn text_redaction_table() {
        let cases = [
            // S3 SigV4: signature, credential and token go; date and expiry stay.
            (
                "GET https://b.s3.amazonaws.com/k.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20250101&X-Amz-Date=20250101T000000Z&X-Amz-Expires=900&X-Amz-Security-Token=FwoG&X-Amz-Signature=9f8e failed",
                "GET https://b.s3.amazonaws.com/k.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED&X-Amz-Date=20250101T000000Z&X-Amz-Expires=900&X-Amz-Security-Token=REDACTED&X-Amz-Signature=REDACTED failed",
            ),
            // S3 SigV2.
            (
                "https://b.s3.amazonaws.com/k?AWSAccessKeyId=AKIA&Expires=1&Signature=abc%2B",
                "https://b.s3.amazonaws.com/k?AWSAccessKeyId=REDACTED&Expires=1&Signature=REDACTED",
            ),
            // GCS V4 and V2.
            (
                "https://storage.googleapis.com/b/o?x-goog-credential=sa%40p&x-goog-signature=0a1b",
                "https://storage.googleapis.com/b/o?x-goog-credential=REDACTED&x-goog-signature=REDACTED",
            ),
            (
                "https://storage.googleapis.com/b/o?GoogleAccessId=sa@p.iam&Expires=1&Signature=c2ln",
                "https://storage.googleapis.com/b/o?GoogleAccessId=REDACTED&Expires=1&Signature=REDACTED",
            ),
            // Azure SAS: sig and the delegation key ids go; se, sp, sv stay.
            (
                "https://a.blob.core.windows.net/c/b?sv=2022-11-02&se=2025-01-01&sp=r&skoid=o1&sktid=t1&sig=AbC%3D",
                "https://a.blob.core.windows.net/c/b?sv=2022-11-02&se=2025-01-01&sp=r&skoid=REDACTED&sktid=REDACTED&sig=REDACTED",
            ),
            // A GCS service account's token request: the signed JWT goes.
            (
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=eyJh.eyJp.c2ln",
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=REDACTED",
            ),
            // Our own key and the sandbox's token, in any case.
            (
                "http://h/x?API_KEY=k1&pageSize=5&Token=t1",
                "http://h/x?API_KEY=REDACTED&pageSize=5&Token=REDACTED",
            ),
            // Quoted forms: JSON-escaped, HTML, and a URL inside another URL's query.
            (
                r#"{"url":"https://h/a?x=1\u0026sig=s1\u0026y=2"}"#,
                r#"{"url":"https://h/a?x=1\u0026sig=REDACTED\u0026y=2"}"#,
            ),
            (
                "<a href=\"https://h/a?x=1&amp;signature=s2&amp;y=2\">",
                "<a href=\"https://h/a?x=1&amp;signature=REDACTED&amp;y=2\">",
            ),
            (
                "https://proxy/?u=https%3A%2F%2Fh%2Fa%3Fsig%3Ds3%26x%3D1",
                "https://proxy/?u=https%3A%2F%2Fh%2Fa%3Fsig%3DREDACTED%26x%3D1",
            ),
            // Values end at delimiters of the text around the URL.
            (
                "see (https://h/a?token=t2), 'https://h/b?key=k2' and <https://h/c?sig=s4#f>",
                "see (https://h/a?token=REDACTED), 'https://h/b?key=REDACTED' and <https://h/c?sig=REDACTED#f>",
            ),
            // Bare parameters at the start or after a space.
            ("sig=abc def", "sig=REDACTED def"),
            ("bad api_key=k3", "bad api_key=REDACTED"),
            // Not secret, or not a parameter: kept.
            (
                "https://h/a?design=1&keys=2&sigma=3",
                "https://h/a?design=1&keys=2&sigma=3",
            ),
            (
                "a token is required; key: value",
                "a token is required; key: value",
            ),
            ("https://h/a?sig=&x=1", "https://h/a?sig=&x=1"),
            (
                "zażółć https://h/ä?sig=ü€ ok",
                "zażółć https://h/ä?sig=REDACTED ok",
            ),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(redact_text(input), want, "{input}");
        }
    }

    #[test]
    fn every_listed_parameter_is_redacted() {
        for name in SECRET_QUERY_PARAMS {
            for form in [name.to_string(), name.to_ascii_uppercase()] {
                let text = format!("https://h/p?a=1&{form}=s3cr3tvalue&b=2");
                let got = redact_text(&text);
                assert!(!got.contains("s3cr3tvalue"), "{got}");
                assert!(got.contains("a=1") && got.contains("b=2"), "{got}");
            }
        }
    }

    #[test]
    fn scrub_removes_whole_tokens_and_ignores_empty() {
        assert_eq!(scrub("a X a", &["X", ""]), "a REDACTED a");
        assert_eq!(scrub("none", &[""]), "none");
    }

    #[test]
    fn a_key_is_redacted_as_a_value_or_a_token_never_inside_a_word() {
        // (text, key, expected)
        let cases = [
            // A short key leaves the words that contain it alone.
            (
                "set AWS_ACCESS_KEY_ID and Key",
                "K",
                "set AWS_ACCESS_KEY_ID and Key",
            ),
            ("Keep OK kK", "K", "Keep OK kK"),
            ("KEY_ID", "ID", "KEY_ID"),
            ("id2 ID_x xID", "ID", "id2 ID_x xID"),
            // …but not where it stands as a value or a token.
            (
                "GET http://h/x?api_key=K&a=1 -> 401",
                "K",
                "GET http://h/x?api_key=REDACTED&a=1 -> 401",
            ),
            ("key K.", "K", "key REDACTED."),
            ("K", "K", "REDACTED"),
            (r#"{"api_key":"K"}"#, "K", r#"{"api_key":"REDACTED"}"#),
            ("/ws/K/batches", "K", "/ws/REDACTED/batches"),
            (
                "(K), [K]; K-K",
                "K",
                "(REDACTED), [REDACTED]; REDACTED-REDACTED",
            ),
            ("K\nK\tK", "K", "REDACTED\nREDACTED\tREDACTED"),
            // A full-length key, anywhere it stands alone.
            (
                "invalid key rf_abc123XYZ789def456; api_key=rf_abc123XYZ789def456",
                "rf_abc123XYZ789def456",
                "invalid key REDACTED; api_key=REDACTED",
            ),
            // A key long enough not to occur by chance goes even glued to other text.
            (
                "sha xrf_abc123XYZ789def456y",
                "rf_abc123XYZ789def456",
                "sha xREDACTEDy",
            ),
            // A short one inside a longer word is another word (a hash, an id).
            ("sha x1234567y", "1234567", "sha x1234567y"),
            // Edges that are not word characters need no boundary (a base64 signature).
            ("sig=ab+c/d== x", "ab+c/d==", "sig=REDACTED x"),
            ("x=ab+c/d==yz", "ab+c/d==", "x=REDACTEDyz"),
            // Non-ASCII letters are word characters too.
            ("éK Kä K", "K", "éK Kä REDACTED"),
            ("", "K", ""),
        ];
        for (text, key, want) in cases {
            assert_eq!(scrub(text, &[key]), want, "{text:?} with key {key:?}");
        }
    }

    #[test]
    fn query_secrets_finds_long_values_raw_and_decoded() {
        let s = query_secrets("http://h/p?api_key=abcdefgh&n=1&sig=a%2Fbcdefghi");
        assert_eq!(s, vec!["abcdefgh", "a%2Fbcdefghi", "a/bcdefghi"]);
    }

    #[test]
    fn secrets_are_removed_before_the_cut() {
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
        let secrets = query_secrets(&format!(
            "https://a.blob.core.windows.net/c/b?sv=1&sig={sig}"
        ));
        for keep in 1..sig.len() {
            let text = format!("{}{sig} does not match", "y".repeat(300 - keep));
            let got = clean_snippet(&text, 300, &secrets);
            assert!(!got.contains(&sig[..keep]), "{keep}: {got}");
        }
    }

    #[test]
    fn snippet_cuts_on_char_boundary() {
        assert_eq!(snippet("héllo", 2), "hé…");
        assert_eq!(snippet("hi", 2), "hi");
    }
}
