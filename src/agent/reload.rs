//! SIGHUP reload of the configuration file: which settings take effect
//! in the running agent and which need a restart.
//!
//! In: the configuration in force and the one just read (both valid).
//! Out: a [`Plan`]: the configuration to run with from now on (the file's
//! [`LIVE`] settings, the running values of everything else), the keys
//! whose new value must wait for a restart, and the live keys that
//! changed. The agent reports the first on stderr ("needs a restart:
//! <key>") and hands the effective configuration to the stages.
//!
//! Everything not in [`LIVE`] is restart-only: it is loaded into the
//! kernel (`[kernel]`, `[network]`, the `[file]` prefixes and switches) or
//! shapes the pipeline as it is built (`[pipeline]`, `[process_table]`).
//! A key added later is restart-only until it is listed here.

use std::collections::BTreeMap;

use toml::Value;

use crate::config::Config;

/// Settings (dotted TOML paths) that a reload applies at once.
pub const LIVE: &[&str] = &[
    "output",
    "health",
    "alerts",
    "exclusions",
    "detections",
    "events",
    "rules",
    "file.exclude_executables",
    "file.exclude_paths",
    "ioc",
];

/// Built-in detections with a kernel side that is loaded (or not) at
/// start: hooks (rg-reverse-shell's dup hooks, rg-agent-signal's signal
/// hook) or watched prefixes (rg-agent-tamper's own files). Turning one
/// on or off in `[detections] disabled` needs a restart; the rest of that
/// list is live.
pub const KERNEL_DETECTIONS: &[&str] = &["rg-reverse-shell", "rg-agent-signal", "rg-agent-tamper"];

/// A setting whose value in the file differs from the running one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Dotted key, e.g. `kernel.ring_buffer_bytes`.
    pub key: String,
    /// Both values as TOML, `unset` when absent.
    pub running: String,
    pub file: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The configuration to run with from now on.
    pub effective: Config,
    /// Restart-only settings the file changes: they keep their running
    /// values.
    pub needs_restart: Vec<Change>,
    /// Live settings that changed.
    pub changed: Vec<Change>,
}

/// What reloading `file` over `running` does. Errs (dotted key, reason)
/// when the live settings of `file` do not fit the running restart-only
/// ones (e.g. `events.network = true` while network collection stays off
/// until a restart): then nothing changes.
pub fn plan(running: &Config, file: &Config) -> Result<Plan, (&'static str, String)> {
    let internal = |e: &dyn std::fmt::Display| ("", format!("internal error: {e}"));
    let mut effective = Value::try_from(running).map_err(|e| internal(&e))?;
    let new = Value::try_from(file).map_err(|e| internal(&e))?;
    for key in LIVE {
        set(&mut effective, key, lookup(&new, key).cloned());
    }
    let mut effective: Config = effective.try_into().map_err(|e| internal(&e))?;
    // Detections with a kernel side keep their running state.
    let mut kernel_side = Vec::new();
    let state = |off: bool| if off { "disabled" } else { "enabled" }.to_string();
    for id in KERNEL_DETECTIONS {
        let off = |c: &Config| c.detections.disabled.iter().any(|d| d == id);
        let (was, now) = (off(running), off(&effective));
        if was == now {
            continue;
        }
        let disabled = &mut effective.detections.disabled;
        if was {
            disabled.push(id.to_string());
        } else {
            disabled.retain(|d| d != id);
        }
        kernel_side.push(Change {
            key: format!("detections.disabled: {id}"),
            running: state(was),
            file: state(now),
        });
    }
    effective.validate(&crate::detect::KNOWN)?;
    let mut needs_restart = diff(&effective, file);
    if !kernel_side.is_empty() {
        // Said per detection rather than as the whole list, most of
        // which did apply.
        needs_restart.retain(|c| c.key != "detections.disabled");
        needs_restart.extend(kernel_side);
    }
    Ok(Plan {
        needs_restart,
        changed: diff(running, &effective),
        effective,
    })
}

