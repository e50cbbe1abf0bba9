//! Fault injection for the crash-safety tests, in debug builds only.
//!
//! `RAND_GUARD_DEBUG_PANIC=<stage>[:<n>]` makes pipeline stage `<stage>`
//! (`poller`, `normalizer`, `enricher`, `detector` or `writer`) panic as
//! it takes its `n`-th batch (default 1), the way a bug in that stage
//! would. tests/e2e_shutdown.rs uses it to prove that a panicking stage
//! ends the agent with a non-zero status and a message naming the stage
//! (docs/reliability.md).
//!
//! Only `cfg(debug_assertions)` builds (`cargo build`, `cargo test`) read
//! the variable. In a release build, the one that is packaged, [`point`]
//! is empty and the variable means nothing.

/// A batch is about to be handled by `stage`: panic here if the fault
/// injection asks for it.
#[inline(always)]
pub fn point(stage: &'static str) {
    #[cfg(debug_assertions)]
    imp::point(stage);
    #[cfg(not(debug_assertions))]
    let _ = stage;
}

/// The environment variable read by debug builds.
pub const ENV: &str = "RAND_GUARD_DEBUG_PANIC";

#[cfg(debug_assertions)]
mod imp {
    use std::cell::Cell;
    use std::sync::OnceLock;

    /// (stage, batch number) from the environment, read once.
    fn target() -> Option<&'static (String, u64)> {
        static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
        TARGET
            .get_or_init(|| {
                let v = std::env::var(super::ENV).ok()?;
                parse(&v)
            })
            .as_ref()
    }

    pub(super) fn parse(v: &str) -> Option<(String, u64)> {
        let (stage, n) = match v.split_once(':') {
            Some((s, n)) => (s, n.parse().ok()?),
            None => (v, 1),
        };
        (!stage.is_empty() && n > 0).then(|| (stage.to_string(), n))
    }

    thread_local! {
        /// Batches this thread's stage has taken (each stage has its own
        /// thread).
        static SEEN: Cell<u64> = const { Cell::new(0) };
    }

    pub(super) fn point(stage: &'static str) {
        let Some((want, n)) = target() else { return };
        if want != stage {
            return;
        }
        let seen = SEEN.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        if seen == *n {
            panic!(
                "injected fault: {}={stage}:{n} (a debug-build test hook)",
                super::ENV
            );
        }
    }
}

#[cfg(all(test, debug_assertions))]
mod tests {
    use super::imp::parse;

    #[test]
    fn the_variable_names_a_stage_and_an_optional_batch() {
        assert_eq!(parse("writer"), Some(("writer".into(), 1)));
        assert_eq!(parse("detector:3"), Some(("detector".into(), 3)));
        assert_eq!(parse("detector:0"), None);
        assert_eq!(parse("detector:x"), None);
        assert_eq!(parse(""), None);
    }
}
