//! The sample Sigma rules (rules/sample-sigma.yml) load whole, and each
//! fires on its behaviour and stays silent on a near miss.

use std::path::Path;

use super::tests::{dns, ex, file, hits, net};
use super::*;
use crate::detect::rules::RuleSet;
use crate::model::event::{FileOp, NetOp};

const SAMPLES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/rules/sample-sigma.yml"
));

fn one(id: &str) -> RuleSet {
    let f = parse_file(Path::new("rules/sample-sigma.yml"), SAMPLES).unwrap();
    RuleSet::from_rules(f.rules.into_iter().filter(|r| r.meta.id == id).collect())
}

#[test]
fn every_sample_loads() {
    let f = parse_file(Path::new("rules/sample-sigma.yml"), SAMPLES).unwrap();
    assert!(f.skipped.is_empty(), "{:?}", f.skipped);
    let ids: Vec<&str> = f.rules.iter().map(|r| r.meta.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "81149f9d-2671-43a1-9cca-d535b43dc1b2",
            "dd4cf831-ec51-427f-b473-7dc81525dac1",
            "9aec11f9-7bf8-48e0-ae9e-663b5d31a709",
            "a4b8e940-d839-4d1a-ab44-c6089b9eb2a4",
            "e25cbfb9-2f29-49b4-ab6b-7ccc1665ecca",
        ]
    );
    for r in &f.rules {
        assert!(!r.meta.references.is_empty() && r.meta.authors == ["rand-guard developers"]);
        assert!(
            !r.meta.techniques.is_empty() && !r.meta.tactics.is_empty(),
            "{}",
            r.meta.id
        );
    }
}

#[test]
fn firewall_flush() {
    let s = one("81149f9d-2671-43a1-9cca-d535b43dc1b2");
    assert!(hits(&s, &ex("/usr/sbin/iptables", &["iptables", "-F"])));
    assert!(hits(&s, &ex("/usr/sbin/nft", &["nft", "flush", "ruleset"])));
    assert!(hits(&s, &ex("/usr/sbin/ufw", &["ufw", "disable"])));
    assert!(!hits(&s, &ex("/usr/sbin/iptables", &["iptables", "-L"])));
    assert!(!hits(&s, &ex("/usr/sbin/ufw", &["ufw", "status"])));
    // A chain's policy opened; ufw's logging off (T1562.004 variants).
    assert!(hits(
        &s,
        &ex("/usr/sbin/iptables", &["iptables", "-P", "INPUT", "ACCEPT"])
    ));
    assert!(hits(&s, &ex("/usr/sbin/ufw", &["ufw", "logging", "off"])));
    assert!(!hits(
        &s,
        &ex("/usr/sbin/iptables", &["iptables", "-P", "INPUT", "DROP"])
    ));
    assert!(!hits(&s, &ex("/usr/sbin/ufw", &["ufw", "logging", "on"])));
}

#[test]
fn security_service_stopped() {
    let s = one("dd4cf831-ec51-427f-b473-7dc81525dac1");
    let ctl = "/usr/bin/systemctl";
    assert!(hits(&s, &ex(ctl, &["systemctl", "stop", "auditd"])));
    assert!(hits(
        &s,
        &ex(ctl, &["systemctl", "disable", "--now", "rsyslog.service"])
    ));
    assert!(hits(
        &s,
        &ex("/usr/sbin/service", &["service", "auditd", "stop"])
    ));
    assert!(hits(&s, &ex("/usr/sbin/setenforce", &["setenforce", "0"])));
    assert!(hits(&s, &ex("/usr/sbin/auditctl", &["auditctl", "-D"])));
    assert!(hits(&s, &ex("/usr/sbin/aa-teardown", &["aa-teardown"])));
    // Near misses: another service stopped, the logger only asked about or
    // restarted, SELinux made enforcing.
    assert!(!hits(&s, &ex(ctl, &["systemctl", "stop", "nginx"])));
    assert!(!hits(&s, &ex(ctl, &["systemctl", "status", "auditd"])));
    assert!(!hits(&s, &ex(ctl, &["systemctl", "restart", "rsyslog"])));
    assert!(!hits(&s, &ex("/usr/sbin/setenforce", &["setenforce", "1"])));
    assert!(!hits(&s, &ex("/usr/sbin/auditctl", &["auditctl", "-l"])));
}

#[test]
fn program_written_into_bin() {
    let s = one("9aec11f9-7bf8-48e0-ae9e-663b5d31a709");
    assert!(hits(&s, &file(FileOp::Open, "/usr/bin/sshd")));
    assert!(hits(&s, &file(FileOp::Rename, "/usr/local/bin/kworker")));
    assert!(!hits(&s, &file(FileOp::Open, "/usr/binx/sshd")));
    let mut by_dpkg = file(FileOp::Open, "/usr/bin/sshd");
    by_dpkg.process = Some(crate::testkit::process(
        9,
        "/usr/bin/dpkg",
        &["dpkg", "-i", "x.deb"],
        None,
    ));
    assert!(!hits(&s, &by_dpkg));
}

#[test]
fn interpreter_connects_out() {
    let s = one("a4b8e940-d839-4d1a-ab44-c6089b9eb2a4");
    let py = |ev: crate::model::event::Event| {
        let mut ev = ev;
        ev.process = Some(crate::testkit::process(
            9,
            "/usr/bin/python3",
            &["python3", "-c", "x"],
            None,
        ));
        ev
    };
    assert!(hits(&s, &py(net(NetOp::Connect, "203.0.113.7:4444"))));
    assert!(!hits(&s, &py(net(NetOp::Connect, "203.0.113.7:443"))));
    assert!(!hits(&s, &py(net(NetOp::Connect, "127.0.0.1:4444"))));
    assert!(!hits(&s, &py(net(NetOp::Accept, "203.0.113.7:4444"))));
    assert!(!hits(&s, &net(NetOp::Connect, "203.0.113.7:4444")));
}

#[test]
fn tunnelling_service() {
    let s = one("e25cbfb9-2f29-49b4-ab6b-7ccc1665ecca");
    assert!(hits(&s, &dns("abc123.ngrok-free.app")));
    assert!(!hits(&s, &dns("ngrok-free.app.example.org")));
}
