//! Detector stage: userspace filtering, then detections.
//!
//! In: enriched event batches. Out: output [`Record`]s: each kept event,
//! followed by the alerts it raised. Counts: events dropped by the
//! userspace filter (see [`crate::filter`]).
//!
//! Built-in detections are listed in [`BUILTIN_IDS`] and documented in
//! docs/detections.md; each can be turned off with `[detections] disabled`.

use std::fmt;
use std::sync::Arc;

use crossbeam_channel::Receiver;

use crate::channel::Outlet;
use globset::GlobSet;

use std::collections::HashSet;

use crate::config;
use crate::event::{Body, Event, FileOp, NetOp};
use crate::filter::{self, Filter};
use crate::record::Record;
use crate::stats::Stats;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
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

/// An ATT&CK technique: id and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Technique {
    pub id: String,
    pub name: String,
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
}

/// Every built-in detection id, stable across releases.
pub const BUILTIN_IDS: &[&str] = &[
    "rg-net-suspicious-port",
    "rg-persist-systemd-unit",
    "rg-persist-cron",
    "rg-persist-ssh-authorized-keys",
    "rg-persist-ld-preload",
    "rg-persist-rc-scripts",
    "rg-persist-shell-profile",
    "rg-persist-sudoers",
    "rg-persist-account-files",
];

/// Shell start-up files in a home directory, for root and for /home/*.
const PROFILE_FILES: &[&str] = &[
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zprofile",
    ".zshenv",
    ".zlogin",
];

