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
//!
//! Backpressure (`[pipeline] backpressure`, see `channel`): with `block`,
//! when the normalizer is behind, `send` waits and the poller stops
//! reading; the kernel ring then fills and the BPF side counts each lost
//! record by kind. With `drop`, the batch is dropped and counted and the
//! poller keeps reading. Nothing is dropped without a count.

use std::cell::RefCell;
use std::os::fd::BorrowedFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::channel::{Batch, Outlet};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::abi::kind;
use crate::decode::{self, Reason};
use crate::stats::Stats;

/// Records per batch: amortizes channel operations without making a batch
/// so large that latency or memory suffers (~64 KiB of typical records).
pub const BATCH_RECORDS: usize = 256;
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
    /// Called after `wake_fd` polled readable or on timeout.
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
            Ok(_) => self.batch.push(bytes),
            Err(e) => match e.reason() {
                Reason::InvalidSchema => self.stats.count_invalid_schema(),
                Reason::UnsupportedKind => self.stats.count_unsupported_kind(),
            },
        }
        0
    }
}

/// The poll loop. `consume_n(max)` consumes up to `max` records into the
/// collector and returns how many it consumed.
pub fn run<C: Control>(
    consume_n: impl Fn(usize) -> i32,
    epoll_fd: BorrowedFd<'_>,
    collector: &RefCell<Collector>,
    tx: &Outlet<RawBatch>,
    recycle: &Receiver<RawBatch>,
    control: &mut C,
) -> Result<(), PollError> {
    let mut stopping = false;
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
            tx.send(batch).map_err(|_| PollError::Downstream)?;
        }
        if (n as usize) == BATCH_RECORDS {
            continue; // more may be waiting: keep draining
        }
        if stopping {
            control.tick();
            return Ok(());
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
        // Drain what is there before honouring a stop, then once more.
        stopping = control.should_stop();
    }
}
