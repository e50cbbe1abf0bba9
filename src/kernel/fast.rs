//! The fast path (`[kernel] hooks`) of the file, stdio, network and DNS
//! families: which of their hooks are an fexit program on a kernel
//! function (the syscall's own, or for DNS the UDP send functions) rather
//! than the syscall's exit tracepoint, decided hook by hook.
//!
//! Why per hook: a kernel may lack one syscall's function (fchmodat2
//! before 6.6) or refuse one trampoline and not the others. Under
//! `"auto"` such a hook keeps its tracepoint, and the reason is kept for
//! the start-up warning; under `"fentry"` a required one ends start-up
//! with that reason.

use libbpf_rs::btf::{Btf, types::Func};

use crate::config::HookPath;
use crate::kernel::hooks::{SYSCALL_FN_PREFIX, fast_name};
use crate::kernel::{Attach, Family, HOOKS, Hook, KernelError, Refusal};

/// The fast path's state during a load. A fast hook is named by
/// [`fast_name`]: its syscall, or its kernel function.
#[derive(Debug, Default)]
pub(super) struct FastPaths {
    /// Fast hooks whose fexit program is loaded (and attached, once
    /// `attach_hooks` is through).
    pub fast: Vec<&'static str>,
    /// Fast hooks that fell back to the tracepoints, each with the reason.
    pub fallbacks: Vec<(&'static str, String)>,
    /// Fast hooks skipped under `"fentry"`: optional, and not in this
    /// kernel.
    pub skipped: Vec<(&'static str, String)>,
}

fn fast_hook(name: &str) -> Option<&'static Hook> {
    HOOKS.iter().find(|h| fast_name(h.attach) == Some(name))
}

/// The fast hook an fexit program is, from the program's name.
pub(super) fn fast_hook_of(program: &str) -> Option<&'static str> {
    HOOKS
        .iter()
        .filter(|h| h.program == program)
        .find_map(|h| fast_name(h.attach))
}

/// The kernel function a fast hook's program is bound to.
pub(super) fn target(name: &str) -> String {
    match fast_hook(name).map(|h| h.attach) {
        Some(Attach::KernelFexit { function, .. }) => function.to_string(),
        _ => format!("{SYSCALL_FN_PREFIX}{name}"),
    }
}

fn hook_name(name: &str) -> String {
    let program = fast_hook(name).map_or("?", |h| h.program);
    format!("fexit on {} ({program})", target(name))
}

/// The syscalls whose exit tracepoints a fast hook stands for.
fn covers(name: &str) -> &'static [&'static str] {
    match fast_hook(name).map(|h| &h.attach) {
        Some(Attach::KernelFexit { covers, .. }) => covers,
        Some(Attach::SyscallFexit { name, .. }) => std::slice::from_ref(name),
        _ => &[],
    }
}

/// The families with a fast path.
pub(super) fn has_fast_path(family: Family) -> bool {
    matches!(
        family,
        Family::File | Family::Stdio | Family::Network | Family::Dns
    )
}

/// A forced fast path the kernel cannot give: the hook and the reason.
pub(super) fn forced(name: &str, reason: impl std::fmt::Display) -> KernelError {
    KernelError::FastPath {
        hook: hook_name(name),
        reason: reason.to_string(),
    }
}

impl FastPaths {
    /// Before loading: the fast hooks that will be attached (`attaches`)
    /// whose function the kernel's BTF has (an fexit program is bound to a
    /// BTF function). Nothing is fast with `hooks = "tracepoint"`.
    pub fn probe(attaches: impl Fn(&Hook) -> bool, hooks: HookPath) -> Result<Self, KernelError> {
        let mut paths = FastPaths::default();
        if hooks == HookPath::Tracepoint {
            return Ok(paths);
        }
        let btf = Btf::from_vmlinux();
        for h in HOOKS.iter().filter(|h| attaches(h)) {
            let Some(name) = fast_name(h.attach) else {
                continue;
            };
            let missing = match &btf {
                Ok(btf) if btf.type_by_name::<Func>(&target(name)).is_some() => None,
                Ok(_) => Some(format!("the kernel has no function {}", target(name))),
                Err(e) => Some(format!("the kernel's BTF cannot be read: {e}")),
            };
            match (missing, hooks) {
                (None, _) => paths.fast.push(name),
                (Some(why), HookPath::Fentry) if h.required => return Err(forced(name, why)),
                (Some(why), HookPath::Fentry) => paths.skipped.push((name, why)),
                (Some(why), _) => paths.fallbacks.push((name, why)),
            }
        }
        // A group fast only whole: udp_sendmsg without udpv6_sendmsg
        // would leave IPv6 queries to no hook.
        for (name, why) in paths.fallbacks.clone() {
            paths.fall_back(name, &why);
        }
        Ok(paths)
    }

