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

mod compile;
pub mod fields;
mod load;
mod matcher;

use std::fmt;
use std::path::PathBuf;

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
