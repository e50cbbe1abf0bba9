/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * edr_abi.h - the one kernel/userspace ABI of rand-guard.
 *
 * Every record the BPF programs put in the ring buffer starts with
 * struct edr_hdr. Userspace (src/abi.rs) mirrors each struct with a
 * #[repr(C)] type and proves the sizes and field offsets against the BTF
 * of the compiled object, so a change here that is not made there fails
 * the build or the tests.
 *
 * Rules (see STYLE.md): only __u8..__u64 and fixed arrays sized by the
 * defines below; explicit pad fields; no bool, long, pointers, bitfields
 * or packed. Kinds are fixed numbers, grouped by family, never reused.
 * A layout change bumps EDR_ABI_VERSION.
 */
#ifndef EDR_ABI_H
#define EDR_ABI_H

#define EDR_ABI_VERSION 11

/* Lengths. Variable-length data is sent as used bytes only. */
#define EDR_COMM_LEN 16	  /* TASK_COMM_LEN */
#define EDR_PATH_MAX 4096 /* PATH_MAX: bytes of one path, NUL included */
#define EDR_ARGS_MAX 8192 /* bytes of the NUL-separated argv area we copy */

/*
 * Record kinds. Families own ranges: process 1..15, file 16..31,
 * network 32..47. EDR_KIND_MAX sizes the per-kind counter arrays.
 * (Enums, not defines, so the values reach BTF and src/abi.rs can check
 * its copies against the compiled object.)
 */
enum edr_kind {
	EDR_KIND_EXEC = 1,
	EDR_KIND_FORK = 2,
	EDR_KIND_EXIT = 3,
	EDR_KIND_STDIO_SOCKET = 4,  /* stdin and stdout/stderr are internet sockets */
	EDR_KIND_SIGNAL = 5,	    /* a signal sent to the agent by another process */
	EDR_KIND_EXEC_ENV = 6,	    /* dynamic-linker variables in a new image's environment */
	EDR_KIND_FILE_OPEN = 16,    /* open for write/create/truncate, or a watched read */
	EDR_KIND_FILE_UNLINK = 17,  /* unlink, unlinkat, rmdir */
	EDR_KIND_FILE_RENAME = 18,  /* rename, renameat, renameat2 */
	EDR_KIND_FILE_CHMOD = 19,   /* chmod, fchmod, fchmodat, fchmodat2 */
	EDR_KIND_FILE_CHOWN = 20,   /* chown, lchown, fchown, fchownat */
	EDR_KIND_FILE_LINK = 21,    /* link, linkat (hard links) */
	EDR_KIND_FILE_SYMLINK = 22, /* symlink, symlinkat */
	EDR_KIND_FILE_EXEC = 23,    /* execve, execveat refused with ENOEXEC (no #!) */
	/* the setxattr family; the removexattr family */
	EDR_KIND_FILE_SETXATTR = 24,
	EDR_KIND_FILE_REMOVEXATTR = 25,
	EDR_KIND_NET_CONNECT = 32, /* connect (also in progress) */
	EDR_KIND_NET_BIND = 33,
	EDR_KIND_NET_LISTEN = 34,
	EDR_KIND_NET_ACCEPT = 35, /* accept, accept4 */
	EDR_KIND_NET_DNS = 36,	  /* a UDP datagram to port 53 */
	EDR_KIND_MAX = 64,
};

/* The header every record starts with. */
struct edr_hdr {
	__u16 kind;	  /* EDR_KIND_* */
	__u8 abi_version; /* EDR_ABI_VERSION of the producing object */
	__u8 pad0;
	__u32 size;	/* bytes of the whole record, header included */
	__u64 ktime_ns; /* CLOCK_BOOTTIME when the record was made */
	__u32 pid;	/* kernel task id of the current thread */
	__u32 tgid;	/* process id (thread group id) */
};

/*
 * A byte range [off, off + len) in the data that follows a record's
 * fixed part. Strings are sent without their terminating NUL.
 */
