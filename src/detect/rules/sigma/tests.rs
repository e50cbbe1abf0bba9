//! A table of self-written Sigma rules: every modifier, wildcard and
//! condition form, each with an event that must match and a near miss
//! that must not; then every refusal with its kind, construct and reason.

use std::path::Path;
use std::sync::Arc;

use super::values::{base64, base64_offsets};
use super::*;
use crate::detect::rules::RuleSet;
use crate::detect::rules::fields::Scratch;
use crate::model::dns::Query;
use crate::model::event::{Body, Event, FileOp, NetOp};
use crate::model::proctable::Process;
use crate::testkit;

fn proc_of(exe: &str, args: &[&str], parent: bool) -> Arc<Process> {
    let parent = parent.then(|| testkit::process(10, "/usr/bin/bash", &["bash", "-i"], None));
    testkit::process(20, exe, args, parent)
}

/// An exec of `exe` with `args` below `bash -i`.
pub(super) fn ex(exe: &str, args: &[&str]) -> Event {
    testkit::exec(1, &proc_of(exe, args, true))
}

/// As [`ex`], without a known parent.
fn orphan(exe: &str, args: &[&str]) -> Event {
    testkit::exec(1, &proc_of(exe, args, false))
}

fn with_euid(mut ev: Event, euid: u32) -> Event {
    let p = ev.process.as_deref().unwrap().clone();
    let mut p = p;
    p.creds.as_mut().unwrap().euid = euid;
    ev.process = Some(Arc::new(p));
    ev
}

/// `ev` with its process's image changed by `f` (working directory, hash).
fn with_image(mut ev: Event, f: impl FnOnce(&mut crate::model::event::Image)) -> Event {
    let mut p = ev.process.as_deref().unwrap().clone();
    let mut img = (*p.image).clone();
    f(&mut img);
    p.image = Arc::new(img);
    ev.process = Some(Arc::new(p));
    ev
}

fn in_dir(ev: Event, dir: &str) -> Event {
    with_image(ev, |i| i.working_directory = dir.into())
}

fn hashed(ev: Event, byte: u8) -> Event {
    with_image(ev, |i| {
        let _ = i
            .hash
            .set(crate::model::hash::Hashed::from_digest(&[byte; 32]));
    })
}

fn cp() -> Arc<Process> {
    proc_of("/usr/bin/cp", &["cp", "a", "b"], true)
}

pub(super) fn file(op: FileOp, path: &str) -> Event {
    testkit::file(2, &cp(), op, path)
}

fn read(path: &str) -> Event {
    testkit::file_with(2, &cp(), FileOp::Open, path, |b| b.open_flags = 0)
}

fn rename(from: &str, to: &str) -> Event {
    testkit::file_with(2, &cp(), FileOp::Rename, to, |b| {
        b.original_path = Some(from.into())
    })
}

pub(super) fn net(op: NetOp, remote: &str) -> Event {
    let mut ev = testkit::connect(3, &proc_of("/usr/bin/nc", &["nc"], true), remote);
    if let Body::Net(n) = &mut ev.body {
        n.op = op;
        n.syscall = if op == NetOp::Accept {
            "accept"
        } else {
            "connect"
        };
    }
    ev
}

pub(super) fn dns(name: &str) -> Event {
    let mut ev = net(NetOp::DnsQuery, "192.0.2.53:53");
    if let Body::Net(n) = &mut ev.body {
        n.syscall = "sendto";
        n.protocol = 17;
        n.dns = Some(Ok(Query {
            id: 1,
            name: name.into(),
            qtype: 1,
            qclass: 1,
            questions: 1,
            response: false,
        }));
    }
    ev
}

/// One rule of `category` with `detection` (YAML, indented by the
/// caller's newlines), loaded without skips.
fn rule(category: &str, detection: &str) -> RuleSet {
    let text = doc(category, detection);
    let f = parse_file(Path::new("/r/t.yml"), &text).unwrap();
    assert!(f.skipped.is_empty(), "{:?}\n{text}", f.skipped);
    assert_eq!(f.rules.len(), 1);
    RuleSet::from_rules(f.rules)
}

