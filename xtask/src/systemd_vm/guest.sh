#!/bin/sh
# The administrator's session inside the systemd guest (`cargo xtask
# systemd-test`). Runs as rg-systemd-test.service once multi-user.target
# is reached, with systemd as PID 1. It does what an administrator does
# with the .deb and then with the tarball, and reports what it saw on the
# second serial port; the host (xtask/src/systemd_vm/checks.rs) makes
# every assertion. Here, only waits: for the agent to be ready, for a
# record to arrive. A wait that times out ends the session early (after
# the diagnostics) instead of waiting out every later step.
#
# Report format, one section per observation:
#   RGSECTION <name> <exit status> <byte count>\n<bytes>\n
# and RGEND\n once everything was sent.
set -u

T=/root/rg-test
W=/run/rg-test
REPORT=/dev/ttyS1
EVENTS=/var/log/rand-guard/events.jsonl
CONFIG=/etc/rand-guard/config.toml
RULE=/etc/rand-guard/rules.d/rg-systemd-test.toml
mkdir -p "$W"
# The agent's own lines (not its records: those go to the file) on the
# console as they come, which the host shows while it waits.
journalctl --no-pager -f -n 0 -o cat -u rand-guard |
	grep --line-buffered '^rand-guard: ' | sed -u 's/^/rg-systemd-test: agent: /' >/dev/console &
# Bytes as they are: no newline translation, no echo.
stty -F "$REPORT" raw -echo

say() { echo "rg-systemd-test: $*"; }

emit() { # emit NAME RC FILE
	{
		printf 'RGSECTION %s %s %s\n' "$1" "$2" "$(wc -c <"$3")"
		cat "$3"
		printf '\n'
	} >"$REPORT"
}

# section NAME COMMAND...: run it, report its exit status and output.
section() {
	name=$1
	shift
	"$@" >"$W/out" 2>&1
	rc=$?
	emit "$name" "$rc" "$W/out"
	return "$rc"
}

finish() {
	printf 'RGEND\n' >"$REPORT"
	say "done"
	systemctl poweroff --no-block
	exit 0
}

# The journal of the unit's current (or last) run only.
unit_journal() {
	inv=$(systemctl show -p InvocationID --value rand-guard)
	journalctl --no-pager -o cat "_SYSTEMD_INVOCATION_ID=$inv"
}

give_up() { # give_up WHY
	say "FAILED: $1"
	printf '%s\n' "$1" >"$W/what"
	emit "gave_up" 1 "$W/what"
	section diag.status systemctl status --no-pager rand-guard
	section diag.journal journalctl --no-pager -o cat -u rand-guard
	section diag.events cat "$EVENTS"
	finish
}

# wait_for WHAT SECONDS COMMAND...: poll until the command succeeds; give
# up at once when the agent failed or was restarted (it would not come
# back with what is waited for).
wait_for() {
	what=$1
	limit=$2
	shift 2
	start=$(date +%s)
	until "$@" >/dev/null 2>&1; do
		now=$(date +%s)
		state=$(systemctl show -p ActiveState --value rand-guard)
		restarts=$(systemctl show -p NRestarts --value rand-guard)
		if [ "$state" = failed ] || [ "${restarts:-0}" != 0 ]; then
			give_up "$what: the agent is $state after $restarts restarts"
		fi
		if [ $((now - start)) -gt "$limit" ]; then
			give_up "$what: not within $limit s"
		fi
		sleep 1
	done
	say "$what: after $(($(date +%s) - start)) s"
}

journal_has() { unit_journal | grep -qF -- "$1"; }
events_have() { grep -qF -- "$1" "$EVENTS"; }

# What systemd did to the running agent: capabilities, no_new_privs,
# seccomp (/proc/PID/status) and its mount namespace (/proc/PID/mountinfo).
sandbox() { # sandbox PREFIX
	pid=$(systemctl show -p MainPID --value rand-guard)
	section "$1.proc_status" cat "/proc/$pid/status"
	section "$1.mountinfo" cat "/proc/$pid/mountinfo"
}

# Each path the package or install.sh may have left, with its type.
leftovers() {
	for p in /usr/local/bin/rand-guard /usr/local/lib/rand-guard /etc/rand-guard \
		/etc/systemd/system/rand-guard.service \
		/etc/systemd/system/multi-user.target.wants/rand-guard.service \
		/etc/logrotate.d/rand-guard /usr/share/doc/rand-guard /var/log/rand-guard; do
		if [ -e "$p" ] || [ -L "$p" ]; then
			find "$p" -printf '%y %m %u %p\n'
		fi
	done
	# Processes called rand-guard, whoever started them.
	for c in /proc/[0-9]*/comm; do
		[ "$(cat "$c" 2>/dev/null)" = rand-guard ] && echo "process ${c%/comm}"
	done
	systemctl show -p LoadState rand-guard
}

# What each phase looks for: the exec of /bin/true with a marker, and the
# rg-persist-cron alert for a file written in /etc/cron.d.
trigger() { # trigger MARKER CRON_FILE
	/bin/true "$1"
	printf '# rand-guard systemd test\n' >"/etc/cron.d/$2"
	rm -f "/etc/cron.d/$2"
}

unit_state() {
	systemctl show -p ActiveState,SubState,Result,ExecMainCode,ExecMainStatus,NRestarts rand-guard
}

# --- the .deb -----------------------------------------------------------

say "dpkg -i"
section deb.install dpkg -i "$T"/rand-guard_*_amd64.deb
section deb.files sh -c 'dpkg -L rand-guard | while read -r p; do [ -f "$p" ] && echo "$p"; done'
section deb.is_enabled systemctl is-enabled rand-guard

