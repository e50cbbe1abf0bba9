#!/bin/sh
# Container smoke test of the OCI image in dist/ (issue 16). .ci/run runs it
# as root after `cargo xtask package`; so can anyone with podman and runc:
#
#   sudo sh scripts/ci-container-smoke.sh [DIST_DIR]
#
# It loads dist/rand-guard-*-oci.tar, runs the agent from it in a
# privileged container as docs/containers.md says (host pids, its own UTS
# namespace: host.hostname must still be the host's), starts a workload in
# a second, ordinary container (busybox, imported from a local rootfs: no
# registry), runs /bin/true on the host, writes a cron job inside the
# workload container and runs a program copied in there, then checks the
# records with jq: the host's exec has no container fields and the host's
# name; the workload's exec and the cron alert carry podman's id, the
# container's name and its image; the copied program raised
# rg-container-drift; every user-space process of the host was seeded
# from /proc. On any exit it
# removes the containers and images it made. The last line reads
# "container-smoke: N passed, M failed".
set -eu
cd "$(dirname "$0")/.."

DIST=${1:-dist}
PASSED=0
FAILED=0
TAG=rg-smoke-$$
AGENT=$TAG-agent
WORK=$TAG-work
WORK_IMAGE=localhost/$TAG-busybox:1
IMAGE=
MOUNTED_TRACEFS=no
TMP=$(mktemp -d)

ok() {
	PASSED=$((PASSED + 1))
	echo "container-smoke: ok: $*"
}
fail() {
	FAILED=$((FAILED + 1))
	echo "container-smoke: FAIL: $*" >&2
	exit 1
}
say() { echo "container-smoke: $*"; }

# crun refuses hybrid cgroup v1/v2 hosts; the default ulimits may exceed
# a CI machine's hard limits.
cat >"$TMP/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$TMP/containers.conf"

cleanup() {
	status=$?
	podman rm -f -t 0 "$AGENT" "$WORK" >/dev/null 2>&1 || true
	podman rmi -f "$WORK_IMAGE" >/dev/null 2>&1 || true
	[ -z "$IMAGE" ] || podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
	[ "$MOUNTED_TRACEFS" = no ] || umount /sys/kernel/tracing || true
	rm -rf "$TMP"
	echo "container-smoke: $PASSED passed, $FAILED failed"
	exit $status
}
trap cleanup EXIT
trap 'exit 1' INT TERM

for tool in podman runc jq busybox; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/deps/debian-packages [ci])"
done

