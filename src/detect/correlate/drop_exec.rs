//! `rg-drop-exec`: a file written (created, renamed into place, linked or
//! made executable) and then executed within the window; and
//! `rg-fileless-exec`: a program executed from a memfd. One scenario
//! object holds both, as both look at the same execs.

use std::sync::Arc;

use globset::GlobSet;

use super::{Finding, Window, at_severity, meta, name_of};
use crate::config;
use crate::detect::context::{Context, same_session};
use crate::detect::filter;
use crate::model::alert::{Evidence, PackageOp, RuleMeta, Severity};
use crate::model::event::{Body, Creds, Event, ExecBody, FdType, FileOp, NetOp, StdioFd};
use crate::model::proctable::Process;

mod pipe;
use pipe::{ENCODINGS, Feed, PipeEnd};

/// World-writable places where dropped payloads live.
const TEMP_DIRS: &[&str] = &["/tmp/", "/var/tmp/", "/dev/shm/"];

/// A file written recently, and by whom.
pub(super) struct Drop {
    /// The write (and a later chmod +x), oldest first.
    evidence: Vec<Evidence>,
    /// The writer is a download tool or had connected out shortly before.
    from_network: bool,
    /// The writer's mount namespace (0: unknown). An exec of the same
    /// path in another one runs another file: a container runtime
    /// unpacking an image in a chroot writes `/bin/busybox`, and the
    /// container later runs its own `/bin/busybox`.
    mnt: u32,
    /// What is known of the writer when it wrote.
    writer: Writer,
}

/// The first writer of a drop, as the severity weighs it.
struct Writer {
    /// (pid, start): a write by another process may replace the drop.
    id: (u32, u64),
    creds: Option<Creds>,
    /// The package operation it was part of: a packaged file.
    package: Option<Arc<PackageOp>>,
    /// A compiler or linker (by executable): a program being built.
    compiler: bool,
    /// The shell that opened the file then ran a decoder in the same
    /// process (`base64 -d > x.sh`): the content was hidden.
    decoder: Option<String>,
}

impl Writer {
    /// Whether the drop could score low: a later write by another process
    /// then replaces it, so an overwrite of a packaged or freshly built
    /// file is scored by the one who overwrote it.
    fn benign(&self) -> bool {
        self.package.is_some() || self.compiler
    }
}

pub(super) struct DropExec {
    /// rg-drop-exec, when on (else only fileless execs are looked at).
    pub(super) rule: Option<Arc<RuleMeta>>,
    pub(super) fileless: Option<Arc<RuleMeta>>,
    fileless_allow: GlobSet,
    download_tools: GlobSet,
    /// Path → how it was dropped.
    pub(super) drops: Window<String, Drop>,
    /// (pid, start) → its last connect: the writer "came from the network".
    pub(super) connects: Window<(u32, u64), Evidence>,
    /// File name → the path of the latest drop of that name: a script
    /// named by a relative path (`bash x.sh`; the working directory is not
    /// known) is the latest drop of that name whose path ends with it.
    /// An index of `drops`, filled with it and as large: not counted in
    /// the state size or evictions apart (what it loses, `drops` loses
    /// too, and counts).
    pub(super) names: Window<String, String>,
    /// (pid, start) of a parent → the latest exec of a download tool, or
    /// of a shell reading its stdin, it started: the other started right
    /// before or after completes `curl … | sh`.
    pub(super) pipes: Window<(u32, u64), PipeEnd>,
    /// (pid, start) of a shell → the file it just dropped: its next exec
    /// is the program its redirect feeds (`REDIRECT_EXEC_NS`). An index of
    /// `drops` like `names`.
    pub(super) redirects: Window<(u32, u64), String>,
}

/// A download tool and a shell started by one parent this close together
/// are one pipeline (a shell forks the commands of a pipeline back to
/// back).
const PIPELINE_NS: u64 = 2_000_000_000;

/// Interpreter options whose value is the next argument.
const VALUE_OPTIONS: &[&str] = &[
    "-o",
    "-O",
    "+O",
    "-W",
    "-X",
    "-r",
    "-I",
    "--rcfile",
    "--init-file",
    "--require",
];

