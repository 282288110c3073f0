//! An external sort, and the lists it is made of: a [`Tape`] gives records back in the
//! order they were written (or one at a time by position), a [`Sorter`] in byte order.
//! Both stay in memory up to a limit and then spill to unnamed temporary files (which the
//! OS deletes even when the process is killed), so memory does not grow with the number of
//! records.
//!
//! A record is a byte string; a sorter orders records by their bytes, so callers build
//! records whose byte order is the order they want (big-endian numbers, a `0` byte after
//! a path, which no path holds).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

/// Buffer of each reader and writer of a temporary file.
const IO_BUF: usize = 32 * 1024;
/// The most sorted runs kept on disk: past that they are merged into one, so a merge
/// never holds more than this many open files and buffers.
const MAX_RUNS: usize = 32;

fn tempfile() -> io::Result<File> {
    tempfile::tempfile()
}

fn write_record(w: &mut impl Write, rec: &[u8]) -> io::Result<()> {
    let len = u32::try_from(rec.len()).map_err(|_| io::Error::other("record over 4 GiB"))?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(rec)
}

/// Reads one record into `out`; `false` at the end.
fn read_record(r: &mut impl Read, out: &mut Vec<u8>) -> io::Result<bool> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    out.clear();
    let n = u32::from_le_bytes(len) as u64;
    let got = r.take(n).read_to_end(out)?;
    if got as u64 != n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "a temporary list was cut short",
        ));
    }
    Ok(true)
}

/// Records in the order written: in memory up to `limit` bytes, then in a temporary file.
pub(crate) struct Tape {
    mem: Vec<u8>,
    limit: usize,
    file: Option<BufWriter<File>>,
    /// The file's offset was moved by a reader: writes must seek to the end first.
    rewound: bool,
    records: u64,
    /// Bytes written: the position of the next record.
    bytes: u64,
}

impl Tape {
    /// A tape that keeps up to `limit` bytes in memory.
    pub fn new(limit: usize) -> Tape {
        Tape {
            mem: Vec::new(),
            limit,
            file: None,
            rewound: false,
            records: 0,
            bytes: 0,
        }
    }

    /// How many records were written.
    pub fn len(&self) -> u64 {
        self.records
    }

    /// Bytes held in memory.
    #[cfg(test)]
    pub fn in_memory(&self) -> usize {
        self.mem.len()
    }

    /// Appends a record; returns its position, for [`read_at`](Self::read_at).
    pub fn push(&mut self, rec: &[u8]) -> io::Result<u64> {
        let at = self.bytes;
        self.records += 1;
        self.bytes += 4 + rec.len() as u64;
        if self.file.is_none() && self.mem.len() + rec.len() + 4 > self.limit {
            let mut w = BufWriter::with_capacity(IO_BUF, tempfile()?);
            w.write_all(&self.mem)?;
            self.mem = Vec::new();
            self.file = Some(w);
        }
        match &mut self.file {
            None => write_record(&mut self.mem, rec)?,
            Some(w) => {
                if self.rewound {
                    w.seek(SeekFrom::End(0))?;
                    self.rewound = false;
                }
                write_record(w, rec)?;
            }
        }
        Ok(at)
    }

    /// The record at position `at` (as [`push`](Self::push) returned it) into `out`.
    pub fn read_at(&mut self, at: u64, out: &mut Vec<u8>) -> io::Result<bool> {
        match &mut self.file {
            None => read_record(&mut self.mem.get(at as usize..).unwrap_or_default(), out),
            Some(w) => {
                w.flush()?;
                self.rewound = true;
                let f = w.get_mut();
                f.seek(SeekFrom::Start(at))?;
                read_record(&mut BufReader::with_capacity(4096, f), out)
            }
        }
    }

    /// Reads the records from the first; the tape cannot be written while this is alive.
    pub fn reader(&mut self) -> io::Result<TapeReader<'_>> {
        match &mut self.file {
            None => Ok(TapeReader::Mem(&self.mem)),
            Some(w) => {
                w.flush()?;
                self.rewound = true;
                let f = w.get_mut();
                f.seek(SeekFrom::Start(0))?;
                Ok(TapeReader::File(BufReader::with_capacity(IO_BUF, f)))
            }
        }
    }

    /// The tape as a file positioned at its start (spilling it if it was in memory).
    fn into_file(mut self) -> io::Result<File> {
        let mut f = match self.file.take() {
            Some(w) => w.into_inner().map_err(|e| e.into_error())?,
            None => {
                let mut f = tempfile()?;
                f.write_all(&self.mem)?;
                f
            }
        };
        f.seek(SeekFrom::Start(0))?;
        Ok(f)
    }
}

