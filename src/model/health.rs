//! Health records: the agent's own counters, as runtime telemetry.
//!
//! The writer stage emits one every `[health] interval_seconds` and a
//! final one after the pipeline has drained at shutdown. Counters are
//! monotonic totals since start (`*_total`), so two records subtract into
//! a rate; gauges (sizes, RSS, uptime) are values at the time of the
//! record. Health is never a detection.

use std::time::Instant;

use crate::model::stats::Snapshot;

/// A health record's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub time_ns: u64,
    /// True for the record written at shutdown.
    pub last: bool,
    pub uptime_seconds: u64,
    /// Resident set size of the agent, bytes.
    pub rss_bytes: u64,
    pub counters: Snapshot,
}

impl Health {
    pub fn now(started: Instant, counters: Snapshot, last: bool) -> Self {
        Health {
            time_ns: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            last,
            uptime_seconds: started.elapsed().as_secs(),
            rss_bytes: rss_bytes().unwrap_or(0),
            counters,
        }
    }
}

/// Current RSS from /proc/self/statm (pages, second field).
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(4096) as u64;
    Some(pages * page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_is_plausible() {
        let rss = rss_bytes().unwrap();
        assert!(rss > 100 * 1024 && rss < 4 << 30, "{rss}");
    }
}
