/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * path.bpf.h - turn a struct path into an absolute path string.
 *
 * bpf_d_path() is only allowed from a few fentry/LSM attach points, which
 * do not load on every kernel (not on the development machine), so we walk
 * d_parent ourselves, crossing mount points through struct mount, with a
 * constant bound on the depth. The path is relative to the root of the
 * mount namespace the walk ends in; see docs/schema.md for the limits.
 */
#ifndef EDR_PATH_BPF_H
#define EDR_PATH_BPF_H

#include "common.bpf.h"

#define EDR_PATH_DEPTH 64  /* path components (and mount crossings) walked */
#define EDR_NAME_MAX   255 /* NAME_MAX */

/*
 * The walk writes components right to left into [0, EDR_PATH_MAX); the
 * tail slack lets the verifier see that a component written at any masked
 * position stays inside the buffer.
 */
struct edr_path_buf {
	char buf[EDR_PATH_MAX + EDR_NAME_MAX + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct edr_path_buf);
} edr_path_scratch __weak SEC(".maps");

#define EDR_PATH_OK	  0
#define EDR_PATH_TRUNC	  1 /* hit the depth or length bound: leading part missing */
#define EDR_PATH_DETACHED 2 /* no path in any mount (memfd, pipe, deleted root) */

struct edr_path_walk {
	__u32 pos;    /* the string is buf[pos, EDR_PATH_MAX) */
	__u32 status; /* EDR_PATH_* */
};

/* The walk's state, shared with the bpf_loop callback. */
struct edr_path_ctx {
	struct edr_path_buf *pb;
	struct dentry *d;
	struct mount *mnt;
	struct dentry *mnt_root; /* of mnt: read once per mount, not per step */
	struct edr_path_walk w;
};

/*
 * d_parent and d_name side by side, read in one helper call: without
 * EDR_DIRECT_LOADS the walk is dominated by probe reads (tens of ns each),
 * so a step makes two, this and the name's bytes. The layout is checked
 * against the running kernel's BTF; where it differs, two reads.
 */
struct edr_dentry_head {
	__u64 parent;
	__u64 qstr_words[2];
};

/*
 * The head of @d in one probe read where the layout allows it: 0 and *h
 * filled; 1 when the running kernel's layout is not d_parent, d_name side
 * by side (the caller reads field by field); -1 when the read fails.
 */
static __always_inline int edr_dentry_head_probe(struct dentry *d, struct edr_dentry_head *h)
{
	__u32 off_parent = bpf_core_field_offset(struct dentry, d_parent);

	if (bpf_core_field_offset(struct dentry, d_name) != off_parent + 8 ||
	    bpf_core_field_offset(struct qstr, len) != 4 ||
	    bpf_core_field_offset(struct qstr, name) != 8)
		return 1;
	return bpf_probe_read_kernel(h, sizeof(*h), (void *)d + off_parent) ? -1 : 0;
}

static __always_inline int edr_dentry_head_read(struct dentry *d, struct dentry **parent,
						__u32 *len, const unsigned char **name)
{
	struct edr_dentry_head h = {};
	struct qstr q;
	int err = edr_dentry_head_probe(d, &h);

	if (err < 0)
		return -1;
	if (err == 0) {
		*parent = (struct dentry *)h.parent;
		*len = h.qstr_words[0] >> 32; /* little-endian: hash, then len */
		*name = (const unsigned char *)h.qstr_words[1];
		return 0;
	}
	*parent = BPF_CORE_READ(d, d_parent);
	q = BPF_CORE_READ(d, d_name);
	*len = q.len;
	*name = q.name;
	return 0;
}

static __always_inline int edr_dentry_head(struct dentry *d, struct dentry **parent, __u32 *len,
					   const unsigned char **name)
{
	if (EDR_DIRECT_LOADS) {
		/*
		 * Three plain loads instead of a helper call (~40 ns a step
		 * on a v6.18 VM). A faulting load reads as 0: a NULL parent
		 * ends the walk as a probe-read failure would.
		 */
		struct dentry *dd = bpf_core_cast(d, struct dentry);

		*parent = dd->d_parent;
		*len = dd->d_name.len;
		*name = dd->d_name.name;
		return *parent ? 0 : -1;
	}
	return edr_dentry_head_read(d, parent, len, name);
}

/*
 * One step up the tree. A plain bounded loop with this body exceeds the
 * verifier's 1M-instruction budget (every iteration's position is a new
 * state), so the walk runs under bpf_loop() (v5.17), which verifies the
 * body once.
 */
