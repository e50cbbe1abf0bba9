//! Self-protection: the agent watching its own files and process.
//!
//! - `rg-agent-tamper`: a write, truncation, rename, delete, chmod, chown
//!   or link of the agent's binary, its BPF object (when loaded from a
//!   file), its configuration, its rules, or its systemd unit (and drop-in
//!   directory). The agent adds these paths to the kernel's watched
//!   prefixes (for detections only: they are written as telemetry only if
//!   `[file] include` covers them), so the alert does not depend on the
//!   include list.
//! - `rg-agent-signal`: a signal sent to the agent by another process (seen
//!   in the kernel at `signal_generate`). SIGHUP (the reload request) and
//!   the signals that by default continue or are ignored (SIGCONT,
//!   SIGCHLD, SIGURG, SIGWINCH) are recorded but do not alert, and so is
//!   any signal from PID 1 (the service manager stopping the agent:
//!   `systemctl stop`, a shutdown; only root can act as PID 1); SIGTERM
//!   and SIGINT (a stop) from anyone else are medium;
//!   anything else (SIGKILL, SIGSTOP, SIGQUIT, SIGUSR1, ... which end or
//!   freeze the agent without it flushing) is high.
//!
//! What this is worth: a non-root attacker who gained write access to one
//! of these files, or the right to signal the agent, is seen doing it.
//! Root can stop the agent with SIGKILL before it reads the record, or
//! unload its programs: docs/threat-model.md says so.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config;
use crate::model::alert::{RuleMeta, Severity, Technique};
use crate::model::event::{Body, Event, FileOp};

/// Where the packages install the unit, and where an override goes.
pub const UNIT_PATHS: &[&str] = &[
    "/etc/systemd/system/rand-guard.service",
    "/etc/systemd/system/rand-guard.service.d",
    "/usr/lib/systemd/system/rand-guard.service",
    "/lib/systemd/system/rand-guard.service",
];

/// At most this many protected paths: the kernel prefix trie has room for
/// `config::MAX_PREFIXES` configured prefixes plus these.
pub const MAX_PROTECTED: usize = 8;
// Two trie entries per prefix: the configured ones, these, and the
// accounts' ~/.ssh directories all fit the kernel's trie.
const _: () = assert!(
    2 * (crate::config::MAX_PREFIXES
        + MAX_PROTECTED
        + crate::detect::persistence::MAX_ACCOUNT_SSH_DIRS)
        <= crate::kernel::abi::PREFIX_ENTRIES
);

/// One of the agent's own files (or directories: everything below).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protected {
    /// What it is, for the message: "binary", "configuration", ...
    pub what: &'static str,
    pub path: String,
}

/// The agent's own files: its binary, the BPF object if it is a file, the
/// configuration file (if one was read), the rules directory, the unit.
/// Paths are made absolute and symlinks resolved where the file exists (the
/// kernel reports resolved paths); a missing file is still protected by
/// the name it would have (creating it is tampering too).
pub fn protected_paths(
    exe: Option<&Path>,
    object: Option<&Path>,
    config: Option<&Path>,
    rules_dir: &Path,
) -> Vec<Protected> {
    fn abs(p: &Path) -> String {
        std::fs::canonicalize(p)
            .unwrap_or_else(|_| {
                if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    std::env::current_dir()
                        .map(|d| d.join(p))
                        .unwrap_or_else(|_| PathBuf::from(p))
                }
            })
            .to_string_lossy()
            .into_owned()
    }
    let mut out = Vec::new();
    let mut add = |what, path: String| {
        if !out.iter().any(|x: &Protected| x.path == path) {
            out.push(Protected { what, path });
        }
    };
    if let Some(p) = exe {
        add("binary", abs(p));
    }
    if let Some(p) = object {
        add("BPF object", abs(p));
    }
    if let Some(p) = config {
        add("configuration", abs(p));
    }
    add("rules", abs(rules_dir));
    // As listed, not resolved: with /lib a link to /usr/lib the kernel
    // reports the /usr/lib name, without it the /lib one.
    for u in UNIT_PATHS {
        add("systemd unit", u.to_string());
    }
    out.truncate(MAX_PROTECTED);
    out
}

fn builtin(id: &str, name: &str, description: &str, severity: Severity) -> Arc<RuleMeta> {
    Arc::new(RuleMeta {
        id: id.into(),
        name: name.into(),
        description: description.into(),
        severity,
        tactics: vec!["Defense Evasion".into()],
        techniques: vec![Technique {
            id: "T1562.001".into(),
            name: Some("Impair Defenses: Disable or Modify Tools".into()),
        }],
        source: "builtin".into(),
        references: Vec::new(),
        authors: Vec::new(),
    })
}

/// The two self-protection detections, minus the disabled ones.
pub struct Tamper {
    files: Option<Arc<RuleMeta>>,
    protected: Vec<Protected>,
    signals: Option<Arc<RuleMeta>>,
    /// The agent's process id: signals to anyone else are not ours (a
    /// replay of another host's records, say).
    agent_pid: Option<u32>,
}

pub const IDS: &[&str] = &["rg-agent-tamper", "rg-agent-signal"];

