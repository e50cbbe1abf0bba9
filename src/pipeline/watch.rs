//! Read watch: keeps the kernel's map of watched inodes current.
//!
//! In: the `[file] watch_reads` paths, and hints from the normalizer that
//! a file event touched one of them. Out: the `edr_read_watch` map, one
//! entry (device, inode) → watch id per watched file that exists; a line
//! on stderr for each change. Counts (health): the watched files present,
//! and map changes after the first fill.
//!
//! The kernel looks up every successful read-only open there by the
//! opened file's inode (see `edr_read_watched` in bpf/file.bpf.c), so the
//! map must follow the paths: `passwd` or `vipw` write a new
//! `/etc/shadow` and rename it over the old one, which leaves a new inode
//! behind the path. The keeper re-stats every watched path when a hint
//! arrives (a rename, link, symlink, unlink or write-open of a watched path
//! or of a directory above one) and every [`RECHECK`] regardless, and
//! replaces what changed. Between a replacement and the re-stat a read of
//! the new inode is missed (docs/threat-model.md).
//!
//! ## Device numbers
//!
//! The kernel side reads `inode->i_sb->s_dev`: the superblock's device in
//! the kernel's encoding (`MKDEV`: major << 20 | minor). stat(2)'s
//! `st_dev` is neither: its encoding is `new_encode_dev` (glibc's
//! `makedev`), and its value is not always the superblock's: btrfs reports
//! a per-subvolume device, and overlayfs over several file systems a
//! per-layer one. So the device comes from the file's mount
//! (statx `STATX_MNT_ID`) looked up in /proc/self/mountinfo, whose
//! `major:minor` is the superblock's `s_dev`, and is encoded with
//! [`kernel_dev`]. Inode numbers agree as they are.

use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use libbpf_rs::{MapCore, MapFlags, MapHandle};

use crate::kernel::abi::{self, InodeKey};
use crate::model::event::{FileBody, FileOp};
use crate::model::stats::Stats;

/// Longest a watched path goes without a re-stat.
pub const RECHECK: Duration = Duration::from_secs(30);

/// The kernel's `MKDEV(major, minor)` (include/linux/kdev_t.h: 12 bits of
/// major above 20 bits of minor), the encoding of `super_block.s_dev`.
pub const fn kernel_dev(major: u32, minor: u32) -> u64 {
    ((major as u64) << 20) | minor as u64
}

/// Mount id → (major, minor) of its superblock, from mountinfo text
/// (proc(5): "36 35 98:0 /mnt1 /mnt2 rw ... - ext3 /dev/root rw").
pub fn parse_mountinfo(text: &str) -> HashMap<u64, (u32, u32)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let id = f.next()?.parse().ok()?;
            let (maj, min) = f.nth(1)?.split_once(':')?;
            Some((id, (maj.parse().ok()?, min.parse().ok()?)))
        })
        .collect()
}

/// The kernel map key of the file `path` names (symlinks followed, as an
/// open follows them), with `mounts` from [`parse_mountinfo`].
pub fn inode_key(path: &Path, mounts: &HashMap<u64, (u32, u32)>) -> io::Result<InodeKey> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: statx is plain old data; all-zero is a valid value.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: c is a NUL-terminated path that outlives the call, and stx
    // is a valid statx buffer the kernel fills.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            0,
            libc::STATX_INO | libc::STATX_MNT_ID,
            &mut stx,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // Without a mount id (before Linux 5.8, or the mount just went), the
    // file's own device is the best guess; right on ext4, xfs, tmpfs.
    let (major, minor) = (stx.stx_mask & libc::STATX_MNT_ID != 0)
        .then(|| mounts.get(&stx.stx_mnt_id).copied())
        .flatten()
        .unwrap_or((stx.stx_dev_major, stx.stx_dev_minor));
    Ok(InodeKey {
        dev: kernel_dev(major, minor),
        ino: stx.stx_ino,
    })
}

/// Where watched inodes go: the kernel map, or a test double.
pub trait InodeMap {
    fn put(&mut self, key: &InodeKey, id: u32) -> Result<(), String>;
    fn delete(&mut self, key: &InodeKey) -> Result<(), String>;
}

impl InodeMap for MapHandle {
    fn put(&mut self, key: &InodeKey, id: u32) -> Result<(), String> {
        self.update(abi::as_bytes(key), &id.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| e.to_string())
    }

    fn delete(&mut self, key: &InodeKey) -> Result<(), String> {
        MapCore::delete(self, abi::as_bytes(key)).map_err(|e| e.to_string())
    }
}

