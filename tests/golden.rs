//! Golden files pin the output schema: a deterministic event sequence
//! goes through the real enricher and serializer and must match
//! tests/golden/*.jsonl byte for byte. A deliberate schema change updates
//! the files (`UPDATE_GOLDEN=1 cargo test --test golden`), bumps
//! `record::SCHEMA_VERSION` when fields change meaning or disappear, and
//! updates docs/schema.md.

use std::sync::Arc;

use rand_guard::config::Config;
use rand_guard::detect::Detector;
use rand_guard::detect::rules::RuleSet;
use rand_guard::model::event::{
    Body, CAP_XATTR, Creds, Event, ExecBody, ExitBody, ExitStatus, FileBody, FileCaps, FileOp,
    FileTruncation, ForkBody, Image, NetBody, NetFamily, NetOp, NetTruncation, Stdio, Truncation,
    Xattr,
};
use rand_guard::model::hash::{Hashed, Skip, Snapshot as HashSnapshot};
use rand_guard::model::health::Health;
use rand_guard::model::stats::Snapshot;
use rand_guard::pipeline::enrich::Enricher;
use rand_guard::record::{self, Context, HostIds, Record};

/// 2026-11-28T08:00:00Z in ns; kernel boot time is 1000 s earlier.
const WALL: u64 = 1_795_852_800_000_000_000;
const BOOT: u64 = 1_000_000_000_000;

fn at(ms: u64, seq: u64, pid: u32, body: Body) -> Event {
    Event {
        seq,
        time_ns: WALL + ms * 1_000_000,
        ktime_ns: BOOT + ms * 1_000_000,
        pid,
        tid: pid,
        body,
        process: None,
    }
}

fn exec(
    ms: u64,
    seq: u64,
    pid: u32,
    ppid: u32,
    pstart_ms: u64,
    image: Image,
    creds: Creds,
) -> Event {
    at(
        ms,
        seq,
        pid,
        Body::Exec(ExecBody {
            argc: image.args.len() as u32,
            stdio: Default::default(),
            image: Arc::new(image),
            ppid,
            start_ns: BOOT + (ms - 1) * 1_000_000,
            parent_start_ns: BOOT + pstart_ms * 1_000_000,
            creds,
            cgroup_id: 4242,
            ns: rand_guard::model::event::Namespaces {
                pid: 4026531836,
                mnt: 4026531841,
                net: 4026531840,
                uts: 4026531838,
            },
        }),
    )
}

fn image(executable: &str, exe: &str, args: &[&str]) -> Image {
    Image {
        executable: executable.into(),
        exe: exe.into(),
        name: executable.rsplit('/').next().unwrap()[..]
            .chars()
            .take(15)
            .collect(),
        args: args.iter().map(|a| a.to_string()).collect(),
        env_vars: Vec::new(),
        working_directory: "/home/alice".into(),
        truncated: Truncation::default(),
        hash: Default::default(),
        file: None,
    }
}

/// `img` as the hasher left it.
fn hashed(img: Image, h: Hashed) -> Image {
    img.hash.set(h).unwrap();
    img
}

