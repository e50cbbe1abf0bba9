//! Replay: turn a written event record back into the [`Event`] it was
//! written from.
//!
//! Rule authors test rules on recorded telemetry (`rand-guard rules test
//! --events FILE.jsonl`): the recorded events must go through the same
//! [`Detector`](crate::detect::Detector) as in the live agent and raise
//! the same alerts, with the same ids. So the contract here is fidelity:
//! a replayed event, written back with the record's hostname, is the very
//! line it came from (the tests check every golden line).
//!
//! Each line stands alone: the process context (the subject, its parent
//! from `process.parent.*`, the ancestors from `rand_guard.ancestry`) is
//! rebuilt from the line itself, not by following exec and fork records,
//! so a line replays the same whether or not the lines before it are
//! there. Alert and health records are outputs, not inputs, and are
//! skipped: an alert's event is the event record written just before it.
//!
//! Fields the writer derives from others (`process.name` from the
//! executable, `file.name`, `event.type`, ...) are not read. When a line
//! carries them they must agree with what they derive from, so an edited
//! copy (say `process.name` changed, `process.executable` not) fails
//! loudly instead of replaying something other than it shows. Keys this
//! version does not know are ignored: later agents add fields without
//! changing the schema version.
//!
//! A record carries wall time only. Replay uses it as the kernel clock
//! too (`ktime_ns = time_ns`, process start times likewise), so process
//! lifetimes and alert rate limiting run on event time. docs/schema.md,
//! "Replaying records", lists what a record does not carry.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::config::ANCESTRY_DEPTH_MAX;
use crate::kernel::abi;
use crate::model::clock::{self, Rfc3339};
use crate::model::dns::{self, DnsError, Query};
use crate::model::event::{
    Body, Creds, Event, ExecBody, ExitBody, ExitStatus, FileBody, FileOp, FileTruncation, ForkBody,
    Image, NetBody, NetFamily, NetOp, NetTruncation, SignalBody, Stdio, Truncation,
};
use crate::model::proctable::{Origin, Process};
use crate::record::{self, Context, Record, SCHEMA_VERSION};

/// One replayable record: the event and the host it was recorded on.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub event: Event,
    /// `host.hostname`: alert ids depend on it, so a detector replaying
    /// this event must be built for this host.
    pub hostname: String,
}

/// Why a line cannot be replayed: where (file, line, key) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayError {
    file: Option<PathBuf>,
    line: Option<usize>,
    key: String,
    reason: String,
}

