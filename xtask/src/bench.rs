//! `cargo run -p xtask -- bench`: workloads run without and with the agent,
//! as A/B pairs in one run, so the ratio (not the absolute time) is the
//! result; the agent's cost at a paced exec rate; the userspace pipeline
//! alone (benches/pipeline.rs); optionally the same workloads beside
//! auditd. See docs/benchmarks.md for the method and the latest numbers.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::agent::{self, Agent};
use crate::auditd;
use crate::workload::{self, CHUNKS, Cost};
use crate::xattr;

/// The workloads, by the names `--only` takes.
pub const WORKLOADS: &[&str] = &[
    "syscall",
    "file-outside",
    "file-inside",
    "file-tmp",
    "exec",
    "xattr-outside",
    "xattr-remove",
    "exec-paced",
    "exec-rss",
    "exec-hash",
    "pipeline",
    "reads",
    "net",
    "dns",
];

/// Options from the command line.
pub struct Options {
    /// File storm iterations (the getppid loop runs 10 × this).
    pub iterations: usize,
    pub pairs: usize,
    /// fork + exec of /bin/true in the exec storm.
    pub execs: usize,
    /// The paced exec workload: execs per second, for this many seconds.
    pub exec_rate: f64,
    pub exec_seconds: f64,
    /// Loopback TCP connections in the connect storm.
    pub connects: usize,
    /// Only these workloads (names from WORKLOADS); all when None.
    pub only: Option<Vec<String>>,
    /// Also run the workloads beside auditd (see auditd.rs).
    pub auditd: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = Options {
            iterations: 100_000,
            pairs: 5,
            execs: 20_000,
            exec_rate: 1600.0,
            exec_seconds: 10.0,
            connects: 20_000,
            only: None,
            auditd: false,
        };
        let mut consent = false;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| -> Result<&String, String> {
                it.next().ok_or_else(|| format!("{name} needs a value"))
            };
            let num = |name: &str, v: &String| -> Result<f64, String> {
                v.parse::<f64>()
                    .ok()
                    .filter(|x| *x > 0.0)
                    .ok_or_else(|| format!("{name} needs a positive number, not `{v}`"))
            };
            match a.as_str() {
                "--iterations" => o.iterations = num(a, value(a)?)? as usize,
                "--pairs" => o.pairs = num(a, value(a)?)? as usize,
                "--execs" => o.execs = num(a, value(a)?)? as usize,
                "--exec-rate" => o.exec_rate = num(a, value(a)?)?,
                "--exec-seconds" => o.exec_seconds = num(a, value(a)?)?,
                "--connects" => o.connects = num(a, value(a)?)? as usize,
                "--only" => {
                    let mut list: Vec<String> = Vec::new();
                    for w in value(a)?.split(',') {
                        // `files`: the three file storms (the name main's
                        // --only used for them).
                        if w == "files" {
                            list.extend([
                                "file-outside".into(),
                                "file-inside".into(),
                                "file-tmp".into(),
                            ]);
                        } else {
                            list.push(w.to_string());
                        }
                    }
                    if let Some(bad) = list.iter().find(|w| !WORKLOADS.contains(&w.as_str())) {
                        return Err(format!(
                            "--only: unknown workload `{bad}` (known: {})",
                            WORKLOADS.join(", ")
                        ));
                    }
                    o.only = Some(list);
                }
                "--auditd" => o.auditd = true,
                auditd::CONSENT_FLAG => consent = true,
                other => return Err(format!("unknown bench option `{other}`")),
            }
        }
        if o.pairs == 0 || o.iterations < CHUNKS || o.execs < CHUNKS || o.connects < CHUNKS {
            return Err(format!(
                "--pairs must be at least 1, --iterations, --execs and --connects at least {CHUNKS}"
            ));
        }
        if o.auditd && !consent {
            return Err(format!(
                "--auditd refuses to run without {}: once audit has been enabled in a boot, \
                 every process started afterwards pays the audit syscall path until reboot, \
                 which slows this machine for everyone and spoils every later measurement. \
                 Run it last in a boot, on a machine nobody else is measuring on.",
                auditd::CONSENT_FLAG
            ));
        }
        if consent && !o.auditd {
            return Err(format!("{} only goes with --auditd", auditd::CONSENT_FLAG));
        }
        Ok(o)
    }

    pub fn wants(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|l| l.iter().any(|w| w == name))
    }
}

/// One A/B workload: a name for `--only`, a label for the table, the
/// operations per run and the run itself.
pub struct Workload<'a> {
    pub name: &'static str,
    pub label: String,
    pub ops: usize,
    pub work: Box<dyn Fn() -> Cost + 'a>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn spread(v: &[f64], digits: usize) -> String {
    if v.is_empty() {
        return "—".into();
    }
    let min = v.iter().cloned().fold(f64::MAX, f64::min);
    let max = v.iter().cloned().fold(f64::MIN, f64::max);
    format!(
        "{:.d$} ({min:.d$}..{max:.d$})",
        median(v.to_vec()),
        d = digits
    )
}

/// Results of one workload.
pub struct Outcome {
    pub name: &'static str,
    pub label: String,
    /// Operations per run (file storm iterations, syscalls, execs).
    pub ops: usize,
    /// with / without, per pair: wall clock and workload CPU time.
    pub ratios: Vec<f64>,
    pub cpu_ratios: Vec<f64>,
    /// Per pair, without the agent: wall and CPU (for the auditd ratios,
    /// which cannot be paired; see auditd.rs).
    pub base: Vec<Duration>,
    pub base_cpu: Vec<Duration>,
    pub with: Vec<Duration>,
    /// Real wall time of the with-agent runs, all pairs.
    pub with_elapsed: Duration,
    pub events: u64,
    pub drops: u64,
    pub channel_drops: u64,
    pub filtered: u64,
    pub agent_cpu: f64,
    /// Highest VmHWM of the agent over the pairs, bytes.
    pub peak_rss: u64,
    /// From one extra run with kernel.bpf_stats_enabled=1: mean ns per run
    /// of each program that ran, and how many runs.
    pub per_run_ns: Vec<(String, f64, u64)>,
}

