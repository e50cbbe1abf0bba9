//! Detector stage: userspace filtering, then detections.
//!
//! In: enriched event batches. Out: output [`Record`]s: each kept event,
//! followed by the alerts it raised. Counts: events dropped by the
//! userspace filter (see [`crate::detect::filter`]).
//!
//! Built-in detections are listed in [`BUILTIN_IDS`] and documented in
//! docs/detections.md; each can be turned off with `[detections] disabled`.

pub mod correlate;
pub mod filter;
pub mod rules;
pub mod tamper;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::pipeline::channel::Outlet;
use globset::GlobSet;

use std::collections::HashMap;

use crate::config;
use crate::detect::correlate::{Correlator, Finding};
use crate::detect::rules::fields::Scratch;
use crate::detect::rules::{RateLimit, RuleSet};
use crate::detect::tamper::{Protected, Tamper};
use crate::model::alert::{Alert, RuleMeta, Severity, Technique, alert_id};
use crate::model::event::{Body, Event, FileOp, NetOp};
use crate::model::stats::Stats;
use crate::record::Record;
use filter::Filter;

/// Every built-in detection id, stable across releases.
pub const BUILTIN_IDS: &[&str] = &[
    "rg-net-suspicious-port",
    "rg-cred-sensitive-read",
    "rg-persist-systemd-unit",
    "rg-persist-cron",
    "rg-persist-ssh-authorized-keys",
    "rg-persist-ld-preload",
    "rg-persist-rc-scripts",
    "rg-persist-shell-profile",
    "rg-persist-sudoers",
    "rg-persist-account-files",
    "rg-webshell-exec",
    "rg-persist-systemd-enable",
    "rg-drop-exec",
    "rg-fileless-exec",
    "rg-reverse-shell",
    "rg-agent-tamper",
    "rg-agent-signal",
];

/// What the configuration may name of the detections (see [`config::Known`]).
pub const KNOWN: config::Known = config::Known {
    builtin_detections: BUILTIN_IDS,
};

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

/// The compiled persistence detections: every location glob of every
/// enabled detection in one set, so a file event costs one match over the
/// set, not one per detection.
struct Persistence {
    rules: Vec<Arc<RuleMeta>>,
    globs: GlobSet,
    /// Glob index → index in `rules`.
    owner: Vec<usize>,
    /// Reused match buffer.
    matched: Vec<usize>,
}

impl Persistence {
    /// The detections `ev` hits, in order: writes, creates, renames into,
    /// links, chmod and chown of a watched location, when they succeeded.
    /// Unlinks are not persistence, nor are reads (reported for
    /// `[file] watch_reads` files).
    fn hits(&mut self, ev: &Event, out: &mut Vec<usize>) {
        let Body::File(f) = &ev.body else {
            return;
        };
        if f.result < 0 || f.op == FileOp::Unlink || f.is_read() {
            return;
        }
        self.globs.matches_into(&f.path, &mut self.matched);
        // Several globs of one detection may match: each detection once.
        let start = out.len();
        out.extend(self.matched.iter().map(|g| self.owner[*g]));
        out[start..].sort_unstable();
        let mut kept = start;
        for r in start..out.len() {
            if kept == start || out[kept - 1] != out[r] {
                out[kept] = out[r];
                kept += 1;
            }
        }
        out.truncate(kept);
    }
}

/// What a watched file holds, by its watched path: it picks the ATT&CK
/// technique of an rg-cred-sensitive-read alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    /// Password hashes: T1003.008.
    PasswordHashes,
    /// Private keys: T1552.004.
    PrivateKey,
    /// Anything else an operator watches: T1552.001.
    Other,
}

impl Credential {
    fn of(watched: &str) -> Self {
        const HASHES: &[&str] = &[
            "/etc/shadow",
            "/etc/shadow-",
            "/etc/gshadow",
            "/etc/gshadow-",
            "/etc/security/opasswd",
        ];
        let (dir, name) = watched.rsplit_once('/').unwrap_or(("", watched));
        if HASHES.contains(&watched) {
            Credential::PasswordHashes
        } else if !name.ends_with(".pub")
            && ((dir.ends_with("/.ssh") && name.starts_with("id_"))
                || (name.starts_with("ssh_host_") && name.ends_with("_key"))
                || name.ends_with(".key")
                || name.ends_with(".ppk"))
        {
            Credential::PrivateKey
        } else {
            Credential::Other
        }
    }
}

/// rg-cred-sensitive-read: a read-only open of a `[file] watch_reads`
/// file (matched by inode in the kernel) by a program that is not in
/// `[detections] sensitive_read_allow`.
struct CredReadRule {
    /// One per [`Credential`]: same id and name, its own technique.
    hashes: Arc<RuleMeta>,
    keys: Arc<RuleMeta>,
    other: Arc<RuleMeta>,
    allow: GlobSet,
}

