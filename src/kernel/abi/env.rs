//! Mirror of `struct edr_exec_env` (issue 18, T1574.006): the dynamic-linker
//! variables found in a new image's environment, sent right before the
//! exec record they belong to. Its own file so the exec mirror in `abi.rs`
//! stays as it is.

use super::{Hdr, Slice};

/// Bytes of one environment read in the kernel: a longer matched string is
/// cut there (`env_flag::VALUE_TRUNC`).
pub const ENV_READ: usize = 2048;
/// Reads the kernel makes per exec before it stops (`env_flag::CUT`).
pub const ENV_SCAN_MAX: usize = 1024;
/// Matched strings sent per exec (`env_flag::MATCH_TRUNC` beyond).
pub const ENV_MATCH_MAX: usize = 4;
/// Upper bound of the data following an exec_env record's fixed part.
pub const ENV_DATA_MAX: usize = ENV_MATCH_MAX * ENV_READ;

/// `edr_exec_env.flags` bits.
pub mod env_flag {
    /// The scan stopped at `ENV_SCAN_MAX` reads before the environment's end.
    pub const CUT: u32 = 1 << 0;
    /// An environment page could not be read; the rest was not scanned.
    pub const FAULT: u32 = 1 << 1;
    /// A matched string was longer than one read and was cut.
    pub const VALUE_TRUNC: u32 = 1 << 2;
    /// More than `ENV_MATCH_MAX` strings matched; the later ones are not sent.
    pub const MATCH_TRUNC: u32 = 1 << 3;
}

/// `struct edr_exec_env`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExecEnv {
    pub hdr: Hdr,
    /// start_boottime of the process: with `hdr.tgid`, names the exec.
    pub start_ns: u64,
    pub flags: u32,
    /// Environment strings scanned to their end.
    pub strings: u32,
    /// Bytes left unscanned (`CUT`, `FAULT`).
    pub unscanned_bytes: u32,
    /// Strings in `vars`.
    pub count: u16,
    pub pad0: u16,
    /// `NAME=value` strings, each NUL-terminated.
    pub vars: Slice,
    pub pad1: u32,
}

// SAFETY: #[repr(C)] integers and a Slice of integers with explicit padding
// fields: every bit pattern is valid, and the size assert below proves
// there is no implicit padding.
unsafe impl plain::Plain for ExecEnv {}

const _: () = assert!(size_of::<ExecEnv>() == 56);
const _: () = assert!(ENV_DATA_MAX < 65536);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::bpf::types as c;
    use std::mem::offset_of;

    #[test]
    fn layout_matches_compiled_object() {
        assert_eq!(size_of::<ExecEnv>(), size_of::<c::edr_exec_env>());
        let ours = [
            offset_of!(ExecEnv, hdr),
            offset_of!(ExecEnv, start_ns),
            offset_of!(ExecEnv, flags),
            offset_of!(ExecEnv, strings),
            offset_of!(ExecEnv, unscanned_bytes),
            offset_of!(ExecEnv, count),
            offset_of!(ExecEnv, pad0),
            offset_of!(ExecEnv, vars),
            offset_of!(ExecEnv, pad1),
        ];
        let theirs = [
            offset_of!(c::edr_exec_env, hdr),
            offset_of!(c::edr_exec_env, start_ns),
            offset_of!(c::edr_exec_env, flags),
            offset_of!(c::edr_exec_env, strings),
            offset_of!(c::edr_exec_env, unscanned_bytes),
            offset_of!(c::edr_exec_env, count),
            offset_of!(c::edr_exec_env, pad0),
            offset_of!(c::edr_exec_env, vars),
            offset_of!(c::edr_exec_env, pad1),
        ];
        assert_eq!(ours, theirs);
    }

    #[test]
    fn constants_match_compiled_object() {
        use c::edr_env_flag as f;
        assert_eq!(env_flag::CUT, f::EDR_ENV_F_CUT.0);
        assert_eq!(env_flag::FAULT, f::EDR_ENV_F_FAULT.0);
        assert_eq!(env_flag::VALUE_TRUNC, f::EDR_ENV_F_VALUE_TRUNC.0);
        assert_eq!(env_flag::MATCH_TRUNC, f::EDR_ENV_F_MATCH_TRUNC.0);
        assert_eq!(
            u32::from(super::super::kind::EXEC_ENV),
            c::edr_kind::EDR_KIND_EXEC_ENV.0
        );
        // The data area the kernel sends from is what we accept.
        let out = std::mem::offset_of!(c::edr_env_buf, out);
        assert_eq!(out, size_of::<c::edr_exec_env>());
        assert_eq!(
            std::mem::offset_of!(c::edr_env_buf, pos) - out,
            ENV_DATA_MAX
        );
    }
}
