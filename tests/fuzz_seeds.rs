//! The fuzz targets' invariants (fuzz/src/lib.rs) on every seed of their
//! corpus (fuzz/seeds/<target>/), on stable, in `cargo xt`: the seeds
//! exercise the invariants even where nobody fuzzes, and an input that
//! once crashed a target stays fixed once it is a seed.
//!
//! Seeds named `gen-*` are derived from the repository: records made by the
//! `decode::encode_*` helpers, the shipped config, each sample rule, one
//! golden line per record type and action, and `gen-bad-*` ones made
//! from those by one named change. The tests here use them as derived now,
//! so an ABI, config or schema change never makes a stale file fail them;
//! the files are for libFuzzer, and `cargo xtask fuzz` rewrites them first
//! (`cargo test --test fuzz_seeds -- --ignored write_derived_seeds`).
//! The other seeds are written by hand. A seed named `bad-*` or `gen-bad-*`
//! must be rejected (a bad record with the error its name says), every
//! other one accepted. An input that crashed a target is added here under
//! a name that says what it is, with a unit test beside the code it broke.

#[path = "../fuzz/src/lib.rs"]
mod checks;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use rand_guard::kernel::abi::{self, Hdr, exec_flag, file_flag, file_syscall, kind, net_flag};
use rand_guard::kernel::decode;

fn seeds_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target)
}

fn repo_file(path: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// Every derived seed: target -> file name -> bytes.
fn derived() -> BTreeMap<&'static str, BTreeMap<String, Vec<u8>>> {
    let mut all = BTreeMap::new();
    let mut decode = records();
    decode.extend(bad_records(&decode));
    all.insert("decode", decode);
    all.insert(
        "config",
        BTreeMap::from([(
            "gen-config.toml".to_string(),
            repo_file("config/config.toml").into_bytes(),
        )]),
    );
    all.insert("rules", sample_rules());
    let mut replay = golden_lines();
    replay.extend(bad_lines(&replay));
    all.insert("replay", replay);
    all
}

/// Each rule of rules/sample-rules.toml as a file of its own.
fn sample_rules() -> BTreeMap<String, Vec<u8>> {
    let text = repo_file("rules/sample-rules.toml");
    let mut out = BTreeMap::new();
    for (i, part) in text.split("\n[[rules]]\n").skip(1).enumerate() {
        let rule = format!("[[rules]]\n{}\n", part.trim_end());
        out.insert(
            format!("gen-sample-rule-{:02}.toml", i + 1),
            rule.into_bytes(),
        );
    }
    assert_eq!(out.len(), 10, "the ten sample rules");
    // The sample Sigma rules, one document each.
    let sigma = repo_file("rules/sample-sigma.yml");
    let docs: Vec<&str> = sigma.split("\n---\n").collect();
    assert_eq!(docs.len(), 5, "the five sample Sigma rules");
    for (i, doc) in docs.iter().enumerate() {
        out.insert(
            format!("gen-sample-sigma-{:02}.yml", i + 1),
            format!("{}\n", doc.trim_end()).into_bytes(),
        );
    }
    out
}

/// The first golden line of each record type and action.
fn golden_lines() -> BTreeMap<String, Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut out = BTreeMap::new();
    for f in files {
        for line in fs::read_to_string(&f).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let rt = v["record_type"].as_str().unwrap();
            let action = v["event"]["action"].as_str().unwrap_or(rt);
            let name = format!("gen-{rt}-{action}.jsonl");
            out.entry(name)
                .or_insert_with(|| format!("{line}\n").into_bytes());
        }
    }
    out
}

fn hdr(pid: u32) -> Hdr {
    Hdr {
        ktime_ns: 1_000_000_000_000,
        pid,
        tgid: pid,
        ..Hdr::default()
    }
}

fn comm(name: &str) -> [u8; abi::COMM_LEN] {
    let mut c = [0; abi::COMM_LEN];
    c[..name.len()].copy_from_slice(name.as_bytes());
    c
}

