//! Debian's own kernels, fetched with apt and cached: `apt-get download`
//! of `linux-image-<VERSION>-unsigned` (the same image as the signed
//! package, without the Secure Boot wrapper), `dpkg-deb -x`, and only the
//! `vmlinuz` kept under `.local/kernels/<VERSION>/`. Nothing is installed
//! on the host. No modules are kept: the guest needs none (its root file
//! system is the initramfs, see rootfs.rs).

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use super::output_of;
use crate::root;

/// The kernel series the systemd test boots by default: Debian 12's own.
pub const DEFAULT_SERIES: &str = "6.1.0-";

/// `.local/kernels/<version>/vmlinuz`, fetched the first time. `version`
/// is the package's, e.g. `6.1.0-57-amd64` for
/// `linux-image-6.1.0-57-amd64-unsigned`.
pub fn kernel_image(version: &str) -> Result<PathBuf, String> {
    if version.is_empty()
        || !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+-".contains(c))
    {
        return Err(format!("kernel version {version:?}: not a package version"));
    }
    let dir = root().join(".local/kernels").join(version);
    let image = dir.join("vmlinuz");
    if image.is_file() {
        return Ok(image);
    }
    let package = format!("linux-image-{version}-unsigned");
    let work = root()
        .join(".local/kernels")
        .join(format!("{version}.download"));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
    eprintln!(
        "xtask: fetching {package} (once; cached in {})",
        dir.display()
    );
    let mut get = Command::new("apt-get");
    get.current_dir(&work).args(["download", "-q", &package]);
    output_of(get).map_err(|e| {
        format!("{e} (is the package known to apt? `apt-get update`; `apt-cache policy {package}`)")
    })?;
    let deb = fs::read_dir(&work)
        .map_err(|e| format!("reading {}: {e}", work.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| {
            format!(
                "apt-get download {package} left no .deb in {}",
                work.display()
            )
        })?;
    let unpacked = work.join("x");
    let mut x = Command::new("dpkg-deb");
    x.arg("-x").arg(&deb).arg(&unpacked);
    output_of(x)?;
    let from = unpacked.join("boot").join(format!("vmlinuz-{version}"));
    fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    fs::copy(&from, &image).map_err(|e| {
        format!(
            "{package}: copying {} to {}: {e}",
            from.display(),
            image.display()
        )
    })?;
    let _ = fs::remove_dir_all(&work);
    Ok(image)
}

/// The newest kernel of a series apt knows, from `apt-cache search`, e.g.
/// `6.1.0-57-amd64` for the series `6.1.0-`.
pub fn newest(series: &str) -> Result<String, String> {
    let pattern = format!(
        "^linux-image-{}[0-9]+-amd64-unsigned$",
        series.replace('.', "\\.")
    );
    let mut c = Command::new("apt-cache");
    c.args(["search", "--names-only", &pattern]);
    let out = output_of(c)?;
    newest_in(&out, series).ok_or_else(|| {
        format!(
            "apt-cache knows no linux-image-{series}N-amd64-unsigned (run `apt-get update`; \
             the Debian 12 main archive has them)"
        )
    })
}

/// The newest `<series>N-amd64` named in `apt-cache search` output (one
/// "package - description" per line), by N.
fn newest_in(apt_cache: &str, series: &str) -> Option<String> {
    apt_cache
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|pkg| {
            let v = pkg
                .strip_prefix("linux-image-")?
                .strip_suffix("-unsigned")?;
            let abi: u32 = v
                .strip_prefix(series)?
                .strip_suffix("-amd64")?
                .parse()
                .ok()?;
            Some((abi, v.to_string()))
        })
        .max()
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_is_by_abi_number_not_by_text() {
        let out = "\
linux-image-6.1.0-9-amd64-unsigned - Linux 6.1 for 64-bit PCs
linux-image-6.1.0-57-amd64-unsigned - Linux 6.1 for 64-bit PCs
linux-image-6.1.0-57-cloud-amd64-unsigned - Linux 6.1 for x86-64 cloud
linux-image-6.1.0-100-rt-amd64-unsigned - Linux 6.1 for 64-bit PCs, PREEMPT_RT
linux-image-6.12.118+deb12-amd64-unsigned - Linux 6.12 for 64-bit PCs
";
        assert_eq!(newest_in(out, "6.1.0-").as_deref(), Some("6.1.0-57-amd64"));
        assert_eq!(newest_in("", "6.1.0-"), None);
    }

    #[test]
    fn odd_versions_are_refused_before_apt_runs() {
        for v in ["", "6.1 ; rm", "../x", "a/b"] {
            assert!(kernel_image(v).is_err(), "{v:?}");
        }
    }
}
