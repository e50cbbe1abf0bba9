//! `[forward.syslog]` against a real rsyslogd that each test starts for
//! itself (tests/common/rsyslog.rs: its own configuration, loopback port
//! and socket; never the host's rsyslog or /dev/log). Every record the
//! agent writes locally, but the last health record (written after the
//! forwarder is done, so its counters are final), must arrive intact and
//! in order, or be counted in `forward_drops_total`: the number missing at
//! the collector is compared with that count (exactly, but over plain TCP
//! across a collector restart: see tcp_collector_restart_...). Over RELP
//! also exactly across a restart; a record may arrive twice there (sent
//! again when its answer was lost with the connection), never more often
//! than records were resent.

mod common;

use std::collections::HashMap;
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
        check_header(g, want[i], agent_pid);
        i += 1;
    }
    (want.len() - got.len()) as u64
}

/// At least once (RELP): every message the collector got is a local
/// record, with its header right; (local records that never arrived,
/// messages that were a record again). A duplicate is byte for byte the
/// record (docs/shipping.md: the dedupe key).
fn tally(local: &[Value], got: &[Received], agent_pid: u32) -> (u64, u64) {
    let want = forwardable(local);
    let index: HashMap<String, usize> = want
        .iter()
        .enumerate()
        .map(|(i, r)| (r.to_string(), i))
        .collect();
    let mut seen = vec![0u64; want.len()];
    for (n, g) in got.iter().enumerate() {
        let Some(&i) = index.get(&g.json.to_string()) else {
            panic!("collector message {n} is no local record: {:?}", g.json);
        };
        check_header(g, want[i], agent_pid);
        seen[i] += 1;
    }
    let missing = seen.iter().filter(|&&n| n == 0).count() as u64;
    let again = seen.iter().map(|&n| n.saturating_sub(1)).sum();
    (missing, again)
}

