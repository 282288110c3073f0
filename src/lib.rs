//! A blocking, runtime-free client for the Roboflow Batch Processing API, with a local
//! sandbox of the service.
//!
//! # From the top
//!
//! - [`BatchApi`] is the client: one blocking method per endpoint, with validation before
//!   anything is sent, retries, and pagination ([`BatchApi::builder`], [`BatchApi::from_env`]).
//! - [`transport::Transport`] is the one seam under it: a request in, a response out, every
//!   status `Ok`; [`transport::UreqTransport`] is the real one, any closure a fake.
//! - [`model`] holds the wire types (camelCase, tolerant decoding), shared with the sandbox.
//! - [`ingest`] gets files into a batch from a folder, a JSONL file of references or a bucket,
//!   in parallel, resuming after a crash, verified ([`ingest::Ingest`]); [`progress`] holds
//!   the one event type long operations report through.
//! - [`wait`] polls until a job is terminal or an ingest is indexed
//!   ([`BatchApi::wait_for_job`], [`BatchApi::wait_for_ingest`]).
//! - [`jobs`] starts, follows ([`jobs::Job::wait`]) and controls a job; [`export`] downloads
//!   a job's or a batch's files, unpacking safely and resuming; [`webhook`] receives the
//!   service's notifications.
//! - [`Error`] is the one error type, with [`Error::is_retryable`] and [`Error::status`]; no
//!   error ever shows the API key or a signed URL's signature.
//! - `sandbox` (feature `sandbox`) serves the whole API on `127.0.0.1` for offline use and
//!   tests.
//! - [`guide`] goes through each part at length, with every measured figure.
//!
//! There is no async runtime anywhere in the dependency tree: no tokio, no reqwest.
//!
//! # Example
//!
//! ```no_run
//! use roboflow_batch::BatchApi;
//! use roboflow_batch::model::JobStartRequest;
//!
//! // ROBOFLOW_API_KEY, and optionally API_BASE_URL and ROBOFLOW_WORKSPACE.
//! let api = BatchApi::from_env()?;
//! println!("{} images staged", api.batch_count("my-batch", None)?);
//! api.start_job("nightly-1", &JobStartRequest::images("my-batch", "my-workflow"), None)?;
//! for stage in api.job_stages("nightly-1")? {
//!     println!("{}: {}", stage.processing_stage_name, stage.status_type);
//! }
//! # Ok::<(), roboflow_batch::Error>(())
//! ```
//!
//! # Long operations: progress, timeouts and cancellation
//!
//! A long operation (an ingest, an export, a job's wait) blocks until it is done and
//! reports through `on_progress`, whose callback may borrow: one [`progress::Event`] type
//! for all of them. One rule says how it ends: **when it stops early because it timed out
//! or was cancelled, it returns `Ok` with its report saying so** (`IngestReport::cancelled`,
//! `Verification::timed_out`, `ExportReport::cancelled`, `JobEnd::TimedOut`), with what it
//! did up to then; **`Err` means it could not go on** (a bad input, a refused request, a
//! file that cannot be written). [`BatchApi::wait_for_ingest`] has no report, so its
//! timeout is [`Error::WaitTimeout`].
//!
//! # Errors, retries and limits
//!
//! A status of 400 or more becomes an [`Error`] variant by status, keeping the method, a
//! redacted URL, the server's message and a body snippet. A [`api::RetryPolicy`] retries
//! what [`Error::is_retryable`] names (timeouts and dropped connections only where safe to
//! repeat), with exponential backoff, full jitter and `Retry-After`, on an injected
//! [`api::Clock`]. Uploads always carry `Content-Length`; JSON answers are buffered up to
//! 16 MiB, downloads stream to disk ([`api::DownloadOptions::max_len`]); the transport's
//! timeouts are per read and write ([`transport::Timeouts`]), so large shards are not cut
//! off.
//!
//! # Features
//!
//! - `sandbox`: the local emulator (`roboflow_batch::sandbox`), on the crate's own bounded
//!   HTTP/1.1 server, and deterministic test images (`roboflow_batch::testdata`).
//! - `webhook`: the webhook receiver (`roboflow_batch::webhook::Receiver`), on the same
//!   server.
//! - `cloud`: ingest from S3, GCS and Azure buckets by locally signed reference
//!   (`roboflow_batch::cloud`).
//! - `cli`: the `rfbatch` binary (includes `sandbox`, `webhook` and `cloud`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

pub mod api;
mod error;
pub mod export;
pub mod guide;
pub mod ids;
pub mod ingest;
pub mod jobs;
mod jsonl;
#[cfg(feature = "sandbox")]
mod media;
pub mod model;
mod owner_only;
#[cfg(any(feature = "sandbox", feature = "webhook"))]
mod panics;
pub mod progress;
mod rand;
pub mod redact;
#[cfg(any(feature = "sandbox", feature = "webhook"))]
mod server;
mod sync;
pub mod transport;
mod urls;
pub mod wait;
pub mod webhook;

pub use api::{BatchApi, BatchApiBuilder};
pub use error::{ApiError, Error, Result};
pub use model::{BatchId, JobId};

#[cfg(feature = "sandbox")]
pub mod sandbox;
#[cfg(feature = "sandbox")]
pub mod testdata;

#[cfg(feature = "cloud")]
pub mod cloud;

/// The README's Rust examples, compiled as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
