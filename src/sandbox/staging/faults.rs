//! Seeded, deterministic fault injection, per endpoint family.

use crate::rand::FastRng;
use std::sync::Mutex;
use std::time::Duration;

/// The endpoint families faults are configured for.
///
/// ```
/// use roboflow_batch::sandbox::FaultFamily;
/// assert_eq!(FaultFamily::parse("put"), Some(FaultFamily::Put));
/// assert_eq!(FaultFamily::parse("nope"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultFamily {
    /// API calls (everything under the API key).
    Api,
    /// PUTs to signed upload URLs.
    Put,
    /// GETs of signed download URLs.
    Download,
}

impl FaultFamily {
    /// Parses `api`, `put` or `download`.
    ///
    /// ```
    /// use roboflow_batch::sandbox::FaultFamily;
    /// assert_eq!(FaultFamily::parse("download"), Some(FaultFamily::Download));
    /// assert_eq!(FaultFamily::parse("API"), None); // lowercase only
    /// ```
    pub fn parse(s: &str) -> Option<FaultFamily> {
        match s {
            "api" => Some(FaultFamily::Api),
            "put" => Some(FaultFamily::Put),
            "download" => Some(FaultFamily::Download),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The faults of one endpoint family. Rates are probabilities in `0.0..=1.0`, drawn in
/// the order 429, 500, 503, drop (their sum should stay at most 1).
///
/// ```
/// use std::time::Duration;
/// use roboflow_batch::sandbox::FaultSettings;
/// let s = FaultSettings::default()
///     .with_rate_429(0.1, 2)
///     .with_drop_rate(0.05)
///     .with_latency(Duration::from_millis(5));
/// assert_eq!(s.retry_after_secs, 2);
/// assert!(!s.expired_urls);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct FaultSettings {
    /// Rate of `429 Too Many Requests` replies.
    pub rate_429: f64,
    /// The `Retry-After` seconds sent with a 429.
    pub retry_after_secs: u64,
    /// Rate of `500 Internal Server Error` replies.
    pub rate_500: f64,
    /// Rate of `503 Service Unavailable` replies.
    pub rate_503: f64,
    /// Rate of connections dropped in the middle of a body.
    pub drop_rate: f64,
    /// Latency added to every request of the family.
    pub latency: Duration,
    /// Signed URLs of this family (`put` or `download`) are handed out already expired.
    pub expired_urls: bool,
}

impl FaultSettings {
    /// Sets the 429 rate and its `Retry-After`.
    ///
    /// ```
    /// let s = roboflow_batch::sandbox::FaultSettings::default().with_rate_429(0.25, 3);
    /// assert_eq!((s.rate_429, s.retry_after_secs), (0.25, 3));
    /// ```
    #[must_use]
    pub fn with_rate_429(mut self, rate: f64, retry_after_secs: u64) -> Self {
        self.rate_429 = rate;
        self.retry_after_secs = retry_after_secs;
        self
    }

    /// Sets the 500 rate.
    ///
    /// ```
    /// let s = roboflow_batch::sandbox::FaultSettings::default().with_rate_500(0.1);
    /// assert_eq!(s.rate_500, 0.1);
    /// ```
    #[must_use]
    pub fn with_rate_500(mut self, rate: f64) -> Self {
        self.rate_500 = rate;
        self
    }

    /// Sets the 503 rate.
    ///
    /// ```
    /// let s = roboflow_batch::sandbox::FaultSettings::default().with_rate_503(0.3);
    /// assert_eq!(s.rate_503, 0.3);
    /// ```
    #[must_use]
    pub fn with_rate_503(mut self, rate: f64) -> Self {
        self.rate_503 = rate;
        self
    }

    /// Sets the rate of bodies cut mid-way.
    ///
    /// ```
    /// let s = roboflow_batch::sandbox::FaultSettings::default().with_drop_rate(0.05);
    /// assert_eq!(s.drop_rate, 0.05);
    /// ```
    #[must_use]
    pub fn with_drop_rate(mut self, rate: f64) -> Self {
        self.drop_rate = rate;
        self
    }

    /// Sets the added latency.
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = roboflow_batch::sandbox::FaultSettings::default().with_latency(Duration::from_millis(20));
    /// assert_eq!(s.latency, Duration::from_millis(20));
    /// ```
    #[must_use]
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Hands out signed URLs that have already expired.
    ///
    /// ```
    /// let s = roboflow_batch::sandbox::FaultSettings::default().with_expired_urls(true);
    /// assert!(s.expired_urls);
    /// ```
    #[must_use]
    pub fn with_expired_urls(mut self, expired: bool) -> Self {
        self.expired_urls = expired;
        self
    }

    fn is_quiet(&self) -> bool {
        self.rate_429 + self.rate_500 + self.rate_503 + self.drop_rate <= 0.0
            && self.latency.is_zero()
    }
}

/// Faults for every family, with the seed that makes them reproducible.
///
/// ```
/// use roboflow_batch::sandbox::{FaultSettings, Faults};
/// let f = Faults::seeded(42).with_all(FaultSettings::default().with_rate_500(0.5));
/// assert_eq!(f.put.rate_500, 0.5);
/// assert!(Faults::default().api.rate_500 == 0.0);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Faults {
    /// The seed of the per-family generators.
    pub seed: u64,
    /// API calls.
    pub api: FaultSettings,
    /// Signed-URL uploads.
    pub put: FaultSettings,
    /// Signed-URL downloads.
    pub download: FaultSettings,
}

impl Faults {
    /// No faults, with a seed for those added later.
    ///
    /// ```
    /// use roboflow_batch::sandbox::{FaultSettings, Faults};
    /// let f = Faults::seeded(42);
    /// assert_eq!(f.seed, 42);
    /// assert_eq!(f.api, FaultSettings::default()); // no faults yet
    /// ```
    pub fn seeded(seed: u64) -> Self {
        Faults {
            seed,
            ..Faults::default()
        }
    }

