//! Rust mirrors of `include/edr_abi.h`, the one kernel/userspace ABI.
//!
//! The structs are `#[repr(C)]` with the same fields, in the same order, as
//! the C header. Sizes are pinned at compile time here and, in the tests
//! below, every size, field offset and constant is compared with the types
//! libbpf-cargo generated from the BTF of the compiled BPF object, so the
//! two sides cannot drift apart silently.

/// Version of the record layout; a layout change bumps it on both sides.
pub const ABI_VERSION: u8 = 8;

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
    pub const STDIO_SOCKET: u16 = 4;
    pub const SIGNAL: u16 = 5;
    pub const FILE_OPEN: u16 = 16;
    pub const FILE_UNLINK: u16 = 17;
    pub const FILE_RENAME: u16 = 18;
    pub const FILE_CHMOD: u16 = 19;
    pub const FILE_CHOWN: u16 = 20;
    pub const FILE_LINK: u16 = 21;
    pub const FILE_SYMLINK: u16 = 22;
    pub const NET_CONNECT: u16 = 32;
    pub const NET_BIND: u16 = 33;
    pub const NET_LISTEN: u16 = 34;
    pub const NET_ACCEPT: u16 = 35;
    pub const NET_DNS: u16 = 36;
    /// Size of the per-kind counter arrays.
    pub const MAX: usize = 64;

    /// Stable name of a kind, as used in health counters.
    pub fn name(kind: u16) -> Option<&'static str> {
        match kind {
            EXEC => Some("exec"),
            FORK => Some("fork"),
            EXIT => Some("exit"),
            STDIO_SOCKET => Some("stdio_socket"),
            SIGNAL => Some("signal"),
            FILE_OPEN => Some("file_open"),
            FILE_UNLINK => Some("file_unlink"),
            FILE_RENAME => Some("file_rename"),
            FILE_CHMOD => Some("file_chmod"),
            FILE_CHOWN => Some("file_chown"),
            FILE_LINK => Some("file_link"),
            FILE_SYMLINK => Some("file_symlink"),
            NET_CONNECT => Some("net_connect"),
            NET_BIND => Some("net_bind"),
            NET_LISTEN => Some("net_listen"),
            NET_ACCEPT => Some("net_accept"),
            NET_DNS => Some("net_dns"),
            _ => None,
        }
    }

    pub fn is_net(kind: u16) -> bool {
        (NET_CONNECT..=NET_DNS).contains(&kind)
    }

    pub fn is_file(kind: u16) -> bool {
        (FILE_OPEN..=FILE_SYMLINK).contains(&kind)
    }

    /// Every kind this build knows, in numeric order.
    pub const ALL: [u16; 17] = [
        EXEC,
        FORK,
        EXIT,
        STDIO_SOCKET,
        SIGNAL,
        FILE_OPEN,
        FILE_UNLINK,
        FILE_RENAME,
        FILE_CHMOD,
        FILE_CHOWN,
        FILE_LINK,
        FILE_SYMLINK,
        NET_CONNECT,
        NET_BIND,
        NET_LISTEN,
        NET_ACCEPT,
        NET_DNS,
    ];
}

/// `edr_net.syscall`: which syscall made a network record.
pub mod net_syscall {
    pub const ALL: [(u16, &str); 9] = [
        (32, "connect"),
        (33, "bind"),
        (34, "listen"),
        (35, "accept"),
        (36, "accept4"),
        (37, "sendto"),
        (38, "sendmsg"),
        (39, "sendmmsg"),
        (40, "write"),
    ];

    pub fn name(n: u16) -> Option<&'static str> {
        ALL.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)
    }
}

/// `edr_stdio.syscall`: the exec or dup that made a stdio-socket record.
pub mod stdio_syscall {
    pub const ALL: [(u16, &str); 4] = [(48, "execve"), (49, "dup"), (50, "dup2"), (51, "dup3")];

    pub fn name(n: u16) -> Option<&'static str> {
        ALL.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)
    }
}

/// `edr_net.flags` bits.
pub mod net_flag {
    pub const PATH_TRUNC: u32 = 1 << 0;
    pub const PAYLOAD_TRUNC: u32 = 1 << 1;
    pub const ADDR_FAULT: u32 = 1 << 2;
    pub const IN_PROGRESS: u32 = 1 << 3;
}

pub const UNIX_PATH_MAX: usize = 108;
pub const DNS_MAX: usize = 512;
pub const NET_DATA_MAX: usize = UNIX_PATH_MAX + DNS_MAX;

