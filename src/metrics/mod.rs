//! Metric sources: reading each metric of a scaler from Prometheus, Redis, Pub/Sub, HTTP or the
//! resource metrics API (cpu and memory of the target's pods).
//!
//! The daemon (and `plan`) call [`Fetcher::fetch`] once per reconcile and get one [`Reading`] per
//! metric plus the slo policy's readings. A source is one small trait, [`MetricSource`], and the set of
//! sources is the closed enum [`Source`], built from the spec with its secrets resolved in the scaler's
//! namespace. The fetcher adds what every source needs: a per-fetch timeout (`timeoutSeconds`),
//! bounded concurrency per backend, sharing of identical queries within one interval (dedup), reused
//! connections, secret redaction, and counters ([`Stats`]). Reply parsers are pure functions in each
//! source's module. Nothing here decides anything: that is `decision`.

mod error;
pub mod external;
pub mod hosts;
pub mod http;
pub mod kafka;
pub mod nats;
mod number;
pub mod prometheus;
pub mod pubsub;
pub mod rabbitmq;
pub mod redis;
mod resolve;
pub mod resource;
mod secret;
mod send;
mod stats;
mod transport;

use std::collections::HashMap;
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, Semaphore};

pub use error::{MetricError, Problem, Target};
pub use hosts::HostPolicy;
pub use number::{check as check_value, parse as parse_value, parse_quantity};
pub use stats::{LATENCY_BUCKETS, SourceStats, Stats};
pub use transport::SecretString;

use crate::api::{
    GeneralScalerSpec, MetricSpec, MetricType, PolicyType, PrometheusSource, RedisKind, TargetRef,
};
use crate::reading::{Reading, SloReadings};
use resolve::Resolved;
use transport::{HttpClients, TlsSettings};

/// Environment variable naming the Pub/Sub endpoint (`host:port`, plaintext), as Google's SDKs read it.
pub const PUBSUB_EMULATOR_HOST: &str = "PUBSUB_EMULATOR_HOST";
/// Environment variable overriding the Cloud Monitoring endpoint (a URL such as `http://127.0.0.1:9000`).
pub const MONITORING_ENDPOINT_ENV: &str = "GSCALE_MONITORING_ENDPOINT";

/// A source of one metric: says what it reads where, and reads it once.
pub trait MetricSource {
    /// What is read where, for messages, dedup and per-backend limits; holds no secret.
    fn target(&self) -> &Target;

    /// Read the value once: a finite, non-negative number, or why not.
    fn read(&self) -> impl Future<Output = Result<f64, MetricError>> + Send;
}

/// The sources gscale reads, each ready to send (secrets resolved, clients attached).
#[derive(Clone)]
pub enum Source {
    /// A Prometheus instant query.
    Prometheus(prometheus::PrometheusQuery),
    /// A Redis key's length.
    Redis(redis::RedisQuery),
    /// A Pub/Sub subscription's backlog.
    #[cfg(feature = "pubsub")]
    PubSub(pubsub::PubSubQuery),
    /// A number from an HTTP endpoint.
    Http(http::HttpQuery),
    /// CPU or memory of the target's pods.
    Resource(resource::ResourceQuery),
    /// A RabbitMQ queue's length or publish rate.
    RabbitMq(rabbitmq::RabbitMqQuery),
    /// A NATS JetStream consumer's pending messages.
    Nats(nats::NatsQuery),
    /// A KEDA external scaler's metric.
    External(external::ExternalQuery),
    /// A Kafka consumer group's lag.
    Kafka(kafka::KafkaQuery),
}

/// A value read, with the source's account of how where it has one (the pods a resource metric
/// counted, and how).
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The value.
    pub value: f64,
    /// How it was made, in words, for `plan` and the status.
    pub detail: Option<String>,
}

impl Source {
    /// Read once, with the account of a source that gives one.
    pub async fn sample(&self) -> Result<Sample, MetricError> {
        match self {
            Self::Resource(source) => source.sample().await,
            Self::External(source) => source.sample().await,
            Self::Kafka(source) => source.sample().await,
            other => other.read().await.map(|value| Sample { value, detail: None }),
        }
    }
}

