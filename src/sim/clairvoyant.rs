//! The clairvoyant scaler: the limit no forecaster can pass under the capacity model. It reads the
//! demand itself and, at every tick, scales to the pods the highest demand of the next pod start plus
//! one sync interval needs at its target: capacity bought exactly as early as it can serve and given
//! back as soon as it is not needed. No window, no cooldown, no margin.

use jiff::Timestamp;

use super::{Autoscaler, Demand, Observation, Settings};

/// A scaler that knows the demand ahead.
#[derive(Clone, Debug)]
pub struct Clairvoyant<'a> {
    /// The demand replayed.
    demand: &'a Demand,
    /// How far ahead it looks, simulated ms: pod start plus one interval.
    ahead_ms: i64,
    /// Demand per second one pod should carry.
    per_pod: f64,
    /// Replica bounds.
    bounds: (i32, i32),
}

/// Milliseconds between two decisions of the clairvoyant (the HPA's and the benchmark's sync).
const INTERVAL_MS: i64 = 15_000;

impl<'a> Clairvoyant<'a> {
    /// A clairvoyant for `demand` replayed under `settings`, sizing pods at `per_pod` demand each,
    /// within `[min, max]` replicas.
    pub fn new(demand: &'a Demand, settings: &Settings, per_pod: f64, min: i32, max: i32) -> Self {
        Clairvoyant {
            demand,
            ahead_ms: settings.pod_start_ms.max(0) + INTERVAL_MS,
            per_pod,
            bounds: (min.max(0), max.max(min.max(0))),
        }
    }
}

impl Autoscaler for Clairvoyant<'_> {
    fn interval_ms(&self) -> i64 {
        INTERVAL_MS
    }

    fn decide(&mut self, now: Timestamp, _observed: &Observation) -> i32 {
        let t = now.as_millisecond() - self.demand.origin_ms();
        let peak = self.demand.peak(t, t + self.ahead_ms);
        let pods = if self.per_pod > 0.0 { (peak / self.per_pod - 1e-9).ceil() } else { 0.0 };
        (pods.min(f64::from(self.bounds.1)) as i32).clamp(self.bounds.0, self.bounds.1)
    }
}
