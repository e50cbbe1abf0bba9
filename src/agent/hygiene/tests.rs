use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::*;

const ROOT: &[u32] = &[0];

fn meta(kind: Kind, uid: u32, mode: u32) -> Meta {
    Meta { kind, uid, mode }
}

#[test]
fn judge_owner_and_write_bits() {
    use Kind::*;
    use Place::*;
    let ok = |m: Meta, place| judge(&m, place, ROOT).is_ok();
    assert!(ok(meta(File, 0, 0o600), Target));
    assert!(ok(meta(File, 0, 0o644), Target));
    assert!(ok(meta(File, 0, 0o444), Target));
    assert!(ok(meta(Dir, 0, 0o755), Above));
    assert!(!ok(meta(File, 0, 0o664), Target));
    assert!(!ok(meta(File, 0, 0o646), Target));
    assert!(!ok(meta(File, 1000, 0o600), Target));
    assert!(!ok(meta(Dir, 0, 0o775), Above));
    // A sticky directory above the target is fine when root's...
    assert!(ok(meta(Dir, 0, 0o1777), Above));
    assert!(!ok(meta(Dir, 1000, 0o1777), Above));
    // ...but not as the target itself (anyone could add a rules file).
    assert!(!ok(meta(Dir, 0, 0o1777), Target));
    // The sticky bit means nothing on a file.
    assert!(!ok(meta(File, 0, 0o1666), Target));
    // A symlink's mode is never used: only its owner counts.
    assert!(ok(meta(Symlink, 0, 0o777), Above));
    assert!(!ok(meta(Symlink, 1000, 0o777), Above));
    // Set-id bits are not write access.
    assert!(ok(meta(Dir, 0, 0o2755), Above));
    assert_eq!(
        judge(&meta(File, 7, 0o666), Target, ROOT),
        Err(Problem {
            bad_owner: true,
            writable: true
        })
    );
    // The agent's own user, when it is not root.
    assert!(judge(&meta(File, 1000, 0o600), Target, &[0, 1000]).is_ok());
}

/// A file system described by its entries. Paths resolve to themselves
/// unless `links` says otherwise (the whole resolved path, as
/// `canonicalize` returns it).
#[derive(Default)]
struct Fake {
    entries: HashMap<PathBuf, Meta>,
    links: HashMap<PathBuf, PathBuf>,
}

impl Fake {
    /// `/`, `/etc` and `/tmp` as usual.
    fn new() -> Fake {
        let mut f = Fake::default();
        f.dir("/", 0, 0o755)
            .dir("/etc", 0, 0o755)
            .dir("/tmp", 0, 0o1777);
        f
    }
    fn dir(&mut self, p: &str, uid: u32, mode: u32) -> &mut Fake {
        self.entries.insert(p.into(), meta(Kind::Dir, uid, mode));
        self
    }
    fn file(&mut self, p: &str, uid: u32, mode: u32) -> &mut Fake {
        self.entries.insert(p.into(), meta(Kind::File, uid, mode));
        self
    }
    fn symlink(&mut self, p: &str, uid: u32, to: &str) -> &mut Fake {
        self.entries
            .insert(p.into(), meta(Kind::Symlink, uid, 0o777));
        self.links.insert(p.into(), to.into());
        self
    }
    fn check(&self, p: &str, role: Role) -> Result<(), String> {
        check_with(self, Path::new(p), role, ROOT).map_err(|e| e.to_string())
    }
}

impl Fs for Fake {
    fn lstat(&self, path: &Path) -> io::Result<Meta> {
        self.entries
            .get(path)
            .copied()
            .ok_or_else(|| io::ErrorKind::NotFound.into())
    }
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        if let Some(to) = self.links.get(path) {
            return Ok(to.clone());
        }
        self.lstat(path).map(|_| path.to_path_buf())
    }
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        self.lstat(dir)?;
        Ok(self
            .entries
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .cloned()
            .collect())
    }
}

