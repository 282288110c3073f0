//! Export: a job's or a batch's files, downloaded in parallel into
//! `<target>/<partName>/<fileName>`, archives unpacked safely, re-runs skipping what a log in
//! the target records as complete. Two exports must not share a target at once.
//!
//! ```no_run
//! # let api = roboflow_batch::BatchApi::from_env()?;
//! let report = roboflow_batch::export::Exporter::new(&api, "results").job("job-abc123def456")?;
//! println!("{} files, {} already there", report.downloaded, report.skipped);
//! # Ok::<(), roboflow_batch::Error>(())
//! ```

mod log;
pub(crate) mod report;
mod unpack;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use crate::BatchApi;
use crate::api::DownloadOptions;
use crate::error::{Error, Result};
use crate::jobs::Job;
use crate::model::{BatchType, FileMetadata, JobState, ensure};
use crate::progress::{Callback, Event};

use log::{ExportLog, Key, Record};
pub use report::{ExportReport, ExportedFile};

/// The official client's default number of parallel downloads.
pub const DEFAULT_PARALLELISM: usize = 8;
/// The most parallel downloads allowed.
pub const MAX_PARALLELISM: usize = 64;

/// Exports batches or a job's results into a folder; see the [module docs](self).
///
/// ```no_run
/// # let api = roboflow_batch::BatchApi::from_env()?;
/// let report = roboflow_batch::export::Exporter::new(&api, "out").part("results").batch("job-1-export")?;
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
    cancel: Option<&'a AtomicBool>,
    progress: Option<Callback<'a>>,
}

crate::model::redacted_debug!(Exporter<'_> {
    target, parallelism, overwrite, unpack, keep_archives, limits, parts, stages,
});

