//! Wires the agent together: kernel → poller → normalizer → enricher →
//! detector → writer, with bounded channels between the stages.
//!
//! The poller runs on the calling thread (it owns the libbpf objects);
//! each other stage gets a named thread. Shutdown (SIGINT/SIGTERM): the
//! poller starts the stop clock, drains the ring buffer and drops its
//! sender; each stage finishes its input and drops its own sender in turn;
//! the writer flushes last. Past `[pipeline] shutdown_timeout_seconds`
//! nothing waits any more: what is still in flight is dropped and counted.
//! If a stage panics, the poller notices within a poll interval and
//! stops, its neighbours see a closed channel and stop too, and the agent
//! exits with an error naming the stage instead of hanging ([`supervise`]).
//!
//! SIGHUP ([`AgentControl::reload`]): the configuration file and the rules
//! directory are read again; live settings go to the detector and the
//! writer over channels, restart-only ones are reported, and the output is
//! re-opened. Kernel programs stay attached throughout.

pub mod hygiene;
pub mod reload;
pub mod signals;
mod startup;
pub mod supervise;

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use libbpf_rs::{MapHandle, RingBuffer, RingBufferBuilder};
use nix::sys::signal::Signal;

use crate::agent::signals::Signals;
use crate::config;
use crate::config::{Backpressure, Config, ConfigError, Source};
use crate::detect::filter::Filter;
use crate::detect::rules::{RuleErrors, RuleSet};
use crate::detect::tamper::Protected;
use crate::detect::{self, persistence, tamper};
use crate::detect::{Detector, EventOutput};
use crate::kernel::{self, Kernel, KernelError, ObjectSource, Refusal};
use crate::model::container::Resolver;
use crate::model::stats::{Batch, Stage};
use crate::model::stats::{Snapshot, Stats};
use crate::pipeline::channel::{Outlet, StopClock};
use crate::pipeline::enrich::Enricher;
use crate::pipeline::metrics::{self, Exporter, MetricsError};
use crate::pipeline::output::{self, OutputError, Target, Writer};
use crate::pipeline::poller::{self, Collector, Control, PollError, RawBatch};
use crate::pipeline::{enrich, normalize, watch};
use crate::record::Context;
use hygiene::{HygieneError, Policy, Role};
use startup::{load_kernel, report_ready};
pub use supervise::{StageFn, StageWatch, supervise};

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
    #[error("pipeline stage `{0}` panicked (its message is above); the agent stopped")]
    StagePanicked(&'static str),
    #[error("building the file filter failed: {0}")]
    Filter(#[source] globset::Error),
    #[error("{0}")]
    Rules(#[from] RuleErrors),
    #[error("building the exclusions failed: {0}")]
    Exclusions(#[source] globset::Error),
    #[error(transparent)]
    Hygiene(#[from] HygieneError),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
}

/// What to do about a kernel refusal: privileges for EPERM; for a
/// verifier rejection (the program and the verifier's last lines are
/// already in the message), that root would not help.
fn privilege_hint(e: &KernelError) -> &'static str {
    if let KernelError::FastPath { .. } = e {
        return "\n  (this kernel does not give the fast path here; [kernel] hooks = \"auto\" \
                falls back to the syscall tracepoints hook by hook)";
    }
    match e.refusal() {
        Refusal::Privilege => {
            "\n  (loading BPF needs root, or CAP_BPF + CAP_PERFMON on kernels >= 5.8)"
        }
        Refusal::Verifier => {
            "\n  (the kernel's BPF verifier rejected the program: not a matter of \
             privileges; please report it with the kernel version and the lines above)"
        }
        Refusal::Other => "",
    }
}

/// `[file]` as the kernel and the filter get it: `also` (the agent's own
/// files and the accounts' `~/.ssh`, see [`also_watched`]) watched for
/// detections whatever `include` says.
fn with_also_watched(file: &config::File, also: &[String]) -> config::File {
    let mut f = file.clone();
    f.detect_only.extend(also.iter().cloned());
    f
}

/// Debug builds only: the password database the accounts' homes are read
/// from, instead of /etc/passwd (tests/e2e_file.rs plants an account whose
/// home no prefix covers without touching the host's accounts).
pub const ENV_PASSWD: &str = "RAND_GUARD_DEBUG_PASSWD";

/// Prefixes watched for detections beyond `[file]`, fixed at start: the
/// agent's own files (rg-agent-tamper) and, for
/// rg-persist-ssh-authorized-keys, the `~/.ssh` of every account whose
/// home the prefixes do not cover.
fn also_watched(cfg: &Config, protected: &[Protected]) -> Vec<String> {
    let mut also: Vec<String> = protected.iter().map(|p| p.path.clone()).collect();
    if !cfg.file.enabled || !detection_enabled(cfg, "rg-persist-ssh-authorized-keys") {
        return also;
    }
    // Debug builds only: the release build reads /etc/passwd, always.
    let passwd = std::env::var_os(ENV_PASSWD)
        .filter(|_| cfg!(debug_assertions))
        .map_or_else(|| std::path::PathBuf::from("/etc/passwd"), Into::into);
    let text = match std::fs::read_to_string(&passwd) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "rand-guard: warning: {}: {e}: authorized_keys outside [file] include are not watched",
                passwd.display()
            );
            return also;
        }
    };
    let watched: Vec<String> = cfg
        .file
        .include
        .iter()
        .chain(&cfg.file.detect_only)
        .cloned()
        .collect();
    let resolve = |home: &str| {
        std::fs::canonicalize(home)
            .ok()
            .and_then(|p| p.to_str().map(str::to_string))
    };
    let (dirs, left_out) = persistence::account_ssh_dirs(&text, &watched, resolve);
    if left_out > 0 {
        eprintln!(
            "rand-guard: warning: {left_out} accounts' ~/.ssh outside [file] include are not watched \
             (at most {} are); add their homes to [file] include",
            persistence::MAX_ACCOUNT_SSH_DIRS
        );
    }
    also.extend(dirs);
    also
}

