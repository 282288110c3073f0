//! Following `nextPageToken` through a listing.

use std::collections::{HashSet, VecDeque};

use serde::de::DeserializeOwned;

use super::BatchApi;
use super::call::Call;
use crate::error::{Error, Result};

/// The page size of a whole listing unless told otherwise (see [`Pages`]); no maximum is
/// documented. The official client sends `pageSize` only when listing jobs (10).
const LARGE_PAGE: u32 = 1000;

/// How many empty pages in a row a listing may return, each with a new token.
const MAX_CONSECUTIVE_EMPTY_PAGES: usize = 16;

type FetchPage<'a, T> =
    Box<dyn FnMut(Option<&str>) -> Result<(Vec<T>, Option<String>)> + Send + 'a>;

/// Every item of a listing ([`BatchApi::jobs`], [`BatchApi::files`], …), its pages fetched
/// lazily, of the size given or 1,000 (the service may grant fewer). It stops after a page
/// without `nextPageToken`, and at a repeated token ([`Error::RepeatedPageToken`]) or 16
/// empty pages in a row ([`Error::TooManyEmptyPages`]); after an error it yields nothing.
///
/// ```no_run
/// # let api = roboflow_batch::BatchApi::builder().api_key("k").build()?;
/// let ids: Vec<String> = api.jobs(None).map(|j| j.map(|j| j.job_id)).collect::<Result<_, _>>()?;
/// # Ok::<(), roboflow_batch::Error>(())
/// ```
#[must_use = "iterators are lazy: nothing is fetched until it is consumed"]
pub struct Pages<'a, T> {
    what: String,
    fetch: FetchPage<'a, T>,
    token: Option<String>,
    seen: HashSet<String>,
    buffer: VecDeque<T>,
    pending_error: Option<Error>,
    done: bool,
    empty_in_a_row: usize,
}

impl<T> std::fmt::Debug for Pages<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("what", &self.what)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<T> Pages<'_, T> {
    fn fetch_next(&mut self) -> Result<()> {
        let (items, next) = (self.fetch)(self.token.as_deref())?;
        if items.is_empty() {
            self.empty_in_a_row += 1;
        } else {
            self.empty_in_a_row = 0;
        }
        self.buffer.extend(items);
        match next.filter(|t| !t.is_empty()) {
            None => self.done = true,
            Some(token) => {
                if !self.seen.insert(token.clone()) {
                    return Err(Error::RepeatedPageToken {
                        url: crate::redact::redact_url(&self.what),
                    });
                }
                if self.empty_in_a_row >= MAX_CONSECUTIVE_EMPTY_PAGES {
                    return Err(Error::TooManyEmptyPages {
                        listing: crate::redact::redact_url(&self.what),
                        pages: self.empty_in_a_row,
                    });
                }
                self.token = Some(token);
            }
        }
        Ok(())
    }
}

impl<T> Iterator for Pages<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.buffer.pop_front() {
                return Some(Ok(item));
            }
            if let Some(err) = self.pending_error.take() {
                self.done = true;
                return Some(Err(err));
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.fetch_next() {
                // Items of the page that repeated its token are still yielded first.
                self.done = true;
                self.pending_error = Some(e);
            }
        }
    }
}

impl BatchApi {
    /// A whole listing of `what` (a name, or a URL that is redacted in errors) in pages of
    /// `page_size` (or 1,000): `call` is built for each page (its checks fail before any
    /// request) and sent with the size and token; `split` takes out the items and the next
    /// token.
    pub(super) fn listing<'a, R: DeserializeOwned + 'a, T: 'a>(
        &'a self,
        what: impl Into<String>,
        page_size: Option<u32>,
        call: impl Fn() -> Result<Call> + Send + 'a,
        split: fn(R) -> (Vec<T>, Option<String>),
    ) -> Pages<'a, T> {
        let size = page_size.unwrap_or(LARGE_PAGE);
        let fetch = move |token: Option<&str>| {
            if size == 0 {
                return Err(Error::invalid("page_size", "must be at least 1"));
            }
            let call = call()?.query("pageSize", size.to_string());
            Ok(split(
                self.execute_json(&call.query_opt("nextPageToken", token))?,
            ))
        };
        Pages {
            what: what.into(),
            fetch: Box::new(fetch),
            token: None,
            seen: HashSet::new(),
            buffer: VecDeque::new(),
            pending_error: None,
            done: false,
            empty_in_a_row: 0,
        }
    }
}
