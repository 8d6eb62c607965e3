//! Per-scaler series (labels `namespace`, `name`): what each metric read against its target, the
//! replicas current, desired and forecast, the stage that bound the decision, fetch latency and
//! errors by reason, failures in a row, fallback, paused, budget and readiness.
//!
//! Cardinality stays bounded: every label set a scaler created is remembered, and removed when the
//! scaler is deleted, when a metric or a reason goes away, and when this daemon stops leading.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::api::GeneralScaler;
use crate::controller::ScalerKey;
use crate::controller::reconcile::Observation;
use crate::controller::status::{self, Outcome};
use crate::decision::forecast::ForecastVerdict;
use crate::decision::{Decision, Stage, Why};

/// A scaler.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScalerLabels {
    namespace: String,
    name: String,
}

/// One metric of a scaler.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MetricLabels {
    namespace: String,
    name: String,
    metric: String,
}

/// One metric of a scaler, and why a reading failed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    namespace: String,
    name: String,
    metric: String,
    reason: String,
}

/// A scaler, and the stage that bound its decision.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    namespace: String,
    name: String,
    stage: String,
}

/// A scaler, and its Ready condition's reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    namespace: String,
    name: String,
    reason: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// What one reconcile of a scaler is recorded from.
pub struct ScalerView<'a> {
    /// The scaler as reconciled.
    pub scaler: &'a GeneralScaler,
    /// What was read; `None` when the scaler did not read (another autoscaler owns its target).
    pub observation: Option<&'a Observation>,
    /// What the reconcile came to.
    pub outcome: &'a Outcome,
}

/// The label sets one scaler has created, so that they can all be removed.
#[derive(Default)]
struct Created {
    metrics: HashSet<String>,
    errors: HashSet<(String, String)>,
    stage: Option<String>,
    ready: Option<String>,
}

/// The per-scaler families.
pub struct Scalers {
    current: Family<ScalerLabels, Gauge>,
    desired: Family<ScalerLabels, Gauge>,
    forecast: Family<ScalerLabels, Gauge>,
    min: Family<ScalerLabels, Gauge>,
    max: Family<ScalerLabels, Gauge>,
    fallback: Family<ScalerLabels, Gauge>,
    paused: Family<ScalerLabels, Gauge>,
    budget: Family<ScalerLabels, Gauge>,
    failures: Family<ScalerLabels, Gauge>,
    ready: Family<ReasonLabels, Gauge>,
    stage: Family<StageLabels, Gauge>,
    value: Family<MetricLabels, FloatGauge>,
    target: Family<MetricLabels, FloatGauge>,
    latency: Family<MetricLabels, FloatGauge>,
    errors: Family<ErrorLabels, Counter>,
    created: Mutex<HashMap<ScalerKey, Created>>,
}

impl Scalers {
    /// Register every per-scaler family in `registry`.
    pub(super) fn register(registry: &mut Registry) -> Self {
        let scalers = Self {
            current: Family::default(),
            desired: Family::default(),
            forecast: Family::default(),
            min: Family::default(),
            max: Family::default(),
            fallback: Family::default(),
            paused: Family::default(),
            budget: Family::default(),
            failures: Family::default(),
            ready: Family::default(),
            stage: Family::default(),
            value: Family::default(),
            target: Family::default(),
            latency: Family::default(),
            errors: Family::default(),
            created: Mutex::default(),
        };
        let s = &scalers;
        let gauges = [
            ("gscale_scaler_current_replicas", "The target's replicas as last observed", &s.current),
            ("gscale_scaler_desired_replicas", "The replicas the last decision asked for", &s.desired),
            (
                "gscale_scaler_forecast_replicas",
                "The replicas the forecast asked for at the last decision (forecasting scalers)",
                &s.forecast,
            ),
            ("gscale_scaler_min_replicas", "The minimum in force (minReplicas or a schedule's)", &s.min),
            ("gscale_scaler_max_replicas", "The maximum in force (maxReplicas or a schedule's)", &s.max),
            (
                "gscale_scaler_fallback_active",
                "1 while every metric keeps failing and the fallback applies",
                &s.fallback,
            ),
            ("gscale_scaler_paused", "1 while spec.paused: decisions are computed, never applied", &s.paused),
            (
                "gscale_scaler_budget_exceeded",
                "1 while the costAware budget affords no more than minReplicas",
                &s.budget,
            ),
            (
                "gscale_scaler_metric_failures",
                "Decisions in a row whose every metric failed (status is written when they start and at the fallback, not at each)",
                &s.failures,
            ),
        ];
        for (name, help, family) in gauges {
            registry.register(name, help, family.clone());
        }
        registry.register(
            "gscale_scaler_ready",
            "The Ready condition (1 True, 0 False), its reason as the label word",
            s.ready.clone(),
        );
        registry.register(
            "gscale_scaler_binding_stage",
            "1 for the stage that set the last decision's count (the last to change it; metrics if none did)",
            s.stage.clone(),
        );
        let per_metric = [
            ("gscale_scaler_metric_value", "The value each metric read last", &s.value),
            ("gscale_scaler_metric_target", "Each metric's targetValue", &s.target),
            ("gscale_scaler_metric_latency_seconds", "How long each metric's last reading took", &s.latency),
        ];
        for (name, help, family) in per_metric {
            registry.register(name, help, family.clone());
        }
        registry.register(
            "gscale_scaler_metric_errors",
            "Readings of each metric that failed, by reason",
            s.errors.clone(),
        );
        scalers
    }

