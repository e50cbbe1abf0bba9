//! Enricher stage: keeps the process table and gives every event its
//! process context.
//!
//! In: batches of normalized [`Event`]s, in ring-buffer order.
//! Out: the same events with `process` set (the subject process, linking
//! its parent and ancestry) whenever the table knows it.
//! Counts: process table size and evictions, the cgroup resolver's cache
//! size, evictions, unresolved ids, walks and metadata errors (published
//! per batch).
//!
//! exec replaces the pid's entry with the new image; fork adds the child
//! with the parent's image; exit removes the entry. A record whose start
//! time does not match the entry for its pid is about a different process
//! than the one in the table (the pid was reused after a missed exit): the
//! stale entry is not used.

use std::path::Path;
use std::sync::{Arc, LazyLock};

use crossbeam_channel::Receiver;

use crate::pipeline::channel::Outlet;
use crate::pipeline::hasher::Submitter;

use crate::model::container::{Counters as CgroupCounters, Resolver};
use crate::model::event::{Body, Event, Image};
use crate::model::proctable::{Origin, ProcTable, Process};
use crate::model::stats::Stats;

/// The image of a process we never saw exec (e.g. its parent was unknown).
static UNKNOWN_IMAGE: LazyLock<Arc<Image>> = LazyLock::new(|| Arc::new(Image::default()));

/// Slots of the cache of shortened parents (see [`Enricher::link`]).
const CUT_SLOTS: usize = 16;

/// A parent and the copy of it whose chain is cut to the ancestry depth.
type Cut = (Arc<Process>, Arc<Process>, u32);

pub struct Enricher {
    table: ProcTable,
    /// cgroup id → container / systemd unit, for exec records.
    cgroups: Resolver,
    ancestry_depth: usize,
    /// Shortened copies of parents whose chain is already at the ancestry
    /// depth, by the parent's address: every child of a deep shell would
    /// otherwise get its own copy of the shell (and of its kept
    /// ancestors), allocated per fork and per exec, and the writer, which
    /// caches a parent's serialized bytes by its address, would never see
    /// the same parent twice. A slot holds the parent itself, so its
    /// address cannot be reused by another process while cached.
    cuts: [Option<Cut>; CUT_SLOTS],
    /// Where exec'd files go to be hashed (`[hash] enabled`).
    hasher: Option<Submitter>,
}

impl Enricher {
    pub fn new(max_entries: usize, ancestry_depth: usize) -> Self {
        Enricher {
            table: ProcTable::new(max_entries),
            cgroups: Resolver::disabled(),
            ancestry_depth,
            cuts: Default::default(),
            hasher: None,
        }
    }

    /// Hash every exec'd file through `hasher` (see [`crate::pipeline::hasher`]).
    pub fn with_hasher(mut self, hasher: Submitter) -> Self {
        self.hasher = Some(hasher);
        self
    }

    /// [`Process::link_parent`], sharing one shortened copy per parent.
    fn link(&mut self, parent: Option<Arc<Process>>) -> (Option<Arc<Process>>, u32) {
        let depth = self.ancestry_depth;
        let p = match parent {
            Some(p) if depth > 0 && p.chain_len as usize + 1 > depth => p,
            other => return Process::link_parent(other, depth),
        };
        let slot = (Arc::as_ptr(&p) as usize >> 4) % CUT_SLOTS;
        if let Some((orig, cut, len)) = &self.cuts[slot]
            && Arc::ptr_eq(orig, &p)
        {
            return (Some(cut.clone()), *len);
        }
        let (cut, len) = Process::link_parent(Some(p.clone()), depth);
        if let Some(c) = &cut {
            self.cuts[slot] = Some((p, c.clone(), len));
        }
        (cut, len)
    }

    /// Attribute processes to containers and units with `cgroups` (the
    /// agent's is [`Resolver::host`]; without one, no attribution).
    pub fn with_cgroups(mut self, cgroups: Resolver) -> Self {
        self.cgroups = cgroups;
        self
    }

    /// Seed the table from procfs; returns the number of processes added.
    pub fn seed(&mut self, proc_root: &Path, skip_pid: u32) -> usize {
        self.table
            .seed_from_proc(proc_root, skip_pid, self.ancestry_depth, &mut self.cgroups)
    }

    /// The cgroup resolver's counters.
    pub fn cgroup_counters(&self) -> CgroupCounters {
        self.cgroups.counters()
    }

    pub fn table(&self) -> &ProcTable {
        &self.table
    }

