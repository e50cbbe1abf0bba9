use super::*;
use crate::model::event::Body;

/// docs/rules.md lists every field a rule can name.
#[test]
fn every_field_is_documented() {
    let doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md"));
    for f in FIELDS {
        // `a` / `b` rows document two fields on one line.
        let listed = doc.lines().any(|l| {
            l.starts_with("| `")
                && l.split('|')
                    .nth(1)
                    .is_some_and(|c| c.contains(&format!("`{}`", f.name)))
        });
        assert!(listed, "{} is not in docs/rules.md's field table", f.name);
    }
}

/// process.name reads what the output writes (record.rs): the
/// executable's file name, the image's task name, then the exit's.
#[test]
fn process_name_falls_back_like_the_output() {
    use crate::model::event::{ExitBody, ExitStatus, Image};
    use crate::model::proctable::Origin;
    use std::sync::Arc;
    let name = lookup("process.name").unwrap();
    let Getter::Event(get) = name.get else {
        panic!("process.name is an event field")
    };
    let exit = |image: Image, known: bool| Event {
        seq: 1,
        time_ns: 0,
        ktime_ns: 0,
        pid: 5,
        tid: 5,
        body: Body::Exit(ExitBody {
            start_ns: 0,
            ppid: 1,
            name: "comm".into(),
            status: ExitStatus::from_wait_status(0),
        }),
        process: known.then(|| {
            Arc::new(Process {
                pid: 5,
                ppid: 1,
                start_ns: 0,
                start_exact: true,
                start_time_ns: 0,
                image: Arc::new(image),
                creds: None,
                cgroup_id: None,
                cgroup: None,
                ns: None,
                parent: None,
                origin: Origin::Fork,
                chain_len: 0,
                entity_id: Default::default(),
            })
        }),
    };
    let named = |executable: &str, name: &str| Image {
        executable: executable.into(),
        name: name.into(),
        ..Image::default()
    };
    let cases = [
        (exit(named("/bin/sh", "x"), true), "sh"),
        (exit(named("", "x"), true), "x"),
        (exit(Image::default(), true), "comm"),
        (exit(Image::default(), false), "comm"),
    ];
    for (ev, want) in cases {
        assert!(matches!(get(&ev), Value::Str(s) if s == want), "{want}");
        let ctx = crate::record::Context {
            hostname: "h".into(),
            agent_version: "0",
            ancestry_depth: 8,
            hook_paths: Vec::new(),
            ids: crate::testkit::host_ids(),
        };
        let mut out = Vec::new();
        crate::record::write_line(&crate::record::Record::Event(ev), &ctx, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["process"]["name"], want);
    }
}

#[test]
fn field_names_are_unique_and_actions_known() {
    let mut names: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
    names.sort();
    let n = names.len();
    names.dedup();
    assert_eq!(names.len(), n);
    for f in FIELDS {
        for a in f.actions {
            assert!(action_index(a).is_some(), "{}: {a}", f.name);
        }
    }
    assert_eq!(PROCESS.len() + FILE.len() + NETWORK.len(), ACTIONS.len());
}
