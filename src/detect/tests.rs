use super::persistence::PERSISTENCE;
use super::*;
use crate::model::alert::Severity;
use crate::model::event::{FileBody, FileOp, FileTruncation};
use crate::testkit;
use std::path::Path;

fn file(op: FileOp, path: &str, result: i64) -> Event {
    Event {
        seq: 7,
        time_ns: 1_000,
        ktime_ns: 5,
        pid: 42,
        tid: 42,
        body: Body::File(FileBody {
            op,
            syscall: "openat",
            path: path.into(),
            original_path: None,
            target_path: None,
            result,
            open_flags: 0o1101,
            mode: None,
            owner: None,
            group: None,
            at_flags: 0,
            resolved: true,
            unfiltered: false,
            watched: None,
            xattr: None,
            truncated: FileTruncation::default(),
        }),
        process: None,
    }
}

/// A detector over `detections`, no user rules, on host "h"; the rate
/// limit is out of the way unless a test sets `[alerts]` itself.
fn with(detections: config::Detections, stats: Option<Arc<Stats>>) -> Detector {
    let cfg = config::Config {
        detections,
        alerts: config::AlertsConfig {
            burst: 1_000_000,
            per_minute: 60.0,
        },
        ..Default::default()
    };
    Detector::new(&cfg, "h", RuleSet::empty(), stats).unwrap()
}

