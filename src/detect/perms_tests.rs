//! Permission and attribute tampering: each rule on its case, its message
//! and severity, and the near misses (a mode without the bits, a path
//! outside the system's, a package doing it, logrotate's truncation).

use super::context_tests::{apt_dpkg_postinst, detector, image, root, run};
use super::*;
use std::sync::Arc;

use crate::model::event::{Body, CAP_XATTR, FileCaps, FileOp, Xattr};
use crate::model::proctable::Process;
use crate::testkit::{exec, file, file_with, process};

fn chmod(ms: u64, pid: u32, exe: &str, path: &str, mode: u32) -> Event {
    let p = process(pid, exe, &["chmod"], None);
    file_with(ms, &p, FileOp::Chmod, path, |b| b.mode = Some(mode))
}

/// (id, severity, message) of what `ev` raises.
fn hits(d: &mut Detector, ev: &Event) -> Vec<(String, Severity, String)> {
    run(d, ev)
        .into_iter()
        .map(|a| (a.rule.id.clone(), a.rule.severity, a.message))
        .collect()
}

fn one(id: &str, severity: Severity, message: &str) -> Vec<(String, Severity, String)> {
    vec![(id.to_string(), severity, message.to_string())]
}

#[test]
fn setuid_setgid_and_world_writable_chmods() {
    let mut d = detector();
    assert_eq!(
        hits(&mut d, &chmod(0, 500, "/usr/bin/chmod", "/tmp/sh", 0o4755)),
        one(
            "rg-perm-setuid",
            Severity::High,
            "setuid bit set on /tmp/sh (mode 4755) by /usr/bin/chmod"
        )
    );
    assert_eq!(
        hits(
            &mut d,
            &chmod(1, 501, "/usr/bin/chmod", "/home/ann/x", 0o2755)
        ),
        one(
            "rg-perm-setuid",
            Severity::Medium,
            "setgid bit set on /home/ann/x (mode 2755) by /usr/bin/chmod"
        )
    );
    assert_eq!(
        hits(
            &mut d,
            &chmod(2, 502, "/usr/bin/chmod", "/usr/lib/x.so", 0o666)
        ),
        one(
            "rg-perm-world-writable",
            Severity::Medium,
            "/usr/lib/x.so made world-writable (mode 666) by /usr/bin/chmod"
        )
    );
    // Near misses: no special bit, world-writable outside system paths,
    // a failed chmod.
    assert!(
        hits(
            &mut d,
            &chmod(3, 503, "/usr/bin/chmod", "/usr/local/bin/t", 0o755)
        )
        .is_empty()
    );
    assert!(
        hits(
            &mut d,
            &chmod(4, 504, "/usr/bin/chmod", "/tmp/shared", 0o1777)
        )
        .is_empty()
    );
    assert!(
        hits(
            &mut d,
            &chmod(5, 505, "/usr/bin/chmod", "/etcetera/x", 0o777)
        )
        .is_empty()
    );
    let mut failed = chmod(6, 506, "/usr/bin/chmod", "/usr/bin/su", 0o4755);
    if let Body::File(f) = &mut failed.body {
        f.result = -1;
    }
    assert!(hits(&mut d, &failed).is_empty());
}

#[test]
fn a_package_setting_setuid_is_low() {
    let mut d = detector();
    let (apt, dpkg, postinst) = apt_dpkg_postinst();
    for p in [&apt, &dpkg, &postinst] {
        assert!(run(&mut d, &exec(0, p)).is_empty());
    }
    let ev = file_with(1, &dpkg, FileOp::Chmod, "/usr/bin/at", |b| {
        b.mode = Some(0o6755)
    });
    let a = run(&mut d, &ev);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].rule.id, "rg-perm-setuid");
    assert_eq!(a[0].rule.severity, Severity::Low);
}

