//! Configuration: TOML in, validated [`Config`] out, in one place.
//!
//! Path: `--config`, else `EDR_CONFIG`, else [`DEFAULT_PATH`]; when the
//! default path does not exist the built-in defaults apply (an explicit
//! path that does not exist is an error). Unknown keys and invalid values
//! are errors naming the file, the dotted key and the reason.
//! `config/config.toml` documents every key with its default.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const DEFAULT_PATH: &str = "/etc/rand-guard/config.toml";
pub const ENV_CONFIG: &str = "EDR_CONFIG";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub output: Output,
    pub kernel: Kernel,
    pub process_table: ProcessTable,
    pub pipeline: Pipeline,
    pub events: Events,
    pub file: File,
    pub network: Network,
    pub detections: Detections,
    pub rules: RulesConfig,
    pub alerts: AlertsConfig,
    pub exclusions: Vec<Exclusion>,
    pub health: HealthConfig,
}

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
}

/// Which event records are written. Unset: a family's events are written
/// when it is collected. `false`: not written (the family still feeds
/// detections; the dropped events count as userspace-filtered). `true`:
/// written, and the family must be collected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Events {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<bool>,
}

/// Network collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    /// Load the network programs at all (off: none loaded, no cost).
    pub enabled: bool,
    /// Which socket operations to hook.
    pub hooks: Vec<NetHook>,
    /// Report DNS queries (UDP datagrams to port 53).
    pub collect_dns: bool,
    /// Capture payloads: not implemented, so `true` is refused.
    pub collect_payload: bool,
    /// Socket families to report.
    pub families: Vec<NetFamilyName>,
    /// Service ports not reported: the remote port of a connect, the local
    /// port of a bind, listen or accept. Filtered in the kernel.
    pub exclude_ports: Vec<u16>,
    /// Peer networks (CIDR) not reported: the remote address of a connect
    /// or accept, the bound address of a bind or listen. In the kernel.
    pub exclude_networks: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetHook {
    Connect,
    Bind,
    Listen,
    /// accept(2) and accept4(2).
    Accept,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetFamilyName {
    Inet,
    Inet6,
    Unix,
}

impl NetFamilyName {
    /// The AF_* number.
    pub fn af(self) -> u16 {
        match self {
            NetFamilyName::Unix => 1,
            NetFamilyName::Inet => 2,
            NetFamilyName::Inet6 => 10,
        }
    }
}

impl Default for Network {
    fn default() -> Self {
        Network {
            enabled: false,
            hooks: vec![NetHook::Connect, NetHook::Bind, NetHook::Listen],
            collect_dns: false,
            collect_payload: false,
            families: vec![
                NetFamilyName::Inet,
                NetFamilyName::Inet6,
                NetFamilyName::Unix,
            ],
            exclude_ports: Vec::new(),
            exclude_networks: Vec::new(),
        }
    }
}

/// An IPv4 or IPv6 network, from "a.b.c.d/n" or "x::y/n" (a bare address
/// is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: std::net::IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }

    /// As an IPv6 network (IPv4 mapped into ::ffff:0:0/96).
    pub fn as_v6(&self) -> ([u8; 16], u32) {
        match self.addr {
            std::net::IpAddr::V4(a) => (a.to_ipv6_mapped().octets(), 96 + u32::from(self.prefix)),
            std::net::IpAddr::V6(a) => (a.octets(), u32::from(self.prefix)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Seconds between health records (one more is written at shutdown).
    pub interval_seconds: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            interval_seconds: 60,
        }
    }
}

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
    /// stdio is a socket, globs on `process.name`.
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

/// The kernel prefix filter holds two trie entries per prefix (256 in
/// all): 120 configured prefixes, and room for the agent's own files
/// (`tamper::MAX_PROTECTED`).
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

/// Programs that read those files for a living: PAM's password helpers,
/// the daemons and tools that authenticate users or change passwords
/// (shadow-utils), sshd (host keys), the ssh client (its own keys).
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
];

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
            ]),
            exclude: Vec::new(),
            report_failed: false,
            exclude_executables: Vec::new(),
            exclude_paths: s(&["/root/.cache/**", "/home/*/.cache/**"]),
            watch_reads: s(DEFAULT_WATCH_READS),
            detect_only: s(&["/tmp", "/var/tmp", "/dev/shm"]),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Output {
    /// `-` for stdout, else a file path (created 0600, appended to).
    pub path: String,
    /// Bytes of records kept while the output is failing; what comes
    /// beyond is dropped and counted (`output_buffer_drops_total`).
    pub buffer_bytes: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Kernel {
    /// Ring buffer size: a power of two between 64 KiB and 1 GiB.
    pub ring_buffer_bytes: u32,
    /// Pending bytes at which the kernel wakes the reader early; below it
    /// the reader finds records on its 100 ms poll.
    pub wakeup_bytes: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessTable {
    /// Most processes tracked; the least recently used are evicted beyond.
    pub max_entries: u32,
    /// Ancestors kept per process and listed in `rand_guard.ancestry`.
    pub ancestry_depth: u32,
}

/// The deepest `process_table.ancestry_depth` allowed.
pub const ANCESTRY_DEPTH_MAX: u32 = 64;

/// What a pipeline stage does when the next one is full (`[pipeline]
/// backpressure`; the behaviour is in `pipeline::channel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backpressure {
    #[default]
    Block,
    Drop,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pipeline {
    /// Batches each inter-stage channel holds before the sender waits.
    pub channel_capacity: u32,
    /// What a stage does when the next one is full: `block` (wait; loss
    /// moves to the kernel ring buffer, counted there) or `drop` (drop the
    /// batch, counted per stage).
    pub backpressure: Backpressure,
    /// After SIGTERM/SIGINT, how long the pipeline may take to write out
    /// what it has read; then what is still in flight is dropped and
    /// counted, so a stuck output cannot hold the agent.
    pub shutdown_timeout_seconds: u32,
}

impl Default for Output {
    fn default() -> Self {
        Output {
            path: "-".into(),
            buffer_bytes: 64 << 20,
        }
    }
}

impl Default for Kernel {
    fn default() -> Self {
        Kernel {
            ring_buffer_bytes: 8 << 20,
            wakeup_bytes: 256 << 10,
        }
    }
}

impl Default for ProcessTable {
    fn default() -> Self {
        ProcessTable {
            max_entries: 65536,
            ancestry_depth: 8,
        }
    }
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline {
            channel_capacity: 64,
            backpressure: Backpressure::Block,
            shutdown_timeout_seconds: 10,
        }
    }
}

/// A configuration error: the file, the dotted key when there is one, the
/// position when known, and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub key: Option<String>,
    pub line: Option<usize>,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config {}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Where the effective configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    /// The default path does not exist: built-in defaults.
    Defaults(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Defaults(p) => write!(f, "built-in defaults ({} does not exist)", p.display()),
        }
    }
}

