use std::fs;
use std::os::unix::fs::MetadataExt;

use super::meta::{self, MetaError, MetaRoots, Names};
use super::path::{PathInfo, parse, v2_path};
use super::*;

const ID: &str = "4f0c3c1e2d7b8a9f00112233445566778899aabbccddeeff0011223344556677";
const POD: &str = "0b6a5d2e-9c1f-4a8b-b3d4-1e2f3a4b5c6d";

fn c(rt: Runtime) -> Option<(Runtime, String)> {
    Some((rt, ID.to_string()))
}

#[test]
fn systemd_service_and_session_paths() {
    assert_eq!(
        parse("/system.slice/cron.service"),
        PathInfo {
            systemd_unit: Some("cron.service".into()),
            ..Default::default()
        }
    );
    // The innermost unit names the process: a user's service under the
    // user manager.
    let p = parse("/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service");
    assert_eq!(p.systemd_unit.as_deref(), Some("foo.service"));
    let p = parse("/user.slice/user-1000.slice/session-3.scope");
    assert_eq!(p.systemd_unit.as_deref(), Some("session-3.scope"));
    // PID 1 itself, the root and slices name no unit.
    assert_eq!(parse("/init.scope"), PathInfo::default());
    assert_eq!(parse("/"), PathInfo::default());
    assert_eq!(parse("/system.slice"), PathInfo::default());
}

#[test]
fn docker_paths_v1_and_v2() {
    // systemd cgroup driver (v2, and every v1 hierarchy).
    let p = parse(&format!("/system.slice/docker-{ID}.scope"));
    assert_eq!(p.container, c(Runtime::Docker));
    assert_eq!(
        p.systemd_unit, None,
        "a container's scope is not a unit here"
    );
    // cgroupfs driver.
    assert_eq!(
        parse(&format!("/docker/{ID}")).container,
        c(Runtime::Docker)
    );
    // A bare id outside docker/ or a pod is nobody's.
    assert_eq!(parse(&format!("/other/{ID}")).container, None);
}

#[test]
fn podman_paths() {
    // cgroupfs manager (this CI host: PID 1 is not systemd).
    let p = parse(&format!("/libpod_parent/libpod-{ID}"));
    assert_eq!(p.container, c(Runtime::Podman));
    // systemd manager, and the nested `container` cgroup of --cgroups=split.
    let p = parse(&format!("/machine.slice/libpod-{ID}.scope/container"));
    assert_eq!(p.container, c(Runtime::Podman));
    // conmon is the runtime's helper on the host, not the container.
    let p = parse(&format!("/machine.slice/libpod-conmon-{ID}.scope"));
    assert_eq!(p.container, None);
    assert_eq!(p.systemd_unit, Some(format!("libpod-conmon-{ID}.scope")));
}

#[test]
fn containerd_and_crio_paths() {
    let p = parse(&format!("/system.slice/cri-containerd-{ID}.scope"));
    assert_eq!(p.container, c(Runtime::Containerd));
    let p = parse(&format!("/machine.slice/crio-{ID}.scope"));
    assert_eq!(p.container, c(Runtime::CriO));
    assert_eq!(parse(&format!("/crio-conmon-{ID}.scope")).container, None);
}

#[test]
fn kubepods_v2_systemd_form() {
    let uid = POD.replace('-', "_");
    let p = parse(&format!(
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid}.slice/cri-containerd-{ID}.scope"
    ));
    assert_eq!(
        p,
        PathInfo {
            container: c(Runtime::Containerd),
            pod_uid: Some(POD.into()),
            systemd_unit: None,
        }
    );
    // Guaranteed QoS pods sit right under kubepods.slice.
    let p = parse(&format!(
        "/kubepods.slice/kubepods-pod{uid}.slice/crio-{ID}.scope"
    ));
    assert_eq!(p.container, c(Runtime::CriO));
    assert_eq!(p.pod_uid.as_deref(), Some(POD));
}

