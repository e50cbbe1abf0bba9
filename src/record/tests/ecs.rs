//! The ECS fields of schema 2: host and agent ids, entity ids, user and
//! group names, file extensions, ATT&CK sub-techniques, `event.created`.

use serde_json::Value;

use super::*;

fn ctx_with(ids: HostIds) -> Context {
    Context {
        hostname: "h".into(),
        agent_version: "0.1.0",
        ancestry_depth: 2,
        hook_paths: Vec::new(),
        ids,
    }
}

fn line(lines: &mut LineWriter, rec: &Record, ctx: &Context) -> Value {
    let mut out = Vec::new();
    lines.write_line(rec, ctx, &mut out).unwrap();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn a_parent_is_named_by_the_entity_id_of_its_own_records() {
    let ctx = ctx_with(testkit::host_ids());
    let mut lines = LineWriter::new();
    let shell = testkit::chain(&["/sbin/init", "/bin/bash"]).unwrap();
    let child = testkit::process(4242, "/bin/true", &["true"], Some(shell.clone()));
    let own = line(&mut lines, &Record::Event(testkit::exec(1, &shell)), &ctx);
    let kid = line(&mut lines, &Record::Event(testkit::exec(2, &child)), &ctx);
    let file = line(
        &mut lines,
        &Record::Event(testkit::file(3, &child, FileOp::Unlink, "/tmp/x")),
        &ctx,
    );
    let shell_id = own["process"]["entity_id"].as_str().unwrap();
    assert_eq!(kid["process"]["parent"]["entity_id"], shell_id);
    assert_eq!(kid["process"]["entity_id"], file["process"]["entity_id"]);
    assert_ne!(kid["process"]["entity_id"], shell_id);
    // The same process seen again, as a new snapshot (an exec keeps pid
    // and start): the same id, from another writer too.
    let mut again = (*child).clone();
    assert!(again.entity_id.take().is_some(), "kept with the process");
    let v = line(
        &mut LineWriter::new(),
        &Record::Event(testkit::exec(4, &Arc::new(again))),
        &ctx,
    );
    assert_eq!(v["process"]["entity_id"], kid["process"]["entity_id"]);
}

#[test]
fn names_come_from_the_accounts_and_the_effective_user_when_it_differs() {
    let ctx = ctx_with(testkit::host_ids());
    let mut p = (*testkit::process(7, "/usr/bin/passwd", &["passwd"], None)).clone();
    let creds = p.creds.as_mut().unwrap();
    creds.euid = 0;
    creds.gid = 33;
    let ev = testkit::exec(1, &Arc::new(p));
    let v = line(&mut LineWriter::new(), &Record::Event(ev.clone()), &ctx);
    assert_eq!(
        v["user"],
        serde_json::json!({"id": "1000", "name": "alice", "effective": {"id": "0", "name": "root"}})
    );
    assert_eq!(
        v["group"],
        serde_json::json!({"id": "33", "name": "www-data"})
    );
    assert_eq!(
        v["process"]["user"],
        serde_json::json!({"id": "0", "name": "root"})
    );
    assert_eq!(
        v["process"]["real_group"],
        serde_json::json!({"id": "33", "name": "www-data"})
    );
    // Without accounts: the ids only.
    let bare = ctx_with(HostIds::fixed(None, "h", None, 0));
    let v = line(&mut LineWriter::new(), &Record::Event(ev), &bare);
    assert_eq!(
        v["user"],
        serde_json::json!({"id": "1000", "effective": {"id": "0"}})
    );
    assert_eq!(v["process"]["group"], serde_json::json!({"id": "1000"}));
    assert_eq!(v["host"].get("id"), None);
}

#[test]
fn a_changed_passwd_renames_on_a_later_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    std::fs::write(dir.join("passwd"), "ann:x:1000:1000::/:/bin/sh\n").unwrap();
    std::fs::write(dir.join("group"), "").unwrap();
    let mut ids = HostIds::fixed(None, "h", Some(&dir), 0);
    ids.created_ns = None;
    let ctx = ctx_with(ids);
    let ev = Record::Event(testkit::exec(
        1,
        &testkit::process(9, "/bin/sh", &["sh"], None),
    ));
    let mut lines = LineWriter::new();
    let t0 = std::time::Instant::now();
    lines.tick(testkit::WALL, t0);
    let v = line(&mut lines, &ev, &ctx);
    assert_eq!(v["user"]["name"], "ann");
    // event.created: the batch's clock.
    assert_eq!(v["event"]["created"], "2026-11-28T08:00:00.000000000Z");
    std::fs::write(dir.join("passwd.new"), "bob:x:1000:1000::/:/bin/sh\n").unwrap();
    std::fs::rename(dir.join("passwd.new"), dir.join("passwd")).unwrap();
    // The cached members are written again once the change is seen.
    lines.tick(testkit::WALL + 1, t0);
    assert_eq!(line(&mut lines, &ev, &ctx)["user"]["name"], "ann");
    lines.tick(
        testkit::WALL + 5_000_000_000,
        t0 + 2 * crate::model::accounts::RECHECK,
    );
    let v = line(&mut lines, &ev, &ctx);
    assert_eq!(v["user"]["name"], "bob");
    assert_eq!(v["process"]["user"]["name"], "bob");
    assert_eq!(v["event"]["created"], "2026-11-28T08:00:05.000000000Z");
}

