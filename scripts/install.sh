#!/bin/sh
# rand-guard installer, shipped at the top of the release tarball
# (rand-guard-<version>-x86_64-linux.tar.gz). Run it from the unpacked
# directory, as root:
#
#   sh install.sh [--enable] [--no-kernel-check]   install or upgrade
#   sh install.sh --uninstall                       remove what it installed
#
# It installs the same paths as the .deb and .rpm (docs/packaging.md) and
# is idempotent: running it again changes nothing, and an upgrade replaces
# the binary, the BPF object and the unit but keeps a locally edited config
# or rule file (the shipped one is put beside it as <name>.new), the way
# the packages treat their conffiles. It records what it installed, with
# checksums, in /usr/local/lib/rand-guard/installed-files; --uninstall
# removes exactly those files and keeps (and names) any that were edited.
set -eu
# Directories made here must pass the agent's permission check (root's, not
# writable by group or others) whatever the caller's umask.
umask 022

BIN=/usr/local/bin/rand-guard
LIBDIR=/usr/local/lib/rand-guard
OBJECT=$LIBDIR/edr-ebpf
ETCDIR=/etc/rand-guard
CONFIG=$ETCDIR/config.toml
RULESDIR=$ETCDIR/rules.d
UNIT=/etc/systemd/system/rand-guard.service
LOGROTATE=/etc/logrotate.d/rand-guard
WANTS_LINK=/etc/systemd/system/multi-user.target.wants/rand-guard.service
MANIFEST=$LIBDIR/installed-files

# The kernel the agent needs: BPF ring buffer (5.8) and bpf_loop (5.17).
# CI proves it on 6.1 and newer only (cargo xtask vm-test boots Debian 12's
# 6.1 and 6.12 kernels; docs/kernels.md): 5.17 to 6.0 have every feature
# the programs use but nothing tests them there, so they need
# --no-kernel-check.
MIN_RINGBUF=5.8
MIN_KERNEL=5.17
MIN_TESTED=6.1

usage() {
	cat <<'USAGE'
usage: sh install.sh [--enable] [--no-kernel-check]
       sh install.sh --uninstall

  (no option)        install or upgrade rand-guard from this directory
  --enable           also enable and start rand-guard.service (needs a
                     running systemd)
  --no-kernel-check  install on a kernel older than the tested ones (6.1)
                     or one that reports an older version but carries the
                     BPF features (distribution backports)
  --uninstall        stop and disable the service and remove what this
                     script installed; edited config and rule files stay
USAGE
}

say() { echo "install.sh: $*"; }
die() {
	echo "install.sh: error: $*" >&2
	exit 1
}

systemd_running() { [ -d /run/systemd/system ]; }

# "major.minor" of a kernel release string such as 6.1.0-18-amd64.
kernel_version() { echo "$1" | sed -n 's/^\([0-9]*\)\.\([0-9]*\).*/\1 \2/p'; }

# version_at_least "6 1" 5.17: true when the first is >= the second.
version_at_least() {
	set -- $1 $(echo "$2" | tr . ' ')
	[ "$1" -gt "$3" ] || { [ "$1" -eq "$3" ] && [ "$2" -ge "$4" ]; }
}

# check_kernel RELEASE BTF: dies naming the first missing prerequisite.
check_kernel() {
	release=$1
	[ -r "$2" ] ||
		die "this kernel has no BTF ($2 is missing): rand-guard's CO-RE programs need a kernel built with CONFIG_DEBUG_INFO_BTF=y"
	version=$(kernel_version "$release")
	[ -n "$version" ] || die "cannot read the kernel version from uname -r ($release); --no-kernel-check skips this check"
	version_at_least "$version" "$MIN_RINGBUF" ||
		die "kernel $release has no BPF ring buffer (Linux >= $MIN_RINGBUF): rand-guard cannot run here"
	version_at_least "$version" "$MIN_KERNEL" ||
		die "kernel $release is older than $MIN_KERNEL: rand-guard's programs use bpf_loop (Linux >= $MIN_KERNEL); if your distribution backported it, rerun with --no-kernel-check"
	version_at_least "$version" "$MIN_TESTED" ||
		die "kernel $release is older than $MIN_TESTED, the oldest kernel rand-guard is tested on (see docs/kernels.md); it has the BPF features the programs use, so --no-kernel-check installs anyway, untested"
}

