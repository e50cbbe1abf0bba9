//! Command-line behaviour that needs no privileges: version, config
//! validation and its error messages.

use std::fs;
use std::process::{Command, Output};

const AGENT: &str = env!("CARGO_BIN_EXE_rand-guard");

fn run(args: &[&str], env: Option<(&str, &str)>) -> Output {
    let mut c = Command::new(AGENT);
    c.args(args).env_remove("EDR_CONFIG");
    if let Some((k, v)) = env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// Alert lines as `rules test` can write them: without `event.created`
/// (the offline writer's clock) and the user and group names (resolved
/// from the recording host's accounts, which the offline writer does not
/// have); everything else, ids and all, must be as recorded.
fn offline_view(lines: &[String]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(
                v["event"]["created"].is_string(),
                "event.created written: {l}"
            );
            v["event"].as_object_mut().unwrap().remove("created");
            for who in [
                "/user",
                "/user/effective",
                "/group",
                "/process/user",
                "/process/group",
                "/process/real_user",
                "/process/real_group",
            ] {
                if let Some(o) = v.pointer_mut(who).and_then(|o| o.as_object_mut()) {
                    o.remove("name");
                }
            }
            v
        })
        .collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn version() {
    let out = run(&["--version"], None);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("rand-guard {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn check_config_prints_effective_settings() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config/config.toml");
    let out = run(&["check-config", "--config", shipped], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!("# configuration OK: {shipped}\n")),
        "{stdout}"
    );
    // The printed settings are themselves valid TOML with every key.
    let parsed: toml::Table = toml::from_str(&stdout).unwrap();
    assert_eq!(
        parsed["kernel"]["ring_buffer_bytes"].as_integer(),
        Some(8 << 20)
    );
    assert_eq!(
        parsed["output"]["path"].as_str(),
        Some("/var/log/rand-guard/events.jsonl")
    );
}

#[test]
fn bad_key_is_named_with_file_for_check_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    fs::write(
        &path,
        "[kernel]\nring_buffer_bytes = 8388608\nwakeup_byte = 4096\n",
    )
    .unwrap();
    let p = path.to_str().unwrap();
    for args in [
        vec!["check-config", "--config", p],
        vec!["run", "--config", p],
    ] {
        let out = run(&args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert_eq!(
            err.trim(),
            format!(
                "rand-guard: error: config {p} line 3: key `kernel.wakeup_byte`: \
                 unknown field `wakeup_byte`, expected one of `ring_buffer_bytes`, `wakeup_bytes`, `hooks`"
            )
        );
    }
}

#[test]
fn bad_value_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    fs::write(&path, "[process_table]\nancestry_depth = 100\n").unwrap();
    let out = run(
        &["check-config"],
        Some(("EDR_CONFIG", path.to_str().unwrap())),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "rand-guard: error: config {} line 2: key `process_table.ancestry_depth`: must be from 0 to 64, got 100",
            path.display()
        )
    );
}

#[test]
fn explicit_missing_config_is_an_error() {
    let out = run(&["run", "--config", "/nonexistent/rand-guard.toml"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("rand-guard: error: config /nonexistent/rand-guard.toml: cannot read:"),
        "{err}"
    );
}

#[test]
fn systemd_unit_verifies() {
    let Ok(status) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("SKIPPED systemd_unit_verifies: systemd-analyze not installed");
        return;
    };
    assert!(status.status.success());
    // The unit names the installed path; point it at the built binary.
    let unit = fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/rand-guard.service"
    ))
    .unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/rand-guard run\n"));
    assert!(unit.contains("Environment=EDR_CONFIG=/etc/rand-guard/config.toml\n"));
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("rand-guard.service");
    fs::write(&copy, unit.replace("/usr/local/bin/rand-guard", AGENT)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "systemd-analyze verify complained");
}

#[test]
fn unusable_external_object_is_refused_before_loading() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("edr-ebpf");
    fs::write(&junk, "not an ELF object").unwrap();
    let missing = dir.path().join("missing");
    let cfg = dir.path().join("c.toml");
    fs::write(&cfg, "").unwrap();
    for (object, expect) in [
        (
            &junk,
            format!(
                "rand-guard: error: refusing BPF object {}: ",
                junk.display()
            ),
        ),
        (
            &missing,
            format!(
                "rand-guard: error: cannot read the BPF object {} (EDR_EBPF_OBJECT): ",
                missing.display()
            ),
        ),
    ] {
        let out = run(
            &["run", "--config", cfg.to_str().unwrap(), "--output", "-"],
            Some(("EDR_EBPF_OBJECT", object.to_str().unwrap())),
        );
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(err.lines().any(|l| l.starts_with(&expect)), "{err}");
    }
}

