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
//! SIGHUP ([`control::AgentControl::reload`]): the configuration file and the rules
//! directory are read again; live settings go to the detector and the
//! writer over channels, restart-only ones are reported, and the output is
//! re-opened. Kernel programs stay attached throughout.

mod control;
pub mod hygiene;
pub mod reload;
pub mod signals;
mod sinks;
mod startup;
pub mod supervise;

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use libbpf_rs::{MapHandle, RingBuffer, RingBufferBuilder};

use crate::agent::signals::Signals;
use crate::config;
use crate::config::{Config, ConfigError, Source};
use crate::detect::filter::Filter;
use crate::detect::ioc::{Feeds, IocError};
use crate::detect::rules::{RuleErrors, RuleSet};
use crate::detect::tamper::Protected;
use crate::detect::{self, persistence, tamper};
use crate::detect::{Detector, EventOutput};
use crate::kernel::{Kernel, KernelError, ObjectSource, Refusal};
use crate::model::container::Resolver;
use crate::model::stats::Stage;
use crate::model::stats::{Snapshot, Stats};
use crate::pipeline::channel::{Outlet, StageChannel, StopClock};
use crate::pipeline::enrich::Enricher;
use crate::pipeline::forward::ForwardError;
use crate::pipeline::metrics::MetricsError;
use crate::pipeline::output::{self, OutputError, Target, Writer};
use crate::pipeline::poller::{self, Collector, PollError, RawBatch};
use crate::pipeline::{enrich, hasher, normalize, watch};
use crate::record::Context;
use control::AgentControl;
use hygiene::{HygieneError, Policy};
use sinks::{start_forward, start_metrics};
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
    Ioc(#[from] IocError),
    #[error(transparent)]
    Hygiene(#[from] HygieneError),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error(transparent)]
    Forward(#[from] ForwardError),
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
    let forward = start_forward(&cfg, &detection.ctx.hostname, &stats, &clock)?;
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
    )
    .with_forward(forward);
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

/// Each Sigma rule the rules directory holds but the agent cannot run,
/// on stderr (the journal), at start and on every reload: the rule
/// file, the rule, the construct and why. Counted in health as
/// `rules_skipped`.
fn report_skipped(rules: &RuleSet) {
    for s in rules.skipped() {
        eprintln!("rand-guard: warning: {s}");
    }
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
        let (ctx, warnings) = Context::from_host(cfg.process_table.ancestry_depth as usize);
        for w in warnings {
            eprintln!("rand-guard: warning: {w}");
        }
        // Bad rules stop the agent at start (a SIGHUP reload keeps the old).
        hygiene::check_rules_dir(&cfg.rules.dir, policy)?;
        let rules = RuleSet::load_dir(&cfg.rules.dir)?;
        stats.set_rules_loaded(rules.len());
        stats.set_rules_skipped(rules.skipped().len());
        report_skipped(&rules);
        let mut detector = Detector::new(cfg, &ctx.hostname, rules, Some(stats.clone()))
            .map_err(AgentError::Exclusions)?;
        // A bad list stops the agent at start (a SIGHUP reload keeps the old).
        detector.set_ioc(Arc::new(Feeds::load(&cfg.ioc)?));
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
    let (enricher, hashing) = hasher::attach(&cfg.hash, enricher, stats);
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
    // Ends when the enricher drops the queue's sender.
    stages.extend(hashing.map(|h| ("hasher", Box::new(h) as StageFn)));
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
