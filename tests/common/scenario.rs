//! Shared by the scenario tests (`tests/e2e_scenarios.rs`,
//! `tests/e2e_robust.rs`): their configuration, the alerts of one rule,
//! temp-path clean-up and a loopback "attacker".

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use serde_json::Value;

use super::get;

/// Network on for connects (rg-drop-exec scores writers that connected).
pub const CONFIG: &str = "[kernel]\nring_buffer_bytes = 4194304\n\
                          [network]\nenabled = true\nhooks = [\"connect\"]\n";

/// The alerts of `rule` among `records`.
pub fn alerts<'a>(records: &'a [Value], rule: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["record_type"] == "alert" && get(r, "rule.id") == rule)
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
    /// and return what came back.
    pub fn drive(&self, marker: &str) -> String {
        let (mut conn, _) = self.listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        conn.write_all(format!("echo {marker}\nexit\n").as_bytes())
            .unwrap();
        let mut out = Vec::new();
        let _ = conn.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}
