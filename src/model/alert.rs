//! Alerts as data: the rule that raised one ([`RuleMeta`]: id, name,
//! severity, ATT&CK), the alert itself, and the evidence a correlated
//! scenario carries. The detectors make them, the record writer writes
//! them, the offline replay compares them: they sit below all three.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::model::event::{Body, Event, NetOp};
use crate::model::proctable::Process;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Every severity, lowest first; `as usize` is the position here.
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// ECS `event.severity` is numeric: the usual 21/47/73/99 scale.
    pub fn score(self) -> u8 {
        match self {
            Severity::Low => 21,
            Severity::Medium => 47,
            Severity::High => 73,
            Severity::Critical => 99,
        }
    }
}

/// An ATT&CK technique: id and, when known, name. A sub-technique's id
/// is its parent's with a suffix (`T1053.003`), its name ATT&CK's full
/// form, `Parent: Sub` (`Scheduled Task/Job: Cron`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Technique {
    pub id: String,
    pub name: Option<String>,
}

impl Technique {
    /// The parent technique's id (`T1053` of `T1053.003`; its own id
    /// for a technique), and whether this is a sub-technique.
    pub fn parent_id(&self) -> (&str, bool) {
        match self.id.split_once('.') {
            Some((parent, _)) => (parent, true),
            None => (&self.id, false),
        }
    }

    /// (the parent's name, the sub-technique's own name) of a
    /// sub-technique named `Parent: Sub`; a technique's name is the first.
    pub fn names(&self) -> (Option<&str>, Option<&str>) {
        let Some(name) = self.name.as_deref() else {
            return (None, None);
        };
        match (self.parent_id().1, name.split_once(": ")) {
            (true, Some((parent, sub))) => (Some(parent), Some(sub)),
            (true, None) => (None, Some(name)),
            (false, _) => (Some(name), None),
        }
    }
}

/// ATT&CK's enterprise tactics: name and id (`threat.tactic.id`).
pub const TACTICS: &[(&str, &str)] = &[
    ("Reconnaissance", "TA0043"),
    ("Resource Development", "TA0042"),
    ("Initial Access", "TA0001"),
    ("Execution", "TA0002"),
    ("Persistence", "TA0003"),
    ("Privilege Escalation", "TA0004"),
    ("Defense Evasion", "TA0005"),
    ("Credential Access", "TA0006"),
    ("Discovery", "TA0007"),
    ("Lateral Movement", "TA0008"),
    ("Collection", "TA0009"),
    ("Command and Control", "TA0011"),
    ("Exfiltration", "TA0010"),
    ("Impact", "TA0040"),
];

/// The id of the tactic named `name` (case aside), if ATT&CK has it.
pub fn tactic_id(name: &str) -> Option<&'static str> {
    TACTICS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, id)| *id)
}

/// What an alert says about the rule that raised it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMeta {
    pub id: String,
    pub name: String,
    pub description: String,
    pub severity: Severity,
    /// ATT&CK tactic names, e.g. "Persistence".
    pub tactics: Vec<String>,
    pub techniques: Vec<Technique>,
    /// `builtin`, or the rule file it came from.
    pub source: String,
    /// Sigma rules' `references` (`rule.reference`); empty for others.
    pub references: Vec<String>,
    /// Sigma rules' `author`, split at commas (`rule.author`).
    pub authors: Vec<String>,
}

/// One alert: the rule, the event that raised it, and a stable id.
#[derive(Debug, Clone)]
pub struct Alert {
    pub rule: Arc<RuleMeta>,
    pub event: Event,
    pub message: String,
    /// Stable: the same rule on the same event on the same host always
    /// gives the same id (see [`alert_id`]).
    pub id: String,
    /// A summary of a rate-limited burst: how many alerts it stands for.
    pub suppressed: u64,
    /// Scenario detections: the events that led here, oldest first (the
    /// last is `event`). Empty for single-event rules.
    pub evidence: Vec<Evidence>,
    /// The facts that set `rule.severity`, in the order they were weighed
    /// (`rand_guard.alert.severity_reasons`).
    pub reasons: Vec<String>,
    /// The package operation the alert's process (or the writer it
    /// scores) was part of (`rand_guard.context.package`).
    pub package: Option<Arc<PackageOp>>,
    /// `rg-ioc-match`: the list and entry that matched (`threat.*`).
    pub indicator: Option<Box<Indicator>>,
}

