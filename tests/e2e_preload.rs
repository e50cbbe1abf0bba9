//! Privileged end-to-end test of rg-preload-env (issue 18, T1574.006 through
//! the environment): the kernel finds LD_PRELOAD / LD_AUDIT in a new
//! image's environment, the exec record carries them as
//! `process.env_vars`, and a library outside the system directories
//! raises the alert. One agent for every case (each matched by its pid).

mod common;

use std::fs;
use std::process::Command;

use common::scenario::alerts;
use common::{Agent, about, action, get, pid_of, privileged};
use serde_json::{Value, json};

/// Defaults, with a ring buffer roomy enough for the padded execs.
const CONFIG: &str = "[kernel]\nring_buffer_bytes = 4194304\n";

/// A tiny shared library, built with the C compiler the build already
/// needs (cargo links through it).
fn build_library(dir: &std::path::Path) -> String {
    let src = dir.join("rg.c");
    // la_version makes it a valid (and idle) LD_AUDIT interface too.
    fs::write(
        &src,
        "unsigned int la_version(unsigned int v) { return v; }\n",
    )
    .unwrap();
    let lib = dir.join("librg.so");
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .output()
        .expect("run cc");
    assert!(out.status.success(), "cc: {out:?}");
    lib.to_string_lossy().into_owned()
}

/// The C library this test binary runs with: a system library.
fn system_libc() -> String {
    fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.contains("/libc.so") || p.contains("/libc-"))
        .expect("libc mapped")
        .to_string()
}

/// Run `/bin/true` with exactly `env`; its pid.
fn run_true(env: &[(String, String)]) -> u32 {
    let mut c = Command::new("/bin/true");
    c.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
    let mut child = c.spawn().unwrap();
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    pid
}