fn detector(disabled: &[&str]) -> Detector {
    with(
        config::Detections {
            disabled: disabled.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
        None,
    )
}

fn hits(d: &mut Detector, ev: &Event) -> Vec<String> {
    let mut out = Vec::new();
    d.detect(ev, &mut out);
    out.into_iter().map(|a| a.rule.id.clone()).collect()
}

#[test]
fn every_builtin_has_a_spec_and_the_ids_are_unique() {
    let ids: Vec<&str> = PERSISTENCE.iter().map(|s| s.id).collect();
    let p = 2 + ids.len();
    assert_eq!(ids, BUILTIN_IDS[2..p]);
    assert_eq!(crate::detect::correlate::IDS, &BUILTIN_IDS[p..p + 5]);
    assert_eq!(crate::detect::tamper::IDS, &BUILTIN_IDS[p + 5..p + 7]);
    assert_eq!(
        BUILTIN_IDS[p + 7..p + 10],
        [crate::detect::LOSS_ID, super::drift::ID, super::ioc::ID]
    );
    assert_eq!(super::perms::IDS, &BUILTIN_IDS[p + 10..p + 15]);
    assert_eq!(BUILTIN_IDS[p + 15..], [super::preload::ID]);
    let d = detector(&[]);
    let mut enabled: Vec<&str> = d.enabled().collect();
    assert_eq!(enabled.len(), BUILTIN_IDS.len());
    enabled.sort();
    enabled.dedup();
    assert_eq!(enabled.len(), BUILTIN_IDS.len());
}

/// (path, the one detection it must raise) for each built-in.
const POSITIVES: &[(&str, &str)] = &[
    (
        "/etc/systemd/system/evil.service",
        "rg-persist-systemd-unit",
    ),
    (
        "/etc/systemd/system/multi-user.target.wants/evil.service",
        "rg-persist-systemd-unit",
    ),
    ("/usr/lib/systemd/system/x.timer", "rg-persist-systemd-unit"),
    ("/lib/systemd/system/x.service", "rg-persist-systemd-unit"),
    ("/run/systemd/system/x.service", "rg-persist-systemd-unit"),
    (
        "/home/ann/.config/systemd/user/x.service",
        "rg-persist-systemd-unit",
    ),
    (
        "/root/.config/systemd/user/default.target.wants/x.service",
        "rg-persist-systemd-unit",
    ),
    (
        "/etc/rand-guard-quickstart.service",
        "rg-persist-systemd-unit",
    ),
    ("/home/ann/backdoor.timer", "rg-persist-systemd-unit"),
    ("/etc/crontab", "rg-persist-cron"),
    ("/etc/cron.d/job", "rg-persist-cron"),
    ("/etc/cron.daily/job", "rg-persist-cron"),
    ("/var/spool/cron/crontabs/root", "rg-persist-cron"),
    (
        "/root/.ssh/authorized_keys",
        "rg-persist-ssh-authorized-keys",
    ),
    (
        "/home/ann/.ssh/authorized_keys2",
        "rg-persist-ssh-authorized-keys",
    ),
    ("/etc/ld.so.preload", "rg-persist-ld-preload"),
    ("/etc/rc.local", "rg-persist-rc-scripts"),
    ("/etc/init.d/evil", "rg-persist-rc-scripts"),
    ("/etc/rc2.d/S99evil", "rg-persist-rc-scripts"),
    ("/etc/profile", "rg-persist-shell-profile"),
    ("/etc/profile.d/evil.sh", "rg-persist-shell-profile"),
    ("/etc/bash.bashrc", "rg-persist-shell-profile"),
    ("/root/.bashrc", "rg-persist-shell-profile"),
    ("/home/ann/.profile", "rg-persist-shell-profile"),
    ("/home/ann/.zshrc", "rg-persist-shell-profile"),
    ("/etc/sudoers", "rg-persist-sudoers"),
    ("/etc/sudoers.d/evil", "rg-persist-sudoers"),
    ("/etc/passwd", "rg-persist-account-files"),
    ("/etc/shadow", "rg-persist-account-files"),
    ("/etc/group", "rg-persist-account-files"),
    ("/etc/gshadow", "rg-persist-account-files"),
    ("/etc/udev/rules.d/99-x.rules", "rg-persist-udev-rules"),
    ("/usr/lib/udev/rules.d/99-x.rules", "rg-persist-udev-rules"),
    ("/etc/xdg/autostart/x.desktop", "rg-persist-xdg-autostart"),
    (
        "/home/ann/.config/autostart/x.desktop",
        "rg-persist-xdg-autostart",
    ),
    ("/etc/update-motd.d/99-x", "rg-persist-motd"),
    ("/etc/pam.d/sshd", "rg-persist-pam"),
    (
        "/usr/lib/x86_64-linux-gnu/security/pam_x.so",
        "rg-persist-pam",
    ),
    ("/usr/lib64/security/pam_x.so", "rg-persist-pam"),
    ("/etc/apt/apt.conf.d/99x", "rg-persist-package-hook"),
    ("/etc/dnf/plugins/x.conf", "rg-persist-package-hook"),
    ("/etc/modules", "rg-persist-kernel-modules"),
    ("/etc/modules-load.d/x.conf", "rg-persist-kernel-modules"),
    ("/etc/modprobe.d/x.conf", "rg-persist-kernel-modules"),
    ("/etc/ssh/sshd_config", "rg-persist-ssh-config"),
    ("/etc/ssh/sshd_config.d/x.conf", "rg-persist-ssh-config"),
    ("/root/.ssh/rc", "rg-persist-ssh-config"),
    ("/etc/audit/rules.d/x.rules", "rg-log-config-changed"),
    ("/etc/rsyslog.d/x.conf", "rg-log-config-changed"),
    ("/etc/systemd/journald.conf", "rg-log-config-changed"),
    (
        "/etc/systemd/system-generators/x",
        "rg-persist-systemd-unit",
    ),
];

#[test]
fn removal_counts_only_where_it_blinds_the_host() {
    let mut d = detector(&[]);
    assert_eq!(
        hits(
            &mut d,
            &file(FileOp::Unlink, "/etc/audit/rules.d/x.rules", 0)
        ),
        vec!["rg-log-config-changed"]
    );
    for path in [
        "/etc/cron.d/job",
        "/etc/pam.d/sshd",
        "/etc/udev/rules.d/x.rules",
    ] {
        assert!(
            hits(&mut d, &file(FileOp::Unlink, path, 0)).is_empty(),
            "{path}"
        );
    }
}

#[test]
fn each_location_raises_its_detection() {
    // The same unit written, then linked into .wants: that is also
    // rg-persist-systemd-enable, tested in correlate.
    let mut d = detector(&["rg-persist-systemd-enable"]);
    for (path, id) in POSITIVES {
        for op in [
            FileOp::Open,
            FileOp::Rename,
            FileOp::Chmod,
            FileOp::Chown,
            FileOp::Link,
            FileOp::Symlink,
        ] {
            assert_eq!(
                hits(&mut d, &file(op, path, 0)),
                vec![id.to_string()],
                "{op:?} {path}"
            );
        }
    }
    // Every persistence built-in has at least one positive above.
    for id in &BUILTIN_IDS[2..2 + PERSISTENCE.len()] {
        assert!(POSITIVES.iter().any(|(_, i)| i == id), "{id} untested");
    }
}

#[test]
fn near_misses_stay_silent() {
    let mut d = detector(&[]);
    let quiet = [
        "/etc/systemd/system.conf.bak-reader",
        "/etc/rand-guard-quickstart.service.bak",
        "/etc/services",
        "/etc/ssh/ssh_config",
        "/etc/apt/sources.list.d/x.list",
        "/etc/udev/hwdb.d/x.hwdb",
        "/etc/systemd/system.conf",
        "/etc/systemd/systemx/evil.conf",
        "/etc/crontab.bak",
        "/etc/cron.dx/job",
        "/root/.ssh/known_hosts",
        "/srv/git/authorized_keys",
        "/home/ann/.ssh/authorized_keys.bak",
        "/home/ann/.ssh/keys/authorized_keys",
        "/home/ann/.sshx/authorized_keys",
        "/etc/ld.so.preload.d/x",
        "/etc/ld.so.cache",
        "/etc/rc.localx",
        "/etc/passwd-",
        "/etc/passwd.lock",
        "/etc/.sudoers.swp",
        "/tmp/etc/cron.d/job",
        "/home/ann/.bashrc.d/x",
    ];
    for path in quiet {
        assert!(
            hits(&mut d, &file(FileOp::Open, path, 0)).is_empty(),
            "{path}"
        );
    }
    // Reading a persistence location is not writing it (a read of a
    // watched file is rg-cred-sensitive-read's, not account-files').
    let read = |path: &str| {
        let mut ev = file(FileOp::Open, path, 3);
        if let Body::File(f) = &mut ev.body {
            f.open_flags = 0o2000000; // O_RDONLY | O_CLOEXEC
            f.watched = Some(path.into());
        }
        ev
    };
    for path in ["/etc/crontab", "/etc/shadow", "/etc/sudoers"] {
        assert_eq!(hits(&mut d, &read(path)), ["rg-cred-sensitive-read"]);
    }
    // Unlinking a unit removes persistence; it is not an alert.
    assert!(hits(&mut d, &file(FileOp::Unlink, "/etc/cron.d/job", 0)).is_empty());
    // A failed write changed nothing.
    assert!(hits(&mut d, &file(FileOp::Open, "/etc/cron.d/job", -13)).is_empty());
    // A non-file event never matches.
    let exit = Event {
        body: Body::Exit(crate::model::event::ExitBody {
            start_ns: 0,
            ppid: 1,
            name: "x".into(),
            status: crate::model::event::ExitStatus::from_wait_status(0),
        }),
        ..file(FileOp::Open, "/etc/crontab", 0)
    };
    assert!(hits(&mut d, &exit).is_empty());
}

/// A read-only open of `path`, watched as `watched`, by `exe` (None:
/// a process the agent does not know).
fn watched_read(path: &str, watched: Option<&str>, exe: Option<&str>, result: i64) -> Event {
    let Body::File(f) = file(FileOp::Open, path, result).body else {
        unreachable!()
    };
    Event {
        body: Body::File(FileBody {
            open_flags: 0o2000000, // O_RDONLY | O_CLOEXEC
            watched: watched.map(Into::into),
            xattr: None,
            ..f
        }),
        process: exe.map(|e| {
            Arc::new(crate::model::proctable::Process {
                pid: 42,
                ppid: 1,
                start_ns: 0,
                start_exact: true,
                start_time_ns: 0,
                image: Arc::new(crate::model::event::Image {
                    executable: e.into(),
                    exe: e.into(),
                    ..Default::default()
                }),
                creds: None,
                cgroup_id: None,
                cgroup: None,
                ns: None,
                parent: None,
                origin: crate::model::proctable::Origin::Exec,
                chain_len: 0,
                entity_id: Default::default(),
            })
        }),
        ..file(FileOp::Open, path, result)
    }
}

fn technique(d: &mut Detector, ev: &Event) -> Vec<String> {
    let mut out = Vec::new();
    d.detect(ev, &mut out);
    out.iter()
        .map(|a| format!("{} {}", a.rule.id, a.rule.techniques[0].id))
        .collect()
}

#[test]
fn sensitive_reads_alert_with_the_technique_of_what_was_read() {
    let mut d = detector(&[]);
    let cases = [
        ("/etc/shadow", "T1003.008"),
        ("/etc/gshadow-", "T1003.008"),
        ("/etc/security/opasswd", "T1003.008"),
        ("/root/.ssh/id_ed25519", "T1552.004"),
        ("/home/ann/.ssh/id_rsa", "T1552.004"),
        ("/etc/ssh/ssh_host_ecdsa_key", "T1552.004"),
        ("/etc/ssl/private/site.key", "T1552.004"),
        ("/root/.aws/credentials", "T1552.001"),
        ("/root/.ssh/id_rsa.pub", "T1552.001"),
    ];
    for (path, id) in cases {
        let ev = watched_read(path, Some(path), Some("/usr/bin/cat"), 3);
        assert_eq!(
            technique(&mut d, &ev),
            [format!("rg-cred-sensitive-read {id}")],
            "{path}"
        );
    }
    // The technique follows the watched path, not the name it was
    // opened by (a hard link); the message names both.
    let link = watched_read("/tmp/x", Some("/etc/shadow"), Some("/usr/bin/cp"), 3);
    let mut out = Vec::new();
    d.detect(&link, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].rule.techniques[0].id, "T1003.008");
    assert_eq!(out[0].rule.severity, Severity::High);
    assert_eq!(out[0].rule.tactics, ["Credential Access"]);
    assert_eq!(
        out[0].message,
        "Sensitive file read: /tmp/x (watched as /etc/shadow) (open by /usr/bin/cp, pid 42)"
    );
    // Another process's memory, which the kernel reports as its own
    // watch: T1003.007, the message names the process's file.
    let mem = watched_read(
        "/proc/4242/mem",
        Some(crate::model::event::PROC_MEM),
        Some("/usr/bin/dd"),
        3,
    );
    let mut out = Vec::new();
    d.detect(&mem, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].rule.techniques[0].id, "T1003.007");
    assert!(
        out[0].reasons.iter().any(|r| r.starts_with(
            "/proc/4242/mem (another process's memory) read by /usr/bin/dd"
        )),
        "{:?}",
        out[0].reasons
    );
    // A process the agent does not know is not known to be allowed.
    let unknown = watched_read("/etc/shadow", Some("/etc/shadow"), None, 3);
    assert_eq!(hits(&mut d, &unknown), ["rg-cred-sensitive-read"]);
}