/// `edr_file.syscall`: which syscall made a file record.
pub mod file_syscall {
    /// (number, name) of every syscall the file programs hook.
    pub const ALL: [(u16, &str); 23] = [
        (1, "open"),
        (2, "openat"),
        (3, "openat2"),
        (4, "creat"),
        (5, "unlink"),
        (6, "unlinkat"),
        (7, "rmdir"),
        (8, "rename"),
        (9, "renameat"),
        (10, "renameat2"),
        (11, "chmod"),
        (12, "fchmod"),
        (13, "fchmodat"),
        (14, "fchmodat2"),
        (15, "chown"),
        (16, "lchown"),
        (17, "fchown"),
        (18, "fchownat"),
        (19, "link"),
        (20, "linkat"),
        (21, "symlink"),
        (22, "symlinkat"),
        (23, "open_by_handle_at"),
    ];

    pub fn name(n: u16) -> Option<&'static str> {
        ALL.iter().find(|(k, _)| *k == n).map(|(_, v)| *v)
    }
}

/// `edr_file.flags` bits.
pub mod file_flag {
    pub const PATH_TRUNC: u32 = 1 << 0;
    pub const PATH2_TRUNC: u32 = 1 << 1;
    pub const PATH_FAULT: u32 = 1 << 2;
    pub const PATH2_FAULT: u32 = 1 << 3;
    pub const UNFILTERED: u32 = 1 << 4;
    pub const PATH_RESOLVED: u32 = 1 << 5;
}

pub const FILE_DATA_MAX: usize = 4 * PATH_MAX;
/// Entries of the file program's syscall-number map (`edr_file_sysmap`).
pub const SYSCALL_MAP: usize = 512;
pub const PREFIX_MAX: usize = 128;
// The config checks paths against its own copies of these limits.
const _: () = assert!(crate::config::PATH_BYTES == PATH_MAX);
const _: () = assert!(crate::config::PREFIX_BYTES == PREFIX_MAX);

/// Entries of the prefix trie (`edr_prefixes`): two per prefix.
pub const PREFIX_ENTRIES: usize = 512;

/// Entries of the read-watch map (`edr_read_watch`).
pub const READ_WATCH_MAX: usize = 256;

/// LPM trie values.
pub mod prefix_verdict {
    pub const INCLUDE: u8 = 1;
    pub const EXCLUDE: u8 = 2;
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
    /// Namespace inode numbers, as `/proc/PID/ns/*` name them.
    pub pid_ns: u32,
    pub mnt_ns: u32,
    pub net_ns: u32,
    pub uts_ns: u32,
    pub pad0: u32,
    pub comm: [u8; COMM_LEN],
    pub filename: Slice,
    pub cwd: Slice,
    pub exe: Slice,
    pub args: Slice,
    /// The executed inode as the kernel saw it at exec (device in the
    /// kernel's `MKDEV` encoding): the hasher hashes the exe path of a
    /// process already gone only if the file it opens is this one.
    pub exe_dev: u64,
    pub exe_ino: u64,
    pub exe_ctime_sec: i64,
    pub exe_ctime_nsec: u32,
    pub pad1: u32,
    pub exe_size: u64,
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

/// `struct edr_config`: the tunables the loader writes into .rodata.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub agent_tgid: u32,
    pub wakeup_bytes: u32,
    pub report_failed: u32,
    /// Bit (1 << AF_*) set: report that socket family.
    pub net_families: u32,
    /// 1: look read-only opens up in the read-watch map.
    pub watch_reads: u32,
    /// 1: check for socket stdio at exec (stdio-socket records).
    pub stdio_check: u32,
}

/// `struct edr_file`: fixed part of a file record.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct File {
    pub hdr: Hdr,
    pub ret: i64,
    pub open_flags: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub at_flags: u32,
    pub flags: u32,
    pub syscall: u16,
    /// A read-only open of a watched inode: the watch entry's id
    /// (index in `[file] watch_reads` + 1); 0 otherwise.
    pub read_watch: u16,
    pub dir: Slice,
    pub path: Slice,
    pub dir2: Slice,
    pub path2: Slice,
}

/// `struct edr_net`: fixed part of a network record.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    pub hdr: Hdr,
    pub ret: i64,
    pub local_addr: [u8; 16],
    pub remote_addr: [u8; 16],
    pub family: u16,
    pub sock_type: u16,
    pub protocol: u16,
    pub syscall: u16,
    pub local_port: u16,
    pub remote_port: u16,
    pub flags: u32,
    pub unix_path: Slice,
    pub payload: Slice,
}

