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

/// Asserts that each of our constants equals the C enum `$enum`'s
/// constant of that name.
macro_rules! same_values {
    ($enum:ident, [$($ours:path => $theirs:ident),* $(,)?]) => {{
        $(
            assert_eq!(
                u32::from($ours),
                c::$enum::$theirs.0,
                "{} vs {}",
                stringify!($ours),
                stringify!($theirs)
            );
        )*
    }};
}

/// Asserts that our table `$ours` of (number, name) has exactly the C
/// enum `$enum`'s constants, listed here in the table's order.
macro_rules! same_table {
    ($ours:expr, $enum:ident, [$($theirs:ident),* $(,)?]) => {{
        let theirs = [$((c::$enum::$theirs.0, stringify!($theirs))),*];
        let ours: Vec<(u16, &str)> = $ours.into_iter().collect();
        assert_eq!(ours.len(), theirs.len(), "{} entries", stringify!($ours));
        for ((n, name), (value, c_name)) in ours.into_iter().zip(theirs) {
            assert_eq!(u32::from(n), value, "{name} vs {c_name}");
        }
    }};
}

#[test]
fn constants_match_compiled_object() {
    same_table!(
        kind::ALL.map(|k| (k, kind::name(k).unwrap())),
        edr_kind,
        [
            EDR_KIND_EXEC,
            EDR_KIND_FORK,
            EDR_KIND_EXIT,
            EDR_KIND_STDIO_SOCKET,
            EDR_KIND_SIGNAL,
            EDR_KIND_EXEC_ENV,
            EDR_KIND_FILE_OPEN,
            EDR_KIND_FILE_UNLINK,
            EDR_KIND_FILE_RENAME,
            EDR_KIND_FILE_CHMOD,
            EDR_KIND_FILE_CHOWN,
            EDR_KIND_FILE_LINK,
            EDR_KIND_FILE_SYMLINK,
            EDR_KIND_FILE_EXEC,
            EDR_KIND_FILE_SETXATTR,
            EDR_KIND_FILE_REMOVEXATTR,
            EDR_KIND_NET_CONNECT,
            EDR_KIND_NET_BIND,
            EDR_KIND_NET_LISTEN,
            EDR_KIND_NET_ACCEPT,
            EDR_KIND_NET_DNS,
        ]
    );
    assert_eq!(kind::MAX as u32, c::edr_kind::EDR_KIND_MAX.0);
    same_table!(
        file_syscall::ALL,
        edr_file_syscall,
        [
            EDR_SYS_OPEN,
            EDR_SYS_OPENAT,
            EDR_SYS_OPENAT2,
            EDR_SYS_CREAT,
            EDR_SYS_UNLINK,
            EDR_SYS_UNLINKAT,
            EDR_SYS_RMDIR,
            EDR_SYS_RENAME,
            EDR_SYS_RENAMEAT,
            EDR_SYS_RENAMEAT2,
            EDR_SYS_CHMOD,
            EDR_SYS_FCHMOD,
            EDR_SYS_FCHMODAT,
            EDR_SYS_FCHMODAT2,
            EDR_SYS_CHOWN,
            EDR_SYS_LCHOWN,
            EDR_SYS_FCHOWN,
            EDR_SYS_FCHOWNAT,
            EDR_SYS_LINK,
            EDR_SYS_LINKAT,
            EDR_SYS_SYMLINK,
            EDR_SYS_SYMLINKAT,
            EDR_SYS_OPEN_BY_HANDLE_AT,
            EDR_SYS_FILE_EXECVE,
            EDR_SYS_FILE_EXECVEAT,
            EDR_SYS_SETXATTR,
            EDR_SYS_LSETXATTR,
            EDR_SYS_FSETXATTR,
            EDR_SYS_REMOVEXATTR,
            EDR_SYS_LREMOVEXATTR,
            EDR_SYS_FREMOVEXATTR,
            EDR_SYS_SETXATTRAT,
            EDR_SYS_REMOVEXATTRAT,
        ]
    );
    same_table!(
        net_syscall::ALL,
        edr_net_syscall,
        [
            EDR_SYS_CONNECT,
            EDR_SYS_BIND,
            EDR_SYS_LISTEN,
            EDR_SYS_ACCEPT,
            EDR_SYS_ACCEPT4,
            EDR_SYS_SENDTO,
            EDR_SYS_SENDMSG,
            EDR_SYS_SENDMMSG,
            EDR_SYS_WRITE,
        ]
    );
    same_table!(
        stdio_syscall::ALL,
        edr_stdio_syscall,
        [EDR_SYS_EXECVE, EDR_SYS_DUP, EDR_SYS_DUP2, EDR_SYS_DUP3]
    );
    same_values!(
        edr_file_flag,
        [
            file_flag::PATH_TRUNC => EDR_FILE_F_PATH_TRUNC,
            file_flag::PATH2_TRUNC => EDR_FILE_F_PATH2_TRUNC,
            file_flag::PATH_FAULT => EDR_FILE_F_PATH_FAULT,
            file_flag::PATH2_FAULT => EDR_FILE_F_PATH2_FAULT,
            file_flag::UNFILTERED => EDR_FILE_F_UNFILTERED,
            file_flag::PATH_RESOLVED => EDR_FILE_F_PATH_RESOLVED,
        ]
    );
    same_values!(
        edr_net_flag,
        [
            net_flag::PATH_TRUNC => EDR_NET_F_PATH_TRUNC,
            net_flag::PAYLOAD_TRUNC => EDR_NET_F_PAYLOAD_TRUNC,
            net_flag::ADDR_FAULT => EDR_NET_F_ADDR_FAULT,
            net_flag::IN_PROGRESS => EDR_NET_F_IN_PROGRESS,
        ]
    );
    same_values!(
        edr_read_watch_id,
        [READ_WATCH_PROC_MEM => EDR_READ_WATCH_PROC_MEM]
    );
    same_values!(
        edr_prefix_verdict,
        [
            prefix_verdict::INCLUDE => EDR_PREFIX_INCLUDE,
            prefix_verdict::EXCLUDE => EDR_PREFIX_EXCLUDE,
            prefix_verdict::VERDICT_MASK => EDR_PREFIX_VERDICT_MASK,
            prefix_verdict::NOCACHE => EDR_PREFIX_F_NOCACHE,
            prefix_verdict::LEN_SHIFT => EDR_PREFIX_LEN_SHIFT,
        ]
    );
    same_values!(
        edr_stdio_type,
        [
            stdio_type::CLOSED => EDR_STDIO_T_CLOSED,
            stdio_type::PIPE => EDR_STDIO_T_PIPE,
            stdio_type::FIFO => EDR_STDIO_T_FIFO,
            stdio_type::UNIX => EDR_STDIO_T_UNIX,
            stdio_type::INET => EDR_STDIO_T_INET,
            stdio_type::TTY => EDR_STDIO_T_TTY,
            stdio_type::FILE => EDR_STDIO_T_FILE,
            stdio_type::OTHER => EDR_STDIO_T_OTHER,
        ]
    );
    same_values!(
        edr_exec_flag,
        [
            exec_flag::FILENAME_TRUNC => EDR_EXEC_F_FILENAME_TRUNC,
            exec_flag::EXE_TRUNC => EDR_EXEC_F_EXE_TRUNC,
            exec_flag::CWD_TRUNC => EDR_EXEC_F_CWD_TRUNC,
            exec_flag::ARGS_TRUNC => EDR_EXEC_F_ARGS_TRUNC,
            exec_flag::ARGS_FAULT => EDR_EXEC_F_ARGS_FAULT,
            exec_flag::EXE_DETACHED => EDR_EXEC_F_EXE_DETACHED,
        ]
    );
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
