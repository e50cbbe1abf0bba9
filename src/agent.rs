//! Wires the agent together: kernel → poller → normalizer → enricher →
//! detector → writer, with bounded channels between the stages.
//!
//! The poller runs on the calling thread (it owns the libbpf objects);
//! each other stage gets a named thread. Shutdown (SIGINT/SIGTERM): the
//! poller drains the ring buffer and drops its sender; each stage finishes
//! its input and drops its own sender in turn; the writer flushes last.
//! If a stage dies, its neighbours see a closed channel and stop too, and
//! the agent exits with an error naming the stage instead of hanging.

use std::path::Path;
use std::sync::Arc;
use std::thread;

use crossbeam_channel::{Sender, bounded, unbounded};
use libbpf_rs::{MapHandle, RingBufferBuilder};
use nix::sys::signal::Signal;

use crate::channel::{Outlet, Stage};
use crate::config::Cidr;
use crate::config::Config;
use crate::detect::{Detector, EventOutput};
use crate::enrich::Enricher;
use crate::filter::Filter;
use crate::hygiene::{self, HygieneError, Policy, Role};
use crate::kernel::{self, Kernel, KernelError, LoadOptions, ObjectSource};
use crate::output::{self, OutputError, Writer};
use crate::poller::{self, Collector, Control, PollError};
use crate::record::Context;
use crate::rules::{RuleErrors, RuleSet};
use crate::signals::Signals;
use crate::stats::{Snapshot, Stats};
use crate::{caps, detect, enrich, normalize, tamper, watch};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot set up signal handling: {0}")]
    Signals(#[source] nix::Error),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("{0}{hint}", hint = privilege_hint(.0))]
    Kernel(#[from] KernelError),
    #[error(transparent)]
    Poll(#[from] PollError),
    #[error("pipeline stage `{0}` panicked")]
    StagePanicked(&'static str),
    #[error("building the file filter failed: {0}")]
    Filter(#[source] globset::Error),
    #[error("{0}")]
    Rules(#[from] RuleErrors),
    #[error("building the exclusions failed: {0}")]
    Exclusions(#[source] globset::Error),
    #[error(transparent)]
    Hygiene(#[from] HygieneError),
}

fn privilege_hint(e: &KernelError) -> &'static str {
    let s = e.to_string();
    if s.contains("Operation not permitted") || s.contains("Permission denied") {
        "\n  (loading BPF needs root, or CAP_BPF + CAP_PERFMON on kernels >= 5.8)"
    } else {
        ""
    }
}

/// Run until SIGINT/SIGTERM. `output` overrides `config.output.path`;
/// `config_path` is the file the configuration came from (protected by
/// rg-agent-tamper), if any. `file_policy` says whether the rules and an
/// external BPF object must pass the [`hygiene`] checks (at start and on
/// every rules reload).
pub fn run(
    cfg: &Config,
    output: Option<&str>,
    config_path: Option<&Path>,
    file_policy: Policy,
) -> Result<Snapshot, AgentError> {
    // Before any thread exists, so every thread inherits the mask.
    let signals = Signals::block().map_err(AgentError::Signals)?;
    let stats = Arc::new(Stats::default());
    let target = output.unwrap_or(&cfg.output.path);
    let sink = output::open(target)?;

    let enabled = |id: &str| !cfg.detections.disabled.iter().any(|d| d == id);
    let me = std::process::id();
    let source = ObjectSource::from_env();
    // The agent's own files, watched in the kernel for detections whatever
    // [file] include says (rg-agent-tamper).
    let protected = if enabled("rg-agent-tamper") {
        let exe = std::env::current_exe().ok();
        let object = match &source {
            ObjectSource::File(p) => Some(p.as_path()),
            ObjectSource::Embedded => None,
        };
        tamper::protected_paths(
            exe.as_deref(),
            object,
            config_path,
            Path::new(&cfg.rules.dir),
        )
    } else {
        Vec::new()
    };
    let mut file_cfg = cfg.file.clone();
    file_cfg
        .detect_only
        .extend(protected.iter().map(|p| p.path.clone()));
    // The filter's prefix rules are also the kernel's: one definition.
    let filter = Filter::new(&file_cfg).map_err(AgentError::Filter)?;
    let ctx = Context::from_host(cfg.process_table.ancestry_depth as usize);
    // Bad rules stop the agent at start (a SIGHUP reload keeps the old).
    hygiene::check_rules_dir(&cfg.rules.dir, file_policy)?;
    let rules = RuleSet::load_dir(&cfg.rules.dir)?;
    stats.set_rules_loaded(rules.len());
    let mut detector = Detector::new(cfg, &ctx.hostname, rules, Some(stats.clone()))
        .map_err(AgentError::Exclusions)?;
    detector.protect(protected, me);
    // Unbounded: reloads come from an operator, a handful at most, and the
    // poller must never block on a busy detector.
    let (reload_tx, reload_rx) = unbounded();
    let event_output = EventOutput::from_config(cfg);

    if let ObjectSource::File(path) = &source {
        hygiene::check(path, Role::BpfObject, file_policy)?;
    }
    let read_watch = cfg.file.enabled && !cfg.file.watch_reads.is_empty();
    let kernel = Kernel::load(LoadOptions {
        source: source.clone(),
        ring_buffer_bytes: cfg.kernel.ring_buffer_bytes,
        wakeup_bytes: cfg.kernel.wakeup_bytes,
        agent_tgid: me,
        file: cfg.file.enabled,
        report_failed: cfg.file.report_failed,
        watch_reads: read_watch,
        prefixes: filter.prefixes().kernel_entries(),
        stdio: enabled("rg-reverse-shell"),
        signals: enabled("rg-agent-signal"),
        network: cfg.network.enabled,
        net_hooks: cfg.network.hooks.clone(),
        dns: cfg.network.collect_dns,
        net_families: cfg.network.families.iter().map(|f| f.af()).collect(),
        exclude_ports: cfg.network.exclude_ports.clone(),
        exclude_networks: cfg
            .network
            .exclude_networks
            .iter()
            .filter_map(|c| Cidr::parse(c).ok())
            .collect(),
    })?;
    for (hook, why) in &kernel.skipped {
        eprintln!("rand-guard: warning: optional hook {hook} not attached: {why}");
    }
    if let Ok(eff) = caps::CapSet::effective() {
        for d in caps::degraded(eff, read_watch) {
            eprintln!("rand-guard: warning: {d}");
        }
    }

    // Fill the read watch before reporting ready: a read right after
    // start-up is seen. The keeper thread keeps it current from then on,
    // on hints from the normalizer.
    let (keeper, hints) = if read_watch {
        let map = MapHandle::try_from(&kernel.map("edr_read_watch")?).map_err(|source| {
            KernelError::Map {
                map: "edr_read_watch",
                source,
            }
        })?;
        let mut keeper = watch::Keeper::new(cfg.file.watch_reads.clone(), map);
        let r = keeper.refresh();
        for e in &r.errors {
            eprintln!("rand-guard: warning: read watch: {e}");
        }
        stats.set_read_watch(r.present as u64, 0);
        eprintln!(
            "rand-guard: read watch: {} of {} watched files exist",
            r.present,
            cfg.file.watch_reads.len()
        );
        let (hints, hints_rx) = watch::hints(&cfg.file.watch_reads);
        (Some((keeper, hints_rx)), Some(hints))
    } else {
        (None, None)
    };
    let normalizer = normalize::Normalizer::new().with_watch_reads(&cfg.file.watch_reads);

    // Seed after attaching: a process started in between is then seen by
    // the kernel hooks, the scan, or both (the table takes the newest).
    let depth = cfg.process_table.ancestry_depth as usize;
    let mut enricher = Enricher::new(cfg.process_table.max_entries as usize, depth);
    let seeded = enricher.seed(Path::new("/proc"), me);

    let cap = cfg.pipeline.channel_capacity as usize;
    let policy = cfg.pipeline.backpressure;
    let (raw_tx, raw_rx) = bounded(cap);
    let raw_tx = Outlet::new(raw_tx, policy, Stage::Poller, stats.clone());
    let (recycle_tx, recycle_rx) = bounded(cap);
    let (norm_tx, norm_rx) = bounded(cap);
    let norm_tx = Outlet::new(norm_tx, policy, Stage::Normalizer, stats.clone());
    let (enr_tx, enr_rx) = bounded(cap);
    let enr_tx = Outlet::new(enr_tx, policy, Stage::Enricher, stats.clone());
    let (det_tx, det_rx) = bounded(cap);
    let det_tx = Outlet::new(det_tx, policy, Stage::Detector, stats.clone());
    let writer = Writer::new(sink, ctx, stats.clone());
    let health_every = std::time::Duration::from_secs(cfg.health.interval_seconds.into());

    let collector = Collector::new(stats.clone());
    let cb = collector.clone();
    let events = kernel.map("edr_events")?;
    let mut builder = RingBufferBuilder::new();
    builder
        .add(&events, move |bytes| cb.borrow_mut().on_record(bytes))
        .map_err(KernelError::RingBuffer)?;
    let rb = builder.build().map_err(KernelError::RingBuffer)?;
    let epoll_fd = rb.epoll_fd();
    // SAFETY: the epoll fd belongs to `rb`, which outlives every use of
    // this borrow (the poll loop below).
    let epoll_fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(epoll_fd) };

    thread::scope(|s| {
        let (st, st2, st3) = (stats.clone(), stats.clone(), stats.clone());
        // Ends when the normalizer drops the hints' sender.
        let keeper = keeper.map(|(k, rx)| {
            let st = stats.clone();
            spawn(s, "read-watch", move || watch::run(k, rx, st))
        });
        let handles = [
            spawn(s, "normalizer", move || {
                normalize::run(raw_rx, norm_tx, recycle_tx, normalizer, hints, st)
            }),
            spawn(s, "enricher", move || {
                enrich::run(norm_rx, enr_tx, enricher, st2)
            }),
            spawn(s, "detector", move || {
                detect::run(
                    enr_rx,
                    reload_rx,
                    det_tx,
                    filter,
                    detector,
                    event_output,
                    st3,
                )
            }),
            spawn(s, "writer", move || {
                output::run(det_rx, writer, health_every)
            }),
        ];

        eprintln!(
            "rand-guard: ready: {} attached at {}; {seeded} processes seeded from /proc; output to {target}",
            source,
            kernel.attached().collect::<Vec<_>>().join(", "),
        );

        let mut control = AgentControl {
            signals: &signals,
            kernel: &kernel,
            stats: &stats,
            rules_dir: &cfg.rules.dir,
            policy: file_policy,
            reload: reload_tx,
            stop: false,
            last_programs: None,
        };
        let polled = poller::run(
            |n| rb.consume_raw_n(n),
            epoll_fd,
            &collector,
            &raw_tx,
            &recycle_rx,
            &mut control,
            poller::stop_drain_batches(cfg.kernel.ring_buffer_bytes),
        );
        drop(raw_tx); // the normalizer finishes its input and hangs up
        let mut result = polled.map_err(AgentError::from);
        for (name, h) in handles.into_iter().chain(keeper) {
            if h.join().is_err() && result.is_ok() {
                result = Err(AgentError::StagePanicked(name));
            }
        }
        result
    })?;

    if let Some(k) = kernel.read_kstats() {
        stats.set_kernel(&k);
    }
    Ok(stats.snapshot())
}

fn spawn<'scope, 'env, F>(
    s: &'scope thread::Scope<'scope, 'env>,
    name: &'static str,
    f: F,
) -> (&'static str, thread::ScopedJoinHandle<'scope, ()>)
where
    F: FnOnce() + Send + 'scope,
{
    let h = thread::Builder::new()
        .name(format!("rg-{name}"))
        .spawn_scoped(s, f)
        .expect("spawning a pipeline thread");
    (name, h)
}

struct AgentControl<'a> {
    signals: &'a Signals,
    kernel: &'a Kernel,
    stats: &'a Stats,
    rules_dir: &'a Path,
    policy: Policy,
    /// New rule sets for the detector (SIGHUP).
    reload: Sender<RuleSet>,
    stop: bool,
    last_programs: Option<std::time::Instant>,
}

impl AgentControl<'_> {
    /// SIGHUP: load the rules directory again. A good set replaces the
    /// rules in force; a bad one (or one that fails the hygiene checks) is
    /// refused with every error on stderr, and the rules in force stay.
    /// Either way a counter says so.
    fn reload_rules(&mut self) {
        let dir = self.rules_dir.display();
        let loaded = hygiene::check_rules_dir(self.rules_dir, self.policy)
            .map_err(|e| e.to_string())
            .and_then(|()| RuleSet::load_dir(self.rules_dir).map_err(|e| e.to_string()));
        match loaded {
            Ok(rules) => {
                let n = rules.len();
                if self.reload.send(rules).is_ok() {
                    self.stats.count_rules_reload(true);
                    eprintln!("rand-guard: rules reloaded: {n} rules from {dir}");
                }
            }
            Err(e) => {
                self.stats.count_rules_reload(false);
                eprintln!("rand-guard: rules reload refused, the rules in force stay:\n{e}");
            }
        }
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
                Signal::SIGHUP => self.reload_rules(),
                _ => {}
            }
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