#[test]
fn sensitive_read_near_misses_stay_silent() {
    let mut d = detector(&[]);
    // Programs that read these files for a living.
    for exe in [
        "/usr/sbin/unix_chkpwd",
        "/usr/sbin/sshd",
        "/usr/bin/sudo",
        "/bin/su",
        "/usr/bin/passwd",
        "/usr/sbin/cron",
        "/lib/systemd/systemd",
    ] {
        let ev = watched_read("/etc/shadow", Some("/etc/shadow"), Some(exe), 3);
        assert!(hits(&mut d, &ev).is_empty(), "{exe}");
    }
    // ...but not a look-alike elsewhere.
    let fake = watched_read(
        "/etc/shadow",
        Some("/etc/shadow"),
        Some("/tmp/unix_chkpwd"),
        3,
    );
    assert_eq!(hits(&mut d, &fake), ["rg-cred-sensitive-read"]);
    // Not watched (no read-watch id): a read-only open of the same path.
    let unwatched = watched_read("/etc/shadow", None, Some("/usr/bin/cat"), 3);
    assert!(hits(&mut d, &unwatched).is_empty());
    // A failed open read nothing.
    let denied = watched_read(
        "/etc/shadow",
        Some("/etc/shadow"),
        Some("/usr/bin/cat"),
        -13,
    );
    assert!(hits(&mut d, &denied).is_empty());
    // A write-intent open of a watched file is persistence, not a read.
    let write = file(FileOp::Open, "/etc/shadow", 3);
    assert_eq!(hits(&mut d, &write), ["rg-persist-account-files"]);
    // Another operation on the path.
    let chmod = file(FileOp::Chmod, "/root/.ssh/id_rsa", 0);
    assert!(hits(&mut d, &chmod).is_empty());
    // A user-configured allowlist replaces the default.
    let mut d = with(
        config::Detections {
            sensitive_read_allow: vec!["/opt/backup/bin/*".into()],
            ..Default::default()
        },
        None,
    );
    let backup = watched_read(
        "/etc/shadow",
        Some("/etc/shadow"),
        Some("/opt/backup/bin/agent"),
        3,
    );
    assert!(hits(&mut d, &backup).is_empty());
    let sshd = watched_read(
        "/etc/shadow",
        Some("/etc/shadow"),
        Some("/usr/sbin/sshd"),
        3,
    );
    assert_eq!(hits(&mut d, &sshd), ["rg-cred-sensitive-read"]);
    // And the rule can be turned off.
    let mut d = detector(&["rg-cred-sensitive-read"]);
    let ev = watched_read("/etc/shadow", Some("/etc/shadow"), Some("/usr/bin/cat"), 3);
    assert!(hits(&mut d, &ev).is_empty());
}

