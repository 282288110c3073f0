//! The unique name each object gets inside the batch.

/// The longest name the service takes for a file in a batch.
pub(crate) const MAX_NAME_BYTES: usize = 512;

/// The name of an object in the batch: its key below the prefix with `%`, `/`, `\` and
/// control characters as `%XX`, so top-level files keep their name, nested ones stay
/// readable (`cats%2Fa.jpg`) and no two keys share one. `None` over 512 bytes.
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
