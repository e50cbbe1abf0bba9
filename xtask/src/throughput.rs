//! `cargo run -p xtask -- throughput`: the agent under a controlled file
//! workload at several rates (SPEC §6).
//!
//! Each step runs the workload (by default open for write + overwrite 64
//! bytes + close of rotating files in a watched directory: one `open`
//! event per operation; `--op chmod`: an fchmod, one `chmod` event, cheap
//! enough for 100k events/s) at a target rate for a fixed time, first without the agent,
//! then beside a fresh agent (default configuration, a health record every
//! second), as one A/B pair. From the agent's health records: events/s
//! (`events_output_total` deltas), drops (`kernel_ringbuf_drops_total`,
//! `channel_full_drops_total`), RSS; from /proc: its CPU time and peak RSS;
//! from the workload: its CPU time per operation without and with the
//! agent (the cheapest of CHUNKS chunks, as in bench.rs), i.e. the
//! slowdown. Writes `.local/throughput/<timestamp>/summary.json`,
//! `summary.md`, `throughput.svg` and the health records of each step.

use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::agent::{self, Agent};
use crate::bench::DEFAULT_CONFIG_1S_HEALTH;
use crate::collector::Collector;
use crate::svg;
use crate::workload::{self, FileOp, FileWriter, Paced};

pub struct Options {
    pub seconds: f64,
    /// Target operations (= events) per second; None: as fast as possible.
    pub rates: Vec<Option<f64>>,
    pub ring_buffer_bytes: Option<u64>,
    /// Keep each step's full agent output (can be GBs), not just health.
    pub keep_output: bool,
    /// Where the workload writes; must be under a watched prefix.
    pub dir: PathBuf,
    /// Workload threads, each with its share of the rate.
    pub threads: usize,
    pub op: FileOp,
    /// Also run each step beside an agent forwarding to a loopback rsyslog
    /// over this transport (`tcp`, `relp` or `unix`).
    pub forward: Option<String>,
}

fn parse_rates(v: &str) -> Result<Vec<Option<f64>>, String> {
    v.split(',')
        .map(|r| match r.trim() {
            "max" => Ok(None),
            n => n
                .strip_suffix('k')
                .map_or_else(|| n.parse::<f64>(), |k| k.parse::<f64>().map(|x| x * 1e3))
                .ok()
                .filter(|x| *x > 0.0)
                .map(Some)
                .ok_or_else(|| format!("--rates: `{r}` is not a positive rate or `max`")),
        })
        .collect()
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            seconds: 10.0,
            rates: parse_rates("1000,5000,20000,50000,max").unwrap(),
            ring_buffer_bytes: None,
            keep_output: false,
            dir: PathBuf::from("/root/rg-throughput"),
            threads: 1,
            op: FileOp::Write,
            forward: None,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
            match a.as_str() {
                "--seconds" => {
                    o.seconds = value()?
                        .parse()
                        .ok()
                        .filter(|s: &f64| *s >= 1.0)
                        .ok_or("--seconds needs a number of seconds, at least 1")?
                }
                "--rates" => o.rates = parse_rates(value()?)?,
                "--ring-buffer-bytes" => {
                    o.ring_buffer_bytes = Some(
                        value()?
                            .parse()
                            .map_err(|_| "--ring-buffer-bytes needs a number")?,
                    )
                }
                "--keep-output" => o.keep_output = true,
                "--forward" => o.forward = Some("tcp".into()),
                "--forward-unix" => o.forward = Some("unix".into()),
                "--forward-relp" => o.forward = Some("relp".into()),
                "--dir" => o.dir = PathBuf::from(value()?),
                "--threads" => {
                    o.threads = value()?
                        .parse()
                        .ok()
                        .filter(|t: &usize| *t >= 1)
                        .ok_or("--threads needs a number, at least 1")?
                }
                "--op" => {
                    o.op = match value()?.as_str() {
                        "write" => FileOp::Write,
                        "chmod" => FileOp::Chmod,
                        v => return Err(format!("--op: `{v}` is neither `write` nor `chmod`")),
                    }
                }
                other => return Err(format!("unknown throughput option `{other}`")),
            }
        }
        if o.rates.is_empty() {
            return Err("--rates is empty".into());
        }
        Ok(o)
    }

    fn config(&self) -> String {
        let mut c = DEFAULT_CONFIG_1S_HEALTH.to_string();
        if let Some(b) = self.ring_buffer_bytes {
            c.push_str(&format!("[kernel]\nring_buffer_bytes = {b}\n"));
        }
        c
    }
}

