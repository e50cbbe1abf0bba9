//! Booting a kernel and an initramfs under qemu: KVM when it works here,
//! TCG otherwise. Probed, not assumed: `/dev/kvm` may exist and still be
//! unable to run a stock kernel (a nested PVM hypervisor fails with
//! "failed to set MSR 0x10a" before the guest runs a single instruction).

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Accel {
    Kvm,
    Tcg,
}

/// KVM if this kernel boots under it (it reaches its panic for want of a
/// root file system within 60 s), else TCG; with the reason.
pub fn probe(kernel: &Path) -> (Accel, String) {
    if fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        return (Accel::Tcg, "/dev/kvm cannot be opened".into());
    }
    let mut c = qemu(Accel::Kvm, kernel, "console=ttyS0 panic=-1", 256, 1);
    c.args(["-serial", "stdio"]);
    let (said, finished) = match run_with_timeout(c, Duration::from_secs(60), None, None) {
        Ok(r) => r,
        Err(e) => return (Accel::Tcg, e),
    };
    if finished && said.contains("Kernel panic") {
        (Accel::Kvm, "KVM boots this kernel".into())
    } else {
        let why = said
            .lines()
            .find(|l| l.contains("qemu-system"))
            .unwrap_or("no kernel panic within 60 s");
        (Accel::Tcg, format!("KVM fails: {}", why.trim()))
    }
}

/// One boot: `kernel` with `initrd` and `append`; the first serial port
/// (the console) is copied to `console_log`, and its lines containing
/// `echo_marker` to stderr; the second serial port is written to
/// `report`. Ends when the guest powers off, or is killed after `timeout`.
pub struct Boot<'a> {
    pub accel: Accel,
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    pub append: &'a str,
    pub memory_mb: u32,
    pub cpus: u32,
    pub console_log: &'a Path,
    pub report: &'a Path,
    pub echo_marker: &'a str,
    pub timeout: Duration,
}

pub fn boot(b: &Boot) -> Result<(), String> {
    let mut c = qemu(b.accel, b.kernel, b.append, b.memory_mb, b.cpus);
    c.arg("-initrd").arg(b.initrd);
    c.args(["-serial", "stdio", "-serial"])
        .arg(format!("file:{}", b.report.display()));
    let log = File::create(b.console_log)
        .map_err(|e| format!("creating {}: {e}", b.console_log.display()))?;
    let (_, finished) = run_with_timeout(c, b.timeout, Some(b.echo_marker), Some(log))?;
    if !finished {
        return Err(format!(
            "the guest did not power off within {} s (console: {})",
            b.timeout.as_secs(),
            b.console_log.display()
        ));
    }
    Ok(())
}

fn qemu(accel: Accel, kernel: &Path, append: &str, memory_mb: u32, cpus: u32) -> Command {
    let mut c = Command::new("qemu-system-x86_64");
    match accel {
        Accel::Kvm => c.args(["-accel", "kvm", "-cpu", "host"]),
        Accel::Tcg => c.args(["-accel", "tcg,thread=multi", "-cpu", "max"]),
    };
    c.args(["-m", &memory_mb.to_string(), "-smp", &cpus.to_string()])
        .args([
            "-display",
            "none",
            "-monitor",
            "none",
            "-no-reboot",
            "-nic",
            "none",
        ])
        .arg("-kernel")
        .arg(kernel)
        .args(["-append", append])
        .stdin(Stdio::null());
    c
}

/// Runs `c` with stdout and stderr collected (stdout's lines containing
/// `echo` are also printed, and every line copied to `log` as it comes);
/// (everything it said, whether it ended by itself).
fn run_with_timeout(
    mut c: Command,
    timeout: Duration,
    echo: Option<&str>,
    log: Option<File>,
) -> Result<(String, bool), String> {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c
        .spawn()
        .map_err(|e| format!("cannot run qemu-system-x86_64 (Debian: qemu-system-x86): {e}"))?;
    let collect =
        |r: Box<dyn std::io::Read + Send>, echo: Option<String>, mut log: Option<File>| {
            std::thread::spawn(move || {
                let mut all = String::new();
                for line in BufReader::new(r).split(b'\n').map_while(Result::ok) {
                    let line = String::from_utf8_lossy(&line).into_owned();
                    if echo.as_deref().is_some_and(|m| line.contains(m)) {
                        eprintln!("{}", line.trim_end());
                    }
                    if let Some(f) = log.as_mut() {
                        let _ = writeln!(f, "{line}");
                    }
                    all.push_str(&line);
                    all.push('\n');
                }
                all
            })
        };
    let out = collect(
        Box::new(child.stdout.take().unwrap()),
        echo.map(String::from),
        log,
    );
    let err = collect(Box::new(child.stderr.take().unwrap()), None, None);
    let start = Instant::now();
    let finished = loop {
        match child.try_wait() {
            Ok(Some(_)) => break true,
            Ok(None) if start.elapsed() < timeout => std::thread::sleep(Duration::from_millis(200)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                break false;
            }
            Err(e) => return Err(format!("waiting for qemu: {e}")),
        }
    };
    let mut said = out.join().unwrap_or_default();
    said.push_str(&err.join().unwrap_or_default());
    Ok((said, finished))
}

/// The last `n` lines of a file, for a failure message.
pub fn tail(path: &PathBuf, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
