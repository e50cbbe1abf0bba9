//! Privileged end-to-end tests of a benign workload under the packaged
//! configuration (config/config.toml and rules/): installing, upgrading,
//! reinstalling, removing and purging Debian packages that ship and
//! enable a systemd unit, a cron file and an init script and create a
//! system user; compiling and running a program in /tmp; writing and
//! running a script; tar; cloning a local git repository and building it;
//! a local web server serving a file; logrotate; an admin disabling and
//! enabling a packaged service. None of it may raise an alert of
//! medium or higher. The same writes outside a package operation (a shell
//! writing a unit, a copy of dpkg writing cron, root adding a user) still
//! alert at their usual severity.
//!
//! Other tests and agents run on this host at the same time: alerts are
//! attributed to this test's processes by pid (the alert's process, its
//! parent or an ancestor), and the packages, users and files carry this
//! test's pid in their names.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{Agent, get, privileged};
use serde_json::Value;

/// How long the agent may lag behind this test's workload: the packaged
/// configuration watches `/root` and `/etc`, where other tests on this host
/// write thousands of files a second.
const LAG: Duration = Duration::from_secs(90);

/// The packaged configuration, as the packages install it, with the rules
/// read from a copy of rules/ (the agent refuses a rules directory others
/// may write) and no `[output]` (the test harness sets the output).
fn packaged_agent() -> (Agent, tempfile::TempDir) {
    let root = env!("CARGO_MANIFEST_DIR");
    let rules = tempfile::tempdir().unwrap();
    fs::set_permissions(rules.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let sample = rules.path().join("sample-rules.toml");
    fs::copy(format!("{root}/rules/sample-rules.toml"), &sample).unwrap();
    fs::set_permissions(&sample, fs::Permissions::from_mode(0o644)).unwrap();
    let shipped = fs::read_to_string(format!("{root}/config/config.toml")).unwrap();
    let mut config = String::new();
    let mut in_output = false;
    for line in shipped.lines() {
        if line.starts_with('[') {
            in_output = line == "[output]";
        }
        if in_output {
            continue;
        }
        if line == "dir = \"/etc/rand-guard/rules.d\"" {
            config.push_str(&format!("dir = \"{}\"\n", rules.path().display()));
        } else {
            config.push_str(line);
            config.push('\n');
        }
    }
    assert!(config.contains(&rules.path().display().to_string()));
    (Agent::start(&config), rules)
}

/// The alerts of processes in `roots` or below them.
fn alerts_of<'a>(records: &'a [Value], roots: &[u32]) -> Vec<&'a Value> {
    let ours = |v: &Value| v.as_u64().is_some_and(|p| roots.contains(&(p as u32)));
    records
        .iter()
        .filter(|r| r["record_type"] == "alert")
        .filter(|r| {
            ours(get(r, "process.pid"))
                || ours(get(r, "process.parent.pid"))
                || get(r, "rand_guard.ancestry")
                    .as_array()
                    .is_some_and(|a| a.iter().any(|e| ours(&e["pid"])))
        })
        .collect()
}

fn severity(a: &Value) -> &str {
    get(a, "rand_guard.alert.severity").as_str().unwrap()
}

fn reasons(a: &Value) -> Vec<&str> {
    get(a, "rand_guard.alert.severity_reasons")
        .as_array()
        .expect("every alert says why")
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect()
}

/// `rule severity executable: message` of every medium-or-higher alert.
fn loud(alerts: &[&Value]) -> Vec<String> {
    alerts
        .iter()
        .filter(|a| severity(a) != "low")
        .map(|a| {
            format!(
                "{} {} {}: {} {:?}",
                get(a, "rule.id"),
                severity(a),
                get(a, "process.executable"),
                get(a, "message"),
                reasons(a)
            )
        })
        .collect()
}

