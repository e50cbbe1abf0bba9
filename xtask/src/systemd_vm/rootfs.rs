//! The guest's root file system: Debian 12 (bookworm) from debootstrap
//! with systemd as init, packed once into an initramfs archive and cached
//! under `.local/systemd-test/`.
//!
//! Why the root file system is the initramfs (and not a disk image with a
//! small initramfs that loads ext4 and virtio_blk, then switch_root): the
//! Debian kernel has both as modules, so a disk would need the matching
//! modules picked out of the kernel package and a first-stage init to load
//! them; the initramfs needs neither, boots systemd straight away, and
//! starts from the same clean tree every time. systemd runs a normal boot
//! from it because the tree has no /etc/initrd-release. What differs from
//! a disk: `/` is a tmpfs, which no test here depends on.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::cpio;
use crate::{describe, root};

pub const SUITE: &str = "bookworm";

/// Installed on top of minbase: systemd as PID 1 (`systemd-sysv` makes
/// /sbin/init systemd), and udev (without it, units waiting for device
/// units such as the serial getty time out and delay the boot by 90 s).
/// Everything the test runs besides (dpkg, tar, gzip, sha256sum, cmp,
/// grep, sed, journalctl, systemd-analyze) is in minbase or systemd.
pub const PACKAGES: &[&str] = &["systemd", "systemd-sysv", "udev"];

/// The cached archive, built when missing or when its recipe (suite and
/// packages) changed.
pub fn archive() -> Result<PathBuf, String> {
    let dir = root().join(".local/systemd-test");
    let archive = dir.join("rootfs.cpio");
    let stamp = dir.join("rootfs.recipe");
    let recipe = format!("{SUITE} minbase {}\n", PACKAGES.join(","));
    if archive.is_file() && fs::read_to_string(&stamp).is_ok_and(|s| s == recipe) {
        return Ok(archive);
    }
    let mirror = mirror()?;
    let tree = dir.join("rootfs.tree");
    // debootstrap mounts /proc and /sys in the tree while it works; killed
    // half-way, it leaves them, and removing the tree would walk into them.
    let left = mounts_under(
        &tree,
        &fs::read_to_string("/proc/self/mountinfo").unwrap_or_default(),
    );
    if !left.is_empty() {
        return Err(format!(
            "an earlier debootstrap left mounts in {}: umount {} first",
            tree.display(),
            left.join(" ")
        ));
    }
    if tree.exists() {
        fs::remove_dir_all(&tree).map_err(|e| format!("removing {}: {e}", tree.display()))?;
    }
    fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    eprintln!(
        "xtask: debootstrap {SUITE} from {mirror} into {} (once, about a minute)",
        tree.display()
    );
    let mut d = Command::new("debootstrap");
    d.arg("--variant=minbase")
        .arg(format!("--include={}", PACKAGES.join(",")))
        .arg(SUITE)
        .arg(&tree)
        .arg(&mirror);
    output_of(d).map_err(|e| format!("{e} (Debian: apt-get install debootstrap)"))?;
    trim(&tree)?;
    let tmp = archive.with_extension("cpio.tmp");
    let file = File::create(&tmp).map_err(|e| format!("creating {}: {e}", tmp.display()))?;
    let mut w = cpio::Writer::new(BufWriter::new(file));
    w.tree(&tree)
        .map_err(|e| format!("packing {}: {e}", tree.display()))?;
    w.finish()
        .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    fs::rename(&tmp, &archive).map_err(|e| format!("renaming {}: {e}", tmp.display()))?;
    fs::write(&stamp, recipe).map_err(|e| format!("writing {}: {e}", stamp.display()))?;
    fs::remove_dir_all(&tree).map_err(|e| format!("removing {}: {e}", tree.display()))?;
    Ok(archive)
}

