//! The daemon's own Prometheus metrics, through the Prometheus project's Rust client
//! (`prometheus-client`), and its `/healthz` and `/readyz` endpoints.
//!
//! This file holds the daemon-wide series and the registry; [`scalers`] the per-scaler series
//! (deleted with their scaler), [`sources`] the metric sources' counters (read from the fetcher
//! at each scrape), [`api`] the count of Kubernetes API requests (a layer in the kube client's
//! stack) and [`serve`] the HTTP endpoint, which answers in OpenMetrics when the scraper asks.

mod api;
mod scalers;
mod serve;
mod sources;

use std::sync::atomic::AtomicBool;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::metrics::Fetcher;

pub use api::{ApiRequests, CountedLayer};
pub use scalers::ScalerView;
pub use serve::serve;

/// Upper bounds of the lateness histogram, in seconds.
pub const LATENESS_BUCKETS: [f64; 9] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// A label set of one label, `direction`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabel {
    direction: &'static str,
}

/// The build's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// The shard's label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShardLabel {
    shard: String,
}

/// What the daemon counts about itself. Every handle is cheap to bump (an atomic); the registry
/// renders them at each scrape.
pub struct Telemetry {
    /// Decisions made.
    pub decisions: Counter,
    /// Scale-ups applied.
    pub scaled_up: Counter,
    /// Scale-downs applied.
    pub scaled_down: Counter,
    /// Status writes.
    pub status_writes: Counter,
    /// Reconciles that ended in an error (API failures).
    pub reconcile_errors: Counter,
    /// 1 while this daemon leads (or needs no election).
    pub leading: Gauge,
    /// Scalers this daemon decides for (its shard's, while it leads).
    pub owned_scalers: Gauge,
    /// How late reconciles start against their tick.
    pub lateness: Histogram,
    /// With automatic shards: the members this replica sees, and the scalers that moved to and
    /// from it.
    members: Gauge,
    moved_in: Counter,
    moved_out: Counter,
    shards: Gauge,
    /// Whether the first pass over the scalers is done (`/readyz`; not a metric).
    pub ready: AtomicBool,
    /// Per-scaler series.
    pub scalers: scalers::Scalers,
    shard_leader: Family<ShardLabel, Gauge>,
    shard: String,
    registry: Registry,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new(super::Shard::default(), ApiRequests::default(), None)
    }
}

impl Telemetry {
    /// The daemon's metrics for `shard`, counting API requests in `api` and, when given, the
    /// metric sources' counters of `fetcher`.
    pub fn new(shard: super::Shard, api: ApiRequests, fetcher: Option<Fetcher>) -> Self {
        let mut registry = Registry::default();
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let decisions = counter(&mut registry, "gscale_decisions", "Decisions made");
        let actions = Family::<DirectionLabel, Counter>::default();
        registry.register("gscale_scale_actions", "Scales applied to targets", actions.clone());
        let status_writes = counter(&mut registry, "gscale_status_writes", "Status writes");
        let reconcile_errors =
            counter(&mut registry, "gscale_reconcile_errors", "Reconciles that failed on the Kubernetes API");
        let leading = Gauge::default();
        registry.register(
            "gscale_leader",
            "Whether this daemon is acting (leads its Lease)",
            leading.clone(),
        );
        let shard_leader = Family::<ShardLabel, Gauge>::default();
        registry.register(
            "gscale_shard_leader",
            "Whether this daemon leads the shard named (its Lease)",
            shard_leader.clone(),
        );
        let shards: Gauge = Gauge::default();
        shards.set(i64::from(shard.count));
        registry.register("gscale_shards", "How many shards the scalers are split into", shards.clone());
        let owned_scalers = Gauge::default();
        registry.register(
            "gscale_owned_scalers",
            "Scalers this daemon decides for (its shard's, while it leads)",
            owned_scalers.clone(),
        );
        let members = Gauge::default();
        registry.register(
            "gscale_shard_members",
            "Replicas this one sees as live members of the automatic shards (0 without them)",
            members.clone(),
        );
        let moves = Family::<DirectionLabel, Counter>::default();
        registry.register(
            "gscale_shard_moves",
            "Scalers that moved to (in) or from (out) this replica with automatic shards",
            moves.clone(),
        );
        let lateness = Histogram::new(LATENESS_BUCKETS);
        registry.register(
            "gscale_reconcile_lateness_seconds",
            "How late a scheduled reconcile started against its tick",
            lateness.clone(),
        );
        registry.register(
            "gscale_build",
            "The gscale build",
            Info::new(BuildLabels { version: env!("CARGO_PKG_VERSION") }),
        );
        api.register(&mut registry);
        if let Some(fetcher) = fetcher {
            registry.register_collector(Box::new(sources::SourceCollector(fetcher)));
        }
        let scalers = scalers::Scalers::register(&mut registry);
        let shard_name = shard.index.to_string();
        shard_leader.get_or_create(&ShardLabel { shard: shard_name.clone() }).set(0);
        Self {
            decisions,
            scaled_up: actions.get_or_create_owned(&DirectionLabel { direction: "up" }),
            scaled_down: actions.get_or_create_owned(&DirectionLabel { direction: "down" }),
            status_writes,
            reconcile_errors,
            leading,
            owned_scalers,
            lateness,
            members,
            moved_in: moves.get_or_create_owned(&DirectionLabel { direction: "in" }),
            moved_out: moves.get_or_create_owned(&DirectionLabel { direction: "out" }),
            shards,
            ready: AtomicBool::new(false),
            scalers,
            shard_leader,
            shard: shard_name,
            registry,
        }
    }