/// The A/B agent configuration: defaults with a 16 MiB ring buffer, so the
/// storms measure the agent's cost, not a ring sized for everyday load.
pub const AGENT_CONFIG: &str = "[kernel]\nring_buffer_bytes = 16777216\n";

fn set_bpf_stats(on: bool) {
    let _ = fs::write(
        "/proc/sys/kernel/bpf_stats_enabled",
        if on { "1" } else { "0" },
    );
}

/// The agent's CPU seconds once it has caught up with the workload's
/// events: it polls every 100 ms and may still be writing a backlog when
/// the workload ends, so wait until a 100 ms step adds no CPU tick (at
/// most 3 s; an idle agent adds none).
fn settled_cpu(agent: &Agent) -> f64 {
    let mut last = agent.cpu_seconds();
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(100));
        let now = agent.cpu_seconds();
        if now - last < 0.005 {
            return now;
        }
        last = now;
    }
    last
}

/// Run the workload `pairs` times without and with the agent, then once
/// more with the kernel's per-program statistics on.
pub fn pairs(bin: &Path, w: &Workload, o: &Options, scratch: &Path) -> Outcome {
    let label = &w.label;
    let mut r = Outcome {
        name: w.name,
        label: label.clone(),
        ops: w.ops,
        ratios: Vec::new(),
        cpu_ratios: Vec::new(),
        base: Vec::new(),
        base_cpu: Vec::new(),
        with: Vec::new(),
        with_elapsed: Duration::ZERO,
        events: 0,
        drops: 0,
        channel_drops: 0,
        filtered: 0,
        agent_cpu: 0.0,
        peak_rss: 0,
        per_run_ns: Vec::new(),
    };
    (w.work)(); // warm up
    for pair in 0..o.pairs {
        // Odd pairs run with the agent first: neighbours' load that comes
        // and goes, and the agent's own after-effects (its output file in
        // the page cache, writeback), then fall on both sides alike.
        let agent_first = pair % 2 == 1;
        let mut base = None;
        if !agent_first {
            base = Some((w.work)());
        }
        let agent = Agent::start(bin, AGENT_CONFIG, scratch);
        // CPU spent during the workload only (not loading the programs).
        let cpu0 = agent.cpu_seconds();
        let with = (w.work)();
        let cpu = settled_cpu(&agent) - cpu0;
        r.peak_rss = r.peak_rss.max(agent.peak_rss_bytes());
        let h = agent.stop();
        let base = base.unwrap_or_else(|| (w.work)());
        let ratio = with.wall.as_secs_f64() / base.wall.as_secs_f64();
        let cpu_ratio = with.cpu.as_secs_f64() / base.cpu.as_secs_f64();
        eprintln!(
            "bench: {label} pair {}/{}{}: wall {:.1} -> {:.1} ms ({ratio:.3}), workload CPU {:.1} -> {:.1} ms ({cpu_ratio:.3})",
            pair + 1,
            o.pairs,
            if agent_first { " (agent first)" } else { "" },
            base.wall.as_secs_f64() * 1e3,
            with.wall.as_secs_f64() * 1e3,
            base.cpu.as_secs_f64() * 1e3,
            with.cpu.as_secs_f64() * 1e3,
        );
        r.ratios.push(ratio);
        r.cpu_ratios.push(cpu_ratio);
        r.base.push(base.wall);
        r.base_cpu.push(base.cpu);
        r.with.push(with.wall);
        r.with_elapsed += with.elapsed;
        r.events += h["events_output_total"].as_u64().unwrap_or(0);
        r.drops += agent::sum(&h, "kernel_ringbuf_drops_total");
        r.channel_drops += agent::sum(&h, "channel_full_drops_total");
        r.filtered += agent::sum(&h, "kernel_filtered_total");
        r.agent_cpu += cpu;
    }
    // The per-program cost: separately, as counting adds its own overhead.
    r.per_run_ns = per_run_ns(bin, AGENT_CONFIG, scratch, &*w.work);
    r
}

/// One more run of `work` beside the agent with `config`, with the
/// kernel's per-program statistics on: mean ns per run of each program
/// that ran, and how many runs.
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

