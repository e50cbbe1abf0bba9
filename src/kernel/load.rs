//! [`Kernel::load`], step by step: open the object and check its ABI,
//! configure what must be set before loading (.rodata, map sizes, which
//! programs), load, fill the maps, attach hook by hook.

use libbpf_rs::{MapCore, MapFlags, Object, OpenObject, PrintLevel, TracepointCategory};
use std::sync::Mutex;

use crate::config::HookPath;
use crate::kernel::abi::{self, NetKey};
use crate::kernel::fast::{self, FastPaths};
use crate::kernel::hooks::{fast_name, net_hook_of, path_name, program_optional};
use crate::kernel::object::{RodataLayout, open_checked, with_rodata};
use crate::kernel::{
    Attach, Family, HOOKS, Hook, Kernel, KernelError, LoadOptions, caps, family_of, find_map,
    log_tail, syscall_nr,
};

impl Kernel {
    /// Open the object, check its ABI, configure, load and attach.
    pub fn load(opts: LoadOptions) -> Result<Self, KernelError> {
        raise_memlock_rlimit();
        capture_libbpf_log();
        let bytes = opts.source.bytes()?;
        let (open, layout) = open_checked(&opts.source, &bytes)?;
        // Opening parsed the object only; from here on the kernel is asked.
        caps::check_bpf_here()?;
        let mut paths = FastPaths::probe(|h| opts.attaches(h), opts.hooks)?;
        let (obj, not_loaded) = load_programs(open, &bytes, &layout, &opts, &mut paths)?;
        fill_maps(&obj, &opts)?;
        if opts.file || opts.network || opts.stdio {
            // Classic tracepoints are looked up by name in tracefs.
            ensure_tracefs()?;
        }
        let absent = absent_syscalls(&opts);
        paths.forget(&absent);
        let (links, mut skipped, on) = attach_hooks(&obj, &opts, &not_loaded, &absent, &mut paths)?;
        skipped.extend(paths.skipped_hooks());
        Ok(Kernel {
            obj,
            links,
            skipped,
            absent,
            not_loaded,
            fallbacks: paths.fallbacks,
            hook_paths: fast::family_paths(&on),
        })
    }
}

/// Optional programs left out, each with the kernel's reason.
type LeftOut = Vec<(String, String)>;

/// Configure and load the object. A required program that fails to load
/// ends start-up, named with the kernel's reason. An optional one (every
/// hook of it optional: its syscall is legacy or new, and a kernel may
/// refuse it for a missing helper or BTF type) is left out, with that
/// reason, and the rest is loaded again without it.
///
/// Why this way: libbpf loads an object once and whole (a failed
/// `bpf_object__load` cannot be retried), so leaving a program out means
/// opening and configuring the object again with that program's autoload
/// off. Which program failed is what libbpf's log says ("prog 'NAME':
/// failed to load", the line the fatal error is built from too): libbpf
/// loads the programs in order and stops at the first failure, so each
/// round names exactly one program, and there is at most one round per
/// optional program. Probing each optional program alone first would cost
/// a whole object load per program on every start, and could still
/// disagree with the real load. A failure that names no program (a map,
/// BTF, a relocation) or a program that is required, or already left out,
/// ends start-up as before. A fast-path program the kernel refuses is
/// `FastPaths::refused`'s to decide.
fn load_programs(
    mut open: OpenObject,
    bytes: &[u8],
    layout: &RodataLayout,
    opts: &LoadOptions,
    paths: &mut FastPaths,
) -> Result<(Object, LeftOut), KernelError> {
    let mut left_out = LeftOut::new();
    loop {
        configure(&mut open, layout, opts, &left_out, paths)?;
        match load_object(open) {
            Ok(obj) => return Ok((obj, left_out)),
            Err(e) => match paths.refused(e, opts.hooks) {
                Ok(()) => {}
                Err(e) => left_out.push(optional_failure(e, &left_out)?),
            },
        }
        open = open_checked(&opts.source, bytes)?.0;
    }
}

