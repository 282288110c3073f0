//! Names inside a batch: unique, stable, readable, and always plain file names.
//!
//! The rule, applied to the files of one ingest:
//!
//! 1. A file directly in the source folder (or given in a list) keeps its file name, as
//!    the official client names it: `a.jpg`.
//! 2. A file in a subfolder gets its path relative to the source folder with each `/`
//!    written as `__`: `cats/2024/a.jpg` becomes `cats__2024__a.jpg`.
//! 3. Characters the service refuses in a name (`\`, control characters) become `_`.
//! 4. A name over 200 bytes keeps its end (where the file name and extension are) behind a
//!    hash of the whole path: `<hash8>~…tail.jpg`.
//! 5. Names that still collide, ignoring case, are told apart by a hash of each file's
//!    relative path before the extension (`a~1b2c3d4e.jpg`), except for the first of them
//!    in the order (fewest folders, then path), which keeps its name.
//!
//! The hash is FNV-1a of the path's UTF-8 bytes, so a name depends only on the file's
//! path and on which other files collide with it: the same folder gives the same names on
//! every run and every machine. A name never holds `/`, `..` or an absolute path.
//!
//! Rule 5 needs every name, but not in memory: discovery writes a 128-bit key of each
//! lowercase candidate to a sorted list that spills to disk; keys that repeat single out
//! the few files that may collide, and only those are compared by name.

use std::collections::{HashMap, HashSet};

use super::manifest::Manifest;
use super::spill::Sorted;
use crate::error::{Error, Result};

/// Names longer than this keep their tail behind a hash.
pub(crate) const MAX_NAME_BYTES: usize = 200;

/// FNV-1a, 64 bits: a stable hash for names and journal file names (not for secrets).
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn hash8(key: &str) -> String {
    format!("{:08x}", fnv1a64(key.as_bytes()) as u32)
}

/// The candidate name of a file from its relative path components (rules 2 to 4).
/// Empty, `.` and `..` components are dropped, so a name can never climb out of a folder.
pub(crate) fn candidate(components: &[&str]) -> String {
    let parts: Vec<&str> = components
        .iter()
        .flat_map(|c| c.split('/'))
        .filter(|c| !c.is_empty() && *c != "." && *c != "..")
        .collect();
    let joined = if parts.is_empty() {
        "file".to_string()
    } else {
        parts.join("__")
    };
    let clean: String = joined
        .chars()
        .map(|c| if c == '\\' || c.is_control() { '_' } else { c })
        .collect();
    shorten(&clean, &components.join("/"))
}

fn shorten(name: &str, key: &str) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name.to_string();
    }
    let keep = MAX_NAME_BYTES - 9;
    let mut start = name.len() - keep;
    while !name.is_char_boundary(start) {
        start += 1;
    }
    format!("{}~{}", hash8(key), &name[start..])
}

/// `stem~hash.ext` (rule 5).
fn disambiguate(name: &str, key: &str) -> String {
    let tag = hash8(key);
    let dot = name.rfind('.').filter(|&i| i > 0);
    let out = match dot {
        Some(i) => format!("{}~{tag}{}", &name[..i], &name[i..]),
        None => format!("{name}~{tag}"),
    };
    shorten(&out, &format!("{key}~"))
}

