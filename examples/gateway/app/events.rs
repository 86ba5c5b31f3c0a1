//! A timeline of what the gateway did, in experiment time.

use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// Timestamped lines, relative to the experiment's start.
#[derive(Debug)]
pub(crate) struct EventLog {
    start: Instant,
    entries: Mutex<Vec<(Duration, String)>>,
}

impl EventLog {
    pub(crate) fn new() -> Self {
        EventLog {
            start: Instant::now(),
            entries: Mutex::new(Vec::new()),
        }
    }

    /// Time since the start.
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub(crate) fn log(&self, line: impl Into<String>) {
        let at = self.start.elapsed();
        self.entries.lock().push((at, line.into()));
    }

    pub(crate) fn entries(&self) -> Vec<(Duration, String)> {
        self.entries.lock().clone()
    }

    pub(crate) fn last(&self) -> Option<(Duration, String)> {
        self.entries.lock().last().cloned()
    }

    /// The instant `at` as time since the start.
    pub(crate) fn since_start(&self, at: std::time::Instant) -> Duration {
        at.saturating_duration_since(self.start.into_std())
    }
}
