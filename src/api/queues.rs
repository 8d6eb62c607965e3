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