impl MetricSource for Source {
    fn target(&self) -> &Target {
        match self {
            Self::Prometheus(source) => source.target(),
            Self::Redis(source) => source.target(),
            #[cfg(feature = "pubsub")]
            Self::PubSub(source) => source.target(),
            Self::Http(source) => source.target(),
            Self::Resource(source) => source.target(),
            Self::RabbitMq(source) => source.target(),
            Self::Nats(source) => source.target(),
            Self::External(source) => source.target(),
            Self::Kafka(source) => source.target(),
        }
    }

    async fn read(&self) -> Result<f64, MetricError> {
        match self {
            Self::Prometheus(source) => source.read().await,
            Self::Redis(source) => source.read().await,
            #[cfg(feature = "pubsub")]
            Self::PubSub(source) => source.read().await,
            Self::Http(source) => source.read().await,
            Self::Resource(source) => source.read().await,
            Self::RabbitMq(source) => source.read().await,
            Self::Nats(source) => source.read().await,
            Self::External(source) => source.read().await,
            Self::Kafka(source) => source.read().await,
        }
    }
}

/// What a metric is read for: the scaler's target, whose pods a resource metric reads, and the
/// tolerance the HPA's rule for those pods applies.
#[derive(Clone, Copy)]
pub(crate) struct Scope<'a> {
    target_ref: &'a TargetRef,
    tolerance: f64,
}

/// How the fetcher behaves; resolved from flags and environment by the caller.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Most queries in flight at once to one backend (a server URL, a Redis server, a project).
    pub max_concurrency_per_backend: usize,
    /// How long a successful reading is shared with identical queries, capped at a quarter of the
    /// asking scaler's `syncIntervalSeconds` (`None`: that quarter). A scaler's own next reconcile
    /// never reuses its previous reading; the daemon aligns the ticks of scalers sharing a query, so
    /// they meet inside the window and cost one backend query per interval.
    pub dedup_window: Option<Duration>,
    /// How long a Secret's data is cached.
    pub secret_ttl: Duration,
    /// Pub/Sub endpoint override (`host:port` or URL); default from `PUBSUB_EMULATOR_HOST`.
    pub pubsub_endpoint: Option<String>,
    /// Cloud Monitoring endpoint override (URL); default from `GSCALE_MONITORING_ENDPOINT`.
    pub monitoring_endpoint: Option<String>,
    /// How long a Pub/Sub subscription confirmed by the admin API is not checked again.
    pub pubsub_check_interval: Duration,
    /// What HTTP-based sources may read and reach.
    pub limits: Limits,
}

/// The daemon's bounds on metric reads: how long one may take, how much of a reply is read, and
/// which hosts HTTP-based sources may reach. Set per daemon by `gscale run` flags (`RunSettings`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest reply read, in bytes (an HTTP body, a Redis reply); a longer reply is an error and
    /// is not read further.
    pub max_reply_bytes: u64,
    /// Which hosts metric URLs may reach.
    pub hosts: Arc<HostPolicy>,
    /// The most seconds one read may take, whatever the scaler's `timeoutSeconds` says.
    pub max_timeout_seconds: u32,
    /// Whether HTTP-based sources go through the proxy of `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`
    /// and `NO_PROXY` (off: never, whatever the environment says).
    pub proxy_from_environment: bool,
}

/// The default [`Limits::max_reply_bytes`]: 1 MiB, a thousand times a one-series Prometheus reply.
pub const DEFAULT_MAX_REPLY_BYTES: u64 = 1 << 20;

impl Default for Limits {
    /// 1 MiB, the default host policy, the CRD's maximum timeout, no proxy.
    fn default() -> Self {
        Self {
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
            hosts: Arc::new(HostPolicy::default()),
            max_timeout_seconds: crate::api::MAX_TIMEOUT_SECONDS,
            proxy_from_environment: false,
        }
    }
}

impl Default for Settings {
    /// The defaults, with both endpoint overrides read from the environment.
    fn default() -> Self {
        let env = |name| std::env::var(name).ok().filter(|value: &String| !value.trim().is_empty());
        Self {
            max_concurrency_per_backend: 8,
            dedup_window: None,
            secret_ttl: Duration::from_secs(300),
            pubsub_endpoint: env(PUBSUB_EMULATOR_HOST),
            monitoring_endpoint: env(MONITORING_ENDPOINT_ENV),
            pubsub_check_interval: Duration::from_secs(300),
            limits: Limits::default(),
        }
    }
}

