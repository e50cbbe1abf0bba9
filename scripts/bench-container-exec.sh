#!/bin/sh
# What container attribution costs the agent (issue 16, docs/benchmarks.md):
# an exec storm in a podman container against the same storm on the host,
# the agent (release build) on the host. Reports the agent's CPU time per
# record it read (fork, exec and exit of each /bin/true, plus whatever else
# the host did meanwhile) for each run. Run by hand, as root:
#
#   sh scripts/bench-container-exec.sh [EXECS] [RUNS]
#
# Needs podman, runc, busybox (scripts/deps/debian-packages [ci]) and the
# release binary (cargo xb). Removes the container and image it made.
set -eu
cd "$(dirname "$0")/.."

EXECS=${1:-5000}
RUNS=${2:-3}
BIN=target/x86_64-unknown-linux-gnu/release/rand-guard
[ -x "$BIN" ] || { echo "bench: no $BIN (run: cargo xb)" >&2; exit 1; }
TAG=rg-bench-$$
IMAGE=localhost/$TAG:1
TMP=$(mktemp -d)
AGENT_PID=
cat >"$TMP/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$TMP/containers.conf"
cleanup() {
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null
	podman rm -f -t 0 "$TAG" >/dev/null 2>&1 || true
	podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

mkdir -p "$TMP/rootfs/bin"
cp "$(command -v busybox)" "$TMP/rootfs/bin/busybox"
for a in sh true sleep; do ln -s busybox "$TMP/rootfs/bin/$a"; done
tar -C "$TMP/rootfs" -cf "$TMP/rootfs.tar" .
podman import -q "$TMP/rootfs.tar" "$IMAGE" >/dev/null
podman run -d --name "$TAG" "$IMAGE" /bin/sleep 100000 >/dev/null

# The same loop in both places: busybox sh, /bin/true EXECS times.
LOOP="i=0; while [ \$i -lt $EXECS ]; do /bin/true; i=\$((i+1)); done"
storm() { # storm host|container
	if [ "$1" = host ]; then
		busybox sh -c "$LOOP"
	else
		podman exec "$TAG" /bin/sh -c "$LOOP"
	fi
}

# CPU nanoseconds of every thread of the agent (schedstat: on-CPU time).
cpu_ns() {
	cat /proc/"$AGENT_PID"/task/*/schedstat | awk '{ s += $1 } END { printf "%d\n", s }'
}
records() { wc -l <"$TMP/out.jsonl"; }

printf '[kernel]\nring_buffer_bytes = 16777216\n' >"$TMP/config.toml"
echo "where      execs  records  agent-cpu-ms  us-per-record  wall-s"
for run in $(seq "$RUNS"); do
	for where in host container; do
		: >"$TMP/out.jsonl"
		: >"$TMP/err"
		"$BIN" run --config "$TMP/config.toml" --output "$TMP/out.jsonl" 2>"$TMP/err" &
		AGENT_PID=$!
		until grep -q 'rand-guard: ready' "$TMP/err"; do sleep 0.1; done
		# The container's cgroup is resolved at its first exec: warm it
		# (the cost per event after the first is what is measured).
		[ "$where" = container ] && podman exec "$TAG" /bin/true
		sleep 1
		c0=$(cpu_ns)
		r0=$(records)
		t0=$(date +%s.%N)
		storm "$where"
		t1=$(date +%s.%N)
		sleep 1
		c1=$(cpu_ns)
		r1=$(records)
		kill -TERM "$AGENT_PID"
		wait "$AGENT_PID" || true
		AGENT_PID=
		awk -v w="$where" -v n="$EXECS" -v c="$((c1 - c0))" -v r="$((r1 - r0))" -v t0="$t0" -v t1="$t1" \
			'BEGIN { printf "%-9s %6d %8d %13.1f %14.2f %7.1f\n", w, n, r, c / 1e6, c / 1e3 / r, t1 - t0 }'
	done
done
