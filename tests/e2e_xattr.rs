//! Privileged end-to-end test of the extended-attribute hooks: every
//! syscall of the setxattr and removexattr families against the real agent,
//! the exact records back. `security.capability` is reported wherever the
//! file is; other security.*, trusted.* and system.* attributes only under
//! a watched prefix. Matched by this
//! test's unique paths. `user.*` attributes are not reported at all.

mod common;

use std::ffi::CString;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::symlink;

use common::scenario::Cleanup;
use common::{Agent, about_file, action, get, privileged, unique};
use serde_json::{Value, json};

const CONFIG: &str = "[kernel]\nring_buffer_bytes = 4194304\n";

/// setxattrat and removexattrat (Linux 6.13): numbered alike on every
/// architecture; the libc crate has no names for them yet.
const SYS_SETXATTRAT: libc::c_long = 463;
const SYS_REMOVEXATTRAT: libc::c_long = 466;
const AT_FDCWD: libc::c_int = -100;

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// Run one xattr call; panics with the errno when it fails.
fn ok(what: &str, r: libc::c_long) {
    assert_eq!(r, 0, "{what}: {}", std::io::Error::last_os_error());
}

fn set(path: &str, name: &str, value: &[u8]) {
    let (p, n) = (c(path), c(name));
    let r = unsafe {
        libc::setxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    ok(&format!("setxattr {path} {name}"), r.into());
}

/// (action, syscall, attribute name, value size) of each xattr record.
fn xattrs(records: &[&Value]) -> Vec<(String, String, String, Option<u64>)> {
    records
        .iter()
        .filter(|r| r["record_type"] == "event" && action(r).ends_with("xattr"))
        .map(|r| {
            (
                action(r).to_string(),
                get(r, "rand_guard.file.syscall")
                    .as_str()
                    .unwrap()
                    .to_string(),
                get(r, "rand_guard.file.xattr.name")
                    .as_str()
                    .unwrap()
                    .to_string(),
                get(r, "rand_guard.file.xattr.size").as_u64(),
            )
        })
        .collect()
}

fn row(a: &str, sys: &str, name: &str, size: Option<u64>) -> (String, String, String, Option<u64>) {
    (a.into(), sys.into(), name.into(), size)
}

#[test]
fn every_xattr_syscall_is_reported_and_capabilities_everywhere() {
    if !privileged("every_xattr_syscall_is_reported_and_capabilities_everywhere") {
        return;
    }
    let watched = format!("/etc/{}", unique("xattr"));
    let link = format!("/etc/{}", unique("xattr-link"));
    let outside_dir = format!("/var/lib/{}", unique("xattr"));
    let outside = format!("{outside_dir}/f");
    let _guard = Cleanup(vec![watched.clone(), link.clone(), outside_dir.clone()]);
    fs::create_dir_all(&outside_dir).unwrap();
    fs::write(&outside, "x").unwrap();
    let agent = Agent::start(CONFIG);
    fs::write(&watched, "x").unwrap();
    symlink(&watched, &link).unwrap();
    let f = fs::File::open(&watched).unwrap();
    let fd = f.as_raw_fd();

    // The six classic calls and the two of 6.13, on a watched file.
    set(&watched, "trusted.a", b"1");
    // user.* is application data: not reported, even on a watched file.
    set(&watched, "user.skip", b"1");
    let (b, v) = (c("trusted.b"), b"22");
    ok(
        "fsetxattr",
        unsafe { libc::fsetxattr(fd, b.as_ptr(), v.as_ptr().cast(), v.len(), 0) }.into(),
    );
    // xattr_args: the value's address, its size, the flags.
    let value = b"333";
    let args: [u64; 2] = [value.as_ptr() as u64, value.len() as u64];
    let (p, n) = (c(&watched), c("trusted.c"));
    let r = unsafe {
        libc::syscall(
            SYS_SETXATTRAT,
            AT_FDCWD,
            p.as_ptr(),
            0,
            n.as_ptr(),
            args.as_ptr(),
            16usize,
        )
    };
    // A kernel before 6.13 has no setxattrat: those two rows go.
    let at = !(r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS));
    if at {
        ok("setxattrat", r);
    }
    // A symlink's own attribute.
    let (l, t, v) = (c(&link), c("trusted.rg"), b"4444");
    ok(
        "lsetxattr",
        unsafe { libc::lsetxattr(l.as_ptr(), t.as_ptr(), v.as_ptr().cast(), v.len(), 0) }.into(),
    );
    let a = c("trusted.a");
    ok(
        "removexattr",
        unsafe { libc::removexattr(p.as_ptr(), a.as_ptr()) }.into(),
    );
    ok(
        "fremovexattr",
        unsafe { libc::fremovexattr(fd, b.as_ptr()) }.into(),
    );
    if at {
        ok("removexattrat", unsafe {
            libc::syscall(SYS_REMOVEXATTRAT, AT_FDCWD, p.as_ptr(), 0, n.as_ptr())
        });
    }
    ok(
        "lremovexattr",
        unsafe { libc::lremovexattr(l.as_ptr(), t.as_ptr()) }.into(),
    );
    // A failed call: not reported (counted).
    let missing = c(&format!("{watched}-missing"));
    assert_eq!(
        unsafe { libc::setxattr(missing.as_ptr(), a.as_ptr(), v.as_ptr().cast(), 1, 0) },
        -1
    );

    // Outside the watched prefixes: a user attribute is filtered, a file
    // capability is not (revision 2, cap_net_raw, not effective).
    set(&outside, "user.x", b"1");
    set(&outside, "trusted.out", b"1");
    let caps: Vec<u8> = [0x0200_0000u32, 1 << 13, 0, 0, 0]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    set(&outside, "security.capability", &caps);
    let (o, sc) = (c(&outside), c("security.capability"));
    ok(
        "removexattr",
        unsafe { libc::removexattr(o.as_ptr(), sc.as_ptr()) }.into(),
    );
    agent.wait_for("the capability's removal", |r| {
        action(r) == "removexattr" && get(r, "file.path") == outside.as_str()
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    let mut expected = vec![
        row("setxattr", "setxattr", "trusted.a", Some(1)),
        row("setxattr", "fsetxattr", "trusted.b", Some(2)),
        row("setxattr", "setxattrat", "trusted.c", Some(3)),
        row("removexattr", "removexattr", "trusted.a", None),
        row("removexattr", "fremovexattr", "trusted.b", None),
        row("removexattr", "removexattrat", "trusted.c", None),
    ];
    if !at {
        expected.retain(|r| !r.1.ends_with("at"));
    }
    assert_eq!(xattrs(&about_file(&records, &watched)), expected);
    assert_eq!(
        xattrs(&about_file(&records, &link)),
        [
            row("setxattr", "lsetxattr", "trusted.rg", Some(4)),
            row("removexattr", "lremovexattr", "trusted.rg", None),
        ]
    );
    let out = about_file(&records, &outside);
    assert_eq!(
        xattrs(&out),
        [
            row("setxattr", "setxattr", "security.capability", Some(20)),
            row("removexattr", "removexattr", "security.capability", None),
        ]
    );
    let set_caps = out
        .iter()
        .find(|r| r["record_type"] == "event" && action(r) == "setxattr")
        .unwrap();
    assert_eq!(
        get(set_caps, "rand_guard.file.xattr.capabilities"),
        &json!({"permitted": ["cap_net_raw"], "inheritable": [], "effective": false})
    );
    assert_eq!(get(set_caps, "event.type"), &json!(["change"]));
    assert_eq!(get(set_caps, "process.pid"), std::process::id());
    // The capability alerts (medium: cap_net_raw is not root's); its
    // removal does not.
    let alerts: Vec<(u64, &str)> = out
        .iter()
        .filter(|r| r["record_type"] == "alert")
        .map(|r| {
            (
                get(r, "event.severity").as_u64().unwrap(),
                get(r, "rule.id").as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(alerts, [(47, "rg-perm-file-capability")]);
    assert!(
        about_file(&records, &format!("{watched}-missing")).is_empty(),
        "a failed setxattr is not reported"
    );
}
