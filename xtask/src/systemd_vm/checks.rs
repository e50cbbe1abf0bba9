//! The assertions on the guest's report: every one made here, on the
//! host, on the exact records, journal lines, unit properties and paths
//! the guest sent back (guest.sh only runs the administrator's commands
//! and waits).

use serde_json::Value;

use super::report::{Report, Section};

/// What the checks compare against, from the repository.
pub struct Expect {
    /// The files the .deb installs (dpkg's copyright file included).
    pub deb_files: Vec<String>,
}

/// One check: its name, and what it found (Ok) or what was wrong (Err).
pub struct Outcome {
    pub name: &'static str,
    pub result: Result<String, String>,
}

const EVENTS: &str = "/var/log/rand-guard/events.jsonl";
const CONFIG: &str = "/etc/rand-guard/config.toml";
/// CAP_DAC_READ_SEARCH (2), CAP_SYS_PTRACE (19), CAP_SYS_ADMIN (21),
/// CAP_PERFMON (38), CAP_BPF (39): the unit's CapabilityBoundingSet=.
const UNIT_CAPS: u64 = 1 << 2 | 1 << 19 | 1 << 21 | 1 << 38 | 1 << 39;

pub fn all(r: &Report, x: &Expect) -> Vec<Outcome> {
    let mut out = Vec::new();
    let mut check = |name: &'static str, f: &dyn Fn() -> Result<String, String>| {
        out.push(Outcome { name, result: f() })
    };
    check("the guest ran to its end", &|| {
        if r.complete {
            Ok(format!("{} sections", r.sections.len()))
        } else {
            let why = r.get("gave_up").map(|s| s.text.trim().to_string());
            Err(format!(
                "it stopped early{}",
                why.map(|w| format!(": gave up waiting for {w}"))
                    .unwrap_or_default()
            ))
        }
    });

    // The .deb.
    check("dpkg -i installs the .deb", &|| ran(r, "deb.install"));
    check("the .deb installs exactly the expected files", &|| {
        let mut got: Vec<String> = text(r, "deb.files")?.lines().map(String::from).collect();
        got.sort();
        same_list(&got, &x.deb_files)
    });
    check("the package does not enable the unit", &|| {
        said(r, "deb.is_enabled", "disabled")
    });
    check("systemctl enable --now rand-guard", &|| {
        ran(r, "deb.enable")?;
        said(r, "deb.is_enabled_after", "enabled")
    });
    check("systemd applied the sandbox to the .deb's agent", &|| {
        sandbox(r, "deb")
    });
    check(
        ".deb: the ready line in the journal names the output file",
        &|| {
            line_with(r, "deb.journal", "rand-guard: ready: ")
                .and_then(|l| contains(&l, &format!("output to {EVENTS}")))
        },
    );
    check(".deb: no warning in the journal", &|| {
        no_warnings(text(r, "deb.journal")?)
    });
    check(
        ".deb: the exec record of /bin/true in the output file",
        &|| {
            let recs = records(text(r, "deb.events")?);
            exec_record(&recs, &["/bin/true", "rgmarker-deb-exec"])
        },
    );
    check(".deb: the rg-persist-cron alert for /etc/cron.d", &|| {
        let recs = records(text(r, "deb.events")?);
        alert(&recs, "rg-persist-cron", "/etc/cron.d/rg-systemd-test-deb")
    });
    check(
        "systemctl reload re-reads the config (same process)",
        &|| {
            ran(r, "deb.reload")?;
            let (before, after) = (
                text(r, "deb.pid_before")?.trim(),
                text(r, "deb.pid_after")?.trim(),
            );
            if before != after || before == "0" {
                return Err(format!("MainPID {before} before the reload, {after} after"));
            }
            let want = format!(
                "rand-guard: config reloaded from {CONFIG}: changed health.interval_seconds"
            );
            line_with(r, "deb.journal", &want).map(|l| format!("pid {before}; {l}"))
        },
    );
    check(
        "systemctl reload re-reads rules.d: the added rule fires after it, not before",
        &|| {
            // The installed agent's own count before the rule was added
            // (TOML and Sigma files alike), plus that rule.
            let before_check = line_with(r, "deb.rules_before", "# rules OK: ")?;
            let shipped = rules_ok_count(&before_check)
                .ok_or_else(|| format!("unreadable: {before_check}"))?;
            let want = format!(
                "rand-guard: rules reloaded: {} rules from /etc/rand-guard/rules.d",
                shipped + 1
            );
            let line = line_with(r, "deb.journal", &want)?;
            let recs = records(text(r, "deb.events")?);
            let before = exec_pid(&recs, &["/bin/true", "rgmarker-reload", "before"])?;
            let after = exec_pid(&recs, &["/bin/true", "rgmarker-reload", "after"])?;
            let fired: Vec<i64> = recs
                .iter()
                .filter(|v| {
                    v["record_type"] == "alert" && v["rule"]["id"] == "rg-test-reloaded-rule"
                })
                .filter_map(|v| v["process"]["pid"].as_i64())
                .collect();
            if fired != [after] {
                return Err(format!(
                    "rg-test-reloaded-rule alerts for pids {fired:?}; expected only {after} \
                 (after the reload), not {before} (before it)"
                ));
            }
            Ok(format!("{line}; one alert, for pid {after}"))
        },
    );
    check("systemctl stop: exit 0, no restarts", &|| {
        ran(r, "deb.stop")?;
        stopped_cleanly(r, "deb.state")
    });
    check(
        "systemctl stop: PID 1's SIGTERM is recorded, not alerted (rg-agent-signal)",
        &|| {
            let recs = records(text(r, "deb.events")?);
            pid1_stop_recorded_not_alerted(&recs)
        },
    );
    check(".deb: the final health record counts the reloads", &|| {
        let recs = records(text(r, "deb.events")?);
        let last = recs.last().ok_or("no records")?;
        final_health(last)?;
        let h = &last["rand_guard"]["health"];
        for (k, want) in [
            ("config_reloads_total", 1),
            ("rules_reloads_total", 1),
            ("config_reload_failures_total", 0),
            ("rules_reload_failures_total", 0),
        ] {
            if h[k] != want {
                return Err(format!("{k} is {}, expected {want}", h[k]));
            }
        }
        Ok("config_reloads_total 1, rules_reloads_total 1, no failures".into())
    });
    check(
        ".deb: the journal's stop summary matches the output file",
        &|| {
            let recs = records(text(r, "deb.events")?);
            stop_summary_matches(r, "deb.journal", &recs)
        },
    );
    check(
        "LogsDirectory=: /var/log/rand-guard 0700, the output 0600",
        &|| {
            same_list(
                &lines(text(r, "deb.logs_dir")?),
                &[
                    "d 700 root /var/log/rand-guard".to_string(),
                    format!("f 600 root {EVENTS}"),
                ],
            )
        },
    );
    check("systemd-analyze security rand-guard", &|| {
        let s = r.get("deb.security")?;
        exposure(&s.text).ok_or_else(|| format!("no overall exposure line in: {}", s.text))
    });
    check(
        "without CAP_SYS_ADMIN, tracepoints forced (perf_event_paranoid 3): the start fails, naming why",
        &|| {
            let mut state = lines(text(r, "deb.no_sys_admin.state")?);
            state.sort();
            same_list(
                &state,
                &["ExecMainStatus=1".into(), "Result=exit-code".into()],
            )?;
            let line = line_with(
                r,
                "deb.no_sys_admin.journal",
                "rand-guard: error: attaching",
            )?;
            contains(
                &line,
                "failed to attach tracepoint (kernel.perf_event_paranoid is 3 here",
            )?;
            Ok(line)
        },
    );
    check(
        "dpkg --purge stops the running agent and removes everything it installed",
        &|| {
            said(r, "deb.active_before_purge", "active")?;
            ran(r, "deb.purge")?;
            // Left on purpose: the rule the administrator added (rules.d is
            // kept with it), and the records (host telemetry).
            same_list(
                &lines(text(r, "deb.leftovers")?),
                &[
                    "d 755 root /etc/rand-guard".into(),
                    "d 755 root /etc/rand-guard/rules.d".into(),
                    "f 644 root /etc/rand-guard/rules.d/rg-systemd-test.toml".into(),
                    "d 700 root /var/log/rand-guard".into(),
                    format!("f 600 root {EVENTS}"),
                    "LoadState=not-found".into(),
                ],
            )
        },
    );

    // The tarball.
    check(
        "install.sh --enable installs, enables and starts the unit",
        &|| {
            ran(r, "tar.install")?;
            contains(
                text(r, "tar.install")?,
                "rand-guard.service enabled and started",
            )?;
            said(r, "tar.is_enabled", "enabled")
        },
    );
    check(
        "systemd applied the sandbox to the tarball's agent",
        &|| sandbox(r, "tar"),
    );
    check("tarball: no warning in the journal", &|| {
        no_warnings(text(r, "tar.journal")?)
    });
    check(
        "tarball: the exec record in the output file before the switch",
        &|| {
            let recs = records(text(r, "tar.events")?);
            exec_record(&recs, &["/bin/true", "rgmarker-tar-file"])?;
            match exec_pid(&recs, &["/bin/true", "rgmarker-tar-journal"]) {
                Ok(pid) => Err(format!(
                    "pid {pid}'s exec, after the switch, is in the file too"
                )),
                Err(_) => Ok("and none of the records after the switch".into()),
            }
        },
    );
    check("systemctl reload switches [output] path to \"-\"", &|| {
        ran(r, "tar.reload")?;
        line_with(
            r,
            "tar.journal",
            &format!("rand-guard: config reloaded from {CONFIG}: changed output.path"),
        )
    });
    check(
        "records reach the journal: exec, cron alert, final health",
        &|| {
            let recs = records(text(r, "tar.journal")?);
            exec_record(&recs, &["/bin/true", "rgmarker-tar-journal"])?;
            alert(&recs, "rg-persist-cron", "/etc/cron.d/rg-systemd-test-tar")?;
            final_health(recs.last().ok_or("no records in the journal")?)?;
            Ok(format!("{} records in the journal", recs.len()))
        },
    );
    check("tarball: systemctl stop: exit 0, no restarts", &|| {
        ran(r, "tar.stop")?;
        stopped_cleanly(r, "tar.state")
    });
    check(
        "install.sh --uninstall removes what it installed, keeps the edited config",
        &|| {
            ran(r, "tar.uninstall")?;
            contains(
                text(r, "tar.uninstall")?,
                &format!("kept {CONFIG}: it was changed after installation"),
            )?;
            same_list(
                &lines(text(r, "tar.leftovers")?),
                &[
                    "d 755 root /etc/rand-guard".into(),
                    format!("f 600 root {CONFIG}"),
                    "d 700 root /var/log/rand-guard".into(),
                    format!("f 600 root {EVENTS}"),
                    "LoadState=not-found".into(),
                ],
            )
        },
    );
    out
}

