//! Resuming: the journal's units checked against the service, and the files found now
//! that those units carried with the same identity (both sorted on disk, then merged).

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::PathBuf;

use super::files::{FileList, Resumed};
use super::journal::{FileRecord, History, Journal, UnitInfo, UnitType, unix_now};
use super::sorted::Sorter;
use crate::BatchApi;
use crate::error::{Error, Result};
use crate::ids::fnv1a128;
use crate::model::BatchType;

/// Bytes each side of the merge sorts in memory before spilling.
const JOIN_MEMORY: usize = 4 << 20;

/// How long an accepted shard may stay unlisted and count as received: the service
/// registers shards asynchronously, so a run right after another must not resend them.
pub(crate) const REGISTRATION_GRACE_SECS: u64 = 15 * 60;

/// Opens and locks `batch`'s journal first, so that a second run fails at once.
pub(crate) fn open(api: &BatchApi, dir: PathBuf, batch: &str) -> Result<(Journal, History)> {
    let ws = api.workspace()?;
    let path = Journal::path_for(&dir, &ws, batch);
    let old = dir.join(&ws).join(format!(
        "{batch}-{:08x}.jsonl",
        crate::ids::fnv1a64(api.base_url().as_bytes()) as u32
    ));
    if !path.exists() && old.exists() {
        let _ = std::fs::rename(&old, &path);
    }
    Journal::open(&path, api.base_url(), &ws, batch)
}

/// A unit of an earlier run that the service holds.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub seq: u64,
    /// A single upload (its answer stored its file), not a shard.
    pub single: bool,
    pub shard: Option<String>,
    /// Files it carried.
    pub files: u32,
}

/// The journal's units the service holds, and the kind of batch they show.
#[derive(Debug, Default)]
pub(crate) struct Confirmed {
    pub units: Vec<Held>,
    pub kind: Option<BatchType>,
}

/// Whether a journaled shard was received, given the listing (`Some(failed)`) at `now`:
/// an unlisted one only when this URL accepted it within [`REGISTRATION_GRACE_SECS`].
fn shard_received(u: &UnitInfo, listed: Option<bool>, now: u64) -> bool {
    match listed {
        Some(failed) => !failed,
        None => {
            u.done
                && u.same_url
                && u.done_at
                    .is_some_and(|at| now.saturating_sub(at) <= REGISTRATION_GRACE_SECS)
        }
    }
}

/// Whether `err` means the batch is gone: a 404, or a 400 the workspace's listing
/// confirms (a mere refusal must not empty the journal).
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

/// Checks the journal against the service; a batch that is gone empties it.
pub(crate) fn confirm(
    api: &BatchApi,
    batch: &str,
    journal: &Journal,
    history: History,
) -> Result<Confirmed> {
    let mut out = Confirmed::default();
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
    let gone = || -> Result<Confirmed> {
        journal.reset(api.base_url(), &api.workspace()?, batch)?;
        Ok(Confirmed::default())
    };
    // Shard id → whether it failed; keys of the names in the batch (for single uploads).
    let listed = || -> Result<(HashMap<String, bool>, HashSet<u128>)> {
        let (mut shards, mut names) = (HashMap::new(), HashSet::new());
        if any(UnitType::Shard) {
            shards = (api.shards(batch, None))
                .map(|s| s.map(|s| (s.shard_id.clone(), s.is_failed())))
                .collect::<Result<_>>()?;
        }
        if any(UnitType::Single) {
            names = (api.files(batch, None, None))
                .map(|f| f.map(|f| fnv1a128(f.file_name.as_bytes())))
                .collect::<Result<_>>()?;
        }
        Ok((shards, names))
    };
    let (shards, names) = match listed() {
        Ok(listed) => listed,
        Err(e) if is_gone(api, batch, &e)? => return gone(),
        Err(e) => return Err(e),
    };
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
        out.units.push(Held {
            seq: u.seq,
            single: u.unit == UnitType::Single,
            shard: u.shard,
            files: u.files,
        });
    }
    Ok(out)
}

/// A file as the join sorts it: path, sequence or position, identity.
type Joined = (String, u64, (u64, Option<u64>, String));

fn joined(rec: FileRecord, number: u64) -> Joined {
    (rec.path, number, (rec.size, rec.mtime_ns, rec.name))
}