fn lookup<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(v, |v, k| v.get(k))
}

/// Set (or, with None, remove) the value at a dotted path whose parent
/// tables exist.
fn set(v: &mut Value, dotted: &str, to: Option<Value>) {
    let (parent, last) = match dotted.rsplit_once('.') {
        Some((p, l)) => (lookup_mut(v, p), l),
        None => (Some(v), dotted),
    };
    if let Some(Value::Table(t)) = parent {
        match to {
            Some(x) => {
                t.insert(last.to_string(), x);
            }
            None => {
                t.remove(last);
            }
        }
    }
}

fn lookup_mut<'a>(v: &'a mut Value, dotted: &str) -> Option<&'a mut Value> {
    dotted.split('.').try_fold(v, |v, k| v.get_mut(k))
}

/// Every leaf (a value that is not a table) by dotted key.
fn leaves(c: &Config) -> BTreeMap<String, Value> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
        match v {
            Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            leaf => {
                out.insert(prefix.to_string(), leaf.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Ok(v) = Value::try_from(c) {
        walk("", &v, &mut out);
    }
    out
}

/// The leaves whose values differ, in key order.
fn diff(a: &Config, b: &Config) -> Vec<Change> {
    let (a, b) = (leaves(a), leaves(b));
    let show = |v: Option<&Value>| v.map_or_else(|| "unset".to_string(), |v| v.to_string());
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| Change {
            key: k.clone(),
            running: show(a.get(k)),
            file: show(b.get(k)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Config {
        Config::parse(text, Path::new("/x/config.toml"), &crate::detect::KNOWN).unwrap()
    }

    fn keys(v: &[Change]) -> Vec<&str> {
        v.iter().map(|c| c.key.as_str()).collect()
    }

    #[test]
    fn the_same_file_changes_nothing() {
        let c = parse(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/config.toml"
        )));
        let p = plan(&c, &c).unwrap();
        assert_eq!(p.effective, c);
        assert!(p.needs_restart.is_empty() && p.changed.is_empty());
    }

    #[test]
    fn live_settings_apply_and_restart_ones_keep_their_running_values() {
        let running = parse("[kernel]\nring_buffer_bytes = 1048576\n");
        let file = parse(
            "[kernel]\nring_buffer_bytes = 2097152\n\
             [file]\ninclude = [\"/etc\"]\nexclude_paths = [\"/etc/x/**\"]\n\
             [network]\nenabled = false\n\
             [pipeline]\nchannel_capacity = 8\n\
             [alerts]\nburst = 2\n\
             [[exclusions]]\nexecutable = \"/usr/bin/updatedb\"\n\
             [health]\ninterval_seconds = 5\n\
             [output]\npath = \"/tmp/o.jsonl\"\nbuffer_bytes = 262144\n\
             [detections]\ndisabled = [\"rg-persist-cron\"]\n\
             [events]\nprocess = false\n\
             [rules]\ndir = \"/tmp/rules\"\n",
        );
        let p = plan(&running, &file).unwrap();
        assert_eq!(
            keys(&p.needs_restart),
            [
                "file.include",
                "kernel.ring_buffer_bytes",
                "network.enabled",
                "pipeline.channel_capacity",
            ]
        );
        let ring = &p.needs_restart[1];
        assert_eq!(
            (ring.running.as_str(), ring.file.as_str()),
            ("1048576", "2097152")
        );
        assert_eq!(
            keys(&p.changed),
            [
                "alerts.burst",
                "detections.disabled",
                "events.process",
                "exclusions",
                "file.exclude_paths",
                "health.interval_seconds",
                "output.buffer_bytes",
                "output.path",
                "rules.dir",
            ]
        );
        let e = &p.effective;
        // Restart-only: as running.
        assert_eq!(e.kernel, running.kernel);
        assert_eq!(e.file.include, running.file.include);
        assert_eq!(e.network, running.network);
        assert_eq!(e.pipeline, running.pipeline);
        // Live: as in the file.
        assert_eq!(e.file.exclude_paths, ["/etc/x/**"]);
        assert_eq!(e.alerts.burst, 2);
        assert_eq!(e.exclusions, file.exclusions);
        assert_eq!(e.health.interval_seconds, 5);
        assert_eq!(e.output, file.output);
        assert_eq!(e.detections, file.detections);
        assert_eq!(e.events, file.events);
        assert_eq!(e.rules, file.rules);
    }

    #[test]
    fn a_setting_removed_from_the_file_goes_back_to_its_default() {
        let running = parse("[events]\nprocess = false\n[[exclusions]]\nuid = 7\n");
        let p = plan(&running, &Config::default()).unwrap();
        assert_eq!(p.effective, Config::default());
        assert_eq!(keys(&p.changed), ["events.process", "exclusions"]);
        assert_eq!(p.changed[0].file, "unset");
    }

    #[test]
    fn live_settings_that_need_a_restart_first_are_refused() {
        // Valid as a file, but network collection only starts with a
        // restart: writing network events cannot be turned on now.
        let running = parse("[network]\nenabled = false\n");
        let file = parse("[events]\nnetwork = true\n");
        let e = plan(&running, &file).unwrap_err();
        assert_eq!(e.0, "events.network");
        assert!(e.1.contains("needs network.enabled = true"), "{}", e.1);
    }

    #[test]
    fn detections_with_a_kernel_side_keep_their_running_state() {
        let running = parse("[detections]\ndisabled = [\"rg-agent-signal\"]\n");
        let file = parse("[detections]\ndisabled = [\"rg-reverse-shell\", \"rg-persist-cron\"]\n");
        let p = plan(&running, &file).unwrap();
        let mut disabled = p.effective.detections.disabled.clone();
        disabled.sort();
        // rg-persist-cron applies; the two with kernel hooks stay as they run.
        assert_eq!(disabled, ["rg-agent-signal", "rg-persist-cron"]);
        let said: Vec<(&str, &str, &str)> = p
            .needs_restart
            .iter()
            .map(|c| (c.key.as_str(), c.running.as_str(), c.file.as_str()))
            .collect();
        assert_eq!(
            said,
            [
                (
                    "detections.disabled: rg-reverse-shell",
                    "enabled",
                    "disabled"
                ),
                (
                    "detections.disabled: rg-agent-signal",
                    "disabled",
                    "enabled"
                ),
            ]
        );
        assert_eq!(keys(&p.changed), ["detections.disabled"]);
    }

    #[test]
    fn metrics_are_restart_only() {
        // Their threads, file and port are set up at start (docs/metrics.md).
        let file = parse("[metrics]\nlisten = \"127.0.0.1:9464\"\ntextfile = \"/x/r.prom\"\n");
        let p = plan(&Config::default(), &file).unwrap();
        assert_eq!(
            keys(&p.needs_restart),
            ["metrics.listen", "metrics.textfile"]
        );
        assert_eq!(p.effective.metrics, Config::default().metrics);
        assert!(p.changed.is_empty());
    }

    #[test]
    fn forwarding_is_restart_only() {
        // Its thread and connection are set up at start (docs/shipping.md).
        let file = parse("[forward.syslog]\ntransport = \"tcp\"\naddress = \"127.0.0.1:514\"\n");
        let p = plan(&Config::default(), &file).unwrap();
        // Every key of the table that was not there: it stays off.
        let restart = keys(&p.needs_restart);
        assert!(restart.contains(&"forward.syslog.transport"), "{restart:?}");
        assert!(restart.contains(&"forward.syslog.address"), "{restart:?}");
        assert!(restart.iter().all(|k| k.starts_with("forward.syslog.")));
        assert_eq!(p.effective.forward, Config::default().forward);
        assert!(p.changed.is_empty());
    }

    #[test]
    fn every_live_key_names_a_setting() {
        let c = Value::try_from(Config::default()).unwrap();
        for key in LIVE {
            // exclusions is an empty array by default, still present.
            assert!(lookup(&c, key).is_some(), "{key}");
        }
    }
}
