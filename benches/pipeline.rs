//! The userspace pipeline alone, without a kernel: synthetic ring-buffer
//! records go through decode → normalize → enrich → filter + detect → one
//! JSON line each, on one thread, calling the stages as the agent's stage
//! threads call them. The result is events per second per core: events
//! divided by this thread's CPU time (user + system).
//!
//! Not measured here: the poller's copy out of the ring buffer and the
//! channel hand-offs between the agent's threads. They move batches of up
//! to 256 records, a few hundred ns per batch, not per event.
//!
//! Run: `cargo bench --bench pipeline [-- --seconds S --repeats N]`
//! (`cargo run -p xtask -- bench` runs it too). Each measurement prints a
//! line for people and a `pipeline-result {json}` line for the xtask.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use rand_guard::config::Config;
use rand_guard::detect::filter::Filter;
use rand_guard::detect::rules::RuleSet;
use rand_guard::detect::{self, Detector, EventOutput};
use rand_guard::kernel::abi::{self, Hdr, file_flag, kind};
use rand_guard::kernel::decode::{self, encode_exec, encode_exit, encode_file, encode_fork};
use rand_guard::model::event::Event;
use rand_guard::pipeline::enrich::Enricher;
use rand_guard::pipeline::normalize::Normalizer;
use rand_guard::record::{Context, LineWriter, Record};

/// Records per batch, as the poller hands them on.
const BATCH: usize = rand_guard::pipeline::poller::BATCH_RECORDS;
/// The writer's buffer is written out at this size (output::CHUNK).
const CHUNK: usize = rand_guard::pipeline::output::CHUNK;
/// Children per corpus: distinct pids and paths, so the process table
/// and the serializer see varied input rather than one record repeated.
const CYCLES: u32 = 1000;
/// One cycle in this many writes a cron file, which raises an alert.
const ALERT_EVERY: u32 = 100;
/// The stages timed separately, in order (see Pipeline::batch).
const STAGES: [&str; 4] = ["decode+normalize", "enrich", "filter+detect", "JSON+write"];
/// The file sink is rewound at this size, so the bench never fills a disk.
const FILE_WRAP: u64 = 64 << 20;

const BOOT0: u64 = 5_000_000_000_000;
const O_WRONLY_CREAT_TRUNC: u64 = 0o1101;

fn comm(name: &str) -> [u8; abi::COMM_LEN] {
    let mut c = [0u8; abi::COMM_LEN];
    c[..name.len()].copy_from_slice(name.as_bytes());
    c
}

fn hdr(ktime_ns: u64, tgid: u32) -> Hdr {
    Hdr {
        ktime_ns,
        pid: tgid,
        tgid,
        ..Hdr::default()
    }
}

/// An exec record as the kernel writes it for `args` run from `cwd`.
fn exec(pid: u32, ppid: u32, start: u64, pstart: u64, exe: &str, args: &[&str]) -> Vec<u8> {
    let fixed = abi::Exec {
        hdr: hdr(start + 300_000, pid),
        start_ns: start,
        parent_start_ns: pstart,
        cgroup_id: 4242,
        pid_ns: 4026531836,
        mnt_ns: 4026531841,
        net_ns: 4026531840,
        uts_ns: 4026531838,
        ppid,
        auid: 1000,
        sessionid: 3,
        argc: args.len() as u32,
        comm: comm(exe.rsplit('/').next().unwrap_or(exe)),
        ..Default::default()
    };
    let mut area = Vec::new();
    for a in args {
        area.extend_from_slice(a.as_bytes());
        area.push(0);
    }
    let mut out = Vec::new();
    encode_exec(
        &fixed,
        exe.as_bytes(),
        b"/root",
        exe.as_bytes(),
        &area,
        &mut out,
    );
    out
}

fn file(kind: u16, syscall: u16, t: u64, pid: u32, dir: &str, path: &str) -> Vec<u8> {
    let open = kind == kind::FILE_OPEN;
    let fixed = abi::File {
        hdr: Hdr {
            kind,
            ..hdr(t, pid)
        },
        ret: if open { 3 } else { 0 },
        open_flags: if open { O_WRONLY_CREAT_TRUNC } else { 0 },
        mode: if open { 0o644 } else { 0 },
        uid: u32::MAX,
        gid: u32::MAX,
        syscall,
        // An open is resolved from the opened file's dentry; an unlink's
        // operand is the caller's string, joined to its directory.
        flags: if open { file_flag::PATH_RESOLVED } else { 0 },
        ..Default::default()
    };
    let mut out = Vec::new();
    encode_file(&fixed, dir.as_bytes(), path.as_bytes(), b"", b"", &mut out);
    out
}

