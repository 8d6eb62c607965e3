//! Replaying load through the decision engine, with no cluster: the simulator of DESIGN §7.
//!
//! A [`Trace`] becomes [`Demand`] (scaled by `scale_demand`, its time axis divided by `compress`,
//! interpolated between points or held, with optional correlated noise); the capacity [`model`] turns
//! replicas into capacity, backlog and SLO-violation time; an [`Autoscaler`] decides every sync
//! interval from what the model's metrics report through each source's [`Pipeline`] (a Prometheus
//! `rate()` lags demand, a Pub/Sub backlog is sampled and published late). Two
//! autoscalers exist: [`Gscale`], the same `decide` the daemon calls with its [`History`] carried
//! from tick to tick as the daemon persists it in status (its forecast learns the trace reading by
//! reading, so it warms up on the trace's first day), [`hpa::Hpa`], the Kubernetes HPA reference,
//! and [`Clairvoyant`], the limit no forecaster can pass. Everything here is pure computation: no clock, no I/O, no printing.

mod clairvoyant;
pub mod demand;
pub mod hpa;
pub mod model;
pub mod trace;

use jiff::Timestamp;
use serde::Serialize;

use crate::api::{GeneralScalerSpec, History, MetricSpec, MetricType, PolicyType, PubSubMode, TargetType};
use crate::decision::forecast::ForecastVerdict;
use crate::decision::{Input, Reading, SloReadings, Stage, Why, decide};

pub use clairvoyant::Clairvoyant;
pub use demand::{Demand, Noise, Pipeline, Shape, Tap};
pub use model::Model;
pub use trace::{Trace, TraceError};

/// Utilisation at which a rate metric's target sits when no capacity per pod is given: the target is
/// 80% of what a pod can serve.
pub const DEFAULT_TARGET_UTILISATION: f64 = 0.8;

/// Seconds a pod takes to clear its target backlog when no capacity per pod is given (queue metrics).
pub const DEFAULT_QUEUE_CLEAR_SECONDS: f64 = 10.0;

/// How the trace is replayed.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Units one ready pod serves per (simulated) second.
    pub capacity_per_pod: f64,
    /// Simulated milliseconds before a new pod serves.
    pub pod_start_ms: i64,
    /// Trace time per simulated time: 20 replays a 5-minute step in 15 s.
    pub compress: f64,
    /// Demand per second is the trace value times this.
    pub scale_demand: f64,
    /// How demand moves between the trace's points.
    pub shape: Shape,
    /// Noise on demand, if any.
    pub noise: Option<Noise>,
    /// How every metric reads demand; `None`: as its source does ([`Settings::pipeline_for`]).
    pub reading: Option<Pipeline>,
}

impl Settings {
    /// Settings for a spec: capacity from the first metric's target unless given.
    pub fn for_spec(spec: &GeneralScalerSpec, capacity_per_pod: Option<f64>) -> Self {
        Settings {
            capacity_per_pod: capacity_per_pod.unwrap_or_else(|| default_capacity(spec)),
            pod_start_ms: 30_000,
            compress: 1.0,
            scale_demand: 1.0,
            shape: Shape::Interpolated,
            noise: None,
            reading: None,
        }
    }

    /// The step replay: each trace point held for its step and read at once, as before demand and
    /// the reading were told apart.
    pub fn step_replay(capacity_per_pod: f64, pod_start_ms: i64, compress: f64, scale_demand: f64) -> Self {
        Settings {
            capacity_per_pod,
            pod_start_ms,
            compress,
            scale_demand,
            shape: Shape::Held,
            noise: None,
            reading: Some(Pipeline::Instant),
        }
    }

    /// The compression in force: 1 unless a positive finite factor is set.
    pub fn compression(&self) -> f64 {
        if self.compress > 0.0 && self.compress.is_finite() { self.compress } else { 1.0 }
    }

