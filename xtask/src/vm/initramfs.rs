//! The guest's initramfs: an uncompressed `newc` cpio archive (what the
//! kernel unpacks into its rootfs) written here, so no cpio tool and no
//! root privileges are needed: every entry is owned by root, whoever
//! builds it, which the agent's file-hygiene check requires of its config.
//!
//! Contents: busybox-static and a link per applet in /bin, the driver
//! script as /init (guest-init.sh), the static agent and its BPF object at
//! their installed paths, the guest's config, the sample rules, the few
//! /etc files the workload touches, and the caller's extra files (the
//! suite's setxattr caller, the benchmark's driver and workloads).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The driver the guest runs as PID 1.
const INIT: &str = include_str!("guest-init.sh");

/// The agent's configuration in the guest: the shipped defaults, with the
/// network family and DNS on (the suite connects and queries over
/// loopback).
const CONFIG: &str = "\
# cargo xtask vm-test: the defaults, network telemetry and DNS on.
[network]
enabled = true
hooks = [\"connect\", \"bind\", \"listen\", \"accept\"]
collect_dns = true
";

/// The second pass's configuration: the same, on the syscall tracepoints.
const TRACEPOINT_CONFIG: &str = "[kernel]\nhooks = \"tracepoint\"\n";

/// The static xtask in the guest (its hidden `vm-xattr` command): the
/// suite's setxattr(2) caller, named in the records it causes.
pub const XATTR_HELPER: &str = "/usr/local/bin/rg-vm-xtask";

/// Where busybox-static installs its binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// One archive member.
enum Entry {
    Dir,
    File {
        data: Vec<u8>,
        mode: u32,
    },
    Symlink(String),
    /// A character device (major, minor): /dev/console, which the kernel
    /// opens for init's stdio before init could mount devtmpfs.
    CharDev(u32, u32),
}

/// A file the caller adds to the archive (the benchmark's driver, its
/// workload binary and configurations): path inside, contents, mode.
pub struct Extra {
    pub path: String,
    pub data: Vec<u8>,
    pub mode: u32,
}

/// Builds the archive at `out` from the static agent and its BPF object,
/// and `extra` files.
pub fn build(agent: &Path, bpf_object: &Path, extra: Vec<Extra>, out: &Path) -> Result<(), String> {
    let read = |p: &Path| fs::read(p).map_err(|e| format!("reading {}: {e}", p.display()));
    let busybox = read(Path::new(BUSYBOX)).map_err(|e| {
        format!("{e} (install the Debian package busybox-static: the guest's shell and tools)")
    })?;
    // The guest has no C library: Debian's plain busybox package would
    // leave it without an init.
    match crate::package::dynamic_linking(&busybox) {
        Ok(needs) if needs.is_empty() => {}
        Ok(needs) => {
            return Err(format!(
                "{BUSYBOX} is not static ({}): install busybox-static instead of busybox",
                needs.join("; ")
            ));
        }
        Err(e) => return Err(format!("{BUSYBOX}: not an ELF we understand: {e}")),
    }
    let mut entries: Vec<(String, Entry)> = Vec::new();
    for dir in [
        "bin",
        "dev",
        "proc",
        "sys",
        "tmp",
        "run",
        "root",
        "etc",
        "etc/cron.d",
        "etc/rand-guard",
        "etc/rand-guard/rules.d",
        "usr",
        "usr/local",
        "usr/local/bin",
        "usr/local/lib",
        "usr/local/lib/rand-guard",
        "var",
        "var/log",
        "var/log/rand-guard",
        "var/lib",
    ] {
        entries.push((dir.into(), Entry::Dir));
    }
    entries.push(("dev/console".into(), Entry::CharDev(5, 1)));
    entries.push((
        "bin/busybox".into(),
        Entry::File {
            data: busybox,
            mode: 0o755,
        },
    ));
    for applet in applets()? {
        if applet != "busybox" {
            entries.push((format!("bin/{applet}"), Entry::Symlink("busybox".into())));
        }
    }
    let file = |data: Vec<u8>, mode| Entry::File { data, mode };
    let rules = crate::root().join("rules/sample-rules.toml");
    entries.extend([
        ("init".into(), file(INIT.as_bytes().to_vec(), 0o755)),
        ("usr/local/bin/rand-guard".into(), file(read(agent)?, 0o755)),
        (
            "usr/local/lib/rand-guard/edr-ebpf".into(),
            file(read(bpf_object)?, 0o644),
        ),
        (
            "etc/rand-guard/config.toml".into(),
            file(CONFIG.as_bytes().to_vec(), 0o644),
        ),
        (
            "etc/rand-guard/tracepoint.toml".into(),
            file([CONFIG, TRACEPOINT_CONFIG].concat().into_bytes(), 0o644),
        ),
        (
            "etc/rand-guard/rules.d/sample-rules.toml".into(),
            file(read(&rules)?, 0o644),
        ),
        (
            "etc/passwd".into(),
            file(b"root:x:0:0:root:/root:/bin/sh\n".to_vec(), 0o644),
        ),
        ("etc/group".into(), file(b"root:x:0:\n".to_vec(), 0o644)),
        // The file the suite reads (a default watch_reads entry).
        (
            "etc/shadow".into(),
            file(b"root:*:20000:0:99999:7:::\n".to_vec(), 0o640),
        ),
    ]);
    entries.extend(extra.into_iter().map(|e| (e.path, file(e.data, e.mode))));
    let mut archive = Vec::new();
    for (ino, (name, entry)) in entries.iter().enumerate() {
        append(&mut archive, ino as u32 + 1, name, entry);
    }
    trailer(&mut archive);
    if let Some(parent) = out.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    fs::write(out, archive).map_err(|e| format!("writing {}: {e}", out.display()))
}

/// The applets of the host's busybox, each a link in the guest's /bin.
fn applets() -> Result<Vec<String>, String> {
    let out = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .map_err(|e| format!("cannot run {BUSYBOX} --list: {e}"))?;
    let list: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && !a.contains('/'))
        .map(str::to_string)
        .collect();
    if !out.status.success() || list.is_empty() {
        return Err(format!("{BUSYBOX} --list listed no applets"));
    }
    Ok(list)
}

