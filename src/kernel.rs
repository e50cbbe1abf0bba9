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
use libbpf_rs::{Link, MapCore, MapFlags, OpenObject, PrintLevel};

use crate::abi::KStats;
use crate::bpf::{EdrSkel, EdrSkelBuilder};

/// What the loader needs from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    pub ring_buffer_bytes: u32,
    pub wakeup_bytes: u32,
    /// The agent's own process id: the kernel never reports it.
    pub agent_tgid: u32,
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
        let errno: i32 = tail.trim().trim_start_matches('-').parse().ok()?;
        Some((name.to_string(), errno))
    });
    let verifier: Vec<String> = log
        .iter()
        .skip_while(|l| !l.contains("-- BEGIN PROG LOAD LOG --"))
        .skip(1)
        .take_while(|l| !l.contains("-- END PROG LOAD LOG --"))
        .cloned()
        .collect();
    match failed {
        Some((program, errno)) => KernelError::Load {
            program,
            reason: std::io::Error::from_raw_os_error(errno).to_string(),
            log: verifier,
        },
        None => KernelError::LoadObject {
            reason: fallback.to_string(),
            log: log.iter().rev().take(4).rev().cloned().collect(),
        },
    }
}

/// Loaded and attached BPF programs. Dropping it detaches everything.
pub struct Kernel<'obj> {
    pub skel: EdrSkel<'obj>,
    links: Vec<(String, Link)>,
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
        open.maps
            .edr_events
            .set_max_entries(opts.ring_buffer_bytes)
            .map_err(|source| KernelError::Map {
                map: "edr_events",
                source,
            })?;

        let skel = open
            .load()
            .map_err(|e| explain_load_failure(&take_libbpf_log(), &e))?;
        take_libbpf_log();

        let mut links = Vec::new();
        for prog in skel.object().progs_mut() {
            let name = prog.name().to_string_lossy().into_owned();
            if !prog.autoload() {
                continue;
            }
            let link = prog.attach().map_err(|source| KernelError::Attach {
                program: name.clone(),
                source,
            })?;
            links.push((name, link));
        }
        Ok(Kernel { skel, links })
    }

    /// Names of the attached programs, in object order.
    pub fn attached(&self) -> impl Iterator<Item = &str> {
        self.links.iter().map(|(n, _)| n.as_str())
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
            if plain::copy_from_bytes(&mut one, &bytes).is_err() {
                continue;
            }
            for (t, v) in total.ringbuf_drops.iter_mut().zip(one.ringbuf_drops.iter()) {
                *t += v;
            }
        }
        Some(total)
    }
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
            "libbpf: prog 'edr_exec': failed to load: -13",
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
