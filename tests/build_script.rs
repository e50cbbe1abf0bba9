//! build.rs's copy of the BPF object (build/copy.rs): a failed copy must
//! fail the build, naming both paths, not leave a stale or missing
//! `target/<profile>/edr-ebpf` for the packages to pick up.

#[path = "../build/copy.rs"]
mod copy;

use copy::copy_object;

#[test]
fn a_failed_copy_of_the_bpf_object_names_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("edr.bpf.o");
    std::fs::write(&from, b"object").unwrap();
    // Into a directory that does not exist.
    let to = dir.path().join("no-such-dir").join("edr-ebpf");
    assert_eq!(
        copy_object(&from, &to),
        Err(format!(
            "copying the BPF object {} to {} failed: No such file or directory (os error 2)",
            from.display(),
            to.display()
        ))
    );
    // Onto a directory.
    let onto_dir = dir.path().join("a-dir");
    std::fs::create_dir(&onto_dir).unwrap();
    let e = copy_object(&from, &onto_dir).unwrap_err();
    assert!(
        e.starts_with(&format!(
            "copying the BPF object {} to {} failed: ",
            from.display(),
            onto_dir.display()
        )),
        "{e}"
    );
    // And a copy that can be made is made.
    let ok = dir.path().join("edr-ebpf");
    assert_eq!(copy_object(&from, &ok), Ok(()));
    assert_eq!(std::fs::read(&ok).unwrap(), b"object");
}