struct PersistenceSpec {
    id: &'static str,
    name: &'static str,
    description: &'static str,
    severity: Severity,
    technique: (&'static str, &'static str),
    paths: fn() -> Vec<String>,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn home_files(names: &[&str]) -> Vec<String> {
    names
        .iter()
        .flat_map(|n| [format!("/root/{n}"), format!("/home/*/{n}")])
        .collect()
}

/// The persistence locations, one spec per detection.
const PERSISTENCE: &[PersistenceSpec] = &[
    PersistenceSpec {
        id: "rg-persist-systemd-unit",
        name: "Systemd unit file written",
        description: "A systemd unit, drop-in or enablement link was created or changed in a \
                      system or user unit directory, or a unit file (.service, .timer, .socket, \
                      .path) was written anywhere watched (`systemctl link` and `enable` take \
                      unit files from any path): systemd runs it at boot or login.",
        severity: Severity::High,
        technique: (
            "T1543.002",
            "Create or Modify System Process: Systemd Service",
        ),
        paths: || {
            let mut v = strings(&[
                "/etc/systemd/system/**",
                "/etc/systemd/user/**",
                "/usr/lib/systemd/system/**",
                "/usr/lib/systemd/user/**",
                "/lib/systemd/system/**",
                "/lib/systemd/user/**",
                "/run/systemd/system/**",
            ]);
            v.extend(home_files(&[".config/systemd/user/**"]));
            v.extend(strings(&[
                "/**/*.service",
                "/**/*.timer",
                "/**/*.socket",
                "/**/*.path",
            ]));
            v
        },
    },
    PersistenceSpec {
        id: "rg-persist-cron",
        name: "Cron job written",
        description: "A system or user crontab, or a file in a cron directory, was created or \
                      changed: cron runs it on a schedule.",
        severity: Severity::High,
        technique: ("T1053.003", "Scheduled Task/Job: Cron"),
        paths: || {
            strings(&[
                "/etc/crontab",
                "/etc/anacrontab",
                "/etc/cron.d/**",
                "/etc/cron.hourly/**",
                "/etc/cron.daily/**",
                "/etc/cron.weekly/**",
                "/etc/cron.monthly/**",
                "/var/spool/cron/**",
            ])
        },
    },
    PersistenceSpec {
        id: "rg-persist-ssh-authorized-keys",
        name: "SSH authorized_keys written",
        description: "An authorized_keys file was created or changed: whoever holds the key can \
                      log in as that user.",
        severity: Severity::High,
        technique: ("T1098.004", "Account Manipulation: SSH Authorized Keys"),
        paths: || home_files(&[".ssh/authorized_keys", ".ssh/authorized_keys2"]),
    },
    PersistenceSpec {
        id: "rg-persist-ld-preload",
        name: "ld.so.preload written",
        description: "/etc/ld.so.preload was created or changed: the libraries it names are \
                      loaded into every dynamically linked program.",
        severity: Severity::Critical,
        technique: (
            "T1574.006",
            "Hijack Execution Flow: Dynamic Linker Hijacking",
        ),
        paths: || strings(&["/etc/ld.so.preload"]),
    },
    PersistenceSpec {
        id: "rg-persist-rc-scripts",
        name: "Boot script written",
        description: "/etc/rc.local or an init script was created or changed: it runs at boot.",
        severity: Severity::High,
        technique: (
            "T1037.004",
            "Boot or Logon Initialization Scripts: RC Scripts",
        ),
        paths: || strings(&["/etc/rc.local", "/etc/init.d/**", "/etc/rc[0-6S].d/**"]),
    },
    PersistenceSpec {
        id: "rg-persist-shell-profile",
        name: "Shell profile written",
        description: "A system-wide or per-user shell start-up file was created or changed: \
                      its commands run in every new shell.",
        severity: Severity::Medium,
        technique: (
            "T1546.004",
            "Event Triggered Execution: Unix Shell Configuration Modification",
        ),
        paths: || {
            let mut v = strings(&[
                "/etc/profile",
                "/etc/profile.d/**",
                "/etc/bash.bashrc",
                "/etc/bashrc",
                "/etc/zsh/**",
            ]);
            v.extend(home_files(PROFILE_FILES));
            v
        },
    },
    PersistenceSpec {
        id: "rg-persist-sudoers",
        name: "Sudoers written",
        description: "The sudoers policy or a drop-in was created or changed: it decides who may \
                      run what as root.",
        severity: Severity::High,
        technique: (
            "T1548.003",
            "Abuse Elevation Control Mechanism: Sudo and Sudo Caching",
        ),
        paths: || strings(&["/etc/sudoers", "/etc/sudoers.d/**"]),
    },
    PersistenceSpec {
        id: "rg-persist-account-files",
        name: "Account database written",
        description: "/etc/passwd, /etc/shadow, /etc/group or /etc/gshadow was changed: accounts, \
                      passwords or group memberships changed.",
        severity: Severity::Medium,
        technique: ("T1136.001", "Create Account: Local Account"),
        paths: || strings(&["/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow"]),
    },
];

/// A compiled persistence detection.
struct PathRule {
    meta: Arc<RuleMeta>,
    paths: GlobSet,
}

impl PathRule {
    /// Writes, creates, renames into, links, chmod and chown of a watched
    /// location, when they succeeded. Unlinks are not persistence.
    fn hit(&self, ev: &Event) -> bool {
        let Body::File(f) = &ev.body else {
            return false;
        };
        f.result >= 0 && f.op != FileOp::Unlink && self.paths.is_match(&f.path)
    }
}

/// The built-in detections, minus the disabled ones.
/// rg-net-suspicious-port: listening on, or connecting to, a port that
/// remote-access tools and malware favour.
struct PortRule {
    meta: Arc<RuleMeta>,
    ports: Vec<u16>,
    loopback: bool,
}

impl PortRule {
    fn hit(&self, ev: &Event) -> bool {
        let Body::Net(n) = &ev.body else {
            return false;
        };
        let end = match n.op {
            NetOp::Connect => n.remote,
            NetOp::Bind | NetOp::Listen => n.local,
            NetOp::Accept | NetOp::DnsQuery => None,
        };
        end.is_some_and(|a| {
            self.ports.contains(&a.port()) && (self.loopback || !a.ip().is_loopback())
        })
    }
}

/// Processes an alert-once rule already alerted for, bounded.
const ONCE_MAX: usize = 4096;

pub struct Detector {
    persistence: Vec<PathRule>,
    ports: Option<PortRule>,
    /// (rule, pid, process start) of alerts raised once per process.
    once: HashSet<(usize, u32, u64)>,
    host: String,
    stats: Option<Arc<Stats>>,
}

impl Detector {
    /// The built-ins of `cfg`; `stats` counts suppressed repeats.
    pub fn new(cfg: &config::Detections, host: &str, stats: Option<Arc<Stats>>) -> Self {
        let disabled = &cfg.disabled;
        let persistence = PERSISTENCE
            .iter()
            .filter(|s| !disabled.iter().any(|d| d == s.id))
            .map(|s| PathRule {
                meta: Arc::new(RuleMeta {
                    id: s.id.into(),
                    name: s.name.into(),
                    description: s.description.into(),
                    severity: s.severity,
                    tactics: vec!["Persistence".into()],
                    techniques: vec![Technique {
                        id: s.technique.0.into(),
                        name: s.technique.1.into(),
                    }],
                    source: "builtin".into(),
                }),
                paths: filter::globset(&(s.paths)()).expect("built-in globs are valid"),
            })
            .collect();
        let ports = (!disabled.iter().any(|d| d == "rg-net-suspicious-port")).then(|| PortRule {
            meta: Arc::new(RuleMeta {
                id: "rg-net-suspicious-port".into(),
                name: "Suspicious port".into(),
                description: "A process listened on, bound, or connected to a port that \
                              remote-access tools, reverse shells and IRC-controlled malware favour \
                              (detections.suspicious_ports). Raised once per process."
                    .into(),
                severity: Severity::Medium,
                tactics: vec!["Command and Control".into()],
                techniques: vec![Technique {
                    id: "T1571".into(),
                    name: "Non-Standard Port".into(),
                }],
                source: "builtin".into(),
            }),
            ports: cfg.suspicious_ports.clone(),
            loopback: cfg.suspicious_ports_loopback,
        });
        Detector {
            persistence,
            ports,
            once: HashSet::new(),
            host: host.to_string(),
            stats,
        }
    }

