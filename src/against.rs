//! What switching buys (`gscale plan --replay --against hpa`): the Kubernetes HPA reference
//! ([`crate::sim::hpa::Hpa`]) stepped over the same metric history as a replay of gscale's own
//! decisions, and both timelines measured the same way.
//!
//! Pure, like [`crate::replay`]: the history comes in as series aligned with the ticks. The HPA
//! syncs every 15 s; between two ticks of a coarser replay it syncs on the tick's readings, as it
//! would see a metric that changes once per step. "Under-provisioned" is a tick where a side ran
//! fewer replicas than the metrics asked for at that side's own count (`ceil(value / target)` for
//! a total, `ceil(replicas * value / target)` for a per-pod value, within the bounds).

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::api::{GeneralScalerSpec, TargetType};
use crate::decision::SloReadings;
use crate::replay::{NO_SAMPLE, Replay};
use crate::sim::Observation;
use crate::sim::hpa::{self, Hpa};

/// One side's timeline and totals.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Side {
    /// `gscale` or `hpa`.
    pub label: String,
    /// Replicas after each tick's decision (what runs until the next tick).
    pub replicas: Vec<i32>,
    /// Changes of the replica count.
    pub scale_events: usize,
    /// Replica-hours.
    pub pod_hours: f64,
    /// `pod_hours * costPerPodPerHour`, when the spec sets a cost.
    pub cost: Option<f64>,
    /// Minutes at maxReplicas.
    pub minutes_at_max: f64,
    /// Minutes with fewer replicas than the metrics asked for.
    pub minutes_under_provisioned: f64,
}

/// Both sides and how gscale differs from the HPA (gscale minus HPA).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// gscale's own decisions.
    pub gscale: Side,
    /// The HPA reference's.
    pub hpa: Side,
    /// gscale's pod-hours minus the HPA's.
    pub pod_hours_difference: f64,
    /// The same in cost.
    pub cost_difference: Option<f64>,
    /// gscale's minutes under-provisioned minus the HPA's.
    pub under_provisioned_difference: f64,
    /// gscale's minutes at max minus the HPA's.
    pub at_max_difference: f64,
}

/// The HPA's replica count after each tick, starting from `replicas`, syncing every 15 s from the
/// first tick on the readings of the tick in force (several syncs in a long tick, one every few
/// ticks when they are short).
pub fn hpa_timeline(
    spec: &GeneralScalerSpec,
    replicas: i32,
    times: &[Timestamp],
    series: &[Vec<Option<f64>>],
    step: SignedDuration,
) -> Vec<i32> {
    let mut reference = Hpa::from_spec(spec);
    let sync_ms = hpa::SYNC_PERIOD_SECONDS * 1000;
    let mut current = replicas;
    let mut next_sync = times.first().map_or(0, |t| t.as_millisecond());
    let mut out = Vec::with_capacity(times.len());
    for (i, now) in times.iter().enumerate() {
        let readings: Vec<crate::decision::Reading> =
            series.iter().map(|s| s.get(i).copied().flatten().ok_or_else(|| NO_SAMPLE.to_string())).collect();
        let until =
            times.get(i + 1).map_or(now.as_millisecond() + step.as_millis() as i64, |t| t.as_millisecond());
        // Every sync due before the next tick sees this tick's readings.
        while next_sync < until {
            let observed = Observation {
                current,
                ready: current,
                readings: readings.clone(),
                slo: SloReadings::default(),
            };
            current = reference.reconcile(next_sync, &observed);
            next_sync += sync_ms;
        }
        out.push(current);
    }
    out
}

/// What the metrics asked for at tick `i` with `replicas` running, within the bounds; `None`
/// when no metric has a sample.
fn asked(spec: &GeneralScalerSpec, series: &[Vec<Option<f64>>], i: usize, replicas: i32) -> Option<i32> {
    let mut best: Option<i32> = None;
    for (metric, values) in spec.metrics().iter().zip(series) {
        let Some(value) = values.get(i).copied().flatten() else { continue };
        if metric.target_value <= 0.0 || !value.is_finite() {
            continue;
        }
        let want = match metric.effective_target_type() {
            TargetType::AverageValue => value / metric.target_value,
            TargetType::Value | TargetType::Utilization => {
                f64::from(replicas.max(1)) * value / metric.target_value
            }
        };
        let want = (want - 1e-9).ceil().clamp(0.0, f64::from(i32::MAX)) as i32;
        best = Some(best.map_or(want, |b| b.max(want)));
    }
    best.map(|b| b.clamp(spec.min_replicas, spec.max_replicas))
}

