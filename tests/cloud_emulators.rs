//! The cloud sources against real emulators: moto (S3), gcp-storage-emulator (GCS) and
//! Azurite (Azure Blob), each started here on a free port. For each store: create a
//! bucket, put generated images, list with a glob over several pages, sign, and GET every
//! signed URL back from the emulator; bad credentials fail clearly, without secrets.
//!
//! `scripts/cloud-emulators.sh` installs the emulators. A missing one skips its test with a
//! message on stderr naming it and the script.
#![cfg(feature = "cloud")]

mod cloud_support;

// Skip notes go straight to stderr: libtest captures eprintln! but not io::stderr().
use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cloud_support::{Emulator, put, tiny_png};
use roboflow_batch::cloud::{CloudSource, SignedReference};
use roboflow_batch::ingest::{Ingest, Source};
use roboflow_batch::transport::{
    HttpRequest, HttpResponse, Method, Transport, TransportError, UreqTransport,
};
use roboflow_batch::{BatchApi, Error};

/// The objects every store gets: 23 images to find, and keys the glob or the extension
/// filter must leave out.
fn dataset() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..9 {
        out.push((format!("photos/top-{i:02}.png"), tiny_png(i)));
    }
    for i in 0..8 {
        out.push((format!("photos/cats/c {i}.PNG"), tiny_png(100 + i)));
    }
    for i in 0..6 {
        out.push((format!("photos/dogs/deep/d+{i}.png"), tiny_png(200 + i)));
    }
    out.push(("photos/readme.txt".into(), b"not an image".to_vec()));
    out.push(("photos/clip.mp4".into(), b"not an image either".to_vec()));
    out.push((
        "photos/photo.jpg".into(),
        b"a jpg the png glob skips".to_vec(),
    ));
    out.push(("elsewhere/x.png".into(), tiny_png(999)));
    out
}

/// The glob is case-sensitive (as the official client's); the extension filter is not.
fn png_exact(k: &str) -> bool {
    k.starts_with("photos/") && k.ends_with(".png")
}
fn png_any_case(k: &str) -> bool {
    k.starts_with("photos/") && k.to_lowercase().ends_with(".png")
}
fn any_image(k: &str) -> bool {
    k.starts_with("photos/") && (k.to_lowercase().ends_with(".png") || k.ends_with(".jpg"))
}

