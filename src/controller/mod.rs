//! The daemon (`gscale run`): a kube-runtime controller over GeneralScalers that observes, decides
//! and acts for each scaler on change and every `syncIntervalSeconds`.
//!
//! This file is the run loop (watch, schedule, shut down); the rest is split by responsibility:
//! - [`reconcile`]: observe -> decide -> act for one scaler, [`act`] its writes; [`status`]: what
//!   to write and when;
//! - [`schedule`]: when each scaler is due; [`memory`]: the engine's memory per leadership term;
//! - [`targets`]: target replicas from watches and scaling through `/scale`;
//! - [`leader`]: Lease-based leader election; [`shard`]: which scalers this daemon handles;
//!   [`members`]: automatic shards, a Lease per replica and rendezvous hashing of scaler uids;
//! - [`owners`]: one autoscaler per target (another GeneralScaler, an HPA or KEDA);
//! - [`telemetry`]: the daemon's own `/metrics`, `/healthz`, `/readyz`; [`events`]: Events;
//! - [`clock`] and [`tasks`]: the time and the background tasks, both substitutable or owned;
//! - [`calls`]: every Kubernetes API call's deadline, and the server's Retry-After kept;
//! - [`backfill`]: a forecasting scaler's history from its backend at first sight;
//! - [`turns`]: how many reconciles run at once, and how many one namespace may hold.
//!
//! The controller never decides: it hands plain data to `decision::decide`. Status is the durable
//! copy of the engine's memory, so a restarted daemon honours cooldowns and windows.

pub mod act;
pub mod backfill;
pub mod calls;
pub mod clock;
pub mod events;
pub mod leader;
pub mod members;
pub mod memory;
#[cfg(test)]
mod mock;
pub mod owners;
pub mod reconcile;
pub mod schedule;
pub mod shard;
pub mod status;
pub mod targets;
pub mod tasks;
pub mod telemetry;
pub mod turns;

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::{WatchStreamExt, predicates, reflector, watcher};
use tokio::sync::watch;

use crate::api::GeneralScaler;
use crate::metrics::Fetcher;

pub use clock::Clock;
pub use memory::Memory;
pub use reconcile::{Observation, ReconcileError, decide_outcome, observe, persisted_history};
pub use schedule::{ScalerKey, Schedule};
pub use shard::Shard;
pub use status::Outcome;
use tasks::Tasks;

/// The field manager of every write gscale makes.
pub const FIELD_MANAGER: &str = "gscale";

/// How long a reading is shared between scalers asking the same backend the same question (at
/// most a quarter of a scaler's interval). Scalers sharing a query also share their tick (see
/// [`Schedule`]), so a short window suffices.
const DEDUP_WINDOW: Duration = Duration::from_secs(3);

/// How long in-flight reconciles may take to finish after the shutdown signal.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// Reconciles the controller holds in flight at once (most of them waiting for a turn).
const CONTROLLER_SLOTS: u16 = 4 * turns::DEFAULT_TURNS as u16;

/// How often the memory of deleted scalers is dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(5);

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
    /// Automatic shards (`--shards auto`): this replica's member Lease; the scalers are shared
    /// among the live members. `None`: the static shard above.
    pub members: Option<members::MemberSettings>,
    /// Lease settings; `None`: no leader election.
    pub lease: Option<leader::LeaseSettings>,
    /// Longest time between two status writes of an unchanged scaler.
    pub status_heartbeat: Duration,
    /// How much of a metric reply is read, and which hosts metric URLs may reach.
    pub metric_limits: crate::metrics::Limits,
    /// Reconciles one namespace may have in flight at once.
    pub namespace_turns: usize,
    /// Added to the wall clock decisions are made at (tests only: `GSCALE_TEST_CLOCK_OFFSET_SECONDS`).
    pub clock_offset: jiff::SignedDuration,
    /// Where the client counts its API requests (its layer is in the client's stack).
    pub api_requests: telemetry::ApiRequests,
}

