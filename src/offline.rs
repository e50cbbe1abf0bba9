//! Offline rule work for rule authors: `rand-guard rules check` validates
//! a rules directory, `rand-guard rules test` replays recorded event
//! records through the detector — the same [`detect::step`] the live
//! agent runs — and prints the alert records they raise.

use std::fmt::Write as _;
use std::path::Path;

use crate::rules::{RuleErrors, RuleSet};

/// `rules check`: load `dir` as the agent would and describe what it
/// holds, one line per rule. A missing directory is an error only when
/// the user named it (`explicit`): the agent runs fine without one.
pub fn check(dir: &Path, explicit: bool) -> Result<String, RuleErrors> {
    if explicit && !dir.is_dir() {
        return Err(RuleErrors(vec![crate::rules::RuleError {
            file: dir.to_path_buf(),
            rule: None,
            key: None,
            line: None,
            reason: "no such directory".into(),
        }]));
    }
    let set = RuleSet::load_dir(dir)?;
    let mut out = String::new();
    let files = {
        let mut f: Vec<&str> = set.rules().iter().map(|r| r.meta.source.as_str()).collect();
        f.dedup();
        f.len()
    };
    let _ = writeln!(
        out,
        "# rules OK: {} rules from {} ({files} files{})",
        set.len(),
        dir.display(),
        if dir.is_dir() {
            ""
        } else {
            "; the directory does not exist"
        }
    );
    for r in set.rules() {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}",
            r.meta.id,
            r.meta.severity.as_str(),
            r.action_names().collect::<Vec<_>>().join(","),
            r.meta.source
        );
    }
    Ok(out)
}