#[test]
fn chattr_clearing_immutable_or_append_only() {
    let mut d = detector();
    let chattr = |pid, exe: &str, args: &[&str]| exec(0, &root(process(pid, exe, args, None)));
    assert_eq!(
        hits(
            &mut d,
            &chattr(510, "/usr/bin/chattr", &["chattr", "-i", "/etc/passwd"])
        ),
        one(
            "rg-perm-immutable-cleared",
            Severity::High,
            "/usr/bin/chattr -i run by pid 510: -i /etc/passwd"
        )
    );
    assert_eq!(
        hits(
            &mut d,
            &chattr(511, "/usr/bin/chattr", &["chattr", "-R", "-ai", "/var/log"])
        )[0]
        .2,
        "/usr/bin/chattr -ai run by pid 511: -R -ai /var/log"
    );
    // A renamed link to chattr is chattr.
    let linked = image(
        &process(512, "/tmp/c", &[], None),
        "/tmp/c",
        "/usr/bin/chattr",
        &["c", "-i", "/x"],
    );
    assert_eq!(hits(&mut d, &exec(0, &linked)).len(), 1);
    // Near misses: setting flags, options alone, another program.
    assert!(
        hits(
            &mut d,
            &chattr(513, "/usr/bin/chattr", &["chattr", "+i", "/x"])
        )
        .is_empty()
    );
    assert!(
        hits(
            &mut d,
            &chattr(514, "/usr/bin/chattr", &["chattr", "-R", "-V", "+a", "/x"])
        )
        .is_empty()
    );
    assert!(
        hits(
            &mut d,
            &chattr(515, "/usr/bin/lsattr", &["lsattr", "-a", "/x"])
        )
        .is_empty()
    );
}

#[test]
fn logs_and_history_destroyed() {
    let mut d = detector();
    let shred = |pid, args: &[&str]| exec(0, &process(pid, "/usr/bin/shred", args, None));
    assert_eq!(
        hits(
            &mut d,
            &shred(520, &["shred", "-u", "-z", "/var/log/auth.log"])
        ),
        one(
            "rg-log-wipe",
            Severity::High,
            "secure deletion (shred) by pid 520: shred -u -z /var/log/auth.log"
        )
    );
    assert_eq!(
        hits(&mut d, &shred(521, &["shred", "-u", "/tmp/payload"]))[0].1,
        Severity::Medium
    );
    let truncate = process(
        522,
        "/usr/bin/truncate",
        &["truncate", "-s0", "/var/log/syslog"],
        None,
    );
    assert_eq!(
        hits(&mut d, &exec(0, &truncate))[0].2,
        "truncation of a log or history file by pid 522: truncate -s0 /var/log/syslog"
    );
    let sh = process(523, "/usr/bin/bash", &["bash"], None);
    let trunc = |path: &str, p: &Arc<crate::model::proctable::Process>| {
        file_with(0, p, FileOp::Open, path, |b| b.open_flags = 0o1 | 0o1000)
    };
    assert_eq!(
        hits(&mut d, &trunc("/root/.bash_history", &sh)),
        one(
            "rg-log-wipe",
            Severity::High,
            "/root/.bash_history truncated (opened with O_TRUNC) by /usr/bin/bash"
        )
    );
    assert_eq!(
        hits(
            &mut d,
            &file(0, &sh, FileOp::Unlink, "/home/ann/.zsh_history")
        )[0]
        .2,
        "/home/ann/.zsh_history deleted by /usr/bin/bash"
    );
    assert_eq!(
        hits(
            &mut d,
            &file(0, &sh, FileOp::Symlink, "/root/.bash_history")
        )[0]
        .2,
        "/root/.bash_history replaced by a symbolic link by /usr/bin/bash"
    );
    // Near misses: logrotate's copytruncate, an append, a truncate of
    // another file, a history file rewritten by a rename (bash's own
    // histappend does not truncate), truncate on another file.
    let logrotate = root(process(524, "/usr/sbin/logrotate", &["logrotate"], None));
    assert!(hits(&mut d, &trunc("/var/log/syslog", &logrotate)).is_empty());
    let append = file_with(0, &sh, FileOp::Open, "/var/log/x.log", |b| {
        b.open_flags = 0o1 | 0o2000
    });
    assert!(hits(&mut d, &append).is_empty());
    assert!(hits(&mut d, &trunc("/home/ann/notes.txt", &sh)).is_empty());
    assert!(
        hits(
            &mut d,
            &file(0, &logrotate, FileOp::Unlink, "/var/log/old.4.gz")
        )
        .is_empty()
    );
    let journald = root(process(
        528,
        "/usr/lib/systemd/systemd-journald",
        &["systemd-journald"],
        None,
    ));
    assert!(
        hits(
            &mut d,
            &file(
                0,
                &journald,
                FileOp::Unlink,
                "/var/log/journal/m/system@1.journal"
            )
        )
        .is_empty()
    );
    assert!(hits(&mut d, &trunc("/var/mail/ann/x", &sh)).is_empty());
    assert_eq!(
        hits(&mut d, &file(0, &sh, FileOp::Symlink, "/root/notes.txt")),
        vec![]
    );
    let t = process(
        525,
        "/usr/bin/truncate",
        &["truncate", "-s0", "/tmp/f"],
        None,
    );
    assert!(hits(&mut d, &exec(0, &t)).is_empty());
    // A log deleted (rm, unlink, find -delete): by anything but the
    // programs that rotate or expire logs. A mailbox overwritten.
    assert_eq!(
        hits(
            &mut d,
            &file(0, &sh, FileOp::Unlink, "/var/log/syslog.2.gz")
        ),
        one(
            "rg-log-wipe",
            Severity::High,
            "/var/log/syslog.2.gz deleted by /usr/bin/bash"
        )
    );
    assert_eq!(
        hits(&mut d, &trunc("/var/spool/mail/root", &sh)),
        one(
            "rg-log-wipe",
            Severity::High,
            "/var/spool/mail/root truncated (opened with O_TRUNC) by /usr/bin/bash"
        )
    );
    // A REPL rewriting its own history at exit: python's readline, less.
    let py = process(526, "/usr/bin/python3.11", &["python3"], None);
    assert!(hits(&mut d, &trunc("/home/ann/.python_history", &py)).is_empty());
    let less = process(527, "/usr/bin/less", &["less", "x"], None);
    assert!(hits(&mut d, &trunc("/root/.lesshst", &less)).is_empty());
    // ... but not another program truncating it, nor python another's.
    assert_eq!(
        hits(&mut d, &trunc("/home/ann/.python_history", &sh))[0].1,
        Severity::High
    );
    assert_eq!(
        hits(&mut d, &trunc("/root/.bash_history", &py))[0].1,
        Severity::High
    );
}

