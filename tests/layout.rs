//! The shape of `src/` that docs/architecture.md describes, checked: each
//! top-level folder imports only from the folders below it in the data
//! flow, and no source file grows past what one person holds in mind.

use std::fs;
use std::path::{Path, PathBuf};

/// Low to high: a module may name `crate::<m>` only for an `m` that comes
/// earlier in this list (or itself).
const ORDER: &[&str] = &[
    "config", "kernel", "model", "record", "pipeline", "detect", "agent", "offline",
];

/// Lines a source file may have (test files aside: `tests.rs`,
/// `*_tests.rs`, which hold tables of cases).
const MAX_LINES: usize = 820;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(String, PathBuf)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
            (rel, p)
        })
        .collect()
}

fn is_test_file(rel: &str) -> bool {
    rel.ends_with("/tests.rs") || rel.ends_with("_tests.rs") || rel == "testkit.rs"
}

/// The `crate::<name>` paths a file uses, comments left out.
fn crate_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
            rest = after;
        }
    }
    out
}

#[test]
fn folders_import_only_what_comes_before_them() {
    let mut wrong = Vec::new();
    for (rel, path) in sources() {
        let top = rel.split('/').next().unwrap().trim_end_matches(".rs");
        let Some(rank) = ORDER.iter().position(|m| *m == top) else {
            continue; // lib.rs, main.rs, testkit.rs
        };
        let text = fs::read_to_string(&path).unwrap();
        for name in crate_paths(&text) {
            if let Some(r) = ORDER.iter().position(|m| *m == name)
                && r > rank
            {
                wrong.push(format!("src/{rel} uses crate::{name}"));
            }
        }
    }
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "imports against the data flow (docs/architecture.md):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn config_imports_nothing_of_the_crate() {
    for (rel, path) in sources() {
        if !rel.starts_with("config/") {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        let used: Vec<String> = crate_paths(&text)
            .into_iter()
            .filter(|n| n != "config")
            .collect();
        assert!(used.is_empty(), "src/{rel} uses crate::{used:?}");
    }
}

#[test]
fn no_source_file_is_too_long() {
    let long: Vec<String> = sources()
        .into_iter()
        .filter(|(rel, _)| !is_test_file(rel))
        .filter_map(|(rel, path)| {
            let n = fs::read_to_string(path).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("src/{rel}: {n} lines"))
        })
        .collect();
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checker_sees_imports_and_skips_comments() {
    let text = "use crate::model::event::Event;\n// crate::agent in a comment\nlet x = crate::kernel::abi::PATH_MAX; // crate::detect\n";
    assert_eq!(crate_paths(text), ["model", "kernel"]);
}

#[test]
fn lib_lists_the_modules_in_the_order_data_flows() {
    let lib = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let listed: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    assert_eq!(listed, ORDER, "src/lib.rs's `pub mod` lines");
}
