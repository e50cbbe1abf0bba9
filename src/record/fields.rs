//! The ECS objects an event record is built of: process, parent,
//! file, endpoints, network; and small JSON shapes they share.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use super::Context;
use super::cache::{CredMembers, ParentCache, Recent};
use super::json::{Json, key};
use super::names::*;
use crate::model::accounts::Accounts;
use crate::model::alert::{Technique, tactic_id};
use crate::model::clock::Rfc3339;
use crate::model::event::{
    Body, CAP_NAMES, Creds, Event, ExitBody, FileBody, NetBody, NetFamily, NetOp, Xattr,
};
use crate::model::proctable::Process;

/// `process`: the subject, with its parent when our link is the current
/// parent.
pub(super) fn process(
    w: &mut Json,
    (cache, recent): (&mut ParentCache, &mut Recent),
    ev: &Event,
    proc: Option<&Process>,
    exit: Option<&ExitBody>,
    ctx: &Context,
    accounts: Option<&Accounts>,
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
    if let Some(p) = proc {
        key!(w, "entity_id");
        w.clean_str(ctx.ids.entity_id(p).as_bytes());
    }
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
        w.member_bytes(&cred_members(recent, &c, accounts).process);
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
                parent_doc(&mut Json::new(&mut slot.doc), pp, ctx);
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
fn parent_doc(w: &mut Json, pp: &Process, ctx: &Context) {
    w.begin_object();
    key!(w, "pid");
    w.int(pp.pid);
    // The parent's own: the one its own records carry.
    key!(w, "entity_id");
    w.clean_str(ctx.ids.entity_id(pp).as_bytes());
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
    if !img.working_directory.is_empty() {
        key!(w, "working_directory");
        w.str(&img.working_directory);
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

/// `{"id": "1000", "name": "alice"}`: ECS ids are keywords (strings);
/// the name when the id has one.
pub(super) fn id_doc(w: &mut Json, id: u32, name: Option<&str>) {
    w.begin_object();
    key!(w, "id");
    w.int_str(id);
    if let Some(n) = name {
        key!(w, "name");
        w.str(n);
    }
    w.end_object();
}

/// The credential members of `process` and of the record (`user`,
/// `group`) for `c`: the last subject's are reused (a storm's children
/// share their credentials) unless passwd or group changed since.
pub(super) fn cred_members<'r>(
    recent: &'r mut Recent,
    c: &Creds,
    accounts: Option<&Accounts>,
) -> &'r CredMembers {
    let ids = [c.euid, c.egid, c.uid, c.gid];
    let generation = accounts.map(Accounts::generation);
    let fresh = recent
        .creds
        .as_ref()
        .is_some_and(|m| m.ids == ids && m.generation == generation);
    let m = recent.creds.get_or_insert_with(Default::default);
    if !fresh {
        m.ids = ids;
        m.generation = generation;
        let user = |id| accounts.and_then(|a| a.user(id));
        let group = |id| accounts.and_then(|a| a.group(id));
        m.process.clear();
        let p = &mut Json::new(&mut m.process);
        key!(p, "user");
        id_doc(p, c.euid, user(c.euid));
        key!(p, "group");
        id_doc(p, c.egid, group(c.egid));
        key!(p, "real_user");
        id_doc(p, c.uid, user(c.uid));
        key!(p, "real_group");
        id_doc(p, c.gid, group(c.gid));
        m.record.clear();
        let r = &mut Json::new(&mut m.record);
        // The record's user is the real one; the effective one beside it
        // when a set-uid program (or setuid) made them differ.
        key!(r, "user");
        r.begin_object();
        key!(r, "id");
        r.int_str(c.uid);
        if let Some(n) = user(c.uid) {
            key!(r, "name");
            r.str(n);
        }
        if c.euid != c.uid {
            key!(r, "effective");
            id_doc(r, c.euid, user(c.euid));
        }
        r.end_object();
        key!(r, "group");
        id_doc(r, c.gid, group(c.gid));
    }
    m
}

/// `user` and `group` of the record.
pub(super) fn users(w: &mut Json, recent: &mut Recent, c: &Creds, accounts: Option<&Accounts>) {
    w.member_bytes(&cred_members(recent, c, accounts).record);
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

/// `threat.tactic`: names, and ids and references when ATT&CK has every
/// one (so the arrays align).
pub(super) fn tactics(w: &mut Json, names: &[String]) {
    w.begin_object();
    if names.iter().all(|n| tactic_id(n).is_some()) {
        key!(w, "id");
        lits(w, names.iter().filter_map(|n| tactic_id(n)));
    }
    key!(w, "name");
    strs(w, names.iter().map(String::as_str));
    if names.iter().all(|n| tactic_id(n).is_some()) {
        key!(w, "reference");
        w.begin_array();
        for id in names.iter().filter_map(|n| tactic_id(n)) {
            w.elem();
            attack_url(w, "tactics", id);
        }
        w.end_array();
    }
    w.end_object();
}

/// `"https://attack.mitre.org/techniques/T1053/003/"` for `T1053.003`.
fn attack_url(w: &mut Json, kind: &'static str, id: &str) {
    let out = w.raw();
    out.extend_from_slice(b"\"https://attack.mitre.org/");
    out.extend_from_slice(kind.as_bytes());
    out.push(b'/');
    for part in id.split('.') {
        super::json::escape_into(out, part.as_bytes());
        out.push(b'/');
    }
    out.push(b'"');
}

/// `threat.technique`: the techniques (for a sub-technique, its parent,
/// once) with `id`, `reference`, and `name` when every one is known (so
/// the arrays align); the sub-techniques likewise under `subtechnique`.
pub(super) fn techniques(w: &mut Json, ts: &[Technique]) {
    let mut parents: Vec<(&str, Option<&str>)> = Vec::with_capacity(ts.len());
    for t in ts {
        let (id, name) = (t.parent_id().0, t.names().0);
        match parents.iter_mut().find(|(p, _)| *p == id) {
            Some(p) => p.1 = p.1.or(name),
            None => parents.push((id, name)),
        }
    }
    let subs: Vec<(&str, Option<&str>)> = ts
        .iter()
        .filter(|t| t.parent_id().1)
        .map(|t| (t.id.as_str(), t.names().1))
        .collect();
    w.begin_object();
    technique_columns(w, &parents);
    if !subs.is_empty() {
        key!(w, "subtechnique");
        w.begin_object();
        technique_columns(w, &subs);
        w.end_object();
    }
    w.end_object();
}

fn technique_columns(w: &mut Json, ts: &[(&str, Option<&str>)]) {
    key!(w, "id");
    strs(w, ts.iter().map(|(id, _)| *id));
    if ts.iter().all(|(_, n)| n.is_some()) {
        key!(w, "name");
        strs(w, ts.iter().filter_map(|(_, n)| *n));
    }
    key!(w, "reference");
    w.begin_array();
    for (id, _) in ts {
        w.elem();
        attack_url(w, "techniques", id);
    }
    w.end_array();
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
    if let Some(x) = extension(name) {
        key!(w, "extension");
        w.str(x);
    }
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

/// `file.extension`: after the name's last dot, without it; none for a
/// name without one, a dot file (`.bashrc`) or a trailing dot.
pub(super) fn extension(name: &str) -> Option<&str> {
    match name.rfind('.') {
        Some(i) if i > 0 && i + 1 < name.len() => Some(&name[i + 1..]),
        _ => None,
    }
}

/// `rand_guard.file.xattr`: the attribute, and for security.capability
/// the capabilities it gives, by name (no allocation: names are static).
pub(super) fn xattr(w: &mut Json, x: &Xattr) {
    w.begin_object();
    key!(w, "name");
    w.str(&x.name);
    if let Some(n) = x.size {
        key!(w, "size");
        w.int(n);
    }
    if let Some(c) = &x.caps {
        key!(w, "capabilities");
        w.begin_object();
        key!(w, "permitted");
        cap_set(w, c.permitted);
        key!(w, "inheritable");
        cap_set(w, c.inheritable);
        key!(w, "effective");
        w.bool(c.effective);
        if let Some(uid) = c.root_uid {
            key!(w, "root_uid");
            w.int(uid);
        }
        w.end_object();
    }
    w.end_object();
}

/// A capability set as names (`cap_N` past the kernel's known ones).
fn cap_set(w: &mut Json, set: u64) {
    w.begin_array();
    for n in (0..64).filter(|n| set >> n & 1 != 0) {
        w.elem();
        match CAP_NAMES.get(n) {
            Some(name) => w.lit(name),
            None => {
                let _ = write!(w.raw(), "\"cap_{n}\"");
            }
        }
    }
    w.end_array();
}
