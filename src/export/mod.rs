//! Export: a job's or a batch's files, downloaded in parallel into a folder, archives
//! unpacked safely, re-runs skipping what is already complete.
//!
//! From a job to its output batches (the `export` stage by default, `processing` too
//! when asked), to the parts of each batch, to every file of every part through the
//! paginated listing. Files land in `<target>/<partName>/<fileName>` (`<target>/<fileName>`
//! for a batch without parts), with `fileName` from the listing, never from the URL, and
//! refused unless it is a plain name. Downloads run on a dedicated rayon pool of
//! [`parallelism`](Exporter::parallelism) threads, each through
//! [`BatchApi::download_to_file`](crate::BatchApi::download_to_file), which never leaves
//! a partial file under the final name. `.tar` and `.tar.gz` files are unpacked into their
//! part's folder with every entry checked (no absolute paths, no `..`, no links leading
//! out, no device files) and within limits
//! ([`max_unpacked_bytes`](Exporter::max_unpacked_bytes),
//! [`max_unpacked_entries`](Exporter::max_unpacked_entries)); the archive is then removed unless
//! [`keep_archives`](Exporter::keep_archives). A log in the target
//! ([`LOG_FILE`]) records each finished file, so a re-run skips files still complete on
//! disk, unless [`overwrite`](Exporter::overwrite).
//!
//! ```no_run
//! # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
//! use roboflow_batch::export::Exporter;
//! let report = Exporter::new(&api, "results").include_processing(true).job("job-abc123def456")?;
//! println!("{} files ({} bytes), {} already there", report.downloaded, report.bytes, report.skipped);
//! # Ok::<(), roboflow_batch::Error>(())
//! ```
//!
//! Two exports must not share a target folder at the same time.

mod log;
mod unpack;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use serde::Serialize;

use crate::BatchApi;
use crate::api::DownloadOptions;
use crate::error::{Error, Result};
use crate::jobs::Job;
use crate::model::{BatchType, FileMetadata, JobState};

pub use log::LOG_FILE;
use log::{ExportLog, Key, Record};

/// The official client's default number of parallel downloads.
pub const DEFAULT_PARALLELISM: usize = 8;
/// The most parallel downloads allowed.
pub const MAX_PARALLELISM: usize = 64;

/// Something that happened during an export, for progress reporting. Called from the
/// download threads.
///
/// ```
/// use roboflow_batch::export::ExportEvent;
/// let e = ExportEvent::Listed { batch_id: "b".into(), part_name: None, files: 3 };
/// assert!(matches!(e, ExportEvent::Listed { files: 3, .. }));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ExportEvent {
    /// The files of a part (or of a batch without parts) were listed.
    Listed {
        /// The batch.
        batch_id: String,
        /// The part.
        part_name: Option<String>,
        /// How many files it has.
        files: usize,
    },
    /// A file was downloaded (and unpacked).
    Downloaded(ExportedFile),
    /// A file was already complete on disk.
    Skipped(ExportedFile),
    /// This many more bytes were written by a download in flight (for byte-rate progress;
    /// bytes received again after a restart from zero are counted again).
    Bytes(u64),
}

/// One file of an export.
///
/// ```
/// use roboflow_batch::export::ExportedFile;
/// let f = ExportedFile { batch_id: "b".into(), part_name: None, file_name: "a.jsonl".into(),
///     path: Some("out/a.jsonl".into()), bytes: 10, unpacked: vec![], skipped: false };
/// assert_eq!(f.bytes, 10);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
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

/// What an export did.
///
/// ```
/// let r = roboflow_batch::export::ExportReport::default();
/// assert_eq!((r.downloaded, r.skipped, r.bytes), (0, 0, 0));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ExportReport {
    /// The target folder.
    pub target: PathBuf,
    /// The batches exported.
    pub batches: Vec<String>,
    /// Every file, downloaded or skipped, in listing order.
    pub files: Vec<ExportedFile>,
    /// Files downloaded.
    pub downloaded: usize,
    /// Files skipped because they were complete.
    pub skipped: usize,
    /// Bytes downloaded.
    pub bytes: u64,
    /// Files unpacked from archives (downloaded this time).
    pub unpacked: usize,
}

type OnEvent = Arc<dyn Fn(&ExportEvent) + Send + Sync>;

