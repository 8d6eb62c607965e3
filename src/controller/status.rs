//! Building a scaler's status from a reconcile's outcome, and deciding whether it is worth a write.
//!
//! Status is written by server-side apply only when it changed apart from timestamps and readings
//! that drift every interval (metric values, countdowns), plus a slow heartbeat that carries those.
//! This is what keeps a steady cluster at a handful of writes per scaler per hour. A failure that
//! repeats is no news either: its count climbs every sync, but what a person reads (the conditions,
//! their reasons, the error) changes only when it starts, when the fallback takes over and when it
//! ends; the count itself is in the daemon's metrics (`gscale_scaler_metric_failures`).

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::names;
use crate::api::{DecisionRecord, GeneralScaler, GeneralScalerStatus, History, MetricStatus};
use crate::decision::{Decision, DecisionReport};

/// Decisions kept in `status.recentDecisions`.
const RECENT_DECISIONS: usize = 10;

/// What one reconcile came to.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The engine decided.
    Decided {
        /// The decision.
        decision: Box<Decision>,
        /// The decision in words.
        report: Box<DecisionReport>,
        /// Whether the target was scaled to `decision.desired`.
        scaled: bool,
        /// Warnings about the spec (plain-text secrets, TLS off, slo without signal).
        warnings: Vec<String>,
    },
    /// The spec cannot be acted on.
    InvalidSpec(String),
    /// The target is missing or not scalable.
    TargetNotFound(String),
    /// The engine decided to scale, and the target's /scale keeps refusing.
    ScaleFailed(String),
    /// Another autoscaler owns the target: this scaler does not act.
    Conflict(String),
}

/// The status after `outcome`, carrying over what did not change from `old`.
pub fn build(scaler: &GeneralScaler, outcome: &Outcome, now: Timestamp) -> GeneralScalerStatus {
    let none = GeneralScalerStatus::default();
    let old = scaler.status.as_ref().unwrap_or(&none);
    let mut status = GeneralScalerStatus {
        observed_generation: scaler.metadata.generation,
        history: old.history.clone(),
        recent_decisions: old.recent_decisions.clone(),
        last_scale_time: old.last_scale_time,
        current_replicas: old.current_replicas,
        desired_replicas: old.desired_replicas,
        metrics: old.metrics.clone(),
        metric_summary: old.metric_summary.clone(),
        active_schedules: old.active_schedules.clone(),
        ..GeneralScalerStatus::default()
    };
    let mut conditions = Vec::new();
    match outcome {
        Outcome::Decided { decision, report, scaled, warnings } => {
            status.current_replicas = Some(decision.current);
            status.desired_replicas = Some(decision.desired);
            status.history = decision.history.clone();
            status.metrics = report
                .metrics
                .iter()
                .map(|m| MetricStatus {
                    name: m.name.clone(),
                    value: m.value,
                    target: m.target,
                    desired_replicas: m.desired,
                    error: m.error.clone(),
                })
                .collect();
            status.metric_summary = Some(summary(&status.metrics));
            status.active_schedules = crate::decision::schedule::windows(&scaler.spec, now)
                .into_iter()
                .filter(|w| w.open)
                .map(|w| scaler.spec.schedules[w.index].name.clone())
                .collect();
            let record = DecisionRecord {
                time: now,
                from: decision.current,
                to: decision.desired,
                reason: report.verdict.clone(),
            };
            if *scaled || (decision.desired != decision.current && !decision.apply) {
                if *scaled {
                    status.last_scale_time = Some(now);
                }
                let changed = old
                    .recent_decisions
                    .last()
                    .is_none_or(|last| (last.from, last.to) != (record.from, record.to));
                if *scaled || changed {
                    status.recent_decisions.push(record.clone());
                }
                let excess = status.recent_decisions.len().saturating_sub(RECENT_DECISIONS);
                status.recent_decisions.drain(..excess);
            }
            status.last_decision = Some(record);

            let failed: Vec<String> = report
                .metrics
                .iter()
                .filter_map(|m| m.error.as_ref().map(|e| format!("{}: {e}", m.name)))
                .collect();
            let (ready, ready_reason) = ready(&scaler.spec, outcome);
            conditions.push(condition(names::READY, ready, ready_reason, &report.verdict));
            conditions.push(if failed.is_empty() {
                condition(names::METRICS_AVAILABLE, true, names::RECONCILED, "every metric was read")
            } else {
                condition(names::METRICS_AVAILABLE, false, names::METRIC_UNAVAILABLE, &failed.join("; "))
            });
            if decision.flags.fallback_active {
                conditions.push(condition(
                    names::FALLBACK_ACTIVE,
                    true,
                    names::FALLBACK,
                    "every metric keeps failing: the fallback applies",
                ));
            }
            if decision.flags.budget_exceeded {
                conditions.push(condition(
                    names::BUDGET_EXCEEDED,
                    true,
                    names::BUDGET_EXCEEDED,
                    "the monthly budget affords no more than minReplicas for the rest of the month",
                ));
            }
            if !warnings.is_empty() {
                conditions.push(condition(
                    names::CONFIG_WARNING,
                    true,
                    names::CONFIG_WARNING,
                    &warnings.join("; "),
                ));
            }
        }
        Outcome::InvalidSpec(message)
        | Outcome::TargetNotFound(message)
        | Outcome::ScaleFailed(message)
        | Outcome::Conflict(message) => {
            let (ready, reason) = ready(&scaler.spec, outcome);
            conditions.push(condition(names::READY, ready, reason, message));
        }
    }
    // A condition keeps its transition time while its status stays the same.
    for c in &mut conditions {
        c.last_transition_time = match old.conditions.iter().find(|o| o.type_ == c.type_) {
            Some(o) if o.status == c.status => o.last_transition_time.clone(),
            _ => Time(now),
        };
        c.observed_generation = scaler.metadata.generation;
    }
    status.conditions = conditions;
    status
}

