//! State that outlives one event: what a `[detections]` reload carries
//! over, and what the rate limiter does when its buckets are full.

use super::*;
use crate::model::alert::Severity;
use crate::model::event::FileOp;
use crate::testkit::{self, BOOT};

/// (rule id, severity, file path or "-", suppressed) of each alert.
fn records(out: &[Alert]) -> Vec<(String, Severity, String, u64)> {
    out.iter()
        .map(|a| {
            let path = match &a.event.body {
                Body::File(f) => f.path.clone(),
                _ => "-".into(),
            };
            (a.rule.id.clone(), a.rule.severity, path, a.suppressed)
        })
        .collect()
}

fn detector(d: config::Detections, stats: &Arc<Stats>) -> Detector {
    let cfg = config::Config {
        detections: d,
        alerts: config::AlertsConfig {
            burst: 1_000_000,
            per_minute: 60.0,
        },
        ..Default::default()
    };
    Detector::new(&cfg, "h", RuleSet::empty(), Some(stats.clone())).unwrap()
}

const MS: u64 = 1_000_000;

#[test]
fn a_detections_reload_keeps_correlation_windows_and_the_eviction_count() {
    let stats = Arc::new(Stats::default());
    let before = config::Detections {
        correlation_max_entries: 16,
        ..Default::default()
    };
    let mut d = detector(before.clone(), &stats);
    let cp = testkit::process(300, "/usr/bin/cp", &["cp"], None);
    let mut out = Vec::new();
    // 17 units written into a window of 16: the first is pushed out.
    for i in 0..17 {
        let path = format!("/etc/systemd/system/u{i}.service");
        d.detect(&testkit::file(i, &cp, FileOp::Open, &path), &mut out);
    }
    assert_eq!(
        records(&out[16..]),
        [(
            "rg-persist-systemd-unit".to_string(),
            Severity::High,
            "/etc/systemd/system/u16.service".to_string(),
            0
        )]
    );
    d.sweep(BOOT + 20 * MS, &mut out);
    let s = stats.snapshot();
    // Each write waits in two windows, the unit writes
    // (rg-persist-systemd-enable) and the drops (rg-drop-exec): 2 × 16
    // held, one pushed out of each.
    assert_eq!(
        (s.correlation_state_size, s.correlation_evictions_total),
        (32, 2)
    );

    // SIGHUP with another [detections] (a port added): not the same
    // settings, so the stage is handed a new detector.
    let after = config::Detections {
        suspicious_ports: vec![4444, 8443],
        ..before
    };
    d.take_over(detector(after, &stats), false, false);
    d.sweep(BOOT + 30 * MS, &mut out);
    let s = stats.snapshot();
    // The count only increases, and the units written before the reload
    // are still waiting for their enable.
    assert_eq!(
        (s.correlation_state_size, s.correlation_evictions_total),
        (32, 2)
    );

    out.clear();
    let systemctl = testkit::process(
        301,
        "/usr/bin/systemctl",
        &["systemctl", "enable", "u16"],
        None,
    );
    d.detect(&testkit::exec(40, &systemctl), &mut out);
    assert_eq!(
        records(&out),
        [(
            "rg-persist-systemd-enable".to_string(),
            Severity::Critical,
            "-".to_string(),
            0
        )]
    );
    assert_eq!(
        out[0].message,
        "Systemd unit u16.service written by /usr/bin/cp then enabled or started \
         (systemctl enable u16)"
    );
    // Evictions after the reload add to those before it.
    for i in 0..17 {
        let path = format!("/etc/systemd/system/v{i}.service");
        d.detect(&testkit::file(50 + i, &cp, FileOp::Open, &path), &mut out);
    }
    d.sweep(BOOT + 80 * MS, &mut out);
    let s = stats.snapshot();
    // Units: 15 held + 17 new in 16, 16 pushed out; drops: 16 + 17 in
    // 16, 17 pushed out; and the 2 from before the reload.
    assert_eq!(
        (s.correlation_state_size, s.correlation_evictions_total),
        (32, 35)
    );
}

