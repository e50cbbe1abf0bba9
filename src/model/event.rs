//! The normalized event: what flows from the normalizer to the writer.
//!
//! Kernel details are gone by this point (boot-time clocks become wall
//! clock, byte strings become text, argv becomes a list). The enricher adds
//! the process context; the detector passes events on with any alerts.

use std::sync::Arc;

use crate::model::proctable::Process;

/// One normalized event.
#[derive(Debug, Clone)]
pub struct Event {
    /// Agent-wide sequence number, in ring-buffer order.
    pub seq: u64,
    /// Wall-clock nanoseconds since the Unix epoch.
    pub time_ns: u64,
    /// Kernel CLOCK_BOOTTIME nanoseconds (for intervals and identities).
    pub ktime_ns: u64,
    /// Process id (tgid) of the subject; for a fork, the new child.
    pub pid: u32,
    /// Thread that produced the record.
    pub tid: u32,
    pub body: Body,
    /// The subject process, filled by the enricher when it is known.
    pub process: Option<Arc<Process>>,
}

#[derive(Debug, Clone)]
pub enum Body {
    Exec(ExecBody),
    Fork(ForkBody),
    Exit(ExitBody),
    File(FileBody),
    Net(NetBody),
    Signal(SignalBody),
    /// Records the agent lost: never read from the kernel, only made by
    /// the detector for its `rg-agent-loss` alert (boxed: rare, and five
    /// lists would grow every event).
    Loss(Box<LossBody>),
}

impl Body {
    /// ECS `event.category` and `event.type`: the one mapping the record
    /// writers and the rule fields share.
    pub fn ecs_category_types(&self) -> (&'static str, &'static [&'static str]) {
        match self {
            Body::Exec(_) | Body::Fork(_) => ("process", &["start"]),
            Body::Exit(_) => ("process", &["end"]),
            // The agent's own loss: its subject is the agent process.
            Body::Signal(_) | Body::Loss(_) => ("process", &["info"]),
            Body::File(f) => ("file", f.ecs_types()),
            Body::Net(n) => (
                "network",
                match n.op {
                    NetOp::Connect | NetOp::Accept => &["connection", "start"],
                    NetOp::Bind | NetOp::Listen => &["start"],
                    NetOp::DnsQuery => &["protocol"],
                    NetOp::StdioSocket => &["info"],
                },
            ),
        }
    }
}

impl Body {
    /// Stable `event.action` value.
    pub fn action(&self) -> &'static str {
        match self {
            Body::Exec(_) => "exec",
            Body::Fork(_) => "fork",
            Body::Exit(_) => "exit",
            Body::File(f) => f.op.action(),
            Body::Net(n) => n.op.action(),
            Body::Signal(_) => "signal",
            Body::Loss(_) => "loss",
        }
    }
}

/// Records lost since `since_ns`, by where they were lost: the loss
/// counters of `model::stats` that grew since the previous `rg-agent-loss`
/// alert (only what grew is listed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LossBody {
    /// Wall-clock time the loss was first seen (the detector looks once a
    /// second, so the first record was lost at most a second before).
    pub since_ns: u64,
    pub lost: crate::model::stats::Loss,
}

/// A signal sent to the agent by another process; the event's process is
/// the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalBody {
    /// The agent's process id and the thread signalled.
    pub target_pid: u32,
    pub target_tid: u32,
    pub signal: i32,
    /// How it was sent: `SI_USER` (kill), `SI_QUEUE` (sigqueue), `SI_TKILL`
    /// (tkill, tgkill).
    pub code: &'static str,
    /// What the kernel did with it: delivered, ignored, already_pending,
    /// overflow, lose_info.
    pub result: &'static str,
}