impl CredReadRule {
    fn new(allow: &[String]) -> Result<Self, globset::Error> {
        let meta = |id: &str, name: &str| {
            Arc::new(RuleMeta {
                id: "rg-cred-sensitive-read".into(),
                name: "Sensitive file read".into(),
                description: "A process opened a file listed in [file] watch_reads for reading \
                              (password hashes, private keys) and is not one of the programs \
                              that read it for a living (detections.sensitive_read_allow). \
                              Matched by inode: a hard link or bind mount of the file counts."
                    .into(),
                severity: Severity::High,
                tactics: vec!["Credential Access".into()],
                techniques: vec![Technique {
                    id: id.into(),
                    name: Some(name.into()),
                }],
                source: "builtin".into(),
            })
        };
        Ok(CredReadRule {
            hashes: meta(
                "T1003.008",
                "OS Credential Dumping: /etc/passwd and /etc/shadow",
            ),
            keys: meta("T1552.004", "Unsecured Credentials: Private Keys"),
            other: meta("T1552.001", "Unsecured Credentials: Credentials In Files"),
            allow: filter::globset(allow)?,
        })
    }

    /// The rule, with the technique for what was read, when `ev` is a
    /// successful watched read by a program not allowed to.
    fn hit(&self, ev: &Event) -> Option<&Arc<RuleMeta>> {
        let Body::File(f) = &ev.body else {
            return None;
        };
        let watched = f.watched.as_deref()?;
        if f.result < 0 || !f.is_read() {
            return None;
        }
        // An unknown process is not known to be allowed.
        let exe = ev.process.as_deref().map(|p| p.image.executable.as_str());
        if exe.is_some_and(|e| !e.is_empty() && self.allow.is_match(e)) {
            return None;
        }
        Some(match Credential::of(watched) {
            Credential::PasswordHashes => &self.hashes,
            Credential::PrivateKey => &self.keys,
            Credential::Other => &self.other,
        })
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
            NetOp::Accept | NetOp::DnsQuery | NetOp::StdioSocket => None,
        };
        end.is_some_and(|a| {
            self.ports.contains(&a.port()) && (self.loopback || !a.ip().is_loopback())
        })
    }
}

/// Per rule and process: a token bucket, and the alerts it held back.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    /// CLOCK_BOOTTIME of the last refill (event time, so a replay of
    /// recorded events limits exactly as the live agent did).
    last_ns: u64,
    suppressed: u64,
    /// The last alert held back, shown by the summary.
    last: Option<Alert>,
}

/// Buckets kept at most; beyond, idle ones go first (then all).
const BUCKETS_MAX: usize = 16384;

/// Rate limiting of alerts per (rule, process).
#[derive(Debug, Default)]
struct Limiter {
    buckets: HashMap<(String, u32, u64), Bucket>,
}

impl Limiter {
    /// Let `alert` through, or hold it back. A burst that is over is
    /// summarized by one alert carrying the suppressed count, emitted
    /// before the next one; a `per_minute` of 0 means once per process,
    /// without a summary.
    fn admit(
        &mut self,
        limit: RateLimit,
        alert: Alert,
        stats: Option<&Stats>,
        out: &mut Vec<Alert>,
    ) {
        let now = alert.event.ktime_ns;
        let start = alert.event.process.as_ref().map_or(0, |p| p.start_ns);
        let key = (alert.rule.id.clone(), alert.event.pid, start);
        if !self.buckets.contains_key(&key) && self.buckets.len() >= BUCKETS_MAX {
            self.buckets.retain(|_, b| b.suppressed > 0);
            if self.buckets.len() >= BUCKETS_MAX {
                self.buckets.clear();
            }
        }
        let b = self.buckets.entry(key).or_insert(Bucket {
            tokens: f64::from(limit.burst),
            last_ns: now,
            suppressed: 0,
            last: None,
        });
        let elapsed_min = now.saturating_sub(b.last_ns) as f64 / 60e9;
        b.tokens = (b.tokens + elapsed_min * limit.per_minute).min(f64::from(limit.burst));
        b.last_ns = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            if let Some(summary) = Self::summary(b) {
                out.push(summary);
            }
            out.push(alert);
        } else {
            b.suppressed += 1;
            if let Some(s) = stats {
                s.count_rate_limited(1);
            }
            if limit.per_minute > 0.0 {
                b.last = Some(alert);
            }
        }
    }

    fn summary(b: &mut Bucket) -> Option<Alert> {
        let mut a = b.last.take()?;
        a.suppressed = std::mem::take(&mut b.suppressed);
        a.message = format!(
            "{} ({} alerts suppressed by rate limiting)",
            a.message, a.suppressed
        );
        Some(a)
    }

    /// Summaries of bursts that are over by `now_ns` (a token is back).
    fn sweep(&mut self, now_ns: u64, limits: impl Fn(&str) -> RateLimit, out: &mut Vec<Alert>) {
        for ((rule, _, _), b) in self.buckets.iter_mut() {
            if b.last.is_none() {
                continue;
            }
            let l = limits(rule);
            let refill = now_ns.saturating_sub(b.last_ns) as f64 / 60e9 * l.per_minute;
            if b.tokens + refill >= 1.0
                && let Some(s) = Self::summary(b)
            {
                out.push(s);
            }
        }
    }

    /// The process exited: summarize and forget its buckets.
    fn exited(&mut self, pid: u32, out: &mut Vec<Alert>) {
        self.buckets.retain(|(_, p, _), b| {
            if *p != pid {
                return true;
            }
            out.extend(Self::summary(b));
            false
        });
    }

    /// Everything still held back (shutdown).
    fn flush(&mut self, out: &mut Vec<Alert>) {
        for b in self.buckets.values_mut() {
            out.extend(Self::summary(b));
        }
    }
}

/// `[[exclusions]]`, compiled.
struct Exclusion {
    rule: Option<globset::GlobMatcher>,
    executable: Option<globset::GlobMatcher>,
    path: Option<globset::GlobMatcher>,
    uid: Option<u32>,
}

