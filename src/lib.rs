//! rand-guard: a small, explainable Linux EDR agent.
//!
//! Pipeline, one module per stage (see README.md for the picture):
//! [`kernel`] loads the BPF programs; [`poller`] reads the ring buffer and
//! checks each record with [`decode`]; [`normalize`] turns records into
//! [`event::Event`]s; [`enrich`] adds process context from the
//! [`proctable`]; [`detect`] passes events on (and raises alerts);
//! [`output`] writes [`record`]s as JSON lines. [`agent`] wires them;
//! [`reload`] decides what a SIGHUP changes. Beside the pipeline,
//! [`watch`] keeps the kernel's read-watch map of `[file] watch_reads`
//! inodes current. Before anything is loaded, [`hygiene`] checks the
//! owner and mode of the files the agent obeys and [`caps`] the
//! capabilities the kernel part needs.

pub mod abi;
pub mod agent;
#[cfg(test)]
mod bpf;
pub mod caps;
pub mod channel;
pub mod clock;
pub mod config;
pub mod correlate;
pub mod decode;
pub mod detect;
pub mod dns;
pub mod enrich;
pub mod event;
pub mod fault;
pub mod filter;
pub mod health;
pub mod hygiene;
pub mod kernel;
pub mod normalize;
pub mod offline;
pub mod output;
pub mod poller;
pub mod proctable;
pub mod record;
pub mod reload;
pub mod replay;
pub mod rules;
pub mod signals;
pub mod stats;
pub mod syscalls;
pub mod tamper;
#[cfg(test)]
mod testkit;
pub mod watch;
