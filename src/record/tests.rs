//! The hand-written event and alert writer against its oracle, the serde
//! documents in reference.rs: the same bytes for every record of a broad
//! corpus (every body and operation, every optional part present and
//! absent, strings that need escaping) and for generated ones.

use std::sync::Arc;

use proptest::prelude::*;

use super::names::*;
use super::*;
use crate::model::alert::{Evidence, RuleMeta, Severity, Technique};
use crate::model::dns::{DnsError, Query};
use crate::model::event::{
    Body, Creds, ExecBody, ExitBody, ExitStatus, FileBody, FileOp, FileTruncation, ForkBody, Image,
    LossBody, NetBody, NetFamily, NetOp, NetTruncation, SignalBody, Stdio, StdioWiring, Truncation,
};
use crate::model::hash::{Hashed, Skip};
use crate::model::proctable::{Origin, Process};
use crate::model::stats::Loss;
use crate::testkit;

#[test]
fn errno_names_any_result() {
    assert_eq!(errno_name(-13), "EACCES");
    assert_eq!(errno_name(-100_000), "100000");
    // Not -13 cut to 32 bits: a value that is no errno stays a number.
    assert_eq!(errno_name(-(1 << 32) - 13), "4294967309");
    assert_eq!(errno_name(i64::MIN), "9223372036854775808");
}

/// `Json::lit` writes the program's own names without escaping them: the
/// tables they come from must hold none that needs it. (Every `lit` also
/// debug-asserts it, on the corpus below.)
#[test]
fn literal_names_need_no_escaping() {
    use crate::kernel::abi::{file_syscall, net_syscall, stdio_syscall};
    let names = file_syscall::ALL
        .iter()
        .chain(&net_syscall::ALL)
        .chain(&stdio_syscall::ALL)
        .map(|(_, n)| *n)
        .chain(SignalBody::CODES.iter().map(|(_, n)| *n))
        .chain(SignalBody::RESULTS)
        .chain(OPEN_FLAG_NAMES.iter().map(|(_, n)| *n))
        .chain(TRANSPORTS.iter().map(|(_, n)| *n))
        .chain(SOCKET_TYPES.iter().map(|(_, n)| *n));
    for n in names {
        assert_eq!(serde_json::to_string(n).unwrap(), format!("\"{n}\""));
    }
}

/// The line both ways; a failure shows both. `lines` is the caller's, so
/// a test that streams records through one writer, as the agent does,
/// checks the bytes its cache copies.
fn same_bytes(lines: &mut LineWriter, rec: &Record, ctx: &Context) -> Result<(), String> {
    // Appending to a buffer that already holds lines, as the writer does.
    let mut fast = b"earlier line\n".to_vec();
    lines.write_line(rec, ctx, &mut fast).unwrap();
    let mut oracle = b"earlier line\n".to_vec();
    reference::write_line(rec, ctx, &mut oracle);
    if fast == oracle {
        Ok(())
    } else {
        Err(format!(
            "\nfast:   {}\nserde:  {}",
            String::from_utf8_lossy(&fast),
            String::from_utf8_lossy(&oracle)
        ))
    }
}

#[track_caller]
fn assert_same(lines: &mut LineWriter, rec: &Record, ctx: &Context) {
    if let Err(e) = same_bytes(lines, rec, ctx) {
        panic!("{e}");
    }
}

/// Strings that need escaping, or look as if they might.
fn nasty() -> Vec<String> {
    let controls: String = (0u8..0x20).map(char::from).collect();
    vec![
        String::new(),
        "\"".into(),
        "\\".into(),
        "/tmp/a \"quoted\" \\path\\".into(),
        controls.clone(),
        format!("/tmp/x{controls}y"),
        "\u{7f}del".into(),
        "/home/jos\u{e9}/\u{20ac}/\u{1f600}\u{2028}".into(),
        "/".into(),
        "noslash".into(),
        "/a/b/".into(),
        "x".repeat(5000),
        format!("{}\n", "ab\"".repeat(300)),
    ]
}