impl Exclusion {
    fn new(x: &config::Exclusion) -> Result<Self, globset::Error> {
        let g = |p: &Option<String>| p.as_deref().map(filter::glob_matcher).transpose();
        Ok(Exclusion {
            rule: g(&x.rule)?,
            executable: g(&x.executable)?,
            path: g(&x.path)?,
            uid: x.uid,
        })
    }

    /// Every field given matches the event.
    fn covers(&self, ev: &Event) -> bool {
        let proc = ev.process.as_deref();
        self.executable
            .as_ref()
            .is_none_or(|g| proc.is_some_and(|p| g.is_match(&p.image.executable)))
            && self.path.as_ref().is_none_or(|g| match &ev.body {
                Body::File(f) => g.is_match(&f.path),
                _ => false,
            })
            && self
                .uid
                .is_none_or(|u| proc.and_then(|p| p.creds).is_some_and(|c| c.uid == u))
    }
}

pub struct Detector {
    persistence: Persistence,
    ports: Option<PortRule>,
    cred_read: Option<CredReadRule>,
    tamper: Tamper,
    correlator: Correlator,
    findings: Vec<Finding>,
    rules: RuleSet,
    scratch: Scratch,
    hits: Vec<usize>,
    candidates: Vec<Alert>,
    limiter: Limiter,
    default_limit: RateLimit,
    exclusions: Vec<Exclusion>,
    host: String,
    stats: Option<Arc<Stats>>,
    /// Latest event time seen, for sweeping ended bursts.
    now_ns: u64,
}

/// The rate limit of rule `id`: its own, or the `[alerts]` default.
fn limit_of(rules: &RuleSet, default: RateLimit, id: &str) -> RateLimit {
    if id == "rg-net-suspicious-port" {
        return ONCE;
    }
    rules
        .rules()
        .iter()
        .find(|r| r.meta.id == id)
        .and_then(|r| r.rate_limit)
        .unwrap_or(default)
}

/// rg-net-suspicious-port alerts once per process.
const ONCE: RateLimit = RateLimit {
    burst: 1,
    per_minute: 0.0,
};

