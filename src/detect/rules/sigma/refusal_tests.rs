//! Every refusal of the Sigma front end with its kind, construct and
//! reason, and what a bad document or a broken file does to the others.

use std::path::Path;

use super::tests::{PC, doc};
use super::*;
use crate::detect::rules::RuleSet;

/// (what, whole document, kind, construct, words of the reason)
fn refusals() -> Vec<(&'static str, String, SkipKind, &'static str, &'static str)> {
    let sel = |d: &str| doc(PC, &format!("sel:\n    {d}\ncondition: sel"));
    vec![
        (
            "unknown field",
            sel("Imagee: /bin/x"),
            SkipKind::Field,
            "detection.sel.Imagee",
            "unknown field `Imagee`",
        ),
        (
            "field without data",
            sel("ParentUser: root"),
            SkipKind::Field,
            "detection.sel.ParentUser",
            "the parent's user is not recorded",
        ),
        (
            "Hashes without a SHA256",
            sel("Hashes|contains:\n      - 'MD5=00'\n      - 'IMPHASH=01'"),
            SkipKind::Field,
            "detection.sel.Hashes|contains",
            "no `SHA256=` value",
        ),
        (
            "Hashes with a short SHA256",
            sel("Hashes: 'SHA256=abc'"),
            SkipKind::Invalid,
            "detection.sel.Hashes",
            "a SHA256 is 64 hex digits",
        ),
        (
            "Hashes with endswith",
            sel("Hashes|endswith: 'SHA256=abc'"),
            SkipKind::Modifier,
            "detection.sel.Hashes|endswith",
            "Hashes takes `SHA256=<hex>` values",
        ),
        (
            "field of another log source",
            sel("TargetFilename: /tmp/x"),
            SkipKind::Field,
            "detection.sel.TargetFilename",
            "not in exec events",
        ),
        (
            "unknown modifier",
            sel("Image|endwith: /x"),
            SkipKind::Modifier,
            "detection.sel.Image|endwith",
            "unknown modifier `endwith`",
        ),
        (
            "utf16",
            sel("CommandLine|utf16le|base64: x"),
            SkipKind::Modifier,
            "detection.sel.CommandLine|utf16le|base64",
            "UTF-16",
        ),
        (
            "expand",
            sel("User|expand: '%Admins%'"),
            SkipKind::Modifier,
            "detection.sel.User|expand",
            "placeholders",
        ),
        (
            "cidr on a string",
            sel("Image|cidr: 10.0.0.0/8"),
            SkipKind::Modifier,
            "detection.sel.Image|cidr",
            "cidr does not apply",
        ),
        (
            "re flag without re",
            sel("Image|i: x"),
            SkipKind::Modifier,
            "detection.sel.Image|i",
            "sub-modifier of `re`",
        ),
        (
            "regex the engine lacks",
            sel("Image|re: '(?<=a)b'"),
            SkipKind::Invalid,
            "detection.sel.Image|re",
            "regular expression",
        ),
        (
            "user name",
            sel("User: alice"),
            SkipKind::Field,
            "detection.sel.User",
            "numeric ids",
        ),
        (
            "keyword list",
            doc(PC, "keywords:\n    - evil\ncondition: keywords"),
            SkipKind::Keyword,
            "detection.keywords",
            "keyword search",
        ),
        (
            "aggregation",
            doc(PC, "sel:\n    Image: /x\ncondition: sel | count() > 5"),
            SkipKind::Aggregation,
            "condition `sel | count() > 5`",
            "aggregations",
        ),
        (
            "timeframe",
            doc(PC, "sel:\n    Image: /x\ntimeframe: 5m\ncondition: sel"),
            SkipKind::Aggregation,
            "detection.timeframe",
            "timeframe",
        ),
        (
            "unknown identifier",
            doc(PC, "sel:\n    Image: /x\ncondition: sel and filter"),
            SkipKind::Condition,
            "detection.condition",
            "`filter` is not a search identifier",
        ),
        (
            "pattern naming nothing",
            doc(PC, "sel:\n    Image: /x\ncondition: 1 of filter_*"),
            SkipKind::Condition,
            "detection.condition",
            "`filter_*` names no search identifier",
        ),
        (
            "unbalanced parenthesis",
            doc(PC, "sel:\n    Image: /x\ncondition: (sel"),
            SkipKind::Condition,
            "condition `(sel`",
            "not closed",
        ),
        (
            "2 of",
            doc(PC, "sel:\n    Image: /x\ncondition: 2 of sel*"),
            SkipKind::Condition,
            "condition `2 of sel*`",
            "only `1 of` and `all of`",
        ),
        (
            "windows",
            doc(PC, "sel:\n    Image: /x\ncondition: sel")
                .replace("product: linux", "product: windows"),
            SkipKind::LogSource,
            "logsource.product",
            "Linux hosts only",
        ),
        (
            "a service",
            doc(PC, "sel:\n    Image: /x\ncondition: sel")
                .replace("    category: process_creation\n", "    service: auditd\n"),
            SkipKind::LogSource,
            "logsource.service",
            "reads no log files",
        ),
        (
            "file_change",
            doc(
                "file_change",
                "sel:\n    TargetFilename: /x\ncondition: sel",
            ),
            SkipKind::LogSource,
            "logsource.category",
            "creation time",
        ),
        (
            "unknown category",
            doc("registry_set", "sel:\n    Image: /x\ncondition: sel"),
            SkipKind::LogSource,
            "logsource.category",
            "\"registry_set\" is not a log source",
        ),
        (
            "correlation",
            "title: C\nid: c-1\ncorrelation:\n    type: event_count\n    rules: [a]\n".into(),
            SkipKind::Correlation,
            "correlation",
            "correlation rules",
        ),
        (
            "no id",
            doc(PC, "sel:\n    Image: /x\ncondition: sel")
                .replace("id: 5f0c2a52-0000-4000-8000-000000000001\n", ""),
            SkipKind::Invalid,
            "id",
            "needs an `id`",
        ),
        (
            "bad level",
            doc(PC, "sel:\n    Image: /x\ncondition: sel").replace("level: high", "level: severe"),
            SkipKind::Invalid,
            "level",
            "one of informational",
        ),
        (
            "text for a number",
            doc(
                "network_connection",
                "sel:\n    DestinationPort: http\ncondition: sel",
            ),
            SkipKind::Invalid,
            "detection.sel.DestinationPort",
            "is a number",
        ),
        (
            "windash explosion",
            sel("CommandLine|windash: '-a -b -c -d -e'"),
            SkipKind::Modifier,
            "detection.sel.CommandLine|windash",
            "at most 4 dashes",
        ),
    ]
}

