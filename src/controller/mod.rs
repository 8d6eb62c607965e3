//! The daemon (`gscale run`): a kube-runtime controller over GeneralScalers that observes, decides
//! and acts for each scaler on change and every `syncIntervalSeconds`.
//!
//! - [`reconcile`]: observe -> decide -> act for one scaler; [`status`]: what to write and when;
//! - [`targets`]: target replicas from watches and scaling through `/scale`;
//! - [`leader`]: Lease-based leader election (one Lease per shard);
//! - [`telemetry`]: the daemon's own `/metrics`, `/healthz`, `/readyz`.
//!
//! The controller never decides: it hands plain data to `decision::decide`. All memory lives in
//! status, so a restarted daemon honours cooldowns and windows.

pub mod events;
pub mod leader;
pub mod reconcile;
pub mod status;
pub mod targets;
pub mod telemetry;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::{WatchStreamExt, predicates, reflector, watcher};
use tokio::sync::watch;

use crate::api::{GeneralScaler, GeneralScalerSpec, History};
use crate::metrics::Fetcher;

pub use reconcile::{Observation, ReconcileError, decide_outcome, observe, persisted_history};
pub use status::Outcome;

/// The field manager of every write gscale makes.
pub const FIELD_MANAGER: &str = "gscale";

/// How long a reading is shared between scalers asking the same backend the same question (at
/// most a quarter of a scaler's interval). Scalers sharing a query also share their tick (see
/// [`Schedule`]), so a short window suffices.
const DEDUP_WINDOW: Duration = Duration::from_secs(3);

/// How often the memory of deleted scalers is dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(5);

/// The first retry after a failed reconcile (a conflict or a 5xx usually passes by then).
const FIRST_RETRY: Duration = Duration::from_secs(2);

/// The longest Retry-After honoured: an API server asking for more gets asked again after this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Which scalers this daemon handles: shard `index` of `count`, by a hash of namespace/name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This daemon's shard, from 0.
    pub index: u32,
    /// How many shards there are.
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

impl Shard {
    /// Parse `i/N`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (i, n) = text.split_once('/').ok_or_else(|| format!("--shard {text}: expected i/N, e.g. 0/2"))?;
        let index: u32 = i.trim().parse().map_err(|_| format!("--shard {text}: {i} is not a number"))?;
        let count: u32 = n.trim().parse().map_err(|_| format!("--shard {text}: {n} is not a number"))?;
        if count == 0 || index >= count {
            return Err(format!("--shard {text}: need 0 <= i < N"));
        }
        Ok(Self { index, count })
    }

    /// Whether namespace/name falls in this shard (FNV-1a: the same answer in every build).
    pub fn owns(&self, namespace: &str, name: &str) -> bool {
        if self.count <= 1 {
            return true;
        }
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in namespace.bytes().chain(std::iter::once(b'/')).chain(name.bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash % u64::from(self.count) == u64::from(self.index)
    }
}

/// The daemon's settings, resolved from flags.
#[derive(Clone, Debug)]
pub struct RunSettings {
    /// Watch only this namespace; `None`: all.
    pub namespace: Option<String>,
    /// Only scalers with these labels.
    pub selector: Option<String>,
    /// One pass, then exit.
    pub once: bool,
    /// Decide and record, never scale.
    pub dry_run: bool,
    /// Where to serve the daemon's own metrics.
    pub metrics_addr: Option<SocketAddr>,
    /// This daemon's shard.
    pub shard: Shard,
    /// Lease settings; `None`: no leader election.
    pub lease: Option<leader::LeaseSettings>,
    /// Longest time between two status writes of an unchanged scaler.
    pub status_heartbeat: Duration,
}

/// When each scaler is next due, so that watch events of our own status writes cost nothing.
#[derive(Default)]
pub struct Schedule {
    /// By (namespace, name): the generation last reconciled and when the next tick is.
    due: Mutex<HashMap<ScalerKey, (Option<i64>, Instant)>>,
    /// By (namespace, name): reconciles failed in a row since the last that finished.
    failures: Mutex<HashMap<ScalerKey, u32>>,
}

