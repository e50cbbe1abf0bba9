//! Severity from context: package operations (recognized by executable,
//! live only while the manager runs), the service manager, a developer's
//! builds and scripts; and the reasons every alert carries.

use std::sync::Arc;

use super::context::{Context, Session, same_session};
use super::*;
use crate::model::alert::Severity;
use crate::model::event::{Creds, FileOp, SignalBody};
use crate::model::proctable::Process;
use crate::testkit::{exec, exit, file, file_with, process};

pub(super) fn detector() -> Detector {
    let cfg = config::Config {
        alerts: config::AlertsConfig {
            burst: 1_000_000,
            per_minute: 60.0,
        },
        ..Default::default()
    };
    Detector::new(&cfg, "h", RuleSet::empty(), None).unwrap()
}

/// `p` running `exe` as the kernel sees it, run as `executable` (a
/// script, a symlink), with `args`.
pub(super) fn image(p: &Arc<Process>, executable: &str, exe: &str, args: &[&str]) -> Arc<Process> {
    let mut q = (**p).clone();
    q.image = Arc::new(crate::model::event::Image {
        executable: executable.into(),
        exe: exe.into(),
        name: exe.rsplit('/').next().unwrap().into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        env_vars: Vec::new(),
        truncated: Default::default(),
        hash: Default::default(),
        working_directory: String::new(),
        file: None,
    });
    Arc::new(q)
}

/// `p` as root: only root's package managers change the system.
pub(super) fn root(p: Arc<Process>) -> Arc<Process> {
    let mut q = (*p).clone();
    q.creds = Some(Creds::default());
    Arc::new(q)
}

pub(super) fn run(d: &mut Detector, ev: &Event) -> Vec<Alert> {
    let mut out = Vec::new();
    d.detect(ev, &mut out);
    out
}

/// apt-get → dpkg --configure → at's postinst (a script run by dash).
pub(super) fn apt_dpkg_postinst() -> (Arc<Process>, Arc<Process>, Arc<Process>) {
    let apt = process(
        300,
        "/usr/bin/apt-get",
        &["apt-get", "install", "-y", "at"],
        None,
    );
    let apt = root(apt);
    let dpkg = process(
        301,
        "/usr/bin/dpkg",
        &[
            "/usr/bin/dpkg",
            "--status-fd",
            "24",
            "--configure",
            "at:amd64",
        ],
        Some(apt.clone()),
    );
    let dpkg = root(dpkg);
    let postinst = image(
        &process(302, "/bin/sh", &[], Some(dpkg.clone())),
        "/var/lib/dpkg/info/at.postinst",
        "/usr/bin/dash",
        &[
            "/bin/sh",
            "/var/lib/dpkg/info/at.postinst",
            "configure",
            "3.2.5",
        ],
    );
    (apt, dpkg, postinst)
}

#[test]
fn a_write_inside_a_package_operation_is_low_and_names_the_package() {
    let mut d = detector();
    let (apt, dpkg, postinst) = apt_dpkg_postinst();
    for p in [&apt, &dpkg, &postinst] {
        assert!(run(&mut d, &exec(1, p)).is_empty());
    }
    // The postinst's own write, and a helper it runs.
    let helper = process(303, "/usr/sbin/update-rc.d", &[], Some(postinst.clone()));
    let helper = image(
        &helper,
        "/usr/sbin/update-rc.d",
        "/usr/bin/perl",
        &["/usr/bin/perl", "/usr/sbin/update-rc.d", "atd", "defaults"],
    );
    run(&mut d, &exec(2, &helper));
    let a = run(
        &mut d,
        &file(3, &helper, FileOp::Symlink, "/etc/rc2.d/S01atd"),
    );
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].rule.id, "rg-persist-rc-scripts");
    assert_eq!(a[0].rule.severity, Severity::Low);
    let op = a[0].package.as_deref().unwrap();
    assert_eq!(
        (
            op.manager,
            op.pid,
            op.name.as_deref(),
            op.operation.as_deref()
        ),
        ("dpkg", 301, Some("at"), Some("configure"))
    );
    assert_eq!(
        a[0].reasons,
        [
            "rg-persist-rc-scripts is high by default",
            "inside a package operation: dpkg (pid 301) configure of package at"
        ]
    );
    // dpkg's own write names the package from its command line.
    let a = run(&mut d, &file(4, &dpkg, FileOp::Open, "/etc/cron.d/at"));
    assert_eq!(a[0].rule.severity, Severity::Low);
    assert_eq!(
        a[0].package.as_deref().unwrap().to_string(),
        "dpkg (pid 301) configure of package at"
    );
    // After dpkg exits, what its scripts left running is on its own.
    run(&mut d, &exit(5, &dpkg));
    let a = run(&mut d, &file(6, &helper, FileOp::Open, "/etc/cron.d/later"));
    assert_eq!(a[0].rule.severity, Severity::High);
    assert!(a[0].package.is_none());
    assert_eq!(a[0].reasons[1], "outside any package operation");
}