impl Default for RunSettings {
    /// Every namespace, no leader election, a 10-minute status heartbeat, the default metric limits.
    fn default() -> Self {
        Self {
            namespace: None,
            selector: None,
            once: false,
            dry_run: false,
            metrics_addr: None,
            shard: Shard::default(),
            members: None,
            lease: None,
            status_heartbeat: Duration::from_secs(600),
            metric_limits: crate::metrics::Limits::default(),
            namespace_turns: turns::DEFAULT_NAMESPACE_TURNS,
            clock_offset: jiff::SignedDuration::ZERO,
            api_requests: telemetry::ApiRequests::default(),
        }
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
    /// Which scaler owns each target.
    pub owners: owners::Owners,
    /// How many reconciles run at once, in all and per namespace.
    pub turns: turns::Turns,
    /// Forecast histories read from backends, waiting for their scaler's next reconcile.
    pub backfills: backfill::Backfills,
    /// The daemon's background tasks.
    pub tasks: Tasks,
    /// Whether this daemon leads.
    pub leading: watch::Receiver<bool>,
    /// What every write to the cluster passes: open only while this daemon leads.
    pub fence: leader::Fence,
    /// The membership this replica acts under, with automatic shards.
    pub membership: Option<members::Membership>,
    /// The wall time decisions are made at.
    pub clock: Clock,
    /// Settings.
    pub settings: RunSettings,
}

impl Context {
    /// A context over `client` with this daemon's settings; `leading` says whether it leads.
    pub fn new(
        client: kube::Client,
        settings: RunSettings,
        leading: watch::Receiver<bool>,
        fence: leader::Fence,
        clock: Clock,
        tasks: &Tasks,
    ) -> Self {
        let identity = settings.lease.as_ref().map_or_else(|| "gscale".to_string(), |l| l.identity.clone());
        let fetcher = Fetcher::new(
            Some(client.clone()),
            crate::metrics::Settings {
                dedup_window: Some(DEDUP_WINDOW),
                limits: settings.metric_limits.clone(),
                ..crate::metrics::Settings::default()
            },
        );
        let memory = Memory::default();
        Self {
            targets: targets::Targets::new(client.clone(), settings.namespace.clone(), tasks.clone()),
            events: events::Publisher::new(client.clone(), identity),
            client,
            telemetry: Arc::new(telemetry::Telemetry::new(
                settings.shard,
                settings.api_requests.clone(),
                Some(fetcher.clone()),
            )),
            fetcher,
            schedule: Schedule::default(),
            owners: owners::Owners::new(memory.term()),
            turns: turns::Turns::new(turns::DEFAULT_TURNS, settings.namespace_turns),
            memory,
            backfills: backfill::Backfills::default(),
            tasks: tasks.clone(),
            leading,
            fence,
            membership: None,
            clock,
            settings,
        }
    }

    /// Whether this daemon decides for `scaler`: its static shard's, or with automatic shards one
    /// it owns and may act on (`Later` while the previous owner may still write).
    pub fn serves(&self, scaler: &GeneralScaler) -> Serving {
        match &self.membership {
            None => {
                let (namespace, name) = (scaler.namespace().unwrap_or_default(), scaler.name_any());
                if self.settings.shard.owns(&namespace, &name) { Serving::Yes } else { Serving::No }
            }
            Some(view) => {
                let view = view.borrow();
                let uid = scaler.uid().unwrap_or_default();
                if !view.owns(&uid) {
                    Serving::No
                } else if view.acts_on(&uid) {
                    Serving::Yes
                } else {
                    Serving::Later(view.wait().unwrap_or(Duration::from_secs(1)))
                }
            }
        }
    }

    /// Run a write for `scaler` through the fence, and with automatic shards only while this
    /// replica may act on it: a membership that moves it elsewhere cuts the write.
    pub async fn write<T>(
        &self,
        scaler: &GeneralScaler,
        write: impl Future<Output = T>,
    ) -> Result<T, leader::Fenced> {
        let Some(view) = &self.membership else { return self.fence.write(write).await };
        let uid = scaler.uid().unwrap_or_default();
        let mut view = view.clone();
        if !view.borrow_and_update().acts_on(&uid) {
            return Err(leader::Fenced);
        }
        let moved = async {
            loop {
                if view.changed().await.is_err() || !view.borrow_and_update().acts_on(&uid) {
                    return;
                }
            }
        };
        tokio::select! {
            result = self.fence.write(write) => result,
            () = moved => Err(leader::Fenced),
        }
    }
}

/// Whether this daemon decides for a scaler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serving {
    /// Another replica or shard's.
    No,
    /// Ours once the previous owner can no longer write: look again after this long.
    Later(Duration),
    /// Ours.
    Yes,
}

