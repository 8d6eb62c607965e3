//! One owner per target. Two autoscalers on one workload fight (7, 3, 7, 3 every few seconds)
//! and each looks healthy, so gscale refuses the second: of two GeneralScalers on one target the
//! older owns it (then the smaller name); a HorizontalPodAutoscaler on the target (KEDA makes one
//! for each ScaledObject) owns it before any GeneralScaler. The one that does not own it reports
//! `Ready=False TargetConflict` naming the owner, and does not act.
//!
//! Claims made as scalers are reconciled depend on which reconcile runs first, so a newer scaler
//! could act at a start before the older one claimed the target. [`Owners::settle`] makes every
//! claim from the whole cache at once, and reconciles wait for it ([`Owners::settled`]) at each
//! start, each leadership term, and whenever the scalers a daemon serves change.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};

use super::ScalerKey;
use crate::api::GeneralScaler;

/// (namespace, kind, name) of a scale target; the kind without its API group, as HPAs name it.
type TargetKey = (String, String, String);

/// Which GeneralScaler owns each target, and the targets other autoscalers hold.
pub struct Owners {
    scalers: Mutex<Claims>,
    /// Targets an HPA scales, with who made it ("HorizontalPodAutoscaler ns/x" or the ScaledObject).
    foreign: Mutex<HashMap<TargetKey, String>>,
    /// The leadership term (the Lease campaign's counter): each term settles its claims anew.
    term: Arc<AtomicU64>,
    /// Bumped by [`Owners::unsettle`]: the scalers this daemon serves changed within the term.
    moves: AtomicU64,
    /// The (term, moves) the claims were last settled for.
    settled: watch::Sender<Option<(u64, u64)>>,
}

impl Default for Owners {
    /// Owners in a term counter of their own (tests, a `--once` pass).
    fn default() -> Self {
        Self::new(Arc::default())
    }
}

#[derive(Default)]
struct Claims {
    /// By target: the owning scaler, its creation time and name (the rank: older, then smaller).
    by_target: HashMap<TargetKey, (ScalerKey, Option<Timestamp>)>,
    /// By scaler: the target it claimed, so a scaler that changes its target lets the old one go.
    by_scaler: HashMap<ScalerKey, TargetKey>,
}

impl Owners {
    /// Owners whose claims are settled anew in each term of `term` (the campaign's counter).
    pub fn new(term: Arc<AtomicU64>) -> Self {
        Self {
            scalers: Mutex::default(),
            foreign: Mutex::default(),
            term,
            moves: AtomicU64::new(0),
            settled: watch::channel(None).0,
        }
    }

    fn wanted(&self) -> (u64, u64) {
        (self.term.load(Ordering::SeqCst), self.moves.load(Ordering::SeqCst))
    }

