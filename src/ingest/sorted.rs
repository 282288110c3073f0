//! Per-file lists that spill to unnamed temporary files past a limit: a [`Tape`] (in
//! order, or by position) and a [`Sorter`]. A [`Record`]'s bytes sort as its value does.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Buffer of each reader and writer of a temporary file.
const IO_BUF: usize = 32 * 1024;
/// The most sorted runs on disk before they are merged: a bound on open files.
const MAX_RUNS: usize = 32;

/// A value kept on a [`Tape`] or in a [`Sorter`]; its bytes sort as it does.
pub(crate) trait Record: Sized {
    fn put(&self, out: &mut Vec<u8>);
    fn get(r: &mut &[u8]) -> io::Result<Self>;
}

fn short() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "a temporary record is cut short",
    )
}

fn take<'a>(r: &mut &'a [u8], n: usize) -> io::Result<&'a [u8]> {
    if r.len() < n {
        return Err(short());
    }
    let (head, rest) = r.split_at(n);
    *r = rest;
    Ok(head)
}

macro_rules! numbers {
    ($($t:ty),*) => {$(
        impl Record for $t {
            fn put(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
            fn get(r: &mut &[u8]) -> io::Result<Self> {
                let b = take(r, std::mem::size_of::<$t>())?;
                Ok(<$t>::from_be_bytes(b.try_into().map_err(|_| short())?))
            }
        }
    )*};
}
numbers!(u8, u32, u64, u128);

fn put_escaped(b: &[u8], out: &mut Vec<u8>) {
    for (i, part) in b.split(|&x| x == 0).enumerate() {
        if i > 0 {
            out.extend_from_slice(&[0, 1]);
        }
        out.extend_from_slice(part);
    }
    out.extend_from_slice(&[0, 0]);
}

impl Record for Vec<u8> {
    fn put(&self, out: &mut Vec<u8>) {
        put_escaped(self, out);
    }
    fn get(r: &mut &[u8]) -> io::Result<Self> {
        let mut v = Vec::new();
        loop {
            let at = r.iter().position(|&b| b == 0).ok_or_else(short)?;
            v.extend_from_slice(&r[..at]);
            if take(r, at + 2)?[at + 1] == 0 {
                return Ok(v);
            }
            v.push(0);
        }
    }
}

impl Record for String {
    fn put(&self, out: &mut Vec<u8>) {
        put_escaped(self.as_bytes(), out);
    }
    fn get(r: &mut &[u8]) -> io::Result<Self> {
        String::from_utf8(Vec::get(r)?).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

impl<T: Record> Record for Option<T> {
    fn put(&self, out: &mut Vec<u8>) {
        out.push(self.is_some().into());
        if let Some(v) = self {
            v.put(out);
        }
    }
    fn get(r: &mut &[u8]) -> io::Result<Self> {
        match u8::get(r)? {
            0 => Ok(None),
            _ => T::get(r).map(Some),
        }
    }
}

/// A time, as before or after the Unix epoch and how far.
impl Record for SystemTime {
    fn put(&self, out: &mut Vec<u8>) {
        let (after, d) = match self.duration_since(UNIX_EPOCH) {
            Ok(d) => (1u8, d),
            Err(e) => (0, e.duration()),
        };
        (after, d.as_secs(), d.subsec_nanos()).put(out);
    }
    fn get(r: &mut &[u8]) -> io::Result<Self> {
        let (after, secs, nanos) = <(u8, u64, u32)>::get(r)?;
        let d = Duration::new(secs, nanos);
        let t = if after == 1 {
            UNIX_EPOCH.checked_add(d)
        } else {
            UNIX_EPOCH.checked_sub(d)
        };
        t.ok_or_else(short)
    }
}

macro_rules! tuples {
    ($(($($n:tt $t:ident),*))*) => {$(
        impl<$($t: Record),*> Record for ($($t,)*) {
            fn put(&self, out: &mut Vec<u8>) {
                $(self.$n.put(out);)*
            }
            fn get(r: &mut &[u8]) -> io::Result<Self> {
                Ok(($($t::get(r)?,)*))
            }
        }
    )*};
}
tuples!((0 A, 1 B) (0 A, 1 B, 2 C));

/// Implements [`Record`] for a struct, field by field in the order given (its sort order).
macro_rules! record {
    ($t:ident { $($f:ident),* }) => {
        impl $crate::ingest::sorted::Record for $t {
            fn put(&self, out: &mut Vec<u8>) {
                $($crate::ingest::sorted::Record::put(&self.$f, out);)*
            }
            fn get(r: &mut &[u8]) -> std::io::Result<Self> {
                Ok($t { $($f: $crate::ingest::sorted::Record::get(r)?),* })
            }
        }
    };
}
pub(crate) use record;

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

/// The value of a record read into `rec`, when there was one.
fn decode<T: Record>(found: bool, rec: &[u8]) -> io::Result<Option<T>> {
    found.then(|| T::get(&mut &rec[..])).transpose()
}

/// Values in the order written: in memory up to `limit` bytes, then in a temporary file.
pub(crate) struct Tape<T> {
    mem: Vec<u8>,
    limit: usize,
    file: Option<BufWriter<File>>,
    /// The file's offset was moved by a reader: writes must seek to the end first.
    rewound: bool,
    records: u64,
    /// Bytes written: the position of the next record.
    bytes: u64,
    rec: Vec<u8>,
    _t: PhantomData<T>,
}

impl<T: Record> Tape<T> {
    pub fn new(limit: usize) -> Tape<T> {
        Tape {
            mem: Vec::new(),
            limit,
            file: None,
            rewound: false,
            records: 0,
            bytes: 0,
            rec: Vec::new(),
            _t: PhantomData,
        }
    }

    pub fn len(&self) -> u64 {
        self.records
    }

    #[cfg(test)]
    pub fn in_memory(&self) -> usize {
        self.mem.len()
    }

    /// Appends a value; returns its position, for [`read_at`](Self::read_at).
    pub fn push(&mut self, v: &T) -> io::Result<u64> {
        let mut rec = std::mem::take(&mut self.rec);
        rec.clear();
        v.put(&mut rec);
        let at = self.push_bytes(&rec);
        self.rec = rec;
        at
    }

    fn push_bytes(&mut self, rec: &[u8]) -> io::Result<u64> {
        let at = self.bytes;
        self.records += 1;
        self.bytes += 4 + rec.len() as u64;
        if self.file.is_none() && self.mem.len() + rec.len() + 4 > self.limit {
            let mut w = BufWriter::with_capacity(IO_BUF, tempfile::tempfile()?);
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

    /// The records from position `at`; the tape cannot be written while this is alive.
    fn from(&mut self, at: u64, buffer: usize) -> io::Result<Box<dyn Read + '_>> {
        let Some(w) = &mut self.file else {
            return Ok(Box::new(self.mem.get(at as usize..).unwrap_or_default()));
        };
        w.flush()?;
        self.rewound = true;
        let f = w.get_mut();
        f.seek(SeekFrom::Start(at))?;
        Ok(Box::new(BufReader::with_capacity(buffer, f)))
    }

    /// The value at position `at`, as [`push`](Self::push) returned it.
    pub fn read_at(&mut self, at: u64) -> io::Result<T> {
        let mut rec = Vec::new();
        let found = read_record(&mut self.from(at, 4096)?, &mut rec)?;
        decode(found, &rec)?.ok_or_else(short)
    }

    /// Reads the values from the first.
    pub fn reader(&mut self) -> io::Result<TapeReader<'_, T>> {
        let src = self.from(0, IO_BUF)?;
        Ok(TapeReader {
            src,
            rec: Vec::new(),
            _t: PhantomData,
        })
    }

    /// The tape as a file positioned at its start (spilling it if it was in memory).
    fn into_file(mut self) -> io::Result<File> {
        let mut f = match self.file.take() {
            Some(w) => w.into_inner().map_err(|e| e.into_error())?,
            None => {
                let mut f = tempfile::tempfile()?;
                f.write_all(&self.mem)?;
                f
            }
        };
        f.seek(SeekFrom::Start(0))?;
        Ok(f)
    }
}

/// Reads a [`Tape`] from its first value.
pub(crate) struct TapeReader<'a, T> {
    src: Box<dyn Read + 'a>,
    rec: Vec<u8>,
    _t: PhantomData<T>,
}

impl<T: Record> TapeReader<'_, T> {
    pub fn next(&mut self) -> io::Result<Option<T>> {
        let found = read_record(&mut self.src, &mut self.rec)?;
        decode(found, &self.rec)
    }
}

/// Sorts values: `limit` bytes at a time in memory, spilled as sorted runs, merged on read.
pub(crate) struct Sorter<T> {
    arena: Vec<u8>,
    spans: Vec<(u32, u32)>,
    limit: usize,
    runs: Vec<File>,
    records: u64,
    _t: PhantomData<T>,
}

impl<T: Record> Sorter<T> {
    /// A sorter that holds up to `limit` bytes in memory (records plus 8 bytes each).
    pub fn new(limit: usize) -> Sorter<T> {
        Sorter {
            arena: Vec::new(),
            spans: Vec::new(),
            limit,
            runs: Vec::new(),
            records: 0,
            _t: PhantomData,
        }
    }

    pub fn len(&self) -> u64 {
        self.records
    }

    /// Adds a value.
    pub fn push(&mut self, v: &T) -> io::Result<()> {
        let start = self.arena.len();
        v.put(&mut self.arena);
        let len = self.arena.len() - start;
        if !self.spans.is_empty() && start + 8 * self.spans.len() + len + 8 > self.limit {
            let rec = self.arena.split_off(start);
            self.spill()?;
            self.arena = rec;
        }
        let at = self.arena.len() - len;
        let at = u32::try_from(at).map_err(|_| io::Error::other("sort buffer"))?;
        let len = u32::try_from(len).map_err(|_| io::Error::other("record over 4 GiB"))?;
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
        let mut run = Tape::<T>::new(0);
        for &(at, len) in &self.spans {
            run.push_bytes(&self.arena[at as usize..(at + len) as usize])?;
        }
        self.runs.push(run.into_file()?);
        self.arena.clear();
        self.spans.clear();
        if self.runs.len() >= MAX_RUNS {
            let runs = std::mem::take(&mut self.runs);
            let mut merged = Sorted::<T>::new(Sorter {
                runs,
                ..Sorter::new(0)
            })?;
            let mut out = Tape::<T>::new(0);
            let mut rec = Vec::new();
            while merged.next_bytes(&mut rec)? {
                out.push_bytes(&rec)?;
            }
            self.runs.push(out.into_file()?);
        }
        Ok(())
    }

    /// The values in sorted order.
    pub fn finish(mut self) -> io::Result<Sorted<T>> {
        self.sort_spans();
        Sorted::new(self)
    }
}

/// A [`Sorter`]'s values in order; [`rewind`](Sorted::rewind) reads them again.
#[derive(Default)]
pub(crate) struct Sorted<T> {
    arena: Vec<u8>,
    spans: Vec<(u32, u32)>,
    pos: usize,
    runs: Vec<BufReader<File>>,
    /// The next record of each source, smallest first.
    heap: BinaryHeap<Reverse<(Vec<u8>, usize)>>,
    records: u64,
    rec: Vec<u8>,
    _t: PhantomData<T>,
}

impl<T: Record> Sorted<T> {
    /// The values of `s`, whose spans are sorted.
    fn new(s: Sorter<T>) -> io::Result<Sorted<T>> {
        let mut s = Sorted {
            runs: (s.runs.into_iter())
                .map(|f| BufReader::with_capacity(IO_BUF, f))
                .collect(),
            arena: s.arena,
            spans: s.spans,
            records: s.records,
            pos: 0,
            heap: BinaryHeap::new(),
            rec: Vec::new(),
            _t: PhantomData,
        };
        s.start()?;
        Ok(s)
    }

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
                self.heap.push(Reverse((rec, src)));
            }
        }
        Ok(())
    }

    pub fn rewind(&mut self) -> io::Result<()> {
        self.pos = 0;
        for r in &mut self.runs {
            r.seek(SeekFrom::Start(0))?;
        }
        self.start()
    }

    /// The next record into `out`; `false` at the end.
    fn next_bytes(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        let Some(Reverse((mut rec, src))) = self.heap.pop() else {
            return Ok(false);
        };
        std::mem::swap(out, &mut rec);
        if self.fill(src, &mut rec)? {
            self.heap.push(Reverse((rec, src)));
        }
        Ok(true)
    }

    pub fn next(&mut self) -> io::Result<Option<T>> {
        let mut rec = std::mem::take(&mut self.rec);
        let found = self.next_bytes(&mut rec);
        self.rec = rec;
        decode(found?, &self.rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain<T: Record>(s: &mut Sorted<T>) -> Vec<T> {
        std::iter::from_fn(|| s.next().unwrap()).collect()
    }

    #[test]
    fn a_tape_reads_back_in_order_in_memory_and_on_disk() {
        for limit in [1 << 20, 64] {
            let mut t = Tape::<String>::new(limit);
            let at: Vec<u64> = (0..1000)
                .map(|i| t.push(&format!("record {i}")).unwrap())
                .collect();
            assert_eq!(t.len(), 1000);
            let want: Vec<String> = (0..1000).map(|i| format!("record {i}")).collect();
            for _ in 0..2 {
                let mut r = t.reader().unwrap();
                assert_eq!(
                    std::iter::from_fn(|| r.next().unwrap()).collect::<Vec<_>>(),
                    want
                );
            }
            assert_eq!(t.read_at(at[517]).unwrap(), want[517]);
            // Writing after reading appends.
            t.push(&"last".into()).unwrap();
            assert_eq!(t.in_memory() == 0, limit == 64, "spilled");
            let mut r = t.reader().unwrap();
            let all: Vec<String> = std::iter::from_fn(|| r.next().unwrap()).collect();
            assert_eq!((all.len(), all[1000].as_str()), (1001, "last"));
        }
    }

    #[test]
    fn a_sorter_sorts_across_many_runs_and_rewinds() {
        let mut rng = crate::rand::FastRng::seeded(7);
        // Bytes 0 to 3: the escaping of `0` must keep the order of the values.
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
        assert!(drain(&mut Sorted::<(u64, u32)>::default()).is_empty());
    }

    #[test]
    fn records_round_trip_and_refuse_short_ones() {
        type Rec = (Option<SystemTime>, String, Option<u64>);
        let before = UNIX_EPOCH - Duration::new(5, 7);
        let cases: [Rec; 3] = [
            (Some(before), "é.jpg".into(), Some(7)),
            (Some(UNIX_EPOCH + Duration::new(9, 1)), "a\0b".into(), None),
            (None, String::new(), Some(0)),
        ];
        for v in cases {
            let mut rec = Vec::new();
            v.put(&mut rec);
            assert_eq!(Rec::get(&mut &rec[..]).unwrap(), v);
            assert!(Rec::get(&mut &rec[..rec.len() - 1]).is_err());
        }
    }
}
