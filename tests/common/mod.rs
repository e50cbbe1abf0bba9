//! Helpers for the privileged end-to-end tests: start the real agent
//! binary with a test config, wait until it is attached, read back the
//! JSON lines it wrote, stop it with SIGTERM.
//!
//! Tests run in parallel, several agents at once: every test must pick out
//! its own records (by the pids of the processes it started).

#![allow(dead_code)]

pub mod podman;
pub mod scenario;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const AGENT: &str = env!("CARGO_BIN_EXE_rand-guard");

/// The BPF object the build wrote next to the binary.
pub fn built_object() -> String {
    let bin = std::path::Path::new(AGENT);
    bin.with_file_name("edr-ebpf")
        .to_string_lossy()
        .into_owned()
}

/// True when running as root. Otherwise prints a loud skip notice: the
/// privileged tests load BPF programs, which needs root (CI runs as root).
pub fn privileged(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    // Straight to fd 2: the test harness captures eprintln! of passing tests,
    // and a skip must be seen.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: privileged end-to-end test needs root to load BPF programs \
         (run `cargo xt` as root; CI does)"
    );
    false
}

pub struct Agent {
    child: Child,
    pub out: PathBuf,
    stderr: Arc<Mutex<Vec<String>>>,
    /// The thread that reads the agent's stderr into `stderr`: finished
    /// once it has read to the end.
    stderr_reader: thread::JoinHandle<()>,
    dir: tempfile::TempDir,
}

/// How long a wait for the agent gives it: generous, since the tests run
/// in parallel on a loaded host (two cores in CI) and a debug build; a
/// wait ends as soon as what it waits for is there.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// How long the agent may take to be ready: loading and verifying the
/// BPF programs is CPU work that a loaded host stretches (a debug build
/// ready in 4 s took 23 s beside eight busy loops on two cores).
pub const START_PATIENCE: Duration = Duration::from_secs(180);

impl Agent {
    /// Start `rand-guard run` with `config` (TOML; an `[output]` table is
    /// not allowed: the output goes to a temporary file) and wait until it
    /// reports ready.
    pub fn start(config: &str) -> Agent {
        Agent::start_with_env(config, &[])
    }

    /// As `start`, with extra environment variables for the agent.
    pub fn start_with_env(config: &str, env: &[(&str, &str)]) -> Agent {
        Agent::start_with(config, env, &[])
    }

    /// As `start`, with extra environment variables and extra arguments
    /// of `rand-guard run`.
    pub fn start_with(config: &str, env: &[(&str, &str)], args: &[&str]) -> Agent {
        Agent::start_to(config, None, env, args)
    }

