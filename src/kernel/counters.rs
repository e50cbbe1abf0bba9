//! What the kernel counted: the agent's own counters (`edr_kstats`) and,
//! while `kernel.bpf_stats_enabled` is 1, each program's run count and
//! time.

use std::os::fd::{AsFd, AsRawFd};

use libbpf_rs::{MapCore, MapFlags};

use crate::kernel::Kernel;
use crate::kernel::abi::KStats;

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

impl Kernel {
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
