//! `rg-reverse-shell`: a shell or interpreter whose stdio is an internet
//! socket, a shell started with a `/dev/tcp/` or `/dev/udp/` redirection
//! in its command line, or a shell wired to a network relay: started by
//! `socat … EXEC:`/`SYSTEM:` or `ncat -e`/`--sh-exec`, or reading its
//! stdin in one pipeline with `nc`/`ncat`/`socat`/`telnet`/`openssl`
//! (the `mkfifo` + `nc` pattern).

use std::sync::Arc;

use globset::GlobSet;

use super::drop_exec::{Script, script_of};
use super::relay::Relays;
use super::{Finding, Window, at_severity, exe_name_of, meta, name_of};
use crate::config;
use crate::detect::filter;
use crate::detect::identity::{PROGRAM_DIRS, SystemCopies};
use crate::model::alert::{Evidence, RuleMeta, Severity};
use crate::model::event::{Body, Event, NetOp};
use crate::model::hash;
use crate::model::proctable::Process;

/// Bash's network redirections: `<>/dev/tcp/host/port` and the like...
const NET_REDIRECTS: &[&str] = &["/dev/tcp/", "/dev/udp/"];
/// ...and the shells that implement them (or may be bash under another
/// name): a script of another language that merely mentions the path is
/// not a redirection.
const NET_REDIRECT_SHELLS: &[&str] = &["sh", "bash", "ksh", "zsh", "mksh", "ash", "busybox"];

/// Network relays, by executed file name: they hold the socket and copy
/// between it and a shell's pipes.
const RELAYS: &[&str] = &[
    "nc",
    "nc.traditional",
    "nc.openbsd",
    "netcat",
    "ncat",
    "socat",
    "telnet",
    "openssl",
];

/// A relay's arguments that run a program on the connection.
fn relay_runs_program(relay: &str, args: &[String]) -> bool {
    args.iter().skip(1).any(|a| {
        let upper = a.to_ascii_uppercase();
        match relay {
            "socat" => upper.starts_with("EXEC:") || upper.starts_with("SYSTEM:"),
            _ => ["-e", "-c", "--exec", "--sh-exec", "--lua-exec"].contains(&a.as_str()),
        }
    })
}

/// A shell and a relay started by one parent this close together are
/// one pipeline (a shell forks the commands of a pipeline back to back).
const PIPELINE_NS: u64 = 2_000_000_000;

/// One side of a possible relay pipeline, by the parent that started it.
#[derive(Clone)]
pub(super) struct Side {
    relay: bool,
    evidence: Evidence,
}