/// Exports batches or a job's results into a folder; see the [module docs](self).
///
/// ```no_run
/// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
/// use roboflow_batch::export::Exporter;
/// let report = Exporter::new(&api, "out")
///     .parallelism(4)
///     .part("results")
///     .overwrite(true)
///     .on_event(|e| eprintln!("{e:?}"))
///     .batch("job-1-processing")?;
/// # Ok::<(), roboflow_batch::Error>(())
/// ```
#[must_use]
pub struct Exporter<'a> {
    api: &'a BatchApi,
    target: PathBuf,
    parallelism: usize,
    overwrite: bool,
    unpack: bool,
    keep_archives: bool,
    limits: unpack::Limits,
    parts: Vec<String>,
    stages: Vec<String>,
    cancel: Option<Arc<AtomicBool>>,
    on_event: Option<OnEvent>,
}

impl std::fmt::Debug for Exporter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("target", &self.target)
            .field("parallelism", &self.parallelism)
            .field("overwrite", &self.overwrite)
            .field("unpack", &self.unpack)
            .field("keep_archives", &self.keep_archives)
            .field("max_unpacked_bytes", &self.limits.bytes)
            .field("max_unpacked_entries", &self.limits.entries)
            .field("parts", &self.parts)
            .field("stages", &self.stages)
            .finish_non_exhaustive()
    }
}

impl<'a> Exporter<'a> {
    /// An export into `target` (created if needed) with the defaults: 8 parallel
    /// downloads, archives unpacked and removed, complete files skipped, every part, and
    /// for jobs the `export` stage.
    ///
    /// ```
    /// let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let e = roboflow_batch::export::Exporter::new(&api, "out");
    /// assert!(format!("{e:?}").contains("parallelism: 8"));
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn new(api: &'a BatchApi, target: impl Into<PathBuf>) -> Self {
        Exporter {
            api,
            target: target.into(),
            parallelism: DEFAULT_PARALLELISM,
            overwrite: false,
            unpack: true,
            keep_archives: false,
            limits: unpack::Limits::default(),
            parts: Vec::new(),
            stages: vec!["export".into()],
            cancel: None,
            on_event: None,
        }
    }