fn net(op: NetOp, pid: u32, local: &str, remote: Option<&str>) -> Event {
    use crate::model::event::NetBody;
    Event {
        pid,
        tid: pid,
        body: Body::Net(NetBody {
            op,
            local: Some(local.parse().unwrap()),
            remote: remote.map(|r| r.parse().unwrap()),
            ..crate::testkit::connect_body("0.0.0.0:0")
        }),
        ..file(FileOp::Open, "/", 0)
    }
}

#[test]
fn suspicious_ports_alert_once_per_process() {
    let stats = Arc::new(Stats::default());
    let mut d = with(config::Detections::default(), Some(stats.clone()));
    // A listener binds, then listens: one alert.
    assert_eq!(
        hits(&mut d, &net(NetOp::Bind, 10, "0.0.0.0:4444", None)),
        ["rg-net-suspicious-port"]
    );
    assert!(hits(&mut d, &net(NetOp::Listen, 10, "0.0.0.0:4444", None)).is_empty());
    assert_eq!(stats.snapshot().rate_limited_total, 1);
    // Another process connecting to it: its own alert.
    assert_eq!(
        hits(
            &mut d,
            &net(
                NetOp::Connect,
                11,
                "127.0.0.1:50000",
                Some("127.0.0.1:4444")
            )
        ),
        ["rg-net-suspicious-port"]
    );
    // Accepting is not listed (the listen already was), nor are other ports.
    assert!(
        hits(
            &mut d,
            &net(NetOp::Accept, 12, "0.0.0.0:31337", Some("1.2.3.4:5"))
        )
        .is_empty()
    );
    assert!(
        hits(
            &mut d,
            &net(NetOp::Connect, 13, "10.0.0.1:1", Some("10.0.0.2:443"))
        )
        .is_empty()
    );
    // A local port of 4444 on a connect is the client's, not a service.
    assert!(
        hits(
            &mut d,
            &net(NetOp::Connect, 14, "10.0.0.1:4444", Some("10.0.0.2:443"))
        )
        .is_empty()
    );
    // Once the process exits, a new one with its pid alerts again.
    let exit = Event {
        pid: 10,
        body: Body::Exit(crate::model::event::ExitBody {
            start_ns: 0,
            ppid: 1,
            name: "x".into(),
            status: crate::model::event::ExitStatus::from_wait_status(0),
        }),
        ..file(FileOp::Open, "/", 0)
    };
    assert!(hits(&mut d, &exit).is_empty());
    assert_eq!(
        hits(&mut d, &net(NetOp::Listen, 10, "0.0.0.0:1337", None)),
        ["rg-net-suspicious-port"]
    );
}

