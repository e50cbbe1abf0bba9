//! `rg-reverse-shell` over relays, from the kernel's evidence: a shell
//! reading commands from its stdin whose stdin or stdout/stderr is a
//! pipe, FIFO or unix socket, and a process at the other end of it holds
//! an internet socket (bpf/relay.bpf.h, the exec record's stdio block).
//!
//! Two ways to find the other end:
//! - the parent: the kernel looks through the parent's fds at the exec
//!   and says which of the shell's stdio it holds the other end of, and
//!   its first internet socket (socat `EXEC:`, a python or perl relay with
//!   subprocess pipes: the relay forks the shell). Needs no network
//!   telemetry.
//! - a process holding the same pipe (or the unix peer) on its own fds
//!   0..2 (the `mkfifo` pipeline: `nc` reads the shell's stdout), whose
//!   connect or accept is seen within [`RELAY_NS`] of the shell's exec,
//!   before or after. Needs `[network]` connects or accepts.
//!
//! State: which link (pipe inode, or a unix socket pair) each process
//! holds on fds 0..2 (from exec records; gone with the process's exit),
//! the shells waiting for a relay, and recent internet connects by pid;
//! every map a bounded [`Window`] whose evictions are counted.

use std::net::SocketAddr;
use std::sync::Arc;

use super::Window;
use super::drop_exec::{Script, script_of};
use crate::model::alert::{Evidence, Severity};
use crate::model::event::{Body, Event, ExecBody, FdType, NetFamily, NetOp, StdioWiring};
use crate::model::proctable::Process;

/// How close a relay's connection and the shell's exec must be.
pub(super) const RELAY_NS: u64 = 30_000_000_000;

/// Servers whose job is a remote shell over pipes (`ssh -T host`): their
/// shells are logins, not reverse shells.
const SESSION_SERVERS: &[&str] = &["sshd", "sshd-session", "dropbear"];

/// Shells by executed file name (`dash` is `sh` on Debian).
pub(super) const SHELLS: &[&str] = &["sh", "bash", "dash", "ksh", "zsh", "mksh", "ash", "busybox"];

/// Whether `p` is a shell reading its commands from stdin: no `-c`, no
/// script operand, or `-i`.
pub(super) fn shell_reading_stdin(p: &Process, args: &[String]) -> bool {
    let name = super::exe_name_of(p);
    SHELLS.contains(&name)
        && (script_of(args, true) == Script::Stdin || args.iter().skip(1).any(|a| a == "-i"))
}

/// The link a stdio fd is one end of: a pipe's or FIFO's inode (both ends
/// share it), or for a unix socket the lower of its and its peer's inode
/// (the same number at both ends). 0: not a link.
fn link_of(s: &StdioWiring, fd: usize) -> u64 {
    let f = s.fds[fd];
    match f.kind {
        FdType::Pipe | FdType::Fifo => f.inode,
        FdType::Unix if f.peer_inode != 0 => f.inode.min(f.peer_inode),
        FdType::Unix => f.inode,
        _ => 0,
    }
}

/// A process holding links on its fds 0..2.
#[derive(Clone)]
pub(super) struct Holder {
    links: [u64; 3],
    proc: Option<Arc<Process>>,
}

/// A shell reading stdin, waiting for the process at the other end of
/// one of its links to show an internet socket.
#[derive(Clone)]
pub(super) struct Waiting {
    pid: u32,
    link: u64,
    ktime_ns: u64,
    /// Bit n: fd n of the shell is on this link.
    fds: u8,
    kind: FdType,
    evidence: Evidence,
}

/// A recent internet connect or accept.
#[derive(Clone, Copy)]
pub(super) struct Conn {
    time_ns: u64,
    action: &'static str,
    remote: Option<SocketAddr>,
}

/// A relay found: the shell's pid, severity, message, evidence, reason.
pub(super) struct Relayed {
    pub shell_pid: u32,
    pub severity: Severity,
    pub message: String,
    pub evidence: Vec<Evidence>,
    pub reason: String,
}

pub(super) struct Relays {
    /// pid → the links it holds on fds 0..2.
    pub(super) holders: Window<u32, Holder>,
    /// link → the latest process holding it that is not a shell reading
    /// stdin.
    pub(super) ends: Window<u64, u32>,
    /// link → the shell waiting on it.
    pub(super) waiting: Window<u64, Waiting>,
    /// pid → its latest internet connect or accept.
    pub(super) conns: Window<u32, Conn>,
}

const FD_NAMES: [&str; 3] = ["stdin", "stdout", "stderr"];

