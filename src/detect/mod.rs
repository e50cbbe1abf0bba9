//! Detector stage: userspace filtering, then detections.
//!
//! In: enriched event batches. Out: output [`Record`](crate::record::Record)s: each kept event,
//! followed by the alerts it raised. Counts: events dropped by the
//! userspace filter (see [`crate::detect::filter`]).
//!
//! Built-in detections are listed in [`BUILTIN_IDS`] and documented in
//! docs/detections.md; each can be turned off with `[detections] disabled`.
//!
//! Here: the [`Detector`] (every detection of one event, then the
//! severity its context sets, exclusions and rate limiting) and [`step`].
//! Package operations, compilers and service management are in
//! `context`. The single-event built-ins live in
//! `persistence`, `credential` and `port`; the loss alert, raised from the
//! counters rather than an event, in `loss`; the rate limiter in `limiter`;
//! `[[exclusions]]` in `exclusion`; the stage's thread loop in `stage`.

mod context;
pub mod correlate;
mod credential;
mod drift;
mod exclusion;
pub mod filter;
mod identity;
mod ids;
pub mod ioc;
mod limiter;
mod loss;
mod perms;
pub mod persistence;
mod port;
mod preload;
pub mod rules;
mod stage;
pub mod tamper;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::config;
use crate::detect::correlate::{Correlator, Finding};
use crate::detect::rules::fields::Scratch;
use crate::detect::rules::{RateLimit, RuleSet};
use crate::detect::tamper::{Protected, Tamper};
use crate::model::alert::{Alert, Indicator, RuleMeta, Severity, alert_id};
use crate::model::event::{Body, Event, LossBody, NetOp};
use crate::model::hash;
use crate::model::stats::Stats;
use context::Context;
use credential::CredReadRule;
use drift::Drift;
use exclusion::Exclusion;
use filter::Filter;
use limiter::{Limiter, limit_of};
use loss::LossWatch;
use perms::Perms;
use persistence::Persistence;
use port::PortRule;

pub use ids::{BUILTIN_IDS, KNOWN};
pub use loss::ID as LOSS_ID;
pub use stage::{Reload, run};

