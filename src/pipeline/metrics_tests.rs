use std::io::{Read, Write};
use std::net::TcpStream;

use super::*;
use crate::kernel::ProgramStats;
use crate::model::stats::Snapshot;

/// A snapshot with a distinct value in every field.
fn known() -> Health {
    Health {
        time_ns: 1,
        last: false,
        uptime_seconds: 42,
        rss_bytes: 12_345_678,
        counters: Snapshot {
            raw_events_total: 100,
            raw_events_by_kind_total: vec![("exec", 7), ("file_open", 90)],
            invalid_schema_total: 1,
            unsupported_kind_total: 2,
            events_output_total: 95,
            alerts_output_total: 3,
            alerts_output_by_severity_total: vec![
                ("low", 0),
                ("medium", 1),
                ("high", 0),
                ("critical", 2),
            ],
            userspace_filtered_total: 4,
            rate_limited_total: 5,
            output_failures_total: 6,
            output_errors_total: 7,
            output_buffered_bytes: 8,
            output_buffer_drops_total: vec![("buffer_full", 9), ("shutdown", 0)],
            output_buffer_drops_by_kind_total: vec![("exec", 9)],
            rules_loaded: 10,
            rules_skipped: 3,
            rules_reloads_total: 11,
            rules_reload_failures_total: 12,
            config_reloads_total: 13,
            config_reload_failures_total: 14,
            correlation_state_size: 15,
            correlation_evictions_total: 16,
            proc_table_size: 17,
            proc_table_evictions_total: 18,
            cgroup_cache_size: 27,
            cgroup_cache_evictions_total: 28,
            cgroup_unresolved_total: 29,
            cgroup_tree_walks_total: 30,
            container_metadata_errors_total: 31,
            read_watch_files: 19,
            read_watch_updates_total: 20,
            hash: Box::new(crate::model::hash::Snapshot {
                hashed_total: 32,
                cache_hits_total: 33,
                cache_entries: 34,
                cache_evictions_total: 35,
                not_hashed_total: vec![
                    ("gone", 36),
                    ("too_large", 37),
                    ("queue_full", 0),
                    ("error", 38),
                ],
            }),
            kernel_ringbuf_drops_total: vec![("exec", 21), ("file_open", 22)],
            kernel_filtered_total: vec![("exec", 0), ("file_open", 23)],
            kernel_failed_total: vec![("exec", 24), ("file_open", 0)],
            kernel_path_unreadable_total: vec![("exec", 0), ("file_open", 25)],
            channel_full_drops_total: vec![
                ("poller", 26),
                ("normalizer", 0),
                ("enricher", 0),
                ("detector", 1),
            ],
            channel_full_drops_by_kind_total: vec![("file_open", 26), ("alert", 1)],
            forward_messages_total: 27,
            forward_resent_total: 28,
            forward_errors_total: 29,
            forward_queued_records: 30,
            forward_connected: 1,
            forward_drops_total: vec![
                ("queue_full", 31),
                ("collector_down", 32),
                ("too_large", 33),
                ("shutdown", 0),
            ],
            programs: None,
        },
    }
}