/// Everything set before loading: .rodata, map sizes, which programs.
fn configure(
    open: &mut OpenObject,
    layout: &RodataLayout,
    opts: &LoadOptions,
    left_out: &LeftOut,
    paths: &FastPaths,
) -> Result<(), KernelError> {
    set_rodata(open, layout, opts)?;
    size_ring_buffer(open, opts.ring_buffer_bytes)?;
    choose_programs(open, opts, left_out, paths)?;
    inject_load_fault(open);
    Ok(())
}

/// The optional program a load failed on, and the kernel's reason (with
/// the verifier's last lines); or the failure itself when start-up cannot
/// go on without it.
fn optional_failure(e: KernelError, left_out: &LeftOut) -> Result<(String, String), KernelError> {
    match e {
        KernelError::Load {
            program,
            reason,
            log,
        } if program_optional(&program) && !left_out.iter().any(|(p, _)| *p == program) => {
            Ok((program.clone(), format!("{reason}{}", log_tail(&log))))
        }
        e => Err(e),
    }
}

impl LoadOptions {
    /// Whether a family's programs are loaded at all.
    pub(super) fn loads(&self, family: Family) -> bool {
        match family {
            Family::Process => true,
            Family::File => self.file,
            Family::Network => self.network && !self.net_hooks.is_empty(),
            Family::Dns => self.network && self.dns,
            Family::Stdio => self.stdio,
            Family::Signal => self.signals,
        }
    }

    /// Whether a hook is attached: its family is loaded and, for the
    /// network family, `net_hooks` names it.
    pub(super) fn attaches(&self, hook: &Hook) -> bool {
        self.loads(hook.family)
            && match (hook.family, hook.attach) {
                (
                    Family::Network,
                    Attach::SyscallExit { name, .. } | Attach::SyscallFexit { name, .. },
                ) => net_hook_of(name).is_some_and(|n| self.net_hooks.contains(&n)),
                _ => true,
            }
    }
}

/// Warnings carry the failures and the verifier log; debug is noise.
fn capture_libbpf_log() {
    libbpf_rs::set_print(Some((PrintLevel::Warn, capture_libbpf)));
    take_libbpf_log();
}

/// .rodata is read-only once loaded: fill the config and the syscall maps
/// now.
fn set_rodata(
    open: &mut OpenObject,
    layout: &RodataLayout,
    opts: &LoadOptions,
) -> Result<(), KernelError> {
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
    let (sysmap, net_sysmap) = syscall_maps();
    with_rodata(open, &opts.source, |data| {
        for (range, value) in [
            (layout.cfg.clone(), abi::as_bytes(&cfg)),
            (layout.sysmap.clone(), &sysmap[..]),
            (layout.net_sysmap.clone(), &net_sysmap[..]),
        ] {
            data.get_mut(range)
                .ok_or_else(|| KernelError::ObjectAbi {
                    object: opts.source.to_string(),
                    why: ".rodata is smaller than its BTF says".into(),
                })?
                .copy_from_slice(value);
        }
        Ok(())
    })
}

/// Each dispatching program gets this architecture's numbers of the
/// syscalls it is attached to: (file programs, network and DNS programs).
fn syscall_maps() -> ([u8; abi::SYSCALL_MAP], [u8; abi::SYSCALL_MAP]) {
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
    (sysmap, net_sysmap)
}

fn size_ring_buffer(open: &mut OpenObject, bytes: u32) -> Result<(), KernelError> {
    let mut events = open
        .maps_mut()
        .find(|m| m.name() == "edr_events")
        .ok_or(KernelError::MissingMap("edr_events"))?;
    events
        .set_max_entries(bytes)
        .map_err(|source| KernelError::Map {
            map: "edr_events",
            source,
        })
}

