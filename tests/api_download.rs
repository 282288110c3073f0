//! `download_to_file` against a local raw HTTP server that can cut a body short, honour,
//! ignore or garble `Range`, and hold responses so that downloads overlap.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use roboflow_batch::api::{Clock, DownloadOptions, RetryPolicy};
use roboflow_batch::{BatchApi, Error};

const MIB: usize = 1 << 20;

#[derive(Clone, Copy, PartialEq)]
enum Ranges {
    /// 206 with the rest of the file.
    Honour,
    /// Always 200 with the whole file.
    Ignore,
    /// 206 from byte 0, whatever was asked.
    Wrong,
    /// 416 Range Not Satisfiable to any range (the file changed under the server).
    Refuse,
}

#[derive(Clone)]
struct Config {
    files: HashMap<String, Vec<u8>>,
    ranges: Ranges,
    /// Requests with these numbers (0-based) are cut at this fraction of the file.
    cut: Vec<usize>,
    cut_at: f64,
    /// Hold every response until this many requests have arrived.
    gate: usize,
}

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    range: Option<String>,
    accept_encoding: Option<String>,
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    let mut s = seed as u32 | 1;
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (s >> 16) as u8
        })
        .collect()
}

/// Serves `config` on 127.0.0.1, one request per connection.
fn serve(config: Config) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let gate = Arc::new((Mutex::new(0usize), Condvar::new()));
    let config = Arc::new(config);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let (log, gate, config) = (log.clone(), gate.clone(), config.clone());
            thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = Vec::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    head.push(line.trim_end().to_string());
                }
                let path = head[0].split(' ').nth(1).unwrap().to_string();
                let header = |name: &str| {
                    head.iter().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                    })
                };
                let s = Seen {
                    path: path.split('?').next().unwrap().to_string(),
                    range: header("range"),
                    accept_encoding: header("accept-encoding"),
                };
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push(s.clone());
                    log.len() - 1
                };
                {
                    let (count, cv) = &*gate;
                    let mut c = count.lock().unwrap();
                    *c += 1;
                    cv.notify_all();
                    while *c < config.gate {
                        c = cv.wait(c).unwrap();
                    }
                }
                let file = &config.files[&s.path];
                let len = file.len();
                let asked = s
                    .range
                    .as_deref()
                    .and_then(|r| r.strip_prefix("bytes="))
                    .and_then(|r| r.strip_suffix('-'))
                    .and_then(|r| r.parse::<usize>().ok());
                let (status, start, extra) = match (asked, config.ranges) {
                    (Some(from), Ranges::Honour) => (
                        "206 Partial Content",
                        from,
                        format!("Content-Range: bytes {from}-{}/{len}\r\n", len - 1),
                    ),
                    (Some(_), Ranges::Wrong) => (
                        "206 Partial Content",
                        0,
                        format!("Content-Range: bytes 0-{}/{len}\r\n", len - 1),
                    ),
                    (Some(_), Ranges::Refuse) => {
                        let _ = stream.write_all(
                            format!("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
                        );
                        return;
                    }
                    _ => ("200 OK", 0, String::new()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n{extra}Connection: close\r\n\r\n",
                    len - start
                );
                let _ = stream.write_all(head.as_bytes());
                let end = if config.cut.contains(&n) {
                    ((len as f64 * config.cut_at) as usize).max(start)
                } else {
                    len
                };
                for chunk in file[start..end].chunks(64 * 1024) {
                    if stream.write_all(chunk).is_err() {
                        return;
                    }
                }
                let _ = stream.flush();
                let _ = stream.shutdown(Shutdown::Write);
            });
        }
    });
    (base, seen)
}

fn api(max_retries: u32) -> BatchApi {
    BatchApi::builder()
        .base_url("http://api.test")
        .api_key("download-test-key")
        .workspace("ws")
        .clock(Clock::system().sleep_fn(|_| {}))
        .retry_policy(RetryPolicy {
            max_retries,
            ..RetryPolicy::default()
        })
        .build()
        .unwrap()
}

fn one_file(ranges: Ranges, cut: Vec<usize>) -> (Vec<u8>, Config) {
    let bytes = data(MIB, 7);
    let config = Config {
        files: HashMap::from([("/export.tar".to_string(), bytes.clone())]),
        ranges,
        cut,
        cut_at: 0.4,
        gate: 0,
    };
    (bytes, config)
}

/// Every name in `dir`.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_cut_download_resumes_with_range() {
    let (bytes, config) = one_file(Ranges::Honour, vec![0]);
    let (base, seen) = serve(config);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.tar");
    let n = api(4)
        .download_to_file(&format!("{base}/export.tar?sig=s3cr3t"), &path)
        .unwrap();
    assert_eq!(n, MIB as u64);
    assert!(std::fs::read(&path).unwrap() == bytes, "bytes differ");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].range, None);
    let cut = (MIB as f64 * 0.4) as usize;
    assert_eq!(seen[1].range.as_deref(), Some(&*format!("bytes={cut}-")));
    assert!(
        seen.iter()
            .all(|s| s.accept_encoding.as_deref() == Some("identity"))
    );
    assert_eq!(names(dir.path()), vec!["export.tar"]);
}

