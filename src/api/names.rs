//! Condition types and Event reasons: one place, stable strings (they appear in alerts and scripts).

/// Condition: the scaler is evaluated and acting (or deliberately not acting: paused, dry run).
pub const READY: &str = "Ready";
/// Condition: every metric could be read.
pub const METRICS_AVAILABLE: &str = "MetricsAvailable";
/// Condition: a rail (cooldown, window, limit, bound) is holding the count.
pub const SCALING_LIMITED: &str = "ScalingLimited";
/// Condition: every metric failed failureThreshold times in a row; the fallback applies.
pub const FALLBACK_ACTIVE: &str = "FallbackActive";
/// Condition: the costAware budget affords no more than minReplicas.
pub const BUDGET_EXCEEDED: &str = "BudgetExceeded";
/// Condition: a configuration that works but deserves attention (plain-text password, slo with no
/// signal, TLS verification off).
pub const CONFIG_WARNING: &str = "ConfigWarning";

/// Event reason: the target was scaled up.
pub const SCALED_UP: &str = "ScaledUp";
/// Event reason: the target was scaled down.
pub const SCALED_DOWN: &str = "ScaledDown";
/// Event/condition reason: a metric could not be read.
pub const METRIC_UNAVAILABLE: &str = "MetricUnavailable";
/// Event/condition reason: the target does not exist or has no /scale.
pub const TARGET_NOT_FOUND: &str = "TargetNotFound";
/// Event/condition reason: the target's /scale refused the change, again and again or for good
/// (forbidden, invalid, denied by a webhook).
pub const SCALE_FAILED: &str = "ScaleFailed";
/// Event/condition reason: another GeneralScaler, an HPA or a KEDA ScaledObject already scales the
/// same target; the newer scaler does not act.
pub const TARGET_CONFLICT: &str = "TargetConflict";
/// Event/condition reason: the spec cannot be acted on.
pub const INVALID_SPEC: &str = "InvalidSpec";
/// Event/condition reason: the fallback applies.
pub const FALLBACK: &str = "FallbackActive";
/// Condition reason: the scaler is paused.
pub const PAUSED: &str = "Paused";
/// Condition reason: the scaler is in dry-run mode.
pub const DRY_RUN: &str = "DryRun";
/// Condition reason: all is well.
pub const RECONCILED: &str = "Reconciled";