/// A disabled family's programs are not even loaded, nor an optional
/// program the kernel refused in an earlier round. Of the families with a
/// fast path, the fexit programs of the hooks on it (each bound to its
/// function now), and the tracepoint programs unless `hooks = "fentry"`.
fn choose_programs(
    open: &mut OpenObject,
    opts: &LoadOptions,
    left_out: &LeftOut,
    paths: &FastPaths,
) -> Result<(), KernelError> {
    for mut prog in open.progs_mut() {
        let name = prog.name().to_string_lossy().into_owned();
        let refused = left_out.iter().any(|(p, _)| *p == name);
        let fast = fast::fast_hook_of(&name);
        let family = family_of(&name).ok_or(KernelError::UnknownProgram(name.clone()))?;
        let wanted = match fast {
            Some(hook) => paths.fast.contains(&hook),
            None if fast::has_fast_path(family) => FastPaths::tracepoint_loaded(opts.hooks),
            None => true,
        };
        let load = opts.loads(family) && !refused && wanted;
        prog.set_autoload(load);
        if let (true, Some(hook)) = (load, fast) {
            prog.set_attach_target(0, Some(fast::target(hook)))
                .map_err(|e| fast::forced(hook, e))?;
        }
    }
    Ok(())
}

/// Environment variable read by debug builds only: the kernel is made to
/// reject the program it names, the way a verifier, a missing helper or a
/// missing BTF type would on some kernel (tests/e2e_startup.rs).
pub const ENV_REJECT: &str = "RAND_GUARD_DEBUG_REJECT_PROGRAM";

