#!/bin/sh
# PID 1 of the `cargo xtask vm-test --bench` guest (the kernel is booted
# with rdinit=/bench-init; the suite's /init is guest-init.sh, untouched).
#
# ROUNDS rounds of the workloads (/usr/local/bin/rg-vm-bench: the static
# xtask's hidden `vm-bench-guest` command, see xtask/src/vm/bench.rs)
# without the agent and beside it with each [kernel] hooks setting, the
# three conditions' order rotating from round to round so that drift (the
# host's other load, the guest's caches) falls on all of them alike. The
# agent is started and stopped in each round: one agent cannot be taken
# out of the kernel's paths and put back. Then, per agent condition, one
# more pass with kernel.bpf_stats_enabled=1 (off in the rounds: counting
# costs every program run two clock reads) and a health snapshot around
# each workload, for the BPF programs' cost per run.
#
# It computes nothing: it writes, in /tmp/results,
#   sample round=R condition=C workload=W ops=N wall_ns=T cpu_ns=T
#   run round=R condition=C workloads_exit=S [ready=yes|no ready_seconds=T agent_exit=S]
#   stats condition=C ready=yes|no ready_seconds=T agent_exit=S
# and hands it back on the second serial port with the snapshots, the
# agents' stderr and the kernel log, framed as guest-init.sh frames its
# sections (xtask/src/vm/report.rs reads both).
export PATH=/bin
DATA=/dev/ttyS1
WORK=/usr/local/bin/rg-vm-bench
RESULTS=/tmp/results
# ROUNDS; WORKLOADS and STATS_WORKLOADS (fewer operations, for the
# statistics pass): "NAME=COUNT ..." (written by the host).
. /etc/rg-vm-bench.env

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
ip link set lo up
stty -F "$DATA" raw -echo
echo 0 >/proc/sys/kernel/bpf_stats_enabled
: >"$RESULTS"
: >/tmp/workload.err
mkdir -p /tmp/stats
{
	echo "kernel=$(uname -r)"
	echo "cpus=$(grep -c '^processor' /proc/cpuinfo)"
	echo "rounds=$ROUNDS"
	echo "workloads=$WORKLOADS"
} >/tmp/facts

emit() {
	printf '\n==RG-BEGIN %s %s==\n' "$1" "$(wc -c <"$2")" >"$DATA"
	cat "$2" >"$DATA"
	printf '\n==RG-END %s==\n' "$1" >"$DATA"
}

# start_agent CONDITION: the agent with /etc/rand-guard/bench-CONDITION.toml,
# as the unit starts it; sets agent, OUT, ready, ready_seconds.
start_agent() {
	OUT=/tmp/agent-$1
	rm -rf "$OUT"
	mkdir -p "$OUT"
	: >"$OUT/agent.err"
	start=$(cut -d' ' -f1 /proc/uptime)
	EDR_CONFIG=/etc/rand-guard/bench-$1.toml EDR_EBPF_OBJECT=/usr/local/lib/rand-guard/edr-ebpf \
		/usr/local/bin/rand-guard run --output "$OUT/out.jsonl" 2>"$OUT/agent.err" &
	agent=$!
	ready=no
	i=0
	# TCG emulates the verifier too: 3 to 50 s here; 300 s before giving up.
	while [ $i -lt 600 ]; do
		if grep -q 'rand-guard: ready' "$OUT/agent.err"; then
			ready=yes
			break
		fi
		kill -0 "$agent" 2>/dev/null || break
		sleep 0.5
		i=$((i + 1))
	done
	ready_seconds=$(awk -v s="$start" '{ printf "%.1f", $1 - s }' /proc/uptime)
}

# stop_agent CONDITION: SIGTERM; sets agent_exit; keeps the last stderr.
stop_agent() {
	kill -TERM "$agent" 2>/dev/null
	wait "$agent"
	agent_exit=$?
	cp "$OUT/agent.err" "/tmp/stderr-$1"
}

# measure ROUND CONDITION: every workload once, in a fresh process; sets
# status.
measure() {
	"$WORK" vm-bench-guest $WORKLOADS >/tmp/workload.out 2>/tmp/workload.one
	status=$?
	sed "s/^/sample round=$1 condition=$2 /" /tmp/workload.out >>"$RESULTS"
	sed "s/^/round $1 $2: /" /tmp/workload.one >>/tmp/workload.err
}

round=1
while [ "$round" -le "$ROUNDS" ]; do
	case $((round % 3)) in
	1) order="none tracepoint auto" ;;
	2) order="tracepoint auto none" ;;
	*) order="auto none tracepoint" ;;
	esac
	for c in $order; do
		# Progress on the console (.local/vm/runs/<kernel>/bench-console.log).
		echo "rg-bench: round $round/$ROUNDS $c at $(cut -d' ' -f1 /proc/uptime) s"
		if [ "$c" = none ]; then
			measure "$round" none
			echo "run round=$round condition=none workloads_exit=$status" >>"$RESULTS"
			continue
		fi
		start_agent "$c"
		status=skipped
		if [ "$ready" = yes ]; then
			measure "$round" "$c"
		fi
		stop_agent "$c"
		echo "run round=$round condition=$c workloads_exit=$status ready=$ready ready_seconds=$ready_seconds agent_exit=$agent_exit" >>"$RESULTS"
	done
	round=$((round + 1))
done

# snapshot CONDITION LABEL: the agent's latest health record, once it
# carries the programs' counts of what ran before this call: health goes
# out every second ([health] interval_seconds = 1) with counts read at
# most a second earlier, so the last record 3.5 s on is fresh enough.
snapshot() {
	sleep 3.5
	grep '"record_type":"health"' "$OUT/out.jsonl" | tail -n 1 >"/tmp/stats/health-$1-$2"
}

echo 1 >/proc/sys/kernel/bpf_stats_enabled
for c in tracepoint auto; do
	echo "rg-bench: statistics pass $c at $(cut -d' ' -f1 /proc/uptime) s"
	start_agent "$c"
	if [ "$ready" = yes ]; then
		snapshot "$c" start
		for w in $STATS_WORKLOADS; do
			"$WORK" vm-bench-guest "$w" >/dev/null 2>>/tmp/workload.err
			snapshot "$c" "${w%%=*}"
		done
	fi
	stop_agent "$c"
	echo "stats condition=$c ready=$ready ready_seconds=$ready_seconds agent_exit=$agent_exit" >>"$RESULTS"
done
echo 0 >/proc/sys/kernel/bpf_stats_enabled

dmesg | tail -n 40 >/tmp/dmesg.tail
emit facts /tmp/facts
emit results "$RESULTS"
emit workload-errors /tmp/workload.err
for c in tracepoint auto; do
	emit "stderr-$c" "/tmp/stderr-$c"
done
for f in /tmp/stats/health-*; do
	[ -e "$f" ] && emit "${f##*/}" "$f"
done
emit dmesg /tmp/dmesg.tail
printf '\n==RG-DONE==\n' >"$DATA"
sync
poweroff -f
