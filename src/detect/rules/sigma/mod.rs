//! Sigma rules: the `*.yml` / `*.yaml` files of a rules directory, each
//! one or more YAML documents, compiled into the same [`Rule`]s as the
//! TOML files (same index, rate limiting, exclusions, reload).
//!
//! A document that uses something rand-guard cannot honour (a log source
//! it does not record, a field whose data is not in the records, a
//! modifier it does not have, a correlation or an aggregation) is
//! skipped with the construct and the reason ([`Skipped`]); the other
//! rules of the file still load. A file that is not YAML is an error
//! naming the file, as a broken TOML file is.
//!
//! YAML is read with `yaml-rust2`: maintained (serde_yaml is archived),
//! pure Rust, YAML 1.2 (so `yes`/`no` stay strings, as Sigma means them),
//! keeps mapping order, rejects duplicate keys, and reads multi-document
//! files, which the Sigma specification allows.

mod condition;
mod fields;
mod values;

use std::path::Path;
use std::sync::Arc;

use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlLoader};

use super::compile::{cost, is_technique};
use super::matcher::{Cond, Test};
use super::{Rule, RuleError, SkipKind, Skipped};
use crate::model::alert::{RuleMeta, Severity, TACTICS, Technique};
use condition::Expr;

/// Why one rule cannot load: the kind (for the summary), the construct
/// (a key, a modifier, the condition) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Skip {
    pub(super) kind: SkipKind,
    pub(super) construct: String,
    pub(super) reason: String,
}

/// The rules of one Sigma file, and those skipped.
#[derive(Debug, Default)]
pub struct SigmaFile {
    pub rules: Vec<Rule>,
    pub skipped: Vec<Skipped>,
}

/// Read one Sigma file. Only a file that is not YAML is an error.
pub fn parse_file(file: &Path, text: &str) -> Result<SigmaFile, RuleError> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| RuleError {
        file: file.to_path_buf(),
        rule: None,
        key: None,
        line: Some(e.marker().line()),
        reason: format!("not valid YAML: {}", e.info()),
    })?;
    let mut out = SigmaFile::default();
    for (i, doc) in docs.iter().enumerate() {
        // `---` at the end of a file is an empty document.
        if matches!(doc, Yaml::Null) {
            continue;
        }
        let name = doc_name(doc, i);
        match compile_doc(file, doc) {
            Ok(rule) => out.rules.push(rule),
            Err(s) => out.skipped.push(Skipped {
                file: file.to_path_buf(),
                rule: name,
                kind: s.kind,
                construct: s.construct,
                reason: s.reason,
            }),
        }
    }
    Ok(out)
}

/// How a skipped document is named: its id, else its title, else its
/// place in the file.
fn doc_name(doc: &Yaml, i: usize) -> String {
    let s = |k: &str| doc[k].as_str().filter(|s| !s.trim().is_empty());
    s("id")
        .or_else(|| s("title"))
        .map_or_else(|| format!("document {}", i + 1), str::to_string)
}

fn skip(kind: SkipKind, construct: &str, reason: impl Into<String>) -> Skip {
    Skip {
        kind,
        construct: construct.to_string(),
        reason: reason.into(),
    }
}

fn string_list(v: &Yaml, key: &str) -> Result<Vec<String>, Skip> {
    match v {
        Yaml::BadValue | Yaml::Null => Ok(Vec::new()),
        Yaml::String(s) => Ok(vec![s.clone()]),
        Yaml::Array(items) => items
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| skip(SkipKind::Invalid, key, "a list of strings"))
            })
            .collect(),
        _ => Err(skip(
            SkipKind::Invalid,
            key,
            "a string or a list of strings",
        )),
    }
}