    /// Record whether this daemon leads; a follower keeps no per-scaler series (the leader has them).
    pub fn set_leading(&self, leading: bool) {
        self.leading.set(i64::from(leading));
        self.shard_leader.get_or_create(&ShardLabel { shard: self.shard.clone() }).set(i64::from(leading));
        if !leading {
            self.scalers.clear();
            self.owned_scalers.set(0);
        }
    }

    /// With automatic shards: the members seen, and the scalers that came and went at this change.
    pub fn set_members(&self, members: usize, came: u64, went: u64) {
        let members = i64::try_from(members).unwrap_or(i64::MAX);
        self.members.set(members);
        self.shards.set(members);
        self.moved_in.inc_by(came);
        self.moved_out.inc_by(went);
    }

    /// Keep only the scalers that still exist (deleted ones leave no stale series behind).
    pub fn retain(&self, live: &std::collections::HashSet<super::ScalerKey>) {
        self.scalers.retain(live);
    }

    /// Every metric in the Prometheus text format (0.0.4), or in OpenMetrics with `openmetrics`.
    pub fn render(&self, openmetrics: bool) -> String {
        let mut out = String::new();
        let encoded = if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &self.registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        };
        // Writing into a String cannot fail; a metric that could not encode would be a bug here.
        if let Err(e) = encoded {
            tracing::error!(error = %e, "could not encode the metrics");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_series_keep_their_names_in_both_formats() {
        let telemetry =
            Telemetry::new(super::super::Shard { index: 1, count: 2 }, ApiRequests::default(), None);
        telemetry.decisions.inc();
        telemetry.scaled_up.inc();
        telemetry.set_leading(true);
        telemetry.lateness.observe(0.02);
        let text = telemetry.render(false);
        for line in [
            "gscale_decisions_total 1",
            "gscale_scale_actions_total{direction=\"up\"} 1",
            "gscale_scale_actions_total{direction=\"down\"} 0",
            "gscale_leader 1",
            "gscale_shard_leader{shard=\"1\"} 1",
            "gscale_shards 2",
            "gscale_reconcile_lateness_seconds_bucket{le=\"0.025\"} 1",
            "gscale_reconcile_lateness_seconds_count 1",
            "# TYPE gscale_decisions_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(text.contains("gscale_build_info{version=\""), "{text}");
        let open = telemetry.render(true);
        assert!(open.ends_with("# EOF\n"), "{open}");
        assert!(open.lines().any(|l| l == "# TYPE gscale_decisions counter"), "{open}");
        assert!(open.lines().any(|l| l == "gscale_decisions_total 1"), "{open}");
    }
}
