//! Who runs a process: its cgroup id → cgroup path → container or
//! systemd unit.
//!
//! In: the cgroup v2 id of an exec record (the inode of the cgroup's
//! directory under the cgroup2 mount) and the exec'ing pid.
//! Out: a shared [`Cgroup`] the process table hangs on the process.
//! Counts: cache size and evictions, ids whose path was not found, tree
//! walks, metadata files that could not be used ([`Counters`]).
//!
//! Resolution runs on the enricher thread, once per new cgroup id: a
//! known id is one hash lookup and no syscall. A new id is looked up in
//! `/proc/PID/cgroup` of the process that exec'd (checked against the
//! inode of that directory), or, when the process is already gone, by
//! walking the cgroup2 tree once (at most one walk per second); an id
//! still not found is tried again only after [`MISS_RETRY`]. The
//! container's name and image come from the runtime's files ([`meta`]),
//! read once per container; its overlay upper directory (for the drift
//! detection) from the mountinfo of its first execs ([`UPPER_TRIES`]).

pub mod meta;
pub mod path;

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use meta::MetaRoots;

/// Cgroups remembered; each is small (a path and a few names).
pub const CACHE_ENTRIES: usize = 4096;
/// Directories a tree walk visits at most (a Kubernetes node runs a few
/// thousand cgroups).
const WALK_MAX_DIRS: usize = 65_536;
/// Least time between two tree walks.
const WALK_INTERVAL: Duration = Duration::from_secs(1);
/// Least time before an id not found is looked for again.
pub const MISS_RETRY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Docker,
    Containerd,
    CriO,
    Podman,
}

impl Runtime {
    /// ECS `container.runtime`.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
            Runtime::Podman => "podman",
        }
    }

    pub fn parse(s: &str) -> Option<Runtime> {
        [
            Runtime::Docker,
            Runtime::Containerd,
            Runtime::CriO,
            Runtime::Podman,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    pub runtime: Runtime,
    pub name: Option<String>,
    pub image_name: Option<String>,
    /// Kubernetes pod uid, when the cgroup sits in a pod.
    pub pod_uid: Option<String>,
    /// The overlay upper directory of the container's root (a host
    /// path): what was written in the container since it started. From
    /// the mountinfo of its processes' first execs (see
    /// [`UPPER_TRIES`]); None until found, or when the root is no
    /// overlay.
    pub upper_dir: Option<String>,
}

/// One cgroup, as the agent describes the processes in it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cgroup {
    /// The cgroup v2 path, from the cgroup2 mount's root.
    pub path: String,
    pub container: Option<Container>,
    pub systemd_unit: Option<String>,
}

impl Cgroup {
    /// The identity `path` names; the container's names from `roots`.
    /// A metadata error leaves the names out and is returned beside.
    pub fn from_path(path: &str, roots: &MetaRoots) -> (Cgroup, Option<meta::MetaError>) {
        let info = path::parse(path);
        let mut err = None;
        let container = info.container.map(|(runtime, id)| {
            let names = meta::names(roots, runtime, &id).unwrap_or_else(|e| {
                err = Some(e);
                meta::Names::default()
            });
            Container {
                id,
                runtime,
                name: names.name,
                image_name: names.image_name,
                pod_uid: info.pod_uid,
                upper_dir: None,
            }
        });
        let cg = Cgroup {
            path: path.to_string(),
            container,
            systemd_unit: info.systemd_unit,
        };
        (cg, err)
    }
}

/// The resolver's counters, published in health.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub cache_size: u64,
    pub evictions: u64,
    pub unresolved: u64,
    pub walks: u64,
    pub metadata_errors: u64,
}

/// Execs of a container whose mountinfo is read for its upper directory
/// until one names it: the first exec in a new container is often the
/// runtime's own (runc's init, before it enters the container's root),
/// and a container whose root is no overlay must not cost a read per
/// exec for ever.
pub const UPPER_TRIES: u8 = 4;

struct Entry {
    cg: Arc<Cgroup>,
    last_used: u64,
    /// Reads of a process's mountinfo left to find the upper directory.
    upper_tries: u8,
}

