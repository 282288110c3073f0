//! Google Cloud Storage: V4 signed URLs (RSA-SHA256 with a service-account key, or
//! HMAC-SHA256 with interoperability keys) and listing through the JSON API.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::{self, PemObject};
use sha2::{Digest, Sha256};

use super::http::{Http, canonical_query, cloud_error, list_objects_v2, undecodable, v4_signature};
use super::settings::Settings;
use super::{CloudObject, Page, Secret, Store, amz_date, encode_path, hex};
use crate::transport::{Body, HttpRequest, Method};
use crate::urls::encode;
use crate::{Error, Result};

const STORE: &str = "GCS";
const SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_only";

/// How URLs are signed.
pub(crate) enum GcsKey {
    /// A service account: its e-mail, its RSA key, and where tokens are minted.
    ServiceAccount {
        email: String,
        key: Box<RsaKeyPair>,
        token_uri: String,
    },
    /// HMAC interoperability keys.
    Hmac { access_id: String, secret: Secret },
}

impl GcsKey {
    /// Resolves the key (rules in the module docs); errors name the variable at fault.
    pub(crate) fn resolve(settings: &Settings) -> Result<Self> {
        if let (Some(id), Some(secret)) = (
            settings.get("GCS_HMAC_ACCESS_ID"),
            settings.get("GCS_HMAC_SECRET"),
        ) {
            return Ok(GcsKey::Hmac {
                access_id: id,
                secret: Secret(secret),
            });
        }
        let path = settings
            .get("GOOGLE_APPLICATION_CREDENTIALS")
            .ok_or_else(|| {
                fail(
                    "no credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key \
                 file, or GCS_HMAC_ACCESS_ID and GCS_HMAC_SECRET",
                )
            })?;
        let text = std::fs::read_to_string(&path).map_err(|e| {
            fail(format!(
                "cannot read GOOGLE_APPLICATION_CREDENTIALS file {path}: {e}"
            ))
        })?;
        Self::from_service_account_json(&text, &path)
    }

    /// Parses a service-account key file; `origin` names it in errors.
    pub(crate) fn from_service_account_json(text: &str, origin: &str) -> Result<Self> {
        let bad = |why: &str| fail(format!("the key file {origin} {why}"));
        let v: serde_json::Value = serde_json::from_str(text).map_err(|_| bad("is not JSON"))?;
        match v["type"].as_str() {
            Some("service_account") => {}
            Some(other) => {
                return Err(bad(&format!(
                    "holds {other:?} credentials, which cannot sign URLs; use a service-account \
                     key or HMAC keys"
                )));
            }
            None => return Err(bad("has no \"type\"")),
        }
        let field = |name: &str| {
            v[name]
                .as_str()
                .ok_or_else(|| bad(&format!("has no {name}")))
        };
        let email = field("client_email")?.to_string();
        let pem = field("private_key")?;
        let key = rsa_key(pem).map_err(|why| bad(&format!("has a private_key that {why}")))?;
        let token_uri = v["token_uri"]
            .as_str()
            .unwrap_or("https://oauth2.googleapis.com/token")
            .to_string();
        Ok(GcsKey::ServiceAccount {
            email,
            key: Box::new(key),
            token_uri,
        })
    }

    /// Who signs, and the algorithm a URL names.
    fn signer(&self) -> (&str, &'static str) {
        match self {
            GcsKey::ServiceAccount { email, .. } => (email, "GOOG4-RSA-SHA256"),
            GcsKey::Hmac { access_id, .. } => (access_id, "GOOG4-HMAC-SHA256"),
        }
    }

    /// The hex signature of `string_to_sign` made on `date` (`YYYYMMDD`).
    fn sign(&self, string_to_sign: &str, date: &str) -> Result<String> {
        match self {
            GcsKey::ServiceAccount { key, .. } => Ok(hex(&rsa_sign(key, string_to_sign)?)),
            GcsKey::Hmac { secret, .. } => {
                let secret = format!("GOOG4{}", secret.0);
                let parts = ["auto", "storage", "goog4_request"];
                Ok(v4_signature(&secret, date, parts, string_to_sign))
            }
        }
    }
}

/// The RSA key in a key file's `private_key` PEM: PKCS#8 (`BEGIN PRIVATE KEY`, what Google
/// issues) or PKCS#1 (`BEGIN RSA PRIVATE KEY`). The error says what is wrong without
/// showing any of the key.
fn rsa_key(pem: &str) -> std::result::Result<RsaKeyPair, &'static str> {
    const NOT_RSA: &str = "is not an RSA key (GCS signs with RSA keys)";
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| match e {
        pem::Error::NoItemsFound => {
            "is not a PEM private key (no BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY block)"
        }
        _ => "is not valid PEM",
    })?;
    let parsed = match &der {
        PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
        PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
        _ => return Err(NOT_RSA),
    };
    parsed.map_err(|e| match e.description_() {
        "WrongAlgorithm" => NOT_RSA,
        "TooSmall" => "is an RSA key shorter than 2048 bits",
        "TooLarge" => "is an RSA key longer than 8192 bits",
        "InconsistentComponents" => "is an RSA key whose parts do not match",
        _ => "is not a well-formed PKCS#8 or PKCS#1 RSA key",
    })
}

