//! Delivering the webhooks of the outbox (jobs' and ingests'): one background thread,
//! with retries, authenticated as the service does (`Bearer rf_<workspace>`).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread::JoinHandle;
use std::time::Duration;

use super::super::egress::{agent, check_host};
use super::super::outbox::PendingWebhook;
use super::super::state::{Data, State, background};
use crate::error::Result;
use crate::model::{LogSeverity, WebhookPayload};

pub(crate) fn start(state: &Arc<State>, stop: &Arc<AtomicBool>) -> Result<JoinHandle<()>> {
    let state = state.clone();
    let agent = agent(Duration::from_secs(5), Duration::from_secs(5));
    let c = &state.config;
    let retries = (c.webhook_max_attempts, c.webhook_retry_delay);
    let idle = Duration::from_millis(10);
    background("sandbox-webhooks", stop, idle, move || {
        let Some(w) = state.lock().webhooks.take_due() else {
            return false;
        };
        let delivered = crate::panics::contain(|| post(&state, &agent, &w)).unwrap_or(false);
        state.lock().webhooks.settle(w.id, delivered, retries);
        state.save();
        true
    })
}

/// Logs a refused webhook in the job it is about, if any.
pub(crate) fn log_refusal(data: &mut Data, payload: &WebhookPayload, message: String) {
    if let WebhookPayload::Job(j) = payload
        && let Some(job) = data.jobs.jobs.get_mut(&j.job_id)
    {
        let payload = serde_json::json!({ "message": message });
        job.log(LogSeverity::Warning, None, "webhook-refused", payload);
    }
}

/// One delivery attempt; true when the receiver answered 2xx, or when the webhook is
/// refused (queued by a sandbox with another allow list), which ends it.
fn post(state: &State, agent: &ureq::Agent, w: &PendingWebhook) -> bool {
    if let Err(why) = check_host(&w.url, &state.config.webhook_allow) {
        let mut data = state.lock();
        let message = data.webhooks.refuse(&w.url, &why);
        log_refusal(&mut data, &w.payload, message);
        return true;
    }
    let mut payload = w.payload.clone();
    match &mut payload {
        WebhookPayload::Job(j) => j.delivery_attempt = w.attempt,
        WebhookPayload::Ingest(i) => i.delivery_attempt = w.attempt,
    }
    let Ok(body) = serde_json::to_vec(&payload) else {
        return true;
    };
    let auth = format!("Bearer rf_{}", state.config.workspace);
    let sent = agent
        .post(&w.url)
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .send(&body[..]);
    sent.is_ok_and(|resp| resp.status().is_success())
}
