//! The clairvoyant scaler: the limit no forecaster can pass under the capacity model. It reads the
//! trace itself and, at every tick, scales to the pods the highest demand of the next pod start plus
//! one sync interval needs at its target: capacity bought exactly as early as it can serve and given
//! back as soon as it is not needed. No window, no cooldown, no margin.

use jiff::Timestamp;

use super::{Autoscaler, Observation, Settings, Trace};

/// A scaler that knows the demand ahead.
#[derive(Clone, Debug)]
pub struct Clairvoyant {
    /// Trace time (ms) and demand per second, as the simulator replays them.
    points: Vec<(i64, f64)>,
    /// The trace's first time: simulated time 0.
    t0: i64,
    /// Trace time per simulated time.
    compress: f64,
    /// How far ahead it looks, simulated ms: pod start plus one interval.
    ahead_ms: i64,
    /// Demand per second one pod should carry.
    per_pod: f64,
    /// Replica bounds.
    bounds: (i32, i32),
    /// Index of the point in force at the last decision.
    cursor: usize,
}

/// Milliseconds between two decisions of the clairvoyant (the HPA's and the benchmark's sync).
const INTERVAL_MS: i64 = 15_000;

impl Clairvoyant {
    /// A clairvoyant for `trace` replayed under `settings`, sizing pods at `per_pod` demand each,
    /// within `[min, max]` replicas.
    pub fn new(trace: &Trace, settings: &Settings, per_pod: f64, min: i32, max: i32) -> Self {
        let compress =
            if settings.compress > 0.0 && settings.compress.is_finite() { settings.compress } else { 1.0 };
        Clairvoyant {
            points: trace.points.iter().map(|&(t, v)| (t, v * settings.scale_demand)).collect(),
            t0: trace.points.first().map_or(0, |p| p.0),
            compress,
            ahead_ms: settings.pod_start_ms.max(0) + INTERVAL_MS,
            per_pod,
            bounds: (min.max(0), max.max(min.max(0))),
            cursor: 0,
        }
    }
}

impl Autoscaler for Clairvoyant {
    fn interval_ms(&self) -> i64 {
        INTERVAL_MS
    }

    fn decide(&mut self, now: Timestamp, _observed: &Observation) -> i32 {
        let sim = (now.as_millisecond() - self.t0) as f64;
        let from = self.t0 + (sim * self.compress) as i64;
        let to = self.t0 + ((sim + self.ahead_ms as f64) * self.compress) as i64;
        while self.cursor + 1 < self.points.len() && self.points[self.cursor + 1].0 <= from {
            self.cursor += 1;
        }
        let peak = self.points[self.cursor..]
            .iter()
            .take_while(|p| p.0 <= to)
            .fold(self.points.get(self.cursor).map_or(0.0, |p| p.1), |m, p| m.max(p.1));
        let pods = if self.per_pod > 0.0 { (peak / self.per_pod - 1e-9).ceil() } else { 0.0 };
        (pods.min(f64::from(self.bounds.1)) as i32).clamp(self.bounds.0, self.bounds.1)
    }
}
