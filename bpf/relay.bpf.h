/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * relay.bpf.h - what fds 0..2 of a new image are, and what its parent
 * holds of them (issue 18, reverse shells over relays).
 *
 * A shell whose stdio are pipes or a unix socket pair is not talking to
 * the network itself: a relay is (socat EXEC:, a python or perl program
 * with subprocess pipes, nc at the end of a mkfifo pipeline). Userspace
 * cannot see who holds the other end of a pipe once the exec is over
 * (/proc is racy and per-event syscalls), so the exec record says it:
 * the type and inode of each stdio file (for a unix socket also the
 * peer's inode: both ends of a pipe share one inode, the two ends of a
 * socket pair do not), and, when stdin and stdout or stderr are pipes or
 * sockets, whether the parent holds their other ends and an internet
 * socket (the relay's connection). See docs/detections.md.
 */
#ifndef EDR_RELAY_BPF_H
#define EDR_RELAY_BPF_H

#include "common.bpf.h"
#include "sock.bpf.h"

#define S_IFIFO	     0010000
#define S_IFCHR	     0020000
#define S_IFREG	     0100000
#define PIPEFS_MAGIC 0x50495045 /* include/uapi/linux/magic.h */

/*
 * Fds of the parent looked at: a relay opens its connection and the
 * pipes to its child among its first descriptors. Bounds the loop.
 */
#define EDR_RELAY_SCAN_FDS 64

/* A terminal: tty (4), /dev/tty and ptmx (5), pts (136..143) majors. */
static __always_inline int edr_is_tty_major(__u32 major)
{
	return major == 4 || major == 5 || (major >= 136 && major <= 143);
}

/*
 * The type of @f (EDR_STDIO_T_*), its inode number in *ino and, for a
 * unix socket, its peer's socket inode in *peer (0 when unconnected).
 * For an internet socket *sk is its sock.
 */
static __always_inline __u8 edr_file_kind(struct file *f, __u64 *ino, __u64 *peer,
					  struct sock **inet)
{
	struct inode *in;
	struct socket *so;
	struct sock *sk;
	__u32 mode;
	__u16 family;

	if (!f)
		return EDR_STDIO_T_CLOSED;
	in = BPF_CORE_READ(f, f_inode);
	*ino = BPF_CORE_READ(in, i_ino);
	mode = BPF_CORE_READ(in, i_mode) & S_IFMT;
	if (mode == S_IFIFO)
		return BPF_CORE_READ(in, i_sb, s_magic) == PIPEFS_MAGIC ? EDR_STDIO_T_PIPE
									: EDR_STDIO_T_FIFO;
	if (mode == S_IFREG)
		return EDR_STDIO_T_FILE;
	if (mode == S_IFCHR)
		return edr_is_tty_major(BPF_CORE_READ(in, i_rdev) >> 20) ? EDR_STDIO_T_TTY
									 : EDR_STDIO_T_OTHER;
	if (mode != S_IFSOCK)
		return EDR_STDIO_T_OTHER;
	so = BPF_CORE_READ(f, private_data);
	sk = BPF_CORE_READ(so, sk);
	if (!sk)
		return EDR_STDIO_T_OTHER;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_INET || family == AF_INET6) {
		*inet = sk;
		return EDR_STDIO_T_INET;
	}
	if (family != AF_UNIX)
		return EDR_STDIO_T_OTHER;
	/* unix_sk(sk)->peer: struct unix_sock starts with its struct sock */
	{
		struct unix_sock *u = (struct unix_sock *)sk;

		sk = BPF_CORE_READ(u, peer);
	}
	if (sk)
		*peer = BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
	return EDR_STDIO_T_UNIX;
}

/* A pipe, FIFO or unix socket: a stream another process can be behind. */
static __always_inline int edr_relay_end(__u8 t)
{
	return t == EDR_STDIO_T_PIPE || t == EDR_STDIO_T_FIFO || t == EDR_STDIO_T_UNIX;
}