/// Names and limits that other parts of the agent define and a
/// configuration refers to. `config` sits below every stage and imports
/// none of them, so the caller hands them in: the agent and the offline
/// tools pass `detect::KNOWN`.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    /// Every built-in detection id (`[detections] disabled` names them).
    pub builtin_detections: &'static [&'static str],
}

/// Longest path a `[file]` setting may name, terminator included: the
/// kernel's path buffer (`kernel::abi` checks that the two agree).
pub const PATH_BYTES: usize = 4096;
/// Longest `[file]` prefix, terminator included: the kernel trie's key
/// (`kernel::abi` checks that the two agree).
pub const PREFIX_BYTES: usize = 128;

impl Config {
    /// Resolve the path (flag, then environment, then default) and load.
    pub fn load(
        flag: Option<&Path>,
        env: Option<&Path>,
        known: &Known,
    ) -> Result<(Config, Source), ConfigError> {
        let explicit = flag.or(env);
        let path = explicit.unwrap_or(Path::new(DEFAULT_PATH)).to_path_buf();
        match fs::read_to_string(&path) {
            Ok(text) => Ok((Config::parse(&text, &path, known)?, Source::File(path))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
                Ok((Config::default(), Source::Defaults(path)))
            }
            Err(e) => Err(ConfigError {
                file: path,
                key: None,
                line: None,
                reason: format!("cannot read: {e}"),
            }),
        }
    }

