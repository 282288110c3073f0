//! Batch processing handlers (placeholder).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use super::http::{Head, Reply};
use super::State;
use crate::error::Result;

/// Jobs, stages, tasks and logs.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct JobsData {}

impl State {
    pub(crate) fn jobs(&self, head: &Head, _rest: &[&str], _req: &mut tiny_http::Request) -> Reply {
        Reply::error(501, format!("{} not implemented yet", head.method))
    }

    /// Queues a webhook POST to `url` (delivered in the background, with retries).
    pub(crate) fn enqueue_webhook(&self, _url: &str, _payload: &crate::model::WebhookPayload) {}

    pub(crate) fn start_jobs_background(self: &Arc<Self>, _stopping: Arc<AtomicBool>) -> Result<Vec<JoinHandle<()>>> {
        Ok(Vec::new())
    }
}
