//! Requests the sandbox makes on its own (webhooks, reference fetches): only to loopback
//! hosts and to hosts the configuration allows, never through a proxy, never following a
//! redirect (which could lead anywhere).

use std::time::Duration;

/// Whether the sandbox may send to `url`: `http(s)` to a loopback host or one in `allow`
/// (exact, case-insensitive; names are not resolved). The error says why not.
pub(crate) fn check_host(url: &str, allow: &[String]) -> Result<(), String> {
    let (scheme, host) = crate::urls::scheme_and_host(url)
        .ok_or_else(|| "not a valid URL with a host".to_string())?;
    if !matches!(scheme.as_str(), "http" | "https") {
        return Err("only http and https URLs are allowed".into());
    }
    let allowed = allow.iter().any(|a| {
        a.trim_start_matches('[')
            .trim_end_matches(']')
            .eq_ignore_ascii_case(&host)
    });
    if crate::urls::is_loopback_host(&host) || allowed {
        Ok(())
    } else {
        Err(format!(
            "host {host:?} is not loopback and not allowed (allow it with --webhook-allow / --fetch-allow {host})"
        ))
    }
}

/// An agent for outgoing requests: every status is a response, no redirects, no proxy;
/// a stalled server holds a caller for `response`, then `body`, at most.
pub(crate) fn agent(response: Duration, body: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_recv_response(Some(response))
        .timeout_recv_body(Some(body))
        .user_agent("rfbatch-sandbox")
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_of_hosts() {
        let allow = vec!["hooks.example.com".to_string(), "[2001:db8::1]".to_string()];
        let cases = [
            ("http://127.0.0.1:9/h", true),
            ("http://127.8.9.10/h", true),
            ("https://localhost/h?x=1", true),
            ("http://LOCALHOST:80/", true),
            ("http://[::1]:8080/h", true),
            ("http://[::ffff:127.0.0.1]/h", true),
            ("http://hooks.example.com/h", true),
            ("http://HOOKS.example.com:8443/h", true),
            ("http://[2001:db8::1]:1/h", true),
            ("http://10.0.0.1/h", false),
            ("http://0.0.0.0/h", false),
            ("http://169.254.169.254/latest/meta-data", false),
            ("http://example.com/h", false),
            ("http://localhost.evil.com/h", false),
            ("http://127.0.0.1.nip.io/h", false),
            ("http://evil.com@127.0.0.1/h", true),
            ("http://127.0.0.1@evil.com/h", false),
            ("ftp://127.0.0.1/h", false),
            ("file:///etc/passwd", false),
            ("not a url", false),
            ("http:///nohost", false),
        ];
        for (url, ok) in cases {
            assert_eq!(check_host(url, &allow).is_ok(), ok, "{url}");
        }
        assert!(
            check_host("http://10.0.0.1/", &[])
                .unwrap_err()
                .contains("10.0.0.1")
        );
    }
}