/// Run the daemon until `shutdown` resolves (or after one pass with `once`): in-flight reconciles
/// finish, the background tasks end, then the Lease is released.
pub async fn run(
    client: kube::Client,
    server: &str,
    settings: RunSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let api: Api<GeneralScaler> = match &settings.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    preflight(&api, &settings, server).await?;

    let (tasks, stop_tasks) = Tasks::new();
    let elected = settings.lease.is_some() || settings.members.is_some();
    let (leading_tx, leading) = watch::channel(!elected || settings.once);
    let (fence_tx, fence) = match (&settings.lease, &settings.members, settings.once) {
        (Some(_), _, false) | (_, Some(_), false) => leader::Fence::closed(),
        _ => (watch::channel(leader::Until::Always).0, leader::Fence::open()),
    };
    let mut context = Context::new(
        client.clone(),
        settings.clone(),
        leading.clone(),
        fence,
        Clock::system_offset(settings.clock_offset),
        &tasks,
    );
    let view_tx = settings.members.as_ref().map(|m| {
        let (tx, rx) = watch::channel(Arc::new(members::View::outside(&m.identity)));
        context.membership = Some(rx);
        tx
    });
    let ctx = Arc::new(context);

    let hpas: Api<HorizontalPodAutoscaler> = match &settings.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    if settings.once {
        refuse_beside_a_leader(&ctx, server).await?;
        ctx.owners.load_hpas(hpas).await;
        let result = run_once(&api, ctx, server).await;
        stop_tasks.send_replace(true);
        tasks.join().await;
        return result;
    }

    // Shutdown: stop taking new reconciles (in-flight ones finish), then end the background tasks.
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight reconciles");
        shutdown_tx.send_replace(true);
    });
    if let Some(addr) = settings.metrics_addr {
        let telemetry = ctx.telemetry.clone();
        tasks.spawn(async move {
            if let Err(e) = telemetry::serve(addr, telemetry).await {
                tracing::error!(%addr, error = %e, "cannot serve /metrics");
            }
        });
    }
    // The campaign is not one of `tasks`: it stops last, so the Lease is released only after the
    // reconciles have drained and no write of this daemon can follow a new leader's.
    let (release_tx, release) = watch::channel(false);
    let campaign = match (settings.lease.clone(), settings.members.clone(), view_tx) {
        (_, Some(member), Some(view_tx)) => Some(tokio::spawn(members::campaign(
            client.clone(),
            member,
            view_tx,
            fence_tx,
            leading_tx,
            ctx.memory.term(),
            release,
        ))),
        (Some(lease), _, _) => Some(tokio::spawn(leader::campaign(
            client.clone(),
            lease,
            leading_tx,
            fence_tx,
            ctx.memory.term(),
            release,
        ))),
        _ => None,
    };
    // Scalers that came to this replica (or that it may now act on) are reconciled at once.
    let (moved_tx, moved) = futures::channel::mpsc::unbounded::<()>();

    // Leadership gained: every scaler is reconciled at once rather than at its next event.
    let became_leader = futures::stream::unfold(leading.clone(), |mut rx| async move {
        loop {
            rx.changed().await.ok()?;
            if *rx.borrow() {
                return Some(((), rx));
            }
        }
    });
    let (mut rx, terms) = (leading.clone(), ctx.clone());
    tasks.spawn(async move {
        loop {
            terms.telemetry.set_leading(*rx.borrow_and_update());
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
    // The cache keeps what decisions need: managedFields and kubectl's last-applied copy are
    // the bulk of an object and are dropped on the way in (a third of the RSS at 10,000 scalers);
    // a forecaster's history is held once, by the engine's memory (`Memory::strip_forecast`).
    let (reader, writer) = reflector::store();
    let memory = ctx.clone();
    let scalers = watcher::watcher(api, watch_config)
        .default_backoff()
        .modify(move |scaler: &mut GeneralScaler| {
            scaler.managed_fields_mut().clear();
            scaler.annotations_mut().remove("kubectl.kubernetes.io/last-applied-configuration");
            memory.memory.strip_forecast(scaler);
        })
        .reflect(writer)
        .applied_objects()
        // Our own status writes change no generation: they need no reconcile.
        .predicate_filter(predicates::generation, Default::default());
    tasks.spawn(prune_deleted(reader.clone(), ctx.clone()));
    tasks.spawn(settle_owners(reader.clone(), ctx.clone()));
    let owners = ctx.clone();
    tasks.spawn(async move { owners.owners.follow_hpas(hpas).await });
    tasks.spawn(ready_after_first_pass(reader.clone(), ctx.clone()));
    if ctx.membership.is_some() {
        tasks.spawn(follow_moves(reader.clone(), ctx.clone(), moved_tx));
    }
    let (mut draining, mut deadline) = (shutdown_rx.clone(), shutdown_rx);
    let controller = Controller::for_stream(scalers, reader)
        // `Context::turns` bounds the work, in all and per namespace; the controller's own bound
        // is there because kube-runtime polls every reconcile in flight whenever one finishes:
        // unbounded, the first pass held every scaler in flight at once, and 30,000 scalers cost
        // 30,000 polls per finished reconcile (most of the daemon's CPU at start, and why 3x the
        // scalers took 5.7x as long). Four times the turns keeps a namespace whose reconciles hang
        // from holding every slot while the others wait.
        .with_config(ControllerConfig::default().concurrency(CONTROLLER_SLOTS))
        .reconcile_all_on(futures::stream::select(became_leader, moved))
        .graceful_shutdown_on(async move {
            let _ = draining.wait_for(|s| *s).await;
        })
        .run(reconcile::reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile did not finish");
            }
        });
    // In-flight reconciles get DRAIN_DEADLINE after the shutdown signal; then they are dropped.
    tokio::select! {
        () = controller => {}
        () = async {
            let _ = deadline.wait_for(|s| *s).await;
            tokio::time::sleep(DRAIN_DEADLINE).await;
        } => tracing::warn!(deadline = ?DRAIN_DEADLINE, "reconciles still in flight at the shutdown deadline: dropped"),
    }
    stop_tasks.send_replace(true);
    tasks.join().await;
    release_tx.send_replace(true);
    if let Some(campaign) = campaign {
        let _ = campaign.await;
    }
    Ok(())
}

