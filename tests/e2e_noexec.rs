//! Privileged end-to-end test of drop-and-run through a script without
//! `#!`: the kernel refuses the exec (ENOEXEC, an `exec_refused` file
//! record) and the shell that tried runs the file itself, so no exec of
//! it is ever seen. Matches only its own processes (pids) and paths.

mod common;

use std::fs;
use std::process::Command;

use common::scenario::{CONFIG, alerts, downloader, evidence, is_alert, serve_once, temp_dir};
use common::{Agent, get, pid_of, privileged};
use serde_json::Value;

const PYTHON: &str = "/usr/bin/python3";

#[test]
fn a_dropped_script_without_a_shebang_run_by_the_shell() {
    if !privileged("a_dropped_script_without_a_shebang_run_by_the_shell") {
        return;
    }
    let (dir, _clean) = temp_dir("rg-noexec");
    // An old script, there before the agent started.
    let old = format!("{dir}/old");
    fs::write(&old, format!("echo old > {dir}/old.ran\n")).unwrap();
    Command::new("chmod").args(["755", &old]).status().unwrap();

    let payload = format!("{dir}/x");
    let (port, serve) = serve_once(format!("echo ran > {dir}/x.ran\n").into_bytes());
    let agent = Agent::start(CONFIG);

    // A downloader: connect, save a script with no #!, make it
    // executable, then have bash run it by name.
    let script = downloader(
        port,
        &payload,
        &format!(
            "p = subprocess.Popen([\"/bin/bash\", \"-c\", \"{payload}\"])\n\
             print(p.pid, flush=True)\n\
             p.wait()"
        ),
    );
    let out = Command::new(PYTHON).args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    serve.join().unwrap();
    let bash_pid: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert_eq!(fs::read_to_string(format!("{dir}/x.ran")).unwrap(), "ran\n");

    // A developer's own ./configure (no #!) in /tmp, written and run in
    // this session: low. And the old script: nothing.
    let configure = format!("{dir}/configure");
    let dev = Command::new("/bin/bash")
        .args([
            "-c",
            &format!(
                "printf 'echo configured > {dir}/c.ran\\n' > {configure}; chmod +x {configure}; \
                 cd {dir} && bash -c ./configure; bash -c {old}"
            ),
        ])
        .status()
        .unwrap();
    assert!(dev.success());
    assert!(fs::metadata(format!("{dir}/c.ran")).is_ok());
    assert!(fs::metadata(format!("{dir}/old.ran")).is_ok());

    agent.wait_for("the configure alert", |r| {
        is_alert(r, "rg-drop-exec")
            && get(r, "message")
                .as_str()
                .is_some_and(|m| m.starts_with(&configure))
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    let mine: Vec<&Value> = alerts(&records, "rg-drop-exec")
        .into_iter()
        .filter(|a| {
            get(a, "message")
                .as_str()
                .is_some_and(|m| m.starts_with(&dir))
        })
        .collect();
    assert_eq!(mine.len(), 2, "{mine:#?}");
    // The download: critical, on the bash that ran it.
    let dl = mine[0];
    assert_eq!(pid_of(dl), bash_pid);
    assert_eq!(get(dl, "event.severity"), 99);
    assert_eq!(get(dl, "event.action"), "exec_refused");
    let ev = evidence(dl);
    let actions: Vec<&str> = ev.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["connect", "open", "chmod", "exec_refused"]);
    assert_eq!(ev[3].1, bash_pid);
    let message = get(dl, "message").as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "{payload} written by {PYTHON} then run by /usr/bin/bash (the kernel refused it: \
             no #!), pid {bash_pid} (the writer downloads, in a temporary directory)"
        )),
        "{message}"
    );
    // The developer's configure: low.
    let cf = mine[1];
    assert_eq!(get(cf, "event.severity"), 21);
    assert_eq!(
        get(cf, "message").as_str().unwrap(),
        format!(
            "{configure} written by /bin/bash, made executable by /usr/bin/chmod then run by \
             /usr/bin/bash (the kernel refused it: no #!), pid {} (in a temporary directory)",
            pid_of(cf)
        )
    );
    // Nothing for the old script.
    assert!(
        mine.iter()
            .all(|a| !get(a, "message").as_str().unwrap().starts_with(&old))
    );
}
