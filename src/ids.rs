//! Ids derived from what they name, stable across runs and machines, so that work run again
//! gets the same ids (a repeated ingest is `duplicated`); not for secrets.

use crate::model::MediaKind;

/// FNV-1a, 64 bits.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// FNV-1a, 128 bits: the key of a name in sorted lists on disk.
pub(crate) fn fnv1a128(bytes: &[u8]) -> u128 {
    bytes
        .iter()
        .fold(0x6c62_272e_07bb_0142_62b8_2175_6295_c58d, |h, b| {
            (h ^ u128::from(*b)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b)
        })
}

/// `prefix-` and the last `digits` hex digits (1 to 16) of a 64-bit FNV-1a hash of `key`:
/// the same key gives the same id on every run and machine.
///
/// ```
/// assert_eq!(roboflow_batch::ids::stable_id("run", b"the files", 12).len(), 16);
/// ```
pub fn stable_id(prefix: &str, key: &[u8], digits: usize) -> String {
    let digits = digits.clamp(1, 16);
    let hex = format!("{:016x}", fnv1a64(key));
    format!("{prefix}-{}", &hex[16 - digits..])
}

/// The base of a references ingest's ids when none is given: `prefix-` and 20 hex digits
/// of a SHA-256 of the batch, the media kind and what names the source.
pub(crate) fn references_base(
    prefix: &str,
    batch: &str,
    media: MediaKind,
    source: &[u8],
) -> String {
    let mut text = format!("{batch}\n{}\n", media.name()).into_bytes();
    text.extend_from_slice(source);
    let digest = ring::digest::digest(&ring::digest::SHA256, &text);
    let hex: String = digest.as_ref()[..10]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{prefix}-{hex}")
}

/// The id of chunk `n`: the base itself when it is the only chunk (as the official client
/// sends a given id), else `<base>-<n>`, so that each chunk is its own ingest.
pub(crate) fn chunk_id(base: &str, n: u64, only: bool) -> String {
    if only {
        base.to_string()
    } else {
        format!("{base}-{n}")
    }
}

/// The ingest id of a references request sent without one: derived from the batch and the
/// body, so that a retried POST is recognised as a repeat.
pub(crate) fn request_id(batch: &str, body: &str) -> String {
    format!(
        "rfbatch-{:032x}",
        fnv1a128(format!("{batch}\n{body}").as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_reference_values_and_ids_keep_their_form() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a128(b""), 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d);
        assert_eq!(fnv1a128(b"a"), 0xd228_cb69_6f1a_8caf_7891_2b70_4e4a_8964);
        assert_eq!(stable_id("b", b"a", 8), "b-8601ec8c");
        // The ids earlier versions derived, so that a re-run after an upgrade still finds
        // its ingests: SHA-256("b1\nimages\ns3://bk/p/*.jpg").
        assert_eq!(
            references_base("cloud", "b1", MediaKind::Images, b"s3://bk/p/*.jpg"),
            "cloud-19a96f5a60aac903a48c"
        );
        assert_eq!(chunk_id("x", 3, false), "x-3");
        assert_eq!(chunk_id("x", 0, true), "x");
    }
}
