//! rg-agent-loss: an alert when the loss counters grow, exact counts, at
//! most one a minute, the next one summing what was held, and a last one
//! at shutdown.

use super::*;
use crate::kernel::abi::{KStats, kind};
use crate::model::alert::Severity;
use crate::model::clock::Rfc3339;
use crate::model::stats::{Loss, OutputDrop, Stage};
use crate::testkit::BOOT;

const SEC: u64 = 1_000_000_000;

fn detector(disabled: &[&str], stats: &Arc<Stats>) -> Detector {
    let cfg = config::Config {
        detections: config::Detections {
            disabled: disabled.iter().map(|d| d.to_string()).collect(),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut d = Detector::new(&cfg, "h", RuleSet::empty(), Some(stats.clone())).unwrap();
    d.protect(Vec::new(), std::process::id());
    d
}

/// Kernel ring-buffer drops so far (totals, as the poller publishes them).
fn kernel(stats: &Stats, drops: &[(u16, u64)]) {
    let mut k = KStats::default();
    for (kind, n) in drops {
        k.ringbuf_drops[*kind as usize] = *n;
    }
    stats.set_kernel(&k);
}

fn channel(stats: &Stats, stage: Stage, kind: &'static str, n: u64) {
    for _ in 0..n {
        stats.count_channel_full(stage, kind);
    }
}

fn sweep(d: &mut Detector, now: u64) -> Vec<Alert> {
    let mut out = Vec::new();
    d.sweep(now, &mut out);
    out
}

fn lost(a: &Alert) -> &LossBody {
    match &a.event.body {
        Body::Loss(l) => l,
        other => panic!("not a loss alert: {other:?}"),
    }
}

#[test]
fn growing_loss_counters_raise_one_alert_with_the_exact_counts() {
    let stats = Arc::new(Stats::default());
    let mut d = detector(&[], &stats);
    assert!(d.enabled().any(|id| id == LOSS_ID));
    assert!(sweep(&mut d, BOOT).is_empty(), "nothing lost yet");

    kernel(&stats, &[(kind::FILE_CHMOD, 5), (kind::EXEC, 2)]);
    channel(&stats, Stage::Enricher, "file_chmod", 3);
    stats.count_output_drop(OutputDrop::BufferFull, "alert");
    let out = sweep(&mut d, BOOT + SEC);
    assert_eq!(out.len(), 1, "{out:?}");
    let a = &out[0];
    assert_eq!(a.rule.id, "rg-agent-loss");
    assert_eq!(a.rule.severity, Severity::High);
    assert_eq!(a.rule.techniques[0].id, "T1562.006");
    assert_eq!(a.rule.tactics, ["Defense Evasion"]);
    assert_eq!(a.suppressed, 0);
    let l = lost(a);
    assert_eq!(
        l.lost,
        Loss {
            kernel_ringbuf_drops: vec![("exec", 2), ("file_chmod", 5)],
            channel_full_drops: vec![("enricher", 3)],
            channel_full_drops_by_kind: vec![("file_chmod", 3)],
            output_buffer_drops: vec![("buffer_full", 1)],
            output_buffer_drops_by_kind: vec![("alert", 1)],
        }
    );
    assert_eq!(l.lost.records(), 11);
    // First seen at this very sweep.
    assert_eq!(l.since_ns, a.event.time_ns);
    assert_eq!(a.event.ktime_ns, BOOT + SEC);
    // The subject is the agent (here: the test), as /proc shows it.
    let me = std::process::id();
    assert_eq!((a.event.pid, a.event.tid), (me, me));
    let p = a.event.process.as_deref().expect("the agent's process");
    assert_eq!(p.pid, me);
    assert_eq!(
        a.message,
        format!(
            "Records lost: 11 since {} (kernel ring buffer full: 7 [exec 2, file_chmod 5]; \
             channels full: 3 [enricher 3; file_chmod 3]; output buffer: 1 [buffer_full 1; \
             alert 1])",
            Rfc3339(l.since_ns)
        )
    );
    assert_eq!(a.id, alert_id("rg-agent-loss", "h", &a.event));

    // No growth: no alert, now or at shutdown.
    assert!(sweep(&mut d, BOOT + 2 * SEC).is_empty());
    assert!(sweep(&mut d, BOOT + 200 * SEC).is_empty());
    let mut out = Vec::new();
    d.flush(&mut out);
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn loss_alerts_come_once_a_minute_and_the_next_sums_what_was_held() {
    let stats = Arc::new(Stats::default());
    let mut d = detector(&[], &stats);
    kernel(&stats, &[(kind::FILE_CHMOD, 1)]);
    let first = sweep(&mut d, BOOT);
    assert_eq!(first.len(), 1);
    assert_eq!(
        lost(&first[0]).lost.kernel_ringbuf_drops,
        [("file_chmod", 1)]
    );

    // More loss within the minute: held.
    channel(&stats, Stage::Normalizer, "exec", 2);
    assert!(sweep(&mut d, BOOT + 10 * SEC).is_empty());
    kernel(&stats, &[(kind::FILE_CHMOD, 5)]);
    assert!(sweep(&mut d, BOOT + 30 * SEC).is_empty());
    assert!(sweep(&mut d, BOOT + 60 * SEC - 1).is_empty());
    // A minute after the first: one alert for both, since the first growth
    // seen after the first alert.
    let next = sweep(&mut d, BOOT + 60 * SEC);
    assert_eq!(next.len(), 1, "{next:?}");
    let l = lost(&next[0]);
    assert_eq!(
        l.lost,
        Loss {
            kernel_ringbuf_drops: vec![("file_chmod", 4)],
            channel_full_drops: vec![("normalizer", 2)],
            channel_full_drops_by_kind: vec![("exec", 2)],
            ..Default::default()
        }
    );
    assert_eq!(next[0].event.time_ns - l.since_ns, 50 * SEC);
    assert_ne!(next[0].id, first[0].id);

    // Loss a while later: at once (the last alert is over a minute old).
    channel(&stats, Stage::Detector, "alert", 1);
    let later = sweep(&mut d, BOOT + 200 * SEC);
    assert_eq!(lost(&later[0]).lost.channel_full_drops, [("detector", 1)]);
    // Then loss just before shutdown: held by the rate, written by flush.
    channel(&stats, Stage::Poller, "exec", 3);
    assert!(sweep(&mut d, BOOT + 201 * SEC).is_empty());
    let mut out = Vec::new();
    d.flush(&mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(lost(&out[0]).lost.channel_full_drops, [("poller", 3)]);
    assert_eq!(lost(&out[0]).lost.records(), 3);
}

#[test]
fn a_disabled_loss_alert_follows_the_counters_silently_and_a_reload_keeps_the_state() {
    let stats = Arc::new(Stats::default());
    let mut d = detector(&["rg-agent-loss"], &stats);
    assert!(!d.enabled().any(|id| id == LOSS_ID));
    kernel(&stats, &[(kind::EXEC, 9)]);
    assert!(sweep(&mut d, BOOT).is_empty());
    let mut out = Vec::new();
    d.flush(&mut out);
    assert!(out.is_empty(), "{out:?}");

    // Turned on by a reload: only loss from now on counts.
    d.take_over(detector(&[], &stats), false, false);
    assert!(sweep(&mut d, BOOT + SEC).is_empty());
    kernel(&stats, &[(kind::EXEC, 10)]);
    let out = sweep(&mut d, BOOT + 2 * SEC);
    assert_eq!(lost(&out[0]).lost.kernel_ringbuf_drops, [("exec", 1)]);

    // Another reload: the rate limit carries over.
    d.take_over(detector(&[], &stats), false, false);
    kernel(&stats, &[(kind::EXEC, 12)]);
    assert!(sweep(&mut d, BOOT + 3 * SEC).is_empty());
    let out = sweep(&mut d, BOOT + 62 * SEC);
    assert_eq!(lost(&out[0]).lost.kernel_ringbuf_drops, [("exec", 2)]);
}
