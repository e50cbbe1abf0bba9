use super::*;
use crate::detect::Detector;
use crate::detect::context_tests::{detector, root};
use crate::model::event::FileOp;
use crate::model::proctable::Process;
use crate::testkit;

fn image(vars: &[&str]) -> Image {
    Image {
        env_vars: vars.iter().map(|v| v.to_string()).collect(),
        ..Image::default()
    }
}

/// The non-system libraries of `vars`; a bare name exists only in `here`.
fn libs(vars: &[&str], here: &[&str]) -> Vec<(&'static str, String)> {
    libraries(&image(vars), |p| here.contains(&p))
        .into_iter()
        .map(|l| (l.var, l.path))
        .collect()
}

#[test]
fn libraries_outside_the_system_directories() {
    let one = |var: &'static str, p: &str| vec![(var, p.to_string())];
    assert_eq!(
        libs(&["LD_PRELOAD=/tmp/x.so"], &[]),
        one("LD_PRELOAD", "/tmp/x.so")
    );
    assert_eq!(
        libs(&["LD_AUDIT=/lib/ok.so:/dev/shm/a.so"], &[]),
        one("LD_AUDIT", "/dev/shm/a.so")
    );
    // ld.so splits LD_PRELOAD at spaces too.
    assert_eq!(
        libs(&["LD_PRELOAD=/usr/lib/a.so /home/u/b.so"], &[]),
        one("LD_PRELOAD", "/home/u/b.so")
    );
    // A directory that only starts like a system one; a climb out of one;
    // a relative path (resolved against a working directory we do not
    // know).
    assert_eq!(
        libs(&["LD_PRELOAD=/usr/libexec/x.so"], &[]),
        one("LD_PRELOAD", "/usr/libexec/x.so")
    );
    assert_eq!(
        libs(&["LD_PRELOAD=/usr/lib/../../tmp/x.so"], &[]),
        one("LD_PRELOAD", "/usr/lib/../../tmp/x.so")
    );
    assert_eq!(
        libs(&["LD_PRELOAD=./x.so"], &[]),
        one("LD_PRELOAD", "./x.so")
    );
    // A bare name found first in a non-system LD_LIBRARY_PATH directory.
    assert_eq!(
        libs(
            &["LD_LIBRARY_PATH=/usr/lib:/tmp/l/", "LD_PRELOAD=evil.so"],
            &["/tmp/l/evil.so"]
        ),
        one("LD_PRELOAD", "/tmp/l/evil.so")
    );
    // Both variables, each library once.
    assert_eq!(
        libs(
            &["LD_PRELOAD=/tmp/x.so:/tmp/x.so", "LD_AUDIT=/var/tmp/y.so"],
            &[]
        ),
        vec![
            ("LD_PRELOAD", "/tmp/x.so".to_string()),
            ("LD_AUDIT", "/var/tmp/y.so".to_string())
        ]
    );
}

#[test]
fn system_libraries_are_near_misses() {
    let none: Vec<(&str, String)> = Vec::new();
    for vars in [
        &["LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"][..],
        &["LD_PRELOAD=/usr/lib/gcc/x86_64-linux-gnu/12/libasan.so"],
        &["LD_PRELOAD=/usr/local/lib/faketime/libfaketime.so.1"],
        &["LD_PRELOAD=/usr/$LIB/libeatmydata.so"],
        &[
            "LD_PRELOAD=/lib64/libc.so.6",
            "LD_AUDIT=/usr/lib64/audit.so",
        ],
        // fakeroot: a bare name and its own system directories.
        &[
            "LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/libfakeroot:/usr/lib64/libfakeroot",
            "LD_PRELOAD=libfakeroot-sysv.so",
        ],
        // A bare name no LD_LIBRARY_PATH directory has: the system's.
        &["LD_LIBRARY_PATH=/tmp/l", "LD_PRELOAD=libc.so.6"],
        // Empty values load nothing; LD_LIBRARY_PATH alone loads nothing.
        &["LD_PRELOAD=", "LD_AUDIT=::"],
        &["LD_LIBRARY_PATH=/tmp"],
    ] {
        assert_eq!(
            libs(
                vars,
                &["/usr/lib/x86_64-linux-gnu/libfakeroot/libfakeroot-sysv.so"]
            ),
            none,
            "{vars:?}"
        );
    }
    assert!(is_system("/usr/lib/x.so") && !is_system("/usr/lib") && !is_system("lib/x.so"));
}

