//! One reconcile: observe (target replicas, metrics) -> decide (the pure engine) -> act (scale,
//! status, Events). Each phase is its own function so `plan` can stop after `decide`.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::events::EventType;
use super::leader::Fenced;
use super::memory::condition_key;
use super::status::{self, Outcome};
use super::targets::{Replicas, TargetError};
use super::telemetry::ScalerView;
use super::{Context, FIELD_MANAGER, ScalerKey};
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
    let decision = decide(&Input {
        spec: &spec,
        current_replicas: current.replicas,
        ready_replicas: current.ready,
        readings: &readings.metrics,
        slo: &readings.slo,
        history: &history,
        now,
    });
    let report = decision.report(&spec, &readings.metrics).with_details(&readings.details);
    let warnings = findings.iter().map(|f| format!("{}: {}", f.path, f.message)).collect();
    Outcome::Decided { decision: Box::new(decision), report: Box::new(report), scaled: false, warnings }
}

/// Reconcile one scaler, if it is this daemon's and it is due.
pub async fn reconcile(scaler: Arc<GeneralScaler>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let namespace = scaler.namespace().unwrap_or_default();
    let name = scaler.name_any();
    if !ctx.settings.shard.owns(&namespace, &name) {
        return Ok(Action::await_change());
    }
    if !*ctx.leading.borrow() {
        // Reconciled again by `reconcile_all_on` when leadership comes.
        return Ok(Action::await_change());
    }
    let interval = Duration::from_secs(u64::from(scaler.spec.sync_interval_seconds.max(1)));
    let key = (namespace.clone(), name.clone());
    match ctx.schedule.due(&key, scaler.metadata.generation) {
        // A status write of ours, or an event before the next tick: nothing new to decide.
        Err(wait) => return Ok(Action::requeue(wait)),
        Ok(Some(late)) => ctx.telemetry.lateness.observe(late.as_secs_f64()),
        Ok(None) => {}
    }

    let scaler = ctx.memory.restore_forecast(&key, fresh_if_behind(&ctx, &key, scaler).await?);
    let now = ctx.clock.now();
    let (mut outcome, observation) = match ctx.owners.claim(&key, &scaler) {
        Ok(()) => {
            let observation = observe(&ctx, &scaler).await;
            let uid = scaler.uid().unwrap_or_default();
            let mut history = ctx.memory.get(&key, &uid).unwrap_or_else(|| first_sight_history(&scaler, now));
            ctx.backfills.take_into(&key, &uid, &mut history);
            ctx.backfills.start_if_wanted(&ctx, &scaler, &history);
            (decide_outcome(&scaler, &observation, history, now, ctx.settings.dry_run), Some(observation))
        }
        Err(conflict) => (Outcome::Conflict(conflict), None),
    };
    ctx.telemetry.decisions.inc();
    let acted = act(&ctx, &scaler, &mut outcome, now).await;
    let view = ScalerView { scaler: &scaler, observation: observation.as_ref(), outcome: &outcome };
    ctx.telemetry.scalers.record(&key, &view);
    acted?;

    let next = ctx.schedule.set_next(key, scaler.metadata.generation, interval, &scaler.spec, now);
    Ok(Action::requeue(next))
}

/// The scaler as the API server has it when the cached copy has not caught up with this daemon's
/// own last status write (a stalled watch): a status built over the stale copy would undo what that
/// write recorded. One GET, only then.
async fn fresh_if_behind(
    ctx: &Context,
    key: &ScalerKey,
    scaler: Arc<GeneralScaler>,
) -> Result<Arc<GeneralScaler>, ReconcileError> {
    let cached = scaler.status.as_ref().and_then(|s| s.last_decision.as_ref()).map(|d| d.time);
    let Some(written) = ctx.memory.written(key, &scaler.uid().unwrap_or_default()) else { return Ok(scaler) };
    if cached.is_some_and(|cached| cached >= written) {
        return Ok(scaler);
    }
    tracing::debug!(scaler = %key.1, "cached status is behind this daemon's last write; reading it afresh");
    let api: Api<GeneralScaler> = Api::namespaced(ctx.client.clone(), &key.0);
    let mut fresh = api.get(&key.1).await.map_err(ReconcileError::Status)?;
    fresh.managed_fields_mut().clear();
    Ok(Arc::new(fresh))
}

