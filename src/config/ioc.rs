//! `[ioc]`: files of indicators of compromise (see detect::ioc for their
//! format and how they match).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ioc {
    /// Files of SHA-256 digests, matched against `process.hash.sha256`.
    pub sha256_files: Vec<PathBuf>,
    /// Files of IP addresses and CIDR blocks, matched against the
    /// destination of connects.
    pub ip_files: Vec<PathBuf>,
    /// Files of domain names, matched against DNS queries (the name or
    /// any of its parent domains).
    pub domain_files: Vec<PathBuf>,
}

impl Ioc {
    pub(super) fn validate(&self) -> Result<(), (&'static str, String)> {
        for (key, files) in [
            ("ioc.sha256_files", &self.sha256_files),
            ("ioc.ip_files", &self.ip_files),
            ("ioc.domain_files", &self.domain_files),
        ] {
            if let Some(p) = files.iter().find(|p| !p.is_absolute()) {
                return Err((key, format!("{} is not an absolute path", p.display())));
            }
        }
        Ok(())
    }
}
