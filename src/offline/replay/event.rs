//! Fields → [`Event`]: the event body a record's `event.action` names.

use std::sync::Arc;

use serde_json::Value;

use super::derived::check_derived;
use super::json::*;
use super::process::context;
use super::{ReplayError, Replayed};
use crate::kernel::abi;
use crate::model::dns::{self, DnsError, Query};
use crate::model::event::{
    Body, CAP_NAMES, Event, ExecBody, ExitBody, ExitStatus, FileBody, FileCaps, FileOp,
    FileTruncation, ForkBody, Image, NetBody, NetFamily, NetOp, NetTruncation, SignalBody, Stdio,
    Truncation, Xattr,
};
use crate::record;

/// What `event.action` says the record is.
enum Action {
    Exec,
    Fork,
    Exit,
    Signal,
    File(FileOp),
    Net(NetOp),
}

const FILE_OPS: [FileOp; 10] = [
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

const NET_OPS: [NetOp; 6] = [
    NetOp::Connect,
    NetOp::Bind,
    NetOp::Listen,
    NetOp::Accept,
    NetOp::DnsQuery,
    NetOp::StdioSocket,
];

fn action(v: &Value) -> Result<Action, String> {
    let s = string(v)?;
    // Spellings come from the event types, so they cannot drift apart.
    Ok(match s {
        "exec" => Action::Exec,
        "fork" => Action::Fork,
        "exit" => Action::Exit,
        "signal" => Action::Signal,
        _ => {
            if let Some(op) = FILE_OPS.iter().find(|op| op.action() == s) {
                Action::File(*op)
            } else if let Some(op) = NET_OPS.iter().find(|op| op.action() == s) {
                Action::Net(*op)
            } else {
                let known = crate::detect::rules::fields::ACTIONS.join(", ");
                return Err(format!("unknown action `{s}`; this agent knows: {known}"));
            }
        }
    })
}

/// The event of an event record (or of an alert record: the alert parts
/// are not read).
pub(super) fn event_of(root: &Obj<'_>, value: &Value) -> Result<Replayed, ReplayError> {
    let time_ns = root.need("@timestamp", timestamp)?;
    let host = root.need_obj("host")?;
    let hostname = host.need("hostname", owned)?;
    let host_id = host.get("id", owned)?;
    let agent_id = root.need_obj("agent")?.need("id", owned)?;
    let meta = root.need_obj("event")?;
    let action = meta.need("action", action)?;
    let seq = meta.need("sequence", unsigned::<u64>)?;
    let process = root.need_obj("process")?;
    let pid = process.need("pid", unsigned::<u32>)?;
    let tid = process.need_obj("thread")?.need("id", unsigned::<u32>)?;
    let ppid = process.need_obj("parent")?.need("pid", unsigned::<u32>)?;
    let rg = root.need_obj("rand_guard")?;

    // Truncation is written for the operand it belongs to: the exec'd
    // image, the file operands, the socket.
    let names: &[&str] = match action {
        Action::Exec => &[
            "executable",
            "exe",
            "args",
            "args_unreadable",
            "env",
            "working_directory",
        ],
        Action::File(_) => &["path", "other_path", "path_unreadable"],
        Action::Net(_) => &["unix_path", "payload", "address_unreadable"],
        Action::Fork | Action::Exit | Action::Signal => &[],
    };
    let cut = truncated(&rg, names)?;
    let cut = |name: &str| cut.contains(&name);
    let image_cut = Truncation {
        executable: cut("executable"),
        exe: cut("exe"),
        args: cut("args"),
        args_unreadable: cut("args_unreadable"),
        env: cut("env"),
        // Not written (nothing past the normalizer reads it).
        exe_detached: false,
        working_directory: cut("working_directory"),
    };

    let ctx = context(root, &process, &rg, pid, ppid, image_cut)?;
    let subject = ctx.subject.as_deref();
    let body = match action {
        // The exec body repeats the new image and creds, which the record
        // writes once, as the process's.
        Action::Exec => Body::Exec(ExecBody {
            image: subject.map_or_else(
                || {
                    Arc::new(Image {
                        truncated: image_cut,
                        ..Image::default()
                    })
                },
                |p| p.image.clone(),
            ),
            ppid,
            start_ns: subject.map_or(0, |p| p.start_ns),
            parent_start_ns: ctx.parent_start_ns,
            creds: subject.and_then(|p| p.creds).unwrap_or_default(),
            cgroup_id: subject.and_then(|p| p.cgroup_id).unwrap_or(0),
            ns: subject.and_then(|p| p.ns).unwrap_or_default(),
            // argc is not written; args is argv as far as it was read.
            argc: subject.map_or(0, |p| p.image.args.len() as u32),
            stdio: super::stdio::stdio_wiring(&rg)?,
        }),
        Action::Fork => Body::Fork(ForkBody {
            // The forker is written only as the child's parent: they
            // differ only for CLONE_PARENT, which a record cannot show.
            parent_pid: ppid,
            parent_start_ns: ctx.parent_start_ns,
            child_ppid: ppid,
            child_start_ns: subject.map_or(0, |p| p.start_ns),
        }),
        Action::Exit => Body::Exit(exit_body(&process, &rg, time_ns, ppid)?),
        Action::File(op) => Body::File(file_body(root, &rg, op, &cut)?),
        Action::Net(op) => Body::Net(net_body(root, &rg, op, &cut)?),
        Action::Signal => Body::Signal(signal_body(&rg)?),
    };
    let event = Event {
        seq,
        time_ns,
        // Replay's clock is event time (see the module comment).
        ktime_ns: time_ns,
        pid,
        tid,
        body,
        process: ctx.subject,
    };
    check_derived(value, &event, &hostname)?;
    Ok(Replayed {
        event,
        hostname,
        host_id,
        agent_id,
    })
}

/// `rand_guard.truncated`, each name checked against the `allowed` ones.
fn truncated<'a>(rg: &Obj<'a>, allowed: &[&str]) -> Result<Vec<&'a str>, ReplayError> {
    let check = |v: &'a Value| {
        let s = string(v)?;
        if allowed.contains(&s) {
            Ok(s)
        } else if allowed.is_empty() {
            Err(format!("`{s}`: this kind of record has no truncated parts"))
        } else {
            Err(format!("unknown part `{s}`; known: {}", allowed.join(", ")))
        }
    };
    Ok(rg.list("truncated", check)?.unwrap_or_default())
}

