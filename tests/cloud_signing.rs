//! Signing and settings through the public builder: known vectors for GCS (RSA and HMAC),
//! credentials and endpoints resolved from the environment and the shared files, Azure SAS
//! URLs, names inside the batch, and key files that cannot sign.
#![cfg(feature = "cloud")]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine;
use roboflow_batch::api::{Clock, RetryPolicy};
use roboflow_batch::cloud::{CloudSource, CloudSourceBuilder};
use roboflow_batch::model::MediaKind;
use roboflow_batch::transport::{HttpRequest, HttpResponse, TransportError};

const TEST_KEY_PKCS8: &str = include_str!("data/gcs-test-key.pem");
const TEST_KEY_PKCS1: &str = include_str!("data/gcs-test-key-pkcs1.pem");
/// 2019-03-24T00:00:00Z.
const T: u64 = 1_553_385_600;

/// A builder for `url` that reads only `vars`, signs at `secs` after the epoch for an hour.
fn builder(url: &str, vars: &[(&str, &str)], secs: u64) -> CloudSourceBuilder {
    let mut b = CloudSource::builder(url)
        .env(None::<fn(&str) -> Option<String>>)
        .expiry(Duration::from_secs(3600))
        .retry_policy(RetryPolicy::never())
        .clock(Clock::system().now_fn(move || SystemTime::UNIX_EPOCH + Duration::from_secs(secs)));
    for (k, v) in vars {
        b = b.set(k, *v);
    }
    b
}

fn key_json(pem: &str) -> String {
    serde_json::json!({
        "type": "service_account",
        "client_email": "signer@test.iam.gserviceaccount.com",
        "private_key": pem,
    })
    .to_string()
}

fn key_file(json: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(json.as_bytes()).unwrap();
    f
}

#[test]
fn gcs_hmac_urls_have_the_v4_shape_and_are_deterministic() {
    let keys = [
        ("GCS_HMAC_ACCESS_ID", "GOOGTS7C7FUP3AIRVJTE2BCD"),
        (
            "GCS_HMAC_SECRET",
            "bGoa+V7g/yqDXvKRqq+JTFn4uQZbPiQJo4pf9RzJ",
        ),
    ];
    let store = builder("gs://example-bucket/", &keys, T).build().unwrap();
    let url = store.sign("cat pics/a+b.jpg").unwrap();
    assert!(url.starts_with(
        "https://storage.googleapis.com/example-bucket/cat%20pics/a%2Bb.jpg?X-Goog-Algorithm=GOOG4-HMAC-SHA256&X-Goog-Credential=GOOGTS7C7FUP3AIRVJTE2BCD%2F20190324%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20190324T000000Z&X-Goog-Expires=3600&X-Goog-SignedHeaders=host&X-Goog-Signature="
    ), "{url}");
    assert_eq!(url, store.sign("cat pics/a+b.jpg").unwrap());
    let longer = builder("gs://example-bucket/", &keys, T)
        .expiry(Duration::from_secs(3601))
        .build()
        .unwrap();
    assert_ne!(url, longer.sign("cat pics/a+b.jpg").unwrap());
    let mut emulated = keys.to_vec();
    emulated.push(("STORAGE_EMULATOR_HOST", "localhost:9023"));
    let emu = builder("gs://example-bucket/", &emulated, T)
        .build()
        .unwrap();
    let url = emu.sign("k.jpg").unwrap();
    assert!(
        url.starts_with("http://localhost:9023/example-bucket/k.jpg?"),
        "{url}"
    );
    assert!(!format!("{store:?}").contains("bGoa"));
}

