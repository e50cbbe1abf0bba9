// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * process.bpf.c - process lifecycle: exec, fork, exit.
 *
 * All three hooks are tp_btf on sched_process_* tracepoints: they carry
 * the task pointers directly, need no tracefs, and (unlike syscall
 * tracepoints) cost nothing for unrelated syscalls.
 */
#include "common.bpf.h"
#include "env.bpf.h"
#include "path.bpf.h"
#include "relay.bpf.h"
#include "stdio.bpf.h"

#define PF_KTHREAD 0x00200000 /* include/linux/sched.h */
#define EEXIST	   17	      /* include/uapi/asm-generic/errno-base.h */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* An exec record with room for all of its data; too big for the stack. */
struct edr_exec_buf {
	struct edr_exec rec;
	__u8 data[EDR_EXEC_DATA_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct edr_exec_buf);
} edr_exec_scratch SEC(".maps");

static __always_inline int edr_is_kthread(struct task_struct *t)
{
	return BPF_CORE_READ(t, flags) & PF_KTHREAD;
}

/* Append a resolved path at data[off]; return the new end. */
static __always_inline __u32 edr_put_path(struct edr_exec_buf *b, __u32 off,
					  struct edr_path_buf *pb, const struct path *path,
					  struct edr_slice *slice, __u32 trunc_flag)
{
	struct edr_path_walk w = edr_path_resolve(pb, path);
	__u32 pos = w.pos, len;

	/*
	 * Bounds the verifier can see: off <= 2 paths, len < 1 path (the walk
	 * leaves pos >= 1, so the mask keeps the value).
	 */
	if (off > 2 * EDR_PATH_MAX)
		return off;
	len = (EDR_PATH_MAX - pos) & (EDR_PATH_MAX - 1);
	bpf_probe_read_kernel(&b->data[off], len, &pb->buf[pos & (EDR_PATH_MAX - 1)]);
	slice->off = off;
	slice->len = len;
	if (w.status == EDR_PATH_TRUNC)
		b->rec.flags |= trunc_flag;
	else if (w.status == EDR_PATH_DETACHED && trunc_flag == EDR_EXEC_F_EXE_TRUNC)
		b->rec.flags |= EDR_EXEC_F_EXE_DETACHED;
	return off + len;
}

/*
 * The inode change time moved twice: struct timespec64 i_ctime until
 * v6.6, __i_ctime in v6.6 ("fs: rename i_ctime field to __i_ctime"),
 * i_ctime_sec/i_ctime_nsec since v6.11 ("fs: switch timespec64 fields in
 * inode to discrete integers"), which is what vmlinux.h has.
 */
