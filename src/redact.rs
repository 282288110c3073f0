//! Keeping API keys and signed-URL signatures out of every message.
//!
//! The API key travels as the `api_key` query parameter and a signed URL carries its
//! signature in the query string, so a URL is never printed whole. [`redact_url`] keeps
//! the scheme, host and path and replaces the value of every query parameter with
//! `REDACTED`; [`scrub`] removes known secrets from free text such as a response body.

/// What a secret is replaced with.
///
/// ```
/// use roboflow_batch::redact::{redact_url, REDACTED};
/// assert_eq!(redact_url("https://h/x?api_key=k"), format!("https://h/x?api_key={REDACTED}"));
/// ```
pub const REDACTED: &str = "REDACTED";

/// A URL with every query value replaced by `REDACTED`.
///
/// Parameter names stay, so a reader still sees `?api_key=REDACTED&pageSize=REDACTED`
/// and knows which parameters were sent. Fragments are dropped.
///
/// ```
/// use roboflow_batch::redact::redact_url;
/// let url = "https://api.roboflow.com/x/batches?api_key=s3cret&pageSize=5";
/// assert_eq!(redact_url(url), "https://api.roboflow.com/x/batches?api_key=REDACTED&pageSize=REDACTED");
/// ```
pub fn redact_url(url: &str) -> String {
    let url = url.split('#').next().unwrap_or(url);
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let mut out = String::with_capacity(base.len() + query.len());
    out.push_str(base);
    for (i, pair) in query.split('&').filter(|p| !p.is_empty()).enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        let name = pair.split('=').next().unwrap_or("");
        out.push_str(name);
        out.push('=');
        out.push_str(REDACTED);
    }
    out
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
            let decoded = crate::url::percent_decode(v);
            if decoded != v {
                out.push(decoded);
            }
        }
    }
    out
}

/// `text` with every occurrence of each non-empty secret replaced by `REDACTED`.
///
/// ```
/// use roboflow_batch::redact::scrub;
/// assert_eq!(scrub("key=abc123 seen", &["abc123"]), "key=REDACTED seen");
/// ```
pub fn scrub<S: AsRef<str>>(text: &str, secrets: &[S]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        let s = s.as_ref();
        if !s.is_empty() && out.contains(s) {
            out = out.replace(s, REDACTED);
        }
    }
    out
}

/// At most `max` characters of `text`, cut on a character boundary, with `…` when cut.
pub(crate) fn snippet(text: &str, max: usize) -> String {
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
    fn scrub_removes_all_occurrences_and_ignores_empty() {
        assert_eq!(scrub("aXa", &["X", ""]), "aREDACTEDa");
        assert_eq!(scrub("none", &[""]), "none");
    }

    #[test]
    fn query_secrets_finds_long_values_raw_and_decoded() {
        let s = query_secrets("http://h/p?api_key=abcdefgh&n=1&sig=a%2Fbcdefghi");
        assert_eq!(s, vec!["abcdefgh", "a%2Fbcdefghi", "a/bcdefghi"]);
    }

    #[test]
    fn snippet_cuts_on_char_boundary() {
        assert_eq!(snippet("héllo", 2), "hé…");
        assert_eq!(snippet("hi", 2), "hi");
    }
}