/// Reads a [`Tape`] from its first record.
pub(crate) enum TapeReader<'a> {
    Mem(&'a [u8]),
    File(BufReader<&'a mut File>),
}

impl TapeReader<'_> {
    /// The next record into `out`; `false` at the end.
    pub fn next_into(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        match self {
            TapeReader::Mem(m) => read_record(m, out),
            TapeReader::File(r) => read_record(r, out),
        }
    }
}

/// Sorts records by their bytes: up to `limit` bytes are sorted in memory, and each time
/// that fills up it is written out as a sorted run; the runs are merged as they are read.
pub(crate) struct Sorter {
    arena: Vec<u8>,
    spans: Vec<(u32, u32)>,
    limit: usize,
    runs: Vec<File>,
    records: u64,
}

impl Sorter {
    /// A sorter that holds up to `limit` bytes in memory (records plus 8 bytes each).
    pub fn new(limit: usize) -> Sorter {
        Sorter {
            arena: Vec::new(),
            spans: Vec::new(),
            limit,
            runs: Vec::new(),
            records: 0,
        }
    }

    /// How many records were pushed.
    pub fn len(&self) -> u64 {
        self.records
    }

    /// Adds a record.
    pub fn push(&mut self, rec: &[u8]) -> io::Result<()> {
        let used = self.arena.len() + 8 * self.spans.len();
        if !self.spans.is_empty() && used + rec.len() + 8 > self.limit {
            self.spill()?;
        }
        let at = u32::try_from(self.arena.len()).map_err(|_| io::Error::other("sort buffer"))?;
        let len = u32::try_from(rec.len()).map_err(|_| io::Error::other("record over 4 GiB"))?;
        self.arena.extend_from_slice(rec);
        self.spans.push((at, len));
        self.records += 1;
        Ok(())
    }

    fn sort_spans(&mut self) {
        let arena = &self.arena;
        let slice = |&(at, len): &(u32, u32)| &arena[at as usize..(at + len) as usize];
        self.spans.sort_unstable_by(|a, b| slice(a).cmp(slice(b)));
    }

    /// Writes what is in memory as a sorted run, and merges the runs when there are many.
    fn spill(&mut self) -> io::Result<()> {
        self.sort_spans();
        let mut run = Tape::new(0);
        for &(at, len) in &self.spans {
            run.push(&self.arena[at as usize..(at + len) as usize])?;
        }
        self.runs.push(run.into_file()?);
        self.arena.clear();
        self.spans.clear();
        if self.runs.len() >= MAX_RUNS {
            let runs = std::mem::take(&mut self.runs);
            let mut merged = Sorted::new(Vec::new(), Vec::new(), runs, 0)?;
            let mut out = Tape::new(0);
            let mut rec = Vec::new();
            while merged.next_into(&mut rec)? {
                out.push(&rec)?;
            }
            self.runs.push(out.into_file()?);
        }
        Ok(())
    }

    /// The records in byte order.
    pub fn finish(mut self) -> io::Result<Sorted> {
        self.sort_spans();
        Sorted::new(self.arena, self.spans, self.runs, self.records)
    }
}

/// The next record of one source, in a min-heap.
struct Head {
    rec: Vec<u8>,
    src: usize,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: the smallest record is at the top of the heap.
        other
            .rec
            .cmp(&self.rec)
            .then_with(|| other.src.cmp(&self.src))
    }
}

/// A [`Sorter`]'s records in byte order; [`rewind`](Sorted::rewind) reads them again.
pub(crate) struct Sorted {
    arena: Vec<u8>,
    spans: Vec<(u32, u32)>,
    pos: usize,
    runs: Vec<BufReader<File>>,
    heap: BinaryHeap<Head>,
    records: u64,
}

impl Sorted {
    fn new(
        arena: Vec<u8>,
        spans: Vec<(u32, u32)>,
        runs: Vec<File>,
        records: u64,
    ) -> io::Result<Sorted> {
        let runs = runs
            .into_iter()
            .map(|f| BufReader::with_capacity(IO_BUF, f))
            .collect();
        let mut s = Sorted {
            arena,
            spans,
            pos: 0,
            runs,
            heap: BinaryHeap::new(),
            records,
        };
        s.start()?;
        Ok(s)
    }

    /// No records.
    pub fn empty() -> Sorted {
        Sorted {
            arena: Vec::new(),
            spans: Vec::new(),
            pos: 0,
            runs: Vec::new(),
            heap: BinaryHeap::new(),
            records: 0,
        }
    }

    /// How many records there are.
    pub fn len(&self) -> u64 {
        self.records
    }

    /// Reads source `src`'s next record into `buf`.
    fn fill(&mut self, src: usize, buf: &mut Vec<u8>) -> io::Result<bool> {
        match self.runs.get_mut(src) {
            Some(r) => read_record(r, buf),
            None => {
                let Some(&(at, len)) = self.spans.get(self.pos) else {
                    return Ok(false);
                };
                self.pos += 1;
                buf.clear();
                buf.extend_from_slice(&self.arena[at as usize..(at + len) as usize]);
                Ok(true)
            }
        }
    }