/// The signature was computed once with Python's `cryptography` (OpenSSL) over the same
/// string to sign, and matched the `rsa` crate this signer replaced.
#[test]
fn gcs_rsa_urls_match_a_known_vector_from_pkcs8_and_pkcs1_keys() {
    let want = "https://storage.googleapis.com/example-bucket/cat%20pics/a%2Bb.jpg?\
        X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=signer%40test.iam.gserviceaccount.com\
        %2F20190324%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20190324T000000Z&X-Goog-Expires=3600\
        &X-Goog-SignedHeaders=host&X-Goog-Signature=\
        02ccea102c47a1f7390aef746ab3e247634ccc29794b9a63a7ab4cad8af0f3b2850baa73a3c3091eecf2b7d660cf2439\
        fe18458695bb4b6d1d2bbe349d8c03d5522976841af0d6119f3c71032fe252e79a956f79dc105b06d3c25e25d1e61dc1\
        c0727def1aa0fcc4a38253eac79da59fe7a61149923bf6312a0a2b232fc19001d5f953d3869730c6227ddddfda502f4d\
        3bc644ed3d70bdbadc1f7c6fde6b60f07ddc6ed78e931bc91997f06f2fc9160b485f83ea607b99beb2f6186235bba103\
        1c232cb5e17ee5010731f260488b88c8054febe6b5db11cfd86d8ae7bb6634e5e04e4119b4cf64788bc8d1eafd78b4b8\
        1cfabc1b5eb5f665e5f1a1aa99d0095c";
    for pem in [TEST_KEY_PKCS8, TEST_KEY_PKCS1] {
        let file = key_file(&key_json(pem));
        let path = file.path().to_str().unwrap();
        let store = builder(
            "gs://example-bucket/",
            &[("GOOGLE_APPLICATION_CREDENTIALS", path)],
            T,
        )
        .build()
        .unwrap();
        assert_eq!(store.sign("cat pics/a+b.jpg").unwrap(), want);
        assert!(!format!("{store:?}").contains("PRIVATE"));
    }
}

