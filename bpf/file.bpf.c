// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * file.bpf.c - file operations: open for write/create/truncate, unlink,
 * rename, chmod, chown, link, symlink, extended attributes set or
 * removed; read-only opens of a few watched inodes ([file] watch_reads);
 * and execs the kernel refused with ENOEXEC (a script without #! that the
 * shell then runs itself).
 *
 * One program, attached to each hooked syscall's exit tracepoint
 * (tracepoint/syscalls/sys_exit_*, v2.6.33): the result is known, and the
 * path strings the caller passed were just copied in by the kernel, so
 * their pages are resident (reading them at entry loses a few percent to
 * non-resident pages). The arguments come from the task's saved user
 * registers (bpf_task_pt_regs, v5.15), which a syscall leaves untouched,
 * so there is no entry program and no per-task map.
 *
 * Paths: an opened file, and the fd of fchmod/fchown, are resolved from
 * the file's dentry (absolute, symlinks and ".." already resolved). A
 * name-based operand is the caller's string plus, when it is relative,
 * the resolved path of the directory it is relative to (cwd or dirfd).
 *
 * Filter: the absolute path's first EDR_PREFIX_MAX bytes are looked up in
 * an LPM trie of watched and excluded prefixes before anything is put in
 * the ring buffer. A lexical path that is not canonical ("//", "." or
 * ".." components) and does not match a watched prefix as written is
 * passed on flagged EDR_FILE_F_UNFILTERED: userspace normalizes it and
 * filters again, so a ".." cannot hide an operation from the filter. A
 * path that cannot be read at exit (EDR_FILE_F_PATH_FAULT: the caller's
 * string unmapped, or the new fd closed, by a sibling thread since the
 * syscall began) could be anywhere: it is passed on unfiltered too, and
 * counted (edr_kstats.path_unreadable).
 *
 * File capabilities: an extended attribute named security.capability
 * (what setcap writes: a program that runs with capabilities, whoever
 * starts it) is reported wherever the file is, with the start of its
 * value; other security.*, trusted.* and system.* attributes pass the
 * prefix filter like any operation; user.* ones are dropped before any
 * path is walked (edr_xattr_reported).
 *
 * Read watch: read-only opens are the most frequent file syscalls, so
 * they never pay for a path. A successful one is looked up by inode
 * (device, inode number of the new fd's file) in edr_read_watch; only a
 * hit is resolved and reported, whatever the prefix filter says.
 */
#include "common.bpf.h"
#include "path.bpf.h"
#include "dircache.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AT_FDCWD    -100
#define ENOEXEC	    8 /* include/uapi/asm-generic/errno-base.h */
#define O_WRONLY    01
#define O_RDWR	    02
#define O_CREAT	    0100
#define O_TRUNC	    01000
#define O_PATH	    010000000
#define __O_TMPFILE 020000000
#define S_ISUID	    04000
/* Opens we report: anything that can change or create the file. */
#define EDR_WRITE_INTENT (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | __O_TMPFILE)

struct edr_file_buf {
	struct edr_file rec;
	__u8 data[EDR_FILE_DATA_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct edr_file_buf);
} edr_file_scratch SEC(".maps");

/*
 * The lookup key, with slack so variable-offset copies stay in bounds.
 * The pad puts key.data on an 8-byte boundary (map values are 8-aligned):
 * edr_non_canonical loads it a word at a time, and unaligned words would be
 * eight byte loads each.
 */
struct edr_prefix_buf {
	__u32 pad;
	struct edr_prefix_key key;
	__u8 slack[EDR_PREFIX_MAX];
};

_Static_assert(__builtin_offsetof(struct edr_prefix_buf, key.data) % 8 == 0,
	       "edr_prefix_buf: key.data is word-aligned");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct edr_prefix_buf);
} edr_prefix_scratch SEC(".maps");

/* Watched (include) and excluded prefixes, filled by the loader: two
 * entries per prefix, for the configured ones, the agent's own files and
 * the accounts' ~/.ssh outside them, and one per ancestor directory of a
 * prefix (abi.rs: PREFIX_ENTRIES). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 2048);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct edr_prefix_key);
	__type(value, __u32); /* verdict, flag and length: enum edr_prefix_verdict */
} edr_prefixes SEC(".maps");

/*
 * Watched inodes, filled and kept current by userspace (src/watch.rs):
 * a file replaced by a rename gets a new inode, and userspace re-stats
 * the watched paths when a file event touches one, and periodically.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EDR_READ_WATCH_MAX);
	__type(key, struct edr_inode_key);
	__type(value, __u32);
} edr_read_watch SEC(".maps");

/* Where an operand's path comes from. */
enum edr_src {
	EDR_SRC_NONE = 0,
	EDR_SRC_FD = 1,	  /* an open fd: resolve its dentry */
	EDR_SRC_NAME = 2, /* a user string, relative to a dirfd or the cwd */
	EDR_SRC_TEXT = 3, /* a user string taken as text (a symlink's target) */
};

