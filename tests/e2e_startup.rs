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

/// Start an agent that must not come up; its exit status and stderr.
fn failed_start(config: &str, env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, config).unwrap();
    let mut child = Command::new(common::AGENT)
        .envs(env.iter().copied())
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
            panic!("the agent started, with {config}");
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
    (status, stderr)
}

#[test]
fn a_required_program_the_kernel_rejects_ends_start_up_naming_it() {
    let test = "a_required_program_the_kernel_rejects_ends_start_up_naming_it";
    if !privileged(test) || !debug_build(test) {
        return;
    }
    let (status, stderr) = failed_start(CONFIG, &[(REJECT, "edr_dup3")]);
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

fn ready_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.starts_with("rand-guard: ready:"))
        .unwrap_or_else(|| panic!("no ready line:\n{stderr}"))
}

/// Whether this kernel lets us load trampoline (fentry/fexit) programs
/// for `family`: what `hooks = "auto"` finds out, read from its start-up
/// line.
fn fast_path_here_for(stderr: &str, family: &str) -> bool {
    let ready = ready_line(stderr);
    let hooks = ready.split_once("; hooks: ").map_or("", |(_, rest)| rest);
    let hooks = hooks.split(';').next().unwrap_or("");
    hooks.split(' ').any(|h| h == format!("{family}=fentry"))
}

fn fast_path_here(stderr: &str) -> bool {
    fast_path_here_for(stderr, "file")
}

#[test]
fn the_file_hook_path_is_probed_reported_and_forced_on_request() {
    let test = "the_file_hook_path_is_probed_reported_and_forced_on_request";
    if !privileged(test) {
        return;
    }
    let marked = common::Marked::new("hooks");
    let config = format!(
        "{}[kernel]\nring_buffer_bytes = 1048576\nhooks = \"auto\"\n",
        marked.file_config()
    );
    let agent = Agent::start(&config);
    marked.chmod(3);
    agent.wait_for("a chmod of the marked file", |r| {
        marked.count(std::slice::from_ref(r)) == 1
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    assert_eq!(marked.count(&records), 3, "{stderr}");
    let fast = fast_path_here(&stderr);
    let file_path = if fast { "fentry" } else { "tracepoint" };
    // The start-up line and the health record say the same.
    let health = common::final_health(&records);
    assert_eq!(
        health["hook_paths"],
        serde_json::json!({
            "process": "tp_btf",
            "signal": "tp_btf",
            "file": file_path,
            "network": file_path,
            "stdio": file_path,
        }),
        "{stderr}"
    );
    let fallback = stderr
        .lines()
        .find(|l| l.starts_with("rand-guard: hooks on the tracepoint path (no fentry): "));
    if fast {
        assert_eq!(fallback, None, "{stderr}");
    } else {
        // One line per reason: a kernel that refuses the program type
        // refuses all of them, in one round.
        let line = fallback.unwrap_or_else(|| panic!("no fallback line:\n{stderr}"));
        assert!(
            line.contains(": openat, unlinkat, renameat2, fchmod, fchmodat, fchown, fchownat, linkat, symlinkat"),
            "{line}"
        );
        assert!(line.contains("the kernel refused edr_fx_"), "{line}");
    }

    // Forced: where the kernel refuses trampolines, start-up ends naming
    // the first hook and the kernel's reason; where it allows them, the
    // file family is on the fast path with no tracepoint at all.
    let forced = format!(
        "{}[kernel]\nring_buffer_bytes = 1048576\nhooks = \"fentry\"\n",
        marked.file_config()
    );
    if fast {
        let agent = Agent::start(&forced);
        let stderr = agent.stderr_text();
        assert!(!stderr.contains("edr_file on sys_exit_"), "{stderr}");
        assert!(fast_path_here(&stderr), "{stderr}");
        return;
    }
    let (status, stderr) = failed_start(&forced, &[]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    let prefix = std::env::consts::ARCH
        .replace("x86_64", "x64")
        .replace("aarch64", "arm64");
    let first = if cfg!(target_arch = "x86_64") {
        "open"
    } else {
        "openat"
    };
    let reason = fallback
        .unwrap()
        .rsplit_once(": the kernel refused ")
        .unwrap()
        .1;
    let reason = reason.split_once(": ").unwrap().1;
    assert!(
        stderr.contains(&format!(
            "rand-guard: error: [kernel] hooks = \"fentry\": fexit on __{prefix}_sys_{first} \
             (edr_fx_{first}) cannot be used: the kernel refused edr_fx_{first}: {reason}\n  \
             (this kernel does not give the fast path here; [kernel] hooks = \"auto\" falls \
             back to the syscall tracepoints hook by hook)"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("rand-guard: ready"), "{stderr}");
}

/// The network and DNS families' hook path: reported on the start-up line
/// and in the health record, falling back with the others where the
/// kernel refuses trampolines, and a forced `"fentry"` naming the first
/// network hook the kernel refuses (the file family off, so it is the
/// first fast program loaded).
#[test]
fn the_network_hook_path_is_reported_and_forced_on_request() {
    let test = "the_network_hook_path_is_reported_and_forced_on_request";
    if !privileged(test) {
        return;
    }
    let net = "[file]\nenabled = false\n\
               [network]\nenabled = true\nhooks = [\"connect\", \"bind\", \"listen\", \"accept\"]\n\
               collect_dns = true\n";
    let agent = Agent::start(&format!(
        "[kernel]\nring_buffer_bytes = 1048576\nhooks = \"auto\"\n{net}"
    ));
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    let ready = ready_line(&stderr);
    let fast = fast_path_here_for(&stderr, "network");
    let path = if fast { "fentry" } else { "tracepoint" };
    let health = common::final_health(&records);
    assert_eq!(
        health["hook_paths"],
        serde_json::json!({
            "process": "tp_btf",
            "signal": "tp_btf",
            "network": path,
            "dns": path,
            "stdio": path,
        }),
        "{stderr}"
    );
    // The tracepoints attached are exactly the path's.
    for tp in [
        "edr_net on sys_exit_connect",
        "edr_net on sys_exit_accept4",
        "edr_dns on sys_exit_write",
        "edr_dns on sys_exit_sendmmsg",
    ] {
        assert_eq!(ready.contains(tp), !fast, "{tp}: {ready}");
    }
    let forced = format!("[kernel]\nring_buffer_bytes = 1048576\nhooks = \"fentry\"\n{net}");
    if fast {
        let agent = Agent::start(&forced);
        let stderr = agent.stderr_text();
        assert!(!stderr.contains(" on sys_exit_"), "{stderr}");
        return;
    }
    let fallback = stderr
        .lines()
        .find(|l| l.starts_with("rand-guard: hooks on the tracepoint path (no fentry): "))
        .unwrap_or_else(|| panic!("no fallback line:\n{stderr}"));
    assert!(
        fallback.contains(
            ": connect, bind, listen, accept, accept4, sendmmsg, udp_sendmsg, udpv6_sendmsg, \
             dup, dup2, dup3: the kernel refused edr_"
        ),
        "{fallback}"
    );
    let (status, stderr) = failed_start(&forced, &[]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    let prefix = std::env::consts::ARCH
        .replace("x86_64", "x64")
        .replace("aarch64", "arm64");
    assert!(
        stderr.contains(&format!(
            "rand-guard: error: [kernel] hooks = \"fentry\": fexit on __{prefix}_sys_connect \
             (edr_nx_connect) cannot be used: the kernel refused edr_nx_connect: "
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("rand-guard: ready"), "{stderr}");
}