struct edr_slice {
	__u16 off;
	__u16 len;
};

/* edr_exec.flags: which pieces were cut at their bound, or are missing. */
enum edr_exec_flag {
	EDR_EXEC_F_FILENAME_TRUNC = 1 << 0,
	EDR_EXEC_F_EXE_TRUNC = 1 << 1,
	EDR_EXEC_F_CWD_TRUNC = 1 << 2,
	EDR_EXEC_F_ARGS_TRUNC = 1 << 3,
	EDR_EXEC_F_ARGS_FAULT = 1 << 4,	  /* argv pages could not be read */
	EDR_EXEC_F_EXE_DETACHED = 1 << 5, /* exe has no path (memfd, ...) */
};

/* edr_exec_stdio.type[n]: what fd n of a new image is. */
enum edr_stdio_type {
	EDR_STDIO_T_CLOSED = 0,
	EDR_STDIO_T_PIPE = 1,  /* an anonymous pipe (pipefs) */
	EDR_STDIO_T_FIFO = 2,  /* a named pipe (mkfifo) */
	EDR_STDIO_T_UNIX = 3,  /* a unix socket */
	EDR_STDIO_T_INET = 4,  /* an AF_INET or AF_INET6 socket */
	EDR_STDIO_T_TTY = 5,   /* a terminal (tty, pts, ptmx, /dev/tty) */
	EDR_STDIO_T_FILE = 6,  /* a regular file */
	EDR_STDIO_T_OTHER = 7, /* another device, socket family or file type */
};

/*
 * Relay evidence (issue 18, reverse shells over relays; bpf/relay.bpf.h):
 * fds 0..2 of the new image and, when stdin and stdout or stderr are
 * pipes or sockets (not all internet sockets), what the parent holds of
 * them: the other ends and an internet socket. A block of its own in
 * struct edr_exec.
 */
struct edr_exec_stdio {
	__u64 ino[3];		     /* inode number of fd n's file; 0: closed */
	__u64 peer_ino[3];	     /* unix socket: the peer socket's inode; 0: none */
	__u64 parent_sock_ino;	     /* parent's connected (else listening) inet socket */
	__u8 parent_sock_remote[16]; /* its remote address, as in struct edr_net */
	__u16 parent_sock_family;    /* AF_INET, AF_INET6 */
	__u16 parent_sock_local_port;
	__u16 parent_sock_remote_port;
	__u8 type[3];	   /* EDR_STDIO_T_* of fd n */
	__u8 parent_holds; /* bit n: the parent holds the other end of fd n */
	__u8 scanned;	   /* 1: the parent's fds were looked at */
	__u8 pad[5];
};

/*
 * A successful execve/execveat, at sched_process_exec. The fixed part is
 * followed by data[] holding the slices; hdr.size counts both.
 */
struct edr_exec {
	struct edr_hdr hdr;
	__u64 start_ns;	       /* task->start_boottime: (tgid, start) names a process */
	__u64 parent_start_ns; /* real parent's start_boottime */
	__u64 cgroup_id;       /* cgroup v2 id of the task */
	__u32 ppid;	       /* real parent's tgid */
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 egid;
	__u32 auid;	 /* loginuid; 0xffffffff when unset */
	__u32 sessionid; /* audit session; 0xffffffff when unset */
	__u32 argc;	 /* argument count the kernel saw */
	__u32 flags;	 /* EDR_EXEC_F_* */
	/* Namespace inode numbers (what the /proc/PID/ns links name) */
	__u32 pid_ns; /* pid namespace of the task's children: its own unless it unshared one */
	__u32 mnt_ns;
	__u32 net_ns;
	__u32 uts_ns;
	__u32 pad0;
	char comm[EDR_COMM_LEN];
	struct edr_slice filename; /* path as passed to execve (bprm->filename) */
	struct edr_slice cwd;	   /* working directory, sent with every exec */
	struct edr_slice exe;	   /* path of the image the kernel runs (interpreter for scripts) */
	struct edr_slice args;	   /* argv, NUL-separated, each arg NUL-terminated */
	/*
	 * Executed file identity (issue 18, hashing short-lived processes):
	 * the inode of bprm->file as the kernel saw it at exec. The agent
	 * hashes the exe path after the process is gone only if the file it
	 * opens has this identity.
	 */
	__u64 exe_dev;	     /* inode->i_sb->s_dev (MKDEV: major << 20 | minor) */
	__u64 exe_ino;	     /* inode->i_ino */
	__s64 exe_ctime_sec; /* inode change time */
	__u32 exe_ctime_nsec;
	__u32 pad1;
	__u64 exe_size; /* inode->i_size */
	/* relay evidence (issue 18 item 4): keep this block together */
	struct edr_exec_stdio stdio;
};

