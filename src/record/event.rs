//! Event and alert records, written by hand into the output buffer.

use super::cache::{ParentCache, Recent};
use super::fields::*;
use super::json::{Json, key};
use super::names::*;
use super::{Context, ECS_VERSION, EVENT_MODULE, SCHEMA_VERSION, Stamp};
use crate::model::alert::{Alert, Evidence};
use crate::model::container::Container;
use crate::model::dns;
use crate::model::event::{Body, Event, FileOp, LossBody, NetOp, StdioWiring};
use crate::model::proctable::{Origin, Process};

/// An event record, or an alert record: the triggering event's fields
/// plus `message`, `rule.*`, `threat.*` and the alert parts of `event.*`.
/// Members in the schema's order; optional ones are left out when absent
/// (see docs/schema.md for each).
pub(super) fn write_event(
    w: &mut Json,
    (cache, recent): (&mut ParentCache, &mut Recent),
    ev: &Event,
    ctx: &Context,
    stamp: &Stamp<'_>,
    alert: Option<&Alert>,
) {
    let proc = ev.process.as_deref();
    let (category, types) = ev.body.ecs_category_types();
    let file = match &ev.body {
        Body::File(f) => Some(f),
        _ => None,
    };
    let net = match &ev.body {
        Body::Net(n) => Some(n),
        _ => None,
    };
    let exit = match &ev.body {
        Body::Exit(b) => Some(b),
        _ => None,
    };
    let creds = proc.and_then(|p| p.creds);
    let kind = if alert.is_some() { "alert" } else { "event" };

    w.begin_object();
    key!(w, "@timestamp");
    timestamp(w, ev.time_ns);
    key!(w, "schema_version");
    w.int(SCHEMA_VERSION);
    key!(w, "record_type");
    w.lit(kind);
    key!(w, "ecs");
    w.begin_object();
    key!(w, "version");
    w.lit(ECS_VERSION);
    w.end_object();

    key!(w, "event");
    w.begin_object();
    key!(w, "kind");
    w.lit(kind);
    key!(w, "category");
    lits(w, [category]);
    key!(w, "type");
    lits(w, types.iter().copied());
    key!(w, "action");
    w.lit(ev.body.action());
    if let Some(f) = file {
        key!(w, "outcome");
        w.lit(if f.result >= 0 { "success" } else { "failure" });
    }
    key!(w, "sequence");
    w.int(ev.seq);
    // When the agent wrote the record (`@timestamp`: when it happened).
    key!(w, "created");
    w.clean_str(stamp.created);
    key!(w, "module");
    w.lit(EVENT_MODULE);
    key!(w, "dataset");
    w.lit(dataset(alert.is_some(), category));
    if let Some(a) = alert {
        // The stable alert id, and ECS's numeric severity and risk score
        // (the same 21/47/73/99 scale Elastic's rules use for both).
        key!(w, "id");
        w.str(&a.id);
        key!(w, "severity");
        w.int(a.rule.severity.score());
        key!(w, "risk_score");
        w.int(a.rule.severity.score());
    }
    w.end_object();

    if let Some(a) = alert {
        let r = &*a.rule;
        key!(w, "message");
        w.str(&a.message);
        key!(w, "rule");
        w.begin_object();
        key!(w, "id");
        w.str(&r.id);
        key!(w, "name");
        w.str(&r.name);
        key!(w, "description");
        w.str(&r.description);
        // Where the rule comes from: `builtin` or its rule file.
        key!(w, "ruleset");
        w.str(&r.source);
        // Sigma rules' attribution (ECS arrays), absent when empty.
        if !r.references.is_empty() {
            key!(w, "reference");
            strs(w, r.references.iter().map(String::as_str));
        }
        if !r.authors.is_empty() {
            key!(w, "author");
            strs(w, r.authors.iter().map(String::as_str));
        }
        w.end_object();
        key!(w, "threat");
        w.begin_object();
        key!(w, "framework");
        w.lit("MITRE ATT&CK");
        key!(w, "tactic");
        tactics(w, &r.tactics);
        key!(w, "technique");
        techniques(w, &r.techniques);
        // rg-ioc-match: the list and the entry that matched.
        if let Some(i) = &a.indicator {
            key!(w, "feed");
            w.begin_object();
            key!(w, "name");
            w.str(&i.feed);
            w.end_object();
            key!(w, "indicator");
            w.begin_object();
            key!(w, "type");
            w.lit(i.kind);
            key!(w, "name");
            w.str(&i.entry);
            w.end_object();
        }
        w.end_object();
    }

    agent_host(w, ctx);
    if let Some(c) = proc.and_then(|p| p.cgroup.as_deref()?.container.as_ref()) {
        key!(w, "container");
        container(w, c);
        if let Some(uid) = &c.pod_uid {
            key!(w, "orchestrator");
            orchestrator(w, uid);
        }
    }

    key!(w, "process");
    process(
        w,
        (&mut *cache, &mut *recent),
        ev,
        proc,
        exit,
        ctx,
        stamp.accounts,
    );
    if let Some(c) = creds {
        users(w, recent, &c, stamp.accounts);
    }
    if let Some(f) = file {
        key!(w, "file");
        file_doc(w, f);
    }
    if let Some(n) = net {
        // Who talks to whom, as ECS puts it: the accepting side is the
        // destination of the connection.
        let (source, destination) = match n.op {
            NetOp::Accept => (n.remote, n.local),
            _ => (n.local, n.remote),
        };
        if let Some(a) = source {
            key!(w, "source");
            endpoint(w, a);
        }
        if let Some(a) = destination {
            key!(w, "destination");
            endpoint(w, a);
        }
        network_doc(w, n);
        if let Some(Ok(q)) = &n.dns {
            key!(w, "dns");
            w.begin_object();
            key!(w, "type");
            w.lit(if q.response { "answer" } else { "query" });
            // A keyword in ECS: the number as a string.
            key!(w, "id");
            w.int_str(q.id);
            key!(w, "question");
            w.begin_object();
            key!(w, "name");
            w.str(&q.name);
            key!(w, "type");
            w.str(&dns::type_name(q.qtype));
            key!(w, "class");
            w.str(&dns::class_name(q.qclass));
            w.end_object();
            w.end_object();
        }
    }
    if let Some(f) = file.filter(|f| f.result < 0) {
        key!(w, "error");
        w.begin_object();
        // errno name, e.g. EACCES.
        key!(w, "code");
        w.str(&errno_name(f.result));
        w.end_object();
    }

    key!(w, "rand_guard");
    rand_guard(w, cache, ev, ctx, alert, proc);
    w.end_object();
}

