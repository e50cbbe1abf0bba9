//! The fields a rule can test: the ECS names of the output schema
//! (docs/schema.md), so what a user reads in an event is what a rule
//! matches. Each field knows its type, the event actions it exists for,
//! and how to read it from an [`Event`] without allocating.

use std::net::IpAddr;

use crate::model::event::{Body, Event, FileOp, NetOp};
use crate::model::proctable::Process;

/// Every `event.action` value, in a fixed order (rule indexes use it).
pub const ACTIONS: [&str; 17] = [
    "exec",
    "fork",
    "exit",
    "signal",
    "open",
    "unlink",
    "rename",
    "chmod",
    "chown",
    "link",
    "symlink",
    "connect",
    "bind",
    "listen",
    "accept",
    "dns_query",
    "stdio_socket",
];

pub const PROCESS: &[&str] = &["exec", "fork", "exit", "signal"];
pub const FILE: &[&str] = &[
    "open", "unlink", "rename", "chmod", "chown", "link", "symlink",
];
pub const NETWORK: &[&str] = &[
    "connect",
    "bind",
    "listen",
    "accept",
    "dns_query",
    "stdio_socket",
];

/// Index of an action in [`ACTIONS`].
pub fn action_index(action: &str) -> Option<usize> {
    ACTIONS.iter().position(|a| *a == action)
}

/// What kind of value a field holds, which decides the operators allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    /// A list of strings (process.args): a string test holds if any
    /// element passes it.
    StrList,
    Int,
    Ip,
}

/// A field's value in one event, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Missing,
    Str(&'a str),
    StrList(&'a [String]),
    Int(i64),
    Ip(IpAddr),
}

/// How to read a field.
#[derive(Clone, Copy)]
pub enum Getter {
    Event(fn(&Event) -> Value<'_>),
    /// A field of each ancestor: the test holds if it holds for any.
    Ancestor(fn(&Process) -> Value<'_>),
    /// `process.command_line`: the arguments joined by spaces, built once
    /// per event in [`Scratch`] and only if a rule asks.
    CommandLine,
}

pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    /// The actions the field exists for.
    pub actions: &'static [&'static str],
    pub get: Getter,
}

impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

pub const ALL: &[&str] = &ACTIONS;

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

fn ppid(ev: &Event) -> Option<u32> {
    match &ev.body {
        Body::Exec(b) => Some(b.ppid),
        Body::Fork(b) => Some(b.child_ppid),
        Body::Exit(b) => Some(b.ppid),
        _ => proc(ev).map(|p| p.ppid),
    }
}

/// The parent the output describes: our link, if it is the current one.
fn parent(ev: &Event) -> Option<&Process> {
    let want = ppid(ev)?;
    proc(ev)?.parent.as_deref().filter(|pp| pp.pid == want)
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
        name: "process.args",
        kind: Kind::StrList,
        actions: ALL,
        get: Getter::Event(|ev| proc(ev).map_or(Value::Missing, |p| Value::StrList(&p.image.args))),
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
        name: "process.parent.args",
        kind: Kind::StrList,
        actions: ALL,
        get: Getter::Event(|ev| {
            parent(ev).map_or(Value::Missing, |p| Value::StrList(&p.image.args))
        }),
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
        kind: Kind::Int,
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
];

pub fn lookup(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}

/// Reusable buffers for values that must be assembled (the command line),
/// so matching allocates nothing once warm.
#[derive(Debug, Default)]
pub struct Scratch {
    buf: String,
    /// `buf` holds the current event's command line.
    built: bool,
}

impl Scratch {
    /// A new event: what was built for the last one is stale.
    pub fn reset(&mut self) {
        self.built = false;
    }

    /// `process.command_line` (args joined by single spaces), or None;
    /// built on first use after [`Scratch::reset`], reusing the buffer.
    pub fn command_line<'a>(&'a mut self, ev: &Event) -> Option<&'a str> {
        let args = &ev.process.as_deref()?.image.args;
        if !self.built {
            self.buf.clear();
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    self.buf.push(' ');
                }
                self.buf.push_str(a);
            }
            self.built = true;
        }
        Some(&self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/rules.md lists every field a rule can name.
    #[test]
    fn every_field_is_documented() {
        let doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md"));
        for f in FIELDS {
            // `a` / `b` rows document two fields on one line.
            let listed = doc.lines().any(|l| {
                l.starts_with("| `")
                    && l.split('|')
                        .nth(1)
                        .is_some_and(|c| c.contains(&format!("`{}`", f.name)))
            });
            assert!(listed, "{} is not in docs/rules.md's field table", f.name);
        }
    }

    /// process.name reads what the output writes (record.rs): the
    /// executable's file name, the image's task name, then the exit's.
    #[test]
    fn process_name_falls_back_like_the_output() {
        use crate::model::event::{ExitBody, ExitStatus, Image};
        use crate::model::proctable::Origin;
        use std::sync::Arc;
        let name = lookup("process.name").unwrap();
        let Getter::Event(get) = name.get else {
            panic!("process.name is an event field")
        };
        let exit = |image: Image, known: bool| Event {
            seq: 1,
            time_ns: 0,
            ktime_ns: 0,
            pid: 5,
            tid: 5,
            body: Body::Exit(ExitBody {
                start_ns: 0,
                ppid: 1,
                name: "comm".into(),
                status: ExitStatus::from_wait_status(0),
            }),
            process: known.then(|| {
                Arc::new(Process {
                    pid: 5,
                    ppid: 1,
                    start_ns: 0,
                    start_exact: true,
                    start_time_ns: 0,
                    image: Arc::new(image),
                    creds: None,
                    cgroup_id: None,
                    parent: None,
                    origin: Origin::Fork,
                    chain_len: 0,
                })
            }),
        };
        let named = |executable: &str, name: &str| Image {
            executable: executable.into(),
            name: name.into(),
            ..Image::default()
        };
        let cases = [
            (exit(named("/bin/sh", "x"), true), "sh"),
            (exit(named("", "x"), true), "x"),
            (exit(Image::default(), true), "comm"),
            (exit(Image::default(), false), "comm"),
        ];
        for (ev, want) in cases {
            assert!(matches!(get(&ev), Value::Str(s) if s == want), "{want}");
            let ctx = crate::record::Context {
                hostname: "h".into(),
                agent_version: "0",
                ancestry_depth: 8,
            };
            let mut out = Vec::new();
            crate::record::write_line(&crate::record::Record::Event(ev), &ctx, &mut out).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(v["process"]["name"], want);
        }
    }

    #[test]
    fn field_names_are_unique_and_actions_known() {
        let mut names: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
        for f in FIELDS {
            for a in f.actions {
                assert!(action_index(a).is_some(), "{}: {a}", f.name);
            }
        }
        assert_eq!(PROCESS.len() + FILE.len() + NETWORK.len(), ACTIONS.len());
    }
}
