//! The compatibility guide's tables (`docs/compatibility.md`) are read by tests (the
//! differential wire test takes "Where rfbatch differs from the official client, and why" as
//! its only allowance): each keeps one stable key per row and the same columns, and the
//! README and the guides stand on their own.

const README: &str = include_str!("../README.md");
const GUIDE: &str = include_str!("../docs/compatibility.md");

/// The rows of the table under `heading`, as cells, without the header and rule lines.
fn table(heading: &str) -> Vec<Vec<String>> {
    let start = GUIDE
        .find(heading)
        .unwrap_or_else(|| panic!("no section {heading:?}"));
    GUIDE[start..]
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
    let rows = table("## Where rfbatch differs from the official client, and why");
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
fn the_spec_table_keeps_its_columns_and_the_docs_point_nowhere_outside() {
    let rows = table("## Where the spec and the official client disagree");
    assert!(rows.len() >= 15);
    assert!(rows.iter().all(|r| r.len() == 5), "{rows:?}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut texts = vec![("README.md".to_string(), README.to_string())];
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        texts.push((
            path.display().to_string(),
            std::fs::read_to_string(&path).unwrap(),
        ));
    }
    assert!(texts.len() >= 8, "the guides are in docs/");
    for (name, text) in &texts {
        for outside in ["shared/notes", "spec-vs-client"] {
            assert!(!text.contains(outside), "{name} points at {outside}");
        }
    }
}

#[test]
fn the_readme_is_short_and_its_links_to_the_guides_resolve() {
    assert!(
        README.lines().count() <= 320,
        "{} lines",
        README.lines().count()
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for link in README.split("](").skip(1) {
        let target = &link[..link.find(')').unwrap()];
        if target.starts_with("http") || target.starts_with('#') {
            continue;
        }
        let file = target.split('#').next().unwrap();
        assert!(
            root.join(file).is_file(),
            "the README links to {target}, which is missing"
        );
    }
}
