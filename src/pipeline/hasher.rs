//! The hasher: SHA-256 of every executed file, off the pipeline's threads.
//!
//! In: from the enricher, for each exec, `/proc/PID/exe` opened at once
//! (that fd is the inode the kernel runs: a later rename or replacement of
//! the path cannot change what is hashed) and the exec's image, which
//! carries the executed inode's identity as the kernel saw it at exec
//! ([`FileId`]: device, inode, change time, size).
//! Out: the image's `hash` set (a digest, or why there is none).
//! Counts: files hashed, cache hits, cache entries and evictions, and
//! execs not hashed by reason (gone, too large, queue full, error,
//! changed).
//!
//! A short-lived process has usually exited before the enricher opens
//! `/proc/PID/exe`. Its identity is then looked up in the cache (the
//! common case: the same binary ran before), and otherwise the hasher
//! opens the exec's resolved path and hashes it only if the opened file
//! has exactly the kernel's identity: a file replaced or rewritten since
//! the exec is never hashed in its stead, and is counted as `changed`.
//!
//! Records do not wait for the hash: the image is shared by every record
//! of the process (and by its children's `process.parent`), and each
//! carries the hash once it is set. An exec record written before the
//! hasher is done has none; the process's later records do. Only the
//! drop-and-execute alert waits, for at most `[hash] alert_wait_ms`.
//!
//! The enricher's cost per exec is a cache lookup by the kernel's
//! identity (a short lock shared with the hasher thread, which holds it
//! only to look up and insert, never while reading a file): a hit sets the
//! hash at once, so the exec record carries it, with no syscall. A miss
//! costs one `open` of `/proc/PID/exe` and a non-blocking send; an exec
//! that finds the queue full is skipped.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use sha2::{Digest, Sha256};

use crate::config;
use crate::model::event::Image;
use crate::model::hash::{FileId, Hashed, Skip};
use crate::model::stats::Stats;
use crate::pipeline::enrich::Enricher;
use crate::pipeline::watch::{kernel_dev, parse_mountinfo};

/// One executed file to hash: its `/proc/PID/exe`, or None when the
/// process was gone and the image's path is tried by identity.
pub struct Job {
    file: Option<File>,
    image: Arc<Image>,
}

/// The enricher's end.
pub struct Submitter {
    tx: Sender<Job>,
    stats: Arc<Stats>,
    cache: Arc<Mutex<Cache>>,
}

/// The cache key: a file's identity, so that an in-place rewrite or a
/// replacement is hashed anew.
pub type Key = FileId;

/// `st`'s identity with the device as stat(2) gives it: right for a file
/// that has no kernel identity to compare with (nothing else shares the
/// cache with such keys' devices but files alike).
fn stat_key(m: &std::fs::Metadata) -> Key {
    Key {
        dev: m.dev(),
        ino: m.ino(),
        ctime_ns: m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
        size: m.size(),
    }
}

/// Digests by file identity, at most `cap`; the oldest entry goes first
/// (FIFO: a hot binary evicted is hashed once more, which costs less than
/// keeping recency order on every hit).
pub struct Cache {
    map: HashMap<Key, Hashed>,
    order: VecDeque<Key>,
    cap: usize,
    pub evictions: u64,
}

impl Cache {
    pub fn new(cap: usize) -> Cache {
        Cache {
            map: HashMap::with_capacity(cap.min(4096)),
            order: VecDeque::new(),
            cap: cap.max(1),
            evictions: 0,
        }
    }

    pub fn get(&self, k: &Key) -> Option<Hashed> {
        self.map.get(k).copied()
    }

