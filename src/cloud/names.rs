//! The unique name each object gets inside the batch.

/// The longest name the service takes for a file in a batch.
pub(crate) const MAX_NAME_BYTES: usize = 512;

/// The name of an object inside the batch: its key relative to the listed prefix, with
/// `%` written `%25`, `/` written `%2F`, `\` written `%5C` and control characters as
/// `%XX`. Objects at the top of the prefix keep their plain file name; nested ones stay
/// readable (`cats%2Fa.jpg`) and two different keys never share a name, so nothing is
/// overwritten. `None` when the name would exceed the service's 512 bytes.
pub(crate) fn reference_name(relative_key: &str) -> Option<String> {
    let mut out = String::with_capacity(relative_key.len());
    for c in relative_key.chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            '\\' => out.push_str("%5C"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            c => out.push(c),
        }
    }
    (!out.is_empty() && out.len() <= MAX_NAME_BYTES && out != "." && out != "..").then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_follow_the_local_lists() {
        use crate::model::MediaKind;
        for k in [
            "a.bmp", "a.DIB", "a.jpeg", "a.Jpg", "a.jpe", "a.jp2", "a.png", "x/y.WEBP",
        ] {
            assert!(MediaKind::Images.matches(k), "{k}");
        }
        for k in ["a.gif", "a.tiff", "jpg", "a.jpg/", "a.jpg.txt", ".", ""] {
            assert!(!MediaKind::Images.matches(k), "{k}");
        }
        for k in ["a.MP4", "a.m4v", "a.3gp", "a.ogg", "a.mkv", "a.mpeg"] {
            assert!(MediaKind::Videos.matches(k), "{k}");
        }
    }

    #[test]
    fn names_are_unique_and_readable() {
        let cases = [
            ("a.jpg", Some("a.jpg")),
            ("cats/a.jpg", Some("cats%2Fa.jpg")),
            ("cats%2Fa.jpg", Some("cats%252Fa.jpg")),
            ("w\\in.jpg", Some("w%5Cin.jpg")),
            ("tab\there.jpg", Some("tab%09here.jpg")),
            ("zażółć.jpg", Some("zażółć.jpg")),
            ("", None),
        ];
        for (key, want) in cases {
            assert_eq!(reference_name(key).as_deref(), want, "{key:?}");
        }
        assert_ne!(reference_name("a/b.jpg"), reference_name("a%2Fb.jpg"));
        assert_eq!(reference_name(&"x".repeat(513)), None);
        assert!(reference_name(&"x".repeat(512)).is_some());
    }
}
