//! Writer stage: records to JSON lines on stdout or a file.
//!
//! In: batches of [`Record`]s from the detector, and new [`Settings`] on
//! SIGHUP. Out: one JSON object per line. Counts: records written (alerts
//! also by rule severity); failed attempts to write or open
//! (`output_errors_total`); records dropped, by reason and kind
//! (`output_buffer_drops_total`, each also an `output_failures_total`);
//! bytes waiting (`output_buffered_bytes`).
//!
//! Lines are serialized into one buffer and written in chunks of
//! [`CHUNK`] bytes; whenever the input channel is empty the buffer is
//! written, so output lags the kernel by at most one poll interval when the
//! host is quiet and costs one write(2) per chunk when it is busy. Output
//! files are created mode 0600: they are sensitive host telemetry. An
//! existing one that group or others may use is made private when opened
//! (at start, on SIGHUP, after a failure), and stderr names it and its old
//! mode.
//!
//! **A failing output** (a full file system, a read-only one, a closed
//! stdout, an output file found deleted and not re-creatable) leaves the
//! records in the buffer, in order, and the write is retried after
//! [`RETRY_FIRST`], doubling up to [`RETRY_MAX`]. Meanwhile the writer
//! keeps taking records, up to `[output] buffer_bytes`; past that, new
//! ones are dropped and counted (`buffer_full`). So a failing output never
//! holds the pipeline, whatever `[pipeline] backpressure` says. When the
//! output works again, the buffer is written in order, then new records.
//! A record cut short by a failed write is cut back out of the file, so a
//! file always ends with a whole line. Stderr hears of it at most once per
//! [`COMPLAIN_EVERY`].
//!
//! **A slow output** (a pipe or socket read slowly) is not failing: the
//! writer waits for it (the fd is non-blocking and polled), and that wait
//! is the backpressure of `block`. The wait ends when the stop clock runs
//! out: at shutdown, what cannot be written in time is dropped and counted
//! (`shutdown`), so an output nobody reads cannot hold the agent.
//!
//! **SIGHUP** re-opens the output path (a rotated file is followed by a new
//! one; nothing is written twice or lost across the switch) and takes the
//! reloaded settings.

use std::collections::VecDeque;
use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, never, select};
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::model::alert::Severity;
use crate::model::health::Health;
use crate::model::stats::Kinded;
use crate::model::stats::{OutputDrop, Stats};
use crate::pipeline::channel::{StopClock, WAIT_SLICE};
use crate::pipeline::forward::{Handoff, Tag};
use crate::record::{self, Context, Record};

/// Bytes buffered before a write while records keep coming.
pub const CHUNK: usize = 64 * 1024;
/// At most one stderr complaint of each [`Topic`] per this interval.
pub const COMPLAIN_EVERY: Duration = Duration::from_secs(10);
/// First retry after a failure; each failure after doubles it...
pub const RETRY_FIRST: Duration = Duration::from_millis(100);
/// ...up to this.
pub const RETRY_MAX: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot open output file {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot use standard output: {0}")]
    Stdout(#[source] io::Error),
}

impl OutputError {
    fn into_io(self) -> io::Error {
        match self {
            OutputError::Open { source, .. } | OutputError::Stdout(source) => source,
        }
    }
}

/// Where the lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Stdout,
    /// Appended to; a missing directory is created 0700, a new file 0600,
    /// an existing regular file is made private (see `make_private`).
    File(PathBuf),
}

impl Target {
    /// `-` is stdout, anything else a path.
    pub fn parse(s: &str) -> Target {
        if s == "-" {
            Target::Stdout
        } else {
            Target::File(PathBuf::from(s))
        }
    }

