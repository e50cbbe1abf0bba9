//! Normalizer stage: decoded kernel records to [`Event`]s.
//!
//! In: [`RawBatch`]es of record bytes from the poller (already validated).
//! Out: batches of [`Event`]s for the enricher, in ring-buffer order, with
//! wall-clock times, text instead of bytes, argv as a list, and a relative
//! execve path made absolute.
//! Counts: records that fail to decode (should not happen after the
//! poller's check, but bytes are bytes) as invalid schema or unsupported
//! kind.
//! Joins: an exec_env record (dynamic-linker variables) comes from the
//! exec program right before the exec record of the same exec; it is
//! held, keyed by (tgid, start), and its variables are put on that exec's
//! image. Another CPU's records may come in between, never the exec
//! itself first. An env record whose exec never comes (the exec record
//! was lost, which the kernel counts) is dropped when the small holding
//! list is full or the process execs again.
//! Also: a file event that may have put another file behind a
//! `[file] watch_reads` path (a rename over it, say) is a hint to the
//! read-watch keeper to re-stat them ([`crate::pipeline::watch::Hints`]).

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::pipeline::channel::Outlet;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::kernel::abi::env_flag;
use crate::kernel::abi::{self, exec_flag, file_flag, net_flag};
use crate::kernel::decode::{
    self, ExecEnvRecord, ExecRecord, FileRecord, NetRecord, Reason, Record,
};
use crate::model::clock;
use crate::model::dns;
use crate::model::event::{
    Body, CAP_XATTR, Creds, Event, ExecBody, ExitBody, ExitStatus, FdType, FileBody, FileCaps,
    FileOp, FileTruncation, ForkBody, Image, Namespaces, NetBody, NetFamily, NetOp, NetTruncation,
    PROC_MEM, ParentSocket, SignalBody, Stdio, StdioFd, StdioWiring, Truncation, Xattr,
};
use crate::model::hash::FileId;
use crate::model::proctable::split_args;
use crate::model::stats::Stats;
use crate::pipeline::poller::RawBatch;
use crate::pipeline::watch::Hints;

/// Stateful converter: owns the sequence counter and the clock offset.
pub struct Normalizer {
    next_seq: u64,
    offset: i128,
    /// `[file] watch_reads`: a record's read_watch id N names entry N - 1.
    watch_reads: Vec<Arc<str>>,
    /// exec_env records waiting for their exec record (see the top).
    pending_env: Vec<PendingEnv>,
}

/// An exec_env record held for the exec record that follows it.
struct PendingEnv {
    tgid: u32,
    start_ns: u64,
    vars: Vec<String>,
    cut: bool,
}

/// exec_env records held at once: one per CPU whose exec record is still
/// on its way is enough; more means exec records were lost.
const PENDING_ENV_MAX: usize = 64;

impl Default for Normalizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Normalizer {
    pub fn new() -> Self {
        Normalizer {
            next_seq: 1,
            offset: clock::boot_to_wall_offset(),
            watch_reads: Vec::new(),
            pending_env: Vec::new(),
        }
    }

    /// The `[file] watch_reads` paths, in config order (the ids the
    /// kernel reports, see `watch::Keeper`).
    pub fn with_watch_reads(mut self, paths: &[String]) -> Self {
        self.watch_reads = paths.iter().map(|p| Arc::from(p.as_str())).collect();
        self
    }

    /// Re-sample the boot-to-wall offset (once per batch: it moves only
    /// when the wall clock is stepped), keeping the one in force through
    /// sampling jitter (`clock::settled_offset`).
    pub fn resync_clock(&mut self) {
        self.offset = clock::settled_offset(self.offset, clock::boot_to_wall_offset());
    }

