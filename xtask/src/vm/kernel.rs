//! Debian kernel packages for the guests: which version is the newest of
//! a series apt offers, and its unpacked `vmlinuz`, fetched once with
//! `apt-get download` + `dpkg-deb -x` (nothing is installed) and cached
//! under `.local/vm/kernels/<version>/`.
//!
//! A version is the kernel's ABI name as Debian's package names spell it:
//! `6.1.0-57` in `linux-image-6.1.0-57-amd64-unsigned`, `6.12.118+deb12`
//! in `linux-image-6.12.118+deb12-amd64-unsigned` (Debian 12's, from the
//! configured apt sources; the unsigned image is the same kernel without
//! the Secure Boot signature), `6.18.15+deb13` in
//! `linux-image-6.18.15+deb13-amd64` (Debian 13's backports, from a private
//! apt state under `.local/vm/apt/`: see [`Source::Backports`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where a kernel package comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The machine's configured apt sources (Debian 12: bookworm and
    /// bookworm-security carry 6.1 and 6.12).
    Configured,
    /// trixie-backports, through an apt state of our own (its own sources
    /// list and package lists under `.local/vm/apt/`, the machine's apt
    /// configuration untouched): the only Debian kernels at 6.17 or later,
    /// where the BPF programs take their direct-load path, that a Debian 12
    /// machine can reach. Signed with the Debian 13 keys that Debian 12's
    /// debian-archive-keyring carries.
    Backports,
}

/// A kernel series tested by default: the newest version starting with
/// `prefix.` that `source` offers.
pub struct Series {
    pub prefix: &'static str,
    pub source: Source,
}

/// The kernel series tested by default: Debian 12's own (6.1), its
/// security series (6.12, also Debian 13's), and Debian 13's backported
/// 6.18 (the long-term series at or after 6.17: the direct-load path).
pub const DEFAULT_SERIES: &[Series] = &[
    Series {
        prefix: "6.1",
        source: Source::Configured,
    },
    Series {
        prefix: "6.12",
        source: Source::Configured,
    },
    Series {
        prefix: "6.18",
        source: Source::Backports,
    },
];

/// Which source a version's package is in: Debian 13's are `+deb13`.
pub fn source_of(version: &str) -> Source {
    if version.ends_with("+deb13") {
        Source::Backports
    } else {
        Source::Configured
    }
}

const BACKPORTS_SOURCES: &str = "\
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie-backports
Components: main
Architectures: amd64
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

/// apt's options for a source: none for the configured one; for the
/// backports, the private state (sources, lists, cache; no dpkg status:
/// nothing is installed).
fn apt_options(source: Source) -> Vec<String> {
    match source {
        Source::Configured => Vec::new(),
        Source::Backports => {
            let dir = crate::root().join(".local/vm/apt");
            let d = |sub: &str| dir.join(sub).display().to_string();
            vec![
                format!("Dir::Etc::SourceList={}", d("sources.list")),
                format!("Dir::Etc::SourceParts={}", d("sources.list.d")),
                format!("Dir::State::Lists={}", d("lists")),
                format!("Dir::Cache={}", d("cache")),
                "Dir::State::status=/dev/null".into(),
                "Acquire::Languages=none".into(),
                "APT::Architectures=amd64".into(),
            ]
            .into_iter()
            .flat_map(|o| ["-o".to_string(), o])
            .collect()
        }
    }
}

/// An apt command for a source.
fn apt(tool: &str, source: Source) -> Command {
    let mut c = Command::new(tool);
    c.args(apt_options(source));
    c
}

/// Brings the private backports lists up to date (once per run: the first
/// resolve or fetch that needs them).
fn update_backports() -> Result<(), String> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let dir = crate::root().join(".local/vm/apt");
        for sub in ["sources.list.d", "lists/partial", "cache/archives/partial"] {
            fs::create_dir_all(dir.join(sub))
                .map_err(|e| format!("creating {}: {e}", dir.join(sub).display()))?;
        }
        fs::write(dir.join("sources.list"), "")
            .and_then(|()| {
                fs::write(
                    dir.join("sources.list.d/trixie-backports.sources"),
                    BACKPORTS_SOURCES,
                )
            })
            .map_err(|e| format!("writing the sources in {}: {e}", dir.display()))?;
        eprintln!(
            "xtask: vm-test: apt-get update of trixie-backports (private lists in {})",
            dir.display()
        );
        run_apt(
            apt("apt-get", Source::Backports).args(["update", "-q"]),
            "apt-get update",
        )
        .map(|_| ())
    })
    .clone()
}

