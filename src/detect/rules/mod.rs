//! User rules: TOML `[[rules]]` tables from the files of a rules
//! directory, validated and compiled once, evaluated per event without
//! allocating.
//!
//! Language (docs/rules.md has the full reference and examples):
//!
//! ```toml
//! [[rules]]
//! id = "shell-from-web-server"
//! name = "Shell started by a web server"
//! severity = "high"                  # low | medium | high | critical
//! techniques = ["T1505.003"]         # optional
//! events = ["exec"]                  # event.action values, or process/file/network
//! [[rules.all]]                      # all of these (also: any, not)
//! field = "process.name"
//! in = ["sh", "bash", "dash"]
//! [[rules.all]]
//! field = "process.ancestors.name"   # any ancestor
//! in = ["nginx", "apache2"]
//! ```
//!
//! Errors name the file, the rule id and the offending key.

pub mod fields;

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use regex::Regex;
use serde::Deserialize;

use crate::config::Cidr;
use crate::model::alert::{RuleMeta, Severity, Technique};
use crate::model::event::Event;
use fields::{Field, Getter, Kind, Scratch, Value};

/// A rules error: the file, the rule (when known), the key, the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub file: PathBuf,
    pub rule: Option<String>,
    pub key: Option<String>,
    pub line: Option<usize>,
    pub reason: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rules file {}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        if let Some(rule) = &self.rule {
            write!(f, ": rule `{rule}`")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for RuleError {}

/// All the errors of a rules directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleErrors(pub Vec<RuleError>);

impl fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RuleErrors {}

// ---- what the files say ------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    name: String,
    #[serde(default)]
    description: String,
    severity: Severity,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    techniques: Vec<RawTechnique>,
    #[serde(default)]
    tactics: Vec<String>,
    events: Vec<String>,
    all: Option<Vec<RawCond>>,
    any: Option<Vec<RawCond>>,
    not: Option<Box<RawCond>>,
    rate_limit: Option<RateLimit>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawTechnique {
    Id(String),
    Full { id: String, name: String },
}

/// One condition: a field test, or a group.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCond {
    field: Option<String>,
    equals: Option<toml::Value>,
    #[serde(rename = "in")]
    in_: Option<Vec<toml::Value>>,
    prefix: Option<String>,
    suffix: Option<String>,
    contains: Option<String>,
    glob: Option<String>,
    regex: Option<String>,
    gt: Option<toml::Value>,
    gte: Option<toml::Value>,
    lt: Option<toml::Value>,
    lte: Option<toml::Value>,
    range: Option<[toml::Value; 2]>,
    bits_any: Option<toml::Value>,
    bits_all: Option<toml::Value>,
    cidr: Option<Vec<String>>,
    exists: Option<bool>,
    all: Option<Vec<RawCond>>,
    any: Option<Vec<RawCond>>,
    not: Option<Box<RawCond>>,
}

/// Token bucket for one rule and one process: `burst` alerts at once,
/// then `per_minute`. A rule file's `rate_limit` overrides `[alerts]`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub burst: u32,
    pub per_minute: f64,
}

// ---- compiled ----------------------------------------------------------

#[derive(Debug)]
enum Test {
    StrEq(Box<str>),
    StrIn(Vec<Box<str>>),
    Prefix(Box<str>),
    Suffix(Box<str>),
    Contains(Box<str>),
    Glob(regex::bytes::Regex),
    Regex(Regex),
    IntIn(Vec<i64>),
    Cmp(Ordering, bool, i64),
    Range(i64, i64),
    BitsAny(i64),
    BitsAll(i64),
    IpIn(Vec<IpAddr>),
    Cidr(Vec<Cidr>),
    Exists(bool),
}

#[derive(Debug)]
enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Field(&'static Field, Test),
}

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub meta: Arc<RuleMeta>,
    pub rate_limit: Option<RateLimit>,
    actions: Vec<usize>,
    cond: Cond,
}

impl Rule {
    /// The event actions the rule applies to.
    pub fn action_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.actions.iter().map(|i| fields::ACTIONS[*i])
    }
}

/// The compiled rules of a directory, indexed by event action.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    by_action: Vec<ActionIndex>,
}

/// The rules of one action, split for matching. Most rules have a
/// necessary exact-value test (`process.name in [...]`,
/// `destination.port = 4444`): those are found by one hash lookup of the
/// event's value per field, so a hundred rules on `exec` cost a few
/// lookups plus the rules that can match, not a hundred evaluations. The
/// rest are evaluated one by one.
#[derive(Debug, Default, Clone)]
struct ActionIndex {
    keyed: Vec<KeyIndex>,
    rest: Vec<usize>,
}

type EventGetter = fn(&Event) -> Value<'_>;

/// Rules keyed by the value one field must have.
#[derive(Debug, Clone)]
struct KeyIndex {
    field: &'static Field,
    get: EventGetter,
    strs: HashMap<Box<str>, Vec<usize>>,
    ints: HashMap<i64, Vec<usize>>,
}

