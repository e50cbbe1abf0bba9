//! `[detections]`, `[rules]`, `[alerts]` and `[[exclusions]]`: what
//! raises alerts and what mutes them.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Known, check_globs};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Detections {
    /// Built-in detection rule ids to turn off.
    pub disabled: Vec<String>,
    /// Ports a listen/bind on, or a connect to, raises
    /// rg-net-suspicious-port.
    pub suspicious_ports: Vec<u16>,
    /// Whether loopback addresses count for rg-net-suspicious-port.
    pub suspicious_ports_loopback: bool,
    /// Programs whose reads of `[file] watch_reads` files do not raise
    /// rg-cred-sensitive-read: globs on `process.executable`.
    pub sensitive_read_allow: Vec<String>,
    /// rg-webshell-exec: web servers and application runtimes, globs on
    /// an ancestor's `process.name`...
    pub web_servers: Vec<String>,
    /// ...and the commands that alert under them, globs on `process.name`.
    pub web_shell_commands: Vec<String>,
    /// How long a write waits for its exec (rg-drop-exec), a unit file for
    /// its enable (rg-persist-systemd-enable), a connect for a write.
    pub correlation_window_seconds: u32,
    /// Entries per correlation window at most; beyond, the oldest go first
    /// (counted as correlation_evictions_total).
    pub correlation_max_entries: u32,
    /// rg-drop-exec: writers that fetch from the network, globs on
    /// `process.name`.
    pub download_tools: Vec<String>,
    /// rg-fileless-exec: memfd programs expected to run, globs on
    /// `rand_guard.process.exe` (e.g. a container runtime's own clone).
    pub fileless_allow: Vec<String>,
    /// rg-reverse-shell: shells and interpreters that alert when their
    /// stdio is a socket, globs on `process.name` and on the file name of
    /// `rand_guard.process.exe` (the file the kernel ran).
    pub reverse_shell_programs: Vec<String>,
}

/// Defaults of the scenario lists (docs/detections.md says why each).
pub const DEFAULT_WEB_SERVERS: &[&str] = &[
    "nginx",
    "apache2",
    "httpd",
    "lighttpd",
    "caddy",
    "php-fpm*",
    "php-cgi*",
    "node",
    "gunicorn*",
    "uwsgi",
    "java",
    "tomcat*",
];
pub const DEFAULT_WEB_SHELL_COMMANDS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "ash", "busybox", "id", "whoami", "uname", "hostname",
    "ifconfig", "ip", "netstat", "ss", "ps", "w", "who", "groups", "printenv", "cat", "nc", "ncat",
    "wget", "curl",
];
pub const DEFAULT_DOWNLOAD_TOOLS: &[&str] = &[
    "curl", "wget", "fetch", "aria2c", "scp", "sftp", "rsync", "ftp", "tftp", "nc", "ncat", "socat",
];
/// runc re-executes itself from a sealed memfd copy (CVE-2019-5736 fix).
pub const DEFAULT_FILELESS_ALLOW: &[&str] = &[
    "memfd:runc_cloned:/proc/self/exe",
    "/memfd:runc_cloned:/proc/self/exe (deleted)",
];

/// What an attacker drives over a socket: shells, script interpreters, and
/// the relays that hand a shell a socket.
pub const DEFAULT_REVERSE_SHELL_PROGRAMS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "busybox", "python*",
    "perl*", "ruby*", "php*", "lua*", "tclsh*", "node", "nodejs", "awk", "gawk", "mawk", "nc",
    "nc.*", "ncat", "netcat", "socat", "telnet",
];

impl Default for Detections {
    fn default() -> Self {
        Detections {
            disabled: Vec::new(),
            suspicious_ports: vec![4444, 1337, 31337, 6667, 12345, 5555, 9001],
            suspicious_ports_loopback: true,
            sensitive_read_allow: strings(DEFAULT_SENSITIVE_READ_ALLOW),
            web_servers: strings(DEFAULT_WEB_SERVERS),
            web_shell_commands: strings(DEFAULT_WEB_SHELL_COMMANDS),
            correlation_window_seconds: 600,
            correlation_max_entries: 8192,
            download_tools: strings(DEFAULT_DOWNLOAD_TOOLS),
            fileless_allow: strings(DEFAULT_FILELESS_ALLOW),
            reverse_shell_programs: strings(DEFAULT_REVERSE_SHELL_PROGRAMS),
        }
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Programs that read the `DEFAULT_WATCH_READS` files for a living: PAM's
/// password helpers, the daemons and tools that authenticate users or change passwords
/// (shadow-utils, and Debian's adduser and debconf, Perl programs whose
/// getpwnam reads the shadow file as root), sshd (host keys), the ssh
/// client (its own keys).
pub const DEFAULT_SENSITIVE_READ_ALLOW: &[&str] = &[
    "/{usr/sbin,sbin,usr/bin,bin}/{unix_chkpwd,unix_update}",
    "/{usr/sbin,sbin,usr/bin,bin}/{sshd,login,su,sudo,cron,crond}",
    "/usr/{lib,libexec}/openssh/{sshd-session,sshd-auth}",
    "/{usr/sbin,sbin,usr/bin,bin}/{passwd,chpasswd,chage,chfn,chsh,gpasswd,newgrp,expiry}",
    "/{usr/sbin,sbin,usr/bin,bin}/{useradd,usermod,userdel,groupadd,groupmod,groupdel}",
    "/{usr/sbin,sbin,usr/bin,bin}/{pwck,grpck,pwconv,pwunconv,grpconv,grpunconv,vipw,vigr}",
    "/{usr/lib,lib}/systemd/systemd",
    "/usr/{lib,libexec}/polkit-1/polkit-agent-helper-1",
    "/usr/bin/{ssh,ssh-add}",
    "/{usr/sbin,sbin}/{adduser,deluser,addgroup,delgroup,dpkg-reconfigure}",
    "/usr/share/debconf/frontend",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Directory whose `*.toml` files hold `[[rules]]` (missing: none).
    pub dir: PathBuf,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            dir: PathBuf::from("/etc/rand-guard/rules.d"),
        }
    }
}