impl SignalBody {
    /// si_code names, by value.
    pub const CODES: [(i32, &'static str); 3] =
        [(0, "SI_USER"), (-1, "SI_QUEUE"), (-6, "SI_TKILL")];
    /// TRACE_SIGNAL_* names, by value.
    pub const RESULTS: [&'static str; 5] = [
        "delivered",
        "ignored",
        "already_pending",
        "overflow",
        "lose_info",
    ];

    /// The signal's name (SIGTERM), or SIGRTMIN+n / SIG<n>.
    pub fn name(&self) -> String {
        signal_name(self.signal)
    }
}

/// SIGTERM for 15, SIGRTMIN+2 for 36, SIG99 for what has no name.
pub fn signal_name(sig: i32) -> String {
    match nix::sys::signal::Signal::try_from(sig) {
        Ok(s) => s.as_str().to_string(),
        Err(_) if (34..=64).contains(&sig) => format!("SIGRTMIN+{}", sig - 34),
        Err(_) => format!("SIG{sig}"),
    }
}

/// A socket operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetOp {
    Connect,
    Bind,
    Listen,
    Accept,
    /// A datagram to port 53.
    DnsQuery,
    /// The process's stdin and stdout or stderr are internet sockets (at
    /// exec, or after a dup onto fd 0..2): a reverse shell's signature.
    StdioSocket,
}

impl NetOp {
    pub fn action(self) -> &'static str {
        match self {
            NetOp::Connect => "connect",
            NetOp::Bind => "bind",
            NetOp::Listen => "listen",
            NetOp::Accept => "accept",
            NetOp::DnsQuery => "dns_query",
            NetOp::StdioSocket => "stdio_socket",
        }
    }

    pub fn from_kind(kind: u16) -> Option<NetOp> {
        use crate::kernel::abi::kind as k;
        Some(match kind {
            k::NET_CONNECT => NetOp::Connect,
            k::NET_BIND => NetOp::Bind,
            k::NET_LISTEN => NetOp::Listen,
            k::NET_ACCEPT => NetOp::Accept,
            k::NET_DNS => NetOp::DnsQuery,
            k::STDIO_SOCKET => NetOp::StdioSocket,
            _ => return None,
        })
    }
}

/// Socket address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetFamily {
    Inet,
    Inet6,
    Unix,
    Other(u16),
}

impl NetFamily {
    pub fn from_af(af: u16) -> Self {
        match af {
            2 => NetFamily::Inet,
            10 => NetFamily::Inet6,
            1 => NetFamily::Unix,
            n => NetFamily::Other(n),
        }
    }

    /// The config and output name: inet, inet6, unix.
    pub fn name(self) -> &'static str {
        match self {
            NetFamily::Inet => "inet",
            NetFamily::Inet6 => "inet6",
            NetFamily::Unix => "unix",
            NetFamily::Other(_) => "other",
        }
    }
}

/// A network event. `local` is this process's end, `remote` the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetBody {
    pub op: NetOp,
    pub syscall: &'static str,
    /// The syscall's return value (for connect: 0, or -EINPROGRESS).
    pub result: i64,
    /// A non-blocking connect was still under way.
    pub in_progress: bool,
    pub family: NetFamily,
    /// IPPROTO_* (6 TCP, 17 UDP) and SOCK_* (1 stream, 2 datagram).
    pub protocol: u16,
    pub sock_type: u16,
    pub local: Option<std::net::SocketAddr>,
    pub remote: Option<std::net::SocketAddr>,
    /// Unix sockets: the path ("@name" for an abstract one).
    pub unix_path: Option<String>,
    /// DNS queries: the parsed question, or why it could not be parsed.
    pub dns: Option<Result<crate::model::dns::Query, crate::model::dns::DnsError>>,
    /// Stdio-socket events only.
    pub stdio: Option<Stdio>,
    pub truncated: NetTruncation,
}

/// What a stdio-socket event adds: which standard fds are internet
/// sockets, and which socket the event describes (stdin's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stdio {
    /// Bit n set: fd n (0..2) is an internet socket.
    pub fds: u8,
    /// The socket's inode number (`socket:[N]` in /proc/PID/fd).
    pub socket_inode: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetTruncation {
    pub unix_path: bool,
    pub payload: bool,
    /// The caller's sockaddr could not be read: `remote` may be missing.
    pub address_unreadable: bool,
}

