//! Seeded, deterministic fault injection, per endpoint family: API calls, signed uploads,
//! signed downloads.

use std::sync::Mutex;
use std::time::Duration;

use crate::rand::FastRng;

/// The faults of one endpoint family. Rates are probabilities in `0.0..=1.0`, drawn in
/// the order 429, 500, 503, drop (their sum should stay at most 1).
///
/// ```
/// let flaky = roboflow_batch::sandbox::FaultSettings::default().rate_429(0.1, 2).drop_rate(0.05);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[must_use]
pub struct FaultSettings {
    pub(crate) rate_429: f64,
    pub(crate) retry_after_secs: u64,
    pub(crate) rate_500: f64,
    pub(crate) rate_503: f64,
    pub(crate) drop_rate: f64,
    pub(crate) latency: Duration,
    pub(crate) expired_urls: bool,
}

impl FaultSettings {
    crate::model::setters! {
        setup: "", on: "roboflow_batch::sandbox::FaultSettings::default()";
        /// The rate of `429 Too Many Requests` replies, and the `Retry-After` seconds they send.
        rate_429(s, rate: f64, retry_after_secs: u64) = "0.25, 3" {
            (s.rate_429, s.retry_after_secs) = (rate, retry_after_secs);
        }
        /// The rate of `500 Internal Server Error` replies.
        rate_500(s, rate: f64) = "0.1" { s.rate_500 = rate; }
        /// The rate of `503 Service Unavailable` replies.
        rate_503(s, rate: f64) = "0.3" { s.rate_503 = rate; }
        /// The rate of connections dropped in the middle of a body.
        drop_rate(s, rate: f64) = "0.05" { s.drop_rate = rate; }
        /// Latency added to every request of the family, while it holds its turn.
        latency(s, d: Duration) = "std::time::Duration::from_millis(20)" { s.latency = d; }
        /// Hands out signed URLs of this family (`put` or `download`) already expired.
        expired_urls(s, on: bool) = "true" { s.expired_urls = on; }
    }
}

/// Faults for every family, with the seed that makes them reproducible.
///
/// ```
/// # use roboflow_batch::sandbox::*;
/// let faults = Faults::seeded(42).api(FaultSettings::default().rate_503(0.2));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[must_use]
pub struct Faults {
    seed: u64,
    api: FaultSettings,
    put: FaultSettings,
    download: FaultSettings,
}

impl Faults {
    /// No faults, with a seed for those added later.
    ///
    /// ```
    /// let faults = roboflow_batch::sandbox::Faults::seeded(42);
    /// ```
    pub fn seeded(seed: u64) -> Self {
        Faults {
            seed,
            ..Faults::default()
        }
    }

    crate::model::setters! {
        setup: "use roboflow_batch::sandbox::*;", on: "Faults::seeded(1)";
        /// The faults of API calls (everything under the API key).
        api(s, f: FaultSettings) = "FaultSettings::default().rate_500(0.5)" { s.api = f; }
        /// The faults of PUTs to signed upload URLs.
        put(s, f: FaultSettings) = "FaultSettings::default().drop_rate(0.2)" { s.put = f; }
        /// The faults of GETs of signed download URLs.
        download(s, f: FaultSettings) = "FaultSettings::default().expired_urls(true)" { s.download = f; }
    }

    /// The same faults for every family.
    ///
    /// ```
    /// # use roboflow_batch::sandbox::*;
    /// let faults = Faults::seeded(1).all(FaultSettings::default().rate_503(0.1));
    /// ```
    pub fn all(self, s: FaultSettings) -> Self {
        self.api(s.clone()).put(s.clone()).download(s)
    }

    fn family(&self, f: FaultFamily) -> &FaultSettings {
        [&self.api, &self.put, &self.download][f as usize]
    }
}

/// The endpoint families faults are configured for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultFamily {
    Api,
    Put,
    Download,
}

/// What the router must do to one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Fault {
    Status(u16, Option<u64>),
    Drop,
}

/// Draws faults: one seeded generator per family, so a family's sequence depends only on
/// the seed and how many requests of that family came before.
#[derive(Debug)]
pub(crate) struct Injector {
    faults: Faults,
    rngs: Mutex<[FastRng; 3]>,
}

impl Injector {
    pub fn new(faults: &Faults) -> Injector {
        let s = faults.seed;
        let rngs = [1u64, 2, 3].map(|i| FastRng::seeded(s ^ i.wrapping_mul(0x2545_F491_4F6C_DD1D)));
        Injector {
            faults: faults.clone(),
            rngs: Mutex::new(rngs),
        }
    }

    /// The added latency and the fault (if any) for the next request of `family`.
    pub fn draw(&self, family: FaultFamily) -> (Duration, Option<Fault>) {
        let s = self.faults.family(family);
        let table = [
            (s.rate_429, Fault::Status(429, Some(s.retry_after_secs))),
            (s.rate_500, Fault::Status(500, None)),
            (s.rate_503, Fault::Status(503, None)),
            (s.drop_rate, Fault::Drop),
        ];
        if table.iter().all(|(rate, _)| *rate <= 0.0) {
            return (s.latency, None);
        }
        let u = self.rngs.lock().unwrap_or_else(|p| p.into_inner())[family as usize].next_f64();
        let mut edge = 0.0;
        let fault = table.into_iter().find_map(|(rate, f)| {
            edge += rate;
            (u < edge).then_some(f)
        });
        (s.latency, fault)
    }

    pub fn expired_urls(&self, family: FaultFamily) -> bool {
        self.faults.family(family).expired_urls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Determinism and the rate: injected_faults_are_retried_and_deterministic in
    // tests/sandbox_staging.rs.
    #[test]
    fn a_family_without_faults_draws_none() {
        let f = Faults::seeded(9).api(FaultSettings::default().rate_503(1.0));
        let put = Injector::new(&f).draw(FaultFamily::Put);
        assert_eq!(put, (Duration::ZERO, None));
    }
}
