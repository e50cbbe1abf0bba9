//! Writer stage: records to JSON lines on stdout or a file.
//!
//! In: batches of [`Record`]s from the detector. Out: one JSON object per
//! line. Counts: records written, and records lost to a failed write.
//!
//! Lines are serialized into one reused buffer and written in chunks of
//! [`CHUNK`] bytes; whenever the input channel is empty the buffer is
//! written and flushed, so output lags the kernel by at most one poll
//! interval when the host is quiet and costs one write(2) per chunk when it
//! is busy. Output files are created mode 0600: they are sensitive host
//! telemetry.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::health::Health;

use crate::record::{self, Context, Record};
use crate::stats::Stats;

/// Bytes buffered before a write while records keep coming.
pub const CHUNK: usize = 64 * 1024;
/// At most one stderr complaint about failing output per this interval.
const COMPLAIN_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot open output file {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Where the lines go: `-` for stdout, else a path (appended to; a missing
/// directory is created 0700, a new file 0600).
pub fn open(target: &str) -> Result<Box<dyn Write + Send>, OutputError> {
    if target == "-" {
        return Ok(Box::new(io::stdout()));
    }
    let path = PathBuf::from(target);
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| OutputError::Open {
                path: path.clone(),
                source,
            })?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(|source| OutputError::Open { path, source })?;
    Ok(Box::new(file))
}

pub struct Writer {
    sink: Box<dyn Write + Send>,
    ctx: Context,
    stats: Arc<Stats>,
    buf: Vec<u8>,
    /// Event and alert records serialized into `buf`, not yet written.
    pending: u64,
    pending_alerts: u64,
    pending_health: u64,
    last_complaint: Option<Instant>,
}

impl Writer {
    pub fn new(sink: Box<dyn Write + Send>, ctx: Context, stats: Arc<Stats>) -> Self {
        Writer {
            sink,
            ctx,
            stats,
            buf: Vec::with_capacity(CHUNK * 2),
            pending: 0,
            pending_alerts: 0,
            pending_health: 0,
            last_complaint: None,
        }
    }

    pub fn push(&mut self, rec: &Record) {
        let mark = self.buf.len();
        match record::write_line(rec, &self.ctx, &mut self.buf) {
            Ok(()) => match rec {
                Record::Event(_) => self.pending += 1,
                Record::Alert(_) => self.pending_alerts += 1,
                Record::Health(_) => self.pending_health += 1,
            },
            Err(e) => {
                // Serializing our own types cannot fail short of a bug;
                // count it as an output failure rather than emit half a line.
                self.buf.truncate(mark);
                self.stats.count_output_failures(1);
                self.complain(&format!("cannot serialize a record: {e}"));
            }
        }
        if self.buf.len() >= CHUNK {
            self.write_out(false);
        }
    }

    /// Write and flush everything buffered.
    pub fn flush(&mut self) {
        self.write_out(true);
    }

    /// Write a health record now (and flush).
    pub fn health(&mut self, started: Instant, last: bool) {
        let h = Health::now(started, self.stats.snapshot(), last);
        self.push(&Record::Health(h));
        self.flush();
    }

    fn write_out(&mut self, flush: bool) {
        if self.buf.is_empty() {
            return;
        }
        let mut res = self.sink.write_all(&self.buf);
        if res.is_ok() && flush {
            res = self.sink.flush();
        }
        let records = self.pending + self.pending_alerts + self.pending_health;
        match res {
            Ok(()) => self.stats.count_output(self.pending, self.pending_alerts),
            Err(e) => {
                self.stats.count_output_failures(records);
                self.complain(&format!("writing {records} records failed: {e}"));
            }
        }
        self.buf.clear();
        self.pending = 0;
        self.pending_alerts = 0;
        self.pending_health = 0;
    }

    fn complain(&mut self, msg: &str) {
        let now = Instant::now();
        if self
            .last_complaint
            .is_none_or(|t| now.duration_since(t) >= COMPLAIN_EVERY)
        {
            self.last_complaint = Some(now);
            eprintln!(
                "rand-guard: output: {msg} (repeats suppressed for {COMPLAIN_EVERY:?}; see output_failures_total)"
            );
        }
    }
}

/// The stage loop: runs until the detector hangs up, then writes the
/// last health record and flushes. A health record goes out every
/// `health_every`, between batches.
pub fn run(rx: Receiver<Vec<Record>>, mut w: Writer, health_every: Duration) {
    let started = Instant::now();
    let mut next_health = started + health_every;
    loop {
        let wait = next_health.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(batch) => {
                for rec in &batch {
                    w.push(rec);
                }
                if rx.is_empty() {
                    w.flush();
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if Instant::now() >= next_health {
            w.health(started, false);
            next_health += health_every;
        }
    }
    w.health(started, true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn new_file_and_directory_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/events.jsonl");
        let mut w = open(path.to_str().unwrap()).unwrap();
        w.write_all(b"{}\n").unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("sub")), 0o700);
        assert_eq!(mode(&dir.path().join("sub/dir")), 0o700);
        // Appends, never truncates.
        drop(w);
        let mut w = open(path.to_str().unwrap()).unwrap();
        w.write_all(b"{}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}\n{}\n");
    }

    #[test]
    fn unopenable_output_names_the_path() {
        let e = open("/proc/version/x.jsonl").err().unwrap();
        assert!(
            e.to_string()
                .starts_with("cannot open output file /proc/version/x.jsonl"),
            "{e}"
        );
    }

    fn ctx() -> Context {
        Context {
            hostname: "h".into(),
            agent_version: "v",
            ancestry_depth: 8,
        }
    }

    fn exit_event() -> Record {
        use crate::event::{Body, Event, ExitBody, ExitStatus};
        Record::Event(Event {
            seq: 1,
            time_ns: 0,
            ktime_ns: 0,
            pid: 5,
            tid: 5,
            body: Body::Exit(ExitBody {
                start_ns: 0,
                ppid: 1,
                name: "x".into(),
                status: ExitStatus::from_wait_status(0),
            }),
            process: None,
        })
    }

    #[test]
    fn writer_counts_written_records() {
        let stats = Arc::new(Stats::default());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.jsonl");
        let mut w = Writer::new(open(path.to_str().unwrap()).unwrap(), ctx(), stats.clone());
        for _ in 0..3 {
            w.push(&exit_event());
        }
        assert_eq!(stats.snapshot().events_output_total, 0); // still buffered
        w.flush();
        assert_eq!(stats.snapshot().events_output_total, 3);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
    }

    #[test]
    fn failed_writes_are_counted() {
        let stats = Arc::new(Stats::default());
        // /dev/full: every write fails with ENOSPC.
        let full = OpenOptions::new().write(true).open("/dev/full").unwrap();
        let mut w = Writer::new(Box::new(full), ctx(), stats.clone());
        w.push(&exit_event());
        w.push(&exit_event());
        w.flush();
        let s = stats.snapshot();
        assert_eq!((s.events_output_total, s.output_failures_total), (0, 2));
    }
}
