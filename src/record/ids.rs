//! Who wrote a record and about which host and process: `host.id`,
//! `agent.id`, `process.entity_id`, and the clock of `event.created`.
//!
//! All derived from the host's machine id (/etc/machine-id, read once at
//! start), so they are stable across restarts and reinstalls of the agent
//! and need no state directory:
//! - `host.id` is the machine id itself, as Elastic Agent and Auditbeat
//!   report it, so records of different agents on one host join by it;
//! - `agent.id` is SHA-256("rand-guard agent\0" ‖ machine id), written in
//!   UUID form: one agent per host, distinct from `host.id`;
//! - `process.entity_id` is the first 128 bits, in hex, of SHA-256 of the
//!   host's entity key (SHA-256("rand-guard entity\0" ‖ machine id)), the
//!   pid and the process's start in clock ticks since boot (`/proc`'s
//!   precision, so a process seeded from `/proc` at start-up gets the id
//!   its kernel records give it). Exec keeps it (same pid, same start);
//!   the id of a pid reused later differs. Computed once per process
//!   snapshot and kept with it ([`Process::entity_id`]).
//!
//! A host without a machine id (some minimal containers) has no
//! `host.id`; its agent and entity ids are derived from its host name.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::model::proctable::{EntityId, Process, tick_ns};

/// The host's identifiers and the clock `event.created` is read from.
#[derive(Debug, Clone)]
pub struct HostIds {
    /// `host.id`: the machine id; None when the host has none.
    pub host_id: Option<String>,
    /// `agent.id`.
    pub agent_id: String,
    entity_key: [u8; 32],
    /// Where `passwd` and `group` are read for user and group names;
    /// None: names are not written.
    pub accounts_dir: Option<PathBuf>,
    /// A fixed `event.created` (tests, golden files); None: the clock
    /// when the record is written.
    pub created_ns: Option<u64>,
}

/// Where the machine id is kept: systemd's, then D-Bus's older copy.
const MACHINE_ID_FILES: &[&str] = &["/etc/machine-id", "/var/lib/dbus/machine-id"];

impl HostIds {
    /// This host's: a warning when it has no machine id.
    pub fn from_host(hostname: &str) -> (Self, Option<String>) {
        let found = MACHINE_ID_FILES
            .iter()
            .find_map(|f| machine_id(&std::fs::read_to_string(f).ok()?));
        let warning = found.is_none().then(|| {
            format!(
                "host.id: no machine id in {} (run systemd-machine-id-setup); \
                 host.id is left out and agent and process ids derive from the host name {hostname:?}",
                MACHINE_ID_FILES.join(" or ")
            )
        });
        let mut ids = Self::derive(found.as_deref(), hostname);
        ids.accounts_dir = Some(PathBuf::from("/etc"));
        (ids, warning)
    }

    /// Ids derived from `machine_id` (or, when None, `hostname`), names
    /// from `accounts_dir`, and `event.created` fixed at `created_ns`:
    /// what tests and golden files write with.
    pub fn fixed(
        machine_id: Option<&str>,
        hostname: &str,
        accounts_dir: Option<&Path>,
        created_ns: u64,
    ) -> Self {
        let mut ids = Self::derive(machine_id, hostname);
        ids.accounts_dir = accounts_dir.map(Path::to_path_buf);
        ids.created_ns = Some(created_ns);
        ids
    }

    /// For records rebuilt offline from another host's output: no host
    /// or user names of this host's, `event.created` from the clock.
    pub fn offline(hostname: &str) -> Self {
        let mut ids = Self::derive(None, hostname);
        ids.host_id = None;
        ids
    }

    /// For alerts written offline (`rules test`) about records of another
    /// host: that host's `host.id` and `agent.id` as recorded (entity ids
    /// come from the records too), no names, `event.created` the clock.
    pub fn recorded(hostname: &str, host_id: Option<String>, agent_id: String) -> Self {
        let mut ids = Self::derive(None, hostname);
        ids.host_id = host_id;
        ids.agent_id = agent_id;
        ids
    }

