//! `bench --auditd`: the same workloads beside auditd (Debian's package)
//! with rules equivalent to what rand-guard watches, since auditd is what
//! users compare an EDR agent against.
//!
//! Why it refuses to run without [`CONSENT_FLAG`]: once audit has been
//! enabled in a boot, the kernel gives every task created afterwards an
//! audit context (`audit_alloc` tests `audit_ever_enabled`, which never
//! goes back to 0), so every later process takes the syscall audit path,
//! rules or not, until reboot. On a shared machine that slows everyone and
//! spoils every later measurement, ours included. So: run it last in a
//! boot. The without-agent runs it is compared with all happen before audit
//! is first enabled, and a marker file records that this boot had audit on.
//!
//! Afterwards, if audit was off before, the bench leaves one rule behind:
//! `-a never,task`, which makes `audit_alloc` give tasks created from then
//! on no audit context, so they take the fast syscall path again (measured
//! on this VM: a getppid loop in a new process, 450 ns per call with audit
//! ever enabled, 250 ns with the rule, as before audit ran). Processes
//! created while audit was on stay slow until they exit. With the rule in
//! place [`tainted_this_boot`] reports the boot as clean; without it, later
//! benchmarks warn.
//!
//! The storms run in a child process created after audit is enabled (see
//! `bench::child`): a process that existed before is never audited. A
//! daemon the bench starts itself writes to its own log
//! ([`LOG_DIR`], never rotated while it runs), so the log bytes per
//! workload are exact.
//!
//! Equivalent rules ([`rules`]): exec, fork and exit of every process (the
//! agent's three process hooks), and the file syscalls the agent hooks
//! (src/kernel HOOKS) under the watched prefixes with write or
//! attribute intent (`perm=wa`: opens are judged by their flags, as the
//! agent judges them), longest prefix first so excludes inside includes
//! behave as in the agent. Differences that remain: audit's `clone` rule
//! also sees new threads (the agent ignores them), and an open with
//! O_CREAT or O_TRUNC on a read-only descriptor counts for the agent but
//! not for `perm=w`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::bench::{self, Options, Workload};
use crate::workload;

pub const CONSENT_FLAG: &str = "--i-understand-auditd-taints-this-boot";

/// Holds the boot id of a boot in which the bench enabled audit.
pub const TAINT_MARKER: &str = "/var/tmp/rand-guard-bench-audit-taint";

/// The log of an auditd the bench starts (its own configuration directory
/// beside it): one file, no rotation, so its growth is what was written.
pub const LOG_DIR: &str = "/var/lib/rg-bench-audit";

/// The task rule that keeps new tasks off the audit path, as `auditctl -l`
/// lists it.
const NEVER_TASK: &str = "-a never,task";

/// Every rule carries one of these keys, so exactly our rules are removed.
pub const KEYS: &[&str] = &[
    "rg-bench-exec",
    "rg-bench-fork",
    "rg-bench-exit",
    "rg-bench-file",
];

/// The syscalls rand-guard's file programs hook: src/kernel HOOKS
/// (a test checks the two lists agree).
pub const FILE_SYSCALLS: &[&str] = &[
    "openat",
    "unlinkat",
    "renameat2",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchownat",
    "linkat",
    "symlinkat",
    "open",
    "creat",
    "unlink",
    "rmdir",
    "rename",
    "renameat",
    "chmod",
    "chown",
    "lchown",
    "link",
    "symlink",
    "openat2",
    "fchmodat2",
    "open_by_handle_at",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "setxattrat",
    "removexattrat",
];

/// The process lifecycle, as the agent's exec, fork and exit tracepoints
/// see it: (rule key, syscalls).
pub const PROCESS_SYSCALLS: &[(&str, &[&str])] = &[
    ("rg-bench-exec", &["execve", "execveat"]),
    ("rg-bench-fork", &["clone", "clone3", "fork", "vfork"]),
    ("rg-bench-exit", &["exit", "exit_group"]),
];

/// ` -S N -S M ...` for the syscalls this architecture has, and a comment
/// naming them.
fn syscall_args(names: &[&str]) -> (String, String) {
    let have: Vec<(&str, i64)> = names
        .iter()
        .filter_map(|n| crate::syscalls::nr(n).map(|nr| (*n, nr)))
        .collect();
    let args: String = have.iter().map(|(_, nr)| format!(" -S {nr}")).collect();
    let names: Vec<&str> = have.iter().map(|(n, _)| *n).collect();
    (args, names.join(" "))
}

