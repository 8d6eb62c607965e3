//! The engine's memory of each scaler as of this process's last decision, per leadership term.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;

use super::ScalerKey;
use crate::api::{ForecastHistory, GeneralScaler, History};

/// A status this process wrote: the scaler's uid, its decision time and its whole days of history.
type Written = (String, Timestamp, Option<i64>);

/// The engine's memory (`History`) of each scaler as of this process's last decision for it.
///
/// Status carries the same memory across restarts, but it is written only when something besides
/// its timestamps changed (and on a heartbeat): in steady state the time of the standing
/// recommendation there can be minutes old while the count was recommended a tick ago. Deciding
/// from status would let that recommendation leave the scale-down window early and shrink the
/// workload at the first dip. So decisions read this memory, and status only on first sight.
///
/// While another daemon leads, it decides and writes status: what this one remembers goes stale.
/// So each change of leadership starts a new term, and only the current term's memory is read.
#[derive(Default)]
pub struct Memory {
    /// By (namespace, name): the scaler's uid (a scaler recreated under the same name starts
    /// afresh), the term it was remembered in, and its history.
    by_key: Mutex<HashMap<ScalerKey, (String, u64, History)>>,
    /// The current term: bumped by the Lease campaign before it announces a change of leadership,
    /// so no reconcile of the new term can read the old term's memory.
    term: Arc<AtomicU64>,
    /// By (namespace, name): the conditions of the last status built, whether or not it was
    /// written, so an Event announces a change once (not again at every retry); each as a hash of
    /// its type, status and reason (a condition's message can be a kilobyte: 10,000 of them add up).
    conditions: Mutex<HashMap<ScalerKey, Vec<u64>>>,
    /// By (namespace, name): the scaler's uid, the decision time of the last status this process
    /// wrote (to tell a cached copy that has not caught up with it, or is that write coming back)
    /// and the whole days of forecast history it carried.
    written: Mutex<HashMap<ScalerKey, Written>>,
    /// By (namespace, name): the forecaster's history taken out of the cached object (with its
    /// uid), kept only while this term's memory does not hold the scaler. A forecasting scaler's
    /// history is about 10 KiB decoded; the cache and the memory each holding it doubled what
    /// 10,000 forecasting scalers cost. See [`Memory::strip_forecast`].
    stripped: Mutex<HashMap<ScalerKey, (String, ForecastHistory)>>,
    /// Scalers whose history set aside was dropped because this daemon stopped serving them
    /// (automatic shards moved them away): if one comes back, its status is read afresh before a
    /// status is built over the cached copy, which lacks the history.
    dropped: Mutex<std::collections::HashSet<ScalerKey>>,
}

impl Memory {
    /// The history remembered for this scaler in this term, if it is the same object (same uid).
    pub fn get(&self, key: &ScalerKey, uid: &str) -> Option<History> {
        let term = self.term.load(Ordering::SeqCst);
        let memory = self.by_key.lock().expect("a poisoned lock means a panic elsewhere");
        memory
            .get(key)
            .filter(|(seen, at, _)| seen == uid && *at == term)
            .map(|(_, _, history)| history.clone())
    }

    /// Remember the history after a decision.
    pub fn put(&self, key: ScalerKey, uid: String, history: History) {
        let term = self.term.load(Ordering::SeqCst);
        self.by_key
            .lock()
            .expect("a poisoned lock means a panic elsewhere")
            .insert(key.clone(), (uid, term, history));
        // After the memory holds it: a copy set aside meanwhile is removed here, or dropped by the
        // next copy that comes back (see `strip_forecast`).
        self.stripped.lock().expect("a poisoned lock means a panic elsewhere").remove(&key);
    }

