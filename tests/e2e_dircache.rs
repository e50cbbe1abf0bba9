//! The file program's directory cache (bpf/dircache.bpf.h): a directory
//! whose entries the prefix filter drops is remembered, so a later write
//! there costs no path walk. What these tests hold it to: whatever moves
//! a remembered directory into a watched place (a rename of it or of an
//! ancestor, a rename in place to a watched name, a mount moved), a write
//! there is reported with its new path; and a directory holding a watched
//! exact path is never remembered for its other entries. Each test writes
//! in the unwatched directory first, more than once, so the entry exists
//! before the move.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{Agent, action, get, privileged, unique};
use serde_json::Value;

const CONFIG: &str = "[kernel]\nring_buffer_bytes = 4194304\n";

/// Writes `path` three times (the first fills the cache, the others hit it).
fn write_thrice(path: &str) {
    for _ in 0..3 {
        fs::write(path, "x").unwrap();
    }
}

fn opens_of<'a>(records: &'a [Value], path: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| action(r) == "open" && get(r, "file.path") == path)
        .collect()
}

/// Stops the agent once the write of `marker` (watched) is in: everything
/// written before it has been judged.
fn stop_after_marker(agent: Agent, marker: &str) -> Vec<Value> {
    fs::write(marker, "x").unwrap();
    agent.wait_for("the marker write", |r| get(r, "file.path") == marker);
    let (status, records, _) = agent.stop();
    assert!(status.success());
    fs::remove_file(marker).unwrap();
    records
}

/// No record names a path that starts with `prefix`.
fn no_record_starting(records: &[Value], prefix: &str) {
    for r in records {
        let p = get(r, "file.path").as_str().unwrap_or("");
        assert!(!p.starts_with(prefix), "{r}");
    }
}

/// A directory tree moved into /etc: writes below it, by path and through
/// an fd opened before the move, are reported with the new path.
#[test]
fn a_directory_moved_into_a_watched_prefix_is_seen() {
    if !privileged("a_directory_moved_into_a_watched_prefix_is_seen") {
        return;
    }
    let top = format!("/var/lib/{}", unique("dc-move"));
    let moved = format!("/etc/{}", unique("dc-moved"));
    fs::create_dir_all(format!("{top}/a/b")).unwrap();
    let agent = Agent::start(CONFIG);
    write_thrice(&format!("{top}/a/b/before"));
    let held = fs::File::options()
        .write(true)
        .open(format!("{top}/a/b/before"))
        .unwrap();
    fs::rename(&top, &moved).unwrap();
    write_thrice(&format!("{moved}/a/b/after"));
    // fchmod through the fd: its file's directory was remembered
    held.set_permissions(fs::Permissions::from_mode(0o600))
        .unwrap();
    let records = stop_after_marker(agent, &format!("/etc/{}", unique("dc-move-marker")));
    fs::remove_dir_all(&moved).unwrap();

    no_record_starting(&records, &format!("{top}/"));
    assert_eq!(opens_of(&records, &format!("{moved}/a/b/after")).len(), 3);
    let chmods: Vec<&Value> = records
        .iter()
        .filter(|r| {
            action(r) == "chmod" && get(r, "file.path") == format!("{moved}/a/b/before").as_str()
        })
        .collect();
    assert_eq!(chmods.len(), 1, "the fchmod after the move");
    assert_eq!(get(chmods[0], "file.mode"), "0600");
}

/// A rename in place, to the name of a watched prefix: the same parent,
/// the same inodes, only the name differs.
#[test]
fn a_directory_renamed_to_a_watched_name_is_seen() {
    if !privileged("a_directory_renamed_to_a_watched_name_is_seen") {
        return;
    }
    let base = format!("/var/lib/{}", unique("dc-name"));
    let watched = format!("{base}/watched");
    let other = format!("{base}/other");
    fs::create_dir_all(format!("{other}/d")).unwrap();
    let agent = Agent::start(&format!(
        "{CONFIG}[file]\ninclude = [\"/etc\", \"{watched}\"]\n"
    ));
    write_thrice(&format!("{other}/d/f"));
    fs::rename(&other, &watched).unwrap();
    write_thrice(&format!("{watched}/d/g"));
    let records = stop_after_marker(agent, &format!("/etc/{}", unique("dc-name-marker")));
    fs::remove_dir_all(&base).unwrap();

    no_record_starting(&records, &format!("{other}/"));
    assert_eq!(opens_of(&records, &format!("{watched}/d/g")).len(), 3);
}

/// A watched exact path in an unwatched directory: the other files there
/// are filtered, and the watched one is reported however often its
/// neighbours are written first.
#[test]
fn a_watched_file_among_unwatched_neighbours_is_seen() {
    if !privileged("a_watched_file_among_unwatched_neighbours_is_seen") {
        return;
    }
    let dir = format!("/var/lib/{}", unique("dc-exact"));
    let watched = format!("{dir}/watched.conf");
    fs::create_dir_all(&dir).unwrap();
    let agent = Agent::start(&format!(
        "{CONFIG}[file]\ninclude = [\"/etc\", \"{watched}\"]\n"
    ));
    for i in 0..3 {
        write_thrice(&format!("{dir}/neighbour{i}"));
    }
    write_thrice(&watched);
    let records = stop_after_marker(agent, &format!("/etc/{}", unique("dc-exact-marker")));
    fs::remove_dir_all(&dir).unwrap();

    assert_eq!(opens_of(&records, &watched).len(), 3);
    no_record_starting(&records, &format!("{dir}/neighbour"));
}

/// A tmpfs moved (`mount --move`) from an unwatched place into /etc: its
/// directories keep their dentries and their mount, only the mount point
/// changes.
#[test]
fn a_mount_moved_into_a_watched_prefix_is_seen() {
    if !privileged("a_mount_moved_into_a_watched_prefix_is_seen") {
        return;
    }
    let from = format!("/var/lib/{}", unique("dc-mnt"));
    let to = format!("/etc/{}", unique("dc-mnt-to"));
    fs::create_dir_all(&from).unwrap();
    fs::create_dir_all(&to).unwrap();
    let mount = |args: &[&str]| {
        let st = Command::new("mount").args(args).status().unwrap();
        assert!(st.success(), "mount {args:?}: {st}");
    };
    mount(&["-t", "tmpfs", "-o", "size=1m", "rg-test-dc", &from]);
    // a private mount can be moved whatever the propagation of its parent
    mount(&["--make-private", &from]);
    fs::create_dir_all(format!("{from}/d")).unwrap();
    let agent = Agent::start(CONFIG);
    write_thrice(&format!("{from}/d/f"));
    mount(&["--move", &from, &to]);
    write_thrice(&format!("{to}/d/g"));
    let records = stop_after_marker(agent, &format!("/etc/{}", unique("dc-mnt-marker")));
    let _ = Command::new("umount").arg("-l").arg(&to).status();
    fs::remove_dir_all(&to).unwrap();
    fs::remove_dir_all(&from).unwrap();

    no_record_starting(&records, &format!("{from}/"));
    assert_eq!(opens_of(&records, &format!("{to}/d/g")).len(), 3);
}
