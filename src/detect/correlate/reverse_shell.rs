//! `rg-reverse-shell`: a shell or interpreter whose stdio is an internet
//! socket, or a shell started with a `/dev/tcp/` or `/dev/udp/`
//! redirection in its command line.

use std::sync::Arc;

use globset::GlobSet;

use super::{Finding, Window, at_severity, exe_name_of, meta, name_of};
use crate::config;
use crate::detect::filter;
use crate::model::alert::{Evidence, RuleMeta, Severity};
use crate::model::event::{Body, Event, NetOp};

/// Bash's network redirections: `<>/dev/tcp/host/port` and the like...
const NET_REDIRECTS: &[&str] = &["/dev/tcp/", "/dev/udp/"];
/// ...and the shells that implement them (or may be bash under another
/// name): a script of another language that merely mentions the path is
/// not a redirection.
const NET_REDIRECT_SHELLS: &[&str] = &["sh", "bash", "ksh", "zsh", "mksh", "ash", "busybox"];

pub(super) struct ReverseShell {
    /// Critical: the socket is on stdio. The command-line case is medium.
    pub(super) rule: Arc<RuleMeta>,
    programs: GlobSet,
    /// What has been alerted on: one alert per connection, not per process
    /// (`bash -i >& /dev/tcp/..` shows its socket at the dup, again at the
    /// exec, and in every subshell it starts), one per process for a
    /// command line.
    pub(super) alerted: Window<ShellKey, ()>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum ShellKey {
    /// The socket's inode number.
    Socket(u64),
    /// (pid, start) of a process with a network redirection.
    CommandLine(u32, u64),
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
                 at exec and after a dup onto fd 0..2 (critical); or a shell started \
                 with a /dev/tcp or /dev/udp redirection in its command line (medium).",
                Severity::Critical,
                &["Execution", "Command and Control"],
                &[("T1059.004", "Command and Scripting Interpreter: Unix Shell")],
            ),
            programs: filter::globset(&d.reverse_shell_programs)?,
            alerted: Window::new(cap, window_ns),
        })
    }

    pub(super) fn observe(&mut self, ev: &Event, out: &mut Vec<Finding>) {
        let Some(p) = ev.process.as_deref() else {
            return;
        };
        let (key, severity, why, message) = match &ev.body {
            Body::Net(n) if n.op == NetOp::StdioSocket => {
                let Some(stdio) = n.stdio else {
                    return;
                };
                // By the name as run or by the file the kernel ran
                // (symlinks resolved): a symlink to python3 is python3. A
                // hard link or a copy under another name is not (the
                // kernel's path is the link's; docs/detections.md).
                if !self.programs.is_match(name_of(p)) && !self.programs.is_match(exe_name_of(p)) {
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
                    "an internet socket is on the stdin and stdout or stderr of a program on \
                     detections.reverse_shell_programs",
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
        });
    }
}
