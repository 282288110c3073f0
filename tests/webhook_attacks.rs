#![cfg(feature = "webhook")]
//! The webhook receiver against hostile requests (issue 14, finding 1): none of them stops
//! the process or the webhooks that follow. Each ran the old receiver (tiny_http) out of
//! memory or blocked its one thread.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::raw::{addr_of, send, status};
use roboflow_batch::webhook::{Event, Receiver};

const TOKEN: &str = "rf_acme";

fn job_body(id: &str) -> String {
    format!(
        r#"{{"type":"roboflow-batch-job-notification-v1","event_id":"{id}","job_id":"{id}","job_state":"success","delivery_attempt":1}}"#
    )
}

/// Posts one valid webhook with a fresh client; its status.
fn post(receiver: &Receiver, id: &str) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    agent
        .post(&receiver.url())
        .header("Authorization", format!("Bearer {TOKEN}"))
        .send(job_body(id))
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn receiver() -> (Receiver, mpsc::Receiver<Event>) {
    Receiver::builder()
        .bearer_token(TOKEN)
        .path("/hook")
        .spawn_channel()
        .unwrap()
}

#[test]
fn a_huge_content_length_is_answered_and_closed_without_allocating_it() {
    // tiny_http answered 404, then drained the unread body into one buffer of its whole
    // declared size: "memory allocation of 1000000000000000 bytes failed", and the
    // process was gone.
    let (receiver, events) = receiver();
    let addr = addr_of(&receiver.url());
    for head in [
        "POST /nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000000\r\n\r\n".to_string(),
        format!(
            "POST /hook HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 1000000000000000\r\n\r\n"
        ),
    ] {
        let s = send(addr, head.as_bytes());
        let got = status(&s, Duration::from_secs(10));
        assert!(matches!(got, Some(404 | 413)), "{got:?}");
        assert!(common::raw::closed_within(&s, Duration::from_secs(5)));
    }
    assert_eq!(post(&receiver, "after-huge"), 200);
    assert!(
        matches!(events.recv_timeout(Duration::from_secs(5)), Ok(Event::Job(j)) if j.job_id == "after-huge")
    );
}

#[test]
fn promised_bodies_that_never_come_do_not_block_valid_webhooks() {
    // The old receiver served one request at a time with no timeout: a body promised and
    // never sent held it, and every valid webhook timed out. (Bodies over 1 KiB, which
    // tiny_http did not read ahead.)
    let (receiver, events) = receiver();
    let addr = addr_of(&receiver.url());
    let head = format!(
        "POST /hook HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 100000\r\n\r\n{{"
    );
    let stalled: Vec<TcpStream> = (0..8).map(|_| send(addr, head.as_bytes())).collect();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    for i in 0..5 {
        assert_eq!(post(&receiver, &format!("valid-{i}")), 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    for i in 0..5 {
        let e = events.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(matches!(e, Event::Job(j) if j.job_id == format!("valid-{i}")));
    }
    drop(stalled);
}

#[test]
fn a_300_mb_header_line_is_refused_early_without_growing_memory() {
    // The old receiver read the whole line: a 300 MB header grew the process by 230 MB.
    let (receiver, events) = receiver();
    let addr = addr_of(&receiver.url());
    let before = common::raw::rss_kib();
    let mut s = send(
        addr,
        format!("POST /hook HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nX-Long: ").as_bytes(),
    );
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let chunk = vec![b'a'; 1 << 20];
    let mut sent = 0u64;
    while sent < 300 << 20 {
        if s.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len() as u64;
    }
    assert!(
        sent < 64 << 20,
        "the server read {} MiB of one header line before refusing it",
        sent >> 20
    );
    // The answer (a 431) may be lost to the reset that ends a refused upload; what counts
    // is that the connection ended early and the process did not grow.
    if let (Some(b), Some(a)) = (before, common::raw::rss_kib()) {
        assert!(
            a.saturating_sub(b) < 32 * 1024,
            "resident memory grew {} MiB",
            (a - b) >> 10
        );
    }
    assert_eq!(post(&receiver, "after-long"), 200);
    assert!(events.recv_timeout(Duration::from_secs(5)).is_ok());
}

#[test]
fn a_header_value_with_a_bare_cr_is_refused() {
    let (receiver, _events) = receiver();
    let addr = addr_of(&receiver.url());
    let body = job_body("cr");
    let head = format!(
        "POST /hook HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nX: a\rContent-Length: 5\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (statuses, text) = common::raw::exchange(addr, &[head.as_bytes()]);
    assert_eq!(statuses, [400], "{text}");
    assert_eq!(receiver.accepted(), 0);
}
