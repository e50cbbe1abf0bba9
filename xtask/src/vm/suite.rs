//! The guest suite's assertions, on the host: the exact records the agent
//! wrote in the guest for what the guest says it ran (guest-init.sh's
//! facts), field by field as the host end-to-end tests assert them
//! (tests/e2e_process.rs, e2e_file.rs, e2e_reads.rs, e2e_net.rs,
//! e2e_scenarios.rs). Each check is one behaviour; its failure says which
//! record and which field, what it was and what was expected.

use serde_json::{Value, json};

use super::report::Report;

/// One behaviour's verdict.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub result: Result<(), String>,
}

/// One behaviour's assertions on the guest's report.
type CheckFn = fn(&Report) -> Result<(), String>;

/// The checks, in the order the guest ran the workload. When the agent
/// never got ready, that is the one failure reported. `first`: the pass
/// before this one, whose file records this pass's must equal.
pub fn run(r: &Report, first: Option<&Report>) -> Vec<Check> {
    let ready = Check {
        name: "agent ready",
        result: ready(r),
    };
    if ready.result.is_err() {
        return vec![ready];
    }
    let checks: [(&'static str, CheckFn); 16] = [
        ("hook path", hook_path),
        ("syscalls the kernel lacks", absent_syscalls),
        ("DNS queries", net::dns),
        ("write(2) runs no DNS program", net::dns_runs),
        ("exec/fork/exit /bin/true", bin_true),
        ("sh -c 'exit 3'", exit_3),
        ("file write under /etc", file_write),
        ("rg-persist-cron", cron),
        ("read of /etc/shadow", shadow_read),
        ("file capability set", xattr::file_capability),
        ("loopback connect", connect),
        ("listener: bind, listen, accept", net::listener),
        ("reverse shell", reverse_shell),
        ("one start time per process", one_start),
        ("health, zero drops", health),
        ("SIGTERM: exit 0, flushed", sigterm),
    ];
    let same = first.into_iter().flat_map(|f| {
        [
            Check {
                name: "file records as in the auto pass",
                result: same_file_records(f, r),
            },
            Check {
                name: "network records as in the auto pass",
                result: net::same_net_records(f, r),
            },
        ]
    });
    std::iter::once(ready)
        .chain(
            checks
                .into_iter()
                .map(|(name, f)| Check { name, result: f(r) }),
        )
        .chain(same)
        .collect()
}

/// The path the file, stdio, network and DNS families must use in this
/// pass: the fast one in the "auto" pass (every guest kernel here allows
/// trampolines), the tracepoints when forced. The start-up line and the
/// health record must both say it, and no syscall tracepoint may be
/// attached with the fast path (one would tax every syscall again).
fn hook_path(r: &Report) -> Result<(), String> {
    let want = match r.pass {
        "tracepoint" => "tracepoint",
        _ => "fentry",
    };
    let ready = r
        .stderr
        .lines()
        .find(|l| l.starts_with("rand-guard: ready:"))
        .ok_or("no `rand-guard: ready:` line")?;
    let hooks = ready
        .split_once("; hooks: ")
        .and_then(|(_, rest)| rest.split(';').next())
        .unwrap_or("");
    const FAMILIES: [&str; 4] = ["file", "stdio", "network", "dns"];
    for family in FAMILIES {
        if !hooks.split(' ').any(|h| h == format!("{family}={want}")) {
            return Err(format!(
                "the start-up line does not say {family}={want}:\n  {ready}"
            ));
        }
    }
    let tracepoints = ready.contains(" on sys_exit_");
    if tracepoints != (want == "tracepoint") {
        return Err(format!(
            "the hooks attached do not match {want}:\n  {ready}"
        ));
    }
    let h = final_health(r)?;
    FAMILIES.into_iter().try_for_each(|family| {
        expect(
            "final health record",
            h,
            &format!("hook_paths.{family}"),
            json!(want),
        )
    })
}

/// The syscalls a hook exists for that are newer than the guest's kernel
/// (fchmodat2: 6.6; setxattrat, removexattrat: 6.13), by `uname -r`.
pub fn lacking(kernel: &str) -> Vec<&'static str> {
    let mut v = kernel
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let version = (v.next().unwrap_or(0), v.next().unwrap_or(0));
    [
        ("fchmodat2", (6, 6)),
        ("setxattrat", (6, 13)),
        ("removexattrat", (6, 13)),
    ]
    .into_iter()
    .filter(|(_, since)| version < *since)
    .map(|(s, _)| s)
    .collect()
}

