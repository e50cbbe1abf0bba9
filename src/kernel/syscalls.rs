//! Syscall names to this architecture's numbers.
//!
//! A leaf module (libc only) so that xtask can include the same file
//! (`#[path]`) for the auditd rules it writes: one table for the agent's
//! hooks and for the rules that are compared with them.

/// This architecture's number of a syscall the agent hooks (or that
/// `xtask bench --auditd` audits), if the architecture has it.
pub fn nr(name: &str) -> Option<i64> {
    use libc as c;
    let nr = match name {
        "openat" => c::SYS_openat,
        "openat2" => c::SYS_openat2,
        "open_by_handle_at" => c::SYS_open_by_handle_at,
        "unlinkat" => c::SYS_unlinkat,
        "renameat2" => c::SYS_renameat2,
        "fchmod" => c::SYS_fchmod,
        "fchmodat" => c::SYS_fchmodat,
        "fchmodat2" => c::SYS_fchmodat2,
        "fchown" => c::SYS_fchown,
        "fchownat" => c::SYS_fchownat,
        "linkat" => c::SYS_linkat,
        "symlinkat" => c::SYS_symlinkat,
        "setxattr" => c::SYS_setxattr,
        "lsetxattr" => c::SYS_lsetxattr,
        "fsetxattr" => c::SYS_fsetxattr,
        "removexattr" => c::SYS_removexattr,
        "lremovexattr" => c::SYS_lremovexattr,
        "fremovexattr" => c::SYS_fremovexattr,
        // Linux 6.13, numbered alike on every architecture since 424
        // (the libc crate has no names for them yet).
        "setxattrat" => 463,
        "removexattrat" => 466,
        "connect" => c::SYS_connect,
        "bind" => c::SYS_bind,
        "listen" => c::SYS_listen,
        "accept" => c::SYS_accept,
        "accept4" => c::SYS_accept4,
        "sendto" => c::SYS_sendto,
        "sendmsg" => c::SYS_sendmsg,
        "sendmmsg" => c::SYS_sendmmsg,
        "write" => c::SYS_write,
        "dup" => c::SYS_dup,
        "execve" => c::SYS_execve,
        "execveat" => c::SYS_execveat,
        "clone" => c::SYS_clone,
        "clone3" => c::SYS_clone3,
        "exit" => c::SYS_exit,
        "exit_group" => c::SYS_exit_group,
        "dup3" => c::SYS_dup3,
        #[cfg(target_arch = "x86_64")]
        "dup2" => c::SYS_dup2,
        #[cfg(target_arch = "x86_64")]
        "open" => c::SYS_open,
        #[cfg(target_arch = "x86_64")]
        "creat" => c::SYS_creat,
        #[cfg(target_arch = "x86_64")]
        "unlink" => c::SYS_unlink,
        #[cfg(target_arch = "x86_64")]
        "rmdir" => c::SYS_rmdir,
        #[cfg(target_arch = "x86_64")]
        "rename" => c::SYS_rename,
        #[cfg(target_arch = "x86_64")]
        "renameat" => c::SYS_renameat,
        #[cfg(target_arch = "x86_64")]
        "chmod" => c::SYS_chmod,
        #[cfg(target_arch = "x86_64")]
        "chown" => c::SYS_chown,
        #[cfg(target_arch = "x86_64")]
        "lchown" => c::SYS_lchown,
        #[cfg(target_arch = "x86_64")]
        "link" => c::SYS_link,
        #[cfg(target_arch = "x86_64")]
        "symlink" => c::SYS_symlink,
        #[cfg(target_arch = "x86_64")]
        "fork" => c::SYS_fork,
        #[cfg(target_arch = "x86_64")]
        "vfork" => c::SYS_vfork,
        _ => return None,
    };
    Some(nr)
}
