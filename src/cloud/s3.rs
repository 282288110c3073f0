//! S3 and S3-compatible stores: SigV4 presigned GETs and `ListObjectsV2` with `rusty-s3`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use rusty_s3::actions::GetObject;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use sha2::{Digest, Sha256};

use super::http::{Http, canonical_query, cloud_error, list_objects_v2, v4_signature};
use super::settings::{Settings, parse_ini};
use super::{Page, Secret, Store};
use crate::transport::HttpRequest;
use crate::{Error, Result};

const STORE: &str = "S3";

/// Resolved S3 settings (no I/O but reading the shared credentials files).
#[derive(Debug)]
pub(crate) struct S3Config {
    pub(crate) key_id: Secret,
    pub(crate) secret: Secret,
    pub(crate) token: Option<Secret>,
    pub(crate) region: String,
    pub(crate) endpoint: String,
    pub(crate) path_style: bool,
    /// What to check when the keys are refused: where they came from.
    pub(crate) check: String,
}

type Keys = (String, String, Option<String>);

impl S3Config {
    /// Resolves credentials, region and endpoint for `bucket` (rules in the module docs).
    pub(crate) fn resolve(settings: &Settings, bucket: &str) -> Result<Self> {
        let profile_name = settings.get("AWS_PROFILE");
        let files = ProfileFiles::read(settings);
        let env_keys = match (
            settings.get("AWS_ACCESS_KEY_ID"),
            settings.get("AWS_SECRET_ACCESS_KEY"),
        ) {
            (Some(k), Some(s)) => Some((k, s, settings.get("AWS_SESSION_TOKEN"))),
            _ => None,
        };
        let profile = profile_name.as_deref().unwrap_or("default");
        // An explicit profile wins over keys in the environment, as in the official
        // client (s3fs passes the profile to botocore).
        let ((key_id, secret, token), check) = match (&profile_name, env_keys) {
            (None, Some(keys)) => {
                let check = "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN";
                (keys, check.to_string())
            }
            (named, _) => {
                let keys = files.keys(profile, named.is_some())?;
                (keys, format!("check the keys of AWS profile {profile:?}"))
            }
        };
        let profile_region = files
            .profile(profile)
            .and_then(|s| s.get("region").cloned());
        let region = settings
            .first(&["AWS_REGION", "AWS_DEFAULT_REGION"])
            .or(profile_region)
            .unwrap_or_else(|| "us-east-1".into());
        let custom = settings.first(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]);
        let (endpoint, path_style) = match custom {
            Some(e) => (e.trim_end_matches('/').to_string(), true),
            None => {
                // Virtual-host style needs a name that is one DNS label under TLS.
                let dns_ok = !bucket.contains('.')
                    && bucket
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                (format!("https://s3.{region}.amazonaws.com"), !dns_ok)
            }
        };
        Ok(S3Config {
            key_id: Secret(key_id),
            secret: Secret(secret),
            token: token.map(Secret),
            region,
            endpoint,
            path_style,
            check,
        })
    }
}

/// The shared credentials file and the config file, read once.
struct ProfileFiles {
    paths: Vec<String>,
    credentials: BTreeMap<String, BTreeMap<String, String>>,
    config: BTreeMap<String, BTreeMap<String, String>>,
}

impl ProfileFiles {
    fn read(settings: &Settings) -> Self {
        let home = settings.first(&["HOME", "USERPROFILE"]);
        let cred_path = settings
            .get("AWS_SHARED_CREDENTIALS_FILE")
            .or_else(|| home.as_ref().map(|h| format!("{h}/.aws/credentials")));
        let conf_path = settings
            .get("AWS_CONFIG_FILE")
            .or_else(|| home.as_ref().map(|h| format!("{h}/.aws/config")));
        let load = |p: &Option<String>| {
            p.as_ref()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .map(|t| parse_ini(&t))
                .unwrap_or_default()
        };
        ProfileFiles {
            credentials: load(&cred_path),
            config: load(&conf_path),
            paths: cred_path.into_iter().chain(conf_path).collect(),
        }
    }