    /// On the way into the watch cache: take the forecaster's history out of a scaler's status.
    /// A status this process wrote coming back, while this term's memory holds the scaler, is
    /// dropped (the memory's is as new or newer); any other (first sight, a follower, another
    /// leader's write, a takeover) is kept aside, replacing what was, for
    /// [`Memory::restore_forecast`] to put back. A status without one leaves nothing aside. So each
    /// history is held once.
    pub fn strip_forecast(&self, scaler: &mut GeneralScaler) {
        let Some(status) = scaler.status.as_mut() else { return };
        let forecast = status.history.forecast.take();
        let decided = status.last_decision.as_ref().map(|d| d.time);
        let key = (scaler.namespace().unwrap_or_default(), scaler.name_any());
        let uid = scaler.uid().unwrap_or_default();
        // Held while deciding, so a `put` cannot fall between the test and the insert.
        let mut stripped = self.stripped.lock().expect("a poisoned lock means a panic elsewhere");
        let Some(forecast) = forecast else {
            stripped.remove(&key);
            return;
        };
        self.dropped.lock().expect("a poisoned lock means a panic elsewhere").remove(&key);
        let term = self.term.load(Ordering::SeqCst);
        let held = self
            .by_key
            .lock()
            .expect("a poisoned lock means a panic elsewhere")
            .get(&key)
            .is_some_and(|(seen, at, _)| *seen == uid && *at == term);
        let ours = decided.is_some_and(|t| self.written(&key, &uid).is_some_and(|w| t <= w));
        if held && ours {
            stripped.remove(&key);
        } else {
            stripped.insert(key, (uid, forecast));
        }
    }

    /// The cached scaler with its forecaster's history back in its status, as the API server has
    /// it (or newer): this term's memory of it, else the copy kept aside, else an earlier term's
    /// memory. Status is built over this object, so a write never drops the history.
    pub fn restore_forecast(&self, key: &ScalerKey, scaler: Arc<GeneralScaler>) -> Arc<GeneralScaler> {
        if scaler.status.as_ref().is_none_or(|s| s.history.forecast.is_some()) {
            return scaler;
        }
        let uid = scaler.uid().unwrap_or_default();
        let term = self.term.load(Ordering::SeqCst);
        let remembered = |current: bool| {
            let memory = self.by_key.lock().expect("a poisoned lock means a panic elsewhere");
            let (seen, at, history) = memory.get(key)?;
            (*seen == uid && (!current || *at == term)).then(|| history.forecast.clone()).flatten()
        };
        let aside = || {
            let stripped = self.stripped.lock().expect("a poisoned lock means a panic elsewhere");
            stripped.get(key).filter(|(seen, _)| *seen == uid).map(|(_, forecast)| forecast.clone())
        };
        let Some(forecast) = remembered(true).or_else(aside).or_else(|| remembered(false)) else {
            return scaler;
        };
        let mut scaler = Arc::unwrap_or_clone(scaler);
        if let Some(status) = scaler.status.as_mut() {
            status.history.forecast = Some(forecast);
        }
        Arc::new(scaler)
    }

    /// The term counter, for the campaign to bump at each change of leadership.
    pub fn term(&self) -> Arc<AtomicU64> {
        self.term.clone()
    }

    /// Drop what earlier terms remembered (it can no longer be read), but keep their forecasters'
    /// histories aside where the watch has not brought a newer one: the cache no longer has them.
    pub fn prune_terms(&self) {
        let term = self.term.load(Ordering::SeqCst);
        let mut old = Vec::new();
        self.by_key.lock().expect("a poisoned lock means a panic elsewhere").retain(
            |key, (uid, at, history)| {
                if *at == term {
                    return true;
                }
                if let Some(forecast) = history.forecast.take() {
                    old.push((key.clone(), (std::mem::take(uid), forecast)));
                }
                false
            },
        );
        let mut stripped = self.stripped.lock().expect("a poisoned lock means a panic elsewhere");
        for (key, kept) in old {
            stripped.entry(key).or_insert(kept);
        }
    }

    /// The conditions last built for this scaler by this process, as [`condition_key`]s.
    pub fn conditions(&self, key: &ScalerKey) -> Option<Vec<u64>> {
        self.conditions.lock().expect("a poisoned lock means a panic elsewhere").get(key).cloned()
    }

    /// Remember the conditions just built for this scaler.
    pub fn set_conditions(&self, key: ScalerKey, conditions: &[Condition]) {
        let keys = conditions.iter().map(condition_key).collect();
        self.conditions.lock().expect("a poisoned lock means a panic elsewhere").insert(key, keys);
    }

    /// The decision time of the last status this process wrote for this scaler (same uid).
    pub fn written(&self, key: &ScalerKey, uid: &str) -> Option<Timestamp> {
        let written = self.written.lock().expect("a poisoned lock means a panic elsewhere");
        written.get(key).filter(|(seen, _, _)| seen == uid).map(|(_, at, _)| *at)
    }

