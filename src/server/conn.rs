//! Serving one connection: heads, bodies and replies in turn, each under its deadline.

use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use super::body::Body;
use super::head::{self, HeadError};
use super::wire::{Pace, WireReader, WireWriter};
use super::{Conn, Reply, Shared};

/// How long a closing connection keeps reading what the client still sends.
const LINGER: Duration = Duration::from_millis(500);
/// The most bytes read while lingering.
const LINGER_MAX: u64 = 8 << 20;

pub(super) fn serve(conn: &Conn, shared: &Shared) {
    let stream = &conn.stream;
    let limits = &shared.config.limits;
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::with_capacity(64 * 1024, WireReader::new(stream, &shared.permits));
    let accepted = Instant::now();
    let mut first = true;
    loop {
        // Waiting for a head: the connection may be closed to make room at the cap. A new
        // connection has waited since it was accepted (its thread may start later).
        if !first {
            conn.waiting(shared.now());
        }
        // A new connection has the head deadline from accept; a kept-alive one waits
        // `idle_timeout` for the first byte, then has the head deadline from there.
        reader.get_mut().pace = Pace::Until(if first {
            accepted + limits.head_timeout
        } else {
            Instant::now() + limits.idle_timeout
        });
        match reader.fill_buf() {
            Ok([]) | Err(_) => return, // closed, reset, or silent: nothing to answer
            Ok(_) => {}
        }
        if !first {
            reader.get_mut().pace = Pace::Until(Instant::now() + limits.head_timeout);
        }
        first = false;
        let head = match head::read_head(&mut reader) {
            Ok(h) => h,
            Err(HeadError::Closed) => return,
            Err(HeadError::Bad(status, msg)) => {
                return close_with(stream, &mut reader, shared, Reply::error(status, msg));
            }
            Err(HeadError::Io(e)) => {
                if e.kind() == io::ErrorKind::TimedOut {
                    let reply = Reply::error(408, "the request head did not arrive in time");
                    close_with(stream, &mut reader, shared, reply);
                }
                return;
            }
        };
        if !conn.busy() {
            return; // closed to make room while its head arrived
        }
        if !serve_request(stream, &mut reader, shared, &head) {
            return;
        }
    }
}

/// Answers one request; false when the connection was closed.
fn serve_request(
    stream: &std::net::TcpStream,
    reader: &mut BufReader<WireReader<'_>>,
    shared: &Shared,
    head: &super::Head,
) -> bool {
    let limits = &shared.config.limits;
    let framing = match head.framing() {
        Ok(f) => f,
        Err((status, msg)) => {
            close_with(stream, reader, shared, Reply::error(status, msg));
            return false;
        }
    };
    let expect = head.header("expect").map(str::to_ascii_lowercase);
    if expect.as_deref().is_some_and(|e| e != "100-continue") {
        let reply = Reply::error(417, "only `Expect: 100-continue` is supported");
        close_with(stream, reader, shared, reply);
        return false;
    }
    let keep_alive = head.keep_alive();
    reader.get_mut().pace = Pace::rate(limits.grace, limits.min_rate, limits.io_timeout);
    reader.get_mut().take_permit();
    let mut continue_to = WireWriter::new(stream, Pace::rate(Duration::ZERO, 0, limits.io_timeout));
    let wants_continue = head.http11 && expect.is_some();
    let mut body = Body::new(
        reader,
        framing,
        wants_continue.then_some(&mut continue_to as &mut dyn Write),
    );
    let reply = match crate::panics::contain(|| (shared.handler)(head, &mut body)) {
        Ok(r) => r,
        Err(panic) => {
            eprintln!(
                "{}: a request handler panicked: {panic}",
                shared.config.name
            );
            Reply::error(500, "internal error: the request's handler panicked").closing()
        }
    };
    // The permit covers the handler only: draining and writing are bounded by deadlines.
    let reusable = keep_alive
        && !reply.closes()
        && !body.awaits_continue()
        && (body.is_done() || body.drain(limits.drain_max));
    reader.get_mut().return_permit();
    if !shared.config.latency.is_zero() {
        std::thread::sleep(shared.config.latency);
    }
    let pace = Pace::rate(limits.grace, limits.min_rate, limits.io_timeout);
    let mut writer = BufWriter::with_capacity(64 * 1024, WireWriter::new(stream, pace));
    let written = reply.write_to(
        &mut writer,
        shared.config.name,
        head.method == "HEAD",
        reusable,
    );
    if !written || !reusable {
        let _ = writer.flush();
        drop(writer);
        linger(stream, reader);
        return false;
    }
    true
}

/// Writes `reply` (closing) under a short deadline, then closes.
fn close_with(
    stream: &std::net::TcpStream,
    reader: &mut BufReader<WireReader<'_>>,
    shared: &Shared,
    reply: Reply,
) {
    let limits = &shared.config.limits;
    let pace = Pace::Until(Instant::now() + limits.io_timeout);
    let mut writer = BufWriter::new(WireWriter::new(stream, pace));
    reply
        .closing()
        .write_to(&mut writer, shared.config.name, false, false);
    drop(writer);
    linger(stream, reader);
}

/// Reads (and drops) what the client still sends, briefly, before closing: closing with
/// unread data makes the kernel reset the connection, and the client could lose the answer.
fn linger(stream: &std::net::TcpStream, reader: &mut BufReader<WireReader<'_>>) {
    let _ = stream.shutdown(Shutdown::Write);
    reader.get_mut().pace = Pace::Until(Instant::now() + LINGER);
    let _ = io::copy(&mut io::Read::take(reader, LINGER_MAX), &mut io::sink());
}