fn label(rate: Option<f64>) -> String {
    rate.map_or("unthrottled".into(), |r| format!("{}/s", svg::short(r)))
}

/// Seconds since the epoch.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse: (year, month, day) of a day number.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Seconds since the epoch of the agent's `@timestamp`
/// ("2026-11-28T08:38:04.874476796Z": always UTC, see docs/schema.md).
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    let (date, time) = s.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|v| v.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.splitn(3, ':');
    let (h, min) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = t.next()?.parse().ok()?;
    Some((days_from_civil(y, m, day) * 86_400 + h * 3600 + min * 60) as f64 + sec)
}

/// "20261128T095000Z": a directory name that sorts by time.
pub fn stamp(epoch_secs: u64) -> String {
    let (y, m, d) = civil_from_days((epoch_secs / 86_400) as i64);
    let s = epoch_secs % 86_400;
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// One health interval: its end (seconds from the step's workload
/// start), and rates over it.
#[derive(Debug, Clone, Copy)]
struct Interval {
    t: f64,
    len: f64,
    events_per_s: f64,
    drops: u64,
    rss: u64,
}

/// Consecutive health records to per-interval rates. `records` are
/// (epoch seconds, health); times relative to `t0`.
fn intervals(records: &[(f64, serde_json::Value)], t0: f64) -> Vec<Interval> {
    let total = |h: &serde_json::Value| {
        (
            h["events_output_total"].as_u64().unwrap_or(0),
            agent::sum(h, "kernel_ringbuf_drops_total") + agent::sum(h, "channel_full_drops_total"),
        )
    };
    records
        .windows(2)
        .filter_map(|w| {
            let ((ta, a), (tb, b)) = (&w[0], &w[1]);
            let len = tb - ta;
            // The final record comes right after the previous one at
            // shutdown: too short an interval to be a rate.
            if len < 0.2 {
                return None;
            }
            let ((ea, da), (eb, db)) = (total(a), total(b));
            Some(Interval {
                t: tb - t0,
                len,
                events_per_s: eb.saturating_sub(ea) as f64 / len,
                drops: db.saturating_sub(da),
                rss: b["rss_bytes"].as_u64().unwrap_or(0),
            })
        })
        .collect()
}

struct Step {
    rate: Option<f64>,
    base: Paced,
    with: Paced,
    /// Agent CPU seconds over the workload and the drain after it.
    agent_cpu: f64,
    /// Seconds from the workload's end until the agent was idle again.
    tail: f64,
    /// (seconds from workload start, agent CPU seconds) once a second.
    cpu_samples: Vec<(f64, f64)>,
    intervals: Vec<Interval>,
    last: serde_json::Value,
    vm_hwm: u64,
    /// Where this step starts on the plot's time axis.
    offset: f64,
    /// `--forward`: the same workload beside an agent forwarding to the
    /// loopback rsyslog, and what the collector received.
    forward: Option<(Leg, u64)>,
}

impl Step {
    /// Agent CPU seconds per event written.
    fn cpu_per_event(&self) -> f64 {
        self.agent_cpu / self.events().max(1) as f64
    }
    fn events(&self) -> u64 {
        self.last["events_output_total"].as_u64().unwrap_or(0)
    }
    fn ring_drops(&self) -> u64 {
        agent::sum(&self.last, "kernel_ringbuf_drops_total")
    }
    fn channel_drops(&self) -> u64 {
        agent::sum(&self.last, "channel_full_drops_total")
    }
    /// Intervals wholly inside the workload's run.
    fn steady(&self, seconds: f64) -> Vec<&Interval> {
        self.intervals
            .iter()
            .filter(|i| i.t - i.len >= 0.0 && i.t <= seconds + 0.05)
            .collect()
    }
    fn cpu_ratio(&self) -> f64 {
        self.with.min_cpu_per_op().as_secs_f64() / self.base.min_cpu_per_op().as_secs_f64()
    }
    fn wall_ratio(&self) -> f64 {
        self.with.min_wall_per_op().as_secs_f64() / self.base.min_wall_per_op().as_secs_f64()
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// After the workload the agent may still be working off a backlog: it is
/// sampled every DRAIN_STEP until it uses less than IDLE_SHARE of a core,
/// for at least MIN_TAIL (two more health records for the plot) and at
/// most MAX_DRAIN.
const DRAIN_STEP: Duration = Duration::from_millis(1000);
const IDLE_SHARE: f64 = 0.02;
const MIN_TAIL: Duration = Duration::from_secs(2);
const MAX_DRAIN: Duration = Duration::from_secs(60);

pub fn run(bin: &Path, o: &Options, out_root: &Path) -> Result<PathBuf, String> {
    let at_start = agent::check_conditions("throughput");
    let started = now();
    let out = out_root.join(stamp(started as u64));
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let scratch = out.join("agent");
    let config = o.config();
    let duration = Duration::from_secs_f64(o.seconds);
    let tty = std::io::stderr().is_terminal();
    let n = o.rates.len();
    let collector = if o.forward.is_some() {
        Some(Collector::start(&out.join("collector"))?)
    } else {
        None
    };
    let mut steps: Vec<Step> = Vec::new();
    let mut offset = 0.0;
    eprintln!(
        "throughput: {n} steps of {} s without and with the agent, workload in {}, results in {}",
        o.seconds,
        o.dir.display(),
        out.display()
    );
    for (i, &rate) in o.rates.iter().enumerate() {
        let name = format!("step {}/{n} ({})", i + 1, label(rate));
        eprintln!("throughput: {name}: without the agent, {} s", o.seconds);
        let base = file_workload(o, rate, duration, |t| progress(tty, t, duration));
        eprintln!(
            "throughput: {name}: without the agent: {:.0} ops/s, {:.2} µs CPU/op",
            base.rate(),
            base.min_cpu_per_op().as_secs_f64() * 1e6
        );

        eprintln!("throughput: {name}: with the agent, {} s", o.seconds);
        let agent_out = out.join(format!("agent-{}.jsonl", i + 1));
        let leg = agent_leg(bin, o, &config, &scratch, &agent_out, rate, tty)?;
        let health_file = out.join(format!("health-{}.jsonl", i + 1));
        write_health(&health_file, &leg.records)?;
        if !o.keep_output {
            let _ = fs::remove_file(&agent_out);
        }
        // The same again, forwarding every record to the loopback collector:
        // right after the plain run, so the pair sees the same machine.
        let forward = match &collector {
            None => None,
            Some(c) => {
                eprintln!(
                    "throughput: {name}: with the agent forwarding to rsyslog, {} s",
                    o.seconds
                );
                let fwd_out = out.join(format!("agent-forward-{}.jsonl", i + 1));
                let before = c.received();
                let fwd = agent_leg(
                    bin,
                    o,
                    &c.agent_config(&config, o.forward.as_deref().unwrap_or("tcp")),
                    &scratch,
                    &fwd_out,
                    rate,
                    tty,
                )?;
                write_health(
                    &out.join(format!("health-forward-{}.jsonl", i + 1)),
                    &fwd.records,
                )?;
                if !o.keep_output {
                    let _ = fs::remove_file(&fwd_out);
                }
                let received = c.received_after(before, fwd.forwarded());
                Some((fwd, received))
            }
        };
        let Leg {
            with,
            agent_cpu,
            forwarder_cpu: _,
            tail,
            cpu_samples,
            records,
            t0,
            last,
            vm_hwm,
        } = leg;
        let step = Step {
            rate,
            base,
            with,
            agent_cpu,
            tail,
            cpu_samples,
            intervals: intervals(&records, t0),
            last,
            vm_hwm,
            offset,
            forward,
        };
        let steady = step.steady(o.seconds);
        eprintln!(
            "throughput: {name}: with the agent: {:.0} ops/s, {:.2} µs CPU/op (×{:.3}); agent: {:.0} events/s (median of {} s), {} events, {} ring-buffer + {} channel drops, CPU {:.2} s ({:.0} % of a core), peak RSS {:.1} MiB",
            step.with.rate(),
            step.with.min_cpu_per_op().as_secs_f64() * 1e6,
            step.cpu_ratio(),
            median(steady.iter().map(|i| i.events_per_s).collect()),
            steady.len(),
            step.events(),
            step.ring_drops(),
            step.channel_drops(),
            step.agent_cpu,
            step.agent_cpu / step.with.elapsed().as_secs_f64() * 100.0,
            step.vm_hwm as f64 / MIB,
        );
        if let Some((f, received)) = &step.forward {
            eprintln!(
                "throughput: {name}: forwarding: agent CPU {:.2} µs/event (without forwarding {:.2}, ×{:.3}; \
                 the forwarder thread {:.2}); \
                 {} local drops; {} forwarded, {} at the collector, {} forward drops",
                f.cpu_per_event() * 1e6,
                step.cpu_per_event() * 1e6,
                f.cpu_per_event() / step.cpu_per_event(),
                f.forwarder_cpu_per_event() * 1e6,
                f.local_drops(),
                f.forwarded(),
                received,
                agent::sum(&f.last, "forward_drops_total"),
            );
        }
        offset += PLOT_BEFORE + o.seconds + tail + PLOT_GAP;
        steps.push(step);
    }
    drop(collector);
    let _ = fs::remove_dir_all(&o.dir);
    // Again: someone may have started an agent while this ran.
    let conditions = format!(
        "at the start {at_start}; at the end {}",
        agent::check_conditions("throughput (at the end)")
    );

    let summary = summary_json(&steps, o, started, &conditions);
    fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&summary).unwrap() + "\n",
    )
    .map_err(|e| e.to_string())?;
    fs::write(out.join("summary.md"), summary_md(&steps, o, &conditions))
        .map_err(|e| e.to_string())?;
    fs::write(out.join("throughput.svg"), plot(&steps, o)).map_err(|e| e.to_string())?;
    Ok(out)
}

/// One run of the workload beside a fresh agent with `config`, and what
/// the agent did: its CPU over the workload and the drain after it, its
/// health records.
struct Leg {
    with: Paced,
    agent_cpu: f64,
    /// Of that, the forwarder thread's (0 without forwarding): the part of
    /// forwarding's cost a loaded machine blurs least in the ratio.
    forwarder_cpu: f64,
    tail: f64,
    cpu_samples: Vec<(f64, f64)>,
    records: Vec<(f64, serde_json::Value)>,
    t0: f64,
    last: serde_json::Value,
    vm_hwm: u64,
}

impl Leg {
    /// Agent CPU seconds per event written.
    fn cpu_per_event(&self) -> f64 {
        self.agent_cpu
            / self.last["events_output_total"]
                .as_u64()
                .unwrap_or(0)
                .max(1) as f64
    }
    /// The forwarder thread's CPU seconds per event written.
    fn forwarder_cpu_per_event(&self) -> f64 {
        self.forwarder_cpu
            / self.last["events_output_total"]
                .as_u64()
                .unwrap_or(0)
                .max(1) as f64
    }
    /// Records lost locally: ring buffer, full channels, the writer.
    fn local_drops(&self) -> u64 {
        agent::sum(&self.last, "kernel_ringbuf_drops_total")
            + agent::sum(&self.last, "channel_full_drops_total")
            + agent::sum(&self.last, "output_buffer_drops_total")
    }
    fn forwarded(&self) -> u64 {
        self.last["forward_messages_total"].as_u64().unwrap_or(0)
    }
}

fn agent_leg(
    bin: &Path,
    o: &Options,
    config: &str,
    scratch: &Path,
    agent_out: &Path,
    rate: Option<f64>,
    tty: bool,
) -> Result<Leg, String> {
    let duration = Duration::from_secs_f64(o.seconds);
    let agent = Agent::start_with_output(bin, config, scratch, agent_out);
    let t0 = now();
    let cpu0 = agent.cpu_seconds();
    let fwd0 = agent.thread_cpu_seconds("forward");
    let mut cpu_samples = vec![(0.0, 0.0)];
    let with = file_workload(o, rate, duration, |t| {
        cpu_samples.push((t.as_secs_f64(), agent.cpu_seconds() - cpu0));
        progress(tty, t, duration);
    });
    let t_end = now() - t0;
    cpu_samples.push((t_end, agent.cpu_seconds() - cpu0));
    // Drained: the agent has gone (nearly) idle. Until then it is still
    // working off this step's events, which belong to its cost.
    let mut prev = agent.cpu_seconds();
    let mut waited = Duration::ZERO;
    while waited < MAX_DRAIN {
        std::thread::sleep(DRAIN_STEP);
        waited += DRAIN_STEP;
        let cpu = agent.cpu_seconds();
        cpu_samples.push((now() - t0, cpu - cpu0));
        let idle = cpu - prev < IDLE_SHARE * DRAIN_STEP.as_secs_f64();
        prev = cpu;
        if idle && waited >= MIN_TAIL {
            break;
        }
    }
    let tail = now() - t0 - t_end;
    let agent_cpu = agent.cpu_seconds() - cpu0;
    let forwarder_cpu = agent.thread_cpu_seconds("forward") - fwd0;
    let vm_hwm = agent.peak_rss_bytes();
    let last = agent.stop();
    let records = agent::health_records(agent_out)
        .into_iter()
        .filter_map(|(ts, h)| Some((parse_rfc3339(&ts)?, h)))
        .collect();
    Ok(Leg {
        with,
        agent_cpu,
        forwarder_cpu,
        tail,
        cpu_samples,
        records,
        t0,
        last,
        vm_hwm,
    })
}

fn write_health(path: &Path, records: &[(f64, serde_json::Value)]) -> Result<(), String> {
    let lines: Vec<String> = records
        .iter()
        .map(|(t, h)| json!({"time": t, "health": h}).to_string())
        .collect();
    fs::write(path, lines.join("\n") + "\n").map_err(|e| format!("{}: {e}", path.display()))
}

/// The workload on `o.threads` threads, each at its share of the rate with
/// its own files. The main thread's measurement stands for all: process
/// CPU time covers every thread, and all threads' chunks cover the same
/// stretches of time; only their operations are added up.
fn file_workload(
    o: &Options,
    rate: Option<f64>,
    duration: Duration,
    tick: impl FnMut(Duration),
) -> Paced {
    let share = rate.map(|r| r / o.threads as f64);
    let mut writers: Vec<FileWriter> = (0..o.threads)
        .map(|t| FileWriter::new(&o.dir.join(format!("t{t}")), o.op))
        .collect();
    // Warm the page cache and dentries, as the first chunk would.
    for w in &mut writers {
        for _ in 0..2048 {
            w.op();
        }
    }
    let (first, others) = writers.split_first_mut().expect("at least one thread");
    std::thread::scope(|s| {
        let helpers: Vec<_> = others
            .iter_mut()
            .map(|w| {
                s.spawn(move || {
                    workload::pace(share, duration, workload::self_cpu, || w.op(), |_| {})
                })
            })
            .collect();
        let mut main = workload::pace(share, duration, workload::self_cpu, || first.op(), tick);
        for h in helpers {
            let p = h.join().expect("workload thread");
            for (m, c) in main.chunks.iter_mut().zip(p.chunks) {
                m.ops += c.ops;
            }
        }
        main
    })
}

fn progress(tty: bool, t: Duration, total: Duration) {
    // A line per second would flood a log; on a terminal, one line that
    // counts up.
    if tty {
        eprint!("\r  {:.0}/{:.0} s ", t.as_secs_f64(), total.as_secs_f64());
        if t + Duration::from_secs(1) > total {
            eprintln!();
        }
    }
}

const MIB: f64 = 1024.0 * 1024.0;
/// Plot time shown before each step's workload starts, and between steps.
const PLOT_BEFORE: f64 = 1.0;
const PLOT_GAP: f64 = 1.0;

fn summary_json(steps: &[Step], o: &Options, started: f64, conditions: &str) -> serde_json::Value {
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    json!({
        "command": format!("cargo run -p xtask -- throughput {}", args_text(o)),
        "started": stamp(started as u64),
        "host": {"kernel": kernel.trim(), "cpus": cpus},
        "conditions": conditions,
        "seconds_per_step": o.seconds,
        "agent_config": o.config(),
        "workload": format!("{}, per thread in {} (watched)", o.op.describe(), o.dir.display()),
        "workload_threads": o.threads,
        "steps": steps.iter().map(|s| {
            let steady = s.steady(o.seconds);
            json!({
                "target_ops_per_second": s.rate,
                "without_agent": {
                    "ops": s.base.ops(),
                    "ops_per_second": s.base.rate(),
                    "cpu_ns_per_op_min_chunk": s.base.min_cpu_per_op().as_nanos() as u64,
                    "wall_ns_per_op_min_chunk": s.base.min_wall_per_op().as_nanos() as u64,
                },
                "with_agent": {
                    "ops": s.with.ops(),
                    "ops_per_second": s.with.rate(),
                    "cpu_ns_per_op_min_chunk": s.with.min_cpu_per_op().as_nanos() as u64,
                    "wall_ns_per_op_min_chunk": s.with.min_wall_per_op().as_nanos() as u64,
                },
                "workload_cpu_ratio": s.cpu_ratio(),
                "workload_wall_ratio": s.wall_ratio(),
                "agent": {
                    "events_output_total": s.events(),
                    "events_per_second_median": median(steady.iter().map(|i| i.events_per_s).collect()),
                    "events_per_second_max": steady.iter().map(|i| i.events_per_s).fold(0.0, f64::max),
                    "kernel_ringbuf_drops_total": s.ring_drops(),
                    "channel_full_drops_total": s.channel_drops(),
                    "cpu_seconds": s.agent_cpu,
                    "cpu_percent_of_one_core": s.agent_cpu / s.with.elapsed().as_secs_f64() * 100.0,
                    "drain_seconds": s.tail,
                    "rss_bytes_max": s.intervals.iter().map(|i| i.rss).max().unwrap_or(0),
                    "vm_hwm_bytes": s.vm_hwm,
                },
                "forward": s.forward.as_ref().map(|(f, received)| json!({
                    "events_output_total": f.last["events_output_total"],
                    "agent_cpu_seconds": f.agent_cpu,
                    "agent_cpu_seconds_per_event": f.cpu_per_event(),
                    "agent_cpu_per_event_ratio": f.cpu_per_event() / s.cpu_per_event(),
                    "forwarder_thread_cpu_seconds_per_event": f.forwarder_cpu_per_event(),
                    "local_drops": f.local_drops(),
                    "forward_messages_total": f.forwarded(),
                    "collector_received": received,
                    "forward_drops_total": f.last["forward_drops_total"],
                })),
                "agent_cpu_samples": s.cpu_samples.iter().map(|(t, c)| json!({"t": t, "cpu_seconds": c})).collect::<Vec<_>>(),
                "health_intervals": s.intervals.iter().map(|i| json!({
                    "t": i.t, "seconds": i.len, "events_per_second": i.events_per_s,
                    "drops": i.drops, "rss_bytes": i.rss,
                })).collect::<Vec<_>>(),
            })
        }).collect::<Vec<_>>(),
    })
}

fn args_text(o: &Options) -> String {
    let rates: Vec<String> = o
        .rates
        .iter()
        .map(|r| r.map_or("max".into(), |r| format!("{r}")))
        .collect();
    let mut s = format!("--seconds {} --rates {}", o.seconds, rates.join(","));
    if o.threads > 1 {
        s.push_str(&format!(" --threads {}", o.threads));
    }
    if o.op != FileOp::Write {
        s.push_str(&format!(" --op {}", o.op.name()));
    }
    if let Some(b) = o.ring_buffer_bytes {
        s.push_str(&format!(" --ring-buffer-bytes {b}"));
    }
    match o.forward.as_deref() {
        Some("unix") => s.push_str(" --forward-unix"),
        Some("relp") => s.push_str(" --forward-relp"),
        Some(_) => s.push_str(" --forward"),
        None => {}
    }
    s
}

fn summary_md(steps: &[Step], o: &Options, conditions: &str) -> String {
    let mut s = format!(
        "# Throughput\n\n`cargo run -p xtask -- throughput {}`\n\n\
         Workload: {} in `{}` (watched) on {} thread(s), {} s per step, first \
         without the agent, then beside a fresh agent (default configuration{}, health every second).\n\n\
         Conditions: {conditions}.\n\n",
        args_text(o),
        o.op.describe(),
        o.dir.display(),
        o.threads,
        o.seconds,
        o.ring_buffer_bytes
            .map_or(String::new(), |b| format!(", ring buffer {b} bytes")),
    );
    s.push_str("| target | ops/s without / with | workload CPU per op without / with (ratio) | events/s out, median (max) | events out | ring-buffer drops | channel-full drops | agent CPU s (% of a core) | drain s | agent RSS, median of the steady health records (max) | agent peak RSS (VmHWM) |\n");
    s.push_str("|---|---|---|---|---|---|---|---|---|---|---|\n");
    for st in steps {
        let steady = st.steady(o.seconds);
        let rates: Vec<f64> = steady.iter().map(|i| i.events_per_s).collect();
        let rss: Vec<f64> = steady.iter().map(|i| i.rss as f64 / MIB).collect();
        let ratio = if st.rate.is_none() {
            format!("×{:.3}; wall ×{:.3}", st.cpu_ratio(), st.wall_ratio())
        } else {
            format!("×{:.3}", st.cpu_ratio())
        };
        s.push_str(&format!(
            "| {} | {:.0} / {:.0} | {:.2} / {:.2} µs ({ratio}) | {:.0} ({:.0}) | {} | {} | {} | {:.2} ({:.0} %) | {:.0} | {:.1} ({:.1}) MiB | {:.1} MiB |\n",
            label(st.rate),
            st.base.rate(),
            st.with.rate(),
            st.base.min_cpu_per_op().as_secs_f64() * 1e6,
            st.with.min_cpu_per_op().as_secs_f64() * 1e6,
            median(rates.clone()),
            rates.iter().cloned().fold(0.0, f64::max),
            st.events(),
            st.ring_drops(),
            st.channel_drops(),
            st.agent_cpu,
            st.agent_cpu / st.with.elapsed().as_secs_f64() * 100.0,
            st.tail,
            median(rss.clone()),
            rss.iter().cloned().fold(0.0, f64::max),
            st.vm_hwm as f64 / MIB,
        ));
    }
    s.push_str(
        "\nevents/s: `events_output_total` deltas between the 1-second health records wholly \
         inside the workload's run (all processes' events: other work on the machine adds a few). \
         Workload CPU per op: the cheapest of 5 chunks. Agent CPU: over the workload and the \
         drain after it (until the agent is idle again, at least 2 s), as a share of the \
         workload's duration; drain: how long the agent kept working after the workload \
         stopped (a backlog in the ring buffer and the pipeline). Plot: throughput.svg.\n",
    );
    if steps.iter().any(|st| st.forward.is_some()) {
        s.push_str(&forward_md(steps));
    }
    s
}

/// `--forward`: agent CPU per event without and with forwarding, and loss.
fn forward_md(steps: &[Step]) -> String {
    let mut s = String::from(
        "\n## Forwarding\n\nEach step once more right after the plain run, beside an agent \
         forwarding every record to an rsyslogd of its own (`[forward.syslog]`: TCP on loopback \
         with --forward, RELP on loopback with --forward-relp, its Unix socket with --forward-unix).\n\n\
         | target | events out without / with forwarding | agent CPU per event without / with (ratio) | of it the forwarder thread | local drops without / with | forwarded | at the collector | forward drops |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for st in steps {
        let Some((f, received)) = &st.forward else {
            continue;
        };
        let local = st.ring_drops()
            + st.channel_drops()
            + agent::sum(&st.last, "output_buffer_drops_total");
        s.push_str(&format!(
            "| {} | {} / {} | {:.2} / {:.2} µs (×{:.3}) | {:.2} µs | {} / {} | {} | {} | {} |\n",
            label(st.rate),
            st.events(),
            f.last["events_output_total"].as_u64().unwrap_or(0),
            st.cpu_per_event() * 1e6,
            f.cpu_per_event() * 1e6,
            f.cpu_per_event() / st.cpu_per_event(),
            f.forwarder_cpu_per_event() * 1e6,
            local,
            f.local_drops(),
            f.forwarded(),
            received,
            agent::sum(&f.last, "forward_drops_total"),
        ));
    }
    s
}

fn plot(steps: &[Step], o: &Options) -> String {
    let bands: Vec<svg::Band> = steps
        .iter()
        .map(|s| svg::Band {
            x0: s.offset,
            x1: s.offset + PLOT_BEFORE + o.seconds + s.tail,
            label: label(s.rate),
        })
        .collect();
    // x: seconds on the plot's axis; each step's workload starts at
    // offset + PLOT_BEFORE.
    let x = |s: &Step, t: f64| s.offset + PLOT_BEFORE + t;
    let seg = |f: &dyn Fn(&Step) -> Vec<(f64, f64)>| steps.iter().map(f).collect::<Vec<_>>();
    let shown = |s: &Step, t: f64| t >= -PLOT_BEFORE && t <= o.seconds + s.tail;
    let events = svg::Series {
        name: "events/s written".into(),
        color: "#1f5fbf",
        dashed: false,
        segments: seg(&|s| {
            s.intervals
                .iter()
                .filter(|i| shown(s, i.t))
                .map(|i| (x(s, i.t), i.events_per_s))
                .collect()
        }),
    };
    let target = svg::Series {
        name: "target ops/s".into(),
        color: "#888888",
        dashed: true,
        segments: seg(&|s| match s.rate {
            Some(r) => vec![(x(s, 0.0), r), (x(s, o.seconds), r)],
            None => vec![(x(s, 0.0), s.with.rate()), (x(s, o.seconds), s.with.rate())],
        }),
    };
    let drops = svg::Series {
        name: "drops/s (ring buffer + channel)".into(),
        color: "#c0392b",
        dashed: false,
        segments: seg(&|s| {
            s.intervals
                .iter()
                .filter(|i| shown(s, i.t))
                .map(|i| (x(s, i.t), i.drops as f64 / i.len))
                .collect()
        }),
    };
    let cpu = svg::Series {
        name: "agent CPU % of one core".into(),
        color: "#2e8b57",
        dashed: false,
        segments: seg(&|s| {
            s.cpu_samples
                .windows(2)
                .filter(|w| w[1].0 - w[0].0 > 0.2 && shown(s, w[1].0))
                .map(|w| (x(s, w[1].0), (w[1].1 - w[0].1) / (w[1].0 - w[0].0) * 100.0))
                .collect()
        }),
    };
    svg::chart(
        &format!(
            "rand-guard throughput: {} s per step, file writes in a watched directory",
            o.seconds
        ),
        "seconds (each band: one step with a fresh agent; dashed: the workload's target, or its achieved rate when unthrottled)",
        &[
            svg::Panel {
                title: "events written per second (health record deltas)".into(),
                series: vec![target, events],
            },
            svg::Panel {
                title: "records dropped per second".into(),
                series: vec![drops],
            },
            svg::Panel {
                title: "agent CPU (% of one core)".into(),
                series: vec![cpu],
            },
        ],
        &bands,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options() {
        let o = Options::parse(&[]).unwrap();
        assert_eq!(
            o.rates,
            vec![Some(1e3), Some(5e3), Some(2e4), Some(5e4), None]
        );
        assert_eq!(o.seconds, 10.0);
        let o = Options::parse(&args(&["--rates", "100k,max", "--seconds", "60"])).unwrap();
        assert_eq!(o.rates, vec![Some(1e5), None]);
        assert_eq!(o.seconds, 60.0);
        assert!(Options::parse(&args(&["--rates", "fast"])).is_err());
        assert!(Options::parse(&args(&["--seconds", "0"])).is_err());
        let o = Options::parse(&args(&["--ring-buffer-bytes", "67108864"])).unwrap();
        assert!(o.config().contains("ring_buffer_bytes = 67108864"));
        assert!(o.config().contains("interval_seconds = 1"));
        assert_eq!(o.forward, None);
        let o = Options::parse(&args(&["--forward", "--rates", "50k"])).unwrap();
        assert_eq!(o.forward.as_deref(), Some("tcp"));
        assert_eq!(args_text(&o), "--seconds 10 --rates 50000 --forward");
    }

    #[test]
    fn times() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(
            civil_from_days(days_from_civil(2026, 11, 28)),
            (2026, 11, 28)
        );
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        // date -u -d 2026-11-28T08:38:04Z +%s
        let t = parse_rfc3339("2026-11-28T08:38:04.874476796Z").unwrap();
        assert!((t - 1_795_855_084.874_477).abs() < 1e-5, "{t}");
        assert_eq!(stamp(1_795_855_084), "20261128T083804Z");
        assert!(parse_rfc3339("2026-11-28 08:38:04Z").is_none());
    }

    #[test]
    fn health_records_become_rates() {
        let h = |e: u64, d: u64| {
            json!({"events_output_total": e, "rss_bytes": 7,
                   "kernel_ringbuf_drops_total": {"file_open": d},
                   "channel_full_drops_total": {"poller": 0}})
        };
        let recs = vec![
            (100.0, h(0, 0)),
            (101.0, h(500, 0)),
            (102.0, h(1500, 3)),
            (102.05, h(1510, 3)), // the final record at shutdown
        ];
        let iv = intervals(&recs, 100.0);
        assert_eq!(iv.len(), 2);
        assert_eq!((iv[0].t, iv[0].events_per_s, iv[0].drops), (1.0, 500.0, 0));
        assert_eq!((iv[1].t, iv[1].events_per_s, iv[1].drops), (2.0, 1000.0, 3));
        assert_eq!(iv[1].rss, 7);
    }
}
