//! The bounded channels between pipeline stages and what a stage does
//! when the next one is full.
//!
//! `block` (the default): the sender waits. Waiting travels upstream to
//! the poller, which is never blocked itself: it holds its batch and stops
//! consuming, leaving the records in the kernel ring buffer, while it goes
//! on watching the signals and publishing the kernel counters (see
//! `poller`); once the ring is full the kernel counts every record it
//! cannot store, by kind. Nothing is lost in userspace.
//!
//! `drop`: the sender drops the batch and counts its records as
//! channel-full drops of that stage. The poller keeps reading, so the
//! kernel ring buffer drains at full speed and loss moves to userspace,
//! where it is counted per stage.
//!
//! Shutdown bounds `block`: once the [`StopClock`] started by SIGTERM has
//! run out (`[pipeline] shutdown_timeout_seconds`), a sender that still
//! finds the next channel full drops the batch and counts it like `drop`
//! would, so a stuck stage (an output nobody reads) cannot hold the agent.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub use crate::config::Backpressure;
use crate::model::stats::{Batch, Stage, Stats};
use crossbeam_channel::{SendTimeoutError, Sender, TrySendError};

/// The next stage hung up: the pipeline is shutting down or broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

/// How long the pipeline may still take to write out what it has read
/// once a stop was requested. Shared by every stage; started once.
#[derive(Debug)]
pub struct StopClock {
    timeout: Duration,
    deadline: OnceLock<Instant>,
}

impl StopClock {
    pub fn new(timeout: Duration) -> Self {
        StopClock {
            timeout,
            deadline: OnceLock::new(),
        }
    }

    /// The stop was requested now (later calls change nothing).
    pub fn start(&self) {
        self.deadline.get_or_init(|| Instant::now() + self.timeout);
    }

    pub fn started(&self) -> bool {
        self.deadline.get().is_some()
    }

    /// The stop was requested and its time is up: stop waiting.
    pub fn expired(&self) -> bool {
        self.deadline.get().is_some_and(|d| Instant::now() >= *d)
    }
}

/// While a `block` sender waits, it wakes this often to look at the
/// [`StopClock`] (and, for the poller, at the signals).
pub const WAIT_SLICE: Duration = Duration::from_millis(50);

/// A stage's output: the channel, the policy, and where drops are counted.
pub struct Outlet<T> {
    tx: Sender<T>,
    policy: Backpressure,
    stage: Stage,
    stats: Arc<Stats>,
    clock: Arc<StopClock>,
}

impl<T: Batch> Outlet<T> {
    pub fn new(
        tx: Sender<T>,
        policy: Backpressure,
        stage: Stage,
        stats: Arc<Stats>,
        clock: Arc<StopClock>,
    ) -> Self {
        Outlet {
            tx,
            policy,
            stage,
            stats,
            clock,
        }
    }

    /// Send, or (policy `drop`, channel full) drop and count.
    pub fn send(&self, batch: T) -> Result<(), Gone> {
        self.send_watching(batch, || {})
    }

    /// As `send`; with `block`, `waiting` runs every [`WAIT_SLICE`] while
    /// the channel stays full (the poller looks at its signals there), and
    /// once the stop clock has run out the batch is dropped and counted.
    pub fn send_watching(&self, batch: T, waiting: impl FnMut()) -> Result<(), Gone> {
        match self.policy {
            Backpressure::Block => self.send_blocking(batch, waiting),
            Backpressure::Drop => match self.tx.try_send(batch) {
                Ok(()) => Ok(()),
                Err(TrySendError::Full(b)) => {
                    self.count_dropped(&b);
                    Ok(())
                }
                Err(TrySendError::Disconnected(_)) => Err(Gone),
            },
        }
    }

    /// Send, waiting for room whatever the policy (until the stop clock
    /// has run out: then drop and count): for the rare batch that must
    /// not be the one dropped, such as an alert that records were lost.
    pub fn send_waiting(&self, batch: T) -> Result<(), Gone> {
        self.send_blocking(batch, || {})
    }

    fn send_blocking(&self, mut batch: T, mut waiting: impl FnMut()) -> Result<(), Gone> {
        loop {
            match self.tx.send_timeout(batch, WAIT_SLICE) {
                Ok(()) => return Ok(()),
                Err(SendTimeoutError::Disconnected(_)) => return Err(Gone),
                Err(SendTimeoutError::Timeout(b)) if self.clock.expired() => {
                    self.count_dropped(&b);
                    return Ok(());
                }
                Err(SendTimeoutError::Timeout(b)) => batch = b,
            }
            waiting();
        }
    }

    /// The stop clock has run out: waiting is over.
    pub fn stop_expired(&self) -> bool {
        self.clock.expired()
    }

