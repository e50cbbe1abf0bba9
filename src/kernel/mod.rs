//! The kernel side from userspace: open the BPF object, set the rodata
//! config and map sizes, load, attach program by program, and read the
//! kernel counters.
//!
//! Errors name the program and carry the kernel's reason (the verifier's
//! last lines for a load failure), because "Permission denied" alone does
//! not tell an operator which hook their kernel refused.

pub mod abi;
#[cfg(test)]
mod bpf;
pub mod caps;
pub mod decode;
pub mod syscalls;

use std::borrow::Cow;
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::sync::Mutex;

use libbpf_rs::btf::{Btf, types as btf_types};
use libbpf_rs::{
    Link, Map, MapCore, MapFlags, Object, ObjectBuilder, OpenObject, PrintLevel, TracepointCategory,
};

use crate::config::{Cidr, NetHook};
use abi::{KStats, NetKey, PrefixKey};

/// What the loader needs from the configuration.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The BPF object to load.
    pub source: ObjectSource,
    pub ring_buffer_bytes: u32,
    pub wakeup_bytes: u32,
    /// The agent's own process id: the kernel never reports it.
    pub agent_tgid: u32,
    /// Load the file programs at all.
    pub file: bool,
    /// Report failed file operations instead of counting them.
    pub report_failed: bool,
    /// Look read-only opens up in `edr_read_watch` (the caller fills it
    /// after the load, see `watch::Keeper`). Off: the check is compiled
    /// out by the verifier (the flag is read-only data).
    pub watch_reads: bool,
    /// Kernel path-prefix filter entries (see `filter::PrefixRules`).
    pub prefixes: Vec<(PrefixKey, u8)>,
    /// Look for socket stdio at exec and after a dup onto fd 0..2
    /// (stdio-socket records, for rg-reverse-shell).
    pub stdio: bool,
    /// Report signals sent to the agent (rg-agent-signal).
    pub signals: bool,
    /// Load the network programs, attached to these hooks.
    pub network: bool,
    pub net_hooks: Vec<NetHook>,
    /// Load the DNS program (needs `network`).
    pub dns: bool,
    /// Socket families reported, as AF_* numbers.
    pub net_families: Vec<u16>,
    /// Service ports and peer networks the kernel drops (network family).
    pub exclude_ports: Vec<u16>,
    pub exclude_networks: Vec<Cidr>,
}

/// Program families; a disabled family's programs are not even loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Process,
    File,
    /// connect, bind, listen, accept (which of them: `LoadOptions::net_hooks`).
    Network,
    /// DNS queries: sendto, sendmsg, sendmmsg, write.
    Dns,
    /// dup, dup2, dup3 onto fd 0..2 (the exec side is in `edr_exec`).
    Stdio,
    /// Signals sent to the agent (tp_btf/signal_generate).
    Signal,
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

const fn net(program: &'static str, family: Family, name: &'static str, id: u16) -> Hook {
    Hook {
        program,
        family,
        attach: Attach::SyscallExit { name, id },
        required: true,
    }
}