/* Upper bound of the data that can follow struct edr_exec. */
#define EDR_EXEC_DATA_MAX (3 * EDR_PATH_MAX + EDR_ARGS_MAX)

/*
 * exec_env (issue 18, T1574.006): the dynamic-linker variables that make
 * ld.so load code into a program (LD_PRELOAD=, LD_AUDIT=, and with them
 * LD_LIBRARY_PATH=, where a bare library name is looked for), found in
 * the new image's environment at sched_process_exec. Sent only when
 * LD_PRELOAD= or LD_AUDIT= is present or the scan could not finish (both
 * rare; LD_LIBRARY_PATH= alone sends nothing), right BEFORE the
 * edr_exec record of the same exec, so userspace can attach it to that
 * record (same tgid and start_ns). The scan reads at most
 * EDR_ENV_SCAN_MAX pieces of at most EDR_ENV_READ bytes (a string longer
 * than that takes several); what was left unread is counted, never
 * silently skipped.
 */
#define EDR_ENV_READ	  2048 /* bytes of one read: a matched string is cut here */
#define EDR_ENV_SCAN_MAX  1024 /* reads per exec: strings (or 4 KiB pieces) scanned */
#define EDR_ENV_MATCH_MAX 4    /* matched strings sent; later ones set MATCH_TRUNC */

enum edr_env_flag {
	EDR_ENV_F_CUT = 1 << 0,		/* EDR_ENV_SCAN_MAX reached before env_end */
	EDR_ENV_F_FAULT = 1 << 1,	/* an environment page could not be read */
	EDR_ENV_F_VALUE_TRUNC = 1 << 2, /* a matched string was cut at EDR_ENV_READ - 1 */
	EDR_ENV_F_MATCH_TRUNC = 1 << 3, /* more than EDR_ENV_MATCH_MAX matched */
};

struct edr_exec_env {
	struct edr_hdr hdr;
	__u64 start_ns;	       /* task->start_boottime, as in the edr_exec that follows */
	__u32 flags;	       /* EDR_ENV_F_* */
	__u32 strings;	       /* environment strings scanned to their end */
	__u32 unscanned_bytes; /* bytes of the environment not scanned (CUT, FAULT) */
	__u16 count;	       /* matched strings in vars */
	__u16 pad0;
	struct edr_slice vars; /* "NAME=value" strings, each NUL-terminated */
	__u32 pad1;
};

#define EDR_ENV_DATA_MAX (EDR_ENV_MATCH_MAX * EDR_ENV_READ)

/* A new process (not a thread), at sched_process_fork. hdr is the parent. */
struct edr_fork {
	struct edr_hdr hdr;
	__u64 child_start_ns;
	__u64 parent_start_ns; /* the forking process's start_boottime */
	__u32 child_pid;       /* tgid of the new process */
	__u32 child_ppid;      /* its real parent: hdr.tgid unless CLONE_PARENT */
};

/* The last thread of a process exited, at sched_process_exit. */
struct edr_exit {
	struct edr_hdr hdr;
	__u64 start_ns;
	__u32 exit_code; /* wait(2) status: (status << 8) | core 0x80 | signal */
	__u32 ppid;
	char comm[EDR_COMM_LEN];
};

