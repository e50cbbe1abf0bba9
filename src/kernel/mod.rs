//! The kernel side from userspace: open the BPF object, set the rodata
//! config and map sizes, load, attach program by program, and read the
//! kernel counters.
//!
//! - [`hooks`]: the program and hook table;
//! - `object`: where the BPF object comes from and its ABI check;
//! - `load`: [`Kernel::load`], step by step;
//! - `counters`: what the kernel counted ([`Kernel::read_kstats`],
//!   [`Kernel::program_stats`]).
//!
//! Errors name the program and carry the kernel's reason (the verifier's
//! last lines for a load failure), because "Permission denied" alone does
//! not tell an operator which hook their kernel refused.

pub mod abi;
#[cfg(test)]
mod bpf;
pub mod caps;
mod counters;
pub mod decode;
mod fast;
pub mod hooks;
mod load;
mod object;
pub mod syscalls;

use std::path::PathBuf;

use libbpf_rs::{Link, Map, MapCore, Object};

use crate::config::{Cidr, HookPath, NetHook};
use abi::PrefixKey;

pub use counters::{ProgramStats, bpf_stats_enabled};
pub use hooks::{Attach, Family, HOOKS, Hook, family_of};
pub use load::ENV_REJECT;
pub use object::{ENV_OBJECT, ObjectSource};
pub use syscalls::nr as syscall_nr;

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
    /// Where the file family hooks (`[kernel] hooks`, `fast`).
    pub hooks: HookPath,
    /// Report failed file operations instead of counting them.
    pub report_failed: bool,
    /// Look read-only opens up in `edr_read_watch` (the caller fills it
    /// after the load, see `watch::Keeper`). Off: the check is compiled
    /// out by the verifier (the flag is read-only data).
    pub watch_reads: bool,
    /// Kernel path-prefix filter entries (see `filter::PrefixRules`).
    pub prefixes: Vec<(PrefixKey, u32)>,
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
    #[error("[kernel] hooks = \"fentry\": {hook} cannot be used: {reason}")]
    FastPath { hook: String, reason: String },
    #[error("attaching BPF program {program} failed: {source}{}", .hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Attach {
        program: String,
        #[source]
        source: libbpf_rs::Error,
        /// What probably refused it, when the agent can tell
        /// ([`caps::perf_paranoid_hint`]).
        hint: Option<String>,
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

/// Why the kernel refused, as far as an error tells: the operator's fix
/// differs (privileges, or a kernel this build does not support).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// EPERM (or EACCES without a verifier log): not allowed to load.
    Privilege,
    /// EACCES with a verifier log: the verifier rejected the program.
    Verifier,
    /// Anything else (no such map, attach point, BTF, ...).
    Other,
}

impl KernelError {
    pub fn refusal(&self) -> Refusal {
        const EACCES: &str = "(os error 13)";
        match self {
            KernelError::Load { reason, log, .. } if reason.ends_with(EACCES) => {
                if log.is_empty() {
                    Refusal::Privilege
                } else {
                    Refusal::Verifier
                }
            }
            KernelError::Load { reason, .. } | KernelError::LoadObject { reason, .. }
                if reason.contains("Operation not permitted") || reason.ends_with(EACCES) =>
            {
                Refusal::Privilege
            }
            // The program type refused, not BPF as a whole: root would not help.
            KernelError::FastPath { .. } => Refusal::Other,
            e if e.to_string().contains("Operation not permitted") => Refusal::Privilege,
            _ => Refusal::Other,
        }
    }
}

fn log_tail(log: &[String]) -> String {
    if log.is_empty() {
        return String::new();
    }
    let tail: Vec<&str> = log.iter().rev().take(8).rev().map(String::as_str).collect();
    format!("\n  kernel log (last lines):\n    {}", tail.join("\n    "))
}

/// Loaded and attached BPF programs. Dropping it detaches everything.
pub struct Kernel {
    obj: Object,
    links: Vec<(String, Link)>,
    /// Optional hooks that did not attach, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Syscalls of hooks this kernel does not have (newer than it, or not
    /// on this architecture): not hooked on either path.
    pub absent: Vec<&'static str>,
    /// Optional programs the kernel refused to load, with its reason (the
    /// verifier's last lines included); their hooks are off.
    pub not_loaded: Vec<(String, String)>,
    /// Fast hooks (a syscall, or a kernel function such as udp_sendmsg)
    /// left on the tracepoints although `[kernel] hooks` is "auto", each
    /// with the reason the fast path was not taken.
    pub fallbacks: Vec<(&'static str, String)>,
    /// The path each loaded family's hooks use ("fentry", "tracepoint",
    /// "tp_btf"), for the start-up line and the health record.
    pub hook_paths: Vec<(&'static str, String)>,
}

impl Kernel {
    /// A map of the loaded object, by name.
    pub fn map(&self, name: &'static str) -> Result<Map<'_>, KernelError> {
        find_map(&self.obj, name)
    }

    /// Names of the attached programs, in object order.
    pub fn attached(&self) -> impl Iterator<Item = &str> {
        self.links.iter().map(|(n, _)| n.as_str())
    }
}

fn find_map<'a>(obj: &'a Object, name: &'static str) -> Result<Map<'a>, KernelError> {
    obj.maps()
        .find(|m| m.name() == name)
        .ok_or(KernelError::MissingMap(name))
}