/// Alert rate limiting: a token bucket per rule and process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Alerts one rule may raise for one process at once...
    pub burst: u32,
    /// ...then this many per minute; the suppressed ones are counted and
    /// summarized in one alert when the burst is over.
    pub per_minute: f64,
}

impl Eq for AlertsConfig {}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            burst: 10,
            per_minute: 60.0,
        }
    }
}

/// Drop events (no `rule`) or one rule's alerts (`rule`) that match every
/// given field. Counted as userspace-filtered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exclusion {
    /// Glob on the rule id: only these alerts are dropped, not events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Glob on process.executable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executable: Option<String>,
    /// Glob on file.path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// user.id (the real uid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// true: only processes in a container (`container.id` written);
    /// false: only processes outside any container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_container: Option<bool>,
    /// Glob on container.name (a container without a name never matches).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// Glob on container.image.name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_image: Option<String>,
    /// Glob on rand_guard.systemd.unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
    /// process.hash.sha256, exactly (64 hex digits, any case). A process
    /// whose hash is not known yet (or was skipped) does not match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl Detections {
    /// The globs compile, the windows and ports are in range, and every
    /// disabled id names a built-in detection of `known`.
    pub(super) fn validate(&self, known: &Known) -> Result<(), (&'static str, String)> {
        for (key, list) in [
            (
                "detections.sensitive_read_allow",
                &self.sensitive_read_allow,
            ),
            ("detections.web_servers", &self.web_servers),
            ("detections.web_shell_commands", &self.web_shell_commands),
            ("detections.download_tools", &self.download_tools),
            ("detections.fileless_allow", &self.fileless_allow),
            (
                "detections.reverse_shell_programs",
                &self.reverse_shell_programs,
            ),
        ] {
            check_globs(key, list)?;
        }
        if !(1..=86_400).contains(&self.correlation_window_seconds) {
            return Err((
                "detections.correlation_window_seconds",
                format!(
                    "must be from 1 to 86400, got {}",
                    self.correlation_window_seconds
                ),
            ));
        }
        if !(16..=1_000_000).contains(&self.correlation_max_entries) {
            return Err((
                "detections.correlation_max_entries",
                format!(
                    "must be from 16 to 1000000, got {}",
                    self.correlation_max_entries
                ),
            ));
        }
        if self.suspicious_ports.contains(&0) {
            return Err(("detections.suspicious_ports", "port 0 is not a port".into()));
        }
        for id in &self.disabled {
            if !known.builtin_detections.contains(&id.as_str()) {
                return Err((
                    "detections.disabled",
                    format!(
                        "unknown built-in detection {id:?}; known: {}",
                        known.builtin_detections.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl AlertsConfig {
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.burst == 0 || !(self.per_minute >= 0.0 && self.per_minute.is_finite()) {
            return Err((
                "alerts.burst",
                "burst must be at least 1 and per_minute a number >= 0".into(),
            ));
        }
        Ok(())
    }
}

impl Exclusion {
    /// `i`: the entry's index in `[[exclusions]]`, for the message.
    pub(super) fn validate(&self, i: usize) -> Result<(), (&'static str, String)> {
        if self.executable.is_none()
            && self.path.is_none()
            && self.uid.is_none()
            && self.rule.is_none()
            && self.in_container.is_none()
            && self.container_name.is_none()
            && self.container_image.is_none()
            && self.systemd_unit.is_none()
            && self.sha256.is_none()
        {
            return Err((
                "exclusions",
                format!(
                    "exclusions[{i}] names nothing to match (rule, executable, path, uid, \
                     in_container, container_name, container_image, systemd_unit, sha256)"
                ),
            ));
        }
        if let Some(h) = &self.sha256
            && !(h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err((
                "exclusions",
                format!("exclusions[{i}]: sha256 {h:?} is not 64 hex digits"),
            ));
        }
        if self.in_container == Some(false)
            && (self.container_name.is_some() || self.container_image.is_some())
        {
            return Err((
                "exclusions",
                format!(
                    "exclusions[{i}]: in_container = false with container_name or \
                     container_image can never match"
                ),
            ));
        }
        for g in [
            &self.rule,
            &self.executable,
            &self.path,
            &self.container_name,
            &self.container_image,
            &self.systemd_unit,
        ]
        .into_iter()
        .flatten()
        {
            globset::Glob::new(g).map_err(|e| {
                (
                    "exclusions",
                    format!("exclusions[{i}]: {g:?}: {}", e.kind()),
                )
            })?;
        }
        Ok(())
    }
}