/// Programs that turn an encoded or compressed text back into a file:
/// a script that came out of one was hidden on purpose or in transit.
const DECODERS: &[&str] = &[
    "base64", "base32", "basenc", "xxd", "uudecode", "openssl", "gzip", "gunzip", "zcat", "bzip2",
    "bunzip2", "xz", "unxz", "zstd", "unzstd",
];

/// A shell's redirect (`prog > file`) opens the file in the forked shell,
/// which then executes `prog` in the same process: an exec this soon after
/// a drop by the same process names the program that wrote it.
const REDIRECT_EXEC_NS: u64 = 1_000_000_000;
/// How many of the newest drops a shell reading a regular file as its
/// standard input (`bash < x.sh`) is compared with, one stat each: the
/// case is rare, and the bound keeps a busy /tmp from making it costly.
const STDIN_DROPS_MAX: usize = 32;
/// execve's error for a file in no format it knows (errno-base.h).
const ENOEXEC: i64 = 8;

/// Shells, by file name: their `-e` is errexit, not a program text.
const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "fish", "busybox",
];

/// What an interpreter's arguments say it runs.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Script<'a> {
    /// A script file, as named (absolute or relative).
    File(&'a str),
    /// Its standard input or an inherited descriptor (`sh`, `sh -s`,
    /// `bash /dev/fd/63` of `bash <(curl …)`).
    Stdin,
    /// A command string or module: nothing this detection follows.
    Other,
}

/// The script of `args` (argv, `args[0]` the name as run) for a shell
/// (`shell`) or another interpreter: the first operand after the
/// options. Letters that take a program text instead: `c` for every one,
/// and `e`, `E`, `m`, `p` for the others (perl -e, python -m, node -p).
pub(super) fn script_of(args: &[String], shell: bool) -> Script<'_> {
    let text_letters: &[char] = if shell {
        &['c']
    } else {
        &['c', 'e', 'E', 'm', 'p']
    };
    let mut rest = args.iter().skip(1);
    while let Some(a) = rest.next() {
        let a = a.as_str();
        if a == "-" || a == "-s" {
            return Script::Stdin;
        }
        if a == "--" {
            continue;
        }
        if let Some(long) = a.strip_prefix("--") {
            if ["eval", "print", "command"].contains(&long) {
                return Script::Other;
            }
            if VALUE_OPTIONS.contains(&a) {
                rest.next();
            }
            continue;
        }
        if let Some(cluster) = a.strip_prefix('-').or_else(|| a.strip_prefix('+'))
            && !cluster.is_empty()
        {
            if cluster.contains(text_letters) {
                return Script::Other;
            }
            if VALUE_OPTIONS.contains(&a) {
                rest.next();
            }
            continue;
        }
        if a.starts_with("/dev/fd/") || a.starts_with("/proc/self/fd/") || a == "/dev/stdin" {
            return Script::Stdin;
        }
        return Script::File(a);
    }
    Script::Stdin
}

/// A write that leaves a file ready to run: created or truncated for
/// writing, renamed or linked into place, or given an execute bit.
fn drops_file(op: FileOp, open_flags: u64, mode: Option<u32>) -> bool {
    const O_WRONLY: u64 = 0o1;
    const O_RDWR: u64 = 0o2;
    match op {
        FileOp::Open => open_flags & (O_WRONLY | O_RDWR) != 0,
        FileOp::Rename | FileOp::Link => true,
        FileOp::Chmod => mode.is_some_and(|m| m & 0o111 != 0),
        _ => false,
    }
}