/// Measure one timeline.
fn side(
    label: &str,
    spec: &GeneralScalerSpec,
    replicas: Vec<i32>,
    start: i32,
    times: &[Timestamp],
    series: &[Vec<Option<f64>>],
    step: SignedDuration,
) -> Side {
    let cost_per_hour = spec.policy.cost_aware.as_ref().map(|c| c.cost_per_pod_per_hour);
    let (mut pod_hours, mut at_max, mut under, mut events) = (0.0, 0.0, 0.0, 0);
    let mut before = start;
    for (i, (&now, &count)) in times.iter().zip(&replicas).enumerate() {
        let until = times.get(i + 1).copied().unwrap_or_else(|| now + step);
        let hours = until.duration_since(now).as_secs_f64() / 3600.0;
        pod_hours += f64::from(count) * hours;
        if count >= spec.max_replicas {
            at_max += hours * 60.0;
        }
        if asked(spec, series, i, count).is_some_and(|want| count < want) {
            under += hours * 60.0;
        }
        if count != before {
            events += 1;
        }
        before = count;
    }
    Side {
        label: label.to_string(),
        replicas,
        scale_events: events,
        pod_hours,
        cost: cost_per_hour.map(|c| c * pod_hours),
        minutes_at_max: at_max,
        minutes_under_provisioned: under,
    }
}

/// gscale's replay beside the HPA reference over the same history.
pub fn compare(
    spec: &GeneralScalerSpec,
    replay: &Replay,
    start: i32,
    times: &[Timestamp],
    series: &[Vec<Option<f64>>],
    step: SignedDuration,
) -> Comparison {
    let ours = replay.ticks.iter().map(|t| t.replicas).collect();
    let gscale = side("gscale", spec, ours, start, times, series, step);
    let hpa = side("hpa", spec, hpa_timeline(spec, start, times, series, step), start, times, series, step);
    Comparison {
        pod_hours_difference: gscale.pod_hours - hpa.pod_hours,
        cost_difference: gscale.cost.zip(hpa.cost).map(|(a, b)| a - b),
        under_provisioned_difference: gscale.minutes_under_provisioned - hpa.minutes_under_provisioned,
        at_max_difference: gscale.minutes_at_max - hpa.minutes_at_max,
        gscale,
        hpa,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::History;
    use crate::replay::{SloSeries, replay};

    fn spec() -> GeneralScalerSpec {
        serde_json::from_value(serde_json::json!({
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
            "minReplicas": 1, "maxReplicas": 10,
            "metric": {"type": "prometheus", "targetValue": 10, "targetType": "AverageValue",
                       "prometheus": {"serverUrl": "http://p:9090", "query": "q"}},
            "policy": {"type": "costAware", "costAware": {"maxMonthlyCost": 100000, "costPerPodPerHour": 0.5}}
        }))
        .unwrap()
    }

    #[test]
    fn both_sides_are_measured_alike() {
        let spec = spec();
        let step = SignedDuration::from_mins(1);
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let times: Vec<Timestamp> = (0..60).map(|i| start + step * i).collect();
        // 20 for ten minutes, 200 (beyond max) for twenty, then 20 again.
        let load: Vec<Option<f64>> =
            (0..60).map(|i| Some(if (10..30).contains(&i) { 200.0 } else { 20.0 })).collect();
        let series = vec![load];
        let r = replay(&spec, 2, History::default(), &times, &series, &SloSeries::default(), step);
        let c = compare(&spec, &r, 2, &times, &series, step);
        assert_eq!(c.hpa.replicas.len(), 60);
        // Load 200 against 10 asks for 20, beyond max: both sides sit at max while it lasts.
        assert!(c.hpa.minutes_at_max >= 19.0 && c.gscale.minutes_at_max >= 19.0, "{c:?}");
        // Asking for 20 with max 10 is not under-provisioning (the bounds cap what is asked).
        assert_eq!(c.hpa.minutes_under_provisioned, 0.0, "{:?}", c.hpa.replicas);
        let by_hand: f64 = c.hpa.replicas.iter().map(|&n| f64::from(n) / 60.0).sum();
        assert!((c.hpa.pod_hours - by_hand).abs() < 1e-9);
        assert_eq!(c.hpa.cost, Some(by_hand * 0.5));
        assert!((c.pod_hours_difference - (r.pod_hours - by_hand)).abs() < 1e-9);
        // The HPA reaches max within a minute (max(4 pods, 100%) every 15 s), and waits 300 s to come down.
        assert_eq!(c.hpa.replicas[10], 10);
        assert_eq!(c.hpa.replicas[31], 10);
        assert_eq!(c.hpa.replicas[40], 2);
    }

    #[test]
    fn under_provisioned_counts_the_ticks_below_the_ask() {
        let spec = spec();
        let step = SignedDuration::from_mins(1);
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let times: Vec<Timestamp> = (0..3).map(|i| start + step * i).collect();
        let series = vec![vec![Some(50.0), Some(50.0), None]];
        let s = side("x", &spec, vec![3, 5, 1], 3, &times, &series, step);
        assert_eq!(s.minutes_under_provisioned, 1.0);
        assert_eq!(s.scale_events, 2);
    }
}
