//! Output records and their JSON form (schema version [`SCHEMA_VERSION`]).
//!
//! Every line the agent writes is one JSON object with `schema_version`
//! and `record_type`. Field names follow the Elastic Common Schema where
//! ECS has the field; the rest live under `rand_guard.*`. docs/schema.md
//! documents every field and tests/golden pins the exact output: a change
//! here is a schema change.
//!
//! Events and alerts, one line per event, are written by hand
//! ([`write_event`] in `event.rs`, from the ECS objects of `fields.rs` and
//! the names of `names.rs`, with the small writer in `json.rs`): straight
//! from the event into the output buffer, with no intermediate copies,
//! allocations or `fmt`. Their serde form, the one they were first written
//! with, is kept in `reference.rs` as the tests' oracle: the two must give
//! the same bytes. Health records, one a minute, stay on serde
//! (`health.rs`).

use crate::model::alert::Alert;
use crate::model::event::Event;
use crate::model::health::Health;
use crate::model::stats::Kinded;

mod cache;
mod event;
mod fields;
mod health;
mod ids;
mod json;
mod names;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod reference_alert;
#[cfg(test)]
mod reference_loss;
#[cfg(test)]
mod reference_process;
#[cfg(test)]
mod reference_stdio;
#[cfg(test)]
mod reference_threat;
#[cfg(test)]
mod reference_xattr;
#[cfg(test)]
mod tests;

use cache::{ParentCache, Recent};
use event::write_event;
use health::HealthDoc;
pub use ids::HostIds;
use json::Json;
pub(crate) use names::{OPEN_FLAG_NAMES, SOCKET_TYPES, TRANSPORTS};

use crate::model::accounts::Accounts;
use crate::model::clock::Rfc3339;

/// 2: the ECS fields of issue 17 (`ecs.version`, `host.id`, `agent.id`,
/// `event.created`/`module`/`dataset`, entity ids, names, ...), `dns.id`
/// as a string, ATT&CK sub-techniques under `threat.technique.subtechnique`.
pub const SCHEMA_VERSION: u32 = 2;

/// `ecs.version`: the ECS release the records are checked against
/// (tests/ecs/fields.csv is generated from it).
pub const ECS_VERSION: &str = "9.4.0";

/// `event.module`; `event.dataset` is `rand_guard.<kind>`.
pub const EVENT_MODULE: &str = "rand_guard";

/// What the writer writes.
#[derive(Debug, Clone)]
pub enum Record {
    Event(Event),
    Alert(Alert),
    // Boxed: a health record is written once a minute, and its
    // counters would make every event and alert record as large.
    Health(Box<Health>),
}

