//! The reference: the Kubernetes HorizontalPodAutoscaler algorithm (autoscaling/v2) as documented on
//! kubernetes.io and implemented in the controller's `reconcileAutoscaler`.
//!
//! Every 15 s: each metric gives `ceil(ratio * readyPods)` (Value, `Object`/`External` value
//! targets) or `ceil(total / averageValue)` (AverageValue), or the current count while the ratio is
//! within the 0.1 tolerance; the highest wins. Missing data is handled conservatively: all metrics
//! missing, or some missing while the others ask for fewer pods, means no scaling and no
//! recommendation. Then the behavior: the recommendation is stabilized (scale-down takes the highest
//! recommendation of the last 300 s, the window starting with the current count), and rate-limited
//! by the scaling policies over their periods (default: up by max(4 pods, 100%) per 15 s, down by
//! 100% per 15 s), and clamped to [minReplicas, maxReplicas]. Only the algorithm lives here; the
//! simulator drives it.

use jiff::Timestamp;

use crate::api::{GeneralScalerSpec, TargetType};

use super::{Autoscaler, Observation};

/// The controller's `--horizontal-pod-autoscaler-sync-period` default.
pub const SYNC_PERIOD_SECONDS: i64 = 15;

/// The controller's `--horizontal-pod-autoscaler-tolerance` default.
pub const TOLERANCE: f64 = 0.1;

/// How a scaling policy counts its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    /// A number of pods per period.
    Pods,
    /// A percentage of the count at the start of the period.
    Percent,
}

/// One `HPAScalingPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Pods or Percent.
    pub kind: PolicyKind,
    /// How many pods, or what percentage.
    pub value: i32,
    /// The period the limit applies over.
    pub period_seconds: i64,
}

/// Which policy wins when there are several (`selectPolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Select {
    /// The policy allowing the largest change (the default).
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// One direction's `HPAScalingRules`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    /// `stabilizationWindowSeconds`.
    pub stabilization_window_seconds: i64,
    /// `policies`.
    pub policies: Vec<Policy>,
    /// `selectPolicy`.
    pub select: Select,
}

/// `spec.behavior`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Behavior {
    /// Scale-up rules.
    pub scale_up: Rules,
    /// Scale-down rules.
    pub scale_down: Rules,
}

impl Default for Behavior {
    /// The documented defaults: down 100% per 15 s after a 300 s window; up max(100%, 4 pods) per 15 s.
    fn default() -> Self {
        Behavior {
            scale_up: Rules {
                stabilization_window_seconds: 0,
                policies: vec![
                    Policy { kind: PolicyKind::Percent, value: 100, period_seconds: 15 },
                    Policy { kind: PolicyKind::Pods, value: 4, period_seconds: 15 },
                ],
                select: Select::Max,
            },
            scale_down: Rules {
                stabilization_window_seconds: 300,
                policies: vec![Policy { kind: PolicyKind::Percent, value: 100, period_seconds: 15 }],
                select: Select::Max,
            },
        }
    }
}

/// One metric as the HPA sees it: a target and how to read it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metric {
    /// The target value (Value) or average value per pod (AverageValue).
    pub target: f64,
    /// Value or AverageValue.
    pub target_type: TargetType,
}

/// A HorizontalPodAutoscaler and the controller's memory of it.
#[derive(Clone, Debug)]
pub struct Hpa {
    /// `minReplicas` (at least 1: scale to zero is an alpha feature gate).
    pub min_replicas: i32,
    /// `maxReplicas`.
    pub max_replicas: i32,
    /// The metrics.
    pub metrics: Vec<Metric>,
    /// The tolerance.
    pub tolerance: f64,
    /// The behavior.
    pub behavior: Behavior,
    recommendations: Vec<(i64, i32)>,
    up_events: Vec<(i64, i32)>,
    down_events: Vec<(i64, i32)>,
}

impl Hpa {
    /// An HPA with default behavior and tolerance.
    pub fn new(min_replicas: i32, max_replicas: i32, metrics: Vec<Metric>) -> Self {
        let min_replicas = min_replicas.max(1);
        Hpa {
            min_replicas,
            max_replicas: max_replicas.max(min_replicas),
            metrics,
            tolerance: TOLERANCE,
            behavior: Behavior::default(),
            recommendations: Vec::new(),
            up_events: Vec::new(),
            down_events: Vec::new(),
        }
    }

    /// The HPA a user would write for this scaler: same bounds, metrics and targets, HPA defaults.
    pub fn from_spec(spec: &GeneralScalerSpec) -> Self {
        let metrics = spec
            .metrics()
            .iter()
            .map(|m| Metric { target: m.target_value, target_type: m.effective_target_type() })
            .collect();
        Hpa::new(spec.min_replicas, spec.max_replicas, metrics)
    }