#[test]
fn kubepods_v1_cgroupfs_form() {
    // The same path in every v1 hierarchy (`4:pids:/kubepods/...`).
    let p = parse(&format!("/kubepods/besteffort/pod{POD}/{ID}"));
    assert_eq!(p.container, c(Runtime::Containerd));
    assert_eq!(p.pod_uid.as_deref(), Some(POD));
    let p = parse(&format!("/kubepods/pod{POD}/crio-{ID}"));
    assert_eq!(p.container, c(Runtime::CriO));
    // The pause container's pod, before its container cgroup exists.
    let p = parse(&format!("/kubepods/burstable/pod{POD}"));
    assert_eq!((p.container, p.pod_uid.as_deref()), (None, Some(POD)));
    // Not a pod uid: wrong length or dashes out of place.
    assert_eq!(parse("/kubepods/pod1234").pod_uid, None);
    assert_eq!(
        parse("/kubepods/pod0b6a5d2e9-c1f-4a8b-b3d4-1e2f3a4b5c6d").pod_uid,
        None
    );
}

#[test]
fn ids_must_be_64_lowercase_hex() {
    assert_eq!(parse("/docker/abc").container, None);
    assert_eq!(
        parse(&format!("/docker/{}", ID.to_uppercase())).container,
        None
    );
    assert_eq!(parse(&format!("/libpod-{ID}0")).container, None);
    assert_eq!(parse(&format!("/libpod-{}", &ID[..63])).container, None);
}

#[test]
fn v2_line_of_proc_cgroup() {
    let hybrid = "12:pids:/libpod_parent/x\n1:name=systemd:/\n0::/libpod_parent/libpod-x\n";
    assert_eq!(v2_path(hybrid), Some("/libpod_parent/libpod-x"));
    assert_eq!(v2_path("4:cpu:/docker/x\n"), None);
}

#[test]
fn mountinfo_finds_cgroup2() {
    let dir = tempfile::tempdir().unwrap();
    let mi = dir.path().join("mountinfo");
    fs::write(
        &mi,
        "30 23 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n\
         31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw\n",
    )
    .unwrap();
    assert_eq!(
        cgroup2_mount(&mi),
        Some(PathBuf::from("/sys/fs/cgroup/unified"))
    );
    fs::write(
        &mi,
        "30 23 0:26 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n",
    )
    .unwrap();
    assert_eq!(cgroup2_mount(&mi), None);
}

/// A storage root with one podman container of `ID`.
fn podman_store(dir: &Path, metadata: &str, images: Option<&str>) -> MetaRoots {
    let storage = dir.join("storage");
    fs::create_dir_all(storage.join("overlay-containers")).unwrap();
    fs::create_dir_all(storage.join("overlay-images")).unwrap();
    let containers = serde_json::json!([
        {"id": "0".repeat(64), "names": ["other"], "image": "i0", "metadata": ""},
        {"id": ID, "names": ["web-1", "alias"], "image": "img1", "layer": "l", "metadata": metadata, "created": "x"}
    ]);
    fs::write(
        storage.join("overlay-containers/containers.json"),
        containers.to_string(),
    )
    .unwrap();
    if let Some(i) = images {
        fs::write(storage.join("overlay-images/images.json"), i).unwrap();
    }
    MetaRoots {
        storage,
        docker: dir.join("docker"),
    }
}

#[test]
fn podman_names_from_metadata_and_images() {
    let dir = tempfile::tempdir().unwrap();
    let roots = podman_store(
        dir.path(),
        r#"{"image-name":"localhost/busy:1","name":"web-1"}"#,
        None,
    );
    assert_eq!(
        meta::names(&roots, Runtime::Podman, ID).unwrap(),
        Names {
            name: Some("web-1".into()),
            image_name: Some("localhost/busy:1".into()),
        }
    );
    // No image name in the metadata: images.json names the image.
    let roots = podman_store(
        dir.path(),
        "",
        Some(
            r#"[{"id":"img0","names":["x"]},{"id":"img1","names":["localhost/imported:latest"]}]"#,
        ),
    );
    let n = meta::names(&roots, Runtime::Podman, ID).unwrap();
    assert_eq!(n.image_name.as_deref(), Some("localhost/imported:latest"));
    // An id the file does not list: no names, no error.
    assert_eq!(
        meta::names(&roots, Runtime::Podman, &"a".repeat(64)).unwrap(),
        Names::default()
    );
    // No storage at all: not an error either.
    let none = MetaRoots {
        storage: dir.path().join("absent"),
        docker: dir.path().join("absent"),
    };
    assert_eq!(
        meta::names(&none, Runtime::Podman, ID).unwrap(),
        Names::default()
    );
    assert_eq!(
        meta::names(&none, Runtime::Docker, ID).unwrap(),
        Names::default()
    );
}

