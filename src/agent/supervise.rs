//! The pipeline's threads and their supervision: each stage on its own
//! thread, the poll loop on the caller's, and a panic anywhere named
//! instead of a hang.

use std::sync::OnceLock;
use std::thread;

use crate::agent::AgentError;

/// A pipeline stage's thread body.
pub type StageFn<'env> = Box<dyn FnOnce() + Send + 'env>;

/// The first pipeline stage that panicked, as its thread unwinds.
#[derive(Debug, Default)]
pub struct StageWatch(OnceLock<&'static str>);

impl StageWatch {
    pub fn failed(&self) -> Option<&'static str> {
        self.0.get().copied()
    }

    fn set(&self, stage: &'static str) {
        let _ = self.0.set(stage);
    }
}

/// Marks `stage` failed in the watch if its thread unwinds.
struct PanicGuard<'a> {
    watch: &'a StageWatch,
    stage: &'static str,
}

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.watch.set(self.stage);
        }
    }
}

/// Run each stage on its own thread (`rg-<name>`) and `poll` on this one,
/// then join them all. A stage that panics is marked in the [`StageWatch`]
/// as its thread unwinds: the poll loop looks at it (the agent's does on
/// every idle round, at most
/// [`POLL_INTERVAL`](crate::pipeline::poller::POLL_INTERVAL) apart) and
/// stops; the stages after the dead one see their input close, the ones before
/// it their output. The result names the first stage that panicked, even
/// when the poll loop ended on the broken pipeline first; a panic in
/// `poll` itself is caught and named `poller`.
pub fn supervise<'env>(
    stages: Vec<(&'static str, StageFn<'env>)>,
    poll: impl FnOnce(&StageWatch) -> Result<(), AgentError>,
) -> Result<(), AgentError> {
    let watch = StageWatch::default();
    thread::scope(|s| {
        let handles: Vec<_> = stages
            .into_iter()
            .map(|(stage, f)| {
                let watch = &watch;
                let h = thread::Builder::new()
                    .name(format!("rg-{stage}"))
                    .spawn_scoped(s, move || {
                        let _guard = PanicGuard { watch, stage };
                        f()
                    })
                    .expect("spawning a pipeline thread");
                (stage, h)
            })
            .collect();
        // The poll loop is a stage too: a panic there drops what it holds
        // (the first channel's sender among it), so the stages end as
        // after a stop, and the error names it.
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll(&watch)))
            .unwrap_or_else(|_| {
                watch.set("poller");
                Ok(())
            });
        for (stage, h) in handles {
            if h.join().is_err() {
                watch.set(stage);
            }
        }
        match watch.failed() {
            Some(stage) => Err(AgentError::StagePanicked(stage)),
            None => polled,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::poller::{self, PollError};
    use crossbeam_channel::{Receiver, bounded};
    use std::time::{Duration, Instant};

    /// forward → panicky detector → collecting writer; the detector
    /// panics on the third item.
    fn pipeline<'a>(
        input: Receiver<u32>,
        written: &'a std::sync::Mutex<Vec<u32>>,
    ) -> Vec<(&'static str, StageFn<'a>)> {
        let (b_tx, b_rx) = bounded::<u32>(1);
        let (c_tx, c_rx) = bounded::<u32>(1);
        vec![
            (
                "normalizer",
                Box::new(move || {
                    for x in input {
                        if b_tx.send(x).is_err() {
                            return;
                        }
                    }
                }),
            ),
            (
                "detector",
                Box::new(move || {
                    for x in b_rx {
                        assert!(x != 3, "injected fault on item {x}");
                        if c_tx.send(x).is_err() {
                            return;
                        }
                    }
                }),
            ),
            (
                "writer",
                Box::new(move || {
                    for x in c_rx {
                        written.lock().unwrap().push(x);
                    }
                }),
            ),
        ]
    }

    /// The way the agent's poll loop stops: it looks at the watch on
    /// every idle round. Here the source goes quiet after the fault, so
    /// only the watch can end the run.
    #[test]
    fn a_stage_that_panics_ends_the_run_and_is_named() {
        let (tx, rx) = bounded::<u32>(1);
        let written = std::sync::Mutex::new(Vec::new());
        let started = Instant::now();
        let result = supervise(pipeline(rx, &written), |watch| {
            for x in 1..=3 {
                tx.send(x).unwrap();
            }
            while watch.failed().is_none() {
                assert!(started.elapsed() < Duration::from_secs(10), "never noticed");
                thread::sleep(poller::POLL_INTERVAL);
            }
            // As the agent's poll loop does when it returns: the first
            // stage's input closes, so every thread can be joined.
            drop(tx);
            Ok(())
        });
        assert!(
            matches!(result, Err(AgentError::StagePanicked("detector"))),
            "{result:?}"
        );
        assert_eq!(*written.lock().unwrap(), [1, 2]);
        assert!(started.elapsed() < Duration::from_secs(10));
        let shown = result.unwrap_err().to_string();
        assert!(
            shown.starts_with("pipeline stage `detector` panicked"),
            "{shown}"
        );
    }

    /// When the poll loop ends first on the broken pipeline (its send
    /// fails), the error still names the stage that panicked.
    #[test]
    fn the_panicked_stage_wins_over_the_broken_pipeline_it_caused() {
        let (tx, rx) = bounded::<u32>(1);
        let written = std::sync::Mutex::new(Vec::new());
        let result = supervise(pipeline(rx, &written), |_| {
            for x in 1.. {
                if tx.send(x).is_err() {
                    return Err(AgentError::Poll(PollError::Downstream));
                }
            }
            Ok(())
        });
        assert!(
            matches!(result, Err(AgentError::StagePanicked("detector"))),
            "{result:?}"
        );
    }

    /// A panic in the poll loop itself: what it held is dropped, so the
    /// stages end, and the error names the poller.
    #[test]
    fn a_panicking_poll_loop_is_named_and_the_stages_end() {
        let (tx, rx) = bounded::<u32>(1);
        let written = std::sync::Mutex::new(Vec::new());
        let result = supervise(pipeline(rx, &written), move |_| {
            tx.send(1).unwrap();
            panic!("poll loop fault");
        });
        assert!(
            matches!(result, Err(AgentError::StagePanicked("poller"))),
            "{result:?}"
        );
        assert_eq!(*written.lock().unwrap(), [1]);
    }

    #[test]
    fn without_a_panic_the_poll_result_stands() {
        let (tx, rx) = bounded::<u32>(1);
        let written = std::sync::Mutex::new(Vec::new());
        let result = supervise(pipeline(rx, &written), |watch| {
            tx.send(1).unwrap();
            drop(tx);
            assert_eq!(watch.failed(), None);
            Ok(())
        });
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(*written.lock().unwrap(), [1]);
    }
}
