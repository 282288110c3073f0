//! Property tests: the decoders of the sandbox's request bodies and the parsers under them
//! answer any input with a value or a 4xx, never a panic.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::jobs::decode::{job_kind, restart_overrides};
use super::staging::ingests::{decode_references, decode_roboql};
use super::staging::multipart::{boundary, single_file};
use crate::server::Reply;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A decoder's verdict is acceptable: a value, or a client error.
fn is_4xx<T>(r: &Result<T, Reply>) -> bool {
    match r {
        Ok(_) => true,
        Err(reply) => (400..500).contains(&reply.status),
    }
}

/// The field names and values the decoders know, so that generated bodies get deep.
const KEYS: &[&str] = &[
    "type",
    "jobInput",
    "batchId",
    "partName",
    "computeConfiguration",
    "machineType",
    "workersPerMachine",
    "processingTimeoutSeconds",
    "maxParallelTasks",
    "maxImageFailureRate",
    "processingSpecification",
    "workspace",
    "workflowId",
    "workflowParameters",
    "aggregationFormat",
    "maxVideoFPS",
    "notificationsURL",
    "inferenceBackend",
    "modelId",
    "compilationDevices",
    "imageReferences",
    "imageReferencesURL",
    "videoReferences",
    "videoReferencesURL",
    "name",
    "url",
    "ingestId",
    "notificationCategories",
    "query",
    "displayName",
];
const WORDS: &[&str] = &[
    "simple-image-processing-v1",
    "simple-video-processing-v1",
    "trt-compilation-v1",
    "staging-batch-input-v1",
    "compute-configuration-v2",
    "workflows-processing-specification-v1",
    "parameters-override-v1",
    "cpu",
    "gpu",
    "jsonl",
    "csv",
    "nvidia-t4",
    "image-stats",
    "ingest-status",
    "files-status",
    "http://127.0.0.1:1/x",
    "https://h/a.jpg?sig=1",
    "a.jpg",
    "..",
    "",
    "b",
    "\u{0}",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(json!(18446744073709551615u64)),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![prop::sample::select(KEYS).prop_map(String::from), ".{0,6}"],
                    inner
                ),
                0..8
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Valid bodies of each kind, as the notes show them.
fn valid_bodies() -> Vec<Value> {
    vec![
        json!({"type": "simple-image-processing-v1",
               "jobInput": {"type": "staging-batch-input-v1", "batchId": "b"},
               "computeConfiguration": {"type": "compute-configuration-v2", "machineType": "cpu"},
               "processingTimeoutSeconds": 3600,
               "processingSpecification": {"type": "workflows-processing-specification-v1",
                   "workspace": "w", "workflowId": "image-stats", "aggregationFormat": "csv"}}),
        json!({"type": "trt-compilation-v1", "modelId": "m/1", "compilationDevices": ["nvidia-t4"]}),
        json!({"type": "parameters-override-v1", "processingTimeoutSeconds": 60, "maxParallelTasks": 2,
               "computeConfiguration": {"type": "compute-configuration-v2", "workersPerMachine": 2}}),
        json!({"imageReferences": [{"name": "a.jpg", "url": "https://h/a.jpg"}],
               "ingestId": "i", "notificationsURL": "http://127.0.0.1/h",
               "notificationCategories": ["files-status"]}),
        json!({"imageReferencesURL": "https://h/refs.jsonl"}),
        json!({"query": "tag:x", "ingestId": "q"}),
    ]
}

/// A valid body with one field (at any depth) replaced, removed or added.
fn mutated() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(valid_bodies()),
        prop::collection::vec(any::<prop::sample::Index>(), 1..4),
        prop::option::of(json_value()),
        prop::sample::select(KEYS),
    )
        .prop_map(|(mut body, path, replacement, key)| {
            mutate(&mut body, &path, replacement, key);
            body
        })
}

/// Walks `path` down from `node` as far as it goes, then changes what it reached.
fn mutate(node: &mut Value, path: &[prop::sample::Index], replacement: Option<Value>, key: &str) {
    if let Some((idx, rest)) = path.split_first() {
        let len = match node {
            Value::Object(m) => m.len(),
            Value::Array(a) => a.len(),
            _ => 0,
        };
        if len > 0 {
            let i = idx.index(len);
            let child = match node {
                Value::Object(m) => m.values_mut().nth(i),
                Value::Array(a) => a.get_mut(i),
                _ => None,
            };
            if let Some(child) = child {
                return mutate(child, rest, replacement, key);
            }
        }
    }
    match (node, replacement) {
        (Value::Object(m), Some(v)) => {
            m.insert(key.to_string(), v);
        }
        (Value::Object(m), None) => {
            m.remove(key);
        }
        (n, Some(v)) => *n = v,
        (n, None) => *n = Value::Null,
    }
}

/// Any body: raw bytes, arbitrary JSON, or a mutated valid body.
fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        mutated().prop_map(|v| v.to_string().into_bytes()),
        // Valid JSON cut short.
        (mutated(), any::<prop::sample::Index>()).prop_map(|(v, i)| {
            let s = v.to_string().into_bytes();
            let cut = i.index(s.len() + 1);
            s[..cut].to_vec()
        }),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn job_bodies_decode_or_are_4xx(body in any_body()) {
        let r = job_kind(&body);
        prop_assert!(is_4xx(&r));
    }

    #[test]
    fn restart_bodies_decode_or_are_4xx(body in any_body()) {
        let r = restart_overrides(&body);
        prop_assert!(is_4xx(&r));
    }

    #[test]
    fn references_bodies_decode_or_are_4xx(body in any_body(), video in any::<bool>()) {
        let r = decode_references(&body, video);
        prop_assert!(is_4xx(&r));
    }

    #[test]
    fn roboql_bodies_decode_or_are_4xx(body in any_body()) {
        prop_assert!(is_4xx(&decode_roboql(&body)));
    }

    #[test]
    fn multipart_bodies_never_panic(
        pieces in prop::collection::vec(prop_oneof![
            Just(b"--xx".to_vec()),
            Just(b"--xx--".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\r\n\r\n".to_vec()),
            Just(b"Content-Disposition: form-data; name=\"file\"; filename=\"a.png\"".to_vec()),
            Just(b"Content-Disposition: form-data; name=".to_vec()),
            Just(b";".to_vec()),
            prop::collection::vec(any::<u8>(), 0..20),
        ], 0..16),
        content_type in prop_oneof![
            Just("multipart/form-data; boundary=xx".to_string()),
            Just("multipart/form-data; boundary=\"xx\"".to_string()),
            ".{0,40}",
        ],
    ) {
        let body = pieces.concat();
        if let Some(b) = boundary(&content_type) {
            let _ = single_file(&body, &b, "a.png");
        }
        let _ = single_file(&body, "xx", "a.png");
        let _ = single_file(&body, "", "a.png");
    }
}