/// Every detection, built-in and user rule, of one configuration.
pub struct Detector {
    persistence: Persistence,
    ports: Option<PortRule>,
    drift: Option<Drift>,
    /// rg-preload-env (None when disabled).
    preload: Option<preload::Preload>,
    cred_read: Option<CredReadRule>,
    tamper: Tamper,
    perms: Perms,
    /// Scratch for `perms`' hits.
    perm_hits: Vec<perms::Hit>,
    correlator: Correlator,
    /// Package operations under way, and the program lists that set
    /// severities (see `context`).
    context: Context,
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
    /// Latest event sequence number seen: a loss alert's place in the
    /// stream.
    last_seq: u64,
    /// rg-agent-loss: the loss counters of `stats`, and the agent's pid
    /// (its subject; 0 until [`Detector::protect`]).
    loss: LossWatch,
    agent_pid: u32,
    /// How long an rg-drop-exec alert waits for the hash of the file run
    /// (`[hash] alert_wait_ms`; zero when nothing hashes).
    hash_wait: Duration,
    /// rg-ioc-match (None when disabled).
    ioc: Option<ioc::IocRule>,
    ioc_keep: bool,
}

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
        let persistence = Persistence::new(disabled);
        let ports = PortRule::new(d);
        let cred_read = (!disabled.iter().any(|x| x == "rg-cred-sensitive-read"))
            .then(|| CredReadRule::new(&d.sensitive_read_allow))
            .transpose()?;
        let hash_wait = Duration::from_millis(if cfg.hash.enabled {
            cfg.hash.alert_wait_ms.into()
        } else {
            0
        });
        let mut correlator = Correlator::new(d)?;
        correlator.set_hash_wait(hash_wait);
        Ok(Detector {
            persistence,
            ports,
            drift: Drift::new(d),
            preload: preload::Preload::new(disabled),
            cred_read,
            tamper: Tamper::new(d),
            perms: Perms::new(disabled),
            perm_hits: Vec::new(),
            correlator,
            context: Context::default(),
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
            last_seq: 0,
            loss: LossWatch::new(disabled),
            agent_pid: 0,
            hash_wait,
            ioc: (!disabled.iter().any(|x| x == ioc::ID))
                .then(|| ioc::IocRule::new(Default::default())),
            ioc_keep: false,
        })
    }

    /// Match `feeds` ([ioc]); a detector has none until given them.
    pub fn set_ioc(&mut self, feeds: Arc<ioc::Feeds>) {
        if let Some(r) = &mut self.ioc {
            r.set_feeds(feeds);
        }
    }

    /// The new lists were refused (SIGHUP): [`Detector::take_over`] keeps
    /// the ones in force.
    pub fn keep_ioc(&mut self) {
        self.ioc_keep = true;
    }

    /// Protect the agent's own files (rg-agent-tamper) and process
    /// (rg-agent-signal); see `tamper::protected_paths`.
    pub fn protect(&mut self, paths: Vec<Protected>, agent_pid: u32) {
        self.tamper.protect(paths);
        self.tamper.set_agent_pid(agent_pid);
        self.agent_pid = agent_pid;
    }

    /// Swap in a new rule set (SIGHUP); rate-limit state carries over.
    pub fn set_rules(&mut self, rules: RuleSet) {
        self.rules = rules;
    }

    /// Become `next` (a reloaded configuration), keeping what is under
    /// way: rate-limit buckets and the alerts they hold back, the latest
    /// event time, and the correlation windows with their eviction count
    /// (health's `correlation_evictions_total` never goes back). With
    /// `keep_rules`, the rules in force stay too (the new rules directory
    /// was refused). With `keep_correlation` (`[detections]` unchanged)
    /// the correlator in force stays as it is; else the new one, with the
    /// new settings, takes over its windows (see
    /// [`Correlator::take_state`]).
    pub fn take_over(&mut self, mut next: Detector, keep_rules: bool, keep_correlation: bool) {
        if keep_rules {
            next.rules = std::mem::take(&mut self.rules);
        }
        if keep_correlation {
            self.correlator.take_copies(&mut next.correlator);
            std::mem::swap(&mut next.correlator, &mut self.correlator);
        } else {
            next.correlator.take_state(&mut self.correlator);
        }
        next.context.take_state(&mut self.context);
        next.limiter = std::mem::take(&mut self.limiter);
        next.loss.take_state(&mut self.loss);
        if let (Some(n), Some(old)) = (&mut next.ioc, &mut self.ioc) {
            n.take_state(old, next.ioc_keep);
        }
        next.ioc_keep = false;
        next.now_ns = self.now_ns;
        next.last_seq = self.last_seq;
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
            .chain(self.drift.iter().map(|r| r.meta.id.as_str()))
            .chain(self.persistence.rules.iter().map(|r| r.id.as_str()))
            .chain(self.correlator.enabled())
            .chain(self.ioc.iter().map(|_| ioc::ID))
            .chain(self.tamper.enabled())
            .chain(self.perms.enabled())
            .chain(self.loss.enabled())
            .chain(self.preload.iter().map(|r| r.meta.id.as_str()))
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
        self.last_seq = self.last_seq.max(ev.seq);
        let mut cands = std::mem::take(&mut self.candidates);
        // An exec of a package manager starts its operation before its own
        // events are weighed; an exit ends it after (below).
        if !matches!(ev.body, Body::Exit(_)) {
            self.context.observe(ev);
        }
        self.hits.clear();
        self.persistence.hits(ev, &mut self.hits);
        for i in 0..self.hits.len() {
            let meta = self.persistence.rules[self.hits[i]].clone();
            cands.push(self.alert(&meta, ev));
        }
        if let Some(rule) = &self.ports
            && rule.hit(ev)
        {
            let mut a = self.alert(&rule.meta, ev);
            a.reasons
                .push("the port is on detections.suspicious_ports".into());
            cands.push(a);
        }
        if let Some(rule) = &self.drift
            && let Some(path) = rule.hit(ev)
        {
            let mut a = self.alert(&rule.meta, ev);
            a.reasons.push(format!(
                "{path} is in the container's writable layer, not its image"
            ));
            cands.push(a);
        }
        if let Some(rule) = &self.preload
            && let Some(hit) = rule.hit(ev)
        {
            let mnt = ev
                .process
                .as_deref()
                .and_then(|p| p.ns)
                .map_or(0, |n| n.mnt);
            let dropped = hit
                .libraries
                .first()
                .and_then(|l| self.correlator.dropped(ev.ktime_ns, &l.path, mnt));
            let mut a = self.alert(&rule.meta, ev);
            rule.finish(&mut a, ev, &hit, dropped);
            cands.push(a);
        }
        if let Some((meta, why)) = self
            .cred_read
            .as_ref()
            .and_then(|r| r.hit(ev, &mut self.context))
        {
            let mut a = self.alert(meta, ev);
            a.reasons.push(why);
            cands.push(a);
        }
        self.perms.hits(ev, &mut self.perm_hits);
        let hits = self
            .tamper
            .hit(ev)
            .into_iter()
            .chain(self.perm_hits.drain(..));
        for (rule, severity, message, reasons) in hits {
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
                reasons,
                package: None,
                indicator: None,
            });
        }
        if let Some(h) = self.ioc.as_mut().and_then(|r| r.hit(ev)) {
            let mut a = self.alert(&h.meta, ev);
            a.message = format!(
                "{} is on IOC list {}: {}",
                h.what, h.found.list, h.found.entry
            );
            a.reasons
                .push(format!("{} is listed in {}", h.found.entry, h.found.list));
            a.indicator = Some(Box::new(Indicator {
                feed: h.found.list,
                kind: h.found.kind.ecs_type(),
                entry: h.found.entry,
            }));
            cands.push(a);
        }
        self.correlator
            .observe(ev, &mut self.context, &mut self.findings);
        for f in self.findings.drain(..) {
            let mut message = f.message;
            // The dropped file's hash, in the alert's process.hash.sha256
            // and its message: worth a short wait on the hasher. (Not an
            // interpreter's, for a script.)
            if f.subject_hash
                && let Some(p) = ev.process.as_deref()
                && let Some(h) = hash::wait(&p.image, self.hash_wait).and_then(|h| h.sha256())
            {
                message.push_str(" [sha256 ");
                message.push_str(h);
                message.push(']');
            }
            cands.push(Alert {
                id: alert_id(&f.rule.id, &self.host, ev),
                rule: f.rule,
                message,
                event: ev.clone(),
                suppressed: 0,
                evidence: f.evidence,
                reasons: f.reasons,
                package: f.package,
                indicator: None,
            });
        }
        self.hits.clear();
        self.rules.matches(ev, &mut self.scratch, &mut self.hits);
        for i in 0..self.hits.len() {
            let meta = self.rules.rules()[self.hits[i]].meta.clone();
            cands.push(self.alert(&meta, ev));
        }
        for a in cands.iter_mut() {
            settle(&mut self.context, a, ev);
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
            self.context.observe(ev);
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
        self.check_loss(now, false, out);
    }

    /// Everything still held back (at shutdown), and the loss seen since
    /// the last rg-agent-loss alert.
    pub fn flush(&mut self, out: &mut Vec<Alert>) {
        self.limiter.flush(out);
        let now = self.now_ns.max(crate::model::clock::boot_now_ns());
        self.check_loss(now, true, out);
    }

    /// An rg-agent-loss alert if the loss counters grew (see `loss`); it
    /// skips exclusions and the `[alerts]` limiter: it has its own.
    fn check_loss(&mut self, now_ns: u64, force: bool, out: &mut Vec<Alert>) {
        let Some(stats) = &self.stats else { return };
        let Some((rule, lost, first_ns)) = self.loss.check(stats.loss(), now_ns, force) else {
            return;
        };
        let offset = crate::model::clock::boot_to_wall_offset();
        let wall = |ns| crate::model::clock::boot_to_wall(ns, offset);
        let body = LossBody {
            since_ns: wall(first_ns),
            lost,
        };
        let message = loss::Message(&body).to_string();
        let ev = Event {
            seq: self.last_seq,
            time_ns: wall(now_ns),
            ktime_ns: now_ns,
            pid: self.agent_pid,
            tid: self.agent_pid,
            process: loss::agent_process(self.agent_pid),
            body: Body::Loss(Box::new(body)),
        };
        out.push(Alert {
            id: alert_id(&rule.id, &self.host, &ev),
            message,
            rule,
            event: ev,
            suppressed: 0,
            evidence: Vec::new(),
            reasons: vec!["records were lost: what the agent did not see cannot be judged".into()],
            package: None,
            indicator: None,
        });
    }

    /// A single-event alert, its first reason the rule's own severity.
    fn alert(&self, rule: &Arc<RuleMeta>, ev: &Event) -> Alert {
        let base = if rule.source == "builtin" {
            format!("{} is {} by default", rule.id, rule.severity.as_str())
        } else {
            format!(
                "rule {} in {} is {}",
                rule.id,
                rule.source,
                rule.severity.as_str()
            )
        };
        Alert {
            rule: rule.clone(),
            message: Message(rule, ev).to_string(),
            id: alert_id(&rule.id, &self.host, ev),
            event: ev.clone(),
            suppressed: 0,
            evidence: Vec::new(),
            reasons: vec![base],
            package: None,
            indicator: None,
        }
    }
}