impl ReplayError {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ReplayError {
            file: None,
            line: None,
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// The 1-based line number of the line the error is about.
    pub fn with_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    /// The events file the line came from.
    pub fn with_file(mut self, file: &Path) -> Self {
        self.file = Some(file.to_path_buf());
        self
    }

    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The offending key as a path (`process.parent.pid`,
    /// `rand_guard.ancestry[2].pid`); empty when the line is not a JSON
    /// object at all, or the file cannot be read.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "events file {}", file.display())?;
            if self.line.is_some() {
                f.write_str(" ")?;
            }
        }
        if let Some(line) = self.line {
            write!(f, "line {line}")?;
        }
        if self.file.is_some() || self.line.is_some() {
            f.write_str(": ")?;
        }
        if !self.key.is_empty() {
            write!(f, "key `{}`: ", self.key)?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for ReplayError {}

/// Records [`read_all`] passed over: outputs of the agent, not events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    pub alerts: usize,
    pub health: usize,
}

/// Parse one line. Ok(Some) for an event record; Ok(None) for alert and
/// health records and blank lines; Err for anything malformed, an
/// unknown `event.action` or an unsupported `schema_version`. The error
/// names the key; the caller adds the line ([`ReplayError::with_line`]).
pub fn parse_line(line: &str) -> Result<Option<Replayed>, ReplayError> {
    Ok(match parse(line, false)? {
        Parsed::Event(r) => Some(r),
        Parsed::Blank | Parsed::Alert | Parsed::Health => None,
    })
}

/// Every event record of a JSON-lines file, in file order, and how many
/// alert and health records were skipped. Stops at the first bad line:
/// the error names the file and line.
pub fn read_all(path: &Path) -> Result<(Vec<Replayed>, Skipped), ReplayError> {
    let mut events = Vec::new();
    let skipped = for_each(path, |r| events.push(r))?;
    Ok((events, skipped))
}

/// As [`read_all`], handing each event to `f` as it is read, so a large
/// file is never held in memory. Stops at the first bad line.
pub fn for_each(path: &Path, mut f: impl FnMut(Replayed)) -> Result<Skipped, ReplayError> {
    let file_err = |e: ReplayError| e.with_file(path);
    let file = std::fs::File::open(path)
        .map_err(|e| file_err(ReplayError::new("", format!("cannot open: {e}"))))?;
    let mut skipped = Skipped::default();
    // Lines as bytes: a line that is not UTF-8 is an error of that line,
    // not of the file.
    for (i, bytes) in BufReader::new(file).split(b'\n').enumerate() {
        let at = |e: ReplayError| file_err(e.with_line(i + 1));
        let bytes = bytes.map_err(|e| at(ReplayError::new("", format!("cannot read: {e}"))))?;
        let line = std::str::from_utf8(&bytes)
            .map_err(|e| at(ReplayError::new("", format!("not UTF-8: {e}"))))?;
        match parse(line, false).map_err(at)? {
            Parsed::Event(r) => f(r),
            Parsed::Alert => skipped.alerts += 1,
            Parsed::Health => skipped.health += 1,
            Parsed::Blank => {}
        }
    }
    Ok(skipped)
}

// Each Parsed is moved once, into the caller's list: boxing the event
// would only add an allocation per line.
#[allow(clippy::large_enum_variant)]
enum Parsed {
    Blank,
    Event(Replayed),
    Alert,
    Health,
}

/// `alert_events`: read an alert record's embedded event (its alert
/// parts ignored) instead of skipping it; the tests use it.
fn parse(line: &str, alert_events: bool) -> Result<Parsed, ReplayError> {
    if line.trim().is_empty() {
        return Ok(Parsed::Blank);
    }
    let value: Value = serde_json::from_str(line).map_err(|e| {
        // serde_json says "at line 1 column N": the line is ours to name.
        let msg = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let msg = msg.strip_suffix(&suffix).unwrap_or(&msg);
        ReplayError::new(
            "",
            format!("not valid JSON at column {}: {msg}", e.column()),
        )
    })?;
    let Some(map) = value.as_object() else {
        return Err(ReplayError::new(
            "",
            format!("expected a JSON object, found {}", found(&value)),
        ));
    };
    let root = Obj {
        map,
        path: String::new(),
    };
    let version = root.need("schema_version", unsigned::<u64>)?;
    if version != u64::from(SCHEMA_VERSION) {
        return Err(root.err(
            "schema_version",
            format!(
                "version {version} is not supported: this agent reads version {SCHEMA_VERSION}"
            ),
        ));
    }
    match root.need("record_type", string)? {
        "event" => Ok(Parsed::Event(event_of(&root, &value)?)),
        "alert" if alert_events => Ok(Parsed::Event(event_of(&root, &value)?)),
        "alert" => Ok(Parsed::Alert),
        "health" => Ok(Parsed::Health),
        other => Err(root.err(
            "record_type",
            format!("expected `event`, `alert` or `health`, found `{other}`"),
        )),
    }
}

// ---- reading JSON with key paths -------------------------------------------

/// A JSON object and its key path in the record, so that every error can
/// name the key it is about.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    fn key(&self, k: &str) -> String {
        if self.path.is_empty() {
            k.to_string()
        } else {
            format!("{}.{k}", self.path)
        }
    }

    fn err(&self, k: &str, reason: impl Into<String>) -> ReplayError {
        ReplayError::new(self.key(k), reason)
    }

    fn has(&self, k: &str) -> bool {
        self.map.contains_key(k)
    }

    /// The value of `k` converted by `f`; None when `k` is absent.
    fn get<T>(
        &self,
        k: &str,
        f: impl FnOnce(&'a Value) -> Result<T, String>,
    ) -> Result<Option<T>, ReplayError> {
        self.map
            .get(k)
            .map(|v| f(v).map_err(|reason| self.err(k, reason)))
            .transpose()
    }

    /// Like [`Obj::get`], for a key every record of this kind has.
    fn need<T>(
        &self,
        k: &str,
        f: impl FnOnce(&'a Value) -> Result<T, String>,
    ) -> Result<T, ReplayError> {
        self.get(k, f)?.ok_or_else(|| self.err(k, "missing"))
    }

    fn obj(&self, k: &str) -> Result<Option<Obj<'a>>, ReplayError> {
        Ok(self.get(k, object)?.map(|map| Obj {
            map,
            path: self.key(k),
        }))
    }

    fn need_obj(&self, k: &str) -> Result<Obj<'a>, ReplayError> {
        self.obj(k)?.ok_or_else(|| self.err(k, "missing"))
    }