fn sequence() -> Vec<Event> {
    let user = Creds {
        uid: 1000,
        gid: 1000,
        euid: 1000,
        egid: 1000,
        login_uid: Some(1000),
        session_id: Some(7),
    };
    let root = Creds {
        euid: 0,
        login_uid: None,
        session_id: None,
        ..user
    };
    let mut long = image(
        "/usr/bin/printf",
        "/usr/bin/printf",
        &["printf", "aaaa", "bb"],
    );
    long.truncated.args = true;
    vec![
        // A login shell whose parent (pid 1) the agent never saw exec.
        exec(
            1,
            1,
            100,
            1,
            0,
            hashed(
                image("/bin/bash", "/usr/bin/bash", &["-bash"]),
                Hashed::from_digest(&[0x42; 32]),
            ),
            user,
        ),
        // It forks, and the child runs /bin/true and exits.
        at(
            10,
            2,
            200,
            Body::Fork(ForkBody {
                parent_pid: 100,
                parent_start_ns: BOOT,
                child_ppid: 100,
                child_start_ns: BOOT + 9_000_000,
            }),
        ),
        exec(
            11,
            3,
            200,
            100,
            0,
            hashed(
                image("/bin/true", "/usr/bin/true", &["/bin/true", "--version"]),
                Hashed::Skipped(Skip::Gone),
            ),
            user,
        ),
        at(
            12,
            4,
            200,
            Body::Exit(ExitBody {
                start_ns: BOOT + 9_000_000,
                ppid: 100,
                name: "true".into(),
                status: ExitStatus::from_wait_status(0),
            }),
        ),
        // A setuid program with a cut argv, killed by SIGSEGV with a core.
        exec(21, 5, 300, 100, 0, long, root),
        at(
            30,
            6,
            300,
            Body::Exit(ExitBody {
                start_ns: BOOT + 20_000_000,
                ppid: 100,
                name: "printf".into(),
                status: ExitStatus::from_wait_status(0x80 | 11),
            }),
        ),
        // The exit of a process the agent knows nothing about.
        at(
            40,
            7,
            999,
            Body::Exit(ExitBody {
                start_ns: 5,
                ppid: 1,
                name: "stranger".into(),
                status: ExitStatus::from_wait_status(2 << 8),
            }),
        ),
    ]
}

/// The golden host: its machine id, tests/golden/accounts for user and
/// group names, and `event.created` a minute after the first event (the
/// values of the crate's testkit::host_ids, which the replay tests use).
fn golden_ids() -> HostIds {
    HostIds::fixed(
        Some("5e1ec7ed5e1ec7ed5e1ec7ed5e1ec7ed"),
        "golden-host",
        Some(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/accounts"
        ))),
        WALL + 60_000_000_000,
    )
}

fn render(events: Vec<Event>) -> String {
    let mut enricher = Enricher::new(1024, 8);
    let ctx = Context {
        hostname: "golden-host".into(),
        agent_version: "0.0.0-golden",
        ancestry_depth: 8,
        hook_paths: Vec::new(),
        ids: golden_ids(),
    };
    let mut out = Vec::new();
    for mut ev in events {
        enricher.enrich(&mut ev);
        record::write_line(&Record::Event(ev), &ctx, &mut out).unwrap();
    }
    String::from_utf8(out).unwrap()
}

fn check(name: &str, actual: &str) {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    for (i, (a, e)) in actual.lines().zip(expected.lines()).enumerate() {
        assert_eq!(a, e, "{name} line {}", i + 1);
    }
    assert_eq!(
        actual.lines().count(),
        expected.lines().count(),
        "{name}: line count"
    );
}

fn file(ms: u64, seq: u64, pid: u32, body: FileBody) -> Event {
    at(ms, seq, pid, Body::File(body))
}

fn file_body(op: FileOp, syscall: &'static str, path: &str) -> FileBody {
    FileBody {
        op,
        syscall,
        path: path.into(),
        original_path: None,
        target_path: None,
        result: 0,
        open_flags: 0,
        mode: None,
        owner: None,
        group: None,
        at_flags: 0,
        resolved: false,
        unfiltered: false,
        watched: None,
        xattr: None,
        truncated: FileTruncation::default(),
    }
}

/// The built-in detections with the default config, no user rules.
fn builtin_detector() -> Detector {
    Detector::new(&Config::default(), "golden-host", RuleSet::empty(), None).unwrap()
}

