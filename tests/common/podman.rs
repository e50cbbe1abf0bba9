//! podman for the container tests: a containers.conf that works on this
//! kind of host (runc: crun refuses hybrid cgroups; ulimits inside the
//! host's hard limits), a busybox image built locally (no registry), and
//! containers and images removed when the guard drops.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CONF: &str = "[containers]\n\
default_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
[engine]\nruntime = \"runc\"\n";

/// Applets the busybox image links.
const APPLETS: [&str; 10] = [
    "sh", "true", "cat", "sleep", "chmod", "cp", "echo", "ls", "mkdir", "rm",
];

pub struct Podman {
    dir: tempfile::TempDir,
    conf: PathBuf,
    containers: Vec<String>,
    images: Vec<String>,
}

impl Podman {
    /// None (with a loud skip notice) when podman, runc or a static
    /// busybox is missing; a failure instead where RG_REQUIRE_CONTAINERS
    /// is set (.ci/run).
    pub fn new(test: &str) -> Option<Podman> {
        let missing: Vec<&str> = ["/usr/bin/podman", "/usr/sbin/runc", "/bin/busybox"]
            .into_iter()
            .filter(|p| !Path::new(p).exists())
            .collect();
        if !missing.is_empty() {
            use std::io::Write;
            // .ci/run installs them: there, a skip would pass unseen.
            assert!(
                std::env::var_os("RG_REQUIRE_CONTAINERS").is_none(),
                "{test}: RG_REQUIRE_CONTAINERS is set and {missing:?} are missing"
            );
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: needs podman, runc and busybox-static \
                 (scripts/deps/debian-packages [ci]); missing {missing:?}"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("containers.conf");
        fs::write(&conf, CONF).unwrap();
        Some(Podman {
            dir,
            conf,
            containers: Vec::new(),
            images: Vec::new(),
        })
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &self.conf);
        c
    }

    /// Run podman; panics with its stderr when it fails.
    pub fn run(&self, args: &[&str]) -> String {
        let out: Output = self.cmd().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Import a busybox rootfs (with an empty /etc/cron.d) as `name`.
    pub fn busybox_image(&mut self, name: &str) -> String {
        let root = self.busybox_rootfs();
        self.import(&root, name)
    }

    /// The same image with `/bin/ping` (a copy of busybox) holding the
    /// file capability cap_net_raw+p and `/bin/newuidmap` cap_setuid+ep,
    /// as the images of distributions carry them: what unpacking writes.
    pub fn image_with_capabilities(&mut self, name: &str) -> String {
        let root = self.busybox_rootfs();
        for (file, caps) in [("ping", "cap_net_raw+p"), ("newuidmap", "cap_setuid+ep")] {
            let path = root.join("bin").join(file);
            fs::copy("/bin/busybox", &path).unwrap();
            let st = Command::new("setcap")
                .arg(caps)
                .arg(&path)
                .status()
                .unwrap();
            assert!(st.success(), "setcap {caps} {}", path.display());
        }
        self.import(&root, name)
    }

    fn busybox_rootfs(&mut self) -> std::path::PathBuf {
        let root = self
            .dir
            .path()
            .join(format!("rootfs-{}", self.images.len()));
        for d in ["bin", "etc/cron.d", "tmp"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
        for a in APPLETS {
            symlink("busybox", root.join("bin").join(a)).unwrap();
        }
        root
    }

    /// Import the tree at `root` (its capabilities kept) as `name`.
    fn import(&mut self, root: &std::path::Path, name: &str) -> String {
        let tar = self.dir.path().join("rootfs.tar");
        let st = Command::new("tar")
            .args(["--xattrs", "--xattrs-include=security.capability", "-C"])
            .arg(root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success());
        self.run(&["import", tar.to_str().unwrap(), name]);
        self.images.push(name.to_string());
        name.to_string()
    }

    /// Start `cmd` in a new detached container `name` of `image`; its id.
    pub fn start(&mut self, name: &str, image: &str, cmd: &[&str]) -> String {
        let mut args = vec!["run", "-d", "--name", name, image];
        args.extend_from_slice(cmd);
        let id = self.run(&args);
        self.containers.push(name.to_string());
        id
    }

    /// The pid (on the host) of the container's first process.
    pub fn pid(&self, name: &str) -> u32 {
        self.run(&["inspect", "-f", "{{.State.Pid}}", name])
            .parse()
            .unwrap()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = self.cmd().args(["rm", "-f", "-t", "0", c]).output();
        }
        for i in &self.images {
            let _ = self.cmd().args(["rmi", "-f", i]).output();
        }
    }
}
