//! `rg-webshell-exec`: a shell or recon command whose ancestry holds a web
//! server or application runtime (the web server is the evidence).

use std::sync::Arc;

use globset::GlobSet;

use super::{Finding, meta, name_of};
use crate::config;
use crate::detect::filter;
use crate::model::alert::{Evidence, RuleMeta, Severity};
use crate::model::event::{Body, Event};

pub(super) struct WebShell {
    pub(super) rule: Arc<RuleMeta>,
    servers: GlobSet,
    commands: GlobSet,
}

impl WebShell {
    pub(super) fn new(d: &config::Detections) -> Result<Self, globset::Error> {
        Ok(WebShell {
            rule: meta(
                "rg-webshell-exec",
                "Command run by a web server",
                "A shell or reconnaissance command started with a web server or \
                 application runtime in its ancestry (detections.web_servers, \
                 detections.web_shell_commands): a web shell or command injection \
                 running commands for an attacker.",
                Severity::High,
                &["Persistence", "Execution"],
                &[("T1505.003", "Server Software Component: Web Shell")],
            ),
            servers: filter::globset(&d.web_servers)?,
            commands: filter::globset(&d.web_shell_commands)?,
        })
    }

    pub(super) fn observe(&self, ev: &Event, out: &mut Vec<Finding>) {
        let (Body::Exec(_), Some(p)) = (&ev.body, ev.process.as_deref()) else {
            return;
        };
        if !self.commands.is_match(name_of(p)) {
            return;
        }
        // The nearest web server above, if no command of the list stands
        // between: `php-fpm → sh -c id → id` alerts once, on the sh.
        for a in p.ancestors() {
            let name = name_of(a);
            if self.servers.is_match(name) {
                out.push(Finding {
                    rule: self.rule.clone(),
                    evidence: vec![Evidence::of_process(a), Evidence::of(ev)],
                    message: format!(
                        "{} run under web server {name} (pid {}): {}",
                        name_of(p),
                        a.pid,
                        p.image.args.join(" ")
                    ),
                    reasons: vec![format!(
                        "{} is on detections.web_shell_commands and {name} (pid {}) above it \
                         on detections.web_servers",
                        name_of(p),
                        a.pid
                    )],
                    package: None,
                    subject_hash: false,
                });
                return;
            }
            if self.commands.is_match(name) {
                return;
            }
        }
    }
}
