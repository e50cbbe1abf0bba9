//! The detector stage's thread: batches in, records out, reloads
//! (SIGHUP) applied between batches, ended bursts and the loss counters
//! (rg-agent-loss) swept every second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::detect::filter::Filter;
use crate::detect::{Detector, EventOutput, LOSS_ID, step};
use crate::model::alert::Alert;
use crate::model::event::Event;
use crate::model::stats::Stats;
use crate::pipeline::channel::{Gone, Outlet};
use crate::record::Record;

/// How often held-back bursts are checked for a summary.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A reloaded configuration for the stage (SIGHUP), built and checked
/// before it is sent.
pub struct Reload {
    pub filter: Filter,
    /// Built with the new rules, or with none and `keep_rules`.
    pub detector: Detector,
    /// The new rules directory was refused: the rules in force stay.
    pub keep_rules: bool,
    /// `[detections]` did not change: correlation windows under way stay.
    pub keep_correlation: bool,
    pub output: EventOutput,
}

/// The stage's reloadable parts.
struct Stage {
    filter: Filter,
    detector: Detector,
    output: EventOutput,
}

impl Stage {
    fn reload(&mut self, r: Reload, stats: &Stats) {
        self.filter = r.filter;
        self.output = r.output;
        self.detector
            .take_over(r.detector, r.keep_rules, r.keep_correlation);
        stats.set_rules_loaded(self.detector.rules().len());
        stats.set_rules_skipped(self.detector.rules().skipped().len());
    }
}

/// The stage loop: runs until the enricher hangs up. Reloaded settings
/// (SIGHUP) arrive on `reload`; event-level exclusions drop events here,
/// counted as userspace-filtered.
pub fn run(
    rx: Receiver<Vec<Event>>,
    reload: Receiver<Reload>,
    tx: Outlet<Vec<Record>>,
    filter: Filter,
    detector: Detector,
    output: EventOutput,
    stats: Arc<Stats>,
) {
    let mut alerts = Vec::new();
    let mut reload = reload;
    let mut last_sweep = Instant::now();
    let mut st = Stage {
        filter,
        detector,
        output,
    };
    loop {
        crossbeam_channel::select! {
            recv(rx) -> msg => {
                let Ok(batch) = msg else { break };
                crate::pipeline::fault::point("detector");
                // A reload sent before this batch applies to it: the poller
                // sends both, in order, and select! picks ready arms at random.
                while let Ok(r) = reload.try_recv() {
                    st.reload(r, &stats);
                }
                let Stage { filter, detector, output } = &mut st;
                let mut out = Vec::with_capacity(batch.len());
                let mut dropped = 0;
                for ev in batch {
                    if !step(filter, detector, &ev, &mut alerts) {
                        dropped += 1;
                        continue;
                    }
                    if output.wants(&ev) && !filter.detection_only(&ev) {
                        out.push(Record::Event(ev));
                    } else {
                        // Collected for detection only ([events], [file]
                        // detect_only say so): counted.
                        dropped += 1;
                    }
                    out.extend(alerts.drain(..).map(Record::Alert));
                }
                if dropped > 0 {
                    stats.count_userspace_filtered(dropped);
                }
                if !out.is_empty() && tx.send(out).is_err() {
                    return;
                }
            }
            recv(reload) -> msg => match msg {
                Ok(r) => st.reload(r, &stats),
                // The poller is gone: no more reloads, stop selecting it.
                Err(_) => reload = crossbeam_channel::never(),
            },
            default(SWEEP_EVERY) => {}
        }
        if last_sweep.elapsed() >= SWEEP_EVERY {
            last_sweep = Instant::now();
            st.detector
                .sweep(crate::model::clock::boot_now_ns(), &mut alerts);
            if send_alerts(&tx, &mut alerts).is_err() {
                return;
            }
        }
    }
    st.detector.flush(&mut alerts);
    let _ = send_alerts(&tx, &mut alerts);
}

/// Send the alerts of a sweep or of the final flush. An rg-agent-loss
/// alert says records were lost, often because channels are full: it
/// waits for room whatever the backpressure policy (at most one batch a
/// minute, and not past the shutdown timeout), rather than be dropped by
/// the very loss it reports. It is told on stderr too, which still works
/// when the output itself is what loses records.
fn send_alerts(tx: &Outlet<Vec<Record>>, alerts: &mut Vec<Alert>) -> Result<(), Gone> {
    if alerts.is_empty() {
        return Ok(());
    }
    let mut loss = false;
    for a in alerts.iter().filter(|a| a.rule.id == LOSS_ID) {
        eprintln!("rand-guard: {LOSS_ID}: {}", a.message);
        loss = true;
    }
    let batch = alerts.drain(..).map(Record::Alert).collect();
    if loss {
        tx.send_waiting(batch)
    } else {
        tx.send(batch)
    }
}
