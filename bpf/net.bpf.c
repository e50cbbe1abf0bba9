// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * net.bpf.c - socket operations (connect, bind, listen, accept) and DNS
 * queries. Loaded only when the network family is enabled in config.
 *
 * Like file.bpf.c: one program per concern, attached to the exit
 * tracepoint of each hooked syscall (tracepoint/syscalls/sys_exit_*,
 * v2.6.33), dispatching on the syscall number through a map the loader
 * fills; arguments come from the saved user registers.
 *
 * Addresses: the local end is read from the socket (struct sock_common),
 * which the kernel has bound by the syscall's exit; the remote end of a
 * connect is the caller's sockaddr (the socket's own peer for accept).
 */
#include "common.bpf.h"
#include "sock.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define IPPROTO_UDP 17
#define EINPROGRESS 115
#define DNS_PORT    53

/* data is a power of two above EDR_NET_DATA_MAX so masked lengths fit. */
struct edr_net_buf {
	struct edr_net rec;
	__u8 data[1024];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct edr_net_buf);
} edr_net_scratch SEC(".maps");

/* Excluded service ports: a 65536-bit bitmap, 64 ports per entry. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 65536 / 64);
	__type(key, __u32);
	__type(value, __u64);
} edr_net_ports SEC(".maps");

/* Excluded peer networks (IPv4 as ::ffff:a.b.c.d), filled by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct edr_net_key);
	__type(value, __u8);
} edr_net_nets SEC(".maps");

/* Syscall number -> EDR_SYS_*, filled by the loader; 0: not handled. */
const volatile __u8 edr_net_sysmap[EDR_SYSCALL_MAP] = {};

/*
 * The remote end from a caller's sockaddr (connect, sendto). Returns the
 * end of the data used (a unix path goes to data[off]).
 */
static __always_inline __u32 edr_user_sockaddr(struct edr_net_buf *b, __u32 off, const void *uaddr,
					       __u32 ulen)
{
	__u16 family = 0;

	if (!uaddr || bpf_probe_read_user(&family, sizeof(family), uaddr)) {
		b->rec.flags |= EDR_NET_F_ADDR_FAULT;
		return off;
	}
	if (family == AF_INET) {
		struct sockaddr_in in = {};

		bpf_probe_read_user(&in, sizeof(in), uaddr);
		b->rec.remote_port = bpf_ntohs(in.sin_port);
		__builtin_memcpy(b->rec.remote_addr, &in.sin_addr, 4);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 in6 = {};

		bpf_probe_read_user(&in6, sizeof(in6), uaddr);
		b->rec.remote_port = bpf_ntohs(in6.sin6_port);
		__builtin_memcpy(b->rec.remote_addr, &in6.sin6_addr, 16);
	} else if (family == AF_UNIX && ulen > 2) {
		/* sun_path: ulen - 2 bytes, possibly without a NUL */
		__u32 n = ulen - 2;

		if (n > EDR_UNIX_PATH_MAX)
			n = EDR_UNIX_PATH_MAX;
		/* keep the compiler on the bounded copy the verifier can see */
		barrier_var(n);
		n &= 127;
		if (off > EDR_DNS_MAX)
			return off;
		bpf_probe_read_user(&b->data[off], n, uaddr + 2);
		b->rec.unix_path.off = off;
		b->rec.unix_path.len = n;
		return off + n;
	}
	return off;
}

/* IPv4 goes in as ::ffff:a.b.c.d, so one trie holds both families. */
static __always_inline int edr_net_excluded(struct edr_net *rec, const __u8 *addr, __u16 port)
{
	__u32 key = port / 64;
	__u64 *bits = bpf_map_lookup_elem(&edr_net_ports, &key);
	struct edr_net_key nk = {.prefixlen = 128};

	if (bits && (*bits & (1ULL << (port % 64))))
		return 1;
	if (rec->family == AF_INET) {
		nk.addr[10] = 0xff;
		nk.addr[11] = 0xff;
		__builtin_memcpy(&nk.addr[12], addr, 4);
	} else if (rec->family == AF_INET6) {
		__builtin_memcpy(nk.addr, addr, 16);
	} else {
		return 0;
	}
	return bpf_map_lookup_elem(&edr_net_nets, &nk) != NULL;
}

