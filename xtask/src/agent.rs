//! The agent under measurement: the release binary started with a given
//! configuration, writing JSON lines to a file, and what can be read about
//! it from outside (CPU time, peak RSS) and from its health records.

use std::fs;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running agent writing to a file.
pub struct Agent {
    child: Child,
    pub out: PathBuf,
}

impl Agent {
    /// Start the agent with `config` (written to `dir/config.toml`),
    /// output to `dir/out.jsonl`; returns once it says it is ready.
    pub fn start(bin: &Path, config: &str, dir: &Path) -> Agent {
        Agent::start_with_output(bin, config, dir, &dir.join("out.jsonl"))
    }

    /// As [`Agent::start`], with the output file `out`.
    pub fn start_with_output(bin: &Path, config: &str, dir: &Path, out: &Path) -> Agent {
        fs::create_dir_all(dir).unwrap();
        let cfg = dir.join("config.toml");
        let _ = fs::remove_file(out);
        fs::write(&cfg, config).unwrap();
        let mut child = Command::new(bin)
            .args(["run", "--config"])
            .arg(&cfg)
            .arg("--output")
            .arg(out)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the agent");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        loop {
            match lines.next() {
                Some(Ok(l)) if l.contains("rand-guard: ready") => break,
                Some(Ok(_)) => {}
                _ => panic!("agent exited before it was ready"),
            }
        }
        // Keep draining stderr so the agent never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Agent {
            child,
            out: out.to_path_buf(),
        }
    }

    /// SIGTERM, wait, and return the final health record's `rand_guard.health`.
    pub fn stop(mut self) -> serde_json::Value {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("wait for the agent");
        assert!(status.success(), "agent exited with {status}");
        let last = last_line(&self.out).expect("no output");
        let v: serde_json::Value = serde_json::from_str(&last).expect("health JSON");
        assert_eq!(v["record_type"], "health", "last line is not health");
        v["rand_guard"]["health"].clone()
    }

    pub fn cpu_seconds(&self) -> f64 {
        proc_cpu_seconds(self.child.id())
    }

    /// utime + stime of the agent's threads named `comm` (its thread
    /// names: `forward`, `writer`, ...), from /proc/PID/task/*/stat.
    pub fn thread_cpu_seconds(&self, comm: &str) -> f64 {
        let pid = self.child.id();
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
            return 0.0;
        };
        tasks
            .flatten()
            .filter(|t| {
                fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == comm)
            })
            .map(|t| stat_cpu_seconds(&t.path().join("stat")))
            .sum()
    }

    /// Peak resident set size so far (VmHWM), bytes.
    pub fn peak_rss_bytes(&self) -> u64 {
        proc_status_kib(self.child.id(), "VmHWM:") * 1024
    }
}

/// The last line of a file, read from its end: the output of a storm can
/// be hundreds of MB, and only the final health record is wanted.
fn last_line(path: &Path) -> Option<String> {
    let mut f = fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    // A health record is ~2 KiB; 64 KiB leaves room for a long one.
    let start = len.saturating_sub(64 * 1024);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut tail = String::new();
    f.read_to_string(&mut tail).ok()?;
    tail.lines().last().map(str::to_string)
}

/// Every health record in an output file, in order (`rand_guard.health`
/// plus the record's `@timestamp`), without parsing the event lines.
pub fn health_records(path: &Path) -> Vec<(String, serde_json::Value)> {
    let Ok(f) = fs::File::open(path) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in BufReader::new(f).lines().map_while(Result::ok) {
        // A cheap substring test skips the event lines: inside an event's
        // string values a quote is escaped, so only a health record has it.
        if !line.contains("\"record_type\":\"health\"") {
            continue;
        }
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
            let ts = v["@timestamp"].as_str().unwrap_or_default().to_string();
            out.push((ts, v["rand_guard"]["health"].clone()));
        }
    }
    out
}

/// Agents already running on this machine (someone else's test, an
/// installed service): their BPF programs tax both sides of every A/B
/// pair, so a measurement beside them is not clean.
pub fn others_running() -> Vec<(u32, String)> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<(u32, String)> = rd
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let comm = fs::read_to_string(e.path().join("comm")).ok()?;
            if comm.trim() != "rand-guard" {
                return None;
            }
            let cmd = fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            Some((pid, cmd.trim().to_string()))
        })
        .collect();
    out.sort();
    out
}

/// Warn on stderr about anything that makes this machine's numbers
/// unclean, and describe the conditions in one line for the results: the
/// load average and any other agent.
pub fn check_conditions(who: &str) -> String {
    let others = others_running();
    for (pid, cmd) in &others {
        eprintln!(
            "{who}: WARNING: another agent is running (pid {pid}: {cmd}): its programs slow \
             both sides of every A/B pair"
        );
    }
    let taint = crate::auditd::tainted_this_boot();
    if let Some(why) = &taint {
        eprintln!(
            "{who}: WARNING: {why}: every process pays the audit syscall path until reboot; \
             these numbers are not comparable with a clean boot's"
        );
    }
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let mut s = format!("load average {}", load.join(" "));
    s.push_str(&match others.len() {
        0 => ", no other agent".to_string(),
        n => format!(", {n} other agent(s) running"),
    });
    if let Some(why) = taint {
        s.push_str(&format!(", {why}"));
    }
    s
}

/// utime + stime of a process, from /proc/PID/stat.
pub fn proc_cpu_seconds(pid: u32) -> f64 {
    stat_cpu_seconds(Path::new(&format!("/proc/{pid}/stat")))
}

/// utime + stime from a process's or a thread's `stat` file.
fn stat_cpu_seconds(path: &Path) -> f64 {
    let stat = fs::read_to_string(path).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15; after ')' field 3 is index 0.
    // USER_HZ is 100 on every Linux architecture the agent supports.
    (ticks(11) + ticks(12)) / 100.0
}

/// A "Key:  N kB" line of /proc/PID/status, in KiB (0 when absent).
pub fn proc_status_kib(pid: u32, key: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Sum of a per-kind (or per-stage) counter object of a health record.
pub fn sum(health: &serde_json::Value, counter: &str) -> u64 {
    health[counter]
        .as_object()
        .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_lines_are_picked_out() {
        let dir = std::env::temp_dir().join(format!("xtask-agent-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("out.jsonl");
        fs::write(
            &p,
            concat!(
                "{\"@timestamp\":\"2026-11-28T08:00:00Z\",\"schema_version\":1,\"record_type\":\"event\"}\n",
                "{\"@timestamp\":\"2026-11-28T08:00:01Z\",\"schema_version\":1,\"record_type\":\"health\",",
                "\"rand_guard\":{\"health\":{\"events_output_total\":5,",
                "\"kernel_ringbuf_drops_total\":{\"exec\":1,\"file_open\":2}}}}\n",
            ),
        )
        .unwrap();
        let h = health_records(&p);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].0, "2026-11-28T08:00:01Z");
        assert_eq!(h[0].1["events_output_total"], 5);
        assert_eq!(sum(&h[0].1, "kernel_ringbuf_drops_total"), 3);
        assert!(last_line(&p).unwrap().contains("health"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn own_process_is_readable() {
        let me = std::process::id();
        assert!(proc_status_kib(me, "VmHWM:") > 0);
        assert!(proc_cpu_seconds(me) >= 0.0);
    }
}