say "systemctl enable --now rand-guard"
section deb.enable systemctl enable --now rand-guard
wait_for "the .deb agent's ready line" 300 journal_has "rand-guard: ready"
INV=$(systemctl show -p InvocationID --value rand-guard)
section deb.is_enabled_after systemctl is-enabled rand-guard
sandbox deb

trigger rgmarker-deb-exec rg-systemd-test-deb
wait_for "the exec record" 60 events_have rgmarker-deb-exec
wait_for "the cron alert" 60 events_have rg-systemd-test-deb

section deb.rules_before rand-guard rules check
say "systemctl reload: a new rule and a changed health interval"
cat >"$RULE" <<'EOF'
[[rules]]
id = "rg-test-reloaded-rule"
name = "Added by the systemd test before a reload"
description = "Fires on the systemd test's marker command line."
severity = "low"
events = ["exec"]
[[rules.all]]
field = "process.command_line"
contains = "rgmarker-reload"
EOF
chmod 0644 "$RULE"
sed -i 's/^interval_seconds = 60$/interval_seconds = 7/' "$CONFIG"
/bin/true rgmarker-reload before
wait_for "the exec record before the reload" 60 events_have "rgmarker-reload before"
section deb.pid_before systemctl show -p MainPID --value rand-guard
section deb.reload systemctl reload rand-guard
wait_for "the reload line" 60 journal_has "rand-guard: config reloaded"
/bin/true rgmarker-reload after
wait_for "the reloaded rule's alert" 60 events_have rg-test-reloaded-rule
section deb.pid_after systemctl show -p MainPID --value rand-guard

say "systemctl stop"
section deb.stop systemctl stop rand-guard
section deb.state unit_state
section deb.journal journalctl --no-pager -o cat "_SYSTEMD_INVOCATION_ID=$INV"
section deb.events cat "$EVENTS"
section deb.logs_dir find /var/log/rand-guard -printf '%y %m %u %p\n'
section deb.security systemd-analyze security --no-pager rand-guard

say "the unit without CAP_SYS_ADMIN (a drop-in), tracepoints forced: refused, with the reason"
# With hooks = "auto" this kernel takes fexit for files and stdio and the
# agent needs no perf_event_open at all; the syscall tracepoints (forced
# here, as on kernels without fentry) need CAP_SYS_ADMIN under Debian's
# perf_event_paranoid=3.
cp "$CONFIG" "$W/config.keep"
sed -i 's/^hooks = "auto"$/hooks = "tracepoint"/' "$CONFIG"
DROPIN=/etc/systemd/system/rand-guard.service.d
mkdir -p "$DROPIN"
printf '%s\n' '[Service]' 'CapabilityBoundingSet=' \
	'CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_SYS_PTRACE CAP_DAC_READ_SEARCH' \
	'Restart=no' >"$DROPIN/no-sys-admin.conf"
systemctl daemon-reload
systemctl start rand-guard
i=0
until [ "$(systemctl show -p ActiveState --value rand-guard)" = failed ]; do
	i=$((i + 1))
	[ "$i" -le 120 ] || give_up "the unit without CAP_SYS_ADMIN still runs after 120 s"
	sleep 1
done
section deb.no_sys_admin.state systemctl show -p Result,ExecMainStatus rand-guard
section deb.no_sys_admin.journal unit_journal
cp "$W/config.keep" "$CONFIG"
rm -rf "$DROPIN"
systemctl daemon-reload
systemctl reset-failed rand-guard

say "dpkg --purge with the agent running"
systemctl start rand-guard
section deb.active_before_purge systemctl is-active rand-guard
section deb.purge dpkg --purge rand-guard
section deb.leftovers leftovers
# What the administrator removes by hand: the rule they added (kept by
# dpkg with rules.d), the records (kept as host telemetry).
rm -rf /etc/rand-guard /var/log/rand-guard

# --- the tarball --------------------------------------------------------

say "install.sh --enable"
mkdir -p "$W/tar"
tar -xzf "$T"/rand-guard-*-x86_64-linux.tar.gz -C "$W/tar"
INSTALL=$(echo "$W"/tar/rand-guard-*/install.sh)
section tar.install sh "$INSTALL" --enable
section tar.is_enabled systemctl is-enabled rand-guard
wait_for "the tarball agent's ready line" 300 journal_has "rand-guard: ready"
INV=$(systemctl show -p InvocationID --value rand-guard)
sandbox tar
/bin/true rgmarker-tar-file
wait_for "the exec record in the file" 60 events_have rgmarker-tar-file

say "records to the journal: [output] path = \"-\", systemctl reload"
sed -i 's|^path = "/var/log/rand-guard/events.jsonl"$|path = "-"|' "$CONFIG"
section tar.reload systemctl reload rand-guard
wait_for "the reload line" 60 journal_has "rand-guard: config reloaded"
trigger rgmarker-tar-journal rg-systemd-test-tar
wait_for "the exec record in the journal" 60 journal_has rgmarker-tar-journal
wait_for "the cron alert in the journal" 60 journal_has rg-systemd-test-tar

say "systemctl stop"
section tar.stop systemctl stop rand-guard
section tar.state unit_state
section tar.journal journalctl --no-pager -o cat "_SYSTEMD_INVOCATION_ID=$INV"
section tar.events cat "$EVENTS"

say "install.sh --uninstall"
section tar.uninstall sh "$INSTALL" --uninstall
section tar.leftovers leftovers

finish