/// The auditctl rules (one per line, as `auditctl -R` reads them) that
/// watch what the agent watches, for the watched prefixes `include` minus
/// `exclude` (already resolved: see [`resolve_prefixes`]).
pub fn rules(include: &[String], exclude: &[String]) -> Vec<String> {
    let arch = if cfg!(target_pointer_width = "64") {
        "b64"
    } else {
        "b32"
    };
    let mut out = vec![
        "## rand-guard bench: auditd rules equivalent to what the agent watches (generated by xtask)".to_string(),
        // Debian's default backlog; the bench restores the previous value.
        "-b 8192".to_string(),
    ];
    for (key, names) in PROCESS_SYSCALLS {
        let (args, comment) = syscall_args(names);
        out.push(format!("## {comment}"));
        out.push(format!("-a always,exit -F arch={arch}{args} -k {key}"));
    }
    // The agent's rule: the longest matching prefix decides, and an
    // exclude equal to an include wins. Audit stops at the first matching
    // rule of the exit list, so longest first gives the same answer.
    let mut prefixes: Vec<(&str, bool)> = include
        .iter()
        .filter(|p| !exclude.contains(p))
        .map(|p| (p.as_str(), true))
        .chain(exclude.iter().map(|p| (p.as_str(), false)))
        .collect();
    prefixes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(b.0)));
    prefixes.dedup();
    let (args, comment) = syscall_args(FILE_SYSCALLS);
    out.push(format!("## file syscalls: {comment}"));
    for (p, watched) in prefixes {
        out.push(if watched {
            format!("-a always,exit -F arch={arch}{args} -F dir={p} -F perm=wa -k rg-bench-file")
        } else {
            format!("-a never,exit -F arch={arch}{args} -F dir={p} -k rg-bench-file")
        });
    }
    out
}

/// The prefixes as `-F dir=` can take them: audit watches an existing
/// directory tree, by its real path. A missing prefix is skipped, and a
/// symlinked one (/bin on a merged-/usr system) becomes its target,
/// unless that is watched already. Returns the list and notes on what
/// was changed.
pub fn resolve_prefixes(prefixes: &[String]) -> (Vec<String>, Vec<String>) {
    let mut out: Vec<String> = Vec::new();
    let mut notes = Vec::new();
    for p in prefixes {
        match fs::canonicalize(p) {
            Ok(real) if real.is_dir() => {
                let real = real.to_string_lossy().into_owned();
                if &real != p {
                    notes.push(format!("{p} is {real}"));
                }
                if !out.contains(&real) {
                    out.push(real);
                }
            }
            Ok(_) => notes.push(format!("{p} skipped: not a directory")),
            Err(e) => notes.push(format!("{p} skipped: {e}")),
        }
    }
    (out, notes)
}

/// `[file] include` and `exclude` from `rand-guard check-config` output.
pub fn prefixes_from_config(text: &str) -> Result<(Vec<String>, Vec<String>), String> {
    let t: toml::Table = toml::from_str(text).map_err(|e| format!("check-config output: {e}"))?;
    let list = |k: &str| -> Vec<String> {
        t.get("file")
            .and_then(|f| f.get(k))
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let include = list("include");
    if include.is_empty() {
        return Err("check-config output has no [file] include".into());
    }
    Ok((include, list("exclude")))
}

/// `auditctl -s` as key → value ("enabled 1", "lost 0", ...).
pub fn parse_status(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.to_string()))
        })
        .collect()
}

fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn find_tool(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

/// Why this boot's measurements are not clean, if audit has been on.
pub fn tainted_this_boot() -> Option<String> {
    let id = boot_id();
    if !id.is_empty()
        && fs::read_to_string(TAINT_MARKER).is_ok_and(|m| m.trim() == id)
        && !never_task_installed()
    {
        return Some(format!(
            "`bench --auditd` enabled audit in this boot ({TAINT_MARKER}) and no \
             `{NEVER_TASK}` rule keeps new processes off the audit path"
        ));
    }
    if fs::read_to_string("/proc/cmdline")
        .is_ok_and(|c| c.split_whitespace().any(|w| w == "audit=1"))
    {
        return Some("the kernel was booted with audit=1".into());
    }
    let auditctl = find_tool("auditctl")?;
    let out = Command::new(auditctl).arg("-s").output().ok()?;
    let st = parse_status(&String::from_utf8_lossy(&out.stdout));
    match st.get("enabled").map(String::as_str) {
        Some("1" | "2") => Some("audit is enabled now (auditctl -s)".into()),
        _ => None,
    }
}

/// Whether the audit rules hold exactly the task rule that gives new tasks
/// no audit context (see the module's comment).
fn never_task_installed() -> bool {
    let Some(auditctl) = find_tool("auditctl") else {
        return false;
    };
    Command::new(auditctl).arg("-l").output().is_ok_and(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.trim() == NEVER_TASK)
    })
}

fn run(c: &mut Command) -> Result<String, String> {
    let out = c
        .output()
        .map_err(|e| format!("{}: {e}", crate::describe(c)))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            crate::describe(c),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Install Debian's auditd if it is missing, without starting it: the
/// package's scripts would start the daemon (and so enable audit) at
/// install time, before the baselines are measured. A policy-rc.d that
/// refuses every start is the Debian way to say so.
fn ensure_installed() -> Result<(), String> {
    if find_tool("auditctl").is_some() && find_tool("auditd").is_some() {
        return Ok(());
    }
    let guard = Path::new("/usr/sbin/policy-rc.d");
    let ours = !guard.exists();
    if ours {
        fs::write(
            guard,
            "#!/bin/sh\n# rand-guard bench: install auditd without starting it\nexit 101\n",
        )
        .map_err(|e| format!("{}: {e}", guard.display()))?;
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(guard, fs::Permissions::from_mode(0o755));
    }
    eprintln!(
        "bench: installing auditd (not started: {})",
        guard.display()
    );
    let res = run(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", "auditd"])
        .env("DEBIAN_FRONTEND", "noninteractive"));
    if ours {
        let _ = fs::remove_file(guard);
    }
    res.map(|_| ())
}

/// What to load, worked out before anything is measured.
pub struct Plan {
    pub rules_file: PathBuf,
    pub rules: Vec<String>,
    pub notes: Vec<String>,
}

/// Install auditd if needed and write the rules, before any measurement.
pub fn prepare(bin: &Path, agent_config: &str, scratch: &Path) -> Result<Plan, String> {
    ensure_installed()?;
    plan(bin, agent_config, scratch)
}

/// The rules for the agent's effective configuration (`rand-guard
/// check-config` of `agent_config`), written to `scratch/rg-bench.rules`.
/// Touches nothing of audit's.
pub fn plan(bin: &Path, agent_config: &str, scratch: &Path) -> Result<Plan, String> {
    fs::create_dir_all(scratch).map_err(|e| e.to_string())?;
    let cfg = scratch.join("auditd-equivalent.toml");
    fs::write(&cfg, agent_config).map_err(|e| e.to_string())?;
    let text = run(Command::new(bin)
        .arg("check-config")
        .arg("--config")
        .arg(&cfg))?;
    let (include, exclude) = prefixes_from_config(&text)?;
    let (include, mut notes) = resolve_prefixes(&include);
    let (exclude, more) = resolve_prefixes(&exclude);
    notes.extend(more);
    let rules = rules(&include, &exclude);
    let rules_file = scratch.join("rg-bench.rules");
    fs::write(&rules_file, rules.join("\n") + "\n").map_err(|e| e.to_string())?;
    Ok(Plan {
        rules_file,
        rules,
        notes,
    })
}

/// auditd running with our rules; undone on drop (also on a panic, so a
/// failed run does not leave the machine auditing everything).
pub struct Session {
    auditctl: PathBuf,
    /// The daemon, if this session started it (else it was running).
    started: Option<u32>,
    daemon: Option<u32>,
    prev_enabled: String,
    prev_backlog: String,
    /// The daemon's own log, when this session started it.
    log: Option<PathBuf>,
    done: bool,
}

/// A configuration directory for a daemon the bench starts: the system's
/// auditd.conf with the log moved to [`LOG_DIR`] and never rotated.
fn private_config(scratch: &Path) -> Result<PathBuf, String> {
    let system = fs::read_to_string("/etc/audit/auditd.conf").unwrap_or_default();
    let ours = ["log_file", "max_log_file_action", "num_logs"];
    let mut conf: Vec<String> = system
        .lines()
        .filter(|l| !ours.contains(&l.split('=').next().unwrap_or("").trim()))
        .map(str::to_string)
        .collect();
    conf.push(format!("log_file = {LOG_DIR}/audit.log"));
    conf.push("max_log_file_action = ignore".into());
    let dir = scratch.join("auditd-conf");
    for d in [dir.as_path(), Path::new(LOG_DIR)] {
        fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let _ = fs::remove_file(Path::new(LOG_DIR).join("audit.log"));
    let file = dir.join("auditd.conf");
    fs::write(&file, conf.join("\n") + "\n").map_err(|e| format!("{}: {e}", file.display()))?;
    use std::os::unix::fs::PermissionsExt;
    // auditd refuses a configuration others may write.
    let _ = fs::set_permissions(&file, fs::Permissions::from_mode(0o640));
    Ok(dir)
}

fn daemon_pid() -> Option<u32> {
    ["/run/auditd.pid", "/var/run/auditd.pid"]
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .filter_map(|s| s.trim().parse::<u32>().ok())
        .find(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "auditd")
        })
}

