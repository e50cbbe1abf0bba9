//! The hasher: SHA-256 of every executed file, off the pipeline's threads.
//!
//! In: from the enricher, for each exec, `/proc/PID/exe` opened at once
//! (that fd is the inode the kernel runs: a later rename or replacement of
//! the path cannot change what is hashed) and the exec's image.
//! Out: the image's `hash` set (a digest, or why there is none).
//! Counts: files hashed, cache hits, cache entries and evictions, and
//! execs not hashed by reason (gone, too large, queue full, error).
//!
//! Records do not wait for the hash: the image is shared by every record
//! of the process (and by its children's `process.parent`), and each
//! carries the hash once it is set. An exec record written before the
//! hasher is done has none; the process's later records do. Only the
//! drop-and-execute alert waits, for at most `[hash] alert_wait_ms`.
//!
//! The enricher's cost per exec is one `open` of `/proc/PID/exe` and a
//! non-blocking send; an exec that finds the queue full is skipped.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use sha2::{Digest, Sha256};

use crate::config;
use crate::model::event::Image;
use crate::model::hash::{Hashed, Skip};
use crate::model::stats::Stats;
use crate::pipeline::enrich::Enricher;

/// One executed file to hash.
pub struct Job {
    file: File,
    image: Arc<Image>,
}

/// The enricher's end.
pub struct Submitter {
    tx: Sender<Job>,
    stats: Arc<Stats>,
}

/// A file's identity: an in-place rewrite changes its change time (and
/// usually its size), a replacement its inode, so either is hashed anew.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub dev: u64,
    pub ino: u64,
    pub ctime_ns: i128,
    pub size: u64,
}

impl Key {
    fn of(m: &std::fs::Metadata) -> Key {
        Key {
            dev: m.dev(),
            ino: m.ino(),
            ctime_ns: m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
            size: m.size(),
        }
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
    cache: Cache,
    max_file_size: u64,
    buf: Vec<u8>,
}

impl Hasher {
    pub fn new(cfg: &config::Hash) -> Hasher {
        Hasher {
            cache: Cache::new(cfg.cache_entries as usize),
            max_file_size: cfg.max_file_size,
            buf: vec![0; 64 << 10],
        }
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The outcome for `file` (read from its start), and whether it came
    /// from the cache.
    pub fn hash(&mut self, file: &mut File) -> (Hashed, bool) {
        let key = match file.metadata() {
            Ok(m) => Key::of(&m),
            Err(_) => return (Hashed::Skipped(Skip::Error), false),
        };
        if key.size > self.max_file_size {
            return (Hashed::Skipped(Skip::TooLarge), false);
        }
        if let Some(h) = self.cache.get(&key) {
            return (h, true);
        }
        let mut d = Sha256::new();
        loop {
            match file.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => d.update(&self.buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return (Hashed::Skipped(Skip::Error), false),
            }
        }
        let h = Hashed::from_digest(&d.finalize().into());
        self.cache.insert(key, h);
        (h, false)
    }
}

/// The queue between the enricher and the hasher thread.
pub fn queue(cfg: &config::Hash, stats: Arc<Stats>) -> (Submitter, Receiver<Job>) {
    let (tx, rx) = bounded(cfg.queue as usize);
    (Submitter { tx, stats }, rx)
}

impl Submitter {
    /// Open `pid`'s executable now and queue it; or mark the image with
    /// why not.
    pub fn submit(&self, pid: u32, image: &Arc<Image>) {
        match open_exe(pid) {
            Ok(file) => {
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
            // The pid is gone (exited and reaped).
            Err(libc::ENOENT) | Err(libc::ESRCH) => self.skip(image, Skip::Gone),
            Err(_) => self.skip(image, Skip::Error),
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
    // SAFETY: `path` is NUL-terminated (written above, the rest zeros).
    let fd = unsafe {
        libc::open(
            path.as_ptr().cast(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY,
        )
    };
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
    let (sub, rx) = queue(cfg, stats.clone());
    let (hasher, stats) = (Hasher::new(cfg), stats.clone());
    (
        enricher.with_hasher(sub),
        Some(move || run(rx, hasher, stats)),
    )
}

/// The hasher thread: until the enricher drops its end.
pub fn run(rx: Receiver<Job>, mut hasher: Hasher, stats: Arc<Stats>) {
    for mut job in rx {
        let outcome = if same_image(&job.file, &job.image) {
            let (h, hit) = hasher.hash(&mut job.file);
            match h {
                Hashed::Sha256(_) if hit => {
                    stats.hash.cache_hits.fetch_add(1, Relaxed);
                }
                Hashed::Sha256(_) => {
                    stats.hash.hashed.fetch_add(1, Relaxed);
                }
                Hashed::Skipped(s) => stats.hash.skip(s),
            }
            h
        } else {
            stats.hash.skip(Skip::Gone);
            Hashed::Skipped(Skip::Gone)
        };
        let _ = job.image.hash.set(outcome);
        stats
            .hash
            .cache_entries
            .store(hasher.cache.len() as u64, Relaxed);
        stats
            .hash
            .cache_evictions
            .store(hasher.cache.evictions, Relaxed);
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
        let (sub, _rx) = queue(&config::Hash::default(), stats.clone());
        let image = Arc::new(Image::default());
        // Above pid_max (4194304 at most): never a live pid.
        sub.submit(u32::MAX - 1, &image);
        assert_eq!(image.hash.get(), Some(&Hashed::Skipped(Skip::Gone)));
        assert_eq!(stats.hash.snapshot().not_hashed_total[0], ("gone", 1));
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
        let (sub, rx) = queue(&c, stats.clone());
        let me = std::process::id();
        let (a, b) = (Arc::new(Image::default()), Arc::new(Image::default()));
        sub.submit(me, &a);
        sub.submit(me, &b);
        assert_eq!(b.hash.get(), Some(&Hashed::Skipped(Skip::QueueFull)));
        drop(sub);
        run(rx, Hasher::new(&c), stats.clone());
        let exe = std::fs::read("/proc/self/exe").unwrap();
        assert_eq!(a.hash.get(), Some(&digest_of(&exe)));
        let s = stats.hash.snapshot();
        assert_eq!((s.hashed_total, s.cache_entries), (1, 1));
        assert_eq!(s.not_hashed_total[2], ("queue_full", 1));
    }
}
