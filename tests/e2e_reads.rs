//! Privileged end-to-end tests of the read watch (`[file] watch_reads`)
//! and rg-cred-sensitive-read: real reads by real processes against the
//! real agent, on ext4 (here /tmp), tmpfs and overlayfs, exact records
//! back. Each test watches files in a directory unique to it and matches
//! records by the pids of the readers it starts.

mod common;

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{Agent, final_health, get, pid_of, privileged, unique};
use serde_json::{Value, json};

/// `/bin/cat PATH > /dev/null`, to completion; its pid.
fn cat(path: &Path) -> u32 {
    let mut c = Command::new("/bin/cat")
        .arg(path)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = c.id();
    assert!(c.wait().unwrap().success(), "cat {}", path.display());
    pid
}

/// Open `path` read-only by file handle (name_to_handle_at, then
/// open_by_handle_at with its directory as the mount fd), in this
/// process: the open itself names no path.
fn open_by_handle(path: &Path) -> std::io::Result<OwnedFd> {
    #[repr(C)]
    struct Handle {
        bytes: u32,
        kind: i32,
        data: [u8; 128], // MAX_HANDLE_SZ
    }
    let mut h = Handle {
        bytes: 128,
        kind: 0,
        data: [0; 128],
    };
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut mount_id = 0;
    // SAFETY: c is a NUL-terminated path; h is a file_handle header
    // followed by handle_bytes (128) bytes of room; mount_id is an int.
    let rc = unsafe {
        libc::name_to_handle_at(
            libc::AT_FDCWD,
            c.as_ptr(),
            (&mut h as *mut Handle).cast(),
            &mut mount_id,
            0,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let dir = fs::File::open(path.parent().unwrap())?;
    // SAFETY: dir is an open fd on the same mount; h was filled above.
    let fd = unsafe {
        libc::open_by_handle_at(
            dir.as_raw_fd(),
            (&mut h as *mut Handle).cast(),
            libc::O_RDONLY,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by the kernel and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Event and alert records of process `pid`, excluding its process events.
fn file_records(records: &[Value], pid: u32) -> Vec<&Value> {
    records
        .iter()
        .filter(|r| pid_of(r) == pid as u64 && get(r, "event.category") == &json!(["file"]))
        .collect()
}

fn wait_stderr(agent: &Agent, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !agent.stderr_text().contains(what) {
        assert!(
            Instant::now() < deadline,
            "no {what:?} on the agent's stderr within 10 s:\n{}",
            agent.stderr_text()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// The open event and the alert `pid`'s read of `path` gave.
fn read_of<'a>(records: &'a [Value], pid: u32, path: &Path) -> (&'a Value, &'a Value) {
    let mine = file_records(records, pid);
    let shown: Vec<String> = mine
        .iter()
        .map(|r| format!("{} {}", r["record_type"], get(r, "file.path")))
        .collect();
    assert_eq!(mine.len(), 2, "{pid}: {shown:?}");
    let (ev, alert) = (mine[0], mine[1]);
    assert_eq!(ev["record_type"], "event");
    assert_eq!(alert["record_type"], "alert");
    assert_eq!(get(ev, "file.path"), &json!(path.to_str().unwrap()));
    (ev, alert)
}

/// A fresh directory under /tmp (ext4 on the CI machine), removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = PathBuf::from("/tmp").join(unique(tag));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn watched_reads_are_reported_by_inode_and_followed_across_a_replace() {
    if !privileged("watched_reads_are_reported_by_inode_and_followed_across_a_replace") {
        return;
    }
    let tmp = TempDir::new("reads");
    let ssh = tmp.0.join(".ssh");
    fs::create_dir(&ssh).unwrap();
    let key = ssh.join("id_ed25519");
    let public = ssh.join("id_ed25519.pub");
    let link = tmp.0.join("stash");
    fs::write(&key, "-----BEGIN OPENSSH PRIVATE KEY-----\n").unwrap();
    fs::write(&public, "ssh-ed25519 AAAA test\n").unwrap();
    // A hard link: another name for the same inode.
    fs::hard_link(&key, &link).unwrap();
    let dir = tmp.0.to_str().unwrap();
    let key_s = key.to_str().unwrap();
    let agent = Agent::start(&format!(
        "[kernel]\nring_buffer_bytes = 4194304\n[file]\ninclude = [{dir:?}]\n\
         watch_reads = [{key_s:?}]\n"
    ));
    wait_stderr(&agent, "read watch: 1 of 1 watched files exist");

    // The watched file, its public half (not watched), the hard link.
    let read_key = cat(&key);
    let read_public = cat(&public);
    let read_link = cat(&link);
    // By handle, in this process: no path is involved, the inode matches.
    drop(open_by_handle(&key).expect("open_by_handle_at"));

    // Replace it as tools do: write a new file, rename it over the old
    // one. The rename event makes the agent re-stat the watched path.
    let old_ino = fs::metadata(&key).unwrap().ino();
    let new = ssh.join("id_ed25519.new");
    fs::write(&new, "-----BEGIN OPENSSH PRIVATE KEY----- (rotated)\n").unwrap();
    // The old inode lives on as the hard link (so its number is not reused).
    fs::rename(&new, &key).unwrap();
    let new_ino = fs::metadata(&key).unwrap().ino();
    assert_ne!(old_ino, new_ino);
    wait_stderr(&agent, &format!("read watch: {key_s}: inode {new_ino} on "));
    let read_new = cat(&key);
    // The old inode is no longer watched: its other name reads quietly.
    let read_old = cat(&link);

    agent.wait_for("the read of the replaced file", |r| {
        r["record_type"] == "alert" && pid_of(r) == read_new as u64
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");

    // The first read: an open event with read-only flags, and the alert.
    let (ev, alert) = read_of(&records, read_key, &key);
    assert_eq!(get(ev, "event.action"), "open");
    assert_eq!(get(ev, "event.type"), &json!(["access"]));
    assert_eq!(get(ev, "event.outcome"), "success");
    assert_eq!(get(ev, "process.executable"), "/bin/cat");
    assert_eq!(get(ev, "process.args"), &json!(["/bin/cat", key_s]));
    assert_eq!(get(ev, "rand_guard.file.syscall"), "openat");
    assert_eq!(get(ev, "rand_guard.file.open_flags"), &json!(["O_RDONLY"]));
    assert_eq!(get(ev, "rand_guard.file.path_source"), "dentry");
    assert_eq!(get(ev, "rand_guard.file.watched_path"), &json!(key_s));
    assert!(get(ev, "rand_guard.file.result").as_i64().unwrap() >= 0);
    assert_eq!(get(alert, "rule.id"), "rg-cred-sensitive-read");
    assert_eq!(get(alert, "event.sequence"), get(ev, "event.sequence"));
    assert_eq!(get(alert, "event.severity"), 73);
    assert_eq!(
        get(alert, "threat.tactic.name"),
        &json!(["Credential Access"])
    );
    assert_eq!(get(alert, "threat.technique.id"), &json!(["T1552"]));
    assert_eq!(
        get(alert, "threat.technique.subtechnique.id"),
        &json!(["T1552.004"])
    );
    assert_eq!(
        get(alert, "message"),
        &json!(format!(
            "Sensitive file read: {key_s} (open by /bin/cat, pid {read_key})"
        ))
    );

    // Not watched: nothing at all.
    assert_eq!(file_records(&records, read_public), Vec::<&Value>::new());

    // The hard link is the same inode: seen, under the name it was opened by.
    let (ev, alert) = read_of(&records, read_link, &link);
    assert_eq!(get(ev, "rand_guard.file.watched_path"), &json!(key_s));
    assert_eq!(
        get(alert, "message"),
        &json!(format!(
            "Sensitive file read: {} (watched as {key_s}) (open by /bin/cat, pid {read_link})",
            link.display()
        ))
    );

    // open_by_handle_at is hooked too; the path comes from whichever
    // dentry of the inode the kernel found (here: either name).
    let me = std::process::id();
    let by_handle: Vec<&Value> = file_records(&records, me)
        .into_iter()
        .filter(|r| get(r, "rand_guard.file.syscall") == "open_by_handle_at")
        .collect();
    assert_eq!(by_handle.len(), 2, "{by_handle:#?}");
    let path = get(by_handle[0], "file.path").as_str().unwrap();
    assert!(path == key_s || Path::new(path) == link, "{path}");
    assert_eq!(
        get(by_handle[0], "rand_guard.file.watched_path"),
        &json!(key_s)
    );
    assert_eq!(get(by_handle[0], "event.type"), &json!(["access"]));
    assert_eq!(
        get(by_handle[0], "rand_guard.file.open_flags"),
        &json!(["O_RDONLY"])
    );
    assert_eq!(get(by_handle[1], "rule.id"), "rg-cred-sensitive-read");

    // After the replace: the new inode is watched, the old one is not.
    let (ev, _) = read_of(&records, read_new, &key);
    assert_eq!(get(ev, "event.type"), &json!(["access"]));
    assert_eq!(file_records(&records, read_old), Vec::<&Value>::new());

    let health = final_health(&records);
    assert_eq!(health["read_watch_files"], 1);
    assert_eq!(health["read_watch_updates_total"], 1);
}

/// Mounts made by the test, unmounted (lazily) in reverse order on drop.
struct Mounts(Vec<PathBuf>);

impl Drop for Mounts {
    fn drop(&mut self) {
        for m in self.0.iter().rev() {
            let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

fn mount(m: &mut Mounts, fstype: &str, target: &Path, data: &str) -> nix::Result<()> {
    nix::mount::mount(
        Some(fstype),
        target,
        Some(fstype),
        nix::mount::MsFlags::empty(),
        Some(data),
    )?;
    m.0.push(target.to_path_buf());
    Ok(())
}

/// The `major:minor` /proc/self/mountinfo gives the mount at `target`.
fn mountinfo_dev(target: &Path) -> String {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = info
        .lines()
        .find(|l| l.split(' ').nth(4) == target.to_str())
        .unwrap_or_else(|| panic!("{} not in mountinfo", target.display()));
    line.split(' ').nth(2).unwrap().to_string()
}

#[test]
fn watched_reads_match_on_tmpfs_and_overlayfs() {
    if !privileged("watched_reads_match_on_tmpfs_and_overlayfs") {
        return;
    }
    let tmp = TempDir::new("readfs");
    let (t, up, work, merged) = (
        tmp.0.join("t"),
        tmp.0.join("up"),
        tmp.0.join("work"),
        tmp.0.join("m"),
    );
    for d in [&t, &up, &work, &merged] {
        fs::create_dir(d).unwrap();
    }
    let mut mounts = Mounts(Vec::new());
    mount(&mut mounts, "tmpfs", &t, "size=1m,mode=0700").unwrap();
    let on_tmpfs = t.join("secret");
    fs::write(&on_tmpfs, "tmpfs secret\n").unwrap();
    let lower = t.join("lower");
    fs::create_dir(&lower).unwrap();
    fs::write(lower.join("secret"), "overlay secret\n").unwrap();
    // Layers on two file systems (lower tmpfs, upper ext4) without xino:
    // stat(2) reports a per-layer device there, not the overlay's own.
    let opts = format!(
        "lowerdir={},upperdir={},workdir={},xino=off",
        lower.display(),
        up.display(),
        work.display()
    );
    let overlay = mount(&mut mounts, "overlay", &merged, &opts);
    if let Err(e) = &overlay {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "NOTE watched_reads_match_on_tmpfs_and_overlayfs: no overlayfs here ({e}): tmpfs only"
        );
    }
    let on_overlay = merged.join("secret");

    let mut watched = vec![on_tmpfs.clone()];
    if overlay.is_ok() {
        watched.push(on_overlay.clone());
        let st = fs::metadata(&on_overlay).unwrap().dev();
        eprintln!(
            "overlay: stat(2) st_dev {}:{}, superblock {}",
            libc::major(st),
            libc::minor(st),
            mountinfo_dev(&merged)
        );
    }
    let list: Vec<String> = watched
        .iter()
        .map(|p| format!("{:?}", p.to_str().unwrap()))
        .collect();
    let agent = Agent::start(&format!(
        "[kernel]\nring_buffer_bytes = 4194304\n[file]\ninclude = []\nwatch_reads = [{}]\n",
        list.join(", ")
    ));
    wait_stderr(
        &agent,
        &format!(
            "read watch: {n} of {n} watched files exist",
            n = watched.len()
        ),
    );
    let readers: Vec<(u32, &PathBuf)> = watched.iter().map(|p| (cat(p), p)).collect();
    // The overlay's lower file itself is another inode on another device.
    let lower_read = overlay.is_ok().then(|| cat(&lower.join("secret")));
    let last = readers.last().unwrap().0;
    agent.wait_for("the last watched read", |r| {
        r["record_type"] == "alert" && pid_of(r) == last as u64
    });
    let (status, records, stderr) = agent.stop();
    assert!(status.success(), "{stderr}");
    for (pid, path) in &readers {
        let (ev, alert) = read_of(&records, *pid, path);
        assert_eq!(get(ev, "event.type"), &json!(["access"]));
        assert_eq!(
            get(ev, "rand_guard.file.watched_path"),
            &json!(path.to_str().unwrap())
        );
        assert_eq!(get(alert, "threat.technique.id"), &json!(["T1552"]));
        assert_eq!(
            get(alert, "threat.technique.subtechnique.id"),
            &json!(["T1552.001"])
        );
    }
    if let Some(pid) = lower_read {
        assert_eq!(file_records(&records, pid), Vec::<&Value>::new());
    }
    drop(mounts);
}

/// `/bin/dd if=PATH of=/dev/null count=0` (the open, nothing read; a
/// `/proc/self` path is dd's own), to completion; its pid.
fn dd_open(path: &str) -> u32 {
    let mut c = Command::new("/bin/dd")
        .args([
            &format!("if={path}"),
            "of=/dev/null",
            "count=0",
            "status=none",
        ])
        .spawn()
        .unwrap();
    let pid = c.id();
    assert!(c.wait().unwrap().success(), "dd if={path}");
    pid
}

/// Another process's memory opened for reading (T1003.007: `dd
/// if=/proc/$PID/mem`) is reported by the kernel while the read watch is
/// on, whatever `watch_reads` lists, and alerts; a process opening its own
/// (`/proc/self/mem`) or another's `maps` does not.
#[test]
fn another_process_memory_read_is_credential_dumping() {
    if !privileged("another_process_memory_read_is_credential_dumping") {
        return;
    }
    let mut victim = Command::new("/bin/sleep").arg("30").spawn().unwrap();
    let v = victim.id();
    let agent = Agent::start("");
    let dump = dd_open(&format!("/proc/{v}/mem"));
    let own = dd_open("/proc/self/mem");
    let maps = dd_open(&format!("/proc/{v}/maps"));
    let marker = cat(Path::new("/etc/hostname"));
    agent.wait_for("the marker's exit", |r| {
        get(r, "event.action") == "exit" && pid_of(r) == u64::from(marker)
    });
    let (status, records, stderr) = agent.stop();
    let _ = victim.kill();
    let _ = victim.wait();
    assert!(status.success(), "{stderr}");
    let reads: Vec<&Value> = file_records(&records, dump)
        .into_iter()
        .filter(|r| r["record_type"] == "event")
        .collect();
    assert_eq!(reads.len(), 1, "{reads:#?}");
    assert_eq!(get(reads[0], "file.path"), &json!(format!("/proc/{v}/mem")));
    assert_eq!(
        get(reads[0], "rand_guard.file.watched_path"),
        &json!("/proc/*/mem")
    );
    let alerts: Vec<&Value> = records
        .iter()
        .filter(|r| r["record_type"] == "alert" && pid_of(r) == u64::from(dump))
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(get(alerts[0], "rule.id"), &json!("rg-cred-sensitive-read"));
    assert_eq!(
        get(alerts[0], "threat.technique.subtechnique.id"),
        &json!(["T1003.007"])
    );
    for (what, pid) in [("own memory", own), ("another's maps", maps)] {
        assert!(file_records(&records, pid).is_empty(), "{what}");
        assert!(
            !records
                .iter()
                .any(|r| r["record_type"] == "alert" && pid_of(r) == u64::from(pid)),
            "{what}"
        );
    }
}
