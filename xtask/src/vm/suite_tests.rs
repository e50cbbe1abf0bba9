//! The suite on a real guest's output (6.1.0-57 under TCG, 2026-12-07
//! 22:00 UTC, both passes, auto on fentry and tracepoint, network and DNS
//! on, the file-capability workload; the user.* fsetxattr failed there,
//! 6.1's tmpfs having no user attributes:
//! testdata/guest-6.1.0-57.data is the data port's bytes as the host got
//! them), and on that output with one thing broken at a time.

use super::*;
use crate::vm::report;

const CANNED: &[u8] = include_bytes!("testdata/guest-6.1.0-57.data");

/// The guest's passes: auto (the fast path), then tracepoint.
fn canned_passes() -> (Report, Report) {
    let mut passes = report::parse(CANNED).unwrap();
    let t = passes.pop().unwrap();
    (passes.pop().unwrap(), t)
}

/// The auto pass, checked on its own.
fn canned() -> Report {
    canned_passes().0
}

fn run(r: &Report) -> Vec<Check> {
    super::run(r, None)
}

/// The one failed check's message; panics unless exactly `name` failed.
fn only_failure(r: &Report, name: &str) -> String {
    let failed: Vec<Check> = run(r).into_iter().filter(|c| c.result.is_err()).collect();
    assert_eq!(
        failed.iter().map(|c| c.name).collect::<Vec<_>>(),
        [name],
        "{failed:#?}"
    );
    failed.into_iter().next().unwrap().result.unwrap_err()
}

fn fact_pid(r: &Report, key: &str) -> u64 {
    r.fact(key).unwrap().parse().unwrap()
}

/// The index of the one record with this type, action and pid.
fn index_of(r: &Report, kind: &str, act: &str, pid: u64) -> usize {
    let found: Vec<usize> = r
        .records
        .iter()
        .enumerate()
        .filter(|(_, v)| {
            v["record_type"] == kind && action(v) == act && get(v, "process.pid") == pid
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(found.len(), 1, "{kind} {act} {pid}");
    found[0]
}

#[test]
fn the_canned_guest_passes_every_check() {
    let (auto, tracepoint) = canned_passes();
    let checks = run(&auto);
    let both = super::run(&tracepoint, Some(&auto));
    assert_eq!(both.len(), checks.len() + 2);
    assert_eq!(
        both[checks.len()..]
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>(),
        [
            "file records as in the auto pass",
            "network records as in the auto pass"
        ]
    );
    for c in &both {
        assert!(c.result.is_ok(), "tracepoint: {}: {:?}", c.name, c.result);
    }
    let names: Vec<&str> = checks.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "agent ready",
            "hook path",
            "syscalls the kernel lacks",
            "DNS queries",
            "write(2) runs no DNS program",
            "exec/fork/exit /bin/true",
            "sh -c 'exit 3'",
            "file write under /etc",
            "rg-persist-cron",
            "read of /etc/shadow",
            "file capability set",
            "loopback connect",
            "listener: bind, listen, accept",
            "reverse shell",
            "one start time per process",
            "health, zero drops",
            "SIGTERM: exit 0, flushed",
        ]
    );
    for c in &checks {
        assert!(c.result.is_ok(), "{}: {:?}", c.name, c.result);
    }
}

#[test]
fn the_syscalls_a_kernel_lacks_come_from_its_version() {
    assert_eq!(
        lacking("6.1.0-57-amd64"),
        ["fchmodat2", "setxattrat", "removexattrat"]
    );
    assert_eq!(
        lacking("6.12.118+deb12-amd64"),
        ["setxattrat", "removexattrat"]
    );
    assert!(lacking("6.18.15+deb13-amd64").is_empty());
}

#[test]
fn a_warning_for_a_syscall_the_kernel_lacks_is_named() {
    let mut r = canned();
    r.stderr.push_str(
        "rand-guard: warning: optional hook edr_file on sys_exit_fchmodat2 not attached: x\n",
    );
    let e = only_failure(&r, "syscalls the kernel lacks");
    assert!(e.contains("sys_exit_fchmodat2"), "{e}");
}

