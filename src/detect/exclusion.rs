//! `[[exclusions]]`: alerts, or whole events, an operator does not want.

use crate::config;
use crate::detect::filter;
use crate::model::event::{Body, Event};

/// `[[exclusions]]`, compiled.
pub(super) struct Exclusion {
    pub(super) rule: Option<globset::GlobMatcher>,
    executable: Option<globset::GlobMatcher>,
    path: Option<globset::GlobMatcher>,
    uid: Option<u32>,
}

impl Exclusion {
    pub(super) fn new(x: &config::Exclusion) -> Result<Self, globset::Error> {
        let g = |p: &Option<String>| p.as_deref().map(filter::glob_matcher).transpose();
        Ok(Exclusion {
            rule: g(&x.rule)?,
            executable: g(&x.executable)?,
            path: g(&x.path)?,
            uid: x.uid,
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
    }
}
