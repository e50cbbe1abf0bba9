//! The persistence detections (rg-persist-*): writes to the places that
//! make a program run again at boot, login, on a schedule or in every
//! new process.

use std::sync::Arc;

use globset::GlobSet;

use crate::detect::filter;
use crate::model::alert::{RuleMeta, Severity, Technique};
use crate::model::event::{Body, Event, FileOp};

/// Shell start-up files in a home directory, for root and for /home/*.
const PROFILE_FILES: &[&str] = &[
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zprofile",
    ".zshenv",
    ".zlogin",
];

pub(super) struct PersistenceSpec {
    pub(super) id: &'static str,
    name: &'static str,
    description: &'static str,
    severity: Severity,
    technique: (&'static str, &'static str),
    pub(super) paths: fn() -> Vec<String>,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn home_files(names: &[&str]) -> Vec<String> {
    names
        .iter()
        .flat_map(|n| [format!("/root/{n}"), format!("/home/*/{n}")])
        .collect()
}

/// Every directory systemd loads units from, system and user (its whole
/// search path), as globs: rg-persist-systemd-unit alerts on writes there
/// and rg-persist-systemd-enable (correlate) on enabling what was written
/// there. One list, so the two cannot disagree.
pub fn unit_dirs() -> Vec<String> {
    let mut v = strings(&[
        "/etc/systemd/system/**",
        "/etc/systemd/user/**",
        "/usr/lib/systemd/system/**",
        "/usr/lib/systemd/user/**",
        "/lib/systemd/system/**",
        "/lib/systemd/user/**",
        "/usr/local/lib/systemd/system/**",
        "/usr/local/lib/systemd/user/**",
        "/run/systemd/system/**",
    ]);
    v.extend(home_files(&[".config/systemd/user/**"]));
    v
}

/// The persistence locations, one spec per detection.
pub(super) const PERSISTENCE: &[PersistenceSpec] = &[
    PersistenceSpec {
        id: "rg-persist-systemd-unit",
        name: "Systemd unit file written",
        description: "A systemd unit, drop-in or enablement link was created or changed in a \
                      system or user unit directory, or a unit file (.service, .timer, .socket, \
                      .path) was written anywhere watched (`systemctl link` and `enable` take \
                      unit files from any path): systemd runs it at boot or login.",
        severity: Severity::High,
        technique: (
            "T1543.002",
            "Create or Modify System Process: Systemd Service",
        ),
        paths: || {
            let mut v = unit_dirs();
            v.extend(strings(&[
                "/**/*.service",
                "/**/*.timer",
                "/**/*.socket",
                "/**/*.path",
            ]));
            v
        },
    },
    PersistenceSpec {
        id: "rg-persist-cron",
        name: "Cron job written",
        description: "A system or user crontab, or a file in a cron directory, was created or \
                      changed: cron runs it on a schedule.",
        severity: Severity::High,
        technique: ("T1053.003", "Scheduled Task/Job: Cron"),
        paths: || {
            strings(&[
                "/etc/crontab",
                "/etc/anacrontab",
                "/etc/cron.d/**",
                "/etc/cron.hourly/**",
                "/etc/cron.daily/**",
                "/etc/cron.weekly/**",
                "/etc/cron.monthly/**",
                "/var/spool/cron/**",
            ])
        },
    },
    PersistenceSpec {
        id: "rg-persist-ssh-authorized-keys",
        name: "SSH authorized_keys written",
        description: "An authorized_keys file was created or changed: whoever holds the key can \
                      log in as that user.",
        severity: Severity::High,
        technique: ("T1098.004", "Account Manipulation: SSH Authorized Keys"),
        // In any home, wherever it is (/var/lib/postgresql, /srv/git,
        // /home/staff/ann): sshd reads ~/.ssh/authorized_keys of the
        // account's home from the password database, which is not fixed;
        // what is reported at all is decided by the [file] prefixes.
        paths: || strings(&["/**/.ssh/authorized_keys", "/**/.ssh/authorized_keys2"]),
    },
    PersistenceSpec {
        id: "rg-persist-ld-preload",
        name: "ld.so.preload written",
        description: "/etc/ld.so.preload was created or changed: the libraries it names are \
                      loaded into every dynamically linked program.",
        severity: Severity::Critical,
        technique: (
            "T1574.006",
            "Hijack Execution Flow: Dynamic Linker Hijacking",
        ),
        paths: || strings(&["/etc/ld.so.preload"]),
    },
    PersistenceSpec {
        id: "rg-persist-rc-scripts",
        name: "Boot script written",
        description: "/etc/rc.local or an init script was created or changed: it runs at boot.",
        severity: Severity::High,
        technique: (
            "T1037.004",
            "Boot or Logon Initialization Scripts: RC Scripts",
        ),
        paths: || strings(&["/etc/rc.local", "/etc/init.d/**", "/etc/rc[0-6S].d/**"]),
    },
    PersistenceSpec {
        id: "rg-persist-shell-profile",
        name: "Shell profile written",
        description: "A system-wide or per-user shell start-up file was created or changed: \
                      its commands run in every new shell.",
        severity: Severity::Medium,
        technique: (
            "T1546.004",
            "Event Triggered Execution: Unix Shell Configuration Modification",
        ),
        paths: || {
            let mut v = strings(&[
                "/etc/profile",
                "/etc/profile.d/**",
                "/etc/bash.bashrc",
                "/etc/bashrc",
                "/etc/zsh/**",
            ]);
            v.extend(home_files(PROFILE_FILES));
            v
        },
    },
    PersistenceSpec {
        id: "rg-persist-sudoers",
        name: "Sudoers written",
        description: "The sudoers policy or a drop-in was created or changed: it decides who may \
                      run what as root.",
        severity: Severity::High,
        technique: (
            "T1548.003",
            "Abuse Elevation Control Mechanism: Sudo and Sudo Caching",
        ),
        paths: || strings(&["/etc/sudoers", "/etc/sudoers.d/**"]),
    },
    PersistenceSpec {
        id: "rg-persist-account-files",
        name: "Account database written",
        description: "/etc/passwd, /etc/shadow, /etc/group or /etc/gshadow was changed: accounts, \
                      passwords or group memberships changed.",
        severity: Severity::Medium,
        technique: ("T1136.001", "Create Account: Local Account"),
        paths: || strings(&["/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow"]),
    },
];

/// The compiled persistence detections: every location glob of every
/// enabled detection in one set, so a file event costs one match over the
/// set, not one per detection.
pub(super) struct Persistence {
    pub(super) rules: Vec<Arc<RuleMeta>>,
    globs: GlobSet,
    /// Glob index → index in `rules`.
    owner: Vec<usize>,
    /// Reused match buffer.
    matched: Vec<usize>,
}

impl Persistence {
    /// Every persistence detection not in `disabled`, compiled.
    pub(super) fn new(disabled: &[String]) -> Self {
        let mut persistence = Persistence {
            rules: Vec::new(),
            globs: GlobSet::empty(),
            owner: Vec::new(),
            matched: Vec::new(),
        };
        let mut globs = Vec::new();
        for spec in PERSISTENCE
            .iter()
            .filter(|s| !disabled.iter().any(|x| x == s.id))
        {
            let paths = (spec.paths)();
            persistence
                .owner
                .extend(std::iter::repeat_n(persistence.rules.len(), paths.len()));
            globs.extend(paths);
            persistence.rules.push(Arc::new(RuleMeta {
                id: spec.id.into(),
                name: spec.name.into(),
                description: spec.description.into(),
                severity: spec.severity,
                tactics: vec!["Persistence".into()],
                techniques: vec![Technique {
                    id: spec.technique.0.into(),
                    name: Some(spec.technique.1.into()),
                }],
                source: "builtin".into(),
                references: Vec::new(),
                authors: Vec::new(),
            }));
        }
        persistence.globs = filter::globset(&globs).expect("built-in globs are valid");
        persistence
    }

