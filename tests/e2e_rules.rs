//! Privileged end-to-end tests of the rule engine: a rules directory
//! loaded by the real agent raises alerts on real commands, and a SIGHUP
//! reload with a broken file keeps the rules in force.

mod common;

use std::fs;
use std::path::Path;

use common::{Agent, alerts_for, get, privileged, rule_ids, sh, unique};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

/// A rule raising an alert when `sh` runs a command line with `marker`.
fn marker_rule(id: &str, marker: &str) -> String {
    format!(
        r#"
[[rules]]
id = "{id}"
name = "Marker {id}"
description = "Test rule: sh ran a command line containing the marker."
severity = "critical"
tactics = ["Execution"]
techniques = [{{ id = "T1059.004", name = "Unix Shell" }}]
events = ["exec"]
[[rules.all]]
field = "process.name"
equals = "sh"
[[rules.all]]
field = "process.command_line"
contains = "{marker}"
"#
    )
}

fn config(rules: &Path) -> String {
    format!(
        "[kernel]\nring_buffer_bytes = 1048576\n[file]\nenabled = false\n[rules]\ndir = \"{}\"\n",
        rules.display()
    )
}

#[test]
fn rules_dir_rule_and_sample_rule_alert_on_real_commands() {
    if !privileged("rules_dir_rule_and_sample_rule_alert_on_real_commands") {
        return;
    }
    let rules = tempfile::tempdir().unwrap();
    let marker = unique("rule-marker");
    let file = rules.path().join("local.toml");
    fs::write(&file, marker_rule("test-marker", &marker)).unwrap();
    fs::copy(
        "rules/sample-rules.toml",
        rules.path().join("sample-rules.toml"),
    )
    .unwrap();
    let agent = Agent::start(&config(rules.path()));

    let pid = sh(&format!("true {marker}"));
    // A sample rule on a real pipeline: base64-decoded text run by a shell.
    let b64 = sh(&format!(
        "echo dHJ1ZQo= | base64 -d | sh # {}",
        unique("b64")
    ));
    agent.wait_for("the marker alert", |r| {
        r["record_type"] == "alert" && common::pid_of(r) == pid as u64
    });
    agent.wait_for("the base64 alert", |r| {
        r["record_type"] == "alert" && common::pid_of(r) == b64 as u64
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    let mine = alerts_for(&records, pid);
    assert_eq!(rule_ids(&mine), ["test-marker"], "{mine:#?}");
    let a = mine[0];
    assert_eq!(a["record_type"], "alert");
    assert_eq!(get(a, "event.kind"), "alert");
    assert_eq!(get(a, "event.action"), "exec");
    assert_eq!(get(a, "event.severity"), 99);
    assert_eq!(get(a, "rule.name"), "Marker test-marker");
    assert_eq!(get(a, "rule.ruleset"), &json!(file.to_string_lossy()));
    assert_eq!(get(a, "rand_guard.alert.severity"), "critical");
    assert_eq!(
        get(a, "rand_guard.alert.source"),
        &json!(file.to_string_lossy())
    );
    assert_eq!(get(a, "threat.tactic.name"), &json!(["Execution"]));
    assert_eq!(get(a, "threat.technique.id"), &json!(["T1059"]));
    assert_eq!(
        get(a, "threat.technique.subtechnique.id"),
        &json!(["T1059.004"])
    );
    // Named without its parent (`Command and Scripting Interpreter: ...`):
    // the sub-technique's name only.
    assert_eq!(
        get(a, "threat.technique.subtechnique.name"),
        &json!(["Unix Shell"])
    );
    assert!(get(a, "threat.technique").get("name").is_none());
    assert_eq!(
        get(a, "process.args"),
        &json!(["/bin/sh", "-c", format!("true {marker}")])
    );
    assert_eq!(
        get(a, "message"),
        &json!(format!("Marker test-marker (exec by /bin/sh, pid {pid})"))
    );
    assert_eq!(get(a, "event.id").as_str().unwrap().len(), 32);
    // The alert follows its event record, same sequence number.
    let event = records
        .iter()
        .find(|r| {
            r["record_type"] == "event"
                && common::pid_of(r) == pid as u64
                && common::action(r) == "exec"
        })
        .expect("the exec event");
    assert_eq!(get(event, "event.sequence"), get(a, "event.sequence"));

    let b = alerts_for(&records, b64);
    assert_eq!(rule_ids(&b), ["sample-base64-decoded-to-shell"], "{b:#?}");
    assert_eq!(get(b[0], "threat.technique.id"), &json!(["T1140", "T1059"]));
    assert_eq!(
        get(b[0], "threat.technique.subtechnique.id"),
        &json!(["T1059.004"])
    );

    let health = common::final_health(&records);
    // The test rule and the ten sample rules.
    assert_eq!(health["rules_loaded"], 11);
    assert_eq!(health["rules_reloads_total"], 0);

    // Offline, the recorded events raise the same alerts, ids and all.
    let replayed = common::rules_test(rules.path(), &records, &[]);
    let key = |a: &&Value| {
        (
            get(a, "rule.id").clone(),
            get(a, "event.id").clone(),
            get(a, "message").clone(),
        )
    };
    for p in [pid, b64] {
        let live: Vec<_> = alerts_for(&records, p).iter().map(key).collect();
        let offline: Vec<_> = alerts_for(&replayed, p).iter().map(key).collect();
        assert_eq!(live, offline, "pid {p}");
    }
}

#[test]
fn sighup_reload_swaps_rules_and_a_broken_file_keeps_the_old_ones() {
    if !privileged("sighup_reload_swaps_rules_and_a_broken_file_keeps_the_old_ones") {
        return;
    }
    let rules = tempfile::tempdir().unwrap();
    let (old, new) = (unique("reload-old"), unique("reload-new"));
    fs::write(rules.path().join("a.toml"), marker_rule("test-old", &old)).unwrap();
    let agent = Agent::start(&config(rules.path()));

    // A broken file next to the good one: the reload is refused as a whole.
    let broken = rules.path().join("b.toml");
    fs::write(
        &broken,
        marker_rule("test-new", &new).replace("contains = ", "contians = "),
    )
    .unwrap();
    agent.signal(Signal::SIGHUP);
    // The refusal, then each error on its own line (wait_stderr fails
    // the test if they do not come).
    agent.wait_stderr(
        &format!(
            "rand-guard: rules reload refused, the rules in force stay:\n\
             rules file {} line 15: rule `test-new`: key `all[1].contians`: unknown field `contians`",
            broken.display()
        ),
        1,
    );
    let kept = sh(&format!("true {old}"));
    let not_yet = sh(&format!("true {new}"));
    agent.wait_for("the old rule's alert", |r| {
        r["record_type"] == "alert" && common::pid_of(r) == kept as u64
    });
    // The reload reaches the detector beside the event stream: let the
    // not-yet exec through it before the rules change again.
    agent.wait_for("the not-yet exec", |r| {
        r["record_type"] == "event"
            && r["event"]["action"] == "exec"
            && common::pid_of(r) == not_yet as u64
    });

    // Fixed: the reload takes both files.
    fs::write(&broken, marker_rule("test-new", &new)).unwrap();
    agent.signal(Signal::SIGHUP);
    agent.wait_stderr("rules reloaded: 2 rules", 1);
    let after = sh(&format!("true {new}"));
    agent.wait_for("the new rule's alert", |r| {
        r["record_type"] == "alert" && common::pid_of(r) == after as u64
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    assert_eq!(rule_ids(&alerts_for(&records, kept)), ["test-old"]);
    assert!(alerts_for(&records, not_yet).is_empty());
    assert_eq!(rule_ids(&alerts_for(&records, after)), ["test-new"]);
    let health = common::final_health(&records);
    assert_eq!(health["rules_loaded"], 2);
    assert_eq!(health["rules_reloads_total"], 1);
    assert_eq!(health["rules_reload_failures_total"], 1);
}
