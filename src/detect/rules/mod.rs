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
//!
//! Sigma rules (`*.yml`, `*.yaml`) compile into the same [`Rule`]s:
//! [`sigma`].

mod compile;
pub mod fields;
mod gate;
mod load;
mod matcher;
pub mod sigma;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use load::parse_file;
pub use matcher::{Rule, RuleSet};

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

/// A rules file: `*.toml` (rand-guard's own rules) or `*.yml` / `*.yaml`
/// (Sigma rules). Other files in the directory are ignored.
pub fn is_rule_file(p: &Path) -> bool {
    p.extension()
        .is_some_and(|x| x == "toml" || x == "yml" || x == "yaml")
}

/// Why a Sigma rule was skipped, in a few words: `rules check` counts
/// skipped rules by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipKind {
    /// `logsource` names something the agent does not record.
    LogSource,
    /// A field that is unknown, or whose data the records do not hold.
    Field,
    /// A modifier that is unknown or not supported, or misapplied.
    Modifier,
    /// A condition that does not parse or names no identifier.
    Condition,
    /// `| count()`, `near`, `timeframe`.
    Aggregation,
    /// Correlation rules and Sigma filters.
    Correlation,
    /// Rule collections (`action: global`).
    Collection,
    /// Keyword search: values without a field.
    Keyword,
    /// `level: informational`.
    Level,
    /// The id of a rule loaded before it.
    DuplicateId,
    /// Anything else the specification does not allow (a missing id or
    /// title, a value of the wrong type).
    Invalid,
}

impl SkipKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipKind::LogSource => "unsupported logsource",
            SkipKind::Field => "unsupported field",
            SkipKind::Modifier => "unsupported modifier",
            SkipKind::Condition => "invalid condition",
            SkipKind::Aggregation => "aggregation or timeframe",
            SkipKind::Correlation => "correlation or filter rule",
            SkipKind::Collection => "rule collection",
            SkipKind::Keyword => "keyword search",
            SkipKind::Level => "informational level",
            SkipKind::DuplicateId => "duplicate id",
            SkipKind::Invalid => "invalid rule",
        }
    }
}

/// A Sigma rule that was not loaded: the file, the rule (its id, else its
/// title, else its place in the file), the construct and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub file: PathBuf,
    pub rule: String,
    pub kind: SkipKind,
    pub construct: String,
    pub reason: String,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rules file {}: rule `{}` skipped ({}): {}: {}",
            self.file.display(),
            self.rule,
            self.kind.as_str(),
            self.construct,
            self.reason
        )
    }
}

/// Token bucket for one rule and one process: `burst` alerts at once,
/// then `per_minute`. A rule file's `rate_limit` overrides `[alerts]`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub burst: u32,
    pub per_minute: f64,
}

#[cfg(test)]
mod record_tests;
#[cfg(test)]
mod sample_tests;
#[cfg(test)]
mod tests;