/* What one syscall passed, decoded by its program. */
struct edr_file_args {
	__u16 kind;
	__u16 syscall;
	__u8 src1;
	__u8 src2;
	int fd1; /* EDR_SRC_FD: the fd; EDR_SRC_NAME: the dirfd */
	int fd2;
	const char *name1;
	const char *name2;
	__u64 open_flags;
	__u32 mode;
	__u32 uid;
	__u32 gid;
	__u32 at_flags;
	__u32 read_watch; /* a watched read: its id; reported unfiltered */
	__u64 xvalue;	  /* setxattr: the value's user address */
};

/* struct xattr_args of setxattrat (v6.13), as the caller passes it. */
struct edr_xattr_args {
	__u64 value;
	__u32 size;
	__u32 flags;
};

/* security.capability as little-endian words: "security", ".capabil", "ity". */
#define EDR_CAP_XATTR_LEN 19
#define EDR_CAP_W0	  0x7974697275636573ULL
#define EDR_CAP_W1	  0x6c6962617061632eULL
#define EDR_CAP_W2	  0x797469ULL

/* Attribute namespaces reported, as little-endian words of their prefix. */
#define EDR_XATTR_TRUSTED 0x2e64657473757274ULL /* "trusted." */
#define EDR_XATTR_SYSTEM  0x2e6d6574737973ULL	/* "system." (7 bytes) */

/*
 * Whether an attribute named @name is reported: security.* (capabilities,
 * SELinux and IMA labels), trusted.* and system.* (POSIX ACLs: who may
 * read or write the file). user.* attributes are application data
 * (download marks, journald's, file managers') and change no permission:
 * they are dropped here, before any path is walked, so a storm of them
 * costs one 9-byte read. A name that cannot be read is reported.
 */
static __always_inline int edr_xattr_reported(const char *name)
{
	struct {
		__u64 w;
		__u8 c;
	} p = {};

	if (bpf_probe_read_user(&p, 9, name))
		return 1;
	return (p.w == EDR_CAP_W0 && p.c == '.') || p.w == EDR_XATTR_TRUSTED ||
	       (p.w & 0x00ffffffffffffffULL) == EDR_XATTR_SYSTEM;
}

/*
 * Whether the record's attribute name (path2) is security.capability:
 * the one attribute reported wherever its file is. Three word compares,
 * only on the rare xattr syscalls.
 */
static __always_inline int edr_is_cap_xattr(struct edr_file_buf *b)
{
	__u32 off = b->rec.path2.off;
	__u64 w[3] = {};

	if (b->rec.path2.len != EDR_CAP_XATTR_LEN || off > 3 * EDR_PATH_MAX)
		return 0;
	bpf_probe_read_kernel(w, EDR_CAP_XATTR_LEN, &b->data[off]);
	return w[0] == EDR_CAP_W0 && w[1] == EDR_CAP_W1 && w[2] == EDR_CAP_W2;
}

/* Prefix check outcome for one operand. */
#define EDR_V_OUT     0 /* canonical and not watched */
#define EDR_V_INCLUDE 1 /* under a watched prefix */
#define EDR_V_EXCLUDE 2 /* under an excluded prefix */
#define EDR_V_UNSURE  3 /* not canonical (or too long to tell): userspace decides */

/* The f_path of @f: two plain loads where EDR_DIRECT_LOADS, a probe read otherwise. */
static __always_inline struct path edr_file_path(struct file *f)
{
	struct path p;

	if (EDR_DIRECT_LOADS) {
		struct file *ff = bpf_core_cast(f, struct file);

		p.mnt = ff->f_path.mnt;
		p.dentry = ff->f_path.dentry;
		return p;
	}
	return BPF_CORE_READ(f, f_path);
}

/* Append the resolved path of @p at data[off]; return the new end. */
static __always_inline __u32 edr_file_put_path(struct edr_file_buf *b, struct edr_path_buf *pb,
					       __u32 off, const struct path *p,
					       struct edr_slice *slice, __u32 trunc_flag)
{
	struct edr_path_walk w = edr_path_resolve(pb, p);
	__u32 len;

	/* off <= 3 paths, len < 1 path (the walk leaves pos >= 1) */
	if (off > 3 * EDR_PATH_MAX)
		return off;
	len = (EDR_PATH_MAX - w.pos) & (EDR_PATH_MAX - 1);
	bpf_probe_read_kernel(&b->data[off], len, &pb->buf[w.pos & (EDR_PATH_MAX - 1)]);
	slice->off = off;
	slice->len = len;
	if (w.status == EDR_PATH_TRUNC)
		b->rec.flags |= trunc_flag;
	return off + len;
}

/* Append a user string at data[off] (without its NUL). */
static __always_inline __u32 edr_file_put_user(struct edr_file_buf *b, __u32 off, const char *s,
					       struct edr_slice *slice, __u32 trunc_flag,
					       __u32 fault_flag)
{
	long n;

	if (off > 3 * EDR_PATH_MAX)
		return off;
	n = bpf_probe_read_user_str(&b->data[off], EDR_PATH_MAX, s);
	slice->off = off;
	if (n < 1) {
		slice->len = 0;
		b->rec.flags |= fault_flag;
		return off;
	}
	if (n >= EDR_PATH_MAX)
		b->rec.flags |= trunc_flag;
	slice->len = (n - 1) & (EDR_PATH_MAX - 1);
	return off + slice->len;
}

