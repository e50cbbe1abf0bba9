//! rg-preload-env: a program started with the dynamic linker told to load
//! a library from outside the system's library directories (MITRE
//! T1574.006 through the environment: `LD_PRELOAD=/tmp/x.so ls`,
//! `LD_AUDIT=...`, an `export LD_PRELOAD=...` before anything runs).
//!
//! The kernel reads the new image's environment at exec (bpf/env.bpf.h)
//! and the normalizer puts the variables on the image (`env_vars`). A
//! library under /lib, /usr/lib, /lib64, /usr/lib64, /lib32, /usr/lib32,
//! /libx32, /usr/libx32 or /usr/local/lib (and below: the multiarch
//! directories) is the system's own (jemalloc, fakeroot, the sanitizers)
//! and stays silent; anything else is high, critical when the library is
//! a file written within the correlation window in a watched place (the
//! drops rg-drop-exec tracks). A bare name (`LD_PRELOAD=libx.so`) is looked
//! for first in LD_LIBRARY_PATH, so a bare name found in a non-system
//! directory of it counts as that file. An environment the kernel could
//! not scan to its end (padded past its cap) is medium: what it hid is
//! not known.

use std::sync::Arc;

use crate::model::alert::{Alert, Evidence, RuleMeta, Severity};
use crate::model::event::{Body, Event, Image};
use crate::pipeline::normalize::join_clean;

pub(super) const ID: &str = "rg-preload-env";

/// Where the system's libraries live: a library below one of these is
/// installed by root (packages, the administrator), not dropped.
const SYSTEM_LIB_DIRS: &[&str] = &[
    "/lib",
    "/usr/lib",
    "/lib64",
    "/usr/lib64",
    "/lib32",
    "/usr/lib32",
    "/libx32",
    "/usr/libx32",
    "/usr/local/lib",
];

/// The variables that load code, as the kernel sends them.
const LOADERS: &[&str] = &["LD_PRELOAD", "LD_AUDIT"];

pub(super) struct Preload {
    pub(super) meta: Arc<RuleMeta>,
}

/// One library a loader variable names from outside the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Library {
    pub(super) var: &'static str,
    /// The path ld.so loads (a bare name: where LD_LIBRARY_PATH finds it).
    pub(super) path: String,
}

/// What an exec's environment shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Hit {
    pub(super) libraries: Vec<Library>,
    /// The environment was not scanned to its end.
    pub(super) cut: bool,
}

/// `path` lexically cleaned (`..` resolved), with ld.so's `$LIB` and
/// `$PLATFORM` tokens standing for a directory of the system's.
fn clean(path: &str) -> String {
    let p = path
        .replace("${LIB}", "lib")
        .replace("$LIB", "lib")
        .replace("${PLATFORM}", "platform")
        .replace("$PLATFORM", "platform");
    join_clean("/", &p)
}

pub(super) fn is_system(path: &str) -> bool {
    if !path.starts_with('/') {
        return false;
    }
    let p = clean(path);
    SYSTEM_LIB_DIRS
        .iter()
        .any(|d| p.strip_prefix(d).is_some_and(|rest| rest.starts_with('/')))
}

/// The value of `NAME=` among `vars`, each one given.
fn values<'a>(vars: &'a [String], name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    vars.iter()
        .filter_map(move |v| v.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
}

/// The non-system libraries of `img`'s loader variables. `exists` says
/// whether a file is there (a bare name is looked up in LD_LIBRARY_PATH).
pub(super) fn libraries(img: &Image, exists: impl Fn(&str) -> bool) -> Vec<Library> {
    let search: Vec<&str> = values(&img.env_vars, "LD_LIBRARY_PATH")
        .flat_map(|v| v.split([':', ';']))
        .filter(|d| !d.is_empty())
        .collect();
    let mut out = Vec::new();
    for var in LOADERS {
        // ld.so splits LD_PRELOAD at spaces and colons, LD_AUDIT at colons.
        let seps: &[char] = if *var == "LD_PRELOAD" {
            &[' ', ':']
        } else {
            &[':']
        };
        for entry in values(&img.env_vars, var).flat_map(|v| v.split(seps)) {
            if entry.is_empty() {
                continue;
            }
            let path = if entry.contains('/') {
                (!is_system(entry)).then(|| entry.to_string())
            } else {
                // A bare name: the first LD_LIBRARY_PATH directory that
                // has it wins; none (or a system one) is the system's.
                search
                    .iter()
                    .map(|d| format!("{}/{entry}", d.trim_end_matches('/')))
                    .find(|p| exists(p))
                    .filter(|p| !is_system(p))
            };
            if let Some(path) = path
                && !out.iter().any(|l: &Library| l.path == path)
            {
                out.push(Library { var, path });
            }
        }
    }
    out
}