/// The kernel thread that hands records to auditd: its CPU is audit's too.
fn kauditd_pid() -> Option<u32> {
    fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = fs::read_to_string(e.path().join("comm")).ok()?;
        (comm.trim() == "kauditd").then_some(pid)
    })
}

impl Session {
    pub fn start(plan: &Plan, scratch: &Path) -> Result<Session, String> {
        let auditctl = find_tool("auditctl").ok_or("auditctl not found")?;
        // First, so that even a failure below leaves the warning behind.
        fs::write(TAINT_MARKER, boot_id() + "\n").map_err(|e| format!("{TAINT_MARKER}: {e}"))?;
        let st = parse_status(&run(Command::new(&auditctl).arg("-s"))?);
        let get = |k: &str| st.get(k).cloned().unwrap_or_else(|| "0".into());
        let mut s = Session {
            auditctl,
            started: None,
            daemon: daemon_pid(),
            prev_enabled: get("enabled"),
            prev_backlog: get("backlog_limit"),
            log: None,
            done: false,
        };
        // An earlier comparison's rule would keep the storms unaudited.
        if never_task_installed() {
            run(Command::new(&s.auditctl).args(["-d", "never,task"]))?;
        }
        if s.daemon.is_none() {
            // auditd forks into the background and writes its pid file.
            let auditd = find_tool("auditd").ok_or("auditd not found")?;
            let conf = private_config(scratch)?;
            run(Command::new(auditd).arg("-c").arg(&conf))?;
            s.log = Some(Path::new(LOG_DIR).join("audit.log"));
            let deadline = Instant::now() + Duration::from_secs(10);
            while s.daemon.is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
                s.daemon = daemon_pid();
            }
            s.started = Some(s.daemon.ok_or("auditd did not write its pid file")?);
        }
        run(Command::new(&s.auditctl).arg("-R").arg(&plan.rules_file))?;
        run(Command::new(&s.auditctl).args(["-e", "1"]))?;
        Ok(s)
    }

    /// CPU seconds of auditd and kauditd so far.
    pub fn cpu_seconds(&self) -> f64 {
        [self.daemon, kauditd_pid()]
            .into_iter()
            .flatten()
            .map(crate::agent::proc_cpu_seconds)
            .sum()
    }

    /// Bytes in the daemon's log so far, when it is the bench's own (a
    /// system daemon's log rotates, so its growth cannot be told).
    pub fn log_bytes(&self) -> Option<u64> {
        self.log
            .as_ref()
            .map(|l| fs::metadata(l).map_or(0, |m| m.len()))
    }

    /// Records the kernel dropped (backlog full or rate limit).
    pub fn lost(&self) -> u64 {
        run(Command::new(&self.auditctl).arg("-s"))
            .ok()
            .and_then(|t| parse_status(&t).get("lost")?.parse().ok())
            .unwrap_or(0)
    }

    pub fn stop(mut self) {
        self.undo();
    }

    fn undo(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        for key in KEYS {
            let _ = run(Command::new(&self.auditctl).args(["-D", "-k", key]));
        }
        let _ = run(Command::new(&self.auditctl).args(["-b", &self.prev_backlog]));
        let _ = run(Command::new(&self.auditctl).args(["-e", &self.prev_enabled]));
        // Nobody used audit before: keep tasks created from now on off the
        // audit path (the module's comment).
        if self.prev_enabled == "0" && !never_task_installed() {
            let _ = run(Command::new(&self.auditctl).args(["-a", "never,task"]));
        }
        if let Some(pid) = self.started {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.undo();
    }
}