    /// An array, each element converted by `f`; errors name the element.
    fn list<T>(
        &self,
        k: &str,
        f: impl Fn(&'a Value) -> Result<T, String>,
    ) -> Result<Option<Vec<T>>, ReplayError> {
        let Some(items) = self.get(k, array)? else {
            return Ok(None);
        };
        let at = |i: usize, reason| ReplayError::new(format!("{}[{i}]", self.key(k)), reason);
        items
            .iter()
            .enumerate()
            .map(|(i, v)| f(v).map_err(|r| at(i, r)))
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// `{"id": "1000"}` under `k` (ECS ids are decimal strings).
    fn id(&self, k: &str) -> Result<Option<u32>, ReplayError> {
        self.obj(k)?.map(|o| o.need("id", decimal_id)).transpose()
    }
}

/// What a value is, for "expected X, found Y".
fn found(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn object(v: &Value) -> Result<&Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("expected an object, found {}", found(v)))
}

fn array(v: &Value) -> Result<&Vec<Value>, String> {
    v.as_array()
        .ok_or_else(|| format!("expected an array, found {}", found(v)))
}

fn string(v: &Value) -> Result<&str, String> {
    v.as_str()
        .ok_or_else(|| format!("expected a string, found {}", found(v)))
}

fn owned(v: &Value) -> Result<String, String> {
    string(v).map(str::to_string)
}

fn boolean(v: &Value) -> Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| format!("expected true or false, found {}", found(v)))
}

fn unsigned<T: TryFrom<u64>>(v: &Value) -> Result<T, String> {
    v.as_u64().and_then(|n| T::try_from(n).ok()).ok_or_else(|| {
        let ty = std::any::type_name::<T>();
        format!("expected an integer ({ty}), found {}", found(v))
    })
}

fn signed<T: TryFrom<i64>>(v: &Value) -> Result<T, String> {
    v.as_i64().and_then(|n| T::try_from(n).ok()).ok_or_else(|| {
        let ty = std::any::type_name::<T>();
        format!("expected an integer ({ty}), found {}", found(v))
    })
}

/// An id as the writer spells it: decimal, no sign, no leading zeros.
fn decimal_id(v: &Value) -> Result<u32, String> {
    let s = string(v)
        .map_err(|_| format!("expected an id string such as \"1000\", found {}", found(v)))?;
    s.parse::<u32>()
        .ok()
        .filter(|n| n.to_string() == s)
        .ok_or_else(|| format!("expected a decimal id from 0 to {}, found {s:?}", u32::MAX))
}

fn timestamp(v: &Value) -> Result<u64, String> {
    string(v).and_then(|s| {
        clock::parse_rfc3339(s).ok_or_else(|| {
            format!(
                "expected an RFC 3339 UTC time such as \"{}\", found {s:?}",
                Rfc3339(0)
            )
        })
    })
}

/// `file.mode`: the four octal digits the writer uses.
fn octal_mode(v: &Value) -> Result<u32, String> {
    let s = string(v)?;
    (s.len() == 4 && s.bytes().all(|b| (b'0'..=b'7').contains(&b)))
        .then(|| u32::from_str_radix(s, 8).ok())
        .flatten()
        .ok_or_else(|| format!("expected four octal digits such as \"0644\", found {s:?}"))
}

/// One of `names`, as `(value, name)` pairs.
fn one_of<T: Copy>(v: &Value, names: &[(T, &str)]) -> Result<T, String> {
    let s = string(v)?;
    names
        .iter()
        .find(|(_, n)| *n == s)
        .map(|(t, _)| *t)
        .ok_or_else(|| {
            let known: Vec<&str> = names.iter().map(|(_, n)| *n).collect();
            format!("unknown value `{s}`; known: {}", known.join(", "))
        })
}

