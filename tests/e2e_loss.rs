//! Loss accounting is exact: every record the kernel produced for a
//! controlled workload is either in the output or in a counter with a
//! reason. The test forces loss with a tiny ring buffer and a slow reader
//! of the agent's output (a FIFO read a little at a time), under both
//! backpressure policies. And the loss is not only counted: it raises
//! `rg-agent-loss` alerts that add up to the same counts.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{FifoAgent, get, pid_of, privileged, unique};

/// chmods of one watched file: N records of one kind, file_chmod.
const N: usize = 20_000;

fn run(policy: &str) {
    let dir = tempfile::tempdir().unwrap();
    // Only our directory is watched (no detection-only prefixes either),
    // so every file_chmod record in the kernel is ours and the per-kind
    // counters are exact.
    let watched = format!("/tmp/{}-{policy}", unique("loss"));
    fs::create_dir_all(&watched).unwrap();
    let target = format!("{watched}/target");
    fs::write(&target, "x").unwrap();
    let cfg = dir.path().join("config.toml");
    fs::write(
        &cfg,
        format!(
            "[kernel]\nring_buffer_bytes = 65536\nwakeup_bytes = 4096\n\
             [file]\ninclude = [\"{watched}\"]\ndetect_only = []\n\
             [pipeline]\nchannel_capacity = 1\nbackpressure = \"{policy}\"\n"
        ),
    )
    .unwrap();
    // The reader: slow (4 KiB every 2 ms) until the workload is done.
    let mut agent = FifoAgent::start(&cfg, Duration::from_millis(2));
    let agent_pid = agent.child.id();
    let started = Instant::now();

    for i in 0..N {
        let mode = if i % 2 == 0 { 0o600 } else { 0o640 };
        fs::set_permissions(&target, fs::Permissions::from_mode(mode)).unwrap();
    }
    agent.fast();
    // Let the pipeline drain what it holds, then stop.
    thread::sleep(Duration::from_millis(1500));
    agent.sigterm();
    let status = agent.wait();
    let ran = started.elapsed();
    let (records, stderr) = agent.output();
    fs::remove_dir_all(&watched).unwrap();
    assert!(status.success(), "agent exit {status:?}: {stderr}");

    let emitted = records
        .iter()
        .filter(|r| {
            r["record_type"] == "event"
                && get(r, "event.action") == "chmod"
                && get(r, "file.path") == target.as_str()
        })
        .count() as u64;
    let health = records.last().unwrap();
    assert_eq!(health["record_type"], "health");
    let h = get(health, "rand_guard.health");
    let kernel_drops = h["kernel_ringbuf_drops_total"]["file_chmod"]
        .as_u64()
        .unwrap();
    let channel_drops = h["channel_full_drops_by_kind_total"]["file_chmod"]
        .as_u64()
        .unwrap_or(0);
    eprintln!(
        "{policy}: emitted {emitted}, kernel drops {kernel_drops}, channel drops {channel_drops}"
    );
    assert_eq!(h["invalid_schema_total"], 0);
    assert_eq!(h["output_failures_total"], 0);
    // The point: nothing is unaccounted for.
    assert_eq!(emitted + kernel_drops + channel_drops, N as u64);
    // And the test did force loss, so it proves something.
    assert!(kernel_drops + channel_drops > 0, "no loss was forced");
    match policy {
        "block" => assert_eq!(channel_drops, 0, "block never drops in userspace"),
        _ => assert!(
            channel_drops > 0,
            "drop policy dropped nothing in userspace"
        ),
    }
    loss_alerts(
        &records,
        &stderr,
        agent_pid,
        ran,
        kernel_drops,
        channel_drops,
    );
}

/// The loss raised `rg-agent-loss` alerts about the agent itself, at most
/// one a minute (and one at shutdown), each told on stderr too; summed,
/// they count the test's lost chmods exactly as health does. (Only the
/// test's own kind is exact: other processes' records may still be lost
/// in the kernel after the agent's last alert, while it stops.)
fn loss_alerts(
    records: &[Value],
    stderr: &str,
    agent_pid: u32,
    ran: Duration,
    kernel_drops: u64,
    channel_drops: u64,
) {
    let alerts: Vec<&Value> = records
        .iter()
        .filter(|r| r["record_type"] == "alert" && get(r, "rule.id") == "rg-agent-loss")
        .collect();
    assert!(!alerts.is_empty(), "loss was counted but never raised");
    let allowed = 2 + ran.as_secs() / 60;
    assert!(
        alerts.len() as u64 <= allowed,
        "{} loss alerts in {ran:?} (at most {allowed})",
        alerts.len()
    );
    for a in &alerts {
        assert_eq!(pid_of(a), u64::from(agent_pid), "{a}");
        assert_eq!(get(a, "event.action"), "loss");
        assert_eq!(get(a, "event.severity"), 73);
        assert_eq!(get(a, "threat.technique.id.0"), "T1562");
        assert_eq!(get(a, "threat.technique.subtechnique.id.0"), "T1562.006");
        let l = get(a, "rand_guard.loss");
        let sum = |list: &str| {
            l[list]
                .as_object()
                .map_or(0, |m| m.values().map(|v| v.as_u64().unwrap()).sum::<u64>())
        };
        assert_eq!(
            l["records"],
            sum("kernel_ringbuf_drops") + sum("channel_full_drops") + sum("output_buffer_drops"),
            "{a}"
        );
        assert!(l["records"].as_u64().unwrap() > 0, "{a}");
        assert!(l["since"].as_str().unwrap() <= a["@timestamp"].as_str().unwrap());
        let message = a["message"].as_str().unwrap();
        assert!(message.starts_with("Records lost: "), "{message}");
        assert!(stderr.contains(&format!("rand-guard: rg-agent-loss: {message}")));
    }
    assert_eq!(
        stderr.matches("rand-guard: rg-agent-loss: ").count(),
        alerts.len(),
        "{stderr}"
    );
    let total = |list: &str| -> u64 {
        alerts
            .iter()
            .map(|a| {
                get(a, "rand_guard.loss")[list]["file_chmod"]
                    .as_u64()
                    .unwrap_or(0)
            })
            .sum()
    };
    assert_eq!(total("kernel_ringbuf_drops"), kernel_drops);
    assert_eq!(total("channel_full_drops_by_kind"), channel_drops);
}

#[test]
fn loss_is_exact_with_blocking_backpressure() {
    if privileged("loss_is_exact_with_blocking_backpressure") {
        run("block");
    }
}

#[test]
fn loss_is_exact_with_dropping_backpressure() {
    if privileged("loss_is_exact_with_dropping_backpressure") {
        run("drop");
    }
}
