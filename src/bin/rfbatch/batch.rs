//! `rfbatch batch …`: staged batches (Data Staging).

use clap::Subcommand;
use roboflow_batch::model::{BatchMetadata, BatchType, FileMetadata, PartMetadata, ShardDetails};
use serde_json::{Value, json};

use crate::args::Limit;
use crate::context::Ctx;
use crate::download::{self, ExportArgs, Source};
use crate::exit::Failure;
use crate::output::opt;
use crate::report;

/// A batch named on the command line.
#[derive(clap::Args)]
pub struct BatchArg {
    /// The batch id.
    batch: String,
}

#[derive(Subcommand)]
pub enum BatchCommand {
    /// Lists the workspace's batches.
    List(Limit),
    /// Shows a batch: its metadata, its item count and, for a multipart batch, its parts.
    Show(BatchArg),
    /// Counts the items of a batch, or of one part of it.
    Count {
        /// The batch id.
        batch: String,
        /// Count only this part.
        #[arg(long, value_name = "PART")]
        part: Option<String>,
    },
    /// Lists the shards of a bulk upload and their indexing status.
    Shards {
        /// The batch id.
        batch: String,
        #[command(flatten)]
        limit: Limit,
    },
    /// Lists the parts of a multipart batch (such as a job's output).
    Parts(BatchArg),
    /// Downloads a batch's files (a job's output batch, or any staged batch).
    Export {
        /// The batch id.
        batch: String,
        #[command(flatten)]
        export: ExportArgs,
    },
    /// Lists the files of a batch, or of one part of it.
    Files {
        /// The batch id.
        batch: String,
        /// Only this part.
        #[arg(long, value_name = "PART")]
        part: Option<String>,
        #[command(flatten)]
        limit: Limit,
        /// Include the signed download URLs (secrets: anyone holding one can download the
        /// file until it expires).
        #[arg(long)]
        urls: bool,
    },
}

pub fn run(ctx: &Ctx, cmd: BatchCommand) -> Result<(), Failure> {
    match cmd {
        BatchCommand::List(l) => list(ctx, l.limit),
        BatchCommand::Show(b) => show(ctx, &b.batch),
        BatchCommand::Count { batch, part } => count(ctx, &batch, part.as_deref()),
        BatchCommand::Shards { batch, limit } => shards(ctx, &batch, limit.limit),
        BatchCommand::Parts(b) => parts(ctx, &b.batch),
        BatchCommand::Export { batch, export } => {
            let report = download::export(ctx, &export, Source::Batch(&batch))?;
            report::print_export(ctx, &report)
        }
        BatchCommand::Files {
            batch,
            part,
            limit,
            urls,
        } => files(ctx, &batch, part.as_deref(), limit.limit, urls),
    }
}

fn list(ctx: &Ctx, limit: Option<usize>) -> Result<(), Failure> {
    let headers = ["BATCH", "NAME", "TYPE", "CONTENT", "CREATED", "EXPIRES"];
    let batches = ctx.api.batches(None);
    ctx.out
        .listing(batches, limit, &headers, batch_row, "no batches")
        .map(drop)
}

fn batch_row(b: &BatchMetadata) -> Vec<String> {
    vec![
        b.batch_id.clone(),
        b.display_name.clone(),
        b.batch_type.to_string(),
        b.batch_content_type.to_string(),
        b.created_date.to_string(),
        b.expiry_date.to_string(),
    ]
}

fn show(ctx: &Ctx, batch_id: &str) -> Result<(), Failure> {
    let batch = ctx.api.batch(batch_id)?;
    let count = ctx.api.batch_count(batch_id, None)?;
    let parts = if batch.batch_type == BatchType::Multipart {
        let mut counted = Vec::new();
        for p in ctx.api.list_parts(batch_id)? {
            let n = ctx.api.batch_count(batch_id, Some(&p.part_name))?;
            counted.push((p, n));
        }
        Some(counted)
    } else {
        None
    };
    if ctx.out.is_json() {
        let parts: Option<Vec<Value>> = parts.map(|ps| {
            ps.iter()
                .map(|(p, n)| {
                    let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
                    v["count"] = json!(n);
                    v
                })
                .collect()
        });
        return ctx
            .out
            .json(&json!({"batch": batch, "count": count, "parts": parts}));
    }
    ctx.out.fields(&[
        ("batch", batch.batch_id.clone()),
        ("name", batch.display_name.clone()),
        ("type", batch.batch_type.to_string()),
        ("content", batch.batch_content_type.to_string()),
        ("created", batch.created_date.to_string()),
        ("expires", batch.expiry_date.to_string()),
        ("items", count.to_string()),
    ])?;
    if let Some(parts) = parts {
        let rows: Vec<Vec<String>> = parts
            .iter()
            .map(|(p, n)| {
                vec![
                    p.part_name.clone(),
                    p.part_type.clone(),
                    p.content_type.clone(),
                    n.to_string(),
                ]
            })
            .collect();
        ctx.out.line("")?;
        ctx.out
            .table(&["PART", "TYPE", "CONTENT", "ITEMS"], &rows)?;
    }
    Ok(())
}

