//! Path-prefix rules (shared by the kernel filter and userspace) and the
//! userspace exclusions, applied in the detector stage.
//!
//! [`PrefixRules`] is the one definition of "watched": the loader turns it
//! into the kernel's LPM trie entries, and userspace applies the same rules
//! to the records the kernel could not judge (flagged unfiltered: a `..`
//! or `.` in a caller's path). [`Filter`] adds the noise exclusions from
//! config (executables and path globs). Every event it drops is counted as
//! userspace-filtered.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use crate::config;
use crate::kernel::abi::{self, PrefixKey, prefix_verdict};
use crate::model::event::{Body, CAP_XATTR, Event, FileOp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Include,
    Exclude,
}

/// Watched and excluded path prefixes; the longest match decides, and a
/// prefix matches itself and everything below it (never `/etcfoo` for
/// `/etc`). An exclude equal to an include wins.
#[derive(Debug, Clone, Default)]
pub struct PrefixRules {
    /// Longest first.
    rules: Vec<(String, Verdict)>,
}

impl PrefixRules {
    pub fn new(include: &[String], exclude: &[String]) -> Self {
        let mut rules: Vec<(String, Verdict)> = include
            .iter()
            .filter(|p| !exclude.contains(p))
            .map(|p| (p.clone(), Verdict::Include))
            .chain(exclude.iter().map(|p| (p.clone(), Verdict::Exclude)))
            .collect();
        rules.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        PrefixRules { rules }
    }

    pub fn verdict(&self, path: &str) -> Option<Verdict> {
        self.rules
            .iter()
            .find(|(p, _)| covers(p, path))
            .map(|(_, v)| *v)
    }

    pub fn watched(&self, path: &str) -> bool {
        self.verdict(path) == Some(Verdict::Include)
    }

    /// The kernel trie entries: for each prefix P, "P/" (below it) and
    /// "P\0" (P itself), "/" alone covering everything; and "A/" for each
    /// proper ancestor directory A of a prefix, with the verdict the
    /// others give below A (0: none), so that the kernel can tell a
    /// directory whose entries are not all decided alike (its directory
    /// cache, bpf/dircache.bpf.h). Values: the verdict, `NOCACHE` on the
    /// ancestors and the exact-path entries, and the entry's length.
    ///
    /// More entries than the trie holds (deep prefixes by the hundred):
    /// the ancestors are left out and the rest, and a "/" entry, are marked
    /// `NOCACHE` with the largest length, which turns the cache off and
    /// leaves the verdicts as they are.
    pub fn kernel_entries(&self) -> Vec<(PrefixKey, u32)> {
        let mut entries: Vec<(Vec<u8>, u32, bool)> = Vec::new();
        let mut ancestors: Vec<String> = Vec::new();
        for (p, _) in &self.rules {
            for (i, _) in p.match_indices('/').filter(|(i, _)| *i + 1 < p.len()) {
                let a = &p[..=i];
                if !ancestors.iter().any(|x| x == a) {
                    ancestors.push(a.to_string());
                }
            }
        }
        for (p, v) in &self.rules {
            let dir = if p == "/" {
                "/".to_string()
            } else {
                format!("{p}/")
            };
            let nocache = ancestors.contains(&dir);
            entries.push((dir.into_bytes(), kernel_verdict(*v), nocache));
            if p != "/" {
                entries.push(([p.as_bytes(), b"\0"].concat(), kernel_verdict(*v), true));
            }
        }
        let real = entries.len();
        for a in &ancestors {
            if !entries.iter().any(|(k, _, _)| k == a.as_bytes()) {
                // what the longest prefix covering A gives below it
                let dir = a.trim_end_matches('/');
                let v = self.verdict(if dir.is_empty() { "/" } else { dir });
                entries.push((a.clone().into_bytes(), v.map_or(0, kernel_verdict), true));
            }
        }
        let overflow = entries.len() > abi::PREFIX_ENTRIES;
        if overflow {
            entries.truncate(real);
            entries.retain(|(k, _, _)| k != b"/");
            let root = self.rules.iter().find(|(p, _)| p == "/");
            entries.push((
                b"/".to_vec(),
                root.map_or(0, |(_, v)| kernel_verdict(*v)),
                true,
            ));
        }
        entries
            .into_iter()
            .map(|(bytes, verdict, nocache)| {
                let mut key = PrefixKey {
                    prefixlen: (bytes.len() * 8) as u32,
                    data: [0; abi::PREFIX_MAX],
                };
                key.data[..bytes.len()].copy_from_slice(&bytes);
                let len = if overflow { 0xffff } else { bytes.len() as u32 };
                let flag = if nocache || overflow {
                    prefix_verdict::NOCACHE
                } else {
                    0
                };
                (key, verdict | flag | len << prefix_verdict::LEN_SHIFT)
            })
            .collect()
    }
}