/* The parent's internet socket, as the record names it. */
static __always_inline void edr_relay_sock(struct edr_exec_stdio *r, struct sock *sk, __u64 ino)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	__builtin_memset(r->parent_sock_remote, 0, sizeof(r->parent_sock_remote));
	r->parent_sock_ino = ino;
	r->parent_sock_family = family;
	r->parent_sock_local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	r->parent_sock_remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		__u32 a = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(r->parent_sock_remote, &a, 4);
	} else {
		struct in6_addr a = BPF_CORE_READ(sk, __sk_common.skc_v6_daddr);

		__builtin_memcpy(r->parent_sock_remote, &a, 16);
	}
}

/*
 * Look through the first EDR_RELAY_SCAN_FDS fds of @parent: note its
 * first connected internet socket (else its first listener), and which
 * of @r's stdio pipes (same inode) or unix sockets (the peer's inode) it
 * holds the other end of.
 */
static __always_inline void edr_relay_scan(struct edr_exec_stdio *r, struct task_struct *parent)
{
	struct fdtable *fdt = BPF_CORE_READ(parent, files, fdt);
	struct file **slots;
	__u32 max, i, n;

	if (!fdt)
		return;
	slots = BPF_CORE_READ(fdt, fd);
	max = BPF_CORE_READ(fdt, max_fds);
	for (i = 0; i < EDR_RELAY_SCAN_FDS && i < max; i++) {
		struct sock *inet = NULL;
		struct file *f = NULL;
		__u64 ino = 0, peer = 0;
		__u8 t;

		bpf_probe_read_kernel(&f, sizeof(f), &slots[i]);
		if (!f)
			continue;
		t = edr_file_kind(f, &ino, &peer, &inet);
		/* a connected socket names the relay's peer; a listener does not */
		if (inet && (!r->parent_sock_ino || !r->parent_sock_remote_port)) {
			edr_relay_sock(r, inet, ino);
			continue;
		}
		for (n = 0; n < 3; n++) {
			__u8 mine = r->type[n];

			if ((mine == EDR_STDIO_T_PIPE || mine == EDR_STDIO_T_FIFO) && t == mine &&
			    ino == r->ino[n])
				r->parent_holds |= 1 << n;
			else if (mine == EDR_STDIO_T_UNIX && t == mine && ino == r->peer_ino[n])
				r->parent_holds |= 1 << n;
		}
	}
}

/*
 * Fill @r's relay block for the current task (the new image) and its
 * @parent. The parent is only looked at when commands can come in and
 * results go out through something other than a terminal or a file:
 * stdin and stdout or stderr each a pipe, FIFO or socket, one of them
 * not an internet socket (that case is the stdio-socket record's).
 */
static __always_inline void edr_relay_fill(struct edr_exec_stdio *r, struct task_struct *parent)
{
	struct sock *inet = NULL;
	__u32 n;
	__u8 in, out1, out2;

	__builtin_memset(r, 0, sizeof(*r));
	for (n = 0; n < 3; n++) {
		__u64 ino = 0, peer = 0;

		r->type[n] = edr_file_kind(edr_fd_file(n), &ino, &peer, &inet);
		r->ino[n] = ino;
		r->peer_ino[n] = peer;
	}
	in = r->type[0];
	out1 = r->type[1];
	out2 = r->type[2];
	if (!(edr_relay_end(in) || in == EDR_STDIO_T_INET))
		return;
	if (!(edr_relay_end(out1) || out1 == EDR_STDIO_T_INET || edr_relay_end(out2) ||
	      out2 == EDR_STDIO_T_INET))
		return;
	if (!(edr_relay_end(in) || edr_relay_end(out1) || edr_relay_end(out2)))
		return;
	r->scanned = 1;
	edr_relay_scan(r, parent);
}

#endif /* EDR_RELAY_BPF_H */