/// Deleted scalers, and those another replica decides, are never reconciled here again: forget
/// their schedule, memory and gauges.
async fn prune_deleted(store: reflector::Store<GeneralScaler>, ctx: Arc<Context>) {
    loop {
        tokio::time::sleep(PRUNE_EVERY).await;
        let scalers = store.state();
        let live: HashSet<ScalerKey> =
            scalers.iter().map(|s| (s.namespace().unwrap_or_default(), s.name_any())).collect();
        ctx.owners.retain(&live);
        ctx.memory.forget_dropped(&live);
        ctx.turns.retain(&live.iter().map(|(namespace, _)| namespace.clone()).collect());
        let served: HashSet<ScalerKey> = scalers
            .iter()
            .filter(|s| ctx.serves(s) != Serving::No)
            .map(|s| (s.namespace().unwrap_or_default(), s.name_any()))
            .collect();
        forget_all_but(&ctx, &served);
        let owned = if *ctx.leading.borrow() { served.len() } else { 0 };
        ctx.telemetry.owned_scalers.set(i64::try_from(owned).unwrap_or(i64::MAX));
    }
}

/// Forget what this daemon holds for every scaler but `served`.
fn forget_all_but(ctx: &Context, served: &HashSet<ScalerKey>) {
    ctx.schedule.retain(served);
    ctx.memory.retain(served);
    ctx.backfills.retain(served);
    ctx.telemetry.retain(served);
}

