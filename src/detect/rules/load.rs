//! The rule file format: a rules directory's `*.toml` files read into
//! rules, every problem named by file, rule and key; ids checked across
//! files.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::compile::compile_rule;
use super::{RateLimit, Rule, RuleError, RuleErrors, RuleSet, SkipKind, Skipped};
use crate::model::alert::Severity;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default)]
    pub(super) rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub(super) id: String,
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: String,
    pub(super) severity: Severity,
    #[serde(default = "yes")]
    pub(super) enabled: bool,
    #[serde(default)]
    pub(super) techniques: Vec<RawTechnique>,
    #[serde(default)]
    pub(super) tactics: Vec<String>,
    pub(super) events: Vec<String>,
    pub(super) all: Option<Vec<RawCond>>,
    pub(super) any: Option<Vec<RawCond>>,
    pub(super) not: Option<Box<RawCond>>,
    pub(super) rate_limit: Option<RateLimit>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawTechnique {
    Id(String),
    Full { id: String, name: String },
}

/// One condition: a field test, or a group.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCond {
    pub(super) field: Option<String>,
    pub(super) equals: Option<toml::Value>,
    #[serde(rename = "in")]
    pub(super) in_: Option<Vec<toml::Value>>,
    pub(super) prefix: Option<String>,
    pub(super) suffix: Option<String>,
    pub(super) contains: Option<String>,
    pub(super) glob: Option<String>,
    pub(super) regex: Option<String>,
    pub(super) gt: Option<toml::Value>,
    pub(super) gte: Option<toml::Value>,
    pub(super) lt: Option<toml::Value>,
    pub(super) lte: Option<toml::Value>,
    pub(super) range: Option<[toml::Value; 2]>,
    pub(super) bits_any: Option<toml::Value>,
    pub(super) bits_all: Option<toml::Value>,
    pub(super) cidr: Option<Vec<String>>,
    pub(super) exists: Option<bool>,
    pub(super) all: Option<Vec<RawCond>>,
    pub(super) any: Option<Vec<RawCond>>,
    pub(super) not: Option<Box<RawCond>>,
}