    pub fn open(&self) -> Result<Sink, OutputError> {
        match self {
            Target::Stdout => {
                let fd = io::stdout()
                    .as_fd()
                    .try_clone_to_owned()
                    .map_err(OutputError::Stdout)?;
                Sink::new(File::from(fd), true).map_err(OutputError::Stdout)
            }
            Target::File(path) => {
                let err = |source| OutputError::Open {
                    path: path.clone(),
                    source,
                };
                if let Some(dir) = path
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty() && !d.exists())
                {
                    DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(dir)
                        .map_err(err)?;
                }
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(err)?;
                for notice in make_private(&file, path).map_err(err)? {
                    eprintln!("rand-guard: output: {notice}");
                }
                Sink::new(file, false).map_err(err)
            }
        }
    }
}

/// Make an opened output file private, as a new one is created: a regular
/// file that group or others may use (made before the agent ran, by hand,
/// or by a rotation's `create 0644`) loses every permission bit but the
/// owner's read and write. The change is made on the open fd (fchmod), so
/// it is the file about to be written, whatever the path names meanwhile.
/// A FIFO, socket or device (`/dev/null`, `/dev/stdout`) is left alone: it
/// is not the agent's. What was done or found, for stderr; an error when
/// the file is open to others and cannot be made private (records are not
/// written to it then).
fn make_private(file: &File, path: &Path) -> io::Result<Vec<String>> {
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Ok(Vec::new());
    }
    let mut notices = Vec::new();
    let mode = meta.mode() & 0o7777;
    let private = mode & 0o600;
    if mode != private {
        file.set_permissions(fs::Permissions::from_mode(private))
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "it has mode {mode:04o}, open to other users, and cannot be made \
                         {private:04o}: {e}; fix: chmod {private:04o} {}",
                        path.display()
                    ),
                )
            })?;
        notices.push(format!(
            "{} had mode {mode:04o}, open to other users; made it {private:04o} \
             (records are sensitive host telemetry; whoever opened it before may still \
             hold it open)",
            path.display()
        ));
    }
    // The owner can read the file and give its mode back to anyone.
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        notices.push(format!(
            "{} is owned by uid {}, not by the agent (uid {me}): that user can read it \
             and change its mode; fix: chown {me} {}",
            path.display(),
            meta.uid(),
            path.display()
        ));
    }
    Ok(notices)
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Stdout => write!(f, "standard output"),
            Target::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// An open output.
pub struct Sink {
    file: File,
    /// A regular file: checked for deletion before each write, and a
    /// record cut short by a failed write can be cut back out.
    regular: bool,
    /// File status flags to put back when done (we set O_NONBLOCK on a
    /// pipe or socket shared with whoever started us).
    restore: Option<OFlag>,
}

impl Sink {
    /// Wrap an open file. A pipe or socket is made non-blocking, so a
    /// reader that stops reading cannot hold the writer past the stop
    /// clock — except standard output shared with standard error
    /// (`2>&1`): a non-blocking stderr would make diagnostics fail.
    pub fn new(file: File, stdout: bool) -> io::Result<Sink> {
        let meta = file.metadata()?;
        let kind = meta.file_type();
        let mut restore = None;
        let shares_stderr = stdout
            && io::stderr()
                .as_fd()
                .try_clone_to_owned()
                .map(File::from)
                .and_then(|e| e.metadata())
                .is_ok_and(|e| e.dev() == meta.dev() && e.ino() == meta.ino());
        if (kind.is_fifo() || kind.is_socket()) && !shares_stderr {
            let flags = OFlag::from_bits_truncate(fcntl(&file, FcntlArg::F_GETFL)?);
            if !flags.contains(OFlag::O_NONBLOCK) {
                fcntl(&file, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
                restore = Some(flags);
            }
        }
        Ok(Sink {
            file,
            regular: kind.is_file(),
            restore,
        })
    }

    /// A regular file that no longer has a name: writes would vanish.
    fn deleted(&self) -> bool {
        self.regular && self.file.metadata().is_ok_and(|m| m.nlink() == 0)
    }

    /// Cut the last `n` bytes off a regular file (a partly written record).
    fn cut(&self, n: usize) -> bool {
        self.regular
            && self
                .file
                .metadata()
                .ok()
                .and_then(|m| m.len().checked_sub(n as u64))
                .is_some_and(|len| self.file.set_len(len).is_ok())
    }

    /// Wait until the output can take more, a slice at a time, until
    /// `clock` runs out (false).
    fn wait_writable(&self, clock: &StopClock) -> bool {
        let slice = PollTimeout::try_from(WAIT_SLICE).unwrap_or(PollTimeout::NONE);
        loop {
            if clock.expired() {
                return false;
            }
            let mut fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLOUT)];
            match poll(&mut fds, slice) {
                Ok(0) | Err(nix::Error::EINTR) => {}
                // Writable, or an error the next write reports.
                Ok(_) | Err(_) => return true,
            }
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(flags) = self.restore {
            let _ = fcntl(&self.file, FcntlArg::F_SETFL(flags));
        }
    }
}

