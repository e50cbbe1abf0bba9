//! File hygiene of the agent's inputs, in the manner of sshd's
//! `StrictModes`.
//!
//! The agent runs as root and does what its configuration, its rules and
//! an external BPF object (`EDR_EBPF_OBJECT`) say. Whoever can write one
//! of them, or swap it by renaming in a directory above it, can blind the
//! agent. So `rand-guard run` refuses one that is not owned by root (or by
//! the agent's own user, when it runs as another user with capabilities)
//! or that group or others may write; and the same for every directory
//! above it up to `/`, and for every symlink on the way (only its owner
//! matters: a symlink's mode is never used).
//!
//! In: a path and what it is ([`Role`]). Out: `Ok`, or a [`HygieneError`]
//! naming the file or directory found wrong, its owner and mode, what is
//! required and the command that fixes it. A path that does not exist is
//! not checked here: the loaders say what a missing file means.
//!
//! One deliberate difference from sshd: a directory *above* the checked
//! path may be world-writable if it has the sticky bit and a trusted
//! owner (`/tmp`, mode 1777). The sticky bit lets only an entry's owner
//! rename or delete it, and the entry below is itself checked to be
//! root's, so nobody else can swap it. sshd refuses such directories; the
//! agent accepts them so that a configuration kept under `/tmp` (tests,
//! development) needs no override. The rules directory itself must not be
//! writable by others even when sticky: anyone could add a rules file.
//!
//! ACLs need no special case: with an ACL, the group bits of the mode are
//! the ACL mask, which bounds every named user and group entry, so an ACL
//! granting anyone write shows as a group-writable mode.
//!
//! The decisions ([`judge`]) are pure; the file system is reached through
//! [`Fs`] so the tests can also describe trees that a test cannot create.

