//! The guest suite's file-capability check (suite.rs runs it): the
//! setxattr hook on each guest kernel and hook path.

use serde_json::json;

use super::{Report, alert, expect_all, fact, final_health, find, get, pid};
use crate::vm::initramfs::XATTR_HELPER;

/// The file the guest gives cap_setuid (guest-init.sh).
pub(super) const CAP_FILE: &str = "/tmp/rg-vm-cap";

/// The guest's setxattr(2) of `security.capability` on /tmp/rg-vm-cap
/// (revision 2, cap_setuid, effective): one setxattr event and one
/// `rg-perm-file-capability` alert, both with the record's fields. /tmp
/// is `detect_only`, but a file capability is reported wherever the file
/// is and written (docs/schema.md). Then the fsetxattr(2) of a `user.*`
/// attribute on a file outside the watched prefixes: no record, the
/// kernel's counters say why (filtered: user.* is never reported; failed
/// on a tmpfs without user attributes, Linux before 6.6).
pub(super) fn file_capability(r: &Report) -> Result<(), String> {
    let p = pid(r, "xattr_cap_pid")?;
    if fact(r, "xattr_cap_status")? != "0" {
        return Err(format!(
            "the guest's setxattr of security.capability failed: {}",
            fact(r, "xattr_errors")?
        ));
    }
    let fields = [
        ("event.action", json!("setxattr")),
        ("event.outcome", json!("success")),
        ("file.path", json!(CAP_FILE)),
        ("process.executable", json!(XATTR_HELPER)),
        ("rand_guard.file.syscall", json!("setxattr")),
        ("rand_guard.file.result", json!(0)),
        ("rand_guard.file.xattr.name", json!("security.capability")),
        ("rand_guard.file.xattr.size", json!(20)),
        (
            "rand_guard.file.xattr.capabilities.permitted",
            json!(["cap_setuid"]),
        ),
        ("rand_guard.file.xattr.capabilities.inheritable", json!([])),
        ("rand_guard.file.xattr.capabilities.effective", json!(true)),
    ];
    let a = alert(r, "rg-perm-file-capability", p)?;
    expect_all(
        "rg-perm-file-capability alert",
        a,
        &[
            ("event.severity", json!(73)),
            (
                "message",
                json!(format!(
                    "file capabilities cap_setuid=ep set on {CAP_FILE} by {XATTR_HELPER}"
                )),
            ),
        ],
    )?;
    expect_all("rg-perm-file-capability alert", a, &fields)?;
    let events = find(r, "event", "setxattr", p);
    let [e] = events.as_slice() else {
        return Err(format!(
            "setxattr events of pid {p}: {} records, expected one: {events:?}",
            events.len()
        ));
    };
    expect_all("setxattr event", e, &fields)?;
    let u = pid(r, "xattr_user_pid")?;
    let written: Vec<_> = r
        .records
        .iter()
        .filter(|v| get(v, "process.pid") == u && get(v, "rand_guard.file.syscall") == "fsetxattr")
        .collect();
    if !written.is_empty() {
        return Err(format!(
            "the user.* fsetxattr outside the watched prefixes was written: {written:?}"
        ));
    }
    // What the kernel did with it instead: one in the counter.
    let counter = match fact(r, "xattr_user_status")? {
        "0" => "kernel_filtered_total",
        _ => "kernel_failed_total",
    };
    let h = final_health(r)?;
    let n = &h[counter]["file_setxattr"];
    if *n != 1 {
        return Err(format!(
            "health {counter}.file_setxattr is {n}, expected 1 (the user.* fsetxattr; \
             the guest's errors: `{}`)",
            fact(r, "xattr_errors")?
        ));
    }
    Ok(())
}