/* Resolve the directory a relative name is relative to. */
static __always_inline __u32 edr_file_put_dir(struct edr_file_buf *b, struct edr_path_buf *pb,
					      __u32 off, int dirfd, struct edr_slice *slice,
					      __u32 trunc_flag)
{
	struct path p;

	if (dirfd == AT_FDCWD) {
		/* BTF-typed, as in edr_fd_file: plain loads */
		struct fs_struct *fs = bpf_get_current_task_btf()->fs;

		p.mnt = fs->pwd.mnt;
		p.dentry = fs->pwd.dentry;
	} else {
		struct file *f = edr_fd_file(dirfd);

		if (!f)
			return off;
		p = edr_file_path(f);
	}
	return edr_file_put_path(b, pb, off, &p, slice, trunc_flag);
}

static __always_inline __u32 edr_file_operand(struct edr_file_buf *b, struct edr_path_buf *pb,
					      __u32 off, __u8 src, int fd, const char *name,
					      struct edr_slice *dir, struct edr_slice *path,
					      __u32 trunc_flag, __u32 fault_flag)
{
	if (src == EDR_SRC_FD) {
		struct file *f = edr_fd_file(fd);
		struct path p;

		if (!f) {
			b->rec.flags |= fault_flag;
			return off;
		}
		p = edr_file_path(f);
		return edr_file_put_path(b, pb, off, &p, path, trunc_flag);
	}
	if (src == EDR_SRC_NAME || src == EDR_SRC_TEXT) {
		off = edr_file_put_user(b, off, name, path, trunc_flag, fault_flag);
		/*
		 * An unreadable name gets no directory: joined to it, the
		 * empty name would read as the directory itself.
		 */
		if (src == EDR_SRC_TEXT || (b->rec.flags & fault_flag))
			return off;
		if (path->len == 0 || b->data[path->off & (4 * EDR_PATH_MAX - 1)] != '/')
			off = edr_file_put_dir(b, pb, off, fd, dir, trunc_flag);
	}
	return off;
}

struct edr_scan_ctx {
	struct edr_prefix_buf *kb;
	__u32 len;
	__u32 bad;
};

/* One byte of the canonical-form check: flag "//", "/./", "/../". */
static long edr_scan_step(__u64 i, void *arg)
{
	struct edr_scan_ctx *c = arg;
	__u8 *d = c->kb->key.data;
	__u32 len = c->len;
	__u8 c1, c2, c3;

	if (i >= len || i >= EDR_PREFIX_MAX)
		return 1;
	if (d[i & (EDR_PREFIX_MAX - 1)] != '/')
		return 0;
	/* bytes past len read as NUL; the slack keeps i + 3 in bounds */
	c1 = i + 1 < len ? d[(i + 1) & 0xff] : 0;
	c2 = i + 2 < len ? d[(i + 2) & 0xff] : 0;
	c3 = i + 3 < len ? d[(i + 3) & 0xff] : 0;
	if (c1 == '/' || (c1 == '.' && (c2 == '/' || c2 == 0)) ||
	    (c1 == '.' && c2 == '.' && (c3 == '/' || c3 == 0))) {
		c->bad = 1;
		return 1;
	}
	return 0;
}

/*
 * Whether key bytes [0, len), which start with '/', are not canonical.
 * Every non-canonical form contains "/." or "//", so a word-at-a-time
 * pass finds candidates cheaply; only a candidate (rare outside hidden
 * files) pays for the exact byte-by-byte check. The word pass is a plain
 * loop (under bpf_loop each word was a callback, an indirect call), in a
 * global function so the verifier checks it once, not once per state of
 * its callers.
 */
__noinline int edr_non_canonical(struct edr_prefix_buf *kb, __u32 len)
{
	struct edr_scan_ctx sc = {.kb = kb, .len = len, .bad = 0};
	__u64 *words, hit = 0;

	if (!kb)
		return 1;
	/* key.data is word-aligned (edr_prefix_buf); the slack keeps words[16] in bounds */
	words = (__u64 *)kb->key.data;

	for (__u32 idx = 0; idx < EDR_PREFIX_MAX / 8; idx++) {
		__u32 at = idx * 8, valid;
		__u64 w, w1, h;

		if (at >= len)
			break;
		w = words[idx];
		/* bytes at + 1 .. at + 8 (little-endian: the low byte comes first) */
		w1 = (w >> 8) | (words[idx + 1] << 56);
		/* each '/' followed by '.' or '/' */
		h = edr_zero_bytes(w ^ 0x2f2f2f2f2f2f2f2fULL) &
		    (edr_zero_bytes(w1 ^ 0x2e2e2e2e2e2e2e2eULL) |
		     edr_zero_bytes(w1 ^ 0x2f2f2f2f2f2f2f2fULL));
		valid = len - at;
		if (valid < 8)
			h &= ~0ULL >> (64 - 8 * valid); /* little-endian: low bytes first */
		hit |= h;
	}
	if (!hit)
		return 0;
	bpf_loop(EDR_PREFIX_MAX, edr_scan_step, &sc, 0);
	return sc.bad;
}