/// Act: scale when the decision says so, then status and Events.
///
/// A scale is made durable before it is made: the status carrying its time (and so its cooldown)
/// is written first, then /scale is patched. A daemon that dies between the two leaves a cooldown
/// that holds one scale too many, never a scale whose cooldown is forgotten. A scale that fails
/// after that write puts the status back as it was.
pub async fn act(
    ctx: &Context,
    scaler: &GeneralScaler,
    outcome: &mut Outcome,
    now: Timestamp,
) -> Result<(), ReconcileError> {
    let namespace = scaler.namespace().unwrap_or_default();
    let name = scaler.name_any();
    let key = (namespace.clone(), name.clone());
    let mut written = None;
    let mut failure = None;
    if let Outcome::Decided { decision, report, scaled, .. } = outcome
        && decision.apply
    {
        if !*ctx.leading.borrow() {
            // Leadership went while the metrics were read: the new leader decides, alone.
            return Ok(());
        }
        *scaled = true;
        let (decision, report) = (decision.clone(), report.verdict.clone());
        let intended = status::build(scaler, outcome, now);
        write_status(ctx, scaler, &intended).await?;
        let target = &scaler.spec.target_ref;
        match ctx.fence.write(ctx.targets.scale(&namespace, target, decision.desired)).await? {
            Ok(()) => {
                let up = decision.desired > decision.current;
                let counter = if up { &ctx.telemetry.scaled_up } else { &ctx.telemetry.scaled_down };
                counter.inc();
                tracing::info!(%namespace, scaler = %name, from = decision.current, to = decision.desired, "{report}");
                let reason = if up { names::SCALED_UP } else { names::SCALED_DOWN };
                let note = format!("{}/{}: {report}", target.kind, target.name);
                publish(ctx, scaler, EventType::Normal, reason, "Scale", &note).await;
                announce_new_errors(ctx, scaler, &key, &intended).await;
                // The scale happened and its status is written: this decision's memory is the scaler's.
                ctx.memory.put(key, scaler.uid().unwrap_or_default(), decision.history.clone());
                return Ok(());
            }
            Err(e) => {
                // What the API server holds now, to be put back below.
                written = Some(intended);
                let error = ReconcileError::Scale(e);
                if let Outcome::Decided { scaled, .. } = outcome {
                    *scaled = false;
                }
                // A conflict or a 5xx passes: retried quietly. A refusal that lasts (forbidden,
                // invalid, a webhook's denial) or repeats says so in status and in an Event.
                if lasts(&error) || ctx.schedule.failures(&key) + 1 >= REPORT_AFTER_FAILURES {
                    let message = format!(
                        "scaling {}/{} from {} to {} failed: {}",
                        target.kind,
                        target.name,
                        decision.current,
                        decision.desired,
                        crate::explain::chain(&error)
                    );
                    tracing::warn!(%namespace, scaler = %name, "{message}");
                    *outcome = Outcome::ScaleFailed(message);
                }
                failure = Some(error);
            }
        }
    } else if let Outcome::Decided { decision, report, .. } = outcome {
        tracing::debug!(%namespace, scaler = %name, "{}", report.verdict);
        ctx.memory.put(key.clone(), scaler.uid().unwrap_or_default(), decision.history.clone());
    }

    // Built over the status as read: after a failed scale, this puts back what the scale changed.
    let new = status::build(scaler, outcome, now);
    announce_new_errors(ctx, scaler, &key, &new).await;
    let heartbeat = jiff::SignedDuration::try_from(ctx.settings.status_heartbeat)
        .unwrap_or(jiff::SignedDuration::from_secs(600));
    let current = written.as_ref().or(scaler.status.as_ref());
    let uid = scaler.uid().unwrap_or_default();
    if status::needs_write(current, &new, now, heartbeat)
        || ctx.memory.days_unwritten(&key, &uid, status::forecast_days(&new))
    {
        write_status(ctx, scaler, &new).await?;
    }
    // The scale failed: the error policy retries, backing off.
    failure.map_or(Ok(()), Err)
}