    /// Record one reconcile of the scaler `key`.
    pub fn record(&self, key: &ScalerKey, view: &ScalerView<'_>) {
        let labels = ScalerLabels { namespace: key.0.clone(), name: key.1.clone() };
        let mut created = self.created.lock().expect("a poisoned lock means a panic elsewhere");
        let created = created.entry(key.clone()).or_default();
        let spec = &view.scaler.spec;
        self.paused.get_or_create(&labels).set(i64::from(spec.paused));
        let (ready, reason) = status::ready(spec, view.outcome);
        let reason_labels =
            |word: &str| ReasonLabels { namespace: key.0.clone(), name: key.1.clone(), reason: word.into() };
        replace(&self.ready, &mut created.ready, &reason_labels, reason, i64::from(ready));
        if let Some(observation) = view.observation {
            self.record_metrics(key, spec, observation, created);
        }
        let Outcome::Decided { decision, .. } = view.outcome else { return };
        self.current.get_or_create(&labels).set(i64::from(decision.current));
        self.desired.get_or_create(&labels).set(i64::from(decision.desired));
        self.fallback.get_or_create(&labels).set(i64::from(decision.flags.fallback_active));
        self.budget.get_or_create(&labels).set(i64::from(decision.flags.budget_exceeded));
        self.failures.get_or_create(&labels).set(i64::from(decision.history.consecutive_failures));
        let (min, max) = bounds(decision, spec.min_replicas, spec.max_replicas);
        self.min.get_or_create(&labels).set(i64::from(min));
        self.max.get_or_create(&labels).set(i64::from(max));
        match forecast_replicas(decision) {
            Some(replicas) => {
                self.forecast.get_or_create(&labels).set(i64::from(replicas));
            }
            None => {
                self.forecast.remove(&labels);
            }
        }
        let stage_labels =
            |word: &str| StageLabels { namespace: key.0.clone(), name: key.1.clone(), stage: word.into() };
        replace(&self.stage, &mut created.stage, &stage_labels, binding_stage(decision).as_str(), 1);
    }

    fn record_metrics(
        &self,
        key: &ScalerKey,
        spec: &crate::api::GeneralScalerSpec,
        observation: &Observation,
        created: &mut Created,
    ) {
        let readings = &observation.readings;
        let mut seen = HashSet::new();
        for (i, metric) in spec.metrics().iter().enumerate() {
            let name = metric.display_name().to_string();
            let labels = MetricLabels { namespace: key.0.clone(), name: key.1.clone(), metric: name.clone() };
            self.target.get_or_create(&labels).set(metric.target_value);
            match readings.metrics.get(i) {
                Some(Ok(value)) => {
                    self.value.get_or_create(&labels).set(*value);
                }
                // No data is not zero: the value series goes while the metric fails.
                _ => {
                    self.value.remove(&labels);
                }
            }
            if let Some((latency, reason)) = readings.timings.get(i) {
                self.latency.get_or_create(&labels).set(latency.as_secs_f64());
                if let Some(reason) = reason {
                    let errors = ErrorLabels {
                        namespace: key.0.clone(),
                        name: key.1.clone(),
                        metric: name.clone(),
                        reason: reason.to_string(),
                    };
                    self.errors.get_or_create(&errors).inc();
                    created.errors.insert((name.clone(), reason.to_string()));
                }
            }
            seen.insert(name);
        }
        // A metric renamed or removed from the spec takes its series with it.
        for gone in created.metrics.difference(&seen) {
            self.remove_metric(key, gone, &mut created.errors);
        }
        created.metrics = seen;
    }

