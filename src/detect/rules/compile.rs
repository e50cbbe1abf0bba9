//! Validation and compiling: a rule as written becomes a [`Rule`] whose
//! tests are ready to run (values typed, regexes and globs built, cheap
//! tests first).

use std::cmp::Ordering;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use regex::Regex;

use super::Rule;
use super::fields::{self, Field, Getter, Kind, Names};
use super::load::{RawCond, RawRule, RawTechnique};
use super::matcher::{Cond, Test};
use crate::config::Cidr;
use crate::model::alert::{RuleMeta, Technique};

pub(super) type Compile<T> = Result<T, (String, String)>;

pub(super) fn compile_rule(file: &Path, r: RawRule) -> Compile<Option<Rule>> {
    let bad = |key: &str, reason: String| (key.to_string(), reason);
    if r.id.is_empty()
        || !r
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(bad(
            "id",
            format!("{:?}: use letters, digits, '-', '_' and '.'", r.id),
        ));
    }
    if r.name.trim().is_empty() {
        return Err(bad("name", "must not be empty".into()));
    }
    let mut techniques = Vec::new();
    for (i, t) in r.techniques.iter().enumerate() {
        let (id, name) = match t {
            RawTechnique::Id(id) => (id.clone(), None),
            RawTechnique::Full { id, name } => (id.clone(), Some(name.clone())),
        };
        if !is_technique(&id) {
            return Err(bad(
                &format!("techniques[{i}]"),
                format!("{id:?} is not an ATT&CK technique id like T1059 or T1059.004"),
            ));
        }
        techniques.push(Technique { id, name });
    }
    if r.events.is_empty() {
        return Err(bad(
            "events",
            "must name the event actions the rule applies to".into(),
        ));
    }
    let mut actions: Vec<usize> = Vec::new();
    for (i, e) in r.events.iter().enumerate() {
        let group: &[&str] = match e.as_str() {
            "process" => fields::PROCESS,
            "file" => fields::FILE,
            "network" => fields::NETWORK,
            a if fields::action_index(a).is_some() => {
                std::slice::from_ref(&fields::ACTIONS[fields::action_index(a).unwrap()])
            }
            _ => {
                return Err(bad(
                    &format!("events[{i}]"),
                    format!(
                        "unknown event {e:?}; known: process, file, network, {}",
                        fields::ACTIONS.join(", ")
                    ),
                ));
            }
        };
        for a in group {
            let idx = fields::action_index(a).unwrap();
            if !actions.contains(&idx) {
                actions.push(idx);
            }
        }
    }
    let names: Vec<&str> = actions.iter().map(|i| fields::ACTIONS[*i]).collect();
    let mut groups = Vec::new();
    if let Some(all) = r.all {
        groups.push(Cond::All(compile_list(all, "all", &names)?));
    }
    if let Some(any) = r.any {
        groups.push(Cond::Any(compile_list(any, "any", &names)?));
    }
    if let Some(not) = r.not {
        groups.push(Cond::Not(Box::new(compile_cond(*not, "not", &names)?)));
    }
    if groups.is_empty() {
        return Err(bad(
            "all",
            "a rule needs conditions: `all`, `any` or `not`".into(),
        ));
    }
    if let Some(rl) = r.rate_limit
        && (rl.burst == 0 || !(rl.per_minute >= 0.0 && rl.per_minute.is_finite()))
    {
        return Err(bad(
            "rate_limit",
            "burst must be at least 1 and per_minute a number >= 0".into(),
        ));
    }
    if !r.enabled {
        return Ok(None);
    }
    Ok(Some(Rule {
        meta: Arc::new(RuleMeta {
            id: r.id,
            name: r.name,
            description: r.description,
            severity: r.severity,
            tactics: r.tactics,
            techniques,
            source: file.display().to_string(),
            references: Vec::new(),
            authors: Vec::new(),
        }),
        rate_limit: r.rate_limit,
        actions,
        cond: Cond::All(groups),
    }))
}