    /// One metric's proposal (`GetObjectMetricReplicas` / `GetExternalPerPodMetricReplicas`).
    fn proposal(&self, metric: &Metric, value: f64, current: i32, ready: i32) -> i32 {
        match metric.target_type {
            TargetType::Value | TargetType::Utilization => {
                let ratio = value / metric.target;
                if current == 0 {
                    ceil(ratio)
                } else if (1.0 - ratio).abs() <= self.tolerance {
                    current
                } else {
                    ceil(ratio * f64::from(ready))
                }
            }
            TargetType::AverageValue => {
                let ratio = value / (metric.target * f64::from(current.max(1)));
                if current > 0 && (1.0 - ratio).abs() <= self.tolerance {
                    current
                } else {
                    ceil(value / metric.target)
                }
            }
        }
    }

    /// `computeReplicasForMetrics`: the highest proposal, or `None` when the HPA would not scale.
    pub fn metric_replicas(&self, observed: &Observation) -> Option<i32> {
        let mut best: Option<i32> = None;
        let mut invalid = 0;
        for (metric, reading) in self.metrics.iter().zip(&observed.readings) {
            match reading {
                Ok(v) if v.is_finite() && *v >= 0.0 && metric.target > 0.0 => {
                    let p = self.proposal(metric, *v, observed.current, observed.ready);
                    best = Some(best.map_or(p, |b| b.max(p)));
                }
                _ => invalid += 1,
            }
        }
        invalid += self.metrics.len().saturating_sub(observed.readings.len());
        match best {
            None => None,
            Some(b) if invalid > 0 && b < observed.current => None,
            Some(b) => Some(b),
        }
    }

    /// One sync of the controller at `now_ms`: the count it scales to.
    pub fn reconcile(&mut self, now_ms: i64, observed: &Observation) -> i32 {
        let current = observed.current;
        // Autoscaling is disabled while the target is at zero and minReplicas is not.
        if current == 0 {
            return 0;
        }
        let desired = if current > self.max_replicas {
            self.max_replicas
        } else if current < self.min_replicas {
            self.min_replicas
        } else {
            let Some(proposed) = self.metric_replicas(observed) else {
                return current;
            };
            if self.recommendations.is_empty() {
                // maybeInitScaleDownStabilizationWindow: a new HPA does not scale down at once.
                self.recommendations.push((now_ms, current));
            }
            let stabilized = self.stabilize(now_ms, current, proposed);
            self.rate_limit(now_ms, current, stabilized)
        };
        if desired > current {
            self.up_events.push((now_ms, desired - current));
        } else if desired < current {
            self.down_events.push((now_ms, current - desired));
        }
        let longest = |r: &Rules| r.policies.iter().map(|p| p.period_seconds).max().unwrap_or(0) * 1000;
        let (up_keep, down_keep) = (longest(&self.behavior.scale_up), longest(&self.behavior.scale_down));
        self.up_events.retain(|e| now_ms - e.0 <= up_keep);
        self.down_events.retain(|e| now_ms - e.0 <= down_keep);
        desired
    }

    /// `stabilizeRecommendationWithBehaviors`.
    fn stabilize(&mut self, now_ms: i64, current: i32, proposed: i32) -> i32 {
        let up_cutoff = now_ms - self.behavior.scale_up.stabilization_window_seconds * 1000;
        let down_cutoff = now_ms - self.behavior.scale_down.stabilization_window_seconds * 1000;
        let (mut up, mut down) = (proposed, proposed);
        for &(t, r) in &self.recommendations {
            if t > up_cutoff {
                up = up.min(r);
            }
            if t > down_cutoff {
                down = down.max(r);
            }
        }
        let keep_after = up_cutoff.min(down_cutoff);
        self.recommendations.retain(|&(t, _)| t >= keep_after);
        self.recommendations.push((now_ms, proposed));
        current.max(up).min(down)
    }

    /// `convertDesiredReplicasWithBehaviorRate`, which also applies the bounds.
    fn rate_limit(&self, now_ms: i64, current: i32, desired: i32) -> i32 {
        if desired > current {
            let limit = self.scale_up_limit(now_ms, current).max(current);
            desired.min(limit.min(self.max_replicas))
        } else if desired < current {
            let limit = self.scale_down_limit(now_ms, current).min(current);
            desired.max(limit.max(self.min_replicas))
        } else {
            desired
        }
    }

    fn changed_within(events: &[(i64, i32)], now_ms: i64, period_seconds: i64) -> i32 {
        let cutoff = now_ms - period_seconds * 1000;
        events.iter().filter(|e| e.0 > cutoff).map(|e| e.1).sum()
    }