/// `rand_guard`: what ECS has no field for.
fn rand_guard(
    w: &mut Json,
    cache: &mut ParentCache,
    ev: &Event,
    ctx: &Context,
    alert: Option<&Alert>,
    proc: Option<&Process>,
) {
    w.begin_object();
    if let Some(a) = alert {
        key!(w, "alert");
        w.begin_object();
        // low, medium, high or critical.
        key!(w, "severity");
        w.lit(a.rule.severity.as_str());
        // `builtin` or the rule file.
        key!(w, "source");
        w.str(&a.rule.source);
        // A rate-limit summary: the alerts this one stands for that were
        // held back (absent on ordinary alerts).
        if a.suppressed > 0 {
            key!(w, "suppressed_count");
            w.int(a.suppressed);
        }
        // Scenario detections: every event that led to the alert, oldest
        // first (the last is the alert's own event).
        if !a.evidence.is_empty() {
            key!(w, "evidence");
            w.begin_array();
            for e in &a.evidence {
                w.elem();
                evidence(w, e);
            }
            w.end_array();
        }
        // The facts that set the severity, in the order weighed.
        if !a.reasons.is_empty() {
            key!(w, "severity_reasons");
            strs(w, a.reasons.iter().map(String::as_str));
        }
        w.end_object();
        // The package operation the alert happened in (or the writer it
        // scores was part of).
        if let Some(op) = &a.package {
            key!(w, "context");
            w.begin_object();
            key!(w, "package");
            w.begin_object();
            key!(w, "manager");
            w.lit(op.manager);
            key!(w, "pid");
            w.int(op.pid);
            if let Some(n) = &op.name {
                key!(w, "name");
                w.str(n);
            }
            if let Some(o) = &op.operation {
                key!(w, "operation");
                w.str(o);
            }
            w.end_object();
            w.end_object();
        }
    }
    if let Some(p) = proc {
        key!(w, "process");
        w.begin_object();
        // What /proc/PID/exe shows: the file the kernel runs.
        if !p.image.exe.is_empty() {
            key!(w, "exe");
            w.str(&p.image.exe);
        }
        // Why process.hash.sha256 is absent (gone, too_large, ...).
        if let Some(why) = p.image.hash.get().and_then(|h| h.skipped()) {
            key!(w, "hash_skipped");
            w.lit(why.as_str());
        }
        if let Some(id) = p.cgroup_id {
            key!(w, "cgroup_id");
            w.int(id);
        }
        // The cgroup v2 path the container and unit were read from.
        if let Some(cg) = p.cgroup.as_deref().filter(|cg| cg.path != "/") {
            key!(w, "cgroup_path");
            w.str(&cg.path);
        }
        if let Some(ns) = p.ns {
            key!(w, "namespaces");
            w.begin_object();
            key!(w, "pid");
            w.int(ns.pid);
            key!(w, "mnt");
            w.int(ns.mnt);
            key!(w, "net");
            w.int(ns.net);
            key!(w, "uts");
            w.int(ns.uts);
            w.end_object();
        }
        if let Some(v) = p.creds.and_then(|c| c.login_uid) {
            key!(w, "login_uid");
            w.int(v);
        }
        if let Some(v) = p.creds.and_then(|c| c.session_id) {
            key!(w, "session_id");
            w.int(v);
        }
        // How the agent learned this context.
        key!(w, "origin");
        w.lit(match p.origin {
            Origin::Exec => "exec",
            Origin::Fork => "fork",
            Origin::Procfs => "procfs",
        });
        w.end_object();
    }
    if let Some(unit) = proc.and_then(|p| p.cgroup.as_deref()?.systemd_unit.as_deref()) {
        key!(w, "systemd");
        w.begin_object();
        key!(w, "unit");
        w.str(unit);
        w.end_object();
    }
    match &ev.body {
        Body::File(f) => {
            key!(w, "file");
            w.begin_object();
            key!(w, "syscall");
            w.lit(f.syscall);
            key!(w, "result");
            w.int(f.result);
            if f.op == FileOp::Open {
                key!(w, "open_flags");
                open_flags(w, f.open_flags);
            }
            if f.at_flags != 0 {
                key!(w, "at_flags");
                w.int(f.at_flags);
            }
            if let Some(p) = &f.original_path {
                key!(w, "original_path");
                w.str(p);
            }
            // How `file.path` was resolved: `dentry` (from the kernel's
            // file object) or `name` (the caller's string, made absolute).
            key!(w, "path_source");
            w.lit(if f.resolved { "dentry" } else { "name" });
            // A read-only open of a `[file] watch_reads` file.
            if let Some(p) = &f.watched {
                key!(w, "watched_path");
                w.str(p);
            }
            if let Some(x) = &f.xattr {
                key!(w, "xattr");
                xattr(w, x);
            }
            w.end_object();
        }
        Body::Net(n) => {
            key!(w, "network");
            w.begin_object();
            key!(w, "syscall");
            w.lit(n.syscall);
            key!(w, "result");
            w.int(n.result);
            key!(w, "family");
            w.lit(n.family.name());
            key!(w, "socket_type");
            w.lit(socket_type_name(n.sock_type));
            if n.in_progress {
                key!(w, "in_progress");
                w.bool(true);
            }
            if let Some(p) = &n.unix_path {
                key!(w, "unix_path");
                w.str(p);
            }
            // A datagram to port 53 that is not a parsable query.
            if let Some(Err(e)) = &n.dns {
                key!(w, "dns_error");
                w.str(&e.to_string());
            }
            // Stdio-socket events: which of fds 0, 1, 2 are internet
            // sockets, and the inode of the socket described (stdin's).
            if let Some(s) = n.stdio {
                key!(w, "stdio_fds");
                w.begin_array();
                for fd in (0..3u8).filter(|fd| s.fds & (1 << fd) != 0) {
                    w.elem();
                    w.int(fd);
                }
                w.end_array();
                key!(w, "socket_inode");
                w.int(s.socket_inode);
            }
            w.end_object();
        }
        _ => {}
    }
    // The same for every child of the parent: the cache's. The depth is
    // part of the key, so a writer whose context changed cannot copy
    // bytes written for another.
    if let Some(parent) = proc
        .and_then(|p| p.parent.as_ref())
        .filter(|_| ctx.ancestry_depth > 0)
    {
        key!(w, "ancestry");
        let slot = cache.slot(parent);
        if slot.ancestry.is_empty() || slot.ancestry_depth != ctx.ancestry_depth {
            slot.ancestry.clear();
            ancestry(
                &mut Json::new(&mut slot.ancestry),
                parent,
                ctx.ancestry_depth,
            );
            slot.ancestry_depth = ctx.ancestry_depth;
        }
        w.value_bytes(&slot.ancestry);
    }
    // Names of the truncated parts, e.g. `["args"]`.
    let truncated: Option<&[(bool, &'static str)]> = match &ev.body {
        Body::Exec(b) if b.image.truncated.any() => {
            let t = b.image.truncated;
            Some(&[
                (t.executable, "executable"),
                (t.exe, "exe"),
                (t.args, "args"),
                (t.args_unreadable, "args_unreadable"),
                (t.env, "env"),
                (t.working_directory, "working_directory"),
            ])
        }
        Body::File(f) if f.truncated.any() => {
            let t = f.truncated;
            Some(&[
                (t.path, "path"),
                (t.other_path, "other_path"),
                (t.unreadable, "path_unreadable"),
            ])
        }
        Body::Net(n) if n.truncated.any() => {
            let t = n.truncated;
            Some(&[
                (t.unix_path, "unix_path"),
                (t.payload, "payload"),
                (t.address_unreadable, "address_unreadable"),
            ])
        }
        _ => None,
    };
    if let Some(names) = truncated {
        key!(w, "truncated");
        lits(w, names.iter().filter(|(set, _)| *set).map(|(_, n)| *n));
    }
    match &ev.body {
        // What stdin, stdout and stderr of the new image are, when one
        // is a pipe or a socket (relay evidence, docs/schema.md).
        Body::Exec(x) if x.stdio.any_stream() => stdio(w, &x.stdio),
        Body::Exit(x) => {
            key!(w, "exit");
            w.begin_object();
            if let Some(sig) = x.status.signal {
                key!(w, "signal");
                w.int(sig);
            }
            key!(w, "core_dumped");
            w.bool(x.status.core_dumped);
            // Lifetime of the process in nanoseconds.
            key!(w, "lifetime_ns");
            w.int(ev.ktime_ns.saturating_sub(x.start_ns));
            w.end_object();
        }
        // A signal sent to the agent (`process` is the sender).
        Body::Signal(s) => {
            key!(w, "signal");
            w.begin_object();
            key!(w, "number");
            w.int(s.signal);
            key!(w, "name");
            w.str(&s.name());
            // SI_USER, SI_QUEUE or SI_TKILL.
            key!(w, "code");
            w.lit(s.code);
            // delivered, ignored, already_pending, ...
            key!(w, "result");
            w.lit(s.result);
            key!(w, "target");
            w.begin_object();
            key!(w, "pid");
            w.int(s.target_pid);
            key!(w, "thread");
            thread(w, s.target_tid);
            w.end_object();
            w.end_object();
        }
        // Records the agent lost (rg-agent-loss).
        Body::Loss(l) => {
            key!(w, "loss");
            loss(w, l);
        }
        _ => {}
    }
    w.end_object();
}

/// `rand_guard.loss`: when, how many, and where; a list with nothing
/// lost is left out.
fn loss(w: &mut Json, l: &LossBody) {
    fn counts(w: &mut Json, list: &[(&'static str, u64)]) {
        w.begin_object();
        for (k, n) in list {
            w.name(k);
            w.int(*n);
        }
        w.end_object();
    }
    w.begin_object();
    key!(w, "since");
    timestamp(w, l.since_ns);
    key!(w, "records");
    w.int(l.lost.records());
    for (name, list) in [
        (",\"kernel_ringbuf_drops\":", &l.lost.kernel_ringbuf_drops),
        (",\"channel_full_drops\":", &l.lost.channel_full_drops),
        (
            ",\"channel_full_drops_by_kind\":",
            &l.lost.channel_full_drops_by_kind,
        ),
        (",\"output_buffer_drops\":", &l.lost.output_buffer_drops),
        (
            ",\"output_buffer_drops_by_kind\":",
            &l.lost.output_buffer_drops_by_kind,
        ),
    ] {
        if !list.is_empty() {
            w.key(name);
            counts(w, list);
        }
    }
    w.end_object();
}

/// One piece of evidence, in the record's own field names.
fn evidence(w: &mut Json, e: &Evidence) {
    w.begin_object();
    key!(w, "@timestamp");
    timestamp(w, e.time_ns);
    key!(w, "event");
    w.begin_object();
    key!(w, "action");
    w.lit(e.action);
    w.end_object();
    key!(w, "process");
    w.begin_object();
    key!(w, "pid");
    w.int(e.pid);
    if let Some(x) = &e.executable {
        key!(w, "executable");
        w.str(x);
    }
    if let Some(c) = &e.command_line {
        key!(w, "command_line");
        w.str(c);
    }
    w.end_object();
    if let Some(p) = &e.path {
        key!(w, "file");
        w.begin_object();
        key!(w, "path");
        w.str(p);
        w.end_object();
    }
    if let Some(a) = e.destination {
        key!(w, "destination");
        endpoint(w, a);
    }
    w.end_object();
}

/// ECS `container`: id and runtime always, name and image when the
/// runtime's metadata named them.
fn container(w: &mut Json, c: &Container) {
    w.begin_object();
    key!(w, "id");
    w.str(&c.id);
    key!(w, "runtime");
    w.lit(c.runtime.as_str());
    if let Some(n) = &c.name {
        key!(w, "name");
        w.str(n);
    }
    if let Some(n) = &c.image_name {
        key!(w, "image");
        w.begin_object();
        key!(w, "name");
        w.str(n);
        w.end_object();
    }
    w.end_object();
}

/// ECS `orchestrator` of a container in a Kubernetes pod.
fn orchestrator(w: &mut Json, pod_uid: &str) {
    w.begin_object();
    key!(w, "type");
    w.lit("kubernetes");
    key!(w, "resource");
    w.begin_object();
    key!(w, "type");
    w.lit("pod");
    key!(w, "id");
    w.str(pod_uid);
    w.end_object();
    w.end_object();
}

/// `event.dataset`: the module and the record's kind.
pub(super) fn dataset(alert: bool, category: &str) -> &'static str {
    match (alert, category) {
        (true, _) => "rand_guard.alert",
        (false, "file") => "rand_guard.file",
        (false, "network") => "rand_guard.network",
        _ => "rand_guard.process",
    }
}

/// `agent` and `host`: the same on every record of a run.
fn agent_host(w: &mut Json, ctx: &Context) {
    key!(w, "agent");
    w.begin_object();
    key!(w, "type");
    w.lit("rand-guard");
    key!(w, "version");
    w.str(ctx.agent_version);
    key!(w, "id");
    w.str(&ctx.ids.agent_id);
    w.end_object();
    key!(w, "host");
    w.begin_object();
    key!(w, "hostname");
    w.str(&ctx.hostname);
    // ECS's host.name, what Elastic's rules and views show: the same.
    key!(w, "name");
    w.str(&ctx.hostname);
    if let Some(id) = &ctx.ids.host_id {
        key!(w, "id");
        w.str(id);
    }
    key!(w, "os");
    w.begin_object();
    key!(w, "type");
    w.lit("linux");
    w.end_object();
    w.end_object();
}

/// `rand_guard.stdio` of an exec event.
fn stdio(w: &mut Json<'_>, s: &StdioWiring) {
    key!(w, "stdio");
    w.begin_object();
    for (name, fd) in STDIO_NAMES.iter().zip(s.fds.iter()) {
        w.name(name);
        w.begin_object();
        key!(w, "type");
        w.lit(fd.kind.as_str());
        if fd.inode != 0 {
            key!(w, "inode");
            w.int(fd.inode);
        }
        if fd.peer_inode != 0 {
            key!(w, "peer_inode");
            w.int(fd.peer_inode);
        }
        w.end_object();
    }
    if s.scanned {
        key!(w, "parent_holds");
        lits(
            w,
            STDIO_NAMES
                .iter()
                .enumerate()
                .filter(|(n, _)| s.parent_holds & (1 << n) != 0)
                .map(|(_, name)| *name),
        );
    }
    if let Some(ps) = &s.parent_socket {
        key!(w, "parent_socket");
        w.begin_object();
        key!(w, "inode");
        w.int(ps.inode);
        key!(w, "local_port");
        w.int(ps.local_port);
        if let Some(r) = ps.remote {
            key!(w, "remote_ip");
            w.str(&r.ip().to_string());
            key!(w, "remote_port");
            w.int(r.port());
        }
        w.end_object();
    }
    w.end_object();
}

/// Field names of fds 0..2 in `rand_guard.stdio`.
pub(crate) const STDIO_NAMES: [&str; 3] = ["stdin", "stdout", "stderr"];
