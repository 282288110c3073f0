//! Printing results: human text (aligned tables, key-value lines) or JSON (one document, or
//! one object per line for listings), and notes on stderr.

use std::io::{IsTerminal, Write};

use std::time::Duration;

use serde::Serialize;

use crate::exit::Failure;

/// Where and how a command prints.
#[derive(Debug, Clone)]
pub struct Output {
    json: bool,
    quiet: bool,
    verbose: u8,
    progress: bool,
}

impl Output {
    pub fn new(json: bool, quiet: bool, verbose: u8) -> Self {
        let progress = !json && !quiet && std::io::stderr().is_terminal();
        Output {
            json,
            quiet,
            verbose,
            progress,
        }
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    pub fn verbose(&self) -> u8 {
        self.verbose
    }

    /// Whether progress bars may be drawn: on a terminal, without `--json` or `-q`.
    pub fn progress(&self) -> bool {
        self.progress
    }

    /// One JSON document on stdout.
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), Failure> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| Failure::new(crate::exit::Class::Other, format!("encoding JSON: {e}")))?;
        self.line(text)
    }

    /// One JSON object on one line of stdout (for listings).
    pub fn json_line<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), Failure> {
        let text = serde_json::to_string(value)
            .map_err(|e| Failure::new(crate::exit::Class::Other, format!("encoding JSON: {e}")))?;
        self.line(text)
    }

    /// One line of stdout.
    pub fn line(&self, text: impl std::fmt::Display) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}").map_err(Failure::output)
    }

    /// Rows under headers, columns padded to their widest cell.
    pub fn table(&self, headers: &[&str], rows: &[Vec<String>]) -> Result<(), Failure> {
        let text = format_table(headers, rows);
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes()).map_err(Failure::output)
    }

    /// `key: value` lines with the keys aligned.
    pub fn fields(&self, fields: &[(&str, String)]) -> Result<(), Failure> {
        let text = format_fields(fields);
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes()).map_err(Failure::output)
    }

    /// A listing: one JSON object a line, or a table of `row`s (a `note` when empty).
    /// Returns how many items there were.
    pub fn listing<T: Serialize, E: Into<Failure>>(
        &self,
        items: impl IntoIterator<Item = Result<T, E>>,
        limit: Option<usize>,
        headers: &[&str],
        mut row: impl FnMut(&T) -> Vec<String>,
        empty: impl std::fmt::Display,
    ) -> Result<usize, Failure> {
        let (mut rows, mut n) = (Vec::new(), 0);
        for item in items.into_iter().take(limit.unwrap_or(usize::MAX)) {
            let item = item.map_err(Into::into)?;
            n += 1;
            match self.json {
                true => self.json_line(&item)?,
                false => rows.push(row(&item)),
            }
        }
        match (self.json, rows.is_empty()) {
            (true, _) => {}
            (false, true) => self.note(empty),
            (false, false) => self.table(headers, &rows)?,
        }
        Ok(n)
    }

    /// A note for people on stderr (what happened, what to do next); silent with `-q`, and
    /// with `--json`, where stderr carries only the JSON error.
    pub fn note(&self, text: impl std::fmt::Display) {
        if !self.quiet && !self.json {
            eprintln!("{text}");
        }
    }

    /// A detail shown with `-v`.
    pub fn debug(&self, text: impl std::fmt::Display) {
        if self.verbose > 0 {
            eprintln!("rfbatch: {text}");
        }
    }
}

/// A table as text: a header row and the rows, each column as wide as its widest cell,
/// the last column unpadded.
pub fn format_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut text = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let last = i + 1 == row.len();
            if last {
                line.push_str(cell);
            } else {
                let w = widths.get(i).copied().unwrap_or(0);
                line.push_str(cell);
                line.push_str(&" ".repeat(w.saturating_sub(cell.chars().count()) + 2));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// `key: value` lines, the values aligned one column after the longest `key:`.
pub fn format_fields(fields: &[(&str, String)]) -> String {
    // The width counts the colon, so the longest key is not pushed a column further.
    let width = fields
        .iter()
        .map(|(k, _)| k.chars().count() + 1)
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for (k, v) in fields {
        text.push_str(&format!("{:<width$}  {v}\n", format!("{k}:")));
    }
    text
}

/// `1.5 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A duration with three significant digits or so: `14 ms`, `2.35 s`, `61.2 s`, so that a
/// rate computed over it can be checked against it.
pub fn human_secs(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1.0 {
        format!("{:.0} ms", secs * 1000.0)
    } else if secs < 10.0 {
        format!("{secs:.2} s")
    } else {
        format!("{secs:.1} s")
    }
}

/// An optional value for a table cell: `-` when absent.
pub fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let rows = vec![
            vec!["a".to_string(), "long value".to_string(), "x".to_string()],
            vec!["bbbb".to_string(), "v".to_string(), "".to_string()],
        ];
        let t = format_table(&["ID", "NAME", "LAST"], &rows);
        assert_eq!(
            t, "ID    NAME        LAST\na     long value  x\nbbbb  v\n",
            "{t}"
        );
    }

    #[test]
    fn fields_align_their_values() {
        let f = [
            ("batch", "b".to_string()),
            ("content", "images".to_string()),
        ];
        assert_eq!(format_fields(&f), "batch:    b\ncontent:  images\n");
    }

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    }

    #[test]
    fn opt_dash() {
        assert_eq!(opt(None::<u32>), "-");
        assert_eq!(opt(Some(3)), "3");
    }
}