pub(super) struct ReverseShell {
    /// Critical: the socket is on stdio. The command-line case is medium.
    pub(super) rule: Arc<RuleMeta>,
    programs: GlobSet,
    /// The system's own copies of `programs`: a hard link or a copy of
    /// one under another name is that program.
    pub(super) copies: SystemCopies,
    /// How long to wait for the hash of a file no name or inode
    /// recognized (`[hash] alert_wait_ms`; zero when nothing hashes).
    pub(super) hash_wait: std::time::Duration,
    /// What has been alerted on: one alert per connection, not per process
    /// (`bash -i >& /dev/tcp/..` shows its socket at the dup, again at the
    /// exec, and in every subshell it starts), one per process for a
    /// command line.
    pub(super) alerted: Window<ShellKey, ()>,
    /// (parent pid, start) → the latest shell reading its stdin, or relay,
    /// it started: the other side completes a relay pipeline.
    pub(super) pipelines: Window<(u32, u64), Side>,
    /// The kernel's relay evidence (relay.rs).
    pub(super) relays: Relays,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum ShellKey {
    /// The socket's inode number.
    Socket(u64),
    /// (pid, start) of a process with a network redirection.
    CommandLine(u32, u64),
    /// The shell pid of a relay: one alert per shell, whichever evidence
    /// (the kernel's, or the relay's name) completes it first.
    Relay(u32),
}

impl ReverseShell {
    pub(super) fn new(
        d: &config::Detections,
        cap: usize,
        window_ns: u64,
    ) -> Result<Self, globset::Error> {
        Ok(ReverseShell {
            rule: meta(
                "rg-reverse-shell",
                "Reverse shell",
                "A shell or interpreter (detections.reverse_shell_programs) whose \
                 stdin and stdout or stderr are an internet socket, seen in the kernel \
                 at exec and after a dup onto fd 0..2 (critical); a shell started by a \
                 network relay told to run it (socat EXEC:/SYSTEM:, ncat -e) or reading \
                 its stdin in one pipeline with a relay (mkfifo + nc) (high); or a shell \
                 started with a /dev/tcp or /dev/udp redirection in its command line \
                 (medium).",
                Severity::Critical,
                &["Execution", "Command and Control"],
                &[("T1059.004", "Command and Scripting Interpreter: Unix Shell")],
            ),
            programs: filter::globset(&d.reverse_shell_programs)?,
            copies: SystemCopies::scan(&filter::globset(&d.reverse_shell_programs)?, PROGRAM_DIRS),
            hash_wait: std::time::Duration::ZERO,
            alerted: Window::new(cap, window_ns),
            pipelines: Window::new(cap, window_ns),
            relays: Relays::new(cap, window_ns),
        })
    }

    pub(super) fn observe(&mut self, ev: &Event, out: &mut Vec<Finding>) {
        if let Some(r) = self.relays.observe(ev) {
            let now = ev.ktime_ns;
            let key = ShellKey::Relay(r.shell_pid);
            if self.alerted.get(now, &key).is_none() {
                self.alerted.insert(now, key, ());
                out.push(Finding {
                    rule: at_severity(&self.rule, r.severity),
                    evidence: r.evidence,
                    message: r.message,
                    reasons: vec![r.reason],
                    package: None,
                    subject_hash: false,
                });
            }
            return;
        }
        let Some(p) = ev.process.as_deref() else {
            return;
        };
        let (key, severity, why, message) = match &ev.body {
            Body::Net(n) if n.op == NetOp::StdioSocket => {
                let Some(stdio) = n.stdio else {
                    return;
                };
                let Some(program) = self.program(p) else {
                    return;
                };
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
                    "an internet socket is on the stdin and stdout or stderr of a program on \
                     detections.reverse_shell_programs",
                    format!(
                        "{}{program} (pid {}) has fds {} on a socket to {peer} ({how}): an \
                         interactive shell over the network",
                        name_of(p),
                        ev.pid,
                        fds.join(", ")
                    ),
                )
            }
            Body::Exec(x) if self.relayed(ev, x, p, out) => return,
            Body::Exec(x) => {
                if !NET_REDIRECT_SHELLS.contains(&name_of(p))
                    && !NET_REDIRECT_SHELLS.contains(&exe_name_of(p))
                {
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
                    "a shell's command line names /dev/tcp or /dev/udp: a connection may \
                     follow, none is seen on its stdio yet",
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
            reasons: vec![why.to_string()],
            package: None,
            subject_hash: false,
        });
    }

    /// What makes `p` one of the programs: "" when its name as run or
    /// the name of the file the kernel ran (symlinks resolved) is on the
    /// list; " (a hard link to python3.11)" or " (a copy of bash)" when its
    /// inode or its content is a system copy's. None: not one.
    fn program(&mut self, p: &Process) -> Option<String> {
        if self.programs.is_match(name_of(p)) || self.programs.is_match(exe_name_of(p)) {
            return Some(String::new());
        }
        let img = &p.image;
        // The hash only when the inode says nothing: the hasher may still
        // be reading the file (a copy just made is not in its cache).
        let by_inode = img.file.as_ref().and_then(|id| self.copies.by_inode(id));
        if let Some(name) = by_inode {
            return Some(format!(" (a hard link to {name})"));
        }
        // A copy has its original's size: of any other size, no hash to
        // wait for.
        if !img.file.is_some_and(|id| self.copies.has_size(id.size)) {
            return None;
        }
        let h = *hash::wait(img, self.hash_wait)?;
        self.copies
            .identify(img, Some(&h))
            .map(|(name, how)| format!(" ({} {name})", how.as_str()))
    }