impl RuleSet {
    /// Load every rules file in `dir` (sorted by name): `*.toml`, and
    /// `*.yml` / `*.yaml` as Sigma rules. A missing directory is an empty
    /// rule set; any bad file is an error, with every problem found
    /// listed. Sigma rules that cannot load are skipped, not errors
    /// ([`RuleSet::skipped`]).
    pub fn load_dir(dir: &Path) -> Result<RuleSet, RuleErrors> {
        let mut errors = Vec::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RuleSet::empty()),
            Err(e) => {
                return Err(RuleErrors(vec![RuleError {
                    file: dir.to_path_buf(),
                    rule: None,
                    key: None,
                    line: None,
                    reason: format!("cannot read the rules directory: {e}"),
                }]));
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| super::is_rule_file(p) && p.is_file())
            .collect();
        files.sort();
        // Each file's rules, in file order; Sigma rules are checked for
        // taken ids once every TOML id is known.
        let mut parsed: Vec<(PathBuf, Vec<Rule>, bool)> = Vec::new();
        let mut skipped = Vec::new();
        // (id, file) of every TOML rule, disabled ones too: an id is taken
        // whether or not its rule runs, so that enabling a rule later
        // cannot be what reveals a clash.
        let mut ids: Vec<(String, PathBuf)> = Vec::new();
        for file in files {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(RuleError {
                        file: file.clone(),
                        rule: None,
                        key: None,
                        line: None,
                        reason: format!("cannot read: {e}"),
                    });
                    continue;
                }
            };
            if file.extension().is_some_and(|x| x == "toml") {
                match parse_rules(&file, &text) {
                    Ok((rules, file_ids)) => {
                        ids.extend(file_ids.into_iter().map(|id| (id, file.clone())));
                        parsed.push((file, rules, false));
                    }
                    Err(e) => errors.extend(e),
                }
            } else {
                match super::sigma::parse_file(&file, &text) {
                    Ok(f) => {
                        skipped.extend(f.skipped);
                        parsed.push((file, f.rules, true));
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
        // Ids are unique across files.
        for (i, (id, file)) in ids.iter().enumerate() {
            if let Some((_, first)) = ids[..i].iter().find(|(o, _)| o == id) {
                errors.push(RuleError {
                    file: file.clone(),
                    rule: Some(id.clone()),
                    key: Some("id".into()),
                    line: None,
                    reason: format!("duplicate id, first defined in {}", first.display()),
                });
            }
        }
        if let Some((id, file)) = ids
            .iter()
            .find(|(id, _)| crate::detect::ids::BUILTIN_IDS.contains(&id.as_str()))
        {
            errors.push(RuleError {
                file: file.clone(),
                rule: Some(id.clone()),
                key: Some("id".into()),
                line: None,
                reason: "is the id of a built-in detection".into(),
            });
        }
        if !errors.is_empty() {
            return Err(RuleErrors(errors));
        }
        let mut all = Vec::new();
        for (file, rules, sigma) in parsed {
            for rule in rules {
                // A Sigma rule whose id is taken is skipped, not an error:
                // one rule never stops the others of a Sigma directory.
                let taken = sigma
                    .then(|| {
                        let id = rule.meta.id.as_str();
                        if crate::detect::ids::BUILTIN_IDS.contains(&id) {
                            return Some("is the id of a built-in detection".to_string());
                        }
                        ids.iter().find(|(o, _)| o == id).map(|(_, first)| {
                            format!("duplicate id, first defined in {}", first.display())
                        })
                    })
                    .flatten();
                if let Some(reason) = taken {
                    skipped.push(Skipped {
                        file: file.clone(),
                        rule: rule.meta.id.clone(),
                        kind: SkipKind::DuplicateId,
                        construct: "id".into(),
                        reason,
                    });
                    continue;
                }
                if sigma {
                    ids.push((rule.meta.id.clone(), file.clone()));
                }
                all.push(rule);
            }
        }
        let mut set = RuleSet::from_rules(all);
        set.skipped = skipped;
        Ok(set)
    }
}

/// Parse one rules file; disabled rules are validated and left out.
pub fn parse_file(file: &Path, text: &str) -> Result<Vec<Rule>, Vec<RuleError>> {
    parse_rules(file, text).map(|(rules, _)| rules)
}

/// [`parse_file`], and the id of every rule of the file, disabled ones
/// included, in file order.
fn parse_rules(file: &Path, text: &str) -> Result<(Vec<Rule>, Vec<String>), Vec<RuleError>> {
    let err = |rule: Option<String>, key: Option<String>, line: Option<usize>, reason: String| {
        RuleError {
            file: file.to_path_buf(),
            rule,
            key,
            line,
            reason,
        }
    };
    let de = toml::Deserializer::parse(text).map_err(|e| {
        vec![err(
            None,
            None,
            e.span().map(|s| crate::config::line_of(text, s.start)),
            e.message().to_string(),
        )]
    })?;
    let raw: RawFile = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // "rules[3].all[0].regx": name the rule by its id when it has one.
        let (rule, key) = split_rule_path(text, &path);
        vec![err(
            rule,
            key,
            inner.span().map(|s| crate::config::line_of(text, s.start)),
            inner.message().into(),
        )]
    })?;
    let mut errors = Vec::new();
    let mut rules = Vec::new();
    let ids = raw.rules.iter().map(|r| r.id.clone()).collect();
    for (i, r) in raw.rules.into_iter().enumerate() {
        let id = r.id.clone();
        match compile_rule(file, r) {
            Ok(Some(rule)) => rules.push(rule),
            Ok(None) => {}
            Err((key, reason)) => {
                let id = if id.is_empty() {
                    format!("rules[{i}]")
                } else {
                    id
                };
                errors.push(err(Some(id), Some(key), None, reason));
            }
        }
    }
    if errors.is_empty() {
        Ok((rules, ids))
    } else {
        Err(errors)
    }
}

/// ("id of rules[i]", "rest.of.path") for a serde path into a rules file.
fn split_rule_path(text: &str, path: &str) -> (Option<String>, Option<String>) {
    let Some(rest) = path.strip_prefix("rules[") else {
        return (None, Some(path.to_string()).filter(|p| p != "."));
    };
    let Some((idx, key)) = rest.split_once(']') else {
        return (None, Some(path.to_string()));
    };
    let id = idx.parse::<usize>().ok().and_then(|i| {
        let table: toml::Table = toml::from_str(text).ok()?;
        let rule = table.get("rules")?.as_array()?.get(i)?;
        rule.get("id")?.as_str().map(str::to_string)
    });
    let key = key.trim_start_matches('.').to_string();
    (
        Some(id.unwrap_or_else(|| format!("rules[{idx}]"))),
        Some(key).filter(|k| !k.is_empty()),
    )
}
