//! Release artifacts: the static build (`cargo xb`) and `package`, which
//! writes the tarball, the .deb, the .rpm, the OCI image archive
//! (`package_oci`) and SHA256SUMS to `dist/`.
//!
//! All three artifacts carry the same bytes: the binary and the BPF object
//! come from one static build, and cargo-deb / cargo-generate-rpm read the
//! same files the tarball is staged from (`[package.metadata.deb]` and
//! `[package.metadata.generate-rpm]` in Cargo.toml). docs/packaging.md
//! describes the installed layout.

use std::env;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::{cargo, describe, root, run};

/// The one target we ship. Passing `--target` (even the host's own) keeps
/// `-C target-feature=+crt-static` away from build scripts and proc macros,
/// which must stay dynamic to run on the build machine.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// Where Debian's libelf-dev and zlib1g-dev put libelf.a and libz.a.
const DEFAULT_STATIC_LIBS: &str = "/usr/lib/x86_64-linux-gnu";

/// Packaging tools, installed with `cargo install --locked` when missing.
/// Pinned so that a new release of either cannot change the packages
/// without a commit here.
const CARGO_DEB: Tool = Tool {
    subcommand: "deb",
    krate: "cargo-deb",
    version: "3.8.0",
};
const CARGO_GENERATE_RPM: Tool = Tool {
    subcommand: "generate-rpm",
    krate: "cargo-generate-rpm",
    version: "0.21.1",
};

pub struct Tool {
    pub subcommand: &'static str,
    pub krate: &'static str,
    pub version: &'static str,
}

/// What `static_build` produced.
pub struct Built {
    pub binary: PathBuf,
    pub bpf_object: PathBuf,
}

fn fail(step: &str, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("xtask: {step}: {msg}");
    ExitCode::FAILURE
}

/// The version and target directory cargo itself uses (CARGO_TARGET_DIR,
/// build.target-dir and friends included).
struct Metadata {
    version: String,
    target_dir: PathBuf,
}