/*
 * Compose dir + "/" + path (or the absolute path alone) into the LPM key
 * and look it up; *@hit, unless NULL, is the matched entry's value (0:
 * none): only an fd operand's fills the directory cache.
 */
static __always_inline int edr_prefix_check(struct edr_file_buf *b, struct edr_prefix_buf *kb,
					    struct edr_slice *dir, struct edr_slice *path,
					    int canonical, __u32 *hit)
{
	__u32 k = 0, m, total, slen, bad = 0, v;
	__u32 *verdict, entry;

	if (dir->len) {
		k = dir->len;
		if (k > EDR_PREFIX_MAX)
			k = EDR_PREFIX_MAX;
		bpf_probe_read_kernel(kb->key.data, k, &b->data[dir->off & (4 * EDR_PATH_MAX - 1)]);
		if (dir->len != 1 && k < EDR_PREFIX_MAX) {
			kb->key.data[k] = '/';
			k++;
		}
	}
	if (k > EDR_PREFIX_MAX)
		k = EDR_PREFIX_MAX;
	m = path->len;
	if (m > EDR_PREFIX_MAX)
		m = EDR_PREFIX_MAX;
	bpf_probe_read_kernel(&kb->key.data[k], m, &b->data[path->off & (4 * EDR_PATH_MAX - 1)]);
	total = k + m;
	slen = total;
	if (total < EDR_PREFIX_MAX) {
		kb->key.data[total] = 0; /* lets "P\0" match P itself */
		total++;
	} else {
		total = EDR_PREFIX_MAX;
		bad = 1; /* cut: the tail could hold anything */
	}
	kb->key.prefixlen = total * 8;

	verdict = bpf_map_lookup_elem(&edr_prefixes, &kb->key);
	entry = verdict ? *verdict : 0;
	if (hit)
		*hit = entry;
	/* an ancestor entry's verdict is 0 where no prefix covers it */
	v = entry & EDR_PREFIX_VERDICT_MASK;
	if (v == EDR_PREFIX_INCLUDE)
		return EDR_V_INCLUDE;
	if (canonical)
		return v == EDR_PREFIX_EXCLUDE ? EDR_V_EXCLUDE : EDR_V_OUT;
	if (bad || kb->key.data[0] != '/' || edr_non_canonical(kb, slen))
		return EDR_V_UNSURE;
	return v == EDR_PREFIX_EXCLUDE ? EDR_V_EXCLUDE : EDR_V_OUT;
}

