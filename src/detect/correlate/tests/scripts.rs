//! rg-drop-exec for scripts: run as an interpreter's operand, written
//! through a shell's redirect, piped from a download, or refused by the
//! kernel for lack of a #! line.

use super::*;
use crate::testkit::exec_with;
use std::sync::Arc;

#[test]
fn an_interpreters_script_is_the_first_operand_after_its_options() {
    use super::drop_exec::{Script, script_of};
    let s = |args: &[&str], shell| {
        let v: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        format!("{:?}", script_of(&v, shell))
    };
    assert_eq!(s(&["bash", "x.sh", "arg"], true), "File(\"x.sh\")");
    assert_eq!(
        s(&["bash", "-e", "-o", "pipefail", "/tmp/x"], true),
        "File(\"/tmp/x\")"
    );
    assert_eq!(
        s(&["python3", "-u", "-W", "ignore", "a.py", "/tmp/d"], false),
        "File(\"a.py\")"
    );
    assert_eq!(s(&["bash", "-lc", "ls /tmp/x"], true), "Other");
    assert_eq!(s(&["perl", "-ne", "print"], false), "Other");
    assert_eq!(s(&["python3", "-m", "http.server"], false), "Other");
    assert_eq!(s(&["sh"], true), "Stdin");
    assert_eq!(s(&["bash", "-s", "--", "arg"], true), "Stdin");
    assert_eq!(s(&["bash", "/dev/fd/63"], true), "Stdin");
    assert_eq!(format!("{:?}", Script::Other), "Other");
}

#[test]
fn drop_exec_through_an_interpreter() {
    let shell = chain(&["/sbin/init", "/bin/bash"]).unwrap();
    let curl = process(
        820,
        "/usr/bin/curl",
        &["curl", "-o", "/tmp/x.py"],
        Some(shell.clone()),
    );
    let vi = process(821, "/usr/bin/vi", &["vi"], Some(shell.clone()));
    let interp =
        |pid, exe: &str, args: &[&str]| exec(5, &process(pid, exe, args, Some(shell.clone())));
    // (severity, message) of what a fresh correlator finds in `events`.
    let found = |events: [Event; 2]| {
        findings(&events)
            .into_iter()
            .map(|f| (f.rule.severity, f.message))
            .collect::<Vec<_>>()
    };
    // Downloaded into /tmp, run by python: critical, as an exec would be.
    assert_eq!(
        found([
            file(0, &curl, FileOp::Open, "/tmp/x.py"),
            interp(920, "/usr/bin/python3", &["python3", "/tmp/x.py"]),
        ]),
        [(
            Severity::Critical,
            "/tmp/x.py written by /usr/bin/curl then run by /usr/bin/python3, pid 920 (the writer downloads, in a temporary directory)".to_string()
        )]
    );
    // By a relative name: the latest drop of that name.
    let f = found([
        file(0, &curl, FileOp::Open, "/var/tmp/w/atomic.sh"),
        interp(921, "/usr/bin/bash", &["bash", "./w/atomic.sh"]),
    ]);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].0, Severity::Critical);
    // A user's own script, written and run in one session: low.
    let f = found([
        file(0, &vi, FileOp::Open, "/home/ann/myscript.sh"),
        interp(922, "/usr/bin/bash", &["bash", "myscript.sh"]),
    ]);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].0, Severity::Low);
    // Near misses: a script not dropped, a dropped file that is the
    // script's argument, a name that only ends like the drop, a command
    // string mentioning it.
    let mut c = correlator();
    let events = [
        file(0, &vi, FileOp::Open, "/tmp/data.sh"),
        interp(
            923,
            "/usr/bin/python3",
            &["python3", "/opt/tool.py", "/tmp/data.sh"],
        ),
        interp(924, "/usr/bin/bash", &["bash", "xdata.sh"]),
        interp(925, "/usr/bin/bash", &["bash", "-c", "cat /tmp/data.sh"]),
        interp(926, "/usr/bin/cat", &["cat", "/tmp/data.sh"]),
    ];
    assert!(ids(&mut c, &events).is_empty());
}

