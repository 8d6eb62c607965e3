//! When each scaler is next due, and how long a failed one waits: ticks phased by metric query so
//! scalers sharing a query share a fetch, and backoff after failures. On tokio's clock, so tests
//! can pause and advance it.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;
use tokio::time::Instant;

use crate::api::GeneralScalerSpec;
use crate::decision::schedule;

/// The first retry after a failed reconcile (a conflict or a 5xx usually passes by then).
const FIRST_RETRY: Duration = Duration::from_secs(2);

/// The longest Retry-After honoured: an API server asking for more gets asked again after this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// (namespace, name).
pub type ScalerKey = (String, String);

/// A scaler's next tick.
#[derive(Clone, Copy)]
struct Due {
    /// The generation last reconciled.
    generation: Option<i64>,
    /// When the next tick is.
    at: Instant,
    /// The scaler's phase within its interval, for that generation.
    phase: u64,
}

/// When each scaler is next due, so that watch events of our own status writes cost nothing.
#[derive(Default)]
pub struct Schedule {
    /// By (namespace, name): the generation last reconciled, when the next tick is, and the
    /// scaler's phase within its interval for that generation (worked out once per spec change).
    due: Mutex<HashMap<ScalerKey, Due>>,
    /// By (namespace, name): reconciles failed in a row since the last that finished.
    failures: Mutex<HashMap<ScalerKey, u32>>,
}

impl Schedule {
    /// `Err(wait)` while the scaler is not due and its spec did not change; otherwise `Ok` with how
    /// late this reconcile is against its tick (`None` for a first or spec-triggered reconcile).
    pub fn due(&self, key: &ScalerKey, generation: Option<i64>) -> Result<Option<Duration>, Duration> {
        let due = self.due.lock().expect("a poisoned lock means a panic elsewhere");
        let Some(&Due { generation: seen, at, .. }) = due.get(key) else { return Ok(None) };
        if seen != generation {
            return Ok(None);
        }
        let now = Instant::now();
        if at > now { Err(at - now) } else { Ok(Some(now - at)) }
    }

    /// Keep only the scalers that still exist.
    pub fn retain(&self, live: &std::collections::HashSet<ScalerKey>) {
        self.due.lock().expect("a poisoned lock means a panic elsewhere").retain(|key, _| live.contains(key));
        self.failures
            .lock()
            .expect("a poisoned lock means a panic elsewhere")
            .retain(|key, _| live.contains(key));
    }

    /// Whether this scaler has been reconciled at least once (successfully or not).
    pub fn seen(&self, key: &ScalerKey) -> bool {
        self.due.lock().expect("a poisoned lock means a panic elsewhere").contains_key(key)
            || self.failures.lock().expect("a poisoned lock means a panic elsewhere").contains_key(key)
    }

    /// Reconciles of this scaler failed in a row so far.
    pub fn failures(&self, key: &ScalerKey) -> u32 {
        self.failures.lock().expect("a poisoned lock means a panic elsewhere").get(key).copied().unwrap_or(0)
    }

    /// Record a failed reconcile; the wait before the next attempt: the API server's Retry-After
    /// (at most `MAX_RETRY_AFTER`), else 2 s doubling with each failure in a row, up to the
    /// scaler's interval (a refusal that lasts is retried at the scaler's own pace, not every 2 s).
    pub fn failed(&self, key: ScalerKey, retry_after: Option<Duration>, interval: Duration) -> Duration {
        let mut failures = self.failures.lock().expect("a poisoned lock means a panic elsewhere");
        let count = failures.entry(key).or_insert(0);
        *count = count.saturating_add(1);
        match retry_after {
            Some(wait) => wait.min(MAX_RETRY_AFTER),
            None => {
                let backoff = FIRST_RETRY.saturating_mul(1 << (*count - 1).min(16));
                backoff.min(interval.max(FIRST_RETRY))
            }
        }
    }