#[test]
fn malformed_metadata_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let roots = podman_store(dir.path(), "{not json", None);
    assert!(matches!(
        meta::names(&roots, Runtime::Podman, ID),
        Err(MetaError::Parse { .. })
    ));
    let file = roots.storage.join("overlay-containers/containers.json");
    for bad in [
        &b"[{\"id\": 5}]"[..],
        b"{\"id\":\"x\"}",
        b"\xff\xfe",
        b"",
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    ] {
        fs::write(&file, bad).unwrap();
        let e = meta::names(&roots, Runtime::Podman, ID).unwrap_err();
        assert!(matches!(e, MetaError::Parse { .. }), "{e}");
        assert!(e.to_string().starts_with(&file.display().to_string()), "{e}");
    }
}

#[test]
fn huge_metadata_is_refused_at_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let roots = podman_store(dir.path(), "", None);
    let file = roots.storage.join("overlay-containers/containers.json");
    let f = fs::File::create(&file).unwrap();
    f.set_len(meta::STORE_CAP + 1).unwrap();
    let e = meta::names(&roots, Runtime::Podman, ID).unwrap_err();
    assert!(matches!(e, MetaError::TooLarge { .. }), "{e}");
    // A docker config at its cap + 1.
    let d = roots.docker.join("containers").join(ID);
    fs::create_dir_all(&d).unwrap();
    fs::File::create(d.join("config.v2.json"))
        .unwrap()
        .set_len(meta::DOCKER_CAP + 1)
        .unwrap();
    assert!(matches!(
        meta::names(&roots, Runtime::Docker, ID),
        Err(MetaError::TooLarge { .. })
    ));
}

#[test]
fn docker_names_from_config() {
    let dir = tempfile::tempdir().unwrap();
    let roots = podman_store(dir.path(), "", None);
    let d = roots.docker.join("containers").join(ID);
    fs::create_dir_all(&d).unwrap();
    fs::write(
        d.join("config.v2.json"),
        r#"{"ID":"x","Name":"/web","Config":{"Image":"nginx:1.25","Env":[]},"State":{}}"#,
    )
    .unwrap();
    assert_eq!(
        meta::names(&roots, Runtime::Docker, ID).unwrap(),
        Names {
            name: Some("web".into()),
            image_name: Some("nginx:1.25".into()),
        }
    );
    fs::write(d.join("config.v2.json"), r#"{"Name":7}"#).unwrap();
    assert!(meta::names(&roots, Runtime::Docker, ID).is_err());
}

/// A container's root as its mountinfo shows it (a space in the path).
const MOUNTINFO: &str = "\
22 1 0:21 / /proc rw - proc proc rw
82 54 0:41 / / rw,relatime - overlay overlay rw,lowerdir=/l/A:/l/B,\
upperdir=/var/lib/containers/storage/overlay/ab\\040cd/diff,workdir=/w,uuid=on
83 82 0:42 / /dev rw - tmpfs tmpfs rw
";

#[test]
fn upper_dir_of_the_root_overlay() {
    assert_eq!(
        meta::upper_dir(MOUNTINFO).as_deref(),
        Some("/var/lib/containers/storage/overlay/ab cd/diff")
    );
    // The host's root, and an overlay mounted elsewhere: none.
    assert_eq!(
        meta::upper_dir("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"),
        None
    );
    assert_eq!(
        meta::upper_dir("9 1 0:4 / /mnt rw - overlay overlay rw,upperdir=/u\n"),
        None
    );
    assert_eq!(meta::upper_dir("garbage\n\n - \n"), None);
}

/// A fake cgroup2 tree and /proc: the ids are the directories' inodes,
/// as on the real mount.
struct Fake {
    _dir: tempfile::TempDir,
    root: PathBuf,
    proc_root: PathBuf,
    roots: MetaRoots,
}

impl Fake {
    fn new() -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cg");
        let proc_root = dir.path().join("proc");
        let roots = podman_store(dir.path(), r#"{"image-name":"localhost/busy:1"}"#, None);
        fs::create_dir_all(&proc_root).unwrap();
        Fake {
            root,
            proc_root,
            roots,
            _dir: dir,
        }
    }
    fn cgroup(&self, path: &str) -> u64 {
        let d = join(&self.root, path);
        fs::create_dir_all(&d).unwrap();
        fs::metadata(d).unwrap().ino()
    }
    fn process(&self, pid: u32, path: &str) {
        let d = self.proc_root.join(pid.to_string());
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("cgroup"), format!("1:name=systemd:/x\n0::{path}\n")).unwrap();
        fs::write(d.join("mountinfo"), MOUNTINFO).unwrap();
    }
    fn resolver(&self, max: usize) -> Resolver {
        Resolver::new(
            Some(self.root.clone()),
            self.proc_root.clone(),
            self.roots.clone(),
            max,
        )
    }
}

