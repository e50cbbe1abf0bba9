//! The invariants the fuzz targets check: one function per target, each
//! taking the fuzzer's bytes and panicking when an invariant fails (a
//! panic is what libFuzzer reports as a crash).
//!
//! Two users: the libFuzzer targets in `fuzz/fuzz_targets/` (nightly,
//! `cargo run -p xtask -- fuzz`), and `tests/fuzz_seeds.rs` of the main
//! crate, which runs every seed in `fuzz/seeds/` through the same
//! functions on stable in `cargo xt`. So this file uses only `rand_guard`'s
//! public API and `serde_json`, both of which both users have.

use std::path::Path;
use std::sync::OnceLock;

use rand_guard::config::{ANCESTRY_DEPTH_MAX, Config};
use rand_guard::detect::rules::{self, RuleSet, fields::Scratch};
use rand_guard::kernel::abi::kind;
use rand_guard::kernel::decode::{self, DecodeError, Reason, Record};
use rand_guard::model::event::Event;
use rand_guard::model::stats::Kinded;
use rand_guard::offline::replay::{self, Replayed};
use rand_guard::pipeline::normalize::Normalizer;
use rand_guard::record::{self, Context};

/// Every target, by the name `cargo fuzz` knows it by.
pub const TARGETS: [&str; 4] = ["decode", "config", "rules", "replay"];

/// Run the invariants of `target` on `data`.
pub fn run(target: &str, data: &[u8]) {
    match target {
        "decode" => decode(data),
        "config" => config(data),
        "rules" => rules(data),
        "replay" => replay(data),
        other => panic!("no fuzz target {other:?}"),
    }
}

// ---- decode: ring-buffer bytes to events --------------------------------

/// The poller's `decode::check` and the normalizer's `decode::decode`
/// agree on every input; a rejected record gets a typed error that
/// explains itself; an accepted one re-encodes to a record that decodes
/// the same, normalizes without panic into an event of its kind, and
/// writes as one JSON line.
pub fn decode(data: &[u8]) {
    let decoded = decode::decode(data);
    match (&decoded, decode::check(data)) {
        (Ok(rec), Ok(hdr)) => assert_eq!(*rec.hdr(), hdr, "check's header is decode's"),
        (Err(a), Err(b)) => assert_eq!(*a, b, "check and decode give the same error"),
        (a, b) => panic!("check and decode disagree: decode {a:?}, check {b:?}"),
    }
    let rec = match decoded {
        Ok(rec) => rec,
        Err(e) => return decode_error(data, &e),
    };
    let hdr = *rec.hdr();
    assert_eq!(
        hdr.size as usize,
        data.len(),
        "an accepted record is its size"
    );
    let what = kind::name(hdr.kind).expect("an accepted record has a known kind");

    // Re-encoded with the encoders, the record decodes to the same views
    // and fixed fields (only the slices' offsets are laid out anew).
    let bytes = encode(&rec);
    let again = decode::decode(&bytes)
        .unwrap_or_else(|e| panic!("{what}: re-encoded record rejected: {e}"));
    assert_eq!(
        canonical(&rec, &again),
        again,
        "{what}: decode(encode(r)) != r"
    );
    assert_eq!(encode(&again), bytes, "{what}: encode is not stable");

    // The normalizer's path (normalize::run): decode, then normalize.
    let mut n = Normalizer::new();
    let Some(ev) = n.normalize(&rec) else {
        // Held for the exec record that follows it (normalize.rs).
        assert_eq!(hdr.kind, kind::EXEC_ENV, "only exec_env makes no event");
        return;
    };
    assert_eq!(ev.kind_name(), what, "the event is of the record's kind");
    write_event(&ev, "fuzz");
}

fn decode_error(data: &[u8], e: &DecodeError) {
    let msg = e.to_string();
    assert!(!msg.is_empty());
    match e {
        // Only a well-formed header of an unknown kind is "unsupported":
        // it must carry this build's ABI version.
        DecodeError::UnknownKind(k) => {
            assert_eq!(e.reason(), Reason::UnsupportedKind);
            assert!(kind::name(*k).is_none(), "kind {k} is known");
            assert_eq!(data.get(2), Some(&rand_guard::kernel::abi::ABI_VERSION));
        }
        DecodeError::Truncated { len, need, .. } => {
            assert_eq!(e.reason(), Reason::InvalidSchema);
            assert!(len < need, "{msg}");
        }
        DecodeError::SizeMismatch {
            declared, actual, ..
        } => {
            assert_eq!(e.reason(), Reason::InvalidSchema);
            assert_ne!(*declared as usize, *actual, "{msg}");
        }
        _ => assert_eq!(e.reason(), Reason::InvalidSchema),
    }
}

