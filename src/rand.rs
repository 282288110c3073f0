//! The crate's one source of randomness: secrets and ids from the operating system's
//! (`getrandom`); [`FastRng`] for speed, not secrecy (jitter, seeded faults).

/// Fills `buf` from the operating system's random source; panics without one (booted
/// platforms have one, and a secret must never come from a weaker fallback).
pub(crate) fn fill(buf: &mut [u8]) {
    if let Err(e) = getrandom::fill(buf) {
        panic!("the operating system's random source failed: {e}");
    }
}

/// A random `u64` from the operating system's random source.
pub(crate) fn u64() -> u64 {
    let mut b = [0u8; 8];
    fill(&mut b);
    u64::from_le_bytes(b)
}

/// A 32-byte secret key from the operating system's random source (the sandbox's URL
/// signing key).
#[cfg_attr(not(feature = "sandbox"), allow(dead_code))]
pub(crate) fn secret32() -> [u8; 32] {
    let mut k = [0u8; 32];
    fill(&mut k);
    k
}

/// The alphabet of generated ids: what batch and job ids allow, minus `-` and `_`.
pub(crate) const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// `len` characters drawn uniformly from `alphabet` (at most 256 symbols) with the OS
/// source; rejection sampling keeps every symbol equally likely.
pub(crate) fn string(alphabet: &[u8], len: usize) -> String {
    assert!(!alphabet.is_empty() && alphabet.len() <= 256);
    let n = alphabet.len();
    // The largest multiple of n that fits in a byte; bytes at or above it are redrawn.
    let zone = 256 - 256 % n;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        fill(&mut buf);
        for &b in &buf {
            if (b as usize) < zone && out.len() < len {
                out.push(alphabet[b as usize % n] as char);
            }
        }
    }
    out
}

/// A lowercase hex string of `bytes` random bytes (for event ids, temp names).
pub(crate) fn hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A fast, non-cryptographic generator (SplitMix64): for jitter and seeded faults, never
/// for secrets or ids.
#[derive(Debug, Clone)]
pub(crate) struct FastRng(u64);

impl FastRng {
    /// A generator seeded from the OS source.
    pub(crate) fn from_os() -> Self {
        FastRng(u64())
    }

    /// A generator whose sequence depends only on `seed` (for repeatable faults).
    #[cfg(any(feature = "sandbox", test))]
    pub(crate) fn seeded(seed: u64) -> Self {
        FastRng(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A fraction in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_draws_differ_and_keep_to_their_alphabet() {
        let (a, b) = (string(ID_ALPHABET, 12), string(ID_ALPHABET, 12));
        assert!(a.len() == 12 && a.bytes().all(|c| ID_ALPHABET.contains(&c)) && a != b);
        assert_eq!(string(b"x", 5), "xxxxx");
        let s = string(b"abc", 30_000);
        for c in ['a', 'b', 'c'] {
            let n = s.chars().filter(|&x| x == c).count();
            assert!((9_000..11_000).contains(&n), "{c}: {n}");
        }
        assert!(secret32() != secret32() && secret32() != [0u8; 32]);
        let h = hex(16);
        assert!(h.len() == 32 && h.bytes().all(|c| c.is_ascii_hexdigit()) && h != hex(16));
    }

    #[test]
    fn fast_rng_is_repeatable_when_seeded() {
        let (mut a, mut b) = (FastRng::seeded(7), FastRng::seeded(7));
        assert_eq!(a.next_u64(), b.next_u64());
        assert!((0..1000).all(|_| (0.0..1.0).contains(&a.next_f64())));
        assert_ne!(FastRng::from_os().next_u64(), FastRng::from_os().next_u64());
    }
}
