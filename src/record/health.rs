//! The health record: serde, one a minute, not the hot path.

use serde::Serialize;
use serde::ser::Serializer;

use super::{Context, ECS_VERSION, EVENT_MODULE, SCHEMA_VERSION};
use crate::kernel::ProgramStats;
use crate::model::clock::Rfc3339;
use crate::model::health::Health;

#[derive(Serialize)]
pub(super) struct HealthDoc<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: Rfc3339,
    schema_version: u32,
    record_type: &'static str,
    ecs: EcsMeta,
    event: HealthMeta<'a>,
    agent: AgentMeta<'a>,
    host: HostMeta<'a>,
    rand_guard: HealthRg<'a>,
}

#[derive(Serialize)]
pub(super) struct EcsMeta {
    pub(super) version: &'static str,
}

#[derive(Serialize)]
struct HealthMeta<'a> {
    kind: &'static str,
    /// `host`: ECS's category for the state of a host's software, whose
    /// allowed types include `info`.
    category: [&'static str; 1],
    #[serde(rename = "type")]
    type_: [&'static str; 1],
    action: &'static str,
    created: &'a str,
    module: &'static str,
    dataset: &'static str,
}

#[derive(Serialize)]
struct HealthRg<'a> {
    health: HealthBody<'a>,
}

#[derive(Serialize)]
struct HealthBody<'a> {
    /// True for the record written at shutdown, after the drain.
    last: bool,
    uptime_seconds: u64,
    rss_bytes: u64,
    raw_events_total: u64,
    raw_events_by_kind_total: PerKind<'a>,
    events_output_total: u64,
    alerts_output_total: u64,
    alerts_output_by_severity_total: PerKind<'a>,
    userspace_filtered_total: u64,
    userspace_rate_limited_total: u64,
    invalid_schema_total: u64,
    unsupported_kind_total: u64,
    output_failures_total: u64,
    output_errors_total: u64,
    output_buffered_bytes: u64,
    output_buffer_drops_total: PerKind<'a>,
    output_buffer_drops_by_kind_total: PerKind<'a>,
    rules_loaded: u64,
    rules_skipped: u64,
    rules_reloads_total: u64,
    rules_reload_failures_total: u64,
    config_reloads_total: u64,
    config_reload_failures_total: u64,
    correlation_state_size: u64,
    correlation_evictions_total: u64,
    kernel_ringbuf_drops_total: PerKind<'a>,
    kernel_filtered_total: PerKind<'a>,
    kernel_failed_total: PerKind<'a>,
    kernel_path_unreadable_total: PerKind<'a>,
    channel_full_drops_total: PerKind<'a>,
    channel_full_drops_by_kind_total: PerKind<'a>,
    process_table_size: u64,
    process_table_evictions_total: u64,
    cgroup_cache_size: u64,
    cgroup_cache_evictions_total: u64,
    cgroup_unresolved_total: u64,
    cgroup_tree_walks_total: u64,
    container_metadata_errors_total: u64,
    read_watch_files: u64,
    read_watch_updates_total: u64,
    forward_messages_total: u64,
    forward_resent_total: u64,
    forward_errors_total: u64,
    forward_queued_records: u64,
    forward_connected: u64,
    forward_drops_total: PerKind<'a>,
    hash_files_hashed_total: u64,
    hash_cache_hits_total: u64,
    hash_cache_entries: u64,
    hash_cache_evictions_total: u64,
    /// Execs whose file was not hashed, by reason.
    hash_not_hashed_total: PerKind<'a>,
    /// `{"process": "tp_btf", "file": "fentry", ...}`: how each loaded
    /// family is hooked (`[kernel] hooks`).
    hook_paths: HookPaths<'a>,
    /// While `kernel.bpf_stats_enabled` is 1: what each program cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    bpf_programs: Option<Programs<'a>>,
}

/// `{"edr_file": {"run_count_total": N, "run_time_ns_total": T}, ...}`
struct Programs<'a>(&'a [ProgramStats]);

#[derive(Serialize)]
struct ProgramDoc {
    run_count_total: u64,
    run_time_ns_total: u64,
}

impl Serialize for Programs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|p| {
            (
                p.name.as_str(),
                ProgramDoc {
                    run_count_total: p.run_count,
                    run_time_ns_total: p.run_time_ns,
                },
            )
        }))
    }
}

struct HookPaths<'a>(&'a [(&'static str, String)]);

impl Serialize for HookPaths<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(f, p)| (*f, p.as_str())))
    }
}

/// `{"exec": 0, "fork": 0, ...}`: one counter per record kind.
pub(super) struct PerKind<'a>(pub(super) &'a [(&'static str, u64)]);

impl Serialize for PerKind<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (*k, *v)))
    }
}

