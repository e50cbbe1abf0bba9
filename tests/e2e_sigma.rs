//! Privileged end-to-end tests of Sigma rules: Sigma files in the rules
//! directory, loaded by the real agent, raise alerts on a real process
//! start, a real file write and a real connection; `rules test` replays
//! them offline; a SIGHUP reload picks up a new Sigma file and names the
//! rule it skips.

mod common;

use std::fs;
use std::net::TcpListener;
use std::path::Path;

use common::{Agent, alerts_for, get, privileged, rule_ids, sh, unique};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

/// Three rules, one per log source, each keyed on this test's markers.
fn rules(marker: &str, dir: &Path, port: u16) -> String {
    format!(
        r#"title: Shell with marker {marker}
id: 3a1e6f00-0000-4000-8000-00000000e2e1
description: Test rule, a shell ran the marker.
author: rand-guard tests, second author
references:
    - https://example.org/e2e
tags: [attack.execution, attack.t1059.004]
logsource:
    product: linux
    category: process_creation
detection:
    selection:
        Image|endswith: '/sh'
        CommandLine|contains|all:
            - 'true'
            - '{marker}'
    filter:
        CommandLine|contains: 'not-this-one'
    condition: selection and not filter
level: critical
---
title: Marker file written
id: 3a1e6f00-0000-4000-8000-00000000e2e2
logsource:
    product: linux
    category: file_event
detection:
    selection:
        TargetFilename|startswith: '{dir}/'
        TargetFilename|endswith: '.MARKER'
    condition: selection
level: high
---
title: Connection to the test port
id: 3a1e6f00-0000-4000-8000-00000000e2e3
logsource:
    product: linux
    category: network_connection
detection:
    selection:
        Initiated: 'true'
        DestinationIp|cidr: 127.0.0.0/8
        DestinationPort: {port}
    condition: selection
level: low
"#,
        dir = dir.display()
    )
}

fn config(rules: &Path, watched: &Path) -> String {
    format!(
        "[kernel]\nring_buffer_bytes = 1048576\n\
         [file]\ninclude = [\"{}\"]\ndetect_only = []\n\
         [events]\nnetwork = true\n\
         [network]\nenabled = true\nhooks = [\"connect\", \"accept\"]\n\
         [rules]\ndir = \"{}\"\n",
        watched.display(),
        rules.display()
    )
}