/// The bounded cgroup id → [`Cgroup`] cache and how it fills.
pub struct Resolver {
    /// Where cgroup2 is mounted; None on a v1-only host (no attribution).
    root: Option<PathBuf>,
    proc_root: PathBuf,
    roots: MetaRoots,
    cache: HashMap<u64, Entry>,
    max_entries: usize,
    tick: u64,
    /// Paths the last walk found that are not cached yet, by id.
    walked: HashMap<u64, String>,
    last_walk: Option<Instant>,
    /// The id the last `path_from_walk` call walked the tree for (None:
    /// it was answered from the previous walk or skipped).
    walked_for: Option<u64>,
    /// Ids not found, and when (bounded: cleared when full).
    missed: HashMap<u64, Instant>,
    counters: Counters,
}

impl Resolver {
    /// The host's resolver: cgroup2 as `/proc/self/mountinfo` shows it.
    pub fn host() -> Resolver {
        Resolver::new(
            cgroup2_mount(Path::new("/proc/self/mountinfo")),
            PathBuf::from("/proc"),
            MetaRoots::default(),
            CACHE_ENTRIES,
        )
    }

    /// A resolver that resolves nothing (tests, replay).
    pub fn disabled() -> Resolver {
        Resolver::new(None, PathBuf::new(), MetaRoots::default(), 1)
    }

    pub fn new(
        root: Option<PathBuf>,
        proc_root: PathBuf,
        roots: MetaRoots,
        max_entries: usize,
    ) -> Resolver {
        Resolver {
            root,
            proc_root,
            roots,
            cache: HashMap::new(),
            max_entries: max_entries.max(1),
            tick: 0,
            walked: HashMap::new(),
            last_walk: None,
            walked_for: None,
            missed: HashMap::new(),
            counters: Counters::default(),
        }
    }

    pub fn counters(&self) -> Counters {
        Counters {
            cache_size: self.cache.len() as u64,
            ..self.counters
        }
    }

    /// The cgroup `id` of a process `pid` that is running (or just was).
    /// None on a v1-only host and for an id whose path cannot be found
    /// (counted). The root cgroup (`/`) resolves to a [`Cgroup`] with
    /// neither container nor unit.
    pub fn lookup(&mut self, id: u64, pid: u32) -> Option<Arc<Cgroup>> {
        self.tick += 1;
        if let Some(e) = self.cache.get_mut(&id) {
            e.last_used = self.tick;
            if e.upper_tries > 0 {
                e.upper_tries -= 1;
                if let Some(cg) = with_upper(&self.proc_root, &e.cg, pid) {
                    e.cg = Arc::new(cg);
                    e.upper_tries = 0;
                }
            }
            return Some(e.cg.clone());
        }
        let root = self.root.clone()?;
        // An id not found lately is not looked for again on every exec
        // (an agent without the host's cgroup tree would otherwise read
        // /proc at each one).
        if self
            .missed
            .get(&id)
            .is_some_and(|t| t.elapsed() < MISS_RETRY)
        {
            self.counters.unresolved += 1;
            return None;
        }
        let path = match self.path_from_proc(&root, id, pid) {
            Some(p) => Some(p),
            None => self.path_from_walk(&root, id),
        };
        let Some(path) = path else {
            self.counters.unresolved += 1;
            // Only a walk that looked and did not find the id makes it a
            // miss for MISS_RETRY: a walk skipped by WALK_INTERVAL (another
            // id was walked for just before: two containers starting
            // together) must not hide a new container's cgroup for 10 s.
            if self.walked_for == Some(id) {
                if self.missed.len() >= self.max_entries {
                    self.missed.clear();
                }
                self.missed.insert(id, Instant::now());
            }
            return None;
        };
        self.missed.remove(&id);
        Some(self.insert(id, &path, pid))
    }

    /// The cgroup of a /proc/PID/cgroup text (seeding from /proc): its id
    /// and identity. None on a v1-only host or a vanished cgroup.
    pub fn from_proc_text(&mut self, text: &str, pid: u32) -> Option<(u64, Arc<Cgroup>)> {
        let root = self.root.as_ref()?;
        let p = path::v2_path(text)?;
        let id = fs::metadata(join(root, p)).ok()?.ino();
        if let Some(e) = self.cache.get(&id) {
            return Some((id, e.cg.clone()));
        }
        Some((id, self.insert(id, p, pid)))
    }