#[test]
fn a_wrong_field_names_the_record_the_field_and_both_values() {
    let mut r = canned();
    let i = index_of(&r, "event", "exit", fact_pid(&r, "exit3_pid"));
    r.records[i]["process"]["exit_code"] = json!(0);
    let e = only_failure(&r, "sh -c 'exit 3'");
    assert!(
        e.starts_with("exit of sh: process.exit_code is 0, expected 3\n  record: {"),
        "{e}"
    );
}

#[test]
fn a_missing_exec_is_named_with_the_events_there_were() {
    let mut r = canned();
    let pid = fact_pid(&r, "true_pid");
    let i = index_of(&r, "event", "exec", pid);
    r.records.remove(i);
    // (the health record's count no longer matches either)
    let failed: Vec<Check> = run(&r).into_iter().filter(|c| c.result.is_err()).collect();
    assert_eq!(failed[0].name, "exec/fork/exit /bin/true");
    assert_eq!(
        failed[0].result.as_ref().unwrap_err(),
        &format!(
            "/bin/true (pid {pid}): events [\"fork\", \"exit\"], expected [\"fork\", \"exec\", \"exit\"]"
        )
    );
}

#[test]
fn a_missing_alert_is_named_with_its_rule_and_pid() {
    let mut r = canned();
    let pid = fact_pid(&r, "cron_pid");
    let i = index_of(&r, "alert", "open", pid);
    r.records.remove(i);
    let failed: Vec<String> = run(&r).into_iter().filter_map(|c| c.result.err()).collect();
    assert_eq!(
        failed,
        [
            format!("rg-persist-cron alert for pid {pid}: 0 records, expected one: []"),
            "health alerts_output_total is 6, but 5 alert records were written".to_string(),
        ]
    );
}

#[test]
fn a_process_with_two_start_times_is_named() {
    let mut r = canned();
    let pid = fact_pid(&r, "exit3_pid");
    let i = index_of(&r, "event", "exec", pid);
    r.records[i]["process"]["start"] = json!("2026-12-07T14:30:45.337505870Z");
    let failed: Vec<(&str, String)> = run(&r)
        .into_iter()
        .filter_map(|c| Some((c.name, c.result.err()?)))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0].0, "one start time per process");
    assert!(
        failed[0].1.starts_with(&format!(
            "pid {pid}: process.start differs between its records: {{"
        )),
        "{}",
        failed[0].1
    );
}

#[test]
fn any_drop_fails_the_health_check() {
    let mut r = canned();
    let last = r.records.len() - 1;
    r.records[last]["rand_guard"]["health"]["kernel_ringbuf_drops_total"]["exec"] = json!(2);
    assert_eq!(
        only_failure(&r, "health, zero drops"),
        "records were lost: kernel_ringbuf_drops_total.exec = 2"
    );
}

#[test]
fn no_final_health_record_fails_health_and_sigterm() {
    let mut r = canned();
    r.records.pop();
    let failed: Vec<&str> = run(&r)
        .into_iter()
        .filter(|c| c.result.is_err())
        .map(|c| c.name)
        .collect();
    // (the hook path, the DNS programs' runs and the kernel's count of
    // the user.* fsetxattr are read from the final health record too)
    assert_eq!(
        failed,
        [
            "hook path",
            "write(2) runs no DNS program",
            "file capability set",
            "health, zero drops",
            "SIGTERM: exit 0, flushed"
        ]
    );
}

#[test]
fn a_guest_without_tracefs_is_not_ready() {
    let mut r = canned();
    r.facts.insert("tracefs".into(), "missing".into());
    let checks = run(&r);
    assert_eq!(checks.len(), 1);
    assert_eq!(
        checks[0].result.as_ref().unwrap_err(),
        "in the guest, tracefs is missing, expected mounted"
    );
}

#[test]
fn a_failed_stop_is_reported() {
    let mut r = canned();
    r.facts.insert("agent_exit".into(), "1".into());
    assert_eq!(
        only_failure(&r, "SIGTERM: exit 0, flushed"),
        "the agent exited 1 on SIGTERM"
    );
}

