//! A sink beside [`super::output`]: `[forward.syslog]` sends every record
//! the writer takes to a syslog collector as well, as RFC 5424 messages
//! ([`syslog`]) over a Unix datagram socket, TCP, TLS or RELP ([`conn`],
//! [`relp`]).
//!
//! In: the JSON of each record the writer takes, from the writer thread
//! ([`Handoff::add`]). Out: messages on the collector's connection, from
//! the forwarder thread ([`sender`]), which owns the connection and the
//! formatting. Between them a queue bounded by `queue_records`: the
//! writer never waits on it; a batch it cannot take is dropped from
//! forwarding and counted (`forward_drops_total`, `queue_full` while
//! connected, `collector_down` while not). The local output is written
//! whatever happens here. Counts: records forwarded, sent again after a
//! broken connection, dropped by reason, connection failures; the queue's
//! length and whether connected (gauges).
//!
//! The writer copies each record's JSON into a batch buffer that the
//! forwarder hands back once sent, so the writer does not allocate per
//! record once the buffers have grown.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::SystemTime;

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};

use crate::config::Syslog;
use crate::model::stats::{ForwardDrop, Stats};
use crate::pipeline::channel::StopClock;

mod conn;
mod relp;
mod sender;
pub mod syslog;

pub use conn::ForwardError;
pub use syslog::Tag;

/// Records handed over at once: their JSON back to back, and where each
/// ends with its tag.
pub struct Batch {
    /// When the first was taken (the messages' TIMESTAMP).
    time_ns: u64,
    json: Vec<u8>,
    msgs: Vec<(usize, Tag)>,
}

impl Batch {
    /// Empty, allocating nothing yet: while the collector is down and
    /// records come one at a time, the queue holds many one-record
    /// batches, each only as large as its record.
    fn new() -> Batch {
        Batch {
            time_ns: 0,
            json: Vec::new(),
            msgs: Vec::new(),
        }
    }

    fn clear(&mut self) {
        self.json.clear();
        self.msgs.clear();
    }
}

/// Batch buffers kept for reuse: the forwarder gathers the batches of a
/// few milliseconds ([`sender`]'s `LINGER`) before writing, so more than a
/// handful are out at once.
const SPARE_BATCHES: usize = 64;

/// The writer's end of the forwarder.
pub struct Handoff {
    tx: Option<Sender<Batch>>,
    spare: Receiver<Batch>,
    batch: Batch,
    stats: Arc<Stats>,
    limit: u64,
    clock: Arc<StopClock>,
    thread: Option<JoinHandle<()>>,
}

/// Start the forwarder thread for `cfg`: the TLS files are read now (an
/// error names the key); the collector is connected to by the thread, and
/// one that is down at start is tried again until it is up.
pub fn start(
    cfg: &Syslog,
    hostname: &str,
    stats: Arc<Stats>,
    clock: Arc<StopClock>,
) -> Result<Handoff, ForwardError> {
    let dialer = conn::Dialer::new(cfg)?;
    let header = syslog::Header::new(cfg.facility.code(), hostname, std::process::id());
    let (tx, rx) = unbounded();
    let (spare_tx, spare) = bounded(SPARE_BATCHES);
    let shipper = sender::Shipper::new(
        dialer,
        header,
        cfg.max_message_bytes as usize,
        stats.clone(),
        clock.clone(),
    );
    let thread = std::thread::Builder::new()
        .name("forward".into())
        .spawn(move || shipper.run(rx, spare_tx))
        .map_err(|e| ForwardError {
            key: "forward.syslog",
            reason: format!("cannot start its thread: {e}"),
        })?;
    Ok(Handoff {
        tx: Some(tx),
        spare,
        batch: Batch::new(),
        stats,
        limit: cfg.queue_records.into(),
        clock,
        thread: Some(thread),
    })
}

impl Handoff {
    /// Take one record's JSON (without its newline).
    pub fn add(&mut self, json: &[u8], tag: Tag) {
        if self.batch.msgs.is_empty() {
            self.batch.time_ns = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
        }
        self.batch.json.extend_from_slice(json);
        self.batch.msgs.push((self.batch.json.len(), tag));
    }

    /// Bytes taken since the last [`Handoff::flush`].
    pub fn pending_bytes(&self) -> usize {
        self.batch.json.len()
    }

    /// Hand what was taken to the forwarder, or drop and count it when
    /// the queue cannot take it. Never waits.
    pub fn flush(&mut self) {
        let n = self.batch.msgs.len() as u64;
        let Some(tx) = &self.tx else { return };
        if n == 0 {
            return;
        }
        if !self.stats.forward_enqueue(n, self.limit) {
            let why = if self.stats.forward_connected() {
                ForwardDrop::QueueFull
            } else {
                ForwardDrop::CollectorDown
            };
            self.stats.count_forward_drops(why, n);
            self.batch.clear();
            return;
        }
        let mut next = self.spare.try_recv().unwrap_or_else(|_| Batch::new());
        next.clear();
        let full = std::mem::replace(&mut self.batch, next);
        if let Err(e) = tx.send(full) {
            // The thread is gone (it panicked): nothing forwards any more.
            self.stats.forward_dequeued(n);
            self.stats.count_forward_drops(ForwardDrop::Shutdown, n);
            self.batch = e.into_inner();
            self.batch.clear();
        }
    }

    /// Hand over the rest and wait for the forwarder to deliver it, or
    /// to count what it could not by the stop clock (started now if the
    /// stop did not start it: whatever ends the forwarder, its wait is
    /// bounded).
    pub fn finish(&mut self) {
        self.flush();
        self.tx = None;
        self.clock.start();
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            eprintln!("rand-guard: forward: the forwarder thread panicked");
        }
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests;