#[test]
fn without_range_support_the_download_starts_over() {
    for ranges in [Ranges::Ignore, Ranges::Wrong, Ranges::Refuse] {
        let (bytes, config) = one_file(ranges, vec![0]);
        let (base, seen) = serve(config);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.tar");
        let n = api(4)
            .download_to_file(&format!("{base}/export.tar"), &path)
            .unwrap();
        assert_eq!(n, MIB as u64);
        assert!(std::fs::read(&path).unwrap() == bytes, "bytes differ");
        assert_eq!(names(dir.path()), vec!["export.tar"]);
        let seen = seen.lock().unwrap();
        // Ignored: the 200 to the range request is taken from the start. Wrong: the
        // mismatched 206 is refused, and Refuse's 416 ends the range, so a third request
        // asks for the whole file.
        let want = if ranges == Ranges::Ignore { 2 } else { 3 };
        assert_eq!(seen.len(), want, "{seen:?}");
        assert_eq!(
            seen.last().unwrap().range.is_some(),
            ranges == Ranges::Ignore
        );
    }
}

#[test]
fn two_parallel_downloads_to_one_name_both_succeed() {
    let (a, b) = (data(MIB, 1), data(MIB, 2));
    let config = Config {
        files: HashMap::from([("/a".to_string(), a.clone()), ("/b".to_string(), b.clone())]),
        ranges: Ranges::Honour,
        cut: vec![],
        cut_at: 0.0,
        // Both requests are in flight before either body is sent.
        gate: 2,
    };
    let (base, _) = serve(config);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("same.bin");
    let api = Arc::new(api(0));
    let handles: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|which| {
            let (api, path, url) = (api.clone(), path.clone(), format!("{base}/{which}"));
            thread::spawn(move || api.download_to_file(&url, &path))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap(), MIB as u64);
    }
    let got = std::fs::read(&path).unwrap();
    assert!(got == a || got == b, "the file mixes both downloads");
    assert_eq!(names(dir.path()), vec!["same.bin"]);
}

#[test]
fn a_download_that_keeps_failing_leaves_nothing_behind() {
    let (_, config) = one_file(Ranges::Honour, (0..10).collect());
    let (base, seen) = serve(config);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.tar");
    std::fs::write(&path, b"previous version").unwrap();
    let err = api(2)
        .download_to_file(&format!("{base}/export.tar?sig=s3cr3t"), &path)
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("export.tar"), "{err}");
    assert!(!err.to_string().contains("s3cr3t"), "{err}");
    assert_eq!(seen.lock().unwrap().len(), 3);
    // The old file is untouched and no temporary file is left.
    assert_eq!(std::fs::read(&path).unwrap(), b"previous version");
    assert_eq!(names(dir.path()), vec!["export.tar"]);
}

#[test]
fn a_length_other_than_expected_is_refused_at_once() {
    let (_, config) = one_file(Ranges::Honour, vec![]);
    let (base, seen) = serve(config);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.tar");
    let opts = DownloadOptions::default().expected_len(1000);
    let err = api(4)
        .download_to_file_with(&format!("{base}/export.tar"), &path, &opts)
        .unwrap_err();
    assert!(err.to_string().contains("expected 1000"), "{err}");
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "a wrong length is not retried"
    );
    assert!(names(dir.path()).is_empty());

    let opts = DownloadOptions::default().expected_len(MIB as u64);
    let n = api(4)
        .download_to_file_with(&format!("{base}/export.tar"), &path, &opts)
        .unwrap();
    assert_eq!(n, MIB as u64);
}

#[test]
fn without_overwrite_an_existing_file_is_kept() {
    let (bytes, config) = one_file(Ranges::Honour, vec![]);
    let (base, seen) = serve(config);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.tar");
    std::fs::write(&path, b"keep me").unwrap();
    let keep = DownloadOptions::default().overwrite(false);
    let err = api(4)
        .download_to_file_with(&format!("{base}/export.tar"), &path, &keep)
        .unwrap_err();
    assert!(err.to_string().contains("exists"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
    assert!(seen.lock().unwrap().is_empty());

    // By default the file is replaced.
    api(4)
        .download_to_file(&format!("{base}/export.tar"), &path)
        .unwrap();
    assert!(std::fs::read(&path).unwrap() == bytes);
    assert_eq!(names(dir.path()), vec!["export.tar"]);
}

#[test]
fn on_bytes_sees_every_written_byte_once_when_resumed() {
    let (bytes, config) = one_file(Ranges::Honour, vec![0]);
    let (base, _) = serve(config);
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let s = seen.clone();
    let opts = DownloadOptions::default().on_bytes(move |n| {
        s.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    });
    let n = api(4)
        .download_to_file_with(
            &format!("{base}/export.tar?sig=s3cr3t"),
            &dir.path().join("export.tar"),
            &opts,
        )
        .unwrap();
    assert_eq!(n, bytes.len() as u64);
    // Resumed with Range, so nothing is received twice.
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), n);
}

#[test]
fn a_download_over_its_limit_fails_and_leaves_nothing() {
    let (_, config) = one_file(Ranges::Honour, vec![]);
    let (base, seen) = serve(config);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.tar");
    let err = api(4)
        .download_to_file_with(
            &format!("{base}/export.tar?sig=s3cr3t"),
            &path,
            &DownloadOptions::default().max_len(1000),
        )
        .unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
    assert_eq!(seen.lock().unwrap().len(), 1, "not retried");
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}