/// Shown in the change lines: "inode 1234 on 254:0" or "missing".
struct State(Option<InodeKey>);

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(k) => write!(f, "inode {} on {}:{}", k.ino, k.dev >> 20, k.dev & 0xfffff),
            None => f.write_str("missing"),
        }
    }
}

/// Owns the map's content: what each path was at the last re-stat.
pub struct Keeper<M: InodeMap> {
    paths: Vec<String>,
    map: M,
    /// Per path (same order): its key at the last re-stat.
    seen: Vec<Option<InodeKey>>,
    /// What the map holds: key → id (the first path with that inode).
    installed: BTreeMap<InodeKey, u32>,
}

/// What one re-stat did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Refresh {
    /// Watched paths that exist now.
    pub present: usize,
    /// Paths whose file changed (replaced, appeared, went), with a line
    /// saying how.
    pub changes: Vec<String>,
    /// Map updates that failed (tried again at the next re-stat).
    pub errors: Vec<String>,
}

impl<M: InodeMap> Keeper<M> {
    /// Ids are positions in `paths` + 1, as `FileBody::watched` maps them back.
    pub fn new(paths: Vec<String>, map: M) -> Self {
        let n = paths.len();
        Keeper {
            paths,
            map,
            seen: vec![None; n],
            installed: BTreeMap::new(),
        }
    }

    pub fn map(&self) -> &M {
        &self.map
    }

    /// Stat every path and bring the map in line.
    pub fn refresh(&mut self) -> Refresh {
        let mounts =
            parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default());
        let mut out = Refresh::default();
        let mut want: BTreeMap<InodeKey, u32> = BTreeMap::new();
        for (i, p) in self.paths.iter().enumerate() {
            // Missing, unreadable: not watched until it is there.
            let now = inode_key(Path::new(p), &mounts).ok();
            if let Some(k) = now {
                out.present += 1;
                want.entry(k).or_insert(i as u32 + 1);
            }
            if now != self.seen[i] {
                out.changes
                    .push(format!("{p}: {} (was {})", State(now), State(self.seen[i])));
                self.seen[i] = now;
            }
        }
        for (k, id) in &want {
            if self.installed.get(k) == Some(id) {
                continue;
            }
            match self.map.put(k, *id) {
                Ok(()) => {
                    self.installed.insert(*k, *id);
                }
                Err(e) => out.errors.push(format!("adding {}: {e}", State(Some(*k)))),
            }
        }
        let stale: Vec<InodeKey> = self
            .installed
            .keys()
            .filter(|k| !want.contains_key(k))
            .copied()
            .collect();
        for k in stale {
            match self.map.delete(&k) {
                Ok(()) => {
                    self.installed.remove(&k);
                }
                Err(e) => out.errors.push(format!("removing {}: {e}", State(Some(k)))),
            }
        }
        out
    }
}

/// The normalizer's side: says when a file event may have changed which
/// inode a watched path names.
#[derive(Clone)]
pub struct Hints {
    paths: Arc<[String]>,
    tx: Sender<()>,
}

/// A channel of one: hints that arrive while a re-stat is pending
/// coalesce into it.
pub fn hints(paths: &[String]) -> (Hints, Receiver<()>) {
    let (tx, rx) = bounded(1);
    (
        Hints {
            paths: paths.into(),
            tx,
        },
        rx,
    )
}

