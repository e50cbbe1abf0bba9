//! The serde form of event and alert records, as the agent wrote them
//! before `write_event` (in event.rs) replaced it on the hot path. Kept,
//! for the tests only, as the oracle: the hand-written writer must
//! produce exactly these bytes (see tests.rs).

use std::fmt;

use serde::Serialize;
use serde::ser::Serializer;

use super::fields::extension;
use super::reference_alert::{PackageDoc, RgAlert, RgContext};
use super::reference_process::{ContainerDoc, OrchestratorDoc, RgProcess, UnitDoc};
use super::reference_threat::{FeedDoc, IndicatorDoc, RuleDoc, TacticDoc, TechniqueDoc, ThreatDoc};
use super::*;
use super::{
    health::*,
    names::*,
    reference_loss::LossDoc,
    reference_stdio::{StdioDoc, StdioFds},
    reference_xattr::XattrDoc,
};
use crate::model::clock::Rfc3339;

use crate::model::alert::Alert;
use crate::model::dns;
use crate::model::event::{
    Body, Event, FileBody, FileOp, FileTruncation, NetBody, NetFamily, NetOp, NetTruncation,
    Truncation,
};
use crate::model::proctable::Process;

/// The record as serde_json wrote it, with the newline. `event.created`
/// is the context's fixed time (the tests' contexts all have one).
pub(super) fn write_line(rec: &Record, ctx: &Context, out: &mut Vec<u8>) {
    let created = Rfc3339(ctx.ids.created_ns.expect("a fixed event.created")).bytes();
    let created = std::str::from_utf8(&created).unwrap();
    let accounts = ctx
        .ids
        .accounts_dir
        .as_deref()
        .map(crate::model::accounts::Accounts::new);
    let env = Env {
        ctx,
        created,
        accounts: accounts.as_ref(),
    };
    match rec {
        Record::Event(ev) => serde_json::to_writer(&mut *out, &EventDoc::new(ev, &env, None)),
        Record::Alert(a) => {
            serde_json::to_writer(&mut *out, &EventDoc::new(&a.event, &env, Some(a)))
        }
        Record::Health(h) => {
            serde_json::to_writer(&mut *out, &HealthDoc::new(h, ctx, created.as_bytes()))
        }
    }
    .unwrap();
    out.push(b'\n');
}

/// What a record is written with.
struct Env<'a> {
    ctx: &'a Context,
    created: &'a str,
    accounts: Option<&'a crate::model::accounts::Accounts>,
}

impl<'a> Env<'a> {
    fn user(&self, id: u32) -> Option<&'a str> {
        self.accounts.and_then(|a| a.user(id))
    }
    fn group(&self, id: u32) -> Option<&'a str> {
        self.accounts.and_then(|a| a.group(id))
    }
    fn id(&self, id: u32, name: Option<&'a str>) -> Option<IdDoc<'a>> {
        Some(IdDoc { id, name })
    }
}

/// An event record, or an alert record: the triggering event's fields
/// plus `message`, `rule.*`, `threat.*` and the alert parts of `event.*`.
#[derive(Serialize)]
struct EventDoc<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: Rfc3339,
    schema_version: u32,
    record_type: &'static str,
    ecs: EcsMeta,
    event: EventMeta<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<RuleDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    threat: Option<ThreatDoc<'a>>,
    agent: AgentMeta<'a>,
    host: HostMeta<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<ContainerDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    orchestrator: Option<OrchestratorDoc<'a>>,
    process: ProcessDoc<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<UserDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<IdDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<FileDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<EndpointDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    destination: Option<EndpointDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<NetworkDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dns: Option<DnsDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorDoc>,
    rand_guard: RgDoc<'a>,
}

/// ECS source/destination: ip and port.
#[derive(Serialize)]
pub(super) struct EndpointDoc {
    ip: std::net::IpAddr,
    port: u16,
}