/// Run `program args`, wait for success.
fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// As `run`, returning the pid; dpkg's own lock (it has no wait) is
/// retried for a minute when another test holds it.
fn run_pid(program: &str, args: &[&str]) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let child = Command::new(program)
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            return pid;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("lock") && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(500));
            continue;
        }
        panic!(
            "{program} {args:?}: {}\n{err}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// Run `sh -c script`, wait for success; its pid.
fn sh(script: &str) -> u32 {
    run_pid("/bin/sh", &["-c", script])
}

/// A package named `name` at `version` that ships a unit, a cron file, an
/// init script and a program, and whose maintainer scripts create a
/// system user, enable the unit (deb-systemd-helper and systemctl) and
/// the init script (update-rc.d) and run the program; purging undoes it.
fn build_deb(dir: &Path, name: &str, version: &str) -> PathBuf {
    let root = dir.join(format!("root-{version}"));
    let put = |path: &str, text: String, mode: u32| {
        let p = root.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    };
    put(
        "DEBIAN/control",
        format!(
            "Package: {name}\nVersion: {version}\nArchitecture: all\n\
             Maintainer: rand-guard tests <tests@invalid>\n\
             Description: rand-guard benign-workload test package\n"
        ),
        0o644,
    );
    put(
        &format!("lib/systemd/system/{name}.service"),
        format!(
            "[Unit]\nDescription={name}\n[Service]\nExecStart=/usr/bin/{name}\n\
             [Install]\nWantedBy=multi-user.target\n"
        ),
        0o644,
    );
    put(
        &format!("etc/cron.d/{name}"),
        format!("17 3 * * * root /usr/bin/{name}\n"),
        0o644,
    );
    put(
        &format!("etc/init.d/{name}"),
        format!(
            "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: {name}\n\
             # Required-Start: $remote_fs\n# Required-Stop: $remote_fs\n\
             # Default-Start: 2 3 4 5\n# Default-Stop: 0 1 6\n\
             # Short-Description: {name}\n### END INIT INFO\nexit 0\n"
        ),
        0o755,
    );
    put(
        &format!("usr/bin/{name}"),
        format!("#!/bin/sh\necho {name} {version}\n"),
        0o755,
    );
    put(
        "DEBIAN/postinst",
        format!(
            "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n\
             adduser --system --group --no-create-home --quiet {name}\n\
             deb-systemd-helper enable {name}.service\n\
             systemctl enable {name}.service\n\
             update-rc.d {name} defaults\n\
             /usr/bin/{name}\nfi\n"
        ),
        0o755,
    );
    put(
        "DEBIAN/prerm",
        format!(
            "#!/bin/sh\nset -e\nif [ \"$1\" = remove ]; then\n\
             systemctl disable {name}.service\nfi\n"
        ),
        0o755,
    );
    put(
        "DEBIAN/postrm",
        format!(
            "#!/bin/sh\nset -e\nif [ \"$1\" = purge ]; then\n\
             update-rc.d {name} remove\n\
             deb-systemd-helper purge {name}.service\n\
             deluser --system --quiet {name} || true\nfi\n"
        ),
        0o755,
    );
    let deb = dir.join(format!("{name}_{version}_all.deb"));
    run(
        "dpkg-deb",
        &[
            "--root-owner-group",
            "--build",
            root.to_str().unwrap(),
            deb.to_str().unwrap(),
        ],
    );
    deb
}

/// Removes the directory at the end, whatever happened.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Purges the package at the end, whatever happened.
struct Installed(String);

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", &self.0]).output();
    }
}

