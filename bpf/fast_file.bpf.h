/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * fast_file.bpf.h - the file family's fast path, included at the end of
 * file.bpf.c (it shares that unit's static decoder, edr_file_sys).
 *
 * Why: attaching any syscalls/sys_exit_* tracepoint sets the syscall
 * tracepoint work flag on every task, so every syscall of every process on
 * the host takes the slow exit path, whether it is a file syscall or not.
 * An fexit program (BPF trampoline, v5.5) on one syscall's own function
 * (__x64_sys_openat, __arm64_sys_openat: the loader sets the target, so
 * this file names no architecture) costs nothing to any other syscall.
 *
 * One program per syscall, because a trampoline program is bound to its
 * target at load. Each knows its EDR_SYS_* id, so the verifier prunes the
 * decoder down to that syscall's case. The syscall function runs in the
 * syscall's own context: the task's saved user registers (the arguments)
 * and the return value are those the exit tracepoint sees, and the record
 * is the same, field for field.
 */
#ifndef EDR_FAST_FILE_BPF_H
#define EDR_FAST_FILE_BPF_H

#define EDR_FX(name, id)                                                                           \
	SEC("fexit")                                                                               \
	int BPF_PROG(edr_fx_##name, const struct pt_regs *regs, long ret)                          \
	{                                                                                          \
		return edr_file_sys(id, ret);                                                      \
	}

EDR_FX(open, EDR_SYS_OPEN)
EDR_FX(openat, EDR_SYS_OPENAT)
EDR_FX(openat2, EDR_SYS_OPENAT2)
EDR_FX(creat, EDR_SYS_CREAT)
EDR_FX(unlink, EDR_SYS_UNLINK)
EDR_FX(unlinkat, EDR_SYS_UNLINKAT)
EDR_FX(rmdir, EDR_SYS_RMDIR)
EDR_FX(rename, EDR_SYS_RENAME)
EDR_FX(renameat, EDR_SYS_RENAMEAT)
EDR_FX(renameat2, EDR_SYS_RENAMEAT2)
EDR_FX(chmod, EDR_SYS_CHMOD)
EDR_FX(fchmod, EDR_SYS_FCHMOD)
EDR_FX(fchmodat, EDR_SYS_FCHMODAT)
EDR_FX(fchmodat2, EDR_SYS_FCHMODAT2)
EDR_FX(chown, EDR_SYS_CHOWN)
EDR_FX(lchown, EDR_SYS_LCHOWN)
EDR_FX(fchown, EDR_SYS_FCHOWN)
EDR_FX(fchownat, EDR_SYS_FCHOWNAT)
EDR_FX(link, EDR_SYS_LINK)
EDR_FX(linkat, EDR_SYS_LINKAT)
EDR_FX(symlink, EDR_SYS_SYMLINK)
EDR_FX(symlinkat, EDR_SYS_SYMLINKAT)
EDR_FX(open_by_handle_at, EDR_SYS_OPEN_BY_HANDLE_AT)
EDR_FX(execve, EDR_SYS_FILE_EXECVE)
EDR_FX(execveat, EDR_SYS_FILE_EXECVEAT)
EDR_FX(setxattr, EDR_SYS_SETXATTR)
EDR_FX(lsetxattr, EDR_SYS_LSETXATTR)
EDR_FX(fsetxattr, EDR_SYS_FSETXATTR)
EDR_FX(setxattrat, EDR_SYS_SETXATTRAT)
EDR_FX(removexattr, EDR_SYS_REMOVEXATTR)
EDR_FX(lremovexattr, EDR_SYS_LREMOVEXATTR)
EDR_FX(fremovexattr, EDR_SYS_FREMOVEXATTR)
EDR_FX(removexattrat, EDR_SYS_REMOVEXATTRAT)

#endif /* EDR_FAST_FILE_BPF_H */
