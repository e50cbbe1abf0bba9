//! `cargo xtask vm-test --bench`: what the agent costs unrelated work on
//! Debian's own kernels, where the fast hook path loads (issue 15), one
//! boot per kernel. Under TCG absolute times mean nothing, so the results
//! are ratios: each workload beside the agent ÷ the same workload without
//! it in the same round.
//!
//! The guest (bench-init.sh, booted with `rdinit=/bench-init` from an
//! initramfs that also holds the suite's /init) runs [`ROUNDS`] rounds of
//! the [`WORKLOADS`] without the agent and beside it with `[kernel] hooks
//! = "tracepoint"` and `"auto"` (the fast path where the kernel allows
//! it), the three in a rotating order; then one pass per agent condition
//! with `kernel.bpf_stats_enabled=1` and a health snapshot around each
//! workload, for the BPF programs' ns per run. The workloads are xtask's
//! own (`workload.rs`, as `cargo xtask bench` runs them on the host), in a
//! static build of xtask copied into the guest; its hidden command
//! `vm-bench-guest` ([`guest`]) runs them and prints one line each.
//!
//! Not in .ci/run: one boot took 13 (6.1) to 26 (6.12) minutes under TCG.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use serde_json::Value;

use super::initramfs::{self, Extra};
use super::qemu::Accel;
use super::report;
use crate::package::{self, Built};
use crate::{workload, xattr};

/// Rounds of (no agent, tracepoint, auto) by default (`--rounds`): the
/// ratios' medians are over these. Each round starts two agents, and
/// under TCG the fast-path one took 55 s (6.1) and 128 s (6.12) to get
/// ready on a loaded host: five rounds made boots of 13 and 26 minutes.
pub const ROUNDS: usize = 5;

/// The agent conditions, by `[kernel] hooks`; "none" is the baseline.
pub const CONDITIONS: [&str; 3] = ["none", "tracepoint", "auto"];

/// One workload of the guest.
pub struct Workload {
    /// Its name on the guest's command line and in its result lines.
    pub name: &'static str,
    pub label: &'static str,
    /// Operations per run in the rounds (0.4 to 4 s each under TCG).
    pub ops: usize,
    /// Operations per chunk, about 2 ms under TCG: the cost is the
    /// cheapest chunk's (see [`guest`]).
    pub chunk: usize,
    /// The ceiling for the fast path's ratio, if it sets one.
    pub target: Option<f64>,
}

pub const WORKLOADS: [Workload; 6] = [
    Workload {
        name: "getppid",
        label: "getppid() loop",
        ops: 1_000_000,
        chunk: 5_000,
        target: Some(1.02),
    },
    Workload {
        name: "file-outside",
        label: "file storm outside the watched prefixes",
        ops: 20_000,
        chunk: 20,
        target: Some(1.02),
    },
    Workload {
        name: "exec",
        label: "exec storm (fork + exec busybox true)",
        ops: 500,
        chunk: 1,
        target: Some(1.03),
    },
    Workload {
        name: "write",
        label: "write(2) of 1 byte to /dev/null",
        ops: 1_000_000,
        chunk: 2_500,
        target: None,
    },
    // The setxattr hook's common case: a user.* attribute on a file no
    // prefix covers, filtered in the kernel; held to the file storm's
    // target (an unwatched file's syscalls).
    Workload {
        name: "xattr-outside",
        label: "fsetxattr(2) of user.* outside the watched prefixes",
        ops: 50_000,
        chunk: 500,
        target: Some(1.02),
    },
    Workload {
        name: "xattr-remove",
        label: "fsetxattr(2) + fremovexattr(2) of user.* outside the watched prefixes",
        ops: 25_000,
        chunk: 250,
        target: Some(1.02),
    },
];

/// Where the file storm runs in the guest: no `[file] include` or
/// `detect_only` prefix covers /var/lib.
const OUTSIDE: &str = "/var/lib/rg-vm-bench";
/// The xattr storms' file (tmpfs has user.* attributes from Linux 6.6:
/// on 6.1 these storms fail, and the workload errors say so).
const XATTR_FILE: &str = "/var/lib/rg-vm-bench-xattr/f";

