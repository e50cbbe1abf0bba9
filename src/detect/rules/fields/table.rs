//! The field table: each field's name, kind, actions and getter, reading
//! an [`Event`] as the record writer (src/record) writes it.

use super::{ALL, DNS_TYPES, FILE, Field, Getter, Kind, NETWORK, SIGNALS, Value};
use crate::model::container::{Cgroup, Container};
use crate::model::event::{Body, Event, FileOp, NetOp, SignalBody};
use crate::model::proctable::Process;

fn basename(p: &str) -> &str {
    // Scanning back from the end stops at the last '/': a few bytes.
    match p.bytes().rposition(|b| b == b'/') {
        Some(i) => &p[i + 1..],
        None => p,
    }
}

fn opt_str(s: &str) -> Value<'_> {
    if s.is_empty() {
        Value::Missing
    } else {
        Value::Str(s)
    }
}

fn proc(ev: &Event) -> Option<&Process> {
    ev.process.as_deref()
}

/// process.name as the output writes it: the executable's file name, the
/// kernel's comm when the executable is unknown.
fn name_of(p: &Process) -> Value<'_> {
    if !p.image.executable.is_empty() {
        Value::Str(basename(&p.image.executable))
    } else {
        opt_str(&p.image.name)
    }
}

/// process.hash.sha256 as the output writes it.
fn sha256(p: &Process) -> Value<'_> {
    p.image
        .hash
        .get()
        .and_then(|h| h.sha256())
        .map_or(Value::Missing, Value::Str)
}

/// process.working_directory as the output writes it: beside a known
/// executable only.
fn working_directory(p: &Process) -> Value<'_> {
    if p.image.executable.is_empty() {
        Value::Missing
    } else {
        opt_str(&p.image.working_directory)
    }
}

fn ppid(ev: &Event) -> Option<u32> {
    match &ev.body {
        Body::Exec(b) => Some(b.ppid),
        Body::Fork(b) => Some(b.child_ppid),
        Body::Exit(b) => Some(b.ppid),
        _ => proc(ev).map(|p| p.ppid),
    }
}

/// The parent the output describes: our link, if it is the current one.
pub(super) fn parent(ev: &Event) -> Option<&Process> {
    let want = ppid(ev)?;
    proc(ev)?.parent.as_deref().filter(|pp| pp.pid == want)
}

fn cgroup(ev: &Event) -> Option<&Cgroup> {
    proc(ev)?.cgroup.as_deref()
}

fn container(ev: &Event) -> Option<&Container> {
    cgroup(ev)?.container.as_ref()
}

/// An optional string of the container, as the record writes it.
fn container_str(ev: &Event, f: fn(&Container) -> Option<&String>) -> Value<'_> {
    container(ev)
        .and_then(f)
        .map_or(Value::Missing, |s| Value::Str(s))
}

fn creds(ev: &Event) -> Option<crate::model::event::Creds> {
    proc(ev).and_then(|p| p.creds)
}

fn file(ev: &Event) -> Option<&crate::model::event::FileBody> {
    match &ev.body {
        Body::File(f) => Some(f),
        _ => None,
    }
}

fn net(ev: &Event) -> Option<&crate::model::event::NetBody> {
    match &ev.body {
        Body::Net(n) => Some(n),
        _ => None,
    }
}

/// (source, destination) as the output puts them.
fn ends(
    n: &crate::model::event::NetBody,
) -> (Option<std::net::SocketAddr>, Option<std::net::SocketAddr>) {
    match n.op {
        NetOp::Accept => (n.remote, n.local),
        _ => (n.local, n.remote),
    }
}

/// event.type as the record writer has it.
fn event_types(ev: &Event) -> &'static [&'static str] {
    ev.body.ecs_category_types().1
}

fn signal(ev: &Event) -> Option<&SignalBody> {
    match &ev.body {
        Body::Signal(s) => Some(s),
        _ => None,
    }
}

const SIGNAL: &[&str] = &["signal"];
const STDIO: &[&str] = &["stdio_socket"];

macro_rules! int {
    ($e:expr) => {
        match $e {
            Some(v) => Value::Int(v as i64),
            None => Value::Missing,
        }
    };
}

