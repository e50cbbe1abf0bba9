//! The stages in the order records flow through them, each on its own
//! thread, joined by bounded [`channel`]s: [`poller`] (ring buffer → raw
//! batches), [`normalize`] (raw records → events), [`enrich`] (process
//! context), then the detector ([`crate::detect`]), then [`output`] (JSON
//! lines to the file or stdout; [`forward`] sends them to a syslog collector
//! too). [`watch`] keeps the kernel's read-watch
//! map current beside them; [`metrics`] serves the counters to Prometheus;
//! [`fault`] is the debug builds' fault injection.

pub mod channel;
pub mod enrich;
pub mod fault;
pub mod forward;
pub mod hasher;
pub mod metrics;
pub mod normalize;
pub mod output;
pub mod poller;
pub mod watch;