/* The syscall behind a file record. */
enum edr_file_syscall {
	EDR_SYS_OPEN = 1,
	EDR_SYS_OPENAT = 2,
	EDR_SYS_OPENAT2 = 3,
	EDR_SYS_CREAT = 4,
	EDR_SYS_UNLINK = 5,
	EDR_SYS_UNLINKAT = 6,
	EDR_SYS_RMDIR = 7,
	EDR_SYS_RENAME = 8,
	EDR_SYS_RENAMEAT = 9,
	EDR_SYS_RENAMEAT2 = 10,
	EDR_SYS_CHMOD = 11,
	EDR_SYS_FCHMOD = 12,
	EDR_SYS_FCHMODAT = 13,
	EDR_SYS_FCHMODAT2 = 14,
	EDR_SYS_CHOWN = 15,
	EDR_SYS_LCHOWN = 16,
	EDR_SYS_FCHOWN = 17,
	EDR_SYS_FCHOWNAT = 18,
	EDR_SYS_LINK = 19,
	EDR_SYS_LINKAT = 20,
	EDR_SYS_SYMLINK = 21,
	EDR_SYS_SYMLINKAT = 22,
	EDR_SYS_OPEN_BY_HANDLE_AT = 23,
	EDR_SYS_FILE_EXECVE = 24,   /* ENOEXEC only (EDR_KIND_FILE_EXEC) */
	EDR_SYS_FILE_EXECVEAT = 25, /* likewise */
	EDR_SYS_SETXATTR = 26,
	EDR_SYS_LSETXATTR = 27,
	EDR_SYS_FSETXATTR = 28,
	EDR_SYS_REMOVEXATTR = 29,
	EDR_SYS_LREMOVEXATTR = 30,
	EDR_SYS_FREMOVEXATTR = 31,
	/* Linux 6.13; after the network ids, in the same id space */
	EDR_SYS_SETXATTRAT = 41,
	EDR_SYS_REMOVEXATTRAT = 42,
};

/* The syscall behind a network record (one id space with the file ones). */
enum edr_net_syscall {
	EDR_SYS_CONNECT = 32,
	EDR_SYS_BIND = 33,
	EDR_SYS_LISTEN = 34,
	EDR_SYS_ACCEPT = 35,
	EDR_SYS_ACCEPT4 = 36,
	EDR_SYS_SENDTO = 37,
	EDR_SYS_SENDMSG = 38,
	EDR_SYS_SENDMMSG = 39,
	EDR_SYS_WRITE = 40,
};

/* The syscall behind a stdio-socket record (same id space). */
enum edr_stdio_syscall {
	EDR_SYS_EXECVE = 48, /* at exec: the new image starts with socket stdio */
	EDR_SYS_DUP = 49,
	EDR_SYS_DUP2 = 50,
	EDR_SYS_DUP3 = 51,
};

/* edr_file.flags */
enum edr_file_flag {
	EDR_FILE_F_PATH_TRUNC = 1 << 0,	   /* path or its directory cut at a bound */
	EDR_FILE_F_PATH2_TRUNC = 1 << 1,   /* likewise for the second path */
	EDR_FILE_F_PATH_FAULT = 1 << 2,	   /* the path could not be read at exit: never filtered */
	EDR_FILE_F_PATH2_FAULT = 1 << 3,   /* likewise for the second path */
	EDR_FILE_F_UNFILTERED = 1 << 4,	   /* a ".." or an over-long path: userspace filters */
	EDR_FILE_F_PATH_RESOLVED = 1 << 5, /* path came from the file's dentry */
};