fn programs(v: &[(String, f64, u64)]) -> String {
    if v.is_empty() {
        return "—".into();
    }
    v.iter()
        .map(|(n, ns, runs)| format!("{n}: {ns:.0} ({runs})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An agent configuration compared in an A/B group.
#[derive(Clone)]
pub struct Variant {
    pub name: String,
    pub config: String,
}

/// What the agent did over the with-agent runs of one variant.
#[derive(Default)]
pub struct AgentSide {
    pub costs: Vec<Cost>,
    /// Real wall time of the runs, all rounds.
    pub elapsed: Duration,
    pub events: u64,
    pub alerts: u64,
    pub drops: u64,
    pub channel_drops: u64,
    pub filtered: u64,
    pub agent_cpu: f64,
    /// The agent's CPU seconds of each run, for the spread.
    pub agent_cpu_runs: Vec<f64>,
    pub peak_rss: u64,
    pub per_run_ns: Vec<(String, f64, u64)>,
    /// Executed files hashed, answered from the hash cache, not hashed.
    pub hashes: (u64, u64, u64),
}

impl AgentSide {
    /// One run of `work` beside a fresh agent with `config`.
    fn run(&mut self, bin: &Path, config: &str, scratch: &Path, work: &dyn Fn() -> Cost) -> Cost {
        let agent = Agent::start(bin, config, scratch);
        let cpu0 = agent.cpu_seconds();
        let c = work();
        let cpu = settled_cpu(&agent) - cpu0;
        self.agent_cpu += cpu;
        self.agent_cpu_runs.push(cpu);
        self.peak_rss = self.peak_rss.max(agent.peak_rss_bytes());
        let h = agent.stop();
        self.costs.push(c);
        self.elapsed += c.elapsed;
        self.events += h["events_output_total"].as_u64().unwrap_or(0);
        self.alerts += h["alerts_output_total"].as_u64().unwrap_or(0);
        self.drops += agent::sum(&h, "kernel_ringbuf_drops_total");
        self.channel_drops += agent::sum(&h, "channel_full_drops_total");
        self.filtered += agent::sum(&h, "kernel_filtered_total");
        self.hashes.0 += h["hash_files_hashed_total"].as_u64().unwrap_or(0);
        self.hashes.1 += h["hash_cache_hits_total"].as_u64().unwrap_or(0);
        self.hashes.2 += agent::sum(&h, "hash_not_hashed_total");
        c
    }
}

/// One workload run with no agent and beside the agent in two
/// configurations: A (the reference) and B.
pub struct AbOutcome {
    pub label: String,
    pub ops: usize,
    pub a_name: String,
    pub b_name: String,
    pub none: Vec<Cost>,
    pub a: AgentSide,
    pub b: AgentSide,
}

/// Run `w` `o.pairs` rounds with no agent, beside the agent configured as
/// `a` and as `b`: even rounds in the order none, A, B, odd rounds B, A,
/// none, so a drift in the machine's speed falls on every side alike.
/// Then once more under each with the kernel's per-program statistics on.
pub fn ab(
    bin: &Path,
    w: &Workload,
    o: &Options,
    scratch: &Path,
    a: &Variant,
    b: &Variant,
) -> AbOutcome {
    let label = &w.label;
    let mut r = AbOutcome {
        label: label.clone(),
        ops: w.ops,
        a_name: a.name.clone(),
        b_name: b.name.clone(),
        none: Vec::new(),
        a: AgentSide::default(),
        b: AgentSide::default(),
    };
    (w.work)(); // warm up
    for round in 0..o.pairs {
        let (none, ca, cb) = if round % 2 == 0 {
            let none = (w.work)();
            let ca = r.a.run(bin, &a.config, scratch, &*w.work);
            (none, ca, r.b.run(bin, &b.config, scratch, &*w.work))
        } else {
            let cb = r.b.run(bin, &b.config, scratch, &*w.work);
            let ca = r.a.run(bin, &a.config, scratch, &*w.work);
            ((w.work)(), ca, cb)
        };
        let ms = |c: &Cost| c.wall.as_secs_f64() * 1e3;
        eprintln!(
            "bench: {label} round {}/{}{}: wall no agent {:.1} ms, {} {:.1} ms, {} {:.1} ms (B / A {:.3})",
            round + 1,
            o.pairs,
            if round % 2 == 1 { " (B, A, none)" } else { "" },
            ms(&none),
            a.name,
            ms(&ca),
            b.name,
            ms(&cb),
            cb.wall.as_secs_f64() / ca.wall.as_secs_f64(),
        );
        r.none.push(none);
    }
    r.a.per_run_ns = per_run_ns(bin, &a.config, scratch, &*w.work);
    r.b.per_run_ns = per_run_ns(bin, &b.config, scratch, &*w.work);
    r
}

/// Per round, x / y: wall clock, or the workload's CPU time.
fn ratios(x: &[Cost], y: &[Cost], cpu: bool) -> Vec<f64> {
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
}

/// The A/B/none table, then the agent's side for A and for B.
pub fn report_ab(results: &[AbOutcome], o: &Options) -> String {
    let mut s = format!(
        "| workload ({} rounds, cheapest of {CHUNKS} chunks each) | per op (median): no agent / A / B | B ÷ A wall, median (min..max) | B ÷ A workload CPU, median (min..max) | A ÷ no agent, wall median (min..max) | B ÷ no agent, wall median (min..max) | BPF ns per program run (runs): A / B |\n|---|---|---|---|---|---|---|\n",
        o.pairs
    );
    let per_op = |v: &[Cost], ops: usize| {
        median(
            v.iter()
                .map(|c| c.wall.as_secs_f64() * 1e9 / ops as f64)
                .collect(),
        )
    };
    for r in results {
        s.push_str(&format!(
            "| {} (A: {}, B: {}) | {:.0} / {:.0} / {:.0} ns | {} | {} | {} | {} | {} / {} |\n",
            r.label,
            r.a_name,
            r.b_name,
            per_op(&r.none, r.ops),
            per_op(&r.a.costs, r.ops),
            per_op(&r.b.costs, r.ops),
            spread(&ratios(&r.b.costs, &r.a.costs, false), 3),
            spread(&ratios(&r.b.costs, &r.a.costs, true), 3),
            spread(&ratios(&r.a.costs, &r.none, false), 3),
            spread(&ratios(&r.b.costs, &r.none, false), 3),
            programs(&r.a.per_run_ns),
            programs(&r.b.per_run_ns),
        ));
    }
    s.push_str(
        "\n| workload, agent configuration: the agent's side (all rounds) | events out | alerts out | events/s while the workload ran | agent CPU s | agent CPU s per 100k events | agent CPU µs per op, median (min..max) of runs | executed files hashed / cache hits / not hashed | ring-buffer + channel-full drops | kernel-filtered | peak agent RSS (VmHWM) |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        for (name, side) in [(&r.a_name, &r.a), (&r.b_name, &r.b)] {
            s.push_str(&format!(
                "| {}, {} | {} | {} | {:.0} | {:.2} | {} | {} | {} / {} / {} | {} + {} | {} | {:.1} MiB |\n",
                r.label,
                name,
                side.events,
                side.alerts,
                side.events as f64 / side.elapsed.as_secs_f64(),
                side.agent_cpu,
                if side.events as f64 >= 0.01 * (r.ops * o.pairs) as f64 {
                    format!("{:.2}", side.agent_cpu / side.events as f64 * 1e5)
                } else {
                    "— (no events of its own)".into()
                },
                spread(
                    &side
                        .agent_cpu_runs
                        .iter()
                        .map(|c| c * 1e6 / r.ops as f64)
                        .collect::<Vec<_>>(),
                    2
                ),
                side.hashes.0,
                side.hashes.1,
                side.hashes.2,
                side.drops,
                side.channel_drops,
                side.filtered,
                side.peak_rss as f64 / MIB,
            ));
        }
    }
    s
}

/// The A/B table (the format docs/benchmarks.md has always shown), then
/// what the agent spent on the events of each workload.
pub fn report(results: &[Outcome], o: &Options) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "| workload ({} A/B pairs, cheapest of {CHUNKS} chunks each) | without / with, per op (median) | wall ratio median (min..max) | workload CPU ratio median (min..max) | events out | ring-buffer drops | kernel-filtered | agent CPU s | BPF ns per program run (runs) |\n",
        o.pairs
    ));
    s.push_str("|---|---|---|---|---|---|---|---|---|\n");
    let per_op = |v: &[Duration], ops: usize| {
        median(
            v.iter()
                .map(|d| d.as_secs_f64() * 1e9 / ops as f64)
                .collect(),
        )
    };
    for r in results {
        s.push_str(&format!(
            "| {} | {:.0} / {:.0} ns | {} | {} | {} | {} | {} | {:.2} | {} |\n",
            r.label,
            per_op(&r.base, r.ops),
            per_op(&r.with, r.ops),
            spread(&r.ratios, 3),
            spread(&r.cpu_ratios, 3),
            r.events,
            r.drops,
            r.filtered,
            r.agent_cpu,
            programs(&r.per_run_ns)
        ));
    }
    s.push('\n');
    s.push_str(
        "| workload: the agent's side (with-agent runs, all pairs) | events/s while the workload ran | agent CPU s per 100k events | ring-buffer + channel-full drops | peak agent RSS (VmHWM) |\n",
    );
    s.push_str("|---|---|---|---|---|\n");
    for r in results {
        let secs = r.with_elapsed.as_secs_f64();
        s.push_str(&format!(
            "| {} | {:.0} | {} | {} + {} | {:.1} MiB |\n",
            r.label,
            r.events as f64 / secs,
            // Without events of its own, a workload's agent CPU is polling
            // and other processes' events: per event it means nothing.
            if r.events as f64 >= 0.01 * (r.ops * o.pairs) as f64 {
                format!("{:.2}", r.agent_cpu / r.events as f64 * 1e5)
            } else {
                "— (no events of its own)".into()
            },
            r.drops,
            r.channel_drops,
            r.peak_rss as f64 / MIB,
        ));
    }
    s
}

