use std::path::PathBuf;

use super::*;
use crate::config::Config;
use crate::detect::Detector;
use crate::detect::rules::RuleSet;
use crate::model::alert::Alert;
use crate::record::{self, Context, Record};

/// The agent version tests/golden.rs writes.
const GOLDEN_VERSION: &str = "0.0.0-golden";

fn golden_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "golden files in {}", dir.display());
    files
}

/// (file name, 1-based line number, line) of every golden line.
fn golden_lines() -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    for f in golden_files() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            out.push((name.clone(), i + 1, line.to_string()));
        }
    }
    out
}

fn record_type(line: &str) -> String {
    let v: Value = serde_json::from_str(line).unwrap();
    v["record_type"].as_str().unwrap().to_string()
}

fn golden_ctx(hostname: &str) -> Context {
    Context {
        hostname: hostname.to_string(),
        agent_version: GOLDEN_VERSION,
        ancestry_depth: 8,
        hook_paths: Vec::new(),
        ids: crate::testkit::host_ids(),
    }
}

/// `rec` as the golden test writes it, without the newline.
fn write(rec: Record, hostname: &str) -> String {
    let mut out = Vec::new();
    record::write_line(&rec, &golden_ctx(hostname), &mut out).unwrap();
    String::from_utf8(out).unwrap().trim_end().to_string()
}

/// The embedded event of an alert record.
fn alert_event(line: &str) -> Result<Replayed, ReplayError> {
    assert_eq!(record_type(line), "alert");
    match parse(line, true)? {
        Parsed::Event(r) => Ok(r),
        _ => unreachable!("an alert record parses as its event"),
    }
}

#[test]
fn golden_event_records_write_back_identically() {
    let mut events = 0;
    for (file, n, line) in golden_lines() {
        let parsed = parse_line(&line).unwrap_or_else(|e| panic!("{file}: {}", e.with_line(n)));
        match record_type(&line).as_str() {
            "event" => {
                let r = parsed.unwrap();
                assert_eq!(
                    write(Record::Event(r.event), &r.hostname),
                    line,
                    "{file} line {n}"
                );
                events += 1;
            }
            _ => assert!(parsed.is_none(), "{file} line {n}"),
        }
    }
    // process 7 + file 8 + network 11 + rules 6 + sigma 6
    assert_eq!(events, 38);
}

#[test]
fn golden_alert_events_write_back_as_the_event_before_them() {
    let mut alerts = 0;
    let mut last_event: Option<String> = None;
    for (file, n, line) in golden_lines() {
        match record_type(&line).as_str() {
            "event" => last_event = Some(line),
            "alert" => {
                let r = alert_event(&line).unwrap_or_else(|e| panic!("{file}: {}", e.with_line(n)));
                let before = last_event.as_deref().expect("an event before the alert");
                assert_eq!(
                    write(Record::Event(r.event), &r.hostname),
                    before,
                    "{file} line {n}"
                );
                alerts += 1;
            }
            _ => {}
        }
    }
    assert_eq!(alerts, 15);
}

/// The detector a golden file was made with (tests/golden.rs): the
/// built-ins, for rules_alerts.jsonl the sample rules and a burst of 1,
/// for sigma_alerts.jsonl the sample Sigma rules.
fn golden_detector(file: &str, host: &str) -> Detector {
    if file.ends_with("sigma_alerts.jsonl") {
        let sigma = crate::detect::rules::sigma::parse_file(
            std::path::Path::new("/etc/rand-guard/rules.d/sample-sigma.yml"),
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/rules/sample-sigma.yml"
            )),
        )
        .unwrap();
        let rules = RuleSet::from_rules(sigma.rules);
        return Detector::new(&Config::default(), host, rules, None).unwrap();
    }
    if !file.ends_with("rules_alerts.jsonl") {
        return Detector::new(&Config::default(), host, RuleSet::empty(), None).unwrap();
    }
    let samples = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/rules/sample-rules.toml"
    ));
    let rules = crate::detect::rules::parse_file(
        std::path::Path::new("/etc/rand-guard/rules.d/sample-rules.toml"),
        samples,
    )
    .unwrap();
    let cfg = Config {
        alerts: crate::config::AlertsConfig {
            burst: 1,
            per_minute: 1.0,
        },
        ..Config::default()
    };
    Detector::new(&cfg, host, RuleSet::from_rules(rules), None).unwrap()
}