static __always_inline void edr_net_send(struct edr_net_buf *b, __u16 kind, __u32 off)
{
	__u32 size = sizeof(b->rec) + off;

	edr_hdr_init(&b->rec.hdr, kind, size);
	if (size <= sizeof(*b))
		edr_output(b, size, kind);
}

static __always_inline struct edr_net_buf *edr_net_buf_get(void)
{
	__u32 zero = 0;
	struct edr_net_buf *b = bpf_map_lookup_elem(&edr_net_scratch, &zero);

	if (b) {
		__builtin_memset(&b->rec, 0, sizeof(b->rec));
	}
	return b;
}

/*
 * The network decoder, shared by both paths so their records are one:
 * connect, bind, listen, accept, accept4 at the syscall's exit, with the
 * syscall's id and return value; the arguments come from the task's saved
 * user registers, which the exit tracepoint and an fexit program on the
 * syscall's own function both see.
 */
static __always_inline int edr_net_sys(__u8 sys, long ret)
{
	struct edr_net_buf *b;
	struct socket *sock;
	struct pt_regs *r;
	struct sock *sk;
	__u16 kind, port;
	__u32 off = 0;
	const __u8 *peer;
	int fd;

	switch (sys) {
	case EDR_SYS_CONNECT:
		kind = EDR_KIND_NET_CONNECT;
		break;
	case EDR_SYS_BIND:
		kind = EDR_KIND_NET_BIND;
		break;
	case EDR_SYS_LISTEN:
		kind = EDR_KIND_NET_LISTEN;
		break;
	case EDR_SYS_ACCEPT:
	case EDR_SYS_ACCEPT4:
		kind = EDR_KIND_NET_ACCEPT;
		break;
	default:
		return 0;
	}
	if (edr_is_self(bpf_get_current_pid_tgid() >> 32))
		return 0;
	/* A non-blocking connect that is under way counts as made. */
	if (ret < 0 && !(kind == EDR_KIND_NET_CONNECT && ret == -EINPROGRESS)) {
		edr_count_failed(kind);
		return 0;
	}

	r = edr_user_regs();
	fd = kind == EDR_KIND_NET_ACCEPT ? ret : ARG(r, 1);
	sock = edr_fd_socket(fd);
	if (!sock)
		return 0;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	b = edr_net_buf_get();
	if (!b)
		return 0;
	edr_sock_ends(&b->rec, sk);
	if (b->rec.family >= 32 || !(edr_cfg.net_families & (1U << b->rec.family))) {
		edr_count_filtered(kind);
		return 0;
	}
	b->rec.ret = ret;
	b->rec.syscall = sys;
	if (ret < 0)
		b->rec.flags |= EDR_NET_F_IN_PROGRESS;

	/* The caller's address says more than the socket for these two. */
	if (kind == EDR_KIND_NET_CONNECT)
		off = edr_user_sockaddr(b, off, (const void *)ARG(r, 2), ARG(r, 3));
	if (kind == EDR_KIND_NET_BIND && b->rec.family == AF_UNIX) {
		off = edr_user_sockaddr(b, off, (const void *)ARG(r, 2), ARG(r, 3));
		/* a bound unix path is the local end */
	}

	/* Filter on the service port and the peer (the bound address for
	 * bind/listen, the other end for connect/accept). */
	if (kind == EDR_KIND_NET_CONNECT) {
		port = b->rec.remote_port;
		peer = b->rec.remote_addr;
	} else if (kind == EDR_KIND_NET_ACCEPT) {
		port = b->rec.local_port;
		peer = b->rec.remote_addr;
	} else {
		port = b->rec.local_port;
		peer = b->rec.local_addr;
	}
	if (edr_net_excluded(&b->rec, peer, port)) {
		edr_count_filtered(kind);
		return 0;
	}
	edr_net_send(b, kind, off);
	return 0;
}