    /// How `metric` reads demand: the pipeline set, else its source's own: Prometheus a `rate()` over
    /// a minute of 15 s scrapes, Pub/Sub Cloud Monitoring's sampled backlog, the others at once. A step
    /// replay reads at once unless told otherwise (the value held is the value read).
    pub fn pipeline_for(&self, metric: &MetricSpec) -> Pipeline {
        if let Some(p) = self.reading {
            return p;
        }
        match (self.shape, metric.kind) {
            (Shape::Held, _) => Pipeline::Instant,
            (_, MetricType::Prometheus) => Pipeline::PROMETHEUS,
            (_, MetricType::Pubsub) => Pipeline::PUBSUB,
            _ => Pipeline::Instant,
        }
    }

    /// Demand for `trace` under these settings.
    pub fn demand(&self, trace: &Trace) -> Demand {
        let points: Vec<(i64, f64)> = trace.points.iter().map(|&(t, v)| (t, v * self.scale_demand)).collect();
        Demand::new(&points, trace.step_ms(), self.compression(), self.shape, self.noise)
    }
}

/// The capacity per pod assumed when none is given: a rate metric's target at 80% of a pod's
/// capacity; a queue metric's target backlog cleared by one pod in 10 s.
pub fn default_capacity(spec: &GeneralScalerSpec) -> f64 {
    match spec.metrics().first() {
        Some(m) if is_queue(m) => m.target_value / DEFAULT_QUEUE_CLEAR_SECONDS,
        Some(m) => m.target_value / DEFAULT_TARGET_UTILISATION,
        None => 1.0,
    }
}

/// Whether a metric reads a queue (Redis, Pub/Sub) rather than a rate (Prometheus, HTTP).
fn is_queue(metric: &MetricSpec) -> bool {
    matches!(metric.kind, MetricType::Redis | MetricType::Pubsub)
}

/// What an autoscaler sees at a decision: the target's replicas and its metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// Replicas of the target (serving or starting).
    pub current: i32,
    /// Replicas serving.
    pub ready: i32,
    /// One reading per metric of the spec.
    pub readings: Vec<Reading>,
    /// Latency and error rate, for the slo policy.
    pub slo: SloReadings,
}

/// Something that decides a replica count every sync interval.
pub trait Autoscaler {
    /// Milliseconds between two decisions.
    fn interval_ms(&self) -> i64;
    /// The replica count to scale to, given what is observed at `now`.
    fn decide(&mut self, now: Timestamp, observed: &Observation) -> i32;
    /// What the forecast did over the run, for a scaler that forecasts.
    fn forecast_summary(&self) -> Option<ForecastSummary> {
        None
    }
}

/// What the forecast stage did over a run: how long it learnt before it first forecast (the warm-up
/// on the first part of the trace, fed reading by reading as the daemon feeds it), and how often it
/// acted or fell back to the reactive rules afterwards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForecastSummary {
    /// Simulated hours before the first decision the forecast took part in; `None`: it never did.
    pub warmup_hours: Option<f64>,
    /// Decisions while the forecast was still learning.
    pub learning: u32,
    /// Decisions in which it forecast.
    pub forecast: u32,
    /// Of those, decisions in which the reading's cadence decided.
    pub cadence: u32,
    /// Of those, decisions in which the trend of the last minute's readings decided.
    pub trend: u32,
    /// Decisions in which it fell back to the reactive rules (error too large, no better than the
    /// reading, or the shape changed).
    pub fallback: u32,
    /// Decisions in which it raised the count above the reactive one.
    pub raised: u32,
    /// Decisions in which it capped what the scale-down window and cooldown may hold.
    pub early: u32,
}