#[test]
fn file_extension_is_after_the_last_dot_of_the_name() {
    for (path, want) in [
        ("/etc/cron.d/backdoor", None),
        ("/tmp/a.tar.gz", Some("gz")),
        ("/root/.bashrc", None),
        ("/tmp/x.", None),
        ("/srv/www/shell.php", Some("php")),
        ("/a.b/c", None),
    ] {
        let p = testkit::process(5, "/bin/sh", &["sh"], None);
        let v = line(
            &mut LineWriter::new(),
            &Record::Event(testkit::file(1, &p, FileOp::Open, path)),
            &ctx_with(testkit::host_ids()),
        );
        assert_eq!(v["file"]["extension"].as_str(), want, "{path}");
    }
}

#[test]
fn sub_techniques_sit_under_their_parent() {
    let t = |id: &str, name: Option<&str>| Technique {
        id: id.into(),
        name: name.map(Into::into),
    };
    let p = testkit::process(5, "/bin/sh", &["sh"], None);
    let mut a = alerts(&[testkit::exec(1, &p)]).remove(0);
    let mut rule = (*a.rule).clone();
    rule.tactics = vec!["Persistence".into(), "Execution".into()];
    rule.techniques = vec![
        t("T1053.003", Some("Scheduled Task/Job: Cron")),
        t("T1059", Some("Command and Scripting Interpreter")),
        t("T1053.002", Some("Scheduled Task/Job: At")),
    ];
    a.rule = Arc::new(rule.clone());
    let ctx = ctx_with(testkit::host_ids());
    let v = line(&mut LineWriter::new(), &Record::Alert(a.clone()), &ctx);
    assert_eq!(
        v["threat"],
        serde_json::json!({
            "framework": "MITRE ATT&CK",
            "tactic": {
                "id": ["TA0003", "TA0002"],
                "name": ["Persistence", "Execution"],
                "reference": [
                    "https://attack.mitre.org/tactics/TA0003/",
                    "https://attack.mitre.org/tactics/TA0002/"
                ]
            },
            "technique": {
                "id": ["T1053", "T1059"],
                "name": ["Scheduled Task/Job", "Command and Scripting Interpreter"],
                "reference": [
                    "https://attack.mitre.org/techniques/T1053/",
                    "https://attack.mitre.org/techniques/T1059/"
                ],
                "subtechnique": {
                    "id": ["T1053.003", "T1053.002"],
                    "name": ["Cron", "At"],
                    "reference": [
                        "https://attack.mitre.org/techniques/T1053/003/",
                        "https://attack.mitre.org/techniques/T1053/002/"
                    ]
                }
            }
        })
    );
    assert_eq!(v["event"]["risk_score"], v["event"]["severity"]);
    // A tactic ATT&CK does not have, a sub-technique without its
    // parent's name: the columns that would not align are left out.
    rule.tactics = vec!["Persistence".into(), "Mischief".into()];
    rule.techniques = vec![t("T1548.001", Some("Setuid and Setgid"))];
    a.rule = Arc::new(rule);
    let v = line(&mut LineWriter::new(), &Record::Alert(a.clone()), &ctx);
    assert_eq!(
        v["threat"]["tactic"],
        serde_json::json!({"name": ["Persistence", "Mischief"]})
    );
    assert_eq!(v["threat"]["technique"]["id"], serde_json::json!(["T1548"]));
    assert_eq!(v["threat"]["technique"].get("name"), None);
    assert_eq!(
        v["threat"]["technique"]["subtechnique"]["name"],
        serde_json::json!(["Setuid and Setgid"])
    );
    assert_same(&mut LineWriter::new(), &Record::Alert(a), &ctx);
}