/// The RFC 5424 header rsyslog parsed from message `g` fits record `r`.
fn check_header(g: &Received, r: &Value, agent_pid: u32) {
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

/// The agent stopped, with what it wrote and what the collector got.
struct Stopped {
    pid: u32,
    local: Vec<Value>,
    stderr: String,
    got: Vec<Received>,
}

impl Stopped {
    fn health(&self) -> &Value {
        final_health(&self.local)
    }
}

/// Stop the agent (it must exit cleanly) and read the collector.
fn stop(agent: Agent, rs: &Rsyslog) -> Stopped {
    let pid = agent.pid();
    let (status, local, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    Stopped {
        pid,
        local,
        stderr,
        got: rs.received(),
    }
}

/// `[forward.syslog]` lines for a stream transport to `address`.
fn stream(transport: &str, address: &str, queue_records: Option<u32>) -> String {
    let queue = queue_records.map_or(String::new(), |n| format!("queue_records = {n}\n"));
    format!("transport = \"{transport}\"\naddress = \"{address}\"\n{queue}")
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
    let end = stop(agent, rs);
    assert_eq!(missing(&end.local, &end.got, end.pid), 0, "{}", end.stderr);
    let last = end.health();
    assert_eq!(drops(last), 0, "{last}");
    assert_eq!(
        get(last, "forward_messages_total"),
        end.got.len() as u64,
        "{last}"
    );
}

#[test]
fn tcp_every_record_arrives_and_a_reverse_shell_within_a_second() {
    if !privileged("tcp_every_record_arrives_and_a_reverse_shell_within_a_second") {
        return;
    }
    let (rs, marked, cfg) = setup("fwd-tcp", None, true, |c| stream("tcp", &c.address(), None));
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

    let end = stop(agent, &rs);
    assert_eq!(missing(&end.local, &end.got, end.pid), 0, "{}", end.stderr);
    let last = end.health();
    assert_eq!(drops(last), 0, "{last}");
    let fwd = get(last, "forward_messages_total");
    assert_eq!(fwd, end.got.len() as u64, "{last}");
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

/// The collector down when the agent starts: 200 chmods, then the
/// collector up, then 50 more. What the queue of 64 could not hold is
/// counted `collector_down`, exactly the records that never arrive; the
/// last 50 all arrive. The `[forward.syslog]` lines: `forward`.
fn down_at_start(tag: &str, forward: impl Fn(&Rsyslog) -> String) -> Stopped {
    let (mut rs, marked, cfg) = setup(tag, None, false, forward);
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
    let end = stop(agent, &rs);
    let (lost, again) = tally(&end.local, &end.got, end.pid);
    let h = end.health();
    assert!(
        lost > 0,
        "nothing was lost while the collector was down: {h}"
    );
    assert_eq!(again, 0, "{h}");
    assert_eq!(drops(h), lost, "{h}");
    assert_eq!(get(h, "forward_drops_total.collector_down"), lost, "{h}");
    // The last 50 chmods all arrived.
    let local_chmods: Vec<&Value> = end
        .local
        .iter()
        .filter(|r| marked.count(std::slice::from_ref(r)) == 1)
        .collect();
    for r in &local_chmods[local_chmods.len() - 50..] {
        assert!(end.got.iter().any(|g| g.json == **r), "not forwarded: {r}");
    }
    end
}

#[test]
fn tcp_collector_down_at_start_counts_then_delivers() {
    if !privileged("tcp_collector_down_at_start_counts_then_delivers") {
        return;
    }
    let end = down_at_start("fwd-late", |c| stream("tcp", &c.address(), Some(64)));
    // Over TCP also in order.
    missing(&end.local, &end.got, end.pid);
}

#[test]
fn relp_collector_down_at_start_counts_then_delivers() {
    if !privileged("relp_collector_down_at_start_counts_then_delivers") {
        return;
    }
    down_at_start("fwd-rlate", |c| stream("relp", &c.relp_address(), Some(64)));
}

/// A burst of 6000 marked chmods (20 every 5 ms) with the collector
/// stopped 0.5 s into it and started again 0.7 s later (the queue of 500
/// cannot hold that, however slow the machine makes the burst); what the
/// collector got (each once or more), with the counts: (records missing
/// at the collector, messages that were a record again, the run).
fn restart_in_a_burst(tag: &str, forward: impl Fn(&Rsyslog) -> String) -> (u64, u64, Stopped) {
    let (mut rs, marked, cfg) = setup(tag, None, true, forward);
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
    let end = stop(agent, &rs);
    let (lost, again) = tally(&end.local, &end.got, end.pid);
    let h = end.health();
    eprintln!(
        "{tag}: {lost} of {} records missing at the collector, {again} twice; drops {}; \
         resent {}; errors {}",
        forwardable(&end.local).len(),
        get(h, "forward_drops_total"),
        get(h, "forward_resent_total"),
        get(h, "forward_errors_total"),
    );
    assert!(get(h, "forward_errors_total").as_u64().unwrap() >= 1);
    assert!(
        drops(h) > 0,
        "the collector was down for 0.7 s of the burst: {h}\n{}",
        rs.diagnostics()
    );
    (lost, again, end)
}

#[test]
fn tcp_collector_restart_in_a_burst_loses_only_what_is_counted() {
    if !privileged("tcp_collector_restart_in_a_burst_loses_only_what_is_counted") {
        return;
    }
    let (lost, again, end) =
        restart_in_a_burst("fwd-restart", |c| stream("tcp", &c.address(), Some(500)));
    let h = end.health();
    assert_eq!(again, 0, "{h}");
    // Every record counted is missing: nothing counted was delivered.
    assert!(drops(h) <= lost, "{h}");
    // What the collector's kernel acknowledged and its rsyslogd never read
    // (it stops reading at SIGTERM, then closes) is lost where no sender
    // can see it: plain TCP syslog has no acknowledgement by the process
    // (docs/shipping.md). How much that is depends on how much the
    // collector's receive buffer held at the restart (18 to 34 records on
    // a quiet host, 400 on a loaded CI host with schema-2 records), so it is
    // not bounded here: the exact count is RELP's, asserted below.
    eprintln!(
        "fwd-restart: {} records lost in the collector's kernel buffer",
        lost - drops(h)
    );
}

#[test]
fn relp_collector_restart_in_a_burst_loses_exactly_what_is_counted() {
    if !privileged("relp_collector_restart_in_a_burst_loses_exactly_what_is_counted") {
        return;
    }
    let (lost, again, end) =
        restart_in_a_burst("fwd-relp", |c| stream("relp", &c.relp_address(), Some(500)));
    let h = end.health();
    // The collector's process answered every record it kept; the rest
    // were sent again or counted: the count is exactly the records that
    // never arrived.
    assert_eq!(drops(h), lost, "{h}");
    // A record arrives twice only when it was sent again (its answer was
    // lost with the connection).
    assert!(
        again <= get(h, "forward_resent_total").as_u64().unwrap(),
        "{again} twice: {h}"
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