/// An indicator of compromise that matched (ECS `threat.feed.name`,
/// `threat.indicator.type`, `threat.indicator.name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indicator {
    /// The list: its file.
    pub feed: Arc<str>,
    /// `file`, `ipv4-addr`, `ipv6-addr` or `domain-name`.
    pub kind: &'static str,
    /// The entry as listed (a digest, an address, a CIDR block, a domain).
    pub entry: String,
}

/// A package operation: a package manager's run, recognized by the
/// executable of the manager (see `detect::context`), and what it was
/// doing when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageOp {
    /// The package manager: dpkg, apt, rpm, dnf, ...
    pub manager: &'static str,
    /// Its process id.
    pub pid: u32,
    /// The package, when one is named: by the maintainer script run
    /// (`/var/lib/dpkg/info/at.postinst`), else by the manager's command
    /// line when it names exactly one.
    pub name: Option<String>,
    /// What is being done: `unpack`, `configure`, `remove`, `purge`, ...
    /// (a maintainer script's first argument, else the manager's action).
    pub operation: Option<String>,
}

impl std::fmt::Display for PackageOp {
    /// "dpkg (pid 812) configure of package at".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (pid {})", self.manager, self.pid)?;
        match (&self.operation, &self.name) {
            (Some(op), Some(name)) => write!(f, " {op} of package {name}"),
            (Some(op), None) => write!(f, " {op}"),
            (None, Some(name)) => write!(f, " on package {name}"),
            (None, None) => Ok(()),
        }
    }
}

/// One event that contributed to an alert, as the alert shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// Wall-clock time of the event (for a process found in the ancestry:
    /// its start).
    pub time_ns: u64,
    /// `event.action` of the event.
    pub action: &'static str,
    pub pid: u32,
    pub executable: Option<String>,
    pub command_line: Option<String>,
    /// The file the event acted on (for an exec: the program run).
    pub path: Option<String>,
    /// The remote end of a connection.
    pub destination: Option<SocketAddr>,
}

impl Evidence {
    /// What `ev` contributes: who did what to which file or address.
    pub fn of(ev: &Event) -> Self {
        let proc = ev.process.as_deref();
        let (path, destination) = match &ev.body {
            Body::File(f) => (Some(f.path.clone()), None),
            Body::Net(n) if matches!(n.op, NetOp::Connect | NetOp::StdioSocket) => (None, n.remote),
            Body::Exec(x) => (Some(x.image.executable.clone()), None),
            _ => (None, None),
        };
        Evidence {
            time_ns: ev.time_ns,
            action: ev.body.action(),
            pid: ev.pid,
            executable: proc
                .map(|p| p.image.executable.clone())
                .filter(|e| !e.is_empty()),
            command_line: match &ev.body {
                Body::Exec(x) => Some(x.image.args.join(" ")),
                _ => None,
            },
            path,
            destination,
        }
    }

    /// A process found in the ancestry: its start stands for its exec.
    pub fn of_process(p: &Process) -> Self {
        Evidence {
            time_ns: p.start_time_ns,
            action: "exec",
            pid: p.pid,
            executable: Some(p.image.executable.clone()).filter(|e| !e.is_empty()),
            command_line: Some(p.image.args.join(" ")).filter(|c| !c.is_empty()),
            path: None,
            destination: None,
        }
    }
}

/// A stable alert id: 32 hex digits of two FNV-1a 64 hashes over the rule
/// id, the host, and the event's identity (time, pid, thread, action,
/// path). Replaying the same event through the same rule gives the same
/// id; FNV is fixed by its definition, unlike std's hasher.
pub fn alert_id(rule_id: &str, host: &str, ev: &Event) -> String {
    fn fnv(seed: u64, parts: &[&[u8]]) -> u64 {
        let mut h = seed;
        for part in parts {
            for b in part.iter().chain(std::iter::once(&0xffu8)) {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        h
    }
    let time = ev.time_ns.to_le_bytes();
    let pid = ev.pid.to_le_bytes();
    let tid = ev.tid.to_le_bytes();
    let path = match &ev.body {
        Body::File(f) => f.path.as_bytes(),
        _ => b"",
    };
    let parts: [&[u8]; 7] = [
        rule_id.as_bytes(),
        host.as_bytes(),
        &time,
        &pid,
        &tid,
        ev.body.action().as_bytes(),
        path,
    ];
    let a = fnv(0xcbf2_9ce4_8422_2325, &parts);
    let b = fnv(0x84222325_cbf29ce4, &parts);
    format!("{a:016x}{b:016x}")
}