/// One workload beside auditd.
pub struct Outcome {
    pub name: &'static str,
    pub label: String,
    /// with auditd / the same pair's run without anything.
    pub ratios: Vec<f64>,
    pub cpu_ratios: Vec<f64>,
    pub daemon_cpu: f64,
    pub lost: u64,
    pub log_bytes: Option<u64>,
}

/// Run each workload `o.pairs` times beside auditd, in a process created
/// after audit was enabled (`bench::child`); ratios against the
/// without-agent runs in `base` (same order as `workloads`).
pub fn measure(
    s: &Session,
    workloads: &[Workload],
    base: &[bench::Outcome],
    o: &Options,
) -> Result<Vec<Outcome>, String> {
    let mut out = Vec::new();
    for (w, b) in workloads.iter().zip(base) {
        let (cpu0, lost0, log0) = (s.cpu_seconds(), s.lost(), s.log_bytes());
        eprintln!(
            "bench: auditd: {}: {} runs in a child process",
            w.label, o.pairs
        );
        let costs = bench::in_child(w.name, o.pairs, o)?;
        let mut r = Outcome {
            name: w.name,
            label: w.label.clone(),
            ratios: Vec::new(),
            cpu_ratios: Vec::new(),
            daemon_cpu: 0.0,
            lost: 0,
            log_bytes: None,
        };
        for (i, c) in costs.iter().enumerate() {
            let ratio = c.wall.as_secs_f64() / b.base[i].as_secs_f64();
            let cpu_ratio = c.cpu.as_secs_f64() / b.base_cpu[i].as_secs_f64();
            eprintln!(
                "bench: auditd: {} run {}/{}: wall ratio {ratio:.3}, workload CPU ratio {cpu_ratio:.3}",
                w.label,
                i + 1,
                o.pairs
            );
            r.ratios.push(ratio);
            r.cpu_ratios.push(cpu_ratio);
        }
        r.daemon_cpu = s.cpu_seconds() - cpu0;
        r.lost = s.lost().saturating_sub(lost0);
        r.log_bytes = s
            .log_bytes()
            .zip(log0)
            .map(|(now, then)| now.saturating_sub(then));
        out.push(r);
    }
    Ok(out)
}

