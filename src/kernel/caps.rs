//! Capabilities the kernel part needs, checked before anything is loaded,
//! so that a missing one is named instead of surfacing as an `EPERM` from
//! deep inside libbpf.
//!
//! In: the effective capability set (`capget(2)`) and the kernel's highest
//! capability number (`/proc/sys/kernel/cap_last_cap`). Out: `Ok`, or a
//! [`CapsError`] naming what is missing and how to grant it; plus warnings
//! for capabilities whose absence only costs context.
//!
//! What needs what:
//! - loading the tracing programs and their maps, and attaching them:
//!   `CAP_BPF` and `CAP_PERFMON` (Linux >= 5.8), or `CAP_SYS_ADMIN`, which
//!   covers both and is the only way on a kernel that predates them;
//! - seeding the process table from `/proc` reads `/proc/PID/exe` of
//!   every process: other users' (and non-dumpable) processes need
//!   `CAP_SYS_PTRACE`;
//! - the read watch stats the `[file] watch_reads` paths: a file in a
//!   directory the agent's user cannot search (another user's `~/.ssh`)
//!   needs `CAP_DAC_READ_SEARCH` (or `CAP_DAC_OVERRIDE`).
//!
//! Only the first is required: without the others the agent runs, knows
//! less, and says so at start-up.

use std::fmt;
use std::io;

pub const CAP_DAC_OVERRIDE: u32 = 1;
pub const CAP_DAC_READ_SEARCH: u32 = 2;
pub const CAP_SYS_PTRACE: u32 = 19;
pub const CAP_SYS_ADMIN: u32 = 21;
pub const CAP_PERFMON: u32 = 38;
pub const CAP_BPF: u32 = 39;

/// The name `capabilities(7)` uses.
pub fn name(cap: u32) -> &'static str {
    match cap {
        CAP_DAC_OVERRIDE => "CAP_DAC_OVERRIDE",
        CAP_DAC_READ_SEARCH => "CAP_DAC_READ_SEARCH",
        CAP_SYS_PTRACE => "CAP_SYS_PTRACE",
        CAP_SYS_ADMIN => "CAP_SYS_ADMIN",
        CAP_PERFMON => "CAP_PERFMON",
        CAP_BPF => "CAP_BPF",
        _ => "CAP_?",
    }
}

/// A capability set as the kernel reports it: bit N is capability N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapSet(pub u64);

impl CapSet {
    pub fn of(caps: &[u32]) -> CapSet {
        CapSet(caps.iter().fold(0, |m, c| m | 1 << c))
    }

    pub fn has(self, cap: u32) -> bool {
        cap < 64 && self.0 & (1 << cap) != 0
    }

    /// The calling thread's effective set (every thread of the agent has
    /// the same: nothing changes capabilities after start-up).
    pub fn effective() -> io::Result<CapSet> {
        // <linux/capability.h>: version 3 takes two 32-bit data structs.
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Clone, Copy, Default)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
        let mut header = Header {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let mut data = [Data::default(); 2];
        // SAFETY: capget reads `header` and, for version 3, writes exactly
        // two `Data` structs at the second pointer; both are live, properly
        // laid out (#[repr(C)], as in <linux/capability.h>) and exclusively
        // borrowed for the call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_capget,
                &mut header as *mut Header,
                data.as_mut_ptr(),
            )
        };
        if ret != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(CapSet(
            u64::from(data[0].effective) | u64::from(data[1].effective) << 32,
        ))
    }
}

/// The kernel's highest capability number; `None` when it cannot be read
/// (then the kernel is assumed to know CAP_BPF: the agent needs 5.17+
/// features anyway, and the load error would say what is wrong).
pub fn last_cap() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CapsError {
    /// Capabilities needed to load BPF that the agent does not have.
    #[error("{}", missing_message(.missing, *.kernel_has_bpf))]
    Missing {
        missing: Vec<u32>,
        /// The kernel knows CAP_BPF and CAP_PERFMON (Linux >= 5.8).
        kernel_has_bpf: bool,
    },
    #[error("cannot read the agent's capabilities (capget): {0}")]
    Read(String),
}

