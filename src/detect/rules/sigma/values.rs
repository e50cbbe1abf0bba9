//! One `Field|modifier|...: value(s)` of a Sigma search identifier
//! compiled into a condition: the modifiers (transformations in order,
//! then the match type), wildcards and escaping as the specification
//! defines them, lists (OR, or AND with `all`) and `null`.

use std::cmp::Ordering;
use std::net::IpAddr;

use regex::Regex;
use yaml_rust2::Yaml;

use super::fields::{self as sfields, Target};
use super::{Skip, SkipKind};
use crate::config::Cidr;
use crate::detect::rules::fields::{self, Field, Kind};
use crate::detect::rules::matcher::{Cond, Test};

/// `windash` expands every dash-like character five ways: more than this
/// many in one value would be thousands of alternatives.
const WINDASH_MAX: usize = 4;
const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// A string value after escaping: literal text and wildcards.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Lit(String),
    /// `*`: any run of characters.
    Star,
    /// `?`: exactly one character.
    One,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Transform {
    Base64,
    Base64Offset,
    Windash,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Match {
    Plain,
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Default)]
struct Mods {
    transforms: Vec<Transform>,
    how: Option<Match>,
    all: bool,
    cased: bool,
    neq: bool,
    exists: bool,
    cidr: bool,
    /// `re` and its flags (`i`, `m`, `s`).
    re: Option<String>,
    cmp: Option<(Ordering, bool)>,
}

fn skip(kind: SkipKind, construct: &str, reason: impl Into<String>) -> Skip {
    Skip {
        kind,
        construct: construct.to_string(),
        reason: reason.into(),
    }
}

fn parse_mods(key: &str, mods: &[&str]) -> Result<Mods, Skip> {
    let mut m = Mods::default();
    let unsupported = |what: &str, why: &str| {
        skip(
            SkipKind::Modifier,
            key,
            format!("modifier `{what}` is not supported: {why}"),
        )
    };
    for &name in mods {
        let set_how = |m: &mut Mods, how| {
            if m.how.is_some() || m.re.is_some() || m.cidr || m.cmp.is_some() {
                return Err(skip(
                    SkipKind::Modifier,
                    key,
                    format!("modifier `{name}` conflicts with an earlier one"),
                ));
            }
            m.how = Some(how);
            Ok(())
        };
        match name {
            "contains" => set_how(&mut m, Match::Contains)?,
            "startswith" => set_how(&mut m, Match::StartsWith)?,
            "endswith" => set_how(&mut m, Match::EndsWith)?,
            "all" => m.all = true,
            "cased" => m.cased = true,
            "neq" => m.neq = true,
            "exists" => m.exists = true,
            "base64" => m.transforms.push(Transform::Base64),
            "base64offset" => m.transforms.push(Transform::Base64Offset),
            "windash" => m.transforms.push(Transform::Windash),
            "cidr" => {
                set_how(&mut m, Match::Plain)?;
                m.cidr = true;
            }
            "re" => {
                set_how(&mut m, Match::Plain)?;
                m.re = Some(String::new());
            }
            "i" | "m" | "s" => match &mut m.re {
                Some(flags) if !flags.contains(name) => flags.push_str(name),
                _ => {
                    return Err(skip(
                        SkipKind::Modifier,
                        key,
                        format!("`{name}` is a sub-modifier of `re` and must follow it"),
                    ));
                }
            },
            "lt" | "lte" | "gt" | "gte" => {
                set_how(&mut m, Match::Plain)?;
                m.cmp = Some(match name {
                    "lt" => (Ordering::Less, false),
                    "lte" => (Ordering::Less, true),
                    "gt" => (Ordering::Greater, false),
                    _ => (Ordering::Greater, true),
                });
            }
            "utf16le" | "utf16be" | "utf16" | "wide" => {
                return Err(unsupported(
                    name,
                    "the records hold UTF-8 text, never UTF-16",
                ));
            }
            "expand" => {
                return Err(unsupported(name, "placeholders are not expanded"));
            }
            "fieldref" => {
                return Err(unsupported(name, "fields are compared with values only"));
            }
            "minute" | "hour" | "day" | "week" | "month" | "year" => {
                return Err(unsupported(name, "no record field is a date to match on"));
            }
            other => {
                return Err(skip(
                    SkipKind::Modifier,
                    key,
                    format!("unknown modifier `{other}`"),
                ));
            }
        }
    }
    Ok(m)
}

