//! Poller stage: the only reader of the BPF ring buffer.
//!
//! In: records in the kernel ring buffer. Out: [`RawBatch`]es (record bytes
//! copied back to back) on a bounded channel to the normalizer.
//! Counts: every record read; records that fail the ABI check (invalid
//! schema / unsupported kind, then skipped); kernel-side ring-buffer drops
//! (read from the `edr_kstats` map on every idle poll and at shutdown).
//!
//! It copies up to [`BATCH_RECORDS`] records per batch, reusing buffers the
//! normalizer hands back, so steady state does no allocation and makes no
//! syscall per record. It sleeps in poll(2) on the ring buffer's epoll fd
//! and the signal fd with a [`POLL_INTERVAL`] timeout: the kernel side
//! suppresses most wakeups, so the timeout is what bounds delivery latency.
//! While a storm keeps the ring full it never sleeps, and looks at the
//! signals every [`BUSY_CHECK_EVERY`] batches instead; after a stop it
//! drains at most a full ring's worth, so shutdown stays bounded.
//!
//! Backpressure (`[pipeline] backpressure`, see `channel`): with `block`,
//! when the normalizer is behind, the poller holds its batch and stops
//! consuming: the records stay in the kernel ring (the largest buffer the
//! agent has), and once it is full the BPF side counts each lost record by
//! kind. The poller itself is never blocked: every [`WAIT_SLICE`] of the
//! wait it looks at the signals (a stop is noticed however stuck the
//! pipeline is) and publishes the kernel counters (health records show
//! the drops while the overload lasts). With `drop`, the batch is dropped
//! and counted and the poller keeps reading. Nothing is dropped without a
//! count.
//!
//! [`WAIT_SLICE`]: crate::pipeline::channel::WAIT_SLICE

use std::cell::RefCell;
use std::os::fd::BorrowedFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::model::stats::Batch;
use crate::pipeline::channel::Outlet;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::kernel::abi::kind;
use crate::kernel::decode::{self, Reason};
use crate::model::stats::Stats;

/// Records per batch: amortizes channel operations without making a batch
/// so large that latency or memory suffers (~64 KiB of typical records).
pub const BATCH_RECORDS: usize = 256;
/// While the ring stays full, signals are checked every this many batches.
const BUSY_CHECK_EVERY: usize = 16;
/// Batches drained at most after a stop request: a full ring of
/// `ring_bytes` holding the smallest records (a fork: 48 bytes and the
/// ring's 8-byte header). So a stop never loses what was in the ring when
/// it came, and a storm that keeps the ring full cannot delay it forever.
pub fn stop_drain_batches(ring_bytes: u32) -> usize {
    let smallest = std::mem::size_of::<crate::kernel::abi::Fork>() + 8;
    (ring_bytes as usize / smallest).div_ceil(BATCH_RECORDS) + 1
}
/// Longest a record waits in the ring when no wakeup was sent.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Record bytes back to back, with the end offset of each.
#[derive(Debug, Default)]
pub struct RawBatch {
    buf: Vec<u8>,
    ends: Vec<u32>,
}

impl Batch for RawBatch {
    fn for_each_kind(&self, f: &mut dyn FnMut(&'static str)) {
        for r in self.records() {
            let kind = decode::check(r).ok().and_then(|h| kind::name(h.kind));
            f(kind.unwrap_or("unknown"));
        }
    }
}

impl RawBatch {
    pub fn push(&mut self, record: &[u8]) {
        self.buf.extend_from_slice(record);
        self.ends.push(self.buf.len() as u32);
    }

    pub fn records(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0usize;
        self.ends.iter().map(move |end| {
            let r = &self.buf[start..*end as usize];
            start = *end as usize;
            r
        })
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
    }
}

/// Why the poll loop ended abnormally.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("ring buffer consume failed: {0}")]
    Consume(std::io::Error),
    #[error("poll(2) on the ring buffer failed: {0}")]
    Poll(nix::Error),
    #[error("the normalizer stage stopped; the pipeline is broken")]
    Downstream,
}

/// What the poll loop asks of its surroundings each idle round.
pub trait Control {
    /// An fd that becomes readable when `should_stop` may have changed
    /// (the signal fd), polled together with the ring buffer.
    fn wake_fd(&self) -> BorrowedFd<'_>;
    /// Called after `wake_fd` polled readable, on timeout, and while a
    /// send waits on a full pipeline. Once true, stays true.
    fn should_stop(&mut self) -> bool;
    /// Called once per idle round (at most every POLL_INTERVAL) and at the
    /// end: publish kernel counters and the like.
    fn tick(&mut self);
}

/// Shared between the ring-buffer callback and the loop.
pub struct Collector {
    batch: RawBatch,
    stats: Arc<Stats>,
}

impl Collector {
    pub fn new(stats: Arc<Stats>) -> Rc<RefCell<Self>> {
        Rc::new(RefCell::new(Collector {
            batch: RawBatch::default(),
            stats,
        }))
    }

