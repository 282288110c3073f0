#![cfg(feature = "sandbox")]
//! Clients that stall, trickle or never read hold only their own connections: the sandbox
//! keeps answering everyone else (issue 14, findings 2, 3 and 9). Each test reproduces an
//! attack against the real sandbox on loopback, with its default limits.

mod common;

use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::raw::{addr_of, send, signed_put_head, status};
use common::sandbox::*;
use roboflow_batch::api::UploadSource;
use roboflow_batch::sandbox::{Sandbox, SandboxConfig};

/// A normal request, timed from its start to its answer (a fresh client, no retries).
fn timed_normal_request(sb: &Sandbox) -> Duration {
    let started = Instant::now();
    let r = http("GET", &api_url(sb, ""), &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
    started.elapsed()
}

#[test]
fn stalled_bodies_on_the_api_do_not_stop_a_normal_request() {
    // Finding 2: 16 sockets (the default --threads) send a head that promises 1 MB and
    // nothing else. The permit was held while the unread body was drained (60 s a read).
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let addr = addr_of(sb.base_url());
    let head = format!(
        "GET /?api_key={} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n",
        sb.api_key()
    );
    let stalled: Vec<TcpStream> = (0..20).map(|_| send(addr, head.as_bytes())).collect();
    std::thread::sleep(Duration::from_millis(200));
    let took = timed_normal_request(&sb);
    assert!(took < Duration::from_secs(1), "answered in {took:?}");
    // Each was answered, and closed rather than drained (the body is over 64 KiB).
    for s in &stalled {
        assert_eq!(status(s, Duration::from_secs(10)), Some(200));
        assert!(common::raw::closed_within(s, Duration::from_secs(5)));
    }
}

#[test]
fn an_unread_body_is_drained_when_small_and_closes_the_connection_when_large() {
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let (addr, key) = (addr_of(sb.base_url()), sb.api_key());
    let get = format!("GET /?api_key={key} HTTP/1.1\r\nHost: x\r\n\r\n");
    // `GET /` reads no body: 1,000 bytes are drained and the connection serves the next.
    let small = format!(
        "{}Content-Length: 1000\r\n\r\n{}",
        &get[..get.len() - 2],
        "a".repeat(1000)
    );
    let (statuses, _) = common::raw::exchange(addr, &[small.as_bytes(), get.as_bytes()]);
    assert_eq!(statuses, [200, 200], "drained, kept alive");
    // Over 64 KiB: answered and closed, with nothing of the body read.
    let large = format!(
        "{}Content-Length: 1000000000000\r\n\r\n",
        &get[..get.len() - 2]
    );
    let (statuses, _) = common::raw::exchange(addr, &[large.as_bytes(), get.as_bytes()]);
    assert_eq!(statuses, [200], "closed after the answer");
}

#[test]
fn clients_that_never_read_a_large_download_do_not_stop_a_normal_request() {
    // Finding 2: 16 clients start a 32 MiB download and never read. Their replies were
    // written under the permit, with no write timeout.
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let api = client(&sb);
    let target = api.request_video_upload("big", "big.mp4", None).unwrap();
    api.put_signed(&target, &UploadSource::bytes(vec![7u8; 32 << 20]))
        .unwrap();
    let file = api.files("big", None, None).next().unwrap().unwrap();
    let path = file.download_url.split_once("//").unwrap().1;
    let path = &path[path.find('/').unwrap()..];
    let get = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    let addr = addr_of(sb.base_url());
    let readers: Vec<TcpStream> = (0..20).map(|_| send(addr, get.as_bytes())).collect();
    std::thread::sleep(Duration::from_millis(500));
    let took = timed_normal_request(&sb);
    assert!(took < Duration::from_secs(1), "answered in {took:?}");
    drop(readers);
}

#[test]
fn thirty_two_stalled_bodies_and_a_normal_request_is_answered_within_a_second() {
    // The "done when": bodies that handlers do read (a job's JSON, a signed PUT),
    // promised and never sent. A handler waiting for its client holds no permit.
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let api = client(&sb);
    let addr = addr_of(sb.base_url());
    let job = format!(
        "POST /batch-processing/v1/external/sandbox/jobs/stalled?api_key={} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{",
        sb.api_key()
    );
    let mut stalled: Vec<TcpStream> = (0..16).map(|_| send(addr, job.as_bytes())).collect();
    for _ in 0..16 {
        let target = api.request_shard_upload("stalled", None).unwrap();
        let head = signed_put_head(&target.upload_url, &target.extension_headers, 10 << 20);
        stalled.push(send(addr, head.as_bytes()));
    }
    std::thread::sleep(Duration::from_millis(300));
    let took = timed_normal_request(&sb);
    assert!(took < Duration::from_secs(1), "answered in {took:?}");
    // And real work goes on: an upload and a listing.
    api.upload_image("meanwhile", "a.png", &png(2, 2), None)
        .unwrap();
    assert_eq!(api.batch_count("meanwhile", None).unwrap(), 1);
    drop(stalled);
}

#[test]
fn six_hundred_connections_trickling_heads_and_a_normal_request_is_answered() {
    // Finding 3 and the "done when": more connections than the cap (512), each
    // trickling its head a byte at a time. New connections were all answered 503.
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let addr = addr_of(sb.base_url());
    let slow: Vec<TcpStream> = (0..600)
        .map(|_| send(addr, b"GET / HTTP/1.1\r\nX-Slow: "))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let trickle = {
        let stop = stop.clone();
        let slow: Vec<TcpStream> = slow.iter().map(|s| s.try_clone().unwrap()).collect();
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                for mut s in &slow {
                    let _ = s.set_nonblocking(true);
                    let _ = std::io::Write::write_all(&mut s, b"a");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let took = timed_normal_request(&sb);
    // The issue asks for a minute; making room takes no time.
    assert!(took < Duration::from_secs(10), "answered in {took:?}");
    // The room was made by closing the connections that waited longest in their heads.
    let closed = slow
        .iter()
        .take(100)
        .filter(|s| common::raw::closed_within(s, Duration::from_millis(20)))
        .count();
    assert!(closed >= 89, "{closed} of the 100 oldest were closed");
    stop.store(true, Ordering::SeqCst);
    trickle.join().unwrap();
}

#[test]
fn a_bare_cr_or_a_nul_in_a_header_is_refused() {
    // Finding 9: `X: a\rContent-Length: 5` was read as one header; a proxy that splits
    // lines on CR reads a Content-Length, and the two disagree on where the request ends.
    let sb = Sandbox::start(SandboxConfig::default()).unwrap();
    let addr = addr_of(sb.base_url());
    let key = sb.api_key();
    for head in [
        format!("GET /?api_key={key} HTTP/1.1\r\nHost: x\r\nX: a\rContent-Length: 5\r\n\r\nhello"),
        format!("GET /?api_key={key} HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n"),
        format!("GET /?api_key={key} HTTP/1.1\r\nHost: x\rX: b\r\n\r\n"),
    ] {
        let (statuses, text) = common::raw::exchange(addr, &[head.as_bytes()]);
        assert_eq!(statuses, [400], "{head:?}: {text}");
    }
    let ok = format!("GET /?api_key={key} HTTP/1.1\r\nHost: x\r\nX: a b\r\n\r\n");
    assert_eq!(common::raw::exchange(addr, &[ok.as_bytes()]).0, [200]);
}

#[test]
fn latency_delays_every_answer_once_even_in_parallel() {
    // `--latency-ms`: 8 parallel signed PUTs each see the latency once (not 8 times), even
    // with one handler at a time: the wait is outside the handler's turn.
    let latency = Duration::from_millis(300);
    let sb = Sandbox::start(
        SandboxConfig::default()
            .latency(latency)
            .threads(1)
            .indexing_delay(Duration::ZERO),
    )
    .unwrap();
    let api = client(&sb);
    let started = Instant::now();
    assert_eq!(api.workspace().unwrap(), "sandbox");
    assert!(started.elapsed() >= latency, "an API answer waits");
    let targets: Vec<_> = (0..8)
        .map(|_| api.request_shard_upload("far", None).unwrap())
        .collect();
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in &targets {
            let api = &api;
            s.spawn(move || {
                let tar = tar_of(&[("a.png", &png(2, 2))]);
                let t0 = Instant::now();
                api.put_signed(t, &UploadSource::bytes(tar)).unwrap();
                assert!(t0.elapsed() >= latency, "a signed PUT waits");
            });
        }
    });
    // Waited side by side: 8 waits in a row would take 2.4 s.
    assert!(started.elapsed() < latency * 6, "{:?}", started.elapsed());
    assert_eq!(sb.put_count(), 8);
}
