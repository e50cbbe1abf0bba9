//! Privileged end-to-end test of the ECS fields a SIEM joins and filters
//! on: the real agent, a real shell and child, and the exact ids, names
//! and directories that come back; every field of every record about them
//! (and of the final health record) checked against the pinned ECS list.

mod common;

#[path = "ecs/validator.rs"]
mod validator;

use std::process::Command;

use common::{Agent, about, action, get, privileged};
use serde_json::{Value, json};

/// The name /etc/passwd gives `uid`, as the agent reads it.
fn passwd_name(uid: u32) -> Option<String> {
    std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
        })
        .next()
}

#[test]
fn live_records_carry_ecs_ids_names_and_directories() {
    if !privileged("live_records_carry_ecs_ids_names_and_directories") {
        return;
    }
    let dir = std::env::temp_dir().join(common::unique("rg-ecs-cwd"));
    std::fs::create_dir_all(&dir).unwrap();
    let dir_text = dir.to_string_lossy().into_owned();
    let agent = Agent::start("[kernel]\nring_buffer_bytes = 1048576\n");
    // The shell runs in `dir`; its child changes to / before its exec.
    let mut sh = Command::new("/bin/sh")
        .args(["-c", "/bin/true; cd / && exec /bin/true x"])
        .current_dir(&dir)
        .spawn()
        .unwrap();
    let s = sh.id();
    assert!(sh.wait().unwrap().success());
    agent.wait_for("exit of the shell", |r| {
        action(r) == "exit" && common::pid_of(r) == u64::from(s)
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();

    let shell = about(&records, s);
    let actions: Vec<&str> = shell.iter().map(|r| action(r)).collect();
    // fork, exec of sh, then the exec of `/bin/true x` (the shell execs
    // its last command) and its exit.
    assert_eq!(actions, ["fork", "exec", "exec", "exit"], "{shell:#?}");
    let ids: Vec<&Value> = shell.iter().map(|r| get(r, "process.entity_id")).collect();
    let id = ids[0].as_str().unwrap();
    assert_eq!(id.len(), 32, "{id}");
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one process, one id: {ids:?}"
    );
    assert_eq!(get(shell[1], "process.working_directory"), &json!(dir_text));
    // The exec after `cd /`: the directory it was executed in.
    assert_eq!(get(shell[2], "process.working_directory"), "/");
    assert_eq!(get(shell[2], "process.args"), &json!(["/bin/true", "x"]));

    // The shell's first child: its parent's id is the shell's own.
    let fork = records
        .iter()
        .find(|r| action(r) == "fork" && get(r, "process.parent.pid") == &json!(s))
        .expect("the shell's fork");
    let c = common::pid_of(fork) as u32;
    let child = about(&records, c);
    for r in &child {
        assert_eq!(get(r, "process.parent.entity_id"), id, "{r}");
        assert_ne!(get(r, "process.entity_id"), id);
    }
    let exec = child.iter().find(|r| action(r) == "exec").unwrap();
    assert_eq!(get(exec, "process.executable"), "/bin/true");
    assert_eq!(get(exec, "process.working_directory"), &json!(dir_text));

    // Constant per host.
    let machine_id = std::fs::read_to_string("/etc/machine-id").ok();
    let host = nix::unistd::gethostname()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let agent_id = get(shell[0], "agent.id").as_str().unwrap().to_string();
    assert_eq!(agent_id.len(), 36, "{agent_id}");
    let uid = nix::unistd::getuid().as_raw();
    let health = records
        .iter()
        .rev()
        .find(|r| r["record_type"] == "health")
        .expect("the final health record");
    let ecs = validator::Ecs::load();
    for r in shell.iter().chain(&child).copied().chain([health]) {
        assert_eq!(get(r, "ecs.version"), &json!(ecs.version), "{r}");
        assert_eq!(get(r, "host.name"), &json!(host));
        assert_eq!(get(r, "host.os.type"), "linux");
        match &machine_id {
            Some(m) => assert_eq!(get(r, "host.id"), m.trim()),
            None => assert!(r["host"].get("id").is_none()),
        }
        assert_eq!(get(r, "agent.id"), &json!(agent_id));
        assert_eq!(get(r, "event.module"), "rand_guard");
        // Written after it happened, in the same RFC 3339 form.
        let created = get(r, "event.created").as_str().unwrap();
        assert!(created >= r["@timestamp"].as_str().unwrap(), "{r}");
        let problems = ecs.check(r);
        assert!(problems.is_empty(), "{problems:#?}\n{r}");
    }
    for r in shell.iter().chain(&child) {
        assert_eq!(get(r, "event.dataset"), "rand_guard.process");
        assert_eq!(get(r, "user.id"), &json!(uid.to_string()));
        match passwd_name(uid) {
            Some(n) => {
                assert_eq!(get(r, "user.name"), &json!(n));
                assert_eq!(get(r, "process.real_user.name"), &json!(n));
            }
            None => assert!(r["user"].get("name").is_none()),
        }
        // Same real and effective uid: no user.effective.
        assert!(r["user"].get("effective").is_none(), "{r}");
    }
    assert_eq!(get(health, "event.category"), &json!(["host"]));
    assert_eq!(get(health, "event.dataset"), "rand_guard.health");
}
