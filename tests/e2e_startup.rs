//! Start-up against a kernel that refuses a program. An optional program
//! (all its hooks optional, as `edr_dup2`: dup2 is legacy) that fails to
//! load is left out and named with the kernel's reason; the rest loads and
//! works. A required one ends start-up, named.
//!
//! The refusal is made with `RAND_GUARD_DEBUG_REJECT_PROGRAM=<program>`
//! (debug builds only, src/kernel/load.rs): the loader hands that program
//! to the kernel as a socket filter, and the verifier rejects its first
//! context read, a real rejection with a real verifier log.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Agent, action, pid_of, privileged};

const REJECT: &str = "RAND_GUARD_DEBUG_REJECT_PROGRAM";

/// Process and stdio programs only: the file family is off, so this
/// agent loads fast and sees only execs, forks, exits and dups.
const CONFIG: &str = "[file]\nenabled = false\n[kernel]\nring_buffer_bytes = 1048576\n";

/// What the verifier says about a tracepoint program loaded as a socket
/// filter: its first instruction reads `ctx->ret` (offset 16, 8 bytes).
const VERIFIER_SAYS: &str = "invalid bpf_context access off=16 size=8";

fn debug_build(test: &str) -> bool {
    if cfg!(debug_assertions) {
        return true;
    }
    eprintln!(
        "SKIPPED {test}: the fault hook exists in debug builds only (run the tests without --release)"
    );
    false
}

#[test]
fn an_optional_program_the_kernel_rejects_is_skipped_and_named() {
    let test = "an_optional_program_the_kernel_rejects_is_skipped_and_named";
    if !privileged(test) || !debug_build(test) {
        return;
    }
    let agent = Agent::start_with_env(CONFIG, &[(REJECT, "edr_dup2")]);
    let stderr = agent.stderr_text();
    let lines: Vec<&str> = stderr.lines().collect();
    // Named, with the kernel's reason and the verifier's last lines.
    let warning = lines
        .iter()
        .position(|l| l.starts_with("rand-guard: warning: optional program edr_dup2"))
        .unwrap_or_else(|| panic!("no warning for edr_dup2:\n{stderr}"));
    assert_eq!(
        lines[warning],
        "rand-guard: warning: optional program edr_dup2 not loaded: Permission denied (os error 13)",
        "{stderr}"
    );
    assert_eq!(lines[warning + 1], "  kernel log (last lines):", "{stderr}");
    assert!(
        lines[warning + 2..]
            .iter()
            .take_while(|l| l.starts_with("    "))
            .any(|l| l.trim() == VERIFIER_SAYS),
        "{stderr}"
    );
    // Its hook is not reported again as an attach failure.
    assert!(!stderr.contains("sys_exit_dup2"), "{stderr}");
    // Everything else is attached, the other stdio programs among it.
    let ready = lines
        .iter()
        .find(|l| l.starts_with("rand-guard: ready: "))
        .unwrap();
    for point in [
        "edr_exec",
        "edr_fork",
        "edr_exit",
        "edr_dup on sys_exit_dup,",
        "edr_dup3 on sys_exit_dup3",
    ] {
        assert!(ready.contains(point), "{point} missing: {ready}");
    }
    assert!(!ready.contains("edr_dup2"), "{ready}");

    // And it works: a process run now is reported.
    let mut child = Command::new("/bin/true").spawn().unwrap();
    let pid = u64::from(child.id());
    assert!(child.wait().unwrap().success());
    agent.wait_for("exec of /bin/true", |r| {
        action(r) == "exec" && pid_of(r) == pid
    });
    let (status, _, stderr) = agent.stop();
    assert!(status.success(), "{status:?}\n{stderr}");
}

#[test]
fn a_required_program_the_kernel_rejects_ends_start_up_naming_it() {
    let test = "a_required_program_the_kernel_rejects_ends_start_up_naming_it";
    if !privileged(test) || !debug_build(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let mut child = Command::new(common::AGENT)
        .env(REJECT, "edr_dup3")
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .arg("--output")
        .arg(dir.path().join("out.jsonl"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the agent started with a required program rejected");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "rand-guard: error: loading BPF program edr_dup3 failed: Permission denied (os error 13)\n  kernel log (last lines):\n"
        ),
        "{stderr}"
    );
    assert!(stderr.contains(VERIFIER_SAYS), "{stderr}");
    // A verifier rejection, not a missing privilege: no advice to run as
    // root (we are root), but that the verifier said no.
    assert!(!stderr.contains("needs root"), "{stderr}");
    assert!(
        stderr.contains(
            "(the kernel's BPF verifier rejected the program: not a matter of privileges"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("rand-guard: ready"), "{stderr}");
}
