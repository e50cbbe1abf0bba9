//! Where the persistence locations are: homes anywhere, unit directories
//! on systemd's whole search path, and the default prefixes that make the
//! kernel report them.

use super::persistence::PERSISTENCE;
use super::*;
use crate::model::alert::Severity;
use crate::model::event::FileOp;

fn detector(disabled: &[&str]) -> Detector {
    let cfg = config::Config {
        detections: config::Detections {
            disabled: disabled.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
        ..Default::default()
    };
    Detector::new(&cfg, "h", RuleSet::empty(), None).unwrap()
}

/// A successful `op` on `path` by pid 42 (an open is for writing).
fn file(op: FileOp, path: &str) -> Event {
    crate::testkit::file(
        0,
        &crate::testkit::process(42, "/usr/bin/cp", &["cp"], None),
        op,
        path,
    )
}

/// (rule id, severity, file path) of each alert `ev` raises.
fn records(d: &mut Detector, ev: &Event) -> Vec<(String, Severity, String)> {
    let mut out = Vec::new();
    d.detect(ev, &mut out);
    out.iter()
        .map(|a| {
            let Body::File(f) = &a.event.body else {
                panic!("not a file alert: {}", a.message)
            };
            (a.rule.id.clone(), a.rule.severity, f.path.clone())
        })
        .collect()
}

#[test]
fn authorized_keys_alert_in_every_home_not_only_root_and_home() {
    let mut d = detector(&[]);
    for path in [
        "/root/.ssh/authorized_keys",
        "/home/ann/.ssh/authorized_keys2",
        // Homes elsewhere: service accounts, git hosting, nested homes.
        "/var/lib/postgresql/.ssh/authorized_keys",
        "/srv/git/.ssh/authorized_keys",
        "/opt/x/.ssh/authorized_keys2",
        "/home/staff/ann/.ssh/authorized_keys",
        "/home/ann/work/.ssh/authorized_keys",
    ] {
        assert_eq!(
            records(&mut d, &file(FileOp::Rename, path)),
            [(
                "rg-persist-ssh-authorized-keys".to_string(),
                Severity::High,
                path.to_string()
            )],
            "{path}"
        );
    }
}

#[test]
fn units_under_usr_local_lib_systemd_are_persistence_and_are_watched() {
    let mut d = detector(&["rg-persist-systemd-enable"]);
    for path in [
        "/usr/local/lib/systemd/system/ssh.service.d/override.conf",
        "/usr/local/lib/systemd/system/evil.target",
        "/usr/local/lib/systemd/user/default.target.wants/x.conf",
    ] {
        assert_eq!(
            records(&mut d, &file(FileOp::Open, path)),
            [(
                "rg-persist-systemd-unit".to_string(),
                Severity::High,
                path.to_string()
            )],
            "{path}"
        );
    }
    // Written there and enabled: the correlation knows the directory too.
    let mut d = detector(&[]);
    let cp = crate::testkit::process(300, "/usr/bin/cp", &["cp"], None);
    let path = "/usr/local/lib/systemd/system/evil.service";
    let mut out = Vec::new();
    d.detect(&crate::testkit::file(0, &cp, FileOp::Open, path), &mut out);
    out.clear();
    let systemctl = crate::testkit::process(
        301,
        "/usr/bin/systemctl",
        &["systemctl", "enable", "evil"],
        None,
    );
    d.detect(&crate::testkit::exec(1, &systemctl), &mut out);
    let got: Vec<_> = out
        .iter()
        .map(|a| (a.rule.id.as_str(), a.rule.severity, a.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [(
            "rg-persist-systemd-enable",
            Severity::Critical,
            "Systemd unit evil.service written by /usr/bin/cp then enabled or started \
             (systemctl enable evil)"
        )]
    );
    // The kernel reports writes there with the default [file] include.
    let include = config::File::default().include;
    assert!(
        include
            .iter()
            .any(|p| "/usr/local/lib/systemd/system/x".starts_with(&format!("{p}/"))),
        "{include:?}"
    );
}

#[test]
fn the_default_include_covers_every_fixed_persistence_location() {
    // The literal directory in front of each location's first glob
    // character must be under a default [file] include prefix, or the
    // kernel never reports the write. Locations that start with a glob
    // (any `*.service`, any `.ssh/authorized_keys`) match wherever files
    // are watched at all.
    let include = config::File::default().include;
    for spec in PERSISTENCE {
        for glob in (spec.paths)() {
            let fixed = &glob[..glob.find(['*', '?', '[', '{']).unwrap_or(glob.len())];
            let dir = fixed.rsplit_once('/').map_or("", |(d, _)| d);
            if dir.is_empty() {
                continue;
            }
            assert!(
                include
                    .iter()
                    .any(|p| dir == p || dir.starts_with(&format!("{p}/"))),
                "{}: {glob} is outside the default [file] include",
                spec.id
            );
        }
    }
}

/// The homes of a password database, as they resolve on the host.
fn homes(passwd: &str, watched: &[&str]) -> (Vec<String>, usize) {
    let watched: Vec<String> = watched.iter().map(|s| s.to_string()).collect();
    persistence::account_ssh_dirs(passwd, &watched, |home| match home {
        "/nonexistent" | "/var/empty/gone" => None,
        // A symlinked home counts by its target, as the kernel reports it.
        "/srv/link" => Some("/data/git".to_string()),
        h => Some(h.to_string()),
    })
}

#[test]
fn every_account_home_outside_the_prefixes_has_its_ssh_watched() {
    let passwd = "\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
postgres:x:110:118:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash
git:x:111:119::/srv/link:/usr/bin/git-shell
git2:x:112:119::/data/git/:/usr/bin/git-shell
odd:x:113:113::/:/bin/sh
ann:x:1000:1000:Ann:/home/ann:/bin/bash
relative:x:114:114::var/lib/x:/bin/sh
broken line without fields
";
    let (dirs, left_out) = homes(passwd, &["/etc", "/root", "/home", "/usr/sbin"]);
    assert_eq!(
        dirs,
        ["/var/lib/postgresql/.ssh", "/data/git/.ssh", "/.ssh"],
        "covered homes, missing ones, relative paths and duplicates are left out"
    );
    assert_eq!(left_out, 0);
    // A prefix of "/" covers every home.
    assert_eq!(homes(passwd, &["/"]), (vec![], 0));
    // Covered means on a component boundary: /var/libx does not cover
    // /var/lib/postgresql.
    let (dirs, _) = homes(passwd, &["/var/libx", "/root", "/home", "/usr/sbin"]);
    assert_eq!(
        dirs,
        ["/var/lib/postgresql/.ssh", "/data/git/.ssh", "/.ssh"]
    );
    // A prefix that is the .ssh directory itself covers it.
    let (dirs, _) = homes(
        passwd,
        &["/var/lib/postgresql/.ssh", "/root", "/home", "/usr/sbin"],
    );
    assert_eq!(dirs, ["/data/git/.ssh", "/.ssh"]);
}

#[test]
fn account_ssh_dirs_are_bounded_and_the_rest_counted() {
    let passwd: String = (0..100)
        .map(|i| format!("svc{i}:x:{i}:{i}::/srv/svc{i}:/bin/sh\n"))
        .collect();
    let (dirs, left_out) = homes(&passwd, &["/etc"]);
    assert_eq!(dirs.len(), persistence::MAX_ACCOUNT_SSH_DIRS);
    assert_eq!(dirs[0], "/srv/svc0/.ssh");
    assert_eq!(left_out, 100 - persistence::MAX_ACCOUNT_SSH_DIRS);
}