/// Mount points at or below `dir` in a /proc/self/mountinfo text (octal
/// escapes such as `\040` for a space are compared as written).
fn mounts_under(dir: &Path, mountinfo: &str) -> Vec<String> {
    let dir = dir.to_string_lossy();
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| {
            *p == dir
                || p.strip_prefix(dir.as_ref())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .map(String::from)
        .collect()
}

/// What the guest never uses: apt's downloaded packages and lists (about
/// 90 MB the guest would hold in memory), and a hostname of the build
/// machine's.
fn trim(tree: &Path) -> Result<(), String> {
    for dir in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        let d = tree.join(dir);
        for e in fs::read_dir(&d)
            .map_err(|e| format!("reading {}: {e}", d.display()))?
            .flatten()
        {
            if e.path().is_file() {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    for f in [
        "var/cache/apt/pkgcache.bin",
        "var/cache/apt/srcpkgcache.bin",
    ] {
        let _ = fs::remove_file(tree.join(f));
    }
    fs::write(tree.join("etc/hostname"), "rg-systemd-test\n")
        .map_err(|e| format!("writing etc/hostname: {e}"))
}

/// The Debian mirror apt uses for bookworm's main archive, from
/// /etc/apt/sources.list and /etc/apt/sources.list.d/.
fn mirror() -> Result<String, String> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(rd) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    for f in &files {
        let Ok(text) = fs::read_to_string(f) else {
            continue;
        };
        let found = if f.extension().is_some_and(|x| x == "sources") {
            mirror_in_deb822(&text)
        } else {
            mirror_in_one_line(&text)
        };
        if let Some(m) = found {
            return Ok(m);
        }
    }
    Err(format!(
        "no apt source for {SUITE} (a `deb URI {SUITE} main` line or a deb822 stanza) in {}",
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// `deb [options] URI SUITE COMPONENT...` lines.
fn mirror_in_one_line(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let l = l.split('#').next()?;
        let mut words = l.split_whitespace();
        if words.next()? != "deb" {
            return None;
        }
        let mut rest: Vec<&str> = words.collect();
        if rest.first()?.starts_with('[') {
            let end = rest.iter().position(|w| w.ends_with(']'))?;
            rest.drain(..=end);
        }
        match rest.as_slice() {
            [uri, suite, components @ ..] if *suite == SUITE && components.contains(&"main") => {
                Some(uri.to_string())
            }
            _ => None,
        }
    })
}

/// deb822 stanzas: `Types: deb`, `URIs:`, `Suites:` with bookworm,
/// `Components:` with main.
fn mirror_in_deb822(text: &str) -> Option<String> {
    text.split("\n\n").find_map(|stanza| {
        let field = |name: &str| -> Vec<&str> {
            stanza
                .lines()
                .filter(|l| !l.starts_with('#'))
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| v.split_whitespace().collect())
                })
                .unwrap_or_default()
        };
        let ok = field("Types").contains(&"deb")
            && field("Suites").contains(&SUITE)
            && field("Components").contains(&"main");
        ok.then(|| field("URIs").first().map(|u| u.to_string()))
            .flatten()
    })
}

/// Runs a command; its stdout, or an error with its stderr.
fn output_of(mut c: Command) -> Result<String, String> {
    eprintln!("xtask: {}", describe(&c));
    let out = c
        .output()
        .map_err(|e| format!("cannot run {}: {e}", describe(&c)))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        return Err(format!(
            "{} failed ({}): {}",
            describe(&c),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_left_in_the_tree_are_found() {
        let info = "\
22 1 0:21 / / rw - ext4 /dev/vda rw
90 22 0:5 / /w/.local/systemd-test/rootfs.tree/proc rw - proc proc rw
91 22 0:6 / /w/.local/systemd-test/rootfs.tree.old rw - tmpfs x rw
";
        let tree = Path::new("/w/.local/systemd-test/rootfs.tree");
        assert_eq!(
            mounts_under(tree, info),
            ["/w/.local/systemd-test/rootfs.tree/proc"]
        );
        assert!(mounts_under(Path::new("/elsewhere"), info).is_empty());
    }

    #[test]
    fn one_line_sources() {
        let text = "\
# deb http://old.example/debian bookworm main
deb http://security.debian.org/debian-security bookworm-security main
deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib
deb http://other.example/debian bookworm main
";
        assert_eq!(
            mirror_in_one_line(text).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(
            mirror_in_one_line("deb http://x/debian bookworm contrib\n"),
            None
        );
        assert_eq!(
            mirror_in_one_line("deb-src http://x/debian bookworm main\n"),
            None
        );
    }

    #[test]
    fn deb822_sources() {
        // This machine's file: the main archive first, security after.
        let text = "\
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
";
        assert_eq!(
            mirror_in_deb822(text).as_deref(),
            Some("http://deb.debian.org/debian")
        );
        let security_only = text.split("\n\n").nth(1).unwrap();
        assert_eq!(mirror_in_deb822(security_only), None);
        assert_eq!(
            mirror_in_deb822(
                "Types: deb-src\nURIs: http://x\nSuites: bookworm\nComponents: main\n"
            ),
            None
        );
    }
}