impl ForecastSummary {
    /// Count one decision's forecast stage, `since` the run's first decision; `moved`: whether the
    /// stage raised the count.
    pub fn count(&mut self, since: jiff::SignedDuration, why: &Why, moved: bool) {
        let Why::Forecast { verdict, .. } = why else { return };
        match verdict {
            ForecastVerdict::WarmingUp { .. } => self.learning += 1,
            ForecastVerdict::Untrusted { .. }
            | ForecastVerdict::ShapeChanged { .. }
            | ForecastVerdict::NoBetter { .. }
            | ForecastVerdict::TrendNoBetter { .. }
            | ForecastVerdict::Unresolved { .. } => self.fallback += 1,
            ForecastVerdict::Forecast { hold, .. }
            | ForecastVerdict::Covered { hold, .. }
            | ForecastVerdict::Trend { hold, .. }
            | ForecastVerdict::Cadence { hold, .. } => {
                self.forecast += 1;
                self.cadence += u32::from(matches!(verdict, ForecastVerdict::Cadence { .. }));
                self.trend += u32::from(matches!(verdict, ForecastVerdict::Trend { .. }));
                self.raised += u32::from(moved);
                self.early += u32::from(hold.is_some());
                self.warmup_hours.get_or_insert(since.as_secs_f64() / 3600.0);
            }
        }
    }

    /// What the forecast did, in one sentence; `warmup` says what it knew before it first forecast
    /// ("learnt from the first 1.0 simulated hours of the trace, then").
    pub fn describe(&self, warmup: &str) -> String {
        let decisions = self.learning + self.forecast + self.fallback;
        let share = |n: u32| if decisions == 0 { 0.0 } else { f64::from(n) * 100.0 / f64::from(decisions) };
        format!(
            "{warmup} forecast in {:.0}% of decisions ({:.0}% from the reading's cadence, {:.0}% from its trend; raised the count in {}, let scale-down go early in {}), fell back to the reactive rules in {:.0}%",
            share(self.forecast),
            share(self.cadence),
            share(self.trend),
            self.raised,
            self.early,
            share(self.fallback)
        )
    }
}

/// gscale itself: [`decide`] with the status memory carried from one decision to the next.
#[derive(Clone, Debug)]
pub struct Gscale<'a> {
    spec: &'a GeneralScalerSpec,
    history: History,
    start: Option<Timestamp>,
    forecast: ForecastSummary,
}

impl<'a> Gscale<'a> {
    /// A scaler with empty history, as a newly created GeneralScaler.
    pub fn new(spec: &'a GeneralScalerSpec) -> Self {
        Gscale::with_history(spec, History::default())
    }

    /// A scaler that starts from `history`, as one whose status already holds it (a forecast
    /// history backfilled from the backend, say).
    pub fn with_history(spec: &'a GeneralScalerSpec, history: History) -> Self {
        Gscale { spec, history, start: None, forecast: ForecastSummary::default() }
    }
}

impl Autoscaler for Gscale<'_> {
    fn interval_ms(&self) -> i64 {
        i64::from(self.spec.sync_interval_seconds.max(1)) * 1000
    }

    fn decide(&mut self, now: Timestamp, observed: &Observation) -> i32 {
        let input = Input {
            spec: self.spec,
            current_replicas: observed.current,
            ready_replicas: Some(observed.ready),
            readings: &observed.readings,
            slo: &observed.slo,
            history: &self.history,
            now,
        };
        let decision = decide(&input);
        let step = decision.step(Stage::Forecast);
        let start = *self.start.get_or_insert(now);
        self.forecast.count(now.duration_since(start), &step.why, step.output > step.input);
        // The daemon persists the returned history whether or not it scales; the forecast stage has
        // recorded this reading in it, as it does for the daemon.
        self.history = decision.history;
        if decision.apply { decision.desired } else { observed.current }
    }

    fn forecast_summary(&self) -> Option<ForecastSummary> {
        self.spec.forecast_enabled().map(|_| self.forecast)
    }
}

/// The figures of one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Simulated hours replayed.
    pub hours: f64,
    /// Replicas integrated over time.
    pub pod_hours: f64,
    /// pod-hours times costPerPodPerHour, when the spec sets it.
    pub cost: Option<f64>,
    /// Minutes during which demand exceeded capacity or a backlog remained.
    pub slo_violation_minutes: f64,
    /// Decisions that changed the replica count.
    pub scale_events: u32,
    /// Highest replica count.
    pub peak_replicas: i32,
    /// pod-hours / hours.
    pub mean_replicas: f64,
    /// Units still queued at the end.
    pub final_backlog: f64,
    /// Decisions taken.
    pub decisions: u32,
    /// What the forecast did, for a scaler that forecasts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast: Option<ForecastSummary>,
}

