//! rg-net-suspicious-port: ports that remote-access tools favour.

use std::sync::Arc;

use crate::config;
use crate::model::alert::{RuleMeta, Severity, Technique};
use crate::model::event::{Body, Event, NetOp};

/// rg-net-suspicious-port: listening on, or connecting to, a port that
/// remote-access tools and malware favour.
pub(super) struct PortRule {
    pub(super) meta: Arc<RuleMeta>,
    ports: Vec<u16>,
    loopback: bool,
}

impl PortRule {
    /// The rule of `[detections]`, unless it is disabled.
    pub(super) fn new(d: &config::Detections) -> Option<Self> {
        (!d.disabled.iter().any(|x| x == "rg-net-suspicious-port")).then(|| PortRule {
            meta: Arc::new(RuleMeta {
                id: "rg-net-suspicious-port".into(),
                name: "Suspicious port".into(),
                description: "A process listened on, bound, or connected to a port that \
                              remote-access tools, reverse shells and IRC-controlled malware favour \
                              (detections.suspicious_ports). Raised once per process."
                    .into(),
                severity: Severity::Medium,
                tactics: vec!["Command and Control".into()],
                techniques: vec![Technique {
                    id: "T1571".into(),
                    name: Some("Non-Standard Port".into()),
                }],
                source: "builtin".into(),
                references: Vec::new(),
                authors: Vec::new(),
            }),
            ports: d.suspicious_ports.clone(),
            loopback: d.suspicious_ports_loopback,
        })
    }

    pub(super) fn hit(&self, ev: &Event) -> bool {
        let Body::Net(n) = &ev.body else {
            return false;
        };
        let end = match n.op {
            NetOp::Connect => n.remote,
            NetOp::Bind | NetOp::Listen => n.local,
            NetOp::Accept | NetOp::DnsQuery | NetOp::StdioSocket => None,
        };
        // An IPv4-mapped address (::ffff:127.0.0.1, what a dual-stack
        // socket shows for an IPv4 peer) is loopback by its IPv4 meaning.
        end.is_some_and(|a| {
            self.ports.contains(&a.port())
                && (self.loopback || !a.ip().to_canonical().is_loopback())
        })
    }
}