/// What one fetch read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Readings {
    /// One reading per metric of `spec.metrics()`, in the same order.
    pub metrics: Vec<Reading>,
    /// The slo policy's readings; `None` where a query is not configured.
    pub slo: SloReadings,
    /// Per metric, the source's account of its reading where it gives one (resource metrics).
    pub details: Vec<Option<String>>,
    /// Per metric, how long its reading took and, when it failed, the error's stable reason (for
    /// the daemon's per-scaler metrics).
    pub timings: Vec<(Duration, Option<&'static str>)>,
}

struct Shared {
    created: Instant,
    result: OnceCell<Result<Sample, MetricError>>,
}

struct Inner {
    settings: Settings,
    client: Option<kube::Client>,
    kinds: resource::Kinds,
    secrets: secret::Secrets,
    http: HttpClients,
    redis: redis::RedisPool,
    external: external::ExternalPool,
    kafka: Arc<kafka::KafkaMemory>,
    #[cfg(feature = "pubsub")]
    gcp: pubsub::GcpClients,
    shared: Mutex<HashMap<u64, Arc<Shared>>>,
    limits: Mutex<HashMap<String, Arc<Semaphore>>>,
    warned: Mutex<std::collections::HashSet<String>>,
    stats: stats::Recorder,
}

/// Reads scalers' metrics; cheap to clone (one shared state: connections, caches, counters).
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

fn hash_of(parts: &impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    parts.hash(&mut hasher);
    hasher.finish()
}

/// Whether a metric's backend keeps its past for [`Fetcher::history`]: Prometheus, and Pub/Sub
/// (Cloud Monitoring's series) in a build with the `pubsub` feature.
pub fn keeps_history(metric: &MetricSpec) -> bool {
    match metric.kind {
        MetricType::Prometheus => metric.prometheus.is_some(),
        MetricType::Pubsub => cfg!(feature = "pubsub") && metric.pubsub.is_some(),
        // The RabbitMQ management API keeps minutes of samples, NATS's monitoring endpoint none.
        MetricType::Redis
        | MetricType::Http
        | MetricType::Resource
        | MetricType::Rabbitmq
        | MetricType::Nats
        | MetricType::External
        | MetricType::Kafka
        | MetricType::Formula => false,
    }
}

/// The target of a metric, from its spec alone (no secrets, no I/O).
pub fn target_of(metric: &MetricSpec) -> Result<Target, MetricError> {
    let missing = |kind: &'static str| MetricError::InvalidSource {
        kind,
        detail: format!("type {kind} needs a {kind} block"),
    };
    Ok(match metric.kind {
        MetricType::Prometheus => {
            let source = metric.prometheus.as_ref().ok_or_else(|| missing("prometheus"))?;
            prometheus::target(&source.server_url, &source.query)
        }
        MetricType::Redis => {
            let s = metric.redis.as_ref().ok_or_else(|| missing("redis"))?;
            redis::target(&s.host, s.port, s.db, &s.queue_name, s.kind, s.consumer_group.as_deref())
        }
        MetricType::Pubsub => {
            let s = metric.pubsub.as_ref().ok_or_else(|| missing("pubsub"))?;
            pubsub::target(&s.project_id, &s.subscription_id, s.mode)
        }
        MetricType::Http => {
            let s = metric.http.as_ref().ok_or_else(|| missing("http"))?;
            http::target(&s.url, s.method, s.value_path.as_deref())
        }
        MetricType::Resource => {
            let s = metric.resource.as_ref().ok_or_else(|| missing("resource"))?;
            resource::target(s, metric.effective_target_type())
        }
        MetricType::Rabbitmq => {
            let s = metric.rabbitmq.as_ref().ok_or_else(|| missing("rabbitmq"))?;
            rabbitmq::target(&s.url, &s.vhost, &s.queue_name, s.mode)
        }
        MetricType::Nats => {
            let s = metric.nats.as_ref().ok_or_else(|| missing("nats"))?;
            nats::target(&s.monitoring_url, &s.account, &s.stream, &s.consumer)
        }
        MetricType::External => {
            let s = metric.external.as_ref().ok_or_else(|| missing("external"))?;
            external::target(&s.scaler_address, s.metric_name.as_deref())
        }
        MetricType::Kafka => {
            let s = metric.kafka.as_ref().ok_or_else(|| missing("kafka"))?;
            kafka::target(&s.bootstrap_servers, &s.consumer_group, &s.topic)
        }
        MetricType::Formula => {
            return Err(MetricError::InvalidSource {
                kind: "formula",
                detail: "a formula is spec.formula, not a metric's type".into(),
            });
        }
    })
}