/// The state after one decision, for the timeline and the plot.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// Simulated seconds since the start.
    pub t: f64,
    /// Demand, units per second.
    pub demand: f64,
    /// Replicas after the decision.
    pub replicas: i32,
    /// Replicas serving.
    pub ready: i32,
    /// Units queued.
    pub backlog: f64,
}

/// A run: its figures and its timeline (one sample per decision).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Run {
    /// The figures.
    pub summary: Summary,
    /// One sample per decision.
    #[serde(skip)]
    pub timeline: Vec<Sample>,
}

/// Most decisions one `gscale simulate` may take, both sides together: two years of 15 s ticks
/// against the HPA (nyc_taxi in real time takes 2.5 million). Beyond it the flags or the trace's
/// timestamps are almost certainly a mistake, and the timelines would take hundreds of MiB.
pub const MAX_DECISIONS: f64 = 8_500_000.0;

/// Simulated milliseconds a run of `trace` under `settings` covers (the last step included).
pub fn simulated_ms(trace: &Trace, settings: &Settings) -> f64 {
    let compress = settings.compression();
    let span = trace.points[trace.points.len() - 1].0 - trace.points[0].0;
    (span as f64 + trace.step_ms() as f64) / compress
}

/// The replica count both sides start from: what the first demand needs at the first metric's target.
pub fn initial_replicas(spec: &GeneralScalerSpec, settings: &Settings, first_demand: f64) -> i32 {
    let per_pod = match spec.metrics().first() {
        Some(m) if !is_queue(m) => m.target_value,
        _ => settings.capacity_per_pod,
    };
    let need = if per_pod > 0.0 { (first_demand / per_pod).ceil() } else { 1.0 };
    let min = spec.min_replicas.max(1);
    let max = spec.max_replicas.max(min);
    (need.min(f64::from(max)) as i32).clamp(min, max)
}

/// Replay `trace` through `scaler` under `settings`. The spec gives the metrics to report and the cost.
pub fn run(trace: &Trace, spec: &GeneralScalerSpec, settings: &Settings, scaler: &mut dyn Autoscaler) -> Run {
    run_demand(&settings.demand(trace), spec, settings, scaler)
}

/// Replay `demand` (built once for many runs: [`Settings::demand`]) through `scaler`.
pub fn run_demand(
    demand: &Demand,
    spec: &GeneralScalerSpec,
    settings: &Settings,
    scaler: &mut dyn Autoscaler,
) -> Run {
    let end = demand.end();
    let interval = scaler.interval_ms().max(1);
    let pipelines: Vec<Pipeline> = spec.metrics().iter().map(|m| settings.pipeline_for(m)).collect();
    let mut taps = vec![Tap::default(); pipelines.len()];

    let mut model = Model::new(settings.capacity_per_pod, initial_replicas(spec, settings, demand.at(0)));
    let mut summary = Summary { peak_replicas: model.replicas(), ..Summary::default() };
    let mut timeline = Vec::with_capacity((end / interval + 1) as usize);
    let (mut t, mut next_tick, mut cursor) = (0_i64, 0_i64, 0_usize);
    while t < end {
        let (now_demand, next_change) = demand.walk(t, &mut cursor);
        if t >= next_tick {
            let observed = observe(spec, &model, demand, &pipelines, &mut taps, t);
            let now = Timestamp::from_millisecond(demand.origin_ms().saturating_add(t))
                .unwrap_or(Timestamp::UNIX_EPOCH);
            let desired = scaler.decide(now, &observed).clamp(0, i32::MAX);
            summary.decisions += 1;
            if desired != model.replicas() {
                summary.scale_events += 1;
                model.scale_to(desired, t, settings.pod_start_ms);
                summary.peak_replicas = summary.peak_replicas.max(desired);
            }
            timeline.push(Sample {
                t: t as f64 / 1000.0,
                demand: now_demand,
                replicas: model.replicas(),
                ready: model.ready(t),
                backlog: model.backlog(),
            });
            next_tick = next_tick.saturating_add(interval);
        }
        let mut t1 = next_tick.min(next_change).min(end);
        if let Some(ready) = model.next_ready_after(t) {
            t1 = t1.min(ready);
        }
        model.advance(t, t1, now_demand);
        t = t1;
    }

    summary.hours = end as f64 / 3_600_000.0;
    summary.pod_hours = model.pod_hours();
    summary.mean_replicas = if summary.hours > 0.0 { summary.pod_hours / summary.hours } else { 0.0 };
    summary.slo_violation_minutes = model.violation_minutes();
    summary.final_backlog = model.backlog();
    summary.cost = spec.policy.cost_aware.as_ref().map(|c| summary.pod_hours * c.cost_per_pod_per_hour);
    summary.forecast = scaler.forecast_summary();
    Run { summary, timeline }
}