#[test]
fn refusals_name_the_rule_the_construct_and_the_reason() {
    for (what, text, kind, construct, reason) in refusals() {
        let f = parse_file(Path::new("/r/s.yml"), &text).unwrap();
        assert!(f.rules.is_empty(), "{what}: loaded\n{text}");
        let [s] = f.skipped.as_slice() else {
            panic!("{what}: {:?}", f.skipped);
        };
        assert_eq!(s.kind, kind, "{what}: {s}");
        assert_eq!(s.construct, construct, "{what}: {s}");
        assert!(s.reason.contains(reason), "{what}: {s}");
        assert_eq!(s.file, Path::new("/r/s.yml"));
    }
}

#[test]
fn one_bad_document_leaves_the_others() {
    let good = doc(PC, "sel:\n    Image: /x\ncondition: sel");
    let bad =
        doc(PC, "sel:\n    Imagee: /x\ncondition: sel").replace("000000000001", "000000000002");
    let text = format!(
        "{good}---\n{bad}---\n{}",
        good.replace("000000000001", "000000000003")
    );
    let f = parse_file(Path::new("/r/m.yaml"), &text).unwrap();
    assert_eq!(f.rules.len(), 2);
    assert_eq!(f.skipped.len(), 1);
    assert_eq!(f.skipped[0].rule, "5f0c2a52-0000-4000-8000-000000000002");
    assert_eq!(
        f.skipped[0].to_string(),
        "rules file /r/m.yaml: rule `5f0c2a52-0000-4000-8000-000000000002` skipped (unsupported field): \
         detection.sel.Imagee: unknown field `Imagee` (the fields are listed in docs/rules.md, Sigma field mapping)"
    );
}