impl DropExec {
    pub(super) fn new(
        d: &config::Detections,
        drop_on: bool,
        fileless_on: bool,
        cap: usize,
        window_ns: u64,
    ) -> Result<Self, globset::Error> {
        Ok(DropExec {
            rule: drop_on.then(|| {
                meta(
                    "rg-drop-exec",
                    "Dropped file executed",
                    "A file was written (created, renamed or linked into place, or made \
                     executable) and then executed within \
                     detections.correlation_window_seconds. Critical when the writer is a \
                     download tool (detections.download_tools) or connected out shortly \
                     before and the file is in /tmp, /var/tmp or /dev/shm; high for one \
                     of the two; medium otherwise.",
                    Severity::Medium,
                    &["Execution", "Command and Control"],
                    &[
                        ("T1105", "Ingress Tool Transfer"),
                        ("T1204.002", "User Execution: Malicious File"),
                    ],
                )
            }),
            fileless: fileless_on.then(|| {
                meta(
                    "rg-fileless-exec",
                    "Program run from memory",
                    "A program was executed from a memfd (memfd_create, then execve \
                     of /proc/self/fd/N): code that never touched a file system. \
                     Container runtimes do this with their own binary \
                     (detections.fileless_allow).",
                    Severity::High,
                    &["Defense Evasion", "Execution"],
                    &[("T1620", "Reflective Code Loading")],
                )
            }),
            fileless_allow: filter::globset(&d.fileless_allow)?,
            download_tools: filter::globset(&d.download_tools)?,
            drops: Window::new(cap, window_ns),
            connects: Window::new(cap, window_ns),
            names: Window::new(cap, window_ns),
            pipes: Window::new(cap, window_ns),
            redirects: Window::new(cap, window_ns),
        })
    }

    /// The first write of `path`, if it is a drop still in the window made
    /// in mount namespace `mnt` (rg-preload-env: a library just written).
    pub(super) fn dropped(&self, now: u64, path: &str, mnt: u32) -> Option<Evidence> {
        let d = self.drops.get(now, &path.to_string())?;
        if d.mnt != mnt {
            return None;
        }
        d.evidence.iter().find(|e| e.action != "connect").cloned()
    }

    /// The drop an interpreter's script argument `name` names, in mount
    /// namespace `mnt`: the path itself when absolute, else the latest
    /// drop of that file name whose path ends with `name` (the working
    /// directory is not known).
    fn dropped_script(&self, now: u64, mnt: u32, name: &str) -> Option<String> {
        let live = |path: &String| self.drops.get(now, path).is_some_and(|d| d.mnt == mnt);
        if name.starts_with('/') {
            let path = name.to_string();
            return live(&path).then_some(path);
        }
        let rel = name.trim_start_matches("./");
        let file = rel.rsplit('/').next().filter(|f| !f.is_empty())?;
        let path = self.names.get(now, &file.to_string())?;
        let under = path.strip_suffix(rel).is_some_and(|dir| dir.ends_with('/'));
        (under && live(path)).then(|| path.clone())
    }

