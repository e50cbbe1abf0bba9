//! Output faults, end to end (issue 8.2): a full file system, an output
//! file deleted and then made impossible to create, a closed stdout. In
//! each the agent keeps running, keeps records in memory (up to
//! `[output] buffer_bytes`) while the output fails, retries with backoff,
//! says so on stderr once per interval rather than per record, and
//! accounts for every record of the test's own workload: written, or
//! dropped and counted with a reason. docs/reliability.md lists them.
//!
//! The workload is chmods of one file in a directory only this test
//! watches (`common::Marked`), so the per-kind counters are exact although
//! other agents run beside this one.

mod common;

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{AGENT, Agent, Marked, by_kind, final_health, privileged, read_records, sequences};
use serde_json::Value;

/// Process events are not written: fewer records nobody asked for, so the
/// small file system fills with this test's records only. `buffer_bytes`
/// of records are kept while the output fails.
fn config(m: &Marked, buffer_bytes: u32) -> String {
    format!(
        "{}[events]\nprocess = false\n[output]\nbuffer_bytes = {buffer_bytes}\n",
        m.file_config()
    )
}

/// The smallest buffer: a few dozen of the test's records (each carries
/// the ancestry of the test process, some KiB).
const SMALL: u32 = 256 << 10;

/// A tmpfs of `size`, unmounted (lazily) on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0700"))
            .arg("rg-test-full")
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs: {st}");
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Write zeros to `path` until the file system is full.
fn fill(path: &Path) {
    let mut f = File::create(path).unwrap();
    let chunk = vec![0u8; 64 << 10];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOSPC) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
}

/// Health counters of the test's records: (read, emitted, dropped in the
/// kernel, dropped on a full channel, dropped by the writer).
fn accounting(m: &Marked, records: &[Value]) -> (u64, u64, u64, u64, u64) {
    let h = final_health(records);
    let kind = "file_chmod";
    (
        by_kind(h, "raw_events_by_kind_total", kind),
        m.count(records),
        by_kind(h, "kernel_ringbuf_drops_total", kind),
        by_kind(h, "channel_full_drops_by_kind_total", kind),
        by_kind(h, "output_buffer_drops_by_kind_total", kind),
    )
}

/// Event sequence numbers only go up: records kept while the output
/// failed were written in order, none twice.
fn assert_in_order(records: &[Value]) {
    let seq = sequences(records);
    assert!(
        seq.windows(2).all(|w| w[0] < w[1]),
        "event sequence numbers out of order or repeated"
    );
}

/// Complaints about the failing output on stderr: at least one, and no
/// more than one per 10 s of failure.
fn assert_complaints(stderr: &str, failing: Duration, errors: u64) {
    let complaints = stderr
        .matches("rand-guard: output: cannot write to")
        .count() as u64;
    let allowed = 1 + failing.as_secs() / 10;
    assert!(
        (1..=allowed).contains(&complaints),
        "{complaints} complaints in {failing:?} (allowed {allowed}):\n{stderr}"
    );
    assert!(
        errors > complaints,
        "{errors} failed attempts, {complaints} complaints: retries were not tried or each was told"
    );
}

