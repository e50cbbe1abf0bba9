#!/bin/sh
# Regenerate vmlinux/vmlinux.h from the running kernel's BTF.
#
# The BPF programs are CO-RE: they are compiled once against this header and
# libbpf relocates every field access against the target kernel's own BTF at
# load time. Regenerate only to use types or fields the current header lacks;
# the header does not need to match the kernel the agent runs on.
#
# Usage: scripts/gen-vmlinux.sh [BTF_FILE]   (default /sys/kernel/btf/vmlinux)
set -eu

btf="${1:-/sys/kernel/btf/vmlinux}"
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/vmlinux/vmlinux.h"

if ! command -v bpftool >/dev/null 2>&1; then
	echo "gen-vmlinux: bpftool not found (Debian: apt-get install bpftool)" >&2
	exit 1
fi
if [ ! -r "$btf" ]; then
	echo "gen-vmlinux: cannot read BTF at $btf (kernel built without CONFIG_DEBUG_INFO_BTF?)" >&2
	exit 1
fi

tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
bpftool btf dump file "$btf" format c >"$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "gen-vmlinux: wrote $out ($(wc -l <"$out") lines) from $btf"
