//! The crate's one retry loop ([`send_with_retry`], for the API and bucket listings alike),
//! and its decisions as pure functions: which failures are repeated, and how long to wait.

use std::io;
use std::time::{Duration, SystemTime};

use super::clock::Clock;
use crate::error::{Error, Result};
use crate::redact::{query_secrets, redact_url};
use crate::transport::{
    HttpRequest, HttpResponse, Method, Transport, TransportError, TransportErrorKind,
};

/// Whether repeating a request could duplicate its effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// Repeating it is harmless: reads, PUTs, and POSTs the service de-duplicates.
    Idempotent,
    /// It could act twice (a restart; a RoboQL ingest without an ingest id): retried only
    /// when not acted on (no connection, or a 408, 429 or 503).
    NotIdempotent,
}

/// How failures are retried: waits grow from `initial_backoff` by `multiplier` up to
/// `max_backoff`, with full jitter. A server's `Retry-After` (seconds or an HTTP date)
/// replaces the wait; one longer than `max_retry_after` ends the retries at once.
///
/// ```
/// let p = roboflow_batch::api::RetryPolicy::never().max_retries(9);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first try (so `max_retries + 1` tries at most).
    pub max_retries: u32,
    /// The ceiling of the first wait.
    pub initial_backoff: Duration,
    /// The largest ceiling.
    pub max_backoff: Duration,
    /// How fast the ceiling grows.
    pub multiplier: f64,
    /// The longest `Retry-After` that is waited out.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            multiplier: 2.0,
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries (see [`RetryPolicy`]).
    ///
    /// ```
    /// assert_eq!(roboflow_batch::api::RetryPolicy::never().max_retries, 0);
    /// ```
    pub fn never() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..Self::default()
        }
    }

    crate::model::setters! {
        setup: "use std::time::Duration;",
        on: "roboflow_batch::api::RetryPolicy::default()";
        /// Sets how many times a failed request is retried (0: never).
        max_retries(s, n: u32) = "2" {
            s.max_retries = n;
        }
        /// Sets the ceiling of the first wait.
        initial_backoff(s, d: Duration) = "Duration::from_millis(100)" {
            s.initial_backoff = d;
        }
        /// Sets the largest ceiling of a wait.
        max_backoff(s, d: Duration) = "Duration::from_secs(9)" {
            s.max_backoff = d;
        }
        /// Sets how fast the ceiling grows from one try to the next (at least 1).
        multiplier(s, m: f64) = "3.0" {
            s.multiplier = m;
        }
        /// Sets the longest `Retry-After` that is waited out; a longer one ends the retries.
        max_retry_after(s, d: Duration) = "Duration::from_secs(10)" {
            s.max_retry_after = d;
        }
    }

    /// The ceiling of the wait after failed try number `attempt` (0-based).
    pub(crate) fn backoff_ceiling(&self, attempt: u32) -> Duration {
        let factor = self.multiplier.max(1.0).powi(attempt.min(63) as i32);
        let secs = self.initial_backoff.as_secs_f64() * factor;
        if !secs.is_finite() || secs >= self.max_backoff.as_secs_f64() {
            self.max_backoff
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// How long to wait before trying again after an HTTP error status, or `None` to stop.
    /// `attempt` is the 0-based number of the try that failed, and `jitter` is a random
    /// fraction in `[0, 1)`.
    pub(crate) fn on_status(
        &self,
        status: u16,
        retry_after: Option<Duration>,
        idempotency: Idempotency,
        attempt: u32,
        jitter: f64,
    ) -> Option<Duration> {
        let retryable = match idempotency {
            Idempotency::Idempotent => crate::error::is_retryable_status(status),
            Idempotency::NotIdempotent => matches!(status, 408 | 429 | 503),
        };
        if !retryable || attempt >= self.max_retries {
            return None;
        }
        match retry_after {
            Some(d) => (d <= self.max_retry_after).then_some(d),
            None => Some(self.jittered(attempt, jitter)),
        }
    }

    /// How long to wait before trying again after a failed exchange (no response).
    pub(crate) fn on_transport_error(
        &self,
        kind: TransportErrorKind,
        idempotency: Idempotency,
        attempt: u32,
        jitter: f64,
    ) -> Option<Duration> {
        let idempotent = idempotency == Idempotency::Idempotent;
        let retry = kind.is_retryable(idempotent) && attempt < self.max_retries;
        retry.then(|| self.jittered(attempt, jitter))
    }

    fn jittered(&self, attempt: u32, jitter: f64) -> Duration {
        let j = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.5
        };
        self.backoff_ceiling(attempt).mul_f64(j)
    }
}

