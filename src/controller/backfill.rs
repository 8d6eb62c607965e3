//! A forecasting scaler's history from its backend at first sight, so a new scaler (or one that
//! just turned its forecast on) forecasts at once instead of after a day of warm-up. Prometheus
//! keeps the metric's past: `query_range` over the seasons the forecast learns, a day per query
//! at one-minute steps (Prometheus answers at most 11,000 points a query). A metric that is a
//! total (`AverageValue`) is the demand itself; a per-pod one is not (its demand needs the pods
//! that served it), so such scalers learn from their own readings, as do the other sources.
//!
//! Backfills run in the background, a few at a time, so a daemon starting with thousands of new
//! forecasting scalers neither delays their first decisions nor floods Prometheus. A finished
//! backfill waits here until the scaler's next reconcile takes it into its memory.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use tokio::sync::Semaphore;

use super::{Context, ScalerKey};
use crate::api::{
    ForecastHistory, GeneralScaler, GeneralScalerSpec, History, MetricType, Season, TargetType,
};
use crate::metrics::Fetcher;

/// Backfills in flight at once, across every scaler.
const CONCURRENT: usize = 4;
/// Each query's range: one day of one-minute points.
const CHUNK: SignedDuration = SignedDuration::from_hours(24);
/// How long one range query may take.
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
        let (ctx2, scaler) = (ctx.clone(), scaler.clone());
        let limit = self.limit.clone();
        ctx.tasks.spawn(async move {
            let Ok(_permit) = limit.acquire_owned().await else { return };
            let now = ctx2.clock.now();
            let namespace = scaler.namespace().unwrap_or_default();
            match series(&ctx2.fetcher, &namespace, &scaler.spec, days, now).await {
                Ok(points) if !points.is_empty() => {
                    let history = ForecastHistory::from_series(&scaler.spec, points);
                    tracing::info!(scaler = %key.1, hours = history.hours(), "forecast history backfilled from Prometheus");
                    ctx2.backfills.ready.lock().expect("a poisoned lock means a panic elsewhere").insert(key, (uid, history));
                }
                Ok(_) => tracing::info!(scaler = %key.1, "Prometheus keeps no history of this metric: the forecast learns from readings"),
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
/// metric is not a Prometheus total.
pub fn days_wanted(spec: &GeneralScalerSpec) -> Option<i64> {
    let forecast = spec.forecast_enabled()?;
    let metric = spec.metrics().first()?;
    if metric.kind != MetricType::Prometheus || metric.effective_target_type() != TargetType::AverageValue {
        return None;
    }
    Some(if forecast.seasons.contains(&Season::Weekly) { 14 } else { 4 })
}

/// The first metric's series over the `days` before `end`, oldest first, a day per query at
/// one-minute steps: `days` range queries.
pub async fn series(
    fetcher: &Fetcher,
    namespace: &str,
    spec: &GeneralScalerSpec,
    days: i64,
    end: Timestamp,
) -> Result<Vec<(Timestamp, f64)>, String> {
    let metric = spec.metrics().first().cloned().ok_or("no metric")?;
    let source = metric.prometheus.as_ref().ok_or("no prometheus block")?;
    let mut points = Vec::new();
    for day in (1..=days).rev() {
        let start = end - CHUNK * day as i32;
        let until = (start + CHUNK).min(end);
        let chunk = fetcher
            .query_range(namespace, source, start, until, Duration::from_secs(60), QUERY_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        points.extend(chunk);
    }
    Ok(points)
}
