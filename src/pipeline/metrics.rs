//! A sink beside [`super::output`]: the health counters for Prometheus, in
//! its text exposition format (version 0.0.4), as a node_exporter textfile
//! (`[metrics] textfile`) and an HTTP `/metrics` endpoint
//! (`[metrics] listen`). docs/metrics.md lists every metric.
//!
//! Neither way touches the pipeline: both read [`Stats::snapshot`] (relaxed
//! atomics and a short lock on the program statistics) on their own
//! threads, so a slow disk or a slow scraper waits alone.
//!
//! The renderer is written by hand rather than with `prometheus-client`:
//! that crate's model is a registry of live metric objects each stage would
//! update, while ours are totals the stages already keep in [`Stats`]; and
//! it writes OpenMetrics (`# EOF`, counter families named without `_total`),
//! not the 0.0.4 text node_exporter's textfile collector parses. The format
//! is a few lines per metric (HELP, TYPE, samples), tested byte for byte.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, bounded};

use crate::config;
use crate::model::health::Health;
use crate::model::stats::Stats;

/// The Content-Type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric of `h`, in the text exposition format.
pub fn render(h: &Health) -> String {
    let c = &h.counters;
    let mut out = String::with_capacity(8 << 10);
    let mut m = Out(&mut out);
    m.gauge(
        "uptime_seconds",
        "Seconds since the agent started.",
        h.uptime_seconds,
    );
    m.gauge(
        "resident_memory_bytes",
        "Resident set size of the agent.",
        h.rss_bytes,
    );
    m.counter(
        "raw_events_total",
        "Records read from the kernel's ring buffer, valid or not.",
        c.raw_events_total,
    );
    m.labeled(
        COUNTER,
        "raw_events_by_kind_total",
        "Valid records read from the ring buffer, by record kind.",
        "kind",
        &c.raw_events_by_kind_total,
    );
    m.counter(
        "invalid_schema_total",
        "Ring-buffer records whose bytes do not follow the ABI.",
        c.invalid_schema_total,
    );
    m.counter(
        "unsupported_kind_total",
        "Well-formed ring-buffer records of a kind this build does not know.",
        c.unsupported_kind_total,
    );
    m.counter(
        "events_output_total",
        "Event records written.",
        c.events_output_total,
    );
    m.counter(
        "alerts_output_total",
        "Alert records written.",
        c.alerts_output_total,
    );
    m.labeled(
        COUNTER,
        "alerts_output_by_severity_total",
        "Alert records written, by rule severity.",
        "severity",
        &c.alerts_output_by_severity_total,
    );
    m.counter(
        "userspace_filtered_total",
        "Events dropped by the userspace filter and exclusions.",
        c.userspace_filtered_total,
    );
    m.counter(
        "userspace_rate_limited_total",
        "Alerts held back as repeats (rate limits, once-per-process rules).",
        c.rate_limited_total,
    );
    m.counter(
        "output_failures_total",
        "Records the writer could not write (dropped).",
        c.output_failures_total,
    );
    m.counter(
        "output_errors_total",
        "Failed writes to or opens of the output, and deletions of the output file found.",
        c.output_errors_total,
    );
    m.gauge(
        "output_buffered_bytes",
        "Bytes of records waiting for the output.",
        c.output_buffered_bytes,
    );
    m.labeled(
        COUNTER,
        "output_buffer_drops_total",
        "Records the writer dropped from its buffer, by reason.",
        "reason",
        &c.output_buffer_drops_total,
    );
    m.labeled(
        COUNTER,
        "output_buffer_drops_by_kind_total",
        "Records the writer dropped from its buffer, by record kind (kinds with drops).",
        "kind",
        &c.output_buffer_drops_by_kind_total,
    );
    m.gauge("rules_loaded", "User rules in force.", c.rules_loaded);
    m.gauge(
        "rules_skipped",
        "Sigma rules of the rules directory skipped as unsupported.",
        c.rules_skipped,
    );
    m.counter(
        "rules_reloads_total",
        "Rule reloads (SIGHUP) that took effect.",
        c.rules_reloads_total,
    );
    m.counter(
        "rules_reload_failures_total",
        "Rule reloads (SIGHUP) refused; the old rules stayed.",
        c.rules_reload_failures_total,
    );
    m.counter(
        "config_reloads_total",
        "Configuration reloads (SIGHUP) that took effect.",
        c.config_reloads_total,
    );
    m.counter(
        "config_reload_failures_total",
        "Configuration reloads (SIGHUP) refused; the running settings stayed.",
        c.config_reload_failures_total,
    );
    m.gauge(
        "correlation_state_entries",
        "Entries held by scenario correlation.",
        c.correlation_state_size,
    );
    m.counter(
        "correlation_evictions_total",
        "Correlation entries pushed out before their window was over.",
        c.correlation_evictions_total,
    );
    m.gauge(
        "process_table_entries",
        "Entries in the process table.",
        c.proc_table_size,
    );
    m.counter(
        "process_table_evictions_total",
        "Process table entries evicted.",
        c.proc_table_evictions_total,
    );
    m.gauge(
        "cgroup_cache_entries",
        "Cgroups the container/unit resolver remembers.",
        c.cgroup_cache_size,
    );
    m.counter(
        "cgroup_cache_evictions_total",
        "Cgroups evicted from the resolver's cache.",
        c.cgroup_cache_evictions_total,
    );
    m.counter(
        "cgroup_unresolved_total",
        "Exec records whose cgroup id matched no cgroup directory (no container or unit fields).",
        c.cgroup_unresolved_total,
    );
    m.counter(
        "cgroup_tree_walks_total",
        "Walks of the cgroup2 tree to find a cgroup id's path.",
        c.cgroup_tree_walks_total,
    );
    m.counter(
        "container_metadata_errors_total",
        "Container runtime metadata files that were unreadable, too large or malformed.",
        c.container_metadata_errors_total,
    );
    m.gauge(
        "read_watch_files",
        "Files of [file] watch_reads that exist.",
        c.read_watch_files,
    );
    m.counter(
        "read_watch_updates_total",
        "Changes made to the kernel's read watch after the first fill.",
        c.read_watch_updates_total,
    );
    m.counter(
        "hash_files_hashed_total",
        "Executed files read and hashed (SHA-256).",
        c.hash.hashed_total,
    );
    m.counter(
        "hash_cache_hits_total",
        "Execs whose file identity was in the hash cache.",
        c.hash.cache_hits_total,
    );
    m.gauge(
        "hash_cache_entries",
        "File hashes the cache holds.",
        c.hash.cache_entries,
    );
    m.counter(
        "hash_cache_evictions_total",
        "File hashes evicted from the cache.",
        c.hash.cache_evictions_total,
    );
    m.labeled(
        COUNTER,
        "hash_not_hashed_total",
        "Execs whose file was not hashed, by reason (gone, too_large, queue_full, error).",
        "reason",
        &c.hash.not_hashed_total,
    );
    m.labeled(
        COUNTER,
        "kernel_ringbuf_drops_total",
        "Records the kernel dropped because the ring buffer was full, by record kind.",
        "kind",
        &c.kernel_ringbuf_drops_total,
    );
    m.labeled(
        COUNTER,
        "kernel_filtered_total",
        "Records filtered out in the kernel, by record kind.",
        "kind",
        &c.kernel_filtered_total,
    );
    m.labeled(
        COUNTER,
        "kernel_failed_total",
        "Failed operations the kernel counted without reporting, by record kind.",
        "kind",
        &c.kernel_failed_total,
    );
    m.labeled(
        COUNTER,
        "kernel_path_unreadable_total",
        "Paths the kernel could not read at syscall exit, by record kind.",
        "kind",
        &c.kernel_path_unreadable_total,
    );
    m.labeled(
        COUNTER,
        "channel_full_drops_total",
        "Records dropped because the next stage's channel was full, by the stage that dropped them.",
        "stage",
        &c.channel_full_drops_total,
    );
    m.labeled(
        COUNTER,
        "channel_full_drops_by_kind_total",
        "Records dropped on a full channel, by record kind (kinds with drops).",
        "kind",
        &c.channel_full_drops_by_kind_total,
    );
    m.counter(
        "forward_messages_total",
        "Syslog messages written to the collector's connection ([forward.syslog]).",
        c.forward_messages_total,
    );
    m.counter(
        "forward_resent_total",
        "Syslog messages sent again after a connection broke before the collector acknowledged them.",
        c.forward_resent_total,
    );
    m.counter(
        "forward_errors_total",
        "Failed connection attempts to the syslog collector, and broken connections.",
        c.forward_errors_total,
    );
    m.gauge(
        "forward_queued_records",
        "Records waiting in the forwarder's queue.",
        c.forward_queued_records,
    );
    m.gauge(
        "forward_connected",
        "1 while the forwarder is connected to the syslog collector.",
        c.forward_connected,
    );
    m.labeled(
        COUNTER,
        "forward_drops_total",
        "Records written locally but not forwarded, by reason.",
        "reason",
        &c.forward_drops_total,
    );
    // Only while the kernel counts (kernel.bpf_stats_enabled = 1): absent
    // series rather than zeros that would read as "free".
    if let Some(programs) = &c.programs {
        m.head(
            COUNTER,
            "bpf_program_runs_total",
            "Runs of each BPF program (while kernel.bpf_stats_enabled = 1).",
        );
        for p in programs {
            m.sample("bpf_program_runs_total", "program", &p.name, p.run_count);
        }
        m.head(
            COUNTER,
            "bpf_program_run_time_seconds_total",
            "Time spent in each BPF program (while kernel.bpf_stats_enabled = 1).",
        );
        for p in programs {
            m.sample(
                "bpf_program_run_time_seconds_total",
                "program",
                &p.name,
                p.run_time_ns as f64 / 1e9,
            );
        }
    }
    out
}