#[test]
fn loopback_can_be_left_out_of_suspicious_ports() {
    let cfg = config::Detections {
        suspicious_ports_loopback: false,
        suspicious_ports: vec![9001],
        ..Default::default()
    };
    let mut d = with(cfg, None);
    assert!(
        hits(
            &mut d,
            &net(NetOp::Connect, 20, "127.0.0.1:1", Some("127.0.0.1:9001"))
        )
        .is_empty()
    );
    assert!(hits(&mut d, &net(NetOp::Listen, 21, "[::1]:9001", None)).is_empty());
    assert_eq!(
        hits(&mut d, &net(NetOp::Listen, 22, "0.0.0.0:9001", None)),
        ["rg-net-suspicious-port"]
    );
    assert!(hits(&mut d, &net(NetOp::Listen, 23, "0.0.0.0:4444", None)).is_empty());
}

#[test]
fn ipv4_mapped_loopback_is_loopback() {
    let cfg = config::Detections {
        suspicious_ports_loopback: false,
        suspicious_ports: vec![9001],
        ..Default::default()
    };
    let mut d = with(cfg, None);
    // A dual-stack socket reaches 127.0.0.1 as ::ffff:127.0.0.1.
    let mapped = net(
        NetOp::Connect,
        30,
        "[::ffff:127.0.0.1]:1",
        Some("[::ffff:127.0.0.1]:9001"),
    );
    assert!(hits(&mut d, &mapped).is_empty());
    let listen = net(NetOp::Listen, 31, "[::ffff:127.0.0.2]:9001", None);
    assert!(hits(&mut d, &listen).is_empty());
    // A mapped address that is not loopback still alerts.
    let mut out = Vec::new();
    let other = net(
        NetOp::Connect,
        32,
        "[::ffff:10.0.0.1]:1",
        Some("[::ffff:10.0.0.2]:9001"),
    );
    d.detect(&other, &mut out);
    let got: Vec<_> = out
        .iter()
        .map(|a| (a.rule.id.as_str(), a.rule.severity, a.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [(
            "rg-net-suspicious-port",
            Severity::Medium,
            "Suspicious port (connect by pid 32)"
        )]
    );
}

#[test]
fn disabled_detections_are_off() {
    let mut d = detector(&["rg-persist-cron"]);
    assert!(hits(&mut d, &file(FileOp::Open, "/etc/crontab", 0)).is_empty());
    assert_eq!(
        hits(&mut d, &file(FileOp::Open, "/etc/sudoers", 0)),
        vec!["rg-persist-sudoers"]
    );
    assert_eq!(d.enabled().count(), BUILTIN_IDS.len() - 1);
}

#[test]
fn alert_ids_are_stable_and_distinct() {
    let mut d =
        Detector::new(&config::Config::default(), "host-a", RuleSet::empty(), None).unwrap();
    let ev = file(FileOp::Open, "/etc/crontab", 3);
    let mut a = Vec::new();
    d.detect(&ev, &mut a);
    d.detect(&ev, &mut a);
    assert_eq!(a[0].id, a[1].id);
    assert_eq!(a[0].id.len(), 32);
    // Pinned: the id must not change between releases.
    assert_eq!(a[0].id, alert_id("rg-persist-cron", "host-a", &ev));
    assert_eq!(a[0].id, "f7162828c4a92b8190e5b3fa93779120");
    let other_host = alert_id("rg-persist-cron", "host-b", &ev);
    let later = alert_id(
        "rg-persist-cron",
        "host-a",
        &Event {
            time_ns: 1_001,
            ..ev.clone()
        },
    );
    assert_ne!(a[0].id, other_host);
    assert_ne!(a[0].id, later);
    assert_eq!(
        a[0].message,
        "Cron job written: /etc/crontab (open by pid 42)"
    );
}

fn cron_write(pid: u32, ktime_ns: u64) -> Event {
    Event {
        pid,
        tid: pid,
        ktime_ns,
        time_ns: ktime_ns,
        ..file(FileOp::Open, "/etc/cron.d/job", 0)
    }
}

fn limited(burst: u32, per_minute: f64, stats: Option<Arc<Stats>>) -> Detector {
    let cfg = config::Config {
        alerts: config::AlertsConfig { burst, per_minute },
        ..Default::default()
    };
    Detector::new(&cfg, "h", RuleSet::empty(), stats).unwrap()
}

#[test]
fn bursts_are_limited_per_process_and_summarized() {
    let stats = Arc::new(Stats::default());
    let mut d = limited(3, 60.0, Some(stats.clone()));
    let mut out = Vec::new();
    // Five writes at one instant: three alerts, two held back.
    for i in 0..5 {
        d.detect(&cron_write(42, 1_000 + i), &mut out);
    }
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|a| a.suppressed == 0));
    assert_eq!(stats.snapshot().rate_limited_total, 2);
    // Another process has its own bucket.
    d.detect(&cron_write(43, 1_010), &mut out);
    assert_eq!(out.len(), 4);
    // Half a second on, no token is back yet: no summary.
    out.clear();
    d.sweep(500_001_000, &mut out);
    assert!(out.is_empty());
    // A second on, one is: the summary stands for the two, carrying
    // the last alert held back.
    d.sweep(1_000_001_000, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].suppressed, 2);
    assert_eq!(out[0].event.ktime_ns, 1_004);
    assert_eq!(
        out[0].message,
        "Cron job written: /etc/cron.d/job (open by pid 42) (2 alerts suppressed by rate limiting)"
    );
    // Summarized once.
    out.clear();
    d.sweep(9_000_000_000, &mut out);
    assert!(out.is_empty());
}

