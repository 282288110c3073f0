//! A blocking, runtime-free client for the Roboflow Batch Processing API.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

pub mod api;
pub mod error;
pub mod model;
pub mod redact;
pub mod transport;
mod url;

pub use api::{BatchApi, BatchApiBuilder};
pub use error::{ApiError, Error, Result};
pub use model::{BatchId, JobId};
#[cfg(feature = "sandbox")]
pub mod sandbox;