#[test]
fn package_install_upgrade_reinstall_and_purge_raise_only_low_alerts() {
    if !privileged("package_install_upgrade_reinstall_and_purge_raise_only_low_alerts") {
        return;
    }
    let name = format!("rg-benign-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let v1 = build_deb(dir.path(), &name, "1.0");
    let v2 = build_deb(dir.path(), &name, "2.0");
    let (v1, v2) = (v1.to_str().unwrap(), v2.to_str().unwrap());
    let apt = |args: &[&str]| {
        let mut a = vec!["-y", "-q", "-o", "DPkg::Lock::Timeout=120"];
        a.extend_from_slice(args);
        run_pid("apt-get", &a)
    };
    let (agent, _rules) = packaged_agent();
    let _installed = Installed(name.clone());
    let roots = vec![
        apt(&["install", v1]),
        // An admin turning the packaged service off and on again: the unit
        // and init script are the package's, the links service management.
        sh(&format!(
            "systemctl disable {name}.service && systemctl enable {name}.service"
        )),
        apt(&["install", v2]), // an upgrade
        apt(&["install", "--reinstall", v2]),
        run_pid("dpkg", &["--remove", &name]),
        run_pid("dpkg", &["--install", v1]),
        run_pid("dpkg", &["--purge", &name]),
        apt(&["install", v1]),
        apt(&["purge", &name]),
    ];
    let last = *roots.last().unwrap();
    agent.wait_for_within("the purge's exit", LAG, |r| {
        get(r, "event.action") == "exit" && get(r, "process.pid") == last
    });
    let (_, records, _) = agent.stop();
    let alerts = alerts_of(&records, &roots);
    assert_eq!(loud(&alerts), Vec::<String>::new());
    // The admin's disable and enable: outside the package operation, low
    // as service management (links to the packaged unit and init script).
    let admin = alerts_of(&records, &[roots[1]]);
    assert!(!admin.is_empty());
    for a in &admin {
        assert!(get(a, "rand_guard.context").is_null());
        let why = reasons(a);
        assert!(
            why.last().unwrap().contains("service management")
                || get(a, "rule.id") == "rg-persist-systemd-enable",
            "{why:?}"
        );
    }
    // Quiet, not blind: each kind of write is still an alert, low, with
    // the package and the operation that did it.
    let ours = |rule: &str, exe: &str| {
        alerts
            .iter()
            .filter(|a| get(a, "rule.id") == rule && get(a, "process.executable") == exe)
            .filter(|a| !admin.iter().any(|b| std::ptr::eq(**a, *b)))
            .map(|a| {
                assert_eq!(get(a, "rand_guard.context.package.name"), name.as_str());
                let op = get(a, "rand_guard.context.package.operation");
                let why = reasons(a);
                assert!(
                    why.last()
                        .unwrap()
                        .starts_with("inside a package operation: "),
                    "{why:?}"
                );
                op.as_str().unwrap_or("").to_string()
            })
            .collect::<Vec<_>>()
    };
    let cron = ours("rg-persist-cron", "/usr/bin/dpkg");
    assert!(cron.iter().any(|op| op == "unpack"), "{cron:?}");
    assert!(cron.iter().any(|op| op == "install"), "{cron:?}");
    assert!(!ours("rg-persist-systemd-unit", "/usr/bin/dpkg").is_empty());
    assert!(!ours("rg-persist-rc-scripts", "/usr/bin/dpkg").is_empty());
    let rc = ours("rg-persist-rc-scripts", "/usr/sbin/update-rc.d");
    assert!(rc.iter().any(|op| op == "configure"), "{rc:?}");
    let users = ours("rg-persist-account-files", "/usr/sbin/useradd");
    assert!(users.iter().all(|op| op == "configure"), "{users:?}");
    assert!(!users.is_empty());
    assert!(!ours("sample-account-tool-run", "/usr/sbin/adduser").is_empty());
    assert!(!ours("rg-persist-systemd-enable", "/usr/bin/systemctl").is_empty());
    // The packaged program, run by its postinst right after dpkg wrote it.
    let run_by_postinst = ours("rg-drop-exec", &format!("/usr/bin/{name}"));
    assert!(!run_by_postinst.is_empty());
    // debconf and adduser read the shadow file for a living: no alert.
    assert!(
        alerts
            .iter()
            .filter(|a| get(a, "rule.id") == "rg-cred-sensitive-read")
            .all(|a| !["/usr/sbin/adduser", "/usr/share/debconf/frontend"]
                .contains(&get(a, "process.executable").as_str().unwrap())),
    );
    assert!(
        !Path::new(&format!("/etc/cron.d/{name}")).exists(),
        "purged"
    );
}

#[test]
fn the_same_writes_outside_a_package_operation_still_alert() {
    if !privileged("the_same_writes_outside_a_package_operation_still_alert") {
        return;
    }
    let tag = std::process::id();
    let unit = format!("/etc/systemd/system/rg-benign-attack-{tag}.service");
    let cron = format!("/etc/cron.d/rg-benign-attack-{tag}");
    let renamed = format!("/etc/cron.d/rg-benign-renamed-{tag}");
    let user = format!("rgba{tag}");
    let dir = tempfile::tempdir().unwrap();
    let dpkg_copy = dir.path().join("dpkg");
    fs::copy("/usr/bin/dpkg", &dpkg_copy).unwrap();
    let sh_named_dpkg = dir.path().join("bin/dpkg");
    fs::create_dir_all(sh_named_dpkg.parent().unwrap()).unwrap();
    fs::copy("/usr/bin/dash", &sh_named_dpkg).unwrap();
    let (agent, _rules) = packaged_agent();
    let shell = sh(&format!(
        "printf '[Service]\\nExecStart=/tmp/x\\n' > {unit}; rm -f {unit}"
    ));
    // The copy logs to where cron reads jobs. Its database is a private
    // empty one: it configures nothing of the host's and takes no lock
    // another test or helper holds.
    let admin_dir = dir.path().join("admin");
    fs::create_dir_all(admin_dir.join("updates")).unwrap();
    fs::create_dir_all(admin_dir.join("info")).unwrap();
    fs::write(admin_dir.join("status"), "").unwrap();
    let copy = run_pid(
        dpkg_copy.to_str().unwrap(),
        &[
            &format!("--admindir={}", admin_dir.display()),
            &format!("--log={cron}"),
            "--configure",
            "--pending",
        ],
    );
    let named = run_pid(
        sh_named_dpkg.to_str().unwrap(),
        &["-c", &format!("echo '* * * * * root id' > {renamed}")],
    );
    let admin = sh(&format!(
        "useradd -M {user} && echo '{user}:x-{tag}' | chpasswd && passwd -d {user} >/dev/null \
         && userdel {user}"
    ));
    let _ = fs::remove_file(&cron);
    let _ = fs::remove_file(&renamed);
    agent.wait_for_within("the admin shell's exit", LAG, |r| {
        get(r, "event.action") == "exit" && get(r, "process.pid") == admin
    });
    let (_, records, _) = agent.stop();
    let one = |root: u32, rule: &str, path: &str| -> Value {
        let found: Vec<&Value> = alerts_of(&records, &[root])
            .into_iter()
            .filter(|a| get(a, "rule.id") == rule && get(a, "file.path") == path)
            .collect();
        assert!(!found.is_empty(), "no {rule} for {path}");
        found[0].clone()
    };
    let a = one(shell, "rg-persist-systemd-unit", &unit);
    assert_eq!(severity(&a), "high");
    assert_eq!(
        reasons(&a),
        [
            "rg-persist-systemd-unit is high by default",
            "outside any package operation"
        ]
    );
    assert!(get(&a, "rand_guard.context").is_null());
    // A copy of dpkg is not dpkg; nor is a shell named dpkg.
    let a = one(copy, "rg-persist-cron", &cron);
    assert_eq!(severity(&a), "high");
    assert_eq!(get(&a, "process.executable"), dpkg_copy.to_str().unwrap());
    assert_eq!(reasons(&a)[1], "outside any package operation");
    let a = one(named, "rg-persist-cron", &renamed);
    assert_eq!(severity(&a), "high");
    assert_eq!(get(&a, "process.name"), "dpkg");
    // Root adding a user at a terminal stays medium: rare, and what an
    // intruder does.
    let admin_alerts = alerts_of(&records, &[admin]);
    let by = |rule: &str, exe: &str| {
        admin_alerts
            .iter()
            .filter(|a| get(a, "rule.id") == rule && get(a, "process.executable") == exe)
            .map(|a| severity(a).to_string())
            .collect::<Vec<_>>()
    };
    let useradd = by("rg-persist-account-files", "/usr/sbin/useradd");
    assert!(
        !useradd.is_empty() && useradd.iter().all(|s| s == "medium"),
        "{useradd:?}"
    );
    assert_eq!(
        by("sample-account-tool-run", "/usr/sbin/useradd"),
        ["medium"]
    );
    assert_eq!(
        by("sample-account-tool-run", "/usr/sbin/chpasswd"),
        ["medium"]
    );
    let passwd = by("rg-persist-account-files", "/usr/bin/passwd");
    assert!(
        !passwd.is_empty() && passwd.iter().all(|s| s == "medium"),
        "{passwd:?}"
    );
}

/// A developer's and an admin's day in @D@: build and run a program,
/// write and run a script, tar, clone a local repository and build it,
/// serve files from a local web server and fetch one, rotate a log.
const DEV_WORK: &str = r#"set -e
cd @D@
cc -o @D@/hello src/hello.c
@D@/hello
printf '#!/bin/sh\necho script\n' > @D@/x.sh
chmod +x @D@/x.sh
@D@/x.sh
tar -cf @D@/src.tar src
mkdir -p @D@/untar
tar -xf @D@/src.tar -C @D@/untar
rm -rf @D@/repo @D@/clone
mkdir @D@/repo
cp src/hello.c @D@/repo/
printf 'hello: hello.c\n\tcc -o hello hello.c\n' > @D@/repo/Makefile
printf '#!/bin/sh\necho built\n' > @D@/repo/build.sh
chmod +x @D@/repo/build.sh
git -C @D@/repo init -q
git -C @D@/repo add .
git -C @D@/repo -c user.name=t -c user.email=t@invalid commit -qm init
git clone -q @D@/repo @D@/clone
make -s -C @D@/clone
@D@/clone/hello
@D@/clone/build.sh
# A fresh log: the server's child truncates it only once it runs, and the
# loop below must not read the previous run's port.
rm -f @D@/http.log
python3 -u -m http.server 0 --bind 127.0.0.1 --directory @D@/clone > @D@/http.log 2>&1 &
i=0
until grep -qs ' port ' @D@/http.log || [ $i -ge 200 ]; do
  i=$((i + 1))
  sleep 0.1
done
port=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' @D@/http.log)
python3 -c "import urllib.request, sys; urllib.request.urlretrieve('http://127.0.0.1:%s/hello.c' % sys.argv[1], sys.argv[2])" "$port" @D@/got.c
kill $!
cmp @D@/got.c @D@/repo/hello.c
echo line > @D@/app.log
/usr/sbin/logrotate -f -s @D@/state @D@/logrotate.conf
test -f @D@/rotated
"#;

#[test]
fn developer_and_admin_work_raise_only_low_alerts() {
    if !privileged("developer_and_admin_work_raise_only_low_alerts") {
        return;
    }
    let dir = PathBuf::from(format!("/tmp/rg-benign-dev-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("src")).unwrap();
    let _cleanup = RemoveDir(dir.clone());
    let d = dir.display();
    fs::write(
        dir.join("src/hello.c"),
        "#include <stdio.h>\nint main(void) { puts(\"hello\"); return 0; }\n",
    )
    .unwrap();
    fs::write(
        dir.join("logrotate.conf"),
        format!(
            "{d}/app.log {{\n  rotate 2\n  compress\n  postrotate\n    echo rotated > {d}/rotated\n  endscript\n}}\n"
        ),
    )
    .unwrap();
    let (agent, _rules) = packaged_agent();
    // One login session, as a developer at a terminal: the audit login
    // uid is set before the shell starts, as pam_loginuid does at a login.
    // The session writes the script it runs, as a developer does: a
    // script this test wrote (no session) run by `sh` in another session
    // is a drop run through an interpreter by someone else (rg-drop-exec,
    // high). The run without a session below finds the drop consumed.
    fs::write(dir.join("dev.src"), DEV_WORK.replace("@D@", &d.to_string())).unwrap();
    let session = format!(
        "echo 0 > /proc/self/loginuid 2>/dev/null; cp {d}/dev.src {d}/dev.sh; exec /bin/sh {d}/dev.sh"
    );
    let dev = sh(&session);
    // The same work as this test runs it, in whatever session it has
    // (none, on a host without pam_loginuid: then the same user counts).
    let plain = sh(&format!("exec /bin/sh {d}/dev.sh"));
    // A program built in one session and run from another (or by a
    // daemon): not the developer's own build run.
    let built = sh(&format!(
        "echo 0 > /proc/self/loginuid 2>/dev/null; cc -o {d}/other {d}/src/hello.c"
    ));
    let other = sh(&format!(
        "echo 0 > /proc/self/loginuid 2>/dev/null; {d}/other"
    ));
    // Whether this host lets a process start a login session (audit in
    // the kernel, loginuid not yet set or not immutable).
    let sessions = Command::new("/bin/sh")
        .args(["-c", "echo 0 > /proc/self/loginuid"])
        .status()
        .unwrap()
        .success();
    agent.wait_for_within("the other session's exit", LAG, |r| {
        get(r, "event.action") == "exit" && get(r, "process.pid") == other
    });
    let (_, records, _) = agent.stop();
    assert_eq!(loud(&alerts_of(&records, &[plain])), Vec::<String>::new());
    let alerts = alerts_of(&records, &[dev]);
    assert_eq!(loud(&alerts), Vec::<String>::new());
    let drop_of = |path: String| {
        alerts
            .iter()
            .find(|a| {
                get(a, "rule.id") == "rg-drop-exec" && get(a, "process.executable") == path.as_str()
            })
            .unwrap_or_else(|| panic!("no rg-drop-exec for {path}"))
            .to_owned()
    };
    let hello = drop_of(format!("{d}/hello"));
    let why = reasons(hello);
    assert!(
        why.iter()
            .any(|r| r.starts_with("a program a compiler or linker built, run by ")),
        "{why:?}"
    );
    // The cloned repository's build and its build script.
    for run in ["clone/hello", "clone/build.sh"] {
        assert_eq!(severity(drop_of(format!("{d}/{run}"))), "low");
    }
    let script = drop_of(format!("{d}/x.sh"));
    assert!(
        reasons(script)
            .iter()
            .any(|r| r.starts_with("a script, run by ")),
        "{:?}",
        reasons(script)
    );
    // The temp-directory sample rule is context now.
    assert!(
        alerts
            .iter()
            .any(|a| get(a, "rule.id") == "sample-exec-from-temp-dir" && severity(a) == "low")
    );
    // The other session's run of a build it did not make.
    let crossed: Vec<&Value> = alerts_of(&records, &[other, built])
        .into_iter()
        .filter(|a| get(a, "rule.id") == "rg-drop-exec")
        .collect();
    if !sessions {
        eprintln!("login sessions cannot be started here: the cross-session case is not checked");
        return;
    }
    assert!(
        !crossed.is_empty(),
        "no rg-drop-exec for a build run from another session"
    );
    for a in crossed {
        assert_eq!(severity(a), "high", "{:?}", reasons(a));
        assert!(
            reasons(a)
                .contains(&"built or scripted, but not run by the session or user that wrote it"),
            "{:?}",
            reasons(a)
        );
    }
}
