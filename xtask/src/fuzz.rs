//! `cargo xtask fuzz [--seconds N] [TARGET...] [-- LIBFUZZER_ARGS...]`:
//! each fuzz target of fuzz/ (its own workspace, nightly, libFuzzer) for a
//! bounded time, then a markdown table of what each run did (the numbers
//! docs/reliability.md records).
//!
//! The grown corpus goes to fuzz/corpus/TARGET/ and crashes to
//! fuzz/artifacts/TARGET/ (both ignored by git); fuzz/seeds/TARGET/ is read
//! as a second, read-only corpus, so every run starts from the committed
//! seeds, rewritten first from what they derive from (tests/fuzz_seeds.rs
//! names each one it changes: commit those). A crash fails the command after
//! the other targets have run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use crate::package::{Tool, ensure_tool};
use crate::{cargo, describe, root, run};

/// The fuzz targets, as fuzz/Cargo.toml names them.
pub const TARGETS: [&str; 4] = ["decode", "config", "rules", "replay"];

/// Pinned like the packaging tools; a developer's own version is used as
/// it is.
const CARGO_FUZZ: Tool = Tool {
    subcommand: "fuzz",
    krate: "cargo-fuzz",
    version: "0.13.2",
};

/// The toolchain `cargo fuzz` needs (sanitizer flags are nightly-only).
const TOOLCHAIN: &str = "nightly";

pub struct Options {
    pub seconds: u64,
    pub targets: Vec<&'static str>,
    /// Passed to libFuzzer after ours.
    pub extra: Vec<String>,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            seconds: 60,
            targets: Vec::new(),
            extra: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--seconds" => {
                    let v = it.next().ok_or("--seconds needs a value")?;
                    o.seconds = v
                        .parse()
                        .ok()
                        .filter(|s| *s > 0)
                        .ok_or_else(|| format!("--seconds: not a positive number: {v:?}"))?;
                }
                "--" => o.extra.extend(it.by_ref().cloned()),
                t => {
                    let known = TARGETS.iter().find(|k| **k == t).ok_or_else(|| {
                        format!("fuzz: no target {t:?} (targets: {})", TARGETS.join(", "))
                    })?;
                    if !o.targets.contains(known) {
                        o.targets.push(known);
                    }
                }
            }
        }
        if o.targets.is_empty() {
            o.targets = TARGETS.to_vec();
        }
        Ok(o)
    }
}

/// What one run printed that we report.
#[derive(Default)]
struct Stats {
    /// `cov:` / `ft:` / `corp:` once the corpus is loaded (INITED): the
    /// seeds and the corpus grown by earlier runs.
    inited: Option<Progress>,
    /// The same at the last status line.
    last: Option<Progress>,
    runs: Option<u64>,
    exec_per_sec: Option<u64>,
    new_units: Option<u64>,
    peak_rss_mb: Option<u64>,
    /// Where libFuzzer wrote the crashing input.
    artifact: Option<String>,
}

#[derive(Clone)]
struct Progress {
    cov: u64,
    ft: u64,
    /// "N/SIZE" of the in-memory corpus.
    corp: String,
}

/// `cov: 1 ft: 2 corp: 3/4b ...` of a libFuzzer status line.
fn progress(line: &str) -> Option<Progress> {
    let field = |name: &str| {
        let mut words = line.split_whitespace();
        words.find(|w| *w == name)?;
        words.next()
    };
    Some(Progress {
        cov: field("cov:")?.parse().ok()?,
        ft: field("ft:")?.parse().ok()?,
        corp: field("corp:")?.to_string(),
    })
}

