//! Developer workflow without make: `cargo run -p xtask -- <command>`
//! (aliases in .cargo/config.toml: `cargo xf|xc|xl|xt|xb`).

mod bench;
mod package;

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
  build [ARGS]
              static release build of the agent and its BPF object      (cargo xb)
              in target/x86_64-unknown-linux-gnu/release/; ARGS go to `cargo build`
  package     static build, then dist/: rand-guard-<version>-x86_64-linux.tar.gz,
              the .deb, the .rpm and SHA256SUMS (installs cargo-deb and
              cargo-generate-rpm when missing)
  run [ARGS]  release build, then run the agent as root with config/config.toml,
              writing to stdout; ARGS go to `rand-guard run` (e.g. --output FILE)
  bench [--iterations N] [--pairs K] [--only syscall|files|reads]
              release build, then workloads without and with the agent as A/B
              pairs (root); prints a markdown table for docs/benchmarks.md
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
    let scratch = Path::new("/tmp/rg-bench-agent");
    let n = o.iterations;
    let outside = Path::new("/var/tmp/rg-bench-outside");
    let inside = Path::new("/root/rg-bench-inside");
    let wants = |w: &str| o.only.as_deref().is_none_or(|x| x == w);
    let mut results = Vec::new();
    if wants("syscall") {
        results.push(bench::pairs(
            &bin,
            "getppid() loop: the syscall tracing tax",
            n * 10,
            &o,
            scratch,
            &|| bench::syscall_storm(n * 10),
        ));
    }
    if wants("files") {
        results.push(bench::pairs(
            &bin,
            "file storm outside watched prefixes (/var/tmp)",
            n,
            &o,
            scratch,
            &|| bench::file_storm_min(outside, n),
        ));
        results.push(bench::pairs(
            &bin,
            "file storm inside a watched prefix (/root)",
            n,
            &o,
            scratch,
            &|| bench::file_storm_min(inside, n),
        ));
    }
    // Read-only opens of an unwatched file, with the read watch off and on:
    // the cost of the per-open inode lookup (every read-only open on the
    // host pays it while watch_reads is not empty).
    let reads = Path::new("/var/tmp/rg-bench-reads");
    let mut read_results = Vec::new();
    if wants("reads") {
        std::fs::create_dir_all(reads).expect("bench directory");
        let target = reads.join("f");
        std::fs::write(&target, b"x").expect("bench file");
        let off = format!("{}[file]\nwatch_reads = []\n", bench::AGENT_CONFIG);
        read_results.push(bench::ab(
            &bin,
            "read-only open + close of an unwatched file (/var/tmp)",
            n * 10,
            &o,
            scratch,
            ("watch_reads = []", &off),
            ("default watch_reads", bench::AGENT_CONFIG),
            &|| bench::read_storm_min(&target, n * 10),
        ));
    }
    for d in [outside, inside, reads] {
        let _ = std::fs::remove_dir_all(d);
    }
    if !results.is_empty() {
        println!("{}", bench::report(&results, &o));
    }
    if !read_results.is_empty() {
        println!("{}", bench::report_ab(&read_results, &o));
    }
    Ok(())
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