/// The record's canonical bytes, made by the `decode::encode_*` helpers.
fn encode(rec: &Record<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    match rec {
        Record::Exec(e) => {
            decode::encode_exec(&e.fixed, e.filename, e.cwd, e.exe, e.args, &mut out)
        }
        Record::Fork(f) => decode::encode_fork(f, &mut out),
        Record::Exit(x) => decode::encode_exit(x, &mut out),
        Record::Stdio(x) => decode::encode_stdio(x, &mut out),
        Record::Signal(x) => decode::encode_signal(x, &mut out),
        Record::ExecEnv(e) => decode::encode_exec_env(&e.fixed, e.vars, &mut out),
        Record::File(f) => decode::encode_file(&f.fixed, f.dir, f.path, f.dir2, f.path2, &mut out),
        Record::Net(n) => decode::encode_net(&n.fixed, n.unix_path, n.payload, &mut out),
    }
    out
}

/// `rec` with the slice offsets and size of its canonical form `like`.
fn canonical<'a>(rec: &Record<'a>, like: &Record<'_>) -> Record<'a> {
    let mut r = *rec;
    match (&mut r, like) {
        (Record::Exec(e), Record::Exec(c)) => {
            e.fixed.filename = c.fixed.filename;
            e.fixed.cwd = c.fixed.cwd;
            e.fixed.exe = c.fixed.exe;
            e.fixed.args = c.fixed.args;
            e.fixed.hdr.size = c.fixed.hdr.size;
        }
        (Record::File(f), Record::File(c)) => {
            f.fixed.dir = c.fixed.dir;
            f.fixed.path = c.fixed.path;
            f.fixed.dir2 = c.fixed.dir2;
            f.fixed.path2 = c.fixed.path2;
            f.fixed.hdr.size = c.fixed.hdr.size;
        }
        (Record::ExecEnv(e), Record::ExecEnv(c)) => {
            e.fixed.vars = c.fixed.vars;
            e.fixed.hdr.size = c.fixed.hdr.size;
        }
        (Record::Net(n), Record::Net(c)) => {
            n.fixed.unix_path = c.fixed.unix_path;
            n.fixed.payload = c.fixed.payload;
            n.fixed.hdr.size = c.fixed.hdr.size;
        }
        _ => {}
    }
    r
}

/// Write `ev` as the writer does; it must be one JSON object on one line.
fn write_event(ev: &Event, hostname: &str) -> String {
    let ctx = Context {
        hostname: hostname.to_string(),
        agent_version: "0.0.0-fuzz",
        ancestry_depth: ANCESTRY_DEPTH_MAX as usize,
        hook_paths: Vec::new(),
        // Fixed event.created: a write is a pure function of the event.
        ids: rand_guard::record::HostIds::fixed(None, hostname, None, 0),
    };
    let mut out = Vec::new();
    record::write_line(&record::Record::Event(ev.clone()), &ctx, &mut out)
        .unwrap_or_else(|e| panic!("event does not serialize: {e}: {ev:?}"));
    let line = String::from_utf8(out).expect("the writer writes UTF-8");
    let body = line.strip_suffix('\n').expect("a line ends with a newline");
    assert!(!body.contains('\n'), "one record, one line: {body}");
    let v: serde_json::Value = serde_json::from_str(body).expect("the writer writes JSON");
    assert_eq!(v["record_type"], "event");
    body.to_string()
}

// ---- config and rules: TOML text --------------------------------------

/// A config the parser accepts is valid and its effective form (what
/// `check-config` prints) parses back to the same config; one it rejects
/// gets an error naming the file, with a reason and a real line.
pub fn config(data: &[u8]) {
    // Config::load reads the file as UTF-8 text: other bytes never get here.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/fuzz/config.toml");
    match Config::parse(text, path, &rand_guard::detect::KNOWN) {
        Ok(cfg) => {
            cfg.validate(&rand_guard::detect::KNOWN)
                .unwrap_or_else(|e| panic!("accepted an invalid config: {e:?}"));
            let shown = cfg.to_toml();
            let back =
                Config::parse(&shown, path, &rand_guard::detect::KNOWN).unwrap_or_else(|e| {
                    panic!("the effective config does not parse back: {e}\n{shown}")
                });
            assert_eq!(
                back, cfg,
                "the effective config reads back differently\n{shown}"
            );
        }
        Err(e) => {
            assert_eq!(e.file, path);
            let msg = e.to_string();
            assert!(msg.starts_with("config /fuzz/config.toml"), "{msg}");
            assert!(!e.reason.trim().is_empty(), "{msg}");
            check_line(text, e.line, &msg);
        }
    }
}

