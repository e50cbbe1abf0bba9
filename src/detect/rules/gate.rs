//! The command-line gate: rules without an exact value for the hash index
//! that still need one of a few substrings in the command line (Sigma's
//! `CommandLine|contains` rules, the common kind) are found by one
//! Aho-Corasick pass over the event's lowercased command line, instead of
//! being evaluated one by one for every event of their actions.

use aho_corasick::{AhoCorasick, MatchKind};

use super::fields::Getter;
use super::matcher::{Cond, Test};

/// Lowercased substrings one of which the command line must hold for `c`
/// to hold, or None when `c` has no such need. A test that holds on a
/// text holds only if its value is in the text: an exact value, a prefix,
/// a suffix or a substring, whatever the case.
pub(super) fn needles(c: &Cond) -> Option<Vec<Box<str>>> {
    let lower = |s: &str| -> Box<str> { s.to_ascii_lowercase().into() };
    let found = match c {
        Cond::Field(f, t) if matches!(f.get, Getter::CommandLine) => match t {
            Test::StrEq(x)
            | Test::Prefix(x)
            | Test::Suffix(x)
            | Test::Contains(x)
            | Test::FoldEq(x)
            | Test::FoldPrefix(x)
            | Test::FoldSuffix(x) => vec![lower(x)],
            Test::StrIn(xs) | Test::FoldIn(xs) => xs.iter().map(|x| lower(x)).collect(),
            Test::FoldContains(f) => vec![lower(std::str::from_utf8(f.needle()).ok()?)],
            Test::Regex(re) => regex_needles(re.as_str())?,
            _ => return None,
        },
        // Any member's need is the group's.
        Cond::All(cs) => return cs.iter().find_map(needles),
        // Every member must have one: the group needs one of them all.
        Cond::Any(cs) => {
            let mut all = Vec::new();
            for c in cs {
                all.extend(needles(c)?);
            }
            all
        }
        _ => return None,
    };
    // An empty value is in every text: no gate.
    (!found.is_empty() && found.iter().all(|n| !n.is_empty())).then_some(found)
}

/// Literals one of which starts every match of `pattern` (regex-syntax's
/// prefix extraction), lowercased; None when there is no finite set.
fn regex_needles(pattern: &str) -> Option<Vec<Box<str>>> {
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let seq = regex_syntax::hir::literal::Extractor::new().extract(&hir);
    let lits = seq.literals()?;
    // A handful of real words, or the regex is not worth gating: 26
    // one-letter "literals" of `[a-z]+` would open it on every line.
    if lits.len() > 64 || lits.iter().any(|l| l.as_bytes().len() < 3) {
        return None;
    }
    let mut out: Vec<Box<str>> = Vec::new();
    for lit in lits {
        let s: Box<str> = std::str::from_utf8(lit.as_bytes())
            .ok()?
            .to_ascii_lowercase()
            .into();
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Some(out)
}

/// The gated rules of one action.
#[derive(Debug, Clone)]
pub(super) struct Gate {
    ac: AhoCorasick,
    /// Pattern id → the rule it opens.
    rule_of: Vec<usize>,
}

impl Gate {
    /// A gate for `(rule index, needles)`; None when there are none.
    pub(super) fn build(entries: &[(usize, Vec<Box<str>>)]) -> Option<Gate> {
        let mut patterns: Vec<&str> = Vec::new();
        let mut rule_of = Vec::new();
        for (rule, ns) in entries {
            for n in ns {
                patterns.push(n);
                rule_of.push(*rule);
            }
        }
        if patterns.is_empty() {
            return None;
        }
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .expect("a few thousand short literals always build");
        Some(Gate { ac, rule_of })
    }

    /// The rules whose needles `line` (lowercased) holds, appended to
    /// `out`, maybe more than once each.
    pub(super) fn candidates(&self, line: &str, out: &mut Vec<usize>) {
        for m in self.ac.find_overlapping_iter(line) {
            out.push(self.rule_of[m.pattern().as_usize()]);
        }
    }

    /// How many rules it gates (for the index's description in tests).
    #[cfg(test)]
    pub(super) fn rules(&self) -> Vec<usize> {
        let mut r = self.rule_of.clone();
        r.dedup();
        r
    }
}
