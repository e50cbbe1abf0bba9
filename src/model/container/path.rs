//! A cgroup path → the container or systemd unit it names.
//!
//! Pure string work, the same for cgroup v2 paths (`0::/…` in
//! `/proc/PID/cgroup`) and v1 paths (`4:pids:/…`): the runtimes and
//! systemd name their cgroups the same way in every hierarchy. Forms
//! recognized, one path component at a time:
//!
//! | component                               | who                      |
//! |-----------------------------------------|--------------------------|
//! | `docker-<id>.scope`, `docker/<id>`      | Docker                   |
//! | `libpod-<id>.scope`, `libpod-<id>`      | podman                   |
//! | `cri-containerd-<id>.scope`             | containerd (CRI)         |
//! | `crio-<id>.scope`, `crio-<id>`          | CRI-O                    |
//! | `<id>` under a kubepods pod             | containerd (cgroupfs)    |
//! | `pod<uid>`, `kubepods-…-pod<uid>.slice` | the Kubernetes pod's uid |
//! | `<name>.service`, `<name>.scope`        | a systemd unit           |
//!
//! `<id>` is 64 lowercase hex digits. Conmon's own cgroups
//! (`libpod-conmon-<id>.scope`, `crio-conmon-<id>.scope`) are the
//! runtime's helper on the host side, not the container: they match no
//! container form (the id check fails on `conmon-…`).

use super::Runtime;

/// What a cgroup path says about its processes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PathInfo {
    pub container: Option<(Runtime, String)>,
    /// Kubernetes pod uid, dashed (`0b6a…-…`).
    pub pod_uid: Option<String>,
    /// The innermost systemd unit (`.service` or `.scope`) that is not a
    /// container's own scope.
    pub systemd_unit: Option<String>,
}

/// Parse one cgroup path (absolute, as `/proc/PID/cgroup` shows it).
pub fn parse(path: &str) -> PathInfo {
    let mut info = PathInfo::default();
    let mut in_kubepods = false;
    let mut prev = "";
    for comp in path.split('/').filter(|c| !c.is_empty()) {
        if comp == "kubepods" || comp.starts_with("kubepods.") || comp.starts_with("kubepods-") {
            in_kubepods = true;
        }
        if in_kubepods && let Some(uid) = pod_uid(comp) {
            info.pod_uid = Some(uid);
        } else if let Some(c) = container(comp, prev, in_kubepods) {
            info.container = Some(c);
        } else if is_unit(comp) {
            info.systemd_unit = Some(comp.to_string());
        }
        prev = comp;
    }
    info
}

/// A container's own cgroup component, or None.
fn container(comp: &str, prev: &str, in_kubepods: bool) -> Option<(Runtime, String)> {
    const SCOPED: [(&str, Runtime); 4] = [
        ("docker-", Runtime::Docker),
        ("libpod-", Runtime::Podman),
        ("cri-containerd-", Runtime::Containerd),
        ("crio-", Runtime::CriO),
    ];
    let bare = comp.strip_suffix(".scope").unwrap_or(comp);
    for (prefix, rt) in SCOPED {
        if let Some(id) = bare.strip_prefix(prefix).filter(|id| is_id(id)) {
            return Some((rt, id.to_string()));
        }
    }
    // cgroupfs forms: Docker's `/docker/<id>`, and a bare id in a
    // Kubernetes pod (the kubelet's cgroupfs driver does not name the
    // runtime; containerd is the default CRI runtime since dockershim
    // left Kubernetes in 1.24).
    if is_id(comp) {
        if prev == "docker" {
            return Some((Runtime::Docker, comp.to_string()));
        }
        if in_kubepods {
            return Some((Runtime::Containerd, comp.to_string()));
        }
    }
    None
}

/// `pod<uid>` (cgroupfs) or `kubepods-<qos>-pod<uid_with_underscores>.slice`.
fn pod_uid(comp: &str) -> Option<String> {
    let rest = match comp.strip_suffix(".slice") {
        Some(s) => &s[s.rfind("pod")? + 3..],
        None => comp.strip_prefix("pod")?,
    };
    let uid = rest.replace('_', "-");
    let ok = uid.len() == 36
        && uid.bytes().enumerate().all(|(i, b)| {
            matches!(i, 8 | 13 | 18 | 23) == (b == b'-') && (b == b'-' || b.is_ascii_hexdigit())
        });
    ok.then_some(uid)
}

fn is_unit(comp: &str) -> bool {
    let name = comp
        .strip_suffix(".service")
        .or_else(|| comp.strip_suffix(".scope"));
    // `init.scope` is systemd itself: PID 1 is not "a service".
    name.is_some_and(|n| !n.is_empty()) && comp != "init.scope"
}

/// A full container id: 64 lowercase hex digits.
pub fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The cgroup v2 path in a `/proc/PID/cgroup` text (the `0::` line);
/// None on a cgroup v1-only host.
pub fn v2_path(proc_cgroup: &str) -> Option<&str> {
    proc_cgroup.lines().find_map(|l| l.strip_prefix("0::"))
}
