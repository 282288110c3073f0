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
        /// Include the signed download URLs (secrets: they let anyone download the file).
        #[arg(long)]
        urls: bool,
    },
}

pub fn run(ctx: &Ctx, cmd: BatchCommand) -> Result<(), Failure> {
    match cmd {
        BatchCommand::List(l) => {
            let headers = ["BATCH", "NAME", "TYPE", "CONTENT", "CREATED", "EXPIRES"];
            let batches = ctx.api.batches(None);
            ctx.out
                .listing(batches, l.limit, &headers, batch_row, "no batches")
        }
        BatchCommand::Show(b) => show(ctx, &b.batch),
        BatchCommand::Count { batch, part } => {
            let n = ctx.api.batch_count(&batch, part.as_deref())?;
            ctx.out
                .answer(json!({"batchId": batch, "partName": part, "count": n}), n)
        }
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
        } => {
            // Streamed: a batch may hold many thousands of files. Tab-separated, for `cut`.
            let text = |f: &FileMetadata| {
                let url = urls.then(|| format!("\t{}", f.download_url));
                let (part, url) = (opt(f.part_name.as_deref()), url.unwrap_or_default());
                format!("{part}\t{}\t{}{url}", f.file_name, f.content_type)
            };
            let json = |f: &FileMetadata| file_json(f, urls);
            let files = ctx.api.files(&batch, part.as_deref(), None);
            let n = ctx.out.stream(files, limit.limit, json, text)?;
            ctx.out.note(format_args!("{n} files"));
            Ok(())
        }
    }
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
    let multipart = batch.batch_type == BatchType::Multipart;
    let mut parts = Vec::new();
    for p in multipart
        .then(|| ctx.api.list_parts(batch_id))
        .transpose()?
        .into_iter()
        .flatten()
    {
        let n = ctx.api.batch_count(batch_id, Some(&p.part_name))?;
        parts.push((p, n));
    }
    if ctx.out.json {
        let parts = parts.iter().map(|(p, n)| {
            let mut v = json!(p);
            v["count"] = json!(n);
            v
        });
        let parts = multipart.then(|| parts.collect::<Vec<_>>());
        let doc = json!({"batch": batch, "count": count, "parts": parts});
        return ctx.out.json(&doc);
    }
    // The listing's columns, as `key: value` lines.
    let keys = ["batch", "name", "type", "content", "created", "expires"];
    let mut fields: Vec<(&str, String)> = keys.into_iter().zip(batch_row(&batch)).collect();
    fields.push(("items", count.to_string()));
    ctx.out.fields(&fields)?;
    if multipart {
        // The listing's columns, its last the count.
        let rows: Vec<Vec<String>> = parts
            .iter()
            .map(|(p, n)| [&part_row(p)[..3], &[n.to_string()]].concat())
            .collect();
        ctx.out.line("")?;
        ctx.out
            .table(&["PART", "TYPE", "CONTENT", "ITEMS"], &rows)?;
    }
    Ok(())
}

fn shards(ctx: &Ctx, batch_id: &str, limit: Option<usize>) -> Result<(), Failure> {
    let (mut total, mut failed) = (0usize, 0usize);
    let row = |s: &ShardDetails| {
        (total, failed) = (total + 1, failed + usize::from(s.is_failed()));
        shard_row(s)
    };
    let headers = ["SHARD", "STATUS", "TYPE", "FILES", "UPDATED"];
    let empty = format!("batch {batch_id} has no shards");
    let shards = ctx.api.shards(batch_id, None);
    ctx.out.listing(shards, limit, &headers, row, empty)?;
    // Rows are made for text only, where the note shows.
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
    ctx.out.listing(parts, None, &headers, part_row, empty)
}

fn part_row(p: &PartMetadata) -> Vec<String> {
    vec![
        p.part_name.clone(),
        p.part_type.clone(),
        p.content_type.clone(),
        opt(p.part_description.as_deref()),
    ]
}

/// A file's metadata as JSON, without its signed URL (a secret) unless asked for.
fn file_json(file: &FileMetadata, urls: bool) -> Value {
    let mut v = serde_json::to_value(file).unwrap_or(Value::Null);
    if !urls && let Some(o) = v.as_object_mut() {
        o.remove("downloadURL");
    }
    v
}
