//! `rg-persist-systemd-enable`: a unit file written, then enabled or
//! started (`systemctl enable|start|...` naming it, or a link to it in a
//! `*.wants/` or `*.requires/` directory) within the window.

use std::sync::Arc;

use globset::GlobSet;

use super::{Finding, Window, meta};
use crate::detect::context::Context;
use crate::detect::{filter, persistence};
use crate::model::alert::{Evidence, PackageOp, RuleMeta, Severity};
use crate::model::event::{Body, Event, FileOp};

/// The unit file kinds that run code.
const UNIT_KINDS: &[&str] = &[".service", ".timer", ".socket", ".path"];
/// systemctl verbs that make a unit run.
const ENABLING_VERBS: &[&str] = &[
    "enable",
    "reenable",
    "start",
    "restart",
    "reload-or-restart",
    "try-restart",
    "link",
];

pub(super) struct UnitEnable {
    pub(super) rule: Arc<RuleMeta>,
    dirs: GlobSet,
    /// Unit file name → the write that put it there, and the package
    /// operation that wrote it (a packaged unit).
    pub(super) written: Window<String, (Evidence, Option<Arc<PackageOp>>)>,
}

fn unit_name(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next()?;
    UNIT_KINDS.iter().any(|k| name.ends_with(k)).then_some(name)
}

impl UnitEnable {
    pub(super) fn new(cap: usize, window_ns: u64) -> Result<Self, globset::Error> {
        Ok(UnitEnable {
            rule: meta(
                "rg-persist-systemd-enable",
                "Systemd unit written and enabled",
                "A unit file was written in a unit directory and then, within \
                 detections.correlation_window_seconds, enabled or started \
                 (systemctl naming it, or a link to it in a .wants/.requires \
                 directory): persistence that will run, not just a file.",
                Severity::Critical,
                &["Persistence"],
                &[(
                    "T1543.002",
                    "Create or Modify System Process: Systemd Service",
                )],
            ),
            dirs: filter::globset(&persistence::unit_dirs())?,
            written: Window::new(cap, window_ns),
        })
    }

    pub(super) fn observe(&mut self, ev: &Event, ctx: &mut Context, out: &mut Vec<Finding>) {
        let now = ev.ktime_ns;
        match &ev.body {
            Body::File(f) if f.result >= 0 && !f.is_read() => {
                // A link into a .wants/.requires directory enables the unit
                // it names; systemd itself makes them for `systemctl enable`.
                if f.op == FileOp::Symlink || f.op == FileOp::Link {
                    let parent = f.path.rsplit_once('/').map_or("", |(d, _)| d);
                    if (parent.ends_with(".wants") || parent.ends_with(".requires"))
                        && let Some(unit) = f
                            .target_path
                            .as_deref()
                            .and_then(unit_name)
                            .or_else(|| unit_name(&f.path))
                        && let Some(write) = self.written.remove(&unit.to_string())
                    {
                        out.push(self.finding(unit, write, ev));
                        return;
                    }
                }
                if f.op != FileOp::Unlink
                    && let Some(unit) = unit_name(&f.path)
                    && self.dirs.is_match(&f.path)
                {
                    let package = ctx.package_op(ev.process.as_deref());
                    self.written
                        .insert(now, unit.to_string(), (Evidence::of(ev), package));
                }
            }
            Body::Exec(x) => {
                let args = &x.image.args;
                let is_systemctl = x.image.executable.rsplit('/').next() == Some("systemctl");
                if !is_systemctl || !args.iter().any(|a| ENABLING_VERBS.contains(&a.as_str())) {
                    return;
                }
                for a in args.iter().skip(1).filter(|a| !a.starts_with('-')) {
                    // `systemctl enable x` means x.service.
                    let base = a.rsplit('/').next().unwrap_or(a);
                    let unit = if unit_name(base).is_some() {
                        base.to_string()
                    } else {
                        format!("{base}.service")
                    };
                    if self.written.get(now, &unit).is_some() {
                        let write = self.written.remove(&unit).expect("present");
                        out.push(self.finding(&unit, write, ev));
                    }
                }
            }
            _ => {}
        }
    }

    fn finding(
        &self,
        unit: &str,
        (write, package): (Evidence, Option<Arc<PackageOp>>),
        ev: &Event,
    ) -> Finding {
        let how = match &ev.body {
            Body::Exec(x) => x.image.args.join(" "),
            Body::File(f) => format!("link {}", f.path),
            _ => ev.body.action().to_string(),
        };
        let writer = write.executable.as_deref().unwrap_or("an unknown program");
        let secs = ev.time_ns.saturating_sub(write.time_ns) / 1_000_000_000;
        let mut reasons = vec![format!(
            "unit {unit} written by {writer} (pid {}) and enabled or started {secs} s later: \
             persistence that will run",
            write.pid
        )];
        if let Some(op) = &package {
            reasons.push(format!(
                "the unit was written inside a package operation: {op}"
            ));
        }
        Finding {
            rule: self.rule.clone(),
            message: format!(
                "Systemd unit {unit} written by {writer} then enabled or started ({how})"
            ),
            evidence: vec![write, Evidence::of(ev)],
            reasons,
            package,
            subject_hash: false,
        }
    }
}