fn contexts() -> Vec<Context> {
    [0, 1, 3, 100]
        .into_iter()
        .zip(["host-1", "h\"o\\st\n", "", "h\u{e9}"])
        .enumerate()
        .map(|(i, (depth, host))| Context {
            hostname: host.into(),
            agent_version: "0.1.0",
            ancestry_depth: depth,
            hook_paths: Vec::new(),
            // With and without a machine id and names.
            ids: match i {
                1 => HostIds::fixed(None, host, None, 7),
                _ => crate::testkit::host_ids(),
            },
        })
        .collect()
}

fn image(exe: &str, args: &[&str]) -> Arc<Image> {
    Arc::new(Image {
        executable: exe.into(),
        exe: exe.into(),
        name: basename(exe).chars().take(15).collect(),
        args: args.iter().map(|a| a.to_string()).collect(),
        env_vars: Vec::new(),
        truncated: Truncation::default(),
        hash: Default::default(),
        working_directory: match args.len() {
            0 => String::new(),
            1 => "/home/a \"b\"\n".into(),
            _ => "/".into(),
        },
        file: None,
    })
}

/// Subjects: none, ordinary chains, and every optional part missing.
fn processes() -> Vec<Option<Arc<Process>>> {
    let deep = testkit::chain(&[
        "/sbin/init",
        "/usr/lib/systemd/systemd",
        "/usr/sbin/sshd",
        "/usr/sbin/sshd",
        "/bin/bash",
        "/usr/bin/sudo",
        "/bin/sh",
        "/usr/bin/python3",
    ]);
    let nginx = testkit::chain(&["/sbin/init", "/usr/sbin/nginx"]).unwrap();
    let mut out = vec![None, deep.clone(), Some(nginx.clone())];
    // Top of its chain: no parent.
    out.push(Some(testkit::process(
        1,
        "/sbin/init",
        &["/sbin/init"],
        None,
    )));
    // Many arguments, and arguments that need escaping.
    let args: Vec<String> = (0..300).map(|i| format!("--arg{i}=\"v\\{i}\"")).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    out.push(Some(testkit::process(
        7,
        "/usr/bin/env",
        &args,
        Some(nginx.clone()),
    )));
    for s in nasty() {
        let mut p = (*testkit::process(8, &s, &[&s, "", &s], deep.clone())).clone();
        Arc::make_mut(&mut p.image).exe = format!("{s}-exe");
        out.push(Some(Arc::new(p)));
    }
    // No executable (a kernel thread, an unknown image): the comm only,
    // or nothing at all; no exe; no creds, cgroup, audit ids; each origin.
    for (i, (exe, name)) in [("", "kworker/0:1"), ("", ""), ("/bin/ls", "")]
        .into_iter()
        .enumerate()
    {
        let mut p = (*testkit::process(9, exe, &[], Some(nginx.clone()))).clone();
        let img = Arc::make_mut(&mut p.image);
        img.name = name.into();
        img.exe = String::new();
        p.creds = None;
        p.cgroup_id = None;
        p.origin = [Origin::Exec, Origin::Fork, Origin::Procfs][i];
        out.push(Some(Arc::new(p)));
    }
    let mut p = (*testkit::process(10, "/bin/true", &["true"], Some(nginx.clone()))).clone();
    p.creds = Some(Creds {
        uid: 0,
        gid: u32::MAX,
        euid: 4_294_967_294,
        egid: 5,
        login_uid: None,
        session_id: None,
    });
    p.origin = Origin::Procfs;
    out.push(Some(Arc::new(p)));
    // Hashed, with a parent whose file was not: process.hash.sha256,
    // process.parent.hash_skipped is not ECS (the parent has none).
    let skipped = testkit::process(14, "/bin/bash", &["bash"], Some(nginx.clone()));
    skipped
        .image
        .hash
        .set(Hashed::Skipped(Skip::TooLarge))
        .unwrap();
    let hashed = testkit::process(15, "/tmp/x", &["x"], Some(skipped.clone()));
    hashed
        .image
        .hash
        .set(Hashed::from_digest(&[0xab; 32]))
        .unwrap();
    out.push(Some(hashed));
    out.push(Some(skipped));
    // A parent with no executable and no name.
    let mut anon = (*testkit::process(11, "", &[], None)).clone();
    Arc::make_mut(&mut anon.image).name = String::new();
    let child = testkit::process(12, "/bin/cat", &["cat"], Some(Arc::new(anon)));
    out.push(Some(child));
    // Containers and units: every name present, none, a pod, names that
    // need escaping; a unit; the root cgroup (no fields).
    let web = testkit::process(13, "/bin/busybox", &["sh"], Some(nginx.clone()));
    out.push(Some(testkit::in_container(
        &web,
        "web-1",
        "localhost/busy:1",
    )));
    for s in nasty() {
        out.push(Some(testkit::in_container(&web, &s, &s)));
        out.push(Some(testkit::in_unit(&web, &s)));
    }
    let mut bare = (*testkit::in_container(&web, "", "")).clone();
    let mut cg = (**bare.cgroup.as_ref().unwrap()).clone();
    let c = cg.container.as_mut().unwrap();
    (c.name, c.image_name) = (None, None);
    c.runtime = crate::model::container::Runtime::Containerd;
    c.pod_uid = Some("0b6a5d2e-9c1f-4a8b-b3d4-1e2f3a4b5c6d".into());
    cg.systemd_unit = Some("kubelet.service".into());
    bare.cgroup = Some(Arc::new(cg));
    out.push(Some(Arc::new(bare)));
    let mut root = (*web).clone();
    root.cgroup = Some(Arc::new(crate::model::container::Cgroup {
        path: "/".into(),
        ..Default::default()
    }));
    out.push(Some(Arc::new(root)));
    out
}