/// Which records a corpus holds.
#[derive(Clone, Copy)]
enum Mix {
    /// Per child of a shell: fork, exec, open for write, unlink, exit.
    Mixed,
    /// fork, exec, exit: what an exec storm produces.
    Process,
    /// open for write and unlink by a long-lived shell: a file storm.
    File,
}

impl Mix {
    fn name(self) -> &'static str {
        match self {
            Mix::Mixed => "mixed",
            Mix::Process => "process",
            Mix::File => "file",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Mix::Mixed => {
                "fork, exec, open, unlink, exit per child; 1 in 100 opens raises an alert"
            }
            Mix::Process => "fork, exec, exit per child",
            Mix::File => "open for write, unlink by one shell; 1 in 100 opens raises an alert",
        }
    }
}

/// The records seen once before timing: init → sshd → bash, so every
/// child has a parent and an ancestry to write.
fn setup() -> Vec<Vec<u8>> {
    vec![
        exec(1, 0, 1_000, 0, "/usr/lib/systemd/systemd", &["/sbin/init"]),
        exec(
            400,
            1,
            2_000,
            1_000,
            "/usr/sbin/sshd",
            &["sshd: root@pts/0"],
        ),
        exec(900, 400, 3_000, 2_000, "/usr/bin/bash", &["-bash"]),
    ]
}

/// The timed records: CYCLES children of the shell (pid 900).
fn corpus(mix: Mix) -> Vec<Vec<u8>> {
    let mut recs = Vec::new();
    for i in 0..CYCLES {
        let pid = 10_000 + i;
        let t = BOOT0 + u64::from(i) * 1_000_000;
        let name = format!("file-{i}");
        let (dir, path) = if i % ALERT_EVERY == 0 {
            ("/etc/cron.d", format!("/etc/cron.d/{name}"))
        } else {
            ("/root/dst", format!("/root/dst/{name}"))
        };
        let subject = match mix {
            Mix::File => 900,
            _ => pid,
        };
        if !matches!(mix, Mix::File) {
            let fork = abi::Fork {
                hdr: hdr(t, 900),
                child_start_ns: t,
                parent_start_ns: 3_000,
                child_pid: pid,
                child_ppid: 900,
            };
            let mut b = Vec::new();
            encode_fork(&fork, &mut b);
            recs.push(b);
            let src = format!("/root/src/{name}");
            recs.push(exec(
                pid,
                900,
                t,
                3_000,
                "/usr/bin/cp",
                &["cp", "-a", &src, "/root/dst/"],
            ));
        }
        if !matches!(mix, Mix::Process) {
            // openat (2) and unlinkat (6): abi::file_syscall numbers.
            recs.push(file(kind::FILE_OPEN, 2, t + 500_000, subject, "", &path));
            recs.push(file(kind::FILE_UNLINK, 6, t + 600_000, subject, dir, &name));
        }
        if !matches!(mix, Mix::File) {
            let exit = abi::Exit {
                hdr: hdr(t + 900_000, pid),
                start_ns: t,
                exit_code: 0,
                ppid: 900,
                comm: comm("cp"),
            };
            let mut b = Vec::new();
            encode_exit(&exit, &mut b);
            recs.push(b);
        }
    }
    recs
}

/// Where the JSON lines go.
enum Sink {
    /// A reused buffer, cleared at CHUNK: serialization cost only.
    Buffer,
    /// Written to a file at CHUNK, as the agent's writer does (page cache;
    /// writeback happens in kernel threads, as it does for the agent).
    File(File),
}

/// The stages, set up as the agent sets them up with the default config.
struct Pipeline {
    normalizer: Normalizer,
    enricher: Enricher,
    filter: Filter,
    detector: Detector,
    output: EventOutput,
    ctx: Context,
    lines: LineWriter,
    out: Vec<u8>,
    alerts: Vec<rand_guard::model::alert::Alert>,
    written: u64,
    /// CPU time per stage: decode + normalize, enrich, filter + detect,
    /// JSON + write.
    stages: [Duration; 4],
    /// Events the filter kept (each becomes an event line) and alerts.
    events: u64,
    alert_lines: u64,
}