impl<'a> Exporter<'a> {
    /// An export into `target`: 8 downloads at once, archives unpacked, complete files skipped.
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").build().unwrap();
    /// assert!(format!("{:?}", roboflow_batch::export::Exporter::new(&api, "out")).contains("parallelism: 8"));
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
            progress: None,
        }
    }

    crate::model::setters! {
        setup: "# let api = roboflow_batch::BatchApi::builder().api_key(\"k\").build().unwrap();",
        on: "roboflow_batch::export::Exporter::new(&api, \"out\")";
        /// Parallel downloads, 1 to [`MAX_PARALLELISM`] (default 8).
        parallelism(s, n: usize) = "2" {
            s.parallelism = n;
        }
        /// Downloads every file again, even those complete on disk (default false).
        overwrite(s, on: bool) = "true" {
            s.overwrite = on;
        }
        /// Unpacks `.tar` and `.tar.gz` files (default true).
        unpack_archives(s, on: bool) = "false" {
            s.unpack = on;
        }
        /// Keeps archives after unpacking them (default false, as the official client).
        keep_archives(s, on: bool) = "true" {
            s.keep_archives = on;
        }
        /// The most bytes one archive may unpack to (default 16 GiB); an archive over it is
        /// refused whole, and the export fails naming it.
        max_unpacked_bytes(s, bytes: u64) = "64 << 30" {
            s.limits.bytes = bytes;
        }
        /// The most entries one archive may hold (default 1,000,000), refused whole over it.
        max_unpacked_entries(s, entries: u64) = "5_000_000" {
            s.limits.entries = entries;
        }
        /// Exports only this part (repeatable; default every part) of the batches that have
        /// it, the others whole; a part that no batch has is an error.
        part(s, name: impl Into<String>) = "\"results\"" {
            s.parts.push(name.into());
        }
        /// For [`job`](Self::job): the stages whose output batches to export (default
        /// `export`), found by id, display name (any case) or an output batch `<job>-<stage>`.
        stages(s, stages: impl IntoIterator<Item = impl Into<String>>) = "[\"processing\"]" {
            s.stages = stages.into_iter().map(Into::into).collect();
        }
        /// For [`job`](Self::job): also exports the aggregated results (`processing` stage).
        include_processing(s, on: bool) = "true" {
            let has = s.stages.iter().any(|st| st == "processing");
            if on && !has {
                s.stages.insert(0, "processing".into());
            } else if !on {
                s.stages.retain(|st| st != "processing");
            }
        }
        /// A flag that stops the export when set (e.g. on Ctrl-C): no new download starts,
        /// and the report says [`cancelled`](ExportReport::cancelled); a re-run resumes.
        cancel_flag(s, flag: &'a AtomicBool) = "&std::sync::atomic::AtomicBool::new(false)" {
            s.cancel = Some(flag);
        }
        /// Called with each [`Event`] from the download threads; it may borrow.
        on_progress(s, f: impl Fn(&Event) + Sync + 'a) = "|e| println!(\"{e:?}\")" {
            s.progress = Some(Box::new(f));
        }
    }

    /// Exports the output batches of a finished job (an id, or a [`Job`]) from the stages.
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::from_env()?;
    /// let report = roboflow_batch::export::Exporter::new(&api, "out").job("job-abc123def456")?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn job(&self, job: impl AsRef<str>) -> Result<ExportReport> {
        let before = self.api.requests();
        let job = Job::new(self.api, job)?;
        let job_id = job.id().as_str();
        let state = job.status()?.state();
        let rule = format!("job {job_id} is {state}; wait for it to finish before exporting");
        ensure(state.is_terminal(), "job", rule)?;
        let failed = state == JobState::Failed;
        let note = if failed { " (the job failed)" } else { "" };
        let chosen = crate::jobs::output_batches(job_id, &job.stages()?, &self.stages, note)?;
        self.run(&chosen, before)
    }

    /// Exports one batch (every part, or those chosen with [`part`](Self::part)).
    ///
    /// ```no_run
    /// # let api = roboflow_batch::BatchApi::from_env()?;
    /// let report = roboflow_batch::export::Exporter::new(&api, "out").batch("job-1-export")?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn batch(&self, batch_id: impl AsRef<str>) -> Result<ExportReport> {
        self.run(&[batch_id.as_ref().to_string()], self.api.requests())
    }

    fn emit(&self, e: Event) {
        if let Some(f) = &self.progress {
            f(&e);
        }
    }

    fn run(&self, batches: &[String], before: crate::api::RequestCounts) -> Result<ExportReport> {
        let n = self.parallelism;
        let rule = format!("must be 1 to {MAX_PARALLELISM}, got {n}");
        ensure((1..=MAX_PARALLELISM).contains(&n), "parallelism", rule)?;
        for p in &self.parts {
            check_name("part name", p)?;
        }
        let mut plan = Vec::new();
        for (b, part) in self.choose_parts(batches)? {
            self.list(&b, part, &mut plan)?;
        }
        let mut seen: HashMap<&Path, &Planned> = HashMap::new();
        let name = |k: &Key| format!("{}/{}", k.batch_id, k.file_name);
        for p in &plan {
            if let Some(other) = seen.insert(&p.rel, p) {
                let (a, b, to) = (name(&other.key), name(&p.key), p.rel.display());
                let rule = format!("{a} and {b} would both be saved as {to}");
                return Err(Error::invalid("fileName", rule));
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
        let done: Vec<Option<ExportedFile>> = pool.install(|| {
            plan.par_iter()
                .with_max_len(1)
                .map(|p| {
                    if self.cancel.is_some_and(|c| c.load(Ordering::SeqCst)) {
                        return Ok(None); // left for the next run
                    }
                    self.fetch(p, &log).map(Some)
                })
                .collect::<Result<_>>()
        })?;
        let files: Vec<ExportedFile> = done.into_iter().flatten().collect();
        let fresh = || files.iter().filter(|f| !f.skipped);
        let pending = (plan.len() - files.len()) as u64;
        Ok(ExportReport {
            target: self.target.clone(),
            batches: batches.to_vec(),
            downloaded: fresh().count() as u64,
            skipped: files.iter().filter(|f| f.skipped).count() as u64,
            bytes: fresh().map(|f| f.bytes).sum(),
            unpacked: fresh().map(|f| f.unpacked.len() as u64).sum(),
            cancelled: pending > 0,
            files_pending: pending,
            requests: self.api.requests().since(&before),
            files,
        })
    }

    /// The (batch, part) pairs to export (`None`: a batch without parts), by the rule of
    /// [`part`](Self::part).
    fn choose_parts(&self, batches: &[String]) -> Result<Vec<(String, Option<String>)>> {
        // Each batch with its part names (`None`: a batch without parts).
        let mut all: Vec<(String, BatchType, Option<Vec<String>>)> = Vec::new();
        for b in batches {
            let (t, mut names) = (self.api.batch(b)?.batch_type, None);
            if t == BatchType::Multipart {
                let ps = self.api.list_parts(b)?;
                names = Some(ps.into_iter().map(|p| p.part_name).collect());
            }
            all.push((b.clone(), t, names));
        }
        let has = |w: &String| {
            all.iter()
                .any(|(_, _, ps)| ps.iter().flatten().any(|p| p == w))
        };
        if let Some(want) = self.parts.iter().find(|w| !has(w)) {
            let rule = match all.as_slice() {
                [(b, t, None)] => format!("batch {b} is a {t} and has no parts"),
                [(b, _, Some(ps))] => {
                    format!(
                        "batch {b} has no part {want:?}; its parts: {}",
                        ps.join(", ")
                    )
                }
                _ => {
                    let listing: Vec<String> = all
                        .iter()
                        .map(|(b, t, ps)| match ps {
                            Some(ps) => format!("{b}: {}", ps.join(", ")),
                            None => format!("{b}: none (a {t})"),
                        })
                        .collect();
                    format!(
                        "no batch has a part {want:?}; the parts of each: {}",
                        listing.join("; ")
                    )
                }
            };
            return Err(Error::invalid("part", rule));
        }
        let mut chosen = Vec::new();
        for (b, _, ps) in all {
            let filter = ps.iter().flatten().any(|p| self.parts.contains(p));
            let keep = |p: &String| !filter || self.parts.contains(p);
            match ps {
                None => chosen.push((b, None)),
                Some(ps) => {
                    chosen.extend(ps.into_iter().filter(keep).map(|p| (b.clone(), Some(p))))
                }
            }
        }
        Ok(chosen)
    }

    /// Lists the files of a batch's part (or of a batch without parts) into `plan`.
    fn list(&self, batch_id: &str, part: Option<String>, plan: &mut Vec<Planned>) -> Result<()> {
        if let Some(p) = &part {
            check_name("partName", p)?;
        }
        let before = plan.len();
        for f in self.api.files(batch_id, part.as_deref(), None) {
            let f = f?;
            check_name("fileName", &f.file_name)?;
            let dir = part.as_ref().map(PathBuf::from).unwrap_or_default();
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
        }
        self.emit(Event::FilesListed {
            batch_id: batch_id.to_string(),
            part_name: part,
            files: (plan.len() - before) as u64,
        });
        Ok(())
    }

    /// Downloads (and unpacks) one file, or skips it when complete.
    fn fetch(&self, p: &Planned, log: &ExportLog) -> Result<ExportedFile> {
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
            self.emit(Event::Exported(f.clone()));
            return Ok(f);
        }
        let dir = target.join(&p.dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let archive = self.unpack && unpack::is_archive(&p.key.file_name);
        let mut options = DownloadOptions::default();
        if let Some(f) = &self.progress {
            options = options.on_progress(|e| f(e));
        }
        // An archive not kept downloads under a hidden name, removed once unpacked.
        let kept = !archive || self.keep_archives;
        let local = if kept {
            target.join(&p.rel)
        } else {
            let name = format!(".rfbatch-dl-{}-{}", crate::rand::hex(6), p.key.file_name);
            dir.join(name)
        };
        let bytes = self
            .api
            .download_to_file_with(&p.meta.download_url, &local, &options)?;
        let mut entries = Vec::new();
        if archive {
            let unpacked = unpack::unpack(&local, &p.key.file_name, &dir, self.limits);
            if !kept {
                let _ = std::fs::remove_file(&local);
            }
            entries = unpacked?
                .iter()
                .map(|e| rel_string(&p.dir.join(e)))
                .collect();
        }
        let record = Record {
            key: p.key.clone(),
            path: kept.then(|| rel_string(&p.rel)),
            bytes,
            entries,
        };
        log.append(&record)?;
        let f = file(&record, false);
        self.emit(Event::Exported(f.clone()));
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
    let bad = matches!(name, "" | "." | "..")
        || name.contains(['/', '\\', '\0'])
        || name.chars().any(char::is_control)
        || (cfg!(windows) && name.contains(':'));
    let rule = format!("{name:?} is not a plain file name (no separators, `.` or `..`)");
    ensure(!bad, field, rule)
}
