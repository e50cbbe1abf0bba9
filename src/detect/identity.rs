//! Program identity that a copy, a hard link or a rename cannot change.
//!
//! A list of programs (file-name globs, e.g. `detections.reverse_shell_programs`)
//! names the system's own copies: the files in [`PROGRAM_DIRS`] whose
//! names match. An executed file is one of them when:
//! - its inode is one of theirs (a hard link, or the file itself under
//!   any name): compared with the identity the kernel put in the exec
//!   record, device and inode;
//! - its SHA-256 is one of theirs (a copy): a copy has its original's
//!   size, so only the system's copies of the executed file's size are
//!   hashed, each on its first need only, once, and cached (a file of no
//!   copy's size costs nothing); the executed file's hash comes from the
//!   hasher (`pipeline::hasher`).
//!
//! The copies are stat'ed when the list is built (agent start, and a
//! `[detections]` reload); an upgrade that replaces a binary gives it a
//! new inode, recognized by its hash until the next reload. The names
//! (as run, and of the file the kernel ran) are checked by the callers
//! first: this is for what a name does not say.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use globset::GlobSet;

use crate::model::event::Image;
use crate::model::hash::{FileId, Hashed};
use crate::pipeline::hasher::{Mounts, sha256_of};

/// Where the system's own copies are looked for (what `PATH` holds for
/// every user).
pub const PROGRAM_DIRS: &[&str] = &["/usr/bin", "/bin", "/usr/local/bin"];

/// The system's copies of a list of programs.
#[derive(Default)]
pub struct SystemCopies {
    /// (device, inode) → the program's file name.
    inodes: HashMap<(u64, u64), String>,
    /// Each copy once (by inode), to hash when a file of its size runs.
    files: Vec<Copy>,
}

struct Copy {
    path: PathBuf,
    name: String,
    size: u64,
    /// None until first needed; then the digest, or None if the file is
    /// no ELF program or could not be read.
    digest: Option<Option<[u8; 64]>>,
}

impl SystemCopies {
    /// Stat the files in `dirs` whose names `programs` matches (symlinks
    /// followed: /bin/sh → dash is dash's inode). Unreadable directories
    /// and files are left out.
    pub fn scan(programs: &GlobSet, dirs: &[&str]) -> SystemCopies {
        let mut mounts = Mounts::default();
        let mut out = SystemCopies::default();
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name();
                let Some(name) = name.to_str() else {
                    continue;
                };
                if !programs.is_match(name) {
                    continue;
                }
                let path = Path::new(dir).join(name);
                let Ok(f) = File::open(&path) else {
                    continue;
                };
                let Ok(id) = mounts.id_of(&f) else {
                    continue;
                };
                // The name of the file itself, not of a symlink to it.
                let real = std::fs::canonicalize(&path).unwrap_or(path);
                let real_name = real
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or(name)
                    .to_string();
                if let std::collections::hash_map::Entry::Vacant(v) =
                    out.inodes.entry((id.dev, id.ino))
                {
                    v.insert(real_name.clone());
                    out.files.push(Copy {
                        path: real,
                        name: real_name,
                        size: id.size,
                        digest: None,
                    });
                }
            }
        }
        out
    }

    /// How many distinct files are known.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// The name of the system program whose inode `file` is.
    pub fn by_inode(&self, file: &FileId) -> Option<&str> {
        self.inodes.get(&(file.dev, file.ino)).map(String::as_str)
    }

    /// Whether some system copy has `size` bytes: only then can a file
    /// of that size be a copy (and its hash is worth waiting for).
    pub fn has_size(&self, size: u64) -> bool {
        self.files.iter().any(|c| c.size == size)
    }

    /// The name of the system program of `size` bytes whose content has
    /// `digest`; hashes those of that size not hashed yet.
    pub fn by_hash(&mut self, size: u64, digest: &Hashed) -> Option<&str> {
        let Hashed::Sha256(hex) = digest else {
            return None;
        };
        let mut buf = Vec::new();
        let i = self.files.iter_mut().position(|c| {
            c.size == size
                && c.digest
                    .get_or_insert_with(|| elf_digest(&c.path, &mut buf))
                    == &Some(*hex)
        })?;
        Some(&self.files[i].name)
    }

    /// Which system program `image` is by its inode or, with `hash` (the
    /// image's digest, if the hasher has one), by its content.
    pub fn identify(&mut self, image: &Image, hash: Option<&Hashed>) -> Option<(&str, Match)> {
        let id = image.file.as_ref()?;
        if self.inodes.contains_key(&(id.dev, id.ino)) {
            return self.by_inode(id).map(|n| (n, Match::Inode));
        }
        self.by_hash(id.size, hash?).map(|n| (n, Match::Hash))
    }
}

