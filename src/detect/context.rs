//! Context that sets an alert's severity: is the process part of a
//! package operation, is a writer a compiler, is a program an interpreter.
//!
//! Programs are recognized by what the kernel runs, never by a name a
//! process gives itself (`comm`, `argv[0]`): a program is one of a list
//! when its executed file (`rand_guard.process.exe`, symlinks resolved)
//! is on the list, or, for a `#!` script, when the script run
//! (`process.executable`) is on the list and its interpreter is a system
//! program. A copy of dpkg in /tmp, or a process renamed dpkg, is not
//! dpkg.
//!
//! A package operation is a live package manager (dpkg, apt, rpm, dnf,
//! ...) running as root among a process's ancestors (itself included):
//! everything it runs,
//! maintainer scripts and the helpers they run (deb-systemd-helper,
//! update-rc.d, systemctl, adduser, debconf), belongs to it. "Live": the
//! manager's exec was seen and its exit not yet, so a daemon a maintainer
//! script left running is not part of the operation once the manager is
//! gone. The package and operation come from the nearest maintainer script
//! (`/var/lib/dpkg/info/at.postinst configure 3.2.5`), else from the
//! manager's command line when it names exactly one package. The
//! environment (`DPKG_MAINTSCRIPT_PACKAGE`) is not read: a short script is
//! often gone before the detector sees its exec, and a replay (`rules
//! test`) would read the replaying host's `/proc`.

use std::collections::HashSet;
use std::sync::Arc;

use globset::GlobSet;

use crate::detect::filter;
use crate::detect::identity::{PROGRAM_DIRS, SystemCopies};
use crate::model::alert::PackageOp;
use crate::model::event::{Body, Creds, Event, FileOp, Image};
use crate::model::proctable::{Origin, Process};

/// Package managers by executable, and the name an alert gives each.
const MANAGERS: &[(&str, &str)] = &[
    ("/{usr/bin,bin}/dpkg", "dpkg"),
    ("/usr/bin/{apt,apt-get,aptitude}", "apt"),
    ("/usr/bin/unattended-upgrade", "unattended-upgrade"),
    // Runs a package's maintainer scripts again (`dpkg-reconfigure tzdata`).
    ("/{usr/sbin,sbin}/dpkg-reconfigure", "dpkg-reconfigure"),
    ("/{usr/bin,bin}/rpm", "rpm"),
    ("/usr/bin/{dnf,dnf-3,dnf5,microdnf}", "dnf"),
    ("/usr/bin/{yum,yum-3}", "yum"),
    ("/usr/bin/zypper", "zypper"),
    (
        "/usr/{lib,libexec}/{packagekitd,packagekit/packagekitd}",
        "packagekitd",
    ),
    ("/usr/{lib,libexec}/snapd/snapd", "snapd"),
];

/// Compilers and linkers: the programs that write a program a developer
/// then runs (gcc and clang write through `ld`, rustc through `cc`, go
/// through its `link` tool).
const COMPILERS: &[&str] = &[
    "/usr/bin/{cc,c++,c89,c99,gcc,g++,cpp,clang,clang++,tcc,rustc,go,gccgo,javac}",
    "/usr/bin/{gcc,g++,clang,clang++}-[0-9]*",
    "/usr/bin/{ld,ld.bfd,ld.gold,ld.lld,lld,mold}",
    "/usr/bin/*-linux-gnu*-{gcc,g++,ld,ld.bfd,ld.gold}*",
    "/usr/{lib,libexec}/gcc/**",
    "/usr/lib/llvm-*/bin/*",
    "/usr/lib/go*/pkg/tool/*/{link,compile}",
    "/usr/local/go/pkg/tool/*/{link,compile}",
    "/usr/lib/jvm/*/bin/javac",
];

/// Script interpreters: a file they run is a script.
const INTERPRETERS: &[&str] = &[
    "/{usr/bin,bin}/{sh,bash,dash,zsh,ksh,ksh93,mksh,fish,busybox}",
    "/usr/bin/{python,perl,ruby,php,lua,tclsh}*",
    "/usr/bin/{node,nodejs}",
];