    /// The event a record makes; None for an exec_env record, which is
    /// held for the exec record after it.
    pub fn normalize(&mut self, rec: &Record<'_>) -> Option<Event> {
        let hdr = rec.hdr();
        let (pid, body) = match rec {
            Record::ExecEnv(e) => {
                self.hold_env(e);
                return None;
            }
            Record::Exec(e) => {
                let env = self.take_env(hdr.tgid, e.fixed.start_ns);
                (hdr.tgid, Body::Exec(exec_body(e, env)))
            }
            Record::Fork(f) => (
                f.child_pid,
                Body::Fork(ForkBody {
                    parent_pid: hdr.tgid,
                    parent_start_ns: f.parent_start_ns,
                    child_ppid: f.child_ppid,
                    child_start_ns: f.child_start_ns,
                }),
            ),
            Record::Exit(x) => (
                hdr.tgid,
                Body::Exit(ExitBody {
                    start_ns: x.start_ns,
                    ppid: x.ppid,
                    name: cstr(&x.comm),
                    status: ExitStatus::from_wait_status(x.exit_code),
                }),
            ),
            Record::File(f) => (hdr.tgid, Body::File(file_body(f, &self.watch_reads))),
            Record::Net(n) => (hdr.tgid, Body::Net(net_body(n))),
            Record::Stdio(x) => (hdr.tgid, Body::Net(stdio_body(x))),
            Record::Signal(x) => (
                hdr.tgid,
                Body::Signal(SignalBody {
                    target_pid: x.target_tgid,
                    target_tid: x.target_pid,
                    signal: x.sig,
                    code: SignalBody::CODES
                        .iter()
                        .find(|(c, _)| *c == x.code)
                        .map_or("other", |(_, n)| n),
                    result: usize::try_from(x.result)
                        .ok()
                        .and_then(|r| SignalBody::RESULTS.get(r))
                        .copied()
                        .unwrap_or("other"),
                }),
            ),
        };
        // A fork's subject is the child, whose only thread is its main one.
        let tid = if matches!(rec, Record::Fork(_)) {
            pid
        } else {
            hdr.pid
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        Some(Event {
            seq,
            time_ns: clock::boot_to_wall(hdr.ktime_ns, self.offset),
            ktime_ns: hdr.ktime_ns,
            pid,
            tid,
            body,
            process: None,
        })
    }

    fn hold_env(&mut self, e: &ExecEnvRecord<'_>) {
        if self.pending_env.len() >= PENDING_ENV_MAX {
            self.pending_env.remove(0);
        }
        let f = &e.fixed;
        self.pending_env.push(PendingEnv {
            tgid: f.hdr.tgid,
            start_ns: f.start_ns,
            vars: split_args(e.vars),
            cut: f.flags & (env_flag::CUT | env_flag::FAULT | env_flag::MATCH_TRUNC) != 0,
        });
    }

    /// The held env record of this exec, if any; an older one of the same
    /// process (its exec record lost) goes too.
    fn take_env(&mut self, tgid: u32, start_ns: u64) -> Option<PendingEnv> {
        let mut found = None;
        let mut i = 0;
        while i < self.pending_env.len() {
            if self.pending_env[i].tgid != tgid {
                i += 1;
                continue;
            }
            let p = self.pending_env.remove(i);
            if p.start_ns == start_ns {
                found = Some(p);
            }
        }
        found
    }

    /// Wall-clock nanoseconds for a CLOCK_BOOTTIME stamp.
    pub fn wall(&self, boot_ns: u64) -> u64 {
        clock::boot_to_wall(boot_ns, self.offset)
    }
}

fn exec_body(e: &ExecRecord<'_>, env: Option<PendingEnv>) -> ExecBody {
    let f = &e.fixed;
    let filename = String::from_utf8_lossy(e.filename);
    let cwd = String::from_utf8_lossy(e.cwd);
    let relative = !filename.starts_with('/');
    let executable = if !relative {
        filename.into_owned()
    } else {
        join_clean(&cwd, &filename)
    };
    let unset = |v: u32| (v != u32::MAX).then_some(v);
    let (env_vars, env_cut) = env.map_or((Vec::new(), false), |p| (p.vars, p.cut));
    ExecBody {
        image: Arc::new(Image {
            executable,
            exe: String::from_utf8_lossy(e.exe).into_owned(),
            name: cstr(&f.comm),
            args: split_args(e.args),
            env_vars,
            // Sent for every exec (a cut one is flagged as the
            // executable's truncation, which it may be part of).
            working_directory: cwd.into_owned(),
            truncated: Truncation {
                env: env_cut,
                // A relative name is made absolute with the cwd.
                executable: f.flags & exec_flag::FILENAME_TRUNC != 0
                    || (relative && f.flags & exec_flag::CWD_TRUNC != 0),
                exe: f.flags & exec_flag::EXE_TRUNC != 0,
                args: f.flags & exec_flag::ARGS_TRUNC != 0,
                args_unreadable: f.flags & exec_flag::ARGS_FAULT != 0,
                exe_detached: f.flags & exec_flag::EXE_DETACHED != 0,
                working_directory: f.flags & exec_flag::CWD_TRUNC != 0,
            },
            hash: Default::default(),
            file: (f.exe_ino != 0).then_some(FileId {
                dev: f.exe_dev,
                ino: f.exe_ino,
                ctime_ns: f.exe_ctime_sec as i128 * 1_000_000_000 + f.exe_ctime_nsec as i128,
                size: f.exe_size,
            }),
        }),
        ppid: f.ppid,
        start_ns: f.start_ns,
        parent_start_ns: f.parent_start_ns,
        creds: Creds {
            uid: f.uid,
            gid: f.gid,
            euid: f.euid,
            egid: f.egid,
            login_uid: unset(f.auid),
            session_id: unset(f.sessionid),
        },
        cgroup_id: f.cgroup_id,
        ns: Namespaces {
            pid: f.pid_ns,
            mnt: f.mnt_ns,
            net: f.net_ns,
            uts: f.uts_ns,
        },
        argc: f.argc,
        stdio: stdio_wiring(&f.stdio),
    }
}

/// The exec record's relay block.
fn stdio_wiring(s: &abi::ExecStdio) -> StdioWiring {
    let fd = |n: usize| StdioFd {
        kind: FdType::from_abi(s.r#type[n]),
        inode: s.ino[n],
        peer_inode: s.peer_ino[n],
    };
    let family = NetFamily::from_af(s.parent_sock_family);
    StdioWiring {
        fds: [fd(0), fd(1), fd(2)],
        scanned: s.scanned != 0,
        parent_holds: s.parent_holds,
        parent_socket: (s.parent_sock_ino != 0).then(|| ParentSocket {
            inode: s.parent_sock_ino,
            local_port: s.parent_sock_local_port,
            remote: (s.parent_sock_remote_port != 0)
                .then(|| socket_addr(family, &s.parent_sock_remote, s.parent_sock_remote_port))
                .flatten(),
        }),
    }
}

/// One path operand: absolute as sent, or joined to its directory.
fn operand(dir: &[u8], path: &[u8]) -> String {
    let path = String::from_utf8_lossy(path);
    if dir.is_empty() {
        if path.starts_with('/') {
            join_clean("/", &path)
        } else {
            // The directory could not be resolved: keep what we have.
            path.into_owned()
        }
    } else {
        join_clean(&String::from_utf8_lossy(dir), &path)
    }
}

fn file_body(f: &FileRecord<'_>, watch_reads: &[Arc<str>]) -> FileBody {
    let x = &f.fixed;
    let op = FileOp::from_kind(x.hdr.kind).unwrap_or(FileOp::Open);
    let first = operand(f.dir, f.path);
    let second = || operand(f.dir2, f.path2);
    let (path, original_path, target_path) = match op {
        FileOp::Rename => (second(), Some(first), None),
        FileOp::Link => (second(), None, Some(first)),
        // A symlink's target is text the kernel stores, not a location.
        FileOp::Symlink => (
            second(),
            None,
            Some(String::from_utf8_lossy(f.path).into_owned()),
        ),
        _ => (first, None, None),
    };
    // path2 is the attribute's name; dir2 the head of a capability value.
    let xattr = matches!(op, FileOp::SetXattr | FileOp::RemoveXattr).then(|| {
        let name = String::from_utf8_lossy(f.path2).into_owned();
        let set = op == FileOp::SetXattr;
        Xattr {
            caps: (set && name == CAP_XATTR)
                .then(|| FileCaps::parse(f.dir2))
                .flatten(),
            name,
            size: set.then_some(x.mode),
        }
    });
    let id = |v: u32| (v != u32::MAX).then_some(v);
    let has_mode = match op {
        FileOp::Open => x.open_flags & (O_CREAT | O_TMPFILE) != 0,
        FileOp::Chmod => true,
        _ => false,
    };
    FileBody {
        op,
        syscall: abi::file_syscall::name(x.syscall).unwrap_or("unknown"),
        path,
        original_path,
        target_path,
        result: x.ret,
        open_flags: x.open_flags,
        mode: has_mode.then_some(x.mode),
        owner: if op == FileOp::Chown { id(x.uid) } else { None },
        group: if op == FileOp::Chown { id(x.gid) } else { None },
        at_flags: x.at_flags,
        resolved: x.flags & file_flag::PATH_RESOLVED != 0,
        unfiltered: x.flags & file_flag::UNFILTERED != 0,
        watched: if x.read_watch == abi::READ_WATCH_PROC_MEM {
            // one shared string: no allocation per record
            static WATCHED: std::sync::LazyLock<Arc<str>> =
                std::sync::LazyLock::new(|| Arc::from(PROC_MEM));
            Some(WATCHED.clone())
        } else {
            usize::from(x.read_watch)
                .checked_sub(1)
                .and_then(|i| watch_reads.get(i))
                .cloned()
        },
        xattr,
        truncated: FileTruncation {
            path: x.flags & file_flag::PATH_TRUNC != 0,
            other_path: x.flags & file_flag::PATH2_TRUNC != 0,
            unreadable: x.flags & (file_flag::PATH_FAULT | file_flag::PATH2_FAULT) != 0,
        },
    }
}

/// An address from a record: 4 bytes of IPv4 or 16 of IPv6.
fn socket_addr(family: NetFamily, addr: &[u8; 16], port: u16) -> Option<SocketAddr> {
    let ip = match family {
        NetFamily::Inet => IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])),
        NetFamily::Inet6 => IpAddr::V6(Ipv6Addr::from(*addr)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

fn net_body(n: &NetRecord<'_>) -> NetBody {
    let x = &n.fixed;
    let op = NetOp::from_kind(x.hdr.kind).unwrap_or(NetOp::Connect);
    let family = NetFamily::from_af(x.family);
    let local = socket_addr(family, &x.local_addr, x.local_port);
    // An unconnected socket's peer is all zeroes: there is no remote end.
    let remote = socket_addr(family, &x.remote_addr, x.remote_port)
        .filter(|a| !(a.ip().is_unspecified() && a.port() == 0));
    let unix_path = (!n.unix_path.is_empty()).then(|| {
        // An abstract name starts with NUL; show it as '@', as ss(8) does,
        // and stop a filesystem path at its NUL.
        match n.unix_path.split_first() {
            Some((0, rest)) => {
                let end = rest.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
                format!("@{}", String::from_utf8_lossy(&rest[..end]))
            }
            _ => {
                let end = n
                    .unix_path
                    .iter()
                    .position(|b| *b == 0)
                    .unwrap_or(n.unix_path.len());
                String::from_utf8_lossy(&n.unix_path[..end]).into_owned()
            }
        }
    });
    NetBody {
        op,
        syscall: abi::net_syscall::name(x.syscall).unwrap_or("unknown"),
        result: x.ret,
        in_progress: x.flags & net_flag::IN_PROGRESS != 0,
        family,
        protocol: x.protocol,
        sock_type: x.sock_type,
        local,
        remote,
        unix_path,
        dns: (op == NetOp::DnsQuery).then(|| dns::parse_query(n.payload)),
        stdio: None,
        truncated: NetTruncation {
            unix_path: x.flags & net_flag::PATH_TRUNC != 0,
            payload: x.flags & net_flag::PAYLOAD_TRUNC != 0,
            address_unreadable: x.flags & net_flag::ADDR_FAULT != 0,
        },
    }
}

/// A stdio-socket record as a network event on the stdin socket: the
/// syscall is the exec or dup behind it, the result the fd a dup made.
fn stdio_body(x: &abi::Stdio) -> NetBody {
    let family = NetFamily::from_af(x.family);
    NetBody {
        op: NetOp::StdioSocket,
        syscall: abi::stdio_syscall::name(x.syscall).unwrap_or("unknown"),
        result: if x.newfd == 0xff {
            0
        } else {
            i64::from(x.newfd)
        },
        in_progress: false,
        family,
        protocol: x.protocol,
        sock_type: x.sock_type,
        local: socket_addr(family, &x.local_addr, x.local_port),
        remote: socket_addr(family, &x.remote_addr, x.remote_port)
            .filter(|a| !(a.ip().is_unspecified() && a.port() == 0)),
        unix_path: None,
        dns: None,
        stdio: Some(Stdio {
            fds: x.fds & 7,
            socket_inode: x.ino,
        }),
        truncated: NetTruncation::default(),
    }
}

const O_CREAT: u64 = 0o100;
const O_TMPFILE: u64 = 0o20000000;

/// A NUL-padded kernel char array as text.
fn cstr(bytes: &[u8; abi::COMM_LEN]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Join a relative path onto an absolute directory, resolving `.` and `..`
/// lexically (the kernel already resolved the real file: see `exe`).
pub fn join_clean(dir: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for comp in dir.split('/').chain(rel.split('/')) {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = String::with_capacity(dir.len() + rel.len() + 1);
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// The stage loop: runs until the poller hangs up, then returns. File
/// events that may have replaced a watched file are passed to `hints`.
pub fn run(
    rx: Receiver<RawBatch>,
    tx: Outlet<Vec<Event>>,
    recycle: Sender<RawBatch>,
    mut n: Normalizer,
    hints: Option<Hints>,
    stats: Arc<Stats>,
) {
    for mut batch in rx {
        crate::pipeline::fault::point("normalizer");
        n.resync_clock();
        let mut out = Vec::with_capacity(batch.len());
        for bytes in batch.records() {
            match decode::decode(bytes) {
                Ok(rec) => {
                    let Some(ev) = n.normalize(&rec) else {
                        continue; // an exec_env record, held for its exec
                    };
                    if let (Some(h), Body::File(f)) = (&hints, &ev.body) {
                        h.file_event(f);
                    }
                    out.push(ev);
                }
                Err(e) => match e.reason() {
                    Reason::InvalidSchema => stats.count_invalid_schema(),
                    Reason::UnsupportedKind => stats.count_unsupported_kind(),
                },
            }
        }
        batch.clear();
        // Hand the buffer back; if the poller has enough spares, drop it.
        let _ = recycle.try_send(batch);
        if !out.is_empty() && tx.send(out).is_err() {
            return; // downstream gone: the pipeline is shutting down
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::abi::Hdr;
    use crate::kernel::decode::encode_exec;

    #[test]
    fn join_clean_cases() {
        assert_eq!(join_clean("/usr/bin", "./true"), "/usr/bin/true");
        assert_eq!(join_clean("/usr/bin", "../sbin/x"), "/usr/sbin/x");
        assert_eq!(join_clean("/", "a"), "/a");
        assert_eq!(join_clean("/a", "../../.."), "/");
        assert_eq!(join_clean("/a//b/", "c//d"), "/a/b/c/d");
    }

    #[test]
    fn watched_reads_name_their_watch_entry() {
        use crate::kernel::decode::encode_file;
        let mut n = Normalizer::new().with_watch_reads(&["/etc/shadow".into(), "/k".into()]);
        let mut read = |id: u16| {
            let fixed = abi::File {
                hdr: Hdr {
                    kind: abi::kind::FILE_OPEN,
                    tgid: 9,
                    pid: 9,
                    ..Default::default()
                },
                ret: 3,
                open_flags: 0o2000000,
                syscall: 2,
                read_watch: id,
                flags: file_flag::PATH_RESOLVED,
                ..Default::default()
            };
            let mut bytes = Vec::new();
            encode_file(&fixed, b"", b"/var/tmp/.s", b"", b"", &mut bytes);
            let Body::File(f) = n.normalize(&decode::decode(&bytes).unwrap()).unwrap().body else {
                panic!()
            };
            f
        };
        let f = read(1);
        assert!(f.is_read());
        assert_eq!(
            (f.path.as_str(), f.watched.as_deref()),
            ("/var/tmp/.s", Some("/etc/shadow"))
        );
        assert_eq!(read(2).watched.as_deref(), Some("/k"));
        // 0 is "not a watched read"; an id beyond the list names nothing.
        assert_eq!(read(0).watched, None);
        assert_eq!(read(3).watched, None);
        // Another process's memory: the kernel's own watch.
        assert_eq!(
            read(abi::READ_WATCH_PROC_MEM).watched.as_deref(),
            Some(PROC_MEM)
        );
    }

    #[test]
    fn exec_is_normalized() {
        let fixed = abi::Exec {
            hdr: Hdr {
                ktime_ns: 5_000,
                pid: 77,
                tgid: 77,
                ..Default::default()
            },
            ppid: 70,
            uid: 1000,
            euid: 0,
            auid: u32::MAX,
            sessionid: 4,
            argc: 3,
            stdio: Default::default(),
            flags: exec_flag::ARGS_TRUNC,
            comm: *b"run\0\0\0\0\0\0\0\0\0\0\0\0\0",
            ..Default::default()
        };
        let mut bytes = Vec::new();
        encode_exec(
            &fixed,
            b"../bin/run",
            b"/opt/app/x",
            b"/opt/app/bin/run",
            b"run\0-a\0very-lo",
            &mut bytes,
        );
        let rec = decode::decode(&bytes).unwrap();
        let mut n = Normalizer::new();
        let ev = n.normalize(&rec).unwrap();
        assert_eq!(ev.seq, 1);
        assert_eq!(ev.pid, 77);
        assert_eq!(ev.time_ns, n.wall(5_000));
        let Body::Exec(b) = &ev.body else { panic!() };
        assert_eq!(b.image.executable, "/opt/app/bin/run");
        assert_eq!(b.image.exe, "/opt/app/bin/run");
        assert_eq!(b.image.name, "run");
        assert_eq!(b.image.args, vec!["run", "-a", "very-lo"]);
        assert!(b.image.truncated.args && !b.image.truncated.exe);
        assert_eq!(b.creds.login_uid, None);
        assert_eq!(b.creds.session_id, Some(4));
        assert_eq!((b.ppid, b.argc), (70, 3));
        assert_eq!(n.normalize(&rec).unwrap().seq, 2);
    }

    /// An exec record of pid `tgid` started at `start_ns`.
    fn exec_bytes(tgid: u32, start_ns: u64) -> Vec<u8> {
        let fixed = abi::Exec {
            hdr: Hdr {
                pid: tgid,
                tgid,
                ..Default::default()
            },
            start_ns,
            ..Default::default()
        };
        let mut bytes = Vec::new();
        encode_exec(
            &fixed,
            b"/bin/true",
            b"",
            b"/usr/bin/true",
            b"true\0",
            &mut bytes,
        );
        bytes
    }

    fn env_bytes(tgid: u32, start_ns: u64, flags: u32, vars: &[u8]) -> Vec<u8> {
        let fixed = abi::ExecEnv {
            hdr: Hdr {
                pid: tgid,
                tgid,
                ..Default::default()
            },
            start_ns,
            flags,
            count: 1,
            ..Default::default()
        };
        let mut bytes = Vec::new();
        decode::encode_exec_env(&fixed, vars, &mut bytes);
        bytes
    }

    /// The image of the exec record `bytes` (the record must make an event).
    fn image_of(n: &mut Normalizer, bytes: &[u8]) -> Arc<Image> {
        let ev = n.normalize(&decode::decode(bytes).unwrap()).unwrap();
        let Body::Exec(b) = ev.body else { panic!() };
        b.image
    }

    #[test]
    fn exec_env_goes_on_the_exec_that_follows() {
        let mut n = Normalizer::new();
        let env = env_bytes(7, 70, 0, b"LD_PRELOAD=/tmp/x.so\0LD_LIBRARY_PATH=/tmp\0");
        // Held: no event, and no sequence number used.
        assert!(n.normalize(&decode::decode(&env).unwrap()).is_none());
        // Another CPU's exec in between takes nothing.
        assert!(image_of(&mut n, &exec_bytes(8, 80)).env_vars.is_empty());
        let img = image_of(&mut n, &exec_bytes(7, 70));
        assert_eq!(
            img.env_vars,
            ["LD_PRELOAD=/tmp/x.so", "LD_LIBRARY_PATH=/tmp"]
        );
        assert!(!img.truncated.env);
        // Taken once: the next exec of that process has none.
        assert!(image_of(&mut n, &exec_bytes(7, 70)).env_vars.is_empty());

        // A cut scan is a truncation even with nothing found.
        let env = env_bytes(9, 90, env_flag::CUT, b"");
        assert!(n.normalize(&decode::decode(&env).unwrap()).is_none());
        let img = image_of(&mut n, &exec_bytes(9, 90));
        assert!(img.env_vars.is_empty() && img.truncated.env && img.truncated.any());

        // An env record whose exec was lost is dropped at the process's
        // next exec (another start), not attached to it.
        let env = env_bytes(5, 50, 0, b"LD_AUDIT=/tmp/a.so\0");
        assert!(n.normalize(&decode::decode(&env).unwrap()).is_none());
        assert!(image_of(&mut n, &exec_bytes(5, 51)).env_vars.is_empty());
        assert!(n.pending_env.is_empty());

        // The holding list is bounded.
        for pid in 0..(PENDING_ENV_MAX as u32 + 10) {
            let env = env_bytes(1000 + pid, 1, 0, b"LD_PRELOAD=/x\0");
            assert!(n.normalize(&decode::decode(&env).unwrap()).is_none());
        }
        assert_eq!(n.pending_env.len(), PENDING_ENV_MAX);
        assert_eq!(
            n.normalize(&decode::decode(&exec_bytes(1, 1)).unwrap())
                .unwrap()
                .seq,
            6
        );
    }
}
