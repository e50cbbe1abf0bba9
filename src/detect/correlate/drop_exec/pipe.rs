//! `curl … | sh` and its kin for rg-drop-exec: a shell reading its script
//! from a pipe that a download tool, a decoder or inline code feeds. The
//! two ends are two execs, paired by their parent (or, for a process
//! substitution, the shell itself) and by the pipe's inode.

use super::*;

/// One end of a possible `curl … | sh`.
pub(in crate::detect::correlate) struct PipeEnd {
    /// What feeds the pipe (a download tool, a decoder, inline code);
    /// `None`: the shell reading it.
    feed: Option<Feed>,
    /// The pipe's inode: the feeder's stdout, the shell's stdin (0: not
    /// known). Two known ones must be the same pipe.
    pipe: u64,
    /// The other key this same end waits under (a substitution's shell
    /// waits under its parent's and its own): gone with it once matched.
    twin: Option<(u32, u64)>,
    evidence: Evidence,
}

/// The pipe a standard fd is (its inode, 0 when it cannot be told), or
/// `None` when it is known to be no pipe (a terminal, a file, an internet
/// socket): such an end feeds no shell, and no shell reads one.
fn pipe_of(fd: &StdioFd) -> Option<u64> {
    match fd.kind {
        FdType::Pipe | FdType::Fifo => Some(fd.inode),
        FdType::Tty | FdType::File | FdType::Inet => None,
        FdType::Closed | FdType::Unix | FdType::Other => Some(0),
    }
}

/// The writing end of a pipe into a shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::detect::correlate) enum Feed {
    /// A download tool (`curl … | sh`): high.
    Download,
    /// A decoder of an encoding (`base64 -d`, `xxd -r`): the script was
    /// hidden, high.
    Decoder,
    /// A decompressor (`zcat x.gz | sh`) or an interpreter running code
    /// from its command line (`python3 -c 'print(…)' | sh`): a script
    /// made on the fly, medium.
    Generator,
}

impl Feed {
    fn severity(self) -> Severity {
        match self {
            Feed::Download | Feed::Decoder => Severity::High,
            Feed::Generator => Severity::Medium,
        }
    }

    /// What the feeding program is, for the reasons.
    fn what(self) -> &'static str {
        match self {
            Feed::Download => "a download tool (detections.download_tools)",
            Feed::Decoder => "a decoder",
            Feed::Generator => "a decompressor or an interpreter running inline code",
        }
    }

    /// What went into the shell, for the message.
    fn piped(self) -> &'static str {
        match self {
            Feed::Download => "a download piped into a shell",
            Feed::Decoder => "a decoded text piped into a shell",
            Feed::Generator => "a generated text piped into a shell",
        }
    }
}

/// Decoders of an encoding: what they output was hidden on purpose.
pub(super) const ENCODINGS: &[&str] = &["base64", "base32", "basenc", "xxd", "uudecode"];

/// Whether a shell's script operand is an inherited descriptor
/// (`bash /dev/fd/63`: a process substitution).
fn reads_fd(args: &[String]) -> bool {
    args.iter()
        .skip(1)
        .any(|a| a.starts_with("/dev/fd/") || a.starts_with("/proc/self/fd/"))
}