impl Hints {
    /// Whether `f` can have put another file behind a watched path: a
    /// successful rename, link, symlink, unlink or write-open of the path
    /// itself or of a directory above it, or a rename away from one.
    pub fn touches(&self, f: &FileBody) -> bool {
        if f.result < 0 || f.is_read() || matches!(f.op, FileOp::Chmod | FileOp::Chown) {
            return false;
        }
        let hit = |p: &str| {
            self.paths.iter().any(|w| {
                w.strip_prefix(p)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
        };
        hit(&f.path) || f.original_path.as_deref().is_some_and(hit)
    }

    /// Ask for a re-stat if `f` touches a watched path. Never blocks.
    pub fn file_event(&self, f: &FileBody) {
        if self.touches(f) {
            match self.tx.try_send(()) {
                Ok(()) | Err(TrySendError::Full(())) => {}
                Err(TrySendError::Disconnected(())) => {}
            }
        }
    }
}

/// Print what a re-stat changed; errors are warnings (retried later).
pub fn report(r: &Refresh) {
    for c in &r.changes {
        eprintln!("rand-guard: read watch: {c}");
    }
    for e in &r.errors {
        eprintln!("rand-guard: warning: read watch: {e}");
    }
}

/// The keeper thread: a re-stat on every hint, and every [`RECHECK`]; ends
/// when the normalizer (the hints' sender) is gone.
pub fn run<M: InodeMap>(mut keeper: Keeper<M>, hints: Receiver<()>, stats: Arc<Stats>) {
    loop {
        crossbeam_channel::select! {
            recv(hints) -> msg => if msg.is_err() { return },
            default(RECHECK) => {}
        }
        let r = keeper.refresh();
        report(&r);
        stats.set_read_watch(r.present as u64, r.changes.len() as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn kernel_dev_is_mkdev_not_makedev() {
        // ext4 on /dev/vda (254:0): stat(2) says 0xfe00, the kernel 0xfe00000.
        assert_eq!(kernel_dev(254, 0), 0x0fe0_0000);
        assert_eq!(libc::makedev(254, 0), 0xfe00);
        // tmpfs and other anonymous devices (0:N) agree below minor 256...
        assert_eq!(kernel_dev(0, 27), 27);
        assert_eq!(libc::makedev(0, 27), 27);
        // ...and not above: new_encode_dev moves minor bits 8.. up by 12.
        assert_eq!(kernel_dev(0, 300), 300);
        assert_eq!(libc::makedev(0, 300), 0x10_002c);
        // sd devices: 8:17 (sdb1); big minors of 20 bits.
        assert_eq!(kernel_dev(8, 17), (8 << 20) | 17);
        assert_eq!(kernel_dev(259, 0xfffff), (259 << 20) | 0xfffff);
        // glibc's major()/minor() undo makedev: the round trip to MKDEV.
        let st_dev = libc::makedev(259, 70_000);
        assert_eq!(
            kernel_dev(libc::major(st_dev), libc::minor(st_dev)),
            (259 << 20) | 70_000
        );
    }

    #[test]
    fn mountinfo_lines() {
        let text = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n\
47 27 0:40 / /tmp/ovt/merged rw,relatime - overlay overlay rw,lowerdir=/a:/b\n\
garbage\n\
30 25 0:27 / /dev/shm rw,relatime - tmpfs tmpfs rw\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 3);
        assert_eq!(m[&27], (254, 0));
        assert_eq!(m[&47], (0, 40));
        assert_eq!(m[&30], (0, 27));
    }

    #[test]
    fn inode_key_of_a_real_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secret");
        std::fs::write(&f, "x").unwrap();
        let mounts = parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").unwrap());
        let k = inode_key(&f, &mounts).unwrap();
        let md = std::fs::metadata(&f).unwrap();
        assert_eq!(k.ino, md.ino());
        // The device is the superblock's. On most file systems that is
        // stat's st_dev too, re-encoded; btrfs and multi-layer overlayfs
        // report another one there (the reason mountinfo is used).
        let fstype = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| {
                l.split(' ').nth(2) == Some(&format!("{}:{}", k.dev >> 20, k.dev & 0xfffff))
            })
            .filter_map(|l| l.split(" - ").nth(1)?.split(' ').next().map(String::from))
            .next()
            .expect("the key's device is a mount's superblock");
        if !matches!(fstype.as_str(), "btrfs" | "overlay") {
            assert_eq!(
                k.dev,
                kernel_dev(libc::major(md.dev()), libc::minor(md.dev()))
            );
        }
        // A symlink is followed, as open follows it; a missing file is an error.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert_eq!(inode_key(&link, &mounts).unwrap(), k);
        assert!(inode_key(&dir.path().join("missing"), &mounts).is_err());
    }

    #[derive(Default)]
    struct FakeMap(BTreeMap<InodeKey, u32>, usize);

    impl InodeMap for FakeMap {
        fn put(&mut self, key: &InodeKey, id: u32) -> Result<(), String> {
            self.1 += 1;
            self.0.insert(*key, id);
            Ok(())
        }
        fn delete(&mut self, key: &InodeKey) -> Result<(), String> {
            self.1 += 1;
            self.0.remove(key).map(|_| ()).ok_or("no such key".into())
        }
    }

    #[test]
    fn keeper_follows_replacements_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
        let (a, b, c) = (p("a"), p("b"), p("c"));
        std::fs::write(&a, "a").unwrap();
        std::fs::write(&b, "b").unwrap();
        let mut k = Keeper::new(vec![a.clone(), b.clone(), c.clone()], FakeMap::default());
        let ino = |p: &str| std::fs::metadata(p).unwrap().ino();

        let r = k.refresh();
        assert_eq!(r.present, 2);
        assert_eq!(r.changes.len(), 2, "{:?}", r.changes);
        assert!(r.changes[0].starts_with(&format!("{a}: inode {} on ", ino(&a))));
        assert!(r.changes[0].ends_with("(was missing)"));
        let ids: Vec<(u64, u32)> = k.map().0.iter().map(|(k, v)| (k.ino, *v)).collect();
        assert!(ids.contains(&(ino(&a), 1)) && ids.contains(&(ino(&b), 2)));

        // Nothing changed: nothing written, nothing said.
        let writes = k.map().1;
        assert_eq!(k.refresh().changes, Vec::<String>::new());
        assert_eq!(k.map().1, writes);

        // a is replaced by a rename (new inode); c appears; b goes. The
        // old a lives on under another name (or c could reuse its number).
        let old_a = ino(&a);
        std::fs::hard_link(&a, p("a.old")).unwrap();
        std::fs::write(p("a.new"), "A").unwrap();
        std::fs::rename(p("a.new"), &a).unwrap();
        std::fs::write(&c, "c").unwrap();
        std::fs::remove_file(&b).unwrap();
        let r = k.refresh();
        assert_eq!(r.present, 2);
        assert_eq!(r.changes.len(), 3, "{:?}", r.changes);
        assert!(r.changes[1].starts_with(&format!("{b}: missing (was inode")));
        let inos: Vec<(u64, u32)> = k.map().0.iter().map(|(k, v)| (k.ino, *v)).collect();
        assert_eq!(inos.len(), 2);
        assert!(inos.contains(&(ino(&a), 1)) && inos.contains(&(ino(&c), 3)));
        assert!(!inos.iter().any(|(i, _)| *i == old_a));
    }