/// Lists `source`, checks keys and names against the dataset, and GETs every signed URL.
fn check_listing_and_urls(
    source: &CloudSource,
    data: &[(String, Vec<u8>)],
    keep: fn(&str) -> bool,
) {
    let want: BTreeMap<String, Vec<u8>> = data
        .iter()
        .filter(|(k, _)| keep(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert!(want.len() >= 15, "the dataset has what the test needs");
    let refs: Vec<SignedReference> = source.references().collect::<Result<_, _>>().unwrap();
    let keys: Vec<&str> = refs.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(
        keys,
        want.keys().map(String::as_str).collect::<Vec<_>>(),
        "listing order and content"
    );
    let names: Vec<&str> = refs.iter().map(|r| r.name.as_str()).collect();
    assert!(names.contains(&"top-00.png"), "{names:?}");
    assert!(names.contains(&"dogs%2Fdeep%2Fd+5.png"), "{names:?}");
    if keep("photos/cats/c 0.PNG") {
        assert!(names.contains(&"cats%2Fc 0.PNG"), "{names:?}");
    }
    let t = UreqTransport::new();
    for r in &refs {
        let resp = t.send(HttpRequest::get(&r.url)).unwrap();
        assert_eq!(resp.status, 200, "GET {:?}", r);
        assert_eq!(resp.read_body(1 << 20).unwrap(), want[&r.key], "{}", r.key);
        // The signature never shows in Debug.
        let sig_start = r.url.find('?').unwrap();
        assert!(!format!("{r:?}").contains(&r.url[sig_start + 1..]));
    }
}

/// A BatchApi whose transport counts requests and answers 500: nothing may reach it.
fn counting_api() -> (BatchApi, Arc<AtomicUsize>) {
    let n = Arc::new(AtomicUsize::new(0));
    let seen = n.clone();
    let api = BatchApi::builder()
        .api_key("k")
        .workspace("ws")
        .base_url("http://api.invalid")
        .transport(
            move |_r: HttpRequest| -> Result<HttpResponse, TransportError> {
                seen.fetch_add(1, Ordering::SeqCst);
                Ok(HttpResponse::json(500, "{}"))
            },
        )
        .build()
        .unwrap();
    (api, n)
}

/// Bad credentials: a clear `Error::Cloud` naming what to check, no secret in it, and
/// nothing sent to the service.
fn check_bad_credentials(source: &CloudSource, secrets: &[&str], want: &[&str]) {
    let e = source.check_access().unwrap_err();
    let (api, sent) = counting_api();
    let e2 = Ingest::new(&api, "bk", Source::bucket(source.clone()))
        .run()
        .unwrap_err();
    assert_eq!(
        sent.load(Ordering::SeqCst),
        0,
        "nothing reaches the service"
    );
    for err in [&e, &e2] {
        assert!(
            matches!(
                err,
                Error::Cloud {
                    status: Some(403),
                    ..
                }
            ),
            "{err:?}"
        );
        let text = format!("{err} {err:?} {source:?}");
        for w in want {
            assert!(text.contains(w), "{w:?} missing from {text}");
        }
        for s in secrets {
            assert!(!text.contains(s), "secret {s:?} in {text}");
        }
    }
}

#[test]
fn s3_list_glob_paginate_sign_and_get() {
    let Some(moto) = Emulator::moto(false) else {
        return;
    };
    let base = moto.base_url();
    let data = s3_bucket(&base, "photos-bucket");
    let source = CloudSource::builder("s3://photos-bucket/photos/**/*.png")
        .env(None::<fn(&str) -> Option<String>>)
        .set("AWS_ACCESS_KEY_ID", "AKIAMOTOEXAMPLE")
        .set("AWS_SECRET_ACCESS_KEY", "moto-secret-0123456789")
        .set("AWS_ENDPOINT_URL", &base)
        .page_size(4)
        .build()
        .unwrap();
    check_listing_and_urls(&source, &data, png_exact);
    assert!(!format!("{source:?}").contains("moto-secret"));
}

#[test]
fn s3_bad_credentials_fail_before_the_service() {
    // IAM mode: moto checks every header signature and knows no access key.
    let Some(moto) = Emulator::moto(true) else {
        return;
    };
    let source = CloudSource::builder("s3://photos-bucket/photos/")
        .env(None::<fn(&str) -> Option<String>>)
        .set("AWS_ACCESS_KEY_ID", "AKIANOSUCHKEY0000000")
        .set("AWS_SECRET_ACCESS_KEY", "wrong-secret-0123456789")
        .set("AWS_SESSION_TOKEN", "session-token-0123456789")
        .set("AWS_ENDPOINT_URL", moto.base_url())
        .build()
        .unwrap();
    check_bad_credentials(
        &source,
        &["wrong-secret-0123456789", "session-token-0123456789"],
        &["S3", "photos-bucket", "403", "AWS_ACCESS_KEY_ID"],
    );
}

#[test]
fn gcs_list_glob_paginate_sign_and_get() {
    let Some(gcs) = Emulator::gcs() else { return };
    let base = gcs.base_url();
    let data = gcs_bucket(&base, "photos-bucket");
    let key_file = cloud_support::service_account_key_file();
    let source = CloudSource::builder("gs://photos-bucket/photos/**/*.[pP][nN][gG]")
        .env(None::<fn(&str) -> Option<String>>)
        .set(
            "GOOGLE_APPLICATION_CREDENTIALS",
            key_file.path().to_str().unwrap(),
        )
        .set("STORAGE_EMULATOR_HOST", &base)
        .page_size(4)
        .build()
        .unwrap();
    check_listing_and_urls(&source, &data, png_any_case);
    assert!(!format!("{source:?}").contains("PRIVATE KEY"));
}

#[test]
fn azure_list_glob_paginate_sign_and_get() {
    let Some(az) = Emulator::azurite() else {
        return;
    };
    let base = az.base_url();
    let account = cloud_support::AZURITE_ACCOUNT;
    let key = cloud_support::AZURITE_KEY;
    let sas = cloud_support::account_sas(account, key);
    let data = azure_container(&base, "photos", &sas);
    let conn = format!(
        "DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};BlobEndpoint={base}/{account};"
    );
    // The account key signs a SAS per blob.
    let source = CloudSource::builder("az://photos/photos")
        .env(None::<fn(&str) -> Option<String>>)
        .set("AZURE_STORAGE_CONNECTION_STRING", &conn)
        .page_size(4)
        .build()
        .unwrap();
    check_listing_and_urls(&source, &data, any_image);
    assert!(!format!("{source:?}").contains(key));
    // A given SAS token is reused as is, as the official client does.
    let reused = CloudSource::builder("az://photos/photos/**/*.png")
        .env(None::<fn(&str) -> Option<String>>)
        .set("AZURE_STORAGE_CONNECTION_STRING", &conn)
        .set("AZURE_STORAGE_SAS_TOKEN", format!("?{sas}"))
        .page_size(5)
        .build()
        .unwrap();
    check_listing_and_urls(&reused, &data, png_exact);
    for r in reused.references() {
        assert!(r.unwrap().url.ends_with(&sas));
    }
    // Azurite checks SAS signatures and expiry: a tampered or expired URL is refused.
    let t = UreqTransport::new();
    let good = source.references().next().unwrap().unwrap().url;
    let (head, sig) = good.split_once("&sig=").unwrap();
    let tampered = format!(
        "{head}&sig={}",
        if sig.starts_with('A') {
            sig.replacen('A', "B", 1)
        } else {
            format!("A{}", &sig[1..])
        }
    );
    assert_eq!(t.send(HttpRequest::get(&tampered)).unwrap().status, 403);
    let past = roboflow_batch::api::Clock::system()
        .now_fn(|| std::time::SystemTime::now() - std::time::Duration::from_secs(7200));
    let expired = CloudSource::builder("az://photos/photos")
        .env(None::<fn(&str) -> Option<String>>)
        .set("AZURE_STORAGE_CONNECTION_STRING", &conn)
        .expiry(std::time::Duration::from_secs(3600))
        .clock(past)
        .build()
        .unwrap()
        .sign("photos/top-00.png")
        .unwrap();
    assert_eq!(t.send(HttpRequest::get(&expired)).unwrap().status, 403);
    assert_eq!(t.send(HttpRequest::get(&good)).unwrap().status, 200);
}

#[test]
fn azure_bad_credentials_fail_before_the_service() {
    let Some(az) = Emulator::azurite() else {
        return;
    };
    let base = az.base_url();
    let account = cloud_support::AZURITE_ACCOUNT;
    // A valid base64 key that is not the account's.
    let wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==";
    let source = CloudSource::builder("az://photos/")
        .env(None::<fn(&str) -> Option<String>>)
        .set(
            "AZURE_STORAGE_CONNECTION_STRING",
            format!("DefaultEndpointsProtocol=http;AccountName={account};AccountKey={wrong};BlobEndpoint={base}/{account};"),
        )
        .build()
        .unwrap();
    check_bad_credentials(
        &source,
        &[wrong],
        &["Azure", "photos", "403", "AZURE_STORAGE_ACCOUNT_KEY"],
    );
}

/// Creates an S3 bucket in moto at `base` and puts the [`dataset`] into it.
fn s3_bucket(base: &str, bucket: &str) -> Vec<(String, Vec<u8>)> {
    let create = HttpRequest::new(Method::Put, format!("{base}/{bucket}"));
    assert_eq!(UreqTransport::new().send(create).unwrap().status, 200);
    let data = dataset();
    for (k, v) in &data {
        put(
            &format!("{base}/{bucket}/{}", roboflow_batch_encode(k)),
            v,
            &[],
        );
    }
    data
}

/// Creates a GCS bucket in the emulator at `base` and uploads the [`dataset`] into it.
fn gcs_bucket(base: &str, bucket: &str) -> Vec<(String, Vec<u8>)> {
    let t = UreqTransport::new();
    let create = HttpRequest::new(Method::Post, format!("{base}/storage/v1/b?project=test"))
        .with_header("Content-Type", "application/json")
        .body(roboflow_batch::transport::Body::Bytes(
            format!(r#"{{"name":"{bucket}"}}"#).into_bytes(),
        ));
    assert_eq!(t.send(create).unwrap().status, 200);
    let data = dataset();
    for (k, v) in &data {
        let url = format!(
            "{base}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={}",
            roboflow_batch_encode(k).replace('/', "%2F")
        );
        let req = HttpRequest::new(Method::Post, url)
            .body(roboflow_batch::transport::Body::Bytes(v.clone()));
        assert_eq!(t.send(req).unwrap().status, 200, "{k}");
    }
    data
}

/// Creates an Azurite container at `base` (with the account SAS `sas`) and puts the
/// [`dataset`] into it as block blobs.
fn azure_container(base: &str, container: &str, sas: &str) -> Vec<(String, Vec<u8>)> {
    let account = cloud_support::AZURITE_ACCOUNT;
    let create = HttpRequest::new(
        Method::Put,
        format!("{base}/{account}/{container}?restype=container&{sas}"),
    );
    assert_eq!(UreqTransport::new().send(create).unwrap().status, 201);
    let data = dataset();
    for (k, v) in &data {
        put(
            &format!(
                "{base}/{account}/{container}/{}?{sas}",
                roboflow_batch_encode(k)
            ),
            v,
            &[("x-ms-blob-type", "BlockBlob")],
        );
    }
    data
}

/// Percent-encodes a key for a URL path (`/` kept).
fn roboflow_batch_encode(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The SigV4 presigned URLs match boto3's `generate_presigned_url` (what the official
/// client's S3 path ends in) for the same keys, time and expiry, parameter for parameter.
#[test]
fn s3_presigned_urls_match_boto3() {
    let py = cloud_support::venv().join("bin/python");
    if !py.is_file() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: boto3 is not installed ({} not found; run scripts/cloud-emulators.sh)",
            py.display()
        );
        return;
    }
    let keys = ["photos/cats/c 0.PNG", "a+b/ä ö=&?.jpg", "plain.png"];
    let t = 1_700_000_123u64;
    let cases = [
        ("http://127.0.0.1:9000", "photos-bucket", None, "path"),
        (
            "https://s3.eu-west-1.amazonaws.com",
            "photos-bucket",
            Some("session-token/+="),
            "virtual",
        ),
    ];
    for (endpoint, bucket, token, style) in cases {
        let script = format!(
            r#"
import datetime, json, sys, boto3, botocore.auth
from botocore.config import Config
botocore.auth.get_current_datetime = lambda: datetime.datetime.fromtimestamp({t}, datetime.timezone.utc).replace(tzinfo=None)
endpoint = {endpoint:?}
kw = dict(aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="secret/key+0", aws_session_token={token})
c = boto3.client("s3", region_name="eu-west-1" if "amazonaws" in endpoint else "us-east-1",
    endpoint_url=None if "amazonaws" in endpoint else endpoint,
    config=Config(signature_version="s3v4", s3={{"addressing_style": {style:?}}}), **kw)
print(json.dumps([c.generate_presigned_url("get_object", Params={{"Bucket": {bucket:?}, "Key": k}}, ExpiresIn=86400) for k in json.loads(sys.argv[1])]))
"#,
            token = match token {
                Some(t) => format!("{t:?}"),
                None => "None".into(),
            },
        );
        let out = std::process::Command::new(&py)
            .args(["-c", &script, &serde_json::to_string(&keys).unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
        let mut b = CloudSource::builder(format!("s3://{bucket}/"))
            .env(None::<fn(&str) -> Option<String>>)
            .set("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
            .set("AWS_SECRET_ACCESS_KEY", "secret/key+0")
            .clock(
                roboflow_batch::api::Clock::system()
                    .now_fn(move || std::time::UNIX_EPOCH + std::time::Duration::from_secs(t)),
            );
        b = if endpoint.contains("amazonaws") {
            b.set("AWS_REGION", "eu-west-1")
        } else {
            b.set("AWS_ENDPOINT_URL", endpoint)
        };
        if let Some(tok) = token {
            b = b.set("AWS_SESSION_TOKEN", tok);
        }
        let source = b.build().unwrap();
        for (key, their) in keys.iter().zip(&theirs) {
            let ours = source.sign(key).unwrap();
            let split = |u: &str| -> (String, BTreeMap<String, String>) {
                let req = HttpRequest::get(u);
                (
                    u.split('?').next().unwrap().to_string(),
                    req.query().into_iter().collect(),
                )
            };
            let (our_base, our_q) = split(&ours);
            let (their_base, their_q) = split(their);
            assert_eq!(our_base, their_base, "{key}");
            assert_eq!(our_q, their_q, "{key}: ours {ours}\ntheirs {their}");
        }
    }
}

/// GCS V4 URLs signed with a service-account key (GOOG4-RSA-SHA256) match those of
/// Google's own library (google-cloud-storage's `generate_signed_url_v4`) for the same key,
/// time and expiry: the emulator does not check signatures, this does.
#[test]
fn gcs_signed_urls_match_google_cloud_storage() {
    let py = cloud_support::venv().join("bin/python");
    let ok = py.is_file()
        && std::process::Command::new(&py)
            .args(["-c", "import google.cloud.storage"])
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: google-cloud-storage is not installed in {} (run scripts/cloud-emulators.sh)",
            cloud_support::venv().display()
        );
        return;
    }
    let key_file = cloud_support::service_account_key_file();
    let keys = ["photos/cats/c 0.PNG", "a+b/ä ö=&?.jpg", "plain.png"];
    let t = 1_700_000_123u64;
    let script = r#"
import datetime, json, sys
from urllib.parse import quote
from google.oauth2 import service_account
from google.cloud.storage import _signing
creds = service_account.Credentials.from_service_account_file(sys.argv[1])
ts = datetime.datetime.fromtimestamp(int(sys.argv[2]), datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
print(json.dumps([_signing.generate_signed_url_v4(creds, "/photos-bucket/" + quote(k, safe=b"/~"),
    expiration=datetime.timedelta(seconds=86400), _request_timestamp=ts) for k in json.loads(sys.argv[3])]))
"#;
    let out = std::process::Command::new(&py)
        .args([
            "-c",
            script,
            key_file.path().to_str().unwrap(),
            &t.to_string(),
            &serde_json::to_string(&keys).unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    let source = CloudSource::builder("gs://photos-bucket/")
        .env(None::<fn(&str) -> Option<String>>)
        .set(
            "GOOGLE_APPLICATION_CREDENTIALS",
            key_file.path().to_str().unwrap(),
        )
        .clock(
            roboflow_batch::api::Clock::system()
                .now_fn(move || std::time::UNIX_EPOCH + std::time::Duration::from_secs(t)),
        )
        .build()
        .unwrap();
    for (key, their) in keys.iter().zip(&theirs) {
        let ours = source.sign(key).unwrap();
        let split = |u: &str| -> (String, BTreeMap<String, String>) {
            (
                u.split('?').next().unwrap().to_string(),
                HttpRequest::get(u).query().into_iter().collect(),
            )
        };
        assert_eq!(
            split(&ours),
            split(their),
            "{key}:\nours   {ours}\ntheirs {their}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The whole flow into the sandbox, which fetches each signed URL from the emulator.
//
// The chunks are POSTed here directly, in the form an ingest sends them (`<base>-<n>` ids,
// the same body fields), so that the test can also send a reference to a missing object.

use roboflow_batch::sandbox::{Sandbox, SandboxConfig};

/// POSTs `refs` in chunks of `chunk` with ingest ids `<base>-<n>`; returns each answer's
/// `duplicated`.
fn post_chunks(
    sandbox: &Sandbox,
    batch: &str,
    refs: &[SignedReference],
    base: &str,
    chunk: usize,
) -> Vec<bool> {
    let t = UreqTransport::new();
    let url = format!(
        "{}/data-staging/v1/external/{}/batches/{batch}/bulk-upload/image-references?api_key={}&displayName={batch}",
        sandbox.base_url(),
        sandbox.workspace(),
        sandbox.api_key()
    );
    refs.chunks(chunk)
        .enumerate()
        .map(|(n, c)| {
            let body = serde_json::json!({
                "imageReferences": c.iter().map(|r| serde_json::json!({"name": r.name, "url": r.url})).collect::<Vec<_>>(),
                "ingestId": format!("{base}-{n}"),
                "notificationCategories": ["ingest-status", "files-status"],
            });
            let req = HttpRequest::new(Method::Post, url.as_str())
                .with_header("Content-Type", "application/json")
                .body(roboflow_batch::transport::Body::Bytes(body.to_string().into_bytes()));
            let resp = t.send(req).unwrap();
            assert_eq!(resp.status, 200);
            let v: serde_json::Value = serde_json::from_slice(&resp.read_body(1 << 20).unwrap()).unwrap();
            v["duplicated"].as_bool().unwrap_or(false)
        })
        .collect()
}

/// Waits (bounded) until every shard of `batch` has settled; returns them.
fn settled_shards(
    api: &BatchApi,
    batch: &str,
    want_shards: usize,
) -> Vec<roboflow_batch::model::ShardDetails> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let shards: Vec<_> = api.shards(batch, None).collect::<Result<_, _>>().unwrap();
        if shards.len() >= want_shards && shards.iter().all(|s| s.status_type != "info") {
            return shards;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "shards did not settle: {shards:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Lists and signs `source`, sends it to a fresh sandbox, and checks that every object was
/// fetched and indexed exactly once under its name; a re-run ingests nothing new; a
/// reference to a missing object is reported in the shard's failures.
fn full_flow(source: &CloudSource, data: &[(String, Vec<u8>)], missing_url: String) {
    let sandbox = Sandbox::start(SandboxConfig::default()).unwrap();
    let api = BatchApi::builder()
        .base_url(sandbox.base_url())
        .api_key(sandbox.api_key())
        .workspace(sandbox.workspace())
        .build()
        .unwrap();
    let refs: Vec<SignedReference> = source.references().collect::<Result<_, _>>().unwrap();
    let want: BTreeMap<String, u64> = refs.iter().map(|r| (r.name.clone(), 1)).collect();
    assert_eq!(
        want.len(),
        data.iter().filter(|(k, _)| png_exact(k)).count()
    );
    let base = "flow";
    assert_eq!(
        post_chunks(&sandbox, "flow", &refs, base, 4),
        vec![false; refs.len().div_ceil(4)]
    );
    let shards = settled_shards(&api, "flow", refs.len().div_ceil(4));
    assert!(
        shards.iter().all(|s| s.status_name == "shard-ingested"),
        "{shards:?}"
    );
    assert_eq!(
        sandbox.ingest_counts("flow"),
        want,
        "every object exactly once, under its name"
    );
    assert_eq!(api.batch_count("flow", None).unwrap(), refs.len() as u64);

    // The same chunks again: all duplicated, nothing new fetched or indexed.
    assert!(
        post_chunks(&sandbox, "flow", &refs, base, 4)
            .iter()
            .all(|d| *d)
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(sandbox.ingest_counts("flow"), want);
    assert_eq!(api.shards("flow", None).count(), refs.len().div_ceil(4));

    // A reference to an object that is not there is reported, by name.
    let missing = SignedReference {
        key: "photos/missing.png".into(),
        name: "missing.png".into(),
        url: missing_url,
        size: None,
    };
    post_chunks(&sandbox, "flow", &[missing], "missing", 10);
    let shards = settled_shards(&api, "flow", refs.len().div_ceil(4) + 1);
    let failed: Vec<_> = shards
        .iter()
        .filter(|s| {
            s.is_failed()
                || s.status_metadata
                    .as_ref()
                    .is_some_and(|m| m["failedFiles"].as_array().is_some_and(|a| !a.is_empty()))
        })
        .collect();
    assert_eq!(failed.len(), 1, "{shards:?}");
    let meta = failed[0].status_metadata.as_ref().unwrap().to_string();
    assert!(
        meta.contains("missing.png") && meta.contains("404"),
        "{meta}"
    );
    assert_eq!(sandbox.ingest_counts("flow"), want, "nothing else indexed");
}

#[test]
fn s3_full_flow_into_the_sandbox() {
    let Some(moto) = Emulator::moto(false) else {
        return;
    };
    let base = moto.base_url();
    let data = s3_bucket(&base, "flow-bucket");
    let source = CloudSource::builder("s3://flow-bucket/photos/**/*.png")
        .env(None::<fn(&str) -> Option<String>>)
        .set("AWS_ACCESS_KEY_ID", "AKIAMOTOEXAMPLE")
        .set("AWS_SECRET_ACCESS_KEY", "moto-secret-0123456789")
        .set("AWS_ENDPOINT_URL", &base)
        .page_size(5)
        .build()
        .unwrap();
    let missing = source.sign("photos/missing.png").unwrap();
    full_flow(&source, &data, missing);
}

#[test]
fn gcs_full_flow_into_the_sandbox() {
    let Some(gcs) = Emulator::gcs() else { return };
    let base = gcs.base_url();
    let data = gcs_bucket(&base, "flow-bucket");
    let key_file = cloud_support::service_account_key_file();
    let source = CloudSource::builder("gs://flow-bucket/photos/**/*.png")
        .env(None::<fn(&str) -> Option<String>>)
        .set(
            "GOOGLE_APPLICATION_CREDENTIALS",
            key_file.path().to_str().unwrap(),
        )
        .set("STORAGE_EMULATOR_HOST", &base)
        .page_size(5)
        .build()
        .unwrap();
    let missing = source.sign("photos/missing.png").unwrap();
    full_flow(&source, &data, missing);
}

#[test]
fn azure_full_flow_into_the_sandbox() {
    let Some(az) = Emulator::azurite() else {
        return;
    };
    let base = az.base_url();
    let account = cloud_support::AZURITE_ACCOUNT;
    let key = cloud_support::AZURITE_KEY;
    let sas = cloud_support::account_sas(account, key);
    let data = azure_container(&base, "flow", &sas);
    let source = CloudSource::builder("az://flow/photos/**/*.png")
        .env(None::<fn(&str) -> Option<String>>)
        .set(
            "AZURE_STORAGE_CONNECTION_STRING",
            format!("DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};BlobEndpoint={base}/{account};"),
        )
        .page_size(5)
        .build()
        .unwrap();
    let missing = source.sign("photos/missing.png").unwrap();
    full_flow(&source, &data, missing);
}
