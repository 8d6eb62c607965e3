//! (ext) `spec.schedules`: time windows, each a start and an end in 5-field cron in an IANA time
//! zone, that set the replica bounds while open (DESIGN §11).
//!
//! Plain data and the CEL rules the API server can check; cron syntax, time zones and how a window
//! meets the spec's own bounds are checked in `api::check`, and what is open when is computed in
//! `decision::schedule`.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// A time window that sets the replica bounds while open: from each `start` fire to the next `end`
/// fire after it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(
    validation = Rule::new("has(self.minReplicas) || has(self.maxReplicas)")
        .message("a schedule sets minReplicas, maxReplicas or both")
        .field_path(".minReplicas"),
    validation = Rule::new("!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas")
        .message("a schedule's minReplicas must be less than or equal to its maxReplicas")
        .field_path(".minReplicas"),
    validation = Rule::new("self.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')")
        .message("schedule name must be lowercase letters, digits and '-', such as business-hours")
        .field_path(".name"),
    validation = Rule::new("self.start.matches('^ *(@[a-zA-Z]+|[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+) *$')")
        .message("start must be 5 cron fields (minute hour day-of-month month day-of-week)")
        .field_path(".start"),
    validation = Rule::new("self.end.matches('^ *(@[a-zA-Z]+|[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+) *$')")
        .message("end must be 5 cron fields (minute hour day-of-month month day-of-week)")
        .field_path(".end"),
    validation = Rule::new("self.start != self.end")
        .message("start and end are the same time, so the schedule never opens")
        .field_path(".end")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleWindow {
    /// Shown in plans, status and Events ("business-hours raises min to 10"); unique in the scaler.
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// IANA time zone the cron times are read in, such as `Europe/Berlin`.
    #[serde(default = "default_timezone")]
    #[schemars(length(min = 1, max = 64))]
    pub timezone: String,
    /// When the window opens: 5-field cron (`0 9 * * MON-FRI`), as KEDA and Crane write it.
    #[schemars(length(min = 1, max = 128))]
    pub start: String,
    /// When the window closes: the first fire of this cron after the window opened.
    #[schemars(length(min = 1, max = 128))]
    pub end: String,
    /// The lowest count while open; may be below or above the spec's own (0 allows scale to zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_replicas: Option<i32>,
    /// The highest count while open; may be below or above the spec's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_replicas: Option<i32>,
}

/// UTC, unless a window names its zone.
fn default_timezone() -> String {
    "UTC".to_string()
}