impl DropExec {
    /// One end of `curl … | sh`: the exec `ev` of a program feeding a pipe
    /// (`feed`: a download tool, a decoder, a generator) or of a shell
    /// reading its standard input (`None`). With the other end started by
    /// the same parent within [`PIPELINE_NS`], in either order (the
    /// children of a pipeline race to their execs), it is a script piped
    /// into a shell that was never a file: scored by what fed it
    /// ([`Feed::severity`]). Else this end waits for the other.
    pub(super) fn piped(
        &mut self,
        ev: &Event,
        x: &ExecBody,
        feed: Option<Feed>,
        out: &mut Vec<Finding>,
    ) {
        let now = ev.ktime_ns;
        let parent = (x.ppid, x.parent_start_ns);
        // `bash <(curl …)` as a command's last word (`bash -c`, a script's
        // last line): the shell that forks curl for the substitution then
        // becomes `bash /dev/fd/63` itself, so curl is its child, not its
        // sibling. Such a shell is an end for its own children too.
        let substitution = feed.is_none() && reads_fd(&x.image.args);
        let own = substitution.then_some((ev.pid, x.start_ns));
        // The feeder's stdout, the shell's stdin (a substitution's shell
        // reads another fd: its stdin says nothing).
        let pipe = match (feed, substitution) {
            (Some(_), _) => pipe_of(&x.stdio.fds[1]),
            (None, false) => pipe_of(&x.stdio.fds[0]),
            (None, true) => Some(0),
        };
        let Some(pipe) = pipe else {
            return;
        };
        let other_end = |pipes: &Window<(u32, u64), PipeEnd>, k: &(u32, u64)| {
            pipes.get(now, k).is_some_and(|o| {
                o.feed.is_some() != feed.is_some()
                    && (o.pipe == 0 || pipe == 0 || o.pipe == pipe)
                    && ev.time_ns.abs_diff(o.evidence.time_ns) <= PIPELINE_NS
            })
        };
        let key = [Some(parent), own]
            .into_iter()
            .flatten()
            .find(|k| other_end(&self.pipes, k));
        let mine = Evidence::of(ev);
        let (Some(rule), Some(other)) =
            (self.rule.clone(), key.and_then(|k| self.pipes.remove(&k)))
        else {
            for (k, twin) in [(Some(parent), own), (own, Some(parent))] {
                if let Some(k) = k {
                    self.pipes.insert(
                        now,
                        k,
                        PipeEnd {
                            feed,
                            pipe,
                            twin: twin.filter(|_| own.is_some()),
                            evidence: mine.clone(),
                        },
                    );
                }
            }
            return;
        };
        // This end was never stored; the one it matched may also wait
        // under a twin key, which must not pair again.
        if let Some(t) = other.twin
            && self
                .pipes
                .get(now, &t)
                .is_some_and(|o| o.evidence.pid == other.evidence.pid)
        {
            self.pipes.remove(&t);
        }
        let (fed, dl, shell) = match feed {
            Some(f) => (f, mine, other.evidence),
            None => (other.feed.unwrap_or(Feed::Download), other.evidence, mine),
        };
        let name = |e: &Evidence, what: &str| e.executable.clone().unwrap_or_else(|| what.into());
        let (tool, sh) = (name(&dl, "a program"), name(&shell, "a shell"));
        let evidence = if dl.time_ns <= shell.time_ns {
            vec![dl.clone(), shell.clone()]
        } else {
            vec![shell.clone(), dl.clone()]
        };
        // The substitution's case: the tool is the shell's own child.
        let child = if feed.is_some() {
            shell.pid == x.ppid
        } else {
            key == own
        };
        let what = fed.what();
        let (how, whence) = if child {
            (
                format!("fed by its own child {tool} (pid {})", dl.pid),
                format!("{tool}, {what}, started by {sh} (pid {})", shell.pid),
            )
        } else {
            (
                format!("started with {tool} (pid {}) by the same parent", dl.pid),
                format!("{tool}, {what}, and {sh} started by pid {}", x.ppid),
            )
        };
        out.push(Finding {
            rule: at_severity(&rule, fed.severity()),
            message: format!(
                "{sh} (pid {}) reads its script from its standard input, {how}: {}",
                shell.pid,
                fed.piped()
            ),
            reasons: vec![
                format!(
                    "{whence} within {} s of each other, the shell with no script of its own",
                    PIPELINE_NS / 1_000_000_000
                ),
                "the script was never a file: not in a temporary directory".into(),
            ],
            evidence,
            package: None,
            subject_hash: false,
        });
    }
}