#[test]
fn rules_check_lists_the_sample_rules() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");
    let out = run(&["rules", "check", "--rules-dir", dir], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    let n = stdout.lines().count() - 1;
    assert_eq!(
        lines.next().unwrap(),
        format!("# rules OK: {n} rules from {dir} (2 files)")
    );
    assert!(n >= 10, "{stdout}");
    let file = format!("{dir}/sample-rules.toml");
    assert_eq!(
        lines.next().unwrap(),
        format!("sample-download-piped-to-shell\thigh\texec\t{file}")
    );
    assert!(
        stdout.contains(&format!(
            "sample-shell-network-connection\thigh\tconnect\t{file}\n"
        )),
        "{stdout}"
    );
    // The sample Sigma rules, after the TOML ones (files in name order).
    assert!(
        stdout.ends_with(&format!(
            "e25cbfb9-2f29-49b4-ab6b-7ccc1665ecca\tmedium\tdns_query\t{dir}/sample-sigma.yml\n"
        )),
        "{stdout}"
    );
}

/// Sigma rules `rules check` cannot run are counted by reason on the
/// first line and named one per line; the rest load.
#[test]
fn rules_check_counts_and_names_skipped_sigma_rules() {
    let dir = tempfile::tempdir().unwrap();
    let rule = |id: &str, cat: &str, sel: &str| {
        format!(
            "title: T {id}\nid: {id}\nlogsource: {{product: linux, category: {cat}}}\n\
             detection:\n    sel:\n        {sel}\n    condition: sel\n"
        )
    };
    let rules = [
        rule("s-ok", "process_creation", "Image|endswith: /curl"),
        rule("s-field", "process_creation", "ParentUser: root"),
        rule("s-cat", "registry_set", "Image: /x"),
        rule("s-field2", "process_creation", "CreationUtcTime: x"),
    ]
    .join("---\n");
    let file = dir.path().join("s.yml");
    fs::write(&file, rules).unwrap();
    let d = dir.path().to_str().unwrap();
    let out = run(&["rules", "check", "--rules-dir", d], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let f = file.display();
    assert_eq!(
        text(&out.stdout),
        format!(
            "# rules OK: 1 rules from {d} (1 files); 3 Sigma rules skipped (2 unsupported field, 1 unsupported logsource)\n\
             s-ok\tmedium\texec\t{f}\n\
             # skipped: rules file {f}: rule `s-field` skipped (unsupported field): detection.sel.ParentUser: field `ParentUser`: the parent's user is not recorded (only the process's own ids)\n\
             # skipped: rules file {f}: rule `s-cat` skipped (unsupported logsource): logsource.category: category \"registry_set\" is not a log source rand-guard records (it has: process_creation, file_event, file_create, file_delete, file_rename, file_access, network_connection, dns_query)\n\
             # skipped: rules file {f}: rule `s-field2` skipped (unsupported field): detection.sel.CreationUtcTime: field `CreationUtcTime`: file creation times are not recorded\n"
        )
    );
    // A broken YAML file is an error naming the file and line, as for TOML.
    fs::write(dir.path().join("t.yml"), "title: x\ndetection: [a\n").unwrap();
    let out = run(&["rules", "check", "--rules-dir", d], None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!("rules file {d}/t.yml line ")),
        "{err}"
    );
    assert!(err.contains(": not valid YAML: "), "{err}");
}

