//! The kernel side from userspace: open the BPF object, set the rodata
//! config and map sizes, load, attach program by program, and read the
//! kernel counters.
//!
//! Errors name the program and carry the kernel's reason (the verifier's
//! last lines for a load failure), because "Permission denied" alone does
//! not tell an operator which hook their kernel refused.

use std::mem::MaybeUninit;
use std::sync::Mutex;

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use std::os::fd::{AsFd, AsRawFd};

use libbpf_rs::{Link, MapCore, MapFlags, OpenObject, PrintLevel, TracepointCategory};

use crate::abi::{KStats, PrefixKey};
use crate::bpf::{EdrSkel, EdrSkelBuilder};

/// What the loader needs from the configuration.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub ring_buffer_bytes: u32,
    pub wakeup_bytes: u32,
    /// The agent's own process id: the kernel never reports it.
    pub agent_tgid: u32,
    /// Load the file programs at all.
    pub file: bool,
    /// Report failed file operations instead of counting them.
    pub report_failed: bool,
    /// Kernel path-prefix filter entries (see `filter::PrefixRules`).
    pub prefixes: Vec<(PrefixKey, u8)>,
}

/// Program families; a disabled family's programs are not even loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Process,
    File,
}

/// Where a program attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    /// The program's own section names its attach point (tp_btf).
    Auto,
    /// The exit tracepoint of a syscall (syscalls/sys_exit_<name>); `id`
    /// is the EDR_SYS_* value the program dispatches on.
    SyscallExit { name: &'static str, id: u16 },
}

/// One attach point: a program and where it hooks.
#[derive(Debug)]
pub struct Hook {
    pub program: &'static str,
    pub family: Family,
    pub attach: Attach,
    /// Required hooks end start-up when they fail; optional ones are
    /// skipped with a warning (the syscall does not exist on every kernel
    /// or architecture).
    pub required: bool,
}

const fn process(program: &'static str) -> Hook {
    Hook {
        program,
        family: Family::Process,
        attach: Attach::Auto,
        required: true,
    }
}

const fn file(name: &'static str, id: u16, required: bool) -> Hook {
    Hook {
        program: "edr_file",
        family: Family::File,
        attach: Attach::SyscallExit { name, id },
        required,
    }
}

/// Every attach point. A test checks the programs against the object;
/// the ids are `abi::file_syscall` (checked against the BTF there).
pub const HOOKS: &[Hook] = &[
    process("edr_exec"),
    process("edr_fork"),
    process("edr_exit"),
    file("openat", 2, true),
    file("unlinkat", 6, true),
    file("renameat2", 10, true),
    file("fchmod", 12, true),
    file("fchmodat", 13, true),
    file("fchown", 17, true),
    file("fchownat", 18, true),
    file("linkat", 20, true),
    file("symlinkat", 22, true),
    // Legacy: x86-64 has them, arm64 and newer ABIs do not.
    file("open", 1, false),
    file("creat", 4, false),
    file("unlink", 5, false),
    file("rmdir", 7, false),
    file("rename", 8, false),
    file("renameat", 9, false),
    file("chmod", 11, false),
    file("chown", 15, false),
    file("lchown", 16, false),
    file("link", 19, false),
    file("symlink", 21, false),
    // Newer: openat2 since Linux 5.6, fchmodat2 since 6.6.
    file("openat2", 3, false),
    file("fchmodat2", 14, false),
];

pub fn family_of(program: &str) -> Option<Family> {
    HOOKS
        .iter()
        .find(|h| h.program == program)
        .map(|h| h.family)
}