    fn start(&mut self) -> io::Result<()> {
        self.heap.clear();
        for src in 0..=self.runs.len() {
            let mut rec = Vec::new();
            if self.fill(src, &mut rec)? {
                self.heap.push(Head { rec, src });
            }
        }
        Ok(())
    }

    /// Starts again from the first record.
    pub fn rewind(&mut self) -> io::Result<()> {
        self.pos = 0;
        for r in &mut self.runs {
            r.seek(SeekFrom::Start(0))?;
        }
        self.start()
    }

    /// The next record into `out`; `false` at the end.
    pub fn next_into(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        let Some(mut head) = self.heap.pop() else {
            return Ok(false);
        };
        std::mem::swap(out, &mut head.rec);
        if self.fill(head.src, &mut head.rec)? {
            self.heap.push(head);
        }
        Ok(true)
    }
}

/// A reader of fixed-layout records: big-endian numbers and length-prefixed bytes.
pub(crate) struct Fields<'a>(pub &'a [u8]);

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a temporary record is cut short",
            ));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    pub fn u64(&mut self) -> io::Result<u64> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes(b.try_into().unwrap_or_default()))
    }

    pub fn u32(&mut self) -> io::Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes(b.try_into().unwrap_or_default()))
    }

    pub fn u8(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn bytes(&mut self) -> io::Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    pub fn str(&mut self) -> io::Result<&'a str> {
        std::str::from_utf8(self.bytes()?)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    pub fn fixed(&mut self, n: usize) -> io::Result<&'a [u8]> {
        self.take(n)
    }
}

/// Appends length-prefixed bytes (the counterpart of [`Fields::bytes`]).
pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(s: &mut Sorted) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut rec = Vec::new();
        while s.next_into(&mut rec).unwrap() {
            out.push(rec.clone());
        }
        out
    }

    #[test]
    fn a_tape_reads_back_in_order_in_memory_and_on_disk() {
        for limit in [1 << 20, 64] {
            let mut t = Tape::new(limit);
            for i in 0..1000u32 {
                t.push(format!("record {i}").as_bytes()).unwrap();
            }
            assert_eq!(t.len(), 1000);
            for _ in 0..2 {
                let mut r = t.reader().unwrap();
                let mut rec = Vec::new();
                let mut i = 0;
                while r.next_into(&mut rec).unwrap() {
                    assert_eq!(rec, format!("record {i}").as_bytes());
                    i += 1;
                }
                assert_eq!(i, 1000);
            }
            // Writing after reading appends.
            t.push(b"last").unwrap();
            let mut r = t.reader().unwrap();
            let mut rec = Vec::new();
            let mut n = 0;
            while r.next_into(&mut rec).unwrap() {
                n += 1;
            }
            assert_eq!((n, rec.as_slice()), (1001, &b"last"[..]));
            if limit == 64 {
                assert_eq!(t.in_memory(), 0, "spilled");
            }
        }
    }

    #[test]
    fn a_sorter_sorts_across_many_runs_and_rewinds() {
        let mut rng = crate::rand::FastRng::seeded(7);
        let recs: Vec<Vec<u8>> = (0..20_000)
            .map(|_| {
                let n = (rng.next_u64() % 12) as usize;
                (0..n).map(|_| (rng.next_u64() % 4) as u8).collect()
            })
            .collect();
        // A tiny limit: hundreds of runs, merged MAX_RUNS at a time along the way.
        let mut s = Sorter::new(512);
        for r in &recs {
            s.push(r).unwrap();
        }
        let mut sorted = s.finish().unwrap();
        assert_eq!(sorted.len(), 20_000);
        let mut want = recs.clone();
        want.sort();
        assert_eq!(drain(&mut sorted), want);
        sorted.rewind().unwrap();
        assert_eq!(drain(&mut sorted), want);
        assert!(drain(&mut Sorted::empty()).is_empty());
    }

    #[test]
    fn fields_round_trip_and_refuse_short_records() {
        let mut rec = Vec::new();
        rec.extend_from_slice(&7u64.to_be_bytes());
        put_bytes(&mut rec, "é.jpg".as_bytes());
        rec.push(3);
        let mut f = Fields(&rec);
        assert_eq!(f.u64().unwrap(), 7);
        assert_eq!(f.str().unwrap(), "é.jpg");
        assert_eq!(f.u8().unwrap(), 3);
        assert!(f.u8().is_err());
        assert!(Fields(&rec[..10]).u64().is_ok_and(|v| v == 7));
        let mut short = Fields(&rec[..10]);
        short.u64().unwrap();
        assert!(short.bytes().is_err());
    }
}
