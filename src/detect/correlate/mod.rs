//! Scenario detections: built-ins that need more than one event, or the
//! context around one, to say something a single-event rule cannot.
//!
//! - `rg-webshell-exec`: a shell or recon command whose ancestry holds a web
//!   server or application runtime (the web server is the evidence).
//! - `rg-persist-systemd-enable`: a unit file written, then enabled or
//!   started (`systemctl enable|start|...` naming it, or a link to it in a
//!   `*.wants/` or `*.requires/` directory) within the window.
//! - `rg-drop-exec`: a file written (created, renamed into place, linked or
//!   made executable) and then executed within the window; more severe when
//!   the writer is a download tool or made a connection shortly before, or
//!   when the file lives in a world-writable temporary directory.
//! - `rg-fileless-exec`: a program executed from a memfd (`memfd_create` then
//!   `execve("/proc/self/fd/N")`): code that never touched a file system.
//! - `rg-reverse-shell`: a shell or interpreter whose stdin and stdout or
//!   stderr are an internet socket (seen in the kernel at exec and after a
//!   dup onto fd 0..2: the stdio-socket event), or a shell started with a
//!   `/dev/tcp/` or `/dev/udp/` redirection in its command line, or a
//!   shell wired to a network relay (socat EXEC:, ncat -e, mkfifo + nc).
//!
//! Every alert carries the events that led to it (`rand_guard.alert.evidence`,
//! oldest first, with their times). The state behind them (recent unit
//! writes, recent file writes, recent connects) lives in [`Window`]s: bounded
//! in entries, expired by event time, and what is pushed out early is
//! counted (`correlation_evictions_total` in health).
//!
//! Event time (`ktime_ns`, the kernel's boot clock; the record time in a
//! replay) drives every window, so a replay correlates as the agent did.

mod drop_exec;
mod relay;
mod reverse_shell;
mod systemd;
mod webshell;
mod window;

use std::sync::Arc;

use crate::config;
use crate::detect::context::Context;
use crate::model::alert::{Evidence, PackageOp, RuleMeta, Severity, Technique};
use crate::model::event::Event;
use crate::model::proctable::Process;
use drop_exec::DropExec;
use reverse_shell::ReverseShell;
use systemd::UnitEnable;
use webshell::WebShell;
pub use window::Window;

/// What a scenario found: the rule, the evidence, the message, the facts
/// that set its severity, and the package operation behind it when the
/// scenario knows one the alert's own process is not part of (the writer
/// of a dropped file or of a unit).
#[derive(Debug, Clone)]
pub struct Finding {
    pub rule: Arc<RuleMeta>,
    pub evidence: Vec<Evidence>,
    pub message: String,
    pub reasons: Vec<String>,
    pub package: Option<Arc<PackageOp>>,
    /// The process's executed file is the finding's subject (a dropped
    /// binary run), so its hash belongs in the alert; not for a script,
    /// whose process runs its interpreter.
    pub subject_hash: bool,
}

/// `process.name` as the output writes it: the executable's file name,
/// else the task name.
fn name_of(p: &Process) -> &str {
    let exe = p.image.executable.as_str();
    if exe.is_empty() {
        &p.image.name
    } else {
        exe.rsplit('/').next().unwrap_or(exe)
    }
}

/// The file name of the file the kernel ran (`rand_guard.process.exe`,
/// symlinks resolved; the interpreter of a `#!` script): what a symlink
/// or a rename of the name as run does not change. Empty when unknown.
fn exe_name_of(p: &Process) -> &str {
    let exe = p.image.exe.as_str();
    exe.rsplit('/').next().unwrap_or(exe)
}

/// A built-in's metadata (the scenario detections' and `perms`').
pub(super) fn meta(
    id: &str,
    name: &str,
    description: &str,
    severity: Severity,
    tactics: &[&str],
    techniques: &[(&str, &str)],
) -> Arc<RuleMeta> {
    Arc::new(RuleMeta {
        id: id.into(),
        name: name.into(),
        description: description.into(),
        severity,
        tactics: tactics.iter().map(|t| t.to_string()).collect(),
        techniques: techniques
            .iter()
            .map(|(id, name)| Technique {
                id: id.to_string(),
                name: Some(name.to_string()),
            })
            .collect(),
        source: "builtin".into(),
        references: Vec::new(),
        authors: Vec::new(),
    })
}

/// The same rule at another severity (drop-and-execute scores its cases).
fn at_severity(rule: &Arc<RuleMeta>, severity: Severity) -> Arc<RuleMeta> {
    if rule.severity == severity {
        return rule.clone();
    }
    Arc::new(RuleMeta {
        severity,
        ..(**rule).clone()
    })
}

// ---- the correlator --------------------------------------------------------

/// Ids of the scenario detections, stable across releases.
pub const IDS: &[&str] = &[
    "rg-webshell-exec",
    "rg-persist-systemd-enable",
    "rg-drop-exec",
    "rg-fileless-exec",
    "rg-reverse-shell",
];

/// The enabled scenarios and their state.
pub struct Correlator {
    webshell: Option<WebShell>,
    units: Option<UnitEnable>,
    drops: Option<DropExec>,
    shells: Option<ReverseShell>,
    /// Evictions counted by the correlators this one replaced (SIGHUP):
    /// `correlation_evictions_total` only increases.
    evicted_before: u64,
}

