//! The cloud source: a bucket URL, a store with its credentials, and a lazy listing.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::azure::AzureStore;
use super::gcs::GcsStore;
use super::http::Http;
use super::location::{BucketUrl, StoreKind};
use super::names::reference_name;
use super::s3::{S3Config, S3Store};
use super::settings::Settings;
use super::{DEFAULT_EXPIRY, MAX_V4_EXPIRY, Store};
use crate::api::{Clock, RetryPolicy};
use crate::model::{FileReference, MediaKind};
use crate::transport::{Transport, UreqTransport};
use crate::{Error, Result};

/// One listed object.
///
/// ```
/// let o = roboflow_batch::cloud::CloudObject { key: "in/a.jpg".into(), size: Some(10) };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudObject {
    /// The full key in the bucket.
    pub key: String,
    /// Its size in bytes, when the listing gave it.
    pub size: Option<u64>,
}

/// A listed object with its name in the batch and its signed GET URL.
///
/// `Debug` hides the URL's query (the signature).
#[derive(Clone, PartialEq, Eq)]
pub struct SignedReference {
    /// The full key in the bucket.
    pub key: String,
    /// The file's unique name inside the batch (see [`CloudSource::name_for`]).
    pub name: String,
    /// The signed GET URL.
    pub url: String,
    /// Its size in bytes, when the listing gave it.
    pub size: Option<u64>,
}

impl SignedReference {
    /// The reference as the ingest request carries it.
    pub(crate) fn into_file_reference(self) -> FileReference {
        FileReference {
            name: self.name,
            url: self.url,
        }
    }
}

crate::model::redacted_debug!(SignedReference { key, name, url => url, size });

/// A bucket URL with the credentials to list and sign it: the source of a references
/// ingest. Build it with [`CloudSource::builder`].
///
/// ```no_run
/// let s = roboflow_batch::cloud::CloudSource::builder("s3://b/in/").build()?;
/// s.check_access()?;
/// println!("{} {} {:?} {:?}", s.url().bucket(), s.describe(), s.media(), s.name_for("in/a/b.jpg"));
/// let url = s.sign("in/a/b.jpg")?;
/// # Ok::<(), roboflow_batch::Error>(())
/// ```
#[derive(Clone)]
pub struct CloudSource {
    url: BucketUrl,
    store: Arc<dyn Store>,
    media: MediaKind,
    expiry: Duration,
    page_size: u32,
    max_pages: u64,
    clock: Clock,
}

crate::model::redacted_debug!(CloudSource {
    url,
    media,
    expiry,
    page_size,
    max_pages
});

impl CloudSource {
    /// A builder for the source at `url` (`s3://…`, `gs://…`, `az://…`).
    ///
    /// ```
    /// let b = roboflow_batch::cloud::CloudSource::builder("s3://b/x/*.jpg");
    /// ```
    pub fn builder(url: impl Into<String>) -> CloudSourceBuilder {
        CloudSourceBuilder {
            url: url.into(),
            media: MediaKind::Images,
            expiry: DEFAULT_EXPIRY,
            page_size: 5000,
            max_pages: 1_000_000,
            settings: Settings::default(),
            transport: None,
            retry: RetryPolicy::default(),
            clock: Clock::system(),
        }
    }

    /// The parsed bucket URL (see [`CloudSource`]).
    ///
    /// ```
    /// # let s = roboflow_batch::cloud::CloudSource::builder("s3://b/in/").env(Some(|_: &str| None)).set("AWS_ACCESS_KEY_ID", "AKID").set("AWS_SECRET_ACCESS_KEY", "sk").build().unwrap();
    /// assert_eq!((s.url().bucket(), s.url().prefix()), ("b", "in/"));
    /// ```
    pub fn url(&self) -> &BucketUrl {
        &self.url
    }

    /// Images or videos (see [`CloudSource`]).
    ///
    /// ```
    /// # let s = roboflow_batch::cloud::CloudSource::builder("s3://b/in/").env(Some(|_: &str| None)).set("AWS_ACCESS_KEY_ID", "AKID").set("AWS_SECRET_ACCESS_KEY", "sk").build().unwrap();
    /// assert_eq!(s.media(), roboflow_batch::model::MediaKind::Images);
    /// ```
    pub fn media(&self) -> MediaKind {
        self.media
    }