    /// Sets the faults of API calls.
    ///
    /// ```
    /// use roboflow_batch::sandbox::{FaultSettings, Faults};
    /// let f = Faults::seeded(1).with_api(FaultSettings::default().with_rate_500(0.5));
    /// assert_eq!((f.api.rate_500, f.put.rate_500), (0.5, 0.0));
    /// ```
    #[must_use]
    pub fn with_api(mut self, s: FaultSettings) -> Self {
        self.api = s;
        self
    }

    /// Sets the faults of signed-URL uploads.
    ///
    /// ```
    /// use roboflow_batch::sandbox::{FaultSettings, Faults};
    /// let f = Faults::seeded(1).with_put(FaultSettings::default().with_drop_rate(0.2));
    /// assert_eq!((f.put.drop_rate, f.api.drop_rate), (0.2, 0.0));
    /// ```
    #[must_use]
    pub fn with_put(mut self, s: FaultSettings) -> Self {
        self.put = s;
        self
    }

    /// Sets the faults of signed-URL downloads.
    ///
    /// ```
    /// use roboflow_batch::sandbox::{FaultSettings, Faults};
    /// let f = Faults::seeded(1).with_download(FaultSettings::default().with_expired_urls(true));
    /// assert!(f.download.expired_urls && !f.put.expired_urls);
    /// ```
    #[must_use]
    pub fn with_download(mut self, s: FaultSettings) -> Self {
        self.download = s;
        self
    }

    /// Sets the same faults for every family.
    ///
    /// ```
    /// use roboflow_batch::sandbox::{FaultFamily, FaultSettings, Faults};
    /// let f = Faults::seeded(1).with_all(FaultSettings::default().with_rate_503(0.1));
    /// assert!([FaultFamily::Api, FaultFamily::Put, FaultFamily::Download].iter().all(|&x| f.family(x).rate_503 == 0.1));
    /// ```
    #[must_use]
    pub fn with_all(self, s: FaultSettings) -> Self {
        self.with_api(s.clone())
            .with_put(s.clone())
            .with_download(s)
    }

    /// The settings of one family.
    ///
    /// ```
    /// use roboflow_batch::sandbox::{FaultFamily, FaultSettings, Faults};
    /// let f = Faults::seeded(1).with_put(FaultSettings::default().with_rate_429(0.5, 1));
    /// assert_eq!(f.family(FaultFamily::Put).rate_429, 0.5);
    /// assert_eq!(f.family(FaultFamily::Api).rate_429, 0.0);
    /// ```
    pub fn family(&self, f: FaultFamily) -> &FaultSettings {
        match f {
            FaultFamily::Api => &self.api,
            FaultFamily::Put => &self.put,
            FaultFamily::Download => &self.download,
        }
    }
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
        if s.is_quiet() {
            return (Duration::ZERO, None);
        }
        let u = {
            let mut rngs = self.rngs.lock().unwrap_or_else(|p| p.into_inner());
            rngs[family.index()].next_f64()
        };
        let table = [
            (s.rate_429, Fault::Status(429, Some(s.retry_after_secs))),
            (s.rate_500, Fault::Status(500, None)),
            (s.rate_503, Fault::Status(503, None)),
            (s.drop_rate, Fault::Drop),
        ];
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

    #[test]
    fn draws_are_deterministic_and_near_the_rate() {
        let f = Faults::seeded(9).with_api(FaultSettings::default().with_rate_503(0.3));
        let seq = |inj: &Injector| {
            (0..1000)
                .map(|_| inj.draw(FaultFamily::Api).1)
                .collect::<Vec<_>>()
        };
        let a = seq(&Injector::new(&f));
        assert_eq!(a, seq(&Injector::new(&f)));
        let n = a.iter().filter(|x| x.is_some()).count();
        assert!((200..400).contains(&n), "{n}");
        assert_eq!(
            Injector::new(&f).draw(FaultFamily::Put),
            (Duration::ZERO, None)
        );
    }
}