fn kernel_verdict(v: Verdict) -> u32 {
    match v {
        Verdict::Include => prefix_verdict::INCLUDE,
        Verdict::Exclude => prefix_verdict::EXCLUDE,
    }
}

/// Whether prefix `p` covers `path`: equal, or a component boundary follows.
fn covers(p: &str, path: &str) -> bool {
    p == "/"
        || path
            .strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn glob(pattern: &str) -> Result<Glob, globset::Error> {
    // `*` stays within one path component; `**` crosses them.
    GlobBuilder::new(pattern).literal_separator(true).build()
}

/// One glob with `*` confined to one component.
pub fn glob_matcher(pattern: &str) -> Result<globset::GlobMatcher, globset::Error> {
    glob(pattern).map(|g| g.compile_matcher())
}

/// One glob as a compiled regex on the path's bytes: what the matcher of
/// [`glob_matcher`] runs, without building a globset `Candidate` (a
/// base-name and extension scan) on every test. For rules, which test one
/// glob at a time on the hot path.
pub fn glob_regex(pattern: &str) -> Result<regex::bytes::Regex, String> {
    let g = glob(pattern).map_err(|e| e.kind().to_string())?;
    regex::bytes::RegexBuilder::new(g.regex())
        .dot_matches_new_line(true)
        .build()
        .map_err(|e| e.to_string())
}

/// A set of globs with `*` confined to one component.
pub fn globset(patterns: &[String]) -> Result<GlobSet, globset::Error> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(glob(p)?);
    }
    b.build()
}

/// The userspace filter of the detector stage.
pub struct Filter {
    prefixes: PrefixRules,
    /// `[file] include` and `detect_only`, to tell which one covers a path.
    include: Vec<String>,
    detect_only: Vec<String>,
    exclude_executables: GlobSet,
    exclude_paths: GlobSet,
}

impl Filter {
    /// From a validated configuration (globs already checked).
    pub fn new(cfg: &config::File) -> Result<Self, globset::Error> {
        // The kernel watches both kinds of prefix; only the output differs.
        let watched: Vec<String> = cfg
            .include
            .iter()
            .chain(&cfg.detect_only)
            .cloned()
            .collect();
        Ok(Filter {
            prefixes: PrefixRules::new(&watched, &cfg.exclude),
            include: cfg.include.clone(),
            detect_only: cfg.detect_only.clone(),
            exclude_executables: globset(&cfg.exclude_executables)?,
            exclude_paths: globset(&cfg.exclude_paths)?,
        })
    }

    pub fn prefixes(&self) -> &PrefixRules {
        &self.prefixes
    }

    /// Whether `ev` is watched for detections only: a file event whose
    /// paths are all covered by a `detect_only` prefix longer than any
    /// `include` prefix that covers them. Such events feed the detections
    /// and are not written. A watched read and a file capability set or
    /// removed are written wherever they are: the kernel reports them
    /// regardless of the prefixes, and they are rare.
    pub fn detection_only(&self, ev: &Event) -> bool {
        let Body::File(f) = &ev.body else {
            return false;
        };
        let capability = f.xattr.as_ref().is_some_and(|x| x.name == CAP_XATTR);
        if self.detect_only.is_empty() || f.watched.is_some() || capability {
            return false;
        }
        let longest = |list: &[String], path: &str| {
            list.iter()
                .filter(|p| covers(p, path))
                .map(|p| p.len())
                .max()
        };
        let mut paths = vec![f.path.as_str()];
        match f.op {
            FileOp::Rename => paths.extend(f.original_path.as_deref()),
            FileOp::Link => paths.extend(f.target_path.as_deref()),
            _ => {}
        }
        paths.iter().all(|p| match longest(&self.detect_only, p) {
            Some(d) => longest(&self.include, p).is_none_or(|i| i < d),
            None => false,
        })
    }

