//! Route templates: which endpoint a request is for, as the notes name it
//! (`POST /data-staging/v1/external/{workspace}/batches/{batchId}/upload/image`), with the
//! values of its parameters. The request recorder writes them, and the varied answers
//! choose by them.

/// The endpoints, without the leading `/`; `{name}` matches any one segment.
const TEMPLATES: &[&str] = &[
    "",
    "data-staging/v1/external/{workspace}/batches",
    "data-staging/v1/external/{workspace}/batches/{batchId}",
    "data-staging/v1/external/{workspace}/batches/{batchId}/count",
    "data-staging/v1/external/{workspace}/batches/{batchId}/parts",
    "data-staging/v1/external/{workspace}/batches/{batchId}/list",
    "data-staging/v1/external/{workspace}/batches/{batchId}/shards",
    "data-staging/v1/external/{workspace}/batches/{batchId}/export",
    "data-staging/v1/external/{workspace}/batches/{batchId}/upload/image",
    "data-staging/v1/external/{workspace}/batches/{batchId}/upload/video",
    "data-staging/v1/external/{workspace}/batches/{batchId}/bulk-upload/image-files",
    "data-staging/v1/external/{workspace}/batches/{batchId}/bulk-upload/image-references",
    "data-staging/v1/external/{workspace}/batches/{batchId}/bulk-upload/video-references",
    "data-staging/v1/external/{workspace}/batches/{batchId}/roboql-ingest",
    "batch-processing/v1/external/{workspace}/jobs",
    "batch-processing/v1/external/{workspace}/jobs/{jobId}",
    "batch-processing/v1/external/{workspace}/jobs/{jobId}/stages",
    "batch-processing/v1/external/{workspace}/jobs/{jobId}/stages/{stageId}/tasks",
    "batch-processing/v1/external/{workspace}/jobs/{jobId}/abort",
    "batch-processing/v1/external/{workspace}/jobs/{jobId}/restart",
    "batch-processing/v1/external/{workspace}/jobs/{jobId}/logs",
];

/// The endpoint of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    /// The path template, e.g. `/data-staging/v1/external/{workspace}/batches/{batchId}`;
    /// `{signedUpload}` or `{signedDownload}` for signed URLs; the literal path for a path
    /// that is no endpoint.
    pub template: String,
    /// The values of the template's parameters, e.g. `("batchId", "photos")`.
    pub params: Vec<(&'static str, String)>,
}

impl Route {
    /// The route of a request for `segments` (decoded, without empty ones).
    pub fn of(method: &str, segments: &[String]) -> Route {
        if segments.first().map(String::as_str) == Some("signed") {
            let template = if method == "PUT" {
                "{signedUpload}"
            } else {
                "{signedDownload}"
            };
            return Route {
                template: template.into(),
                params: Vec::new(),
            };
        }
        for t in TEMPLATES {
            if let Some(params) = matches(t, segments) {
                return Route {
                    template: format!("/{t}"),
                    params,
                };
            }
        }
        Route {
            template: format!("/{}", segments.join("/")),
            params: Vec::new(),
        }
    }

    /// The value of a parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the template ends with `suffix` (e.g. `/{batchId}/list`).
    pub fn ends_with(&self, suffix: &str) -> bool {
        self.template.ends_with(suffix)
    }
}

/// The parameters when `segments` fit `template`.
fn matches(template: &'static str, segments: &[String]) -> Option<Vec<(&'static str, String)>> {
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
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str) -> Route {
        let segs: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        Route::of(method, &segs)
    }

    #[test]
    fn templates_name_the_endpoint_and_keep_the_parameters() {
        let r = route(
            "POST",
            "/data-staging/v1/external/acme/batches/b1/upload/image",
        );
        assert_eq!(
            r.template,
            "/data-staging/v1/external/{workspace}/batches/{batchId}/upload/image"
        );
        assert_eq!(r.param("batchId"), Some("b1"));
        assert_eq!(r.param("workspace"), Some("acme"));
        let r = route(
            "GET",
            "/batch-processing/v1/external/acme/jobs/j/stages/s/tasks",
        );
        assert_eq!(r.param("stageId"), Some("s"));
        assert!(r.ends_with("/tasks"));
        assert_eq!(route("GET", "/").template, "/");
        assert_eq!(route("PUT", "/signed/upload/x").template, "{signedUpload}");
        assert_eq!(
            route("GET", "/signed/download/b/f").template,
            "{signedDownload}"
        );
        // A path that is no endpoint keeps its text.
        assert_eq!(route("GET", "/nope/x").template, "/nope/x");
        assert_eq!(
            route("GET", "/data-staging/v1/external/acme/batches/b/zzz").template,
            "/data-staging/v1/external/acme/batches/b/zzz"
        );
    }
}
