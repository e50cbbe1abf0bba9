//! Permission and attribute tampering, one event each:
//!
//! - `rg-perm-setuid`: a chmod that sets the setuid bit (high) or only the
//!   setgid bit (medium; a directory's setgid bit is common).
//! - `rg-perm-world-writable`: a chmod that makes a file on a system path
//!   writable by everyone.
//! - `rg-perm-immutable-cleared`: the `chattr` program run to clear the
//!   immutable (`-i`) or append-only (`-a`) flag. The program, by
//!   executable identity, not the `FS_IOC_SETFLAGS` ioctl: a tracepoint
//!   on ioctl runs for every ioctl of every process (terminals, sockets,
//!   GPUs), a cost on all work to see a rare one; a program calling the
//!   ioctl itself evades (docs/detections.md).
//! - `rg-log-wipe`: logs or shell history destroyed: `shred` run (secure
//!   deletion: high on a log or history file, medium otherwise), a log or
//!   history file truncated (opened with O_TRUNC, or named to the
//!   `truncate` program), a history file unlinked or replaced by a
//!   symbolic link.
//!
//! - `rg-perm-file-capability`: a file given capabilities: the setxattr
//!   family writing `security.capability` (what `setcap`, libcap, Python's
//!   `os.setxattr` or `tar --xattrs` all end in), reported by the kernel
//!   wherever the file is, with the sets decoded from the value. High for
//!   capabilities that amount to root, medium otherwise. The syscall, not
//!   the `setcap` program: one finding per write, whoever makes it.
//!
//! Package operations lower them with every other finding (`settle`).

use std::sync::Arc;

use globset::GlobSet;

use crate::detect::context::runs;
use crate::detect::correlate::meta as rule;
use crate::detect::filter;
use crate::model::alert::{RuleMeta, Severity};
use crate::model::event::{Body, CAP_NAMES, Event, FileCaps, FileOp};
use crate::model::proctable::Process;

/// Ids, stable across releases.
pub const IDS: &[&str] = &[
    "rg-perm-setuid",
    "rg-perm-world-writable",
    "rg-perm-immutable-cleared",
    "rg-log-wipe",
    "rg-perm-file-capability",
];

/// Where a world-writable file lets any user change what root runs or
/// reads. Prefixes of directories.
const SYSTEM_DIRS: &[&str] = &[
    "/etc/",
    "/usr/",
    "/bin/",
    "/sbin/",
    "/lib/",
    "/lib64/",
    "/boot/",
    "/root/",
    "/var/spool/",
    "/var/log/",
];

/// Shell and REPL history files, by file name.
const HISTORY: &[&str] = &[
    ".bash_history",
    ".zsh_history",
    ".history",
    ".sh_history",
    ".ash_history",
    ".python_history",
    ".mysql_history",
    ".psql_history",
    ".lesshst",
];

/// The programs, by executable (see `context::runs`).
const CHATTR: &str = "/{usr/bin,bin,usr/sbin,sbin}/chattr";
const SHRED: &str = "/{usr/bin,bin}/shred";
const TRUNCATE: &str = "/{usr/bin,bin}/truncate";

/// Capabilities that give root or the means to it: write any file, become
/// any user, load code into the kernel, read or trace any process.
const ROOT_CAPS: &[&str] = &[
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_setgid",
    "cap_setuid",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_ptrace",
    "cap_sys_admin",
    "cap_setfcap",
    "cap_bpf",
];

/// ROOT_CAPS as a capability bit set.
fn root_caps() -> u64 {
    ROOT_CAPS.iter().fold(0, |set, name| {
        let n = CAP_NAMES
            .iter()
            .position(|c| c == name)
            .expect("a known capability");
        set | 1 << n
    })
}
/// Container engines, by executed file: unpacking an image layer writes
/// the capabilities its files carry (podman's and CRI-O's `storage-untar`
/// and dockerd's `docker-untar` re-exec the engine, chrooted into the
/// layer; containerd unpacks in-process).
const CONTAINER_ENGINES: &str =
    "/{usr/bin,usr/sbin,usr/local/bin,bin,sbin}/{podman,buildah,skopeo,crio,containerd,dockerd}";