/// The writer's reloadable settings (`[output]`, `[health] interval`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub target: Target,
    pub buffer_bytes: usize,
    pub health_every: Duration,
}

/// The output is failing since `since`; the next try is at `retry_at`.
struct Failing {
    since: Instant,
    delay: Duration,
    retry_at: Instant,
    errors: u64,
    dropped: u64,
    /// Stderr was told (so it is told of the recovery too).
    told: bool,
}

pub struct Writer {
    target: Target,
    /// None while the target could not be (re)opened.
    sink: Option<Sink>,
    ctx: Context,
    /// Serializes with `ctx` only, for the writer's lifetime.
    lines: record::LineWriter,
    stats: Arc<Stats>,
    clock: Arc<StopClock>,
    /// Most bytes kept waiting while the output fails.
    limit: usize,
    /// Serialized records: `buf[..start]` is written, the rest waits.
    buf: Vec<u8>,
    start: usize,
    /// `buf[..whole]` is whole records written: where a cut record starts.
    whole: usize,
    /// End offset in `buf`, kind, and (for an alert) severity of each
    /// record not yet written whole: what it counts as once written.
    ends: VecDeque<(usize, &'static str, Option<Severity>)>,
    failing: Option<Failing>,
    /// The stop clock ran out with the output still unable to take
    /// records: everything from now on is dropped and counted.
    gave_up: bool,
    /// When each [`Topic`] was last complained about.
    last_complaint: [Option<Instant>; 3],
    /// `[forward.syslog]`: every record taken is handed over too.
    forward: Option<Handoff>,
}

/// What a stderr complaint is about: each is rate-limited on its own, so
/// a deleted file does not silence the failure that may follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Topic {
    /// Writes or opens fail.
    Failing,
    /// The output file was found deleted.
    Deleted,
    /// A record could not be serialized.
    Serialize,
}

impl Writer {
    pub fn new(
        target: Target,
        sink: Sink,
        buffer_bytes: usize,
        ctx: Context,
        stats: Arc<Stats>,
        clock: Arc<StopClock>,
    ) -> Self {
        Writer {
            target,
            sink: Some(sink),
            ctx,
            lines: record::LineWriter::new(),
            stats,
            clock,
            limit: buffer_bytes,
            buf: Vec::with_capacity(CHUNK * 2),
            start: 0,
            whole: 0,
            ends: VecDeque::new(),
            failing: None,
            gave_up: false,
            last_complaint: [None; 3],
            forward: None,
        }
    }

    /// Also hand every record taken to a syslog forwarder.
    pub fn with_forward(mut self, forward: Option<Handoff>) -> Self {
        self.forward = forward;
        self
    }