/// The agent's configuration for a condition: the guest suite's (network
/// on, its default hooks) with `collect_dns` on, so that every family the
/// issue moves to the fast path is loaded, and a health record every
/// second for the statistics pass's snapshots. One configuration for all
/// four workloads keeps it to two agent starts a round.
pub fn agent_config(hooks: &str) -> String {
    format!(
        "# cargo xtask vm-test --bench: network and DNS on, [kernel] hooks = \"{hooks}\".\n\
         [kernel]\nhooks = \"{hooks}\"\n\
         [network]\nenabled = true\nhooks = [\"connect\", \"bind\", \"listen\", \"accept\"]\n\
         collect_dns = true\n\
         [health]\ninterval_seconds = 1\n"
    )
}

/// The statistics pass runs each workload with this fraction of its
/// operations: a program's ns per run needs no more, and the pass's
/// agents already cost two starts.
pub const STATS_SHARE: usize = 10;

/// The guest's `/etc/rg-vm-bench.env`, read by bench-init.sh.
fn guest_env(rounds: usize) -> String {
    let list = |share: usize| {
        WORKLOADS
            .iter()
            .map(|w| format!("{}={}", w.name, w.ops / share))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "ROUNDS={rounds}\nWORKLOADS=\"{}\"\nSTATS_WORKLOADS=\"{}\"\n",
        list(1),
        list(STATS_SHARE)
    )
}

/// The hidden command `vm-bench-guest NAME=COUNT ...` (run in the guest):
/// each workload once, in order, one line each:
/// `workload=NAME ops=COUNT wall_ns=T cpu_ns=T`, the cost of COUNT
/// operations at the rate of the cheapest chunk. The chunks are short
/// (the workload's `chunk`, about 2 ms) and many: under TCG on a shared
/// host the guest's vCPU loses its core often, and the more short chunks,
/// the surer some ran undisturbed in every condition, so the floor (what
/// the agent's hooks add is work, not waiting) compares like with like.
pub fn guest(args: &[String]) -> Result<String, String> {
    if args.is_empty() {
        return Err("vm-bench-guest NAME=COUNT ...".into());
    }
    let mut out = String::new();
    for a in args {
        let (name, n) = a
            .split_once('=')
            .and_then(|(w, n)| Some((w, n.parse::<usize>().ok()?)))
            .filter(|(_, n)| *n >= workload::CHUNKS)
            .ok_or_else(|| {
                format!(
                    "vm-bench-guest: `{a}` is not NAME=COUNT with COUNT at least {}",
                    workload::CHUNKS
                )
            })?;
        let w = WORKLOADS
            .iter()
            .find(|w| w.name == name)
            .ok_or_else(|| format!("vm-bench-guest: no workload `{name}`"))?;
        // No result line for a storm the guest's filesystem refuses (6.1's
        // tmpfs has no user.* attributes): the others still run, and the
        // workload errors name it.
        if name.starts_with("xattr-")
            && let Err(e) = xattr::probe(Path::new(XATTR_FILE))
        {
            eprintln!("vm-bench-guest: {name} skipped: {e}");
            continue;
        }
        // Each call runs CHUNKS chunks and keeps the cheapest.
        let per_call = (w.chunk * workload::CHUNKS).min(n);
        let one = || match name {
            "getppid" => workload::syscall_storm(per_call),
            "file-outside" => workload::file_storm_min(Path::new(OUTSIDE), per_call),
            "exec" => workload::exec_storm_min(per_call),
            "xattr-outside" => xattr::set_storm_min(Path::new(XATTR_FILE), per_call),
            "xattr-remove" => xattr::set_remove_storm_min(Path::new(XATTR_FILE), per_call),
            _ => workload::write_storm_min(per_call),
        };
        let (mut wall, mut cpu) = (f64::MAX, f64::MAX);
        for _ in 0..(n / per_call).max(1) {
            let c = one();
            wall = wall.min(c.wall.as_nanos() as f64 / per_call as f64);
            cpu = cpu.min(c.cpu.as_nanos() as f64 / per_call as f64);
        }
        out.push_str(&format!(
            "workload={name} ops={n} wall_ns={:.0} cpu_ns={:.0}\n",
            wall * n as f64,
            cpu * n as f64
        ));
    }
    Ok(out)
}