const fn stdio(program: &'static str, name: &'static str, id: u16, required: bool) -> Hook {
    Hook {
        program,
        family: Family::Stdio,
        attach: Attach::SyscallExit { name, id },
        required,
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
    Hook {
        program: "edr_signal",
        family: Family::Signal,
        attach: Attach::Auto,
        required: true,
    },
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
    // Needs CONFIG_FHANDLE; opens a file by handle, with no path at all.
    file("open_by_handle_at", 23, false),
    net("edr_net", Family::Network, "connect", 32),
    net("edr_net", Family::Network, "bind", 33),
    net("edr_net", Family::Network, "listen", 34),
    net("edr_net", Family::Network, "accept", 35),
    net("edr_net", Family::Network, "accept4", 36),
    net("edr_dns", Family::Dns, "sendto", 37),
    net("edr_dns", Family::Dns, "sendmsg", 38),
    net("edr_dns", Family::Dns, "sendmmsg", 39),
    net("edr_dns", Family::Dns, "write", 40),
    stdio("edr_dup", "dup", 49, true),
    // dup2 is legacy (x86-64 has it, arm64 does not), dup3 since 2.6.27.
    stdio("edr_dup2", "dup2", 50, false),
    stdio("edr_dup3", "dup3", 51, true),
];

/// The config hook a network attach point belongs to.
fn net_hook_of(syscall: &str) -> Option<NetHook> {
    Some(match syscall {
        "connect" => NetHook::Connect,
        "bind" => NetHook::Bind,
        "listen" => NetHook::Listen,
        "accept" | "accept4" => NetHook::Accept,
        _ => return None,
    })
}

pub fn family_of(program: &str) -> Option<Family> {
    HOOKS
        .iter()
        .find(|h| h.program == program)
        .map(|h| h.family)
}

pub use crate::kernel::syscalls::nr as syscall_nr;

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("opening the BPF object failed: {0}")]
    Open(#[source] libbpf_rs::Error),
    #[error("cannot read the BPF object {path} ({ENV_OBJECT}): {source}")]
    ObjectRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("refusing {object}: {why}")]
    ObjectAbi { object: String, why: String },
    #[error("the BPF object has no map `{0}`")]
    MissingMap(&'static str),
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
    #[error(transparent)]
    Capabilities(#[from] crate::kernel::caps::CapsError),
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

/// Environment variable naming an external BPF object to load instead of
/// the one built into the binary (the packages install it as
/// /usr/local/lib/rand-guard/edr-ebpf).
pub const ENV_OBJECT: &str = "EDR_EBPF_OBJECT";

/// The object build.rs linked, built into the binary.
static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/edr.bpf.o"));

/// Where the BPF object comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectSource {
    Embedded,
    File(PathBuf),
}

impl ObjectSource {
    /// `EDR_EBPF_OBJECT` if set (and not empty), else the embedded object.
    pub fn from_env() -> Self {
        match std::env::var_os(ENV_OBJECT) {
            Some(p) if !p.is_empty() => ObjectSource::File(PathBuf::from(p)),
            _ => ObjectSource::Embedded,
        }
    }

    fn bytes(&self) -> Result<Cow<'static, [u8]>, KernelError> {
        match self {
            ObjectSource::Embedded => Ok(Cow::Borrowed(EMBEDDED)),
            ObjectSource::File(p) => {
                std::fs::read(p)
                    .map(Cow::Owned)
                    .map_err(|source| KernelError::ObjectRead {
                        path: p.clone(),
                        source,
                    })
            }
        }
    }
}

impl std::fmt::Display for ObjectSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ObjectSource::Embedded => f.write_str("built-in BPF object"),
            ObjectSource::File(p) => write!(f, "BPF object {}", p.display()),
        }
    }
}

/// Where the rodata variables the agent sets live, from the object's BTF.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RodataLayout {
    abi_version: Range<usize>,
    cfg: Range<usize>,
    sysmap: Range<usize>,
    net_sysmap: Range<usize>,
}

/// Find the agent's rodata variables in `bytes` (an ELF object) and check
/// their sizes against this binary's ABI, so an object built from other
/// sources is refused before it is loaded.
fn rodata_layout(source: &ObjectSource, bytes: &[u8]) -> Result<RodataLayout, KernelError> {
    let bad = |why: String| KernelError::ObjectAbi {
        object: source.to_string(),
        why,
    };
    let btf = Btf::from_raw("edr_bpf", bytes)
        .map_err(|e| bad(format!("cannot read its BTF: {e}")))?
        .ok_or_else(|| bad("it has no BTF".into()))?;
    let sec: btf_types::DataSec<'_> = btf
        .type_by_name(".rodata")
        .ok_or_else(|| bad("it has no .rodata section".into()))?;
    let var = |name: &str, size: usize| -> Result<Range<usize>, KernelError> {
        let info = sec
            .iter()
            .find(|v| {
                btf.type_by_id::<btf_types::Var<'_>>(v.ty)
                    .and_then(|t| t.name())
                    .is_some_and(|n| n == name)
            })
            .ok_or_else(|| bad(format!("it has no `{name}` (not a rand-guard object?)")))?;
        if info.size != size {
            return Err(bad(format!(
                "`{name}` is {} bytes, this agent expects {size}",
                info.size
            )));
        }
        let start = info.offset as usize;
        Ok(start..start + size)
    };
    Ok(RodataLayout {
        abi_version: var("edr_abi_version", 4)?,
        cfg: var("edr_cfg", size_of::<abi::Config>())?,
        sysmap: var("edr_file_sysmap", abi::SYSCALL_MAP)?,
        net_sysmap: var("edr_net_sysmap", abi::SYSCALL_MAP)?,
    })
}

