//! The parent cache, testkit events, and the container, systemd unit and executable-hash fields against the serde form.

use super::*;

#[test]
fn the_parent_cache_serves_only_its_own_parent() {
    let mut lines = LineWriter::new();
    let ctxs = contexts();
    let top = testkit::chain(&["/sbin/init", "/usr/sbin/sshd"]).unwrap();
    let child_events = |parent: &Arc<Process>, n: u32| {
        let child = testkit::process(20_000 + n, "/bin/true", &["true"], Some(parent.clone()));
        let mut fork = testkit::exec(u64::from(n), &child);
        fork.body = Body::Fork(ForkBody {
            parent_pid: parent.pid,
            parent_start_ns: parent.start_ns,
            child_ppid: parent.pid,
            child_start_ns: child.start_ns,
        });
        let exec = testkit::exec(u64::from(n) + 1, &child);
        let mut exit = testkit::exec(u64::from(n) + 2, &child);
        exit.body = Body::Exit(ExitBody {
            ppid: parent.pid,
            start_ns: child.start_ns,
            status: ExitStatus {
                code: 0,
                signal: None,
                core_dumped: false,
            },
            name: "true".into(),
        });
        [fork, exec, exit]
    };
    for round in 0..600u32 {
        let ctx = &ctxs[(round as usize / 7) % ctxs.len()];
        // The same pid every round; a new image, start and grandparent.
        let grand = (round % 2 == 0).then(|| top.clone());
        let exe = format!("/bin/sh-{round}");
        let mut shell = (*testkit::process(900, &exe, &[&exe, "-c", "loop"], grand)).clone();
        shell.start_time_ns += u64::from(round);
        let shell = Arc::new(shell);
        for n in 0..3 {
            for ev in child_events(&shell, round * 8 + n) {
                assert_same(&mut lines, &Record::Event(ev), ctx);
            }
        }
        // `shell` is dropped here but for the cache's clone; so are many
        // other parents (600 rounds over 128 slots).
    }
}

#[test]
fn testkit_events_match_the_serde_form() {
    let p = testkit::chain(&["/sbin/init", "/usr/sbin/cron", "/bin/sh"]).unwrap();
    let ctx = Context {
        hostname: "golden".into(),
        agent_version: "0.1.0",
        ancestry_depth: 4,
        hook_paths: Vec::new(),
        ids: crate::testkit::host_ids(),
    };
    for ev in [
        testkit::exec(1, &p),
        testkit::file(2, &p, FileOp::Open, "/etc/cron.d/x"),
        testkit::file_with(3, &p, FileOp::Chmod, "/x", |f| f.mode = Some(0o4755)),
        testkit::connect(4, &p, "1.2.3.4:4444"),
        testkit::stdio(5, &p, "dup2", 3, 77, "[2001:db8::2]:4444"),
    ] {
        assert_same(&mut LineWriter::new(), &Record::Event(ev), &ctx);
    }
}

/// The container, orchestrator and unit members, exactly; none for a
/// host process.
#[test]
fn container_and_unit_fields() {
    let ctx = contexts().remove(0);
    let line = |p: &Arc<Process>| -> serde_json::Value {
        let mut out = Vec::new();
        let ev = testkit::file(2, p, FileOp::Open, "/etc/cron.d/x");
        LineWriter::new()
            .write_line(&Record::Event(ev), &ctx, &mut out)
            .unwrap();
        serde_json::from_slice(&out).unwrap()
    };
    let host = testkit::process(5, "/bin/sh", &["sh"], None);
    let v = line(&host);
    for k in ["container", "orchestrator"] {
        assert!(v.get(k).is_none(), "{v}");
    }
    assert!(v["rand_guard"].get("systemd").is_none(), "{v}");
    assert!(
        v["rand_guard"]["process"].get("cgroup_path").is_none(),
        "{v}"
    );

    let v = line(&testkit::in_container(&host, "web-1", "localhost/busy:1"));
    assert_eq!(
        v["container"],
        serde_json::json!({
            "id": testkit::CONTAINER_ID,
            "runtime": "podman",
            "name": "web-1",
            "image": {"name": "localhost/busy:1"},
        })
    );
    assert!(v.get("orchestrator").is_none(), "{v}");
    assert_eq!(
        v["rand_guard"]["process"]["cgroup_path"],
        format!("/libpod_parent/libpod-{}", testkit::CONTAINER_ID)
    );

    let v = line(&testkit::in_unit(&host, "cron.service"));
    assert!(v.get("container").is_none(), "{v}");
    assert_eq!(
        v["rand_guard"]["systemd"],
        serde_json::json!({"unit": "cron.service"})
    );
}