/// Replaying a golden file through the built-in detections, as `rules
/// test --events` does, writes the file again: the same events, the same
/// alerts after them, with the same ids (health records are not events).
#[test]
fn replayed_golden_files_raise_the_golden_alerts() {
    let mut alerts_seen = 0;
    for f in golden_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        let expected: Vec<&str> = text
            .lines()
            .filter(|l| record_type(l) != "health")
            .collect();
        let (events, skipped) = read_all(&f).unwrap();
        let host = &events[0].hostname.clone();
        let mut detector = golden_detector(&f.to_string_lossy(), host);
        let mut written = Vec::new();
        for r in events {
            assert_eq!(&r.hostname, host);
            let mut alerts: Vec<Alert> = Vec::new();
            detector.detect(&r.event, &mut alerts);
            alerts_seen += alerts.len();
            written.push(write(Record::Event(r.event), host));
            written.extend(alerts.into_iter().map(|a| write(Record::Alert(a), host)));
        }
        // What the rate limit still holds: the end of the replay.
        let mut held = Vec::new();
        detector.flush(&mut held);
        alerts_seen += held.len();
        written.extend(held.into_iter().map(|a| write(Record::Alert(a), host)));
        assert_eq!(written, expected, "{}", f.display());
        let count = |t: &str| text.lines().filter(|l| record_type(l) == t).count();
        assert_eq!(
            skipped,
            Skipped {
                alerts: count("alert"),
                health: count("health"),
            }
        );
    }
    assert_eq!(alerts_seen, 15);
}

/// Each alert on its own: its embedded event, through a fresh detector,
/// raises that very alert record (same id, message, rule).
#[test]
fn each_golden_alert_comes_back_from_its_event() {
    for (file, n, line) in golden_lines() {
        // A rate-limit summary stands for earlier alerts: it comes back
        // only from the whole file (the test above), not from one event.
        if record_type(&line) != "alert" || line.contains("\"suppressed_count\"") {
            continue;
        }
        let r = alert_event(&line).unwrap();
        let mut alerts = Vec::new();
        golden_detector(&file, &r.hostname).detect(&r.event, &mut alerts);
        let written: Vec<String> = alerts
            .into_iter()
            .map(|a| write(Record::Alert(a), &r.hostname))
            .collect();
        assert!(
            written.contains(&line),
            "{file} line {n}: {line}\nnot among {written:#?}"
        );
    }
}

mod live;

/// Every rule field reads the same value from a live event and from its
/// record replayed; ancestors included.
#[test]
fn rule_fields_read_the_same_live_and_replayed() {
    use crate::detect::rules::fields::{FIELDS, Getter, Scratch};
    let host = "web-1";
    let mut scratch = Scratch::default();
    let mut read = |ev: &Event| -> Vec<(&str, String)> {
        let mut values: Vec<(&str, String)> = FIELDS
            .iter()
            .map(|f| {
                let v = match f.get {
                    Getter::Event(get) => format!("{:?}", get(ev)),
                    Getter::Ancestor(get) => {
                        let all: Vec<_> = ev
                            .process
                            .iter()
                            .flat_map(|p| p.ancestors())
                            .map(|a| get(a))
                            .collect();
                        format!("{all:?}")
                    }
                    Getter::CommandLine => {
                        scratch.reset();
                        format!("{:?}", scratch.command_line(ev))
                    }
                    Getter::ParentCommandLine => {
                        scratch.reset();
                        format!("{:?}", scratch.parent_command_line(ev))
                    }
                };
                (f.name, v)
            })
            .collect();
        values.sort();
        values
    };
    let ctx = Context {
        hostname: host.into(),
        agent_version: "9.9.9",
        ancestry_depth: 8,
        hook_paths: Vec::new(),
        ids: crate::testkit::host_ids(),
    };
    for live in live::sequence() {
        let mut out = Vec::new();
        record::write_line(&Record::Event(live.clone()), &ctx, &mut out).unwrap();
        let line = std::str::from_utf8(&out).unwrap();
        let r = parse_line(line)
            .unwrap_or_else(|e| panic!("{e}\n{line}"))
            .unwrap();
        let replayed = &r.event;
        assert_eq!(r.hostname, host);
        assert_eq!(read(replayed), read(&live), "{line}");
        // Written back: the same line.
        let mut again = Vec::new();
        record::write_line(&Record::Event(replayed.clone()), &ctx, &mut again).unwrap();
        assert_eq!(std::str::from_utf8(&again).unwrap(), line);
        // The same alert id (time, pid, tid, action, path).
        assert_eq!(
            crate::model::alert::alert_id("r", host, replayed),
            crate::model::alert::alert_id("r", host, &live)
        );
        // Replay's clock is event time.
        assert_eq!(replayed.ktime_ns, live.time_ns);
    }
}