const MIB: f64 = 1024.0 * 1024.0;

/// One run of the paced exec workload beside the agent.
pub struct PacedRun {
    pub achieved: f64,
    /// The workload's CPU per exec (cheapest chunk), children included.
    pub exec_cpu: Duration,
    pub seconds: f64,
    /// Agent CPU during the workload and the drain after it.
    pub agent_cpu: f64,
    pub events: u64,
    pub drops: u64,
    /// Median and maximum RSS of the 1-second health records.
    pub rss_median: u64,
    pub rss_max: u64,
    pub vm_hwm: u64,
}

/// The agent as installed: the default configuration, with health records
/// every second to watch RSS during the run.
pub const DEFAULT_CONFIG_1S_HEALTH: &str = "[health]\ninterval_seconds = 1\n";

/// Execs at `o.exec_rate` per second for `o.exec_seconds`, beside the
/// agent with the default configuration, `o.pairs` times: what the agent
/// costs at a steady, realistic exec rate, and its steady RSS.
pub fn paced_exec(bin: &Path, o: &Options, scratch: &Path) -> Vec<PacedRun> {
    exec_beside_default(bin, o, scratch, Some(o.exec_rate))
}

/// The same beside the default configuration, with execs at `rate` per
/// second, or as fast as this machine forks them (`None`: the exec storm,
/// for the agent's steady RSS under it).
pub fn exec_beside_default(
    bin: &Path,
    o: &Options,
    scratch: &Path,
    rate: Option<f64>,
) -> Vec<PacedRun> {
    let what = if rate.is_some() {
        "paced exec"
    } else {
        "exec storm (default config)"
    };
    let mut runs = Vec::new();
    for i in 0..o.pairs {
        let agent = Agent::start(bin, DEFAULT_CONFIG_1S_HEALTH, scratch);
        let mut pacer = workload::ExecPacer::new();
        let cpu0 = agent.cpu_seconds();
        let p = workload::pace(
            rate,
            Duration::from_secs_f64(o.exec_seconds),
            workload::self_and_children_cpu,
            || pacer.op(),
            |_| {},
        );
        pacer.finish();
        // The agent delivers within its 100 ms poll; a second covers the
        // drain, and an idle agent costs nothing measurable meanwhile.
        std::thread::sleep(Duration::from_secs(1));
        let agent_cpu = agent.cpu_seconds() - cpu0;
        let vm_hwm = agent.peak_rss_bytes();
        let out = agent.out.clone();
        let h = agent.stop();
        let rss: Vec<u64> = agent::health_records(&out)
            .iter()
            .map(|(_, h)| h["rss_bytes"].as_u64().unwrap_or(0))
            .collect();
        let run = PacedRun {
            achieved: p.rate(),
            exec_cpu: p.min_cpu_per_op(),
            seconds: p.elapsed().as_secs_f64(),
            agent_cpu,
            events: h["events_output_total"].as_u64().unwrap_or(0),
            drops: agent::sum(&h, "kernel_ringbuf_drops_total")
                + agent::sum(&h, "channel_full_drops_total"),
            rss_median: median(rss.iter().map(|v| *v as f64).collect()) as u64,
            rss_max: rss.iter().copied().max().unwrap_or(0),
            vm_hwm,
        };
        eprintln!(
            "bench: {what} run {}/{}: {:.0} execs/s for {:.1} s, agent CPU {:.3} s ({:.2} % of one core), RSS {:.1} MiB",
            i + 1,
            o.pairs,
            run.achieved,
            run.seconds,
            run.agent_cpu,
            run.agent_cpu / run.seconds * 100.0,
            run.rss_median as f64 / MIB
        );
        runs.push(run);
    }
    runs
}