    /// Ids of the enabled detections.
    pub fn enabled(&self) -> impl Iterator<Item = &str> {
        self.ports
            .iter()
            .map(|r| r.meta.id.as_str())
            .chain(self.persistence.iter().map(|r| r.meta.id.as_str()))
    }

    /// Alerts `ev` raises, appended to `out`.
    pub fn detect(&mut self, ev: &Event, out: &mut Vec<Alert>) {
        for rule in &self.persistence {
            if rule.hit(ev) {
                out.push(self.alert(&rule.meta, ev));
            }
        }
        if let Some(rule) = &self.ports
            && rule.hit(ev)
        {
            let start = ev.process.as_ref().map_or(0, |p| p.start_ns);
            let key = (0, ev.pid, start);
            if self.once.contains(&key) {
                if let Some(s) = &self.stats {
                    s.count_rate_limited(1);
                }
            } else {
                if self.once.len() >= ONCE_MAX {
                    // Keep the bound: forget everything (a repeat may then
                    // alert once more; never silently lose a first one).
                    self.once.clear();
                }
                self.once.insert(key);
                out.push(self.alert(&rule.meta, ev));
            }
        }
        if let Body::Exit(_) = ev.body {
            // The process is gone: its "already alerted" entries are too.
            self.once.retain(|(_, pid, _)| *pid != ev.pid);
        }
    }

    fn alert(&self, rule: &Arc<RuleMeta>, ev: &Event) -> Alert {
        Alert {
            rule: rule.clone(),
            message: Message(rule, ev).to_string(),
            id: alert_id(&rule.id, &self.host, ev),
            event: ev.clone(),
        }
    }
}

/// "Cron job written: /etc/cron.d/x (open by /usr/bin/cp, pid 42)".
struct Message<'a>(&'a RuleMeta, &'a Event);

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (rule, ev) = (self.0, self.1);
        write!(f, "{}", rule.name)?;
        if let Body::File(file) = &ev.body {
            write!(f, ": {}", file.path)?;
            if let Some(old) = &file.original_path {
                write!(f, " (renamed from {old})")?;
            }
            write!(f, " ({}", file.op.action())?;
        } else {
            write!(f, " ({}", ev.body.action())?;
        }
        match ev.process.as_deref().map(|p| p.image.executable.as_str()) {
            Some(exe) if !exe.is_empty() => write!(f, " by {exe}, pid {})", ev.pid),
            _ => write!(f, " by pid {})", ev.pid),
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

/// The stage loop: runs until the enricher hangs up.
/// Which families' event records are written (`[events]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventOutput {
    pub process: bool,
    pub file: bool,
    pub network: bool,
}

impl EventOutput {
    pub fn from_config(cfg: &config::Config) -> Self {
        let e = &cfg.events;
        EventOutput {
            process: e.process.unwrap_or(true),
            file: e.file.unwrap_or(true) && cfg.file.enabled,
            network: e.network.unwrap_or(true) && cfg.network.enabled,
        }
    }

