//! Paging of every listing: the `nextPageToken` names the last key listed, so a page costs
//! its size however deep, and an item added meanwhile neither repeats nor hides another.

use super::request::fail;
use super::signing::{hex, unhex};
use crate::server::{Head, Reply};

/// One page asked for.
#[derive(Debug)]
pub(crate) struct Page {
    /// The key of the last item of the previous page.
    pub after: Option<String>,
    pub size: usize,
}

/// A page's items, and the next page's token.
pub(crate) type Cut<T> = (Vec<T>, Option<String>);

/// The key of the item at `index` of a list, sorting as the index does.
pub(crate) fn nth(index: usize) -> String {
    format!("{index:012}")
}

impl Page {
    /// From `pageSize` (1 to 1000, else `default`) and `nextPageToken`.
    pub fn of(head: &Head, default: usize) -> Result<Page, Reply> {
        let size = match head.query("pageSize") {
            None => default,
            Some(s) => match s.parse() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => {
                    let msg = format!("pageSize must be an integer from 1 to 1000, got {s:?}");
                    return fail(400, msg);
                }
            },
        };
        let after = match head.query("nextPageToken") {
            None | Some("") => None,
            Some(t) => match unhex(t).map(String::from_utf8) {
                Some(Ok(key)) => Some(key),
                _ => {
                    let msg = format!("nextPageToken {t:?} is not a token this service issued");
                    return fail(400, msg);
                }
            },
        };
        Ok(Page { after, size })
    }

    /// The page of `items` (in key order) after the token's key, and the next page's token
    /// when more items follow.
    pub fn cut<K: AsRef<str>, T>(&self, items: impl IntoIterator<Item = (K, T)>) -> Cut<T> {
        let after = |k: &K| self.after.as_deref().is_some_and(|a| k.as_ref() <= a);
        let mut items = items.into_iter().skip_while(|(k, _)| after(k)).peekable();
        let mut page = Vec::with_capacity(self.size.min(1024));
        let mut last = None;
        for (k, item) in items.by_ref().take(self.size) {
            last = Some(k);
            page.push(item);
        }
        let next = items.peek().and(last).map(|k| hex(k.as_ref().as_bytes()));
        (page, next)
    }
}