/// Truncate logs for a living (`copytruncate`), or delete their own
/// (logrotate's old rotations, journald's archived journals past its
/// size limits).
const LOG_KEEPERS: &str =
    "/{usr/sbin,sbin,usr/bin,usr/lib/systemd,lib/systemd}/{logrotate,newsyslog,systemd-journald}";

const O_TRUNC: u64 = 0o1000;

fn is_history(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    HISTORY.contains(&name)
}

/// REPLs that rewrite their own history file whole (opened with O_TRUNC)
/// at every exit, by history file and executed file name prefix: python's
/// readline, the database clients, less. A shell's history is not among
/// them: bash and zsh append or rewrite through a temporary file, and a
/// shell's redirect (`> ~/.bash_history`) is how history is wiped.
const HISTORY_KEEPERS: &[(&str, &[&str])] = &[
    (".python_history", &["python"]),
    (".mysql_history", &["mysql", "mariadb"]),
    (".psql_history", &["psql"]),
    (".lesshst", &["less"]),
];

/// Whether `p` is the program that keeps the history file at `path`.
fn keeps_history(path: &str, p: &Process) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let exe = p.image.exe.rsplit('/').next().unwrap_or(&p.image.exe);
    HISTORY_KEEPERS
        .iter()
        .any(|(file, owners)| *file == name && owners.iter().any(|o| exe.starts_with(o)))
}

fn is_log_or_history(path: &str) -> bool {
    path.starts_with("/var/log/") || is_history(path)
}

/// A user's mailbox in the system spool: overwriting it (`echo 0 >
/// /var/spool/mail/root`) destroys the mail cron and the system sent.
/// Mail is delivered by appending, never by a truncating open.
fn is_mail_spool(path: &str) -> bool {
    ["/var/mail/", "/var/spool/mail/"].iter().any(|d| {
        path.strip_prefix(d)
            .is_some_and(|n| !n.is_empty() && !n.contains('/'))
    })
}

pub(super) struct Perms {
    setuid: Option<Arc<RuleMeta>>,
    world: Option<Arc<RuleMeta>>,
    immutable: Option<Arc<RuleMeta>>,
    wipe: Option<Arc<RuleMeta>>,
    caps: Option<Arc<RuleMeta>>,
    chattr: GlobSet,
    root_caps: u64,
    engines: GlobSet,
    shred: GlobSet,
    truncate: GlobSet,
    log_keepers: GlobSet,
}

fn set(glob: &str) -> GlobSet {
    filter::globset(&[glob.to_string()]).expect("a valid built-in glob")
}

/// What a rule raises: the rule at its severity, the message, the reasons.
pub(super) type Hit = (Arc<RuleMeta>, Severity, String, Vec<String>);