/// The same bytes as a TOML rules file and as a Sigma (YAML) rules file:
/// a file a parser accepts compiles into a rule set that matches events
/// without panicking; one it rejects gets errors that each name the file,
/// with a reason and a real line. Sigma rules it cannot run are skipped,
/// each naming the file, a construct and a reason.
pub fn rules(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    toml_rules(text);
    sigma_rules(text);
}

fn sigma_rules(text: &str) {
    let path = Path::new("/fuzz/rules.d/fuzz.yml");
    match rules::sigma::parse_file(path, text) {
        Ok(file) => {
            for r in &file.rules {
                assert!(!r.meta.id.is_empty(), "a rule without an id");
                assert!(!r.meta.name.trim().is_empty(), "a rule without a title");
                assert_eq!(r.meta.source, path.display().to_string());
            }
            for s in &file.skipped {
                assert_eq!(s.file, path);
                assert!(!s.rule.is_empty() && !s.construct.is_empty(), "{s}");
                assert!(!s.reason.trim().is_empty(), "{s}");
            }
            match_samples(&RuleSet::from_rules(file.rules));
        }
        Err(e) => {
            assert_eq!(e.file, path);
            let msg = e.to_string();
            assert!(
                msg.starts_with("rules file /fuzz/rules.d/fuzz.yml"),
                "{msg}"
            );
            assert!(!e.reason.trim().is_empty(), "{msg}");
            check_line(text, e.line, &msg);
        }
    }
}

/// Every sample event through `set`: in-range, ascending, no panic.
fn match_samples(set: &RuleSet) {
    let mut scratch = Scratch::default();
    let mut hits = Vec::new();
    for ev in sample_events() {
        hits.clear();
        set.matches(ev, &mut scratch, &mut hits);
        assert!(hits.iter().all(|i| *i < set.len()));
        assert!(hits.windows(2).all(|w| w[0] < w[1]), "{hits:?}");
    }
}

fn toml_rules(text: &str) {
    let path = Path::new("/fuzz/rules.d/fuzz.toml");
    match rules::parse_file(path, text) {
        Ok(rules) => {
            for r in &rules {
                assert!(!r.meta.id.is_empty(), "a rule without an id");
                assert_eq!(r.meta.source, path.display().to_string());
            }
            match_samples(&RuleSet::from_rules(rules));
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "rejected without a reason");
            for e in errors {
                assert_eq!(e.file, path);
                let msg = e.to_string();
                assert!(
                    msg.starts_with("rules file /fuzz/rules.d/fuzz.toml"),
                    "{msg}"
                );
                assert!(!e.reason.trim().is_empty(), "{msg}");
                check_line(text, e.line, &msg);
            }
        }
    }
}

fn check_line(text: &str, line: Option<usize>, msg: &str) {
    if let Some(line) = line {
        let lines = text.matches('\n').count() + 1;
        assert!((1..=lines).contains(&line), "line {line} of {lines}: {msg}");
    }
}

/// The golden files' event records, with their process context: what the
/// rules target matches its rule sets against.
fn sample_events() -> &'static [Event] {
    static EVENTS: OnceLock<Vec<Event>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        [
            include_str!("../../tests/golden/process_events.jsonl"),
            include_str!("../../tests/golden/file_alert_health.jsonl"),
            include_str!("../../tests/golden/network.jsonl"),
            include_str!("../../tests/golden/rules_alerts.jsonl"),
        ]
        .iter()
        .flat_map(|f| f.lines())
        .filter_map(|l| replay::parse_line(l).expect("golden lines replay"))
        .map(|r| r.event)
        .collect()
    })
}

// ---- replay: written records back to events -----------------------------

/// Each line of the input (as `rand-guard rules test` reads a file)
/// either replays or gets an error naming the line and saying why; a
/// replayed event writes back to a line that replays to itself (the
/// writer and the reader are each other's inverse from there on).
pub fn replay(data: &[u8]) {
    for (i, bytes) in data.split(|b| *b == b'\n').enumerate() {
        let Ok(line) = std::str::from_utf8(bytes) else {
            continue; // replay::for_each rejects it before parse_line
        };
        match replay::parse_line(line) {
            Ok(None) => {}
            Ok(Some(r)) => {
                let first = write_replayed(&r);
                let back = replay::parse_line(&first)
                    .unwrap_or_else(|e| panic!("written back, it does not replay: {e}\n{first}"))
                    .expect("an event record writes back as an event record");
                let second = write_replayed(&back);
                assert_eq!(first, second, "replay is not a fixed point");
            }
            Err(e) => {
                let e = e.with_line(i + 1);
                let msg = e.to_string();
                assert!(msg.starts_with(&format!("line {}: ", i + 1)), "{msg}");
                assert!(!e.reason().trim().is_empty(), "{msg}");
            }
        }
    }
}

fn write_replayed(r: &Replayed) -> String {
    write_event(&r.event, &r.hostname)
}
