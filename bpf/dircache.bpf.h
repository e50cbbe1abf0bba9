/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dircache.bpf.h - the file program's negative-verdict cache: directories
 * whose every entry the prefix filter drops, so that a write outside the
 * watched prefixes through an open fd (the common case: logs, caches,
 * build trees) costs no path walk and no trie lookup.
 *
 * Why: the walk copies every component's name with a helper and the
 * lookup compares up to EDR_PREFIX_MAX bytes; together most of the file
 * program's cost outside the prefixes (docs/benchmarks.md).
 *
 * Key: (mount, parent dentry) of the file. Value: a signature of the path
 * of that directory, recomputed on every lookup by a walk that copies no
 * name: per ancestor, its name's hash and length (d_name.hash_len, salted
 * by the kernel with the parent's address) and its inode number (or, where
 * loads go through the probe-read helper, the parent's address, which that
 * read gives anyway), and per mount crossed, the mount's id. A rename or
 * move of the directory or of any ancestor (by any means: rename(2),
 * io_uring, a remote NFS rename seen by d_move), and a mount moved or
 * detached above it, change the signature, so the entry no longer matches:
 * nothing has to tell the cache, and nothing can race it between a rename
 * and a hook that would invalidate. A dentry freed and reused at the same
 * address has a different signature unless it names the same path.
 *
 * Only a directory whose children all get the same verdict is cached: the
 * prefix trie marks each proper ancestor directory of a prefix, and each
 * exact-path entry, EDR_PREFIX_F_NOCACHE (with the entry's length), so a
 * directory that holds a prefix below it is never cached
 * (edr_dir_cacheable). The trie is written once at load (prefixes are
 * restart-only), so the cache needs no generation.
 */
#ifndef EDR_DIRCACHE_BPF_H
#define EDR_DIRCACHE_BPF_H

#include "common.bpf.h"

#define EDR_DIR_CACHE_MAX 4096
#define EDR_DIR_SIG_STEPS 48 /* ancestors and mounts hashed; deeper: not cached */

struct edr_dir_key {
	__u64 mnt;
	__u64 dentry;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, EDR_DIR_CACHE_MAX);
	__type(key, struct edr_dir_key);
	__type(value, __u64); /* the directory's path signature */
} edr_dir_cache SEC(".maps");

/* A lookup's inputs, kept for the insert after a miss. */
struct edr_dir_probe {
	struct edr_dir_key key;
	__u64 sig;
	__u32 name_len; /* the file's own name: the path minus it is the directory */
};

static __always_inline __u64 edr_dir_mix(__u64 h, __u64 x)
{
	h = (h ^ x) * 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 31);
}

/*
 * The signature of directory @d in mount @mnt, up to the namespace root;
 * -1 when it cannot be told (deeper than EDR_DIR_SIG_STEPS, detached, a
 * fault). Plain loads where EDR_DIRECT_LOADS.
 */
static __always_inline int edr_dir_sig_direct(struct mount *mnt, struct dentry *d, __u64 *sig)
{
	struct dentry *root = mnt->mnt.mnt_root;
	__u64 h = 0;

	for (int i = 0; i < EDR_DIR_SIG_STEPS; i++) {
		struct dentry *parent;
		struct inode *inode;

		if (d == root) {
			struct mount *up = mnt->mnt_parent;

			if (up == mnt) {
				*sig = h;
				return 0;
			}
			h = edr_dir_mix(h, (__u32)mnt->mnt_id);
			d = mnt->mnt_mountpoint;
			mnt = up;
			root = up->mnt.mnt_root;
			if (!d || !mnt)
				return -1;
			continue;
		}
		parent = d->d_parent;
		inode = d->d_inode;
		/* a faulting load reads as 0 */
		if (!parent || !inode || parent == d)
			return -1;
		h = edr_dir_mix(h, d->d_name.hash_len);
		h = edr_dir_mix(h, inode->i_ino);
		d = parent;
	}
	return -1;
}

/* The same with the probe-read helper: one read of the dentry's head a step. */
static __always_inline int edr_dir_sig_read(struct mount *mnt, struct dentry *d, __u64 *sig)
{
	struct dentry *root = BPF_CORE_READ(mnt, mnt.mnt_root);
	__u64 h = 0;

	for (int i = 0; i < EDR_DIR_SIG_STEPS; i++) {
		struct edr_dentry_head head;

		if (d == root) {
			struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

			if (up == mnt) {
				*sig = h;
				return 0;
			}
			h = edr_dir_mix(h, (__u32)BPF_CORE_READ(mnt, mnt_id));
			d = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = up;
			root = BPF_CORE_READ(up, mnt.mnt_root);
			if (!d || !mnt)
				return -1;
			continue;
		}
		/* d_parent, then d_name's hash_len; another layout: no cache */
		if (edr_dentry_head_probe(d, &head))
			return -1;
		if (!head.parent || head.parent == (__u64)d)
			return -1;
		h = edr_dir_mix(h, head.qstr_words[0]);
		h = edr_dir_mix(h, head.parent);
		d = (struct dentry *)head.parent;
	}
	return -1;
}

