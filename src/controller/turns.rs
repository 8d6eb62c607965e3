//! Turns: how many reconciles run at once, and how many of them one namespace may hold, so one
//! tenant whose metrics hang (each read up to its `timeoutSeconds`) cannot hold every slot while
//! the scalers of other namespaces wait.
//!
//! A reconcile takes a turn of its namespace, then one of the daemon's; both are fair queues
//! (first come, first served). The controller itself runs every due reconcile at once: a reconcile
//! waiting for its turn is a small future (the scaler and two queue places), and the work that
//! needs memory and the API starts only with the turn.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Reconciles in flight at once, over every namespace.
pub const DEFAULT_TURNS: usize = 256;

/// Reconciles one namespace may have in flight at once (`gscale run --namespace-concurrency`): a
/// quarter of [`DEFAULT_TURNS`].
pub const DEFAULT_NAMESPACE_TURNS: usize = 64;

/// The daemon's turns and each namespace's.
pub struct Turns {
    all: Arc<Semaphore>,
    per_namespace: usize,
    namespaces: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A reconcile's turn: held while it runs, given back when dropped.
pub struct Turn {
    _namespace: OwnedSemaphorePermit,
    _all: OwnedSemaphorePermit,
}

impl Turns {
    /// `all` turns in all, at most `per_namespace` of them (at least 1) for one namespace.
    pub fn new(all: usize, per_namespace: usize) -> Self {
        let all = all.max(1);
        Self {
            all: Arc::new(Semaphore::new(all)),
            per_namespace: per_namespace.clamp(1, all),
            namespaces: Mutex::default(),
        }
    }

    /// Wait for a turn of `namespace`, then for one of the daemon's.
    pub async fn take(&self, namespace: &str) -> Turn {
        let own = {
            let mut namespaces = self.namespaces.lock().expect("a poisoned lock means a panic elsewhere");
            match namespaces.get(namespace) {
                Some(own) => own.clone(),
                None => {
                    let own = Arc::new(Semaphore::new(self.per_namespace));
                    namespaces.insert(namespace.to_string(), own.clone());
                    own
                }
            }
        };
        // Never closed, so acquiring cannot fail.
        let own = own.acquire_owned().await.expect("the namespace's turns are never closed");
        let all = self.all.clone().acquire_owned().await.expect("the daemon's turns are never closed");
        Turn { _namespace: own, _all: all }
    }

    /// Forget the namespaces no scaler lives in any more (none of their turns is taken).
    pub fn retain(&self, live: &HashSet<String>) {
        let mut namespaces = self.namespaces.lock().expect("a poisoned lock means a panic elsewhere");
        namespaces.retain(|namespace, own| live.contains(namespace) || Arc::strong_count(own) > 1);
    }
}

impl Default for Turns {
    fn default() -> Self {
        Self::new(DEFAULT_TURNS, DEFAULT_NAMESPACE_TURNS)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_namespace_holding_its_turns_leaves_the_others_theirs() {
        let turns = Arc::new(Turns::new(4, 2));
        let held: Vec<Turn> = vec![turns.take("evil").await, turns.take("evil").await];
        let wait = Duration::from_secs(1);
        assert!(tokio::time::timeout(wait, turns.take("evil")).await.is_err(), "evil waits for its own");
        let other = tokio::time::timeout(wait, turns.take("default")).await;
        assert!(other.is_ok(), "another namespace is not held up");
        drop(held);
        assert!(tokio::time::timeout(wait, turns.take("evil")).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn the_daemons_turns_bound_every_namespace_together() {
        let turns = Turns::new(2, 2);
        let _held = (turns.take("a").await, turns.take("b").await);
        assert!(tokio::time::timeout(Duration::from_secs(1), turns.take("c")).await.is_err());
    }

    #[test]
    fn namespaces_without_scalers_are_forgotten() {
        let turns = Turns::new(4, 2);
        drop(futures::executor::block_on(turns.take("gone")));
        turns.retain(&HashSet::from(["kept".to_string()]));
        assert!(turns.namespaces.lock().unwrap().is_empty());
    }
}