#[test]
fn rules_check_names_every_problem_and_run_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.d");
    fs::create_dir(&rules).unwrap();
    let a = rules.join("a.toml");
    fs::write(
        &a,
        "[[rules]]\nid = \"one\"\nname = \"One\"\nseverity = \"low\"\nevents = [\"open\"]\n\
         [[rules.all]]\nfield = \"process.args_count\"\nregex = \"(\"\n",
    )
    .unwrap();
    let b = rules.join("b.toml");
    fs::write(
        &b,
        "[[rules]]\nid = \"two\"\nname = \"Two\"\nseverity = \"low\"\nevents = [\"exec\"]\n\
         [[rules.all]]\nfield = \"file.path\"\nprefix = \"/etc\"\n",
    )
    .unwrap();
    let out = run(
        &["rules", "check", "--rules-dir", rules.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        format!(
            "rules file {a}: rule `one`: key `all[0].regex`: regex does not apply to process.args_count, which is a number\n\
             rules file {b}: rule `two`: key `all[0].field`: file.path does not exist for event exec (it exists for: open, unlink, rename, chmod, chown, link, symlink, exec_refused, setxattr, removexattr)\n\
             rand-guard: error: 2 problem(s) in the rules directory {r}\n",
            a = a.display(),
            b = b.display(),
            r = rules.display()
        )
    );

    // The agent refuses to start on them, before touching the kernel.
    let cfg = dir.path().join("config.toml");
    fs::write(&cfg, format!("[rules]\ndir = \"{}\"\n", rules.display())).unwrap();
    let out = run(
        &["run", "--config", cfg.to_str().unwrap(), "--output", "-"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "rand-guard: error: rules file {}: rule `one`: key `all[0].regex`",
            a.display()
        )),
        "{stderr}"
    );

    // A directory that is not there, named on the command line.
    let missing = dir.path().join("nope");
    let out = run(
        &["rules", "check", "--rules-dir", missing.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with(&format!(
            "rules file {}: no such directory\n",
            missing.display()
        )),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn rules_test_replays_recorded_events_into_the_same_alerts() {
    let golden = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/rules_alerts.jsonl"
    );
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.d");
    fs::create_dir(&rules).unwrap();
    fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/rules/sample-rules.toml"),
        rules.join("sample-rules.toml"),
    )
    .unwrap();
    // The configuration the golden file was made with: a burst of 1.
    let cfg = dir.path().join("config.toml");
    fs::write(&cfg, "[alerts]\nburst = 1\nper_minute = 1.0\n").unwrap();
    let args = |extra: &[&str]| {
        let mut a = vec![
            "rules",
            "test",
            "--rules-dir",
            rules.to_str().unwrap(),
            "--events",
            golden,
            "--config",
            cfg.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run_args = |a: Vec<String>| run(&a.iter().map(String::as_str).collect::<Vec<_>>(), None);

    let out = run_args(args(&[]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "# rules test: 6 events replayed (0 filtered out), 4 alerts: \
         rg-webshell-exec 1, sample-web-server-spawns-shell 1, rg-persist-cron 2; \
         4 alert and 0 health records in the input skipped\n"
    );
    // The alerts are the golden alert records, ids and all, but for the
    // rule file's path (the golden file names the installed one).
    let installed = "/etc/rand-guard/rules.d/sample-rules.toml";
    let here = rules.join("sample-rules.toml");
    let want: Vec<String> = fs::read_to_string(golden)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"record_type\":\"alert\""))
        .map(|l| {
            l.replace(installed, here.to_str().unwrap())
                .replace("0.0.0-golden", env!("CARGO_PKG_VERSION"))
        })
        .collect();
    let got: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    assert_eq!(offline_view(&got), offline_view(&want));

    // Only the rules of the directory.
    let out = run_args(args(&["--no-builtin"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 1);
    assert!(
        text(&out.stderr).contains("1 alerts: sample-web-server-spawns-shell 1;"),
        "{}",
        text(&out.stderr)
    );

    // A broken line stops the replay, named by file, line and key.
    let bad = dir.path().join("bad.jsonl");
    let first = fs::read_to_string(golden)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    fs::write(
        &bad,
        format!(
            "{first}\n{}\n",
            first.replace("\"pid\":400,", "\"pid\":\"x\",")
        ),
    )
    .unwrap();
    let mut a = args(&[]);
    a[5] = bad.to_str().unwrap().to_string();
    let out = run_args(a);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!(
            "events file {} line 2: key `process.pid`: expected an integer (u32), found a string\n\
             rand-guard: error: rules test stopped\n",
            bad.display()
        )
    );
}

/// `rules test --rules-dir DIR` with no DIR fails as `rules check` does:
/// replaying through zero rules would print "0 alerts" and look like the
/// rules did not fire.
#[test]
fn rules_test_refuses_a_missing_rules_dir_it_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let events = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/rules_alerts.jsonl"
    );
    let cfg = dir.path().join("config.toml");
    fs::write(&cfg, "").unwrap();
    let out = run(
        &[
            "rules",
            "test",
            "--rules-dir",
            missing.to_str().unwrap(),
            "--events",
            events,
            "--config",
            cfg.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        format!(
            "rules file {}: no such directory\n\
             rand-guard: error: rules test stopped\n",
            missing.display()
        )
    );
}

#[test]
fn files_others_may_write_are_refused_unless_overridden() {
    use std::os::unix::fs::PermissionsExt;
    let chmod = |p: &std::path::Path, mode: u32| {
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap()
    };
    let uid = nix::unistd::geteuid();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.d");
    fs::create_dir(&rules).unwrap();
    chmod(&rules, 0o755);
    let a = rules.join("a.toml");
    fs::write(&a, "").unwrap();
    chmod(&a, 0o664);
    let cfg = dir.path().join("config.toml");
    fs::write(&cfg, format!("[rules]\ndir = \"{}\"\n", rules.display())).unwrap();
    let cfg_arg = cfg.to_str().unwrap();
    let run_args = |extra: &[&'static str]| -> Vec<&str> {
        let mut a = vec!["run", "--config", cfg_arg, "--output", "-"];
        a.extend_from_slice(extra);
        a
    };

    // The configuration file: refused like a configuration error.
    chmod(&cfg, 0o666);
    let out = run(&run_args(&[]), None);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!(
            "rand-guard: error: refusing the configuration file {p}: it has owner uid {uid} and \
             mode 0666; required: owned by root{agent} and not writable by group or others (like \
             sshd's StrictModes); fix: chmod go-w {p}, or for development only start with \
             --insecure-permissions\n",
            p = cfg.display(),
            agent = if uid.is_root() {
                String::new()
            } else {
                format!(" or uid {uid} (the agent's)")
            }
        )
    );
    chmod(&cfg, 0o644);

    // A rules file, before the kernel is touched.
    let out = run(&run_args(&[]), None);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "rand-guard: error: refusing the rules file {}: it has owner uid {uid} and mode 0664;",
            a.display()
        )),
        "{err}"
    );

    // An external BPF object.
    chmod(&a, 0o644);
    let junk = dir.path().join("edr-ebpf");
    fs::write(&junk, "not an ELF object").unwrap();
    chmod(&junk, 0o666);
    let object = Some(("EDR_EBPF_OBJECT", junk.to_str().unwrap()));
    let out = run(&run_args(&[]), object);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "rand-guard: error: refusing the BPF object {}: it has owner uid {uid} and mode 0666;",
            junk.display()
        )),
        "{err}"
    );

    // The override: everything loose gets through to the next check (the
    // object is junk), with one warning first.
    chmod(&cfg, 0o666);
    chmod(&a, 0o666);
    let out = run(&run_args(&["--insecure-permissions"]), object);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(
            "rand-guard: warning: --insecure-permissions: the owner and mode of the \
             configuration, the rules and the BPF object are not checked; for development only\n"
        ),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "rand-guard: error: refusing BPF object {}: ",
            junk.display()
        )),
        "{err}"
    );
}