fn installed() -> Fake {
    let mut f = Fake::new();
    f.dir("/etc/rand-guard", 0, 0o755)
        .file("/etc/rand-guard/config.toml", 0, 0o600)
        .dir("/etc/rand-guard/rules.d", 0, 0o755)
        .file("/etc/rand-guard/rules.d/sample-rules.toml", 0, 0o644);
    f
}

const CONFIG: &str = "/etc/rand-guard/config.toml";
const RULES: &str = "/etc/rand-guard/rules.d";

#[test]
fn the_installed_layout_passes() {
    let f = installed();
    assert_eq!(f.check(CONFIG, Role::Config), Ok(()));
    assert!(check_rules_dir_with(&f, Path::new(RULES), ROOT).is_ok());
}

#[test]
fn a_writable_or_foreign_file_is_named_with_owner_mode_and_fix() {
    let mut f = installed();
    f.file(CONFIG, 0, 0o666);
    assert_eq!(
        f.check(CONFIG, Role::Config).unwrap_err(),
        "refusing the configuration file /etc/rand-guard/config.toml: it has owner uid 0 and \
         mode 0666; required: owned by root and not writable by group or others (like sshd's \
         StrictModes); fix: chmod go-w /etc/rand-guard/config.toml, or for development only \
         start with --insecure-permissions"
    );
    f.file(CONFIG, 65534, 0o644);
    assert_eq!(
        f.check(CONFIG, Role::Config).unwrap_err(),
        "refusing the configuration file /etc/rand-guard/config.toml: it has owner uid 65534 \
         and mode 0644; required: owned by root and not writable by group or others (like \
         sshd's StrictModes); fix: chown root /etc/rand-guard/config.toml, or for development \
         only start with --insecure-permissions"
    );
    f.file(CONFIG, 65534, 0o664);
    assert!(f.check(CONFIG, Role::Config).unwrap_err().contains(
        "fix: chown root /etc/rand-guard/config.toml && chmod go-w /etc/rand-guard/config.toml,"
    ));
}

#[test]
fn every_directory_up_to_the_root_is_checked() {
    let mut f = installed();
    f.dir("/etc/rand-guard", 1000, 0o755);
    assert_eq!(
        f.check(CONFIG, Role::Config).unwrap_err(),
        "refusing the configuration file /etc/rand-guard/config.toml: the directory \
         /etc/rand-guard above it has owner uid 1000 and mode 0755; required: owned by root and \
         not writable by group or others (like sshd's StrictModes); fix: chown root \
         /etc/rand-guard, or for development only start with --insecure-permissions"
    );
    let mut f = installed();
    f.dir("/", 0, 0o777);
    assert!(
        f.check(CONFIG, Role::Config)
            .unwrap_err()
            .contains(": the directory / above it has owner uid 0 and mode 0777;")
    );
}

#[test]
fn a_sticky_directory_above_is_accepted_when_root_owns_it() {
    let mut f = Fake::new();
    f.dir("/tmp/dev", 0, 0o700)
        .file("/tmp/dev/config.toml", 0, 0o644);
    assert_eq!(f.check("/tmp/dev/config.toml", Role::Config), Ok(()));
    // Directly in /tmp: only the owner may rename or delete it.
    f.file("/tmp/config.toml", 0, 0o644);
    assert_eq!(f.check("/tmp/config.toml", Role::Config), Ok(()));
    // Not sticky: anyone may swap the directory below it.
    f.dir("/tmp", 0, 0o777);
    assert!(
        f.check("/tmp/dev/config.toml", Role::Config)
            .unwrap_err()
            .contains(": the directory /tmp above it has owner uid 0 and mode 0777;")
    );
    // Sticky but another user's: that user may rename what is in it.
    f.dir("/tmp", 1000, 0o1777);
    assert!(
        f.check("/tmp/dev/config.toml", Role::Config)
            .unwrap_err()
            .contains(": the directory /tmp above it has owner uid 1000 and mode 1777;")
    );
}