    /// Forget the fast hooks whose syscalls are all `absent` (not in this
    /// kernel): neither path hooks them, so there is no fallback or skip
    /// to report, only the syscalls' absence (`Kernel::absent`).
    pub fn forget(&mut self, absent: &[&str]) {
        let gone = |name: &str| {
            let c = covers(name);
            !c.is_empty() && c.iter().all(|s| absent.contains(s))
        };
        self.fallbacks.retain(|(n, _)| !gone(n));
        self.skipped.retain(|(n, _)| !gone(n));
    }

    /// The skipped hooks as the start-up warning names them.
    pub fn skipped_hooks(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.skipped
            .iter()
            .map(|(n, why)| (hook_name(n), why.clone()))
    }

    /// Whether a syscall's exit tracepoint is stood for by a fast hook.
    pub fn covered(&self, syscall: &str) -> bool {
        self.fast.iter().any(|n| covers(n).contains(&syscall))
    }

    /// A fast hook goes back to the tracepoints, and with it every fast
    /// hook covering one of the same syscalls, for the reason `why`.
    fn fall_back(&mut self, name: &'static str, why: &str) {
        let group = covers(name);
        let (back, keep): (Vec<_>, Vec<_>) = self
            .fast
            .iter()
            .partition(|n| **n == name || covers(n).iter().any(|s| group.contains(s)));
        self.fast = keep;
        self.fallbacks.extend(back.into_iter().map(|n| {
            let reason = if n == name {
                why.to_string()
            } else {
                format!("with {}: {why}", target(name))
            };
            (n, reason)
        }));
    }

    /// A load failure of a fast program under `"auto"`: that hook (and its
    /// group) goes back to the tracepoints, and, when the kernel refuses
    /// the program type itself (no privilege for trampolines here), every
    /// other fast hook too, in one round rather than one reload per
    /// program. Any other failure is returned as it is; under
    /// `"fentry"`, a fast program's failure ends start-up naming its hook.
    pub fn refused(&mut self, e: KernelError, hooks: HookPath) -> Result<(), KernelError> {
        let KernelError::Load { program, .. } = &e else {
            return Err(e);
        };
        let Some(name) = fast_hook_of(program).filter(|s| self.fast.contains(s)) else {
            return Err(e);
        };
        let reason = format!("the kernel refused {program}: {}", strip_program(&e));
        if hooks == HookPath::Fentry {
            return Err(forced(name, reason));
        }
        if e.refusal() == Refusal::Privilege {
            self.fallbacks
                .extend(self.fast.drain(..).map(|n| (n, reason.clone())));
        } else {
            self.fall_back(name, &reason);
        }
        Ok(())
    }

    /// An fexit attach failure under `"auto"`: that hook (and its group)
    /// goes back to the tracepoints.
    pub fn attach_failed(&mut self, name: &'static str, reason: String) {
        self.fall_back(name, &reason);
    }

    /// Whether the tracepoint programs of a family with a fast path are
    /// loaded: always under `"auto"` (a trampoline can still be refused
    /// at attach) and `"tracepoint"`, never under `"fentry"`.
    pub fn tracepoint_loaded(hooks: HookPath) -> bool {
        hooks != HookPath::Fentry
    }
}

/// "loading BPF program X failed: R..." without its first words: the
/// program is named once, by the caller.
fn strip_program(e: &KernelError) -> String {
    match e {
        KernelError::Load { reason, log, .. } => format!("{reason}{}", super::log_tail(log)),
        e => e.to_string(),
    }
}