/// The RSASSA-PKCS1-v1_5 SHA-256 signature of `data` (`GOOG4-RSA-SHA256`, JWT `RS256`).
fn rsa_sign(key: &RsaKeyPair, data: &str) -> Result<Vec<u8>> {
    let mut sig = vec![0; key.public_modulus_len()];
    // aws-lc-rs ignores this generator: AWS-LC blinds with its own, seeded by the OS.
    let rng = aws_lc_rs::rand::SystemRandom::new();
    key.sign(&RSA_PKCS1_SHA256, &rng, data.as_bytes(), &mut sig)
        .map_err(|_| fail("RSA signing failed"))?;
    Ok(sig)
}

fn fail(message: impl Into<String>) -> Error {
    cloud_error(STORE, None, message)
}

/// A GCS bucket with its key.
pub(crate) struct GcsStore {
    bucket: String,
    key: GcsKey,
    /// `https://storage.googleapis.com`, or the emulator's base URL.
    base: String,
    emulator: bool,
    http: Http,
    token: Mutex<Option<(Secret, SystemTime)>>,
}

impl GcsStore {
    pub(crate) fn new(settings: &Settings, bucket: &str, http: Http) -> Result<Self> {
        let key = GcsKey::resolve(settings)?;
        let (base, emulator) = match settings.get("STORAGE_EMULATOR_HOST") {
            Some(h) if h.contains("://") => (h.trim_end_matches('/').to_string(), true),
            Some(h) => (format!("http://{}", h.trim_end_matches('/')), true),
            None => ("https://storage.googleapis.com".to_string(), false),
        };
        Ok(GcsStore {
            bucket: bucket.to_string(),
            key,
            base,
            emulator,
            http,
            token: Mutex::new(None),
        })
    }

    fn host(&self) -> &str {
        let rest = self.base.split_once("://").map_or(&*self.base, |(_, r)| r);
        rest.split('/').next().unwrap_or(rest)
    }

    /// A V4 signed URL for `method` on `path` (already encoded) with extra query pairs.
    fn signed_url(
        &self,
        path: &str,
        extra: &[(&str, String)],
        expires: Duration,
        now: SystemTime,
    ) -> Result<String> {
        let stamp = amz_date(now);
        let date = stamp.get(..8).unwrap_or("");
        let scope = format!("{date}/auto/storage/goog4_request");
        let (signer, algorithm) = self.key.signer();
        let mut query = vec![
            ("X-Goog-Algorithm", algorithm.to_string()),
            ("X-Goog-Credential", format!("{signer}/{scope}")),
            ("X-Goog-Date", stamp.clone()),
            ("X-Goog-Expires", expires.as_secs().to_string()),
            ("X-Goog-SignedHeaders", "host".into()),
        ];
        query.extend_from_slice(extra);
        let canonical_query = canonical_query(&query);
        let canonical_request = format!(
            "GET\n{path}\n{canonical_query}\nhost:{}\n\nhost\nUNSIGNED-PAYLOAD",
            self.host()
        );
        let hash = hex(&Sha256::digest(canonical_request.as_bytes()));
        let string_to_sign = format!("{algorithm}\n{stamp}\n{scope}\n{hash}");
        let signature = self.key.sign(&string_to_sign, date)?;
        Ok(format!(
            "{}{path}?{canonical_query}&X-Goog-Signature={signature}",
            self.base
        ))
    }