#[test]
fn a_copy_or_a_namesake_of_a_package_manager_is_not_one() {
    let mut d = detector();
    let shell = root(process(400, "/usr/bin/bash", &["-bash"], None));
    // A copy of dpkg in /tmp; a shell renamed dpkg; a symlink named
    // /usr/bin-like but running /tmp code; a script claiming a manager's
    // path but run by an interpreter outside the system directories.
    let fakes = [
        image(
            &shell,
            "/tmp/x/dpkg",
            "/tmp/x/dpkg",
            &["dpkg", "-i", "a.deb"],
        ),
        image(&shell, "/tmp/x/dpkg", "/usr/bin/dash", &["dpkg"]),
        image(&shell, "/usr/bin/dpkg", "/tmp/x/payload", &["dpkg"]),
        image(
            &shell,
            "/usr/bin/unattended-upgrade",
            "/tmp/python3",
            &["u"],
        ),
    ];
    for (i, fake) in fakes.iter().enumerate() {
        let mut fake = (**fake).clone();
        fake.pid = 401 + i as u32;
        let fake = Arc::new(fake);
        run(&mut d, &exec(1, &fake));
        let a = run(&mut d, &file(2, &fake, FileOp::Open, "/etc/cron.d/job"));
        assert_eq!(a[0].rule.severity, Severity::High, "{:?}", fake.image);
        assert!(a[0].package.is_none());
        let child = process(450 + i as u32, "/usr/bin/cp", &[], Some(fake.clone()));
        let a = run(&mut d, &file(3, &child, FileOp::Open, "/etc/cron.d/job"));
        assert_eq!(a[0].rule.severity, Severity::High, "{:?}", fake.image);
    }
    // A script manager is recognized by the script its system
    // interpreter runs.
    let uu = image(
        &root(process(460, "/usr/bin/python3", &[], None)),
        "/usr/bin/unattended-upgrade",
        "/usr/bin/python3.11",
        &["/usr/bin/python3", "/usr/bin/unattended-upgrade"],
    );
    run(&mut d, &exec(4, &uu));
    let a = run(&mut d, &file(5, &uu, FileOp::Open, "/etc/cron.daily/x"));
    assert_eq!(a[0].rule.severity, Severity::Low);
    assert_eq!(
        a[0].package.as_deref().unwrap().manager,
        "unattended-upgrade"
    );
    // The real dpkg run by a user (`--force-not-root --root=~/x` runs a
    // package's scripts as that user) changes nothing of the host's.
    let user_dpkg = process(
        470,
        "/usr/bin/dpkg",
        &[
            "dpkg",
            "--force-not-root",
            "--root=/home/u/r",
            "-i",
            "x.deb",
        ],
        None,
    );
    run(&mut d, &exec(6, &user_dpkg));
    let script = process(471, "/bin/sh", &[], Some(user_dpkg.clone()));
    let a = run(&mut d, &file(7, &script, FileOp::Open, "/home/u/.bashrc"));
    assert_eq!(a[0].rule.id, "rg-persist-shell-profile");
    assert_eq!(a[0].rule.severity, Severity::Medium);
    assert!(a[0].package.is_none());
}