    pub fn push(&mut self, rec: &Record) {
        let kind = rec.kind_name();
        if self.gave_up {
            self.stats.count_output_drop(OutputDrop::Shutdown, kind);
            return;
        }
        let mark = self.buf.len();
        if let Err(e) = self.lines.write_line(rec, &self.ctx, &mut self.buf) {
            // Serializing our own types cannot fail short of a bug;
            // count it as an output failure rather than emit half a line.
            self.buf.truncate(mark);
            self.stats.count_output_failures(1);
            self.complain(Topic::Serialize, &format!("cannot serialize a record: {e}"));
            return;
        }
        // Only a failing output lets this grow past a chunk and a record.
        if self.buf.len() - self.start > self.limit {
            self.buf.truncate(mark);
            if let Some(f) = &mut self.failing {
                f.dropped += 1;
            }
            self.stats.count_output_drop(OutputDrop::BufferFull, kind);
            return;
        }
        let severity = match rec {
            Record::Alert(a) => Some(a.rule.severity),
            _ => None,
        };
        self.ends.push_back((self.buf.len(), kind, severity));
        if let Some(f) = &mut self.forward {
            let tag = match (rec, severity) {
                (_, Some(s)) => Tag::Alert(s),
                (Record::Health(_), _) => Tag::Health,
                _ => Tag::Event,
            };
            // The line without its newline.
            f.add(&self.buf[mark..self.buf.len() - 1], tag);
            if f.pending_bytes() >= CHUNK {
                f.flush();
            }
        }
        if self.buf.len() - self.start >= CHUNK {
            self.write_out();
        }
    }

    /// Write everything waiting, unless the output is failing and its
    /// next try is not due yet.
    pub fn flush(&mut self) {
        self.write_out();
    }

    /// When the next try of a failing output is due.
    pub fn retry_at(&self) -> Option<Instant> {
        self.failing.as_ref().map(|f| f.retry_at)
    }

    /// Before a batch: `event.created`'s clock, and the user and group
    /// names' change check (see `record::LineWriter::tick`).
    pub fn tick(&mut self) {
        self.lines
            .tick(crate::model::clock::wall_now_ns(), Instant::now());
    }

    /// Write a health record now.
    pub fn health(&mut self, started: Instant, last: bool) {
        // Written records first, so the counters include them.
        self.write_out();
        let h = Health::now(started, self.stats.snapshot(), last);
        // After the snapshot: created is not before its @timestamp.
        self.tick();
        self.push(&Record::Health(Box::new(h)));
        self.write_out();
    }

    /// Take reloaded settings and re-open the output (SIGHUP). What
    /// waits goes to the file open before when it can, so after a
    /// rotation the renamed file ends where the new one begins.
    pub fn apply(&mut self, s: Settings) {
        self.limit = s.buffer_bytes;
        if self.failing.is_none() {
            self.write_out();
        }
        if s.target == Target::Stdout && self.target == Target::Stdout {
            return;
        }
        match s.target.open() {
            Ok(sink) => {
                eprintln!("rand-guard: output re-opened: {}", s.target);
                self.switch(s.target, sink);
                if let Some(f) = &mut self.failing {
                    // The new file may well work: try at once.
                    f.retry_at = Instant::now();
                }
                self.write_out();
            }
            Err(e) => {
                self.stats.count_output_error();
                eprintln!(
                    "rand-guard: output: cannot re-open: {e}; records still go to {}",
                    self.target
                );
            }
        }
    }

    /// Last call: one more try whatever the backoff says, the last health
    /// record, and what still cannot be written is dropped and counted.
    /// The forwarder delivers what it has first (within the stop clock),
    /// so the last health record, written locally only, counts all it did.
    pub fn finish(&mut self, started: Instant) {
        self.retry_now();
        self.write_out();
        if let Some(mut f) = self.forward.take() {
            f.finish();
        }
        self.health(started, true);
        if self.start < self.buf.len() {
            self.retry_now();
            self.write_out();
        }
        self.drop_waiting();
    }

    fn retry_now(&mut self) {
        if let Some(f) = &mut self.failing {
            f.retry_at = Instant::now();
        }
    }

