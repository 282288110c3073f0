//! Requests counted by kind, under one stable label per endpoint: at a real distance the
//! number of requests decides the time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::transport::Method;

/// Defines [`RequestKind`], its labels and the method of its API calls together, so that
/// they cannot drift apart.
macro_rules! request_kinds {
    ($($kind:ident => $label:literal $method:ident,)*) => {
        /// What a request is for. Its label (in [`LABELS`]) is stable: reports and scripts
        /// key on it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum RequestKind { $($kind,)* }

        /// The label of each [`RequestKind`], by its position.
        const LABELS: &[&str] = &[$($label,)*];

        impl RequestKind {
            /// POST for the kinds that create or act, else GET.
            pub(crate) fn method(self) -> Method {
                match self { $(RequestKind::$kind => Method::$method,)* }
            }
        }
    };
}

request_kinds! {
    Workspace => "workspace" Get,
    ListBatches => "list-batches" Get,
    Batch => "batch" Get,
    BatchCount => "batch-count" Get,
    ListParts => "list-parts" Get,
    ListFiles => "list-files" Get,
    ListShards => "list-shards" Get,
    UploadUrl => "upload-url" Post, // a signed URL for a shard or a video
    UploadPut => "upload-put" Put, // a PUT (or POST) to a signed URL
    SingleUpload => "single-upload" Post,
    ReferencesIngest => "references-ingest" Post,
    RoboqlIngest => "roboql-ingest" Post,
    StartJob => "start-job" Post,
    JobStatus => "job-status" Get,
    ListJobs => "list-jobs" Get,
    JobStages => "job-stages" Get,
    ListTasks => "list-tasks" Get,
    AbortJob => "abort-job" Post,
    RestartJob => "restart-job" Post,
    JobLogs => "job-logs" Get,
    Download => "download" Get, // a GET of a signed download URL
}

/// The live counters of one client (shared by its clones), one per kind.
#[derive(Debug, Default)]
pub(crate) struct RequestCounter([AtomicU64; LABELS.len()]);

impl RequestCounter {
    pub(crate) fn add(&self, kind: RequestKind) {
        if let Some(n) = self.0.get(kind as usize) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> RequestCounts {
        let counts = LABELS
            .iter()
            .zip(&self.0)
            .map(|(label, n)| (label.to_string(), n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect();
        RequestCounts(counts)
    }
}

/// How many requests a client made (each try counts), by stable kebab-case label, one per
/// endpoint (`list-files`, `upload-put`, `job-status`, …); it serializes as `{"kind": n}`.
/// [`since`](Self::since) an earlier snapshot gives what some work cost.
///
/// ```
/// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
/// let before = api.requests();
/// println!("{:?}", api.requests().since(&before));
/// # Ok::<(), roboflow_batch::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct RequestCounts(BTreeMap<String, u64>);

impl RequestCounts {
    /// The requests of one kind (0 when there were none).
    ///
    /// ```
    /// assert_eq!(roboflow_batch::api::RequestCounts::default().get("list-files"), 0);
    /// ```
    pub fn get(&self, kind: &str) -> u64 {
        self.0.get(kind).copied().unwrap_or(0)
    }

    /// All requests, of every kind.
    ///
    /// ```
    /// assert_eq!(roboflow_batch::api::RequestCounts::default().total(), 0);
    /// ```
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// What was counted after `earlier`, a snapshot of the same client taken before.
    ///
    /// ```
    /// # let (later, earlier) = (roboflow_batch::api::RequestCounts::default(), Default::default());
    /// let spent = later.since(&earlier);
    /// ```
    #[must_use]
    pub fn since(&self, earlier: &RequestCounts) -> RequestCounts {
        let counts = self
            .0
            .iter()
            .map(|(k, n)| (k.clone(), n.saturating_sub(earlier.get(k))))
            .filter(|(_, n)| *n > 0)
            .collect();
        RequestCounts(counts)
    }

    /// Counts of requests still to make (a plan).
    pub(crate) fn planned(counts: impl IntoIterator<Item = (RequestKind, u64)>) -> RequestCounts {
        let mut out = BTreeMap::new();
        for (kind, n) in counts.into_iter().filter(|(_, n)| *n > 0) {
            *out.entry(LABELS[kind as usize].to_string()).or_insert(0) += n;
        }
        RequestCounts(out)
    }

    /// Each kind with its count, by label.
    ///
    /// ```
    /// for (kind, n) in roboflow_batch::api::RequestCounts::default().iter() {}
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(k, n)| (k.as_str(), *n))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn labels_are_distinct_kebab_case() {
        let distinct: std::collections::HashSet<&&str> = super::LABELS.iter().collect();
        assert_eq!(distinct.len(), super::LABELS.len());
        let kebab = |l: &&str| l.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
        assert!(super::LABELS.iter().all(kebab));
    }
}