/// A DNS query as a stub resolver sends it.
fn dns_query(name: &str, qtype: u16) -> Vec<u8> {
    let mut m = vec![0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

/// One record of every kind, made by the encoders, with the fields that
/// steer the normalizer (relative paths, truncation flags, families).
fn records() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut put = |name: &str, f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = Vec::new();
        f(&mut b);
        out.insert(format!("gen-{name}.bin"), b);
    };
    // A function, not a captured local: rustc 1.95 ICEs ("broken MIR") on
    // closures that capture a struct with a const-sized array field and
    // use it in a struct update.
    let exec = || abi::Exec {
        hdr: hdr(4242),
        start_ns: 999_000_000_000,
        parent_start_ns: 10_000_000_000,
        cgroup_id: 4242,
        pid_ns: 4026531836,
        mnt_ns: 4026531841,
        net_ns: 4026531840,
        uts_ns: 4026531838,
        ppid: 1000,
        uid: 1000,
        gid: 1000,
        euid: 0,
        egid: 0,
        auid: 1000,
        sessionid: 3,
        argc: 3,
        comm: comm("sh"),
        ..Default::default()
    };
    put("exec", &|b| {
        decode::encode_exec(
            &exec(),
            b"/bin/sh",
            b"",
            b"/usr/bin/dash",
            b"sh\0-c\0id\0",
            b,
        )
    });
    put("exec-relative-truncated", &|b| {
        let e = abi::Exec {
            auid: u32::MAX,
            sessionid: u32::MAX,
            flags: exec_flag::ARGS_TRUNC | exec_flag::CWD_TRUNC,
            ..exec()
        };
        decode::encode_exec(
            &e,
            b"../bin/run",
            b"/opt/app/x",
            b"/opt/app/bin/run",
            b"run\0-a\0very-lo",
            b,
        )
    });
    put("exec-memfd", &|b| {
        let e = abi::Exec {
            flags: exec_flag::EXE_DETACHED | exec_flag::ARGS_FAULT,
            ..exec()
        };
        decode::encode_exec(&e, b"/proc/self/fd/3", b"", b"", b"", b)
    });
    put("fork", &|b| {
        let f = abi::Fork {
            hdr: hdr(1000),
            child_start_ns: 999_000_000_000,
            parent_start_ns: 10_000_000_000,
            child_pid: 4242,
            child_ppid: 1000,
        };
        decode::encode_fork(&f, b)
    });
    put("exit", &|b| {
        let x = abi::Exit {
            hdr: hdr(4242),
            start_ns: 999_000_000_000,
            exit_code: 3 << 8,
            ppid: 1000,
            comm: comm("sh"),
        };
        decode::encode_exit(&x, b)
    });
    put("exit-signal-core", &|b| {
        let x = abi::Exit {
            hdr: hdr(4242),
            exit_code: 0x80 | 11,
            comm: comm("a-very-long-nam"),
            ..Default::default()
        };
        decode::encode_exit(&x, b)
    });
    put("exec-env", &|b| {
        let e = abi::ExecEnv {
            hdr: hdr(200),
            start_ns: 5_000,
            flags: abi::env_flag::CUT,
            strings: 1024,
            unscanned_bytes: 9,
            count: 2,
            ..Default::default()
        };
        decode::encode_exec_env(&e, b"LD_PRELOAD=/tmp/x.so\0LD_LIBRARY_PATH=/tmp\0", b)
    });
    put("stdio-exec-inet", &|b| {
        // A shell exec'd with stdin and stdout on one TCP connection.
        let x = abi::Stdio {
            hdr: hdr(4242),
            ino: 123_456,
            local_addr: [10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            remote_addr: [203, 0, 113, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            family: 2,
            sock_type: 1,
            protocol: 6,
            syscall: 48, // execve
            local_port: 40000,
            remote_port: 4444,
            fds: 0b011,
            newfd: 0xff,
            ..Default::default()
        };
        decode::encode_stdio(&x, b)
    });
    put("stdio-dup2-inet6", &|b| {
        let mut remote = [0u8; 16];
        remote[..2].copy_from_slice(&[0x20, 0x01]);
        remote[15] = 7;
        let x = abi::Stdio {
            hdr: hdr(4243),
            ino: 123_457,
            remote_addr: remote,
            family: 10,
            sock_type: 1,
            protocol: 6,
            syscall: 50, // dup2
            remote_port: 443,
            fds: 0b111,
            newfd: 2,
            ..Default::default()
        };
        decode::encode_stdio(&x, b)
    });
    put("signal-term", &|b| {
        let s = abi::Signal {
            hdr: hdr(1000),
            target_start_ns: 5_000_000_000,
            target_pid: 777,
            target_tgid: 777,
            sig: 15,
            ..Default::default()
        };
        decode::encode_signal(&s, b)
    });
    put("signal-tkill-unknown-result", &|b| {
        // SI_TKILL, and a result this build has no name for.
        let s = abi::Signal {
            hdr: hdr(1000),
            target_pid: 778,
            target_tgid: 777,
            sig: 9,
            code: -6,
            result: 99,
            ..Default::default()
        };
        decode::encode_signal(&s, b)
    });
    let file = |k: u16, syscall: &str| abi::File {
        hdr: Hdr {
            kind: k,
            ..hdr(4242)
        },
        uid: u32::MAX,
        gid: u32::MAX,
        syscall: file_syscall::ALL
            .iter()
            .find(|(_, n)| *n == syscall)
            .unwrap()
            .0,
        ..Default::default()
    };
    put("file-open-create", &|b| {
        let f = abi::File {
            ret: 3,
            open_flags: 0o1101, // O_WRONLY | O_CREAT | O_TRUNC
            mode: 0o644,
            flags: file_flag::PATH_RESOLVED,
            ..file(kind::FILE_OPEN, "openat")
        };
        decode::encode_file(&f, b"", b"/etc/systemd/system/x.service", b"", b"", b)
    });
    put("file-open-watched-read", &|b| {
        // A read-only open of a watched inode, by file handle: no path
        // from the syscall, the resolved one from the kernel.
        let f = abi::File {
            ret: 4,
            read_watch: 1,
            flags: file_flag::PATH_RESOLVED,
            ..file(kind::FILE_OPEN, "open_by_handle_at")
        };
        decode::encode_file(&f, b"", b"/etc/shadow", b"", b"", b)
    });
    put("file-unlink-relative", &|b| {
        let f = abi::File {
            at_flags: 0x200, // AT_REMOVEDIR
            flags: file_flag::UNFILTERED,
            ..file(kind::FILE_UNLINK, "unlinkat")
        };
        decode::encode_file(&f, b"/root/.ssh", b"../.ssh/./authorized_keys", b"", b"", b)
    });
    put("file-rename", &|b| {
        let f = file(kind::FILE_RENAME, "renameat2");
        decode::encode_file(&f, b"/tmp", b"a", b"", b"/etc/cron.d/a", b)
    });
    put("file-chmod", &|b| {
        let f = abi::File {
            mode: 0o4755,
            ..file(kind::FILE_CHMOD, "fchmodat")
        };
        decode::encode_file(&f, b"", b"/usr/local/bin/x", b"", b"", b)
    });
    put("file-chown-failed", &|b| {
        let f = abi::File {
            ret: -1,
            uid: 0,
            flags: file_flag::PATH_TRUNC | file_flag::PATH2_FAULT,
            ..file(kind::FILE_CHOWN, "fchownat")
        };
        decode::encode_file(&f, b"", b"/etc/shadow", b"", b"", b)
    });
    put("file-link", &|b| {
        let f = file(kind::FILE_LINK, "linkat");
        decode::encode_file(&f, b"", b"/etc/passwd", b"/home/u", b"p", b)
    });
    put("file-symlink", &|b| {
        let f = abi::File {
            flags: file_flag::PATH2_TRUNC,
            ..file(kind::FILE_SYMLINK, "symlinkat")
        };
        decode::encode_file(&f, b"", b"../../etc/shadow", b"/var/www", b"s", b)
    });
    let net = |k: u16, family: u16, syscall: u16| abi::Net {
        hdr: Hdr {
            kind: k,
            ..hdr(4242)
        },
        family,
        sock_type: 1,
        protocol: 6,
        syscall,
        ..Default::default()
    };
    put("net-connect-inet", &|b| {
        let n = abi::Net {
            ret: -115, // EINPROGRESS
            local_addr: [10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            remote_addr: [10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            local_port: 40000,
            remote_port: 4444,
            flags: net_flag::IN_PROGRESS,
            ..net(kind::NET_CONNECT, 2, 32)
        };
        decode::encode_net(&n, b"", b"", b)
    });
    put("net-bind-inet6", &|b| {
        let mut local = [0u8; 16];
        local[15] = 1;
        let n = abi::Net {
            local_addr: local,
            local_port: 1337,
            ..net(kind::NET_BIND, 10, 33)
        };
        decode::encode_net(&n, b"", b"", b)
    });
    put("net-listen-unix", &|b| {
        let n = abi::Net {
            flags: net_flag::PATH_TRUNC,
            ..net(kind::NET_LISTEN, 1, 34)
        };
        decode::encode_net(&n, b"/run/app.sock\0\0", b"", b)
    });
    put("net-accept-abstract", &|b| {
        let n = abi::Net {
            ret: 5,
            flags: net_flag::ADDR_FAULT,
            ..net(kind::NET_ACCEPT, 1, 36)
        };
        decode::encode_net(&n, b"\0abstract\0", b"", b)
    });
    put("net-dns", &|b| {
        let n = abi::Net {
            ret: 33,
            remote_addr: [127, 0, 0, 53, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            remote_port: 53,
            sock_type: 2,
            protocol: 17,
            flags: net_flag::PAYLOAD_TRUNC,
            ..net(kind::NET_DNS, 2, 37)
        };
        decode::encode_net(&n, b"", &dns_query("www.example.com", 28), b)
    });
    out
}

/// Records the decoder must reject, each made from a good one by the one
/// change its name says; `expected_decode_error` says which error.
fn bad_records(good: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    let exec = &good["gen-exec.bin"];
    let fork = &good["gen-fork.bin"];
    let file = &good["gen-file-rename.bin"];
    let set_u16 =
        |b: &mut Vec<u8>, at: usize, v: u16| b[at..at + 2].copy_from_slice(&v.to_ne_bytes());
    let set_u32 =
        |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    let size_at = std::mem::offset_of!(Hdr, size);
    let mut out = BTreeMap::new();
    out.insert(
        "gen-bad-truncated-header.bin",
        exec[..size_of::<Hdr>() - 1].to_vec(),
    );
    let mut b = exec.clone();
    b[std::mem::offset_of!(Hdr, abi_version)] = abi::ABI_VERSION + 1;
    out.insert("gen-bad-abi-version.bin", b);
    let mut b = fork.clone();
    set_u16(&mut b, std::mem::offset_of!(Hdr, kind), 40);
    out.insert("gen-bad-unknown-kind.bin", b);
    let mut b = exec.clone();
    b.push(0);
    out.insert("gen-bad-size-mismatch.bin", b);
    // A fork record with 8 more bytes than a fork has, and a header that
    // says so: the size agrees, the kind's fixed size does not.
    let mut b = fork.clone();
    b.extend_from_slice(&[0; 8]);
    let n = b.len() as u32;
    set_u32(&mut b, size_at, n);
    out.insert("gen-bad-fork-too-long.bin", b);
    // The rename's path slice one byte longer than the data after it.
    let mut b = file.clone();
    let path_len = std::mem::offset_of!(abi::File, path) + std::mem::offset_of!(abi::Slice, len);
    let data = (b.len() - size_of::<abi::File>()) as u16;
    let off = u16::from_ne_bytes([b[path_len - 2], b[path_len - 1]]);
    set_u16(&mut b, path_len, data - off + 1);
    out.insert("gen-bad-slice-past-end.bin", b);
    out.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// What the decoder must say to each `gen-bad-*` record.
fn expected_decode_error(name: &str, e: &decode::DecodeError) -> bool {
    use decode::DecodeError as E;
    match name {
        "gen-bad-truncated-header.bin" => matches!(e, E::Truncated { what: "header", .. }),
        "gen-bad-abi-version.bin" => matches!(e, E::AbiVersion { .. }),
        "gen-bad-unknown-kind.bin" => *e == E::UnknownKind(40),
        "gen-bad-size-mismatch.bin" => matches!(e, E::SizeMismatch { what: "exec", .. }),
        "gen-bad-fork-too-long.bin" => matches!(e, E::SizeMismatch { what: "fork", .. }),
        "gen-bad-slice-past-end.bin" => matches!(e, E::BadSlice { field: "path", .. }),
        _ => panic!("{name}: no expected error: add it here"),
    }
}

/// Lines replay must reject, each the golden exec line with the one change
/// its name says.
fn bad_lines(good: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    let exec = std::str::from_utf8(&good["gen-event-exec.jsonl"]).unwrap();
    let edit = |from: &str, to: &str| {
        assert!(exec.contains(from), "{from} not in the golden exec line");
        exec.replacen(from, to, 1).into_bytes()
    };
    BTreeMap::from([
        (
            "gen-bad-not-json.jsonl".to_string(),
            exec[..exec.len() / 2].to_string().into_bytes(),
        ),
        (
            "gen-bad-unknown-action.jsonl".to_string(),
            edit(r#""action":"exec""#, r#""action":"teleport""#),
        ),
        (
            "gen-bad-schema-version.jsonl".to_string(),
            edit(
                &format!(r#""schema_version":{}"#, rand_guard::record::SCHEMA_VERSION),
                r#""schema_version":99"#,
            ),
        ),
        (
            // A derived field that disagrees with what it derives from.
            "gen-bad-name-disagrees.jsonl".to_string(),
            edit(r#""name":"bash""#, r#""name":"zsh""#),
        ),
    ])
}

fn gen_files(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("gen-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Rewrite the `gen-*` files of fuzz/seeds/ from what they derive from
/// (run by `cargo xtask fuzz` before fuzzing); prints what changed.
#[test]
#[ignore = "writes fuzz/seeds/: run by cargo xtask fuzz"]
fn write_derived_seeds() {
    for (target, seeds) in derived() {
        let dir = seeds_dir(target);
        fs::create_dir_all(&dir).unwrap();
        for old in gen_files(&dir) {
            if !seeds.contains_key(&old) {
                fs::remove_file(dir.join(&old)).unwrap();
                println!("fuzz seed removed: {target}/{old}");
            }
        }
        for (name, bytes) in &seeds {
            let path = dir.join(name);
            if fs::read(&path).ok().as_ref() != Some(bytes) {
                fs::write(&path, bytes).unwrap();
                println!("fuzz seed written: {target}/{name}");
            }
        }
    }
}

#[test]
fn every_seed_holds_the_invariants() {
    let derived = derived();
    let mut failed = Vec::new();
    for target in checks::TARGETS {
        let dir = seeds_dir(target);
        let mut seeds: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| {
                let p = e.unwrap().path();
                (p.display().to_string(), fs::read(&p).unwrap())
            })
            .collect();
        // The derived ones as they are now, too: the files may be stale.
        seeds.extend(
            derived[target]
                .iter()
                .map(|(n, b)| (format!("{target}/{n} (derived)"), b.clone())),
        );
        assert!(seeds.len() >= 3, "{target}: {} seeds", seeds.len());
        for (name, bytes) in seeds {
            let r = std::panic::catch_unwind(|| checks::run(target, &bytes));
            if r.is_err() {
                failed.push(name);
            }
        }
    }
    assert!(
        failed.is_empty(),
        "seeds that fail their target: {failed:?}"
    );
}

/// Whether a seed is meant to be rejected: `bad-*` by hand, `gen-bad-*`
/// derived.
fn is_bad(name: &str) -> bool {
    name.strip_prefix("gen-")
        .unwrap_or(name)
        .starts_with("bad-")
}

#[test]
fn each_seed_gets_its_expected_result() {
    // A good seed the parser rejects would only ever test the error path;
    // a bad one it accepts would mean a check has gone.
    let derived = derived();
    let mut wrong = Vec::new();
    for target in checks::TARGETS {
        let dir = seeds_dir(target);
        let mut seeds: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("gen-"))
            .map(|n| {
                let bytes = fs::read(dir.join(&n)).unwrap();
                (n, bytes)
            })
            .collect();
        seeds.extend(derived[target].clone());
        for (name, bytes) in seeds {
            let p = dir.join(&name);
            let text = || String::from_utf8(bytes.clone()).unwrap();
            let verdict: Result<(), String> = match target {
                "decode" => match decode::decode(&bytes) {
                    Err(e) if is_bad(&name) && !expected_decode_error(&name, &e) => {
                        wrong.push(format!("{target}/{name}: not the error named: {e}"));
                        continue;
                    }
                    r => r.map(|_| ()).map_err(|e| e.to_string()),
                },
                "config" => {
                    rand_guard::config::Config::parse(&text(), &p, &rand_guard::detect::KNOWN)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
                "rules" if name.ends_with(".yml") => {
                    rand_guard::detect::rules::sigma::parse_file(&p, &text())
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
                "rules" => rand_guard::detect::rules::parse_file(&p, &text())
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}")),
                _ => replay_verdict(&name, &text()),
            };
            match (is_bad(&name), verdict) {
                (false, Err(e)) => wrong.push(format!("{target}/{name}: rejected: {e}")),
                (true, Ok(())) => wrong.push(format!("{target}/{name}: accepted")),
                _ => {}
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "seeds with the wrong result:\n{}",
        wrong.join("\n")
    );
}

/// A replay seed's lines: events replay, alert and health records are
/// skipped, and a bad line is rejected.
fn replay_verdict(name: &str, text: &str) -> Result<(), String> {
    let output = name.starts_with("gen-alert-") || name.starts_with("gen-health-");
    for (i, line) in text.lines().enumerate() {
        match rand_guard::offline::replay::parse_line(line) {
            Err(e) => return Err(e.with_line(i + 1).to_string()),
            Ok(Some(_)) if output => {
                return Err(format!("line {}: an output record replayed", i + 1));
            }
            Ok(None) if !output => return Err(format!("line {}: skipped", i + 1)),
            Ok(_) => {}
        }
    }
    Ok(())
}