/// This architecture's number of a hooked syscall, if it has the syscall.
pub fn syscall_nr(name: &str) -> Option<i64> {
    use libc as c;
    let nr = match name {
        "openat" => c::SYS_openat,
        "openat2" => c::SYS_openat2,
        "unlinkat" => c::SYS_unlinkat,
        "renameat2" => c::SYS_renameat2,
        "fchmod" => c::SYS_fchmod,
        "fchmodat" => c::SYS_fchmodat,
        "fchmodat2" => c::SYS_fchmodat2,
        "fchown" => c::SYS_fchown,
        "fchownat" => c::SYS_fchownat,
        "linkat" => c::SYS_linkat,
        "symlinkat" => c::SYS_symlinkat,
        #[cfg(target_arch = "x86_64")]
        "open" => c::SYS_open,
        #[cfg(target_arch = "x86_64")]
        "creat" => c::SYS_creat,
        #[cfg(target_arch = "x86_64")]
        "unlink" => c::SYS_unlink,
        #[cfg(target_arch = "x86_64")]
        "rmdir" => c::SYS_rmdir,
        #[cfg(target_arch = "x86_64")]
        "rename" => c::SYS_rename,
        #[cfg(target_arch = "x86_64")]
        "renameat" => c::SYS_renameat,
        #[cfg(target_arch = "x86_64")]
        "chmod" => c::SYS_chmod,
        #[cfg(target_arch = "x86_64")]
        "chown" => c::SYS_chown,
        #[cfg(target_arch = "x86_64")]
        "lchown" => c::SYS_lchown,
        #[cfg(target_arch = "x86_64")]
        "link" => c::SYS_link,
        #[cfg(target_arch = "x86_64")]
        "symlink" => c::SYS_symlink,
        _ => return None,
    };
    Some(nr)
}

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("opening the BPF object failed: {0}")]
    Open(#[source] libbpf_rs::Error),
    #[error("setting up map {map} failed: {source}")]
    Map {
        map: &'static str,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("loading BPF program {program} failed: {reason}{}", log_tail(.log))]
    Load {
        program: String,
        reason: String,
        log: Vec<String>,
    },
    #[error("loading the BPF object failed: {reason}{}", log_tail(.log))]
    LoadObject { reason: String, log: Vec<String> },
    #[error("attaching BPF program {program} failed: {source}")]
    Attach {
        program: String,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("setting up the ring buffer reader failed: {0}")]
    RingBuffer(#[source] libbpf_rs::Error),
    #[error("BPF program {0} is not in the agent's hook table (object and binary disagree)")]
    UnknownProgram(String),
    #[error("tracefs is not mounted and mounting it at {path} failed: {source}")]
    Tracefs {
        path: &'static str,
        #[source]
        source: nix::Error,
    },
}

fn log_tail(log: &[String]) -> String {
    if log.is_empty() {
        return String::new();
    }
    let tail: Vec<&str> = log.iter().rev().take(8).rev().map(String::as_str).collect();
    format!("\n  kernel log (last lines):\n    {}", tail.join("\n    "))
}

/// libbpf's messages since the last [`take_libbpf_log`], so a load
/// failure can be reported with the program name and verifier output.
static LIBBPF_LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn capture_libbpf(_level: PrintLevel, msg: String) {
    if let Ok(mut log) = LIBBPF_LOG.lock() {
        // Bounded: a verifier log can be long; the tail is what matters.
        if log.len() >= 4096 {
            log.drain(..1024);
        }
        log.extend(msg.lines().map(str::to_string));
    }
}

fn take_libbpf_log() -> Vec<String> {
    LIBBPF_LOG
        .lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default()
}

/// Find "prog 'NAME': failed to load: -ERR" and the verifier log before it.
fn explain_load_failure(log: &[String], fallback: &libbpf_rs::Error) -> KernelError {
    let failed = log.iter().rev().find_map(|l| {
        let rest = l.split("prog '").nth(1)?;
        let (name, tail) = rest.split_once("': failed to load: ")?;
        // libbpf prints "-13" or, since 1.5, "-EACCES".
        let code = tail.trim().trim_start_matches('-');
        let reason = match code.parse::<i32>() {
            Ok(errno) => std::io::Error::from_raw_os_error(errno).to_string(),
            Err(_) => errno_by_name(code)
                .map(|e| std::io::Error::from_raw_os_error(e).to_string())
                .unwrap_or_else(|| code.to_string()),
        };
        Some((name.to_string(), reason))
    });
    let verifier: Vec<String> = log
        .iter()
        .skip_while(|l| !l.contains("-- BEGIN PROG LOAD LOG --"))
        .skip(1)
        .take_while(|l| !l.contains("-- END PROG LOAD LOG --"))
        .cloned()
        .collect();
    match failed {
        Some((program, reason)) => KernelError::Load {
            program,
            reason,
            log: verifier,
        },
        None => KernelError::LoadObject {
            reason: fallback.to_string(),
            log: log.iter().rev().take(4).rev().cloned().collect(),
        },
    }
}

/// errno value of a name like "EACCES" (the ones a load can fail with).
fn errno_by_name(name: &str) -> Option<i32> {
    use nix::errno::Errno::*;
    [
        EPERM, EACCES, EINVAL, E2BIG, ENOMEM, ENOENT, EFAULT, ENOSPC, EOPNOTSUPP, EBUSY,
    ]
    .into_iter()
    .find(|e| format!("{e:?}") == name)
    .map(|e| e as i32)
}

/// What the kernel counted for one program (see `program_stats`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramStats {
    pub name: String,
    pub run_count: u64,
    pub run_time_ns: u64,
}

/// Whether the kernel is counting program run time
/// (`sysctl kernel.bpf_stats_enabled=1`).
pub fn bpf_stats_enabled() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled").is_ok_and(|v| v.trim() == "1")
}

/// Loaded and attached BPF programs. Dropping it detaches everything.
pub struct Kernel<'obj> {
    pub skel: EdrSkel<'obj>,
    links: Vec<(String, Link)>,
    /// Optional hooks that did not attach, with the reason.
    pub skipped: Vec<(String, String)>,
}