#[test]
fn detections_a_package_never_explains_keep_their_severity() {
    let mut d = detector();
    let (_, dpkg, postinst) = apt_dpkg_postinst();
    run(&mut d, &exec(1, &dpkg));
    run(&mut d, &exec(2, &postinst));
    // The agent's own files, written in another package's operation.
    let mut d2 = detector();
    d2.protect(
        vec![crate::detect::tamper::Protected {
            what: "binary",
            path: "/usr/local/bin/rand-guard".into(),
        }],
        4242,
    );
    run(&mut d2, &exec(1, &dpkg));
    let a = run(
        &mut d2,
        &file(3, &dpkg, FileOp::Open, "/usr/local/bin/rand-guard"),
    );
    assert_eq!(a[0].rule.id, "rg-agent-tamper");
    assert_eq!(a[0].rule.severity, Severity::High);
    assert_eq!(
        a[0].reasons.last().unwrap(),
        "inside a package operation (dpkg (pid 301) configure of package at), which does not \
         lower rg-agent-tamper"
    );
    // ...but rand-guard's own upgrade is low.
    let own = process(
        310,
        "/usr/bin/dpkg",
        &["dpkg", "-i", "rand-guard_0.2.0_amd64.deb"],
        None,
    );
    let own = root(own);
    run(&mut d2, &exec(4, &own));
    let a = run(
        &mut d2,
        &file(5, &own, FileOp::Rename, "/usr/local/bin/rand-guard"),
    );
    assert_eq!(a[0].rule.severity, Severity::Low);
    assert_eq!(
        a[0].package.as_deref().unwrap().name.as_deref(),
        Some("rand-guard")
    );
}

#[test]
fn the_service_manager_stopping_the_agent_is_not_an_alert() {
    let mut d = detector();
    d.protect(Vec::new(), 4242);
    let signal = |p: &Arc<Process>, sig| {
        let mut ev = exec(1, p);
        ev.body = Body::Signal(SignalBody {
            target_pid: 4242,
            target_tid: 4242,
            signal: sig,
            code: "SI_USER",
            result: "delivered",
        });
        ev
    };
    let init = process(1, "/usr/lib/systemd/systemd", &["/sbin/init"], None);
    assert!(run(&mut d, &signal(&init, 15)).is_empty());
    assert!(run(&mut d, &signal(&init, 9)).is_empty());
    let admin = process(500, "/usr/bin/kill", &["kill", "4242"], None);
    let a = run(&mut d, &signal(&admin, 15));
    assert_eq!(a[0].rule.severity, Severity::Medium);
    assert_eq!(
        a[0].reasons,
        [
            "SIGTERM: a stop the agent handles: it drains and writes this alert first",
            "sent by pid 500, not by the service manager (PID 1)"
        ]
    );
    // PID 1 making an enablement link on request is low; anyone else's
    // link is not.
    let link = "/etc/systemd/system/multi-user.target.wants/x.service";
    let a = run(&mut d, &file(2, &init, FileOp::Symlink, link));
    assert_eq!(a[0].rule.id, "rg-persist-systemd-unit");
    assert_eq!(a[0].rule.severity, Severity::Low);
    let shell = process(501, "/usr/bin/bash", &[], None);
    let a = run(&mut d, &file(3, &shell, FileOp::Symlink, link));
    assert_eq!(a[0].rule.severity, Severity::High);
}

