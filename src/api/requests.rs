//! Requests counted by kind: at a real distance the number of requests decides the time, so
//! every request the client sends is counted under one stable label per endpoint.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a request is for. Its label (in [`LABELS`], in the same order) is stable: reports
/// and scripts key on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestKind {
    Workspace,
    ListBatches,
    Batch,
    BatchCount,
    ListParts,
    ListFiles,
    ListShards,
    /// A signed URL for a shard or a video.
    UploadUrl,
    /// A PUT (or POST) to a signed URL.
    UploadPut,
    SingleUpload,
    ReferencesIngest,
    RoboqlIngest,
    StartJob,
    JobStatus,
    ListJobs,
    JobStages,
    ListTasks,
    AbortJob,
    RestartJob,
    JobLogs,
    /// A GET of a signed download URL.
    Download,
}

/// The label of each [`RequestKind`], by its position.
const LABELS: [&str; 21] = [
    "workspace",
    "list-batches",
    "batch",
    "batch-count",
    "list-parts",
    "list-files",
    "list-shards",
    "upload-url",
    "upload-put",
    "single-upload",
    "references-ingest",
    "roboql-ingest",
    "start-job",
    "job-status",
    "list-jobs",
    "job-stages",
    "list-tasks",
    "abort-job",
    "restart-job",
    "job-logs",
    "download",
];

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

/// How many requests a client made, by kind: each try counts, so a request retried twice
/// counts three times. Kinds are stable kebab-case labels, one per endpoint (`workspace`,
/// `list-files`, `list-shards`, `upload-url`, `upload-put`, `job-status`, `download`, …);
/// a kind with no request is absent. It serializes as a JSON object `{"kind": n}`.
///
/// Take one from [`BatchApi::requests`](crate::BatchApi::requests) before and after some
/// work: [`since`](Self::since) gives what the work cost.
///
/// ```
/// use roboflow_batch::BatchApi;
/// use roboflow_batch::transport::{HttpRequest, HttpResponse, TransportError};
/// let fake = |_: HttpRequest| -> Result<HttpResponse, TransportError> { Ok(HttpResponse::json(200, r#"{"count": 7}"#)) };
/// let api = BatchApi::builder().api_key("k").workspace("acme").transport(fake).build()?;
/// let before = api.requests();
/// api.batch_count("my-batch", None)?;
/// api.batch_count("my-batch", None)?;
/// let spent = api.requests().since(&before);
/// assert_eq!(spent.get("batch-count"), 2);
/// assert_eq!(spent.total(), 2);
/// assert_eq!(serde_json::to_string(&spent).unwrap(), r#"{"batch-count":2}"#);
/// # Ok::<(), roboflow_batch::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct RequestCounts(BTreeMap<String, u64>);

impl RequestCounts {
    /// The requests of one kind (0 when there were none).
    ///
    /// ```
    /// let none = roboflow_batch::api::RequestCounts::default();
    /// assert_eq!(none.get("list-files"), 0);
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

    /// What was counted after `earlier` (a snapshot of the same client taken before):
    /// kinds whose count did not change are left out.
    ///
    /// ```
    /// use roboflow_batch::api::RequestCounts;
    /// let later: RequestCounts = serde_json::from_str(r#"{"list-files": 5, "workspace": 1}"#).unwrap();
    /// let earlier: RequestCounts = serde_json::from_str(r#"{"workspace": 1}"#).unwrap();
    /// assert_eq!(serde_json::to_string(&later.since(&earlier)).unwrap(), r#"{"list-files":5}"#);
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
    /// let counts: roboflow_batch::api::RequestCounts = serde_json::from_str(r#"{"download": 3}"#).unwrap();
    /// assert_eq!(counts.iter().collect::<Vec<_>>(), [("download", 3)]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(k, n)| (k.as_str(), *n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_own_label() {
        assert_eq!(RequestKind::Download as usize, LABELS.len() - 1);
        let distinct: std::collections::HashSet<&str> = LABELS.into_iter().collect();
        assert_eq!(distinct.len(), LABELS.len());
        assert!(
            LABELS
                .iter()
                .all(|l| l.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
        );
    }

    #[test]
    fn the_counter_counts_by_kind() {
        let c = RequestCounter::default();
        c.add(RequestKind::ListFiles);
        c.add(RequestKind::ListFiles);
        c.add(RequestKind::Download);
        let s = c.snapshot();
        assert_eq!(
            (s.get("list-files"), s.get("download"), s.total()),
            (2, 1, 3)
        );
        c.add(RequestKind::Download);
        let d = c.snapshot().since(&s);
        assert_eq!(d.iter().collect::<Vec<_>>(), [("download", 1)]);
    }
}