/// Write the scaler's status by server-side apply, through the leadership fence.
async fn write_status(
    ctx: &Context,
    scaler: &GeneralScaler,
    status: &crate::api::GeneralScalerStatus,
) -> Result<(), ReconcileError> {
    let (namespace, name) = (scaler.namespace().unwrap_or_default(), scaler.name_any());
    let api: Api<GeneralScaler> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = serde_json::json!({
        "apiVersion": crate::api::API_VERSION,
        "kind": crate::api::KIND,
        "metadata": {"name": name, "namespace": namespace},
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    ctx.fence
        .write(api.patch_status(&name, &params, &Patch::Apply(&patch)))
        .await?
        .map_err(ReconcileError::Status)?;
    if let Some(decision) = &status.last_decision {
        let days = status::forecast_days(status);
        ctx.memory.set_written((namespace, name), scaler.uid().unwrap_or_default(), decision.time, days);
    }
    ctx.telemetry.status_writes.inc();
    Ok(())
}

/// Scale failures reported in status and an Event once they repeat this many times in a row.
const REPORT_AFTER_FAILURES: u32 = 3;

/// Whether a scale failure will not pass by itself: the API refused the request as such
/// (forbidden, not found, invalid, denied), as opposed to a conflict, a throttle or a 5xx.
fn lasts(error: &ReconcileError) -> bool {
    let ReconcileError::Scale(TargetError::Api { source: kube::Error::Api(status), .. }) = error else {
        return false;
    };
    (400..500).contains(&status.code) && !matches!(status.code, 409 | 429)
}

/// An Event for each condition that turned bad or changed its reason since this daemon last
/// looked (or, on first sight, since the status it read): a retry that keeps failing, or a status
/// that cannot be written, announces nothing new.
async fn announce_new_errors(
    ctx: &Context,
    scaler: &GeneralScaler,
    key: &ScalerKey,
    new: &crate::api::GeneralScalerStatus,
) {
    let seen = ctx.memory.conditions(key).unwrap_or_else(|| {
        let old = scaler.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
        old.iter().map(condition_key).collect()
    });
    ctx.memory.set_conditions(key.clone(), &new.conditions);
    for c in &new.conditions {
        let bad = match c.type_.as_str() {
            names::READY | names::METRICS_AVAILABLE => c.status == "False",
            names::FALLBACK_ACTIVE | names::BUDGET_EXCEEDED => c.status == "True",
            _ => false,
        };
        if bad && !seen.contains(&condition_key(c)) {
            // MetricsAvailable and Ready share a reason when every metric fails: one Event is enough.
            if c.type_ == names::READY && c.reason == names::METRIC_UNAVAILABLE {
                continue;
            }
            publish(ctx, scaler, EventType::Warning, &c.reason, "Reconcile", &c.message).await;
        }
    }
}

async fn publish(
    ctx: &Context,
    scaler: &GeneralScaler,
    event_type: EventType,
    reason: &str,
    action: &str,
    note: &str,
) {
    let regarding = scaler.object_ref(&());
    let publish = ctx.events.publish(&regarding, event_type, reason, action, note);
    match ctx.fence.write(publish).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(scaler = %scaler.name_any(), error = %crate::explain::chain(&e), "could not publish an Event")
        }
        Err(fenced) => tracing::debug!(scaler = %scaler.name_any(), %fenced, "Event not published"),
    }
}

#[cfg(test)]
mod tests {
    //! Each branch of `act`, against a mock API server that answers only the requests expected,
    //! in order: a request not expected fails the test, and so does one expected and not made.

    use http::Response;
    use http_body_util::BodyExt;
    use jiff::SignedDuration;
    use kube::client::Body;
    use serde_json::{Value, json};

    use super::*;
    use crate::controller::testing::{self, ApiServer};
    use crate::metrics::Readings;

