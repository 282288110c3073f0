//! Bucket URLs: the store, bucket, prefix and glob they name, and globs that match keys as
//! the official client's do.
#![cfg(feature = "cloud")]

use roboflow_batch::cloud::{BucketUrl, StoreKind};

#[test]
fn urls_split_into_prefix_and_glob() {
    let cases = [
        (
            "s3://b/path/**/*.jpg",
            StoreKind::S3,
            "b",
            "path/",
            Some("**/*.jpg"),
        ),
        ("s3://b/path/", StoreKind::S3, "b", "path/", None),
        ("s3://b/path", StoreKind::S3, "b", "path/", None),
        ("gs://b/", StoreKind::Gcs, "b", "", None),
        ("gcs://b", StoreKind::Gcs, "b", "", None),
        (
            "az://c/2024-*/*.png",
            StoreKind::Azure,
            "c",
            "",
            Some("2024-*/*.png"),
        ),
        (
            "S3A://b//a//x/*.png",
            StoreKind::S3,
            "b",
            "a/x/",
            Some("*.png"),
        ),
        (
            "abfs://c/a/[ab]?.png",
            StoreKind::Azure,
            "c",
            "a/",
            Some("[ab]?.png"),
        ),
    ];
    for (url, kind, bucket, prefix, glob) in cases {
        let u = BucketUrl::parse(url).unwrap();
        assert_eq!(
            (u.kind(), u.bucket(), u.prefix(), u.glob()),
            (kind, bucket, prefix, glob),
            "{url}"
        );
    }
}

#[test]
fn bad_urls_name_the_problem() {
    for (url, want) in [
        ("/local/dir", "must look like"),
        ("http://b/x", "scheme"),
        ("s3://", "bucket name is missing"),
        ("s3://b*/x", "cannot hold a glob"),
        ("s3://b/x/[ab.jpg", "unclosed"),
    ] {
        let e = BucketUrl::parse(url).unwrap_err().to_string();
        assert!(e.contains(want), "{url}: {e}");
    }
}

#[test]
fn globs_match_like_the_official_client() {
    let cases: &[(&str, &str, bool)] = &[
        ("**/*.jpg", "a.jpg", true),
        ("**/*.jpg", "x/y/a.jpg", true),
        ("**/*.jpg", "x/y/a.png", false),
        ("*.jpg", "a.jpg", true),
        ("*.jpg", "x/a.jpg", false),
        ("2024-*/*.png", "2024-01/a.png", true),
        ("2024-*/*.png", "2023-01/a.png", false),
        ("a/**", "a/b/c.png", true),
        ("a/**/b/*.png", "a/b/x.png", true),
        ("a/**/b/*.png", "a/q/r/b/x.png", true),
        ("img?.jpg", "img1.jpg", true),
        ("img?.jpg", "img12.jpg", false),
        ("[a-c]*.jpg", "cat.jpg", true),
        ("[!a-c]*.jpg", "cat.jpg", false),
        ("[!a-c]*.jpg", "dog.jpg", true),
        ("*a*b*c", "xxaxxbxxc", true),
        ("*a*b*c", "xxaxxcxxb", false),
        ("**", "anything/at/all.jpg", true),
    ];
    for (glob, key, want) in cases {
        let g = BucketUrl::parse(&format!("s3://b/{glob}")).unwrap();
        assert_eq!(g.matches(key), *want, "{glob} vs {key}");
    }
}

#[test]
fn pathological_globs_stay_fast() {
    let g = BucketUrl::parse(&format!("s3://b/{}b", "*a".repeat(20))).unwrap();
    assert!(!g.matches(&"a".repeat(200)));
    let deep = BucketUrl::parse("s3://b/**/**/**/**/x").unwrap();
    assert!(!deep.matches(&"d/".repeat(40)));
}

#[test]
fn display_round_trips() {
    for url in ["s3://b/p/**/*.jpg", "gs://b/", "az://c@acct/x/*.png"] {
        let u = BucketUrl::parse(url).unwrap();
        assert_eq!(BucketUrl::parse(&u.to_string()).unwrap(), u, "{url}");
    }
}
