//! Shards are cut from the list of files as the uploads go, never all ahead of them: the
//! order of the events shows it (no timing is measured).

mod ingest_util;

use ingest_util::*;
use roboflow_batch::ingest::{Ingest, Source};
use roboflow_batch::progress::{Event, UnitKind};
use roboflow_batch::sandbox::SandboxConfig;
use roboflow_batch::testdata::ImageSet;

/// A long explicit list cut into many small shards, one upload at a time.
#[test]
fn the_first_shard_is_uploaded_before_the_last_one_is_cut() {
    let images = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    let generated = ImageSet::new(2000)
        .dimensions(8..=12, 8..=12)
        .write_to(images.path())
        .unwrap();
    let sandbox = sandbox(SandboxConfig::default());
    let api = api(&sandbox);
    let events = Events::default();
    let parallelism = 1;
    let list = Source::files(generated.iter().map(|g| g.path.clone()));
    let report = Ingest::new(&api, "streamed", list)
        .journal_dir(journal.path())
        .verify(quick_verify())
        .parallelism(parallelism)
        .max_images_per_shard(10)
        .on_progress(events.sink())
        .run()
        .unwrap();
    assert_complete(&report, 2000);
    assert_eq!(report.units_uploaded, 200);

    let events = events.all();
    let pos = |f: &dyn Fn(&Event) -> bool| events.iter().position(f).unwrap();
    let first_done = pos(&|e| matches!(e, Event::UnitDone { .. }));
    let last_queued = pos(&|e| {
        matches!(
            e,
            Event::UnitQueued {
                unit: UnitKind::Shard,
                index: 199,
                ..
            }
        )
    });
    assert!(
        first_done < last_queued,
        "shard 0 was done (event {first_done}) before shard 199 was cut (event {last_queued})"
    );
    // The feeding thread stays a bounded distance ahead: when shard i is handed over, at
    // most `parallelism` shards wait in the channel and `parallelism` are being uploaded.
    let ahead = 2 * parallelism as u64;
    let mut finished = 0u64;
    let mut queued = Vec::new();
    for e in &events {
        match e {
            Event::UnitDone { .. } | Event::UnitFailed { .. } => finished += 1,
            Event::UnitQueued {
                index, files: 10, ..
            } => {
                assert!(
                    *index < finished + ahead,
                    "shard {index} was cut with only {finished} shards finished"
                );
                queued.push(*index);
            }
            Event::UnitQueued { index, files, .. } => {
                panic!("shard {index} has {files} files, not 10")
            }
            _ => {}
        }
    }
    assert_eq!(
        queued,
        (0..200).collect::<Vec<u64>>(),
        "each shard once, in order"
    );
    // Discovery is a pass of its own (it finds names that collide and the totals), and
    // ends before the first shard is cut.
    let discovered = pos(&|e| matches!(e, Event::Discovered { files: 2000, .. }));
    let planned = pos(&|e| matches!(e, Event::Planned { .. }));
    let first_queued = pos(&|e| matches!(e, Event::UnitQueued { .. }));
    assert!(discovered < planned && planned < first_queued);
}

/// Single uploads are fed the same way.
#[test]
fn single_uploads_are_fed_as_they_go() {
    let images = tempfile::tempdir().unwrap();
    let journal = tempfile::tempdir().unwrap();
    ImageSet::new(30).write_to(images.path()).unwrap();
    let sandbox = sandbox(SandboxConfig::default());
    let api = api(&sandbox);
    let events = Events::default();
    let report = ingest(&api, "singles", images.path(), journal.path())
        .parallelism(1)
        .on_progress(events.sink())
        .run()
        .unwrap();
    assert_complete(&report, 30);
    let mut finished = 0u64;
    let mut queued = 0;
    for e in events.all() {
        match e {
            Event::UnitDone {
                unit: UnitKind::Image,
                ..
            } => finished += 1,
            Event::UnitQueued {
                unit: UnitKind::Image,
                index,
                files: 1,
                ..
            } => {
                // One worker and a channel of two: at most three images ahead.
                assert!(index < finished + 3, "image {index} after {finished}");
                queued += 1;
            }
            _ => {}
        }
    }
    assert_eq!((queued, finished), (30, 30));
}

/// The pool runs its uploads at once: with 4 workers and slow PUTs, several are in flight
/// together (counted at the transport, no timing asserted).
#[test]
fn uploads_run_in_parallel() {
    use roboflow_batch::transport::{Method, Transport, UreqTransport};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let images = tempfile::tempdir().unwrap();
    ImageSet::new(80).write_to(images.path()).unwrap();
    let slow = roboflow_batch::sandbox::FaultSettings::default()
        .latency(std::time::Duration::from_millis(150));
    let faults = roboflow_batch::sandbox::Faults::seeded(1).put(slow);
    let sandbox = sandbox(SandboxConfig::default().faults(faults));
    let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (n, m, inner) = (now.clone(), most.clone(), UreqTransport::new());
    let api = roboflow_batch::BatchApi::builder()
        .base_url(sandbox.base_url())
        .api_key(sandbox.api_key())
        .transport(move |req: roboflow_batch::transport::HttpRequest| {
            let put = req.method == Method::Put;
            if put {
                m.fetch_max(n.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            }
            let r = inner.send(req);
            if put {
                n.fetch_sub(1, Ordering::SeqCst);
            }
            r
        })
        .build()
        .unwrap();
    let report = Ingest::new(&api, "parallel", Source::folder(images.path()))
        .without_journal()
        .without_verify()
        .max_images_per_shard(10)
        .parallelism(4)
        .run()
        .unwrap();
    assert_eq!(report.units_uploaded, 8);
    assert!(
        most.load(Ordering::SeqCst) >= 2,
        "{} at once at most",
        most.load(Ordering::SeqCst)
    );
}
