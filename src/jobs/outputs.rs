//! Which output batches a job's stage wrote: the one rule, for the export and the CLI.

use crate::error::{Error, Result};
use crate::model::JobStage;

/// The output batches of the stages `wanted`, in the order asked, without repeats. A
/// stage's name is a display name (`Export` for the id `<job>-export`), so a stage is found
/// by its `processingStageId`, then its `processingStageName` ignoring case, then an output
/// batch named `<job>-<stage>`: the first that yields a batch wins. When none does, the
/// error lists every stage, with `note` after the job id (e.g. ` (the job failed)`).
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

    #[test]
    fn stages_are_found_by_id_then_name_then_batch_name() {
        let (p, e) = ("j-processing", "j-export");
        // (stages, wanted, expected batches)
        let cases: Vec<(Vec<JobStage>, &[&str], Vec<&str>)> = vec![
            // Ids equal to the word, as our sandbox names them.
            (
                vec![
                    stage("processing", "processing", &[p]),
                    stage("export", "export", &[e]),
                ],
                &["export"],
                vec![e],
            ),
            // Names differ from ids in text and case: found by name, ignoring case.
            (
                vec![
                    stage("c-processing", "Processing", &[p]),
                    stage("c-export", "Export", &[e]),
                ],
                &["processing", "export"],
                vec![p, e],
            ),
            // The id wins over another stage's name.
            (
                vec![
                    stage("export", "Packaging", &["by-id"]),
                    stage("s2", "EXPORT", &["by-name"]),
                ],
                &["export"],
                vec!["by-id"],
            ),
            // Neither id nor name says it: the batch name does (ignoring case), also past
            // a stage found by name without output batches.
            (
                vec![
                    stage("s-1", "export", &[]),
                    stage("s-2", "Archiving", &["J-EXPORT"]),
                ],
                &["export"],
                vec!["J-EXPORT"],
            ),
            // Asked twice, or two stages writing one batch: listed once.
            (
                vec![
                    stage("a", "Processing", &["j-out"]),
                    stage("b", "Export", &["j-out", e]),
                ],
                &["processing", "export"],
                vec!["j-out", e],
            ),
        ];
        for (stages, wanted, expected) in cases {
            let wanted: Vec<String> = wanted.iter().map(|w| w.to_string()).collect();
            let got = output_batches("j", &stages, &wanted, "").unwrap();
            assert_eq!(got, expected, "{wanted:?} in {stages:?}");
        }
    }

    #[test]
    fn nothing_found_lists_every_stage() {
        let stages = vec![
            stage("c-processing", "Processing", &["c-processing"]),
            stage("c-export", "Export", &[]),
        ];
        let export = ["export".to_string()];
        let err = output_batches("c", &stages, &export, " (the job failed)").unwrap_err();
        let err = err.to_string();
        assert!(
            err.contains("job c (the job failed) has no output batch from stage export")
                && err.contains(r#"c-processing ("Processing") -> c-processing"#)
                && err.contains(r#"c-export ("Export") -> no output batch"#),
            "{err}"
        );
        let err = output_batches("j", &[], &export, "").unwrap_err();
        assert!(err.to_string().ends_with("its stages: none"), "{err}");
    }
}