    fn remove_metric(&self, key: &ScalerKey, metric: &str, errors: &mut HashSet<(String, String)>) {
        let labels =
            MetricLabels { namespace: key.0.clone(), name: key.1.clone(), metric: metric.to_string() };
        self.value.remove(&labels);
        self.target.remove(&labels);
        self.latency.remove(&labels);
        errors.retain(|(m, reason)| {
            if m != metric {
                return true;
            }
            let labels = ErrorLabels {
                namespace: key.0.clone(),
                name: key.1.clone(),
                metric: m.clone(),
                reason: reason.clone(),
            };
            self.errors.remove(&labels);
            false
        });
    }

    /// Remove every series of the scaler `key`.
    fn forget(&self, key: &ScalerKey, mut created: Created) {
        let labels = ScalerLabels { namespace: key.0.clone(), name: key.1.clone() };
        for family in [
            &self.current,
            &self.desired,
            &self.forecast,
            &self.min,
            &self.max,
            &self.fallback,
            &self.paused,
            &self.budget,
            &self.failures,
        ] {
            family.remove(&labels);
        }
        if let Some(reason) = created.ready.take() {
            self.ready.remove(&ReasonLabels { namespace: key.0.clone(), name: key.1.clone(), reason });
        }
        if let Some(stage) = created.stage.take() {
            self.stage.remove(&StageLabels { namespace: key.0.clone(), name: key.1.clone(), stage });
        }
        for metric in std::mem::take(&mut created.metrics) {
            self.remove_metric(key, &metric, &mut created.errors);
        }
    }

    /// Keep only the scalers in `live`.
    pub(super) fn retain(&self, live: &HashSet<ScalerKey>) {
        let mut created = self.created.lock().expect("a poisoned lock means a panic elsewhere");
        let gone: Vec<ScalerKey> = created.keys().filter(|key| !live.contains(*key)).cloned().collect();
        for key in gone {
            if let Some(c) = created.remove(&key) {
                self.forget(&key, c);
            }
        }
    }

    /// Remove every scaler's series (this daemon stopped leading: the leader reports them).
    pub(super) fn clear(&self) {
        self.retain(&HashSet::new());
    }

    /// How many scalers have series.
    pub fn len(&self) -> usize {
        self.created.lock().expect("a poisoned lock means a panic elsewhere").len()
    }

    /// Whether no scaler has series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Set the series of `family` for `word` to `value`, removing the one of the word this scaler had
/// before (one series a scaler, whose label says the word).
fn replace<S: Clone + std::hash::Hash + Eq>(
    family: &Family<S, Gauge>,
    before: &mut Option<String>,
    labels: &dyn Fn(&str) -> S,
    word: &str,
    value: i64,
) {
    if let Some(old) = before.as_deref().filter(|old| *old != word) {
        family.remove(&labels(old));
    }
    *before = Some(word.to_string());
    family.get_or_create(&labels(word)).set(value);
}

/// The stage that set the count: the last to change what it was handed; the metrics stage if none
/// did (the count the metrics asked for stood).
pub fn binding_stage(decision: &Decision) -> Stage {
    decision.steps.iter().rev().find(|s| s.output != s.input).map_or(Stage::Metrics, |s| s.stage)
}

/// The bounds in force at the decision, as its bounds stage saw them (a schedule's, or the spec's).
fn bounds(decision: &Decision, min: i32, max: i32) -> (i32, i32) {
    match decision.step(Stage::Bounds).why {
        Why::WithinBounds { min, max, .. } => (min, max),
        Why::RaisedToMin { min, .. } => (min, max),
        Why::CappedAtMax { max, .. } => (min, max),
        _ => (min, max),
    }
}

/// For a forecasting scaler (mode On or Observe), the count its forecast stage came to, or would
/// have with Observe: the forecast's own count where it has one, never below the reactive count it
/// was handed (the floor, which is all it gives while it warms up or stands aside).
fn forecast_replicas(decision: &Decision) -> Option<i32> {
    let step = decision.step(Stage::Forecast);
    let Why::Forecast { verdict, .. } = &step.why else { return None };
    let asked = match verdict {
        ForecastVerdict::Covered { replicas, .. }
        | ForecastVerdict::Cadence { replicas, .. }
        | ForecastVerdict::Forecast { replicas, .. } => *replicas,
        _ => step.input,
    };
    Some(asked.max(step.input))
}
