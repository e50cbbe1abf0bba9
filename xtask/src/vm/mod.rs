//! `cargo xtask vm-test [--kernel VERSION ...]`: the agent on Debian's own
//! kernels, each booted under qemu with the static agent, its BPF object
//! and a driver script in a busybox initramfs, one boot per kernel.
//!
//! - [`kernel`]: which package is the newest of a series, fetched and
//!   cached under `.local/vm/kernels/`;
//! - [`initramfs`]: the guest's files (a cpio archive written here);
//! - [`qemu`]: KVM probed, TCG otherwise; one boot, its serial ports as files;
//! - `guest-init.sh`: the guest's PID 1, runs the workload and hands the
//!   facts, the agent's stderr and records back on the second serial port;
//! - [`report`]: parses that; [`suite`]: the assertions, on the host;
//! - [`table`]: the per-kernel result table;
//! - [`bench`]: `--bench`, the same boot with another driver
//!   (bench-init.sh): workloads without the agent and beside it on each
//!   hook path, interleaved, and their ratios.
//!
//! Default kernels: the newest `linux-image-6.1.*` and `-6.12.*`
//! `-amd64-unsigned` the configured apt sources offer (Debian 12's own
//! series, and its security series which is also Debian 13's), both of
//! which take the BPF programs' probe-read path, and the newest
//! `linux-image-6.18.*+deb13-amd64` of trixie-backports, which takes the
//! direct-load path (see [`kernel::Source`]).

pub mod bench;
pub mod initramfs;
pub mod kernel;
pub mod qemu;
pub mod report;
pub mod suite;
pub mod table;

use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use qemu::Accel;
use suite::Check;
use table::Row;