/// One workload run the guest measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub round: u32,
    pub condition: String,
    pub workload: String,
    pub ops: u64,
    pub wall_ns: u64,
    pub cpu_ns: u64,
}

/// One condition of one round (`round` 0: the statistics pass): whether
/// its workloads and its agent ran as they should.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub round: u32,
    pub condition: String,
    /// Why this run's samples cannot be used; None when they can.
    pub broken: Option<String>,
    pub ready_seconds: Option<f64>,
}

/// `key=value` words of a result line.
fn fields(line: &str) -> BTreeMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .collect()
}

/// The guest's `results` section: samples and runs. Every line must be
/// one of the three kinds bench-init.sh writes, complete.
pub fn parse_results(text: &str) -> Result<(Vec<Sample>, Vec<Run>), String> {
    let mut samples = Vec::new();
    let mut runs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let bad = |why: &str| format!("result line {}: {why}: `{line}`", i + 1);
        let f = fields(line);
        let text = |k: &str| f.get(k).copied().ok_or_else(|| bad(&format!("no {k}")));
        let num = |k: &str| -> Result<u64, String> {
            text(k)?
                .parse()
                .map_err(|_| bad(&format!("{k} is not a number")))
        };
        let condition = text("condition")?.to_string();
        if !CONDITIONS.contains(&condition.as_str()) {
            return Err(bad("unknown condition"));
        }
        match line.split_whitespace().next() {
            Some("sample") => samples.push(Sample {
                round: num("round")? as u32,
                condition,
                workload: text("workload")?.to_string(),
                ops: num("ops")?,
                wall_ns: num("wall_ns")?,
                cpu_ns: num("cpu_ns")?,
            }),
            Some(kind @ ("run" | "stats")) => {
                let mut broken = Vec::new();
                if kind == "run" && text("workloads_exit")? != "0" {
                    broken.push(format!("workloads exit {}", text("workloads_exit")?));
                }
                if condition != "none" {
                    if text("ready")? != "yes" {
                        broken.push("agent never ready".to_string());
                    }
                    if text("agent_exit")? != "0" {
                        broken.push(format!("agent exit {}", text("agent_exit")?));
                    }
                }
                runs.push(Run {
                    round: if kind == "run" {
                        num("round")? as u32
                    } else {
                        0
                    },
                    ready_seconds: f.get("ready_seconds").and_then(|s| s.parse().ok()),
                    condition,
                    broken: (!broken.is_empty()).then(|| broken.join(", ")),
                });
            }
            _ => return Err(bad("neither a sample, a run nor a stats line")),
        }
    }
    Ok((samples, runs))
}

/// Per round where both ran well: `condition`'s wall time ÷ the no-agent
/// run's, for `workload`, in round order.
pub fn ratios(samples: &[Sample], runs: &[Run], workload: &str, condition: &str) -> Vec<f64> {
    let good = |round: u32, c: &str| {
        runs.iter()
            .any(|r| r.round == round && r.condition == c && r.broken.is_none())
    };
    let wall = |round: u32, c: &str| {
        samples
            .iter()
            .find(|s| s.round == round && s.condition == c && s.workload == workload)
            .map(|s| s.wall_ns as f64)
            .filter(|w| *w > 0.0)
    };
    let mut rounds: Vec<u32> = samples.iter().map(|s| s.round).collect();
    rounds.sort_unstable();
    rounds.dedup();
    rounds
        .into_iter()
        .filter(|r| good(*r, "none") && good(*r, condition))
        .filter_map(|r| Some(wall(r, condition)? / wall(r, "none")?))
        .collect()
}

/// The median (the mean of the middle two of an even count); None if empty.
pub fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// One BPF program's cost over one workload of the statistics pass.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramCost {
    pub name: String,
    pub runs: u64,
    pub ns_per_run: f64,
}

/// `rand_guard.health.bpf_programs` of a health record: name → (runs, ns).
fn programs(health: &Value) -> Result<BTreeMap<String, (u64, u64)>, String> {
    let progs = health["rand_guard"]["health"]["bpf_programs"]
        .as_object()
        .ok_or("no rand_guard.health.bpf_programs (was kernel.bpf_stats_enabled 1?)")?;
    progs
        .iter()
        .map(|(name, p)| {
            match (
                p["run_count_total"].as_u64(),
                p["run_time_ns_total"].as_u64(),
            ) {
                (Some(n), Some(t)) => Ok((name.clone(), (n, t))),
                _ => Err(format!("bpf_programs.{name}: no run counts")),
            }
        })
        .collect()
}