    /// Where the bucket is reached (endpoint and bucket; never a secret) (see [`CloudSource`]).
    ///
    /// ```
    /// # let s = roboflow_batch::cloud::CloudSource::builder("s3://b/in/").env(Some(|_: &str| None)).set("AWS_ACCESS_KEY_ID", "AKID").set("AWS_SECRET_ACCESS_KEY", "sk").build().unwrap();
    /// println!("listing {}", s.describe());
    /// ```
    pub fn describe(&self) -> String {
        self.store.describe()
    }

    /// The objects matching the glob and the media's extensions, fetched a page at a time
    /// as they are consumed, so memory stays bounded whatever the bucket's size.
    ///
    /// ```no_run
    /// # let s = roboflow_batch::cloud::CloudSource::builder("s3://b/x/").build()?;
    /// let n = s.objects().filter(|o| o.is_ok()).count();
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    #[must_use = "the listing is lazy: iterate it"]
    pub fn objects(&self) -> impl Iterator<Item = Result<CloudObject>> + '_ {
        self.listing()
    }

    /// The listing, page by page (see [`Objects::next_page`]).
    pub(crate) fn listing(&self) -> Objects<'_> {
        Objects {
            source: self,
            buffer: VecDeque::new(),
            token: None,
            pages: 0,
            empty_in_a_row: 0,
            done: false,
        }
    }

    /// The matching objects, signed, lazily; those whose name or key cannot be used are
    /// skipped (an ingest reports them).
    ///
    /// ```no_run
    /// # let s = roboflow_batch::cloud::CloudSource::builder("s3://b/x/").build()?;
    /// let first = s.references().next().transpose()?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    #[must_use = "the listing is lazy: iterate it"]
    pub fn references(&self) -> impl Iterator<Item = Result<SignedReference>> + '_ {
        self.objects().filter_map(move |o| match o {
            Ok(o) => self.sign_object(o).map(Result::ok).transpose(),
            Err(e) => Some(Err(e)),
        })
    }

    /// The unique name of an object inside the batch: its key below the prefix with `%`,
    /// `/`, `\` and control characters percent-encoded; `None` when over 512 bytes.
    ///
    /// ```
    /// # let s = roboflow_batch::cloud::CloudSource::builder("s3://b/in/").env(Some(|_: &str| None)).set("AWS_ACCESS_KEY_ID", "AKID").set("AWS_SECRET_ACCESS_KEY", "sk").build().unwrap();
    /// assert_eq!(s.name_for("in/a/b.jpg").as_deref(), Some("a%2Fb.jpg"));
    /// ```
    pub fn name_for(&self, key: &str) -> Option<String> {
        reference_name(self.url.relative(key))
    }

    /// A GET URL for `key`, valid for the configured expiry from the clock's now (see [`CloudSource`]).
    ///
    /// ```
    /// # let s = roboflow_batch::cloud::CloudSource::builder("s3://b/in/").env(Some(|_: &str| None)).set("AWS_ACCESS_KEY_ID", "AKID").set("AWS_SECRET_ACCESS_KEY", "sk").build().unwrap();
    /// assert!(s.sign("in/a.jpg").unwrap().contains("X-Amz-Signature="));
    /// ```
    pub fn sign(&self, key: &str) -> Result<String> {
        if !addressable(key) {
            return Err(Error::invalid(
                "object key",
                format!("{key:?} has `.` or `..` segments, which a URL cannot address"),
            ));
        }
        self.store.sign_get(key, self.expiry, self.clock.now())
    }

    /// The signed reference, or why the object's name or key cannot be used.
    pub(crate) fn sign_object(
        &self,
        o: CloudObject,
    ) -> Result<std::result::Result<SignedReference, String>> {
        let Some(name) = self.name_for(&o.key) else {
            let max = super::names::MAX_NAME_BYTES;
            return Ok(Err(format!(
                "its name in the batch would be longer than {max} bytes"
            )));
        };
        if !addressable(&o.key) {
            return Ok(Err(
                "its key has `.` or `..` segments, which a URL cannot address".into(),
            ));
        }
        let url = self.store.sign_get(&o.key, self.expiry, self.clock.now())?;
        let size = o.size;
        Ok(Ok(SignedReference {
            key: o.key,
            name,
            url,
            size,
        }))
    }

    /// Lists the first page, so that bad credentials or a missing bucket fail before
    /// anything is sent to the service (see [`CloudSource`]).
    ///
    /// ```no_run
    /// # let s = roboflow_batch::cloud::CloudSource::builder("s3://b/in/").build()?;
    /// s.check_access()?;
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub fn check_access(&self) -> Result<()> {
        self.store.list_page(self.url.prefix(), None, 1).map(|_| ())
    }

    pub(crate) fn warning(&self) -> Option<String> {
        self.store.warning()
    }

    pub(crate) fn wants(&self, key: &str) -> bool {
        self.url.matches(key) && self.media.matches(key)
    }
}

