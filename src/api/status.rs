//! The GeneralScaler status: what the daemon saw and did, and the memory the engine needs.
//!
//! Everything a restarted daemon must honour (scale times, the recommendation window, the failure
//! count, spend) lives in [`History`], which the pure engine reads and returns. Conditions use
//! the Kubernetes `metav1.Condition` shape so `kubectl describe` and `kubectl wait` understand them.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the daemon last observed and decided for one scaler.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeneralScalerStatus {
    /// The spec generation this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Replicas of the target when last observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_replicas: Option<i32>,
    /// Replicas the last decision asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<i32>,
    /// One line for `kubectl get`: each metric's value against its target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_summary: Option<String>,
    /// Each metric's last reading.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricStatus>,
    /// When the target was last scaled, either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_time: Option<Timestamp>,
    /// The last decision, stage by stage in one line each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_decision: Option<DecisionRecord>,
    /// The most recent decisions that changed something, newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_decisions: Vec<DecisionRecord>,
    /// The schedules (`spec.schedules`) open at the last decision, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active_schedules: Vec<String>,
    /// The engine's memory: windows, cooldowns, failures, spend.
    #[serde(default)]
    pub history: History,
    /// Ready, Scaling, MetricsAvailable, and the warnings (BudgetExceeded, FallbackActive, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// One metric's last reading.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricStatus {
    /// The metric's name (its `name`, else its type).
    pub name: String,
    /// The value read, if the read succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The metric's target value.
    pub target: f64,
    /// The replica count this metric alone asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<i32>,
    /// Why the read failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One decision, as kept in status.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionRecord {
    /// When it was made.
    pub time: Timestamp,
    /// Replicas before.
    pub from: i32,
    /// Replicas decided.
    pub to: i32,
    /// The verdict in words.
    pub reason: String,
}

/// The engine's memory, carried from one decision to the next through status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct History {
    /// Recommendations inside the longest stabilization window, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recommendations: Vec<Recommendation>,
    /// When gscale last scaled the target up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_up_time: Option<Timestamp>,
    /// When gscale last scaled the target down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_down_time: Option<Timestamp>,
    /// Consecutive decisions in which every metric failed.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Spend this calendar month, for costAware.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend: Option<Spend>,
}

/// One recommendation of the stabilization window.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub struct Recommendation {
    /// When it was made.
    pub time: Timestamp,
    /// The count recommended before stabilization.
    pub replicas: i32,
}

/// Spend integrated from replica-hours over the current calendar month (UTC).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Spend {
    /// Spend so far this month.
    pub cost: f64,
    /// Up to when replica-hours are counted.
    pub accounted_until: Timestamp,
    /// The replica count in force since `accountedUntil`.
    pub replicas: i32,
}
