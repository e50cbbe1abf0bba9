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
mod json;
mod names;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod reference_loss;
#[cfg(test)]
mod tests;

use cache::{ParentCache, Recent};
use event::write_event;
use health::HealthDoc;
use json::Json;
pub(crate) use names::{OPEN_FLAG_NAMES, SOCKET_TYPES, TRANSPORTS};

pub const SCHEMA_VERSION: u32 = 1;

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
}

impl Context {
    pub fn from_host(ancestry_depth: usize) -> Self {
        Context {
            hostname: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            agent_version: env!("CARGO_PKG_VERSION"),
            ancestry_depth,
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
}

impl LineWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append `rec` as one JSON line (with the newline) to `out`.
    pub fn write_line(
        &mut self,
        rec: &Record,
        ctx: &Context,
        out: &mut Vec<u8>,
    ) -> serde_json::Result<()> {
        let c = (&mut self.parents, &mut self.recent);
        match rec {
            Record::Event(ev) => write_event(&mut Json::new(out), c, ev, ctx, None),
            Record::Alert(a) => write_event(&mut Json::new(out), c, &a.event, ctx, Some(a)),
            Record::Health(h) => serde_json::to_writer(&mut *out, &HealthDoc::new(h, ctx))?,
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