    fn derive(machine_id: Option<&str>, hostname: &str) -> Self {
        let seed = machine_id.unwrap_or(hostname);
        let agent: [u8; 32] = Sha256::new()
            .chain_update(b"rand-guard agent\0")
            .chain_update(seed.as_bytes())
            .finalize()
            .into();
        let entity_key: [u8; 32] = Sha256::new()
            .chain_update(b"rand-guard entity\0")
            .chain_update(seed.as_bytes())
            .finalize()
            .into();
        HostIds {
            host_id: machine_id.map(str::to_string),
            agent_id: uuid_form(&agent),
            entity_key,
            accounts_dir: None,
            created_ns: None,
        }
    }

    /// `p`'s entity id: computed at its first record, kept with it.
    pub fn entity_id<'p>(&self, p: &'p Process) -> &'p str {
        p.entity_id
            .get_or_init(|| self.compute(p.pid, p.start_ns))
            .as_str()
    }

    fn compute(&self, pid: u32, start_ns: u64) -> EntityId {
        let ticks = start_ns / tick_ns();
        let d = Sha256::new()
            .chain_update(self.entity_key)
            .chain_update(pid.to_le_bytes())
            .chain_update(ticks.to_le_bytes())
            .finalize();
        EntityId::from_digest(&d[..16])
    }
}

/// A machine id: 32 hex digits on the file's first line.
fn machine_id(text: &str) -> Option<String> {
    let id = text.lines().next()?.trim();
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_ascii_lowercase())
}

/// The first 128 bits of `h` as `8-4-4-4-12` hex digits.
fn uuid_form(h: &[u8; 32]) -> String {
    let hex: String = h[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit;

    const MID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn machine_id_shapes() {
        assert_eq!(machine_id(&format!("{MID}\n")).as_deref(), Some(MID));
        assert_eq!(
            machine_id("0123456789ABCDEF0123456789ABCDEF\n").as_deref(),
            Some(MID)
        );
        assert_eq!(machine_id(""), None);
        assert_eq!(machine_id("uninitialized\n"), None);
        assert_eq!(machine_id(&MID[..31]), None);
    }

    #[test]
    fn ids_are_stable_and_distinct_per_host() {
        let a = HostIds::fixed(Some(MID), "h", None, 0);
        let b = HostIds::fixed(Some(MID), "other-name", None, 0);
        let c = HostIds::fixed(Some(&MID.replace('0', "f")), "h", None, 0);
        assert_eq!(a.host_id.as_deref(), Some(MID));
        assert_eq!(a.agent_id, b.agent_id, "the host name does not matter");
        assert_ne!(a.agent_id, c.agent_id);
        assert_eq!(a.agent_id.len(), 36);
        assert_eq!(a.agent_id.matches('-').count(), 4);
        assert_eq!(a.compute(7, 5_000_000_000), b.compute(7, 5_000_000_000));
        assert_ne!(a.compute(7, 5_000_000_000), c.compute(7, 5_000_000_000));
        let none = HostIds::fixed(None, "h", None, 0);
        assert_eq!(none.host_id, None);
        assert_ne!(none.agent_id, a.agent_id);
    }

    #[test]
    fn entity_id_is_per_pid_and_start_tick() {
        let ids = HostIds::fixed(Some(MID), "h", None, 0);
        let tick = tick_ns();
        let start = 1_000 * tick + tick / 3;
        let id = ids.compute(42, start);
        assert_eq!(id.as_str().len(), 32);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        // /proc's start (whole ticks) names the same process.
        assert_eq!(ids.compute(42, 1_000 * tick), id);
        // Another pid, or the same pid started later, is another process.
        assert_ne!(ids.compute(43, start), id);
        assert_ne!(ids.compute(42, start + tick), id);
        // Kept with the process: computed once, the same from any writer.
        let p = testkit::process(42, "/bin/x", &["x"], None);
        let first = ids.entity_id(&p).to_string();
        assert_eq!(first, ids.compute(42, p.start_ns).as_str());
        let other = HostIds::fixed(Some(&MID.replace('0', "f")), "h", None, 0);
        assert_eq!(other.entity_id(&p), first, "cached with the process");
    }
}
