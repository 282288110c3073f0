//! Background indexing of uploaded shards.
//!
//! Only tar headers are read (plus the first bytes of each member, to check it is an
//! image): the tar stays stored as uploaded and each image is recorded as an offset into
//! it. Shards still indexing when the sandbox stopped are picked up again on start.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::json;

use super::super::State;
use super::signed::now_ms;
use super::store::{ShardSource, ShardState};
use super::tarindex::{Indexed, index_file};
use crate::error::{Error, Result};
use crate::model::{ErrorDetails, IngestEvent, IngestNotification, WebhookPayload};

const POLL: Duration = Duration::from_millis(20);

pub(super) fn start(state: &Arc<State>, stopping: Arc<AtomicBool>) -> Result<Vec<JoinHandle<()>>> {
    // Uploads cut short by a previous run are never resumed.
    let _ = std::fs::remove_dir_all(state.data_dir().join("staging/tmp"));
    // Shards left mid-indexing by a previous run resume after this run's delay.
    {
        let resume_at = crate::sandbox::clock::ms_after(state.config().indexing_delay);
        let mut inner = state.lock();
        for b in inner.staging.batches.values_mut() {
            for s in b
                .shards
                .iter_mut()
                .filter(|s| s.state == ShardState::Indexing)
            {
                s.ready_at_ms = s.ready_at_ms.min(resume_at);
            }
        }
    }
    let st = state.clone();
    let t = std::thread::Builder::new()
        .name("sandbox-indexer".into())
        .spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                let due = due_shards(&st);
                if due.is_empty() {
                    std::thread::sleep(POLL);
                }
                for (batch, shard, source) in due {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let outcome = crate::sandbox::panics::contain(|| match &source {
                        ShardSource::Tar { path } => {
                            index_file(st.data_dir(), path, &shard, st.config())
                        }
                        ShardSource::Indexed(done) => done.clone(),
                        ShardSource::References { query, .. } => unfetchable(query.as_deref()),
                    })
                    .unwrap_or_else(|panic| {
                        eprintln!("rfbatch sandbox: indexing shard {shard:?} panicked: {panic}");
                        Indexed {
                            error: Some(format!("internal error while indexing: {panic}")),
                            ..Indexed::default()
                        }
                    });
                    finish(&st, &batch, &shard, &source, outcome);
                }
            }
        })
        .map_err(|e| Error::io("starting the shard indexer", e))?;
    Ok(vec![t])
}

fn due_shards(state: &State) -> Vec<(String, String, ShardSource)> {
    let now = now_ms();
    let inner = state.lock();
    inner
        .staging
        .batches
        .values()
        .flat_map(|b| {
            b.shards
                .iter()
                .filter(|s| {
                    s.state == ShardState::Indexing
                        && s.ready_at_ms <= now
                        && !super::fetch::fetchable(&s.source)
                })
                .map(|s| (b.id.clone(), s.id.clone(), s.source.clone()))
        })
        .collect()
}

/// The ingests the fetch workers do not take: RoboQL (the sandbox has no Asset Library)
/// and references recorded by an older sandbox, which kept no URLs.
fn unfetchable(query: Option<&str>) -> Indexed {
    let error = match query {
        Some(q) => format!("the sandbox has no Asset Library to run the RoboQL query {q:?} against"),
        None => "this references ingest was recorded by an older sandbox, which kept no URLs to fetch; ingest again".into(),
    };
    Indexed {
        error: Some(error),
        ..Indexed::default()
    }
}

pub(super) fn finish(
    state: &State,
    batch: &str,
    shard_id: &str,
    source: &ShardSource,
    out: Indexed,
) {
    let failed_json: Vec<_> = out
        .failed
        .iter()
        .map(|f| json!({ "fileName": f.file_name, "type": f.failure_type, "reason": f.reason }))
        .collect();
    let ingested: Vec<String> = out.files.iter().map(|f| f.name.clone()).collect();
    {
        let mut inner = state.lock();
        let Some(b) = inner.staging.batches.get_mut(batch) else {
            return;
        };
        let Some(idx) = b.shards.iter().position(|s| s.id == shard_id) else {
            return;
        };
        let ok = out.error.is_none();
        if ok {
            for f in out.files {
                b.ingest(f);
            }
        }
        let s = &mut b.shards[idx];
        s.event = super::store::ts_now();
        s.objects = if ok { ingested.len() as u64 } else { 0 };
        s.state = if ok {
            ShardState::Done
        } else {
            ShardState::Failed
        };
        s.status_type = if ok { "success" } else { "error" }.into();
        s.status_name = if ok {
            "shard-ingested"
        } else {
            "shard-ingest-failed"
        }
        .into();
        let mut meta = json!({ "ingestedFiles": s.objects, "failedFiles": failed_json });
        if let Some(reason) = &out.error {
            meta["reason"] = json!(reason);
        }
        s.metadata = Some(meta);
    }
    let _ = state.save();

    // Webhooks: tar shards carry their settings in notification_config.json.
    let (ingest_id, url, files_status, ingest_status) = match (source, out.notify) {
        // Tar shards cannot choose categories: only the default, `ingest-status`.
        (ShardSource::Tar { .. }, Some((i, u))) => (i, u, false, true),
        (
            ShardSource::References {
                ingest_id,
                notifications_url: Some(u),
                files_status,
                ingest_status,
                ..
            },
            _,
        ) => (ingest_id.clone(), u.clone(), *files_status, *ingest_status),
        _ => return,
    };
    let success = out.error.is_none();
    let note = |shard: Option<&str>, notification| {
        WebhookPayload::Ingest(IngestNotification {
            event_id: crate::rand::hex(8),
            ingest_id: ingest_id.clone(),
            batch_id: batch.to_string(),
            shard_id: shard.map(str::to_string),
            notification,
            delivery_attempt: 1,
        })
    };
    if files_status {
        let event = IngestEvent::FilesStatus {
            success: success && out.failed.is_empty(),
            ingested_files: if success { ingested } else { Vec::new() },
            failed_files: out.failed,
            content_truncated: false,
        };
        state.enqueue_webhook(&url, &note(Some(shard_id), event));
    }
    if ingest_status {
        let error_details = out.error.map(|reason| ErrorDetails {
            error_type: "ingest-failed".into(),
            reason,
        });
        let event = IngestEvent::Status {
            success,
            error_details,
        };
        state.enqueue_webhook(&url, &note(None, event));
    }
}
