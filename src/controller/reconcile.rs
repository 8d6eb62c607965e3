//! One reconcile: observe (target replicas, metrics) -> decide (the pure engine) -> act (scale,
//! status, Events: in [`super::act`]). Each phase is its own function so `plan` can stop after
//! `decide`.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;

use super::act::act;
use super::calls;
use super::leader::Fenced;
use super::status::Outcome;
use super::targets::{Replicas, TargetError};
use super::telemetry::ScalerView;
use super::{Context, ScalerKey};
use crate::api::check::{Severity, check_spec};
use crate::api::{GeneralScaler, History, names};
use crate::decision::{Input, decide};
use crate::metrics::Readings;

/// Why a reconcile could not finish; the controller retries with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Writing the status failed.
    #[error("status write failed")]
    Status(#[source] kube::Error),
    /// Scaling the target failed.
    #[error("scaling the target failed")]
    Scale(#[source] TargetError),
    /// This daemon lost its leadership (or passed its renew deadline) before or during a write.
    #[error("write not made")]
    Fenced(#[from] Fenced),
}

impl ReconcileError {
    /// How long the API server asked us to wait (429 and its Retry-After), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        let api_error = match self {
            Self::Status(e) | Self::Scale(TargetError::Api { source: e, .. }) => e,
            Self::Scale(_) | Self::Fenced(_) => return None,
        };
        match api_error {
            kube::Error::Api(status) if status.code == 429 => {
                let seconds = status.details.as_ref().map_or(1, |d| d.retry_after_seconds.max(1));
                Some(Duration::from_secs(u64::from(seconds)))
            }
            _ => None,
        }
    }

    /// A stable label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Status(_) => "StatusWriteFailed",
            Self::Scale(_) => names::SCALE_FAILED,
            Self::Fenced(_) => "NotLeading",
        }
    }
}

/// What was observed for one scaler.
pub struct Observation {
    /// The target's replicas, or why they are unknown.
    pub current: Result<Replicas, TargetError>,
    /// The metric readings.
    pub readings: Readings,
}

/// Observe: the target's replicas from the watch, the metrics from their backends, concurrently.
pub async fn observe(ctx: &Context, scaler: &GeneralScaler) -> Observation {
    let namespace = scaler.namespace().unwrap_or_default();
    let (current, readings) = tokio::join!(
        ctx.targets.replicas(&namespace, &scaler.spec.target_ref),
        ctx.fetcher.fetch(&namespace, &scaler.spec)
    );
    Observation { current, readings }
}

/// The engine's memory as the scaler's status holds it: what `plan` and a `--once` pass decide from.
pub fn persisted_history(scaler: &GeneralScaler) -> History {
    scaler.status.as_ref().map(|s| s.history.clone()).unwrap_or_default()
}

/// The memory a running daemon starts from for a scaler it has not decided yet in this term (after
/// a start or a takeover): status, each recommendation taken as made now. Status is not written
/// when only times changed, so a standing recommendation may have been made again until a moment
/// ago; taken as made now, the windows hold for one window after a takeover, as they would have had
/// the last leader run on, rather than let it age out at once. Only for the daemon: a one-shot
/// pass that did this every time would never let a recommendation leave its window.
fn first_sight_history(scaler: &GeneralScaler, now: Timestamp) -> History {
    let mut history = persisted_history(scaler);
    for r in &mut history.recommendations {
        r.time = now;
    }
    history
}

/// Decide: the pure engine on what was observed and the scaler's memory, or why it cannot run.
pub fn decide_outcome(
    scaler: &GeneralScaler,
    observation: &Observation,
    history: History,
    now: Timestamp,
    force_dry_run: bool,
) -> Outcome {
    let findings = check_spec(&scaler.spec);
    if let Some(error) = findings.iter().find(|f| f.severity == Severity::Error) {
        return Outcome::InvalidSpec(format!("{}: {} (hint: {})", error.path, error.message, error.hint));
    }
    let current = match &observation.current {
        Ok(current) => *current,
        Err(e) => return Outcome::TargetNotFound(e.to_string()),
    };
    let spec = if force_dry_run && !scaler.spec.dry_run {
        std::borrow::Cow::Owned(crate::api::GeneralScalerSpec { dry_run: true, ..scaler.spec.clone() })
    } else {
        std::borrow::Cow::Borrowed(&scaler.spec)
    };
    let readings = &observation.readings;
    // With a formula, the engine decides from its result as the one metric.
    let view = spec.decision_view(&readings.metrics, &readings.details);
    let decision = decide(&Input {
        spec: &view.spec,
        current_replicas: current.replicas,
        ready_replicas: current.ready,
        readings: &view.readings,
        slo: &readings.slo,
        history: &history,
        now,
    });
    let report = decision.report(&view.spec, &view.readings).with_details(&view.details);
    let warnings = findings.iter().map(|f| format!("{}: {}", f.path, f.message)).collect();
    Outcome::Decided { decision: Box::new(decision), report: Box::new(report), scaled: false, warnings }
}

