//! Rule fields against the records: for an event of every action, each
//! field a rule can name reads the value the record writer
//! (crate::record, docs/schema.md) writes for it, in the same form; and
//! every value a record carries is a rule field or is listed below as
//! one rules do not match.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value as Json;

use super::fields::{self, FIELDS, Field, Getter, Kind, Scratch, Value};
use super::{RuleErrors, RuleSet, parse_file};
use crate::model::event::{
    Body, CAP_XATTR, Event, ExitBody, ExitStatus, FileCaps, FileOp, NetFamily, NetOp, SignalBody,
    Xattr,
};
use crate::record::{self, Context, Record};
use crate::testkit;

/// Record values rules do not match, and why (by their path in the
/// record; `[]` stands for every element of a list).
const NOT_MATCHED: &[(&str, &str)] = &[
    ("@timestamp", "time, not a property of the event"),
    ("schema_version", "the same in every record"),
    ("record_type", "rules see events only"),
    ("event.kind", "`event` in every event"),
    ("event.sequence", "an agent counter"),
    ("agent.type", "the same in every record"),
    ("agent.version", "the same in every record"),
    ("host.hostname", "the same in every record"),
    ("host.name", "the same in every record"),
    ("host.id", "the same in every record"),
    ("host.os.type", "the same in every record"),
    ("agent.id", "the same in every record"),
    ("ecs.version", "the same in every record"),
    ("event.module", "the same in every record"),
    ("event.dataset", "in event.category"),
    ("event.created", "time"),
    (
        "rand_guard.file.xattr.size",
        "the value's size: rules match the attribute's name",
    ),
    (
        "rand_guard.file.xattr.capabilities.permitted",
        "capability sets are judged by rg-perm-file-capability (docs/detections.md)",
    ),
    (
        "rand_guard.file.xattr.capabilities.inheritable",
        "capability sets are judged by rg-perm-file-capability (docs/detections.md)",
    ),
    (
        "rand_guard.file.xattr.capabilities.effective",
        "capability sets are judged by rg-perm-file-capability (docs/detections.md)",
    ),
    (
        "rand_guard.file.xattr.capabilities.root_uid",
        "capability sets are judged by rg-perm-file-capability (docs/detections.md)",
    ),
    (
        "process.entity_id",
        "derived from process.pid and the start: match the pid",
    ),
    (
        "process.parent.entity_id",
        "derived from process.parent.pid and its start: match the pid",
    ),
    ("group.id", "in process.real_group.id"),
    (
        "user.name",
        "names are resolved by the writer, after detection: rules match ids",
    ),
    (
        "group.name",
        "names are resolved by the writer, after detection: rules match ids",
    ),
    (
        "process.user.name",
        "names are resolved by the writer, after detection: rules match ids",
    ),
    (
        "process.group.name",
        "names are resolved by the writer, after detection: rules match ids",
    ),
    (
        "process.real_user.name",
        "names are resolved by the writer, after detection: rules match ids",
    ),
    (
        "process.real_group.name",
        "names are resolved by the writer, after detection: rules match ids",
    ),
    (
        "orchestrator.type",
        "`kubernetes` whenever a pod uid is written",
    ),
    (
        "orchestrator.resource.type",
        "`pod` whenever a pod uid is written",
    ),
    ("process.thread.id", "which thread is incidental"),
    ("process.start", "time"),
    ("process.end", "time"),
    ("process.parent.start", "time"),
    ("rand_guard.process.session_id", "an audit counter"),
    (
        "rand_guard.process.origin",
        "how the agent learned the process",
    ),
    ("rand_guard.exit.lifetime_ns", "time"),
    (
        "rand_guard.exit.signal",
        "in process.exit_code (128 + signal)",
    ),
    ("rand_guard.exit.core_dumped", "rarely telling"),
    ("rand_guard.file.result", "in event.outcome"),
    ("rand_guard.file.at_flags", "syscall detail"),
    ("rand_guard.file.path_source", "how the path was resolved"),
    ("error.code", "failures are rare in rules; event.outcome"),
    ("network.protocol", "`dns` exactly for dns_query"),
    ("dns.type", "`query` for what the agent reports"),
    ("dns.id", "a random message id"),
    ("dns.question.class", "`IN` in practice"),
    ("rand_guard.network.family", "in network.type"),
    ("rand_guard.network.socket_type", "in network.transport"),
    ("rand_guard.network.in_progress", "syscall detail"),
    ("rand_guard.network.dns_error", "malformed datagrams"),
    ("rand_guard.truncated", "bounds the agent hit"),
];

