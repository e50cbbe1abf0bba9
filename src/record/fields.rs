//! The ECS objects an event record is built of: process, parent,
//! file, endpoints, network; and small JSON shapes they share.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::cache::{ParentCache, Recent};
use super::json::{Json, key};
use super::names::*;
use crate::model::alert::Technique;
use crate::model::clock::Rfc3339;
use crate::model::event::{Body, Event, ExitBody, FileBody, NetBody, NetFamily, NetOp};
use crate::model::proctable::Process;

/// `process`: the subject, with its parent when our link is the current
/// parent.
pub(super) fn process(
    w: &mut Json,
    cache: &mut ParentCache,
    recent: &mut Recent,
    ev: &Event,
    proc: Option<&Process>,
    exit: Option<&ExitBody>,
) {
    let ppid = match &ev.body {
        Body::Exec(b) => b.ppid,
        Body::Fork(b) => b.child_ppid,
        Body::Exit(b) => b.ppid,
        Body::File(_) | Body::Net(_) | Body::Signal(_) | Body::Loss(_) => {
            proc.map_or(0, |p| p.ppid)
        }
    };
    let parent = proc
        .and_then(|p| p.parent.as_ref())
        .filter(|pp| pp.pid == ppid);
    w.begin_object();
    key!(w, "pid");
    w.int(ev.pid);
    key!(w, "thread");
    thread(w, ev.tid);
    if let Some(p) = proc {
        image(w, p);
    }
    if let Some(name) = proc.and_then(name_of).or(exit.map(|x| x.name.as_str())) {
        key!(w, "name");
        w.str(name);
    }
    if let Some(p) = proc {
        key!(w, "start");
        let ns = p.start_time_ns;
        match &recent.start {
            Some((n, text)) if *n == ns => w.clean_str(text),
            _ => {
                let text = Rfc3339(ns).bytes();
                w.clean_str(&text);
                recent.start = Some((ns, text));
            }
        }
    }
    if let Some(c) = proc.and_then(|p| p.creds) {
        let ids = [c.euid, c.egid, c.uid, c.gid];
        match &mut recent.creds {
            Some((k, members)) if *k == ids => w.member_bytes(members),
            slot => {
                let (k, members) = slot.get_or_insert_with(Default::default);
                *k = ids;
                members.clear();
                let m = &mut Json::new(members);
                key!(m, "user");
                id_doc(m, c.euid);
                key!(m, "group");
                id_doc(m, c.egid);
                key!(m, "real_user");
                id_doc(m, c.uid);
                key!(m, "real_group");
                id_doc(m, c.gid);
                w.member_bytes(members);
            }
        }
    }
    if let Some(x) = exit {
        key!(w, "exit_code");
        w.int(x.status.code);
        key!(w, "end");
        timestamp(w, ev.time_ns);
    }
    key!(w, "parent");
    match parent {
        // Written from the parent alone (its pid is `ppid`): the cache's.
        Some(pp) => {
            let slot = cache.slot(pp);
            // The parent's hash may have come since its bytes were cached.
            let hashed = pp.image.hash.get().is_some();
            if slot.doc.is_empty() || hashed != slot.hashed {
                slot.doc.clear();
                slot.hashed = hashed;
                parent_doc(&mut Json::new(&mut slot.doc), pp);
            }
            w.value_bytes(&slot.doc);
        }
        None => {
            w.begin_object();
            key!(w, "pid");
            w.int(ppid);
            w.end_object();
        }
    }
    w.end_object();
}

/// `process.parent` for a known parent.
fn parent_doc(w: &mut Json, pp: &Process) {
    w.begin_object();
    key!(w, "pid");
    w.int(pp.pid);
    image(w, pp);
    if let Some(name) = name_of(pp) {
        key!(w, "name");
        w.str(name);
    }
    key!(w, "start");
    timestamp(w, pp.start_time_ns);
    w.end_object();
}

/// `rand_guard.ancestry`: `[{pid, executable}, ...]` from `parent`
/// upwards, at most `depth` of them.
pub(super) fn ancestry(w: &mut Json, parent: &Arc<Process>, depth: usize) {
    w.begin_array();
    for a in std::iter::successors(Some(parent), |p| p.parent.as_ref()).take(depth) {
        w.elem();
        w.begin_object();
        key!(w, "pid");
        w.int(a.pid);
        if !a.image.executable.is_empty() {
            key!(w, "executable");
            w.str(&a.image.executable);
        }
        w.end_object();
    }
    w.end_array();
}

/// executable / args / args_count / command_line of a known image, as
/// members of the enclosing object.
pub(super) fn image(w: &mut Json, p: &Process) {
    let img = &p.image;
    if img.executable.is_empty() {
        return;
    }
    key!(w, "executable");
    w.str(&img.executable);
    key!(w, "args");
    strs(w, img.args.iter().map(String::as_str));
    key!(w, "args_count");
    w.int(img.args.len());
    // ECS command_line: the arguments joined by spaces.
    key!(w, "command_line");
    w.str_joined(&img.args, " ");
    // ECS env_vars: only the dynamic-linker variables the kernel looks
    // for (LD_PRELOAD, LD_AUDIT; LD_LIBRARY_PATH beside them), and only
    // when set: rare.
    if !img.env_vars.is_empty() {
        key!(w, "env_vars");
        strs(w, img.env_vars.iter().map(String::as_str));
    }
    // Once the hasher is done (pipeline::hasher): an exec record written
    // before has none, the process's later records have it.
    if let Some(h) = img.hash.get().and_then(|h| h.sha256()) {
        key!(w, "hash");
        w.begin_object();
        key!(w, "sha256");
        w.str(h);
        w.end_object();
    }
}