/// A necessary exact-value test of `c`: one that must hold for `c` to hold
/// (only `all` groups are looked into), on a plain field of the event.
fn key_of(c: &Cond) -> Option<(&'static Field, EventGetter, &Test)> {
    match c {
        Cond::All(cs) => cs.iter().find_map(key_of),
        Cond::Field(f, t) => match (f.get, f.kind, t) {
            (Getter::Event(get), Kind::Str, Test::StrEq(_) | Test::StrIn(_))
            | (Getter::Event(get), Kind::Int, Test::IntIn(_)) => Some((*f, get, t)),
            _ => None,
        },
        _ => None,
    }
}

impl RuleSet {
    pub fn empty() -> Self {
        RuleSet {
            rules: Vec::new(),
            by_action: vec![ActionIndex::default(); fields::ACTIONS.len()],
        }
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Load every `*.toml` in `dir` (sorted by name). A missing directory
    /// is an empty rule set; any bad file is an error, with every problem
    /// found listed.
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
            .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
            .collect();
        files.sort();
        let mut all = Vec::new();
        for file in files {
            match std::fs::read_to_string(&file) {
                Ok(text) => match parse_file(&file, &text) {
                    Ok(rules) => all.extend(rules),
                    Err(e) => errors.extend(e),
                },
                Err(e) => errors.push(RuleError {
                    file: file.clone(),
                    rule: None,
                    key: None,
                    line: None,
                    reason: format!("cannot read: {e}"),
                }),
            }
        }
        // Ids are unique across files.
        for (i, r) in all.iter().enumerate() {
            if let Some(first) = all[..i].iter().find(|o| o.meta.id == r.meta.id) {
                errors.push(RuleError {
                    file: PathBuf::from(&r.meta.source),
                    rule: Some(r.meta.id.clone()),
                    key: Some("id".into()),
                    line: None,
                    reason: format!("duplicate id, first defined in {}", first.meta.source),
                });
            }
        }
        if crate::detect::ids::BUILTIN_IDS
            .iter()
            .any(|b| all.iter().any(|r| r.meta.id == *b))
        {
            let r = all
                .iter()
                .find(|r| crate::detect::ids::BUILTIN_IDS.contains(&r.meta.id.as_str()))
                .unwrap();
            errors.push(RuleError {
                file: PathBuf::from(&r.meta.source),
                rule: Some(r.meta.id.clone()),
                key: Some("id".into()),
                line: None,
                reason: "is the id of a built-in detection".into(),
            });
        }
        if !errors.is_empty() {
            return Err(RuleErrors(errors));
        }
        Ok(RuleSet::from_rules(all))
    }

    pub fn from_rules(rules: Vec<Rule>) -> RuleSet {
        let mut set = RuleSet::empty();
        for (i, r) in rules.iter().enumerate() {
            let key = key_of(&r.cond);
            for a in &r.actions {
                let idx = &mut set.by_action[*a];
                let Some((field, get, test)) = key else {
                    idx.rest.push(i);
                    continue;
                };
                let k = match idx.keyed.iter().position(|k| std::ptr::eq(k.field, field)) {
                    Some(p) => &mut idx.keyed[p],
                    None => {
                        idx.keyed.push(KeyIndex {
                            field,
                            get,
                            strs: HashMap::new(),
                            ints: HashMap::new(),
                        });
                        idx.keyed.last_mut().unwrap()
                    }
                };
                match test {
                    Test::StrEq(x) => k.strs.entry(x.clone()).or_default().push(i),
                    Test::StrIn(xs) => {
                        for x in xs {
                            let list = k.strs.entry(x.clone()).or_default();
                            // `in = ["a", "a"]` lists the rule once.
                            if list.last() != Some(&i) {
                                list.push(i);
                            }
                        }
                    }
                    Test::IntIn(xs) => {
                        for x in xs {
                            let list = k.ints.entry(*x).or_default();
                            if list.last() != Some(&i) {
                                list.push(i);
                            }
                        }
                    }
                    _ => unreachable!("key_of returns exact-value tests only"),
                }
            }
        }
        set.rules = rules;
        set
    }

    /// Indexes of the rules `ev` matches, appended to `out` in rule order.
    pub fn matches(&self, ev: &Event, scratch: &mut Scratch, out: &mut Vec<usize>) {
        let Some(a) = fields::action_index(ev.body.action()) else {
            return;
        };
        scratch.reset();
        let idx = &self.by_action[a];
        let start = out.len();
        for k in &idx.keyed {
            let candidates = match (k.get)(ev) {
                Value::Str(s) => k.strs.get(s),
                Value::Int(i) => k.ints.get(&i),
                _ => None,
            };
            for &i in candidates.into_iter().flatten() {
                if eval(&self.rules[i].cond, ev, scratch) {
                    out.push(i);
                }
            }
        }
        for &i in &idx.rest {
            if eval(&self.rules[i].cond, ev, scratch) {
                out.push(i);
            }
        }
        out[start..].sort_unstable();
    }
}

// ---- parsing and compiling ---------------------------------------------