    fn wants(&self, ev: &Event) -> bool {
        match ev.body {
            Body::Exec(_) | Body::Fork(_) | Body::Exit(_) => self.process,
            Body::File(_) => self.file,
            Body::Net(_) => self.network,
        }
    }
}

pub fn run(
    rx: Receiver<Vec<Event>>,
    tx: Outlet<Vec<Record>>,
    filter: Filter,
    mut detector: Detector,
    output: EventOutput,
    stats: Arc<Stats>,
) {
    let mut alerts = Vec::new();
    for batch in rx {
        let mut out = Vec::with_capacity(batch.len());
        let mut dropped = 0;
        for ev in batch {
            if !filter.keep(&ev) {
                dropped += 1;
                continue;
            }
            detector.detect(&ev, &mut alerts);
            if output.wants(&ev) {
                out.push(Record::Event(ev));
            } else {
                // Collected for detection only ([events] says so): counted.
                dropped += 1;
            }
            out.extend(alerts.drain(..).map(Record::Alert));
        }
        if dropped > 0 {
            stats.count_userspace_filtered(dropped);
        }
        if !out.is_empty() && tx.send(out).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{FileBody, FileTruncation};

    fn file(op: FileOp, path: &str, result: i64) -> Event {
        Event {
            seq: 7,
            time_ns: 1_000,
            ktime_ns: 5,
            pid: 42,
            tid: 42,
            body: Body::File(FileBody {
                op,
                syscall: "openat",
                path: path.into(),
                original_path: None,
                target_path: None,
                result,
                open_flags: 0o1101,
                mode: None,
                owner: None,
                group: None,
                at_flags: 0,
                resolved: true,
                unfiltered: false,
                truncated: FileTruncation::default(),
            }),
            process: None,
        }
    }

    fn detector(disabled: &[&str]) -> Detector {
        let cfg = config::Detections {
            disabled: disabled.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        Detector::new(&cfg, "h", None)
    }

    fn hits(d: &mut Detector, ev: &Event) -> Vec<String> {
        let mut out = Vec::new();
        d.detect(ev, &mut out);
        out.into_iter().map(|a| a.rule.id.clone()).collect()
    }

    #[test]
    fn every_builtin_has_a_spec_and_the_ids_are_unique() {
        let ids: Vec<&str> = PERSISTENCE.iter().map(|s| s.id).collect();
        assert_eq!(ids, BUILTIN_IDS[1..]);
        let d = detector(&[]);
        assert_eq!(d.enabled().count(), BUILTIN_IDS.len());
    }

    /// (path, the one detection it must raise) for each built-in.
    const POSITIVES: &[(&str, &str)] = &[
        (
            "/etc/systemd/system/evil.service",
            "rg-persist-systemd-unit",
        ),
        (
            "/etc/systemd/system/multi-user.target.wants/evil.service",
            "rg-persist-systemd-unit",
        ),
        ("/usr/lib/systemd/system/x.timer", "rg-persist-systemd-unit"),
        ("/lib/systemd/system/x.service", "rg-persist-systemd-unit"),
        ("/run/systemd/system/x.service", "rg-persist-systemd-unit"),
        (
            "/home/ann/.config/systemd/user/x.service",
            "rg-persist-systemd-unit",
        ),
        (
            "/root/.config/systemd/user/default.target.wants/x.service",
            "rg-persist-systemd-unit",
        ),
        (
            "/etc/rand-guard-quickstart.service",
            "rg-persist-systemd-unit",
        ),
        ("/home/ann/backdoor.timer", "rg-persist-systemd-unit"),
        ("/etc/crontab", "rg-persist-cron"),
        ("/etc/cron.d/job", "rg-persist-cron"),
        ("/etc/cron.daily/job", "rg-persist-cron"),
        ("/var/spool/cron/crontabs/root", "rg-persist-cron"),
        (
            "/root/.ssh/authorized_keys",
            "rg-persist-ssh-authorized-keys",
        ),
        (
            "/home/ann/.ssh/authorized_keys2",
            "rg-persist-ssh-authorized-keys",
        ),
        ("/etc/ld.so.preload", "rg-persist-ld-preload"),
        ("/etc/rc.local", "rg-persist-rc-scripts"),
        ("/etc/init.d/evil", "rg-persist-rc-scripts"),
        ("/etc/rc2.d/S99evil", "rg-persist-rc-scripts"),
        ("/etc/profile", "rg-persist-shell-profile"),
        ("/etc/profile.d/evil.sh", "rg-persist-shell-profile"),
        ("/etc/bash.bashrc", "rg-persist-shell-profile"),
        ("/root/.bashrc", "rg-persist-shell-profile"),
        ("/home/ann/.profile", "rg-persist-shell-profile"),
        ("/home/ann/.zshrc", "rg-persist-shell-profile"),
        ("/etc/sudoers", "rg-persist-sudoers"),
        ("/etc/sudoers.d/evil", "rg-persist-sudoers"),
        ("/etc/passwd", "rg-persist-account-files"),
        ("/etc/shadow", "rg-persist-account-files"),
        ("/etc/group", "rg-persist-account-files"),
        ("/etc/gshadow", "rg-persist-account-files"),
    ];

    #[test]
    fn each_location_raises_its_detection() {
        let mut d = detector(&[]);
        for (path, id) in POSITIVES {
            for op in [
                FileOp::Open,
                FileOp::Rename,
                FileOp::Chmod,
                FileOp::Chown,
                FileOp::Link,
                FileOp::Symlink,
            ] {
                assert_eq!(
                    hits(&mut d, &file(op, path, 0)),
                    vec![id.to_string()],
                    "{op:?} {path}"
                );
            }
        }
        // Every persistence built-in has at least one positive above.
        for id in &BUILTIN_IDS[1..] {
            assert!(POSITIVES.iter().any(|(_, i)| i == id), "{id} untested");
        }
    }

    #[test]
    fn near_misses_stay_silent() {
        let mut d = detector(&[]);
        let quiet = [
            "/etc/systemd/system.conf.bak-reader",
            "/etc/rand-guard-quickstart.service.bak",
            "/etc/services",
            "/etc/systemd/system.conf",
            "/etc/systemd/systemx/evil.conf",
            "/etc/crontab.bak",
            "/etc/cron.dx/job",
            "/root/.ssh/known_hosts",
            "/home/ann/work/.ssh/authorized_keys",
            "/etc/ld.so.preload.d/x",
            "/etc/ld.so.cache",
            "/etc/rc.localx",
            "/etc/passwd-",
            "/etc/passwd.lock",
            "/etc/.sudoers.swp",
            "/tmp/etc/cron.d/job",
            "/home/ann/.bashrc.d/x",
        ];
        for path in quiet {
            assert!(
                hits(&mut d, &file(FileOp::Open, path, 0)).is_empty(),
                "{path}"
            );
        }
        // Unlinking a unit removes persistence; it is not an alert.
        assert!(hits(&mut d, &file(FileOp::Unlink, "/etc/cron.d/job", 0)).is_empty());
        // A failed write changed nothing.
        assert!(hits(&mut d, &file(FileOp::Open, "/etc/cron.d/job", -13)).is_empty());
        // A non-file event never matches.
        let exit = Event {
            body: Body::Exit(crate::event::ExitBody {
                start_ns: 0,
                ppid: 1,
                name: "x".into(),
                status: crate::event::ExitStatus::from_wait_status(0),
            }),
            ..file(FileOp::Open, "/etc/crontab", 0)
        };
        assert!(hits(&mut d, &exit).is_empty());
    }

    fn net(op: NetOp, pid: u32, local: &str, remote: Option<&str>) -> Event {
        use crate::event::{NetBody, NetFamily, NetTruncation};
        Event {
            pid,
            tid: pid,
            body: Body::Net(NetBody {
                op,
                syscall: "connect",
                result: 0,
                in_progress: false,
                family: NetFamily::Inet,
                protocol: 6,
                sock_type: 1,
                local: Some(local.parse().unwrap()),
                remote: remote.map(|r| r.parse().unwrap()),
                unix_path: None,
                dns: None,
                truncated: NetTruncation::default(),
            }),
            ..file(FileOp::Open, "/", 0)
        }
    }

    #[test]
    fn suspicious_ports_alert_once_per_process() {
        let stats = Arc::new(Stats::default());
        let mut d = Detector::new(&config::Detections::default(), "h", Some(stats.clone()));
        // A listener binds, then listens: one alert.
        assert_eq!(
            hits(&mut d, &net(NetOp::Bind, 10, "0.0.0.0:4444", None)),
            ["rg-net-suspicious-port"]
        );
        assert!(hits(&mut d, &net(NetOp::Listen, 10, "0.0.0.0:4444", None)).is_empty());
        assert_eq!(stats.snapshot().rate_limited_total, 1);
        // Another process connecting to it: its own alert.
        assert_eq!(
            hits(
                &mut d,
                &net(
                    NetOp::Connect,
                    11,
                    "127.0.0.1:50000",
                    Some("127.0.0.1:4444")
                )
            ),
            ["rg-net-suspicious-port"]
        );
        // Accepting is not listed (the listen already was), nor are other ports.
        assert!(
            hits(
                &mut d,
                &net(NetOp::Accept, 12, "0.0.0.0:31337", Some("1.2.3.4:5"))
            )
            .is_empty()
        );
        assert!(
            hits(
                &mut d,
                &net(NetOp::Connect, 13, "10.0.0.1:1", Some("10.0.0.2:443"))
            )
            .is_empty()
        );
        // A local port of 4444 on a connect is the client's, not a service.
        assert!(
            hits(
                &mut d,
                &net(NetOp::Connect, 14, "10.0.0.1:4444", Some("10.0.0.2:443"))
            )
            .is_empty()
        );
        // Once the process exits, a new one with its pid alerts again.
        let exit = Event {
            pid: 10,
            body: Body::Exit(crate::event::ExitBody {
                start_ns: 0,
                ppid: 1,
                name: "x".into(),
                status: crate::event::ExitStatus::from_wait_status(0),
            }),
            ..file(FileOp::Open, "/", 0)
        };
        assert!(hits(&mut d, &exit).is_empty());
        assert_eq!(
            hits(&mut d, &net(NetOp::Listen, 10, "0.0.0.0:1337", None)),
            ["rg-net-suspicious-port"]
        );
    }

    #[test]
    fn loopback_can_be_left_out_of_suspicious_ports() {
        let cfg = config::Detections {
            suspicious_ports_loopback: false,
            suspicious_ports: vec![9001],
            ..Default::default()
        };
        let mut d = Detector::new(&cfg, "h", None);
        assert!(
            hits(
                &mut d,
                &net(NetOp::Connect, 20, "127.0.0.1:1", Some("127.0.0.1:9001"))
            )
            .is_empty()
        );
        assert!(hits(&mut d, &net(NetOp::Listen, 21, "[::1]:9001", None)).is_empty());
        assert_eq!(
            hits(&mut d, &net(NetOp::Listen, 22, "0.0.0.0:9001", None)),
            ["rg-net-suspicious-port"]
        );
        assert!(hits(&mut d, &net(NetOp::Listen, 23, "0.0.0.0:4444", None)).is_empty());
    }

    #[test]
    fn disabled_detections_are_off() {
        let mut d = detector(&["rg-persist-cron"]);
        assert!(hits(&mut d, &file(FileOp::Open, "/etc/crontab", 0)).is_empty());
        assert_eq!(
            hits(&mut d, &file(FileOp::Open, "/etc/sudoers", 0)),
            vec!["rg-persist-sudoers"]
        );
        assert_eq!(d.enabled().count(), BUILTIN_IDS.len() - 1);
    }

    #[test]
    fn alert_ids_are_stable_and_distinct() {
        let mut d = Detector::new(&config::Detections::default(), "host-a", None);
        let ev = file(FileOp::Open, "/etc/crontab", 3);
        let mut a = Vec::new();
        d.detect(&ev, &mut a);
        d.detect(&ev, &mut a);
        assert_eq!(a[0].id, a[1].id);
        assert_eq!(a[0].id.len(), 32);
        // Pinned: the id must not change between releases.
        assert_eq!(a[0].id, alert_id("rg-persist-cron", "host-a", &ev));
        assert_eq!(a[0].id, "f7162828c4a92b8190e5b3fa93779120");
        let other_host = alert_id("rg-persist-cron", "host-b", &ev);
        let later = alert_id(
            "rg-persist-cron",
            "host-a",
            &Event {
                time_ns: 1_001,
                ..ev.clone()
            },
        );
        assert_ne!(a[0].id, other_host);
        assert_ne!(a[0].id, later);
        assert_eq!(
            a[0].message,
            "Cron job written: /etc/crontab (open by pid 42)"
        );
    }
}
