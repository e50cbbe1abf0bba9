//! `[output]`, `[kernel]`, `[process_table]`, `[pipeline]`, `[health]`
//! and `[events]`: how records flow from the kernel to the output.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Output {
    /// `-` for stdout, else a file path (created 0600, or made private
    /// when it exists; appended to).
    pub path: String,
    /// Bytes of records kept while the output is failing; what comes
    /// beyond is dropped and counted (`output_buffer_drops_total`).
    pub buffer_bytes: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Kernel {
    /// Ring buffer size: a power of two between 64 KiB and 1 GiB.
    pub ring_buffer_bytes: u32,
    /// Pending bytes at which the kernel wakes the reader early; below it
    /// the reader finds records on its 100 ms poll.
    pub wakeup_bytes: u32,
    /// Which kernel hooks the file, stdio, network and DNS families use
    /// (`kernel::fast`).
    pub hooks: HookPath,
}

/// `[kernel] hooks`: where file, stdio, network and DNS telemetry is
/// hooked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum HookPath {
    /// fentry where the kernel allows it, per hook; the syscall exit
    /// tracepoint where it does not.
    #[default]
    Auto,
    /// The syscall exit tracepoints only.
    Tracepoint,
    /// fentry/fexit only: a hook that cannot load or attach ends start-up.
    Fentry,
}

impl TryFrom<String> for HookPath {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        Ok(match s.as_str() {
            "auto" => HookPath::Auto,
            "tracepoint" => HookPath::Tracepoint,
            "fentry" => HookPath::Fentry,
            // Named in the issue; refused rather than taken and ignored.
            "lsm" => {
                return Err(
                    "\"lsm\" is not available yet: no family has a BPF LSM path \
                            (use \"auto\", \"tracepoint\" or \"fentry\")"
                        .into(),
                );
            }
            _ => {
                return Err(format!(
                    "must be \"auto\", \"tracepoint\" or \"fentry\", got {s:?}"
                ));
            }
        })
    }
}

impl HookPath {
    pub fn as_str(self) -> &'static str {
        match self {
            HookPath::Auto => "auto",
            HookPath::Tracepoint => "tracepoint",
            HookPath::Fentry => "fentry",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessTable {
    /// Most processes tracked; the least recently used are evicted beyond.
    pub max_entries: u32,
    /// Ancestors kept per process and listed in `rand_guard.ancestry`.
    pub ancestry_depth: u32,
}

/// The deepest `process_table.ancestry_depth` allowed.
pub const ANCESTRY_DEPTH_MAX: u32 = 64;

/// What a pipeline stage does when the next one is full (`[pipeline]
/// backpressure`; the behaviour is in `pipeline::channel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backpressure {
    #[default]
    Block,
    Drop,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pipeline {
    /// Batches each inter-stage channel holds before the sender waits.
    pub channel_capacity: u32,
    /// What a stage does when the next one is full: `block` (wait; loss
    /// moves to the kernel ring buffer, counted there) or `drop` (drop the
    /// batch, counted per stage).
    pub backpressure: Backpressure,
    /// After SIGTERM/SIGINT, how long the pipeline may take to write out
    /// what it has read; then what is still in flight is dropped and
    /// counted, so a stuck output cannot hold the agent.
    pub shutdown_timeout_seconds: u32,
}

impl Default for Output {
    fn default() -> Self {
        Output {
            path: "-".into(),
            buffer_bytes: 64 << 20,
        }
    }
}

impl Default for Kernel {
    fn default() -> Self {
        Kernel {
            ring_buffer_bytes: 8 << 20,
            wakeup_bytes: 256 << 10,
            hooks: HookPath::Auto,
        }
    }
}

impl Default for ProcessTable {
    fn default() -> Self {
        ProcessTable {
            max_entries: 65536,
            ancestry_depth: 8,
        }
    }
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline {
            channel_capacity: 64,
            backpressure: Backpressure::Block,
            shutdown_timeout_seconds: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Seconds between health records (one more is written at shutdown).
    pub interval_seconds: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            interval_seconds: 60,
        }
    }
}

/// Which event records are written. Unset: a family's events are written
/// when it is collected. `false`: not written (the family still feeds
/// detections; the dropped events count as userspace-filtered). `true`:
/// written, and the family must be collected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Events {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<bool>,
}

impl Output {
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.path.is_empty() {
            return Err(("output.path", "must be `-` (stdout) or a file path".into()));
        }
        // At least a few write chunks: a working output never holds more
        // than one chunk and a record.
        if !(256 << 10..=1 << 30).contains(&self.buffer_bytes) {
            return Err((
                "output.buffer_bytes",
                format!(
                    "must be from 262144 to 1073741824, got {}",
                    self.buffer_bytes
                ),
            ));
        }
        Ok(())
    }
}

impl Kernel {
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        let rb = self.ring_buffer_bytes;
        if !rb.is_power_of_two() || !(64 << 10..=1 << 30).contains(&rb) {
            return Err((
                "kernel.ring_buffer_bytes",
                format!("must be a power of two from 65536 to 1073741824, got {rb}"),
            ));
        }
        if self.wakeup_bytes == 0 || self.wakeup_bytes > rb / 2 {
            return Err((
                "kernel.wakeup_bytes",
                format!(
                    "must be from 1 to half of kernel.ring_buffer_bytes ({}), got {}",
                    rb / 2,
                    self.wakeup_bytes
                ),
            ));
        }
        Ok(())
    }
}

impl ProcessTable {
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(64..=4 << 20).contains(&self.max_entries) {
            return Err((
                "process_table.max_entries",
                format!("must be from 64 to 4194304, got {}", self.max_entries),
            ));
        }
        if self.ancestry_depth > ANCESTRY_DEPTH_MAX {
            return Err((
                "process_table.ancestry_depth",
                format!(
                    "must be from 0 to {ANCESTRY_DEPTH_MAX}, got {}",
                    self.ancestry_depth
                ),
            ));
        }
        Ok(())
    }
}

impl Pipeline {
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(1..=65536).contains(&self.channel_capacity) {
            return Err((
                "pipeline.channel_capacity",
                format!("must be from 1 to 65536, got {}", self.channel_capacity),
            ));
        }
        if !(1..=3600).contains(&self.shutdown_timeout_seconds) {
            return Err((
                "pipeline.shutdown_timeout_seconds",
                format!(
                    "must be from 1 to 3600, got {}",
                    self.shutdown_timeout_seconds
                ),
            ));
        }
        Ok(())
    }
}

impl HealthConfig {
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(1..=86400).contains(&self.interval_seconds) {
            return Err((
                "health.interval_seconds",
                format!("must be from 1 to 86400, got {}", self.interval_seconds),
            ));
        }
        Ok(())
    }
}