    /// As `start_with`, writing to `out` (`--output`: a path, or `-` for
    /// the agent's stdout, which then goes nowhere) instead of a file in
    /// the temporary directory.
    pub fn start_to(
        config: &str,
        out: Option<&Path>,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Agent {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join("config.toml");
        let out = out.map_or_else(|| dir.path().join("out.jsonl"), Path::to_path_buf);
        fs::write(&cfg, config).expect("write config");
        let mut child = Command::new(AGENT)
            .envs(env.iter().copied())
            .arg("run")
            .arg("--config")
            .arg(&cfg)
            .arg("--output")
            .arg(&out)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn agent");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let pipe = child.stderr.take().unwrap();
        let lines = stderr.clone();
        let stderr_reader = thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let agent = Agent {
            child,
            out,
            stderr,
            stderr_reader,
            dir,
        };
        agent.wait_ready();
        agent
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + START_PATIENCE;
        loop {
            if self.stderr_text().contains("rand-guard: ready") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "agent not ready after {START_PATIENCE:?}; stderr:\n{}",
                self.stderr_text()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The configuration file the agent was started with (rewrite it and
    /// send SIGHUP to reload).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    /// Still running?
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Wait (at most `within`) for the agent to exit by itself; its exit
    /// status, every record and its stderr.
    pub fn wait_exit(mut self, within: Duration) -> (ExitStatus, Vec<Value>, String) {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "agent still running after {within:?}; stderr:\n{}",
                    self.stderr_text()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        self.read_stderr_to_end();
        let records = self.records();
        (status, records, self.stderr_text())
    }

    /// After the agent exited: wait until its stderr has been read to the
    /// end, so that its last lines are in [`Agent::stderr_text`]. (Not
    /// forever: a process the agent started could hold the pipe open.)
    fn read_stderr_to_end(&self) {
        let deadline = Instant::now() + PATIENCE;
        while !self.stderr_reader.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every complete line written so far, parsed.
    pub fn records(&self) -> Vec<Value> {
        read_records(&self.out)
    }

    /// Poll the output until `pred` holds for some record ([`PATIENCE`]
    /// at most).
    pub fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) {
        self.wait_for_within(what, PATIENCE, pred)
    }

    /// As `wait_for`, `within` at most.
    pub fn wait_for_within(&self, what: &str, within: Duration, pred: impl Fn(&Value) -> bool) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.records().iter().any(&pred) {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "no record for {what} within {within:?}; stderr:\n{}\nrecords:\n{}",
            self.stderr_text(),
            fs::read_to_string(&self.out).unwrap_or_default()
        );
    }

    /// Send `sig` to the agent.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig)
            .expect("signal the agent");
    }

    /// Wait until the agent's stderr contains `text` `count` times in all
    /// ([`PATIENCE`] at most).
    pub fn wait_stderr(&self, text: &str, count: usize) {
        let deadline = Instant::now() + PATIENCE;
        while self.stderr_text().matches(text).count() < count {
            assert!(
                Instant::now() < deadline,
                "no {text:?} (x{count}) on the agent's stderr within {PATIENCE:?}:\n{}",
                self.stderr_text()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, wait, and return the exit status and every record.
    pub fn stop(mut self) -> (ExitStatus, Vec<Value>, String) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("SIGTERM");
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "agent did not exit within {PATIENCE:?} of SIGTERM; stderr:\n{}",
                    self.stderr_text()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        self.read_stderr_to_end();
        let records = self.records();
        (status, records, self.stderr_text())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn read_records(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap_or_default();
    // A running agent's buffered writer may have flushed part of a line:
    // only what ends in a newline is a record yet.
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// Dotted lookup: `get(&v, "process.parent.pid")`; numbers index arrays.
pub fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .fold(v, |v, k| match (v, k.parse::<usize>()) {
            (Value::Array(a), Ok(i)) => a.get(i).unwrap_or(&Value::Null),
            _ => &v[k],
        })
}

pub fn action(v: &Value) -> &str {
    get(v, "event.action").as_str().unwrap_or("")
}

pub fn pid_of(v: &Value) -> u64 {
    get(v, "process.pid").as_u64().unwrap_or(0)
}

/// Records about process `pid` (its fork, execs and exit), in order.
pub fn about(records: &[Value], pid: u32) -> Vec<&Value> {
    records
        .iter()
        .filter(|r| r["record_type"] == "event" && pid_of(r) == pid as u64)
        .collect()
}

/// The health record written at shutdown (the last line).
pub fn final_health(records: &[Value]) -> &Value {
    let last = records.last().expect("no records at all");
    assert_eq!(
        last["record_type"], "health",
        "last record is not health: {last}"
    );
    assert_eq!(get(last, "rand_guard.health.last"), true);
    get(last, "rand_guard.health")
}

/// Event and alert records about file `path` (as `file.path`), in order.
pub fn about_file<'a>(records: &'a [Value], path: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| get(r, "file.path") == path)
        .collect()
}

/// Run `sh -c cmd`, wait for it to succeed; its pid.
pub fn sh(cmd: &str) -> u32 {
    let mut child = Command::new("/bin/sh").args(["-c", cmd]).spawn().unwrap();
    let pid = child.id();
    assert!(child.wait().unwrap().success(), "sh -c {cmd:?} failed");
    pid
}

/// The alert records about `pid`, in order.
pub fn alerts_for(records: &[Value], pid: u32) -> Vec<&Value> {
    records
        .iter()
        .filter(|r| r["record_type"] == "alert" && pid_of(r) == pid as u64)
        .collect()
}

/// The `rule.id` of each of `alerts`.
pub fn rule_ids(alerts: &[&Value]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| get(a, "rule.id").as_str().unwrap().to_string())
        .collect()
}

/// `rand-guard rules test --rules-dir RULES --events (records)` with
/// `args` and no configuration: the alert records it prints.
pub fn rules_test(rules: &Path, records: &[Value], args: &[&str]) -> Vec<Value> {
    let recorded = rules.join("recorded.jsonl");
    let lines: Vec<String> = records.iter().map(Value::to_string).collect();
    fs::write(&recorded, lines.join("\n")).unwrap();
    let replay = Command::new(AGENT)
        .args(["rules", "test", "--rules-dir"])
        .arg(rules)
        .arg("--events")
        .arg(&recorded)
        .args(["--config", "/dev/null"])
        .args(args)
        .output()
        .unwrap();
    let _ = fs::remove_file(&recorded);
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    String::from_utf8(replay.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A name unique to this test run and tag, for files the test creates.
pub fn unique(tag: &str) -> String {
    format!("rg-test-{tag}-{}", std::process::id())
}

/// A directory only one test watches, holding one file: the test's own
/// workload is chmods of that file, one `file_chmod` record each, and with
/// `[file]` from [`Marked::file_config`] every `file_chmod` record of the
/// agent is one of them, so per-kind counters in health are exact.
pub struct Marked {
    pub dir: PathBuf,
    pub file: PathBuf,
    flips: std::sync::atomic::AtomicUsize,
}

impl Marked {
    pub fn new(tag: &str) -> Marked {
        let dir = PathBuf::from(format!("/tmp/{}", unique(tag)));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("target");
        fs::write(&file, "x").unwrap();
        Marked {
            dir,
            file,
            flips: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The `[file]` table: this directory only, no detection-only
    /// prefixes.
    pub fn file_config(&self) -> String {
        format!(
            "[file]\ninclude = [\"{}\"]\ndetect_only = []\n",
            self.dir.display()
        )
    }

    /// `n` chmods of the file (alternating modes).
    pub fn chmod(&self, n: usize) {
        use std::os::unix::fs::PermissionsExt;
        for _ in 0..n {
            let i = self
                .flips
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mode = if i.is_multiple_of(2) { 0o600 } else { 0o640 };
            fs::set_permissions(&self.file, fs::Permissions::from_mode(mode)).unwrap();
        }
    }

    /// Chmod event records of the file among `records`.
    pub fn count(&self, records: &[Value]) -> u64 {
        let path = self.file.to_str().unwrap();
        records
            .iter()
            .filter(|r| {
                r["record_type"] == "event" && action(r) == "chmod" && get(r, "file.path") == path
            })
            .count() as u64
    }
}

impl Drop for Marked {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `event.sequence` of every event record, in order.
pub fn sequences(records: &[Value]) -> Vec<u64> {
    records
        .iter()
        .filter(|r| r["record_type"] == "event")
        .filter_map(|r| get(r, "event.sequence").as_u64())
        .collect()
}

/// A health counter by kind (`rand_guard.health.<name>.<kind>`), 0 when
/// absent.
pub fn by_kind(health: &Value, name: &str, kind: &str) -> u64 {
    health[name][kind].as_u64().unwrap_or(0)
}

/// An agent writing into a FIFO that a thread reads `pause`-slowly (4 KiB
/// at a time) until [`FifoAgent::fast`]: its output backs up into the
/// pipeline, the way a slow disk or a stuck collector would make it.
pub struct FifoAgent {
    pub child: Child,
    slow: Arc<std::sync::atomic::AtomicBool>,
    received: Arc<std::sync::atomic::AtomicU64>,
    reader: thread::JoinHandle<Vec<u8>>,
    stderr: thread::JoinHandle<Vec<String>>,
    _dir: tempfile::TempDir,
}

impl FifoAgent {
    /// Start `rand-guard run --config cfg` writing to a new FIFO in a
    /// temporary directory, and wait until it reports ready.
    pub fn start(cfg: &Path, pause: Duration) -> FifoAgent {
        use std::io::Read;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("out.fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let mut child = Command::new(AGENT)
            .args(["run", "--config"])
            .arg(cfg)
            .arg("--output")
            .arg(&fifo)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let slow = Arc::new(AtomicBool::new(true));
        let received = Arc::new(AtomicU64::new(0));
        let reader = {
            let (slow, received) = (slow.clone(), received.clone());
            thread::spawn(move || {
                let mut f = fs::File::open(&fifo).unwrap();
                let mut out = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    match f.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => out.extend_from_slice(&buf[..n]),
                        Err(e) => panic!("reading the agent's output: {e}"),
                    }
                    received.store(out.len() as u64, Ordering::Relaxed);
                    if slow.load(Ordering::Relaxed) {
                        thread::sleep(pause);
                    }
                }
                out
            })
        };
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut said = String::new();
        let deadline = Instant::now() + START_PATIENCE;
        loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("agent exited before ready:\n{said}"))
                .unwrap();
            if line.contains("rand-guard: ready") {
                break;
            }
            said.push_str(&line);
            said.push('\n');
            assert!(Instant::now() < deadline, "agent not ready:\n{said}");
        }
        let stderr = thread::spawn(move || lines.map_while(Result::ok).collect());
        FifoAgent {
            child,
            slow,
            received,
            reader,
            stderr,
            _dir: dir,
        }
    }

    /// From now on the reader reads as fast as it can.
    pub fn fast(&self) {
        self.slow.store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Bytes read from the FIFO so far.
    pub fn received(&self) -> u64 {
        self.received.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn sigterm(&self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
    }

    /// Wait for the agent to exit (after [`FifoAgent::sigterm`]).
    pub fn wait(&mut self) -> ExitStatus {
        self.child.wait().unwrap()
    }

    /// After [`FifoAgent::wait`]: the records it wrote (every line parsed)
    /// and what it said on stderr after "ready".
    pub fn output(self) -> (Vec<Value>, String) {
        let out = self.reader.join().unwrap();
        let stderr = self.stderr.join().unwrap().join("\n");
        let records = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (records, stderr)
    }
}
pub mod rsyslog;
