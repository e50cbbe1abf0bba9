//! The compiled [`RuleSet`]: rules indexed by event action and by the
//! exact values they need, evaluated per event without allocating.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use regex::Regex;

use super::RateLimit;
use super::fields::{self, Field, Getter, Kind, Scratch, Value};
use super::gate::{self, Gate};
use crate::config::Cidr;
use crate::model::alert::RuleMeta;
use crate::model::event::Event;

#[derive(Debug)]
pub(super) enum Test {
    StrEq(Box<str>),
    StrIn(Vec<Box<str>>),
    Prefix(Box<str>),
    Suffix(Box<str>),
    Contains(Box<str>),
    /// Sigma's case-insensitive tests: the value is ASCII-lowercased at
    /// load and compared ignoring ASCII case (a value with other letters
    /// becomes a `(?i)` regex instead, see sigma::values).
    FoldEq(Box<str>),
    FoldIn(Vec<Box<str>>),
    FoldPrefix(Box<str>),
    FoldSuffix(Box<str>),
    /// The needle, lowercased, ready for a SIMD search of a lowercased
    /// text (the command lines, see [`Scratch::command_line_lower`]).
    FoldContains(Box<memchr::memmem::Finder<'static>>),
    /// A string test on an IP field's text form (Sigma's
    /// `DestinationIp|startswith: '10.'`), written into a stack buffer.
    IpText(Box<Test>),
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
pub(super) enum Cond {
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
    pub(super) actions: Vec<usize>,
    pub(super) cond: Cond,
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
    /// Sigma rules of the directory that were not loaded, and why.
    pub(super) skipped: Vec<super::Skipped>,
}

/// The rules of one action, split for matching. Most rules have a
/// necessary exact-value test (`process.name in [...]`,
/// `destination.port = 4444`): those are found by one hash lookup of the
/// event's value per field, so a hundred rules on `exec` cost a few
/// lookups plus the rules that can match, not a hundred evaluations.
/// Rules that need a substring of the command line are found by one pass
/// over it ([`Gate`]). The rest are evaluated one by one.
#[derive(Debug, Default, Clone)]
struct ActionIndex {
    keyed: Vec<KeyIndex>,
    gate: Option<Gate>,
    rest: Vec<usize>,
}

type EventGetter = fn(&Event) -> Value<'_>;

/// Rules keyed by the value one field must have.
#[derive(Debug, Clone)]
struct KeyIndex {
    field: &'static Field,
    /// The keys are ASCII-lowercased (Sigma's case-insensitive equality):
    /// the event's value is lowercased before the lookup.
    fold: bool,
    get: EventGetter,
    strs: HashMap<Box<str>, Vec<usize>>,
    ints: HashMap<i64, Vec<usize>>,
}

/// A necessary exact-value test of `c`: one that must hold for `c` to hold
/// (only `all` groups are looked into), on a plain field of the event.
/// Of several, the first on a field with many values: `event.action =
/// connect` (Sigma's `Initiated`) would hand the rule every connect.
fn key_of(c: &Cond) -> Option<(&'static Field, EventGetter, &Test)> {
    const FEW_VALUES: &[&str] = &[
        "event.action",
        "event.category",
        "event.outcome",
        "network.transport",
        "network.type",
        "network.direction",
    ];
    let mut keys = Vec::new();
    keys_of(c, &mut keys);
    keys.iter()
        .find(|(f, _, _)| !FEW_VALUES.contains(&f.name))
        .or(keys.first())
        .copied()
}

fn keys_of<'a>(c: &'a Cond, out: &mut Vec<(&'static Field, EventGetter, &'a Test)>) {
    match c {
        Cond::All(cs) => cs.iter().for_each(|c| keys_of(c, out)),
        Cond::Field(f, t) => match (f.get, f.kind, t) {
            (
                Getter::Event(get),
                Kind::Str,
                Test::StrEq(_) | Test::StrIn(_) | Test::FoldEq(_) | Test::FoldIn(_),
            )
            | (Getter::Event(get), Kind::Int | Kind::Named(_), Test::IntIn(_)) => {
                out.push((*f, get, t))
            }
            _ => {}
        },
        _ => {}
    }
}

impl RuleSet {
    pub fn empty() -> Self {
        RuleSet {
            rules: Vec::new(),
            by_action: vec![ActionIndex::default(); fields::ACTIONS.len()],
            skipped: Vec::new(),
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

    /// The Sigma rules of the directory that were skipped, in file order.
    pub fn skipped(&self) -> &[super::Skipped] {
        &self.skipped
    }

    pub fn from_rules(rules: Vec<Rule>) -> RuleSet {
        let mut set = RuleSet::empty();
        let mut gated: Vec<Vec<(usize, Vec<Box<str>>)>> = vec![Vec::new(); fields::ACTIONS.len()];
        for (i, r) in rules.iter().enumerate() {
            let key = key_of(&r.cond);
            let needles = key.is_none().then(|| gate::needles(&r.cond)).flatten();
            for a in &r.actions {
                let idx = &mut set.by_action[*a];
                let Some((field, get, test)) = key else {
                    match &needles {
                        Some(n) => gated[*a].push((i, n.clone())),
                        None => idx.rest.push(i),
                    }
                    continue;
                };
                let fold = matches!(test, Test::FoldEq(_) | Test::FoldIn(_));
                let k = match idx
                    .keyed
                    .iter()
                    .position(|k| std::ptr::eq(k.field, field) && k.fold == fold)
                {
                    Some(p) => &mut idx.keyed[p],
                    None => {
                        idx.keyed.push(KeyIndex {
                            field,
                            fold,
                            get,
                            strs: HashMap::new(),
                            ints: HashMap::new(),
                        });
                        idx.keyed.last_mut().unwrap()
                    }
                };
                match test {
                    Test::StrEq(x) | Test::FoldEq(x) => {
                        k.strs.entry(x.clone()).or_default().push(i)
                    }
                    Test::StrIn(xs) | Test::FoldIn(xs) => {
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
        for (idx, entries) in set.by_action.iter_mut().zip(&gated) {
            idx.gate = Gate::build(entries);
        }
        set.rules = rules;
        set
    }

    /// How the rules are indexed, per action: the key fields (name,
    /// folded, string keys, number keys) and the unkeyed rules.
    #[cfg(test)]
    pub(super) fn debug_index(&self) -> String {
        let mut parts = Vec::new();
        for (i, a) in self.by_action.iter().enumerate() {
            if a.keyed.is_empty() && a.gate.is_none() && a.rest.is_empty() {
                continue;
            }
            let keys: Vec<_> = a
                .keyed
                .iter()
                .map(|k| (k.field.name, k.fold, k.strs.len(), k.ints.len()))
                .collect();
            let gated = a
                .gate
                .as_ref()
                .map_or(String::new(), |g| format!(" gated {:?}", g.rules()));
            parts.push(format!(
                "{}: keyed {keys:?}{gated} rest {:?}",
                fields::ACTIONS[i],
                a.rest
            ));
        }
        parts.join("; ")
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
                Value::Str(s) if k.fold => k.strs.get(scratch.fold(s)),
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
        if let Some(g) = &idx.gate
            && let Some(line) = scratch.command_line_lower(ev)
        {
            // Candidates appended, then sorted, deduplicated and kept
            // only where the rule holds, in place.
            let from = out.len();
            g.candidates(line, out);
            out[from..].sort_unstable();
            let (mut kept, mut last) = (from, usize::MAX);
            for r in from..out.len() {
                let i = out[r];
                if i == last {
                    continue;
                }
                last = i;
                if eval(&self.rules[i].cond, ev, scratch) {
                    out[kept] = i;
                    kept += 1;
                }
            }
            out.truncate(kept);
        }
        for &i in &idx.rest {
            if eval(&self.rules[i].cond, ev, scratch) {
                out.push(i);
            }
        }
        out[start..].sort_unstable();
    }
}

pub(super) fn eval(c: &Cond, ev: &Event, scratch: &mut Scratch) -> bool {
    match c {
        Cond::All(cs) => cs.iter().all(|c| eval(c, ev, scratch)),
        Cond::Any(cs) => cs.iter().any(|c| eval(c, ev, scratch)),
        Cond::Not(c) => !eval(c, ev, scratch),
        Cond::Field(field, test) => match field.get {
            Getter::Ancestor(get) => ev
                .process
                .as_deref()
                .is_some_and(|p| p.ancestors().any(|a| test_value(test, get(a)))),
            // Sigma's case-insensitive tests on a command line compare
            // with its lowercased copy, made once per event.
            Getter::CommandLine if test.folds() => scratch
                .command_line_lower(ev)
                .is_some_and(|s| test_lower(test, s)),
            Getter::ParentCommandLine if test.folds() => scratch
                .parent_command_line_lower(ev)
                .is_some_and(|s| test_lower(test, s)),
            Getter::CommandLine => {
                let v = scratch.command_line(ev).map_or(Value::Missing, Value::Str);
                test_value(test, v)
            }
            Getter::ParentCommandLine => {
                let v = scratch
                    .parent_command_line(ev)
                    .map_or(Value::Missing, Value::Str);
                test_value(test, v)
            }
            Getter::Event(get) => test_value(test, get(ev)),
        },
    }
}

impl Test {
    /// A case-insensitive (Sigma) string test.
    fn folds(&self) -> bool {
        matches!(
            self,
            Test::FoldEq(_)
                | Test::FoldIn(_)
                | Test::FoldPrefix(_)
                | Test::FoldSuffix(_)
                | Test::FoldContains(_)
        )
    }
}

/// A case-insensitive test on `s`, already ASCII-lowercased: plain
/// comparisons with the lowercased values.
fn test_lower(test: &Test, s: &str) -> bool {
    match test {
        Test::FoldEq(x) => s == &**x,
        Test::FoldIn(xs) => xs.iter().any(|x| s == &**x),
        Test::FoldPrefix(x) => s.starts_with(&**x),
        Test::FoldSuffix(x) => s.ends_with(&**x),
        Test::FoldContains(f) => f.find(s.as_bytes()).is_some(),
        _ => test_str(test, s),
    }
}

fn test_str(test: &Test, s: &str) -> bool {
    match test {
        Test::StrEq(x) => s == &**x,
        Test::StrIn(xs) => xs.iter().any(|x| s == &**x),
        Test::Prefix(x) => s.starts_with(&**x),
        Test::Suffix(x) => s.ends_with(&**x),
        Test::Contains(x) => s.contains(&**x),
        Test::FoldEq(x) => s.eq_ignore_ascii_case(x),
        Test::FoldIn(xs) => xs.iter().any(|x| s.eq_ignore_ascii_case(x)),
        Test::FoldPrefix(x) => {
            s.len() >= x.len() && s.as_bytes()[..x.len()].eq_ignore_ascii_case(x.as_bytes())
        }
        Test::FoldSuffix(x) => {
            s.len() >= x.len()
                && s.as_bytes()[s.len() - x.len()..].eq_ignore_ascii_case(x.as_bytes())
        }
        Test::FoldContains(f) => contains_fold(s.as_bytes(), f.needle()),
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
        Value::Strs(list) => list.iter().any(|s| test_str(test, s)),
        Value::Int(i) => test_int(test, i),
        Value::IntBits(bits) => (0..64)
            .filter(|n| bits & (1 << n) != 0)
            .any(|n| test_int(test, n)),
        Value::Ip(ip) => match test {
            Test::IpText(t) => {
                let mut buf = IpText::default();
                let _ = std::fmt::Write::write_fmt(&mut buf, format_args!("{ip}"));
                test_str(t, buf.as_str())
            }
            Test::IpIn(xs) => xs.contains(&ip) || xs.iter().any(|x| same_ip(*x, ip)),
            Test::Cidr(nets) => nets.iter().any(|n| in_cidr(n, ip)),
            _ => false,
        },
    }
}

fn test_int(test: &Test, i: i64) -> bool {
    match test {
        Test::IntIn(xs) => xs.contains(&i),
        Test::Cmp(ord, or_equal, x) => {
            let c = i.cmp(x);
            c == *ord || (*or_equal && c == Ordering::Equal)
        }
        Test::Range(lo, hi) => (*lo..=*hi).contains(&i),
        Test::BitsAny(m) => i & m != 0,
        Test::BitsAll(m) => i & m == *m,
        _ => false,
    }
}

/// `needle` (ASCII-lowercase) in `hay`, ignoring ASCII case: memchr
/// finds the places where the first byte (either case) occurs, and only
/// there is the rest compared.
fn contains_fold(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    if hay.len() < needle.len() {
        return false;
    }
    let last_start = hay.len() - needle.len();
    memchr::memchr2_iter(first, first.to_ascii_uppercase(), &hay[..=last_start])
        .any(|i| hay[i + 1..i + needle.len()].eq_ignore_ascii_case(rest))
}

/// An IP address's text form without allocating (at most 45 bytes for
/// IPv6 with an embedded IPv4).
struct IpText {
    buf: [u8; 48],
    len: usize,
}

impl Default for IpText {
    fn default() -> Self {
        IpText {
            buf: [0; 48],
            len: 0,
        }
    }
}

impl IpText {
    fn as_str(&self) -> &str {
        // Only whole `str`s are ever copied in.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for IpText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
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
