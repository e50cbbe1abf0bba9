//! Debian kernel packages for the guests: which version is the newest of
//! a series the configured apt sources offer, and its unpacked `vmlinuz`,
//! fetched once with `apt-get download` + `dpkg-deb -x` (nothing is
//! installed) and cached under `.local/vm/kernels/<version>/`.
//!
//! A version is the kernel's ABI name as Debian's package names spell it:
//! `6.1.0-57` in `linux-image-6.1.0-57-amd64-unsigned`, `6.12.118+deb12`
//! in `linux-image-6.12.118+deb12-amd64-unsigned`. The unsigned image is the
//! same kernel as the signed one without the Secure Boot signature.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The kernel series tested by default: Debian 12's own (6.1) and its
/// security/backports series (6.12, also Debian 13's).
pub const DEFAULT_SERIES: &[&str] = &["6.1", "6.12"];

/// The package holding the kernel image of `version`.
pub fn package_name(version: &str) -> String {
    format!("linux-image-{version}-amd64-unsigned")
}

/// The version a package name carries, if it is a plain amd64 unsigned
/// image (not `-cloud`, `-rt` or a meta-package).
fn version_of(package: &str) -> Option<&str> {
    let v = package
        .strip_prefix("linux-image-")?
        .strip_suffix("-amd64-unsigned")?;
    valid_version(v).then_some(v)
}

/// `6.1.0-57` or `6.12.118+deb12`: three numbers, then `-N` or `+debN`.
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

/// The newest version of `series` the configured apt sources offer.
pub fn resolve(series: &str) -> Result<String, String> {
    let pattern = format!(
        "^linux-image-{}\\..*-amd64-unsigned$",
        series.replace('.', "\\.")
    );
    let out = Command::new("apt-cache")
        .args(["search", "--names-only", &pattern])
        .output()
        .map_err(|e| format!("cannot run apt-cache: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "apt-cache search {pattern} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    newest(series, &String::from_utf8_lossy(&out.stdout)).ok_or_else(|| {
        format!(
            "no {} package in the configured apt sources (apt-get update? \
             Debian 12 offers 6.1 in bookworm and 6.12 in bookworm-security)",
            package_name(&format!("{series}.*"))
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
             6.1.0-57 or 6.12.118+deb12"
        ));
    }
    let dir = cache_dir(version);
    let vmlinuz = dir.join("vmlinuz");
    if vmlinuz.is_file() {
        return Ok(vmlinuz);
    }
    let work = dir.with_extension("partial");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
    let package = package_name(version);
    eprintln!("xtask: vm-test: downloading {package}");
    let dl = Command::new("apt-get")
        .args(["download", "-q", &package])
        .current_dir(&work)
        .output()
        .map_err(|e| format!("cannot run apt-get: {e}"))?;
    if !dl.status.success() {
        return Err(format!(
            "apt-get download {package} failed ({}): {}",
            dl.status,
            String::from_utf8_lossy(&dl.stderr).trim()
        ));
    }
    let deb = single_deb(&work)?;
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
    let image = unpacked.join(format!("boot/vmlinuz-{version}-amd64"));
    if !image.is_file() {
        return Err(format!("{} has no {}", deb.display(), image.display()));
    }
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
";

    #[test]
    fn newest_compares_numbers_and_skips_flavours() {
        assert_eq!(newest("6.1", SEARCH).as_deref(), Some("6.1.0-57"));
        assert_eq!(newest("6.12", SEARCH).as_deref(), Some("6.12.118+deb12"));
        assert_eq!(newest("6.6", SEARCH), None);
    }

    #[test]
    fn versions_are_debian_abi_names() {
        for ok in ["6.1.0-57", "6.12.118+deb12"] {
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
