//! Layout tests of the ABI mirror against the compiled object's BTF.
use super::*;
use crate::kernel::bpf::types as c;
use std::mem::offset_of;

/// Asserts that the size and each named field's offset match between
/// our mirror and the BTF-generated C type.
macro_rules! same_layout {
    ($ours:ty, $theirs:ty, [$($field:ident),* $(,)?]) => {{
        assert_eq!(size_of::<$ours>(), size_of::<$theirs>(), "size of {}", stringify!($ours));
        $(
            assert_eq!(
                offset_of!($ours, $field),
                offset_of!($theirs, $field),
                "offset of {}.{}",
                stringify!($ours),
                stringify!($field)
            );
        )*
    }};
}

#[test]
fn layouts_match_compiled_object() {
    same_layout!(
        Hdr,
        c::edr_hdr,
        [kind, abi_version, pad0, size, ktime_ns, pid, tgid]
    );
    same_layout!(Slice, c::edr_slice, [off, len]);
    same_layout!(
        ExecStdio,
        c::edr_exec_stdio,
        [
            ino,
            peer_ino,
            parent_sock_ino,
            parent_sock_remote,
            parent_sock_family,
            parent_sock_local_port,
            parent_sock_remote_port,
            r#type,
            parent_holds,
            scanned,
            pad
        ]
    );
    same_layout!(
        Exec,
        c::edr_exec,
        [
            hdr,
            start_ns,
            parent_start_ns,
            cgroup_id,
            ppid,
            uid,
            gid,
            euid,
            egid,
            auid,
            sessionid,
            argc,
            flags,
            pid_ns,
            mnt_ns,
            net_ns,
            uts_ns,
            pad0,
            comm,
            filename,
            cwd,
            exe,
            args,
            exe_dev,
            exe_ino,
            exe_ctime_sec,
            exe_ctime_nsec,
            pad1,
            exe_size,
            stdio
        ]
    );
    same_layout!(
        Fork,
        c::edr_fork,
        [hdr, child_start_ns, parent_start_ns, child_pid, child_ppid]
    );
    same_layout!(Exit, c::edr_exit, [hdr, start_ns, exit_code, ppid, comm]);
    same_layout!(
        File,
        c::edr_file,
        [
            hdr, ret, open_flags, mode, uid, gid, at_flags, flags, syscall, read_watch, dir, path,
            dir2, path2
        ]
    );
    same_layout!(PrefixKey, c::edr_prefix_key, [prefixlen, data]);
    same_layout!(
        Config,
        c::edr_config,
        [
            agent_tgid,
            wakeup_bytes,
            report_failed,
            net_families,
            watch_reads,
            stdio_check
        ]
    );
    same_layout!(InodeKey, c::edr_inode_key, [dev, ino]);
    same_layout!(
        Net,
        c::edr_net,
        [
            hdr,
            ret,
            local_addr,
            remote_addr,
            family,
            sock_type,
            protocol,
            syscall,
            local_port,
            remote_port,
            flags,
            unix_path,
            payload
        ]
    );
    same_layout!(NetKey, c::edr_net_key, [prefixlen, addr]);
    same_layout!(
        Signal,
        c::edr_signal,
        [
            hdr,
            target_start_ns,
            target_pid,
            target_tgid,
            sig,
            code,
            result,
            pad0
        ]
    );
    same_layout!(
        Stdio,
        c::edr_stdio,
        [
            hdr,
            ino,
            local_addr,
            remote_addr,
            family,
            sock_type,
            protocol,
            syscall,
            local_port,
            remote_port,
            fds,
            newfd,
            pad0
        ]
    );
    same_layout!(
        KStats,
        c::edr_kstats,
        [ringbuf_drops, filtered, failed, path_unreadable]
    );
}

