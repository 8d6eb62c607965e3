//! The GeneralScaler spec: every field of DESIGN §1 with its default, as serde and schemars types.
//!
//! Field names and shapes keep the original operator's YAML valid unchanged; fields marked (ext) are
//! gscale's own. Semantic checks that a schema cannot express live in `api::check`, not here.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::forecast::{ForecastMode, ForecastSpec};
use super::status::GeneralScalerStatus;

/// The desired autoscaling of one workload: which target, from which metrics, through which policy,
/// within which rails.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "autoscaling.generalscaler.io",
    version = "v1alpha1",
    kind = "GeneralScaler",
    plural = "generalscalers",
    singular = "generalscaler",
    shortname = "gsc",
    namespaced,
    status = "GeneralScalerStatus",
    printcolumn = r#"{"name":"Target","type":"string","jsonPath":".spec.targetRef.name"}"#,
    printcolumn = r#"{"name":"Min","type":"integer","jsonPath":".spec.minReplicas"}"#,
    printcolumn = r#"{"name":"Max","type":"integer","jsonPath":".spec.maxReplicas"}"#,
    printcolumn = r#"{"name":"Current","type":"integer","jsonPath":".status.currentReplicas"}"#,
    printcolumn = r#"{"name":"Desired","type":"integer","jsonPath":".status.desiredReplicas"}"#,
    printcolumn = r#"{"name":"Metric","type":"string","jsonPath":".status.metricSummary"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(
    validation = Rule::new("self.minReplicas <= self.maxReplicas")
        .message("minReplicas must be less than or equal to maxReplicas")
        .field_path(".minReplicas"),
    validation = Rule::new("!(has(self.metric) && has(self.metrics))")
        .message("set either metric or metrics, not both")
        .field_path(".metrics"),
    validation = Rule::new("has(self.metric) || (has(self.metrics) && size(self.metrics) > 0)")
        .message("a metric is required: set metric (or metrics)")
        .field_path(".metric")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneralScalerSpec {
    /// The workload to scale: any kind with a `/scale` subresource, in the scaler's namespace.
    pub target_ref: TargetRef,
    /// Lowest replica count; 0 allows scale to zero, then `activationValue` decides 0 <-> 1.
    #[serde(default = "default_min_replicas")]
    #[schemars(range(min = 0))]
    pub min_replicas: i32,
    /// Highest replica count, at least 1 and at least `minReplicas`.
    #[schemars(range(min = 1))]
    pub max_replicas: i32,
    /// One metric (the original form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<MetricSpec>,
    /// (ext) Several metrics (at most 10); the desired count is the highest any of them asks for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub metrics: Vec<MetricSpec>,
    /// How the metric's count is turned into a decision.
    #[serde(default)]
    pub policy: PolicySpec,
    /// Tolerance, cooldowns, stabilization windows and step limits.
    #[serde(default)]
    pub behavior: Behavior,
    /// Seconds between two reconciles of this scaler.
    #[serde(default = "default_sync_interval")]
    #[schemars(range(min = 1))]
    pub sync_interval_seconds: u32,
    /// (ext) What to do when every metric keeps failing.
    #[serde(default)]
    pub fallback: Fallback,
    /// (ext) Time windows that set minReplicas and/or maxReplicas while open; where several are
    /// open, the highest minimum and the highest maximum win.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub schedules: Vec<super::ScheduleWindow>,
    /// (ext) Keep computing and reporting, never scale.
    #[serde(default)]
    pub paused: bool,
    /// (ext) Compute and record the decision in status and Events, never scale.
    #[serde(default)]
    pub dry_run: bool,
    /// (ext) Buy capacity ahead of demand from the load's own daily or weekly shape; off unless set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<ForecastSpec>,
    /// (ext) One CEL expression over the metrics' names, held to its own target: the scaler is
    /// decided from its result instead of the highest of the metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formula: Option<super::FormulaSpec>,
}

fn default_min_replicas() -> i32 {
    1
}

fn default_sync_interval() -> u32 {
    15
}

impl GeneralScalerSpec {
    /// The metrics in use, whichever of `metric` or `metrics` holds them.
    pub fn metrics(&self) -> &[MetricSpec] {
        match &self.metric {
            Some(metric) => std::slice::from_ref(metric),
            None => &self.metrics,
        }
    }