fn run_apt(c: &mut Command, what: &str) -> Result<String, String> {
    let out = c.output().map_err(|e| format!("cannot run {what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The package holding the kernel image of `version`: Debian 12 ships
/// the unsigned image in its own package, Debian 13 only the image.
pub fn package_name(version: &str) -> String {
    match source_of(version) {
        Source::Configured => format!("linux-image-{version}-amd64-unsigned"),
        Source::Backports => format!("linux-image-{version}-amd64"),
    }
}

/// The packages that may hold the kernel image of `version`, each with
/// the image's path in it, in the order to try them: since 6.19, Debian's
/// image package only depends on `linux-binary-unsigned-*`, which holds
/// the image (and nothing else).
fn image_packages(version: &str) -> Vec<(String, String)> {
    let image = (
        package_name(version),
        format!("boot/vmlinuz-{version}-amd64"),
    );
    match source_of(version) {
        Source::Configured => vec![image],
        Source::Backports => vec![
            (
                format!("linux-binary-unsigned-{version}-amd64"),
                format!("usr/lib/modules/{version}-amd64/vmlinuz.unsigned"),
            ),
            image,
        ],
    }
}

/// The version a package name carries, if it is a plain amd64 image of
/// the kind its source ships (not `-cloud`, `-rt`, `-dbg` or a
/// meta-package).
fn version_of(package: &str) -> Option<&str> {
    let rest = package.strip_prefix("linux-image-")?;
    let v = rest
        .strip_suffix("-amd64-unsigned")
        .or_else(|| rest.strip_suffix("-amd64"))?;
    (valid_version(v) && package == package_name(v)).then_some(v)
}

/// `6.1.0-57`, `6.12.118+deb12` or `6.18.15+deb13`: three numbers, then
/// `-N` or `+debN`.
pub fn valid_version(v: &str) -> bool {
    let (base, tail) = match v.split_once('-') {
        Some((b, t)) => (b, t),
        None => match v.split_once("+deb") {
            Some((b, t)) => (b, t),
            None => return false,
        },
    };
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    base.split('.').count() == 3 && base.split('.').all(numeric) && numeric(tail)
}

/// The numbers of a version, in order, for comparing two of one series.
fn numbers(v: &str) -> Vec<u64> {
    v.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or(0))
        .collect()
}

/// The newest version of `series` (`6.1` takes 6.1.x, not 6.12.x) among
/// package names, one per line as `apt-cache search` prints them
/// (`name - description`).
pub fn newest(series: &str, search_output: &str) -> Option<String> {
    let prefix = format!("{series}.");
    search_output
        .lines()
        .filter_map(|l| version_of(l.split_whitespace().next()?))
        .filter(|v| v.starts_with(&prefix))
        .max_by_key(|v| numbers(v))
        .map(str::to_string)
}

/// The newest version of a series its source offers.
pub fn resolve(series: &Series) -> Result<String, String> {
    if series.source == Source::Backports {
        update_backports()?;
    }
    let pattern = format!(
        "^linux-image-{}\\..*-amd64",
        series.prefix.replace('.', "\\.")
    );
    let found = run_apt(
        apt("apt-cache", series.source).args(["search", "--names-only", &pattern]),
        "apt-cache search",
    )?;
    newest(series.prefix, &found).ok_or_else(|| {
        format!(
            "no linux-image-{}.* amd64 image in {} (apt-get update? Debian 12 offers 6.1 \
             in bookworm and 6.12 in bookworm-security)",
            series.prefix,
            match series.source {
                Source::Configured => "the configured apt sources",
                Source::Backports => "trixie-backports",
            }
        )
    })
}

/// Where the kernel of `version` is cached.
pub fn cache_dir(version: &str) -> PathBuf {
    crate::root().join(".local/vm/kernels").join(version)
}

/// The unpacked `vmlinuz` of `version`, downloaded and unpacked the first
/// time. Next to it, `package` names the .deb it came from (its Debian
/// version: `linux-image-6.1.0-57-amd64-unsigned_6.1.192-3_amd64.deb`).
pub fn fetch(version: &str) -> Result<PathBuf, String> {
    if !valid_version(version) {
        return Err(format!(
            "kernel version `{version}` is not a Debian kernel ABI name such as \
             6.1.0-57, 6.12.118+deb12 or 6.18.15+deb13"
        ));
    }
    let dir = cache_dir(version);
    let vmlinuz = dir.join("vmlinuz");
    if vmlinuz.is_file() {
        return Ok(vmlinuz);
    }
    // (not with_extension: a version's dots are not an extension)
    let work = dir.with_file_name(format!("{version}.partial"));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
    let source = source_of(version);
    if source == Source::Backports {
        update_backports()?;
    }
    let mut tried = Vec::new();
    for (package, _) in image_packages(version) {
        eprintln!("xtask: vm-test: downloading {package}");
        match run_apt(
            apt("apt-get", source)
                .args(["download", "-q", &package])
                .current_dir(&work),
            &format!("apt-get download {package}"),
        ) {
            Ok(_) => break,
            Err(e) => tried.push(e),
        }
    }
    let deb = single_deb(&work).map_err(|e| format!("{e}: {}", tried.join("; ")))?;
    let unpacked = work.join("root");
    let x = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&unpacked)
        .output()
        .map_err(|e| format!("cannot run dpkg-deb: {e}"))?;
    if !x.status.success() {
        return Err(format!(
            "dpkg-deb -x {} failed: {}",
            deb.display(),
            String::from_utf8_lossy(&x.stderr).trim()
        ));
    }
    let image = image_packages(version)
        .into_iter()
        .map(|(_, path)| unpacked.join(path))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{} holds no kernel image", deb.display()))?;
    // Only the image is kept (the modules are hundreds of MB and the
    // guests need none: BTF, BPF and tracefs are built in).
    let deb_name = deb.file_name().unwrap_or_default().to_string_lossy();
    let keep = work.join("keep");
    fs::create_dir_all(&keep).map_err(|e| format!("creating {}: {e}", keep.display()))?;
    fs::rename(&image, keep.join("vmlinuz")).map_err(|e| format!("moving the image: {e}"))?;
    fs::write(keep.join("package"), format!("{deb_name}\n"))
        .map_err(|e| format!("writing {}: {e}", keep.display()))?;
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&keep, &dir).map_err(|e| format!("moving into {}: {e}", dir.display()))?;
    let _ = fs::remove_dir_all(&work);
    Ok(vmlinuz)
}