struct inode___timespec {
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

struct inode___v66 {
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

/* The executed file's identity: what the agent checks before hashing its path. */
static __always_inline void edr_put_exe_id(struct edr_exec *rec, struct inode *ino)
{
	rec->exe_dev = BPF_CORE_READ(ino, i_sb, s_dev);
	rec->exe_ino = BPF_CORE_READ(ino, i_ino);
	rec->exe_size = BPF_CORE_READ(ino, i_size);
	rec->pad1 = 0;
	if (bpf_core_field_exists(ino->i_ctime_sec)) {
		rec->exe_ctime_sec = BPF_CORE_READ(ino, i_ctime_sec);
		/* since v6.13 bit 31 flags a queried ctime (I_CTIME_QUERIED) */
		rec->exe_ctime_nsec = BPF_CORE_READ(ino, i_ctime_nsec) & ~(1U << 31);
	} else if (bpf_core_field_exists(((struct inode___v66 *)ino)->__i_ctime)) {
		struct inode___v66 *i = (void *)ino;

		rec->exe_ctime_sec = BPF_CORE_READ(i, __i_ctime.tv_sec);
		rec->exe_ctime_nsec = BPF_CORE_READ(i, __i_ctime.tv_nsec);
	} else {
		struct inode___timespec *i = (void *)ino;

		rec->exe_ctime_sec = BPF_CORE_READ(i, i_ctime.tv_sec);
		rec->exe_ctime_nsec = BPF_CORE_READ(i, i_ctime.tv_nsec);
	}
}

/*
 * sched_process_exec(struct task_struct *p, pid_t old_pid,
 *                    struct linux_binprm *bprm), since v3.4 (tp_btf: v5.5).
 * Runs in the new image after the point of no return: the exec succeeded,
 * mm->arg_start..arg_end hold the new argv (resident: the kernel just
 * wrote them), and bprm->file is the image actually run (the interpreter
 * for a #! script).
 */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(edr_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 zero = 0;
	struct edr_exec_buf *b;
	struct edr_path_buf *pb;
	struct task_struct *parent;
	const struct cred *cred;
	struct mm_struct *mm;
	__u64 arg_start, arg_len;
	__u32 off;
	long n;

	if (edr_is_self(bpf_get_current_pid_tgid() >> 32))
		return 0;
	b = bpf_map_lookup_elem(&edr_exec_scratch, &zero);
	pb = edr_path_buf_get();
	if (!b || !pb)
		return 0;

	parent = BPF_CORE_READ(p, real_parent);
	cred = BPF_CORE_READ(p, real_cred);
	b->rec.start_ns = BPF_CORE_READ(p, start_boottime);
	b->rec.parent_start_ns = BPF_CORE_READ(parent, group_leader, start_boottime);
	b->rec.cgroup_id = bpf_get_current_cgroup_id();
	b->rec.ppid = BPF_CORE_READ(parent, tgid);
	b->rec.uid = BPF_CORE_READ(cred, uid.val);
	b->rec.gid = BPF_CORE_READ(cred, gid.val);
	b->rec.euid = BPF_CORE_READ(cred, euid.val);
	b->rec.egid = BPF_CORE_READ(cred, egid.val);
	b->rec.auid = 0xffffffff;
	b->rec.sessionid = 0xffffffff;
	/* loginuid/sessionid exist only with CONFIG_AUDITSYSCALL */
	if (bpf_core_field_exists(p->loginuid)) {
		b->rec.auid = BPF_CORE_READ(p, loginuid.val);
		b->rec.sessionid = BPF_CORE_READ(p, sessionid);
	}
	b->rec.argc = BPF_CORE_READ(bprm, argc);
	b->rec.flags = 0;
	/* nsproxy is the task's own (not NULL while it runs exec) */
	b->rec.pid_ns = BPF_CORE_READ(p, nsproxy, pid_ns_for_children, ns.inum);
	b->rec.mnt_ns = BPF_CORE_READ(p, nsproxy, mnt_ns, ns.inum);
	b->rec.net_ns = BPF_CORE_READ(p, nsproxy, net_ns, ns.inum);
	b->rec.uts_ns = BPF_CORE_READ(p, nsproxy, uts_ns, ns.inum);
	b->rec.pad0 = 0;
	bpf_get_current_comm(b->rec.comm, sizeof(b->rec.comm));
	b->rec.cwd.off = 0;
	b->rec.cwd.len = 0;
	/* fds 0..2 of the new image, and what the parent holds of them */
	edr_relay_fill(&b->rec.stdio, parent);

	/* filename: as the caller passed it (may be relative) */
	n = bpf_probe_read_kernel_str(&b->data[0], EDR_PATH_MAX, BPF_CORE_READ(bprm, filename));
	if (n < 1)
		n = 1;
	if (n >= EDR_PATH_MAX)
		b->rec.flags |= EDR_EXEC_F_FILENAME_TRUNC;
	off = (__u32)(n - 1) & (EDR_PATH_MAX - 1);
	b->rec.filename.off = 0;
	b->rec.filename.len = off;

	/* cwd: always (process.working_directory), and what makes a
	 * relative filename absolute */
	{
		struct path pwd = BPF_CORE_READ(p, fs, pwd);

		off = edr_put_path(b, off, pb, &pwd, &b->rec.cwd, EDR_EXEC_F_CWD_TRUNC);
	}

	/* exe: the file the kernel is running, through mounts and symlinks */
	{
		struct path fpath = BPF_CORE_READ(bprm, file, f_path);

		off = edr_put_path(b, off, pb, &fpath, &b->rec.exe, EDR_EXEC_F_EXE_TRUNC);
	}
	edr_put_exe_id(&b->rec, BPF_CORE_READ(bprm, file, f_inode));

	/* args: one read of the NUL-separated argv area of the new image */
	mm = BPF_CORE_READ(p, mm);
	arg_start = BPF_CORE_READ(mm, arg_start);
	arg_len = BPF_CORE_READ(mm, arg_end) - arg_start;
	if (arg_len > EDR_ARGS_MAX) {
		arg_len = EDR_ARGS_MAX;
		b->rec.flags |= EDR_EXEC_F_ARGS_TRUNC;
	}
	if (off > 3 * EDR_PATH_MAX)
		return 0;
	if (bpf_probe_read_user(&b->data[off], arg_len, (const void *)arg_start)) {
		b->rec.flags |= EDR_EXEC_F_ARGS_FAULT;
		arg_len = 0;
	}
	b->rec.args.off = off;
	b->rec.args.len = arg_len;
	off += arg_len;

	/* before the exec record: userspace attaches it to the record that follows */
	edr_env_check(mm, b->rec.start_ns);
	edr_hdr_init(&b->rec.hdr, EDR_KIND_EXEC, sizeof(b->rec) + off);
	if (sizeof(b->rec) + off <= sizeof(*b))
		edr_output(b, sizeof(b->rec) + off, EDR_KIND_EXEC);
	/* after the exec record, so userspace knows the image it describes */
	if (edr_cfg.stdio_check)
		edr_stdio_check(EDR_SYS_EXECVE, -1);
	return 0;
}

/*
 * sched_process_fork(struct task_struct *parent, struct task_struct *child),
 * since v2.6.32. Fires for threads too; only new processes are recorded.
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(edr_fork, struct task_struct *parent, struct task_struct *child)
{
	struct edr_fork *rec;

	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	if (edr_is_self(bpf_get_current_pid_tgid() >> 32) || edr_is_kthread(child))
		return 0;

	rec = edr_reserve(sizeof(*rec), EDR_KIND_FORK);
	if (!rec)
		return 0;
	edr_hdr_init(&rec->hdr, EDR_KIND_FORK, sizeof(*rec));
	rec->child_start_ns = BPF_CORE_READ(child, start_boottime);
	rec->parent_start_ns = BPF_CORE_READ(parent, group_leader, start_boottime);
	rec->child_pid = BPF_CORE_READ(child, tgid);
	rec->child_ppid = BPF_CORE_READ(child, real_parent, tgid);
	edr_submit(rec);
	return 0;
}

/*
 * One exit record per process. signal->live is decremented by every
 * exiting thread at the top of do_exit(), some way before the
 * sched_process_exit tracepoint (acct_collect, audit_free and
 * taskstats_exit run in between; before v6.16 exit_mm too). Threads that
 * die together in exit_group() can therefore all have decremented it
 * before the first of them reaches the tracepoint, and each then reads 0:
 * "live == 0" says the process is gone, not that this thread is the one
 * that ended it. The tracepoint's group_dead argument says exactly that,
 * but only since v6.16, and the same object must load on older kernels.
 *
 * So the threads that read 0 (normally one, rarely a few) race for a
 * claim: an insert with BPF_NOEXIST, which the hash map serializes under
 * its bucket lock, succeeds for exactly one of them. The key is the
 * process's (tgid, start time), which no later process has, so claims
 * are never deleted: the LRU map recycles them. An entry lives far
 * longer than the microseconds its siblings need (the map holds the last
 * EDR_EXIT_CLAIMS process exits), and any other failure to insert
 * (-ENOMEM) reports the exit anyway: at worst a duplicate, never a loss.
 */
#define EDR_EXIT_CLAIMS 1024

struct edr_exit_key {
	__u32 tgid;
	__u32 pad;
	__u64 start_ns; /* the group leader's start_boottime */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, EDR_EXIT_CLAIMS);
	__type(key, struct edr_exit_key);
	__type(value, __u8);
} edr_exit_claims SEC(".maps");

/* True for the one thread that reports @p's process exit (see above). */
static __always_inline int edr_exit_claim(__u32 tgid, __u64 start_ns)
{
	struct edr_exit_key k = {.tgid = tgid, .start_ns = start_ns};
	__u8 one = 1;

	return bpf_map_update_elem(&edr_exit_claims, &k, &one, BPF_NOEXIST) != -EEXIST;
}

/*
 * sched_process_exit(struct task_struct *p[, bool group_dead]), since
 * v2.6.32. Fires per thread; signal->live is 0 (decremented before the
 * tracepoint, on every version) once the last thread is exiting, which is
 * when the process is gone; edr_exit_claim picks one of the threads that
 * see it.
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(edr_exit, struct task_struct *p)
{
	struct edr_exit *rec;
	__u64 start_ns;
	__u32 tgid;

	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (edr_is_self(tgid) || edr_is_kthread(p))
		return 0;
	start_ns = BPF_CORE_READ(p, group_leader, start_boottime);
	if (!edr_exit_claim(tgid, start_ns))
		return 0;

	rec = edr_reserve(sizeof(*rec), EDR_KIND_EXIT);
	if (!rec)
		return 0;
	edr_hdr_init(&rec->hdr, EDR_KIND_EXIT, sizeof(*rec));
	rec->start_ns = start_ns;
	rec->exit_code = BPF_CORE_READ(p, exit_code);
	rec->ppid = BPF_CORE_READ(p, real_parent, tgid);
	bpf_get_current_comm(rec->comm, sizeof(rec->comm));
	edr_submit(rec);
	return 0;
}
