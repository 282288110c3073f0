//! The connection's socket under deadlines, and the request permits. A socket timeout
//! bounds one read or write, so a client sending a byte just before each timeout would
//! hold on for ever: a [`Pace`] also bounds the whole, by a fixed instant or a minimum
//! average rate after a grace period.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The least timeout given to the socket (zero would mean none).
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// How long the reads or writes of one phase may take.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pace {
    /// Everything by this instant.
    Until(Instant),
    /// No single wait longer than `each`, and on average at least `min_rate` bytes a
    /// second once `grace` has passed since `start`.
    Rate {
        start: Instant,
        grace: Duration,
        min_rate: u64,
        each: Duration,
        moved: u64,
    },
}

impl Pace {
    /// A rate-bounded phase starting now.
    pub fn rate(grace: Duration, min_rate: u64, each: Duration) -> Pace {
        Pace::Rate {
            start: Instant::now(),
            grace,
            min_rate,
            each,
            moved: 0,
        }
    }

    /// How long the next wait may take, or `None` when the time is up.
    fn timeout(&self, now: Instant) -> Option<Duration> {
        match *self {
            Pace::Until(t) => t.checked_duration_since(now).filter(|d| !d.is_zero()),
            Pace::Rate {
                start,
                grace,
                min_rate,
                each,
                moved,
            } => {
                if min_rate == 0 {
                    return Some(each);
                }
                let earned = Duration::from_secs_f64(moved as f64 / min_rate as f64);
                let deadline = start.checked_add(grace.saturating_add(earned));
                match deadline {
                    None => Some(each),
                    Some(d) => d
                        .checked_duration_since(now)
                        .filter(|d| !d.is_zero())
                        .map(|d| d.min(each)),
                }
            }
        }
    }

    /// The timeout for the next wait, given to the socket by `apply` when it differs from
    /// `set` (the one it has); an error once the time is up.
    fn arm(
        &self,
        set: &mut Option<Duration>,
        apply: impl FnOnce(Option<Duration>) -> io::Result<()>,
    ) -> io::Result<()> {
        let timeout = self
            .timeout(Instant::now())
            .ok_or_else(too_slow)?
            .max(MIN_TIMEOUT);
        if *set != Some(timeout) {
            apply(Some(timeout))?;
            *set = Some(timeout);
        }
        Ok(())
    }

    fn moved(&mut self, n: usize) {
        if let Pace::Rate { moved, .. } = self {
            *moved = moved.saturating_add(n as u64);
        }
    }
}

fn too_slow() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the peer was too slow")
}

/// A socket timeout that expired reads as `WouldBlock` on Unix and `TimedOut` elsewhere.
fn timed_out(e: io::Error) -> io::Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => too_slow(),
        _ => e,
    }
}

/// A counting semaphore: the most handlers running at once.
#[derive(Debug)]
pub(crate) struct Permits {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Permits {
    pub fn new(n: usize) -> Permits {
        Permits {
            free: Mutex::new(n.max(1)),
            freed: Condvar::new(),
        }
    }

    fn acquire(&self) {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
    }

    fn release(&self) {
        *self.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.freed.notify_one();
    }
}

/// The reading side of a connection. A handler gives its permit back while a read waits, so
/// a slow body holds none (and handlers must not read one while holding a shared lock).
pub(crate) struct WireReader<'a> {
    stream: &'a TcpStream,
    pub pace: Pace,
    /// The socket's read timeout as last set, to set it only when it changes.
    set: Option<Duration>,
    permits: &'a Permits,
    holding: bool,
}

impl<'a> WireReader<'a> {
    pub fn new(stream: &'a TcpStream, permits: &'a Permits) -> WireReader<'a> {
        WireReader {
            stream,
            pace: Pace::Until(Instant::now()),
            set: None,
            permits,
            holding: false,
        }
    }

    /// Takes a permit for a handler (waiting for one to be free).
    pub fn take_permit(&mut self) {
        if !self.holding {
            self.permits.acquire();
            self.holding = true;
        }
    }

    /// Gives the permit back.
    pub fn return_permit(&mut self) {
        if std::mem::take(&mut self.holding) {
            self.permits.release();
        }
    }
}

impl Drop for WireReader<'_> {
    fn drop(&mut self) {
        self.return_permit();
    }
}

impl Read for WireReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let stream = self.stream;
        self.pace
            .arm(&mut self.set, |t| stream.set_read_timeout(t))?;
        if self.holding {
            self.permits.release();
        }
        let r = (&*self.stream).read(buf);
        if self.holding {
            self.permits.acquire();
        }
        let n = r.map_err(timed_out)?;
        self.pace.moved(n);
        Ok(n)
    }
}

/// The writing side of a connection.
pub(crate) struct WireWriter<'a> {
    stream: &'a TcpStream,
    pub pace: Pace,
    set: Option<Duration>,
}

impl<'a> WireWriter<'a> {
    pub fn new(stream: &'a TcpStream, pace: Pace) -> WireWriter<'a> {
        WireWriter {
            stream,
            pace,
            set: None,
        }
    }
}

impl Write for WireWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let stream = self.stream;
        self.pace
            .arm(&mut self.set, |t| stream.set_write_timeout(t))?;
        let n = (&*self.stream).write(buf).map_err(timed_out)?;
        self.pace.moved(n);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_ends_and_a_rate_earns_time() {
        let now = Instant::now();
        let until = Pace::Until(now + Duration::from_secs(2));
        assert_eq!(until.timeout(now), Some(Duration::from_secs(2)));
        assert_eq!(until.timeout(now + Duration::from_secs(3)), None);
        let mut rate = Pace::Rate {
            start: now,
            grace: Duration::from_secs(1),
            min_rate: 100,
            each: Duration::from_secs(10),
            moved: 0,
        };
        assert_eq!(rate.timeout(now), Some(Duration::from_secs(1)));
        assert_eq!(
            rate.timeout(now + Duration::from_secs(1)),
            None,
            "grace over"
        );
        rate.moved(250); // 2.5 s earned
        assert_eq!(
            rate.timeout(now + Duration::from_secs(1)),
            Some(Duration::from_millis(2500))
        );
        rate.moved(10_000); // far ahead: one wait is still capped
        assert_eq!(rate.timeout(now), Some(Duration::from_secs(10)));
        let free = Pace::rate(Duration::ZERO, 0, Duration::from_secs(5));
        assert_eq!(
            free.timeout(now + Duration::from_secs(99)),
            Some(Duration::from_secs(5))
        );
    }
}