impl EndpointDoc {
    pub(super) fn of(a: Option<std::net::SocketAddr>) -> Option<Self> {
        a.map(|a| EndpointDoc {
            ip: a.ip(),
            port: a.port(),
        })
    }
}

#[derive(Serialize)]
struct NetworkDoc {
    #[serde(skip_serializing_if = "Option::is_none")]
    transport: Option<&'static str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    type_: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    direction: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<&'static str>,
}

#[derive(Serialize)]
struct DnsDoc<'a> {
    #[serde(rename = "type")]
    type_: &'static str,
    #[serde(serialize_with = "as_str")]
    id: u16,
    question: DnsQuestionDoc<'a>,
}

#[derive(Serialize)]
struct DnsQuestionDoc<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    type_: String,
    class: String,
}

#[derive(Serialize)]
struct RgNetwork<'a> {
    syscall: &'a str,
    result: i64,
    family: &'static str,
    socket_type: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    in_progress: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    unix_path: Option<&'a str>,
    /// A datagram to port 53 that is not a parsable query.
    #[serde(skip_serializing_if = "Option::is_none")]
    dns_error: Option<String>,
    /// Stdio-socket events: which of fds 0, 1, 2 are internet sockets...
    #[serde(skip_serializing_if = "Option::is_none")]
    stdio_fds: Option<StdioFds>,
    /// ...and the inode of the socket described (stdin's).
    #[serde(skip_serializing_if = "Option::is_none")]
    socket_inode: Option<u64>,
}

/// (source, destination): who talks to whom, as ECS puts it.
fn net_ends(n: &NetBody) -> (Option<EndpointDoc>, Option<EndpointDoc>) {
    match n.op {
        // The accepting side is the destination of the connection.
        NetOp::Accept => (EndpointDoc::of(n.remote), EndpointDoc::of(n.local)),
        _ => (EndpointDoc::of(n.local), EndpointDoc::of(n.remote)),
    }
}

fn network_doc(n: &NetBody) -> NetworkDoc {
    NetworkDoc {
        transport: transport_name(n.protocol),
        type_: match n.family {
            NetFamily::Inet => Some("ipv4"),
            NetFamily::Inet6 => Some("ipv6"),
            _ => None,
        },
        direction: match n.op {
            NetOp::Connect | NetOp::DnsQuery => Some("egress"),
            NetOp::Accept => Some("ingress"),
            _ => None,
        },
        protocol: (n.op == NetOp::DnsQuery).then_some("dns"),
    }
}

#[derive(Serialize)]
struct EventMeta<'a> {
    kind: &'static str,
    category: [&'static str; 1],
    #[serde(rename = "type")]
    type_: &'static [&'static str],
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    sequence: u64,
    created: &'a str,
    module: &'static str,
    dataset: &'static str,
    /// Alerts: the stable alert id.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    /// Alerts: ECS numeric severity.
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    risk_score: Option<u8>,
}

#[derive(Serialize)]
struct FileDoc<'a> {
    path: &'a str,
    name: &'a str,
    directory: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    extension: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_path: Option<&'a str>,
    /// Octal, as ECS writes modes ("0644").
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<Octal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<IdStr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gid: Option<IdStr>,
}

struct Octal(u32);

impl Serialize for Octal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:04o}", self.0 & 0o7777))
    }
}

struct IdStr(u32);

impl Serialize for IdStr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

#[derive(Serialize)]
struct ErrorDoc {
    /// errno name, e.g. EACCES.
    code: String,
}

#[derive(Serialize)]
struct RgFile<'a> {
    syscall: &'a str,
    result: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    open_flags: Option<OpenFlags>,
    #[serde(skip_serializing_if = "is_zero")]
    at_flags: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_path: Option<&'a str>,
    /// How `file.path` was resolved: `dentry` (from the kernel's file
    /// object) or `name` (the caller's string, made absolute).
    path_source: &'static str,
    /// A read-only open of a `[file] watch_reads` file: the watched path.
    #[serde(skip_serializing_if = "Option::is_none")]
    watched_path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    xattr: Option<XattrDoc<'a>>,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// O_* flag names (x86-64 / generic values).