/// The same interpreters by file name, for their system copies' inodes
/// (a hard link under another name, anywhere on their file system, runs
/// the same program).
const INTERPRETER_NAMES: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "fish", "busybox", "python*", "perl*",
    "ruby*", "php*", "lua*", "tclsh*", "node", "nodejs",
];

/// The dpkg maintainer scripts: installed ones name their package.
const DPKG_INFO: &str = "/var/lib/dpkg/info/";
const DPKG_NEW_SCRIPTS: &str = "/var/lib/dpkg/tmp.ci/";
const SCRIPT_KINDS: &[&str] = &["preinst", "postinst", "prerm", "postrm", "config"];

/// At most this many package managers are followed at once: beyond, a new
/// one is not recognized (its findings keep their severity: loud, not
/// lost).
const MAX_MANAGERS: usize = 1024;

/// Where code run from here cannot have been put by an unprivileged user.
fn system_path(path: &str) -> bool {
    ["/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/"]
        .iter()
        .any(|d| path.starts_with(d))
}

/// Whether `p` runs one of `set`, by its executed file or, for a script
/// with a system interpreter, by the script (see the module's contract).
pub(super) fn runs(p: &Process, set: &GlobSet) -> bool {
    let (exe, executable) = (p.image.exe.as_str(), p.image.executable.as_str());
    (!exe.is_empty() && set.is_match(exe))
        || (system_path(exe) && !executable.is_empty() && set.is_match(executable))
}

/// Whether two processes are one person's work, and how that is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Session {
    /// One audit login session: login uid and session id set and equal.
    Login { login_uid: u32, session_id: u32 },
    /// Neither is in a login session (no pam_loginuid: containers, CI
    /// runners, hosts without audit), and both run as this real uid.
    User { uid: u32 },
}

impl std::fmt::Display for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Session::Login {
                login_uid,
                session_id,
            } => write!(
                f,
                "the login session that wrote it (login uid {login_uid}, session {session_id})"
            ),
            Session::User { uid } => write!(
                f,
                "the user that wrote it (uid {uid}; neither is in a login session)"
            ),
        }
    }
}

/// The session two processes share, if they share one: the same audit
/// login session, or, when neither has a login session at all, the same
/// real user. One in a session and the other not (a daemon running what
/// a login wrote, or the reverse) share none.
pub(super) fn same_session(a: Option<Creds>, b: Option<Creds>) -> Option<Session> {
    let (a, b) = (a?, b?);
    match ((a.login_uid, a.session_id), (b.login_uid, b.session_id)) {
        ((Some(la), Some(sa)), (Some(lb), Some(sb))) if (la, sa) == (lb, sb) => {
            Some(Session::Login {
                login_uid: la,
                session_id: sa,
            })
        }
        ((None, _), (None, _)) if a.uid == b.uid => Some(Session::User { uid: a.uid }),
        _ => None,
    }
}

/// Why `ev`, which raised `rule`, is service management rather than
/// persistence, if it is: enabling, disabling or reordering what is
/// already installed. The unit or init script itself was written earlier,
/// and that write is scored on its own.
///
/// - a unit link PID 1 makes (`systemctl enable` over D-Bus, a preset): on
///   request, and the request (the unit's write, a `systemctl` run) is
///   scored by itself;
/// - a link in a unit directory to a unit the system ships
///   (`/lib/systemd/system/cron.service`: root's vendor directory), as
///   `systemctl enable cron` makes;
/// - a link in `/etc/rc?.d` to an init script (`../init.d/cron`), or one
///   renamed within those directories (`K01cron` → `S01cron`), as
///   `update-rc.d` makes for `systemctl enable` of a SysV service.
pub(super) fn service_management(rule: &str, ev: &Event) -> Option<String> {
    let Body::File(f) = &ev.body else {
        return None;
    };
    let dir_of = |p: &str| p.rsplit_once('/').map_or("", |(d, _)| d).to_string();
    let rc_dir = |d: &str| {
        d.strip_prefix("/etc/rc")
            .and_then(|r| r.strip_suffix(".d"))
            .is_some_and(|l| l.len() == 1 && "0123456S".contains(l))
    };
    match (rule, f.op) {
        ("rg-persist-systemd-unit", _) if ev.pid == 1 => Some(
            "written by the service manager (PID 1) on a request; the request (the unit's \
             write, a systemctl run) is scored by itself"
                .into(),
        ),
        ("rg-persist-systemd-unit", FileOp::Symlink) => {
            let target = f.target_path.as_deref()?;
            let vendor = ["/lib/systemd/", "/usr/lib/systemd/"]
                .iter()
                .any(|d| target.starts_with(d));
            (vendor && !target.contains("/../")).then(|| {
                format!(
                    "a link to {target}, a unit the system ships: enabling it is service \
                     management"
                )
            })
        }
        ("rg-persist-rc-scripts", FileOp::Symlink) if rc_dir(&dir_of(&f.path)) => {
            let target = f.target_path.as_deref()?;
            let script = target
                .strip_prefix("../init.d/")
                .or_else(|| target.strip_prefix("/etc/init.d/"))?;
            (!script.is_empty() && !script.contains('/')).then(|| {
                format!(
                    "a link to the init script {target}: enabling it is service management \
                     (the script's own write is scored by itself)"
                )
            })
        }
        ("rg-persist-rc-scripts", FileOp::Rename)
            if rc_dir(&dir_of(&f.path))
                && f.original_path
                    .as_deref()
                    .is_some_and(|o| rc_dir(&dir_of(o))) =>
        {
            Some("an init script link renamed within /etc/rc?.d: service management".into())
        }
        _ => None,
    }
}