/// Constant context stamped on every record.
#[derive(Debug, Clone)]
pub struct Context {
    pub hostname: String,
    pub agent_version: &'static str,
    /// Ancestors listed in `rand_guard.ancestry`.
    pub ancestry_depth: usize,
    /// The hook path of each loaded family (`Kernel::hook_paths`), for
    /// the health record; empty until the kernel side is loaded.
    pub hook_paths: Vec<(&'static str, String)>,
    /// `host.id`, `agent.id`, entity ids, names and `event.created`.
    pub ids: HostIds,
}

impl Context {
    /// The host's context; warnings when the host's name could not be
    /// read (this UTS namespace's is used instead) or it has no machine id.
    pub fn from_host(ancestry_depth: usize) -> (Self, Vec<String>) {
        let (hostname, warning) = host_name(std::path::Path::new("/proc"));
        let (ids, no_id) = HostIds::from_host(&hostname);
        let ctx = Context {
            hostname,
            agent_version: env!("CARGO_PKG_VERSION"),
            ancestry_depth,
            hook_paths: Vec::new(),
            ids,
        };
        (ctx, warning.into_iter().chain(no_id).collect())
    }
}

/// The host's name: the one of the host's UTS namespace, PID 1's (the
/// host's init), or kthreadd's (PID 2: kernel threads run in the kernel's
/// initial namespaces) where PID 1's is not open to us (an init that is
/// not dumpable). In a container started with the host's pids
/// (`--pid=host`) but its own UTS namespace, our own name is the
/// container's (its id, for podman). Entering the host's takes
/// CAP_SYS_ADMIN and is done on a short-lived thread (setns changes only
/// the calling thread's UTS namespace), once at start.
pub fn host_name(proc_root: &std::path::Path) -> (String, Option<String>) {
    use std::os::unix::fs::MetadataExt;
    let own = || {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let ns = |pid: &str| std::fs::metadata(proc_root.join(pid).join("ns/uts")).map(|m| m.ino());
    let Some((host, host_ns)) = ["1", "2"]
        .into_iter()
        .find_map(|pid| Some((pid, ns(pid).ok()?)))
    else {
        // Neither is visible: ours is the host's as far as we can tell.
        return (own(), None);
    };
    if ns("self").is_ok_and(|me| me == host_ns) {
        return (own(), None);
    }
    let path = proc_root.join(host).join("ns/uts");
    let entered = std::fs::File::open(&path)
        .map_err(|e| nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
        .and_then(|f| {
            std::thread::scope(|s| {
                s.spawn(|| {
                    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWUTS)?;
                    nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned())
                })
                .join()
                .unwrap_or(Err(nix::Error::EINVAL))
            })
        });
    match entered {
        Ok(name) => (name, None),
        Err(e) => {
            let name = own();
            let why = format!(
                "host.hostname: cannot enter the host's UTS namespace ({}: {e}); \
                 using this namespace's name {name:?} (run the container with --uts=host)",
                path.display()
            );
            (name, Some(why))
        }
    }
}

/// Writes records as JSON lines, reusing what it wrote for a parent
/// before (see `cache.rs`): the agent's writer keeps one for its lifetime.
/// The bytes are the same as [`write_line`]'s.
#[derive(Default)]
pub struct LineWriter {
    parents: ParentCache,
    recent: Recent,
    /// User and group names, loaded at the first record.
    accounts: Option<Accounts>,
    /// `event.created` of the records being written: the wall clock
    /// read once per batch ([`LineWriter::tick`]), and its text.
    created: Option<(u64, [u8; Rfc3339::LEN])>,
}

/// What a record is written with besides its data: the names and the
/// `event.created` text.
pub(super) struct Stamp<'a> {
    pub accounts: Option<&'a Accounts>,
    pub created: &'a [u8],
}

impl LineWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Before a batch: the clock for `event.created` (read here, once,
    /// not per record), and a look whether passwd or group changed (a
    /// stat of each at most every `accounts::RECHECK`).
    pub fn tick(&mut self, wall_ns: u64, now: std::time::Instant) {
        if let Some(a) = &mut self.accounts {
            a.refresh(now);
        }
        if self.created.is_none_or(|(n, _)| n != wall_ns) {
            self.created = Some((wall_ns, Rfc3339(wall_ns).bytes()));
        }
    }

    /// Append `rec` as one JSON line (with the newline) to `out`.
    pub fn write_line(
        &mut self,
        rec: &Record,
        ctx: &Context,
        out: &mut Vec<u8>,
    ) -> serde_json::Result<()> {
        if let (None, Some(dir)) = (&self.accounts, &ctx.ids.accounts_dir) {
            self.accounts = Some(Accounts::new(dir));
        }
        let created = match (ctx.ids.created_ns, &self.created) {
            (Some(n), _) => Rfc3339(n).bytes(),
            (None, Some((_, text))) => *text,
            // No tick yet (a one-off line): now.
            (None, None) => Rfc3339(crate::model::clock::wall_now_ns()).bytes(),
        };
        let stamp = Stamp {
            accounts: self
                .accounts
                .as_ref()
                .filter(|_| ctx.ids.accounts_dir.is_some()),
            created: &created,
        };
        let c = (&mut self.parents, &mut self.recent);
        match rec {
            Record::Event(ev) => write_event(&mut Json::new(out), c, ev, ctx, &stamp, None),
            Record::Alert(a) => write_event(&mut Json::new(out), c, &a.event, ctx, &stamp, Some(a)),
            Record::Health(h) => {
                serde_json::to_writer(&mut *out, &HealthDoc::new(h, ctx, &created))?
            }
        }
        out.push(b'\n');
        Ok(())
    }
}

/// Append `rec` as one JSON line (with the newline) to `out`: a one-off
/// line; a stream of them is cheaper through one [`LineWriter`].
pub fn write_line(rec: &Record, ctx: &Context, out: &mut Vec<u8>) -> serde_json::Result<()> {
    LineWriter::new().write_line(rec, ctx, out)
}

impl Kinded for Record {
    fn kind_name(&self) -> &'static str {
        match self {
            Record::Event(e) => e.kind_name(),
            Record::Alert(_) => "alert",
            Record::Health(_) => "health",
        }
    }
}
