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
    /// Added to the system clock (tests of window edges: `GSCALE_TEST_CLOCK_OFFSET_SECONDS`).
    offset: SignedDuration,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// The system clock moved by `offset`: a test can put a window edge seconds ahead without
    /// waiting for the wall clock to reach it.
    pub fn system_offset(offset: SignedDuration) -> Self {
        Self { manual: None, offset }
    }

    /// A clock that stands at `at` until advanced.
    pub fn manual(at: Timestamp) -> Self {
        Self { manual: Some(Arc::new(Mutex::new(at))), offset: SignedDuration::ZERO }
    }

    /// The wall time now.
    pub fn now(&self) -> Timestamp {
        match &self.manual {
            Some(at) => *at.lock().expect("a poisoned lock means a panic elsewhere"),
            None => Timestamp::now().saturating_add(self.offset).unwrap_or_else(|_| Timestamp::now()),
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

    #[test]
    fn an_offset_clock_runs_ahead_of_the_system_clock() {
        let ahead = Clock::system_offset(SignedDuration::from_hours(5)).now();
        let gap = ahead.duration_since(Timestamp::now());
        assert!(gap > SignedDuration::from_hours(4) && gap <= SignedDuration::from_hours(5), "{gap:?}");
    }
}