/// process.hash.sha256 and the parent's once set, also after the parent's
/// bytes were cached without it; the reason a hash is missing.
#[test]
fn hash_fields_and_the_parent_cache() {
    let ctx = contexts().remove(0);
    let mut lines = LineWriter::new();
    let mut line = |p: &Arc<Process>| -> serde_json::Value {
        let mut out = Vec::new();
        let ev = testkit::file(2, p, FileOp::Open, "/etc/x");
        lines
            .write_line(&Record::Event(ev), &ctx, &mut out)
            .unwrap();
        serde_json::from_slice(&out).unwrap()
    };
    let parent = testkit::process(5, "/bin/sh", &["sh"], None);
    let child = testkit::process(6, "/tmp/x", &["x"], Some(parent.clone()));
    let v = line(&child);
    assert!(v["process"].get("hash").is_none(), "{v}");
    assert!(v["process"]["parent"].get("hash").is_none(), "{v}");
    child
        .image
        .hash
        .set(Hashed::from_digest(&[0x0f; 32]))
        .unwrap();
    parent
        .image
        .hash
        .set(Hashed::from_digest(&[0xf0; 32]))
        .unwrap();
    let v = line(&child);
    assert_eq!(v["process"]["hash"]["sha256"], "0f".repeat(32));
    assert_eq!(v["process"]["parent"]["hash"]["sha256"], "f0".repeat(32));
    assert!(v["rand_guard"]["process"].get("hash_skipped").is_none());
    let gone = testkit::process(7, "/tmp/y", &["y"], None);
    gone.image.hash.set(Hashed::Skipped(Skip::Gone)).unwrap();
    let v = line(&gone);
    assert!(v["process"].get("hash").is_none(), "{v}");
    assert_eq!(v["rand_guard"]["process"]["hash_skipped"], "gone");
}

/// PID 1 (else PID 2) in our own UTS namespace: our name. In another one
/// we cannot enter (a plain file here): our name and a warning that says
/// so.
#[test]
fn host_name_is_pid_1_namespaces() {
    let own = nix::unistd::gethostname()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        crate::record::host_name(std::path::Path::new("/proc")),
        (own.clone(), None)
    );
    let dir = tempfile::tempdir().unwrap();
    for pid in ["self", "1"] {
        std::fs::create_dir_all(dir.path().join(pid).join("ns")).unwrap();
    }
    let uts = |pid: &str| dir.path().join(pid).join("ns/uts");
    std::fs::write(uts("self"), "").unwrap();
    std::fs::hard_link(uts("self"), uts("1")).unwrap();
    assert_eq!(crate::record::host_name(dir.path()), (own.clone(), None));
    std::fs::remove_file(uts("1")).unwrap();
    std::fs::write(uts("1"), "").unwrap();
    // PID 1's namespace not visible: PID 2's decides, the same as ours.
    std::fs::remove_file(uts("1")).unwrap();
    std::fs::create_dir_all(dir.path().join("2/ns")).unwrap();
    std::fs::hard_link(uts("self"), uts("2")).unwrap();
    assert_eq!(crate::record::host_name(dir.path()), (own.clone(), None));
    std::fs::write(uts("1"), "").unwrap();
    let (name, warning) = crate::record::host_name(dir.path());
    assert_eq!(name, own);
    let w = warning.unwrap();
    assert!(
        w.starts_with(&format!(
            "host.hostname: cannot enter the host's UTS namespace ({}: EINVAL",
            uts("1").display()
        )) && w.ends_with("(run the container with --uts=host)"),
        "{w}"
    );
}