    /// Settle ownership from the whole cache: each target's owner becomes its oldest GeneralScaler
    /// (then the smaller name) among `scalers`, whatever order they were seen in, and claims made
    /// before are dropped. Pass every scaler of the cache, not only those this daemon acts on (a
    /// scaler of another shard can own a target too). Reconciles wait at [`Owners::settled`] for
    /// it at each start and each leadership term; when the scalers this daemon serves change
    /// within a term (shards moved), call [`Owners::unsettle`] first and this once the cache holds
    /// the new state.
    pub fn settle<'a>(&self, scalers: impl IntoIterator<Item = &'a GeneralScaler>) {
        let mark = self.wanted();
        let fresh = Owners::default();
        let mut ranked: Vec<&GeneralScaler> = scalers.into_iter().collect();
        // Oldest first: each claim then stands, and no newer scaler holds a target even for a moment.
        ranked.sort_by_key(|s| (s.metadata.creation_timestamp.as_ref().map(|t| t.0), s.name_any()));
        for scaler in ranked {
            let _ = fresh.claim(&(scaler.namespace().unwrap_or_default(), scaler.name_any()), scaler);
        }
        let claims = fresh.scalers.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        *self.scalers.lock().expect("a poisoned lock means a panic elsewhere") = claims;
        self.settled.send_replace(Some(mark));
    }

    /// The scalers this daemon serves are about to change: reconciles wait at [`Owners::settled`]
    /// until the next [`Owners::settle`].
    pub fn unsettle(&self) {
        self.moves.fetch_add(1, Ordering::SeqCst);
        self.settled.send_modify(|_| {});
    }

    /// Whether the claims were settled for the current term and serving.
    pub fn is_settled(&self) -> bool {
        *self.settled.borrow() == Some(self.wanted())
    }

    /// Wait until the claims have been settled for the current term and serving.
    pub async fn settled(&self) {
        let mut settled = self.settled.subscribe();
        loop {
            if *settled.borrow_and_update() == Some(self.wanted()) {
                return;
            }
            if settled.changed().await.is_err() {
                return;
            }
        }
    }

    /// Claim the target of `scaler` (whose key is `me`); `Err` names the owner when another has it.
    pub fn claim(&self, me: &ScalerKey, scaler: &GeneralScaler) -> Result<(), String> {
        let target = &scaler.spec.target_ref;
        let key = || -> TargetKey { (me.0.clone(), target.kind.clone(), target.name.clone()) };
        {
            let foreign = self.foreign.lock().expect("a poisoned lock means a panic elsewhere");
            if let Some(owner) = (!foreign.is_empty()).then(|| foreign.get(&key())).flatten() {
                return Err(format!(
                    "{owner} already scales {}/{}: two autoscalers on one target fight; delete one of them (gscale import converts an HPA or a ScaledObject)",
                    target.kind, target.name
                ));
            }
        }
        let created = scaler.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let mut claims = self.scalers.lock().expect("a poisoned lock means a panic elsewhere");
        // Already the owner of this very target: nothing to allocate or change (every tick).
        let claimed = claims.by_scaler.get(me).filter(|(namespace, kind, name)| {
            *namespace == me.0 && *kind == target.kind && *name == target.name
        });
        if claimed
            .and_then(|k| claims.by_target.get(k))
            .is_some_and(|(owner, at)| owner == me && *at == created)
        {
            return Ok(());
        }
        let key = key();
        if let Some(old) = claims.by_scaler.get(me).filter(|old| **old != key).cloned() {
            claims.by_target.remove(&old);
        }
        match claims.by_target.get(&key) {
            Some((owner, owner_created)) if owner != me && (*owner_created, &owner.1) <= (created, &me.1) => {
                Err(format!(
                    "GeneralScaler {} already scales {}/{}: two scalers on one target fight; delete or retarget one of them",
                    owner.1, target.kind, target.name
                ))
            }
            _ => {
                claims.by_target.insert(key.clone(), (me.clone(), created));
                claims.by_scaler.insert(me.clone(), key);
                Ok(())
            }
        }
    }

    /// Forget the claims of scalers that no longer exist.
    pub fn retain(&self, live: &HashSet<ScalerKey>) {
        let mut claims = self.scalers.lock().expect("a poisoned lock means a panic elsewhere");
        claims.by_target.retain(|_, (owner, _)| live.contains(owner));
        claims.by_scaler.retain(|scaler, _| live.contains(scaler));
    }

    /// Keep the HPA-held targets in step with a watch of HPAs, until the watch ends.
    pub async fn follow_hpas(&self, api: Api<HorizontalPodAutoscaler>) {
        let mut pending = HashMap::new();
        let mut events =
            watcher::watcher(api, watcher::Config::default().any_semantic()).default_backoff().boxed();
        let mut warned = false;
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(event) => event,
                Err(e) => {
                    // Usually RBAC (list/watch horizontalpodautoscalers): say so once, then keep trying.
                    if !std::mem::replace(&mut warned, true) {
                        tracing::warn!(error = %crate::explain::chain(&e), "cannot watch HorizontalPodAutoscalers (allow list and watch on them): a target an HPA or KEDA also scales will not be detected");
                    }
                    continue;
                }
            };
            let foreign = || self.foreign.lock().expect("a poisoned lock means a panic elsewhere");
            match event {
                Event::Apply(hpa) => {
                    let (key, owner) = held_by(&hpa);
                    foreign().insert(key, owner);
                }
                Event::Delete(hpa) => {
                    foreign().remove(&held_by(&hpa).0);
                }
                Event::Init => pending.clear(),
                Event::InitApply(hpa) => {
                    let (key, owner) = held_by(&hpa);
                    pending.insert(key, owner);
                }
                Event::InitDone => *foreign() = std::mem::take(&mut pending),
            }
        }
    }
}

impl Owners {
    /// Read the HPAs once (a `--once` pass); an error is logged and the check skipped.
    pub async fn load_hpas(&self, api: Api<HorizontalPodAutoscaler>) {
        match api.list(&Default::default()).await {
            Ok(list) => {
                *self.foreign.lock().expect("a poisoned lock means a panic elsewhere") =
                    list.items.iter().map(held_by).collect();
            }
            Err(e) => {
                tracing::warn!(error = %crate::explain::chain(&e), "cannot list HorizontalPodAutoscalers (allow list on them): a target an HPA or KEDA also scales will not be detected");
            }
        }
    }
}

