//! What flows between the stages: the normalized [`event::Event`], the
//! process table it is enriched from, the agent's counters ([`stats`]) and
//! the health snapshot made of them, the clocks, DNS queries. Imports the
//! kernel's ABI mirror and the config, nothing from the stages.

pub mod accounts;
pub mod alert;
pub mod caps;
pub mod clock;
pub mod container;
pub mod dns;
pub mod event;
pub mod hash;
pub mod health;
pub mod proctable;
pub mod stats;