fn text<'a>(r: &'a Report, name: &str) -> Result<&'a str, String> {
    Ok(&r.get(name)?.text)
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(String::from).collect()
}

/// The command exited 0.
fn ran(r: &Report, name: &str) -> Result<String, String> {
    let Section { status, text } = r.get(name)?;
    if *status == 0 {
        Ok("exit 0".into())
    } else {
        Err(format!("{name}: exit {status}: {}", text.trim()))
    }
}

/// The command printed exactly `want` (one line).
fn said(r: &Report, name: &str, want: &str) -> Result<String, String> {
    let got = text(r, name)?.trim();
    if got == want {
        Ok(format!("{name}: {got}"))
    } else {
        Err(format!("{name}: said {got:?}, expected {want:?}"))
    }
}

fn contains(s: &str, want: &str) -> Result<String, String> {
    if s.contains(want) {
        Ok(want.to_string())
    } else {
        Err(format!("no {want:?} in: {}", s.trim()))
    }
}

/// The first line of a section that contains `want`.
fn line_with(r: &Report, name: &str, want: &str) -> Result<String, String> {
    text(r, name)?
        .lines()
        .find(|l| l.contains(want))
        .map(String::from)
        .ok_or_else(|| format!("{name}: no line with {want:?}"))
}

fn same_list(got: &[String], want: &[String]) -> Result<String, String> {
    if got == want {
        return Ok(format!("{} entries", got.len()));
    }
    let missing: Vec<&String> = want.iter().filter(|w| !got.contains(w)).collect();
    let extra: Vec<&String> = got.iter().filter(|g| !want.contains(g)).collect();
    Err(format!(
        "missing {missing:?}, unexpected {extra:?} (got {got:?})"
    ))
}