# The .deb or .rpm owns these paths: leave them to the package manager.
check_not_packaged() {
	if command -v dpkg-query >/dev/null 2>&1 && dpkg-query -S "$BIN" >/dev/null 2>&1; then
		die "$BIN belongs to the rand-guard .deb: use dpkg/apt (dpkg --purge rand-guard) instead"
	fi
	# Only where an rpm database exists: on Debian, where rpm is just a
	# tool, a query would create an empty one in root's home.
	if command -v rpm >/dev/null 2>&1 && [ -d "$(rpm --eval '%_dbpath')" ] &&
		rpm -qf "$BIN" >/dev/null 2>&1; then
		die "$BIN belongs to the rand-guard .rpm: use rpm/dnf (rpm -e rand-guard) instead"
	fi
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# The checksum the manifest recorded for a path, or nothing.
recorded_sha() {
	[ -f "$MANIFEST" ] || return 0
	awk -v p="$1" '$2 == p { print $1 }' "$MANIFEST"
}

# Copy to a temporary name beside the destination, then rename: a running
# agent keeps its old binary, and nobody sees a half-written file.
put() { # put SOURCE DEST MODE
	tmp="$2.rg-install.$$"
	cp "$1" "$tmp"
	chmod "$3" "$tmp"
	mv -f "$tmp" "$2"
	echo "$(sha "$2") $2" >>"$NEW_MANIFEST"
}

# A configuration file: installed when absent, unchanged, or untouched
# since this script installed it; otherwise the local edit stays and the
# shipped file goes beside it as <name>.new.
put_conffile() { # put_conffile SOURCE DEST MODE
	if [ -f "$2" ] && ! cmp -s "$1" "$2" && [ "$(sha "$2")" != "$(recorded_sha "$2")" ]; then
		put "$1" "$2.new" "$3"
		say "kept your edited $2; the shipped version is $2.new"
		# The edited file is the administrator's, not ours: not recorded.
	else
		put "$1" "$2" "$3"
	fi
}

install_all() {
	here=$(cd "$(dirname "$0")" && pwd)
	for f in rand-guard edr-ebpf config.toml rand-guard.service logrotate; do
		[ -f "$here/$f" ] || die "$here/$f is missing: run install.sh from the unpacked release tarball"
	done
	[ -d "$here/rules.d" ] || die "$here/rules.d is missing: run install.sh from the unpacked release tarball"

	mkdir -p "$LIBDIR" "$RULESDIR" /usr/local/bin /etc/systemd/system /etc/logrotate.d
	NEW_MANIFEST=$MANIFEST.rg-install.$$
	: >"$NEW_MANIFEST"
	put "$here/rand-guard" "$BIN" 0755
	put "$here/edr-ebpf" "$OBJECT" 0644
	# 0600: the watched and excluded paths are of use to an attacker.
	put_conffile "$here/config.toml" "$CONFIG" 0600
	# rules.d may be empty: the release ships no rule file yet.
	for rule in "$here"/rules.d/*; do
		[ -f "$rule" ] || continue
		put_conffile "$rule" "$RULESDIR/$(basename "$rule")" 0644
	done
	put "$here/rand-guard.service" "$UNIT" 0644
	# Rotation of the output (used when logrotate is installed).
	put_conffile "$here/logrotate" "$LOGROTATE" 0644
	# What an earlier run installed and this one did not (a stale .new, a
	# rule file no longer shipped) goes, unless it was edited since.
	if [ -f "$MANIFEST" ]; then
		while read -r sum path; do
			grep -q " $path\$" "$NEW_MANIFEST" && continue
			if [ -f "$path" ] && [ "$(sha "$path")" = "$sum" ]; then
				rm -f "$path"
			fi
		done <"$MANIFEST"
	fi
	mv -f "$NEW_MANIFEST" "$MANIFEST"
	chmod 0644 "$MANIFEST"
	say "installed $BIN, $OBJECT, $CONFIG, $RULESDIR/, $UNIT, $LOGROTATE"

	if systemd_running; then
		systemctl daemon-reload
		# An upgrade: a running agent restarts on the new binary and object.
		systemctl try-restart rand-guard.service
		if [ "$ENABLE" = yes ]; then
			systemctl enable --now rand-guard.service
			say "rand-guard.service enabled and started; records go to /var/log/rand-guard/events.jsonl"
		else
			say "start it with: systemctl enable --now rand-guard"
		fi
	else
		say "systemd is not running here: start the agent by hand with"
		say "  EDR_CONFIG=$CONFIG EDR_EBPF_OBJECT=$OBJECT $BIN run"
	fi
}

uninstall_all() {
	if systemd_running; then
		systemctl disable --now rand-guard.service 2>/dev/null || true
	fi
	# An enablement link made while systemd was not running would dangle.
	if [ -L "$WANTS_LINK" ]; then
		rm -f "$WANTS_LINK"
	fi
	if [ -f "$MANIFEST" ]; then
		while read -r sum path; do
			[ -e "$path" ] || continue
			if [ "$(sha "$path")" = "$sum" ]; then
				rm -f "$path"
			else
				say "kept $path: it was changed after installation"
			fi
		done <"$MANIFEST"
		rm -f "$MANIFEST"
	elif [ -e "$BIN" ] || [ -e "$UNIT" ] || [ -e "$ETCDIR" ]; then
		die "$MANIFEST is missing: these files were not installed by install.sh (or it was deleted); remove them by hand: $BIN $LIBDIR $ETCDIR $UNIT $LOGROTATE"
	else
		say "rand-guard is not installed"
	fi
	# Only empty directories go: rules an administrator added stay.
	for dir in "$RULESDIR" "$ETCDIR" "$LIBDIR"; do
		if [ -d "$dir" ]; then
			rmdir "$dir" 2>/dev/null || say "kept $dir: it still holds $(ls -A "$dir" | tr '\n' ' ')"
		fi
	done
	if systemd_running; then
		systemctl daemon-reload
	fi
	say "uninstalled (records in /var/log/rand-guard, if any, are left in place)"
}

main() {
	ENABLE=no
	UNINSTALL=no
	KERNEL_CHECK=yes
	for arg in "$@"; do
		case "$arg" in
		--enable) ENABLE=yes ;;
		--uninstall) UNINSTALL=yes ;;
		--no-kernel-check) KERNEL_CHECK=no ;;
		-h | --help)
			usage
			exit 0
			;;
		*)
			usage >&2
			echo "install.sh: error: unknown option $arg" >&2
			exit 2
			;;
		esac
	done

	[ "$(id -u)" -eq 0 ] || die "must run as root: it installs into /usr/local and /etc and manages the systemd unit"
	check_not_packaged

	if [ "$UNINSTALL" = yes ]; then
		[ "$ENABLE" = no ] || die "--enable and --uninstall do not go together"
		uninstall_all
		exit 0
	fi

	# Refuse before touching anything.
	if [ "$ENABLE" = yes ] && ! systemd_running; then
		die "--enable: systemd is not running here (no /run/systemd/system); install without --enable and start the agent by hand"
	fi
	if [ "$KERNEL_CHECK" = yes ]; then
		check_kernel "$(uname -r)" /sys/kernel/btf/vmlinux
	fi
	install_all
}

# tests/packaging.rs sources this file with RAND_GUARD_INSTALL_LIB=1 to
# call the functions above one by one.
if [ "${RAND_GUARD_INSTALL_LIB:-}" != 1 ]; then
	main "$@"
fi
