//! Bucket listings ask each store for the largest page it grants (S3 and GCS 1,000 keys,
//! Azure 5,000 blobs) and follow smaller pages to the end, against closure transports.
#![cfg(feature = "cloud")]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use roboflow_batch::api::RetryPolicy;
use roboflow_batch::cloud::{CloudSource, CloudSourceBuilder};
use roboflow_batch::transport::{HttpRequest, HttpResponse, TransportError};

type Reply = Result<HttpResponse, TransportError>;

/// `total` keys `k000.jpg`…, listed in pages of at most `grant` whatever is asked; the
/// page size asked is recorded. The token is the index of the next key.
fn bucket(
    total: usize,
    grant: usize,
    asked: Arc<Mutex<Vec<String>>>,
) -> impl Fn(HttpRequest) -> Reply + Send + Sync {
    move |req: HttpRequest| {
        let q: BTreeMap<String, String> = req.query().into_iter().collect();
        let azure = q.contains_key("restype");
        let (size, token) = if azure {
            ("maxresults", "marker")
        } else {
            ("max-keys", "continuation-token")
        };
        let want: usize = q[size].parse().unwrap();
        asked.lock().unwrap().push(format!("{size}={want}"));
        let from: usize = q.get(token).map_or(0, |t| t.parse().unwrap());
        let to = (from + want.min(grant)).min(total);
        let next = (to < total).then(|| to.to_string());
        let body = if azure {
            let blobs: String = (from..to)
                .map(|i| format!("<Blob><Name>k{i:03}.jpg</Name><Properties><Content-Length>9</Content-Length></Properties></Blob>"))
                .collect();
            format!(
                "<EnumerationResults><Blobs>{blobs}</Blobs><NextMarker>{}</NextMarker></EnumerationResults>",
                next.unwrap_or_default()
            )
        } else {
            let keys: String = (from..to)
                .map(|i| format!("<Contents><Key>k{i:03}.jpg</Key><Size>9</Size></Contents>"))
                .collect();
            let more = match next {
                Some(t) => format!(
                    "<IsTruncated>true</IsTruncated><NextContinuationToken>{t}</NextContinuationToken>"
                ),
                None => "<IsTruncated>false</IsTruncated>".into(),
            };
            format!(
                r#"<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{keys}{more}</ListBucketResult>"#
            )
        };
        Ok(HttpResponse::new(200, body))
    }
}

/// A source of each store, with fake credentials.
fn stores() -> Vec<(&'static str, CloudSourceBuilder)> {
    let none = || None::<fn(&str) -> Option<String>>;
    vec![
        (
            "max-keys=1000",
            CloudSource::builder("s3://bk/")
                .env(none())
                .set("AWS_ACCESS_KEY_ID", "AKIAFAKE")
                .set("AWS_SECRET_ACCESS_KEY", "fake-secret-0123456789"),
        ),
        (
            "max-keys=1000",
            CloudSource::builder("gs://bk/")
                .env(none())
                .set("GCS_HMAC_ACCESS_ID", "GOOGHMACID")
                .set("GCS_HMAC_SECRET", "hmac-secret-0123456789"),
        ),
        (
            "maxresults=5000",
            CloudSource::builder("az://c/")
                .env(none())
                .set("AZURE_STORAGE_ACCOUNT_NAME", "acct")
                .set(
                    "AZURE_STORAGE_SAS_TOKEN",
                    "sv=2022&sp=rl&sig=SASSIG0123456789",
                ),
        ),
    ]
}

fn listed(builder: CloudSourceBuilder, total: usize, grant: usize) -> (usize, Vec<String>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let source = builder
        .retry_policy(RetryPolicy::never())
        .transport(bucket(total, grant, asked.clone()))
        .build()
        .unwrap();
    let n = source
        .references()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .len();
    let asked = asked.lock().unwrap().clone();
    (n, asked)
}

#[test]
fn each_store_is_asked_for_the_largest_page_it_grants() {
    for (want, builder) in stores() {
        let (n, asked) = listed(builder, 2500, usize::MAX);
        assert_eq!(n, 2500, "{want}");
        let pages = if want.ends_with("5000") { 1 } else { 3 };
        assert_eq!(asked, vec![want.to_string(); pages]);
    }
    // A page size given is asked, within what the store grants.
    let (_, asked) = listed(stores().remove(0).1.page_size(200), 500, usize::MAX);
    assert_eq!(asked, vec!["max-keys=200"; 3]);
    let (_, asked) = listed(stores().remove(0).1.page_size(5000), 10, usize::MAX);
    assert_eq!(asked, ["max-keys=1000"]);
}

#[test]
fn smaller_pages_are_followed_to_the_end() {
    for (want, builder) in stores() {
        let (n, asked) = listed(builder, 20, 7);
        assert_eq!((n, asked.len()), (20, 3), "{want}");
    }
}