/// Every line that is a JSON object: the records (in the journal, the
/// agent's other lines are plain text).
pub fn records(s: &str) -> Vec<Value> {
    s.lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn args_are(v: &Value, args: &[&str]) -> bool {
    v["process"]["args"]
        .as_array()
        .is_some_and(|a| a.len() == args.len() && a.iter().zip(args).all(|(x, y)| x == y))
}

fn exec_pid(recs: &[Value], args: &[&str]) -> Result<i64, String> {
    recs.iter()
        .find(|v| {
            v["record_type"] == "event" && v["event"]["action"] == "exec" && args_are(v, args)
        })
        .and_then(|v| v["process"]["pid"].as_i64())
        .ok_or_else(|| format!("no exec record with args {args:?}"))
}

/// The exec record of `args` (run as root, /bin/true through the
/// merged-/usr symlink) and the exit record of the same process.
fn exec_record(recs: &[Value], args: &[&str]) -> Result<String, String> {
    let pid = exec_pid(recs, args)?;
    let exec = recs
        .iter()
        .find(|v| v["event"]["action"] == "exec" && v["process"]["pid"] == pid)
        .expect("found above");
    for (field, got, want) in [
        (
            "process.executable",
            &exec["process"]["executable"],
            "/bin/true",
        ),
        (
            "rand_guard.process.exe",
            &exec["rand_guard"]["process"]["exe"],
            "/usr/bin/true",
        ),
        ("process.user.id", &exec["process"]["user"]["id"], "0"),
    ] {
        if got != want {
            return Err(format!(
                "exec of pid {pid}: {field} is {got}, expected {want:?}"
            ));
        }
    }
    let exit = recs
        .iter()
        .find(|v| v["event"]["action"] == "exit" && v["process"]["pid"] == pid)
        .ok_or_else(|| format!("no exit record for pid {pid}"))?;
    if exit["process"]["exit_code"] != 0 {
        return Err(format!(
            "pid {pid} exit_code {}",
            exit["process"]["exit_code"]
        ));
    }
    Ok(format!("pid {pid}: exec and exit 0"))
}

fn alert(recs: &[Value], rule: &str, path: &str) -> Result<String, String> {
    recs.iter()
        .find(|v| {
            v["record_type"] == "alert" && v["rule"]["id"] == rule && v["file"]["path"] == path
        })
        .map(|v| {
            let severity = &v["rand_guard"]["alert"]["severity"];
            format!("{rule} (severity {severity}) for {path}")
        })
        .ok_or_else(|| format!("no {rule} alert for {path}"))
}

fn final_health(v: &Value) -> Result<String, String> {
    if v["record_type"] != "health" || v["rand_guard"]["health"]["last"] != true {
        return Err(format!(
            "the last record is not the final health record: {v}"
        ));
    }
    let drops = &v["rand_guard"]["health"]["kernel_ringbuf_drops_total"];
    let dropped: u64 = drops
        .as_object()
        .map(|o| o.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    if dropped != 0 {
        return Err(format!(
            "the final health record counts ring-buffer drops: {drops}"
        ));
    }
    Ok("final health record, no drops".into())
}

/// Warnings a sandbox would cause (a file the agent cannot read, a hook it
/// cannot attach) show up as "rand-guard: warning:" lines; there must be
/// none. (Syscalls older kernels do not have are named on a line of their
/// own, not warned about.)
fn no_warnings(journal: &str) -> Result<String, String> {
    let found: Vec<&str> = journal
        .lines()
        .filter(|l| l.contains("rand-guard: warning:") || l.contains("rand-guard: error:"))
        .collect();
    if found.is_empty() {
        Ok("none".into())
    } else {
        Err(format!("{found:?}"))
    }
}

/// The stop job's SIGTERM comes from PID 1: a `signal` event with sender
/// pid 1 and SIGTERM, and no `rg-agent-signal` alert at all (nothing else
/// signals the agent in the guest).
fn pid1_stop_recorded_not_alerted(recs: &[Value]) -> Result<String, String> {
    let alerts = recs
        .iter()
        .filter(|v| v["record_type"] == "alert" && v["rule"]["id"] == "rg-agent-signal")
        .count();
    if alerts != 0 {
        return Err(format!("{alerts} rg-agent-signal alert(s); expected none"));
    }
    let term = recs.iter().find(|v| {
        v["record_type"] == "event"
            && v["event"]["action"] == "signal"
            && v["process"]["pid"] == 1
            && v["rand_guard"]["signal"]["name"] == "SIGTERM"
    });
    match term {
        Some(_) => Ok("a signal event: SIGTERM from pid 1; no rg-agent-signal alert".into()),
        None => Err("no signal event for SIGTERM from pid 1 in the output".into()),
    }
}

/// N of `rules check`'s "# rules OK: N rules from DIR (F files)".
fn rules_ok_count(line: &str) -> Option<usize> {
    line.split("# rules OK: ")
        .nth(1)?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

/// `systemctl show` after a stop: inactive, success, exited with 0.
fn stopped_cleanly(r: &Report, name: &str) -> Result<String, String> {
    // `systemctl show` prints the properties in its own order.
    let mut got = lines(text(r, name)?);
    got.sort();
    same_list(
        &got,
        &[
            "ActiveState=inactive",
            "ExecMainCode=1",
            "ExecMainStatus=0",
            "NRestarts=0",
            "Result=success",
            "SubState=dead",
        ]
        .map(String::from),
    )
    .map(|_| "inactive (dead), Result=success, exited 0, NRestarts=0".into())
}

/// "rand-guard: stopped: R records read, E events and A alerts written"
/// agrees with the records in the output.
fn stop_summary_matches(r: &Report, journal: &str, recs: &[Value]) -> Result<String, String> {
    let line = line_with(r, journal, "rand-guard: stopped: ")?;
    let (events, alerts) = stop_counts(&line).ok_or_else(|| format!("unreadable: {line}"))?;
    let count = |t: &str| recs.iter().filter(|v| v["record_type"] == t).count() as u64;
    if (count("event"), count("alert")) != (events, alerts) {
        return Err(format!(
            "the journal says {events} events and {alerts} alerts, the file has {} and {}",
            count("event"),
            count("alert")
        ));
    }
    Ok(format!("{events} events and {alerts} alerts, in both"))
}

/// (events, alerts) of the agent's stop line.
fn stop_counts(line: &str) -> Option<(u64, u64)> {
    let rest = line.split("records read, ").nth(1)?;
    let mut w = rest.split_whitespace();
    let events = w.next()?.parse().ok()?;
    (w.next()? == "events").then_some(())?;
    (w.next()? == "and").then_some(())?;
    let alerts = w.next()?.parse().ok()?;
    Some((events, alerts))
}

/// The running agent's /proc/PID/status and mountinfo show the unit's
/// directives in force.
fn sandbox(r: &Report, phase: &str) -> Result<String, String> {
    let status = text(r, &format!("{phase}.proc_status"))?;
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix(':'))
            .map(str::trim)
            .ok_or_else(|| format!("no {k} in /proc/PID/status"))
    };
    let caps = |k: &str| -> Result<u64, String> {
        u64::from_str_radix(field(k)?, 16).map_err(|e| format!("{k}: {e}"))
    };
    if caps("CapBnd")? != UNIT_CAPS || caps("CapEff")? != UNIT_CAPS {
        return Err(format!(
            "CapBnd {} CapEff {}, expected {UNIT_CAPS:016x}",
            field("CapBnd")?,
            field("CapEff")?
        ));
    }
    if field("NoNewPrivs")? != "1" {
        return Err("NoNewPrivs is not 1".into());
    }
    // SystemCallArchitectures=, RestrictAddressFamilies= and friends are
    // seccomp filters.
    if field("Seccomp")? != "2" {
        return Err(format!(
            "Seccomp is {}, expected 2 (filter)",
            field("Seccomp")?
        ));
    }
    let mounts = mounts(text(r, &format!("{phase}.mountinfo"))?);
    let opts = |path: &str| covering(&mounts, path);
    for (point, want) in [
        ("/", "ro"),                   // ProtectSystem=strict
        ("/var/log/rand-guard", "rw"), // LogsDirectory=
        ("/home", "ro"),               // ProtectHome=read-only
        ("/root", "ro"),
        ("/tmp", "rw"),      // PrivateTmp=
        ("/proc/sys", "ro"), // ProtectKernelTunables=
        ("/sys", "ro"),
        ("/sys/fs/cgroup", "ro"), // ProtectControlGroups=
    ] {
        let (at, o) = opts(point).ok_or_else(|| format!("no mount covers {point}"))?;
        if !o.split(',').any(|x| x == want) {
            return Err(format!(
                "{point} is on the mount at {at}, {o}; expected {want}"
            ));
        }
    }
    Ok(format!(
        "caps {UNIT_CAPS:x}, no_new_privs, seccomp, / ro, /var/log/rand-guard rw, private /tmp"
    ))
}

/// (mount point, per-mount options) of each /proc/PID/mountinfo line, in
/// order (a later mount on the same point hides an earlier one).
pub fn mounts(mountinfo: &str) -> Vec<(String, String)> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Some((f.get(4)?.to_string(), f.get(5)?.to_string()))
        })
        .collect()
}