/// `key: value` of a selection (a map entry) as a condition, for events
/// of `actions`.
pub(super) fn field_cond(key: &str, value: &Yaml, actions: &[&str]) -> Result<Cond, Skip> {
    let mut parts = key.split('|');
    let name = parts.next().unwrap_or_default();
    let mods: Vec<&str> = parts.collect();
    if name.is_empty() {
        return Err(skip(
            SkipKind::Keyword,
            key,
            "keyword search (values without a field) is not supported: records are matched field by field",
        ));
    }
    let target = sfields::lookup(name).ok_or_else(|| {
        skip(
            SkipKind::Field,
            key,
            format!("unknown field `{name}` (the fields are listed in docs/rules.md, Sigma field mapping)"),
        )
    })?;
    let m = parse_mods(key, &mods)?;
    let ecs = match target {
        Target::Refused(why) => {
            return Err(skip(SkipKind::Field, key, format!("field `{name}`: {why}")));
        }
        Target::Field(f) | Target::User(f) | Target::Hashes(f) => f,
        Target::Initiated => "event.action",
        Target::IsIpv6 => "network.type",
    };
    let field = fields::lookup(ecs).expect("the Sigma table names fields of the rules table");
    let missing = field.missing_for(actions);
    if !missing.is_empty() {
        return Err(skip(
            SkipKind::Field,
            key,
            format!(
                "field `{name}` ({ecs}) is not in {} events of this log source",
                missing.join(", ")
            ),
        ));
    }
    let values: Vec<&Yaml> = match value {
        Yaml::Array(vs) => vs.iter().collect(),
        v => vec![v],
    };
    if values.is_empty() {
        return Err(skip(SkipKind::Invalid, key, "an empty list of values"));
    }
    let mut groups = Vec::with_capacity(values.len());
    for v in values {
        groups.push(value_cond(key, name, target, field, &m, v)?);
    }
    if matches!(target, Target::Hashes(_)) && groups.iter().all(Vec::is_empty) {
        return Err(skip(
            SkipKind::Field,
            key,
            "Hashes: no `SHA256=` value, and SHA-256 is the only digest the records hold",
        ));
    }
    // Each value stands for one or more alternatives (windash, base64offset).
    let cond = if m.all && groups.len() > 1 {
        Cond::All(groups.into_iter().map(combine_or).collect())
    } else {
        combine_or(groups.into_iter().flatten().collect())
    };
    Ok(if m.neq {
        Cond::Not(Box::new(cond))
    } else {
        cond
    })
}

/// One value (after the list is split): its alternatives, any of which
/// may match.
fn value_cond(
    key: &str,
    name: &str,
    target: Target,
    field: &'static Field,
    m: &Mods,
    v: &Yaml,
) -> Result<Vec<Cond>, Skip> {
    let bad = |why: String| skip(SkipKind::Invalid, key, why);
    if let Yaml::Array(_) | Yaml::Hash(_) = v {
        return Err(bad(
            "a value is a string, a number, a boolean or null".into()
        ));
    }
    if m.exists {
        return match v {
            Yaml::Boolean(b) => Ok(vec![Cond::Field(field, Test::Exists(*b))]),
            _ => Err(bad("`exists` takes true or false".into())),
        };
    }
    if matches!(v, Yaml::Null) {
        // The spec's null: the field has no value.
        return Ok(vec![Cond::Field(field, Test::Exists(false))]);
    }
    let text = scalar_text(v).ok_or_else(|| bad(format!("{v:?} is not a value")))?;
    match target {
        Target::Initiated | Target::IsIpv6 => {
            let yes = match text.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(bad(format!("{name} is true or false, not {text:?}"))),
            };
            let want = match (target, yes) {
                (Target::Initiated, true) => "connect",
                (Target::Initiated, false) => "accept",
                (_, true) => "ipv6",
                (_, false) => "ipv4",
            };
            return Ok(vec![Cond::Field(field, Test::StrEq(want.into()))]);
        }
        Target::Hashes(_) => return hashes_cond(key, field, m, &text),
        Target::User(_) => {
            if m.how.is_some() || !m.transforms.is_empty() {
                return Err(skip(
                    SkipKind::Modifier,
                    key,
                    "User is matched by uid or `root` only: the records hold numeric ids",
                ));
            }
            let uid = match text.as_str() {
                "root" => 0,
                t => t.parse().map_err(|_| {
                    skip(
                        SkipKind::Field,
                        key,
                        format!("user name {t:?}: the records hold numeric ids; give the uid (or `root`)"),
                    )
                })?,
            };
            return Ok(vec![Cond::Field(field, Test::IntIn(vec![uid]))]);
        }
        _ => {}
    }
    match field.kind {
        Kind::Int | Kind::IntList | Kind::Named(_) => {
            int_cond(key, field, m, &text).map(|c| vec![c])
        }
        Kind::Ip => ip_cond(key, field, m, &text),
        Kind::Str | Kind::StrList => {
            if m.cidr || m.cmp.is_some() {
                return Err(skip(
                    SkipKind::Modifier,
                    key,
                    format!(
                        "{} does not apply to {}, which is a string",
                        mod_name(m),
                        field.name
                    ),
                ));
            }
            Ok(str_cond(key, m, &text)?.into_conds(field))
        }
    }
}

