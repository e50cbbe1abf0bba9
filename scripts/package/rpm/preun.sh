# rand-guard .rpm %preun ($1: 0 on erase, 1 on upgrade): on erase, stop and
# disable the service where systemd is running.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
	systemctl disable --now rand-guard.service || :
fi