/*
 * A file operation, at the syscall's exit. Each path operand is either
 * resolved from a dentry (absolute; dir empty) or the string the caller
 * passed plus, when that string is relative, the resolved directory it is
 * relative to (the cwd or the dirfd). For a symlink, path is the link's
 * target text and path2 the link itself; for rename and link, path is
 * the old name and path2 the new one.
 *
 * For an extended attribute (EDR_KIND_FILE_SETXATTR, _REMOVEXATTR): path
 * is the file, path2 the attribute's name (text), open_flags the
 * XATTR_CREATE/XATTR_REPLACE flags, mode the value's size; for
 * security.capability only, dir2 holds the value's first
 * EDR_XATTR_VALUE_MAX bytes (struct vfs_ns_cap_data: the capability sets
 * and, in revision 3, the user namespace's root uid).
 */
struct edr_file {
	struct edr_hdr hdr;
	__s64 ret;	  /* syscall return value (fd, 0, or -errno) */
	__u64 open_flags; /* open flags (openat2: how.flags) */
	__u32 mode;	  /* open/creat/chmod mode */
	__u32 uid;	  /* chown owner, 0xffffffff: unchanged */
	__u32 gid;	  /* chown group, 0xffffffff: unchanged */
	__u32 at_flags;	  /* unlinkat/renameat2/linkat/fchownat/fchmodat2 flags */
	__u32 flags;	  /* EDR_FILE_F_* */
	__u16 syscall;	  /* EDR_SYS_* */
	__u16 read_watch; /* read-only open of a watched inode: its edr_read_watch value */
	struct edr_slice dir;
	struct edr_slice path;
	struct edr_slice dir2;
	struct edr_slice path2;
};

#define EDR_FILE_DATA_MAX (4 * EDR_PATH_MAX)

#define EDR_XATTR_VALUE_MAX 24 /* sizeof(struct vfs_ns_cap_data) */

/* Syscall numbers below this map to EDR_SYS_* (edr_file_sysmap). */
#define EDR_SYSCALL_MAP 512

/* edr_net.flags */
enum edr_net_flag {
	EDR_NET_F_PATH_TRUNC = 1 << 0,	  /* a unix socket path was cut */
	EDR_NET_F_PAYLOAD_TRUNC = 1 << 1, /* the datagram is longer than EDR_DNS_MAX */
	EDR_NET_F_ADDR_FAULT = 1 << 2,	  /* the caller's sockaddr could not be read */
	EDR_NET_F_IN_PROGRESS = 1 << 3,	  /* connect returned EINPROGRESS */
};

#define EDR_UNIX_PATH_MAX 108 /* sizeof(sun_path) */
#define EDR_DNS_MAX	  512 /* bytes of a DNS datagram copied */

/*
 * A socket operation at the syscall's exit. Addresses are IPv4 in the
 * first 4 bytes or IPv6 in all 16, network byte order; ports are host
 * order. For a unix socket, unix_path holds sun_path (an abstract name
 * keeps its leading NUL). For a DNS record, payload holds the datagram.
 */
struct edr_net {
	struct edr_hdr hdr;
	__s64 ret;
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 family;	 /* AF_INET, AF_INET6, AF_UNIX */
	__u16 sock_type; /* SOCK_STREAM, SOCK_DGRAM, ... */
	__u16 protocol;	 /* IPPROTO_TCP, IPPROTO_UDP, ... */
	__u16 syscall;	 /* EDR_SYS_* */
	__u16 local_port;
	__u16 remote_port;
	__u32 flags; /* EDR_NET_F_* */
	struct edr_slice unix_path;
	struct edr_slice payload;
};

#define EDR_NET_DATA_MAX (EDR_UNIX_PATH_MAX + EDR_DNS_MAX)

/*
 * A process whose stdin and stdout or stderr are internet (AF_INET,
 * AF_INET6) sockets: what a reverse shell looks like from inside. Sent at
 * exec when the new image starts that way, and at the exit of a dup,
 * dup2 or dup3 onto fd 0..2 that completes it. The socket described is
 * the one on stdin; addresses and ports as in struct edr_net.
 */
