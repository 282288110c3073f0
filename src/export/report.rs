//! What an export did: [`ExportReport`], with every file in it ([`ExportedFile`]).

use std::path::PathBuf;

use serde::Serialize;

use crate::api::RequestCounts;

/// One file of an export.
///
/// ```
/// fn fresh(f: &roboflow_batch::export::ExportedFile) -> bool { !f.skipped }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ExportedFile {
    /// The batch it came from.
    pub batch_id: String,
    /// The part it came from.
    pub part_name: Option<String>,
    /// Its name in the listing.
    pub file_name: String,
    /// Where it is now (`None` for an archive unpacked and removed).
    pub path: Option<PathBuf>,
    /// Its size in bytes.
    pub bytes: u64,
    /// For an archive: the files unpacked from it.
    pub unpacked: Vec<PathBuf>,
    /// Whether it was already complete and not downloaded again.
    pub skipped: bool,
}

/// What an export did: counts, every file, and whether it stopped early.
///
/// ```
/// assert!(!roboflow_batch::export::ExportReport::default().cancelled);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ExportReport {
    /// The target folder.
    pub target: PathBuf,
    /// The batches exported.
    pub batches: Vec<String>,
    /// Every file downloaded or skipped, in listing order.
    pub files: Vec<ExportedFile>,
    /// Files downloaded.
    pub downloaded: u64,
    /// Files skipped because they were complete.
    pub skipped: u64,
    /// Bytes downloaded.
    pub bytes: u64,
    /// Files unpacked from archives (downloaded this time).
    pub unpacked: u64,
    /// The export was cancelled: no new download started after the flag was set.
    pub cancelled: bool,
    /// Files not attempted because the export was cancelled (a re-run fetches them).
    pub files_pending: u64,
    /// Requests made to the service, by kind (each try counts).
    pub requests: RequestCounts,
}