/// (namespace, name).
pub type ScalerKey = (String, String);

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
    term: Arc<std::sync::atomic::AtomicU64>,
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
    pub fn term(&self) -> Arc<std::sync::atomic::AtomicU64> {
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

    /// Keep only the scalers that still exist.
    pub fn retain(&self, live: &std::collections::HashSet<ScalerKey>) {
        self.by_key
            .lock()
            .expect("a poisoned lock means a panic elsewhere")
            .retain(|key, _| live.contains(key));
    }
}

impl Schedule {
    /// `Err(wait)` while the scaler is not due and its spec did not change; otherwise `Ok` with how
    /// late this reconcile is against its tick (`None` for a first or spec-triggered reconcile).
    pub fn due(&self, key: &ScalerKey, generation: Option<i64>) -> Result<Option<Duration>, Duration> {
        let due = self.due.lock().expect("a poisoned lock means a panic elsewhere");
        let Some((seen_generation, at)) = due.get(key) else { return Ok(None) };
        if *seen_generation != generation {
            return Ok(None);
        }
        let now = Instant::now();
        if *at > now { Err(*at - now) } else { Ok(Some(now - *at)) }
    }

    /// Keep only the scalers that still exist.
    pub fn retain(&self, live: &std::collections::HashSet<ScalerKey>) {
        self.due.lock().expect("a poisoned lock means a panic elsewhere").retain(|key, _| live.contains(key));
        self.failures
            .lock()
            .expect("a poisoned lock means a panic elsewhere")
            .retain(|key, _| live.contains(key));
    }

    /// Reconciles of this scaler failed in a row so far.
    pub fn failures(&self, key: &ScalerKey) -> u32 {
        self.failures.lock().expect("a poisoned lock means a panic elsewhere").get(key).copied().unwrap_or(0)
    }

    /// Record a failed reconcile; the wait before the next attempt: the API server's Retry-After
    /// (at most `MAX_RETRY_AFTER`), else 2 s doubling with each failure in a row, up to the
    /// scaler's interval (a refusal that lasts is retried at the scaler's own pace, not every 2 s).
    pub fn failed(&self, key: ScalerKey, retry_after: Option<Duration>, interval: Duration) -> Duration {
        let mut failures = self.failures.lock().expect("a poisoned lock means a panic elsewhere");
        let count = failures.entry(key).or_insert(0);
        *count = count.saturating_add(1);
        match retry_after {
            Some(wait) => wait.min(MAX_RETRY_AFTER),
            None => {
                let backoff = FIRST_RETRY.saturating_mul(1 << (*count - 1).min(16));
                backoff.min(interval.max(FIRST_RETRY))
            }
        }
    }

    /// Record a reconcile and return the wait until the next one: the scaler's tick, at a phase
    /// derived from its metric queries so that scalers sharing a query share a tick (and a fetch),
    /// while different queries spread over the interval.
    pub fn set_next(
        &self,
        key: ScalerKey,
        generation: Option<i64>,
        interval: Duration,
        spec: &GeneralScalerSpec,
    ) -> Duration {
        let interval_ms = interval.as_millis().max(1) as u64;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for m in spec.metrics() {
            format!("{:?}{:?}{:?}{:?}", m.prometheus, m.redis, m.pubsub, m.http).hash(&mut hasher);
        }
        let phase = hasher.finish() % interval_ms;
        let now_ms = jiff::Timestamp::now().as_millisecond().max(0) as u64;
        let mut wait = (phase + interval_ms - now_ms % interval_ms) % interval_ms;
        // Never sooner than half an interval: a scaler first seen just before its tick waits one.
        if wait < interval_ms / 2 {
            wait += interval_ms;
        }
        let wait = Duration::from_millis(wait);
        self.failures.lock().expect("a poisoned lock means a panic elsewhere").remove(&key);
        self.due
            .lock()
            .expect("a poisoned lock means a panic elsewhere")
            .insert(key, (generation, Instant::now() + wait));
        wait
    }
}

/// What every reconcile shares.
pub struct Context {
    /// The Kubernetes client.
    pub client: kube::Client,
    /// Target replicas and scaling.
    pub targets: targets::Targets,
    /// Metric readings.
    pub fetcher: Fetcher,
    /// Events.
    pub events: events::Publisher,
    /// Counters.
    pub telemetry: Arc<telemetry::Telemetry>,
    /// Due times.
    pub schedule: Schedule,
    /// The engine's memory of each scaler, as of its last decision.
    pub memory: Memory,
    /// Whether this daemon leads.
    pub leading: watch::Receiver<bool>,
    /// Settings.
    pub settings: RunSettings,
}