/// File events of a known process, the alerts they raise, and a health
/// record.
fn file_sequence() -> Vec<Record> {
    let mut enricher = Enricher::new(1024, 8);
    let mut detector = builtin_detector();
    let mut shell = sequence().remove(0); // the login shell, pid 100
    enricher.enrich(&mut shell);
    let open = FileBody {
        result: 3,
        open_flags: 0o1101, // O_WRONLY | O_CREAT | O_TRUNC
        mode: Some(0o644),
        resolved: true,
        ..file_body(FileOp::Open, "openat", "/etc/cron.d/backdoor")
    };
    let rename = FileBody {
        original_path: Some("/tmp/unit".into()),
        at_flags: 1, // RENAME_NOREPLACE
        ..file_body(
            FileOp::Rename,
            "renameat2",
            "/etc/systemd/system/evil.service",
        )
    };
    let denied = FileBody {
        result: -13,
        open_flags: 0o2001, // O_WRONLY | O_APPEND
        ..file_body(FileOp::Open, "openat", "/etc/shadow")
    };
    let chown = FileBody {
        owner: Some(0),
        group: None,
        at_flags: 0x100,
        ..file_body(FileOp::Chown, "fchownat", "/home/ann/.ssh/authorized_keys")
    };
    let symlink = FileBody {
        target_path: Some("../lib/x".into()),
        truncated: FileTruncation {
            path: true,
            ..Default::default()
        },
        ..file_body(FileOp::Symlink, "symlinkat", "/usr/local/bin/x")
    };
    let unlink = file_body(FileOp::Unlink, "unlinkat", "/etc/cron.d/backdoor");
    // A read-only open of a watched file, through a hard link.
    let read = FileBody {
        result: 4,
        open_flags: 0o2000000, // O_RDONLY | O_CLOEXEC
        resolved: true,
        watched: Some("/etc/shadow".into()),
        ..file_body(FileOp::Open, "openat", "/var/tmp/.s")
    };
    // A file given cap_setuid by a program other than setcap.
    let caps = FileBody {
        resolved: true,
        xattr: Some(Xattr {
            name: CAP_XATTR.into(),
            size: Some(20),
            caps: Some(FileCaps {
                permitted: 1 << 7,
                inheritable: 0,
                effective: true,
                root_uid: None,
            }),
        }),
        ..file_body(FileOp::SetXattr, "fsetxattr", "/var/tmp/.py")
    };
    let mut out = Vec::new();
    for (i, body) in [open, rename, denied, chown, symlink, unlink, read, caps]
        .into_iter()
        .enumerate()
    {
        let mut ev = file(50 + i as u64, 10 + i as u64, 100, body);
        enricher.enrich(&mut ev);
        let mut alerts = Vec::new();
        detector.detect(&ev, &mut alerts);
        out.push(Record::Event(ev));
        out.extend(alerts.into_iter().map(Record::Alert));
    }
    let per_kind = |v: &[(&'static str, u64)]| v.to_vec();
    out.push(Record::Health(Box::new(Health {
        time_ns: WALL + 60_000_000_000,
        last: true,
        uptime_seconds: 60,
        rss_bytes: 12 << 20,
        counters: Snapshot {
            raw_events_total: 1000,
            raw_events_by_kind_total: per_kind(&[("exec", 400), ("file_open", 597)]),
            invalid_schema_total: 1,
            unsupported_kind_total: 2,
            events_output_total: 990,
            alerts_output_total: 3,
            alerts_output_by_severity_total: per_kind(&[
                ("low", 0),
                ("medium", 1),
                ("high", 2),
                ("critical", 0),
            ]),
            userspace_filtered_total: 7,
            rate_limited_total: 2,
            output_failures_total: 6,
            output_errors_total: 14,
            output_buffered_bytes: 2048,
            output_buffer_drops_total: per_kind(&[("buffer_full", 5), ("shutdown", 1)]),
            output_buffer_drops_by_kind_total: per_kind(&[("exec", 4), ("health", 2)]),
            rules_loaded: 12,
            rules_skipped: 2,
            rules_reloads_total: 1,
            rules_reload_failures_total: 1,
            config_reloads_total: 3,
            config_reload_failures_total: 1,
            correlation_state_size: 17,
            correlation_evictions_total: 3,
            proc_table_size: 321,
            proc_table_evictions_total: 4,
            cgroup_cache_size: 3,
            cgroup_cache_evictions_total: 0,
            cgroup_unresolved_total: 1,
            cgroup_tree_walks_total: 2,
            container_metadata_errors_total: 0,
            read_watch_files: 5,
            read_watch_updates_total: 1,
            hash: Box::new(HashSnapshot {
                hashed_total: 40,
                cache_hits_total: 350,
                cache_entries: 38,
                cache_evictions_total: 2,
                not_hashed_total: per_kind(&[
                    ("gone", 9),
                    ("too_large", 1),
                    ("queue_full", 0),
                    ("error", 0),
                ]),
            }),
            kernel_ringbuf_drops_total: per_kind(&[("exec", 5), ("file_open", 6)]),
            kernel_filtered_total: per_kind(&[("file_open", 1200), ("file_unlink", 30)]),
            kernel_failed_total: per_kind(&[("file_open", 9)]),
            kernel_path_unreadable_total: per_kind(&[("file_unlink", 2)]),
            channel_full_drops_total: per_kind(&[
                ("poller", 0),
                ("normalizer", 11),
                ("enricher", 0),
                ("detector", 0),
            ]),
            channel_full_drops_by_kind_total: per_kind(&[("exec", 4), ("file_open", 7)]),
            forward_messages_total: 980,
            forward_resent_total: 3,
            forward_errors_total: 2,
            forward_queued_records: 4,
            forward_connected: 1,
            forward_drops_total: per_kind(&[
                ("queue_full", 0),
                ("collector_down", 9),
                ("too_large", 1),
                ("shutdown", 0),
            ]),
            programs: Some(vec![rand_guard::kernel::ProgramStats {
                name: "edr_file".into(),
                run_count: 2000,
                run_time_ns: 1_500_000,
            }]),
        },
    })));
    out
}

fn render_records(records: &[Record]) -> String {
    let ctx = Context {
        hostname: "golden-host".into(),
        agent_version: "0.0.0-golden",
        ancestry_depth: 8,
        // As an agent on a kernel with the fast path reports it.
        hook_paths: vec![("process", "tp_btf".into()), ("file", "fentry".into())],
        ids: golden_ids(),
    };
    let mut out = Vec::new();
    for r in records {
        record::write_line(r, &ctx, &mut out).unwrap();
    }
    String::from_utf8(out).unwrap()
}

fn net(ms: u64, seq: u64, body: NetBody) -> Event {
    at(ms, seq, 100, Body::Net(body))
}

fn net_body(
    op: NetOp,
    syscall: &'static str,
    local: Option<&str>,
    remote: Option<&str>,
) -> NetBody {
    NetBody {
        stdio: None,
        op,
        syscall,
        result: 0,
        in_progress: false,
        family: NetFamily::Inet,
        protocol: 6,
        sock_type: 1,
        local: local.map(|a| a.parse().unwrap()),
        remote: remote.map(|a| a.parse().unwrap()),
        unix_path: None,
        dns: None,
        truncated: NetTruncation::default(),
    }
}

/// Network events of the known shell, one suspicious-port alert.
fn net_sequence() -> Vec<Record> {
    let mut enricher = Enricher::new(1024, 8);
    let mut detector = builtin_detector();
    let mut shell = sequence().remove(0);
    enricher.enrich(&mut shell);
    let query = |name: &str| {
        let mut m = vec![0xbe, 0xef, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 16, 0, 1]);
        rand_guard::model::dns::parse_query(&m)
    };
    let bodies = vec![
        NetBody {
            result: -115,
            in_progress: true,
            ..net_body(
                NetOp::Connect,
                "connect",
                Some("10.0.0.5:40000"),
                Some("203.0.113.7:4444"),
            )
        },
        net_body(NetOp::Bind, "bind", Some("0.0.0.0:8080"), None),
        net_body(NetOp::Listen, "listen", Some("0.0.0.0:8080"), None),
        net_body(
            NetOp::Accept,
            "accept4",
            Some("10.0.0.5:8080"),
            Some("198.51.100.9:51000"),
        ),
        NetBody {
            family: NetFamily::Inet6,
            ..net_body(
                NetOp::Connect,
                "connect",
                Some("[::1]:41000"),
                Some("[::1]:22"),
            )
        },
        NetBody {
            family: NetFamily::Unix,
            protocol: 0,
            unix_path: Some("@/tmp/.X11-unix/X0".into()),
            ..net_body(NetOp::Connect, "connect", None, None)
        },
        NetBody {
            protocol: 17,
            sock_type: 2,
            dns: Some(query("txt.example.org")),
            ..net_body(
                NetOp::DnsQuery,
                "sendmmsg",
                Some("10.0.0.5:53000"),
                Some("10.0.0.53:53"),
            )
        },
        NetBody {
            protocol: 17,
            sock_type: 2,
            dns: Some(rand_guard::model::dns::parse_query(&[1, 2, 3])),
            truncated: NetTruncation {
                payload: true,
                ..Default::default()
            },
            ..net_body(
                NetOp::DnsQuery,
                "sendto",
                Some("10.0.0.5:53001"),
                Some("10.0.0.53:53"),
            )
        },
        // The shell's stdin and stdout on a TCP socket: a reverse shell.
        NetBody {
            stdio: Some(Stdio {
                fds: 0b011,
                socket_inode: 424242,
            }),
            result: 0,
            ..net_body(
                NetOp::StdioSocket,
                "dup2",
                Some("10.0.0.5:40000"),
                Some("203.0.113.7:4444"),
            )
        },
    ];
    let mut out = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let mut ev = net(70 + i as u64, 20 + i as u64, body);
        enricher.enrich(&mut ev);
        let mut alerts = Vec::new();
        detector.detect(&ev, &mut alerts);
        out.push(Record::Event(ev));
        out.extend(alerts.into_iter().map(Record::Alert));
    }
    // A python relay: it holds a connection and starts /bin/sh on
    // subprocess pipes (the exec's stdio block, a reverse shell).
    use rand_guard::model::event::{FdType, ParentSocket, StdioFd, StdioWiring};
    let root = Creds {
        uid: 0,
        gid: 0,
        euid: 0,
        egid: 0,
        login_uid: None,
        session_id: None,
    };
    let py = image(
        "/usr/bin/python3",
        "/usr/bin/python3.11",
        &["python3", "relay.py"],
    );
    let sh = image("/bin/sh", "/usr/bin/dash", &["/bin/sh"]);
    let mut relayed = exec(90, 40, 700, 699, 88, sh, root);
    if let Body::Exec(x) = &mut relayed.body {
        let pipe = |inode| StdioFd {
            kind: FdType::Pipe,
            inode,
            peer_inode: 0,
        };
        x.stdio = StdioWiring {
            fds: [pipe(5150), pipe(5151), pipe(5151)],
            scanned: true,
            parent_holds: 0b111,
            parent_socket: Some(ParentSocket {
                inode: 5149,
                local_port: 40002,
                remote: Some("203.0.113.7:4444".parse().unwrap()),
            }),
        };
    }
    for mut ev in [exec(89, 39, 699, 100, 0, py, root), relayed] {
        enricher.enrich(&mut ev);
        let mut alerts = Vec::new();
        detector.detect(&ev, &mut alerts);
        out.push(Record::Event(ev));
        out.extend(alerts.into_iter().map(Record::Alert));
    }
    out
}

