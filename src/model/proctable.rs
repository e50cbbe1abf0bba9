//! The process table: pid → the process as we last saw it.
//!
//! Built from exec/fork/exit events and seeded from `/proc` at start-up.
//! Entries are immutable `Arc<Process>` snapshots: an exec or fork makes a
//! new one, so an event keeps the context it was enriched with even after
//! the table moves on. Each process links to its parent as it was when the
//! process was created (fork) or last exec'd; that chain is the ancestry,
//! cut at `ancestry_depth` links so dead ancestors cannot pile up.
//!
//! Bounded: at `max_entries` the least recently used eighth is evicted
//! (counted), which only happens when exits were missed or the host runs
//! more processes than the bound.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use crate::model::clock;
use crate::model::container::{Cgroup, Resolver};
use crate::model::event::{Creds, Image, Namespaces};

/// Where a table entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Exec,
    Fork,
    /// Seeded from /proc at start-up.
    Procfs,
}

/// One process, as of its last exec (or its fork, or the /proc scan).
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    /// CLOCK_BOOTTIME start; (pid, start_ns) names a process for good.
    pub start_ns: u64,
    /// False for /proc-seeded entries, whose start has clock-tick precision.
    pub start_exact: bool,
    /// Wall-clock start, nanoseconds since the epoch.
    pub start_time_ns: u64,
    pub image: Arc<Image>,
    pub creds: Option<Creds>,
    pub cgroup_id: Option<u64>,
    /// Who the cgroup is: a container, a systemd unit (shared by every
    /// process of the cgroup; see [`crate::model::container`]).
    pub cgroup: Option<Arc<Cgroup>>,
    /// Namespace ids at exec (or as /proc showed them at start-up).
    pub ns: Option<Namespaces>,
    pub parent: Option<Arc<Process>>,
    pub origin: Origin,
    /// Links in the parent chain below this one (0 = no parent).
    pub chain_len: u32,
    /// ECS `process.entity_id`, set at the first record written about
    /// this snapshot (`record::HostIds::entity_id`), or by the offline
    /// replay from the record it rebuilds.
    pub entity_id: std::sync::OnceLock<EntityId>,
}

/// A `process.entity_id`: 32 lower-case hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityId([u8; 32]);

impl EntityId {
    /// The hex form of 16 bytes.
    pub fn from_digest(d: &[u8]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (i, b) in d.iter().take(16).enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0xf)];
        }
        EntityId(out)
    }

    /// An id as written: exactly 32 lower-case hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| EntityId(s.as_bytes().try_into().unwrap()))
    }

    pub fn as_str(&self) -> &str {
        // Hex digits only (from_digest, parse): always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl Process {
    /// Parent, grandparent, ... as linked at creation.
    pub fn ancestors(&self) -> impl Iterator<Item = &Arc<Process>> {
        std::iter::successors(self.parent.as_ref(), |p| p.parent.as_ref())
    }

    /// Whether `start_ns` (CLOCK_BOOTTIME, from a kernel record) names this
    /// process rather than an earlier holder of the same pid.
    pub fn same_start(&self, start_ns: u64) -> bool {
        if self.start_exact {
            self.start_ns == start_ns
        } else {
            // /proc reports clock ticks (10 ms at USER_HZ=100).
            self.start_ns.abs_diff(start_ns) <= tick_ns()
        }
    }

    /// Process `pid` as `proc_root` (normally `/proc`) shows it now,
    /// without a parent link: how the agent describes itself in its
    /// `rg-agent-loss` alerts. None for kernel threads and vanished pids.
    pub fn from_proc(proc_root: &Path, pid: u32) -> Option<Process> {
        read_proc(
            proc_root,
            pid,
            clock::boot_to_wall_offset(),
            &mut Resolver::host(),
        )
    }

    /// Link `parent` below a new process, cutting the chain at `depth`.
    pub fn link_parent(parent: Option<Arc<Process>>, depth: usize) -> (Option<Arc<Process>>, u32) {
        match parent {
            None => (None, 0),
            Some(p) if depth == 0 => {
                drop(p);
                (None, 0)
            }
            Some(p) if p.chain_len as usize + 1 > depth => {
                // Keep the parent, but not the oldest ancestors: a shallow
                // copy whose chain ends `depth - 1` links further up.
                let mut cut = (*p).clone();
                let mut kept = cut.parent.take();
                let mut keep: Vec<Arc<Process>> = Vec::new();
                while let Some(a) = kept {
                    if keep.len() + 1 >= depth {
                        break;
                    }
                    kept = a.parent.clone();
                    keep.push(a);
                }
                // Rebuild the kept ancestors from the top down.
                let mut chain: Option<Arc<Process>> = None;
                let mut len = 0;
                for a in keep.into_iter().rev() {
                    let mut c = (*a).clone();
                    c.parent = chain;
                    c.chain_len = len;
                    len += 1;
                    chain = Some(Arc::new(c));
                }
                cut.parent = chain;
                cut.chain_len = len;
                (Some(Arc::new(cut)), len + 1)
            }
            Some(p) => {
                let len = p.chain_len + 1;
                (Some(p), len)
            }
        }
    }
}