impl Stats {
    fn read(&mut self, line: &str) {
        let stat = |name: &str| {
            line.strip_prefix(name)
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if line.starts_with('#') {
            if let Some(p) = progress(line) {
                if line.contains("INITED") {
                    self.inited = Some(p.clone());
                }
                self.last = Some(p);
            }
        } else if let Some(v) = stat("stat::number_of_executed_units:") {
            self.runs = Some(v);
        } else if let Some(v) = stat("stat::average_exec_per_sec:") {
            self.exec_per_sec = Some(v);
        } else if let Some(v) = stat("stat::new_units_added:") {
            self.new_units = Some(v);
        } else if let Some(v) = stat("stat::peak_rss_mb:") {
            self.peak_rss_mb = Some(v);
        } else if let Some(rest) = line.split("Test unit written to ").nth(1) {
            self.artifact = Some(rest.trim().to_string());
        }
    }
}

/// Status lines for each new or smaller input and each newly reached
/// function: thousands a minute, and the table says what they add up to.
fn is_noise(line: &str) -> bool {
    (line.starts_with('#') && (line.contains("\tNEW ") || line.contains("\tREDUCE ")))
        || line.starts_with("\tNEW_FUNC[")
}

struct Run {
    target: &'static str,
    ok: bool,
    wall_seconds: u64,
    stats: Stats,
}

fn fuzz_one(target: &'static str, o: &Options) -> Result<Run, ExitCode> {
    let corpus = root().join("fuzz/corpus").join(target);
    let seeds = root().join("fuzz/seeds").join(target);
    std::fs::create_dir_all(&corpus).map_err(|e| {
        eprintln!("xtask: fuzz: {}: {e}", corpus.display());
        ExitCode::FAILURE
    })?;
    let mut c = Command::new("rustup");
    c.current_dir(root())
        .args(["run", TOOLCHAIN, "cargo", "fuzz", "run", target])
        .arg(rel(&corpus))
        .arg(rel(&seeds))
        .arg("--")
        .arg(format!("-max_total_time={}", o.seconds))
        // An input that takes this long is a hang: report it as one.
        .arg("-timeout=10")
        .arg("-print_final_stats=1")
        .args(&o.extra)
        // Set by the `cargo run` that started us, to the stable toolchain:
        // cargo fuzz would build with it.
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTUP_TOOLCHAIN")
        .stderr(Stdio::piped());
    eprintln!("xtask: {}", describe(&c));
    let start = Instant::now();
    let mut child = c.spawn().map_err(|e| {
        eprintln!("xtask: fuzz: cannot run rustup (cargo fuzz needs a {TOOLCHAIN} toolchain): {e}");
        ExitCode::FAILURE
    })?;
    let mut stats = Stats::default();
    let stderr = child.stderr.take().expect("piped");
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        stats.read(&line);
        if !is_noise(&line) {
            eprintln!("{line}");
        }
    }
    let status = child.wait().map_err(|e| {
        eprintln!("xtask: fuzz: {target}: {e}");
        ExitCode::FAILURE
    })?;
    Ok(Run {
        target,
        ok: status.success(),
        wall_seconds: start.elapsed().as_secs(),
        stats,
    })
}

/// `path` relative to the repository root, for shorter command lines.
fn rel(path: &Path) -> PathBuf {
    path.strip_prefix(root())
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

fn report(runs: &[Run], o: &Options) -> String {
    let n = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
    let mut s = format!(
        "Fuzzing, {} s per target (libFuzzer via cargo fuzz, ASan):\n\n\
         | target | runs | exec/s | cov (start → end) | features (start → end) \
         | corpus at end | new units | peak RSS MB | result |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---|\n",
        o.seconds
    );
    for r in runs {
        let st = &r.stats;
        let pair = |f: fn(&Progress) -> u64| match (&st.inited, &st.last) {
            (Some(a), Some(b)) => format!("{} → {}", f(a), f(b)),
            _ => "?".to_string(),
        };
        let result = if r.ok {
            "no crash".to_string()
        } else {
            format!(
                "**failed** ({})",
                st.artifact
                    .as_deref()
                    .unwrap_or("no artifact: see the log above")
            )
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.target,
            n(st.runs),
            n(st.exec_per_sec),
            pair(|p| p.cov),
            pair(|p| p.ft),
            st.last.as_ref().map_or("?", |p| p.corp.as_str()),
            n(st.new_units),
            n(st.peak_rss_mb),
            result,
        ));
    }
    let wall: u64 = runs.iter().map(|r| r.wall_seconds).sum();
    s.push_str(&format!("\nWall time, builds included: {wall} s.\n"));
    s
}

