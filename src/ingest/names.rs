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

use std::collections::HashMap;

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

/// One file to be named: its candidate name, the key its hash is taken from (its relative
/// path), and how many folders deep it is.
pub(crate) struct Naming<'a> {
    pub candidate: &'a str,
    pub key: &'a str,
    pub depth: usize,
}

/// Final names for `items`, in the same order (rule 5 applied).
pub(crate) fn assign(items: &[Naming<'_>]) -> Result<Vec<String>> {
    let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, it) in items.iter().enumerate() {
        groups
            .entry(it.candidate.to_lowercase())
            .or_default()
            .push(i);
    }
    let mut names: Vec<String> = items.iter().map(|it| it.candidate.to_string()).collect();
    for members in groups.values_mut().filter(|m| m.len() > 1) {
        members
            .sort_by(|&a, &b| (items[a].depth, items[a].key).cmp(&(items[b].depth, items[b].key)));
        for &i in members.iter().skip(1) {
            names[i] = disambiguate(items[i].candidate, items[i].key);
        }
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, n) in names.iter().enumerate() {
        if let Some(j) = seen.insert(n.to_lowercase(), i) {
            return Err(Error::invalid(
                "file names",
                format!(
                    "{:?} and {:?} map to the same name {n:?} even after disambiguation; rename one",
                    items[j].key, items[i].key
                ),
            ));
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(paths: &[&str]) -> Vec<String> {
        let cands: Vec<(String, usize)> = paths
            .iter()
            .map(|p| {
                let parts: Vec<&str> = p.split('/').collect();
                (candidate(&parts), parts.len() - 1)
            })
            .collect();
        let items: Vec<Naming<'_>> = paths
            .iter()
            .zip(&cands)
            .map(|(p, (c, depth))| Naming {
                candidate: c,
                key: p,
                depth: *depth,
            })
            .collect();
        assign(&items).unwrap()
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
    }
}
