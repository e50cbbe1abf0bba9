//! Privileged end-to-end tests with real podman containers (busybox image
//! built locally): the agent on the host attributes container processes
//! to their container, and host processes to none.

mod common;

use std::process::Command;

use common::podman::Podman;
use common::{Agent, action, get, pid_of, privileged};
use serde_json::{Value, json};

const CONFIG: &str = "[kernel]\nring_buffer_bytes = 1048576\n";

fn is_alert(r: &Value, rule: &str) -> bool {
    get(r, "record_type") == "alert" && get(r, "rule.id") == rule
}

#[test]
fn container_processes_carry_their_container_and_host_ones_none() {
    let test = "container_processes_carry_their_container_and_host_ones_none";
    if !privileged(test) {
        return;
    }
    let Some(mut pm) = Podman::new(test) else {
        return;
    };
    let name = common::unique("ctr");
    let image = pm.busybox_image(&format!("localhost/{name}:1"));
    let agent = Agent::start(CONFIG);
    let id = pm.start(&name, &image, &["/bin/sleep", "600"]);
    let cpid = pm.pid(&name);
    // A cron job written inside the container: the container's file.
    pm.run(&[
        "exec",
        &name,
        "/bin/sh",
        "-c",
        "echo '* * * * * root true' > /etc/cron.d/rg-job",
    ]);
    let mut host = Command::new("/bin/true").spawn().unwrap();
    let host_pid = u64::from(host.id());
    assert!(host.wait().unwrap().success());
    agent.wait_for("the container's sleep exec", |r| {
        action(r) == "exec" && pid_of(r) == u64::from(cpid)
    });
    agent.wait_for("the cron alert in the container", |r| {
        is_alert(r, "rg-persist-cron") && get(r, "container.id") == id.as_str()
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    let want = json!({
        "id": id,
        "runtime": "podman",
        "name": name,
        "image": {"name": image},
    });
    let exec = records
        .iter()
        .find(|r| action(r) == "exec" && pid_of(r) == u64::from(cpid))
        .unwrap();
    assert_eq!(exec["container"], want, "{exec}");
    assert_eq!(get(exec, "process.executable"), "/bin/sleep");
    let path = get(exec, "rand_guard.process.cgroup_path")
        .as_str()
        .unwrap();
    assert!(path.contains(&format!("libpod-{id}")), "{path}");
    assert!(exec.get("orchestrator").is_none(), "{exec}");

    let alert = records
        .iter()
        .find(|r| is_alert(r, "rg-persist-cron") && get(r, "container.id") == id.as_str())
        .unwrap();
    assert_eq!(alert["container"], want, "{alert}");
    assert_eq!(get(alert, "file.path"), "/etc/cron.d/rg-job");
    let msg = get(alert, "message").as_str().unwrap();
    assert!(
        msg.starts_with("Cron job written: /etc/cron.d/rg-job (open by /bin/sh, pid ")
            && msg.ends_with(&format!(", in container {name})")),
        "{msg}"
    );

    // The host's /bin/true: no container, no unit (PID 1 is no systemd
    // here, and the root cgroup names none).
    let true_exec = records
        .iter()
        .find(|r| action(r) == "exec" && pid_of(r) == host_pid)
        .expect("host /bin/true exec");
    assert!(true_exec.get("container").is_none(), "{true_exec}");
    // Namespaces: the host's are this test's own; the container's differ
    // but for the network (podman's default here is its own too).
    let ns = |r: &Value, k: &str| get(r, &format!("rand_guard.process.namespaces.{k}")).clone();
    for (k, link) in [
        ("mnt", "mnt"),
        ("uts", "uts"),
        ("net", "net"),
        ("pid", "pid_for_children"),
    ] {
        let mine = std::fs::read_link(format!("/proc/self/ns/{link}")).unwrap();
        let mine = mine.to_str().unwrap();
        let id: u64 = mine[mine.find('[').unwrap() + 1..mine.len() - 1]
            .parse()
            .unwrap();
        assert_eq!(ns(true_exec, k), json!(id), "{k}: {true_exec}");
        assert_ne!(ns(exec, k), json!(id), "{k}: {exec}");
    }
    // Every record of a process in this container names it, none other.
    for r in &records {
        if let Some(c) = r.get("container")
            && c["id"] == json!(id)
        {
            assert_eq!(c, &want, "{r}");
        }
    }
    let health = common::final_health(&records);
    assert_eq!(health["container_metadata_errors_total"], 0);
    assert!(
        health["cgroup_cache_size"].as_u64().unwrap() >= 2,
        "{health}"
    );
}

/// rg-container-drift: a copy of busybox made in the container (as
/// /tmp/echo, the applet it runs) and run
/// there alerts; the image's own busybox, run before and after, does not.
#[test]
fn a_program_written_in_a_container_and_run_there_is_drift() {
    let test = "a_program_written_in_a_container_and_run_there_is_drift";
    if !privileged(test) {
        return;
    }
    let Some(mut pm) = Podman::new(test) else {
        return;
    };
    let name = common::unique("drift");
    let image = pm.busybox_image(&format!("localhost/{name}:1"));
    let agent = Agent::start(CONFIG);
    let id = pm.start(&name, &image, &["/bin/sleep", "600"]);
    let sh = |script: &str| pm.run(&["exec", &name, "/bin/sh", "-c", script]);
    sh("/bin/echo image");
    sh("/bin/cp /bin/busybox /tmp/echo && /tmp/echo drift");
    sh("/bin/echo image-again");
    // The copy is an exec of a program the agent has not hashed yet: on a
    // loaded host the alert can take longer than the usual 10 s.
    agent.wait_for_within("the drift alert", std::time::Duration::from_secs(30), |r| {
        is_alert(r, "rg-container-drift") && get(r, "container.id") == id.as_str()
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    let drift: Vec<&Value> = records
        .iter()
        .filter(|r| is_alert(r, "rg-container-drift") && get(r, "container.id") == id.as_str())
        .collect();
    assert_eq!(drift.len(), 1, "{drift:#?}");
    let a = drift[0];
    assert_eq!(get(a, "process.executable"), "/tmp/echo");
    assert_eq!(get(a, "process.args"), &json!(["/tmp/echo", "drift"]));
    assert_eq!(get(a, "container.name"), name.as_str());
    assert_eq!(
        get(a, "rule.name"),
        "Program not in the container's image run"
    );
    let msg = get(a, "message").as_str().unwrap();
    assert!(
        msg.starts_with("Program not in the container's image run (exec by /tmp/echo, pid ")
            && msg.ends_with(&format!(", in container {name})")),
        "{msg}"
    );
    // The image's echo ran in the same container: an exec, no alert.
    let echoes = records
        .iter()
        .filter(|r| {
            action(r) == "exec"
                && get(r, "container.id") == id.as_str()
                && get(r, "process.executable") == "/bin/echo"
        })
        .count();
    assert_eq!(echoes, 2);
}

/// Pulling or importing an image whose files carry capabilities (ping's
/// cap_net_raw, newuidmap's cap_setuid) writes them on the host: low, with
/// the engine named, not a page.
#[test]
fn an_image_unpacked_with_file_capabilities_is_low() {
    let test = "an_image_unpacked_with_file_capabilities_is_low";
    if !privileged(test) {
        return;
    }
    let Some(mut pm) = Podman::new(test) else {
        return;
    };
    let agent = Agent::start(CONFIG);
    let name = common::unique("caps");
    pm.image_with_capabilities(&format!("localhost/{name}:1"));
    let podman_untar = |r: &Value| {
        get(r, "rand_guard.process.exe")
            .as_str()
            .is_some_and(|e| e.ends_with("/podman"))
            && get(r, "process.args")[0] == "storage-untar"
    };
    agent.wait_for("the newuidmap capability", |r| {
        is_alert(r, "rg-perm-file-capability")
            && podman_untar(r)
            && get(r, "file.path") == "/bin/newuidmap"
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    // The layer of this image only: its storage-untar's args name it.
    let mut found: Vec<(String, u64, String)> = records
        .iter()
        .filter(|r| is_alert(r, "rg-perm-file-capability") && podman_untar(r))
        .map(|r| {
            (
                get(r, "file.path").as_str().unwrap().to_string(),
                get(r, "event.severity").as_u64().unwrap(),
                get(r, "message").as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    found.dedup();
    assert_eq!(
        found,
        [
            (
                "/bin/newuidmap".to_string(),
                21,
                "file capabilities cap_setuid=ep set on /bin/newuidmap by /proc/self/exe"
                    .to_string()
            ),
            (
                "/bin/ping".to_string(),
                21,
                "file capabilities cap_net_raw=p set on /bin/ping by /proc/self/exe".to_string()
            ),
        ]
    );
}