    /// `calculateScaleUpLimitWithScalingRules`.
    fn scale_up_limit(&self, now_ms: i64, current: i32) -> i32 {
        let rules = &self.behavior.scale_up;
        let pick: fn(i32, i32) -> i32 = match rules.select {
            Select::Disabled => return current,
            Select::Max => i32::max,
            Select::Min => i32::min,
        };
        let mut result = if rules.select == Select::Max { i32::MIN } else { i32::MAX };
        for p in &rules.policies {
            let start = current - Self::changed_within(&self.up_events, now_ms, p.period_seconds)
                + Self::changed_within(&self.down_events, now_ms, p.period_seconds);
            let proposed = match p.kind {
                PolicyKind::Pods => start.saturating_add(p.value),
                PolicyKind::Percent => ceil(f64::from(start) * (1.0 + f64::from(p.value) / 100.0)),
            };
            result = pick(result, proposed);
        }
        result
    }

    /// `calculateScaleDownLimitWithBehaviors`.
    fn scale_down_limit(&self, now_ms: i64, current: i32) -> i32 {
        let rules = &self.behavior.scale_down;
        // For scale-down, the largest change is the lowest limit.
        let pick: fn(i32, i32) -> i32 = match rules.select {
            Select::Disabled => return current,
            Select::Max => i32::min,
            Select::Min => i32::max,
        };
        let mut result = if rules.select == Select::Max { i32::MAX } else { i32::MIN };
        for p in &rules.policies {
            let start = current - Self::changed_within(&self.up_events, now_ms, p.period_seconds)
                + Self::changed_within(&self.down_events, now_ms, p.period_seconds);
            let proposed = match p.kind {
                PolicyKind::Pods => start - p.value,
                PolicyKind::Percent => (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32,
            };
            result = pick(result, proposed);
        }
        result
    }
}

impl Autoscaler for Hpa {
    fn interval_ms(&self) -> i64 {
        SYNC_PERIOD_SECONDS * 1000
    }

