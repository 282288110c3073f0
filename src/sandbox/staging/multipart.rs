//! A minimal multipart/form-data parser for single-image uploads.

/// The boundary of a `multipart/form-data` Content-Type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let media = content_type.split(';').next()?.trim();
    let multipart = media.eq_ignore_ascii_case("multipart/form-data");
    multipart
        .then(|| param(content_type, "boundary"))?
        .filter(|b| !b.is_empty())
}

/// The bytes of the one file part: a part named `file`, named after the file, or the
/// only part with a `filename`. Several candidates, or none, are an error.
pub(crate) fn single_file<'a>(
    body: &'a [u8],
    boundary: &str,
    file: &str,
) -> Result<&'a [u8], String> {
    let parts = split(body, boundary);
    if parts.is_empty() {
        return Err("multipart body has no parts (wrong boundary?)".into());
    }
    let mut found = Vec::new();
    for raw in parts {
        let Some(end) = find(raw, b"\r\n\r\n") else {
            return Err("multipart part without a header/body separator".into());
        };
        let head = String::from_utf8_lossy(&raw[..end]);
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .unwrap_or("");
        let (name, filename) = (param(disposition, "name"), param(disposition, "filename"));
        if matches!(name.as_deref(), Some(n) if n == "file" || n == file) || filename.is_some() {
            found.push(&raw[end + 4..]);
        }
    }
    let (none, n) = (
        "(expected a part named `file` or after the file)",
        found.len(),
    );
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("multipart body has no file part {none}")),
        _ => Err(format!(
            "multipart body has {n} file parts; send exactly one"
        )),
    }
}

/// Each part's form name, file name and other header names (for the request recorder),
/// without its bytes.
pub(crate) fn describe(body: &[u8], boundary: &str) -> Vec<serde_json::Value> {
    let describe_part = |raw: &[u8]| {
        let end = find(raw, b"\r\n\r\n").unwrap_or(raw.len());
        let head = String::from_utf8_lossy(&raw[..end]);
        let (mut part, mut others) = (serde_json::Map::new(), Vec::new());
        for line in head.lines().filter(|l| !l.trim().is_empty()) {
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            match name.trim().to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    for key in ["name", "filename"] {
                        if let Some(v) = param(line, key) {
                            part.insert(key.into(), v.into());
                        }
                    }
                }
                "content-type" => others.push(format!(
                    "content-type: {}",
                    value.trim().to_ascii_lowercase()
                )),
                other => others.push(other.to_string()),
            }
        }
        part.insert("headers".into(), others.into());
        serde_json::Value::Object(part)
    };
    let parts = split(body, boundary);
    parts.into_iter().map(describe_part).collect()
}

/// The parts between boundaries, without the CRLF that precedes each boundary.
fn split<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let mut out = Vec::new();
    let Some(first) = find(body, delim) else {
        return out;
    };
    let mut rest = &body[first + delim.len()..];
    while !rest.starts_with(b"--") {
        rest = rest.strip_prefix(b"\r\n").unwrap_or(rest);
        let Some(next) = find(rest, delim) else {
            break;
        };
        let part = &rest[..next];
        out.push(part.strip_suffix(b"\r\n").unwrap_or(part));
        rest = &rest[next + delim.len()..];
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len().max(1)).position(|w| w == needle)
}

/// A `key="value"` (or `key=value`) parameter of a header line; the key is case-insensitive.
fn param(line: &str, key: &str) -> Option<String> {
    line.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(key)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}
