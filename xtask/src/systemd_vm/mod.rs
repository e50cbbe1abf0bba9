//! `cargo xtask systemd-test [--kernel VERSION]`: the release packages
//! under systemd as PID 1, tested as an administrator uses them.
//!
//! Builds the .deb and the tarball (`package`), boots Debian 12's own
//! kernel under qemu with a cached Debian 12 root file system whose init
//! is systemd (rootfs.rs says why it is the initramfs), and in it runs
//! guest.sh: `dpkg -i`, `systemctl enable --now`, records, `systemctl
//! reload`, `systemctl stop`, `dpkg --purge`; then `install.sh --enable`,
//! records into the journal, `install.sh --uninstall`. The guest reports
//! what it saw on its second serial port; checks.rs asserts on it here.
//! docs/packaging.md ("The systemd test") says what this proves and what
//! it does not.
//!
//! Files under `.local/systemd-test/`: `rootfs.cpio` (cached), and from
//! the last run `initrd.cpio`, `console.log`, `report.bin` and
//! `security.txt` (`systemd-analyze security rand-guard` in the guest).

mod checks;
mod cpio;
mod report;
mod rootfs;

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

// The kernels and the qemu launcher are vm-test's: the same cache
// (.local/vm/kernels/), the same KVM probe and machine.
use crate::vm::{kernel, qemu};
use crate::{deps, is_root, package, root};

/// Debian 12's own kernel series, from the configured apt sources.
const SERIES: kernel::Series = kernel::Series {
    prefix: "6.1",
    source: kernel::Source::Configured,
};

/// What the guest's progress lines on its console start with.
const MARKER: &str = "rg-systemd-test:";

/// The guest's script and the unit that runs it once the system is up.
const GUEST_SCRIPT: &str = include_str!("guest.sh");
const GUEST_UNIT: &str = "\
[Unit]
Description=rand-guard systemd test: the administrator's session
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh /root/rg-test/guest.sh
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
";

/// The whole boot may take this long (it takes about 3 minutes under TCG
/// on an idle 2-core machine; the agent's BPF load is the slow part).
const BOOT_TIMEOUT: Duration = Duration::from_secs(20 * 60);

pub fn run(args: &[String]) -> Result<(), ExitCode> {
    let kernel_version = parse_args(args).map_err(|e| {
        eprintln!("xtask: systemd-test: {e}");
        ExitCode::from(2)
    })?;
    if !is_root() {
        eprintln!(
            "xtask: systemd-test runs debootstrap and packs root-owned files: run it as root"
        );
        return Err(ExitCode::FAILURE);
    }
    let fail = |e: String| {
        eprintln!("xtask: systemd-test: {e}");
        ExitCode::FAILURE
    };
    host_tools().map_err(fail)?;
    let started = Instant::now();
    package::package()?;
    let dist = root().join("dist");
    let deb = one_file(&dist, "_amd64.deb").map_err(fail)?;
    let tarball = one_file(&dist, "-x86_64-linux.tar.gz").map_err(fail)?;
    let version = match kernel_version {
        Some(v) => v,
        None => kernel::resolve(&SERIES).map_err(fail)?,
    };
    let vmlinuz = kernel::fetch(&version).map_err(fail)?;
    let base = rootfs::archive().map_err(fail)?;

    let dir = root().join(".local/systemd-test");
    let initrd = dir.join("initrd.cpio");
    write_initrd(&base, &initrd, &deb, &tarball).map_err(fail)?;
    let accel = match qemu::probe_kvm(&vmlinuz) {
        Ok(()) => qemu::Accel::Kvm,
        Err(why) => {
            eprintln!("xtask: systemd-test: KVM unusable here ({why}): TCG");
            qemu::Accel::Tcg
        }
    };
    eprintln!(
        "xtask: systemd-test: kernel {version} under {accel}; prepared in {:.0?}",
        started.elapsed()
    );

    let console = dir.join("console.log");
    let report_path = dir.join("report.bin");
    for f in [&console, &report_path] {
        let _ = fs::remove_file(f);
    }
    let ended = boot(&qemu::Boot {
        kernel: &vmlinuz,
        initramfs: &initrd,
        accel,
        // The initramfs is the root file system and systemd its init (the
        // kernel would look for /init otherwise).
        append: "rdinit=/sbin/init",
        console: console.clone(),
        data: report_path.clone(),
        timeout: BOOT_TIMEOUT,
    })
    .map_err(fail)?;
    if ended.status.is_none() {
        return Err(fail(format!(
            "the guest did not power off within {} s\n{}",
            BOOT_TIMEOUT.as_secs(),
            tail(&console, 40)
        )));
    }
    let boot_time = Duration::from_secs_f64(ended.seconds);

    let bytes = fs::read(&report_path)
        .map_err(|e| fail(format!("reading {}: {e}", report_path.display())))?;
    let report = report::parse(&bytes).map_err(|e| {
        fail(format!(
            "the guest's report {}: {e}\n{}",
            report_path.display(),
            tail(&console, 40)
        ))
    })?;
    if let Ok(s) = report.get("deb.security") {
        let _ = fs::write(dir.join("security.txt"), &s.text);
    }
    let expect = checks::Expect {
        deb_files: deb_files().map_err(fail)?,
        shipped_rules: shipped_rules().map_err(fail)?,
    };
    let outcomes = checks::all(&report, &expect);
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    println!("systemd-test: kernel {version}, {accel}, guest ran {boot_time:.0?}");
    for o in &outcomes {
        match &o.result {
            Ok(detail) => println!("  ok    {}: {detail}", o.name),
            Err(why) => println!("  FAIL  {}: {why}", o.name),
        }
    }
    println!(
        "systemd-test: {} passed, {failed} failed ({:.0?} in all; console: {})",
        outcomes.len() - failed,
        started.elapsed(),
        console.display()
    );
    if failed > 0 {
        for name in ["diag.status", "diag.journal"] {
            if let Ok(s) = report.get(name) {
                eprintln!("--- {name} ---\n{}", s.text);
            }
        }
        return Err(ExitCode::FAILURE);
    }
    Ok(())
}