    /// Whether the last status this process wrote for this scaler carried other whole days of
    /// forecast history than `days`: a write that gained a day and failed is owed, though the
    /// memory (which status is built over) already has the day.
    pub fn days_unwritten(&self, key: &ScalerKey, uid: &str, days: Option<i64>) -> bool {
        let written = self.written.lock().expect("a poisoned lock means a panic elsewhere");
        written.get(key).is_some_and(|(seen, _, had)| seen == uid && *had != days)
    }

    /// Remember that a status with this decision time and these whole days of history was written.
    pub fn set_written(&self, key: ScalerKey, uid: String, at: Timestamp, days: Option<i64>) {
        self.written.lock().expect("a poisoned lock means a panic elsewhere").insert(key, (uid, at, days));
    }

    /// Keep only the scalers that still exist.
    pub fn retain(&self, live: &std::collections::HashSet<ScalerKey>) {
        self.by_key
            .lock()
            .expect("a poisoned lock means a panic elsewhere")
            .retain(|key, _| live.contains(key));
        self.conditions
            .lock()
            .expect("a poisoned lock means a panic elsewhere")
            .retain(|key, _| live.contains(key));
        self.written
            .lock()
            .expect("a poisoned lock means a panic elsewhere")
            .retain(|key, _| live.contains(key));
        let mut dropped = self.dropped.lock().expect("a poisoned lock means a panic elsewhere");
        self.stripped.lock().expect("a poisoned lock means a panic elsewhere").retain(|key, _| {
            let keep = live.contains(key);
            if !keep {
                dropped.insert(key.clone());
            }
            keep
        });
    }

    /// Whether this scaler's history set aside was dropped while another replica served it (then
    /// its status must be read afresh).
    pub fn dropped(&self, key: &ScalerKey) -> bool {
        self.dropped.lock().expect("a poisoned lock means a panic elsewhere").contains(key)
    }

    /// Its status was read afresh: what [`Memory::dropped`] asked for is done.
    pub fn refreshed(&self, key: &ScalerKey) {
        self.dropped.lock().expect("a poisoned lock means a panic elsewhere").remove(key);
    }

    /// Forget that this deleted scaler's history was dropped.
    pub fn forget_dropped(&self, live: &std::collections::HashSet<ScalerKey>) {
        self.dropped
            .lock()
            .expect("a poisoned lock means a panic elsewhere")
            .retain(|key| live.contains(key));
    }
}