pub(super) fn is_technique(id: &str) -> bool {
    let b = id.as_bytes();
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    match b {
        [b'T', rest @ ..] if rest.len() == 4 => digits(rest),
        [b'T', rest @ ..] if rest.len() == 8 => {
            digits(&rest[..4]) && rest[4] == b'.' && digits(&rest[5..])
        }
        _ => false,
    }
}

fn compile_list(list: Vec<RawCond>, key: &str, actions: &[&str]) -> Compile<Vec<Cond>> {
    if list.is_empty() {
        return Err((
            key.to_string(),
            "an empty group matches nothing useful".into(),
        ));
    }
    let mut conds = list
        .into_iter()
        .enumerate()
        .map(|(i, c)| compile_cond(c, &format!("{key}[{i}]"), actions))
        .collect::<Compile<Vec<Cond>>>()?;
    // `all` and `any` do not care about order: cheap tests first, so the
    // expensive ones run only when the cheap ones did not decide.
    conds.sort_by_key(cost);
    Ok(conds)
}

/// Rough cost of evaluating `c`: exact tests on a plain field, then
/// substring tests, then globs and regexes, then anything over ancestors
/// or the built command line.
pub(super) fn cost(c: &Cond) -> u8 {
    match c {
        Cond::All(cs) | Cond::Any(cs) => cs.iter().map(cost).max().unwrap_or(0),
        Cond::Not(c) => cost(c),
        Cond::Field(f, t) => {
            let test = match t {
                Test::Prefix(_)
                | Test::Suffix(_)
                | Test::Contains(_)
                | Test::FoldPrefix(_)
                | Test::FoldSuffix(_)
                | Test::FoldContains(_)
                | Test::IpText(_) => 1,
                Test::Glob(_) | Test::Regex(_) | Test::Cidr(_) => 2,
                _ => 0,
            };
            let field = match (f.get, f.kind) {
                (Getter::Event(_), Kind::StrList) => 1,
                (Getter::Event(_), _) => 0,
                (Getter::Ancestor(_) | Getter::CommandLine | Getter::ParentCommandLine, _) => 3,
            };
            test + field
        }
    }
}