#[test]
fn enabling_what_is_installed_is_service_management() {
    let mut d = detector();
    let admin = process(
        510,
        "/usr/bin/systemctl",
        &["systemctl", "enable", "cron"],
        None,
    );
    let link = |ms, path: &str, target: &str| {
        file_with(ms, &admin, FileOp::Symlink, path, |f| {
            f.target_path = Some(target.into())
        })
    };
    let wants = "/etc/systemd/system/multi-user.target.wants/cron.service";
    // A unit the system ships: low, and said why.
    let a = run(&mut d, &link(1, wants, "/lib/systemd/system/cron.service"));
    assert_eq!(a[0].rule.severity, Severity::Low);
    assert_eq!(
        a[0].reasons,
        [
            "rg-persist-systemd-unit is high by default",
            "outside any package operation",
            "a link to /lib/systemd/system/cron.service, a unit the system ships: enabling \
             it is service management"
        ]
    );
    // A unit in /etc (an admin's, or an intruder's), or a path that only
    // starts like the vendor directory: high.
    for target in [
        "/etc/systemd/system/evil.service",
        "/usr/lib/systemd/../../../tmp/evil.service",
    ] {
        let a = run(&mut d, &link(2, wants, target));
        assert_eq!(a[0].rule.severity, Severity::High, "{target}");
    }
    // update-rc.d's links to init scripts, and its K → S renames: low.
    let a = run(&mut d, &link(3, "/etc/rc2.d/S01cron", "../init.d/cron"));
    assert_eq!(a[0].rule.id, "rg-persist-rc-scripts");
    assert_eq!(a[0].rule.severity, Severity::Low);
    let a = run(
        &mut d,
        &file_with(4, &admin, FileOp::Rename, "/etc/rc3.d/S01cron", |f| {
            f.original_path = Some("/etc/rc3.d/K01cron".into())
        }),
    );
    assert_eq!(a[0].rule.severity, Severity::Low);
    // The init script itself, rc.local, or a link to elsewhere: high.
    for ev in [
        file(5, &admin, FileOp::Open, "/etc/init.d/cron"),
        file(6, &admin, FileOp::Open, "/etc/rc.local"),
        link(7, "/etc/rc2.d/S01x", "/tmp/x"),
        file_with(8, &admin, FileOp::Rename, "/etc/rc2.d/S01x", |f| {
            f.original_path = Some("/tmp/x".into())
        }),
    ] {
        let a = run(&mut d, &ev);
        assert_eq!(a[0].rule.severity, Severity::High, "{:?}", ev.body);
    }
}

fn with_session(p: &Arc<Process>, uid: u32, login: Option<(u32, u32)>) -> Arc<Process> {
    let mut q = (**p).clone();
    q.creds = Some(Creds {
        uid,
        gid: uid,
        euid: uid,
        egid: uid,
        login_uid: login.map(|l| l.0),
        session_id: login.map(|l| l.1),
    });
    Arc::new(q)
}

#[test]
fn sessions_are_the_same_login_or_the_same_user_without_one() {
    let c = |uid, login: Option<(u32, u32)>| {
        Some(Creds {
            uid,
            login_uid: login.map(|l| l.0),
            session_id: login.map(|l| l.1),
            ..Default::default()
        })
    };
    assert_eq!(
        same_session(c(0, Some((1000, 7))), c(0, Some((1000, 7)))),
        Some(Session::Login {
            login_uid: 1000,
            session_id: 7
        })
    );
    assert_eq!(
        same_session(c(0, Some((1000, 7))), c(0, Some((1000, 8)))),
        None
    );
    assert_eq!(same_session(c(0, Some((1000, 7))), c(0, None)), None);
    assert_eq!(
        same_session(c(33, None), c(33, None)),
        Some(Session::User { uid: 33 })
    );
    assert_eq!(same_session(c(33, None), c(0, None)), None);
    assert_eq!(same_session(None, c(0, None)), None);
}