impl Tamper {
    pub fn new(d: &config::Detections) -> Self {
        let on = |id: &str| !d.disabled.iter().any(|x| x == id);
        Tamper {
            files: on("rg-agent-tamper").then(|| {
                builtin(
                    "rg-agent-tamper",
                    "Agent file tampered with",
                    "The agent's binary, BPF object, configuration, rules or systemd unit was \
                     written, truncated, renamed, deleted, linked, or had its mode or owner \
                     changed by another process.",
                    Severity::High,
                )
            }),
            protected: Vec::new(),
            signals: on("rg-agent-signal").then(|| {
                builtin(
                    "rg-agent-signal",
                    "Signal sent to the agent",
                    "Another process sent the agent a signal that stops it (SIGTERM, SIGINT: \
                     medium) or kills, freezes or ends it without a flush (SIGKILL, SIGSTOP, \
                     SIGQUIT, ...: high). SIGHUP, the reload request, does not alert, nor \
                     does a signal from the service manager (PID 1).",
                    Severity::High,
                )
            }),
            agent_pid: None,
        }
    }

    /// Protect these files (the agent's own, see [`protected_paths`]).
    pub fn protect(&mut self, paths: Vec<Protected>) {
        self.protected = paths;
    }

    /// Signals to this process are the agent's.
    pub fn set_agent_pid(&mut self, pid: u32) {
        self.agent_pid = Some(pid);
    }

    pub fn enabled(&self) -> impl Iterator<Item = &str> {
        self.files
            .iter()
            .chain(self.signals.iter())
            .map(|r| r.id.as_str())
    }

    /// Whether the kernel should watch the protected paths.
    pub fn watches_files(&self) -> bool {
        self.files.is_some()
    }

    fn protected_of(&self, path: &str) -> Option<&Protected> {
        self.protected.iter().find(|p| {
            path == p.path
                || path
                    .strip_prefix(p.path.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    }

    /// The alert `ev` raises, if any: (rule, severity, message, the facts
    /// that set the severity).
    pub fn hit(&self, ev: &Event) -> Option<(Arc<RuleMeta>, Severity, String, Vec<String>)> {
        // Only on a hit: this runs for every event on the detector thread.
        let by = || match ev.process.as_deref().map(|p| p.image.executable.as_str()) {
            Some(exe) if !exe.is_empty() => format!("{exe}, pid {}", ev.pid),
            _ => format!("pid {}", ev.pid),
        };
        match &ev.body {
            Body::File(f) if f.result >= 0 && !f.is_read() => {
                let rule = self.files.as_ref()?;
                let linked = (f.op == FileOp::Link)
                    .then_some(f.target_path.as_deref())
                    .flatten();
                let (p, path) = [Some(f.path.as_str()), f.original_path.as_deref(), linked]
                    .into_iter()
                    .flatten()
                    .find_map(|path| self.protected_of(path).map(|p| (p, path)))?;
                let verb = match f.op {
                    FileOp::Open => "written",
                    FileOp::Unlink => "deleted",
                    FileOp::Rename if Some(path) == f.original_path.as_deref() => "renamed away",
                    FileOp::Rename => "replaced",
                    FileOp::Chmod => "given a new mode",
                    FileOp::Chown => "given a new owner",
                    FileOp::SetXattr | FileOp::RemoveXattr => "given new attributes",
                    FileOp::Link if Some(path) == linked => "hard-linked elsewhere",
                    FileOp::Link | FileOp::Symlink => "replaced by a link",
                    // Refused execs fail (result < 0): never here.
                    FileOp::ExecRefused => "executed",
                };
                Some((
                    rule.clone(),
                    rule.severity,
                    format!(
                        "Agent {} {verb}: {path} ({} by {})",
                        p.what,
                        f.op.action(),
                        by()
                    ),
                    vec![format!(
                        "the agent's {} was {verb} by another process: high whoever did it",
                        p.what
                    )],
                ))
            }
            Body::Signal(s) => {
                let rule = self.signals.as_ref()?;
                if self.agent_pid.is_some_and(|pid| pid != s.target_pid) {
                    return None;
                }
                let name = s.name();
                let (severity, why) = match name.as_str() {
                    // Reload; and what by default continues or is ignored.
                    "SIGHUP" | "SIGCONT" | "SIGCHLD" | "SIGURG" | "SIGWINCH" => return None,
                    "SIGTERM" | "SIGINT" => (
                        Severity::Medium,
                        "a stop the agent handles: it drains and writes this alert first",
                    ),
                    _ => (
                        Severity::High,
                        "it ends or freezes the agent without a flush",
                    ),
                };
                if ev.pid == 1 {
                    // The service manager stopping the agent (`systemctl
                    // stop`, a shutdown): the signal event is written, and
                    // the stop is logged, not alerted.
                    eprintln!(
                        "rand-guard: {name} from the service manager (PID 1): recorded, \
                         not alerted"
                    );
                    return None;
                }
                Some((
                    rule.clone(),
                    severity,
                    format!(
                        "{name} sent to the agent (pid {}) by {}",
                        s.target_pid,
                        by()
                    ),
                    vec![
                        format!("{name}: {why}"),
                        format!("sent by pid {}, not by the service manager (PID 1)", ev.pid),
                    ],
                ))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
