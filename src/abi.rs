//! Rust mirrors of `include/edr_abi.h`, the one kernel/userspace ABI.
//!
//! The structs are `#[repr(C)]` with the same fields, in the same order, as
//! the C header. Sizes are pinned at compile time here and, in the tests
//! below, every size, field offset and constant is compared with the types
//! libbpf-cargo generated from the BTF of the compiled BPF object, so the
//! two sides cannot drift apart silently.

/// Version of the record layout; a layout change bumps it on both sides.
pub const ABI_VERSION: u8 = 1;

pub const COMM_LEN: usize = 16;
pub const PATH_MAX: usize = 4096;
pub const ARGS_MAX: usize = 8192;
/// Upper bound of the data following an exec record's fixed part.
pub const EXEC_DATA_MAX: usize = 3 * PATH_MAX + ARGS_MAX;

/// Record kinds: fixed numbers grouped by family, never reused.
pub mod kind {
    pub const EXEC: u16 = 1;
    pub const FORK: u16 = 2;
    pub const EXIT: u16 = 3;
    /// Size of the per-kind counter arrays.
    pub const MAX: usize = 64;

    /// Stable name of a kind, as used in health counters.
    pub fn name(kind: u16) -> Option<&'static str> {
        match kind {
            EXEC => Some("exec"),
            FORK => Some("fork"),
            EXIT => Some("exit"),
            _ => None,
        }
    }

    /// Every kind this build knows, in numeric order.
    pub const ALL: [u16; 3] = [EXEC, FORK, EXIT];
}

/// `edr_exec.flags` bits.
pub mod exec_flag {
    pub const FILENAME_TRUNC: u32 = 1 << 0;
    pub const EXE_TRUNC: u32 = 1 << 1;
    pub const CWD_TRUNC: u32 = 1 << 2;
    pub const ARGS_TRUNC: u32 = 1 << 3;
    pub const ARGS_FAULT: u32 = 1 << 4;
    pub const EXE_DETACHED: u32 = 1 << 5;
}

/// `struct edr_hdr`: starts every record.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Hdr {
    pub kind: u16,
    pub abi_version: u8,
    pub pad0: u8,
    /// Bytes of the whole record, header included.
    pub size: u32,
    /// CLOCK_BOOTTIME nanoseconds.
    pub ktime_ns: u64,
    /// Kernel task id (thread).
    pub pid: u32,
    /// Process id (thread group id).
    pub tgid: u32,
}

/// `struct edr_slice`: a byte range in the data after a fixed part.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    pub off: u16,
    pub len: u16,
}

/// `struct edr_exec`: fixed part of an exec record.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Exec {
    pub hdr: Hdr,
    pub start_ns: u64,
    pub parent_start_ns: u64,
    pub cgroup_id: u64,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    pub auid: u32,
    pub sessionid: u32,
    pub argc: u32,
    pub flags: u32,
    pub pad0: u32,
    pub comm: [u8; COMM_LEN],
    pub filename: Slice,
    pub cwd: Slice,
    pub exe: Slice,
    pub args: Slice,
}

/// `struct edr_fork`: a new process; the header names the parent.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Fork {
    pub hdr: Hdr,
    pub child_start_ns: u64,
    pub parent_start_ns: u64,
    pub child_pid: u32,
    pub child_ppid: u32,
}

/// `struct edr_exit`: the last thread of a process exited.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub hdr: Hdr,
    pub start_ns: u64,
    /// wait(2) status.
    pub exit_code: u32,
    pub ppid: u32,
    pub comm: [u8; COMM_LEN],
}

/// `struct edr_kstats`: one CPU's kernel-side counters.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KStats {
    pub ringbuf_drops: [u64; kind::MAX],
}

impl Default for KStats {
    fn default() -> Self {
        KStats {
            ringbuf_drops: [0; kind::MAX],
        }
    }
}

// SAFETY: all of these are #[repr(C)] structs of integers and integer
// arrays with explicit padding fields: every bit pattern is a valid value,
// and there is no implicit padding (the size asserts below prove it).
unsafe impl plain::Plain for Hdr {}
// SAFETY: as above.
unsafe impl plain::Plain for Slice {}
// SAFETY: as above.
unsafe impl plain::Plain for Exec {}
// SAFETY: as above.
unsafe impl plain::Plain for Fork {}
// SAFETY: as above.
unsafe impl plain::Plain for Exit {}
// SAFETY: as above.
unsafe impl plain::Plain for KStats {}