pub fn report_paced(runs: &[PacedRun], o: &Options, rate: Option<f64>) -> String {
    let f = |g: &dyn Fn(&PacedRun) -> f64| runs.iter().map(g).collect::<Vec<f64>>();
    let head = match rate {
        Some(r) => format!("paced exec: fork + exec /bin/true at {r:.0}/s"),
        None => "exec storm: fork + exec /bin/true as fast as they go".to_string(),
    };
    format!(
        "| {head} for {} s, default config ({} runs) | median (min..max) |\n\
         |---|---|\n\
         | execs/s reached | {} |\n\
         | workload CPU per exec, µs (cheapest chunk; the children's exec and exit included) | {} |\n\
         | agent CPU, % of one core (workload + drain, over the workload's time) | {} |\n\
         | agent CPU per exec, µs (the same, over the execs made) | {} |\n\
         | events out per run | {} |\n\
         | ring-buffer + channel-full drops per run | {} |\n\
         | agent RSS, MiB (median of the 1-second health records) | {} |\n\
         | agent RSS, MiB (highest health record) | {} |\n\
         | agent peak RSS, MiB (VmHWM at the end) | {} |\n",
        o.exec_seconds,
        runs.len(),
        spread(&f(&|r| r.achieved), 0),
        spread(&f(&|r| r.exec_cpu.as_secs_f64() * 1e6), 0),
        spread(&f(&|r| r.agent_cpu / r.seconds * 100.0), 2),
        spread(&f(&|r| r.agent_cpu / (r.achieved * r.seconds) * 1e6), 1),
        spread(&f(&|r| r.events as f64), 0),
        spread(&f(&|r| r.drops as f64), 0),
        spread(&f(&|r| r.rss_median as f64 / MIB), 1),
        spread(&f(&|r| r.rss_max as f64 / MIB), 1),
        spread(&f(&|r| r.vm_hwm as f64 / MIB), 1),
    )
}

/// One line of benches/pipeline.rs's output.
pub struct PipelineResult {
    pub mix: String,
    pub describe: String,
    pub sink: String,
    pub runs: Vec<f64>,
    pub bytes_per_line: f64,
    /// CPU ns per event in each stage, in pipeline order.
    pub stage_ns: Vec<(String, f64)>,
}

