//! rg-container-drift: a program run in a container from a file its image
//! did not have.
//!
//! A container's root is an overlay: the image's layers below, read-only,
//! and an upper directory that holds every file written in the container
//! since it started (created, or copied up when an image file was
//! changed). An exec whose file is in the upper directory runs something
//! the image did not ship: a downloaded tool, a dropped payload. The upper
//! directory comes with the container's identity (`model::container`,
//! read at a container's first execs); the check is one `lstat` per exec
//! in a container, none for host processes. It looks at the file itself, so a
//! program written long before it runs, or outside the watched file
//! prefixes, is still seen.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config;
use crate::model::alert::{RuleMeta, Severity, Technique};
use crate::model::event::{Body, Event};

pub(super) const ID: &str = "rg-container-drift";

pub(super) struct Drift {
    pub(super) meta: Arc<RuleMeta>,
    /// Where the host's root is: the upper directories are host paths.
    /// `/` (an agent in a container has the runtime's storage mounted at
    /// the same path, docs/containers.md: `/proc/1/root` is not always
    /// open to it).
    host_root: PathBuf,
}

impl Drift {
    /// The detection of `[detections]`, unless it is disabled.
    pub(super) fn new(d: &config::Detections) -> Option<Self> {
        Drift::with_root(d, Path::new("/"))
    }

    pub(super) fn with_root(d: &config::Detections, host_root: &Path) -> Option<Self> {
        (!d.disabled.iter().any(|x| x == ID)).then(|| Drift {
            meta: Arc::new(RuleMeta {
                id: ID.into(),
                name: "Program not in the container's image run".into(),
                description: "A process in a container executed a file written in that \
                              container after it started (the file is in the container's \
                              overlay upper directory, not in its image): a tool brought in \
                              or a payload dropped at run time. Also raised for an image's \
                              program modified in the container."
                    .into(),
                severity: Severity::High,
                tactics: vec!["Execution".into(), "Command and Control".into()],
                techniques: vec![Technique {
                    id: "T1105".into(),
                    name: Some("Ingress Tool Transfer".into()),
                }],
                source: "builtin".into(),
                references: Vec::new(),
                authors: Vec::new(),
            }),
            host_root: host_root.to_path_buf(),
        })
    }

    /// The exec'd file, as the container names it, when it is the
    /// container's own rather than the image's.
    pub(super) fn hit<'a>(&self, ev: &'a Event) -> Option<&'a str> {
        let Body::Exec(_) = &ev.body else {
            return None;
        };
        let p = ev.process.as_deref()?;
        let upper = p
            .cgroup
            .as_deref()?
            .container
            .as_ref()?
            .upper_dir
            .as_deref()?;
        let upper = self.host_root.join(upper.trim_start_matches('/'));
        // The file the kernel runs, then the name it was run by (a script
        // run through its interpreter: the script is the dropped file).
        [p.image.exe.as_str(), p.image.executable.as_str()]
            .into_iter()
            .filter(|path| path.starts_with('/'))
            .find(|path| {
                // A regular file: a symlink to an image program, or a
                // whiteout (a deleted image file), runs nothing new.
                fs::symlink_metadata(upper.join(path.trim_start_matches('/')))
                    .is_ok_and(|m| m.is_file())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit;

    /// An exec in a container whose upper directory is `upper`.
    fn exec_in(upper: &Path, exe: &str, executable: &str) -> Event {
        let p = testkit::process(7, executable, &[executable], None);
        let mut p = (*testkit::in_container(&p, "web-1", "localhost/busy:1")).clone();
        std::sync::Arc::make_mut(&mut p.image).exe = exe.into();
        let mut cg = (**p.cgroup.as_ref().unwrap()).clone();
        cg.container.as_mut().unwrap().upper_dir = Some(upper.to_string_lossy().into_owned());
        p.cgroup = Some(Arc::new(cg));
        testkit::exec(1, &Arc::new(p))
    }

    #[test]
    fn files_of_the_upper_directory_are_drift() {
        let dir = tempfile::tempdir().unwrap();
        let upper = dir.path().join("diff");
        fs::create_dir_all(upper.join("tmp")).unwrap();
        fs::create_dir_all(upper.join("bin")).unwrap();
        fs::write(upper.join("tmp/dropped"), "\x7fELF").unwrap();
        fs::write(upper.join("tmp/run.sh"), "#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("busybox", upper.join("bin/sh2")).unwrap();
        let d = Drift::with_root(&config::Detections::default(), Path::new("/")).unwrap();
        assert_eq!(d.meta.id, ID);
        let hit = |exe: &str, executable: &str| {
            d.hit(&exec_in(&upper, exe, executable)).map(str::to_string)
        };
        assert_eq!(
            hit("/tmp/dropped", "/tmp/dropped").as_deref(),
            Some("/tmp/dropped")
        );
        // A script: the interpreter is the image's, the script is not.
        assert_eq!(
            hit("/bin/busybox", "/tmp/run.sh").as_deref(),
            Some("/tmp/run.sh")
        );
        // Near misses: the image's program; a symlink made in the
        // container to it; a relative name.
        assert_eq!(hit("/bin/busybox", "/bin/sh"), None);
        assert_eq!(hit("/bin/busybox", "/bin/sh2"), None);
        assert_eq!(hit("tmp/dropped", "tmp/dropped"), None);
        // A host process (no container) and a container without a known
        // upper directory: nothing to look at.
        let host = testkit::process(8, "/tmp/dropped", &["x"], None);
        assert_eq!(d.hit(&testkit::exec(2, &host)), None);
        let plain = testkit::in_container(&host, "web-1", "i");
        assert_eq!(d.hit(&testkit::exec(3, &plain)), None);
        // Disabled: no detection at all.
        let off = config::Detections {
            disabled: vec![ID.into()],
            ..Default::default()
        };
        assert!(Drift::new(&off).is_none());
    }
}
