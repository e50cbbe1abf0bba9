//! Pipeline counters, shared by the stages through one `Arc<Stats>`.
//!
//! Each stage bumps only its own counters (relaxed atomics: they are
//! totals, not synchronization). Counters are monotonic totals since start,
//! so two snapshots subtract into a rate.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::kernel::ProgramStats;
use crate::kernel::abi::{self, kind};
use crate::model::alert::Severity;
use crate::model::container;

/// The stages that send into a channel, named in health records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Poller,
    Normalizer,
    Enricher,
    Detector,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::Poller,
        Stage::Normalizer,
        Stage::Enricher,
        Stage::Detector,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Poller => "poller",
            Stage::Normalizer => "normalizer",
            Stage::Enricher => "enricher",
            Stage::Detector => "detector",
        }
    }
}

/// A batch of records, each of a kind (the names of `abi::kind`, plus
/// `alert` and `health` after the detector), so drops are counted by kind.
pub trait Batch {
    fn for_each_kind(&self, f: &mut dyn FnMut(&'static str));
}

/// Something that knows its record kind.
pub trait Kinded {
    fn kind_name(&self) -> &'static str;
}

impl<T: Kinded> Batch for Vec<T> {
    fn for_each_kind(&self, f: &mut dyn FnMut(&'static str)) {
        for r in self {
            f(r.kind_name());
        }
    }
}

#[derive(Debug)]
pub struct Stats {
    /// Records read from the ring buffer (valid or not).
    raw_events: AtomicU64,
    /// The valid ones by kind: what the pipeline took in, so that
    /// read = written + dropped-with-a-reason can be checked per kind.
    raw_by_kind: [AtomicU64; kind::MAX],
    /// Records whose bytes do not follow the ABI.
    invalid_schema: AtomicU64,
    /// Well-formed records of a kind this build does not know.
    unsupported_kind: AtomicU64,
    /// Event records written.
    events_output: AtomicU64,
    /// Alert records written.
    alerts_output: AtomicU64,
    /// The same by rule severity, slots as [`Severity::ALL`].
    alerts_output_severity: [AtomicU64; Severity::ALL.len()],
    /// Events dropped by the userspace filter.
    userspace_filtered: AtomicU64,
    /// Alerts suppressed as repeats (once-per-process rules, rate limits).
    rate_limited: AtomicU64,
    /// Records the writer could not write (dropped), whatever the reason.
    output_failures: AtomicU64,
    /// Failed attempts to write to or open the output, and deletions of
    /// the output file found; retries count again.
    output_errors: AtomicU64,
    /// Bytes of records waiting for the output now (a gauge).
    output_buffered_bytes: AtomicU64,
    /// Records the writer dropped from its buffer, by [`OutputDrop`].
    output_buffer_drops: [AtomicU64; 2],
    /// The same by kind (slots as `channel_full_kind`).
    output_buffer_drops_kind: [AtomicU64; kind::ALL.len() + 3],
    /// User rules in force now (a gauge), and SIGHUP reloads that took
    /// effect or were refused (the old rules stay on a refusal).
    rules_loaded: AtomicU64,
    /// Sigma rules of the rules in force's directory that were skipped
    /// (unsupported constructs), a gauge set with `rules_loaded`.
    rules_skipped: AtomicU64,
    rules_reloads: AtomicU64,
    rules_reload_failures: AtomicU64,
    /// SIGHUP reloads of the configuration file that took effect or were
    /// refused (an invalid file: everything in force stays).
    config_reloads: AtomicU64,
    config_reload_failures: AtomicU64,
    /// Scenario correlation: entries held now (a gauge) and entries
    /// pushed out before their window was over.
    correlation_state_size: AtomicU64,
    correlation_evictions: AtomicU64,
    /// Process table entries now (a gauge) and evictions since start.
    proc_table_size: AtomicU64,
    proc_table_evictions: AtomicU64,
    /// The cgroup resolver (model::container): cache entries now (a
    /// gauge), evictions, ids whose path was not found, cgroup2 tree
    /// walks, runtime metadata files that could not be used.
    cgroup: [AtomicU64; 5],
    /// `[file] watch_reads` files that exist now (a gauge), and changes
    /// the keeper made after the first fill (replacements, appearances,
    /// disappearances).
    read_watch_files: AtomicU64,
    read_watch_updates: AtomicU64,
    /// The executable hasher (pipeline::hasher).
    pub hash: crate::model::hash::Counters,
    /// Kernel counters, summed over CPUs, as last read from the map.
    kernel_ringbuf_drops: [AtomicU64; kind::MAX],
    kernel_filtered: [AtomicU64; kind::MAX],
    kernel_failed: [AtomicU64; kind::MAX],
    kernel_path_unreadable: [AtomicU64; kind::MAX],
    /// Records dropped because the next stage's channel was full (policy
    /// `drop`), by the stage that dropped them.
    channel_full: [AtomicU64; 4],
    /// The same drops by kind: slots are kind::ALL's positions, then
    /// alert, health, unknown.
    channel_full_kind: [AtomicU64; kind::ALL.len() + 3],
    /// `[forward.syslog]`: messages written to the collector's
    /// connection, re-sent after a broken one, failed connection attempts
    /// and broken connections, records queued for the forwarder now and
    /// whether it is connected (gauges), and records dropped from
    /// forwarding by [`ForwardDrop`].
    forward_sent: AtomicU64,
    forward_resent: AtomicU64,
    forward_errors: AtomicU64,
    forward_queued: AtomicU64,
    forward_connected: AtomicU64,
    forward_drops: [AtomicU64; ForwardDrop::ALL.len()],
    /// Per-program kernel run statistics, when the kernel counts them.
    programs: Mutex<Option<Vec<ProgramStats>>>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            raw_events: AtomicU64::new(0),
            raw_by_kind: std::array::from_fn(|_| AtomicU64::new(0)),
            invalid_schema: AtomicU64::new(0),
            unsupported_kind: AtomicU64::new(0),
            events_output: AtomicU64::new(0),
            alerts_output: AtomicU64::new(0),
            alerts_output_severity: std::array::from_fn(|_| AtomicU64::new(0)),
            userspace_filtered: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            output_failures: AtomicU64::new(0),
            output_errors: AtomicU64::new(0),
            output_buffered_bytes: AtomicU64::new(0),
            output_buffer_drops: std::array::from_fn(|_| AtomicU64::new(0)),
            output_buffer_drops_kind: std::array::from_fn(|_| AtomicU64::new(0)),
            rules_loaded: AtomicU64::new(0),
            rules_skipped: AtomicU64::new(0),
            rules_reloads: AtomicU64::new(0),
            rules_reload_failures: AtomicU64::new(0),
            config_reloads: AtomicU64::new(0),
            config_reload_failures: AtomicU64::new(0),
            correlation_state_size: AtomicU64::new(0),
            correlation_evictions: AtomicU64::new(0),
            proc_table_size: AtomicU64::new(0),
            proc_table_evictions: AtomicU64::new(0),
            cgroup: std::array::from_fn(|_| AtomicU64::new(0)),
            read_watch_files: AtomicU64::new(0),
            read_watch_updates: AtomicU64::new(0),
            hash: Default::default(),
            kernel_ringbuf_drops: std::array::from_fn(|_| AtomicU64::new(0)),
            kernel_filtered: std::array::from_fn(|_| AtomicU64::new(0)),
            kernel_failed: std::array::from_fn(|_| AtomicU64::new(0)),
            kernel_path_unreadable: std::array::from_fn(|_| AtomicU64::new(0)),
            channel_full: std::array::from_fn(|_| AtomicU64::new(0)),
            channel_full_kind: std::array::from_fn(|_| AtomicU64::new(0)),
            forward_sent: AtomicU64::new(0),
            forward_resent: AtomicU64::new(0),
            forward_errors: AtomicU64::new(0),
            forward_queued: AtomicU64::new(0),
            forward_connected: AtomicU64::new(0),
            forward_drops: std::array::from_fn(|_| AtomicU64::new(0)),
            programs: Mutex::new(None),
        }
    }
}

/// Why the writer dropped a record it had been given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputDrop {
    /// The output was failing and `[output] buffer_bytes` were waiting.
    BufferFull,
    /// Still waiting when the agent stopped: the output was failing, or
    /// stuck past `[pipeline] shutdown_timeout_seconds`.
    Shutdown,
}