fn file_bodies() -> Vec<FileBody> {
    let base = FileBody {
        syscall: "openat",
        result: 3,
        ..testkit::file_body(FileOp::Open, "/etc/cron.d/job")
    };
    let mut out = Vec::new();
    for op in [
        FileOp::Open,
        FileOp::Unlink,
        FileOp::Rename,
        FileOp::Chmod,
        FileOp::Chown,
        FileOp::Link,
        FileOp::Symlink,
    ] {
        out.push(FileBody { op, ..base.clone() });
        out.push(FileBody {
            op,
            path: "/".into(),
            result: -13,
            open_flags: 0,
            mode: Some(0o100644),
            owner: Some(0),
            group: Some(u32::MAX),
            at_flags: 0x200,
            resolved: false,
            original_path: Some("/tmp/old \"name\"".into()),
            target_path: Some("../target\\x".into()),
            watched: Some("/etc/shadow".into()),
            truncated: FileTruncation {
                path: true,
                other_path: false,
                unreadable: true,
            },
            ..base.clone()
        });
    }
    // Every open flag, alone and together, unknown bits, each access mode;
    // creation and read-only opens (their event.type differs).
    let mut flags: Vec<u64> = vec![0, 1, 2, 3, 0o100, 0o20000000, 0o20200000, 0o4010000];
    flags.extend(OPEN_FLAG_NAMES.iter().map(|(b, _)| *b | 2));
    flags.push(OPEN_FLAG_NAMES.iter().fold(3, |a, (b, _)| a | b));
    flags.extend([0o40000000, 0x8000_0000_0000_0001, u64::MAX]);
    for open_flags in flags {
        out.push(FileBody {
            open_flags,
            ..base.clone()
        });
    }
    for mode in [0, 0o7, 0o4755, 0o7777, u32::MAX] {
        out.push(FileBody {
            op: FileOp::Chmod,
            mode: Some(mode),
            ..base.clone()
        });
    }
    for result in [-1, -4095, -100_000, -(1 << 32) - 13, i64::MIN, i64::MAX] {
        out.push(FileBody {
            result,
            ..base.clone()
        });
    }
    for t in 0..8u8 {
        out.push(FileBody {
            truncated: FileTruncation {
                path: t & 1 != 0,
                other_path: t & 2 != 0,
                unreadable: t & 4 != 0,
            },
            ..base.clone()
        });
    }
    for s in nasty() {
        out.push(FileBody {
            op: FileOp::Rename,
            path: s.clone(),
            original_path: Some(s.clone()),
            target_path: Some(s.clone()),
            watched: Some(s.as_str().into()),
            ..base.clone()
        });
        out.push(FileBody {
            path: format!("/dir/{s}/file"),
            ..base.clone()
        });
    }
    out
}

