//! Privileged end-to-end tests of file telemetry and persistence alerts:
//! real file operations against the real agent, exact records back. Each
//! test works on file names unique to it and matches records by path.

mod common;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::process::Command;

use common::{Agent, about_file, action, final_health, get, privileged, unique};
use nix::fcntl::{AtFlags, OFlag, open, openat};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, unlinkat};
use serde_json::{Value, json};

const CONFIG: &str = "[kernel]\nring_buffer_bytes = 4194304\n";

fn kinds(records: &[&Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| format!("{}:{}", r["record_type"].as_str().unwrap(), action(r)))
        .collect()
}

fn per_kind(health: &Value, counter: &str, kind: &str) -> u64 {
    health[counter][kind].as_u64().unwrap()
}

#[test]
fn quickstart_service_file_gives_events_and_one_alert() {
    if !privileged("quickstart_service_file_gives_events_and_one_alert") {
        return;
    }
    let agent = Agent::start(CONFIG);
    let path = format!("/etc/{}.service", unique("quickstart"));
    let script = format!("printf '# demo\\n' > {path}; rm -f {path}");
    let mut sh = Command::new("/bin/sh")
        .args(["-c", &script])
        .spawn()
        .unwrap();
    let s = sh.id();
    assert!(sh.wait().unwrap().success());
    agent.wait_for("unlink of the quickstart file", |r| {
        action(r) == "unlink" && get(r, "file.path") == path.as_str()
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    let mine = about_file(&records, &path);
    assert_eq!(
        kinds(&mine),
        ["event:open", "alert:open", "event:unlink"],
        "{mine:#?}"
    );
    let (open, alert, unlink) = (mine[0], mine[1], mine[2]);

    assert_eq!(get(open, "event.kind"), "event");
    assert_eq!(get(open, "event.category"), &json!(["file"]));
    assert_eq!(get(open, "event.type"), &json!(["change", "creation"]));
    assert_eq!(get(open, "event.outcome"), "success");
    assert_eq!(get(open, "process.pid"), &json!(s));
    assert_eq!(get(open, "process.executable"), "/bin/sh");
    assert_eq!(
        get(open, "file.name"),
        &json!(path.trim_start_matches("/etc/"))
    );
    assert_eq!(get(open, "file.directory"), "/etc");
    assert_eq!(get(open, "file.mode"), "0666");
    assert_eq!(get(open, "rand_guard.file.syscall"), "openat");
    assert_eq!(
        get(open, "rand_guard.file.open_flags"),
        &json!(["O_WRONLY", "O_CREAT", "O_TRUNC"])
    );
    assert_eq!(get(open, "rand_guard.file.path_source"), "dentry");
    assert!(get(open, "rand_guard.file.result").as_i64().unwrap() >= 0);

    // The alert carries the triggering event's fields and the rule's.
    assert_eq!(alert["record_type"], "alert");
    assert_eq!(get(alert, "event.kind"), "alert");
    assert_eq!(get(alert, "event.sequence"), get(open, "event.sequence"));
    assert_eq!(get(alert, "event.severity"), 73);
    assert_eq!(get(alert, "rule.id"), "rg-persist-systemd-unit");
    assert_eq!(get(alert, "rule.name"), "Systemd unit file written");
    assert_eq!(get(alert, "rule.ruleset"), "builtin");
    assert_eq!(get(alert, "threat.framework"), "MITRE ATT&CK");
    assert_eq!(get(alert, "threat.technique.id"), &json!(["T1543"]));
    assert_eq!(
        get(alert, "threat.technique.subtechnique.id"),
        &json!(["T1543.002"])
    );
    assert_eq!(get(alert, "threat.tactic.name"), &json!(["Persistence"]));
    assert_eq!(get(alert, "rand_guard.alert.severity"), "high");
    assert_eq!(get(alert, "rand_guard.alert.source"), "builtin");
    assert_eq!(
        get(alert, "message"),
        &json!(format!(
            "Systemd unit file written: {path} (open by /bin/sh, pid {s})"
        ))
    );
    let id = get(alert, "event.id").as_str().unwrap();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    for field in ["process", "file", "@timestamp", "user", "host"] {
        assert_eq!(alert[field], open[field], "{field}");
    }
    assert_eq!(
        get(alert, "rand_guard.ancestry"),
        get(open, "rand_guard.ancestry")
    );

    // rm, a child of the shell, removed it, by name.
    assert_eq!(get(unlink, "event.type"), &json!(["deletion"]));
    assert_eq!(get(unlink, "process.name"), "rm");
    assert_eq!(get(unlink, "process.parent.pid"), &json!(s));
    assert_eq!(get(unlink, "rand_guard.file.syscall"), "unlinkat");
    assert_eq!(get(unlink, "rand_guard.file.path_source"), "name");

    // The final health record counts exactly what was written.
    let health = final_health(&records);
    let events = records
        .iter()
        .filter(|r| r["record_type"] == "event")
        .count() as u64;
    let alerts = records
        .iter()
        .filter(|r| r["record_type"] == "alert")
        .count() as u64;
    assert_eq!(health["events_output_total"], events);
    assert_eq!(health["alerts_output_total"], alerts);
    // By the severity each alert record carries, every severity listed.
    let mut by_severity = json!({"low": 0, "medium": 0, "high": 0, "critical": 0});
    for r in records.iter().filter(|r| r["record_type"] == "alert") {
        let severity = get(r, "rand_guard.alert.severity").as_str().unwrap();
        by_severity[severity] = json!(by_severity[severity].as_u64().unwrap() + 1);
    }
    assert_eq!(health["alerts_output_by_severity_total"], by_severity);
    assert_eq!(health["output_failures_total"], 0);
    assert_eq!(health["invalid_schema_total"], 0);
    assert_eq!(
        per_kind(health, "kernel_ringbuf_drops_total", "file_open"),
        0
    );
}

#[test]
fn relative_dirfd_and_dotdot_paths_are_absolute() {
    if !privileged("relative_dirfd_and_dotdot_paths_are_absolute") {
        return;
    }
    let agent = Agent::start(CONFIG);
    let me = std::process::id();

    // Relative to the working directory, by a shell.
    let rel = unique("rel");
    let mut sh = Command::new("/bin/sh")
        .args(["-c", &format!("echo x > {rel}.conf")])
        .current_dir("/etc")
        .spawn()
        .unwrap();
    assert!(sh.wait().unwrap().success());

    // Relative to a directory fd, by this process.
    let etc = open("/etc", OFlag::O_DIRECTORY | OFlag::O_RDONLY, Mode::empty()).unwrap();
    let tmp = open("/tmp", OFlag::O_DIRECTORY | OFlag::O_RDONLY, Mode::empty()).unwrap();
    let dirfd_name = unique("dirfd");
    let fd = openat(
        &etc,
        dirfd_name.as_str(),
        OFlag::O_WRONLY | OFlag::O_CREAT,
        Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    drop(fd);
    unlinkat(&etc, dirfd_name.as_str(), UnlinkatFlags::NoRemoveDir).unwrap();

    // Through "..": an open (resolved by the kernel), an unlink by an
    // absolute name, and an unlink relative to /tmp's fd.
    let dd = unique("dotdot");
    let dotted = format!("/tmp/../etc/{dd}");
    drop(fs::File::create(&dotted).unwrap());
    fs::remove_file(&dotted).unwrap();
    let dd2 = unique("dotdot2");
    drop(fs::File::create(format!("/etc/{dd2}")).unwrap());
    unlinkat(
        &tmp,
        format!("../etc/{dd2}").as_str(),
        UnlinkatFlags::NoRemoveDir,
    )
    .unwrap();
    // "." and "//" are not canonical either: the kernel lets userspace judge.
    let odd = unique("odd");
    drop(fs::File::create(format!("/etc/{odd}")).unwrap());
    fs::rename(format!("//etc/./{odd}"), format!("/etc//{odd}.2")).unwrap();
    fs::remove_file(format!("/etc/{odd}.2")).unwrap();

    let last = format!("/etc/{odd}.2");
    agent.wait_for("the last unlink", |r| {
        action(r) == "unlink" && get(r, "file.path") == last.as_str()
    });
    let (status, records, _) = agent.stop();
    assert!(status.success());
    fs::remove_file(format!("/etc/{rel}.conf")).unwrap();

    let rel_events = about_file(&records, &format!("/etc/{rel}.conf"));
    assert_eq!(kinds(&rel_events), ["event:open"]);
    assert_eq!(get(rel_events[0], "process.executable"), "/bin/sh");

    let d = about_file(&records, &format!("/etc/{dirfd_name}"));
    assert_eq!(kinds(&d), ["event:open", "event:unlink"], "{d:#?}");
    assert_eq!(get(d[0], "process.pid"), &json!(me));
    assert_eq!(get(d[0], "file.mode"), "0600");
    assert_eq!(get(d[1], "rand_guard.file.path_source"), "name");

    let d = about_file(&records, &format!("/etc/{dd}"));
    assert_eq!(kinds(&d), ["event:open", "event:unlink"], "{d:#?}");
    assert_eq!(get(d[0], "rand_guard.file.path_source"), "dentry");
    assert_eq!(get(d[1], "rand_guard.file.path_source"), "name");

    let d = about_file(&records, &format!("/etc/{dd2}"));
    assert_eq!(kinds(&d), ["event:open", "event:unlink"], "{d:#?}");
    assert_eq!(get(d[1], "rand_guard.file.syscall"), "unlinkat");

    let d = about_file(&records, &last);
    assert_eq!(kinds(&d), ["event:rename", "event:unlink"], "{d:#?}");
    let old_name = format!("/etc/{odd}");
    assert_eq!(get(d[0], "rand_guard.file.original_path"), &json!(old_name));
}

#[test]
fn rename_into_cron_d_alerts() {
    if !privileged("rename_into_cron_d_alerts") {
        return;
    }
    fs::create_dir_all("/etc/cron.d").unwrap();
    let agent = Agent::start(CONFIG);
    let name = unique("cron");
    let from = format!("/tmp/{name}");
    let to = format!("/etc/cron.d/{name}");
    fs::write(&from, "* * * * * root /bin/true\n").unwrap();
    let mut mv = Command::new("/bin/mv").args([&from, &to]).spawn().unwrap();
    let m = mv.id();
    assert!(mv.wait().unwrap().success());
    fs::remove_file(&to).unwrap();
    agent.wait_for("unlink of the cron file", |r| {
        action(r) == "unlink" && get(r, "file.path") == to.as_str()
    });
    let (status, records, _) = agent.stop();
    assert!(status.success());

    // Writing it in /tmp was not watched; the rename into cron.d is.
    assert!(about_file(&records, &from).is_empty());
    let mine = about_file(&records, &to);
    assert_eq!(
        kinds(&mine),
        ["event:rename", "alert:rename", "event:unlink"],
        "{mine:#?}"
    );
    let (rename, alert) = (mine[0], mine[1]);
    assert_eq!(get(rename, "rand_guard.file.original_path"), &json!(from));
    assert_eq!(get(rename, "process.pid"), &json!(m));
    assert_eq!(get(rename, "process.executable"), "/bin/mv");
    assert_eq!(get(rename, "event.type"), &json!(["change"]));
    assert!(
        get(rename, "rand_guard.file.syscall")
            .as_str()
            .unwrap()
            .starts_with("rename")
    );
    assert_eq!(get(alert, "rule.id"), "rg-persist-cron");
    assert_eq!(get(alert, "threat.technique.id"), &json!(["T1053"]));
    assert_eq!(
        get(alert, "threat.technique.subtechnique.id"),
        &json!(["T1053.003"])
    );
    assert_eq!(
        get(alert, "message"),
        &json!(format!(
            "Cron job written: {to} (renamed from {from}) (rename by /bin/mv, pid {m})"
        ))
    );
}

#[test]
fn unwatched_and_excluded_paths_are_filtered_in_the_kernel() {
    if !privileged("unwatched_and_excluded_paths_are_filtered_in_the_kernel") {
        return;
    }
    let excluded = format!("/etc/{}", unique("excluded"));
    fs::create_dir_all(&excluded).unwrap();
    // Outside every watched prefix (/tmp is watched for detections).
    let outside = format!("/var/lib/{}", unique("outside"));
    fs::create_dir_all(&outside).unwrap();
    let agent = Agent::start(&format!("{CONFIG}[file]\nexclude = [\"{excluded}\"]\n"));
    const N: usize = 20;
    for i in 0..N {
        fs::write(format!("{excluded}/f{i}"), "x").unwrap();
        fs::write(format!("{outside}/f{i}"), "x").unwrap();
    }
    // A watched write, to know when the agent has caught up.
    let marker = format!("/etc/{}", unique("marker"));
    fs::write(&marker, "x").unwrap();
    agent.wait_for("the marker write", |r| {
        get(r, "file.path") == marker.as_str()
    });
    let (status, records, _) = agent.stop();
    assert!(status.success());
    fs::remove_dir_all(&excluded).unwrap();
    fs::remove_file(&marker).unwrap();
    fs::remove_dir_all(&outside).unwrap();

    for r in &records {
        let p = get(r, "file.path").as_str().unwrap_or("");
        assert!(!p.starts_with(&excluded) && !p.starts_with(&outside), "{r}");
    }
    // 2 N opens were filtered (other processes may add to the count).
    let health = final_health(&records);
    let filtered = per_kind(health, "kernel_filtered_total", "file_open");
    assert!(
        filtered >= 2 * N as u64,
        "kernel_filtered_total.file_open = {filtered}"
    );
}

#[test]
fn failed_operations_are_counted_unless_reported() {
    if !privileged("failed_operations_are_counted_unless_reported") {
        return;
    }
    let missing = format!("/etc/cron.d/{}/job", unique("nodir"));
    for report in [false, true] {
        let agent = Agent::start(&format!("{CONFIG}[file]\nreport_failed = {report}\n"));
        assert!(fs::File::create(&missing).is_err());
        let marker = format!("/etc/{}-{report}", unique("fmarker"));
        fs::write(&marker, "x").unwrap();
        agent.wait_for("the marker write", |r| {
            get(r, "file.path") == marker.as_str()
        });
        let (status, records, _) = agent.stop();
        assert!(status.success());
        fs::remove_file(&marker).unwrap();
        let mine = about_file(&records, &missing);
        let health = final_health(&records);
        let failed = per_kind(health, "kernel_failed_total", "file_open");
        if report {
            // Reported as a failure; a failed write is not persistence.
            assert_eq!(kinds(&mine), ["event:open"], "{mine:#?}");
            assert_eq!(get(mine[0], "event.outcome"), "failure");
            assert_eq!(get(mine[0], "error.code"), "ENOENT");
            assert_eq!(get(mine[0], "rand_guard.file.result"), -2);
            assert_eq!(get(mine[0], "rand_guard.file.path_source"), "name");
        } else {
            assert!(mine.is_empty(), "{mine:#?}");
            assert!(failed >= 1, "kernel_failed_total.file_open = {failed}");
        }
    }
}

#[test]
fn chmod_chown_link_and_symlink() {
    if !privileged("chmod_chown_link_and_symlink") {
        return;
    }
    let agent = Agent::start(CONFIG);
    let file = format!("/etc/{}", unique("attr"));
    let link = format!("/etc/{}", unique("hardlink"));
    let sym = format!("/etc/{}", unique("symlink"));
    fs::write(&file, "x").unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(&file, Some(0), Some(4)).unwrap();
    fs::hard_link(&file, &link).unwrap();
    symlink("/tmp/rg-test-target", &sym).unwrap();
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        sym.as_str(),
        Some(nix::unistd::Uid::from_raw(0)),
        None,
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .unwrap();
    for p in [&file, &link, &sym] {
        fs::remove_file(p).unwrap();
    }
    agent.wait_for("the symlink's unlink", |r| {
        action(r) == "unlink" && get(r, "file.path") == sym.as_str()
    });
    let (status, records, _) = agent.stop();
    assert!(status.success());

    let f = about_file(&records, &file);
    assert_eq!(
        kinds(&f),
        ["event:open", "event:chmod", "event:chown", "event:unlink"],
        "{f:#?}"
    );
    assert_eq!(get(f[1], "file.mode"), "0640");
    assert_eq!(get(f[2], "file.uid"), "0");
    assert_eq!(get(f[2], "file.gid"), "4");

    let l = about_file(&records, &link);
    assert_eq!(kinds(&l), ["event:link", "event:unlink"], "{l:#?}");
    assert_eq!(get(l[0], "file.target_path"), &json!(file));
    assert_eq!(get(l[0], "event.type"), &json!(["creation"]));

    let s = about_file(&records, &sym);
    assert_eq!(
        kinds(&s),
        ["event:symlink", "event:chown", "event:unlink"],
        "{s:#?}"
    );
    assert_eq!(get(s[0], "file.target_path"), "/tmp/rg-test-target");
    assert_eq!(get(s[1], "file.uid"), "0");
    assert!(
        s[1]["file"].get("gid").is_none(),
        "unchanged group is left out"
    );
    assert_eq!(get(s[1], "rand_guard.file.at_flags"), 0x100); // AT_SYMLINK_NOFOLLOW
}

/// Mounts made by a test, unmounted (lazily) in reverse order on drop.
struct Mounts(Vec<String>);

impl Mounts {
    fn run(&mut self, args: &[&str], target: &str) {
        let st = Command::new("mount")
            .args(args)
            .arg(target)
            .status()
            .unwrap();
        assert!(st.success(), "mount {args:?} {target}: {st}");
        self.0.push(target.to_string());
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        for m in self.0.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
    }
}

/// The dentry walk crosses mount points (a tmpfs, a bind mount, a mount on
/// a mount): a write below them is reported with its whole path when that
/// is watched and filtered when it is not, whichever file system the
/// leaf is on.
#[test]
fn writes_across_mount_points_resolve_and_filter() {
    if !privileged("writes_across_mount_points_resolve_and_filter") {
        return;
    }
    let watched = format!("/etc/{}", unique("mnt"));
    let outside = format!("/var/lib/{}", unique("mnt-outside"));
    let bound = format!("{watched}/bound");
    let nested = format!("{watched}/nested");
    let mut mounts = Mounts(Vec::new());
    fs::create_dir_all(&watched).unwrap();
    fs::create_dir_all(&outside).unwrap();
    // A tmpfs in a watched directory, a tmpfs on a directory of that
    // tmpfs, and a bind mount of an unwatched directory into it.
    mounts.run(&["-t", "tmpfs", "-o", "size=1m", "rg-test-mnt"], &watched);
    fs::create_dir_all(&nested).unwrap();
    mounts.run(&["-t", "tmpfs", "-o", "size=1m", "rg-test-mnt2"], &nested);
    fs::create_dir_all(&bound).unwrap();
    mounts.run(&["--bind", &outside], &bound);
    fs::create_dir_all(format!("{nested}/d")).unwrap();

    let agent = Agent::start(CONFIG);
    let in_tmpfs = format!("{watched}/a");
    let in_nested = format!("{nested}/d/b");
    let in_bound = format!("{bound}/c");
    let via_outside = format!("{outside}/e");
    for p in [&in_tmpfs, &in_nested, &in_bound, &via_outside] {
        fs::write(p, "x").unwrap();
    }
    for p in [&in_tmpfs, &in_nested, &in_bound] {
        agent.wait_for(&format!("the write of {p}"), |r| {
            action(r) == "open" && get(r, "file.path") == p.as_str()
        });
    }
    // A watched write after the unwatched one, to know the agent has seen it.
    let marker = format!("/etc/{}", unique("mnt-marker"));
    fs::write(&marker, "x").unwrap();
    agent.wait_for("the marker write", |r| {
        get(r, "file.path") == marker.as_str()
    });
    let (status, records, _) = agent.stop();
    assert!(status.success());
    drop(mounts);
    fs::remove_file(&marker).unwrap();
    fs::remove_dir_all(&watched).unwrap();
    fs::remove_dir_all(&outside).unwrap();

    // The same file through the unwatched path: filtered.
    for r in &records {
        let p = get(r, "file.path").as_str().unwrap_or("");
        assert!(!p.starts_with(&outside), "{r}");
    }
}

#[test]
fn authorized_keys_of_an_account_outside_the_prefixes_alert() {
    if !privileged("authorized_keys_of_an_account_outside_the_prefixes_alert") {
        return;
    }
    // A service account whose home no [file] prefix covers (/var/lib is
    // not watched): the agent reads its home from the password database
    // (a planted one: the host's accounts stay as they are).
    let home = format!("/var/lib/{}", unique("svc-home"));
    let ssh = format!("{home}/.ssh");
    fs::create_dir_all(&ssh).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    fs::write(
        &passwd,
        format!("root:x:0:0:root:/root:/bin/bash\nsvc:x:990:990:svc:{home}:/usr/sbin/nologin\n"),
    )
    .unwrap();
    let agent = Agent::start_with_env(
        CONFIG,
        &[("RAND_GUARD_DEBUG_PASSWD", passwd.to_str().unwrap())],
    );
    let keys = format!("{ssh}/authorized_keys");
    let other = format!("{home}/notes");
    let mut sh = Command::new("/bin/sh")
        .args([
            "-c",
            "echo 'ssh-ed25519 AAAAC3Nza test' > \"$1\"; echo x > \"$2\"",
            "sh",
            &keys,
            &other,
        ])
        .spawn()
        .unwrap();
    let pid = sh.id();
    assert!(sh.wait().unwrap().success());
    agent.wait_for("the authorized_keys alert", |r| {
        r["record_type"] == "alert" && get(r, "file.path") == keys.as_str()
    });
    let (status, records, _) = agent.stop();
    fs::remove_dir_all(&home).unwrap();
    assert!(status.success());

    // Watched for the detection only: the alert, no event record; the
    // rest of the home stays unwatched.
    let mine = about_file(&records, &keys);
    assert_eq!(kinds(&mine), ["alert:open"], "{mine:#?}");
    let alert = mine[0];
    assert_eq!(get(alert, "rule.id"), "rg-persist-ssh-authorized-keys");
    assert_eq!(get(alert, "event.severity"), &json!(73));
    assert_eq!(get(alert, "threat.technique.id"), &json!(["T1098"]));
    assert_eq!(
        get(alert, "threat.technique.subtechnique.id"),
        &json!(["T1098.004"])
    );
    assert_eq!(get(alert, "process.pid"), &json!(pid));
    assert!(about_file(&records, &other).is_empty());
}

/// Unlinks argv[1] by a path that is readable when the syscall starts and
/// unmapped before it ends, then prints the unlinking thread's id.
///
/// A writer thread holds the file's inode lock: its write(2) faults on a
/// source page registered with a userfaultfd that nobody serves. The
/// unlink copies its path (alone on an anonymous page) in at entry, then
/// blocks on that lock in vfs_unlink. The main thread unmaps the path's
/// page and closes the userfaultfd (the fault is then served as a zero
/// page): the write, then the unlink, complete, and at the unlink's exit
/// its path string is no longer there to read.
const UNMAPPED_PATH_UNLINK_PY: &str = r#"
import ctypes, os, sys, threading, time

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
libc.unlinkat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.write.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
libc.write.restype = ctypes.c_ssize_t

PAGE = os.sysconf('SC_PAGE_SIZE')
SYS_userfaultfd, SYS_write, SYS_unlinkat = 323, 1, 263  # x86-64
UFFDIO_API, UFFDIO_REGISTER, UFFDIO_REGISTER_MODE_MISSING = 0xC018AA3F, 0xC020AA00, 1
AT_FDCWD = -100

def page():
    a = libc.mmap(None, PAGE, 3, 0x22, -1, 0)  # PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
    assert a and a != ctypes.c_void_p(-1).value, ctypes.get_errno()
    return a

target = sys.argv[1]
src = page()
uffd = libc.syscall(SYS_userfaultfd, os.O_CLOEXEC)
assert uffd >= 0, ctypes.get_errno()
assert libc.ioctl(uffd, UFFDIO_API, (ctypes.c_uint64 * 3)(0xAA, 0, 0)) == 0
reg = (ctypes.c_uint64 * 4)(src, PAGE, UFFDIO_REGISTER_MODE_MISSING, 0)
assert libc.ioctl(uffd, UFFDIO_REGISTER, reg) == 0, ctypes.get_errno()
name = page()
ctypes.memmove(name, target.encode() + b'\0', len(target) + 1)
fd = os.open(target, os.O_WRONLY)

tids, results = {}, {}

def writer():
    tids['write'] = threading.get_native_id()
    results['write'] = libc.write(fd, src, 16)

def unlinker():
    tids['unlink'] = threading.get_native_id()
    r = libc.unlinkat(AT_FDCWD, name, 0)
    results['unlink'] = (r, ctypes.get_errno())

def blocked(what, nr, states):
    # In the syscall (past its entry: asleep in it), for up to 5 s.
    for _ in range(1000):
        tid = tids.get(what)
        if tid:
            base = '/proc/self/task/%d/' % tid
            with open(base + 'syscall') as f:
                in_nr = f.read().split()[0]
            with open(base + 'stat') as f:
                state = f.read().rsplit(')', 1)[1].split()[0]
            if in_nr == str(nr) and state in states:
                return
        time.sleep(0.005)
    sys.exit('%s never blocked' % what)

w = threading.Thread(target=writer)
w.start()
blocked('write', SYS_write, 'S')
u = threading.Thread(target=unlinker)
u.start()
blocked('unlink', SYS_unlinkat, 'D')
assert libc.munmap(name, PAGE) == 0
os.close(uffd)
w.join()
u.join()
assert results == {'write': 16, 'unlink': (0, 0)}, results
assert not os.path.exists(target)
print(tids['unlink'], flush=True)
"#;

/// A path string that cannot be read at the syscall's exit (here: its
/// page unmapped by a sibling thread while the unlink was blocked) is
/// reported, flagged `path_unreadable`, and counted: it used to be judged
/// as the working directory ("/", unwatched) and dropped in the kernel,
/// so a process could hide the unlink of a watched file.
#[test]
fn unreadable_path_at_exit_is_reported_and_counted() {
    if !privileged("unreadable_path_at_exit_is_reported_and_counted") {
        return;
    }
    if !cfg!(target_arch = "x86_64") {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED unreadable_path_at_exit_is_reported_and_counted: its script has x86-64 syscall numbers"
        );
        return;
    }
    let agent = Agent::start(CONFIG);
    let victim = format!("/etc/{}", unique("unmapped"));
    fs::write(&victim, "x").unwrap();
    let py = Command::new("/usr/bin/python3")
        .args(["-c", UNMAPPED_PATH_UNLINK_PY, &victim])
        .current_dir("/")
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let tid: u64 = String::from_utf8(py.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // A watched write after it, to know the agent has seen it.
    let marker = format!("/etc/{}", unique("unmapped-marker"));
    fs::write(&marker, "x").unwrap();
    agent.wait_for("the marker write", |r| {
        get(r, "file.path") == marker.as_str()
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    fs::remove_file(&marker).unwrap();

    let unlinks: Vec<&Value> = records
        .iter()
        .filter(|r| action(r) == "unlink" && get(r, "process.thread.id") == &json!(tid))
        .collect();
    assert_eq!(unlinks.len(), 1, "{unlinks:#?}");
    let u = unlinks[0];
    assert_eq!(get(u, "record_type"), "event");
    assert_eq!(get(u, "event.outcome"), "success");
    assert_eq!(get(u, "process.executable"), "/usr/bin/python3");
    assert_eq!(get(u, "rand_guard.file.syscall"), "unlinkat");
    assert_eq!(get(u, "rand_guard.file.result"), 0);
    assert_eq!(get(u, "rand_guard.file.path_source"), "name");
    assert_eq!(get(u, "rand_guard.truncated"), &json!(["path_unreadable"]));
    // Nothing to show: not the working directory, which it is not.
    assert_eq!(get(u, "file.path"), "");
    let health = final_health(&records);
    assert_eq!(
        per_kind(health, "kernel_path_unreadable_total", "file_unlink"),
        1
    );
}
