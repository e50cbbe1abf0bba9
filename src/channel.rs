//! The bounded channels between pipeline stages and what a stage does
//! when the next one is full.
//!
//! `block` (the default): the sender waits. Waiting travels upstream to
//! the poller, which then stops reading the ring buffer; the kernel counts
//! every record it cannot store, by kind. Nothing is lost in userspace.
//!
//! `drop`: the sender drops the batch and counts its records as
//! channel-full drops of that stage. The poller keeps reading, so the
//! kernel ring buffer drains at full speed and loss moves to userspace,
//! where it is counted per stage.

use std::sync::Arc;

use crossbeam_channel::{Sender, TrySendError};
use serde::{Deserialize, Serialize};

use crate::stats::Stats;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backpressure {
    #[default]
    Block,
    Drop,
}

/// The stages that send into a channel, named in health records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Poller,
    Normalizer,
    Enricher,
    Detector,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::Poller,
        Stage::Normalizer,
        Stage::Enricher,
        Stage::Detector,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Poller => "poller",
            Stage::Normalizer => "normalizer",
            Stage::Enricher => "enricher",
            Stage::Detector => "detector",
        }
    }
}

/// A batch of records, each of a kind (the names of `abi::kind`, plus
/// `alert` and `health` after the detector), so drops are counted by kind.
pub trait Batch {
    fn for_each_kind(&self, f: &mut dyn FnMut(&'static str));
}

/// Something that knows its record kind.
pub trait Kinded {
    fn kind_name(&self) -> &'static str;
}

impl<T: Kinded> Batch for Vec<T> {
    fn for_each_kind(&self, f: &mut dyn FnMut(&'static str)) {
        for r in self {
            f(r.kind_name());
        }
    }
}

/// The next stage hung up: the pipeline is shutting down or broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

/// A stage's output: the channel, the policy, and where drops are counted.
pub struct Outlet<T> {
    tx: Sender<T>,
    policy: Backpressure,
    stage: Stage,
    stats: Arc<Stats>,
}

impl<T: Batch> Outlet<T> {
    pub fn new(tx: Sender<T>, policy: Backpressure, stage: Stage, stats: Arc<Stats>) -> Self {
        Outlet {
            tx,
            policy,
            stage,
            stats,
        }
    }

    /// Send, or (policy `drop`, channel full) drop and count.
    pub fn send(&self, batch: T) -> Result<(), Gone> {
        match self.policy {
            Backpressure::Block => self.tx.send(batch).map_err(|_| Gone),
            Backpressure::Drop => match self.tx.try_send(batch) {
                Ok(()) => Ok(()),
                Err(TrySendError::Full(b)) => {
                    b.for_each_kind(&mut |kind| self.stats.count_channel_full(self.stage, kind));
                    Ok(())
                }
                Err(TrySendError::Disconnected(_)) => Err(Gone),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::bounded;

    #[derive(Debug, PartialEq)]
    struct K(&'static str);

    impl Kinded for K {
        fn kind_name(&self) -> &'static str {
            self.0
        }
    }

    #[test]
    fn drop_policy_counts_what_it_drops() {
        let stats = Arc::new(Stats::default());
        let (tx, rx) = bounded(1);
        let out = Outlet::new(tx, Backpressure::Drop, Stage::Enricher, stats.clone());
        out.send(vec![K("exec")]).unwrap();
        out.send(vec![K("exec"), K("file_open")]).unwrap(); // full: dropped
        assert_eq!(rx.recv().unwrap(), vec![K("exec")]);
        let snap = stats.snapshot();
        assert_eq!(
            snap.channel_full_drops_total,
            vec![
                ("poller", 0),
                ("normalizer", 0),
                ("enricher", 2),
                ("detector", 0)
            ]
        );
        assert_eq!(
            snap.channel_full_drops_by_kind_total,
            vec![("exec", 1), ("file_open", 1)]
        );
        drop(rx);
        assert_eq!(out.send(vec![K("exec")]), Err(Gone));
    }

    #[test]
    fn block_policy_waits_and_never_drops() {
        let stats = Arc::new(Stats::default());
        let (tx, rx) = bounded(1);
        let out = Outlet::new(tx, Backpressure::Block, Stage::Poller, stats.clone());
        out.send(vec![K("exec")]).unwrap();
        let t = std::thread::spawn(move || {
            out.send(vec![K("fork")]).unwrap(); // waits for the reader
            out
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(rx.recv().unwrap(), vec![K("exec")]);
        assert_eq!(rx.recv().unwrap(), vec![K("fork")]);
        t.join().unwrap();
        assert!(
            stats
                .snapshot()
                .channel_full_drops_total
                .iter()
                .all(|(_, n)| *n == 0)
        );
    }
}