#[test]
fn the_rules_directory_and_each_rules_file_are_checked() {
    let mut f = installed();
    f.file("/etc/rand-guard/rules.d/b.toml", 0, 0o646)
        // Not read by the loader: not checked.
        .file("/etc/rand-guard/rules.d/README", 1000, 0o666);
    let err = check_rules_dir_with(&f, Path::new(RULES), ROOT)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "refusing the rules file /etc/rand-guard/rules.d/b.toml: it has owner uid 0 and \
             mode 0646;"
        ),
        "{err}"
    );
    f.file("/etc/rand-guard/rules.d/b.toml", 0, 0o644);
    assert!(check_rules_dir_with(&f, Path::new(RULES), ROOT).is_ok());
    // Sigma files steer the agent as much as TOML ones.
    for sigma in ["c.yml", "d.yaml"] {
        let path = format!("/etc/rand-guard/rules.d/{sigma}");
        f.file(&path, 1000, 0o644);
        let err = check_rules_dir_with(&f, Path::new(RULES), ROOT)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "refusing the rules file {path}: it has owner uid 1000 and mode 0644;"
            )),
            "{err}"
        );
        f.file(&path, 0, 0o644);
    }
    assert!(check_rules_dir_with(&f, Path::new(RULES), ROOT).is_ok());
    // The directory itself: sticky is no excuse, anyone could add a file.
    f.dir(RULES, 0, 0o1777);
    let err = check_rules_dir_with(&f, Path::new(RULES), ROOT)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "refusing the rules directory /etc/rand-guard/rules.d: it has owner uid 0 and \
             mode 1777;"
        ),
        "{err}"
    );
}

#[test]
fn a_missing_path_is_left_to_the_loader() {
    let f = installed();
    assert_eq!(f.check("/etc/rand-guard/other.toml", Role::Config), Ok(()));
    assert!(check_rules_dir_with(&f, Path::new("/etc/rand-guard/none.d"), ROOT).is_ok());
}

#[test]
fn symlinks_are_judged_by_owner_and_followed() {
    // /etc/rand-guard/config.toml -> /opt/cfg/config.toml
    let mut f = Fake::new();
    f.dir("/etc/rand-guard", 0, 0o755)
        .symlink(CONFIG, 0, "/opt/cfg/config.toml")
        .dir("/opt", 0, 0o755)
        .dir("/opt/cfg", 0, 0o755)
        .file("/opt/cfg/config.toml", 0, 0o644);
    assert_eq!(f.check(CONFIG, Role::Config), Ok(()));

    f.dir("/opt/cfg", 0, 0o777);
    assert!(
        f.check(CONFIG, Role::Config)
            .unwrap_err()
            .contains(": the directory /opt/cfg above it has owner uid 0 and mode 0777;")
    );
    f.dir("/opt/cfg", 0, 0o755)
        .file("/opt/cfg/config.toml", 1000, 0o644);
    assert!(
        f.check(CONFIG, Role::Config).unwrap_err().contains(
            ": what it points to, /opt/cfg/config.toml, has owner uid 1000 and mode 0644;"
        )
    );
    // Whoever owns the link may point it elsewhere.
    f.file("/opt/cfg/config.toml", 0, 0o644)
        .symlink(CONFIG, 1000, "/opt/cfg/config.toml");
    let err = f.check(CONFIG, Role::Config).unwrap_err();
    assert!(
        err.contains(": it has owner uid 1000 and mode 0777; required: owned by root (like")
            && err.contains("fix: chown -h root /etc/rand-guard/config.toml,"),
        "{err}"
    );
}

