//! Following `nextPageToken` through a listing.

use std::collections::{HashSet, VecDeque};

use crate::error::{Error, Result};
use crate::model::Page;

/// Which page to fetch, and how big.
///
/// ```
/// use roboflow_batch::api::ListOptions;
/// let first = ListOptions::default().page_size(50);
/// let next = first.clone().page_token("tok");
/// assert_eq!(next.page_size, Some(50));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Items per page (`pageSize`); the service's default when `None`.
    pub page_size: Option<u32>,
    /// The token of the page to fetch (`nextPageToken`); the first page when `None`.
    pub page_token: Option<String>,
}

impl ListOptions {
    /// Sets `pageSize`.
    ///
    /// ```
    /// let opts = roboflow_batch::api::ListOptions::default().page_size(100);
    /// assert_eq!(opts.page_size, Some(100));
    /// ```
    #[must_use]
    pub fn page_size(mut self, size: u32) -> Self {
        self.page_size = Some(size);
        self
    }

    /// Sets the page token.
    ///
    /// ```
    /// let opts = roboflow_batch::api::ListOptions::default().page_token("page-2");
    /// assert_eq!(opts.page_token.as_deref(), Some("page-2"));
    /// ```
    #[must_use]
    pub fn page_token(mut self, token: impl Into<String>) -> Self {
        self.page_token = Some(token.into());
        self
    }