pub(super) fn thread(w: &mut Json, tid: u32) {
    w.begin_object();
    key!(w, "id");
    w.int(tid);
    w.end_object();
}

/// `{"id": "1000"}`: ECS ids are keywords (strings).
pub(super) fn id_doc(w: &mut Json, id: u32) {
    w.begin_object();
    key!(w, "id");
    w.int_str(id);
    w.end_object();
}

pub(super) fn timestamp(w: &mut Json, ns: u64) {
    w.clean_str(&Rfc3339(ns).bytes());
}

/// A JSON array of strings.
pub(super) fn strs<'s>(w: &mut Json, items: impl IntoIterator<Item = &'s str>) {
    w.begin_array();
    for s in items {
        w.elem();
        w.str(s);
    }
    w.end_array();
}

/// A JSON array of the program's own names (see [`Json::lit`]).
pub(super) fn lits(w: &mut Json, items: impl IntoIterator<Item = &'static str>) {
    w.begin_array();
    for s in items {
        w.elem();
        w.lit(s);
    }
    w.end_array();
}

/// `threat.technique`: `{"id": [...], "name": [...]}`, names only when
/// every technique has one, so the arrays align.
pub(super) fn techniques(w: &mut Json, ts: &[Technique]) {
    w.begin_object();
    key!(w, "id");
    strs(w, ts.iter().map(|t| t.id.as_str()));
    if ts.iter().all(|t| t.name.is_some()) {
        key!(w, "name");
        strs(w, ts.iter().filter_map(|t| t.name.as_deref()));
    }
    w.end_object();
}

pub(super) fn file_doc(w: &mut Json, f: &FileBody) {
    let (directory, name) = match f.path.rfind('/') {
        Some(0) => ("/", &f.path[1..]),
        Some(i) => (&f.path[..i], &f.path[i + 1..]),
        None => ("", f.path.as_str()),
    };
    w.begin_object();
    key!(w, "path");
    w.str(&f.path);
    key!(w, "name");
    w.str(name);
    key!(w, "directory");
    w.str(directory);
    if let Some(t) = &f.target_path {
        key!(w, "target_path");
        w.str(t);
    }
    if let Some(mode) = f.mode {
        // Octal, as ECS writes modes ("0644").
        let m = mode & 0o7777;
        let digit = |shift: u32| b'0' + ((m >> shift) & 7) as u8;
        key!(w, "mode");
        w.clean_str(&[digit(9), digit(6), digit(3), digit(0)]);
    }
    if let Some(uid) = f.owner {
        key!(w, "uid");
        w.int_str(uid);
    }
    if let Some(gid) = f.group {
        key!(w, "gid");
        w.int_str(gid);
    }
    w.end_object();
}

/// ECS source/destination: ip and port.
pub(super) fn endpoint(w: &mut Json, a: SocketAddr) {
    w.begin_object();
    key!(w, "ip");
    match a.ip() {
        IpAddr::V4(ip) => {
            let out = w.raw();
            let [a, b, c, d] = ip.octets();
            let mut n = itoa::Buffer::new();
            out.push(b'"');
            for (i, o) in [a, b, c, d].into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(n.format(o).as_bytes());
            }
            out.push(b'"');
        }
        // Rarer, and its text has rules of its own (the longest run of
        // zeros as `::`, IPv4-mapped forms): std's Display writes it, as
        // it did under serde. Hex digits and colons need no escaping.
        IpAddr::V6(ip) => {
            let _ = write!(w.raw(), "\"{ip}\"");
        }
    }
    key!(w, "port");
    w.int(a.port());
    w.end_object();
}

/// `network`: only when there is a transport, a type or a direction.
pub(super) fn network_doc(w: &mut Json, n: &NetBody) {
    let transport = transport_name(n.protocol);
    let type_ = match n.family {
        NetFamily::Inet => Some("ipv4"),
        NetFamily::Inet6 => Some("ipv6"),
        _ => None,
    };
    let direction = match n.op {
        NetOp::Connect | NetOp::DnsQuery => Some("egress"),
        NetOp::Accept => Some("ingress"),
        _ => None,
    };
    if transport.is_none() && type_.is_none() && direction.is_none() {
        return;
    }
    key!(w, "network");
    w.begin_object();
    if let Some(v) = transport {
        key!(w, "transport");
        w.lit(v);
    }
    if let Some(v) = type_ {
        key!(w, "type");
        w.lit(v);
    }
    if let Some(v) = direction {
        key!(w, "direction");
        w.lit(v);
    }
    if n.op == NetOp::DnsQuery {
        key!(w, "protocol");
        w.lit("dns");
    }
    w.end_object();
}

/// `open_flags`: the access mode's name, then each O_* flag set, then any
/// bits left as `0x...`.
pub(super) fn open_flags(w: &mut Json, f: u64) {
    let access = match f & 3 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    };
    w.begin_array();
    w.elem();
    w.lit(access);
    // Matched from the highest flag down (a flag's bits are taken before
    // a lower one's can match them), written from the lowest up.
    let mut rest = f & !3;
    let mut named = 0u32;
    for (i, (bit, _)) in OPEN_FLAG_NAMES.iter().enumerate().rev() {
        if rest & bit == *bit {
            named |= 1 << i;
            rest &= !bit;
        }
    }
    for (i, (_, name)) in OPEN_FLAG_NAMES.iter().enumerate() {
        if named & (1 << i) != 0 {
            w.elem();
            w.lit(name);
        }
    }
    if rest != 0 {
        w.elem();
        let _ = write!(w.raw(), "\"0x{rest:x}\"");
    }
    w.end_array();
}