#[test]
fn sigma_rules_alert_on_a_process_a_file_and_a_connection() {
    if !privileged("sigma_rules_alert_on_a_process_a_file_and_a_connection") {
        return;
    }
    let rules_dir = tempfile::tempdir().unwrap();
    let watched = Path::new("/tmp").join(unique("sigma-watch"));
    let _ = fs::remove_dir_all(&watched);
    fs::create_dir_all(&watched).unwrap();
    let marker = unique("sigma-marker");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let file = rules_dir.path().join("e2e.yml");
    fs::write(&file, rules(&marker, &watched, port)).unwrap();
    let agent = Agent::start(&config(rules_dir.path(), &watched));

    let shell = sh(&format!("true {marker}"));
    let near_miss = sh(&format!("true {marker} not-this-one"));
    let written = watched.join("payload.marker");
    let writer = sh(&format!("echo x > {}", written.display()));
    let other = sh(&format!(
        "echo x > {}",
        watched.join("payload.txt").display()
    ));
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let me = std::process::id();
    agent.wait_for("the process alert", |r| {
        r["record_type"] == "alert" && common::pid_of(r) == shell as u64
    });
    agent.wait_for("the file alert", |r| {
        r["record_type"] == "alert" && common::pid_of(r) == writer as u64
    });
    agent.wait_for("the connection alert", |r| {
        r["record_type"] == "alert"
            && common::pid_of(r) == me as u64
            && get(r, "destination.port") == port
    });
    // The near misses' own events are through before the agent stops.
    agent.wait_for("the near miss's exec", |r| {
        common::action(r) == "exec" && common::pid_of(r) == near_miss as u64
    });
    agent.wait_for("the other file's write", |r| {
        common::pid_of(r) == other as u64
            && r["record_type"] == "event"
            && common::action(r) == "open"
    });
    drop(stream);
    let (status, records, stderr) = agent.stop();
    let _ = fs::remove_dir_all(&watched);
    assert!(status.success(), "{stderr}");

    let ids = |pid: u32| rule_ids(&alerts_for(&records, pid));
    assert_eq!(ids(shell), ["3a1e6f00-0000-4000-8000-00000000e2e1"]);
    assert!(ids(near_miss).is_empty());
    assert_eq!(ids(writer), ["3a1e6f00-0000-4000-8000-00000000e2e2"]);
    assert!(ids(other).is_empty());
    // The test process connected itself: its alerts on this port only.
    let mine: Vec<&Value> = alerts_for(&records, me)
        .into_iter()
        .filter(|r| get(r, "destination.port") == port)
        .collect();
    assert_eq!(rule_ids(&mine), ["3a1e6f00-0000-4000-8000-00000000e2e3"]);

    let a = records
        .iter()
        .find(|r| r["record_type"] == "alert" && common::pid_of(r) == shell as u64)
        .unwrap();
    assert_eq!(
        get(a, "rule.name"),
        &json!(format!("Shell with marker {marker}"))
    );
    assert_eq!(
        get(a, "rule.description"),
        "Test rule, a shell ran the marker."
    );
    assert_eq!(get(a, "rule.ruleset"), &json!(file.to_string_lossy()));
    assert_eq!(
        get(a, "rule.reference"),
        &json!(["https://example.org/e2e"])
    );
    assert_eq!(
        get(a, "rule.author"),
        &json!(["rand-guard tests", "second author"])
    );
    assert_eq!(get(a, "rand_guard.alert.severity"), "critical");
    assert_eq!(get(a, "event.severity"), 99);
    assert_eq!(get(a, "threat.tactic.name"), &json!(["Execution"]));
    assert_eq!(get(a, "threat.technique.id"), &json!(["T1059"]));
    assert_eq!(
        get(a, "threat.technique.subtechnique.id"),
        &json!(["T1059.004"])
    );
    assert_eq!(
        get(a, "process.args"),
        &json!(["/bin/sh", "-c", format!("true {marker}")])
    );
    let f = records
        .iter()
        .find(|r| r["record_type"] == "alert" && common::pid_of(r) == writer as u64)
        .unwrap();
    assert_eq!(get(f, "file.path"), &json!(written.to_string_lossy()));
    assert_eq!(get(f, "event.action"), "open");
    assert_eq!(get(f, "rand_guard.alert.severity"), "high");
    assert!(f["rule"].get("reference").is_none(), "{f}");

    let health = common::final_health(&records);
    assert_eq!(health["rules_loaded"], 3);
    assert_eq!(health["rules_skipped"], 0);

    // Offline, the recorded events raise the same alerts.
    let replayed = common::rules_test(rules_dir.path(), &records, &["--no-builtin"]);
    let key = |r: &Value| (get(r, "rule.id").clone(), get(r, "event.id").clone());
    let live: Vec<_> = records
        .iter()
        .filter(|r| {
            r["record_type"] == "alert"
                && get(r, "rule.id").as_str().unwrap().starts_with("3a1e6f00")
        })
        .map(key)
        .collect();
    let offline: Vec<_> = replayed.iter().map(key).collect();
    assert_eq!(live.len(), 3, "{live:?}");
    assert_eq!(live, offline);
}

