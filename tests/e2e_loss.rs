//! Loss accounting is exact: every record the kernel produced for a
//! controlled workload is either in the output or in a counter with a
//! reason. The test forces loss with a tiny ring buffer and a slow reader
//! of the agent's output (a FIFO read a little at a time), under both
//! backpressure policies.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{AGENT, get, privileged, unique};
use serde_json::Value;

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
    let fifo = dir.path().join("out.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();

    let mut agent = Command::new(AGENT)
        .args(["run", "--config"])
        .arg(&cfg)
        .arg("--output")
        .arg(&fifo)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // The reader: slow (4 KiB every 2 ms) until the workload is done.
    let slow = Arc::new(AtomicBool::new(true));
    let reader = {
        let (fifo, slow) = (fifo.clone(), slow.clone());
        thread::spawn(move || {
            let mut f = fs::File::open(&fifo).unwrap();
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                    Err(e) => panic!("reading the agent's output: {e}"),
                }
                if slow.load(Ordering::Relaxed) {
                    thread::sleep(Duration::from_millis(2));
                }
            }
            out
        })
    };

    let stderr = agent.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = lines.next().expect("agent exited before ready").unwrap();
        if line.contains("rand-guard: ready") {
            break;
        }
        assert!(Instant::now() < deadline, "agent not ready");
    }
    let stderr_rest = thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());

    for i in 0..N {
        let mode = if i % 2 == 0 { 0o600 } else { 0o640 };
        fs::set_permissions(&target, fs::Permissions::from_mode(mode)).unwrap();
    }
    slow.store(false, Ordering::Relaxed);
    // Let the pipeline drain what it holds, then stop.
    thread::sleep(Duration::from_millis(1500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(agent.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = agent.wait().unwrap();
    let out = reader.join().unwrap();
    let stderr = stderr_rest.join().unwrap().join("\n");
    fs::remove_dir_all(&watched).unwrap();
    assert!(status.success(), "agent exit {status:?}: {stderr}");

    let records: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
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