const EXPECTED: &str = r#"# HELP rand_guard_uptime_seconds Seconds since the agent started.
# TYPE rand_guard_uptime_seconds gauge
rand_guard_uptime_seconds 42
# HELP rand_guard_resident_memory_bytes Resident set size of the agent.
# TYPE rand_guard_resident_memory_bytes gauge
rand_guard_resident_memory_bytes 12345678
# HELP rand_guard_raw_events_total Records read from the kernel's ring buffer, valid or not.
# TYPE rand_guard_raw_events_total counter
rand_guard_raw_events_total 100
# HELP rand_guard_raw_events_by_kind_total Valid records read from the ring buffer, by record kind.
# TYPE rand_guard_raw_events_by_kind_total counter
rand_guard_raw_events_by_kind_total{kind="exec"} 7
rand_guard_raw_events_by_kind_total{kind="file_open"} 90
# HELP rand_guard_invalid_schema_total Ring-buffer records whose bytes do not follow the ABI.
# TYPE rand_guard_invalid_schema_total counter
rand_guard_invalid_schema_total 1
# HELP rand_guard_unsupported_kind_total Well-formed ring-buffer records of a kind this build does not know.
# TYPE rand_guard_unsupported_kind_total counter
rand_guard_unsupported_kind_total 2
# HELP rand_guard_events_output_total Event records written.
# TYPE rand_guard_events_output_total counter
rand_guard_events_output_total 95
# HELP rand_guard_alerts_output_total Alert records written.
# TYPE rand_guard_alerts_output_total counter
rand_guard_alerts_output_total 3
# HELP rand_guard_alerts_output_by_severity_total Alert records written, by rule severity.
# TYPE rand_guard_alerts_output_by_severity_total counter
rand_guard_alerts_output_by_severity_total{severity="low"} 0
rand_guard_alerts_output_by_severity_total{severity="medium"} 1
rand_guard_alerts_output_by_severity_total{severity="high"} 0
rand_guard_alerts_output_by_severity_total{severity="critical"} 2
# HELP rand_guard_userspace_filtered_total Events dropped by the userspace filter and exclusions.
# TYPE rand_guard_userspace_filtered_total counter
rand_guard_userspace_filtered_total 4
# HELP rand_guard_userspace_rate_limited_total Alerts held back as repeats (rate limits, once-per-process rules).
# TYPE rand_guard_userspace_rate_limited_total counter
rand_guard_userspace_rate_limited_total 5
# HELP rand_guard_output_failures_total Records the writer could not write (dropped).
# TYPE rand_guard_output_failures_total counter
rand_guard_output_failures_total 6
# HELP rand_guard_output_errors_total Failed writes to or opens of the output, and deletions of the output file found.
# TYPE rand_guard_output_errors_total counter
rand_guard_output_errors_total 7
# HELP rand_guard_output_buffered_bytes Bytes of records waiting for the output.
# TYPE rand_guard_output_buffered_bytes gauge
rand_guard_output_buffered_bytes 8
# HELP rand_guard_output_buffer_drops_total Records the writer dropped from its buffer, by reason.
# TYPE rand_guard_output_buffer_drops_total counter
rand_guard_output_buffer_drops_total{reason="buffer_full"} 9
rand_guard_output_buffer_drops_total{reason="shutdown"} 0
# HELP rand_guard_output_buffer_drops_by_kind_total Records the writer dropped from its buffer, by record kind (kinds with drops).
# TYPE rand_guard_output_buffer_drops_by_kind_total counter
rand_guard_output_buffer_drops_by_kind_total{kind="exec"} 9
# HELP rand_guard_rules_loaded User rules in force.
# TYPE rand_guard_rules_loaded gauge
rand_guard_rules_loaded 10
# HELP rand_guard_rules_skipped Sigma rules of the rules directory skipped as unsupported.
# TYPE rand_guard_rules_skipped gauge
rand_guard_rules_skipped 3
# HELP rand_guard_rules_reloads_total Rule reloads (SIGHUP) that took effect.
# TYPE rand_guard_rules_reloads_total counter
rand_guard_rules_reloads_total 11
# HELP rand_guard_rules_reload_failures_total Rule reloads (SIGHUP) refused; the old rules stayed.
# TYPE rand_guard_rules_reload_failures_total counter
rand_guard_rules_reload_failures_total 12
# HELP rand_guard_config_reloads_total Configuration reloads (SIGHUP) that took effect.
# TYPE rand_guard_config_reloads_total counter
rand_guard_config_reloads_total 13
# HELP rand_guard_config_reload_failures_total Configuration reloads (SIGHUP) refused; the running settings stayed.
# TYPE rand_guard_config_reload_failures_total counter
rand_guard_config_reload_failures_total 14
# HELP rand_guard_correlation_state_entries Entries held by scenario correlation.
# TYPE rand_guard_correlation_state_entries gauge
rand_guard_correlation_state_entries 15
# HELP rand_guard_correlation_evictions_total Correlation entries pushed out before their window was over.
# TYPE rand_guard_correlation_evictions_total counter
rand_guard_correlation_evictions_total 16
# HELP rand_guard_process_table_entries Entries in the process table.
# TYPE rand_guard_process_table_entries gauge
rand_guard_process_table_entries 17
# HELP rand_guard_process_table_evictions_total Process table entries evicted.
# TYPE rand_guard_process_table_evictions_total counter
rand_guard_process_table_evictions_total 18
# HELP rand_guard_cgroup_cache_entries Cgroups the container/unit resolver remembers.
# TYPE rand_guard_cgroup_cache_entries gauge
rand_guard_cgroup_cache_entries 27
# HELP rand_guard_cgroup_cache_evictions_total Cgroups evicted from the resolver's cache.
# TYPE rand_guard_cgroup_cache_evictions_total counter
rand_guard_cgroup_cache_evictions_total 28
# HELP rand_guard_cgroup_unresolved_total Exec records whose cgroup id matched no cgroup directory (no container or unit fields).
# TYPE rand_guard_cgroup_unresolved_total counter
rand_guard_cgroup_unresolved_total 29
# HELP rand_guard_cgroup_tree_walks_total Walks of the cgroup2 tree to find a cgroup id's path.
# TYPE rand_guard_cgroup_tree_walks_total counter
rand_guard_cgroup_tree_walks_total 30
# HELP rand_guard_container_metadata_errors_total Container runtime metadata files that were unreadable, too large or malformed.
# TYPE rand_guard_container_metadata_errors_total counter
rand_guard_container_metadata_errors_total 31
# HELP rand_guard_read_watch_files Files of [file] watch_reads that exist.
# TYPE rand_guard_read_watch_files gauge
rand_guard_read_watch_files 19
# HELP rand_guard_read_watch_updates_total Changes made to the kernel's read watch after the first fill.
# TYPE rand_guard_read_watch_updates_total counter
rand_guard_read_watch_updates_total 20
# HELP rand_guard_hash_files_hashed_total Executed files read and hashed (SHA-256).
# TYPE rand_guard_hash_files_hashed_total counter
rand_guard_hash_files_hashed_total 32
# HELP rand_guard_hash_cache_hits_total Execs whose file identity was in the hash cache.
# TYPE rand_guard_hash_cache_hits_total counter
rand_guard_hash_cache_hits_total 33
# HELP rand_guard_hash_cache_entries File hashes the cache holds.
# TYPE rand_guard_hash_cache_entries gauge
rand_guard_hash_cache_entries 34
# HELP rand_guard_hash_cache_evictions_total File hashes evicted from the cache.
# TYPE rand_guard_hash_cache_evictions_total counter
rand_guard_hash_cache_evictions_total 35
# HELP rand_guard_hash_not_hashed_total Execs whose file was not hashed, by reason (gone, too_large, queue_full, error).
# TYPE rand_guard_hash_not_hashed_total counter
rand_guard_hash_not_hashed_total{reason="gone"} 36
rand_guard_hash_not_hashed_total{reason="too_large"} 37
rand_guard_hash_not_hashed_total{reason="queue_full"} 0
rand_guard_hash_not_hashed_total{reason="error"} 38
# HELP rand_guard_kernel_ringbuf_drops_total Records the kernel dropped because the ring buffer was full, by record kind.
# TYPE rand_guard_kernel_ringbuf_drops_total counter
rand_guard_kernel_ringbuf_drops_total{kind="exec"} 21
rand_guard_kernel_ringbuf_drops_total{kind="file_open"} 22
# HELP rand_guard_kernel_filtered_total Records filtered out in the kernel, by record kind.
# TYPE rand_guard_kernel_filtered_total counter
rand_guard_kernel_filtered_total{kind="exec"} 0
rand_guard_kernel_filtered_total{kind="file_open"} 23
# HELP rand_guard_kernel_failed_total Failed operations the kernel counted without reporting, by record kind.
# TYPE rand_guard_kernel_failed_total counter
rand_guard_kernel_failed_total{kind="exec"} 24
rand_guard_kernel_failed_total{kind="file_open"} 0
# HELP rand_guard_kernel_path_unreadable_total Paths the kernel could not read at syscall exit, by record kind.
# TYPE rand_guard_kernel_path_unreadable_total counter
rand_guard_kernel_path_unreadable_total{kind="exec"} 0
rand_guard_kernel_path_unreadable_total{kind="file_open"} 25
# HELP rand_guard_channel_full_drops_total Records dropped because the next stage's channel was full, by the stage that dropped them.
# TYPE rand_guard_channel_full_drops_total counter
rand_guard_channel_full_drops_total{stage="poller"} 26
rand_guard_channel_full_drops_total{stage="normalizer"} 0
rand_guard_channel_full_drops_total{stage="enricher"} 0
rand_guard_channel_full_drops_total{stage="detector"} 1
# HELP rand_guard_channel_full_drops_by_kind_total Records dropped on a full channel, by record kind (kinds with drops).
# TYPE rand_guard_channel_full_drops_by_kind_total counter
rand_guard_channel_full_drops_by_kind_total{kind="file_open"} 26
rand_guard_channel_full_drops_by_kind_total{kind="alert"} 1
# HELP rand_guard_forward_messages_total Syslog messages written to the collector's connection ([forward.syslog]).
# TYPE rand_guard_forward_messages_total counter
rand_guard_forward_messages_total 27
# HELP rand_guard_forward_resent_total Syslog messages sent again after a connection broke before the collector acknowledged them.
# TYPE rand_guard_forward_resent_total counter
rand_guard_forward_resent_total 28
# HELP rand_guard_forward_errors_total Failed connection attempts to the syslog collector, and broken connections.
# TYPE rand_guard_forward_errors_total counter
rand_guard_forward_errors_total 29
# HELP rand_guard_forward_queued_records Records waiting in the forwarder's queue.
# TYPE rand_guard_forward_queued_records gauge
rand_guard_forward_queued_records 30
# HELP rand_guard_forward_connected 1 while the forwarder is connected to the syslog collector.
# TYPE rand_guard_forward_connected gauge
rand_guard_forward_connected 1
# HELP rand_guard_forward_drops_total Records written locally but not forwarded, by reason.
# TYPE rand_guard_forward_drops_total counter
rand_guard_forward_drops_total{reason="queue_full"} 31
rand_guard_forward_drops_total{reason="collector_down"} 32
rand_guard_forward_drops_total{reason="too_large"} 33
rand_guard_forward_drops_total{reason="shutdown"} 0
"#;