    /// The drop a shell reads as its standard input (`bash < x.sh`): fd 0
    /// a regular file (the exec's stdio block gives its inode) that is the
    /// file now at a recent drop's path in the shell's mount namespace,
    /// looked up through /proc/PID/root (the shell's view, a container's
    /// too), else the path itself once the shell is gone. The device is
    /// not in the stdio block: an inode and a drop within the window, in
    /// the same namespace, make a chance match negligible.
    fn stdin_drop(&self, now: u64, mnt: u32, p: &Process, x: &ExecBody) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let stdin = x.stdio.fds[0];
        if stdin.kind != FdType::File || stdin.inode == 0 {
            return None;
        }
        let inode = |path: &str| {
            std::fs::metadata(format!("/proc/{}/root{path}", p.pid))
                .or_else(|_| std::fs::metadata(path))
                .ok()
                .map(|m| m.ino())
        };
        self.drops
            .newest(now)
            .filter(|(_, d)| d.mnt == mnt)
            .take(STDIN_DROPS_MAX)
            .find(|(path, _)| inode(path) == Some(stdin.inode))
            .map(|(path, _)| path.clone())
    }

    /// The exec of `p` right after it, still a shell, dropped a file: the
    /// program it runs is the writer that counts. A download tool makes
    /// the drop come from the network (`curl … > x.sh`); a decoder marks
    /// its content as hidden (`base64 -d > x.sh`). Either way the exec
    /// joins the evidence, after the open.
    fn redirected(&mut self, now: u64, p: &Process, ev: &Event) {
        let Some(path) = self.redirects.remove(&(p.pid, p.start_ns)) else {
            return;
        };
        let name = name_of(p);
        let tool = self.download_tools.is_match(name);
        let decoder = DECODERS.contains(&name);
        let Some(d) = self.drops.get_mut(now, &path) else {
            return;
        };
        let recent = d
            .evidence
            .last()
            .is_some_and(|w| ev.time_ns.saturating_sub(w.time_ns) < REDIRECT_EXEC_NS);
        if d.writer.id != (p.pid, p.start_ns) || !recent || !(tool || decoder) {
            return;
        }
        d.from_network |= tool;
        if decoder {
            d.writer.decoder = Some(p.image.executable.clone());
        }
        if d.evidence.len() < 4 {
            d.evidence.push(Evidence::of(ev));
        }
    }

    /// The drop at `key` run by `ev` (`by`: the interpreter that ran it
    /// as its script; `script`: a script, not a program): the finding,
    /// scored.
    fn raise(
        &mut self,
        rule: Arc<RuleMeta>,
        key: String,
        by: Option<&str>,
        script: bool,
        ev: &Event,
        out: &mut Vec<Finding>,
    ) {
        let drop = self.drops.remove(&key).expect("present");
        let in_temp = TEMP_DIRS.iter().any(|d| key.starts_with(d));
        // The writer is the first program that wrote the file (the
        // one the severity scores); a later chmod +x by another
        // program is named too.
        let exe = |e: &Evidence| {
            e.executable
                .clone()
                .unwrap_or_else(|| "an unknown program".into())
        };
        let mut touches = drop.evidence.iter().filter(|e| e.action != "connect");
        let first = touches.next();
        let writer = match &drop.writer.decoder {
            Some(decoder) => format!("{decoder} (a shell's redirect)"),
            None => first.map_or_else(|| "an unknown program".into(), exe),
        };
        let chmod = touches
            .rfind(|e| e.action == "chmod")
            .map(exe)
            .filter(|c| *c != writer)
            .map_or_else(String::new, |c| format!(", made executable by {c}"));
        let (severity, reasons) = score(&drop, &writer, &key, in_temp, script, ev);
        let mut evidence = drop.evidence;
        evidence.push(Evidence::of(ev));
        let mut why = Vec::new();
        if drop.from_network {
            why.push("the writer downloads");
        }
        if in_temp {
            why.push("in a temporary directory");
        }
        out.push(Finding {
            rule: at_severity(&rule, severity),
            evidence,
            message: format!(
                "{key} written by {writer}{chmod} then {} pid {}{}",
                by.map_or_else(|| "executed by".into(), |i| format!("run by {i},")),
                ev.pid,
                if why.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", why.join(", "))
                }
            ),
            reasons,
            package: drop.writer.package,
            subject_hash: !script,
        });
    }

    pub(super) fn observe(&mut self, ev: &Event, ctx: &mut Context, out: &mut Vec<Finding>) {
        let now = ev.ktime_ns;
        let proc = ev.process.as_deref();
        let mnt = proc.and_then(|p| p.ns).map_or(0, |n| n.mnt);
        let tracking = self.rule.is_some();
        match &ev.body {
            Body::Net(n) if tracking && n.op == NetOp::Connect && n.remote.is_some() => {
                if let Some(p) = proc {
                    self.connects
                        .insert(now, (p.pid, p.start_ns), Evidence::of(ev));
                }
            }
            Body::File(f)
                if tracking && f.result >= 0 && drops_file(f.op, f.open_flags, f.mode) =>
            {
                let id = proc.map_or((ev.pid, 0), |p| (p.pid, p.start_ns));
                if let Some(d) = self.drops.get_mut(now, &f.path)
                    && d.mnt == mnt
                {
                    let overwrite = f.op != FileOp::Chmod && d.writer.id != id;
                    if !(overwrite && d.writer.benign()) {
                        // A chmod +x after the write: part of the same drop.
                        if f.op == FileOp::Chmod && d.evidence.len() < 4 {
                            d.evidence.push(Evidence::of(ev));
                        }
                        return;
                    }
                }
                let connected = proc.and_then(|p| self.connects.get(now, &(p.pid, p.start_ns)));
                let tool = proc.is_some_and(|p| self.download_tools.is_match(name_of(p)));
                let mut evidence: Vec<Evidence> = connected.cloned().into_iter().collect();
                evidence.push(Evidence::of(ev));
                // A link or rename of a compiler's fresh output (cargo
                // linking what rustc built into place, `mv a.out x`) is
                // still that output.
                let from = match f.op {
                    FileOp::Link => f.target_path.as_deref(),
                    FileOp::Rename => f.original_path.as_deref(),
                    _ => None,
                };
                let built = from
                    .and_then(|src| self.drops.get(now, &src.to_string()))
                    .is_some_and(|d| d.writer.compiler);
                let writer = Writer {
                    id,
                    creds: proc.and_then(|p| p.creds),
                    package: ctx.package_op(proc),
                    compiler: built || proc.is_some_and(|p| ctx.is_compiler(p)),
                    decoder: None,
                };
                if proc.is_some_and(|p| SHELLS.contains(&super::exe_name_of(p))) {
                    self.redirects.insert(now, id, f.path.clone());
                }
                if let Some((_, name)) = f.path.rsplit_once('/') {
                    self.names.insert(now, name.to_string(), f.path.clone());
                }
                self.drops.insert(
                    now,
                    f.path.clone(),
                    Drop {
                        evidence,
                        from_network: tool || connected.is_some(),
                        mnt,
                        writer,
                    },
                );
            }
            Body::Exec(x) => {
                if tracking && let Some(p) = proc {
                    self.redirected(now, p, ev);
                }
                let exe = proc.map_or("", |p| p.image.exe.as_str());
                if let Some(rule) = &self.fileless
                    && (exe.starts_with("memfd:") || exe.starts_with("/memfd:"))
                    && !self.fileless_allow.is_match(exe)
                {
                    out.push(Finding {
                        rule: rule.clone(),
                        evidence: vec![Evidence::of(ev)],
                        message: format!(
                            "Program run from memory ({exe}) as {} by pid {}",
                            x.image.executable, ev.pid
                        ),
                        reasons: vec![format!(
                            "executed from memfd {exe}, not on detections.fileless_allow"
                        )],
                        package: None,
                        subject_hash: false,
                    });
                    return;
                }
                let Some(rule) = &self.rule else {
                    return;
                };
                // The program as run, or the file the kernel ran (a symlink
                // to the drop runs it too).
                let key = [x.image.executable.as_str(), exe]
                    .into_iter()
                    .find(|k| {
                        !k.is_empty()
                            && self
                                .drops
                                .get(now, &k.to_string())
                                .is_some_and(|d| d.mnt == mnt)
                    })
                    .map(str::to_string);
                // The interpreter, and whether it is a shell (a hard link
                // to bash is bash: named by the system copy's inode).
                let interp =
                    proc.and_then(|p| ctx.interpreter(p).map(|name| (p, SHELLS.contains(&name))));
                let interpreter = interp.map(|(p, _)| p);
                let (key, by) = match (key, interp) {
                    (Some(key), _) => (key, None),
                    (None, Some((p, shell))) => match script_of(&x.image.args, shell) {
                        Script::File(name) => match self.dropped_script(now, mnt, name) {
                            Some(key) => (key, Some(p.image.exe.clone())),
                            None => return,
                        },
                        Script::Stdin => match self.stdin_drop(now, mnt, p, x) {
                            Some(key) => (
                                key,
                                Some(format!("{} (as its standard input)", p.image.exe)),
                            ),
                            None => {
                                if shell {
                                    self.piped(ev, x, None, out);
                                }
                                return;
                            }
                        },
                        // python3 -c 'print(…)', perl -e: code from the
                        // command line, whose output may feed a shell.
                        Script::Other if !shell => {
                            self.piped(ev, x, Some(Feed::Generator), out);
                            return;
                        }
                        _ => return,
                    },
                    (None, None) => {
                        let feed = proc.and_then(|p| {
                            let name = name_of(p);
                            if self.download_tools.is_match(name) {
                                Some(Feed::Download)
                            } else if ENCODINGS.contains(&name) {
                                Some(Feed::Decoder)
                            } else if DECODERS.contains(&name) {
                                Some(Feed::Generator)
                            } else {
                                None
                            }
                        });
                        if feed.is_some() {
                            self.piped(ev, x, feed, out);
                        }
                        return;
                    }
                };
                let script = by.is_some() || interpreter.is_some_and(|p| p.image.executable == key);
                self.raise(rule.clone(), key, by.as_deref(), script, ev, out);
            }
            // A script without #!: the kernel refused it (ENOEXEC) and
            // the shell that tried runs it itself, in the same process.
            Body::File(f)
                if f.op == FileOp::ExecRefused && f.result == -ENOEXEC && self.rule.is_some() =>
            {
                let Some(p) = proc.filter(|p| SHELLS.contains(&super::exe_name_of(p))) else {
                    return;
                };
                if self.drops.get(now, &f.path).is_none_or(|d| d.mnt != mnt) {
                    return;
                }
                let rule = self.rule.clone().expect("checked");
                let by = format!("{} (the kernel refused it: no #!)", p.image.exe);
                self.raise(rule, f.path.clone(), Some(&by), true, ev, out);
            }
            _ => {}
        }
    }
}

