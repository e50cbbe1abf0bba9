//! Privileged end-to-end tests of executable hashes: a copied binary run
//! from /tmp carries the exact SHA-256 of its bytes (and its parent the
//! shell's), in its records and in the rg-drop-exec alert; rewriting the
//! file in place changes the hash its next run carries.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{Agent, PATIENCE, about, action, final_health, get, pid_of, privileged, unique};
use serde_json::Value;
use sha2::{Digest, Sha256};

const CONFIG: &str = "[kernel]\nring_buffer_bytes = 4194304\n";

fn sha256_of(path: &str) -> String {
    let d = Sha256::digest(fs::read(path).unwrap());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Run the copy `bin` (of bash) as a child of `/bin/sh` (which forks for
/// it: a command follows) until the agent has hashed it, then end it and
/// wait for its exit record; the pid of the copy.
///
/// The hasher may be seconds behind on a loaded host (it hashes every
/// exec on it, in a debug build): the copy runs `/bin/sleep` in a loop,
/// and once a child's record carries the copy's hash as
/// `process.parent.hash.sha256`, the copy's image has it, so every record
/// of the copy written after (its exit) carries it.
fn run_until_hashed(agent: &Agent, bin: &str, want: &str) -> u32 {
    let stop = format!("{bin}.stop");
    let mut sh = Command::new("/bin/sh")
        .args([
            "-c",
            &format!("{bin} -c 'until [ -e {stop} ]; do /bin/sleep 0.05; done' & echo $!; wait"),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let _guard = Cleanup(stop.clone());
    let mut line = String::new();
    BufReader::new(sh.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pid: u32 = line.trim().parse().unwrap();
    agent.wait_for("a child's record with the copy's hash", |r| {
        get(r, "process.parent.pid") == pid && get(r, "process.parent.hash.sha256") == want
    });
    fs::write(&stop, "").unwrap();
    assert!(sh.wait().unwrap().success());
    agent.wait_for("the copy's exit", |r| {
        action(r) == "exit" && pid_of(r) == u64::from(pid)
    });
    pid
}

#[test]
fn an_executed_copy_carries_its_exact_hash_and_a_rewrite_changes_it() {
    if !privileged("an_executed_copy_carries_its_exact_hash_and_a_rewrite_changes_it") {
        return;
    }
    let bin = format!("/tmp/{}", unique("hash-bash"));
    let _guard = Cleanup(bin.clone());
    // The alert waits for the hash as long as it may (a loaded host's
    // hasher works through every other exec first).
    let agent = Agent::start(&format!("{CONFIG}[hash]\nalert_wait_ms = 5000\n"));
    // Written while the agent watches /tmp: a drop.
    fs::copy("/bin/bash", &bin).unwrap();
    let first = sha256_of(&bin);
    let shell = sha256_of(&fs::canonicalize("/bin/sh").unwrap().to_string_lossy());
    assert_ne!(first, shell, "the copy and its parent must differ");
    let pid1 = run_until_hashed(&agent, &bin, &first);
    // In place: same inode, new size and change time.
    fs::OpenOptions::new()
        .append(true)
        .open(&bin)
        .unwrap()
        .write_all(b"rand-guard hash test tail")
        .unwrap();
    let second = sha256_of(&bin);
    assert_ne!(first, second);
    let pid2 = run_until_hashed(&agent, &bin, &second);
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    for (pid, want) in [(pid1, &first), (pid2, &second)] {
        let mine = about(&records, pid);
        let exec = mine.iter().find(|r| action(r) == "exec").expect("exec");
        let exit = mine.iter().find(|r| action(r) == "exit").expect("exit");
        assert_eq!(get(exec, "process.executable"), &Value::from(bin.clone()));
        // The exit comes after a record that had the hash.
        assert_eq!(
            get(exit, "process.hash.sha256"),
            &Value::from(want.clone()),
            "{exit}"
        );
        assert_eq!(
            get(exit, "process.parent.hash.sha256"),
            &Value::from(shell.clone())
        );
        // The exec record has it when the hasher was first, the same one.
        let at_exec = get(exec, "process.hash.sha256");
        assert!(at_exec.is_null() || at_exec == want.as_str(), "{exec}");
        assert!(get(exit, "rand_guard.process.hash_skipped").is_null());
        // Dropped in /tmp and run: the alert names the hash if the hasher
        // had it within `alert_wait_ms` (the most there is: 5 s), and
        // nothing else. (A host busy with builds keeps the hasher longer.)
        let alert = records
            .iter()
            .find(|r| {
                r["record_type"] == "alert"
                    && get(r, "rule.id") == "rg-drop-exec"
                    && pid_of(r) == u64::from(pid)
            })
            .expect("rg-drop-exec");
        let message = get(alert, "message").as_str().unwrap();
        let hash = get(alert, "process.hash.sha256");
        if message.ends_with(&format!(" [sha256 {want}]")) {
            assert_eq!(hash, &Value::from(want.clone()));
        } else {
            // The record's process may have got the hash after the
            // message was made: then the exact one.
            eprintln!("the hasher was later than the alert for pid {pid}: {message}");
            assert!(!message.contains("[sha256"), "{message}");
            assert!(hash.is_null() || hash == want.as_str(), "{alert}");
        }
    }
    let health = final_health(&records);
    let hashed = &health["hash_files_hashed_total"];
    assert!(hashed.as_u64().unwrap() >= 2, "{health}");
}

/// The hash of every exec record of a burst of short-lived processes:
/// nearly all are gone before `/proc/PID/exe` can be opened, so the hash
/// comes from the executed inode's identity the kernel put in the exec
/// record (cache, or the path when it still holds that very inode).
#[test]
fn a_burst_of_short_lived_execs_carries_the_exact_hash() {
    if !privileged("a_burst_of_short_lived_execs_carries_the_exact_hash") {
        return;
    }
    const RUNS: usize = 400;
    let bin = format!("/tmp/{}", unique("hash-true"));
    let _guard = Cleanup(bin.clone());
    fs::copy("/bin/true", &bin).unwrap();
    let want = sha256_of(&bin);
    let agent = Agent::start(CONFIG);
    let out = Command::new("/bin/sh")
        .args([
            "-c",
            &format!("i=0; while [ $i -lt {RUNS} ]; do {bin}; i=$((i+1)); done; echo $$"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let shell: u64 = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The host may be busy with other tests' storms: the agent catches up
    // later, not never.
    agent.wait_for("exit of the loop's shell", |r| {
        action(r) == "exit" && pid_of(r) == shell
    });
    // The hasher may still be on other execs of a busy host: more runs,
    // one at a time, until an exec record shows the copy's hash came
    // from the cache (a run seen after the hasher was done).
    let hashed_exec = |r: &Value| {
        action(r) == "exec"
            && get(r, "process.executable") == bin.as_str()
            && get(r, "process.hash.sha256") == want.as_str()
    };
    let mut extra = 0;
    let deadline = Instant::now() + PATIENCE;
    // Until the latest run's exec carries it: the cold window is over.
    while !agent
        .records()
        .iter()
        .rfind(|r| action(r) == "exec" && get(r, "process.executable") == bin.as_str())
        .is_some_and(hashed_exec)
    {
        assert!(
            Instant::now() < deadline,
            "no exec with the hash within {PATIENCE:?}"
        );
        let mut run = Command::new(&bin).spawn().unwrap();
        let pid = run.id();
        assert!(run.wait().unwrap().success());
        extra += 1;
        agent.wait_for("the exec of another run", |r| {
            action(r) == "exec" && pid_of(r) == u64::from(pid)
        });
    }
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    let execs: Vec<&Value> = records
        .iter()
        .filter(|r| action(r) == "exec" && get(r, "process.executable") == bin.as_str())
        .collect();
    assert_eq!(execs.len(), RUNS + extra);
    let mut not_hashed: std::collections::BTreeMap<String, usize> = Default::default();
    let mut missing_at = Vec::new();
    for (i, e) in execs.iter().enumerate() {
        match get(e, "process.hash.sha256").as_str() {
            Some(h) => assert_eq!(h, want, "{e}"),
            None => {
                missing_at.push(i);
                let why = get(e, "rand_guard.process.hash_skipped");
                *not_hashed.entry(why.to_string()).or_default() += 1;
            }
        }
    }
    // The runs that miss it on their exec record are one window: while
    // the cache is cold, their records are written before the hasher has
    // read the file (a batch of the ring buffer goes through the enricher
    // at once); once the hash is in the cache, the enricher finds it for
    // every later run. The window need not start at the first run (a CI
    // run saw runs 0..2 hashed, 3..87 not, then all: the first runs'
    // records can wait in a batch behind the hash). None was swapped, so
    // none is `changed`; none is unset for another reason.
    eprintln!("{RUNS} + {extra} execs, not hashed by reason: {not_hashed:?} at {missing_at:?}");
    assert!(
        missing_at.windows(2).all(|w| w[1] == w[0] + 1),
        "the unhashed runs are not one window: {missing_at:?}"
    );
    assert!(
        missing_at.last().is_none_or(|l| *l + 1 < execs.len()),
        "no run after the window has the hash: {missing_at:?}"
    );
    assert!(not_hashed.keys().all(|k| k == "null"), "{not_hashed:?}");
    // Every exit record after the cold window carries it too (an exit of
    // that window may come before the hasher got to it: at start it works
    // through every other exec on the host, cold as well).
    let exits = records
        .iter()
        .filter(|r| action(r) == "exit" && get(r, "process.executable") == bin.as_str())
        .filter(|r| get(r, "process.hash.sha256") == want.as_str())
        .count();
    assert!(exits >= execs.len() - missing_at.len(), "{exits}");
    let health = final_health(&records);
    assert_eq!(get(health, "hash_not_hashed_total.changed"), 0, "{health}");
}
