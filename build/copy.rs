//! The one step of build.rs that a test can run: copying the linked BPF
//! object to `target/<profile>/edr-ebpf`, the file the packages install.
//! build.rs and tests/build_script.rs both include this file (`#[path]`).

use std::path::Path;

/// Copy the BPF object `from` to `to`; the error names both paths.
pub fn copy_object(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to).map(drop).map_err(|e| {
        format!(
            "copying the BPF object {} to {} failed: {e}",
            from.display(),
            to.display()
        )
    })
}
