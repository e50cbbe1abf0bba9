//! The sinks beside the output file, started before the kernel is loaded
//! so that a bad setting stops the agent before anything is attached:
//! the Prometheus metrics (`[metrics]`) and syslog forwarding
//! (`[forward.syslog]`). Both are restart-only.

use std::sync::Arc;
use std::time::Duration;

use super::AgentError;
use crate::config::Config;
use crate::model::stats::Stats;
use crate::pipeline::channel::StopClock;
use crate::pipeline::forward;
use crate::pipeline::metrics::{self, Exporter};

/// `[metrics]`: the textfile and the HTTP endpoint on their own threads,
/// reading the counters (restart-only: a reload leaves them as started).
/// Before the kernel is loaded, so a missing directory or a taken port
/// stops the agent before anything is attached.
pub(super) fn start_metrics(cfg: &Config, stats: &Arc<Stats>) -> Result<Exporter, AgentError> {
    let every = Duration::from_secs(cfg.health.interval_seconds.into());
    let exporter = metrics::start(
        &cfg.metrics,
        every,
        stats.clone(),
        std::time::Instant::now(),
    )?;
    if let Some(addr) = exporter.http_addr() {
        eprintln!("rand-guard: metrics on http://{addr}/metrics");
    }
    if !cfg.metrics.textfile.is_empty() {
        eprintln!(
            "rand-guard: metrics to {} every {every:?}",
            cfg.metrics.textfile
        );
    }
    Ok(exporter)
}

/// `[forward.syslog]`: the forwarder thread (restart-only), its TLS files
/// read before the kernel is loaded.
pub(super) fn start_forward(
    cfg: &Config,
    hostname: &str,
    stats: &Arc<Stats>,
    clock: &Arc<StopClock>,
) -> Result<Option<forward::Handoff>, AgentError> {
    let Some(s) = &cfg.forward.syslog else {
        return Ok(None);
    };
    let h = forward::start(s, hostname, stats.clone(), clock.clone())?;
    eprintln!(
        "rand-guard: forwarding records to syslog at {} ({:?}, facility {:?})",
        s.address(),
        s.transport,
        s.facility
    );
    Ok(Some(h))
}
