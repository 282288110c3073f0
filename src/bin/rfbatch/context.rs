//! The client a command talks through, built from the global options.

use std::time::{Duration, Instant};

use roboflow_batch::BatchApi;
use roboflow_batch::api::RetryPolicy;
use roboflow_batch::redact::redact_url;
use roboflow_batch::transport::{
    HttpRequest, HttpResponse, Timeouts, Transport, TransportError, UreqTransport,
};

use crate::args::Global;
use crate::exit::Failure;
use crate::output::Output;

/// What every command that talks to the service gets: the client and the printer.
pub struct Ctx {
    pub api: BatchApi,
    pub out: Output,
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
    // The library picks the URL (explicit, else by region and environment) as the
    // official client does; clap has already read API_BASE_URL and ROBOFLOW_WORKSPACE.
    let vars = |name: &str| match name {
        "ROBOFLOW_API_KEY" => Some(key.to_string()),
        "API_BASE_URL" => g.api_url.as_deref().map(|u| u.trim().to_string()),
        "ROBOFLOW_WORKSPACE" => g.workspace.clone(),
        // Read below: the transport is this command's own.
        "ROBOFLOW_API_REQUEST_TIMEOUT" => None,
        other => std::env::var(other).ok(),
    };
    let mut builder = BatchApi::builder_from_vars(vars)?
        .retry_policy(RetryPolicy::default().max_retries(g.retries));
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
    let mut s = format!("sent {}", crate::output::human_bytes(sent));
    match resp
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        Some(n) => s.push_str(&format!(", got {}", crate::output::human_bytes(n))),
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