#[test]
fn resolves_from_proc_then_from_cache() {
    let f = Fake::new();
    let path = format!("/libpod_parent/libpod-{ID}");
    let id = f.cgroup(&path);
    f.process(42, &path);
    let mut r = f.resolver(16);
    let cg = r.lookup(id, 42).expect("resolved");
    assert_eq!(
        *cg,
        Cgroup {
            path: path.clone(),
            container: Some(Container {
                id: ID.into(),
                runtime: Runtime::Podman,
                name: Some("web-1".into()),
                image_name: Some("localhost/busy:1".into()),
                pod_uid: None,
                upper_dir: Some("/var/lib/containers/storage/overlay/ab cd/diff".into()),
            }),
            systemd_unit: None,
        }
    );
    // Known id: the cache answers even with the process (and its
    // /proc entry) gone, and the metadata file changed.
    fs::remove_dir_all(f.proc_root.join("42")).unwrap();
    fs::remove_file(f.roots.storage.join("overlay-containers/containers.json")).unwrap();
    let again = r.lookup(id, 42).unwrap();
    assert!(Arc::ptr_eq(&cg, &again));
    assert_eq!(
        r.counters(),
        Counters {
            cache_size: 1,
            ..Default::default()
        }
    );
}

#[test]
fn gone_process_is_found_by_one_rate_limited_walk() {
    let f = Fake::new();
    let a = f.cgroup("/system.slice/a.service");
    let b = f.cgroup("/system.slice/b.service");
    let mut r = f.resolver(16);
    // No /proc entry for pid 7: the walk finds the id's directory.
    let cg = r.lookup(a, 7).unwrap();
    assert_eq!(cg.systemd_unit.as_deref(), Some("a.service"));
    assert_eq!(cg.container, None);
    // The same walk found b: no second walk.
    assert_eq!(
        r.lookup(b, 7).unwrap().systemd_unit.as_deref(),
        Some("b.service")
    );
    assert_eq!(r.counters().walks, 1);
    // A cgroup made after the walk, within the interval: unresolved.
    let c = f.cgroup("/system.slice/c.service");
    assert!(r.lookup(c, 7).is_none());
    assert_eq!(r.counters().unresolved, 1);
    assert_eq!(r.counters().walks, 1);
    // The walk was skipped, not done: the next exec looks again, and
    // its process in /proc now resolves it (a container started right
    // after another one is not hidden for MISS_RETRY).
    f.process(7, "/system.slice/c.service");
    assert_eq!(
        r.lookup(c, 7).unwrap().systemd_unit.as_deref(),
        Some("c.service")
    );
    assert_eq!(r.counters().unresolved, 1);
    // The root cgroup: no container, no unit.
    let root = fs::metadata(&f.root).unwrap().ino();
    f.process(1, "/");
    assert_eq!(
        *r.lookup(root, 1).unwrap(),
        Cgroup {
            path: "/".into(),
            ..Default::default()
        }
    );
}

#[test]
fn moved_process_is_not_taken_for_its_new_cgroup() {
    let f = Fake::new();
    let old = f.cgroup("/system.slice/old.service");
    let _new = f.cgroup("/system.slice/new.service");
    f.process(9, "/system.slice/new.service");
    let mut r = f.resolver(16);
    // /proc says new.service, whose inode is not `old`: the walk decides.
    assert_eq!(
        r.lookup(old, 9).unwrap().systemd_unit.as_deref(),
        Some("old.service")
    );
}