    /// Parse and validate TOML text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path, known: &Known) -> Result<Config, ConfigError> {
        let err = |key: Option<String>, span: Option<std::ops::Range<usize>>, reason: String| {
            ConfigError {
                file: file.to_path_buf(),
                key,
                line: span.map(|s| line_of(text, s.start)),
                reason,
            }
        };
        let de = toml::Deserializer::parse(text)
            .map_err(|e| err(None, e.span(), e.message().to_string()))?;
        let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            err(
                Some(key).filter(|k| k != "."),
                inner.span(),
                inner.message().to_string(),
            )
        })?;
        cfg.validate(known)
            .map_err(|(key, reason)| err(Some(key.to_string()), None, reason))?;
        Ok(cfg)
    }

    /// Range checks serde cannot express: (dotted key, reason).
    pub fn validate(&self, known: &Known) -> Result<(), (&'static str, String)> {
        let k = &self.kernel;
        let rb = k.ring_buffer_bytes;
        if !rb.is_power_of_two() || !(64 << 10..=1 << 30).contains(&rb) {
            return Err((
                "kernel.ring_buffer_bytes",
                format!("must be a power of two from 65536 to 1073741824, got {rb}"),
            ));
        }
        if k.wakeup_bytes == 0 || k.wakeup_bytes > rb / 2 {
            return Err((
                "kernel.wakeup_bytes",
                format!(
                    "must be from 1 to half of kernel.ring_buffer_bytes ({}), got {}",
                    rb / 2,
                    k.wakeup_bytes
                ),
            ));
        }
        let pt = &self.process_table;
        if !(64..=4 << 20).contains(&pt.max_entries) {
            return Err((
                "process_table.max_entries",
                format!("must be from 64 to 4194304, got {}", pt.max_entries),
            ));
        }
        if pt.ancestry_depth > ANCESTRY_DEPTH_MAX {
            return Err((
                "process_table.ancestry_depth",
                format!(
                    "must be from 0 to {ANCESTRY_DEPTH_MAX}, got {}",
                    pt.ancestry_depth
                ),
            ));
        }
        if !(1..=65536).contains(&self.pipeline.channel_capacity) {
            return Err((
                "pipeline.channel_capacity",
                format!(
                    "must be from 1 to 65536, got {}",
                    self.pipeline.channel_capacity
                ),
            ));
        }
        if !(1..=86400).contains(&self.health.interval_seconds) {
            return Err((
                "health.interval_seconds",
                format!(
                    "must be from 1 to 86400, got {}",
                    self.health.interval_seconds
                ),
            ));
        }
        if !(1..=3600).contains(&self.pipeline.shutdown_timeout_seconds) {
            return Err((
                "pipeline.shutdown_timeout_seconds",
                format!(
                    "must be from 1 to 3600, got {}",
                    self.pipeline.shutdown_timeout_seconds
                ),
            ));
        }
        if self.output.path.is_empty() {
            return Err(("output.path", "must be `-` (stdout) or a file path".into()));
        }
        // At least a few write chunks: a working output never holds more
        // than one chunk and a record.
        if !(256 << 10..=1 << 30).contains(&self.output.buffer_bytes) {
            return Err((
                "output.buffer_bytes",
                format!(
                    "must be from 262144 to 1073741824, got {}",
                    self.output.buffer_bytes
                ),
            ));
        }
        let f = &self.file;
        let prefixes = f.include.len() + f.exclude.len() + f.detect_only.len();
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
            ("file.include", &f.include),
            ("file.exclude", &f.exclude),
            ("file.detect_only", &f.detect_only),
        ] {
            for p in list {
                check_prefix(p).map_err(|why| (key, format!("{p:?}: {why}")))?;
            }
        }
        if f.watch_reads.len() > MAX_WATCH_READS {
            return Err((
                "file.watch_reads",
                format!(
                    "at most {MAX_WATCH_READS} paths, got {}",
                    f.watch_reads.len()
                ),
            ));
        }
        for (i, p) in f.watch_reads.iter().enumerate() {
            check_path(p, PATH_BYTES)
                .map_err(|why| ("file.watch_reads", format!("{p:?}: {why}")))?;
            if f.watch_reads[..i].contains(p) {
                return Err(("file.watch_reads", format!("{p:?} is listed twice")));
            }
        }
        for (key, list) in [
            ("file.exclude_executables", &f.exclude_executables),
            ("file.exclude_paths", &f.exclude_paths),
            (
                "detections.sensitive_read_allow",
                &self.detections.sensitive_read_allow,
            ),
            ("detections.web_servers", &self.detections.web_servers),
            (
                "detections.web_shell_commands",
                &self.detections.web_shell_commands,
            ),
            ("detections.download_tools", &self.detections.download_tools),
            ("detections.fileless_allow", &self.detections.fileless_allow),
            (
                "detections.reverse_shell_programs",
                &self.detections.reverse_shell_programs,
            ),
        ] {
            for g in list {
                globset::Glob::new(g).map_err(|e| (key, format!("{g:?}: {}", e.kind())))?;
            }
        }
        let d = &self.detections;
        if !(1..=86_400).contains(&d.correlation_window_seconds) {
            return Err((
                "detections.correlation_window_seconds",
                format!(
                    "must be from 1 to 86400, got {}",
                    d.correlation_window_seconds
                ),
            ));
        }
        if !(16..=1_000_000).contains(&d.correlation_max_entries) {
            return Err((
                "detections.correlation_max_entries",
                format!(
                    "must be from 16 to 1000000, got {}",
                    d.correlation_max_entries
                ),
            ));
        }
        let n = &self.network;
        if n.collect_payload {
            return Err((
                "network.collect_payload",
                "payload capture is not implemented in this version; set it to false".into(),
            ));
        }
        if n.collect_dns && !n.enabled {
            return Err((
                "network.collect_dns",
                "needs network.enabled = true (nothing collects DNS otherwise)".into(),
            ));
        }
        if n.enabled && n.hooks.is_empty() && !n.collect_dns {
            return Err((
                "network.hooks",
                "network.enabled = true with no hooks and no collect_dns collects nothing".into(),
            ));
        }
        if n.families.is_empty() {
            return Err((
                "network.families",
                "must name at least one of inet, inet6, unix".into(),
            ));
        }
        for c in &n.exclude_networks {
            Cidr::parse(c).map_err(|why| ("network.exclude_networks", why))?;
        }
        for (key, wanted, collected) in [
            ("events.file", self.events.file, self.file.enabled),
            ("events.network", self.events.network, n.enabled),
        ] {
            if wanted == Some(true) && !collected {
                let family = &key["events.".len()..];
                return Err((
                    key,
                    format!(
                        "needs {family}.enabled = true: nothing collects these events otherwise"
                    ),
                ));
            }
        }
        let a = &self.alerts;
        if a.burst == 0 || !(a.per_minute >= 0.0 && a.per_minute.is_finite()) {
            return Err((
                "alerts.burst",
                "burst must be at least 1 and per_minute a number >= 0".into(),
            ));
        }
        for (i, x) in self.exclusions.iter().enumerate() {
            if x.executable.is_none() && x.path.is_none() && x.uid.is_none() && x.rule.is_none() {
                return Err((
                    "exclusions",
                    format!("exclusions[{i}] names nothing to match (rule, executable, path, uid)"),
                ));
            }
            for g in [&x.rule, &x.executable, &x.path].into_iter().flatten() {
                globset::Glob::new(g).map_err(|e| {
                    (
                        "exclusions",
                        format!("exclusions[{i}]: {g:?}: {}", e.kind()),
                    )
                })?;
            }
        }
        if self.detections.suspicious_ports.contains(&0) {
            return Err(("detections.suspicious_ports", "port 0 is not a port".into()));
        }
        for id in &self.detections.disabled {
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

    /// The effective configuration as TOML (what check-config prints).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
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

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests;
