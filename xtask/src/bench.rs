//! `cargo run -p xtask -- bench`: workloads run without and with the agent,
//! as A/B pairs in one run, so the ratio (not the absolute time) is the
//! result. See docs/benchmarks.md for the method and the latest numbers.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Options from the command line.
pub struct Options {
    pub iterations: usize,
    pub pairs: usize,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = Options {
            iterations: 100_000,
            pairs: 5,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut num = |name: &str| -> Result<usize, String> {
                it.next()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("{name} needs a number"))
            };
            match a.as_str() {
                "--iterations" => o.iterations = num("--iterations")?,
                "--pairs" => o.pairs = num("--pairs")?,
                other => return Err(format!("unknown bench option `{other}`")),
            }
        }
        Ok(o)
    }
}

/// What one run of a workload cost: wall clock, and the CPU time (user +
/// system) of this process, which includes the kernel-side tracing cost
/// but not I/O waits, so it is the steadier measure on a noisy machine.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    pub wall: Duration,
    pub cpu: Duration,
}

fn self_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a rusage; RUSAGE_SELF is always valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The file storm: create + write 4 KiB + close + unlink, `n` times, in `dir`.
pub fn file_storm(dir: &Path, n: usize) -> Cost {
    fs::create_dir_all(dir).expect("bench directory");
    let block = [0x5au8; 4096];
    let names: Vec<PathBuf> = (0..1024).map(|i| dir.join(format!("f{i}"))).collect();
    let (start, cpu0) = (Instant::now(), self_cpu());
    for i in 0..n {
        let p = &names[i % names.len()];
        let mut f = fs::File::create(p).expect("create");
        f.write_all(&block).expect("write");
        drop(f);
        fs::remove_file(p).expect("unlink");
    }
    Cost {
        wall: start.elapsed(),
        cpu: self_cpu() - cpu0,
    }
}

/// A running agent writing to a file.
pub struct Agent {
    child: Child,
    pub out: PathBuf,
}

impl Agent {
    pub fn start(bin: &Path, config: &str, dir: &Path) -> Agent {
        fs::create_dir_all(dir).unwrap();
        let cfg = dir.join("config.toml");
        let out = dir.join("out.jsonl");
        let _ = fs::remove_file(&out);
        fs::write(&cfg, config).unwrap();
        let mut child = Command::new(bin)
            .args(["run", "--config"])
            .arg(&cfg)
            .arg("--output")
            .arg(&out)
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
        Agent { child, out }
    }

    /// SIGTERM, wait, and return the final health record's `rand_guard.health`.
    pub fn stop(mut self) -> serde_json::Value {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("wait for the agent");
        assert!(status.success(), "agent exited with {status}");
        let text = fs::read_to_string(&self.out).expect("agent output");
        let last = text.lines().last().expect("no output");
        let v: serde_json::Value = serde_json::from_str(last).expect("health JSON");
        assert_eq!(v["record_type"], "health", "last line is not health");
        v["rand_guard"]["health"].clone()
    }

    pub fn cpu_seconds(&self) -> f64 {
        proc_cpu_seconds(self.child.id())
    }
}

/// utime + stime of a process, from /proc/PID/stat.
pub fn proc_cpu_seconds(pid: u32) -> f64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
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
    (ticks(11) + ticks(12)) / 100.0
}

fn sum(health: &serde_json::Value, counter: &str) -> u64 {
    health[counter]
        .as_object()
        .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Results of one workload.
pub struct FileResult {
    pub label: &'static str,
    /// with / without, per pair: wall clock and workload CPU time.
    pub ratios: Vec<f64>,
    pub cpu_ratios: Vec<f64>,
    pub base_ms: Vec<f64>,
    pub agent_ms: Vec<f64>,
    pub events: u64,
    pub drops: u64,
    pub filtered: u64,
    pub agent_cpu: f64,
}

/// Run the file storm in `dir`, `pairs` times without and with the agent.
pub fn file_pairs(
    bin: &Path,
    label: &'static str,
    dir: &Path,
    o: &Options,
    work: &Path,
) -> FileResult {
    let config = "[kernel]\nring_buffer_bytes = 16777216\n";
    let mut r = FileResult {
        label,
        ratios: Vec::new(),
        cpu_ratios: Vec::new(),
        base_ms: Vec::new(),
        agent_ms: Vec::new(),
        events: 0,
        drops: 0,
        filtered: 0,
        agent_cpu: 0.0,
    };
    // Warm up caches and the directory once.
    file_storm(dir, o.iterations / 10);
    for pair in 0..o.pairs {
        let base = file_storm(dir, o.iterations);
        let agent = Agent::start(bin, config, work);
        // CPU spent during the workload only (not loading the programs).
        let cpu0 = agent.cpu_seconds();
        let with = file_storm(dir, o.iterations);
        let cpu = agent.cpu_seconds() - cpu0;
        let h = agent.stop();
        let ratio = with.wall.as_secs_f64() / base.wall.as_secs_f64();
        let cpu_ratio = with.cpu.as_secs_f64() / base.cpu.as_secs_f64();
        eprintln!(
            "bench: {label} pair {}/{}: wall {:.0} -> {:.0} ms ({ratio:.3}), workload CPU {:.0} -> {:.0} ms ({cpu_ratio:.3})",
            pair + 1,
            o.pairs,
            base.wall.as_secs_f64() * 1e3,
            with.wall.as_secs_f64() * 1e3,
            base.cpu.as_secs_f64() * 1e3,
            with.cpu.as_secs_f64() * 1e3,
        );
        r.ratios.push(ratio);
        r.cpu_ratios.push(cpu_ratio);
        r.base_ms.push(base.wall.as_secs_f64() * 1e3);
        r.agent_ms.push(with.wall.as_secs_f64() * 1e3);
        r.events += h["events_output_total"].as_u64().unwrap_or(0);
        r.drops += sum(&h, "kernel_ringbuf_drops_total");
        r.filtered += sum(&h, "kernel_filtered_total");
        r.agent_cpu += cpu;
    }
    let _ = fs::remove_dir_all(dir);
    r
}

pub fn report(results: &[FileResult], o: &Options) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "| workload ({} iterations, {} A/B pairs) | wall without / with (median ms) | wall ratio median (min..max) | workload CPU ratio median (min..max) | events out | ring-buffer drops | kernel-filtered | agent CPU s |\n",
        o.iterations, o.pairs
    ));
    s.push_str("|---|---|---|---|---|---|---|---|\n");
    let spread = |v: &[f64]| {
        let min = v.iter().cloned().fold(f64::MAX, f64::min);
        let max = v.iter().cloned().fold(0.0, f64::max);
        format!("{:.3} ({min:.3}..{max:.3})", median(v.to_vec()))
    };
    for r in results {
        s.push_str(&format!(
            "| {} | {:.0} / {:.0} | {} | {} | {} | {} | {} | {:.2} |\n",
            r.label,
            median(r.base_ms.clone()),
            median(r.agent_ms.clone()),
            spread(&r.ratios),
            spread(&r.cpu_ratios),
            r.events,
            r.drops,
            r.filtered,
            r.agent_cpu
        ));
    }
    s
}
