//! Output records and their JSON form (schema version [`SCHEMA_VERSION`]).
//!
//! Every line the agent writes is one JSON object with `schema_version`
//! and `record_type`. Field names follow the Elastic Common Schema where
//! ECS has the field; the rest live under `rand_guard.*`. docs/schema.md
//! documents every field and tests/golden pins the exact output: a change
//! here is a schema change.
//!
//! Events and alerts, one line per event, are written by hand
//! ([`write_event`] with the small writer in `json.rs`): straight from the
//! event into the output buffer, with no intermediate copies, allocations
//! or `fmt`. Their serde form, the one they were first written with, is
//! kept in `reference.rs` as the tests' oracle: the two must give the same
//! bytes. Health records, one a minute, stay on serde.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use serde::Serialize;
use serde::ser::Serializer;

use crate::channel::Kinded;
use crate::clock::Rfc3339;
use crate::correlate::Evidence;
use crate::detect::{Alert, Technique};
use crate::dns;
use crate::event::{Body, Event, ExitBody, FileBody, FileOp, NetBody, NetFamily, NetOp};
use crate::health::Health;
use crate::kernel::ProgramStats;
use crate::proctable::{Origin, Process};

mod cache;
mod json;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

use cache::{ParentCache, Recent};
use json::{Json, key};

pub const SCHEMA_VERSION: u32 = 1;

/// What the writer writes.
#[derive(Debug, Clone)]
pub enum Record {
    Event(Event),
    Alert(Alert),
    Health(Health),
}

/// Constant context stamped on every record.
#[derive(Debug, Clone)]
pub struct Context {
    pub hostname: String,
    pub agent_version: &'static str,
    /// Ancestors listed in `rand_guard.ancestry`.
    pub ancestry_depth: usize,
}

impl Context {
    pub fn from_host(ancestry_depth: usize) -> Self {
        Context {
            hostname: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            agent_version: env!("CARGO_PKG_VERSION"),
            ancestry_depth,
        }
    }
}

/// Writes records as JSON lines, reusing what it wrote for a parent
/// before (see `cache.rs`): the agent's writer keeps one for its lifetime.
/// The bytes are the same as [`write_line`]'s.
#[derive(Default)]
pub struct LineWriter {
    parents: ParentCache,
    recent: Recent,
}

impl LineWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append `rec` as one JSON line (with the newline) to `out`.
    pub fn write_line(
        &mut self,
        rec: &Record,
        ctx: &Context,
        out: &mut Vec<u8>,
    ) -> serde_json::Result<()> {
        let c = (&mut self.parents, &mut self.recent);
        match rec {
            Record::Event(ev) => write_event(&mut Json::new(out), c, ev, ctx, None),
            Record::Alert(a) => write_event(&mut Json::new(out), c, &a.event, ctx, Some(a)),
            Record::Health(h) => serde_json::to_writer(&mut *out, &HealthDoc::new(h, ctx))?,
        }
        out.push(b'\n');
        Ok(())
    }
}

/// Append `rec` as one JSON line (with the newline) to `out`: a one-off
/// line; a stream of them is cheaper through one [`LineWriter`].
pub fn write_line(rec: &Record, ctx: &Context, out: &mut Vec<u8>) -> serde_json::Result<()> {
    LineWriter::new().write_line(rec, ctx, out)
}

/// IPPROTO_* numbers with an ECS `network.transport` name.
pub(crate) const TRANSPORTS: &[(u16, &str)] = &[
    (6, "tcp"),
    (17, "udp"),
    (1, "icmp"),
    (58, "ipv6-icmp"),
    (132, "sctp"),
];

fn transport_name(protocol: u16) -> Option<&'static str> {
    TRANSPORTS
        .iter()
        .find(|(n, _)| *n == protocol)
        .map(|(_, name)| *name)
}

/// SOCK_* types by name; any other is written `other`.
pub(crate) const SOCKET_TYPES: &[(u16, &str)] =
    &[(1, "stream"), (2, "dgram"), (3, "raw"), (5, "seqpacket")];

fn socket_type_name(t: u16) -> &'static str {
    SOCKET_TYPES
        .iter()
        .find(|(n, _)| *n == t)
        .map_or("other", |(_, name)| *name)
}