/// `p` with `vars` in its environment (and `cut` when not scanned whole).
fn with_env(p: &Arc<Process>, vars: &[&str], cut: bool) -> Arc<Process> {
    let mut p = (**p).clone();
    let img = Arc::make_mut(&mut p.image);
    img.env_vars = vars.iter().map(|v| v.to_string()).collect();
    img.truncated.env = cut;
    Arc::new(p)
}

fn alerts(d: &mut Detector, ev: &Event) -> Vec<Alert> {
    let mut out = Vec::new();
    d.detect(ev, &mut out);
    out.retain(|a| a.rule.id == ID);
    out
}

#[test]
fn a_preloaded_library_raises_the_alert() {
    let mut d = detector();
    let parent = testkit::chain(&["/usr/sbin/sshd", "/bin/bash"]);
    let ls = testkit::process(7, "/usr/bin/ls", &["ls"], parent.clone());
    let ev = testkit::exec(10, &with_env(&ls, &["LD_PRELOAD=/home/u/x.so"], false));
    let got = alerts(&mut d, &ev);
    assert_eq!(got.len(), 1);
    let a = &got[0];
    assert_eq!(a.rule.severity, Severity::High);
    assert_eq!(
        a.message,
        "LD_PRELOAD=/home/u/x.so loaded into /usr/bin/ls (pid 7)"
    );
    assert_eq!(
        a.reasons,
        [
            "rg-preload-env is high by default",
            "LD_PRELOAD names /home/u/x.so, outside the system library directories",
            "outside any package operation",
        ]
    );
    assert_eq!(a.rule.techniques[0].id, "T1574.006");
    assert_eq!(a.evidence.len(), 1);

    // A library written just before in a watched place: critical, with
    // the write as evidence.
    let cc = testkit::process(8, "/usr/bin/cp", &["cp"], parent.clone());
    assert!(alerts(&mut d, &testkit::file(20, &cc, FileOp::Open, "/tmp/x.so")).is_empty());
    let ev = testkit::exec(2_020, &with_env(&ls, &["LD_AUDIT=/tmp/x.so"], false));
    let got = alerts(&mut d, &ev);
    assert_eq!(got[0].rule.severity, Severity::Critical);
    assert_eq!(
        got[0].message,
        "LD_AUDIT=/tmp/x.so loaded into /usr/bin/ls (pid 7)"
    );
    assert_eq!(
        got[0].reasons[2],
        "/tmp/x.so was written by /usr/bin/cp 2 s before"
    );
    assert_eq!(
        got[0].evidence.iter().map(|e| e.action).collect::<Vec<_>>(),
        ["open", "exec"]
    );

    // Not scanned to its end, nothing found: medium.
    let ev = testkit::exec(30, &with_env(&ls, &[], true));
    let got = alerts(&mut d, &ev);
    assert_eq!(got[0].rule.severity, Severity::Medium);
    assert_eq!(
        got[0].message,
        "Environment of /usr/bin/ls (pid 7) too large to scan for LD_PRELOAD"
    );
}

#[test]
fn near_misses_stay_silent_or_low() {
    let mut d = detector();
    let bash = testkit::chain(&["/bin/bash"]);
    let prog = testkit::process(9, "/usr/bin/prog", &["prog"], bash.clone());
    for vars in [
        &["LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"][..],
        &["LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libasan.so.8"],
        &[],
    ] {
        let ev = testkit::exec(10, &with_env(&prog, vars, false));
        assert!(alerts(&mut d, &ev).is_empty(), "{vars:?}");
    }
    // Inside a package operation (root's dpkg, a maintainer script
    // running a program with a library of the package's): low.
    let dpkg = root(testkit::process(
        20,
        "/usr/bin/dpkg",
        &["dpkg", "-i", "x.deb"],
        bash,
    ));
    let mut d = detector();
    alerts(&mut d, &testkit::exec(1, &dpkg));
    let test = root(testkit::process(21, "/usr/bin/make", &["make"], Some(dpkg)));
    let ev = testkit::exec(2, &with_env(&test, &["LD_PRELOAD=/build/tmp/t.so"], false));
    let got = alerts(&mut d, &ev);
    assert_eq!(got[0].rule.severity, Severity::Low);
    // Disabled: nothing.
    assert!(Preload::new(&[ID.to_string()]).is_none());
}