/// With automatic shards: at each change of membership, say which scalers moved, forget those
/// that left (memory, schedule, series), settle the target claims again and reconcile those that
/// came (or that this replica may now act on).
async fn follow_moves(
    store: reflector::Store<GeneralScaler>,
    ctx: Arc<Context>,
    moved: futures::channel::mpsc::UnboundedSender<()>,
) {
    let Some(mut views) = ctx.membership.clone() else { return };
    if !store_ready(&store).await {
        return;
    }
    let mut old = Arc::new(members::View::outside(""));
    loop {
        let view = views.borrow_and_update().clone();
        let scalers = store.state();
        let (mut came, mut went) = (0u64, 0u64);
        let mut served = HashSet::new();
        for scaler in &scalers {
            let uid = scaler.uid().unwrap_or_default();
            let (was, is) = (old.owns(&uid), view.owns(&uid));
            came += u64::from(is && !was);
            went += u64::from(was && !is);
            if is {
                served.insert((scaler.namespace().unwrap_or_default(), scaler.name_any()));
            }
        }
        let members: Vec<&str> = view.ring.identities().collect();
        ctx.telemetry.set_members(members.len(), came, went);
        ctx.telemetry.owned_scalers.set(i64::try_from(served.len()).unwrap_or(i64::MAX));
        if came > 0 || went > 0 {
            tracing::info!(
                came, went, owned = served.len(), members = ?members, acting = view.acting,
                "scalers moved between replicas"
            );
            // Claims are settled afresh over the whole cache before a scaler that came acts.
            ctx.owners.unsettle();
            ctx.owners.settle(scalers.iter().map(AsRef::as_ref));
            forget_all_but(&ctx, &served);
        }
        if came > 0 || (view.acting && !old.acting) {
            let _ = moved.unbounded_send(());
        }
        old = view;
        if views.changed().await.is_err() {
            return;
        }
    }
}

/// Once the store holds the first list; `false` if it never will (the watch ended).
async fn store_ready(store: &reflector::Store<GeneralScaler>) -> bool {
    // Asked again and again: kube's readiness future wakes only the last of several waiters (the
    // controller waits on it too), so a single wait here could sleep forever.
    loop {
        match tokio::time::timeout(Duration::from_millis(100), store.wait_until_ready()).await {
            Ok(Ok(())) => return true,
            Ok(Err(_)) => return false,
            Err(_) => {}
        }
    }
}

/// Target claims settled from the whole cache before any scaler acts: once the first list is in,
/// and again in each leadership term (reconciles wait at `Owners::settled` meanwhile).
async fn settle_owners(store: reflector::Store<GeneralScaler>, ctx: Arc<Context>) {
    if !store_ready(&store).await {
        return;
    }
    let mut leading = ctx.leading.clone();
    loop {
        if *leading.borrow_and_update() && !ctx.owners.is_settled() {
            let scalers = store.state();
            ctx.owners.settle(scalers.iter().map(|s| s.as_ref()));
            tracing::debug!(scalers = scalers.len(), "target claims settled from the cache");
        }
        if leading.changed().await.is_err() {
            return;
        }
    }
}