/// What each program ran between two health records, most total time
/// first; programs that did not run are left out.
pub fn program_costs(before: &Value, after: &Value) -> Result<Vec<ProgramCost>, String> {
    let (b, a) = (programs(before)?, programs(after)?);
    let mut out: Vec<(u64, ProgramCost)> = a
        .into_iter()
        .filter_map(|(name, (n, t))| {
            let (n0, t0) = b.get(&name).copied().unwrap_or((0, 0));
            let runs = n.checked_sub(n0).filter(|r| *r > 0)?;
            let ns = t.saturating_sub(t0);
            Some((
                ns,
                ProgramCost {
                    name,
                    runs,
                    ns_per_run: ns as f64 / runs as f64,
                },
            ))
        })
        .collect();
    out.sort_by(|x, y| y.0.cmp(&x.0).then_with(|| x.1.name.cmp(&y.1.name)));
    Ok(out.into_iter().map(|(_, c)| c).collect())
}

/// `rand_guard.health.hook_paths` as `family=path ...`.
fn hook_paths(health: &Value) -> Option<String> {
    let m = health["rand_guard"]["health"]["hook_paths"].as_object()?;
    Some(
        m.iter()
            .map(|(f, p)| format!("{f}={}", p.as_str().unwrap_or("?")))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Everything one kernel's benchmark boot gave back.
#[derive(Debug, Default)]
pub struct KernelBench {
    pub kernel: String,
    pub samples: Vec<Sample>,
    pub runs: Vec<Run>,
    /// (condition, workload) → what the programs cost over that workload.
    pub costs: BTreeMap<(String, String), Vec<ProgramCost>>,
    /// condition → the families' hook paths its agent reported.
    pub hook_paths: BTreeMap<String, String>,
    /// What went wrong without spoiling everything (a broken round, a
    /// missing snapshot): listed under the table.
    pub problems: Vec<String>,
}

/// Parses the data port's bytes of a benchmark boot.
pub fn parse_guest(kernel: &str, data: &[u8]) -> Result<KernelBench, String> {
    if !data.windows(11).any(|w| w == b"==RG-DONE==") {
        return Err("the guest did not finish writing its report (no ==RG-DONE==)".into());
    }
    let sections = report::sections(data)?;
    let text = |name: &str| {
        sections
            .get(name)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .ok_or_else(|| format!("no `{name}` section"))
    };
    let (samples, runs) = parse_results(&text("results")?)?;
    let mut k = KernelBench {
        kernel: kernel.to_string(),
        samples,
        runs,
        ..KernelBench::default()
    };
    for r in &k.runs {
        if let Some(why) = &r.broken {
            let round = match r.round {
                0 => "statistics pass".to_string(),
                n => format!("round {n}"),
            };
            k.problems
                .push(format!("{round}, {}: {why} (left out)", r.condition));
        }
    }
    let errors = text("workload-errors")?;
    if !errors.trim().is_empty() {
        k.problems.push(format!(
            "the workloads' stderr: {}",
            errors.lines().take(5).collect::<Vec<_>>().join(" / ")
        ));
    }
    for condition in &CONDITIONS[1..] {
        let health = |label: &str| -> Result<Value, String> {
            let name = format!("health-{condition}-{label}");
            let body = text(&name)?;
            serde_json::from_str(body.trim()).map_err(|e| format!("{name}: {e}"))
        };
        let mut before = match health("start") {
            Ok(v) => v,
            Err(e) => {
                k.problems.push(format!("statistics, {condition}: {e}"));
                continue;
            }
        };
        if let Some(p) = hook_paths(&before) {
            k.hook_paths.insert(condition.to_string(), p);
        }
        for w in &WORKLOADS {
            let after = match health(w.name) {
                Ok(v) => v,
                Err(e) => {
                    k.problems.push(format!("statistics, {condition}: {e}"));
                    break;
                }
            };
            match program_costs(&before, &after) {
                Ok(c) => {
                    k.costs
                        .insert((condition.to_string(), w.name.to_string()), c);
                }
                Err(e) => k
                    .problems
                    .push(format!("statistics, {condition}, {}: {e}", w.name)),
            }
            before = after;
        }
    }
    Ok(k)
}

/// The programs the workload ran (at least once per 10 of its `ops`
/// operations: the snapshots also count what the guest's own shell and
/// the agent did meanwhile), the first 3 as `name ns/run (runs)`.
fn top_programs(costs: Option<&Vec<ProgramCost>>, ops: usize) -> String {
    let Some(costs) = costs else {
        return "-".into();
    };
    let relevant: Vec<String> = costs
        .iter()
        .filter(|p| p.runs as usize * 10 >= ops)
        .take(3)
        .map(|p| format!("{} {:.0} ({})", p.name, p.ns_per_run, p.runs))
        .collect();
    if relevant.is_empty() {
        "none per operation".into()
    } else {
        relevant.join(", ")
    }
}

/// The markdown table of one kernel: a row per workload and agent
/// condition, then the hook paths, ready times and problems.
pub fn render(k: &KernelBench) -> String {
    let mut s = String::from(
        "| kernel | workload | hooks | ratio (median) | rounds (min..max) | no agent, µs/op | target | status | BPF programs over the workload: ns/run (runs) |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for w in &WORKLOADS {
        let base: Vec<f64> = k
            .samples
            .iter()
            .filter(|s| s.condition == "none" && s.workload == w.name && s.ops > 0)
            .map(|s| s.wall_ns as f64 / s.ops as f64 / 1e3)
            .collect();
        let base = median(&base).map_or("-".into(), |b| format!("{b:.2}"));
        for condition in &CONDITIONS[1..] {
            let r = ratios(&k.samples, &k.runs, w.name, condition);
            let m = median(&r);
            let (target, status) = match (w.target, *condition, m) {
                (Some(t), "auto", Some(m)) => (
                    format!("×≤{t:.2}"),
                    if m <= t { "met" } else { "**missed**" },
                ),
                (Some(t), "auto", None) => (format!("×≤{t:.2}"), "no data"),
                _ => ("-".into(), "-"),
            };
            let spread = match (
                r.iter().copied().reduce(f64::min),
                r.iter().copied().reduce(f64::max),
            ) {
                (Some(lo), Some(hi)) => format!("{} ({lo:.3}..{hi:.3})", r.len()),
                _ => "0".into(),
            };
            s.push_str(&format!(
                "| {} | {} | {condition} | {} | {spread} | {base} | {target} | {status} | {} |\n",
                k.kernel,
                w.label,
                m.map_or("-".into(), |m| format!("×{m:.3}")),
                top_programs(
                    k.costs.get(&(condition.to_string(), w.name.to_string())),
                    w.ops / STATS_SHARE
                ),
            ));
        }
    }
    for condition in &CONDITIONS[1..] {
        let ready: Vec<f64> = k
            .runs
            .iter()
            .filter(|r| r.condition == *condition)
            .filter_map(|r| r.ready_seconds)
            .collect();
        s.push_str(&format!(
            "\n- {} `hooks = \"{condition}\"`: {}; agent ready after {} s (median of {} starts)",
            k.kernel,
            k.hook_paths
                .get(*condition)
                .map_or("hook paths not reported".into(), |p| format!("paths {p}")),
            median(&ready).map_or("-".into(), |m| format!("{m:.1}")),
            ready.len()
        ));
    }
    s.push('\n');
    for p in &k.problems {
        s.push_str(&format!("- {} problem: {p}\n", k.kernel));
    }
    s
}

/// The static build of xtask itself (the guest's workload binary, and the
/// suite's setxattr caller), beside the agent's static build.
pub fn workload_binary(built: &Built) -> Result<PathBuf, String> {
    let mut b = crate::cargo();
    b.args([
        "build",
        "--release",
        "-p",
        "xtask",
        "--target",
        package::TARGET,
    ])
    .env("RUSTFLAGS", package::static_rustflags());
    crate::run(b).map_err(|_| "the static build of xtask failed".to_string())?;
    let bin = built.binary.with_file_name("xtask");
    let bytes = fs::read(&bin).map_err(|e| format!("reading {}: {e}", bin.display()))?;
    let dynamic = package::dynamic_linking(&bytes)
        .map_err(|e| format!("{}: not an ELF we understand: {e}", bin.display()))?;
    if !dynamic.is_empty() {
        return Err(format!(
            "{} is not static ({}): the guest has no C library",
            bin.display(),
            dynamic.join("; ")
        ));
    }
    Ok(bin)
}

/// The benchmark's files in the guest, besides the suite's.
fn extras(workload_bin: &Path, rounds: usize) -> Result<Vec<Extra>, String> {
    let bin =
        fs::read(workload_bin).map_err(|e| format!("reading {}: {e}", workload_bin.display()))?;
    let text = |path: &str, s: String, mode| Extra {
        path: path.into(),
        data: s.into_bytes(),
        mode,
    };
    Ok(vec![
        text(
            "bench-init",
            include_str!("bench-init.sh").to_string(),
            0o755,
        ),
        Extra {
            path: "usr/local/bin/rg-vm-bench".into(),
            data: bin,
            mode: 0o755,
        },
        text("etc/rg-vm-bench.env", guest_env(rounds), 0o644),
        text(
            "etc/rand-guard/bench-tracepoint.toml",
            agent_config("tracepoint"),
            0o644,
        ),
        text(
            "etc/rand-guard/bench-auto.toml",
            agent_config("auto"),
            0o644,
        ),
    ])
}

/// A command's first line of output, or "?".
fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .current_dir(crate::root())
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "?".into())
}