    /// The forecast settings when forecasting is Observe or On; `None` when off or unset.
    pub fn forecast_enabled(&self) -> Option<&ForecastSpec> {
        self.forecast.as_ref().filter(|f| f.mode != ForecastMode::Off)
    }
}

/// The scaled workload, found in the scaler's own namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetRef {
    /// API version of the target, such as `apps/v1`.
    pub api_version: String,
    /// Kind of the target, such as `Deployment` or `StatefulSet`.
    pub kind: String,
    /// Name of the target.
    pub name: String,
}

/// A key of a Secret in the scaler's own namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[x_kube(
    validation = Rule::new("self.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message("secret name must be a Kubernetes name: lowercase letters, digits, '-' and '.'").field_path(".name")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretKeyRef {
    /// Name of the Secret (a DNS subdomain name: it is put in the request path).
    #[schemars(length(max = 253))]
    pub name: String,
    /// Key inside the Secret's data.
    pub key: String,
}

/// One metric: where to read it and what value one replica should carry.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(
    validation = Rule::new("self.targetValue > 0.0").message("targetValue must be greater than 0").field_path(".targetValue"),
    validation = Rule::new("self.type != 'prometheus' || has(self.prometheus)").message("type prometheus needs a prometheus block").field_path(".prometheus"),
    validation = Rule::new("self.type != 'redis' || has(self.redis)").message("type redis needs a redis block").field_path(".redis"),
    validation = Rule::new("self.type != 'pubsub' || has(self.pubsub)").message("type pubsub needs a pubsub block").field_path(".pubsub"),
    validation = Rule::new("self.type != 'http' || has(self.http)").message("type http needs an http block").field_path(".http"),
    validation = Rule::new("self.type != 'resource' || has(self.resource)").message("type resource needs a resource block").field_path(".resource"),
    validation = Rule::new("self.type != 'rabbitmq' || has(self.rabbitmq)").message("type rabbitmq needs a rabbitmq block").field_path(".rabbitmq"),
    validation = Rule::new("self.type != 'nats' || has(self.nats)").message("type nats needs a nats block").field_path(".nats"),
    validation = Rule::new("self.type != 'external' || has(self.external)").message("type external needs an external block").field_path(".external"),
    validation = Rule::new("self.type != 'kafka' || has(self.kafka)").message("type kafka needs a kafka block").field_path(".kafka"),
    validation = Rule::new("!has(self.activationValue) || self.activationValue >= 0.0").message("activationValue must be 0 or more").field_path(".activationValue")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricSpec {
    /// Which source reads the metric.
    #[serde(rename = "type")]
    pub kind: MetricType,
    /// (ext) Name shown in status and plans; defaults to the type (a resource metric's: its resource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The value one replica should carry (Value) or the total per replica (AverageValue); above 0.
    pub target_value: f64,
    /// (ext) Value: the metric is per pod; AverageValue: the metric is a total. Default by source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,
    /// (ext) At or below it the workload may rest at 0 when minReplicas is 0.
    #[serde(default)]
    pub activation_value: f64,
    /// (ext) Seconds one fetch of this metric may take, 1 to 60 (a daemon may cap it lower).
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 1, max = 60))]
    pub timeout_seconds: u32,
    /// Prometheus instant query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSource>,
    /// Redis queue length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisSource>,
    /// Google Cloud Pub/Sub subscription backlog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pubsub: Option<PubSubSource>,
    /// Any HTTP endpoint returning JSON or Prometheus text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSource>,
    /// (ext) CPU or memory of the target's pods, from the resource metrics API (metrics-server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceSource>,
    /// (ext) A RabbitMQ queue's length or publish rate, from the management API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rabbitmq: Option<super::RabbitMqSource>,
    /// (ext) A NATS JetStream consumer's pending messages, from the monitoring endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nats: Option<super::NatsSource>,
    /// (ext) A KEDA external scaler's metric, over gRPC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<super::ExternalSource>,
    /// (ext) A Kafka consumer group's lag on a topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka: Option<super::KafkaSource>,
}

fn default_timeout() -> u32 {
    5
}

/// The most `timeoutSeconds` may be: a fetch that takes longer holds its scaler past most intervals.
pub const MAX_TIMEOUT_SECONDS: u32 = 60;

