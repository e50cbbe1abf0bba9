//! Scenario detections: built-ins that need more than one event, or the
//! context around one, to say something a single-event rule cannot.
//!
//! - `rg-webshell-exec`: a shell or recon command whose ancestry holds a web
//!   server or application runtime (the web server is the evidence).
//! - `rg-persist-systemd-enable`: a unit file written, then enabled or
//!   started (`systemctl enable|start|...` naming it, or a link to it in a
//!   `*.wants/` or `*.requires/` directory) within the window.
//! - `rg-drop-exec`: a file written (created, renamed into place, linked or
//!   made executable) and then executed within the window; more severe when
//!   the writer is a download tool or made a connection shortly before, or
//!   when the file lives in a world-writable temporary directory.
//! - `rg-fileless-exec`: a program executed from a memfd (`memfd_create` then
//!   `execve("/proc/self/fd/N")`): code that never touched a file system.
//! - `rg-reverse-shell`: a shell or interpreter whose stdin and stdout or
//!   stderr are an internet socket (seen in the kernel at exec and after a
//!   dup onto fd 0..2: the stdio-socket event), or a shell started with a
//!   `/dev/tcp/` or `/dev/udp/` redirection in its command line.
//!
//! Every alert carries the events that led to it (`rand_guard.alert.evidence`,
//! oldest first, with their times). The state behind them (recent unit
//! writes, recent file writes, recent connects) lives in [`Window`]s: bounded
//! in entries, expired by event time, and what is pushed out early is
//! counted (`correlation_evictions_total` in health).
//!
//! Event time (`ktime_ns`, the kernel's boot clock; the record time in a
//! replay) drives every window, so a replay correlates as the agent did.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Arc;

use globset::GlobSet;

use crate::config;
use crate::detect::filter;
use crate::model::alert::{Evidence, RuleMeta, Severity, Technique};
use crate::model::event::{Body, Event, FileOp, NetOp};
use crate::model::proctable::Process;

/// What a scenario found: the rule, the evidence, and the message.
#[derive(Debug, Clone)]
pub struct Finding {
    pub rule: Arc<RuleMeta>,
    pub evidence: Vec<Evidence>,
    pub message: String,
}

/// Recent entries keyed by `K`, each with the event time it was last set:
/// at most `cap` entries, none older than `window_ns`. Inserting beyond
/// `cap` pushes out the oldest, and that is counted.
#[derive(Debug)]
pub struct Window<K, V> {
    map: HashMap<K, (u64, V)>,
    /// Insertion order; may hold stale keys (set again later, or taken),
    /// skipped when they come up.
    order: VecDeque<(u64, K)>,
    cap: usize,
    window_ns: u64,
    evicted: u64,
}

impl<K: Hash + Eq + Clone, V> Window<K, V> {
    pub fn new(cap: usize, window_ns: u64) -> Self {
        Window {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
            window_ns,
            evicted: 0,
        }
    }

    /// Set `key` at `now`, expiring old entries first.
    pub fn insert(&mut self, now: u64, key: K, value: V) {
        self.expire(now);
        if !self.map.contains_key(&key) {
            while self.map.len() >= self.cap {
                if !self.pop_oldest() {
                    break;
                }
                self.evicted += 1;
            }
        }
        self.map.insert(key.clone(), (now, value));
        self.order.push_back((now, key));
        // Stale order entries are bounded too: rebuild when they pile up.
        if self.order.len() > 2 * self.cap {
            let map = &self.map;
            self.order
                .retain(|(t, k)| map.get(k).is_some_and(|(at, _)| at == t));
        }
    }

