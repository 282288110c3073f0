//! The client a command talks through, built from the global options.

use std::time::{Duration, Instant};

use roboflow_batch::BatchApi;
use roboflow_batch::api::{RetryPolicy, regional_base_url};
use roboflow_batch::redact::redact_url;
use roboflow_batch::transport::{
    HttpRequest, HttpResponse, Timeouts, Transport, TransportError, UreqTransport,
};

use crate::cli::Global;
use crate::exit::Failure;
use crate::output::Output;

/// What every command that talks to the service gets: the client and the printer.
pub struct Ctx {
    pub api: BatchApi,
    pub out: Output,
}

/// The base URL in force: `--api-url`, else `API_BASE_URL`, else the service of
/// `ROBOFLOW_REGION` and `ROBOFLOW_ENVIRONMENT` (the production service in the US by default).
pub fn api_url(g: &Global) -> Result<String, Failure> {
    api_url_from(g, |name| std::env::var(name).ok())
}

/// [`api_url`] with the environment read through `env`.
fn api_url_from(g: &Global, env: impl Fn(&str) -> Option<String>) -> Result<String, Failure> {
    if let Some(url) = g
        .api_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        return Ok(url.to_string());
    }
    // Set but empty still counts for the environment and PROJECT (staging), as in the
    // official client.
    let url = regional_base_url(
        env("ROBOFLOW_REGION")
            .filter(|v| !v.trim().is_empty())
            .as_deref(),
        env("ROBOFLOW_ENVIRONMENT").as_deref(),
        env("PROJECT").as_deref(),
    )?;
    Ok(url.to_string())
}

/// A client for the global options (key, URL, workspace, `ROBOFLOW_API_REQUEST_TIMEOUT`),
/// logging each request with `-v`.
pub fn connect(g: &Global, out: &Output) -> Result<Ctx, Failure> {
    let key = g
        .api_key
        .as_deref()
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| {
            Failure::usage("no API key").with_hint(
                "set --api-key or ROBOFLOW_API_KEY (or try the local sandbox: rfbatch sandbox)",
            )
        })?;
    let mut builder = BatchApi::builder()
        .api_key(key)
        .base_url(api_url(g)?)
        .retry_policy(RetryPolicy::default().max_retries(g.retries));
    if let Some(ws) = g.workspace.as_deref().filter(|w| !w.trim().is_empty()) {
        builder = builder.workspace(ws);
    }
    let transport = UreqTransport::builder()
        .timeouts(timeouts_from_env()?)
        .build();
    builder = if out.verbose() > 0 {
        builder.transport(Logged {
            inner: transport,
            detail: out.verbose() > 1,
        })
    } else {
        builder.transport(transport)
    };
    let api = builder.build()?;
    out.debug(format_args!("service {}", api.base_url()));
    Ok(Ctx {
        api,
        out: out.clone(),
    })
}

/// The per-read and per-write timeout from `ROBOFLOW_API_REQUEST_TIMEOUT` (seconds), as the
/// official client reads it.
fn timeouts_from_env() -> Result<Timeouts, Failure> {
    let Some(value) = std::env::var("ROBOFLOW_API_REQUEST_TIMEOUT")
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        return Ok(Timeouts::default());
    };
    let secs: f64 = value
        .trim()
        .parse()
        .ok()
        .filter(|s: &f64| *s > 0.0 && s.is_finite() && *s < 1e9)
        .ok_or_else(|| {
            Failure::usage(format!(
                "ROBOFLOW_API_REQUEST_TIMEOUT must be a positive number of seconds, got {value:?}"
            ))
        })?;
    Ok(Timeouts {
        read: Duration::from_secs_f64(secs),
        write: Duration::from_secs_f64(secs),
        ..Timeouts::default()
    })
}

/// A transport that logs each exchange to stderr: method, URL with every query value
/// redacted, status or error, and time taken; with `detail` (`-vv`) also the sizes, the
/// content type and any `Retry-After`. Header values are never printed otherwise: they
/// can carry credentials.
struct Logged {
    inner: UreqTransport,
    detail: bool,
}

impl Transport for Logged {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let method = request.method;
        let url = redact_url(&request.url);
        let sent = request.body.len();
        let started = Instant::now();
        let result = self.inner.send(request);
        let ms = started.elapsed().as_millis();
        match &result {
            Ok(resp) => {
                let extra = if self.detail {
                    format!(" ({})", details(sent, resp))
                } else {
                    String::new()
                };
                eprintln!(
                    "rfbatch: {method} {url} -> {} in {ms} ms{extra}",
                    resp.status
                );
            }
            Err(e) => eprintln!("rfbatch: {method} {url} -> {e} after {ms} ms"),
        }
        result
    }
}

/// `sent 2.0 KiB, got 512 B application/json, Retry-After 3`.
fn details(sent: u64, resp: &HttpResponse) -> String {
    let mut s = format!("sent {}", crate::download::human_bytes(sent));
    match resp
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        Some(n) => s.push_str(&format!(", got {}", crate::download::human_bytes(n))),
        None => s.push_str(", got a body of unknown length"),
    }
    if let Some(ct) = resp.header("content-type") {
        s.push(' ');
        s.push_str(&crate::exit::one_line(ct));
    }
    if let Some(ra) = resp.header("retry-after") {
        s.push_str(&format!(", Retry-After {}", crate::exit::one_line(ra)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_variables_set_empty_select_staging_as_in_the_official_client() {
        #[derive(clap::Parser)]
        struct Args {
            #[command(flatten)]
            g: Global,
        }
        let mut g = <Args as clap::Parser>::parse_from(["rfbatch"]).g;
        g.api_url = None;
        let url_with = |g: &Global, vars: &[(&str, &str)]| {
            api_url_from(g, |name| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            })
            .unwrap()
        };
        let url = |vars: &[(&str, &str)]| url_with(&g, vars);
        assert_eq!(url(&[]), "https://api.roboflow.com");
        assert_eq!(url(&[("ROBOFLOW_REGION", "")]), "https://api.roboflow.com");
        assert_eq!(
            url(&[("ROBOFLOW_ENVIRONMENT", "")]),
            "https://api.roboflow.one"
        );
        assert_eq!(url(&[("PROJECT", "")]), "https://api.roboflow.one");
        assert_eq!(
            url(&[("PROJECT", "roboflow-platform"), ("ROBOFLOW_REGION", "eu")]),
            "https://api.roboflow.eu"
        );
        g.api_url = Some("http://127.0.0.1:9".into());
        assert_eq!(
            url_with(&g, &[("ROBOFLOW_ENVIRONMENT", "")]),
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn details_give_sizes_type_and_retry_after() {
        let r = HttpResponse::new(429, "{}")
            .with_header("Content-Length", "2")
            .with_header("Content-Type", "application/json")
            .with_header("Retry-After", "3");
        assert_eq!(
            details(2048, &r),
            "sent 2.0 KiB, got 2 B application/json, Retry-After 3"
        );
        assert_eq!(
            details(0, &HttpResponse::new(200, "")),
            "sent 0 B, got a body of unknown length"
        );
    }
}