impl MetricSpec {
    /// The name shown in status: `name`, else the resource of a resource metric (`cpu`), else the type.
    pub fn display_name(&self) -> &str {
        let resource = self.resource.as_ref().filter(|_| self.kind == MetricType::Resource);
        self.name.as_deref().or(resource.map(|r| r.name.as_str())).unwrap_or(self.kind.as_str())
    }

    /// The target type in force: the explicit one, else the source's default.
    pub fn effective_target_type(&self) -> TargetType {
        self.target_type.unwrap_or(match self.kind {
            MetricType::Prometheus | MetricType::Http => TargetType::Value,
            MetricType::Redis
            | MetricType::Pubsub
            | MetricType::Rabbitmq
            | MetricType::Nats
            | MetricType::External
            | MetricType::Kafka
            | MetricType::Formula => TargetType::AverageValue,
            MetricType::Resource => TargetType::Utilization,
        })
    }
}

/// The metric sources gscale reads.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    /// A Prometheus instant query.
    Prometheus,
    /// The length of a Redis list, set, sorted set, hash or stream.
    Redis,
    /// A Google Cloud Pub/Sub subscription's backlog or oldest unacked age.
    Pubsub,
    /// A number from an HTTP endpoint.
    Http,
    /// CPU or memory of the target's pods, as the HPA reads them.
    Resource,
    /// A RabbitMQ queue's length or publish rate.
    Rabbitmq,
    /// A NATS JetStream consumer's pending messages.
    Nats,
    /// A KEDA external scaler's metric, over gRPC.
    External,
    /// A Kafka consumer group's lag on a topic.
    Kafka,
    /// `spec.formula`'s result, as the engine sees it; never written in a metric.
    #[serde(skip_deserializing)]
    Formula,
}

impl MetricType {
    /// Every type, in the order the docs list them.
    pub const ALL: [MetricType; 9] = [
        Self::Prometheus,
        Self::Redis,
        Self::Pubsub,
        Self::Http,
        Self::Resource,
        Self::Rabbitmq,
        Self::Nats,
        Self::External,
        Self::Kafka,
    ];

    /// The name used in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prometheus => "prometheus",
            Self::Redis => "redis",
            Self::Pubsub => "pubsub",
            Self::Http => "http",
            Self::Resource => "resource",
            Self::Rabbitmq => "rabbitmq",
            Self::Nats => "nats",
            Self::External => "external",
            Self::Kafka => "kafka",
            Self::Formula => "formula",
        }
    }
}

/// How a metric value turns into a replica count.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum TargetType {
    /// The metric is per pod: desired = ceil(current * value / target).
    Value,
    /// The metric is a total: desired = ceil(value / target).
    AverageValue,
    /// (resource metrics only) The pods' usage in percent of their requests, the HPA's rule:
    /// desired = ceil(current * value / target), pods not ready or without metrics counted by the
    /// source as the HPA counts them.
    Utilization,
}

/// An instant query against a Prometheus-compatible server.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(
    validation = Rule::new("self.serverUrl.startsWith('http://') || self.serverUrl.startsWith('https://')").message("serverUrl is not an http:// or https:// URL").field_path(".serverUrl"),
    validation = Rule::new("size(self.query) > 0").message("prometheus query must not be empty").field_path(".query")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusSource {
    /// Base URL of the server, such as `http://prometheus:9090`.
    pub server_url: String,
    /// PromQL returning one number (a scalar or a one-series vector).
    pub query: String,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// (ext) Bearer token read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_secret_ref: Option<SecretKeyRef>,
    /// (ext) PEM CA bundle read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,
    /// (ext) Skip TLS verification (a warning condition says so).
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// The length of a Redis key.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(
    validation = Rule::new("size(self.host) > 0").message("redis host must not be empty").field_path(".host")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedisSource {
    /// Host name or address.
    pub host: String,
    /// Port.
    #[serde(default = "default_redis_port")]
    pub port: u16,
    /// Database number.
    #[serde(default)]
    pub db: u32,
    /// The key whose length is the metric.
    pub queue_name: String,
    /// (ext) ACL user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Plain-text password (works, with a warning: prefer passwordSecretRef).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// (ext) Password read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret_ref: Option<SecretKeyRef>,
    /// (ext) Connect over TLS.
    #[serde(default)]
    pub tls: bool,
    /// (ext) With tls: skip certificate verification.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// (ext) With tls: PEM CA bundle read from a Secret (a private CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,
    /// (ext) auto: LLEN, ZCARD, SCARD or HLEN by the key's type; stream: XLEN, or pending with a group.
    #[serde(default)]
    pub kind: RedisKind,
    /// (ext) With kind stream: count this group's pending entries plus its lag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_group: Option<String>,
}

fn default_redis_port() -> u16 {
    6379
}

/// How a Redis key's length is read.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RedisKind {
    /// By the key's type: list, sorted set, set or hash.
    #[default]
    Auto,
    /// A stream: XLEN, or the consumer group's backlog.
    Stream,
}

