//! Counters of the fetcher, per source type, for the daemon's own `/metrics`.
//!
//! Lock-free atomics bumped on every fetch; [`Stats`] is a plain snapshot. Exporting them in the
//! Prometheus format is the daemon's job, not this module's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::api::MetricType;

/// Upper bounds (seconds) of the fetch latency histogram buckets; `+Inf` is implied by `fetches`.
pub const LATENCY_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A snapshot of one source type's counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceStats {
    /// Readings asked for (one per metric per fetch, plus slo queries).
    pub fetches: u64,
    /// Queries actually sent to a backend (fetches minus dedup hits, give or take in-flight sharing).
    pub queries: u64,
    /// Readings that ended in an error.
    pub errors: u64,
    /// Readings served by an identical query of the same interval.
    pub dedup_hits: u64,
    /// Sum of fetch latencies, seconds.
    pub latency_seconds_sum: f64,
    /// Cumulative counts per [`LATENCY_BUCKETS`] bound (a Prometheus histogram).
    pub latency_buckets: [u64; LATENCY_BUCKETS.len()],
}

/// A snapshot of every source type's counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Per source type, in [`MetricType::ALL`] order.
    pub sources: [SourceStats; MetricType::ALL.len()],
}

impl Stats {
    /// The counters of one source type.
    pub fn of(&self, kind: MetricType) -> &SourceStats {
        &self.sources[index(kind)]
    }
}

fn index(kind: MetricType) -> usize {
    // A formula is never fetched (it is computed from the metrics read): it has no counters.
    MetricType::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

#[derive(Default)]
struct Counters {
    fetches: AtomicU64,
    queries: AtomicU64,
    errors: AtomicU64,
    dedup_hits: AtomicU64,
    latency_micros: AtomicU64,
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
}

/// The live counters.
#[derive(Default)]
pub struct Recorder {
    sources: [Counters; MetricType::ALL.len()],
}

impl Recorder {
    /// One reading done.
    pub fn fetch(&self, kind: MetricType, took: Duration, failed: bool) {
        let counters = &self.sources[index(kind)];
        counters.fetches.fetch_add(1, Ordering::Relaxed);
        if failed {
            counters.errors.fetch_add(1, Ordering::Relaxed);
        }
        counters.latency_micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        let seconds = took.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&counters.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// One query sent to a backend.
    pub fn query(&self, kind: MetricType) {
        self.sources[index(kind)].queries.fetch_add(1, Ordering::Relaxed);
    }

    /// One reading served by a shared query.
    pub fn dedup_hit(&self, kind: MetricType) {
        self.sources[index(kind)].dedup_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// The current values.
    pub fn snapshot(&self) -> Stats {
        let mut stats = Stats::default();
        for (snapshot, counters) in stats.sources.iter_mut().zip(&self.sources) {
            snapshot.fetches = counters.fetches.load(Ordering::Relaxed);
            snapshot.queries = counters.queries.load(Ordering::Relaxed);
            snapshot.errors = counters.errors.load(Ordering::Relaxed);
            snapshot.dedup_hits = counters.dedup_hits.load(Ordering::Relaxed);
            snapshot.latency_seconds_sum = counters.latency_micros.load(Ordering::Relaxed) as f64 / 1e6;
            for (out, bucket) in snapshot.latency_buckets.iter_mut().zip(&counters.buckets) {
                *out = bucket.load(Ordering::Relaxed);
            }
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_per_source() {
        let recorder = Recorder::default();
        recorder.fetch(MetricType::Redis, Duration::from_millis(20), false);
        recorder.fetch(MetricType::Redis, Duration::from_secs(3), true);
        recorder.query(MetricType::Redis);
        recorder.dedup_hit(MetricType::Redis);
        let stats = recorder.snapshot();
        let redis = stats.of(MetricType::Redis);
        assert_eq!((redis.fetches, redis.errors, redis.queries, redis.dedup_hits), (2, 1, 1, 1));
        assert!((redis.latency_seconds_sum - 3.02).abs() < 1e-6);
        assert_eq!(redis.latency_buckets[2], 1, "20 ms falls in the 25 ms bucket");
        assert_eq!(redis.latency_buckets[9], 2, "both fall in the 5 s bucket");
        assert_eq!(stats.of(MetricType::Http), &SourceStats::default());
    }
}