impl Perms {
    pub(super) fn new(disabled: &[String]) -> Self {
        let on = |id: &str| !disabled.iter().any(|x| x == id);
        Perms {
            setuid: on(IDS[0]).then(|| {
                rule(
                    IDS[0],
                    "Setuid or setgid bit set",
                    "A chmod set the setuid bit (high) or the setgid bit alone (medium) on \
                     a watched path: a program that runs with its owner's or group's \
                     rights, a classic backdoor to root.",
                    Severity::High,
                    &["Privilege Escalation"],
                    &[(
                        "T1548.001",
                        "Abuse Elevation Control Mechanism: Setuid and Setgid",
                    )],
                )
            }),
            world: on(IDS[1]).then(|| {
                rule(
                    IDS[1],
                    "System file made world-writable",
                    "A chmod gave everyone write permission on a path under /etc, /usr, \
                     /bin, /sbin, /lib, /boot, /root, /var/spool or /var/log: any user can \
                     then change what root runs or reads.",
                    Severity::Medium,
                    &["Defense Evasion"],
                    &[(
                        "T1222.002",
                        "File and Directory Permissions Modification: Linux and Mac",
                    )],
                )
            }),
            immutable: on(IDS[2]).then(|| {
                rule(
                    IDS[2],
                    "Immutable or append-only flag cleared",
                    "The chattr program (by executable) was run to clear the immutable \
                     (-i) or append-only (-a) attribute: the step before changing a file \
                     an administrator locked, or rewriting an append-only log.",
                    Severity::High,
                    &["Defense Evasion"],
                    &[(
                        "T1222.002",
                        "File and Directory Permissions Modification: Linux and Mac",
                    )],
                )
            }),
            wipe: on(IDS[3]).then(|| {
                rule(
                    IDS[3],
                    "Logs or shell history destroyed",
                    "shred run (high on a log or history file, medium otherwise), a file \
                     under /var/log, a shell history file or a system mailbox truncated (by \
                     anything but logrotate; a REPL rewriting its own history is not), a file \
                     under /var/log deleted (by anything but logrotate or journald), or a \
                     shell history file deleted or replaced by a symbolic link.",
                    Severity::High,
                    &["Defense Evasion"],
                    &[
                        (
                            "T1070.002",
                            "Indicator Removal: Clear Linux or Mac System Logs",
                        ),
                        ("T1070.003", "Indicator Removal: Clear Command History"),
                        ("T1070.004", "Indicator Removal: File Deletion"),
                    ],
                )
            }),
            caps: on(IDS[4]).then(|| {
                rule(
                    IDS[4],
                    "File capabilities set",
                    "A file was given capabilities (the security.capability extended \
                     attribute written, by setcap or any other program): high for those \
                     that amount to root (cap_setuid, cap_sys_admin, cap_dac_override, \
                     ...), medium otherwise.",
                    Severity::High,
                    &["Privilege Escalation"],
                    &[("T1548", "Abuse Elevation Control Mechanism")],
                )
            }),
            chattr: set(CHATTR),
            root_caps: root_caps(),
            engines: set(CONTAINER_ENGINES),
            shred: set(SHRED),
            truncate: set(TRUNCATE),
            log_keepers: set(LOG_KEEPERS),
        }
    }

    /// Ids of the enabled rules.
    pub(super) fn enabled(&self) -> impl Iterator<Item = &str> {
        [
            &self.setuid,
            &self.world,
            &self.immutable,
            &self.wipe,
            &self.caps,
        ]
        .into_iter()
        .flatten()
        .map(|r| r.id.as_str())
    }

    /// `rg-perm-file-capability` for capabilities `c` written to `path`.
    fn caps_hit(&self, r: &Arc<RuleMeta>, c: &FileCaps, path: &str, p: &Process, by: &str) -> Hit {
        let text = c.text();
        let root = (c.permitted | c.inheritable) & self.root_caps;
        let mut reasons = vec![if root != 0 {
            let names: Vec<_> = FileCaps::names(root).collect();
            format!("{} amount to root or the means to it", names.join(", "))
        } else {
            format!("{text} gives no capability that amounts to root: medium")
        }];
        // A version-3 value binds them to a user namespace's root: a
        // container's, unless it is 0.
        if let Some(uid) = c.root_uid.filter(|u| *u != 0) {
            reasons.push(format!(
                "for the user namespace whose root is uid {uid} (a container's)"
            ));
        }
        let mut severity = if root != 0 {
            Severity::High
        } else {
            Severity::Medium
        };
        // An image's files keep their capabilities (newuidmap's
        // cap_setuid, ping's cap_net_raw): pulling or building it is no
        // attack, and the file is inside the engine's storage, not the
        // host's system. Low, not silent: it is still a record of what the
        // image holds.
        if runs(p, &self.engines) {
            severity = Severity::Low;
            reasons.push(format!(
                "written by a container engine ({}) unpacking an image: low",
                p.image.exe
            ));
        }
        (
            r.clone(),
            severity,
            format!("file capabilities {text} set on {path} by {by}"),
            reasons,
        )
    }

