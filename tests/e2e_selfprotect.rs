//! Self-protection end to end: writes to the agent's own configuration
//! and rules, and signals sent to the agent, each raise the alert the docs
//! promise (and the reload signal and others' signals do not).

mod common;

use std::fs;
use std::process::Command;
use std::time::Duration;

use common::{Agent, get, pid_of, privileged, unique};
use serde_json::Value;

fn run(cmd: &str) -> u32 {
    let mut c = Command::new("/bin/sh").args(["-c", cmd]).spawn().unwrap();
    let pid = c.id();
    assert!(c.wait().unwrap().success(), "{cmd}");
    pid
}

/// Run a program directly (no shell in between): its pid.
fn exec(argv: &[&str]) -> u32 {
    let mut c = Command::new(argv[0]).args(&argv[1..]).spawn().unwrap();
    let pid = c.id();
    assert!(c.wait().unwrap().success(), "{argv:?}");
    pid
}

fn alerts<'a>(records: &'a [Value], rule: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["record_type"] == "alert" && get(r, "rule.id") == rule)
        .collect()
}

#[test]
fn writes_to_the_agents_files_alert() {
    if !privileged("writes_to_the_agents_files_alert") {
        return;
    }
    // The rules directory next to the config, in the agent's own tempdir
    // (under /tmp: watched for detections only, so the alert does not
    // depend on [file] include).
    let rules = tempfile::tempdir().unwrap();
    let rules_dir = fs::canonicalize(rules.path()).unwrap();
    let agent = Agent::start(&format!("[rules]\ndir = \"{}\"\n", rules_dir.display()));
    let config = fs::canonicalize(agent.dir().join("config.toml")).unwrap();
    let config = config.to_str().unwrap();
    let rule_file = format!("{}/{}.toml", rules_dir.display(), unique("rule"));

    let append = run(&format!("echo '# {}' >> {config}", unique("edit")));
    let create = exec(&["/usr/bin/touch", &rule_file]);
    let remove = exec(&["/usr/bin/rm", &rule_file]);
    let chmod = exec(&["/usr/bin/chmod", "600", config]);
    // Near miss: a file next to the config.
    let beside = format!("{config}.bak");
    let other = exec(&["/usr/bin/touch", &beside]);
    fs::remove_file(&beside).unwrap();

    agent.wait_for("the chmod alert", |r| {
        r["record_type"] == "alert" && pid_of(r) == u64::from(chmod)
    });
    std::thread::sleep(Duration::from_millis(100));
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    let got: Vec<(u64, String, u64)> = alerts(&records, "rg-agent-tamper")
        .into_iter()
        .filter(|a| [append, create, remove, chmod, other].contains(&(pid_of(a) as u32)))
        .map(|a| {
            (
                pid_of(a),
                get(a, "message").as_str().unwrap().to_string(),
                get(a, "event.severity").as_u64().unwrap(),
            )
        })
        .collect();
    let by = |pid: u32, exe: &str| format!("by {exe}, pid {pid})");
    assert_eq!(
        got,
        [
            (
                u64::from(append),
                format!(
                    "Agent configuration written: {config} (open {}",
                    by(append, "/bin/sh")
                ),
                73
            ),
            (
                u64::from(create),
                format!(
                    "Agent rules written: {rule_file} (open {}",
                    by(create, "/usr/bin/touch")
                ),
                73
            ),
            (
                u64::from(remove),
                format!(
                    "Agent rules deleted: {rule_file} (unlink {}",
                    by(remove, "/usr/bin/rm")
                ),
                73
            ),
            (
                u64::from(chmod),
                format!(
                    "Agent configuration given a new mode: {config} (chmod {}",
                    by(chmod, "/usr/bin/chmod")
                ),
                73
            ),
        ]
    );
    let a = alerts(&records, "rg-agent-tamper")
        .into_iter()
        .find(|a| pid_of(a) == u64::from(chmod))
        .unwrap();
    assert_eq!(get(a, "threat.technique.id"), &serde_json::json!(["T1562"]));
    assert_eq!(
        get(a, "threat.technique.subtechnique.id"),
        &serde_json::json!(["T1562.001"])
    );
}

#[test]
fn signals_to_the_agent_alert_by_what_they_do() {
    if !privileged("signals_to_the_agent_alert_by_what_they_do") {
        return;
    }
    let agent = Agent::start("");
    let me = agent.pid();
    // Reload: recorded, no alert.
    let hup = run(&format!("kill -HUP {me}"));
    agent.wait_stderr("rules reloaded", 1);
    // Freeze and thaw: SIGSTOP alerts (high), SIGCONT does not.
    let stop = run(&format!("kill -STOP {me}; kill -CONT {me}"));
    // Someone else's signal: not even recorded.
    let other = run("sleep 30 & kill -TERM $!");
    agent.wait_for("the SIGSTOP alert", |r| {
        r["record_type"] == "alert" && pid_of(r) == u64::from(stop)
    });
    // The test stops the agent with SIGTERM: the agent reads that record
    // before it exits, and the alert names this test as the sender.
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    let signals: Vec<(u64, String)> = records
        .iter()
        .filter(|r| r["record_type"] == "event" && get(r, "event.action") == "signal")
        .map(|r| {
            assert_eq!(get(r, "rand_guard.signal.target.pid"), me, "{r}");
            (
                pid_of(r),
                get(r, "rand_guard.signal.name")
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    let test = u64::from(std::process::id());
    assert_eq!(
        signals,
        [
            (u64::from(hup), "SIGHUP".to_string()),
            (u64::from(stop), "SIGSTOP".to_string()),
            (u64::from(stop), "SIGCONT".to_string()),
            (test, "SIGTERM".to_string()),
        ],
        "{signals:?}"
    );
    assert!(
        records
            .iter()
            .all(|r| pid_of(r) != u64::from(other) || get(r, "event.action") != "signal")
    );

    let got: Vec<(u64, u64, String)> = alerts(&records, "rg-agent-signal")
        .into_iter()
        .map(|a| {
            (
                pid_of(a),
                get(a, "event.severity").as_u64().unwrap(),
                get(a, "message").as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                u64::from(stop),
                73,
                format!("SIGSTOP sent to the agent (pid {me}) by /bin/sh, pid {stop}")
            ),
            (
                test,
                47,
                format!(
                    "SIGTERM sent to the agent (pid {me}) by {}, pid {test}",
                    fs::read_link("/proc/self/exe").unwrap().display()
                )
            ),
        ]
    );
}
