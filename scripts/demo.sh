#!/usr/bin/env bash
# rand-guard demo: perform, safely, each behaviour the built-in scenario
# detections look for, against a running agent, and print the alerts raised.
#
#   sudo scripts/demo.sh [--only NAME[,NAME...]] [--wait SECONDS] [OUTPUT_FILE]
#   scripts/demo.sh --list
#
# OUTPUT_FILE is the file the agent writes its records to; by default the
# [output] path of $EDR_CONFIG, else of /etc/rand-guard/config.toml, else
# /var/log/rand-guard/events.jsonl. The agent must be running and writing to
# a file, not to stdout.
#
# Everything happens on this host: network traffic on 127.0.0.1 only, files
# in a private temporary directory, plus uniquely named files in
# /etc/systemd/system, /etc/cron.d and /home that exist for a moment. All of
# it is removed on exit, also on Ctrl-C. Nothing is enabled or started: no
# systemctl call, no daemon-reload, and the cron file holds only a comment.
#
# Output: one line per alert of this run on stdout (time in UTC, rule id,
# severity, message); progress and the verdict on stderr. Exit status 0
# when every expected rule id fired, 1 when one did not, 2 on a usage or
# set-up error or a scenario that could not run. Needs root (it reads
# /etc/shadow and writes in /etc), bash, jq and python3.
#
# Adding a scenario: write a function scenario_NAME that does the thing
# (with $TAG in a name, path or argument of the process that raises the
# alert, so this run's alerts can be told from other activity; register what
# it makes outside $WORK with `cleanup` before making it), and add one line
# "NAME rule-id [rule-id ...]|what it does" to SCENARIOS.

set -euo pipefail

# name       expected rule ids (every one must fire)|what it does
SCENARIOS=(
	"webshell  rg-webshell-exec|a web server (python3 named nginx) on 127.0.0.1 runs sh -c id for a request"
	"systemd   rg-persist-systemd-unit rg-persist-systemd-enable|a unit written in /etc/systemd/system, then linked into a .wants directory"
	"drop      rg-drop-exec|a program downloaded over 127.0.0.1 into /tmp, made executable and run"
	"fileless  rg-fileless-exec|a program copied into a memfd and run from /proc/self/fd/N"
	"cred      rg-cred-sensitive-read|cat /etc/shadow"
	"cron      rg-persist-cron|a comment-only file written in /etc/cron.d"
	"sshkeys   rg-persist-ssh-authorized-keys|an authorized_keys file (no key) in a home directory of no user"
	"revshell  rg-reverse-shell|bash -i with its stdio on a TCP connection to a listener on 127.0.0.1, which sends it one echo and exit"
)

WAIT=10
ONLY=""
OUT=""

die() {
	echo "demo: $*" >&2
	exit 2
}

say() {
	echo "$*" >&2
}

usage() {
	sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
}

# The [output] path of a config file, if it has one.
config_output() {
	awk '
		/^[[:space:]]*\[/ { section = $0; gsub(/[[:space:]]/, "", section); next }
		section == "[output]" && /^[[:space:]]*path[[:space:]]*=/ {
			sub(/^[^=]*=[[:space:]]*/, ""); sub(/[[:space:]]*(#.*)?$/, "")
			gsub(/^["\047]|["\047]$/, ""); print; exit
		}' "$1"
}

default_output() {
	local cfg="${EDR_CONFIG:-/etc/rand-guard/config.toml}" path=""
	if [ -r "$cfg" ]; then
		path=$(config_output "$cfg")
	fi
	echo "${path:-/var/log/rand-guard/events.jsonl}"
}

scenario_names() {
	local s
	for s in "${SCENARIOS[@]}"; do
		echo "${s%% *}"
	done
}

while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help)
		usage
		exit 0
		;;
	--list)
		for s in "${SCENARIOS[@]}"; do
			read -r name ids <<<"${s%%|*}"
			printf '%-9s %-52s %s\n' "$name" "$ids" "${s#*|}"
		done
		exit 0
		;;
	--only)
		[ $# -ge 2 ] || die "--only needs a comma-separated list of scenarios (see --list)"
		for name in ${2//,/ }; do
			scenario_names | grep -qxF "$name" || die "no scenario $name (see --list)"
		done
		ONLY=",$2,"
		shift 2
		;;
	--wait)
		if [ $# -lt 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]]; then
			die "--wait needs a number of seconds"
		fi
		WAIT=$2
		shift 2
		;;
	-*) die "unknown option $1 (see --help)" ;;
	*)
		[ -z "$OUT" ] || die "one output file only (see --help)"
		OUT=$1
		shift
		;;
	esac
done