/// Run the daemon until SIGTERM or Ctrl-C (or after one pass with `once`).
pub async fn run(client: kube::Client, server: &str, settings: RunSettings) -> anyhow::Result<()> {
    let api: Api<GeneralScaler> = match &settings.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    preflight(&api, &settings, server).await?;

    let fetcher = Fetcher::new(
        Some(client.clone()),
        crate::metrics::Settings { dedup_window: Some(DEDUP_WINDOW), ..crate::metrics::Settings::default() },
    );
    let telemetry = Arc::new(telemetry::Telemetry::default());
    let (shutdown_tx, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight reconciles");
        shutdown_tx.send_replace(true);
    });
    if let Some(addr) = settings.metrics_addr {
        let (telemetry, fetcher) = (telemetry.clone(), fetcher.clone());
        tokio::spawn(async move {
            if let Err(e) = telemetry::serve(addr, telemetry, fetcher).await {
                tracing::error!(%addr, error = %e, "cannot serve /metrics");
            }
        });
    }

    let (leading_tx, leading) = watch::channel(settings.lease.is_none() || settings.once);
    let memory = Memory::default();
    let campaign = match (&settings.lease, settings.once) {
        (Some(lease), false) => Some(tokio::spawn(leader::campaign(
            client.clone(),
            lease.clone(),
            leading_tx,
            memory.term(),
            shutdown.clone(),
        ))),
        _ => None,
    };
    let identity = settings.lease.as_ref().map_or_else(|| "gscale".to_string(), |l| l.identity.clone());
    let ctx = Arc::new(Context {
        targets: targets::Targets::new(client.clone(), settings.namespace.clone()),
        events: events::Publisher::new(client.clone(), identity),
        client,
        fetcher,
        telemetry: telemetry.clone(),
        schedule: Schedule::default(),
        memory,
        leading: leading.clone(),
        settings: settings.clone(),
    });

    if settings.once {
        let holder = match &settings.lease {
            Some(lease) => match leader::live_holder(&ctx.client, lease).await {
                Ok(holder) => holder.map(|h| (h, lease)),
                // A cron job's role may not cover Leases: say so, and run the pass.
                Err(kube::Error::Api(e)) if e.code == 403 => {
                    tracing::warn!(lease = %lease.name, "cannot read the leader Lease (forbidden): running the pass without checking for a leading daemon");
                    None
                }
                Err(e) => return Err(crate::cmd::explain_kube_error(e, "read the leader Lease", server)),
            },
            None => None,
        };
        if let Some((holder, lease)) = holder {
            anyhow::bail!(
                "another gscale leads ({holder}, Lease {}/{}): a --once pass would scale beside it\nhint: stop that daemon first, or pass --no-leader-election to run the pass anyway",
                lease.namespace,
                lease.name
            );
        }
        return run_once(&api, ctx, server).await;
    }

    // Leadership gained: every scaler is reconciled at once rather than at its next event.
    let became_leader = futures::stream::unfold(leading.clone(), |mut rx| async move {
        loop {
            rx.changed().await.ok()?;
            if *rx.borrow() {
                return Some(((), rx));
            }
        }
    });
    let (mut rx, gauge, terms) = (leading.clone(), telemetry.clone(), ctx.clone());
    tokio::spawn(async move {
        loop {
            gauge.leading.store(*rx.borrow_and_update(), Ordering::Relaxed);
            if rx.changed().await.is_err() {
                break;
            }
            terms.memory.prune_terms();
        }
    });

    let mut watch_config = watcher::Config::default().any_semantic();
    if let Some(selector) = &settings.selector {
        watch_config = watch_config.labels(selector);
    }
    let mut stop = shutdown.clone();
    telemetry.ready.store(true, Ordering::Relaxed);
    // The cache keeps what decisions need: managedFields and kubectl's last-applied copy are
    // the bulk of an object and are dropped on the way in (a third of the RSS at 10,000 scalers).
    let (reader, writer) = reflector::store();
    let scalers = watcher::watcher(api, watch_config)
        .default_backoff()
        .modify(|scaler: &mut GeneralScaler| {
            scaler.managed_fields_mut().clear();
            scaler.annotations_mut().remove("kubectl.kubernetes.io/last-applied-configuration");
        })
        .reflect(writer)
        .applied_objects()
        // Our own status writes change no generation: they need no reconcile.
        .predicate_filter(predicates::generation, Default::default());
    // Deleted scalers are never reconciled again: forget their schedule and gauges.
    let (store, pruned) = (reader.clone(), ctx.clone());
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(PRUNE_EVERY).await;
            let live =
                store.state().iter().map(|s| (s.namespace().unwrap_or_default(), s.name_any())).collect();
            pruned.schedule.retain(&live);
            pruned.memory.retain(&live);
            pruned.telemetry.retain(&live);
        }
    });
    Controller::for_stream(scalers, reader)
        .with_config(ControllerConfig::default().concurrency(256))
        .reconcile_all_on(became_leader)
        .graceful_shutdown_on(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .run(reconcile::reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile did not finish");
            }
        })
        .await;
    if let Some(campaign) = campaign {
        let _ = campaign.await;
    }
    Ok(())
}

