//! The Debian packages of `scripts/deps/debian-packages`, the one list of
//! what the build, the tests and CI need: its parser, and the check `cargo
//! xt` runs first, which names the packages that provide whatever command
//! or file is missing as one `apt-get install -y` line. `.ci/run` installs
//! from the same file (an awk line; the tests below run it and compare).

use std::collections::BTreeSet;
use std::env;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::root;

/// Relative to the workspace root.
pub const FILE: &str = "scripts/deps/debian-packages";

/// The group the build and `cargo xt` need (the README lists it).
pub const TEST: &str = "test";

/// Environment variables that name a tool in place of its usual command:
/// build.rs compiles with `$CLANG`, libbpf-sys runs `$PKG_CONFIG`.
const OVERRIDES: [(&str, &str); 2] = [("clang", "CLANG"), ("pkg-config", "PKG_CONFIG")];

#[derive(Debug, PartialEq)]
pub struct Package {
    pub name: String,
    /// The `[group]` the line is under.
    pub group: String,
    /// Commands (looked up on PATH) or absolute paths; present when
    /// every one is.
    pub checks: Vec<String>,
}

/// Lines are `PACKAGE CHECK...` under a `[group]` line; `#` starts a
/// comment.
pub fn parse(text: &str) -> Result<Vec<Package>, String> {
    let mut group: Option<String> = None;
    let mut packages: Vec<Package> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(g) = line.strip_prefix('[') {
            let g = g
                .strip_suffix(']')
                .filter(|g| !g.is_empty() && !g.contains(char::is_whitespace))
                .ok_or_else(|| format!("line {n}: not a [group] line: {line:?}"))?;
            group = Some(g.to_string());
            continue;
        }
        let mut words = line.split_whitespace();
        let name = words.next().unwrap_or_default().to_string();
        let checks: Vec<String> = words.map(str::to_string).collect();
        let group = group
            .clone()
            .ok_or_else(|| format!("line {n}: package {name} before any [group] line"))?;
        if checks.is_empty() {
            return Err(format!(
                "line {n}: package {name} names no command or path to check"
            ));
        }
        if packages.iter().any(|p| p.name == name) {
            return Err(format!("line {n}: package {name} listed twice"));
        }
        packages.push(Package {
            name,
            group,
            checks,
        });
    }
    Ok(packages)
}

/// The checks of `group` that fail, each with its package, in the file's
/// order.
pub fn missing<'a>(
    packages: &'a [Package],
    group: &str,
    present: impl Fn(&str) -> bool,
) -> Vec<(&'a str, &'a str)> {
    packages
        .iter()
        .filter(|p| p.group == group)
        .flat_map(|p| p.checks.iter().map(move |c| (p.name.as_str(), c.as_str())))
        .filter(|(_, c)| !present(c))
        .collect()
}

/// `apt-get install -y` and the packages, each once, in the order given.
pub fn install_line<'a>(packages: impl IntoIterator<Item = &'a str>) -> String {
    let mut seen = BTreeSet::new();
    let mut line = String::from("apt-get install -y");
    for p in packages {
        if seen.insert(p) {
            line.push(' ');
            line.push_str(p);
        }
    }
    line
}

