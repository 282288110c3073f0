//! The client a command talks through, built from the global options.

use std::time::Instant;

use roboflow_batch::BatchApi;
use roboflow_batch::api::RetryPolicy;
use roboflow_batch::redact::redact_url;
use roboflow_batch::transport::{
    HttpRequest, HttpResponse, Timeouts, Transport, TransportError, UreqTransport,
};

use crate::args::{Global, seconds};
use crate::exit::{Failure, NO_KEY, one_line};
use crate::output::{Output, human_bytes};

/// What every command that talks to the service gets: the client and the printer.
pub struct Ctx {
    pub api: BatchApi,
    pub out: Output,
}

/// A client for the global options, logging each request with `-v`.
pub fn connect(g: &Global, out: &Output) -> Result<Ctx, Failure> {
    let key = g.api_key.as_deref().filter(|k| !k.trim().is_empty());
    let key = key.ok_or_else(|| Failure::usage("no API key").with_hint(NO_KEY))?;
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
    let builder = BatchApi::builder_from_vars(vars)?
        .retry_policy(RetryPolicy::default().max_retries(g.retries));
    let inner = UreqTransport::builder()
        .timeouts(timeouts_from_env()?)
        .build();
    let detail = out.verbose > 1;
    let api = match out.verbose {
        0 => builder.transport(inner),
        _ => builder.transport(Logged { inner, detail }),
    }
    .build()?;
    out.debug(format_args!("service {}", api.base_url()));
    Ok(Ctx {
        api,
        out: out.clone(),
    })
}

/// `ROBOFLOW_API_REQUEST_TIMEOUT` (seconds, as the official client's) for our own transport.
fn timeouts_from_env() -> Result<Timeouts, Failure> {
    let value = std::env::var("ROBOFLOW_API_REQUEST_TIMEOUT").unwrap_or_default();
    if value.trim().is_empty() {
        return Ok(Timeouts::default());
    }
    let t = seconds(&value)
        .map_err(|e| Failure::usage(format!("ROBOFLOW_API_REQUEST_TIMEOUT {e}, got {value:?}")))?;
    Ok(Timeouts {
        read: t,
        write: t,
        ..Timeouts::default()
    })
}

/// Logs each exchange, query values redacted; `-vv` adds sizes, type, `Retry-After` only.
struct Logged {
    inner: UreqTransport,
    detail: bool,
}

impl Transport for Logged {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let (method, url) = (request.method, redact_url(&request.url));
        let sent = request.body.len();
        let started = Instant::now();
        let result = self.inner.send(request);
        let ms = started.elapsed().as_millis();
        match &result {
            Ok(r) if self.detail => eprintln!(
                "rfbatch: {method} {url} -> {} in {ms} ms ({})",
                r.status,
                details(sent, r)
            ),
            Ok(r) => eprintln!("rfbatch: {method} {url} -> {} in {ms} ms", r.status),
            Err(e) => eprintln!("rfbatch: {method} {url} -> {e} after {ms} ms"),
        }
        result
    }
}

/// `sent 2.0 KiB, got 512 B application/json, Retry-After 3`.
fn details(sent: u64, resp: &HttpResponse) -> String {
    let got = resp
        .header("content-length")
        .and_then(|v| v.trim().parse().ok())
        .map_or_else(|| "a body of unknown length".into(), human_bytes);
    let mut s = format!("sent {}, got {got}", human_bytes(sent));
    for (name, before) in [("content-type", " "), ("retry-after", ", Retry-After ")] {
        if let Some(v) = resp.header(name) {
            s.push_str(before);
            s.push_str(&one_line(v));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    // Sizes, type and `Retry-After`: `cli_exit_codes::rate_limits_exit_7_and_verbose_logs_…`.
    #[test]
    fn a_body_of_unknown_length() {
        let none = super::details(0, &super::HttpResponse::new(200, ""));
        assert_eq!(none, "sent 0 B, got a body of unknown length");
    }
}
