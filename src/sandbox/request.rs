//! One request as handlers see it: head, body, route and parameters, and notes of its body
//! for the recorder. Handlers answer `Ok(reply)`, or `Err(reply)` for an error.

use serde_json::json;

use crate::server::{Body, Head, Reply, read_limited};

/// A handler's answer: errors are replies too, so that `?` answers them.
pub(crate) type Answer = Result<Reply, Reply>;

pub(crate) fn fail<T>(status: u16, message: impl Into<String>) -> Result<T, Reply> {
    Err(Reply::error(status, message))
}

/// A 400 that says what `e` says.
pub(crate) fn bad(e: impl ToString) -> Reply {
    Reply::error(400, e.to_string())
}

pub(crate) fn ok(value: &impl serde::Serialize) -> Answer {
    Ok(Reply::json(200, value))
}

/// `{"status": "ok"}` and more fields.
pub(crate) fn ok_with(mut fields: serde_json::Value) -> Answer {
    fields["status"] = json!("ok");
    ok(&fields)
}

/// A page of a listing: `{"status": "ok", key: items, "nextPageToken": token or null}`.
pub(crate) fn ok_page<T: serde::Serialize>(
    key: &str,
    (items, token): (Vec<T>, Option<String>),
) -> Answer {
    ok_with(json!({ key: items, "nextPageToken": token }))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    /// The path template as the notes name it; `{signedUpload}` or `{signedDownload}` for
    /// signed URLs; the literal path for a path that is no endpoint.
    pub template: String,
    /// The values of the template's parameters, e.g. `("batchId", "photos")`.
    pub params: Vec<(&'static str, String)>,
}

impl Route {
    pub fn literal(template: String) -> Route {
        Route {
            template,
            params: Vec::new(),
        }
    }

    /// The route of `segments` (decoded, without empty ones) when they fit `template`,
    /// whose `{name}` matches any one segment.
    pub fn matching(template: &'static str, segments: &[String]) -> Option<Route> {
        let parts: Vec<&'static str> = template.split('/').filter(|s| !s.is_empty()).collect();
        if parts.len() != segments.len() {
            return None;
        }
        let mut params = Vec::new();
        for (p, s) in parts.iter().zip(segments) {
            match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => params.push((name, s.clone())),
                None if p == s => {}
                None => return None,
            }
        }
        Some(Route {
            template: format!("/{template}"),
            params,
        })
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a handler saw of a request's body, kept for the request recorder.
#[derive(Debug, Default)]
pub(crate) struct Notes {
    /// A body read whole.
    pub body: Option<Vec<u8>>,
    /// A multipart body and its boundary.
    pub multipart: Option<(Vec<u8>, String)>,
    /// A tar upload's members in order, and its `notification_config.json`.
    pub tar: Option<(Vec<String>, Option<Vec<u8>>)>,
}

pub(crate) struct Req<'a, 'b> {
    pub head: &'a Head,
    pub body: &'a mut Body<'b>,
    pub route: Route,
    /// `Some` while the request is recorded.
    pub notes: Option<Notes>,
}

impl Req<'_, '_> {
    /// A parameter of the route (empty when the route has none of that name).
    pub fn param(&self, name: &str) -> &str {
        self.route.param(name).unwrap_or("")
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.head.query(name)
    }

    /// A query parameter that must be there and not empty.
    pub fn required(&self, name: &str) -> Result<&str, Reply> {
        match self.query(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => fail(400, format!("query parameter {name} is required")),
        }
    }

    /// The whole body, of at most `max` bytes.
    pub fn read_body(&mut self, max: u64) -> Result<Vec<u8>, Reply> {
        read_limited(self.head, self.body, max)
    }

    /// The whole body, of at most `max` bytes, noted for the recorder as a JSON body.
    pub fn read_json_body(&mut self, max: u64) -> Result<Vec<u8>, Reply> {
        let body = self.read_body(max)?;
        self.note(|n| n.body = Some(body.clone()));
        Ok(body)
    }

    /// Notes something of the body, if the request is recorded.
    pub fn note(&mut self, f: impl FnOnce(&mut Notes)) {
        if let Some(n) = &mut self.notes {
            f(n);
        }
    }
}

/// Decodes a JSON body, naming the field at fault in a 400.
pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    what: &str,
    body: &[u8],
) -> Result<T, Reply> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let at = match e.path().to_string().as_str() {
            "." | "" => String::new(),
            path => format!("field `{path}`: "),
        };
        Reply::error(400, format!("invalid {what}: {at}{}", e.into_inner()))
    })
}
