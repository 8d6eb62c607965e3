//! Building a scaler's status from a reconcile's outcome, and deciding whether it is worth a write.
//!
//! Status is written by server-side apply only when it changed apart from timestamps and readings
//! that drift every interval (metric values, countdowns), plus a slow heartbeat that carries those.
//! This is what keeps a steady cluster at a handful of writes per scaler per hour.

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
}

/// The status after `outcome`, carrying over what did not change from `old`.
pub fn build(scaler: &GeneralScaler, outcome: &Outcome, now: Timestamp) -> GeneralScalerStatus {
    let old = scaler.status.clone().unwrap_or_default();
    let mut status = GeneralScalerStatus {
        observed_generation: scaler.metadata.generation,
        history: old.history.clone(),
        recent_decisions: old.recent_decisions.clone(),
        last_scale_time: old.last_scale_time,
        current_replicas: old.current_replicas,
        desired_replicas: old.desired_replicas,
        metrics: old.metrics.clone(),
        metric_summary: old.metric_summary.clone(),
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
            let spec = &scaler.spec;
            let (ready_reason, ready) = if failed.len() == report.metrics.len() && !failed.is_empty() {
                (names::METRIC_UNAVAILABLE, false)
            } else if spec.paused {
                (names::PAUSED, true)
            } else if spec.dry_run || !decision.apply && decision.desired != decision.current && !*scaled {
                (names::DRY_RUN, true)
            } else {
                (names::RECONCILED, true)
            };
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
        Outcome::InvalidSpec(message) => {
            conditions.push(condition(names::READY, false, names::INVALID_SPEC, message));
        }
        Outcome::TargetNotFound(message) => {
            conditions.push(condition(names::READY, false, names::TARGET_NOT_FOUND, message));
        }
        Outcome::ScaleFailed(message) => {
            conditions.push(condition(names::READY, false, names::SCALE_FAILED, message));
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

/// The part of a status whose change is news.
fn essence(s: &GeneralScalerStatus) -> impl PartialEq + '_ {
    let History {
        recommendations,
        last_scale_up_time,
        last_scale_down_time,
        consecutive_failures,
        spend: _,
        forecast: _,
    } = &s.history;
    (
        (s.observed_generation, s.current_replicas, s.desired_replicas, s.last_scale_time),
        s.metrics.iter().map(|m| (&m.name, m.desired_replicas, &m.error)).collect::<Vec<_>>(),
        recommendations.iter().map(|r| r.replicas).collect::<Vec<_>>(),
        (last_scale_up_time, last_scale_down_time, consecutive_failures),
        s.conditions.iter().map(|c| (&c.type_, &c.status, &c.reason)).collect::<Vec<_>>(),
        s.recent_decisions.len(),
        s.recent_decisions.last().map(|d| d.time),
    )
}