struct OpenFlags(u64);

impl Serialize for OpenFlags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.0;
        let access = match f & 3 {
            0 => "O_RDONLY",
            1 => "O_WRONLY",
            2 => "O_RDWR",
            _ => "O_ACCMODE",
        };
        // O_SYNC includes O_DSYNC's bit; O_TMPFILE includes O_DIRECTORY's.
        let mut rest = f & !3;
        let mut names = vec![access.to_string()];
        for (bit, name) in OPEN_FLAG_NAMES.iter().rev() {
            if rest & bit == *bit {
                names.push(name.to_string());
                rest &= !bit;
            }
        }
        names[1..].reverse();
        if rest != 0 {
            names.push(format!("0x{rest:x}"));
        }
        s.collect_seq(names)
    }
}

/// ECS ids are keywords (strings); written without allocating.
#[derive(Serialize)]
struct IdDoc<'a> {
    #[serde(serialize_with = "as_str")]
    id: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

/// The record's user: the real one, the effective one when it differs.
#[derive(Serialize)]
struct UserDoc<'a> {
    #[serde(serialize_with = "as_str")]
    id: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    effective: Option<IdDoc<'a>>,
}

fn as_str<S: Serializer, V: std::fmt::Display>(v: &V, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

#[derive(Serialize)]
struct ProcessDoc<'a> {
    pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    entity_id: Option<&'a str>,
    thread: ThreadDoc,
    #[serde(flatten)]
    image: Option<ImageDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<Rfc3339>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<IdDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<IdDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    real_user: Option<IdDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    real_group: Option<IdDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end: Option<Rfc3339>,
    parent: ParentDoc<'a>,
}

#[derive(Serialize)]
struct ThreadDoc {
    id: u32,
}

/// executable / args / args_count / command_line of a known image.
#[derive(Serialize)]
struct ImageDoc<'a> {
    executable: &'a str,
    args: &'a [String],
    args_count: usize,
    command_line: CommandLine<'a>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    env_vars: &'a [String],
    #[serde(skip_serializing_if = "str::is_empty")]
    working_directory: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<HashDoc<'a>>,
}

#[derive(Serialize)]
struct HashDoc<'a> {
    sha256: &'a str,
}

impl<'a> ImageDoc<'a> {
    fn of(p: &'a Process) -> Option<Self> {
        let img = &p.image;
        (!img.executable.is_empty()).then(|| ImageDoc {
            executable: &img.executable,
            args: &img.args,
            args_count: img.args.len(),
            command_line: CommandLine(&img.args),
            env_vars: &img.env_vars,
            working_directory: &img.working_directory,
            hash: img
                .hash
                .get()
                .and_then(|h| h.sha256())
                .map(|sha256| HashDoc { sha256 }),
        })
    }
}

/// Arguments joined by spaces, as ECS `command_line`.
struct CommandLine<'a>(&'a [String]);

impl fmt::Display for CommandLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(a)?;
        }
        Ok(())
    }
}

impl Serialize for CommandLine<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Serialize)]
struct ParentDoc<'a> {
    pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    entity_id: Option<&'a str>,
    #[serde(flatten)]
    image: Option<ImageDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<Rfc3339>,
}

#[derive(Serialize)]
struct RgDoc<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    alert: Option<RgAlert<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<RgContext<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    process: Option<RgProcess<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    systemd: Option<UnitDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<RgFile<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<RgNetwork<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ancestry: Option<Ancestry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<Truncated>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stdio: Option<StdioDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit: Option<ExitDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signal: Option<SignalDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    loss: Option<LossDoc<'a>>,
}

