//! The forwarder thread: batches of records in, syslog messages out.
//!
//! It owns the connection and all formatting. While the collector cannot
//! be reached it takes nothing from the queue (the writer counts what the
//! full queue refuses) and tries again after [`RETRY_FIRST`], doubling up
//! to [`RETRY_MAX`]. On TCP and TLS every message sent stays here until
//! the collector's host has acknowledged its last byte, on RELP until the
//! collector's process has answered it; when a connection breaks, those
//! not acknowledged are sent again on the next one
//! (`forward_resent_total`). So over TCP and TLS a collector restart loses
//! what its own process had acknowledged but not read (no one can count
//! that); over RELP nothing but what is counted, and a message answered
//! while the connection broke may arrive twice (at least once). RELP
//! keeps at most [`RELP_WINDOW`] messages unanswered. At stop it sends
//! what it can until the stop clock runs out; the rest is counted
//! (`shutdown`).
//!
//! Costs per record kept low: stream frames are gathered for [`LINGER`]
//! after a write (the batches the writer hands over meanwhile wait in
//! the queue, and it need not wake this thread), then written in one
//! `write`; buffers are reused.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::Batch;
use super::conn::{Conn, Dialer};
use super::syslog::{Header, timestamp};
use crate::model::stats::{ForwardDrop, Stats};
use crate::pipeline::channel::{StopClock, WAIT_SLICE};

/// First reconnection attempt after a failure; each failure doubles it...
pub const RETRY_FIRST: Duration = Duration::from_millis(100);
/// ...up to this: a collector back up is used within this long.
pub const RETRY_MAX: Duration = Duration::from_secs(2);
/// How often acknowledgements are looked at while no record comes.
const ACK_EVERY: Duration = Duration::from_millis(100);
/// Acknowledged frames are cut off the front of the buffer past this.
const COMPACT_AT: usize = 256 << 10;
/// After a write to a stream, frames are gathered this long (or up to
/// [`GATHER_MAX`] bytes) before the next: one write and one wake-up of the
/// collector per few milliseconds rather than per writer batch. An alert
/// waits at most this long.
pub const LINGER: Duration = Duration::from_millis(5);
const GATHER_MAX: usize = 1 << 20;
/// RELP: messages written but not answered, at most (librelp's own
/// client keeps 128; a larger window lets whole batches go at once).
pub const RELP_WINDOW: usize = 1024;
/// RELP: a full window with no answer for this long breaks the
/// connection (what it carried is sent again on the next).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// A message sent (or to send) on a stream connection.
struct Sent {
    /// End of its frame in `frames`.
    end: usize,
    /// End of its bytes on the current connection; None: not written on
    /// it yet.
    wire_end: Option<u64>,
    /// Written on an earlier connection that broke before it was
    /// acknowledged.
    again: bool,
}

pub(super) struct Shipper {
    pub(super) dialer: Dialer,
    pub(super) header: Header,
    pub(super) max_len: usize,
    pub(super) stats: Arc<Stats>,
    pub(super) clock: Arc<StopClock>,
    conn: Option<Conn>,
    /// Stream transports: the frames of `sent`, oldest first, from
    /// `frames_start`.
    frames: Vec<u8>,
    frames_start: usize,
    sent: VecDeque<Sent>,
    /// How many of `sent`, from the front, are written on the current
    /// connection (messages are written in order): where writing resumes.
    written: usize,
    /// Scratch: one datagram, or the bytes of one write.
    scratch: Vec<u8>,
    /// Message bytes written on the current connection.
    wire_sent: u64,
    /// The batch being sent (datagrams wait here while the collector is
    /// unreachable) and the next message's index in it.
    current: Option<(Batch, usize)>,
    delay: Duration,
    retry_at: Instant,
    /// When the connection and its acknowledgements were last looked at.
    checked: Instant,
    /// The failure stderr was told of, so it hears of the recovery.
    told: bool,
    /// Streams: no write before this ([`LINGER`]).
    next_write: Instant,
    /// RELP: when an answer last came, or answers became due.
    answered_at: Instant,
}

