//! Opening the resume journal (under its lock) and checking it against the service: which
//! units it records really arrived.

use std::collections::{HashMap, HashSet};

use super::journal::{History, Journal, UnitInfo, UnitType, unix_now};
use super::names::fnv1a128;
use super::resume::NO_UNIT;
use super::{Ingest, JournalSetting};
use crate::BatchApi;
use crate::error::{Error, Result};
use crate::model::BatchType;

/// The journal's units that the service holds: sequence number → verification unit (a
/// position in `shards`, or [`NO_UNIT`] for single uploads); and the kind of batch the
/// journal shows it to be (none when it records nothing, or the batch is gone).
#[derive(Debug, Default)]
pub(crate) struct Settled {
    pub units: HashMap<u64, u32>,
    pub shards: Vec<String>,
    pub kind: Option<BatchType>,
}

impl Settled {
    fn add(&mut self, seq: u64, shard: Option<String>) {
        let unit = match shard {
            Some(id) => {
                self.shards.push(id);
                (self.shards.len() - 1) as u32
            }
            None => NO_UNIT,
        };
        self.units.insert(seq, unit);
    }
}

/// Opens (and locks) the journal the ingest asks for, before anything else is done, so
/// that a second run fails at once: none when it asks for none, or when there is no cache
/// folder. Notes for the report go to `warnings`.
pub(crate) fn open(
    ing: &Ingest<'_>,
    api: &BatchApi,
    batch: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<(Journal, History)>> {
    let dir = match &ing.journal {
        JournalSetting::Off => return Ok(None),
        JournalSetting::Dir(d) => d.clone(),
        JournalSetting::Default => match super::default_journal_dir() {
            Some(d) => d,
            None => {
                warnings.push(
                    "no cache folder (HOME is not set): running without a resume journal".into(),
                );
                return Ok(None);
            }
        },
    };
    let ws = api.workspace()?;
    let path = Journal::path_for(&dir, api.base_url(), &ws, batch);
    let (journal, history) = Journal::open(&path, api.base_url(), &ws, batch)?;
    if history.bad_lines > 0 {
        warnings.push(format!(
            "{} unreadable lines in the resume journal {} were ignored",
            history.bad_lines,
            path.display()
        ));
    }
    Ok(Some((journal, history)))
}

/// How long a shard the service accepted (a `done` line) may stay out of the shard
/// listing and still count as received: the service registers shards asynchronously
/// after their PUT, so a run started right after another must not send them again.
/// Verification then waits for them to be listed.
pub(crate) const REGISTRATION_GRACE_SECS: u64 = 15 * 60;

/// Whether a journaled shard was received, given the listing (`Some(failed)`, or `None`
/// when it is not listed) at `now` (Unix seconds). A shard the service failed is sent
/// again; one it does not list counts as received only when it accepted it within
/// [`REGISTRATION_GRACE_SECS`] (later, it was lost: sent again; a `pending` line without
/// `done` may or may not have arrived: sent again).
fn shard_received(u: &UnitInfo, listed: Option<bool>, now: u64) -> bool {
    match listed {
        Some(failed) => !failed,
        None => {
            u.done
                && u.done_at
                    .is_some_and(|at| now.saturating_sub(at) <= REGISTRATION_GRACE_SECS)
        }
    }
}

/// Whether `err`, from listing the batch, means the batch no longer exists: a 404, or a
/// 400 (which some services answer for a missing batch) when the workspace's batch listing
/// confirms that it is gone. Any other 400 stays an error, so that a journal is never
/// emptied (and its files sent again) on a mere refusal.
fn is_gone(api: &BatchApi, batch: &str, err: &Error) -> Result<bool> {
    match err {
        Error::NotFound(_) => Ok(true),
        e if e.status() == Some(400) => {
            for b in api.batches(None) {
                if b?.batch_id == batch {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Checks the journal against the service: shards it lists (and has not failed) were
/// received, and so were shards it accepted moments ago ([`REGISTRATION_GRACE_SECS`]);
/// single uploads are in the batch listing. A batch that no longer exists (a 404, or a
/// 400 for a batch the workspace does not list) empties the journal.
pub(crate) fn settle(
    api: &BatchApi,
    batch: &str,
    journal: &Journal,
    history: History,
) -> Result<Settled> {
    let mut out = Settled::default();
    if history.units.is_empty() {
        return Ok(out);
    }
    let any = |t: UnitType| history.units.iter().any(|u| u.unit == t);
    // Single and bulk uploads never mix in a batch, so one unit says which it is.
    out.kind = Some(if any(UnitType::Shard) {
        BatchType::Sharded
    } else {
        BatchType::Simple
    });
    let gone = |journal: &Journal| -> Result<Settled> {
        let ws = api.workspace()?;
        journal.reset(api.base_url(), &ws, batch)?;
        Ok(Settled::default())
    };
    // Shard id → whether it failed.
    let mut shards: HashMap<String, bool> = HashMap::new();
    if any(UnitType::Shard) {
        for s in api.shards(batch, None) {
            match s {
                Ok(s) => {
                    let failed = s.is_failed();
                    shards.insert(s.shard_id, failed);
                }
                Err(e) if is_gone(api, batch, &e)? => return gone(journal),
                Err(e) => return Err(e),
            }
        }
    }
    // Keys of the names in the batch, only to check single uploads.
    let mut names: HashSet<u128> = HashSet::new();
    if any(UnitType::Single) {
        for f in api.files(batch, None, None) {
            match f {
                Ok(f) => {
                    names.insert(fnv1a128(f.file_name.as_bytes()));
                }
                Err(e) if is_gone(api, batch, &e)? => return gone(journal),
                Err(e) => return Err(e),
            }
        }
    }
    let now = unix_now();
    for u in history.units {
        let received = match (u.unit, &u.shard) {
            (UnitType::Shard, Some(id)) => shard_received(&u, shards.get(id).copied(), now),
            // A shard without an id cannot be checked: trust a `done` line; without one it
            // may or may not have arrived, so it is sent again.
            (UnitType::Shard, None) => u.done,
            (UnitType::Single, _) => u
                .names
                .iter()
                .all(|n| names.contains(&fnv1a128(n.as_bytes()))),
        };
        if !received {
            continue;
        }
        if !u.done {
            journal.done(u.seq)?;
        }
        out.add(u.seq, u.shard);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{HttpRequest, HttpResponse, TransportError};

    /// A service whose batch listing holds `listed`.
    fn service(listed: &'static str) -> BatchApi {
        let transport =
            move |req: HttpRequest| -> std::result::Result<HttpResponse, TransportError> {
                assert!(req.url.contains("/batches?"), "{}", req.url);
                let batch = format!(
                    r#"{{"displayName":"{listed}","batchId":"{listed}","batchType":"sharded-batch","batchContentType":"images","createdDate":"2025-01-02T03:04:05Z","expiryDate":"2025-01-09T03:04:05Z"}}"#
                );
                Ok(HttpResponse::json(
                    200,
                    format!(r#"{{"batches":[{batch}],"nextPageToken":null}}"#),
                ))
            };
        BatchApi::builder()
            .base_url("http://service.test")
            .api_key("k")
            .workspace("ws")
            .transport(transport)
            .build()
            .unwrap()
    }

    fn status(code: u16) -> Error {
        let api = BatchApi::builder()
            .base_url("http://service.test")
            .api_key("k")
            .workspace("ws")
            .retry_policy(crate::api::RetryPolicy::never())
            .transport(
                move |_req: HttpRequest| -> std::result::Result<HttpResponse, TransportError> {
                    Ok(HttpResponse::json(
                        code,
                        r#"{"error":"batch \"b\" not found"}"#,
                    ))
                },
            )
            .build()
            .unwrap();
        api.batch_count("b", None).unwrap_err()
    }

    #[test]
    fn a_missing_batch_is_a_404_or_a_400_that_the_batch_listing_confirms() {
        assert!(is_gone(&service("other"), "b", &status(404)).unwrap());
        assert!(is_gone(&service("other"), "b", &status(400)).unwrap());
        // The batch is listed: the 400 was a refusal, not a missing batch.
        assert!(!is_gone(&service("b"), "b", &status(400)).unwrap());
        assert!(!is_gone(&service("other"), "b", &status(500)).unwrap());
    }

    fn unit(done: bool, done_at: Option<u64>) -> UnitInfo {
        UnitInfo {
            seq: 1,
            unit: UnitType::Shard,
            shard: Some("s1".into()),
            done,
            done_at,
            names: Vec::new(),
        }
    }

    #[test]
    fn which_journaled_shards_count_as_received() {
        let now = 1_000_000;
        let grace = REGISTRATION_GRACE_SECS;
        // (done, done_at, listed: Some(failed) / None, received)
        let cases = [
            (true, Some(now), Some(false), true),
            (false, None, Some(false), true), // pending, but the service has it
            (true, Some(now), Some(true), false), // failed by the service
            (true, Some(now - 5), None, true), // accepted moments ago, not listed yet
            (true, Some(now - grace), None, true),
            (true, Some(now - grace - 1), None, false), // lost
            (true, Some(now + 30), None, true),         // the clock went back
            (true, None, None, false),                  // an older journal's line
            (false, None, None, false),                 // may or may not have arrived
        ];
        for (done, at, listed, want) in cases {
            assert_eq!(
                shard_received(&unit(done, at), listed, now),
                want,
                "{done} {at:?} {listed:?}"
            );
        }
    }
}