    /// A bearer token for the JSON API (none for the emulator); minted from a JWT signed
    /// by the service account, and kept until a minute before it expires.
    fn bearer(&self) -> Result<Option<Secret>> {
        if self.emulator {
            return Ok(None);
        }
        let GcsKey::ServiceAccount {
            email,
            key,
            token_uri,
        } = &self.key
        else {
            return Ok(None);
        };
        let now = self.http.clock.now();
        let mut cached = self.token.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((tok, until)) = cached.as_ref()
            && now < *until
        {
            return Ok(Some(tok.clone()));
        }
        let iat = super::unix_seconds(now);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = b64.encode(
            serde_json::json!({"iss": email, "scope": SCOPE, "aud": token_uri, "iat": iat, "exp": iat + 3600})
                .to_string(),
        );
        let signing_input = format!("{header}.{claims}");
        let sig = rsa_sign(key, &signing_input)?;
        let jwt = format!("{signing_input}.{}", b64.encode(sig));
        let form = format!(
            "grant_type={}&assertion={jwt}",
            encode("urn:ietf:params:oauth:grant-type:jwt-bearer")
        );
        let make = || {
            HttpRequest::new(Method::Post, token_uri.as_str())
                .with_header("Content-Type", "application/x-www-form-urlencoded")
                .body(Body::Bytes(form.clone().into_bytes()))
        };
        let body = match self.http.fetch(STORE, &make, std::slice::from_ref(&jwt))? {
            Ok(b) => b,
            Err(r) => {
                return Err(cloud_error(
                    STORE,
                    Some(r.status),
                    format!(
                        "the service account {email} could not get an access token ({}); check \
                         GOOGLE_APPLICATION_CREDENTIALS",
                        r.summary()
                    ),
                ));
            }
        };
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| fail("the token answer is not JSON"))?;
        let tok = v["access_token"]
            .as_str()
            .ok_or_else(|| fail("the token answer has no access_token"))?;
        let life = v["expires_in"].as_u64().unwrap_or(3600).saturating_sub(60);
        let tok = Secret(tok.to_string());
        *cached = Some((tok.clone(), now + Duration::from_secs(life)));
        Ok(Some(tok))
    }

    fn refused(&self, prefix: &str, r: super::http::Refusal) -> Error {
        let what = format!("listing gs://{}/{prefix}", self.bucket);
        let check = "check GOOGLE_APPLICATION_CREDENTIALS or the HMAC keys and the key's access \
                     to the bucket";
        r.listing_error(STORE, &what, check, &self.base)
    }

    fn list_json(&self, prefix: &str, token: Option<&str>, page_size: u32) -> Result<Page> {
        let bearer = self.bearer()?;
        let mut query = vec![
            ("prefix", prefix.to_string()),
            // GCS grants at most 1,000 objects a page, in either API.
            ("maxResults", page_size.min(1000).to_string()),
            ("fields", "items(name,size),nextPageToken".to_string()),
        ];
        if let Some(t) = token {
            query.push(("pageToken", t.to_string()));
        }
        let url = crate::urls::with_query(
            &format!("{}/storage/v1/b/{}/o", self.base, encode(&self.bucket)),
            &query,
        );
        let make = || {
            let req = HttpRequest::get(url.as_str()).with_header("Accept", "application/json");
            match &bearer {
                Some(t) => req.with_header("Authorization", format!("Bearer {}", t.0)),
                None => req,
            }
        };
        let secrets: Vec<String> = bearer.iter().map(|t| t.0.clone()).collect();
        let body = match self.http.fetch(STORE, &make, &secrets)? {
            Ok(b) => b,
            Err(r) => return Err(self.refused(prefix, r)),
        };
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Listing {
            #[serde(default)]
            items: Vec<Item>,
            next_page_token: Option<String>,
        }
        #[derive(serde::Deserialize)]
        struct Item {
            name: String,
            size: Option<serde_json::Value>,
        }
        let what = format!("gs://{}/{prefix}", self.bucket);
        let l: Listing = serde_json::from_slice(&body).map_err(|e| undecodable(STORE, &what, e))?;
        // The JSON API sends sizes as strings.
        let size = |s: serde_json::Value| s.as_str().map_or(s.as_u64(), |s| s.parse().ok());
        let objects = l.items.into_iter().map(|i| CloudObject {
            key: i.name,
            size: i.size.and_then(size),
        });
        Ok(Page {
            objects: objects.collect(),
            next: l.next_page_token.filter(|t| !t.is_empty()),
        })
    }

    /// HMAC keys only work with the XML API: a signed `ListObjectsV2` URL.
    fn list_xml(&self, prefix: &str, token: Option<&str>, page_size: u32) -> Result<Page> {
        let mut extra = vec![
            ("list-type", "2".to_string()),
            ("max-keys", page_size.min(1000).to_string()),
            ("prefix", prefix.to_string()),
        ];
        if let Some(t) = token {
            extra.push(("continuation-token", t.to_string()));
        }
        let path = format!("/{}", encode(&self.bucket));
        let url = self.signed_url(
            &path,
            &extra,
            Duration::from_secs(300),
            self.http.clock.now(),
        )?;
        let make = || HttpRequest::get(url.as_str());
        match self.http.fetch(STORE, &make, &[])? {
            Ok(body) => list_objects_v2(STORE, &body, &format!("gs://{}/{prefix}", self.bucket)),
            Err(r) => Err(self.refused(prefix, r)),
        }
    }
}

impl Store for GcsStore {
    fn list_page(&self, prefix: &str, token: Option<&str>, page_size: u32) -> Result<Page> {
        match (&self.key, self.emulator) {
            (GcsKey::Hmac { .. }, false) => self.list_xml(prefix, token, page_size),
            _ => self.list_json(prefix, token, page_size),
        }
    }

    fn sign_get(&self, key: &str, expires: Duration, now: SystemTime) -> Result<String> {
        let path = format!("/{}/{}", encode(&self.bucket), encode_path(key));
        self.signed_url(&path, &[], expires, now)
    }

    fn describe(&self) -> String {
        format!("{}/{}", self.base, self.bucket)
    }
}