/// "stdin, stdout" for the bits set in `mask`.
fn fd_names(mask: u8) -> String {
    let names: Vec<&str> = (0..3)
        .filter(|n| mask & (1 << n) != 0)
        .map(|n| FD_NAMES[n])
        .collect();
    names.join(", ")
}

fn kind_name(k: FdType) -> &'static str {
    match k {
        FdType::Pipe => "pipe",
        FdType::Fifo => "FIFO",
        FdType::Unix => "unix socket",
        _ => "stream",
    }
}

/// The relay as the records name it: the path as run (a record
/// carries the parent's file the kernel ran only as its own process, so
/// a replay would name it otherwise).
fn exe_of(p: &Process) -> &str {
    &p.image.executable
}

fn addr(remote: Option<SocketAddr>) -> String {
    remote.map_or_else(|| "a listening socket".to_string(), |a| a.to_string())
}

impl Relays {
    pub(super) fn new(cap: usize, window_ns: u64) -> Self {
        Relays {
            holders: Window::new(cap, window_ns),
            ends: Window::new(cap, window_ns),
            waiting: Window::new(cap, window_ns),
            conns: Window::new(cap, RELAY_NS),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.holders.len() + self.ends.len() + self.waiting.len() + self.conns.len()
    }

    pub(super) fn evicted(&self) -> u64 {
        self.holders.evicted() + self.ends.evicted() + self.waiting.evicted() + self.conns.evicted()
    }

    pub(super) fn expire(&mut self, now: u64) {
        self.holders.expire(now);
        self.ends.expire(now);
        self.waiting.expire(now);
        self.conns.expire(now);
    }

    pub(super) fn adopt(&mut self, old: Relays) {
        self.holders.adopt(old.holders);
        self.ends.adopt(old.ends);
        self.waiting.adopt(old.waiting);
        self.conns.adopt(old.conns);
    }

    /// What `ev` completes.
    pub(super) fn observe(&mut self, ev: &Event) -> Option<Relayed> {
        let now = ev.ktime_ns;
        match &ev.body {
            Body::Exec(x) => self.exec(ev, x),
            Body::Net(n)
                if matches!(n.op, NetOp::Connect | NetOp::Accept)
                    && matches!(n.family, NetFamily::Inet | NetFamily::Inet6)
                    && (n.result >= 0 || n.in_progress) =>
            {
                let conn = Conn {
                    time_ns: ev.time_ns,
                    action: ev.body.action(),
                    remote: n.remote,
                };
                self.conns.insert(now, ev.pid, conn);
                let links = self.holders.get(now, &ev.pid)?.links;
                let proc = ev.process.clone();
                links.iter().filter(|l| **l != 0).find_map(|l| {
                    let w = self.waiting.get(now, l)?.clone();
                    (w.pid != ev.pid && now.abs_diff(w.ktime_ns) <= RELAY_NS)
                        .then(|| self.found(w, ev.pid, proc.as_deref(), conn))
                })
            }
            Body::Exit(_) => {
                if let Some(h) = self.holders.remove(&ev.pid) {
                    for l in h.links.iter().filter(|l| **l != 0) {
                        if self.ends.get(now, l) == Some(&ev.pid) {
                            self.ends.remove(l);
                        }
                        if self.waiting.get(now, l).is_some_and(|w| w.pid == ev.pid) {
                            self.waiting.remove(l);
                        }
                    }
                }
                self.conns.remove(&ev.pid);
                None
            }
            _ => None,
        }
    }

    fn exec(&mut self, ev: &Event, x: &ExecBody) -> Option<Relayed> {
        let now = ev.ktime_ns;
        let s = &x.stdio;
        let links = [link_of(s, 0), link_of(s, 1), link_of(s, 2)];
        if links == [0; 3] {
            self.holders.remove(&ev.pid);
            return None;
        }
        let p = ev.process.as_deref()?;
        self.holders.insert(
            now,
            ev.pid,
            Holder {
                links,
                proc: ev.process.clone(),
            },
        );
        let in_ok = s.fds[0].kind.is_relay_end() || s.fds[0].kind == FdType::Inet;
        let out_ok = (1..3).any(|n| s.fds[n].kind.is_relay_end() || s.fds[n].kind == FdType::Inet);
        if !(in_ok && out_ok && shell_reading_stdin(p, &x.image.args)) {
            for l in links.iter().filter(|l| **l != 0) {
                self.ends.insert(now, *l, ev.pid);
            }
            return None;
        }
        if let Some(r) = self.by_parent(ev, x, p) {
            return Some(r);
        }
        // The other end on another process's stdio: connected already, or
        // wait for its connect.
        for (fd, l) in links.iter().enumerate().filter(|(_, l)| **l != 0) {
            // stdout and stderr on one pipe (2>&1) are one link.
            if links[..fd].contains(l) {
                continue;
            }
            let waiting = Waiting {
                pid: ev.pid,
                link: *l,
                ktime_ns: now,
                fds: (0..3)
                    .filter(|n| links[*n] == *l)
                    .fold(0, |m, n| m | 1 << n),
                kind: s.fds[fd].kind,
                evidence: Evidence::of(ev),
            };
            let other = self.ends.get(now, l).copied().filter(|o| *o != ev.pid);
            let conn = other.and_then(|o| self.conns.get(now, &o).copied());
            if let (Some(o), Some(conn)) = (other, conn) {
                let proc = self.holders.get(now, &o).and_then(|h| h.proc.clone());
                return Some(self.found(waiting, o, proc.as_deref(), conn));
            }
            self.waiting.insert(now, *l, waiting);
        }
        None
    }

    /// The parent holds the other end of the shell's stdin and of its
    /// stdout or stderr (or they are internet sockets), and an internet
    /// socket: the kernel saw it at the exec.
    fn by_parent(&self, ev: &Event, x: &ExecBody, p: &Process) -> Option<Relayed> {
        let s = &x.stdio;
        let sock = s.parent_socket.filter(|_| s.scanned)?;
        let held = |n: usize| s.parent_holds & (1 << n) != 0 || s.fds[n].kind == FdType::Inet;
        if s.parent_holds == 0 || !held(0) || !(held(1) || held(2)) {
            return None;
        }
        let parent = p.parent.as_deref();
        if parent.is_some_and(|q| {
            SESSION_SERVERS.contains(&super::exe_name_of(q))
                || SESSION_SERVERS.contains(&super::name_of(q))
        }) {
            return None;
        }
        let fds = fd_names(s.parent_holds);
        let relay = parent.map_or_else(
            || format!("pid {}", x.ppid),
            |q| format!("{} (pid {})", exe_of(q), q.pid),
        );
        let kind = kind_name(s.fds[0].kind);
        let reason = format!(
            "the kernel saw the parent {relay} hold the other end of the shell's {} \
             ({kind} inode {}) and an internet socket (inode {}) to {}",
            fds,
            s.fds[0].inode,
            sock.inode,
            addr(sock.remote)
        );
        let mut relay_ev = parent.map_or_else(
            || Evidence {
                time_ns: ev.time_ns,
                action: "exec",
                pid: x.ppid,
                executable: None,
                command_line: None,
                path: None,
                destination: None,
            },
            Evidence::of_process,
        );
        relay_ev.destination = sock.remote;
        Some(Relayed {
            shell_pid: ev.pid,
            severity: if sock.remote.is_some() {
                Severity::Critical
            } else {
                Severity::High
            },
            message: format!(
                "shell pid {} reads commands through a relay: {relay} holds its {} and a \
                 socket to {}",
                ev.pid,
                fds,
                addr(sock.remote)
            ),
            evidence: vec![relay_ev, Evidence::of(ev)],
            reason,
        })
    }

    /// A waiting shell and the process at the other end of its link with
    /// an internet connection.
    fn found(&mut self, w: Waiting, relay_pid: u32, relay: Option<&Process>, c: Conn) -> Relayed {
        self.waiting.remove(&w.link);
        let name = relay.map_or_else(
            || format!("pid {relay_pid}"),
            |q| format!("{} (pid {relay_pid})", exe_of(q)),
        );
        let relay_ev = Evidence {
            time_ns: c.time_ns,
            action: c.action,
            pid: relay_pid,
            executable: relay.map(|q| q.image.executable.clone()),
            command_line: relay.map(|q| q.image.args.join(" ")),
            path: None,
            destination: c.remote,
        };
        let fds = fd_names(w.fds);
        let reason = format!(
            "{name} holds the other end of the shell's {fds} ({}) on its standard streams and \
             made an internet {} to {} within {} s of the shell's start",
            kind_name(w.kind),
            c.action,
            addr(c.remote),
            RELAY_NS / 1_000_000_000
        );
        Relayed {
            shell_pid: w.pid,
            severity: if c.remote.is_some() {
                Severity::Critical
            } else {
                Severity::High
            },
            message: format!(
                "shell pid {} reads commands through a relay: {name} holds its {fds} and a \
                 socket to {}",
                w.pid,
                addr(c.remote)
            ),
            evidence: vec![relay_ev, w.evidence],
            reason,
        }
    }
}
