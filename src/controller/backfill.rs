//! A forecasting scaler's history from its backend at first sight, so a new scaler (or one that
//! just turned its forecast on) forecasts at once instead of after a day of warm-up. Two backends
//! keep the metric's past: Prometheus (`query_range`, a day per query at one-minute steps:
//! Prometheus answers at most 11,000 points a query) and Pub/Sub (Cloud Monitoring keeps the
//! subscription's backlog for six weeks: a day per read, one mean a minute). A metric that is a
//! total (`AverageValue`) is the demand itself; a per-pod one is not (its demand needs the pods
//! that served it), so such scalers learn from their own readings, as do the other sources.
//!
//! Backfills run in the background, a few at a time, so a daemon starting with thousands of new
//! forecasting scalers neither delays their first decisions nor floods the backend. A finished
//! backfill waits here until the scaler's next reconcile takes it into its memory.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use tokio::sync::Semaphore;

use super::{Context, ScalerKey};
use crate::api::{
    ForecastHistory, GeneralScaler, GeneralScalerSpec, History, MetricType, PubSubMode, Season, TargetType,
};
use crate::metrics::Fetcher;

/// Backfills in flight at once, across every scaler.
const CONCURRENT: usize = 4;
/// Each read's range: one day of one-minute points.
const CHUNK: SignedDuration = SignedDuration::from_hours(24);
/// How long after a failed read it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// How long one day's read may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Backfills asked for, and finished ones not yet taken.
pub struct Backfills {
    /// (scaler, uid) pairs already asked for in this process: each is tried once.
    asked: Mutex<HashSet<(ScalerKey, String)>>,
    /// Finished histories by scaler, with the uid they were built for.
    ready: Mutex<HashMap<ScalerKey, (String, ForecastHistory)>>,
    limit: Arc<Semaphore>,
}

impl Default for Backfills {
    fn default() -> Self {
        Self { asked: Mutex::default(), ready: Mutex::default(), limit: Arc::new(Semaphore::new(CONCURRENT)) }
    }
}

impl Backfills {
    /// Start a backfill for `scaler` if it forecasts, its backend keeps history, and what it knows
    /// covers less than its longest season. At most once per scaler (and uid) in this process.
    pub fn start_if_wanted(&self, ctx: &Arc<Context>, scaler: &GeneralScaler, history: &History) {
        let known = history.forecast.as_ref().map_or(0.0, ForecastHistory::hours);
        let Some(days) = days_wanted(&scaler.spec).filter(|days| known < 24.0 * *days as f64) else { return };
        let key: ScalerKey = (scaler.namespace().unwrap_or_default(), scaler.name_any());
        let uid = scaler.uid().unwrap_or_default();
        if !self
            .asked
            .lock()
            .expect("a poisoned lock means a panic elsewhere")
            .insert((key.clone(), uid.clone()))
        {
            return;
        }
        // The spec only: a queued backfill must not hold the scaler's status (and history).
        let (ctx2, spec, namespace) = (ctx.clone(), scaler.spec.clone(), key.0.clone());
        let limit = self.limit.clone();
        ctx.tasks.spawn(async move {
            let Ok(_permit) = limit.acquire_owned().await else { return };
            let now = ctx2.clock.now();
            match series(&ctx2.fetcher, &namespace, &spec, days, now).await {
                Ok(points) if !points.is_empty() => {
                    let history = ForecastHistory::from_series(&spec, points);
                    let from = backend_name(&spec);
                    tracing::info!(scaler = %key.1, hours = history.hours(), from, "forecast history backfilled");
                    ctx2.backfills.ready.lock().expect("a poisoned lock means a panic elsewhere").insert(key, (uid, history));
                }
                Ok(_) => tracing::info!(scaler = %key.1, from = backend_name(&spec), "the backend keeps no history of this metric: the forecast learns from readings"),
                Err(e) => tracing::warn!(scaler = %key.1, error = %e, "forecast backfill failed: the forecast learns from readings"),
            }
        });
    }

    /// A finished backfill for this scaler (same uid), if it knows more than `history` does.
    pub fn take_into(&self, key: &ScalerKey, uid: &str, history: &mut History) {
        let mut ready = self.ready.lock().expect("a poisoned lock means a panic elsewhere");
        let Some((for_uid, backfilled)) = ready.remove(key) else { return };
        let knows = history.forecast.as_ref().map_or(0.0, ForecastHistory::hours);
        if for_uid == uid && backfilled.hours() > knows {
            history.forecast = Some(backfilled);
        }
    }