impl NetTruncation {
    pub fn any(&self) -> bool {
        self.unix_path || self.payload || self.address_unreadable
    }
}

impl crate::model::stats::Kinded for Event {
    /// The record kind's name, as `abi::kind::name` spells it.
    fn kind_name(&self) -> &'static str {
        match &self.body {
            Body::Exec(_) => "exec",
            Body::Fork(_) => "fork",
            Body::Exit(_) => "exit",
            Body::Signal(_) => "signal",
            // Not a kernel kind: only ever inside an alert record.
            Body::Loss(_) => "loss",
            Body::Net(n) => match n.op {
                NetOp::Connect => "net_connect",
                NetOp::Bind => "net_bind",
                NetOp::Listen => "net_listen",
                NetOp::Accept => "net_accept",
                NetOp::DnsQuery => "net_dns",
                NetOp::StdioSocket => "stdio_socket",
            },
            Body::File(f) => match f.op {
                FileOp::Open => "file_open",
                FileOp::Unlink => "file_unlink",
                FileOp::Rename => "file_rename",
                FileOp::Chmod => "file_chmod",
                FileOp::Chown => "file_chown",
                FileOp::Link => "file_link",
                FileOp::Symlink => "file_symlink",
                FileOp::ExecRefused => "file_exec",
                FileOp::SetXattr => "file_setxattr",
                FileOp::RemoveXattr => "file_removexattr",
            },
        }
    }
}

/// A file operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOp {
    /// Opened for writing, creating or truncating; or a read-only open of
    /// a `[file] watch_reads` file (see [`FileBody::is_read`]).
    Open,
    Unlink,
    Rename,
    Chmod,
    Chown,
    /// A hard link.
    Link,
    Symlink,
    /// An exec the kernel refused with ENOEXEC (a script without `#!`):
    /// bash and dash then run the file as a script themselves.
    ExecRefused,
    /// An extended attribute set (see [`FileBody::xattr`]).
    SetXattr,
    RemoveXattr,
}

impl FileOp {
    pub fn action(self) -> &'static str {
        match self {
            FileOp::Open => "open",
            FileOp::Unlink => "unlink",
            FileOp::Rename => "rename",
            FileOp::Chmod => "chmod",
            FileOp::Chown => "chown",
            FileOp::Link => "link",
            FileOp::Symlink => "symlink",
            FileOp::ExecRefused => "exec_refused",
            FileOp::SetXattr => "setxattr",
            FileOp::RemoveXattr => "removexattr",
        }
    }

    pub fn from_kind(kind: u16) -> Option<FileOp> {
        use crate::kernel::abi::kind as k;
        Some(match kind {
            k::FILE_OPEN => FileOp::Open,
            k::FILE_UNLINK => FileOp::Unlink,
            k::FILE_RENAME => FileOp::Rename,
            k::FILE_CHMOD => FileOp::Chmod,
            k::FILE_CHOWN => FileOp::Chown,
            k::FILE_LINK => FileOp::Link,
            k::FILE_SYMLINK => FileOp::Symlink,
            k::FILE_EXEC => FileOp::ExecRefused,
            k::FILE_SETXATTR => FileOp::SetXattr,
            k::FILE_REMOVEXATTR => FileOp::RemoveXattr,
            _ => return None,
        })
    }
}

