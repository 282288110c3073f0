//! `Range: bytes=…` on downloads (RFC 9110 §14): one range, from `N-`, `N-M` or `-S`.

/// What to send for a `Range` header over a body of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ranged {
    /// No usable range (none, not `bytes`, several, or malformed): the whole body, 200.
    Full,
    /// Bytes `start..=end`: 206 with `Content-Range: bytes start-end/size`.
    Part { start: u64, end: u64 },
    /// No byte of the range exists: 416 with `Content-Range: bytes */size`.
    Unsatisfiable,
}

/// Interprets a `Range` header value.
pub(crate) fn parse(header: Option<&str>, size: u64) -> Ranged {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ranged::Full;
    };
    if spec.contains(',') {
        // Several ranges would need multipart/byteranges; a server may send it all.
        return Ranged::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ranged::Full;
    };
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim().is_empty(), num(first), num(last)) {
        // -S: the last S bytes.
        (true, _, Some(suffix)) => {
            if suffix == 0 || size == 0 {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part {
                    start: size.saturating_sub(suffix),
                    end: size - 1,
                }
            }
        }
        (false, Some(start), None) if last.trim().is_empty() => {
            if start >= size {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part {
                    start,
                    end: size - 1,
                }
            }
        }
        (false, Some(start), Some(end)) if start <= end => {
            if start >= size {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part {
                    start,
                    end: end.min(size - 1),
                }
            }
        }
        _ => Ranged::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ranged::*;

    #[test]
    fn table() {
        let cases = [
            (None, 10, Full),
            (Some("bytes=0-"), 10, Part { start: 0, end: 9 }),
            (Some("bytes=4-"), 10, Part { start: 4, end: 9 }),
            (Some("bytes=9-"), 10, Part { start: 9, end: 9 }),
            (Some("bytes=10-"), 10, Unsatisfiable),
            (Some("bytes=2-5"), 10, Part { start: 2, end: 5 }),
            (Some("bytes=2-500"), 10, Part { start: 2, end: 9 }),
            (Some("bytes=12-15"), 10, Unsatisfiable),
            (Some("bytes=-3"), 10, Part { start: 7, end: 9 }),
            (Some("bytes=-30"), 10, Part { start: 0, end: 9 }),
            (Some("bytes=-0"), 10, Unsatisfiable),
            (Some("bytes=0-"), 0, Unsatisfiable),
            (Some("bytes=5-2"), 10, Full),
            (Some("bytes=0-1,3-4"), 10, Full),
            (Some("items=0-1"), 10, Full),
            (Some("bytes=a-b"), 10, Full),
            (Some("bytes=+1-2"), 10, Full),
            (Some("bytes=-"), 10, Full),
            (Some("bytes=99999999999999999999-"), 10, Full),
            (Some(" bytes=1-2 "), 10, Part { start: 1, end: 2 }),
        ];
        for (h, size, want) in cases {
            assert_eq!(parse(h, size), want, "{h:?} of {size}");
        }
    }
}
