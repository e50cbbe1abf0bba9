//! Offline rule work for rule authors: `rand-guard rules check` validates
//! a rules directory, `rand-guard rules test` replays recorded event
//! records through the detector — the same [`detect::step`] the live
//! agent runs — and prints the alert records they raise.

pub mod replay;

use std::fmt::{self, Write as _};
use std::io::Write;
use std::path::Path;

use crate::config::Config;
use crate::detect::filter::Filter;
use crate::detect::rules::{RuleErrors, RuleSet, SkipKind, Skipped};
use crate::detect::{self, BUILTIN_IDS, Detector};
use crate::model::alert::Alert;
use crate::record::{self, Context, Record};
use replay::ReplayError;

/// `rules check`: load `dir` as the agent would and describe what it
/// holds, one line per rule. A missing directory is an error only when
/// the user named it (`explicit`): the agent runs fine without one.
pub fn check(dir: &Path, explicit: bool) -> Result<String, RuleErrors> {
    let set = load(dir, explicit)?;
    let mut out = String::new();
    let files = {
        let mut f: Vec<&str> = set.rules().iter().map(|r| r.meta.source.as_str()).collect();
        f.dedup();
        f.len()
    };
    let _ = writeln!(
        out,
        "# rules OK: {} rules from {} ({files} files{}){}",
        set.len(),
        dir.display(),
        if dir.is_dir() {
            ""
        } else {
            "; the directory does not exist"
        },
        skip_summary(set.skipped())
    );
    for r in set.rules() {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}",
            r.meta.id,
            r.meta.severity.as_str(),
            r.action_names().collect::<Vec<_>>().join(","),
            r.meta.source
        );
    }
    // Then every skipped Sigma rule, one line each: file, rule, the
    // construct and the reason.
    for sk in set.skipped() {
        let _ = writeln!(out, "# skipped: {sk}");
    }
    Ok(out)
}

/// "; 3 Sigma rules skipped (2 unsupported field, 1 aggregation or
/// timeframe)", by reason, most frequent first; "" when none was.
fn skip_summary(skipped: &[Skipped]) -> String {
    if skipped.is_empty() {
        return String::new();
    }
    let mut by: Vec<(SkipKind, usize)> = Vec::new();
    for s in skipped {
        match by.iter_mut().find(|(k, _)| *k == s.kind) {
            Some((_, n)) => *n += 1,
            None => by.push((s.kind, 1)),
        }
    }
    by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let parts: Vec<String> = by
        .iter()
        .map(|(k, n)| format!("{n} {}", k.as_str()))
        .collect();
    format!(
        "; {} Sigma rules skipped ({})",
        skipped.len(),
        parts.join(", ")
    )
}

/// The rules of `dir` as the agent loads them, except that a directory
/// the user named (`explicit`) must exist: a typo in `--rules-dir` would
/// otherwise be zero rules, which `rules check` lists as "0 rules" and
/// `rules test` replays into "0 alerts", as if the rules did not fire.
fn load(dir: &Path, explicit: bool) -> Result<RuleSet, RuleErrors> {
    if explicit && !dir.is_dir() {
        return Err(RuleErrors(vec![crate::detect::rules::RuleError {
            file: dir.to_path_buf(),
            rule: None,
            key: None,
            line: None,
            reason: "no such directory".into(),
        }]));
    }
    RuleSet::load_dir(dir)
}

/// What `rules test` did, for the summary on stderr.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TestReport {
    /// Event records replayed.
    pub events: usize,
    /// Events the userspace filter or an exclusion dropped.
    pub filtered: usize,
    /// (rule id, alerts), in order of first alert.
    pub alerts: Vec<(String, usize)>,
    /// Alert and health records in the input, passed over.
    pub skipped: replay::Skipped,
    /// Sigma rules of the directory that were not loaded (`rules check`
    /// lists them).
    pub rules_skipped: usize,
}

impl TestReport {
    pub fn alerts_total(&self) -> usize {
        self.alerts.iter().map(|(_, n)| n).sum()
    }

    fn count(&mut self, id: &str) {
        match self.alerts.iter_mut().find(|(r, _)| r == id) {
            Some((_, n)) => *n += 1,
            None => self.alerts.push((id.to_string(), 1)),
        }
    }
}

