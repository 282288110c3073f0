//! Webhook delivery: a persisted queue drained by one background thread, with retries.
//! Only loopback hosts and the configured `webhook_allow` hosts are sent to; a refused
//! webhook is logged on stderr, recorded (and, for a job, in its logs), never sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::WebhookPayload;
use crate::sandbox::State;

const TICK: Duration = Duration::from_millis(10);

/// One webhook waiting for (re)delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingWebhook {
    id: u64,
    url: String,
    payload: WebhookPayload,
    /// The attempt to make next (1 = first).
    attempt: u32,
    /// When it is due, in milliseconds since the epoch.
    due_ms: u64,
    /// Taken by the delivery thread (not persisted: a restart retries it).
    #[serde(skip)]
    in_flight: bool,
}

use crate::sandbox::clock::now_ms;

impl super::JobsData {
    /// Queues a webhook; for callers that already hold the state lock.
    pub(crate) fn queue_webhook(&mut self, url: &str, payload: &WebhookPayload) {
        let id = self.next_seq;
        self.next_seq += 1;
        self.webhooks.push(PendingWebhook {
            id,
            url: url.to_string(),
            payload: payload.clone(),
            attempt: 1,
            due_ms: now_ms(),
            in_flight: false,
        });
    }
}

/// A webhook the sandbox refused to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RefusedWebhook {
    /// The URL, redacted.
    pub url: String,
    pub reason: String,
    pub at: crate::model::Timestamp,
}

/// The most refused webhooks remembered.
const MAX_REFUSED: usize = 1000;

impl State {
    /// Queues a webhook POST to `url`, delivered in the background with retries, if its
    /// host is allowed; else records the refusal.
    ///
    /// Takes the state lock.
    pub(crate) fn enqueue_webhook(&self, url: &str, payload: &WebhookPayload) {
        match crate::sandbox::egress::check_host(url, &self.config().webhook_allow) {
            Ok(()) => self.lock().jobs.queue_webhook(url, payload),
            Err(why) => self.refuse_webhook(url, payload, &why),
        }
    }

    fn refuse_webhook(&self, url: &str, payload: &WebhookPayload, why: &str) {
        let shown = crate::redact::redact_url(url);
        eprintln!("rfbatch sandbox: webhook to {shown} refused: {why}");
        let mut inner = self.lock();
        let list = &mut inner.jobs.refused_webhooks;
        if list.len() >= MAX_REFUSED {
            list.remove(0);
        }
        list.push(RefusedWebhook {
            url: shown.to_string(),
            reason: why.to_string(),
            at: crate::model::Timestamp::now(),
        });
        if let WebhookPayload::Job(j) = payload
            && let Some(job) = inner.jobs.jobs.get_mut(&j.job_id)
        {
            let msg = format!("webhook to {shown} refused: {why}");
            job.log(
                crate::model::LogSeverity::Warning,
                None,
                "webhook-refused",
                serde_json::json!({ "message": msg }),
            );
        }
        drop(inner);
        let _ = self.save();
    }

    pub(crate) fn start_webhook_thread(
        self: &Arc<Self>,
        stopping: Arc<AtomicBool>,
    ) -> std::io::Result<JoinHandle<()>> {
        let state = self.clone();
        std::thread::Builder::new()
            .name("sandbox-webhooks".into())
            .spawn(move || {
                let agent = crate::sandbox::egress::agent(Duration::from_secs(5));
                while !stopping.load(Ordering::SeqCst) {
                    match state.take_due_webhook() {
                        Some(w) => {
                            let ok =
                                crate::sandbox::panics::contain(|| state.post_webhook(&agent, &w))
                                    .unwrap_or(false);
                            state.settle_webhook(w.id, ok);
                        }
                        None => std::thread::sleep(TICK),
                    }
                }
            })
    }

    fn take_due_webhook(&self) -> Option<PendingWebhook> {
        let now = now_ms();
        let mut inner = self.lock();
        let w = inner
            .jobs
            .webhooks
            .iter_mut()
            .find(|w| !w.in_flight && w.due_ms <= now)?;
        w.in_flight = true;
        Some(w.clone())
    }

    /// One delivery attempt; true when the receiver answered 2xx, or when the webhook is
    /// refused (queued by an older sandbox with another allow list), which ends it.
    fn post_webhook(&self, agent: &ureq::Agent, w: &PendingWebhook) -> bool {
        if let Err(why) = crate::sandbox::egress::check_host(&w.url, &self.config().webhook_allow) {
            self.refuse_webhook(&w.url, &w.payload, &why);
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
        let auth = format!("Bearer rf_{}", self.workspace());
        match agent
            .post(&w.url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(&body[..])
        {
            Ok(resp) => resp.status().is_success(),
            Err(_) => false,
        }
    }

    /// Drops a delivered (or exhausted) webhook, or schedules its next attempt.
    fn settle_webhook(&self, id: u64, delivered: bool) {
        let max = self.config().webhook_max_attempts.max(1);
        let base = self.config().webhook_retry_delay;
        let mut inner = self.lock();
        let list = &mut inner.jobs.webhooks;
        let Some(pos) = list.iter().position(|w| w.id == id) else {
            return;
        };
        if delivered || list[pos].attempt >= max {
            list.remove(pos);
            return;
        }
        let w = &mut list[pos];
        let backoff = base.saturating_mul(1 << w.attempt.saturating_sub(1).min(10));
        w.attempt += 1;
        w.due_ms = crate::sandbox::clock::ms_after(backoff);
        w.in_flight = false;
    }
}