    /// What `ev` raises, appended to `out`.
    pub(super) fn hits(&self, ev: &Event, out: &mut Vec<Hit>) {
        let Some(p) = ev.process.as_deref() else {
            return;
        };
        let by = if p.image.executable.is_empty() {
            p.image.name.as_str()
        } else {
            p.image.executable.as_str()
        };
        match &ev.body {
            Body::File(f) if f.result >= 0 => {
                let path = f.path.as_str();
                if f.op == FileOp::Chmod
                    && let Some(mode) = f.mode
                {
                    if let Some(r) = &self.setuid
                        && mode & 0o6000 != 0
                    {
                        let (bit, severity) = if mode & 0o4000 != 0 {
                            ("setuid", Severity::High)
                        } else {
                            ("setgid", Severity::Medium)
                        };
                        out.push((
                            r.clone(),
                            severity,
                            format!("{bit} bit set on {path} (mode {mode:o}) by {by}"),
                            vec![format!(
                                "chmod to mode {mode:o} sets the {bit} bit{}",
                                if severity == Severity::Medium {
                                    " (setgid alone: medium)"
                                } else {
                                    ""
                                }
                            )],
                        ));
                    }
                    if let Some(r) = &self.world
                        && mode & 0o002 != 0
                        && SYSTEM_DIRS.iter().any(|d| path.starts_with(d))
                    {
                        out.push((
                            r.clone(),
                            r.severity,
                            format!("{path} made world-writable (mode {mode:o}) by {by}"),
                            vec![format!(
                                "mode {mode:o} lets every user write {path}, a system path"
                            )],
                        ));
                    }
                }
                if let Some(r) = &self.caps
                    && f.op == FileOp::SetXattr
                    && let Some(c) = f.xattr.as_ref().and_then(|x| x.caps)
                    && (c.permitted | c.inheritable) != 0
                {
                    out.push(self.caps_hit(r, &c, path, p, by));
                }
                let Some(r) = &self.wipe else {
                    return;
                };
                let keeper = runs(p, &self.log_keepers);
                let (what, why) = match f.op {
                    FileOp::Open
                        if f.open_flags & O_TRUNC != 0
                            && f.open_flags & 0o3 != 0
                            && (is_log_or_history(path) || is_mail_spool(path))
                            && !keeper
                            && !keeps_history(path, p) =>
                    {
                        let what = if is_mail_spool(path) {
                            "a mailbox in the system's mail spool"
                        } else {
                            "a log or shell history file"
                        };
                        (what, "truncated (opened with O_TRUNC)")
                    }
                    FileOp::Unlink if is_history(path) => {
                        ("a log or shell history file", "deleted")
                    }
                    // rm, unlink, find -delete of a log: only the programs
                    // that rotate or expire logs delete them for a living.
                    FileOp::Unlink if path.starts_with("/var/log/") && !keeper => {
                        ("a log file", "deleted")
                    }
                    // ln -sf /dev/null ~/.bash_history: nothing is kept.
                    FileOp::Symlink if is_history(path) => {
                        ("a log or shell history file", "replaced by a symbolic link")
                    }
                    _ => return,
                };
                out.push((
                    r.clone(),
                    r.severity,
                    format!("{path} {why} by {by}"),
                    vec![format!("{what} {why}")],
                ));
            }
            Body::Exec(x) => {
                let args = x.image.args.get(1..).unwrap_or_default();
                let operands = || args.iter().filter(|a| !a.starts_with('-'));
                if let Some(r) = &self.immutable
                    && runs(p, &self.chattr)
                    && let Some(flag) = args.iter().find(|a| {
                        // chattr's own options are -R -V -f -v -p; any other
                        // letter after a '-' is an attribute removed.
                        a.strip_prefix('-')
                            .is_some_and(|f| f.contains('i') || f.contains('a'))
                    })
                {
                    out.push((
                        r.clone(),
                        r.severity,
                        format!("{by} {flag} run by pid {}: {}", ev.pid, args.join(" ")),
                        vec![format!(
                            "{flag} clears the immutable or append-only attribute"
                        )],
                    ));
                }
                let Some(r) = &self.wipe else {
                    return;
                };
                let (what, severity) = if runs(p, &self.shred) {
                    let logs = operands().any(|a| is_log_or_history(a));
                    (
                        "secure deletion (shred)",
                        if logs {
                            Severity::High
                        } else {
                            Severity::Medium
                        },
                    )
                } else if runs(p, &self.truncate) && operands().any(|a| is_log_or_history(a)) {
                    ("truncation of a log or history file", Severity::High)
                } else {
                    return;
                };
                out.push((
                    r.clone(),
                    severity,
                    format!("{what} by pid {}: {}", ev.pid, x.image.args.join(" ")),
                    vec![format!(
                        "{by} run{}",
                        if severity == Severity::High {
                            " on a log or shell history file"
                        } else {
                            " (not on a log or history file: medium)"
                        }
                    )],
                ));
            }
            _ => {}
        }
    }
}