/// A `Hashes` value (`SHA256=<hex>`, or Sysmon's whole `MD5=..,SHA256=..`
/// list): its SHA-256 as `process.hash.sha256` holds it; no alternative
/// when it names other digests only (they are not computed: such a value
/// cannot match).
fn hashes_cond(key: &str, field: &'static Field, m: &Mods, text: &str) -> Result<Vec<Cond>, Skip> {
    if m.how
        .is_some_and(|h| h != Match::Plain && h != Match::Contains)
        || !m.transforms.is_empty()
        || m.all
        || m.re.is_some()
        || m.cidr
        || m.cmp.is_some()
    {
        return Err(skip(
            SkipKind::Modifier,
            key,
            "Hashes takes `SHA256=<hex>` values, plain or with `contains`, and no other modifier",
        ));
    }
    let mut sha256 = None;
    for part in text.split(',') {
        let Some((alg, hex)) = part.trim().split_once('=') else {
            return Err(skip(
                SkipKind::Invalid,
                key,
                format!(
                    "Hashes value {text:?}: expected ALGORITHM=hex, e.g. SHA256=<64 hex digits>"
                ),
            ));
        };
        if alg.eq_ignore_ascii_case("SHA256") {
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(skip(
                    SkipKind::Invalid,
                    key,
                    format!("Hashes value {text:?}: a SHA256 is 64 hex digits"),
                ));
            }
            sha256 = Some(hex.to_ascii_lowercase());
        }
    }
    Ok(sha256
        .map(|h| Cond::Field(field, Test::StrEq(h.into())))
        .into_iter()
        .collect())
}

fn mod_name(m: &Mods) -> &'static str {
    if m.cidr {
        "cidr"
    } else if m.cmp.is_some() {
        "a numeric comparison"
    } else {
        "a string modifier"
    }
}