/// Where a field's value is in the record, when not at its own name.
fn record_path(field: &str) -> &str {
    match field {
        "process.ancestors.pid" => "rand_guard.ancestry[].pid",
        "process.ancestors.executable" | "process.ancestors.name" => {
            "rand_guard.ancestry[].executable"
        }
        other => other,
    }
}

/// One event of every action, by a process with a parent and ancestors.
fn events() -> Vec<Event> {
    let nginx = testkit::chain(&["/sbin/init", "/usr/sbin/nginx"]);
    let sh = testkit::process(300, "/bin/sh", &["sh", "-c", "id; uname -a"], nginx.clone());
    // Started with a preloaded library, so process.env_vars is written.
    let mut sh = (*sh).clone();
    std::sync::Arc::make_mut(&mut sh.image).env_vars = vec!["LD_PRELOAD=/tmp/x.so".into()];
    let sh = std::sync::Arc::new(sh);
    let p = &sh;
    // Hashed, so process.hash.sha256 and the parent's are in the records.
    use crate::model::hash::Hashed;
    p.image.hash.set(Hashed::from_digest(&[0x5a; 32])).unwrap();
    if let Some(n) = &nginx {
        n.image.hash.set(Hashed::from_digest(&[0xa5; 32])).unwrap();
    }
    let with_body = |ms: u64, body: Body| Event {
        seq: ms,
        time_ns: testkit::WALL + ms * 1_000_000,
        ktime_ns: testkit::BOOT + ms * 1_000_000,
        pid: p.pid,
        tid: p.pid + 1,
        body,
        process: Some(p.clone()),
    };
    let net = |ms: u64, op: NetOp, f: &dyn Fn(&mut crate::model::event::NetBody)| {
        let mut b = testkit::connect_body("203.0.113.7:443");
        b.op = op;
        f(&mut b);
        with_body(ms, Body::Net(b))
    };
    let dns_query = [
        0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'e', b'v', b'l', 3, b'c', b'o', b'm', 0, 0,
        28, 0, 1,
    ];
    let mut events = vec![
        testkit::exec(1, p),
        with_body(
            2,
            Body::Fork(crate::model::event::ForkBody {
                parent_pid: p.ppid,
                parent_start_ns: 0,
                child_ppid: p.ppid,
                child_start_ns: p.start_ns,
            }),
        ),
        with_body(
            3,
            Body::Exit(ExitBody {
                start_ns: p.start_ns,
                ppid: p.ppid,
                name: "sh".into(),
                status: ExitStatus::from_wait_status(9),
            }),
        ),
        with_body(
            4,
            Body::Signal(SignalBody {
                target_pid: 77,
                target_tid: 78,
                signal: 15,
                code: "SI_USER",
                result: "delivered",
            }),
        ),
        testkit::file_with(5, p, FileOp::Open, "/etc/cron.d/job", |f| {
            f.mode = Some(0o644);
            f.open_flags = 0o1101 | 0o2000000;
        }),
        testkit::file_with(6, p, FileOp::Open, "/etc/shadow", |f| {
            f.open_flags = 0;
            f.watched = Some("/etc/shadow".into());
        }),
        testkit::file_with(7, p, FileOp::Unlink, "/tmp/x", |f| f.result = -13),
        testkit::file_with(8, p, FileOp::Rename, "/usr/bin/ls", |f| {
            f.original_path = Some("/tmp/ls".into());
            f.at_flags = 1;
        }),
        testkit::file_with(9, p, FileOp::Chmod, "/tmp/x", |f| f.mode = Some(0o4755)),
        testkit::file_with(10, p, FileOp::Chown, "/tmp/x", |f| {
            f.owner = Some(0);
            f.group = Some(0);
        }),
        testkit::file_with(11, p, FileOp::Link, "/tmp/l", |f| {
            f.target_path = Some("/etc/passwd".into())
        }),
        testkit::file_with(12, p, FileOp::Symlink, "/tmp/s", |f| {
            f.target_path = Some("../etc".into())
        }),
        testkit::file_with(12, p, FileOp::ExecRefused, "/tmp/noshebang", |f| {
            f.syscall = "execve";
            f.result = -8;
        }),
        testkit::file_with(12, p, FileOp::SetXattr, "/tmp/py", |f| {
            f.syscall = "setxattr";
            f.xattr = Some(Xattr {
                name: CAP_XATTR.into(),
                size: Some(20),
                caps: Some(FileCaps {
                    permitted: 1 << 7 | 1 << 45,
                    inheritable: 0,
                    effective: true,
                    root_uid: Some(100_000),
                }),
            });
        }),
        testkit::file_with(12, p, FileOp::RemoveXattr, "/tmp/py", |f| {
            f.syscall = "fremovexattr";
            f.xattr = Some(Xattr {
                name: "user.note".into(),
                size: None,
                caps: None,
            });
        }),
        net(13, NetOp::Connect, &|b| {
            b.in_progress = true;
            b.result = -115;
        }),
        net(14, NetOp::Bind, &|b| b.remote = None),
        net(15, NetOp::Listen, &|b| {
            b.remote = None;
            b.family = NetFamily::Unix;
            b.local = None;
            b.unix_path = Some("/run/x.sock".into());
        }),
        net(16, NetOp::Accept, &|_| {}),
        net(17, NetOp::DnsQuery, &|b| {
            b.protocol = 17;
            b.sock_type = 2;
            b.syscall = "sendto";
            b.remote = Some("[2001:db8::53]:53".parse().unwrap());
            b.local = Some("[2001:db8::2]:5353".parse().unwrap());
            b.family = NetFamily::Inet6;
            b.dns = Some(crate::model::dns::parse_query(&dns_query));
        }),
        testkit::stdio(18, p, "dup2", 0b011, 4242, "203.0.113.7:4444"),
        // A datagram to port 53 that is no query: no `dns`, an error.
        net(19, NetOp::DnsQuery, &|b| {
            b.protocol = 17;
            b.sock_type = 2;
            b.dns = Some(Err(crate::model::dns::DnsError::Short));
            b.truncated.payload = true;
        }),
    ];
    // A process the agent never knew: only what an exit carries.
    events.push(Event {
        process: None,
        ..with_body(
            20,
            Body::Exit(ExitBody {
                start_ns: 0,
                ppid: 1,
                name: "stranger".into(),
                status: ExitStatus::from_wait_status(1 << 8),
            }),
        )
    });
    // The same events from a container in a pod, and from a unit.
    let mut pod = (*testkit::in_container(p, "web-1", "localhost/busy:1")).clone();
    let mut cg = (**pod.cgroup.as_ref().unwrap()).clone();
    cg.container.as_mut().unwrap().pod_uid = Some("0b6a5d2e-9c1f-4a8b-b3d4-1e2f3a4b5c6d".into());
    pod.cgroup = Some(Arc::new(cg));
    let pod = Arc::new(pod);
    let unit = testkit::in_unit(p, "cron.service");
    let known: Vec<Event> = events
        .iter()
        .filter(|e| e.process.is_some())
        .cloned()
        .collect();
    for who in [pod, unit] {
        events.extend(known.iter().map(|e| Event {
            process: Some(who.clone()),
            ..e.clone()
        }));
    }
    events
}