/// The mount `path` is on: the longest mount point above it (or equal),
/// the last of several on the same point (it hides the others); (mount
/// point, options). systemd leaves out a mount that changes nothing (a
/// read-only /home under a read-only /), so a path is checked through
/// whatever mount covers it.
pub fn covering<'a>(mounts: &'a [(String, String)], path: &str) -> Option<(&'a str, &'a str)> {
    let under = |point: &str| {
        point == "/"
            || path == point
            || path
                .strip_prefix(point)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    mounts
        .iter()
        .enumerate()
        .filter(|(_, (p, _))| under(p))
        .max_by_key(|(i, (p, _))| (p.len(), *i))
        .map(|(_, (p, o))| (p.as_str(), o.as_str()))
}

/// "Overall exposure level for rand-guard.service: 4.9 OK" → that text.
pub fn exposure(analyze: &str) -> Option<String> {
    analyze
        .lines()
        .find_map(|l| l.split("Overall exposure level for ").nth(1))
        .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_warning_fails() {
        let ok = "rand-guard: ready: x\nrand-guard: not hooked, this kernel does not have \
                  them: fchmodat2, setxattrat, removexattrat\n";
        assert!(no_warnings(ok).is_ok());
        let bad = "rand-guard: warning: cannot read /proc/1/exe: Permission denied\n";
        assert!(no_warnings(bad).unwrap_err().contains("/proc/1/exe"));
        assert!(no_warnings("rand-guard: error: x\n").is_err());
    }

    #[test]
    fn unit_caps_are_the_units_bounding_set() {
        let unit =
            std::fs::read_to_string(crate::root().join("systemd/rand-guard.service")).unwrap();
        let line = unit
            .lines()
            .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
            .unwrap();
        let bits = [
            ("CAP_DAC_READ_SEARCH", 2),
            ("CAP_SYS_PTRACE", 19),
            ("CAP_SYS_ADMIN", 21),
            ("CAP_PERFMON", 38),
            ("CAP_BPF", 39),
        ];
        let mask = line.split_whitespace().fold(0u64, |m, name| {
            let (_, bit) = bits
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("{name}: add its number here and to UNIT_CAPS"));
            m | 1 << bit
        });
        assert_eq!(mask, UNIT_CAPS, "{line}");
    }

    #[test]
    fn the_stop_by_pid_1_is_an_event_not_an_alert() {
        let ev = |pid: u32, rt: &str| {
            serde_json::json!({"record_type": rt, "event": {"action": "signal"},
                "rule": {"id": "rg-agent-signal"}, "process": {"pid": pid},
                "rand_guard": {"signal": {"name": "SIGTERM"}}})
        };
        assert!(pid1_stop_recorded_not_alerted(&[ev(1, "event")]).is_ok());
        assert!(pid1_stop_recorded_not_alerted(&[]).is_err());
        assert!(pid1_stop_recorded_not_alerted(&[ev(42, "event")]).is_err());
        let e = pid1_stop_recorded_not_alerted(&[ev(1, "event"), ev(1, "alert")]).unwrap_err();
        assert_eq!(e, "1 rg-agent-signal alert(s); expected none");
    }

    #[test]
    fn rules_check_count() {
        let l = "# rules OK: 16 rules from /etc/rand-guard/rules.d (2 files)";
        assert_eq!(rules_ok_count(l), Some(16));
        assert_eq!(rules_ok_count("# rules OK: many"), None);
    }

    #[test]
    fn stop_line_counts() {
        let l = "rand-guard: stopped: 812 records read, 95 events and 3 alerts written, \
                 0 userspace-filtered, 0 invalid";
        assert_eq!(stop_counts(l), Some((95, 3)));
        assert_eq!(stop_counts("rand-guard: stopped: 1 records read, x"), None);
    }

    #[test]
    fn mountinfo_fields() {
        let m = "\
22 1 0:21 / / ro,relatime shared:1 - rootfs rootfs rw
30 22 0:25 / /tmp rw,nosuid,nodev shared:9 - tmpfs tmpfs rw
31 22 0:21 /var/log/rand-guard /var/log/rand-guard rw,relatime - rootfs rootfs rw
";
        assert_eq!(
            mounts(m),
            [
                ("/".into(), "ro,relatime".into()),
                ("/tmp".into(), "rw,nosuid,nodev".into()),
                ("/var/log/rand-guard".into(), "rw,relatime".into()),
            ]
        );
    }

    #[test]
    fn the_covering_mount_is_the_longest_and_latest() {
        let m: Vec<(String, String)> = [
            ("/", "rw"),
            ("/", "ro"),
            ("/var/log/rand-guard", "rw"),
            ("/var/log/rand-guard-other", "rw"),
            ("/tmp", "rw,nosuid"),
        ]
        .map(|(p, o)| (p.to_string(), o.to_string()))
        .to_vec();
        assert_eq!(covering(&m, "/home"), Some(("/", "ro")));
        assert_eq!(
            covering(&m, "/var/log/rand-guard"),
            Some(("/var/log/rand-guard", "rw"))
        );
        assert_eq!(
            covering(&m, "/var/log/rand-guard/x.jsonl"),
            Some(("/var/log/rand-guard", "rw"))
        );
        assert_eq!(covering(&m, "/var/log/rand-guardx"), Some(("/", "ro")));
        assert_eq!(covering(&m, "/tmp"), Some(("/tmp", "rw,nosuid")));
        assert_eq!(covering(&[], "/tmp"), None);
    }

    #[test]
    fn exposure_line() {
        let out = "  NAME  DESCRIPTION  EXPOSURE\n✗ PrivateNetwork= ...  0.5\n\n\
                   → Overall exposure level for rand-guard.service: 4.9 OK 🙂\n";
        assert_eq!(
            exposure(out).as_deref(),
            Some("rand-guard.service: 4.9 OK 🙂")
        );
        assert_eq!(exposure("nothing"), None);
    }

    #[test]
    fn records_skip_plain_lines() {
        let j = "rand-guard: ready: x\n{\"record_type\":\"event\"}\n{broken\n";
        let r = records(j);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0]["record_type"], "event");
    }

    fn rec(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn an_exec_needs_its_exit_and_exact_fields() {
        let exec = r#"{"record_type":"event","event":{"action":"exec"},"process":{"pid":7,
            "executable":"/bin/true","args":["/bin/true","m"],"user":{"id":"0"}},
            "rand_guard":{"process":{"exe":"/usr/bin/true"}}}"#;
        let exit = r#"{"record_type":"event","event":{"action":"exit"},"process":{"pid":7,"exit_code":0}}"#;
        let ok = [rec(exec), rec(exit)];
        assert_eq!(
            exec_record(&ok, &["/bin/true", "m"]).unwrap(),
            "pid 7: exec and exit 0"
        );
        assert!(
            exec_record(&ok, &["/bin/true"]).is_err(),
            "args must match exactly"
        );
        assert!(
            exec_record(&ok[..1], &["/bin/true", "m"])
                .unwrap_err()
                .contains("no exit")
        );
        let other = rec(&exec.replace("\"0\"", "\"1000\""));
        assert!(
            exec_record(&[other, rec(exit)], &["/bin/true", "m"])
                .unwrap_err()
                .contains("process.user.id")
        );
    }

    #[test]
    fn final_health_needs_last_and_no_drops() {
        let h = |last: bool, drops: u64| {
            rec(&format!(
                r#"{{"record_type":"health","rand_guard":{{"health":{{"last":{last},
                "kernel_ringbuf_drops_total":{{"exec":{drops},"fork":0}}}}}}}}"#
            ))
        };
        assert!(final_health(&h(true, 0)).is_ok());
        assert!(final_health(&h(false, 0)).is_err());
        assert!(final_health(&h(true, 2)).unwrap_err().contains("drops"));
    }

    #[test]
    fn a_short_report_fails_every_check_that_needs_it() {
        let r = super::super::report::parse(b"RGSECTION deb.install 0 0\n\n").unwrap();
        let x = Expect { deb_files: vec![] };
        let outcomes = all(&r, &x);
        let passed: Vec<&str> = outcomes
            .iter()
            .filter(|o| o.result.is_ok())
            .map(|o| o.name)
            .collect();
        assert_eq!(passed, ["dpkg -i installs the .deb"]);
    }
}
