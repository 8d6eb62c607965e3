//! Leader election on a `coordination.k8s.io/v1` Lease, so two daemons never fight over a scaler.
//!
//! The holder renews every `renew` and counts as gone once a follower has seen no renewal for
//! `duration` by its own clock (as client-go judges it: the daemons' clocks may disagree); the
//! holder steps down at two thirds of `duration` when it cannot renew, every call bounded by a
//! timeout. A follower takes over with an update carrying the Lease's resourceVersion, so of two
//! followers racing only one wins (the other gets 409). Releasing on shutdown lets a follower take
//! over at once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;

/// Lease timings.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    /// The Lease's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// This daemon's identity (host name and process id).
    pub identity: String,
    /// How long a holder is trusted after its last renewal.
    pub duration: Duration,
    /// How often the holder renews, and a follower retries.
    pub renew: Duration,
}

/// Leadership as seen by the rest of the daemon: `true` while this daemon leads.
pub type Leadership = watch::Receiver<bool>;

/// Until when this daemon may write to the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// No leader election (`--no-leader-election`, `--once`): always.
    Always,
    /// Leading: until the renew deadline of the last renewal, counted from when that renewal was
    /// sent, so the deadline falls before any follower may take over.
    Before(Instant),
    /// Not leading.
    Never,
}

/// A write refused or cut short because this daemon may no longer write.
#[derive(Debug, thiserror::Error)]
#[error(
    "not sent: this daemon may no longer write for this scaler (its Lease was lost or is past its renew deadline, or the scaler moved to another replica)"
)]
pub struct Fenced;

/// Every write to the cluster goes through the fence: refused unless this daemon leads, and cut at
/// the renew deadline of its last renewal, so no write of an old leader lands after a follower may
/// have taken over (within the API server's own processing time).
#[derive(Clone, Debug)]
pub struct Fence(watch::Receiver<Until>);

impl Fence {
    /// A fence that is always open: no leader election.
    pub fn open() -> Self {
        Self(watch::channel(Until::Always).1)
    }

    /// A closed fence and the sender the campaign opens it with.
    pub fn closed() -> (watch::Sender<Until>, Self) {
        let (tx, rx) = watch::channel(Until::Never);
        (tx, Self(rx))
    }

    /// Whether a write may start now.
    pub fn open_now(&self) -> bool {
        match *self.0.borrow() {
            Until::Always => true,
            Until::Before(deadline) => Instant::now() < deadline,
            Until::Never => false,
        }
    }

    /// Run `write` if this daemon may write now, and cut it at the deadline.
    pub async fn write<T>(&self, write: impl Future<Output = T>) -> Result<T, Fenced> {
        let now = *self.0.borrow();
        match now {
            Until::Always => return Ok(write.await),
            Until::Never => return Err(Fenced),
            Until::Before(deadline) if Instant::now() >= deadline => return Err(Fenced),
            Until::Before(_) => {}
        }
        let mut until = self.0.clone();
        tokio::pin!(write);
        loop {
            let current = *until.borrow_and_update();
            let deadline = match current {
                Until::Always => return Ok(write.await),
                Until::Never => return Err(Fenced),
                Until::Before(deadline) => deadline,
            };
            // A renewal moves the deadline on; losing the Lease ends the write at once.
            tokio::select! {
                result = &mut write => return Ok(result),
                () = tokio::time::sleep_until(deadline) => return Err(Fenced),
                changed = until.changed() => if changed.is_err() { return Err(Fenced) },
            }
        }
    }
}

