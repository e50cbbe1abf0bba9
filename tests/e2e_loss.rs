//! Loss accounting is exact: every record the kernel produced for a
//! controlled workload is either in the output or in a counter with a
//! reason. The test forces loss with a tiny ring buffer and a slow reader
//! of the agent's output (a FIFO read a little at a time), under both
//! backpressure policies.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::thread;
use std::time::Duration;

use common::{FifoAgent, get, privileged, unique};

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

    for i in 0..N {
        let mode = if i % 2 == 0 { 0o600 } else { 0o640 };
        fs::set_permissions(&target, fs::Permissions::from_mode(mode)).unwrap();
    }
    agent.fast();
    // Let the pipeline drain what it holds, then stop.
    thread::sleep(Duration::from_millis(1500));
    agent.sigterm();
    let status = agent.wait();
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
