//! Azure Blob Storage: service SAS URLs from the account key (HMAC-SHA256), or a given SAS
//! token reused as is; List Blobs (XML, read with quick-xml).

use std::time::{Duration, SystemTime};

use base64::Engine;
use instant_xml::FromXml;

use super::http::{Http, cloud_error, hmac_sha256, undecodable};
use super::settings::{Settings, parse_connection_string};
use super::{CloudObject, Page, Secret, Store, encode_path, timestamp};
use crate::transport::HttpRequest;
use crate::urls::encode;
use crate::{Error, Result};

const STORE: &str = "Azure";
/// The SAS version signed (string-to-sign with the encryption scope line).
const SAS_VERSION: &str = "2021-08-06";

/// How requests are authorised.
pub(crate) enum AzureAuth {
    /// The account key (decoded), which signs a SAS per request.
    Key(Secret, Vec<u8>),
    /// A SAS token, without its leading `?`, appended as is.
    Sas(Secret),
}

/// An Azure container with its account and credentials.
pub(crate) struct AzureStore {
    account: String,
    container: String,
    /// `https://<account>.blob.core.windows.net`, or the connection string's `BlobEndpoint`.
    endpoint: String,
    auth: AzureAuth,
    http: Http,
}

fn fail(message: impl Into<String>) -> Error {
    cloud_error(STORE, None, message)
}

impl AzureStore {
    /// Resolves account, endpoint and credentials (rules in the module docs).
    pub(crate) fn new(
        settings: &Settings,
        container: &str,
        url_account: Option<&str>,
        http: Http,
    ) -> Result<Self> {
        let cs = settings
            .get("AZURE_STORAGE_CONNECTION_STRING")
            .map(|s| parse_connection_string(&s))
            .unwrap_or_default();
        let account = url_account
            .map(str::to_string)
            .or_else(|| settings.first(&["AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT"]))
            .or_else(|| cs.get("AccountName").cloned())
            .ok_or_else(|| {
                fail(
                    "no storage account: set AZURE_STORAGE_ACCOUNT_NAME (or \
                     AZURE_STORAGE_CONNECTION_STRING), or write az://container@account/…",
                )
            })?;
        let endpoint = match cs.get("BlobEndpoint") {
            Some(e) => e.trim_end_matches('/').to_string(),
            None => {
                let proto = cs
                    .get("DefaultEndpointsProtocol")
                    .map_or("https", String::as_str);
                let suffix = cs
                    .get("EndpointSuffix")
                    .map_or("core.windows.net", String::as_str);
                format!("{proto}://{account}.blob.{suffix}")
            }
        };
        let sas = settings
            .get("AZURE_STORAGE_SAS_TOKEN")
            .or_else(|| cs.get("SharedAccessSignature").cloned());
        let key = settings
            .first(&["AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_KEY"])
            .or_else(|| cs.get("AccountKey").cloned());
        let auth = match (sas, key) {
            (Some(sas), _) => AzureAuth::Sas(Secret(sas.trim_start_matches('?').to_string())),
            (None, Some(key)) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(key.trim())
                    .map_err(|_| {
                        fail("the account key (AZURE_STORAGE_ACCOUNT_KEY) is not base64")
                    })?;
                AzureAuth::Key(Secret(key), bytes)
            }
            (None, None) => {
                return Err(fail(format!(
                    "no credentials for account {account:?}: set AZURE_STORAGE_SAS_TOKEN or \
                         AZURE_STORAGE_ACCOUNT_KEY, or AZURE_STORAGE_CONNECTION_STRING"
                )));
            }
        };
        Ok(AzureStore {
            account,
            container: container.to_string(),
            endpoint,
            auth,
            http,
        })
    }

    /// The query that authorises a request: the SAS token as given, or a service SAS the
    /// key signs for a blob (`sr=b`) or the container.
    fn auth_query(&self, blob: Option<&str>, perms: &str, expires_at: SystemTime) -> String {
        let key = match &self.auth {
            AzureAuth::Sas(token) => return token.0.to_string(),
            AzureAuth::Key(_, key) => key,
        };
        let se = timestamp(expires_at).to_string(); // YYYY-MM-DDTHH:MM:SSZ
        let spr = if self.endpoint.starts_with("https://") {
            "https"
        } else {
            "https,http"
        };
        let resource = format!("/blob/{}/{}", self.account, self.container);
        let (sr, resource) = match blob {
            Some(b) => ("b", format!("{resource}/{b}")),
            None => ("c", resource),
        };
        // sp, st, se, resource, si, sip, spr, sv, sr, snapshot, ses, rscc, rscd, rsce, rscl, rsct
        let to_sign =
            format!("{perms}\n\n{se}\n{resource}\n\n\n{spr}\n{SAS_VERSION}\n{sr}\n\n\n\n\n\n\n");
        let sig = hmac_sha256(key, to_sign.as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(sig);
        format!(
            "sv={SAS_VERSION}&spr={}&se={}&sr={sr}&sp={perms}&sig={}",
            encode(spr),
            encode(&se),
            encode(&sig)
        )
    }

    fn secrets(&self) -> Vec<String> {
        let (AzureAuth::Key(secret, _) | AzureAuth::Sas(secret)) = &self.auth;
        vec![secret.0.clone()]
    }

    fn refused(&self, prefix: &str, r: super::http::Refusal) -> Error {
        let what = format!(
            "listing az://{}/{prefix} in account {}",
            self.container, self.account
        );
        let check = match self.auth {
            AzureAuth::Key(..) => {
                "check AZURE_STORAGE_ACCOUNT_KEY (or the connection string's AccountKey)"
            }
            AzureAuth::Sas(_) => {
                "check that AZURE_STORAGE_SAS_TOKEN is valid, unexpired and allows list and read"
            }
        };
        r.listing_error(STORE, &what, check, &self.endpoint)
    }
}