impl Fetcher {
    /// A fetcher reading Secrets through `client` (none: `*SecretRef` fields fail, plain ones work).
    pub fn new(client: Option<kube::Client>, settings: Settings) -> Self {
        // reqwest, redis and the Google clients are built without a crypto provider of their own.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            inner: Arc::new(Inner {
                secrets: secret::Secrets::new(client.clone(), settings.secret_ttl),
                client,
                kinds: resource::Kinds::default(),
                http: HttpClients::new(settings.limits.hosts.clone(), settings.limits.proxy_from_environment),
                settings,
                redis: redis::RedisPool::default(),
                external: external::ExternalPool::default(),
                kafka: Arc::default(),
                #[cfg(feature = "pubsub")]
                gcp: pubsub::GcpClients::default(),
                shared: Mutex::new(HashMap::new()),
                limits: Mutex::new(HashMap::new()),
                warned: Mutex::new(Default::default()),
                stats: stats::Recorder::default(),
            }),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.inner.stats.snapshot()
    }

    /// How long readings of `spec`'s queries are shared (see [`Settings::dedup_window`]).
    pub fn dedup_window(&self, spec: &GeneralScalerSpec) -> Duration {
        let quarter = Duration::from_secs(u64::from(spec.sync_interval_seconds.max(1))) / 4;
        self.inner.settings.dedup_window.map_or(quarter, |w| w.min(quarter))
    }

    /// Read every metric of `spec` (and its slo queries) concurrently; never fails as a whole.
    pub async fn fetch(&self, namespace: &str, spec: &GeneralScalerSpec) -> Readings {
        let window = self.dedup_window(spec);
        let metrics = futures::future::join_all(spec.metrics().iter().map(|metric| async move {
            let started = Instant::now();
            let sample = self.sample(namespace, spec, metric, window).await;
            let reason = sample.as_ref().err().map(MetricError::reason);
            (sample, (started.elapsed(), reason))
        }));
        let (samples, slo) = futures::join!(metrics, self.read_slo(namespace, spec, window));
        let (samples, timings): (Vec<_>, Vec<_>) = samples.into_iter().unzip();
        let details = samples.iter().map(|s| s.as_ref().ok().and_then(|s| s.detail.clone())).collect();
        let metrics = samples.into_iter().map(|s| s.map(|s| s.value).map_err(|e| e.to_string())).collect();
        Readings { metrics, slo, details, timings }
    }

    /// Read one metric of `spec`, sharing an identical query made within `window`.
    pub async fn read(
        &self,
        namespace: &str,
        spec: &GeneralScalerSpec,
        metric: &MetricSpec,
        window: Duration,
    ) -> Result<f64, MetricError> {
        self.sample(namespace, spec, metric, window).await.map(|sample| sample.value)
    }

    /// Read one metric of `spec` with its source's account, sharing an identical query made within `window`.
    pub async fn sample(
        &self,
        namespace: &str,
        spec: &GeneralScalerSpec,
        metric: &MetricSpec,
        window: Duration,
    ) -> Result<Sample, MetricError> {
        let started = Instant::now();
        let scope = Scope { target_ref: &spec.target_ref, tolerance: spec.behavior.tolerance };
        let result = self.read_timed(namespace, scope, metric, window).await;
        self.inner.stats.fetch(metric.kind, started.elapsed(), result.is_err());
        if let Err(err) = &result {
            if matches!(err, MetricError::Auth { .. }) {
                self.inner.secrets.forget(namespace);
            }
            tracing::debug!(reason = err.reason(), error = %err, "metric unavailable");
        }
        result
    }

    async fn read_timed(
        &self,
        namespace: &str,
        scope: Scope<'_>,
        metric: &MetricSpec,
        window: Duration,
    ) -> Result<Sample, MetricError> {
        let cap = self.inner.settings.limits.max_timeout_seconds;
        let seconds = metric.timeout_seconds.clamp(1, cap.max(1));
        let work = async {
            let resolved = self.resolve(namespace, scope, metric).await?;
            self.shared_read(resolved, window).await
        };
        match tokio::time::timeout(Duration::from_secs(u64::from(seconds)), work).await {
            Ok(result) => result,
            Err(_) => Err(MetricError::Timeout { target: target_of(metric)?, seconds }),
        }
    }

    async fn shared_read(&self, resolved: Resolved, window: Duration) -> Result<Sample, MetricError> {
        let kind = resolved.source.target().kind;
        let (entry, hit) = {
            let mut shared = self.inner.shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let reusable = shared.get(&resolved.dedup_key).filter(|entry| match entry.result.get() {
                None => true,
                Some(Ok(_)) => entry.created.elapsed() < window,
                Some(Err(_)) => false,
            });
            match reusable {
                Some(entry) => (entry.clone(), true),
                None => {
                    if shared.len() >= 1024 {
                        shared.retain(|_, entry| match entry.result.get() {
                            None => true,
                            Some(result) => {
                                result.is_ok() && entry.created.elapsed() < Duration::from_secs(3600)
                            }
                        });
                    }
                    let entry = Arc::new(Shared { created: Instant::now(), result: OnceCell::new() });
                    shared.insert(resolved.dedup_key, entry.clone());
                    (entry, false)
                }
            }
        };
        if hit {
            self.inner.stats.dedup_hit(kind);
        }
        let result = entry
            .result
            .get_or_init(|| async {
                self.inner.stats.query(kind);
                let limit = self.limit(kind, &resolved.backend);
                let _permit = limit.acquire().await;
                let secrets: Vec<&str> = resolved.secrets.iter().map(SecretString::expose).collect();
                resolved.source.sample().await.map_err(|err| err.redact(&secrets))
            })
            .await;
        result.clone()
    }

    fn limit(&self, kind: MetricType, backend: &str) -> Arc<Semaphore> {
        let key = match kind {
            MetricType::Prometheus | MetricType::Http | MetricType::Rabbitmq | MetricType::Nats => {
                format!("{}|{}", kind.as_str(), resolve::origin(backend))
            }
            _ => format!("{}|{backend}", kind.as_str()),
        };
        let mut limits = self.inner.limits.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        limits
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Semaphore::new(self.inner.settings.max_concurrency_per_backend.max(1)))
            })
            .clone()
    }

    fn warn_once(&self, key: String, message: &str) {
        let mut warned = self.inner.warned.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if warned.len() < 10_000 && warned.insert(key.clone()) {
            tracing::warn!(source = %key, "{message}");
        }
    }

    /// The slo policy's queries, on `slo.serverUrl` or the first prometheus metric's server.
    async fn read_slo(&self, namespace: &str, spec: &GeneralScalerSpec, window: Duration) -> SloReadings {
        let Some(slo) = spec.policy.slo.as_ref().filter(|_| spec.policy.kind == PolicyType::Slo) else {
            return SloReadings::default();
        };
        let first = spec.metrics().iter().find(|metric| metric.prometheus.is_some());
        let query = |query: &Option<String>| {
            let query = query.as_ref()?;
            let base = first.and_then(|metric| metric.prometheus.as_ref());
            let source = match (base, &slo.server_url) {
                (Some(base), Some(url))
                    if base.server_url.trim_end_matches('/') != url.trim_end_matches('/') =>
                {
                    PrometheusSource {
                        server_url: url.clone(),
                        query: query.clone(),
                        headers: Default::default(),
                        bearer_token_secret_ref: None,
                        ca_secret_ref: None,
                        insecure_skip_verify: false,
                    }
                }
                (Some(base), _) => PrometheusSource { query: query.clone(), ..base.clone() },
                (None, Some(url)) => PrometheusSource {
                    server_url: url.clone(),
                    query: query.clone(),
                    headers: Default::default(),
                    bearer_token_secret_ref: None,
                    ca_secret_ref: None,
                    insecure_skip_verify: false,
                },
                (None, None) => return Some(None),
            };
            Some(Some(MetricSpec {
                kind: MetricType::Prometheus,
                name: None,
                target_value: 1.0,
                target_type: None,
                activation_value: 0.0,
                timeout_seconds: first.map_or(5, |metric| metric.timeout_seconds),
                prometheus: Some(source),
                redis: None,
                pubsub: None,
                http: None,
                resource: None,
                rabbitmq: None,
                nats: None,
                external: None,
                kafka: None,
            }))
        };
        let read = |metric: Option<Option<MetricSpec>>| async move {
            match metric? {
                Some(metric) => {
                    Some(self.read(namespace, spec, &metric, window).await.map_err(|err| err.to_string()))
                }
                None => Some(Err("slo query has no prometheus server: set policy.slo.serverUrl".to_owned())),
            }
        };
        let (latency_ms, error_rate) =
            futures::join!(read(query(&slo.latency_query)), read(query(&slo.error_rate_query)));
        SloReadings { latency_ms, error_rate }
    }

    /// A range query (for replays): the series of `source.query` from `start` to `end` every `step`.
    pub async fn query_range(
        &self,
        namespace: &str,
        source: &PrometheusSource,
        start: jiff::Timestamp,
        end: jiff::Timestamp,
        step: Duration,
        timeout: Duration,
    ) -> Result<Vec<(jiff::Timestamp, f64)>, MetricError> {
        let target = prometheus::target(&source.server_url, &source.query);
        let seconds = timeout.as_secs().max(1) as u32;
        let work = async {
            let resolved = self.resolve_prometheus(namespace, source, target.clone()).await?;
            let Source::Prometheus(query) = &resolved.source else { unreachable!("built as prometheus") };
            self.inner.stats.query(MetricType::Prometheus);
            let secrets: Vec<&str> = resolved.secrets.iter().map(SecretString::expose).collect();
            query.query_range(start, end, step).await.map_err(|err| err.redact(&secrets))
        };
        tokio::time::timeout(timeout, work).await.unwrap_or(Err(MetricError::Timeout { target, seconds }))
    }

    /// A metric's past between `start` and `end`, a point a minute, oldest first, from the backends
    /// that keep one: Prometheus (`query_range`) and Pub/Sub (Cloud Monitoring's series). Another
    /// source has none to give, which is an error.
    pub async fn history(
        &self,
        namespace: &str,
        spec: &GeneralScalerSpec,
        metric: &MetricSpec,
        (start, end): (jiff::Timestamp, jiff::Timestamp),
        timeout: Duration,
    ) -> Result<Vec<(jiff::Timestamp, f64)>, MetricError> {
        const MINUTE: Duration = Duration::from_secs(60);
        if let (MetricType::Prometheus, Some(source)) = (metric.kind, &metric.prometheus) {
            return self.query_range(namespace, source, start, end, MINUTE, timeout).await;
        }
        let target = target_of(metric)?;
        let seconds = timeout.as_secs().max(1) as u32;
        let work = async {
            let scope = Scope { target_ref: &spec.target_ref, tolerance: spec.behavior.tolerance };
            let resolved = self.resolve(namespace, scope, metric).await?;
            self.inner.stats.query(metric.kind);
            match &resolved.source {
                #[cfg(feature = "pubsub")]
                Source::PubSub(query) => {
                    let secrets: Vec<&str> = resolved.secrets.iter().map(SecretString::expose).collect();
                    query.history(start, end).await.map_err(|err| err.redact(&secrets))
                }
                _ => Err(MetricError::InvalidSource {
                    kind: metric.kind.as_str(),
                    detail: "this source keeps no history".into(),
                }),
            }
        };
        tokio::time::timeout(timeout, work).await.unwrap_or(Err(MetricError::Timeout { target, seconds }))
    }
}