/// `struct edr_stdio`: a process whose stdin and stdout or stderr are
/// internet sockets; the socket described is the one on stdin.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stdio {
    pub hdr: Hdr,
    /// The socket's inode number (`socket:[ino]` in /proc/PID/fd).
    pub ino: u64,
    pub local_addr: [u8; 16],
    pub remote_addr: [u8; 16],
    pub family: u16,
    pub sock_type: u16,
    pub protocol: u16,
    pub syscall: u16,
    pub local_port: u16,
    pub remote_port: u16,
    /// Bit n set: fd n (0..2) is an internet socket.
    pub fds: u8,
    /// The fd a dup made (0..2); 0xff at exec.
    pub newfd: u8,
    pub pad0: u16,
}

/// `struct edr_signal`: a signal sent to the agent; `hdr` is the sender.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    pub hdr: Hdr,
    pub target_start_ns: u64,
    pub target_pid: u32,
    pub target_tgid: u32,
    pub sig: i32,
    /// si_code: SI_USER 0, SI_QUEUE -1, SI_TKILL -6.
    pub code: i32,
    /// TRACE_SIGNAL_*: 0 delivered, 1 ignored, 2 already pending, ...
    pub result: i32,
    pub pad0: u32,
}

/// `struct edr_net_key`: a key of the kernel's network LPM trie.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NetKey {
    pub prefixlen: u32,
    pub addr: [u8; 16],
}

/// `struct edr_prefix_key`: a key of the kernel's path-prefix LPM trie.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixKey {
    /// Bits of `data` that count.
    pub prefixlen: u32,
    pub data: [u8; PREFIX_MAX],
}

/// `struct edr_inode_key`: a key of the kernel's read-watch map.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InodeKey {
    /// The superblock's device in the kernel's encoding (`MKDEV`:
    /// major << 20 | minor), see `watch::kernel_dev`.
    pub dev: u64,
    pub ino: u64,
}

/// `struct edr_kstats`: one CPU's kernel-side counters, indexed by kind.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KStats {
    /// Ring buffer full: record lost.
    pub ringbuf_drops: [u64; kind::MAX],
    /// Outside the watched path prefixes (or excluded).
    pub filtered: [u64; kind::MAX],
    /// Failed operations counted instead of reported.
    pub failed: [u64; kind::MAX],
    /// Records sent with a path that could not be read (never filtered).
    pub path_unreadable: [u64; kind::MAX],
}

impl Default for KStats {
    fn default() -> Self {
        KStats {
            ringbuf_drops: [0; kind::MAX],
            filtered: [0; kind::MAX],
            failed: [0; kind::MAX],
            path_unreadable: [0; kind::MAX],
        }
    }
}