/// The exposition with every family the agent can write: a fresh snapshot
/// (all kinds, stages and reasons at zero) with one BPF program's
/// statistics, so the families present only while the kernel counts are
/// there too. What the Grafana dashboard (docs/grafana/rand-guard.json)
/// is checked against, so a renamed metric fails its test.
pub fn render_every_family() -> String {
    let mut counters = Stats::default().snapshot();
    counters.programs = Some(vec![crate::kernel::ProgramStats {
        name: "example".into(),
        run_count: 0,
        run_time_ns: 0,
    }]);
    render(&Health {
        time_ns: 0,
        last: false,
        uptime_seconds: 0,
        rss_bytes: 0,
        counters,
    })
}

/// The metric family names of an exposition, in order (its `# TYPE` lines).
pub fn family_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .collect()
}

const COUNTER: &str = "counter";
const GAUGE: &str = "gauge";
const PREFIX: &str = "rand_guard_";

struct Out<'a>(&'a mut String);

// Writing to a String cannot fail: the results are ignored.
impl Out<'_> {
    fn head(&mut self, kind: &str, name: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {PREFIX}{name} {help}");
        let _ = writeln!(self.0, "# TYPE {PREFIX}{name} {kind}");
    }
    fn counter(&mut self, name: &str, help: &str, v: u64) {
        self.head(COUNTER, name, help);
        let _ = writeln!(self.0, "{PREFIX}{name} {v}");
    }
    fn gauge(&mut self, name: &str, help: &str, v: u64) {
        self.head(GAUGE, name, help);
        let _ = writeln!(self.0, "{PREFIX}{name} {v}");
    }
    fn labeled(
        &mut self,
        kind: &str,
        name: &str,
        help: &str,
        label: &str,
        list: &[(&'static str, u64)],
    ) {
        self.head(kind, name, help);
        for (value, n) in list {
            self.sample(name, label, value, *n);
        }
    }
    fn sample(&mut self, name: &str, label: &str, value: &str, v: impl std::fmt::Display) {
        let _ = write!(self.0, "{PREFIX}{name}{{{label}=\"");
        // The label value escapes of the text format.
        for ch in value.chars() {
            match ch {
                '\\' => self.0.push_str("\\\\"),
                '"' => self.0.push_str("\\\""),
                '\n' => self.0.push_str("\\n"),
                c => self.0.push(c),
            }
        }
        let _ = writeln!(self.0, "\"}} {v}");
    }
}

/// A start-up error: the `[metrics]` key and the reason.
#[derive(Debug, thiserror::Error)]
#[error("config key `{key}`: {reason}")]
pub struct MetricsError {
    pub key: &'static str,
    pub reason: String,
}

/// The running metrics threads; dropping it stops them, the textfile's
/// with one last write (the final counters).
pub struct Exporter {
    stop: Option<Sender<()>>,
    textfile: Option<JoinHandle<()>>,
    server: Option<Arc<tiny_http::Server>>,
    http: Option<JoinHandle<()>>,
}

/// Start what `[metrics]` asks for (nothing when both are off). The
/// textfile's directory must exist and the first write succeed, and the
/// address must bind: otherwise an error naming the key. `every`: the
/// textfile's rewrite interval (`[health] interval_seconds`).
pub fn start(
    cfg: &config::Metrics,
    every: Duration,
    stats: Arc<Stats>,
    started: Instant,
) -> Result<Exporter, MetricsError> {
    let mut exporter = Exporter {
        stop: None,
        textfile: None,
        server: None,
        http: None,
    };
    if !cfg.listen.is_empty() {
        let server = tiny_http::Server::http(&cfg.listen).map_err(|e| MetricsError {
            key: "metrics.listen",
            reason: format!("cannot listen on {}: {e}", cfg.listen),
        })?;
        let server = Arc::new(server);
        let (srv, st) = (server.clone(), stats.clone());
        let http = std::thread::Builder::new()
            .name("metrics-http".into())
            .spawn(move || serve(&srv, &st, started))
            .map_err(|e| MetricsError {
                key: "metrics.listen",
                reason: format!("cannot start its thread: {e}"),
            })?;
        exporter.server = Some(server);
        exporter.http = Some(http);
    }
    if !cfg.textfile.is_empty() {
        let path = PathBuf::from(&cfg.textfile);
        let key = "metrics.textfile";
        let dir = path.parent().unwrap_or(Path::new("/"));
        if !dir.is_dir() {
            return Err(MetricsError {
                key,
                reason: format!("directory {} does not exist", dir.display()),
            });
        }
        let now = move || render(&Health::now(started, stats.snapshot(), false));
        write_atomic(&path, &now()).map_err(|reason| MetricsError { key, reason })?;
        let (stop, stopped) = bounded::<()>(0);
        let thread = std::thread::Builder::new()
            .name("metrics-file".into())
            .spawn(move || {
                let mut failing = false;
                loop {
                    // A closed channel is the stop: one last write below.
                    let last = stopped
                        .recv_timeout(every)
                        .is_err_and(|e| e.is_disconnected());
                    match write_atomic(&path, &now()) {
                        Ok(()) if failing => {
                            eprintln!(
                                "rand-guard: metrics textfile {}: written again",
                                path.display()
                            );
                            failing = false;
                        }
                        Ok(()) => {}
                        // Said once per failing streak, not every interval.
                        Err(e) if !failing => {
                            eprintln!("rand-guard: warning: metrics textfile: {e}");
                            failing = true;
                        }
                        Err(_) => {}
                    }
                    if last {
                        break;
                    }
                }
            })
            .map_err(|e| MetricsError {
                key,
                reason: format!("cannot start its thread: {e}"),
            })?;
        exporter.stop = Some(stop);
        exporter.textfile = Some(thread);
    }
    Ok(exporter)
}

impl Exporter {
    /// The address the endpoint listens on (the port chosen for `:0`).
    pub fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.as_ref().and_then(|s| s.server_addr().to_ip())
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(s) = &self.server {
            s.unblock();
        }
        if let Some(t) = self.http.take() {
            let _ = t.join();
        }
        // The last reference: tiny_http closes the port.
        self.server = None;
        self.stop = None;
        if let Some(t) = self.textfile.take() {
            let _ = t.join();
        }
    }
}