    pub fn enrich(&mut self, ev: &mut Event) {
        // Boot-to-wall offset of this event, for process start times.
        let offset = ev.time_ns as i128 - ev.ktime_ns as i128;
        let wall = |boot: u64| crate::model::clock::boot_to_wall(boot, offset);
        match &ev.body {
            Body::Exec(b) => {
                // At once: the longer we wait, the likelier the process has
                // exited or exec'd again.
                if let Some(h) = &self.hasher {
                    h.submit(ev.pid, &b.image);
                }
                let parent = self.table.get_same(b.ppid, b.parent_start_ns);
                let (parent, chain_len) = self.link(parent);
                let p = Arc::new(Process {
                    pid: ev.pid,
                    ppid: b.ppid,
                    start_ns: b.start_ns,
                    start_exact: true,
                    start_time_ns: wall(b.start_ns),
                    image: b.image.clone(),
                    creds: Some(b.creds),
                    cgroup_id: Some(b.cgroup_id),
                    cgroup: self.cgroups.lookup(b.cgroup_id, ev.pid),
                    ns: Some(b.ns),
                    parent,
                    origin: Origin::Exec,
                    chain_len,
                    entity_id: Default::default(),
                });
                self.table.insert(p.clone());
                ev.process = Some(p);
            }
            Body::Fork(b) => {
                let forker = self.table.get_same(b.parent_pid, b.parent_start_ns);
                let real_parent = if b.child_ppid == b.parent_pid {
                    forker.clone()
                } else {
                    self.table.get(b.child_ppid).cloned()
                };
                let (parent, chain_len) = self.link(real_parent);
                let p = Arc::new(Process {
                    pid: ev.pid,
                    ppid: b.child_ppid,
                    start_ns: b.child_start_ns,
                    start_exact: true,
                    start_time_ns: wall(b.child_start_ns),
                    image: forker
                        .as_ref()
                        .map_or_else(|| UNKNOWN_IMAGE.clone(), |f| f.image.clone()),
                    creds: forker.as_ref().and_then(|f| f.creds),
                    cgroup_id: forker.as_ref().and_then(|f| f.cgroup_id),
                    cgroup: forker.as_ref().and_then(|f| f.cgroup.clone()),
                    ns: forker.as_ref().and_then(|f| f.ns),
                    parent,
                    origin: Origin::Fork,
                    chain_len,
                    entity_id: Default::default(),
                });
                self.table.insert(p.clone());
                ev.process = Some(p);
            }
            Body::File(_) | Body::Net(_) | Body::Signal(_) => {
                // The process is alive (it made the syscall): its entry is
                // current unless an exit was missed and the pid reused.
                ev.process = self.table.get(ev.pid).cloned();
            }
            Body::Exit(b) => {
                let known = self
                    .table
                    .get(ev.pid)
                    .is_some_and(|p| p.same_start(b.start_ns));
                // The pid is dead either way: drop whatever entry it had.
                let p = self.table.remove(ev.pid);
                ev.process = if known { p } else { None };
            }
            // Made by the detector, after this stage, with its process.
            Body::Loss(_) => {}
        }
    }
}