    /// A profile's settings: the credentials file's `[name]` over the config file's
    /// `[profile name]` (`[default]` in both).
    fn profile(&self, name: &str) -> Option<BTreeMap<String, String>> {
        let conf_name = match name {
            "default" => name.to_string(),
            _ => format!("profile {name}"),
        };
        let mut merged = self.config.get(&conf_name).cloned();
        if let Some(c) = self.credentials.get(name) {
            merged.get_or_insert_default().extend(c.clone());
        }
        merged
    }

    /// The keys of profile `name`, which the user named (`explicit`) or is the default.
    fn keys(&self, name: &str, explicit: bool) -> Result<Keys> {
        let section = self.profile(name);
        let keys = section.as_ref().and_then(|s| {
            let k = s.get("aws_access_key_id")?.clone();
            let secret = s.get("aws_secret_access_key")?.clone();
            Some((k, secret, s.get("aws_session_token").cloned()))
        });
        let files = if self.paths.is_empty() {
            "the shared credentials file (HOME is not set)".to_string()
        } else {
            self.paths.join(" or ")
        };
        keys.ok_or_else(|| {
            let message = match (explicit, section) {
                (false, _) => format!(
                    "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or \
                     AWS_PROFILE naming a profile in {files}"
                ),
                (true, None) => {
                    format!("AWS_PROFILE is {name:?} but no such profile with keys is in {files}")
                }
                (true, Some(_)) => format!(
                    "profile {name:?} in {files} has no aws_access_key_id and \
                     aws_secret_access_key (SSO, credential_process and role profiles are not \
                     supported)"
                ),
            };
            cloud_error(STORE, None, message)
        })
    }
}

/// An S3 bucket with its credentials.
pub(crate) struct S3Store {
    bucket: Bucket,
    credentials: Credentials,
    config: S3Config,
    http: Http,
}

impl S3Store {
    pub(crate) fn new(config: S3Config, bucket: &str, http: Http) -> Result<Self> {
        let at = &config.endpoint;
        let endpoint: url::Url = at
            .parse()
            .map_err(|e| Error::invalid("AWS_ENDPOINT_URL", format!("{at:?} is not a URL: {e}")))?;
        let style = [UrlStyle::VirtualHost, UrlStyle::Path][usize::from(config.path_style)];
        let region = config.region.clone();
        let b = Bucket::new(endpoint, style, bucket.to_string(), region).map_err(|e| {
            let why = format!("cannot address bucket {bucket:?} at {at}: {e:?}");
            Error::invalid("bucket URL", why)
        })?;
        let (key, secret) = (&config.key_id.0, &config.secret.0);
        let credentials = match &config.token {
            Some(t) => Credentials::new_with_token(key, secret, &t.0),
            None => Credentials::new(key, secret),
        };
        Ok(S3Store {
            bucket: b,
            credentials,
            config,
            http,
        })
    }

    fn secrets(&self) -> Vec<String> {
        let mut s = vec![self.config.key_id.0.clone(), self.config.secret.0.clone()];
        if let Some(t) = &self.config.token {
            s.push(t.0.clone());
        }
        s
    }

    /// A GET on the bucket with `query`, SigV4-signed in the `Authorization` header: every
    /// S3-compatible server checks those (moto's IAM mode only those), not all presigned ones.
    fn header_signed_get(&self, query: &[(&str, String)], now: SystemTime) -> HttpRequest {
        let base = self.bucket.base_url();
        let host = base.host_str().unwrap_or("");
        let host = base
            .port()
            .map_or(host.to_string(), |p| format!("{host}:{p}"));
        let canonical_query = canonical_query(query);
        let stamp = super::amz_date(now);
        let date = stamp.get(..8).unwrap_or("");
        let empty_hash = super::hex(&Sha256::digest(b""));
        let mut headers = vec![
            ("host", host),
            ("x-amz-content-sha256", empty_hash.clone()),
            ("x-amz-date", stamp.clone()),
        ];
        if let Some(t) = &self.config.token {
            headers.push(("x-amz-security-token", t.0.to_string()));
        }
        let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let signed_headers: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
        let signed_headers = signed_headers.join(";");
        let canonical_request = format!(
            "GET\n{}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{empty_hash}",
            base.path()
        );
        let scope = format!("{date}/{}/s3/aws4_request", self.config.region);
        let hash = super::hex(&Sha256::digest(canonical_request.as_bytes()));
        let string_to_sign = format!("AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hash}");
        let secret = format!("AWS4{}", self.config.secret.0);
        let parts = [self.config.region.as_str(), "s3", "aws4_request"];
        let signature = v4_signature(&secret, date, parts, &string_to_sign);
        let url = format!("{}?{canonical_query}", base.as_str());
        let mut req = HttpRequest::get(url).with_header(
            "Authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
                self.config.key_id.0
            ),
        );
        for (k, v) in headers.into_iter().skip(1) {
            req = req.with_header(k, v);
        }
        req
    }
}

