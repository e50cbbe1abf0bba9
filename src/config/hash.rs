//! `[hash]`: SHA-256 of every executed file (`process.hash.sha256`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Hash {
    /// Hash executed files on the hasher thread.
    pub enabled: bool,
    /// Files larger than this (bytes) are not read; their processes say
    /// `rand_guard.process.hash_skipped = "too_large"`.
    pub max_file_size: u64,
    /// Hashes remembered by file identity (device, inode, change time,
    /// size); the oldest is evicted beyond (counted).
    pub cache_entries: u32,
    /// Executed files waiting for the hasher; an exec that finds the queue
    /// full is not hashed (counted as `queue_full`).
    pub queue: u32,
    /// How long the drop-and-execute detection waits for the hash of the
    /// dropped file before it raises its alert without one, and
    /// rg-reverse-shell for the hash of a possible copy of a system shell
    /// or interpreter (a file of a system copy's size).
    pub alert_wait_ms: u32,
}

impl Default for Hash {
    fn default() -> Self {
        Hash {
            enabled: true,
            max_file_size: 64 << 20,
            cache_entries: 8192,
            queue: 256,
            alert_wait_ms: 200,
        }
    }
}

impl Hash {
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.max_file_size == 0 {
            return Err(("hash.max_file_size", "must be at least 1 byte".into()));
        }
        if !(16..=1_000_000).contains(&self.cache_entries) {
            return Err((
                "hash.cache_entries",
                format!("must be from 16 to 1000000, got {}", self.cache_entries),
            ));
        }
        // Each queued exec holds an open file descriptor.
        if !(1..=4096).contains(&self.queue) {
            return Err((
                "hash.queue",
                format!("must be from 1 to 4096, got {}", self.queue),
            ));
        }
        if self.alert_wait_ms > 5000 {
            return Err((
                "hash.alert_wait_ms",
                format!("must be from 0 to 5000, got {}", self.alert_wait_ms),
            ));
        }
        Ok(())
    }
}