fn missing_message(missing: &[u32], kernel_has_bpf: bool) -> String {
    let names: Vec<&str> = missing.iter().map(|c| name(*c)).collect();
    if kernel_has_bpf {
        format!(
            "missing capabilit{} {} (and CAP_SYS_ADMIN as a fallback): loading the BPF programs \
             needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN; run as root, or grant them \
             (systemd: AmbientCapabilities=CAP_BPF CAP_PERFMON, and keep them in \
             CapabilityBoundingSet=)",
            if names.len() == 1 { "y" } else { "ies" },
            names.join(" and ")
        )
    } else {
        "missing capability CAP_SYS_ADMIN: loading the BPF programs needs it on this kernel, \
         which predates CAP_BPF and CAP_PERFMON (Linux 5.8); run as root, or grant it \
         (systemd: AmbientCapabilities=CAP_SYS_ADMIN, and keep it in CapabilityBoundingSet=)"
            .to_string()
    }
}

/// May a process with `eff` load and attach the agent's BPF programs on a
/// kernel whose highest capability is `last_cap`?
pub fn check_bpf(eff: CapSet, last_cap: Option<u32>) -> Result<(), CapsError> {
    if eff.has(CAP_SYS_ADMIN) {
        return Ok(());
    }
    let kernel_has_bpf = last_cap.is_none_or(|l| l >= CAP_BPF);
    let missing: Vec<u32> = if kernel_has_bpf {
        [CAP_BPF, CAP_PERFMON]
            .into_iter()
            .filter(|c| !eff.has(*c))
            .collect()
    } else {
        vec![CAP_SYS_ADMIN]
    };
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CapsError::Missing {
            missing,
            kernel_has_bpf,
        })
    }
}

/// [`check_bpf`] on this process.
pub fn check_bpf_here() -> Result<(), CapsError> {
    let eff = CapSet::effective().map_err(|e| CapsError::Read(e.to_string()))?;
    check_bpf(eff, last_cap())
}

/// Why attaching a syscall tracepoint was probably refused: upstream, a
/// `kernel.perf_event_paranoid` above 2 means what 2 does, but Debian's
/// kernels (a Debian patch) then allow `perf_event_open(2)`, which attaches
/// classic tracepoints, only with `CAP_SYS_ADMIN`, `CAP_PERFMON` or not:
/// found by `cargo xtask systemd-test` on Debian 12's kernel with the unit's
/// capabilities minus `CAP_SYS_ADMIN`. `None` when that cannot be the
/// reason.
pub fn perf_paranoid_hint(eff: CapSet, paranoid: Option<i32>) -> Option<String> {
    let level = paranoid.filter(|p| *p > 2)?;
    (!eff.has(CAP_SYS_ADMIN)).then(|| {
        format!(
            "kernel.perf_event_paranoid is {level} here, and kernels patched as Debian's \
             allow perf_event_open, which attaches the syscall tracepoints, only with \
             CAP_SYS_ADMIN: grant it (systemd: keep it in CapabilityBoundingSet=), or set \
             the sysctl to 2"
        )
    })
}

/// [`perf_paranoid_hint`] for this process and kernel.
pub fn perf_paranoid_hint_here() -> Option<String> {
    let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()?
        .trim()
        .parse()
        .ok();
    perf_paranoid_hint(CapSet::effective().ok()?, paranoid)
}

/// A capability whose absence makes the agent see less, and what it costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Degraded {
    pub cap: u32,
    pub cost: &'static str,
}

impl fmt::Display for Degraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no {}: {}", name(self.cap), self.cost)
    }
}

