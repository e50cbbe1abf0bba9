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
    /// Run one group of workloads only: syscall, files or reads.
    pub only: Option<String>,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = Options {
            iterations: 100_000,
            pairs: 5,
            only: None,
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
                "--only" => match it.next().map(String::as_str) {
                    Some(w @ ("syscall" | "files" | "reads")) => o.only = Some(w.to_string()),
                    _ => return Err("--only needs syscall, files or reads".into()),
                },
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

/// Chunks each measurement is split into: the cheapest chunk's cost per
/// iteration is the estimate, which throws away the noise this machine's
/// neighbours add (interrupts, steal, I/O stalls) rather than averaging it in.
pub const CHUNKS: usize = 5;

/// `file_storm` in CHUNKS chunks; the cheapest chunk, scaled to `n`.
pub fn file_storm_min(dir: &Path, n: usize) -> Cost {
    let per = (n / CHUNKS).max(1);
    let runs: Vec<Cost> = (0..CHUNKS).map(|_| file_storm(dir, per)).collect();
    let scale = |d: Duration| d * CHUNKS as u32;
    Cost {
        wall: scale(runs.iter().map(|c| c.wall).min().unwrap()),
        cpu: scale(runs.iter().map(|c| c.cpu).min().unwrap()),
    }
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

/// `read_storm` in CHUNKS chunks; the cheapest chunk, scaled to `n`.
pub fn read_storm_min(file: &Path, n: usize) -> Cost {
    let per = (n / CHUNKS).max(1);
    let runs: Vec<Cost> = (0..CHUNKS).map(|_| read_storm(file, per)).collect();
    let scale = |d: Duration| d * CHUNKS as u32;
    Cost {
        wall: scale(runs.iter().map(|c| c.wall).min().unwrap()),
        cpu: scale(runs.iter().map(|c| c.cpu).min().unwrap()),
    }
}

/// The read storm: open `file` read-only (openat, O_RDONLY | O_CLOEXEC)
/// and close it, `n` times. Nothing is read: the open is what is measured.
pub fn read_storm(file: &Path, n: usize) -> Cost {
    let (start, cpu0) = (Instant::now(), self_cpu());
    for _ in 0..n {
        drop(fs::File::open(file).expect("open for reading"));
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

/// A cheap syscall in a loop: what the tracing slow path costs every
/// syscall of every process once any syscall tracepoint is attached.
pub fn syscall_storm(n: usize) -> Cost {
    let run = |n: usize| {
        let (start, cpu0) = (Instant::now(), self_cpu());
        for _ in 0..n {
            // SAFETY: getppid has no arguments and cannot fail.
            unsafe { libc::syscall(libc::SYS_getppid) };
        }
        Cost {
            wall: start.elapsed(),
            cpu: self_cpu() - cpu0,
        }
    };
    let per = (n / CHUNKS).max(1);
    let runs: Vec<Cost> = (0..CHUNKS).map(|_| run(per)).collect();
    let scale = |d: Duration| d * CHUNKS as u32;
    Cost {
        wall: scale(runs.iter().map(|c| c.wall).min().unwrap()),
        cpu: scale(runs.iter().map(|c| c.cpu).min().unwrap()),
    }
}

/// Results of one workload.
pub struct Outcome {
    pub label: String,
    /// Operations per run (file storm iterations, syscalls).
    pub ops: usize,
    /// with / without, per pair: wall clock and workload CPU time.
    pub ratios: Vec<f64>,
    pub cpu_ratios: Vec<f64>,
    pub base: Vec<Duration>,
    pub with: Vec<Duration>,
    pub events: u64,
    pub drops: u64,
    pub filtered: u64,
    pub agent_cpu: f64,
    /// From one extra run with kernel.bpf_stats_enabled=1: mean ns per run
    /// of each program that ran, and how many runs.
    pub per_run_ns: Vec<(String, f64, u64)>,
}

/// The agent's configuration in the benchmarks: the defaults (with the
/// default `[file] watch_reads` list) and a 16 MiB ring buffer.
pub const AGENT_CONFIG: &str = "[kernel]\nring_buffer_bytes = 16777216\n";

fn set_bpf_stats(on: bool) {
    let _ = fs::write(
        "/proc/sys/kernel/bpf_stats_enabled",
        if on { "1" } else { "0" },
    );
}

/// Run `work` `pairs` times without and with the agent, then once more
/// with the kernel's per-program statistics on.
pub fn pairs(
    bin: &Path,
    label: &str,
    ops: usize,
    o: &Options,
    scratch: &Path,
    work: &dyn Fn() -> Cost,
) -> Outcome {
    let mut r = Outcome {
        label: label.to_string(),
        ops,
        ratios: Vec::new(),
        cpu_ratios: Vec::new(),
        base: Vec::new(),
        with: Vec::new(),
        events: 0,
        drops: 0,
        filtered: 0,
        agent_cpu: 0.0,
        per_run_ns: Vec::new(),
    };
    work(); // warm up
    for pair in 0..o.pairs {
        let base = work();
        let agent = Agent::start(bin, AGENT_CONFIG, scratch);
        // CPU spent during the workload only (not loading the programs).
        let cpu0 = agent.cpu_seconds();
        let with = work();
        let cpu = agent.cpu_seconds() - cpu0;
        let h = agent.stop();
        let ratio = with.wall.as_secs_f64() / base.wall.as_secs_f64();
        let cpu_ratio = with.cpu.as_secs_f64() / base.cpu.as_secs_f64();
        eprintln!(
            "bench: {label} pair {}/{}: wall {:.1} -> {:.1} ms ({ratio:.3}), workload CPU {:.1} -> {:.1} ms ({cpu_ratio:.3})",
            pair + 1,
            o.pairs,
            base.wall.as_secs_f64() * 1e3,
            with.wall.as_secs_f64() * 1e3,
            base.cpu.as_secs_f64() * 1e3,
            with.cpu.as_secs_f64() * 1e3,
        );
        r.ratios.push(ratio);
        r.cpu_ratios.push(cpu_ratio);
        r.base.push(base.wall);
        r.with.push(with.wall);
        r.events += h["events_output_total"].as_u64().unwrap_or(0);
        r.drops += sum(&h, "kernel_ringbuf_drops_total");
        r.filtered += sum(&h, "kernel_filtered_total");
        r.agent_cpu += cpu;
    }
    // The per-program cost: separately, as counting adds its own overhead.
    let agent = Agent::start(bin, AGENT_CONFIG, scratch);
    set_bpf_stats(true);
    work();
    // Let the agent publish the counts (once a second) before it stops.
    std::thread::sleep(Duration::from_millis(1200));
    set_bpf_stats(false);
    let h = agent.stop();
    if let Some(progs) = h["bpf_programs"].as_object() {
        for (name, p) in progs {
            let n = p["run_count_total"].as_u64().unwrap_or(0);
            let t = p["run_time_ns_total"].as_u64().unwrap_or(0);
            if n > 0 {
                r.per_run_ns.push((name.clone(), t as f64 / n as f64, n));
            }
        }
    }
    r
}

/// Results of one workload run with no agent, and with the agent under
/// two configurations (`a`, the reference, and `b`).
pub struct AbOutcome {
    pub label: String,
    pub ops: usize,
    pub a_name: String,
    pub b_name: String,
    pub none: Vec<Cost>,
    pub a: Vec<Cost>,
    pub b: Vec<Cost>,
    /// Mean BPF ns per run of each program that ran, under a and under b.
    pub per_run_ns_a: Vec<(String, f64, u64)>,
    pub per_run_ns_b: Vec<(String, f64, u64)>,
}

fn per_run_ns(
    bin: &Path,
    config: &str,
    scratch: &Path,
    work: &dyn Fn() -> Cost,
) -> Vec<(String, f64, u64)> {
    let agent = Agent::start(bin, config, scratch);
    set_bpf_stats(true);
    work();
    // Let the agent publish the counts (once a second) before it stops.
    std::thread::sleep(Duration::from_millis(1200));
    set_bpf_stats(false);
    let h = agent.stop();
    let mut out = Vec::new();
    if let Some(progs) = h["bpf_programs"].as_object() {
        for (name, p) in progs {
            let n = p["run_count_total"].as_u64().unwrap_or(0);
            let t = p["run_time_ns_total"].as_u64().unwrap_or(0);
            if n > 0 {
                out.push((name.clone(), t as f64 / n as f64, n));
            }
        }
    }
    out
}

/// Run `work` `pairs` times with no agent, with the agent under config
/// `a` and under config `b` (a and b alternate which goes first, so a
/// drift in the machine's speed does not favour one), then once more under
/// each with the kernel's per-program statistics on.
#[allow(clippy::too_many_arguments)]
pub fn ab(
    bin: &Path,
    label: &str,
    ops: usize,
    o: &Options,
    scratch: &Path,
    (a_name, a_cfg): (&str, &str),
    (b_name, b_cfg): (&str, &str),
    work: &dyn Fn() -> Cost,
) -> AbOutcome {
    let mut r = AbOutcome {
        label: label.to_string(),
        ops,
        a_name: a_name.to_string(),
        b_name: b_name.to_string(),
        none: Vec::new(),
        a: Vec::new(),
        b: Vec::new(),
        per_run_ns_a: Vec::new(),
        per_run_ns_b: Vec::new(),
    };
    let with = |cfg: &str| {
        let agent = Agent::start(bin, cfg, scratch);
        let c = work();
        agent.stop();
        c
    };
    work(); // warm up
    for pair in 0..o.pairs {
        let none = work();
        let (a, b) = if pair % 2 == 0 {
            let a = with(a_cfg);
            (a, with(b_cfg))
        } else {
            let b = with(b_cfg);
            (with(a_cfg), b)
        };
        let ms = |c: &Cost| c.wall.as_secs_f64() * 1e3;
        eprintln!(
            "bench: {label} round {}/{}: wall no agent {:.1} ms, {a_name} {:.1} ms, {b_name} {:.1} ms ({b_name} / {a_name} {:.3})",
            pair + 1,
            o.pairs,
            ms(&none),
            ms(&a),
            ms(&b),
            b.wall.as_secs_f64() / a.wall.as_secs_f64(),
        );
        r.none.push(none);
        r.a.push(a);
        r.b.push(b);
    }
    r.per_run_ns_a = per_run_ns(bin, a_cfg, scratch, work);
    r.per_run_ns_b = per_run_ns(bin, b_cfg, scratch, work);
    r
}

pub fn report_ab(results: &[AbOutcome], o: &Options) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "| workload ({} rounds, cheapest of {CHUNKS} chunks each) | per op (median): no agent / A / B | B ÷ A wall, median (min..max) | B ÷ A workload CPU, median (min..max) | A ÷ no agent, wall median | BPF ns per program run (runs): A / B |\n",
        o.pairs
    ));
    s.push_str("|---|---|---|---|---|---|\n");
    let ratio = |x: &[Cost], y: &[Cost], cpu: bool| -> Vec<f64> {
        x.iter()
            .zip(y)
            .map(|(x, y)| {
                if cpu {
                    x.cpu.as_secs_f64() / y.cpu.as_secs_f64()
                } else {
                    x.wall.as_secs_f64() / y.wall.as_secs_f64()
                }
            })
            .collect()
    };
    let spread = |v: &[f64]| {
        let min = v.iter().cloned().fold(f64::MAX, f64::min);
        let max = v.iter().cloned().fold(0.0, f64::max);
        format!("{:.3} ({min:.3}..{max:.3})", median(v.to_vec()))
    };
    let per_op = |v: &[Cost], ops: usize| {
        median(
            v.iter()
                .map(|c| c.wall.as_secs_f64() * 1e9 / ops as f64)
                .collect(),
        )
    };
    let progs = |v: &[(String, f64, u64)]| {
        v.iter()
            .map(|(n, ns, runs)| format!("{n}: {ns:.0} ({runs})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for r in results {
        s.push_str(&format!(
            "| {} (A: {}, B: {}) | {:.0} / {:.0} / {:.0} ns | {} | {} | {:.3} | {} / {} |\n",
            r.label,
            r.a_name,
            r.b_name,
            per_op(&r.none, r.ops),
            per_op(&r.a, r.ops),
            per_op(&r.b, r.ops),
            spread(&ratio(&r.b, &r.a, false)),
            spread(&ratio(&r.b, &r.a, true)),
            median(ratio(&r.a, &r.none, false)),
            progs(&r.per_run_ns_a),
            progs(&r.per_run_ns_b),
        ));
    }
    s
}

pub fn report(results: &[Outcome], o: &Options) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "| workload ({} A/B pairs, cheapest of {CHUNKS} chunks each) | without / with, per op (median) | wall ratio median (min..max) | workload CPU ratio median (min..max) | events out | ring-buffer drops | kernel-filtered | agent CPU s | BPF ns per program run (runs) |\n",
        o.pairs
    ));
    s.push_str("|---|---|---|---|---|---|---|---|---|\n");
    let spread = |v: &[f64]| {
        let min = v.iter().cloned().fold(f64::MAX, f64::min);
        let max = v.iter().cloned().fold(0.0, f64::max);
        format!("{:.3} ({min:.3}..{max:.3})", median(v.to_vec()))
    };
    let per_op = |v: &[Duration], ops: usize| {
        median(
            v.iter()
                .map(|d| d.as_secs_f64() * 1e9 / ops as f64)
                .collect(),
        )
    };
    for r in results {
        let progs: Vec<String> = r
            .per_run_ns
            .iter()
            .map(|(n, ns, runs)| format!("{n}: {ns:.0} ({runs})"))
            .collect();
        s.push_str(&format!(
            "| {} | {:.0} / {:.0} ns | {} | {} | {} | {} | {} | {:.2} | {} |\n",
            r.label,
            per_op(&r.base, r.ops),
            per_op(&r.with, r.ops),
            spread(&r.ratios),
            spread(&r.cpu_ratios),
            r.events,
            r.drops,
            r.filtered,
            r.agent_cpu,
            progs.join(", ")
        ));
    }
    s
}