impl Store for S3Store {
    fn list_page(&self, prefix: &str, token: Option<&str>, page_size: u32) -> Result<Page> {
        let mut query = vec![
            ("encoding-type", "url".to_string()),
            ("list-type", "2".to_string()),
            // S3 grants at most 1,000 keys a page.
            ("max-keys", page_size.min(1000).to_string()),
        ];
        if !prefix.is_empty() {
            query.push(("prefix", prefix.to_string()));
        }
        if let Some(t) = token {
            query.push(("continuation-token", t.to_string()));
        }
        let make = || self.header_signed_get(&query, self.http.clock.now());
        let what = format!("s3://{}/{prefix}", self.bucket.name());
        match self.http.fetch(STORE, &make, &self.secrets())? {
            Ok(body) => list_objects_v2(STORE, &body, &what),
            Err(r) => Err(match &r.region_hint {
                Some(region) if matches!(r.status, 301 | 400) && *region != self.config.region => {
                    let message = format!(
                        "listing {what} failed: the bucket is in region {region}, not {}; set AWS_REGION={region}",
                        self.config.region
                    );
                    cloud_error(STORE, Some(r.status), message)
                }
                _ => r.listing_error(
                    STORE,
                    &format!("listing {what}"),
                    &self.config.check,
                    &self.describe(),
                ),
            }),
        }
    }

    fn sign_get(&self, key: &str, expires: Duration, now: SystemTime) -> Result<String> {
        let action = GetObject::new(&self.bucket, Some(&self.credentials), key);
        let now = super::timestamp(now);
        Ok(action.sign_with_time(expires, &now).into())
    }

    fn describe(&self) -> String {
        format!(
            "{} (region {}, {} style)",
            self.bucket.base_url(),
            self.config.region,
            if self.config.path_style {
                "path"
            } else {
                "virtual-host"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn example_store() -> S3Store {
        let config = S3Config {
            key_id: Secret("AKIAIOSFODNN7EXAMPLE".into()),
            secret: Secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into()),
            token: None,
            region: "us-east-1".into(),
            endpoint: "https://s3.amazonaws.com".into(),
            path_style: false,
            check: String::new(),
        };
        let http = Http {
            transport: Arc::new(crate::transport::UreqTransport::new()),
            retry: crate::api::RetryPolicy::never(),
            clock: crate::api::Clock::system(),
        };
        S3Store::new(config, "examplebucket", http).unwrap()
    }

    #[test]
    fn header_signature_matches_the_aws_list_objects_example() {
        // "Example: GET Bucket (List Objects)" of the SigV4 header-signing documentation.
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600);
        let req = example_store()
            .header_signed_get(&[("max-keys", "2".into()), ("prefix", "J".into())], t);
        assert_eq!(
            req.url,
            "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J"
        );
        assert_eq!(
            req.header("authorization"),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
            )
        );
    }

    #[test]
    fn presigned_get_matches_the_aws_example() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600);
        let url = example_store()
            .sign_get("test.txt", Duration::from_secs(86400), t)
            .unwrap();
        assert!(
            url.ends_with(
                "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
            ),
            "{url}"
        );
    }
}
