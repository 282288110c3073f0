//! Names inside a batch: unique, stable, readable plain file names, by the rule of the
//! [ingest guide](crate::guide::ingest); hashes are FNV-1a of the path, the same every run.

use crate::ids::{fnv1a64, fnv1a128};

/// Names longer than this keep their tail behind a hash.
pub(crate) const MAX_NAME_BYTES: usize = 200;

fn hash8(key: &str) -> String {
    format!("{:08x}", fnv1a64(key.as_bytes()) as u32)
}

/// A file's name before collisions, from its relative path's components (never `.` or
/// `..`, so a name cannot climb out of a folder).
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

/// `stem~hash.ext` for a name that collides, `key` being the relative path.
pub(crate) fn disambiguate(name: &str, key: &str) -> String {
    let tag = hash8(key);
    let dot = name.rfind('.').filter(|&i| i > 0);
    let out = match dot {
        Some(i) => format!("{}~{tag}{}", &name[..i], &name[i..]),
        None => format!("{name}~{tag}"),
    };
    shorten(&out, &format!("{key}~"))
}

/// The key under which candidate names collide (ignoring case).
pub(crate) fn collision_key(candidate: &str) -> u128 {
    fnv1a128(candidate.to_lowercase().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_characters_are_replaced_and_long_names_keep_their_tail() {
        assert_eq!(candidate(&["cats", "2024", "a.jpg"]), "cats__2024__a.jpg");
        assert_eq!(candidate(&["a\\b\tc.jpg"]), "a_b_c.jpg");
        let long = format!("{}/{}.jpg", "d".repeat(150), "é".repeat(60));
        let n = candidate(&long.split('/').collect::<Vec<_>>());
        assert!(n.len() <= MAX_NAME_BYTES, "{}", n.len());
        assert!(n.ends_with("éé.jpg") && n.as_bytes()[8] == b'~', "{n}");
        for (parts, want) in [
            (&[".."][..], "file"),
            (&["..", "a.jpg"], "a.jpg"),
            (&["", "abs.jpg"], "abs.jpg"),
        ] {
            assert_eq!(candidate(parts), want);
        }
        assert_eq!(
            disambiguate("a.b.jpg", "x"),
            format!("a.b~{}.jpg", hash8("x"))
        );
    }
}