# --- the agent's image ---------------------------------------------------
set -- "$DIST"/rand-guard-*-oci.tar
[ $# -eq 1 ] && [ -f "$1" ] || fail "expected exactly one $DIST/rand-guard-*-oci.tar (run: cargo xtask package)"
ARCHIVE=$1
IMAGE=$(podman load -q -i "$ARCHIVE" | sed -n 's/^Loaded image: //p')
[ -n "$IMAGE" ] || fail "podman load $ARCHIVE named no image"
ok "loaded $IMAGE from $ARCHIVE"

# --- the workload's image: busybox-static, /etc/cron.d -------------------
mkdir -p "$TMP/rootfs/bin" "$TMP/rootfs/etc/cron.d" "$TMP/rootfs/tmp"
cp "$(command -v busybox)" "$TMP/rootfs/bin/busybox"
for a in sh true sleep echo cat; do ln -s busybox "$TMP/rootfs/bin/$a"; done
tar -C "$TMP/rootfs" -cf "$TMP/rootfs.tar" .
podman import -q "$TMP/rootfs.tar" "$WORK_IMAGE" >/dev/null
ok "imported $WORK_IMAGE"

# --- the agent, privileged, host pids, its own UTS namespace -------------
mkdir -m 0750 "$TMP/log"
if ! mountpoint -q /sys/kernel/tracing; then
	mount -t tracefs tracefs /sys/kernel/tracing
	MOUNTED_TRACEFS=yes
fi
podman run -d --name "$AGENT" \
	--privileged --pid=host --cgroupns=host \
	-v /sys/kernel/btf:/sys/kernel/btf:ro \
	-v /sys/kernel/tracing:/sys/kernel/tracing \
	-v /sys/fs/cgroup:/sys/fs/cgroup:ro \
	-v /var/lib/containers/storage/overlay-containers:/var/lib/containers/storage/overlay-containers:ro \
	-v /var/lib/containers/storage/overlay-images:/var/lib/containers/storage/overlay-images:ro \
	-v /var/lib/containers/storage/overlay:/var/lib/containers/storage/overlay:ro \
	-v "$TMP/log":/var/log/rand-guard \
	"$IMAGE" >/dev/null
i=0
until podman logs "$AGENT" 2>&1 | grep -q 'rand-guard: ready'; do
	i=$((i + 1))
	[ $i -lt 300 ] || fail "agent not ready in 30 s: $(podman logs "$AGENT" 2>&1)"
	podman container exists "$AGENT" || fail "agent container is gone"
	sleep 0.1
done
READY=$(podman logs "$AGENT" 2>&1 | grep 'rand-guard: ready')
ok "agent ready in its container: $READY"
# What it seeded against the host's user-space processes now (kernel
# threads, PF_KTHREAD in /proc/PID/stat, are not processes it tracks).
seeded=$(echo "$READY" | sed -n 's/.*; \([0-9]*\) processes seeded from \/proc.*/\1/p')
users=0
for stat in /proc/[0-9]*/stat; do
	flags=$(sed 's/.*) //' "$stat" 2>/dev/null | awk '{ print $7 }') || continue
	[ -n "$flags" ] && [ $((flags & 0x200000)) -eq 0 ] && users=$((users + 1))
done
# Both counts move with what starts and stops around them: within 10.
[ -n "$seeded" ] && [ "$seeded" -ge $((users - 10)) ] ||
	fail "seeded $seeded processes; the host has $users user-space processes"
ok "seeded $seeded processes from the host's /proc ($users user-space processes now)"

# --- the workload ----------------------------------------------------------
ID=$(podman run -d --name "$WORK" "$WORK_IMAGE" /bin/sleep 600)
podman exec "$WORK" /bin/sh -c "echo '* * * * * root true' > /etc/cron.d/$TAG"
# A program the image did not have, run in the container (busybox copied
# under the applet's name).
podman exec "$WORK" /bin/sh -c "cp /bin/busybox /tmp/echo && /tmp/echo drift" >/dev/null
/bin/true &
TRUE_PID=$!
wait "$TRUE_PID"
ok "workload $WORK ($ID) started, cron job written in it; host /bin/true was pid $TRUE_PID"

OUT="$TMP/log/events.jsonl"
i=0
# The agent may be half-way through a line: parse line by line, skip what
# does not parse yet.
until [ -f "$OUT" ] && jq -R -c --arg id "$ID" 'fromjson? | select(.record_type == "alert" and .rule.id == "rg-container-drift" and .container.id == $id)' "$OUT" | grep -q .; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "no rg-container-drift alert for $ID in 10 s (the last of the workload's records)"
	sleep 0.1
done
podman stop -t 10 "$AGENT" >/dev/null
[ "$(podman inspect -f '{{.State.ExitCode}}' "$AGENT")" = 0 ] ||
	fail "agent exit code $(podman inspect -f '{{.State.ExitCode}}' "$AGENT"): $(podman logs "$AGENT" 2>&1 | tail -5)"
ok "agent stopped cleanly"

# --- the records ---------------------------------------------------------
HOST=$(hostname)
# (jq -e would judge by the last line's output only: grep for any.)
jq -c --argjson pid "$TRUE_PID" --arg host "$HOST" \
	'select(.event.action == "exec" and .process.pid == $pid)
	 | select(has("container") | not) | select(.host.hostname == $host)' "$OUT" | grep -q . ||
	fail "host /bin/true exec (pid $TRUE_PID): missing, or with container fields, or host.hostname not $HOST: $(jq -c --argjson pid "$TRUE_PID" 'select(.process.pid == $pid) | [.event.action, .host.hostname, .container]' "$OUT")"
ok "host exec has no container fields and host.hostname $HOST"

want=$(jq -nc --arg id "$ID" --arg name "$WORK" --arg image "$WORK_IMAGE" \
	'{id: $id, runtime: "podman", name: $name, image: {name: $image}}')
got=$(jq -c --arg id "$ID" 'select(.event.action == "exec" and .container.id == $id and .process.executable == "/bin/sleep") | .container' "$OUT" | head -1)
[ "$got" = "$want" ] || fail "workload exec: container $got, expected $want"
ok "workload exec carries $want"

got=$(jq -c --arg id "$ID" 'select(.record_type == "alert" and .rule.id == "rg-persist-cron" and .container.id == $id) | [.file.path, .container, .host.hostname]' "$OUT" | head -1)
expect=$(jq -nc --arg p "/etc/cron.d/$TAG" --argjson c "$want" --arg host "$HOST" '[$p, $c, $host]')
[ "$got" = "$expect" ] || fail "cron alert: $got, expected $expect"
ok "cron job in the workload raised rg-persist-cron naming $WORK"

got=$(jq -c --arg id "$ID" 'select(.record_type == "alert" and .rule.id == "rg-container-drift" and .container.id == $id) | .process.executable' "$OUT" | head -1)
[ "$got" = '"/tmp/echo"' ] || fail "no rg-container-drift alert for /tmp/echo in $WORK (got: $got)"
ok "a program written in the workload and run there raised rg-container-drift"

errors=$(jq -s '[.[] | select(.record_type == "health")] | last | .rand_guard.health.container_metadata_errors_total' "$OUT")
[ "$errors" = 0 ] || fail "container_metadata_errors_total is $errors"
ok "no container metadata errors"