#[test]
fn cache_is_bounded_and_counts_evictions() {
    let f = Fake::new();
    let mut r = f.resolver(8);
    let ids: Vec<u64> = (0..9)
        .map(|i| {
            let p = format!("/system.slice/s{i}.service");
            f.process(100 + i, &p);
            f.cgroup(&p)
        })
        .collect();
    for (i, id) in ids.iter().enumerate().take(8) {
        r.lookup(*id, 100 + i as u32).unwrap();
    }
    r.lookup(ids[0], 100); // s0 most recently used
    r.lookup(ids[8], 108).unwrap();
    let c = r.counters();
    assert_eq!((c.cache_size, c.evictions), (8, 1));
    // s1 was the least recently used.
    assert!(!r.cache.contains_key(&ids[1]));
    assert!(r.cache.contains_key(&ids[0]));
}

#[test]
fn metadata_errors_are_counted_and_the_container_kept() {
    let f = Fake::new();
    fs::write(
        f.roots.storage.join("overlay-containers/containers.json"),
        "garbage",
    )
    .unwrap();
    let path = format!("/libpod_parent/libpod-{ID}");
    let id = f.cgroup(&path);
    f.process(5, &path);
    let mut r = f.resolver(16);
    let cg = r.lookup(id, 5).unwrap();
    let c = cg.container.as_ref().unwrap();
    assert_eq!((c.id.as_str(), c.name.as_deref()), (ID, None));
    assert_eq!(r.counters().metadata_errors, 1);
}

#[test]
fn proc_text_seeding_and_v1_only_hosts() {
    let f = Fake::new();
    let path = "/system.slice/cron.service";
    let id = f.cgroup(path);
    let mut r = f.resolver(16);
    let (got, cg) = r
        .from_proc_text(&format!("3:cpu:/x\n0::{path}\n"), 1)
        .unwrap();
    assert_eq!(
        (got, cg.systemd_unit.as_deref()),
        (id, Some("cron.service"))
    );
    assert!(r.from_proc_text("3:cpu:/x\n", 1).is_none());
    // No cgroup2 mount: no attribution, nothing counted as unresolved.
    let mut v1 = Resolver::new(None, f.proc_root.clone(), f.roots.clone(), 4);
    assert!(v1.lookup(id, 1).is_none());
    assert_eq!(v1.counters(), Counters::default());
}

/// The first exec in a container is often the runtime's, outside the
/// container's root: the upper directory is looked for at the next execs,
/// a bounded number of times.
#[test]
fn upper_dir_is_found_at_a_later_exec_or_given_up() {
    let f = Fake::new();
    let path = format!("/libpod_parent/libpod-{ID}");
    let id = f.cgroup(&path);
    f.process(40, &path);
    fs::write(
        f.proc_root.join("40/mountinfo"),
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n",
    )
    .unwrap();
    f.process(41, &path);
    let mut r = f.resolver(16);
    let upper = |cg: &Cgroup| cg.container.as_ref().unwrap().upper_dir.clone();
    assert_eq!(upper(&r.lookup(id, 40).unwrap()), None);
    let later = r.lookup(id, 41).unwrap();
    assert_eq!(
        upper(&later).as_deref(),
        Some("/var/lib/containers/storage/overlay/ab cd/diff")
    );
    // Found: the entry keeps it, whoever execs next.
    assert!(Arc::ptr_eq(&later, &r.lookup(id, 40).unwrap()));

    // Never found: UPPER_TRIES reads in all, then none.
    let other = format!("/libpod_parent/libpod-{}", "e".repeat(64));
    let id2 = f.cgroup(&other);
    f.process(50, &other);
    let mi = f.proc_root.join("50/mountinfo");
    fs::write(&mi, "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n").unwrap();
    for _ in 0..UPPER_TRIES {
        assert_eq!(upper(&r.lookup(id2, 50).unwrap()), None);
    }
    fs::write(&mi, MOUNTINFO).unwrap();
    assert_eq!(upper(&r.lookup(id2, 50).unwrap()), None, "gave up");
}