    fn count_dropped(&self, batch: &T) {
        batch.for_each_kind(&mut |kind| self.stats.count_channel_full(self.stage, kind));
    }
}

/// A bounded channel out of `stage`: its sender waits or drops as
/// `[pipeline] backpressure` says, and counts drops under the stage.
pub struct StageChannel {
    pub cap: usize,
    pub policy: Backpressure,
    pub stage: Stage,
    pub stats: Arc<Stats>,
    pub clock: Arc<StopClock>,
}

impl StageChannel {
    pub fn open<T: Batch>(self) -> (Outlet<T>, crossbeam_channel::Receiver<T>) {
        let (tx, rx) = crossbeam_channel::bounded(self.cap);
        let tx = Outlet::new(tx, self.policy, self.stage, self.stats, self.clock);
        (tx, rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::stats::{Kinded, Snapshot};
    use crossbeam_channel::bounded;

    #[derive(Debug, PartialEq)]
    struct K(&'static str);

    fn clock() -> Arc<StopClock> {
        Arc::new(StopClock::new(Duration::from_secs(3600)))
    }

    impl Kinded for K {
        fn kind_name(&self) -> &'static str {
            self.0
        }
    }

    #[test]
    fn drop_policy_counts_what_it_drops() {
        let stats = Arc::new(Stats::default());
        let (tx, rx) = bounded(1);
        let out = Outlet::new(
            tx,
            Backpressure::Drop,
            Stage::Enricher,
            stats.clone(),
            clock(),
        );
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
        let out = Outlet::new(
            tx,
            Backpressure::Block,
            Stage::Poller,
            stats.clone(),
            clock(),
        );
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

    /// `send_waiting` waits for room even under `drop` (the loss alert
    /// must not be what a full channel drops), and drops and counts only
    /// once the stop clock has run out.
    #[test]
    fn send_waiting_waits_under_the_drop_policy() {
        let stats = Arc::new(Stats::default());
        let (tx, rx) = bounded(1);
        let clock = Arc::new(StopClock::new(Duration::ZERO));
        let out = Outlet::new(
            tx,
            Backpressure::Drop,
            Stage::Detector,
            stats.clone(),
            clock.clone(),
        );
        out.send(vec![K("exec")]).unwrap();
        let t = std::thread::spawn(move || {
            out.send_waiting(vec![K("alert")]).unwrap(); // waits for the reader
            out
        });
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(rx.recv().unwrap(), vec![K("exec")]);
        assert_eq!(rx.recv().unwrap(), vec![K("alert")]);
        let out = t.join().unwrap();
        assert_eq!(stats.snapshot().channel_full_drops_by_kind_total, vec![]);
        // Stopping, the clock run out: dropped and counted, not stuck.
        out.send(vec![K("exec")]).unwrap();
        clock.start();
        out.send_waiting(vec![K("alert")]).unwrap();
        assert_eq!(
            stats.snapshot().channel_full_drops_by_kind_total,
            vec![("alert", 1)]
        );
    }

    /// `block` waits, but not past the stop clock: a stage stuck behind a
    /// full channel (an output nobody reads) drops and counts once the
    /// shutdown timeout has run out, and looks at its signals meanwhile.
    #[test]
    fn block_policy_gives_up_when_the_stop_clock_runs_out() {
        let stats = Arc::new(Stats::default());
        let (tx, rx) = bounded(1);
        let clock = Arc::new(StopClock::new(Duration::from_millis(200)));
        let out = Outlet::new(
            tx,
            Backpressure::Block,
            Stage::Detector,
            stats.clone(),
            clock.clone(),
        );
        out.send(vec![K("alert")]).unwrap();
        let mut looks = 0;
        let started = Instant::now();
        // Nobody reads: the clock is not running, so it waits; the third
        // look at the signals finds a stop request.
        out.send_watching(vec![K("exec"), K("exec")], || {
            looks += 1;
            if looks == 3 {
                clock.start();
            }
        })
        .unwrap();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        assert!(looks > 3, "{looks}"); // kept looking until it gave up
        let snap = stats.snapshot();
        assert_eq!(Snapshot::of(&snap.channel_full_drops_total, "detector"), 2);
        assert_eq!(snap.channel_full_drops_by_kind_total, vec![("exec", 2)]);
        // What was in the channel stays there for the next stage.
        assert_eq!(rx.recv().unwrap(), vec![K("alert")]);
        // Past the deadline, a full channel drops at once.
        out.send(vec![K("alert")]).unwrap();
        out.send(vec![K("fork")]).unwrap();
        assert_eq!(
            Snapshot::of(&stats.snapshot().channel_full_drops_total, "detector"),
            3
        );
    }
}