/// Campaign for the Lease until `shutdown` fires; then release it if held.
pub async fn campaign(
    client: kube::Client,
    settings: LeaseSettings,
    leading: watch::Sender<bool>,
    fence: watch::Sender<Until>,
    term: Arc<AtomicU64>,
    mut shutdown: watch::Receiver<bool>,
) {
    let api: Api<Lease> = Api::namespaced(client, &settings.namespace);
    // A holder that cannot renew steps down well before a follower may take over.
    let renew_deadline = settings.duration.mul_f64(2.0 / 3.0);
    let mut last_renewed: Option<Instant> = None;
    let mut observed: Option<Observed> = None;
    loop {
        let lead = *leading.borrow();
        // Every call is bounded: a hung connection must not keep a holder leading past its deadline.
        let budget = match last_renewed {
            Some(t) if lead => renew_deadline.saturating_sub(t.elapsed()),
            _ => settings.renew,
        };
        // A follower starts counting from when it sees this renewal, which is after it was sent.
        let sent = Instant::now();
        let attempt = if budget.is_zero() {
            None
        } else {
            Some(tokio::time::timeout(budget, try_acquire_or_renew(&api, &settings, &mut observed)).await)
        };
        let held = match attempt {
            None => {
                tracing::warn!(lease = %settings.name, deadline = ?renew_deadline, "lease not renewed within its renew deadline; stepping down");
                false
            }
            Some(attempt) => match attempt {
                Ok(Ok(held)) => {
                    last_renewed = held.then_some(sent);
                    held
                }
                Ok(Err(e)) => {
                    tracing::warn!(lease = %settings.name, error = %e, "lease update failed");
                    last_renewed.is_some_and(|t| t.elapsed() < renew_deadline)
                }
                Err(_) => {
                    tracing::warn!(lease = %settings.name, after = ?budget, "lease update timed out");
                    last_renewed.is_some_and(|t| t.elapsed() < renew_deadline)
                }
            },
        };
        fence.send_replace(match last_renewed {
            Some(t) if held => Until::Before(t + renew_deadline),
            _ => Until::Never,
        });
        if lead != held {
            tracing::info!(lease = %settings.name, identity = %settings.identity, leading = held, "leadership changed");
            // A new term before anyone hears of it: what was remembered in the last one is stale.
            term.fetch_add(1, Ordering::SeqCst);
            leading.send_replace(held);
        }
        // A holder whose renewals keep failing wakes at its deadline to step down on time.
        let pause = match last_renewed {
            Some(t) if held => settings.renew.min(renew_deadline.saturating_sub(t.elapsed())),
            _ => settings.renew,
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
    }
    fence.send_replace(Until::Never);
    if *leading.borrow() {
        term.fetch_add(1, Ordering::SeqCst);
        leading.send_replace(false);
        if let Err(e) = release(&api, &settings).await {
            tracing::warn!(lease = %settings.name, error = %e, "could not release the lease");
        }
    }
}

/// The Lease as this daemon last saw it change, by its own clock. Expiry is judged from when a
/// renewal was seen, never from the holder's `renewTime`: the two daemons' clocks may disagree.
struct Observed {
    /// The Lease's resourceVersion: every renewal changes it.
    version: String,
    /// When this daemon first saw that version.
    at: Instant,
}

/// One round: take the Lease if free or expired, renew it if ours. Ok(true) while we hold it.
async fn try_acquire_or_renew(
    api: &Api<Lease>,
    s: &LeaseSettings,
    observed: &mut Option<Observed>,
) -> Result<bool, kube::Error> {
    let now = Timestamp::now();
    let Some(mut lease) = api.get_opt(&s.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta { name: Some(s.name.clone()), ..ObjectMeta::default() },
            spec: Some(spec_for(s, now, Some(now), 0)),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    let version = lease.metadata.resource_version.clone().unwrap_or_default();
    if observed.as_ref().is_none_or(|o| o.version != version) {
        *observed = Some(Observed { version, at: Instant::now() });
    }
    let spec = lease.spec.clone().unwrap_or_default();
    let ours = spec.holder_identity.as_deref() == Some(s.identity.as_str());
    let holder_empty = spec.holder_identity.as_deref().is_none_or(str::is_empty);
    let duration = duration_of(&spec, s);
    let expired = observed.as_ref().is_none_or(|o| o.at.elapsed() > duration);
    if !ours && !holder_empty && !expired {
        return Ok(false);
    }
    let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!ours);
    let acquired = if ours { spec.acquire_time.map(|t| t.0) } else { Some(now) };
    lease.spec = Some(spec_for(s, now, acquired, transitions));
    // replace carries the resourceVersion we read: a concurrent taker makes this a 409.
    match api.replace(&s.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// The Lease's holder, if one holds it and renewed it within its duration: what a one-shot pass
/// (`run --once`) checks before acting. It reads the Lease once, so it can only judge by the
/// holder's `renewTime` against this clock.
pub async fn live_holder(client: &kube::Client, s: &LeaseSettings) -> Result<Option<String>, kube::Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &s.namespace);
    let Some(spec) = api.get_opt(&s.name).await?.and_then(|l| l.spec) else { return Ok(None) };
    let duration = duration_of(&spec, s);
    let Some(holder) = spec.holder_identity.filter(|h| !h.is_empty()) else { return Ok(None) };
    let renewed = spec.renew_time.or(spec.acquire_time).map(|t| t.0);
    let live =
        renewed.is_some_and(|t| Timestamp::now().duration_since(t).as_secs_f64() <= duration.as_secs_f64());
    Ok(live.then_some(holder))
}

/// The Lease's own duration (its holder's setting), or ours when it names none.
fn duration_of(spec: &LeaseSpec, s: &LeaseSettings) -> Duration {
    spec.lease_duration_seconds.map_or(s.duration, |d| Duration::from_secs(d.max(1) as u64))
}

fn spec_for(s: &LeaseSettings, now: Timestamp, acquired: Option<Timestamp>, transitions: i32) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(s.identity.clone()),
        lease_duration_seconds: Some(s.duration.as_secs().max(1) as i32),
        acquire_time: acquired.map(MicroTime),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    }
}