/// Line `n` of a golden file.
fn golden(file: &str, n: usize) -> String {
    golden_lines()
        .into_iter()
        .find(|(f, i, _)| f == file && *i == n)
        .unwrap()
        .2
}

/// The golden health record.
fn golden_health() -> String {
    golden_lines()
        .into_iter()
        .find(|(_, _, l)| record_type(l) == "health")
        .unwrap()
        .2
}

/// `line` with the value at a JSON pointer changed by `f`.
fn edit(line: &str, pointer: &str, f: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(line).unwrap();
    f(v.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer}")));
    v.to_string()
}

/// `line` without the key at a JSON pointer.
fn remove(line: &str, pointer: &str) -> String {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    edit(line, parent, |v| {
        v.as_object_mut().unwrap().remove(key).unwrap();
    })
}

/// The error message for `line` as line 3 of a file.
fn error(line: &str) -> String {
    match parse_line(line) {
        Ok(r) => panic!("replayed: {:?}\n{line}", r.map(|r| r.event)),
        Err(e) => e.with_line(3).to_string(),
    }
}

#[test]
fn errors_name_the_line_and_key() {
    // exec of /bin/true by pid 200, with a described parent and ancestry.
    let exec = golden("process_events.jsonl", 3);
    // Set or add the value at a pointer.
    let set = |pointer: &str, value: Value| {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        edit(&exec, parent, |v| match v {
            Value::Array(items) => items[key.parse::<usize>().unwrap()] = value,
            v => v[key] = value,
        })
    };
    let cases = [
        (
            set("/process/pid", "200".into()),
            "line 3: key `process.pid`: expected an integer (u32), found a string",
        ),
        (
            set("/process/thread/id", (-1).into()),
            "line 3: key `process.thread.id`: expected an integer (u32), found -1",
        ),
        (
            set("/event/action", "ptrace".into()),
            "line 3: key `event.action`: unknown action `ptrace`; this agent knows: exec, fork, \
             exit, signal, open, unlink, rename, chmod, chown, link, symlink, exec_refused, setxattr, removexattr, connect, bind, \
             listen, accept, dns_query, stdio_socket",
        ),
        (
            set("/schema_version", 1.into()),
            "line 3: key `schema_version`: version 1 is not supported: this agent reads version 2",
        ),
        (
            set("/record_type", "metric".into()),
            "line 3: key `record_type`: expected `event`, `alert` or `health`, found `metric`",
        ),
        (remove(&exec, "/host"), "line 3: key `host`: missing"),
        (
            set("/@timestamp", "2026-11-28 08:00:00".into()),
            "line 3: key `@timestamp`: expected an RFC 3339 UTC time such as \
             \"1970-01-01T00:00:00.000000000Z\", found \"2026-11-28 08:00:00\"",
        ),
        (
            set("/process/user/id", "01000".into()),
            "line 3: key `process.user.id`: expected a decimal id from 0 to 4294967295, found \"01000\"",
        ),
        (
            remove(&exec, "/process/real_group"),
            "line 3: key `process.real_group.id`: missing: process.user, group, real_user and \
             real_group come together",
        ),
        (
            set("/process/args/1", 5.into()),
            "line 3: key `process.args[1]`: expected a string, found 5",
        ),
        (
            set("/rand_guard/truncated", serde_json::json!(["args", "path"])),
            "line 3: key `rand_guard.truncated[1]`: unknown part `path`; known: executable, exe, \
             args, args_unreadable, env, working_directory",
        ),
        (
            set("/rand_guard/process/origin", "guess".into()),
            "line 3: key `rand_guard.process.origin`: unknown value `guess`; known: exec, fork, procfs",
        ),
        // Derived fields must agree with their sources.
        (
            set("/process/name", "sh".into()),
            "line 3: key `process.name`: is \"sh\", but the fields it is derived from give \"true\"",
        ),
        (
            set("/process/args_count", 3.into()),
            "line 3: key `process.args_count`: is 3, but the fields it is derived from give 2",
        ),
        (
            set("/event/type", serde_json::json!(["end"])),
            "line 3: key `event.type`: is [\"end\"], but the fields it is derived from give [\"start\"]",
        ),
        (
            set("/user/id", "0".into()),
            "line 3: key `user.id`: is \"0\", but the fields it is derived from give \"1000\"",
        ),
        (
            set("/file", serde_json::json!({"name": "x"})),
            "line 3: key `file.name`: is given, but the agent would not write it for this record",
        ),
        (
            set("/error", 1.into()),
            "line 3: key `error`: expected an object, found 1",
        ),
        // The parent and the first ancestor are one process.
        (
            set("/rand_guard/ancestry/0/pid", 1.into()),
            "line 3: key `rand_guard.ancestry[0].pid`: is 1, but process.parent describes pid \
             100: the first ancestor is that parent",
        ),
        (
            set("/rand_guard/ancestry/0/executable", "/bin/zsh".into()),
            "line 3: key `rand_guard.ancestry[0].executable`: is \"/bin/zsh\", but \
             process.parent.executable is \"/bin/bash\": the first ancestor is that parent",
        ),
        (
            set(
                "/rand_guard/ancestry",
                Value::Array(vec![serde_json::json!({"pid": 1}); 65]),
            ),
            "line 3: key `rand_guard.ancestry`: lists 65 ancestors; the agent writes at most 64",
        ),
        // A process context needs the marker of a known process.
        (
            remove(&exec, "/rand_guard/process"),
            "line 3: key `process.executable`: given for a process the record does not describe \
             (no `rand_guard.process`): the agent writes both or neither",
        ),
        (
            remove(&exec, "/process/executable"),
            "line 3: key `process.args`: given without an executable",
        ),
        (
            "{\"schema_version\": 1,".into(),
            "line 3: not valid JSON at column 21: EOF while parsing a value",
        ),
        (
            "[1]".into(),
            "line 3: expected a JSON object, found an array",
        ),
    ];
    for (line, want) in cases {
        assert_eq!(error(&line), want, "{line}");
    }

    let exit = golden("process_events.jsonl", 6);
    assert_eq!(
        error(&edit(&exit, "/rand_guard/exit/lifetime_ns", |v| *v =
            u64::MAX.into())),
        "line 3: key `rand_guard.exit.lifetime_ns`: is longer than the time since 1970 at @timestamp"
    );
    let file = golden("file_alert_health.jsonl", 1);
    assert_eq!(
        error(&edit(&file, "/file/mode", |v| *v = "644".into())),
        "line 3: key `file.mode`: expected four octal digits such as \"0644\", found \"644\""
    );
    assert_eq!(
        error(&edit(&file, "/rand_guard/file/open_flags/2", |v| *v =
            "O_EVIL".into())),
        "line 3: key `rand_guard.file.open_flags[2]`: unknown open flag `O_EVIL`"
    );
    assert_eq!(
        error(&edit(&file, "/rand_guard/file/syscall", |v| *v = "write".into())),
        "line 3: key `rand_guard.file.syscall`: `write` is not a syscall this agent hooks"
    );
    assert_eq!(
        error(&edit(&file, "/event/outcome", |v| *v = "failure".into())),
        "line 3: key `event.outcome`: is \"failure\", but the fields it is derived from give \"success\""
    );
    let dns = golden("network.jsonl", 8);
    assert_eq!(
        error(&edit(&dns, "/dns/question/type", |v| *v = "TYPE16".into())),
        "line 3: key `dns.question.type`: unknown query type `TYPE16`"
    );
    assert_eq!(
        error(&edit(&dns, "/destination/ip", |v| *v = "10.0.0.256".into())),
        "line 3: key `destination.ip`: expected an IPv4 or IPv6 address, found \"10.0.0.256\""
    );
}

