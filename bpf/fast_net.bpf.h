/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * fast_net.bpf.h - the network and DNS families' fast path, included at
 * the end of net.bpf.c (it shares that unit's static decoders,
 * edr_net_sys and edr_dns_sys).
 *
 * Why: as for the file family (fast_file.bpf.h), one attached
 * syscalls/sys_exit_* tracepoint puts every syscall of every task on the
 * slow exit path. An fexit program (BPF trampoline, v5.5) on a kernel
 * function is run by that function's callers alone.
 *
 * Network: one program per syscall, on the syscall's own function
 * (__x64_sys_connect, ...: the loader sets the target), each knowing its
 * EDR_SYS_* id, so the verifier prunes the decoder to that case.
 *
 * DNS: not write(2), sendto(2) and sendmsg(2) themselves (a write to a
 * pipe or a file would run the program again), but the UDP send path
 * they reach for a UDP socket, udp_sendmsg and udpv6_sendmsg
 * (int (struct sock *, struct msghdr *, size_t) since 4.1, through
 * 6.18). The program runs in the sending syscall's context, so the
 * record is decoded as at the syscall's exit: which syscall from the
 * saved registers, its arguments, the socket, and udp_sendmsg's return
 * value, which is the syscall's. sendmmsg keeps an fexit on its own
 * function: it reaches udp_sendmsg once per message, and the record is
 * the first message's, once per call, as on the tracepoint path.
 */
#ifndef EDR_FAST_NET_BPF_H
#define EDR_FAST_NET_BPF_H

#define PF_KTHREAD 0x00200000

#define EDR_NX(name, id)                                                                           \
	SEC("fexit")                                                                               \
	int BPF_PROG(edr_nx_##name, const struct pt_regs *regs, long ret)                          \
	{                                                                                          \
		return edr_net_sys(id, ret);                                                       \
	}

EDR_NX(connect, EDR_SYS_CONNECT)
EDR_NX(bind, EDR_SYS_BIND)
EDR_NX(listen, EDR_SYS_LISTEN)
EDR_NX(accept, EDR_SYS_ACCEPT)
EDR_NX(accept4, EDR_SYS_ACCEPT4)

SEC("fexit")
int BPF_PROG(edr_dx_sendmmsg, const struct pt_regs *regs, long ret)
{
	return edr_dns_sys(EDR_SYS_SENDMMSG, ret, NULL);
}

/* The number of the syscall the current task is in, from its saved
 * registers (the value the exit tracepoint's id carries). */
static __always_inline long edr_current_syscall(void)
{
	struct pt_regs *r = edr_user_regs();

#if defined(__TARGET_ARCH_x86)
	return r->orig_ax;
#elif defined(__TARGET_ARCH_arm64)
	return r->syscallno;
#else
	return -1;
#endif
}

/*
 * A UDP send of write, sendto or sendmsg. Kernel threads (a UDP send of
 * NFS or a tunnel) have no syscall and no user memory; sendmmsg is its
 * own hook; other syscalls (writev, io_uring) the tracepoint path does
 * not see either, and the records are the same on both paths.
 */
static __always_inline int edr_dns_udp(struct sock *sk, int ret)
{
	long nr;
	__u8 sys;

	if (ret <= 0 || (bpf_get_current_task_btf()->flags & PF_KTHREAD))
		return 0;
	nr = edr_current_syscall();
	if (nr < 0 || nr >= EDR_SYSCALL_MAP)
		return 0;
	sys = edr_net_sysmap[nr];
	if (sys != EDR_SYS_SENDTO && sys != EDR_SYS_SENDMSG && sys != EDR_SYS_WRITE)
		return 0;
	return edr_dns_sys(sys, ret, sk);
}

SEC("fexit")
int BPF_PROG(edr_dx_udp, struct sock *sk, struct msghdr *msg, size_t len, int ret)
{
	/* An IPv6 socket sending to a v4-mapped address goes through
	 * udpv6_sendmsg into udp_sendmsg: its record is udpv6_sendmsg's. */
	if (sk->__sk_common.skc_family != AF_INET)
		return 0;
	return edr_dns_udp(sk, ret);
}

SEC("fexit")
int BPF_PROG(edr_dx_udp6, struct sock *sk, struct msghdr *msg, size_t len, int ret)
{
	return edr_dns_udp(sk, ret);
}

#endif /* EDR_FAST_NET_BPF_H */