#[test]
fn exposition_text_of_a_known_snapshot() {
    let text = render(&known());
    for (i, (got, want)) in text.lines().zip(EXPECTED.lines()).enumerate() {
        assert_eq!(got, want, "line {}", i + 1);
    }
    assert_eq!(text, EXPECTED);
}

#[test]
fn program_statistics_when_the_kernel_counts_them() {
    let mut h = known();
    h.counters.programs = Some(vec![
        ProgramStats {
            name: "edr_file".into(),
            run_count: 3,
            run_time_ns: 1_500_000_000,
        },
        ProgramStats {
            name: "odd\"na\\me".into(),
            run_count: 0,
            run_time_ns: 250,
        },
    ]);
    let text = render(&h);
    let tail = text.strip_prefix(EXPECTED).expect("the rest unchanged");
    assert_eq!(
        tail,
        "# HELP rand_guard_bpf_program_runs_total Runs of each BPF program (while kernel.bpf_stats_enabled = 1).\n\
         # TYPE rand_guard_bpf_program_runs_total counter\n\
         rand_guard_bpf_program_runs_total{program=\"edr_file\"} 3\n\
         rand_guard_bpf_program_runs_total{program=\"odd\\\"na\\\\me\"} 0\n\
         # HELP rand_guard_bpf_program_run_time_seconds_total Time spent in each BPF program (while kernel.bpf_stats_enabled = 1).\n\
         # TYPE rand_guard_bpf_program_run_time_seconds_total counter\n\
         rand_guard_bpf_program_run_time_seconds_total{program=\"edr_file\"} 1.5\n\
         rand_guard_bpf_program_run_time_seconds_total{program=\"odd\\\"na\\\\me\"} 0.00000025\n"
    );
}