fn exit_body(
    process: &Obj<'_>,
    rg: &Obj<'_>,
    time_ns: u64,
    ppid: u32,
) -> Result<ExitBody, ReplayError> {
    let code = process.need("exit_code", signed::<i32>)?;
    let exit = rg.need_obj("exit")?;
    let lifetime = exit.need("lifetime_ns", unsigned::<u64>)?;
    Ok(ExitBody {
        // lifetime_ns = ktime - start_ns, and ktime is event time here.
        start_ns: time_ns.checked_sub(lifetime).ok_or_else(|| {
            exit.err(
                "lifetime_ns",
                "is longer than the time since 1970 at @timestamp",
            )
        })?,
        ppid,
        // The task name is written as process.name only when the process
        // has no name of its own; otherwise that name stands in for it,
        // and the writer and the rules read the same either way.
        name: process.get("name", owned)?.unwrap_or_default(),
        status: ExitStatus {
            code,
            signal: exit.get("signal", signed::<i32>)?,
            core_dumped: exit.need("core_dumped", boolean)?,
        },
    })
}

/// `rand_guard.signal`: what was sent to whom, and how.
fn signal_body(rg: &Obj<'_>) -> Result<SignalBody, ReplayError> {
    let s = rg.need_obj("signal")?;
    let target = s.need_obj("target")?;
    let codes: Vec<(&'static str, &str)> =
        SignalBody::CODES.iter().map(|(_, n)| (*n, *n)).collect();
    let results: Vec<(&'static str, &str)> = SignalBody::RESULTS.iter().map(|n| (*n, *n)).collect();
    let body = SignalBody {
        target_pid: target.need("pid", unsigned::<u32>)?,
        target_tid: target.need_obj("thread")?.need("id", unsigned::<u32>)?,
        signal: s.need("number", signed::<i32>)?,
        code: s.need("code", |v| one_of(v, &codes))?,
        result: s.need("result", |v| one_of(v, &results))?,
    };
    // The name is derived from the number; a record that disagrees is
    // not one this agent wrote.
    let name = s.need("name", owned)?;
    if name != body.name() {
        return Err(s.err(
            "name",
            format!("is {name} but signal {} is {}", body.signal, body.name()),
        ));
    }
    Ok(body)
}

fn file_body(
    root: &Obj<'_>,
    rg: &Obj<'_>,
    op: FileOp,
    cut: &dyn Fn(&str) -> bool,
) -> Result<FileBody, ReplayError> {
    let file = root.need_obj("file")?;
    let rgf = rg.need_obj("file")?;
    let open_flags = match rgf.list("open_flags", open_flag)? {
        Some(bits) => bits.into_iter().fold(0, |acc, b| acc | b),
        None => 0,
    };
    Ok(FileBody {
        op,
        syscall: rgf.need("syscall", |v| syscall(v, &abi::file_syscall::ALL))?,
        path: file.need("path", owned)?,
        original_path: rgf.get("original_path", owned)?,
        target_path: file.get("target_path", owned)?,
        result: rgf.need("result", signed::<i64>)?,
        // Written for opens only; other operations have none that matter.
        open_flags,
        mode: file.get("mode", octal_mode)?,
        owner: file.get("uid", decimal_id)?,
        group: file.get("gid", decimal_id)?,
        at_flags: rgf.get("at_flags", unsigned::<u32>)?.unwrap_or(0),
        resolved: rgf.need("path_source", |v| {
            one_of(v, &[(true, "dentry"), (false, "name")])
        })?,
        // Not written: the userspace filter has judged the path already.
        unfiltered: false,
        watched: rgf.get("watched_path", owned)?.map(Arc::from),
        xattr: rgf.obj("xattr")?.map(|x| xattr(&x)).transpose()?,
        truncated: FileTruncation {
            path: cut("path"),
            other_path: cut("other_path"),
            unreadable: cut("path_unreadable"),
        },
    })
}

/// One name of `rand_guard.file.open_flags`: the access mode, an `O_*`
/// flag, or the `0x...` rest of bits without a name.
fn open_flag(v: &Value) -> Result<u64, String> {
    let s = string(v)?;
    let access = [
        ("O_RDONLY", 0),
        ("O_WRONLY", 1),
        ("O_RDWR", 2),
        ("O_ACCMODE", 3),
    ];
    if let Some((_, bits)) = access.iter().find(|(n, _)| *n == s) {
        return Ok(*bits);
    }
    if let Some((bits, _)) = record::OPEN_FLAG_NAMES.iter().find(|(_, n)| *n == s) {
        return Ok(*bits);
    }
    s.strip_prefix("0x")
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .ok_or_else(|| format!("unknown open flag `{s}`"))
}

fn net_body(
    root: &Obj<'_>,
    rg: &Obj<'_>,
    op: NetOp,
    cut: &dyn Fn(&str) -> bool,
) -> Result<NetBody, ReplayError> {
    let rgn = rg.need_obj("network")?;
    // network.transport is the only place the protocol is written; a
    // protocol without a name (0 for unix sockets) writes none.
    let protocol = match root.obj("network")? {
        Some(n) => n.get("transport", |v| one_of(v, record::TRANSPORTS))?,
        None => None,
    };
    let (source, destination) = (endpoint(root, "source")?, endpoint(root, "destination")?);
    // The accepting side is the destination (record.rs, net_ends).
    let (local, remote) = match op {
        NetOp::Accept => (destination, source),
        _ => (source, destination),
    };
    let dns_error = rgn.get("dns_error", |v| {
        let s = string(v)?;
        DnsError::ALL
            .into_iter()
            .find(|e| e.to_string() == s)
            .ok_or_else(|| format!("unknown DNS error `{s}`"))
    })?;
    let query = dns_query(root)?;
    let dns = match (query, dns_error) {
        (Some(_), Some(_)) => {
            return Err(rgn.err("dns_error", "given with a parsed `dns` question"));
        }
        (Some(q), None) => Some(Ok(q)),
        (None, Some(e)) => Some(Err(e)),
        (None, None) => None,
    };
    Ok(NetBody {
        op,
        syscall: if op == NetOp::StdioSocket {
            rgn.need("syscall", |v| syscall(v, &abi::stdio_syscall::ALL))?
        } else {
            rgn.need("syscall", |v| syscall(v, &abi::net_syscall::ALL))?
        },
        result: rgn.need("result", signed::<i64>)?,
        in_progress: rgn.get("in_progress", boolean)?.unwrap_or(false),
        family: rgn.need("family", |v| {
            // "other" stands for any other address family; which one is
            // not written (AF numbers are not needed by rules).
            one_of(
                v,
                &[
                    (NetFamily::Inet, "inet"),
                    (NetFamily::Inet6, "inet6"),
                    (NetFamily::Unix, "unix"),
                    (NetFamily::Other(0), "other"),
                ],
            )
        })?,
        protocol: protocol.unwrap_or(0),
        // Likewise "other" for a socket type without a name.
        sock_type: rgn.need("socket_type", |v| {
            if string(v)? == "other" {
                Ok(0)
            } else {
                one_of(v, record::SOCKET_TYPES)
            }
        })?,
        local,
        remote,
        unix_path: rgn.get("unix_path", owned)?,
        dns,
        stdio: if op == NetOp::StdioSocket {
            Some(Stdio {
                fds: rgn.need("stdio_fds", |v| {
                    let fds = v
                        .as_array()
                        .ok_or_else(|| format!("expected a list of fd numbers 0..2, found {v}"))?;
                    fds.iter().try_fold(0u8, |m, fd| match fd.as_u64() {
                        Some(n @ 0..=2) => Ok(m | 1 << n),
                        _ => Err(format!("expected an fd number 0..2, found {fd}")),
                    })
                })?,
                socket_inode: rgn.need("socket_inode", unsigned::<u64>)?,
            })
        } else {
            None
        },
        truncated: NetTruncation {
            unix_path: cut("unix_path"),
            payload: cut("payload"),
            address_unreadable: cut("address_unreadable"),
        },
    })
}

/// `source` / `destination`: ip and port.
fn endpoint(root: &Obj<'_>, k: &str) -> Result<Option<std::net::SocketAddr>, ReplayError> {
    let Some(end) = root.obj(k)? else {
        return Ok(None);
    };
    let ip = end.need("ip", |v| {
        let s = string(v)?;
        s.parse::<std::net::IpAddr>()
            .map_err(|_| format!("expected an IPv4 or IPv6 address, found {s:?}"))
    })?;
    let port = end.need("port", unsigned::<u16>)?;
    Ok(Some(std::net::SocketAddr::new(ip, port)))
}

/// The `dns` object: a query's first question.
fn dns_query(root: &Obj<'_>) -> Result<Option<Query>, ReplayError> {
    let Some(d) = root.obj("dns")? else {
        return Ok(None);
    };
    let q = d.need_obj("question")?;
    let mnemonic = |parse: fn(&str) -> Option<u16>, what: &'static str| {
        move |v: &Value| {
            let s = string(v)?;
            parse(s).ok_or_else(|| format!("unknown {what} `{s}`"))
        }
    };
    Ok(Some(Query {
        // A keyword: the number as a string.
        id: d.need("id", |v| {
            let s = string(v)?;
            s.parse::<u16>()
                .map_err(|_| format!("expected a DNS id (0 to 65535) as a string, found `{s}`"))
        })?,
        name: q.need("name", owned)?,
        qtype: q.need("type", mnemonic(dns::type_from_name, "query type"))?,
        qclass: q.need("class", mnemonic(dns::class_from_name, "query class"))?,
        // QDCOUNT is not written; a parsed query has at least one.
        questions: 1,
        response: d.need("type", |v| one_of(v, &[(false, "query"), (true, "answer")]))?,
    }))
}

/// `rand_guard.file.xattr`, as `record::fields::xattr` writes it.
fn xattr(x: &Obj<'_>) -> Result<Xattr, ReplayError> {
    let caps = match x.obj("capabilities")? {
        None => None,
        Some(c) => {
            let set = |k: &str| -> Result<u64, ReplayError> {
                Ok(c.list(k, cap_bit)?
                    .ok_or_else(|| c.err(k, "missing"))?
                    .into_iter()
                    .fold(0, |acc, b| acc | b))
            };
            Some(FileCaps {
                permitted: set("permitted")?,
                inheritable: set("inheritable")?,
                effective: c.need("effective", boolean)?,
                root_uid: c.get("root_uid", unsigned::<u32>)?,
            })
        }
    };
    Ok(Xattr {
        name: x.need("name", owned)?,
        size: x.get("size", unsigned::<u32>)?,
        caps,
    })
}

/// A capability's bit from its name: `cap_setuid`, or `cap_N`.
fn cap_bit(v: &Value) -> Result<u64, String> {
    let s = string(v)?;
    let n = CAP_NAMES.iter().position(|n| *n == s).or_else(|| {
        s.strip_prefix("cap_")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| (CAP_NAMES.len()..64).contains(n))
    });
    n.map(|n| 1u64 << n)
        .ok_or_else(|| format!("expected a capability name such as \"cap_setuid\", found {s:?}"))
}
