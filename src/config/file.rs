//! `[file]`: which paths the file programs watch, and the limits the
//! kernel maps put on them.

use serde::{Deserialize, Serialize};

use super::check_globs;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct File {
    /// Load the file programs at all (off: no syscall tracepoints attached).
    pub enabled: bool,
    /// Watched path prefixes, applied in the kernel.
    pub include: Vec<String>,
    /// Prefixes inside watched ones that are not watched (longest wins).
    pub exclude: Vec<String>,
    /// Report failed operations as events instead of only counting them.
    pub report_failed: bool,
    /// Drop (and count) events of these executables: globs on
    /// `process.executable`.
    pub exclude_executables: Vec<String>,
    /// Drop (and count) events on paths matching these globs.
    pub exclude_paths: Vec<String>,
    /// Files whose read-only opens are reported too, matched in the
    /// kernel by inode (device, inode number), not by path: absolute
    /// paths, no globs. Empty: off (no cost beyond the flags check).
    pub watch_reads: Vec<String>,
    /// Prefixes watched for detections only: their events feed the
    /// detections (rg-drop-exec needs writes in /tmp) but are not written
    /// (counted as userspace-filtered), unless a longer `include` prefix
    /// covers them.
    pub detect_only: Vec<String>,
}

/// The kernel prefix filter holds two trie entries per prefix, and one per
/// ancestor directory of a prefix (`abi::PREFIX_ENTRIES` in all; past that
/// its directory cache is off): 120 configured prefixes, and room for
/// the agent's own files (`tamper::MAX_PROTECTED`) and the accounts'
/// `~/.ssh` outside the watched prefixes
/// (`persistence::MAX_ACCOUNT_SSH_DIRS`).
pub const MAX_PREFIXES: usize = 120;

/// Most `[file] watch_reads` paths (the kernel map holds one inode per
/// path, with room to spare: `abi::READ_WATCH_MAX`).
pub const MAX_WATCH_READS: usize = 128;

/// Credential material whose reads are worth an alert on most hosts:
/// password hashes (the shadow files, their `-` backups, PAM's old
/// passwords) and the private keys of root and of the SSH host.
pub const DEFAULT_WATCH_READS: &[&str] = &[
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/security/opasswd",
    "/root/.ssh/id_rsa",
    "/root/.ssh/id_ecdsa",
    "/root/.ssh/id_ed25519",
    "/root/.ssh/id_dsa",
    "/etc/ssh/ssh_host_rsa_key",
    "/etc/ssh/ssh_host_ecdsa_key",
    "/etc/ssh/ssh_host_ed25519_key",
];

/// Longest path a `[file]` setting may name, terminator included: the
/// kernel's path buffer (`kernel::abi` checks that the two agree).
pub const PATH_BYTES: usize = 4096;
/// Longest `[file]` prefix, terminator included: the kernel trie's key
/// (`kernel::abi` checks that the two agree).
pub const PREFIX_BYTES: usize = 128;

impl Default for File {
    fn default() -> Self {
        let s = |v: &[&str]| v.iter().map(|p| p.to_string()).collect();
        File {
            enabled: true,
            include: s(&[
                "/etc",
                "/root",
                "/home",
                "/boot",
                "/var/spool/cron",
                "/usr/lib/systemd",
                "/lib/systemd",
                "/usr/local/lib/systemd",
                "/run/systemd/system",
                "/usr/bin",
                "/usr/sbin",
                "/usr/local/bin",
                "/usr/local/sbin",
                "/bin",
                "/sbin",
                // Where udev rules, PAM modules and module autoload lists
                // live outside /etc (the rg-persist-* locations).
                "/usr/lib/udev/rules.d",
                "/lib/udev/rules.d",
                "/usr/local/lib/udev/rules.d",
                "/run/udev/rules.d",
                "/usr/lib/x86_64-linux-gnu/security",
                "/usr/lib64/security",
                "/usr/lib/security",
                "/usr/lib/modules-load.d",
                "/usr/lib/modprobe.d",
                "/run/modules-load.d",
                "/run/modprobe.d",
            ]),
            exclude: Vec::new(),
            report_failed: false,
            exclude_executables: Vec::new(),
            exclude_paths: s(&["/root/.cache/**", "/home/*/.cache/**"]),
            watch_reads: s(DEFAULT_WATCH_READS),
            detect_only: s(&[
                "/tmp",
                "/var/tmp",
                "/dev/shm",
                "/var/log",
                "/var/mail",
                "/var/spool/mail",
            ]),
        }
    }
}

impl File {
    /// The prefix lists fit the kernel trie and `watch_reads` the inode
    /// map; every path is one the kernel can match; the globs compile.
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        let prefixes = self.include.len() + self.exclude.len() + self.detect_only.len();
        if prefixes > MAX_PREFIXES {
            return Err((
                "file.include",
                format!(
                    "at most {MAX_PREFIXES} prefixes in file.include, file.exclude and \
                     file.detect_only together, got {prefixes}"
                ),
            ));
        }
        for (key, list) in [
            ("file.include", &self.include),
            ("file.exclude", &self.exclude),
            ("file.detect_only", &self.detect_only),
        ] {
            for p in list {
                check_prefix(p).map_err(|why| (key, format!("{p:?}: {why}")))?;
            }
        }
        if self.watch_reads.len() > MAX_WATCH_READS {
            return Err((
                "file.watch_reads",
                format!(
                    "at most {MAX_WATCH_READS} paths, got {}",
                    self.watch_reads.len()
                ),
            ));
        }
        for (i, p) in self.watch_reads.iter().enumerate() {
            check_path(p, PATH_BYTES)
                .map_err(|why| ("file.watch_reads", format!("{p:?}: {why}")))?;
            if self.watch_reads[..i].contains(p) {
                return Err(("file.watch_reads", format!("{p:?} is listed twice")));
            }
        }
        check_globs("file.exclude_executables", &self.exclude_executables)?;
        check_globs("file.exclude_paths", &self.exclude_paths)
    }
}

/// A path prefix for the kernel filter: absolute, canonical, short enough
/// to fit the trie key (with its terminator), no trailing slash.
pub fn check_prefix(p: &str) -> Result<(), String> {
    check_path(p, PREFIX_BYTES)
}

/// An absolute, canonical path of fewer than `max` bytes, no trailing
/// slash (except "/" itself).
pub fn check_path(p: &str, max: usize) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err("must be an absolute path".into());
    }
    if p.len() >= max {
        return Err(format!("longer than {} bytes", max - 1));
    }
    if p.len() > 1 && p.ends_with('/') {
        return Err("must not end with `/`".into());
    }
    if p.len() > 1
        && p[1..]
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err("must be canonical (no `//`, `.` or `..` components)".into());
    }
    if p.bytes().any(|b| b == 0) {
        return Err("must not contain NUL".into());
    }
    Ok(())
}