    /// Forget scalers that no longer exist.
    pub fn retain(&self, live: &HashSet<ScalerKey>) {
        self.ready
            .lock()
            .expect("a poisoned lock means a panic elsewhere")
            .retain(|key, _| live.contains(key));
        self.asked
            .lock()
            .expect("a poisoned lock means a panic elsewhere")
            .retain(|(key, _)| live.contains(key));
    }
}

/// Days of history a forecasting scaler learns from (its longest season and the days its profile
/// weighs), when its backend keeps them: `None` when the scaler does not forecast, or its first
/// metric is not a total kept by Prometheus or a Pub/Sub backlog kept by Cloud Monitoring.
pub fn days_wanted(spec: &GeneralScalerSpec) -> Option<i64> {
    let forecast = spec.forecast_enabled()?;
    let metric = spec.metrics().first()?;
    let demand = match &metric.pubsub {
        Some(pubsub) => pubsub.mode == PubSubMode::Backlog,
        None => true,
    };
    if !crate::metrics::keeps_history(metric)
        || !demand
        || metric.effective_target_type() != TargetType::AverageValue
    {
        return None;
    }
    Some(if forecast.seasons.contains(&Season::Weekly) { 14 } else { 4 })
}

/// The backend a scaler's history comes from, in words.
pub fn backend_name(spec: &GeneralScalerSpec) -> &'static str {
    match spec.metrics().first().map(|m| m.kind) {
        Some(MetricType::Pubsub) => "Cloud Monitoring",
        _ => "Prometheus",
    }
}

/// The first metric's series over the `days` before `end`, oldest first, a day per read at
/// one-minute steps: `days` reads.
pub async fn series(
    fetcher: &Fetcher,
    namespace: &str,
    spec: &GeneralScalerSpec,
    days: i64,
    end: Timestamp,
) -> Result<Vec<(Timestamp, f64)>, String> {
    let metric = spec.metrics().first().cloned().ok_or("no metric")?;
    let mut points = Vec::new();
    for day in (1..=days).rev() {
        let start = end - CHUNK * day as i32;
        let until = (start + CHUNK).min(end);
        // A read that fails is tried once more: the clients do not retry, and a backfill is tried
        // once per scaler.
        let mut tries = 0;
        let chunk = loop {
            tries += 1;
            match fetcher.history(namespace, spec, &metric, (start, until), QUERY_TIMEOUT).await {
                Ok(chunk) => break chunk,
                Err(e) if tries >= 2 => return Err(e.to_string()),
                Err(e) => {
                    tracing::debug!(error = %e, "a day of forecast history could not be read; trying again");
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        };
        points.extend(chunk);
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(metric: serde_json::Value, forecast: serde_json::Value) -> GeneralScalerSpec {
        serde_json::from_value(serde_json::json!({
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
            "maxReplicas": 10, "metric": metric, "forecast": forecast,
        }))
        .unwrap()
    }

    #[test]
    fn history_is_backfilled_for_totals_whose_backend_keeps_them() {
        let on = serde_json::json!({"mode": "On"});
        let weekly = serde_json::json!({"mode": "On", "seasons": ["daily", "weekly"]});
        let prometheus = |target_type: &str| {
            serde_json::json!({"type": "prometheus", "targetValue": 10, "targetType": target_type,
                "prometheus": {"serverUrl": "http://p:9090", "query": "sum(x)"}})
        };
        let pubsub = |mode: &str| {
            serde_json::json!({"type": "pubsub", "targetValue": 10,
                "pubsub": {"projectId": "demo", "subscriptionId": "jobs", "mode": mode}})
        };
        let redis =
            serde_json::json!({"type": "redis", "targetValue": 10, "redis": {"host": "r", "queueName": "q"}});
        assert_eq!(days_wanted(&spec(prometheus("AverageValue"), on.clone())), Some(4));
        assert_eq!(days_wanted(&spec(prometheus("AverageValue"), weekly)), Some(14));
        assert_eq!(days_wanted(&spec(prometheus("Value"), on.clone())), None, "a per-pod metric");
        assert_eq!(days_wanted(&spec(pubsub("backlog"), on.clone())), Some(4));
        assert_eq!(days_wanted(&spec(pubsub("oldestUnackedAge"), on.clone())), None, "an age is no demand");
        assert_eq!(days_wanted(&spec(redis, on)), None, "Redis keeps no past");
        assert_eq!(days_wanted(&spec(prometheus("AverageValue"), serde_json::json!({"mode": "Off"}))), None);
        assert_eq!(
            backend_name(&spec(pubsub("backlog"), serde_json::json!({"mode": "On"}))),
            "Cloud Monitoring"
        );
    }
}
