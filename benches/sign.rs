//! Signed GET URLs per second on one thread, per store: S3 SigV4 (rusty-s3), GCS V4 with
//! HMAC keys and with a 2048-bit service-account key (RSA-SHA256), Azure service SAS.
//!
//! `scripts/bench-sign.sh` runs this beside boto3's `generate_presigned_url` and prints the
//! figures side by side. The GCS RSA case needs `openssl` to make a key and is left out
//! (with a message) without it.

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use roboflow_batch::cloud::CloudSource;

const KEY: &str = "datasets/2024/cats/IMG_000123.jpg";

fn source(url: &str, settings: &[(&str, &str)]) -> CloudSource {
    let mut b = CloudSource::builder(url).env(None::<fn(&str) -> Option<String>>);
    for (k, v) in settings {
        b = b.set(k, *v);
    }
    b.build().expect("bench source builds")
}

fn rsa_key_file() -> Option<tempfile::NamedTempFile> {
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let json = serde_json::json!({
        "type": "service_account",
        "private_key": String::from_utf8(out.stdout).ok()?,
        "client_email": "bench@test.iam.gserviceaccount.com",
    });
    let mut f = tempfile::NamedTempFile::new().ok()?;
    f.write_all(json.to_string().as_bytes()).ok()?;
    Some(f)
}

fn bench_sign(c: &mut Criterion) {
    let mut g = c.benchmark_group("sign");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(4));
    let s3 = source(
        "s3://bench-bucket/",
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            (
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            ),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
        ],
    );
    g.bench_function("s3_sigv4", |b| b.iter(|| s3.sign(black_box(KEY)).unwrap()));
    let gcs_hmac = source(
        "gs://bench-bucket/",
        &[
            ("GCS_HMAC_ACCESS_ID", "GOOGTS7C7FUP3AIRVJTE2BCD"),
            (
                "GCS_HMAC_SECRET",
                "bGoa+V7g/yqDXvKRqq+JTFn4uQZbPiQJo4pf9RzJ",
            ),
        ],
    );
    g.bench_function("gcs_v4_hmac", |b| {
        b.iter(|| gcs_hmac.sign(black_box(KEY)).unwrap())
    });
    match rsa_key_file() {
        Some(f) => {
            let gcs_rsa = source(
                "gs://bench-bucket/",
                &[("GOOGLE_APPLICATION_CREDENTIALS", f.path().to_str().unwrap())],
            );
            g.bench_function("gcs_v4_rsa2048", |b| {
                b.iter(|| gcs_rsa.sign(black_box(KEY)).unwrap())
            });
        }
        None => eprintln!("SKIPPED gcs_v4_rsa2048: openssl could not make a key"),
    }
    let azure = source(
        "az://bench/",
        &[
            ("AZURE_STORAGE_ACCOUNT_NAME", "devstoreaccount1"),
            (
                "AZURE_STORAGE_ACCOUNT_KEY",
                "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
            ),
        ],
    );
    g.bench_function("azure_sas", |b| {
        b.iter(|| azure.sign(black_box(KEY)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench_sign);
criterion_main!(benches);