struct edr_stdio {
	struct edr_hdr hdr;
	__u64 ino; /* the socket's inode number: socket:[ino] in /proc/PID/fd */
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 family;	 /* AF_INET, AF_INET6 */
	__u16 sock_type; /* SOCK_STREAM, SOCK_DGRAM, ... */
	__u16 protocol;	 /* IPPROTO_TCP, IPPROTO_UDP, ... */
	__u16 syscall;	 /* EDR_SYS_EXECVE, EDR_SYS_DUP* */
	__u16 local_port;
	__u16 remote_port;
	__u8 fds;   /* bit n set: fd n (0..2) is an internet socket */
	__u8 newfd; /* dup*: the fd it made (0..2); exec: 0xff */
	__u16 pad0;
};

/*
 * A signal sent to the agent by another process (kill, tkill, tgkill,
 * rt_sigqueueinfo, pidfd_send_signal), at signal_generate. hdr is the
 * sender; the kernel's own signals (timers, SIGPIPE, faults) are not
 * reported.
 */
struct edr_signal {
	struct edr_hdr hdr;
	__u64 target_start_ns; /* the agent's start_boottime */
	__u32 target_pid;      /* the thread signalled */
	__u32 target_tgid;
	__s32 sig;
	__s32 code;   /* si_code: SI_USER 0, SI_QUEUE -1, SI_TKILL -6 */
	__s32 result; /* TRACE_SIGNAL_*: 0 delivered, 1 ignored, 2 already pending, ... */
	__u32 pad0;
};

/* Kernel network address filter: an LPM trie over IPv6 (IPv4 mapped). */
struct edr_net_key {
	__u32 prefixlen; /* in bits */
	__u8 addr[16];
};

/*
 * Kernel path-prefix filter: an LPM trie over the first EDR_PREFIX_MAX
 * bytes of the absolute path. Each configured prefix P is stored as "P/"
 * (everything below it) and "P\0" (P itself); the longest match decides.
 * Each proper ancestor directory A of a prefix is stored as "A/" too, with
 * the verdict the other entries give below it (0: none). The value's low
 * byte is the verdict; EDR_PREFIX_F_NOCACHE marks the ancestors and the
 * "P\0" entries, whose directory holds entries decided otherwise, and the
 * bits from EDR_PREFIX_LEN_SHIFT are the entry's length in bytes (the
 * file program's directory cache, bpf/dircache.bpf.h).
 */
#define EDR_PREFIX_MAX 128
struct edr_prefix_key {
	__u32 prefixlen; /* in bits */
	__u8 data[EDR_PREFIX_MAX];
};

enum edr_prefix_verdict {
	EDR_PREFIX_INCLUDE = 1,
	EDR_PREFIX_EXCLUDE = 2,
	EDR_PREFIX_VERDICT_MASK = 0xff,
	EDR_PREFIX_F_NOCACHE = 0x100,
	EDR_PREFIX_LEN_SHIFT = 16,
};

/*
 * Read watch ([file] watch_reads): the inodes whose read-only opens are
 * reported, keyed by the file's superblock device (sb->s_dev, the
 * kernel's dev_t encoding: major << 20 | minor, not the one stat(2)
 * returns) and inode number. The value is the watch entry's id (its
 * index in the config list + 1), copied to edr_file.read_watch.
 */
#define EDR_READ_WATCH_MAX 256
/*
 * edr_file.read_watch of a read-only open of /proc/PID/mem of another
 * process (T1003.007), reported while the read watch is on: not an entry
 * of the list.
 */
enum edr_read_watch_id {
	EDR_READ_WATCH_PROC_MEM = 0xffff, /* edr_file.read_watch is 16 bits */
};
struct edr_inode_key {
	__u64 dev;
	__u64 ino;
};

/*
 * Kernel-side counters: one entry of a per-CPU array; userspace sums the
 * CPUs. Indexed by kind.
 */
