# rand-guard .rpm %post ($1: 1 on install, 2 on upgrade). The unit is
# installed but not enabled: review /etc/rand-guard/config.toml, then
# `systemctl enable --now rand-guard`. systemctl only where systemd runs.
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || :
fi