#[test]
fn blank_alert_and_health_lines_are_not_events() {
    for line in ["", "  ", "\r", "\t \r\n"] {
        assert!(parse_line(line).unwrap().is_none(), "{line:?}");
    }
    let health = golden_health();
    assert!(parse_line(&health).unwrap().is_none());
    let alert = golden("file_alert_health.jsonl", 2);
    assert!(parse_line(&alert).unwrap().is_none());
    // A record of another schema version is refused, whatever its type.
    let old = edit(&health, "/schema_version", |v| *v = 0.into());
    assert_eq!(
        parse_line(&old).unwrap_err().key(),
        "schema_version",
        "{old}"
    );
    // Unknown keys are a later agent's additions: ignored.
    let exec = golden("process_events.jsonl", 1);
    let newer = edit(&exec, "/process", |v| {
        v["entry_leader"] = serde_json::json!({"pid": 1});
    });
    assert!(parse_line(&newer).unwrap().is_some());
}

#[test]
fn read_all_counts_skipped_records_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let exec = golden("process_events.jsonl", 1);
    let alert = golden("network.jsonl", 2);
    let health = golden_health();
    let text = format!("{exec}\n\n{alert}\r\n{health}\n{exec}");
    std::fs::write(&path, text).unwrap();
    let (events, skipped) = read_all(&path).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        skipped,
        Skipped {
            alerts: 1,
            health: 1
        }
    );

    let bad = edit(&exec, "/process/parent/pid", |v| *v = Value::Null);
    std::fs::write(&path, format!("{exec}\n{health}\n{bad}\n")).unwrap();
    let e = read_all(&path).unwrap_err();
    assert_eq!((e.line(), e.key()), (Some(3), "process.parent.pid"));
    assert_eq!(e.file(), Some(path.as_path()));
    assert_eq!(
        e.to_string(),
        format!(
            "events file {} line 3: key `process.parent.pid`: expected an integer (u32), found null",
            path.display()
        )
    );

    std::fs::write(&path, b"\n\xff\xfe\n").unwrap();
    let e = read_all(&path).unwrap_err();
    assert_eq!(e.line(), Some(2));
    assert!(e.reason().starts_with("not UTF-8"), "{e}");

    let missing = dir.path().join("nope.jsonl");
    let e = read_all(&missing).unwrap_err();
    assert_eq!(e.line(), None);
    assert!(
        e.to_string()
            .starts_with(&format!("events file {}: cannot open: ", missing.display())),
        "{e}"
    );
}

