//! The fuzz targets' invariants (fuzz/src/lib.rs) on every seed of their
//! corpus (fuzz/seeds/<target>/), on stable, in `cargo xt`: the seeds
//! exercise the invariants even where nobody fuzzes, and an input that
//! once crashed a target stays fixed once it is a seed.
//!
//! Seeds named `gen-*` are derived from the repository: records made by the
//! `decode::encode_*` helpers, the shipped config, each sample rule, one
//! golden line per record type and action. They must match what they are
//! derived from; `UPDATE_FUZZ_SEEDS=1 cargo test --test fuzz_seeds`
//! rewrites them. The other seeds are written by hand.

#[path = "../fuzz/src/lib.rs"]
mod checks;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use rand_guard::abi::{self, Hdr, exec_flag, file_flag, file_syscall, kind, net_flag};
use rand_guard::decode;

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
    all.insert("decode", records());
    all.insert(
        "config",
        BTreeMap::from([(
            "gen-config.toml".to_string(),
            repo_file("config/config.toml").into_bytes(),
        )]),
    );
    all.insert("rules", sample_rules());
    all.insert("replay", golden_lines());
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
    assert_eq!(out.len(), 12, "the twelve sample rules");
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

fn gen_files(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("gen-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn derived_seeds_are_current() {
    let update = std::env::var_os("UPDATE_FUZZ_SEEDS").is_some();
    let mut stale = Vec::new();
    for (target, seeds) in derived() {
        let dir = seeds_dir(target);
        if update {
            fs::create_dir_all(&dir).unwrap();
            for old in gen_files(&dir) {
                if !seeds.contains_key(&old) {
                    fs::remove_file(dir.join(old)).unwrap();
                }
            }
            for (name, bytes) in &seeds {
                fs::write(dir.join(name), bytes).unwrap();
            }
            continue;
        }
        let on_disk = gen_files(&dir);
        for name in on_disk.difference(&seeds.keys().cloned().collect()) {
            stale.push(format!("{target}/{name}: derived from nothing"));
        }
        for (name, bytes) in &seeds {
            if fs::read(dir.join(name)).ok().as_ref() != Some(bytes) {
                stale.push(format!("{target}/{name}: missing or different"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "fuzz seeds out of date (UPDATE_FUZZ_SEEDS=1 cargo test --test fuzz_seeds):\n{}",
        stale.join("\n")
    );
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

#[test]
fn derived_records_are_accepted() {
    // A seed the decoder rejects would only ever test the error path.
    for (name, bytes) in records() {
        decode::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn text_seeds_reach_the_accepting_path() {
    // A seed meant to be good that the parser rejects would only ever
    // test the error path; the `bad*` ones are meant to be rejected.
    for (target, dir) in [
        ("config", seeds_dir("config")),
        ("rules", seeds_dir("rules")),
    ] {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let text = fs::read_to_string(&p).unwrap();
            let ok = match target {
                "config" => rand_guard::config::Config::parse(&text, &p)
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                _ => rand_guard::rules::parse_file(&p, &text)
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}")),
            };
            assert_eq!(
                ok.is_ok(),
                !name.starts_with("bad"),
                "{}: {ok:?}",
                p.display()
            );
        }
    }
}