/// Run `f` on the initial image of the object's .rodata.
fn with_rodata<T>(
    open: &mut OpenObject,
    source: &ObjectSource,
    f: impl FnOnce(&mut [u8]) -> Result<T, KernelError>,
) -> Result<T, KernelError> {
    let bad = |why: &str| KernelError::ObjectAbi {
        object: source.to_string(),
        why: why.into(),
    };
    let mut map = open
        .maps_mut()
        .find(|m| m.name().to_string_lossy().ends_with(".rodata"))
        .ok_or_else(|| bad("it has no .rodata map"))?;
    let data = map
        .initial_value_mut()
        .ok_or_else(|| bad(".rodata has no initial value"))?;
    f(data)
}

/// Open the object (parsing only: no privileges needed) and refuse it
/// unless it was built for this agent's ABI.
fn open_checked(source: &ObjectSource) -> Result<(OpenObject, RodataLayout), KernelError> {
    let bytes = source.bytes()?;
    let layout = rodata_layout(source, &bytes)?;
    let mut open = ObjectBuilder::default()
        .name("edr_bpf")
        .map_err(KernelError::Open)?
        .open_memory(&bytes)
        .map_err(KernelError::Open)?;
    let version = with_rodata(&mut open, source, |data| {
        Ok(data
            .get(layout.abi_version.clone())
            .and_then(|b| b.try_into().ok())
            .map(u32::from_ne_bytes))
    })?;
    if version != Some(u32::from(abi::ABI_VERSION)) {
        return Err(KernelError::ObjectAbi {
            object: source.to_string(),
            why: format!(
                "it was built for ABI version {}, this agent speaks version {}",
                version.map_or("?".into(), |v| v.to_string()),
                abi::ABI_VERSION
            ),
        });
    }
    Ok((open, layout))
}

/// Loaded and attached BPF programs. Dropping it detaches everything.
pub struct Kernel {
    obj: Object,
    links: Vec<(String, Link)>,
    /// Optional hooks that did not attach, with the reason.
    pub skipped: Vec<(String, String)>,
}