    /// The first page of a whole listing: `page_size`, or [`LARGE_PAGE`] when not given.
    pub(crate) fn first_page(page_size: Option<u32>) -> Self {
        ListOptions {
            page_size: Some(page_size.unwrap_or(LARGE_PAGE)),
            page_token: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.page_size == Some(0) {
            return Err(Error::invalid("page_size", "must be at least 1"));
        }
        Ok(())
    }

    pub(crate) fn query(&self) -> Vec<(&'static str, String)> {
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

/// The page size every whole listing asks for unless told otherwise. At a real distance a
/// request costs tens of milliseconds, so pages are asked large; the service may grant
/// fewer (no maximum is documented), and the listing follows its tokens whatever it grants.
/// The official client sends `pageSize` only when listing jobs (10).
pub(crate) const LARGE_PAGE: u32 = 1000;

/// How many empty pages in a row a listing may return, each with a new token, before
/// [`Pages`] gives up with [`Error::TooManyEmptyPages`].
pub(crate) const MAX_CONSECUTIVE_EMPTY_PAGES: usize = 16;

type FetchPage<'a, T> = Box<dyn FnMut(&ListOptions) -> Result<Page<T>> + Send + 'a>;

/// An iterator over every item of a paginated listing, fetching pages lazily.
///
/// It stops after a page with a missing or empty `nextPageToken`. It never follows a
/// listing for ever: if the service returns a token it returned before, the iterator
/// yields [`Error::RepeatedPageToken`], and after 16 empty
/// pages in a row that still carry a new token, [`Error::TooManyEmptyPages`]. After any
/// error it yields nothing more. The listing methods of
/// [`BatchApi`](crate::BatchApi) return it ([`jobs`](crate::BatchApi::jobs),
/// [`files`](crate::BatchApi::files), …).
///
/// ```
/// use roboflow_batch::BatchApi;
/// use roboflow_batch::transport::{HttpRequest, HttpResponse, TransportError};
/// let task = |id: &str| format!(r#"{{"taskId":"{id}","notification":"","statusType":"info","eventTimestamp":"2025-01-01T00:00:00Z"}}"#);
/// let (first, last) = (
///     format!(r#"{{"tasks":[{},{}],"nextPageToken":"p2"}}"#, task("t1"), task("t2")),
///     format!(r#"{{"tasks":[{}],"nextPageToken":null}}"#, task("t3")),
/// );
/// let fake = move |req: HttpRequest| -> Result<HttpResponse, TransportError> {
///     let page = if req.url.contains("nextPageToken=p2") { &last } else { &first };
///     Ok(HttpResponse::json(200, page.clone()))
/// };
/// let api = BatchApi::builder().api_key("k").workspace("acme").transport(fake).build()?;
/// let pages = api.tasks("job-1", "processing", None);
/// assert_eq!(api.requests().total(), 0); // nothing is fetched until asked
/// let ids: Vec<String> = pages.map(|t| t.map(|t| t.task_id)).collect::<Result<_, _>>()?;
/// assert_eq!(ids, ["t1", "t2", "t3"]);
/// assert_eq!(api.requests().get("list-tasks"), 2);
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
    /// Pages of `what` (a name, or a URL that is redacted in errors), starting at
    /// `options`.
    pub(crate) fn new(
        what: impl Into<String>,
        options: ListOptions,
        fetch: impl FnMut(&ListOptions) -> Result<Page<T>> + Send + 'a,
    ) -> Self {
        let mut seen = HashSet::new();
        if let Some(t) = &options.page_token {
            seen.insert(t.clone());
        }
        Pages {
            what: what.into(),
            fetch: Box::new(fetch),
            options,
            seen,
            buffer: VecDeque::new(),
            pending_error: None,
            done: false,
            empty_in_a_row: 0,
        }
    }

    /// An iterator that yields `err` once and ends (for inputs rejected up front).
    ///
    /// ```
    /// # let api = roboflow_batch::BatchApi::builder().api_key("k").workspace("acme").build()?;
    /// use roboflow_batch::Error;
    /// let mut files = api.files("Not A Batch Id", None, None); // rejected before any request
    /// assert!(matches!(files.next(), Some(Err(Error::InvalidInput { .. }))));
    /// assert!(files.next().is_none());
    /// # Ok::<(), roboflow_batch::Error>(())
    /// ```
    pub(crate) fn failed(err: Error) -> Self {
        let mut p = Pages::new("", ListOptions::default(), |_: &ListOptions| {
            Ok(Page {
                items: Vec::new(),
                next_page_token: None,
            })
        });
        p.pending_error = Some(err);
        p
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
                    self.done = true;
                    return Err(Error::RepeatedPageToken {
                        url: crate::redact::redact_url(&self.what),
                    });
                }
                if self.empty_in_a_row >= MAX_CONSECUTIVE_EMPTY_PAGES {
                    self.done = true;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn scripted(
        pages: Vec<(Vec<u32>, Option<&'static str>)>,
    ) -> (Pages<'static, u32>, Arc<Mutex<Vec<ListOptions>>>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let log = calls.clone();
        let mut script = pages.into_iter();
        let p = Pages::new(
            "test",
            ListOptions::default().page_size(2),
            move |o: &ListOptions| {
                log.lock().unwrap().push(o.clone());
                let (items, tok) = script.next().expect("fetched past the last page");
                Ok(Page {
                    items,
                    next_page_token: tok.map(str::to_string),
                })
            },
        );
        (p, calls)
    }

    #[test]
    fn follows_tokens_and_passes_page_size() {
        let (p, calls) = scripted(vec![
            (vec![1, 2], Some("a")),
            (vec![3, 4], Some("b")),
            (vec![5], None),
        ]);
        assert_eq!(p.collect::<Result<Vec<_>>>().unwrap(), vec![1, 2, 3, 4, 5]);
        let calls = calls.lock().unwrap();
        let tokens: Vec<_> = calls.iter().map(|o| o.page_token.clone()).collect();
        assert_eq!(tokens, vec![None, Some("a".into()), Some("b".into())]);
        assert!(calls.iter().all(|o| o.page_size == Some(2)));
    }

    #[test]
    fn empty_token_ends() {
        let (p, calls) = scripted(vec![(vec![1], Some(""))]);
        assert_eq!(p.collect::<Result<Vec<_>>>().unwrap(), vec![1]);
        assert_eq!(calls.lock().unwrap().len(), 1);
    }

    #[test]
    fn empty_pages_with_tokens_are_followed() {
        let (p, _) = scripted(vec![(vec![], Some("a")), (vec![7], None)]);
        assert_eq!(p.collect::<Result<Vec<_>>>().unwrap(), vec![7]);
    }

    #[test]
    fn endless_empty_pages_are_an_error_not_a_loop() {
        // Every page is empty and carries a new token, for ever.
        let calls = Arc::new(Mutex::new(0usize));
        let log = calls.clone();
        let mut p = Pages::new(
            "files of b?sig=secret-signature",
            ListOptions::default(),
            move |_: &ListOptions| -> Result<Page<u8>> {
                let mut n = log.lock().unwrap();
                *n += 1;
                assert!(*n < 10_000, "followed empty pages for ever");
                Ok(Page {
                    items: vec![],
                    next_page_token: Some(format!("t{n}")),
                })
            },
        );
        match p.next() {
            Some(Err(Error::TooManyEmptyPages { listing, pages })) => {
                assert_eq!(pages, MAX_CONSECUTIVE_EMPTY_PAGES);
                assert!(listing.starts_with("files of b"), "{listing}");
                assert!(!listing.contains("secret-signature"), "{listing}");
            }
            other => panic!("{other:?}"),
        }
        assert!(p.next().is_none());
        assert_eq!(*calls.lock().unwrap(), MAX_CONSECUTIVE_EMPTY_PAGES);
    }

    #[test]
    fn empty_pages_between_full_ones_are_followed() {
        // Fewer than the cap in a row, twice over: the counter restarts after items.
        let run = MAX_CONSECUTIVE_EMPTY_PAGES - 1;
        let n = 2 * (run + 1);
        let script: Vec<(Vec<u32>, Option<&'static str>)> = (0..n)
            .map(|i| {
                let items = if i % (run + 1) == run {
                    vec![i as u32]
                } else {
                    vec![]
                };
                let token: &'static str = Box::leak(format!("t{i}").into_boxed_str());
                (items, (i + 1 < n).then_some(token))
            })
            .collect();
        let (p, calls) = scripted(script);
        assert_eq!(
            p.collect::<Result<Vec<_>>>().unwrap(),
            vec![run as u32, n as u32 - 1]
        );
        assert_eq!(calls.lock().unwrap().len(), n);
    }

    #[test]
    fn repeated_token_is_an_error_not_a_loop() {
        let (p, calls) = scripted(vec![
            (vec![1], Some("a")),
            (vec![2], Some("b")),
            (vec![3], Some("a")),
        ]);
        let out: Vec<_> = p.collect();
        assert_eq!(out.len(), 4);
        assert_eq!(
            out[..3]
                .iter()
                .map(|r| *r.as_ref().unwrap())
                .collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert!(matches!(out[3], Err(Error::RepeatedPageToken { .. })));
        assert_eq!(calls.lock().unwrap().len(), 3);
    }

    #[test]
    fn token_equal_to_starting_token_is_a_repeat() {
        let mut p = Pages::new(
            "t",
            ListOptions::default().page_token("x"),
            |_: &ListOptions| {
                Ok(Page {
                    items: vec![1u8],
                    next_page_token: Some("x".into()),
                })
            },
        );
        assert_eq!(p.next().unwrap().unwrap(), 1);
        assert!(p.next().unwrap().is_err());
        assert!(p.next().is_none());
    }

    #[test]
    fn error_ends_iteration() {
        let mut n = 0;
        let mut p = Pages::new(
            "t",
            ListOptions::default(),
            move |_: &ListOptions| -> Result<Page<u8>> {
                n += 1;
                assert_eq!(n, 1, "fetched again after an error");
                Err(Error::Config("boom".into()))
            },
        );
        assert!(p.next().unwrap().is_err());
        assert!(p.next().is_none());
    }
}