    /// The ring-buffer callback body: check, copy, count.
    pub fn on_record(&mut self, bytes: &[u8]) -> i32 {
        self.stats.count_raw(1);
        match decode::check(bytes) {
            Ok(h) => {
                self.stats.count_raw_kind(h.kind);
                self.batch.push(bytes);
            }
            Err(e) => match e.reason() {
                Reason::InvalidSchema => self.stats.count_invalid_schema(),
                Reason::UnsupportedKind => self.stats.count_unsupported_kind(),
            },
        }
        0
    }
}

/// The poll loop. `consume_n(max)` consumes up to `max` records into the
/// collector and returns how many it consumed. After a stop request it
/// drains at most `drain_batches` more batches ([`stop_drain_batches`]).
pub fn run<C: Control>(
    consume_n: impl Fn(usize) -> i32,
    epoll_fd: BorrowedFd<'_>,
    collector: &RefCell<Collector>,
    tx: &Outlet<RawBatch>,
    recycle: &Receiver<RawBatch>,
    control: &mut C,
    drain_batches: usize,
) -> Result<(), PollError> {
    // After a stop request: batches still to drain (None: not stopping).
    let mut stopping: Option<usize> = None;
    let mut busy_rounds = 0usize;
    loop {
        let n = consume_n(BATCH_RECORDS);
        if n < 0 {
            return Err(PollError::Consume(std::io::Error::from_raw_os_error(-n)));
        }
        let full = {
            let mut c = collector.borrow_mut();
            if c.batch.is_empty() {
                None
            } else {
                let spare = recycle.try_recv().unwrap_or_default();
                Some(std::mem::replace(&mut c.batch, spare))
            }
        };
        if let Some(batch) = full {
            crate::pipeline::fault::point("poller");
            // While the pipeline is full (policy `block`) the poller does
            // not sit blind in a send: it keeps looking at the signals (a
            // stop must be noticed, and its clock started, even when
            // nothing moves downstream) and keeps publishing the kernel's
            // counters, so the health records show the ring-buffer drops
            // of an overload while it lasts, not after it.
            let mut stop_seen = false;
            tx.send_watching(batch, || {
                stop_seen |= control.should_stop();
                control.tick();
            })
            .map_err(|_| PollError::Downstream)?;
            if stop_seen && stopping.is_none() {
                stopping = Some(drain_batches);
            }
        }
        let busy = (n as usize) == BATCH_RECORDS;
        if let Some(left) = &mut stopping {
            // Drain what is there, but a storm that never lets the ring
            // empty must not keep the agent from stopping, and past the
            // shutdown timeout nothing more is read only to be dropped.
            if !busy || *left == 0 || tx.stop_expired() {
                control.tick();
                return Ok(());
            }
            *left -= 1;
            continue;
        }
        if busy {
            // More may be waiting: keep draining. The poll below, where
            // signals are noticed, is not reached while the ring stays
            // full, so look at them (and publish counters) now and then.
            busy_rounds += 1;
            if busy_rounds.is_multiple_of(BUSY_CHECK_EVERY) {
                control.tick();
                if control.should_stop() {
                    stopping = Some(drain_batches);
                }
            }
            continue;
        }
        control.tick();
        let mut fds = [
            PollFd::new(epoll_fd, PollFlags::POLLIN),
            PollFd::new(control.wake_fd(), PollFlags::POLLIN),
        ];
        match poll(
            &mut fds,
            PollTimeout::try_from(POLL_INTERVAL).unwrap_or(PollTimeout::NONE),
        ) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(PollError::Poll(e)),
        }
        // Drain what is there before honouring a stop.
        if control.should_stop() {
            stopping = Some(drain_batches);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::stats::Stage;
    use crate::pipeline::channel::Backpressure;
    use std::cell::Cell;
    use std::os::fd::AsFd;

    /// Stops after `after` looks at the signals; counts its calls.
    struct StopAfter {
        after: usize,
        looks: usize,
        ticks: usize,
        fd: std::fs::File,
    }

    impl Control for StopAfter {
        fn wake_fd(&self) -> BorrowedFd<'_> {
            self.fd.as_fd()
        }
        fn should_stop(&mut self) -> bool {
            self.looks += 1;
            self.looks >= self.after
        }
        fn tick(&mut self) {
            self.ticks += 1;
        }
    }

    /// A ring that never empties (a storm faster than the agent): the stop
    /// is still noticed, and the drain after it is bounded.
    #[test]
    fn a_storm_that_never_ends_does_not_block_a_stop() {
        let stats = Arc::new(Stats::default());
        let collector = Collector::new(stats.clone());
        let mut record = Vec::new();
        crate::kernel::decode::encode_fork(&Default::default(), &mut record);
        let calls = Cell::new(0usize);
        let consume = |max: usize| {
            calls.set(calls.get() + 1);
            for _ in 0..max {
                collector.borrow_mut().on_record(&record);
            }
            max as i32
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        let tx = Outlet::new(
            tx,
            Backpressure::Block,
            Stage::Poller,
            stats,
            Arc::new(crate::pipeline::channel::StopClock::new(
                Duration::from_secs(60),
            )),
        );
        let (_recycle_tx, recycle) = crossbeam_channel::unbounded();
        let mut control = StopAfter {
            after: 3,
            looks: 0,
            ticks: 0,
            fd: std::fs::File::open("/dev/null").unwrap(),
        };
        let epoll = std::fs::File::open("/dev/null").unwrap();
        run(
            consume,
            epoll.as_fd(),
            &collector,
            &tx,
            &recycle,
            &mut control,
            10,
        )
        .unwrap();
        // Signals looked at every BUSY_CHECK_EVERY batches, stopped at the
        // third look, then 10 more batches drained and the final one.
        assert_eq!(control.looks, 3);
        assert_eq!(calls.get(), 3 * BUSY_CHECK_EVERY + 10 + 1);
        assert_eq!(rx.len(), calls.get());
        assert_eq!(control.ticks, 3 + 1);
    }

    /// When the ring empties, the stop comes at once after the drain.
    #[test]
    fn a_quiet_ring_stops_after_one_drain() {
        let stats = Arc::new(Stats::default());
        let collector = Collector::new(stats.clone());
        let calls = Cell::new(0usize);
        let consume = |_| {
            calls.set(calls.get() + 1);
            0
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        let tx = Outlet::new(
            tx,
            Backpressure::Block,
            Stage::Poller,
            stats,
            Arc::new(crate::pipeline::channel::StopClock::new(
                Duration::from_secs(60),
            )),
        );
        let (_recycle_tx, recycle) = crossbeam_channel::unbounded();
        let mut control = StopAfter {
            after: 1,
            looks: 0,
            ticks: 0,
            fd: std::fs::File::open("/dev/null").unwrap(),
        };
        // /dev/null polls readable at once: no 100 ms wait.
        let epoll = std::fs::File::open("/dev/null").unwrap();
        run(
            consume,
            epoll.as_fd(),
            &collector,
            &tx,
            &recycle,
            &mut control,
            10,
        )
        .unwrap();
        assert_eq!(calls.get(), 2);
        assert_eq!(rx.len(), 0);
    }

    #[test]
    fn the_drain_bound_covers_a_full_ring_of_the_smallest_records() {
        let n = stop_drain_batches(1 << 30);
        assert!(n * BATCH_RECORDS >= (1 << 30) / 56, "{n}");
        assert_eq!(
            stop_drain_batches(64 << 10),
            (65536 / 56usize).div_ceil(256) + 1
        );
    }

    /// Sticky, like the agent's: stops at the `after`th look, and starts
    /// the stop clock then, as SIGTERM does.
    struct StopClockAfter {
        after: usize,
        looks: usize,
        ticks: usize,
        clock: Arc<crate::pipeline::channel::StopClock>,
        fd: std::fs::File,
    }

    impl Control for StopClockAfter {
        fn wake_fd(&self) -> BorrowedFd<'_> {
            self.fd.as_fd()
        }
        fn should_stop(&mut self) -> bool {
            self.looks += 1;
            if self.looks >= self.after {
                self.clock.start();
            }
            self.looks >= self.after
        }
        fn tick(&mut self) {
            self.ticks += 1;
        }
    }

    /// A pipeline that never moves (the normalizer's channel stays full,
    /// policy `block`): the poller still sees the stop while it waits,
    /// and ends once the stop clock runs out, counting the batch it held.
    #[test]
    fn a_stuck_pipeline_does_not_block_a_stop() {
        let stats = Arc::new(Stats::default());
        let collector = Collector::new(stats.clone());
        let mut record = Vec::new();
        crate::kernel::decode::encode_fork(&Default::default(), &mut record);
        let consume = |max: usize| {
            for _ in 0..max {
                collector.borrow_mut().on_record(&record);
            }
            max as i32
        };
        let clock = Arc::new(crate::pipeline::channel::StopClock::new(
            Duration::from_millis(300),
        ));
        let (tx, rx) = crossbeam_channel::bounded(1);
        let tx = Outlet::new(
            tx,
            Backpressure::Block,
            Stage::Poller,
            stats.clone(),
            clock.clone(),
        );
        let (_recycle_tx, recycle) = crossbeam_channel::unbounded();
        let mut control = StopClockAfter {
            after: 5,
            looks: 0,
            ticks: 0,
            clock,
            fd: std::fs::File::open("/dev/null").unwrap(),
        };
        let epoll = std::fs::File::open("/dev/null").unwrap();
        let started = std::time::Instant::now();
        run(
            consume,
            epoll.as_fd(),
            &collector,
            &tx,
            &recycle,
            &mut control,
            1000,
        )
        .unwrap();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "{took:?}");
        // One batch went into the channel; the one after it waited, saw
        // the stop at the fifth look, and was dropped when time was up.
        // Nothing more was read after that.
        assert_eq!(rx.len(), 1);
        // The kernel counters were published at every look while it
        // waited (and once at the end), not only once it was unstuck.
        assert!(
            control.ticks > control.looks,
            "{} {}",
            control.ticks,
            control.looks
        );
        let s = stats.snapshot();
        assert_eq!(s.raw_events_total, 2 * BATCH_RECORDS as u64);
        assert_eq!(
            crate::model::stats::Snapshot::of(&s.channel_full_drops_total, "poller"),
            BATCH_RECORDS as u64
        );
    }
}