/// What the detector knows beyond one event: live package managers, and
/// the program lists.
pub struct Context {
    managers: GlobSet,
    compilers: GlobSet,
    interpreters: GlobSet,
    /// The system's interpreters by inode; scanned on the first exec that
    /// needs them (a new context, at start and on reload, scans again).
    interpreter_copies: Option<SystemCopies>,
    /// (pid, start) of live managers whose exec was seen.
    live: HashSet<(u32, u64)>,
    /// (pid, start) of managers seeded from /proc (running at start) that
    /// have exited since.
    ended: HashSet<(u32, u64)>,
    matched: Vec<usize>,
    /// The last answer, by process (pid, start, and the image it runs:
    /// held, so its address names it) and manager-set generation: a
    /// package upgrade's thousands of writes walk the ancestry once.
    last: Option<(Cached, Option<Arc<PackageOp>>)>,
    generation: u64,
}

struct Cached {
    pid: u32,
    start_ns: u64,
    image: Arc<Image>,
    generation: u64,
}

fn set(globs: &[&str]) -> GlobSet {
    let v: Vec<String> = globs.iter().map(|s| s.to_string()).collect();
    filter::globset(&v).expect("built-in globs are valid")
}

impl PartialEq for Cached {
    fn eq(&self, o: &Self) -> bool {
        (self.pid, self.start_ns, self.generation) == (o.pid, o.start_ns, o.generation)
            && Arc::ptr_eq(&self.image, &o.image)
    }
}

impl Default for Context {
    fn default() -> Self {
        Context {
            managers: set(&MANAGERS.iter().map(|m| m.0).collect::<Vec<_>>()),
            compilers: set(COMPILERS),
            interpreters: set(INTERPRETERS),
            interpreter_copies: None,
            live: HashSet::new(),
            ended: HashSet::new(),
            matched: Vec::new(),
            last: None,
            generation: 0,
        }
    }
}

impl Context {
    /// Keep the set of live managers current: an exec of one starts an
    /// operation, its exit ends it. Called for every event, before its
    /// detections (an exit: after them).
    pub fn observe(&mut self, ev: &Event) {
        let Some(p) = ev.process.as_deref() else {
            return;
        };
        match &ev.body {
            Body::Exec(_) if self.live.len() < MAX_MANAGERS && self.manager(p).is_some() => {
                self.live.insert((p.pid, p.start_ns));
                self.generation += 1;
            }
            Body::Exit(x) => {
                let key = (ev.pid, x.start_ns);
                if self.live.remove(&key) {
                    self.generation += 1;
                } else if p.origin == Origin::Procfs
                    && self.ended.len() < MAX_MANAGERS
                    && self.manager(p).is_some()
                {
                    self.ended.insert(key);
                    self.generation += 1;
                }
            }
            _ => {}
        }
    }