static long edr_path_step(__u64 index, void *arg)
{
	struct edr_path_ctx *c = arg;
	/* locals first: BPF_CORE_READ(c->x, ...) would relocate our own struct */
	struct dentry *d = c->d;
	struct mount *mnt = c->mnt;
	struct edr_path_buf *pb = c->pb;
	const unsigned char *name;
	struct dentry *parent;
	__u32 len, pos;

	if (d == c->mnt_root) {
		struct mount *up;

		if (EDR_DIRECT_LOADS)
			up = bpf_core_cast(mnt, struct mount)->mnt_parent;
		else
			up = BPF_CORE_READ(mnt, mnt_parent);
		if (up == mnt) {
			/* the root of the namespace's mount tree */
			c->w.status = EDR_PATH_OK;
			return 1;
		}
		/* continue in the parent mount, from the mount point */
		if (EDR_DIRECT_LOADS) {
			c->d = bpf_core_cast(mnt, struct mount)->mnt_mountpoint;
			c->mnt_root = bpf_core_cast(up, struct mount)->mnt.mnt_root;
		} else {
			c->d = BPF_CORE_READ(mnt, mnt_mountpoint);
			c->mnt_root = BPF_CORE_READ(up, mnt.mnt_root);
		}
		c->mnt = up;
		/* a faulting load reads as 0 (see edr_dentry_head) */
		return up && c->d ? 0 : 1;
	}

	if (edr_dentry_head(d, &parent, &len, &name))
		return 1; /* EDR_PATH_TRUNC */
	/* NAME_MAX bounds len; the barrier keeps the compiler from using the
	 * unbounded copy the verifier cannot see through */
	barrier_var(len);
	len &= EDR_NAME_MAX;
	pos = c->w.pos;
	/* keep pos >= 1: at most EDR_PATH_MAX - 1 bytes, as PATH_MAX counts the NUL */
	if (pos > EDR_PATH_MAX || len + 2 > pos)
		return 1; /* EDR_PATH_TRUNC */
	pos -= len;
	/*
	 * Bound len again where it is used: the compiler tests len + 2 in a
	 * copy of len's register, and since v6.11 ("bpf: Track delta between
	 * 'linked' registers") the verifier carries that test's range back
	 * to len as [-253, 4096], which the helper's size argument refuses
	 * (v6.12 rejected edr_file and edr_exec here). The barrier keeps the
	 * compiler from dropping the mask it can prove redundant.
	 */
	barrier_var(len);
	len &= EDR_NAME_MAX;
	bpf_probe_read_kernel(&pb->buf[pos & (EDR_PATH_MAX - 1)], len, name);
	if (d == parent) {
		/* a pseudo file's own root: its name is all there is */
		c->w.pos = pos;
		c->w.status = EDR_PATH_DETACHED;
		return 1;
	}
	pos -= 1;
	pb->buf[pos & (EDR_PATH_MAX - 1)] = '/';
	c->w.pos = pos;
	c->d = parent;
	return 0;
}

/*
 * Resolve @path into @pb. On return the string (no NUL) is
 * pb->buf[w.pos .. EDR_PATH_MAX), 1 <= w.pos < EDR_PATH_MAX. A detached
 * dentry (a pseudo file such as a memfd) yields its bare name, e.g.
 * "memfd:x".
 */
static __always_inline struct edr_path_walk edr_path_resolve(struct edr_path_buf *pb,
							     const struct path *path)
{
	struct vfsmount *vfsmnt = path->mnt;
	struct edr_path_ctx c = {
	    .pb = pb,
	    .d = path->dentry,
	    .mnt = container_of(vfsmnt, struct mount, mnt),
	    .w = {.pos = EDR_PATH_MAX, .status = EDR_PATH_TRUNC},
	};

	if (EDR_DIRECT_LOADS) {
		/*
		 * Every pointer the walk keeps is then the same BTF type in
		 * every iteration (not a number in the first and a pointer
		 * after), so the verifier can prune the callback's states.
		 */
		c.d = bpf_core_cast(c.d, struct dentry);
		c.mnt = bpf_core_cast(c.mnt, struct mount);
		c.mnt_root = bpf_core_cast(vfsmnt, struct vfsmount)->mnt_root;
	} else {
		c.mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	}

	bpf_loop(EDR_PATH_DEPTH, edr_path_step, &c, 0);
	if (c.w.pos >= EDR_PATH_MAX) {
		/* the walk started at the root itself */
		c.w.pos = EDR_PATH_MAX - 1;
		pb->buf[EDR_PATH_MAX - 1] = '/';
	}
	return c.w;
}

static __always_inline struct edr_path_buf *edr_path_buf_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&edr_path_scratch, &zero);
}

#endif /* EDR_PATH_BPF_H */
