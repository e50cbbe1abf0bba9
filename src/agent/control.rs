//! What the poller's loop asks of the agent between batches
//! ([`Control`]): the signals (SIGTERM/SIGINT stop, SIGHUP reload), a
//! panicked stage, and the once-a-tick reads of the kernel's counters.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;
use nix::sys::signal::Signal;

use super::hygiene::{self, Policy, Role};
use super::signals::Signals;
use super::{Reread, StageWatch, reload, report_skipped, with_also_watched};
use crate::config::{Config, ConfigError, Source};
use crate::detect::filter::Filter;
use crate::detect::ioc::Feeds;
use crate::detect::rules::RuleSet;
use crate::detect::tamper::Protected;
use crate::detect::{self, Detector, EventOutput};
use crate::kernel::{self, Kernel};
use crate::model::stats::Stats;
use crate::pipeline::channel::StopClock;
use crate::pipeline::output::{self, Target};
use crate::pipeline::poller::Control;

pub(super) struct AgentControl<'a> {
    pub(super) signals: &'a Signals,
    pub(super) kernel: &'a Kernel,
    pub(super) stats: &'a Arc<Stats>,
    pub(super) clock: &'a StopClock,
    pub(super) watch: &'a StageWatch,
    /// The configuration in force (with `--output` applied).
    pub(super) running: Config,
    /// `--output`: wins over `[output] path` on every reload too.
    pub(super) output_override: Option<String>,
    pub(super) reread: Reread<'a>,
    /// Whether a reloaded configuration file and rules directory must
    /// pass the [`hygiene`] checks.
    pub(super) policy: Policy,
    /// The agent's own files (rg-agent-tamper), fixed at start: they are
    /// in the kernel's prefixes.
    pub(super) protected: &'a [Protected],
    /// Prefixes watched beyond `[file]` (see [`also_watched`]), fixed at
    /// start like the protected files they include.
    pub(super) also_watched: &'a [String],
    pub(super) agent_pid: u32,
    pub(super) host: &'a str,
    /// Reloaded settings for the detector and the writer (SIGHUP).
    pub(super) reload: Sender<detect::Reload>,
    pub(super) writer: Sender<output::Settings>,
    pub(super) stop: bool,
    pub(super) last_programs: Option<std::time::Instant>,
}