    /// Take over what `old` follows (a reload).
    pub fn take_state(&mut self, old: &mut Context) {
        self.live = std::mem::take(&mut old.live);
        self.ended = std::mem::take(&mut old.ended);
        self.generation = old.generation + 1;
    }

    /// The manager `p` runs, if it runs one.
    fn manager(&mut self, p: &Process) -> Option<&'static str> {
        if !runs(p, &self.managers) {
            return None;
        }
        for path in [&p.image.exe, &p.image.executable] {
            self.managers.matches_into(path, &mut self.matched);
            if let Some(i) = self.matched.first() {
                return Some(MANAGERS[*i].1);
            }
        }
        None
    }

    pub fn is_compiler(&self, p: &Process) -> bool {
        runs(p, &self.compilers)
    }

    /// The file name of the interpreter `p` runs, if it runs one: by its
    /// executed file, or by inode for a hard link to a system interpreter
    /// under another name (`ln /usr/bin/python3 /tmp/x`). A copy is a new
    /// file, and an executed one rg-drop-exec reports itself.
    pub fn interpreter<'a>(&'a mut self, p: &'a Process) -> Option<&'a str> {
        if runs(p, &self.interpreters) {
            let exe = p.image.exe.as_str();
            return Some(exe.rsplit('/').next().unwrap_or(exe));
        }
        let id = p.image.file.as_ref()?;
        self.interpreter_copies
            .get_or_insert_with(|| SystemCopies::scan(&set(INTERPRETER_NAMES), PROGRAM_DIRS))
            .by_inode(id)
    }

    /// The package operation `p` is part of, if any.
    pub fn package_op(&mut self, p: Option<&Process>) -> Option<Arc<PackageOp>> {
        let p = p?;
        let key = Cached {
            pid: p.pid,
            start_ns: p.start_ns,
            image: p.image.clone(),
            generation: self.generation,
        };
        if let Some((k, op)) = &self.last
            && *k == key
        {
            return op.clone();
        }
        let op = self.walk(p).map(Arc::new);
        self.last = Some((key, op.clone()));
        op
    }

    fn walk(&mut self, p: &Process) -> Option<PackageOp> {
        // From the maintainer script nearest to `p`, if one is passed.
        let mut script: Option<(Option<String>, Option<String>)> = None;
        for a in std::iter::once(p).chain(p.ancestors().map(|a| &**a)) {
            // A fork's copy runs its parent's program: the parent, next in
            // the chain, is the one that counts.
            if a.origin == Origin::Fork {
                continue;
            }
            if script.is_none() {
                script = maintainer_script(a);
            }
            let Some(manager) = self.manager(a) else {
                continue;
            };
            // Only root changes the system's packages: a user may run dpkg
            // (`--force-not-root --root=~/x` runs a package's scripts as
            // that user) or unattended-upgrade with code of their own, and
            // that is no package operation of the host.
            if a.creds.is_none_or(|c| c.euid != 0) {
                return None;
            }
            let key = (a.pid, a.start_ns);
            let live = match a.origin {
                Origin::Procfs => !self.ended.contains(&key),
                _ => self.live.contains(&key),
            };
            if !live {
                // `p` outlived the operation that started it.
                return None;
            }
            let (mut name, mut operation) = script.unwrap_or_default();
            if name.is_none() || operation.is_none() {
                let (n, o) = manager_action(manager, &a.image.args);
                name = name.or(n);
                operation = operation.or(o);
            }
            return Some(PackageOp {
                manager,
                pid: a.pid,
                name,
                operation,
            });
        }
        None
    }
}