#[test]
fn malformed_yaml_is_an_error_naming_the_file_and_line() {
    let e = parse_file(Path::new("/r/bad.yml"), "title: x\ndetection:\n  sel: [a\n").unwrap_err();
    assert_eq!(e.file, Path::new("/r/bad.yml"));
    assert!(e.line.is_some(), "{e}");
    assert!(e.reason.starts_with("not valid YAML: "), "{e}");
    let e = parse_file(Path::new("/r/dup.yml"), "title: x\ntitle: y\n").unwrap_err();
    assert!(e.reason.contains("duplicated key"), "{e}");
}

/// A directory of TOML and Sigma files: both load into one set, in file
/// order; a Sigma rule whose id is taken is skipped, not an error; a
/// broken YAML file is an error like a broken TOML file.
#[test]
fn a_directory_mixes_toml_and_sigma() {
    let dir = tempfile::tempdir().unwrap();
    let toml = "[[rules]]\nid = \"taken\"\nname = \"T\"\nseverity = \"low\"\nevents = [\"exec\"]\n\
                [[rules.all]]\nfield = \"process.name\"\nequals = \"x\"\n";
    std::fs::write(dir.path().join("a.toml"), toml).unwrap();
    let sel = "sel:\n    Image: /x\ncondition: sel";
    let ok = doc(PC, sel);
    let taken = doc(PC, sel).replace("5f0c2a52-0000-4000-8000-000000000001", "taken");
    let builtin = doc(PC, sel).replace("5f0c2a52-0000-4000-8000-000000000001", "rg-persist-cron");
    let again = ok.clone();
    std::fs::write(
        dir.path().join("b.yml"),
        format!("{ok}---\n{taken}---\n{builtin}---\n{again}"),
    )
    .unwrap();
    std::fs::write(dir.path().join("c.txt"), "not a rules file").unwrap();
    let set = RuleSet::load_dir(dir.path()).unwrap();
    let ids: Vec<&str> = set.rules().iter().map(|r| r.meta.id.as_str()).collect();
    assert_eq!(ids, ["taken", "5f0c2a52-0000-4000-8000-000000000001"]);
    let skipped: Vec<(&str, SkipKind, &str)> = set
        .skipped()
        .iter()
        .map(|s| (s.rule.as_str(), s.kind, s.reason.as_str()))
        .collect();
    let first = dir.path().join("a.toml");
    let b = dir.path().join("b.yml");
    assert_eq!(
        skipped,
        [
            (
                "taken",
                SkipKind::DuplicateId,
                format!("duplicate id, first defined in {}", first.display()).as_str()
            ),
            (
                "rg-persist-cron",
                SkipKind::DuplicateId,
                "is the id of a built-in detection"
            ),
            (
                "5f0c2a52-0000-4000-8000-000000000001",
                SkipKind::DuplicateId,
                format!("duplicate id, first defined in {}", b.display()).as_str()
            ),
        ]
    );
    std::fs::write(dir.path().join("d.yaml"), "detection: {sel: [a}\n").unwrap();
    let e = RuleSet::load_dir(dir.path()).unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    assert_eq!(e.0[0].file, dir.path().join("d.yaml"));
    assert_eq!(e.0[0].line, Some(1), "{e}");
}
