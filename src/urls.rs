//! Percent-encoding of path segments and query strings, and dot segments in a path; no
//! crate type, so that redaction and the transport can use it.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Every byte but RFC 3986's unreserved characters (`A-Z a-z 0-9 - _ . ~`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Encodes `s` for use as one path segment or one query value.
pub(crate) fn encode(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// Decodes the `%XX` escapes of a path segment. `+` is a plus sign, not a space; an escape
/// that is not `%` and two hex digits stays as it is; invalid UTF-8 is replaced.
pub(crate) fn percent_decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Decodes a query name or value: `+` is a space (the form encoding), then `%XX` escapes.
pub(crate) fn decode_query_component(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

/// Whether a path has a dot segment, plain or percent-encoded (`%2E`).
pub(crate) fn has_dot_segment(path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    path.split('/').any(|seg| {
        let seg = percent_decode(seg);
        seg == "." || seg == ".."
    })
}

/// Splits a URL's query string into decoded `(name, value)` pairs.
pub(crate) fn query_pairs(url: &str) -> Vec<(String, String)> {
    let Some((_, q)) = url.split_once('?') else {
        return Vec::new();
    };
    let q = q.split('#').next().unwrap_or(q);
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode_query_component(k), decode_query_component(v)),
            None => (decode_query_component(p), String::new()),
        })
        .collect()
}

/// Builds `base + path + ?query` with every query value encoded.
pub(crate) fn with_query(base_and_path: &str, query: &[(&str, String)]) -> String {
    let mut url = base_and_path.to_string();
    for (i, (k, v)) in query.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(k);
        url.push('=');
        url.push_str(&encode(v));
    }
    url
}

/// The lowercased scheme and the host (IPv6 brackets removed) of an absolute URL, or
/// `None` when it does not parse or has no host.
pub(crate) fn scheme_and_host(url: &str) -> Option<(String, String)> {
    let uri: ureq::http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| (scheme, host.to_string()))
}

/// Whether `host` names this machine: `localhost`, `127.0.0.0/8` or `::1` (also written
/// `::ffff:127.x.y.z`). Names are never resolved, so any other name is not loopback.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| match ip {
            std::net::IpAddr::V6(v6) => v6.to_canonical().is_loopback(),
            v4 => v4.is_loopback(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[rustfmt::skip]
    fn encode_decode_round_trip() {
        for s in ["plain", "a b/c?d&e=f", "zażółć", "100%", "", "a+b", "~-_.", "%2B"] {
            assert_eq!(percent_decode(&encode(s)), s);
            assert_eq!(decode_query_component(&encode(s)), s);
        }
        assert_eq!(encode("a+b/c?d#e&f=g% J"), "a%2Bb%2Fc%3Fd%23e%26f%3Dg%25%20J");
        assert_eq!(encode("~-_.AZaz09"), "~-_.AZaz09");
        // (input, as a path segment, as a query component)
        for (input, segment, query) in [
            ("a+b", "a+b", "a b"), ("a%2Bb", "a+b", "a+b"), ("a%20b", "a b", "a b"),
            ("%", "%", "%"), ("%zz", "%zz", "%zz"), ("a%2", "a%2", "a%2"),
            ("%+5", "%+5", "% 5"), ("%%41", "%A", "%A"), ("%e2%82%ac", "€", "€"),
            ("%ff", "\u{FFFD}", "\u{FFFD}"),
        ] {
            assert_eq!(percent_decode(input), segment, "{input} as a segment");
            assert_eq!(decode_query_component(input), query, "{input} in a query");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn dot_segments_and_query_pairs() {
        for (path, dotted) in [
            ("/a/b", false), ("/a/../b", true), ("/a/./b", true), ("/a/%2E%2E/b", true),
            ("/a/%2e/b", true), ("/a/..b/c", false), ("/a/b?x=/../", false),
        ] {
            assert_eq!(has_dot_segment(path), dotted, "{path}");
        }
        let p = query_pairs("/x?api_key=k&name=My%20Job&plus=a+b&flag#f");
        let want = [("api_key", "k"), ("name", "My Job"), ("plus", "a b"), ("flag", "")];
        assert_eq!(p, want.map(|(k, v)| (k.to_string(), v.to_string())));
    }
}