/// Why a request is about to be tried again, as told to a retry callback: nothing secret,
/// only a status or a kind of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RetryCause {
    /// The server answered with this status.
    #[error("HTTP {0}")]
    Status(u16),
    /// No response: the exchange failed this way.
    #[error("transport error ({0})")]
    Transport(TransportErrorKind),
}

/// How one request is retried.
pub(crate) struct Retrying<'a> {
    pub policy: &'a RetryPolicy,
    pub clock: &'a Clock,
    pub idempotency: Idempotency,
    /// Known secrets besides the URL's own query values (an API key), kept out of errors.
    pub secrets: &'a [String],
    /// Told about each retry, before its wait.
    pub on_retry: &'a dyn Fn(RetryCause),
}

/// An error status that is not (or no longer) retried: the last response, body unread.
pub(crate) struct Refused {
    pub method: Method,
    /// The request's URL as sent: secret until redacted.
    pub url: String,
    pub response: HttpResponse,
    /// The response's `Retry-After`, parsed.
    pub retry_after: Option<Duration>,
}

/// How much of an error body that is retried is read, so that its connection can be reused.
const DRAINED: u64 = 64 * 1024;

/// Sends the request `make` builds (once per try) until a 2xx answer is read by `accept`,
/// or the policy stops: an error status then comes back as `Ok(Err(Refused))`, for the
/// caller to map to its errors, and a failed exchange as [`Error::Transport`] with a
/// redacted URL and the secrets scrubbed. A failure of `accept` (a body cut off mid-read)
/// counts as a failed exchange; a failure of `make` ends at once.
pub(crate) fn send_with_retry<T: Transport + ?Sized, R>(
    transport: &T,
    how: &Retrying<'_>,
    mut make: impl FnMut() -> Result<HttpRequest>,
    mut accept: impl FnMut(HttpResponse) -> io::Result<R>,
) -> Result<std::result::Result<R, Refused>> {
    let mut attempt = 0u32;
    loop {
        let req = make()?;
        let method = req.method;
        let url = req.url.clone();
        let outcome = transport.send(req).and_then(|resp| {
            if (200..300).contains(&resp.status) {
                accept(resp)
                    .map(Ok)
                    .map_err(|e| TransportError::from_io(&e))
            } else {
                Ok(Err(resp))
            }
        });
        let (wait, cause) = match outcome {
            Ok(Ok(value)) => return Ok(Ok(value)),
            Ok(Err(response)) => {
                let retry_after = response
                    .header("retry-after")
                    .and_then(|v| parse_retry_after(v, how.clock.now()));
                let status = response.status;
                let jitter = how.clock.jitter();
                let d = how
                    .policy
                    .on_status(status, retry_after, how.idempotency, attempt, jitter);
                let Some(d) = d else {
                    return Ok(Err(Refused {
                        method,
                        url,
                        response,
                        retry_after,
                    }));
                };
                let _ = drain(response.body, DRAINED);
                (d, RetryCause::Status(status))
            }
            Err(te) => {
                let kind = te.kind();
                let jitter = how.clock.jitter();
                let d = how
                    .policy
                    .on_transport_error(kind, how.idempotency, attempt, jitter);
                let Some(d) = d else {
                    let mut secrets = query_secrets(&url);
                    secrets.extend(how.secrets.iter().cloned());
                    return Err(Error::Transport {
                        method,
                        url: redact_url(&url),
                        source: te.scrubbed(&secrets),
                    });
                };
                (d, RetryCause::Transport(kind))
            }
        };
        (how.on_retry)(cause);
        how.clock.sleep(wait);
        attempt += 1;
    }
}

