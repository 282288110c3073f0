//! Export and progress figures: downloading a batch from the sandbox over loopback with 1
//! and 8 parallel downloads, unpacking a 2,000-entry export archive, and aggregating the
//! progress of a stage of 10,000 tasks.
//!
//! ```text
//! cargo bench --bench export --features sandbox -- --warm-up-time 1 --measurement-time 5
//! ```

#[path = "../tests/jobs_common/mod.rs"]
mod jobs_common;

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use roboflow_batch::export::Exporter;
use roboflow_batch::jobs::{JobSpec, JobWaitOptions, Progress};
use roboflow_batch::model::{JobStage, JobStatusResponse, TaskStatus};
use roboflow_batch::sandbox::Sandbox;

/// On tmpfs where there is one, so the figures are the code's and not the disk's.
fn scratch_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .unwrap()
}

fn bench_export(c: &mut Criterion) {
    let mut g = c.benchmark_group("export");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let data = scratch_dir();
    let sb = Sandbox::start(jobs_common::config(&data.path().join("sb"), 2000)).unwrap();
    let api = jobs_common::client(&sb, jobs_common::Counting::new(None));

    // 16 images of 2 MiB each (valid 24-bit BMPs).
    let big: Vec<jobs_common::Image> = (0..16)
        .map(|i| jobs_common::Image {
            name: format!("big-{i:02}.bmp"),
            bytes: jobs_common::bmp(1024, 683, i as u8),
            width: 1024,
            height: 683,
            format: "bmp",
        })
        .collect();
    jobs_common::ingest(&api, "big", &big);
    let total: u64 = big.iter().map(|i| i.bytes.len() as u64).sum();
    g.throughput(Throughput::Bytes(total));
    for parallel in [1usize, 8] {
        let out = data.path().join(format!("out-{parallel}"));
        g.bench_with_input(
            BenchmarkId::new("download_16x2MiB", parallel),
            &parallel,
            |b, &p| {
                b.iter(|| {
                    let r = Exporter::new(&api, &out)
                        .parallelism(p)
                        .overwrite(true)
                        .batch("big")
                        .unwrap();
                    assert_eq!(r.downloaded, 16);
                })
            },
        );
    }

    // One export archive of 2,000 JSON records (the job's export stage, 2,000 per task).
    let small = jobs_common::images(2000);
    jobs_common::ingest(&api, "many", &small);
    let job = JobSpec::images("many", "image-stats").start(&api).unwrap();
    let outcome = job
        .wait(
            &JobWaitOptions::default().timeout(Duration::from_secs(600)),
            |_| {},
        )
        .unwrap();
    assert!(outcome.is_success());
    g.throughput(Throughput::Elements(2000));
    let out = data.path().join("unpacked");
    g.bench_function("download_and_unpack_2000_entries", |b| {
        b.iter(|| {
            let r = Exporter::new(&api, &out)
                .overwrite(true)
                .job(job.id().as_str())
                .unwrap();
            assert_eq!(r.unpacked, 2000);
        })
    });
    g.finish();
}

fn bench_progress(c: &mut Criterion) {
    let stage: JobStage = serde_json::from_str(
        r#"{"processingStageId":"p","processingStageName":"processing","tasksNumber":10000,"outputBatches":[],
        "startTimestamp":"2025-05-01T10:00:00Z","notification":{},"statusType":"info","lastEventTimestamp":"2025-05-01T10:00:00Z"}"#,
    )
    .unwrap();
    let tasks: Vec<TaskStatus> = (0..10_000)
        .map(|i| {
            let (status, note) = match i % 10 {
                0 => ("error", format!(r#"{{"type":"oom","message":"worker {} ran out of memory"}}"#, i % 7)),
                1..=5 => ("success", r#""done""#.to_string()),
                _ => ("info", r#""running""#.to_string()),
            };
            serde_json::from_str(&format!(
                r#"{{"taskId":"t{i}","notification":{note},"statusType":"{status}","eventTimestamp":"2025-05-01T10:00:00Z","progress":0.5}}"#
            ))
            .unwrap()
        })
        .collect();
    let status: JobStatusResponse = serde_json::from_str(r#"{"jobStatus":"processing"}"#).unwrap();
    let stages = vec![(stage, tasks)];
    let mut g = c.benchmark_group("progress");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("aggregate_10000_tasks", |b| {
        b.iter(|| {
            let p = Progress::aggregate("j", &status, std::hint::black_box(&stages));
            assert_eq!(p.errors.len(), 7);
        })
    });
    g.finish();
}

criterion_group!(benches, bench_export, bench_progress);
criterion_main!(benches);
