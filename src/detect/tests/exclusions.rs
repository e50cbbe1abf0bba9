//! `[[exclusions]]` in the detector: by field, container, unit and hash; the hash in drop-exec alerts.

use super::*;

fn excluding(x: config::Exclusion, stats: Arc<Stats>) -> Detector {
    let cfg = config::Config {
        exclusions: vec![x],
        ..Default::default()
    };
    Detector::new(&cfg, "h", RuleSet::empty(), Some(stats)).unwrap()
}

#[test]
fn exclusions_drop_alerts_or_events_and_count_them() {
    let stats = Arc::new(Stats::default());
    let cron = |pid| cron_write(pid, 0);
    // A rule-scoped exclusion: that rule's alerts on that path go.
    let mut d = excluding(
        config::Exclusion {
            rule: Some("rg-persist-*".into()),
            path: Some("/etc/cron.d/**".into()),
            ..Default::default()
        },
        stats.clone(),
    );
    assert!(hits(&mut d, &cron(1)).is_empty());
    assert!(!d.excluded(&cron(1)));
    assert_eq!(
        hits(&mut d, &file(FileOp::Open, "/etc/sudoers", 0)),
        ["rg-persist-sudoers"]
    );
    assert_eq!(stats.snapshot().userspace_filtered_total, 1);
    // Without `rule`, the event itself is excluded (run() drops it).
    let d = excluding(
        config::Exclusion {
            path: Some("/etc/cron.d/**".into()),
            uid: Some(0),
            ..Default::default()
        },
        stats.clone(),
    );
    // No process known: the uid cannot match, so nothing is excluded.
    assert!(!d.excluded(&cron(1)));
    let root = Arc::new(crate::model::proctable::Process {
        pid: 1,
        ppid: 0,
        start_ns: 0,
        start_exact: true,
        start_time_ns: 0,
        image: Arc::new(crate::model::event::Image {
            executable: "/usr/bin/cp".into(),
            ..Default::default()
        }),
        creds: Some(crate::model::event::Creds {
            uid: 0,
            gid: 0,
            euid: 0,
            egid: 0,
            login_uid: None,
            session_id: None,
        }),
        cgroup_id: None,
        cgroup: None,
        ns: None,
        parent: None,
        origin: crate::model::proctable::Origin::Exec,
        chain_len: 0,
        entity_id: Default::default(),
    });
    let ev = Event {
        process: Some(root),
        ..cron(1)
    };
    assert!(d.excluded(&ev));
    assert!(!d.excluded(&Event {
        body: file(FileOp::Open, "/etc/crontab", 0).body,
        ..ev
    }));
}

/// `in_container`, `container_name`, `container_image`, `systemd_unit`:
/// a cron write in a container, in a unit and on the host.
#[test]
fn exclusions_by_container_and_unit() {
    let stats = Arc::new(Stats::default());
    let host = testkit::process(9, "/bin/sh", &["sh"], None);
    let web = testkit::in_container(&host, "web-1", "localhost/busy:1");
    let cron = testkit::in_unit(&host, "cron.service");
    let by = |p: &Arc<crate::model::proctable::Process>| Event {
        process: Some(p.clone()),
        ..cron_write(9, 0)
    };
    let covers = |x: config::Exclusion| -> [bool; 3] {
        let d = excluding(x, stats.clone());
        [by(&host), by(&web), by(&cron)].map(|ev| d.excluded(&ev))
    };
    let x = |f: fn(&mut config::Exclusion)| {
        let mut x = config::Exclusion::default();
        f(&mut x);
        x
    };
    assert_eq!(
        covers(x(|x| x.in_container = Some(true))),
        [false, true, false]
    );
    assert_eq!(
        covers(x(|x| x.in_container = Some(false))),
        [true, false, true]
    );
    assert_eq!(
        covers(x(|x| x.container_name = Some("web-*".into()))),
        [false, true, false]
    );
    assert_eq!(
        covers(x(|x| x.container_name = Some("db-*".into()))),
        [false, false, false]
    );
    assert_eq!(
        covers(x(|x| x.container_image = Some("localhost/busy:*".into()))),
        [false, true, false]
    );
    assert_eq!(
        covers(x(|x| x.systemd_unit = Some("cron.service".into()))),
        [false, false, true]
    );
    // The alert message says whose /etc/cron.d it is.
    let mut d = Detector::new(&config::Config::default(), "h", RuleSet::empty(), None).unwrap();
    let mut out = Vec::new();
    d.detect(&by(&web), &mut out);
    assert_eq!(
        out[0].message,
        "Cron job written: /etc/cron.d/job (open by /bin/sh, pid 9, in container web-1)"
    );
    // Every field given must match.
    assert_eq!(
        covers(x(|x| {
            x.in_container = Some(true);
            x.path = Some("/etc/cron.d/**".into());
        })),
        [false, true, false]
    );
}

