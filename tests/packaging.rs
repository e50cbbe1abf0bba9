//! Packaging consistency that needs no privileges and no build of the
//! packages: the .deb, the .rpm, install.sh and the systemd unit name the
//! same installed paths, configuration files survive upgrades, the scripts
//! parse, and install.sh's kernel checks say what is missing. The
//! privileged half (installing and running each artifact) is
//! scripts/ci-smoke.sh, run by .ci/run.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Installed path -> mode, the layout SPEC section 5 fixes. Rule files are
/// whatever rules/ holds.
fn expected_layout() -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = [
        ("/usr/local/bin/rand-guard", "755"),
        ("/usr/local/lib/rand-guard/edr-ebpf", "644"),
        ("/etc/rand-guard/config.toml", "600"),
        ("/etc/systemd/system/rand-guard.service", "644"),
        ("/etc/logrotate.d/rand-guard", "644"),
    ]
    .into_iter()
    .map(|(p, m)| (p.to_string(), m.to_string()))
    .collect();
    for rule in rule_files() {
        m.insert(format!("/etc/rand-guard/rules.d/{rule}"), "644".into());
    }
    m
}

fn rule_files() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(Path::new(ROOT).join("rules"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn metadata() -> toml::Table {
    let text = fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    manifest["package"]["metadata"].as_table().unwrap().clone()
}

/// Expand an asset (source, dest) into installed path -> source file: a
/// `rules/*` glob into every file of rules/, a dest ending in `/` into
/// dest + file name. Both tools follow these rules.
fn expand(source: &str, dest: &str) -> Vec<(String, String)> {
    let dest = format!("/{}", dest.trim_start_matches('/'));
    if let Some(dir) = source.strip_suffix("/*") {
        assert!(dest.ends_with('/'), "glob {source} must go to a directory");
        return fs::read_dir(Path::new(ROOT).join(dir))
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                (format!("{dest}{name}"), format!("{dir}/{name}"))
            })
            .collect();
    }
    assert!(
        !dest.ends_with('/'),
        "{source}: name the file, not the directory"
    );
    vec![(dest, source.to_string())]
}

#[test]
fn deb_and_rpm_install_the_spec_layout_from_the_same_sources() {
    let meta = metadata();
    let mut deb = BTreeMap::new();
    for a in meta["deb"]["assets"].as_array().unwrap() {
        let a = a.as_array().expect("deb assets are [source, dest, mode]");
        let (src, dest, mode) = (
            a[0].as_str().unwrap(),
            a[1].as_str().unwrap(),
            a[2].as_str().unwrap(),
        );
        for (path, from) in expand(src, dest) {
            deb.insert(path, (from, mode.to_string()));
        }
    }
    let mut rpm = BTreeMap::new();
    for a in meta["generate-rpm"]["assets"].as_array().unwrap() {
        let (src, dest, mode) = (
            a["source"].as_str().unwrap(),
            a["dest"].as_str().unwrap(),
            a["mode"].as_str().unwrap(),
        );
        for (path, from) in expand(src, dest) {
            // An upgrade keeps local edits of anything under /etc, as
            // dpkg does for conffiles.
            if path.starts_with("/etc/") {
                assert_eq!(
                    a.get("config").and_then(|c| c.as_str()),
                    Some("noreplace"),
                    "{path} must be %config(noreplace) in the rpm"
                );
            }
            rpm.insert(path, (from, mode.to_string()));
        }
    }
    assert_eq!(deb, rpm, "the .deb and the .rpm differ");
    let layout: BTreeMap<String, String> = deb
        .iter()
        .map(|(p, (_, m))| (p.clone(), m.clone()))
        .collect();
    assert_eq!(layout, expected_layout());
    // The binary and the BPF object come from the build, in the directory
    // both tools rewrite to the static build's; the rest from the tree.
    assert_eq!(
        deb["/usr/local/bin/rand-guard"].0,
        "target/release/rand-guard"
    );
    assert_eq!(
        deb["/usr/local/lib/rand-guard/edr-ebpf"].0,
        "target/release/edr-ebpf"
    );
    for (path, (from, _)) in &deb {
        if !from.starts_with("target/") {
            assert!(
                Path::new(ROOT).join(from).is_file(),
                "{path}: {from} missing"
            );
        }
    }
    // cargo-deb marks every file under /etc as a conffile by itself;
    // nothing outside /etc is configuration.
    assert!(meta["deb"].get("conf-files").is_none());
}

#[test]
fn maintainer_scripts_exist_parse_and_check_for_systemd() {
    let meta = metadata();
    let deb_dir = Path::new(ROOT).join(meta["deb"]["maintainer-scripts"].as_str().unwrap());
    let mut scripts: Vec<_> = ["postinst", "prerm", "postrm"]
        .iter()
        .map(|s| deb_dir.join(s))
        .collect();
    for key in [
        "post_install_script",
        "pre_uninstall_script",
        "post_uninstall_script",
    ] {
        scripts.push(Path::new(ROOT).join(meta["generate-rpm"][key].as_str().unwrap()));
    }
    for s in scripts {
        let text = fs::read_to_string(&s).unwrap_or_else(|e| panic!("{}: {e}", s.display()));
        let out = Command::new("sh").arg("-n").arg(&s).output().unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            s.display(),
            text_of(&out.stderr)
        );
        // systemctl only where systemd runs (not in containers, chroots).
        if text
            .lines()
            .any(|l| l.trim_start().starts_with("systemctl "))
        {
            assert!(
                text.contains("[ -d /run/systemd/system ]"),
                "{}",
                s.display()
            );
        }
    }
}

