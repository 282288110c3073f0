//! Signing URLs: HMAC-SHA256 (key from the OS random source) over method, path, part,
//! expiry and size limit, checked in constant time; and the hex that tokens are written in.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a signed URL grants: these fields, and nothing else, are signed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Grant<'a> {
    /// `PUT` or `GET` (a `HEAD` is checked as a `GET`).
    pub method: &'a str,
    /// The decoded path segments after `/signed/`.
    pub segments: &'a [&'a str],
    /// The `part` of a download (empty for none).
    pub part: &'a str,
    /// Unix seconds after which the URL is refused.
    pub expires: u64,
    /// The most bytes an upload may carry.
    pub limit: Option<u64>,
}

impl Grant<'_> {
    /// The signed message. Segments are length-prefixed, so no two grants share one.
    fn message(&self) -> Vec<u8> {
        let mut m = format!("rfbatch-signed-v1\n{}\n", self.method);
        for s in self.segments {
            m.push_str(&format!("{}:{s}/", s.len()));
        }
        m.push_str(&format!(
            "\n{}:{}\n{}\n{}",
            self.part.len(),
            self.part,
            self.expires,
            self.limit.map_or("-".to_string(), |l| l.to_string())
        ));
        m.into_bytes()
    }
}

/// Signs and verifies grants with one key (no `Debug`: it is a secret).
pub(crate) struct Signer(pub [u8; 32]);

impl Signer {
    fn mac(&self, grant: &Grant<'_>) -> HmacSha256 {
        // HMAC takes keys of any length.
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("a 32-byte HMAC key");
        mac.update(&grant.message());
        mac
    }

    /// The token of a grant: 64 lowercase hex digits.
    pub fn sign(&self, grant: &Grant<'_>) -> String {
        hex(&self.mac(grant).finalize().into_bytes())
    }

    /// Whether `token` signs `grant`, compared in constant time.
    pub fn verify(&self, grant: &Grant<'_>, token: &str) -> bool {
        unhex(token).is_some_and(|bytes| self.mac(grant).verify_slice(&bytes).is_ok())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of an even number of hex digits, else `None`.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16);
    let s = s.as_bytes();
    s.len().is_multiple_of(2).then_some(())?;
    s.chunks_exact(2)
        .map(|p| u8::try_from(digit(p[0])? * 16 + digit(p[1])?).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each query field is tampered with over HTTP in tests/sandbox_signed.rs; these are
    // what only the signer shows.
    #[test]
    fn segment_boundaries_are_signed_and_tokens_are_strict_hex() {
        let s = Signer([7; 32]);
        let grant = |segments| Grant {
            method: "PUT",
            segments,
            part: "",
            expires: 1000,
            limit: Some(10),
        };
        let t = s.sign(&grant(&["ab", "c"]));
        assert_eq!(t.len(), 64);
        assert!(s.verify(&grant(&["ab", "c"]), &t));
        assert!(!s.verify(&grant(&["a", "bc"]), &t));
        assert!(!s.verify(&grant(&["ab", "c"]), &t.to_uppercase().replace('A', "Z")));
        assert_eq!(unhex(&hex(&[0xa5; 32])), Some(vec![0xa5; 32]));
        for bad in ["zz", "abc", &"g".repeat(64)] {
            assert_eq!(unhex(bad), None, "{bad}");
        }
    }
}
