//! The pure decision engine: `decide(input) -> Decision`.
//!
//! Nine stages in order (DESIGN §2, §10): metrics, policy, activation, forecast, stabilization,
//! cooldown, rate limit, bounds, paused/dryRun. Each stage is a function from a count to a count that records one
//! [`Step`]. No I/O, no clock (`now` is an argument), no async, no kube: the daemon, `plan`, the
//! simulator and the benchmarks all call this same function. The bounds of stages 3 and 7 are the
//! ones `spec.schedules` puts in force at `now` ([`schedule`]), so every caller honours them.

pub mod forecast;
mod metric;
pub mod policy;
mod report;
mod safety;
pub mod schedule;
mod why;

use jiff::Timestamp;
use serde::Serialize;

use crate::api::{GeneralScalerSpec, History};

pub use crate::reading::{Reading, SloReadings};
pub use metric::MetricOutcome;
pub use report::{DecisionReport, MetricReport, StepReport};
pub use why::{Direction, FORECAST_OFF, Why};
pub(crate) use why::{duration_text, num};

/// Everything one decision depends on.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The scaler's spec.
    pub spec: &'a GeneralScalerSpec,
    /// The target's replicas as observed.
    pub current_replicas: i32,
    /// Of those, the ones ready to serve, when known. A per-pod (Value) metric is the average over
    /// serving pods, so scale-ups count only these: pods still starting are not counted twice.
    pub ready_replicas: Option<i32>,
    /// One reading per metric of `spec.metrics()`, in the same order.
    pub readings: &'a [Reading],
    /// The slo policy's readings.
    pub slo: &'a SloReadings,
    /// The memory carried in status.
    pub history: &'a History,
    /// The time of the decision.
    pub now: Timestamp,
}

/// The stages of a decision, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    /// Each metric to a count; several: the highest; failures and fallback.
    Metrics,
    /// proportional, slo or costAware.
    Policy,
    /// Scale to and from zero.
    Activation,
    /// Capacity ahead of the predicted demand (spec.forecast).
    Forecast,
    /// Stabilization windows.
    Stabilization,
    /// Cooldowns.
    Cooldown,
    /// Step limits.
    RateLimit,
    /// minReplicas and maxReplicas.
    Bounds,
    /// paused and dryRun.
    Apply,
}

impl Stage {
    /// Every stage in order.
    pub const ALL: [Stage; 9] = [
        Self::Metrics,
        Self::Policy,
        Self::Activation,
        Self::Forecast,
        Self::Stabilization,
        Self::Cooldown,
        Self::RateLimit,
        Self::Bounds,
        Self::Apply,
    ];

    /// The stage's name as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Metrics => "metrics",
            Self::Policy => "policy",
            Self::Activation => "activation",
            Self::Forecast => "forecast",
            Self::Stabilization => "stabilization",
            Self::Cooldown => "cooldown",
            Self::RateLimit => "rate limit",
            Self::Bounds => "bounds",
            Self::Apply => "apply",
        }
    }
}

/// One stage's effect: the count in, the count out, and why.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// Which stage.
    pub stage: Stage,
    /// The count the stage received.
    pub input: i32,
    /// The count the stage produced.
    pub output: i32,
    /// Why, as data; [`Why::describe`] puts it in words.
    pub why: Why,
}

/// Conditions the daemon reports, raised by a decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Flags {
    /// Metrics that failed this time.
    pub failed_metrics: u32,
    /// Every metric failed `failureThreshold` times in a row.
    pub fallback_active: bool,
    /// The costAware budget cannot afford more than minReplicas.
    pub budget_exceeded: bool,
    /// An slo policy has no latency or error-rate query, so it acts as proportional.
    pub slo_unconfigured: bool,
    /// A rail (cooldown, window, limit, bound) held the count away from what the metrics asked.
    pub limited: bool,
}

/// The outcome of one decision.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The target's replicas as observed.
    pub current: i32,
    /// The count all stages arrived at.
    pub desired: i32,
    /// Whether the target should be scaled now (false when held, paused or dry-run).
    pub apply: bool,
    /// Every stage, in order.
    pub steps: Vec<Step>,
    /// Each metric's reading and count.
    pub metrics: Vec<MetricOutcome>,
    /// The memory to persist.
    pub history: History,
    /// Conditions to report.
    pub flags: Flags,
}