/* The shared body of every file program, a BPF-to-BPF call. */
static __noinline int edr_file_emit(struct edr_file_args *a, long ret)
{
	__u32 zero = 0, off = 0, size;
	struct edr_file_buf *b;
	struct edr_path_buf *pb;
	struct edr_prefix_buf *kb;
	struct edr_dir_probe dp = {};
	int v1 = EDR_V_OUT, v2 = EDR_V_OUT, cap = 0, dir = -1;
	__u32 hit = 0;

	if (!a || edr_is_self(bpf_get_current_pid_tgid() >> 32))
		return 0;
	/* a refused exec is what the record reports (EDR_KIND_FILE_EXEC) */
	if (ret < 0 && !edr_cfg.report_failed && a->kind != EDR_KIND_FILE_EXEC) {
		edr_count_failed(a->kind);
		return 0;
	}
	if ((a->kind == EDR_KIND_FILE_SETXATTR || a->kind == EDR_KIND_FILE_REMOVEXATTR) &&
	    !edr_xattr_reported(a->name2)) {
		edr_count_filtered(a->kind);
		return 0;
	}
	/*
	 * One fd operand and nothing else (an open for writing, fchmod,
	 * fchown): its directory may be one whose entries are all filtered.
	 */
	if (a->src1 == EDR_SRC_FD && a->src2 == EDR_SRC_NONE && !a->read_watch) {
		dir = edr_dir_lookup(a->fd1, &dp);
		if (dir == 1) {
			edr_count_filtered(a->kind);
			return 0;
		}
	}
	b = bpf_map_lookup_elem(&edr_file_scratch, &zero);
	kb = bpf_map_lookup_elem(&edr_prefix_scratch, &zero);
	pb = edr_path_buf_get();
	if (!b || !kb || !pb)
		return 0;

	b->rec.ret = ret;
	b->rec.open_flags = a->open_flags;
	b->rec.mode = a->mode;
	b->rec.uid = a->uid;
	b->rec.gid = a->gid;
	b->rec.at_flags = a->at_flags;
	b->rec.flags = a->src1 == EDR_SRC_FD ? EDR_FILE_F_PATH_RESOLVED : 0;
	b->rec.syscall = a->syscall;
	b->rec.read_watch = a->read_watch;
	b->rec.dir.off = b->rec.dir.len = 0;
	b->rec.path.off = b->rec.path.len = 0;
	b->rec.dir2.off = b->rec.dir2.len = 0;
	b->rec.path2.off = b->rec.path2.len = 0;

	off = edr_file_operand(b, pb, off, a->src1, a->fd1, a->name1, &b->rec.dir, &b->rec.path,
			       EDR_FILE_F_PATH_TRUNC, EDR_FILE_F_PATH_FAULT);
	off = edr_file_operand(b, pb, off, a->src2, a->fd2, a->name2, &b->rec.dir2, &b->rec.path2,
			       EDR_FILE_F_PATH2_TRUNC, EDR_FILE_F_PATH2_FAULT);

	if (a->kind == EDR_KIND_FILE_SETXATTR || a->kind == EDR_KIND_FILE_REMOVEXATTR)
		cap = edr_is_cap_xattr(b);
	/*
	 * The capability sets a setxattr gives: the value's head, after the
	 * operands (off <= 3 paths leaves room for it).
	 */
	if (cap && a->kind == EDR_KIND_FILE_SETXATTR) {
		__u32 n = a->mode < EDR_XATTR_VALUE_MAX ? a->mode : EDR_XATTR_VALUE_MAX;
		__u64 at = off;

		/*
		 * One register, tested, addresses the copy and gives the new
		 * off: tested on one fill of off's stack slot and used from
		 * another, the bound did not reach the copy's address (6.1:
		 * off up to 16380 in a 16384-byte array) or the record's size
		 * (6.12: up to 16484 of 16464).
		 */
		barrier_var(at);
		if (n && at <= 3 * EDR_PATH_MAX &&
		    !bpf_probe_read_user(&b->data[at], n & 31, (const void *)a->xvalue)) {
			b->rec.dir2.off = at;
			b->rec.dir2.len = n;
			off = at + n;
		}
	}

	/*
	 * A watched read is reported wherever its path is (a hard link, a
	 * bind mount); so is a file capability (a copy of python3 in /tmp
	 * given cap_setuid is the point), and a setuid bit set (a copy of a
	 * shell in /opt made setuid root: chmods are rare, and one that
	 * makes a program run as its owner matters wherever it is).
	 */
	if (a->read_watch || cap || (a->kind == EDR_KIND_FILE_CHMOD && (a->mode & S_ISUID)))
		v1 = EDR_V_INCLUDE;
	/* A symlink's target is text, not a location: only its link is filtered. */
	else if (a->src1 == EDR_SRC_FD || a->src1 == EDR_SRC_NAME)
		v1 =
		    edr_prefix_check(b, kb, &b->rec.dir, &b->rec.path, a->src1 == EDR_SRC_FD, &hit);
	/*
	 * A path cut at the walk's bound has lost its head, and one that could
	 * not be read at exit (the caller's string unmapped, or the new fd
	 * closed, by a sibling thread since the syscall began) is not there at
	 * all: where it is cannot be told, so it is not filtered out (nesting
	 * deeper than the bound, or unmapping a path, must not hide a write).
	 */
	if (v1 == EDR_V_OUT && (b->rec.flags & (EDR_FILE_F_PATH_TRUNC | EDR_FILE_F_PATH_FAULT)))
		v1 = EDR_V_UNSURE;
	if (v1 != EDR_V_INCLUDE && a->src2 == EDR_SRC_NAME)
		v2 = edr_prefix_check(b, kb, &b->rec.dir2, &b->rec.path2, 0, NULL);
	if (v2 == EDR_V_OUT && (b->rec.flags & (EDR_FILE_F_PATH2_TRUNC | EDR_FILE_F_PATH2_FAULT)))
		v2 = EDR_V_UNSURE;
	if (v1 != EDR_V_INCLUDE && v2 != EDR_V_INCLUDE) {
		if (v1 != EDR_V_UNSURE && v2 != EDR_V_UNSURE) {
			/*
			 * A miss above: remember the directory when the path
			 * was walked whole, every entry there is decided the
			 * same way, and the directory is still the one signed.
			 */
			if (dir == 0 && !(b->rec.flags & EDR_FILE_F_PATH_TRUNC) &&
			    b->rec.path.len > dp.name_len &&
			    edr_dir_cacheable(hit, b->rec.path.len - dp.name_len) &&
			    edr_dir_unchanged(a->fd1, dp.key.mnt, dp.key.dentry, dp.sig))
				bpf_map_update_elem(&edr_dir_cache, &dp.key, &dp.sig, BPF_ANY);
			edr_count_filtered(a->kind);
			return 0;
		}
		b->rec.flags |= EDR_FILE_F_UNFILTERED;
	}
	if (b->rec.flags & (EDR_FILE_F_PATH_FAULT | EDR_FILE_F_PATH2_FAULT))
		edr_count_path_unreadable(a->kind);

	size = sizeof(b->rec) + off;
	edr_hdr_init(&b->rec.hdr, a->kind, size);
	if (size <= sizeof(*b))
		edr_output(b, size, a->kind);
	return 0;
}

#define NO_ID 0xffffffff

#define PROC_SUPER_MAGIC 0x9fa0 /* include/uapi/linux/magic.h */