/// Reads the configuration file again (SIGHUP), the way it was found at
/// start.
pub type Reread<'a> = &'a dyn Fn() -> Result<(Config, Source), ConfigError>;

/// Run until SIGINT/SIGTERM. `output` overrides `config.output.path`, at
/// start and on every reload; `config_path` is the file the configuration
/// came from (protected by rg-agent-tamper), if any; `reread` reads the
/// configuration again (SIGHUP). `file_policy` says whether the
/// configuration file, the rules and an external BPF object must pass the
/// [`hygiene`] checks (at start and on every reload).
pub fn run(
    cfg: &Config,
    output: Option<&str>,
    config_path: Option<&Path>,
    file_policy: Policy,
    reread: Reread,
) -> Result<Snapshot, AgentError> {
    // Before any thread exists, so every thread inherits the mask.
    let signals = Signals::block().map_err(AgentError::Signals)?;
    let stats = Arc::new(Stats::default());
    let cfg = with_output(cfg, output);
    let target = Target::parse(&cfg.output.path);
    let sink = target.open()?;
    // Held to the end of `run`: its drop writes the final counters.
    let _metrics = start_metrics(&cfg, &stats)?;
    let clock = Arc::new(StopClock::new(Duration::from_secs(
        cfg.pipeline.shutdown_timeout_seconds.into(),
    )));
    let me = std::process::id();
    let source = ObjectSource::from_env();
    let protected = protected_files(&cfg, &source, config_path);
    let also = also_watched(&cfg, &protected);
    let mut detection = Detection::build(&cfg, &protected, &also, file_policy, &stats, me)?;
    let kernel = load_kernel(&cfg, &source, &detection.filter, file_policy, me)?;
    detection.ctx.hook_paths = kernel.hook_paths.clone();
    let read_watch = fill_read_watch(&cfg, &kernel, &stats)?;
    let (enricher, seeded) = seed_process_table(&cfg, me);
    let writer = Writer::new(
        target.clone(),
        sink,
        cfg.output.buffer_bytes as usize,
        detection.ctx.clone(),
        stats.clone(),
        clock.clone(),
    );
    let collector = Collector::new(stats.clone());
    let rb = open_ring_buffer(&kernel, &collector)?;
    let pipeline = build_stages(
        &cfg, &stats, &clock, detection, read_watch, enricher, writer,
    );

    supervise(pipeline.stages, |panicked| {
        report_ready(&source, &kernel, seeded, &target);
        let mut control = AgentControl {
            signals: &signals,
            kernel: &kernel,
            stats: &stats,
            clock: &clock,
            watch: panicked,
            running: cfg.clone(),
            output_override: output.map(str::to_string),
            reread,
            policy: file_policy,
            protected: &protected,
            also_watched: &also,
            agent_pid: me,
            host: &pipeline.host,
            reload: pipeline.reload,
            writer: pipeline.writer,
            stop: false,
            last_programs: None,
        };
        poll(
            &rb,
            &collector,
            pipeline.raw_tx,
            &pipeline.recycle_rx,
            &mut control,
            cfg.kernel.ring_buffer_bytes,
        )
    })?;

    Ok(final_summary(&kernel, &stats))
}

