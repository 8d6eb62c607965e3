//! Act: scale when the decision says so, then status and Events; every call bounded by the
//! scaler's interval, and a scale whose reply was lost read back and recorded as what happened.

use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};

use super::calls;
use super::events::EventType;
use super::memory::condition_key;
use super::reconcile::ReconcileError;
use super::status::{self, Outcome};
use super::targets::TargetError;
use super::{Context, FIELD_MANAGER, ScalerKey};
use crate::api::{GeneralScaler, TargetRef, names};

/// How long one call of a scaler's reconcile may wait: its interval, so a lost reply never holds
/// the scaler past its next tick.
pub fn budget(scaler: &GeneralScaler) -> Duration {
    Duration::from_secs(u64::from(scaler.spec.sync_interval_seconds.max(1)))
}

/// Act: scale when the decision says so, then status and Events.
///
/// A scale is made durable before it is made: the status carrying its time (and so its cooldown)
/// is written first, then /scale is patched. A daemon that dies between the two leaves a cooldown
/// that holds one scale too many, never a scale whose cooldown is forgotten. A scale that fails
/// after that write puts the status back as it was. A scale whose reply is lost (cut at the
/// scaler's interval, or its connection dropped) is read back from `/scale`: held there, it was
/// made; otherwise, or unread, it counts as not made and its status is put back.
pub async fn act(
    ctx: &Context,
    scaler: &GeneralScaler,
    outcome: &mut Outcome,
    now: Timestamp,
) -> Result<(), ReconcileError> {
    let namespace = scaler.namespace().unwrap_or_default();
    let name = scaler.name_any();
    let key = (namespace.clone(), name.clone());
    let budget = budget(scaler);
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
        write_status(ctx, scaler, &intended, budget).await?;
        let target = &scaler.spec.target_ref;
        let made = match ctx
            .write(scaler, ctx.targets.scale(&namespace, target, decision.desired, budget))
            .await?
        {
            Err(lost) if lost.outcome_unknown() => {
                if read_back(ctx, &key, target, decision.desired, budget).await { Ok(()) } else { Err(lost) }
            }
            made => made,
        };
        match made {
            Ok(()) => {
                let up = decision.desired > decision.current;
                let counter = if up { &ctx.telemetry.scaled_up } else { &ctx.telemetry.scaled_down };
                counter.inc();
                tracing::info!(%namespace, scaler = %name, from = decision.current, to = decision.desired, "{report}");
                let reason = if up { names::SCALED_UP } else { names::SCALED_DOWN };
                let note = format!("{}/{}: {report}", target.kind, target.name);
                publish(ctx, scaler, EventType::Normal, reason, "Scale", &note, budget).await;
                announce_new_errors(ctx, scaler, &key, &intended, budget).await;
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
    announce_new_errors(ctx, scaler, &key, &new, budget).await;
    let heartbeat = jiff::SignedDuration::try_from(ctx.settings.status_heartbeat)
        .unwrap_or(jiff::SignedDuration::from_secs(600));
    let current = written.as_ref().or(scaler.status.as_ref());
    let uid = scaler.uid().unwrap_or_default();
    if status::needs_write(current, &new, now, heartbeat)
        || ctx.memory.days_unwritten(&key, &uid, status::forecast_days(&new))
    {
        write_status(ctx, scaler, &new, budget).await?;
    }
    // The scale failed: the error policy retries, backing off.
    failure.map_or(Ok(()), Err)
}

/// Whether a scale whose reply was lost was made, by `/scale` read back: made when it holds
/// `desired`; not made when it holds another count or cannot be read (the watch brings the true
/// count to the next decision either way).
async fn read_back(
    ctx: &Context,
    (namespace, name): &ScalerKey,
    target: &TargetRef,
    desired: i32,
    budget: Duration,
) -> bool {
    let what = format!("the reply to the scale of {}/{} to {desired} was lost", target.kind, target.name);
    match ctx.targets.read_back(namespace, target, budget).await {
        Ok(replicas) if replicas == desired => {
            tracing::warn!(%namespace, scaler = %name, "{what}; /scale read back holds {replicas}: recorded as made");
            true
        }
        Ok(replicas) => {
            tracing::warn!(%namespace, scaler = %name, "{what}; /scale read back holds {replicas}: recorded as not made");
            false
        }
        Err(e) => {
            tracing::warn!(%namespace, scaler = %name, error = %crate::explain::chain(&e), "{what}, and /scale could not be read back: recorded as not made");
            false
        }
    }
}

/// Write the scaler's status by server-side apply, through the leadership fence, within `budget`.
async fn write_status(
    ctx: &Context,
    scaler: &GeneralScaler,
    status: &crate::api::GeneralScalerStatus,
    budget: Duration,
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
    let what = || format!("PATCH generalscalers/{name}/status");
    let apply = Patch::Apply(&patch);
    let write = calls::within(budget, what, api.patch_status(&name, &params, &apply));
    ctx.write(scaler, write).await?.map_err(ReconcileError::Status)?;
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
    budget: Duration,
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
            publish(ctx, scaler, EventType::Warning, &c.reason, "Reconcile", &c.message, budget).await;
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
    budget: Duration,
) {
    let regarding = scaler.object_ref(&());
    let publish = ctx.events.publish(&regarding, event_type, reason, action, note);
    let publish = calls::within(budget, || format!("POST events ({reason})"), publish);
    match ctx.write(scaler, publish).await {
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

    use std::sync::Arc;

    use jiff::SignedDuration;
    use serde_json::{Value, json};

    use super::*;
    use crate::api::History;
    use crate::controller::mock::{Answer, Expect, expect, lost, scaler, serve};
    use crate::controller::reconcile::{Observation, decide_outcome};
    use crate::controller::targets::Replicas;
    use crate::controller::testing;
    use crate::metrics::Readings;

    const NOW: &str = "2026-12-01T09:00:00Z";

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

    #[tokio::test(start_paused = true)]
    async fn a_scale_whose_reply_never_comes_is_read_back_and_recorded_as_made() {
        let expected = vec![
            expect("PATCH", "/generalscalers/web/status", 200),
            lost("PATCH", "/deployments/web/scale", Answer::Never),
            expect("GET", "/deployments/web/scale", 200),
            expect("POST", "/events", 201),
        ];
        let started = tokio::time::Instant::now();
        let (result, outcome, bodies, memory) = act_with(&scaler(None), 2, 50.0, true, expected).await;
        result.unwrap();
        assert!(matches!(outcome, Outcome::Decided { scaled: true, .. }), "the scale is recorded as made");
        assert_eq!(bodies[3]["reason"], names::SCALED_UP);
        assert!(memory.unwrap().last_scale_up_time.is_some(), "and remembered, cooldown and all");
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(15),
            "the lost reply was waited for one interval (15 s)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_scale_whose_connection_drops_and_cannot_be_read_back_is_put_back() {
        let expected = vec![
            expect("PATCH", "/generalscalers/web/status", 200),
            lost("PATCH", "/deployments/web/scale", Answer::Hangup),
            expect("GET", "/deployments/web/scale", 503),
            expect("PATCH", "/generalscalers/web/status", 200),
        ];
        let (result, outcome, bodies, memory) = act_with(&scaler(None), 2, 50.0, true, expected).await;
        assert!(matches!(result, Err(ReconcileError::Scale(_))), "{result:?}");
        assert!(matches!(outcome, Outcome::Decided { scaled: false, .. }));
        assert_eq!(bodies[3]["status"]["lastScaleTime"], Value::Null, "not known to be made: put back");
        assert_eq!(memory, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_status_write_that_never_answers_ends_the_reconcile_at_its_interval() {
        let expected = vec![lost("PATCH", "/generalscalers/web/status", Answer::Never)];
        let (result, _, _, memory) = act_with(&scaler(None), 2, 50.0, true, expected).await;
        assert!(matches!(result, Err(ReconcileError::Status(_))), "{result:?}");
        assert_eq!(memory, None, "no scale after a status of unknown fate");
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