/// A syscall name the agent writes (`&'static str` in events): one the
/// kernel programs hook, or `unknown`, which the normalizer writes for a
/// number it does not know.
fn syscall(v: &Value, hooked: &[(u16, &'static str)]) -> Result<&'static str, String> {
    let s = string(v)?;
    hooked
        .iter()
        .map(|(_, n)| *n)
        .chain(["unknown"])
        .find(|n| *n == s)
        .ok_or_else(|| format!("`{s}` is not a syscall this agent hooks"))
}

// ---- events ------------------------------------------------------------------

/// What `event.action` says the record is.
enum Action {
    Exec,
    Fork,
    Exit,
    Signal,
    File(FileOp),
    Net(NetOp),
}

const FILE_OPS: [FileOp; 7] = [
    FileOp::Open,
    FileOp::Unlink,
    FileOp::Rename,
    FileOp::Chmod,
    FileOp::Chown,
    FileOp::Link,
    FileOp::Symlink,
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
fn event_of(root: &Obj<'_>, value: &Value) -> Result<Replayed, ReplayError> {
    let time_ns = root.need("@timestamp", timestamp)?;
    let hostname = root.need_obj("host")?.need("hostname", owned)?;
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
        Action::Exec => &["executable", "exe", "args", "args_unreadable"],
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
        // Not written (nothing past the normalizer reads it).
        exe_detached: false,
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
            // argc is not written; args is argv as far as it was read.
            argc: subject.map_or(0, |p| p.image.args.len() as u32),
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
    Ok(Replayed { event, hostname })
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

/// The process context of a record.
struct ProcContext {
    /// The subject, when the agent knew it.
    subject: Option<Arc<Process>>,
    /// The parent's start (the event bodies name it), 0 when not written.
    parent_start_ns: u64,
}

/// Image keys of `process` and `process.parent`: any of them means the
/// record describes that process's image.
const IMAGE_KEYS: [&str; 6] = [
    "executable",
    "args",
    "args_count",
    "command_line",
    "name",
    "start",
];

/// Rebuild the subject process, its parent and its ancestors.
///
/// The writer gives the subject in full, the parent's image (only while
/// the linked parent is the current one, `pp.pid == ppid`) and pid and
/// executable of each ancestor, the parent first. Rules read no more of
/// the parent and ancestors than that (rules/fields.rs), so what is not
/// written (their creds, exe, cgroup, how they were learned) is left
/// empty without changing what a rule sees.
fn context(
    root: &Obj<'_>,
    process: &Obj<'_>,
    rg: &Obj<'_>,
    pid: u32,
    ppid: u32,
    image_cut: Truncation,
) -> Result<ProcContext, ReplayError> {
    let parent = process.need_obj("parent")?;
    // `rand_guard.process` (its `origin` is always written) is what marks
    // a process the agent knew; without it only pid, name (the kernel's
    // task name) and parent pid are written.
    let Some(rgp) = rg.obj("process")? else {
        // Keys only a known process has.
        let only_known: [(&Obj<'_>, &[&str]); 4] = [
            (
                process,
                &[
                    "executable",
                    "args",
                    "start",
                    "user",
                    "group",
                    "real_user",
                    "real_group",
                ],
            ),
            (root, &["user"]),
            (&parent, &["executable", "args", "name", "start"]),
            (rg, &["ancestry"]),
        ];
        for (o, keys) in only_known {
            if let Some(k) = keys.iter().find(|k| o.has(k)) {
                return Err(o.err(
                    k,
                    "given for a process the record does not describe \
                     (no `rand_guard.process`): the agent writes both or neither",
                ));
            }
        }
        return Ok(ProcContext {
            subject: None,
            parent_start_ns: 0,
        });
    };

    let origin = rgp.need("origin", |v| {
        one_of(
            v,
            &[
                (Origin::Exec, "exec"),
                (Origin::Fork, "fork"),
                (Origin::Procfs, "procfs"),
            ],
        )
    })?;
    let creds = creds(process, &rgp)?;
    let mut image = image_of(process)?;
    image.exe = rgp.get("exe", owned)?.unwrap_or_default();
    image.truncated = image_cut;
    let start = process.get("start", timestamp)?.unwrap_or(0);

    // The chain from the parent up: the described parent, then the rest
    // of `rand_guard.ancestry`; or the ancestry alone.
    let ancestry = ancestry(rg)?;
    let described = IMAGE_KEYS.iter().any(|k| parent.has(k));
    let mut chain: Vec<Process> = Vec::with_capacity(ancestry.len() + 1);
    let mut parent_start_ns = 0;
    let mut rest = &ancestry[..];
    if described {
        let img = image_of(&parent)?;
        if let Some((first, tail)) = ancestry.split_first() {
            // Both are written from the same linked parent.
            if first.0 != ppid {
                return Err(ReplayError::new(
                    "rand_guard.ancestry[0].pid",
                    format!(
                        "is {}, but process.parent describes pid {ppid}: the first ancestor is that parent",
                        first.0
                    ),
                ));
            }
            if first.1 != img.executable {
                return Err(ReplayError::new(
                    "rand_guard.ancestry[0].executable",
                    format!(
                        "is {:?}, but process.parent.executable is {:?}: the first ancestor is that parent",
                        first.1, img.executable
                    ),
                ));
            }
            rest = tail;
        }
        parent_start_ns = parent.get("start", timestamp)?.unwrap_or(0);
        chain.push(linked(ppid, img, parent_start_ns));
    }
    for (pid, executable) in rest {
        let img = Image {
            executable: executable.clone(),
            ..Image::default()
        };
        chain.push(linked(*pid, img, 0));
    }
    // Link top-down, as the process table does: each entry's ppid is the
    // pid of the entry above it (unknown, 0, for the topmost).
    let mut up: Option<Arc<Process>> = None;
    let mut len = 0;
    for mut p in chain.into_iter().rev() {
        p.ppid = up.as_ref().map_or(0, |u| u.pid);
        p.parent = up.take();
        p.chain_len = len;
        len += 1;
        up = Some(Arc::new(p));
    }
    let subject = Process {
        pid,
        ppid,
        start_ns: start,
        // Start times from /proc have tick precision (proctable.rs).
        start_exact: origin != Origin::Procfs,
        start_time_ns: start,
        image: Arc::new(image),
        creds,
        cgroup_id: rgp.get("cgroup_id", unsigned::<u64>)?,
        parent: up,
        origin,
        chain_len: len,
    };
    Ok(ProcContext {
        subject: Some(Arc::new(subject)),
        parent_start_ns,
    })
}

/// A parent or ancestor: only its pid, image and start are written.
fn linked(pid: u32, image: Image, start: u64) -> Process {
    Process {
        pid,
        ppid: 0,
        start_ns: start,
        start_exact: true,
        start_time_ns: start,
        image: Arc::new(image),
        creds: None,
        cgroup_id: None,
        parent: None,
        // Not written for parents; nothing reads it from them.
        origin: Origin::Exec,
        chain_len: 0,
    }
}

/// executable, args and name of `process` or `process.parent`.
fn image_of(o: &Obj<'_>) -> Result<Image, ReplayError> {
    let executable = o.get("executable", owned)?.unwrap_or_default();
    let args = o.list("args", owned)?;
    // The writer puts args only beside an executable: alone, they would
    // silently vanish from the replayed event.
    if args.is_some() && executable.is_empty() {
        return Err(o.err("args", "given without an executable"));
    }
    Ok(Image {
        // `name` is the executable's file name when there is one (the
        // kernel's comm is then not written), the comm otherwise.
        name: o.get("name", owned)?.unwrap_or_default(),
        executable,
        exe: String::new(),
        args: args.unwrap_or_default(),
        truncated: Truncation::default(),
    })
}

/// `[{pid, executable}, ...]`, the parent first.
fn ancestry(rg: &Obj<'_>) -> Result<Vec<(u32, String)>, ReplayError> {
    let Some(list) = rg.get("ancestry", array)? else {
        return Ok(Vec::new());
    };
    // Live chains are at most that long; a longer one is not a record the
    // agent wrote (and a chain is dropped recursively: keep it short).
    if list.len() > ANCESTRY_DEPTH_MAX as usize {
        return Err(rg.err(
            "ancestry",
            format!(
                "lists {} ancestors; the agent writes at most {ANCESTRY_DEPTH_MAX}",
                list.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let key = format!("{}[{i}]", rg.key("ancestry"));
        let map = object(v).map_err(|r| ReplayError::new(key.clone(), r))?;
        let a = Obj { map, path: key };
        out.push((
            a.need("pid", unsigned::<u32>)?,
            a.get("executable", owned)?.unwrap_or_default(),
        ));
    }
    Ok(out)
}

/// The four ids come as a set (creds are known or not); the audit ids
/// only with them.
fn creds(process: &Obj<'_>, rgp: &Obj<'_>) -> Result<Option<Creds>, ReplayError> {
    let keys = ["user", "group", "real_user", "real_group"];
    let mut ids = [None; 4];
    for (id, k) in ids.iter_mut().zip(keys) {
        *id = process.id(k)?;
    }
    let login_uid = rgp.get("login_uid", unsigned::<u32>)?;
    let session_id = rgp.get("session_id", unsigned::<u32>)?;
    match ids {
        [Some(euid), Some(egid), Some(uid), Some(gid)] => Ok(Some(Creds {
            uid,
            gid,
            euid,
            egid,
            login_uid,
            session_id,
        })),
        [None, None, None, None] => {
            for (k, v) in [("login_uid", login_uid), ("session_id", session_id)] {
                if v.is_some() {
                    return Err(rgp.err(k, "given without the process's user and group ids"));
                }
            }
            Ok(None)
        }
        _ => {
            let missing = keys.iter().zip(ids).find(|(_, v)| v.is_none());
            let k = missing.map_or("user", |(k, _)| *k);
            Err(process.err(
                &format!("{k}.id"),
                "missing: process.user, group, real_user and real_group come together",
            ))
        }
    }
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
        id: d.need("id", unsigned::<u16>)?,
        name: q.need("name", owned)?,
        qtype: q.need("type", mnemonic(dns::type_from_name, "query type"))?,
        qclass: q.need("class", mnemonic(dns::class_from_name, "query class"))?,
        // QDCOUNT is not written; a parsed query has at least one.
        questions: 1,
        response: d.need("type", |v| one_of(v, &[(false, "query"), (true, "answer")]))?,
    }))
}

// ---- derived fields -------------------------------------------------------------

/// Fields the writer computes from other fields. Replay does not read
/// them; a line that carries one must carry the value its sources give.
const DERIVED: &[&str] = &[
    "event.category",
    "event.type",
    "event.outcome",
    "process.name",
    "process.args_count",
    "process.command_line",
    "process.end",
    "process.parent.name",
    "process.parent.args_count",
    "process.parent.command_line",
    "user.id",
    "file.name",
    "file.directory",
    "error.code",
    "network.type",
    "network.direction",
    "network.protocol",
];

/// Write `ev` back and compare the [`DERIVED`] fields with the line's.
fn check_derived(line: &Value, ev: &Event, hostname: &str) -> Result<(), ReplayError> {
    let ctx = Context {
        hostname: hostname.to_string(),
        agent_version: "",
        // The whole rebuilt chain (at most ANCESTRY_DEPTH_MAX long).
        ancestry_depth: usize::MAX,
    };
    let mut out = Vec::new();
    let written = record::write_line(&Record::Event(ev.clone()), &ctx, &mut out)
        .and_then(|()| serde_json::from_slice::<Value>(&out))
        .map_err(|e| ReplayError::new("", format!("cannot write the event back: {e}")))?;
    for path in DERIVED {
        let Some(given) = lookup(line, path)? else {
            continue;
        };
        match lookup(&written, path)? {
            Some(w) if same(given, w) => {}
            Some(w) => {
                return Err(ReplayError::new(
                    *path,
                    format!(
                        "is {}, but the fields it is derived from give {}",
                        short(given),
                        short(w)
                    ),
                ));
            }
            None => {
                return Err(ReplayError::new(
                    *path,
                    "is given, but the agent would not write it for this record",
                ));
            }
        }
    }
    Ok(())
}

/// The value at a dotted path; an error when a step is not an object.
fn lookup<'a>(v: &'a Value, path: &str) -> Result<Option<&'a Value>, ReplayError> {
    let mut at = v;
    let mut walked = 0;
    for step in path.split('.') {
        let Some(map) = at.as_object() else {
            let key = &path[..walked.max(1) - 1];
            return Err(ReplayError::new(
                key,
                format!("expected an object, found {}", found(at)),
            ));
        };
        match map.get(step) {
            Some(next) => at = next,
            None => return Ok(None),
        }
        walked += step.len() + 1;
    }
    Ok(Some(at))
}

/// Equal values; times equal as instants (the line may write fewer
/// fraction digits than the writer does).
fn same(given: &Value, written: &Value) -> bool {
    if given == written {
        return true;
    }
    match (given.as_str(), written.as_str()) {
        (Some(a), Some(b)) => matches!(
            (clock::parse_rfc3339(a), clock::parse_rfc3339(b)),
            (Some(x), Some(y)) if x == y
        ),
        _ => false,
    }
}

/// A value for an error message, cut to a readable length.
fn short(v: &Value) -> String {
    const MAX: usize = 80;
    let s = v.to_string();
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

#[cfg(test)]
mod tests;