[ "$(id -u)" -eq 0 ] || die "run as root: the scenarios read /etc/shadow and write in /etc"
command -v jq >/dev/null || die "jq is needed (apt-get install jq)"
if [ -x /usr/bin/python3 ]; then
	PYTHON=/usr/bin/python3
else
	# python3 on PATH may be a wrapper script (pyenv): use what it runs.
	PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) ||
		die "python3 is needed"
fi
OUT=${OUT:-$(default_output)}
[ "$OUT" != "-" ] || die "the agent writes to stdout: run it with --output FILE and pass that FILE"
[ -f "$OUT" ] || die "$OUT does not exist: is the agent running and writing there? (pass its output file)"

TAG="rg-demo-$(date +%s)-$$"
WORK=$(mktemp -d "/tmp/$TAG.XXXXXX")
CLEANUP=() # what was made outside $WORK, parents first
PIDS=()    # background processes started here
RUNNING="" # the scenario under way

# Remember files or directories (a directory before what goes in it) to
# remove at exit.
cleanup() {
	CLEANUP+=("$@")
}

finish() {
	local rc=$? pid p i
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	# Newest first: a link before its target, a file before its directory.
	for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do
		p=${CLEANUP[i]}
		if [ -d "$p" ] && [ ! -L "$p" ]; then
			rmdir -- "$p" 2>/dev/null || say "demo: left $p in place (not empty)"
		else
			rm -f -- "$p"
		fi
	done
	rm -rf -- "$WORK"
	if [ -n "$RUNNING" ] && [ "$rc" -ne 130 ]; then
		say "demo: scenario $RUNNING could not run (status $rc); what it made is removed"
		exit 2
	fi
}
trap finish EXIT
trap 'exit 130' INT TERM

# Start a python3 HTTP server on 127.0.0.1, any free port, run as $WORK/$1
# (a symlink to python3, so the process is named $1), that answers one GET
# with the handler body $2 (python, indented 8 spaces). Sets PORT.
serve_once() {
	local name=$1 handler=$2 portfile="$WORK/$1.port"
	ln -s "$PYTHON" "$WORK/$name"
	"$WORK/$name" -c "
import http.server, os, subprocess
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
$handler
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
open('$portfile.tmp', 'w').write(str(s.server_address[1]))
os.rename('$portfile.tmp', '$portfile')
s.handle_request()
" </dev/null >/dev/null &
	PIDS+=($!)
	for _ in $(seq 200); do
		[ -s "$portfile" ] && break
		sleep 0.05
	done
	[ -s "$portfile" ] || die "the $name test server did not start"
	PORT=$(cat "$portfile")
}

# GET http://127.0.0.1:$1/ with python3, the body to stdout.
fetch() {
	"$PYTHON" -c "
import sys, urllib.request
sys.stdout.buffer.write(urllib.request.urlopen('http://127.0.0.1:$1/', timeout=10).read())"
}

# --- scenarios ------------------------------------------------------------

# T1505.003: a process named like a web server runs a shell for a request.
scenario_webshell() {
	serve_once nginx "        out = subprocess.run(['/bin/sh', '-c', 'id >/dev/null; echo $TAG'], capture_output=True).stdout
        self.send_response(200); self.end_headers(); self.wfile.write(out)"
	fetch "$PORT" | grep -q "$TAG"
}

# T1543.002: a unit file written, then enabled by a link in a .wants
# directory (what `systemctl enable` makes), here one of its own, wanted by
# a target that does not exist. systemd never loads it: no systemctl, no
# daemon-reload.
scenario_systemd() {
	local dir=/etc/systemd/system unit="$TAG.service"
	local wants="$dir/$TAG.target.wants"
	cleanup "$dir/$unit"
	printf '[Unit]\nDescription=rand-guard demo (never started)\n[Service]\nExecStart=/bin/true\n' >"$dir/$unit"
	cleanup "$wants" "$wants/$unit"
	mkdir "$wants"
	ln -s "$dir/$unit" "$wants/$unit"
}

# T1105, T1204.002: a downloader fetches a program (a copy of /bin/true)
# over 127.0.0.1 into /tmp, makes it executable and runs it.
scenario_drop() {
	serve_once webfiles "        self.send_response(200); self.end_headers(); self.wfile.write(open('/bin/true', 'rb').read())"
	"$PYTHON" - "$PORT" "$WORK/$TAG-payload" <<'EOF'
import os, sys, urllib.request
port, payload = sys.argv[1], sys.argv[2]
data = urllib.request.urlopen("http://127.0.0.1:%s/" % port, timeout=10).read()
with open(payload, "wb") as f:
    f.write(data)
os.chmod(payload, 0o755)
os.execv(payload, [payload])
EOF
}

