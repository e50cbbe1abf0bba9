# rand-guard .rpm %postun ($1: 0 on erase, 1 on upgrade).
if [ "$1" -eq 0 ]; then
	# An enablement link made while systemd was not running would dangle.
	link=/etc/systemd/system/multi-user.target.wants/rand-guard.service
	if [ -L "$link" ]; then
		rm -f "$link"
	fi
	# rpm removes the files it lists, not their directories; keep any that
	# still hold something (a modified config saved as .rpmsave, added rules).
	rmdir /etc/rand-guard/rules.d /etc/rand-guard /usr/local/lib/rand-guard 2>/dev/null || :
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || :
	# An upgrade replaced the binary and the BPF object: restart a running
	# agent on the new ones.
	if [ "$1" -ge 1 ]; then
		systemctl try-restart rand-guard.service || :
	fi
fi