    /// Parallel downloads, 1 to [`MAX_PARALLELISM`] (default 8).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let e = roboflow_batch::export::Exporter::new(&api, "out").parallelism(2);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn parallelism(mut self, n: usize) -> Self {
        self.parallelism = n;
        self
    }

    /// Downloads every file again, even those complete on disk (default false).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let e = roboflow_batch::export::Exporter::new(&api, "out").overwrite(true);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn overwrite(mut self, on: bool) -> Self {
        self.overwrite = on;
        self
    }

    /// Unpacks `.tar` and `.tar.gz` files (default true).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let e = roboflow_batch::export::Exporter::new(&api, "out").unpack_archives(false);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn unpack_archives(mut self, on: bool) -> Self {
        self.unpack = on;
        self
    }

    /// Keeps archives after unpacking them (default false, as the official client).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let e = roboflow_batch::export::Exporter::new(&api, "out").keep_archives(true);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn keep_archives(mut self, on: bool) -> Self {
        self.keep_archives = on;
        self
    }

    /// The most bytes one archive may unpack to, counted as its uncompressed size (default
    /// 16 GiB). An archive over it is refused whole: nothing of it is kept, and the export
    /// fails naming the archive and the limit.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let e = roboflow_batch::export::Exporter::new(&api, "out").max_unpacked_bytes(64 << 30);
    /// assert!(format!("{e:?}").contains("max_unpacked_bytes: 68719476736"));
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn max_unpacked_bytes(mut self, bytes: u64) -> Self {
        self.limits.bytes = bytes;
        self
    }

    /// The most entries (files, folders, links) one archive may hold (default 1,000,000);
    /// an archive over it is refused whole.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let e = roboflow_batch::export::Exporter::new(&api, "out").max_unpacked_entries(5_000_000);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn max_unpacked_entries(mut self, entries: u64) -> Self {
        self.limits.entries = entries;
        self
    }

    /// Exports only this part (repeatable; default every part). For a job's several
    /// output batches, the filter applies to the batches that have one of the parts asked
    /// for, and the others are exported whole (so with
    /// [`include_processing`](Self::include_processing), a part of the export comes with
    /// the aggregated results); a part that no batch has is an error.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let e = roboflow_batch::export::Exporter::new(&api, "out").part("results").part("archives");
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn part(mut self, name: impl Into<String>) -> Self {
        self.parts.push(name.into());
        self
    }

    /// For [`job`](Self::job): the stages whose output batches to export (default
    /// `export`). A stage is found by its id, then by its display name ignoring case, then
    /// by an output batch named `<job>-<stage>`, so `export` finds a stage the service
    /// calls `Export` with the id `<job>-export`.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let e = roboflow_batch::export::Exporter::new(&api, "out").stages(["processing"]);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn stages<S: Into<String>>(mut self, stages: impl IntoIterator<Item = S>) -> Self {
        self.stages = stages.into_iter().map(Into::into).collect();
        self
    }

    /// For [`job`](Self::job): also exports the `processing` stage's output (the
    /// aggregated CSV or JSONL).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let e = roboflow_batch::export::Exporter::new(&api, "out").include_processing(true);
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn include_processing(mut self, on: bool) -> Self {
        let has = self.stages.iter().any(|s| s == "processing");
        if on && !has {
            self.stages.insert(0, "processing".into());
        } else if !on {
            self.stages.retain(|s| s != "processing");
        }
        self
    }

    /// A flag that stops the export when set (e.g. on Ctrl-C): no new download starts,
    /// those running finish, and the export ends with an error of kind `Interrupted`. A
    /// re-run resumes.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use std::sync::{Arc, atomic::AtomicBool};
    /// let stop = Arc::new(AtomicBool::new(false));
    /// let e = roboflow_batch::export::Exporter::new(&api, "out").cancel_flag(stop.clone());
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn cancel_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// Called with each [`ExportEvent`], from the download threads.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// use roboflow_batch::export::{ExportEvent, Exporter};
    /// let e = Exporter::new(&api, "out").on_event(|e| if let ExportEvent::Downloaded(f) = e { println!("{}", f.file_name) });
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn on_event(mut self, f: impl Fn(&ExportEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(f));
        self
    }

    /// Exports the output batches of a finished job, from the chosen stages.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let report = roboflow_batch::export::Exporter::new(&api, "out").job("job-abc123def456")?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn job(&self, job_id: &str) -> Result<ExportReport> {
        let job = Job::new(self.api, job_id)?;
        let state = job.status()?.state();
        if !state.is_terminal() {
            return Err(Error::invalid(
                "job",
                format!("job {job_id} is {state}; wait for it to finish before exporting"),
            ));
        }
        let note = if state == JobState::Failed {
            " (the job failed)"
        } else {
            ""
        };
        let chosen = crate::jobs::output_batches(job_id, &job.stages()?, &self.stages, note)?;
        self.run(&chosen)
    }

    /// Exports one batch (every part, or those chosen with [`part`](Self::part)).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let report = roboflow_batch::export::Exporter::new(&api, "out").batch("job-1-export")?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn batch(&self, batch_id: &str) -> Result<ExportReport> {
        self.run(&[batch_id.to_string()])
    }

    /// Download options that report written bytes as [`ExportEvent::Bytes`].
    fn download_options(&self) -> DownloadOptions {
        let options = DownloadOptions::default();
        match self.on_event.clone() {
            Some(f) => options.on_bytes(move |n| f(&ExportEvent::Bytes(n))),
            None => options,
        }
    }

    fn emit(&self, e: ExportEvent) {
        if let Some(f) = &self.on_event {
            f(&e);
        }
    }

    fn run(&self, batches: &[String]) -> Result<ExportReport> {
        if !(1..=MAX_PARALLELISM).contains(&self.parallelism) {
            return Err(Error::invalid(
                "parallelism",
                format!("must be 1 to {MAX_PARALLELISM}, got {}", self.parallelism),
            ));
        }
        for p in &self.parts {
            check_name("part name", p)?;
        }
        let mut plan = Vec::new();
        for (b, parts) in self.choose_parts(batches)? {
            self.list(&b, parts, &mut plan)?;
        }
        let mut seen: HashMap<&Path, &Planned> = HashMap::new();
        for p in &plan {
            if let Some(other) = seen.insert(&p.rel, p) {
                return Err(Error::invalid(
                    "fileName",
                    format!(
                        "{}/{} and {}/{} would both be saved as {}",
                        other.key.batch_id,
                        other.key.file_name,
                        p.key.batch_id,
                        p.key.file_name,
                        p.rel.display()
                    ),
                ));
            }
        }
        // Created only once the listing worked: a wrong id leaves no empty folder behind.
        std::fs::create_dir_all(&self.target)
            .map_err(|e| Error::io(format!("creating {}", self.target.display()), e))?;
        let log = ExportLog::open(&self.target)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.parallelism)
            .thread_name(|i| format!("export-{i}"))
            .build()
            .map_err(|e| Error::Config(format!("cannot start the download threads: {e}")))?;
        let done: Mutex<Vec<Option<ExportedFile>>> = Mutex::new(vec![None; plan.len()]);
        pool.install(|| {
            plan.par_iter()
                .enumerate()
                .with_max_len(1)
                .try_for_each(|(i, p)| {
                    let f = self.fetch(p, &log)?;
                    let mut d = done.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(slot) = d.get_mut(i) {
                        *slot = Some(f);
                    }
                    Ok::<(), Error>(())
                })
        })?;
        let files: Vec<ExportedFile> = done
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .flatten()
            .collect();
        let fresh = files.iter().filter(|f| !f.skipped);
        Ok(ExportReport {
            target: self.target.clone(),
            batches: batches.to_vec(),
            downloaded: fresh.clone().count(),
            skipped: files.iter().filter(|f| f.skipped).count(),
            bytes: fresh.clone().map(|f| f.bytes).sum(),
            unpacked: fresh.map(|f| f.unpacked.len()).sum(),
            files,
        })
    }

    /// The parts to export of each batch (`[None]` for a batch without parts). Alone, a
    /// batch must have every part asked for. Among several batches (a job's stages), the
    /// parts asked for filter the batches that have one of them and the others are exported
    /// whole, so `--include-processing --part X` takes the processing stage's output and
    /// part X of the export; a part that no batch has is an error.
    fn choose_parts(&self, batches: &[String]) -> Result<Vec<(String, Vec<Option<String>>)>> {
        // Each batch with its part names (`None`: a batch without parts).
        let mut all: Vec<(String, BatchType, Option<Vec<String>>)> = Vec::new();
        for b in batches {
            let meta = self.api.batch(b)?;
            let parts = if meta.batch_type == BatchType::Multipart {
                let ps = self.api.list_parts(b)?;
                Some(ps.into_iter().map(|p| p.part_name).collect())
            } else {
                None
            };
            all.push((b.clone(), meta.batch_type, parts));
        }
        for want in &self.parts {
            let holders = all
                .iter()
                .filter(|(_, _, ps)| ps.as_ref().is_some_and(|ps| ps.contains(want)))
                .count();
            let missing = if let [(b, t, ps)] = all.as_slice() {
                match ps {
                    None => Some(format!("batch {b} is a {t} and has no parts")),
                    Some(ps) if holders == 0 => Some(format!(
                        "batch {b} has no part {want:?}; its parts: {}",
                        ps.join(", ")
                    )),
                    Some(_) => None,
                }
            } else if holders == 0 {
                let listing: Vec<String> = all
                    .iter()
                    .map(|(b, t, ps)| match ps {
                        Some(ps) => format!("{b}: {}", ps.join(", ")),
                        None => format!("{b}: none (a {t})"),
                    })
                    .collect();
                Some(format!(
                    "no batch has a part {want:?}; the parts of each: {}",
                    listing.join("; ")
                ))
            } else {
                None
            };
            if let Some(rule) = missing {
                return Err(Error::invalid("part", rule));
            }
        }
        Ok(all
            .into_iter()
            .map(|(b, _, ps)| {
                let chosen = match ps {
                    None => vec![None],
                    Some(ps) => {
                        let filter = ps.iter().any(|p| self.parts.contains(p));
                        ps.into_iter()
                            .filter(|p| !filter || self.parts.contains(p))
                            .map(Some)
                            .collect()
                    }
                };
                (b, chosen)
            })
            .collect())
    }

    /// Lists the files of a batch's `parts` into `plan`, part by part.
    fn list(
        &self,
        batch_id: &str,
        parts: Vec<Option<String>>,
        plan: &mut Vec<Planned>,
    ) -> Result<()> {
        for part in parts {
            if let Some(p) = &part {
                check_name("partName", p)?;
            }
            let mut n = 0;
            for f in self.api.files(batch_id, part.as_deref(), None) {
                let f = f?;
                check_name("fileName", &f.file_name)?;
                let dir = match &part {
                    Some(p) => PathBuf::from(p),
                    None => PathBuf::new(),
                };
                plan.push(Planned {
                    key: Key {
                        batch_id: batch_id.to_string(),
                        part_name: part.clone(),
                        shard_id: f.shard_id.clone(),
                        file_name: f.file_name.clone(),
                    },
                    rel: dir.join(&f.file_name),
                    dir,
                    meta: f,
                });
                n += 1;
            }
            self.emit(ExportEvent::Listed {
                batch_id: batch_id.to_string(),
                part_name: part,
                files: n,
            });
        }
        Ok(())
    }

    /// Downloads (and unpacks) one file, or skips it when complete.
    fn fetch(&self, p: &Planned, log: &ExportLog) -> Result<ExportedFile> {
        if self
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::SeqCst))
        {
            return Err(Error::io(
                "export stopped",
                std::io::Error::new(
                    std::io::ErrorKind::Interrupted,
                    "cancelled; run it again to resume",
                ),
            ));
        }
        let target = &self.target;
        let file = |rec: &Record, skipped: bool| ExportedFile {
            batch_id: p.key.batch_id.clone(),
            part_name: p.key.part_name.clone(),
            file_name: p.key.file_name.clone(),
            path: rec.path.as_ref().map(|r| target.join(r)),
            bytes: rec.bytes,
            unpacked: rec.entries.iter().map(|e| target.join(e)).collect(),
            skipped,
        };
        if !self.overwrite
            && let Some(rec) = log.complete(&p.key, target)
        {
            let f = file(rec, true);
            self.emit(ExportEvent::Skipped(f.clone()));
            return Ok(f);
        }
        let dir = target.join(&p.dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let archive = self.unpack && unpack::is_archive(&p.key.file_name);
        let record = if archive {
            let keep = self.keep_archives;
            let local = if keep {
                dir.join(&p.key.file_name)
            } else {
                dir.join(format!(
                    ".rfbatch-dl-{}-{}",
                    crate::rand::hex(6),
                    p.key.file_name
                ))
            };
            let bytes = self.api.download_to_file_with(
                &p.meta.download_url,
                &local,
                &self.download_options(),
            )?;
            let entries = unpack::unpack(&local, &p.key.file_name, &dir, self.limits);
            if !keep {
                let _ = std::fs::remove_file(&local);
            }
            let entries = entries?;
            Record {
                key: p.key.clone(),
                path: keep.then(|| rel_string(&p.rel)),
                bytes,
                entries: entries.iter().map(|e| rel_string(&p.dir.join(e))).collect(),
            }
        } else {
            let bytes = self.api.download_to_file_with(
                &p.meta.download_url,
                &target.join(&p.rel),
                &self.download_options(),
            )?;
            Record {
                key: p.key.clone(),
                path: Some(rel_string(&p.rel)),
                bytes,
                entries: Vec::new(),
            }
        };
        log.append(&record)?;
        let f = file(&record, false);
        self.emit(ExportEvent::Downloaded(f.clone()));
        Ok(f)
    }
}