impl Correlator {
    pub fn new(d: &config::Detections) -> Result<Self, globset::Error> {
        let on = |id: &str| !d.disabled.iter().any(|x| x == id);
        let window_ns = u64::from(d.correlation_window_seconds) * 1_000_000_000;
        let cap = d.correlation_max_entries as usize;
        let webshell = on("rg-webshell-exec")
            .then(|| WebShell::new(d))
            .transpose()?;
        let units = on("rg-persist-systemd-enable")
            .then(|| UnitEnable::new(cap, window_ns))
            .transpose()?;
        let drop_on = on("rg-drop-exec");
        let fileless_on = on("rg-fileless-exec");
        let drops = (drop_on || fileless_on)
            .then(|| DropExec::new(d, drop_on, fileless_on, cap, window_ns))
            .transpose()?;
        let shells = on("rg-reverse-shell")
            .then(|| ReverseShell::new(d, cap, window_ns))
            .transpose()?;
        Ok(Correlator {
            webshell,
            units,
            drops,
            shells,
            evicted_before: 0,
        })
    }

    /// How long rg-reverse-shell waits for the hash of a program no name
    /// or inode recognized (`[hash] alert_wait_ms`; zero when nothing
    /// hashes).
    pub fn set_hash_wait(&mut self, wait: std::time::Duration) {
        if let Some(s) = &mut self.shells {
            s.hash_wait = wait;
        }
    }

    /// Take `fresh`'s scan of the system's copies of the reverse-shell
    /// programs: a reload keeps this correlator when `[detections]` is
    /// unchanged, but the binaries may have been upgraded since its scan.
    pub fn take_copies(&mut self, fresh: &mut Correlator) {
        if let (Some(s), Some(f)) = (&mut self.shells, &mut fresh.shells) {
            std::mem::swap(&mut s.copies, &mut f.copies);
        }
    }

    /// Ids of the enabled scenarios.
    pub fn enabled(&self) -> impl Iterator<Item = &str> {
        let drop = self.drops.as_ref();
        self.webshell
            .as_ref()
            .map(|w| w.rule.id.as_str())
            .into_iter()
            .chain(self.units.as_ref().map(|u| u.rule.id.as_str()))
            .chain(drop.and_then(|d| d.rule.as_ref()).map(|r| r.id.as_str()))
            .chain(
                drop.and_then(|d| d.fileless.as_ref())
                    .map(|r| r.id.as_str()),
            )
            .chain(self.shells.as_ref().map(|s| s.rule.id.as_str()))
    }

    /// What `ev` completes, appended to `out`.
    pub fn observe(&mut self, ev: &Event, ctx: &mut Context, out: &mut Vec<Finding>) {
        if let Some(w) = &self.webshell {
            w.observe(ev, out);
        }
        if let Some(u) = &mut self.units {
            u.observe(ev, ctx, out);
        }
        if let Some(d) = &mut self.drops {
            d.observe(ev, ctx, out);
        }
        if let Some(s) = &mut self.shells {
            s.observe(ev, out);
        }
    }

    /// The first write of `path` if rg-drop-exec holds it as a drop, in
    /// mount namespace `mnt`, still in the window at `now`.
    pub fn dropped(&self, now: u64, path: &str, mnt: u32) -> Option<Evidence> {
        self.drops.as_ref()?.dropped(now, path, mnt)
    }

    /// Entries held now, over every window.
    pub fn state_size(&self) -> usize {
        self.units.as_ref().map_or(0, |u| u.written.len())
            + self
                .drops
                .as_ref()
                .map_or(0, |d| d.drops.len() + d.connects.len() + d.pipes.len())
            + self
                .shells
                .as_ref()
                .map_or(0, |s| s.alerted.len() + s.pipelines.len() + s.relays.len())
    }

    /// Take over the state of `old`, the correlator of the configuration
    /// this one replaces (a `[detections]` reload): a write or connect seen
    /// before the reload still completes a scenario after it. Windows of
    /// scenarios on in both are carried over under the new size and
    /// length; state of a scenario turned off goes. The eviction count
    /// carries over whole; `old` is left without state.
    pub fn take_state(&mut self, old: &mut Correlator) {
        self.evicted_before = old.evictions();
        if let (Some(new), Some(old)) = (&mut self.units, old.units.take()) {
            new.written.adopt(old.written);
        }
        // Drops and connects are only kept while rg-drop-exec is on (the
        // fileless check alone needs no state).
        if let (Some(new), Some(old)) = (&mut self.drops, old.drops.take())
            && new.rule.is_some()
            && old.rule.is_some()
        {
            new.drops.adopt(old.drops);
            new.connects.adopt(old.connects);
            new.names.adopt(old.names);
            new.pipes.adopt(old.pipes);
            new.redirects.adopt(old.redirects);
        }
        if let (Some(new), Some(old)) = (&mut self.shells, old.shells.take()) {
            new.alerted.adopt(old.alerted);
            new.pipelines.adopt(old.pipelines);
            new.relays.adopt(old.relays);
        }
    }

    /// Entries pushed out before their window was over, since start
    /// (across reloads).
    pub fn evictions(&self) -> u64 {
        self.evicted_before
            + self.units.as_ref().map_or(0, |u| u.written.evicted())
            + self.drops.as_ref().map_or(0, |d| {
                d.drops.evicted() + d.connects.evicted() + d.pipes.evicted()
            })
            + self.shells.as_ref().map_or(0, |s| {
                s.alerted.evicted() + s.pipelines.evicted() + s.relays.evicted()
            })
    }

    /// Expire what is older than the window at `now` (event time).
    pub fn expire(&mut self, now: u64) {
        if let Some(u) = &mut self.units {
            u.written.expire(now);
        }
        if let Some(d) = &mut self.drops {
            d.drops.expire(now);
            d.connects.expire(now);
            d.names.expire(now);
            d.pipes.expire(now);
            d.redirects.expire(now);
        }
        if let Some(s) = &mut self.shells {
            s.alerted.expire(now);
            s.pipelines.expire(now);
            s.relays.expire(now);
        }
    }
}

#[cfg(test)]
mod relay_tests;
#[cfg(test)]
mod tests;