/// A web shell (the built-in scenario, with its evidence, and a sample
/// rule), and a rate-limited burst of persistence alerts with its summary.
fn rules_sequence() -> Vec<Record> {
    let samples = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/rules/sample-rules.toml"
    ))
    .unwrap();
    let rules = rand_guard::detect::rules::parse_file(
        std::path::Path::new("/etc/rand-guard/rules.d/sample-rules.toml"),
        &samples,
    )
    .unwrap();
    let cfg = Config {
        alerts: rand_guard::config::AlertsConfig {
            burst: 1,
            per_minute: 1.0,
        },
        ..Config::default()
    };
    let mut detector =
        Detector::new(&cfg, "golden-host", RuleSet::from_rules(rules), None).unwrap();
    let mut enricher = Enricher::new(1024, 8);
    let www = Creds {
        uid: 33,
        gid: 33,
        euid: 33,
        egid: 33,
        login_uid: None,
        session_id: None,
    };
    let nginx = image(
        "/usr/sbin/nginx",
        "/usr/sbin/nginx",
        &["nginx: worker process"],
    );
    let php = image(
        "/usr/sbin/php-fpm8.2",
        "/usr/sbin/php-fpm8.2",
        &["php-fpm: pool www"],
    );
    let shell = image("/bin/sh", "/usr/bin/dash", &["sh", "-c", "id; uname -a"]);
    let mut events = vec![
        exec(100, 30, 400, 1, 0, nginx, www),
        exec(101, 31, 401, 400, 99, php, www),
        exec(102, 32, 402, 401, 100, shell, www),
    ];
    // The shell writes three cron files in a row: one alert, two held back.
    for i in 0..3 {
        events.push(file(
            103 + i,
            33 + i,
            402,
            FileBody {
                result: 3,
                open_flags: 0o101,
                mode: Some(0o644),
                resolved: true,
                ..file_body(FileOp::Open, "openat", &format!("/etc/cron.d/job{i}"))
            },
        ));
    }
    let mut out = detect_all(&mut enricher, &mut detector, events);
    let mut alerts = Vec::new();
    // A minute on, a token is back: the summary of the two.
    detector.sweep(BOOT + 61_000_000_000, &mut alerts);
    out.extend(alerts.drain(..).map(Record::Alert));
    out
}

