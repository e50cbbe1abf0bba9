//! Names the records write for numbers: transports, socket types, open
//! flags, errnos; and a process's name.

use crate::model::proctable::Process;

/// IPPROTO_* numbers with an ECS `network.transport` name.
pub(crate) const TRANSPORTS: &[(u16, &str)] = &[
    (6, "tcp"),
    (17, "udp"),
    (1, "icmp"),
    (58, "ipv6-icmp"),
    (132, "sctp"),
];

pub(super) fn transport_name(protocol: u16) -> Option<&'static str> {
    TRANSPORTS
        .iter()
        .find(|(n, _)| *n == protocol)
        .map(|(_, name)| *name)
}

/// SOCK_* types by name; any other is written `other`.
pub(crate) const SOCKET_TYPES: &[(u16, &str)] =
    &[(1, "stream"), (2, "dgram"), (3, "raw"), (5, "seqpacket")];

pub(super) fn socket_type_name(t: u16) -> &'static str {
    SOCKET_TYPES
        .iter()
        .find(|(n, _)| *n == t)
        .map_or("other", |(_, name)| *name)
}

/// O_* flag names (x86-64 / generic values).
pub(crate) const OPEN_FLAG_NAMES: &[(u64, &str)] = &[
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o10000, "O_DSYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (0o4000000, "O_SYNC"),
    (0o10000000, "O_PATH"),
    (0o20000000, "O_TMPFILE"),
];

/// "EACCES" for -13; the number when the name is unknown.
/// Any i64 is accepted (a replayed record can carry one): values that are
/// no errno are written as the number, without overflowing.
pub(super) fn errno_name(result: i64) -> String {
    let errno = result.checked_neg().and_then(|n| i32::try_from(n).ok());
    match errno.map(nix::errno::Errno::from_raw) {
        Some(e) if e != nix::errno::Errno::UnknownErrno => format!("{e:?}"),
        _ => format!("{}", -i128::from(result)),
    }
}

pub(super) fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// process.name: the executable's file name; the kernel's comm otherwise.
pub(super) fn name_of(p: &Process) -> Option<&str> {
    let img = &p.image;
    if !img.executable.is_empty() {
        Some(basename(&img.executable))
    } else if !img.name.is_empty() {
        Some(&img.name)
    } else {
        None
    }
}