impl Detector {
    /// The built-ins of `cfg.detections`, the user `rules`, the alert
    /// rate limit and the exclusions; `stats` counts what is held back.
    pub fn new(
        cfg: &config::Config,
        host: &str,
        rules: RuleSet,
        stats: Option<Arc<Stats>>,
    ) -> Result<Self, globset::Error> {
        let d = &cfg.detections;
        let disabled = &d.disabled;
        let mut persistence = Persistence {
            rules: Vec::new(),
            globs: GlobSet::empty(),
            owner: Vec::new(),
            matched: Vec::new(),
        };
        let mut globs = Vec::new();
        for spec in PERSISTENCE
            .iter()
            .filter(|s| !disabled.iter().any(|x| x == s.id))
        {
            let paths = (spec.paths)();
            persistence
                .owner
                .extend(std::iter::repeat_n(persistence.rules.len(), paths.len()));
            globs.extend(paths);
            persistence.rules.push(Arc::new(RuleMeta {
                id: spec.id.into(),
                name: spec.name.into(),
                description: spec.description.into(),
                severity: spec.severity,
                tactics: vec!["Persistence".into()],
                techniques: vec![Technique {
                    id: spec.technique.0.into(),
                    name: Some(spec.technique.1.into()),
                }],
                source: "builtin".into(),
            }));
        }
        persistence.globs = filter::globset(&globs).expect("built-in globs are valid");
        let ports = (!disabled.iter().any(|x| x == "rg-net-suspicious-port")).then(|| PortRule {
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
                    name: Some("Non-Standard Port".into()),
                }],
                source: "builtin".into(),
            }),
            ports: d.suspicious_ports.clone(),
            loopback: d.suspicious_ports_loopback,
        });
        let cred_read = (!disabled.iter().any(|x| x == "rg-cred-sensitive-read"))
            .then(|| CredReadRule::new(&d.sensitive_read_allow))
            .transpose()?;
        Ok(Detector {
            persistence,
            ports,
            cred_read,
            tamper: Tamper::new(d),
            correlator: Correlator::new(d)?,
            findings: Vec::new(),
            rules,
            scratch: Scratch::default(),
            hits: Vec::new(),
            candidates: Vec::new(),
            limiter: Limiter::default(),
            default_limit: RateLimit {
                burst: cfg.alerts.burst,
                per_minute: cfg.alerts.per_minute,
            },
            exclusions: cfg
                .exclusions
                .iter()
                .map(Exclusion::new)
                .collect::<Result<_, _>>()?,
            host: host.to_string(),
            stats,
            now_ns: 0,
        })
    }

    /// Protect the agent's own files (rg-agent-tamper) and process
    /// (rg-agent-signal); see `tamper::protected_paths`.
    pub fn protect(&mut self, paths: Vec<Protected>, agent_pid: u32) {
        self.tamper.protect(paths);
        self.tamper.set_agent_pid(agent_pid);
    }

    /// Swap in a new rule set (SIGHUP); rate-limit state carries over.
    pub fn set_rules(&mut self, rules: RuleSet) {
        self.rules = rules;
    }

    /// Become `next` (a reloaded configuration), keeping what is under
    /// way: rate-limit buckets and the alerts they hold back, and the
    /// latest event time. With `keep_rules`, the rules in force stay too
    /// (the new rules directory was refused); with `keep_correlation`
    /// (`[detections]` unchanged), so do the correlation windows, else
    /// they start over empty.
    pub fn take_over(&mut self, mut next: Detector, keep_rules: bool, keep_correlation: bool) {
        if keep_rules {
            next.rules = std::mem::take(&mut self.rules);
        }
        if keep_correlation {
            std::mem::swap(&mut next.correlator, &mut self.correlator);
        }
        next.limiter = std::mem::take(&mut self.limiter);
        next.now_ns = self.now_ns;
        *self = next;
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Ids of the enabled detections, built-in first.
    pub fn enabled(&self) -> impl Iterator<Item = &str> {
        self.ports
            .iter()
            .map(|r| r.meta.id.as_str())
            .chain(self.cred_read.iter().map(|r| r.hashes.id.as_str()))
            .chain(self.persistence.rules.iter().map(|r| r.id.as_str()))
            .chain(self.correlator.enabled())
            .chain(self.tamper.enabled())
            .chain(self.rules.rules().iter().map(|r| r.meta.id.as_str()))
    }

    /// Whether an event-level exclusion (one without `rule`) drops `ev`.
    pub fn excluded(&self, ev: &Event) -> bool {
        self.exclusions
            .iter()
            .any(|x| x.rule.is_none() && x.covers(ev))
    }

    fn limit_of(&self, id: &str) -> RateLimit {
        limit_of(&self.rules, self.default_limit, id)
    }

    /// Alerts `ev` raises, after exclusions and rate limiting, appended to
    /// `out` (a summary of an ended burst may come first).
    pub fn detect(&mut self, ev: &Event, out: &mut Vec<Alert>) {
        self.now_ns = self.now_ns.max(ev.ktime_ns);
        let mut cands = std::mem::take(&mut self.candidates);
        self.hits.clear();
        self.persistence.hits(ev, &mut self.hits);
        for i in 0..self.hits.len() {
            let meta = self.persistence.rules[self.hits[i]].clone();
            cands.push(self.alert(&meta, ev));
        }
        if let Some(rule) = &self.ports
            && rule.hit(ev)
        {
            cands.push(self.alert(&rule.meta, ev));
        }
        if let Some(meta) = self.cred_read.as_ref().and_then(|r| r.hit(ev)) {
            cands.push(self.alert(meta, ev));
        }
        if let Some((rule, severity, message)) = self.tamper.hit(ev) {
            let rule = if rule.severity == severity {
                rule
            } else {
                Arc::new(RuleMeta {
                    severity,
                    ..(*rule).clone()
                })
            };
            cands.push(Alert {
                id: alert_id(&rule.id, &self.host, ev),
                rule,
                message,
                event: ev.clone(),
                suppressed: 0,
                evidence: Vec::new(),
            });
        }
        self.correlator.observe(ev, &mut self.findings);
        for f in self.findings.drain(..) {
            cands.push(Alert {
                id: alert_id(&f.rule.id, &self.host, ev),
                rule: f.rule,
                message: f.message,
                event: ev.clone(),
                suppressed: 0,
                evidence: f.evidence,
            });
        }
        self.hits.clear();
        self.rules.matches(ev, &mut self.scratch, &mut self.hits);
        for i in 0..self.hits.len() {
            let meta = self.rules.rules()[self.hits[i]].meta.clone();
            cands.push(self.alert(&meta, ev));
        }
        for a in cands.drain(..) {
            let excluded = self
                .exclusions
                .iter()
                .any(|x| x.rule.as_ref().is_some_and(|g| g.is_match(&a.rule.id)) && x.covers(ev));
            if excluded {
                if let Some(s) = &self.stats {
                    s.count_userspace_filtered(1);
                }
                continue;
            }
            let limit = self.limit_of(&a.rule.id);
            self.limiter.admit(limit, a, self.stats.as_deref(), out);
        }
        self.candidates = cands;
        if let Body::Exit(_) = ev.body {
            self.limiter.exited(ev.pid, out);
        }
    }

    /// Summaries of rate-limited bursts that are over by `now_ns`
    /// (CLOCK_BOOTTIME, the clock of event times; never before the
    /// latest event seen).
    pub fn sweep(&mut self, now_ns: u64, out: &mut Vec<Alert>) {
        let now = self.now_ns.max(now_ns);
        self.correlator.expire(now);
        if let Some(s) = &self.stats {
            s.set_correlation(self.correlator.state_size(), self.correlator.evictions());
        }
        let (rules, def) = (&self.rules, self.default_limit);
        self.limiter.sweep(now, |id| limit_of(rules, def, id), out);
    }

    /// Everything still held back (at shutdown).
    pub fn flush(&mut self, out: &mut Vec<Alert>) {
        self.limiter.flush(out);
    }

    fn alert(&self, rule: &Arc<RuleMeta>, ev: &Event) -> Alert {
        Alert {
            rule: rule.clone(),
            message: Message(rule, ev).to_string(),
            id: alert_id(&rule.id, &self.host, ev),
            event: ev.clone(),
            suppressed: 0,
            evidence: Vec::new(),
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
            if let Some(w) = file.watched.as_deref().filter(|w| *w != file.path) {
                write!(f, " (watched as {w})")?;
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

    pub fn wants(&self, ev: &Event) -> bool {
        match &ev.body {
            Body::Exec(_) | Body::Fork(_) | Body::Exit(_) | Body::Signal(_) => self.process,
            Body::File(_) => self.file,
            // Socket stdio is about the process, and rare: it is
            // written with the process events, network on or off.
            Body::Net(n) if n.op == NetOp::StdioSocket => self.process,
            Body::Net(_) => self.network,
        }
    }
}

/// One event through the stage, live or replayed (`rules test`): false
/// when the userspace filter or an event-level exclusion drops it, else
/// its alerts are appended to `alerts`.
pub fn step(filter: &Filter, detector: &mut Detector, ev: &Event, alerts: &mut Vec<Alert>) -> bool {
    if !filter.keep(ev) || detector.excluded(ev) {
        return false;
    }
    detector.detect(ev, alerts);
    true
}

/// How often held-back bursts are checked for a summary.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A reloaded configuration for the stage (SIGHUP), built and checked
/// before it is sent.
pub struct Reload {
    pub filter: Filter,
    /// Built with the new rules, or with none and `keep_rules`.
    pub detector: Detector,
    /// The new rules directory was refused: the rules in force stay.
    pub keep_rules: bool,
    /// `[detections]` did not change: correlation windows under way stay.
    pub keep_correlation: bool,
    pub output: EventOutput,
}

/// The stage's reloadable parts.
struct Stage {
    filter: Filter,
    detector: Detector,
    output: EventOutput,
}

impl Stage {
    fn reload(&mut self, r: Reload, stats: &Stats) {
        self.filter = r.filter;
        self.output = r.output;
        self.detector
            .take_over(r.detector, r.keep_rules, r.keep_correlation);
        stats.set_rules_loaded(self.detector.rules().len());
    }
}

/// The stage loop: runs until the enricher hangs up. Reloaded settings
/// (SIGHUP) arrive on `reload`; event-level exclusions drop events here,
/// counted as userspace-filtered.
pub fn run(
    rx: Receiver<Vec<Event>>,
    reload: Receiver<Reload>,
    tx: Outlet<Vec<Record>>,
    filter: Filter,
    detector: Detector,
    output: EventOutput,
    stats: Arc<Stats>,
) {
    let mut alerts = Vec::new();
    let mut reload = reload;
    let mut last_sweep = Instant::now();
    let mut st = Stage {
        filter,
        detector,
        output,
    };
    loop {
        crossbeam_channel::select! {
            recv(rx) -> msg => {
                let Ok(batch) = msg else { break };
                crate::pipeline::fault::point("detector");
                // A reload sent before this batch applies to it: the poller
                // sends both, in order, and select! picks ready arms at random.
                while let Ok(r) = reload.try_recv() {
                    st.reload(r, &stats);
                }
                let Stage { filter, detector, output } = &mut st;
                let mut out = Vec::with_capacity(batch.len());
                let mut dropped = 0;
                for ev in batch {
                    if !step(filter, detector, &ev, &mut alerts) {
                        dropped += 1;
                        continue;
                    }
                    if output.wants(&ev) && !filter.detection_only(&ev) {
                        out.push(Record::Event(ev));
                    } else {
                        // Collected for detection only ([events], [file]
                        // detect_only say so): counted.
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
            recv(reload) -> msg => match msg {
                Ok(r) => st.reload(r, &stats),
                // The poller is gone: no more reloads, stop selecting it.
                Err(_) => reload = crossbeam_channel::never(),
            },
            default(SWEEP_EVERY) => {}
        }
        if last_sweep.elapsed() >= SWEEP_EVERY {
            last_sweep = Instant::now();
            st.detector
                .sweep(crate::model::clock::boot_now_ns(), &mut alerts);
            if !alerts.is_empty()
                && tx
                    .send(alerts.drain(..).map(Record::Alert).collect())
                    .is_err()
            {
                return;
            }
        }
    }
    st.detector.flush(&mut alerts);
    if !alerts.is_empty() {
        let _ = tx.send(alerts.drain(..).map(Record::Alert).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::{FileBody, FileTruncation};
    use std::path::Path;

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
                watched: None,
                truncated: FileTruncation::default(),
            }),
            process: None,
        }
    }

    /// A detector over `detections`, no user rules, on host "h"; the rate
    /// limit is out of the way unless a test sets `[alerts]` itself.
    fn with(detections: config::Detections, stats: Option<Arc<Stats>>) -> Detector {
        let cfg = config::Config {
            detections,
            alerts: config::AlertsConfig {
                burst: 1_000_000,
                per_minute: 60.0,
            },
            ..Default::default()
        };
        Detector::new(&cfg, "h", RuleSet::empty(), stats).unwrap()
    }

    fn detector(disabled: &[&str]) -> Detector {
        with(
            config::Detections {
                disabled: disabled.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
            None,
        )
    }

    fn hits(d: &mut Detector, ev: &Event) -> Vec<String> {
        let mut out = Vec::new();
        d.detect(ev, &mut out);
        out.into_iter().map(|a| a.rule.id.clone()).collect()
    }

    #[test]
    fn every_builtin_has_a_spec_and_the_ids_are_unique() {
        let ids: Vec<&str> = PERSISTENCE.iter().map(|s| s.id).collect();
        assert_eq!(ids, BUILTIN_IDS[2..10]);
        assert_eq!(crate::detect::correlate::IDS, &BUILTIN_IDS[10..15]);
        assert_eq!(crate::detect::tamper::IDS, &BUILTIN_IDS[15..]);
        let d = detector(&[]);
        let mut enabled: Vec<&str> = d.enabled().collect();
        assert_eq!(enabled.len(), BUILTIN_IDS.len());
        enabled.sort();
        enabled.dedup();
        assert_eq!(enabled.len(), BUILTIN_IDS.len());
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
        // The same unit written, then linked into .wants: that is also
        // rg-persist-systemd-enable, tested in correlate.
        let mut d = detector(&["rg-persist-systemd-enable"]);
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
        for id in &BUILTIN_IDS[2..10] {
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
        // Reading a persistence location is not writing it (a read of a
        // watched file is rg-cred-sensitive-read's, not account-files').
        let read = |path: &str| {
            let mut ev = file(FileOp::Open, path, 3);
            if let Body::File(f) = &mut ev.body {
                f.open_flags = 0o2000000; // O_RDONLY | O_CLOEXEC
                f.watched = Some(path.into());
            }
            ev
        };
        for path in ["/etc/crontab", "/etc/shadow", "/etc/sudoers"] {
            assert_eq!(hits(&mut d, &read(path)), ["rg-cred-sensitive-read"]);
        }
        // Unlinking a unit removes persistence; it is not an alert.
        assert!(hits(&mut d, &file(FileOp::Unlink, "/etc/cron.d/job", 0)).is_empty());
        // A failed write changed nothing.
        assert!(hits(&mut d, &file(FileOp::Open, "/etc/cron.d/job", -13)).is_empty());
        // A non-file event never matches.
        let exit = Event {
            body: Body::Exit(crate::model::event::ExitBody {
                start_ns: 0,
                ppid: 1,
                name: "x".into(),
                status: crate::model::event::ExitStatus::from_wait_status(0),
            }),
            ..file(FileOp::Open, "/etc/crontab", 0)
        };
        assert!(hits(&mut d, &exit).is_empty());
    }

    /// A read-only open of `path`, watched as `watched`, by `exe` (None:
    /// a process the agent does not know).
    fn watched_read(path: &str, watched: Option<&str>, exe: Option<&str>, result: i64) -> Event {
        let Body::File(f) = file(FileOp::Open, path, result).body else {
            unreachable!()
        };
        Event {
            body: Body::File(FileBody {
                open_flags: 0o2000000, // O_RDONLY | O_CLOEXEC
                watched: watched.map(Into::into),
                ..f
            }),
            process: exe.map(|e| {
                Arc::new(crate::model::proctable::Process {
                    pid: 42,
                    ppid: 1,
                    start_ns: 0,
                    start_exact: true,
                    start_time_ns: 0,
                    image: Arc::new(crate::model::event::Image {
                        executable: e.into(),
                        ..Default::default()
                    }),
                    creds: None,
                    cgroup_id: None,
                    parent: None,
                    origin: crate::model::proctable::Origin::Exec,
                    chain_len: 0,
                })
            }),
            ..file(FileOp::Open, path, result)
        }
    }

    fn technique(d: &mut Detector, ev: &Event) -> Vec<String> {
        let mut out = Vec::new();
        d.detect(ev, &mut out);
        out.iter()
            .map(|a| format!("{} {}", a.rule.id, a.rule.techniques[0].id))
            .collect()
    }

    #[test]
    fn sensitive_reads_alert_with_the_technique_of_what_was_read() {
        let mut d = detector(&[]);
        let cases = [
            ("/etc/shadow", "T1003.008"),
            ("/etc/gshadow-", "T1003.008"),
            ("/etc/security/opasswd", "T1003.008"),
            ("/root/.ssh/id_ed25519", "T1552.004"),
            ("/home/ann/.ssh/id_rsa", "T1552.004"),
            ("/etc/ssh/ssh_host_ecdsa_key", "T1552.004"),
            ("/etc/ssl/private/site.key", "T1552.004"),
            ("/root/.aws/credentials", "T1552.001"),
            ("/root/.ssh/id_rsa.pub", "T1552.001"),
        ];
        for (path, id) in cases {
            let ev = watched_read(path, Some(path), Some("/usr/bin/cat"), 3);
            assert_eq!(
                technique(&mut d, &ev),
                [format!("rg-cred-sensitive-read {id}")],
                "{path}"
            );
        }
        // The technique follows the watched path, not the name it was
        // opened by (a hard link); the message names both.
        let link = watched_read("/tmp/x", Some("/etc/shadow"), Some("/usr/bin/cp"), 3);
        let mut out = Vec::new();
        d.detect(&link, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].rule.techniques[0].id, "T1003.008");
        assert_eq!(out[0].rule.severity, Severity::High);
        assert_eq!(out[0].rule.tactics, ["Credential Access"]);
        assert_eq!(
            out[0].message,
            "Sensitive file read: /tmp/x (watched as /etc/shadow) (open by /usr/bin/cp, pid 42)"
        );
        // A process the agent does not know is not known to be allowed.
        let unknown = watched_read("/etc/shadow", Some("/etc/shadow"), None, 3);
        assert_eq!(hits(&mut d, &unknown), ["rg-cred-sensitive-read"]);
    }

    #[test]
    fn sensitive_read_near_misses_stay_silent() {
        let mut d = detector(&[]);
        // Programs that read these files for a living.
        for exe in [
            "/usr/sbin/unix_chkpwd",
            "/usr/sbin/sshd",
            "/usr/bin/sudo",
            "/bin/su",
            "/usr/bin/passwd",
            "/usr/sbin/cron",
            "/lib/systemd/systemd",
        ] {
            let ev = watched_read("/etc/shadow", Some("/etc/shadow"), Some(exe), 3);
            assert!(hits(&mut d, &ev).is_empty(), "{exe}");
        }
        // ...but not a look-alike elsewhere.
        let fake = watched_read(
            "/etc/shadow",
            Some("/etc/shadow"),
            Some("/tmp/unix_chkpwd"),
            3,
        );
        assert_eq!(hits(&mut d, &fake), ["rg-cred-sensitive-read"]);
        // Not watched (no read-watch id): a read-only open of the same path.
        let unwatched = watched_read("/etc/shadow", None, Some("/usr/bin/cat"), 3);
        assert!(hits(&mut d, &unwatched).is_empty());
        // A failed open read nothing.
        let denied = watched_read(
            "/etc/shadow",
            Some("/etc/shadow"),
            Some("/usr/bin/cat"),
            -13,
        );
        assert!(hits(&mut d, &denied).is_empty());
        // A write-intent open of a watched file is persistence, not a read.
        let write = file(FileOp::Open, "/etc/shadow", 3);
        assert_eq!(hits(&mut d, &write), ["rg-persist-account-files"]);
        // Another operation on the path.
        let chmod = file(FileOp::Chmod, "/root/.ssh/id_rsa", 0);
        assert!(hits(&mut d, &chmod).is_empty());
        // A user-configured allowlist replaces the default.
        let mut d = with(
            config::Detections {
                sensitive_read_allow: vec!["/opt/backup/bin/*".into()],
                ..Default::default()
            },
            None,
        );
        let backup = watched_read(
            "/etc/shadow",
            Some("/etc/shadow"),
            Some("/opt/backup/bin/agent"),
            3,
        );
        assert!(hits(&mut d, &backup).is_empty());
        let sshd = watched_read(
            "/etc/shadow",
            Some("/etc/shadow"),
            Some("/usr/sbin/sshd"),
            3,
        );
        assert_eq!(hits(&mut d, &sshd), ["rg-cred-sensitive-read"]);
        // And the rule can be turned off.
        let mut d = detector(&["rg-cred-sensitive-read"]);
        let ev = watched_read("/etc/shadow", Some("/etc/shadow"), Some("/usr/bin/cat"), 3);
        assert!(hits(&mut d, &ev).is_empty());
    }

    fn net(op: NetOp, pid: u32, local: &str, remote: Option<&str>) -> Event {
        use crate::model::event::NetBody;
        Event {
            pid,
            tid: pid,
            body: Body::Net(NetBody {
                op,
                local: Some(local.parse().unwrap()),
                remote: remote.map(|r| r.parse().unwrap()),
                ..crate::testkit::connect_body("0.0.0.0:0")
            }),
            ..file(FileOp::Open, "/", 0)
        }
    }

    #[test]
    fn suspicious_ports_alert_once_per_process() {
        let stats = Arc::new(Stats::default());
        let mut d = with(config::Detections::default(), Some(stats.clone()));
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
            body: Body::Exit(crate::model::event::ExitBody {
                start_ns: 0,
                ppid: 1,
                name: "x".into(),
                status: crate::model::event::ExitStatus::from_wait_status(0),
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
        let mut d = with(cfg, None);
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
        let mut d =
            Detector::new(&config::Config::default(), "host-a", RuleSet::empty(), None).unwrap();
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

    fn cron_write(pid: u32, ktime_ns: u64) -> Event {
        Event {
            pid,
            tid: pid,
            ktime_ns,
            time_ns: ktime_ns,
            ..file(FileOp::Open, "/etc/cron.d/job", 0)
        }
    }

    fn limited(burst: u32, per_minute: f64, stats: Option<Arc<Stats>>) -> Detector {
        let cfg = config::Config {
            alerts: config::AlertsConfig { burst, per_minute },
            ..Default::default()
        };
        Detector::new(&cfg, "h", RuleSet::empty(), stats).unwrap()
    }

    #[test]
    fn bursts_are_limited_per_process_and_summarized() {
        let stats = Arc::new(Stats::default());
        let mut d = limited(3, 60.0, Some(stats.clone()));
        let mut out = Vec::new();
        // Five writes at one instant: three alerts, two held back.
        for i in 0..5 {
            d.detect(&cron_write(42, 1_000 + i), &mut out);
        }
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|a| a.suppressed == 0));
        assert_eq!(stats.snapshot().rate_limited_total, 2);
        // Another process has its own bucket.
        d.detect(&cron_write(43, 1_010), &mut out);
        assert_eq!(out.len(), 4);
        // Half a second on, no token is back yet: no summary.
        out.clear();
        d.sweep(500_001_000, &mut out);
        assert!(out.is_empty());
        // A second on, one is: the summary stands for the two, carrying
        // the last alert held back.
        d.sweep(1_000_001_000, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].suppressed, 2);
        assert_eq!(out[0].event.ktime_ns, 1_004);
        assert_eq!(
            out[0].message,
            "Cron job written: /etc/cron.d/job (open by pid 42) (2 alerts suppressed by rate limiting)"
        );
        // Summarized once.
        out.clear();
        d.sweep(9_000_000_000, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_new_alert_brings_the_summary_first_and_exit_and_flush_release_it() {
        let mut d = limited(1, 60.0, None);
        let mut out = Vec::new();
        d.detect(&cron_write(42, 0), &mut out);
        d.detect(&cron_write(42, 1), &mut out);
        assert_eq!(out.len(), 1);
        // A minute later the next alert passes, preceded by the summary.
        out.clear();
        d.detect(&cron_write(42, 60_000_000_000), &mut out);
        assert_eq!(out.iter().map(|a| a.suppressed).collect::<Vec<_>>(), [1, 0]);
        // Held back, then the process exits: summarized at the exit.
        d.detect(&cron_write(42, 60_000_000_001), &mut out);
        out.clear();
        let exit = Event {
            pid: 42,
            body: Body::Exit(crate::model::event::ExitBody {
                start_ns: 0,
                ppid: 1,
                name: "x".into(),
                status: crate::model::event::ExitStatus::from_wait_status(0),
            }),
            ..cron_write(42, 60_000_000_002)
        };
        d.detect(&exit, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].suppressed, 1);
        // Held back at shutdown: flushed.
        out.clear();
        d.detect(&cron_write(44, 0), &mut out);
        d.detect(&cron_write(44, 1), &mut out);
        out.clear();
        d.flush(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].event.pid, out[0].suppressed), (44, 1));
    }

    fn excluding(x: config::Exclusion, stats: Arc<Stats>) -> Detector {
        let cfg = config::Config {
            exclusions: vec![x],
            ..Default::default()
        };
        Detector::new(&cfg, "h", RuleSet::empty(), Some(stats)).unwrap()
    }

    #[test]
    fn exclusions_drop_alerts_or_events_and_count_them() {
        let stats = Arc::new(Stats::default());
        let cron = |pid| cron_write(pid, 0);
        // A rule-scoped exclusion: that rule's alerts on that path go.
        let mut d = excluding(
            config::Exclusion {
                rule: Some("rg-persist-*".into()),
                path: Some("/etc/cron.d/**".into()),
                ..Default::default()
            },
            stats.clone(),
        );
        assert!(hits(&mut d, &cron(1)).is_empty());
        assert!(!d.excluded(&cron(1)));
        assert_eq!(
            hits(&mut d, &file(FileOp::Open, "/etc/sudoers", 0)),
            ["rg-persist-sudoers"]
        );
        assert_eq!(stats.snapshot().userspace_filtered_total, 1);
        // Without `rule`, the event itself is excluded (run() drops it).
        let d = excluding(
            config::Exclusion {
                path: Some("/etc/cron.d/**".into()),
                uid: Some(0),
                ..Default::default()
            },
            stats.clone(),
        );
        // No process known: the uid cannot match, so nothing is excluded.
        assert!(!d.excluded(&cron(1)));
        let root = Arc::new(crate::model::proctable::Process {
            pid: 1,
            ppid: 0,
            start_ns: 0,
            start_exact: true,
            start_time_ns: 0,
            image: Arc::new(crate::model::event::Image {
                executable: "/usr/bin/cp".into(),
                ..Default::default()
            }),
            creds: Some(crate::model::event::Creds {
                uid: 0,
                gid: 0,
                euid: 0,
                egid: 0,
                login_uid: None,
                session_id: None,
            }),
            cgroup_id: None,
            parent: None,
            origin: crate::model::proctable::Origin::Exec,
            chain_len: 0,
        });
        let ev = Event {
            process: Some(root),
            ..cron(1)
        };
        assert!(d.excluded(&ev));
        assert!(!d.excluded(&Event {
            body: file(FileOp::Open, "/etc/crontab", 0).body,
            ..ev
        }));
    }

    #[test]
    fn user_rules_raise_alerts_with_their_own_limit() {
        let text = r#"
[[rules]]
id = "cron-dir-write"
name = "Cron directory written"
severity = "low"
events = ["open"]
rate_limit = { burst = 1, per_minute = 0 }
[[rules.all]]
field = "file.path"
prefix = "/etc/cron.d/"
"#;
        let rules = crate::detect::rules::parse_file(Path::new("/r/cron.toml"), text).unwrap();
        let mut d = Detector::new(
            &config::Config::default(),
            "h",
            RuleSet::from_rules(rules),
            None,
        )
        .unwrap();
        assert_eq!(d.enabled().last(), Some("cron-dir-write"));
        let mut out = Vec::new();
        d.detect(&cron_write(42, 0), &mut out);
        let ids: Vec<_> = out.iter().map(|a| a.rule.id.as_str()).collect();
        assert_eq!(ids, ["rg-persist-cron", "cron-dir-write"]);
        assert_eq!(out[1].rule.source, "/r/cron.toml");
        assert_eq!(
            out[1].message,
            "Cron directory written: /etc/cron.d/job (open by pid 42)"
        );
        // Once per process for the user rule; the built-in keeps its burst.
        out.clear();
        d.detect(&cron_write(42, 1), &mut out);
        let ids: Vec<_> = out.iter().map(|a| a.rule.id.as_str()).collect();
        assert_eq!(ids, ["rg-persist-cron"]);
        // Swapping the rules out takes effect on the next event.
        d.set_rules(RuleSet::empty());
        out.clear();
        d.detect(&cron_write(45, 2), &mut out);
        assert_eq!(out.len(), 1);
    }
}
