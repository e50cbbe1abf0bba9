//! The program and hook table: which program attaches where, in which
//! family, and whether start-up may go on without it.

use crate::config::NetHook;

/// Program families; a disabled family's programs are not even loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Process,
    File,
    /// connect, bind, listen, accept (which of them: `LoadOptions::net_hooks`).
    Network,
    /// DNS queries: sendto, sendmsg, sendmmsg, write (on the fast path:
    /// udp_sendmsg, udpv6_sendmsg, and sendmmsg's own function).
    Dns,
    /// dup, dup2, dup3 onto fd 0..2 (the exec side is in `edr_exec`).
    Stdio,
    /// Signals sent to the agent (tp_btf/signal_generate).
    Signal,
}

/// Where a program attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    /// The program's own section names its attach point (tp_btf).
    Auto,
    /// The exit tracepoint of a syscall (syscalls/sys_exit_<name>); `id`
    /// is the EDR_SYS_* value the program dispatches on.
    SyscallExit { name: &'static str, id: u16 },
    /// The fast path: fexit on the syscall's own function
    /// ([`SYSCALL_FN_PREFIX`]`name`), instead of `syscalls/sys_exit_<name>`.
    /// The program is bound to it at load; `id` is its EDR_SYS_* value.
    SyscallFexit { name: &'static str, id: u16 },
    /// The fast path on a kernel function that is not a syscall's own
    /// (udp_sendmsg): it stands for the exit tracepoints of the syscalls
    /// in `covers`, which it replaces together with every other
    /// `KernelFexit` covering them (one falls back, all do: the
    /// tracepoints would see what the others report).
    KernelFexit {
        function: &'static str,
        covers: &'static [&'static str],
    },
}

/// The prefix of a syscall's function on this architecture
/// (`SYSCALL_DEFINE` wrappers taking the saved `struct pt_regs`).
#[cfg(target_arch = "x86_64")]
pub const SYSCALL_FN_PREFIX: &str = "__x64_sys_";
#[cfg(target_arch = "aarch64")]
pub const SYSCALL_FN_PREFIX: &str = "__arm64_sys_";
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub const SYSCALL_FN_PREFIX: &str = "__se_sys_";

/// How a hook reaches the kernel, as the start-up line and the health
/// record (`hook_paths`) name it.
pub fn path_name(attach: Attach) -> &'static str {
    match attach {
        Attach::Auto => "tp_btf",
        Attach::SyscallExit { .. } => "tracepoint",
        Attach::SyscallFexit { .. } | Attach::KernelFexit { .. } => "fentry",
    }
}

/// The name a fast hook goes by in `fast::FastPaths` (the syscall, or the
/// kernel function); None for the other hooks.
pub fn fast_name(attach: Attach) -> Option<&'static str> {
    match attach {
        Attach::SyscallFexit { name, .. } => Some(name),
        Attach::KernelFexit { function, .. } => Some(function),
        Attach::Auto | Attach::SyscallExit { .. } => None,
    }
}

pub fn family_name(family: Family) -> &'static str {
    match family {
        Family::Process => "process",
        Family::File => "file",
        Family::Network => "network",
        Family::Dns => "dns",
        Family::Stdio => "stdio",
        Family::Signal => "signal",
    }
}

/// One attach point: a program and where it hooks.
#[derive(Debug)]
pub struct Hook {
    pub program: &'static str,
    pub family: Family,
    pub attach: Attach,
    /// Required hooks end start-up when they fail; optional ones are
    /// skipped with a warning (the syscall does not exist on every kernel
    /// or architecture). A program whose hooks are all optional is
    /// optional at load too: when the kernel refuses it, it is left out
    /// with a warning and the rest loads (`load::load_programs`).
    pub required: bool,
}

const fn process(program: &'static str) -> Hook {
    Hook {
        program,
        family: Family::Process,
        attach: Attach::Auto,
        required: true,
    }
}

const fn net(program: &'static str, family: Family, name: &'static str, id: u16) -> Hook {
    Hook {
        program,
        family,
        attach: Attach::SyscallExit { name, id },
        required: true,
    }
}