#[test]
fn a_developers_build_or_script_run_in_the_same_session_is_low() {
    let mut d = detector();
    let shell = with_session(
        &process(600, "/usr/bin/bash", &[], None),
        1000,
        Some((1000, 3)),
    );
    let ld = image(
        &with_session(
            &process(601, "/usr/bin/ld", &[], Some(shell.clone())),
            1000,
            Some((1000, 3)),
        ),
        "/usr/bin/ld",
        "/usr/bin/x86_64-linux-gnu-ld.bfd",
        &["/usr/bin/ld", "-o", "/tmp/a.out"],
    );
    run(
        &mut d,
        &file_with(1, &ld, FileOp::Open, "/tmp/a.out", |f| {
            f.open_flags = 0o1102
        }),
    );
    let run_it = |pid, login| {
        with_session(
            &process(pid, "/tmp/a.out", &["./a.out"], Some(shell.clone())),
            1000,
            login,
        )
    };
    let a = run(&mut d, &exec(2, &run_it(602, Some((1000, 3)))));
    let drop = a.iter().find(|a| a.rule.id == "rg-drop-exec").unwrap();
    assert_eq!(drop.rule.severity, Severity::Low);
    assert_eq!(
        drop.reasons,
        [
            "/tmp/a.out written by /usr/bin/ld and executed 0 s later",
            "in a world-writable temporary directory",
            "a program a compiler or linker built, run by the login session that wrote it \
             (login uid 1000, session 3), nothing downloaded",
            "outside any package operation"
        ]
    );
    // The same build run from another session is not the developer's run.
    run(
        &mut d,
        &file_with(3, &ld, FileOp::Open, "/tmp/a.out", |f| {
            f.open_flags = 0o1102
        }),
    );
    let a = run(&mut d, &exec(4, &run_it(603, Some((1001, 9)))));
    let drop = a.iter().find(|a| a.rule.id == "rg-drop-exec").unwrap();
    assert_eq!(drop.rule.severity, Severity::High);
    // A script the user wrote and ran: low; the same file from curl: not.
    let script = |pid| {
        image(
            &with_session(
                &process(pid, "/bin/sh", &[], Some(shell.clone())),
                1000,
                Some((1000, 3)),
            ),
            "/tmp/x.sh",
            "/usr/bin/dash",
            &["/bin/sh", "/tmp/x.sh"],
        )
    };
    run(
        &mut d,
        &file_with(5, &shell, FileOp::Open, "/tmp/x.sh", |f| {
            f.open_flags = 0o1101
        }),
    );
    let a = run(&mut d, &exec(6, &script(604)));
    let drop = a.iter().find(|a| a.rule.id == "rg-drop-exec").unwrap();
    assert_eq!(drop.rule.severity, Severity::Low);
    assert!(drop.reasons[2].starts_with("a script, run by the login session"));
    let curl = with_session(
        &process(
            605,
            "/usr/bin/curl",
            &["curl", "-o", "/tmp/x.sh"],
            Some(shell.clone()),
        ),
        1000,
        Some((1000, 3)),
    );
    run(
        &mut d,
        &file_with(7, &curl, FileOp::Open, "/tmp/x.sh", |f| {
            f.open_flags = 0o1101
        }),
    );
    let a = run(&mut d, &exec(8, &script(606)));
    let drop = a.iter().find(|a| a.rule.id == "rg-drop-exec").unwrap();
    assert_eq!(drop.rule.severity, Severity::Critical);
    assert_eq!(
        drop.reasons[1],
        "the writer /usr/bin/curl is a download tool (detections.download_tools)"
    );
    // A packaged file overwritten by someone else is scored by the
    // overwrite.
    let (_, dpkg, _) = apt_dpkg_postinst();
    run(&mut d, &exec(9, &dpkg));
    run(
        &mut d,
        &file_with(10, &dpkg, FileOp::Open, "/usr/bin/at", |f| {
            f.open_flags = 0o1101
        }),
    );
    run(
        &mut d,
        &file_with(11, &curl, FileOp::Open, "/usr/bin/at", |f| {
            f.open_flags = 0o1101
        }),
    );
    let at = process(607, "/usr/bin/at", &["at"], Some(shell.clone()));
    let a = run(&mut d, &exec(12, &at));
    let drop = a.iter().find(|a| a.rule.id == "rg-drop-exec").unwrap();
    assert_eq!(drop.rule.severity, Severity::High);
    assert!(drop.package.is_none());
}