    /// The entry for `key` if it is still inside the window at `now`.
    pub fn get(&self, now: u64, key: &K) -> Option<&V> {
        self.map
            .get(key)
            .filter(|(at, _)| now.saturating_sub(*at) <= self.window_ns)
            .map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, now: u64, key: &K) -> Option<&mut V> {
        let window = self.window_ns;
        self.map
            .get_mut(key)
            .filter(|(at, _)| now.saturating_sub(*at) <= window)
            .map(|(_, v)| v)
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.map.remove(key).map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Entries pushed out before their time, since creation.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Drop what is older than the window at `now`.
    pub fn expire(&mut self, now: u64) {
        while let Some((t, _)) = self.order.front() {
            if now.saturating_sub(*t) <= self.window_ns {
                break;
            }
            self.pop_oldest();
        }
    }

    /// Take over the entries of `old` (the same window under a reloaded
    /// configuration), keeping this window's size and length: what no
    /// longer fits is pushed out, oldest first, and counted here; what is
    /// past the new length goes at the next expiry. `old`'s own count is
    /// not taken (the correlator carries it, see [`Correlator::take_state`]).
    pub fn adopt(&mut self, old: Window<K, V>) {
        self.map = old.map;
        self.order = old.order;
        while self.map.len() > self.cap && self.pop_oldest() {
            self.evicted += 1;
        }
    }

    /// Remove the oldest live entry; false when there is none.
    fn pop_oldest(&mut self) -> bool {
        while let Some((t, k)) = self.order.pop_front() {
            if self.map.get(&k).is_some_and(|(at, _)| *at == t) {
                self.map.remove(&k);
                return true;
            }
        }
        false
    }
}

/// `process.name` as the output writes it: the executable's file name,
/// else the task name.
fn name_of(p: &Process) -> &str {
    let exe = p.image.executable.as_str();
    if exe.is_empty() {
        &p.image.name
    } else {
        exe.rsplit('/').next().unwrap_or(exe)
    }
}

fn meta(
    id: &str,
    name: &str,
    description: &str,
    severity: Severity,
    tactics: &[&str],
    techniques: &[(&str, &str)],
) -> Arc<RuleMeta> {
    Arc::new(RuleMeta {
        id: id.into(),
        name: name.into(),
        description: description.into(),
        severity,
        tactics: tactics.iter().map(|t| t.to_string()).collect(),
        techniques: techniques
            .iter()
            .map(|(id, name)| Technique {
                id: id.to_string(),
                name: Some(name.to_string()),
            })
            .collect(),
        source: "builtin".into(),
    })
}

/// The same rule at another severity (drop-and-execute scores its cases).
fn at_severity(rule: &Arc<RuleMeta>, severity: Severity) -> Arc<RuleMeta> {
    if rule.severity == severity {
        return rule.clone();
    }
    Arc::new(RuleMeta {
        severity,
        ..(**rule).clone()
    })
}

// ---- rg-webshell-exec ----------------------------------------------------

struct WebShell {
    rule: Arc<RuleMeta>,
    servers: GlobSet,
    commands: GlobSet,
}

impl WebShell {
    fn observe(&self, ev: &Event, out: &mut Vec<Finding>) {
        let (Body::Exec(_), Some(p)) = (&ev.body, ev.process.as_deref()) else {
            return;
        };
        if !self.commands.is_match(name_of(p)) {
            return;
        }
        // The nearest web server above, if no command of the list stands
        // between: `php-fpm → sh -c id → id` alerts once, on the sh.
        for a in p.ancestors() {
            let name = name_of(a);
            if self.servers.is_match(name) {
                out.push(Finding {
                    rule: self.rule.clone(),
                    evidence: vec![Evidence::of_process(a), Evidence::of(ev)],
                    message: format!(
                        "{} run under web server {name} (pid {}): {}",
                        name_of(p),
                        a.pid,
                        p.image.args.join(" ")
                    ),
                });
                return;
            }
            if self.commands.is_match(name) {
                return;
            }
        }
    }
}

// ---- rg-persist-systemd-enable -------------------------------------------

/// Unit directories (system and user) and the unit file kinds that run code.
const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system/**",
    "/etc/systemd/user/**",
    "/usr/lib/systemd/system/**",
    "/usr/lib/systemd/user/**",
    "/lib/systemd/system/**",
    "/lib/systemd/user/**",
    "/usr/local/lib/systemd/system/**",
    "/usr/local/lib/systemd/user/**",
    "/run/systemd/system/**",
    "/root/.config/systemd/user/**",
    "/home/*/.config/systemd/user/**",
];
const UNIT_KINDS: &[&str] = &[".service", ".timer", ".socket", ".path"];
/// systemctl verbs that make a unit run.
const ENABLING_VERBS: &[&str] = &[
    "enable",
    "reenable",
    "start",
    "restart",
    "reload-or-restart",
    "try-restart",
    "link",
];

struct UnitEnable {
    rule: Arc<RuleMeta>,
    dirs: GlobSet,
    /// Unit file name → the write that put it there.
    written: Window<String, Evidence>,
}

fn unit_name(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next()?;
    UNIT_KINDS.iter().any(|k| name.ends_with(k)).then_some(name)
}

impl UnitEnable {
    fn observe(&mut self, ev: &Event, out: &mut Vec<Finding>) {
        let now = ev.ktime_ns;
        match &ev.body {
            Body::File(f) if f.result >= 0 && !f.is_read() => {
                // A link into a .wants/.requires directory enables the unit
                // it names; systemd itself makes them for `systemctl enable`.
                if f.op == FileOp::Symlink || f.op == FileOp::Link {
                    let parent = f.path.rsplit_once('/').map_or("", |(d, _)| d);
                    if (parent.ends_with(".wants") || parent.ends_with(".requires"))
                        && let Some(unit) = f
                            .target_path
                            .as_deref()
                            .and_then(unit_name)
                            .or_else(|| unit_name(&f.path))
                        && let Some(write) = self.written.remove(&unit.to_string())
                    {
                        out.push(self.finding(unit, write, ev));
                        return;
                    }
                }
                if f.op != FileOp::Unlink
                    && let Some(unit) = unit_name(&f.path)
                    && self.dirs.is_match(&f.path)
                {
                    self.written.insert(now, unit.to_string(), Evidence::of(ev));
                }
            }
            Body::Exec(x) => {
                let args = &x.image.args;
                let is_systemctl = x.image.executable.rsplit('/').next() == Some("systemctl");
                if !is_systemctl || !args.iter().any(|a| ENABLING_VERBS.contains(&a.as_str())) {
                    return;
                }
                for a in args.iter().skip(1).filter(|a| !a.starts_with('-')) {
                    // `systemctl enable x` means x.service.
                    let base = a.rsplit('/').next().unwrap_or(a);
                    let unit = if unit_name(base).is_some() {
                        base.to_string()
                    } else {
                        format!("{base}.service")
                    };
                    if self.written.get(now, &unit).is_some() {
                        let write = self.written.remove(&unit).expect("present");
                        out.push(self.finding(&unit, write, ev));
                    }
                }
            }
            _ => {}
        }
    }

    fn finding(&self, unit: &str, write: Evidence, ev: &Event) -> Finding {
        let how = match &ev.body {
            Body::Exec(x) => x.image.args.join(" "),
            Body::File(f) => format!("link {}", f.path),
            _ => ev.body.action().to_string(),
        };
        Finding {
            rule: self.rule.clone(),
            message: format!(
                "Systemd unit {unit} written by {} then enabled or started ({how})",
                write.executable.as_deref().unwrap_or("an unknown program")
            ),
            evidence: vec![write, Evidence::of(ev)],
        }
    }
}

// ---- rg-drop-exec and rg-fileless-exec -----------------------------------

/// World-writable places where dropped payloads live.
const TEMP_DIRS: &[&str] = &["/tmp/", "/var/tmp/", "/dev/shm/"];

/// A file written recently, and by whom.
struct Drop {
    /// The write (and a later chmod +x), oldest first.
    evidence: Vec<Evidence>,
    /// The writer is a download tool or had connected out shortly before.
    from_network: bool,
}

struct DropExec {
    /// rg-drop-exec, when on (else only fileless execs are looked at).
    rule: Option<Arc<RuleMeta>>,
    fileless: Option<Arc<RuleMeta>>,
    fileless_allow: GlobSet,
    download_tools: GlobSet,
    /// Path → how it was dropped.
    drops: Window<String, Drop>,
    /// (pid, start) → its last connect: the writer "came from the network".
    connects: Window<(u32, u64), Evidence>,
}

/// A write that leaves a file ready to run: created or truncated for
/// writing, renamed or linked into place, or given an execute bit.
fn drops_file(op: FileOp, open_flags: u64, mode: Option<u32>) -> bool {
    const O_WRONLY: u64 = 0o1;
    const O_RDWR: u64 = 0o2;
    match op {
        FileOp::Open => open_flags & (O_WRONLY | O_RDWR) != 0,
        FileOp::Rename | FileOp::Link => true,
        FileOp::Chmod => mode.is_some_and(|m| m & 0o111 != 0),
        _ => false,
    }
}

impl DropExec {
    fn observe(&mut self, ev: &Event, out: &mut Vec<Finding>) {
        let now = ev.ktime_ns;
        let proc = ev.process.as_deref();
        let tracking = self.rule.is_some();
        match &ev.body {
            Body::Net(n) if tracking && n.op == NetOp::Connect && n.remote.is_some() => {
                if let Some(p) = proc {
                    self.connects
                        .insert(now, (p.pid, p.start_ns), Evidence::of(ev));
                }
            }
            Body::File(f)
                if tracking && f.result >= 0 && drops_file(f.op, f.open_flags, f.mode) =>
            {
                if let Some(d) = self.drops.get_mut(now, &f.path) {
                    // A chmod +x after the write: part of the same drop.
                    if f.op == FileOp::Chmod && d.evidence.len() < 4 {
                        d.evidence.push(Evidence::of(ev));
                    }
                    return;
                }
                let connected = proc.and_then(|p| self.connects.get(now, &(p.pid, p.start_ns)));
                let tool = proc.is_some_and(|p| self.download_tools.is_match(name_of(p)));
                let mut evidence: Vec<Evidence> = connected.cloned().into_iter().collect();
                evidence.push(Evidence::of(ev));
                self.drops.insert(
                    now,
                    f.path.clone(),
                    Drop {
                        evidence,
                        from_network: tool || connected.is_some(),
                    },
                );
            }
            Body::Exec(x) => {
                let exe = proc.map_or("", |p| p.image.exe.as_str());
                if let Some(rule) = &self.fileless
                    && (exe.starts_with("memfd:") || exe.starts_with("/memfd:"))
                    && !self.fileless_allow.is_match(exe)
                {
                    out.push(Finding {
                        rule: rule.clone(),
                        evidence: vec![Evidence::of(ev)],
                        message: format!(
                            "Program run from memory ({exe}) as {} by pid {}",
                            x.image.executable, ev.pid
                        ),
                    });
                    return;
                }
                let Some(rule) = &self.rule else {
                    return;
                };
                // The program as run, or the file the kernel ran (a symlink
                // to the drop runs it too).
                let key = [x.image.executable.as_str(), exe]
                    .into_iter()
                    .find(|k| !k.is_empty() && self.drops.get(now, &k.to_string()).is_some())
                    .map(str::to_string);
                let Some(key) = key else {
                    return;
                };
                let drop = self.drops.remove(&key).expect("present");
                let in_temp = TEMP_DIRS.iter().any(|d| key.starts_with(d));
                let severity = match (drop.from_network, in_temp) {
                    (true, true) => Severity::Critical,
                    (true, false) | (false, true) => Severity::High,
                    (false, false) => Severity::Medium,
                };
                // The writer is the first program that wrote the file (the
                // one the severity scores); a later chmod +x by another
                // program is named too.
                let exe = |e: &Evidence| {
                    e.executable
                        .clone()
                        .unwrap_or_else(|| "an unknown program".into())
                };
                let mut touches = drop.evidence.iter().filter(|e| e.action != "connect");
                let first = touches.next();
                let writer = first.map_or_else(|| "an unknown program".into(), exe);
                let chmod = touches
                    .rfind(|e| e.action == "chmod")
                    .map(exe)
                    .filter(|c| *c != writer)
                    .map_or_else(String::new, |c| format!(", made executable by {c}"));
                let mut evidence = drop.evidence;
                evidence.push(Evidence::of(ev));
                let mut why = Vec::new();
                if drop.from_network {
                    why.push("the writer downloads");
                }
                if in_temp {
                    why.push("in a temporary directory");
                }
                out.push(Finding {
                    rule: at_severity(rule, severity),
                    evidence,
                    message: format!(
                        "{key} written by {writer}{chmod} then executed by pid {}{}",
                        ev.pid,
                        if why.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", why.join(", "))
                        }
                    ),
                });
            }
            _ => {}
        }
    }
}

// ---- rg-reverse-shell ------------------------------------------------------

/// Bash's network redirections: `<>/dev/tcp/host/port` and the like...
const NET_REDIRECTS: &[&str] = &["/dev/tcp/", "/dev/udp/"];
/// ...and the shells that implement them (or may be bash under another
/// name): a script of another language that merely mentions the path is
/// not a redirection.
const NET_REDIRECT_SHELLS: &[&str] = &["sh", "bash", "ksh", "zsh", "mksh", "ash", "busybox"];

struct ReverseShell {
    /// Critical: the socket is on stdio. The command-line case is medium.
    rule: Arc<RuleMeta>,
    programs: GlobSet,
    /// What has been alerted on: one alert per connection, not per process
    /// (`bash -i >& /dev/tcp/..` shows its socket at the dup, again at the
    /// exec, and in every subshell it starts), one per process for a
    /// command line.
    alerted: Window<ShellKey, ()>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ShellKey {
    /// The socket's inode number.
    Socket(u64),
    /// (pid, start) of a process with a network redirection.
    CommandLine(u32, u64),
}

impl ReverseShell {
    fn observe(&mut self, ev: &Event, out: &mut Vec<Finding>) {
        let Some(p) = ev.process.as_deref() else {
            return;
        };
        let (key, severity, message) = match &ev.body {
            Body::Net(n) if n.op == NetOp::StdioSocket => {
                let Some(stdio) = n.stdio else {
                    return;
                };
                if !self.programs.is_match(name_of(p)) {
                    return;
                }
                let peer = n
                    .remote
                    .map_or_else(|| "an unconnected socket".to_string(), |a| a.to_string());
                let fds: Vec<String> = (0..3)
                    .filter(|fd| stdio.fds & (1 << fd) != 0)
                    .map(|fd| fd.to_string())
                    .collect();
                let how = if n.syscall == "execve" {
                    "started with".to_string()
                } else {
                    format!("{} gave it", n.syscall)
                };
                (
                    ShellKey::Socket(stdio.socket_inode),
                    Severity::Critical,
                    format!(
                        "{} (pid {}) has fds {} on a socket to {peer} ({how}): an interactive \
                         shell over the network",
                        name_of(p),
                        ev.pid,
                        fds.join(", ")
                    ),
                )
            }
            Body::Exec(x) => {
                if !NET_REDIRECT_SHELLS.contains(&name_of(p)) {
                    return;
                }
                let Some(arg) = x
                    .image
                    .args
                    .iter()
                    .find(|a| NET_REDIRECTS.iter().any(|r| a.contains(r)))
                else {
                    return;
                };
                (
                    ShellKey::CommandLine(p.pid, p.start_ns),
                    Severity::Medium,
                    format!(
                        "{} (pid {}) started with a network redirection: {arg}",
                        name_of(p),
                        ev.pid
                    ),
                )
            }
            _ => return,
        };
        let now = ev.ktime_ns;
        if self.alerted.get(now, &key).is_some() {
            return;
        }
        self.alerted.insert(now, key, ());
        out.push(Finding {
            rule: at_severity(&self.rule, severity),
            evidence: vec![Evidence::of_process(p), Evidence::of(ev)],
            message,
        });
    }
}

// ---- the correlator --------------------------------------------------------

/// Ids of the scenario detections, stable across releases.
pub const IDS: &[&str] = &[
    "rg-webshell-exec",
    "rg-persist-systemd-enable",
    "rg-drop-exec",
    "rg-fileless-exec",
    "rg-reverse-shell",
];

/// The enabled scenarios and their state.
pub struct Correlator {
    webshell: Option<WebShell>,
    units: Option<UnitEnable>,
    drops: Option<DropExec>,
    shells: Option<ReverseShell>,
    /// Evictions counted by the correlators this one replaced (SIGHUP):
    /// `correlation_evictions_total` only increases.
    evicted_before: u64,
}

impl Correlator {
    pub fn new(d: &config::Detections) -> Result<Self, globset::Error> {
        let on = |id: &str| !d.disabled.iter().any(|x| x == id);
        let window_ns = u64::from(d.correlation_window_seconds) * 1_000_000_000;
        let cap = d.correlation_max_entries as usize;
        let webshell = on("rg-webshell-exec")
            .then(|| -> Result<_, globset::Error> {
                Ok(WebShell {
                    rule: meta(
                        "rg-webshell-exec",
                        "Command run by a web server",
                        "A shell or reconnaissance command started with a web server or \
                         application runtime in its ancestry (detections.web_servers, \
                         detections.web_shell_commands): a web shell or command injection \
                         running commands for an attacker.",
                        Severity::High,
                        &["Persistence", "Execution"],
                        &[("T1505.003", "Server Software Component: Web Shell")],
                    ),
                    servers: filter::globset(&d.web_servers)?,
                    commands: filter::globset(&d.web_shell_commands)?,
                })
            })
            .transpose()?;
        let units = on("rg-persist-systemd-enable")
            .then(|| -> Result<_, globset::Error> {
                Ok(UnitEnable {
                    rule: meta(
                        "rg-persist-systemd-enable",
                        "Systemd unit written and enabled",
                        "A unit file was written in a unit directory and then, within \
                         detections.correlation_window_seconds, enabled or started \
                         (systemctl naming it, or a link to it in a .wants/.requires \
                         directory): persistence that will run, not just a file.",
                        Severity::Critical,
                        &["Persistence"],
                        &[(
                            "T1543.002",
                            "Create or Modify System Process: Systemd Service",
                        )],
                    ),
                    dirs: filter::globset(
                        &UNIT_DIRS.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    )?,
                    written: Window::new(cap, window_ns),
                })
            })
            .transpose()?;
        let drop_on = on("rg-drop-exec");
        let fileless_on = on("rg-fileless-exec");
        let drops =
            (drop_on || fileless_on)
                .then(|| -> Result<_, globset::Error> {
                    Ok(DropExec {
                    rule: drop_on.then(|| meta(
                        "rg-drop-exec",
                        "Dropped file executed",
                        "A file was written (created, renamed or linked into place, or made \
                         executable) and then executed within \
                         detections.correlation_window_seconds. Critical when the writer is a \
                         download tool (detections.download_tools) or connected out shortly \
                         before and the file is in /tmp, /var/tmp or /dev/shm; high for one \
                         of the two; medium otherwise.",
                        Severity::Medium,
                        &["Execution", "Command and Control"],
                        &[
                            ("T1105", "Ingress Tool Transfer"),
                            ("T1204.002", "User Execution: Malicious File"),
                        ],
                    )),
                    fileless: fileless_on.then(|| {
                        meta(
                            "rg-fileless-exec",
                            "Program run from memory",
                            "A program was executed from a memfd (memfd_create, then execve \
                             of /proc/self/fd/N): code that never touched a file system. \
                             Container runtimes do this with their own binary \
                             (detections.fileless_allow).",
                            Severity::High,
                            &["Defense Evasion", "Execution"],
                            &[("T1620", "Reflective Code Loading")],
                        )
                    }),
                    fileless_allow: filter::globset(&d.fileless_allow)?,
                    download_tools: filter::globset(&d.download_tools)?,
                    drops: Window::new(cap, window_ns),
                    connects: Window::new(cap, window_ns),
                })
                })
                .transpose()?;
        let shells = on("rg-reverse-shell")
            .then(|| -> Result<_, globset::Error> {
                Ok(ReverseShell {
                    rule: meta(
                        "rg-reverse-shell",
                        "Reverse shell",
                        "A shell or interpreter (detections.reverse_shell_programs) whose \
                         stdin and stdout or stderr are an internet socket, seen in the kernel \
                         at exec and after a dup onto fd 0..2 (critical); or a shell started \
                         with a /dev/tcp or /dev/udp redirection in its command line (medium).",
                        Severity::Critical,
                        &["Execution", "Command and Control"],
                        &[("T1059.004", "Command and Scripting Interpreter: Unix Shell")],
                    ),
                    programs: filter::globset(&d.reverse_shell_programs)?,
                    alerted: Window::new(cap, window_ns),
                })
            })
            .transpose()?;
        Ok(Correlator {
            webshell,
            units,
            drops,
            shells,
            evicted_before: 0,
        })
    }

    /// Ids of the enabled scenarios.
    pub fn enabled(&self) -> impl Iterator<Item = &str> {
        let drop = self.drops.as_ref();
        self.webshell
            .as_ref()
            .map(|w| w.rule.id.as_str())
            .into_iter()
            .chain(self.units.as_ref().map(|u| u.rule.id.as_str()))
            .chain(drop.and_then(|d| d.rule.as_ref()).map(|r| r.id.as_str()))
            .chain(
                drop.and_then(|d| d.fileless.as_ref())
                    .map(|r| r.id.as_str()),
            )
            .chain(self.shells.as_ref().map(|s| s.rule.id.as_str()))
    }

    /// What `ev` completes, appended to `out`.
    pub fn observe(&mut self, ev: &Event, out: &mut Vec<Finding>) {
        if let Some(w) = &self.webshell {
            w.observe(ev, out);
        }
        if let Some(u) = &mut self.units {
            u.observe(ev, out);
        }
        if let Some(d) = &mut self.drops {
            d.observe(ev, out);
        }
        if let Some(s) = &mut self.shells {
            s.observe(ev, out);
        }
    }

    /// Entries held now, over every window.
    pub fn state_size(&self) -> usize {
        self.units.as_ref().map_or(0, |u| u.written.len())
            + self
                .drops
                .as_ref()
                .map_or(0, |d| d.drops.len() + d.connects.len())
            + self.shells.as_ref().map_or(0, |s| s.alerted.len())
    }

    /// Take over the state of `old`, the correlator of the configuration
    /// this one replaces (a `[detections]` reload): a write or connect seen
    /// before the reload still completes a scenario after it. Windows of
    /// scenarios on in both are carried over under the new size and
    /// length; state of a scenario turned off goes. The eviction count
    /// carries over whole; `old` is left without state.
    pub fn take_state(&mut self, old: &mut Correlator) {
        self.evicted_before = old.evictions();
        if let (Some(new), Some(old)) = (&mut self.units, old.units.take()) {
            new.written.adopt(old.written);
        }
        // Drops and connects are only kept while rg-drop-exec is on (the
        // fileless check alone needs no state).
        if let (Some(new), Some(old)) = (&mut self.drops, old.drops.take())
            && new.rule.is_some()
            && old.rule.is_some()
        {
            new.drops.adopt(old.drops);
            new.connects.adopt(old.connects);
        }
        if let (Some(new), Some(old)) = (&mut self.shells, old.shells.take()) {
            new.alerted.adopt(old.alerted);
        }
    }

    /// Entries pushed out before their window was over, since start
    /// (across reloads).
    pub fn evictions(&self) -> u64 {
        self.evicted_before
            + self.units.as_ref().map_or(0, |u| u.written.evicted())
            + self
                .drops
                .as_ref()
                .map_or(0, |d| d.drops.evicted() + d.connects.evicted())
            + self.shells.as_ref().map_or(0, |s| s.alerted.evicted())
    }

    /// Expire what is older than the window at `now` (event time).
    pub fn expire(&mut self, now: u64) {
        if let Some(u) = &mut self.units {
            u.written.expire(now);
        }
        if let Some(d) = &mut self.drops {
            d.drops.expire(now);
            d.connects.expire(now);
        }
        if let Some(s) = &mut self.shells {
            s.alerted.expire(now);
        }
    }
}

#[cfg(test)]
mod tests;