/// Reconcile one scaler, if it is this daemon's and it is due.
pub async fn reconcile(scaler: Arc<GeneralScaler>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let namespace = scaler.namespace().unwrap_or_default();
    let name = scaler.name_any();
    match ctx.serves(&scaler) {
        // Reconciled again when membership moves it here.
        super::Serving::No => return Ok(Action::await_change()),
        super::Serving::Later(wait) => return Ok(Action::requeue(wait)),
        super::Serving::Yes => {}
    }
    if !*ctx.leading.borrow() {
        // Reconciled again by `reconcile_all_on` when leadership comes.
        return Ok(Action::await_change());
    }
    let interval = Duration::from_secs(u64::from(scaler.spec.sync_interval_seconds.max(1)));
    let key = (namespace.clone(), name.clone());
    let late = match ctx.schedule.due(&key, scaler.metadata.generation) {
        // A status write of ours, or an event before the next tick: nothing new to decide.
        Err(wait) => return Ok(Action::requeue(wait)),
        Ok(late) => late,
    };
    // Claims settled from the whole cache for this term: no newer scaler acts before an older claims.
    // Awaited before the turn, so the wait holds none.
    ctx.owners.settled().await;
    let waiting = tokio::time::Instant::now();
    let _turn = ctx.turns.take(&namespace).await;
    if let Some(late) = late {
        ctx.telemetry.lateness.observe((late + waiting.elapsed()).as_secs_f64());
    }
    // Boxed: the work and its memory start with the turn, so a reconcile waiting for one stays small.
    Box::pin(decide_and_act(scaler, &ctx, key, interval)).await
}

/// Observe, decide and act for a scaler whose turn came; the wait until its next tick.
async fn decide_and_act(
    scaler: Arc<GeneralScaler>,
    ctx: &Arc<Context>,
    key: ScalerKey,
    interval: Duration,
) -> Result<Action, ReconcileError> {
    let scaler = ctx.memory.restore_forecast(&key, fresh_if_behind(ctx, &key, scaler, interval).await?);
    let now = ctx.clock.now();
    let (mut outcome, observation) = match ctx.owners.claim(&key, &scaler) {
        Ok(()) => {
            let observation = observe(ctx, &scaler).await;
            let uid = scaler.uid().unwrap_or_default();
            let mut history = ctx.memory.get(&key, &uid).unwrap_or_else(|| first_sight_history(&scaler, now));
            ctx.backfills.take_into(&key, &uid, &mut history);
            ctx.backfills.start_if_wanted(ctx, &scaler, &history);
            (decide_outcome(&scaler, &observation, history, now, ctx.settings.dry_run), Some(observation))
        }
        Err(conflict) => (Outcome::Conflict(conflict), None),
    };
    ctx.telemetry.decisions.inc();
    let acted = act(ctx, &scaler, &mut outcome, now).await;
    let view = ScalerView { scaler: &scaler, observation: observation.as_ref(), outcome: &outcome };
    ctx.telemetry.scalers.record(&key, &view);
    acted?;

    let next = ctx.schedule.set_next(key, scaler.metadata.generation, interval, &scaler.spec, now);
    Ok(Action::requeue(next))
}

/// The scaler as the API server has it when the cached copy has not caught up with this daemon's
/// own last status write (a stalled watch): a status built over the stale copy would undo what that
/// write recorded. One GET, only then, within `budget`.
async fn fresh_if_behind(
    ctx: &Context,
    key: &ScalerKey,
    scaler: Arc<GeneralScaler>,
    budget: Duration,
) -> Result<Arc<GeneralScaler>, ReconcileError> {
    let cached = scaler.status.as_ref().and_then(|s| s.last_decision.as_ref()).map(|d| d.time);
    // A scaler that came back from another replica, whose history this one dropped meanwhile.
    if ctx.memory.dropped(key) {
        tracing::debug!(scaler = %key.1, "served again: reading its status afresh for its forecast history");
    } else {
        let Some(written) = ctx.memory.written(key, &scaler.uid().unwrap_or_default()) else {
            return Ok(scaler);
        };
        if cached.is_some_and(|cached| cached >= written) {
            return Ok(scaler);
        }
        tracing::debug!(scaler = %key.1, "cached status is behind this daemon's last write; reading it afresh");
    }
    let api: Api<GeneralScaler> = Api::namespaced(ctx.client.clone(), &key.0);
    let what = || format!("GET generalscalers/{}", key.1);
    let mut fresh = calls::within(budget, what, api.get(&key.1)).await.map_err(ReconcileError::Status)?;
    fresh.managed_fields_mut().clear();
    ctx.memory.refreshed(key);
    Ok(Arc::new(fresh))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::mock::{expect, scaler, serve};
    use crate::controller::testing;

    const NOW: &str = "2026-12-01T09:00:00Z";
    const BUDGET: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn a_cached_copy_behind_our_own_write_is_read_afresh_once() {
        let now: Timestamp = NOW.parse().unwrap();
        let (ctx, harness) = testing::context(now);
        let key: ScalerKey = ("ns".into(), "web".into());
        let stale = Arc::new(scaler(None));
        let server = tokio::spawn(serve(harness.api, vec![expect("GET", "/generalscalers/web", 200)]));
        // Nothing written yet: the cache is trusted.
        let same = fresh_if_behind(&ctx, &key, stale.clone(), BUDGET).await.unwrap();
        assert!(Arc::ptr_eq(&same, &stale));
        // After a write the cache has not seen, one GET.
        ctx.memory.set_written(key.clone(), "uid-1".into(), now, None);
        fresh_if_behind(&ctx, &key, stale.clone(), BUDGET).await.unwrap();
        drop(ctx);
        server.await.unwrap();
    }
}