/// `[metrics]`: the textfile and the HTTP endpoint on their own threads,
/// reading the counters (restart-only: a reload leaves them as started).
/// Before the kernel is loaded, so a missing directory or a taken port
/// stops the agent before anything is attached.
fn start_metrics(cfg: &Config, stats: &Arc<Stats>) -> Result<Exporter, AgentError> {
    let every = Duration::from_secs(cfg.health.interval_seconds.into());
    let exporter = metrics::start(
        &cfg.metrics,
        every,
        stats.clone(),
        std::time::Instant::now(),
    )?;
    if let Some(addr) = exporter.http_addr() {
        eprintln!("rand-guard: metrics on http://{addr}/metrics");
    }
    if !cfg.metrics.textfile.is_empty() {
        eprintln!(
            "rand-guard: metrics to {} every {every:?}",
            cfg.metrics.textfile
        );
    }
    Ok(exporter)
}

/// The configuration with `--output` applied.
fn with_output(cfg: &Config, output: Option<&str>) -> Config {
    let mut cfg = cfg.clone();
    if let Some(o) = output {
        cfg.output.path = o.to_string();
    }
    cfg
}

/// The agent's own files, watched in the kernel for detections whatever
/// [file] include says (rg-agent-tamper).
fn protected_files(
    cfg: &Config,
    source: &ObjectSource,
    config_path: Option<&Path>,
) -> Vec<Protected> {
    if !detection_enabled(cfg, "rg-agent-tamper") {
        return Vec::new();
    }
    let exe = std::env::current_exe().ok();
    let object = match source {
        ObjectSource::File(p) => Some(p.as_path()),
        ObjectSource::Embedded => None,
    };
    tamper::protected_paths(
        exe.as_deref(),
        object,
        config_path,
        Path::new(&cfg.rules.dir),
    )
}

fn detection_enabled(cfg: &Config, id: &str) -> bool {
    !cfg.detections.disabled.iter().any(|d| d == id)
}

/// The detector stage's parts, built before the kernel is loaded: the
/// filter's prefix rules are also the kernel's (one definition), and bad
/// rules stop the agent before anything is attached.
struct Detection {
    filter: Filter,
    detector: Detector,
    event_output: EventOutput,
    ctx: Context,
}

impl Detection {
    fn build(
        cfg: &Config,
        protected: &[Protected],
        also: &[String],
        policy: Policy,
        stats: &Arc<Stats>,
        me: u32,
    ) -> Result<Self, AgentError> {
        let filter =
            Filter::new(&with_also_watched(&cfg.file, also)).map_err(AgentError::Filter)?;
        let (ctx, warning) = Context::from_host(cfg.process_table.ancestry_depth as usize);
        if let Some(w) = warning {
            eprintln!("rand-guard: warning: {w}");
        }
        // Bad rules stop the agent at start (a SIGHUP reload keeps the old).
        hygiene::check_rules_dir(&cfg.rules.dir, policy)?;
        let rules = RuleSet::load_dir(&cfg.rules.dir)?;
        stats.set_rules_loaded(rules.len());
        let mut detector = Detector::new(cfg, &ctx.hostname, rules, Some(stats.clone()))
            .map_err(AgentError::Exclusions)?;
        detector.protect(protected.to_vec(), me);
        Ok(Detection {
            filter,
            detector,
            event_output: EventOutput::from_config(cfg),
            ctx,
        })
    }
}

