//! Detector stage.
//!
//! In: enriched event batches. Out: output [`Record`]s for the writer.
//! Every event is passed on as an event record; detections (built-in and
//! rule files) attach here and add alert records beside the events that
//! raised them.

use crossbeam_channel::{Receiver, Sender};

use crate::event::Event;
use crate::record::Record;

/// The stage loop: runs until the enricher hangs up.
pub fn run(rx: Receiver<Vec<Event>>, tx: Sender<Vec<Record>>) {
    for batch in rx {
        let out: Vec<Record> = batch.into_iter().map(Record::Event).collect();
        if tx.send(out).is_err() {
            return;
        }
    }
}