/// A syscall the kernel does not have is neither a fallback nor a failed
/// hook: start-up names exactly those on its "not hooked" line (none on a
/// kernel that has them all), and warns of no optional hook; on the auto
/// pass no hook stayed on the tracepoints either (every guest kernel here
/// allows trampolines).
fn absent_syscalls(r: &Report) -> Result<(), String> {
    const LINE: &str = "rand-guard: not hooked, this kernel does not have them: ";
    let want = lacking(fact(r, "kernel")?).join(", ");
    let got = r
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix(LINE))
        .unwrap_or("");
    if got != want {
        return Err(format!(
            "the kernel lacks [{want}], start-up's line names [{got}]:\n{}",
            last_lines(&r.stderr, 20)
        ));
    }
    let noise = |l: &&str| {
        l.starts_with("rand-guard: warning: optional hook")
            || (r.pass != "tracepoint" && l.starts_with("rand-guard: hooks on the tracepoint path"))
    };
    match r.stderr.lines().find(noise) {
        Some(l) => Err(format!("a hook failed or fell back: {l}")),
        None => Ok(()),
    }
}

/// The workload's file records, without what differs from run to run
/// (time, pids, sequence numbers): what the hook path decides.
fn file_view(r: &Report) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for key in ["file_pid", "cron_pid", "read_pid"] {
        let p = pid(r, key)?;
        for v in find(r, "event", "open", p) {
            out.push(json!({
                "event": {
                    "action": get(v, "event.action"),
                    "type": get(v, "event.type"),
                    "category": get(v, "event.category"),
                    "outcome": get(v, "event.outcome"),
                },
                "file": get(v, "file"),
                "rand_guard.file": get(v, "rand_guard.file"),
                "process.executable": get(v, "process.executable"),
                "process.args": get(v, "process.args"),
            }));
        }
    }
    Ok(out)
}

fn same_file_records(first: &Report, r: &Report) -> Result<(), String> {
    let (a, b) = (file_view(first)?, file_view(r)?);
    if a.len() != 3 {
        return Err(format!(
            "the {} pass has {} workload file records, expected 3",
            first.pass,
            a.len()
        ));
    }
    match a.iter().zip(&b).find(|(x, y)| x != y) {
        _ if a.len() != b.len() => Err(format!(
            "{} file records in the {} pass, {} in this one",
            a.len(),
            first.pass,
            b.len()
        )),
        Some((x, y)) => Err(format!(
            "a file record differs:\n  {}: {x}\n  {}: {y}",
            first.pass, r.pass
        )),
        None => Ok(()),
    }
}

/// A dotted path into a record (`process.parent.pid`, `a.0.b`).
pub fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .fold(v, |v, k| match (v, k.parse::<usize>()) {
            (Value::Array(a), Ok(i)) => a.get(i).unwrap_or(&Value::Null),
            _ => &v[k],
        })
}

/// `path` of `record` (described as `what`) must be `want`.
fn expect(what: &str, record: &Value, path: &str, want: Value) -> Result<(), String> {
    let got = get(record, path);
    if *got == want {
        Ok(())
    } else {
        Err(format!(
            "{what}: {path} is {got}, expected {want}\n  record: {record}"
        ))
    }
}

/// Every (path, value) of `fields` must match.
fn expect_all(what: &str, record: &Value, fields: &[(&str, Value)]) -> Result<(), String> {
    fields
        .iter()
        .try_for_each(|(path, want)| expect(what, record, path, want.clone()))
}

fn fact<'a>(r: &'a Report, key: &str) -> Result<&'a str, String> {
    r.fact(key)
        .ok_or_else(|| format!("the guest recorded no `{key}` (it stopped early?)"))
}

fn pid(r: &Report, key: &str) -> Result<u64, String> {
    let v = fact(r, key)?;
    v.parse()
        .map_err(|_| format!("the guest's `{key}` is `{v}`, not a pid"))
}

fn action(v: &Value) -> &str {
    get(v, "event.action").as_str().unwrap_or("")
}

/// Event records about process `pid`, in order.
fn about(records: &[Value], pid: u64) -> Vec<&Value> {
    records
        .iter()
        .filter(|r| r["record_type"] == "event" && get(r, "process.pid") == pid)
        .collect()
}

/// The records of `kind` (`event`, `alert`) with this action and pid.
fn find<'a>(r: &'a Report, kind: &str, act: &str, pid: u64) -> Vec<&'a Value> {
    r.records
        .iter()
        .filter(|v| v["record_type"] == kind && action(v) == act && get(v, "process.pid") == pid)
        .collect()
}

