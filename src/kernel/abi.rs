//! Rust mirrors of `include/edr_abi.h`, the one kernel/userspace ABI.
//!
//! The structs are `#[repr(C)]` with the same fields, in the same order, as
//! the C header. Sizes are pinned at compile time here and, in the tests
//! below, every size, field offset and constant is compared with the types
//! libbpf-cargo generated from the BTF of the compiled BPF object, so the
//! two sides cannot drift apart silently.

/// Version of the record layout; a layout change bumps it on both sides.
pub const ABI_VERSION: u8 = 11;

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
    pub const EXEC_ENV: u16 = 6;
    pub const FILE_OPEN: u16 = 16;
    pub const FILE_UNLINK: u16 = 17;
    pub const FILE_RENAME: u16 = 18;
    pub const FILE_CHMOD: u16 = 19;
    pub const FILE_CHOWN: u16 = 20;
    pub const FILE_LINK: u16 = 21;
    pub const FILE_SYMLINK: u16 = 22;
    pub const FILE_EXEC: u16 = 23;
    pub const FILE_SETXATTR: u16 = 24;
    pub const FILE_REMOVEXATTR: u16 = 25;
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
            EXEC_ENV => Some("exec_env"),
            FILE_OPEN => Some("file_open"),
            FILE_UNLINK => Some("file_unlink"),
            FILE_RENAME => Some("file_rename"),
            FILE_CHMOD => Some("file_chmod"),
            FILE_CHOWN => Some("file_chown"),
            FILE_LINK => Some("file_link"),
            FILE_SYMLINK => Some("file_symlink"),
            FILE_EXEC => Some("file_exec"),
            FILE_SETXATTR => Some("file_setxattr"),
            FILE_REMOVEXATTR => Some("file_removexattr"),
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
        (FILE_OPEN..=FILE_REMOVEXATTR).contains(&kind)
    }

    /// Every kind this build knows, in numeric order.
    pub const ALL: [u16; 21] = [
        EXEC,
        FORK,
        EXIT,
        STDIO_SOCKET,
        SIGNAL,
        EXEC_ENV,
        FILE_OPEN,
        FILE_UNLINK,
        FILE_RENAME,
        FILE_CHMOD,
        FILE_CHOWN,
        FILE_LINK,
        FILE_SYMLINK,
        FILE_EXEC,
        FILE_SETXATTR,
        FILE_REMOVEXATTR,
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

/// `edr_exec_stdio.type[n]`: what fd n of a new image is.
pub mod stdio_type {
    pub const CLOSED: u8 = 0;
    pub const PIPE: u8 = 1;
    pub const FIFO: u8 = 2;
    pub const UNIX: u8 = 3;
    pub const INET: u8 = 4;
    pub const TTY: u8 = 5;
    pub const FILE: u8 = 6;
    pub const OTHER: u8 = 7;
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
    pub const ALL: [(u16, &str); 33] = [
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
        (24, "execve"),
        (25, "execveat"),
        (26, "setxattr"),
        (27, "lsetxattr"),
        (28, "fsetxattr"),
        (29, "removexattr"),
        (30, "lremovexattr"),
        (31, "fremovexattr"),
        // After the network ids (one id space): Linux 6.13's.
        (41, "setxattrat"),
        (42, "removexattrat"),
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
/// Bytes of an extended attribute's value an xattr record carries
/// (security.capability only: `struct vfs_ns_cap_data`).
pub const XATTR_VALUE_MAX: usize = 24;
/// Entries of the file program's syscall-number map (`edr_file_sysmap`).
pub const SYSCALL_MAP: usize = 512;
pub const PREFIX_MAX: usize = 128;
// The config checks paths against its own copies of these limits.
const _: () = assert!(crate::config::PATH_BYTES == PATH_MAX);
const _: () = assert!(crate::config::PREFIX_BYTES == PREFIX_MAX);

/// Entries of the prefix trie (`edr_prefixes`): two per prefix, and one
/// per proper ancestor directory of a prefix.
pub const PREFIX_ENTRIES: usize = 2048;

/// Entries of the read-watch map (`edr_read_watch`).
pub const READ_WATCH_MAX: usize = 256;

/// `edr_file.read_watch` of a read-only open of another process's
/// `/proc/PID/mem` (`EDR_READ_WATCH_PROC_MEM`): no entry of the list.
pub const READ_WATCH_PROC_MEM: u16 = 0xffff;

/// LPM trie values: the verdict in the low byte, a flag, and the entry's
/// length in bytes from `LEN_SHIFT` (include/edr_abi.h).
pub mod prefix_verdict {
    pub const INCLUDE: u32 = 1;
    pub const EXCLUDE: u32 = 2;
    pub const VERDICT_MASK: u32 = 0xff;
    /// The entry's directory holds entries decided otherwise: an ancestor
    /// of a prefix, or an exact path.
    pub const NOCACHE: u32 = 0x100;
    pub const LEN_SHIFT: u32 = 16;
}

mod env;
pub use env::{ENV_DATA_MAX, ENV_MATCH_MAX, ENV_READ, ENV_SCAN_MAX, ExecEnv, env_flag};

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
    /// Relay evidence (issue 18 item 4): its own block, kept together.
    pub stdio: ExecStdio,
}

/// `struct edr_exec_stdio`: fds 0..2 of a new image and what its parent
/// holds of them (bpf/relay.bpf.h).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExecStdio {
    /// Inode number of fd n's file; 0: closed.
    pub ino: [u64; 3],
    /// Unix socket: the peer socket's inode; 0: none.
    pub peer_ino: [u64; 3],
    /// The parent's first internet socket; 0: none, or not looked.
    pub parent_sock_ino: u64,
    pub parent_sock_remote: [u8; 16],
    pub parent_sock_family: u16,
    pub parent_sock_local_port: u16,
    pub parent_sock_remote_port: u16,
    /// `stdio_type` of fd n.
    pub r#type: [u8; 3],
    /// Bit n: the parent holds the other end of fd n.
    pub parent_holds: u8,
    /// 1: the parent's fds were looked at.
    pub scanned: u8,
    pub pad: [u8; 5],
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
unsafe impl plain::Plain for ExecStdio {}
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
const _: () = assert!(size_of::<ExecStdio>() == 88);
const _: () = assert!(size_of::<Exec>() == 264);
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
#[path = "abi_tests.rs"]
mod tests;