/// The initramfs file of a run, beside the kernels' cache.
pub fn path() -> PathBuf {
    crate::root().join(".local/vm/initramfs.cpio")
}

/// One `newc` member: a 110-byte ASCII header (magic, then 13 fields of 8
/// hex digits), the NUL-terminated name, the data, each padded to 4 bytes.
fn append(out: &mut Vec<u8>, ino: u32, name: &str, entry: &Entry) {
    let (mode, data, rdev): (u32, &[u8], (u32, u32)) = match entry {
        Entry::Dir => (0o040_755, &[], (0, 0)),
        Entry::File { data, mode } => (0o100_000 | mode, data, (0, 0)),
        Entry::Symlink(target) => (0o120_777, target.as_bytes(), (0, 0)),
        Entry::CharDev(major, minor) => (0o020_600, &[], (*major, *minor)),
    };
    let nlink = if matches!(entry, Entry::Dir) { 2 } else { 1 };
    let fields = [
        ino,
        mode,
        0, // uid: root
        0, // gid: root
        nlink,
        0, // mtime
        data.len() as u32,
        0, // dev major
        0, // dev minor
        rdev.0,
        rdev.1,
        name.len() as u32 + 1,
        0, // check: unused by newc
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn trailer(out: &mut Vec<u8>) {
    append(
        out,
        0,
        "TRAILER!!!",
        &Entry::File {
            data: Vec::new(),
            mode: 0,
        },
    );
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_member_layout() {
        let mut a = Vec::new();
        append(
            &mut a,
            7,
            "etc/x",
            &Entry::File {
                data: b"abc".to_vec(),
                mode: 0o644,
            },
        );
        // header 110 + "etc/x\0" 6 = 116 (aligned), data 3 + 1 pad.
        assert_eq!(a.len(), 120);
        let header = std::str::from_utf8(&a[..110]).unwrap();
        assert_eq!(&header[..6], "070701");
        let field = |i: usize| u32::from_str_radix(&header[6 + 8 * i..14 + 8 * i], 16).unwrap();
        assert_eq!(field(0), 7);
        assert_eq!(field(1), 0o100_644);
        assert_eq!((field(2), field(3)), (0, 0), "owned by root");
        assert_eq!(field(6), 3, "file size");
        assert_eq!(field(11), 6, "name size with its NUL");
        assert_eq!(&a[110..116], b"etc/x\0");
        assert_eq!(&a[116..119], b"abc");
    }

    #[test]
    fn the_guest_runs_the_installed_paths() {
        for path in [
            "/usr/local/bin/rand-guard",
            "/usr/local/lib/rand-guard/edr-ebpf",
            "/etc/rand-guard/config.toml",
            XATTR_HELPER,
        ] {
            assert!(INIT.contains(path), "{path}");
        }
    }
}