#[test]
fn sighup_reload_picks_up_a_new_sigma_file_and_names_what_it_skips() {
    if !privileged("sighup_reload_picks_up_a_new_sigma_file_and_names_what_it_skips") {
        return;
    }
    let rules_dir = tempfile::tempdir().unwrap();
    let watched = tempfile::tempdir().unwrap();
    let marker = unique("sigma-reload");
    let agent = Agent::start(&config(rules_dir.path(), watched.path()));
    let before = sh(&format!("true {marker}"));
    agent.wait_for("the exec before the reload", |r| {
        common::action(r) == "exec" && common::pid_of(r) == before as u64
    });

    let file = rules_dir.path().join("new.yaml");
    let text = format!(
        "title: Reloaded marker\nid: 3a1e6f00-0000-4000-8000-00000000e2e4\n\
         logsource: {{product: linux, category: process_creation}}\n\
         detection:\n    sel:\n        CommandLine|endswith: ' {marker}'\n    condition: sel\n\
         level: medium\n---\n\
         title: Needs the parent's user\nid: 3a1e6f00-0000-4000-8000-00000000e2e5\n\
         logsource: {{product: linux, category: process_creation}}\n\
         detection:\n    sel:\n        ParentUser: root\n    condition: sel\n"
    );
    fs::write(&file, text).unwrap();
    agent.signal(Signal::SIGHUP);
    agent.wait_stderr(
        &format!(
            "rand-guard: warning: rules file {}: rule `3a1e6f00-0000-4000-8000-00000000e2e5` \
             skipped (unsupported field): detection.sel.ParentUser: field `ParentUser`: \
             the parent's user is not recorded (only the process's own ids)",
            file.display()
        ),
        1,
    );
    agent.wait_stderr("rules reloaded: 1 rules", 1);
    let after = sh(&format!("true {marker}"));
    agent.wait_for("the new rule's alert", |r| {
        r["record_type"] == "alert" && common::pid_of(r) == after as u64
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    assert!(alerts_for(&records, before).is_empty());
    assert_eq!(
        rule_ids(&alerts_for(&records, after)),
        ["3a1e6f00-0000-4000-8000-00000000e2e4"]
    );
    let health = common::final_health(&records);
    assert_eq!(health["rules_loaded"], 1);
    assert_eq!(health["rules_skipped"], 1);
    assert_eq!(health["rules_reloads_total"], 1);
}

/// `CurrentDirectory` matches the directory a real program was executed
/// in: a shell run in the test's directory alerts, the same run elsewhere
/// does not.
#[test]
fn current_directory_matches_where_a_program_was_executed() {
    if !privileged("current_directory_matches_where_a_program_was_executed") {
        return;
    }
    let rules_dir = tempfile::tempdir().unwrap();
    let watched = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let marker = unique("sigma-cwd");
    fs::write(
        rules_dir.path().join("cwd.yml"),
        format!(
            "title: Shell run in the marker directory\nid: 3a1e6f00-0000-4000-8000-00000000e2e6\n\
             logsource: {{product: linux, category: process_creation}}\n\
             detection:\n    sel:\n        CurrentDirectory: '{}'\n        CommandLine|contains: '{marker}'\n    condition: sel\n\
             level: medium\n",
            work.path().display()
        ),
    )
    .unwrap();
    let agent = Agent::start(&config(rules_dir.path(), watched.path()));
    let run_in = |dir: &Path| {
        let mut c = std::process::Command::new("/bin/sh")
            .args(["-c", &format!("true {marker}")])
            .current_dir(dir)
            .spawn()
            .unwrap();
        let pid = c.id();
        assert!(c.wait().unwrap().success());
        pid
    };
    let elsewhere = run_in(Path::new("/"));
    let inside = run_in(work.path());
    agent.wait_for("the alert of the shell run inside", |r| {
        r["record_type"] == "alert" && common::pid_of(r) == u64::from(inside)
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    let a = alerts_for(&records, inside);
    assert_eq!(rule_ids(&a), ["3a1e6f00-0000-4000-8000-00000000e2e6"]);
    assert_eq!(
        get(a[0], "process.working_directory"),
        &json!(work.path().to_string_lossy())
    );
    assert!(alerts_for(&records, elsewhere).is_empty());
}