impl<'a> HealthDoc<'a> {
    /// `created`: the `event.created` text.
    pub(super) fn new(h: &'a Health, ctx: &'a Context, created: &'a [u8]) -> Self {
        let c = &h.counters;
        HealthDoc {
            timestamp: Rfc3339(h.time_ns),
            schema_version: SCHEMA_VERSION,
            record_type: "health",
            ecs: EcsMeta {
                version: ECS_VERSION,
            },
            event: HealthMeta {
                kind: "metric",
                category: ["host"],
                type_: ["info"],
                action: "health",
                created: std::str::from_utf8(created).unwrap_or_default(),
                module: EVENT_MODULE,
                dataset: "rand_guard.health",
            },
            agent: AgentMeta::of(ctx),
            host: HostMeta::of(ctx),
            rand_guard: HealthRg {
                health: HealthBody {
                    last: h.last,
                    uptime_seconds: h.uptime_seconds,
                    rss_bytes: h.rss_bytes,
                    raw_events_total: c.raw_events_total,
                    raw_events_by_kind_total: PerKind(&c.raw_events_by_kind_total),
                    events_output_total: c.events_output_total,
                    alerts_output_total: c.alerts_output_total,
                    alerts_output_by_severity_total: PerKind(&c.alerts_output_by_severity_total),
                    userspace_filtered_total: c.userspace_filtered_total,
                    userspace_rate_limited_total: c.rate_limited_total,
                    invalid_schema_total: c.invalid_schema_total,
                    unsupported_kind_total: c.unsupported_kind_total,
                    output_failures_total: c.output_failures_total,
                    output_errors_total: c.output_errors_total,
                    output_buffered_bytes: c.output_buffered_bytes,
                    output_buffer_drops_total: PerKind(&c.output_buffer_drops_total),
                    output_buffer_drops_by_kind_total: PerKind(
                        &c.output_buffer_drops_by_kind_total,
                    ),
                    rules_loaded: c.rules_loaded,
                    rules_skipped: c.rules_skipped,
                    rules_reloads_total: c.rules_reloads_total,
                    rules_reload_failures_total: c.rules_reload_failures_total,
                    config_reloads_total: c.config_reloads_total,
                    config_reload_failures_total: c.config_reload_failures_total,
                    correlation_state_size: c.correlation_state_size,
                    correlation_evictions_total: c.correlation_evictions_total,
                    kernel_ringbuf_drops_total: PerKind(&c.kernel_ringbuf_drops_total),
                    kernel_filtered_total: PerKind(&c.kernel_filtered_total),
                    kernel_failed_total: PerKind(&c.kernel_failed_total),
                    kernel_path_unreadable_total: PerKind(&c.kernel_path_unreadable_total),
                    channel_full_drops_total: PerKind(&c.channel_full_drops_total),
                    channel_full_drops_by_kind_total: PerKind(&c.channel_full_drops_by_kind_total),
                    process_table_size: c.proc_table_size,
                    process_table_evictions_total: c.proc_table_evictions_total,
                    cgroup_cache_size: c.cgroup_cache_size,
                    cgroup_cache_evictions_total: c.cgroup_cache_evictions_total,
                    cgroup_unresolved_total: c.cgroup_unresolved_total,
                    cgroup_tree_walks_total: c.cgroup_tree_walks_total,
                    container_metadata_errors_total: c.container_metadata_errors_total,
                    read_watch_files: c.read_watch_files,
                    read_watch_updates_total: c.read_watch_updates_total,
                    forward_messages_total: c.forward_messages_total,
                    forward_resent_total: c.forward_resent_total,
                    forward_errors_total: c.forward_errors_total,
                    forward_queued_records: c.forward_queued_records,
                    forward_connected: c.forward_connected,
                    forward_drops_total: PerKind(&c.forward_drops_total),
                    hash_files_hashed_total: c.hash.hashed_total,
                    hash_cache_hits_total: c.hash.cache_hits_total,
                    hash_cache_entries: c.hash.cache_entries,
                    hash_cache_evictions_total: c.hash.cache_evictions_total,
                    hash_not_hashed_total: PerKind(&c.hash.not_hashed_total),
                    hook_paths: HookPaths(&ctx.hook_paths),
                    bpf_programs: c.programs.as_deref().map(Programs),
                },
            },
        }
    }
}

#[derive(Serialize)]
pub(super) struct AgentMeta<'a> {
    #[serde(rename = "type")]
    type_: &'static str,
    version: &'a str,
    id: &'a str,
}

impl<'a> AgentMeta<'a> {
    pub(super) fn of(ctx: &'a Context) -> Self {
        AgentMeta {
            type_: "rand-guard",
            version: ctx.agent_version,
            id: &ctx.ids.agent_id,
        }
    }
}

#[derive(Serialize)]
pub(super) struct HostMeta<'a> {
    hostname: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    os: OsMeta,
}

#[derive(Serialize)]
struct OsMeta {
    #[serde(rename = "type")]
    type_: &'static str,
}

impl<'a> HostMeta<'a> {
    pub(super) fn of(ctx: &'a Context) -> Self {
        HostMeta {
            hostname: &ctx.hostname,
            name: &ctx.hostname,
            id: ctx.ids.host_id.as_deref(),
            os: OsMeta { type_: "linux" },
        }
    }
}
