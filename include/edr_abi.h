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

#define EDR_ABI_VERSION 1

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
	__u32 pad0;
	char comm[EDR_COMM_LEN];
	struct edr_slice filename; /* path as passed to execve (bprm->filename) */
	struct edr_slice cwd;	   /* working directory; only when filename is relative */
	struct edr_slice exe;	   /* path of the image the kernel runs (interpreter for scripts) */
	struct edr_slice args;	   /* argv, NUL-separated, each arg NUL-terminated */
};

/* Upper bound of the data that can follow struct edr_exec. */
#define EDR_EXEC_DATA_MAX (3 * EDR_PATH_MAX + EDR_ARGS_MAX)

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

/*
 * Kernel-side counters: one entry of a per-CPU array; userspace sums the
 * CPUs. Indexed by kind.
 */
struct edr_kstats {
	__u64 ringbuf_drops[EDR_KIND_MAX]; /* ring buffer full: record lost */
};

/* Tunables, set by userspace in .rodata between open and load. */
struct edr_config {
	__u32 agent_tgid;   /* the agent itself: never report it */
	__u32 wakeup_bytes; /* wake the reader once this much data is pending */
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
	struct edr_fork fork;
	struct edr_exit exit;
	struct edr_kstats kstats;
	struct edr_config config;
	enum edr_kind kind;
	enum edr_exec_flag exec_flag;
};

_Static_assert(sizeof(struct edr_hdr) == 24, "edr_hdr layout");
_Static_assert(sizeof(struct edr_slice) == 4, "edr_slice layout");
_Static_assert(sizeof(struct edr_exec) == 120, "edr_exec layout");
_Static_assert(sizeof(struct edr_fork) == 48, "edr_fork layout");
_Static_assert(sizeof(struct edr_exit) == 56, "edr_exit layout");
_Static_assert(sizeof(struct edr_kstats) == 8 * EDR_KIND_MAX, "edr_kstats layout");
_Static_assert(sizeof(struct edr_config) == 8, "edr_config layout");
_Static_assert(EDR_EXEC_DATA_MAX < 65536, "slices are 16-bit");

#endif /* EDR_ABI_H */
