//! Replaying metric history through the engine (`gscale plan --replay`): the same `decide` the
//! daemon calls, stepped tick by tick with its memory carried over, from a starting state.
//!
//! Pure: the history is fetched by `cmd/plan` and handed here as plain series; no I/O, no clock.
//! The load simulator with a capacity model lives in `sim/`; this replays recorded readings as is.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::api::{GeneralScalerSpec, History};
use crate::decision::{Input, Reading, SloReadings, Stage, decide};
use crate::sim::ForecastSummary;

/// One tick of a replay.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tick {
    /// When.
    pub time: Timestamp,
    /// Each metric's value at that time, `None` where history has no sample.
    pub values: Vec<Option<f64>>,
    /// Replicas before the decision.
    pub current: i32,
    /// Replicas after it (what runs until the next tick).
    pub replicas: i32,
}

/// A tick at which the replica count changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleEvent {
    /// When.
    pub time: Timestamp,
    /// Replicas before.
    pub from: i32,
    /// Replicas after.
    pub to: i32,
    /// The verdict in words.
    pub reason: String,
}

/// A whole replay and its totals.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Replay {
    /// Every tick, oldest first.
    pub ticks: Vec<Tick>,
    /// Every change of the replica count.
    pub events: Vec<ScaleEvent>,
    /// Replica-hours over the replay.
    pub pod_hours: f64,
    /// `pod_hours * costPerPodPerHour`, when the spec sets a cost.
    pub cost: Option<f64>,
    /// Minutes spent at maxReplicas.
    pub minutes_at_max: f64,
    /// Fewest and most replicas.
    pub replica_range: (i32, i32),
    /// Ticks at which some metric had no sample.
    pub ticks_missing_data: usize,
    /// For a scaler that forecasts: the hours of history its forecaster started from, and what
    /// the forecast did over the replay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast: Option<ReplayForecast>,
}

/// What the forecast stage knew at the start of a replay and did over it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayForecast {
    /// Hours of demand in the history the replay started from (a backfill from the backend).
    pub history_hours: f64,
    /// The forecast stage's decisions over the replay.
    #[serde(flatten)]
    pub summary: ForecastSummary,
}

/// The slo policy's signals over the replay, aligned with the ticks; `None` where not configured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SloSeries {
    /// Latency in milliseconds.
    pub latency_ms: Option<Vec<Option<f64>>>,
    /// Error rate as a fraction.
    pub error_rate: Option<Vec<Option<f64>>>,
}

fn sample(series: &[Option<f64>], i: usize) -> Reading {
    series.get(i).copied().flatten().ok_or_else(|| NO_SAMPLE.to_string())
}

/// What a tick without a sample reads as: an error, as the daemon would see a failed read.
pub const NO_SAMPLE: &str = "no sample in history at this time";