pub(super) fn doc(category: &str, detection: &str) -> String {
    let det: String = detection.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "title: Test rule\nid: 5f0c2a52-0000-4000-8000-000000000001\nstatus: test\n\
         logsource:\n    product: linux\n    category: {category}\ndetection:\n{det}level: high\n"
    )
}

pub(super) fn hits(s: &RuleSet, ev: &Event) -> bool {
    let mut out = Vec::new();
    s.matches(ev, &mut Scratch::default(), &mut out);
    !out.is_empty()
}

pub(super) const PC: &str = "process_creation";

/// (what, category, detection, must match, near miss)
fn table() -> Vec<(&'static str, &'static str, &'static str, Event, Event)> {
    let curl = || {
        ex(
            "/usr/bin/curl",
            &["curl", "-fsSL", "http://203.0.113.9/x.sh"],
        )
    };
    // The hex of a digest of 32 0xab bytes, as Sysmon writes it (upper case).
    let ab = "AB".repeat(32);
    vec![
        (
            "CurrentDirectory is process.working_directory",
            PC,
            "sel:\n    CurrentDirectory|startswith: '/tmp/'\ncondition: sel",
            in_dir(curl(), "/tmp/build"),
            in_dir(curl(), "/home/ann"),
        ),
        (
            "Hashes: the SHA256 of Sysmon's list, with contains",
            PC,
            Box::leak(
                format!("sel:\n    Hashes|contains: 'SHA256={ab}'\ncondition: sel").into_boxed_str(),
            ),
            hashed(curl(), 0xab),
            hashed(curl(), 0xac),
        ),
        (
            "Hashes: a list, MD5 values left out, a whole Sysmon value",
            PC,
            Box::leak(
                format!(
                    "sel:\n    Hashes:\n      - 'MD5=0123'\n      - 'MD5=01,SHA256={ab},IMPHASH=02'\ncondition: sel"
                )
                .into_boxed_str(),
            ),
            hashed(curl(), 0xab),
            // Not hashed (yet): no match.
            curl(),
        ),
        (
            "plain value, case-insensitive",
            PC,
            "sel:\n    Image: '/USR/BIN/Curl'\ncondition: sel",
            curl(),
            ex("/usr/bin/curlx", &["curlx"]),
        ),
        (
            "contains",
            PC,
            "sel:\n    CommandLine|contains: 'FSSL http'\ncondition: sel",
            curl(),
            ex("/usr/bin/curl", &["curl", "-fsS", "http://x"]),
        ),
        (
            "startswith",
            PC,
            "sel:\n    CommandLine|startswith: 'curl -f'\ncondition: sel",
            curl(),
            ex("/usr/bin/curl", &["xcurl", "-f"]),
        ),
        (
            "endswith a file name (hash-indexed)",
            PC,
            "sel:\n    Image|endswith: '/curl'\ncondition: sel",
            curl(),
            ex("/usr/bin/notcurl", &["notcurl"]),
        ),
        (
            "endswith, a list is OR",
            PC,
            "sel:\n    Image|endswith:\n        - '/wget'\n        - '/CURL'\ncondition: sel",
            curl(),
            ex("/usr/bin/curl.bak", &["curl"]),
        ),
        (
            "all: every value",
            PC,
            "sel:\n    CommandLine|contains|all:\n        - '-f'\n        - 'http://'\ncondition: sel",
            curl(),
            ex("/usr/bin/curl", &["curl", "-f", "ftp://x"]),
        ),
        (
            "wildcard *",
            PC,
            "sel:\n    CommandLine: 'curl*http://*.sh'\ncondition: sel",
            curl(),
            ex("/usr/bin/curl", &["curl", "http://x/y.py"]),
        ),
        (
            "wildcard ? is exactly one character",
            PC,
            "sel:\n    Image: '/usr/bin/cur?'\ncondition: sel",
            curl(),
            ex("/usr/bin/curl2", &["curl2"]),
        ),
        (
            "escaped wildcard is literal",
            PC,
            "sel:\n    CommandLine|contains: 'a\\*b'\ncondition: sel",
            ex("/usr/bin/echo", &["echo", "a*b"]),
            ex("/usr/bin/echo", &["echo", "axb"]),
        ),
        (
            "escaped backslash before a wildcard",
            PC,
            "sel:\n    CommandLine: 'echo x\\\\*'\ncondition: sel",
            ex("/usr/bin/echo", &["echo", "x\\abc"]),
            ex("/usr/bin/echo", &["echo", "xabc"]),
        ),
        (
            "re is case-sensitive",
            PC,
            "sel:\n    CommandLine|re: 'curl .*-f[sS]+L'\ncondition: sel",
            curl(),
            ex("/usr/bin/curl", &["CURL", "-fsSL"]),
        ),
        (
            "re|i ignores case",
            PC,
            "sel:\n    CommandLine|re|i: '^curl -FSSL'\ncondition: sel",
            ex("/usr/bin/curl", &["CURL", "-fssl"]),
            ex("/usr/bin/curl", &["xcurl", "-fssl"]),
        ),
        (
            "re|s: dot spans newlines",
            PC,
            "sel:\n    CommandLine|re|s: 'a.b'\ncondition: sel",
            ex("/usr/bin/printf", &["printf", "a\nb"]),
            ex("/usr/bin/printf", &["printf", "a\n\nb"]),
        ),
        (
            "re|m: ^ at each line",
            PC,
            "sel:\n    CommandLine|re|m: '^b$'\ncondition: sel",
            ex("/usr/bin/printf", &["printf", "a\nb"]),
            ex("/usr/bin/printf", &["printf", "a\nbb"]),
        ),
        (
            "cased",
            PC,
            "sel:\n    Image|cased: '/usr/bin/curl'\ncondition: sel",
            curl(),
            ex("/usr/bin/CURL", &["CURL"]),
        ),
        (
            "base64",
            PC,
            "sel:\n    CommandLine|base64|contains: 'hello'\ncondition: sel",
            ex("/usr/bin/echo", &["echo", "aGVsbG8=", "|", "base64", "-d"]),
            ex("/usr/bin/echo", &["echo", "hello"]),
        ),
        (
            "base64offset",
            PC,
            "sel:\n    CommandLine|base64offset|contains: 'curl '\ncondition: sel",
            ex("/usr/bin/echo", &["echo", "ZWNobzsgY3VybCBodHRwOi8veA=="]),
            ex("/usr/bin/echo", &["echo", "curl http://x"]),
        ),
        (
            "windash: an en dash for a dash",
            PC,
            "sel:\n    CommandLine|windash|contains: ' -f '\ncondition: sel",
            ex("/usr/bin/tool", &["tool", "\u{2013}f", "x"]),
            ex("/usr/bin/tool", &["tool", "f", "x"]),
        ),
        (
            "windash: a slash for a dash",
            PC,
            "sel:\n    CommandLine|windash|contains: ' -f '\ncondition: sel",
            ex("/usr/bin/tool", &["tool", "/f", "x"]),
            ex("/usr/bin/tool", &["tool", "+f", "x"]),
        ),
        (
            "exists: false",
            PC,
            "sel:\n    ParentImage|exists: false\ncondition: sel",
            orphan("/usr/bin/curl", &["curl"]),
            curl(),
        ),
        (
            "exists: true",
            PC,
            "sel:\n    ParentImage|exists: true\ncondition: sel",
            curl(),
            orphan("/usr/bin/curl", &["curl"]),
        ),
        (
            "null: the field has no value",
            PC,
            "sel:\n    ParentCommandLine: null\ncondition: sel",
            orphan("/usr/bin/curl", &["curl"]),
            curl(),
        ),
        (
            "neq",
            PC,
            "sel:\n    Image|neq: '/usr/bin/curl'\ncondition: sel",
            ex("/usr/bin/wget", &["wget"]),
            curl(),
        ),
        (
            "parent fields",
            PC,
            "sel:\n    ParentImage|endswith: '/bash'\n    ParentCommandLine: 'bash -i'\ncondition: sel",
            curl(),
            orphan("/usr/bin/curl", &["curl"]),
        ),
        (
            "User root",
            PC,
            "sel:\n    User: root\ncondition: sel",
            with_euid(curl(), 0),
            curl(),
        ),
        (
            "User by uid",
            PC,
            "sel:\n    User: 1000\ncondition: sel",
            curl(),
            with_euid(curl(), 0),
        ),
        (
            "lt / gte on numbers",
            PC,
            "a:\n    ProcessId|lt: 21\nb:\n    ProcessId|gte: 20\ncondition: a and b",
            curl(),
            testkit::exec(1, &testkit::process(21, "/usr/bin/curl", &["curl"], None)),
        ),
        (
            "gt / lte on ports",
            "network_connection",
            "sel:\n    DestinationPort|gt: 4443\n    DestinationPort|lte: 4444\ncondition: sel",
            net(NetOp::Connect, "203.0.113.7:4444"),
            net(NetOp::Connect, "203.0.113.7:4445"),
        ),
        (
            "cidr",
            "network_connection",
            "sel:\n    DestinationIp|cidr: '203.0.113.0/24'\ncondition: sel",
            net(NetOp::Connect, "203.0.113.7:80"),
            net(NetOp::Connect, "203.0.114.7:80"),
        ),
        (
            "an IP by value, and a port (both indexed)",
            "network_connection",
            "sel:\n    DestinationIp: 203.0.113.7\n    DestinationPort: 4444\ncondition: sel",
            net(NetOp::Connect, "203.0.113.7:4444"),
            net(NetOp::Connect, "203.0.113.7:4443"),
        ),
        (
            "startswith on an IP's text",
            "network_connection",
            "sel:\n    DestinationIp|startswith: '203.0.'\ncondition: sel",
            net(NetOp::Connect, "203.0.113.7:80"),
            net(NetOp::Connect, "10.203.0.1:80"),
        ),
        (
            "Initiated: 'true' is a connect",
            "network_connection",
            "sel:\n    Initiated: 'true'\n    DestinationPort: 4444\ncondition: sel",
            net(NetOp::Connect, "203.0.113.7:4444"),
            net(NetOp::Accept, "203.0.113.7:4444"),
        ),
        (
            "SourceIp, Protocol",
            "network_connection",
            "sel:\n    SourceIp|cidr: 10.0.0.0/8\n    Protocol: TCP\ncondition: sel",
            net(NetOp::Connect, "203.0.113.7:80"),
            net(NetOp::Accept, "[2001:db8::1]:80"),
        ),
        (
            "file_event: a write",
            "file_event",
            "sel:\n    TargetFilename|startswith: '/etc/cron.d/'\ncondition: sel",
            file(FileOp::Open, "/etc/cron.d/job"),
            read("/etc/cron.d/job"),
        ),
        (
            "file_event: a rename's new name",
            "file_event",
            "sel:\n    TargetFilename|endswith: '/authorized_keys'\ncondition: sel",
            rename("/tmp/k", "/root/.ssh/authorized_keys"),
            rename("/root/.ssh/authorized_keys", "/tmp/k"),
        ),
        (
            "file_create",
            "file_create",
            "sel:\n    TargetFilename: '/etc/ld.so.preload'\ncondition: sel",
            file(FileOp::Open, "/etc/ld.so.preload"),
            testkit::file_with(2, &cp(), FileOp::Open, "/etc/ld.so.preload", |b| {
                b.open_flags = 0o1001
            }),
        ),
        (
            "file_delete",
            "file_delete",
            "sel:\n    TargetFilename|contains: '/var/log/'\ncondition: sel",
            file(FileOp::Unlink, "/var/log/auth.log"),
            file(FileOp::Unlink, "/var/tmp/x"),
        ),
        (
            "file_rename: SourceFilename",
            "file_rename",
            "sel:\n    SourceFilename|endswith: '.service'\ncondition: sel",
            rename("/tmp/x.service", "/etc/systemd/system/x.service"),
            rename("/tmp/x", "/etc/systemd/system/x.service"),
        ),
        (
            "file_access",
            "file_access",
            "sel:\n    TargetFilename: /etc/shadow\ncondition: sel",
            read("/etc/shadow"),
            file(FileOp::Open, "/etc/shadow"),
        ),
        (
            "dns_query",
            "dns_query",
            "sel:\n    QueryName|endswith: '.example.org'\ncondition: sel",
            dns("c2.EXAMPLE.org"),
            dns("example.org.evil"),
        ),
        (
            "an ECS field name as is",
            PC,
            "sel:\n    process.args: '-fsSL'\ncondition: sel",
            curl(),
            ex("/usr/bin/curl", &["curl", "-fsS"]),
        ),
        (
            "a map is AND",
            PC,
            "sel:\n    Image|endswith: '/curl'\n    CommandLine|contains: 'http'\ncondition: sel",
            curl(),
            ex("/usr/bin/curl", &["curl", "ftp://x"]),
        ),
        (
            "a list of maps is OR",
            PC,
            "sel:\n    - Image|endswith: '/wget'\n    - CommandLine|contains: '-fsSL'\ncondition: sel",
            curl(),
            ex("/usr/bin/curl", &["curl", "-f"]),
        ),
        (
            "and not",
            PC,
            "sel:\n    Image|endswith: '/curl'\nfilter:\n    CommandLine|contains: 'localhost'\ncondition: sel and not filter",
            curl(),
            ex("/usr/bin/curl", &["curl", "http://localhost/"]),
        ),
        (
            "or",
            PC,
            "a:\n    Image|endswith: '/wget'\nb:\n    Image|endswith: '/curl'\ncondition: a or b",
            curl(),
            ex("/usr/bin/fetch", &["fetch"]),
        ),
        (
            "parentheses bind before and",
            PC,
            "a:\n    Image|endswith: '/wget'\nb:\n    Image|endswith: '/curl'\nc:\n    CommandLine|contains: 'http'\ncondition: (a or b) and c",
            curl(),
            ex("/usr/bin/wget", &["wget", "ftp://x"]),
        ),
        (
            "not binds tighter than and, and than or",
            PC,
            "a:\n    Image|endswith: '/wget'\nb:\n    Image|endswith: '/curl'\nc:\n    CommandLine|contains: 'http'\ncondition: a or not c and b",
            ex("/usr/bin/curl", &["curl", "ftp://x"]),
            curl(),
        ),
        (
            "1 of a pattern",
            PC,
            "sel_a:\n    Image|endswith: '/wget'\nsel_b:\n    Image|endswith: '/curl'\nother:\n    CommandLine|contains: 'never'\ncondition: 1 of sel_*",
            curl(),
            ex("/usr/bin/fetch", &["fetch", "never"]),
        ),
        (
            "all of a pattern",
            PC,
            "sel_a:\n    Image|endswith: '/curl'\nsel_b:\n    CommandLine|contains: '-fsSL'\ncondition: all of sel_*",
            curl(),
            ex("/usr/bin/curl", &["curl", "-f"]),
        ),
        (
            "1 of them",
            PC,
            "a:\n    Image|endswith: '/wget'\nb:\n    Image|endswith: '/curl'\ncondition: 1 of them",
            curl(),
            ex("/usr/bin/fetch", &["fetch"]),
        ),
        (
            "all of them leaves out _names",
            PC,
            "a:\n    Image|endswith: '/curl'\nb:\n    CommandLine|contains: 'http'\n_x:\n    CommandLine|contains: 'never'\ncondition: all of them",
            curl(),
            ex("/usr/bin/curl", &["curl", "ftp://x"]),
        ),
        (
            "not 1 of",
            PC,
            "sel:\n    Image|endswith: '/curl'\nfilter_a:\n    CommandLine|contains: 'localhost'\nfilter_b:\n    CommandLine|contains: '127.0.0.1'\ncondition: sel and not 1 of filter_*",
            curl(),
            ex("/usr/bin/curl", &["curl", "http://127.0.0.1/"]),
        ),
        (
            "a list of conditions is OR",
            PC,
            "a:\n    Image|endswith: '/wget'\nb:\n    Image|endswith: '/curl'\ncondition:\n    - a\n    - b",
            curl(),
            ex("/usr/bin/fetch", &["fetch"]),
        ),
    ]
}

