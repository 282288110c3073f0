//! Shards in the background: the indexer takes each shard once its indexing delay is over,
//! reading only tar headers (an image is an offset into the tar as uploaded), and
//! [`conclude`] records any shard's outcome. Shards left indexing are taken again on start.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::json;

use super::super::clock::{ms_after, now_ms, stamp_ms};
use super::super::state::{State, background};
use super::super::store::{Indexed, ShardSource, ShardState};
use super::tarindex::index_file;
use crate::error::Result;
use crate::model::{ErrorDetails, IngestEvent, IngestNotification, WebhookPayload};

type Waiting = Vec<(String, String, ShardSource)>;

/// The shards still indexing, as `(batch, shard, source)`: those of the fetch workers
/// (`fetched`, at once), or those of the indexer (once their delay is over).
pub(crate) fn waiting(state: &State, fetched: bool) -> Waiting {
    let (now, data) = (now_ms(), state.lock());
    let mut out = Vec::new();
    for b in data.staging.batches.values() {
        for s in b.shards.iter().filter(|s| s.state == ShardState::Indexing) {
            if s.source.is_fetched() == fetched && (fetched || s.ready_at_ms <= now) {
                out.push((b.id.clone(), s.id.clone(), s.source.clone()));
            }
        }
    }
    out
}

pub(crate) fn start_indexer(state: &Arc<State>, stop: &Arc<AtomicBool>) -> Result<JoinHandle<()>> {
    // Shards left mid-indexing by a previous run resume after this run's delay.
    let resume_at = ms_after(state.config.indexing_delay);
    for b in state.lock().staging.batches.values_mut() {
        let indexing = b
            .shards
            .iter_mut()
            .filter(|s| s.state == ShardState::Indexing);
        indexing.for_each(|s| s.ready_at_ms = s.ready_at_ms.min(resume_at));
    }
    let (st, stopping) = (state.clone(), stop.clone());
    let idle = Duration::from_millis(20);
    background("sandbox-indexer", stop, idle, move || {
        let due = waiting(&st, false);
        for (batch, shard, source) in &due {
            if stopping.load(Ordering::SeqCst) {
                break;
            }
            let outcome = crate::panics::contain(|| index(&st, shard, source));
            let outcome = outcome.unwrap_or_else(|panic| {
                eprintln!("rfbatch sandbox: indexing shard {shard:?} panicked: {panic}");
                Indexed::failed(format!("internal error while indexing: {panic}"))
            });
            conclude(&st, batch, shard, source, outcome);
        }
        !due.is_empty()
    })
}

fn index(state: &State, shard: &str, source: &ShardSource) -> Indexed {
    Indexed::failed(match source {
        ShardSource::Tar { path } => {
            return index_file(&state.data_dir, path, shard, &state.config);
        }
        ShardSource::Indexed(done) => return done.clone(),
        ShardSource::References { query: Some(q), .. } => {
            format!("the sandbox has no Asset Library to run the RoboQL query {q:?} against")
        }
        ShardSource::References { .. } => "this references ingest was recorded by an older \
            sandbox, which kept no URLs to fetch; ingest again"
            .into(),
    })
}

/// Records a shard's outcome: its files join the batch (unless it failed whole), its
/// status says what happened, and its webhooks are queued.
pub(crate) fn conclude(state: &State, batch: &str, shard: &str, src: &ShardSource, out: Indexed) {
    let ok = out.error.is_none();
    let ingested: Vec<String> = out.files.iter().map(|f| f.name.clone()).collect();
    let mut data = state.lock();
    let Some(b) = data.staging.batches.get_mut(batch) else {
        return;
    };
    let Some(i) = b.shards.iter().position(|s| s.id == shard) else {
        return;
    };
    if ok {
        for f in out.files {
            b.ingest(f);
        }
    }
    let s = &mut b.shards[i];
    s.event = stamp_ms();
    s.objects = if ok { ingested.len() as u64 } else { 0 };
    let (st, kind, name) = [
        (ShardState::Failed, "error", "shard-ingest-failed"),
        (ShardState::Done, "success", "shard-ingested"),
    ][usize::from(ok)];
    (s.state, s.status_type, s.status_name) = (st, kind.into(), name.into());
    let failed = out.failed.iter();
    let failed: Vec<_> = failed
        .map(|f| json!({ "fileName": f.file_name, "type": f.failure_type, "reason": f.reason }))
        .collect();
    let mut meta = json!({ "ingestedFiles": s.objects, "failedFiles": failed });
    if let Some(reason) = &out.error {
        meta["reason"] = json!(reason);
    }
    s.metadata = Some(meta);
    let (ingest_id, url, files_status, ingest_status) = match (src, out.notify) {
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
        _ => {
            return state.unlock_changed(data);
        }
    };
    let note = |shard_id: Option<&str>, notification| {
        WebhookPayload::Ingest(IngestNotification {
            event_id: crate::rand::hex(8),
            ingest_id: ingest_id.clone(),
            batch_id: batch.to_string(),
            shard_id: shard_id.map(str::to_string),
            notification,
            delivery_attempt: 1,
        })
    };
    let allow = &state.config.webhook_allow;
    // A refusal is recorded in the outbox; nothing else is to be done about it.
    if files_status {
        let event = IngestEvent::FilesStatus {
            success: ok && out.failed.is_empty(),
            ingested_files: if ok { ingested } else { Vec::new() },
            failed_files: out.failed,
            content_truncated: false,
        };
        let _ = data.webhooks.push(&url, &note(Some(shard), event), allow);
    }
    if ingest_status {
        let error_type = "ingest-failed".to_string();
        let error_details = out.error.map(|reason| ErrorDetails { error_type, reason });
        let event = IngestEvent::Status {
            success: ok,
            error_details,
        };
        let _ = data.webhooks.push(&url, &note(None, event), allow);
    }
    state.unlock_changed(data);
}