#[cfg(test)]
mod tests {
    use super::resolve::origin;
    use super::*;

    fn assert_send<T: Send>(_: &T) {}
    fn assert_shareable<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn fetch_can_be_spawned() {
        assert_shareable::<Fetcher>();
        let spec: GeneralScalerSpec = serde_json::from_value(serde_json::json!({
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
            "maxReplicas": 3,
            "metric": {"type": "redis", "targetValue": 5, "redis": {"host": "127.0.0.1", "queueName": "q"}},
        }))
        .unwrap();
        let fetcher = Fetcher::new(None, Settings::default());
        let future = fetcher.fetch("team", &spec);
        assert_send(&future);
        drop(future);
    }

    #[test]
    fn targets_from_specs() {
        let metric: MetricSpec =
            serde_json::from_value(serde_json::json!({"type": "prometheus", "targetValue": 1,
            "prometheus": {"serverUrl": "http://user:pw@prom:9090/?x=1", "query": "sum(up)"}}))
            .unwrap();
        assert_eq!(target_of(&metric).unwrap().to_string(), "prometheus http://prom:9090, query `sum(up)`");
        let broken: MetricSpec =
            serde_json::from_value(serde_json::json!({"type": "redis", "targetValue": 1})).unwrap();
        assert_eq!(
            target_of(&broken).unwrap_err().to_string(),
            "redis metric: invalid source: type redis needs a redis block"
        );
        assert_eq!(origin("https://prom.example/api/v1"), "https://prom.example:443");
    }
}