# T1620: a program (a copy of /bin/true) run from a memfd, never a file.
scenario_fileless() {
	"$PYTHON" - "$TAG" <<'EOF'
import os, sys
fd = os.memfd_create(sys.argv[1], 0)
os.write(fd, open("/bin/true", "rb").read())
os.execv("/proc/self/fd/%d" % fd, [sys.argv[1]])
EOF
}

# T1003.008: read the password hashes (argv[0] carries the tag).
scenario_cred() {
	(exec -a "cat-$TAG" cat /etc/shadow) >/dev/null
}

# T1053.003: a cron file that schedules nothing.
scenario_cron() {
	cleanup "/etc/cron.d/$TAG"
	printf '# rand-guard demo: schedules nothing\n' >"/etc/cron.d/$TAG"
}

# T1098.004: an authorized_keys file, without a key, in the home directory
# of no user.
scenario_sshkeys() {
	local home="/home/$TAG"
	cleanup "$home" "$home/.ssh" "$home/.ssh/authorized_keys"
	mkdir -p "$home/.ssh"
	printf '# rand-guard demo: no key\n' >"$home/.ssh/authorized_keys"
}

# T1059.004: an interactive bash over a TCP connection to 127.0.0.1; the
# listener (python3) sends it one command, echo TAG, then exit.
scenario_revshell() {
	"$PYTHON" - "$TAG" <<'EOF'
import socket, subprocess, sys
tag = sys.argv[1]
l = socket.socket()
l.bind(("127.0.0.1", 0))
l.listen(1)
port = l.getsockname()[1]
sh = subprocess.Popen(
    # $0 carries the tag: the alerts show it as the (parent) process's argv.
    ["/bin/bash", "-c", "bash --norc --noprofile -i >& /dev/tcp/127.0.0.1/%d 0>&1" % port, "bash-" + tag],
    stderr=subprocess.DEVNULL,
)
c, _ = l.accept()
c.settimeout(10)
c.sendall(("echo %s\nexit\n" % tag).encode())
out = b""
while True:
    b = c.recv(4096)
    if not b:
        break
    out += b
sh.wait(timeout=10)
sys.exit(0 if tag.encode() in out else 1)
EOF
}

# --- run --------------------------------------------------------------------

START=$(stat -c %s "$OUT")
say "rand-guard demo: alerts appended to $OUT after byte $START, run tag $TAG"
EXPECTED=() # scenario:rule-id
for s in "${SCENARIOS[@]}"; do
	read -r name ids <<<"${s%%|*}"
	if [ -n "$ONLY" ] && [[ "$ONLY" != *",$name,"* ]]; then
		continue
	fi
	declare -F "scenario_$name" >/dev/null || die "scenario $name has no function scenario_$name"
	say "  $(printf '%-9s' "$name") ${s#*|}"
	RUNNING=$name
	"scenario_$name"
	RUNNING=""
	for id in $ids; do
		EXPECTED+=("$name:$id")
	done
done

# This run's alerts: new lines that carry the tag anywhere (message,
# arguments, paths, evidence). A partly written last line is skipped.
new_alerts() {
	tail -c "+$((START + 1))" "$OUT" |
		jq -cR --arg tag "$TAG" \
			'fromjson? | select(.record_type == "alert" and (tostring | contains($tag)))'
}

# Expected scenario:rule-id pairs without an alert yet.
missing() {
	local fired e
	fired=$(new_alerts | jq -r '.rule.id' | sort -u)
	for e in "${EXPECTED[@]}"; do
		grep -qxF "${e#*:}" <<<"$fired" || echo "$e"
	done
}

deadline=$((SECONDS + WAIT))
while [ -n "$(missing)" ] && [ $SECONDS -lt $deadline ]; do
	sleep 0.25
done
# Alerts raised by the same events as the expected ones land with them;
# give stragglers (a second rule on a later event) a moment.
sleep 0.5

say ""
new_alerts | jq -r '
	def pad($n): tostring | . + (" " * ([$n - length, 1] | max));
	"\(."@timestamp"[11:23] + "Z")  \(.rule.id | pad(31))\(.rand_guard.alert.severity | pad(9))\(.message)"'
say ""
lost=$(missing)
if [ -n "$lost" ]; then
	say "demo: FAILED: within ${WAIT} s, no alert of this run in $OUT for:"
	while read -r e; do
		say "  ${e#*:}   (scenario ${e%%:*})"
	done <<<"$lost"
	if [ "$(stat -c %s "$OUT")" -eq "$START" ]; then
		say "Nothing at all was written to $OUT meanwhile: is the agent running, writing there?"
	else
		say "Is that detection turned off ([detections] disabled), excluded ([[exclusions]]), or its file family off ([file] enabled)?"
	fi
	exit 1
fi
say "demo: ok: every expected rule fired: $(printf '%s\n' "${EXPECTED[@]#*:}" | sort -u | paste -sd' ')"
