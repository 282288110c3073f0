//! Tar shard production from files in the page cache, on one core: the streaming
//! [`TarShard`] reader (what an upload sends) against `tar::Builder` writing the same
//! members into a `Vec` (what packing in memory costs).
//!
//! ```text
//! cargo bench --bench shard -- --warm-up-time 1 --measurement-time 5
//! ```

use std::io::Read;
use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use roboflow_batch::ingest::{TarEntry, TarShard};

/// `n` files of 50 to 250 KiB with pseudo-random bytes, written once (then cached).
fn files(dir: &std::path::Path, n: usize) -> Vec<(String, PathBuf, u64)> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = 50 * 1024 + (state % (200 * 1024)) as usize;
            let bytes: Vec<u8> = (0..len).map(|j| (j as u64 ^ state) as u8).collect();
            let name = format!("img-{i:05}.jpg");
            let path = dir.join(&name);
            std::fs::write(&path, &bytes).unwrap();
            (name, path, len as u64)
        })
        .collect()
}

fn shard_of(files: &[(String, PathBuf, u64)]) -> TarShard {
    let entries = files
        .iter()
        .map(|(name, path, len)| TarEntry::file(name.clone(), path.clone(), *len, None).unwrap())
        .collect();
    TarShard::new(entries)
}

/// Reads the whole shard through a 128 KiB buffer, as the HTTP client does.
fn stream(shard: &TarShard) -> u64 {
    let mut r = shard.reader();
    let mut buf = vec![0u8; 128 * 1024];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            return total;
        }
        total += std::hint::black_box(n) as u64;
    }
}

fn builder(files: &[(String, PathBuf, u64)], capacity: u64) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::with_capacity(capacity as usize));
    for (name, path, len) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(*len);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, std::fs::File::open(path).unwrap())
            .unwrap();
    }
    b.into_inner().unwrap()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("shard");
    for n in [64usize, 500] {
        let files = files(dir.path(), n);
        let shard = shard_of(&files);
        let len = shard.len();
        assert_eq!(stream(&shard), len);
        assert_eq!(builder(&files, len).len() as u64, len);
        g.throughput(Throughput::Bytes(len));
        let label = format!("{n}x50-250KiB");
        g.bench_with_input(BenchmarkId::new("streaming", &label), &shard, |b, s| {
            b.iter(|| stream(s))
        });
        g.bench_with_input(
            BenchmarkId::new("tar_builder_vec", &label),
            &files,
            |b, f| b.iter(|| builder(f, len)),
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