    /// Now writing to `sink`: a record cut short in the old output starts
    /// over, whole, in the new one.
    fn switch(&mut self, target: Target, sink: Sink) {
        self.target = target;
        self.sink = Some(sink);
        self.start = self.whole;
    }

    fn write_out(&mut self) {
        if let Some(f) = &mut self.forward {
            f.flush();
        }
        if self.start == self.buf.len() || self.gave_up {
            return;
        }
        if self
            .failing
            .as_ref()
            .is_some_and(|f| Instant::now() < f.retry_at)
        {
            return;
        }
        if let Err(e) = self.ensure_sink() {
            self.fail(e);
            return;
        }
        let Some(sink) = &self.sink else { return };
        // Alerts by severity, slots as Severity::ALL: counted in one call
        // per write, without allocating.
        let (mut events, mut alerts) = (0, [0u64; Severity::ALL.len()]);
        let result = loop {
            if self.start == self.buf.len() {
                break Ok(());
            }
            match (&sink.file).write(&self.buf[self.start..]) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.start += n;
                    while let Some((end, kind, severity)) = self.ends.front().copied() {
                        if end > self.start {
                            break;
                        }
                        self.ends.pop_front();
                        self.whole = end;
                        match (kind, severity) {
                            (_, Some(s)) => alerts[s as usize] += 1,
                            ("health", None) => {}
                            _ => events += 1,
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Slow, not failing: wait, which is backpressure,
                    // but not past the stop clock.
                    if !sink.wait_writable(&self.clock) {
                        break Err(e);
                    }
                }
                Err(e) => break Err(e),
            }
        };
        self.stats.count_output(events, &alerts);
        match result {
            Ok(()) => {
                self.buf.clear();
                self.start = 0;
                self.whole = 0;
                if self.failing.is_some() {
                    // The buffer may have grown to `limit` while the
                    // output failed: give that memory back.
                    self.buf.shrink_to(CHUNK * 2);
                    self.ends.shrink_to(CHUNK / 64);
                }
                self.recovered();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.give_up(),
            Err(e) => self.fail(e),
        }
        self.stats.set_output_buffered(self.buf.len() - self.start);
    }

    /// Have a sink for the target: re-open a file found deleted, or one
    /// that could not be opened or failed before.
    fn ensure_sink(&mut self) -> io::Result<()> {
        if let Some(s) = &self.sink {
            if !s.deleted() {
                return Ok(());
            }
            self.stats.count_output_error();
            self.complain(
                Topic::Deleted,
                &format!(
                    "the output file {} was deleted; writing to a new one",
                    self.target
                ),
            );
            self.sink = None;
        }
        let sink = self.target.open().map_err(OutputError::into_io)?;
        let target = self.target.clone();
        self.switch(target, sink);
        Ok(())
    }

    fn fail(&mut self, e: io::Error) {
        self.stats.count_output_error();
        let cut = self.start.saturating_sub(self.whole);
        if cut > 0 && self.sink.as_ref().is_some_and(|s| s.cut(cut)) {
            self.start = self.whole;
        }
        // Out of space: the same file takes the rest once there is room.
        // Anything else: open the path again on the next try (once no
        // record is cut short in the file, so none is torn).
        let space = matches!(
            e.raw_os_error(),
            Some(nix::libc::ENOSPC | nix::libc::EDQUOT)
        );
        if matches!(self.target, Target::File(_)) && !space && self.start == self.whole {
            self.sink = None;
        }
        // What is written whole is gone from the buffer: keep only what waits.
        if self.whole > 0 {
            self.buf.drain(..self.whole);
            self.start -= self.whole;
            for (end, _, _) in &mut self.ends {
                *end -= self.whole;
            }
            self.whole = 0;
        }
        let now = Instant::now();
        let f = self.failing.get_or_insert(Failing {
            since: now,
            delay: Duration::ZERO,
            retry_at: now,
            errors: 0,
            dropped: 0,
            told: false,
        });
        f.delay = (f.delay * 2).clamp(RETRY_FIRST, RETRY_MAX);
        f.retry_at = now + f.delay;
        f.errors += 1;
        let msg = format!(
            "cannot write to {}: {e}; keeping records in memory (up to {} bytes, then \
             dropping and counting them) and retrying every {:?} to {:?}",
            self.target, self.limit, RETRY_FIRST, RETRY_MAX
        );
        if self.complain(Topic::Failing, &msg)
            && let Some(f) = &mut self.failing
        {
            f.told = true;
        }
    }

    fn recovered(&mut self) {
        let Some(f) = self.failing.take() else { return };
        if f.told {
            let dropped = match f.dropped {
                0 => String::new(),
                n => format!("; {n} records dropped meanwhile (output_buffer_drops_total)"),
            };
            eprintln!(
                "rand-guard: output: {} works again after {:.1} s and {} failed attempts; \
                 the records kept meanwhile are written{dropped}",
                self.target,
                f.since.elapsed().as_secs_f64(),
                f.errors,
            );
        }
    }

    /// The stop clock ran out while the output could not take records:
    /// drop what waits, and everything after it, counted.
    fn give_up(&mut self) {
        if !self.gave_up {
            self.gave_up = true;
            eprintln!(
                "rand-guard: output: {} takes no more records and the shutdown timeout \
                 has passed; dropping what is left (output_buffer_drops_total)",
                self.target
            );
        }
        self.drop_waiting();
    }

    /// Drop and count every record not written whole.
    fn drop_waiting(&mut self) {
        for (_, kind, _) in self.ends.drain(..) {
            self.stats.count_output_drop(OutputDrop::Shutdown, kind);
        }
        self.buf.clear();
        self.start = 0;
        self.whole = 0;
        self.stats.set_output_buffered(0);
    }

    /// Say `msg` on stderr unless something about `topic` was said less
    /// than [`COMPLAIN_EVERY`] ago; whether it was said.
    fn complain(&mut self, topic: Topic, msg: &str) -> bool {
        let now = Instant::now();
        let last = &mut self.last_complaint[topic as usize];
        if last.is_some_and(|t| now.duration_since(t) < COMPLAIN_EVERY) {
            return false;
        }
        *last = Some(now);
        eprintln!(
            "rand-guard: output: {msg} (repeats suppressed for {COMPLAIN_EVERY:?}; see \
             output_errors_total)"
        );
        true
    }
}

/// The stage loop: runs until the detector hangs up, then writes the
/// last health record. A health record goes out every `health_every`,
/// between batches; new [`Settings`] arrive on `reload`.
pub fn run(
    rx: Receiver<Vec<Record>>,
    reload: Receiver<Settings>,
    mut w: Writer,
    mut health_every: Duration,
) {
    let started = Instant::now();
    let mut next_health = started + health_every;
    let mut reload = reload;
    loop {
        let wake = w.retry_at().map_or(next_health, |t| t.min(next_health));
        let wait = wake.saturating_duration_since(Instant::now());
        select! {
            recv(rx) -> msg => match msg {
                Ok(batch) => {
                    crate::pipeline::fault::point("writer");
                    w.tick();
                    for rec in &batch {
                        w.push(rec);
                    }
                    if rx.is_empty() {
                        w.flush();
                    }
                }
                Err(_) => break,
            },
            recv(reload) -> msg => match msg {
                Ok(s) => {
                    if s.health_every != health_every {
                        health_every = s.health_every;
                        next_health = Instant::now() + health_every;
                    }
                    w.apply(s);
                }
                Err(_) => reload = never(),
            },
            default(wait) => {}
        }
        if w.retry_at().is_some_and(|t| Instant::now() >= t) {
            w.flush();
        }
        if Instant::now() >= next_health {
            w.health(started, false);
            next_health += health_every;
        }
    }
    w.finish(started);
}

#[cfg(test)]
mod tests;