const fn stdio(program: &'static str, name: &'static str, id: u16, required: bool) -> Hook {
    Hook {
        program,
        family: Family::Stdio,
        attach: Attach::SyscallExit { name, id },
        required,
    }
}

const fn file(name: &'static str, id: u16, required: bool) -> Hook {
    Hook {
        program: "edr_file",
        family: Family::File,
        attach: Attach::SyscallExit { name, id },
        required,
    }
}

/// The fast-path twin of `file(name, id, required)`: program
/// `edr_fx_<name>` (bpf/fast_file.bpf.h).
macro_rules! fx {
    ($name:ident, $id:expr, $required:expr) => {
        Hook {
            program: concat!("edr_fx_", stringify!($name)),
            family: Family::File,
            attach: Attach::SyscallFexit {
                name: stringify!($name),
                id: $id,
            },
            required: $required,
        }
    };
}

/// The network family's fast-path twin of `net("edr_net", .., name, id)`:
/// program `edr_nx_<name>` (bpf/fast_net.bpf.h).
macro_rules! nx {
    ($name:ident, $id:expr) => {
        Hook {
            program: concat!("edr_nx_", stringify!($name)),
            family: Family::Network,
            attach: Attach::SyscallFexit {
                name: stringify!($name),
                id: $id,
            },
            required: true,
        }
    };
}

/// The syscalls whose DNS records the UDP send functions give on the fast
/// path (sendmmsg has its own fexit, bpf/fast_net.bpf.h says why).
const UDP_SEND_SYSCALLS: &[&str] = &["sendto", "sendmsg", "write"];

const fn udp_send(program: &'static str, function: &'static str) -> Hook {
    Hook {
        program,
        family: Family::Dns,
        attach: Attach::KernelFexit {
            function,
            covers: UDP_SEND_SYSCALLS,
        },
        required: true,
    }
}