#[test]
fn package_and_operation_come_from_scripts_and_command_lines() {
    let mut ctx = Context::default();
    let of = |ctx: &mut Context, p: &Arc<Process>| ctx.package_op(Some(p)).map(|o| o.to_string());
    let mgr = |pid, exe: &str, args: &[&str]| root(process(pid, exe, args, None));
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "/usr/bin/dpkg",
            &[
                "/usr/bin/dpkg",
                "--status-fd",
                "24",
                "--no-triggers",
                "--unpack",
                "--auto-deconfigure",
                "/var/cache/apt/archives/at_3.2.5-1+b1_amd64.deb",
            ],
            "dpkg (pid 700) unpack of package at",
        ),
        (
            "/usr/bin/dpkg",
            &["dpkg", "--configure", "--pending"],
            "dpkg (pid 701) configure",
        ),
        (
            "/usr/bin/dpkg",
            &["dpkg", "-P", "a", "b"],
            "dpkg (pid 702) purge",
        ),
        (
            "/usr/bin/apt-get",
            &[
                "apt-get",
                "-o",
                "DPkg::Lock::Timeout=120",
                "install",
                "./rg_1.0_all.deb",
            ],
            "apt (pid 703) install of package rg",
        ),
        (
            "/usr/bin/rpm",
            &["rpm", "-Uvh", "x.rpm"],
            "rpm (pid 704) upgrade",
        ),
        ("/usr/bin/zypper", &["zypper"], "zypper (pid 705)"),
        (
            "/usr/sbin/dpkg-reconfigure",
            &["dpkg-reconfigure", "-f", "noninteractive", "tzdata"],
            "dpkg-reconfigure (pid 706) reconfigure of package tzdata",
        ),
    ];
    for (i, (exe, args, want)) in cases.iter().enumerate() {
        let p = mgr(700 + i as u32, exe, args);
        ctx.observe(&exec(1, &p));
        assert_eq!(of(&mut ctx, &p).as_deref(), Some(*want));
    }
    // A new package's preinst runs from dpkg's unpack directory: the
    // package comes from dpkg's command line, the operation from the
    // script.
    let dpkg = mgr(710, "/usr/bin/dpkg", &["dpkg", "-i", "/tmp/new_1_all.deb"]);
    ctx.observe(&exec(1, &dpkg));
    let preinst = image(
        &process(711, "/bin/sh", &[], Some(dpkg.clone())),
        "/var/lib/dpkg/tmp.ci/preinst",
        "/usr/bin/dash",
        &["/bin/sh", "/var/lib/dpkg/tmp.ci/preinst", "install"],
    );
    assert_eq!(
        of(&mut ctx, &preinst).as_deref(),
        Some("dpkg (pid 710) install of package new")
    );
    // Multi-arch script names drop the architecture.
    let postrm = image(
        &process(712, "/bin/sh", &[], Some(dpkg.clone())),
        "/var/lib/dpkg/info/libfoo1:amd64.postrm",
        "/usr/bin/dash",
        &[
            "/bin/sh",
            "/var/lib/dpkg/info/libfoo1:amd64.postrm",
            "purge",
        ],
    );
    assert_eq!(
        of(&mut ctx, &postrm).as_deref(),
        Some("dpkg (pid 710) purge of package libfoo1")
    );
    // A manager the agent found running at start counts until its exit.
    let mut seeded = (*mgr(720, "/usr/bin/dpkg", &["dpkg", "--configure", "-a"])).clone();
    seeded.origin = crate::model::proctable::Origin::Procfs;
    let seeded = Arc::new(seeded);
    let child = process(721, "/usr/bin/cp", &[], Some(seeded.clone()));
    assert!(of(&mut ctx, &child).is_some());
    ctx.observe(&exit(2, &seeded));
    assert!(of(&mut ctx, &child).is_none());
}

#[test]
fn a_hard_link_to_a_system_interpreter_is_that_interpreter() {
    let id = |path: &str| {
        let f = std::fs::File::open(path).unwrap();
        crate::pipeline::hasher::Mounts::default()
            .id_of(&f)
            .unwrap()
    };
    let bash = std::fs::canonicalize("/usr/bin/bash").unwrap();
    let with = |exe: &str, file| {
        let mut q = (*process(900, "/tmp/x", &["x", "s.sh"], None)).clone();
        q.image = Arc::new(crate::model::event::Image {
            executable: "/tmp/x".into(),
            exe: exe.into(),
            file,
            ..Default::default()
        });
        q
    };
    let mut ctx = Context::default();
    // Run as /tmp/x, the kernel's path is the link's: only the inode says.
    let link = with("/tmp/x", Some(id(bash.to_str().unwrap())));
    assert_eq!(ctx.interpreter(&link), Some("bash"));
    // By its path, as before.
    let by_path = with("/usr/bin/python3.11", None);
    assert_eq!(ctx.interpreter(&by_path), Some("python3.11"));
    // Near misses: another system program's inode, no identity at all.
    let other = with("/tmp/x", Some(id("/usr/bin/true")));
    assert_eq!(ctx.interpreter(&other), None);
    assert_eq!(ctx.interpreter(&with("/tmp/x", None)), None);
}
