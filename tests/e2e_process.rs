//! Privileged end-to-end tests of process telemetry: start the real agent,
//! run real programs, and assert the exact records that come back.

mod common;

use std::fs;
use std::process::Command;

use common::{Agent, about, action, get, privileged};
use serde_json::{Value, json};

fn test_exe() -> String {
    std::env::current_exe()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn canonical(path: &str) -> String {
    fs::canonicalize(path)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn id(v: u32) -> Value {
    json!(v.to_string())
}

/// The one agent config the process tests use: defaults, small ring.
const CONFIG: &str = "[kernel]\nring_buffer_bytes = 1048576\n";

#[test]
fn bin_true_gives_exact_fork_exec_exit() {
    if !privileged("bin_true_gives_exact_fork_exec_exit") {
        return;
    }
    let agent = Agent::start(CONFIG);
    let me = std::process::id();
    let mut child = Command::new("/bin/true").spawn().unwrap();
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    agent.wait_for("exit of /bin/true", |r| {
        action(r) == "exit" && common::pid_of(r) == pid as u64
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "agent exit {status:?}; stderr:\n{stderr}");
    assert!(stderr.contains("rand-guard: stopped:"), "{stderr}");

    let mine = about(&records, pid);
    let actions: Vec<&str> = mine.iter().map(|r| action(r)).collect();
    assert_eq!(actions, ["fork", "exec", "exit"], "{mine:#?}");
    let (fork, exec, exit) = (mine[0], mine[1], mine[2]);

    // Common envelope.
    let host = nix::unistd::gethostname()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    for r in &mine {
        assert_eq!(r["schema_version"], rand_guard::record::SCHEMA_VERSION);
        assert_eq!(r["record_type"], "event");
        assert_eq!(get(r, "event.kind"), "event");
        assert_eq!(get(r, "event.category"), &json!(["process"]));
        assert_eq!(get(r, "host.hostname"), &json!(host));
        assert_eq!(get(r, "agent.type"), "rand-guard");
        assert_eq!(get(r, "process.parent.pid"), &json!(me));
        assert_eq!(get(r, "process.thread.id"), &json!(pid));
        assert!(r["@timestamp"].as_str().unwrap().ends_with('Z'));
    }
    let seqs: Vec<u64> = mine
        .iter()
        .map(|r| get(r, "event.sequence").as_u64().unwrap())
        .collect();
    assert!(seqs[0] < seqs[1] && seqs[1] < seqs[2], "{seqs:?}");

    // fork: the child still runs this test binary's image.
    assert_eq!(get(fork, "event.type"), &json!(["start"]));
    assert_eq!(get(fork, "process.executable"), &json!(test_exe()));
    assert_eq!(get(fork, "rand_guard.process.origin"), "fork");
    assert_eq!(get(fork, "process.parent.executable"), &json!(test_exe()));

    // exec: the new image, the parent's image, credentials, ancestry.
    let uid = nix::unistd::getuid().as_raw();
    let euid = nix::unistd::geteuid().as_raw();
    assert_eq!(get(exec, "event.type"), &json!(["start"]));
    assert_eq!(get(exec, "process.executable"), "/bin/true");
    assert_eq!(get(exec, "process.name"), "true");
    assert_eq!(get(exec, "process.args"), &json!(["/bin/true"]));
    assert_eq!(get(exec, "process.args_count"), 1);
    assert_eq!(get(exec, "process.command_line"), "/bin/true");
    assert_eq!(get(exec, "process.parent.executable"), &json!(test_exe()));
    assert_eq!(
        get(exec, "process.parent.name"),
        &json!(test_exe().rsplit('/').next().unwrap())
    );
    let my_args: Vec<String> = std::env::args().collect();
    assert_eq!(get(exec, "process.parent.args"), &json!(my_args));
    assert_eq!(get(exec, "process.user.id"), &id(euid));
    assert_eq!(get(exec, "process.real_user.id"), &id(uid));
    assert_eq!(get(exec, "user.id"), &id(uid));
    assert_eq!(
        get(exec, "rand_guard.process.exe"),
        &json!(canonical("/bin/true"))
    );
    assert_eq!(get(exec, "rand_guard.process.origin"), "exec");
    assert_eq!(get(exec, "rand_guard.ancestry.0.pid"), &json!(me));
    assert!(exec["rand_guard"].get("truncated").is_none());
    // The process start is the same instant in the fork and the exec.
    assert_eq!(get(exec, "process.start"), get(fork, "process.start"));

    // exit: code, end, the image it ran.
    assert_eq!(get(exit, "event.type"), &json!(["end"]));
    assert_eq!(get(exit, "process.exit_code"), 0);
    assert_eq!(get(exit, "process.executable"), "/bin/true");
    assert_eq!(get(exit, "process.end"), &exit["@timestamp"]);
    assert_eq!(get(exit, "rand_guard.exit.core_dumped"), false);
    assert!(get(exit, "rand_guard.exit").get("signal").is_none());
    assert!(get(exit, "rand_guard.exit.lifetime_ns").as_u64().unwrap() > 0);
}

#[test]
fn shell_child_and_exit_code() {
    if !privileged("shell_child_and_exit_code") {
        return;
    }
    let agent = Agent::start(CONFIG);
    let me = std::process::id();
    let mut sh = Command::new("/bin/sh")
        .args(["-c", "/bin/true; exit 3"])
        .spawn()
        .unwrap();
    let s = sh.id();
    assert_eq!(sh.wait().unwrap().code(), Some(3));
    agent.wait_for("exit of sh", |r| {
        action(r) == "exit" && common::pid_of(r) == s as u64
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    let shell = about(&records, s);
    let actions: Vec<&str> = shell.iter().map(|r| action(r)).collect();
    assert_eq!(actions, ["fork", "exec", "exit"], "{shell:#?}");
    let (exec, exit) = (shell[1], shell[2]);
    assert_eq!(get(exec, "process.executable"), "/bin/sh");
    assert_eq!(
        get(exec, "process.args"),
        &json!(["/bin/sh", "-c", "/bin/true; exit 3"])
    );
    assert_eq!(
        get(exec, "process.command_line"),
        "/bin/sh -c /bin/true; exit 3"
    );
    assert_eq!(get(exec, "process.parent.pid"), &json!(me));
    assert_eq!(
        get(exec, "rand_guard.process.exe"),
        &json!(canonical("/bin/sh"))
    );
    assert_eq!(get(exit, "process.exit_code"), 3);
    assert_eq!(get(exit, "process.executable"), "/bin/sh");

    // The shell forked one child, which ran /bin/true and exited 0.
    let forks: Vec<&Value> = records
        .iter()
        .filter(|r| action(r) == "fork" && get(r, "process.parent.pid") == &json!(s))
        .collect();
    assert_eq!(forks.len(), 1, "{forks:#?}");
    let c = common::pid_of(forks[0]) as u32;
    let child = about(&records, c);
    let actions: Vec<&str> = child.iter().map(|r| action(r)).collect();
    assert_eq!(actions, ["fork", "exec", "exit"]);
    assert_eq!(get(child[0], "process.executable"), "/bin/sh");
    let exec = child[1];
    assert_eq!(get(exec, "process.executable"), "/bin/true");
    assert_eq!(get(exec, "process.args"), &json!(["/bin/true"]));
    assert_eq!(get(exec, "process.parent.pid"), &json!(s));
    assert_eq!(get(exec, "process.parent.executable"), "/bin/sh");
    assert_eq!(
        get(exec, "process.parent.args"),
        &json!(["/bin/sh", "-c", "/bin/true; exit 3"])
    );
    let ancestry: Vec<u64> = get(exec, "rand_guard.ancestry")
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(&ancestry[..2], &[s as u64, me as u64]);
    assert_eq!(get(child[2], "process.exit_code"), 0);
    assert_eq!(get(child[2], "process.parent.pid"), &json!(s));
}

#[test]
fn killed_process_reports_signal() {
    if !privileged("killed_process_reports_signal") {
        return;
    }
    let agent = Agent::start(CONFIG);
    let mut sh = Command::new("/bin/sh")
        .args(["-c", "kill -KILL $$"])
        .spawn()
        .unwrap();
    let s = sh.id();
    let st = sh.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&st), Some(9));
    agent.wait_for("exit of killed sh", |r| {
        action(r) == "exit" && common::pid_of(r) == s as u64
    });
    let (status, records, _) = agent.stop();
    assert!(status.success());
    let exit = *about(&records, s).last().unwrap();
    assert_eq!(action(exit), "exit");
    assert_eq!(get(exit, "process.exit_code"), 137);
    assert_eq!(get(exit, "rand_guard.exit.signal"), 9);
    assert_eq!(get(exit, "rand_guard.exit.core_dumped"), false);
}

#[test]
fn relative_exec_path_is_made_absolute() {
    if !privileged("relative_exec_path_is_made_absolute") {
        return;
    }
    let agent = Agent::start(CONFIG);
    let mut c = Command::new("./true")
        .current_dir("/usr/bin")
        .spawn()
        .unwrap();
    let pid = c.id();
    assert!(c.wait().unwrap().success());
    agent.wait_for("exec of ./true", |r| {
        action(r) == "exec" && common::pid_of(r) == pid as u64
    });
    let (_, records, _) = agent.stop();
    let exec = about(&records, pid)
        .into_iter()
        .find(|r| action(r) == "exec")
        .unwrap();
    assert_eq!(get(exec, "process.executable"), "/usr/bin/true");
    assert_eq!(get(exec, "process.args"), &json!(["./true"]));
    assert_eq!(
        get(exec, "rand_guard.process.exe"),
        &json!(canonical("/usr/bin/true"))
    );
}

#[test]
fn long_argv_is_cut_and_flagged() {
    if !privileged("long_argv_is_cut_and_flagged") {
        return;
    }
    let agent = Agent::start(CONFIG);
    // 200 arguments of 99 bytes + NUL: 20000 bytes, over the 8192 bound.
    let arg = "a".repeat(99);
    let mut c = Command::new("/bin/true")
        .args(std::iter::repeat_n(&arg, 200))
        .spawn()
        .unwrap();
    let pid = c.id();
    assert!(c.wait().unwrap().success());
    agent.wait_for("exec with long argv", |r| {
        action(r) == "exec" && common::pid_of(r) == pid as u64
    });
    let (_, records, _) = agent.stop();
    let exec = about(&records, pid)
        .into_iter()
        .find(|r| action(r) == "exec")
        .unwrap();
    assert_eq!(get(exec, "rand_guard.truncated"), &json!(["args"]));
    let args: Vec<&str> = get(exec, "process.args")
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    // "/bin/true\0" is 10 bytes, then whole 100-byte arguments, then a cut one.
    assert_eq!(args[0], "/bin/true");
    let whole = (8192 - 10) / 100;
    assert_eq!(args.len(), 1 + whole + 1, "{args:?}");
    assert!(args[1..=whole].iter().all(|a| *a == arg));
    assert_eq!(args[whole + 1], &arg[..(8192 - 10) % 100]);
}

#[test]
fn external_object_from_environment_is_loaded() {
    if !privileged("external_object_from_environment_is_loaded") {
        return;
    }
    let object = common::built_object();
    let agent = Agent::start_with_env(CONFIG, &[("EDR_EBPF_OBJECT", &object)]);
    assert!(
        agent
            .stderr_text()
            .contains(&format!("ready: BPF object {object} attached")),
        "{}",
        agent.stderr_text()
    );
    let mut child = Command::new("/bin/true").spawn().unwrap();
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    agent.wait_for("exec of /bin/true", |r| {
        action(r) == "exec" && common::pid_of(r) == pid as u64
    });
    let (status, _, _) = agent.stop();
    assert!(status.success());
}

/// A python3 process with THREADS threads that ends in exit_group
/// (`os._exit(7)`) while they are alive: half spin (waiting for the GIL
/// on a futex most of the time), half are blocked in read(2), and the
/// kernel kills them all at once.
///
/// Before that it registers LISTENERS taskstats listeners (genetlink
/// sockets registered for every CPU): each exiting thread then sends each
/// of them a message in taskstats_exit, between its decrement of
/// `signal->live` and the sched_process_exit tracepoint. That widens the
/// window in which a sibling's decrement to 0 is seen by a thread that
/// did not make it, from a few function calls to tens of µs. On a kernel without
/// taskstats the process just exits.
const EXIT_GROUP_PY: &str = r#"
import os, socket, struct, threading

def msg(typ, cmd, attrs):
    body = struct.pack('BBH', cmd, 1, 0) + attrs
    return struct.pack('=IHHII', 16 + len(body), typ, 1, 0, 0) + body

def attr(t, data):
    return struct.pack('HH', 4 + len(data), t) + data + bytes(-len(data) % 4)

def netlink():
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 16)  # NETLINK_GENERIC
    s.bind((0, 0))
    return s

# CTRL_CMD_GETFAMILY "TASKSTATS" -> CTRL_ATTR_FAMILY_ID
nl = netlink()
nl.send(msg(0x10, 3, attr(2, b'TASKSTATS\0')))
r, off, family = nl.recv(65536), 20, None
while off + 4 <= len(r):
    l, t = struct.unpack_from('HH', r, off)
    if t == 1:
        family = struct.unpack_from('H', r, off + 4)[0]
    off += (l + 3) & ~3
listeners = [netlink() for _ in range(LISTENERS if family else 0)]
cpus = ('0-%d' % (os.cpu_count() - 1)).encode() + b'\0'
for s in listeners:
    # TASKSTATS_CMD_GET, TASKSTATS_CMD_ATTR_REGISTER_CPUMASK
    s.send(msg(family, 1, attr(3, cpus)))

r, w = os.pipe()
go = threading.Barrier(THREADS + 1)

def spin():
    go.wait()
    while True:
        pass

def block():
    go.wait()
    os.read(r, 1)

for i in range(THREADS):
    threading.Thread(target=spin if i % 2 else block, daemon=True).start()
go.wait()
os._exit(7)
"#;

/// Threads that die together in one exit_group each decrement the
/// process's live-thread count before they reach the exit tracepoint, so
/// several of them can see it at 0: the process must still end in exactly
/// one exit record. Without the fix 5-15% of these processes got two (on
/// a busy 2-CPU VM).
#[test]
fn multithreaded_exit_group_gives_one_exit_record() {
    if !privileged("multithreaded_exit_group_gives_one_exit_record") {
        return;
    }
    const PROCESSES: usize = 100;
    let script = EXIT_GROUP_PY
        .replace("LISTENERS", "64")
        .replace("THREADS", "8");
    let agent = Agent::start(CONFIG);
    let mut pids = Vec::new();
    for _ in 0..PROCESSES {
        let mut py = Command::new("/usr/bin/python3")
            .args(["-c", &script])
            .spawn()
            .unwrap();
        pids.push(py.id());
        assert_eq!(py.wait().unwrap().code(), Some(7));
    }
    // They ran one after the other: the last exit comes last.
    let last = *pids.last().unwrap();
    agent.wait_for("exit of the last python3", |r| {
        action(r) == "exit" && common::pid_of(r) == last as u64
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    // Parent and name too: other tests' fork storms can reuse a pid.
    let me = json!(std::process::id());
    let mut more = Vec::new();
    for &pid in &pids {
        let exits: Vec<&Value> = about(&records, pid)
            .into_iter()
            .filter(|r| action(r) == "exit")
            .filter(|r| get(r, "process.parent.pid") == &me)
            .filter(|r| get(r, "process.name") == "python3")
            .collect();
        assert!(!exits.is_empty(), "no exit record for python3 {pid}");
        if exits.len() != 1 {
            more.push((pid, exits.len()));
        }
        assert_eq!(get(exits[0], "process.exit_code"), 7);
        assert_eq!(get(exits[0], "process.executable"), "/usr/bin/python3");
    }
    assert!(
        more.is_empty(),
        "(pid, exit records) of the {PROCESSES} processes with more than one: {more:?}"
    );
}