#[test]
fn a_new_alert_brings_the_summary_first_and_exit_and_flush_release_it() {
    let mut d = limited(1, 60.0, None);
    let mut out = Vec::new();
    d.detect(&cron_write(42, 0), &mut out);
    d.detect(&cron_write(42, 1), &mut out);
    assert_eq!(out.len(), 1);
    // A minute later the next alert passes, preceded by the summary.
    out.clear();
    d.detect(&cron_write(42, 60_000_000_000), &mut out);
    assert_eq!(out.iter().map(|a| a.suppressed).collect::<Vec<_>>(), [1, 0]);
    // Held back, then the process exits: summarized at the exit.
    d.detect(&cron_write(42, 60_000_000_001), &mut out);
    out.clear();
    let exit = Event {
        pid: 42,
        body: Body::Exit(crate::model::event::ExitBody {
            start_ns: 0,
            ppid: 1,
            name: "x".into(),
            status: crate::model::event::ExitStatus::from_wait_status(0),
        }),
        ..cron_write(42, 60_000_000_002)
    };
    d.detect(&exit, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].suppressed, 1);
    // Held back at shutdown: flushed.
    out.clear();
    d.detect(&cron_write(44, 0), &mut out);
    d.detect(&cron_write(44, 1), &mut out);
    out.clear();
    d.flush(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].event.pid, out[0].suppressed), (44, 1));
}