/// A file event. `path` is the file the operation leaves behind: the
/// opened, removed, changed or created file; for a rename, the new name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileBody {
    pub op: FileOp,
    /// The syscall's name, e.g. `openat`.
    pub syscall: &'static str,
    /// Absolute path (see docs/schema.md on how it was resolved).
    pub path: String,
    /// rename: the old path.
    pub original_path: Option<String>,
    /// link: the existing file linked to; symlink: the link's target text.
    pub target_path: Option<String>,
    /// The syscall's return value: a fd or 0 on success, -errno on failure.
    pub result: i64,
    /// open: the O_* flags.
    pub open_flags: u64,
    /// open with O_CREAT / chmod: the mode argument.
    pub mode: Option<u32>,
    /// chown: the new owner and group, None when left unchanged (-1).
    pub owner: Option<u32>,
    pub group: Option<u32>,
    /// The AT_* / RENAME_* flags argument, where the syscall has one.
    pub at_flags: u32,
    /// `path` came from the file's dentry rather than the caller's string.
    pub resolved: bool,
    /// The kernel could not prefix-filter it; userspace must.
    pub unfiltered: bool,
    /// A read-only open of a watched inode: the `[file] watch_reads` path
    /// it was watched as (`path` differs for a hard link or bind mount).
    pub watched: Option<Arc<str>>,
    /// setxattr / removexattr: the attribute.
    pub xattr: Option<Xattr>,
    pub truncated: FileTruncation,
}

/// An extended attribute set or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xattr {
    /// The attribute's name, e.g. `security.capability`.
    pub name: String,
    /// setxattr: the value's size in bytes.
    pub size: Option<u32>,
    /// security.capability set: the capabilities the value gives (None
    /// when it could not be read or parsed).
    pub caps: Option<FileCaps>,
}

pub use crate::model::caps::{CAP_NAMES, FileCaps};

/// `FileBody::watched` of a read-only open of another process's
/// `/proc/PID/mem`, which the kernel reports while the read watch is on
/// (no `[file] watch_reads` entry names it).
pub const PROC_MEM: &str = "/proc/*/mem";

/// The name of the attribute that holds a file's capabilities.
pub const CAP_XATTR: &str = "security.capability";

/// Open flags that can change or create a file: O_WRONLY, O_RDWR,
/// O_CREAT, O_TRUNC, O_TMPFILE (the kernel's EDR_WRITE_INTENT).
pub const O_WRITE_INTENT: u64 = 0o1 | 0o2 | 0o100 | 0o1000 | 0o20000000;

impl FileBody {
    /// A read-only open: reported only for watched files (`watch_reads`).
    pub fn is_read(&self) -> bool {
        self.op == FileOp::Open && self.open_flags & O_WRITE_INTENT == 0
    }

    /// ECS `event.type` of the operation.
    fn ecs_types(&self) -> &'static [&'static str] {
        const O_CREAT_OR_TMPFILE: u64 = 0o100 | 0o20000000;
        match self.op {
            // A read-only open: only ever reported for [file] watch_reads.
            FileOp::Open if self.is_read() => &["access"],
            FileOp::Open if self.open_flags & O_CREAT_OR_TMPFILE != 0 => &["change", "creation"],
            FileOp::Open
            | FileOp::Rename
            | FileOp::Chmod
            | FileOp::Chown
            | FileOp::SetXattr
            | FileOp::RemoveXattr => &["change"],
            FileOp::Unlink => &["deletion"],
            FileOp::Link | FileOp::Symlink => &["creation"],
            // The kernel read its first bytes and refused to run it.
            FileOp::ExecRefused => &["access"],
        }
    }
}

/// Which file operands were cut, or could not be read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileTruncation {
    pub path: bool,
    pub other_path: bool,
    pub unreadable: bool,
}

impl FileTruncation {
    pub fn any(&self) -> bool {
        self.path || self.other_path || self.unreadable
    }
}

/// A program image as a process runs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    /// Absolute path the program was executed by (a relative execve path
    /// is joined to the working directory). May be a symlink or a script.
    pub executable: String,
    /// The file the kernel actually runs: symlinks resolved, the
    /// interpreter for a `#!` script (what /proc/PID/exe shows).
    pub exe: String,
    /// Kernel task name (comm), at most 15 bytes.
    pub name: String,
    /// The working directory the program was executed in (ECS
    /// `process.working_directory`); a later chdir is not followed.
    /// Empty when unknown.
    pub working_directory: String,
    pub args: Vec<String>,
    /// The dynamic-linker variables the image was started with, as
    /// `NAME=value` (ECS `process.env_vars`): LD_PRELOAD and LD_AUDIT, and
    /// LD_LIBRARY_PATH beside them (never alone). The rest of the
    /// environment is not collected.
    pub env_vars: Vec<String>,
    /// Pieces cut at a kernel bound or unreadable; see [`Truncation`].
    pub truncated: Truncation,
    /// SHA-256 of the executed file, or why there is none; set once by
    /// the hasher thread (`pipeline::hasher`), unset until it is done.
    pub hash: std::sync::OnceLock<crate::model::hash::Hashed>,
    /// The executed inode as the kernel saw it at exec; None where no
    /// exec record said (processes seeded from /proc, replayed records).
    pub file: Option<crate::model::hash::FileId>,
}

