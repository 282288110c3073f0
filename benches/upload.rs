//! Upload throughput over loopback: the raw transport into a sink server, and a signed-URL
//! shard upload into the sandbox, in its two store modes: `disk` (streamed to disk, indexed
//! in the background) and `discard` (indexed from the tar headers as it streams in, bytes
//! dropped). Shards hold 256 KiB PNG-headed members, so both modes index real entries.
//!
//! ```text
//! cargo bench --bench upload --features sandbox -- --warm-up-time 1 --measurement-time 5
//! ```

#[path = "../tests/common/server.rs"]
mod test_server;

use std::io::{self, Read};
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use roboflow_batch::BatchApi;
use roboflow_batch::api::UploadSource;
use roboflow_batch::sandbox::{Sandbox, SandboxConfig, StoreMode};
use roboflow_batch::transport::{Body, HttpRequest, Method, Transport, UreqTransport};

const SIZES: &[u64] = &[8 << 20, 64 << 20];

/// Yields `left` bytes of a cheap pattern without holding them.
struct Pattern {
    left: u64,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.left as usize);
        buf[..n].fill(0xA5);
        self.left -= n as u64;
        Ok(n)
    }
}

/// A server that reads and discards every body: the loopback ceiling.
fn sink_server() -> String {
    let server = test_server::TestServer::start_on([127, 0, 0, 1].into(), 0, |_| {
        test_server::Response::status(200)
    });
    server.url("/sink")
}

/// The size of each shard member.
const MEMBER: u64 = 256 << 10;

/// A tar of about `len` bytes of 256 KiB members that start like PNGs, built once.
fn tar_of(len: u64) -> Vec<u8> {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x10\0\0\0\x10\x08\x02\0\0\0\0\0\0\0";
    let mut b = tar::Builder::new(Vec::new());
    for i in 0..(len / (MEMBER + 512)).max(1) {
        let mut data = png.to_vec();
        data.resize(MEMBER as usize, 0xA5);
        let mut h = tar::Header::new_gnu();
        h.set_size(MEMBER);
        h.set_mode(0o644);
        b.append_data(&mut h, format!("img-{i:05}.png"), &data[..])
            .unwrap();
    }
    b.into_inner().unwrap()
}

/// A data directory on tmpfs where there is one, so the figure is the sandbox's, not the disk's.
fn scratch_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .unwrap()
}

fn bench_upload(c: &mut Criterion) {
    let mut g = c.benchmark_group("upload");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let sink = sink_server();
    let transport = UreqTransport::new();
    for &len in SIZES {
        g.throughput(Throughput::Bytes(len));
        let label = format!("{}MiB", len >> 20);
        g.bench_with_input(
            BenchmarkId::new("transport_to_sink", &label),
            &len,
            |b, &len| {
                b.iter(|| {
                    let req = HttpRequest::new(Method::Put, sink.clone())
                        .body(Body::sized(Pattern { left: len }, len));
                    assert_eq!(transport.send(req).unwrap().status, 200);
                })
            },
        );
        let tar_bytes = tar_of(len);
        g.throughput(Throughput::Bytes(tar_bytes.len() as u64));
        let tar = UploadSource::bytes(tar_bytes);
        // Disk mode keeps the benchmark names it had before the discard mode existed.
        for (suffix, store) in [("", StoreMode::Disk), ("_discard", StoreMode::Discard)] {
            // One shard into a fresh sandbox per iteration: the sandbox's own cost, without
            // the growth of gigabytes stored by earlier iterations.
            g.bench_with_input(
                BenchmarkId::new(format!("shard_into_fresh_sandbox{suffix}"), &label),
                &len,
                |b, _| {
                    b.iter_batched(
                        || {
                            let dir = scratch_dir();
                            let sb = Sandbox::start(
                                SandboxConfig::default().data_dir(dir.path()).store(store),
                            )
                            .unwrap();
                            let api = BatchApi::builder()
                                .base_url(sb.base_url())
                                .api_key(sb.api_key())
                                .build()
                                .unwrap();
                            let target = api.request_shard_upload("bench", None).unwrap();
                            (dir, sb, api, target)
                        },
                        |(dir, sb, api, target)| {
                            api.put_signed(&target, &tar).unwrap();
                            (dir, sb)
                        },
                        BatchSize::PerIteration,
                    )
                },
            );
            // Shard after shard into one sandbox, signed-URL request included.
            let dir = scratch_dir();
            let sb =
                Sandbox::start(SandboxConfig::default().data_dir(dir.path()).store(store)).unwrap();
            let api = BatchApi::builder()
                .base_url(sb.base_url())
                .api_key(sb.api_key())
                .build()
                .unwrap();
            g.bench_with_input(
                BenchmarkId::new(format!("shard_into_sandbox_sustained{suffix}"), &label),
                &len,
                |b, _| {
                    b.iter(|| {
                        let target = api.request_shard_upload("bench", None).unwrap();
                        api.put_signed(&target, &tar).unwrap();
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, bench_upload);
criterion_main!(benches);