/// Nanoseconds in a clock tick (USER_HZ): the precision of /proc's start
/// times.
pub fn tick_ns() -> u64 {
    use std::sync::OnceLock;
    static TICK: OnceLock<u64> = OnceLock::new();
    *TICK.get_or_init(|| {
        let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .filter(|hz| *hz > 0)
            .unwrap_or(100) as u64;
        1_000_000_000 / hz
    })
}

struct Entry {
    proc: Arc<Process>,
    last_used: u64,
}

/// The bounded table.
pub struct ProcTable {
    map: HashMap<u32, Entry>,
    max_entries: usize,
    tick: u64,
    evictions: u64,
}

impl ProcTable {
    pub fn new(max_entries: usize) -> Self {
        ProcTable {
            map: HashMap::with_capacity(max_entries.min(4096)),
            max_entries: max_entries.max(1),
            tick: 0,
            evictions: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Entries evicted because the table was full, since start.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Look up a pid and mark it recently used.
    pub fn get(&mut self, pid: u32) -> Option<&Arc<Process>> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(&pid).map(|e| {
            e.last_used = tick;
            &e.proc
        })
    }

    /// Look up a pid, only if it is the process that started at `start_ns`.
    pub fn get_same(&mut self, pid: u32, start_ns: u64) -> Option<Arc<Process>> {
        self.get(pid).filter(|p| p.same_start(start_ns)).cloned()
    }

    /// Insert or replace; evicts the least recently used eighth when full.
    pub fn insert(&mut self, proc: Arc<Process>) {
        if self.map.len() >= self.max_entries && !self.map.contains_key(&proc.pid) {
            self.evict();
        }
        self.tick += 1;
        self.map.insert(
            proc.pid,
            Entry {
                proc,
                last_used: self.tick,
            },
        );
    }

    pub fn remove(&mut self, pid: u32) -> Option<Arc<Process>> {
        self.map.remove(&pid).map(|e| e.proc)
    }

    /// O(n) once per max/8 inserts: amortized O(1).
    fn evict(&mut self) {
        self.evictions += evict_eighth(&mut self.map, self.max_entries, |e| e.last_used);
    }

    /// Seed from a procfs mount (normally `/proc`): every user-space
    /// process but `skip_pid` (the agent). Parents are linked when they
    /// were seeded too; each process's cgroup is resolved by `cgroups`.
    /// Returns how many entries were added.
    pub fn seed_from_proc(
        &mut self,
        proc_root: &Path,
        skip_pid: u32,
        ancestry_depth: usize,
        cgroups: &mut Resolver,
    ) -> usize {
        let offset = clock::boot_to_wall_offset();
        let mut found: Vec<Process> = match fs::read_dir(proc_root) {
            Ok(dir) => dir
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| *pid != skip_pid)
                .filter_map(|pid| read_proc(proc_root, pid, offset, cgroups))
                .collect(),
            Err(_) => return 0,
        };
        // Parents start before their children: insert oldest first so each
        // parent is in the table when its children are linked.
        found.sort_by_key(|p| (p.start_ns, p.pid));
        let mut added = 0;
        for mut p in found {
            if self.map.len() >= self.max_entries {
                break;
            }
            let parent = self.map.get(&p.ppid).map(|e| e.proc.clone());
            (p.parent, p.chain_len) = Process::link_parent(parent, ancestry_depth);
            self.insert(Arc::new(p));
            added += 1;
        }
        added
    }
}