/// What the spec's metrics read from the model at `t`, each through its pipeline: a rate source
/// (Prometheus, HTTP) reports demand, a queue source (Redis, Pub/Sub) the backlog (or the oldest
/// item's age) as read at each decision (`taps` keep them for a pipeline that publishes late); a
/// Value metric is that per serving pod, an AverageValue metric the total.
pub fn observe(
    spec: &GeneralScalerSpec,
    model: &Model,
    demand: &Demand,
    pipelines: &[Pipeline],
    taps: &mut [Tap],
    t: i64,
) -> Observation {
    let current = model.replicas();
    let ready = model.ready(t);
    let capacity = model.capacity(t);
    let backlog = model.backlog();
    let readings = spec
        .metrics()
        .iter()
        .zip(pipelines.iter().zip(taps.iter_mut()))
        .map(|(m, (pipeline, tap))| {
            let total = match (m.kind, m.pubsub.as_ref().map(|p| p.mode)) {
                (MetricType::Pubsub, Some(PubSubMode::OldestUnackedAge)) => {
                    let age =
                        if backlog > 0.0 { backlog / capacity.max(model.capacity_per_pod()) } else { 0.0 };
                    tap.read(pipeline, t, age)
                }
                _ if is_queue(m) => tap.read(pipeline, t, backlog),
                _ => pipeline.read(demand, t),
            };
            match m.effective_target_type() {
                TargetType::AverageValue => Ok(total),
                TargetType::Value | TargetType::Utilization if ready > 0 => Ok(total / f64::from(ready)),
                // At zero replicas the engine reads a per-pod value as one pod's worth.
                TargetType::Value | TargetType::Utilization if current == 0 => Ok(total),
                TargetType::Value | TargetType::Utilization => {
                    Err("no serving pod reports the metric yet".to_string())
                }
            }
        })
        .collect();
    Observation { current, ready, readings, slo: slo_readings(spec, model, demand.at(t), t) }
}

/// The slo policy's signals from the model: latency is the M/M/1 response time of one pod at its
/// share of the demand plus the time to clear the backlog; the error rate is the share of demand
/// above capacity. Only the objectives the spec sets are reported.
fn slo_readings(spec: &GeneralScalerSpec, model: &Model, demand: f64, t: i64) -> SloReadings {
    let Some(slo) = spec.policy.slo.as_ref().filter(|_| spec.policy.kind == PolicyType::Slo) else {
        return SloReadings::default();
    };
    let capacity = model.capacity(t);
    let latency = slo.target_latency_ms.map(|_| {
        if capacity <= 0.0 {
            return Err("no serving pod".to_string());
        }
        let service_ms = 1000.0 / model.capacity_per_pod();
        let utilisation = (demand / capacity).min(0.95);
        Ok(service_ms / (1.0 - utilisation) + model.backlog() / capacity * 1000.0)
    });
    let error_rate = slo
        .target_error_rate
        .map(|_| Ok(if demand > capacity && demand > 0.0 { (demand - capacity) / demand } else { 0.0 }));
    SloReadings { latency_ms: latency, error_rate }
}

#[cfg(test)]
mod tests;