#[test]
fn a_decoder_behind_a_shell_redirect_is_the_writer() {
    let shell = chain(&["/sbin/init", "/bin/bash"]).unwrap();
    // `base64 -d > /tmp/x.sh`: the forked shell (pid 830) opens the file,
    // then executes base64 in the same process.
    let forked = process(830, "/usr/bin/bash", &["bash"], Some(shell.clone()));
    let decoded = run_as(&forked, "/usr/bin/base64");
    let run = |pid| {
        exec(
            900,
            &process(
                pid,
                "/usr/bin/sh",
                &["sh", "/tmp/x.sh"],
                Some(shell.clone()),
            ),
        )
    };
    let found = |events: &[Event]| {
        findings(events)
            .into_iter()
            .map(|f| (f.rule.severity, f.message, f.evidence.len()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        found(&[
            file(0, &forked, FileOp::Open, "/tmp/x.sh"),
            exec(1, &decoded),
            run(931),
        ]),
        [(
            Severity::High,
            "/tmp/x.sh written by /usr/bin/base64 (a shell's redirect) then run by /usr/bin/sh, pid 931 (in a temporary directory)".to_string(),
            3
        )]
    );
    // Near misses, low as a script of the same session: `cat > x.sh`
    // (not a decoder), and a decoder the same process ran long after.
    let cat = run_as(&forked, "/usr/bin/cat");
    for events in [
        [
            file(0, &forked, FileOp::Open, "/tmp/x.sh"),
            exec(1, &cat),
            run(932),
        ],
        [
            file(0, &forked, FileOp::Open, "/tmp/x.sh"),
            exec(2_000, &decoded),
            run(933),
        ],
    ] {
        let f = found(&events);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!((f[0].0, f[0].2), (Severity::Low, 2), "{f:#?}");
    }
}

#[test]
fn a_download_piped_into_a_shell() {
    let shell = chain(&["/sbin/init", "/bin/bash"]).unwrap();
    let child = |pid, exe: &str, args: &[&str]| process(pid, exe, args, Some(shell.clone()));
    let curl = child(830, "/usr/bin/curl", &["curl", "-s", "http://h/i.sh"]);
    let out = findings(&[exec(0, &curl), exec(1, &child(831, "/usr/bin/sh", &["sh"]))]);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].rule.id, "rg-drop-exec");
    assert_eq!(out[0].rule.severity, Severity::High);
    assert_eq!(
        out[0].message,
        "/usr/bin/sh (pid 831) reads its script from its standard input, started with \
         /usr/bin/curl (pid 830) by the same parent: a download piped into a shell"
    );
    assert_eq!(
        out[0]
            .evidence
            .iter()
            .map(|e| (e.action, e.pid))
            .collect::<Vec<_>>(),
        [("exec", 830), ("exec", 831)]
    );
    // The shell's exec seen first (the pipeline's children race): the
    // same finding, at the download's exec, evidence oldest first.
    let out = findings(&[exec(0, &child(836, "/usr/bin/sh", &["sh"])), exec(1, &curl)]);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(
        out[0].evidence.iter().map(|e| e.pid).collect::<Vec<_>>(),
        [836, 830]
    );
    // `bash <(curl …)` as the last word of `bash -c`: the shell forks curl
    // for the substitution, then becomes `bash /dev/fd/63` itself. curl is
    // its child; either exec may come first.
    let subst = child(840, "/usr/bin/bash", &["bash", "/dev/fd/63"]);
    let fed = process(
        841,
        "/usr/bin/curl",
        &["curl", "-s", "http://h/i.sh"],
        Some(subst.clone()),
    );
    let fed_exec = |ms| exec_with(ms, &fed, |x| x.parent_start_ns = subst.start_ns);
    for events in [
        [exec(20, &subst), fed_exec(21)],
        [fed_exec(20), exec(21, &subst)],
    ] {
        let out = findings(&events);
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(out[0].rule.severity, Severity::High);
        assert_eq!(
            out[0].message,
            "/usr/bin/bash (pid 840) reads its script from its standard input, fed by its own \
             child /usr/bin/curl (pid 841): a download piped into a shell"
        );
    }
    // Matched through its own key, the substitution's shell no longer
    // waits under its parent's: a sibling curl right after pairs with
    // nothing.
    let sibling = child(845, "/usr/bin/curl", &["curl", "h"]);
    let out = findings(&[exec(40, &subst), fed_exec(41), exec(42, &sibling)]);
    assert_eq!(out.len(), 1, "{out:#?}");
    // A shell reading its terminal does not pair with a child's download.
    let interactive = child(842, "/usr/bin/bash", &["bash"]);
    let typed = process(
        843,
        "/usr/bin/curl",
        &["curl", "h"],
        Some(interactive.clone()),
    );
    let typed = exec_with(31, &typed, |x| x.parent_start_ns = interactive.start_ns);
    assert!(findings(&[exec(30, &interactive), typed]).is_empty());
    // Near misses: curl into grep, into `sh -c`, a shell started long
    // after, a shell of another parent.
    let mut c = correlator();
    let other = process(832, "/usr/bin/sh", &["sh"], chain(&["/usr/sbin/cron"]));
    let events = [
        exec(10, &curl),
        exec(11, &child(833, "/usr/bin/grep", &["grep", "x"])),
        exec(11, &child(834, "/usr/bin/sh", &["sh", "-c", "echo"])),
        exec(12, &other),
        exec(10_000, &child(835, "/usr/bin/bash", &["bash"])),
    ];
    assert!(ids(&mut c, &events).is_empty());
}

