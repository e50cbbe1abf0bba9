//! docs/shipping.md is the single source of its recipes: every rsyslog
//! configuration in it passes `rsyslogd -N1`, its agent configuration
//! parses, and its systemd drop-in verifies on top of the shipped unit
//! (which itself stays network-free). Vector and Fluent Bit are not in
//! Debian 12, so their snippets are not run (the document says so).

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::rsyslog::{RSYSLOGD, make_tls};

const DOC: &str = include_str!("../docs/shipping.md");
const UNIT: &str = include_str!("../systemd/rand-guard.service");

/// The fenced code blocks of the document tagged `lang`, in order.
fn blocks(lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in DOC.lines() {
        match (&mut current, line.trim_start().strip_prefix("```")) {
            (None, Some(tag)) if tag == lang => current = Some(String::new()),
            (Some(body), Some("")) => {
                out.push(std::mem::take(body));
                current = None;
            }
            (Some(body), _) => {
                body.push_str(line);
                body.push('\n');
            }
            _ => {}
        }
    }
    assert!(current.is_none(), "an unclosed ```{lang} block");
    out
}

#[test]
fn every_rsyslog_recipe_passes_rsyslogd_n1() {
    if !Path::new(RSYSLOGD).exists() {
        panic!("{RSYSLOGD} is missing: apt-get install rsyslog (scripts/deps/debian-packages)");
    }
    let recipes = blocks("rsyslog");
    assert_eq!(recipes.len(), 7, "the rsyslog recipes of docs/shipping.md");
    let dir = tempfile::tempdir().unwrap();
    let tls_dir = dir.path().join("tls");
    fs::create_dir(&tls_dir).unwrap();
    let tls = make_tls(&tls_dir);
    // The names the recipes use, for what the test made.
    fs::copy(&tls.cert, tls_dir.join("cert.pem")).unwrap();
    fs::copy(&tls.key, tls_dir.join("key.pem")).unwrap();
    let spool = dir.path().join("spool");
    fs::create_dir(&spool).unwrap();
    for (i, recipe) in recipes.iter().enumerate() {
        let drop_in = dir.path().join(format!("recipe-{i}.conf"));
        let text = recipe.replace("/etc/rsyslog-tls/", &format!("{}/", tls_dir.display()));
        fs::write(&drop_in, &text).unwrap();
        // What Debian's /etc/rsyslog.conf does before its includes.
        let main = dir.path().join(format!("main-{i}.conf"));
        fs::write(
            &main,
            format!(
                "global(workDirectory=\"{}\")\nmodule(load=\"imuxsock\")\ninclude(file=\"{}\")\n",
                spool.display(),
                drop_in.display()
            ),
        )
        .unwrap();
        let out = Command::new(RSYSLOGD)
            .arg("-N1")
            .arg("-f")
            .arg(&main)
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && !said.contains("error") && !said.contains("warning"),
            "recipe {} of docs/shipping.md:\n{text}\nrsyslogd -N1 said:\n{said}",
            i + 1
        );
        assert!(said.contains("End of config validation run"), "{said}");
    }
}

#[test]
fn a_broken_recipe_is_caught() {
    // The check above would notice: an unknown parameter fails -N1.
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("main.conf");
    fs::write(
        &main,
        "module(load=\"imtcp\")\ninput(type=\"imtcp\" port=\"514\" Bogus=\"1\")\n",
    )
    .unwrap();
    let out = Command::new(RSYSLOGD)
        .arg("-N1")
        .arg("-f")
        .arg(&main)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("error"), "{said}");
}

#[test]
fn the_agent_configurations_parse() {
    let tomls: Vec<String> = blocks("toml")
        .into_iter()
        .filter(|b| b.contains("[forward.syslog]"))
        .collect();
    assert_eq!(
        tomls.len(),
        3,
        "[forward.syslog] examples in docs/shipping.md"
    );
    let dir = tempfile::tempdir().unwrap();
    for (i, t) in tomls.iter().enumerate() {
        let path = dir.path().join(format!("c{i}.toml"));
        fs::write(&path, t).unwrap();
        let out = Command::new(common::AGENT)
            .args(["check-config", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{t}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(shown.contains("[forward.syslog]"), "{shown}");
    }
}

#[test]
fn the_forwarding_drop_in_verifies_and_the_unit_stays_network_free() {
    assert!(
        UNIT.lines().any(|l| l == "RestrictAddressFamilies=AF_UNIX"),
        "the shipped unit must not reach the network"
    );
    assert!(!UNIT.contains("AF_INET"));
    let drop_in = blocks("ini")
        .into_iter()
        .find(|b| b.contains("rand-guard.service.d/forward.conf"))
        .expect("the drop-in of docs/shipping.md");
    assert!(drop_in.contains("RestrictAddressFamilies=AF_INET AF_INET6\n"));
    assert!(drop_in.contains("IPAddressDeny=any\n"));
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED the drop-in check: systemd-analyze not installed");
        return;
    }
    let verify = |extra: &str| {
        let dir = tempfile::tempdir().unwrap();
        let unit = dir.path().join("rand-guard.service");
        fs::write(
            &unit,
            UNIT.replace("/usr/local/bin/rand-guard", common::AGENT),
        )
        .unwrap();
        let d = dir.path().join("rand-guard.service.d");
        fs::create_dir(&d).unwrap();
        fs::write(d.join("forward.conf"), format!("{drop_in}{extra}")).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&unit)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert_eq!(verify(""), "", "systemd-analyze verify complained");
    // The drop-in is read: a key it does not know is named.
    assert!(verify("NoSuchKey=1\n").contains("NoSuchKey"));
}