/// The sample Sigma rules (rules/sample-sigma.yml) on a firewall flush,
/// a program written into /usr/local/bin and a python connection: each alert carries the Sigma
/// id, title, description, references, authors, tags and level.
fn sigma_sequence() -> Vec<Record> {
    let samples = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/rules/sample-sigma.yml"
    ))
    .unwrap();
    let sigma = rand_guard::detect::rules::sigma::parse_file(
        std::path::Path::new("/etc/rand-guard/rules.d/sample-sigma.yml"),
        &samples,
    )
    .unwrap();
    assert!(sigma.skipped.is_empty(), "{:?}", sigma.skipped);
    let mut detector = Detector::new(
        &Config::default(),
        "golden-host",
        RuleSet::from_rules(sigma.rules),
        None,
    )
    .unwrap();
    let mut enricher = Enricher::new(1024, 8);
    let root = Creds {
        uid: 0,
        gid: 0,
        euid: 0,
        egid: 0,
        login_uid: Some(1000),
        session_id: Some(3),
    };
    let bash = image("/usr/bin/bash", "/usr/bin/bash", &["bash"]);
    let iptables = image(
        "/usr/sbin/iptables",
        "/usr/sbin/xtables-nft-multi",
        &["iptables", "-F", "INPUT"],
    );
    let cp = image(
        "/usr/bin/cp",
        "/usr/bin/cp",
        &["cp", "/tmp/x", "/usr/local/bin/kupdate"],
    );
    let python = image(
        "/usr/bin/python3",
        "/usr/bin/python3.11",
        &["python3", "-c", "import socket"],
    );
    let events = vec![
        exec(200, 60, 500, 1, 0, bash, root),
        exec(201, 61, 501, 500, 199, iptables, root),
        exec(202, 62, 502, 500, 199, cp, root),
        file(
            203,
            63,
            502,
            FileBody {
                result: 3,
                open_flags: 0o1101,
                mode: Some(0o755),
                resolved: true,
                ..file_body(FileOp::Open, "openat", "/usr/local/bin/kupdate")
            },
        ),
        exec(204, 64, 503, 500, 199, python, root),
        at(
            205,
            65,
            503,
            Body::Net(net_body(
                NetOp::Connect,
                "connect",
                Some("10.0.0.5:41000"),
                Some("198.51.100.20:8443"),
            )),
        ),
    ];
    detect_all(&mut enricher, &mut detector, events)
}

