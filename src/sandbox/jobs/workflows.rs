//! The built-in Workflows, one result row per file: `image-stats` (size and format from the
//! header) and `fail-fraction` (fails names hashing below `fraction`, default 0.5, so that
//! `maxImageFailureRate` matters). An image that cannot be read or decoded fails.

use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::super::store::FileRec;

/// The largest file a workflow reads.
const MAX_FILE: u64 = 256 << 20;

/// A known Workflow, with its parameters resolved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Workflow {
    ImageStats,
    FailFraction(f64),
    /// `panic-test`, only with the config's `test_hooks`: panics on every image, to show
    /// that a panicking job is contained.
    Panic,
}

impl Workflow {
    /// The Workflow named `id`; the error says why it cannot run.
    pub fn find(
        id: &str,
        params: Option<&Map<String, Value>>,
        hooks: bool,
    ) -> Result<Workflow, String> {
        let fraction = params.and_then(|p| p.get("fraction"));
        let valid = fraction.map(|v| v.as_f64().filter(|f| (0.0..=1.0).contains(f)));
        match (id, valid) {
            ("image-stats", _) => Ok(Workflow::ImageStats),
            ("panic-test", _) if hooks => Ok(Workflow::Panic),
            ("fail-fraction", None) => Ok(Workflow::FailFraction(0.5)),
            ("fail-fraction", Some(Some(f))) => Ok(Workflow::FailFraction(f)),
            ("fail-fraction", Some(None)) => Err(format!(
                "workflowParameters.fraction must be a number from 0 to 1, got {}",
                fraction.unwrap_or(&Value::Null)
            )),
            (other, _) => Err(format!(
                "Workflow {other:?} not found (the sandbox knows `image-stats` and `fail-fraction`)"
            )),
        }
    }

    /// Runs on one file of the data directory `dir`: `Ok(row)` or `Err(row with an error)`.
    pub fn run(&self, file: &FileRec, dir: &Path, video: bool) -> Result<Value, Value> {
        let fail = |reason: String| {
            Err(
                json!({ "file_name": file.name, "part_name": file.part, "status": "error", "bytes": file.size, "error": reason }),
            )
        };
        if *self == Workflow::Panic {
            panic!("panic-test workflow on {:?}", file.name);
        }
        if let Workflow::FailFraction(f) = self
            && unit_hash(&file.name) < *f
        {
            return fail("simulated failure (fail-fraction workflow)".into());
        }
        let mut bytes = Vec::with_capacity(file.size.min(MAX_FILE) as usize);
        let read = file
            .open(dir, 0)
            .and_then(|f| f.take(MAX_FILE).read_to_end(&mut bytes));
        if let Err(e) = read {
            return fail(format!("cannot read the file: {e}"));
        }
        if video {
            let (_, ext) = file.name.rsplit_once('.').unwrap_or_default();
            let ext = ext.to_ascii_lowercase();
            return Ok(
                json!({ "file_name": file.name, "part_name": file.part, "status": "success", "format": ext, "bytes": bytes.len() }),
            );
        }
        let size = match imagesize::blob_size(&bytes) {
            Ok(s) => s,
            Err(e) => return fail(format!("not a decodable image: {e}")),
        };
        let format = imagesize::image_type(&bytes)
            .map(|t| format!("{t:?}").to_ascii_lowercase())
            .unwrap_or_else(|_| "unknown".into());
        Ok(json!({
            "file_name": file.name, "part_name": file.part, "status": "success",
            "width": size.width, "height": size.height, "format": format, "bytes": bytes.len(),
        }))
    }
}

/// A stable hash of `name` mapped to `[0, 1)`.
fn unit_hash(name: &str) -> f64 {
    (crate::ids::fnv1a64(name.as_bytes()) >> 11) as f64 / (1u64 << 53) as f64
}

/// Writes rows as CSV with a fixed header.
pub(crate) fn rows_to_csv(rows: &[Value]) -> String {
    const COLS: &str = "file_name,part_name,status,width,height,format,bytes,error";
    let mut out = format!("{COLS}\n");
    for row in rows {
        let cell = |c| match row.get(c) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => csv_cell(s),
            Some(v) => csv_cell(&v.to_string()),
        };
        let cells: Vec<String> = COLS.split(',').map(cell).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_is_roughly_honoured_and_deterministic() {
        let names: Vec<String> = (0..1000).map(|i| format!("img-{i}.png")).collect();
        let failed = names.iter().filter(|n| unit_hash(n) < 0.3).count();
        assert!((200..400).contains(&failed), "{failed}");
        assert_eq!(unit_hash("a.png"), unit_hash("a.png"));
    }

    // panic-test with and without the hooks: tests/sandbox_hardening.rs.
    #[test]
    fn unknown_workflow_and_bad_fraction_are_errors() {
        let p: Map<String, Value> = serde_json::from_str(r#"{"fraction": 2}"#).unwrap();
        let bad = Workflow::find("fail-fraction", Some(&p), false).unwrap_err();
        assert!(
            bad.contains("fraction must be a number from 0 to 1"),
            "{bad}"
        );
        assert!(
            Workflow::find("nope", None, false)
                .unwrap_err()
                .contains("\"nope\"")
        );
    }

    #[test]
    fn csv_escapes() {
        let csv = rows_to_csv(&[json!({"file_name": "a,b.png", "status": "success", "width": 3})]);
        assert_eq!(csv.lines().nth(1), Some("\"a,b.png\",,success,3,,,,"));
    }
}