#[test]
fn a_reload_that_shrinks_a_window_counts_what_it_pushes_out() {
    let stats = Arc::new(Stats::default());
    let big = config::Detections {
        correlation_max_entries: 32,
        ..Default::default()
    };
    let mut d = detector(big.clone(), &stats);
    let cp = testkit::process(300, "/usr/bin/cp", &["cp"], None);
    let mut out = Vec::new();
    for i in 0..20 {
        let path = format!("/etc/systemd/system/u{i}.service");
        d.detect(&testkit::file(i, &cp, FileOp::Open, &path), &mut out);
    }
    let small = config::Detections {
        correlation_max_entries: 16,
        ..big
    };
    d.take_over(detector(small, &stats), false, false);
    d.sweep(BOOT + 30 * MS, &mut out);
    let s = stats.snapshot();
    // The four oldest go from both windows, counted; the newest 16 stay.
    assert_eq!(
        (s.correlation_state_size, s.correlation_evictions_total),
        (32, 8)
    );
    out.clear();
    for unit in ["u3", "u4"] {
        let p = testkit::process(
            301,
            "/usr/bin/systemctl",
            &["systemctl", "start", unit],
            None,
        );
        d.detect(&testkit::exec(40, &p), &mut out);
    }
    assert_eq!(
        records(&out),
        [(
            "rg-persist-systemd-enable".to_string(),
            Severity::Critical,
            "-".to_string(),
            0
        )]
    );
    assert!(out[0].message.starts_with("Systemd unit u4.service "));
}

#[test]
fn full_buckets_release_their_summaries_instead_of_dropping_them() {
    let stats = Arc::new(Stats::default());
    let cfg = config::Config {
        alerts: config::AlertsConfig {
            burst: 1,
            per_minute: 60.0,
        },
        ..Default::default()
    };
    let mut d = Detector::new(&cfg, "h", RuleSet::empty(), Some(stats.clone())).unwrap();
    let write = |pid: u32, ktime_ns: u64| Event {
        pid,
        tid: pid,
        ktime_ns,
        ..testkit::file(
            0,
            &testkit::process(pid, "/usr/bin/cp", &["cp"], None),
            FileOp::Open,
            "/etc/cron.d/job",
        )
    };
    let mut out = Vec::new();
    // Every bucket of the limiter holds one alert back.
    let full = 16_384;
    for pid in 1..=full {
        d.detect(&write(pid, 10), &mut out);
        d.detect(&write(pid, 11), &mut out);
    }
    assert_eq!(out.len(), full as usize);
    assert_eq!(stats.snapshot().rate_limited_total, u64::from(full));
    // One more (rule, process): the buckets start over, and what they
    // held back comes out first as summaries.
    out.clear();
    d.detect(&write(full + 1, 12), &mut out);
    let recs = records(&out);
    assert_eq!(recs.len(), full as usize + 1);
    let summary = (
        "rg-persist-cron".to_string(),
        Severity::High,
        "/etc/cron.d/job".to_string(),
        1,
    );
    assert!(recs[..full as usize].iter().all(|r| *r == summary));
    let mut pids: Vec<u32> = out[..full as usize].iter().map(|a| a.event.pid).collect();
    pids.sort_unstable();
    assert_eq!(pids, (1..=full).collect::<Vec<_>>());
    assert_eq!(
        out[0].message,
        "Cron job written: /etc/cron.d/job (open by /usr/bin/cp, pid {}) (1 alerts suppressed by rate limiting)"
            .replace("{}", &out[0].event.pid.to_string())
    );
    assert_eq!(
        (recs[full as usize].clone(), out[full as usize].event.pid),
        (
            (
                "rg-persist-cron".to_string(),
                Severity::High,
                "/etc/cron.d/job".to_string(),
                0
            ),
            full + 1
        )
    );
    // Nothing is left to flush.
    out.clear();
    d.flush(&mut out);
    assert!(out.is_empty());
}
