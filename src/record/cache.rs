//! The serialized `process.parent` and `rand_guard.ancestry` of recent
//! parents. Both depend on the parent alone (and the ancestry on the
//! context's depth): in an exec storm every child of a shell, in its fork,
//! exec and exit records, writes the same bytes for them, so they are
//! written once per parent and copied after.
//!
//! Keyed by the parent's `Arc<Process>` address. Sound because a
//! `Process` never changes once in its `Arc` (no interior mutability; its
//! image is an `Arc<Image>` no one mutates but for its hash, set once,
//! which the slot notes; its parent link is set before
//! it is shared, and a re-link makes a new `Process`), and because the
//! slot holds a clone of the `Arc`: the address cannot be freed and
//! reused by another process while its bytes are cached.

use std::sync::Arc;

use crate::model::clock::Rfc3339;
use crate::model::proctable::Process;

/// Slots, a power of two. Few parents are hot at once (the shells and
/// service managers spawning children); a slot holds at most a parent and
/// its ancestry bytes, and keeps that parent's chain alive until reused.
const SLOTS: usize = 128;

#[derive(Default)]
pub(super) struct Slot {
    parent: Option<Arc<Process>>,
    /// `process.parent`'s value; empty until written (a written object
    /// is never empty).
    pub doc: Vec<u8>,
    /// Whether the parent's hash outcome was set when `doc` was written.
    pub hashed: bool,
    /// `rand_guard.ancestry`'s value for `ancestry_depth`; empty until
    /// written.
    pub ancestry: Vec<u8>,
    pub ancestry_depth: usize,
}

/// Direct-mapped: a parent's slot is a hash of its address; a newcomer
/// takes the slot over, keeping its buffers (no allocation once warm).
#[derive(Default)]
pub(super) struct ParentCache {
    /// Allocated at first use, so a one-off line costs no table.
    slots: Vec<Slot>,
}

impl ParentCache {
    /// `parent`'s slot, emptied first if it held another parent's bytes.
    pub fn slot(&mut self, parent: &Arc<Process>) -> &mut Slot {
        if self.slots.is_empty() {
            self.slots.resize_with(SLOTS, Slot::default);
        }
        // Fibonacci hashing of the address (its low bits are alignment).
        let addr = Arc::as_ptr(parent) as usize as u64;
        let i = (addr >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOTS.trailing_zeros());
        let slot = &mut self.slots[i as usize];
        if !slot.parent.as_ref().is_some_and(|p| Arc::ptr_eq(p, parent)) {
            slot.parent = Some(parent.clone());
            slot.doc.clear();
            slot.hashed = false;
            slot.ancestry.clear();
        }
        slot
    }
}

/// The last subject's `process.start` text and its credential members:
/// a child's fork, exec and exit lines repeat both, and a storm's
/// children share their credentials. Keyed by the values themselves.
#[derive(Default)]
pub(super) struct Recent {
    pub start: Option<(u64, [u8; Rfc3339::LEN])>,
    pub creds: Option<CredMembers>,
}

/// The credential members written for `ids`, with the names of the
/// accounts' `generation` (each by a `Json` of its own: no leading comma).
#[derive(Default)]
pub(super) struct CredMembers {
    /// `(euid, egid, uid, gid)`.
    pub ids: [u32; 4],
    pub generation: Option<u64>,
    /// `process.user` ... `process.real_group`.
    pub process: Vec<u8>,
    /// The record's `user` and `group`.
    pub record: Vec<u8>,
}