/// Every attach point. A test checks the programs against the object;
/// the ids are `abi::file_syscall` (checked against the BTF there).
pub const HOOKS: &[Hook] = &[
    process("edr_exec"),
    process("edr_fork"),
    process("edr_exit"),
    Hook {
        program: "edr_signal",
        family: Family::Signal,
        attach: Attach::Auto,
        required: true,
    },
    file("openat", 2, true),
    file("unlinkat", 6, true),
    file("renameat2", 10, true),
    file("fchmod", 12, true),
    file("fchmodat", 13, true),
    file("fchown", 17, true),
    file("fchownat", 18, true),
    file("linkat", 20, true),
    file("symlinkat", 22, true),
    // Legacy: x86-64 has them, arm64 and newer ABIs do not.
    file("open", 1, false),
    file("creat", 4, false),
    file("unlink", 5, false),
    file("rmdir", 7, false),
    file("rename", 8, false),
    file("renameat", 9, false),
    file("chmod", 11, false),
    file("chown", 15, false),
    file("lchown", 16, false),
    file("link", 19, false),
    file("symlink", 21, false),
    // Newer: openat2 since Linux 5.6, fchmodat2 since 6.6.
    file("openat2", 3, false),
    file("fchmodat2", 14, false),
    // Needs CONFIG_FHANDLE; opens a file by handle, with no path at all.
    file("open_by_handle_at", 23, false),
    // Refused execs (ENOEXEC only: a script without #! that the shell
    // then runs itself); optional: start-up goes on without them.
    file("execve", 24, false),
    file("execveat", 25, false),
    // Extended attributes: security.capability is what setcap writes.
    // Every architecture has the six; setxattrat and removexattrat since
    // Linux 6.13.
    file("setxattr", 26, true),
    file("lsetxattr", 27, true),
    file("fsetxattr", 28, true),
    file("removexattr", 29, true),
    file("lremovexattr", 30, true),
    file("fremovexattr", 31, true),
    file("setxattrat", 41, false),
    file("removexattrat", 42, false),
    // The same syscalls on the fast path; per syscall, one of the two is
    // attached (`fast::FastPaths`).
    fx!(openat, 2, true),
    fx!(unlinkat, 6, true),
    fx!(renameat2, 10, true),
    fx!(fchmod, 12, true),
    fx!(fchmodat, 13, true),
    fx!(fchown, 17, true),
    fx!(fchownat, 18, true),
    fx!(linkat, 20, true),
    fx!(symlinkat, 22, true),
    fx!(open, 1, false),
    fx!(creat, 4, false),
    fx!(unlink, 5, false),
    fx!(rmdir, 7, false),
    fx!(rename, 8, false),
    fx!(renameat, 9, false),
    fx!(chmod, 11, false),
    fx!(chown, 15, false),
    fx!(lchown, 16, false),
    fx!(link, 19, false),
    fx!(symlink, 21, false),
    fx!(openat2, 3, false),
    fx!(fchmodat2, 14, false),
    fx!(open_by_handle_at, 23, false),
    fx!(execve, 24, false),
    fx!(execveat, 25, false),
    fx!(setxattr, 26, true),
    fx!(lsetxattr, 27, true),
    fx!(fsetxattr, 28, true),
    fx!(removexattr, 29, true),
    fx!(lremovexattr, 30, true),
    fx!(fremovexattr, 31, true),
    fx!(setxattrat, 41, false),
    fx!(removexattrat, 42, false),
    net("edr_net", Family::Network, "connect", 32),
    net("edr_net", Family::Network, "bind", 33),
    net("edr_net", Family::Network, "listen", 34),
    net("edr_net", Family::Network, "accept", 35),
    net("edr_net", Family::Network, "accept4", 36),
    net("edr_dns", Family::Dns, "sendto", 37),
    net("edr_dns", Family::Dns, "sendmsg", 38),
    net("edr_dns", Family::Dns, "sendmmsg", 39),
    net("edr_dns", Family::Dns, "write", 40),
    // The network and DNS families' fast path (`fast::FastPaths`).
    nx!(connect, 32),
    nx!(bind, 33),
    nx!(listen, 34),
    nx!(accept, 35),
    nx!(accept4, 36),
    Hook {
        program: "edr_dx_sendmmsg",
        family: Family::Dns,
        attach: Attach::SyscallFexit {
            name: "sendmmsg",
            id: 39,
        },
        required: true,
    },
    udp_send("edr_dx_udp", "udp_sendmsg"),
    udp_send("edr_dx_udp6", "udpv6_sendmsg"),
    stdio("edr_dup", "dup", 49, true),
    // dup2 is legacy (x86-64 has it, arm64 does not), dup3 since 2.6.27.
    stdio("edr_dup2", "dup2", 50, false),
    stdio("edr_dup3", "dup3", 51, true),
    // The stdio family's fast path, as the file family's.
    Hook {
        program: "edr_sx_dup",
        family: Family::Stdio,
        attach: Attach::SyscallFexit {
            name: "dup",
            id: 49,
        },
        required: true,
    },
    Hook {
        program: "edr_sx_dup2",
        family: Family::Stdio,
        attach: Attach::SyscallFexit {
            name: "dup2",
            id: 50,
        },
        required: false,
    },
    Hook {
        program: "edr_sx_dup3",
        family: Family::Stdio,
        attach: Attach::SyscallFexit {
            name: "dup3",
            id: 51,
        },
        required: true,
    },
];

/// The config hook a network attach point belongs to.
pub(super) fn net_hook_of(syscall: &str) -> Option<NetHook> {
    Some(match syscall {
        "connect" => NetHook::Connect,
        "bind" => NetHook::Bind,
        "listen" => NetHook::Listen,
        "accept" | "accept4" => NetHook::Accept,
        _ => return None,
    })
}

/// Whether start-up may go on without `program` when the kernel refuses
/// to load it: every one of its hooks is optional.
pub(super) fn program_optional(program: &str) -> bool {
    let mut hooks = HOOKS.iter().filter(|h| h.program == program).peekable();
    hooks.peek().is_some() && hooks.all(|h| !h.required)
}