/// A Google Cloud Pub/Sub subscription.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PubSubSource {
    /// The Google Cloud project.
    pub project_id: String,
    /// The subscription whose backlog is read.
    pub subscription_id: String,
    /// A service-account JSON key in a Secret; else Application Default Credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<SecretKeyRef>,
    /// (ext) Which series: the undelivered message count or the oldest unacked age in seconds.
    #[serde(default)]
    pub mode: PubSubMode,
}

/// Which Pub/Sub series is the metric.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PubSubMode {
    /// `subscription/num_undelivered_messages`.
    #[default]
    Backlog,
    /// `subscription/oldest_unacked_message_age`, in seconds.
    OldestUnackedAge,
}

/// A number read from an HTTP endpoint.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(
    validation = Rule::new("self.url.startsWith('http://') || self.url.startsWith('https://')").message("url is not an http:// or https:// URL").field_path(".url")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpSource {
    /// The URL to fetch.
    pub url: String,
    /// GET, or POST with `body`.
    #[serde(default)]
    pub method: HttpMethod,
    /// Request body for POST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Where the number is: a JSON Pointer (`/a/b/0`) or path (`$.a.b[0]`) in a JSON reply, or a
    /// series (`name{label="v"}`) in a Prometheus text reply. Empty: the whole reply is the number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_path: Option<String>,
    /// (ext) Bearer token read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_secret_ref: Option<SecretKeyRef>,
    /// (ext) PEM CA bundle read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,
    /// (ext) Skip TLS verification (a warning condition says so).
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// CPU or memory of the target's pods, read from the resource metrics API (`metrics.k8s.io`,
/// served by metrics-server) for the pods the target's `/scale` selector picks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceSource {
    /// `cpu` or `memory`.
    pub name: ResourceName,
    /// Only this container of each pod (the HPA's `ContainerResource`); unset: all containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// A resource the resource metrics API reports.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResourceName {
    /// CPU, in cores (`500m` is 0.5).
    Cpu,
    /// Memory, in bytes.
    Memory,
}

impl ResourceName {
    /// The name used in YAML and by the metrics API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
        }
    }
}

/// HTTP method of an HTTP metric.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET.
    #[default]
    Get,
    /// POST, with the optional body.
    Post,
}

/// The policy that turns the metric's count into a decision.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(
    validation = Rule::new("self.type != 'costAware' || has(self.costAware)").message("policy type costAware needs a costAware block").field_path(".costAware")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySpec {
    /// proportional (default), slo or costAware.
    #[serde(default, rename = "type")]
    pub kind: PolicyType,
    /// Settings of the slo policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloPolicy>,
    /// Settings of the costAware policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_aware: Option<CostAwarePolicy>,
}

/// The policies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PolicyType {
    /// The metric stage alone.
    #[default]
    Proportional,
    /// Latency and error-rate aware.
    Slo,
    /// Paced against a monthly budget.
    CostAware,
}

impl PolicyType {
    /// The name used in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proportional => "proportional",
            Self::Slo => "slo",
            Self::CostAware => "costAware",
        }
    }
}

/// Service-level objectives that raise the count on a latency breach and block scale-down while at risk.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(
    validation = Rule::new("!has(self.serverUrl) || self.serverUrl.startsWith('http://') || self.serverUrl.startsWith('https://')").message("serverUrl is not an http:// or https:// URL").field_path(".serverUrl")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SloPolicy {
    /// Latency objective in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_latency_ms: Option<f64>,
    /// Error-rate objective, a fraction such as 0.01.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_error_rate: Option<f64>,
    /// (ext) PromQL giving the current latency in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_query: Option<String>,
    /// (ext) PromQL giving the current error rate as a fraction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate_query: Option<String>,
    /// (ext) Prometheus for the two queries; defaults to the first prometheus metric's server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_url: Option<String>,
    /// (ext) Scale down only while latency is below this fraction of its objective.
    #[serde(default = "default_scale_down_below")]
    pub scale_down_below: f64,
}

