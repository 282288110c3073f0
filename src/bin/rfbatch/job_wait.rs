//! Following a job: `rfbatch job wait`, `job start --wait` and the job half of `run`. The
//! library polls and aggregates; this draws the snapshots and turns the outcome into output
//! and an exit code.

use clap::Args;
use roboflow_batch::jobs::{ErrorReport, Job, JobOutcome, JobWaitOptions, Progress};
use roboflow_batch::wait::WaitOptions;
use serde_json::{Value, json};

use crate::args::seconds;
use crate::context::Ctx;
use crate::exit::{Class, Failure};
use crate::progress::{Bars, per_mille};

/// How long and how often to poll.
#[derive(Args, Debug, Clone, Default)]
pub struct WaitArgs {
    /// Give up waiting after this many seconds [default: 86400].
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Seconds before the second poll; the interval then grows to --max-poll-interval
    /// [default: 2].
    #[arg(long, value_name = "SECONDS")]
    pub poll_interval: Option<f64>,
    /// The longest interval between polls, in seconds [default: 30].
    #[arg(long, value_name = "SECONDS")]
    pub max_poll_interval: Option<f64>,
}

/// The library's wait options for the flags.
pub fn options(a: &WaitArgs) -> Result<JobWaitOptions, Failure> {
    let mut polling = WaitOptions::default();
    if let Some(v) = a.poll_interval {
        polling = polling.poll_interval(seconds("--poll-interval", v)?);
    }
    if let Some(v) = a.max_poll_interval {
        polling = polling.max_interval(seconds("--max-poll-interval", v)?);
    }
    if let Some(v) = a.timeout {
        polling = polling.timeout(seconds("--timeout", v)?);
    }
    Ok(JobWaitOptions::default().polling(polling))
}

/// Waits for `job` with a progress bar (or a note per stage when not on a terminal), prints
/// the outcome, and fails with `JobFailed` or `Timeout` unless the job succeeded.
pub fn wait(ctx: &Ctx, job: &Job<'_>, args: &WaitArgs) -> Result<(), Failure> {
    let outcome = follow(ctx, job, args)?;
    print_outcome(ctx, &outcome)?;
    outcome_failure(job.id().as_str(), &outcome).map_or(Ok(()), Err)
}

/// Waits and returns the outcome, drawing progress on the way.
pub fn follow(ctx: &Ctx, job: &Job<'_>, args: &WaitArgs) -> Result<JobOutcome, Failure> {
    let opts = options(args)?;
    let bars = Bars::new(ctx.out.progress());
    let bar = bars.fraction("job");
    let mut last_line = String::new();
    let outcome = job.wait(&opts, |p| {
        let line = progress_line(p);
        bar.set_position(per_mille(p.fraction));
        bar.set_message(stage_line(p));
        // Without a bar, a note each time the picture changes keeps logs informative.
        if !ctx.out.progress() && line != last_line {
            ctx.out.note(format_args!("job {}: {line}", p.job_id));
        }
        last_line = line;
    });
    bar.finish_and_clear();
    Ok(outcome?)
}

/// `processing: 3/8 tasks done, 2 running, 1 failed (41%)`.
pub fn progress_line(p: &Progress) -> String {
    format!("{} ({:.0}%)", stage_line(p), p.fraction * 100.0)
}

/// `processing: 3/8 tasks done, 2 running, 1 failed`.
fn stage_line(p: &Progress) -> String {
    let t = &p.tasks;
    let mut s = match &p.current_stage {
        Some(stage) => format!("{stage}: {}/{} tasks done", t.finished, t.total),
        None => p.state.to_string(),
    };
    if t.running > 0 {
        s.push_str(&format!(", {} running", t.running));
    }
    if t.failed > 0 {
        s.push_str(&format!(", {} failed", t.failed));
    }
    s
}