/// The severity of a drop run by `ev`, and the facts that set it.
///
/// Critical when the writer downloads and the file is in a temporary
/// directory, high for one of the two, medium for neither; but low, when
/// nothing came from the network, for a program a compiler or linker
/// wrote, or a script, run in the writer's own login session (a
/// developer's build, an admin's script). A packaged file is lowered by
/// the detector with every other finding of a package operation (the
/// writer's is in `Finding::package`).
fn score(
    drop: &Drop,
    writer: &str,
    key: &str,
    in_temp: bool,
    script: bool,
    ev: &Event,
) -> (Severity, Vec<String>) {
    let mut reasons = Vec::new();
    let first = drop.evidence.iter().find(|e| e.action != "connect");
    let secs = first.map_or(0, |w| ev.time_ns.saturating_sub(w.time_ns) / 1_000_000_000);
    reasons.push(format!(
        "{key} written by {writer} and executed {secs} s later"
    ));
    if drop.from_network {
        match drop.evidence.first().filter(|e| e.action == "connect") {
            Some(c) => reasons.push(format!(
                "the writer connected to {} before writing",
                c.destination
                    .map_or_else(|| "a remote address".into(), |d| d.to_string())
            )),
            None => reasons.push(format!(
                "the writer {writer} is a download tool (detections.download_tools)"
            )),
        }
    }
    reasons.push(if in_temp {
        "in a world-writable temporary directory".to_string()
    } else {
        "not in a temporary directory".to_string()
    });
    let proc = ev.process.as_deref();
    let session = same_session(drop.writer.creds, proc.and_then(|p| p.creds));
    if let Some(decoder) = &drop.writer.decoder {
        reasons.push(format!(
            "decoded by {decoder} through the writing shell's redirect: its content was hidden"
        ));
    }
    if !drop.from_network
        && drop.writer.decoder.is_none()
        && let Some(session) = session
        && (drop.writer.compiler || script)
    {
        let what = if drop.writer.compiler {
            "a program a compiler or linker built".to_string()
        } else {
            "a script".to_string()
        };
        reasons.push(format!("{what}, run by {session}, nothing downloaded"));
        return (Severity::Low, reasons);
    }
    let severity = match (drop.from_network, in_temp) {
        (true, true) => Severity::Critical,
        (true, false) | (false, true) => Severity::High,
        (false, false) => Severity::Medium,
    };
    if drop.writer.package.is_none() && (drop.writer.compiler || script) {
        reasons.push(match session {
            Some(_) => "built or scripted, but the writer downloads".to_string(),
            None => {
                "built or scripted, but not run by the session or user that wrote it".to_string()
            }
        });
    }
    (severity, reasons)
}