impl<'obj> Kernel<'obj> {
    /// Open, configure, load and attach. `storage` holds the libbpf object
    /// and must outlive the returned value.
    pub fn load(
        storage: &'obj mut MaybeUninit<OpenObject>,
        opts: LoadOptions,
    ) -> Result<Self, KernelError> {
        raise_memlock_rlimit();
        // Warnings carry the failures and the verifier log; debug is noise.
        libbpf_rs::set_print(Some((PrintLevel::Warn, capture_libbpf)));
        take_libbpf_log();

        let mut open = EdrSkelBuilder::default()
            .open(storage)
            .map_err(KernelError::Open)?;
        let rodata = open
            .maps
            .rodata_data
            .as_deref_mut()
            .expect("the object has a .rodata section (edr_cfg)");
        rodata.edr_cfg.agent_tgid = opts.agent_tgid;
        rodata.edr_cfg.wakeup_bytes = opts.wakeup_bytes;
        rodata.edr_cfg.report_failed = u32::from(opts.report_failed);
        open.maps
            .edr_events
            .set_max_entries(opts.ring_buffer_bytes)
            .map_err(|source| KernelError::Map {
                map: "edr_events",
                source,
            })?;
        let enabled = |f: Family| match f {
            Family::Process => true,
            Family::File => opts.file,
        };
        for mut prog in open.open_object_mut().progs_mut() {
            let name = prog.name().to_string_lossy().into_owned();
            let family = family_of(&name).ok_or(KernelError::UnknownProgram(name))?;
            prog.set_autoload(enabled(family));
        }
        // The file program dispatches on the syscall number: tell it ours.
        let sysmap = &mut open
            .maps
            .rodata_data
            .as_deref_mut()
            .expect("the object has a .rodata section")
            .edr_file_sysmap;
        for hook in HOOKS {
            if let Attach::SyscallExit { name, id } = hook.attach
                && let Some(nr) = syscall_nr(name)
                && let Some(slot) = usize::try_from(nr).ok().and_then(|n| sysmap.get_mut(n))
            {
                *slot = id as u8;
            }
        }

        let skel = open
            .load()
            .map_err(|e| explain_load_failure(&take_libbpf_log(), &e))?;
        take_libbpf_log();

        for (key, verdict) in &opts.prefixes {
            skel.maps
                .edr_prefixes
                .update(crate::abi::as_bytes(key), &[*verdict], MapFlags::ANY)
                .map_err(|source| KernelError::Map {
                    map: "edr_prefixes",
                    source,
                })?;
        }
        if opts.file {
            // Classic tracepoints are looked up by name in tracefs.
            ensure_tracefs()?;
        }

        let mut links = Vec::new();
        let mut skipped = Vec::new();
        for hook in HOOKS.iter().filter(|h| enabled(h.family)) {
            let prog = skel
                .object()
                .progs_mut()
                .find(|p| p.name() == hook.program)
                .ok_or(KernelError::UnknownProgram(hook.program.into()))?;
            let (point, result) = match hook.attach {
                Attach::Auto => (hook.program.to_string(), prog.attach()),
                Attach::SyscallExit { name, .. } => {
                    let point = format!("{} on sys_exit_{name}", hook.program);
                    if syscall_nr(name).is_none() {
                        // This architecture has no such syscall.
                        skipped.push((point, "no such syscall on this architecture".into()));
                        continue;
                    }
                    let tp = format!("sys_exit_{name}");
                    (
                        point,
                        prog.attach_tracepoint(TracepointCategory::Syscalls, tp),
                    )
                }
            };
            match result {
                Ok(link) => links.push((point, link)),
                Err(source) if hook.required => {
                    eprintln!("DEBUG {:?}", take_libbpf_log());
                    return Err(KernelError::Attach {
                        program: point,
                        source,
                    });
                }
                Err(source) => skipped.push((point, source.to_string())),
            }
        }
        Ok(Kernel {
            skel,
            links,
            skipped,
        })
    }

    /// Names of the attached programs, in object order.
    pub fn attached(&self) -> impl Iterator<Item = &str> {
        self.links.iter().map(|(n, _)| n.as_str())
    }

