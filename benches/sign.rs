//! Signed GET URLs per second on one thread, per store: S3 SigV4 (rusty-s3), GCS V4 with
//! HMAC keys and with a 2048-bit service-account key (RSA-SHA256), Azure service SAS; and
//! the bare RSA-2048 PKCS#1 v1.5 SHA-256 signature under the GCS one, by AWS-LC (what the
//! crate signs with) and by ring (the other candidate, already built for rustls).
//!
//! Then (group `sign_all_cores`) a whole references ingest from a GCS bucket with that key,
//! on all cores: an instant fake listing and an instant fake service, so that what is
//! measured is listing, signing and sending as the ingest overlaps them.
//!
//! `scripts/bench-sign.sh` runs this beside boto3's `generate_presigned_url` and Python
//! `cryptography`'s RSA signing (OpenSSL) and prints the figures side by side.

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use roboflow_batch::BatchApi;
use roboflow_batch::cloud::CloudSource;
use roboflow_batch::ingest::{Ingest, Source};
use roboflow_batch::transport::{HttpRequest, HttpResponse, TransportError};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;

const KEY: &str = "datasets/2024/cats/IMG_000123.jpg";
/// The tests' fixed RSA-2048 key (PKCS#8 PEM); `scripts/bench-sign.sh` signs with it too.
const RSA_PEM: &str = include_str!("../tests/data/gcs-test-key.pem");
/// A GOOG4-RSA-SHA256 string to sign, as the GCS signer makes them.
const TO_SIGN: &[u8] = b"GOOG4-RSA-SHA256\n20240101T000000Z\n20240101/auto/storage/goog4_request\n\
    3b2d6a0c58e6b9ecb2a4f1e1c1f6ad8b0a4a3dbd5f2c0a9d1f5c44c54e0d7e22";

fn source(url: &str, settings: &[(&str, &str)]) -> CloudSource {
    let mut b = CloudSource::builder(url).env(None::<fn(&str) -> Option<String>>);
    for (k, v) in settings {
        b = b.set(k, *v);
    }
    b.build().expect("bench source builds")
}

fn rsa_key_file() -> tempfile::NamedTempFile {
    let json = serde_json::json!({
        "type": "service_account",
        "private_key": RSA_PEM,
        "client_email": "bench@test.iam.gserviceaccount.com",
    });
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(json.to_string().as_bytes())
        .expect("key file written");
    f
}

/// The bare signature, by the library the crate signs with and by ring.
fn bench_rsa(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let der = PrivatePkcs8KeyDer::from_pem_slice(RSA_PEM.as_bytes()).expect("test key");
    let der = der.secret_pkcs8_der();
    let lc = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(der).expect("aws-lc key");
    let lc_rng = aws_lc_rs::rand::SystemRandom::new();
    let mut sig = vec![0; lc.public_modulus_len()];
    g.bench_function("rsa2048_aws_lc", |b| {
        b.iter(|| {
            lc.sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &lc_rng,
                black_box(TO_SIGN),
                &mut sig,
            )
            .unwrap()
        })
    });
    let ring_key = ring::signature::RsaKeyPair::from_pkcs8(der).expect("ring key");
    let ring_rng = ring::rand::SystemRandom::new();
    g.bench_function("rsa2048_ring", |b| {
        b.iter(|| {
            ring_key
                .sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &ring_rng,
                    black_box(TO_SIGN),
                    &mut sig,
                )
                .unwrap()
        })
    });
}

fn bench_sign(c: &mut Criterion) {
    let mut g = c.benchmark_group("sign");
    g.throughput(Throughput::Elements(1));
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
    let f = rsa_key_file();
    let gcs_rsa = source(
        "gs://bench-bucket/",
        &[("GOOGLE_APPLICATION_CREDENTIALS", f.path().to_str().unwrap())],
    );
    g.bench_function("gcs_v4_rsa2048", |b| {
        b.iter(|| gcs_rsa.sign(black_box(KEY)).unwrap())
    });
    bench_rsa(&mut g);
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

/// Objects in the bucket of the all-cores ingest.
const INGEST_OBJECTS: usize = 2_000;

/// A GCS bucket of [`INGEST_OBJECTS`] images as an emulator's JSON listing (no token), 1,000
/// a page; the page token is the next index.
fn fake_gcs_listing(req: HttpRequest) -> Result<HttpResponse, TransportError> {
    let start: usize = req
        .query()
        .into_iter()
        .find(|(k, _)| k == "pageToken")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let end = (start + 1000).min(INGEST_OBJECTS);
    let items: Vec<_> = (start..end)
        .map(|i| serde_json::json!({"name": format!("in/{i:06}.jpg"), "size": "1000"}))
        .collect();
    let mut page = serde_json::json!({ "items": items });
    if end < INGEST_OBJECTS {
        page["nextPageToken"] = end.to_string().into();
    }
    Ok(HttpResponse::json(200, page.to_string()))
}

fn bench_ingest(c: &mut Criterion) {
    let mut g = c.benchmark_group("sign_all_cores");
    g.throughput(Throughput::Elements(INGEST_OBJECTS as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    let f = rsa_key_file();
    let source = || {
        CloudSource::builder("gs://bench-bucket/in/")
            .env(None::<fn(&str) -> Option<String>>)
            .set("GOOGLE_APPLICATION_CREDENTIALS", f.path().to_str().unwrap())
            .set("STORAGE_EMULATOR_HOST", "https://gcs.test")
            .transport(fake_gcs_listing)
            .build()
            .expect("bench source builds")
    };
    let api = BatchApi::builder()
        .base_url("https://api.test")
        .api_key("bench-key-0123456789")
        .workspace("ws")
        .transport(|req: HttpRequest| -> Result<HttpResponse, TransportError> {
            let body: serde_json::Value =
                serde_json::from_slice(&req.body.into_bytes().unwrap()).unwrap();
            let id = body["ingestId"].as_str().unwrap().to_string();
            Ok(HttpResponse::json(
                200,
                format!(r#"{{"ingestId":"{id}","duplicated":false}}"#),
            ))
        })
        .build()
        .expect("bench api builds");
    g.bench_function("gcs_v4_rsa2048_ingest", |b| {
        b.iter(|| {
            let r = Ingest::new(&api, "bench", Source::bucket(source()))
                .without_verify()
                .run()
                .unwrap();
            assert_eq!(r.files_uploaded, INGEST_OBJECTS as u64);
        })
    });
    g.finish();
}

criterion_group!(benches, bench_sign, bench_ingest);
criterion_main!(benches);