/// Every action has an event above.
#[test]
fn the_events_cover_every_action() {
    let seen: BTreeSet<&str> = events().iter().map(|e| e.body.action()).collect();
    let all: BTreeSet<&str> = fields::ACTIONS.iter().copied().collect();
    assert_eq!(seen, all);
}

/// A value as text, in the form the record writes it, or None when the
/// event has none: one entry per element of a list.
fn rule_value(f: &Field, ev: &Event, scratch: &mut Scratch) -> Option<Vec<String>> {
    let one = |v: Value<'_>| -> Option<Vec<String>> {
        Some(match v {
            Value::Missing => return None,
            Value::Str(s) => vec![s.to_string()],
            Value::StrList(l) => l.to_vec(),
            Value::Int(i) => vec![match f.kind {
                Kind::Named(names) => (names.name)(i),
                // The record writes modes as four octal digits.
                _ if f.name == "file.mode" => format!("{i:04o}"),
                _ => i.to_string(),
            }],
            Value::Ip(ip) => vec![ip.to_string()],
            Value::Strs(l) => l.iter().map(|s| s.to_string()).collect(),
            Value::IntBits(b) => (0..64)
                .filter(|i| b & (1 << i) != 0)
                .map(|i| i.to_string())
                .collect(),
        })
    };
    scratch.reset();
    match f.get {
        Getter::Event(get) => one(get(ev)),
        Getter::CommandLine => scratch.command_line(ev).map(|s| vec![s.to_string()]),
        Getter::ParentCommandLine => scratch.parent_command_line(ev).map(|s| vec![s.to_string()]),
        Getter::Ancestor(get) => {
            let all: Vec<String> = ev
                .process
                .iter()
                .flat_map(|p| p.ancestors())
                .flat_map(|a| one(get(a)).unwrap_or_default())
                .collect();
            (!all.is_empty()).then_some(all)
        }
    }
}