impl OutputDrop {
    pub const ALL: [OutputDrop; 2] = [OutputDrop::BufferFull, OutputDrop::Shutdown];

    pub fn name(self) -> &'static str {
        match self {
            OutputDrop::BufferFull => "buffer_full",
            OutputDrop::Shutdown => "shutdown",
        }
    }
}

/// Why a record written locally was not forwarded (`[forward.syslog]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardDrop {
    /// The forwarder's queue was full while connected: the collector or
    /// the network is slower than the records come.
    QueueFull,
    /// The queue was full while the collector could not be reached.
    CollectorDown,
    /// Longer than `max_message_bytes`, or than the datagram socket takes.
    TooLarge,
    /// Still queued when the agent stopped and its shutdown time ran out.
    Shutdown,
    /// Refused by a RELP collector (its `rsp` said 500): sending it again
    /// would be refused again.
    Rejected,
}

impl ForwardDrop {
    pub const ALL: [ForwardDrop; 5] = [
        ForwardDrop::QueueFull,
        ForwardDrop::CollectorDown,
        ForwardDrop::TooLarge,
        ForwardDrop::Shutdown,
        ForwardDrop::Rejected,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ForwardDrop::QueueFull => "queue_full",
            ForwardDrop::CollectorDown => "collector_down",
            ForwardDrop::TooLarge => "too_large",
            ForwardDrop::Shutdown => "shutdown",
            ForwardDrop::Rejected => "rejected",
        }
    }
}

