//! Guides: how each part works, what it promises, and what it was measured to do.
//!
//! Each guide is a Markdown file in the repository's `docs/` folder, shown here so that
//! docs.rs carries it and its Rust examples are compiled as doc tests. The README gives the
//! tour; these go through one part each.
//!
//! - [`ingest`]: a folder, files, a JSONL file or a bucket into a batch: shards, names,
//!   resume, verification, memory.
//! - [`jobs`]: start a Workflow, follow it, export its results, receive webhooks.
//! - [`cloud`]: ingest from S3, GCS and Azure buckets by locally signed reference.
//! - [`endpoints`]: [`BatchApi`](crate::BatchApi), one method per endpoint.
//! - [`sandbox`]: the local emulator of the service, its options and safety rules.
//! - [`architecture`]: the layers, the modules, and the retry rules.
//! - [`compatibility`]: the official client against the sandbox, where the spec and the
//!   official client disagree, and where `rfbatch` departs from the official client.
//! - [`performance`]: every figure, with the command that measured it.

#[doc = include_str!("../docs/ingest.md")]
pub mod ingest {}
#[doc = include_str!("../docs/jobs.md")]
pub mod jobs {}
#[doc = include_str!("../docs/cloud.md")]
pub mod cloud {}
#[doc = include_str!("../docs/endpoints.md")]
pub mod endpoints {}
#[doc = include_str!("../docs/sandbox.md")]
pub mod sandbox {}
#[doc = include_str!("../docs/architecture.md")]
pub mod architecture {}
#[doc = include_str!("../docs/compatibility.md")]
pub mod compatibility {}
#[doc = include_str!("../docs/performance.md")]
pub mod performance {}