/// `sha256` matches the process's hash in any case; a process whose
/// hash is not known (yet) is not covered.
#[test]
fn exclusions_by_hash() {
    use crate::model::hash::Hashed;
    let stats = Arc::new(Stats::default());
    let hashed = testkit::process(9, "/bin/sh", &["sh"], None);
    hashed
        .image
        .hash
        .set(Hashed::from_digest(&[0xab; 32]))
        .unwrap();
    let unhashed = testkit::process(9, "/bin/sh", &["sh"], None);
    let by = |p: &Arc<crate::model::proctable::Process>| Event {
        process: Some(p.clone()),
        ..cron_write(9, 0)
    };
    for (want, covered) in [("AB".repeat(32), true), ("ab".repeat(31) + "ac", false)] {
        let x = config::Exclusion {
            sha256: Some(want),
            ..Default::default()
        };
        let d = excluding(x, stats.clone());
        assert_eq!(
            [d.excluded(&by(&hashed)), d.excluded(&by(&unhashed))],
            [covered, false]
        );
    }
}

/// rg-drop-exec names the hash of the file run, once the hasher has set
/// it (or within `[hash] alert_wait_ms`); without one it is raised anyway.
#[test]
fn drop_exec_alerts_carry_the_hash() {
    use crate::model::event::FileOp;
    use crate::model::hash::{Hashed, Skip};
    let curl = testkit::process(800, "/usr/bin/curl", &["curl", "-o", "/tmp/x"], None);
    let mut cfg = config::Config::default();
    cfg.hash.alert_wait_ms = 0;
    for (outcome, tail) in [
        (
            Some(Hashed::from_digest(&[0x11; 32])),
            format!(" [sha256 {}]", "11".repeat(32)),
        ),
        (Some(Hashed::Skipped(Skip::TooLarge)), String::new()),
        (None, String::new()),
    ] {
        let mut d = Detector::new(&cfg, "h", RuleSet::empty(), None).unwrap();
        let run = testkit::process(900, "/tmp/x", &["/tmp/x"], None);
        if let Some(h) = outcome {
            run.image.hash.set(h).unwrap();
        }
        let mut out = Vec::new();
        d.detect(&testkit::file(0, &curl, FileOp::Open, "/tmp/x"), &mut out);
        d.detect(&testkit::exec(1, &run), &mut out);
        let alert = out.iter().find(|a| a.rule.id == "rg-drop-exec").unwrap();
        assert!(
            alert.message.ends_with(&format!(
                "(the writer downloads, in a temporary directory){tail}"
            )),
            "{}",
            alert.message
        );
    }
    // A dropped script run by `sh`: the process runs dash, whose hash is
    // not the script's, and is not named.
    let mut d = Detector::new(&cfg, "h", RuleSet::empty(), None).unwrap();
    let mut sh = (*testkit::process(901, "/usr/bin/dash", &["sh", "/tmp/x.sh"], None)).clone();
    sh.image = std::sync::Arc::new(crate::model::event::Image {
        executable: "/usr/bin/dash".into(),
        exe: "/usr/bin/dash".into(),
        args: vec!["sh".into(), "/tmp/x.sh".into()],
        ..Default::default()
    });
    sh.image.hash.set(Hashed::from_digest(&[0x22; 32])).unwrap();
    let mut out = Vec::new();
    d.detect(
        &testkit::file(0, &curl, FileOp::Open, "/tmp/x.sh"),
        &mut out,
    );
    d.detect(&testkit::exec(1, &std::sync::Arc::new(sh)), &mut out);
    let alert = out.iter().find(|a| a.rule.id == "rg-drop-exec").unwrap();
    assert!(
        alert.message.ends_with(
            "run by /usr/bin/dash, pid 901 (the writer downloads, in a temporary directory)"
        ),
        "{}",
        alert.message
    );
}