/// A setxattr of `name` with `value` on `path` by `exe`, as root.
fn setxattr(ms: u64, pid: u32, exe: &str, path: &str, name: &str, value: &[u8]) -> Event {
    let p = root(process(pid, exe, &[exe], None));
    xattr_by(ms, &p, FileOp::SetXattr, path, name, value)
}

fn xattr_by(ms: u64, p: &Arc<Process>, op: FileOp, path: &str, name: &str, value: &[u8]) -> Event {
    file_with(ms, p, op, path, |b| {
        b.xattr = Some(Xattr {
            name: name.into(),
            size: (op == FileOp::SetXattr).then_some(value.len() as u32),
            caps: (op == FileOp::SetXattr && name == CAP_XATTR)
                .then(|| FileCaps::parse(value))
                .flatten(),
        })
    })
}

/// A revision-2 capability value: permitted = inheritable-free `set`.
fn caps_v2(set: u64, effective: bool) -> Vec<u8> {
    let mut v = (0x0200_0000u32 | u32::from(effective))
        .to_le_bytes()
        .to_vec();
    for half in [set as u32, (set >> 32) as u32] {
        v.extend(half.to_le_bytes());
        v.extend(0u32.to_le_bytes());
    }
    v
}

#[test]
fn file_capabilities_set_by_any_program() {
    let mut d = detector();
    const SETUID: u64 = 1 << 7;
    const NET_BIND: u64 = 1 << 10;
    assert_eq!(
        hits(
            &mut d,
            &setxattr(
                0,
                530,
                "/usr/sbin/setcap",
                "/tmp/py",
                CAP_XATTR,
                &caps_v2(SETUID, true)
            )
        ),
        one(
            "rg-perm-file-capability",
            Severity::High,
            "file capabilities cap_setuid=ep set on /tmp/py by /usr/sbin/setcap"
        )
    );
    // Not setcap: Python's os.setxattr, the same write.
    let py = setxattr(
        0,
        531,
        "/usr/bin/python3.11",
        "/tmp/x",
        CAP_XATTR,
        &caps_v2(SETUID | 1 << 21, false),
    );
    let a = run(&mut d, &py);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].rule.severity, Severity::High);
    assert_eq!(
        a[0].message,
        "file capabilities cap_setuid,cap_sys_admin=p set on /tmp/x by /usr/bin/python3.11"
    );
    assert_eq!(
        a[0].reasons[0],
        "cap_setuid, cap_sys_admin amount to root or the means to it"
    );
    assert_eq!(
        hits(
            &mut d,
            &setxattr(
                0,
                532,
                "/usr/sbin/setcap",
                "/opt/web",
                CAP_XATTR,
                &caps_v2(NET_BIND, true)
            )
        ),
        one(
            "rg-perm-file-capability",
            Severity::Medium,
            "file capabilities cap_net_bind_service=ep set on /opt/web by /usr/sbin/setcap"
        )
    );
    // Revision 3, in a user namespace whose root is uid 100000.
    let mut v3 = caps_v2(SETUID, true);
    v3[3] = 3;
    v3.extend(100_000u32.to_le_bytes());
    let a = run(
        &mut d,
        &setxattr(0, 533, "/usr/sbin/setcap", "/srv/c/x", CAP_XATTR, &v3),
    );
    assert_eq!(a.len(), 1);
    assert_eq!(
        a[0].reasons[1],
        "for the user namespace whose root is uid 100000 (a container's)"
    );
    // Near misses: a removal, an empty set, another attribute, a value
    // that is no capability set, a failed write.
    let p = root(process(
        534,
        "/usr/sbin/setcap",
        &["setcap", "-r", "/tmp/x"],
        None,
    ));
    assert!(
        hits(
            &mut d,
            &xattr_by(0, &p, FileOp::RemoveXattr, "/tmp/x", CAP_XATTR, &[])
        )
        .is_empty()
    );
    assert!(
        hits(
            &mut d,
            &setxattr(
                0,
                535,
                "/usr/sbin/setcap",
                "/tmp/x",
                CAP_XATTR,
                &caps_v2(0, false)
            )
        )
        .is_empty()
    );
    assert!(
        hits(
            &mut d,
            &setxattr(
                0,
                536,
                "/usr/bin/setfattr",
                "/tmp/x",
                "user.note",
                &caps_v2(SETUID, true)
            )
        )
        .is_empty()
    );
    assert!(
        hits(
            &mut d,
            &setxattr(0, 537, "/usr/bin/setfattr", "/tmp/x", CAP_XATTR, b"junk")
        )
        .is_empty()
    );
    let mut failed = setxattr(
        0,
        538,
        "/usr/sbin/setcap",
        "/tmp/x",
        CAP_XATTR,
        &caps_v2(SETUID, true),
    );
    if let Body::File(f) = &mut failed.body {
        f.result = -1;
    }
    assert!(hits(&mut d, &failed).is_empty());
    // The setcap program's exec itself is not the finding (its write is).
    let exec_only = exec(
        0,
        &root(process(
            539,
            "/usr/sbin/setcap",
            &["setcap", "cap_setuid+ep", "/tmp/x"],
            None,
        )),
    );
    assert!(hits(&mut d, &exec_only).is_empty());
    // podman unpacking an image layer (storage-untar, a re-exec of the
    // engine chrooted into the layer): low, saying why.
    let mut untar = (*root(process(
        541,
        "/usr/bin/podman",
        &[
            "storage-untar",
            "/",
            "/var/lib/containers/storage/overlay/0a5e/diff",
        ],
        None,
    )))
    .clone();
    let mut image = (*untar.image).clone();
    image.executable = "/proc/self/exe".into();
    untar.image = Arc::new(image);
    let untar = Arc::new(untar);
    let a = run(
        &mut d,
        &xattr_by(
            0,
            &untar,
            FileOp::SetXattr,
            "/usr/bin/newuidmap",
            CAP_XATTR,
            &caps_v2(SETUID, true),
        ),
    );
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].rule.severity, Severity::Low);
    assert_eq!(
        a[0].reasons[1],
        "written by a container engine (/usr/bin/podman) unpacking an image: low"
    );
    // A package giving ping its capability: low.
    let (apt, dpkg, postinst) = apt_dpkg_postinst();
    for p in [&apt, &dpkg, &postinst] {
        run(&mut d, &exec(0, p));
    }
    let ping = root(process(
        540,
        "/usr/sbin/setcap",
        &["setcap", "cap_net_raw+p", "/bin/ping"],
        Some(postinst.clone()),
    ));
    run(&mut d, &exec(1, &ping));
    let a = run(
        &mut d,
        &xattr_by(
            1,
            &ping,
            FileOp::SetXattr,
            "/bin/ping",
            CAP_XATTR,
            &caps_v2(1 << 13, false),
        ),
    );
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].rule.severity, Severity::Low);
}