#[test]
fn every_family_has_help_and_type_before_its_samples() {
    let mut seen = std::collections::HashSet::new();
    let mut typed = None;
    for line in render(&known()).lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap().to_string();
            assert!(seen.insert(name.clone()), "{name} twice");
            typed = Some(name);
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap();
            assert_eq!(Some(name), typed.as_deref(), "{line}");
            assert!(name.starts_with("rand_guard_"), "{line}");
        }
    }
}

#[test]
fn textfile_is_replaced_whole_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rand_guard.prom");
    write_atomic(&path, "a 1\n").unwrap();
    write_atomic(&path, "b 2\n").unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "b 2\n");
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["rand_guard.prom"]);
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
}

#[test]
fn start_up_errors_name_the_key() {
    let stats = Arc::new(Stats::default());
    let cfg = config::Metrics {
        textfile: "/nonexistent/dir/rand_guard.prom".into(),
        listen: String::new(),
    };
    let e = start(&cfg, Duration::from_secs(1), stats.clone(), Instant::now())
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "config key `metrics.textfile`: directory /nonexistent/dir does not exist"
    );
    // A port already taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let cfg = config::Metrics {
        textfile: String::new(),
        listen: addr.clone(),
    };
    let e = start(&cfg, Duration::from_secs(1), stats, Instant::now())
        .err()
        .unwrap();
    assert!(
        e.to_string().starts_with(&format!(
            "config key `metrics.listen`: cannot listen on {addr}: "
        )),
        "{e}"
    );
}

fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn both_ways_serve_the_live_counters_and_stop_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rand_guard.prom");
    let stats = Arc::new(Stats::default());
    stats.count_output(5, &[0, 0, 1, 0]);
    let cfg = config::Metrics {
        textfile: path.to_str().unwrap().into(),
        listen: "127.0.0.1:0".into(),
    };
    let exporter = start(
        &cfg,
        Duration::from_secs(3600),
        stats.clone(),
        Instant::now(),
    )
    .unwrap();
    // Written at start, before the first interval.
    let first = fs::read_to_string(&path).unwrap();
    assert!(
        first.contains("\nrand_guard_events_output_total 5\n"),
        "{first}"
    );
    assert!(
        first.contains("\nrand_guard_alerts_output_total 1\n"),
        "{first}"
    );
    assert!(
        first.contains("\nrand_guard_alerts_output_by_severity_total{severity=\"high\"} 1\n"),
        "{first}"
    );

    let addr = exporter.http_addr().unwrap();
    stats.count_output(2, &[0; 4]);
    let resp = get(addr, "/metrics");
    assert!(resp.starts_with("HTTP/1.0 200 "), "{resp}");
    assert!(
        resp.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{resp}"
    );
    assert!(
        resp.contains("\nrand_guard_events_output_total 7\n"),
        "{resp}"
    );
    assert!(get(addr, "/").starts_with("HTTP/1.0 404 "));
    assert!(get(addr, "/metricsx").starts_with("HTTP/1.0 404 "));

    // Dropping writes the final counters and closes the port.
    stats.count_output(1, &[0; 4]);
    drop(exporter);
    let last = fs::read_to_string(&path).unwrap();
    assert!(
        last.contains("\nrand_guard_events_output_total 8\n"),
        "{last}"
    );
    // tiny_http's accept thread closes the port on its way out.
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "{addr} still accepts");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn every_family_is_listed_bpf_program_ones_included() {
    let names = family_names(&render_every_family());
    let expected: Vec<String> = [
        "uptime_seconds",
        "resident_memory_bytes",
        "raw_events_total",
        "raw_events_by_kind_total",
        "invalid_schema_total",
        "unsupported_kind_total",
        "events_output_total",
        "alerts_output_total",
        "alerts_output_by_severity_total",
        "userspace_filtered_total",
        "userspace_rate_limited_total",
        "output_failures_total",
        "output_errors_total",
        "output_buffered_bytes",
        "output_buffer_drops_total",
        "output_buffer_drops_by_kind_total",
        "rules_loaded",
        "rules_skipped",
        "rules_reloads_total",
        "rules_reload_failures_total",
        "config_reloads_total",
        "config_reload_failures_total",
        "correlation_state_entries",
        "correlation_evictions_total",
        "process_table_entries",
        "process_table_evictions_total",
        "cgroup_cache_entries",
        "cgroup_cache_evictions_total",
        "cgroup_unresolved_total",
        "cgroup_tree_walks_total",
        "container_metadata_errors_total",
        "read_watch_files",
        "read_watch_updates_total",
        "hash_files_hashed_total",
        "hash_cache_hits_total",
        "hash_cache_entries",
        "hash_cache_evictions_total",
        "hash_not_hashed_total",
        "kernel_ringbuf_drops_total",
        "kernel_filtered_total",
        "kernel_failed_total",
        "kernel_path_unreadable_total",
        "channel_full_drops_total",
        "channel_full_drops_by_kind_total",
        "forward_messages_total",
        "forward_resent_total",
        "forward_errors_total",
        "forward_queued_records",
        "forward_connected",
        "forward_drops_total",
        "bpf_program_runs_total",
        "bpf_program_run_time_seconds_total",
    ]
    .iter()
    .map(|n| format!("rand_guard_{n}"))
    .collect();
    assert_eq!(names, expected);
    // Without program statistics the two bpf_program_* families are absent.
    assert_eq!(
        family_names(&render(&known())),
        expected[..expected.len() - 2].to_vec()
    );
}
