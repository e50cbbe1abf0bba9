//! Extended attributes, issued as the syscalls themselves: the
//! setxattr and removexattr storms of the benchmarks (`cargo xtask bench`
//! on the host, `vm-test --bench` in the guests), and the guest suite's
//! one-shot writes (`vm-xattr`, run in the guest from the static xtask:
//! busybox has no setfattr or setcap).

use std::ffi::CString;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Instant;

use crate::workload::{Cost, chunked, self_cpu};

/// The attribute the storms set and remove: a `user.*` one, never
/// `security.capability` (which is reported wherever its file is, so
/// would not be the filtered case the storms measure).
pub const STORM_NAME: &str = "user.rg-bench";

fn c_string(s: &[u8]) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("`{}` has a NUL byte", String::from_utf8_lossy(s)))
}

fn last_error(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// `file`, created if missing, opened for writing (fsetxattr needs no
/// write access, but the file must exist).
fn open(file: &Path) -> fs::File {
    if let Some(dir) = file.parent() {
        fs::create_dir_all(dir).expect("bench directory");
    }
    fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

fn fset(fd: i32, name: &CString, value: &[u8]) -> Result<(), String> {
    // SAFETY: `name` is NUL-terminated, `value` is valid for its length.
    let r = unsafe { libc::fsetxattr(fd, name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(last_error("fsetxattr"))
    }
}

fn fremove(fd: i32, name: &CString) -> Result<(), String> {
    // SAFETY: `name` is NUL-terminated.
    if unsafe { libc::fremovexattr(fd, name.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(last_error("fremovexattr"))
    }
}

/// Whether `file` (created if missing) takes a [`STORM_NAME`] attribute:
/// tmpfs has `user.*` attributes only from Linux 6.6 on.
pub fn probe(file: &Path) -> Result<(), String> {
    let f = open(file);
    let name = c_string(STORM_NAME.as_bytes())?;
    fset(f.as_raw_fd(), &name, b"x")
}

/// The setxattr storm: fsetxattr(2) of an 8-byte [`STORM_NAME`] on one
/// open `file`, `n` times, in CHUNKS chunks. Outside the watched prefixes
/// this is the hook's common case: the fd's path walked, matched against
/// the prefixes, filtered in the kernel.
pub fn set_storm_min(file: &Path, n: usize) -> Cost {
    let f = open(file);
    let name = c_string(STORM_NAME.as_bytes()).unwrap();
    chunked(n, |per| {
        let (start, cpu0) = (Instant::now(), self_cpu());
        for i in 0..per {
            fset(f.as_raw_fd(), &name, &(i as u64).to_le_bytes()).expect("setxattr storm");
        }
        (start.elapsed(), self_cpu() - cpu0)
    })
}

/// The removexattr storm: fsetxattr(2) then fremovexattr(2) of
/// [`STORM_NAME`] on one open `file`, `n` times (two syscalls an
/// operation: a removal needs an attribute to remove), in CHUNKS chunks.
pub fn set_remove_storm_min(file: &Path, n: usize) -> Cost {
    let f = open(file);
    let name = c_string(STORM_NAME.as_bytes()).unwrap();
    chunked(n, |per| {
        let (start, cpu0) = (Instant::now(), self_cpu());
        for _ in 0..per {
            fset(f.as_raw_fd(), &name, b"x").expect("removexattr storm: set");
            fremove(f.as_raw_fd(), &name).expect("removexattr storm: remove");
        }
        (start.elapsed(), self_cpu() - cpu0)
    })
}

/// Hex digits to bytes.
fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("`{s}`: an odd number of hex digits"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(s.get(i..i + 2).unwrap_or("?"), 16)
                .map_err(|_| format!("`{s}` is not hex"))
        })
        .collect()
}

/// The hidden command `vm-xattr set|fset PATH NAME HEX` (the guest
/// suite's, in guest-init.sh): one setxattr(2) of PATH, or one
/// fsetxattr(2) on PATH opened (and created if missing), of the attribute
/// NAME with the value HEX. Fails with the errno when the syscall does.
pub fn command(args: &[String]) -> Result<String, String> {
    let [how, path, name, hex] = args else {
        return Err("vm-xattr set|fset PATH NAME HEX".into());
    };
    let value = unhex(hex)?;
    let cname = c_string(name.as_bytes())?;
    let cpath = c_string(Path::new(path).as_os_str().as_bytes())?;
    match how.as_str() {
        "set" => {
            // SAFETY: both strings are NUL-terminated, `value` is valid
            // for its length.
            let r = unsafe {
                libc::setxattr(
                    cpath.as_ptr(),
                    cname.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                )
            };
            if r != 0 {
                return Err(last_error(&format!("setxattr {path} {name}")));
            }
        }
        "fset" => {
            let f = fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)
                .map_err(|e| format!("{path}: {e}"))?;
            fset(f.as_raw_fd(), &cname, &value).map_err(|e| format!("{e} ({path} {name})"))?;
        }
        other => return Err(format!("vm-xattr: `{other}` is neither set nor fset")),
    }
    Ok(format!("{how} {path} {name}: {} bytes\n", value.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn values_are_hex() {
        // The guest suite's: revision 2, effective, cap_setuid (bit 7).
        assert_eq!(
            unhex("0100000280000000000000000000000000000000").unwrap(),
            [
                1, 0, 0, 2, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
            ]
        );
        assert!(unhex("abc").unwrap_err().contains("odd"));
        assert!(unhex("zz").unwrap_err().contains("not hex"));
    }

    #[test]
    fn the_command_sets_user_attributes_or_names_the_error() {
        assert!(command(&args(&["set", "/x"])).is_err());
        assert!(
            command(&args(&["get", "/x", "user.a", "00"]))
                .unwrap_err()
                .contains("neither set nor fset")
        );
        let dir = std::env::temp_dir().join(format!("rg-xattr-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("f");
        let path = file.to_str().unwrap();
        // (some filesystems have no user attributes: then the errno is
        // what comes back, named)
        match command(&args(&["fset", path, "user.rg-test", "7879"])) {
            Ok(out) => {
                assert_eq!(out, format!("fset {path} user.rg-test: 2 bytes\n"));
                command(&args(&["set", path, "user.rg-test", "7a"])).unwrap();
                set_storm_min(&file, 10);
                set_remove_storm_min(&file, 10);
            }
            Err(e) => assert!(e.starts_with("fsetxattr: "), "{e}"),
        }
        let e = command(&args(&["set", "/nonexistent/rg", "user.a", "00"])).unwrap_err();
        assert!(e.starts_with("setxattr /nonexistent/rg user.a: "), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
