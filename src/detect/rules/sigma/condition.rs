//! Sigma's `condition`: `and`, `or`, `not`, parentheses, `1 of` / `all
//! of` a search identifier, a pattern (`selection_*`) or `them`, with the
//! specification's precedence (or < and < not < x of < parentheses).
//! Aggregations (`| count() > 5`) and `near` are refused.

use super::{Skip, SkipKind};

/// A parsed condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Expr {
    Ident(String),
    /// `1 of` (false) or `all of` (true) the identifiers a pattern names
    /// (`None`: `them`).
    Of {
        all: bool,
        pattern: Option<String>,
    },
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Open,
    Close,
}

fn bad(cond: &str, reason: impl Into<String>) -> Skip {
    Skip {
        kind: SkipKind::Condition,
        construct: format!("condition `{cond}`"),
        reason: reason.into(),
    }
}

fn tokens(cond: &str) -> Result<Vec<Tok>, Skip> {
    if cond.contains('|') {
        return Err(Skip {
            kind: SkipKind::Aggregation,
            construct: format!("condition `{cond}`"),
            reason: "aggregations (`| count() ...`) are not supported: rules match single events"
                .into(),
        });
    }
    let mut out = Vec::new();
    let mut word = String::new();
    for c in cond.chars() {
        match c {
            '(' | ')' | ' ' | '\t' | '\n' | '\r' => {
                if !word.is_empty() {
                    out.push(Tok::Word(std::mem::take(&mut word)));
                }
                match c {
                    '(' => out.push(Tok::Open),
                    ')' => out.push(Tok::Close),
                    _ => {}
                }
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.') => word.push(c),
            c => return Err(bad(cond, format!("unexpected character {c:?}"))),
        }
    }
    if !word.is_empty() {
        out.push(Tok::Word(word));
    }
    Ok(out)
}

struct Parser<'a> {
    cond: &'a str,
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser<'_> {
    fn peek_word(&self) -> Option<&str> {
        match self.toks.get(self.pos) {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn keyword(&mut self, k: &str) -> bool {
        if self.peek_word() == Some(k) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr, Skip> {
        let mut items = vec![self.and()?];
        while self.keyword("or") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, Skip> {
        let mut items = vec![self.not()?];
        while self.keyword("and") {
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Expr::And(items)
        })
    }

    fn not(&mut self) -> Result<Expr, Skip> {
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, Skip> {
        let cond = self.cond;
        match self.toks.get(self.pos).cloned() {
            None => Err(bad(cond, "ends where an identifier was expected")),
            Some(Tok::Close) => Err(bad(cond, "unexpected `)`")),
            Some(Tok::Open) => {
                self.pos += 1;
                let e = self.or()?;
                if self.toks.get(self.pos) != Some(&Tok::Close) {
                    return Err(bad(cond, "a `(` is not closed"));
                }
                self.pos += 1;
                Ok(e)
            }
            Some(Tok::Word(w)) => {
                self.pos += 1;
                match w.as_str() {
                    "and" | "or" | "of" | "them" => {
                        Err(bad(cond, format!("`{w}` where an identifier was expected")))
                    }
                    "near" => Err(Skip {
                        kind: SkipKind::Aggregation,
                        construct: format!("condition `{cond}`"),
                        reason: "`near` (event correlation) is not supported".into(),
                    }),
                    q if self.peek_word() == Some("of") => {
                        let all = match q {
                            "1" => false,
                            "all" => true,
                            n => {
                                return Err(bad(
                                    cond,
                                    format!("`{n} of`: only `1 of` and `all of` are defined"),
                                ));
                            }
                        };
                        self.pos += 1;
                        let Some(target) = self.peek_word().map(str::to_string) else {
                            return Err(bad(cond, format!("`{q} of` needs `them` or a pattern")));
                        };
                        self.pos += 1;
                        let pattern = (target != "them").then_some(target);
                        Ok(Expr::Of { all, pattern })
                    }
                    _ if w.contains('*') => Err(bad(
                        cond,
                        format!("pattern `{w}` outside `1 of` / `all of`"),
                    )),
                    _ => Ok(Expr::Ident(w)),
                }
            }
        }
    }
}

/// Parse one condition string.
pub(super) fn parse(cond: &str) -> Result<Expr, Skip> {
    let mut p = Parser {
        cond,
        toks: tokens(cond)?,
        pos: 0,
    };
    if p.toks.is_empty() {
        return Err(bad(cond, "is empty"));
    }
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err(bad(
            cond,
            format!("unexpected {:?} after a complete expression", p.toks[p.pos]),
        ));
    }
    Ok(e)
}

/// Does identifier `name` match `pattern` (`*` any run of characters)?
pub(super) fn pattern_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}