impl AgentControl<'_> {
    /// SIGHUP: read the configuration file and the rules directory again.
    ///
    /// An invalid file (or one that fails the hygiene checks) is refused
    /// with the error it would stop the agent with at start, and
    /// everything in force stays. A valid one: its live settings
    /// ([`reload::LIVE`]) take effect; a changed restart-only setting is
    /// reported ("needs a restart: <key>") and keeps its running value.
    /// Then the rules directory is loaded: a bad one (or one that fails
    /// the hygiene checks) is refused with every error, and the rules in
    /// force stay. Either way the output is re-opened (log rotation), and
    /// counters say what happened.
    fn reload(&mut self) {
        let applied = self.reload_config();
        if !applied {
            self.stats.count_config_reload(false);
        }
        let settings = output::Settings {
            target: Target::parse(&self.running.output.path),
            buffer_bytes: self.running.output.buffer_bytes as usize,
            health_every: Duration::from_secs(self.running.health.interval_seconds.into()),
        };
        let _ = self.writer.send(settings);
    }

    /// The configuration and rules part of a reload; false when the
    /// configuration was refused.
    fn reload_config(&mut self) -> bool {
        const REFUSED: &str = "rand-guard: config reload refused, everything in force stays";
        let (mut file, source) = match (self.reread)() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{REFUSED}: {e}");
                return false;
            }
        };
        if let Source::File(path) = &source
            && let Err(e) = hygiene::check(path, Role::Config, self.policy)
        {
            eprintln!("{REFUSED}: {e}");
            return false;
        }
        if let Some(o) = &self.output_override {
            file.output.path = o.clone();
        }
        let plan = match reload::plan(&self.running, &file) {
            Ok(p) => p,
            Err((key, reason)) => {
                let path = match &source {
                    Source::File(p) | Source::Defaults(p) => p.clone(),
                };
                let e = ConfigError {
                    file: path,
                    key: Some(key.to_string()).filter(|k| !k.is_empty()),
                    line: None,
                    reason,
                };
                eprintln!("{REFUSED}: {e} (a setting it depends on needs a restart)");
                return false;
            }
        };
        let cfg = &plan.effective;
        let loaded = hygiene::check_rules_dir(&cfg.rules.dir, self.policy)
            .map_err(|e| e.to_string())
            .and_then(|()| RuleSet::load_dir(&cfg.rules.dir).map_err(|e| e.to_string()));
        let (rules, keep_rules) = match loaded {
            Ok(rules) => {
                report_skipped(&rules);
                (rules, false)
            }
            Err(e) => {
                self.stats.count_rules_reload(false);
                eprintln!("rand-guard: rules reload refused, the rules in force stay:\n{e}");
                (RuleSet::default(), true)
            }
        };
        let n = rules.len();
        // Both were checked when the file was parsed; refuse rather than
        // half-apply should that ever disagree.
        let built =
            Filter::new(&with_also_watched(&cfg.file, self.also_watched)).and_then(|filter| {
                Detector::new(cfg, self.host, rules, Some(self.stats.clone())).map(
                    |mut detector| {
                        detector.protect(self.protected.to_vec(), self.agent_pid);
                        match Feeds::load(&cfg.ioc) {
                            Ok(f) => detector.set_ioc(Arc::new(f)),
                            Err(e) => {
                                eprintln!(
                                    "rand-guard: ioc reload refused, the lists in force stay: {e}"
                                );
                                detector.keep_ioc();
                            }
                        }
                        (filter, detector)
                    },
                )
            });
        let (filter, detector) = match built {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{REFUSED}: {source}: {e}");
                return false;
            }
        };
        let msg = detect::Reload {
            filter,
            detector,
            keep_rules,
            keep_correlation: cfg.detections == self.running.detections,
            output: EventOutput::from_config(cfg),
        };
        if self.reload.send(msg).is_err() {
            return false; // the detector is gone: the pipeline is stopping
        }
        if !keep_rules {
            self.stats.count_rules_reload(true);
            eprintln!(
                "rand-guard: rules reloaded: {n} rules from {}",
                cfg.rules.dir.display()
            );
        }
        for c in &plan.needs_restart {
            eprintln!(
                "rand-guard: config reload: needs a restart: {} (the running value {} stays; \
                 the file says {})",
                c.key, c.running, c.file
            );
        }
        let changed: Vec<&str> = plan.changed.iter().map(|c| c.key.as_str()).collect();
        eprintln!(
            "rand-guard: config reloaded from {source}: {}",
            if changed.is_empty() {
                "no live setting changed".to_string()
            } else {
                format!("changed {}", changed.join(", "))
            }
        );
        self.stats.count_config_reload(true);
        self.running = plan.effective;
        true
    }
}

impl Control for AgentControl<'_> {
    fn wake_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.signals.fd()
    }

    fn should_stop(&mut self) -> bool {
        for sig in self.signals.pending() {
            match sig {
                Signal::SIGINT | Signal::SIGTERM => self.stop = true,
                Signal::SIGHUP => self.reload(),
                _ => {}
            }
        }
        match self.watch.failed() {
            Some(stage) if !self.stop => {
                eprintln!("rand-guard: pipeline stage `{stage}` panicked; stopping");
                self.stop = true;
            }
            _ => {}
        }
        if self.stop {
            self.clock.start();
        }
        self.stop
    }

    fn tick(&mut self) {
        if let Some(k) = self.kernel.read_kstats() {
            self.stats.set_kernel(&k);
        }
        // Program run statistics cost a syscall per program: once a second.
        if self
            .last_programs
            .is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(1))
        {
            self.last_programs = Some(std::time::Instant::now());
            let stats = kernel::bpf_stats_enabled().then(|| self.kernel.program_stats());
            self.stats.set_programs(stats);
        }
    }
}
