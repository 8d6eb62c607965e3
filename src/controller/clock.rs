//! The daemon's clock: wall time for decisions (`jiff::Timestamp`, what status stores) and the
//! monotonic tick for schedules (tokio's `Instant`, so tests can pause and advance it). Tests
//! substitute a manual wall clock; nothing else in the controller reads the time.

use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};

/// Where the daemon reads the wall time.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// `None`: the system clock; otherwise a time a test sets and advances.
    manual: Option<Arc<Mutex<Timestamp>>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that stands at `at` until advanced.
    pub fn manual(at: Timestamp) -> Self {
        Self { manual: Some(Arc::new(Mutex::new(at))) }
    }

    /// The wall time now.
    pub fn now(&self) -> Timestamp {
        match &self.manual {
            Some(at) => *at.lock().expect("a poisoned lock means a panic elsewhere"),
            None => Timestamp::now(),
        }
    }

    /// Move a manual clock forward (no effect on the system clock).
    pub fn advance(&self, by: SignedDuration) {
        if let Some(at) = &self.manual {
            let mut at = at.lock().expect("a poisoned lock means a panic elsewhere");
            *at = at.saturating_add(by).expect("a signed duration never overflows a timestamp this way");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let start: Timestamp = "2026-12-01T09:00:00Z".parse().unwrap();
        let clock = Clock::manual(start);
        assert_eq!(clock.now(), start);
        clock.clone().advance(SignedDuration::from_secs(90));
        assert_eq!(clock.now(), start + SignedDuration::from_secs(90), "clones share the time");
    }
}
