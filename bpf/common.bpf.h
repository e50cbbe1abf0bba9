/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * common.bpf.h - what every rand-guard BPF program shares: the ring
 * buffer, the kernel counters, the rodata config, and the submit path.
 *
 * Each bpf/<family>.bpf.c is compiled on its own and build.rs links them
 * into one object (libbpf's static linker). The shared maps and the config
 * are therefore defined __weak here: every compilation unit carries an
 * identical definition and the linker keeps one.
 */
#ifndef EDR_COMMON_BPF_H
#define EDR_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "edr_abi.h"

/*
 * The ABI version this object was built for. The loader reads it from the
 * object's .rodata image before loading and refuses a mismatch, so an
 * external object (EDR_EBPF_OBJECT) from other sources cannot be
 * misread.
 */
const volatile __u32 edr_abi_version __weak = EDR_ABI_VERSION;

/* Filled by the loader between open and load; read-only afterwards. */
const volatile struct edr_config edr_cfg __weak = {
    .agent_tgid = 0,
    .wakeup_bytes = 256 * 1024,
    .report_failed = 0,
};

/* All records, every family. Size is set by the loader from config. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} edr_events __weak SEC(".maps");

/* Loss counters; per-CPU so the hot path never contends. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct edr_kstats);
} edr_kstats __weak SEC(".maps");

/*
 * Never read or written: it names struct edr_abi in the object's BTF (see
 * edr_abi.h). One entry, a few hundred bytes.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct edr_abi);
} edr_abi __weak SEC(".maps");

/* True when the current task belongs to the agent itself. */
static __always_inline int edr_is_self(__u32 tgid)
{
	return tgid == edr_cfg.agent_tgid;
}

static __always_inline void edr_hdr_init(struct edr_hdr *h, __u16 kind, __u32 size)
{
	__u64 id = bpf_get_current_pid_tgid();

	h->kind = kind;
	h->abi_version = EDR_ABI_VERSION;
	h->pad0 = 0;
	h->size = size;
	h->ktime_ns = bpf_ktime_get_boot_ns();
	h->pid = (__u32)id;
	h->tgid = id >> 32;
}

static __always_inline struct edr_kstats *edr_kstats_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&edr_kstats, &zero);
}

/* A record lost because the ring buffer was full. */
static __always_inline void edr_count_drop(__u16 kind)
{
	struct edr_kstats *st = edr_kstats_get();

	if (st)
		st->ringbuf_drops[kind & (EDR_KIND_MAX - 1)]++;
}

/* An event outside the watched path prefixes. */
static __always_inline void edr_count_filtered(__u16 kind)
{
	struct edr_kstats *st = edr_kstats_get();

	if (st)
		st->filtered[kind & (EDR_KIND_MAX - 1)]++;
}

/* A failed operation, counted instead of reported. */
static __always_inline void edr_count_failed(__u16 kind)
{
	struct edr_kstats *st = edr_kstats_get();

	if (st)
		st->failed[kind & (EDR_KIND_MAX - 1)]++;
}

/* A record sent with a path that could not be read (never filtered). */
static __always_inline void edr_count_path_unreadable(__u16 kind)
{
	struct edr_kstats *st = edr_kstats_get();

	if (st)
		st->path_unreadable[kind & (EDR_KIND_MAX - 1)]++;
}

/*
 * Wakeups, not copies, dominate the cost of a record storm: below
 * wakeup_bytes of pending data nobody is woken and the reader finds the
 * records on its next timed poll (every 100 ms), so delivery latency
 * stays bounded while a storm costs one wakeup per wakeup_bytes.
 */
static __always_inline __u64 edr_wakeup_flags(void)
{
	if (bpf_ringbuf_query(&edr_events, BPF_RB_AVAIL_DATA) >= edr_cfg.wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* Copy a record built in scratch space into the ring, counting a loss. */
static __always_inline void edr_output(void *rec, __u32 size, __u16 kind)
{
	if (bpf_ringbuf_output(&edr_events, rec, size, edr_wakeup_flags()))
		edr_count_drop(kind);
}

/* Reserve a fixed-size record in place, counting a loss. */
static __always_inline void *edr_reserve(__u32 size, __u16 kind)
{
	void *rec = bpf_ringbuf_reserve(&edr_events, size, 0);

	if (!rec)
		edr_count_drop(kind);
	return rec;
}

static __always_inline void edr_submit(void *rec)
{
	bpf_ringbuf_submit(rec, edr_wakeup_flags());
}

/*
 * 0x80 in each byte of v that is zero (and possibly in bytes above one):
 * the word-at-a-time scans (the canonical-path check, the environment's
 * prefilter) test eight bytes in a few ALU instructions.
 */
static __always_inline __u64 edr_zero_bytes(__u64 v)
{
	return (v - 0x0101010101010101ULL) & ~v & 0x8080808080808080ULL;
}

/* The current syscall's saved user registers (BTF-typed: plain loads). */
static __always_inline struct pt_regs *edr_user_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

/* The running kernel's version, a load-time constant (libbpf fills it). */
extern unsigned int LINUX_KERNEL_VERSION __kconfig;

/*
 * Whether the verifier lets a program load directly through pointers it
 * cannot vouch for: a pointer field that does not point to a struct
 * (v6.17, commit 2d5c91e1cc14, "bpf: rdonly_untrusted_mem for btf id walk
 * pointer leafs") and a number cast to a struct pointer (bpf_core_cast,
 * the bpf_rdonly_cast kfunc of v6.2). Such a load is a plain load the JIT
 * guards against faults, where older kernels need the probe-read helper:
 * measured on the read-watch path (docs/benchmarks.md), the helpers cost
 * ~200 ns per read-only open and the loads ~0. LINUX_KERNEL_VERSION is a
 * constant at load time, so the verifier drops the branch a kernel cannot
 * run without looking at it.
 */
#define EDR_DIRECT_LOADS (LINUX_KERNEL_VERSION >= KERNEL_VERSION(6, 17, 0))

/*
 * The file behind an fd of the current task. The task pointer is BTF-typed
 * (bpf_get_current_task_btf, v5.11), so the chain to the fd table is plain
 * loads the verifier guards, not helper calls. The array slot (fdt->fd is
 * a struct file **) is one more such load where EDR_DIRECT_LOADS, a probe
 * read otherwise.
 */
static __always_inline struct file *edr_fd_file(int fd)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct fdtable *fdt = t->files->fdt;
	struct file *f = NULL;

	if (fd < 0 || (unsigned int)fd >= fdt->max_fds)
		return NULL;
	if (EDR_DIRECT_LOADS) {
		struct file **slots = fdt->fd;

		/* the mask only bounds the offset: fd < max_fds already */
		f = slots[fd & 0xfffffff];
	} else {
		bpf_probe_read_kernel(&f, sizeof(f), &fdt->fd[fd]);
	}
	return f;
}

/* Argument n (1-based) of the current syscall, from edr_user_regs(). */
#define ARG(regs, n) PT_REGS_PARM##n##_SYSCALL(regs)

#endif /* EDR_COMMON_BPF_H */