fn unit() -> String {
    fs::read_to_string(Path::new(ROOT).join("systemd/rand-guard.service")).unwrap()
}

#[test]
fn unit_points_at_the_installed_files_and_waits_for_tracefs() {
    let unit = unit();
    let lines: Vec<&str> = unit.lines().collect();
    let has = |l: &str| lines.contains(&l);
    assert!(has("ExecStart=/usr/local/bin/rand-guard run"));
    assert!(has("Environment=EDR_CONFIG=/etc/rand-guard/config.toml"));
    assert!(has(
        "Environment=EDR_EBPF_OBJECT=/usr/local/lib/rand-guard/edr-ebpf"
    ));
    // systemd mounts tracefs before the agent starts: the agent cannot
    // mount it itself under ProtectKernelTunables (/sys read-only).
    assert!(has("Wants=sys-kernel-tracing.mount"));
    assert!(has("After=sys-kernel-tracing.mount"));
    let caps = lines
        .iter()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .unwrap();
    // Exactly these: CAP_SYS_ADMIN because Debian's kernels attach
    // tracepoints through perf_event_open only with it (the unit's
    // comment; proven by `cargo xtask systemd-test`).
    assert_eq!(
        caps,
        "CAP_BPF CAP_PERFMON CAP_SYS_ADMIN CAP_SYS_PTRACE CAP_DAC_READ_SEARCH"
    );
    assert!(has("UMask=0077"));
    assert!(has("Restart=on-failure"));
    assert!(lines.iter().any(|l| l.starts_with("StartLimitBurst=")));
}

#[test]
fn install_sh_uses_the_same_paths() {
    let script = fs::read_to_string(Path::new(ROOT).join("scripts/install.sh")).unwrap();
    for line in [
        "BIN=/usr/local/bin/rand-guard",
        "LIBDIR=/usr/local/lib/rand-guard",
        "OBJECT=$LIBDIR/edr-ebpf",
        "ETCDIR=/etc/rand-guard",
        "CONFIG=$ETCDIR/config.toml",
        "RULESDIR=$ETCDIR/rules.d",
        "UNIT=/etc/systemd/system/rand-guard.service",
        "LOGROTATE=/etc/logrotate.d/rand-guard",
    ] {
        assert!(
            script.lines().any(|l| l == line),
            "install.sh lacks `{line}`"
        );
    }
    let out = Command::new("sh")
        .arg("-n")
        .arg(install_sh())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text_of(&out.stderr));
}

fn install_sh() -> String {
    format!("{ROOT}/scripts/install.sh")
}

fn text_of(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Run a snippet with install.sh's functions defined (not its main).
fn with_install_functions(snippet: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(". \"$0\"; {snippet}"))
        .arg(install_sh())
        .env("RAND_GUARD_INSTALL_LIB", "1")
        .output()
        .unwrap()
}

#[test]
fn install_sh_kernel_check_names_what_is_missing() {
    let btf = "/proc/self/status"; // any readable file stands in for BTF
    for (release, ok, message) in [
        ("6.18.44-fc-v782", true, ""),
        ("10.0.1", true, ""),
        ("6.1.0-18-amd64", true, ""),
        ("6.12.118+deb12-amd64", true, ""),
        // bpf_loop is there, but no CI run tests these.
        (
            "5.17.0",
            false,
            "older than 6.1, the oldest kernel rand-guard is tested on",
        ),
        (
            "6.0.19",
            false,
            "older than 6.1, the oldest kernel rand-guard is tested on",
        ),
        ("5.16.20", false, "bpf_loop (Linux >= 5.17)"),
        ("5.8.0-1", false, "bpf_loop (Linux >= 5.17)"),
        ("5.7.9", false, "no BPF ring buffer (Linux >= 5.8)"),
        (
            "4.19.0-27-amd64",
            false,
            "no BPF ring buffer (Linux >= 5.8)",
        ),
        ("weird", false, "cannot read the kernel version"),
    ] {
        let out = with_install_functions(&format!("check_kernel '{release}' {btf}"));
        let err = text_of(&out.stderr);
        assert_eq!(out.status.success(), ok, "{release}: {err}");
        if !ok {
            assert!(err.starts_with("install.sh: error: "), "{release}: {err}");
            assert!(err.contains(message), "{release}: {err}");
        }
    }
    let out = with_install_functions("check_kernel 6.1.0 /nonexistent/vmlinux");
    assert!(!out.status.success());
    assert!(
        text_of(&out.stderr).contains("no BTF (/nonexistent/vmlinux is missing)"),
        "{}",
        text_of(&out.stderr)
    );
}

#[test]
fn install_sh_arguments() {
    // Both answer before the root check, so they are safe to run as root:
    // nothing is installed.
    let help = Command::new("sh")
        .arg(install_sh())
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(text_of(&help.stdout).contains("--uninstall"));
    let bad = Command::new("sh")
        .arg(install_sh())
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(text_of(&bad.stderr).contains("unknown option --bogus"));
}
