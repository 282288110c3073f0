//! Which output batches a job's stage wrote: the one rule, used by the library's export
//! and by the CLI through it.
//!
//! A stage's name is a display name (the service has answered `Export` for the stage whose
//! id is `<job>-export`), so a stage asked for as `export` is found by, in order:
//! 1. `processingStageId` equal to it;
//! 2. `processingStageName` equal to it, ignoring case;
//! 3. an output batch named `<job>-<stage>` (the service's naming of output batches).
//!
//! The first rule that yields a batch wins.

use crate::error::{Error, Result};
use crate::model::JobStage;

/// The output batches of the stages `wanted` (each found as the module docs say), in the
/// order asked, without repeats; an error that lists every stage (id, name, output
/// batches) when none of them has an output batch. `note` is added after the job id in
/// that error (e.g. ` (the job failed)`).
pub(crate) fn output_batches(
    job_id: &str,
    stages: &[JobStage],
    wanted: &[String],
    note: &str,
) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for w in wanted {
        for b in batches_of(job_id, stages, w) {
            if !out.iter().any(|o| o == b) {
                out.push(b.to_string());
            }
        }
    }
    if out.is_empty() {
        return Err(Error::invalid(
            "stages",
            format!(
                "job {job_id}{note} has no output batch from stage {}; its stages: {}",
                wanted.join(" or "),
                describe(stages)
            ),
        ));
    }
    Ok(out)
}

/// The batches of one wanted stage, by the first rule that yields any.
fn batches_of<'s>(job_id: &str, stages: &'s [JobStage], wanted: &str) -> Vec<&'s str> {
    let by = |pick: &dyn Fn(&JobStage) -> bool| -> Vec<&'s str> {
        stages
            .iter()
            .filter(|s| pick(s))
            .flat_map(JobStage::output_batch_ids)
            .collect()
    };
    let by_id = by(&|s| s.processing_stage_id == wanted);
    if !by_id.is_empty() {
        return by_id;
    }
    let by_name = by(&|s| s.processing_stage_name.eq_ignore_ascii_case(wanted));
    if !by_name.is_empty() {
        return by_name;
    }
    let conventional = format!("{job_id}-{wanted}");
    stages
        .iter()
        .flat_map(JobStage::output_batch_ids)
        .filter(|b| b.eq_ignore_ascii_case(&conventional))
        .collect()
}

/// `id "Name" -> batch, batch; …`, or `none`.
fn describe(stages: &[JobStage]) -> String {
    if stages.is_empty() {
        return "none".into();
    }
    stages
        .iter()
        .map(|s| {
            let batches = s.output_batch_ids();
            format!(
                "{} ({:?}) -> {}",
                s.processing_stage_id,
                s.processing_stage_name,
                if batches.is_empty() {
                    "no output batch".to_string()
                } else {
                    batches.join(", ")
                }
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(id: &str, name: &str, batches: &[&str]) -> JobStage {
        let v = serde_json::json!({
            "processingStageId": id, "processingStageName": name, "tasksNumber": 1,
            "outputBatches": batches, "startTimestamp": "2025-01-02T03:04:05Z",
            "notification": {}, "statusType": "success",
            "lastEventTimestamp": "2025-01-02T03:04:05Z",
        });
        serde_json::from_value(v).unwrap()
    }

    fn want(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn stages_are_found_by_id_then_name_then_batch_name() {
        // (stages, wanted, expected batches)
        let cases: Vec<(Vec<JobStage>, Vec<String>, Vec<&str>)> = vec![
            // Ids equal to the word, as our sandbox names them.
            (
                vec![
                    stage("processing", "processing", &["j-processing"]),
                    stage("export", "export", &["j-export"]),
                ],
                want(&["export"]),
                vec!["j-export"],
            ),
            // Names differ from ids in text and case: found by name, ignoring case.
            (
                vec![
                    stage(
                        "conf-job-processing",
                        "Processing",
                        &["conf-job-processing"],
                    ),
                    stage("conf-job-export", "Export", &["conf-job-export"]),
                ],
                want(&["processing", "export"]),
                vec!["conf-job-processing", "conf-job-export"],
            ),
            // The id wins over another stage's name.
            (
                vec![
                    stage("export", "Packaging", &["by-id"]),
                    stage("s2", "EXPORT", &["by-name"]),
                ],
                want(&["export"]),
                vec!["by-id"],
            ),
            // Neither id nor name says it: the batch name does.
            (
                vec![
                    stage("s-1", "Inference", &["j-processing"]),
                    stage("s-2", "Archiving", &["j-export"]),
                ],
                want(&["export"]),
                vec!["j-export"],
            ),
            // A stage found by name without output batches falls through to the batch name.
            (
                vec![
                    stage("s-1", "export", &[]),
                    stage("s-2", "Archiving", &["J-EXPORT"]),
                ],
                want(&["export"]),
                vec!["J-EXPORT"],
            ),
            // Asked twice, or two stages writing one batch: listed once.
            (
                vec![
                    stage("a", "Processing", &["j-out"]),
                    stage("b", "Export", &["j-out", "j-export"]),
                ],
                want(&["processing", "export"]),
                vec!["j-out", "j-export"],
            ),
        ];
        for (stages, wanted, expected) in cases {
            let got = output_batches("j", &stages, &wanted, "").unwrap();
            assert_eq!(got, expected, "{wanted:?} in {stages:?}");
        }
    }

    #[test]
    fn the_official_clients_stage_json_is_read() {
        // JobStageDetails as the official client's models read it (notes §3.1), with
        // the display names the service may use.
        let body = r#"{"stages": [
          {"processingStageId": "conf-job-processing", "processingStageName": "Processing",
           "tasksNumber": 3.0, "outputBatches": ["conf-job-processing"],
           "startTimestamp": "2025-01-02T03:04:05.123456+00:00", "notification": {"type": "x"},
           "statusType": "success", "lastEventTimestamp": "2025-01-02T03:05:05.123Z"},
          {"processingStageId": "conf-job-export", "processingStageName": "Export",
           "tasksNumber": 1, "outputBatches": ["conf-job-export"],
           "startTimestamp": "2025-01-02T03:06:05.123Z", "notification": "done",
           "statusType": "success", "lastEventTimestamp": "2025-01-02T03:07:05.123Z"}]}"#;
        let r: crate::model::ListStagesResponse = serde_json::from_str(body).unwrap();
        let got = output_batches("conf-job", &r.stages, &want(&["export"]), "").unwrap();
        assert_eq!(got, vec!["conf-job-export"]);
    }

    #[test]
    fn nothing_found_lists_every_stage() {
        let stages = vec![
            stage(
                "conf-job-processing",
                "Processing",
                &["conf-job-processing"],
            ),
            stage("conf-job-export", "Export", &[]),
        ];
        let err = output_batches("conf-job", &stages, &want(&["export"]), " (the job failed)")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("job conf-job (the job failed) has no output batch from stage export")
                && err.contains(r#"conf-job-processing ("Processing") -> conf-job-processing"#)
                && err.contains(r#"conf-job-export ("Export") -> no output batch"#),
            "{err}"
        );
        let err = output_batches("j", &[], &want(&["export"]), "").unwrap_err();
        assert!(err.to_string().ends_with("its stages: none"), "{err}");
    }
}
