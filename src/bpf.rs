//! The skeleton libbpf-cargo generated from the linked BPF object
//! (`build.rs`): typed access to its maps, programs and rodata, and Rust
//! versions of the C types in its BTF (used by `abi`'s layout tests).

#[allow(
    clippy::all,
    clippy::pedantic,
    dead_code,
    missing_docs,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    unsafe_op_in_unsafe_fn,
    unused_imports
)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/edr.skel.rs"));
}
pub use skel::*;