/// Every field a rule can name.
pub static FIELDS: &[Field] = &[
    Field {
        name: "event.action",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::Event(|ev| Value::Str(ev.body.action())),
    },
    Field {
        name: "event.category",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::Event(|ev| {
            Value::Str(match ev.body {
                Body::Exec(_) | Body::Fork(_) | Body::Exit(_) | Body::Signal(_) | Body::Loss(_) => {
                    "process"
                }
                Body::File(_) => "file",
                Body::Net(_) => "network",
            })
        }),
    },
    Field {
        name: "event.type",
        kind: Kind::StrList,
        actions: ALL,
        get: Getter::Event(|ev| Value::Strs(event_types(ev))),
    },
    Field {
        name: "event.outcome",
        kind: Kind::Str,
        actions: FILE,
        get: Getter::Event(|ev| match file(ev) {
            Some(f) if f.result >= 0 => Value::Str("success"),
            Some(_) => Value::Str("failure"),
            None => Value::Missing,
        }),
    },
    Field {
        name: "process.pid",
        kind: Kind::Int,
        actions: ALL,
        get: Getter::Event(|ev| Value::Int(ev.pid as i64)),
    },
    Field {
        name: "process.name",
        kind: Kind::Str,
        actions: ALL,
        // An exit falls back to its task name, known process or not (one
        // forked from a process never seen exec has no name of its own).
        get: Getter::Event(|ev| match (proc(ev).map(name_of), &ev.body) {
            (Some(Value::Str(name)), _) => Value::Str(name),
            (_, Body::Exit(x)) => opt_str(&x.name),
            _ => Value::Missing,
        }),
    },
    Field {
        name: "process.executable",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::Event(|ev| proc(ev).map_or(Value::Missing, |p| opt_str(&p.image.executable))),
    },
    Field {
        // Missing until the hasher is done (an exec's own record may come
        // first), and when the file was not hashed.
        name: "process.hash.sha256",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::Event(|ev| proc(ev).map_or(Value::Missing, sha256)),
    },
    Field {
        name: "process.args",
        kind: Kind::StrList,
        actions: ALL,
        get: Getter::Event(|ev| proc(ev).map_or(Value::Missing, |p| Value::StrList(&p.image.args))),
    },
    Field {
        // Only the dynamic-linker variables, only when set (rg-preload-env):
        // missing otherwise, so `exists` tells whether there are any.
        name: "process.env_vars",
        kind: Kind::StrList,
        actions: ALL,
        get: Getter::Event(|ev| {
            proc(ev)
                .filter(|p| !p.image.env_vars.is_empty())
                .map_or(Value::Missing, |p| Value::StrList(&p.image.env_vars))
        }),
    },
    Field {
        name: "process.args_count",
        kind: Kind::Int,
        actions: ALL,
        get: Getter::Event(|ev| int!(proc(ev).map(|p| p.image.args.len()))),
    },
    Field {
        name: "process.command_line",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::CommandLine,
    },
    Field {
        name: "process.working_directory",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::Event(|ev| proc(ev).map_or(Value::Missing, working_directory)),
    },
    Field {
        name: "process.user.id",
        kind: Kind::Int,
        actions: ALL,
        get: Getter::Event(|ev| int!(creds(ev).map(|c| c.euid))),
    },
    Field {
        name: "process.group.id",
        kind: Kind::Int,
        actions: ALL,
        get: Getter::Event(|ev| int!(creds(ev).map(|c| c.egid))),
    },
    Field {
        name: "process.real_user.id",
        kind: Kind::Int,
        actions: ALL,
        get: Getter::Event(|ev| int!(creds(ev).map(|c| c.uid))),
    },
    Field {
        name: "process.real_group.id",
        kind: Kind::Int,
        actions: ALL,
        get: Getter::Event(|ev| int!(creds(ev).map(|c| c.gid))),
    },
    Field {
        name: "user.id",
        kind: Kind::Int,
        actions: ALL,
        get: Getter::Event(|ev| int!(creds(ev).map(|c| c.uid))),
    },
    Field {
        name: "process.exit_code",
        kind: Kind::Int,
        actions: &["exit"],
        get: Getter::Event(|ev| match &ev.body {
            Body::Exit(x) => Value::Int(x.status.code as i64),
            _ => Value::Missing,
        }),
    },
    Field {
        name: "process.parent.pid",
        kind: Kind::Int,
        actions: ALL,
        get: Getter::Event(|ev| int!(ppid(ev))),
    },
    Field {
        name: "process.parent.name",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::Event(|ev| parent(ev).map_or(Value::Missing, name_of)),
    },
    Field {
        name: "process.parent.executable",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::Event(|ev| {
            parent(ev).map_or(Value::Missing, |p| opt_str(&p.image.executable))
        }),
    },
    Field {
        name: "process.parent.hash.sha256",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::Event(|ev| parent(ev).map_or(Value::Missing, sha256)),
    },
    Field {
        name: "process.parent.args",
        kind: Kind::StrList,
        actions: ALL,
        get: Getter::Event(|ev| {
            parent(ev).map_or(Value::Missing, |p| Value::StrList(&p.image.args))
        }),
    },
    Field {
        name: "process.parent.args_count",
        kind: Kind::Int,
        actions: ALL,
        get: Getter::Event(|ev| int!(parent(ev).map(|p| p.image.args.len()))),
    },
    Field {
        name: "process.parent.command_line",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::ParentCommandLine,
    },
    Field {
        name: "process.parent.working_directory",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::Event(|ev| parent(ev).map_or(Value::Missing, working_directory)),
    },
    Field {
        name: "process.ancestors.pid",
        kind: Kind::Int,
        actions: ALL,
        get: Getter::Ancestor(|p| Value::Int(p.pid as i64)),
    },
    Field {
        name: "process.ancestors.name",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::Ancestor(name_of),
    },
    Field {
        name: "process.ancestors.executable",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::Ancestor(|p| opt_str(&p.image.executable)),
    },
    Field {
        name: "rand_guard.process.exe",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::Event(|ev| proc(ev).map_or(Value::Missing, |p| opt_str(&p.image.exe))),
    },
    Field {
        name: "rand_guard.process.cgroup_id",
        kind: Kind::Int,
        actions: ALL,
        get: Getter::Event(|ev| int!(proc(ev).and_then(|p| p.cgroup_id))),
    },
    Field {
        name: "rand_guard.process.cgroup_path",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::Event(|ev| {
            cgroup(ev)
                .filter(|cg| cg.path != "/")
                .map_or(Value::Missing, |cg| Value::Str(&cg.path))
        }),
    },
    Field {
        name: "rand_guard.process.namespaces.pid",
        kind: Kind::Int,
        actions: ALL,
        get: Getter::Event(|ev| int!(proc(ev).and_then(|p| p.ns).map(|n| n.pid))),
    },
    Field {
        name: "rand_guard.process.namespaces.mnt",
        kind: Kind::Int,
        actions: ALL,
        get: Getter::Event(|ev| int!(proc(ev).and_then(|p| p.ns).map(|n| n.mnt))),
    },
    Field {
        name: "rand_guard.process.namespaces.net",
        kind: Kind::Int,
        actions: ALL,
        get: Getter::Event(|ev| int!(proc(ev).and_then(|p| p.ns).map(|n| n.net))),
    },
    Field {
        name: "rand_guard.process.namespaces.uts",
        kind: Kind::Int,
        actions: ALL,
        get: Getter::Event(|ev| int!(proc(ev).and_then(|p| p.ns).map(|n| n.uts))),
    },
    Field {
        name: "container.id",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::Event(|ev| container(ev).map_or(Value::Missing, |c| Value::Str(&c.id))),
    },
    Field {
        name: "container.runtime",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::Event(|ev| {
            container(ev).map_or(Value::Missing, |c| Value::Str(c.runtime.as_str()))
        }),
    },
    Field {
        name: "container.name",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::Event(|ev| container_str(ev, |c| c.name.as_ref())),
    },
    Field {
        name: "container.image.name",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::Event(|ev| container_str(ev, |c| c.image_name.as_ref())),
    },
    Field {
        name: "orchestrator.resource.id",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::Event(|ev| container_str(ev, |c| c.pod_uid.as_ref())),
    },
    Field {
        name: "rand_guard.systemd.unit",
        kind: Kind::Str,
        actions: ALL,
        get: Getter::Event(|ev| {
            cgroup(ev)
                .and_then(|cg| cg.systemd_unit.as_deref())
                .map_or(Value::Missing, Value::Str)
        }),
    },
    Field {
        name: "rand_guard.process.login_uid",
        kind: Kind::Int,
        actions: ALL,
        get: Getter::Event(|ev| int!(creds(ev).and_then(|c| c.login_uid))),
    },
    Field {
        name: "file.path",
        kind: Kind::Str,
        actions: FILE,
        get: Getter::Event(|ev| file(ev).map_or(Value::Missing, |f| Value::Str(&f.path))),
    },
    Field {
        name: "file.name",
        kind: Kind::Str,
        actions: FILE,
        get: Getter::Event(|ev| file(ev).map_or(Value::Missing, |f| Value::Str(basename(&f.path)))),
    },
    Field {
        name: "file.directory",
        kind: Kind::Str,
        actions: FILE,
        get: Getter::Event(|ev| match file(ev).map(|f| f.path.as_str()) {
            Some(p) => match p.rfind('/') {
                Some(0) => Value::Str("/"),
                Some(i) => Value::Str(&p[..i]),
                None => Value::Missing,
            },
            None => Value::Missing,
        }),
    },
    Field {
        name: "file.target_path",
        kind: Kind::Str,
        actions: &["link", "symlink"],
        get: Getter::Event(|ev| {
            file(ev)
                .and_then(|f| f.target_path.as_deref())
                .map_or(Value::Missing, Value::Str)
        }),
    },
    Field {
        name: "file.mode",
        kind: Kind::Int,
        actions: &["open", "chmod"],
        get: Getter::Event(|ev| int!(file(ev).and_then(|f| f.mode))),
    },
    Field {
        name: "file.uid",
        kind: Kind::Int,
        actions: &["chown"],
        get: Getter::Event(|ev| int!(file(ev).and_then(|f| f.owner))),
    },
    Field {
        name: "file.gid",
        kind: Kind::Int,
        actions: &["chown"],
        get: Getter::Event(|ev| int!(file(ev).and_then(|f| f.group))),
    },
    Field {
        name: "rand_guard.file.original_path",
        kind: Kind::Str,
        actions: &["rename"],
        get: Getter::Event(|ev| {
            file(ev)
                .and_then(|f| f.original_path.as_deref())
                .map_or(Value::Missing, Value::Str)
        }),
    },
    Field {
        name: "rand_guard.file.syscall",
        kind: Kind::Str,
        actions: FILE,
        get: Getter::Event(|ev| file(ev).map_or(Value::Missing, |f| Value::Str(f.syscall))),
    },
    Field {
        name: "rand_guard.file.open_flags",
        kind: Kind::Int,
        actions: &["open"],
        get: Getter::Event(|ev| match file(ev) {
            Some(f) if f.op == FileOp::Open => Value::Int(f.open_flags as i64),
            _ => Value::Missing,
        }),
    },
    Field {
        name: "rand_guard.file.xattr.name",
        kind: Kind::Str,
        actions: &["setxattr", "removexattr"],
        get: Getter::Event(|ev| {
            file(ev)
                .and_then(|f| f.xattr.as_ref())
                .map_or(Value::Missing, |x| Value::Str(&x.name))
        }),
    },
    Field {
        name: "rand_guard.file.watched_path",
        kind: Kind::Str,
        actions: &["open"],
        get: Getter::Event(|ev| {
            file(ev)
                .and_then(|f| f.watched.as_deref())
                .map_or(Value::Missing, Value::Str)
        }),
    },
    Field {
        name: "source.ip",
        kind: Kind::Ip,
        actions: NETWORK,
        get: Getter::Event(|ev| {
            net(ev)
                .and_then(|n| ends(n).0)
                .map_or(Value::Missing, |a| Value::Ip(a.ip()))
        }),
    },
    Field {
        name: "source.port",
        kind: Kind::Int,
        actions: NETWORK,
        get: Getter::Event(|ev| int!(net(ev).and_then(|n| ends(n).0).map(|a| a.port()))),
    },
    Field {
        name: "destination.ip",
        kind: Kind::Ip,
        actions: NETWORK,
        get: Getter::Event(|ev| {
            net(ev)
                .and_then(|n| ends(n).1)
                .map_or(Value::Missing, |a| Value::Ip(a.ip()))
        }),
    },
    Field {
        name: "destination.port",
        kind: Kind::Int,
        actions: NETWORK,
        get: Getter::Event(|ev| int!(net(ev).and_then(|n| ends(n).1).map(|a| a.port()))),
    },
    Field {
        name: "network.transport",
        kind: Kind::Str,
        actions: NETWORK,
        get: Getter::Event(|ev| match net(ev).map(|n| n.protocol) {
            Some(6) => Value::Str("tcp"),
            Some(17) => Value::Str("udp"),
            Some(1) => Value::Str("icmp"),
            Some(58) => Value::Str("ipv6-icmp"),
            Some(132) => Value::Str("sctp"),
            _ => Value::Missing,
        }),
    },
    Field {
        name: "network.type",
        kind: Kind::Str,
        actions: NETWORK,
        get: Getter::Event(|ev| match net(ev).map(|n| n.family) {
            Some(crate::model::event::NetFamily::Inet) => Value::Str("ipv4"),
            Some(crate::model::event::NetFamily::Inet6) => Value::Str("ipv6"),
            _ => Value::Missing,
        }),
    },
    Field {
        name: "network.direction",
        kind: Kind::Str,
        actions: NETWORK,
        get: Getter::Event(|ev| match net(ev).map(|n| n.op) {
            Some(NetOp::Connect | NetOp::DnsQuery) => Value::Str("egress"),
            Some(NetOp::Accept) => Value::Str("ingress"),
            _ => Value::Missing,
        }),
    },
    Field {
        name: "dns.question.name",
        kind: Kind::Str,
        actions: &["dns_query"],
        get: Getter::Event(|ev| {
            match net(ev)
                .and_then(|n| n.dns.as_ref())
                .and_then(|q| q.as_ref().ok())
            {
                Some(q) => Value::Str(&q.name),
                None => Value::Missing,
            }
        }),
    },
    Field {
        name: "dns.question.type",
        kind: Kind::Named(&DNS_TYPES),
        actions: &["dns_query"],
        get: Getter::Event(|ev| {
            int!(
                net(ev)
                    .and_then(|n| n.dns.as_ref())
                    .and_then(|q| q.as_ref().ok())
                    .map(|q| q.qtype)
            )
        }),
    },
    Field {
        name: "rand_guard.network.unix_path",
        kind: Kind::Str,
        actions: NETWORK,
        get: Getter::Event(|ev| {
            net(ev)
                .and_then(|n| n.unix_path.as_deref())
                .map_or(Value::Missing, Value::Str)
        }),
    },
    Field {
        name: "rand_guard.network.syscall",
        kind: Kind::Str,
        actions: NETWORK,
        get: Getter::Event(|ev| net(ev).map_or(Value::Missing, |n| Value::Str(n.syscall))),
    },
    Field {
        name: "rand_guard.network.result",
        kind: Kind::Int,
        actions: NETWORK,
        get: Getter::Event(|ev| int!(net(ev).map(|n| n.result))),
    },
    Field {
        name: "rand_guard.network.stdio_fds",
        kind: Kind::IntList,
        actions: STDIO,
        get: Getter::Event(|ev| match net(ev).and_then(|n| n.stdio) {
            Some(s) => Value::IntBits(u64::from(s.fds & 0b111)),
            None => Value::Missing,
        }),
    },
    Field {
        name: "rand_guard.network.socket_inode",
        kind: Kind::Int,
        actions: STDIO,
        get: Getter::Event(|ev| int!(net(ev).and_then(|n| n.stdio).map(|s| s.socket_inode))),
    },
    Field {
        name: "rand_guard.signal.number",
        kind: Kind::Int,
        actions: SIGNAL,
        get: Getter::Event(|ev| int!(signal(ev).map(|s| s.signal))),
    },
    Field {
        name: "rand_guard.signal.name",
        kind: Kind::Named(&SIGNALS),
        actions: SIGNAL,
        get: Getter::Event(|ev| int!(signal(ev).map(|s| s.signal))),
    },
    Field {
        name: "rand_guard.signal.code",
        kind: Kind::Str,
        actions: SIGNAL,
        get: Getter::Event(|ev| signal(ev).map_or(Value::Missing, |s| Value::Str(s.code))),
    },
    Field {
        name: "rand_guard.signal.result",
        kind: Kind::Str,
        actions: SIGNAL,
        get: Getter::Event(|ev| signal(ev).map_or(Value::Missing, |s| Value::Str(s.result))),
    },
    Field {
        name: "rand_guard.signal.target.pid",
        kind: Kind::Int,
        actions: SIGNAL,
        get: Getter::Event(|ev| int!(signal(ev).map(|s| s.target_pid))),
    },
    Field {
        name: "rand_guard.signal.target.thread.id",
        kind: Kind::Int,
        actions: SIGNAL,
        get: Getter::Event(|ev| int!(signal(ev).map(|s| s.target_tid))),
    },
];
