//! Privileged end-to-end tests of `[ioc]`: a listed SHA-256 of a copied
//! binary raises rg-ioc-match when it runs; a loopback address added to a
//! list by a SIGHUP reload raises it on the next connect; a bad line on
//! reload keeps the lists in force.

mod common;

use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::Command;

use common::{Agent, get, pid_of, privileged, unique};
use nix::sys::signal::Signal;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn sha256_of(path: &std::path::Path) -> String {
    let d = Sha256::digest(fs::read(path).unwrap());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn ioc_alerts(records: &[Value]) -> Vec<&Value> {
    records
        .iter()
        .filter(|r| r["record_type"] == "alert" && get(r, "rule.id") == "rg-ioc-match")
        .collect()
}

/// A connect of this process to a fresh loopback listener; its port.
fn connect_once() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(TcpStream::connect(("127.0.0.1", port)).unwrap());
    port
}

#[test]
fn listed_hash_and_reloaded_address_raise_ioc_matches() {
    if !privileged("listed_hash_and_reloaded_address_raise_ioc_matches") {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix(&unique("ioc"))
        .tempdir()
        .unwrap();
    let bin = dir.path().join("listed-sleep");
    fs::copy("/bin/sleep", &bin).unwrap();
    let digest = sha256_of(&bin);
    let hashes = dir.path().join("hashes.txt");
    let ips = dir.path().join("ips.txt");
    fs::write(
        &hashes,
        format!("# test feed\n\n{}  # the copy\n", digest.to_uppercase()),
    )
    .unwrap();
    fs::write(&ips, "# documentation block only\n192.0.2.0/24\n").unwrap();
    let config = format!(
        "[kernel]\nring_buffer_bytes = 4194304\n\
         [network]\nenabled = true\nhooks = [\"connect\"]\n\
         [ioc]\nsha256_files = [{:?}]\nip_files = [{:?}]\n",
        hashes.display().to_string(),
        ips.display().to_string()
    );
    let agent = Agent::start(&config);
    let mut child = Command::new(&bin).arg("0.2").spawn().unwrap();
    let run_pid = child.id();
    assert!(child.wait().unwrap().success());
    agent.wait_for("the hash match", |r| {
        r["record_type"] == "alert"
            && get(r, "rule.id") == "rg-ioc-match"
            && pid_of(r) == u64::from(run_pid)
    });
    let me = u64::from(std::process::id());
    let dport = |r: &Value| get(r, "destination.port").as_u64();
    // Not listed yet; through the detector before the reload reaches it.
    let before = connect_once();
    agent.wait_for("the unlisted connect", |r| {
        r["record_type"] == "event" && pid_of(r) == me && dport(r) == Some(u64::from(before))
    });
    // Listed by a reload.
    let mut f = fs::OpenOptions::new().append(true).open(&ips).unwrap();
    writeln!(f, "127.0.0.1 # added by the test").unwrap();
    drop(f);
    agent.signal(Signal::SIGHUP);
    agent.wait_stderr("rand-guard: config reloaded", 1);
    let after = connect_once();
    agent.wait_for("the address match", |r| {
        r["record_type"] == "alert"
            && get(r, "rule.id") == "rg-ioc-match"
            && dport(r) == Some(u64::from(after))
    });
    // A bad line: refused, the lists in force stay.
    fs::write(&ips, "127.0.0.1\n127.0.0.1/33\n").unwrap();
    agent.signal(Signal::SIGHUP);
    agent.wait_stderr("ioc reload refused", 1);
    let kept = connect_once();
    agent.wait_for("the match under the kept lists", |r| {
        r["record_type"] == "alert"
            && get(r, "rule.id") == "rg-ioc-match"
            && dport(r) == Some(u64::from(kept))
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    let ips_name = ips.display().to_string();
    assert!(
        stderr.contains(&format!("ioc list {ips_name} line 2: \"127.0.0.1/33\"")),
        "{stderr}"
    );

    let alerts = ioc_alerts(&records);
    let by_run: Vec<&&Value> = alerts
        .iter()
        .filter(|r| pid_of(r) == u64::from(run_pid))
        .collect();
    assert_eq!(by_run.len(), 1, "{alerts:#?}");
    let a = by_run[0];
    assert_eq!(
        get(a, "threat.feed.name"),
        &Value::from(hashes.display().to_string())
    );
    assert_eq!(get(a, "threat.indicator.type"), "file");
    assert_eq!(
        get(a, "threat.indicator.name"),
        &Value::from(digest.clone())
    );
    assert_eq!(get(a, "process.hash.sha256"), &Value::from(digest.clone()));
    assert_eq!(get(a, "event.severity"), 73);

    let mine = |port: u16| -> Vec<&&Value> {
        alerts
            .iter()
            .filter(|r| pid_of(r) == me && dport(r) == Some(u64::from(port)))
            .collect()
    };
    assert!(mine(before).is_empty(), "{alerts:#?}");
    for port in [after, kept] {
        let a = mine(port);
        assert_eq!(a.len(), 1, "{alerts:#?}");
        assert_eq!(
            get(a[0], "threat.feed.name"),
            &Value::from(ips_name.clone())
        );
        assert_eq!(get(a[0], "threat.indicator.type"), "ipv4-addr");
        assert_eq!(get(a[0], "threat.indicator.name"), "127.0.0.1");
        assert_eq!(get(a[0], "destination.ip"), "127.0.0.1");
    }
}
