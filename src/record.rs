//! Output records and their JSON form (schema version [`SCHEMA_VERSION`]).
//!
//! Every line the agent writes is one JSON object with `schema_version`
//! and `record_type`. Field names follow the Elastic Common Schema where
//! ECS has the field; the rest live under `rand_guard.*`. docs/schema.md
//! documents every field and tests/golden pins the exact output: a change
//! here is a schema change.
//!
//! Serialization borrows from the event (no intermediate copies); lists
//! such as the ancestry are written straight from the process chain.

use std::fmt;

use serde::Serialize;
use serde::ser::Serializer;

use crate::clock::Rfc3339;
use crate::event::{Body, Event, Truncation};
use crate::proctable::{Origin, Process};

pub const SCHEMA_VERSION: u32 = 1;

/// What the writer writes.
#[derive(Debug, Clone)]
pub enum Record {
    Event(Event),
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

/// Append `rec` as one JSON line (with the newline) to `out`.
pub fn write_line(rec: &Record, ctx: &Context, out: &mut Vec<u8>) -> serde_json::Result<()> {
    match rec {
        Record::Event(ev) => serde_json::to_writer(&mut *out, &EventDoc::new(ev, ctx))?,
    }
    out.push(b'\n');
    Ok(())
}

#[derive(Serialize)]
struct EventDoc<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: Rfc3339,
    schema_version: u32,
    record_type: &'static str,
    event: EventMeta,
    agent: AgentMeta<'a>,
    host: HostMeta<'a>,
    process: ProcessDoc<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<IdDoc>,
    rand_guard: RgDoc<'a>,
}

#[derive(Serialize)]
struct EventMeta {
    kind: &'static str,
    category: [&'static str; 1],
    #[serde(rename = "type")]
    type_: [&'static str; 1],
    action: &'static str,
    sequence: u64,
}

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

/// ECS ids are keywords (strings); written without allocating.
#[derive(Serialize)]
struct IdDoc {
    #[serde(serialize_with = "as_str")]
    id: u32,
}

fn as_str<S: Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

#[derive(Serialize)]
struct ProcessDoc<'a> {
    pid: u32,
    thread: ThreadDoc,
    #[serde(flatten)]
    image: Option<ImageDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<Rfc3339>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<IdDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<IdDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    real_user: Option<IdDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    real_group: Option<IdDoc>,
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
}

impl<'a> ImageDoc<'a> {
    fn of(p: &'a Process) -> Option<Self> {
        let img = &p.image;
        (!img.executable.is_empty()).then(|| ImageDoc {
            executable: &img.executable,
            args: &img.args,
            args_count: img.args.len(),
            command_line: CommandLine(&img.args),
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
    process: Option<RgProcess<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ancestry: Option<Ancestry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<Truncated>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit: Option<ExitDoc>,
}

#[derive(Serialize)]
struct RgProcess<'a> {
    /// What /proc/PID/exe shows: the file the kernel runs.
    #[serde(skip_serializing_if = "str::is_empty")]
    exe: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cgroup_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    login_uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<u32>,
    /// How the agent learned this context: exec, fork or procfs.
    origin: &'static str,
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
struct Truncated(Truncation);

impl Serialize for Truncated {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = &self.0;
        let names = [
            (t.executable, "executable"),
            (t.exe, "exe"),
            (t.args, "args"),
            (t.args_unreadable, "args_unreadable"),
        ];
        s.collect_seq(names.iter().filter(|(set, _)| *set).map(|(_, n)| n))
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

impl<'a> EventDoc<'a> {
    fn new(ev: &'a Event, ctx: &'a Context) -> Self {
        let proc = ev.process.as_deref();
        let (category, type_) = match ev.body {
            Body::Exec(_) | Body::Fork(_) => ("process", "start"),
            Body::Exit(_) => ("process", "end"),
        };
        let ppid = match &ev.body {
            Body::Exec(b) => b.ppid,
            Body::Fork(b) => b.child_ppid,
            Body::Exit(b) => b.ppid,
        };
        // Parent details only when our link is the current parent.
        let parent = proc
            .and_then(|p| p.parent.as_deref())
            .filter(|pp| pp.pid == ppid);
        let creds = proc.and_then(|p| p.creds);
        let id = |v: u32| Some(IdDoc { id: v });
        let exit = match &ev.body {
            Body::Exit(b) => Some(b),
            _ => None,
        };
        let truncated = match &ev.body {
            Body::Exec(b) if b.image.truncated.any() => Some(Truncated(b.image.truncated)),
            _ => None,
        };
        EventDoc {
            timestamp: Rfc3339(ev.time_ns),
            schema_version: SCHEMA_VERSION,
            record_type: "event",
            event: EventMeta {
                kind: "event",
                category: [category],
                type_: [type_],
                action: ev.body.action(),
                sequence: ev.seq,
            },
            agent: AgentMeta {
                type_: "rand-guard",
                version: ctx.agent_version,
            },
            host: HostMeta {
                hostname: &ctx.hostname,
            },
            process: ProcessDoc {
                pid: ev.pid,
                thread: ThreadDoc { id: ev.tid },
                image: proc.and_then(ImageDoc::of),
                name: proc.and_then(name_of).or(exit.map(|x| x.name.as_str())),
                start: proc.map(|p| Rfc3339(p.start_time_ns)),
                user: creds.and_then(|c| id(c.euid)),
                group: creds.and_then(|c| id(c.egid)),
                real_user: creds.and_then(|c| id(c.uid)),
                real_group: creds.and_then(|c| id(c.gid)),
                exit_code: exit.map(|x| x.status.code),
                end: exit.map(|_| Rfc3339(ev.time_ns)),
                parent: ParentDoc {
                    pid: ppid,
                    image: parent.and_then(ImageDoc::of),
                    name: parent.and_then(name_of),
                    start: parent.map(|p| Rfc3339(p.start_time_ns)),
                },
            },
            user: creds.and_then(|c| id(c.uid)),
            rand_guard: RgDoc {
                process: proc.map(|p| RgProcess {
                    exe: &p.image.exe,
                    cgroup_id: p.cgroup_id,
                    login_uid: p.creds.and_then(|c| c.login_uid),
                    session_id: p.creds.and_then(|c| c.session_id),
                    origin: match p.origin {
                        Origin::Exec => "exec",
                        Origin::Fork => "fork",
                        Origin::Procfs => "procfs",
                    },
                }),
                ancestry: proc
                    .filter(|p| p.parent.is_some() && ctx.ancestry_depth > 0)
                    .map(|p| Ancestry {
                        proc: p,
                        depth: ctx.ancestry_depth,
                    }),
                truncated,
                exit: exit.map(|x| ExitDoc {
                    signal: x.status.signal,
                    core_dumped: x.status.core_dumped,
                    lifetime_ns: ev.ktime_ns.saturating_sub(x.start_ns),
                }),
            },
        }
    }
}