#[test]
fn constants_match_compiled_object() {
    assert_eq!(u32::from(kind::EXEC), c::edr_kind::EDR_KIND_EXEC.0);
    assert_eq!(u32::from(kind::FORK), c::edr_kind::EDR_KIND_FORK.0);
    assert_eq!(u32::from(kind::EXIT), c::edr_kind::EDR_KIND_EXIT.0);
    assert_eq!(kind::MAX as u32, c::edr_kind::EDR_KIND_MAX.0);
    use c::edr_kind as k;
    for (ours, theirs) in [
        (kind::STDIO_SOCKET, k::EDR_KIND_STDIO_SOCKET),
        (kind::SIGNAL, k::EDR_KIND_SIGNAL),
        (kind::FILE_OPEN, k::EDR_KIND_FILE_OPEN),
        (kind::FILE_UNLINK, k::EDR_KIND_FILE_UNLINK),
        (kind::FILE_RENAME, k::EDR_KIND_FILE_RENAME),
        (kind::FILE_CHMOD, k::EDR_KIND_FILE_CHMOD),
        (kind::FILE_CHOWN, k::EDR_KIND_FILE_CHOWN),
        (kind::FILE_LINK, k::EDR_KIND_FILE_LINK),
        (kind::FILE_SYMLINK, k::EDR_KIND_FILE_SYMLINK),
        (kind::FILE_EXEC, k::EDR_KIND_FILE_EXEC),
        (kind::FILE_SETXATTR, k::EDR_KIND_FILE_SETXATTR),
        (kind::FILE_REMOVEXATTR, k::EDR_KIND_FILE_REMOVEXATTR),
        (kind::NET_CONNECT, k::EDR_KIND_NET_CONNECT),
        (kind::NET_BIND, k::EDR_KIND_NET_BIND),
        (kind::NET_LISTEN, k::EDR_KIND_NET_LISTEN),
        (kind::NET_ACCEPT, k::EDR_KIND_NET_ACCEPT),
        (kind::NET_DNS, k::EDR_KIND_NET_DNS),
    ] {
        assert_eq!(u32::from(ours), theirs.0);
    }
    use c::edr_file_syscall as fs;
    let sys = [
        fs::EDR_SYS_OPEN,
        fs::EDR_SYS_OPENAT,
        fs::EDR_SYS_OPENAT2,
        fs::EDR_SYS_CREAT,
        fs::EDR_SYS_UNLINK,
        fs::EDR_SYS_UNLINKAT,
        fs::EDR_SYS_RMDIR,
        fs::EDR_SYS_RENAME,
        fs::EDR_SYS_RENAMEAT,
        fs::EDR_SYS_RENAMEAT2,
        fs::EDR_SYS_CHMOD,
        fs::EDR_SYS_FCHMOD,
        fs::EDR_SYS_FCHMODAT,
        fs::EDR_SYS_FCHMODAT2,
        fs::EDR_SYS_CHOWN,
        fs::EDR_SYS_LCHOWN,
        fs::EDR_SYS_FCHOWN,
        fs::EDR_SYS_FCHOWNAT,
        fs::EDR_SYS_LINK,
        fs::EDR_SYS_LINKAT,
        fs::EDR_SYS_SYMLINK,
        fs::EDR_SYS_SYMLINKAT,
        fs::EDR_SYS_OPEN_BY_HANDLE_AT,
        fs::EDR_SYS_FILE_EXECVE,
        fs::EDR_SYS_FILE_EXECVEAT,
        fs::EDR_SYS_SETXATTR,
        fs::EDR_SYS_LSETXATTR,
        fs::EDR_SYS_FSETXATTR,
        fs::EDR_SYS_REMOVEXATTR,
        fs::EDR_SYS_LREMOVEXATTR,
        fs::EDR_SYS_FREMOVEXATTR,
        fs::EDR_SYS_SETXATTRAT,
        fs::EDR_SYS_REMOVEXATTRAT,
    ];
    assert_eq!(sys.len(), file_syscall::ALL.len());
    for ((n, name), theirs) in file_syscall::ALL.iter().zip(sys) {
        assert_eq!(u32::from(*n), theirs.0, "{name}");
    }
    use c::edr_file_flag as ff;
    assert_eq!(file_flag::PATH_TRUNC, ff::EDR_FILE_F_PATH_TRUNC.0);
    assert_eq!(file_flag::PATH2_TRUNC, ff::EDR_FILE_F_PATH2_TRUNC.0);
    assert_eq!(file_flag::PATH_FAULT, ff::EDR_FILE_F_PATH_FAULT.0);
    assert_eq!(file_flag::PATH2_FAULT, ff::EDR_FILE_F_PATH2_FAULT.0);
    assert_eq!(file_flag::UNFILTERED, ff::EDR_FILE_F_UNFILTERED.0);
    assert_eq!(file_flag::PATH_RESOLVED, ff::EDR_FILE_F_PATH_RESOLVED.0);
    use c::edr_net_syscall as ns;
    let net = [
        ns::EDR_SYS_CONNECT,
        ns::EDR_SYS_BIND,
        ns::EDR_SYS_LISTEN,
        ns::EDR_SYS_ACCEPT,
        ns::EDR_SYS_ACCEPT4,
        ns::EDR_SYS_SENDTO,
        ns::EDR_SYS_SENDMSG,
        ns::EDR_SYS_SENDMMSG,
        ns::EDR_SYS_WRITE,
    ];
    for ((n, name), theirs) in net_syscall::ALL.iter().zip(net) {
        assert_eq!(u32::from(*n), theirs.0, "{name}");
    }
    use c::edr_stdio_syscall as ss;
    let stdio = [
        ss::EDR_SYS_EXECVE,
        ss::EDR_SYS_DUP,
        ss::EDR_SYS_DUP2,
        ss::EDR_SYS_DUP3,
    ];
    for ((n, name), theirs) in stdio_syscall::ALL.iter().zip(stdio) {
        assert_eq!(u32::from(*n), theirs.0, "{name}");
    }
    use c::edr_net_flag as nf;
    assert_eq!(net_flag::PATH_TRUNC, nf::EDR_NET_F_PATH_TRUNC.0);
    assert_eq!(net_flag::PAYLOAD_TRUNC, nf::EDR_NET_F_PAYLOAD_TRUNC.0);
    assert_eq!(net_flag::ADDR_FAULT, nf::EDR_NET_F_ADDR_FAULT.0);
    assert_eq!(net_flag::IN_PROGRESS, nf::EDR_NET_F_IN_PROGRESS.0);
    use c::edr_prefix_verdict as pv;
    assert_eq!(u32::from(prefix_verdict::INCLUDE), pv::EDR_PREFIX_INCLUDE.0);
    assert_eq!(u32::from(prefix_verdict::EXCLUDE), pv::EDR_PREFIX_EXCLUDE.0);
    use c::edr_stdio_type as st;
    let types = [
        (stdio_type::CLOSED, st::EDR_STDIO_T_CLOSED),
        (stdio_type::PIPE, st::EDR_STDIO_T_PIPE),
        (stdio_type::FIFO, st::EDR_STDIO_T_FIFO),
        (stdio_type::UNIX, st::EDR_STDIO_T_UNIX),
        (stdio_type::INET, st::EDR_STDIO_T_INET),
        (stdio_type::TTY, st::EDR_STDIO_T_TTY),
        (stdio_type::FILE, st::EDR_STDIO_T_FILE),
        (stdio_type::OTHER, st::EDR_STDIO_T_OTHER),
    ];
    for (ours, theirs) in types {
        assert_eq!(u32::from(ours), theirs.0);
    }
    use c::edr_exec_flag as f;
    assert_eq!(exec_flag::FILENAME_TRUNC, f::EDR_EXEC_F_FILENAME_TRUNC.0);
    assert_eq!(exec_flag::EXE_TRUNC, f::EDR_EXEC_F_EXE_TRUNC.0);
    assert_eq!(exec_flag::CWD_TRUNC, f::EDR_EXEC_F_CWD_TRUNC.0);
    assert_eq!(exec_flag::ARGS_TRUNC, f::EDR_EXEC_F_ARGS_TRUNC.0);
    assert_eq!(exec_flag::ARGS_FAULT, f::EDR_EXEC_F_ARGS_FAULT.0);
    assert_eq!(exec_flag::EXE_DETACHED, f::EDR_EXEC_F_EXE_DETACHED.0);
    // The data area the BPF side reserves is exactly what we accept.
    assert_eq!(
        size_of::<c::edr_exec_buf>() - size_of::<c::edr_exec>(),
        EXEC_DATA_MAX
    );
    assert_eq!(size_of::<c::edr_config>(), 24);
}

#[test]
fn rodata_matches_compiled_object() {
    // Field sizes of the generated .rodata struct, without a value.
    fn size_of_field<T, F>(_: fn(&T) -> &F) -> usize {
        size_of::<F>()
    }
    assert_eq!(
        size_of_field(|r: &c::rodata| &r.edr_file_sysmap),
        SYSCALL_MAP
    );
    assert_eq!(
        size_of_field(|r: &c::rodata| &r.edr_cfg),
        size_of::<Config>()
    );
    assert_eq!(size_of_field(|r: &c::rodata| &r.edr_abi_version), 4);
    assert_eq!(
        size_of_field(|r: &c::rodata| &r.edr_net_sysmap),
        SYSCALL_MAP
    );
}

#[test]
fn kind_names_are_unique_and_complete() {
    let names: Vec<_> = kind::ALL.iter().map(|k| kind::name(*k).unwrap()).collect();
    let mut dedup = names.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(names.len(), dedup.len());
    assert_eq!(kind::name(0), None);
    assert_eq!(kind::name(kind::MAX as u16), None);
}