/// ECS event.type for a network operation.
fn net_types(n: &NetBody) -> &'static [&'static str] {
    match n.op {
        NetOp::Connect | NetOp::Accept => &["connection", "start"],
        NetOp::Bind | NetOp::Listen => &["start"],
        NetOp::DnsQuery => &["protocol"],
        NetOp::StdioSocket => &["info"],
    }
}

#[derive(Serialize)]
struct HealthDoc<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: Rfc3339,
    schema_version: u32,
    record_type: &'static str,
    event: HealthMeta,
    agent: AgentMeta<'a>,
    host: HostMeta<'a>,
    rand_guard: HealthRg<'a>,
}

#[derive(Serialize)]
struct HealthMeta {
    kind: &'static str,
    #[serde(rename = "type")]
    type_: [&'static str; 1],
    action: &'static str,
}

#[derive(Serialize)]
struct HealthRg<'a> {
    health: HealthBody<'a>,
}

#[derive(Serialize)]
struct HealthBody<'a> {
    /// True for the record written at shutdown, after the drain.
    last: bool,
    uptime_seconds: u64,
    rss_bytes: u64,
    raw_events_total: u64,
    raw_events_by_kind_total: PerKind<'a>,
    events_output_total: u64,
    alerts_output_total: u64,
    userspace_filtered_total: u64,
    userspace_rate_limited_total: u64,
    invalid_schema_total: u64,
    unsupported_kind_total: u64,
    output_failures_total: u64,
    output_errors_total: u64,
    output_buffered_bytes: u64,
    output_buffer_drops_total: PerKind<'a>,
    output_buffer_drops_by_kind_total: PerKind<'a>,
    rules_loaded: u64,
    rules_reloads_total: u64,
    rules_reload_failures_total: u64,
    config_reloads_total: u64,
    config_reload_failures_total: u64,
    correlation_state_size: u64,
    correlation_evictions_total: u64,
    kernel_ringbuf_drops_total: PerKind<'a>,
    kernel_filtered_total: PerKind<'a>,
    kernel_failed_total: PerKind<'a>,
    kernel_path_unreadable_total: PerKind<'a>,
    channel_full_drops_total: PerKind<'a>,
    channel_full_drops_by_kind_total: PerKind<'a>,
    process_table_size: u64,
    process_table_evictions_total: u64,
    read_watch_files: u64,
    read_watch_updates_total: u64,
    /// While `kernel.bpf_stats_enabled` is 1: what each program cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    bpf_programs: Option<Programs<'a>>,
}

/// `{"edr_file": {"run_count_total": N, "run_time_ns_total": T}, ...}`
struct Programs<'a>(&'a [ProgramStats]);

#[derive(Serialize)]
struct ProgramDoc {
    run_count_total: u64,
    run_time_ns_total: u64,
}

impl Serialize for Programs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|p| {
            (
                p.name.as_str(),
                ProgramDoc {
                    run_count_total: p.run_count,
                    run_time_ns_total: p.run_time_ns,
                },
            )
        }))
    }
}

/// `{"exec": 0, "fork": 0, ...}`: one counter per record kind.
struct PerKind<'a>(&'a [(&'static str, u64)]);

impl Kinded for Record {
    fn kind_name(&self) -> &'static str {
        match self {
            Record::Event(e) => e.kind_name(),
            Record::Alert(_) => "alert",
            Record::Health(_) => "health",
        }
    }
}

impl Serialize for PerKind<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (*k, *v)))
    }
}

