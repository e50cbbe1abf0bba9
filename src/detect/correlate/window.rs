//! The bounded event-time window behind every scenario's state: at most
//! `cap` entries, none older than the window, and what is pushed out early
//! is counted (`correlation_evictions_total` in health).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Recent entries keyed by `K`, each with the event time it was last set:
/// at most `cap` entries, none older than `window_ns`. Inserting beyond
/// `cap` pushes out the oldest, and that is counted.
#[derive(Debug)]
pub struct Window<K, V> {
    map: HashMap<K, (u64, V)>,
    /// Insertion order; may hold stale keys (set again later, or taken),
    /// skipped when they come up. Seen by the tests, which check that it
    /// stays bounded too.
    pub(super) order: VecDeque<(u64, K)>,
    cap: usize,
    window_ns: u64,
    evicted: u64,
}

impl<K: Hash + Eq + Clone, V> Window<K, V> {
    pub fn new(cap: usize, window_ns: u64) -> Self {
        Window {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
            window_ns,
            evicted: 0,
        }
    }

    /// Set `key` at `now`, expiring old entries first.
    pub fn insert(&mut self, now: u64, key: K, value: V) {
        self.expire(now);
        if !self.map.contains_key(&key) {
            while self.map.len() >= self.cap {
                if !self.pop_oldest() {
                    break;
                }
                self.evicted += 1;
            }
        }
        self.map.insert(key.clone(), (now, value));
        self.order.push_back((now, key));
        // Stale order entries are bounded too: rebuild when they pile up.
        if self.order.len() > 2 * self.cap {
            let map = &self.map;
            self.order
                .retain(|(t, k)| map.get(k).is_some_and(|(at, _)| at == t));
        }
    }

    /// The entry for `key` if it is still inside the window at `now`.
    pub fn get(&self, now: u64, key: &K) -> Option<&V> {
        self.map
            .get(key)
            .filter(|(at, _)| now.saturating_sub(*at) <= self.window_ns)
            .map(|(_, v)| v)
    }

    /// The entries inside the window at `now`, newest first.
    pub fn newest(&self, now: u64) -> impl Iterator<Item = (&K, &V)> {
        self.order.iter().rev().filter_map(move |(t, k)| {
            let (at, v) = self.map.get(k)?;
            (at == t && now.saturating_sub(*at) <= self.window_ns).then_some((k, v))
        })
    }

    pub fn get_mut(&mut self, now: u64, key: &K) -> Option<&mut V> {
        let window = self.window_ns;
        self.map
            .get_mut(key)
            .filter(|(at, _)| now.saturating_sub(*at) <= window)
            .map(|(_, v)| v)
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.map.remove(key).map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Entries pushed out before their time, since creation.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Drop what is older than the window at `now`.
    pub fn expire(&mut self, now: u64) {
        while let Some((t, _)) = self.order.front() {
            if now.saturating_sub(*t) <= self.window_ns {
                break;
            }
            self.pop_oldest();
        }
    }

    /// Take over the entries of `old` (the same window under a reloaded
    /// configuration), keeping this window's size and length: what no
    /// longer fits is pushed out, oldest first, and counted here; what is
    /// past the new length goes at the next expiry. `old`'s own count is
    /// not taken (the correlator carries it, see
    /// [`Correlator::take_state`](super::Correlator::take_state)).
    pub fn adopt(&mut self, old: Window<K, V>) {
        self.map = old.map;
        self.order = old.order;
        while self.map.len() > self.cap && self.pop_oldest() {
            self.evicted += 1;
        }
    }

    /// Remove the oldest live entry; false when there is none.
    fn pop_oldest(&mut self) -> bool {
        while let Some((t, k)) = self.order.pop_front() {
            if self.map.get(&k).is_some_and(|(at, _)| *at == t) {
                self.map.remove(&k);
                return true;
            }
        }
        false
    }
}