/// The paced exec workload beside auditd: auditd + kauditd CPU as a
/// percentage of one core, per run.
pub fn paced_exec(s: &Session, o: &Options) -> Vec<f64> {
    (0..o.pairs)
        .map(|_| {
            let mut pacer = workload::ExecPacer::new();
            let cpu0 = s.cpu_seconds();
            let p = workload::pace(
                Some(o.exec_rate),
                Duration::from_secs_f64(o.exec_seconds),
                workload::self_and_children_cpu,
                || pacer.op(),
                |_| {},
            );
            pacer.finish();
            std::thread::sleep(Duration::from_secs(1));
            (s.cpu_seconds() - cpu0) / p.elapsed().as_secs_f64() * 100.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn file_syscalls_match_the_agents_hooks() {
        // The agent's list, from its source: every `file("name", ...)`,
        // but execve and execveat (the file family reports only their
        // ENOEXEC refusals; the exec rule audits every exec already).
        let src = include_str!("../../src/kernel/hooks.rs");
        let execs = PROCESS_SYSCALLS[0].1;
        let mut hooked: Vec<&str> = src
            .split("file(\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .filter(|name| !execs.contains(name))
            .collect();
        hooked.sort();
        hooked.dedup();
        let mut ours = FILE_SYSCALLS.to_vec();
        ours.sort();
        assert_eq!(ours, hooked, "FILE_SYSCALLS must be src/kernel HOOKS");
        for p in ["edr_exec", "edr_fork", "edr_exit"] {
            assert!(src.contains(&format!("process(\"{p}\")")), "{p}");
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn rules_for_the_default_prefixes() {
        let include = s(&["/etc", "/root", "/usr/bin"]);
        let r = rules(&include, &[]);
        assert_eq!(r[1], "-b 8192");
        assert_eq!(r[2], "## execve execveat");
        assert_eq!(
            r[3],
            "-a always,exit -F arch=b64 -S 59 -S 322 -k rg-bench-exec"
        );
        assert_eq!(
            r[5],
            "-a always,exit -F arch=b64 -S 56 -S 435 -S 57 -S 58 -k rg-bench-fork"
        );
        assert_eq!(
            r[7],
            "-a always,exit -F arch=b64 -S 60 -S 231 -k rg-bench-exit"
        );
        let file: Vec<&String> = r.iter().filter(|l| l.contains("rg-bench-file")).collect();
        assert_eq!(file.len(), 3);
        // Longest first; every file syscall of x86-64, openat (257) among them.
        assert!(file[0].contains("-F dir=/usr/bin -F perm=wa"));
        assert!(file[1].contains("-F dir=/root -F perm=wa"));
        assert!(file[2].contains("-F dir=/etc -F perm=wa"));
        assert_eq!(file[0].matches(" -S ").count(), FILE_SYSCALLS.len());
        assert!(file[0].contains(" -S 257 ") && file[0].contains(" -S 452 "));
        assert!(
            file.iter()
                .all(|l| l.starts_with("-a always,exit -F arch=b64"))
        );
        // Comments are for people; auditctl skips lines starting with #.
        assert!(r.iter().all(|l| l.starts_with("-") || l.starts_with("##")));
    }

    #[test]
    fn excludes_come_before_the_includes_they_cut() {
        let r = rules(
            &s(&["/etc", "/etc/ssl/private", "/var"]),
            &s(&["/etc/ssl", "/var"]),
        );
        let file: Vec<String> = r
            .iter()
            .filter(|l| l.contains("-F dir="))
            .map(|l| {
                let dir = l
                    .split("-F dir=")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap();
                let verdict = if l.starts_with("-a never") {
                    "never"
                } else {
                    "always"
                };
                format!("{verdict} {dir}")
            })
            .collect();
        // /var is excluded outright (an exclude equal to an include wins);
        // /etc/ssl/private is watched again inside the excluded /etc/ssl.
        assert_eq!(
            file,
            [
                "always /etc/ssl/private",
                "never /etc/ssl",
                "always /etc",
                "never /var"
            ]
        );
    }

    #[test]
    fn prefixes_are_resolved_for_audit() {
        let base = std::env::temp_dir().join(format!("xtask-auditd-{}", std::process::id()));
        let real = base.join("real");
        fs::create_dir_all(&real).unwrap();
        let link = base.join("link");
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let (r, p, m) = (
            real.to_string_lossy().into_owned(),
            link.to_string_lossy().into_owned(),
            base.join("missing").to_string_lossy().into_owned(),
        );
        let (out, notes) = resolve_prefixes(&[r.clone(), p.clone(), m.clone()]);
        assert_eq!(
            out,
            vec![
                fs::canonicalize(&real)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            ]
        );
        assert!(notes.iter().any(|n| n.starts_with(&p)), "{notes:?}");
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with(&m) && n.contains("skipped")),
            "{notes:?}"
        );
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn config_and_status_are_parsed() {
        let text = "# configuration OK: /x\n[output]\npath = \"-\"\n\n[file]\nenabled = true\ninclude = [\"/etc\", \"/root\"]\nexclude = []\n";
        let (inc, exc) = prefixes_from_config(text).unwrap();
        assert_eq!(inc, s(&["/etc", "/root"]));
        assert!(exc.is_empty());
        assert!(prefixes_from_config("[file]\n").is_err());
        let st = parse_status(
            "enabled 1\nfailure 1\npid 812\nrate_limit 0\nbacklog_limit 8192\nlost 17\nbacklog 0\nloginuid_immutable 0 unlocked\n",
        );
        assert_eq!(st["enabled"], "1");
        assert_eq!(st["lost"], "17");
        assert_eq!(st["backlog_limit"], "8192");
    }
}