impl Store for AzureStore {
    fn list_page(&self, prefix: &str, token: Option<&str>, page_size: u32) -> Result<Page> {
        let expires = self.http.clock.now() + Duration::from_secs(300);
        // Azure grants at most 5,000 blobs a page.
        let mut url = format!(
            "{}/{}?restype=container&comp=list&maxresults={}",
            self.endpoint,
            encode(&self.container),
            page_size.min(5000)
        );
        if !prefix.is_empty() {
            url.push_str(&format!("&prefix={}", encode(prefix)));
        }
        if let Some(t) = token {
            url.push_str(&format!("&marker={}", encode(t)));
        }
        url.push('&');
        url.push_str(&self.auth_query(None, "l", expires));
        let make = || HttpRequest::get(url.as_str());
        let body = match self.http.fetch(STORE, &make, &self.secrets())? {
            Ok(b) => b,
            Err(r) => return Err(self.refused(prefix, r)),
        };
        let what = format!("az://{}/{prefix}", self.container);
        parse_list_blobs(&body).map_err(|why| undecodable(STORE, &what, why))
    }

    fn sign_get(&self, key: &str, expires: Duration, now: SystemTime) -> Result<String> {
        let query = self.auth_query(Some(key), "r", now + expires);
        Ok(format!(
            "{}/{}/{}?{query}",
            self.endpoint,
            encode(&self.container),
            encode_path(key)
        ))
    }

    fn describe(&self) -> String {
        format!("{}/{}", self.endpoint, self.container)
    }

    fn warning(&self) -> Option<String> {
        matches!(self.auth, AzureAuth::Sas(_)).then(|| {
            "the Azure SAS token is reused as given (as the official client does): the \
             references expire when it does, whatever the expiry asked for"
                .to_string()
        })
    }
}

/// A List Blobs answer: the blobs and the next marker.
#[derive(FromXml)]
#[xml(rename = "EnumerationResults")]
struct ListBlobs {
    blobs: Option<Blobs>,
    #[xml(rename = "NextMarker")]
    next: Option<String>,
}

#[derive(FromXml)]
#[xml(rename = "Blobs")]
struct Blobs {
    blob: Vec<Blob>,
}

#[derive(FromXml)]
#[xml(rename = "Blob")]
struct Blob {
    #[xml(rename = "Name")]
    name: String,
    properties: Option<Properties>,
}

#[derive(FromXml)]
#[xml(rename = "Properties")]
struct Properties {
    #[xml(rename = "Content-Length")]
    size: Option<String>,
}

fn parse_list_blobs(xml: &[u8]) -> std::result::Result<Page, String> {
    let text = String::from_utf8_lossy(xml);
    let text = text.trim_matches(|c: char| c == '\u{feff}' || c.is_whitespace());
    // instant-xml takes a document cut at a tag boundary as complete.
    if !text.ends_with("</EnumerationResults>") {
        return Err("the XML ends early".into());
    }
    let list = instant_xml::from_str::<ListBlobs>(text).map_err(|e| e.to_string())?;
    let blobs = list.blobs.map_or(Vec::new(), |b| b.blob);
    let objects = blobs.into_iter().filter(|b| !b.name.is_empty()).map(|b| {
        let size = b.properties.and_then(|p| p.size?.trim().parse().ok());
        CloudObject { key: b.name, size }
    });
    Ok(Page {
        objects: objects.collect(),
        next: list.next.filter(|m| !m.trim().is_empty()),
    })
}
