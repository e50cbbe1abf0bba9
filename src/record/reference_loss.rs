//! The serde form of `rand_guard.loss` (rg-agent-loss alerts), part of
//! the tests' oracle in `reference.rs` (a file of its own to keep that
//! one short).

use serde::Serialize;

use super::health::PerKind;
use crate::model::clock::Rfc3339;
use crate::model::event::LossBody;

/// Records the agent lost; empty lists are left out.
#[derive(Serialize)]
pub(super) struct LossDoc<'a> {
    since: Rfc3339,
    records: u64,
    #[serde(skip_serializing_if = "none")]
    kernel_ringbuf_drops: PerKind<'a>,
    #[serde(skip_serializing_if = "none")]
    channel_full_drops: PerKind<'a>,
    #[serde(skip_serializing_if = "none")]
    channel_full_drops_by_kind: PerKind<'a>,
    #[serde(skip_serializing_if = "none")]
    output_buffer_drops: PerKind<'a>,
    #[serde(skip_serializing_if = "none")]
    output_buffer_drops_by_kind: PerKind<'a>,
}

fn none(l: &PerKind<'_>) -> bool {
    l.0.is_empty()
}

impl<'a> LossDoc<'a> {
    pub(super) fn new(l: &'a LossBody) -> Self {
        let lost = &l.lost;
        LossDoc {
            since: Rfc3339(l.since_ns),
            records: lost.records(),
            kernel_ringbuf_drops: PerKind(&lost.kernel_ringbuf_drops),
            channel_full_drops: PerKind(&lost.channel_full_drops),
            channel_full_drops_by_kind: PerKind(&lost.channel_full_drops_by_kind),
            output_buffer_drops: PerKind(&lost.output_buffer_drops),
            output_buffer_drops_by_kind: PerKind(&lost.output_buffer_drops_by_kind),
        }
    }
}