/// Each event enriched and detected: its record, then its alerts.
fn detect_all(enricher: &mut Enricher, detector: &mut Detector, events: Vec<Event>) -> Vec<Record> {
    let mut out = Vec::new();
    let mut alerts = Vec::new();
    for mut ev in events {
        enricher.enrich(&mut ev);
        detector.detect(&ev, &mut alerts);
        out.push(Record::Event(ev));
        out.extend(alerts.drain(..).map(Record::Alert));
    }
    out
}

#[test]
fn sigma_alerts_match_golden() {
    let records = sigma_sequence();
    let ids: Vec<&str> = records
        .iter()
        .filter_map(|r| match r {
            Record::Alert(a) => Some(a.rule.id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        ids,
        [
            "81149f9d-2671-43a1-9cca-d535b43dc1b2",
            "9aec11f9-7bf8-48e0-ae9e-663b5d31a709",
            "a4b8e940-d839-4d1a-ab44-c6089b9eb2a4"
        ]
    );
    check("sigma_alerts.jsonl", &render_records(&records));
}

#[test]
fn rule_alerts_and_rate_limit_summary_match_golden() {
    let records = rules_sequence();
    let ids: Vec<_> = records
        .iter()
        .filter_map(|r| match r {
            Record::Alert(a) => Some((a.rule.id.as_str(), a.suppressed)),
            _ => None,
        })
        .collect();
    assert_eq!(
        ids,
        [
            ("rg-webshell-exec", 0),
            ("sample-web-server-spawns-shell", 0),
            ("rg-persist-cron", 0),
            ("rg-persist-cron", 2)
        ]
    );
    check("rules_alerts.jsonl", &render_records(&records));
}

#[test]
fn network_events_match_golden() {
    check("network.jsonl", &render_records(&net_sequence()));
}

#[test]
fn file_events_alerts_and_health_match_golden() {
    check("file_alert_health.jsonl", &render_records(&file_sequence()));
}

#[test]
fn process_events_match_golden() {
    check("process_events.jsonl", &render(sequence()));
}

#[test]
fn every_golden_line_is_one_object_with_version_and_type() {
    let text = render(sequence())
        + &render_records(&file_sequence())
        + &render_records(&net_sequence())
        + &render_records(&rules_sequence())
        + &render_records(&sigma_sequence());
    let mut types = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["schema_version"], record::SCHEMA_VERSION);
        types.push(v["record_type"].as_str().unwrap().to_string());
    }
    for t in ["event", "alert", "health"] {
        assert!(
            types.iter().any(|x| x == t),
            "no {t} record in the golden files"
        );
    }
}

/// Every field of a health record is in docs/schema.md's health table
/// (the golden health record has every field, bpf_programs included).
#[test]
fn every_health_field_is_documented() {
    let schema = include_str!("../docs/schema.md");
    let text = render_records(&file_sequence());
    let health: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["record_type"] == "health")
        .expect("a health record in the golden sequence");
    let fields = health["rand_guard"]["health"].as_object().unwrap();
    assert!(fields.len() > 20, "{fields:?}");
    let missing: Vec<&String> = fields
        .keys()
        .filter(|k| !schema.contains(&format!("| `rand_guard.health.{k}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "health fields missing from docs/schema.md: {missing:?}"
    );
}