const USAGE: &str = "usage: cargo xtask vm-test [--bench [--rounds N]] [--kernel VERSION ...]  \
(VERSION: a Debian kernel ABI name such as 6.1.0-57, 6.12.118+deb12 or 6.18.15+deb13)";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
struct Args {
    /// The kernels `--kernel` names, or none for the defaults.
    kernels: Vec<String>,
    /// `--bench`: the benchmark boot ([`bench`]) instead of the suite.
    bench: bool,
    /// `--rounds N`: the benchmark's rounds ([`bench::ROUNDS`] by default).
    rounds: usize,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut out = Args {
        kernels: Vec::new(),
        bench: false,
        rounds: bench::ROUNDS,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--kernel" => {
                let v = it.next().ok_or("--kernel needs a VERSION")?;
                if !kernel::valid_version(v) {
                    return Err(format!(
                        "--kernel {v}: not a Debian kernel ABI name such as 6.1.0-57, \
                         6.12.118+deb12 or 6.18.15+deb13"
                    ));
                }
                out.kernels.push(v.clone());
            }
            "--bench" => out.bench = true,
            "--rounds" => {
                let v = it.next().ok_or("--rounds needs a number")?;
                out.rounds = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--rounds {v}: not a positive number"))?;
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(out)
}

pub fn vm_test(args: &[String]) -> Result<(), ExitCode> {
    let fail = |e: String| {
        eprintln!("xtask: vm-test: {e}");
        ExitCode::FAILURE
    };
    let Args {
        mut kernels,
        bench,
        rounds,
    } = parse(args).map_err(|e| {
        eprintln!("xtask: vm-test: {e}\n{USAGE}");
        ExitCode::from(2)
    })?;
    if kernels.is_empty() {
        for series in kernel::DEFAULT_SERIES {
            kernels.push(kernel::resolve(series).map_err(fail)?);
        }
    }
    eprintln!(
        "xtask: vm-test: kernels {}",
        kernels
            .iter()
            .map(|k| kernel::package_name(k))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (tool, package) in [
        (qemu::QEMU, "qemu-system-x86"),
        (initramfs::BUSYBOX, "busybox-static"),
        ("apt-get", "apt"),
        ("dpkg-deb", "dpkg"),
    ] {
        if !crate::deps::present(tool) {
            return Err(fail(format!(
                "{tool} not found: install the Debian package {package}"
            )));
        }
    }
    let built = crate::package::static_build(&[])?;
    if bench {
        return bench::run(&kernels, &built, rounds);
    }
    // The static xtask: its hidden `vm-xattr` command issues the
    // workload's setxattr(2) calls (busybox has no setfattr or setcap).
    let xtask = bench::workload_binary(&built).map_err(fail)?;
    let helper = initramfs::Extra {
        path: initramfs::XATTR_HELPER[1..].to_string(),
        data: fs::read(&xtask).map_err(|e| fail(format!("reading {}: {e}", xtask.display())))?,
        mode: 0o755,
    };
    let initrd = initramfs::path();
    initramfs::build(&built.binary, &built.bpf_object, vec![helper], &initrd).map_err(fail)?;

    let mut rows = Vec::new();
    for k in &kernels {
        rows.extend(boot_one(k, &initrd).map_err(fail)?);
    }
    println!("{}", table::render(&rows));
    let failures = table::failures(&rows);
    if failures.is_empty() {
        return Ok(());
    }
    eprintln!(
        "xtask: vm-test: failures (guest consoles in .local/vm/runs/<kernel>/console.log):\n{failures}"
    );
    Err(ExitCode::FAILURE)
}

/// One finished boot of a kernel: where it came from, how it ended, and
/// what the guest wrote on its data port.
pub struct Booted {
    pub package: String,
    pub accel: Accel,
    pub ended: qemu::Ended,
    pub timeout: Duration,
    pub console: std::path::PathBuf,
    pub data: Vec<u8>,
}

impl Booted {
    /// Why the guest's report is missing or cut short, with the end of its
    /// console: for a failure message.
    pub fn what_happened(&self) -> String {
        let console = fs::read_to_string(&self.console).unwrap_or_default();
        let ended_how = match self.ended.status {
            Some(s) => format!("qemu exited {s}"),
            None => format!("killed after {} s", self.timeout.as_secs()),
        };
        format!(
            "{ended_how}; qemu said: {}); console ends:\n  {}",
            self.ended.qemu_stderr.trim(),
            suite::last_lines(&console, 30)
        )
    }
}

/// Fetches `version` and boots it with `initrd`, the kernel command line
/// `append` and this timeout under TCG (half of it under KVM); the
/// serial ports go to `.local/vm/runs/<version>/<prefix>console.log` and
/// `<prefix>data.bin`. Errors are set-up failures only (no package, no qemu).
pub fn boot(
    version: &str,
    initrd: &Path,
    append: &str,
    prefix: &str,
    tcg_timeout: Duration,
) -> Result<Booted, String> {
    let vmlinuz = kernel::fetch(version)?;
    let package = kernel::package_file(version).unwrap_or_else(|| kernel::package_name(version));
    eprintln!("xtask: vm-test: {version} from {package}");
    let accel = qemu::choose_accel(&vmlinuz);
    let dir = crate::root().join(".local/vm/runs").join(version);
    fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let boot = qemu::Boot {
        kernel: &vmlinuz,
        initramfs: initrd,
        accel,
        append,
        console: dir.join(format!("{prefix}console.log")),
        data: dir.join(format!("{prefix}data.bin")),
        timeout: match accel {
            Accel::Kvm => tcg_timeout / 2,
            Accel::Tcg => tcg_timeout,
        },
    };
    for f in [&boot.console, &boot.data] {
        let _ = fs::remove_file(f);
    }
    let ended = qemu::run(&boot)?;
    Ok(Booted {
        package,
        accel,
        data: fs::read(&boot.data).unwrap_or_default(),
        timeout: boot.timeout,
        console: boot.console,
        ended,
    })
}

/// Fetches, boots and checks one kernel: a row per hook path the guest
/// ran the workload with (`report::PASSES`). Only set-up failures (no
/// package, no qemu) are errors; whatever the guest does becomes checks.
fn boot_one(version: &str, initrd: &Path) -> Result<Vec<Row>, String> {
    // A whole run (two passes) takes 47 to 169 s under TCG here (the
    // verifier is emulated too, 23 fast-path programs in the first
    // pass); the guest gives the agent 300 s to get ready, per pass.
    // A whole run (two passes) takes 47 to 255 s under TCG here (the
    // verifier is emulated too, 31 fast-path programs in the first pass
    // with network and DNS on); the guest gives the agent 450 s to get
    // ready, per pass.
    let b = boot(version, initrd, "quiet", "", Duration::from_secs(720))?;
    let mut row = Row {
        kernel: version.to_string(),
        hooks: "-",
        package: b.package.clone(),
        accel: b.accel,
        ready_seconds: None,
        boot_seconds: b.ended.seconds,
        checks: Vec::new(),
    };
    match report::parse(&b.data) {
        Ok(passes) => {
            return Ok(passes
                .iter()
                .enumerate()
                .map(|(i, r)| Row {
                    hooks: r.pass,
                    ready_seconds: r.fact("ready_seconds").map(str::to_string),
                    checks: suite::run(r, i.checked_sub(1).map(|f| &passes[f])),
                    ..row.clone()
                })
                .collect());
        }
        Err(e) => {
            row.checks.push(Check {
                name: "guest report",
                result: Err(format!("{e} ({}", b.what_happened())),
            });
        }
    }
    Ok(vec![row])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn kernels_are_named_or_default() {
        assert_eq!(
            parse(&[]).unwrap(),
            Args {
                kernels: Vec::new(),
                bench: false,
                rounds: 5,
            }
        );
        assert_eq!(
            parse(&args(&[
                "--kernel",
                "6.1.0-57",
                "--bench",
                "--kernel",
                "6.12.118+deb12"
            ]))
            .unwrap(),
            Args {
                kernels: vec!["6.1.0-57".into(), "6.12.118+deb12".into()],
                bench: true,
                rounds: 5,
            }
        );
        assert_eq!(
            parse(&args(&["--kernel"])).unwrap_err(),
            "--kernel needs a VERSION"
        );
        assert!(
            parse(&args(&["--kernel", "6.1"]))
                .unwrap_err()
                .starts_with("--kernel 6.1: not a Debian kernel ABI name")
        );
        assert_eq!(
            parse(&args(&["--bench", "--rounds", "3"])).unwrap().rounds,
            3
        );
        assert_eq!(
            parse(&args(&["--rounds", "0"])).unwrap_err(),
            "--rounds 0: not a positive number"
        );
        assert_eq!(
            parse(&args(&["--fast"])).unwrap_err(),
            "unknown argument `--fast`"
        );
    }
}