fn error_policy(scaler: Arc<GeneralScaler>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    ctx.telemetry.reconcile_errors.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(scaler = %kube::ResourceExt::name_any(scaler.as_ref()), reason = error.reason(), error = %crate::cmd::chain(error), "reconcile failed; retrying");
    let key = (scaler.namespace().unwrap_or_default(), scaler.name_any());
    let interval = Duration::from_secs(u64::from(scaler.spec.sync_interval_seconds.max(1)));
    Action::requeue(ctx.schedule.failed(key, error.retry_after(), interval))
}

/// One pass over every scaler of this shard, then return.
async fn run_once(api: &Api<GeneralScaler>, ctx: Arc<Context>, server: &str) -> anyhow::Result<()> {
    let mut params = ListParams::default();
    if let Some(selector) = &ctx.settings.selector {
        params = params.labels(selector);
    }
    let scalers = api
        .list(&params)
        .await
        .map_err(|e| crate::cmd::explain_kube_error(e, "list generalscalers", server))?;
    let mut failures = 0;
    let mut results = futures::stream::iter(scalers.items.into_iter().filter(|s| {
        ctx.settings.shard.owns(
            s.metadata.namespace.as_deref().unwrap_or_default(),
            s.metadata.name.as_deref().unwrap_or_default(),
        )
    }))
    .map(|scaler| {
        let ctx = ctx.clone();
        async move {
            let observation = observe(&ctx, &scaler).await;
            let now = jiff::Timestamp::now();
            let history = reconcile::persisted_history(&scaler);
            let mut outcome = decide_outcome(&scaler, &observation, history, now, ctx.settings.dry_run);
            ctx.telemetry.decisions.fetch_add(1, Ordering::Relaxed);
            let result = reconcile::act(&ctx, &scaler, &mut outcome, now).await;
            (scaler, result)
        }
    })
    .buffer_unordered(64);
    while let Some((scaler, result)) = results.next().await {
        if let Err(e) = result {
            failures += 1;
            eprintln!("gscale: {}: {}", kube::ResourceExt::name_any(&scaler), crate::cmd::chain(&e));
        }
    }
    if failures > 0 {
        anyhow::bail!("{failures} scaler(s) could not be reconciled (see above)");
    }
    Ok(())
}

/// The CRD is installed and the daemon may list scalers; otherwise say which and what to do.
async fn preflight(api: &Api<GeneralScaler>, settings: &RunSettings, server: &str) -> anyhow::Result<()> {
    let scope = settings
        .namespace
        .as_ref()
        .map_or_else(|| "all namespaces".to_string(), |ns| format!("namespace {ns}"));
    match api.list(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(anyhow::anyhow!(
            "generalscaler CRD not found\nhint: run gscale install-crd (with rights on customresourcedefinitions)"
        )),
        Err(kube::Error::Api(s)) if s.code == 403 => Err(anyhow::anyhow!(
            "forbidden: cannot list generalscalers.autoscaling.generalscaler.io in {scope}: {}\nhint: grant get, list and watch on generalscalers and patch on generalscalers/status (examples/deploy/ has the least-privilege role)",
            s.message
        )),
        Err(e) => Err(crate::cmd::explain_kube_error(e, "list generalscalers", server)),
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
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
