//! The job engine: one thread advancing every running job a little per tick. Work is done
//! outside the state lock, then committed only if the job is still in the same run, phase
//! and place: an abort or restart in between discards it.

use std::collections::HashMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::super::clock::stamp_us as now;
use super::super::job_records::{JobKind, JobRecord, Phase, StageRecord};
use super::super::staging::{batch_files, create_output_batch};
use super::super::state::{State, background};
use super::super::store::{DISCARDED, FileRec, NewFile};
use super::workflows::{Workflow, rows_to_csv};
use super::{ended, run_dir};
use crate::error::Result;
use crate::model::{AggregationFormat, JobStartRequest, JobType, LogSeverity};

const TICK: Duration = Duration::from_millis(20);
/// Work units per device of a TensorRT compilation job.
const TRT_UNITS: u64 = 20;
/// Images read per job per tick at most, so one tick stays short.
const MAX_PER_TICK: f64 = 2000.0;
/// The failure tolerance when `maxImageFailureRate` is absent: the service's documented
/// default of 10 failed images per 256-image shard.
const DEFAULT_MAX_FAILURE_RATE: f64 = 10.0 / 256.0;

type Fallible<T> = std::result::Result<T, String>;
type Step = Fallible<()>;

/// What the engine needs of a job, copied out under the lock.
struct Snap {
    id: String,
    run: u32,
    phase: Phase,
    kind: JobKind,
    cursor: u64,
    total: u64,
    results_bytes: u64,
    deadline_passed: bool,
    /// The run's working directory.
    dir: PathBuf,
}

impl Snap {
    fn of(j: &JobRecord, state: &State) -> Snap {
        let deadline_passed = match (j.timeout_seconds, j.started_at) {
            // No deadline can be computed past the year 9999: then there is none.
            (Some(t), Some(s)) => s
                .checked_plus(Duration::from_secs(t))
                .is_some_and(|end| now() > end),
            _ => false,
        };
        Snap {
            id: j.id.clone(),
            run: j.run,
            phase: j.phase,
            kind: j.kind.clone(),
            cursor: j.cursor,
            total: j.total,
            results_bytes: j.results_bytes,
            deadline_passed,
            dir: run_dir(state, &j.id, j.run),
        }
    }
}

/// What the engine keeps in memory of one job run (rebuilt after a sandbox restart).
#[derive(Default)]
struct Cache {
    run: u32,
    files: Option<Arc<Vec<FileRec>>>,
    /// Work earned but not done yet, in items.
    carry: f64,
}

struct Engine {
    state: Arc<State>,
    cache: HashMap<String, Cache>,
}

pub(crate) fn start(state: &Arc<State>, stopping: &Arc<AtomicBool>) -> Result<JoinHandle<()>> {
    let (state, cache) = (state.clone(), HashMap::new());
    let mut engine = Engine { state, cache };
    let (stop, mut last) = (stopping.clone(), Instant::now());
    background("sandbox-jobs", stopping, TICK, move || {
        let dt = std::mem::replace(&mut last, Instant::now()).elapsed();
        engine.tick(dt.as_secs_f64(), &stop);
        false
    })
}

impl Engine {
    fn tick(&mut self, dt: f64, stop: &AtomicBool) {
        let snaps: Vec<Snap> = {
            let data = self.state.lock();
            let running = data.jobs.jobs.values().filter(|j| !j.phase.is_terminal());
            running.map(|j| Snap::of(j, &self.state)).collect()
        };
        self.cache.retain(|id, _| snaps.iter().any(|s| &s.id == id));
        let speed = self.state.config.job_speed.max(0.0);
        for s in snaps {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let c = self.cache.entry(s.id.clone()).or_default();
            if c.run != s.run {
                (c.run, c.files, c.carry) = (s.run, None, 0.0);
            }
            c.carry = (c.carry + dt * speed).min(MAX_PER_TICK);
            let n = c.carry.floor();
            c.carry -= n;
            match crate::panics::contain(|| self.step(&s, n as u64)) {
                Ok(Ok(())) => {}
                Ok(Err(msg)) => self.commit(&s, |j| j.fail("job-error", &msg)),
                Err(panic) => self.fail_after_panic(&s, &panic),
            }
        }
    }