#[test]
fn an_agent_that_never_got_ready_is_the_one_failure_with_its_stderr() {
    let mut r = canned();
    r.facts.insert("ready".into(), "no".into());
    r.stderr =
        "rand-guard: error: loading BPF program edr_file failed: Permission denied (os error 13)\n"
            .into();
    let checks = run(&r);
    assert_eq!(checks.len(), 1);
    let e = checks[0].result.as_ref().unwrap_err();
    assert!(
        e.starts_with(
            "the agent did not report ready; its stderr ends:\n  \
             rand-guard: error: loading BPF program edr_file failed"
        ),
        "{e}"
    );
}

#[test]
fn a_file_record_that_differs_between_the_paths_is_shown() {
    let (auto, mut tracepoint) = canned_passes();
    let pid = fact_pid(&tracepoint, "file_pid");
    let i = index_of(&tracepoint, "event", "open", pid);
    tracepoint.records[i]["process"]["args"] = json!(["/bin/sh", "-c", "other"]);
    let failed: Vec<(&str, String)> = super::run(&tracepoint, Some(&auto))
        .into_iter()
        .filter_map(|c| Some((c.name, c.result.err()?)))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0].0, "file records as in the auto pass");
    assert!(
        failed[0].1.starts_with("a file record differs:\n  auto: {"),
        "{}",
        failed[0].1
    );
    assert!(failed[0].1.contains("\"other\""), "{}", failed[0].1);
}

#[test]
fn a_pass_on_the_wrong_hook_path_is_named() {
    let (mut auto, tracepoint) = canned_passes();
    // As if the agent had fallen back: the tracepoint pass's stderr.
    auto.stderr = tracepoint.stderr.clone();
    let e = only_failure(&auto, "hook path");
    assert!(
        e.starts_with("the start-up line does not say file=fentry:\n  rand-guard: ready:"),
        "{e}"
    );
}

#[test]
fn a_network_record_that_differs_between_the_paths_is_shown() {
    let (auto, mut tracepoint) = canned_passes();
    let pid = fact_pid(&tracepoint, "dns6_pid");
    let i = index_of(&tracepoint, "event", "dns_query", pid);
    tracepoint.records[i]["rand_guard"]["network"]["syscall"] = json!("sendto");
    let failed: Vec<(&str, String)> = super::run(&tracepoint, Some(&auto))
        .into_iter()
        .filter_map(|c| Some((c.name, c.result.err()?)))
        .collect();
    let names: Vec<&str> = failed.iter().map(|f| f.0).collect();
    assert_eq!(
        names,
        ["DNS queries", "network records as in the auto pass"],
        "{failed:#?}"
    );
    assert!(
        failed[1]
            .1
            .starts_with("a network record differs:\n  auto: {"),
        "{}",
        failed[1].1
    );
    assert!(failed[1].1.contains("\"sendto\""), "{}", failed[1].1);
}

#[test]
fn a_dns_program_run_by_plain_writes_is_named() {
    let mut r = canned();
    let last = r.records.len() - 1;
    r.records[last]["rand_guard"]["health"]["bpf_programs"]["edr_dx_udp"]["run_count_total"] =
        json!(1001);
    assert_eq!(
        only_failure(&r, "write(2) runs no DNS program"),
        "edr_dx_udp ran 1001 times, expected 1 (one per UDP send of the workload; \
         1000 writes to /dev/null ran before)"
    );
    // The tracepoint pass must show what the fast path saves.
    let (_, mut t) = canned_passes();
    let last = t.records.len() - 1;
    t.records[last]["rand_guard"]["health"]["bpf_programs"]["edr_dns"]["run_count_total"] =
        json!(999);
    assert_eq!(
        only_failure(&t, "write(2) runs no DNS program"),
        "edr_dns ran 999 times, fewer than the 1000 writes to /dev/null"
    );
}

#[test]
fn a_network_family_left_on_the_tracepoints_is_named() {
    let mut r = canned();
    r.stderr = r.stderr.replace(" network=fentry", " network=tracepoint");
    let e = only_failure(&r, "hook path");
    assert!(
        e.starts_with("the start-up line does not say network=fentry:\n  rand-guard: ready:"),
        "{e}"
    );
}