    /// Record a reconcile and return the wait until the next one: the scaler's tick, at a phase
    /// derived from its metric queries so that scalers sharing a query share a tick (and a fetch),
    /// while different queries spread over the interval; or, if sooner, the next edge of one of its
    /// `spec.schedules` windows, so the bounds change at the edge and not up to an interval late.
    pub fn set_next(
        &self,
        key: ScalerKey,
        generation: Option<i64>,
        interval: Duration,
        spec: &GeneralScalerSpec,
        wall_now: Timestamp,
    ) -> Duration {
        let interval_ms = interval.as_millis().max(1) as u64;
        let mut due = self.due.lock().expect("a poisoned lock means a panic elsewhere");
        let known = due.get(&key).filter(|d| d.generation == generation).map(|d| d.phase);
        let phase = known.unwrap_or_else(|| phase_of(spec)) % interval_ms;
        let now_ms = wall_now.as_millisecond().max(0) as u64;
        let mut wait = (phase + interval_ms - now_ms % interval_ms) % interval_ms;
        // Never sooner than half an interval: a scaler first seen just before its tick waits one.
        if wait < interval_ms / 2 {
            wait += interval_ms;
        }
        let wait = Duration::from_millis(wait).min(until_window_edge(spec, wall_now));
        self.failures.lock().expect("a poisoned lock means a panic elsewhere").remove(&key);
        let next = Due { generation, at: Instant::now() + wait, phase };
        match due.get_mut(&key) {
            Some(entry) => *entry = next,
            None => {
                due.insert(key, next);
            }
        }
        wait
    }
}

/// A number from a scaler's metric sources: equal for scalers that read the same queries. A
/// resource metric reads its own target's pods, so its target spreads such scalers apart.
fn phase_of(spec: &GeneralScalerSpec) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for m in spec.metrics() {
        format!("{:?}{:?}{:?}{:?}", m.prometheus, m.redis, m.pubsub, m.http).hash(&mut hasher);
        if let Some(resource) = &m.resource {
            format!("{resource:?}{:?}", spec.target_ref).hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// How long until the next window of `spec.schedules` opens or closes; `Duration::MAX` without one.
/// Not spread: every scaler on a 09:00 edge is due at 09:00 (a bound is owed at its time).
fn until_window_edge(spec: &GeneralScalerSpec, wall_now: Timestamp) -> Duration {
    match schedule::next_edge(spec, wall_now) {
        // The edge itself is strictly after now, so the reconcile it wakes finds the window changed.
        Some(edge) => Duration::try_from(edge.duration_since(wall_now)).unwrap_or(Duration::ZERO),
        None => Duration::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(schedules: serde_json::Value) -> GeneralScalerSpec {
        serde_json::from_value(serde_json::json!({
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 20, "syncIntervalSeconds": 300,
            "metric": {"type": "http", "targetValue": 10, "http": {"url": "http://m/x"}},
            "schedules": schedules,
        }))
        .unwrap()
    }

    fn key() -> ScalerKey {
        ("default".to_string(), "web".to_string())
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_edge_sooner_than_the_tick_is_the_next_wake() {
        let schedule = Schedule::default();
        let spec = spec(
            serde_json::json!([{"name": "w", "start": "0 9 * * *", "end": "0 18 * * *", "minReplicas": 5}]),
        );
        let interval = Duration::from_secs(300);
        // 3.5 s before 09:00 UTC: the edge, not the 150-450 s tick.
        let now: Timestamp = "2026-01-05T08:59:56.500Z".parse().unwrap();
        let wait = schedule.set_next(key(), Some(1), interval, &spec, now);
        assert_eq!(wait, Duration::from_millis(3500));
        assert!(schedule.due(&key(), Some(1)).is_err(), "not due before the edge");
        tokio::time::advance(wait).await;
        assert!(schedule.due(&key(), Some(1)).is_ok(), "due at the edge");
        // Mid-window the end is hours away: the tick comes first.
        let now: Timestamp = "2026-01-05T12:00:00Z".parse().unwrap();
        let wait = schedule.set_next(key(), Some(1), interval, &spec, now);
        assert!(wait >= interval / 2 && wait <= interval * 3 / 2, "{wait:?}");
    }

    #[test]
    fn a_shared_query_shares_a_phase_and_resource_metrics_spread_by_target() {
        let on = |target: &str, metric: serde_json::Value| -> GeneralScalerSpec {
            serde_json::from_value(serde_json::json!({
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                "maxReplicas": 20, "metric": metric,
            }))
            .unwrap()
        };
        let http = serde_json::json!({"type": "http", "targetValue": 10, "http": {"url": "http://m/x"}});
        assert_eq!(phase_of(&on("a", http.clone())), phase_of(&on("b", http)));
        let cpu = serde_json::json!({"type": "resource", "targetValue": 60, "resource": {"name": "cpu"}});
        assert_ne!(phase_of(&on("a", cpu.clone())), phase_of(&on("b", cpu)));
    }

    #[tokio::test(start_paused = true)]
    async fn without_windows_the_tick_alone() {
        let schedule = Schedule::default();
        let spec = spec(serde_json::json!([]));
        let now: Timestamp = "2026-01-05T08:59:56.500Z".parse().unwrap();
        let wait = schedule.set_next(key(), Some(1), Duration::from_secs(300), &spec, now);
        assert!(wait >= Duration::from_secs(150), "{wait:?}");
    }
}