fn net_bodies() -> Vec<NetBody> {
    let base = testkit::connect_body("93.184.216.34:443");
    let mut out = Vec::new();
    for op in [
        NetOp::Connect,
        NetOp::Bind,
        NetOp::Listen,
        NetOp::Accept,
        NetOp::DnsQuery,
        NetOp::StdioSocket,
    ] {
        out.push(NetBody { op, ..base.clone() });
        out.push(NetBody {
            op,
            local: None,
            remote: None,
            ..base.clone()
        });
        out.push(NetBody {
            op,
            family: NetFamily::Unix,
            protocol: 0,
            sock_type: 5,
            local: None,
            remote: None,
            unix_path: Some("@abstract \"sock\"\n".into()),
            ..base.clone()
        });
        // No transport, type or direction: no `network` at all.
        out.push(NetBody {
            op,
            family: NetFamily::Other(17),
            protocol: 255,
            sock_type: 10,
            ..base.clone()
        });
    }
    for (local, remote) in [
        ("[::1]:53", "[2001:db8::1]:65535"),
        ("[::ffff:10.0.0.1]:0", "[fe80::1ff:fe23:4567:890a]:22"),
        ("[::]:1", "[1:2:3:4:5:6:7:8]:8080"),
        ("0.0.0.0:0", "255.255.255.255:65535"),
        ("1.2.3.4:5", "[::ffff:1.2.3.4]:5"),
    ] {
        out.push(NetBody {
            family: NetFamily::Inet6,
            local: Some(local.parse().unwrap()),
            remote: Some(remote.parse().unwrap()),
            ..base.clone()
        });
    }
    for protocol in [1, 17, 58, 132, 0, 6] {
        for sock_type in [1, 2, 3, 5, 0, 4] {
            out.push(NetBody {
                protocol,
                sock_type,
                ..base.clone()
            });
        }
    }
    out.push(NetBody {
        result: -115,
        in_progress: true,
        ..base.clone()
    });
    out.push(NetBody {
        result: i64::MIN,
        ..base.clone()
    });
    let query = |name: &str, qtype, qclass, response| Query {
        id: 0xbeef,
        name: name.into(),
        qtype,
        qclass,
        questions: 1,
        response,
    };
    for q in [
        query("example.com", 1, 1, false),
        query("", 28, 3, true),
        query("weird\\.label\\007\"x", 65_000, 65_535, false),
        query("a.b", 255, 254, true),
    ] {
        out.push(NetBody {
            op: NetOp::DnsQuery,
            protocol: 17,
            sock_type: 2,
            dns: Some(Ok(q)),
            ..base.clone()
        });
    }
    for e in [
        DnsError::Short,
        DnsError::NoQuestion,
        DnsError::NameTruncated,
        DnsError::Compressed,
        DnsError::BadLabel,
        DnsError::TypeTruncated,
    ] {
        out.push(NetBody {
            op: NetOp::DnsQuery,
            dns: Some(Err(e)),
            ..base.clone()
        });
    }
    for fds in 0..8u8 {
        out.push(NetBody {
            op: NetOp::StdioSocket,
            stdio: Some(Stdio {
                fds: fds | 0xf8,
                socket_inode: u64::from(fds) * 1_000_000_007,
            }),
            ..base.clone()
        });
    }
    for t in 0..8u8 {
        out.push(NetBody {
            truncated: NetTruncation {
                unix_path: t & 1 != 0,
                payload: t & 2 != 0,
                address_unreadable: t & 4 != 0,
            },
            ..base.clone()
        });
    }
    out
}

/// Every body, for a subject `p` (its ppid fits its parent link or not).
/// The stdio wirings the writer spells: none to show (terminals), pipes
/// whose other ends and connection the parent holds, a socket pair with
/// a listening socket (IPv6), pipes the kernel did not look behind.
fn wiring(n: u8) -> StdioWiring {
    use crate::model::event::{FdType, ParentSocket, StdioFd};
    let fd = |kind, inode, peer_inode| StdioFd {
        kind,
        inode,
        peer_inode,
    };
    match n {
        0 => StdioWiring {
            fds: [fd(FdType::Tty, 3, 0); 3],
            ..Default::default()
        },
        1 => StdioWiring {
            fds: [
                fd(FdType::Pipe, 10, 0),
                fd(FdType::Pipe, 11, 0),
                fd(FdType::Pipe, 11, 0),
            ],
            scanned: true,
            parent_holds: 7,
            parent_socket: Some(ParentSocket {
                inode: 12,
                local_port: 40000,
                remote: Some("127.0.0.1:4444".parse().unwrap()),
            }),
        },
        2 => StdioWiring {
            fds: [
                fd(FdType::Unix, 20, 21),
                fd(FdType::Unix, 20, 21),
                fd(FdType::Closed, 0, 0),
            ],
            scanned: true,
            parent_holds: 3,
            parent_socket: Some(ParentSocket {
                inode: 22,
                local_port: 9001,
                remote: None,
            }),
        },
        _ => StdioWiring {
            fds: [
                fd(FdType::Fifo, 30, 0),
                fd(FdType::File, 31, 0),
                fd(FdType::Other, 32, 0),
            ],
            ..Default::default()
        },
    }
}