    /// Run count and run time of each loaded program, as the kernel counts
    /// them while `kernel.bpf_stats_enabled` is 1 (both stay 0 otherwise).
    pub fn program_stats(&self) -> Vec<ProgramStats> {
        let mut out = Vec::new();
        for prog in self.skel.object().progs() {
            if !prog.autoload() {
                continue;
            }
            let mut info = libbpf_rs::libbpf_sys::bpf_prog_info::default();
            let mut len = size_of_val(&info) as u32;
            // SAFETY: info is a bpf_prog_info and len its size; the kernel
            // writes at most len bytes into it. The fd is the program's own.
            let ret = unsafe {
                libbpf_rs::libbpf_sys::bpf_prog_get_info_by_fd(
                    prog.as_fd().as_raw_fd(),
                    &mut info,
                    &mut len,
                )
            };
            if ret == 0 {
                out.push(ProgramStats {
                    name: prog.name().to_string_lossy().into_owned(),
                    run_count: info.run_cnt,
                    run_time_ns: info.run_time_ns,
                });
            }
        }
        out
    }

    /// Kernel counters summed over all CPUs.
    pub fn read_kstats(&self) -> Option<KStats> {
        let per_cpu = self
            .skel
            .maps
            .edr_kstats
            .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
            .ok()??;
        let mut total = KStats::default();
        for bytes in per_cpu {
            let mut one = KStats::default();
            if plain::copy_from_bytes(&mut one, &bytes).is_ok() {
                total.add(&one);
            }
        }
        Some(total)
    }
}

/// libbpf finds a classic tracepoint's id under tracefs, at
/// /sys/kernel/tracing or /sys/kernel/debug/tracing. Mount it when neither
/// is there (systemd normally has; the unit orders us after it).
fn ensure_tracefs() -> Result<(), KernelError> {
    const TRACEFS: &str = "/sys/kernel/tracing";
    let mounted = |dir: &str| std::path::Path::new(dir).join("events").is_dir();
    if mounted(TRACEFS) || mounted("/sys/kernel/debug/tracing") {
        return Ok(());
    }
    nix::mount::mount(
        Some("tracefs"),
        TRACEFS,
        Some("tracefs"),
        nix::mount::MsFlags::MS_NOSUID
            | nix::mount::MsFlags::MS_NODEV
            | nix::mount::MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|source| KernelError::Tracefs {
        path: TRACEFS,
        source,
    })
}

/// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; newer ones
/// account them to the cgroup. Raise the limit where we may, and carry on
/// where we may not (no CAP_SYS_RESOURCE): on a new kernel it is not needed,
/// and on an old one the map creation error will say so.
fn raise_memlock_rlimit() {
    use nix::sys::resource::{RLIM_INFINITY, Resource, setrlimit};
    let _ = setrlimit(Resource::RLIMIT_MEMLOCK, RLIM_INFINITY, RLIM_INFINITY);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_table_matches_the_object() {
        // Opening parses the ELF only: no privileges needed.
        let mut storage = MaybeUninit::uninit();
        let open = EdrSkelBuilder::default().open(&mut storage).unwrap();
        let mut in_object: Vec<String> = open
            .open_object()
            .progs()
            .map(|p| p.name().to_string_lossy().into_owned())
            .collect();
        in_object.sort();
        let mut in_table: Vec<String> = HOOKS.iter().map(|h| h.program.to_string()).collect();
        in_table.sort();
        in_table.dedup();
        assert_eq!(in_object, in_table);
        // Each file syscall is hooked once, under the id the ABI gives it.
        let mut ids = Vec::new();
        for h in HOOKS {
            if let Attach::SyscallExit { name, id } = h.attach {
                assert_eq!(crate::abi::file_syscall::name(id), Some(name));
                ids.push(id);
            }
        }
        ids.sort();
        assert_eq!(ids, (1..=22).collect::<Vec<u16>>());
        // Every required syscall exists on this architecture.
        for h in HOOKS.iter().filter(|h| h.required) {
            if let Attach::SyscallExit { name, .. } = h.attach {
                assert!(syscall_nr(name).is_some(), "{name}");
            }
        }
    }

    #[test]
    fn load_failure_names_program_and_reason() {
        let log: Vec<String> = [
            "libbpf: prog 'edr_exec': BPF program load failed: Permission denied",
            "libbpf: prog 'edr_exec': -- BEGIN PROG LOAD LOG --",
            "R2 min value is negative, either use unsigned or 'var &= const'",
            "processed 235 insns (limit 1000000)",
            "-- END PROG LOAD LOG --",
            "libbpf: prog 'edr_exec': failed to load: -EACCES",
            "libbpf: failed to load object 'edr_bpf'",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let e = explain_load_failure(&log, &libbpf_rs::Error::from_raw_os_error(13));
        let KernelError::Load {
            program,
            reason,
            log,
        } = &e
        else {
            panic!("{e}")
        };
        assert_eq!(program, "edr_exec");
        assert_eq!(reason, &std::io::Error::from_raw_os_error(13).to_string());
        assert_eq!(log.len(), 2);
        let shown = e.to_string();
        assert!(
            shown.contains("loading BPF program edr_exec failed: Permission denied"),
            "{shown}"
        );
        assert!(shown.contains("R2 min value is negative"), "{shown}");
    }
}
