//! The soak: the agent under a steady event rate for ten minutes, its
//! resident set sampled every 10 s; the samples after the first two
//! minutes must show no growth trend. Long, so not part of the default run:
//!
//!     cargo test --release --test soak -- --ignored --nocapture
//!
//! `RG_SOAK_MINUTES` (default 10) and `RG_SOAK_RATE` (file writes per
//! second, default 1000; execs run at a twentieth of it) change the load.
//! The samples are printed as a markdown table (docs/reliability.md keeps
//! the last run's).

mod common;

use std::fs;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{Agent, final_health, privileged, unique};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Least-squares slope of y over x.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| {
        (a + (x - mx) * (y - my), b + (x - mx) * (x - mx))
    });
    num / den
}

#[test]
#[ignore = "ten minutes: run with --ignored"]
fn soak_shows_no_memory_growth() {
    if !privileged("soak_shows_no_memory_growth") {
        return;
    }
    let minutes = env("RG_SOAK_MINUTES", 10);
    let rate = env("RG_SOAK_RATE", 1000).max(20);
    // A one-minute correlation window: the windows fill to their working
    // size within it (with the default 600 s they grow for ten minutes,
    // by design, up to correlation_max_entries each).
    let agent = Agent::start(
        "[health]\ninterval_seconds = 10\n[detections]\ncorrelation_window_seconds = 60\n",
    );
    let pid = agent.pid();
    let dir = format!("/root/{}", unique("soak"));
    fs::create_dir(&dir).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let execs = Arc::new(AtomicU64::new(0));
    // Paced: each worker does its share of a 10 ms slot, then sleeps to
    // the slot's end, so the rate holds whatever the machine's speed.
    let writer = {
        let (stop, writes, dir) = (stop.clone(), writes.clone(), dir.clone());
        thread::spawn(move || {
            let per_slot = (rate / 100).max(1);
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let slot = Instant::now();
                for _ in 0..per_slot {
                    fs::write(format!("{dir}/f{}", i % 64), b"x").unwrap();
                    i += 1;
                }
                writes.fetch_add(per_slot, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(10).saturating_sub(slot.elapsed()));
            }
        })
    };
    let execer = {
        let (stop, execs) = (stop.clone(), execs.clone());
        thread::spawn(move || {
            let gap = Duration::from_micros(20_000_000 / rate);
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                Command::new("/bin/true").status().unwrap();
                execs.fetch_add(1, Ordering::Relaxed);
                thread::sleep(gap.saturating_sub(t.elapsed()));
            }
        })
    };

    let start = Instant::now();
    let mut samples = Vec::new();
    println!("| minute | agent RSS (KiB) | file writes | execs |");
    println!("|---|---|---|---|");
    while start.elapsed() < Duration::from_secs(60 * minutes) {
        thread::sleep(Duration::from_secs(10));
        let t = start.elapsed().as_secs_f64();
        let rss = rss_kib(pid);
        samples.push((t, rss as f64));
        println!(
            "| {:.1} | {rss} | {} | {} |",
            t / 60.0,
            writes.load(Ordering::Relaxed),
            execs.load(Ordering::Relaxed)
        );
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    execer.join().unwrap();
    let (status, records, stderr) = agent.stop();
    fs::remove_dir_all(&dir).unwrap();
    assert!(status.success(), "{stderr}");
    let h = final_health(&records);
    println!(
        "final health: events written {}, kernel drops {}, process table {}",
        h["events_output_total"], h["kernel_ringbuf_drops_total"], h["process_table_size"]
    );

    // After two minutes' warm-up (buffers, the process table, the
    // correlation windows and the allocator reach their working size), the
    // trend over the rest.
    let steady: Vec<(f64, f64)> = samples.into_iter().filter(|(t, _)| *t > 120.0).collect();
    assert!(steady.len() >= 3, "too short to judge a trend");
    let per_min = slope(&steady) * 60.0;
    let mean = steady.iter().map(|(_, y)| y).sum::<f64>() / steady.len() as f64;
    let span_min = (steady.last().unwrap().0 - steady[0].0) / 60.0;
    println!("RSS trend: {per_min:+.1} KiB/min over {span_min:.1} min (mean {mean:.0} KiB)");
    // Growth over the steady span under 2 % of the mean, or under 1 MiB.
    let growth = per_min * span_min;
    assert!(
        growth < (mean * 0.02).max(1024.0),
        "RSS grows: {per_min:+.1} KiB/min"
    );
}