/// Parse one rules file; disabled rules are validated and left out.
pub fn parse_file(file: &Path, text: &str) -> Result<Vec<Rule>, Vec<RuleError>> {
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
            e.span().map(|s| line_of(text, s.start)),
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
            inner.span().map(|s| line_of(text, s.start)),
            inner.message().into(),
        )]
    })?;
    let mut errors = Vec::new();
    let mut rules = Vec::new();
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
        Ok(rules)
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

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

type Compile<T> = Result<T, (String, String)>;

fn compile_rule(file: &Path, r: RawRule) -> Compile<Option<Rule>> {
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
        }),
        rate_limit: r.rate_limit,
        actions,
        cond: Cond::All(groups),
    }))
}

fn is_technique(id: &str) -> bool {
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
fn cost(c: &Cond) -> u8 {
    match c {
        Cond::All(cs) | Cond::Any(cs) => cs.iter().map(cost).max().unwrap_or(0),
        Cond::Not(c) => cost(c),
        Cond::Field(f, t) => {
            let test = match t {
                Test::Prefix(_) | Test::Suffix(_) | Test::Contains(_) => 1,
                Test::Glob(_) | Test::Regex(_) | Test::Cidr(_) => 2,
                _ => 0,
            };
            let field = match (f.get, f.kind) {
                (Getter::Event(_), Kind::StrList) => 1,
                (Getter::Event(_), _) => 0,
                (Getter::Ancestor(_) | Getter::CommandLine, _) => 3,
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
    let missing: Vec<&str> = actions
        .iter()
        .filter(|a| !field.actions.contains(a))
        .copied()
        .collect();
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
        Kind::Ip => "an IP address",
    };
    let int = |v: &toml::Value, sub: &str| parse_int(field, v).map_err(|why| bad(sub, why));
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
                Kind::Int => Test::IntIn(vec![int(v, "equals")?]),
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
                Kind::Int => Test::IntIn(
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
        "gt" | "gte" | "lt" | "lte" | "range" | "bits_any" | "bits_all" if kind != Kind::Int => {
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

// ---- evaluation ----------------------------------------------------------

fn eval(c: &Cond, ev: &Event, scratch: &mut Scratch) -> bool {
    match c {
        Cond::All(cs) => cs.iter().all(|c| eval(c, ev, scratch)),
        Cond::Any(cs) => cs.iter().any(|c| eval(c, ev, scratch)),
        Cond::Not(c) => !eval(c, ev, scratch),
        Cond::Field(field, test) => match field.get {
            Getter::Ancestor(get) => ev
                .process
                .as_deref()
                .is_some_and(|p| p.ancestors().any(|a| test_value(test, get(a)))),
            Getter::CommandLine => {
                let v = scratch.command_line(ev).map_or(Value::Missing, Value::Str);
                test_value(test, v)
            }
            Getter::Event(get) => test_value(test, get(ev)),
        },
    }
}

fn test_str(test: &Test, s: &str) -> bool {
    match test {
        Test::StrEq(x) => s == &**x,
        Test::StrIn(xs) => xs.iter().any(|x| s == &**x),
        Test::Prefix(x) => s.starts_with(&**x),
        Test::Suffix(x) => s.ends_with(&**x),
        Test::Contains(x) => s.contains(&**x),
        Test::Glob(g) => g.is_match(s.as_bytes()),
        Test::Regex(r) => r.is_match(s),
        _ => false,
    }
}

fn test_value(test: &Test, v: Value<'_>) -> bool {
    if let Test::Exists(want) = test {
        return !matches!(v, Value::Missing) == *want;
    }
    match v {
        Value::Missing => false,
        Value::Str(s) => test_str(test, s),
        Value::StrList(list) => list.iter().any(|s| test_str(test, s)),
        Value::Int(i) => match test {
            Test::IntIn(xs) => xs.contains(&i),
            Test::Cmp(ord, or_equal, x) => {
                let c = i.cmp(x);
                c == *ord || (*or_equal && c == Ordering::Equal)
            }
            Test::Range(lo, hi) => (*lo..=*hi).contains(&i),
            Test::BitsAny(m) => i & m != 0,
            Test::BitsAll(m) => i & m == *m,
            _ => false,
        },
        Value::Ip(ip) => match test {
            Test::IpIn(xs) => xs.contains(&ip) || xs.iter().any(|x| same_ip(*x, ip)),
            Test::Cidr(nets) => nets.iter().any(|n| in_cidr(n, ip)),
            _ => false,
        },
    }
}

/// IPv4 and its IPv4-mapped IPv6 form are the same address.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    let v6 = |x: IpAddr| match x {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    v6(a) == v6(b)
}

fn in_cidr(n: &Cidr, ip: IpAddr) -> bool {
    let (net, bits) = n.as_v6();
    let addr = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    };
    let a = u128::from_be_bytes(addr);
    let b = u128::from_be_bytes(net);
    let mask = if bits == 0 {
        0
    } else {
        u128::MAX << (128 - bits)
    };
    a & mask == b & mask
}

#[cfg(test)]
mod sample_tests;
#[cfg(test)]
mod tests;
