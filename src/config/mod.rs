//! Configuration: TOML in, validated [`Config`] out, in one place.
//!
//! Path: `--config`, else `EDR_CONFIG`, else [`DEFAULT_PATH`]; when the
//! default path does not exist the built-in defaults apply (an explicit
//! path that does not exist is an error). Unknown keys and invalid values
//! are errors naming the file, the dotted key and the reason.
//! `config/config.toml` documents every key with its default.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod detections;
mod file;
mod forward;
mod hash;
mod ioc;
mod metrics;
mod network;
mod pipeline;
#[cfg(test)]
mod tests;

// One file per section; the paths stay `config::X`.
pub use detections::{
    AlertsConfig, DEFAULT_DOWNLOAD_TOOLS, DEFAULT_FILELESS_ALLOW, DEFAULT_REVERSE_SHELL_PROGRAMS,
    DEFAULT_SENSITIVE_READ_ALLOW, DEFAULT_WEB_SERVERS, DEFAULT_WEB_SHELL_COMMANDS, Detections,
    Exclusion, RulesConfig,
};
pub use file::{
    DEFAULT_WATCH_READS, File, MAX_PREFIXES, MAX_WATCH_READS, PATH_BYTES, PREFIX_BYTES, check_path,
    check_prefix,
};
pub use forward::{DEFAULT_SYSLOG_SOCKET, Facility, Forward, Syslog, Transport};
pub use hash::Hash;
pub use ioc::Ioc;
pub use metrics::Metrics;
pub use network::{Cidr, NetFamilyName, NetHook, Network};
pub use pipeline::{
    ANCESTRY_DEPTH_MAX, Backpressure, Events, HealthConfig, HookPath, Kernel, Output, Pipeline,
    ProcessTable,
};

pub const DEFAULT_PATH: &str = "/etc/rand-guard/config.toml";
pub const ENV_CONFIG: &str = "EDR_CONFIG";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub output: Output,
    pub kernel: Kernel,
    pub process_table: ProcessTable,
    pub hash: Hash,
    pub ioc: Ioc,
    pub pipeline: Pipeline,
    pub events: Events,
    pub file: File,
    pub network: Network,
    pub detections: Detections,
    pub rules: RulesConfig,
    pub alerts: AlertsConfig,
    pub exclusions: Vec<Exclusion>,
    pub health: HealthConfig,
    pub metrics: Metrics,
    pub forward: Forward,
}

/// A configuration error: the file, the dotted key when there is one, the
/// position when known, and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub key: Option<String>,
    pub line: Option<usize>,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config {}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Where the effective configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    /// The default path does not exist: built-in defaults.
    Defaults(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Defaults(p) => write!(f, "built-in defaults ({} does not exist)", p.display()),
        }
    }
}

/// Names and limits that other parts of the agent define and a
/// configuration refers to. `config` sits below every stage and imports
/// none of them, so the caller hands them in: the agent and the offline
/// tools pass `detect::KNOWN`.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    /// Every built-in detection id (`[detections] disabled` names them).
    pub builtin_detections: &'static [&'static str],
}

impl Config {
    /// Resolve the path (flag, then environment, then default) and load.
    pub fn load(
        flag: Option<&Path>,
        env: Option<&Path>,
        known: &Known,
    ) -> Result<(Config, Source), ConfigError> {
        let explicit = flag.or(env);
        let path = explicit.unwrap_or(Path::new(DEFAULT_PATH)).to_path_buf();
        match fs::read_to_string(&path) {
            Ok(text) => Ok((Config::parse(&text, &path, known)?, Source::File(path))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
                Ok((Config::default(), Source::Defaults(path)))
            }
            Err(e) => Err(ConfigError {
                file: path,
                key: None,
                line: None,
                reason: format!("cannot read: {e}"),
            }),
        }
    }

    /// Parse and validate TOML text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path, known: &Known) -> Result<Config, ConfigError> {
        let err = |key: Option<String>, span: Option<std::ops::Range<usize>>, reason: String| {
            ConfigError {
                file: file.to_path_buf(),
                key,
                line: span.map(|s| line_of(text, s.start)),
                reason,
            }
        };
        let de = toml::Deserializer::parse(text)
            .map_err(|e| err(None, e.span(), e.message().to_string()))?;
        let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            err(
                Some(key).filter(|k| k != "."),
                inner.span(),
                inner.message().to_string(),
            )
        })?;
        cfg.validate(known).map_err(|(key, reason)| ConfigError {
            line: line_of_key(text, key),
            ..err(Some(key.to_string()), None, reason)
        })?;
        Ok(cfg)
    }

    /// Range checks serde cannot express: (dotted key, reason). Each
    /// section checks its own keys; what spans sections is checked here.
    pub fn validate(&self, known: &Known) -> Result<(), (&'static str, String)> {
        self.kernel.validate()?;
        self.process_table.validate()?;
        self.hash.validate()?;
        self.ioc.validate()?;
        self.pipeline.validate()?;
        self.health.validate()?;
        self.output.validate()?;
        self.file.validate()?;
        self.detections.validate(known)?;
        self.network.validate()?;
        self.metrics.validate()?;
        self.forward.validate()?;
        for (key, wanted, collected) in [
            ("events.file", self.events.file, self.file.enabled),
            ("events.network", self.events.network, self.network.enabled),
        ] {
            if wanted == Some(true) && !collected {
                let family = &key["events.".len()..];
                return Err((
                    key,
                    format!(
                        "needs {family}.enabled = true: nothing collects these events otherwise"
                    ),
                ));
            }
        }
        self.alerts.validate()?;
        for (i, x) in self.exclusions.iter().enumerate() {
            x.validate(i)?;
        }
        Ok(())
    }

    /// The effective configuration as TOML (what check-config prints).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// The 1-based line of a byte offset in a TOML text, for errors that name
/// the line (the rules loader's too).
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The 1-based line where the dotted `key` is set in `text`, for the
/// errors of the range checks, which see values rather than the text.
/// None when the key is not written in the text (a default) or runs
/// through an array.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let (k, v) = table.iter().find(|(k, _)| k.get_ref().as_ref() == part)?;
        if parts.peek().is_none() {
            return Some(line_of(text, k.span().start));
        }
        match v.get_ref() {
            toml::de::DeValue::Table(t) => table = t,
            _ => return None,
        }
    }
    None
}

/// Every entry of `list` (the value of `key`) is a glob that compiles.
fn check_globs(key: &'static str, list: &[String]) -> Result<(), (&'static str, String)> {
    for g in list {
        globset::Glob::new(g).map_err(|e| (key, format!("{g:?}: {}", e.kind())))?;
    }
    Ok(())
}