/// `rules test` with Sigma rules: the recorded Sigma golden events raise
/// the golden Sigma alerts, and a skipped rule is counted in the summary.
#[test]
fn rules_test_replays_sigma_rules_and_counts_the_skipped() {
    let golden = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/sigma_alerts.jsonl"
    );
    let dir = tempfile::tempdir().unwrap();
    let samples = dir.path().join("sample-sigma.yml");
    fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/rules/sample-sigma.yml"),
        &samples,
    )
    .unwrap();
    fs::write(
        dir.path().join("z.yml"),
        "title: Hashes\nid: z-1\nlogsource: {product: linux, category: process_creation}\n\
         detection: {sel: {Hashes: abc}, condition: sel}\n",
    )
    .unwrap();
    let d = dir.path().to_str().unwrap();
    let out = run(
        &[
            "rules",
            "test",
            "--rules-dir",
            d,
            "--events",
            golden,
            "--config",
            "/dev/null",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "# rules test: 6 events replayed (0 filtered out), 3 alerts: \
         81149f9d-2671-43a1-9cca-d535b43dc1b2 1, 9aec11f9-7bf8-48e0-ae9e-663b5d31a709 1, \
         a4b8e940-d839-4d1a-ab44-c6089b9eb2a4 1; 3 alert and 0 health records in the input \
         skipped; 1 Sigma rules skipped (`rand-guard rules check` lists them)\n"
    );
    let installed = "/etc/rand-guard/rules.d/sample-sigma.yml";
    let want: Vec<String> = fs::read_to_string(golden)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"record_type\":\"alert\""))
        .map(|l| {
            l.replace(installed, samples.to_str().unwrap())
                .replace("0.0.0-golden", env!("CARGO_PKG_VERSION"))
        })
        .collect();
    let got: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    assert_eq!(offline_view(&got), offline_view(&want));
}