    const NOW: &str = "2026-12-01T09:00:00Z";

    /// A request the mock API server expects: method, the end of its path, and its reply.
    struct Expect {
        method: &'static str,
        path: &'static str,
        code: u16,
    }

    fn expect(method: &'static str, path: &'static str, code: u16) -> Expect {
        Expect { method, path, code }
    }

    /// Answer `expected` in order, then check that nothing else was asked; the bodies received.
    async fn serve(mut api: ApiServer, expected: Vec<Expect>) -> Vec<Value> {
        let mut bodies = Vec::new();
        for e in expected {
            let (request, reply) =
                api.next_request().await.expect("the daemon made fewer requests than expected");
            let (parts, body) = request.into_parts();
            assert_eq!(
                (parts.method.as_str(), parts.uri.path().ends_with(e.path)),
                (e.method, true),
                "{}",
                parts.uri
            );
            let body = body.collect().await.unwrap().to_bytes();
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let answer = if e.code < 300 {
                // The client decodes replies into the type it asked for: echo what was sent.
                let mut echo = body.clone();
                let path = parts.uri.path();
                if path.ends_with("/scale") {
                    echo = json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web"}, "spec": body["spec"]});
                } else if path.ends_with("/status") {
                    echo = serde_json::to_value(scaler(Some(body["status"].clone()))).unwrap();
                } else if parts.method == http::Method::GET {
                    echo = serde_json::to_value(scaler(None)).unwrap();
                }
                echo
            } else {
                json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": e.code,
                       "reason": "Refused", "message": format!("refused with {}", e.code)})
            };
            bodies.push(body);
            reply.send_response(
                Response::builder()
                    .status(e.code)
                    .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                    .unwrap(),
            );
        }
        assert!(api.next_request().await.is_none(), "the daemon made a request that was not expected");
        bodies
    }

    fn scaler(status: Option<Value>) -> GeneralScaler {
        let mut object = json!({
            "apiVersion": crate::api::API_VERSION, "kind": "GeneralScaler",
            "metadata": {"name": "web", "namespace": "ns", "uid": "uid-1", "generation": 1},
            "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "minReplicas": 1, "maxReplicas": 10,
                     "metric": {"type": "redis", "targetValue": 10, "redis": {"host": "r", "queueName": "q"}}}
        });
        if let Some(status) = status {
            object["status"] = status;
        }
        serde_json::from_value(object).unwrap()
    }

    /// The outcome of deciding with `queue` items in the queue and `current` replicas.
    fn decided(scaler: &GeneralScaler, current: i32, queue: f64, now: Timestamp) -> Outcome {
        let observation = Observation {
            current: Ok(Replicas { replicas: current, ready: Some(current) }),
            readings: Readings { metrics: vec![Ok(queue)], ..Default::default() },
        };
        decide_outcome(scaler, &observation, History::default(), now, false)
    }

    /// Run `act` on a context whose target has `current` replicas, against `expected`.
    async fn act_with(
        scaler: &GeneralScaler,
        current: i32,
        queue: f64,
        leading: bool,
        expected: Vec<Expect>,
    ) -> (Result<(), ReconcileError>, Outcome, Vec<Value>, Option<History>) {
        let now: Timestamp = NOW.parse().unwrap();
        let (ctx, harness) = testing::context(now);
        harness.leading.send_replace(leading);
        ctx.targets.seed("ns", &scaler.spec.target_ref, Replicas { replicas: current, ready: Some(current) });
        let server = tokio::spawn(serve(harness.api, expected));
        let mut outcome = decided(scaler, current, queue, now);
        let result = act(&ctx, scaler, &mut outcome, now).await;
        let memory = ctx.memory.get(&("ns".into(), "web".into()), "uid-1");
        drop(ctx);
        let bodies = server.await.unwrap();
        (result, outcome, bodies, memory)
    }

    #[tokio::test]
    async fn a_scale_writes_its_status_first_then_patches_scale_then_announces() {
        let expected = vec![
            expect("PATCH", "/generalscalers/web/status", 200),
            expect("PATCH", "/deployments/web/scale", 200),
            expect("POST", "/events", 201),
        ];
        let (result, outcome, bodies, memory) = act_with(&scaler(None), 2, 50.0, true, expected).await;
        result.unwrap();
        assert!(matches!(outcome, Outcome::Decided { scaled: true, .. }));
        assert_eq!(bodies[0]["status"]["desiredReplicas"], 5);
        assert_eq!(bodies[0]["status"]["lastScaleTime"], NOW, "the cooldown is durable before the scale");
        assert_eq!(bodies[1]["spec"]["replicas"], 5);
        assert_eq!(bodies[2]["reason"], names::SCALED_UP);
        assert!(memory.unwrap().last_scale_up_time.is_some(), "the scale is remembered");
    }

    #[tokio::test]
    async fn a_follower_writes_nothing() {
        let (result, _, bodies, memory) = act_with(&scaler(None), 2, 50.0, false, vec![]).await;
        result.unwrap();
        assert!(bodies.is_empty());
        assert_eq!(memory, None, "the leader decides; this daemon remembers nothing");
    }

    #[tokio::test]
    async fn a_daemon_past_its_lease_deadline_writes_nothing() {
        let now: Timestamp = NOW.parse().unwrap();
        let (mut ctx, harness) = testing::context(now);
        let (_renewals, fence) = crate::controller::leader::Fence::closed();
        Arc::get_mut(&mut ctx).unwrap().fence = fence;
        let s = scaler(None);
        ctx.targets.seed("ns", &s.spec.target_ref, Replicas { replicas: 2, ready: Some(2) });
        let server = tokio::spawn(serve(harness.api, vec![]));
        let mut outcome = decided(&s, 2, 50.0, now);
        let result = act(&ctx, &s, &mut outcome, now).await;
        assert!(matches!(result, Err(ReconcileError::Fenced(_))), "{result:?}");
        assert_eq!(ctx.memory.get(&("ns".into(), "web".into()), "uid-1"), None);
        drop(ctx);
        assert!(server.await.unwrap().is_empty(), "no scale, no Event, no status");
    }

    #[tokio::test]
    async fn a_conflict_on_scale_is_retried_quietly_and_its_status_put_back() {
        let expected = vec![
            expect("PATCH", "/generalscalers/web/status", 200),
            expect("PATCH", "/deployments/web/scale", 409),
            expect("PATCH", "/generalscalers/web/status", 200),
        ];
        let (result, outcome, bodies, memory) = act_with(&scaler(None), 2, 50.0, true, expected).await;
        assert!(matches!(result, Err(ReconcileError::Scale(_))));
        assert!(matches!(outcome, Outcome::Decided { scaled: false, .. }), "no ScaleFailed for a conflict");
        assert_eq!(
            bodies[2]["status"]["lastScaleTime"],
            Value::Null,
            "the scale that did not happen is undone"
        );
        assert_eq!(memory, None, "a scale that did not happen leaves the memory as it was");
    }

    #[tokio::test]
    async fn no_scale_when_its_status_cannot_be_written() {
        let expected = vec![expect("PATCH", "/generalscalers/web/status", 500)];
        let (result, _, _, memory) = act_with(&scaler(None), 2, 50.0, true, expected).await;
        assert!(matches!(result, Err(ReconcileError::Status(_))), "{result:?}");
        assert_eq!(memory, None);
    }

    #[tokio::test]
    async fn a_refused_scale_is_reported_in_status_and_an_event() {
        let expected = vec![
            expect("PATCH", "/generalscalers/web/status", 200),
            expect("PATCH", "/deployments/web/scale", 403),
            expect("POST", "/events", 201),
            expect("PATCH", "/generalscalers/web/status", 200),
        ];
        let (result, outcome, bodies, _) = act_with(&scaler(None), 2, 50.0, true, expected).await;
        assert!(matches!(result, Err(ReconcileError::Scale(_))));
        assert!(matches!(outcome, Outcome::ScaleFailed(_)));
        assert_eq!(bodies[2]["reason"], names::SCALE_FAILED);
        assert_eq!(bodies[2]["type"], "Warning");
        let ready = &bodies[3]["status"]["conditions"][0];
        assert_eq!(
            (&ready["type"], &ready["status"], &ready["reason"]),
            (&json!("Ready"), &json!("False"), &json!(names::SCALE_FAILED))
        );
        assert!(ready["message"].as_str().unwrap().contains("from 2 to 5"), "{ready}");
    }

    #[tokio::test]
    async fn a_hold_writes_status_once_then_nothing_until_the_heartbeat() {
        // First sight: no status yet, so the hold is written.
        let expected = vec![expect("PATCH", "/generalscalers/web/status", 200)];
        let (result, outcome, bodies, _) = act_with(&scaler(None), 2, 20.0, true, expected).await;
        result.unwrap();
        assert!(matches!(outcome, Outcome::Decided { scaled: false, .. }));
        // The same hold over that status a minute later: nothing to write.
        let written = bodies[0]["status"].clone();
        let mut later = written.clone();
        later["lastDecision"]["time"] =
            json!((NOW.parse::<Timestamp>().unwrap() - SignedDuration::from_secs(60)).to_string());
        let (result, _, bodies, _) = act_with(&scaler(Some(later)), 2, 20.0, true, vec![]).await;
        result.unwrap();
        assert!(bodies.is_empty());
    }

    #[tokio::test]
    async fn a_failure_that_repeats_is_announced_once() {
        let now: Timestamp = NOW.parse().unwrap();
        let (ctx, harness) = testing::context(now);
        let s = scaler(None);
        ctx.targets.seed("ns", &s.spec.target_ref, Replicas { replicas: 2, ready: Some(2) });
        let refused = || expect("PATCH", "/deployments/web/scale", 403);
        let status = || expect("PATCH", "/generalscalers/web/status", 500);
        // Twice: status written, scale refused, the failure announced (once), status not written.
        let server = tokio::spawn(serve(
            harness.api,
            vec![
                expect("PATCH", "/generalscalers/web/status", 200),
                refused(),
                expect("POST", "/events", 201),
                status(),
                expect("PATCH", "/generalscalers/web/status", 200),
                refused(),
                status(),
            ],
        ));
        for _ in 0..2 {
            let mut outcome = decided(&s, 2, 50.0, now);
            assert!(act(&ctx, &s, &mut outcome, now).await.is_err());
        }
        drop(ctx);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_cached_copy_behind_our_own_write_is_read_afresh_once() {
        let now: Timestamp = NOW.parse().unwrap();
        let (ctx, harness) = testing::context(now);
        let key: ScalerKey = ("ns".into(), "web".into());
        let stale = Arc::new(scaler(None));
        let server = tokio::spawn(serve(harness.api, vec![expect("GET", "/generalscalers/web", 200)]));
        // Nothing written yet: the cache is trusted.
        let same = fresh_if_behind(&ctx, &key, stale.clone()).await.unwrap();
        assert!(Arc::ptr_eq(&same, &stale));
        // After a write the cache has not seen, one GET.
        ctx.memory.set_written(key.clone(), "uid-1".into(), now, None);
        fresh_if_behind(&ctx, &key, stale.clone()).await.unwrap();
        drop(ctx);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn an_invalid_spec_is_reported_without_touching_the_target() {
        let mut bad = scaler(None);
        bad.spec.max_replicas = 0;
        let now: Timestamp = NOW.parse().unwrap();
        let (ctx, harness) = testing::context(now);
        let server = tokio::spawn(serve(
            harness.api,
            vec![expect("POST", "/events", 201), expect("PATCH", "/generalscalers/web/status", 200)],
        ));
        let mut outcome = decided(&bad, 2, 50.0, now);
        assert!(matches!(outcome, Outcome::InvalidSpec(_)));
        act(&ctx, &bad, &mut outcome, now).await.unwrap();
        drop(ctx);
        let bodies = server.await.unwrap();
        assert_eq!(bodies[0]["reason"], names::INVALID_SPEC);
    }
}