pub fn fuzz(args: &[String]) -> Result<(), ExitCode> {
    let o = Options::parse(args).map_err(|e| {
        eprintln!("xtask: {e}");
        ExitCode::from(2)
    })?;
    // Fuzz from the derived seeds as they are now (an ABI or schema change
    // makes the committed ones stale); the developer commits the change.
    let mut seeds = cargo();
    seeds.args([
        "test",
        "-q",
        "--test",
        "fuzz_seeds",
        "--",
        "--ignored",
        "--exact",
        "write_derived_seeds",
        "--nocapture",
    ]);
    run(seeds)?;
    ensure_tool(&CARGO_FUZZ)?;
    let mut runs = Vec::new();
    for t in &o.targets {
        runs.push(fuzz_one(t, &o)?);
    }
    println!("{}", report(&runs, &o));
    let failed: Vec<&Run> = runs.iter().filter(|r| !r.ok).collect();
    if failed.is_empty() {
        return Ok(());
    }
    for r in &failed {
        eprintln!(
            "xtask: fuzz: {} failed; input: {}\n  reproduce: rustup run {TOOLCHAIN} cargo fuzz run {} {}\n  \
             then add it to fuzz/seeds/{}/ (a name that says what it is) and a unit test \
             beside the code it broke (docs/reliability.md)",
            r.target,
            r.stats.artifact.as_deref().unwrap_or("?"),
            r.target,
            r.stats.artifact.as_deref().unwrap_or("ARTIFACT"),
            r.target,
        );
    }
    Err(ExitCode::FAILURE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options() {
        let o = Options::parse(&[]).unwrap();
        assert_eq!((o.seconds, o.targets), (60, TARGETS.to_vec()));
        let o = Options::parse(&args(&[
            "--seconds",
            "5",
            "rules",
            "decode",
            "rules",
            "--",
            "-jobs=2",
        ]))
        .unwrap();
        assert_eq!(o.seconds, 5);
        assert_eq!(o.targets, ["rules", "decode"]);
        assert_eq!(o.extra, ["-jobs=2"]);
        assert!(Options::parse(&args(&["--seconds", "0"])).is_err());
        assert!(Options::parse(&args(&["--seconds"])).is_err());
        assert!(Options::parse(&args(&["nope"])).is_err());
    }

    #[test]
    fn reads_libfuzzer_output() {
        let mut s = Stats::default();
        for line in [
            "#2\tINITED cov: 120 ft: 130 corp: 20/4096b exec/s: 0 rss: 40Mb",
            "#300\tNEW    cov: 125 ft: 140 corp: 21/4100b lim: 4 exec/s: 0 rss: 41Mb L: 4/4 MS: 1 ChangeBit-",
            "#4096\tpulse  cov: 126 ft: 150 corp: 22/4200b lim: 40 exec/s: 2048 rss: 42Mb",
            "Done 120000 runs in 61 second(s)",
            "stat::number_of_executed_units: 120000",
            "stat::average_exec_per_sec:     1967",
            "stat::new_units_added:          7",
            "stat::peak_rss_mb:              50",
        ] {
            s.read(line);
        }
        let (a, b) = (s.inited.clone().unwrap(), s.last.clone().unwrap());
        assert_eq!((a.cov, a.ft, b.cov, b.ft), (120, 130, 126, 150));
        assert_eq!(b.corp, "22/4200b");
        assert_eq!(
            (s.runs, s.exec_per_sec, s.new_units, s.peak_rss_mb),
            (Some(120000), Some(1967), Some(7), Some(50))
        );
        assert!(is_noise("#300\tNEW    cov: 125"));
        assert!(!is_noise("#4096\tpulse  cov: 126"));
        assert!(is_noise("\tNEW_FUNC[1/6]: 0x55 in f src/lib.rs:1"));
        s.read("Test unit written to ./fuzz/artifacts/decode/crash-abc");
        assert_eq!(
            s.artifact.as_deref(),
            Some("./fuzz/artifacts/decode/crash-abc")
        );
    }
}
