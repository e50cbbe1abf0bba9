use super::*;
use crate::model::stats::Snapshot;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn ctx() -> Context {
    Context {
        hostname: "h".into(),
        agent_version: "v",
        ancestry_depth: 8,
        hook_paths: Vec::new(),
        ids: crate::testkit::host_ids(),
    }
}

/// An exit event with sequence number `seq`.
fn exit_event(seq: u64) -> Record {
    use crate::model::event::{Body, Event, ExitBody, ExitStatus};
    Record::Event(Event {
        seq,
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

fn clock() -> Arc<StopClock> {
    Arc::new(StopClock::new(Duration::from_secs(3600)))
}

fn writer_to(target: &str, limit: usize, stats: &Arc<Stats>, clock: Arc<StopClock>) -> Writer {
    let target = Target::parse(target);
    let sink = target.open().unwrap();
    Writer::new(target, sink, limit, ctx(), stats.clone(), clock)
}

/// The event.sequence of every line of `path` (every line must parse).
fn sequences(path: &Path) -> Vec<u64> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("torn line {l:?}: {e}"));
            v["event"]["sequence"].as_u64().unwrap()
        })
        .collect()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Sleep past the next retry of a failing writer, then let it try.
fn retry(w: &mut Writer) {
    if let Some(t) = w.retry_at() {
        std::thread::sleep(t.saturating_duration_since(Instant::now()));
    }
    w.flush();
}

#[test]
fn new_file_and_directory_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/dir/events.jsonl");
    let target = Target::File(path.clone());
    let sink = target.open().unwrap();
    (&sink.file).write_all(b"{}\n").unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("sub")), 0o700);
    assert_eq!(mode(&dir.path().join("sub/dir")), 0o700);
    // Appends, never truncates.
    drop(sink);
    let sink = target.open().unwrap();
    (&sink.file).write_all(b"{}\n").unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "{}\n{}\n");
}

/// Records are sensitive host telemetry: an existing output file that
/// others may read or write (made before the agent ran, or by hand) is
/// made 0600 when the agent opens it, and keeps its contents.
#[test]
fn an_existing_output_file_open_to_others_is_made_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    fs::write(&path, "{}\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let sink = Target::File(path.clone()).open().unwrap();
    assert_eq!(mode(&path), 0o600);
    (&sink.file).write_all(b"{}\n").unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "{}\n{}\n");
}

/// What stderr is told: the file, its old and new mode; and an owner
/// other than the agent, who could open the file up again.
#[test]
fn making_an_output_file_private_says_what_was_done_and_who_owns_it() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!(
            "SKIPPED making_an_output_file_private_says_what_was_done_and_who_owns_it: \
             chown needs root"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    fs::write(&path, "").unwrap();
    // chown clears setuid: chmod after it.
    nix::unistd::chown(&path, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o4664)).unwrap();
    let file = OpenOptions::new().append(true).open(&path).unwrap();
    let p = path.display();
    assert_eq!(
        make_private(&file, &path).unwrap(),
        [
            format!(
                "{p} had mode 4664, open to other users; made it 0600 (records are sensitive \
                 host telemetry; whoever opened it before may still hold it open)"
            ),
            format!(
                "{p} is owned by uid 65534, not by the agent (uid 0): that user can read it \
                 and change its mode; fix: chown 0 {p}"
            ),
        ]
    );
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o600
    );
    // Already private and ours: nothing to say.
    nix::unistd::chown(&path, Some(nix::unistd::Uid::from_raw(0)), None).unwrap();
    assert_eq!(make_private(&file, &path).unwrap(), Vec::<String>::new());
    // Owner read-only is private too: not widened to 0600.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o440)).unwrap();
    assert_eq!(
        make_private(&file, &path).unwrap(),
        [format!(
            "{p} had mode 0440, open to other users; made it 0400 (records are sensitive \
             host telemetry; whoever opened it before may still hold it open)"
        )]
    );
    assert_eq!(mode(&path), 0o400);
}