    fn step(&mut self, s: &Snap, n: u64) -> Step {
        if s.deadline_passed {
            let msg = "processingTimeoutSeconds exceeded";
            self.commit(s, |j| j.fail("processing-timeout", msg));
            return Ok(());
        }
        match (s.phase, &s.kind) {
            (Phase::Pending, _) => self.begin(s),
            (Phase::Processing, _) if s.cursor >= s.total => self.finish_processing(s),
            (Phase::Processing, JobKind::Workflow(req)) => self.process(s, req, n),
            (Phase::Export, _) if s.cursor >= s.total => self.finish_export(s),
            // A compilation, and the export, only take their time.
            (Phase::Processing | Phase::Export, _) => {
                self.commit(s, |j| advance(j, (s.cursor + n).min(s.total), &[]));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Applies `f` if the job is still in the snapshot's run, phase and place; queues its
    /// webhook when it ended.
    fn commit(&mut self, s: &Snap, f: impl FnOnce(&mut JobRecord)) {
        let mut data = self.state.lock();
        let Some(j) = data.jobs.jobs.get_mut(&s.id) else {
            return;
        };
        if j.run != s.run || j.phase != s.phase || j.cursor != s.cursor {
            return;
        }
        f(j);
        j.last_update = now();
        if j.phase.is_terminal() {
            ended(&self.state, &mut data, &s.id);
        }
        self.state.unlock_changed(data);
    }

    /// Fails a job whose step panicked, whatever the step left half done: the panic is
    /// reported on stderr and in the job's logs, and every other job carries on.
    fn fail_after_panic(&mut self, s: &Snap, panic: &str) {
        let (id, run) = (&s.id, s.run);
        eprintln!("rfbatch sandbox: job {id:?} (run {run}) panicked: {panic}");
        self.cache.remove(&s.id);
        let msg =
            format!("internal error: the sandbox's job step panicked ({panic}); the job is failed");
        let mut data = self.state.lock();
        if let Some(j) = data.jobs.jobs.get_mut(&s.id)
            && j.run == s.run
            && !j.phase.is_terminal()
        {
            j.fail("job-panicked", &msg);
            ended(&self.state, &mut data, &s.id);
        }
        self.state.unlock_changed(data);
    }

    /// The input files of a Workflow job, in order.
    fn files(&mut self, s: &Snap, req: &JobStartRequest) -> Fallible<Arc<Vec<FileRec>>> {
        if let Some(f) = self.cache.get(&s.id).and_then(|c| c.files.clone()) {
            return Ok(f);
        }
        let batch = &req.job_input.batch_id;
        let files = batch_files(&self.state, batch, req.job_input.part_name.as_deref());
        let mut files = files.ok_or_else(|| format!("input batch {batch:?} not found"))?;
        if files.iter().any(|f| f.discarded) {
            return Err(format!("input batch {batch:?}: {DISCARDED}"));
        }
        files.sort_by(|a, b| (&a.part, &a.name).cmp(&(&b.part, &b.name)));
        let files = Arc::new(files);
        if let Some(c) = self.cache.get_mut(&s.id) {
            c.files = Some(files.clone());
        }
        Ok(files)
    }

    fn workflow(&self, req: &JobStartRequest) -> Fallible<Workflow> {
        let (spec, hooks) = (&req.processing_specification, self.state.config.test_hooks);
        Workflow::find(&spec.workflow_id, spec.workflow_parameters.as_ref(), hooks)
    }

    fn begin(&mut self, s: &Snap) -> Step {
        let per_task = self.state.config.job_images_per_task;
        let (name, total, per) = match &s.kind {
            JobKind::Trt(t) => (
                "compilation",
                t.compilation_devices.len() as u64 * TRT_UNITS,
                TRT_UNITS,
            ),
            JobKind::Workflow(req) => match self.workflow(req) {
                Err(msg) => {
                    self.commit(s, |j| {
                        j.stages.push(StageRecord::new("processing", 0, per_task));
                        j.current_stage = Some("processing".into());
                        j.fail("workflow-error", &msg);
                    });
                    return Ok(());
                }
                Ok(_) => ("processing", self.files(s, req)?.len() as u64, per_task),
            },
        };
        self.commit(s, |j| {
            let msg = format!("Stage {name} started: {total} items");
            let log = json!({ "message": msg, "items": total });
            enter_stage(j, name, Phase::Processing, total, per, log);
            j.total = total;
            j.started_at = Some(now());
            j.last_notification = Some(json!({ "type": "stage-started", "message": msg }));
        });
        Ok(())
    }

    fn process(&mut self, s: &Snap, req: &JobStartRequest, n: u64) -> Step {
        if n == 0 {
            return Ok(());
        }
        let files = self.files(s, req)?;
        if files.len() as u64 != s.total {
            return Err("the input batch changed while the job ran".into());
        }
        let wf = self.workflow(req)?;
        let video = req.job_type == JobType::SimpleVideoProcessing;
        let end = (s.cursor + n).min(s.total);
        let (mut lines, mut failures) = (Vec::new(), Vec::new());
        for i in s.cursor..end {
            let f = &files[i as usize];
            let ran = wf.run(f, &self.state.data_dir, video);
            let row = ran.unwrap_or_else(|row| {
                failures.push((i, f.name.clone(), row["error"].clone()));
                row
            });
            lines.extend_from_slice(row.to_string().as_bytes());
            lines.push(b'\n');
        }
        let bytes = append_at(&s.dir.join("results.jsonl"), s.results_bytes, &lines)
            .map_err(|e| format!("cannot write results: {e}"))?;
        let idx: Vec<u64> = failures.iter().map(|f| f.0).collect();
        self.commit(s, |j| {
            advance(j, end, &idx);
            j.failed += failures.len() as u64;
            j.results_bytes = bytes;
            for (_, name, reason) in &failures {
                let payload = json!({ "message": format!("image {name:?} failed"), "file_name": name, "reason": reason });
                j.log(LogSeverity::Warning, Some("processing"), "image-failed", payload);
            }
        });
        Ok(())
    }

    fn finish_processing(&mut self, s: &Snap) -> Step {
        let JobKind::Workflow(req) = &s.kind else {
            return self.complete(s, Vec::new());
        };
        let rows = self.rows(s)?;
        let (file, text) =
            if req.processing_specification.aggregation_format == Some(AggregationFormat::Csv) {
                ("results.csv", rows_to_csv(&rows))
            } else {
                let jsonl = rows.iter().map(|r| format!("{r}\n"));
                ("results.jsonl", jsonl.collect())
            };
        let path = s.dir.join("out-processing").join(file);
        let written = NewFile::create(&self.state.data_dir, &s.id).and_then(|mut f| {
            f.out.write_all(text.as_bytes())?;
            f.place(&path)
        });
        written.map_err(|e| format!("cannot write results: {e}"))?;
        let batch = format!("{}-processing", s.id);
        let display = format!("{} processing results", s.id);
        let files = vec![(file.to_string(), path)];
        let (st, part) = (&self.state, ("results", "metadata"));
        create_output_batch(st, &batch, &display, part, files)
            .map_err(|e| format!("cannot store results: {e}"))?;
        let per_task = self.state.config.job_images_per_task;
        self.commit(s, |j| {
            let failed = j.failed;
            let rate = if j.total == 0 { 0.0 } else { failed as f64 / j.total as f64 };
            let tolerance = j.max_failure_rate.unwrap_or(DEFAULT_MAX_FAILURE_RATE);
            if let Some(st) = j.stages.last_mut() {
                st.output_batches = vec![batch.clone()];
            }
            if rate > tolerance {
                let (total, percent) = (j.total, rate * 100.0);
                let msg = format!(
                    "{failed} of {total} images failed ({percent:.1}%), more than maxImageFailureRate {tolerance}"
                );
                return j.fail("image-failure-rate-exceeded", &msg);
            }
            finish_stage(j, &format!("{} images processed, {failed} failed", j.total));
            let payload = json!({ "message": "Stage export started" });
            enter_stage(j, "export", Phase::Export, j.total, per_task, payload);
        });
        Ok(())
    }

    fn finish_export(&mut self, s: &Snap) -> Step {
        let rows = self.rows(s)?;
        let mut files = Vec::new();
        for (i, (first, count)) in self.tasks(s).into_iter().enumerate() {
            let name = format!("export-{i:05}.tar");
            let path = s.dir.join("out-export").join(&name);
            self.write_tar(&path, &rows, first, count)?;
            files.push((name, path));
        }
        let batch = format!("{}-export", s.id);
        let display = format!("{} export", s.id);
        let (st, part) = (&self.state, ("archives", "archives"));
        create_output_batch(st, &batch, &display, part, files)
            .map_err(|e| format!("cannot store the export: {e}"))?;
        self.complete(s, vec![batch])
    }

    /// Marks the current (last) stage and the job successful.
    fn complete(&mut self, s: &Snap, outputs: Vec<String>) -> Step {
        self.commit(s, |j| {
            if let Some(st) = j.stages.last_mut() {
                st.output_batches.extend(outputs);
            }
            let msg = match &j.kind {
                JobKind::Workflow(_) => format!("{} images exported", j.total),
                JobKind::Trt(_) => "compilation finished".to_string(),
            };
            finish_stage(j, &msg);
            let batches: Vec<String> = j.stages.iter().flat_map(|s| s.output_batches.clone()).collect();
            let note = json!({ "message": "Job completed", "resultsBatches": batches });
            j.phase = Phase::Completed;
            j.progress = 1.0;
            j.last_notification = Some(json!({ "type": "job-completed", "message": "Job completed", "resultsBatches": batches }));
            j.log(LogSeverity::Info, None, "job-completed", note);
        });
        Ok(())
    }

    /// The processed rows, read back from the results file.
    fn rows(&self, s: &Snap) -> Fallible<Vec<Value>> {
        let bytes = match std::fs::read(s.dir.join("results.jsonl")) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("cannot read results: {e}")),
        };
        let kept = &bytes[..(s.results_bytes as usize).min(bytes.len())];
        let lines = kept.split(|b| *b == b'\n').filter(|l| !l.is_empty());
        Ok(lines
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect())
    }

    /// The `(first, count)` of the current stage's tasks.
    fn tasks(&self, s: &Snap) -> Vec<(u64, u64)> {
        let data = self.state.lock();
        let stage = data.jobs.jobs.get(&s.id).and_then(|j| j.stages.last());
        stage
            .map(|st| st.tasks.iter().map(|t| (t.first, t.count)).collect())
            .unwrap_or_default()
    }

    /// One export archive: a JSON file per image of the task's chunk.
    fn write_tar(&self, path: &Path, rows: &[Value], first: u64, count: u64) -> Step {
        let write = || -> std::io::Result<()> {
            let mut file = NewFile::create(&self.state.data_dir, "export")?;
            let mut b = tar::Builder::new(&mut file.out);
            let end = ((first + count) as usize).min(rows.len());
            for row in rows.get(first as usize..end).unwrap_or(&[]) {
                let name = row["file_name"].as_str().unwrap_or("image");
                let data = serde_json::to_vec_pretty(row).unwrap_or_default();
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                let path = format!("{}.json", name.replace(['/', '\\'], "_"));
                b.append_data(&mut h, path, &data[..])?;
            }
            b.finish()?;
            drop(b);
            file.place(path)
        };
        write().map_err(|e| format!("cannot write the export: {e}"))
    }
}

/// Starts stage `name` of the job, its first task registered.
fn enter_stage(j: &mut JobRecord, name: &str, phase: Phase, total: u64, per_task: u64, log: Value) {
    let mut stage = StageRecord::new(name, total, per_task);
    if let Some(t) = stage.tasks.first_mut() {
        t.registered = Some(now());
    }
    j.stages.push(stage);
    j.current_stage = Some(name.into());
    j.phase = phase;
    j.cursor = 0;
    j.log(LogSeverity::Info, Some(name), "stage-started", log);
}

/// Moves the current stage's cursor to `end`, updating its tasks and the job's progress
/// (a Workflow job's two stages are half of it each).
fn advance(j: &mut JobRecord, end: u64, failed: &[u64]) {
    let now = now();
    let base = if j.phase == Phase::Export { 0.5 } else { 0.0 };
    let weight = [0.5, 1.0][usize::from(matches!(j.kind, JobKind::Trt(_)))];
    // An empty stage is done: 0/0 is NaN, and NaN.min(1.0) is 1.0.
    let done = (end as f64 / j.total as f64).min(1.0);
    j.cursor = end;
    j.progress = base + weight * done;
    let Some(stage) = j.stages.last_mut() else {
        return;
    };
    stage.last_event = now;
    for t in &mut stage.tasks {
        t.failed += failed
            .iter()
            .filter(|i| (t.first..t.first + t.count).contains(i))
            .count() as u64;
        t.done = end.saturating_sub(t.first).min(t.count);
        if t.registered.is_none() && end >= t.first {
            t.registered = Some(now);
        }
        if t.status_type != "info" || t.registered.is_none() {
            continue;
        }
        let (done, count, failed) = (t.done, t.count, t.failed);
        t.notification = if done == count && count > 0 {
            t.status_type = "success".into();
            json!({ "type": "task-completed", "message": format!("{done} items done, {failed} failed") })
        } else {
            json!({ "type": "task-running", "message": format!("{done} of {count} items done") })
        };
    }
}

/// Marks the current stage (and any task left) successful.
fn finish_stage(j: &mut JobRecord, message: &str) {
    let now = now();
    let Some(stage) = j.stages.last_mut() else {
        return;
    };
    for t in &mut stage.tasks {
        t.registered.get_or_insert(now);
        if t.status_type == "info" {
            t.status_type = "success".into();
            t.notification =
                json!({ "type": "task-completed", "message": format!("{} items done", t.done) });
        }
    }
    stage.status_type = "success".into();
    stage.notification = json!({ "type": "stage-completed", "message": message });
    stage.last_event = now;
    let name = stage.name.clone();
    let payload = json!({ "message": message });
    j.log(LogSeverity::Info, Some(&name), "stage-completed", payload);
}

/// Writes `data` at offset `at` of `path` (dropping anything after it); returns the new length.
fn append_at(path: &Path, at: u64, data: &[u8]) -> std::io::Result<u64> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    f.set_len(at)?;
    f.seek(SeekFrom::Start(at))?;
    f.write_all(data)?;
    Ok(at + data.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_registers_tasks_in_order_and_counts_failures() {
        let kind = JobKind::Workflow(Box::new(JobStartRequest::images("b", "image-stats")));
        let mut j = JobRecord::new("j", "j".into(), 0, kind);
        enter_stage(&mut j, "processing", Phase::Processing, 10, 4, Value::Null);
        j.stages[0].tasks[0].registered = None;
        j.total = 10;
        advance(&mut j, 5, &[1, 4]);
        let t = &j.stages[0].tasks;
        assert_eq!(t.len(), 3);
        assert_eq!(
            (t[0].done, t[0].failed, t[0].status_type.as_str()),
            (4, 1, "success")
        );
        assert_eq!(
            (t[1].done, t[1].failed, t[1].status_type.as_str()),
            (1, 1, "info")
        );
        assert!(t[1].registered.is_some() && t[2].registered.is_none());
        assert_eq!(t[2].wire().progress, None);
        assert!((j.progress - 0.25).abs() < 1e-9);
        advance(&mut j, 10, &[]);
        assert!(j.stages[0].tasks.iter().all(|t| t.status_type == "success"));
    }

    #[test]
    fn append_at_drops_bytes_past_the_committed_length() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.jsonl");
        assert_eq!(append_at(&p, 0, b"a\nb\n").unwrap(), 4);
        // b was written but never committed: a resumed run rewrites from byte 2.
        assert_eq!(append_at(&p, 2, b"c\n").unwrap(), 4);
        assert_eq!(std::fs::read(&p).unwrap(), b"a\nc\n");
    }
}