/// The Ready condition after `outcome`: whether it is True, and its reason.
pub fn ready(spec: &crate::api::GeneralScalerSpec, outcome: &Outcome) -> (bool, &'static str) {
    match outcome {
        Outcome::Decided { decision, report, scaled, .. } => {
            let all_failed = !report.metrics.is_empty() && report.metrics.iter().all(|m| m.error.is_some());
            if all_failed {
                (false, names::METRIC_UNAVAILABLE)
            } else if spec.paused {
                (true, names::PAUSED)
            } else if spec.dry_run || !decision.apply && decision.desired != decision.current && !*scaled {
                (true, names::DRY_RUN)
            } else {
                (true, names::RECONCILED)
            }
        }
        Outcome::InvalidSpec(_) => (false, names::INVALID_SPEC),
        Outcome::TargetNotFound(_) => (false, names::TARGET_NOT_FOUND),
        Outcome::ScaleFailed(_) => (false, names::SCALE_FAILED),
        Outcome::Conflict(_) => (false, names::TARGET_CONFLICT),
    }
}

fn condition(type_: &str, status: bool, reason: &str, message: &str) -> Condition {
    // The API server caps condition messages at 32 KiB; notes stay short.
    let message: String = message.chars().take(1024).collect();
    Condition {
        type_: type_.to_string(),
        status: if status { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message,
        last_transition_time: Time(Timestamp::UNIX_EPOCH),
        observed_generation: None,
    }
}

/// `rps 120/100, queue 40/50` for the Metric printer column.
fn summary(metrics: &[MetricStatus]) -> String {
    metrics
        .iter()
        .map(|m| match m.value {
            Some(v) => format!("{} {}/{}", m.name, crate::decision::num(v), crate::decision::num(m.target)),
            None => format!("{} <error>/{}", m.name, crate::decision::num(m.target)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `new` is worth writing over `old`: something other than timestamps and drifting
/// readings changed, or the last write is older than `heartbeat`.
pub fn needs_write(
    old: Option<&GeneralScalerStatus>,
    new: &GeneralScalerStatus,
    now: Timestamp,
    heartbeat: jiff::SignedDuration,
) -> bool {
    let Some(old) = old else { return true };
    let stale = old.last_decision.as_ref().is_none_or(|d| now.duration_since(d.time) >= heartbeat);
    stale || essence(old) != essence(new)
}

/// The whole days of history the forecaster's memory in this status holds.
pub fn forecast_days(s: &GeneralScalerStatus) -> Option<i64> {
    s.history.forecast.as_ref().map(|f| (f.hours() / 24.0).floor() as i64)
}

/// The part of a status whose change is news.
fn essence(s: &GeneralScalerStatus) -> impl PartialEq + '_ {
    // The failure count goes with the heartbeat: the conditions change when failures start, when
    // they reach the fallback's threshold and when they end, and those writes carry it.
    let History {
        recommendations,
        last_scale_up_time,
        last_scale_down_time,
        consecutive_failures: _,
        spend: _,
        forecast: _,
    } = &s.history;
    // The forecaster's memory changes every minute, which alone is no news; each whole day it
    // holds is (a backfill, or a day learnt): a restart or a new leader then starts from it.
    let days = forecast_days(s);
    (
        (s.observed_generation, s.current_replicas, s.desired_replicas, s.last_scale_time),
        s.metrics.iter().map(|m| (&m.name, m.desired_replicas, &m.error)).collect::<Vec<_>>(),
        recommendations.iter().map(|r| r.replicas).collect::<Vec<_>>(),
        (last_scale_up_time, last_scale_down_time),
        s.conditions.iter().map(|c| (&c.type_, &c.status, &c.reason)).collect::<Vec<_>>(),
        s.recent_decisions.len(),
        s.recent_decisions.last().map(|d| d.time),
        &s.active_schedules,
        days,
    )
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;
    use serde_json::json;

    use super::*;
    use crate::controller::reconcile::{Observation, decide_outcome};
    use crate::controller::targets::Replicas;
    use crate::metrics::Readings;

    fn scaler() -> GeneralScaler {
        serde_json::from_value(json!({
            "apiVersion": crate::api::API_VERSION, "kind": "GeneralScaler",
            "metadata": {"name": "web", "namespace": "ns", "generation": 3},
            "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "maxReplicas": 10,
                     "metric": {"type": "redis", "targetValue": 10, "redis": {"host": "r", "queueName": "q"}}}
        }))
        .unwrap()
    }

    fn now() -> Timestamp {
        "2026-12-01T09:00:00Z".parse().unwrap()
    }

    fn outcome(scaler: &GeneralScaler, reading: Result<f64, String>, scaled: bool) -> Outcome {
        let observation = Observation {
            current: Ok(Replicas { replicas: 2, ready: Some(2) }),
            readings: Readings { metrics: vec![reading], ..Default::default() },
        };
        let mut outcome = decide_outcome(scaler, &observation, History::default(), now(), false);
        if let Outcome::Decided { scaled: s, .. } = &mut outcome {
            *s = scaled;
        }
        outcome
    }

    fn condition_of<'a>(status: &'a GeneralScalerStatus, type_: &str) -> (&'a str, &'a str) {
        let c = status.conditions.iter().find(|c| c.type_ == type_).expect(type_);
        (c.status.as_str(), c.reason.as_str())
    }

    #[test]
    fn a_scale_is_recorded_with_its_time_and_in_recent_decisions() {
        let s = scaler();
        let status = build(&s, &outcome(&s, Ok(50.0), true), now());
        assert_eq!((status.current_replicas, status.desired_replicas), (Some(2), Some(5)));
        assert_eq!(status.last_scale_time, Some(now()));
        assert_eq!(status.recent_decisions.len(), 1);
        assert_eq!(status.observed_generation, Some(3));
        assert_eq!(condition_of(&status, names::READY), ("True", names::RECONCILED));
        assert_eq!(status.metric_summary.as_deref(), Some("redis 50/10"));
    }

    #[test]
    fn status_names_the_open_schedules() {
        let mut s = scaler();
        s.spec.schedules = serde_json::from_value(json!([
            {"name": "business-hours", "start": "0 8 * * *", "end": "0 18 * * *", "minReplicas": 3},
            {"name": "night", "start": "0 22 * * *", "end": "0 6 * * *", "maxReplicas": 2}
        ]))
        .unwrap();
        let status = build(&s, &outcome(&s, Ok(20.0), false), now());
        assert_eq!(status.active_schedules, ["business-hours"], "09:00 UTC: the day window only");
    }

    #[test]
    fn every_metric_failing_makes_the_scaler_not_ready() {
        let s = scaler();
        let status = build(&s, &outcome(&s, Err("connection refused".into()), false), now());
        assert_eq!(condition_of(&status, names::READY), ("False", names::METRIC_UNAVAILABLE));
        assert_eq!(condition_of(&status, names::METRICS_AVAILABLE), ("False", names::METRIC_UNAVAILABLE));
        assert_eq!(status.last_scale_time, None);
    }

    #[test]
    fn a_condition_keeps_its_transition_time_while_its_status_holds() {
        let mut s = scaler();
        let first = build(&s, &outcome(&s, Ok(20.0), false), now());
        s.status = Some(first.clone());
        let later = now() + SignedDuration::from_secs(60);
        let second = build(&s, &outcome(&s, Ok(20.0), false), later);
        assert_eq!(second.conditions[0].last_transition_time, first.conditions[0].last_transition_time);
        let failed = build(&s, &Outcome::ScaleFailed("refused".into()), later);
        assert_eq!(failed.conditions[0].last_transition_time, Time(later));
        assert_eq!(failed.desired_replicas, first.desired_replicas, "what did not change carries over");
    }

    #[test]
    fn a_failure_that_repeats_is_written_when_it_starts_and_at_the_fallback_not_every_sync() {
        let heartbeat = SignedDuration::from_secs(600);
        let mut s = scaler();
        s.spec.fallback.failure_threshold = 3;
        let mut old = build(&s, &outcome(&s, Ok(20.0), false), now());
        let mut history = History::default();
        let mut writes = Vec::new();
        for sync in 1..=6 {
            let at = now() + SignedDuration::from_secs(sync * 15);
            s.status = Some(old.clone());
            let observation = Observation {
                current: Ok(Replicas { replicas: 2, ready: Some(2) }),
                readings: Readings { metrics: vec![Err("connection refused".into())], ..Default::default() },
            };
            let outcome = decide_outcome(&s, &observation, history.clone(), at, false);
            if let Outcome::Decided { decision, .. } = &outcome {
                history = decision.history.clone();
            }
            let new = build(&s, &outcome, at);
            if needs_write(Some(&old), &new, at, heartbeat) {
                writes.push(new.history.consecutive_failures);
                old = new;
            }
        }
        assert_eq!(writes, [1, 3], "when the failures started and when the fallback took over");
    }

    #[test]
    fn invalid_specs_and_missing_targets_say_so() {
        let s = scaler();
        let invalid = build(&s, &Outcome::InvalidSpec("spec.maxReplicas: must be >= 1".into()), now());
        assert_eq!(condition_of(&invalid, names::READY), ("False", names::INVALID_SPEC));
        let missing = build(&s, &Outcome::TargetNotFound("Deployment/web not found".into()), now());
        assert_eq!(condition_of(&missing, names::READY), ("False", names::TARGET_NOT_FOUND));
    }

    #[test]
    fn a_write_is_needed_for_news_or_the_heartbeat_not_for_drift() {
        let heartbeat = SignedDuration::from_secs(600);
        let mut s = scaler();
        let old = build(&s, &outcome(&s, Ok(20.0), false), now());
        assert!(needs_write(None, &old, now(), heartbeat), "no status yet");
        s.status = Some(old.clone());
        let minute = now() + SignedDuration::from_secs(60);
        let drifted = build(&s, &outcome(&s, Ok(21.0), false), minute);
        assert!(!needs_write(Some(&old), &drifted, minute, heartbeat), "a reading that drifts is no news");
        let changed = build(&s, &outcome(&s, Ok(50.0), false), minute);
        assert!(needs_write(Some(&old), &changed, minute, heartbeat), "a new desired count is news");
        let late = now() + heartbeat;
        assert!(needs_write(Some(&old), &drifted, late, heartbeat), "the heartbeat carries the drift");
        let learnt = |hours: u32| {
            let mut status = drifted.clone();
            let mut memory = crate::api::ForecastHistory::new(&s.spec);
            memory.recorded_minutes = hours * 60;
            status.history.forecast = Some(memory);
            status
        };
        let news = |from: u32, to: u32| needs_write(Some(&learnt(from)), &learnt(to), minute, heartbeat);
        assert!(!news(22, 23), "a forecaster's new minutes are no news");
        assert!(news(23, 24), "a day learnt is");
        assert!(news(1, 96), "and a backfill");
    }
}