fn one<'a>(what: &str, found: Vec<&'a Value>) -> Result<&'a Value, String> {
    match found.as_slice() {
        [one] => Ok(one),
        _ => Err(format!(
            "{what}: {} records, expected one: {found:?}",
            found.len()
        )),
    }
}

fn alert<'a>(r: &'a Report, rule: &str, pid: u64) -> Result<&'a Value, String> {
    let found = r
        .records
        .iter()
        .filter(|v| {
            v["record_type"] == "alert" && get(v, "rule.id") == rule && get(v, "process.pid") == pid
        })
        .collect();
    one(&format!("{rule} alert for pid {pid}"), found)
}

fn ready(r: &Report) -> Result<(), String> {
    // What the guest's init set up for the agent (guest-init.sh).
    for (key, want) in [
        ("tracefs", "mounted"),
        ("debugfs", "mounted"),
        ("bpffs", "mounted"),
        ("btf", "present"),
    ] {
        let got = fact(r, key)?;
        if got != want {
            return Err(format!("in the guest, {key} is {got}, expected {want}"));
        }
    }
    if fact(r, "ready")? == "yes" {
        return Ok(());
    }
    Err(format!(
        "the agent did not report ready; its stderr ends:\n  {}\n  the guest's kernel log ends:\n  {}",
        last_lines(&r.stderr, 20),
        last_lines(&r.dmesg, 10)
    ))
}

/// The last `n` lines of `text`, indented for a failure message.
pub fn last_lines(text: &str, n: usize) -> String {
    let tail: Vec<&str> = text.lines().rev().take(n).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n  ")
}

/// fork, exec and exit of a process the driver started, in that order.
fn lifecycle<'a>(r: &'a Report, what: &str, pid: u64) -> Result<[&'a Value; 3], String> {
    let mine = about(&r.records, pid);
    let actions: Vec<&str> = mine.iter().map(|v| action(v)).collect();
    if actions != ["fork", "exec", "exit"] {
        return Err(format!(
            "{what} (pid {pid}): events {actions:?}, expected [\"fork\", \"exec\", \"exit\"]"
        ));
    }
    Ok([mine[0], mine[1], mine[2]])
}

fn bin_true(r: &Report) -> Result<(), String> {
    let (p, driver) = (pid(r, "true_pid")?, pid(r, "driver_pid")?);
    if fact(r, "true_status")? != "0" {
        return Err(format!("the guest saw status {}", fact(r, "true_status")?));
    }
    let [fork, exec, exit] = lifecycle(r, "/bin/true", p)?;
    expect_all(
        "fork of /bin/true",
        fork,
        &[
            ("event.type", json!(["start"])),
            ("rand_guard.process.origin", json!("fork")),
            ("process.parent.pid", json!(driver)),
        ],
    )?;
    expect_all(
        "exec of /bin/true",
        exec,
        &[
            ("event.type", json!(["start"])),
            ("process.executable", json!("/bin/true")),
            ("process.name", json!("true")),
            ("process.args", json!(["/bin/true"])),
            ("process.args_count", json!(1)),
            // an applet: the image is busybox
            ("rand_guard.process.exe", json!("/bin/busybox")),
            ("process.parent.pid", json!(driver)),
            ("rand_guard.ancestry.0.pid", json!(driver)),
            ("process.user.id", json!("0")),
        ],
    )?;
    expect_all(
        "exit of /bin/true",
        exit,
        &[
            ("event.type", json!(["end"])),
            ("process.exit_code", json!(0)),
            ("process.executable", json!("/bin/true")),
            ("process.parent.pid", json!(driver)),
        ],
    )?;
    expect(
        "exec of /bin/true",
        exec,
        "process.start",
        get(fork, "process.start").clone(),
    )
}

fn exit_3(r: &Report) -> Result<(), String> {
    let (p, driver) = (pid(r, "exit3_pid")?, pid(r, "driver_pid")?);
    if fact(r, "exit3_status")? != "3" {
        return Err(format!("the guest saw status {}", fact(r, "exit3_status")?));
    }
    let [fork, exec, exit] = lifecycle(r, "sh -c 'exit 3'", p)?;
    expect("fork of sh", fork, "process.parent.pid", json!(driver))?;
    expect_all(
        "exec of sh",
        exec,
        &[
            ("process.executable", json!("/bin/sh")),
            ("process.args", json!(["/bin/sh", "-c", "exit 3"])),
            ("process.command_line", json!("/bin/sh -c exit 3")),
            ("process.parent.pid", json!(driver)),
        ],
    )?;
    expect_all(
        "exit of sh",
        exit,
        &[
            ("process.exit_code", json!(3)),
            ("process.executable", json!("/bin/sh")),
        ],
    )
}