#[test]
fn a_full_file_system_keeps_records_then_writes_them_and_counts_the_rest() {
    if !privileged("a_full_file_system_keeps_records_then_writes_them_and_counts_the_rest") {
        return;
    }
    let m = Marked::new("out-full");
    let fs = Tmpfs::mount("8m");
    let out = fs.path().join("events.jsonl");
    let agent = Agent::start_to(&config(&m, SMALL), Some(&out), &[], &[]);
    let filler = fs.path().join("filler");
    fill(&filler);
    let failing_since = Instant::now();

    // Kept while they fit in 256 KiB.
    m.chmod(200);
    agent.wait_stderr("rand-guard: output: cannot write to", 1);
    // Far more than 256 KiB: most are dropped and counted.
    m.chmod(2000);
    thread::sleep(Duration::from_millis(1500));
    let dropped_meanwhile = fs::metadata(&out).unwrap().len();

    // Room again: the next retry writes what was kept, in order.
    fs::remove_file(&filler).unwrap();
    agent.wait_stderr("works again", 1);
    let failing = failing_since.elapsed();
    m.chmod(100);
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    let (read, emitted, kernel, channel, writer) = accounting(&m, &records);
    eprintln!(
        "full fs: read {read}, emitted {emitted}, dropped: kernel {kernel}, channel {channel}, \
         writer {writer}; file held {dropped_meanwhile} bytes while full"
    );
    // Every chmod is in the output or counted with its reason.
    assert_eq!(emitted + kernel + channel + writer, 2300);
    assert_eq!(read, emitted + channel + writer);
    // The test did overflow the buffer, and kept what fitted.
    assert!(writer > 0, "nothing dropped: the buffer was never full");
    assert!(
        emitted > 100,
        "the kept records were not written: {emitted}"
    );
    let h = final_health(&records);
    assert!(
        h["output_buffer_drops_total"]["buffer_full"]
            .as_u64()
            .unwrap()
            >= writer
    );
    assert_eq!(h["output_buffer_drops_total"]["shutdown"], 0);
    assert_eq!(h["output_buffered_bytes"], 0);
    let failures: u64 = ["buffer_full", "shutdown"]
        .iter()
        .map(|r| h["output_buffer_drops_total"][r].as_u64().unwrap())
        .sum();
    assert_eq!(h["output_failures_total"], failures);
    assert_in_order(&records);
    assert_complaints(&stderr, failing, h["output_errors_total"].as_u64().unwrap());
}

/// Read every line of `f` from its start (a file that may have no name
/// any more).
fn lines_of(mut f: &File) -> Vec<Value> {
    let mut text = String::new();
    f.read_to_string(&mut text).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("torn line {l:?}: {e}")))
        .collect()
}