/// Which parts of a record were cut or could not be read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Truncation {
    pub executable: bool,
    pub exe: bool,
    pub args: bool,
    /// argv pages were not readable: args are missing, not cut.
    pub args_unreadable: bool,
    /// The image has no path (e.g. a memfd): exe is a bare name.
    pub exe_detached: bool,
    /// The environment was not scanned to its end for `env_vars` (the
    /// kernel's read cap, an unreadable page, or more matches than sent).
    pub env: bool,
    /// The working directory was cut at the kernel's bound.
    pub working_directory: bool,
}

impl Truncation {
    pub fn any(&self) -> bool {
        self.executable
            || self.exe
            || self.args
            || self.args_unreadable
            || self.env
            || self.working_directory
    }
}

/// Credentials at exec time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Creds {
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    /// Audit login uid; None when unset.
    pub login_uid: Option<u32>,
    /// Audit session id; None when unset.
    pub session_id: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct ExecBody {
    pub image: Arc<Image>,
    pub ppid: u32,
    /// CLOCK_BOOTTIME start of the process and of its real parent.
    pub start_ns: u64,
    pub parent_start_ns: u64,
    pub creds: Creds,
    pub cgroup_id: u64,
    pub ns: Namespaces,
    pub argc: u32,
    /// What fds 0..2 of the new image are (relay evidence).
    pub stdio: StdioWiring,
}

/// What a standard fd of a new image is (`edr_stdio_type`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FdType {
    #[default]
    Closed,
    Pipe,
    Fifo,
    Unix,
    Inet,
    Tty,
    File,
    Other,
}

impl FdType {
    pub fn from_abi(t: u8) -> Self {
        use crate::kernel::abi::stdio_type as t_;
        match t {
            t_::PIPE => FdType::Pipe,
            t_::FIFO => FdType::Fifo,
            t_::UNIX => FdType::Unix,
            t_::INET => FdType::Inet,
            t_::TTY => FdType::Tty,
            t_::FILE => FdType::File,
            t_::CLOSED => FdType::Closed,
            _ => FdType::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FdType::Closed => "closed",
            FdType::Pipe => "pipe",
            FdType::Fifo => "fifo",
            FdType::Unix => "unix",
            FdType::Inet => "inet",
            FdType::Tty => "tty",
            FdType::File => "file",
            FdType::Other => "other",
        }
    }

    /// A stream another process can be at the other end of.
    pub fn is_relay_end(self) -> bool {
        matches!(self, FdType::Pipe | FdType::Fifo | FdType::Unix)
    }
}

/// One standard fd of a new image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StdioFd {
    pub kind: FdType,
    /// Inode number of its file (`pipe:[N]`, `socket:[N]`); 0 when closed.
    pub inode: u64,
    /// A unix socket's peer: the other end's socket inode; 0 when none.
    pub peer_inode: u64,
}

/// fds 0..2 of a new image, and what the kernel saw its parent hold of
/// them at the exec (`edr_exec_stdio`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StdioWiring {
    pub fds: [StdioFd; 3],
    /// Whether the parent's fds were looked at (stdin and stdout or
    /// stderr are pipes or sockets).
    pub scanned: bool,
    /// Bit n: the parent holds the other end of fd n.
    pub parent_holds: u8,
    /// The parent's first internet socket, when it holds one.
    pub parent_socket: Option<ParentSocket>,
}

