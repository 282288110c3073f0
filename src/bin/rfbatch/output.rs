//! Printing results: text (tables, key-value lines) or JSON, and notes on stderr.

use std::io::{IsTerminal, Write};

use std::time::Duration;

use serde::Serialize;

use crate::exit::Failure;

/// Where and how a command prints; `progress`: on a terminal, without `--json` or `-q`.
#[derive(Debug, Clone)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
    pub verbose: u8,
    pub progress: bool,
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

    /// One JSON document on stdout.
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), Failure> {
        self.line(encoded(serde_json::to_string_pretty(value))?)
    }

    /// A command's answer: `doc` with `--json`, else `text` as a line.
    pub fn answer(
        &self,
        doc: serde_json::Value,
        text: impl std::fmt::Display,
    ) -> Result<(), Failure> {
        match self.json {
            true => self.json(&doc),
            false => self.line(text),
        }
    }

    /// One JSON object on one line of stdout (for listings).
    pub fn json_line<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), Failure> {
        self.line(encoded(serde_json::to_string(value))?)
    }

    /// One line of stdout.
    pub fn line(&self, text: impl std::fmt::Display) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}").map_err(Failure::output)
    }

    /// Rows under headers, each column as wide as its widest cell, no trailing spaces.
    pub fn table(&self, headers: &[&str], rows: &[Vec<String>]) -> Result<(), Failure> {
        let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        let all: Vec<&Vec<String>> = std::iter::once(&header).chain(rows).collect();
        let count = |r: &&Vec<String>, i: usize| r.get(i).map_or(0, |c| c.chars().count());
        let width = |i| all.iter().map(|r| count(r, i)).max().unwrap_or(0);
        let widths: Vec<usize> = (0..headers.len()).map(width).collect();
        let mut text = String::new();
        for row in all {
            let mut line = String::new();
            for (cell, &w) in row.iter().zip(&widths) {
                line.push_str(&format!("{cell:<w$}  "));
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        self.line(text.trim_end())
    }

    /// `key: value` lines, the values aligned one column after the longest `key:`.
    pub fn fields(&self, fields: &[(&str, String)]) -> Result<(), Failure> {
        // The width counts the colon, so the longest key is not pushed a column further.
        let width = fields.iter().map(|(k, _)| k.chars().count() + 1).max();
        let line = |(k, v): &(&str, String)| {
            format!("{:<w$}  {v}", format!("{k}:"), w = width.unwrap_or(0))
        };
        let text: Vec<String> = fields.iter().map(line).collect();
        self.line(text.join("\n").trim_end())
    }

    /// A listing: one JSON object a line, or a table of `row`s (a `note` when empty).
    pub fn listing<T: Serialize, E: Into<Failure>>(
        &self,
        items: impl IntoIterator<Item = Result<T, E>>,
        limit: Option<usize>,
        headers: &[&str],
        mut row: impl FnMut(&T) -> Vec<String>,
        empty: impl std::fmt::Display,
    ) -> Result<(), Failure> {
        let mut rows = Vec::new();
        for item in items.into_iter().take(limit.unwrap_or(usize::MAX)) {
            let item = item.map_err(Into::into)?;
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
        Ok(())
    }

    /// A listing printed as it comes, for long ones: a JSON object or a line of text each.
    pub fn stream<T, E: Into<Failure>>(
        &self,
        items: impl IntoIterator<Item = Result<T, E>>,
        limit: Option<usize>,
        json: impl Fn(&T) -> serde_json::Value,
        text: impl Fn(&T) -> String,
    ) -> Result<usize, Failure> {
        let mut n = 0;
        for item in items.into_iter().take(limit.unwrap_or(usize::MAX)) {
            let item = item.map_err(Into::into)?;
            n += 1;
            match self.json {
                true => self.json_line(&json(&item))?,
                false => self.line(text(&item))?,
            }
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

/// `4.1 MiB/s`: `bytes` over `d` (at least 1 ms).
pub fn human_rate(bytes: u64, d: Duration) -> String {
    let per_sec = bytes as f64 / d.as_secs_f64().max(0.001);
    format!("{}/s", human_bytes(per_sec as u64))
}

/// `14 ms`, `2.35 s`, `61.2 s`: precise enough to check a rate computed over it.
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

/// `, 3 failed, 1 skipped`: the counts that are not zero.
pub fn nonzero(counts: &[(u64, &str)]) -> String {
    let some = counts.iter().filter(|(n, _)| *n > 0);
    some.map(|(n, what)| format!(", {n} {what}")).collect()
}

/// A value JSON could not encode (a path that is not UTF-8) as a failure.
pub fn encoded<T>(v: serde_json::Result<T>) -> Result<T, Failure> {
    v.map_err(|e| Failure::new(crate::exit::Class::Other, format!("encoding JSON: {e}")))
}

/// An optional value for a table cell: `-` when absent.
pub fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tables, fields and `-`: `cli_commands::batch_commands_in_text_and_json`.
    #[test]
    fn sizes_for_people() {
        for (n, want) in [(512, "512 B"), (1536, "1.5 KiB"), (3 << 20, "3.0 MiB")] {
            assert_eq!(human_bytes(n), want);
        }
    }
}