/// Poll until `path` holds `n` of the test's records.
fn wait_count(m: &Marked, path: &Path, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = m.count(&read_records(path));
        if got == n {
            return;
        }
        assert!(
            got < n && Instant::now() < deadline,
            "{} holds {got} records, expected {n}",
            path.display()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_deleted_then_uncreatable_output_file_loses_nothing() {
    if !privileged("a_deleted_then_uncreatable_output_file_loses_nothing") {
        return;
    }
    let m = Marked::new("out-deleted");
    let dir = tempfile::tempdir().unwrap();
    let out: PathBuf = dir.path().join("events.jsonl");
    let agent = Agent::start_to(&config(&m, 64 << 20), Some(&out), &[], &[]);

    m.chmod(100);
    wait_count(&m, &out, 100);
    // Deleted: the agent notices before its next write and creates the
    // file again. Records it wrote just before noticing are in the old
    // one, read here through an fd kept open.
    let first = File::open(&out).unwrap();
    fs::remove_file(&out).unwrap();
    m.chmod(100);
    agent.wait_stderr("was deleted; writing to a new one", 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    let second = loop {
        match File::open(&out) {
            Ok(f) => break f,
            Err(e) => assert!(Instant::now() < deadline, "not created again: {e}"),
        }
        thread::sleep(Duration::from_millis(10));
    };
    // Deleted again, and a directory takes the name: the file cannot be
    // created, so the records wait in memory.
    fs::remove_file(&out).unwrap();
    fs::create_dir(&out).unwrap();
    let failing_since = Instant::now();
    m.chmod(100);
    agent.wait_stderr("rand-guard: output: cannot write to", 1);
    thread::sleep(Duration::from_millis(500));
    fs::remove_dir(&out).unwrap();
    agent.wait_stderr("works again", 1);
    let failing = failing_since.elapsed();
    let (status, last, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    let mut records = lines_of(&first);
    records.extend(lines_of(&second));
    let in_old = records.len();
    records.extend(last.iter().cloned());
    let (read, emitted, kernel, channel, writer) = accounting(&m, &records);
    eprintln!(
        "deleted: read {read}, emitted {emitted} ({in_old} lines in the deleted files), dropped: \
         kernel {kernel}, channel {channel}, writer {writer}"
    );
    // Nothing lost: the buffer was large enough for all of it.
    assert_eq!((emitted, kernel, channel, writer), (300, 0, 0, 0));
    assert_eq!(read, 300);
    assert_in_order(&records);
    assert_eq!(
        fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let h = final_health(&records);
    assert_eq!(h["output_failures_total"], 0);
    // The deletion twice, the failed re-creation at least twice.
    let errors = h["output_errors_total"].as_u64().unwrap();
    assert!(errors >= 4, "{errors}");
    assert_complaints(&stderr, failing, errors);
}

/// The agent's stop summary on stderr: `key=value` pairs after `label`
/// up to the closing parenthesis or the end of the line.
fn summary_pairs(stderr: &str, label: &str) -> Vec<(String, u64)> {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("rand-guard: stopped:"))
        .unwrap_or_else(|| panic!("no stop summary:\n{stderr}"));
    let rest = &line[line
        .find(label)
        .unwrap_or_else(|| panic!("{label}: {line}"))
        + label.len()..];
    let rest = rest.split([')', ';']).next().unwrap();
    rest.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect()
}

fn pair(pairs: &[(String, u64)], key: &str) -> u64 {
    pairs.iter().find(|(k, _)| k == key).map_or(0, |(_, v)| *v)
}

#[test]
fn a_closed_stdout_is_counted_and_the_agent_keeps_running() {
    if !privileged("a_closed_stdout_is_counted_and_the_agent_keeps_running") {
        return;
    }
    let m = Marked::new("out-epipe");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    fs::write(&cfg, config(&m, SMALL)).unwrap();
    let mut child = Command::new(AGENT)
        .args(["run", "--output", "-", "--config"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines) = crossbeam_channel::unbounded::<String>();
    thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(l);
        }
    });
    let mut seen = String::new();
    let mut wait_stderr = |text: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !seen.contains(text) {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(l) => {
                    seen.push_str(&l);
                    seen.push('\n');
                }
                Err(_) => panic!("no {text:?} on stderr:\n{seen}"),
            }
        }
        seen.clone()
    };
    wait_stderr("rand-guard: ready");

    // A reader takes the first 100 of the test's records, then closes
    // the pipe: every write after that fails with EPIPE.
    let stdout = child.stdout.take().unwrap();
    let path = m.file.to_str().unwrap().to_string();
    let reader = thread::spawn(move || {
        let mut got = 0u64;
        for l in BufReader::new(stdout).lines() {
            let v: Value = serde_json::from_str(&l.unwrap()).unwrap();
            if common::action(&v) == "chmod" && common::get(&v, "file.path") == path.as_str() {
                got += 1;
                if got == 100 {
                    break;
                }
            }
        }
        got // the pipe's read end closes here
    });
    m.chmod(100);
    assert_eq!(reader.join().unwrap(), 100);

    let failing_since = Instant::now();
    m.chmod(2000);
    wait_stderr("rand-guard: output: cannot write to standard output");
    thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the agent died of EPIPE"
    );
    let failing = failing_since.elapsed();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let stderr = wait_stderr("rand-guard: stopped:");
    assert!(status.success(), "{stderr}");

    // The last health record went nowhere: the stop summary on stderr
    // has the same counters.
    let dropped = summary_pairs(&stderr, "by kind: ");
    let reasons = summary_pairs(&stderr, "(dropped: ");
    let kernel = summary_pairs(&stderr, "kernel ring-buffer drops: ");
    let writer = pair(&dropped, "file_chmod");
    let in_kernel = pair(&kernel, "file_chmod");
    eprintln!(
        "epipe: 100 read, dropped: writer {writer} ({reasons:?}), kernel {in_kernel}; {failing:?}"
    );
    assert!(stderr.contains(" 0 channel-full drops"), "{stderr}");
    // Every chmod after the close is counted as dropped, with a reason:
    // beyond the buffer (buffer_full), or still in it at the stop.
    assert_eq!(writer + in_kernel, 2000);
    assert!(pair(&reasons, "buffer_full") > 0, "{reasons:?}");
    assert!(pair(&reasons, "shutdown") > 0, "{reasons:?}");
    let complaints = stderr
        .matches("rand-guard: output: cannot write to")
        .count() as u64;
    assert!(
        complaints <= 1 + failing.as_secs() / 10,
        "{complaints} complaints:\n{stderr}"
    );
}
