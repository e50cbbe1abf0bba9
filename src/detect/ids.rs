//! The built-in detection ids. A leaf of `detect`: the rules loader
//! refuses user rules that take one of these ids, so it must not import
//! the detector that imports it.

use crate::config;

/// Every built-in detection id, stable across releases.
pub const BUILTIN_IDS: &[&str] = &[
    "rg-net-suspicious-port",
    "rg-cred-sensitive-read",
    "rg-persist-systemd-unit",
    "rg-persist-cron",
    "rg-persist-ssh-authorized-keys",
    "rg-persist-ld-preload",
    "rg-persist-rc-scripts",
    "rg-persist-shell-profile",
    "rg-persist-sudoers",
    "rg-persist-account-files",
    "rg-persist-udev-rules",
    "rg-persist-xdg-autostart",
    "rg-persist-motd",
    "rg-persist-pam",
    "rg-persist-package-hook",
    "rg-persist-kernel-modules",
    "rg-persist-ssh-config",
    "rg-log-config-changed",
    "rg-webshell-exec",
    "rg-persist-systemd-enable",
    "rg-drop-exec",
    "rg-fileless-exec",
    "rg-reverse-shell",
    "rg-agent-tamper",
    "rg-agent-signal",
    "rg-agent-loss",
    "rg-container-drift",
    "rg-ioc-match",
    "rg-perm-setuid",
    "rg-perm-world-writable",
    "rg-perm-immutable-cleared",
    "rg-log-wipe",
    "rg-perm-file-capability",
    "rg-preload-env",
];

/// What the configuration may name of the detections (see [`config::Known`]).
pub const KNOWN: config::Known = config::Known {
    builtin_detections: BUILTIN_IDS,
};