/// Reads (at most `limit` bytes of) a body that does not matter, so that its connection
/// can be reused.
pub(crate) fn drain(body: impl io::Read, limit: u64) -> io::Result<()> {
    io::copy(&mut body.take(limit), &mut io::sink()).map(drop)
}

/// Parses `Retry-After`: delta seconds, or an HTTP date measured against `now`.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        if (0.0..1e9).contains(&secs) {
            return Some(Duration::from_secs_f64(secs));
        }
        return None;
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Idempotency::*;
    use std::time::UNIX_EPOCH;

    const STOP: Option<Duration> = None;

    #[test]
    #[rustfmt::skip]
    fn status_decisions_table() {
        let p = RetryPolicy::default();
        let c0 = Some(p.backoff_ceiling(0));
        let cases = [
            (400, Idempotent, STOP), (401, Idempotent, STOP), (404, Idempotent, STOP),
            (409, Idempotent, STOP), (501, Idempotent, STOP),
            (408, Idempotent, c0), (429, Idempotent, c0), (500, Idempotent, c0),
            (502, Idempotent, c0), (503, Idempotent, c0), (504, Idempotent, c0),
            (500, NotIdempotent, STOP), (502, NotIdempotent, STOP), (504, NotIdempotent, STOP),
            (503, NotIdempotent, c0), (429, NotIdempotent, c0),
        ];
        for (status, idem, want) in cases {
            assert_eq!(p.on_status(status, None, idem, 0, 1.0), want, "{status} {idem:?}");
        }
        // The caps: retries, and a Retry-After too long to wait out.
        assert_eq!(p.on_status(503, None, Idempotent, p.max_retries, 0.5), STOP);
        assert_ne!(p.on_status(503, None, Idempotent, p.max_retries - 1, 0.5), STOP);
        let long = p.max_retry_after + Duration::from_secs(1);
        assert_eq!(p.on_status(429, Some(long), Idempotent, 0, 0.5), STOP);
        // Full jitter scales the ceiling (1 s at attempt 1); a jitter that is not a number
        // counts as a half.
        for (jitter, ms) in [(0.0, 0), (0.5, 500), (f64::NAN, 500)] {
            let want = Some(Duration::from_millis(ms));
            assert_eq!(p.on_status(503, None, Idempotent, 1, jitter), want);
        }
        assert_eq!(p.backoff_ceiling(100), p.max_backoff);
    }

    #[test]
    #[rustfmt::skip]
    fn transport_decisions_table() {
        use TransportErrorKind as K;
        let cases = [
            (K::Connect, Idempotent, true), (K::Connect, NotIdempotent, true),
            (K::Dns, NotIdempotent, true), (K::Tls, Idempotent, false),
            (K::Timeout, Idempotent, true), (K::Timeout, NotIdempotent, false),
            (K::Interrupted, Idempotent, true), (K::Interrupted, NotIdempotent, false),
            (K::Protocol, Idempotent, false), (K::Body, Idempotent, false),
            (K::Other, Idempotent, false),
        ];
        for (kind, idem, retry) in cases {
            let d = RetryPolicy::default().on_transport_error(kind, idem, 0, 0.5);
            assert_eq!(d.is_some(), retry, "{kind:?} {idem:?}");
        }
    }

    #[test]
    #[rustfmt::skip]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_470); // 21 Oct 2015 07:27:50
        let cases = [
            ("Wed, 21 Oct 2015 07:28:00 GMT", Some(10_000)),
            // A date in the past means "now".
            ("Wed, 21 Oct 2015 07:27:00 GMT", Some(0)),
            (" 7 ", Some(7_000)), ("1.5", Some(1_500)),
            ("-1", None), ("soon", None), ("", None),
        ];
        for (value, ms) in cases {
            assert_eq!(parse_retry_after(value, now), ms.map(Duration::from_millis), "{value:?}");
        }
    }
}