fn default_scale_down_below() -> f64 {
    0.8
}

/// A monthly budget paced over the calendar month (UTC).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(
    validation = Rule::new("self.maxMonthlyCost > 0.0").message("maxMonthlyCost must be greater than 0").field_path(".maxMonthlyCost"),
    validation = Rule::new("self.costPerPodPerHour > 0.0").message("costPerPodPerHour must be greater than 0").field_path(".costPerPodPerHour")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CostAwarePolicy {
    /// The most the workload may cost in one calendar month.
    pub max_monthly_cost: f64,
    /// What one replica costs per hour.
    pub cost_per_pod_per_hour: f64,
    /// down: frugal; up: eager; balanced: the plain rule.
    #[serde(default)]
    pub preferred_scale_direction: ScaleDirection,
}

/// Which way a costAware scaler leans.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScaleDirection {
    /// Scale up only past twice the tolerance, round down.
    Down,
    /// Scale up at any breach of tolerance, scale down only past twice the tolerance.
    Up,
    /// The plain rule.
    #[default]
    Balanced,
}

/// The safety rails.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Behavior {
    /// (ext) No change while |ratio - 1| <= tolerance.
    #[serde(default = "default_tolerance")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub tolerance: f64,
    /// Rails on the way up.
    #[serde(default)]
    pub scale_up: ScaleUpRules,
    /// Rails on the way down.
    #[serde(default)]
    pub scale_down: ScaleDownRules,
}

fn default_tolerance() -> f64 {
    0.1
}

impl Default for Behavior {
    fn default() -> Self {
        Self {
            tolerance: default_tolerance(),
            scale_up: ScaleUpRules::default(),
            scale_down: ScaleDownRules::default(),
        }
    }
}

/// Rails on the way up: no limit, no cooldown and no window unless set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaleUpRules {
    /// Most replicas added in one step; 0: never scale up (the HPA's `selectPolicy: Disabled`);
    /// unset: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_increment: Option<i32>,
    /// Seconds after a scale-up before the next one.
    #[serde(default)]
    pub cooldown_seconds: u32,
    /// (ext) Scale up to the lowest recommendation of this many seconds.
    #[serde(default)]
    pub stabilization_window_seconds: u32,
}

/// Rails on the way down: no limit, no cooldown and a 300 s window unless set.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaleDownRules {
    /// Most replicas removed in one step; 0: never scale down (the HPA's `selectPolicy:
    /// Disabled`); unset: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_decrement: Option<i32>,
    /// Seconds after a scale-down before the next one (the original project's "wait time between
    /// scale-downs"); 0 unless set: the window alone holds the way down, as the HPA's does.
    #[serde(default)]
    pub cooldown_seconds: u32,
    /// (ext) Scale down to the highest recommendation of this many seconds.
    #[serde(default = "default_down_seconds")]
    pub stabilization_window_seconds: u32,
}

fn default_down_seconds() -> u32 {
    300
}

impl Default for ScaleDownRules {
    fn default() -> Self {
        Self {
            max_decrement: None,
            cooldown_seconds: 0,
            stabilization_window_seconds: default_down_seconds(),
        }
    }
}

/// (ext) What happens after `failureThreshold` consecutive reconciles in which every metric failed.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(
    validation = Rule::new("self.action != 'setReplicas' || has(self.replicas)").message("fallback action setReplicas needs replicas").field_path(".replicas")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fallback {
    /// Consecutive all-failed reconciles before the fallback applies.
    #[serde(default = "default_failure_threshold")]
    #[schemars(range(min = 1))]
    pub failure_threshold: u32,
    /// hold (default): keep the current count; setReplicas: raise to at least `replicas`.
    #[serde(default)]
    pub action: FallbackAction,
    /// The count for setReplicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub replicas: Option<i32>,
}

fn default_failure_threshold() -> u32 {
    3
}

impl Default for Fallback {
    fn default() -> Self {
        Self { failure_threshold: default_failure_threshold(), action: FallbackAction::Hold, replicas: None }
    }
}

/// The fallback actions.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FallbackAction {
    /// Keep the current count.
    #[default]
    Hold,
    /// Go to `replicas` (never below the current count while metrics are missing).
    SetReplicas,
}