    /// Whether `p`'s exec (a shell, or a relay) completes a relay: a
    /// shell whose parent is a relay told to run a program, or a shell
    /// reading its stdin and a relay started by one parent within
    /// [`PIPELINE_NS`] of each other, in either order. Raises it (high)
    /// once per shell.
    fn relayed(
        &mut self,
        ev: &Event,
        x: &crate::model::event::ExecBody,
        p: &crate::model::proctable::Process,
        out: &mut Vec<Finding>,
    ) -> bool {
        let name = exe_name_of(p);
        let relay = RELAYS.contains(&name);
        let shell = !relay && NET_REDIRECT_SHELLS.contains(&name) || name == "dash";
        if !relay && !shell {
            return false;
        }
        let now = ev.ktime_ns;
        let args = &x.image.args;
        let reads_stdin = shell
            && (script_of(args, true) == Script::Stdin || args.iter().skip(1).any(|a| a == "-i"));
        // The parent told to run it: socat EXEC:sh, ncat -e /bin/sh.
        let by_relay = shell
            && p.parent.as_deref().is_some_and(|q| {
                let relay = exe_name_of(q);
                RELAYS.contains(&relay) && relay_runs_program(relay, &q.image.args)
            });
        let (other, why) = if by_relay {
            let q = p.parent.as_deref().expect("checked");
            (
                Evidence::of_process(q),
                format!(
                    "started by the network relay {} told to run a program: {}",
                    q.image.exe,
                    q.image.args.join(" ")
                ),
            )
        } else if relay || reads_stdin {
            let key = (x.ppid, x.parent_start_ns);
            let mine = Side {
                relay,
                evidence: Evidence::of(ev),
            };
            let matched = self.pipelines.get(now, &key).filter(|o| {
                o.relay != relay && ev.time_ns.abs_diff(o.evidence.time_ns) <= PIPELINE_NS
            });
            let Some(o) = matched.cloned() else {
                self.pipelines.insert(now, key, mine);
                return false;
            };
            self.pipelines.remove(&key);
            let (shell_ev, relay_ev) = if relay {
                (o.evidence, mine.evidence)
            } else {
                (mine.evidence, o.evidence)
            };
            let relay_exe = relay_ev.executable.clone().unwrap_or_default();
            let why = format!(
                "a shell reading its standard input and the network relay {relay_exe} started \
                 by pid {} within {} s of each other: one pipeline",
                x.ppid,
                PIPELINE_NS / 1_000_000_000
            );
            if relay {
                // The shell is the subject; the relay's exec completes it.
                let shell_pid = shell_ev.pid;
                return self.raise(now, shell_pid, vec![shell_ev, relay_ev], why, out);
            }
            (relay_ev, why)
        } else {
            return false;
        };
        self.raise(now, p.pid, vec![other, Evidence::of(ev)], why, out)
    }

    fn raise(
        &mut self,
        now: u64,
        shell_pid: u32,
        evidence: Vec<Evidence>,
        why: String,
        out: &mut Vec<Finding>,
    ) -> bool {
        let key = ShellKey::Relay(shell_pid);
        if self.alerted.get(now, &key).is_some() {
            return true;
        }
        self.alerted.insert(now, key, ());
        out.push(Finding {
            rule: at_severity(&self.rule, Severity::High),
            message: format!("shell pid {shell_pid} is wired to a network relay: {why}"),
            evidence,
            reasons: vec![why],
            package: None,
            subject_hash: false,
        });
        true
    }
}
