//! A writer of the kernel's initramfs format (cpio "newc", see the
//! kernel's Documentation/driver-api/early-userspace/buffer-format.rst):
//! no cpio program is needed on the host, and the archive keeps owners,
//! modes and device numbers exactly as the tree has them.
//!
//! Hard links are written as separate files (each entry its own inode
//! number, nlink 1): the kernel then makes separate copies, which costs a
//! little memory and changes nothing the guest relies on.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Appends newc entries to `out`; `finish` writes the trailer.
pub struct Writer<W: Write> {
    out: W,
    written: u64,
    next_ino: u32,
}

/// One entry's header fields (those the kernel reads).
pub struct Entry<'a> {
    pub name: &'a str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u32,
    pub rdev_major: u32,
    pub rdev_minor: u32,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Self {
        Writer {
            out,
            written: 0,
            next_ino: 1,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Zero bytes up to the next multiple of four.
    fn pad(&mut self) -> io::Result<()> {
        let n = (4 - (self.written % 4) as usize) % 4;
        self.put(&[0u8; 3][..n])
    }

    /// One entry with `data` as its contents (a symlink's target, or
    /// nothing for directories and devices).
    pub fn entry(&mut self, e: &Entry, data: &[u8]) -> io::Result<()> {
        let ino = self.next_ino;
        self.next_ino += 1;
        let size = u32::try_from(data.len())
            .map_err(|_| io::Error::other(format!("{}: over 4 GiB", e.name)))?;
        // The name is stored with its NUL; namesize counts it.
        let header = format!(
            "070701{ino:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{size:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            e.mode,
            e.uid,
            e.gid,
            1,
            e.mtime,
            0,
            0,
            e.rdev_major,
            e.rdev_minor,
            e.name.len() + 1,
            0,
        );
        self.put(header.as_bytes())?;
        self.put(e.name.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }

    /// A file with the given contents, owned by root.
    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> io::Result<()> {
        self.entry(&root_entry(name, 0o100000 | mode), data)
    }

    /// A directory owned by root.
    pub fn dir(&mut self, name: &str, mode: u32) -> io::Result<()> {
        self.entry(&root_entry(name, 0o040000 | mode), &[])
    }

    /// A symlink owned by root.
    pub fn symlink(&mut self, name: &str, target: &str) -> io::Result<()> {
        self.entry(&root_entry(name, 0o120777), target.as_bytes())
    }

    /// Everything under `dir` (itself excluded), names relative to it,
    /// parents before children, with the owners, modes and device
    /// numbers the tree has. Sockets and fifos are skipped: a debootstrap
    /// tree has none that matter, and the guest makes its own.
    pub fn tree(&mut self, dir: &Path) -> io::Result<()> {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let mut children: Vec<_> = fs::read_dir(&d)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", d.display())))?
                .collect::<io::Result<Vec<_>>>()?;
            children.sort_by_key(|c| c.file_name());
            for c in children {
                let path = c.path();
                let name = path
                    .strip_prefix(dir)
                    .expect("below dir")
                    .to_str()
                    .ok_or_else(|| io::Error::other(format!("{}: not UTF-8", path.display())))?
                    .to_string();
                let md = fs::symlink_metadata(&path)?;
                let ft = md.file_type();
                let (major, minor) = if ft.is_char_device() || ft.is_block_device() {
                    dev_numbers(md.rdev())
                } else {
                    (0, 0)
                };
                let e = Entry {
                    name: &name,
                    mode: md.mode(),
                    uid: md.uid(),
                    gid: md.gid(),
                    mtime: md.mtime().clamp(0, u32::MAX.into()) as u32,
                    rdev_major: major,
                    rdev_minor: minor,
                };
                if ft.is_dir() {
                    self.entry(&e, &[])?;
                    stack.push(path);
                } else if ft.is_file() {
                    let data = fs::read(&path)
                        .map_err(|err| io::Error::new(err.kind(), format!("{name}: {err}")))?;
                    self.entry(&e, &data)?;
                } else if ft.is_symlink() {
                    let target = fs::read_link(&path)?;
                    self.entry(&e, target.as_os_str().as_encoded_bytes())?;
                } else if ft.is_char_device() || ft.is_block_device() {
                    self.entry(&e, &[])?;
                }
            }
        }
        Ok(())
    }

    /// The trailer entry; returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.entry(&root_entry("TRAILER!!!", 0), &[])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn root_entry(name: &str, mode: u32) -> Entry<'_> {
    Entry {
        name,
        mode,
        uid: 0,
        gid: 0,
        mtime: 0,
        rdev_major: 0,
        rdev_minor: 0,
    }
}

/// glibc's major()/minor() of a dev_t.
fn dev_numbers(rdev: u64) -> (u32, u32) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major as u32, minor as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_newc_with_padding() {
        let mut w = Writer::new(Vec::new());
        w.file("ab", 0o644, b"hello").unwrap();
        let out = w.finish().unwrap();
        // 110-byte header, "ab\0" (113, padded to 116), 5 bytes (121,
        // padded to 124), then the trailer.
        assert_eq!(&out[..6], b"070701");
        let field = |i: usize| {
            let s = std::str::from_utf8(&out[6 + 8 * i..14 + 8 * i]).unwrap();
            u32::from_str_radix(s, 16).unwrap()
        };
        assert_eq!(field(0), 1, "ino");
        assert_eq!(field(1), 0o100644, "mode");
        assert_eq!(field(4), 1, "nlink");
        assert_eq!(field(6), 5, "filesize");
        assert_eq!(field(11), 3, "namesize");
        assert_eq!(&out[110..113], b"ab\0");
        assert_eq!(&out[113..116], &[0, 0, 0]);
        assert_eq!(&out[116..121], b"hello");
        assert_eq!(&out[121..124], &[0, 0, 0]);
        assert_eq!(&out[124..130], b"070701");
        assert_eq!(&out[124 + 110..124 + 121], b"TRAILER!!!\0");
        assert_eq!(out.len() % 4, 0);
    }

    #[test]
    fn device_numbers_split_like_glibc() {
        // makedev(5, 1) (/dev/console) and makedev(259, 65536).
        assert_eq!(dev_numbers(0x0501), (5, 1));
        let (major, minor) = (259u64, 65536u64);
        let big = ((major & 0xfff) << 8)
            | ((major & !0xfff) << 32)
            | (minor & 0xff)
            | ((minor & !0xff) << 12);
        assert_eq!(dev_numbers(big), (259, 65536));
    }

    /// (name, mode, data) of every entry, the trailer included.
    fn parse(mut b: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut at = 0usize;
        let align = |n: usize| n.div_ceil(4) * 4;
        while !b.is_empty() {
            assert_eq!(&b[..6], b"070701", "magic at byte {at}");
            let field = |i: usize| {
                let s = std::str::from_utf8(&b[6 + 8 * i..14 + 8 * i]).unwrap();
                u32::from_str_radix(s, 16).unwrap() as usize
            };
            let (mode, size, namesize) = (field(1) as u32, field(6), field(11));
            let name = String::from_utf8(b[110..110 + namesize - 1].to_vec()).unwrap();
            let data_at = align(110 + namesize);
            let data = b[data_at..data_at + size].to_vec();
            let next = align(data_at + size);
            out.push((name, mode, data));
            at += next;
            b = &b[next..];
        }
        out
    }

    #[test]
    fn a_tree_keeps_modes_symlinks_and_order() {
        let dir = std::env::temp_dir().join(format!("rg-cpio-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("etc")).unwrap();
        fs::write(dir.join("etc/x"), b"x1").unwrap();
        fs::set_permissions(
            dir.join("etc/x"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        std::os::unix::fs::symlink("etc/x", dir.join("link")).unwrap();
        let mut w = Writer::new(Vec::new());
        w.tree(&dir).unwrap();
        w.dir("extra", 0o755).unwrap();
        let out = w.finish().unwrap();
        fs::remove_dir_all(&dir).unwrap();
        let entries: Vec<(String, u32, Vec<u8>)> = parse(&out);
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["etc", "link", "etc/x", "extra", "TRAILER!!!"]);
        assert_eq!(entries[0].1 & 0o170000, 0o040000);
        assert_eq!(entries[1].1, 0o120777);
        assert_eq!(entries[1].2, b"etc/x");
        assert_eq!(entries[2].1, 0o100600);
        assert_eq!(entries[2].2, b"x1");
        assert_eq!(entries[3].1, 0o040755);
    }
}