/// An output file open to others whose mode cannot be changed (here
/// append-only: chattr +a) is not written to: the open fails, naming the
/// file, its mode, the reason and the fix.
#[test]
fn an_output_file_that_cannot_be_made_private_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    fs::write(&path, "").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let chattr = |flag: &str| {
        std::process::Command::new("chattr")
            .arg(flag)
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !chattr("+a") {
        eprintln!(
            "SKIPPED an_output_file_that_cannot_be_made_private_is_refused: chattr +a needs \
             root, CAP_LINUX_IMMUTABLE and a file system with the flag"
        );
        return;
    }
    let e = Target::File(path.clone()).open().err();
    assert!(chattr("-a"), "chattr -a {}", path.display());
    let p = path.display();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some(format!(
            "cannot open output file {p}: it has mode 0644, open to other users, and cannot \
             be made 0600: Operation not permitted (os error 1); fix: chmod 0600 {p}"
        ))
    );
    assert_eq!(mode(&path), 0o644);
}

/// A FIFO (or a device such as /dev/null) named as the output is not the
/// agent's to change: only regular files are made private.
#[test]
fn a_fifo_output_keeps_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fifo");
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    // A reader, so the writer's open does not wait for one.
    let _reader = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(&path)
        .unwrap();
    let _sink = Target::File(path.clone()).open().unwrap();
    assert_eq!(mode(&path), 0o644);
}

#[test]
fn unopenable_output_names_the_path() {
    let e = Target::parse("/proc/version/x.jsonl").open().err().unwrap();
    assert!(
        e.to_string()
            .starts_with("cannot open output file /proc/version/x.jsonl"),
        "{e}"
    );
}

#[test]
fn writer_counts_written_records() {
    let stats = Arc::new(Stats::default());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.jsonl");
    let mut w = writer_to(path.to_str().unwrap(), 1 << 20, &stats, clock());
    for i in 1..=3 {
        w.push(&exit_event(i));
    }
    assert_eq!(stats.snapshot().events_output_total, 0); // still buffered
    w.flush();
    assert_eq!(stats.snapshot().events_output_total, 3);
    assert_eq!(sequences(&path), [1, 2, 3]);
}

/// An alert of rule severity `severity` on an exit event.
fn alert(seq: u64, severity: Severity) -> Record {
    use crate::model::alert::{Alert, RuleMeta};
    let Record::Event(event) = exit_event(seq) else {
        unreachable!()
    };
    Record::Alert(Alert {
        rule: Arc::new(RuleMeta {
            id: format!("test-{}", severity.as_str()),
            name: "test".into(),
            description: String::new(),
            severity,
            tactics: Vec::new(),
            techniques: Vec::new(),
            source: "builtin".into(),
            references: Vec::new(),
            authors: Vec::new(),
        }),
        event,
        message: "m".into(),
        id: format!("id-{seq}"),
        suppressed: 0,
        evidence: Vec::new(),
        reasons: Vec::new(),
        package: None,
        indicator: None,
    })
}