    #[test]
    fn two_paths_to_one_inode_share_an_entry() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, "a").unwrap();
        std::fs::hard_link(&a, &b).unwrap();
        let s = |p: &Path| p.to_string_lossy().into_owned();
        let mut k = Keeper::new(vec![s(&a), s(&b)], FakeMap::default());
        assert_eq!(k.refresh().present, 2);
        assert_eq!(k.map().0.values().copied().collect::<Vec<_>>(), [1]);
        // The first goes: the entry stays, now for the second.
        std::fs::remove_file(&a).unwrap();
        k.refresh();
        assert_eq!(k.map().0.values().copied().collect::<Vec<_>>(), [2]);
    }

    fn body(op: FileOp, path: &str, original: Option<&str>, flags: u64, result: i64) -> FileBody {
        FileBody {
            op,
            syscall: "x",
            path: path.into(),
            original_path: original.map(Into::into),
            target_path: None,
            result,
            open_flags: flags,
            mode: None,
            owner: None,
            group: None,
            at_flags: 0,
            resolved: true,
            unfiltered: false,
            watched: None,
            xattr: None,
            truncated: Default::default(),
        }
    }

    #[test]
    fn hints_fire_on_what_can_change_the_inode() {
        let (h, rx) = hints(&["/etc/shadow".to_string(), "/root/.ssh/id_rsa".to_string()]);
        let yes = [
            body(FileOp::Rename, "/etc/shadow", Some("/etc/nshadow"), 0, 0),
            body(FileOp::Rename, "/etc/x", Some("/etc/shadow"), 0, 0),
            body(FileOp::Rename, "/root/.ssh", Some("/root/ssh.new"), 0, 0),
            body(FileOp::Unlink, "/etc/shadow", None, 0, 0),
            body(FileOp::Link, "/etc/shadow", None, 0, 0),
            body(FileOp::Symlink, "/etc/shadow", None, 0, 0),
            body(FileOp::Open, "/etc/shadow", None, 0o1101, 3),
        ];
        for f in &yes {
            assert!(h.touches(f), "{f:?}");
        }
        let no = [
            // Reads, metadata changes, failures, other and look-alike paths.
            body(FileOp::Open, "/etc/shadow", None, 0, 3),
            body(FileOp::Chmod, "/etc/shadow", None, 0, 0),
            body(FileOp::Rename, "/etc/shadow", Some("/etc/nshadow"), 0, -13),
            body(FileOp::Rename, "/etc/shadow-", Some("/etc/shadow+"), 0, 0),
            body(FileOp::Unlink, "/etc/sha", None, 0, 0),
            body(FileOp::Unlink, "/root/.ssh/id_rsa.pub", None, 0, 0),
        ];
        for f in &no {
            assert!(!h.touches(f), "{f:?}");
        }
        // Hints coalesce: many events, one pending re-stat; never blocks.
        for f in &yes {
            h.file_event(f);
        }
        assert_eq!(rx.try_iter().count(), 1);
    }
}