#[test]
fn every_form_matches_its_event_and_not_its_near_miss() {
    for (what, category, detection, hit, miss) in table() {
        let set = rule(category, detection);
        assert!(hits(&set, &hit), "{what}: must match\n{detection}");
        assert!(
            !hits(&set, &miss),
            "{what}: near miss must not match\n{detection}"
        );
    }
}

#[test]
fn image_endswith_is_found_by_the_hash_index() {
    // process.name is the executable's file name: the index keys the
    // rule on it, so an exec of another program never evaluates it.
    let set = rule(PC, "sel:\n    Image|endswith: '/Curl'\ncondition: sel");
    let text = format!("{:?}", set.rules()[0].cond);
    assert!(
        text.starts_with("All([Field(process.name, FoldIn([\"curl\"]))"),
        "{text}"
    );
    // A process whose executable is unknown has its task name as
    // process.name: the key finds it, the suffix test refuses it.
    let mut ev = ex("", &["curl"]);
    ev.process = Some(Arc::new(Process {
        image: Arc::new(crate::model::event::Image {
            executable: String::new(),
            name: "curl".into(),
            ..(*ev.process.as_ref().unwrap().image).clone()
        }),
        ..(**ev.process.as_ref().unwrap()).clone()
    }));
    assert!(!hits(&set, &ev));
}

