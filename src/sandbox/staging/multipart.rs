//! A minimal multipart/form-data parser for single-image uploads.

/// The boundary of a `multipart/form-data` Content-Type.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    if !parts
        .next()?
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return None;
    }
    parts.find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

/// The bytes of the one file part: a part named `file`, named after the file, or the
/// only part with a `filename`. Several candidates, or none, are an error.
pub(crate) fn single_file<'a>(
    body: &'a [u8],
    boundary: &str,
    file_name: &str,
) -> Result<&'a [u8], String> {
    let delim = format!("--{boundary}");
    let parts = split(body, delim.as_bytes());
    if parts.is_empty() {
        return Err("multipart body has no parts (wrong boundary?)".into());
    }
    let mut found = Vec::new();
    for raw in parts {
        let Some(end) = find(raw, b"\r\n\r\n") else {
            return Err("multipart part without a header/body separator".into());
        };
        let headers = String::from_utf8_lossy(&raw[..end]);
        let data = &raw[end + 4..];
        let disposition = headers
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .unwrap_or("");
        let name = param(disposition, "name");
        let filename = param(disposition, "filename");
        let wanted = name.as_deref() == Some("file")
            || name.as_deref() == Some(file_name)
            || filename.is_some();
        if wanted {
            found.push(data);
        }
    }
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(
            "multipart body has no file part (expected a part named `file` or after the file)"
                .into(),
        ),
        _ => Err(format!(
            "multipart body has {} file parts; send exactly one",
            found.len()
        )),
    }
}

/// Each part's form name, file name and other header names (for the request recorder),
/// without its bytes.
pub(crate) fn describe(body: &[u8], boundary: &str) -> Vec<serde_json::Value> {
    let delim = format!("--{boundary}");
    split(body, delim.as_bytes())
        .into_iter()
        .map(|raw| {
            let end = find(raw, b"\r\n\r\n").unwrap_or(raw.len());
            let head = String::from_utf8_lossy(&raw[..end]);
            let mut part = serde_json::Map::new();
            let mut others = Vec::new();
            for line in head.lines().filter(|l| !l.trim().is_empty()) {
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                let name = name.trim().to_ascii_lowercase();
                if name == "content-disposition" {
                    for key in ["name", "filename"] {
                        if let Some(v) = param(line, key) {
                            part.insert(key.into(), v.into());
                        }
                    }
                } else if name == "content-type" {
                    others.push(format!(
                        "content-type: {}",
                        value.trim().to_ascii_lowercase()
                    ));
                } else {
                    others.push(name);
                }
            }
            part.insert("headers".into(), others.into());
            serde_json::Value::Object(part)
        })
        .collect()
}

/// The parts between boundaries, without the CRLF that precedes each boundary.
fn split<'a>(body: &'a [u8], delim: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let Some(mut pos) = find(body, delim) else {
        return out;
    };
    loop {
        let start = pos + delim.len();
        if body[start..].starts_with(b"--") {
            break;
        }
        let start = start
            + if body[start..].starts_with(b"\r\n") {
                2
            } else {
                0
            };
        let Some(next) = find(&body[start..], delim) else {
            break;
        };
        let mut end = start + next;
        if body[..end].ends_with(b"\r\n") {
            end -= 2;
        }
        out.push(&body[start..end.max(start)]);
        pos = start + next;
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A `key="value"` (or `key=value`) parameter of a header line.
fn param(line: &str, key: &str) -> Option<String> {
    line.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_file_part_by_any_name() {
        let b = "--xx\r\nContent-Disposition: form-data; name=\"a.jpg\"; filename=\"a.jpg\"\r\n\r\nDATA\r\n--xx--\r\n";
        assert_eq!(single_file(b.as_bytes(), "xx", "a.jpg").unwrap(), b"DATA");
        let b = "--xx\r\nContent-Disposition: form-data; name=\"file\"\r\nContent-Type: image/png\r\n\r\nD\r\n--x\r\n--xx--";
        assert_eq!(
            single_file(b.as_bytes(), "xx", "b.png").unwrap(),
            b"D\r\n--x"
        );
        assert!(single_file(b"garbage", "xx", "a").is_err());
        assert_eq!(
            boundary("multipart/form-data; boundary=\"q1\"").as_deref(),
            Some("q1")
        );
        assert_eq!(boundary("text/plain"), None);
    }

    #[test]
    fn describe_names_parts_without_their_bytes() {
        let b = "--xx\r\nContent-Disposition: form-data; name=\"a.jpg\"; filename=\"a.jpg\"\r\n\r\nSECRET\r\n\
                 --xx\r\nContent-Disposition: form-data; name=\"file\"\r\nContent-Type: Image/PNG\r\nX-Extra: 1\r\n\r\nD\r\n--xx--\r\n";
        let parts = describe(b.as_bytes(), "xx");
        assert_eq!(
            serde_json::Value::Array(parts),
            serde_json::json!([
                { "name": "a.jpg", "filename": "a.jpg", "headers": [] },
                { "name": "file", "headers": ["content-type: image/png", "x-extra"] },
            ])
        );
    }
}