fn count(ctx: &Ctx, batch_id: &str, part: Option<&str>) -> Result<(), Failure> {
    let n = ctx.api.batch_count(batch_id, part)?;
    if ctx.out.is_json() {
        ctx.out
            .json(&json!({"batchId": batch_id, "partName": part, "count": n}))
    } else {
        ctx.out.line(n)
    }
}

fn shards(ctx: &Ctx, batch_id: &str, limit: Option<usize>) -> Result<(), Failure> {
    let mut failed = 0usize;
    let row = |s: &ShardDetails| {
        failed += usize::from(s.is_failed());
        shard_row(s)
    };
    let headers = ["SHARD", "STATUS", "TYPE", "FILES", "UPDATED"];
    let empty = format!("batch {batch_id} has no shards");
    let total = ctx
        .out
        .listing(ctx.api.shards(batch_id, None), limit, &headers, row, empty)?;
    if total > 0 {
        ctx.out
            .note(format_args!("{total} shards, {failed} failed"));
    }
    Ok(())
}

fn shard_row(s: &ShardDetails) -> Vec<String> {
    vec![
        s.shard_id.clone(),
        s.status_name.clone(),
        s.status_type.clone(),
        s.shard_objects_count.to_string(),
        s.event_timestamp.to_string(),
    ]
}

fn parts(ctx: &Ctx, batch_id: &str) -> Result<(), Failure> {
    let parts = ctx
        .api
        .list_parts(batch_id)?
        .into_iter()
        .map(Ok::<_, Failure>);
    let headers = ["PART", "TYPE", "CONTENT", "DESCRIPTION"];
    let empty = format!("batch {batch_id} has no parts");
    ctx.out
        .listing(parts, None, &headers, part_row, empty)
        .map(drop)
}

fn part_row(p: &PartMetadata) -> Vec<String> {
    vec![
        p.part_name.clone(),
        p.part_type.clone(),
        p.content_type.clone(),
        opt(p.part_description.as_deref()),
    ]
}

fn files(
    ctx: &Ctx,
    batch_id: &str,
    part: Option<&str>,
    limit: Option<usize>,
    urls: bool,
) -> Result<(), Failure> {
    let mut n = 0usize;
    // Streamed: a batch may hold many thousands of files, so no table is buffered.
    for file in ctx
        .api
        .files(batch_id, part, None)
        .take(limit.unwrap_or(usize::MAX))
    {
        let file = file?;
        n += 1;
        if ctx.out.is_json() {
            ctx.out.json_line(&file_json(&file, urls))?;
        } else {
            // Tab-separated, so that `cut` and `awk` can take it apart.
            let mut line = format!(
                "{}\t{}\t{}",
                opt(file.part_name.as_deref()),
                file.file_name,
                file.content_type
            );
            if urls {
                line.push('\t');
                line.push_str(&file.download_url);
            }
            ctx.out.line(line)?;
        }
    }
    if !ctx.out.is_json() {
        ctx.out.note(format_args!("{n} files"));
    }
    Ok(())
}

/// A file's metadata as JSON, without its signed URL unless asked for.
fn file_json(file: &FileMetadata, urls: bool) -> Value {
    let mut v = serde_json::to_value(file).unwrap_or(Value::Null);
    if !urls && let Some(o) = v.as_object_mut() {
        o.remove("downloadURL");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_json_drops_the_signed_url_unless_asked() {
        let f: FileMetadata = serde_json::from_value(json!({
            "downloadURL": "https://h/f?sig=secret", "fileName": "a.jsonl",
            "contentType": "metadata", "partName": "results"
        }))
        .unwrap();
        let plain = file_json(&f, false);
        assert_eq!(plain["fileName"], "a.jsonl");
        assert!(plain.get("downloadURL").is_none());
        assert_eq!(file_json(&f, true)["downloadURL"], "https://h/f?sig=secret");
    }
}
