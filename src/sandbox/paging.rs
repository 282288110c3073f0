//! Paging of the sandbox's listings: `pageSize` and `nextPageToken`.

use crate::server::{Head, Reply};

/// `(offset, page size)` from `nextPageToken` and `pageSize`.
pub(crate) fn paging(head: &Head, default: usize) -> Result<(usize, usize), Reply> {
    let size = paging_size(head, default)?;
    let offset = match head.query("nextPageToken") {
        None | Some("") => 0,
        Some(t) => t
            .strip_prefix("p")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                Reply::error(
                    400,
                    format!("nextPageToken {t:?} is not a token this service issued"),
                )
            })?,
    };
    Ok((offset, size))
}

/// The page size from `pageSize` (1 to 1000), or `default`.
pub(crate) fn paging_size(head: &Head, default: usize) -> Result<usize, Reply> {
    let size = match head.query("pageSize") {
        None => default,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(Reply::error(
                    400,
                    format!("pageSize must be an integer from 1 to 1000, got {s:?}"),
                ));
            }
        },
    };
    Ok(size)
}

/// The page's items and the token of the next page (`None` on the last page).
pub(crate) fn page<T>(
    items: impl Iterator<Item = T>,
    offset: usize,
    size: usize,
) -> (Vec<T>, Option<String>) {
    let mut v: Vec<T> = items.skip(offset).take(size + 1).collect();
    let more = v.len() > size;
    v.truncate(size);
    (v, more.then(|| format!("p{}", offset + size)))
}