fn compile_doc(file: &Path, doc: &Yaml) -> Result<Rule, Skip> {
    let Yaml::Hash(_) = doc else {
        return Err(skip(
            SkipKind::Invalid,
            "document",
            "a Sigma rule is a YAML mapping",
        ));
    };
    for (key, kind, what) in [
        (
            "correlation",
            SkipKind::Correlation,
            "correlation rules relate several rules' matches over time",
        ),
        (
            "action",
            SkipKind::Collection,
            "rule collections (`action: global/reset/repeat`) are not supported",
        ),
        (
            "filter",
            SkipKind::Correlation,
            "Sigma filters (meta rules) are not supported: use [[exclusions]]",
        ),
        (
            "timeframe",
            SkipKind::Aggregation,
            "a timeframe aggregates events over time",
        ),
    ] {
        if doc[key] != Yaml::BadValue {
            return Err(skip(kind, key, what));
        }
    }
    let id = doc["id"].as_str().ok_or_else(|| {
        skip(
            SkipKind::Invalid,
            "id",
            "a rule needs an `id`: alerts and rate limits are keyed by it",
        )
    })?;
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(skip(
            SkipKind::Invalid,
            "id",
            format!("{id:?}: use letters, digits, '-', '_' and '.' (a UUID)"),
        ));
    }
    let title = doc["title"]
        .as_str()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| skip(SkipKind::Invalid, "title", "a rule needs a `title`"))?;
    let severity = match doc["level"].as_str() {
        None if doc["level"] == Yaml::BadValue => Severity::Medium,
        Some("low") => Severity::Low,
        Some("medium") => Severity::Medium,
        Some("high") => Severity::High,
        Some("critical") => Severity::Critical,
        Some("informational") => {
            return Err(skip(
                SkipKind::Level,
                "level",
                "informational rules are for tagging events, and raise no alerts by the specification; rand-guard does not tag events",
            ));
        }
        _ => {
            return Err(skip(
                SkipKind::Invalid,
                "level",
                "one of informational, low, medium, high, critical",
            ));
        }
    };
    let (tactics, techniques) = tags(&string_list(&doc["tags"], "tags")?);
    let category = logsource(&doc["logsource"])?;
    let cond = detection(&doc["detection"], category.actions)?;
    let cond = match category.event_type {
        None => cond,
        Some((t, want)) => {
            let field = super::fields::lookup("event.type").expect("event.type is a rule field");
            let test = Cond::Field(field, Test::StrEq(t.into()));
            let test = if want {
                test
            } else {
                Cond::Not(Box::new(test))
            };
            Cond::All(vec![cond, test])
        }
    };
    let description = doc["description"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_string();
    let authors = doc["author"]
        .as_str()
        .map(|a| {
            a.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Ok(Rule {
        meta: Arc::new(RuleMeta {
            id: id.to_string(),
            name: title.trim().to_string(),
            description,
            severity,
            tactics,
            techniques,
            source: file.display().to_string(),
            references: string_list(&doc["references"], "references")?,
            authors,
        }),
        rate_limit: None,
        actions: category
            .actions
            .iter()
            .map(|a| super::fields::action_index(a).expect("categories name known actions"))
            .collect(),
        cond,
    })
}

/// ATT&CK tags: `attack.t1059.004` a technique, `attack.execution` a
/// tactic; other tags (groups, software, CVEs) are not kept.
fn tags(tags: &[String]) -> (Vec<String>, Vec<Technique>) {
    let (mut tactics, mut techniques) = (Vec::new(), Vec::new());
    for t in tags {
        let Some(rest) = t.strip_prefix("attack.") else {
            continue;
        };
        let upper = rest.to_ascii_uppercase();
        if is_technique(&upper) {
            if !techniques.iter().any(|x: &Technique| x.id == upper) {
                techniques.push(Technique {
                    id: upper,
                    name: None,
                });
            }
        } else if let Some((name, _)) = TACTICS
            .iter()
            .find(|(name, _)| name.to_ascii_lowercase().replace(' ', "_") == rest.replace('-', "_"))
        {
            // `attack.command_and_control` is ATT&CK's `Command and Control`.
            let name = name.to_string();
            if !tactics.contains(&name) {
                tactics.push(name);
            }
        }
    }
    (tactics, techniques)
}

fn logsource(ls: &Yaml) -> Result<fields::Category, Skip> {
    let Yaml::Hash(_) = ls else {
        return Err(skip(
            SkipKind::Invalid,
            "logsource",
            "a rule needs a `logsource` mapping",
        ));
    };
    let get = |k: &str| ls[k].as_str();
    match get("product") {
        Some("linux") => {}
        Some(p) => {
            return Err(skip(
                SkipKind::LogSource,
                "logsource.product",
                format!("product {p:?}: rand-guard records Linux hosts only (product: linux)"),
            ));
        }
        None => {
            return Err(skip(
                SkipKind::LogSource,
                "logsource.product",
                "no `product: linux`: rules for other or any systems are not loaded",
            ));
        }
    }
    if let Some(s) = get("service") {
        return Err(skip(
            SkipKind::LogSource,
            "logsource.service",
            format!("service {s:?}: rand-guard reads no log files, it records events itself"),
        ));
    }
    let Some(c) = get("category") else {
        return Err(skip(
            SkipKind::LogSource,
            "logsource.category",
            "a category is needed (process_creation, file_event, network_connection, dns_query, ...)",
        ));
    };
    fields::category(c).map_err(|why| skip(SkipKind::LogSource, "logsource.category", why))
}

fn detection(det: &Yaml, actions: &[&str]) -> Result<Cond, Skip> {
    let Yaml::Hash(map) = det else {
        return Err(skip(
            SkipKind::Invalid,
            "detection",
            "a rule needs a `detection` mapping",
        ));
    };
    let mut idents: Vec<(&str, &Yaml)> = Vec::new();
    for (k, v) in map {
        let Some(k) = k.as_str() else {
            return Err(skip(
                SkipKind::Invalid,
                "detection",
                format!("{k:?} is not a name"),
            ));
        };
        match k {
            "condition" => {}
            "timeframe" => {
                return Err(skip(
                    SkipKind::Aggregation,
                    "detection.timeframe",
                    "a timeframe aggregates events over time",
                ));
            }
            _ => idents.push((k, v)),
        }
    }
    let conditions = match &det["condition"] {
        Yaml::String(s) => vec![s.as_str()],
        Yaml::Array(items) => items
            .iter()
            .map(|c| {
                c.as_str().ok_or_else(|| {
                    skip(
                        SkipKind::Invalid,
                        "detection.condition",
                        "conditions are strings",
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(skip(
                SkipKind::Invalid,
                "detection.condition",
                "a rule needs a `condition`",
            ));
        }
    };
    // A list of conditions: any of them.
    let mut conds = Vec::new();
    for c in conditions {
        let expr = condition::parse(c)?;
        conds.push(expr_cond(&expr, &idents, actions)?);
    }
    Ok(if conds.len() == 1 {
        conds.pop().unwrap()
    } else {
        Cond::Any(conds)
    })
}

fn expr_cond(e: &Expr, idents: &[(&str, &Yaml)], actions: &[&str]) -> Result<Cond, Skip> {
    let ordered = |mut cs: Vec<Cond>| {
        cs.sort_by_key(cost);
        cs
    };
    Ok(match e {
        Expr::Ident(name) => {
            let (_, v) = idents.iter().find(|(n, _)| n == name).ok_or_else(|| {
                skip(
                    SkipKind::Condition,
                    "detection.condition",
                    format!("`{name}` is not a search identifier of the rule"),
                )
            })?;
            ident_cond(name, v, actions)?
        }
        Expr::Of { all, pattern } => {
            let named: Vec<&(&str, &Yaml)> = idents
                .iter()
                .filter(|(n, _)| match pattern {
                    None => !n.starts_with('_'),
                    Some(p) => condition::pattern_matches(p, n),
                })
                .collect();
            if named.is_empty() {
                return Err(skip(
                    SkipKind::Condition,
                    "detection.condition",
                    format!(
                        "`{}` names no search identifier",
                        pattern.as_deref().unwrap_or("them")
                    ),
                ));
            }
            let cs = named
                .iter()
                .map(|(n, v)| ident_cond(n, v, actions))
                .collect::<Result<Vec<_>, _>>()?;
            if *all {
                Cond::All(ordered(cs))
            } else {
                Cond::Any(ordered(cs))
            }
        }
        Expr::Not(x) => Cond::Not(Box::new(expr_cond(x, idents, actions)?)),
        Expr::And(xs) => Cond::All(ordered(
            xs.iter()
                .map(|x| expr_cond(x, idents, actions))
                .collect::<Result<_, _>>()?,
        )),
        Expr::Or(xs) => Cond::Any(ordered(
            xs.iter()
                .map(|x| expr_cond(x, idents, actions))
                .collect::<Result<_, _>>()?,
        )),
    })
}

/// A search identifier: a map (every entry), or a list of maps (any).
fn ident_cond(name: &str, v: &Yaml, actions: &[&str]) -> Result<Cond, Skip> {
    match v {
        Yaml::Hash(map) => map_cond(name, map, actions),
        Yaml::Array(items)
            if !items.is_empty() && items.iter().all(|i| matches!(i, Yaml::Hash(_))) =>
        {
            let cs = items
                .iter()
                .map(|i| match i {
                    Yaml::Hash(m) => map_cond(name, m, actions),
                    _ => unreachable!("checked above"),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if cs.len() == 1 {
                cs.into_iter().next().unwrap()
            } else {
                Cond::Any(cs)
            })
        }
        Yaml::Array(items) if items.iter().any(|i| matches!(i, Yaml::Hash(_))) => Err(skip(
            SkipKind::Invalid,
            &format!("detection.{name}"),
            "a list mixes maps and plain values",
        )),
        Yaml::Array(_) | Yaml::String(_) | Yaml::Integer(_) => Err(skip(
            SkipKind::Keyword,
            &format!("detection.{name}"),
            "keyword search (values without a field) is not supported: records are matched field by field",
        )),
        _ => Err(skip(
            SkipKind::Invalid,
            &format!("detection.{name}"),
            "a search identifier is a map or a list of maps",
        )),
    }
}

fn map_cond(name: &str, map: &Hash, actions: &[&str]) -> Result<Cond, Skip> {
    if map.is_empty() {
        return Err(skip(
            SkipKind::Invalid,
            &format!("detection.{name}"),
            "an empty map",
        ));
    }
    let mut cs = Vec::with_capacity(map.len());
    for (k, v) in map {
        let Some(k) = k.as_str() else {
            return Err(skip(
                SkipKind::Invalid,
                &format!("detection.{name}"),
                format!("{k:?} is not a field name"),
            ));
        };
        cs.push(values::field_cond(k, v, actions).map_err(|mut s| {
            s.construct = format!("detection.{name}.{}", s.construct);
            s
        })?);
    }
    cs.sort_by_key(cost);
    Ok(if cs.len() == 1 {
        cs.pop().unwrap()
    } else {
        Cond::All(cs)
    })
}

#[cfg(test)]
mod refusal_tests;
#[cfg(test)]
mod sample_tests;
#[cfg(test)]
mod tests;