    fn decide(&mut self, now: Timestamp, observed: &Observation) -> i32 {
        self.reconcile(now.as_millisecond(), observed)
    }
}

/// `math.Ceil` into a replica count, forgiving float noise.
fn ceil(x: f64) -> i32 {
    if x.is_nan() || x <= 0.0 { 0 } else { (x - 1e-9).ceil().min(f64::from(i32::MAX)) as i32 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::SloReadings;

    fn observed(current: i32, value: f64) -> Observation {
        Observation { current, ready: current, readings: vec![Ok(value)], slo: SloReadings::default() }
    }

    fn value_hpa(min: i32, max: i32, target: f64) -> Hpa {
        Hpa::new(min, max, vec![Metric { target, target_type: TargetType::Value }])
    }

    // kubernetes.io, "Algorithm details": current 200m against 100m doubles the replicas, 50m halves
    // them, and a ratio within the 0.1 tolerance changes nothing.
    #[test]
    fn documented_ratio_examples() {
        let hpa = value_hpa(1, 100, 100.0);
        assert_eq!(hpa.metric_replicas(&observed(4, 200.0)), Some(8));
        assert_eq!(hpa.metric_replicas(&observed(4, 50.0)), Some(2));
        assert_eq!(hpa.metric_replicas(&observed(4, 109.0)), Some(4));
        assert_eq!(hpa.metric_replicas(&observed(4, 91.0)), Some(4));
        assert_eq!(hpa.metric_replicas(&observed(4, 111.0)), Some(5));
        // The configurable-tolerance example (kubernetes.io blog, v1.33): 50 replicas at 90 against 75 -> 60.
        let hpa = value_hpa(1, 100, 75.0);
        assert_eq!(hpa.metric_replicas(&observed(50, 90.0)), Some(60));
    }

    // External metric with an averageValue target: desired = ceil(total / averageValue).
    #[test]
    fn average_value_rule() {
        let hpa = Hpa::new(1, 100, vec![Metric { target: 30.0, target_type: TargetType::AverageValue }]);
        assert_eq!(hpa.metric_replicas(&observed(2, 300.0)), Some(10));
        // 62 / (30 * 2) = 1.03: within tolerance.
        assert_eq!(hpa.metric_replicas(&observed(2, 62.0)), Some(2));
    }

    // Not-yet-ready pods do not count for a Value target: the ratio applies to ready pods.
    #[test]
    fn value_rule_counts_ready_pods() {
        let hpa = value_hpa(1, 100, 100.0);
        let o = Observation { current: 10, ready: 5, readings: vec![Ok(200.0)], slo: SloReadings::default() };
        assert_eq!(hpa.metric_replicas(&o), Some(10));
    }

    // Several metrics: the highest wins; a missing one blocks scale-down but not scale-up; all
    // missing: no scaling.
    #[test]
    fn missing_metrics_are_conservative() {
        let mut hpa = value_hpa(1, 100, 100.0);
        hpa.metrics.push(Metric { target: 10.0, target_type: TargetType::AverageValue });
        let both = |a: Reading, b: Reading| Observation {
            current: 4,
            ready: 4,
            readings: vec![a, b],
            slo: SloReadings::default(),
        };
        type Reading = crate::decision::Reading;
        assert_eq!(hpa.metric_replicas(&both(Ok(200.0), Ok(100.0))), Some(10));
        assert_eq!(hpa.metric_replicas(&both(Ok(200.0), Err("down".into()))), Some(8));
        assert_eq!(hpa.metric_replicas(&both(Ok(50.0), Err("down".into()))), None);
        assert_eq!(hpa.metric_replicas(&both(Err("a".into()), Err("b".into()))), None);
        let mut hpa = value_hpa(1, 100, 100.0);
        assert_eq!(hpa.reconcile(0, &observed(4, 100.0)), 4);
        let o = Observation {
            current: 4,
            ready: 4,
            readings: vec![Err("gone".into())],
            slo: SloReadings::default(),
        };
        assert_eq!(hpa.reconcile(15_000, &o), 4);
    }

    // Default scale-up: max(4 pods, 100%) per 15 s.
    #[test]
    fn default_scale_up_limit() {
        let mut hpa = value_hpa(1, 1000, 100.0);
        assert_eq!(hpa.reconcile(0, &observed(1, 10_000.0)), 5);
        assert_eq!(hpa.reconcile(15_000, &observed(5, 10_000.0)), 10);
        assert_eq!(hpa.reconcile(30_000, &observed(10, 10_000.0)), 20);
        let mut hpa = value_hpa(1, 1000, 100.0);
        // Two syncs inside one 15 s period share the limit.
        assert_eq!(hpa.reconcile(0, &observed(10, 1_000.0)), 20);
        assert_eq!(hpa.reconcile(5_000, &observed(20, 1_000.0)), 20);
        assert_eq!(hpa.reconcile(15_000, &observed(20, 1_000.0)), 40);
    }

    // Default scale-down: the highest recommendation of the last 300 s, which starts with the
    // current count, then 100% per 15 s, never below minReplicas.
    #[test]
    fn default_scale_down_waits_for_the_window() {
        let mut hpa = value_hpa(2, 100, 100.0);
        let mut t = 0;
        assert_eq!(hpa.reconcile(t, &observed(10, 10.0)), 10);
        while t < 300_000 {
            t += 15_000;
            let got = hpa.reconcile(t, &observed(10, 10.0));
            if t < 300_000 {
                assert_eq!(got, 10, "at {t} ms");
            } else {
                assert_eq!(got, 2, "at {t} ms");
            }
        }
    }

    // kubernetes.io, "Scaling policies": with Pods 4 / 60 s and Percent 10 / 60 s (selectPolicy Max),
    // 80 replicas scaling toward 10 lose 8 in the first period, then 8 again from 72 (7.2 rounds up
    // to 8 removed), and nothing more within a period.
    #[test]
    fn documented_scale_down_policy_example() {
        let mut hpa = value_hpa(1, 100, 100.0);
        hpa.behavior.scale_down = Rules {
            stabilization_window_seconds: 0,
            policies: vec![
                Policy { kind: PolicyKind::Pods, value: 4, period_seconds: 60 },
                Policy { kind: PolicyKind::Percent, value: 10, period_seconds: 60 },
            ],
            select: Select::Max,
        };
        let low = 100.0 * 10.0 / 80.0;
        assert_eq!(hpa.reconcile(0, &observed(80, low)), 72);
        assert_eq!(hpa.reconcile(15_000, &observed(72, low * 80.0 / 72.0)), 72);
        assert_eq!(hpa.reconcile(60_001, &observed(72, low * 80.0 / 72.0)), 64);
        // selectPolicy Min picks the smaller change: 4 pods.
        hpa.behavior.scale_down.select = Select::Min;
        assert_eq!(hpa.reconcile(130_000, &observed(64, low * 80.0 / 64.0)), 60);
        // Disabled: no scale-down at all.
        hpa.behavior.scale_down.select = Select::Disabled;
        assert_eq!(hpa.reconcile(200_000, &observed(60, 1.0)), 60);
    }

    #[test]
    fn bounds_and_zero() {
        let mut hpa = value_hpa(2, 6, 100.0);
        assert_eq!(hpa.reconcile(0, &observed(9, 100.0)), 6);
        assert_eq!(hpa.reconcile(15_000, &observed(1, 100.0)), 2);
        assert_eq!(hpa.reconcile(30_000, &observed(0, 500.0)), 0);
        assert_eq!(hpa.reconcile(45_000, &observed(6, 10_000.0)), 6);
    }
}