struct edr_kstats {
	__u64 ringbuf_drops[EDR_KIND_MAX];   /* ring buffer full: record lost */
	__u64 filtered[EDR_KIND_MAX];	     /* outside the watched path prefixes */
	__u64 failed[EDR_KIND_MAX];	     /* the operation failed (not reported) */
	__u64 path_unreadable[EDR_KIND_MAX]; /* sent with an EDR_FILE_F_PATH*_FAULT path */
};

/* Tunables, set by userspace in .rodata between open and load. */
struct edr_config {
	__u32 agent_tgid;    /* the agent itself: never report it */
	__u32 wakeup_bytes;  /* wake the reader once this much data is pending */
	__u32 report_failed; /* 1: report failed file operations; 0: count them */
	__u32 net_families;  /* bit (1 << AF_*) set: report that family */
	__u32 watch_reads;   /* 1: look read-only opens up in edr_read_watch */
	__u32 stdio_check;   /* 1: look for socket stdio at exec (edr_stdio) */
};

/*
 * Every ABI type and constant, gathered so the compiled object's BTF
 * carries them all (records built in place in the ring buffer are
 * otherwise invisible to it). Used only as the value type of the
 * edr_abi map in common.bpf.h; src/abi.rs tests its mirrors against the
 * skeleton types generated from this BTF.
 */
struct edr_abi {
	struct edr_exec exec;
	struct edr_exec_stdio exec_stdio;
	struct edr_fork fork;
	struct edr_exit exit;
	struct edr_file file;
	struct edr_net net;
	struct edr_stdio stdio;
	struct edr_signal signal;
	struct edr_exec_env exec_env;
	struct edr_net_key net_key;
	struct edr_kstats kstats;
	struct edr_config config;
	struct edr_prefix_key prefix_key;
	struct edr_inode_key inode_key;
	enum edr_kind kind;
	enum edr_exec_flag exec_flag;
	enum edr_stdio_type stdio_type;
	enum edr_file_syscall file_syscall;
	enum edr_file_flag file_flag;
	enum edr_prefix_verdict prefix_verdict;
	enum edr_net_syscall net_syscall;
	enum edr_net_flag net_flag;
	enum edr_stdio_syscall stdio_syscall;
	enum edr_env_flag env_flag;
	enum edr_read_watch_id read_watch_id;
};

_Static_assert(sizeof(struct edr_hdr) == 24, "edr_hdr layout");
_Static_assert(sizeof(struct edr_slice) == 4, "edr_slice layout");
_Static_assert(sizeof(struct edr_exec_stdio) == 88, "edr_exec_stdio layout");
_Static_assert(sizeof(struct edr_exec) == 264, "edr_exec layout");
_Static_assert(sizeof(struct edr_fork) == 48, "edr_fork layout");
_Static_assert(sizeof(struct edr_exit) == 56, "edr_exit layout");
_Static_assert(sizeof(struct edr_file) == 80, "edr_file layout");
_Static_assert(sizeof(struct edr_prefix_key) == 4 + EDR_PREFIX_MAX, "edr_prefix_key layout");
_Static_assert(sizeof(struct edr_net) == 88, "edr_net layout");
_Static_assert(sizeof(struct edr_stdio) == 80, "edr_stdio layout");
_Static_assert(sizeof(struct edr_signal) == 56, "edr_signal layout");
_Static_assert(sizeof(struct edr_exec_env) == 56, "edr_exec_env layout");
_Static_assert(EDR_ENV_DATA_MAX < 65536, "slices are 16-bit");
_Static_assert(sizeof(struct edr_net_key) == 20, "edr_net_key layout");
_Static_assert(sizeof(struct edr_kstats) == 4 * 8 * EDR_KIND_MAX, "edr_kstats layout");
_Static_assert(sizeof(struct edr_config) == 24, "edr_config layout");
_Static_assert(sizeof(struct edr_inode_key) == 16, "edr_inode_key layout");
_Static_assert(EDR_FILE_DATA_MAX < 65536, "slices are 16-bit");
_Static_assert(EDR_EXEC_DATA_MAX < 65536, "slices are 16-bit");

#endif /* EDR_ABI_H */