/// A point-in-time copy of every counter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub raw_events_total: u64,
    /// (kind name, count) for every known kind.
    pub raw_events_by_kind_total: Vec<(&'static str, u64)>,
    pub invalid_schema_total: u64,
    pub unsupported_kind_total: u64,
    pub events_output_total: u64,
    pub alerts_output_total: u64,
    /// (severity, alerts written) for every [`Severity`], lowest first.
    pub alerts_output_by_severity_total: Vec<(&'static str, u64)>,
    pub userspace_filtered_total: u64,
    pub rate_limited_total: u64,
    pub output_failures_total: u64,
    pub output_errors_total: u64,
    pub output_buffered_bytes: u64,
    /// (reason, records) for every [`OutputDrop`] reason.
    pub output_buffer_drops_total: Vec<(&'static str, u64)>,
    /// The same drops by record kind; only kinds with drops are listed.
    pub output_buffer_drops_by_kind_total: Vec<(&'static str, u64)>,
    pub rules_loaded: u64,
    pub rules_skipped: u64,
    pub rules_reloads_total: u64,
    pub rules_reload_failures_total: u64,
    pub config_reloads_total: u64,
    pub config_reload_failures_total: u64,
    pub correlation_state_size: u64,
    pub correlation_evictions_total: u64,
    pub proc_table_size: u64,
    pub proc_table_evictions_total: u64,
    pub cgroup_cache_size: u64,
    pub cgroup_cache_evictions_total: u64,
    pub cgroup_unresolved_total: u64,
    pub cgroup_tree_walks_total: u64,
    pub container_metadata_errors_total: u64,
    pub read_watch_files: u64,
    pub read_watch_updates_total: u64,
    /// Boxed: a health record is a `Record` variant, kept near the size
    /// of the others.
    pub hash: Box<crate::model::hash::Snapshot>,
    /// (kind name, count) for every known kind.
    pub kernel_ringbuf_drops_total: Vec<(&'static str, u64)>,
    pub kernel_filtered_total: Vec<(&'static str, u64)>,
    pub kernel_failed_total: Vec<(&'static str, u64)>,
    pub kernel_path_unreadable_total: Vec<(&'static str, u64)>,
    /// (stage, records) dropped on a full channel, every stage.
    pub channel_full_drops_total: Vec<(&'static str, u64)>,
    /// The same drops by record kind; only kinds with drops are listed.
    pub channel_full_drops_by_kind_total: Vec<(&'static str, u64)>,
    pub forward_messages_total: u64,
    pub forward_resent_total: u64,
    pub forward_errors_total: u64,
    pub forward_queued_records: u64,
    pub forward_connected: u64,
    /// (reason, records) for every [`ForwardDrop`] reason.
    pub forward_drops_total: Vec<(&'static str, u64)>,
    /// Present while `kernel.bpf_stats_enabled` is 1.
    pub programs: Option<Vec<ProgramStats>>,
}

impl Stats {
    pub fn count_raw(&self, n: u64) {
        self.raw_events.fetch_add(n, Relaxed);
    }
    /// One valid record of `kind` read (after `count_raw`).
    pub fn count_raw_kind(&self, kind: u16) {
        if let Some(slot) = self.raw_by_kind.get(kind as usize) {
            slot.fetch_add(1, Relaxed);
        }
    }
    pub fn count_invalid_schema(&self) {
        self.invalid_schema.fetch_add(1, Relaxed);
    }
    pub fn count_unsupported_kind(&self) {
        self.unsupported_kind.fetch_add(1, Relaxed);
    }
    /// Records written: `events`, and alerts by severity (slots as
    /// [`Severity::ALL`]), whose sum is the alert total, so the total and
    /// the by-severity counts cannot disagree.
    pub fn count_output(&self, events: u64, alerts: &[u64; Severity::ALL.len()]) {
        self.events_output.fetch_add(events, Relaxed);
        self.alerts_output.fetch_add(alerts.iter().sum(), Relaxed);
        for (slot, n) in self.alerts_output_severity.iter().zip(alerts) {
            if *n > 0 {
                slot.fetch_add(*n, Relaxed);
            }
        }
    }
    /// One record of `kind` dropped by `stage` on a full channel.
    pub fn count_channel_full(&self, stage: Stage, kind: &'static str) {
        self.channel_full[stage as usize].fetch_add(1, Relaxed);
        self.channel_full_kind[kind_slot(kind)].fetch_add(1, Relaxed);
    }
    /// One record of `kind` dropped by the writer, for `why`; it is an
    /// output failure too.
    pub fn count_output_drop(&self, why: OutputDrop, kind: &'static str) {
        self.output_failures.fetch_add(1, Relaxed);
        self.output_buffer_drops[why as usize].fetch_add(1, Relaxed);
        self.output_buffer_drops_kind[kind_slot(kind)].fetch_add(1, Relaxed);
    }
    pub fn count_output_error(&self) {
        self.output_errors.fetch_add(1, Relaxed);
    }
    pub fn set_output_buffered(&self, bytes: usize) {
        self.output_buffered_bytes.store(bytes as u64, Relaxed);
    }
    pub fn count_rate_limited(&self, n: u64) {
        self.rate_limited.fetch_add(n, Relaxed);
    }
    pub fn count_userspace_filtered(&self, n: u64) {
        self.userspace_filtered.fetch_add(n, Relaxed);
    }
    pub fn count_output_failures(&self, n: u64) {
        self.output_failures.fetch_add(n, Relaxed);
    }
    pub fn set_rules_loaded(&self, n: usize) {
        self.rules_loaded.store(n as u64, Relaxed);
    }
    pub fn set_rules_skipped(&self, n: usize) {
        self.rules_skipped.store(n as u64, Relaxed);
    }
    /// A SIGHUP reload that took effect (`ok`) or was refused.
    pub fn count_rules_reload(&self, ok: bool) {
        if ok {
            self.rules_reloads.fetch_add(1, Relaxed);
        } else {
            self.rules_reload_failures.fetch_add(1, Relaxed);
        }
    }
    /// A SIGHUP reload of the configuration file that took effect (`ok`)
    /// or was refused.
    pub fn count_config_reload(&self, ok: bool) {
        if ok {
            self.config_reloads.fetch_add(1, Relaxed);
        } else {
            self.config_reload_failures.fetch_add(1, Relaxed);
        }
    }
    /// Watched files present now; `changes` made by this re-stat.
    pub fn set_read_watch(&self, present: u64, changes: u64) {
        self.read_watch_files.store(present, Relaxed);
        self.read_watch_updates.fetch_add(changes, Relaxed);
    }
    pub fn set_correlation(&self, size: usize, evictions: u64) {
        self.correlation_state_size.store(size as u64, Relaxed);
        self.correlation_evictions.store(evictions, Relaxed);
    }
    pub fn set_proc_table(&self, size: usize, evictions: u64) {
        self.proc_table_size.store(size as u64, Relaxed);
        self.proc_table_evictions.store(evictions, Relaxed);
    }
    pub fn set_cgroups(&self, c: container::Counters) {
        let values = [
            c.cache_size,
            c.evictions,
            c.unresolved,
            c.walks,
            c.metadata_errors,
        ];
        for (slot, v) in self.cgroup.iter().zip(values) {
            slot.store(v, Relaxed);
        }
    }
    /// Publish kernel counters summed over CPUs.
    pub fn set_kernel(&self, k: &abi::KStats) {
        for (slots, values) in [
            (&self.kernel_ringbuf_drops, &k.ringbuf_drops),
            (&self.kernel_filtered, &k.filtered),
            (&self.kernel_failed, &k.failed),
            (&self.kernel_path_unreadable, &k.path_unreadable),
        ] {
            for (slot, v) in slots.iter().zip(values.iter()) {
                slot.store(*v, Relaxed);
            }
        }
    }

    /// `n` records dropped from forwarding, for `why`.
    pub fn count_forward_drops(&self, why: ForwardDrop, n: u64) {
        self.forward_drops[why as usize].fetch_add(n, Relaxed);
    }
    /// `n` messages written to the collector's connection, of which
    /// `resent` a second time after a broken one.
    pub fn count_forwarded(&self, n: u64, resent: u64) {
        self.forward_sent.fetch_add(n, Relaxed);
        self.forward_resent.fetch_add(resent, Relaxed);
    }
    pub fn count_forward_error(&self) {
        self.forward_errors.fetch_add(1, Relaxed);
    }
    pub fn set_forward_connected(&self, up: bool) {
        self.forward_connected.store(up as u64, Relaxed);
    }
    pub fn forward_connected(&self) -> bool {
        self.forward_connected.load(Relaxed) != 0
    }
    /// Take `n` records into the forwarder's queue if it holds fewer than
    /// `limit - n`: the queue's bound, kept here so the health record
    /// shows its length. False: full, nothing taken.
    pub fn forward_enqueue(&self, n: u64, limit: u64) -> bool {
        self.forward_queued
            .fetch_update(Relaxed, Relaxed, |q| (q + n <= limit).then_some(q + n))
            .is_ok()
    }
    /// `n` records left the forwarder's queue (sent or dropped).
    pub fn forward_dequeued(&self, n: u64) {
        self.forward_queued.fetch_sub(n, Relaxed);
    }

    /// Publish per-program statistics (None: the kernel is not counting).
    pub fn set_programs(&self, p: Option<Vec<ProgramStats>>) {
        if let Ok(mut slot) = self.programs.lock() {
            *slot = p;
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let loss = self.loss();
        Snapshot {
            raw_events_total: self.raw_events.load(Relaxed),
            raw_events_by_kind_total: per_kind(&self.raw_by_kind),
            invalid_schema_total: self.invalid_schema.load(Relaxed),
            unsupported_kind_total: self.unsupported_kind.load(Relaxed),
            events_output_total: self.events_output.load(Relaxed),
            alerts_output_total: self.alerts_output.load(Relaxed),
            alerts_output_by_severity_total: Severity::ALL
                .iter()
                .map(|s| {
                    (
                        s.as_str(),
                        self.alerts_output_severity[*s as usize].load(Relaxed),
                    )
                })
                .collect(),
            userspace_filtered_total: self.userspace_filtered.load(Relaxed),
            rate_limited_total: self.rate_limited.load(Relaxed),
            output_failures_total: self.output_failures.load(Relaxed),
            output_errors_total: self.output_errors.load(Relaxed),
            output_buffered_bytes: self.output_buffered_bytes.load(Relaxed),
            output_buffer_drops_total: loss.output_buffer_drops,
            output_buffer_drops_by_kind_total: loss.output_buffer_drops_by_kind,
            rules_loaded: self.rules_loaded.load(Relaxed),
            rules_skipped: self.rules_skipped.load(Relaxed),
            rules_reloads_total: self.rules_reloads.load(Relaxed),
            rules_reload_failures_total: self.rules_reload_failures.load(Relaxed),
            config_reloads_total: self.config_reloads.load(Relaxed),
            config_reload_failures_total: self.config_reload_failures.load(Relaxed),
            correlation_state_size: self.correlation_state_size.load(Relaxed),
            correlation_evictions_total: self.correlation_evictions.load(Relaxed),
            proc_table_size: self.proc_table_size.load(Relaxed),
            proc_table_evictions_total: self.proc_table_evictions.load(Relaxed),
            cgroup_cache_size: self.cgroup[0].load(Relaxed),
            cgroup_cache_evictions_total: self.cgroup[1].load(Relaxed),
            cgroup_unresolved_total: self.cgroup[2].load(Relaxed),
            cgroup_tree_walks_total: self.cgroup[3].load(Relaxed),
            container_metadata_errors_total: self.cgroup[4].load(Relaxed),
            read_watch_files: self.read_watch_files.load(Relaxed),
            read_watch_updates_total: self.read_watch_updates.load(Relaxed),
            hash: Box::new(self.hash.snapshot()),
            kernel_ringbuf_drops_total: loss.kernel_ringbuf_drops,
            kernel_filtered_total: per_kind(&self.kernel_filtered),
            kernel_failed_total: per_kind(&self.kernel_failed),
            kernel_path_unreadable_total: per_kind(&self.kernel_path_unreadable),
            channel_full_drops_total: loss.channel_full_drops,
            channel_full_drops_by_kind_total: loss.channel_full_drops_by_kind,
            forward_messages_total: self.forward_sent.load(Relaxed),
            forward_resent_total: self.forward_resent.load(Relaxed),
            forward_errors_total: self.forward_errors.load(Relaxed),
            forward_queued_records: self.forward_queued.load(Relaxed),
            forward_connected: self.forward_connected.load(Relaxed),
            forward_drops_total: ForwardDrop::ALL
                .iter()
                .map(|w| (w.name(), self.forward_drops[*w as usize].load(Relaxed)))
                .collect(),
            programs: self.programs.lock().ok().and_then(|p| p.clone()),
        }
    }
}

const OUTPUT_KIND_ALERT: usize = kind::ALL.len();
const OUTPUT_KIND_HEALTH: usize = kind::ALL.len() + 1;
const OUTPUT_KIND_UNKNOWN: usize = kind::ALL.len() + 2;

/// The slot of a record kind in a by-kind counter array: kind::ALL's
/// positions, then alert, health, unknown.
fn kind_slot(kind: &str) -> usize {
    match kind {
        "alert" => OUTPUT_KIND_ALERT,
        "health" => OUTPUT_KIND_HEALTH,
        k => kind::ALL
            .iter()
            .position(|x| kind::name(*x) == Some(k))
            .unwrap_or(OUTPUT_KIND_UNKNOWN),
    }
}

/// The kinds with a count, by name.
fn by_kind(slots: &[AtomicU64; kind::ALL.len() + 3]) -> Vec<(&'static str, u64)> {
    kind::ALL
        .iter()
        .map(|k| kind::name(*k).unwrap_or("unknown"))
        .chain(["alert", "health", "unknown"])
        .zip(slots.iter())
        .map(|(n, v)| (n, v.load(Relaxed)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

fn per_kind(slots: &[AtomicU64; kind::MAX]) -> Vec<(&'static str, u64)> {
    kind::ALL
        .iter()
        .map(|k| {
            (
                kind::name(*k).unwrap_or("unknown"),
                slots[*k as usize].load(Relaxed),
            )
        })
        .collect()
}

/// The loss counters alone, totals since start: what `rg-agent-loss`
/// watches (a [`Snapshot`] would also copy the program statistics every
/// second). Each list is (name, records), as in a snapshot; or, from
/// [`Loss::since`], only what grew.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loss {
    /// By record kind: the kernel's ring buffer was full.
    pub kernel_ringbuf_drops: Vec<(&'static str, u64)>,
    /// By stage, and the same by record kind: the next stage's channel
    /// was full.
    pub channel_full_drops: Vec<(&'static str, u64)>,
    pub channel_full_drops_by_kind: Vec<(&'static str, u64)>,
    /// By [`OutputDrop`] reason, and the same by record kind: the writer
    /// dropped them.
    pub output_buffer_drops: Vec<(&'static str, u64)>,
    pub output_buffer_drops_by_kind: Vec<(&'static str, u64)>,
}

impl Stats {
    /// The loss totals now.
    pub fn loss(&self) -> Loss {
        Loss {
            kernel_ringbuf_drops: per_kind(&self.kernel_ringbuf_drops),
            channel_full_drops: Stage::ALL
                .iter()
                .map(|s| (s.name(), self.channel_full[*s as usize].load(Relaxed)))
                .collect(),
            channel_full_drops_by_kind: by_kind(&self.channel_full_kind),
            output_buffer_drops: OutputDrop::ALL
                .iter()
                .map(|w| {
                    (
                        w.name(),
                        self.output_buffer_drops[*w as usize].load(Relaxed),
                    )
                })
                .collect(),
            output_buffer_drops_by_kind: by_kind(&self.output_buffer_drops_kind),
        }
    }
}

impl Loss {
    fn lists(&self) -> [&Vec<(&'static str, u64)>; 5] {
        [
            &self.kernel_ringbuf_drops,
            &self.channel_full_drops,
            &self.channel_full_drops_by_kind,
            &self.output_buffer_drops,
            &self.output_buffer_drops_by_kind,
        ]
    }

    /// What grew since `before` (earlier totals), by name; names that did
    /// not grow are left out.
    pub fn since(&self, before: &Loss) -> Loss {
        let grew = |now: &Vec<(&'static str, u64)>, then: &Vec<(&'static str, u64)>| {
            now.iter()
                .map(|(k, v)| (*k, v.saturating_sub(Snapshot::of(then, k))))
                .filter(|(_, v)| *v > 0)
                .collect()
        };
        let [a, b, c, d, e] = self.lists();
        let [a0, b0, c0, d0, e0] = before.lists();
        Loss {
            kernel_ringbuf_drops: grew(a, a0),
            channel_full_drops: grew(b, b0),
            channel_full_drops_by_kind: grew(c, c0),
            output_buffer_drops: grew(d, d0),
            output_buffer_drops_by_kind: grew(e, e0),
        }
    }

    /// Nothing lost.
    pub fn is_empty(&self) -> bool {
        self.records() == 0
    }

    /// Every record lost, wherever (each once: the by-kind lists repeat
    /// the by-stage and by-reason ones).
    pub fn records(&self) -> u64 {
        [
            &self.kernel_ringbuf_drops,
            &self.channel_full_drops,
            &self.output_buffer_drops,
        ]
        .iter()
        .flat_map(|l| l.iter().map(|(_, n)| n))
        .sum()
    }
}

impl Snapshot {
    /// A kind's value in one of the per-kind lists.
    pub fn of(list: &[(&'static str, u64)], kind: &str) -> u64 {
        list.iter().find(|(k, _)| *k == kind).map_or(0, |(_, v)| *v)
    }
}