impl Pipeline {
    fn new() -> Self {
        let cfg = Config::default();
        let host = "bench-host";
        Pipeline {
            normalizer: Normalizer::new(),
            enricher: Enricher::new(
                cfg.process_table.max_entries as usize,
                cfg.process_table.ancestry_depth as usize,
            ),
            filter: Filter::new(&cfg.file).expect("default filter"),
            // No rules directory: the built-in detections only.
            detector: Detector::new(&cfg, host, RuleSet::empty(), None).expect("default detector"),
            output: EventOutput::from_config(&cfg),
            ctx: Context {
                hostname: host.into(),
                agent_version: env!("CARGO_PKG_VERSION"),
                ancestry_depth: cfg.process_table.ancestry_depth as usize,
                hook_paths: Vec::new(),
                // This host's: its machine id and /etc's names.
                ids: rand_guard::record::HostIds::from_host(host).0,
            },
            lines: LineWriter::new(),
            out: Vec::with_capacity(CHUNK * 2),
            alerts: Vec::new(),
            written: 0,
            stages: [Duration::ZERO; 4],
            events: 0,
            alert_lines: 0,
        }
    }

    /// One batch, stage after stage, as the agent's normalizer, enricher,
    /// detector and writer threads each see it; the CPU time of each stage
    /// is added to `stages`.
    fn batch(&mut self, records: &[Vec<u8>], sink: &mut Sink) {
        let t0 = thread_cpu();
        self.normalizer.resync_clock();
        let mut events: Vec<Event> = records
            .iter()
            .filter_map(|bytes| {
                let rec = decode::decode(bytes).expect("synthetic records decode");
                self.normalizer.normalize(&rec)
            })
            .collect();
        let t1 = thread_cpu();
        for ev in &mut events {
            self.enricher.enrich(ev);
        }
        let t2 = thread_cpu();
        let mut out = Vec::with_capacity(events.len());
        // As detect::run does it: the filter and the exclusions, the
        // detections, then the event line unless it is detection-only.
        for ev in events {
            if !detect::step(&self.filter, &mut self.detector, &ev, &mut self.alerts) {
                continue;
            }
            if self.output.wants(&ev) && !self.filter.detection_only(&ev) {
                out.push(Record::Event(ev));
            }
            out.extend(self.alerts.drain(..).map(Record::Alert));
        }
        let t3 = thread_cpu();
        // As the writer does once per batch.
        self.lines.tick(
            rand_guard::model::clock::wall_now_ns(),
            std::time::Instant::now(),
        );
        for rec in &out {
            self.lines
                .write_line(rec, &self.ctx, &mut self.out)
                .expect("serialize");
            match rec {
                Record::Alert(_) => self.alert_lines += 1,
                _ => self.events += 1,
            }
            if self.out.len() >= CHUNK {
                self.drain(sink);
            }
        }
        // Dropping the records (process table references, strings) is the
        // writer's work in the agent too.
        drop(out);
        let t4 = thread_cpu();
        for (stage, d) in self
            .stages
            .iter_mut()
            .zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3])
        {
            *stage += d;
        }
    }

    fn drain(&mut self, sink: &mut Sink) {
        self.written += self.out.len() as u64;
        if let Sink::File(f) = sink {
            f.write_all(&self.out).expect("write the JSON lines");
            if f.stream_position().expect("position") >= FILE_WRAP {
                f.seek(SeekFrom::Start(0)).expect("rewind");
            }
        }
        self.out.clear();
    }
}

/// CPU time of the calling thread (user + system).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass; the clock id
    // is a constant every Linux has.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

struct Run {
    /// CPU ns per event in each stage (see Pipeline::stages).
    stage_ns: [f64; 4],
    events_per_cpu_s: f64,
    events_per_wall_s: f64,
    bytes_per_line: f64,
}