fn reads_watched(cfg: &Config) -> bool {
    cfg.file.enabled && !cfg.file.watch_reads.is_empty()
}

/// The read-watch keeper (its thread's parts) and the normalizer's hints
/// to it, when reads are watched.
struct ReadWatch {
    keeper: Option<(watch::Keeper<MapHandle>, Receiver<()>)>,
    hints: Option<watch::Hints>,
}

/// Fill the read watch before reporting ready: a read right after
/// start-up is seen. The keeper thread keeps it current from then on, on
/// hints from the normalizer.
fn fill_read_watch(cfg: &Config, kernel: &Kernel, stats: &Stats) -> Result<ReadWatch, AgentError> {
    if !reads_watched(cfg) {
        return Ok(ReadWatch {
            keeper: None,
            hints: None,
        });
    }
    let map =
        MapHandle::try_from(&kernel.map("edr_read_watch")?).map_err(|source| KernelError::Map {
            map: "edr_read_watch",
            source,
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
    Ok(ReadWatch {
        keeper: Some((keeper, hints_rx)),
        hints: Some(hints),
    })
}

/// The enricher's process table, seeded from /proc; and how many
/// processes it found. After attaching: a process started in between is
/// then seen by the kernel hooks, the scan, or both (the table takes the
/// newest).
fn seed_process_table(cfg: &Config, me: u32) -> (Enricher, usize) {
    let depth = cfg.process_table.ancestry_depth as usize;
    let mut enricher =
        Enricher::new(cfg.process_table.max_entries as usize, depth).with_cgroups(Resolver::host());
    let seeded = enricher.seed(Path::new("/proc"), me);
    (enricher, seeded)
}

/// The ring buffer reader; its callback hands each record to `collector`.
fn open_ring_buffer(
    kernel: &Kernel,
    collector: &Rc<RefCell<Collector>>,
) -> Result<RingBuffer<'static>, AgentError> {
    let cb = collector.clone();
    let events = kernel.map("edr_events")?;
    let mut builder = RingBufferBuilder::new();
    builder
        .add(&events, move |bytes| cb.borrow_mut().on_record(bytes))
        .map_err(KernelError::RingBuffer)?;
    Ok(builder.build().map_err(KernelError::RingBuffer)?)
}

/// The pipeline's threads, and what the poll loop keeps: the ends of
/// their channels it feeds or drains.
struct Pipeline {
    stages: Vec<(&'static str, StageFn<'static>)>,
    raw_tx: Outlet<RawBatch>,
    recycle_rx: Receiver<RawBatch>,
    /// Reloaded settings for the detector and the writer (SIGHUP).
    reload: Sender<detect::Reload>,
    writer: Sender<output::Settings>,
    host: String,
}

/// normalizer → enricher → detector → writer over bounded channels
/// (plus the read-watch keeper beside them).
fn build_stages(
    cfg: &Config,
    stats: &Arc<Stats>,
    clock: &Arc<StopClock>,
    detection: Detection,
    read_watch: ReadWatch,
    enricher: Enricher,
    writer: Writer,
) -> Pipeline {
    let channel = |stage| StageChannel {
        cap: cfg.pipeline.channel_capacity as usize,
        policy: cfg.pipeline.backpressure,
        stage,
        stats: stats.clone(),
        clock: clock.clone(),
    };
    let (raw_tx, raw_rx) = channel(Stage::Poller).open();
    let (recycle_tx, recycle_rx) = bounded(cfg.pipeline.channel_capacity as usize);
    let (norm_tx, norm_rx) = channel(Stage::Normalizer).open();
    let (enr_tx, enr_rx) = channel(Stage::Enricher).open();
    let (det_tx, det_rx) = channel(Stage::Detector).open();
    // Unbounded: reloads come from an operator, a handful at most, and the
    // poller must never block on a busy detector or writer.
    let (reload_tx, reload_rx) = unbounded();
    let (writer_tx, writer_rx) = unbounded();
    let normalizer = normalize::Normalizer::new().with_watch_reads(&cfg.file.watch_reads);
    let health_every = Duration::from_secs(cfg.health.interval_seconds.into());
    let host = detection.ctx.hostname.clone();
    let Detection {
        filter,
        detector,
        event_output,
        ..
    } = detection;
    let hints = read_watch.hints;
    let (st, st2, st3) = (stats.clone(), stats.clone(), stats.clone());
    let mut stages: Vec<(&'static str, StageFn)> = vec![
        (
            "normalizer",
            Box::new(move || normalize::run(raw_rx, norm_tx, recycle_tx, normalizer, hints, st)),
        ),
        (
            "enricher",
            Box::new(move || enrich::run(norm_rx, enr_tx, enricher, st2)),
        ),
        (
            "detector",
            Box::new(move || {
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
        ),
        (
            "writer",
            Box::new(move || output::run(det_rx, writer_rx, writer, health_every)),
        ),
    ];
    // Ends when the normalizer drops the hints' sender.
    if let Some((k, rx)) = read_watch.keeper {
        let st = stats.clone();
        stages.push(("read-watch", Box::new(move || watch::run(k, rx, st))));
    }
    Pipeline {
        stages,
        raw_tx,
        recycle_rx,
        reload: reload_tx,
        writer: writer_tx,
        host,
    }
}

/// A bounded channel out of `stage`: its sender waits or drops as
/// `[pipeline] backpressure` says, and counts drops under the stage.
struct StageChannel {
    cap: usize,
    policy: Backpressure,
    stage: Stage,
    stats: Arc<Stats>,
    clock: Arc<StopClock>,
}

impl StageChannel {
    fn open<T: Batch>(self) -> (Outlet<T>, Receiver<T>) {
        let (tx, rx) = bounded(self.cap);
        let tx = Outlet::new(tx, self.policy, self.stage, self.stats, self.clock);
        (tx, rx)
    }
}

/// The poll loop, on this thread (it owns the libbpf objects), until a
/// stop; then the first stage's input closes.
fn poll(
    rb: &RingBuffer<'_>,
    collector: &RefCell<Collector>,
    raw_tx: Outlet<RawBatch>,
    recycle_rx: &Receiver<RawBatch>,
    control: &mut AgentControl<'_>,
    ring_buffer_bytes: u32,
) -> Result<(), AgentError> {
    // SAFETY: the epoll fd belongs to `rb`, which outlives every use of
    // this borrow (the poll loop below).
    let epoll_fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(rb.epoll_fd()) };
    let polled = poller::run(
        |n| rb.consume_raw_n(n),
        epoll_fd,
        collector,
        &raw_tx,
        recycle_rx,
        control,
        poller::stop_drain_batches(ring_buffer_bytes),
    );
    drop(raw_tx); // the normalizer finishes its input and hangs up
    polled.map_err(AgentError::from)
}

/// The kernel's counters as the stop left them, for the summary.
fn final_summary(kernel: &Kernel, stats: &Stats) -> Snapshot {
    if let Some(k) = kernel.read_kstats() {
        stats.set_kernel(&k);
    }
    stats.snapshot()
}

struct AgentControl<'a> {
    signals: &'a Signals,
    kernel: &'a Kernel,
    stats: &'a Arc<Stats>,
    clock: &'a StopClock,
    watch: &'a StageWatch,
    /// The configuration in force (with `--output` applied).
    running: Config,
    /// `--output`: wins over `[output] path` on every reload too.
    output_override: Option<String>,
    reread: Reread<'a>,
    /// Whether a reloaded configuration file and rules directory must
    /// pass the [`hygiene`] checks.
    policy: Policy,
    /// The agent's own files (rg-agent-tamper), fixed at start: they are
    /// in the kernel's prefixes.
    protected: &'a [Protected],
    /// Prefixes watched beyond `[file]` (see [`also_watched`]), fixed at
    /// start like the protected files they include.
    also_watched: &'a [String],
    agent_pid: u32,
    host: &'a str,
    /// Reloaded settings for the detector and the writer (SIGHUP).
    reload: Sender<detect::Reload>,
    writer: Sender<output::Settings>,
    stop: bool,
    last_programs: Option<std::time::Instant>,
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
            Ok(rules) => (rules, false),
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