/// Every node of a JSON value with its key path, as errors spell it.
fn nodes(v: &Value, path: &str, pointer: &str, out: &mut Vec<(String, String)>) {
    let children: Vec<(String, String, &Value)> = match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, c)| {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                (p, format!("{pointer}/{k}"), c)
            })
            .collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("{path}[{i}]"), format!("{pointer}/{i}"), c))
            .collect(),
        _ => Vec::new(),
    };
    for (p, ptr, c) in children {
        out.push((p.clone(), ptr.clone()));
        nodes(c, &p, &ptr, out);
    }
}

fn json_type(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// Parse as `parse_line` does, or (for an alert) its embedded event too.
/// Neither may panic.
fn parse_any(line: &str, alert: bool) -> Result<(), ReplayError> {
    parse(line, alert).map(|_| ())
}

/// Mutated golden lines: cut short every 7 bytes, each value replaced by
/// values of another type or out of range (one per value, in turn), each
/// key removed. Every one parses or fails with an error naming a key; a
/// value of the wrong type is reported at its own key (or at the key of
/// the field that contains it).
#[test]
fn mutated_golden_lines_never_panic() {
    let replacements: Vec<Value> = vec![
        Value::Null,
        true.into(),
        (-1).into(),
        1.5.into(),
        u64::MAX.into(),
        i64::MIN.into(),
        "x".into(),
        serde_json::json!([]),
        serde_json::json!([1]),
        serde_json::json!({}),
    ];
    let (mut mutations, mut errors) = (0, 0);
    let mut turn = 0;
    for (file, n, line) in golden_lines() {
        let at = format!("{file} line {n}");
        let alert = record_type(&line) == "alert";
        for cut in (0..line.len()).step_by(7) {
            if line.is_char_boundary(cut) {
                mutations += 1;
                errors += usize::from(parse_any(&line[..cut], alert).is_err());
            }
        }
        let value: Value = serde_json::from_str(&line).unwrap();
        let mut all = Vec::new();
        nodes(&value, "", "", &mut all);
        for (path, pointer) in &all {
            let original = value.pointer(pointer).unwrap();
            turn += 1;
            let new = &replacements[turn % replacements.len()];
            mutations += 1;
            if let Err(e) = parse_any(&edit(&line, pointer, |v| *v = new.clone()), alert) {
                errors += 1;
                assert!(!e.key().is_empty(), "{at}: {path} = {new}: {e}");
                if json_type(new) != json_type(original) {
                    assert!(
                        e.key().starts_with(path.as_str()) || path.starts_with(e.key()),
                        "{at}: {path} = {new}: {e}"
                    );
                }
            }
            if !path.ends_with(']') {
                mutations += 1;
                if let Err(e) = parse_any(&remove(&line, pointer), alert) {
                    errors += 1;
                    assert!(!e.key().is_empty(), "{at}: without {path}: {e}");
                }
            }
        }
    }
    assert!(mutations > 3_000, "{mutations}");
    assert!(errors > mutations / 2, "{errors} of {mutations}");
}

/// Garbage: random bytes, deep nesting, huge numbers.
#[test]
fn garbage_lines_never_panic() {
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2_000 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let len = (s % 120) as usize;
        let bytes: Vec<u8> = (0..len).map(|i| (s >> (i % 57)) as u8).collect();
        let line = String::from_utf8_lossy(&bytes);
        let _ = (parse_any(&line, false), parse_any(&line, true));
    }
    let deep = "[".repeat(100_000);
    assert!(parse_line(&deep).is_err());
    let deep = format!(
        "{{\"schema_version\":1,\"record_type\":\"event\",\"process\":{}",
        "{\"a\":".repeat(100_000)
    );
    assert!(parse_line(&deep).is_err());
    let big = "{\"schema_version\":1e400}";
    assert!(parse_line(big).is_err());
}

#[test]
fn env_vars_and_the_env_cut_replay_and_write_back() {
    // process.env_vars (both the exec's and its parent's) and the `env`
    // truncation come back as they were written.
    let exec = golden("process_events.jsonl", 3);
    let line = edit(&exec, "/process", |v| {
        v["env_vars"] = serde_json::json!(["LD_PRELOAD=/tmp/x.so", "LD_LIBRARY_PATH=/tmp"]);
        v["parent"]["env_vars"] = serde_json::json!(["LD_AUDIT=/a.so"]);
    });
    let line = edit(&line, "/rand_guard", |v| {
        v["truncated"] = serde_json::json!(["args", "env"])
    });
    let r = parse_line(&line).unwrap().unwrap();
    let crate::model::event::Body::Exec(x) = &r.event.body else {
        panic!("not an exec")
    };
    assert_eq!(
        x.image.env_vars,
        ["LD_PRELOAD=/tmp/x.so", "LD_LIBRARY_PATH=/tmp"]
    );
    assert!(x.image.truncated.env && x.image.truncated.args);
    let back: Value = serde_json::from_str(&write(Record::Event(r.event), &r.hostname)).unwrap();
    assert_eq!(back, serde_json::from_str::<Value>(&line).unwrap());
}
