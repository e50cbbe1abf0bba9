/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * env.bpf.h - does a new image start with ld.so told to load extra code?
 * LD_PRELOAD= and LD_AUDIT= in the environment make the dynamic linker
 * map a library of the caller's choosing into the program before main()
 * (MITRE T1574.006). Userspace cannot see another process's environment
 * at exec time without racing it, so the exec program looks.
 *
 * LD_LIBRARY_PATH= is collected too, but never makes a record by itself:
 * many benign setups export it to every process (CUDA, conda, Java, game
 * runtimes), so the record would stop being rare. Beside LD_PRELOAD it
 * matters: it is where a bare library name (LD_PRELOAD=x.so) is looked
 * for first.
 *
 * Cost: first a prefilter that reads the environment in 2 KiB chunks
 * (one bpf_probe_read_user each) and looks for "\0LD_P" and "\0LD_A"
 * eight positions at a time; almost every environment has neither, and
 * its exec is done there. Only one that has (or that the prefilter
 * cannot read whole: past EDR_ENV_PRE_CHUNKS chunks, or a fault) is
 * scanned string by string: one bpf_probe_read_user_str per string (it
 * stops at the NUL, so the copy is the string's own length) and a
 * three-byte compare. The per-string scan alone cost ~200 ns a string on
 * the development VM (a user-memory read is dear under nested
 * virtualization): 11.9 us per exec with a 60-variable environment,
 * most of the exec program's time (docs/benchmarks.md). The record is
 * made only when something matched or the scan was cut.
 */
#ifndef EDR_ENV_BPF_H
#define EDR_ENV_BPF_H

#include "common.bpf.h"

/* The prefilter: chunks of this many bytes, at most this many of them. */
#define EDR_ENV_CHUNK	   2048
#define EDR_ENV_PRE_CHUNKS 16
/* The pattern's bytes after its first ("\0LD_P": four): chunks overlap by as many. */
#define EDR_ENV_PAT 4

/*
 * The record, its data, and the scan's state. The state lives here, not
 * on the stack: every bpf_loop step then starts from the same verifier
 * state (scalars loaded from a map value), so the callback is verified
 * once instead of once per growing offset. Each read lands in the slot of
 * the next match (slot[count]); the extra slot takes reads once
 * EDR_ENV_MATCH_MAX strings are kept. The kept slots are packed into
 * out[] at the end.
 */
struct edr_env_buf {
	struct edr_exec_env rec;
	__u8 out[EDR_ENV_DATA_MAX];
	__u64 pos;  /* next user address to read */
	__u64 end;  /* mm->env_end */
	__u32 cont; /* the read at pos continues a string longer than one read */
	__u32 hits; /* LD_PRELOAD= or LD_AUDIT= strings seen: what makes a record */
	__u32 lens[EDR_ENV_MATCH_MAX]; /* bytes kept in each slot, NUL included */
	__u8 slot[EDR_ENV_MATCH_MAX + 1][EDR_ENV_READ];
	/* the prefilter's chunk, and a word of slack for the last word's successor */
	__u64 chunk[EDR_ENV_CHUNK / 8 + 1];
};

/* Per-CPU values are at most PCPU_MIN_UNIT_SIZE (32 KiB): E2BIG at load. */
_Static_assert(sizeof(struct edr_env_buf) <= 32768, "edr_env_buf fits a per-CPU value");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct edr_env_buf);
} edr_env_scratch SEC(".maps");

/*
 * Whether b->chunk[0, len) holds "\0LD_P" or "\0LD_A": a string starting
 * LD_PRELOAD= or LD_AUDIT= (the NUL ends the string before it; what makes
 * a record). LD_LIBRARY_PATH= alone, which many setups export to every
 * process (and cargo to what it runs), does not send the environment to
 * the exact scan. Eight positions a word: the word and its successor
 * shifted give the bytes at +1 to +4, and a position hits where they are
 * NUL, 'L', 'D', '_', then 'P' or 'A'. edr_zero_bytes may mark a byte
 * above a real zero too: a false hit only sends the environment to the
 * exact scan. A global function: its loop is verified once, not once per
 * state of the exec program.
 */
__noinline int edr_env_maybe(struct edr_env_buf *b, __u32 len)
{
	__u64 hit = 0;

	if (!b)
		return 1;
	for (__u32 idx = 0; idx < EDR_ENV_CHUNK / 8; idx++) {
		__u32 at = idx * 8, valid;
		__u64 w, wn, x4, h;

		if (at + EDR_ENV_PAT >= len)
			break;
		w = b->chunk[idx];
		wn = b->chunk[idx + 1];
		x4 = (w >> 32) | (wn << 32);
		h = edr_zero_bytes(w) &
		    edr_zero_bytes(((w >> 8) | (wn << 56)) ^ 0x4c4c4c4c4c4c4c4cULL) &
		    edr_zero_bytes(((w >> 16) | (wn << 48)) ^ 0x4444444444444444ULL) &
		    edr_zero_bytes(((w >> 24) | (wn << 40)) ^ 0x5f5f5f5f5f5f5f5fULL) &
		    (edr_zero_bytes(x4 ^ 0x5050505050505050ULL) |
		     edr_zero_bytes(x4 ^ 0x4141414141414141ULL));
		/* positions whose five bytes all lie below len */
		valid = len - EDR_ENV_PAT - at;
		if (valid < 8)
			h &= ~0ULL >> (64 - 8 * valid);
		hit |= h;
	}
	return hit != 0;
}