/// The run's conditions, above the tables.
fn header(accel: Accel, rounds: usize) -> String {
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(crate::root())
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    format!(
        "{}, commit {}{}, {accel} guests with 2 vCPUs on a host with {} cores and load average {}; \
         {rounds} rounds (none, tracepoint, auto in rotating order), ops per run: {} \
         (a tenth of them in the statistics pass); agent: network on (connect, bind, \
         listen, accept) and collect_dns = true.\n\n",
        first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        first_line("git", &["rev-parse", "--short", "HEAD"]),
        if dirty {
            " (with uncommitted changes)"
        } else {
            ""
        },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        WORKLOADS
            .iter()
            .map(|w| format!("{} {}", w.name, w.ops))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// `vm-test --bench`: one benchmark boot per kernel; prints each kernel's
/// table and writes it to `.local/vm/runs/<kernel>/bench.md`.
pub fn run(kernels: &[String], built: &Built, rounds: usize) -> Result<(), ExitCode> {
    let fail = |e: String| {
        eprintln!("xtask: vm-test --bench: {e}");
        ExitCode::FAILURE
    };
    let workload_bin = workload_binary(built).map_err(fail)?;
    let initrd = crate::root().join(".local/vm/initramfs-bench.cpio");
    initramfs::build(
        &built.binary,
        &built.bpf_object,
        extras(&workload_bin, rounds).map_err(fail)?,
        &initrd,
    )
    .map_err(fail)?;
    let mut failed = false;
    for k in kernels {
        // 13 to 26 minutes under TCG on a loaded host; the guest gives
        // each agent start 300 s, so a stuck one still leaves a report
        // (only one at that).
        let b = super::boot(
            k,
            &initrd,
            "quiet rdinit=/bench-init",
            "bench-",
            Duration::from_secs(1800),
        )
        .map_err(fail)?;
        let md = match parse_guest(k, &b.data) {
            Ok(r) => format!(
                "{}{}\nboot: {:.0} s ({}).\n",
                header(b.accel, rounds),
                render(&r),
                b.ended.seconds,
                b.package
            ),
            Err(e) => {
                failed = true;
                format!("{k}: no benchmark results: {e} ({}\n", b.what_happened())
            }
        };
        println!("{md}");
        let file = crate::root()
            .join(".local/vm/runs")
            .join(k)
            .join("bench.md");
        fs::write(&file, &md).map_err(|e| fail(format!("writing {}: {e}", file.display())))?;
        eprintln!("xtask: vm-test --bench: wrote {}", file.display());
    }
    if failed {
        Err(ExitCode::FAILURE)
    } else {
        Ok(())
    }
}

#[cfg(test)]
#[path = "bench_tests.rs"]
mod tests;
