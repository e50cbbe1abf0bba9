//! Developer workflow without make: `cargo run -p xtask -- <command>`
//! (aliases in .cargo/config.toml: `cargo xf|xc|xl|xt|xb`).

mod agent;
mod auditd;
mod bench;
mod collector;
mod deps;
mod fuzz;
mod package;
mod package_oci;
mod svg;
mod systemd_vm;
// The agent's syscall table (a leaf module), shared so the auditd rules
// number syscalls exactly as the agent's hooks do. Rules use numbers:
// auditctl's own name table may predate the newest syscalls (fchmodat2 is
// Linux 6.6), and numbers mean the same to every version.
#[path = "../../src/kernel/syscalls.rs"]
mod syscalls;
mod throughput;
mod vm;
mod workload;
mod xattr;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo run -p xtask -- <command> [args]

commands:
  ci-format   rustfmt check and clang-format check of bpf/ and include/  (cargo xf)
  check       cargo check of the whole workspace, all targets           (cargo xc)
  clippy      clippy on everything, warnings are errors                  (cargo xl)
  test        all tests; the privileged end-to-end ones run as root      (cargo xt)
              (first checks for the commands and files they need, and
              prints the apt-get line for what is missing: the list is
              scripts/deps/debian-packages)
  build [ARGS]
              static release build of the agent and its BPF object      (cargo xb)
              in target/x86_64-unknown-linux-gnu/release/; ARGS go to `cargo build`
  package     static build, then dist/: rand-guard-<version>-x86_64-linux.tar.gz,
              the .deb, the .rpm and SHA256SUMS (installs cargo-deb and
              cargo-generate-rpm when missing)
  run [ARGS]  release build, then run the agent as root with config/config.toml,
              writing to stdout; ARGS go to `rand-guard run` (e.g. --output FILE)
  bench [--iterations N] [--pairs K] [--execs N] [--exec-rate R]
        [--exec-seconds S] [--connects N] [--only W,W...]
        [--auditd --i-understand-auditd-taints-this-boot]
              release build, then (root) workloads without and with the agent
              as A/B pairs: getppid loop, file storms, exec storm; a paced exec
              workload and an exec storm beside the default configuration
              (its CPU, steady RSS); without the agent and beside it in two configurations:
              the read storm (read watch off, on), the loopback connect storm
              (network off, on), DNS queries and writes (collect_dns off, on),
              the exec storm warm and cold (hashing off, on);
              the pipeline alone (cargo bench --bench pipeline). Prints
              markdown tables for docs/benchmarks.md. W: syscall, file-outside,
              file-inside, file-tmp (files: all three), exec, exec-paced,
              exec-rss, exec-hash, pipeline, reads, net, dns.
              --auditd also runs them beside auditd: it slows every process
              until reboot, so it refuses without the second flag
  auditd-rules
              release build, then print the auditd rules `bench --auditd` would
              load for the agent's configuration (touches nothing of audit's)
  throughput [--seconds S] [--rates R,R...|max] [--threads N] [--ring-buffer-bytes N]
             [--keep-output] [--dir PATH] [--op write|chmod]
             [--forward|--forward-relp|--forward-unix]
              release build, then (root) a paced file-write workload at each
              rate, without and with the agent (--forward, --forward-relp,
              --forward-unix: and beside an agent forwarding to an rsyslogd of
              its own over loopback TCP, RELP or its Unix socket,
              docs/shipping.md); writes
              .local/throughput/<timestamp>/{summary.json,summary.md,throughput.svg}
  vm-test [--bench] [--kernel VERSION ...]
              static build, then boot each Debian kernel (default: the newest
              6.1 and 6.12 of the configured apt sources and 6.18 of
              trixie-backports; cached in .local/vm/) under qemu (KVM if it
              works, else TCG) with the agent
              in a busybox initramfs; asserts its records on the host and
              prints a per-kernel table (needs qemu-system-x86, busybox-static)
              --bench: instead, rounds of getppid, file, exec and write storms
              without the agent and beside it on the tracepoint and the fast
              path, interleaved; prints the ratios and BPF ns per run, writes
              them to .local/vm/runs/<kernel>/bench.md (13-26 min a kernel, TCG)
  systemd-test [--kernel VERSION]
              (root) package, then boot Debian 12's own kernel (newest
              6.1, or linux-image-VERSION-unsigned) under qemu with a cached
              Debian 12 root file system whose PID 1 is systemd, and in it
              install, enable, reload, stop and purge the .deb, then the
              same with the tarball's install.sh; asserts on what the guest
              reports (docs/packaging.md, section The systemd test)
  fuzz [--seconds N] [TARGET...] [-- LIBFUZZER_ARGS]
              each cargo-fuzz target (decode, config, rules, replay; default
              all) for N seconds (default 60) on the nightly toolchain, from
              the seeds in fuzz/seeds/; prints a markdown table for
              docs/reliability.md (installs cargo-fuzz when missing)