/// `/readyz` turns ready once the scalers listed at start have each been reconciled once (or at
/// once for a follower, which has nothing to do until it leads).
async fn ready_after_first_pass(store: reflector::Store<GeneralScaler>, ctx: Arc<Context>) {
    if !store_ready(&store).await {
        return;
    }
    // With automatic shards, the scalers this replica acts on once it may act.
    if let Some(views) = &ctx.membership {
        while !views.borrow().member || views.borrow().wait().is_some() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let listed: Vec<ScalerKey> = store
        .state()
        .iter()
        .filter(|s| ctx.serves(s) == Serving::Yes)
        .map(|s| (s.namespace().unwrap_or_default(), s.name_any()))
        .collect();
    let mut pending = listed.as_slice();
    loop {
        while let Some((key, rest)) = pending.split_first() {
            // Done once reconciled, or gone, or moved to another replica meanwhile (its schedule
            // then forgotten here: it would never count as seen).
            let ours = || {
                let at = reflector::ObjectRef::new(&key.1).within(&key.0);
                store.get(&at).is_some_and(|s| ctx.serves(&s) != Serving::No)
            };
            if !ctx.schedule.seen(key) && ours() {
                break;
            }
            pending = rest;
        }
        if pending.is_empty() || !*ctx.leading.borrow() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ctx.telemetry.ready.store(true, Ordering::Relaxed);
    tracing::info!(scalers = listed.len(), "first pass done: ready");
}

fn error_policy(scaler: Arc<GeneralScaler>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    ctx.telemetry.reconcile_errors.inc();
    tracing::warn!(scaler = %kube::ResourceExt::name_any(scaler.as_ref()), reason = error.reason(), error = %crate::explain::chain(error), "reconcile failed; retrying");
    let key = (scaler.namespace().unwrap_or_default(), scaler.name_any());
    let interval = Duration::from_secs(u64::from(scaler.spec.sync_interval_seconds.max(1)));
    Action::requeue(ctx.schedule.failed(key, error.retry_after(), interval))
}

/// A `--once` pass beside a live leader would scale behind its back: refuse, naming it.
async fn refuse_beside_a_leader(ctx: &Context, server: &str) -> anyhow::Result<()> {
    let Some(lease) = &ctx.settings.lease else { return Ok(()) };
    let holder = match leader::live_holder(&ctx.client, lease).await {
        Ok(holder) => holder,
        // A cron job's role may not cover Leases: say so, and run the pass.
        Err(kube::Error::Api(e)) if e.code == 403 => {
            tracing::warn!(lease = %lease.name, "cannot read the leader Lease (forbidden): running the pass without checking for a leading daemon");
            None
        }
        Err(e) => return Err(crate::explain::kube_error(e, "read the leader Lease", server)),
    };
    match holder {
        Some(holder) => anyhow::bail!(
            "another gscale leads ({holder}, Lease {}/{}): a --once pass would scale beside it\nhint: stop that daemon first, or pass --no-leader-election to run the pass anyway",
            lease.namespace,
            lease.name
        ),
        None => Ok(()),
    }
}

/// One pass over every scaler of this shard, then return.
async fn run_once(api: &Api<GeneralScaler>, ctx: Arc<Context>, server: &str) -> anyhow::Result<()> {
    let mut params = ListParams::default();
    if let Some(selector) = &ctx.settings.selector {
        params = params.labels(selector);
    }
    let scalers =
        api.list(&params).await.map_err(|e| crate::explain::kube_error(e, "list generalscalers", server))?;
    // Every claim from the whole list before any scaler acts, whatever order the pass takes.
    ctx.owners.settle(&scalers.items);
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
            let now = ctx.clock.now();
            let key = (scaler.namespace().unwrap_or_default(), scaler.name_any());
            let (mut outcome, observation) = match ctx.owners.claim(&key, &scaler) {
                Ok(()) => {
                    let observation = observe(&ctx, &scaler).await;
                    let history = reconcile::persisted_history(&scaler);
                    (
                        decide_outcome(&scaler, &observation, history, now, ctx.settings.dry_run),
                        Some(observation),
                    )
                }
                Err(conflict) => (Outcome::Conflict(conflict), None),
            };
            ctx.telemetry.decisions.inc();
            let result = act::act(&ctx, &scaler, &mut outcome, now).await;
            let view = telemetry::ScalerView {
                scaler: &scaler,
                observation: observation.as_ref(),
                outcome: &outcome,
            };
            ctx.telemetry.scalers.record(&key, &view);
            (scaler, result)
        }
    })
    .buffer_unordered(64);
    while let Some((scaler, result)) = results.next().await {
        if let Err(e) = result {
            failures += 1;
            eprintln!("gscale: {}: {}", kube::ResourceExt::name_any(&scaler), crate::explain::chain(&e));
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
        Err(e) => Err(crate::explain::kube_error(e, "list generalscalers", server)),
    }
}