/// `cargo bench --bench pipeline`: the pipeline alone, no kernel.
pub fn pipeline(cargo: Command) -> Result<Vec<PipelineResult>, String> {
    let mut c = cargo;
    c.args(["bench", "--bench", "pipeline"]);
    eprintln!("bench: {}", crate::describe(&c));
    let out = c
        .output()
        .map_err(|e| format!("cannot run cargo bench: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo bench --bench pipeline failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    parse_pipeline(&String::from_utf8_lossy(&out.stdout))
}

/// The stages benches/pipeline.rs times, in order.
const STAGES: [&str; 4] = ["decode+normalize", "enrich", "filter+detect", "JSON+write"];

fn parse_pipeline(stdout: &str) -> Result<Vec<PipelineResult>, String> {
    let mut results = Vec::new();
    for line in stdout.lines() {
        if let Some(json) = line.strip_prefix("pipeline-result ") {
            let v: serde_json::Value =
                serde_json::from_str(json).map_err(|e| format!("bad pipeline result: {e}"))?;
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            results.push(PipelineResult {
                mix: s("mix"),
                describe: s("describe"),
                sink: s("sink"),
                runs: v["events_per_cpu_second"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
                    .unwrap_or_default(),
                bytes_per_line: v["bytes_per_line"].as_f64().unwrap_or(0.0),
                stage_ns: STAGES
                    .iter()
                    .filter_map(|k| Some((k.to_string(), v["stage_ns_per_event"][k].as_f64()?)))
                    .collect(),
            });
        } else if line.starts_with("pipeline: ") {
            eprintln!("bench: {line}");
        }
    }
    if results.is_empty() {
        return Err("cargo bench --bench pipeline printed no result".into());
    }
    Ok(results)
}

pub fn report_pipeline(results: &[PipelineResult]) -> String {
    let mut s = String::from(
        "| pipeline alone (decode → normalize → enrich → filter + detect → JSON), one thread | sink | events/s per core, median (min..max) | bytes per line | CPU ns per event by stage (median) |\n|---|---|---|---|---|\n",
    );
    for r in results {
        s.push_str(&format!(
            "| {}: {} | {} | {} | {:.0} | {} |\n",
            r.mix,
            r.describe,
            r.sink,
            spread(&r.runs, 0),
            r.bytes_per_line,
            r.stage_ns
                .iter()
                .map(|(k, v)| format!("{k} {v:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    s
}

/// The same workloads beside auditd: ratios against the without-agent
/// runs of the same invocation, which all come before auditd starts.
pub fn report_auditd(results: &[Outcome], audit: &[auditd::Outcome]) -> String {
    let mut s = String::from(
        "| workload | rand-guard wall ratio median (min..max) | auditd wall ratio median (min..max) | auditd workload CPU ratio | auditd + kauditd CPU s | audit records lost | audit log bytes |\n|---|---|---|---|---|---|---|\n",
    );
    for a in audit {
        let ours = results.iter().find(|r| r.name == a.name);
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.2} | {} | {} |\n",
            a.label,
            ours.map_or("—".into(), |r| spread(&r.ratios, 3)),
            spread(&a.ratios, 3),
            spread(&a.cpu_ratios, 3),
            a.daemon_cpu,
            a.lost,
            a.log_bytes
                .map_or("— (the system's auditd: its log rotates)".into(), |b| b
                    .to_string()),
        ));
    }
    s
}

/// `[network]` on with its default hooks (connect, bind, listen), and its
/// events written.
pub const NETWORK_ON: &str = "[events]\nnetwork = true\n[network]\nenabled = true\n";

/// The groups that compare two agent configurations (see [`ab`]): the read
/// watch off and on, network off and on, DNS collection off and on.
fn ab_groups(bin: &Path, o: &Options, scratch: &Path) -> Vec<AbOutcome> {
    let n = o.iterations;
    let mut out = Vec::new();
    let variant = |name: &str, extra: &str| Variant {
        name: name.into(),
        config: format!("{AGENT_CONFIG}{extra}"),
    };
    // Read-only opens of an unwatched file: the cost of the per-open inode
    // lookup every read-only open on the host pays while watch_reads is set.
    let reads = Path::new("/var/lib/rg-bench-reads");
    if o.wants("reads") {
        fs::create_dir_all(reads).expect("bench directory");
        let target = reads.join("f");
        fs::write(&target, b"x").expect("bench file");
        let w = Workload {
            name: "reads",
            label: "read-only open + close of an unwatched file (/var/lib)".into(),
            ops: n * 10,
            work: Box::new(|| workload::read_storm_min(&target, n * 10)),
        };
        out.push(ab(
            bin,
            &w,
            o,
            scratch,
            &variant("watch_reads = []", "[file]\nwatch_reads = []\n"),
            &variant("default watch_reads", ""),
        ));
        let _ = fs::remove_dir_all(reads);
    }
    // Executable hashing off and on under the exec storm: warm (one
    // binary, every exec after the first a cache hit) and cold (a
    // thousand copies run in turn through a 16-entry cache, so every exec
    // is read and hashed; the copies stay in the page cache).
    if o.wants("exec-hash") {
        let warm = Workload {
            name: "exec-hash",
            label: format!("exec storm: fork + exec /bin/true × {}", o.execs),
            ops: o.execs,
            work: Box::new(|| workload::exec_storm_min(o.execs)),
        };
        out.push(ab(
            bin,
            &warm,
            o,
            scratch,
            &variant("hash off", "[hash]\nenabled = false\n"),
            &variant("hash on (default)", ""),
        ));
        let dir = Path::new(HASH_COPIES);
        let copies = workload::copies("/bin/true", dir, 1000).expect("bench copies");
        let cold = Workload {
            name: "exec-hash",
            label: format!(
                "exec storm: fork + exec of {} copies of /bin/true in turn × {}",
                copies.len(),
                o.execs
            ),
            ops: o.execs,
            work: Box::new(|| workload::exec_storm_over_min(&copies, o.execs)),
        };
        out.push(ab(
            bin,
            &cold,
            o,
            scratch,
            &variant("hash off", "[hash]\nenabled = false\ncache_entries = 16\n"),
            &variant(
                "hash on, cache_entries = 16",
                "[hash]\ncache_entries = 16\n",
            ),
        ));
        let _ = fs::remove_dir_all(dir);
    }
    // Loopback TCP connections with the network family off (the default:
    // no network program loaded) and on with the default hooks.
    if o.wants("net") {
        let w = Workload {
            name: "net",
            label: format!(
                "connect storm: loopback TCP connect + accept + close × {}",
                o.connects
            ),
            ops: o.connects,
            work: Box::new(|| workload::connect_storm_min(o.connects)),
        };
        out.push(ab(
            bin,
            &w,
            o,
            scratch,
            &variant("network off", ""),
            &variant("network on", NETWORK_ON),
        ));
    }
    // DNS collection hooks sendto, sendmsg, sendmmsg and write: the DNS
    // queries themselves, and what every other write pays for the hook.
    if o.wants("dns") {
        let (_sink, to) = workload::dns_sink();
        if _sink.is_none() {
            eprintln!(
                "bench: dns: no loopback address free at port 53; queries go to a closed port"
            );
        }
        let dns_off = variant("network on, collect_dns = false", NETWORK_ON);
        let dns_on = variant(
            "network on, collect_dns = true",
            &format!("{NETWORK_ON}collect_dns = true\n"),
        );
        let workloads = [
            Workload {
                name: "dns",
                label: format!("DNS query storm: UDP sendto {to} × {n}"),
                ops: n,
                work: Box::new(move || workload::dns_storm_min(to, n)),
            },
            Workload {
                name: "dns",
                label: format!("write(2) of 1 byte to /dev/null × {}", n * 10),
                ops: n * 10,
                work: Box::new(move || workload::write_storm_min(n * 10)),
            },
        ];
        for w in &workloads {
            out.push(ab(bin, w, o, scratch, &dns_off, &dns_on));
        }
    }
    out
}

/// Where the file storms run: a directory no prefix watches, and one
/// inside the watched /root.
const OUTSIDE: &str = "/var/lib/rg-bench-outside";
const INSIDE: &str = "/root/rg-bench-inside";
/// `/tmp` is watched for detections only (`[file] detect_only`): the kernel
/// reports every write there, the detector sees it, no event is written.
const TMP: &str = "/tmp/rg-bench-tmp";
/// The cold-hash exec storm's copies: a directory no prefix watches.
const HASH_COPIES: &str = "/var/lib/rg-bench-hash";
/// The xattr storms' file: a directory no prefix watches.
const XATTR_DIR: &str = "/var/lib/rg-bench-xattr";
const XATTR_FILE: &str = "/var/lib/rg-bench-xattr/f";

/// The A/B storms `--only` selected: the getppid loop, the file storms and
/// the exec storm.
pub fn storms(o: &Options) -> Vec<Workload<'_>> {
    let n = o.iterations;
    let (outside, inside, tmp) = (Path::new(OUTSIDE), Path::new(INSIDE), Path::new(TMP));
    let xattr_file = Path::new(XATTR_FILE);
    vec![
        Workload {
            name: "syscall",
            label: "getppid() loop: the syscall tracing tax".into(),
            ops: n * 10,
            work: Box::new(move || workload::syscall_storm(n * 10)),
        },
        Workload {
            name: "file-outside",
            label: "file storm outside watched prefixes (/var/lib)".into(),
            ops: n,
            work: Box::new(move || workload::file_storm_min(outside, n)),
        },
        Workload {
            name: "file-inside",
            label: "file storm inside a watched prefix (/root)".into(),
            ops: n,
            work: Box::new(move || workload::file_storm_min(inside, n)),
        },
        Workload {
            name: "file-tmp",
            label: "file storm in /tmp (watched for detections, not written)".into(),
            ops: n,
            work: Box::new(move || workload::file_storm_min(tmp, n)),
        },
        Workload {
            name: "exec",
            label: format!("exec storm: fork + exec /bin/true × {}", o.execs),
            ops: o.execs,
            work: Box::new(|| workload::exec_storm_min(o.execs)),
        },
        // The setxattr hook's common case: a user.* attribute on a file no
        // prefix covers, filtered in the kernel.
        Workload {
            name: "xattr-outside",
            label: "fsetxattr(2) of user.* outside watched prefixes (/var/lib)".into(),
            ops: n * 5,
            work: Box::new(move || xattr::set_storm_min(xattr_file, n * 5)),
        },
        Workload {
            name: "xattr-remove",
            label: "fsetxattr(2) + fremovexattr(2) of user.* outside watched prefixes".into(),
            ops: n * 2,
            work: Box::new(move || xattr::set_remove_storm_min(xattr_file, n * 2)),
        },
    ]
    .into_iter()
    .filter(|w| o.wants(w.name))
    .collect()
}

/// The hidden command `bench-child NAME RUNS [bench options]`: one warm-up
/// and RUNS runs of the storm NAME in this (new) process, each printed as
/// `wall_ns cpu_ns` on stdout.
///
/// Why a child process: audit gives a task its audit context when the task
/// is created (`audit_alloc` at fork), and only if audit has been enabled
/// by then. The bench process itself was created before the auditd
/// comparison enabled audit, so syscalls it makes are never audited
/// whatever the rules say: the comparison's storms must run in a process
/// created after audit is on. (The exec storm's children were audited; an
/// in-process file storm was not, which is why an earlier run's auditd file
/// rows showed no cost.)
pub fn child(args: &[String]) -> Result<String, String> {
    let [name, runs, rest @ ..] = args else {
        return Err("bench-child NAME RUNS [bench options]".into());
    };
    let runs: usize = runs
        .parse()
        .map_err(|_| format!("bench-child: RUNS `{runs}` is not a number"))?;
    let o = Options::parse(rest)?;
    let storms = storms(&o);
    let w = storms
        .iter()
        .find(|w| w.name == name)
        .ok_or_else(|| format!("bench-child: no storm `{name}` among the selected ones"))?;
    (w.work)(); // warm up
    Ok((0..runs)
        .map(|_| {
            let c = (w.work)();
            format!("{} {}\n", c.wall.as_nanos(), c.cpu.as_nanos())
        })
        .collect())
}

/// Run `bench-child` for storm `name` in a new process (see [`child`]).
pub fn in_child(name: &str, runs: usize, o: &Options) -> Result<Vec<Cost>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut c = Command::new(exe);
    c.args(["bench-child", name, &runs.to_string()])
        .args(["--iterations", &o.iterations.to_string()])
        .args(["--execs", &o.execs.to_string()])
        .args(["--only", name]);
    let out = c
        .output()
        .map_err(|e| format!("{}: {e}", crate::describe(&c)))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            crate::describe(&c),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    parse_child(&String::from_utf8_lossy(&out.stdout), runs)
}

fn parse_child(text: &str, runs: usize) -> Result<Vec<Cost>, String> {
    let costs: Vec<Cost> = text
        .lines()
        .map(|l| {
            let mut it = l.split_whitespace().map(|v| v.parse::<u64>().ok());
            match (it.next().flatten(), it.next().flatten()) {
                (Some(w), Some(c)) => Ok(Cost {
                    wall: Duration::from_nanos(w),
                    cpu: Duration::from_nanos(c),
                    elapsed: Duration::from_nanos(w),
                }),
                _ => Err(format!("bench-child printed `{l}`, not `wall_ns cpu_ns`")),
            }
        })
        .collect::<Result<_, _>>()?;
    if costs.len() != runs {
        return Err(format!(
            "bench-child printed {} runs, not {runs}",
            costs.len()
        ));
    }
    Ok(costs)
}

/// The whole benchmark: prints progress on stderr, returns the tables.
pub fn run(bin: &Path, o: &Options) -> Result<String, String> {
    let at_start = agent::check_conditions("bench");
    let scratch = Path::new("/tmp/rg-bench-agent");
    // Before any measurement: installing auditd or failing to must not
    // happen between the runs it is compared with.
    let plan = if o.auditd {
        let plan = auditd::prepare(bin, AGENT_CONFIG, scratch)?;
        eprintln!(
            "bench: auditd rules ({}):\n{}",
            plan.rules_file.display(),
            plan.rules.join("\n")
        );
        for n in &plan.notes {
            eprintln!("bench: auditd prefixes: {n}");
        }
        Some(plan)
    } else {
        None
    };

    let mut tables = Vec::new();
    // The pipeline first: its build must not run beside a measurement.
    let pipeline_table = if o.wants("pipeline") {
        Some(report_pipeline(&pipeline(crate::cargo())?))
    } else {
        None
    };

    let (outside, inside) = (Path::new(OUTSIDE), Path::new(INSIDE));
    let workloads = storms(o);
    let results: Vec<Outcome> = workloads
        .iter()
        .map(|w| pairs(bin, w, o, scratch))
        .collect();
    if !results.is_empty() {
        tables.push(report(&results, o));
    }
    if o.wants("exec-paced") {
        tables.push(report_paced(
            &paced_exec(bin, o, scratch),
            o,
            Some(o.exec_rate),
        ));
    }
    if o.wants("exec-rss") {
        let runs = exec_beside_default(bin, o, scratch, None);
        tables.push(report_paced(&runs, o, None));
    }
    let ab_results = ab_groups(bin, o, scratch);
    if !ab_results.is_empty() {
        tables.push(report_ab(&ab_results, o));
    }
    tables.extend(pipeline_table);

    // Last: nothing measured after this is clean until reboot.
    if let Some(plan) = plan {
        let session = auditd::Session::start(&plan, scratch)?;
        let audit = auditd::measure(&session, &workloads, &results, o)?;
        let paced = o
            .wants("exec-paced")
            .then(|| auditd::paced_exec(&session, o));
        session.stop();
        let mut t = report_auditd(&results, &audit);
        if let Some(p) = paced {
            t.push_str(&format!(
                "\npaced exec at {:.0}/s beside auditd: auditd + kauditd CPU, % of one core: {}\n",
                o.exec_rate,
                spread(&p, 2)
            ));
        }
        tables.push(t);
    }
    for d in [outside, inside, Path::new(XATTR_DIR)] {
        let _ = fs::remove_dir_all(d);
    }
    // Again: someone may have started an agent while this ran.
    let at_end = agent::check_conditions("bench (at the end)");
    tables.insert(
        0,
        format!("Conditions: at the start {at_start}; at the end {at_end}.\n"),
    );
    Ok(tables.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_defaults_and_flags() {
        let o = Options::parse(&[]).unwrap();
        assert_eq!((o.iterations, o.pairs, o.execs), (100_000, 5, 20_000));
        assert!(o.wants("exec") && !o.auditd);
        let o = Options::parse(&args(&["--only", "exec,pipeline", "--execs", "500"])).unwrap();
        assert!(o.wants("exec") && o.wants("pipeline") && !o.wants("syscall"));
        assert_eq!(o.execs, 500);
        assert!(Options::parse(&args(&["--only", "nope"])).is_err());
        assert!(Options::parse(&args(&["--pairs", "0"])).is_err());
        assert!(Options::parse(&args(&["--pairs"])).is_err());
    }

    #[test]
    fn auditd_needs_the_explicit_consent_flag() {
        let e = Options::parse(&args(&["--auditd"])).err().unwrap();
        assert!(
            e.contains(auditd::CONSENT_FLAG) && e.contains("reboot"),
            "{e}"
        );
        assert!(Options::parse(&args(&[auditd::CONSENT_FLAG])).is_err());
        let o = Options::parse(&args(&["--auditd", auditd::CONSENT_FLAG])).unwrap();
        assert!(o.auditd);
    }

    #[test]
    fn child_runs_are_parsed_and_checked() {
        let c = parse_child("1000 900\n2000 1800\n", 2).unwrap();
        assert_eq!(c[1].wall, Duration::from_nanos(2000));
        assert_eq!(c[1].cpu, Duration::from_nanos(1800));
        assert!(parse_child("1000 900\n", 2).unwrap_err().contains("1 runs"));
        assert!(parse_child("oops\n", 1).unwrap_err().contains("`oops`"));
        let e = child(&args(&["exec", "2", "--only", "syscall"])).unwrap_err();
        assert!(e.contains("no storm `exec`"), "{e}");
        // A real (tiny) storm: warm-up plus two runs, one line each.
        let out = child(&args(&[
            "syscall",
            "2",
            "--iterations",
            "50",
            "--only",
            "syscall",
        ]))
        .unwrap();
        assert_eq!(parse_child(&out, 2).unwrap().len(), 2);
    }

    #[test]
    fn pipeline_output_is_parsed() {
        let out = "pipeline: mixed (...), into a reused buffer: 1 events/s\n\
                   pipeline-result {\"mix\":\"mixed\",\"describe\":\"d\",\"sink\":\"buffer\",\"events_per_cpu_second\":[3.0,1.0,2.0],\"bytes_per_line\":1000.4,\"stage_ns_per_event\":{\"enrich\":7.0,\"JSON+write\":9.0}}\n";
        let r = parse_pipeline(out).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].mix.as_str(), r[0].sink.as_str()), ("mixed", "buffer"));
        assert_eq!(spread(&r[0].runs, 0), "2 (1..3)");
        // In pipeline order, whatever order the JSON has them in.
        assert_eq!(
            r[0].stage_ns,
            vec![("enrich".to_string(), 7.0), ("JSON+write".to_string(), 9.0)]
        );
        assert!(parse_pipeline("nothing\n").is_err());
    }
}
