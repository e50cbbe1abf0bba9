//! Fields the writer derives from others: checked, never read.

use serde_json::Value;

use super::ReplayError;
use super::json::found;
use crate::model::clock;
use crate::model::event::Event;
use crate::record::{self, Context, Record};

/// Fields the writer computes from other fields. Replay does not read
/// them; a line that carries one must carry the value its sources give.
const DERIVED: &[&str] = &[
    "event.category",
    "event.type",
    "event.outcome",
    "process.name",
    "process.args_count",
    "process.command_line",
    "process.end",
    "process.parent.name",
    "process.parent.args_count",
    "process.parent.command_line",
    "user.id",
    "file.name",
    "file.directory",
    "error.code",
    "network.type",
    "network.direction",
    "network.protocol",
];

/// Write `ev` back and compare the [`DERIVED`] fields with the line's.
pub(super) fn check_derived(line: &Value, ev: &Event, hostname: &str) -> Result<(), ReplayError> {
    let ctx = Context {
        hostname: hostname.to_string(),
        agent_version: "",
        // The whole rebuilt chain (at most ANCESTRY_DEPTH_MAX long).
        ancestry_depth: usize::MAX,
        // Offline: no kernel side.
        hook_paths: Vec::new(),
        ids: crate::record::HostIds::offline(hostname),
    };
    let mut out = Vec::new();
    let written = record::write_line(&Record::Event(ev.clone()), &ctx, &mut out)
        .and_then(|()| serde_json::from_slice::<Value>(&out))
        .map_err(|e| ReplayError::new("", format!("cannot write the event back: {e}")))?;
    for path in DERIVED {
        let Some(given) = lookup(line, path)? else {
            continue;
        };
        match lookup(&written, path)? {
            Some(w) if same(given, w) => {}
            Some(w) => {
                return Err(ReplayError::new(
                    *path,
                    format!(
                        "is {}, but the fields it is derived from give {}",
                        short(given),
                        short(w)
                    ),
                ));
            }
            None => {
                return Err(ReplayError::new(
                    *path,
                    "is given, but the agent would not write it for this record",
                ));
            }
        }
    }
    Ok(())
}

/// The value at a dotted path; an error when a step is not an object.
fn lookup<'a>(v: &'a Value, path: &str) -> Result<Option<&'a Value>, ReplayError> {
    let mut at = v;
    let mut walked = 0;
    for step in path.split('.') {
        let Some(map) = at.as_object() else {
            let key = &path[..walked.max(1) - 1];
            return Err(ReplayError::new(
                key,
                format!("expected an object, found {}", found(at)),
            ));
        };
        match map.get(step) {
            Some(next) => at = next,
            None => return Ok(None),
        }
        walked += step.len() + 1;
    }
    Ok(Some(at))
}

/// Equal values; times equal as instants (the line may write fewer
/// fraction digits than the writer does).
fn same(given: &Value, written: &Value) -> bool {
    if given == written {
        return true;
    }
    match (given.as_str(), written.as_str()) {
        (Some(a), Some(b)) => matches!(
            (clock::parse_rfc3339(a), clock::parse_rfc3339(b)),
            (Some(x), Some(y)) if x == y
        ),
        _ => false,
    }
}

/// A value for an error message, cut to a readable length.
fn short(v: &Value) -> String {
    const MAX: usize = 80;
    let s = v.to_string();
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}
