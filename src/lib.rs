//! rand-guard: a small, explainable Linux EDR agent.
//!
//! The folders draw the data flow (docs/architecture.md has the picture):
//!
//! ```text
//! kernel ──ring buffer──▶ pipeline: poller → normalize → enrich ─▶ detect ─▶ pipeline::output
//!   (load, ABI, decode)          (events and process context)   (alerts)     (record JSON lines)
//! ```
//!
//! - [`config`]: validated settings; the bottom layer, importing nothing
//!   from the stages.
//! - [`kernel`]: loads the BPF programs, the ABI mirror of
//!   `include/edr_abi.h`, the decoder that checks each raw record.
//! - [`model`]: what flows between the stages: events, the process table,
//!   alerts, counters and the health snapshot, clocks, DNS queries.
//! - [`record`]: the records the agent writes and their JSON form.
//! - [`pipeline`]: the stages in order and the channels between them, plus
//!   the read-watch upkeep beside them.
//! - [`detect`]: the detector stage and what it runs: built-in detections,
//!   correlation, self-protection, the filter, user rules.
//! - [`agent`]: wiring for `rand-guard run`: start-up checks, the threads,
//!   signals and reload.
//! - [`offline`]: `rand-guard rules check|test`: rules replayed against
//!   recorded events without a kernel.
//!
//! Each module imports only from those listed before it (tests/layout.rs).

// Low to high, in the order data flows; one group each so that rustfmt
// keeps the order.
pub mod config;

pub mod kernel;

pub mod model;

pub mod record;

pub mod pipeline;

pub mod detect;

pub mod agent;

pub mod offline;

#[cfg(test)]
mod testkit;