/// An internet socket the parent of a new image held at the exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParentSocket {
    pub inode: u64,
    pub local_port: u16,
    /// Its peer; `None` for a socket not connected (a listener).
    pub remote: Option<std::net::SocketAddr>,
}

impl StdioWiring {
    /// Any standard fd is a pipe, FIFO or socket (what the output shows).
    pub fn any_stream(&self) -> bool {
        self.fds
            .iter()
            .any(|f| f.kind.is_relay_end() || f.kind == FdType::Inet)
    }
}

/// Namespace inode numbers of a process (`/proc/PID/ns/*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Namespaces {
    /// The pid namespace its children get: its own unless it unshared one.
    pub pid: u32,
    pub mnt: u32,
    pub net: u32,
    pub uts: u32,
}

#[derive(Debug, Clone, Copy)]
pub struct ForkBody {
    /// The forking process (tgid); `Event::pid` is the child.
    pub parent_pid: u32,
    pub parent_start_ns: u64,
    /// The child's real parent (differs from parent_pid with CLONE_PARENT).
    pub child_ppid: u32,
    pub child_start_ns: u64,
}

#[derive(Debug, Clone)]
pub struct ExitBody {
    pub start_ns: u64,
    pub ppid: u32,
    pub name: String,
    pub status: ExitStatus,
}

/// A decoded wait(2) status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    /// Exit status when the process exited; 128 + signal when a signal
    /// killed it (the shell's convention).
    pub code: i32,
    /// The signal that killed the process, if any.
    pub signal: Option<i32>,
    pub core_dumped: bool,
}

impl ExitStatus {
    pub fn from_wait_status(raw: u32) -> Self {
        let sig = (raw & 0x7f) as i32;
        if sig == 0 {
            ExitStatus {
                code: ((raw >> 8) & 0xff) as i32,
                signal: None,
                core_dumped: false,
            }
        } else {
            ExitStatus {
                code: 128 + sig,
                signal: Some(sig),
                core_dumped: raw & 0x80 != 0,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_are_the_abi_names() {
        use crate::model::stats::Kinded;
        let ops = [
            FileOp::Open,
            FileOp::Unlink,
            FileOp::Rename,
            FileOp::Chmod,
            FileOp::Chown,
            FileOp::Link,
            FileOp::Symlink,
            FileOp::ExecRefused,
            FileOp::SetXattr,
            FileOp::RemoveXattr,
        ];
        for kind in crate::kernel::abi::kind::ALL
            .iter()
            .filter(|k| crate::kernel::abi::kind::is_file(**k))
        {
            let op = FileOp::from_kind(*kind).unwrap();
            assert!(ops.contains(&op));
            let ev = Event {
                seq: 0,
                time_ns: 0,
                ktime_ns: 0,
                pid: 1,
                tid: 1,
                body: Body::File(FileBody {
                    op,
                    syscall: "x",
                    path: "/".into(),
                    original_path: None,
                    target_path: None,
                    result: 0,
                    open_flags: 0,
                    mode: None,
                    owner: None,
                    group: None,
                    at_flags: 0,
                    resolved: false,
                    unfiltered: false,
                    watched: None,
                    xattr: None,
                    truncated: FileTruncation::default(),
                }),
                process: None,
            };
            assert_eq!(Some(ev.kind_name()), crate::kernel::abi::kind::name(*kind));
        }
    }

    #[test]
    fn wait_status_decoding() {
        assert_eq!(
            ExitStatus::from_wait_status(3 << 8),
            ExitStatus {
                code: 3,
                signal: None,
                core_dumped: false
            }
        );
        assert_eq!(
            ExitStatus::from_wait_status(9),
            ExitStatus {
                code: 137,
                signal: Some(9),
                core_dumped: false
            }
        );
        assert_eq!(
            ExitStatus::from_wait_status(0x80 | 11),
            ExitStatus {
                code: 139,
                signal: Some(11),
                core_dumped: true
            }
        );
    }
}