/// A signal sent to the agent (`process` is the sender).
#[derive(Serialize)]
struct SignalDoc {
    number: i32,
    name: String,
    /// SI_USER, SI_QUEUE or SI_TKILL.
    code: &'static str,
    /// delivered, ignored, already_pending, ...
    result: &'static str,
    target: SignalTarget,
}

#[derive(Serialize)]
struct SignalTarget {
    pid: u32,
    thread: ThreadDoc,
}

#[derive(Serialize)]
struct ExitDoc {
    #[serde(skip_serializing_if = "Option::is_none")]
    signal: Option<i32>,
    core_dumped: bool,
    /// Lifetime of the process in nanoseconds.
    lifetime_ns: u64,
}

/// `[{pid, executable}, ...]` from the parent upwards.
struct Ancestry<'a> {
    proc: &'a Process,
    depth: usize,
}

#[derive(Serialize)]
struct AncestorDoc<'a> {
    pid: u32,
    #[serde(skip_serializing_if = "str::is_empty")]
    executable: &'a str,
}

impl Serialize for Ancestry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.proc.ancestors().take(self.depth).map(|a| AncestorDoc {
            pid: a.pid,
            executable: &a.image.executable,
        }))
    }
}

/// Names of the truncated parts, e.g. `["args"]`.
enum Truncated {
    Exec(Truncation),
    File(FileTruncation),
    Net(NetTruncation),
}

impl Serialize for Truncated {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let names: Vec<(bool, &str)> = match self {
            Truncated::Exec(t) => vec![
                (t.executable, "executable"),
                (t.exe, "exe"),
                (t.args, "args"),
                (t.args_unreadable, "args_unreadable"),
                (t.env, "env"),
                (t.working_directory, "working_directory"),
            ],
            Truncated::File(t) => vec![
                (t.path, "path"),
                (t.other_path, "other_path"),
                (t.unreadable, "path_unreadable"),
            ],
            Truncated::Net(t) => vec![
                (t.unix_path, "unix_path"),
                (t.payload, "payload"),
                (t.address_unreadable, "address_unreadable"),
            ],
        };
        s.collect_seq(names.iter().filter(|(set, _)| *set).map(|(_, n)| n))
    }
}

fn file_doc(f: &FileBody) -> FileDoc<'_> {
    let (directory, name) = match f.path.rfind('/') {
        Some(0) => ("/", &f.path[1..]),
        Some(i) => (&f.path[..i], &f.path[i + 1..]),
        None => ("", f.path.as_str()),
    };
    FileDoc {
        path: &f.path,
        name,
        directory,
        target_path: f.target_path.as_deref(),
        extension: extension(name),
        mode: f.mode.map(Octal),
        uid: f.owner.map(IdStr),
        gid: f.group.map(IdStr),
    }
}