/// The open-for-write event of `path` by the shell `pid`.
fn write_open<'a>(r: &'a Report, path: &str, pid: u64) -> Result<&'a Value, String> {
    let found = find(r, "event", "open", pid)
        .into_iter()
        .filter(|v| get(v, "file.path") == path)
        .collect();
    let open = one(&format!("open of {path} by pid {pid}"), found)?;
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    expect_all(
        &format!("open of {path}"),
        open,
        &[
            ("event.category", json!(["file"])),
            ("event.type", json!(["change", "creation"])),
            ("event.outcome", json!("success")),
            ("process.executable", json!("/bin/sh")),
            ("file.name", json!(name)),
            ("file.directory", json!(dir)),
            ("file.mode", json!("0666")),
            ("rand_guard.file.syscall", json!("openat")),
            (
                "rand_guard.file.open_flags",
                json!(["O_WRONLY", "O_CREAT", "O_TRUNC"]),
            ),
            ("rand_guard.file.path_source", json!("dentry")),
        ],
    )?;
    Ok(open)
}

fn file_write(r: &Report) -> Result<(), String> {
    write_open(r, "/etc/rg-vm-file", pid(r, "file_pid")?).map(|_| ())
}

fn cron(r: &Report) -> Result<(), String> {
    let p = pid(r, "cron_pid")?;
    let path = "/etc/cron.d/rg-vm-cron";
    let open = write_open(r, path, p)?;
    let a = alert(r, "rg-persist-cron", p)?;
    expect_all(
        "rg-persist-cron alert",
        a,
        &[
            ("event.kind", json!("alert")),
            ("event.sequence", get(open, "event.sequence").clone()),
            ("rule.ruleset", json!("builtin")),
            ("file.path", json!(path)),
            ("process.executable", json!("/bin/sh")),
        ],
    )
}

fn shadow_read(r: &Report) -> Result<(), String> {
    let p = pid(r, "read_pid")?;
    let found = find(r, "event", "open", p)
        .into_iter()
        .filter(|v| get(v, "file.path") == "/etc/shadow")
        .collect();
    let ev = one(&format!("open of /etc/shadow by pid {p}"), found)?;
    expect_all(
        "read of /etc/shadow",
        ev,
        &[
            ("event.type", json!(["access"])),
            ("event.outcome", json!("success")),
            ("process.executable", json!("/bin/cat")),
            ("process.args", json!(["/bin/cat", "/etc/shadow"])),
            ("rand_guard.file.syscall", json!("openat")),
            ("rand_guard.file.open_flags", json!(["O_RDONLY"])),
            ("rand_guard.file.path_source", json!("dentry")),
            ("rand_guard.file.watched_path", json!("/etc/shadow")),
        ],
    )?;
    let a = alert(r, "rg-cred-sensitive-read", p)?;
    expect_all(
        "rg-cred-sensitive-read alert",
        a,
        &[
            ("event.sequence", get(ev, "event.sequence").clone()),
            ("event.severity", json!(73)),
        ],
    )
}

fn connect(r: &Report) -> Result<(), String> {
    let p = pid(r, "connect_pid")?;
    let c = one(
        &format!("connect by pid {p}"),
        find(r, "event", "connect", p),
    )?;
    expect_all(
        "connect",
        c,
        &[
            ("destination", json!({"ip": "127.0.0.1", "port": 4444})),
            (
                "network",
                json!({"transport": "tcp", "type": "ipv4", "direction": "egress"}),
            ),
            ("rand_guard.network.result", json!(0)),
            ("process.executable", json!("/bin/nc")),
        ],
    )?;
    let a = alert(r, "rg-net-suspicious-port", p)?;
    expect(
        "rg-net-suspicious-port alert",
        a,
        "destination.port",
        json!(4444),
    )
}