/// One file to export.
struct Planned {
    key: Key,
    /// Its folder, relative to the target (the part, or empty).
    dir: PathBuf,
    /// Its path, relative to the target.
    rel: PathBuf,
    meta: FileMetadata,
}

fn rel_string(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}

/// A name from the service must be one plain path component.
pub(crate) fn check_name(field: &str, name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\', '\0'])
        || name.chars().any(char::is_control)
        || (cfg!(windows) && name.contains(':'));
    if bad {
        return Err(Error::invalid(
            field,
            format!("{name:?} is not a plain file name (no separators, `.` or `..`)"),
        ));
    }
    Ok(())
}

impl Job<'_> {
    /// Exports this job's results into `target` with the default options (the `export`
    /// stage); use [`Exporter`] for more control.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
    /// let job = roboflow_batch::jobs::Job::new(&api, "job-abc123def456")?;
    /// let report = job.export("results")?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn export(&self, target: impl Into<PathBuf>) -> Result<ExportReport> {
        Exporter::new(self.api(), target).job(self.id().as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_table() {
        for (n, ok) in [
            ("results.jsonl", true),
            ("export-00001.tar", true),
            ("..", false),
            (".", false),
            ("", false),
            ("a/b", false),
            ("/etc", false),
            ("a\\b", false),
            ("a\0b", false),
            ("a\nb", false),
            ("..hidden", true),
        ] {
            assert_eq!(check_name("f", n).is_ok(), ok, "{n:?}");
        }
    }
}
