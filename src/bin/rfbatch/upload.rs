//! `rfbatch upload …`: putting data into a batch.

use clap::builder::PossibleValuesParser;
use clap::{Args, Subcommand};
use roboflow_batch::model::{NotificationCategory, RoboQlIngest};
use serde_json::json;

use crate::context::Ctx;
use crate::exit::Failure;
use crate::upload_files::{self, FilesArgs};
use crate::upload_refs;

#[derive(Subcommand)]
pub enum UploadCommand {
    /// Uploads a folder of images: tar shards streamed in parallel (single uploads for 32
    /// or fewer), resumed after an interruption, then verified.
    Images(FilesArgs),
    /// Uploads a folder of videos, one signed upload each.
    Videos(FilesArgs),
    /// Ingests files by reference: the service fetches each signed URL itself.
    Refs(RefsArgs),
    /// Ingests the Asset Library images a RoboQL query selects.
    Roboql(RoboqlArgs),
}

#[derive(Args, Debug)]
pub struct RoboqlArgs {
    /// The RoboQL query.
    #[arg(value_name = "QUERY")]
    pub query: String,
    /// The batch to fill.
    #[arg(long, value_name = "BATCH_ID")]
    pub batch: String,
    /// The batch's display name.
    #[arg(long, value_name = "NAME")]
    pub batch_name: Option<String>,
    /// An id that makes a repeated request recognisable, so it is safe to run again.
    #[arg(long, value_name = "ID")]
    pub ingest_id: Option<String>,
    /// Where the service sends the ingest webhook.
    #[arg(long, value_name = "URL")]
    pub notifications_url: Option<String>,
}

#[derive(Args, Debug)]
pub struct RefsArgs {
    /// A JSONL file of `{"name": …, "url": …}` lines, or an https:// URL of such a file.
    #[arg(value_name = "FILE_OR_URL")]
    pub source: String,
    /// The batch to fill.
    #[arg(long, value_name = "BATCH_ID")]
    pub batch: String,
    /// The references are videos.
    #[arg(long)]
    pub videos: bool,
    /// The batch's display name (default: its id).
    #[arg(long, value_name = "NAME")]
    pub batch_name: Option<String>,
    /// An id that makes a repeated request recognisable, so it is safe to run again.
    #[arg(long, value_name = "ID")]
    pub ingest_id: Option<String>,
    /// Where the service sends ingest webhooks.
    #[arg(long, value_name = "URL")]
    pub notifications_url: Option<String>,
    /// Which webhooks to send (repeatable).
    #[arg(long, value_name = "CATEGORY", value_parser = PossibleValuesParser::new(NotificationCategory::KNOWN.iter().copied()))]
    pub notification_category: Vec<String>,
    /// Do not wait for the service to fetch and index the files (a file's references are
    /// verified by default; a URL's list cannot be, its names are not known here).
    #[arg(long)]
    pub no_verify: bool,
    /// How long to wait for the service to fetch and index the files, in seconds
    /// [default: the library's].
    #[arg(long, value_name = "SECONDS")]
    pub verify_timeout: Option<f64>,
}

pub fn run(ctx: &Ctx, cmd: UploadCommand) -> Result<(), Failure> {
    match cmd {
        UploadCommand::Images(args) => upload_files::upload(ctx, &args, false),
        UploadCommand::Videos(args) => upload_files::upload(ctx, &args, true),
        UploadCommand::Refs(args) => upload_refs::refs(ctx, &args),
        UploadCommand::Roboql(args) => roboql(ctx, &args),
    }
}

fn roboql(ctx: &Ctx, a: &RoboqlArgs) -> Result<(), Failure> {
    let mut body = RoboQlIngest::new(a.query.as_str());
    body.display_name = a.batch_name.clone();
    if let Some(id) = &a.ingest_id {
        body = body.with_ingest_id(id.as_str());
    }
    if let Some(u) = &a.notifications_url {
        body = body.with_notifications_url(u.as_str());
    }
    let answer = ctx.api.ingest_roboql(&a.batch, &body)?;
    if ctx.out.is_json() {
        return ctx
            .out
            .json(&json!({"batchId": a.batch, "response": answer}));
    }
    ctx.out.line(format_args!(
        "RoboQL ingest into batch {} accepted",
        a.batch
    ))?;
    ctx.out.note(format_args!(
        "follow it with: rfbatch batch count {}",
        a.batch
    ));
    Ok(())
}
