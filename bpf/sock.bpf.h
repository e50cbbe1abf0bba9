/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sock.bpf.h - sockets behind the current task's fds, for the network
 * records (net.bpf.c) and the stdio-socket check (stdio.bpf.h).
 */
#ifndef EDR_SOCK_BPF_H
#define EDR_SOCK_BPF_H

#include "common.bpf.h"

#define AF_UNIX	 1
#define AF_INET	 2
#define AF_INET6 10
#define S_IFMT	 00170000
#define S_IFSOCK 0140000

/* The socket behind an fd, or NULL when it is not one. */
static __always_inline struct socket *edr_fd_socket(int fd)
{
	struct file *f = edr_fd_file(fd);

	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	return BPF_CORE_READ(f, private_data);
}

/*
 * Family, type, protocol and both ends as the socket sees them, into any
 * record with the fields of struct edr_net's socket part (edr_net,
 * edr_stdio): a macro because the two records order them differently.
 * IPv6 addresses are read as whole structs: BPF_CORE_READ_INTO on an
 * array would read one byte.
 */
#define edr_sock_ends(rec, sk)                                                                     \
	do {                                                                                       \
		(rec)->family = BPF_CORE_READ(sk, __sk_common.skc_family);                         \
		(rec)->sock_type = BPF_CORE_READ(sk, sk_type);                                     \
		(rec)->protocol = BPF_CORE_READ(sk, sk_protocol);                                  \
		(rec)->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);                        \
		(rec)->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));          \
		if ((rec)->family == AF_INET) {                                                    \
			__u32 l_ = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);                   \
			__u32 r_ = BPF_CORE_READ(sk, __sk_common.skc_daddr);                       \
                                                                                                   \
			__builtin_memcpy((rec)->local_addr, &l_, 4);                               \
			__builtin_memcpy((rec)->remote_addr, &r_, 4);                              \
		} else if ((rec)->family == AF_INET6) {                                            \
			struct in6_addr l_ = BPF_CORE_READ(sk, __sk_common.skc_v6_rcv_saddr);      \
			struct in6_addr r_ = BPF_CORE_READ(sk, __sk_common.skc_v6_daddr);          \
                                                                                                   \
			__builtin_memcpy((rec)->local_addr, &l_, 16);                              \
			__builtin_memcpy((rec)->remote_addr, &r_, 16);                             \
		}                                                                                  \
	} while (0)

#endif /* EDR_SOCK_BPF_H */
