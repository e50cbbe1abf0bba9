//! Builders of events for unit tests: processes with a parent chain,
//! execs, exits, file operations and connects, at a given millisecond.

use std::sync::Arc;

use crate::model::event::{
    Body, Creds, Event, ExecBody, ExitBody, ExitStatus, FileBody, FileOp, FileTruncation, Image,
    NetBody, NetFamily, NetOp, NetTruncation,
};
use crate::model::proctable::{Origin, Process};

/// 2026-11-28T08:00:00Z, and a boot clock 1000 s behind it.
pub const WALL: u64 = 1_795_852_800_000_000_000;
pub const BOOT: u64 = 1_000_000_000_000;

/// A process running `exe` with `args`, uid 1000, below `parent`.
pub fn process(pid: u32, exe: &str, args: &[&str], parent: Option<Arc<Process>>) -> Arc<Process> {
    let chain_len = parent.as_ref().map_or(0, |p| p.chain_len + 1);
    Arc::new(Process {
        pid,
        ppid: parent.as_ref().map_or(1, |p| p.pid),
        start_ns: BOOT + u64::from(pid),
        start_exact: true,
        start_time_ns: WALL + u64::from(pid),
        image: Arc::new(Image {
            executable: exe.into(),
            exe: exe.into(),
            name: exe
                .rsplit('/')
                .next()
                .unwrap_or(exe)
                .chars()
                .take(15)
                .collect(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env_vars: Vec::new(),
            truncated: Default::default(),
            hash: Default::default(),
            // Where its program was executed: / as for a service.
            working_directory: "/".into(),
            file: None,
        }),
        creds: Some(Creds {
            uid: 1000,
            gid: 1000,
            euid: 1000,
            egid: 1000,
            login_uid: Some(1000),
            session_id: Some(1),
        }),
        cgroup_id: Some(1),
        cgroup: None,
        ns: Some(NS),
        parent,
        origin: Origin::Exec,
        chain_len,
        entity_id: Default::default(),
    })
}

/// A chain of processes, top first: `chain(&["/sbin/init", "/usr/sbin/nginx"])`
/// gives nginx (pid 101) below init (pid 100).
pub fn chain(exes: &[&str]) -> Option<Arc<Process>> {
    let mut parent = None;
    for (i, exe) in exes.iter().enumerate() {
        parent = Some(process(100 + i as u32, exe, &[exe], parent));
    }
    parent
}

fn at(ms: u64, p: &Arc<Process>, body: Body) -> Event {
    Event {
        seq: ms,
        time_ns: WALL + ms * 1_000_000,
        ktime_ns: BOOT + ms * 1_000_000,
        pid: p.pid,
        tid: p.pid,
        body,
        process: Some(p.clone()),
    }
}

/// `p` exec'd (its image is the new program) at `ms`.
pub fn exec(ms: u64, p: &Arc<Process>) -> Event {
    at(
        ms,
        p,
        Body::Exec(ExecBody {
            image: p.image.clone(),
            ppid: p.ppid,
            start_ns: p.start_ns,
            parent_start_ns: 0,
            creds: p.creds.unwrap(),
            cgroup_id: 1,
            ns: crate::testkit::NS,
            argc: p.image.args.len() as u32,
            stdio: Default::default(),
        }),
    )
}

/// As [`exec`], with the body adjusted by `f`.
pub fn exec_with(ms: u64, p: &Arc<Process>, f: impl FnOnce(&mut ExecBody)) -> Event {
    let mut ev = exec(ms, p);
    if let Body::Exec(b) = &mut ev.body {
        f(b);
    }
    ev
}

/// `p` exited with status 0 at `ms`.
pub fn exit(ms: u64, p: &Arc<Process>) -> Event {
    at(
        ms,
        p,
        Body::Exit(ExitBody {
            start_ns: p.start_ns,
            ppid: p.ppid,
            name: p.image.name.clone(),
            status: ExitStatus::from_wait_status(0),
        }),
    )
}

/// A successful file operation on `path` (an open is for writing).
pub fn file_body(op: FileOp, path: &str) -> FileBody {
    FileBody {
        op,
        syscall: "test",
        path: path.into(),
        original_path: None,
        target_path: None,
        result: 0,
        open_flags: if op == FileOp::Open { 0o1101 } else { 0 },
        mode: None,
        owner: None,
        group: None,
        at_flags: 0,
        resolved: true,
        unfiltered: false,
        watched: None,
        xattr: None,
        truncated: FileTruncation::default(),
    }
}

/// A successful file operation by `p` at `ms`.
pub fn file(ms: u64, p: &Arc<Process>, op: FileOp, path: &str) -> Event {
    at(ms, p, Body::File(file_body(op, path)))
}

/// As [`file`], with the body adjusted by `f`.
pub fn file_with(
    ms: u64,
    p: &Arc<Process>,
    op: FileOp,
    path: &str,
    f: impl FnOnce(&mut FileBody),
) -> Event {
    let mut ev = file(ms, p, op, path);
    if let Body::File(b) = &mut ev.body {
        f(b);
    }
    ev
}

/// A stdio-socket event of `p` at `ms`: fds (bits 0..2) on the TCP
/// socket with inode `ino` connected to `remote`, found by `syscall`.
pub fn stdio(
    ms: u64,
    p: &Arc<Process>,
    syscall: &'static str,
    fds: u8,
    ino: u64,
    remote: &str,
) -> Event {
    at(
        ms,
        p,
        Body::Net(NetBody {
            stdio: Some(crate::model::event::Stdio {
                fds,
                socket_inode: ino,
            }),
            op: NetOp::StdioSocket,
            syscall,
            result: 0,
            in_progress: false,
            family: NetFamily::Inet,
            protocol: 6,
            sock_type: 1,
            local: Some("10.0.0.2:40000".parse().unwrap()),
            remote: Some(remote.parse().unwrap()),
            unix_path: None,
            dns: None,
            truncated: NetTruncation::default(),
        }),
    )
}

/// A TCP connect from 10.0.0.2:40000 to `remote` that succeeded.
pub fn connect_body(remote: &str) -> NetBody {
    NetBody {
        stdio: None,
        op: NetOp::Connect,
        syscall: "connect",
        result: 0,
        in_progress: false,
        family: NetFamily::Inet,
        protocol: 6,
        sock_type: 1,
        local: Some("10.0.0.2:40000".parse().unwrap()),
        remote: Some(remote.parse().unwrap()),
        unix_path: None,
        dns: None,
        truncated: NetTruncation::default(),
    }
}

/// A TCP connect by `p` to `remote` at `ms`.
pub fn connect(ms: u64, p: &Arc<Process>, remote: &str) -> Event {
    at(ms, p, Body::Net(connect_body(remote)))
}

/// The id of the container [`in_container`] puts processes in.
pub const CONTAINER_ID: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

/// `p` moved into podman container `name` running `image`.
pub fn in_container(p: &Arc<Process>, name: &str, image: &str) -> Arc<Process> {
    use crate::model::container::{Cgroup, Container, Runtime};
    let mut q = (**p).clone();
    q.cgroup = Some(Arc::new(Cgroup {
        path: format!("/libpod_parent/libpod-{CONTAINER_ID}"),
        container: Some(Container {
            id: CONTAINER_ID.into(),
            runtime: Runtime::Podman,
            name: Some(name.into()),
            image_name: Some(image.into()),
            pod_uid: None,
            upper_dir: None,
        }),
        systemd_unit: None,
    }));
    Arc::new(q)
}

/// `p` moved into systemd unit `unit` (`/system.slice/<unit>`).
pub fn in_unit(p: &Arc<Process>, unit: &str) -> Arc<Process> {
    use crate::model::container::Cgroup;
    let mut q = (**p).clone();
    q.cgroup = Some(Arc::new(Cgroup {
        path: format!("/system.slice/{unit}"),
        container: None,
        systemd_unit: Some(unit.into()),
    }));
    Arc::new(q)
}

/// Namespace ids of test execs: the ids a host's initial namespaces
/// usually have.
pub const NS: crate::model::event::Namespaces = crate::model::event::Namespaces {
    pid: 4026531836,
    mnt: 4026531841,
    net: 4026531840,
    uts: 4026531838,
};

/// The machine id, accounts and `event.created` the golden files are
/// written with (tests/golden.rs uses the same values).
pub const GOLDEN_MACHINE_ID: &str = "5e1ec7ed5e1ec7ed5e1ec7ed5e1ec7ed";
pub const GOLDEN_CREATED: u64 = WALL + 60_000_000_000;

/// Host ids as the golden files have them: names from
/// tests/golden/accounts, `event.created` fixed.
pub fn host_ids() -> crate::record::HostIds {
    let accounts = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/accounts");
    crate::record::HostIds::fixed(
        Some(GOLDEN_MACHINE_ID),
        "golden-host",
        Some(std::path::Path::new(accounts)),
        GOLDEN_CREATED,
    )
}