/// Answer scrapes until [`tiny_http::Server::unblock`]: `GET /metrics`
/// renders a fresh snapshot; any other path is 404.
fn serve(server: &tiny_http::Server, stats: &Stats, started: Instant) {
    for req in server.incoming_requests() {
        let path = req.url().split('?').next().unwrap_or("");
        let resp = if path != "/metrics" {
            tiny_http::Response::from_string("not found: try /metrics\n").with_status_code(404)
        } else if !matches!(
            req.method(),
            tiny_http::Method::Get | tiny_http::Method::Head
        ) {
            tiny_http::Response::from_string("method not allowed\n").with_status_code(405)
        } else {
            let body = render(&Health::now(started, stats.snapshot(), false));
            let mut r = tiny_http::Response::from_string(body);
            if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", CONTENT_TYPE) {
                r = r.with_header(h);
            }
            r
        };
        // A scraper that went away: nothing to do.
        let _ = req.respond(resp);
    }
}

/// Replace `path` with `text` at once: a temporary file in the same
/// directory (named so node_exporter, which reads `*.prom`, skips it),
/// then a rename over the old one. Readable by all: node_exporter runs as
/// its own user.
fn write_atomic(path: &Path, text: &str) -> Result<(), String> {
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        // Whatever the umask: node_exporter must read it.
        f.set_permissions(fs::Permissions::from_mode(0o644))?;
        f.write_all(text.as_bytes())?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
