//! `rg-agent-loss`: the agent lost records. An attacker who floods the
//! ring buffer (or the pipeline) to blind the agent leaves only counters
//! in health records; this raises an alert when they grow, as Falco's
//! drop alerts and Kunai's loss events do.
//!
//! The detector looks at the loss totals of [`Stats`] at every sweep
//! (once a second): the kernel's ring-buffer drops (published by the
//! poller), records dropped on a full channel (by stage and kind) and by
//! the writer (by reason and kind). When they grew, an alert says how many
//! records were lost, which kinds, where, and since when. At most one
//! alert a minute: a flood is one alert, not one per second, and the next
//! alert covers everything lost since the previous one (nothing is left
//! out between two alerts). Loss seen since the last alert is reported at
//! shutdown too, whatever the rate.
//!
//! Its own rate limit replaces `[alerts]`'s (a token-bucket summary would
//! count alerts, not records); `[[exclusions]]` do not apply (its subject
//! is the agent itself); `[detections] disabled` turns it off (the
//! counters are then followed silently, so turning it back on reports only
//! new loss).

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::model::alert::{RuleMeta, Severity, Technique};
use crate::model::clock::Rfc3339;
use crate::model::event::LossBody;
use crate::model::stats::Loss;

pub const ID: &str = "rg-agent-loss";

/// At most one alert per this long (CLOCK_BOOTTIME ns).
pub const EVERY_NS: u64 = 60_000_000_000;

fn meta() -> Arc<RuleMeta> {
    Arc::new(RuleMeta {
        id: ID.into(),
        name: "Agent lost records".into(),
        description: "The agent lost records it should have reported: the kernel's ring \
                      buffer, a pipeline channel or its output buffer was full. What happened \
                      meanwhile may be missing; a flood of events is how an attacker blinds \
                      the agent."
            .into(),
        severity: Severity::High,
        tactics: vec!["Defense Evasion".into()],
        // Indicator Blocking rather than Disable or Modify Tools (the
        // rg-agent-tamper family): the agent keeps running, the events
        // it should see are kept from it.
        techniques: vec![Technique {
            id: "T1562.006".into(),
            name: Some("Impair Defenses: Indicator Blocking".into()),
        }],
        source: "builtin".into(),
        references: Vec::new(),
        authors: Vec::new(),
    })
}

/// What the detector remembers of the loss counters.
pub(super) struct LossWatch {
    /// None: disabled.
    meta: Option<Arc<RuleMeta>>,
    /// Totals as of the last alert (or, disabled, of the last look).
    reported: Loss,
    /// When growth past `reported` was first seen (boot ns).
    first_seen_ns: Option<u64>,
    /// When the last alert was raised (boot ns).
    last_alert_ns: Option<u64>,
}

impl LossWatch {
    pub(super) fn new(disabled: &[String]) -> Self {
        LossWatch {
            meta: (!disabled.iter().any(|d| d == ID)).then(meta),
            reported: Loss::default(),
            first_seen_ns: None,
            last_alert_ns: None,
        }
    }

    pub(super) fn enabled(&self) -> Option<&str> {
        self.meta.as_ref().map(|m| m.id.as_str())
    }

    /// Take over what `old` saw (a reload): what was reported, and when.
    pub(super) fn take_state(&mut self, old: &mut LossWatch) {
        self.reported = std::mem::take(&mut old.reported);
        self.first_seen_ns = old.first_seen_ns;
        self.last_alert_ns = old.last_alert_ns;
    }

    /// Look at the totals at `now_ns` (boot): the loss to raise an alert
    /// for, with when it was first seen (boot ns), if it grew and the rate
    /// allows (`force`: at shutdown, it does).
    pub(super) fn check(
        &mut self,
        totals: Loss,
        now_ns: u64,
        force: bool,
    ) -> Option<(Arc<RuleMeta>, Loss, u64)> {
        let grown = totals.since(&self.reported);
        if grown.is_empty() {
            return None;
        }
        let first = *self.first_seen_ns.get_or_insert(now_ns);
        let Some(meta) = &self.meta else {
            self.reported = totals;
            self.first_seen_ns = None;
            return None;
        };
        if !force
            && self
                .last_alert_ns
                .is_some_and(|t| now_ns.saturating_sub(t) < EVERY_NS)
        {
            return None;
        }
        self.reported = totals;
        self.first_seen_ns = None;
        self.last_alert_ns = Some(now_ns);
        Some((meta.clone(), grown, first))
    }
}

/// The agent as the alert's subject: /proc/PID now (None in tests that
/// never named the agent, pid 0).
pub(super) fn agent_process(pid: u32) -> Option<Arc<crate::model::proctable::Process>> {
    (pid != 0)
        .then(|| crate::model::proctable::Process::from_proc(Path::new("/proc"), pid))
        .flatten()
        .map(Arc::new)
}

/// "Records lost: 12 since 2026-…Z (kernel ring buffer full: 10
/// [file_chmod 10]; channels full: 2 [enricher 2; file_chmod 2])".
pub(super) struct Message<'a>(pub &'a LossBody);

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.0.lost;
        write!(
            f,
            "Records lost: {} since {} (",
            l.records(),
            Rfc3339(self.0.since_ns)
        )?;
        let list = |f: &mut fmt::Formatter<'_>, v: &[(&str, u64)]| -> fmt::Result {
            for (i, (k, n)) in v.iter().enumerate() {
                write!(f, "{}{k} {n}", if i > 0 { ", " } else { "" })?;
            }
            Ok(())
        };
        let sum = |v: &[(&str, u64)]| v.iter().map(|(_, n)| n).sum::<u64>();
        let mut sep = "";
        for (what, by, by_kind) in [
            ("kernel ring buffer full", &l.kernel_ringbuf_drops, None),
            (
                "channels full",
                &l.channel_full_drops,
                Some(&l.channel_full_drops_by_kind),
            ),
            (
                "output buffer",
                &l.output_buffer_drops,
                Some(&l.output_buffer_drops_by_kind),
            ),
        ] {
            if by.is_empty() {
                continue;
            }
            write!(f, "{sep}{what}: {} [", sum(by))?;
            list(f, by)?;
            if let Some(k) = by_kind.filter(|k| !k.is_empty()) {
                f.write_str("; ")?;
                list(f, k)?;
            }
            f.write_str("]")?;
            sep = "; ";
        }
        f.write_str(")")
    }
}
