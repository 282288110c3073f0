//! Decoding and checking job request bodies. These are pure functions of the bytes, so
//! that property tests can throw anything at them: every input is a value or a 4xx.

use serde_json::Value;

use super::super::job_records::{JobKind, TrtJob};
use super::super::request::{bad, decode_json as decode, fail};
use crate::model::{JobStartRequest, JobType, RestartOverrides};
use crate::server::Reply;

/// The largest `processingTimeoutSeconds` accepted: one year. Larger values are refused
/// when they arrive, so no deadline computed from one can overflow.
pub(crate) const MAX_PROCESSING_TIMEOUT_SECS: u64 = 365 * 24 * 3600;

/// A job start body: a TensorRT compilation or a Workflow job, decoded and checked (but
/// not against the stored batches).
pub(crate) fn job_kind(body: &[u8]) -> Result<JobKind, Reply> {
    let raw: Value = decode("job definition", body)?;
    if raw.get("type").and_then(Value::as_str) == Some("trt-compilation-v1") {
        let t: TrtJob = decode("job definition", body)?;
        t.validate().map_err(bad)?;
        return Ok(JobKind::Trt(t));
    }
    let req: JobStartRequest = decode("job definition", body)?;
    req.validate().map_err(bad)?;
    if !matches!(
        req.job_type,
        JobType::SimpleImageProcessing | JobType::SimpleVideoProcessing
    ) {
        let t = req.job_type.as_str();
        return fail(400, format!("invalid type: {t:?} needs a different body"));
    }
    check_timeout(req.processing_timeout_seconds)?;
    if let Some(fps) = req.processing_specification.max_video_fps
        && !(fps.is_finite() && fps > 0.0 && fps <= 1000.0)
    {
        let what = "processingSpecification.maxVideoFPS";
        let msg = format!("{what} must be above 0 and at most 1000, got {fps}");
        return fail(400, msg);
    }
    Ok(JobKind::Workflow(Box::new(req)))
}

/// A restart body: `None` when empty, else checked overrides.
pub(crate) fn restart_overrides(body: &[u8]) -> Result<Option<RestartOverrides>, Reply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let o: RestartOverrides = decode("restart parameters", body)?;
    o.validate().map_err(bad)?;
    check_timeout(o.processing_timeout_seconds)?;
    Ok(Some(o))
}

fn check_timeout(secs: Option<u64>) -> Result<(), Reply> {
    if let Some(s) = secs.filter(|&s| s > MAX_PROCESSING_TIMEOUT_SECS) {
        let max = MAX_PROCESSING_TIMEOUT_SECS;
        let msg = format!("processingTimeoutSeconds must be at most {max} (one year), got {s}");
        return fail(400, msg);
    }
    Ok(())
}
