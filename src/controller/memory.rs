//! The engine's memory of each scaler as of this process's last decision, per leadership term.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::ScalerKey;
use crate::api::History;

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
    /// By (namespace, name): the scaler's uid and the decision time of the last status this
    /// process wrote, to tell a cached copy that has not caught up with it.
    written: Mutex<HashMap<ScalerKey, (String, Timestamp)>>,
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
            .insert(key, (uid, term, history));
    }

    /// The term counter, for the campaign to bump at each change of leadership.
    pub fn term(&self) -> Arc<AtomicU64> {
        self.term.clone()
    }

    /// Drop what earlier terms remembered (it can no longer be read).
    pub fn prune_terms(&self) {
        let term = self.term.load(Ordering::SeqCst);
        self.by_key
            .lock()
            .expect("a poisoned lock means a panic elsewhere")
            .retain(|_, (_, at, _)| *at == term);
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
        written.get(key).filter(|(seen, _)| seen == uid).map(|(_, at)| *at)
    }

    /// Remember that a status with this decision time was written.
    pub fn set_written(&self, key: ScalerKey, uid: String, at: Timestamp) {
        self.written.lock().expect("a poisoned lock means a panic elsewhere").insert(key, (uid, at));
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
}
