//! Fields → [`Process`]: the subject, its parent and its ancestors,
//! rebuilt from the record's `process` and `rand_guard` objects.

use serde_json::Value;
use std::sync::Arc;

use super::ReplayError;
use super::json::*;
use crate::config::ANCESTRY_DEPTH_MAX;
use crate::model::container::{Cgroup, Container, Runtime};
use crate::model::event::{Creds, Image, Namespaces, Truncation};
use crate::model::hash::{Hashed, Skip};
use crate::model::proctable::{EntityId, Origin, Process};

/// The process context of a record.
pub(super) struct ProcContext {
    /// The subject, when the agent knew it.
    pub(super) subject: Option<Arc<Process>>,
    /// The parent's start (the event bodies name it), 0 when not written.
    pub(super) parent_start_ns: u64,
}

/// Image keys of `process` and `process.parent`: any of them means the
/// record describes that process's image.
const IMAGE_KEYS: [&str; 6] = [
    "executable",
    "args",
    "args_count",
    "command_line",
    "name",
    "start",
];

/// Rebuild the subject process, its parent and its ancestors.
///
/// The writer gives the subject in full, the parent's image (only while
/// the linked parent is the current one, `pp.pid == ppid`) and pid and
/// executable of each ancestor, the parent first. Rules read no more of
/// the parent and ancestors than that (rules/fields.rs), so what is not
/// written (their creds, exe, cgroup, how they were learned) is left
/// empty without changing what a rule sees.
pub(super) fn context(
    root: &Obj<'_>,
    process: &Obj<'_>,
    rg: &Obj<'_>,
    pid: u32,
    ppid: u32,
    image_cut: Truncation,
) -> Result<ProcContext, ReplayError> {
    let parent = process.need_obj("parent")?;
    // `rand_guard.process` (its `origin` is always written) is what marks
    // a process the agent knew; without it only pid, name (the kernel's
    // task name) and parent pid are written.
    let Some(rgp) = rg.obj("process")? else {
        // Keys only a known process has.
        let only_known: [(&Obj<'_>, &[&str]); 4] = [
            (
                process,
                &[
                    "executable",
                    "args",
                    "start",
                    "user",
                    "group",
                    "real_user",
                    "real_group",
                ],
            ),
            (root, &["user", "container", "orchestrator"]),
            (&parent, &["executable", "args", "name", "start"]),
            (rg, &["ancestry", "systemd"]),
        ];
        for (o, keys) in only_known {
            if let Some(k) = keys.iter().find(|k| o.has(k)) {
                return Err(o.err(
                    k,
                    "given for a process the record does not describe \
                     (no `rand_guard.process`): the agent writes both or neither",
                ));
            }
        }
        return Ok(ProcContext {
            subject: None,
            parent_start_ns: 0,
        });
    };

    let origin = rgp.need("origin", |v| {
        one_of(
            v,
            &[
                (Origin::Exec, "exec"),
                (Origin::Fork, "fork"),
                (Origin::Procfs, "procfs"),
            ],
        )
    })?;
    let creds = creds(process, &rgp)?;
    let mut image = image_of(process)?;
    image.exe = rgp.get("exe", owned)?.unwrap_or_default();
    if let Some(why) = rgp.get("hash_skipped", skipped)? {
        if image.hash.get().is_some() {
            return Err(rgp.err("hash_skipped", "given beside process.hash.sha256"));
        }
        let _ = image.hash.set(why);
    }
    image.truncated = image_cut;
    let start = process.get("start", timestamp)?.unwrap_or(0);

    // The chain from the parent up: the described parent, then the rest
    // of `rand_guard.ancestry`; or the ancestry alone.
    let ancestry = ancestry(rg)?;
    let described = IMAGE_KEYS.iter().any(|k| parent.has(k));
    let mut chain: Vec<Process> = Vec::with_capacity(ancestry.len() + 1);
    let mut parent_start_ns = 0;
    let mut rest = &ancestry[..];
    if described {
        let img = image_of(&parent)?;
        if let Some((first, tail)) = ancestry.split_first() {
            // Both are written from the same linked parent.
            if first.0 != ppid {
                return Err(ReplayError::new(
                    "rand_guard.ancestry[0].pid",
                    format!(
                        "is {}, but process.parent describes pid {ppid}: the first ancestor is that parent",
                        first.0
                    ),
                ));
            }
            if first.1 != img.executable {
                return Err(ReplayError::new(
                    "rand_guard.ancestry[0].executable",
                    format!(
                        "is {:?}, but process.parent.executable is {:?}: the first ancestor is that parent",
                        first.1, img.executable
                    ),
                ));
            }
            rest = tail;
        }
        parent_start_ns = parent.get("start", timestamp)?.unwrap_or(0);
        let linked_parent = linked(ppid, img, parent_start_ns);
        entity_of(&parent, &linked_parent)?;
        chain.push(linked_parent);
    }
    for (pid, executable) in rest {
        let img = Image {
            executable: executable.clone(),
            ..Image::default()
        };
        chain.push(linked(*pid, img, 0));
    }
    // Link top-down, as the process table does: each entry's ppid is the
    // pid of the entry above it (unknown, 0, for the topmost).
    let mut up: Option<Arc<Process>> = None;
    let mut len = 0;
    for mut p in chain.into_iter().rev() {
        p.ppid = up.as_ref().map_or(0, |u| u.pid);
        p.parent = up.take();
        p.chain_len = len;
        len += 1;
        up = Some(Arc::new(p));
    }
    let subject = Process {
        pid,
        ppid,
        start_ns: start,
        // Start times from /proc have tick precision (proctable.rs).
        start_exact: origin != Origin::Procfs,
        start_time_ns: start,
        image: Arc::new(image),
        creds,
        cgroup_id: rgp.get("cgroup_id", unsigned::<u64>)?,
        cgroup: cgroup(root, rg, &rgp)?.map(Arc::new),
        ns: match rgp.obj("namespaces")? {
            Some(n) => Some(Namespaces {
                pid: n.need("pid", unsigned::<u32>)?,
                mnt: n.need("mnt", unsigned::<u32>)?,
                net: n.need("net", unsigned::<u32>)?,
                uts: n.need("uts", unsigned::<u32>)?,
            }),
            None => None,
        },
        parent: up,
        origin,
        chain_len: len,
        entity_id: Default::default(),
    };
    entity_of(process, &subject)?;
    Ok(ProcContext {
        subject: Some(Arc::new(subject)),
        parent_start_ns,
    })
}

/// `entity_id` as written: kept, so the rebuilt process writes the same
/// (it derives from the writing host's machine id and the kernel's start
/// time, neither of which the record holds).
fn entity_of(o: &Obj<'_>, p: &Process) -> Result<(), ReplayError> {
    if let Some(s) = o.get("entity_id", owned)? {
        let id = EntityId::parse(&s)
            .ok_or_else(|| o.err("entity_id", "is not 32 lower-case hex digits"))?;
        let _ = p.entity_id.set(id);
    }
    Ok(())
}

/// A parent or ancestor: only its pid, image and start are written.
fn linked(pid: u32, image: Image, start: u64) -> Process {
    Process {
        pid,
        ppid: 0,
        start_ns: start,
        start_exact: true,
        start_time_ns: start,
        image: Arc::new(image),
        creds: None,
        cgroup_id: None,
        cgroup: None,
        ns: None,
        parent: None,
        // Not written for parents; nothing reads it from them.
        origin: Origin::Exec,
        chain_len: 0,
        entity_id: Default::default(),
    }
}

/// executable, args and name of `process` or `process.parent`.
fn image_of(o: &Obj<'_>) -> Result<Image, ReplayError> {
    let executable = o.get("executable", owned)?.unwrap_or_default();
    let args = o.list("args", owned)?;
    // The writer puts args only beside an executable: alone, they would
    // silently vanish from the replayed event.
    if args.is_some() && executable.is_empty() {
        return Err(o.err("args", "given without an executable"));
    }
    let img = Image {
        // `name` is the executable's file name when there is one (the
        // kernel's comm is then not written), the comm otherwise.
        name: o.get("name", owned)?.unwrap_or_default(),
        executable,
        exe: String::new(),
        args: args.unwrap_or_default(),
        env_vars: o.list("env_vars", owned)?.unwrap_or_default(),
        working_directory: o.get("working_directory", owned)?.unwrap_or_default(),
        truncated: Truncation::default(),
        hash: Default::default(),
        file: None,
    };
    if let Some(h) = o.obj("hash")? {
        let hex = h.need("sha256", sha256)?;
        let _ = img.hash.set(hex);
    }
    Ok(img)
}

/// `hash.sha256`: 64 lower-case hex digits, as the hasher writes it.
fn sha256(v: &Value) -> Result<Hashed, String> {
    let s = string(v)?;
    let b = s.as_bytes();
    if b.len() != 64
        || !b
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    {
        return Err(format!("{s:?} is not 64 lower-case hex digits"));
    }
    let mut hex = [0u8; 64];
    hex.copy_from_slice(b);
    Ok(Hashed::Sha256(hex))
}

/// `rand_guard.process.hash_skipped`.
fn skipped(v: &Value) -> Result<Hashed, String> {
    let names: Vec<(Skip, &str)> = Skip::ALL.iter().map(|s| (*s, s.as_str())).collect();
    one_of(v, &names).map(Hashed::Skipped)
}

/// `[{pid, executable}, ...]`, the parent first.
fn ancestry(rg: &Obj<'_>) -> Result<Vec<(u32, String)>, ReplayError> {
    let Some(list) = rg.get("ancestry", array)? else {
        return Ok(Vec::new());
    };
    // Live chains are at most that long; a longer one is not a record the
    // agent wrote (and a chain is dropped recursively: keep it short).
    if list.len() > ANCESTRY_DEPTH_MAX as usize {
        return Err(rg.err(
            "ancestry",
            format!(
                "lists {} ancestors; the agent writes at most {ANCESTRY_DEPTH_MAX}",
                list.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let key = format!("{}[{i}]", rg.key("ancestry"));
        let map = object(v).map_err(|r| ReplayError::new(key.clone(), r))?;
        let a = Obj { map, path: key };
        out.push((
            a.need("pid", unsigned::<u32>)?,
            a.get("executable", owned)?.unwrap_or_default(),
        ));
    }
    Ok(out)
}

/// The four ids come as a set (creds are known or not); the audit ids
/// only with them.
fn creds(process: &Obj<'_>, rgp: &Obj<'_>) -> Result<Option<Creds>, ReplayError> {
    let keys = ["user", "group", "real_user", "real_group"];
    let mut ids = [None; 4];
    for (id, k) in ids.iter_mut().zip(keys) {
        *id = process.id(k)?;
    }
    let login_uid = rgp.get("login_uid", unsigned::<u32>)?;
    let session_id = rgp.get("session_id", unsigned::<u32>)?;
    match ids {
        [Some(euid), Some(egid), Some(uid), Some(gid)] => Ok(Some(Creds {
            uid,
            gid,
            euid,
            egid,
            login_uid,
            session_id,
        })),
        [None, None, None, None] => {
            for (k, v) in [("login_uid", login_uid), ("session_id", session_id)] {
                if v.is_some() {
                    return Err(rgp.err(k, "given without the process's user and group ids"));
                }
            }
            Ok(None)
        }
        _ => {
            let missing = keys.iter().zip(ids).find(|(_, v)| v.is_none());
            let k = missing.map_or("user", |(k, _)| *k);
            Err(process.err(
                &format!("{k}.id"),
                "missing: process.user, group, real_user and real_group come together",
            ))
        }
    }
}

/// `container`, `orchestrator`, `rand_guard.systemd` and
/// `rand_guard.process.cgroup_path` → the process's [`Cgroup`]; None when
/// the record names none of them.
fn cgroup(root: &Obj<'_>, rg: &Obj<'_>, rgp: &Obj<'_>) -> Result<Option<Cgroup>, ReplayError> {
    let container = match root.obj("container")? {
        None => None,
        Some(c) => {
            let runtime = c.need("runtime", |v| {
                let s = string(v)?;
                Runtime::parse(s).ok_or_else(|| {
                    format!("unknown runtime `{s}`; known: docker, containerd, cri-o, podman")
                })
            })?;
            let image_name = match c.obj("image")? {
                Some(i) => i.get("name", owned)?,
                None => None,
            };
            let pod_uid = match root.obj("orchestrator")? {
                Some(o) => o.need_obj("resource")?.get("id", owned)?,
                None => None,
            };
            Some(Container {
                id: c.need("id", owned)?,
                runtime,
                name: c.get("name", owned)?,
                image_name,
                pod_uid,
                // Not written: the drift detection reads it live only.
                upper_dir: None,
            })
        }
    };
    if container.is_none() && root.has("orchestrator") {
        return Err(root.err(
            "orchestrator",
            "given without `container`: the agent writes it only for a container in a pod",
        ));
    }
    let systemd_unit = match rg.obj("systemd")? {
        Some(u) => Some(u.need("unit", owned)?),
        None => None,
    };
    let path = rgp.get("cgroup_path", owned)?;
    if container.is_none() && systemd_unit.is_none() && path.is_none() {
        return Ok(None);
    }
    Ok(Some(Cgroup {
        path: path.unwrap_or_else(|| "/".into()),
        container,
        systemd_unit,
    }))
}