const _: () = assert!(size_of::<Hdr>() == 24);
const _: () = assert!(size_of::<Slice>() == 4);
const _: () = assert!(size_of::<Exec>() == 120);
const _: () = assert!(size_of::<Fork>() == 48);
const _: () = assert!(size_of::<Exit>() == 56);
const _: () = assert!(size_of::<KStats>() == 8 * kind::MAX);
const _: () = assert!(EXEC_DATA_MAX < 65536);

/// Bytes of a plain struct, for encoders and tests.
pub fn as_bytes<T: plain::Plain>(v: &T) -> &[u8] {
    // SAFETY: T: Plain is a #[repr(C)] integer-only type without implicit
    // padding, so all size_of::<T>() bytes are initialized.
    unsafe { plain::as_bytes(v) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::types as c;
    use std::mem::offset_of;

    /// Asserts that the size and each named field's offset match between
    /// our mirror and the BTF-generated C type.
    macro_rules! same_layout {
        ($ours:ty, $theirs:ty, [$($field:ident),* $(,)?]) => {{
            assert_eq!(size_of::<$ours>(), size_of::<$theirs>(), "size of {}", stringify!($ours));
            $(
                assert_eq!(
                    offset_of!($ours, $field),
                    offset_of!($theirs, $field),
                    "offset of {}.{}",
                    stringify!($ours),
                    stringify!($field)
                );
            )*
        }};
    }

    #[test]
    fn layouts_match_compiled_object() {
        same_layout!(
            Hdr,
            c::edr_hdr,
            [kind, abi_version, pad0, size, ktime_ns, pid, tgid]
        );
        same_layout!(Slice, c::edr_slice, [off, len]);
        same_layout!(
            Exec,
            c::edr_exec,
            [
                hdr,
                start_ns,
                parent_start_ns,
                cgroup_id,
                ppid,
                uid,
                gid,
                euid,
                egid,
                auid,
                sessionid,
                argc,
                flags,
                pad0,
                comm,
                filename,
                cwd,
                exe,
                args
            ]
        );
        same_layout!(
            Fork,
            c::edr_fork,
            [hdr, child_start_ns, parent_start_ns, child_pid, child_ppid]
        );
        same_layout!(Exit, c::edr_exit, [hdr, start_ns, exit_code, ppid, comm]);
        same_layout!(KStats, c::edr_kstats, [ringbuf_drops]);
    }

    #[test]
    fn constants_match_compiled_object() {
        assert_eq!(u32::from(kind::EXEC), c::edr_kind::EDR_KIND_EXEC.0);
        assert_eq!(u32::from(kind::FORK), c::edr_kind::EDR_KIND_FORK.0);
        assert_eq!(u32::from(kind::EXIT), c::edr_kind::EDR_KIND_EXIT.0);
        assert_eq!(kind::MAX as u32, c::edr_kind::EDR_KIND_MAX.0);
        use c::edr_exec_flag as f;
        assert_eq!(exec_flag::FILENAME_TRUNC, f::EDR_EXEC_F_FILENAME_TRUNC.0);
        assert_eq!(exec_flag::EXE_TRUNC, f::EDR_EXEC_F_EXE_TRUNC.0);
        assert_eq!(exec_flag::CWD_TRUNC, f::EDR_EXEC_F_CWD_TRUNC.0);
        assert_eq!(exec_flag::ARGS_TRUNC, f::EDR_EXEC_F_ARGS_TRUNC.0);
        assert_eq!(exec_flag::ARGS_FAULT, f::EDR_EXEC_F_ARGS_FAULT.0);
        assert_eq!(exec_flag::EXE_DETACHED, f::EDR_EXEC_F_EXE_DETACHED.0);
        // The data area the BPF side reserves is exactly what we accept.
        assert_eq!(
            size_of::<c::edr_exec_buf>() - size_of::<c::edr_exec>(),
            EXEC_DATA_MAX
        );
        assert_eq!(size_of::<c::edr_config>(), 8);
    }

    #[test]
    fn kind_names_are_unique_and_complete() {
        let names: Vec<_> = kind::ALL.iter().map(|k| kind::name(*k).unwrap()).collect();
        let mut dedup = names.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(names.len(), dedup.len());
        assert_eq!(kind::name(0), None);
        assert_eq!(kind::name(kind::MAX as u16), None);
    }
}