/// `p`'s exec with fd `n` a pipe of inode `ino` (a terminal: 0).
fn piped_exec(ms: u64, p: &Arc<Process>, n: usize, ino: u64) -> Event {
    use crate::model::event::{FdType, StdioFd};
    exec_with(ms, p, |x| {
        x.stdio.fds[n] = StdioFd {
            kind: if ino == 0 { FdType::Tty } else { FdType::Pipe },
            inode: ino,
            peer_inode: 0,
        };
    })
}

#[test]
fn decoded_or_generated_text_piped_into_a_shell() {
    let shell = chain(&["/sbin/init", "/bin/bash"]).unwrap();
    let child = |pid, exe: &str, args: &[&str]| process(pid, exe, args, Some(shell.clone()));
    let sh = child(851, "/usr/bin/sh", &["sh"]);
    let found = |feeder: &Arc<Process>, out_pipe, in_pipe| {
        findings(&[
            piped_exec(0, feeder, 1, out_pipe),
            piped_exec(1, &sh, 0, in_pipe),
        ])
        .into_iter()
        .map(|f| (f.rule.severity, f.message))
        .collect::<Vec<_>>()
    };
    let xxd = child(850, "/usr/bin/xxd", &["xxd", "-r", "-p"]);
    assert_eq!(
        found(&xxd, 77, 77),
        [(
            Severity::High,
            "/usr/bin/sh (pid 851) reads its script from its standard input, started with \
             /usr/bin/xxd (pid 850) by the same parent: a decoded text piped into a shell"
                .to_string()
        )]
    );
    let py = child(852, "/usr/bin/python3", &["python3", "-c", "print('id')"]);
    let f = found(&py, 78, 78);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].0, Severity::Medium);
    assert!(
        f[0].1.ends_with("a generated text piped into a shell"),
        "{f:#?}"
    );
    // Near misses: the decoder's output goes to another pipe than the
    // shell's stdin (`base64 -d x | grep y; sh < z`), the shell reads its
    // terminal, the decoder writes to a terminal, a script run by python.
    let b64 = child(853, "/usr/bin/base64", &["base64", "-d"]);
    assert!(found(&b64, 80, 81).is_empty());
    assert!(found(&b64, 80, 0).is_empty());
    assert!(found(&b64, 0, 80).is_empty());
    let script = child(854, "/usr/bin/python3", &["python3", "/srv/gen.py"]);
    assert!(found(&script, 82, 82).is_empty());
}

#[test]
fn drop_exec_of_a_script_without_a_shebang() {
    let shell = chain(&["/sbin/init", "/bin/bash"]).unwrap();
    let curl = process(
        860,
        "/usr/bin/curl",
        &["curl", "-o", "/tmp/x"],
        Some(shell.clone()),
    );
    let vi = process(861, "/usr/bin/vi", &["vi"], Some(shell.clone()));
    // The child bash forked for `./x` tries the exec, the kernel refuses
    // it, and that bash runs the file itself: no exec follows.
    let refused = |ms, pid, exe: &str, path: &str| {
        let p = process(pid, exe, &["bash"], Some(shell.clone()));
        file_with(ms, &p, FileOp::ExecRefused, path, |f| {
            f.syscall = "execve";
            f.result = -8;
        })
    };
    let found = |events: &[Event]| {
        findings(events)
            .into_iter()
            .map(|f| (f.rule.severity, f.message))
            .collect::<Vec<_>>()
    };
    // Downloaded into /tmp: critical, as an exec would be.
    assert_eq!(
        found(&[
            file(0, &curl, FileOp::Open, "/tmp/x"),
            refused(5, 960, "/usr/bin/bash", "/tmp/x"),
        ]),
        [(
            Severity::Critical,
            "/tmp/x written by /usr/bin/curl then run by /usr/bin/bash (the kernel refused it: \
             no #!), pid 960 (the writer downloads, in a temporary directory)"
                .to_string()
        )]
    );
    // A user's own script, written and run in one session: low.
    let f = found(&[
        file(0, &vi, FileOp::Open, "/home/ann/run"),
        refused(5, 961, "/usr/bin/dash", "/home/ann/run"),
    ]);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].0, Severity::Low);
    // Near misses: an old script (no drop), a refusal by a program that
    // is no shell (it does not run the file), another errno.
    let other = file_with(5, &curl, FileOp::ExecRefused, "/tmp/y", |f| f.result = -8);
    let eacces = {
        let mut e = refused(6, 962, "/usr/bin/bash", "/tmp/y");
        if let crate::model::event::Body::File(f) = &mut e.body {
            f.result = -13;
        }
        e
    };
    assert!(
        found(&[
            refused(1, 963, "/usr/bin/bash", "/tmp/old"),
            file(2, &vi, FileOp::Open, "/tmp/y"),
            other,
            eacces,
        ])
        .is_empty()
    );
}
