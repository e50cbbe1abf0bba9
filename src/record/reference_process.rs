//! The serde form of `container`, `orchestrator`, `rand_guard.systemd`
//! and `rand_guard.process.namespaces`, part of the tests' oracle in
//! `reference.rs` (a file of its own to keep that one short).

use serde::{Serialize, Serializer};

use crate::model::container::Container;
use crate::model::event::Namespaces;
use crate::model::proctable::{Origin, Process};

#[derive(Serialize)]
pub(super) struct ContainerDoc<'a> {
    id: &'a str,
    runtime: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<NameDoc<'a>>,
}

#[derive(Serialize)]
pub(super) struct NameDoc<'a> {
    name: &'a str,
}

#[derive(Serialize)]
pub(super) struct OrchestratorDoc<'a> {
    #[serde(rename = "type")]
    type_: &'static str,
    resource: ResourceDoc<'a>,
}

#[derive(Serialize)]
pub(super) struct ResourceDoc<'a> {
    #[serde(rename = "type")]
    type_: &'static str,
    id: &'a str,
}

#[derive(Serialize)]
pub(super) struct RgProcess<'a> {
    /// What /proc/PID/exe shows: the file the kernel runs.
    #[serde(skip_serializing_if = "str::is_empty")]
    exe: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash_skipped: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cgroup_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cgroup_path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespaces: Option<NsDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    login_uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<u32>,
    /// How the agent learned this context: exec, fork or procfs.
    origin: &'static str,
}

pub(super) struct NsDoc(pub(super) Namespaces);

#[derive(Serialize)]
pub(super) struct UnitDoc<'a> {
    pub(super) unit: &'a str,
}

impl<'a> ContainerDoc<'a> {
    pub(super) fn of(c: &'a Container) -> Self {
        ContainerDoc {
            id: &c.id,
            runtime: c.runtime.as_str(),
            name: c.name.as_deref(),
            image: c.image_name.as_deref().map(|name| NameDoc { name }),
        }
    }
}

impl<'a> OrchestratorDoc<'a> {
    pub(super) fn of(c: &'a Container) -> Option<Self> {
        c.pod_uid.as_deref().map(|id| OrchestratorDoc {
            type_: "kubernetes",
            resource: ResourceDoc { type_: "pod", id },
        })
    }
}

impl Serialize for NsDoc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Doc {
            pid: u32,
            mnt: u32,
            net: u32,
            uts: u32,
        }
        let n = self.0;
        Doc {
            pid: n.pid,
            mnt: n.mnt,
            net: n.net,
            uts: n.uts,
        }
        .serialize(s)
    }
}

impl<'a> RgProcess<'a> {
    pub(super) fn of(p: &'a Process) -> Self {
        RgProcess {
            exe: &p.image.exe,
            hash_skipped: p
                .image
                .hash
                .get()
                .and_then(|h| h.skipped())
                .map(|s| s.as_str()),
            cgroup_id: p.cgroup_id,
            cgroup_path: p
                .cgroup
                .as_deref()
                .map(|cg| cg.path.as_str())
                .filter(|path| *path != "/"),
            namespaces: p.ns.map(NsDoc),
            login_uid: p.creds.and_then(|c| c.login_uid),
            session_id: p.creds.and_then(|c| c.session_id),
            origin: match p.origin {
                Origin::Exec => "exec",
                Origin::Fork => "fork",
                Origin::Procfs => "procfs",
            },
        }
    }
}
