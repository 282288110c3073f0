//! File kinds by extension, for the sandbox (the client sends no part Content-Type).

/// A MIME type from a file name's extension.
pub(crate) fn mime_for(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" | "jpe" => "image/jpeg",
        "png" => "image/png",
        "bmp" | "dib" => "image/bmp",
        "webp" => "image/webp",
        "jp2" => "image/jp2",
        "gif" => "image/gif",
        "tif" | "tiff" => "image/tiff",
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "avi" => "video/x-msvideo",
        "mkv" => "video/x-matroska",
        "webm" => "video/webm",
        "json" => "application/json",
        "jsonl" => "application/jsonl",
        "csv" => "text/csv",
        "tar" => "application/x-tar",
        "gz" => "application/gzip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mime_by_extension() {
        for (name, want) in [
            ("a.JPG", "image/jpeg"),
            ("b.png", "image/png"),
            ("c", "application/octet-stream"),
            ("d.tar", "application/x-tar"),
        ] {
            assert_eq!(super::mime_for(name), want, "{name}");
        }
    }
}
