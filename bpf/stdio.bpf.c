// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * stdio.bpf.c - a process rewiring its standard streams to an internet
 * socket: dup, dup2 and dup3 onto fd 0..2 (the exec side of the check is
 * in process.bpf.c). Loaded only while rg-reverse-shell is enabled.
 *
 * Syscall exit tracepoints (v2.6.33): ret is the new fd. Only the rare
 * dup onto 0..2 does the fd-table lookups; every other dup returns at
 * the first comparison. One program per syscall, so each knows its own
 * id without a syscall-number map.
 */
#include "common.bpf.h"
#include "stdio.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline int edr_dup_exit(long ret, __u16 syscall)
{
	if (ret < 0 || ret > 2)
		return 0;
	if (edr_is_self(bpf_get_current_pid_tgid() >> 32))
		return 0;
	edr_stdio_check(syscall, (int)ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_dup")
int edr_dup(struct trace_event_raw_sys_exit *ctx)
{
	return edr_dup_exit(ctx->ret, EDR_SYS_DUP);
}

SEC("tracepoint/syscalls/sys_exit_dup2")
int edr_dup2(struct trace_event_raw_sys_exit *ctx)
{
	return edr_dup_exit(ctx->ret, EDR_SYS_DUP2);
}

SEC("tracepoint/syscalls/sys_exit_dup3")
int edr_dup3(struct trace_event_raw_sys_exit *ctx)
{
	return edr_dup_exit(ctx->ret, EDR_SYS_DUP3);
}

/*
 * The fast path ([kernel] hooks, as bpf/fast_file.bpf.h for the file
 * family): fexit on each dup syscall's own function, bound by the loader,
 * so no syscalls/sys_exit_* tracepoint puts every syscall on the slow
 * exit path. The return value is the one the tracepoint sees.
 */
SEC("fexit")
int BPF_PROG(edr_sx_dup, const struct pt_regs *regs, long ret)
{
	return edr_dup_exit(ret, EDR_SYS_DUP);
}

SEC("fexit")
int BPF_PROG(edr_sx_dup2, const struct pt_regs *regs, long ret)
{
	return edr_dup_exit(ret, EDR_SYS_DUP2);
}

SEC("fexit")
int BPF_PROG(edr_sx_dup3, const struct pt_regs *regs, long ret)
{
	return edr_dup_exit(ret, EDR_SYS_DUP3);
}