/// A dpkg maintainer script's package (installed scripts are named after
/// it) and operation (its first argument: `configure`, `upgrade`,
/// `remove`, `purge`, ...).
fn maintainer_script(p: &Process) -> Option<(Option<String>, Option<String>)> {
    let path = p.image.executable.as_str();
    // The argument after the script: run by its `#!` line, the argv is
    // `/bin/sh /var/lib/dpkg/info/at.postinst configure 3.2.5`.
    let args = &p.image.args;
    let at = args.iter().position(|a| a == path).unwrap_or(0);
    let operation = args.get(at + 1).filter(|a| !a.starts_with('-')).cloned();
    if let Some(file) = path.strip_prefix(DPKG_INFO) {
        let (pkg, kind) = file.rsplit_once('.')?;
        if !SCRIPT_KINDS.contains(&kind) || pkg.contains('/') {
            return None;
        }
        let name = pkg.split(':').next().unwrap_or(pkg).to_string();
        return Some((Some(name), operation));
    }
    let kind = path.strip_prefix(DPKG_NEW_SCRIPTS)?;
    // A package's first install runs its preinst from dpkg's unpack
    // directory: the package is then named by dpkg's command line.
    SCRIPT_KINDS.contains(&kind).then_some((None, operation))
}

/// The package a manager's command line names (when exactly one) and its
/// action: `dpkg --unpack x.deb`, `apt-get install at`, `rpm -e x`.
fn manager_action(manager: &str, args: &[String]) -> (Option<String>, Option<String>) {
    let args = args.get(1..).unwrap_or_default();
    let (operation, rest): (Option<String>, &[String]) = match manager {
        "dpkg" => {
            const ACTIONS: &[(&str, &str)] = &[
                ("-i", "install"),
                ("--install", "install"),
                ("--unpack", "unpack"),
                ("--configure", "configure"),
                ("-r", "remove"),
                ("--remove", "remove"),
                ("-P", "purge"),
                ("--purge", "purge"),
                ("--triggers-only", "triggers"),
            ];
            match args
                .iter()
                .position(|a| ACTIONS.iter().any(|(f, _)| f == a))
            {
                Some(i) => (
                    ACTIONS
                        .iter()
                        .find(|(f, _)| *f == args[i])
                        .map(|(_, o)| o.to_string()),
                    &args[i + 1..],
                ),
                None => (None, &[]),
            }
        }
        "rpm" => {
            let op = args.iter().find_map(|a| {
                let flag = a.strip_prefix("--").map(|l| l.chars().next());
                let c = match flag {
                    Some(c) => c?,
                    None => a.strip_prefix('-')?.chars().next()?,
                };
                Some(match c {
                    'i' => "install",
                    'U' | 'u' => "upgrade",
                    'F' | 'f' => "freshen",
                    'e' => "erase",
                    _ => return None,
                })
            });
            (op.map(str::to_string), &[])
        }
        "packagekitd" | "snapd" => (None, &[]),
        "dpkg-reconfigure" => (Some("reconfigure".to_string()), args),
        // apt, dnf, yum, zypper: a subcommand, then packages; the options
        // that take a separate value (`-o Dpkg::Options::=...`) are skipped.
        _ => {
            let sub = (0..args.len()).find(|&i| operand(args, i));
            match sub {
                Some(i) => (Some(args[i].clone()), &args[i + 1..]),
                None => (None, &[]),
            }
        }
    };
    let mut names = (0..rest.len())
        .filter(|&i| operand(rest, i))
        .map(|i| &rest[i])
        .filter(|a| !a.bytes().all(|b| b.is_ascii_digit()));
    let name = match (names.next(), names.next()) {
        (Some(one), None) => package_name(one),
        _ => None,
    };
    (name, operation)
}

/// Whether `args[i]` is an operand: not an option, nor the value of one
/// that takes its value separately (`apt-get -o Dpkg::Options::=x`,
/// `dpkg-reconfigure -f noninteractive`).
fn operand(args: &[String], i: usize) -> bool {
    const WITH_VALUE: &[&str] = &[
        "-o",
        "-c",
        "-t",
        "--option",
        "--config-file",
        "-f",
        "--frontend",
        "-p",
        "--priority",
    ];
    !args[i].starts_with('-') && (i == 0 || !WITH_VALUE.contains(&args[i - 1].as_str()))
}

/// `at`, `at:amd64`, `/var/cache/apt/archives/at_3.2.5-1_amd64.deb` → `at`.
fn package_name(arg: &str) -> Option<String> {
    let base = arg.rsplit('/').next().unwrap_or(arg);
    let name = match base.strip_suffix(".deb") {
        Some(deb) => deb.split('_').next().unwrap_or(deb),
        None => base.split(':').next().unwrap_or(base),
    };
    (!name.is_empty()).then(|| name.to_string())
}