fn bodies(p: Option<&Arc<Process>>) -> Vec<Body> {
    let ppid = p.map_or(1, |p| p.ppid);
    let creds = Creds {
        uid: 1000,
        gid: 100,
        euid: 0,
        egid: 0,
        login_uid: Some(1000),
        session_id: None,
    };
    let mut out = Vec::new();
    for ppid in [ppid, ppid + 1000] {
        let img = p.map_or_else(|| image("/bin/ls", &["ls", "-l"]), |p| p.image.clone());
        out.push(Body::Exec(ExecBody {
            image: img,
            ppid,
            start_ns: 1,
            parent_start_ns: 2,
            creds,
            cgroup_id: 3,
            ns: crate::testkit::NS,
            argc: 2,
            stdio: Default::default(),
        }));
        out.push(Body::Fork(ForkBody {
            parent_pid: ppid,
            parent_start_ns: 1,
            child_ppid: ppid,
            child_start_ns: 2,
        }));
        for (name, status) in [
            ("ls", ExitStatus::from_wait_status(0)),
            ("", ExitStatus::from_wait_status(0x8b)),
            ("a\"b\\c\n", ExitStatus::from_wait_status(0x100 * 255)),
            ("k", ExitStatus::from_wait_status(9)),
        ] {
            out.push(Body::Exit(ExitBody {
                start_ns: testkit::BOOT - 5,
                ppid,
                name: name.into(),
                status,
            }));
        }
    }
    // Every truncation of an exec image.
    // (and the dynamic-linker variables, with and without a cut scan).
    for t in 0..64u8 {
        let mut img = (*image("/usr/bin/x", &["x"])).clone();
        img.truncated = Truncation {
            executable: t & 1 != 0,
            exe: t & 2 != 0,
            args: t & 4 != 0,
            args_unreadable: t & 8 != 0,
            exe_detached: true,
            env: t & 16 != 0,
            working_directory: t & 32 != 0,
        };
        if t & 32 != 0 {
            img.env_vars = vec!["LD_PRELOAD=/tmp/a b.so".into(), "LD_AUDIT=\"q\"".into()];
        }
        out.push(Body::Exec(ExecBody {
            image: Arc::new(img),
            ppid,
            start_ns: 1,
            parent_start_ns: 2,
            creds,
            cgroup_id: 3,
            ns: crate::testkit::NS,
            argc: 1,
            stdio: wiring(t % 4),
        }));
    }
    for (signal, code) in [
        (15, "SI_USER"),
        (9, "SI_QUEUE"),
        (36, "SI_TKILL"),
        (99, "X"),
    ] {
        for result in SignalBody::RESULTS {
            out.push(Body::Signal(SignalBody {
                target_pid: 4242,
                target_tid: 4243,
                signal,
                code,
                result,
            }));
        }
    }
    // Loss (rg-agent-loss): nothing, one list, every list, several names.
    let lists: [Vec<(&'static str, u64)>; 3] = [
        vec![],
        vec![("file_chmod", 7)],
        vec![("exec", 1), ("alert", u64::MAX / 4), ("health", 3)],
    ];
    for i in 0..8usize {
        let l = |k: usize| lists[(i + k) % 3].clone();
        out.push(Body::Loss(Box::new(LossBody {
            since_ns: [0, testkit::WALL, u64::MAX][i % 3],
            lost: Loss {
                kernel_ringbuf_drops: l(0),
                channel_full_drops: l(1),
                channel_full_drops_by_kind: l(1),
                output_buffer_drops: l(2),
                output_buffer_drops_by_kind: l(i),
            },
        })));
    }
    out.extend(file_bodies().into_iter().map(Body::File));
    out.extend(net_bodies().into_iter().map(Body::Net));
    out
}

fn events() -> Vec<Event> {
    let mut out = Vec::new();
    for (i, p) in processes().into_iter().enumerate() {
        for body in bodies(p.as_ref()) {
            let n = out.len() as u64;
            out.push(Event {
                seq: n * 7919,
                // Varied instants, the ends of the range included.
                time_ns: match n % 5 {
                    0 => 0,
                    1 => u64::MAX,
                    _ => testkit::WALL + n * 1_234_567_891,
                },
                ktime_ns: testkit::BOOT + n,
                pid: p.as_ref().map_or(i as u32, |p| p.pid),
                tid: u32::MAX - i as u32,
                body,
                process: p.clone(),
            });
        }
    }
    out
}

fn rule(i: usize) -> Arc<RuleMeta> {
    let t = |id: &str, name: Option<&str>| Technique {
        id: id.into(),
        name: name.map(Into::into),
    };
    let techniques = match i % 4 {
        0 => vec![],
        1 => vec![t("T1053.003", Some("Cron"))],
        2 => vec![t("T1053", Some("Scheduled \"Task\"")), t("T1543", None)],
        3 if i % 8 == 3 => vec![
            t("T1053.003", Some("Scheduled Task/Job: Cron")),
            t("T1053.005", Some("Scheduled Task/Job: Scheduled \"Task\"")),
            t("T1059", Some("Command and Scripting Interpreter")),
            t("T1\"x.00\\1", None),
        ],
        _ => vec![t("T1", Some("a")), t("T2", Some("b\\")), t("T3", Some(""))],
    };
    Arc::new(RuleMeta {
        id: format!("rg-rule-{i}"),
        name: ["Cron \"job\"", "", "r\u{e9}gle\n"][i % 3].into(),
        description: "A file in /etc/cron.d was written\tby \\ someone".into(),
        severity: [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ][i % 4],
        tactics: match i % 3 {
            0 => vec![],
            1 => vec!["Persistence".into()],
            _ => vec!["Persistence".into(), "Privilege \"Escalation\"".into()],
        },
        techniques,
        source: if i.is_multiple_of(2) {
            "builtin".into()
        } else {
            "/etc/rand-guard/rules.d/x \"y\".toml".into()
        },
        // Sigma rules' attribution, on some rules only (absent when empty).
        references: match i % 3 {
            2 => vec!["https://example.org/a?b=\"c\"".into(), "x".into()],
            _ => vec![],
        },
        authors: match i % 4 {
            3 => vec!["A. Writer".into(), "B \\ Writer".into()],
            _ => vec![],
        },
    })
}

fn alerts(events: &[Event]) -> Vec<Alert> {
    let mut out = Vec::new();
    for (i, ev) in events.iter().enumerate().step_by(7) {
        // Evidence: none, this event, or a scenario's worth, with every
        // optional part missing in some.
        let mut evidence = Vec::new();
        for e in events.iter().skip(i % 50).step_by(97).take(i % 4) {
            evidence.push(Evidence::of(e));
        }
        if i % 3 == 0 {
            evidence.push(Evidence {
                time_ns: u64::MAX,
                action: "connect",
                pid: 0,
                executable: None,
                command_line: Some(String::new()),
                path: None,
                destination: Some("[::1]:443".parse().unwrap()),
            });
        }
        out.push(Alert {
            rule: rule(i),
            event: ev.clone(),
            message: format!("alert {i}: \"{}\"", ev.body.action()),
            id: format!("{i:016x}"),
            suppressed: [0, 1, u64::MAX][i % 3],
            evidence,
            // Reasons and a package context on some, with quotes and
            // non-ASCII to escape.
            reasons: (0..i % 3)
                .map(|n| format!("reason {n}: \"q\" \u{e9}"))
                .collect(),
            package: (i % 2 == 1).then(|| {
                Arc::new(crate::model::alert::PackageOp {
                    manager: "dpkg",
                    pid: 812 + i as u32,
                    name: (i % 4 == 1).then(|| "at".to_string()),
                    operation: (i % 3 != 0).then(|| "configure".to_string()),
                })
            }),
            // An indicator on some, its list's name needing escapes.
            indicator: (i % 3 == 2).then(|| {
                Box::new(crate::model::alert::Indicator {
                    feed: "/etc/rand-guard/ioc/\"c2\".txt".into(),
                    kind: ["file", "ipv4-addr", "domain-name"][i % 3],
                    entry: format!("10.{i}.0.0/16"),
                })
            }),
        });
    }
    out
}

/// Through one writer, as the agent writes them: each parent's bytes are
/// cached at its first child and copied for the many after, across
/// contexts of different depths and hosts.
#[test]
fn events_match_the_serde_form() {
    let evs = events();
    assert!(evs.len() > 3000, "{}", evs.len());
    let mut lines = LineWriter::new();
    for ctx in contexts() {
        for ev in &evs {
            assert_same(&mut lines, &Record::Event(ev.clone()), &ctx);
        }
    }
    // And the contexts interleaved: the depth changes from line to line.
    let ctxs = contexts();
    for (i, ev) in evs.iter().enumerate() {
        assert_same(
            &mut lines,
            &Record::Event(ev.clone()),
            &ctxs[i % ctxs.len()],
        );
    }
}

#[test]
fn alerts_match_the_serde_form() {
    let evs = events();
    let alerts = alerts(&evs);
    assert!(alerts.len() > 400);
    let mut lines = LineWriter::new();
    for ctx in contexts() {
        for a in &alerts {
            assert_same(&mut lines, &Record::Alert(a.clone()), &ctx);
            // Its event's line, written after its alert's, from the cache.
            assert_same(&mut lines, &Record::Event(a.event.clone()), &ctx);
        }
    }
}

/// Any text, control characters and every plane included.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter),
        "[\\x00-\\x7f]{0,40}",
        "[/a-z\"\\\\\\x00-\\x1f\\x7f\u{e9}]{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_records_match_the_serde_form(
        exe in text(),
        args in proptest::collection::vec(text(), 0..6),
        path in text(),
        other in proptest::option::of(text()),
        host in text(),
        message in text(),
        flags in any::<u64>(),
        mode in proptest::option::of(any::<u32>()),
        result in any::<i64>(),
        time_ns in any::<u64>(),
        depth in 0usize..4,
        pick in 0usize..1000,
    ) {
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let top = testkit::process(2, &exe, &arg_refs, None);
        let p = testkit::process(3, &path, &arg_refs, Some(top));
        let ctx = Context {
            hostname: host,
            agent_version: "0.1.0",
            ancestry_depth: depth,
            hook_paths: Vec::new(),
            ids: crate::testkit::host_ids(),
        };
        let mut ev = testkit::file_with(1, &p, FileOp::Open, &path, |f| {
            f.open_flags = flags;
            f.mode = mode;
            f.result = result;
            f.original_path = other.clone();
            f.target_path = other.clone();
        });
        ev.time_ns = time_ns;
        // One writer: the exec's parent bytes come from the cache.
        let mut lines = LineWriter::new();
        same_bytes(&mut lines, &Record::Event(ev.clone()), &ctx).map_err(TestCaseError::fail)?;
        let exec = testkit::exec(2, &p);
        same_bytes(&mut lines, &Record::Event(exec.clone()), &ctx).map_err(TestCaseError::fail)?;
        let alert = Alert {
            rule: rule(pick),
            event: ev.clone(),
            message: message.clone(),
            id: exe.clone(),
            suppressed: flags,
            evidence: vec![Evidence::of(&exec), Evidence::of(&ev)],
            reasons: vec![exe.clone(), message.clone()],
            package: (flags % 2 == 1).then(|| {
                Arc::new(crate::model::alert::PackageOp {
                    manager: "apt",
                    pid: flags as u32,
                    name: Some(exe.clone()),
                    operation: None,
                })
            }),
            indicator: (flags % 3 == 0).then(|| {
                Box::new(crate::model::alert::Indicator {
                    feed: exe.as_str().into(),
                    kind: "domain-name",
                    entry: message.clone(),
                })
            }),
        };
        same_bytes(&mut lines, &Record::Alert(alert), &ctx).map_err(TestCaseError::fail)?;
    }
}

mod ecs;
mod identity;
mod stdio;
