// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * signal.bpf.c - signals sent to the agent: a stop by someone who should
 * not, or at least a record of who stopped it. Loaded only while
 * rg-agent-signal is enabled.
 *
 * tp_btf/signal_generate (v3.13; tp_btf v5.5) runs in the sender's
 * context for the kill family of syscalls, fires for every signal on the
 * system, and costs an integer compare for all but the agent's. A SIGKILL
 * can end the agent before it reads the record: root can always stop it
 * (docs/threat-model.md).
 */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* si_code values of signals a process sent (include/uapi/asm-generic/siginfo.h) */
#define SI_USER	 0
#define SI_QUEUE (-1)
#define SI_TKILL (-6)

/*
 * signal_generate(int sig, struct kernel_siginfo *info,
 *                 struct task_struct *task, int group, int result)
 * info may be SEND_SIG_NOINFO (0: from a process, SI_USER) or
 * SEND_SIG_PRIV (1: from the kernel), not pointers.
 */
SEC("tp_btf/signal_generate")
int BPF_PROG(edr_signal, int sig, struct kernel_siginfo *info, struct task_struct *task, int group,
	     int result)
{
	struct edr_signal *rec;
	__u32 tgid = BPF_CORE_READ(task, tgid);
	int code;

	if (tgid != edr_cfg.agent_tgid || edr_is_self(bpf_get_current_pid_tgid() >> 32))
		return 0;
	if ((unsigned long)info == 1)
		return 0;
	code = info ? BPF_CORE_READ(info, si_code) : SI_USER;
	if (code != SI_USER && code != SI_QUEUE && code != SI_TKILL)
		return 0;

	rec = edr_reserve(sizeof(*rec), EDR_KIND_SIGNAL);
	if (!rec)
		return 0;
	edr_hdr_init(&rec->hdr, EDR_KIND_SIGNAL, sizeof(*rec));
	rec->target_start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	rec->target_pid = BPF_CORE_READ(task, pid);
	rec->target_tgid = tgid;
	rec->sig = sig;
	rec->code = code;
	rec->result = result;
	rec->pad0 = 0;
	edr_submit(rec);
	return 0;
}