/// Alerts are counted by their rule's severity once written, every
/// severity listed; the total is their sum. Alerts dropped unwritten
/// count as drops only.
#[test]
fn writer_counts_written_alerts_by_severity() {
    let stats = Arc::new(Stats::default());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.jsonl");
    let mut w = writer_to(path.to_str().unwrap(), 1 << 20, &stats, clock());
    w.push(&alert(1, Severity::High));
    w.push(&exit_event(2));
    w.push(&alert(3, Severity::Low));
    w.push(&alert(4, Severity::High));
    let s = stats.snapshot();
    assert_eq!(s.alerts_output_total, 0); // still buffered
    assert_eq!(
        s.alerts_output_by_severity_total,
        vec![("low", 0), ("medium", 0), ("high", 0), ("critical", 0)]
    );
    w.flush();
    let s = stats.snapshot();
    assert_eq!(s.events_output_total, 1);
    assert_eq!(s.alerts_output_total, 3);
    assert_eq!(
        s.alerts_output_by_severity_total,
        vec![("low", 1), ("medium", 0), ("high", 2), ("critical", 0)]
    );
    assert_eq!(sequences(&path), [1, 2, 3, 4]);

    let stats = Arc::new(Stats::default());
    let mut w = writer_to("/dev/full", 1 << 20, &stats, clock());
    w.push(&alert(5, Severity::Critical));
    w.finish(Instant::now());
    let s = stats.snapshot();
    assert_eq!(s.alerts_output_total, 0);
    assert_eq!(
        s.alerts_output_by_severity_total,
        vec![("low", 0), ("medium", 0), ("high", 0), ("critical", 0)]
    );
    assert_eq!(
        s.output_buffer_drops_by_kind_total,
        vec![("alert", 1), ("health", 1)]
    );
}

/// /dev/full fails every write with ENOSPC: records wait, up to the
/// limit; past it they are dropped and counted by reason and kind; at
/// the end what still waits is dropped as `shutdown`. Every record is
/// either written or counted.
#[test]
fn a_failing_output_keeps_records_up_to_the_limit_and_counts_the_rest() {
    let stats = Arc::new(Stats::default());
    let mut w = writer_to("/dev/full", 256 << 10, &stats, clock());
    let n = 5000u64;
    for i in 1..=n {
        w.push(&exit_event(i));
    }
    w.flush();
    let s = stats.snapshot();
    assert_eq!(s.events_output_total, 0);
    let full = Snapshot::of(&s.output_buffer_drops_total, "buffer_full");
    assert!(full > 0 && full < n, "{full}");
    assert_eq!(s.output_failures_total, full);
    assert_eq!(s.output_buffer_drops_by_kind_total, vec![("exit", full)]);
    assert!(
        s.output_buffered_bytes <= 256 << 10,
        "{}",
        s.output_buffered_bytes
    );
    // Retries wait for their backoff: one more failed attempt each.
    let errors = s.output_errors_total;
    assert!(errors >= 1);
    w.flush();
    assert_eq!(stats.snapshot().output_errors_total, errors);
    retry(&mut w);
    assert_eq!(stats.snapshot().output_errors_total, errors + 1);

    w.finish(Instant::now());
    let s = stats.snapshot();
    let shutdown = Snapshot::of(&s.output_buffer_drops_total, "shutdown");
    let full = Snapshot::of(&s.output_buffer_drops_total, "buffer_full");
    assert!(shutdown > 0);
    // Every record, and the last health record (dropped too).
    assert_eq!(full + shutdown, n + 1);
    assert_eq!(s.output_failures_total, n + 1);
    assert_eq!(s.output_buffered_bytes, 0);
}

/// The output path becomes unwritable (its directory replaced by a
/// file) and later usable again: nothing is lost, nothing is written
/// twice, and the order is kept.
#[test]
fn records_kept_while_the_path_is_unwritable_are_written_in_order_after() {
    let stats = Arc::new(Stats::default());
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    let path = sub.join("o.jsonl");
    let mut w = writer_to(path.to_str().unwrap(), 1 << 20, &stats, clock());
    let mut seq = 0;
    let mut push = |w: &mut Writer, n: u64| {
        for _ in 0..n {
            seq += 1;
            w.push(&exit_event(seq));
        }
        w.flush();
    };
    push(&mut w, 3);
    // The directory goes, and a file takes its name: the deleted output
    // is noticed before the next write, and re-creating it fails.
    fs::remove_dir_all(&sub).unwrap();
    fs::write(&sub, "in the way").unwrap();
    push(&mut w, 4);
    retry(&mut w);
    push(&mut w, 2);
    let s = stats.snapshot();
    assert_eq!(s.events_output_total, 3);
    assert!(s.output_errors_total >= 3, "{}", s.output_errors_total); // deleted, 2 opens
    assert!(w.retry_at().is_some());
    fs::remove_file(&sub).unwrap();
    retry(&mut w);
    assert!(w.retry_at().is_none(), "recovered");
    push(&mut w, 1);
    assert_eq!(sequences(&path), (4..=10).collect::<Vec<_>>());
    assert_eq!(mode(&path), 0o600);
    let s = stats.snapshot();
    assert_eq!((s.events_output_total, s.output_failures_total), (3 + 7, 0));
}