impl Preload {
    pub(super) fn new(disabled: &[String]) -> Option<Self> {
        (!disabled.iter().any(|x| x == ID)).then(|| Preload {
            meta: super::correlate::meta(
                ID,
                "Library preloaded through the environment",
                "A program was started with LD_PRELOAD or LD_AUDIT naming a library \
                 outside the system library directories (/lib, /usr/lib, /lib64, \
                 /usr/lib64, /lib32, /usr/lib32, /libx32, /usr/libx32, /usr/local/lib): \
                 the dynamic linker loads it into the program before main. Critical \
                 when the library was written within \
                 detections.correlation_window_seconds in a watched place; medium \
                 when the environment was too large to scan to its end.",
                Severity::High,
                &["Persistence", "Privilege Escalation", "Defense Evasion"],
                &[(
                    "T1574.006",
                    "Hijack Execution Flow: Dynamic Linker Hijacking",
                )],
            ),
        })
    }

    /// The libraries an exec's environment loads from outside the system,
    /// or the fact that its environment was not scanned to its end.
    pub(super) fn hit(&self, ev: &Event) -> Option<Hit> {
        let Body::Exec(x) = &ev.body else {
            return None;
        };
        let img = &x.image;
        if img.env_vars.is_empty() && !img.truncated.env {
            return None;
        }
        let libraries = libraries(img, |p| std::path::Path::new(p).is_file());
        (!libraries.is_empty() || img.truncated.env).then_some(Hit {
            libraries,
            cut: img.truncated.env,
        })
    }

    /// Fill `a` (made from this rule for the exec `ev`) from `hit`;
    /// `dropped` is the write of the first library, when it was a drop
    /// still in the correlation window.
    pub(super) fn finish(&self, a: &mut Alert, ev: &Event, hit: &Hit, dropped: Option<Evidence>) {
        let program = match &ev.body {
            Body::Exec(x) => x.image.executable.as_str(),
            _ => "",
        };
        let severity = match (hit.libraries.first(), &dropped) {
            (Some(_), Some(_)) => Severity::Critical,
            (Some(_), None) => Severity::High,
            (None, _) => Severity::Medium,
        };
        if a.rule.severity != severity {
            a.rule = Arc::new(RuleMeta {
                severity,
                ..(*a.rule).clone()
            });
        }
        a.message = match hit.libraries.first() {
            Some(l) => format!(
                "{}={} loaded into {program} (pid {})",
                l.var, l.path, ev.pid
            ),
            None => format!(
                "Environment of {program} (pid {}) too large to scan for LD_PRELOAD",
                ev.pid
            ),
        };
        for l in &hit.libraries {
            a.reasons.push(format!(
                "{} names {}, outside the system library directories",
                l.var, l.path
            ));
        }
        if let Some(w) = dropped {
            let secs = ev.time_ns.saturating_sub(w.time_ns) / 1_000_000_000;
            a.reasons.push(format!(
                "{} was written by {} {secs} s before",
                hit.libraries[0].path,
                w.executable.as_deref().unwrap_or("an unknown program")
            ));
            a.evidence.push(w);
        }
        if hit.cut {
            a.reasons.push(
                "the environment was not scanned to its end (past the kernel's cap of \
                 1024 strings, unreadable, or more than 4 dynamic-linker variables)"
                    .into(),
            );
        }
        a.evidence.push(Evidence::of(ev));
    }
}

#[cfg(test)]
#[path = "preload_tests.rs"]
mod tests;