/// Detections a package operation does not lower: nothing a package
/// does for a living looks like them (a reverse shell, a web shell, code
/// run from memory, a listed port, the agent stopped or blinded). The
/// agent's own files are lowered only for rand-guard's own package.
const NOT_LOWERED_BY_PACKAGES: &[&str] = &[
    "rg-net-suspicious-port",
    "rg-webshell-exec",
    "rg-fileless-exec",
    "rg-reverse-shell",
    "rg-agent-signal",
    "rg-agent-loss",
    "rg-ioc-match",
];

/// The context's part in an alert's severity: inside a package operation
/// (the alert's process, or the writer a scenario scored) it is low;
/// outside one, service management (enabling what is installed, PID 1's
/// links: `context::service_management`) is low. Each fact is added to
/// the alert's reasons.
fn settle(ctx: &mut Context, a: &mut Alert, ev: &Event) {
    let id = a.rule.id.as_str();
    let op = match a.package.take() {
        Some(op) => Some(op),
        None => ctx.package_op(ev.process.as_deref()),
    };
    let lowered = !NOT_LOWERED_BY_PACKAGES.contains(&id)
        && (id != "rg-agent-tamper"
            || op
                .as_ref()
                .is_some_and(|o| o.name.as_deref() == Some("rand-guard")));
    match &op {
        Some(o) if lowered => {
            a.reasons.push(format!("inside a package operation: {o}"));
            lower(a);
        }
        Some(o) => a.reasons.push(format!(
            "inside a package operation ({o}), which does not lower {id}"
        )),
        None if lowered => {
            a.reasons.push("outside any package operation".into());
            if let Some(why) = context::service_management(id, ev) {
                a.reasons.push(why);
                lower(a);
            }
        }
        None => {}
    }
    a.package = op;
}