/*
 * Whether the environment [start, end) may hold LD_PRELOAD= or LD_AUDIT=, read in
 * chunks from the byte before it (the NUL that ends the last argument,
 * or forced to one), each overlapping the last by EDR_ENV_PAT bytes so a
 * pattern across two chunks is seen. 1 too when it cannot tell: a chunk
 * that cannot be read, or more than EDR_ENV_PRE_CHUNKS chunks.
 */
static __always_inline int edr_env_prefilter(struct edr_env_buf *b, __u64 start, __u64 end)
{
	__u64 pos = start - 1;

	if (end <= start)
		return 0;
	for (int i = 0; i < EDR_ENV_PRE_CHUNKS; i++) {
		__u64 left = end - pos;
		__u32 len = left > EDR_ENV_CHUNK ? EDR_ENV_CHUNK : left;

		if (bpf_probe_read_user(b->chunk, len, (const void *)pos))
			return 1;
		if (i == 0)
			*(__u8 *)b->chunk = 0; /* the first string starts after a NUL */
		if (edr_env_maybe(b, len))
			return 1;
		if (left <= EDR_ENV_CHUNK)
			return 0;
		pos += EDR_ENV_CHUNK - EDR_ENV_PAT;
	}
	return 1;
}

/* Does p start with name (a literal, '=' included)? Unrolled: no memcmp in BPF. */
#define EDR_ENV_IS(p, name) edr_env_is((p), (name), sizeof(name) - 1)

static __always_inline int edr_env_is(const __u8 *p, const char *name, int len)
{
#pragma unroll
	for (int i = 0; i < len; i++)
		if (p[i] != (__u8)name[i])
			return 0;
	return 1;
}

/* bpf_loop callback: one read, the next string or the next piece of a long one. */
static long edr_env_step(__u64 i, void *ctx)
{
	struct edr_env_buf *b = *(struct edr_env_buf **)ctx;
	__u32 k = b->rec.count;
	__u8 *p;
	long n;

	if (b->pos >= b->end || k > EDR_ENV_MATCH_MAX)
		return 1;
	p = b->slot[k];
	n = bpf_probe_read_user_str(p, EDR_ENV_READ, (const void *)b->pos);
	if (n <= 0) {
		b->rec.flags |= EDR_ENV_F_FAULT;
		return 1;
	}
	/*
	 * n == EDR_ENV_READ: the string did not end within the read (n counts
	 * the NUL the helper put in place of its last byte); the next read
	 * starts at that byte, as a continuation that cannot match.
	 */
	if (n >= EDR_ENV_READ) {
		b->pos += EDR_ENV_READ - 1;
	} else {
		b->pos += n;
		b->rec.strings++;
	}
	if (b->cont) {
		b->cont = n >= EDR_ENV_READ;
		return 0;
	}
	b->cont = n >= EDR_ENV_READ;
	if (n < 4 || p[0] != 'L' || p[1] != 'D' || p[2] != '_')
		return 0;
	if (EDR_ENV_IS(p, "LD_PRELOAD=") || EDR_ENV_IS(p, "LD_AUDIT="))
		b->hits++;
	else if (!EDR_ENV_IS(p, "LD_LIBRARY_PATH="))
		return 0;
	if (k >= EDR_ENV_MATCH_MAX) {
		b->rec.flags |= EDR_ENV_F_MATCH_TRUNC;
		return 0;
	}
	if (n >= EDR_ENV_READ)
		b->rec.flags |= EDR_ENV_F_VALUE_TRUNC;
	b->lens[k] = n; /* keep it: the next read goes to the next slot */
	b->rec.count = k + 1;
	return 0;
}

/*
 * Scan the current (new) image's environment, mm->env_start..env_end,
 * resident because the kernel just copied it there, and send an
 * edr_exec_env record when it holds LD_PRELOAD= or LD_AUDIT= or could
 * not be scanned to its end.
 */
static __always_inline void edr_env_check(struct mm_struct *mm, __u64 start_ns)
{
	struct edr_env_buf *b;
	__u32 zero = 0, off = 0, len, size;

	b = bpf_map_lookup_elem(&edr_env_scratch, &zero);
	if (!b)
		return;
	b->pos = BPF_CORE_READ(mm, env_start);
	b->end = BPF_CORE_READ(mm, env_end);
	if (!edr_env_prefilter(b, b->pos, b->end))
		return;
	b->cont = 0;
	b->hits = 0;
	b->rec.flags = 0;
	b->rec.strings = 0;
	b->rec.count = 0;
	bpf_loop(EDR_ENV_SCAN_MAX, edr_env_step, &b, 0);
	b->rec.unscanned_bytes = 0;
	if (b->pos < b->end) {
		if (!(b->rec.flags & EDR_ENV_F_FAULT))
			b->rec.flags |= EDR_ENV_F_CUT;
		b->rec.unscanned_bytes = b->end - b->pos;
	}
	if (!b->hits && !b->rec.flags)
		return;
		/* pack the kept slots: out[] holds them back to back */
#pragma unroll
	for (int i = 0; i < EDR_ENV_MATCH_MAX; i++) {
		if (i >= b->rec.count)
			break;
		len = b->lens[i];
		if (len > EDR_ENV_READ)
			len = EDR_ENV_READ;
		bpf_probe_read_kernel(&b->out[off], len, b->slot[i]);
		off += len;
	}
	size = sizeof(b->rec) + off;
	b->rec.start_ns = start_ns;
	b->rec.pad0 = 0;
	b->rec.pad1 = 0;
	b->rec.vars.off = 0;
	b->rec.vars.len = off;
	edr_hdr_init(&b->rec.hdr, EDR_KIND_EXEC_ENV, size);
	if (size <= sizeof(b->rec) + sizeof(b->out))
		edr_output(b, size, EDR_KIND_EXEC_ENV);
}

#endif /* EDR_ENV_BPF_H */
