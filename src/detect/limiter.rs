//! Alert rate limiting per (rule, process): token buckets, and one
//! summary alert per burst held back.

use std::collections::HashMap;

use crate::detect::rules::{RateLimit, RuleSet};
use crate::model::alert::Alert;
use crate::model::stats::Stats;

/// Per rule and process: a token bucket, and the alerts it held back.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    /// CLOCK_BOOTTIME of the last refill (event time, so a replay of
    /// recorded events limits exactly as the live agent did).
    last_ns: u64,
    suppressed: u64,
    /// The last alert held back, shown by the summary.
    last: Option<Alert>,
}

/// Buckets kept at most; beyond, idle ones go first (then all, their
/// summaries written first).
const BUCKETS_MAX: usize = 16384;

/// Rate limiting of alerts per (rule, process).
#[derive(Debug, Default)]
pub(super) struct Limiter {
    buckets: HashMap<(String, u32, u64), Bucket>,
}

impl Limiter {
    /// Let `alert` through, or hold it back. A burst that is over is
    /// summarized by one alert carrying the suppressed count, emitted
    /// before the next one; a `per_minute` of 0 means once per process,
    /// without a summary.
    pub(super) fn admit(
        &mut self,
        limit: RateLimit,
        alert: Alert,
        stats: Option<&Stats>,
        out: &mut Vec<Alert>,
    ) {
        let now = alert.event.ktime_ns;
        let start = alert.event.process.as_ref().map_or(0, |p| p.start_ns);
        let key = (alert.rule.id.clone(), alert.event.pid, start);
        if !self.buckets.contains_key(&key) && self.buckets.len() >= BUCKETS_MAX {
            self.buckets.retain(|_, b| b.suppressed > 0);
            if self.buckets.len() >= BUCKETS_MAX {
                // Every bucket holds alerts back: their summaries go out
                // now, early, rather than being lost with the buckets (the
                // held-back alerts are already in rate_limited_total; the
                // summary is what shows them).
                for b in self.buckets.values_mut() {
                    out.extend(Self::summary(b));
                }
                self.buckets.clear();
            }
        }
        let b = self.buckets.entry(key).or_insert(Bucket {
            tokens: f64::from(limit.burst),
            last_ns: now,
            suppressed: 0,
            last: None,
        });
        let elapsed_min = now.saturating_sub(b.last_ns) as f64 / 60e9;
        b.tokens = (b.tokens + elapsed_min * limit.per_minute).min(f64::from(limit.burst));
        b.last_ns = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            if let Some(summary) = Self::summary(b) {
                out.push(summary);
            }
            out.push(alert);
        } else {
            b.suppressed += 1;
            if let Some(s) = stats {
                s.count_rate_limited(1);
            }
            if limit.per_minute > 0.0 {
                b.last = Some(alert);
            }
        }
    }

    fn summary(b: &mut Bucket) -> Option<Alert> {
        let mut a = b.last.take()?;
        a.suppressed = std::mem::take(&mut b.suppressed);
        a.message = format!(
            "{} ({} alerts suppressed by rate limiting)",
            a.message, a.suppressed
        );
        Some(a)
    }

    /// Summaries of bursts that are over by `now_ns` (a token is back).
    pub(super) fn sweep(
        &mut self,
        now_ns: u64,
        limits: impl Fn(&str) -> RateLimit,
        out: &mut Vec<Alert>,
    ) {
        for ((rule, _, _), b) in self.buckets.iter_mut() {
            if b.last.is_none() {
                continue;
            }
            let l = limits(rule);
            let refill = now_ns.saturating_sub(b.last_ns) as f64 / 60e9 * l.per_minute;
            if b.tokens + refill >= 1.0
                && let Some(s) = Self::summary(b)
            {
                out.push(s);
            }
        }
    }

    /// The process exited: summarize and forget its buckets.
    pub(super) fn exited(&mut self, pid: u32, out: &mut Vec<Alert>) {
        self.buckets.retain(|(_, p, _), b| {
            if *p != pid {
                return true;
            }
            out.extend(Self::summary(b));
            false
        });
    }

    /// Everything still held back (shutdown).
    pub(super) fn flush(&mut self, out: &mut Vec<Alert>) {
        for b in self.buckets.values_mut() {
            out.extend(Self::summary(b));
        }
    }
}

/// The rate limit of rule `id`: its own, or the `[alerts]` default.
pub(super) fn limit_of(rules: &RuleSet, default: RateLimit, id: &str) -> RateLimit {
    if id == "rg-net-suspicious-port" {
        return ONCE;
    }
    rules
        .rules()
        .iter()
        .find(|r| r.meta.id == id)
        .and_then(|r| r.rate_limit)
        .unwrap_or(default)
}

/// rg-net-suspicious-port alerts once per process.
const ONCE: RateLimit = RateLimit {
    burst: 1,
    per_minute: 0.0,
};