#[test]
fn the_agents_own_user_is_trusted_too() {
    let mut f = Fake::new();
    f.dir("/home", 0, 0o755).dir("/home/dev", 1000, 0o755).file(
        "/home/dev/config.toml",
        1000,
        0o600,
    );
    let p = Path::new("/home/dev/config.toml");
    assert!(check_with(&f, p, Role::Config, &[0, 1000]).is_ok());
    f.file("/home/dev/config.toml", 1001, 0o600);
    let err = check_with(&f, p, Role::Config, &[0, 1000])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("required: owned by root or uid 1000 (the agent's) and not writable"),
        "{err}"
    );
}

// ---- the real file system ---------------------------------------------

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn real_files_in_a_tempdir() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    fs::write(&cfg, "").unwrap();
    chmod(&cfg, 0o644);
    // /tmp (1777) above, a 0700 directory, a 0644 file: accepted.
    check(&cfg, Role::Config, Policy::Strict).unwrap();

    chmod(&cfg, 0o666);
    let err = check(&cfg, Role::Config, Policy::Strict).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "refusing the configuration file {p}: it has owner uid {uid} and mode 0666; \
             required: owned by root",
            p = cfg.display(),
            uid = nix::unistd::geteuid()
        )),
        "{err}"
    );
    // The override.
    check(&cfg, Role::Config, Policy::Insecure).unwrap();
    chmod(&cfg, 0o644);

    chmod(dir.path(), 0o777);
    let err = check(&cfg, Role::Config, Policy::Strict).unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            ": the directory {} above it ",
            dir.path().display()
        )),
        "{err}"
    );
    chmod(dir.path(), 0o700);

    // Rules: the directory and each *.toml file in it.
    let rules = dir.path().join("rules.d");
    fs::create_dir(&rules).unwrap();
    chmod(&rules, 0o755);
    let a = rules.join("a.toml");
    fs::write(&a, "").unwrap();
    chmod(&a, 0o644);
    check_rules_dir(&rules, Policy::Strict).unwrap();
    chmod(&a, 0o664);
    let err = check_rules_dir(&rules, Policy::Strict).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("refusing the rules file {}: it has", a.display())),
        "{err}"
    );
    check_rules_dir(&rules, Policy::Insecure).unwrap();
    chmod(&a, 0o644);
    chmod(&rules, 0o775);
    assert!(check_rules_dir(&rules, Policy::Strict).is_err());

    // A symlink to an accepted file.
    chmod(&rules, 0o755);
    let link = dir.path().join("link.toml");
    std::os::unix::fs::symlink(&cfg, &link).unwrap();
    check(&link, Role::Config, Policy::Strict).unwrap();
}

#[test]
fn real_files_owned_by_another_user_are_refused() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED real_files_owned_by_another_user_are_refused: chown needs root");
        return;
    }
    let nobody = nix::unistd::Uid::from_raw(65534);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    fs::write(&cfg, "").unwrap();
    chmod(&cfg, 0o644);
    nix::unistd::chown(&cfg, Some(nobody), None).unwrap();
    let err = check(&cfg, Role::Config, Policy::Strict).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "refusing the configuration file {p}: it has owner uid 65534 and mode 0644; \
             required: owned by root and not writable by group or others (like sshd's \
             StrictModes); fix: chown root {p}, or for development only start with \
             --insecure-permissions",
            p = cfg.display()
        )
    );
    nix::unistd::chown(&cfg, Some(nix::unistd::Uid::from_raw(0)), None).unwrap();

    let rules = dir.path().join("rules.d");
    fs::create_dir(&rules).unwrap();
    chmod(&rules, 0o755);
    fs::write(rules.join("a.toml"), "").unwrap();
    chmod(&rules.join("a.toml"), 0o644);
    check_rules_dir(&rules, Policy::Strict).unwrap();
    nix::unistd::chown(&rules, Some(nobody), None).unwrap();
    let err = check_rules_dir(&rules, Policy::Strict).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "refusing the rules directory {}: it has owner uid 65534 and mode 0755;",
            rules.display()
        )),
        "{err}"
    );
}