/// Replay the corpus in batches for about `seconds` of wall time.
fn measure(mix: Mix, sink: &mut Sink, seconds: f64) -> Run {
    let mut p = Pipeline::new();
    let mut scratch = Sink::Buffer;
    p.batch(&setup(), &mut scratch);
    let recs = corpus(mix);
    // Warm up: one pass, so the process table holds its steady contents.
    for chunk in recs.chunks(BATCH) {
        p.batch(chunk, &mut scratch);
    }
    p.out.clear();
    let (events0, alerts0, written0, stages0) = (p.events, p.alert_lines, p.written, p.stages);
    let (wall0, cpu0) = (Instant::now(), thread_cpu());
    while wall0.elapsed().as_secs_f64() < seconds {
        for chunk in recs.chunks(BATCH) {
            p.batch(chunk, sink);
        }
    }
    p.drain(sink);
    let (wall, cpu) = (wall0.elapsed(), thread_cpu() - cpu0);
    let events = (p.events - events0) as f64;
    let lines = events + (p.alert_lines - alerts0) as f64;
    let mut stage_ns = [0.0; 4];
    for (k, ns) in stage_ns.iter_mut().enumerate() {
        *ns = (p.stages[k] - stages0[k]).as_secs_f64() * 1e9 / events;
    }
    Run {
        stage_ns,
        events_per_cpu_s: events / cpu.as_secs_f64(),
        events_per_wall_s: events / wall.as_secs_f64(),
        bytes_per_line: (p.written - written0) as f64 / lines,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let mut seconds = 1.0;
    let mut repeats = 5;
    let mut file_path = std::env::temp_dir().join("rg-pipeline-bench.jsonl");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--seconds S")
            }
            "--repeats" => {
                repeats = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--repeats N")
            }
            "--file" => file_path = args.next().expect("--file PATH").into(),
            other => panic!("unknown argument `{other}` (--seconds S, --repeats N, --file PATH)"),
        }
    }
    assert!(
        repeats > 0 && seconds > 0.0,
        "--seconds and --repeats must be positive"
    );

    let plan = [
        (Mix::Mixed, "buffer"),
        (Mix::Mixed, "file"),
        (Mix::Process, "buffer"),
        (Mix::File, "buffer"),
    ];
    for (mix, sink_name) in plan {
        let mut runs = Vec::new();
        for _ in 0..repeats {
            let mut sink = match sink_name {
                "file" => Sink::File(
                    File::create(&file_path)
                        .unwrap_or_else(|e| panic!("{}: {e}", file_path.display())),
                ),
                _ => Sink::Buffer,
            };
            runs.push(measure(mix, &mut sink, seconds));
        }
        let _ = std::fs::remove_file(&file_path);
        let cpu: Vec<f64> = runs.iter().map(|r| r.events_per_cpu_s).collect();
        let wall: Vec<f64> = runs.iter().map(|r| r.events_per_wall_s).collect();
        let (min, max) = (
            cpu.iter().cloned().fold(f64::MAX, f64::min),
            cpu.iter().cloned().fold(0.0, f64::max),
        );
        let bytes = median(runs.iter().map(|r| r.bytes_per_line).collect());
        let sink_text = match sink_name {
            "file" => "to a JSON-lines file",
            _ => "into a reused buffer",
        };
        // Per stage: the median over runs of its ns per event.
        let stage_ns: Vec<f64> = (0..4)
            .map(|k| median(runs.iter().map(|r| r.stage_ns[k]).collect()))
            .collect();
        println!(
            "pipeline: {} ({}), {sink_text}: {:.0} events/s per core (median of {repeats} runs of {seconds} s: {min:.0}..{max:.0}); {bytes:.0} bytes per line; ns per event: {}",
            mix.name(),
            mix.describe(),
            median(cpu.clone()),
            STAGES
                .iter()
                .zip(&stage_ns)
                .map(|(n, v)| format!("{n} {v:.0}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        let result = serde_json::json!({
            "mix": mix.name(),
            "describe": mix.describe(),
            "sink": sink_name,
            "repeats": repeats,
            "seconds": seconds,
            "events_per_cpu_second": cpu,
            "events_per_wall_second": wall,
            "median": median(cpu.clone()),
            "min": min,
            "max": max,
            "bytes_per_line": bytes,
            "stage_ns_per_event": STAGES.iter().zip(&stage_ns)
                .map(|(n, v)| (n.to_string(), serde_json::json!(v)))
                .collect::<serde_json::Map<_, _>>(),
        });
        println!("pipeline-result {result}");
    }
}