    /// Whether the event goes on; false means drop it (and count it).
    pub fn keep(&self, ev: &Event) -> bool {
        let Body::File(f) = &ev.body else {
            return true;
        };
        // A path cut at the kernel's bound has lost its head, and an
        // unreadable one is not there: where it is cannot be told, and it
        // is reported (flagged truncated) rather than dropped, so nesting
        // deeper than the bound, or unmapping a path, hides nothing.
        let cut = f.truncated.any();
        if f.unfiltered && !cut {
            // The kernel saw a path with "." or ".." in it; judge the
            // normalized operands as the kernel would have.
            let mut operands = vec![f.path.as_str()];
            match f.op {
                FileOp::Rename => operands.extend(f.original_path.as_deref()),
                FileOp::Link => operands.extend(f.target_path.as_deref()),
                _ => {}
            }
            if !operands.iter().any(|p| self.prefixes.watched(p)) {
                return false;
            }
        }
        if self.exclude_paths.is_match(&f.path) {
            return false;
        }
        if let Some(p) = &ev.process
            && !p.image.executable.is_empty()
            && self.exclude_executables.is_match(&p.image.executable)
        {
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_regex_agrees_with_the_glob_matcher() {
        let globs = [
            "/tmp/**",
            "/{tmp,var/tmp,dev/shm}/**",
            "/home/*/.ssh/authorized_keys",
            "{/root,/home/*}/.{bash,zsh}_history",
            "*.service",
            "/etc/rc[0-6S].d/**",
            "/usr/bin/?ash",
            "**/x",
        ];
        let paths = [
            "/tmp/x",
            "/tmp",
            "/tmpx/y",
            "/var/tmp/a/b",
            "/dev/shm/.k",
            "/home/ann/.ssh/authorized_keys",
            "/home/ann/x/.ssh/authorized_keys",
            "/root/.zsh_history",
            "/home/a/.bash_history",
            "evil.service",
            "/etc/evil.service",
            "/etc/rc2.d/S99x",
            "/etc/rc7.d/S99x",
            "/usr/bin/bash",
            "/usr/bin/dash",
            "/usr/bin/ba/sh",
            "/a/b/x",
            "x",
            "/tmp/new\nline",
            "",
        ];
        for g in globs {
            let m = glob_matcher(g).unwrap();
            let r = glob_regex(g).unwrap();
            for p in paths {
                assert_eq!(m.is_match(p), r.is_match(p.as_bytes()), "{g} on {p:?}");
            }
        }
        assert!(glob_regex("a[").is_err());
    }
    use crate::model::event::{FileBody, FileTruncation};

    fn rules() -> PrefixRules {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        PrefixRules::new(
            &s(&["/etc", "/home", "/etc/ssl/private"]),
            &s(&["/etc/ssl", "/home/u/.cache"]),
        )
    }

    #[test]
    fn longest_prefix_wins_on_component_boundaries() {
        let r = rules();
        assert_eq!(r.verdict("/etc"), Some(Verdict::Include));
        assert_eq!(r.verdict("/etc/passwd"), Some(Verdict::Include));
        assert_eq!(r.verdict("/etcfoo/x"), None);
        assert_eq!(r.verdict("/etc/ssl/certs/a.pem"), Some(Verdict::Exclude));
        assert_eq!(r.verdict("/etc/ssl/private/k"), Some(Verdict::Include));
        assert_eq!(r.verdict("/home/u/.cache/x"), Some(Verdict::Exclude));
        assert_eq!(r.verdict("/home/u/.cachex"), Some(Verdict::Include));
        assert_eq!(r.verdict("/tmp/x"), None);
        let all = PrefixRules::new(&["/".to_string()], &[]);
        assert!(all.watched("/anything/at/all"));
    }

    #[test]
    fn kernel_entries_spell_both_forms() {
        use prefix_verdict::{EXCLUDE, INCLUDE, NOCACHE};
        let r = PrefixRules::new(
            &["/etc".to_string(), "/".to_string()],
            &["/etc/ssl".to_string()],
        );
        assert_eq!(
            entries(&r),
            vec![
                ("/etc/ssl/".into(), EXCLUDE, 9),
                ("/etc/ssl\0".into(), EXCLUDE | NOCACHE, 9),
                // /etc holds /etc/ssl: not one verdict for all its entries
                ("/etc/".into(), INCLUDE | NOCACHE, 5),
                ("/etc\0".into(), INCLUDE | NOCACHE, 5),
                ("/".into(), INCLUDE | NOCACHE, 1),
            ]
        );
    }

    #[test]
    fn kernel_entries_mark_every_ancestor_with_the_verdict_above_it() {
        use prefix_verdict::{EXCLUDE, INCLUDE, NOCACHE};
        let r = PrefixRules::new(
            &["/var/spool/cron".to_string(), "/srv".to_string()],
            &["/srv/www/cache".to_string()],
        );
        assert_eq!(
            entries(&r),
            vec![
                ("/var/spool/cron/".into(), INCLUDE, 16),
                ("/var/spool/cron\0".into(), INCLUDE | NOCACHE, 16),
                ("/srv/www/cache/".into(), EXCLUDE, 15),
                ("/srv/www/cache\0".into(), EXCLUDE | NOCACHE, 15),
                ("/srv/".into(), INCLUDE | NOCACHE, 5),
                ("/srv\0".into(), INCLUDE | NOCACHE, 5),
                // no prefix covers these: verdict 0, the entry only marks them
                ("/".into(), NOCACHE, 1),
                ("/var/".into(), NOCACHE, 5),
                ("/var/spool/".into(), NOCACHE, 11),
                // /srv covers /srv/www
                ("/srv/www/".into(), INCLUDE | NOCACHE, 9),
            ]
        );
    }

    #[test]
    fn kernel_entries_past_the_trie_turn_the_cache_off() {
        use prefix_verdict::{INCLUDE, NOCACHE};
        // 40 prefixes 60 components deep: far more ancestors than entries
        let deep: Vec<String> = (0..40)
            .map(|i| format!("/d{i}{}", "/a".repeat(60)))
            .collect();
        let r = PrefixRules::new(&deep, &[]);
        let all = entries(&r);
        assert!(all.len() <= abi::PREFIX_ENTRIES, "{}", all.len());
        assert!(
            all.iter()
                .all(|(_, v, len)| v & NOCACHE != 0 && *len == 0xffff)
        );
        assert!(all.contains(&("/".into(), NOCACHE, 0xffff)));
        assert!(all.contains(&(format!("{}/", deep[0]), INCLUDE | NOCACHE, 0xffff)));
    }

    /// (key, flags and verdict, length) of each kernel entry.
    fn entries(r: &PrefixRules) -> Vec<(String, u32, u32)> {
        r.kernel_entries()
            .iter()
            .map(|(k, v)| {
                let n = (k.prefixlen / 8) as usize;
                let len = v >> prefix_verdict::LEN_SHIFT;
                assert!(
                    len == n as u32 || len == 0xffff,
                    "length of {:?}",
                    &k.data[..n]
                );
                (
                    String::from_utf8_lossy(&k.data[..n]).into_owned(),
                    v & 0xffff,
                    len,
                )
            })
            .collect()
    }

    fn file_event(op: FileOp, path: &str, original: Option<&str>, unfiltered: bool) -> Event {
        Event {
            seq: 1,
            time_ns: 0,
            ktime_ns: 0,
            pid: 1,
            tid: 1,
            body: Body::File(FileBody {
                op,
                syscall: "renameat2",
                path: path.into(),
                original_path: original.map(Into::into),
                target_path: None,
                result: 0,
                open_flags: 0,
                mode: None,
                owner: None,
                group: None,
                at_flags: 0,
                resolved: false,
                unfiltered,
                watched: None,
                xattr: None,
                truncated: FileTruncation::default(),
            }),
            process: None,
        }
    }

    #[test]
    fn unfiltered_records_are_judged_in_userspace() {
        let f = Filter::new(&config::File::default()).unwrap();
        // "/tmp/../etc/x" was normalized to /etc/x by the normalizer.
        assert!(f.keep(&file_event(FileOp::Unlink, "/etc/x", None, true)));
        assert!(!f.keep(&file_event(FileOp::Unlink, "/srv/x", None, true)));
        // Either rename operand may be the watched one.
        assert!(f.keep(&file_event(
            FileOp::Rename,
            "/srv/x",
            Some("/etc/cron.d/x"),
            true
        )));
        // Records the kernel already judged are not judged again.
        assert!(f.keep(&file_event(FileOp::Unlink, "/srv/x", None, false)));
        // A path cut at the kernel's bound (its head is gone) is kept.
        let mut cut = file_event(FileOp::Open, "/d/d/d/f", None, true);
        if let Body::File(b) = &mut cut.body {
            b.truncated.path = true;
        }
        assert!(f.keep(&cut));
    }

    #[test]
    fn detect_only_prefixes_are_watched_but_not_written() {
        let f = Filter::new(&config::File {
            include: vec!["/etc".into(), "/tmp/keep".into()],
            ..config::File::default()
        })
        .unwrap();
        let only =
            |op, path, other: Option<&str>| f.detection_only(&file_event(op, path, other, false));
        // /tmp is watched by default, for detections only.
        assert!(f.prefixes().verdict("/tmp/x") == Some(Verdict::Include));
        assert!(only(FileOp::Open, "/tmp/x", None));
        assert!(only(FileOp::Open, "/dev/shm/x", None));
        // A longer include wins: that subtree is written.
        assert!(!only(FileOp::Open, "/tmp/keep/x", None));
        // Watched paths are written; so is a rename touching one.
        assert!(!only(FileOp::Open, "/etc/x", None));
        assert!(!only(FileOp::Rename, "/tmp/x", Some("/etc/cron.d/x")));
        assert!(only(FileOp::Rename, "/tmp/y", Some("/tmp/x")));
        // A file capability is written wherever it is; another attribute
        // in /tmp is not.
        let xattr = |name: &str| {
            let mut ev = file_event(FileOp::SetXattr, "/tmp/py", None, false);
            if let Body::File(b) = &mut ev.body {
                b.xattr = Some(crate::model::event::Xattr {
                    name: name.into(),
                    size: Some(20),
                    caps: None,
                });
            }
            f.detection_only(&ev)
        };
        assert!(!xattr(CAP_XATTR));
        assert!(xattr("trusted.x"));
        // Not a file event.
        let exec = Event {
            body: Body::Exit(crate::model::event::ExitBody {
                start_ns: 0,
                ppid: 1,
                name: "x".into(),
                status: crate::model::event::ExitStatus::from_wait_status(0),
            }),
            ..file_event(FileOp::Open, "/tmp/x", None, false)
        };
        assert!(!f.detection_only(&exec));
        // Turned off: nothing is detection-only.
        let f = Filter::new(&config::File {
            detect_only: vec![],
            ..config::File::default()
        })
        .unwrap();
        assert!(!f.detection_only(&file_event(FileOp::Open, "/tmp/x", None, false)));
    }

    #[test]
    fn exclusions_by_path_glob_and_executable() {
        let cfg = config::File {
            exclude_executables: vec!["/usr/bin/apt*".into()],
            ..config::File::default()
        };
        let f = Filter::new(&cfg).unwrap();
        // Default exclude_paths: caches in home directories.
        assert!(!f.keep(&file_event(
            FileOp::Open,
            "/home/ann/.cache/x/y",
            None,
            false
        )));
        assert!(f.keep(&file_event(FileOp::Open, "/home/ann/.bashrc", None, false)));
        let mut ev = file_event(FileOp::Open, "/etc/apt/x", None, false);
        ev.process = Some(std::sync::Arc::new(crate::model::proctable::Process {
            pid: 1,
            ppid: 0,
            start_ns: 0,
            start_exact: true,
            start_time_ns: 0,
            image: std::sync::Arc::new(crate::model::event::Image {
                executable: "/usr/bin/apt-get".into(),
                ..Default::default()
            }),
            creds: None,
            cgroup_id: None,
            cgroup: None,
            ns: None,
            parent: None,
            origin: crate::model::proctable::Origin::Exec,
            chain_len: 0,
            entity_id: Default::default(),
        }));
        assert!(!f.keep(&ev));
    }

    /// The default allowlist of `rg-cred-sensitive-read` (config) matches
    /// the programs it names through the filter's globs, and nothing else.
    #[test]
    fn default_allowlist_matches_what_it_names() {
        let allow = globset(&crate::config::Detections::default().sensitive_read_allow).unwrap();
        for exe in [
            "/usr/sbin/unix_chkpwd",
            "/sbin/unix_chkpwd",
            "/usr/sbin/sshd",
            "/usr/lib/openssh/sshd-session",
            "/usr/libexec/openssh/sshd-auth",
            "/usr/bin/sudo",
            "/bin/su",
            "/usr/bin/passwd",
            "/usr/sbin/chpasswd",
            "/bin/login",
            "/usr/sbin/cron",
            "/usr/sbin/crond",
            "/usr/lib/systemd/systemd",
            "/lib/systemd/systemd",
            "/usr/sbin/useradd",
            "/usr/sbin/vipw",
            "/usr/lib/polkit-1/polkit-agent-helper-1",
            "/usr/bin/ssh",
        ] {
            assert!(allow.is_match(exe), "{exe}");
        }
        for exe in [
            "/usr/bin/cat",
            "/tmp/unix_chkpwd",
            "/usr/sbin/sshd.evil",
            "/home/u/bin/sudo",
            "/usr/lib/systemd/systemd-run",
            "/usr/bin/scp",
            "/usr/bin/ssh-keygen",
            "/usr/local/bin/su",
        ] {
            assert!(!allow.is_match(exe), "{exe}");
        }
    }
}