/// A key with `.` or `..` segments would be resolved away by URL normalisation.
fn addressable(key: &str) -> bool {
    !key.is_empty() && !key.split('/').any(|s| s == "." || s == "..")
}

/// Empty pages in a row (each with a new token) that stop a listing (Azure sends a few).
const MAX_EMPTY_PAGES_IN_A_ROW: usize = 100;

/// The lazy listing of [`CloudSource::objects`]: the next page is fetched when this one is used up.
pub(crate) struct Objects<'a> {
    source: &'a CloudSource,
    buffer: VecDeque<super::CloudObject>,
    token: Option<String>,
    pages: u64,
    /// Pages in a row with no object at all (before filtering) and a next token.
    empty_in_a_row: usize,
    done: bool,
}

impl Objects<'_> {
    /// The next page of matching objects (possibly empty), or `None` at the end.
    pub(crate) fn next_page(&mut self) -> Option<Result<Vec<CloudObject>>> {
        if self.done {
            return None;
        }
        let page = self.fetch();
        self.done |= page.is_err();
        Some(page)
    }

    fn fetch(&mut self) -> Result<Vec<CloudObject>> {
        let s = self.source;
        if self.pages >= s.max_pages {
            let message = format!(
                "listing {} stopped after {} pages (the cap); raise it with max_pages",
                s.url, s.max_pages
            );
            return Err(super::http::cloud_error(s.url.kind().name(), None, message));
        }
        self.pages += 1;
        let page = s
            .store
            .list_page(s.url.prefix(), self.token.as_deref(), s.page_size)?;
        if page.next.is_some() && page.next == self.token {
            let url = s.store.describe();
            return Err(Error::RepeatedPageToken { url });
        }
        self.done = page.next.is_none();
        self.token = page.next;
        // Stores may send an empty page with a token now and then; a run of them is a
        // store that would keep the listing going forever.
        let empty = page.objects.is_empty() && !self.done;
        self.empty_in_a_row = if empty { self.empty_in_a_row + 1 } else { 0 };
        if self.empty_in_a_row >= MAX_EMPTY_PAGES_IN_A_ROW {
            let (listing, pages) = (s.store.describe(), self.empty_in_a_row);
            return Err(Error::TooManyEmptyPages { listing, pages });
        }
        let mut objects = page.objects;
        objects.retain(|o| s.wants(&o.key));
        Ok(objects)
    }
}