/// Remove the least recently used eighth of a cache bounded at `max`
/// (`last_used` of each value: a tick); returns how many went.
pub(crate) fn evict_eighth<K: Copy + Eq + std::hash::Hash + Ord, V>(
    map: &mut HashMap<K, V>,
    max: usize,
    last_used: impl Fn(&V) -> u64,
) -> u64 {
    let n = (max / 8).max(1);
    let mut ages: Vec<(u64, K)> = map.iter().map(|(k, v)| (last_used(v), *k)).collect();
    if ages.len() > n {
        ages.select_nth_unstable(n - 1);
        ages.truncate(n);
    }
    for (_, k) in &ages {
        map.remove(k);
    }
    ages.len() as u64
}

/// Read one /proc/PID; None for kernel threads and vanished processes.
fn read_proc(root: &Path, pid: u32, offset: i128, cgroups: &mut Resolver) -> Option<Process> {
    const PF_KTHREAD: u64 = 0x0020_0000;
    let dir = root.join(pid.to_string());
    let stat = fs::read_to_string(dir.join("stat")).ok()?;
    // comm may contain spaces and parentheses: fields start after the last ')'.
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head
        .split_once('(')
        .map(|(_, c)| c.to_string())
        .unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field numbers from proc(5), minus 3 (state is field 3).
    let ppid: u32 = fields.get(1)?.parse().ok()?;
    let flags: u64 = fields.get(6)?.parse().ok()?;
    let start_ticks: u64 = fields.get(19)?.parse().ok()?;
    if flags & PF_KTHREAD != 0 {
        return None;
    }
    let start_ns = start_ticks.saturating_mul(tick_ns());

    let exe = fs::read_link(dir.join("exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let args = fs::read(dir.join("cmdline"))
        .map(|b| split_args(&b))
        .unwrap_or_default();
    let status = fs::read_to_string(dir.join("status")).unwrap_or_default();
    let ids = |key: &str| -> Option<(u32, u32)> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        let mut it = line[key.len()..]
            .split_whitespace()
            .map(|v| v.parse::<u32>());
        Some((it.next()?.ok()?, it.next()?.ok()?))
    };
    let creds = match (ids("Uid:"), ids("Gid:")) {
        (Some((uid, euid)), Some((gid, egid))) => Some(Creds {
            uid,
            gid,
            euid,
            egid,
            login_uid: read_audit_id(&dir.join("loginuid")),
            session_id: read_audit_id(&dir.join("sessionid")),
        }),
        _ => None,
    };

    let cgroup = fs::read_to_string(dir.join("cgroup"))
        .ok()
        .and_then(|text| cgroups.from_proc_text(&text, pid));
    Some(Process {
        pid,
        ppid,
        start_ns,
        start_exact: false,
        start_time_ns: clock::boot_to_wall(start_ns, offset),
        image: Arc::new(Image {
            executable: exe.clone(),
            exe,
            name,
            args,
            // Running before the agent: its environment is not read.
            env_vars: Vec::new(),
            // Its current one: the one it was started in is gone.
            working_directory: fs::read_link(dir.join("cwd"))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
            truncated: Default::default(),
            // Running before the agent: not hashed (docs/schema.md).
            hash: Default::default(),
            file: None,
        }),
        creds,
        cgroup_id: cgroup.as_ref().map(|(id, _)| *id),
        cgroup: cgroup.map(|(_, cg)| cg),
        ns: read_namespaces(&dir),
        parent: None,
        origin: Origin::Procfs,
        chain_len: 0,
        entity_id: Default::default(),
    })
}

/// `/proc/PID/{loginuid,sessionid}`: "4294967295" means unset.
fn read_audit_id(path: &Path) -> Option<u32> {
    fs::read_to_string(path)
        .ok()?
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|v| *v != u32::MAX)
}

/// `/proc/PID/ns/{pid_for_children,mnt,net,uts}`: `mnt:[4026531841]`.
/// pid_for_children, as the kernel's exec record reports it.
fn read_namespaces(dir: &Path) -> Option<Namespaces> {
    let ns = dir.join("ns");
    let id = |name: &str| -> Option<u32> {
        let link = fs::read_link(ns.join(name)).ok()?;
        let text = link.to_str()?;
        text.split_once(":[")?.1.strip_suffix(']')?.parse().ok()
    };
    Some(Namespaces {
        pid: id("pid_for_children")?,
        mnt: id("mnt")?,
        net: id("net")?,
        uts: id("uts")?,
    })
}

