//! The message-queue sources (ext): RabbitMQ queues through the management API, NATS JetStream
//! consumers through the server's monitoring endpoint, and KEDA external scalers over gRPC. Kept
//! apart from `spec.rs`, which holds the original operator's sources.

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SecretKeyRef;

/// A RabbitMQ queue's length or publish rate, from the management API (`rabbitmq_management`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(
    validation = Rule::new("self.url.startsWith('http://') || self.url.startsWith('https://')").message("rabbitmq url is not an http:// or https:// URL (the management API, port 15672)").field_path(".url")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RabbitMqSource {
    /// The management API, such as `http://rabbitmq:15672` (no credentials in it: use the Secret refs).
    pub url: String,
    /// The virtual host; default `/`.
    #[serde(default = "default_vhost")]
    pub vhost: String,
    /// The queue.
    pub queue_name: String,
    /// QueueLength (default): messages in the queue; MessageRate: messages published per second.
    #[serde(default)]
    pub mode: RabbitMqMode,
    /// With QueueLength: count only messages ready for delivery, not those delivered and unacked.
    #[serde(default)]
    pub exclude_unacknowledged: bool,
    /// The management user, when it is no secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The management user, read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_secret_ref: Option<SecretKeyRef>,
    /// The management user's password, read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret_ref: Option<SecretKeyRef>,
    /// PEM CA bundle read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,
    /// Skip TLS verification (a warning condition says so).
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

fn default_vhost() -> String {
    "/".to_string()
}

/// What of a RabbitMQ queue is the metric.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum RabbitMqMode {
    /// Messages in the queue (ready plus unacknowledged, unless `excludeUnacknowledged`).
    #[default]
    QueueLength,
    /// Messages published to the queue per second, as the management API averages it.
    MessageRate,
}

/// A NATS JetStream consumer's pending messages, from the server's monitoring endpoint (`/jsz`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(
    validation = Rule::new("self.monitoringUrl.startsWith('http://') || self.monitoringUrl.startsWith('https://')").message("nats monitoringUrl is not an http:// or https:// URL (the monitoring port, 8222)").field_path(".monitoringUrl")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NatsSource {
    /// The server's monitoring endpoint, such as `http://nats:8222`.
    pub monitoring_url: String,
    /// The account; default `$G`, the server's global account.
    #[serde(default = "default_account")]
    pub account: String,
    /// The stream.
    pub stream: String,
    /// The durable consumer whose pending messages are the metric.
    pub consumer: String,
    /// Also count messages delivered and not yet acknowledged.
    #[serde(default)]
    pub include_ack_pending: bool,
    /// PEM CA bundle read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,
    /// Skip TLS verification (a warning condition says so).
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

fn default_account() -> String {
    "$G".to_string()
}

/// A KEDA external scaler, spoken to over gRPC (`externalscaler.proto`): the reading is its metric's
/// value with its own `targetSize` scaled onto `targetValue` (so any targetValue holds each replica to
/// the scaler's target), and 0 while its `IsActive` says inactive.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(
    validation = Rule::new("size(self.scalerAddress) > 0").message("external scalerAddress must not be empty").field_path(".scalerAddress")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalSource {
    /// The scaler's `host:port`.
    pub scaler_address: String,
    /// The trigger's metadata, handed to the scaler as KEDA hands it (`ScaledObjectRef.scalerMetadata`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Which of the scaler's metrics to read, when it reports several; default: the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    /// Speak TLS to the scaler.
    #[serde(default)]
    pub tls: bool,
    /// With tls: PEM CA bundle read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,
    /// With tls: skip certificate verification (a warning condition says so).
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// A Kafka consumer group's lag on a topic: per partition, the latest offset (ListOffsets, from the
/// partition's leader) minus the group's committed offset (OffsetFetch, from the group's
/// coordinator), summed over the topic's partitions, as KEDA's kafka scaler reads it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(
    validation = Rule::new("size(self.bootstrapServers) > 0").message("kafka bootstrapServers must name at least one host:port").field_path(".bootstrapServers")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KafkaSource {
    /// Brokers to ask first, each `host:port`; the topic's leaders and the group's coordinator are
    /// then asked at the addresses the cluster advertises (each checked by the host policy).
    pub bootstrap_servers: Vec<String>,
    /// The consumer group whose lag is the metric.
    pub consumer_group: String,
    /// The topic.
    pub topic: String,
    /// Only these partitions (KEDA's partitionLimitation); default: all of the topic's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<i32>,
    /// What a partition with no committed offset counts as. Latest (default, as KEDA): 1 (0 with
    /// scaleToZeroOnInvalidOffset), the group would start at the end; Earliest: the partition's
    /// latest offset, the group would read it all.
    #[serde(default)]
    pub offset_reset_policy: KafkaOffsetReset,
    /// With offsetResetPolicy Latest, a partition with no committed offset counts 0, not 1.
    #[serde(default)]
    pub scale_to_zero_on_invalid_offset: bool,
    /// Let the lag ask for more replicas than the topic has partitions (off: the reading is capped
    /// at partitions × targetValue, since a consumer beyond one a partition idles).
    #[serde(default)]
    pub allow_idle_consumers: bool,
    /// Cap at the partitions that have lag rather than all partitions (with allowIdleConsumers off).
    #[serde(default)]
    pub limit_to_partitions_with_lag: bool,
    /// Leave out a partition whose committed offset has not moved since the previous read while it
    /// has lag: a message the consumers cannot get past adds no replicas.
    #[serde(default)]
    pub exclude_persistent_lag: bool,
    /// SASL authentication; default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl: Option<KafkaSasl>,
    /// Speak TLS to the brokers.
    #[serde(default)]
    pub tls: bool,
    /// With tls: PEM CA bundle read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,
    /// With tls: skip certificate verification (a warning condition says so).
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// What a Kafka partition with no committed offset counts as.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum KafkaOffsetReset {
    /// The group would start at the end: 1 (0 with scaleToZeroOnInvalidOffset).
    #[default]
    Latest,
    /// The group would read the partition from its start: its latest offset.
    Earliest,
}

/// SASL for Kafka: the mechanism and the credentials, the password always from a Secret.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KafkaSasl {
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    pub mechanism: KafkaSaslMechanism,
    /// The user, when it is no secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The user, read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_secret_ref: Option<SecretKeyRef>,
    /// The password, read from a Secret.
    pub password_secret_ref: SecretKeyRef,
}

/// A SASL mechanism gscale speaks to Kafka.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum KafkaSaslMechanism {
    /// The user and password in the clear (use with tls).
    #[serde(rename = "PLAIN")]
    Plain,
    /// SCRAM with SHA-256 (RFC 7677): the password never crosses the wire.
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    /// SCRAM with SHA-512.
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl KafkaSaslMechanism {
    /// The name Kafka knows it by.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}
