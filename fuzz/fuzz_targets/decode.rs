//! `cargo fuzz run decode`: see rand_guard_fuzz::decode for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rand_guard_fuzz::decode(data));
