//! A webhook receiver for job and ingest notifications.
//!
//! ```text
//! cargo run --example webhook_receiver --features sandbox,webhook
//! cargo run --example webhook_receiver --features sandbox,webhook -- 127.0.0.1:9000 my-workspace
//! ```
//!
//! Without arguments it runs a demo against the embedded sandbox: it uploads a few images,
//! starts a job whose `notificationsURL` is the receiver, and waits for the job through
//! the webhook (polling only if no notification arrives). With an address and a
//! workspace it serves until stopped and prints every notification that carries the
//! workspace's bearer token (`Authorization: Bearer rf_<workspace>`).

use std::time::Duration;

use roboflow_batch::jobs::{JobEnd, JobSpec, JobWaitOptions};
use roboflow_batch::sandbox::{Sandbox, SandboxConfig};
use roboflow_batch::wait::WaitOptions;
use roboflow_batch::webhook::{Event, Receiver};
use roboflow_batch::{BatchApi, Error, Result};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => demo(),
        [addr, workspace] => serve(addr, workspace),
        _ => Err(Error::invalid(
            "arguments",
            "expected none, or ADDR WORKSPACE",
        )),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Serves until the process is stopped, printing each notification.
fn serve(addr: &str, workspace: &str) -> Result<()> {
    let addr = addr
        .parse()
        .map_err(|_| Error::invalid("ADDR", format!("{addr:?} is not an IP address and port")))?;
    let (receiver, events) = Receiver::builder()
        .addr(addr)
        .workspace(workspace)
        .spawn_channel()?;
    println!(
        "listening on {} (give this as notificationsURL)",
        receiver.url()
    );
    for event in events {
        print_event(&event);
    }
    Ok(())
}

fn print_event(event: &Event) {
    match event {
        Event::Job(j) => println!(
            "job {} ended: {} (delivery attempt {})",
            j.job_id, j.job_state, j.delivery_attempt
        ),
        Event::Ingest(i) => println!(
            "ingest {} of batch {}: success = {}",
            i.ingest_id,
            i.batch_id,
            i.notification.is_success()
        ),
        other => println!("other notification: {other:?}"),
    }
}

fn demo() -> Result<()> {
    let sandbox = Sandbox::start(SandboxConfig::default().job_speed(200.0))?;
    let api = BatchApi::builder()
        .base_url(sandbox.base_url())
        .api_key(sandbox.api_key())
        .build()?;
    let (receiver, events) = Receiver::builder()
        .workspace(&api.workspace()?)
        .path("/hooks/roboflow")
        .spawn_channel()?;
    println!(
        "sandbox at {}, receiver at {}",
        sandbox.base_url(),
        receiver.url()
    );

    for i in 0..5u32 {
        api.upload_image(
            "webhook-demo",
            &format!("img-{i}.png"),
            &png(16 + i, 9),
            None,
        )?;
    }
    let job = JobSpec::images(&api, "webhook-demo", "image-stats")
        .notifications_url(receiver.url())
        .start()?
        .job;
    println!("started {}", job.id());

    let options = JobWaitOptions::default()
        .polling(WaitOptions::default().poll_interval(Duration::from_millis(200)))
        .timeout(Duration::from_secs(120))
        .webhook_grace(Duration::from_secs(60));
    let outcome = job
        .on_progress(|e| {
            if let roboflow_batch::progress::Event::JobPolled(p) = e {
                println!("  {:?} {:.0}%", p.current_stage, p.fraction * 100.0);
            }
        })
        .wait_with_webhook(&events, &options)?;
    match (&outcome.end, &outcome.last) {
        (JobEnd::Succeeded, Some(last)) => {
            println!("succeeded; results: {:?}", last.output_batches())
        }
        (JobEnd::Failed, _) => {
            for e in &outcome.errors {
                println!("failed: {}", e.message);
            }
        }
        _ => println!("{outcome:?}"),
    }
    println!(
        "receiver accepted {} request(s), rejected {}",
        receiver.accepted(),
        receiver.rejected()
    );
    Ok(())
}

/// A PNG header with the given size (enough for the sandbox's `image-stats`).
fn png(width: u32, height: u32) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    v.extend_from_slice(&width.to_be_bytes());
    v.extend_from_slice(&height.to_be_bytes());
    v.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    v
}
