//! The fast path (`[kernel] hooks`) of the file and stdio families: which
//! of their syscalls are hooked by an fexit program on their own function
//! rather than by their exit tracepoint, decided hook by hook.
//!
//! Why per hook: a kernel may lack one syscall's function (fchmodat2
//! before 6.6) or refuse one trampoline and not the others. Under
//! `"auto"` such a syscall keeps its tracepoint, and the reason is kept
//! for the start-up warning; under `"fentry"` a required one ends
//! start-up with that reason.

use libbpf_rs::btf::{Btf, types::Func};

use crate::config::HookPath;
use crate::kernel::hooks::SYSCALL_FN_PREFIX;
use crate::kernel::{Attach, Family, HOOKS, KernelError, Refusal};

/// The fast path's state during a load.
#[derive(Debug, Default)]
pub(super) struct FilePaths {
    /// Syscalls whose fexit program is loaded (and attached, once
    /// `attach_hooks` is through).
    pub fast: Vec<&'static str>,
    /// Syscalls that fell back to the tracepoint, each with the reason.
    pub fallbacks: Vec<(&'static str, String)>,
    /// Fast hooks skipped under `"fentry"`: optional, and not in this
    /// kernel.
    pub skipped: Vec<(String, String)>,
}

/// The syscall an fexit program hooks, from its name.
pub(super) fn fast_syscall(program: &str) -> Option<&'static str> {
    HOOKS.iter().find_map(|h| match h.attach {
        Attach::SyscallFexit { name, .. } if h.program == program => Some(name),
        _ => None,
    })
}

/// The kernel function an fexit program is bound to.
pub(super) fn target(syscall: &str) -> String {
    format!("{SYSCALL_FN_PREFIX}{syscall}")
}

fn hook_name(syscall: &str) -> String {
    let program = HOOKS
        .iter()
        .find(|h| matches!(h.attach, Attach::SyscallFexit { name, .. } if name == syscall))
        .map_or("?", |h| h.program);
    format!("fexit on {} ({program})", target(syscall))
}

/// The tracepoint program a fast syscall falls back to.
pub(super) fn tracepoint_twin(syscall: &str) -> Option<&'static str> {
    HOOKS.iter().find_map(|h| match h.attach {
        Attach::SyscallExit { name, .. } if name == syscall => Some(h.program),
        _ => None,
    })
}

/// The families with a fast path.
pub(super) fn has_fast_path(family: Family) -> bool {
    matches!(family, Family::File | Family::Stdio)
}

/// A forced fast path the kernel cannot give: the hook and the reason.
pub(super) fn forced(syscall: &str, reason: impl std::fmt::Display) -> KernelError {
    KernelError::FastPath {
        hook: hook_name(syscall),
        reason: reason.to_string(),
    }
}

impl FilePaths {
    /// Before loading: the syscalls of the loaded families whose function
    /// the kernel's BTF has (an fexit program is bound to a BTF function).
    /// Nothing is fast with `hooks = "tracepoint"`.
    pub fn probe(loads: impl Fn(Family) -> bool, hooks: HookPath) -> Result<Self, KernelError> {
        let mut paths = FilePaths::default();
        if hooks == HookPath::Tracepoint {
            return Ok(paths);
        }
        let btf = Btf::from_vmlinux();
        for h in HOOKS.iter().filter(|h| loads(h.family)) {
            let Attach::SyscallFexit { name, .. } = h.attach else {
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
                (Some(why), HookPath::Fentry) => paths.skipped.push((hook_name(name), why)),
                (Some(why), _) => paths.fallbacks.push((name, why)),
            }
        }
        Ok(paths)
    }

    /// A load failure of a fast program under `"auto"`: that syscall goes
    /// back to its tracepoint, and, when the kernel refuses the program
    /// type itself (no privilege for trampolines here), every other fast
    /// syscall too, in one round rather than one reload per program.
    /// Any other failure is returned as it is; under `"fentry"`, a fast
    /// program's failure ends start-up naming its hook.
    pub fn refused(&mut self, e: KernelError, hooks: HookPath) -> Result<(), KernelError> {
        let KernelError::Load { program, .. } = &e else {
            return Err(e);
        };
        let Some(syscall) = fast_syscall(program).filter(|s| self.fast.contains(s)) else {
            return Err(e);
        };
        let reason = format!("the kernel refused {program}: {}", strip_program(&e));
        if hooks == HookPath::Fentry {
            return Err(forced(syscall, reason));
        }
        let all = e.refusal() == Refusal::Privilege;
        let (back, keep): (Vec<_>, Vec<_>) = self.fast.iter().partition(|s| all || **s == syscall);
        self.fast = keep;
        self.fallbacks
            .extend(back.into_iter().map(|s| (s, reason.clone())));
        Ok(())
    }

    /// An fexit attach failure under `"auto"`: that syscall goes back to
    /// its tracepoint.
    pub fn attach_failed(&mut self, syscall: &'static str, reason: String) {
        self.fast.retain(|s| *s != syscall);
        self.fallbacks.push((syscall, reason));
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
        let mut p = FilePaths {
            fast: vec!["openat", "unlinkat", "fchmod"],
            ..FilePaths::default()
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
        let mut p = FilePaths {
            fast: vec!["openat"],
            ..FilePaths::default()
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