/*
 * sys_exit of connect, bind, listen, accept, accept4: one program for
 * all, attached to each syscall's exit tracepoint
 * (struct trace_event_raw_sys_exit: id = syscall number, ret).
 */
SEC("tracepoint/syscalls/sys_exit_connect")
int edr_net(struct trace_event_raw_sys_exit *ctx)
{
	long nr = ctx->id;

	if (nr < 0 || nr >= EDR_SYSCALL_MAP)
		return 0;
	return edr_net_sys(edr_net_sysmap[nr], ctx->ret);
}

/*
 * The DNS decoder, shared by both paths: a DNS query is a UDP datagram to
 * port 53 sent by sendto, sendmsg, sendmmsg or write. sk is the socket
 * when the hook has it (udp_sendmsg), NULL to look it up from the fd;
 * anything that is not a UDP socket returns there.
 */
static __always_inline int edr_dns_sys(__u8 sys, long ret, struct sock *sk)
{
	const void *buf = NULL, *uaddr = NULL;
	struct edr_net_buf *b;
	struct pt_regs *r;
	__u32 ulen = 0, n;

	if (ret <= 0 || sys < EDR_SYS_SENDTO || sys > EDR_SYS_WRITE)
		return 0;
	if (edr_is_self(bpf_get_current_pid_tgid() >> 32))
		return 0;
	r = edr_user_regs();
	if (!sk) {
		struct socket *sock = edr_fd_socket(ARG(r, 1));

		if (!sock)
			return 0;
		sk = BPF_CORE_READ(sock, sk);
	}
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP)
		return 0;

	if (sys == EDR_SYS_SENDTO) {
		buf = (const void *)ARG(r, 2);
		uaddr = (const void *)ARG(r, 5);
		ulen = ARG(r, 6);
	} else if (sys == EDR_SYS_WRITE) {
		buf = (const void *)ARG(r, 2);
	} else {
		/* sendmsg(fd, msg) / sendmmsg(fd, msgvec, ...): the first message */
		struct user_msghdr msg = {};
		struct iovec iov = {};

		bpf_probe_read_user(&msg, sizeof(msg), (const void *)ARG(r, 2));
		uaddr = msg.msg_name;
		ulen = msg.msg_namelen;
		bpf_probe_read_user(&iov, sizeof(iov), msg.msg_iov);
		buf = iov.iov_base;
		if (sys == EDR_SYS_SENDMMSG)
			ret = iov.iov_len; /* the return value counts messages */
		else if (iov.iov_len < (__u64)ret)
			ret = iov.iov_len;
	}

	b = edr_net_buf_get();
	if (!b)
		return 0;
	edr_sock_ends(&b->rec, sk);
	if (uaddr)
		edr_user_sockaddr(b, 0, uaddr, ulen);
	if (b->rec.remote_port != DNS_PORT)
		return 0;
	if (b->rec.family >= 32 || !(edr_cfg.net_families & (1U << b->rec.family))) {
		edr_count_filtered(EDR_KIND_NET_DNS);
		return 0;
	}
	b->rec.ret = ret;
	b->rec.syscall = sys;
	n = ret > 0 ? ret : 0;
	if (n > EDR_DNS_MAX) {
		n = EDR_DNS_MAX;
		b->rec.flags |= EDR_NET_F_PAYLOAD_TRUNC;
	}
	barrier_var(n);
	n &= 1023;
	if (bpf_probe_read_user(b->data, n, buf))
		n = 0;
	b->rec.payload.off = 0;
	b->rec.payload.len = n;
	edr_net_send(b, EDR_KIND_NET_DNS, n);
	return 0;
}

/*
 * sys_exit of sendto, sendmsg, sendmmsg, write: attached only with
 * `collect_dns` on the tracepoint path.
 */
SEC("tracepoint/syscalls/sys_exit_sendto")
int edr_dns(struct trace_event_raw_sys_exit *ctx)
{
	long nr = ctx->id;

	if (nr < 0 || nr >= EDR_SYSCALL_MAP)
		return 0;
	return edr_dns_sys(edr_net_sysmap[nr], ctx->ret, NULL);
}

#include "fast_net.bpf.h"