fn compile_cond(c: RawCond, key: &str, actions: &[&str]) -> Compile<Cond> {
    let bad = |sub: &str, reason: String| {
        let k = if sub.is_empty() {
            key.to_string()
        } else {
            format!("{key}.{sub}")
        };
        (k, reason)
    };
    let groups = [c.all.is_some(), c.any.is_some(), c.not.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if c.field.is_none() {
        if groups != 1 {
            return Err(bad(
                "",
                "a condition is either a field test (`field` and one operator) or exactly one of `all`, `any`, `not`".into(),
            ));
        }
        if let Some(all) = c.all {
            return Ok(Cond::All(compile_list(
                all,
                &format!("{key}.all"),
                actions,
            )?));
        }
        if let Some(any) = c.any {
            return Ok(Cond::Any(compile_list(
                any,
                &format!("{key}.any"),
                actions,
            )?));
        }
        let not = c.not.unwrap();
        return Ok(Cond::Not(Box::new(compile_cond(
            *not,
            &format!("{key}.not"),
            actions,
        )?)));
    }
    if groups != 0 {
        return Err(bad(
            "field",
            "a field test cannot also hold `all`, `any` or `not`".into(),
        ));
    }
    let name = c.field.clone().unwrap();
    let field = fields::lookup(&name).ok_or_else(|| {
        bad(
            "field",
            format!("unknown field {name:?} (the fields are listed in docs/rules.md)"),
        )
    })?;
    let missing = field.missing_for(actions);
    if !missing.is_empty() {
        return Err(bad(
            "field",
            format!(
                "{name} does not exist for event {} (it exists for: {})",
                missing.join(", "),
                field.actions.join(", ")
            ),
        ));
    }
    let ops = [
        ("equals", c.equals.is_some()),
        ("in", c.in_.is_some()),
        ("prefix", c.prefix.is_some()),
        ("suffix", c.suffix.is_some()),
        ("contains", c.contains.is_some()),
        ("glob", c.glob.is_some()),
        ("regex", c.regex.is_some()),
        ("gt", c.gt.is_some()),
        ("gte", c.gte.is_some()),
        ("lt", c.lt.is_some()),
        ("lte", c.lte.is_some()),
        ("range", c.range.is_some()),
        ("bits_any", c.bits_any.is_some()),
        ("bits_all", c.bits_all.is_some()),
        ("cidr", c.cidr.is_some()),
        ("exists", c.exists.is_some()),
    ];
    let given: Vec<&str> = ops.iter().filter(|(_, s)| *s).map(|(n, _)| *n).collect();
    let op = match given.as_slice() {
        [op] => *op,
        [] => return Err(bad("", format!("the test of {name} needs an operator"))),
        many => {
            return Err(bad(
                many[1],
                format!("one operator per test, got {}", many.join(" and ")),
            ));
        }
    };
    let kind = field.kind;
    let is_str = matches!(kind, Kind::Str | Kind::StrList);
    let wrong = |what: &str| {
        bad(
            op,
            format!("{op} does not apply to {name}, which is {what}"),
        )
    };
    let kind_name = match kind {
        Kind::Str => "a string",
        Kind::StrList => "a list of strings",
        Kind::Int => "a number",
        Kind::IntList => "a list of numbers",
        Kind::Ip => "an IP address",
        Kind::Named(_) => "a name, matched by equals or in (or a number operator)",
    };
    let int = |v: &toml::Value, sub: &str| {
        match kind {
            Kind::Named(names) => parse_name(field, names, v),
            _ => parse_int(field, v),
        }
        .map_err(|why| bad(sub, why))
    };
    let ip = |v: &toml::Value, sub: &str| -> Compile<IpAddr> {
        v.as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(sub, format!("{v} is not an IP address")))
    };
    let string = |v: &toml::Value, sub: &str| -> Compile<Box<str>> {
        v.as_str()
            .map(Into::into)
            .ok_or_else(|| bad(sub, format!("{name} is a string: {v} is not")))
    };
    let test = match op {
        "equals" => {
            let v = c.equals.as_ref().unwrap();
            match kind {
                Kind::Str | Kind::StrList => Test::StrEq(string(v, "equals")?),
                Kind::Int | Kind::IntList | Kind::Named(_) => Test::IntIn(vec![int(v, "equals")?]),
                Kind::Ip => Test::IpIn(vec![ip(v, "equals")?]),
            }
        }
        "in" => {
            let vs = c.in_.as_ref().unwrap();
            if vs.is_empty() {
                return Err(bad("in", "an empty list matches nothing".into()));
            }
            match kind {
                Kind::Str | Kind::StrList => Test::StrIn(
                    vs.iter()
                        .enumerate()
                        .map(|(i, v)| string(v, &format!("in[{i}]")))
                        .collect::<Compile<_>>()?,
                ),
                Kind::Int | Kind::IntList | Kind::Named(_) => Test::IntIn(
                    vs.iter()
                        .enumerate()
                        .map(|(i, v)| int(v, &format!("in[{i}]")))
                        .collect::<Compile<_>>()?,
                ),
                Kind::Ip => Test::IpIn(
                    vs.iter()
                        .enumerate()
                        .map(|(i, v)| ip(v, &format!("in[{i}]")))
                        .collect::<Compile<_>>()?,
                ),
            }
        }
        "prefix" | "suffix" | "contains" | "glob" | "regex" if !is_str => {
            return Err(wrong(kind_name));
        }
        "prefix" => Test::Prefix(c.prefix.unwrap().into()),
        "suffix" => Test::Suffix(c.suffix.unwrap().into()),
        "contains" => Test::Contains(c.contains.unwrap().into()),
        "glob" => {
            let g = c.glob.unwrap();
            Test::Glob(
                crate::detect::filter::glob_regex(&g)
                    .map_err(|e| bad("glob", format!("invalid glob {g:?}: {e}")))?,
            )
        }
        "regex" => {
            let r = c.regex.unwrap();
            Test::Regex(Regex::new(&r).map_err(|e| bad("regex", format!("invalid regex: {e}")))?)
        }
        "gt" | "gte" | "lt" | "lte" | "range" | "bits_any" | "bits_all"
            if !matches!(kind, Kind::Int | Kind::IntList | Kind::Named(_)) =>
        {
            return Err(wrong(kind_name));
        }
        "gt" => Test::Cmp(Ordering::Greater, false, int(c.gt.as_ref().unwrap(), "gt")?),
        "gte" => Test::Cmp(
            Ordering::Greater,
            true,
            int(c.gte.as_ref().unwrap(), "gte")?,
        ),
        "lt" => Test::Cmp(Ordering::Less, false, int(c.lt.as_ref().unwrap(), "lt")?),
        "lte" => Test::Cmp(Ordering::Less, true, int(c.lte.as_ref().unwrap(), "lte")?),
        "range" => {
            let [lo, hi] = c.range.as_ref().unwrap();
            let (lo, hi) = (int(lo, "range[0]")?, int(hi, "range[1]")?);
            if lo > hi {
                return Err(bad("range", format!("[{lo}, {hi}] is empty")));
            }
            Test::Range(lo, hi)
        }
        "bits_any" => Test::BitsAny(int(c.bits_any.as_ref().unwrap(), "bits_any")?),
        "bits_all" => Test::BitsAll(int(c.bits_all.as_ref().unwrap(), "bits_all")?),
        "cidr" => {
            if kind != Kind::Ip {
                return Err(wrong(kind_name));
            }
            Test::Cidr(
                c.cidr
                    .unwrap()
                    .iter()
                    .enumerate()
                    .map(|(i, s)| Cidr::parse(s).map_err(|why| bad(&format!("cidr[{i}]"), why)))
                    .collect::<Compile<_>>()?,
            )
        }
        "exists" => Test::Exists(c.exists.unwrap()),
        _ => unreachable!("every operator is handled"),
    };
    Ok(Cond::Field(field, test))
}