/*
 * Whether @f, open for reading, is /proc/PID/mem (or .../task/TID/mem) of
 * another process: its memory, where the secrets a process holds live
 * (T1003.007: `dd if=/proc/$PID/mem`, mimipenguin). Only on a read watch
 * miss: one more load (the superblock's magic) for every other read-only
 * open, the name's first bytes for procfs ones, and the owner only for a
 * "mem". A process reading its own (/proc/self/mem, a thread's of its
 * own) is not reported: runtimes and debuggers of themselves do that.
 */
static __always_inline int edr_proc_mem_read(struct file *f, struct inode *inode)
{
	__u64 me = bpf_get_current_pid_tgid();
	struct proc_inode *pi;
	struct dentry *d;
	struct pid *pid;
	unsigned long magic;
	__u32 len, word = 0;
	const unsigned char *name;
	int nr = 0;

	/* the magic first: every other read-only open stops at this load */
	if (EDR_DIRECT_LOADS)
		magic = bpf_core_cast(inode, struct inode)->i_sb->s_magic;
	else
		magic = BPF_CORE_READ(inode, i_sb, s_magic);
	if (magic != PROC_SUPER_MAGIC)
		return 0;
	if (EDR_DIRECT_LOADS) {
		d = bpf_core_cast(f, struct file)->f_path.dentry;
		len = d->d_name.len;
		name = d->d_name.name;
	} else {
		d = BPF_CORE_READ(f, f_path.dentry);
		len = BPF_CORE_READ(d, d_name.len);
		name = BPF_CORE_READ(d, d_name.name);
	}
	if (len != 3)
		return 0;
	if (bpf_probe_read_kernel(&word, 4, name) || word != 0x006d656d) /* "mem\0" */
		return 0;
	pi = (void *)inode - bpf_core_field_offset(struct proc_inode, vfs_inode);
	pid = BPF_CORE_READ(pi, pid);
	if (!pid || bpf_core_read(&nr, sizeof(nr), &pid->numbers[0].nr))
		return 1;
	return nr != (int)(me >> 32) && nr != (int)(__u32)me;
}

/*
 * The read watch id of the file behind @fd, a read-only open's new fd; 0
 * when it is not watched.
 *
 * This runs for every successful read-only open on the host while the
 * read watch is on, so it is kept to what identifies a file without its
 * path: the fd table slot, f_inode, i_ino, i_sb and s_dev (direct loads
 * where EDR_DIRECT_LOADS, probe reads otherwise), and one lookup of a
 * 16-byte key in a small hash map: ~100 ns on a v6.18 VM, ~300 ns with
 * the helpers (docs/benchmarks.md). A miss is not counted: a count of all
 * read-only opens would be a large number that means nothing.
 *
 * Keyed by inode, not path, so a hard link or a bind mount of a watched
 * file is still seen. s_dev is the superblock's (what /proc/self/mountinfo
 * shows), not what stat(2) reports, which differs on btrfs subvolumes and
 * overlayfs over several file systems; userspace keys by the former.
 */
static __always_inline __u32 edr_read_watched(int fd)
{
	struct edr_inode_key k = {};
	struct file *f = edr_fd_file(fd);
	struct inode *inode;
	__u32 *id;

	if (!f)
		return 0;
	if (EDR_DIRECT_LOADS) {
		inode = bpf_core_cast(f, struct file)->f_inode;
		k.dev = inode->i_sb->s_dev;
		k.ino = inode->i_ino;
	} else {
		inode = BPF_CORE_READ(f, f_inode);
		k.dev = BPF_CORE_READ(inode, i_sb, s_dev);
		k.ino = BPF_CORE_READ(inode, i_ino);
	}
	id = bpf_map_lookup_elem(&edr_read_watch, &k);
	if (id)
		return *id;
	return edr_proc_mem_read(f, inode) ? EDR_READ_WATCH_PROC_MEM : 0;
}

/*
 * Syscall number -> EDR_SYS_*, filled by the loader from the agent's own
 * architecture's numbers; 0 for syscalls this program does not handle.
 */
const volatile __u8 edr_file_sysmap[EDR_SYSCALL_MAP] = {};

/*
 * Decode syscall @sys (EDR_SYS_*, 0: not a file syscall) from the task's
 * saved user registers, and report it with its result @ret. Both paths
 * call it at the syscall's return, so they read the same arguments and
 * produce the same record.
 */