#[test]
fn base64_forms() {
    assert_eq!(base64(b"hello"), "aGVsbG8=");
    assert_eq!(base64(b"ab"), "YWI=");
    assert_eq!(base64(b""), "");
    // Computed independently (Python's base64 module).
    assert_eq!(base64_offsets(b"curl "), ["Y3VybC", "N1cmwg", "jdXJsI"]);
}

#[test]
fn metadata_goes_into_the_alert_rule() {
    let text = "title: Curl piped to a shell\nid: 0d7e0b5c-1111-4222-8333-444455556666\n\
        description: A download run at once.\nreferences:\n    - https://example.org/a\n\
        author: A. Writer, B. Writer\ntags: [attack.execution, attack.t1059.004, \
        attack.command-and-control, attack.t1105, attack.g0032, cve.2024-1]\n\
        logsource:\n    product: linux\n    category: process_creation\n\
        detection:\n    sel:\n        Image|endswith: /curl\n    condition: sel\nlevel: critical\n";
    let f = parse_file(Path::new("/r/a.yml"), text).unwrap();
    assert!(f.skipped.is_empty(), "{:?}", f.skipped);
    let m = &f.rules[0].meta;
    assert_eq!(m.id, "0d7e0b5c-1111-4222-8333-444455556666");
    assert_eq!(m.name, "Curl piped to a shell");
    assert_eq!(m.description, "A download run at once.");
    assert_eq!(m.severity, Severity::Critical);
    assert_eq!(m.tactics, ["Execution", "Command and Control"]);
    let ids: Vec<&str> = m.techniques.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["T1059.004", "T1105"]);
    assert_eq!(m.references, ["https://example.org/a"]);
    assert_eq!(m.authors, ["A. Writer", "B. Writer"]);
    assert_eq!(m.source, "/r/a.yml");
    assert_eq!(f.rules[0].action_names().collect::<Vec<_>>(), ["exec"]);
}

