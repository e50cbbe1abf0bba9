//! The skeleton libbpf-cargo generated from the linked BPF object
//! (`build.rs`). The agent loads the object generically (`kernel::load`, so an
//! external object can replace it); the skeleton's Rust versions of the C
//! types in the object's BTF are what `abi`'s tests check the mirrors
//! against.

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