impl<'a> HealthDoc<'a> {
    fn new(h: &'a Health, ctx: &'a Context) -> Self {
        let c = &h.counters;
        HealthDoc {
            timestamp: Rfc3339(h.time_ns),
            schema_version: SCHEMA_VERSION,
            record_type: "health",
            event: HealthMeta {
                kind: "metric",
                type_: ["info"],
                action: "health",
            },
            agent: AgentMeta {
                type_: "rand-guard",
                version: ctx.agent_version,
            },
            host: HostMeta {
                hostname: &ctx.hostname,
            },
            rand_guard: HealthRg {
                health: HealthBody {
                    last: h.last,
                    uptime_seconds: h.uptime_seconds,
                    rss_bytes: h.rss_bytes,
                    raw_events_total: c.raw_events_total,
                    raw_events_by_kind_total: PerKind(&c.raw_events_by_kind_total),
                    events_output_total: c.events_output_total,
                    alerts_output_total: c.alerts_output_total,
                    userspace_filtered_total: c.userspace_filtered_total,
                    userspace_rate_limited_total: c.rate_limited_total,
                    invalid_schema_total: c.invalid_schema_total,
                    unsupported_kind_total: c.unsupported_kind_total,
                    output_failures_total: c.output_failures_total,
                    output_errors_total: c.output_errors_total,
                    output_buffered_bytes: c.output_buffered_bytes,
                    output_buffer_drops_total: PerKind(&c.output_buffer_drops_total),
                    output_buffer_drops_by_kind_total: PerKind(
                        &c.output_buffer_drops_by_kind_total,
                    ),
                    rules_loaded: c.rules_loaded,
                    rules_reloads_total: c.rules_reloads_total,
                    rules_reload_failures_total: c.rules_reload_failures_total,
                    config_reloads_total: c.config_reloads_total,
                    config_reload_failures_total: c.config_reload_failures_total,
                    correlation_state_size: c.correlation_state_size,
                    correlation_evictions_total: c.correlation_evictions_total,
                    kernel_ringbuf_drops_total: PerKind(&c.kernel_ringbuf_drops_total),
                    kernel_filtered_total: PerKind(&c.kernel_filtered_total),
                    kernel_failed_total: PerKind(&c.kernel_failed_total),
                    kernel_path_unreadable_total: PerKind(&c.kernel_path_unreadable_total),
                    channel_full_drops_total: PerKind(&c.channel_full_drops_total),
                    channel_full_drops_by_kind_total: PerKind(&c.channel_full_drops_by_kind_total),
                    process_table_size: c.proc_table_size,
                    process_table_evictions_total: c.proc_table_evictions_total,
                    read_watch_files: c.read_watch_files,
                    read_watch_updates_total: c.read_watch_updates_total,
                    bpf_programs: c.programs.as_deref().map(Programs),
                },
            },
        }
    }
}

/// O_* flag names (x86-64 / generic values).
pub(crate) const OPEN_FLAG_NAMES: &[(u64, &str)] = &[
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o10000, "O_DSYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (0o4000000, "O_SYNC"),
    (0o10000000, "O_PATH"),
    (0o20000000, "O_TMPFILE"),
];

#[derive(Serialize)]
struct AgentMeta<'a> {
    #[serde(rename = "type")]
    type_: &'static str,
    version: &'a str,
}

#[derive(Serialize)]
struct HostMeta<'a> {
    hostname: &'a str,
}

/// ECS event.type for a file operation.
fn file_types(f: &FileBody) -> &'static [&'static str] {
    const O_CREAT_OR_TMPFILE: u64 = 0o100 | 0o20000000;
    match f.op {
        // A read-only open: only ever reported for [file] watch_reads.
        FileOp::Open if f.is_read() => &["access"],
        FileOp::Open if f.open_flags & O_CREAT_OR_TMPFILE != 0 => &["change", "creation"],
        FileOp::Open | FileOp::Rename | FileOp::Chmod | FileOp::Chown => &["change"],
        FileOp::Unlink => &["deletion"],
        FileOp::Link | FileOp::Symlink => &["creation"],
    }
}