/// A condition's type, status and reason as one number: what tells a change worth an Event.
pub fn condition_key(c: &Condition) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (&c.type_, &c.status, &c.reason).hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_per_object_and_per_term() {
        let memory = Memory::default();
        let key = ("ns".to_string(), "web".to_string());
        let history = History { consecutive_failures: 2, ..History::default() };
        memory.put(key.clone(), "uid-1".into(), history.clone());
        assert_eq!(memory.get(&key, "uid-1"), Some(history.clone()));
        assert_eq!(memory.get(&key, "uid-2"), None, "a scaler recreated under the same name starts afresh");
        memory.term().fetch_add(1, Ordering::SeqCst);
        assert_eq!(memory.get(&key, "uid-1"), None, "another leader decided meanwhile: status knows better");
        memory.put(key.clone(), "uid-1".into(), history.clone());
        memory.retain(&std::collections::HashSet::new());
        assert_eq!(memory.get(&key, "uid-1"), None, "a deleted scaler is forgotten");
    }

    fn forecasting(minutes: i64) -> GeneralScaler {
        let mut scaler: GeneralScaler = serde_json::from_value(serde_json::json!({
            "apiVersion": crate::api::API_VERSION, "kind": "GeneralScaler",
            "metadata": {"name": "web", "namespace": "ns", "uid": "uid-1"},
            "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "maxReplicas": 10, "forecast": {"mode": "On"},
                     "metric": {"type": "redis", "targetValue": 10, "redis": {"host": "r", "queueName": "q"}}},
            "status": {}
        }))
        .unwrap();
        let start: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let points = (0..minutes).map(|m| (start + jiff::SignedDuration::from_mins(m), 100.0));
        let forecast = ForecastHistory::from_series(&scaler.spec, points);
        scaler.status.as_mut().unwrap().history.forecast = Some(forecast);
        scaler
    }

    fn forecast_of(scaler: &GeneralScaler) -> Option<&ForecastHistory> {
        scaler.status.as_ref()?.history.forecast.as_ref()
    }

    #[test]
    fn a_forecast_history_is_held_once_and_always_put_back() {
        let memory = Memory::default();
        let key = ("ns".to_string(), "web".to_string());
        let listed = forecasting(120);
        let full = forecast_of(&listed).cloned();

        // First sight: taken out of the cached copy, kept aside, put back for the reconcile.
        let mut cached = listed.clone();
        memory.strip_forecast(&mut cached);
        assert_eq!(forecast_of(&cached), None, "the cache holds no history");
        let seen = memory.restore_forecast(&key, Arc::new(cached.clone()));
        assert_eq!(forecast_of(&seen), full.as_ref(), "the reconcile sees it as the API server has it");

        // Decided: the memory holds it, the copy aside is gone, and our own write coming back is
        // dropped on the way in.
        let mut learnt = seen.status.clone().unwrap().history;
        learnt.forecast.as_mut().unwrap().record("2026-12-01T03:00:00Z".parse().unwrap(), 100.0);
        memory.put(key.clone(), "uid-1".into(), learnt.clone());
        assert!(memory.stripped.lock().unwrap().is_empty(), "held once");
        let decided = |mut scaler: GeneralScaler, at: &str| {
            let time: Timestamp = at.parse().unwrap();
            let record = crate::api::DecisionRecord { time, from: 1, to: 1, reason: String::new() };
            scaler.status.as_mut().unwrap().last_decision = Some(record);
            scaler
        };
        memory.set_written(key.clone(), "uid-1".into(), "2026-12-01T03:00:00Z".parse().unwrap(), Some(0));
        let mut echo = decided(listed.clone(), "2026-12-01T03:00:00Z");
        memory.strip_forecast(&mut echo);
        assert_eq!(forecast_of(&echo), None);
        assert!(memory.stripped.lock().unwrap().is_empty(), "our own write: the memory's is as new");
        let seen = memory.restore_forecast(&key, Arc::new(echo.clone()));
        assert_eq!(forecast_of(&seen), learnt.forecast.as_ref(), "put back from the memory");
        assert!(!memory.days_unwritten(&key, "uid-1", Some(0)));
        assert!(memory.days_unwritten(&key, "uid-1", Some(1)), "a day gained and not yet written is owed");

        // A write that is not ours (a reconcile of the old term stored its memory as the term
        // turned, and another daemon leads): kept aside, not dropped.
        let mut theirs = decided(forecasting(150), "2026-12-01T04:00:00Z");
        memory.strip_forecast(&mut theirs);
        assert_eq!(memory.stripped.lock().unwrap().len(), 1, "another leader's write is kept");
        memory.put(key.clone(), "uid-1".into(), learnt.clone());

        // Leadership changes: the earlier term's history is kept aside until the watch brings newer.
        memory.term().fetch_add(1, Ordering::SeqCst);
        memory.prune_terms();
        assert_eq!(memory.get(&key, "uid-1"), None);
        let seen = memory.restore_forecast(&key, Arc::new(echo.clone()));
        assert_eq!(forecast_of(&seen), learnt.forecast.as_ref(), "the earlier term's, kept aside");
        let mut newer = forecasting(180);
        let newest = forecast_of(&newer).cloned();
        memory.strip_forecast(&mut newer);
        let seen = memory.restore_forecast(&key, Arc::new(newer));
        assert_eq!(forecast_of(&seen), newest.as_ref(), "what the new leader wrote");

        // A status without history leaves nothing aside.
        let mut off = listed.clone();
        off.status.as_mut().unwrap().history.forecast = None;
        memory.strip_forecast(&mut off);
        assert!(memory.stripped.lock().unwrap().is_empty(), "no stale copy to put back");

        // A scaler recreated under the same name gets nothing of the old one's.
        let mut other = echo.clone();
        other.metadata.uid = Some("uid-2".into());
        assert_eq!(forecast_of(&memory.restore_forecast(&key, Arc::new(other))), None);
        memory.retain(&std::collections::HashSet::new());
        assert!(memory.stripped.lock().unwrap().is_empty(), "a deleted scaler is forgotten");
    }
}