/// Split a NUL-separated argv area: one trailing NUL ends the last
/// argument; empty arguments in between are kept.
pub fn split_args(area: &[u8]) -> Vec<String> {
    if area.is_empty() {
        return Vec::new();
    }
    let area = area.strip_suffix(b"\0").unwrap_or(area);
    area.split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: u32, ppid: u32, parent: Option<Arc<Process>>, depth: usize) -> Arc<Process> {
        let (parent, chain_len) = Process::link_parent(parent, depth);
        Arc::new(Process {
            pid,
            ppid,
            start_ns: pid as u64 * 10,
            start_exact: true,
            start_time_ns: 0,
            image: Arc::new(Image {
                executable: format!("/bin/p{pid}"),
                ..Default::default()
            }),
            creds: None,
            cgroup_id: None,
            cgroup: None,
            ns: None,
            parent,
            origin: Origin::Exec,
            chain_len,
            entity_id: Default::default(),
        })
    }

    #[test]
    fn split_args_cases() {
        assert_eq!(split_args(b""), Vec::<String>::new());
        assert_eq!(split_args(b"a\0b\0"), vec!["a", "b"]);
        assert_eq!(split_args(b"a\0\0b\0"), vec!["a", "", "b"]);
        assert_eq!(split_args(b"a\0bc"), vec!["a", "bc"]); // cut last arg
        assert_eq!(split_args(b"\0"), vec![""]);
    }

    #[test]
    fn ancestry_chain_is_cut_at_depth() {
        let mut p = proc(1, 0, None, 3);
        for pid in 2..20 {
            p = proc(pid, pid - 1, Some(p), 3);
        }
        let chain: Vec<u32> = p.ancestors().map(|a| a.pid).collect();
        assert_eq!(chain, vec![18, 17, 16]);
        assert_eq!(p.chain_len, 3);
        // The kept ancestors still name their executables.
        assert_eq!(p.ancestors().last().unwrap().image.executable, "/bin/p16");
    }

    #[test]
    fn ancestry_chain_shorter_than_depth_is_kept_whole() {
        let a = proc(1, 0, None, 8);
        let b = proc(2, 1, Some(a), 8);
        let c = proc(3, 2, Some(b), 8);
        let chain: Vec<u32> = c.ancestors().map(|a| a.pid).collect();
        assert_eq!(chain, vec![2, 1]);
        let none = proc(4, 3, Some(c), 0);
        assert!(none.parent.is_none());
    }

    #[test]
    fn eviction_is_bounded_counted_and_lru() {
        let mut t = ProcTable::new(16);
        for pid in 1..=16 {
            t.insert(proc(pid, 0, None, 4));
        }
        // Touch 1..=2 so they are the most recently used.
        t.get(1);
        t.get(2);
        t.insert(proc(100, 0, None, 4));
        assert_eq!(t.evictions(), 2); // 16 / 8
        assert_eq!(t.len(), 15);
        assert!(t.get(1).is_some() && t.get(2).is_some() && t.get(100).is_some());
        assert!(t.get(3).is_none() && t.get(4).is_none());
        // Replacing an existing pid never evicts.
        for pid in 1..=2 {
            t.insert(proc(pid, 0, None, 4));
        }
        assert_eq!(t.evictions(), 2);
    }

    #[test]
    fn same_start_respects_precision() {
        let mut p = (*proc(5, 1, None, 4)).clone();
        assert!(p.same_start(50));
        assert!(!p.same_start(51));
        p.start_exact = false;
        assert!(p.same_start(50 + tick_ns()));
        assert!(!p.same_start(50 + tick_ns() + 1));
    }

    #[test]
    fn seeds_this_process_from_proc() {
        let me = std::process::id();
        let mut t = ProcTable::new(1 << 16);
        let n = t.seed_from_proc(Path::new("/proc"), 0, 8, &mut Resolver::host());
        assert!(n > 0);
        let p = t.get(me).expect("own process seeded").clone();
        assert_eq!(p.origin, Origin::Procfs);
        assert_eq!(p.ppid, nix::unistd::getppid().as_raw() as u32);
        assert_eq!(
            p.image.exe,
            std::env::current_exe().unwrap().to_string_lossy()
        );
        assert_eq!(p.image.args, std::env::args().collect::<Vec<_>>());
        let creds = p.creds.unwrap();
        assert_eq!(creds.uid, nix::unistd::getuid().as_raw());
        assert_eq!(creds.euid, nix::unistd::geteuid().as_raw());
        // Skipping a pid works.
        let mut t2 = ProcTable::new(1 << 16);
        t2.seed_from_proc(Path::new("/proc"), me, 8, &mut Resolver::host());
        assert!(t2.get(me).is_none());
    }
}