/// FNV-1a, 128 bits: the key of a name in sorted lists on disk. Keys only find candidates;
/// names are compared as text before anything is decided.
pub(crate) fn fnv1a128(bytes: &[u8]) -> u128 {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in bytes {
        h ^= u128::from(*b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    h
}

/// The key under which candidate names collide (rule 5 ignores case).
pub(crate) fn collision_key(candidate: &str) -> [u8; 16] {
    fnv1a128(candidate.to_lowercase().as_bytes()).to_be_bytes()
}

struct Member {
    index: u64,
    depth: u32,
    key: String,
    candidate: String,
}

/// Rule 5 for a manifest whose candidates' [`collision_key`]s are `keys`: the final names
/// that differ from their candidates, by position. Only files whose keys repeat are held
/// in memory, so this costs nothing per file when names do not collide.
pub(crate) fn resolve(mut keys: Sorted, manifest: &mut Manifest) -> Result<HashMap<u64, String>> {
    let io = |e: std::io::Error| Error::io("resolving name collisions", e);
    let mut repeated: HashSet<Vec<u8>> = HashSet::new();
    let (mut prev, mut rec) = (Vec::new(), Vec::new());
    let mut first = true;
    while keys.next_into(&mut rec).map_err(io)? {
        if !first && rec == prev {
            repeated.insert(rec.clone());
        }
        first = false;
        std::mem::swap(&mut prev, &mut rec);
    }
    drop(keys);
    let mut renamed = HashMap::new();
    if repeated.is_empty() {
        return Ok(renamed);
    }
    let mut groups: HashMap<String, Vec<Member>> = HashMap::new();
    let mut entries = manifest.entries().map_err(io)?;
    while let Some((index, e)) = entries.next_entry().map_err(io)? {
        if repeated.contains(collision_key(&e.candidate).as_slice()) {
            groups
                .entry(e.candidate.to_lowercase())
                .or_default()
                .push(Member {
                    index,
                    depth: e.depth,
                    key: e.relative,
                    candidate: e.candidate,
                });
        }
    }
    // The new names, lowercase, with the path each belongs to.
    let mut taken: HashMap<String, String> = HashMap::new();
    for members in groups.values_mut().filter(|m| m.len() > 1) {
        members.sort_by(|a, b| (a.depth, &a.key).cmp(&(b.depth, &b.key)));
        for m in members.iter().skip(1) {
            let name = disambiguate(&m.candidate, &m.key);
            if let Some(other) = taken.insert(name.to_lowercase(), m.key.clone()) {
                return Err(same_name(&other, &m.key, &name));
            }
            renamed.insert(m.index, name);
        }
    }
    // A new name must not be a name some other file keeps.
    let mut entries = manifest.entries().map_err(io)?;
    while let Some((index, e)) = entries.next_entry().map_err(io)? {
        if !renamed.contains_key(&index)
            && let Some(other) = taken.get(&e.candidate.to_lowercase())
        {
            return Err(same_name(&e.relative, other, &e.candidate));
        }
    }
    Ok(renamed)
}

fn same_name(a: &str, b: &str, name: &str) -> Error {
    Error::invalid(
        "file names",
        format!(
            "{a:?} and {b:?} map to the same name {name:?} even after disambiguation; rename one"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::spill::Sorter;
    use super::*;

    fn names(paths: &[&str]) -> Vec<String> {
        try_names(paths).unwrap()
    }

    fn try_names(paths: &[&str]) -> Result<Vec<String>> {
        let mut m = Manifest::new(None);
        let mut keys = Sorter::new(64);
        for p in paths {
            let parts: Vec<&str> = p.split('/').collect();
            let c = candidate(&parts);
            keys.push(&collision_key(&c)).unwrap();
            m.push(&super::super::manifest::Entry {
                size: 1,
                modified: None,
                depth: (parts.len() - 1) as u32,
                relative: p.to_string(),
                candidate: c,
                listed: None,
            })
            .unwrap();
        }
        let renamed = resolve(keys.finish().unwrap(), &mut m)?;
        m.set_renamed(renamed);
        let mut out = Vec::new();
        let mut files = m.entries().unwrap();
        while let Some((_, f)) = files.next_file().unwrap() {
            out.push(f.name);
        }
        Ok(out)
    }

    #[test]
    fn top_level_files_keep_their_names_and_subfolders_are_flattened() {
        assert_eq!(
            names(&["a.jpg", "cats/a.jpg", "dogs/2024/a.jpg"]),
            ["a.jpg", "cats__a.jpg", "dogs__2024__a.jpg"]
        );
    }

    #[test]
    fn collisions_get_a_stable_hash_and_the_shallowest_file_keeps_its_name() {
        let got = names(&["x/a__b.jpg", "a__b__c.jpg", "a/b__c.jpg", "a__b/c.jpg"]);
        assert_eq!(got[1], "a__b__c.jpg"); // top level wins
        assert_eq!(got[0], "x__a__b.jpg");
        for g in [&got[2], &got[3]] {
            assert!(g.starts_with("a__b__c~") && g.ends_with(".jpg"), "{g}");
        }
        assert_ne!(got[2], got[3]);
        // Stable: the same input gives the same names, whatever the order.
        let again = names(&["a__b/c.jpg", "a/b__c.jpg", "a__b__c.jpg", "x/a__b.jpg"]);
        assert_eq!(again[0], got[3]);
        assert_eq!(again[1], got[2]);
    }

    #[test]
    fn case_only_differences_collide() {
        let got = names(&["A.JPG", "a.jpg"]);
        assert_eq!(got[0], "A.JPG"); // same depth: path order ("A" < "a")
        assert!(got[1].starts_with("a~") && got[1].ends_with(".jpg"));
    }

    #[test]
    fn refused_characters_are_replaced_and_long_names_keep_their_tail() {
        assert_eq!(candidate(&["a\\b\tc.jpg"]), "a_b_c.jpg");
        let long = format!("{}/{}.jpg", "d".repeat(150), "é".repeat(60));
        let n = candidate(&long.split('/').collect::<Vec<_>>());
        assert!(n.len() <= MAX_NAME_BYTES, "{}", n.len());
        assert!(n.ends_with("éé.jpg") && n.as_bytes()[8] == b'~', "{n}");
        assert_eq!(
            names(&["..", "../a.jpg", "/abs.jpg"]),
            ["file", "a.jpg", "abs.jpg"]
        );
    }

    #[test]
    fn fnv_matches_reference_values() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a128(b""), 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d);
        assert_eq!(fnv1a128(b"a"), 0xd228_cb69_6f1a_8caf_7891_2b70_4e4a_8964);
    }

    #[test]
    fn a_new_name_that_another_file_keeps_is_refused() {
        // `a.jpg` and `A.jpg` collide; `A.jpg` comes first and keeps its name, `a.jpg`
        // becomes `a~<hash of "a.jpg">.jpg`, which is also the name of a third file: no name
        // may be given twice.
        let third = format!("a~{}.jpg", hash8("a.jpg"));
        let err = try_names(&["a.jpg", "A.jpg", &third]).unwrap_err();
        assert!(
            err.to_string().contains("even after disambiguation"),
            "{err}"
        );
        // Without the third file the names are fine.
        assert_eq!(try_names(&["a.jpg", "A.jpg"]).unwrap()[0], third);
    }
}