/// A scalar as Sigma sees it: every value is a string, numbers and
/// booleans written as YAML writes them.
fn scalar_text(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn int_cond(key: &str, field: &'static Field, m: &Mods, text: &str) -> Result<Cond, Skip> {
    if m.how.is_some_and(|h| h != Match::Plain)
        || m.re.is_some()
        || m.cidr
        || !m.transforms.is_empty()
    {
        return Err(skip(
            SkipKind::Modifier,
            key,
            format!("{} is a number: string modifiers do not apply", field.name),
        ));
    }
    let n: i64 = text.parse().map_err(|_| {
        skip(
            SkipKind::Invalid,
            key,
            format!("{} is a number: {text:?} is not", field.name),
        )
    })?;
    let test = match m.cmp {
        Some((ord, eq)) => Test::Cmp(ord, eq, n),
        None => Test::IntIn(vec![n]),
    };
    Ok(Cond::Field(field, test))
}

fn ip_cond(key: &str, field: &'static Field, m: &Mods, text: &str) -> Result<Vec<Cond>, Skip> {
    if m.cmp.is_some() {
        return Err(skip(
            SkipKind::Modifier,
            key,
            format!("{} is an IP address: comparisons do not apply", field.name),
        ));
    }
    if m.cidr {
        let net = Cidr::parse(text).map_err(|why| skip(SkipKind::Invalid, key, why))?;
        return Ok(vec![Cond::Field(field, Test::Cidr(vec![net]))]);
    }
    if m.how.is_none()
        && m.re.is_none()
        && m.transforms.is_empty()
        && let Ok(ip) = text.parse::<IpAddr>()
    {
        return Ok(vec![Cond::Field(field, Test::IpIn(vec![ip]))]);
    }
    // Wildcards, startswith, re: on the address's text form.
    let tests = str_cond(key, m, text)?;
    Ok(tests.map(field, |t| Test::IpText(Box::new(t))))
}

/// The alternatives one string value stands for (windash, base64offset
/// give several), each a test.
struct Alternatives(Vec<Test>);

impl Alternatives {
    fn into_conds(self, field: &'static Field) -> Vec<Cond> {
        self.map(field, |t| t)
    }

    fn map(self, field: &'static Field, f: impl Fn(Test) -> Test) -> Vec<Cond> {
        self.0
            .into_iter()
            .map(|t| Cond::Field(field, f(t)))
            .collect()
    }
}

fn str_cond(key: &str, m: &Mods, text: &str) -> Result<Alternatives, Skip> {
    if let Some(flags) = &m.re {
        if !m.transforms.is_empty() {
            return Err(skip(
                SkipKind::Modifier,
                key,
                "`re` with a transformation modifier is not supported",
            ));
        }
        let pattern = if flags.is_empty() {
            text.to_string()
        } else {
            format!("(?{flags}){text}")
        };
        let re = Regex::new(&pattern).map_err(|e| {
            skip(
                SkipKind::Invalid,
                key,
                format!("regular expression not supported by rand-guard's regex engine: {e}"),
            )
        })?;
        return Ok(Alternatives(vec![Test::Regex(re)]));
    }
    let mut alts = vec![parse_pieces(text)];
    for t in &m.transforms {
        alts = transform(key, *t, alts)?;
    }
    let how = m.how.unwrap_or(Match::Plain);
    let tests = alts
        .into_iter()
        .map(|mut p| {
            if matches!(how, Match::Contains | Match::EndsWith) {
                p.insert(0, Piece::Star);
            }
            if matches!(how, Match::Contains | Match::StartsWith) {
                p.push(Piece::Star);
            }
            pieces_test(key, &p, m.cased)
        })
        .collect::<Result<Vec<Test>, Skip>>()?;
    Ok(Alternatives(tests))
}

/// Escaping as the specification defines it: `\*` `\?` are literal
/// wildcards, `\\` a backslash, and a backslash before anything else is
/// itself.
fn parse_pieces(s: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = s.chars().peekable();
    let flush = |lit: &mut String, out: &mut Vec<Piece>| {
        if !lit.is_empty() {
            out.push(Piece::Lit(std::mem::take(lit)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    lit.push(n);
                    chars.next();
                }
                _ => lit.push('\\'),
            },
            '*' => {
                flush(&mut lit, &mut out);
                if out.last() != Some(&Piece::Star) {
                    out.push(Piece::Star);
                }
            }
            '?' => {
                flush(&mut lit, &mut out);
                out.push(Piece::One);
            }
            c => lit.push(c),
        }
    }
    flush(&mut lit, &mut out);
    out
}

fn transform(key: &str, t: Transform, alts: Vec<Vec<Piece>>) -> Result<Vec<Vec<Piece>>, Skip> {
    let mut out = Vec::new();
    for pieces in alts {
        match t {
            Transform::Base64 | Transform::Base64Offset => {
                let [Piece::Lit(plain)] = pieces.as_slice() else {
                    return Err(skip(
                        SkipKind::Modifier,
                        key,
                        "base64 of a value with wildcards cannot be matched",
                    ));
                };
                if t == Transform::Base64 {
                    out.push(vec![Piece::Lit(base64(plain.as_bytes()))]);
                } else {
                    out.extend(
                        base64_offsets(plain.as_bytes())
                            .into_iter()
                            .map(|s| vec![Piece::Lit(s)]),
                    );
                }
            }
            Transform::Windash => {
                let n: usize = pieces
                    .iter()
                    .map(|p| match p {
                        Piece::Lit(s) => s.chars().filter(|c| DASHES.contains(c)).count(),
                        _ => 0,
                    })
                    .sum();
                if n > WINDASH_MAX {
                    return Err(skip(
                        SkipKind::Modifier,
                        key,
                        format!(
                            "windash on a value with {n} dashes ({} variants; at most {WINDASH_MAX} dashes)",
                            5usize.pow(n as u32)
                        ),
                    ));
                }
                for choice in 0..5usize.pow(n as u32) {
                    let mut k = choice;
                    let variant = pieces
                        .iter()
                        .map(|p| match p {
                            Piece::Lit(s) => Piece::Lit(
                                s.chars()
                                    .map(|c| {
                                        if DASHES.contains(&c) {
                                            let d = DASHES[k % 5];
                                            k /= 5;
                                            d
                                        } else {
                                            c
                                        }
                                    })
                                    .collect(),
                            ),
                            p => p.clone(),
                        })
                        .collect();
                    out.push(variant);
                }
            }
        }
    }
    Ok(out)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(super) fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The three forms `value` takes inside a longer base64 text, by its
/// offset modulo 3 in the encoded bytes: the encoding of the value after
/// 0, 1 or 2 filler bytes, less the characters that depend on the
/// neighbouring bytes at either end.
pub(super) fn base64_offsets(value: &[u8]) -> Vec<String> {
    (0..3usize)
        .map(|shift| {
            let mut padded = vec![0u8; shift];
            padded.extend_from_slice(value);
            let enc = base64(&padded);
            let start = [0, 2, 3][shift];
            let end_cut = [0, 3, 2][(value.len() + shift) % 3];
            enc[start..enc.len() - end_cut].to_string()
        })
        .collect()
}

/// A pattern as the cheapest test: exact, prefix, suffix, substring, or
/// a regex for anything with `?` or inner `*`.
fn pieces_test(key: &str, p: &[Piece], cased: bool) -> Result<Test, Skip> {
    let lit_ascii = |s: &str| s.is_ascii();
    let simple = |s: &String| cased || lit_ascii(s);
    let low = |s: &str| -> Box<str> {
        if cased {
            s.into()
        } else {
            s.to_ascii_lowercase().into()
        }
    };
    match p {
        [] => {
            return Ok(if cased {
                Test::StrEq("".into())
            } else {
                Test::FoldEq("".into())
            });
        }
        [Piece::Lit(s)] if simple(s) => {
            return Ok(if cased {
                Test::StrEq(low(s))
            } else {
                Test::FoldEq(low(s))
            });
        }
        [Piece::Star] => return Ok(Test::Exists(true)),
        [Piece::Lit(s), Piece::Star] if simple(s) => {
            return Ok(if cased {
                Test::Prefix(low(s))
            } else {
                Test::FoldPrefix(low(s))
            });
        }
        [Piece::Star, Piece::Lit(s)] if simple(s) => {
            return Ok(if cased {
                Test::Suffix(low(s))
            } else {
                Test::FoldSuffix(low(s))
            });
        }
        [Piece::Star, Piece::Lit(s), Piece::Star] if simple(s) => {
            return Ok(if cased {
                Test::Contains(low(s))
            } else {
                Test::FoldContains(Box::new(
                    memchr::memmem::Finder::new(low(s).as_bytes()).into_owned(),
                ))
            });
        }
        _ => {}
    }
    // `s`: a `*` also spans newlines; `i` unless cased (Unicode case
    // folding for values with non-ASCII letters).
    let mut re = String::from(if cased { "(?s)^" } else { "(?si)^" });
    for piece in p {
        match piece {
            Piece::Lit(s) => re.push_str(&regex::escape(s)),
            Piece::Star => re.push_str(".*"),
            Piece::One => re.push('.'),
        }
    }
    re.push('$');
    Regex::new(&re)
        .map(Test::Regex)
        .map_err(|e| skip(SkipKind::Invalid, key, format!("pattern too large: {e}")))
}

/// An OR of alternatives, shaped for the hash index. Exact values of one
/// field become one test (`FoldIn`, `IntIn`, ...), which the index keys
/// on. And if every alternative is "`process.executable` ends with
/// `/name`" (Sigma's `Image|endswith: '/bash'`), the event's
/// `process.name` must be one of the names: that exact test is added in
/// front for the index. `process.name` is the executable's file name
/// whenever the executable is known, so the added test changes no
/// result. Likewise parent executables and `file.path` (`file.name`).
fn combine_or(conds: Vec<Cond>) -> Cond {
    let conds = merge_exact(conds);
    let any = |mut conds: Vec<Cond>| {
        if conds.len() == 1 {
            conds.pop().unwrap()
        } else {
            Cond::Any(conds)
        }
    };
    let mut names: Vec<Box<str>> = Vec::new();
    let mut base: Option<(&'static Field, bool)> = None;
    for c in &conds {
        let suffix = match c {
            Cond::Field(f, Test::FoldSuffix(s)) => Some((*f, s, false)),
            Cond::Field(f, Test::Suffix(s)) => Some((*f, s, true)),
            _ => None,
        };
        let name = suffix.and_then(|(f, s, cased)| {
            let name = s
                .strip_prefix('/')
                .filter(|n| !n.is_empty() && !n.contains('/'))?;
            match base {
                None => base = Some((f, cased)),
                Some((b, c)) if std::ptr::eq(b, f) && c == cased => {}
                _ => return None,
            }
            Some(name)
        });
        match name {
            Some(n) => names.push(n.into()),
            None => return any(conds),
        }
    }
    let key_field = base.and_then(|(f, _)| match f.name {
        "process.executable" => fields::lookup("process.name"),
        "process.parent.executable" => fields::lookup("process.parent.name"),
        "file.path" => fields::lookup("file.name"),
        _ => None,
    });
    let (Some(key_field), Some((_, cased))) = (key_field, base) else {
        return any(conds);
    };
    let key = if cased {
        Test::StrIn(names)
    } else {
        Test::FoldIn(names)
    };
    Cond::All(vec![Cond::Field(key_field, key), any(conds)])
}

/// Exact tests of the same field and kind merged into one list test, in
/// the place of the first; the other conditions kept as they are.
fn merge_exact(conds: Vec<Cond>) -> Vec<Cond> {
    // Which list a test joins: 1 folded strings, 2 strings, 3 numbers,
    // 4 addresses; 0 none.
    let class = |t: &Test| match t {
        Test::FoldEq(_) | Test::FoldIn(_) => 1,
        Test::StrEq(_) | Test::StrIn(_) => 2,
        Test::IntIn(_) => 3,
        Test::IpIn(_) => 4,
        _ => 0,
    };
    let mut out: Vec<Cond> = Vec::with_capacity(conds.len());
    for c in conds {
        let Cond::Field(f, t) = c else {
            out.push(c);
            continue;
        };
        let k = class(&t);
        let at = (k != 0)
            .then(|| {
                out.iter().position(
                    |o| matches!(o, Cond::Field(g, u) if std::ptr::eq(*g, f) && class(u) == k),
                )
            })
            .flatten();
        let Some(at) = at else {
            out.push(Cond::Field(
                f,
                match t {
                    Test::FoldEq(x) => Test::FoldIn(vec![x]),
                    Test::StrEq(x) => Test::StrIn(vec![x]),
                    t => t,
                },
            ));
            continue;
        };
        if let Cond::Field(_, into) = &mut out[at] {
            match (into, t) {
                (Test::FoldIn(xs), Test::FoldEq(y)) | (Test::StrIn(xs), Test::StrEq(y)) => {
                    xs.push(y)
                }
                (Test::FoldIn(xs), Test::FoldIn(ys)) | (Test::StrIn(xs), Test::StrIn(ys)) => {
                    xs.extend(ys)
                }
                (Test::IntIn(xs), Test::IntIn(ys)) => xs.extend(ys),
                (Test::IpIn(xs), Test::IpIn(ys)) => xs.extend(ys),
                _ => unreachable!("merged by class"),
            }
        }
    }
    out
}