/// The index of the one alert of `rule` by process `pid`.
fn alert_index(r: &Report, rule: &str, pid: u64) -> usize {
    let found: Vec<usize> = r
        .records
        .iter()
        .enumerate()
        .filter(|(_, v)| {
            v["record_type"] == "alert" && get(v, "rule.id") == rule && get(v, "process.pid") == pid
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(found.len(), 1, "{rule} {pid}");
    found[0]
}

#[test]
fn a_wrong_capability_set_is_named() {
    let mut r = canned();
    let pid = fact_pid(&r, "xattr_cap_pid");
    let i = alert_index(&r, "rg-perm-file-capability", pid);
    r.records[i]["rand_guard"]["file"]["xattr"]["capabilities"]["permitted"] =
        json!(["cap_net_raw"]);
    let e = only_failure(&r, "file capability set");
    assert!(
        e.starts_with(
            "rg-perm-file-capability alert: rand_guard.file.xattr.capabilities.permitted \
             is [\"cap_net_raw\"], expected [\"cap_setuid\"]\n  record: {"
        ),
        "{e}"
    );
}

#[test]
fn a_missing_capability_alert_is_named_with_its_pid() {
    let mut r = canned();
    let pid = fact_pid(&r, "xattr_cap_pid");
    let i = alert_index(&r, "rg-perm-file-capability", pid);
    r.records.remove(i);
    let failed: Vec<(&str, String)> = run(&r)
        .into_iter()
        .filter_map(|c| Some((c.name, c.result.err()?)))
        .collect();
    assert_eq!(failed.len(), 2, "{failed:#?}");
    assert_eq!(
        failed[0],
        (
            "file capability set",
            format!("rg-perm-file-capability alert for pid {pid}: 0 records, expected one: []")
        )
    );
    assert_eq!(failed[1].0, "health, zero drops");
}

#[test]
fn a_failed_capability_write_is_named_with_its_error() {
    let mut r = canned();
    r.facts.insert("xattr_cap_status".into(), "1".into());
    r.facts.insert(
        "xattr_errors".into(),
        "xtask: setxattr /tmp/rg-vm-cap security.capability: Operation not supported".into(),
    );
    assert_eq!(
        only_failure(&r, "file capability set"),
        "the guest's setxattr of security.capability failed: \
         xtask: setxattr /tmp/rg-vm-cap security.capability: Operation not supported"
    );
}

#[test]
fn a_user_attribute_outside_the_prefixes_must_not_be_written() {
    let mut r = canned();
    let pid = fact_pid(&r, "xattr_user_pid");
    // As if the kernel had let it through: an event of the fsetxattr.
    let i = alert_index(&r, "rg-perm-file-capability", fact_pid(&r, "xattr_cap_pid"));
    let mut ev = r.records[i].clone();
    ev["record_type"] = json!("event");
    ev["process"]["pid"] = json!(pid);
    ev["rand_guard"]["file"]["syscall"] = json!("fsetxattr");
    r.records.insert(i, ev);
    let failed: Vec<(&str, String)> = run(&r)
        .into_iter()
        .filter_map(|c| Some((c.name, c.result.err()?)))
        .collect();
    assert_eq!(failed.len(), 2, "{failed:#?}");
    assert_eq!(failed[0].0, "file capability set");
    assert!(
        failed[0]
            .1
            .starts_with("the user.* fsetxattr outside the watched prefixes was written: ["),
        "{}",
        failed[0].1
    );
    assert_eq!(failed[1].0, "health, zero drops");
}

#[test]
fn a_user_attribute_the_kernel_did_not_count_is_named() {
    let mut r = canned();
    // 6.1's tmpfs has no user.* attributes: the write failed there.
    let counter = match r.fact("xattr_user_status").unwrap() {
        "0" => "kernel_filtered_total",
        _ => "kernel_failed_total",
    };
    let last = r.records.len() - 1;
    r.records[last]["rand_guard"]["health"][counter]["file_setxattr"] = json!(0);
    let e = only_failure(&r, "file capability set");
    assert!(
        e.starts_with(&format!(
            "health {counter}.file_setxattr is 0, expected 1 (the user.* fsetxattr; \
             the guest's errors: `"
        )),
        "{e}"
    );
}