/// The start-up line's and health record's view: the path each loaded
/// family's attached hooks use ("fentry", "tracepoint", "tp_btf", or
/// two of them joined by "+" when hooks of one family differ).
pub(super) fn family_paths(attached: &[(Family, &'static str)]) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for (family, path) in attached {
        let name = super::hooks::family_name(*family);
        match out.iter_mut().find(|(f, _)| *f == name) {
            Some((_, paths)) if !paths.contains(path) => paths.push(path),
            Some(_) => {}
            None => out.push((name, vec![path])),
        }
    }
    out.into_iter().map(|(f, p)| (f, p.join("+"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(program: &str, reason: &str) -> KernelError {
        KernelError::Load {
            program: program.into(),
            reason: reason.into(),
            log: Vec::new(),
        }
    }

    const EPERM: &str = "Operation not permitted (os error 1)";

    #[test]
    fn a_refused_trampoline_sends_its_syscalls_back_to_the_tracepoint() {
        let mut p = FastPaths {
            fast: vec!["openat", "unlinkat", "fchmod"],
            ..FastPaths::default()
        };
        // Not the program type: only that syscall falls back.
        p.refused(
            refusal("edr_fx_unlinkat", "Invalid argument (os error 22)"),
            HookPath::Auto,
        )
        .unwrap();
        assert_eq!(p.fast, ["openat", "fchmod"]);
        assert_eq!(
            p.fallbacks,
            [(
                "unlinkat",
                "the kernel refused edr_fx_unlinkat: Invalid argument (os error 22)".to_string()
            )]
        );
        // No privilege for trampolines: all of them, at once.
        p.refused(refusal("edr_fx_fchmod", EPERM), HookPath::Auto)
            .unwrap();
        assert!(p.fast.is_empty());
        assert_eq!(p.fallbacks.len(), 3);
        // Another program's failure is not the fast path's.
        let e = p
            .refused(refusal("edr_exec", EPERM), HookPath::Auto)
            .unwrap_err();
        assert!(matches!(e, KernelError::Load { .. }), "{e}");
    }

    #[test]
    fn a_forced_fast_path_names_the_hook_and_the_reason() {
        let mut p = FastPaths {
            fast: vec!["openat"],
            ..FastPaths::default()
        };
        let e = p
            .refused(refusal("edr_fx_openat", EPERM), HookPath::Fentry)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "[kernel] hooks = \"fentry\": fexit on {SYSCALL_FN_PREFIX}openat (edr_fx_openat) \
                 cannot be used: the kernel refused edr_fx_openat: {EPERM}"
            )
        );
        assert_eq!(p.fast, ["openat"]);
    }

    #[test]
    fn syscalls_the_kernel_lacks_are_neither_fallbacks_nor_skips() {
        let mut p = FastPaths {
            fast: vec!["openat"],
            fallbacks: vec![
                ("setxattrat", "the kernel has no function".into()),
                ("fchmodat2", "the kernel has no function".into()),
                ("udp_sendmsg", "no BTF".into()),
            ],
            skipped: vec![("removexattrat", "the kernel has no function".into())],
        };
        p.forget(&["setxattrat", "removexattrat", "sendto"]);
        // udp_sendmsg covers sendto and more: the rest are still there.
        assert_eq!(
            p.fallbacks,
            [
                ("fchmodat2", "the kernel has no function".to_string()),
                ("udp_sendmsg", "no BTF".to_string()),
            ]
        );
        assert!(p.skipped.is_empty());
        assert_eq!(p.fast, ["openat"]);
    }

    #[test]
    fn the_udp_send_hooks_fall_back_together() {
        let mut p = FastPaths {
            fast: vec!["connect", "udp_sendmsg", "udpv6_sendmsg", "sendmmsg"],
            ..FastPaths::default()
        };
        for syscall in ["connect", "sendto", "sendmsg", "write", "sendmmsg"] {
            assert!(p.covered(syscall), "{syscall}");
        }
        assert!(!p.covered("bind"));
        // IPv6 alone cannot attach: IPv4 must not stay on the fast path,
        // or write's tracepoint would report its queries again.
        p.attach_failed("udpv6_sendmsg", "attaching failed: EBUSY".into());
        assert_eq!(p.fast, ["connect", "sendmmsg"]);
        assert_eq!(
            p.fallbacks,
            [
                (
                    "udp_sendmsg",
                    "with udpv6_sendmsg: attaching failed: EBUSY".to_string()
                ),
                ("udpv6_sendmsg", "attaching failed: EBUSY".to_string()),
            ]
        );
        assert!(!p.covered("write") && p.covered("sendmmsg"));
        assert_eq!(
            forced("udp_sendmsg", "no BTF").to_string(),
            "[kernel] hooks = \"fentry\": fexit on udp_sendmsg (edr_dx_udp) cannot be used: no BTF"
        );
        assert_eq!(target("connect"), format!("{SYSCALL_FN_PREFIX}connect"));
    }

    #[test]
    fn families_name_their_paths() {
        use Family::*;
        let got = family_paths(&[
            (Process, "tp_btf"),
            (File, "fentry"),
            (File, "fentry"),
            (File, "tracepoint"),
            (Network, "tracepoint"),
        ]);
        assert_eq!(
            got,
            [
                ("process", "tp_btf".to_string()),
                ("file", "fentry+tracepoint".to_string()),
                ("network", "tracepoint".to_string()),
            ]
        );
    }
}
