//! rg-cred-sensitive-read: reads of `[file] watch_reads` files.

use std::sync::Arc;

use globset::GlobSet;

use crate::detect::context::{Context, runs};
use crate::detect::filter;
use crate::model::alert::{RuleMeta, Severity, Technique};
use crate::model::event::{Body, Event, PROC_MEM};

/// What a watched file holds, by its watched path: it picks the ATT&CK
/// technique of an rg-cred-sensitive-read alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    /// Password hashes: T1003.008.
    PasswordHashes,
    /// Private keys: T1552.004.
    PrivateKey,
    /// Another process's memory through /proc/PID/mem: T1003.007.
    ProcessMemory,
    /// Anything else an operator watches: T1552.001.
    Other,
}

impl Credential {
    fn of(watched: &str) -> Self {
        const HASHES: &[&str] = &[
            "/etc/shadow",
            "/etc/shadow-",
            "/etc/gshadow",
            "/etc/gshadow-",
            "/etc/security/opasswd",
        ];
        let (dir, name) = watched.rsplit_once('/').unwrap_or(("", watched));
        if watched == PROC_MEM {
            Credential::ProcessMemory
        } else if HASHES.contains(&watched) {
            Credential::PasswordHashes
        } else if !name.ends_with(".pub")
            && ((dir.ends_with("/.ssh") && name.starts_with("id_"))
                || (name.starts_with("ssh_host_") && name.ends_with("_key"))
                || name.ends_with(".key")
                || name.ends_with(".ppk"))
        {
            Credential::PrivateKey
        } else {
            Credential::Other
        }
    }
}

/// Readers allowed only inside a package operation: apt runs
/// dpkg-preconfigure, whose debconf (Perl's getpwnam as root) reads the
/// shadow file.
const PACKAGE_OP_READERS: &[&str] = &["/{usr/sbin,sbin}/dpkg-preconfigure"];

/// rg-cred-sensitive-read: a read-only open of a `[file] watch_reads`
/// file (matched by inode in the kernel) by a program that is not in
/// `[detections] sensitive_read_allow`, by executable identity (see
/// `context::runs`: a copy elsewhere, or a renamed process, is not
/// allowed).
pub(super) struct CredReadRule {
    /// One per [`Credential`]: same id and name, its own technique.
    pub(super) hashes: Arc<RuleMeta>,
    keys: Arc<RuleMeta>,
    memory: Arc<RuleMeta>,
    other: Arc<RuleMeta>,
    allow: GlobSet,
    package_op_readers: GlobSet,
}

impl CredReadRule {
    pub(super) fn new(allow: &[String]) -> Result<Self, globset::Error> {
        let meta = |id: &str, name: &str| {
            Arc::new(RuleMeta {
                id: "rg-cred-sensitive-read".into(),
                name: "Sensitive file read".into(),
                description: "A process opened a file listed in [file] watch_reads for reading \
                              (password hashes, private keys), or another process's memory \
                              (/proc/PID/mem), and is not one of the programs that read it for \
                              a living (detections.sensitive_read_allow). Matched by inode: a \
                              hard link or bind mount of the file counts."
                    .into(),
                severity: Severity::High,
                tactics: vec!["Credential Access".into()],
                techniques: vec![Technique {
                    id: id.into(),
                    name: Some(name.into()),
                }],
                source: "builtin".into(),
                references: Vec::new(),
                authors: Vec::new(),
            })
        };
        Ok(CredReadRule {
            hashes: meta(
                "T1003.008",
                "OS Credential Dumping: /etc/passwd and /etc/shadow",
            ),
            keys: meta("T1552.004", "Unsecured Credentials: Private Keys"),
            memory: meta("T1003.007", "OS Credential Dumping: Proc Filesystem"),
            other: meta("T1552.001", "Unsecured Credentials: Credentials In Files"),
            allow: filter::globset(allow)?,
            package_op_readers: filter::globset(
                &PACKAGE_OP_READERS
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
            )?,
        })
    }

    /// The rule, with the technique for what was read, and why it
    /// alerts, when `ev` is a successful watched read by a program not
    /// allowed to.
    pub(super) fn hit(&self, ev: &Event, ctx: &mut Context) -> Option<(&Arc<RuleMeta>, String)> {
        let Body::File(f) = &ev.body else {
            return None;
        };
        let watched = f.watched.as_deref()?;
        if f.result < 0 || !f.is_read() {
            return None;
        }
        // An unknown process is not known to be allowed.
        let proc = ev.process.as_deref();
        if let Some(p) = proc
            && (runs(p, &self.allow)
                || (runs(p, &self.package_op_readers) && ctx.package_op(Some(p)).is_some()))
        {
            return None;
        }
        let reader = proc
            .map(|p| p.image.executable.as_str())
            .filter(|e| !e.is_empty())
            .unwrap_or("an unknown program");
        let kind = Credential::of(watched);
        let what = if kind == Credential::ProcessMemory {
            format!("{} (another process's memory)", f.path)
        } else {
            watched.to_string()
        };
        let why =
            format!("{what} read by {reader}, which is not on detections.sensitive_read_allow");
        Some((
            match kind {
                Credential::PasswordHashes => &self.hashes,
                Credential::PrivateKey => &self.keys,
                Credential::ProcessMemory => &self.memory,
                Credential::Other => &self.other,
            },
            why,
        ))
    }
}