#[test]
fn level_maps_onto_severity() {
    for (level, want) in [
        ("low", Some(Severity::Low)),
        ("medium", Some(Severity::Medium)),
        ("high", Some(Severity::High)),
        ("critical", Some(Severity::Critical)),
        ("informational", None),
    ] {
        let text = doc(PC, "sel:\n    Image: /bin/x\ncondition: sel")
            .replace("level: high", &format!("level: {level}"));
        let f = parse_file(Path::new("/r/l.yml"), &text).unwrap();
        assert_eq!(f.rules.first().map(|r| r.meta.severity), want, "{level}");
    }
    // No level: medium.
    let text = doc(PC, "sel:\n    Image: /bin/x\ncondition: sel").replace("level: high\n", "");
    let f = parse_file(Path::new("/r/l.yml"), &text).unwrap();
    assert_eq!(f.rules[0].meta.severity, Severity::Medium);
}

#[test]
fn pattern_matching_of_identifiers() {
    use condition::pattern_matches as m;
    assert!(m("sel*", "sel"));
    assert!(m("sel*", "selection_1"));
    assert!(m("*_x", "a_x"));
    assert!(m("a*b*c", "a1b2c"));
    assert!(!m("a*b*c", "a1c2b"));
    assert!(!m("sel", "sel2"));
    assert!(!m("ab*ba", "aba"));
}