impl KStats {
    /// Add another CPU's counters.
    pub fn add(&mut self, other: &KStats) {
        let pairs = [
            (&mut self.ringbuf_drops, &other.ringbuf_drops),
            (&mut self.filtered, &other.filtered),
            (&mut self.failed, &other.failed),
            (&mut self.path_unreadable, &other.path_unreadable),
        ];
        for (mine, theirs) in pairs {
            for (m, t) in mine.iter_mut().zip(theirs.iter()) {
                *m += t;
            }
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
unsafe impl plain::Plain for Config {}
// SAFETY: as above.
unsafe impl plain::Plain for File {}
// SAFETY: as above.
unsafe impl plain::Plain for PrefixKey {}
// SAFETY: as above.
unsafe impl plain::Plain for Net {}
// SAFETY: as above.
unsafe impl plain::Plain for NetKey {}
// SAFETY: as above.
unsafe impl plain::Plain for Stdio {}
// SAFETY: as above.
unsafe impl plain::Plain for Signal {}
// SAFETY: as above.
unsafe impl plain::Plain for KStats {}
// SAFETY: as above.
unsafe impl plain::Plain for InodeKey {}

const _: () = assert!(size_of::<Hdr>() == 24);
const _: () = assert!(size_of::<Slice>() == 4);
const _: () = assert!(size_of::<Exec>() == 176);
const _: () = assert!(size_of::<Fork>() == 48);
const _: () = assert!(size_of::<Exit>() == 56);
const _: () = assert!(size_of::<File>() == 80);
const _: () = assert!(size_of::<Config>() == 24);
const _: () = assert!(size_of::<InodeKey>() == 16);
const _: () = assert!(size_of::<Net>() == 88);
const _: () = assert!(size_of::<NetKey>() == 20);
const _: () = assert!(size_of::<Stdio>() == 80);
const _: () = assert!(size_of::<Signal>() == 56);
const _: () = assert!(size_of::<PrefixKey>() == 4 + PREFIX_MAX);
const _: () = assert!(size_of::<KStats>() == 4 * 8 * kind::MAX);
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
    use crate::kernel::bpf::types as c;
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
                pid_ns,
                mnt_ns,
                net_ns,
                uts_ns,
                pad0,
                comm,
                filename,
                cwd,
                exe,
                args,
                exe_dev,
                exe_ino,
                exe_ctime_sec,
                exe_ctime_nsec,
                pad1,
                exe_size
            ]
        );
        same_layout!(
            Fork,
            c::edr_fork,
            [hdr, child_start_ns, parent_start_ns, child_pid, child_ppid]
        );
        same_layout!(Exit, c::edr_exit, [hdr, start_ns, exit_code, ppid, comm]);
        same_layout!(
            File,
            c::edr_file,
            [
                hdr, ret, open_flags, mode, uid, gid, at_flags, flags, syscall, read_watch, dir,
                path, dir2, path2
            ]
        );
        same_layout!(PrefixKey, c::edr_prefix_key, [prefixlen, data]);
        same_layout!(
            Config,
            c::edr_config,
            [
                agent_tgid,
                wakeup_bytes,
                report_failed,
                net_families,
                watch_reads,
                stdio_check
            ]
        );
        same_layout!(InodeKey, c::edr_inode_key, [dev, ino]);
        same_layout!(
            Net,
            c::edr_net,
            [
                hdr,
                ret,
                local_addr,
                remote_addr,
                family,
                sock_type,
                protocol,
                syscall,
                local_port,
                remote_port,
                flags,
                unix_path,
                payload
            ]
        );
        same_layout!(NetKey, c::edr_net_key, [prefixlen, addr]);
        same_layout!(
            Signal,
            c::edr_signal,
            [
                hdr,
                target_start_ns,
                target_pid,
                target_tgid,
                sig,
                code,
                result,
                pad0
            ]
        );
        same_layout!(
            Stdio,
            c::edr_stdio,
            [
                hdr,
                ino,
                local_addr,
                remote_addr,
                family,
                sock_type,
                protocol,
                syscall,
                local_port,
                remote_port,
                fds,
                newfd,
                pad0
            ]
        );
        same_layout!(
            KStats,
            c::edr_kstats,
            [ringbuf_drops, filtered, failed, path_unreadable]
        );
    }

    #[test]
    fn constants_match_compiled_object() {
        assert_eq!(u32::from(kind::EXEC), c::edr_kind::EDR_KIND_EXEC.0);
        assert_eq!(u32::from(kind::FORK), c::edr_kind::EDR_KIND_FORK.0);
        assert_eq!(u32::from(kind::EXIT), c::edr_kind::EDR_KIND_EXIT.0);
        assert_eq!(kind::MAX as u32, c::edr_kind::EDR_KIND_MAX.0);
        use c::edr_kind as k;
        for (ours, theirs) in [
            (kind::STDIO_SOCKET, k::EDR_KIND_STDIO_SOCKET),
            (kind::SIGNAL, k::EDR_KIND_SIGNAL),
            (kind::FILE_OPEN, k::EDR_KIND_FILE_OPEN),
            (kind::FILE_UNLINK, k::EDR_KIND_FILE_UNLINK),
            (kind::FILE_RENAME, k::EDR_KIND_FILE_RENAME),
            (kind::FILE_CHMOD, k::EDR_KIND_FILE_CHMOD),
            (kind::FILE_CHOWN, k::EDR_KIND_FILE_CHOWN),
            (kind::FILE_LINK, k::EDR_KIND_FILE_LINK),
            (kind::FILE_SYMLINK, k::EDR_KIND_FILE_SYMLINK),
            (kind::NET_CONNECT, k::EDR_KIND_NET_CONNECT),
            (kind::NET_BIND, k::EDR_KIND_NET_BIND),
            (kind::NET_LISTEN, k::EDR_KIND_NET_LISTEN),
            (kind::NET_ACCEPT, k::EDR_KIND_NET_ACCEPT),
            (kind::NET_DNS, k::EDR_KIND_NET_DNS),
        ] {
            assert_eq!(u32::from(ours), theirs.0);
        }
        use c::edr_file_syscall as fs;
        let sys = [
            fs::EDR_SYS_OPEN,
            fs::EDR_SYS_OPENAT,
            fs::EDR_SYS_OPENAT2,
            fs::EDR_SYS_CREAT,
            fs::EDR_SYS_UNLINK,
            fs::EDR_SYS_UNLINKAT,
            fs::EDR_SYS_RMDIR,
            fs::EDR_SYS_RENAME,
            fs::EDR_SYS_RENAMEAT,
            fs::EDR_SYS_RENAMEAT2,
            fs::EDR_SYS_CHMOD,
            fs::EDR_SYS_FCHMOD,
            fs::EDR_SYS_FCHMODAT,
            fs::EDR_SYS_FCHMODAT2,
            fs::EDR_SYS_CHOWN,
            fs::EDR_SYS_LCHOWN,
            fs::EDR_SYS_FCHOWN,
            fs::EDR_SYS_FCHOWNAT,
            fs::EDR_SYS_LINK,
            fs::EDR_SYS_LINKAT,
            fs::EDR_SYS_SYMLINK,
            fs::EDR_SYS_SYMLINKAT,
            fs::EDR_SYS_OPEN_BY_HANDLE_AT,
        ];
        for ((n, name), theirs) in file_syscall::ALL.iter().zip(sys) {
            assert_eq!(u32::from(*n), theirs.0, "{name}");
        }
        use c::edr_file_flag as ff;
        assert_eq!(file_flag::PATH_TRUNC, ff::EDR_FILE_F_PATH_TRUNC.0);
        assert_eq!(file_flag::PATH2_TRUNC, ff::EDR_FILE_F_PATH2_TRUNC.0);
        assert_eq!(file_flag::PATH_FAULT, ff::EDR_FILE_F_PATH_FAULT.0);
        assert_eq!(file_flag::PATH2_FAULT, ff::EDR_FILE_F_PATH2_FAULT.0);
        assert_eq!(file_flag::UNFILTERED, ff::EDR_FILE_F_UNFILTERED.0);
        assert_eq!(file_flag::PATH_RESOLVED, ff::EDR_FILE_F_PATH_RESOLVED.0);
        use c::edr_net_syscall as ns;
        let net = [
            ns::EDR_SYS_CONNECT,
            ns::EDR_SYS_BIND,
            ns::EDR_SYS_LISTEN,
            ns::EDR_SYS_ACCEPT,
            ns::EDR_SYS_ACCEPT4,
            ns::EDR_SYS_SENDTO,
            ns::EDR_SYS_SENDMSG,
            ns::EDR_SYS_SENDMMSG,
            ns::EDR_SYS_WRITE,
        ];
        for ((n, name), theirs) in net_syscall::ALL.iter().zip(net) {
            assert_eq!(u32::from(*n), theirs.0, "{name}");
        }
        use c::edr_stdio_syscall as ss;
        let stdio = [
            ss::EDR_SYS_EXECVE,
            ss::EDR_SYS_DUP,
            ss::EDR_SYS_DUP2,
            ss::EDR_SYS_DUP3,
        ];
        for ((n, name), theirs) in stdio_syscall::ALL.iter().zip(stdio) {
            assert_eq!(u32::from(*n), theirs.0, "{name}");
        }
        use c::edr_net_flag as nf;
        assert_eq!(net_flag::PATH_TRUNC, nf::EDR_NET_F_PATH_TRUNC.0);
        assert_eq!(net_flag::PAYLOAD_TRUNC, nf::EDR_NET_F_PAYLOAD_TRUNC.0);
        assert_eq!(net_flag::ADDR_FAULT, nf::EDR_NET_F_ADDR_FAULT.0);
        assert_eq!(net_flag::IN_PROGRESS, nf::EDR_NET_F_IN_PROGRESS.0);
        use c::edr_prefix_verdict as pv;
        assert_eq!(u32::from(prefix_verdict::INCLUDE), pv::EDR_PREFIX_INCLUDE.0);
        assert_eq!(u32::from(prefix_verdict::EXCLUDE), pv::EDR_PREFIX_EXCLUDE.0);
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
        assert_eq!(size_of::<c::edr_config>(), 24);
    }

    #[test]
    fn rodata_matches_compiled_object() {
        // Field sizes of the generated .rodata struct, without a value.
        fn size_of_field<T, F>(_: fn(&T) -> &F) -> usize {
            size_of::<F>()
        }
        assert_eq!(
            size_of_field(|r: &c::rodata| &r.edr_file_sysmap),
            SYSCALL_MAP
        );
        assert_eq!(
            size_of_field(|r: &c::rodata| &r.edr_cfg),
            size_of::<Config>()
        );
        assert_eq!(size_of_field(|r: &c::rodata| &r.edr_abi_version), 4);
        assert_eq!(
            size_of_field(|r: &c::rodata| &r.edr_net_sysmap),
            SYSCALL_MAP
        );
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
