//! The webhooks waiting to be sent, persisted with the state so that a restart delivers
//! them, and those refused by the host rule. Only loopback hosts and the configured
//! `webhook_allow` hosts are sent to; a refusal is logged on stderr and recorded, never sent.

use serde::{Deserialize, Serialize};

use std::time::Duration;

use super::clock::{ms_after, now_ms};
use crate::model::{Timestamp, WebhookPayload};

/// The most refused webhooks remembered.
const MAX_REFUSED: usize = 1000;

/// `Err` with the message that says why a webhook was refused.
pub(crate) type Refused = Result<(), String>;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Outbox {
    pub pending: Vec<PendingWebhook>,
    /// Latest last.
    pub refused: Vec<RefusedWebhook>,
    next_id: u64,
}

/// One webhook waiting for (re)delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingWebhook {
    pub id: u64,
    pub url: String,
    pub payload: WebhookPayload,
    /// The attempt to make next (1 = first).
    pub attempt: u32,
    /// When it is due, in milliseconds since the epoch.
    due_ms: u64,
    /// Taken by the delivery thread (not persisted: a restart retries it).
    #[serde(skip)]
    in_flight: bool,
}

/// A webhook the sandbox refused to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RefusedWebhook {
    /// The URL, redacted.
    pub url: String,
    pub reason: String,
    pub at: Timestamp,
}

impl Outbox {
    /// Queues a webhook POST to `url` if its host is allowed; else records the refusal and
    /// returns the message that says why (its URL redacted).
    pub fn push(&mut self, url: &str, payload: &WebhookPayload, allow: &[String]) -> Refused {
        if let Err(why) = super::egress::check_host(url, allow) {
            return Err(self.refuse(url, &why));
        }
        self.next_id += 1;
        self.pending.push(PendingWebhook {
            id: self.next_id,
            url: url.to_string(),
            payload: payload.clone(),
            attempt: 1,
            due_ms: now_ms(),
            in_flight: false,
        });
        Ok(())
    }

    /// Records a refusal; returns its message.
    pub fn refuse(&mut self, url: &str, why: &str) -> String {
        let shown = crate::redact::redact_url(url);
        let message = format!("webhook to {shown} refused: {why}");
        eprintln!("rfbatch sandbox: {message}");
        if self.refused.len() >= MAX_REFUSED {
            self.refused.remove(0);
        }
        self.refused.push(RefusedWebhook {
            url: shown,
            reason: why.to_string(),
            at: Timestamp::now(),
        });
        message
    }

    /// The next webhook due, marked as taken.
    pub fn take_due(&mut self) -> Option<PendingWebhook> {
        let now = now_ms();
        let w = self
            .pending
            .iter_mut()
            .find(|w| !w.in_flight && w.due_ms <= now)?;
        w.in_flight = true;
        Some(w.clone())
    }

    /// Drops a delivered (or exhausted) webhook, or schedules its next attempt after
    /// `first_delay`, doubled for each attempt made.
    pub fn settle(&mut self, id: u64, delivered: bool, (max, first_delay): (u32, Duration)) {
        let Some(pos) = self.pending.iter().position(|w| w.id == id) else {
            return;
        };
        let w = &mut self.pending[pos];
        if delivered || w.attempt >= max.max(1) {
            self.pending.remove(pos);
            return;
        }
        w.due_ms = ms_after(first_delay.saturating_mul(1 << w.attempt.saturating_sub(1).min(10)));
        w.attempt += 1;
        w.in_flight = false;
    }
}