pub fn family_of(program: &str) -> Option<Family> {
    HOOKS
        .iter()
        .find(|h| h.program == program)
        .map(|h| h.family)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::object::EMBEDDED;
    use crate::kernel::syscall_nr;
    use libbpf_rs::ObjectBuilder;

    #[test]
    fn hook_table_matches_the_object() {
        // Opening parses the ELF only: no privileges needed.
        let open = ObjectBuilder::default().open_memory(EMBEDDED).unwrap();
        let mut in_object: Vec<String> = open
            .progs()
            .map(|p| p.name().to_string_lossy().into_owned())
            .collect();
        in_object.sort();
        let mut in_table: Vec<String> = HOOKS.iter().map(|h| h.program.to_string()).collect();
        in_table.sort();
        in_table.dedup();
        assert_eq!(in_object, in_table);
        // Each file syscall is hooked once, under the id the ABI gives it.
        let mut ids = Vec::new();
        for h in HOOKS {
            if let Attach::SyscallExit { name, id } = h.attach {
                let named = crate::kernel::abi::file_syscall::name(id)
                    .or(crate::kernel::abi::net_syscall::name(id))
                    .or(crate::kernel::abi::stdio_syscall::name(id));
                assert_eq!(named, Some(name));
                ids.push(id);
            }
        }
        ids.sort();
        let expected: Vec<u16> = (1..=42).chain(49..=51).collect();
        assert_eq!(ids, expected);
        // Each file, stdio, network and DNS syscall has one fast twin, as
        // required as its tracepoint: fexit on its own function, or for
        // DNS's UDP sends, on udp_sendmsg and udpv6_sendmsg both.
        for h in HOOKS {
            let Attach::SyscallExit { name, id } = h.attach else {
                continue;
            };
            if UDP_SEND_SYSCALLS.contains(&name) {
                let covering: Vec<&str> = HOOKS
                    .iter()
                    .filter(|f| matches!(f.attach, Attach::KernelFexit { covers, .. } if covers.contains(&name)))
                    .map(|f| f.program)
                    .collect();
                assert_eq!(covering, ["edr_dx_udp", "edr_dx_udp6"], "{name}");
                assert_eq!(h.family, Family::Dns);
                continue;
            }
            let twin = HOOKS
                .iter()
                .find(|f| matches!(f.attach, Attach::SyscallFexit { name: n, .. } if n == name))
                .unwrap_or_else(|| panic!("{name} has no fexit twin"));
            let prefix = match h.family {
                Family::File => "fx",
                Family::Stdio => "sx",
                Family::Network => "nx",
                _ => "dx",
            };
            assert_eq!(twin.program, format!("edr_{prefix}_{name}"));
            assert_eq!(twin.family, h.family);
            assert_eq!(twin.attach, Attach::SyscallFexit { name, id });
            assert_eq!(twin.required, h.required, "{name}");
        }
        assert_eq!(
            HOOKS
                .iter()
                .filter(|h| matches!(h.attach, Attach::SyscallFexit { .. }))
                .count(),
            42
        );
        // Every required syscall exists on this architecture.
        for h in HOOKS.iter().filter(|h| h.required) {
            if let Attach::SyscallExit { name, .. } = h.attach {
                assert!(syscall_nr(name).is_some(), "{name}");
            }
        }
    }

    #[test]
    fn a_program_is_optional_when_all_its_hooks_are() {
        let mut optional: Vec<&str> = HOOKS
            .iter()
            .map(|h| h.program)
            .filter(|p| program_optional(p))
            .collect();
        optional.dedup();
        assert_eq!(
            optional,
            [
                "edr_fx_open",
                "edr_fx_creat",
                "edr_fx_unlink",
                "edr_fx_rmdir",
                "edr_fx_rename",
                "edr_fx_renameat",
                "edr_fx_chmod",
                "edr_fx_chown",
                "edr_fx_lchown",
                "edr_fx_link",
                "edr_fx_symlink",
                "edr_fx_openat2",
                "edr_fx_fchmodat2",
                "edr_fx_open_by_handle_at",
                "edr_fx_execve",
                "edr_fx_execveat",
                "edr_fx_setxattrat",
                "edr_fx_removexattrat",
                "edr_dup2",
                "edr_sx_dup2"
            ]
        );
        assert!(
            !program_optional("edr_file"),
            "some file hooks are required"
        );
        assert!(!program_optional("no_such_program"));
    }
}
