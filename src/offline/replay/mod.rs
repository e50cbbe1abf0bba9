//! Replay: turn a written event record back into the [`Event`] it was
//! written from.
//!
//! Rule authors test rules on recorded telemetry (`rand-guard rules test
//! --events FILE.jsonl`): the recorded events must go through the same
//! [`Detector`](crate::detect::Detector) as in the live agent and raise
//! the same alerts, with the same ids. So the contract here is fidelity:
//! a replayed event, written back with the record's hostname, is the very
//! line it came from (the tests check every golden line).
//!
//! Each line stands alone: the process context (the subject, its parent
//! from `process.parent.*`, the ancestors from `rand_guard.ancestry`) is
//! rebuilt from the line itself, not by following exec and fork records,
//! so a line replays the same whether or not the lines before it are
//! there. Alert and health records are outputs, not inputs, and are
//! skipped: an alert's event is the event record written just before it.
//!
//! Fields the writer derives from others (`process.name` from the
//! executable, `file.name`, `event.type`, ...) are not read. When a line
//! carries them they must agree with what they derive from, so an edited
//! copy (say `process.name` changed, `process.executable` not) fails
//! loudly instead of replaying something other than it shows. Keys this
//! version does not know are ignored: later agents add fields without
//! changing the schema version.
//!
//! A record carries wall time only. Replay uses it as the kernel clock
//! too (`ktime_ns = time_ns`, process start times likewise), so process
//! lifetimes and alert rate limiting run on event time. docs/schema.md,
//! "Replaying records", lists what a record does not carry.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::model::event::Event;
use crate::record::SCHEMA_VERSION;

mod derived;
mod event;
mod json;
mod process;
mod stdio;

use event::event_of;
use json::*;

/// One replayable record: the event and the host it was recorded on.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub event: Event,
    /// `host.hostname`: alert ids depend on it, so a detector replaying
    /// this event must be built for this host.
    pub hostname: String,
    /// `host.id` and `agent.id` as recorded: what the alerts written
    /// offline carry (this host's would be another's).
    pub host_id: Option<String>,
    pub agent_id: String,
}

/// Why a line cannot be replayed: where (file, line, key) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayError {
    file: Option<PathBuf>,
    line: Option<usize>,
    key: String,
    reason: String,
}

impl ReplayError {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ReplayError {
            file: None,
            line: None,
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// The 1-based line number of the line the error is about.
    pub fn with_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    /// The events file the line came from.
    pub fn with_file(mut self, file: &Path) -> Self {
        self.file = Some(file.to_path_buf());
        self
    }

    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The offending key as a path (`process.parent.pid`,
    /// `rand_guard.ancestry[2].pid`); empty when the line is not a JSON
    /// object at all, or the file cannot be read.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "events file {}", file.display())?;
            if self.line.is_some() {
                f.write_str(" ")?;
            }
        }
        if let Some(line) = self.line {
            write!(f, "line {line}")?;
        }
        if self.file.is_some() || self.line.is_some() {
            f.write_str(": ")?;
        }
        if !self.key.is_empty() {
            write!(f, "key `{}`: ", self.key)?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for ReplayError {}

/// Records [`read_all`] passed over: outputs of the agent, not events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    pub alerts: usize,
    pub health: usize,
}

/// Parse one line. Ok(Some) for an event record; Ok(None) for alert and
/// health records and blank lines; Err for anything malformed, an
/// unknown `event.action` or an unsupported `schema_version`. The error
/// names the key; the caller adds the line ([`ReplayError::with_line`]).
pub fn parse_line(line: &str) -> Result<Option<Replayed>, ReplayError> {
    Ok(match parse(line, false)? {
        Parsed::Event(r) => Some(r),
        Parsed::Blank | Parsed::Alert | Parsed::Health => None,
    })
}

/// Every event record of a JSON-lines file, in file order, and how many
/// alert and health records were skipped. Stops at the first bad line:
/// the error names the file and line.
pub fn read_all(path: &Path) -> Result<(Vec<Replayed>, Skipped), ReplayError> {
    let mut events = Vec::new();
    let skipped = for_each(path, |r| events.push(r))?;
    Ok((events, skipped))
}

/// As [`read_all`], handing each event to `f` as it is read, so a large
/// file is never held in memory. Stops at the first bad line.
pub fn for_each(path: &Path, mut f: impl FnMut(Replayed)) -> Result<Skipped, ReplayError> {
    let file_err = |e: ReplayError| e.with_file(path);
    let file = std::fs::File::open(path)
        .map_err(|e| file_err(ReplayError::new("", format!("cannot open: {e}"))))?;
    let mut skipped = Skipped::default();
    // Lines as bytes: a line that is not UTF-8 is an error of that line,
    // not of the file.
    for (i, bytes) in BufReader::new(file).split(b'\n').enumerate() {
        let at = |e: ReplayError| file_err(e.with_line(i + 1));
        let bytes = bytes.map_err(|e| at(ReplayError::new("", format!("cannot read: {e}"))))?;
        let line = std::str::from_utf8(&bytes)
            .map_err(|e| at(ReplayError::new("", format!("not UTF-8: {e}"))))?;
        match parse(line, false).map_err(at)? {
            Parsed::Event(r) => f(r),
            Parsed::Alert => skipped.alerts += 1,
            Parsed::Health => skipped.health += 1,
            Parsed::Blank => {}
        }
    }
    Ok(skipped)
}

// Each Parsed is moved once, into the caller's list: boxing the event
// would only add an allocation per line.
#[allow(clippy::large_enum_variant)]
enum Parsed {
    Blank,
    Event(Replayed),
    Alert,
    Health,
}

/// `alert_events`: read an alert record's embedded event (its alert
/// parts ignored) instead of skipping it; the tests use it.
fn parse(line: &str, alert_events: bool) -> Result<Parsed, ReplayError> {
    if line.trim().is_empty() {
        return Ok(Parsed::Blank);
    }
    let value: Value = serde_json::from_str(line).map_err(|e| {
        // serde_json says "at line 1 column N": the line is ours to name.
        let msg = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let msg = msg.strip_suffix(&suffix).unwrap_or(&msg);
        ReplayError::new(
            "",
            format!("not valid JSON at column {}: {msg}", e.column()),
        )
    })?;
    let Some(map) = value.as_object() else {
        return Err(ReplayError::new(
            "",
            format!("expected a JSON object, found {}", found(&value)),
        ));
    };
    let root = Obj {
        map,
        path: String::new(),
    };
    let version = root.need("schema_version", unsigned::<u64>)?;
    if version != u64::from(SCHEMA_VERSION) {
        return Err(root.err(
            "schema_version",
            format!(
                "version {version} is not supported: this agent reads version {SCHEMA_VERSION}"
            ),
        ));
    }
    match root.need("record_type", string)? {
        "event" => Ok(Parsed::Event(event_of(&root, &value)?)),
        "alert" if alert_events => Ok(Parsed::Event(event_of(&root, &value)?)),
        "alert" => Ok(Parsed::Alert),
        "health" => Ok(Parsed::Health),
        other => Err(root.err(
            "record_type",
            format!("expected `event`, `alert` or `health`, found `{other}`"),
        )),
    }
}

#[cfg(test)]
mod tests;