/// vm-test's qemu run, with the guest's progress lines echoed from its
/// console file as they come (a run takes minutes under TCG).
fn boot(b: &qemu::Boot) -> Result<qemu::Ended, String> {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| echo_progress(&b.console, &done));
        let ended = qemu::run(b);
        done.store(true, Ordering::Relaxed);
        ended
    })
}

fn echo_progress(console: &Path, done: &AtomicBool) {
    let mut shown = 0;
    loop {
        let last = done.load(Ordering::Relaxed);
        let text = fs::read(console).unwrap_or_default();
        // Whole lines only: the last one may still be coming.
        if let Some(end) = text
            .get(shown..)
            .and_then(|t| t.iter().rposition(|&c| c == b'\n'))
        {
            for line in String::from_utf8_lossy(&text[shown..shown + end]).lines() {
                if let Some(at) = line.find(MARKER) {
                    eprintln!("{}", &line[at..]);
                }
            }
            shown += end + 1;
        }
        if last {
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The last `n` lines of a file, for a failure message.
fn tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The [ci] packages of scripts/deps/debian-packages this test needs
/// (qemu and debootstrap) are here, or the error names the apt-get line.
fn host_tools() -> Result<(), String> {
    const NEEDED: [&str; 2] = ["qemu-system-x86", "debootstrap"];
    let path = root().join(deps::FILE);
    let packages = fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| deps::parse(&t))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let gone: Vec<(&str, &str)> = deps::missing(&packages, "ci", deps::present)
        .into_iter()
        .filter(|(p, _)| NEEDED.contains(p))
        .collect();
    if gone.is_empty() {
        return Ok(());
    }
    let what: Vec<String> = gone.iter().map(|(p, c)| format!("{c} ({p})")).collect();
    Err(format!(
        "missing here: {}; install with: {}",
        what.join(", "),
        deps::install_line(gone.iter().map(|(p, _)| *p))
    ))
}

fn parse_args(args: &[String]) -> Result<Option<String>, String> {
    match args {
        [] => Ok(None),
        [flag, v] if flag == "--kernel" => Ok(Some(v.clone())),
        _ => Err(format!(
            "usage: systemd-test [--kernel VERSION] (VERSION a Debian kernel ABI name \
             such as 6.1.0-57, as vm-test takes; default the newest {}); got {args:?}",
            SERIES.prefix
        )),
    }
}

/// The cached root file system followed by a second archive with the
/// test's files (the kernel unpacks concatenated archives in order, so
/// these land on top): the two artifacts and the guest script under
/// /root/rg-test, and the unit that runs the script, enabled.
fn write_initrd(base: &Path, to: &Path, deb: &Path, tarball: &Path) -> Result<(), String> {
    let werr = |e: std::io::Error| format!("writing {}: {e}", to.display());
    let mut out = BufWriter::new(File::create(to).map_err(werr)?);
    let mut from = File::open(base).map_err(|e| format!("reading {}: {e}", base.display()))?;
    std::io::copy(&mut from, &mut out).map_err(werr)?;
    let mut w = cpio::Writer::new(out);
    w.dir("root/rg-test", 0o700).map_err(werr)?;
    for f in [deb, tarball] {
        let data = fs::read(f).map_err(|e| format!("reading {}: {e}", f.display()))?;
        let name = f.file_name().and_then(|n| n.to_str()).ok_or("odd name")?;
        w.file(&format!("root/rg-test/{name}"), 0o644, &data)
            .map_err(werr)?;
    }
    w.file("root/rg-test/guest.sh", 0o755, GUEST_SCRIPT.as_bytes())
        .map_err(werr)?;
    let unit = "etc/systemd/system/rg-systemd-test.service";
    w.file(unit, 0o644, GUEST_UNIT.as_bytes()).map_err(werr)?;
    w.dir("etc/systemd/system/multi-user.target.wants", 0o755)
        .map_err(werr)?;
    w.symlink(
        "etc/systemd/system/multi-user.target.wants/rg-systemd-test.service",
        "/etc/systemd/system/rg-systemd-test.service",
    )
    .map_err(werr)?;
    w.finish().map_err(werr)?.flush().map_err(werr)
}

/// What the .deb installs (as scripts/ci-smoke.sh expects it too): the
/// binary, the BPF object, config, every file of rules/, the unit, the
/// logrotate file and dpkg's copyright file; sorted.
fn deb_files() -> Result<Vec<String>, String> {
    let mut files: Vec<String> = [
        "/usr/local/bin/rand-guard",
        "/usr/local/lib/rand-guard/edr-ebpf",
        "/etc/rand-guard/config.toml",
        "/etc/systemd/system/rand-guard.service",
        "/etc/logrotate.d/rand-guard",
        "/usr/share/doc/rand-guard/copyright",
    ]
    .map(String::from)
    .to_vec();
    for f in rules_files()? {
        let name = f.file_name().unwrap().to_string_lossy();
        files.push(format!("/etc/rand-guard/rules.d/{name}"));
    }
    files.sort();
    Ok(files)
}

fn rules_files() -> Result<Vec<PathBuf>, String> {
    let dir = root().join("rules");
    Ok(fs::read_dir(&dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect())
}

/// The `[[rules]]` tables of the shipped rule files.
fn shipped_rules() -> Result<usize, String> {
    let mut n = 0;
    for f in rules_files()? {
        if f.extension().is_some_and(|x| x == "toml") {
            let text =
                fs::read_to_string(&f).map_err(|e| format!("reading {}: {e}", f.display()))?;
            n += text.lines().filter(|l| l.trim() == "[[rules]]").count();
        }
    }
    Ok(n)
}

/// The one file in `dir` whose name ends with `suffix`.
fn one_file(dir: &Path, suffix: &str) -> Result<PathBuf, String> {
    let found: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "expected one *{suffix} in {}, found {found:?}",
            dir.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        assert_eq!(parse_args(&[]), Ok(None));
        let a = ["--kernel".to_string(), "6.1.0-57".to_string()];
        assert_eq!(parse_args(&a), Ok(Some("6.1.0-57".into())));
        assert!(parse_args(&a[..1]).is_err());
        assert!(parse_args(&["--bogus".to_string()]).is_err());
    }

    #[test]
    fn the_tools_it_checks_are_listed() {
        let text = fs::read_to_string(root().join(deps::FILE)).unwrap();
        let packages = deps::parse(&text).unwrap();
        for name in ["qemu-system-x86", "debootstrap"] {
            assert!(
                packages.iter().any(|p| p.name == name && p.group == "ci"),
                "{name} is not in [ci]"
            );
        }
    }

    #[test]
    fn expected_files_follow_rules_dir() {
        let files = deb_files().unwrap();
        assert!(files.contains(&"/etc/rand-guard/rules.d/sample-rules.toml".to_string()));
        assert!(files.windows(2).all(|w| w[0] < w[1]));
        assert!(shipped_rules().unwrap() > 0);
    }
}