    /// The detections `ev` hits, in order: writes, creates, renames into,
    /// links, chmod and chown of a watched location, when they succeeded.
    /// Unlinks are not persistence, nor are reads (reported for
    /// `[file] watch_reads` files).
    pub(super) fn hits(&mut self, ev: &Event, out: &mut Vec<usize>) {
        let Body::File(f) = &ev.body else {
            return;
        };
        if f.result < 0 || f.op == FileOp::Unlink || f.is_read() {
            return;
        }
        self.globs.matches_into(&f.path, &mut self.matched);
        // Several globs of one detection may match: each detection once.
        let start = out.len();
        out.extend(self.matched.iter().map(|g| self.owner[*g]));
        out[start..].sort_unstable();
        let mut kept = start;
        for r in start..out.len() {
            if kept == start || out[kept - 1] != out[r] {
                out[kept] = out[r];
                kept += 1;
            }
        }
        out.truncate(kept);
    }
}

/// At most this many accounts' `~/.ssh` directories are watched beyond
/// the `[file]` prefixes (each takes two entries of the kernel's trie).
pub const MAX_ACCOUNT_SSH_DIRS: usize = 64;

/// The `~/.ssh` directories rg-persist-ssh-authorized-keys must see that
/// the watched prefixes do not cover, and how many were left out.
///
/// sshd takes an account's home from the password database, and service
/// accounts live anywhere (`/var/lib/postgresql`, `/srv/git`, `/`): a key
/// planted there logs the attacker in like one in `/home`. So the agent
/// reads `passwd` at start and has the kernel report writes below every
/// existing home's `.ssh` as well, watched for detections only (no event
/// is written for them unless `[file] include` covers them). Homes that
/// do not exist, or whose `.ssh` is not an absolute path short enough for
/// the kernel's key, are skipped, and each home is
/// taken as the kernel will report it (`resolve`: the canonical path, or
/// `None` when it does not exist, so a symlinked home counts by its
/// target); past
/// [`MAX_ACCOUNT_SSH_DIRS`] the rest are counted as left out. An account
/// added later is covered from the next start.
pub fn account_ssh_dirs(
    passwd: &str,
    watched: &[String],
    resolve: impl Fn(&str) -> Option<String>,
) -> (Vec<String>, usize) {
    let covered = |dir: &str| {
        watched.iter().any(|p| {
            p == "/"
                || dir == p
                || (dir.starts_with(p.as_str()) && dir.as_bytes().get(p.len()) == Some(&b'/'))
        })
    };
    let mut dirs: Vec<String> = Vec::new();
    let mut left_out = 0;
    for line in passwd.lines() {
        // name:password:uid:gid:gecos:home:shell
        let Some(home) = line.split(':').nth(5).filter(|h| h.starts_with('/')) else {
            continue;
        };
        let Some(home) = resolve(home) else {
            continue;
        };
        let dir = format!("{}/.ssh", home.trim_end_matches('/'));
        if crate::config::check_path(&dir, crate::config::PREFIX_BYTES).is_err()
            || covered(&dir)
            || dirs.contains(&dir)
        {
            continue;
        }
        if dirs.len() == MAX_ACCOUNT_SSH_DIRS {
            left_out += 1;
            continue;
        }
        dirs.push(dir);
    }
    (dirs, left_out)
}
