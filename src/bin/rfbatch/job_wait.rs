//! Following a job (`job wait`, `job start --wait`, `run`): progress, outcome, exit code.

use std::sync::Mutex;
use std::time::Duration;

use clap::Args;
use roboflow_batch::jobs::{Job, JobEnd, JobOutcome, JobWaitOptions, Progress};
use roboflow_batch::progress::Event;
use roboflow_batch::wait::WaitOptions;

use crate::args::{Maybe, seconds};
use crate::context::Ctx;
use crate::exit::{Class, Failure, one_line};
use crate::output::nonzero;
use crate::progress::{Bars, PER_MILLE, per_mille};

/// How long and how often to poll.
#[derive(Args, Debug, Clone, Default)]
pub struct WaitArgs {
    /// Give up waiting after this many seconds [default: 86400].
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub timeout: Option<Duration>,
    /// Seconds between the first polls, growing to --max-poll-interval [default: 2].
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub poll_interval: Option<Duration>,
    /// The longest interval between polls, in seconds [default: 30].
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub max_poll_interval: Option<Duration>,
}

/// Waits for `job`, prints the outcome, and fails unless the job succeeded.
pub fn wait(ctx: &Ctx, job: Job<'_>, args: &WaitArgs) -> Result<(), Failure> {
    let outcome = follow(ctx, job, args)?;
    print_outcome(ctx, &outcome)?;
    outcome_failure(&outcome).map_or(Ok(()), Err)
}

/// Waits and returns the outcome, drawing progress on the way.
pub fn follow(ctx: &Ctx, job: Job<'_>, args: &WaitArgs) -> Result<JobOutcome, Failure> {
    let polling = WaitOptions::default()
        .maybe(args.poll_interval, WaitOptions::poll_interval)
        .maybe(args.max_poll_interval, WaitOptions::max_interval)
        .maybe(args.timeout, WaitOptions::timeout);
    let bars = Bars::new(ctx.out.progress);
    let bar = bars.add("job", 1000, PER_MILLE);
    let last_line = Mutex::new(String::new());
    let outcome = job
        .on_progress(|e| {
            let Event::JobPolled(p) = e else { return };
            let line = progress_line(p);
            bar.set_position(per_mille(p.fraction));
            bar.set_message(stage_line(p));
            // Without a bar, a note each time the picture changes keeps logs informative.
            let mut last = last_line.lock().unwrap_or_else(|e| e.into_inner());
            if !ctx.out.progress && line != *last {
                ctx.out.note(format_args!("job {}: {line}", p.job_id));
            }
            *last = line;
        })
        .wait(&JobWaitOptions::default().polling(polling));
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
    let counts = nonzero(&[(t.running, "running"), (t.failed, "failed")]);
    match &p.current_stage {
        Some(stage) => format!("{stage}: {}/{} tasks done{counts}", t.finished, t.total),
        None => format!("{}{counts}", p.state),
    }
}

fn print_outcome(ctx: &Ctx, o: &JobOutcome) -> Result<(), Failure> {
    if ctx.out.json {
        return ctx.out.json(o);
    }
    if let Some(p) = &o.last {
        match o.end {
            JobEnd::Succeeded => {
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
    for e in &o.errors {
        let tasks = (e.tasks > 0).then(|| format!(" ({} tasks)", e.tasks));
        let (tasks, message) = (tasks.unwrap_or_default(), one_line(&e.message));
        ctx.out.line(format_args!("  error{tasks}: {message}"))?;
    }
    Ok(())
}

/// The failure for an outcome other than success.
pub fn outcome_failure(o: &JobOutcome) -> Option<Failure> {
    let id = &o.job_id;
    let (class, message, hint) = match o.end {
        JobEnd::Succeeded => return None,
        JobEnd::Failed => {
            let first = o.errors.first().map(|e| format!(": {}", e.message));
            let message = format!("job {id} failed{}", first.unwrap_or_default());
            (
                Class::JobFailed,
                message,
                format!("see rfbatch job logs {id} --severity error"),
            )
        }
        _ => {
            let secs = o.waited.as_secs_f64();
            let message = format!("job {id} was still running after {secs:.0} s");
            let hint = format!("wait longer with: rfbatch job wait {id} --timeout SECONDS");
            (Class::Timeout, message, hint)
        }
    };
    Some(Failure::new(class, message).with_hint(hint))
}
