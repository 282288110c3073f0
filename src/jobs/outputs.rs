//! Which output batches a job's stage wrote: the one rule, for the export and the CLI.

use crate::error::{Error, Result};
use crate::model::JobStage;

/// The output batches of the stages `wanted`, in order, without repeats: a stage found by
/// id, by name in any case (`Export`), or by an output batch `<job>-<stage>`, the first rule
/// that yields one winning. Else an error listing every stage, `note` after the job id.
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

/// A rule that picks a stage's output batch.
type Rule<'r> = &'r dyn Fn(&JobStage, &str) -> bool;

/// The batches of one wanted stage, by the first rule that yields any.
fn batches_of<'s>(job_id: &str, stages: &'s [JobStage], wanted: &str) -> Vec<&'s str> {
    let conventional = format!("{job_id}-{wanted}");
    let rules: [Rule<'_>; 3] = [
        &|s, _| s.processing_stage_id == wanted,
        &|s, _| s.processing_stage_name.eq_ignore_ascii_case(wanted),
        &|_, b| b.eq_ignore_ascii_case(&conventional),
    ];
    let by = |rule: Rule<'_>| -> Vec<&'s str> {
        let batches = |s: &'s JobStage| s.output_batch_ids().into_iter().map(move |b| (s, b));
        stages
            .iter()
            .flat_map(batches)
            .filter(|(s, b)| rule(s, b))
            .map(|(_, b)| b)
            .collect()
    };
    rules
        .into_iter()
        .map(by)
        .find(|b| !b.is_empty())
        .unwrap_or_default()
}

/// `id "Name" -> batch, batch; …`, or `none`.
fn describe(stages: &[JobStage]) -> String {
    let one = |s: &JobStage| {
        let mut batches = s.output_batch_ids().join(", ");
        if batches.is_empty() {
            batches = "no output batch".into();
        }
        let (id, name) = (&s.processing_stage_id, &s.processing_stage_name);
        format!("{id} ({name:?}) -> {batches}")
    };
    let all: Vec<String> = stages.iter().map(one).collect();
    if all.is_empty() {
        return "none".into();
    }
    all.join("; ")
}