/// Step `decide` over `times`, metric `i` reading `series[i][tick]` (`None`: no sample, an error
/// as the daemon would see it), starting from `replicas` and `history`. `paused` and `dryRun` are
/// ignored: a replay shows what scaling would have done. Each tick lasts until the next one; the
/// last lasts `step`.
pub fn replay(
    spec: &GeneralScalerSpec,
    replicas: i32,
    history: History,
    times: &[Timestamp],
    series: &[Vec<Option<f64>>],
    slo_series: &SloSeries,
    step: SignedDuration,
) -> Replay {
    let mut spec = spec.clone();
    spec.paused = false;
    spec.dry_run = false;
    let cost_per_hour = spec.policy.cost_aware.as_ref().map(|c| c.cost_per_pod_per_hour);
    let mut forecast = spec.forecast_enabled().map(|_| ReplayForecast {
        history_hours: history.forecast.as_ref().map_or(0.0, |f| f.hours()),
        summary: ForecastSummary::default(),
    });
    let mut history = history;
    let mut current = replicas;
    let mut ticks = Vec::with_capacity(times.len());
    let mut events = Vec::new();
    let mut readings: Vec<Reading> = Vec::with_capacity(series.len());
    let no_details = vec![None; series.len()];
    let (mut pod_hours, mut minutes_at_max, mut missing) = (0.0, 0.0, 0);
    let (mut lo, mut hi) = (replicas, replicas);
    for (i, &now) in times.iter().enumerate() {
        readings.clear();
        readings.extend(series.iter().map(|s| sample(s, i)));
        let slo = SloReadings {
            latency_ms: slo_series.latency_ms.as_ref().map(|s| sample(s, i)),
            error_rate: slo_series.error_rate.as_ref().map(|s| sample(s, i)),
        };
        if readings.iter().any(Result::is_err) {
            missing += 1;
        }
        // With a formula, the engine decides from its result as the one metric.
        let view = spec.decision_view(&readings, &no_details);
        let decision = decide(&Input {
            spec: &view.spec,
            current_replicas: current,
            ready_replicas: None,
            readings: &view.readings,
            slo: &slo,
            history: &history,
            now,
        });
        if let (Some(f), Some(&first)) = (&mut forecast, times.first()) {
            let step = decision.step(Stage::Forecast);
            f.summary.count(now.duration_since(first), &step.why, step.output > step.input);
        }
        let before = current;
        if decision.apply {
            events.push(ScaleEvent {
                time: now,
                from: current,
                to: decision.desired,
                reason: decision.verdict(&view.spec),
            });
            current = decision.desired;
        }
        history = decision.history;
        let until = times.get(i + 1).copied().unwrap_or_else(|| now + step);
        let hours = until.duration_since(now).as_secs_f64() / 3600.0;
        pod_hours += f64::from(current) * hours;
        if current >= spec.max_replicas {
            minutes_at_max += hours * 60.0;
        }
        lo = lo.min(current);
        hi = hi.max(current);
        ticks.push(Tick {
            time: now,
            values: series.iter().map(|s| s.get(i).copied().flatten()).collect(),
            current: before,
            replicas: current,
        });
    }
    Replay {
        ticks,
        events,
        pod_hours,
        cost: cost_per_hour.map(|c| c * pod_hours),
        minutes_at_max,
        replica_range: (lo, hi),
        ticks_missing_data: missing,
        forecast,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_equals_stepping_decide_by_hand() {
        let spec: GeneralScalerSpec = serde_json::from_value(serde_json::json!({
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
            "maxReplicas": 20,
            "metric": {"type": "prometheus", "targetValue": 10, "targetType": "AverageValue",
                       "prometheus": {"serverUrl": "http://p:9090", "query": "q"}},
            "behavior": {"scaleUp": {"maxIncrement": 3, "cooldownSeconds": 120},
                         "scaleDown": {"cooldownSeconds": 300, "stabilizationWindowSeconds": 600}},
            "dryRun": true
        }))
        .unwrap();
        let step = SignedDuration::from_mins(1);
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let times: Vec<Timestamp> = (0..120).map(|i| start + step * i).collect();
        let load: Vec<Option<f64>> =
            (0..120).map(|i| if i == 50 { None } else { Some(f64::from((i * 7) % 150)) }).collect();
        let result = replay(
            &spec,
            2,
            History::default(),
            &times,
            std::slice::from_ref(&load),
            &SloSeries::default(),
            step,
        );

        let mut by_hand = spec.clone();
        by_hand.dry_run = false;
        let (mut current, mut history, mut replicas) = (2, History::default(), Vec::new());
        for (t, v) in times.iter().zip(&load) {
            let reading = v.ok_or_else(|| "no sample".to_string());
            let d = decide(&Input {
                spec: &by_hand,
                current_replicas: current,
                ready_replicas: None,
                readings: &[reading],
                slo: &SloReadings::default(),
                history: &history,
                now: *t,
            });
            if d.apply {
                current = d.desired;
            }
            history = d.history;
            replicas.push(current);
        }
        assert_eq!(result.ticks.iter().map(|t| t.replicas).collect::<Vec<_>>(), replicas);
        assert!(result.events.len() > 3, "the series should move the count: {:?}", result.events);
        assert_eq!(result.ticks_missing_data, 1);
        let pod_hours: f64 = replicas.iter().map(|&r| f64::from(r) / 60.0).sum();
        assert!((result.pod_hours - pod_hours).abs() < 1e-9);
        assert!(result.cost.is_none());
    }
}
