//! The README's tables of departures are read by tests (the differential wire test takes
//! "Where rfbatch differs from the official client, and why" as its only allowance): each
//! keeps one stable key per row and the same columns, and the README stands on its own.

const README: &str = include_str!("../README.md");

/// The rows of the table under `heading`, as cells, without the header and rule lines.
fn table(heading: &str) -> Vec<Vec<String>> {
    let start = README
        .find(heading)
        .unwrap_or_else(|| panic!("no section {heading:?}"));
    README[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn the_departures_table_has_one_stable_key_per_row() {
    let rows = table("### Where rfbatch differs from the official client, and why");
    assert!(rows.len() >= 20, "{} rows", rows.len());
    let mut keys = std::collections::BTreeSet::new();
    for row in &rows {
        assert_eq!(row.len(), 5, "five cells: {row:?}");
        let key = &row[0];
        assert!(
            !key.is_empty() && !key.contains(['`', '|', '*']),
            "a plain key: {key:?}"
        );
        assert!(keys.insert(key.clone()), "a repeated key: {key:?}");
        assert!(
            row.iter().all(|c| !c.is_empty()),
            "every cell said: {row:?}"
        );
    }
    // Departures the code keeps on purpose (each has its own test elsewhere).
    for key in [
        "pageSize query on listings",
        "machineType always sent",
        "shard size from the service's limits",
        "verification calls",
        "ingest ids derived when none is given",
        "ingest ids of several chunks",
        "batch kind asked after a refusal",
    ] {
        assert!(keys.contains(key), "{key:?} is missing");
    }
}

#[test]
fn the_spec_table_keeps_its_columns_and_the_readme_points_nowhere_outside() {
    let rows = table("### Where the spec and the official client disagree");
    assert!(rows.len() >= 15);
    assert!(rows.iter().all(|r| r.len() == 5), "{rows:?}");
    assert!(!README.contains("shared/notes"), "the README stands alone");
    assert!(
        !README.contains("spec-vs-client"),
        "the README stands alone"
    );
}