fn reverse_shell(r: &Report) -> Result<(), String> {
    let p = pid(r, "revshell_pid")?;
    if fact(r, "revshell_marker")? != "1" {
        return Err("the attacker's listener did not get the shell's answer".into());
    }
    let a = alert(r, "rg-reverse-shell", p)?;
    expect_all(
        "rg-reverse-shell alert",
        a,
        &[
            ("event.severity", json!(99)),
            ("rule.name", json!("Reverse shell")),
            // busybox's `nc -e /bin/sh` puts the socket on fds 0 and 1
            // (dup2) and then runs the shell in the same process, both as
            // /bin/busybox: the alert may name the process at the dup2
            // (nc, on detections.reverse_shell_programs, run as
            // /proc/self/exe) or at the shell's exec; the file the kernel
            // runs is busybox either way.
            // (The ATT&CK fields, whose layout schema 2 changed, are
            // checked on the host: tests/e2e_scenarios.rs.)
            ("rand_guard.process.exe", json!("/bin/busybox")),
        ],
    )?;
    let evidence = get(a, "rand_guard.alert.evidence")
        .as_array()
        .cloned()
        .unwrap_or_default();
    let socket = evidence
        .iter()
        .find(|e| action(e) == "stdio_socket")
        .ok_or_else(|| format!("rg-reverse-shell alert: no stdio_socket evidence: {a}"))?;
    expect_all(
        "the alert's stdio_socket evidence",
        socket,
        &[("destination.port", json!(7001)), ("process.pid", json!(p))],
    )
}

/// Every process seen forked has one `process.start` in all its fork,
/// exec and exit records (the start is what tells two processes of one
/// pid apart).
fn one_start(r: &Report) -> Result<(), String> {
    let forked: std::collections::BTreeSet<u64> = r
        .records
        .iter()
        .filter(|v| v["record_type"] == "event" && action(v) == "fork")
        .filter_map(|v| get(v, "process.pid").as_u64())
        .collect();
    for pid in forked {
        let mine = about(&r.records, pid);
        let lifecycle = mine
            .iter()
            .filter(|v| matches!(action(v), "fork" | "exec" | "exit"));
        let starts: std::collections::BTreeSet<String> = lifecycle
            .map(|v| get(v, "process.start").to_string())
            .collect();
        if starts.len() != 1 {
            return Err(format!(
                "pid {pid}: process.start differs between its records: {starts:?}"
            ));
        }
    }
    Ok(())
}

/// The values of a health counter map (`{"exec": 0, ...}`) that are not 0.
fn nonzero(h: &Value, counter: &str) -> Vec<String> {
    h[counter]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| v.as_u64() != Some(0))
                .map(|(k, v)| format!("{counter}.{k} = {v}"))
                .collect()
        })
        .unwrap_or_default()
}

fn final_health(r: &Report) -> Result<&Value, String> {
    let last = r.records.last().ok_or("no records at all")?;
    if last["record_type"] != "health" || get(last, "rand_guard.health.last") != true {
        return Err(format!(
            "the last record is not the final health record: {last}"
        ));
    }
    Ok(&last["rand_guard"]["health"])
}

fn health(r: &Report) -> Result<(), String> {
    let h = final_health(r)?;
    let drops: Vec<String> = [
        "kernel_ringbuf_drops_total",
        "channel_full_drops_total",
        "channel_full_drops_by_kind_total",
        "output_buffer_drops_total",
    ]
    .iter()
    .flat_map(|c| nonzero(h, c))
    .collect();
    if !drops.is_empty() {
        return Err(format!("records were lost: {}", drops.join(", ")));
    }
    let count = |kind: &str| {
        r.records
            .iter()
            .filter(|v| v["record_type"] == kind)
            .count()
    };
    for (counter, kind) in [
        ("events_output_total", "event"),
        ("alerts_output_total", "alert"),
    ] {
        let written = count(kind);
        if h[counter] != written {
            return Err(format!(
                "health {counter} is {}, but {written} {kind} records were written",
                h[counter]
            ));
        }
    }
    for zero in ["output_failures_total", "invalid_schema_total"] {
        if h[zero] != 0 {
            return Err(format!("health {zero} is {}", h[zero]));
        }
    }
    Ok(())
}

fn sigterm(r: &Report) -> Result<(), String> {
    let status = fact(r, "agent_exit")?;
    if status != "0" {
        return Err(format!("the agent exited {status} on SIGTERM"));
    }
    if !r.stderr.contains("rand-guard: stopped:") {
        return Err(format!(
            "no `rand-guard: stopped:` summary on stderr:\n{}",
            r.stderr
        ));
    }
    final_health(r).map(|_| ())
}

#[path = "suite_net.rs"]
mod net;

#[path = "suite_xattr.rs"]
mod xattr;

#[cfg(test)]
#[path = "suite_tests.rs"]
mod tests;