#[test]
fn lists_and_file_names_are_one_indexed_test() {
    // A list of file names: one process.name key of both names.
    let s = rule(
        PC,
        "sel:\n    Image|endswith: ['/tool1', '/Helper1']\ncondition: sel",
    );
    assert_eq!(
        s.debug_index(),
        r#"exec: keyed [("process.name", true, 2, 0)] rest []"#
    );
    // A list of ports: one port key, chosen over `event.action` (every
    // connect has that one).
    let s = rule(
        "network_connection",
        "sel:\n    Initiated: 'true'\n    DestinationPort: [10008, 20008]\ncondition: sel",
    );
    assert_eq!(
        s.debug_index(),
        r#"connect: keyed [("destination.port", false, 0, 2)] rest []; accept: keyed [("destination.port", false, 0, 2)] rest []"#
    );
    // A list of exact paths, and a filter that does not decide the key.
    let s = rule(
        "file_event",
        "sel:\n    TargetFilename: ['/etc/a', '/etc/B']\nfilter:\n    Image|endswith: /dpkg\ncondition: sel and not filter",
    );
    assert!(
        s.debug_index()
            .starts_with(r#"open: keyed [("file.path", true, 2, 0)] rest []"#),
        "{}",
        s.debug_index()
    );
    // Nothing exact, but a command-line substring: behind the gate.
    let s = rule(
        PC,
        "a:\n    CommandLine|contains: x\nb:\n    CommandLine|startswith: ['y', 'z']\ncondition: a or b",
    );
    assert_eq!(s.debug_index(), "exec: keyed [] gated [0] rest []");
    // A regex whose matches start with a word: gated by it too.
    let s = rule(
        PC,
        "a:\n    CommandLine|contains: x\nb:\n    CommandLine|re: '--a(bc|cd)=[0-9]'\ncondition: a or b",
    );
    assert_eq!(s.debug_index(), "exec: keyed [] gated [0] rest []");
    // One that may start with any letter: evaluated one by one.
    let s = rule(
        PC,
        "a:\n    CommandLine|contains: x\nb:\n    CommandLine|re: '[a-z]+y'\ncondition: a or b",
    );
    assert_eq!(s.debug_index(), "exec: keyed [] rest [0]");
}

/// Gated rules (command-line substrings) give what evaluating each rule
/// on its own gives: every match once, in rule order, overlapping
/// substrings and case included.
#[test]
fn gated_rules_match_as_each_rule_alone() {
    let dets = [
        "a:\n    CommandLine|contains: 'ab'\ncondition: a",
        "a:\n    CommandLine|contains: 'b'\ncondition: a",
        "a:\n    CommandLine|startswith: 'AB'\nb:\n    CommandLine|contains: zz\ncondition: a or b",
        "a:\n    CommandLine|contains: 'ab'\nb:\n    CommandLine|contains: 'abc'\ncondition: a and not b",
        "a:\n    CommandLine|contains|all: ['x', 'ab']\ncondition: a",
        "a:\n    CommandLine|cased: 'AB d'\ncondition: a",
        "a:\n    CommandLine|re: '^(xxx|abc) a?b'\ncondition: a",
    ];
    let rules: Vec<Rule> = dets
        .iter()
        .enumerate()
        .flat_map(|(i, d)| {
            let text = doc(PC, d).replace("000000000001", &format!("{:012}", i + 1));
            parse_file(Path::new("/r/g.yml"), &text).unwrap().rules
        })
        .collect();
    assert_eq!(rules.len(), dets.len());
    let set = RuleSet::from_rules(rules);
    assert_eq!(
        set.debug_index(),
        "exec: keyed [] gated [0, 1, 2, 3, 4, 5, 6] rest []"
    );
    for (args, want) in [
        (&["x", "ab"][..], &[0, 1, 3, 4][..]),
        (&["abc"], &[0, 1, 2]),
        (&["AB", "d"], &[0, 1, 2, 3, 5]),
        (&["Ab", "d"], &[0, 1, 2, 3]),
        (&["zz"], &[2]),
        (&["nothing"], &[]),
        (&["abc", "ab"], &[0, 1, 2, 6]),
        (&["ABC", "ab"], &[0, 1, 2]),
    ] {
        let mut out = vec![99];
        set.matches(&ex("/usr/bin/t", args), &mut Scratch::default(), &mut out);
        assert_eq!(out[1..], *want, "{args:?}");
    }
}
