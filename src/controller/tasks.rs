//! The daemon's background tasks (target watches, the Lease campaign, the telemetry server, the
//! pruner): each is spawned here, ends when the shutdown signal fires, and is awaited before `run`
//! returns. Nothing is aborted: a task is dropped at an await point, as `tokio::select!` drops it.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinSet;

/// The owned set of background tasks of one daemon run.
#[derive(Clone)]
pub struct Tasks {
    set: Arc<Mutex<JoinSet<()>>>,
    stop: watch::Receiver<bool>,
}

impl Tasks {
    /// An empty set; `true` sent on the sender stops every task.
    pub fn new() -> (Self, watch::Sender<bool>) {
        let (tx, stop) = watch::channel(false);
        (Self { set: Arc::default(), stop }, tx)
    }

    /// Run `task` until it ends or shutdown begins.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut stop = self.stop.clone();
        self.set.lock().expect("a poisoned lock means a panic elsewhere").spawn(async move {
            tokio::select! {
                () = task => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        });
    }

    /// The shutdown signal, for a task that must finish its own way (the Lease is released).
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.clone()
    }

    /// Wait for every task to end (after shutdown began, each ends at its next await).
    pub async fn join(&self) {
        loop {
            let mut set =
                std::mem::take(&mut *self.set.lock().expect("a poisoned lock means a panic elsewhere"));
            if set.is_empty() {
                return;
            }
            while let Some(result) = set.join_next().await {
                if let Err(e) = result {
                    tracing::error!(error = %e, "a background task panicked");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_ends_every_task_and_join_waits_for_them() {
        let (tasks, stop) = Tasks::new();
        let ended = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        struct Count(Arc<std::sync::atomic::AtomicUsize>);
        impl Drop for Count {
            fn drop(&mut self) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        for _ in 0..3 {
            let count = Count(ended.clone());
            tasks.spawn(async move {
                let _count = count;
                std::future::pending::<()>().await;
            });
        }
        tokio::task::yield_now().await;
        stop.send_replace(true);
        tasks.join().await;
        assert_eq!(ended.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