/// Marks the files that confirmed `units` (seq → verification unit) carried as they are.
pub(crate) fn mark(
    journal: &Journal,
    units: &HashMap<u64, u32>,
    files: &mut FileList,
) -> Result<()> {
    let io = |e: io::Error| Error::io("matching the files with the resume journal", e);
    let mut done = Sorter::new(JOIN_MEMORY);
    let seqs: HashSet<u64> = units.keys().copied().collect();
    journal.files_of(&seqs, |seq, rec| done.push(&joined(rec, seq)).map_err(io))?;
    if done.len() == 0 {
        return Ok(());
    }
    let mut found = Sorter::new(JOIN_MEMORY);
    files.each(|n| {
        found
            .push(&joined(FileRecord::of(&n.file), n.index))
            .map_err(io)?;
        Ok(true)
    })?;
    let mut done = done.finish().map_err(io)?;
    let mut found = found.finish().map_err(io)?;
    let mut out = Sorter::new(JOIN_MEMORY);
    // The latest journal record of the path being matched.
    let mut latest: Option<Joined> = None;
    let mut next = done.next().map_err(io)?;
    while let Some((path, index, identity)) = found.next().map_err(io)? {
        if latest.as_ref().is_none_or(|l| l.0 != path) {
            latest = None;
            while let Some(j) = next.take_if(|j| j.0 <= path) {
                latest = Some(j).filter(|j| j.0 == path);
                next = done.next().map_err(io)?;
            }
        }
        if let Some((_, seq, jid)) = &latest
            && *jid == identity
            && let Some(unit) = units.get(seq)
        {
            out.push(&(index, *unit)).map_err(io)?;
        }
    }
    files.set_resumed(Resumed::new(out.finish().map_err(io)?));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::files::Entry;
    use super::*;

    fn unit(done: bool, done_at: Option<u64>, same_url: bool) -> UnitInfo {
        UnitInfo {
            seq: 1,
            unit: UnitType::Shard,
            shard: Some("s1".into()),
            done,
            done_at,
            names: Vec::new(),
            files: 1,
            same_url,
        }
    }

    #[test]
    fn which_journaled_shards_count_as_received() {
        let now = 1_000_000;
        let grace = REGISTRATION_GRACE_SECS;
        // (done, done_at, same URL, listed: Some(failed) / None, received)
        let cases = [
            (true, Some(now), true, Some(false), true),
            (false, None, true, Some(false), true), // pending, but the service has it
            (true, Some(now), false, Some(false), true), // listed: the URL does not matter
            (true, Some(now), true, Some(true), false), // failed by the service
            (true, Some(now - 5), true, None, true), // accepted moments ago, not listed yet
            (true, Some(now - 5), false, None, false), // …but through another URL
            (true, Some(now - grace), true, None, true),
            (true, Some(now - grace - 1), true, None, false), // lost
            (true, Some(now + 30), true, None, true),         // the clock went back
            (true, None, true, None, false),                  // an older journal's line
            (false, None, true, None, false),                 // may or may not have arrived
        ];
        for (done, at, same, listed, want) in cases {
            assert_eq!(
                shard_received(&unit(done, at, same), listed, now),
                want,
                "{done} {at:?} {same} {listed:?}"
            );
        }
    }

    #[test]
    fn the_latest_record_of_a_path_decides() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("src");
        let (j, _) = Journal::open(&dir.path().join("j.jsonl"), "http://x", "ws", "b").unwrap();
        let rec = |name: &str, size: u64| FileRecord {
            name: name.into(),
            path: root.join(name).to_string_lossy().into_owned(),
            size,
            mtime_ns: None,
        };
        // a: uploaded at 10 bytes, then changed to 11 and uploaded again.
        let s1 = j.pending(
            UnitType::Shard,
            Some("s1"),
            vec![rec("a.jpg", 10), rec("b.jpg", 5)],
        );
        let s2 = j.pending(UnitType::Shard, Some("s2"), vec![rec("a.jpg", 11)]);
        // c: in a unit the service did not confirm.
        let s3 = j.pending(UnitType::Shard, Some("s3"), vec![rec("c.jpg", 1)]);
        let (s1, s2, _s3) = (s1.unwrap(), s2.unwrap(), s3.unwrap());
        let mut files = FileList::new(Some(root.clone()));
        for (rel, size) in [("a.jpg", 10), ("b.jpg", 5), ("c.jpg", 1), ("d.jpg", 2)] {
            let (relative, candidate) = (rel.into(), rel.into());
            let e = Entry {
                size,
                relative,
                candidate,
                ..Entry::default()
            };
            files.push(&e).unwrap();
        }
        mark(&j, &HashMap::from([(s1, 0), (s2, 1)]), &mut files).unwrap();
        // a is 10 bytes now, but the latest upload was of 11: sent again.
        let mut got = Vec::new();
        files
            .each(|n| {
                got.push(n.resumed);
                Ok(true)
            })
            .unwrap();
        assert_eq!(got, [None, Some(0), None, None]);
        assert_eq!(files.resumed(), 1);
    }
}