use std::fmt;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Check or not (`rand-guard run --insecure-permissions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Strict,
    /// Development only: no checks (a warning says so at start-up).
    Insecure,
}

/// What the checked path is to the agent (for the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Config,
    RulesDir,
    RulesFile,
    BpfObject,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Config => "configuration file",
            Role::RulesDir => "rules directory",
            Role::RulesFile => "rules file",
            Role::BpfObject => "BPF object",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

/// What the checks need to know of one path (as `lstat(2)` sees it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    pub uid: u32,
    /// Permission bits with set-id and sticky bits (`st_mode & 07777`).
    pub mode: u32,
}

/// The file system as the checks see it.
pub trait Fs {
    fn lstat(&self, path: &Path) -> io::Result<Meta>;
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf>;
    fn read_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
}

/// The real file system.
pub struct Real;

impl Fs for Real {
    fn lstat(&self, path: &Path) -> io::Result<Meta> {
        let m = std::fs::symlink_metadata(path)?;
        let t = m.file_type();
        let kind = if t.is_file() {
            Kind::File
        } else if t.is_dir() {
            Kind::Dir
        } else if t.is_symlink() {
            Kind::Symlink
        } else {
            // Sockets, FIFOs, devices: judged like files.
            Kind::Other
        };
        Ok(Meta {
            kind,
            uid: m.uid(),
            mode: m.mode() & 0o7777,
        })
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::canonicalize(path)
    }

    fn read_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect()
    }
}

/// Where a path stands relative to the checked one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The checked file or directory itself (after following symlinks).
    Target,
    /// A directory above it.
    Above,
}

/// What is wrong with one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Problem {
    pub bad_owner: bool,
    pub writable: bool,
}

/// The rule for one path: a trusted owner; no write for group or others,
/// except a sticky directory above the target. Symlinks: owner only.
pub fn judge(m: &Meta, place: Place, trusted: &[u32]) -> Result<(), Problem> {
    const STICKY: u32 = 0o1000;
    let bad_owner = !trusted.contains(&m.uid);
    let writable = match m.kind {
        Kind::Symlink => false,
        Kind::Dir if place == Place::Above && m.mode & STICKY != 0 => false,
        _ => m.mode & 0o022 != 0,
    };
    if bad_owner || writable {
        Err(Problem {
            bad_owner,
            writable,
        })
    } else {
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HygieneError {
    /// A path on the way to the checked one breaks the rule.
    #[error("{}", unsafe_message(self))]
    Unsafe {
        role: Role,
        /// The path as the agent was given it.
        target: PathBuf,
        /// The path found wrong.
        path: PathBuf,
        /// How `path` relates to `target`, e.g. "the directory above it".
        which: String,
        meta: Meta,
        problem: Problem,
        /// Uids allowed to own it besides root (the agent's own).
        also_trusted: Option<u32>,
    },
    #[error("refusing the {role} {}: cannot check its owner and mode ({}): {source}", .target.display(), .path.display())]
    Unreadable {
        role: Role,
        target: PathBuf,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn unsafe_message(e: &HygieneError) -> String {
    let HygieneError::Unsafe {
        role,
        target,
        path,
        which,
        meta,
        problem,
        also_trusted,
    } = e
    else {
        return String::new();
    };
    let owner = match also_trusted {
        Some(uid) => format!("owned by root or uid {uid} (the agent's)"),
        None => "owned by root".to_string(),
    };
    let required = if meta.kind == Kind::Symlink {
        owner
    } else {
        format!("{owner} and not writable by group or others")
    };
    let mut fix = Vec::new();
    if problem.bad_owner {
        let h = if meta.kind == Kind::Symlink {
            "-h "
        } else {
            ""
        };
        fix.push(format!("chown {h}root {}", path.display()));
    }
    if problem.writable {
        fix.push(format!("chmod go-w {}", path.display()));
    }
    format!(
        "refusing the {role} {}: {which} has owner uid {} and mode {:04o}; required: {required} \
         (like sshd's StrictModes); fix: {}, or for development only start with \
         --insecure-permissions",
        target.display(),
        meta.uid,
        meta.mode,
        fix.join(" && ")
    )
}

/// Root, and the agent's own user when that is another.
pub fn trusted_here() -> Vec<u32> {
    let me = nix::unistd::geteuid().as_raw();
    if me == 0 { vec![0] } else { vec![0, me] }
}

/// Check `path` on the real file system, unless `policy` says not to.
pub fn check(path: &Path, role: Role, policy: Policy) -> Result<(), HygieneError> {
    match policy {
        Policy::Insecure => Ok(()),
        Policy::Strict => check_with(&Real, path, role, &trusted_here()),
    }
}

/// Check a rules directory and every file in it that the rules loader
/// reads (`*.toml`), unless `policy` says not to.
pub fn check_rules_dir(dir: &Path, policy: Policy) -> Result<(), HygieneError> {
    match policy {
        Policy::Insecure => Ok(()),
        Policy::Strict => check_rules_dir_with(&Real, dir, &trusted_here()),
    }
}

/// [`check_rules_dir`] on `fs`, trusting owners `trusted`.
pub fn check_rules_dir_with(fs: &impl Fs, dir: &Path, trusted: &[u32]) -> Result<(), HygieneError> {
    check_with(fs, dir, Role::RulesDir, trusted)?;
    let mut files = match fs.read_dir(dir) {
        Ok(f) => f,
        // Missing: the loader runs with no rules. Unreadable: it says so.
        Err(_) => return Ok(()),
    };
    files.retain(|p| crate::detect::rules::is_rule_file(p));
    files.sort();
    for file in files {
        check_with(fs, &file, Role::RulesFile, trusted)?;
    }
    Ok(())
}

/// Check `path` (and the directories and symlinks on the way to it) on
/// `fs`, trusting owners `trusted`. The given path's own ancestors are
/// checked (with `lstat`, so a symlink on the way is judged as one), and
/// so are those of the path it resolves to.
pub fn check_with(
    fs: &impl Fs,
    path: &Path,
    role: Role,
    trusted: &[u32],
) -> Result<(), HygieneError> {
    let unreadable = |p: &Path, source| HygieneError::Unreadable {
        role,
        target: path.to_path_buf(),
        path: p.to_path_buf(),
        source,
    };
    let given = std::path::absolute(path).map_err(|e| unreadable(path, e))?;
    let real = match fs.canonicalize(&given) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(unreadable(&given, e)),
    };
    // A rules "file" that is a directory is not read by the loader.
    if role == Role::RulesFile && fs.lstat(&real).is_ok_and(|m| m.kind != Kind::File) {
        return Ok(());
    }
    // Bottom-up, the target first: the message names the nearest problem.
    let mut seen: Vec<&Path> = Vec::new();
    for p in given.ancestors().chain(real.ancestors()) {
        if seen.contains(&p) {
            continue;
        }
        seen.push(p);
        let meta = fs.lstat(p).map_err(|e| unreadable(p, e))?;
        let place = if p == real {
            Place::Target
        } else {
            Place::Above
        };
        // The given path itself, when it is no symlink, is the target.
        let place = if p == given && meta.kind != Kind::Symlink {
            Place::Target
        } else {
            place
        };
        if let Err(problem) = judge(&meta, place, trusted) {
            let which = if p == given {
                "it".to_string()
            } else if p == real {
                format!("what it points to, {},", p.display())
            } else if meta.kind == Kind::Symlink {
                format!("the symlink {} on its path", p.display())
            } else {
                format!("the directory {} above it", p.display())
            };
            return Err(HygieneError::Unsafe {
                role,
                target: path.to_path_buf(),
                path: p.to_path_buf(),
                which,
                meta,
                problem,
                also_trusted: trusted.iter().copied().find(|u| *u != 0),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