impl Kernel {
    /// Open the object, check its ABI, configure, load and attach.
    pub fn load(opts: LoadOptions) -> Result<Self, KernelError> {
        raise_memlock_rlimit();
        // Warnings carry the failures and the verifier log; debug is noise.
        libbpf_rs::set_print(Some((PrintLevel::Warn, capture_libbpf)));
        take_libbpf_log();

        let (mut open, layout) = open_checked(&opts.source)?;
        // Opening parsed the object only; from here on the kernel is asked.
        crate::kernel::caps::check_bpf_here()?;

        // .rodata is read-only once loaded: fill the config and the
        // syscall map now.
        let cfg = abi::Config {
            agent_tgid: opts.agent_tgid,
            wakeup_bytes: opts.wakeup_bytes,
            report_failed: u32::from(opts.report_failed),
            watch_reads: u32::from(opts.watch_reads),
            stdio_check: u32::from(opts.stdio),
            net_families: opts
                .net_families
                .iter()
                .filter(|af| **af < 32)
                .fold(0, |m, af| m | 1 << af),
        };
        // Each dispatching program gets this architecture's numbers of the
        // syscalls it is attached to.
        let mut sysmap = [0u8; abi::SYSCALL_MAP];
        let mut net_sysmap = [0u8; abi::SYSCALL_MAP];
        for hook in HOOKS {
            let map = match hook.family {
                Family::File => &mut sysmap,
                Family::Network | Family::Dns => &mut net_sysmap,
                Family::Process | Family::Stdio | Family::Signal => continue,
            };
            if let Attach::SyscallExit { name, id } = hook.attach
                && let Some(nr) = syscall_nr(name)
                && let Some(slot) = usize::try_from(nr).ok().and_then(|n| map.get_mut(n))
            {
                *slot = id as u8;
            }
        }
        with_rodata(&mut open, &opts.source, |data| {
            for (range, value) in [
                (layout.cfg, abi::as_bytes(&cfg)),
                (layout.sysmap, &sysmap[..]),
                (layout.net_sysmap, &net_sysmap[..]),
            ] {
                data.get_mut(range)
                    .ok_or_else(|| KernelError::ObjectAbi {
                        object: opts.source.to_string(),
                        why: ".rodata is smaller than its BTF says".into(),
                    })?
                    .copy_from_slice(value);
            }
            Ok(())
        })?;

        let mut events = open
            .maps_mut()
            .find(|m| m.name() == "edr_events")
            .ok_or(KernelError::MissingMap("edr_events"))?;
        events
            .set_max_entries(opts.ring_buffer_bytes)
            .map_err(|source| KernelError::Map {
                map: "edr_events",
                source,
            })?;
        let enabled = |f: Family| match f {
            Family::Process => true,
            Family::File => opts.file,
            Family::Network => opts.network && !opts.net_hooks.is_empty(),
            Family::Dns => opts.network && opts.dns,
            Family::Stdio => opts.stdio,
            Family::Signal => opts.signals,
        };
        for mut prog in open.progs_mut() {
            let name = prog.name().to_string_lossy().into_owned();
            let family = family_of(&name).ok_or(KernelError::UnknownProgram(name))?;
            prog.set_autoload(enabled(family));
        }

        let obj = open
            .load()
            .map_err(|e| explain_load_failure(&take_libbpf_log(), &e))?;
        take_libbpf_log();

        let prefixes = find_map(&obj, "edr_prefixes")?;
        for (key, verdict) in &opts.prefixes {
            prefixes
                .update(abi::as_bytes(key), &[*verdict], MapFlags::ANY)
                .map_err(|source| KernelError::Map {
                    map: "edr_prefixes",
                    source,
                })?;
        }
        if opts.network {
            let ports = find_map(&obj, "edr_net_ports")?;
            let mut bitmap = [0u64; 65536 / 64];
            for p in &opts.exclude_ports {
                bitmap[usize::from(*p) / 64] |= 1 << (p % 64);
            }
            for (i, bits) in bitmap.iter().enumerate().filter(|(_, b)| **b != 0) {
                ports
                    .update(
                        &(i as u32).to_ne_bytes(),
                        &bits.to_ne_bytes(),
                        MapFlags::ANY,
                    )
                    .map_err(|source| KernelError::Map {
                        map: "edr_net_ports",
                        source,
                    })?;
            }
            let nets = find_map(&obj, "edr_net_nets")?;
            for c in &opts.exclude_networks {
                let (addr, prefixlen) = c.as_v6();
                let key = NetKey { prefixlen, addr };
                nets.update(abi::as_bytes(&key), &[1], MapFlags::ANY)
                    .map_err(|source| KernelError::Map {
                        map: "edr_net_nets",
                        source,
                    })?;
            }
        }
        if opts.file || opts.network || opts.stdio {
            // Classic tracepoints are looked up by name in tracefs.
            ensure_tracefs()?;
        }

        let mut links = Vec::new();
        let mut skipped = Vec::new();
        let wanted = |h: &Hook| match (h.family, h.attach) {
            (Family::Network, Attach::SyscallExit { name, .. }) => {
                net_hook_of(name).is_some_and(|n| opts.net_hooks.contains(&n))
            }
            (f, _) => enabled(f),
        };
        for hook in HOOKS.iter().filter(|h| enabled(h.family) && wanted(h)) {
            let prog = obj
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
                    return Err(KernelError::Attach {
                        program: point,
                        source,
                    });
                }
                Err(source) => skipped.push((point, source.to_string())),
            }
        }
        Ok(Kernel {
            obj,
            links,
            skipped,
        })
    }

    /// A map of the loaded object, by name.
    pub fn map(&self, name: &'static str) -> Result<Map<'_>, KernelError> {
        find_map(&self.obj, name)
    }

    /// Names of the attached programs, in object order.
    pub fn attached(&self) -> impl Iterator<Item = &str> {
        self.links.iter().map(|(n, _)| n.as_str())
    }

    /// Run count and run time of each loaded program, as the kernel counts
    /// them while `kernel.bpf_stats_enabled` is 1 (both stay 0 otherwise).
    pub fn program_stats(&self) -> Vec<ProgramStats> {
        let mut out = Vec::new();
        for prog in self.obj.progs() {
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
            .map("edr_kstats")
            .ok()?
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

fn find_map<'a>(obj: &'a Object, name: &'static str) -> Result<Map<'a>, KernelError> {
    obj.maps()
        .find(|m| m.name() == name)
        .ok_or(KernelError::MissingMap(name))
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
        let open = ObjectBuilder::default().open_memory(EMBEDDED).unwrap();
        let mut in_object: Vec<String> = open
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
                let named = crate::kernel::abi::file_syscall::name(id)
                    .or(crate::kernel::abi::net_syscall::name(id))
                    .or(crate::kernel::abi::stdio_syscall::name(id));
                assert_eq!(named, Some(name));
                ids.push(id);
            }
        }
        ids.sort();
        let expected: Vec<u16> = (1..=23).chain(32..=40).chain(49..=51).collect();
        assert_eq!(ids, expected);
        // Every required syscall exists on this architecture.
        for h in HOOKS.iter().filter(|h| h.required) {
            if let Attach::SyscallExit { name, .. } = h.attach {
                assert!(syscall_nr(name).is_some(), "{name}");
            }
        }
    }

    /// Patch the 4 bytes of `edr_abi_version` in a copy of the object.
    fn with_abi_version(version: u32) -> Vec<u8> {
        let mut elf = EMBEDDED.to_vec();
        let u16_at =
            |b: &[u8], o: usize| u16::from_le_bytes(b[o..o + 2].try_into().unwrap()) as usize;
        let u32_at =
            |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as usize;
        let u64_at =
            |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap()) as usize;
        // ELF64 little-endian: section headers, then the .rodata section.
        let (shoff, shentsize, shnum, shstrndx) = (
            u64_at(&elf, 0x28),
            u16_at(&elf, 0x3a),
            u16_at(&elf, 0x3c),
            u16_at(&elf, 0x3e),
        );
        let sh = |i: usize| shoff + i * shentsize;
        let strtab = u64_at(&elf, sh(shstrndx) + 0x18);
        let rodata = (0..shnum)
            .find(|&i| {
                let name = strtab + u32_at(&elf, sh(i));
                elf[name..].starts_with(b".rodata\0")
            })
            .expect(".rodata section");
        let base = u64_at(&elf, sh(rodata) + 0x18);
        let layout = rodata_layout(&ObjectSource::Embedded, EMBEDDED).unwrap();
        let at = base + layout.abi_version.start;
        assert_eq!(
            u32_at(&elf, at),
            abi::ABI_VERSION as usize,
            "found the version"
        );
        elf[at..at + 4].copy_from_slice(&version.to_le_bytes());
        elf
    }

    #[test]
    fn read_watch_map_has_the_abi_size() {
        let open = ObjectBuilder::default().open_memory(EMBEDDED).unwrap();
        let map = open
            .maps()
            .find(|m| m.name() == "edr_read_watch")
            .expect("edr_read_watch");
        assert_eq!(map.max_entries() as usize, abi::READ_WATCH_MAX);
        assert_eq!(map.key_size() as usize, size_of::<abi::InodeKey>());
        assert_eq!(map.value_size(), 4);
    }

    #[test]
    fn embedded_object_passes_the_abi_check() {
        let (_, layout) = open_checked(&ObjectSource::Embedded).unwrap();
        assert_eq!(layout.cfg.len(), size_of::<abi::Config>());
        assert_eq!(layout.sysmap.len(), abi::SYSCALL_MAP);
    }

    #[test]
    fn external_objects_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        // The same object from a file is accepted.
        let same = dir.path().join("edr-ebpf");
        std::fs::write(&same, EMBEDDED).unwrap();
        assert!(open_checked(&ObjectSource::File(same.clone())).is_ok());
        // Another ABI version is refused, saying which.
        let other = dir.path().join("edr-ebpf-v9");
        std::fs::write(&other, with_abi_version(9)).unwrap();
        let e = open_checked(&ObjectSource::File(other.clone()))
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            format!(
                "refusing BPF object {}: it was built for ABI version 9, this agent speaks version {}",
                other.display(),
                abi::ABI_VERSION
            )
        );
        // A file that is not a BPF object, and a missing file.
        let junk = dir.path().join("junk");
        std::fs::write(&junk, b"not an ELF file").unwrap();
        let e = open_checked(&ObjectSource::File(junk.clone()))
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .starts_with(&format!("refusing BPF object {}", junk.display())),
            "{e}"
        );
        let missing = dir.path().join("missing");
        let e = open_checked(&ObjectSource::File(missing.clone()))
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .starts_with(&format!("cannot read the BPF object {}", missing.display())),
            "{e}"
        );
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
