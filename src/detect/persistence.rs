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
    tactic: &'static str,
    technique: (&'static str, &'static str),
    /// Whether deleting a file there counts too (removing audit rules
    /// blinds the host; removing a cron job is not persistence).
    removal: bool,
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
        tactic: "Persistence",
        removal: false,
        technique: (
            "T1543.002",
            "Create or Modify System Process: Systemd Service",
        ),
        paths: || {
            let mut v = unit_dirs();
            // Generators run at every boot and daemon-reload, before units.
            v.extend(strings(&[
                "/etc/systemd/system-generators/**",
                "/usr/lib/systemd/system-generators/**",
                "/lib/systemd/system-generators/**",
                "/usr/local/lib/systemd/system-generators/**",
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
        tactic: "Persistence",
        removal: false,
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
        tactic: "Persistence",
        removal: false,
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
        tactic: "Persistence",
        removal: false,
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
        tactic: "Persistence",
        removal: false,
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
        tactic: "Persistence",
        removal: false,
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
        tactic: "Persistence",
        removal: false,
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
        tactic: "Persistence",
        removal: false,
        technique: ("T1136.001", "Create Account: Local Account"),
        paths: || strings(&["/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow"]),
    },
    PersistenceSpec {
        id: "rg-persist-udev-rules",
        name: "Udev rule written",
        description: "A udev rules file was created or changed: its RUN commands run as root \
                      whenever a matching device event fires (a USB stick, a network \
                      interface, /dev/random at every boot).",
        severity: Severity::High,
        tactic: "Persistence",
        removal: false,
        technique: ("T1546.017", "Event Triggered Execution: Udev Rules"),
        paths: || {
            strings(&[
                "/etc/udev/rules.d/**",
                "/usr/lib/udev/rules.d/**",
                "/lib/udev/rules.d/**",
                "/usr/local/lib/udev/rules.d/**",
                "/run/udev/rules.d/**",
            ])
        },
    },
    PersistenceSpec {
        id: "rg-persist-xdg-autostart",
        name: "XDG autostart entry written",
        description: "A desktop autostart entry was created or changed: the desktop session \
                      runs its Exec= line at every graphical login.",
        severity: Severity::Medium,
        tactic: "Persistence",
        removal: false,
        technique: (
            "T1547.013",
            "Boot or Logon Autostart Execution: XDG Autostart Entries",
        ),
        paths: || {
            let mut v = strings(&["/etc/xdg/autostart/**"]);
            v.extend(home_files(&[".config/autostart/**"]));
            v
        },
    },
    PersistenceSpec {
        id: "rg-persist-motd",
        name: "Login message script written",
        description: "A script in /etc/update-motd.d was created or changed: pam_motd runs \
                      them as root at every SSH or console login.",
        severity: Severity::High,
        tactic: "Persistence",
        removal: false,
        technique: ("T1037", "Boot or Logon Initialization Scripts"),
        paths: || strings(&["/etc/update-motd.d/**"]),
    },
    PersistenceSpec {
        id: "rg-persist-pam",
        name: "PAM configuration or module written",
        description: "A PAM configuration file or a PAM module was created or changed: it runs \
                      inside every login, su and sudo, sees the passwords typed and decides \
                      who gets in.",
        severity: Severity::High,
        tactic: "Persistence",
        removal: false,
        technique: (
            "T1556.003",
            "Modify Authentication Process: Pluggable Authentication Modules",
        ),
        // Modules by the directories PAM loads them from (Debian's
        // multiarch one, Fedora's lib64, the generic one); the kernel gives
        // the resolved path, so Debian's /lib symlink counts as /usr/lib.
        paths: || {
            strings(&[
                "/etc/pam.d/**",
                "/etc/pam.conf",
                "/usr/lib/x86_64-linux-gnu/security/**",
                "/usr/lib64/security/**",
                "/usr/lib/security/**",
            ])
        },
    },
    PersistenceSpec {
        id: "rg-persist-package-hook",
        name: "Package manager hook written",
        description: "A package manager configuration drop-in or plug-in was created or \
                      changed: APT's Pre-/Post-Invoke hooks, dpkg's options and yum/dnf \
                      plug-ins run commands as root at the next update.",
        severity: Severity::Medium,
        tactic: "Persistence",
        removal: false,
        technique: ("T1546.016", "Event Triggered Execution: Installer Packages"),
        paths: || {
            strings(&[
                "/etc/apt/apt.conf",
                "/etc/apt/apt.conf.d/**",
                "/etc/dpkg/dpkg.cfg",
                "/etc/dpkg/dpkg.cfg.d/**",
                "/etc/yum/pluginconf.d/**",
                "/etc/dnf/plugins/**",
            ])
        },
    },
    PersistenceSpec {
        id: "rg-persist-kernel-modules",
        name: "Kernel module autoload configuration written",
        description: "A module autoload or modprobe configuration file was created or changed: \
                      the modules it lists load at every boot, and a modprobe `install` line \
                      runs any command as root when its module is requested.",
        severity: Severity::High,
        tactic: "Persistence",
        removal: false,
        technique: (
            "T1547.006",
            "Boot or Logon Autostart Execution: Kernel Modules and Extensions",
        ),
        paths: || {
            strings(&[
                "/etc/modules",
                "/etc/modules-load.d/**",
                "/etc/modprobe.d/**",
                "/usr/lib/modules-load.d/**",
                "/usr/lib/modprobe.d/**",
                "/run/modules-load.d/**",
                "/run/modprobe.d/**",
            ])
        },
    },
    PersistenceSpec {
        id: "rg-persist-ssh-config",
        name: "SSH server configuration written",
        description: "The SSH server's configuration, a drop-in of it, or a per-user or \
                      system `sshrc` was created or changed: it decides who may log in and how \
                      (root logins, other key files), and an rc file runs at every login.",
        severity: Severity::Medium,
        tactic: "Persistence",
        removal: false,
        technique: ("T1098.004", "Account Manipulation: SSH Authorized Keys"),
        paths: || {
            let mut v = strings(&[
                "/etc/ssh/sshd_config",
                "/etc/ssh/sshd_config.d/**",
                "/etc/ssh/sshrc",
            ]);
            v.extend(home_files(&[".ssh/rc"]));
            v
        },
    },
    PersistenceSpec {
        id: "rg-log-config-changed",
        name: "Logging or audit configuration changed",
        description: "The audit rules, the audit daemon's configuration, or the system \
                      logger's configuration was created, changed or removed: the quiet way \
                      to stop the host from recording what happens next.",
        severity: Severity::Medium,
        tactic: "Defense Evasion",
        removal: true,
        technique: ("T1562.006", "Impair Defenses: Indicator Blocking"),
        paths: || {
            strings(&[
                "/etc/audit/**",
                "/etc/rsyslog.conf",
                "/etc/rsyslog.d/**",
                "/etc/syslog-ng/**",
                "/etc/systemd/journald.conf",
                "/etc/systemd/journald.conf.d/**",
            ])
        },
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
    /// Per rule: whether an unlink there counts.
    removal: Vec<bool>,
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
            removal: Vec::new(),
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
            persistence.removal.push(spec.removal);
            persistence.rules.push(Arc::new(RuleMeta {
                id: spec.id.into(),
                name: spec.name.into(),
                description: spec.description.into(),
                severity: spec.severity,
                tactics: vec![spec.tactic.into()],
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
    /// Unlinks are not persistence (except where the spec says removal
    /// counts), nor are reads (reported for `[file] watch_reads` files).
    pub(super) fn hits(&mut self, ev: &Event, out: &mut Vec<usize>) {
        let Body::File(f) = &ev.body else {
            return;
        };
        if f.result < 0 || f.is_read() {
            return;
        }
        let unlink = f.op == FileOp::Unlink;
        self.globs.matches_into(&f.path, &mut self.matched);
        // Several globs of one detection may match: each detection once.
        let start = out.len();
        out.extend(
            self.matched
                .iter()
                .map(|g| self.owner[*g])
                .filter(|r| !unlink || self.removal[*r]),
        );
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
