//! The serde form of `rand_guard.alert` and `rand_guard.context`, part of
//! the tests' oracle in `reference.rs` (a file of its own to keep that
//! one short).

use serde::Serialize;
use serde::ser::Serializer;

use super::reference::EndpointDoc;
use crate::model::alert::Evidence;
use crate::model::clock::Rfc3339;

#[derive(Serialize)]
pub(super) struct RgAlert<'a> {
    /// low, medium, high or critical.
    pub(super) severity: &'static str,
    /// `builtin` or the rule file.
    pub(super) source: &'a str,
    /// A rate-limit summary: the alerts this one stands for that were
    /// held back (absent on ordinary alerts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) suppressed_count: Option<u64>,
    /// Scenario detections: every event that led to the alert, oldest
    /// first (the last is the alert's own event).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(super) evidence: &'a [Evidence],
    /// The facts that set the severity.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(super) severity_reasons: &'a [String],
}

/// `rand_guard.context`: the package operation of an alert.
#[derive(Serialize)]
pub(super) struct RgContext<'a> {
    pub(super) package: PackageDoc<'a>,
}

#[derive(Serialize)]
pub(super) struct PackageDoc<'a> {
    pub(super) manager: &'static str,
    pub(super) pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) operation: Option<&'a str>,
}

/// One piece of evidence, in the record's own field names.
impl Serialize for Evidence {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Doc<'a> {
            #[serde(rename = "@timestamp")]
            timestamp: Rfc3339,
            event: ActionDoc,
            process: EvidenceProcess<'a>,
            #[serde(skip_serializing_if = "Option::is_none")]
            file: Option<PathDoc<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            destination: Option<EndpointDoc>,
        }
        #[derive(Serialize)]
        struct ActionDoc {
            action: &'static str,
        }
        #[derive(Serialize)]
        struct EvidenceProcess<'a> {
            pid: u32,
            #[serde(skip_serializing_if = "Option::is_none")]
            executable: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            command_line: Option<&'a str>,
        }
        #[derive(Serialize)]
        struct PathDoc<'a> {
            path: &'a str,
        }
        Doc {
            timestamp: Rfc3339(self.time_ns),
            event: ActionDoc {
                action: self.action,
            },
            process: EvidenceProcess {
                pid: self.pid,
                executable: self.executable.as_deref(),
                command_line: self.command_line.as_deref(),
            },
            file: self.path.as_deref().map(|path| PathDoc { path }),
            destination: EndpointDoc::of(self.destination),
        }
        .serialize(s)
    }
}