";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut c = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

/// Run a command, echoing it; Err(exit code) on failure.
fn run(mut c: Command) -> Result<(), ExitCode> {
    eprintln!("xtask: {}", describe(&c));
    match c.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => {
            eprintln!("xtask: failed ({s}): {}", describe(&c));
            Err(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("xtask: cannot run {}: {e}", describe(&c));
            Err(ExitCode::FAILURE)
        }
    }
}

fn describe(c: &Command) -> String {
    let mut s = c.get_program().to_string_lossy().into_owned();
    for a in c.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn is_root() -> bool {
    // /proc/self/status "Uid:" real effective ...; no libc dependency.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// The C sources clang-format checks.
fn c_sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["bpf", "include"] {
        if let Ok(rd) = std::fs::read_dir(root().join(dir)) {
            for e in rd.flatten() {
                let p = e.path();
                if matches!(p.extension().and_then(|x| x.to_str()), Some("c" | "h")) {
                    files.push(p);
                }
            }
        }
    }
    files.sort();
    files
}

fn ci_format() -> Result<(), ExitCode> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run(fmt)?;
    // fuzz/ is a workspace of its own: `cargo fmt --all` above reaches its
    // src/lib.rs (tests/fuzz_seeds.rs includes it), not its targets.
    let mut targets: Vec<PathBuf> = std::fs::read_dir(root().join("fuzz/fuzz_targets"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    targets.sort();
    if !targets.is_empty() {
        // (Without files rustfmt would read stdin.)
        let mut rf = Command::new(env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into()));
        rf.current_dir(root())
            .args(["--edition", "2024", "--check"])
            .args(targets);
        run(rf)?;
    }
    let mut cf = Command::new(env::var_os("CLANG_FORMAT").unwrap_or_else(|| "clang-format".into()));
    cf.current_dir(root())
        .args(["--dry-run", "--Werror"])
        .args(c_sources());
    run(cf)
}

fn release_build() -> Result<PathBuf, ExitCode> {
    let mut b = cargo();
    b.args(["build", "--release", "-p", "rand-guard"]);
    run(b)?;
    Ok(root().join("target/release/rand-guard"))
}

fn bench_cmd(args: &[String]) -> Result<(), ExitCode> {
    let o = bench::Options::parse(args).map_err(|e| {
        eprintln!("xtask: {e}");
        ExitCode::from(2)
    })?;
    if !is_root() {
        eprintln!("xtask: the benchmarks run the agent: run them as root");
        return Err(ExitCode::FAILURE);
    }
    let bin = release_build()?;
    let tables = bench::run(&bin, &o).map_err(|e| {
        eprintln!("xtask: bench: {e}");
        ExitCode::FAILURE
    })?;
    println!("{tables}");
    Ok(())
}

fn auditd_rules_cmd() -> Result<(), ExitCode> {
    let bin = release_build()?;
    let plan =
        auditd::plan(&bin, bench::AGENT_CONFIG, Path::new("/tmp/rg-bench-agent")).map_err(|e| {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        })?;
    for n in &plan.notes {
        eprintln!("xtask: prefix {n}");
    }
    println!("{}", plan.rules.join("\n"));
    Ok(())
}

fn throughput_cmd(args: &[String]) -> Result<(), ExitCode> {
    let o = throughput::Options::parse(args).map_err(|e| {
        eprintln!("xtask: {e}");
        ExitCode::from(2)
    })?;
    if !is_root() {
        eprintln!("xtask: the throughput workflow runs the agent: run it as root");
        return Err(ExitCode::FAILURE);
    }
    let bin = release_build()?;
    let dir = throughput::run(&bin, &o, &root().join(".local/throughput")).map_err(|e| {
        eprintln!("xtask: throughput: {e}");
        ExitCode::FAILURE
    })?;
    print!(
        "{}",
        std::fs::read_to_string(dir.join("summary.md")).unwrap_or_default()
    );
    eprintln!("xtask: wrote {}", dir.display());
    Ok(())
}

/// A hidden command's result lines on stdout, or its error (exit 2).
fn print_lines(r: Result<String, String>) -> Result<(), ExitCode> {
    match r {
        Ok(lines) => {
            print!("{lines}");
            Ok(())
        }
        Err(e) => {
            eprintln!("xtask: {e}");
            Err(ExitCode::from(2))
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    let result = match cmd.as_str() {
        "ci-format" => ci_format(),
        "check" => {
            let mut c = cargo();
            c.args(["check", "--workspace", "--all-targets"]);
            run(c)
        }
        "clippy" => {
            let mut c = cargo();
            c.args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]);
            run(c)
        }
        "test" => {
            if let Err(code) = deps::check_test_tools() {
                return code;
            }
            if is_root() {
                eprintln!("xtask: running as root: privileged end-to-end tests included");
            } else {
                eprintln!(
                    "xtask: NOT root: privileged end-to-end tests will report SKIPPED \
                     (run as root to include them; CI does)"
                );
            }
            let mut c = cargo();
            c.args(["test", "--workspace"]).args(rest);
            run(c)
        }
        "build" => package::static_build(rest).map(|_| ()),
        "package" => {
            if !rest.is_empty() {
                eprintln!("xtask: package takes no arguments\n");
                eprint!("{USAGE}");
                return ExitCode::from(2);
            }
            package::package()
        }
        "run" => {
            if !is_root() {
                eprintln!("xtask: the agent loads BPF programs: run this as root");
                return ExitCode::FAILURE;
            }
            let mut b = cargo();
            b.args(["build", "--release", "-p", "rand-guard"]);
            if let Err(code) = run(b) {
                return code;
            }
            let mut a = Command::new(root().join("target/release/rand-guard"));
            a.current_dir(root())
                .args(["run", "--config", "config/config.toml"]);
            // The shipped config writes to /var/log/rand-guard; a developer
            // wants to see the records: stdout unless told otherwise.
            if !rest
                .iter()
                .any(|a| a == "--output" || a.starts_with("--output="))
            {
                a.args(["--output", "-"]);
            }
            a.args(rest);
            run(a)
        }
        "bench" => bench_cmd(rest),
        // Not in USAGE: bench --auditd runs its storms through it.
        "bench-child" => print_lines(bench::child(rest)),
        "throughput" => throughput_cmd(rest),
        "auditd-rules" => auditd_rules_cmd(),
        "fuzz" => fuzz::fuzz(rest),
        "vm-test" => vm::vm_test(rest),
        // Not in USAGE: the workloads of `vm-test --bench`, in the guest.
        "vm-bench-guest" => print_lines(vm::bench::guest(rest)),
        // Not in USAGE: the guest suite's setxattr(2) calls, in the guest.
        "vm-xattr" => print_lines(xattr::command(rest)),
        "systemd-test" => systemd_vm::run(rest),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => {
            eprintln!("xtask: unknown command `{other}`\n");
            eprint!("{USAGE}");
            Err(ExitCode::from(2))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