fn metadata() -> Result<Metadata, ExitCode> {
    let step = "cargo metadata";
    let mut c = cargo();
    c.args(["metadata", "--format-version", "1", "--no-deps"]);
    let out = c
        .output()
        .map_err(|e| fail(step, format!("cannot run {}: {e}", describe(&c))))?;
    if !out.status.success() {
        return Err(fail(
            step,
            format!(
                "{} failed ({}): {}",
                describe(&c),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| fail(step, format!("unreadable output: {e}")))?;
    let target_dir = v["target_directory"]
        .as_str()
        .ok_or_else(|| fail(step, "no target_directory in the output"))?;
    let version = v["packages"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "rand-guard"))
        .and_then(|p| p["version"].as_str())
        .ok_or_else(|| fail(step, "no version for the rand-guard package"))?;
    Ok(Metadata {
        version: version.to_string(),
        target_dir: PathBuf::from(target_dir),
    })
}

/// `cargo xb`: a release build of the agent linked fully statically (glibc
/// with crt-static, libbpf, libelf and zlib as archives), checked to have no
/// program interpreter and no shared libraries, plus the BPF object it
/// embeds. `extra` goes to `cargo build`.
pub fn static_build(extra: &[String]) -> Result<Built, ExitCode> {
    let step = "static build";
    if env::consts::ARCH != "x86_64" || env::consts::OS != "linux" {
        return Err(fail(
            step,
            format!(
                "only {TARGET} is packaged; this machine is {}-{}",
                env::consts::ARCH,
                env::consts::OS
            ),
        ));
    }
    // libbpf-sys links libelf and zlib as `static=` libraries when its
    // `static` feature is on, and finds the archives only on this path.
    let lib_path =
        env::var("LIBBPF_SYS_LIBRARY_PATH").unwrap_or_else(|_| DEFAULT_STATIC_LIBS.into());
    for (archive, package) in [("libelf.a", "libelf-dev"), ("libz.a", "zlib1g-dev")] {
        if !lib_path
            .split(':')
            .any(|dir| Path::new(dir).join(archive).is_file())
        {
            return Err(fail(
                step,
                format!(
                    "{archive} not found in LIBBPF_SYS_LIBRARY_PATH={lib_path}: \
                     install the Debian package {package}"
                ),
            ));
        }
    }
    let meta = metadata()?;
    let rustflags = static_rustflags();
    let mut b = cargo();
    // `libbpf-rs/static` (forwarded to libbpf-sys) links libbpf, libelf and
    // zlib statically; it is a command-line feature so that the dev and test
    // builds keep linking the system's shared libelf and zlib.
    b.args([
        "build",
        "--release",
        "-p",
        "rand-guard",
        "--target",
        TARGET,
        "--features",
        "libbpf-rs/static",
    ])
    .args(extra)
    .env("RUSTFLAGS", &rustflags)
    .env("LIBBPF_SYS_LIBRARY_PATH", &lib_path);
    eprintln!("xtask: RUSTFLAGS={rustflags:?} LIBBPF_SYS_LIBRARY_PATH={lib_path}");
    run(b)?;

    let profile_dir = meta.target_dir.join(TARGET).join("release");
    let binary = profile_dir.join("rand-guard");
    let bytes =
        fs::read(&binary).map_err(|e| fail(step, format!("reading {}: {e}", binary.display())))?;
    let dynamic = dynamic_linking(&bytes).map_err(|e| {
        fail(
            step,
            format!("{}: not an ELF we understand: {e}", binary.display()),
        )
    })?;
    if !dynamic.is_empty() {
        return Err(fail(
            step,
            format!(
                "{} is not static ({}): was -C target-feature=+crt-static \
                 dropped? CARGO_ENCODED_RUSTFLAGS in the environment overrides RUSTFLAGS",
                binary.display(),
                dynamic.join("; ")
            ),
        ));
    }
    let bpf_object = bpf_object(&profile_dir, &bytes)?;
    eprintln!(
        "xtask: built {} (static, {} bytes) and the BPF object it embeds, {}",
        binary.display(),
        bytes.len(),
        bpf_object.display()
    );
    Ok(Built { binary, bpf_object })
}

/// RUSTFLAGS of a static build: the developer's own, and crt-static
/// (appended, not replaced, so theirs still apply).
pub fn static_rustflags() -> String {
    match env::var("RUSTFLAGS") {
        Ok(f) if !f.trim().is_empty() => format!("{f} -C target-feature=+crt-static"),
        _ => "-C target-feature=+crt-static".to_string(),
    }
}

/// Why an ELF file is not a static executable: its program interpreter and
/// its DT_NEEDED shared libraries. Empty for a static or static-pie
/// executable (a static-pie has a dynamic section for its own relocations,
/// but needs no library and no loader).
pub fn dynamic_linking(elf: &[u8]) -> Result<Vec<String>, String> {
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    const DT_NULL: u64 = 0;
    const DT_NEEDED: u64 = 1;
    let u16_at = |off: usize| -> Result<u16, String> {
        elf.get(off..off + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .ok_or_else(|| format!("truncated at byte {off}"))
    };
    let u32_at = |off: usize| -> Result<u32, String> {
        elf.get(off..off + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
            .ok_or_else(|| format!("truncated at byte {off}"))
    };
    let u64_at = |off: usize| -> Result<u64, String> {
        elf.get(off..off + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
            .ok_or_else(|| format!("truncated at byte {off}"))
    };
    if elf.get(..4) != Some(b"\x7fELF") {
        return Err("no ELF magic".into());
    }
    // EI_CLASS 2 = 64-bit, EI_DATA 1 = little-endian: what x86_64 uses.
    if elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        return Err("not a 64-bit little-endian ELF".into());
    }
    let phoff = u64_at(0x20)? as usize;
    let phentsize = u16_at(0x36)? as usize;
    let phnum = u16_at(0x38)? as usize;
    let mut why = Vec::new();
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let (offset, size) = (u64_at(ph + 8)? as usize, u64_at(ph + 32)? as usize);
        match u32_at(ph)? {
            PT_INTERP => {
                let interp = offset
                    .checked_add(size)
                    .and_then(|end| elf.get(offset..end))
                    .ok_or("truncated PT_INTERP")?;
                let interp = String::from_utf8_lossy(interp);
                why.push(format!(
                    "program interpreter {}",
                    interp.trim_end_matches('\0')
                ));
            }
            PT_DYNAMIC => {
                let mut needed = 0;
                let end = offset.checked_add(size).ok_or("bad PT_DYNAMIC size")?;
                for entry in (offset..end).step_by(16) {
                    match u64_at(entry)? {
                        DT_NULL => break,
                        DT_NEEDED => needed += 1,
                        _ => {}
                    }
                }
                if needed > 0 {
                    why.push(format!("{needed} shared libraries (DT_NEEDED)"));
                }
            }
            _ => {}
        }
    }
    Ok(why)
}

/// The compiled BPF object that `binary` embeds. build.rs copies it from
/// OUT_DIR to `<profile dir>/edr-ebpf`, but ignores a failed copy, and a
/// build that reuses a cached build-script run does not copy again; so the
/// file there may be missing or belong to another build. Each candidate is
/// checked byte for byte against the skeleton bytes inside the binary, and
/// the one that matches ends up at `<profile dir>/edr-ebpf`, the path the
/// .deb and .rpm metadata name.
fn bpf_object(profile_dir: &Path, binary: &[u8]) -> Result<PathBuf, ExitCode> {
    let step = "static build: BPF object";
    let wanted = profile_dir.join("edr-ebpf");
    let mut candidates = vec![wanted.clone()];
    // OUT_DIRs of the build script: <profile>/build/rand-guard-<hash>/out.
    let mut outs: Vec<(std::time::SystemTime, PathBuf)> = fs::read_dir(profile_dir.join("build"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("rand-guard-"))
        .map(|e| e.path().join("out/edr.bpf.o"))
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .collect();
    outs.sort_by_key(|o| std::cmp::Reverse(o.0)); // newest first
    candidates.extend(outs.into_iter().map(|(_, p)| p));

    for candidate in &candidates {
        let Ok(object) = fs::read(candidate) else {
            continue;
        };
        if object.len() < 64 || !embeds(binary, &object) {
            continue;
        }
        if candidate != &wanted {
            eprintln!(
                "xtask: {} was missing or stale; using {}",
                wanted.display(),
                candidate.display()
            );
            fs::copy(candidate, &wanted).map_err(|e| {
                fail(
                    step,
                    format!(
                        "copying {} to {}: {e}",
                        candidate.display(),
                        wanted.display()
                    ),
                )
            })?;
        }
        return Ok(wanted);
    }
    Err(fail(
        step,
        format!(
            "none of these is the object the binary embeds: {} (build.rs writes \
             OUT_DIR/edr.bpf.o and copies it to {}; `cargo clean` and build again)",
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            wanted.display()
        ),
    ))
}

/// Whether `needle` occurs in `haystack` (the skeleton embeds the object
/// verbatim as a byte array).
fn embeds(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, _)) = needle.split_first() else {
        return false;
    };
    haystack
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == first)
        .any(|(i, _)| haystack[i..].starts_with(needle))
}

/// `cargo run -p xtask -- package`.
pub fn package() -> Result<(), ExitCode> {
    let built = static_build(&[])?;
    let meta = metadata()?;
    for tool in [&CARGO_DEB, &CARGO_GENERATE_RPM] {
        ensure_tool(tool)?;
    }
    let dist = root().join("dist");
    // dist/ holds only what this command writes: start empty so that
    // SHA256SUMS never lists an artifact of an older version.
    if dist.exists() {
        fs::remove_dir_all(&dist)
            .map_err(|e| fail("package", format!("removing {}: {e}", dist.display())))?;
    }
    fs::create_dir_all(&dist)
        .map_err(|e| fail("package", format!("creating {}: {e}", dist.display())))?;

    let tarball = tarball(&built, &meta, &dist)?;

    let mut deb = cargo();
    deb.args(["deb", "-p", "rand-guard", "--no-build", "--target", TARGET])
        // Identical bytes in all three artifacts; the symbols make a
        // panic's backtrace readable.
        .arg("--no-strip")
        .arg("--output")
        .arg(&dist);
    run(deb)
        .inspect_err(|_| eprintln!("xtask: package: cargo-deb failed (see its message above)"))?;

    let mut rpm = cargo();
    rpm.args(["generate-rpm", "--target", TARGET])
        .arg("--target-dir")
        .arg(&meta.target_dir)
        .arg("--output")
        .arg(&dist);
    run(rpm).inspect_err(|_| {
        eprintln!("xtask: package: cargo-generate-rpm failed (see its message above)")
    })?;

    let mut artifacts = vec![tarball];
    for ext in [".deb", ".rpm"] {
        artifacts.push(one_file(&dist, ext)?);
    }
    // The same staged tree as the tarball, as an OCI image.
    let stage =
        (meta.target_dir.join("package")).join(format!("rand-guard-{}-x86_64-linux", meta.version));
    artifacts.push(crate::package_oci::image(&meta.version, &stage, &dist)?);
    checksums(&dist, &artifacts)?;
    for a in &artifacts {
        eprintln!("xtask: wrote {}", dist.join(a).display());
    }
    eprintln!("xtask: wrote {}", dist.join("SHA256SUMS").display());
    Ok(())
}

/// Run `cargo <subcommand> --version`; install the pinned version when the
/// subcommand is missing. A different version already installed is used
/// as it is (and named), so a developer's newer tool is not downgraded.
pub fn ensure_tool(tool: &Tool) -> Result<(), ExitCode> {
    let mut probe = cargo();
    probe.args([tool.subcommand, "--version"]);
    if let Some(out) = probe.output().ok().filter(|o| o.status.success()) {
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        eprintln!("xtask: using {version} (pinned: {})", tool.version);
        return Ok(());
    }
    let mut install = cargo();
    install
        .args(["install", "--locked"])
        .arg(format!("{}@{}", tool.krate, tool.version))
        // Build the tool in cargo's own temporary directory, not in the
        // project's target directory.
        .env_remove("CARGO_TARGET_DIR");
    run(install).inspect_err(|_| {
        eprintln!(
            "xtask: installing {} {} failed: it needs crates.io",
            tool.krate, tool.version
        )
    })
}

/// Stage the tarball's tree under the target directory and pack it into
/// `dist/rand-guard-<version>-x86_64-linux.tar.gz`. Returns its file name.
fn tarball(built: &Built, meta: &Metadata, dist: &Path) -> Result<String, ExitCode> {
    let step = "package: tarball";
    let name = format!("rand-guard-{}-x86_64-linux", meta.version);
    let stage_parent = meta.target_dir.join("package");
    let stage = stage_parent.join(&name);
    if stage.exists() {
        fs::remove_dir_all(&stage)
            .map_err(|e| fail(step, format!("removing {}: {e}", stage.display())))?;
    }
    let src = root();
    let rules: Vec<PathBuf> = fs::read_dir(src.join("rules"))
        .map_err(|e| {
            fail(
                step,
                format!("reading {}: {e}", src.join("rules").display()),
            )
        })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    let mut files: Vec<(PathBuf, PathBuf, u32)> = vec![
        (built.binary.clone(), "rand-guard".into(), 0o755),
        (built.bpf_object.clone(), "edr-ebpf".into(), 0o644),
        (src.join("config/config.toml"), "config.toml".into(), 0o600),
        (
            src.join("systemd/rand-guard.service"),
            "rand-guard.service".into(),
            0o644,
        ),
        (src.join("scripts/install.sh"), "install.sh".into(), 0o755),
        (src.join("config/logrotate"), "logrotate".into(), 0o644),
    ];
    // Every file in rules/ (the sample TOML and Sigma rules) goes to
    // rules.d/, exactly as the .deb and .rpm ship them.
    for r in rules {
        let dest = Path::new("rules.d").join(r.file_name().unwrap());
        files.push((r, dest, 0o644));
    }
    fs::create_dir_all(stage.join("rules.d"))
        .map_err(|e| fail(step, format!("creating {}: {e}", stage.display())))?;
    for (from, to, mode) in &files {
        let to = stage.join(to);
        fs::copy(from, &to).map_err(|e| {
            fail(
                step,
                format!("copying {} to {}: {e}", from.display(), to.display()),
            )
        })?;
        fs::set_permissions(&to, fs::Permissions::from_mode(*mode))
            .map_err(|e| fail(step, format!("chmod {}: {e}", to.display())))?;
    }

    let file = format!("{name}.tar.gz");
    let mut tar = Command::new("tar");
    // Owner root and one timestamp, so that the archive says nothing about
    // the build machine and the same tree packs to the same bytes.
    tar.arg("--sort=name")
        .args(["--owner=0", "--group=0", "--numeric-owner"])
        .arg(format!("--mtime=@{}", source_date_epoch()))
        .args(["--use-compress-program", "gzip -9n"])
        .arg("-C")
        .arg(&stage_parent)
        .arg("-cf")
        .arg(dist.join(&file))
        .arg(&name);
    run(tar)?;
    Ok(file)
}

/// SOURCE_DATE_EPOCH when set, else the time of the commit being packaged.
pub(crate) fn source_date_epoch() -> String {
    if let Ok(s) = env::var("SOURCE_DATE_EPOCH") {
        return s;
    }
    Command::new("git")
        .current_dir(root())
        .args(["log", "-1", "--format=%ct"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "0".into())
}

/// The one file in `dir` whose name ends with `ext`.
fn one_file(dir: &Path, ext: &str) -> Result<String, ExitCode> {
    let names: Vec<String> = fs::read_dir(dir)
        .map_err(|e| fail("package", format!("reading {}: {e}", dir.display())))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(ext))
        .collect();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(fail(
            "package",
            format!("expected one {ext} in {}, found {names:?}", dir.display()),
        )),
    }
}

