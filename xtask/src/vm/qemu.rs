//! Booting a kernel and an initramfs under qemu: KVM when it works here,
//! TCG otherwise. KVM is probed, not assumed: `/dev/kvm` may exist and
//! still refuse a stock kernel (a nested hypervisor that cannot set an MSR
//! the guest CPU model needs ends qemu at once with "failed to set MSR").
//!
//! The guest's console is the first serial port, its data channel the
//! second (`/dev/ttyS1`); both are files on the host. No network device:
//! the guest suite uses loopback only.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const QEMU: &str = "qemu-system-x86_64";

/// How qemu runs the guest's CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    /// Emulated (multi-threaded TCG): about 20x slower, works anywhere.
    Tcg,
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        })
    }
}

impl Accel {
    fn arg(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg,thread=multi",
        }
    }
}

/// The machine every guest gets: 2 CPUs, 2 GiB, no default devices, no
/// network, `kernel` to boot; the caller adds the initramfs or disk, the
/// command line and the serial ports ([`run`] does for an initramfs).
pub fn machine(accel: Accel, kernel: &Path) -> Command {
    let mut c = Command::new(QEMU);
    c.args(["-accel", accel.arg()])
        .args(["-cpu", "max", "-m", "2G", "-smp", "2"])
        .args(["-nodefaults", "-display", "none", "-monitor", "none"])
        .args(["-no-reboot", "-nic", "none"])
        .arg("-kernel")
        .arg(kernel);
    c
}

/// Whether KVM runs `kernel` here, and if not why: qemu is started paused
/// (`-S`) under KVM; one that is still running after two seconds has set
/// up its virtual CPUs. (A refusal ends qemu in milliseconds.)
pub fn probe_kvm(kernel: &Path) -> Result<(), String> {
    if !Path::new("/dev/kvm").exists() {
        return Err("no /dev/kvm".into());
    }
    let mut c = machine(Accel::Kvm, kernel);
    c.args(["-S", "-serial", "none"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().map_err(|e| format!("cannot run {QEMU}: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut s, &mut err);
            }
            let first = err.lines().next().unwrap_or("").trim().to_string();
            return Err(format!("qemu -accel kvm exited ({status}): {first}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop(&mut child);
    Ok(())
}

/// KVM if [`probe_kvm`] says it works, else TCG; the reason is printed.
pub fn choose_accel(kernel: &Path) -> Accel {
    match probe_kvm(kernel) {
        Ok(()) => Accel::Kvm,
        Err(why) => {
            eprintln!("xtask: vm-test: KVM unusable here ({why}): TCG");
            Accel::Tcg
        }
    }
}

/// One boot: what to run and where its serial ports go.
pub struct Boot<'a> {
    pub kernel: &'a Path,
    pub initramfs: &'a Path,
    pub accel: Accel,
    /// The kernel command line after `console=ttyS0 panic=-1`.
    pub append: &'a str,
    /// The first serial port (console).
    pub console: PathBuf,
    /// The second serial port (the guest's /dev/ttyS1).
    pub data: PathBuf,
    /// The guest is killed after this long.
    pub timeout: Duration,
}

/// How a boot ended.
#[derive(Debug)]
pub struct Ended {
    pub seconds: f64,
    /// qemu's exit status; None when it was killed at the timeout.
    pub status: Option<std::process::ExitStatus>,
    pub qemu_stderr: String,
}

/// Boots and waits until the guest powers off (`-no-reboot`: a panic or a
/// reboot ends qemu too) or the timeout passes.
pub fn run(b: &Boot<'_>) -> Result<Ended, String> {
    let mut c = machine(b.accel, b.kernel);
    c.arg("-initrd")
        .arg(b.initramfs)
        .args(["-append", &format!("console=ttyS0 panic=-1 {}", b.append)])
        .arg("-serial")
        .arg(format!("file:{}", b.console.display()))
        .arg("-serial")
        .arg(format!("file:{}", b.data.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    eprintln!("xtask: {}", crate::describe(&c));
    let started = Instant::now();
    let mut child = c.spawn().map_err(|e| format!("cannot run {QEMU}: {e}"))?;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if started.elapsed() > b.timeout => {
                stop(&mut child);
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => return Err(format!("waiting for {QEMU}: {e}")),
        }
    };
    let mut qemu_stderr = String::new();
    if let Some(mut s) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut s, &mut qemu_stderr);
    }
    Ok(Ended {
        seconds: started.elapsed().as_secs_f64(),
        status,
        qemu_stderr,
    })
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
