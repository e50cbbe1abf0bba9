//! Which of the agent's files and signals alert, and what the alert says.

use super::*;
use crate::model::event::{FileBody, SignalBody};
use crate::testkit::{file, file_with, process};

fn tamper() -> Tamper {
    let mut t = Tamper::new(&config::Detections::default());
    t.protect(protected_paths(
        Some(Path::new("/usr/bin/rand-guard")),
        None,
        Some(Path::new("/etc/rand-guard/config.toml")),
        Path::new("/etc/rand-guard/rules.d"),
    ));
    t.set_agent_pid(4242);
    t
}

fn message(t: &Tamper, ev: &Event) -> Option<(Severity, String)> {
    t.hit(ev).map(|(_, s, m, _)| (s, m))
}

fn signal(p: &Arc<crate::model::proctable::Process>, target: u32, sig: i32) -> Event {
    let mut ev = crate::testkit::exec(0, p);
    ev.body = Body::Signal(SignalBody {
        target_pid: target,
        target_tid: target,
        signal: sig,
        code: "SI_USER",
        result: "delivered",
    });
    ev
}

#[test]
fn the_agents_files_are_listed_once_each_and_bounded() {
    let paths = protected_paths(
        Some(Path::new("/usr/bin/rand-guard")),
        Some(Path::new("/usr/lib/rand-guard/edr-ebpf")),
        Some(Path::new("/etc/rand-guard/config.toml")),
        Path::new("/etc/rand-guard/rules.d"),
    );
    let got: Vec<(&str, &str)> = paths.iter().map(|p| (p.what, p.path.as_str())).collect();
    assert_eq!(
        got,
        [
            ("binary", "/usr/bin/rand-guard"),
            ("BPF object", "/usr/lib/rand-guard/edr-ebpf"),
            ("configuration", "/etc/rand-guard/config.toml"),
            ("rules", "/etc/rand-guard/rules.d"),
            ("systemd unit", "/etc/systemd/system/rand-guard.service"),
            ("systemd unit", "/etc/systemd/system/rand-guard.service.d"),
            ("systemd unit", "/usr/lib/systemd/system/rand-guard.service"),
            ("systemd unit", "/lib/systemd/system/rand-guard.service"),
        ]
    );
    assert!(paths.len() <= MAX_PROTECTED);
}

#[test]
fn writes_renames_and_deletes_of_the_agents_files_alert() {
    let t = tamper();
    let vim = process(10, "/usr/bin/vim", &["vim"], None);
    let cases = [
        (
            file(0, &vim, FileOp::Open, "/etc/rand-guard/config.toml"),
            "Agent configuration written: /etc/rand-guard/config.toml (open by /usr/bin/vim, pid 10)",
        ),
        (
            file(0, &vim, FileOp::Unlink, "/etc/rand-guard/rules.d/site.toml"),
            "Agent rules deleted: /etc/rand-guard/rules.d/site.toml (unlink by /usr/bin/vim, pid 10)",
        ),
        (
            file_with(0, &vim, FileOp::Rename, "/tmp/x", |f: &mut FileBody| {
                f.original_path = Some("/usr/bin/rand-guard".into())
            }),
            "Agent binary renamed away: /usr/bin/rand-guard (rename by /usr/bin/vim, pid 10)",
        ),
        (
            file_with(
                0,
                &vim,
                FileOp::Rename,
                "/usr/bin/rand-guard",
                |f: &mut FileBody| f.original_path = Some("/tmp/evil".into()),
            ),
            "Agent binary replaced: /usr/bin/rand-guard (rename by /usr/bin/vim, pid 10)",
        ),
        (
            file(0, &vim, FileOp::Chmod, "/etc/rand-guard/rules.d"),
            "Agent rules given a new mode: /etc/rand-guard/rules.d (chmod by /usr/bin/vim, pid 10)",
        ),
        (
            file(
                0,
                &vim,
                FileOp::Open,
                "/etc/systemd/system/rand-guard.service.d/override.conf",
            ),
            "Agent systemd unit written: /etc/systemd/system/rand-guard.service.d/override.conf \
             (open by /usr/bin/vim, pid 10)",
        ),
    ];
    for (ev, want) in cases {
        assert_eq!(message(&t, &ev), Some((Severity::High, want.to_string())));
    }
}

#[test]
fn near_misses_of_the_agents_files() {
    let t = tamper();
    let vim = process(10, "/usr/bin/vim", &["vim"], None);
    // A sibling whose name starts like a protected one.
    assert_eq!(
        message(
            &t,
            &file(0, &vim, FileOp::Open, "/etc/rand-guard/config.toml.bak")
        ),
        None
    );
    assert_eq!(
        message(
            &t,
            &file(0, &vim, FileOp::Open, "/etc/rand-guard/rules.d2/x")
        ),
        None
    );
    // A failed write changed nothing.
    let failed = file_with(0, &vim, FileOp::Open, "/etc/rand-guard/config.toml", |f| {
        f.result = -13
    });
    assert_eq!(message(&t, &failed), None);
    // A read (watched files only) is no tampering.
    let read = file_with(0, &vim, FileOp::Open, "/etc/rand-guard/config.toml", |f| {
        f.open_flags = 0
    });
    assert_eq!(message(&t, &read), None);
    // Disabled: nothing.
    let mut off = Tamper::new(&config::Detections {
        disabled: vec!["rg-agent-tamper".into()],
        ..Default::default()
    });
    off.protect(protected_paths(None, None, None, Path::new("/r")));
    assert!(!off.watches_files());
    assert_eq!(message(&off, &file(0, &vim, FileOp::Unlink, "/r/x")), None);
}

#[test]
fn signals_to_the_agent_are_scored_by_what_they_do() {
    let t = tamper();
    let kill = process(20, "/usr/bin/kill", &["kill"], None);
    let cases = [
        (15, Some(Severity::Medium)),
        (2, Some(Severity::Medium)),
        (9, Some(Severity::High)),
        (19, Some(Severity::High)),
        (10, Some(Severity::High)),
        (40, Some(Severity::High)),
        (1, None),
        (18, None),
        (17, None),
    ];
    for (sig, want) in cases {
        assert_eq!(
            message(&t, &signal(&kill, 4242, sig)).map(|(s, _)| s),
            want,
            "signal {sig}"
        );
    }
    assert_eq!(
        message(&t, &signal(&kill, 4242, 9)).unwrap().1,
        "SIGKILL sent to the agent (pid 4242) by /usr/bin/kill, pid 20"
    );
    assert_eq!(
        message(&t, &signal(&kill, 4242, 40)).unwrap().1,
        "SIGRTMIN+6 sent to the agent (pid 4242) by /usr/bin/kill, pid 20"
    );
    // Another process's signal (a replay of another agent's records).
    assert_eq!(message(&t, &signal(&kill, 77, 9)), None);
}