fn lower(a: &mut Alert) {
    if a.rule.severity != Severity::Low {
        a.rule = Arc::new(RuleMeta {
            severity: Severity::Low,
            ..(*a.rule).clone()
        });
    }
}

/// "Cron job written: /etc/cron.d/x (open by /usr/bin/cp, pid 42)", and
/// ", in container web-1" before the `)` for a process in a container.
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
            Some(exe) if !exe.is_empty() => write!(f, " by {exe}, pid {}", ev.pid)?,
            _ => write!(f, " by pid {}", ev.pid)?,
        }
        // A path in a container is the container's file, not the host's:
        // say whose (its name, else the short id).
        let container = ev
            .process
            .as_deref()
            .and_then(|p| p.cgroup.as_deref()?.container.as_ref());
        if let Some(c) = container {
            match &c.name {
                Some(name) => write!(f, ", in container {name}")?,
                None => write!(f, ", in container {}", &c.id[..12.min(c.id.len())])?,
            }
        }
        write!(f, ")")
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
            // Only ever inside its alert, which is always written.
            Body::Loss(_) => false,
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

#[cfg(test)]
mod context_tests;
#[cfg(test)]
mod location_tests;
#[cfg(test)]
mod loss_tests;
#[cfg(test)]
mod perms_tests;
#[cfg(test)]
mod state_tests;
#[cfg(test)]
mod tests;