impl fmt::Display for TestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "# rules test: {} events replayed ({} filtered out), {} alerts",
            self.events,
            self.filtered,
            self.alerts_total()
        )?;
        for (i, (id, n)) in self.alerts.iter().enumerate() {
            write!(f, "{} {id} {n}", if i == 0 { ":" } else { "," })?;
        }
        write!(
            f,
            "; {} alert and {} health records in the input skipped",
            self.skipped.alerts, self.skipped.health
        )?;
        if self.rules_skipped > 0 {
            write!(
                f,
                "; {} Sigma rules skipped (`rand-guard rules check` lists them)",
                self.rules_skipped
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error("{0}")]
    Rules(#[from] RuleErrors),
    #[error("{0}")]
    Events(#[from] ReplayError),
    #[error("{0}")]
    Config(String),
    #[error("writing the alerts failed: {0}")]
    Output(#[source] std::io::Error),
}

/// `rules test`: every event record of `events` through the detector
/// stage's own step ([`detect::step`]: userspace filter, exclusions,
/// built-ins unless `no_builtin`, the rules of `dir`, rate limiting on
/// event time), the alert records written to `out` as the agent writes
/// them; the rate limiter's held-back summaries at the end. One detector
/// per recorded host, since alert ids include the host. A missing `dir`
/// is an error when the user named it (`explicit`), as for [`check`].
pub fn test(
    cfg: &Config,
    dir: &Path,
    explicit: bool,
    events: &Path,
    no_builtin: bool,
    out: &mut dyn Write,
) -> Result<TestReport, TestError> {
    let mut cfg = cfg.clone();
    // No hasher runs here: nothing for rg-drop-exec to wait for.
    cfg.hash.enabled = false;
    if no_builtin {
        cfg.detections.disabled = BUILTIN_IDS.iter().map(|s| s.to_string()).collect();
    }
    // Load once up front so a bad rules directory fails before any output.
    let mut first_set = Some(load(dir, explicit)?);
    let rules_skipped = first_set.as_ref().map_or(0, |s| s.skipped().len());
    let filter = Filter::new(&cfg.file).map_err(|e| TestError::Config(e.to_string()))?;
    let mut hosts: Vec<(Context, Detector)> = Vec::new();
    let mut report = TestReport::default();
    let mut alerts = Vec::new();
    let mut line = Vec::new();
    let mut failure: Option<TestError> = None;
    let version = env!("CARGO_PKG_VERSION");
    let depth = cfg.process_table.ancestry_depth as usize;
    let skipped = replay::for_each(events, |r| {
        if failure.is_some() {
            return;
        }
        let at = match hosts.iter().position(|(c, _)| c.hostname == r.hostname) {
            Some(i) => i,
            None => {
                let rules = match first_set.take() {
                    Some(set) => set,
                    None => match load(dir, explicit) {
                        Ok(set) => set,
                        Err(e) => {
                            failure = Some(e.into());
                            return;
                        }
                    },
                };
                match Detector::new(&cfg, &r.hostname, rules, None) {
                    Ok(d) => {
                        let ctx = Context {
                            hostname: r.hostname.clone(),
                            agent_version: version,
                            ancestry_depth: depth,
                            // Offline: no kernel side.
                            hook_paths: Vec::new(),
                            ids: crate::record::HostIds::recorded(
                                &r.hostname,
                                r.host_id.clone(),
                                r.agent_id.clone(),
                            ),
                        };
                        hosts.push((ctx, d));
                        hosts.len() - 1
                    }
                    Err(e) => {
                        failure = Some(TestError::Config(format!("exclusions: {e}")));
                        return;
                    }
                }
            }
        };
        let (ctx, detector) = &mut hosts[at];
        report.events += 1;
        if !detect::step(&filter, detector, &r.event, &mut alerts) {
            report.filtered += 1;
        }
        if let Err(e) = emit(&mut alerts, ctx, &mut line, out, &mut report) {
            failure = Some(e);
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    for (ctx, detector) in &mut hosts {
        detector.flush(&mut alerts);
        emit(&mut alerts, ctx, &mut line, out, &mut report)?;
    }
    report.skipped = skipped;
    report.rules_skipped = rules_skipped;
    Ok(report)
}

/// Write `alerts` (drained) as alert records.
fn emit(
    alerts: &mut Vec<Alert>,
    ctx: &Context,
    line: &mut Vec<u8>,
    out: &mut dyn Write,
    report: &mut TestReport,
) -> Result<(), TestError> {
    for a in alerts.drain(..) {
        report.count(&a.rule.id);
        line.clear();
        record::write_line(&Record::Alert(a), ctx, line)
            .map_err(|e| TestError::Output(std::io::Error::other(e)))?;
        out.write_all(line).map_err(TestError::Output)?;
    }
    Ok(())
}
