//! Builds the BPF side: every `bpf/*.bpf.c` is compiled with clang against
//! `vmlinux/vmlinux.h`, the objects are linked into one (`edr.bpf.o`, one
//! ring buffer and one config shared by all families), and libbpf-cargo
//! generates the Rust skeleton from it. `src/kernel/bpf.rs` `include!`s the
//! skeleton; the linked object stays in `OUT_DIR` and is also copied to
//! `target/<profile>/edr-ebpf`, the file the packages install.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use libbpf_cargo::SkeletonBuilder;

#[path = "build/copy.rs"]
mod copy;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let clang = env::var_os("CLANG").unwrap_or_else(|| OsString::from("clang"));
    println!("cargo:rerun-if-env-changed=CLANG");

    let bpf_dir = manifest.join("bpf");
    let mut sources: Vec<PathBuf> = fs::read_dir(&bpf_dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", bpf_dir.display()))
        .map(|entry| entry.expect("bpf/ entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".bpf.c"))
        .collect();
    sources.sort();
    assert!(!sources.is_empty(), "no bpf/*.bpf.c sources");

    // Rebuild when any BPF source, helper header, the ABI header or
    // vmlinux.h changes.
    println!("cargo:rerun-if-changed={}", bpf_dir.display());
    for dir in ["bpf", "include", "vmlinux"] {
        for entry in fs::read_dir(manifest.join(dir)).expect("source dir") {
            println!(
                "cargo:rerun-if-changed={}",
                entry.expect("entry").path().display()
            );
        }
    }

    let include = |dir: &str| format!("-I{}", manifest.join(dir).display());
    let clang_args = [
        include("vmlinux"),
        include("include"),
        include("bpf"),
        "-Wall".to_string(),
        "-Werror".to_string(),
    ];

    let mut objects = Vec::new();
    for src in &sources {
        let stem = src
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".bpf.c", "");
        let obj = out.join(format!("{stem}.unit.o"));
        SkeletonBuilder::new()
            .source(src)
            .obj(&obj)
            .clang(&clang)
            .clang_args(&clang_args)
            .build()
            .unwrap_or_else(|e| panic!("compiling {}: {e:#}", src.display()));
        objects.push(obj);
    }

    let linked = out.join("edr.bpf.o");
    link(&objects, &linked);

    SkeletonBuilder::new()
        .obj(&linked)
        .generate(out.join("edr.skel.rs"))
        .unwrap_or_else(|e| panic!("generating skeleton: {e:#}"));

    // target/<profile>/edr-ebpf: OUT_DIR is target/<profile>/build/<pkg>/out.
    // A failed copy fails the build: the packages would install a stale
    // object, or none.
    let profile_dir = out.ancestors().nth(3).unwrap_or_else(|| {
        panic!(
            "OUT_DIR {} is not target/<profile>/build/<pkg>/out",
            out.display()
        )
    });
    if let Err(e) = copy::copy_object(&linked, &profile_dir.join("edr-ebpf")) {
        panic!("{e}");
    }
}

fn link(objects: &[PathBuf], linked: &Path) {
    let mut linker = libbpf_rs::Linker::new(linked)
        .unwrap_or_else(|e| panic!("creating BPF linker for {}: {e}", linked.display()));
    for obj in objects {
        linker
            .add_file(obj)
            .unwrap_or_else(|e| panic!("linking {}: {e}", obj.display()));
    }
    linker
        .link()
        .unwrap_or_else(|e| panic!("linking {}: {e}", linked.display()));
}