/// "EACCES" for -13; the number when the name is unknown.
/// Any i64 is accepted (a replayed record can carry one): values that are
/// no errno are written as the number, without overflowing.
fn errno_name(result: i64) -> String {
    let errno = result.checked_neg().and_then(|n| i32::try_from(n).ok());
    match errno.map(nix::errno::Errno::from_raw) {
        Some(e) if e != nix::errno::Errno::UnknownErrno => format!("{e:?}"),
        _ => format!("{}", -i128::from(result)),
    }
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// process.name: the executable's file name; the kernel's comm otherwise.
fn name_of(p: &Process) -> Option<&str> {
    let img = &p.image;
    if !img.executable.is_empty() {
        Some(basename(&img.executable))
    } else if !img.name.is_empty() {
        Some(&img.name)
    } else {
        None
    }
}

/// An event record, or an alert record: the triggering event's fields
/// plus `message`, `rule.*`, `threat.*` and the alert parts of `event.*`.
/// Members in the schema's order; optional ones are left out when absent
/// (see docs/schema.md for each).
fn write_event(
    w: &mut Json,
    (cache, recent): (&mut ParentCache, &mut Recent),
    ev: &Event,
    ctx: &Context,
    alert: Option<&Alert>,
) {
    let proc = ev.process.as_deref();
    let (category, types): (&'static str, &'static [&'static str]) = match &ev.body {
        Body::Exec(_) | Body::Fork(_) => ("process", &["start"]),
        Body::Exit(_) => ("process", &["end"]),
        Body::Signal(_) => ("process", &["info"]),
        Body::File(f) => ("file", file_types(f)),
        Body::Net(n) => ("network", net_types(n)),
    };
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
    if let Some(a) = alert {
        // The stable alert id, and ECS's numeric severity.
        key!(w, "id");
        w.str(&a.id);
        key!(w, "severity");
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
        w.end_object();
        key!(w, "threat");
        w.begin_object();
        key!(w, "framework");
        w.lit("MITRE ATT&CK");
        key!(w, "tactic");
        w.begin_object();
        key!(w, "name");
        strs(w, r.tactics.iter().map(String::as_str));
        w.end_object();
        key!(w, "technique");
        techniques(w, &r.techniques);
        w.end_object();
    }

    key!(w, "agent");
    w.begin_object();
    key!(w, "type");
    w.lit("rand-guard");
    key!(w, "version");
    w.str(ctx.agent_version);
    w.end_object();
    key!(w, "host");
    w.begin_object();
    key!(w, "hostname");
    w.str(&ctx.hostname);
    w.end_object();

    key!(w, "process");
    process(w, cache, recent, ev, proc, exit);
    if let Some(c) = creds {
        key!(w, "user");
        id_doc(w, c.uid);
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
            key!(w, "id");
            w.int(q.id);
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

/// `process`: the subject, with its parent when our link is the current
/// parent.
fn process(
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
        Body::File(_) | Body::Net(_) | Body::Signal(_) => proc.map_or(0, |p| p.ppid),
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
            if slot.doc.is_empty() {
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
fn ancestry(w: &mut Json, parent: &Arc<Process>, depth: usize) {
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
fn image(w: &mut Json, p: &Process) {
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
}

fn thread(w: &mut Json, tid: u32) {
    w.begin_object();
    key!(w, "id");
    w.int(tid);
    w.end_object();
}

/// `{"id": "1000"}`: ECS ids are keywords (strings).
fn id_doc(w: &mut Json, id: u32) {
    w.begin_object();
    key!(w, "id");
    w.int_str(id);
    w.end_object();
}

fn timestamp(w: &mut Json, ns: u64) {
    w.clean_str(&Rfc3339(ns).bytes());
}

/// A JSON array of strings.
fn strs<'s>(w: &mut Json, items: impl IntoIterator<Item = &'s str>) {
    w.begin_array();
    for s in items {
        w.elem();
        w.str(s);
    }
    w.end_array();
}

/// A JSON array of the program's own names (see [`Json::lit`]).
fn lits(w: &mut Json, items: impl IntoIterator<Item = &'static str>) {
    w.begin_array();
    for s in items {
        w.elem();
        w.lit(s);
    }
    w.end_array();
}

/// `threat.technique`: `{"id": [...], "name": [...]}`, names only when
/// every technique has one, so the arrays align.
fn techniques(w: &mut Json, ts: &[Technique]) {
    w.begin_object();
    key!(w, "id");
    strs(w, ts.iter().map(|t| t.id.as_str()));
    if ts.iter().all(|t| t.name.is_some()) {
        key!(w, "name");
        strs(w, ts.iter().filter_map(|t| t.name.as_deref()));
    }
    w.end_object();
}

fn file_doc(w: &mut Json, f: &FileBody) {
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
fn endpoint(w: &mut Json, a: SocketAddr) {
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
fn network_doc(w: &mut Json, n: &NetBody) {
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
        w.end_object();
    }
    if let Some(p) = proc {
        key!(w, "process");
        w.begin_object();
        // What /proc/PID/exe shows: the file the kernel runs.
        if !p.image.exe.is_empty() {
            key!(w, "exe");
            w.str(&p.image.exe);
        }
        if let Some(id) = p.cgroup_id {
            key!(w, "cgroup_id");
            w.int(id);
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
        _ => {}
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

/// `open_flags`: the access mode's name, then each O_* flag set, then any
/// bits left as `0x...`.
fn open_flags(w: &mut Json, f: u64) {
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