    pub fn insert(&mut self, k: Key, h: Hashed) {
        if self.map.insert(k, h).is_some() {
            return;
        }
        self.order.push_back(k);
        while self.map.len() > self.cap {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            self.map.remove(&old);
            self.evictions += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Hashes files, consulting and filling the cache.
pub struct Hasher {
    cache: Arc<Mutex<Cache>>,
    max_file_size: u64,
    buf: Vec<u8>,
    mounts: Mounts,
}

/// Mount id → superblock device, for the kernel's device encoding; read
/// again when a mount is not in it.
#[derive(Default)]
pub struct Mounts(HashMap<u64, (u32, u32)>);

impl Mounts {
    /// `file`'s identity with the device in the kernel's encoding (as
    /// exec records carry it): the superblock device of the file's mount
    /// (statx `STATX_MNT_ID` and mountinfo, as `pipeline::watch` does for
    /// the same reason).
    pub fn id_of(&mut self, file: &File) -> std::io::Result<FileId> {
        // SAFETY: statx is plain old data; all-zero is a valid value.
        let mut stx: libc::statx = unsafe { std::mem::zeroed() };
        // SAFETY: the fd is open for the call, the empty path is a
        // NUL-terminated literal, and stx is a buffer the kernel fills.
        let rc = unsafe {
            libc::statx(
                file.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_EMPTY_PATH,
                libc::STATX_BASIC_STATS | libc::STATX_MNT_ID,
                &mut stx,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut dev = (stx.stx_dev_major, stx.stx_dev_minor);
        if stx.stx_mask & libc::STATX_MNT_ID != 0 {
            if !self.0.contains_key(&stx.stx_mnt_id) {
                // A mount made since the last read (one read per new mount).
                if let Ok(t) = std::fs::read_to_string("/proc/self/mountinfo") {
                    self.0 = parse_mountinfo(&t);
                }
            }
            if let Some(d) = self.0.get(&stx.stx_mnt_id) {
                dev = *d;
            }
        }
        Ok(FileId {
            dev: kernel_dev(dev.0, dev.1),
            ino: stx.stx_ino,
            ctime_ns: stx.stx_ctime.tv_sec as i128 * 1_000_000_000 + stx.stx_ctime.tv_nsec as i128,
            size: stx.stx_size,
        })
    }
}

/// SHA-256 of `file` from where its offset is, reading through `buf`.
pub fn sha256_of(file: &mut File, buf: &mut [u8]) -> std::io::Result<Hashed> {
    let mut d = Sha256::new();
    loop {
        match file.read(buf) {
            Ok(0) => break,
            Ok(n) => d.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Hashed::from_digest(&d.finalize().into()))
}

impl Hasher {
    pub fn new(cfg: &config::Hash) -> Hasher {
        Hasher {
            cache: Arc::new(Mutex::new(Cache::new(cfg.cache_entries as usize))),
            max_file_size: cfg.max_file_size,
            buf: vec![0; 64 << 10],
            mounts: Mounts::default(),
        }
    }

    pub fn cache(&self) -> MutexGuard<'_, Cache> {
        lock(&self.cache)
    }

    /// The outcome for `file` (read from its start), and whether it came
    /// from the cache.
    pub fn hash(&mut self, file: &mut File) -> (Hashed, bool) {
        match file.metadata() {
            Ok(m) => self.hash_as(file, stat_key(&m)),
            Err(_) => (Hashed::Skipped(Skip::Error), false),
        }
    }

    /// The outcome for one job, and whether it came from the cache.
    pub fn outcome(&mut self, file: Option<File>, image: &Image) -> (Hashed, bool) {
        let Some(id) = image.file else {
            // No kernel identity (a replayed or fixture record): the
            // opened file, if it still shows the image's path.
            return match file {
                Some(mut f) if same_image(&f, image) => self.hash(&mut f),
                _ => (Hashed::Skipped(Skip::Gone), false),
            };
        };
        // The kernel named the inode it executed: a known identity needs
        // no file at all.
        if let Some(h) = self.cache().get(&id) {
            return (h, true);
        }
        match file {
            Some(mut f) => {
                // /proc/PID/exe: the process's image now. Another inode is
                // a later exec; the same with another change time or size
                // was rewritten since. (The device is not compared: this fd
                // is the process's own image, not a path's.)
                let Ok(m) = f.metadata() else {
                    return (Hashed::Skipped(Skip::Error), false);
                };
                let now = stat_key(&m);
                if now.ino != id.ino {
                    // A later exec; or a file system whose stat(2) reports
                    // another inode number than the kernel's inode has
                    // (overlayfs without xino): the path decides, as it did
                    // before exec records carried the identity.
                    if same_image(&f, image) {
                        self.hash(&mut f)
                    } else {
                        (Hashed::Skipped(Skip::Gone), false)
                    }
                } else if (now.ctime_ns, now.size) != (id.ctime_ns, id.size) {
                    (Hashed::Skipped(Skip::Changed), false)
                } else {
                    self.hash_as(&mut f, id)
                }
            }
            None => self.by_path(image, id),
        }
    }

    /// Hash the file at the image's resolved path if it is the inode the
    /// kernel executed (`id`, device included).
    fn by_path(&mut self, image: &Image, id: FileId) -> (Hashed, bool) {
        if image.truncated.exe || image.truncated.exe_detached || !image.exe.starts_with('/') {
            return (Hashed::Skipped(Skip::Gone), false);
        }
        // O_PATH: whatever is at the path now is not opened for reading
        // (a device or a FIFO put there has no open to trigger) until its
        // identity is the kernel's.
        let at = match open_path(&image.exe) {
            Ok(f) => f,
            // Removed since: nothing left to read.
            Err(libc::ENOENT) => return (Hashed::Skipped(Skip::Gone), false),
            Err(_) => return (Hashed::Skipped(Skip::Error), false),
        };
        match self.mounts.id_of(&at) {
            Ok(now) if now == id => match reopen(&at) {
                Ok(mut f) => self.hash_as(&mut f, id),
                Err(_) => (Hashed::Skipped(Skip::Error), false),
            },
            Ok(_) => (Hashed::Skipped(Skip::Changed), false),
            Err(_) => (Hashed::Skipped(Skip::Error), false),
        }
    }

    /// Hash `file` (from its start) and cache the digest under `key`.
    fn hash_as(&mut self, file: &mut File, key: Key) -> (Hashed, bool) {
        if key.size > self.max_file_size {
            return (Hashed::Skipped(Skip::TooLarge), false);
        }
        if let Some(h) = self.cache().get(&key) {
            return (h, true);
        }
        let Ok(h) = sha256_of(file, &mut self.buf) else {
            return (Hashed::Skipped(Skip::Error), false);
        };
        self.cache().insert(key, h);
        (h, false)
    }
}

/// The cache, even if a thread panicked holding it (its map stays
/// consistent: every update is one insert or remove).
fn lock(c: &Mutex<Cache>) -> MutexGuard<'_, Cache> {
    c.lock().unwrap_or_else(|e| e.into_inner())
}

/// The queue between the enricher and `hasher`'s thread; the enricher
/// shares its cache.
pub fn queue(cfg: &config::Hash, stats: Arc<Stats>, hasher: &Hasher) -> (Submitter, Receiver<Job>) {
    let (tx, rx) = bounded(cfg.queue as usize);
    let cache = hasher.cache.clone();
    (Submitter { tx, stats, cache }, rx)
}

impl Submitter {
    /// Open `pid`'s executable now and queue it; or, when the process is
    /// gone, queue the image alone to be found by its kernel identity; or
    /// mark the image with why not.
    pub fn submit(&self, pid: u32, image: &Arc<Image>) {
        if let Some(id) = &image.file {
            let hit = lock(&self.cache).get(id);
            if let Some(h) = hit {
                let _ = image.hash.set(h);
                self.stats.hash.cache_hits.fetch_add(1, Relaxed);
                return;
            }
        }
        let file = match open_exe(pid) {
            Ok(file) => Some(file),
            // The pid is gone (exited and reaped).
            Err(libc::ENOENT) | Err(libc::ESRCH) if image.file.is_some() => None,
            Err(libc::ENOENT) | Err(libc::ESRCH) => return self.skip(image, Skip::Gone),
            Err(_) => return self.skip(image, Skip::Error),
        };
        let job = Job {
            file,
            image: image.clone(),
        };
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.skip(image, Skip::QueueFull),
            Err(TrySendError::Disconnected(_)) => self.skip(image, Skip::Error),
        }
    }

    fn skip(&self, image: &Image, why: Skip) {
        let _ = image.hash.set(Hashed::Skipped(why));
        self.stats.hash.skip(why);
    }
}

/// `open("/proc/PID/exe")` without allocating: the path is built on the
/// stack. Err: the errno.
fn open_exe(pid: u32) -> Result<File, i32> {
    let mut path = [0u8; 32];
    let mut w = &mut path[..];
    use std::io::Write as _;
    write!(w, "/proc/{pid}/exe\0").map_err(|_| libc::EINVAL)?;
    open_c(&path, libc::O_RDONLY | libc::O_NOCTTY)
}

/// An `O_PATH` descriptor of an executable's path (on the hasher thread;
/// it allocates): enough to stat it, nothing is opened for reading.
fn open_path(path: &str) -> Result<File, i32> {
    let mut c = Vec::with_capacity(path.len() + 1);
    c.extend_from_slice(path.as_bytes());
    if c.contains(&0) {
        return Err(libc::EINVAL);
    }
    c.push(0);
    open_c(&c, libc::O_PATH)
}

/// The inode an `O_PATH` descriptor names, opened for reading (through
/// `/proc/self/fd/N`, which reopens that inode, not a path).
fn reopen(at: &File) -> Result<File, i32> {
    let mut path = [0u8; 32];
    let mut w = &mut path[..];
    use std::io::Write as _;
    write!(w, "/proc/self/fd/{}\0", at.as_raw_fd()).map_err(|_| libc::EINVAL)?;
    // Non-blocking: the inode is the executed regular file, but nothing
    // here may wait on anything.
    open_c(&path, libc::O_RDONLY | libc::O_NOCTTY | libc::O_NONBLOCK)
}

/// `open(2)` of a NUL-terminated path with `flags` (and `O_CLOEXEC`).
/// Err: the errno.
fn open_c(path: &[u8], flags: i32) -> Result<File, i32> {
    debug_assert!(path.contains(&0));
    // SAFETY: every caller passes a NUL-terminated buffer that outlives
    // the call.
    let fd = unsafe { libc::open(path.as_ptr().cast(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    // SAFETY: `fd` was just opened and is owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Whether the opened file is still the image the exec record named: a
/// process that exec'd again before we opened `/proc/PID/exe` shows its
/// newer image. Compared by path (what `/proc/self/fd/N` reads); a
/// truncated or detached exe path cannot be compared and is trusted.
fn same_image(file: &File, image: &Image) -> bool {
    if image.truncated.exe || image.truncated.exe_detached || image.exe.is_empty() {
        return true;
    }
    let link = format!("/proc/self/fd/{}", file.as_raw_fd());
    match std::fs::read_link(link) {
        Ok(p) => {
            let p = p.as_os_str().as_encoded_bytes();
            // A deleted file reads as "PATH (deleted)".
            let p = p.strip_suffix(b" (deleted)").unwrap_or(p);
            p == image.exe.as_bytes()
        }
        Err(_) => true,
    }
}

/// `enricher` hashing every exec through a new hasher, and the hasher
/// thread's body; with `[hash] enabled = false`, the enricher as it was.
pub fn attach(
    cfg: &config::Hash,
    enricher: Enricher,
    stats: &Arc<Stats>,
) -> (Enricher, Option<impl FnOnce() + Send + 'static>) {
    if !cfg.enabled {
        return (enricher, None);
    }
    let hasher = Hasher::new(cfg);
    let (sub, rx) = queue(cfg, stats.clone(), &hasher);
    let stats = stats.clone();
    (
        enricher.with_hasher(sub),
        Some(move || run(rx, hasher, stats)),
    )
}

/// The hasher thread: until the enricher drops its end.
pub fn run(rx: Receiver<Job>, mut hasher: Hasher, stats: Arc<Stats>) {
    for job in rx {
        let (outcome, hit) = hasher.outcome(job.file, &job.image);
        match outcome {
            Hashed::Sha256(_) if hit => {
                stats.hash.cache_hits.fetch_add(1, Relaxed);
            }
            Hashed::Sha256(_) => {
                stats.hash.hashed.fetch_add(1, Relaxed);
            }
            Hashed::Skipped(s) => stats.hash.skip(s),
        }
        let _ = job.image.hash.set(outcome);
        let (len, evictions) = {
            let c = hasher.cache();
            (c.len(), c.evictions)
        };
        stats.hash.cache_entries.store(len as u64, Relaxed);
        stats.hash.cache_evictions.store(evictions, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, Write};

    fn cfg(cache_entries: u32, max_file_size: u64) -> config::Hash {
        config::Hash {
            cache_entries,
            max_file_size,
            ..Default::default()
        }
    }

    fn digest_of(bytes: &[u8]) -> Hashed {
        Hashed::from_digest(&Sha256::digest(bytes).into())
    }

    #[test]
    fn hashes_a_file_and_hits_the_cache_until_its_identity_changes() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"first").unwrap();
        let mut h = Hasher::new(&cfg(16, 1 << 20));
        f.rewind().unwrap();
        assert_eq!(h.hash(&mut f), (digest_of(b"first"), false));
        // Known identity: not read again (the offset is at the end, so a
        // read would give the digest of nothing).
        assert_eq!(h.hash(&mut f), (digest_of(b"first"), true));
        // Rewritten in place: new size and change time, hashed anew.
        std::thread::sleep(std::time::Duration::from_millis(10));
        f.rewind().unwrap();
        f.write_all(b"second!").unwrap();
        f.rewind().unwrap();
        assert_eq!(h.hash(&mut f), (digest_of(b"second!"), false));
        assert_eq!(
            digest_of(b"first").sha256(),
            Some("a7937b64b8caa58f03721bb6bacf5c78cb235febe0e70b1b84cd99541461a08e")
        );
    }

    #[test]
    fn files_above_the_size_cap_are_not_read() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&[7u8; 100]).unwrap();
        f.rewind().unwrap();
        let mut h = Hasher::new(&cfg(16, 99));
        assert_eq!(h.hash(&mut f), (Hashed::Skipped(Skip::TooLarge), false));
        assert!(h.cache().is_empty());
        let mut h = Hasher::new(&cfg(16, 100));
        assert_eq!(h.hash(&mut f), (digest_of(&[7u8; 100]), false));
    }

    #[test]
    fn the_cache_evicts_the_oldest_and_counts() {
        let mut c = Cache::new(2);
        let k = |ino| Key {
            dev: 1,
            ino,
            ctime_ns: 5,
            size: 9,
        };
        let h = digest_of(b"x");
        c.insert(k(1), h);
        c.insert(k(2), h);
        c.insert(k(2), h);
        assert_eq!((c.len(), c.evictions), (2, 0));
        c.insert(k(3), h);
        assert_eq!((c.len(), c.evictions), (2, 1));
        assert_eq!(c.get(&k(1)), None);
        assert_eq!(c.get(&k(3)), Some(h));
        // Same inode, another change time: another identity.
        assert_eq!(
            c.get(&Key {
                ctime_ns: 6,
                ..k(3)
            }),
            None
        );
    }

    #[test]
    fn an_exec_of_a_gone_pid_is_counted_and_marked() {
        let stats = Arc::new(Stats::default());
        let c = config::Hash::default();
        let (sub, _rx) = queue(&c, stats.clone(), &Hasher::new(&c));
        let image = Arc::new(Image::default());
        // Above pid_max (4194304 at most): never a live pid.
        sub.submit(u32::MAX - 1, &image);
        assert_eq!(image.hash.get(), Some(&Hashed::Skipped(Skip::Gone)));
        assert_eq!(stats.hash.snapshot().not_hashed_total[0], ("gone", 1));
    }

    /// A temp file with `bytes`, its path, and its identity as the
    /// kernel would name it.
    fn exec_file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> (String, FileId) {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let f = File::open(&path).unwrap();
        let id = Mounts::default().id_of(&f).unwrap();
        (path.to_str().unwrap().to_string(), id)
    }

    fn gone_image(exe: &str, file: FileId) -> Arc<Image> {
        Arc::new(Image {
            exe: exe.into(),
            file: Some(file),
            ..Default::default()
        })
    }

    #[test]
    fn kernel_identity_agrees_with_stat_on_a_local_file() {
        let dir = tempfile::tempdir().unwrap();
        let (path, id) = exec_file(&dir, "f", b"abc");
        let m = std::fs::metadata(&path).unwrap();
        assert_eq!(
            (id.ino, id.size, id.ctime_ns),
            (m.ino(), 3, stat_key(&m).ctime_ns)
        );
        // MKDEV of the superblock: on the local file systems tests run on
        // (ext4, tmpfs, xfs) the same numbers stat(2) encodes with makedev.
        let (maj, min) = (libc::major(m.dev()), libc::minor(m.dev()));
        assert_eq!(id.dev, kernel_dev(maj, min));
    }

    #[test]
    fn a_gone_process_is_hashed_by_path_only_with_the_kernels_identity() {
        let stats = Arc::new(Stats::default());
        let c = cfg(16, 1 << 20);
        let hasher = Hasher::new(&c);
        let (sub, rx) = queue(&c, stats.clone(), &hasher);
        let dir = tempfile::tempdir().unwrap();
        let (same, same_id) = exec_file(&dir, "same", b"exec me");
        let (swapped, swapped_id) = exec_file(&dir, "swapped", b"original");
        let (removed, removed_id) = exec_file(&dir, "removed", b"gone");
        let (fifo, fifo_id) = exec_file(&dir, "fifo", b"prog");
        // A FIFO put in its place: stat'ed through O_PATH, never opened
        // for reading (which would block the hasher).
        std::fs::remove_file(&fifo).unwrap();
        let c_fifo = std::ffi::CString::new(fifo.clone()).unwrap();
        // SAFETY: a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) }, 0);
        // Replaced after the exec: a new inode at the same path.
        std::fs::remove_file(&swapped).unwrap();
        std::fs::write(&swapped, b"original").unwrap();
        std::fs::remove_file(&removed).unwrap();
        let images = [
            gone_image(&same, same_id),
            gone_image(&swapped, swapped_id),
            gone_image(&removed, removed_id),
            gone_image(&fifo, fifo_id),
            // Rewritten in place: the same inode, another size.
            gone_image(&same, FileId { size: 3, ..same_id }),
            // Known identity: answered from the cache, no file opened.
            gone_image("/nonexistent/x", same_id),
        ];
        for i in &images {
            sub.submit(u32::MAX - 1, i);
        }
        let cache = hasher.cache.clone();
        drop(sub);
        run(rx, hasher, stats.clone());
        let got: Vec<_> = images.iter().map(|i| *i.hash.get().unwrap()).collect();
        assert_eq!(
            got,
            [
                digest_of(b"exec me"),
                Hashed::Skipped(Skip::Changed),
                Hashed::Skipped(Skip::Gone),
                Hashed::Skipped(Skip::Changed),
                Hashed::Skipped(Skip::Changed),
                digest_of(b"exec me"),
            ]
        );
        let s = stats.hash.snapshot();
        assert_eq!((s.hashed_total, s.cache_hits_total), (1, 1));
        assert_eq!(s.not_hashed_total[0], ("gone", 1));
        assert_eq!(s.not_hashed_total[4], ("changed", 3));
        // Now known, the enricher answers itself: set at submit, nothing
        // queued (the queue is closed: a send would fail as an error).
        let (sub, _) = {
            let (tx, rx) = bounded(1);
            drop(rx);
            let stats = stats.clone();
            (Submitter { tx, stats, cache }, ())
        };
        let again = gone_image("/nonexistent/y", same_id);
        sub.submit(u32::MAX - 1, &again);
        assert_eq!(again.hash.get(), Some(&digest_of(b"exec me")));
        assert_eq!(stats.hash.snapshot().cache_hits_total, 2);
    }

    #[test]
    fn a_live_process_rewritten_since_its_exec_is_not_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let (path, id) = exec_file(&dir, "f", b"v1");
        let mut h = Hasher::new(&cfg(16, 1 << 20));
        let img = gone_image(&path, id);
        let open = || Some(File::open(&path).unwrap());
        assert_eq!(h.outcome(open(), &img), (digest_of(b"v1"), false));
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(&path, b"v2!").unwrap();
        let (other, id2) = exec_file(&dir, "other", b"x");
        // Another inode and path than the exec's: the process exec'd
        // again (/proc/PID/exe shows `path`, the exec was of `other`).
        let img2 = gone_image(&other, id2);
        assert_eq!(
            h.outcome(open(), &img2),
            (Hashed::Skipped(Skip::Gone), false)
        );
        // Another inode number at the same path (overlayfs reports the
        // layer's): the path decides, and the file is hashed as it is.
        let img2b = gone_image(&path, FileId { ino: id2.ino, ..id });
        assert_eq!(h.outcome(open(), &img2b), (digest_of(b"v2!"), false));
        // Same inode, rewritten: changed (the cached v1 is under the old
        // change time only).
        let img3 = gone_image(
            &path,
            FileId {
                ctime_ns: id.ctime_ns - 1,
                ..id
            },
        );
        assert_eq!(
            h.outcome(open(), &img3),
            (Hashed::Skipped(Skip::Changed), false)
        );
    }

    #[test]
    fn a_full_queue_skips_and_the_thread_hashes_what_was_queued() {
        let stats = Arc::new(Stats::default());
        // The debug test binary is larger than the default size cap.
        let c = config::Hash {
            queue: 1,
            max_file_size: 4 << 30,
            ..Default::default()
        };
        let hasher = Hasher::new(&c);
        let (sub, rx) = queue(&c, stats.clone(), &hasher);
        let me = std::process::id();
        let (a, b) = (Arc::new(Image::default()), Arc::new(Image::default()));
        sub.submit(me, &a);
        sub.submit(me, &b);
        assert_eq!(b.hash.get(), Some(&Hashed::Skipped(Skip::QueueFull)));
        drop(sub);
        run(rx, hasher, stats.clone());
        let exe = std::fs::read("/proc/self/exe").unwrap();
        assert_eq!(a.hash.get(), Some(&digest_of(&exe)));
        let s = stats.hash.snapshot();
        assert_eq!((s.hashed_total, s.cache_entries), (1, 1));
        assert_eq!(s.not_hashed_total[2], ("queue_full", 1));
    }
}