/// The stage loop: runs until the normalizer hangs up.
pub fn run(
    rx: Receiver<Vec<Event>>,
    tx: Outlet<Vec<Event>>,
    mut enricher: Enricher,
    stats: Arc<Stats>,
) {
    for mut batch in rx {
        crate::pipeline::fault::point("enricher");
        for ev in &mut batch {
            enricher.enrich(ev);
        }
        stats.set_proc_table(enricher.table.len(), enricher.table.evictions());
        stats.set_cgroups(enricher.cgroups.counters());
        if tx.send(batch).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::{Creds, ExecBody, ExitBody, ExitStatus, ForkBody};

    fn ev(pid: u32, body: Body) -> Event {
        Event {
            seq: 0,
            time_ns: 1_000_000,
            ktime_ns: 1_000,
            pid,
            tid: pid,
            body,
            process: None,
        }
    }

    fn exec(pid: u32, ppid: u32, start: u64, pstart: u64, path: &str) -> Event {
        ev(
            pid,
            Body::Exec(ExecBody {
                image: Arc::new(Image {
                    executable: path.into(),
                    exe: path.into(),
                    args: vec![path.into()],
                    ..Default::default()
                }),
                ppid,
                start_ns: start,
                parent_start_ns: pstart,
                creds: Creds {
                    uid: 1000,
                    ..Default::default()
                },
                cgroup_id: 9,
                ns: crate::testkit::NS,
                argc: 1,
                stdio: Default::default(),
            }),
        )
    }

    fn fork(parent: u32, pstart: u64, child: u32, cstart: u64) -> Event {
        ev(
            child,
            Body::Fork(ForkBody {
                parent_pid: parent,
                parent_start_ns: pstart,
                child_ppid: parent,
                child_start_ns: cstart,
            }),
        )
    }

    fn exit(pid: u32, start: u64) -> Event {
        ev(
            pid,
            Body::Exit(ExitBody {
                start_ns: start,
                ppid: 1,
                name: "x".into(),
                status: ExitStatus::from_wait_status(0),
            }),
        )
    }

    #[test]
    fn lifecycle_builds_ancestry() {
        let mut e = Enricher::new(1024, 8);
        let mut sh = exec(10, 1, 100, 0, "/bin/sh");
        e.enrich(&mut sh);
        let mut f = fork(10, 100, 11, 200);
        e.enrich(&mut f);
        let child = f.process.as_ref().unwrap();
        assert_eq!(child.image.executable, "/bin/sh"); // inherited
        assert_eq!(child.parent.as_ref().unwrap().pid, 10);
        assert_eq!(child.creds.unwrap().uid, 1000);

        let mut t = exec(11, 10, 200, 100, "/bin/true");
        e.enrich(&mut t);
        let p = t.process.as_ref().unwrap();
        assert_eq!(p.image.executable, "/bin/true");
        let anc: Vec<_> = p.ancestors().map(|a| a.image.executable.as_str()).collect();
        assert_eq!(anc, vec!["/bin/sh"]);
        assert_eq!(p.start_time_ns, 1_000_000 - 1_000 + 200);

        let mut x = exit(11, 200);
        e.enrich(&mut x);
        assert_eq!(x.process.as_ref().unwrap().image.executable, "/bin/true");
        assert!(e.table().len() == 1);
    }

    /// Below a shell whose chain is at the ancestry depth, every child
    /// shares one shortened copy of the shell: the same ancestry as
    /// `link_parent` gives, made once.
    #[test]
    fn children_of_a_deep_parent_share_its_shortened_copy() {
        let mut e = Enricher::new(1024, 3);
        // init(1) -> a(2) -> b(3) -> sh(4): sh's chain is 3 long.
        let mut prev = (0, 0);
        for (pid, path) in [(1, "/sbin/init"), (2, "/a"), (3, "/b"), (4, "/bin/sh")] {
            let mut x = exec(pid, prev.0, pid as u64 * 100, prev.1, path);
            e.enrich(&mut x);
            prev = (pid, pid as u64 * 100);
        }
        let kids: Vec<Arc<Process>> = (0..3)
            .flat_map(|i| {
                let (pid, start) = (50 + i, 1000 + i as u64);
                let mut f = fork(4, 400, pid, start);
                e.enrich(&mut f);
                let mut x = exec(pid, 4, start, 400, "/bin/true");
                e.enrich(&mut x);
                [f.process.unwrap(), x.process.unwrap()]
            })
            .collect();
        let first = kids[0].parent.as_ref().unwrap();
        for k in &kids {
            let p = k.parent.as_ref().unwrap();
            assert!(Arc::ptr_eq(p, first), "a new copy for pid {}", k.pid);
            let anc: Vec<_> = k.ancestors().map(|a| a.image.executable.as_str()).collect();
            assert_eq!(anc, ["/bin/sh", "/b", "/a"]);
            assert_eq!(k.chain_len, 3);
        }
        // The same as the uncached link.
        let sh = e.table.get(4).cloned();
        let (plain, len) = Process::link_parent(sh, 3);
        let plain: Vec<_> = std::iter::successors(plain.as_ref(), |p| p.parent.as_ref())
            .map(|a| a.image.executable.as_str())
            .collect();
        assert_eq!((plain, len), (vec!["/bin/sh", "/b", "/a"], 3));
        // A new exec of the shell is a new parent: a new copy.
        let mut again = exec(4, 3, 400, 300, "/bin/zsh");
        e.enrich(&mut again);
        let mut f = fork(4, 400, 60, 2000);
        e.enrich(&mut f);
        let p = f.process.unwrap();
        assert_eq!(p.parent.as_ref().unwrap().image.executable, "/bin/zsh");
        assert!(!Arc::ptr_eq(p.parent.as_ref().unwrap(), first));
    }

    #[test]
    fn stale_entries_are_not_used() {
        let mut e = Enricher::new(1024, 8);
        let mut a = exec(20, 1, 100, 0, "/bin/old");
        e.enrich(&mut a);
        // pid 20 was reused by a process started at 500; its exit must not
        // borrow the old image, and the entry goes away.
        let mut x = exit(20, 500);
        e.enrich(&mut x);
        assert!(x.process.is_none());
        assert_eq!(e.table().len(), 0);
        // A fork from a parent we have a stale entry for: unknown image.
        let mut b = exec(30, 1, 100, 0, "/bin/b");
        e.enrich(&mut b);
        let mut f = fork(30, 999, 31, 1000);
        e.enrich(&mut f);
        let c = f.process.unwrap();
        assert_eq!(c.image.executable, "");
        assert!(c.parent.is_none());
    }
}