/// The .deb file name `fetch` unpacked for `version`, if cached.
pub fn package_file(version: &str) -> Option<String> {
    fs::read_to_string(cache_dir(version).join("package"))
        .ok()
        .map(|s| s.trim().to_string())
}

fn single_deb(dir: &Path) -> Result<PathBuf, String> {
    let debs: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    match debs.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "expected one .deb in {}, found {}",
            dir.display(),
            debs.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEARCH: &str = "\
linux-image-6.1.0-9-amd64-unsigned - Linux 6.1 for 64-bit PCs
linux-image-6.1.0-57-amd64-unsigned - Linux 6.1 for 64-bit PCs
linux-image-6.1.0-57-cloud-amd64-unsigned - Linux 6.1 for x86-64 cloud
linux-image-6.1.0-56-rt-amd64-unsigned - Linux 6.1 for 64-bit PCs, PREEMPT_RT
linux-image-6.12.9+deb12-amd64-unsigned - Linux 6.12 for 64-bit PCs
linux-image-6.12.118+deb12-amd64-unsigned - Linux 6.12 for 64-bit PCs
linux-image-6.12.118+deb12-cloud-amd64-unsigned - Linux 6.12 for x86-64 cloud
linux-image-6.12.117+deb12-amd64-unsigned - Linux 6.12 for 64-bit PCs
linux-image-6.12.118+deb12-amd64 - Linux 6.12 for 64-bit PCs (signed)
linux-image-6.18.9+deb13-amd64 - Linux 6.18.9 for 64-bit PCs (signed)
linux-image-6.18.15+deb13-amd64 - Linux 6.18.15 for 64-bit PCs (signed)
linux-image-6.18.16+deb13-cloud-amd64 - Linux 6.18.16 for x86-64 cloud (signed)
linux-image-6.18.16+deb13-amd64-dbg - Linux 6.18.16 for 64-bit PCs (debug symbols)
linux-image-7.3.4+deb13-amd64 - Linux 7.3.4 for 64-bit PCs
";

    #[test]
    fn newest_compares_numbers_and_skips_flavours() {
        assert_eq!(newest("6.1", SEARCH).as_deref(), Some("6.1.0-57"));
        assert_eq!(newest("6.12", SEARCH).as_deref(), Some("6.12.118+deb12"));
        assert_eq!(newest("6.18", SEARCH).as_deref(), Some("6.18.15+deb13"));
        assert_eq!(newest("7.3", SEARCH).as_deref(), Some("7.3.4+deb13"));
        assert_eq!(newest("6.6", SEARCH), None);
    }

    #[test]
    fn each_version_has_its_package_and_source() {
        assert_eq!(source_of("6.1.0-57"), Source::Configured);
        assert_eq!(source_of("6.12.118+deb12"), Source::Configured);
        assert_eq!(source_of("6.18.15+deb13"), Source::Backports);
        assert_eq!(
            package_name("6.18.15+deb13"),
            "linux-image-6.18.15+deb13-amd64"
        );
        // the private apt state, never the machine's
        let opts = apt_options(Source::Backports).join(" ");
        assert!(opts.contains("Dir::State::status=/dev/null"), "{opts}");
        assert!(opts.contains(".local/vm/apt/lists"), "{opts}");
        assert!(apt_options(Source::Configured).is_empty());
    }

    #[test]
    fn versions_are_debian_abi_names() {
        for ok in ["6.1.0-57", "6.12.118+deb12", "6.18.15+deb13"] {
            assert!(valid_version(ok), "{ok}");
        }
        for bad in [
            "6.1",
            "6.1.0",
            "6.1.0-57-cloud",
            "6.12.118+deb12-rt",
            "../6.1.0-57",
            "6.1.x-57",
            "",
        ] {
            assert!(!valid_version(bad), "{bad}");
        }
        assert_eq!(
            package_name("6.1.0-57"),
            "linux-image-6.1.0-57-amd64-unsigned"
        );
    }
}