/// An absolute path exists; a command is an executable file in a PATH
/// directory (or the tool its override variable names).
pub fn present(check: &str) -> bool {
    let name = OVERRIDES
        .iter()
        .find(|(cmd, _)| *cmd == check)
        .and_then(|(_, var)| env::var(var).ok())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| check.to_string());
    if name.contains('/') {
        return Path::new(&name).exists();
    }
    env::var_os("PATH")
        .map(|path| env::split_paths(&path).collect::<Vec<PathBuf>>())
        .unwrap_or_default()
        .iter()
        .any(|dir| {
            dir.join(&name)
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Before `cargo test`: everything the `[test]` group provides is here,
/// or fail naming what is missing and the one line that installs it.
pub fn check_test_tools() -> Result<(), ExitCode> {
    let path = root().join(FILE);
    let packages = std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|text| parse(&text))
        .map_err(|e| {
            eprintln!("xtask: {}: {e}", path.display());
            ExitCode::FAILURE
        })?;
    let gone = missing(&packages, TEST, present);
    if gone.is_empty() {
        return Ok(());
    }
    let what: Vec<String> = gone.iter().map(|(p, c)| format!("{c} ({p})")).collect();
    eprintln!(
        "xtask: the build and tests need what is missing here: {}\n\
         xtask: install it (the list and why each is needed: {FILE}):\n\n    {}\n",
        what.join(", "),
        install_line(gone.iter().map(|(p, _)| *p))
    );
    Err(ExitCode::FAILURE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    const SAMPLE: &str = "\
# comment
[test]
# why
gcc        cc
systemd    systemctl systemd-analyze   # two checks
python3    /usr/bin/python3

[ci]
rpm rpm
";

    fn pkg(name: &str, group: &str, checks: &[&str]) -> Package {
        Package {
            name: name.into(),
            group: group.into(),
            checks: checks.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn parses_groups_packages_and_checks() {
        assert_eq!(
            parse(SAMPLE).unwrap(),
            [
                pkg("gcc", "test", &["cc"]),
                pkg("systemd", "test", &["systemctl", "systemd-analyze"]),
                pkg("python3", "test", &["/usr/bin/python3"]),
                pkg("rpm", "ci", &["rpm"]),
            ]
        );
    }

    #[test]
    fn refuses_malformed_lines() {
        for (text, err) in [
            ("gcc cc\n", "line 1: package gcc before any [group] line"),
            ("[test]\ngcc\n", "line 2: package gcc names no command"),
            ("[test\n", "line 1: not a [group] line"),
            ("[]\n", "line 1: not a [group] line"),
            ("[a]\nx x\n[b]\nx y\n", "line 4: package x listed twice"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.starts_with(err), "{text:?}: {e}");
        }
    }

    #[test]
    fn missing_names_each_failed_check_once_and_the_line_each_package_once() {
        let packages = parse(SAMPLE).unwrap();
        let have = ["cc", "systemctl"];
        let gone = missing(&packages, TEST, |c| have.contains(&c));
        assert_eq!(
            gone,
            [
                ("systemd", "systemd-analyze"),
                ("python3", "/usr/bin/python3")
            ]
        );
        // Two missing commands of one package: it is named once.
        let gone = missing(&packages, TEST, |_| false);
        assert_eq!(gone.len(), 4);
        assert_eq!(
            install_line(gone.iter().map(|(p, _)| *p)),
            "apt-get install -y gcc systemd python3"
        );
        // The [ci] group is not the test group's business.
        assert!(missing(&packages, TEST, |c| c != "rpm").is_empty());
        assert!(missing(&packages, "ci", |_| true).is_empty());
    }

    #[test]
    fn present_finds_paths_and_commands_on_path() {
        assert!(present("/"));
        assert!(!present("/nonexistent/rand-guard-check"));
        // sh is on every PATH these tests run with.
        assert!(present("sh"));
        assert!(!present("rand-guard-no-such-command"));
    }

    /// The packages of one group, in the file's order.
    fn group<'a>(packages: &'a [Package], group: &str) -> Vec<&'a str> {
        packages
            .iter()
            .filter(|p| p.group == group)
            .map(|p| p.name.as_str())
            .collect()
    }

    fn the_file() -> Vec<Package> {
        parse(&std::fs::read_to_string(root().join(FILE)).unwrap()).unwrap()
    }

    #[test]
    fn the_file_parses_with_both_groups() {
        let packages = the_file();
        assert!(group(&packages, TEST).contains(&"netcat-traditional"));
        assert!(!group(&packages, "ci").is_empty());
        let groups: BTreeSet<&str> = packages.iter().map(|p| p.group.as_str()).collect();
        assert_eq!(groups, BTreeSet::from(["ci", TEST]));
    }

    /// The README's Requirements names exactly the [test] packages, as the
    /// line `cargo xt` prints, and the [ci] ones.
    #[test]
    fn readme_requirements_list_the_same_packages() {
        let packages = the_file();
        let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
        let section = readme
            .split("\n## Requirements\n")
            .nth(1)
            .expect("README has a Requirements section")
            .split("\n## ")
            .next()
            .unwrap();
        assert!(section.contains(FILE), "Requirements must point to {FILE}");
        // The inline code spans, a line break inside one read as a space.
        let spans: Vec<String> = section
            .split('`')
            .skip(1)
            .step_by(2)
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        let test_line = install_line(group(&packages, TEST));
        assert!(
            spans.contains(&test_line),
            "README Requirements must show `{test_line}`; it has {spans:#?}"
        );
        let ci = group(&packages, "ci").join(" ");
        assert!(
            spans.contains(&ci),
            "README Requirements must name the CI-only packages as `{ci}`; it has {spans:#?}"
        );
    }

    /// .ci/run installs every package of the file, read by its own awk line.
    #[test]
    fn ci_run_reads_the_same_packages() {
        let run = std::fs::read_to_string(root().join(".ci/run")).unwrap();
        let line = run
            .lines()
            .find(|l| l.contains("awk") && l.contains(FILE))
            .expect(".ci/run reads the packages with awk");
        let program = line
            .split('\'')
            .nth(1)
            .expect("the awk program in single quotes");
        let out = Command::new("awk")
            .arg(program)
            .arg(root().join(FILE))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let from_awk: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let all: Vec<String> = the_file().into_iter().map(|p| p.name).collect();
        assert_eq!(from_awk, all);
    }
}
