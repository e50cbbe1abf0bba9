//! Privileged end-to-end test of `scripts/demo.sh`: start the real agent,
//! run the demo against its output file, and check that it passes and
//! prints an alert line for every rule id its scenarios expect.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Agent, privileged};

/// The rule ids `demo.sh --list` says its scenarios expect.
fn expected_ids(demo: &Path) -> Vec<String> {
    let out = Command::new(demo)
        .arg("--list")
        .output()
        .expect("run demo.sh --list");
    assert!(out.status.success(), "demo.sh --list failed");
    let mut ids: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        // "name  id [id ...]  description": the ids follow the name.
        .flat_map(|l| {
            l.split_whitespace()
                .skip(1)
                .take_while(|w| w.starts_with("rg-"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[test]
fn demo_script_raises_every_expected_alert() {
    if !privileged("demo_script_raises_every_expected_alert") {
        return;
    }
    let jq = Command::new("jq").arg("--version").output();
    assert!(
        jq.is_ok_and(|o| o.status.success()),
        "scripts/demo.sh needs jq (apt-get install jq)"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let demo = root.join("scripts/demo.sh");
    let expected = expected_ids(&demo);
    assert!(expected.len() >= 8, "{expected:?}");

    // The default detections, and the sample rules installed as the
    // packages install them.
    let config = format!(
        "[kernel]\nring_buffer_bytes = 4194304\n[rules]\ndir = {:?}\n",
        root.join("rules").to_str().unwrap()
    );
    let agent = Agent::start(&config);
    let run = Command::new(&demo)
        .arg(&agent.out)
        .output()
        .expect("run scripts/demo.sh");
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    let (status, _records, agent_stderr) = agent.stop();
    assert!(status.success(), "{agent_stderr}");
    assert!(
        run.status.success(),
        "demo.sh failed ({}):\n{stdout}\n{stderr}",
        run.status
    );
    assert!(
        stderr.contains("demo: ok: every expected rule fired"),
        "{stderr}"
    );

    // One line per alert: "HH:MM:SS.mmmZ  rule-id  severity  message".
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    for (l, fields) in stdout.lines().zip(&lines) {
        let [time, _, severity, _, ..] = fields[..] else {
            panic!("not an alert line: {l:?}");
        };
        assert!(
            time.len() == 13 && time.ends_with('Z') && time.as_bytes()[2] == b':',
            "{l:?}"
        );
        assert!(
            ["low", "medium", "high", "critical"].contains(&severity),
            "{l:?}"
        );
    }
    for id in &expected {
        let n = lines
            .iter()
            .filter(|f| f.get(1) == Some(&id.as_str()))
            .count();
        assert!(n >= 1, "no alert line for {id}:\n{stdout}");
    }
}
