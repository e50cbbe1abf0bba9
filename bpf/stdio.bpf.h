/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * stdio.bpf.h - is the current task talking to the network through its
 * standard streams? A shell reading commands from a socket and writing
 * results back to it is a reverse shell, whatever program connected it.
 *
 * The test is three fd-table lookups, so it runs where it is cheap: at
 * exec (the new image inherits the fds) and at the exit of a dup onto
 * fd 0..2 (the moment a process rewires itself). See stdio.bpf.c.
 */
#ifndef EDR_STDIO_BPF_H
#define EDR_STDIO_BPF_H

#include "common.bpf.h"
#include "sock.bpf.h"

/* An internet socket behind fd, or NULL. */
static __always_inline struct socket *edr_inet_socket(int fd)
{
	struct socket *so = edr_fd_socket(fd);
	struct sock *sk;
	__u16 family;

	if (!so)
		return NULL;
	sk = BPF_CORE_READ(so, sk);
	if (!sk)
		return NULL;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	return family == AF_INET || family == AF_INET6 ? so : NULL;
}

/* Commands in and results out: stdin and one of stdout or stderr. */
static __always_inline int edr_stdio_shell_like(__u32 fds)
{
	return (fds & 1) && (fds & 6);
}

/*
 * Report the current task when its stdin and stdout or stderr are
 * internet sockets. newfd >= 0: the fd a dup just made; only report when
 * that dup is what completed the picture (dup2 onto 0, 1 and 2 in turn
 * reports once, at 1). newfd < 0: at exec, report whenever it holds.
 */
static __always_inline void edr_stdio_check(__u16 syscall, int newfd)
{
	struct socket *in = edr_inet_socket(0);
	struct edr_stdio *rec;
	struct sock *sk;
	__u32 fds = 0;

	if (!in)
		return;
	fds = 1;
	if (edr_inet_socket(1))
		fds |= 2;
	if (edr_inet_socket(2))
		fds |= 4;
	if (!edr_stdio_shell_like(fds))
		return;
	if (newfd >= 0 && edr_stdio_shell_like(fds & ~(1u << newfd)))
		return;

	rec = edr_reserve(sizeof(*rec), EDR_KIND_STDIO_SOCKET);
	if (!rec)
		return;
	edr_hdr_init(&rec->hdr, EDR_KIND_STDIO_SOCKET, sizeof(*rec));
	__builtin_memset(rec->local_addr, 0, sizeof(rec->local_addr));
	__builtin_memset(rec->remote_addr, 0, sizeof(rec->remote_addr));
	/*
	 * The inode names the connection for good; the local port does not
	 * (it reads 0 once the peer has closed and the port is released).
	 */
	rec->ino = BPF_CORE_READ(in, file, f_inode, i_ino);
	sk = BPF_CORE_READ(in, sk);
	edr_sock_ends(rec, sk);
	rec->syscall = syscall;
	rec->fds = fds;
	rec->newfd = newfd >= 0 ? newfd : 0xff;
	rec->pad0 = 0;
	edr_submit(rec);
}

#endif /* EDR_STDIO_BPF_H */