/// `n` padding variables, then `tail`. (Command sorts the environment by
/// name: the padding's names sort before `LD_`.)
fn padded(n: usize, tail: &[(&str, &str)]) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("A_RG_PAD_{i:04}"), "x".to_string()))
        .chain(tail.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

/// The exec of /bin/true by `pid` (a shell may exec before it).
fn exec_of(records: &[Value], pid: u32) -> &Value {
    about(records, pid)
        .into_iter()
        .find(|r| action(r) == "exec" && get(r, "process.executable") == "/bin/true")
        .unwrap_or_else(|| panic!("no exec of /bin/true by pid {pid}"))
}

fn preload_alerts(records: &[Value], pid: u32) -> Vec<&Value> {
    alerts(records, "rg-preload-env")
        .into_iter()
        .filter(|a| pid_of(a) == u64::from(pid))
        .collect()
}

#[test]
fn preload_through_the_environment() {
    if !privileged("preload_through_the_environment") {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("rg-preload-")
        .tempdir_in("/tmp")
        .unwrap();
    // Built before the agent starts: not a recent drop, so high.
    let lib = build_library(dir.path());
    let libc = system_libc();
    let agent = Agent::start(CONFIG);

    // 1. LD_PRELOAD=<lib in /tmp> /bin/true.
    let plain = run_true(&[("LD_PRELOAD".into(), lib.clone())]);
    // 2. A library copied in while the agent watches /tmp, then loaded by
    //    a shell that exports LD_AUDIT and execs /bin/true: critical.
    let fresh = dir.path().join("fresh.so");
    fs::copy(&lib, &fresh).unwrap();
    let fresh = fresh.to_string_lossy().into_owned();
    let mut sh = Command::new("/bin/sh")
        .env_clear()
        .args(["-c", &format!("export LD_AUDIT={fresh}; exec /bin/true")])
        .spawn()
        .unwrap();
    let audit = sh.id();
    assert!(sh.wait().unwrap().success());
    // 3. Near miss: a system library (the C library itself).
    let system = run_true(&[("LD_PRELOAD".into(), libc.clone())]);
    // 4. 900 variables before LD_PRELOAD: still found (the cap is 1024).
    let deep = run_true(&padded(900, &[("LD_PRELOAD", &lib)]));
    // 5. 1100 before it: past the cap, flagged, medium.
    let past = run_true(&padded(1100, &[("LD_PRELOAD", &lib)]));
    // 6. The kernel's prefilter reads the environment in 2 KiB chunks
    //    that overlap by 3 bytes (bpf/env.bpf.h): LD_PRELOAD at every
    //    offset around the first two chunk seams is still found. The NUL
    //    before it is at 10 + n bytes from the byte before the environment.
    let seams: Vec<u32> = (2028..2042)
        .chain(4074..4088)
        .map(|n| {
            run_true(&[
                ("A_RG_PAD".into(), "x".repeat(n)),
                ("LD_PRELOAD".into(), lib.clone()),
            ])
        })
        .collect();

    agent.wait_for("the alert past the cap", |r| {
        r["record_type"] == "alert" && pid_of(r) == u64::from(past)
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    // 1: the exec carries the variable, the alert names it.
    let exec = exec_of(&records, plain);
    assert_eq!(
        get(exec, "process.env_vars"),
        &json!([format!("LD_PRELOAD={lib}")])
    );
    assert!(exec["rand_guard"].get("truncated").is_none());
    let a = preload_alerts(&records, plain);
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!(get(a[0], "event.severity"), 73);
    assert_eq!(
        get(a[0], "rule.name"),
        "Library preloaded through the environment"
    );
    assert_eq!(
        get(a[0], "message"),
        &json!(format!(
            "LD_PRELOAD={lib} loaded into /bin/true (pid {plain})"
        ))
    );
    // ECS: the sub-technique under subtechnique, its parent beside it.
    assert_eq!(get(a[0], "threat.technique.id"), &json!(["T1574"]));
    assert_eq!(
        get(a[0], "threat.technique.subtechnique.id"),
        &json!(["T1574.006"])
    );
    assert_eq!(get(a[0], "process.executable"), "/bin/true");
    assert_eq!(
        get(a[0], "process.env_vars"),
        &json!([format!("LD_PRELOAD={lib}")])
    );

    // 2: exported, and written a moment before.
    let exec = exec_of(&records, audit);
    assert_eq!(
        get(exec, "process.env_vars"),
        &json!([format!("LD_AUDIT={fresh}")])
    );
    let a = preload_alerts(&records, audit);
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!(get(a[0], "event.severity"), 99);
    assert_eq!(
        get(a[0], "message"),
        &json!(format!(
            "LD_AUDIT={fresh} loaded into /bin/true (pid {audit})"
        ))
    );

    // 3: seen, not alerted.
    assert_eq!(
        get(exec_of(&records, system), "process.env_vars"),
        &json!([format!("LD_PRELOAD={libc}")])
    );
    assert!(preload_alerts(&records, system).is_empty());

    // 4: found behind 900 others.
    assert_eq!(
        get(exec_of(&records, deep), "process.env_vars"),
        &json!([format!("LD_PRELOAD={lib}")])
    );
    assert_eq!(preload_alerts(&records, deep).len(), 1);

    // 6: every seam offset found.
    for pid in &seams {
        assert_eq!(
            get(exec_of(&records, *pid), "process.env_vars"),
            &json!([format!("LD_PRELOAD={lib}")]),
            "pid {pid}"
        );
    }

    // 5: not found, but the cut is on the record and alerted.
    let exec = exec_of(&records, past);
    assert!(exec["process"].get("env_vars").is_none(), "{exec}");
    assert_eq!(get(exec, "rand_guard.truncated"), &json!(["env"]));
    let a = preload_alerts(&records, past);
    assert_eq!(a.len(), 1, "{a:#?}");
    assert_eq!(get(a[0], "event.severity"), 47);
    assert_eq!(
        get(a[0], "message"),
        &json!(format!(
            "Environment of /bin/true (pid {past}) too large to scan for LD_PRELOAD"
        ))
    );
}
