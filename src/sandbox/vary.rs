//! Varied answers (`SandboxConfig::vary`), within notes §1.5, §2.1 and §3.1: requests are
//! adjusted before routing and answers rewritten after, so the handlers keep one form.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::request::Route;
use super::staging::upload::UPLOAD_HEADER;
use super::state::State;
use crate::model::Timestamp;
use crate::server::{Head, Reply, ReplyBody};

type Obj = Map<String, Value>;

/// The sandbox's own stage ids.
const STAGES: &[&str] = &["processing", "export", "compilation"];
/// The templates of the listings, by their ends.
const LISTINGS: &str = "{workspace}/batches /list /shards {workspace}/jobs /tasks /logs";

/// The choices one seed makes.
#[derive(Debug, Clone)]
pub(crate) struct Variation {
    seed: u64,
    /// How stage ids and names are written (0 to 3).
    stages: u64,
    /// The status of a missing batch: 404 or 400.
    missing_batch: u16,
    /// Signed uploads need no extension header (and say so with `null` or `{}`).
    bare_uploads: bool,
    /// How long a new shard or references ingest stays out of the shard listing.
    pub registration_delay: Duration,
}

/// A number below `n` that depends only on `seed` and `what`.
fn pick(seed: u64, what: &str, n: u64) -> u64 {
    let h = crate::ids::fnv1a64(what.as_bytes());
    crate::rand::FastRng::seeded(h ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64() % n.max(1)
}

/// What to send instead of the varied JSON: an empty body, or plain text.
enum Shape {
    Json,
    Other(&'static str),
}

impl Variation {
    pub fn new(seed: u64) -> Variation {
        Variation {
            seed,
            stages: pick(seed, "stages", 4),
            missing_batch: [404, 400][pick(seed, "missing-batch", 2) as usize],
            bare_uploads: pick(seed, "bare-uploads", 2) == 1,
            registration_delay: Duration::from_millis(100 + 50 * pick(seed, "registration", 7)),
        }
    }

    fn pick(&self, what: &str, n: u64) -> u64 {
        pick(self.seed, what, n)
    }

    /// Whether the choice named `what` goes the other way (of two).
    fn flip(&self, what: String) -> bool {
        self.pick(&what, 2) == 1
    }

    /// The request as the handlers should see it, when it needs adjusting.
    pub fn request(&self, head: &Head, route: &Route) -> Option<Head> {
        let mut out: Option<Head> = None;
        let t = &route.template;
        if LISTINGS.split(' ').any(|s| t.ends_with(s)) {
            let largest = 2 + self.pick(&format!("page-max {t}"), 6) as usize;
            let default = (2 + self.pick(&format!("page-default {t}"), 5) as usize).min(largest);
            let size = match head.query("pageSize") {
                None => Some(default),
                // An invalid size is left for the handler to refuse.
                Some(s) => s
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .map(|n| n.min(largest)),
            };
            if let Some(size) = size {
                let h = out.get_or_insert_with(|| head.clone());
                h.query.retain(|(k, _)| k != "pageSize");
                h.query.push(("pageSize".into(), size.to_string()));
            }
        }
        if t.ends_with("/tasks")
            && let (Some(job), Some(stage)) = (route.param("jobId"), route.param("stageId"))
            && let Some(own) = STAGES.iter().find(|s| self.stage_id(job, s) == stage)
        {
            let h = out.get_or_insert_with(|| head.clone());
            let at = h.segments.len() - 2;
            h.segments[at] = own.to_string();
        }
        if self.bare_uploads
            && t == "{signedUpload}"
            && head.header(UPLOAD_HEADER).is_none()
            && let Some(id) = head.segments.get(2)
        {
            let h = out.get_or_insert_with(|| head.clone());
            h.headers.push((UPLOAD_HEADER.into(), id.clone()));
        }
        out
    }

    pub fn reply(&self, state: &State, head: &Head, route: &Route, mut reply: Reply) -> Reply {
        if reply.status == 404
            && self.missing_batch == 400
            && route.template.starts_with("/data-staging/")
            && let Some(batch) = route.param("batchId")
            && !state.lock().staging.batches.contains_key(batch)
        {
            reply.status = 400;
            return reply;
        }
        let ok = (200..300).contains(&reply.status);
        let (true, ReplyBody::Bytes(bytes)) = (ok, &reply.body) else {
            return reply;
        };
        let Ok(mut v) = serde_json::from_slice::<Value>(bytes) else {
            return reply;
        };
        let shape = v.as_object_mut().map(|o| self.vary_json(head, route, o));
        let body = match shape {
            None | Some(Shape::Json) => serde_json::to_vec(&v).unwrap_or_default(),
            Some(Shape::Other(text)) => {
                let headers = &mut reply.headers;
                headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
                if !text.is_empty() {
                    headers.push(("Content-Type".into(), "text/plain".into()));
                }
                text.into()
            }
        };
        reply.body = ReplyBody::Bytes(body);
        reply
    }

    /// Varies one answer's JSON in place, or says to send another body.
    fn vary_json(&self, head: &Head, route: &Route, top: &mut Obj) -> Shape {
        let t = route.template.as_str();
        let job = route.param("jobId").unwrap_or("");
        let get = head.method == "GET";
        match () {
            _ if t.ends_with("{workspace}/batches") => self.listing(top, "batches", Self::batch),
            _ if t.ends_with("{batchId}") && get => self.one(top, "batch", Self::batch),
            _ if t.ends_with("/count") => self.float(top, "count", "count"),
            _ if t.ends_with("/parts") => {
                if self.flip("parts-key".into()) {
                    top.remove("parts");
                }
                self.each(top, "batchParts", Self::part);
                self.each(top, "parts", Self::part);
            }
            _ if t.ends_with("/list") => self.listing(top, "filesMetadata", Self::file),
            _ if t.ends_with("/shards") => self.listing(top, "shards", Self::shard),
            _ if t.ends_with("/upload/image") => {
                let name = head.query("fileName").unwrap_or("");
                match self.pick(&format!("image-reply {name}"), 4) {
                    1 => *top = Map::new(),
                    2 => return Shape::Other(""),
                    3 => return Shape::Other("OK"),
                    _ => {}
                }
            }
            _ if t.ends_with("/upload/video") || t.ends_with("/bulk-upload/image-files") => {
                self.one(top, "signedURLDetails", |v, o, _| v.signed(o, t));
            }
            _ if t.ends_with("-references") => {
                self.optional(top, "shardIds", t);
                // Only `false` may go: without the field a repeat cannot be told.
                if top.get("duplicated") == Some(&Value::Bool(false)) {
                    self.optional(top, "duplicated", t);
                }
            }
            _ if t.ends_with("{workspace}/jobs") => self.each(top, "jobs", Self::job),
            _ if t.ends_with("{jobId}") && get => {
                for key in ["jobStatus", "progress"] {
                    if self.flip(format!("job-{key}")) {
                        top.remove(key);
                    }
                }
                self.one(top, "job", Self::job);
            }
            _ if t.ends_with("{jobId}") => match self.pick("start-reply", 3) {
                1 => *top = Map::new(),
                2 => return Shape::Other(""),
                _ => {}
            },
            _ if t.ends_with("/stages") => self.each(top, "stages", |v, o, id| v.stage(o, job, id)),
            _ if t.ends_with("/tasks") => self.each(top, "tasks", Self::task),
            _ if t.ends_with("/logs") => self.listing(top, "logs", |v, o, id| v.log(o, job, id)),
            _ => {}
        }
        if top.contains_key("status") && self.flip(format!("status {t}")) {
            top.remove("status");
        }
        self.extra(top, t);
        Shape::Json
    }

    /// Applies `f` to each object of the array at `key`, with an id for its choices: its
    /// position, which a replay of the same requests reproduces (generated ids, such as
    /// job ids, would not).
    fn each(&self, top: &mut Obj, key: &str, f: impl Fn(&Self, &mut Obj, &str)) {
        let items = top
            .get_mut(key)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten();
        for (i, o) in items.filter_map(Value::as_object_mut).enumerate() {
            f(self, o, &format!("{key}#{i}"));
        }
    }

    /// Applies `f` to the object at `key`, if any, with `key` as its id.
    fn one(&self, top: &mut Obj, key: &str, f: impl Fn(&Self, &mut Obj, &str)) {
        if let Some(o) = top.get_mut(key).and_then(Value::as_object_mut) {
            f(self, o, key);
        }
    }

    /// [`each`](Self::each) over a listing whose last page's `null` token may also be left
    /// out (not in job and task listings, where the official client needs the key).
    fn listing(&self, top: &mut Obj, key: &str, f: impl Fn(&Self, &mut Obj, &str)) {
        self.each(top, key, f);
        if top.get("nextPageToken") == Some(&Value::Null) && self.flip("last-token".into()) {
            top.remove("nextPageToken");
        }
    }

    /// An optional field kept, set to `null`, or left out.
    fn optional(&self, o: &mut Obj, key: &str, id: &str) {
        match self.pick(&format!("optional {key} {id}"), 3) {
            1 => o.insert(key.into(), Value::Null),
            2 => o.remove(key),
            _ => None,
        };
    }

    /// A field left out where its value is the model's default (`false`, `[]`).
    fn default_out(&self, o: &mut Obj, key: &str, id: &str) {
        let v = o.get(key);
        let empty = v.and_then(Value::as_array).is_some_and(Vec::is_empty);
        if (v == Some(&Value::Bool(false)) || empty) && self.flip(format!("default {key} {id}")) {
            o.remove(key);
        }
    }

    /// An integer written as a whole-number float (`3.0`).
    fn float(&self, o: &mut Obj, key: &str, id: &str) {
        if let Some(n) = o.get(key).and_then(Value::as_u64)
            && self.flip(format!("float {key} {id}"))
        {
            o.insert(key.into(), json!(n as f64));
        }
    }

    /// A timestamp in one of the service's two forms.
    fn time(&self, o: &mut Obj, key: &str, id: &str) {
        if let Ok(t) = text(o, key).parse::<Timestamp>() {
            let micros = self.flip(format!("time {key} {id}"));
            o.insert(key.into(), Value::String(timestamp_form(t, micros)));
        }
    }

    /// A notification object as the plain string of its message.
    fn notification(&self, o: &mut Obj, key: &str, id: &str) {
        let n = o.get(key).and_then(Value::as_object);
        let text = n.and_then(|n| n.get("message").or_else(|| n.get("type"))?.as_str());
        if let Some(text) = text.map(str::to_string)
            && self.flip(format!("notification {key} {id}"))
        {
            o.insert(key.into(), Value::String(text));
        }
    }

    /// An unknown extra field.
    fn extra(&self, o: &mut Obj, id: &str) {
        let (key, value) = match self.pick(&format!("extra {id}"), 6) {
            0 => (
                "etag",
                json!(format!("W/\"{:x}\"", self.pick(id, u64::MAX))),
            ),
            1 => ("region", json!("us-central1")),
            2 => ("schemaVersion", json!(2)),
            3 => ("labels", json!({})),
            4 => ("_links", json!({ "self": null })),
            _ => return,
        };
        o.entry(key).or_insert(value);
    }

    fn batch(&self, o: &mut Obj, id: &str) {
        self.time(o, "createdDate", id);
        self.time(o, "expiryDate", id);
        if o.get("batchType").and_then(Value::as_str) == Some("multipart-batch")
            && self.flip(format!("content-type {id}"))
        {
            o.insert("batchContentType".into(), json!("workflow-outputs"));
        }
        self.extra(o, id);
    }

    fn part(&self, o: &mut Obj, id: &str) {
        if self.flip(format!("part-type {id}")) {
            o.insert("partType".into(), json!("workflow-output-v2"));
        }
        for key in ["partDescription", "nestedContentType"] {
            if !o.contains_key(key) && self.flip(format!("null {key} {id}")) {
                o.insert(key.into(), Value::Null);
            }
        }
        self.extra(o, id);
    }

    fn file(&self, o: &mut Obj, id: &str) {
        self.optional(o, "shardId", id);
        self.optional(o, "nestedContentType", id);
        if o.get("partName") == Some(&Value::Null) {
            self.optional(o, "partName", id);
        }
        self.extra(o, id);
    }

    fn shard(&self, o: &mut Obj, id: &str) {
        self.time(o, "eventTimestamp", id);
        self.float(o, "shardObjectsCount", id);
        if self.flip(format!("status-name {id}")) {
            let name = text(o, "statusName").to_ascii_uppercase().replace('-', "_");
            o.insert("statusName".into(), json!(name));
        }
        // Left out only where it says nothing: a shard that failed no file.
        let failed = o
            .get("statusMetadata")
            .and_then(|m| m.get("failedFiles")?.as_array());
        if text(o, "statusType") == "success" && failed.is_none_or(Vec::is_empty) {
            self.optional(o, "statusMetadata", id);
        }
        self.extra(o, id);
    }

    fn signed(&self, o: &mut Obj, id: &str) {
        if self.flip(format!("method {id}")) {
            o.remove("method");
        }
        // `shardId` stays: the spec gives it as the shard's identity, the one thing a
        // client can match a shard listing against after an interruption.
        self.optional(o, "maxFileSize", id);
        if self.bare_uploads {
            let none = if self.flip(format!("headers {id}")) {
                json!({})
            } else {
                Value::Null
            };
            o.insert("extensionHeaders".into(), none);
        }
        self.extra(o, id);
    }

    fn job(&self, o: &mut Obj, id: &str) {
        let job = text(o, "jobId");
        self.time(o, "createdAt", id);
        self.time(o, "lastUpdate", id);
        for key in ["currentStage", "plannedStages"] {
            let names = match o.get_mut(key) {
                Some(Value::Array(list)) => list.iter_mut().collect(),
                Some(v) => vec![v],
                None => Vec::new(),
            };
            for name in names {
                if let Value::String(s) = name {
                    *s = self.stage_id(&job, s);
                }
            }
        }
        self.optional(o, "plannedStages", id);
        for key in ["error", "isTerminal", "restartParametersOverride"] {
            self.default_out(o, key, id);
        }
        self.notification(o, "lastNotification", id);
        self.extra(o, id);
    }

    fn stage(&self, o: &mut Obj, job: &str, id: &str) {
        let own = text(o, "processingStageId");
        o.insert("processingStageId".into(), json!(self.stage_id(job, &own)));
        o.insert("processingStageName".into(), json!(self.stage_name(&own)));
        self.float(o, "tasksNumber", id);
        self.time(o, "startTimestamp", id);
        self.time(o, "lastEventTimestamp", id);
        self.notification(o, "notification", id);
        if self.flip(format!("output-batch-id {id}")) {
            o.remove("outputBatchId");
        }
        self.extra(o, id);
    }

    fn task(&self, o: &mut Obj, id: &str) {
        self.time(o, "eventTimestamp", id);
        self.notification(o, "notification", id);
        self.extra(o, id);
    }

    fn log(&self, o: &mut Obj, job: &str, id: &str) {
        self.time(o, "createdAt", id);
        if let Some(Value::String(s)) = o.get_mut("processingStageId") {
            *s = self.stage_id(job, s);
        }
        self.optional(o, "processingStageId", id);
        self.optional(o, "taskId", id);
        self.extra(o, id);
    }

    /// A stage's id on the wire.
    fn stage_id(&self, job: &str, own: &str) -> String {
        match (STAGES.iter().position(|s| *s == own), self.stages) {
            (None, _) | (_, 0) => own.to_string(),
            (_, 1) => format!("{job}-{own}"),
            (Some(i), 2) => format!("stage-{}", i + 1),
            _ => own.to_ascii_uppercase(),
        }
    }

    /// A stage's name on the wire: never its id, in text or in case.
    fn stage_name(&self, own: &str) -> String {
        match (STAGES.contains(&own), self.stages, own) {
            (false, ..) | (_, 3, _) => own.to_string(),
            (_, 0, _) => own.to_ascii_uppercase(),
            (_, 1, _) => own[..1].to_ascii_uppercase() + &own[1..],
            (_, _, "processing") => "Model inference".into(),
            (_, _, "export") => "Results export".into(),
            _ => "TensorRT compilation".into(),
        }
    }
}

/// A string field's value, or empty.
fn text(o: &Obj, key: &str) -> String {
    o.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

/// `2025-01-02T03:04:05.123Z` (data staging's form) or `2025-01-02T03:04:05.123456+00:00`
/// (batch processing's), in UTC.
fn timestamp_form(t: Timestamp, micros: bool) -> String {
    let (digits, zone) = if micros { (6, "+00:00") } else { (3, "Z") };
    let form =
        format!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:{digits}]{zone}");
    let d = time::OffsetDateTime::from(t.to_system_time());
    let form = time::format_description::parse_borrowed::<2>(&form).unwrap_or_default();
    d.format(&form).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn a_seed_chooses_the_same_every_time_and_seeds_differ() {
        let (a, b) = (Variation::new(7), Variation::new(7));
        assert_eq!((a.stages, a.missing_batch), (b.stages, b.missing_batch));
        assert_eq!(a.pick("x", 1000), b.pick("x", 1000));
        let styles: BTreeSet<u64> = (0..40).map(|s| Variation::new(s).stages).collect();
        assert_eq!(styles.len(), 4, "every stage style occurs");
        let statuses: BTreeSet<u16> = (0..40).map(|s| Variation::new(s).missing_batch).collect();
        assert_eq!(statuses.len(), 2);
    }

    #[test]
    fn stage_ids_round_trip_and_names_never_equal_ids() {
        for seed in 0..40 {
            let v = Variation::new(seed);
            for own in STAGES {
                let id = v.stage_id("job-1", own);
                assert_eq!(
                    STAGES.iter().find(|s| v.stage_id("job-1", s) == id),
                    Some(own)
                );
                assert_ne!(v.stage_name(own), id, "seed {seed}");
            }
        }
    }

    #[test]
    fn both_timestamp_forms_read_back_as_the_same_instant() {
        let t: Timestamp = "2025-01-02T03:04:05.123456Z".parse().unwrap();
        assert_eq!(timestamp_form(t, false), "2025-01-02T03:04:05.123Z");
        let o = timestamp_form(t, true);
        assert_eq!(o, "2025-01-02T03:04:05.123456+00:00");
        assert_eq!(o.parse::<Timestamp>().unwrap(), t);
    }
}