/// How an executed file was recognized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// The same inode as the system's copy (a hard link).
    Inode,
    /// The same SHA-256 (a copy).
    Hash,
}

impl Match {
    pub fn as_str(self) -> &'static str {
        match self {
            Match::Inode => "a hard link to",
            Match::Hash => "a copy of",
        }
    }
}

/// The digest of the ELF program at `path` (a script copied is run by
/// its interpreter, which is what the kernel reports); None for anything
/// else or an unreadable file.
fn elf_digest(path: &Path, buf: &mut Vec<u8>) -> Option<[u8; 64]> {
    let mut f = File::open(path).ok()?;
    let mut magic = [0u8; 4];
    if f.read_exact(&mut magic).is_err() || &magic != b"\x7fELF" {
        return None;
    }
    let mut f = File::open(path).ok()?;
    buf.resize(64 << 10, 0);
    match sha256_of(&mut f, buf) {
        Ok(Hashed::Sha256(hex)) => Some(hex),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::filter;

    fn globs(g: &[&str]) -> GlobSet {
        filter::globset(&g.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn image_of(path: &Path, hash: Option<&[u8]>) -> (Image, Option<Hashed>) {
        let f = File::open(path).unwrap();
        let id = Mounts::default().id_of(&f).unwrap();
        let h = hash.map(|b| {
            use sha2::Digest;
            Hashed::from_digest(&sha2::Sha256::digest(b).into())
        });
        (
            Image {
                exe: path.to_string_lossy().into_owned(),
                file: Some(id),
                ..Default::default()
            },
            h,
        )
    }

    #[test]
    fn hard_links_and_copies_are_the_program_and_another_file_is_not() {
        let sys = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let interp = b"\x7fELF pretend interpreter";
        std::fs::write(sys.path().join("python3.11"), interp).unwrap();
        std::os::unix::fs::symlink("python3.11", sys.path().join("python3")).unwrap();
        // Not on the list, and a script on it: neither is hashed.
        std::fs::write(sys.path().join("ls"), b"\x7fELF ls").unwrap();
        std::fs::write(sys.path().join("pydoc3"), b"#!/usr/bin/python3\n").unwrap();
        let dirs = [sys.path().to_str().unwrap()];
        let mut c = SystemCopies::scan(&globs(&["python*", "pydoc*"]), &dirs);
        // The symlink names the same inode: one file.
        assert_eq!(c.len(), 2);

        let link = elsewhere.path().join("xyz");
        std::fs::hard_link(sys.path().join("python3.11"), &link).unwrap();
        let (img, h) = image_of(&link, None);
        assert_eq!(
            c.identify(&img, h.as_ref()),
            Some(("python3.11", Match::Inode))
        );

        let copy = elsewhere.path().join("copy");
        std::fs::copy(sys.path().join("python3.11"), &copy).unwrap();
        let (img, h) = image_of(&copy, Some(interp));
        assert_eq!(
            c.identify(&img, h.as_ref()),
            Some(("python3.11", Match::Hash))
        );
        // The copy without its hash (not hashed yet, or too large): not
        // recognized.
        assert_eq!(c.identify(&img, None), None);

        // Near misses: another binary; a copy of a program not on the
        // list; a copy of a script on it.
        let other = elsewhere.path().join("other");
        std::fs::write(&other, b"\x7fELF something else").unwrap();
        let (img, h) = image_of(&other, Some(b"\x7fELF something else"));
        assert_eq!(c.identify(&img, h.as_ref()), None);
        let (img, h) = image_of(&sys.path().join("ls"), Some(b"\x7fELF ls"));
        assert_eq!(c.identify(&img, h.as_ref()), None);
        let script = b"#!/usr/bin/python3\n";
        let (img, h) = image_of(&other, Some(script));
        assert_eq!(c.identify(&img, h.as_ref()), None);
    }

    #[test]
    fn the_system_python_is_found_in_the_real_program_dirs() {
        let Ok(real) = std::fs::canonicalize("/usr/bin/python3") else {
            return; // no python on this host
        };
        let c = SystemCopies::scan(&globs(&["python*"]), PROGRAM_DIRS);
        let f = File::open(&real).unwrap();
        let id = Mounts::default().id_of(&f).unwrap();
        assert_eq!(c.by_inode(&id), real.file_name().and_then(|n| n.to_str()));
    }
}