/// Debug builds (`cargo build`, `cargo test`) only: with
/// [`ENV_REJECT`]`=<program>`, load that program as a socket filter. The
/// verifier then refuses its tracing helper calls, a real rejection with
/// a real verifier log. In a release build, the one that is packaged, this
/// is empty and the variable means nothing.
fn inject_load_fault(open: &mut OpenObject) {
    #[cfg(debug_assertions)]
    if let Some(name) = std::env::var_os(ENV_REJECT) {
        for mut prog in open.progs_mut().filter(|p| p.name() == name.as_os_str()) {
            prog.set_prog_type(libbpf_rs::ProgramType::SocketFilter);
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = open;
}

fn load_object(open: OpenObject) -> Result<Object, KernelError> {
    let obj = open
        .load()
        .map_err(|e| explain_load_failure(&take_libbpf_log(), &e))?;
    take_libbpf_log();
    Ok(obj)
}

/// The kernel's filters: path prefixes, and for the network family the
/// excluded ports and peer networks.
fn fill_maps(obj: &Object, opts: &LoadOptions) -> Result<(), KernelError> {
    let map_err = |map: &'static str| move |source| KernelError::Map { map, source };
    let prefixes = find_map(obj, "edr_prefixes")?;
    for (key, verdict) in &opts.prefixes {
        prefixes
            .update(abi::as_bytes(key), &verdict.to_ne_bytes(), MapFlags::ANY)
            .map_err(map_err("edr_prefixes"))?;
    }
    if !opts.network {
        return Ok(());
    }
    let ports = find_map(obj, "edr_net_ports")?;
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
            .map_err(map_err("edr_net_ports"))?;
    }
    let nets = find_map(obj, "edr_net_nets")?;
    for c in &opts.exclude_networks {
        let (addr, prefixlen) = c.as_v6();
        let key = NetKey { prefixlen, addr };
        nets.update(abi::as_bytes(&key), &[1], MapFlags::ANY)
            .map_err(map_err("edr_net_nets"))?;
    }
    Ok(())
}

/// Attached links by attach point, and the optional hooks skipped with
/// the reason. A required hook that fails ends start-up. The hooks of a
/// program left out at load are not tried: that program is reported
/// once, with the kernel's reason (`Kernel::not_loaded`).
/// Also: the path of each attached hook, by family.
type Attached = (
    Vec<(String, libbpf_rs::Link)>,
    Vec<(String, String)>,
    Vec<(Family, &'static str)>,
);

/// An attached hook: its index in HOOKS (the start-up line's order), its
/// fast hook if it is one, where, and the link.
type On = (usize, Option<&'static str>, String, libbpf_rs::Link);

/// The fast hooks first: one that cannot attach sends its syscalls (and
/// its group's, whose links are dropped again) back to the tracepoints,
/// which the second round then attaches in its place.
fn attach_hooks(
    obj: &Object,
    opts: &LoadOptions,
    left_out: &LeftOut,
    absent: &[&str],
    paths: &mut FastPaths,
) -> Result<Attached, KernelError> {
    let mut on: Vec<On> = Vec::new();
    let mut skipped = Vec::new();
    let loaded = |h: &Hook| !left_out.iter().any(|(p, _)| p == h.program);
    let find = |program: &'static str| {
        obj.progs_mut()
            .find(|p| p.name() == program)
            .ok_or(KernelError::UnknownProgram(program.into()))
    };
    let hooks = || {
        HOOKS
            .iter()
            .enumerate()
            .filter(|(_, h)| opts.attaches(h) && loaded(h))
    };
    for (i, hook) in hooks() {
        let Some(name) = fast_name(hook.attach).filter(|n| paths.fast.contains(n)) else {
            continue;
        };
        let point = format!("{} on {}", hook.program, fast::target(name));
        match (find(hook.program)?.attach_trace(), opts.hooks) {
            (Ok(link), _) => on.push((i, Some(name), point, link)),
            (Err(e), HookPath::Fentry) => return Err(fast::forced(name, e)),
            (Err(e), _) => paths.attach_failed(name, format!("attaching failed: {e}")),
        }
    }
    on.retain(|(_, fast, ..)| fast.is_none_or(|n| paths.fast.contains(&n)));
    for (i, hook) in hooks() {
        let (point, result) = match hook.attach {
            Attach::SyscallFexit { .. } | Attach::KernelFexit { .. } => continue,
            // One of the two paths per syscall.
            Attach::SyscallExit { name, .. }
                if fast::has_fast_path(hook.family)
                    && (paths.covered(name) || !FastPaths::tracepoint_loaded(opts.hooks)) =>
            {
                continue;
            }
            Attach::Auto => (hook.program.to_string(), find(hook.program)?.attach()),
            Attach::SyscallExit { name, .. } if absent.contains(&name) => continue,
            Attach::SyscallExit { name, .. } => {
                let point = format!("{} on sys_exit_{name}", hook.program);
                (point, attach_exit(&find(hook.program)?, name))
            }
        };
        match result {
            Ok(link) => on.push((i, None, point, link)),
            Err(source) if hook.required => {
                // A syscall tracepoint is attached through perf_event_open.
                let hint = matches!(hook.attach, Attach::SyscallExit { .. })
                    .then(caps::perf_paranoid_hint_here)
                    .flatten();
                return Err(KernelError::Attach {
                    program: point,
                    source,
                    hint,
                });
            }
            Err(source) => skipped.push((point, source.to_string())),
        }
    }
    on.sort_by_key(|(i, ..)| *i);
    let paths_on = on
        .iter()
        .map(|(i, ..)| (HOOKS[*i].family, path_name(HOOKS[*i].attach)))
        .collect();
    let links = on
        .into_iter()
        .map(|(_, _, point, link)| (point, link))
        .collect();
    Ok((links, skipped, paths_on))
}

fn attach_exit(
    prog: &libbpf_rs::ProgramMut<'_>,
    syscall: &str,
) -> Result<libbpf_rs::Link, libbpf_rs::Error> {
    prog.attach_tracepoint(TracepointCategory::Syscalls, format!("sys_exit_{syscall}"))
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

/// The syscalls of hooks this kernel cannot have: no number on this
/// architecture (any hook), or, for an optional hook, no exit tracepoint
/// in tracefs: a syscall newer than the kernel (fchmodat2 is 6.6,
/// setxattrat and removexattrat 6.13). Neither path hooks them, and that
/// is not a failure: start-up names them once instead of warning that
/// their hooks did not attach. Where tracefs has no syscall events at all
/// nothing is concluded from it (the attach then says why).
fn absent_syscalls(opts: &LoadOptions) -> Vec<&'static str> {
    let events = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .map(|d| std::path::Path::new(d).join("events/syscalls"))
        .find(|d| d.is_dir());
    let mut out = Vec::new();
    for h in HOOKS.iter().filter(|h| opts.attaches(h)) {
        let Attach::SyscallExit { name, .. } = h.attach else {
            continue;
        };
        let no_event = || {
            events
                .as_ref()
                .is_some_and(|d| !d.join(format!("sys_exit_{name}")).is_dir())
        };
        if (syscall_nr(name).is_none() || (!h.required && no_event())) && !out.contains(&name) {
            out.push(name);
        }
    }
    out
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

    fn lines(log: &[&str]) -> Vec<String> {
        log.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_verifier_rejection_is_told_from_a_missing_privilege() {
        use crate::kernel::Refusal;
        // The 6.12 rejection of edr_file: EACCES and a verifier log.
        let verifier = explain_load_failure(
            &lines(&[
                "libbpf: prog 'edr_file': BPF program load failed: Permission denied",
                "libbpf: prog 'edr_file': -- BEGIN PROG LOAD LOG --",
                "1655: (85) call bpf_probe_read_kernel#113",
                "R2 unbounded memory access, use 'var &= const' or 'if (var < const)'",
                "processed 21393 insns (limit 1000000) max_states_per_insn 14",
                "-- END PROG LOAD LOG --",
                "libbpf: prog 'edr_file': failed to load: -EACCES",
            ]),
            &libbpf_rs::Error::from_raw_os_error(13),
        );
        assert_eq!(verifier.refusal(), Refusal::Verifier, "{verifier}");
        let shown = verifier.to_string();
        assert!(
            shown.starts_with(
                "loading BPF program edr_file failed: Permission denied (os error 13)\n  \
                 kernel log (last lines):\n    1655: (85) call bpf_probe_read_kernel#113\n    \
                 R2 unbounded memory access"
            ),
            "{shown}"
        );
        // No CAP_BPF: EPERM, no verifier log (libbpf 1.5+ and older spellings).
        for code in ["-EPERM", "-1"] {
            let eperm = explain_load_failure(
                &lines(&[
                    "libbpf: prog 'edr_exec': BPF program load failed: Operation not permitted",
                    &format!("libbpf: prog 'edr_exec': failed to load: {code}"),
                ]),
                &libbpf_rs::Error::from_raw_os_error(1),
            );
            assert_eq!(eperm.refusal(), Refusal::Privilege, "{eperm}");
        }
        // EACCES without a verifier log (a security module): not the verifier.
        let denied = KernelError::Load {
            program: "edr_exec".into(),
            reason: "Permission denied (os error 13)".into(),
            log: Vec::new(),
        };
        assert_eq!(denied.refusal(), Refusal::Privilege);
        let object = KernelError::LoadObject {
            reason: "Invalid argument (os error 22)".into(),
            log: Vec::new(),
        };
        assert_eq!(object.refusal(), Refusal::Other);
        assert_eq!(
            KernelError::UnknownProgram("edr_x".into()).refusal(),
            Refusal::Other
        );
    }

    fn refused(program: &str) -> KernelError {
        KernelError::Load {
            program: program.into(),
            reason: "Permission denied (os error 13)".into(),
            log: vec!["invalid bpf_context access off=16 size=8".into()],
        }
    }

    #[test]
    fn only_an_optional_program_refused_for_the_first_time_is_left_out() {
        let left = optional_failure(refused("edr_dup2"), &LeftOut::new()).unwrap();
        assert_eq!(
            left,
            (
                "edr_dup2".to_string(),
                "Permission denied (os error 13)\n  kernel log (last lines):\n    \
                 invalid bpf_context access off=16 size=8"
                    .to_string()
            )
        );
        // Required: dup3, and the file program (some of its hooks are).
        for required in ["edr_dup3", "edr_file", "edr_exec"] {
            let e = optional_failure(refused(required), &LeftOut::new()).unwrap_err();
            assert!(
                matches!(&e, KernelError::Load { program, .. } if program == required),
                "{e}"
            );
        }
        // Named again after it was left out: no progress, so it ends.
        let e = optional_failure(refused("edr_dup2"), &vec![left]).unwrap_err();
        assert!(matches!(e, KernelError::Load { .. }), "{e}");
        // No program named (a map, BTF): ends as before.
        let object = KernelError::LoadObject {
            reason: "Invalid argument".into(),
            log: Vec::new(),
        };
        assert!(matches!(
            optional_failure(object, &LeftOut::new()),
            Err(KernelError::LoadObject { .. })
        ));
    }
}