impl Shipper {
    pub(super) fn new(
        dialer: Dialer,
        header: Header,
        max_len: usize,
        stats: Arc<Stats>,
        clock: Arc<StopClock>,
    ) -> Self {
        Shipper {
            dialer,
            header,
            max_len,
            stats,
            clock,
            conn: None,
            frames: Vec::with_capacity(COMPACT_AT),
            frames_start: 0,
            sent: VecDeque::new(),
            written: 0,
            scratch: Vec::with_capacity(64 << 10),
            wire_sent: 0,
            current: None,
            delay: Duration::ZERO,
            retry_at: Instant::now(),
            checked: Instant::now(),
            told: false,
            next_write: Instant::now(),
            answered_at: Instant::now(),
        }
    }

    pub(super) fn run(mut self, rx: Receiver<Batch>, recycle: Sender<Batch>) {
        let mut open = true;
        loop {
            if self.conn.is_none() && !self.connect() {
                // Stopping, and the collector is still gone.
                if self.clock.expired() {
                    break;
                }
                self.sleep_until_retry();
                continue;
            }
            // A poll and a getsockopt: not per batch when records stream,
            // but every ACK_EVERY, when idle, or when much waits for
            // acknowledgement. A break shows as a write error anyway;
            // this finds a collector that closed while nothing was sent.
            let due = self.checked.elapsed() >= ACK_EVERY
                || self.frames.len() - self.frames_start >= COMPACT_AT;
            if due {
                self.checked = Instant::now();
                if self.conn.as_mut().is_some_and(Conn::closed_by_peer) {
                    self.broken(io::ErrorKind::ConnectionReset.into());
                    continue;
                }
                self.acknowledged();
            }
            if let Some((batch, from)) = self.current.take() {
                match self.ship(&batch, from) {
                    Ok(()) => {
                        let _ = recycle.try_send(batch);
                    }
                    Err(at) => self.current = Some((batch, at)),
                }
                continue;
            }
            if self.written < self.sent.len() {
                if self.window_full() {
                    self.await_answers(ACK_EVERY);
                    if !open && self.clock.expired() {
                        break;
                    }
                    continue;
                }
                if open && self.gather(&rx, &recycle) {
                    continue;
                }
                self.write_frames();
                self.next_write = Instant::now() + LINGER;
                continue;
            }
            if !open {
                self.acknowledged();
                if self.sent.is_empty() || self.clock.expired() {
                    break;
                }
                if self.dialer.is_relp() {
                    self.await_answers(WAIT_SLICE.min(ACK_EVERY));
                } else {
                    std::thread::sleep(WAIT_SLICE.min(ACK_EVERY));
                }
                continue;
            }
            match rx.recv_timeout(ACK_EVERY) {
                Ok(b) => self.current = Some((b, 0)),
                // Idle: look at the connection on the next round.
                Err(RecvTimeoutError::Timeout) => {
                    self.checked = self.checked.checked_sub(ACK_EVERY).unwrap_or(self.checked)
                }
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
        }
        self.give_up(&rx);
    }

    /// RELP: as many messages unanswered as it allows.
    fn window_full(&self) -> bool {
        self.dialer.is_relp() && self.written >= RELP_WINDOW
    }

    /// RELP: wait up to `timeout` for answers and take them; a session
    /// the collector ended, or one silent for [`ANSWER_TIMEOUT`] while
    /// answers are due, is broken.
    fn await_answers(&mut self, timeout: Duration) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        conn.await_answers(timeout);
        if conn.closed_by_peer() {
            self.broken(io::ErrorKind::ConnectionReset.into());
        } else if self.acknowledged() == 0
            && self.written > 0
            && self.answered_at.elapsed() >= ANSWER_TIMEOUT
        {
            self.broken(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("RELP: no answer for {ANSWER_TIMEOUT:?}"),
            ));
        }
    }

    /// Before writing again within [`LINGER`] of the last write: wait
    /// out the rest of it, then take the batches queued meanwhile (up to
    /// [`GATHER_MAX`] bytes of frames). False: write now.
    fn gather(&mut self, rx: &Receiver<Batch>, recycle: &Sender<Batch>) -> bool {
        let wait = self.next_write.saturating_duration_since(Instant::now());
        if wait.is_zero() || self.unwritten_bytes() >= GATHER_MAX {
            return false;
        }
        std::thread::sleep(wait.min(WAIT_SLICE));
        while self.current.is_none() && self.unwritten_bytes() < GATHER_MAX {
            let Ok(batch) = rx.try_recv() else { break };
            match self.ship(&batch, 0) {
                Ok(()) => {
                    let _ = recycle.try_send(batch);
                }
                Err(at) => self.current = Some((batch, at)),
            }
        }
        true
    }

    /// Bytes of frames not yet written on this connection.
    fn unwritten_bytes(&self) -> usize {
        let start = match self.written {
            0 => self.frames_start,
            n => self.sent[n - 1].end,
        };
        self.frames.len() - start
    }

    /// Format the messages of `batch` from index `from` and send them
    /// (datagrams) or queue their frames (streams). Err: the index to go
    /// on from once the collector is back.
    fn ship(&mut self, batch: &Batch, from: usize) -> Result<(), usize> {
        let time = timestamp(batch.time_ns);
        let mut start = if from == 0 { 0 } else { batch.msgs[from - 1].0 };
        for (i, &(end, tag)) in batch.msgs.iter().enumerate().skip(from) {
            let json = &batch.json[start..end];
            start = end;
            if self.header.message_len(tag, json.len()) > self.max_len {
                self.stats.count_forward_drops(ForwardDrop::TooLarge, 1);
                self.stats.forward_dequeued(1);
                continue;
            }
            if self.dialer.is_stream() {
                self.header.frame(tag, &time, json, &mut self.frames);
                self.sent.push_back(Sent {
                    end: self.frames.len(),
                    wire_end: None,
                    again: false,
                });
                continue;
            }
            self.scratch.clear();
            self.header.message(tag, &time, json, &mut self.scratch);
            loop {
                let Some(conn) = &self.conn else {
                    return Err(i);
                };
                match conn.send_datagram(&self.scratch) {
                    Ok(()) => {
                        self.stats.count_forwarded(1, 0);
                        self.stats.forward_dequeued(1);
                    }
                    Err(e) if e.raw_os_error() == Some(nix::libc::EMSGSIZE) => {
                        self.stats.count_forward_drops(ForwardDrop::TooLarge, 1);
                        self.stats.forward_dequeued(1);
                    }
                    // The collector is slow: its socket's queue is full.
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                                | io::ErrorKind::Interrupted
                        ) && !self.clock.expired() =>
                    {
                        continue;
                    }
                    Err(e) => {
                        self.broken(e);
                        return Err(i);
                    }
                }
                break;
            }
        }
        Ok(())
    }

    /// Write every frame not yet written on this connection. A message
    /// counts as forwarded (and leaves the queue) when it is first handed
    /// to a connection; if that breaks before the collector's host
    /// acknowledges it, it is handed to the next one (`resent`).
    fn write_frames(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        self.scratch.clear();
        let (mut new, mut again) = (0, 0);
        let mut start = match self.written {
            0 => self.frames_start,
            n => self.sent[n - 1].end,
        };
        let mut result = Ok(());
        if self.written == 0 {
            // Answers are due from now (the window's silence is timed
            // from the oldest unanswered message, not from an idle past).
            self.answered_at = Instant::now();
        }
        let room = if self.dialer.is_relp() {
            RELP_WINDOW.saturating_sub(self.written)
        } else {
            usize::MAX
        };
        for s in self.sent.iter_mut().skip(self.written).take(room) {
            match conn.seal(
                &self.frames[start..s.end],
                &mut self.scratch,
                self.wire_sent,
            ) {
                Ok(at) => s.wire_end = Some(at),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            if std::mem::replace(&mut s.again, false) {
                again += 1;
            } else {
                new += 1;
            }
            start = s.end;
            self.written += 1;
        }
        self.stats.count_forwarded(new, again);
        self.stats.forward_dequeued(new);
        let result = result.and_then(|()| conn.write_wire(&self.scratch));
        self.conn = Some(conn);
        match result {
            Ok(()) => self.wire_sent += self.scratch.len() as u64,
            Err(e) => self.broken(e),
        }
    }

    /// Forget the messages the collector has acknowledged (those a RELP
    /// collector refused are counted, `rejected`); how many.
    fn acknowledged(&mut self) -> usize {
        let Some(conn) = self.conn.as_mut() else {
            return 0;
        };
        let Some(acked) = conn.acked() else {
            return 0;
        };
        let refused = conn.take_refused();
        if refused > 0 {
            self.stats
                .count_forward_drops(ForwardDrop::Rejected, refused);
        }
        let before = self.sent.len();
        while let Some(s) = self.sent.front() {
            if s.wire_end.is_none_or(|w| w > acked) {
                break;
            }
            self.frames_start = s.end;
            self.sent.pop_front();
            self.written -= 1;
        }
        let done = before - self.sent.len();
        if done > 0 {
            self.answered_at = Instant::now();
        }
        if self.sent.is_empty() {
            self.frames.clear();
            self.frames_start = 0;
        } else if self.frames_start >= COMPACT_AT {
            let cut = self.frames_start;
            self.frames.drain(..cut);
            for s in self.sent.iter_mut() {
                s.end -= cut;
            }
            self.frames_start = 0;
        }
        done
    }

    fn connect(&mut self) -> bool {
        if Instant::now() < self.retry_at {
            return false;
        }
        match self.dialer.connect() {
            Ok(c) => {
                self.conn = Some(c);
                self.wire_sent = 0;
                self.answered_at = Instant::now();
                self.delay = Duration::ZERO;
                self.stats.set_forward_connected(true);
                if std::mem::take(&mut self.told) {
                    eprintln!(
                        "rand-guard: forward: connected to {} again",
                        self.dialer.address()
                    );
                }
                true
            }
            Err(e) => {
                self.failed(&e);
                false
            }
        }
    }

    /// The connection failed: what the collector's host did not
    /// acknowledge is sent again on the next one.
    fn broken(&mut self, e: io::Error) {
        self.acknowledged();
        for s in self.sent.iter_mut() {
            if s.wire_end.take().is_some() {
                s.again = true;
            }
        }
        self.written = 0;
        if let Some(c) = self.conn.take() {
            c.abort();
        }
        self.stats.set_forward_connected(false);
        self.failed(&e);
    }

    fn failed(&mut self, e: &io::Error) {
        self.stats.count_forward_error();
        self.delay = (self.delay * 2).clamp(RETRY_FIRST, RETRY_MAX);
        self.retry_at = Instant::now() + self.delay;
        if !self.told {
            self.told = true;
            eprintln!(
                "rand-guard: forward: {}: {e}; retrying every {RETRY_FIRST:?} to {RETRY_MAX:?}; \
                 records wait in the queue, then are dropped from forwarding and counted \
                 (forward_drops_total); the local output has them all",
                self.dialer.address()
            );
        }
    }

    fn sleep_until_retry(&self) {
        let wait = self.retry_at.saturating_duration_since(Instant::now());
        std::thread::sleep(wait.min(WAIT_SLICE));
    }

    /// The end: what was not sent (or, on a stream, not acknowledged) is
    /// dropped and counted.
    fn give_up(&mut self, rx: &Receiver<Batch>) {
        let mut lost = 0u64;
        let mut unsent = 0u64;
        for s in self.sent.drain(..) {
            lost += 1;
            // Not handed to any connection yet: still in the queue's count.
            if s.wire_end.is_none() && !s.again {
                unsent += 1;
            }
        }
        if let Some((b, from)) = self.current.take() {
            let n = (b.msgs.len() - from) as u64;
            lost += n;
            unsent += n;
        }
        for b in rx.try_iter() {
            lost += b.msgs.len() as u64;
            unsent += b.msgs.len() as u64;
        }
        if lost > 0 {
            self.stats.count_forward_drops(ForwardDrop::Shutdown, lost);
            self.stats.forward_dequeued(unsent);
            eprintln!(
                "rand-guard: forward: {lost} records not delivered to {} by the shutdown \
                 timeout (forward_drops_total{{reason=\"shutdown\"}})",
                self.dialer.address()
            );
        }
        if let Some(c) = self.conn.take() {
            c.close();
        }
        self.stats.set_forward_connected(false);
    }
}
