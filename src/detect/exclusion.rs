//! `[[exclusions]]`: alerts, or whole events, an operator does not want.

use crate::config;
use crate::detect::filter;
use crate::model::container::Cgroup;
use crate::model::event::{Body, Event};

/// `[[exclusions]]`, compiled.
pub(super) struct Exclusion {
    pub(super) rule: Option<globset::GlobMatcher>,
    executable: Option<globset::GlobMatcher>,
    path: Option<globset::GlobMatcher>,
    uid: Option<u32>,
    in_container: Option<bool>,
    container_name: Option<globset::GlobMatcher>,
    container_image: Option<globset::GlobMatcher>,
    systemd_unit: Option<globset::GlobMatcher>,
    /// Lower-cased, as the hasher writes it.
    sha256: Option<String>,
}

impl Exclusion {
    pub(super) fn new(x: &config::Exclusion) -> Result<Self, globset::Error> {
        let g = |p: &Option<String>| p.as_deref().map(filter::glob_matcher).transpose();
        Ok(Exclusion {
            rule: g(&x.rule)?,
            executable: g(&x.executable)?,
            path: g(&x.path)?,
            uid: x.uid,
            in_container: x.in_container,
            container_name: g(&x.container_name)?,
            container_image: g(&x.container_image)?,
            systemd_unit: g(&x.systemd_unit)?,
            sha256: x.sha256.as_deref().map(str::to_ascii_lowercase),
        })
    }

    /// Every field given matches the event.
    pub(super) fn covers(&self, ev: &Event) -> bool {
        let proc = ev.process.as_deref();
        self.executable
            .as_ref()
            .is_none_or(|g| proc.is_some_and(|p| g.is_match(&p.image.executable)))
            && self.path.as_ref().is_none_or(|g| match &ev.body {
                Body::File(f) => g.is_match(&f.path),
                _ => false,
            })
            && self
                .uid
                .is_none_or(|u| proc.and_then(|p| p.creds).is_some_and(|c| c.uid == u))
            && self.covers_cgroup(proc.and_then(|p| p.cgroup.as_deref()))
            && self
                .sha256
                .as_deref()
                .is_none_or(|want| proc.and_then(|p| p.image.hash.get()?.sha256()) == Some(want))
    }

    /// The container and unit fields given match the process's cgroup.
    fn covers_cgroup(&self, cg: Option<&Cgroup>) -> bool {
        let container = cg.and_then(|c| c.container.as_ref());
        let glob = |g: &Option<globset::GlobMatcher>, v: Option<&String>| {
            g.as_ref().is_none_or(|g| v.is_some_and(|v| g.is_match(v)))
        };
        self.in_container
            .is_none_or(|want| container.is_some() == want)
            && glob(
                &self.container_name,
                container.and_then(|c| c.name.as_ref()),
            )
            && glob(
                &self.container_image,
                container.and_then(|c| c.image_name.as_ref()),
            )
            && glob(&self.systemd_unit, cg.and_then(|c| c.systemd_unit.as_ref()))
    }
}