async fn release(api: &Api<Lease>, s: &LeaseSettings) -> Result<(), kube::Error> {
    let Some(mut lease) = api.get_opt(&s.name).await? else { return Ok(()) };
    let Some(spec) = lease.spec.as_mut() else { return Ok(()) };
    if spec.holder_identity.as_deref() != Some(s.identity.as_str()) {
        return Ok(());
    }
    spec.holder_identity = None;
    spec.renew_time = None;
    api.replace(&s.name, &PostParams::default(), &lease).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_closed_fence_sends_nothing() {
        let (_tx, fence) = Fence::closed();
        let mut sent = false;
        let result = fence.write(async { sent = true }).await;
        assert!(result.is_err());
        assert!(!sent, "the write was never started");
        assert!(Fence::open().write(async { 5 }).await.is_ok_and(|v| v == 5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_is_cut_at_the_renew_deadline_unless_a_renewal_moves_it() {
        let (tx, fence) = Fence::closed();
        tx.send_replace(Until::Before(Instant::now() + Duration::from_secs(2)));
        let slow = tokio::time::sleep(Duration::from_secs(5));
        assert!(fence.write(slow).await.is_err(), "a write still pending at the deadline is dropped");

        tx.send_replace(Until::Before(Instant::now() + Duration::from_secs(2)));
        let renew = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tx.send_replace(Until::Before(Instant::now() + Duration::from_secs(10)));
        };
        let (result, ()) = tokio::join!(fence.write(tokio::time::sleep(Duration::from_secs(5))), renew);
        assert!(result.is_ok(), "the renewal moved the deadline past the write");

        tx.send_replace(Until::Before(Instant::now() + Duration::from_secs(10)));
        let lose = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tx.send_replace(Until::Never);
        };
        let started = Instant::now();
        let (result, ()) = tokio::join!(fence.write(tokio::time::sleep(Duration::from_secs(5))), lose);
        assert!(result.is_err());
        assert_eq!(started.elapsed(), Duration::from_secs(1), "cut when the Lease was lost, not later");
        assert!(!fence.open_now());
    }
}