/// A value of a [`Kind::Named`] field: a name as records write it, or
/// the number it stands for.
fn parse_name(field: &Field, names: &Names, v: &toml::Value) -> Result<i64, String> {
    match v {
        toml::Value::Integer(i) => Ok(*i),
        toml::Value::String(s) => (names.number)(s).ok_or_else(|| {
            format!(
                "{s:?} is not {} as records write it ({})",
                names.what, names.examples
            )
        }),
        other => Err(format!("{} is a name: {other} is not", field.name)),
    }
}

/// O_* names for rand_guard.file.open_flags.
const OPEN_FLAGS: &[(&str, i64)] = &[
    ("O_WRONLY", 0o1),
    ("O_RDWR", 0o2),
    ("O_CREAT", 0o100),
    ("O_EXCL", 0o200),
    ("O_TRUNC", 0o1000),
    ("O_APPEND", 0o2000),
    ("O_TMPFILE", 0o20000000),
];

/// An integer: a TOML integer, a decimal string ("0" for user.id), an
/// octal mode string ("0644", "4000"), or O_* names for open flags.
fn parse_int(field: &Field, v: &toml::Value) -> Result<i64, String> {
    match v {
        toml::Value::Integer(i) => Ok(*i),
        toml::Value::String(s) if field.name == "file.mode" => i64::from_str_radix(s, 8)
            .map_err(|_| format!("{s:?} is not an octal mode like \"0644\"")),
        toml::Value::String(s) if field.name == "rand_guard.file.open_flags" => s
            .split('|')
            .map(|n| {
                OPEN_FLAGS
                    .iter()
                    .find(|(k, _)| *k == n.trim())
                    .map(|(_, b)| *b)
                    .ok_or_else(|| format!("unknown open flag {n:?}"))
            })
            .try_fold(0, |acc, b| b.map(|b| acc | b)),
        toml::Value::String(s) => s
            .parse()
            .map_err(|_| format!("{} is a number: {s:?} is not", field.name)),
        other => Err(format!("{} is a number: {other} is not", field.name)),
    }
}
