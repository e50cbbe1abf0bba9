//! User and group names for ids (`user.name`, `group.name`, ...), from
//! `passwd` and `group` files (normally /etc's).
//!
//! Read once into maps; the record writer looks names up without touching
//! the files. [`Accounts::refresh`] is called once per output batch: at
//! most once a [`RECHECK`] it stats both files and rereads one whose
//! identity (device, inode, size, modification time) changed, so a user
//! added with `useradd` is named within seconds, while a storm of events
//! costs no file access. Only local files are read: a name served by NSS
//! from LDAP or SSSD is not resolved (the id is still written).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the files are checked for change.
pub const RECHECK: Duration = Duration::from_secs(2);

/// What tells a changed file from the one read: (dev, ino, size, mtime).
type Stamp = Option<(u64, u64, u64, i64, i64)>;

#[derive(Default)]
struct Table {
    names: HashMap<u32, Arc<str>>,
    stamp: Stamp,
}

impl Table {
    fn stamp(path: &Path) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some((m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
    }

    /// Reread `path` if its stamp changed; a file that cannot be read
    /// leaves the table empty (names are then absent, ids still written).
    fn refresh(&mut self, path: &Path) {
        let stamp = Self::stamp(path);
        if stamp.is_some() && stamp == self.stamp {
            return;
        }
        self.stamp = stamp;
        self.names = std::fs::read_to_string(path)
            .map(|text| parse(&text))
            .unwrap_or_default();
    }
}

/// `name:x:id:...` lines: the id (third field) → the name (first). The
/// first line for an id wins, as getpwuid(3) finds it; comments, blank and
/// malformed lines, and NIS `+`/`-` entries are skipped.
fn parse(text: &str) -> HashMap<u32, Arc<str>> {
    let mut names = HashMap::new();
    for line in text.lines() {
        let mut f = line.split(':');
        let (Some(name), Some(_), Some(id)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if name.is_empty() || name.starts_with(['#', '+', '-']) {
            continue;
        }
        if let Ok(id) = id.parse::<u32>() {
            names.entry(id).or_insert_with(|| Arc::from(name));
        }
    }
    names
}

/// Names of users and groups, by id.
pub struct Accounts {
    passwd: PathBuf,
    group: PathBuf,
    users: Table,
    groups: Table,
    checked: Option<Instant>,
    /// Bumped whenever a table was reread: what was written with the old
    /// names (the writer's cached credential members) is stale.
    generation: u64,
}

impl Accounts {
    /// The accounts of the files `passwd` and `group` in `dir` (`/etc` on
    /// a host), read now.
    pub fn new(dir: &Path) -> Self {
        let mut a = Accounts {
            passwd: dir.join("passwd"),
            group: dir.join("group"),
            users: Table::default(),
            groups: Table::default(),
            checked: None,
            generation: 0,
        };
        a.refresh(Instant::now());
        a
    }

    /// Reread a file that changed, if `RECHECK` passed since the last look.
    pub fn refresh(&mut self, now: Instant) {
        if self
            .checked
            .is_some_and(|t| now.saturating_duration_since(t) < RECHECK)
        {
            return;
        }
        self.checked = Some(now);
        let before = (self.users.stamp, self.groups.stamp);
        self.users.refresh(&self.passwd);
        self.groups.refresh(&self.group);
        if before != (self.users.stamp, self.groups.stamp) {
            self.generation += 1;
        }
    }

    pub fn user(&self, uid: u32) -> Option<&str> {
        self.users.names.get(&uid).map(|n| &**n)
    }

    pub fn group(&self, gid: u32) -> Option<&str> {
        self.groups.names.get(&gid).map(|n| &**n)
    }

    /// Changes whenever the names may have.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_lines_first_wins() {
        let m = parse(
            "root:x:0:0:root:/root:/bin/bash\n# comment\n\nbad line\n+nis::::\n\
             alice:x:1000:1000::/home/alice:/bin/sh\ntoor:x:0:0::/:/bin/sh\nbob:x:notanumber:1\n",
        );
        assert_eq!(m.len(), 2);
        assert_eq!(&*m[&0], "root");
        assert_eq!(&*m[&1000], "alice");
    }

    #[test]
    fn rereads_a_changed_file_after_the_recheck_interval_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("passwd"), "alice:x:1000:1000::/:/bin/sh\n").unwrap();
        std::fs::write(dir.join("group"), "staff:x:50:\n").unwrap();
        let t0 = Instant::now();
        let mut a = Accounts::new(dir);
        a.refresh(t0);
        let g0 = a.generation();
        assert_eq!(a.user(1000), Some("alice"));
        assert_eq!(a.group(50), Some("staff"));
        assert_eq!(a.user(1001), None);
        // Replaced as useradd does: a new file renamed over the old.
        std::fs::write(
            dir.join("passwd.new"),
            "alice:x:1000:1000::/:/bin/sh\nbob:x:1001:1001::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::rename(dir.join("passwd.new"), dir.join("passwd")).unwrap();
        a.refresh(t0 + RECHECK / 2);
        assert_eq!(a.user(1001), None, "looked before the interval");
        a.refresh(t0 + RECHECK * 2);
        assert_eq!(a.user(1001), Some("bob"));
        assert!(a.generation() > g0);
        // Unchanged files: nothing reread, the generation stays.
        let g1 = a.generation();
        a.refresh(t0 + RECHECK * 4);
        assert_eq!(a.generation(), g1);
        // A file that vanished: its names go.
        std::fs::remove_file(dir.join("group")).unwrap();
        a.refresh(t0 + RECHECK * 6);
        assert_eq!(a.group(50), None);
    }
}