/// A context for unit tests: a mock API server behind the client (kube-rs's `tower_test` pattern),
/// a manual clock, and the switches a test turns.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use http::{Request, Response};
    use kube::client::Body;

    /// The API server's side of the mock: each request the test expects, answered in turn.
    pub type ApiServer = tower_test::mock::Handle<Request<Body>, Response<Body>>;

    /// What a test holds besides the context.
    pub struct Harness {
        /// The mock API server.
        pub api: ApiServer,
        /// Leadership, as the campaign would set it.
        pub leading: watch::Sender<bool>,
        /// Keeps the context's background tasks alive for the test's length.
        pub _tasks: watch::Sender<bool>,
    }

    /// A leading daemon's context over a mock API server, its clock at `now`.
    pub fn context(now: jiff::Timestamp) -> (Arc<Context>, Harness) {
        let (service, api) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = kube::Client::new(service, "default");
        let (leading_tx, leading) = watch::channel(true);
        let (tasks, stop) = Tasks::new();
        let settings = RunSettings::default();
        let ctx = Context::new(client, settings, leading, leader::Fence::open(), Clock::manual(now), &tasks);
        (Arc::new(ctx), Harness { api, leading: leading_tx, _tasks: stop })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scaler: &GeneralScaler) -> ScalerKey {
        (scaler.namespace().unwrap_or_default(), scaler.name_any())
    }

    fn view(ring: &[&str]) -> Arc<members::View> {
        Arc::new(members::View {
            me: "me-1".into(),
            member: true,
            ring: members::Ring::new(ring.iter().copied()),
            acting: true,
            settles_at: None,
        })
    }

    /// With automatic shards, scalers that move to another member during the first pass are
    /// forgotten here (their schedule too): readiness must not wait for them to be reconciled.
    #[tokio::test(start_paused = true)]
    async fn readiness_does_not_wait_for_scalers_that_moved_away_during_the_first_pass() {
        let now: jiff::Timestamp = "2026-12-01T09:00:00Z".parse().unwrap();
        let (ctx, _harness) = testing::context(now);
        let mut ctx = Arc::into_inner(ctx).expect("the only reference");
        let (views, membership) = watch::channel(view(&["me-1"]));
        ctx.membership = Some(membership);
        let ctx = Arc::new(ctx);
        let (reader, mut writer) = reflector::store::<GeneralScaler>();
        writer.apply_watcher_event(&watcher::Event::Init);
        for i in 0..20 {
            let mut scaler = mock::scaler(None);
            scaler.metadata.name = Some(format!("s{i}"));
            scaler.metadata.uid = Some(format!("uid-{i}"));
            writer.apply_watcher_event(&watcher::Event::InitApply(scaler));
        }
        writer.apply_watcher_event(&watcher::Event::InitDone);
        let ready = tokio::spawn(ready_after_first_pass(reader.clone(), ctx.clone()));
        // It listed all twenty as its own; then another member joins and takes about half.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let order: Vec<Arc<GeneralScaler>> = reader.state();
        let two = view(&["me-1", "other-1"]);
        let kept = |s: &GeneralScaler| two.owns(s.uid().as_deref().unwrap_or_default());
        // The first scaler (in the pass's order) that stays, with one that leaves after it.
        let first = order
            .iter()
            .position(|s| kept(s) && order.iter().skip_while(|o| o.uid() != s.uid()).any(|o| !kept(o)))
            .expect("a scaler that stays before one that leaves");
        let interval = Duration::from_secs(15);
        for (i, scaler) in order.iter().enumerate() {
            if i != first {
                ctx.schedule.set_next(key(scaler), Some(1), interval, &scaler.spec, now);
            }
        }
        views.send_replace(two.clone());
        let served: HashSet<ScalerKey> = order.iter().filter(|s| kept(s)).map(|s| key(s)).collect();
        forget_all_but(&ctx, &served);
        assert!(!ctx.telemetry.ready.load(Ordering::Relaxed), "one of its own is not reconciled yet");
        let last = &order[first];
        ctx.schedule.set_next(key(last), Some(1), interval, &last.spec, now);
        tokio::time::timeout(Duration::from_secs(5), ready)
            .await
            .expect("ready once its own are done")
            .unwrap();
        assert!(ctx.telemetry.ready.load(Ordering::Relaxed));
    }
}