/// The output file deleted under the agent: it is noticed before the
/// next write and a new one is created; the records written before are
/// in the deleted one, none after.
#[test]
fn a_deleted_output_file_is_created_again() {
    let stats = Arc::new(Stats::default());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.jsonl");
    let mut w = writer_to(path.to_str().unwrap(), 1 << 20, &stats, clock());
    w.push(&exit_event(1));
    w.flush();
    fs::remove_file(&path).unwrap();
    w.push(&exit_event(2));
    w.flush();
    assert_eq!(sequences(&path), [2]);
    let s = stats.snapshot();
    assert_eq!((s.events_output_total, s.output_errors_total), (2, 1));
    assert!(w.retry_at().is_none());
}

/// Rotation: the file is renamed, then SIGHUP's settings re-open the
/// path. The renamed file ends where the new one begins.
#[test]
fn reopening_after_a_rename_splits_the_records_without_loss_or_repeat() {
    let stats = Arc::new(Stats::default());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.jsonl");
    let old = dir.path().join("o.jsonl.1");
    let mut w = writer_to(path.to_str().unwrap(), 1 << 20, &stats, clock());
    for i in 1..=5 {
        w.push(&exit_event(i));
    }
    w.flush();
    w.push(&exit_event(6)); // waiting when the rotation comes
    fs::rename(&path, &old).unwrap();
    w.push(&exit_event(7));
    w.apply(Settings {
        target: Target::File(path.clone()),
        buffer_bytes: 1 << 20,
        health_every: Duration::from_secs(60),
    });
    for i in 8..=10 {
        w.push(&exit_event(i));
    }
    w.flush();
    assert_eq!(sequences(&old), [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(sequences(&path), [8, 9, 10]);
    assert_eq!(mode(&path), 0o600);
}

/// Rotation by a tool that creates the new file open to others
/// (logrotate's `create 0644`): SIGHUP's re-open makes it 0600 before any
/// record goes into it.
#[test]
fn a_rotated_file_created_open_to_others_is_made_private_on_reopen() {
    let stats = Arc::new(Stats::default());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.jsonl");
    let old = dir.path().join("o.jsonl.1");
    let mut w = writer_to(path.to_str().unwrap(), 1 << 20, &stats, clock());
    w.push(&exit_event(1));
    w.flush();
    fs::rename(&path, &old).unwrap();
    fs::write(&path, "").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    w.apply(Settings {
        target: Target::File(path.clone()),
        buffer_bytes: 1 << 20,
        health_every: Duration::from_secs(60),
    });
    assert_eq!(mode(&path), 0o600);
    w.push(&exit_event(2));
    w.flush();
    assert_eq!(sequences(&old), [1]);
    assert_eq!(sequences(&path), [2]);
    assert_eq!(mode(&path), 0o600);
}

/// A reload that points at a path that cannot be opened keeps the
/// output open before.
#[test]
fn an_unopenable_new_path_keeps_the_old_output() {
    let stats = Arc::new(Stats::default());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.jsonl");
    let mut w = writer_to(path.to_str().unwrap(), 1 << 20, &stats, clock());
    w.apply(Settings {
        target: Target::parse("/proc/version/x.jsonl"),
        buffer_bytes: 1 << 20,
        health_every: Duration::from_secs(60),
    });
    w.push(&exit_event(1));
    w.flush();
    assert_eq!(sequences(&path), [1]);
    assert_eq!(stats.snapshot().output_errors_total, 1);
}

/// A closed reader (EPIPE): failing, not fatal; the records wait.
#[test]
fn a_closed_pipe_is_a_failing_output() {
    let stats = Arc::new(Stats::default());
    let (r, wfd) = nix::unistd::pipe().unwrap();
    drop(r);
    let sink = Sink::new(File::from(wfd), false).unwrap();
    let mut w = Writer::new(Target::Stdout, sink, 1 << 20, ctx(), stats.clone(), clock());
    w.push(&exit_event(1));
    w.flush();
    let s = stats.snapshot();
    assert_eq!((s.events_output_total, s.output_errors_total), (0, 1));
    assert!(w.retry_at().is_some());
    assert!(s.output_buffered_bytes > 0);
}

/// A reader that never reads: the writer waits (backpressure), but not
/// past the stop clock; then what waits and what comes after is dropped
/// and counted, and the pipe holds whole records plus at most one cut.
#[test]
fn a_stuck_reader_holds_the_writer_only_until_the_stop_clock_runs_out() {
    let stats = Arc::new(Stats::default());
    let (r, wfd) = nix::unistd::pipe().unwrap();
    let sink = Sink::new(File::from(wfd), false).unwrap();
    let clock = Arc::new(StopClock::new(Duration::from_millis(300)));
    let mut w = Writer::new(
        Target::Stdout,
        sink,
        1 << 20,
        ctx(),
        stats.clone(),
        clock.clone(),
    );
    clock.start();
    let started = Instant::now();
    let n = 4000u64; // well over a 64 KiB pipe
    for i in 1..=n {
        w.push(&exit_event(i));
    }
    w.finish(Instant::now());
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let s = stats.snapshot();
    let dropped = Snapshot::of(&s.output_buffer_drops_total, "shutdown");
    assert!(s.events_output_total > 0 && dropped > 0);
    assert_eq!(s.events_output_total + dropped, n + 1); // and the health record
    // What the reader gets: exactly the records counted written.
    let mut got = Vec::new();
    nix::fcntl::fcntl(&r, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
    let mut f = File::from(r);
    let _ = io::Read::read_to_end(&mut f, &mut got);
    let whole = got.split(|b| *b == b'\n').count() as u64 - 1;
    assert_eq!(whole, s.events_output_total);
}

#[test]
fn complaints_are_rate_limited() {
    let stats = Arc::new(Stats::default());
    let mut w = writer_to("/dev/full", 1 << 20, &stats, clock());
    assert!(w.complain(Topic::Failing, "first"));
    assert!(!w.complain(Topic::Failing, "second, at once"));
    // Another topic has its own interval.
    assert!(w.complain(Topic::Deleted, "deleted"));
    assert!(!w.complain(Topic::Deleted, "deleted again"));
}

/// The memory a failure took is given back once the output works.
#[test]
fn the_buffer_shrinks_back_after_a_recovery() {
    let stats = Arc::new(Stats::default());
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    let path = sub.join("o.jsonl");
    let mut w = writer_to(path.to_str().unwrap(), 8 << 20, &stats, clock());
    fs::remove_dir_all(&sub).unwrap();
    fs::write(&sub, "in the way").unwrap();
    let n = 3000;
    for i in 1..=n {
        w.push(&exit_event(i));
    }
    w.flush();
    assert!(w.buf.capacity() > CHUNK * 4, "{}", w.buf.capacity());
    fs::remove_file(&sub).unwrap();
    retry(&mut w);
    assert!(w.retry_at().is_none(), "recovered");
    assert!(w.buf.capacity() <= CHUNK * 2, "{}", w.buf.capacity());
    assert_eq!(sequences(&path), (1..=n).collect::<Vec<_>>());
}