impl Decision {
    /// The step of one stage.
    pub fn step(&self, stage: Stage) -> &Step {
        // Every decision records all stages in order, so the index is the stage's position.
        &self.steps[stage as usize]
    }
}

/// Bring every time of `history` that lies after `now` back to `now`. Times come from status,
/// written by whichever daemon held the lease, and clocks disagree (or step back): a cooldown or a
/// window must never stretch by the skew, nor a recommendation from the future stay in a window
/// forever, nor spend stop accruing until another clock's "now".
fn clamp_to(history: &mut History, now: Timestamp) {
    for r in &mut history.recommendations {
        r.time = r.time.min(now);
    }
    for t in [&mut history.last_scale_up_time, &mut history.last_scale_down_time].into_iter().flatten() {
        *t = (*t).min(now);
    }
    if let Some(spend) = &mut history.spend {
        spend.accounted_until = spend.accounted_until.min(now);
    }
}

/// Decide the replica count for one scaler. Pure and deterministic.
pub fn decide(input: &Input<'_>) -> Decision {
    let spec = input.spec;
    let current = input.current_replicas.max(0);
    let mut history = input.history.clone();
    clamp_to(&mut history, input.now);
    let mut flags = Flags::default();
    let mut steps = Vec::with_capacity(Stage::ALL.len());
    // The windows of spec.schedules open at `now` set the bounds of activation and of stage 8.
    let bounds = schedule::bounds(spec, input.now);

    // 1. metrics
    let metrics = metric::evaluate(spec, current, input.ready_replicas, input.readings);
    let stage1 = metric::combine(spec, current, &metrics, &mut history, &mut flags);
    steps.push(Step { stage: Stage::Metrics, input: current, output: stage1.count, why: stage1.why });

    // 2. policy
    let healthy = flags.failed_metrics == 0;
    let (count, why) = policy::apply(spec, current, &stage1, healthy, input, &mut history, &mut flags);
    steps.push(Step { stage: Stage::Policy, input: stage1.count, output: count, why });

    // 3. activation
    let (out, why) = safety::activation(spec, bounds.min, count, &metrics, healthy);
    steps.push(Step { stage: Stage::Activation, input: count, output: out, why });
    let count = out;

    // 4. forecast: the reactive count so far is its floor
    let (out, hold, why) =
        forecast::stage(spec, current, input.ready_replicas, input.readings, count, input.now, &mut history);
    steps.push(Step { stage: Stage::Forecast, input: count, output: out, why });
    let count = out;

    // 5. stabilization
    let (out, why) = safety::stabilize(spec, current, count, input.now, hold, &mut history);
    steps.push(Step { stage: Stage::Stabilization, input: count, output: out, why });
    let count = out;

    // 6. cooldown
    let (out, why) = safety::cooldown(spec, current, count, input.now, hold.is_some(), &history);
    steps.push(Step { stage: Stage::Cooldown, input: count, output: out, why });
    let count = out;

    // 7. rate limit
    let (out, why) = safety::rate_limit(spec, current, count);
    steps.push(Step { stage: Stage::RateLimit, input: count, output: out, why });
    let count = out;

    // 8. bounds
    let (out, why) = safety::bounds(&bounds, count);
    steps.push(Step { stage: Stage::Bounds, input: count, output: out, why });
    let desired = out;

    // 9. paused / dryRun
    let change = desired != current;
    let why = if spec.paused {
        Why::Paused { change }
    } else if spec.dry_run {
        Why::DryRun { change }
    } else if change {
        Why::Scale { direction: Direction::of(current, desired) }
    } else {
        Why::NoChange
    };
    let apply = change && !spec.paused && !spec.dry_run;
    steps.push(Step { stage: Stage::Apply, input: desired, output: desired, why });

    if apply {
        if desired > current {
            history.last_scale_up_time = Some(input.now);
        } else {
            history.last_scale_down_time = Some(input.now);
        }
    }
    let rails = Stage::Stabilization as usize..=Stage::Bounds as usize;
    flags.limited = steps[rails].iter().any(|s| s.input != s.output || s.why.is_hold());

    Decision { current, desired, apply, steps, metrics, history, flags }
}

#[cfg(test)]
mod tests;