impl Iterator for Objects<'_> {
    type Item = Result<CloudObject>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(o) = self.buffer.pop_front() {
                return Some(Ok(o));
            }
            match self.next_page()? {
                Ok(objects) => self.buffer.extend(objects),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Builds a [`CloudSource`]: settings, expiry, page size, transport and clock.
#[must_use = "call build()"]
pub struct CloudSourceBuilder {
    url: String,
    media: MediaKind,
    expiry: Duration,
    page_size: u32,
    max_pages: u64,
    settings: Settings,
    transport: Option<Arc<dyn Transport>>,
    retry: RetryPolicy,
    clock: Clock,
}

crate::model::redacted_debug!(CloudSourceBuilder {
    url,
    media,
    expiry,
    page_size,
    settings
});

impl CloudSourceBuilder {
    crate::model::setters! {
        setup: "",
        on: "roboflow_batch::cloud::CloudSource::builder(\"s3://b/\")";
        /// Images (the default) or videos: the extension filter (the local folder's lists).
        media(s, media: MediaKind) = "roboflow_batch::model::MediaKind::Videos" {
            s.media = media;
        }
        /// How long signed URLs stay valid (default 24 h; S3 and GCS allow at most 7 days).
        /// A reused Azure SAS token keeps its own expiry.
        expiry(s, expiry: Duration) = "std::time::Duration::from_secs(3600)" {
            s.expiry = expiry;
        }
        /// Keys asked for per listing request, at most what the store grants (default: the
        /// most it grants, 1,000 on S3 and GCS, 5,000 on Azure).
        page_size(s, n: u32) = "100" {
            s.page_size = n;
        }
        /// The most listing pages fetched before giving up (default 1,000,000).
        max_pages(s, n: u64) = "10" {
            s.max_pages = n;
        }
        /// Gives a setting (named in the [cloud guide](crate::guide::cloud)) a value that wins
        /// over its environment variable; `Debug` never shows the value.
        set(s, name: &str, value: impl Into<String>) = "\"AWS_REGION\", \"eu-west-1\"" {
            s.settings.explicit.insert(name.to_string(), value.into());
        }
        /// The transport for listing (default: a [`UreqTransport`]).
        transport(s, transport: impl Transport + 'static) = "roboflow_batch::transport::UreqTransport::new()" {
            s.transport = Some(Arc::new(transport));
        }
        /// Retries of listing requests (default: [`RetryPolicy::default`]).
        retry_policy(s, policy: RetryPolicy) = "roboflow_batch::api::RetryPolicy::never()" {
            s.retry = policy;
        }
        /// The clock: signing time, and the sleep between retries.
        clock(s, clock: Clock) = "roboflow_batch::api::Clock::system()" {
            s.clock = clock;
        }
    }

    /// Reads settings from `env` instead of the process environment (`None`: only the
    /// values given with [`set`](Self::set)).
    ///
    /// ```
    /// let b = roboflow_batch::cloud::CloudSource::builder("s3://b/").env(Some(|_: &str| None));
    /// ```
    pub fn env<F>(mut self, env: Option<F>) -> Self
    where
        F: Fn(&str) -> Option<String> + Send + Sync + 'static,
    {
        self.settings.env = env.map(|f| Arc::new(f) as super::settings::EnvFn);
        self
    }

    /// Parses the URL and resolves the credentials; nothing is sent yet. Missing or
    /// unusable credentials fail here with an error naming the settings to check.
    ///
    /// ```
    /// # use roboflow_batch::cloud::CloudSource;
    /// let err = CloudSource::builder("s3://b/").env(None::<fn(&str) -> Option<String>>).build().unwrap_err();
    /// assert!(err.to_string().contains("AWS_ACCESS_KEY_ID"));
    /// ```
    pub fn build(self) -> Result<CloudSource> {
        let url = BucketUrl::parse(&self.url)?;
        if self.page_size == 0 || self.page_size > 5000 {
            return Err(Error::invalid("page_size", "must be 1 to 5000"));
        }
        if self.expiry.is_zero() {
            return Err(Error::invalid("expiry", "must be more than zero"));
        }
        if url.kind() != StoreKind::Azure && self.expiry > MAX_V4_EXPIRY {
            return Err(Error::invalid(
                "expiry",
                format!(
                    "{} signed URLs last at most 7 days ({} s)",
                    url.kind().name(),
                    MAX_V4_EXPIRY.as_secs()
                ),
            ));
        }
        let transport = self
            .transport
            .unwrap_or_else(|| Arc::new(UreqTransport::new()));
        let http = Http {
            transport,
            retry: self.retry,
            clock: self.clock.clone(),
        };
        let store: Arc<dyn Store> = match url.kind() {
            StoreKind::S3 => Arc::new(S3Store::new(
                S3Config::resolve(&self.settings, url.bucket())?,
                url.bucket(),
                http,
            )?),
            StoreKind::Gcs => Arc::new(GcsStore::new(&self.settings, url.bucket(), http)?),
            StoreKind::Azure => Arc::new(AzureStore::new(
                &self.settings,
                url.bucket(),
                url.account(),
                http,
            )?),
        };
        Ok(CloudSource {
            url,
            store,
            media: self.media,
            expiry: self.expiry,
            page_size: self.page_size,
            max_pages: self.max_pages,
            clock: self.clock,
        })
    }
}