/// The target an HPA scales, and who to name for it: the KEDA ScaledObject that made it, if one did.
fn held_by(hpa: &HorizontalPodAutoscaler) -> (TargetKey, String) {
    let namespace = hpa.namespace().unwrap_or_default();
    let target = &hpa.spec.scale_target_ref;
    let (kind, name) = (target.kind.clone(), target.name.clone());
    let owner = hpa
        .owner_references()
        .iter()
        .find(|o| o.kind == "ScaledObject")
        .map(|o| format!("KEDA ScaledObject {namespace}/{}", o.name))
        .unwrap_or_else(|| format!("HorizontalPodAutoscaler {namespace}/{}", hpa.name_any()));
    ((namespace, kind, name), owner)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn scaler(name: &str, created: &str, target: &str) -> GeneralScaler {
        serde_json::from_value(json!({
            "apiVersion": crate::api::API_VERSION, "kind": "GeneralScaler",
            "metadata": {"name": name, "namespace": "ns", "creationTimestamp": created},
            "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                     "maxReplicas": 10,
                     "metric": {"type": "redis", "targetValue": 10, "redis": {"host": "r", "queueName": "q"}}}
        }))
        .unwrap()
    }

    fn claim(owners: &Owners, scaler: &GeneralScaler) -> Result<(), String> {
        owners.claim(&(scaler.namespace().unwrap_or_default(), scaler.name_any()), scaler)
    }

    #[test]
    fn the_older_scaler_owns_a_target_whichever_is_seen_first() {
        let owners = Owners::default();
        let (old, new) =
            (scaler("b-old", "2026-01-01T00:00:00Z", "web"), scaler("a-new", "2026-02-01T00:00:00Z", "web"));
        claim(&owners, &new).unwrap();
        claim(&owners, &old).unwrap();
        let refused = claim(&owners, &new).unwrap_err();
        assert!(refused.contains("GeneralScaler b-old already scales Deployment/web"), "{refused}");
        assert!(claim(&owners, &old).is_ok(), "the owner goes on");
        assert!(
            claim(&owners, &scaler("c", "2026-03-01T00:00:00Z", "api")).is_ok(),
            "other targets are free"
        );
    }

    #[test]
    fn a_deleted_or_retargeted_owner_lets_the_target_go() {
        let owners = Owners::default();
        let (old, new) =
            (scaler("old", "2026-01-01T00:00:00Z", "web"), scaler("new", "2026-02-01T00:00:00Z", "web"));
        claim(&owners, &old).unwrap();
        assert!(claim(&owners, &new).is_err());
        claim(&owners, &scaler("old", "2026-01-01T00:00:00Z", "elsewhere")).unwrap();
        assert!(claim(&owners, &new).is_ok(), "retargeted");
        claim(&owners, &old).unwrap();
        assert!(claim(&owners, &new).is_err(), "back on the target, the older takes it back");
        owners.retain(&HashSet::from([("ns".to_string(), "new".to_string())]));
        assert!(claim(&owners, &new).is_ok(), "the deleted one's claim is gone");
    }

    #[test]
    fn settling_from_the_cache_gives_each_target_to_its_oldest_scaler_and_drops_stale_claims() {
        let owners = Owners::default();
        let (old, new) =
            (scaler("z-old", "2026-01-01T00:00:00Z", "web"), scaler("a-new", "2026-02-01T00:00:00Z", "web"));
        let gone = scaler("gone", "2025-01-01T00:00:00Z", "api");
        claim(&owners, &gone).unwrap();
        owners.settle([&new, &old]);
        let refused = claim(&owners, &new).unwrap_err();
        assert!(refused.contains("GeneralScaler z-old already scales Deployment/web"), "{refused}");
        assert!(
            claim(&owners, &scaler("b", "2026-03-01T00:00:00Z", "api")).is_ok(),
            "gone's claim was dropped"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn reconciles_wait_for_claims_settled_in_their_term_and_serving() {
        let term = Arc::new(AtomicU64::new(0));
        let owners = Arc::new(Owners::new(term.clone()));
        let waiting = tokio::spawn({
            let owners = owners.clone();
            async move { owners.settled().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "not settled yet");
        owners.settle([]);
        waiting.await.unwrap();
        assert!(owners.is_settled());
        term.fetch_add(1, Ordering::SeqCst);
        assert!(!owners.is_settled(), "a new term settles anew");
        owners.settle([]);
        owners.unsettle();
        assert!(!owners.is_settled(), "shards moved: settle again");
        let wait = std::time::Duration::from_secs(1);
        assert!(tokio::time::timeout(wait, owners.settled()).await.is_err());
        owners.settle([]);
        assert!(tokio::time::timeout(wait, owners.settled()).await.is_ok());
    }

    #[test]
    fn an_hpa_or_a_scaled_object_owns_its_target() {
        let owners = Owners::default();
        let hpa: HorizontalPodAutoscaler = serde_json::from_value(json!({
            "metadata": {"name": "keda-hpa-web", "namespace": "ns",
                         "ownerReferences": [{"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": "web", "uid": "u"}]},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5}
        }))
        .unwrap();
        let (key, owner) = held_by(&hpa);
        owners.foreign.lock().unwrap().insert(key, owner);
        let refused = claim(&owners, &scaler("mine", "2026-01-01T00:00:00Z", "web")).unwrap_err();
        assert!(refused.starts_with("KEDA ScaledObject ns/web already scales Deployment/web"), "{refused}");
    }
}