static __always_inline int edr_file_sys(__u8 sys, long ret)
{
	struct edr_file_args a = {};
	struct pt_regs *r;

	if (!sys)
		return 0;
	r = edr_user_regs();
	a.syscall = sys;
	a.uid = NO_ID;
	a.gid = NO_ID;

	switch (sys) {
	case EDR_SYS_OPEN:
	case EDR_SYS_OPENAT:
	case EDR_SYS_OPENAT2:
	case EDR_SYS_CREAT:
	case EDR_SYS_OPEN_BY_HANDLE_AT:
		a.kind = EDR_KIND_FILE_OPEN;
		if (sys == EDR_SYS_OPEN) {
			a.fd1 = AT_FDCWD;
			a.name1 = (const char *)ARG(r, 1);
			a.open_flags = (__u32)ARG(r, 2);
			a.mode = ARG(r, 3);
		} else if (sys == EDR_SYS_CREAT) {
			a.fd1 = AT_FDCWD;
			a.name1 = (const char *)ARG(r, 1);
			a.open_flags = O_CREAT | O_WRONLY | O_TRUNC;
			a.mode = ARG(r, 2);
		} else if (sys == EDR_SYS_OPEN_BY_HANDLE_AT) {
			/* (mount_fd, handle, flags): no name, only the new fd */
			a.open_flags = (__u32)ARG(r, 3);
		} else {
			a.fd1 = ARG(r, 1);
			a.name1 = (const char *)ARG(r, 2);
			if (sys == EDR_SYS_OPENAT2) {
				struct open_how how = {};

				bpf_probe_read_user(&how, sizeof(how), (const void *)ARG(r, 3));
				a.open_flags = how.flags;
				a.mode = how.mode;
			} else {
				a.open_flags = (__u32)ARG(r, 3);
				a.mode = ARG(r, 4);
			}
		}
		if (!(a.open_flags & EDR_WRITE_INTENT)) {
			/*
			 * Read-only: only a successful open of a watched inode
			 * is reported. O_PATH opens read nothing; a later
			 * open of /proc/self/fd/N is an open of its own.
			 */
			if (!edr_cfg.watch_reads || ret < 0 || (a.open_flags & O_PATH))
				return 0;
			a.read_watch = edr_read_watched(ret);
			if (!a.read_watch)
				return 0;
		}
		/* A successful open is resolved from its new fd; a failed one by name. */
		if (ret >= 0) {
			a.src1 = EDR_SRC_FD;
			a.fd1 = ret;
		} else if (sys != EDR_SYS_OPEN_BY_HANDLE_AT) {
			a.src1 = EDR_SRC_NAME;
		}
		break;
	case EDR_SYS_UNLINK:
	case EDR_SYS_RMDIR:
	case EDR_SYS_UNLINKAT:
		a.kind = EDR_KIND_FILE_UNLINK;
		a.src1 = EDR_SRC_NAME;
		if (sys == EDR_SYS_UNLINKAT) {
			a.fd1 = ARG(r, 1);
			a.name1 = (const char *)ARG(r, 2);
			a.at_flags = ARG(r, 3);
		} else {
			a.fd1 = AT_FDCWD;
			a.name1 = (const char *)ARG(r, 1);
		}
		break;
	case EDR_SYS_RENAME:
	case EDR_SYS_RENAMEAT:
	case EDR_SYS_RENAMEAT2:
	case EDR_SYS_LINK:
	case EDR_SYS_LINKAT:
		a.kind = (sys == EDR_SYS_LINK || sys == EDR_SYS_LINKAT) ? EDR_KIND_FILE_LINK
									: EDR_KIND_FILE_RENAME;
		a.src1 = EDR_SRC_NAME;
		a.src2 = EDR_SRC_NAME;
		if (sys == EDR_SYS_RENAME || sys == EDR_SYS_LINK) {
			a.fd1 = AT_FDCWD;
			a.name1 = (const char *)ARG(r, 1);
			a.fd2 = AT_FDCWD;
			a.name2 = (const char *)ARG(r, 2);
		} else {
			a.fd1 = ARG(r, 1);
			a.name1 = (const char *)ARG(r, 2);
			a.fd2 = ARG(r, 3);
			a.name2 = (const char *)ARG(r, 4);
			if (sys != EDR_SYS_RENAMEAT)
				a.at_flags = ARG(r, 5);
		}
		break;
	case EDR_SYS_SYMLINK:
	case EDR_SYS_SYMLINKAT:
		a.kind = EDR_KIND_FILE_SYMLINK;
		a.src1 = EDR_SRC_TEXT;
		a.src2 = EDR_SRC_NAME;
		a.name1 = (const char *)ARG(r, 1);
		if (sys == EDR_SYS_SYMLINK) {
			a.fd2 = AT_FDCWD;
			a.name2 = (const char *)ARG(r, 2);
		} else {
			a.fd2 = ARG(r, 2);
			a.name2 = (const char *)ARG(r, 3);
		}
		break;
	case EDR_SYS_CHMOD:
	case EDR_SYS_FCHMOD:
	case EDR_SYS_FCHMODAT:
	case EDR_SYS_FCHMODAT2:
		a.kind = EDR_KIND_FILE_CHMOD;
		if (sys == EDR_SYS_FCHMOD) {
			a.src1 = EDR_SRC_FD;
			a.fd1 = ARG(r, 1);
			a.mode = ARG(r, 2);
		} else if (sys == EDR_SYS_CHMOD) {
			a.src1 = EDR_SRC_NAME;
			a.fd1 = AT_FDCWD;
			a.name1 = (const char *)ARG(r, 1);
			a.mode = ARG(r, 2);
		} else {
			a.src1 = EDR_SRC_NAME;
			a.fd1 = ARG(r, 1);
			a.name1 = (const char *)ARG(r, 2);
			a.mode = ARG(r, 3);
			if (sys == EDR_SYS_FCHMODAT2)
				a.at_flags = ARG(r, 4);
		}
		break;
	case EDR_SYS_CHOWN:
	case EDR_SYS_LCHOWN:
	case EDR_SYS_FCHOWN:
	case EDR_SYS_FCHOWNAT:
		a.kind = EDR_KIND_FILE_CHOWN;
		if (sys == EDR_SYS_FCHOWN) {
			a.src1 = EDR_SRC_FD;
			a.fd1 = ARG(r, 1);
			a.uid = ARG(r, 2);
			a.gid = ARG(r, 3);
		} else if (sys == EDR_SYS_FCHOWNAT) {
			a.src1 = EDR_SRC_NAME;
			a.fd1 = ARG(r, 1);
			a.name1 = (const char *)ARG(r, 2);
			a.uid = ARG(r, 3);
			a.gid = ARG(r, 4);
			a.at_flags = ARG(r, 5);
		} else {
			a.src1 = EDR_SRC_NAME;
			a.fd1 = AT_FDCWD;
			a.name1 = (const char *)ARG(r, 1);
			a.uid = ARG(r, 2);
			a.gid = ARG(r, 3);
		}
		break;
	case EDR_SYS_FILE_EXECVE:
	case EDR_SYS_FILE_EXECVEAT:
		/*
		 * Only the refusal a shell takes over: ENOEXEC, a file that
		 * is neither a known binary format nor a #! script. bash and
		 * dash then read it as a script in the same process (no exec
		 * follows). Every other exec returns here at once. The
		 * filename is intact: a failed exec is before the point of
		 * no return.
		 */
		if (ret != -ENOEXEC)
			return 0;
		a.kind = EDR_KIND_FILE_EXEC;
		a.src1 = EDR_SRC_NAME;
		if (sys == EDR_SYS_FILE_EXECVE) {
			a.fd1 = AT_FDCWD;
			a.name1 = (const char *)ARG(r, 1);
		} else {
			a.fd1 = ARG(r, 1);
			a.name1 = (const char *)ARG(r, 2);
			a.at_flags = ARG(r, 5);
		}
		break;
	case EDR_SYS_SETXATTR:
	case EDR_SYS_LSETXATTR:
	case EDR_SYS_FSETXATTR:
	case EDR_SYS_SETXATTRAT:
	case EDR_SYS_REMOVEXATTR:
	case EDR_SYS_LREMOVEXATTR:
	case EDR_SYS_FREMOVEXATTR:
	case EDR_SYS_REMOVEXATTRAT:
		a.kind = (sys == EDR_SYS_SETXATTR || sys == EDR_SYS_LSETXATTR ||
			  sys == EDR_SYS_FSETXATTR || sys == EDR_SYS_SETXATTRAT)
			     ? EDR_KIND_FILE_SETXATTR
			     : EDR_KIND_FILE_REMOVEXATTR;
		/* the attribute's name is the second operand, as text */
		a.src2 = EDR_SRC_TEXT;
		if (sys == EDR_SYS_SETXATTRAT || sys == EDR_SYS_REMOVEXATTRAT) {
			/* (dfd, pathname, at_flags, name, [uargs, usize]) */
			a.src1 = EDR_SRC_NAME;
			a.fd1 = ARG(r, 1);
			a.name1 = (const char *)ARG(r, 2);
			a.at_flags = ARG(r, 3);
			a.name2 = (const char *)ARG(r, 4);
			if (sys == EDR_SYS_SETXATTRAT) {
				struct edr_xattr_args x = {};

				bpf_probe_read_user(&x, sizeof(x), (const void *)ARG(r, 5));
				a.xvalue = x.value;
				a.mode = x.size;
				a.open_flags = x.flags;
			}
			break;
		}
		/* (path or fd, name, [value, size, flags]) */
		if (sys == EDR_SYS_FSETXATTR || sys == EDR_SYS_FREMOVEXATTR) {
			a.src1 = EDR_SRC_FD;
			a.fd1 = ARG(r, 1);
		} else {
			a.src1 = EDR_SRC_NAME;
			a.fd1 = AT_FDCWD;
			a.name1 = (const char *)ARG(r, 1);
		}
		a.name2 = (const char *)ARG(r, 2);
		if (a.kind == EDR_KIND_FILE_SETXATTR) {
			a.xvalue = ARG(r, 3);
			a.mode = ARG(r, 4);
			a.open_flags = (__u32)ARG(r, 5);
		}
		break;
	default:
		return 0;
	}
	return edr_file_emit(&a, ret);
}

/*
 * sys_exit of every hooked file syscall: one program attached to each
 * syscalls/sys_exit_<name> tracepoint (struct trace_event_raw_sys_exit:
 * id = syscall number, ret), so the verifier checks it once rather than
 * once per syscall.
 */
SEC("tracepoint/syscalls/sys_exit_openat")
int edr_file(struct trace_event_raw_sys_exit *ctx)
{
	long nr = ctx->id;

	if (nr < 0 || nr >= EDR_SYSCALL_MAP)
		return 0;
	return edr_file_sys(edr_file_sysmap[nr], ctx->ret);
}

/* The fast path: fexit programs on the syscalls' own functions. */
#include "fast_file.bpf.h"