/// A progress snapshot as JSON, in the camelCase of the rest of the output.
pub fn progress_json(p: &Progress) -> Value {
    json!({
        "jobId": p.job_id,
        "state": p.state.as_str(),
        "currentStage": p.current_stage,
        "fraction": p.fraction,
        "tasks": p.tasks,
        "stages": p.stages.iter().map(|s| json!({
            "id": s.id,
            "name": s.name,
            "statusType": s.status_type,
            "fraction": s.fraction,
            "tasks": s.tasks,
            "outputBatches": s.output_batches,
        })).collect::<Vec<_>>(),
        "errors": errors_json(&p.errors),
        "message": p.message,
    })
}

fn errors_json(errors: &[ErrorReport]) -> Vec<Value> {
    let one = |e: &ErrorReport| json!({"message": e.message(), "tasks": e.tasks});
    errors.iter().map(one).collect()
}

/// The outcome as JSON.
pub fn outcome_json(o: &JobOutcome) -> Value {
    let (word, waited) = match o {
        JobOutcome::Succeeded { .. } => ("succeeded", None),
        JobOutcome::Failed { .. } => ("failed", None),
        JobOutcome::TimedOut { waited, .. } => ("timed_out", Some(waited.as_secs_f64())),
        _ => ("unknown", None),
    };
    json!({
        "outcome": word,
        "waitedSecs": waited,
        "progress": o.last().map(progress_json),
        "errors": errors_json(o.errors()),
    })
}

fn print_outcome(ctx: &Ctx, o: &JobOutcome) -> Result<(), Failure> {
    if ctx.out.is_json() {
        return ctx.out.json(&outcome_json(o));
    }
    if let Some(p) = o.last() {
        match o {
            JobOutcome::Succeeded { .. } => {
                ctx.out.line(format_args!("job {} completed", p.job_id))?;
                for b in p.output_batches() {
                    ctx.out.line(format_args!("  output batch {b}"))?;
                }
            }
            _ => ctx
                .out
                .line(format_args!("job {}: {}", p.job_id, progress_line(p)))?,
        }
    }
    for e in o.errors() {
        let tasks = if e.tasks > 0 {
            format!(" ({} tasks)", e.tasks)
        } else {
            String::new()
        };
        ctx.out.line(format_args!(
            "  error{tasks}: {}",
            crate::exit::one_line(&e.message())
        ))?;
    }
    Ok(())
}

/// The failure for an outcome other than success.
pub fn outcome_failure(job_id: &str, o: &JobOutcome) -> Option<Failure> {
    match o {
        JobOutcome::Succeeded { .. } => None,
        JobOutcome::Failed { errors, .. } => {
            let first = errors
                .first()
                .map(|e| format!(": {}", e.message()))
                .unwrap_or_default();
            Some(
                Failure::new(Class::JobFailed, format!("job {job_id} failed{first}"))
                    .with_hint(format!("see rfbatch job logs {job_id} --severity error")),
            )
        }
        JobOutcome::TimedOut { waited, .. } => Some(
            Failure::new(
                Class::Timeout,
                format!(
                    "job {job_id} was still running after {:.0} s",
                    waited.as_secs_f64()
                ),
            )
            .with_hint(format!(
                "wait longer with: rfbatch job wait {job_id} --timeout SECONDS"
            )),
        ),
        _ => Some(Failure::new(
            Class::Other,
            format!("job {job_id} ended in an unknown way"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn wait_flags_are_checked() {
        let bad = WaitArgs {
            timeout: Some(-1.0),
            ..WaitArgs::default()
        };
        assert!(options(&bad).unwrap_err().message.contains("--timeout"));
        let ok = WaitArgs {
            timeout: Some(5.0),
            poll_interval: Some(0.2),
            max_poll_interval: Some(1.0),
        };
        let o = options(&ok).unwrap();
        assert_eq!(o.polling.timeout, Duration::from_secs(5));
        assert_eq!(o.polling.max_interval, Duration::from_secs(1));
    }

    #[test]
    fn a_timeout_fails_with_its_class() {
        let o = JobOutcome::TimedOut {
            last: None,
            waited: Duration::from_secs(3),
        };
        let f = outcome_failure("j", &o).unwrap();
        assert_eq!(f.class, Class::Timeout);
        assert_eq!(outcome_json(&o)["outcome"], "timed_out");
    }
}