/// The record's value at `path` (`a.b`, `a[].b` for each element) as
/// text, or None when absent.
fn record_value(doc: &Json, path: &str) -> Option<Vec<String>> {
    fn text(v: &Json) -> Vec<String> {
        match v {
            Json::String(s) => vec![s.clone()],
            Json::Array(items) => items.iter().flat_map(text).collect(),
            other => vec![other.to_string()],
        }
    }
    let (head, rest) = match path.split_once("[].") {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let mut v = doc;
    for k in head.split('.') {
        v = v.get(k)?;
    }
    match rest {
        None => Some(text(v)),
        Some(r) => Some(
            v.as_array()?
                .iter()
                .filter_map(|e| e.get(r))
                .flat_map(text)
                .collect(),
        ),
    }
}

/// Leaf paths of a record, lists as `[]`.
fn leaves(v: &Json, prefix: &str, out: &mut BTreeSet<String>) {
    let at = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Json::Object(m) => m.iter().for_each(|(k, v)| leaves(v, &at(k), out)),
        Json::Array(items) if items.iter().any(Json::is_object) => {
            for item in items {
                leaves(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

fn write(ev: &Event) -> Json {
    let ctx = Context {
        hostname: "h".into(),
        agent_version: "0",
        ancestry_depth: 8,
        hook_paths: Vec::new(),
        ids: crate::testkit::host_ids(),
    };
    let mut out = Vec::new();
    record::write_line(&Record::Event(ev.clone()), &ctx, &mut out).unwrap();
    serde_json::from_slice(&out).unwrap()
}

/// For every event, every field of its action reads what its record
/// says; every field is seen with a value somewhere.
#[test]
fn every_field_reads_what_the_record_writes() {
    let mut scratch = Scratch::default();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for ev in events() {
        let doc = write(&ev);
        let action = ev.body.action();
        for f in FIELDS.iter().filter(|f| f.actions.contains(&action)) {
            let got = rule_value(f, &ev, &mut scratch);
            let mut want = record_value(&doc, record_path(f.name));
            if f.name == "process.ancestors.name" {
                // Not written: the name of each ancestor's executable.
                want = want.map(|w| {
                    w.iter()
                        .map(|e| e.rsplit('/').next().unwrap().to_string())
                        .collect()
                });
            }
            if f.name == "rand_guard.file.open_flags" {
                // Rules test the bits (names compile to them), the record
                // names them: compare as the bits the names stand for.
                want = want.map(|names| vec![open_flag_bits(&names).to_string()]);
            }
            assert_eq!(got, want, "{action} {}: {doc}", f.name);
            if got.is_some() {
                seen.insert(f.name);
            }
        }
    }
    let never: Vec<&str> = FIELDS
        .iter()
        .map(|f| f.name)
        .filter(|n| !seen.contains(n))
        .collect();
    assert!(never.is_empty(), "never read with a value: {never:?}");
}

/// The bits of `rand_guard.file.open_flags` names as the record writes them.
fn open_flag_bits(names: &[String]) -> u64 {
    names
        .iter()
        .map(|n| match n.as_str() {
            "O_RDONLY" => 0,
            "O_WRONLY" => 1,
            "O_RDWR" => 2,
            hex if hex.starts_with("0x") => u64::from_str_radix(&hex[2..], 16).unwrap(),
            name => {
                record::OPEN_FLAG_NAMES
                    .iter()
                    .find(|(_, n)| *n == name)
                    .unwrap_or_else(|| panic!("{name}"))
                    .0
            }
        })
        .fold(0, |a, b| a | b)
}

/// Every value of every record is a rule field or in [`NOT_MATCHED`].
#[test]
fn every_record_value_is_a_rule_field_or_listed() {
    let matched: BTreeSet<&str> = FIELDS.iter().map(|f| record_path(f.name)).collect();
    let listed: BTreeSet<&str> = NOT_MATCHED.iter().map(|(p, _)| *p).collect();
    let mut missing = BTreeSet::new();
    let mut used = BTreeSet::new();
    for ev in events() {
        let mut paths = BTreeSet::new();
        leaves(&write(&ev), "", &mut paths);
        for p in paths {
            if matched.contains(p.as_str()) {
                continue;
            }
            if listed.contains(p.as_str()) {
                used.insert(p);
            } else {
                missing.insert(format!("{} ({})", p, ev.body.action()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "record values no rule field reads: {missing:#?}"
    );
    let stale: Vec<&&str> = listed.iter().filter(|p| !used.contains(**p)).collect();
    assert!(stale.is_empty(), "listed but in no record: {stale:?}");
}

fn set(text: &str) -> RuleSet {
    let rules = parse_file(Path::new("/r/t.toml"), text)
        .unwrap_or_else(|e| panic!("{}\n{text}", RuleErrors(e)));
    RuleSet::from_rules(rules)
}

/// The ids of the rules of `text` that `ev` matches.
fn fired(text: &str, ev: &Event) -> Vec<String> {
    let s = set(text);
    let mut out = Vec::new();
    s.matches(ev, &mut Scratch::default(), &mut out);
    out.iter().map(|i| s.rules()[*i].meta.id.clone()).collect()
}

fn rule(id: &str, events: &str, field: &str, test: &str) -> String {
    format!(
        "[[rules]]\nid = \"{id}\"\nname = \"N\"\nseverity = \"low\"\nevents = [\"{events}\"]\n\
         [[rules.all]]\nfield = \"{field}\"\n{test}\n"
    )
}

fn event_of(action: &str) -> Event {
    events()
        .into_iter()
        .find(|e| e.body.action() == action && e.process.is_some())
        .unwrap()
}

/// `dns.question.type` is the name the record writes ("AAAA"); the
/// number still works.
#[test]
fn dns_question_type_is_the_name_the_record_writes() {
    let ev = event_of("dns_query");
    assert_eq!(write(&ev)["dns"]["question"]["type"], "AAAA");
    let text = [
        rule(
            "name",
            "dns_query",
            "dns.question.type",
            "equals = \"AAAA\"",
        ),
        rule(
            "names",
            "dns_query",
            "dns.question.type",
            "in = [\"A\", \"AAAA\"]",
        ),
        rule(
            "other",
            "dns_query",
            "dns.question.type",
            "in = [\"A\", \"TXT\"]",
        ),
        rule("number", "dns_query", "dns.question.type", "equals = 28"),
        rule(
            "range",
            "dns_query",
            "dns.question.type",
            "range = [16, 28]",
        ),
        rule(
            "unnamed",
            "dns_query",
            "dns.question.type",
            "equals = \"TYPE65280\"",
        ),
    ]
    .concat();
    assert_eq!(fired(&text, &ev), ["name", "names", "number", "range"]);

    let e = parse_file(
        Path::new("/r/t.toml"),
        &rule("r", "dns_query", "dns.question.type", "equals = \"AAAAA\""),
    )
    .unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "rules file /r/t.toml: rule `r`: key `all[0].equals`: \"AAAAA\" is not a DNS query \
         type as records write it (A, AAAA, TXT, ..., TYPE<n> for types without a name)"
    );
    // Type 28 is written "AAAA", never "TYPE28".
    let e = parse_file(
        Path::new("/r/t.toml"),
        &rule("r", "dns_query", "dns.question.type", "in = [\"TYPE28\"]"),
    )
    .unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "rules file /r/t.toml: rule `r`: key `all[0].in[0]`: \"TYPE28\" is not a DNS query \
         type as records write it (A, AAAA, TXT, ..., TYPE<n> for types without a name)"
    );
    let e = parse_file(
        Path::new("/r/t.toml"),
        &rule("r", "dns_query", "dns.question.type", "prefix = \"A\""),
    )
    .unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "rules file /r/t.toml: rule `r`: key `all[0].prefix`: prefix does not apply to \
         dns.question.type, which is a name, matched by equals or in (or a number operator)"
    );
}

/// The record fields rules could not name before: the parent's command
/// line, event.type, the signal and stdio-socket fields.
#[test]
fn record_fields_rules_could_not_name() {
    let cases: &[(&str, &str, &str, bool)] = &[
        // (action, field, test, matches)
        (
            "exec",
            "process.parent.command_line",
            "contains = \"nginx\"",
            true,
        ),
        (
            "exec",
            "process.parent.command_line",
            "equals = \"/usr/sbin/nginx\"",
            true,
        ),
        ("exec", "process.parent.args_count", "equals = 1", true),
        ("exec", "event.type", "equals = \"start\"", true),
        ("open", "event.type", "in = [\"creation\"]", true),
        ("open", "event.type", "equals = \"access\"", false),
        ("signal", "event.type", "equals = \"info\"", true),
        ("signal", "rand_guard.signal.number", "equals = 15", true),
        (
            "signal",
            "rand_guard.signal.name",
            "equals = \"SIGTERM\"",
            true,
        ),
        (
            "signal",
            "rand_guard.signal.name",
            "in = [\"SIGKILL\", \"SIGSTOP\"]",
            false,
        ),
        (
            "signal",
            "rand_guard.signal.code",
            "equals = \"SI_USER\"",
            true,
        ),
        (
            "signal",
            "rand_guard.signal.result",
            "equals = \"delivered\"",
            true,
        ),
        (
            "signal",
            "rand_guard.signal.target.pid",
            "equals = 77",
            true,
        ),
        (
            "signal",
            "rand_guard.signal.target.thread.id",
            "equals = 78",
            true,
        ),
        (
            "stdio_socket",
            "rand_guard.network.syscall",
            "equals = \"dup2\"",
            true,
        ),
        (
            "stdio_socket",
            "rand_guard.network.result",
            "equals = 0",
            true,
        ),
        (
            "stdio_socket",
            "rand_guard.network.stdio_fds",
            "equals = 1",
            true,
        ),
        (
            "stdio_socket",
            "rand_guard.network.stdio_fds",
            "equals = 2",
            false,
        ),
        (
            "stdio_socket",
            "rand_guard.network.socket_inode",
            "equals = 4242",
            true,
        ),
        (
            "connect",
            "rand_guard.network.syscall",
            "equals = \"connect\"",
            true,
        ),
    ];
    for (action, field, test, want) in cases {
        let text = rule("r", action, field, test);
        let got = !fired(&text, &event_of(action)).is_empty();
        assert_eq!(got, *want, "{action} {field} {test}");
    }
}

/// A signal name is one the record writes; numbers work too.
#[test]
fn signal_names_are_the_records() {
    let ev = event_of("signal");
    let text = [
        rule("num", "signal", "rand_guard.signal.name", "equals = 15"),
        rule(
            "rt",
            "signal",
            "rand_guard.signal.name",
            "equals = \"SIGRTMIN+2\"",
        ),
    ]
    .concat();
    assert_eq!(fired(&text, &ev), ["num"]);
    let e = parse_file(
        Path::new("/r/t.toml"),
        &rule("r", "signal", "rand_guard.signal.name", "equals = \"TERM\""),
    )
    .unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "rules file /r/t.toml: rule `r`: key `all[0].equals`: \"TERM\" is not a signal \
         as records write it (SIGTERM, SIGKILL, ..., SIGRTMIN+<n>)"
    );
}