#[test]
fn user_rules_raise_alerts_with_their_own_limit() {
    let text = r#"
[[rules]]
id = "cron-dir-write"
name = "Cron directory written"
severity = "low"
events = ["open"]
rate_limit = { burst = 1, per_minute = 0 }
[[rules.all]]
field = "file.path"
prefix = "/etc/cron.d/"
"#;
    let rules = crate::detect::rules::parse_file(Path::new("/r/cron.toml"), text).unwrap();
    let mut d = Detector::new(
        &config::Config::default(),
        "h",
        RuleSet::from_rules(rules),
        None,
    )
    .unwrap();
    assert_eq!(d.enabled().last(), Some("cron-dir-write"));
    let mut out = Vec::new();
    d.detect(&cron_write(42, 0), &mut out);
    let ids: Vec<_> = out.iter().map(|a| a.rule.id.as_str()).collect();
    assert_eq!(ids, ["rg-persist-cron", "cron-dir-write"]);
    assert_eq!(out[1].rule.source, "/r/cron.toml");
    assert_eq!(
        out[1].message,
        "Cron directory written: /etc/cron.d/job (open by pid 42)"
    );
    // Once per process for the user rule; the built-in keeps its burst.
    out.clear();
    d.detect(&cron_write(42, 1), &mut out);
    let ids: Vec<_> = out.iter().map(|a| a.rule.id.as_str()).collect();
    assert_eq!(ids, ["rg-persist-cron"]);
    // Swapping the rules out takes effect on the next event.
    d.set_rules(RuleSet::empty());
    out.clear();
    d.detect(&cron_write(45, 2), &mut out);
    assert_eq!(out.len(), 1);
}

mod exclusions;