/// The token request's JWT carries the claims Google expects, and its RS256 signature
/// verifies with the key's public half.
#[test]
fn the_gcs_token_jwt_verifies_with_the_public_key() {
    use aws_lc_rs::signature::{
        KeyPair, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey,
    };
    use rustls_pki_types::pem::PemObject;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let transport = move |r: HttpRequest| -> Result<HttpResponse, TransportError> {
        let url = r.url.clone();
        log.lock().unwrap().push((
            url.clone(),
            String::from_utf8(r.body.into_bytes().unwrap()).unwrap(),
        ));
        Ok(if url.contains("oauth2") {
            HttpResponse::json(200, r#"{"access_token":"ya29.t","expires_in":3599}"#)
        } else {
            HttpResponse::json(200, r#"{"items":[]}"#)
        })
    };
    let file = key_file(&key_json(TEST_KEY_PKCS8));
    let path = file.path().to_str().unwrap();
    let store = builder(
        "gs://example-bucket/",
        &[("GOOGLE_APPLICATION_CREDENTIALS", path)],
        T,
    )
    .transport(transport)
    .build()
    .unwrap();
    store.check_access().unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "a token, then the listing");
    assert_eq!(seen[0].0, "https://oauth2.googleapis.com/token");
    let jwt = seen[0].1.rsplit_once("assertion=").unwrap().1;
    let (input, sig) = jwt.rsplit_once('.').unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims: serde_json::Value =
        serde_json::from_slice(&b64.decode(input.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(
        claims,
        serde_json::json!({
            "iss": "signer@test.iam.gserviceaccount.com",
            "scope": "https://www.googleapis.com/auth/devstorage.read_only",
            "aud": "https://oauth2.googleapis.com/token",
            "iat": T, "exp": T + 3600
        })
    );
    let der = rustls_pki_types::PrivateKeyDer::from_pem_slice(TEST_KEY_PKCS8.as_bytes()).unwrap();
    let key = RsaKeyPair::from_pkcs8(der.secret_der()).unwrap();
    let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key().as_ref());
    let sig = b64.decode(sig).unwrap();
    public.verify(input.as_bytes(), &sig).unwrap();
    assert!(public.verify(b"another input", &sig).is_err());
}

#[test]
fn gcs_key_files_that_cannot_sign_are_named() {
    // A 1024-bit RSA key and a P-256 key, both PKCS#8: well-formed but unusable.
    const RSA_1024: &str = "-----BEGIN PRIVATE KEY-----\n\
        MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBAN7HtYhaLHumUANunlxniIIk\
        s3hyepGjh13r+OdMoxt+23pUhy4B2vxQedMd3RaGd9AnWOYCsJRGuYtBxdlDR3v7WG0GFcv1\
        n3SuPmgJ/mXxsv9iKlellItU2Uc//V0XEZO/EfMnOfUpb/NdI+H89naTLXB5FQsMRNABy7QN\
        WPpnAgMBAAECgYAx3+P0MrvisskW+5zYcxVMjYrgXEC0ejfD/yAqKC4b6bqZGHNrCV9NPXcI\
        nJbyhAguwaBVXiTKDUtcsczpZvaJkD2a4euWQFtyGbojgqdBvOhjyZzRPgwZRkiarAhbBV3P\
        fTzli56Zk2OOLMCnk/mJazTATRLH/kSwF7tWLI3JgQJBAO9+hD3EaBEQkV3zIagS4PRGOe7y\
        4dt1H6HeK7UOSRWny2fv2ARJgUx+X7bxNQQnGG5qPNtgfrCSA4VBJdl7i30CQQDuIky76+iR\
        5NRtZLpLZf/AqwOrmUKC+wAtOaARcQyB9QEZOGQheJj1SBexGyZUo03ecXucQXD7KcEaWkuf\
        RtqzAkAQBjYQ7/BKnAIt+BObbE/y6DP+IfAsv+Ry7yubfK41Lbn1ZV3dw5FMLfR3iCIU+gyv\
        bppNz2IKrGph4x8GMzb9AkBQr/KMIi0VchHAV0cAUTlNUSTXOgDdXKr8p+/iuQlh52BN6VuU\
        M8awJZNRgT+Foie6XX1ivpHHqKgzg7Dn8RwdAkEAiduzmS4atMZyRLnNwsD/Y4JmVUvJ54P+\
        vvgUX64gLNcPvPIMBrxxfCijZ+B7nXfznQgvRJXOjvXPLct7TUwGlg==\n-----END PRIVATE KEY-----\n";
    const EC: &str = "-----BEGIN PRIVATE KEY-----\n\
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgY6bNS9m+QjrP6jj3FFK6a+nR\
        8aEo/jsE4Vdm9WJNXymhRANCAAQOqHum7gkguNX1Xt2wYUUDNCv16BLSYVriiReah/+NS0zq\
        A0eIovrDGw/L5GGHvwewAmK1WozIuPtDgLSe4eAI\n-----END PRIVATE KEY-----\n";
    let lines: Vec<&str> = TEST_KEY_PKCS8.lines().collect();
    let truncated = lines[..8].join("\n") + "\n-----END PRIVATE KEY-----\n";
    let cases: Vec<(String, &str)> = vec![
        ("nope".into(), "is not JSON"),
        (r#"{"type":"authorized_user"}"#.into(), "cannot sign URLs"),
        (r#"{"type":"service_account"}"#.into(), "client_email"),
        (
            r#"{"type":"service_account","client_email":"a@b"}"#.into(),
            "has no private_key",
        ),
        (
            key_json("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            "not a well-formed PKCS#8 or PKCS#1 RSA key",
        ),
        (key_json(&truncated), "not a well-formed"),
        (
            key_json("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
            "not a PEM private key",
        ),
        (key_json(RSA_1024), "shorter than 2048 bits"),
        (key_json(EC), "not an RSA key"),
        (
            key_json("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"),
            "not an RSA key",
        ),
    ];
    for (json, want) in cases {
        let file = key_file(&json);
        let path = file.path().to_str().unwrap();
        let e = builder("gs://b/", &[("GOOGLE_APPLICATION_CREDENTIALS", path)], T)
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains(want) && e.contains(path), "{want}: {e}");
        assert!(!e.contains("AAAA") && !e.contains("MII"), "{e}");
    }
}

#[test]
fn s3_environment_keys_region_and_endpoint() {
    let keys = [
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "SECRET"),
    ];
    let sign = |url: &str, extra: &[(&str, &str)]| {
        let mut vars = keys.to_vec();
        vars.extend_from_slice(extra);
        builder(url, &vars, T)
            .build()
            .unwrap()
            .sign("k.jpg")
            .unwrap()
    };
    let eu = sign("s3://photos/", &[("AWS_REGION", "eu-west-1")]);
    assert!(
        eu.starts_with("https://photos.s3.eu-west-1.amazonaws.com/k.jpg?"),
        "{eu}"
    );
    assert!(eu.contains("AKID%2F20190324%2Feu-west-1%2F"), "{eu}");
    assert!(!eu.contains("SECRET"));
    // A dotted name cannot be a virtual host under TLS: path style, default region.
    let dotted = sign("s3://my.photos/", &[]);
    assert!(
        dotted.starts_with("https://s3.us-east-1.amazonaws.com/my.photos/k.jpg?"),
        "{dotted}"
    );
    let custom = sign("s3://b/", &[("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/")]);
    assert!(
        custom.starts_with("http://127.0.0.1:9000/b/k.jpg?"),
        "{custom}"
    );
    let e = builder("s3://b/", &[], T).build().unwrap_err().to_string();
    assert!(e.contains("AWS_ACCESS_KEY_ID"), "{e}");
}

#[test]
fn s3_profiles_from_the_shared_files() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    let conf = dir.path().join("config");
    std::fs::write(
        &creds,
        // Comments, blank lines, spaces, keys in any case, values holding `=`.
        "# shared\n[default]\naws_access_key_id=DEFKEY\naws_secret_access_key=DEFSECRET\n\n; dev\n[dev]\naws_access_key_id = DEVKEY\nAWS_Secret_Access_Key=DEV=SECRET\naws_session_token=TOK\n",
    )
    .unwrap();
    std::fs::write(
        &conf,
        "[profile dev]\nregion = ap-south-1\n[profile sso]\nsso_start_url=x\n",
    )
    .unwrap();
    let (c, f) = (creds.to_str().unwrap(), conf.to_str().unwrap());
    let with = |extra: &[(&str, &str)]| {
        let mut v = vec![("AWS_SHARED_CREDENTIALS_FILE", c), ("AWS_CONFIG_FILE", f)];
        v.extend_from_slice(extra);
        builder("s3://b/", &v, T)
            .build()
            .map(|s| s.sign("k.jpg").unwrap())
    };
    let d = with(&[]).unwrap();
    assert!(d.contains("DEFKEY%2F20190324%2Fus-east-1%2F"), "{d}");
    // AWS_PROFILE wins over keys in the environment, as in the official client.
    let env = [
        ("AWS_ACCESS_KEY_ID", "ENV"),
        ("AWS_SECRET_ACCESS_KEY", "ENVS"),
    ];
    let dev = with(&[("AWS_PROFILE", "dev"), env[0], env[1]]).unwrap();
    assert!(dev.contains("DEVKEY%2F20190324%2Fap-south-1%2F"), "{dev}");
    assert!(dev.contains("X-Amz-Security-Token=TOK"), "{dev}");
    assert!(with(&env).unwrap().contains("ENV%2F20190324"));
    for (profile, want) in [("nope", "no such profile"), ("sso", "not supported")] {
        let e = with(&[("AWS_PROFILE", profile)]).unwrap_err().to_string();
        assert!(e.contains(want) && e.starts_with("S3: "), "{e}");
    }
}

#[test]
fn explicit_settings_win_over_the_environment_and_blanks_are_unset() {
    let env = |n: &str| match n {
        "AWS_ACCESS_KEY_ID" => Some("ENVKEY".to_string()),
        "AWS_SECRET_ACCESS_KEY" => Some("ENVSECRET".to_string()),
        "AWS_REGION" => Some("  ".to_string()),
        _ => None,
    };
    let b = || builder("s3://b/", &[], T).env(Some(env));
    assert!(
        b().build()
            .unwrap()
            .sign("k")
            .unwrap()
            .contains("ENVKEY%2F20190324%2Fus-east-1")
    );
    let set = b().set("AWS_ACCESS_KEY_ID", "SETKEY").build().unwrap();
    assert!(set.sign("k").unwrap().contains("SETKEY%2F"));
    assert!(!format!("{set:?}").contains("SECRET"));
}

const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

#[test]
fn azure_key_sas_is_deterministic_and_read_only() {
    let cs = format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    );
    let s = builder(
        "az://media/",
        &[("AZURE_STORAGE_CONNECTION_STRING", &cs)],
        1_700_000_000,
    )
    .build()
    .unwrap();
    let url = s.sign("a b/c.jpg").unwrap();
    assert!(url.starts_with("http://127.0.0.1:10000/devstoreaccount1/media/a%20b/c.jpg?sv=2021-08-06&spr=https%2Chttp&se=2023-11-14T23%3A13%3A20Z&sr=b&sp=r&sig="), "{url}");
    assert_eq!(url, s.sign("a b/c.jpg").unwrap());
    assert!(!format!("{s:?}").contains("Eby8"));
}

#[test]
fn azure_sas_tokens_are_reused_and_settings_resolve() {
    let vars = [
        ("AZURE_STORAGE_ACCOUNT_NAME", "acct"),
        ("AZURE_STORAGE_SAS_TOKEN", "?sv=2022&sig=abc"),
    ];
    let s = builder("az://media/", &vars, T).build().unwrap();
    assert_eq!(
        s.sign("x.jpg").unwrap(),
        "https://acct.blob.core.windows.net/media/x.jpg?sv=2022&sig=abc"
    );
    let from_url = builder("az://media@other/", &[("AZURE_STORAGE_KEY", DEV_KEY)], T)
        .build()
        .unwrap();
    assert_eq!(
        from_url.describe(),
        "https://other.blob.core.windows.net/media"
    );
    for (vars, want) in [
        (vec![], "no storage account"),
        (vec![("AZURE_STORAGE_ACCOUNT", "a")], "no credentials"),
        (
            vec![
                ("AZURE_STORAGE_ACCOUNT", "a"),
                ("AZURE_STORAGE_ACCOUNT_KEY", "not base64!"),
            ],
            "not base64",
        ),
    ] {
        let e = builder("az://media/", &vars, T)
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains(want) && !e.contains("not base64!"), "{e}");
    }
}

#[test]
fn names_in_the_batch_are_unique_and_readable() {
    let keys = [("AWS_ACCESS_KEY_ID", "A"), ("AWS_SECRET_ACCESS_KEY", "S")];
    let s = builder("s3://b/", &keys, T).build().unwrap();
    let cases = [
        ("a.jpg", Some("a.jpg")),
        ("cats/a.jpg", Some("cats%2Fa.jpg")),
        ("cats%2Fa.jpg", Some("cats%252Fa.jpg")),
        ("w\\in.jpg", Some("w%5Cin.jpg")),
        ("tab\there.jpg", Some("tab%09here.jpg")),
        ("zażółć.jpg", Some("zażółć.jpg")),
        ("", None),
    ];
    for (key, want) in cases {
        assert_eq!(s.name_for(key).as_deref(), want, "{key:?}");
    }
    assert_ne!(s.name_for("a/b.jpg"), s.name_for("a%2Fb.jpg"));
    assert_eq!(s.name_for(&"x".repeat(513)), None);
    assert!(s.name_for(&"x".repeat(512)).is_some());
}

#[test]
fn extensions_follow_the_local_lists() {
    for k in [
        "a.bmp", "a.DIB", "a.jpeg", "a.Jpg", "a.jpe", "a.jp2", "a.png", "x/y.WEBP",
    ] {
        assert!(MediaKind::Images.matches(k), "{k}");
    }
    for k in ["a.gif", "a.tiff", "jpg", "a.jpg/", "a.jpg.txt", ".", ""] {
        assert!(!MediaKind::Images.matches(k), "{k}");
    }
    for k in ["a.MP4", "a.m4v", "a.3gp", "a.ogg", "a.mkv", "a.mpeg"] {
        assert!(MediaKind::Videos.matches(k), "{k}");
    }
}

/// The error of a listing that `body` refused (HTTP 403), from an Azure container read
/// with a SAS token that holds `sig`.
fn refused_with(body: &str, sig: &str) -> String {
    let body = body.to_string();
    let transport = move |_r: HttpRequest| -> Result<HttpResponse, TransportError> {
        Ok(HttpResponse::new(403, body.clone()))
    };
    let token = format!("sv=2022-11-02&sig={sig}");
    let vars = [
        ("AZURE_STORAGE_ACCOUNT_NAME", "acct"),
        ("AZURE_STORAGE_SAS_TOKEN", &token),
    ];
    let source = builder("az://c/", &vars, T)
        .transport(transport)
        .build()
        .unwrap();
    source.check_access().unwrap_err().to_string()
}

#[test]
fn error_bodies_of_every_store_decode() {
    let cases: [(&str, &str); 5] = [
        (
            "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>a &amp; b</Message><AWSAccessKeyId>AK</AWSAccessKeyId></Error>",
            "(HTTP 403 SignatureDoesNotMatch: a & b)",
        ),
        (
            "\u{feff}<Error><Code>AuthenticationFailed</Code><Message>Server failed</Message></Error>",
            "(HTTP 403 AuthenticationFailed: Server failed)",
        ),
        (
            r#"{"error":{"code":401,"message":"Invalid Credentials","status":"UNAUTHENTICATED"}}"#,
            "(HTTP 403 UNAUTHENTICATED: Invalid Credentials)",
        ),
        (
            r#"{"error":"invalid_grant","error_description":"Invalid JWT"}"#,
            "(HTTP 403 invalid_grant: Invalid JWT)",
        ),
        ("plain text", "(HTTP 403: plain text)"),
    ];
    for (body, want) in cases {
        let e = refused_with(body, "c2lnbmF0dXJl");
        assert!(e.contains(want), "{body}: {e}");
    }
}

/// Issue 14: an Azure 403 that quotes the SAS signature, placed across the cut of the
/// store's message (300 characters), shows none of it.
#[test]
fn a_signature_across_the_cut_of_a_refusal_is_not_shown_in_part() {
    let sig = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0";
    for keep in 4..sig.len() {
        let message = format!("{}{sig} did not match", ".".repeat(300 - keep));
        let body = format!(
            "<?xml version=\"1.0\"?><Error><Code>AuthenticationFailed</Code><Message>{message}</Message></Error>"
        );
        let text = refused_with(&body, sig);
        assert!(
            text.contains("(HTTP 403 AuthenticationFailed: ..."),
            "{text}"
        );
        assert!(!text.contains(&sig[..keep]), "{keep}: {text}");
    }
}

#[test]
fn s3_and_gcs_urls_last_at_most_7_days_and_azure_sas_any_time() {
    let week = Duration::from_secs(7 * 24 * 3600);
    let vars = [("AWS_ACCESS_KEY_ID", "A"), ("AWS_SECRET_ACCESS_KEY", "S")];
    assert!(builder("s3://b/", &vars, T).expiry(week).build().is_ok());
    let e = builder("s3://b/", &vars, T)
        .expiry(week + Duration::from_secs(1))
        .build();
    assert!(e.unwrap_err().to_string().contains("7 days"));
    let e = builder("gs://b/", &[], T).expiry(week * 2).build();
    assert!(e.unwrap_err().to_string().contains("7 days"));
    let az = [
        ("AZURE_STORAGE_ACCOUNT_NAME", "a"),
        ("AZURE_STORAGE_SAS_TOKEN", "sv=1&sig=x"),
    ];
    assert!(builder("az://c/", &az, T).expiry(week * 2).build().is_ok());
    assert!(
        builder("az://c/", &az, T)
            .expiry(Duration::ZERO)
            .build()
            .is_err()
    );
}

#[test]
fn azure_list_blobs_answers_decode() {
    let first = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"http://127.0.0.1:10000/devstoreaccount1\" ContainerName=\"c\"><Prefix>p/</Prefix><MaxResults>2</MaxResults><Blobs><Blob><Name>p/a &amp; b.jpg</Name><Properties><Content-Length>12</Content-Length><Content-Type>image/jpeg</Content-Type></Properties></Blob><Blob><Name>p/c.png</Name><Properties><Content-Length>7</Content-Length></Properties><Metadata><Name>not a blob name</Name></Metadata></Blob></Blobs><NextMarker>/devstoreaccount1/c/p/c.png</NextMarker></EnumerationResults>";
    let last = "<EnumerationResults><Blobs/><NextMarker/></EnumerationResults>";
    let listing = |pages: Vec<&'static str>| {
        let transport = move |r: HttpRequest| -> Result<HttpResponse, TransportError> {
            let page = if r.url.contains("marker=") {
                pages[1]
            } else {
                pages[0]
            };
            Ok(HttpResponse::new(200, page))
        };
        let vars = [
            ("AZURE_STORAGE_ACCOUNT_NAME", "a"),
            ("AZURE_STORAGE_SAS_TOKEN", "sv=1&sig=x"),
        ];
        let source = builder("az://c/p/", &vars, T)
            .transport(transport)
            .build()
            .unwrap();
        let objects: Result<Vec<_>, _> = source
            .objects()
            .map(|o| o.map(|o| (o.key, o.size)))
            .collect();
        objects
    };
    let objects = listing(vec![first, last]).unwrap();
    let want = [
        ("p/a & b.jpg".to_string(), Some(12)),
        ("p/c.png".to_string(), Some(7)),
    ];
    assert_eq!(objects, want);
    let e = listing(vec![first, "<EnumerationResults><Blobs>"]).unwrap_err();
    assert!(e.to_string().contains("could not be decoded"), "{e}");
}