impl<'a> EventDoc<'a> {
    fn new(ev: &'a Event, env: &Env<'a>, alert: Option<&'a Alert>) -> Self {
        let ctx = env.ctx;
        let proc = ev.process.as_deref();
        let (category, type_) = ev.body.ecs_category_types();
        let file = match &ev.body {
            Body::File(f) => Some(f),
            _ => None,
        };
        let net = match &ev.body {
            Body::Net(n) => Some(n),
            _ => None,
        };
        let (source, destination) = net.map_or((None, None), net_ends);
        let query = net
            .and_then(|n| n.dns.as_ref())
            .and_then(|q| q.as_ref().ok());
        let ppid = match &ev.body {
            Body::Exec(b) => b.ppid,
            Body::Fork(b) => b.child_ppid,
            Body::Exit(b) => b.ppid,
            Body::File(_) | Body::Net(_) | Body::Signal(_) | Body::Loss(_) => {
                proc.map_or(0, |p| p.ppid)
            }
        };
        // Parent details only when our link is the current parent.
        let parent = proc
            .and_then(|p| p.parent.as_deref())
            .filter(|pp| pp.pid == ppid);
        let creds = proc.and_then(|p| p.creds);
        let cgroup = proc.and_then(|p| p.cgroup.as_deref());
        let container = cgroup.and_then(|cg| cg.container.as_ref());
        let user = |v: u32| env.id(v, env.user(v));
        let group = |v: u32| env.id(v, env.group(v));
        let exit = match &ev.body {
            Body::Exit(b) => Some(b),
            _ => None,
        };
        let truncated = match &ev.body {
            Body::Exec(b) if b.image.truncated.any() => Some(Truncated::Exec(b.image.truncated)),
            Body::File(f) if f.truncated.any() => Some(Truncated::File(f.truncated)),
            Body::Net(n) if n.truncated.any() => Some(Truncated::Net(n.truncated)),
            _ => None,
        };
        let rule = alert.map(|a| &*a.rule);
        EventDoc {
            timestamp: Rfc3339(ev.time_ns),
            schema_version: SCHEMA_VERSION,
            record_type: if alert.is_some() { "alert" } else { "event" },
            ecs: EcsMeta {
                version: super::ECS_VERSION,
            },
            event: EventMeta {
                kind: if alert.is_some() { "alert" } else { "event" },
                category: [category],
                type_,
                action: ev.body.action(),
                outcome: file.map(|f| if f.result >= 0 { "success" } else { "failure" }),
                sequence: ev.seq,
                created: env.created,
                module: super::EVENT_MODULE,
                dataset: super::event::dataset(alert.is_some(), category),
                id: alert.map(|a| a.id.as_str()),
                severity: rule.map(|r| r.severity.score()),
                risk_score: rule.map(|r| r.severity.score()),
            },
            message: alert.map(|a| a.message.as_str()),
            rule: rule.map(|r| RuleDoc {
                id: &r.id,
                name: &r.name,
                description: &r.description,
                ruleset: &r.source,
                reference: Some(&r.references[..]).filter(|v| !v.is_empty()),
                author: Some(&r.authors[..]).filter(|v| !v.is_empty()),
            }),
            threat: rule.map(|r| {
                let ind = alert.and_then(|a| a.indicator.as_deref());
                ThreatDoc {
                    framework: "MITRE ATT&CK",
                    tactic: TacticDoc::of(&r.tactics),
                    technique: TechniqueDoc::of(&r.techniques),
                    feed: ind.map(|i| FeedDoc { name: &i.feed }),
                    indicator: ind.map(|i| IndicatorDoc {
                        type_: i.kind,
                        name: &i.entry,
                    }),
                }
            }),
            file: file.map(file_doc),
            source,
            destination,
            network: net
                .map(network_doc)
                .filter(|n| n.transport.is_some() || n.type_.is_some() || n.direction.is_some()),
            dns: query.map(|q| DnsDoc {
                type_: if q.response { "answer" } else { "query" },
                id: q.id,
                question: DnsQuestionDoc {
                    name: &q.name,
                    type_: dns::type_name(q.qtype),
                    class: dns::class_name(q.qclass),
                },
            }),
            error: file.filter(|f| f.result < 0).map(|f| ErrorDoc {
                code: errno_name(f.result),
            }),
            agent: AgentMeta::of(ctx),
            host: HostMeta::of(ctx),
            container: container.map(ContainerDoc::of),
            orchestrator: container.and_then(OrchestratorDoc::of),
            process: ProcessDoc {
                pid: ev.pid,
                entity_id: proc.map(|p| ctx.ids.entity_id(p)),
                thread: ThreadDoc { id: ev.tid },
                image: proc.and_then(ImageDoc::of),
                name: proc.and_then(name_of).or(exit.map(|x| x.name.as_str())),
                start: proc.map(|p| Rfc3339(p.start_time_ns)),
                user: creds.and_then(|c| user(c.euid)),
                group: creds.and_then(|c| group(c.egid)),
                real_user: creds.and_then(|c| user(c.uid)),
                real_group: creds.and_then(|c| group(c.gid)),
                exit_code: exit.map(|x| x.status.code),
                end: exit.map(|_| Rfc3339(ev.time_ns)),
                parent: ParentDoc {
                    pid: ppid,
                    entity_id: parent.map(|p| ctx.ids.entity_id(p)),
                    image: parent.and_then(ImageDoc::of),
                    name: parent.and_then(name_of),
                    start: parent.map(|p| Rfc3339(p.start_time_ns)),
                },
            },
            user: creds.map(|c| UserDoc {
                id: c.uid,
                name: env.user(c.uid),
                effective: (c.euid != c.uid).then(|| IdDoc {
                    id: c.euid,
                    name: env.user(c.euid),
                }),
            }),
            group: creds.and_then(|c| group(c.gid)),
            rand_guard: RgDoc {
                alert: rule.map(|r| RgAlert {
                    severity: r.severity.as_str(),
                    source: &r.source,
                    suppressed_count: alert.map(|a| a.suppressed).filter(|n| *n > 0),
                    evidence: alert.map_or(&[], |a| a.evidence.as_slice()),
                    severity_reasons: alert.map_or(&[], |a| a.reasons.as_slice()),
                }),
                context: alert
                    .and_then(|a| a.package.as_deref())
                    .map(|op| RgContext {
                        package: PackageDoc {
                            manager: op.manager,
                            pid: op.pid,
                            name: op.name.as_deref(),
                            operation: op.operation.as_deref(),
                        },
                    }),
                network: net.map(|n| RgNetwork {
                    syscall: n.syscall,
                    result: n.result,
                    family: n.family.name(),
                    socket_type: socket_type_name(n.sock_type),
                    in_progress: n.in_progress,
                    unix_path: n.unix_path.as_deref(),
                    dns_error: n
                        .dns
                        .as_ref()
                        .and_then(|q| q.as_ref().err())
                        .map(|e| e.to_string()),
                    stdio_fds: n.stdio.map(|s| StdioFds(s.fds)),
                    socket_inode: n.stdio.map(|s| s.socket_inode),
                }),
                file: file.map(|f| RgFile {
                    syscall: f.syscall,
                    result: f.result,
                    open_flags: (f.op == FileOp::Open).then_some(OpenFlags(f.open_flags)),
                    at_flags: f.at_flags,
                    original_path: f.original_path.as_deref(),
                    path_source: if f.resolved { "dentry" } else { "name" },
                    watched_path: f.watched.as_deref(),
                    xattr: f.xattr.as_ref().map(XattrDoc::of),
                }),
                process: proc.map(RgProcess::of),
                systemd: cgroup
                    .and_then(|cg| cg.systemd_unit.as_deref())
                    .map(|unit| UnitDoc { unit }),
                ancestry: proc
                    .filter(|p| p.parent.is_some() && ctx.ancestry_depth > 0)
                    .map(|p| Ancestry {
                        proc: p,
                        depth: ctx.ancestry_depth,
                    }),
                truncated,
                stdio: match &ev.body {
                    Body::Exec(x) if x.stdio.any_stream() => Some(StdioDoc::new(&x.stdio)),
                    _ => None,
                },
                exit: exit.map(|x| ExitDoc {
                    signal: x.status.signal,
                    core_dumped: x.status.core_dumped,
                    lifetime_ns: ev.ktime_ns.saturating_sub(x.start_ns),
                }),
                signal: match &ev.body {
                    Body::Signal(s) => Some(SignalDoc {
                        number: s.signal,
                        name: s.name(),
                        code: s.code,
                        result: s.result,
                        target: SignalTarget {
                            pid: s.target_pid,
                            thread: ThreadDoc { id: s.target_tid },
                        },
                    }),
                    _ => None,
                },
                loss: match &ev.body {
                    Body::Loss(l) => Some(LossDoc::new(l)),
                    _ => None,
                },
            },
        }
    }
}
