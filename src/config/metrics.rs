//! `[metrics]`: the health counters for Prometheus, as a node_exporter
//! textfile and an optional HTTP `/metrics` endpoint (both off by default).

use serde::{Deserialize, Serialize};

/// Where the Prometheus metrics go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    /// A `.prom` file for node_exporter's textfile collector, rewritten
    /// atomically every `[health] interval_seconds`; empty: off.
    pub textfile: String,
    /// `address:port` of the HTTP `/metrics` endpoint; empty: off.
    pub listen: String,
}

impl Metrics {
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        if !self.textfile.is_empty() {
            let path = std::path::Path::new(&self.textfile);
            if !path.is_absolute() {
                return Err((
                    "metrics.textfile",
                    format!("must be an absolute path, got {:?}", self.textfile),
                ));
            }
            // node_exporter's textfile collector reads `*.prom` files only.
            if path.extension().is_none_or(|e| e != "prom") {
                return Err((
                    "metrics.textfile",
                    format!(
                        "must end in `.prom` (node_exporter reads no other files), got {:?}",
                        self.textfile
                    ),
                ));
            }
        }
        if !self.listen.is_empty() {
            self.listen.parse::<std::net::SocketAddr>().map_err(|_| {
                (
                    "metrics.listen",
                    format!(
                        "must be an address and port such as \"127.0.0.1:9464\", got {:?}",
                        self.listen
                    ),
                )
            })?;
        }
        Ok(())
    }
}
