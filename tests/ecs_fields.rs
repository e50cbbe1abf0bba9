//! Every field of every golden record (tests/golden/*.jsonl) is checked
//! against the pinned ECS field reference (tests/ecs/fields.csv, generated
//! from ECS's published generated/csv/fields.csv by
//! tests/ecs/regenerate.sh): its name must be an ECS field or lie under
//! `rand_guard.*`, and its JSON value must fit the field's ECS type. A
//! record that drifts from ECS fails here, not in a SIEM's ingest.

#[path = "ecs/validator.rs"]
mod validator;

use serde_json::Value;
use validator::{Ecs, is_rfc3339};

fn golden_files() -> Vec<std::path::PathBuf> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_golden_field_is_ecs_with_its_type() {
    let ecs = Ecs::load();
    let files = golden_files();
    assert!(files.len() >= 5, "golden files: {files:?}");
    let mut bad = Vec::new();
    let mut lines = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let rec: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", f.display(), n + 1));
            lines += 1;
            for b in ecs.check(&rec) {
                bad.push(format!("{}:{}: {b}", f.display(), n + 1));
            }
        }
    }
    assert!(lines > 20, "only {lines} golden lines");
    assert!(
        bad.is_empty(),
        "{} problems:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// Each record carries `ecs.version`, the version the list is pinned at.
#[test]
fn every_golden_record_names_the_pinned_ecs_version() {
    let ecs = Ecs::load();
    for f in golden_files() {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let rec: Value = serde_json::from_str(line).unwrap();
            assert_eq!(
                rec["ecs"]["version"].as_str(),
                Some(ecs.version.as_str()),
                "{}: {line}",
                f.display()
            );
        }
    }
}

#[test]
fn the_validator_names_each_wrong_field() {
    let ecs = Ecs::load();
    let rec: Value = serde_json::json!({
        "@timestamp": "2026-11-28T08:00:00.001Z",
        "schema_version": 2,
        "event": {"kind": "event", "sequence": "7", "risk_score": 47, "created": "yesterday"},
        "host": {"ip": ["10.0.0.1", "not-an-ip"], "made_up": "x"},
        "dns": {"id": 4660},
        "process": {"pid": 1, "args": [["nested"]], "parent": {"entity_id": "abc"}},
        "file": {"inode": "12"},
        "threat": {"technique": {"subtechnique": {"id": ["T1053.003"]}}},
        "labels": {"any": "thing"},
        "rand_guard": {"anything": {"goes": 1}},
        "bogus": 1,
    });
    let mut got = ecs.check(&rec);
    got.sort();
    let v = &ecs.version;
    let mut want = vec![
        "event.sequence: \"7\" does not fit ECS type long".to_string(),
        "event.created: \"yesterday\" does not fit ECS type date".into(),
        "host.ip: \"not-an-ip\" does not fit ECS type ip".into(),
        format!("host.made_up: not an ECS {v} field and not under rand_guard.*"),
        "dns.id: 4660 does not fit ECS type keyword".into(),
        "process.args: nested array".into(),
        format!("bogus: not an ECS {v} field and not under rand_guard.*"),
    ];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn rfc3339_shapes() {
    for good in [
        "2026-11-28T08:00:00Z",
        "2026-11-28T08:00:00.000000001Z",
        "2026-11-28T08:00:00+01:00",
    ] {
        assert!(is_rfc3339(good), "{good}");
    }
    for bad in [
        "2026-11-28 08:00:00Z",
        "2026-13-28T08:00:00Z",
        "2026-11-28T08:00:00",
        "2026-11-28T08:00:00.Z",
        "1795852800",
        "2026-11-28T24:00:00Z",
    ] {
        assert!(!is_rfc3339(bad), "{bad}");
    }
}

#[test]
fn the_pinned_list_parses_and_has_the_fields_we_rely_on() {
    let ecs = Ecs::load();
    assert!(ecs.types.len() > 2000, "{} fields", ecs.types.len());
    for (name, ty) in [
        ("process.entity_id", "keyword"),
        ("process.working_directory", "keyword"),
        ("event.risk_score", "float"),
        ("dns.id", "keyword"),
        ("threat.technique.subtechnique.id", "keyword"),
    ] {
        assert_eq!(ecs.types.get(name).map(String::as_str), Some(ty), "{name}");
    }
}