/// `dist/SHA256SUMS` in `sha256sum` format, so `sha256sum -c SHA256SUMS`
/// checks a download in place.
fn checksums(dist: &Path, names: &[String]) -> Result<(), ExitCode> {
    let step = "package: SHA256SUMS";
    let mut c = Command::new("sha256sum");
    c.current_dir(dist).args(names);
    let out = c
        .output()
        .map_err(|e| fail(step, format!("cannot run sha256sum: {e}")))?;
    if !out.status.success() {
        return Err(fail(
            step,
            format!(
                "{} failed: {}",
                describe(&c),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    fs::write(dist.join("SHA256SUMS"), &out.stdout).map_err(|e| {
        fail(
            step,
            format!("writing {}: {e}", dist.join("SHA256SUMS").display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_executable_is_named_dynamic() {
        // The test binary itself is an ordinary dynamically linked program.
        let me = fs::read("/proc/self/exe").unwrap();
        let why = dynamic_linking(&me).unwrap();
        assert!(
            why.iter().any(|w| w.starts_with("program interpreter /")),
            "{why:?}"
        );
        assert!(
            why.iter()
                .any(|w| w.ends_with("shared libraries (DT_NEEDED)")),
            "{why:?}"
        );
    }

    #[test]
    fn static_executable_has_no_reasons() {
        // A minimal ELF64 header with one PT_LOAD and nothing else.
        let mut elf = vec![0u8; 64 + 56];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        elf[64..68].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        assert_eq!(dynamic_linking(&elf).unwrap(), Vec::<String>::new());
        assert!(dynamic_linking(b"#!/bin/sh\n").is_err());
        assert!(dynamic_linking(&elf[..40]).is_err());
    }

    #[test]
    fn embedded_bytes_are_found() {
        let hay = b"xxELFabcELFabcdyy";
        assert!(embeds(hay, b"ELFabcd"));
        assert!(!embeds(hay, b"ELFabce"));
        assert!(!embeds(hay, b""));
        assert!(!embeds(b"ab", b"abc"));
    }
}