    fn path_from_proc(&self, root: &Path, id: u64, pid: u32) -> Option<String> {
        let text = fs::read_to_string(self.proc_root.join(pid.to_string()).join("cgroup")).ok()?;
        let p = path::v2_path(&text)?;
        // The process may have moved since the record was made.
        (fs::metadata(join(root, p)).ok()?.ino() == id).then(|| p.to_string())
    }

    /// The path of `id` from the last walk, or from a new one if
    /// WALK_INTERVAL allows; `walked_for` says whether this call walked.
    fn path_from_walk(&mut self, root: &Path, id: u64) -> Option<String> {
        self.walked_for = None;
        if let Some(p) = self.walked.remove(&id) {
            return Some(p);
        }
        if self.last_walk.is_some_and(|t| t.elapsed() < WALK_INTERVAL) {
            return None;
        }
        self.walked_for = Some(id);
        self.last_walk = Some(Instant::now());
        self.counters.walks += 1;
        self.walked = walk(root, self.max_entries);
        self.walked.remove(&id)
    }

    fn insert(&mut self, id: u64, path: &str, pid: u32) -> Arc<Cgroup> {
        if self.cache.len() >= self.max_entries {
            self.evict();
        }
        let (mut cg, err) = Cgroup::from_path(path, &self.roots);
        if err.is_some() {
            self.counters.metadata_errors += 1;
        }
        let mut upper_tries = 0;
        if cg.container.is_some() {
            match with_upper(&self.proc_root, &cg, pid) {
                Some(found) => cg = found,
                None => upper_tries = UPPER_TRIES - 1,
            }
        }
        let cg = Arc::new(cg);
        self.cache.insert(
            id,
            Entry {
                cg: cg.clone(),
                last_used: self.tick,
                upper_tries,
            },
        );
        cg
    }

    /// The least recently used eighth: O(n) once per n/8 inserts.
    fn evict(&mut self) {
        self.counters.evictions +=
            crate::model::proctable::evict_eighth(&mut self.cache, self.max_entries, |e| {
                e.last_used
            });
    }
}

/// `cg` with its container's upper directory, as the mountinfo of `pid`
/// (a process in it) names it; None when it does not.
fn with_upper(proc_root: &Path, cg: &Cgroup, pid: u32) -> Option<Cgroup> {
    let text = fs::read_to_string(proc_root.join(pid.to_string()).join("mountinfo")).ok()?;
    let upper = meta::upper_dir(&text)?;
    let mut cg = cg.clone();
    cg.container.as_mut()?.upper_dir = Some(upper);
    Some(cg)
}

/// `root` + an absolute cgroup path.
fn join(root: &Path, cgroup_path: &str) -> PathBuf {
    root.join(cgroup_path.trim_start_matches('/'))
}

/// Every directory under the cgroup2 mount, by inode (the cgroup id), up
/// to `max` entries and [`WALK_MAX_DIRS`] visited.
fn walk(root: &Path, max: usize) -> HashMap<u64, String> {
    let mut found = HashMap::new();
    if let Ok(m) = fs::metadata(root) {
        found.insert(m.ino(), String::from("/"));
    }
    let mut stack = vec![String::from("/")];
    let mut visited = 0;
    while let Some(p) = stack.pop() {
        visited += 1;
        if visited > WALK_MAX_DIRS || found.len() >= max {
            break;
        }
        let Ok(dir) = fs::read_dir(join(root, &p)) else {
            continue;
        };
        for e in dir.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let child = if p == "/" {
                format!("/{name}")
            } else {
                format!("{p}/{name}")
            };
            if let Ok(m) = e.metadata() {
                found.insert(m.ino(), child.clone());
            }
            stack.push(child);
        }
    }
    found
}

/// The first cgroup2 mount point in a mountinfo file.
pub fn cgroup2_mount(mountinfo: &Path) -> Option<PathBuf> {
    let text = fs::read_to_string(mountinfo).ok()?;
    text.lines().find_map(|l| {
        // Fields: id parent major:minor root mountpoint opts... - fstype src opts
        let (left, right) = l.split_once(" - ")?;
        let point = left.split(' ').nth(4)?;
        (right.split(' ').next()? == "cgroup2").then(|| PathBuf::from(point.replace("\\040", " ")))
    })
}

#[cfg(test)]
mod tests;