/*
 * The directory of the file behind @fd: its cache key, its path's
 * signature and the file's own name's length; -1 when the cache cannot be
 * used for this file (a mount root: a bind-mounted file's parent is not
 * its path's; no signature).
 */
static __always_inline int edr_dir_sign(int fd, struct edr_dir_key *key, __u64 *sig,
					__u32 *name_len)
{
	struct dentry *d, *parent;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct file *f;
	int err;

	f = edr_fd_file(fd);
	if (!f)
		return -1;
	if (EDR_DIRECT_LOADS) {
		struct file *ff = bpf_core_cast(f, struct file);

		vfsmnt = ff->f_path.mnt;
		d = ff->f_path.dentry;
		if (!vfsmnt || !d || d == vfsmnt->mnt_root)
			return -1;
		parent = d->d_parent;
		*name_len = d->d_name.len;
		mnt = container_of(vfsmnt, struct mount, mnt);
		err = edr_dir_sig_direct(bpf_core_cast(mnt, struct mount), parent, sig);
	} else {
		vfsmnt = BPF_CORE_READ(f, f_path.mnt);
		d = BPF_CORE_READ(f, f_path.dentry);
		if (!vfsmnt || !d || d == BPF_CORE_READ(vfsmnt, mnt_root))
			return -1;
		parent = BPF_CORE_READ(d, d_parent);
		*name_len = BPF_CORE_READ(d, d_name.len);
		mnt = container_of(vfsmnt, struct mount, mnt);
		err = edr_dir_sig_read(mnt, parent, sig);
	}
	if (err)
		return -1;
	key->mnt = (__u64)vfsmnt;
	key->dentry = (__u64)parent;
	return 0;
}

/*
 * Look up the directory of the file behind @fd. Returns 1 when it is
 * cached (every entry there is filtered out), 0 on a miss that may be
 * filled (@p then holds the key and signature), -1 when the cache cannot
 * be used for this file.
 *
 * Global functions (this one and edr_dir_unchanged), so the verifier
 * checks each once: inlined, the signature loop was checked again for
 * every state edr_file_emit is called in (one per hooked syscall) and
 * exceeded the 1M-instruction budget on 6.12 and 6.18.
 */
__noinline int edr_dir_lookup(int fd, struct edr_dir_probe *p)
{
	/* on this function's stack: 6.1 takes no map key from a pointer argument */
	struct edr_dir_key key;
	__u32 name_len;
	__u64 s, *sig;

	if (!p || edr_dir_sign(fd, &key, &s, &name_len))
		return -1;
	p->key = key;
	p->sig = s;
	p->name_len = name_len;
	sig = bpf_map_lookup_elem(&edr_dir_cache, &key);
	return sig && *sig == s ? 1 : 0;
}

/*
 * Whether the file behind @fd is still in directory (@mnt, @dentry) with
 * path signature @sig: checked again after the path walk, before a miss
 * is filled, so that a rename between the lookup and the walk (the walk
 * then judged another path than the one signed) fills nothing.
 */
__noinline int edr_dir_unchanged(int fd, __u64 mnt, __u64 dentry, __u64 sig)
{
	struct edr_dir_key key;
	__u32 name_len;
	__u64 s;

	if (edr_dir_sign(fd, &key, &s, &name_len))
		return 0;
	return key.mnt == mnt && key.dentry == dentry && s == sig;
}

/*
 * Whether the verdict of a path whose directory part is @dlen bytes long
 * (its trailing '/' included) holds for every entry of that directory,
 * given the trie entry @hit it matched (0: none). A match marked
 * EDR_PREFIX_F_NOCACHE that is that directory itself (an ancestor of a
 * prefix) or longer (an exact path) means some entry there is decided
 * otherwise.
 */
static __always_inline int edr_dir_cacheable(__u32 hit, __u32 dlen)
{
	return !(hit & EDR_PREFIX_F_NOCACHE) || (hit >> EDR_PREFIX_LEN_SHIFT) < dlen;
}

#endif /* EDR_DIRCACHE_BPF_H */