/// What the agent will not see with `eff` (`watch_reads`: the read watch
/// is on).
pub fn degraded(eff: CapSet, watch_reads: bool) -> Vec<Degraded> {
    let mut out = Vec::new();
    if !eff.has(CAP_SYS_PTRACE) {
        out.push(Degraded {
            cap: CAP_SYS_PTRACE,
            cost: "processes of other users that started before the agent are known \
                   without their executable (/proc/PID/exe is not readable)",
        });
    }
    if watch_reads && !eff.has(CAP_DAC_READ_SEARCH) && !eff.has(CAP_DAC_OVERRIDE) {
        out.push(Degraded {
            cap: CAP_DAC_READ_SEARCH,
            cost: "a [file] watch_reads file in a directory the agent's user cannot \
                   search (another user's ~/.ssh) is not found, so not watched",
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW_KERNEL: Option<u32> = Some(40);

    #[test]
    fn bpf_and_perfmon_or_sys_admin() {
        let ok = |caps: &[u32], last| check_bpf(CapSet::of(caps), last).is_ok();
        assert!(ok(&[CAP_BPF, CAP_PERFMON], NEW_KERNEL));
        assert!(ok(&[CAP_SYS_ADMIN], NEW_KERNEL));
        assert!(ok(&[CAP_SYS_ADMIN], Some(37)));
        assert!(ok(&[CAP_BPF, CAP_PERFMON], None));
        assert!(!ok(&[CAP_BPF], NEW_KERNEL));
        assert!(!ok(&[CAP_PERFMON, CAP_SYS_PTRACE], NEW_KERNEL));
        assert!(!ok(&[], NEW_KERNEL));
        // A kernel before 5.8 does not know CAP_BPF: only CAP_SYS_ADMIN.
        assert!(!ok(&[CAP_BPF, CAP_PERFMON], Some(37)));
    }

    #[test]
    fn the_missing_capability_is_named() {
        let msg = |caps: &[u32], last| check_bpf(CapSet::of(caps), last).unwrap_err().to_string();
        assert_eq!(
            msg(&[CAP_PERFMON], NEW_KERNEL),
            "missing capability CAP_BPF (and CAP_SYS_ADMIN as a fallback): loading the BPF \
             programs needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN; run as root, or grant \
             them (systemd: AmbientCapabilities=CAP_BPF CAP_PERFMON, and keep them in \
             CapabilityBoundingSet=)"
        );
        assert!(
            msg(&[CAP_BPF], NEW_KERNEL).starts_with("missing capability CAP_PERFMON (and"),
            "{}",
            msg(&[CAP_BPF], NEW_KERNEL)
        );
        assert!(
            msg(&[], NEW_KERNEL)
                .starts_with("missing capabilities CAP_BPF and CAP_PERFMON (and CAP_SYS_ADMIN")
        );
        assert!(msg(&[CAP_BPF, CAP_PERFMON], Some(37)).starts_with(
            "missing capability CAP_SYS_ADMIN: loading the BPF programs needs it on this kernel"
        ));
    }

    #[test]
    fn perf_paranoid_above_2_without_sys_admin_is_named() {
        let bpf = CapSet::of(&[CAP_BPF, CAP_PERFMON]);
        let hint = perf_paranoid_hint(bpf, Some(3)).unwrap();
        assert!(
            hint.starts_with("kernel.perf_event_paranoid is 3 here, and kernels patched"),
            "{hint}"
        );
        assert!(hint.contains("only with CAP_SYS_ADMIN"), "{hint}");
        assert_eq!(perf_paranoid_hint(bpf, Some(2)), None);
        assert_eq!(perf_paranoid_hint(bpf, None), None);
        assert_eq!(
            perf_paranoid_hint(CapSet::of(&[CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN]), Some(3)),
            None
        );
    }

    #[test]
    fn missing_context_capabilities_are_warnings() {
        let all = CapSet::of(&[CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH]);
        assert_eq!(degraded(all, true), []);
        let caps = |d: Vec<Degraded>| d.into_iter().map(|d| d.cap).collect::<Vec<_>>();
        assert_eq!(
            caps(degraded(CapSet::of(&[]), true)),
            [CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH]
        );
        // No read watch: nothing to find.
        assert_eq!(caps(degraded(CapSet::of(&[]), false)), [CAP_SYS_PTRACE]);
        // CAP_DAC_OVERRIDE searches too.
        assert_eq!(
            degraded(CapSet::of(&[CAP_SYS_PTRACE, CAP_DAC_OVERRIDE]), true),
            []
        );
        assert!(
            degraded(CapSet::of(&[]), false)[0]
                .to_string()
                .starts_with("no CAP_SYS_PTRACE: processes of other users")
        );
    }

    #[test]
    fn effective_set_of_this_process_matches_proc() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let hex = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .unwrap()
            .trim();
        let from_proc = u64::from_str_radix(hex, 16).unwrap();
        assert_eq!(CapSet::effective().unwrap(), CapSet(from_proc));
    }
}
