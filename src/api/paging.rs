//! Following `nextPageToken` through a listing.

use std::collections::{HashSet, VecDeque};

use serde::de::DeserializeOwned;

use super::BatchApi;
use super::call::Call;
use crate::error::{Error, Result};
use crate::model::Page;

/// Which page to fetch (the first when no token), and how big (the service's default).
///
/// ```
/// let next = roboflow_batch::api::ListOptions::default().page_size(50).page_token("tok");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    page_size: Option<u32>,
    page_token: Option<String>,
}

impl ListOptions {
    /// Sets `pageSize` (see [`ListOptions`]).
    #[must_use]
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = Some(size);
        self
    }

    /// Sets the token (`nextPageToken`) of the page to fetch (see [`ListOptions`]).
    #[must_use]
    pub fn page_token(mut self, token: impl Into<String>) -> Self {
        self.page_token = Some(token.into());
        self
    }

    pub(super) fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(n) = self.page_size {
            q.push(("pageSize", n.to_string()));
        }
        if let Some(t) = &self.page_token {
            q.push(("nextPageToken", t.clone()));
        }
        q
    }
}

/// The page size of a whole listing unless told otherwise (see [`Pages`]); no maximum is
/// documented. The official client sends `pageSize` only when listing jobs (10).
const LARGE_PAGE: u32 = 1000;

/// How many empty pages in a row a listing may return, each with a new token.
const MAX_CONSECUTIVE_EMPTY_PAGES: usize = 16;

type FetchPage<'a, T> = Box<dyn FnMut(&ListOptions) -> Result<Page<T>> + Send + 'a>;

/// An iterator over every item of a paginated listing, fetching pages lazily.
///
/// The listing methods of [`BatchApi`] return it ([`jobs`](BatchApi::jobs),
/// [`files`](BatchApi::files), …). They ask for pages of the size given, or of 1,000 items
/// (at a real distance a request costs tens of milliseconds; the service may grant fewer,
/// and its tokens are followed whatever it grants). It stops after a page with a missing or
/// empty `nextPageToken`, and never follows a listing for ever: a token returned before
/// yields [`Error::RepeatedPageToken`], and 16 empty pages in a row that still carry a new
/// token, [`Error::TooManyEmptyPages`]. After any error it yields nothing more.
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
    options: ListOptions,
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

impl<'a, T> Pages<'a, T> {
    /// A whole listing of `what` (a name, or a URL that is redacted in errors) in pages of
    /// `page_size` (or 1,000); when `check` (of the arguments, before any request) fails,
    /// it yields that error once and ends.
    pub(super) fn listing<C>(
        check: Result<C>,
        what: impl Into<String>,
        page_size: Option<u32>,
        fetch: impl FnMut(&ListOptions) -> Result<Page<T>> + Send + 'a,
    ) -> Self {
        Pages {
            what: what.into(),
            fetch: Box::new(fetch),
            options: ListOptions::default().page_size(page_size.unwrap_or(LARGE_PAGE)),
            seen: HashSet::new(),
            buffer: VecDeque::new(),
            pending_error: check.err(),
            done: false,
            empty_in_a_row: 0,
        }
    }

    fn fetch_next(&mut self) -> Result<()> {
        let page = (self.fetch)(&self.options)?;
        if page.items.is_empty() {
            self.empty_in_a_row += 1;
        } else {
            self.empty_in_a_row = 0;
        }
        self.buffer.extend(page.items);
        match page.next_page_token.filter(|t| !t.is_empty()) {
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
                self.options.page_token = Some(token);
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
    /// One page of a listing: `opts` checked, then `call` built and sent (with the page size
    /// and token), and `split` takes the items and the next token out of the answer.
    pub(super) fn page<R: DeserializeOwned, T>(
        &self,
        opts: &ListOptions,
        call: impl FnOnce() -> Result<Call>,
        split: impl FnOnce(R) -> (Vec<T>, Option<String>),
    ) -> Result<Page<T>> {
        if opts.page_size == Some(0) {
            return Err(Error::invalid("page_size", "must be at least 1"));
        }
        let call = opts
            .query()
            .into_iter()
            .fold(call()?, |c, (k, v)| c.query(k, v));
        let (items, next_page_token) = split(self.execute_json(&call)?);
        Ok(Page {
            items,
            next_page_token,
        })
    }
}
