//! What the hasher found for an executed file: its SHA-256, or why it has
//! none. Set once per exec image, from the hasher thread, and read by the
//! stages after enrich without a lock (a [`std::sync::OnceLock`] in
//! [`crate::model::event::Image`]).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::model::event::Image;

/// Why an executed file has no hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// The process had exited, or exec'd again, before its executable
    /// could be opened: there is no way left to read that inode.
    Gone,
    /// Larger than `[hash] max_file_size`.
    TooLarge,
    /// The hasher's queue was full.
    QueueFull,
    /// Opening, stat or reading failed otherwise.
    Error,
    /// The process was gone, and the file now at its executable's path is
    /// not the inode it executed (replaced, or rewritten in place): never
    /// hashed in its stead.
    Changed,
}

impl Skip {
    pub const ALL: [Skip; 5] = [
        Skip::Gone,
        Skip::TooLarge,
        Skip::QueueFull,
        Skip::Error,
        Skip::Changed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Skip::Gone => "gone",
            Skip::TooLarge => "too_large",
            Skip::QueueFull => "queue_full",
            Skip::Error => "error",
            Skip::Changed => "changed",
        }
    }
}

/// A file's identity: an in-place rewrite changes its change time (and
/// usually its size), a replacement its inode. The device is the
/// superblock's in the kernel's `MKDEV` encoding (major << 20 | minor),
/// the one exec records carry, not stat(2)'s `st_dev` (see
/// `pipeline::watch` for why they differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    pub ctime_ns: i128,
    pub size: u64,
}

/// The outcome for one exec image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hashed {
    /// Lower-case hex digest.
    Sha256([u8; 64]),
    Skipped(Skip),
}

impl Hashed {
    /// The digest, as written in `process.hash.sha256`.
    pub fn sha256(&self) -> Option<&str> {
        match self {
            Hashed::Sha256(hex) => std::str::from_utf8(hex).ok(),
            Hashed::Skipped(_) => None,
        }
    }

    pub fn skipped(&self) -> Option<Skip> {
        match self {
            Hashed::Skipped(s) => Some(*s),
            Hashed::Sha256(_) => None,
        }
    }

    /// Hex-encode a raw digest.
    pub fn from_digest(d: &[u8; 32]) -> Hashed {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = [0u8; 64];
        for (i, b) in d.iter().enumerate() {
            hex[2 * i] = HEX[(b >> 4) as usize];
            hex[2 * i + 1] = HEX[(b & 15) as usize];
        }
        Hashed::Sha256(hex)
    }
}

/// Wait up to `limit` for `image`'s hash (polling: the hasher sets it
/// once, and only rare alerts wait, so a condition variable per image
/// would cost every exec for nothing). None when it did not come.
pub fn wait(image: &Image, limit: Duration) -> Option<&Hashed> {
    let until = Instant::now() + limit;
    loop {
        if let Some(h) = image.hash.get() {
            return Some(h);
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The hasher's counters (published in [`crate::model::stats::Stats`]).
#[derive(Debug, Default)]
pub struct Counters {
    /// Files read and hashed.
    pub hashed: AtomicU64,
    /// Execs whose file identity was in the cache.
    pub cache_hits: AtomicU64,
    /// Entries in the cache now (a gauge).
    pub cache_entries: AtomicU64,
    pub cache_evictions: AtomicU64,
    /// Execs not hashed, by [`Skip`] (its position in `Skip::ALL`).
    pub not_hashed: [AtomicU64; 5],
}

impl Counters {
    pub fn skip(&self, s: Skip) {
        self.not_hashed[s as usize].fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            hashed_total: self.hashed.load(Relaxed),
            cache_hits_total: self.cache_hits.load(Relaxed),
            cache_entries: self.cache_entries.load(Relaxed),
            cache_evictions_total: self.cache_evictions.load(Relaxed),
            not_hashed_total: Skip::ALL
                .iter()
                .map(|s| (s.as_str(), self.not_hashed[*s as usize].load(Relaxed)))
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub hashed_total: u64,
    pub cache_hits_total: u64,
    pub cache_entries: u64,
    pub cache_evictions_total: u64,
    /// (reason, execs) for every [`Skip`].
    pub not_hashed_total: Vec<(&'static str, u64)>,
}
