//! Checking a GeneralScaler the way the API server would (structural schema, CEL rules) and beyond
//! it (semantics a schema cannot say, and warnings), with a field path and a fix for every finding.
//!
//! `gscale validate` prints these with file and line; the daemon uses [`check_spec`] to put a scaler
//! it cannot act on into `InvalidSpec`.

use std::collections::HashSet;
use std::sync::OnceLock;

use kube::core::cel::Validator;
use serde_json::Value;

use super::{
    API_VERSION, ForecastMode, GeneralScaler, GeneralScalerSpec, KIND, MetricSpec, MetricType, PolicyType,
    RedisKind, Season,
};
use gscale_manifest::openapi::{self, ViolationKind};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Works, but deserves attention.
    Warning,
    /// Will not be accepted or cannot work.
    Error,
}

/// One problem with a manifest: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Field path, such as `spec.metric.targetValue`; empty for the whole document.
    pub path: String,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl Finding {
    fn error(path: impl Into<String>, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { severity: Severity::Error, path: path.into(), message: message.into(), hint: hint.into() }
    }

    fn warning(path: impl Into<String>, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, path: path.into(), message: message.into(), hint: hint.into() }
    }
}

/// The outcome of checking one document.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The scaler, when the document is one gscale can read.
    pub scaler: Option<GeneralScaler>,
    /// Every finding, errors and warnings.
    pub findings: Vec<Finding>,
}

impl Checked {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// The CRD's openAPIV3Schema as JSON, generated once.
pub fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let crd = super::crd();
        let schema = crd.spec.versions[0].schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref());
        serde_json::to_value(schema).expect("a schema always serializes to JSON")
    })
}

/// Check one document that should be a GeneralScaler.
pub fn check(value: &Value) -> Checked {
    let mut findings = Vec::new();
    let Some(object) = value.as_object() else {
        findings.push(Finding::error(
            "",
            "the document is not a mapping",
            "a GeneralScaler starts with apiVersion, kind, metadata and spec keys",
        ));
        return Checked { scaler: None, findings };
    };

    match object.get("apiVersion").and_then(Value::as_str) {
        Some(API_VERSION) => {}
        Some(other) => findings.push(Finding::error(
            "apiVersion",
            format!("apiVersion \"{other}\" is not {API_VERSION}"),
            format!("set apiVersion: {API_VERSION}"),
        )),
        None => findings.push(Finding::error(
            "apiVersion",
            "apiVersion is missing",
            format!("add apiVersion: {API_VERSION}"),
        )),
    }
    match object.get("kind").and_then(Value::as_str) {
        Some(KIND) => {}
        Some(other) => findings.push(Finding::error(
            "kind",
            format!("kind \"{other}\" is not {KIND}"),
            format!("set kind: {KIND} (gscale validates GeneralScaler manifests only)"),
        )),
        None => findings.push(Finding::error("kind", "kind is missing", format!("add kind: {KIND}"))),
    }
    if !findings.is_empty() {
        // Not a GeneralScaler: its other fields mean nothing to us.
        return Checked { scaler: None, findings };
    }
    check_metadata(object.get("metadata"), &mut findings);

    for v in openapi::check(schema(), value) {
        let hint = schema_hint(&v.path, &v.kind);
        findings.push(Finding::error(v.path, v.message, hint));
    }
    if findings.iter().any(|f| f.severity == Severity::Error) {
        return Checked { scaler: None, findings };
    }

    if let Err(errors) = Validator::new().validate(schema(), value, None) {
        for e in errors.into_vec() {
            let path = e.field_path.trim_start_matches('.').to_string();
            let hint = cel_hint(&e.message).to_string();
            findings.push(Finding::error(path, e.message, hint));
        }
    }

    // The API server stores a null label or annotation value (`app:` with nothing after it) as "".
    let mut stored = value.clone();
    for field in ["labels", "annotations"] {
        if let Some(map) = stored.pointer_mut(&format!("/metadata/{field}")).and_then(Value::as_object_mut) {
            map.values_mut().filter(|v| v.is_null()).for_each(|v| *v = Value::String(String::new()));
        }
    }
    let scaler = match serde_path_to_error::deserialize::<_, GeneralScaler>(stored) {
        Ok(scaler) => Some(scaler),
        Err(e) => {
            findings.push(Finding::error(
                e.path().to_string(),
                e.inner().to_string(),
                "fix this field to match the GeneralScaler reference in the README",
            ));
            None
        }
    };
    if let Some(scaler) = &scaler {
        // The CEL rules already named some of these problems; keep one finding per field.
        let seen: HashSet<String> = findings.iter().map(|f| f.path.clone()).collect();
        findings.extend(check_spec(&scaler.spec).into_iter().filter(|f| !seen.contains(&f.path)));
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    Checked {
        scaler: if findings.iter().any(|f| f.severity == Severity::Error) { None } else { scaler },
        findings,
    }
}

/// metadata is outside the CRD's schema: check what the API server would, before serde does it
/// with messages of its own.
fn check_metadata(metadata: Option<&Value>, out: &mut Vec<Finding>) {
    let Some(metadata) = metadata else {
        out.push(Finding::error("metadata", "metadata is missing", "add metadata: {name: my-scaler}"));
        return;
    };
    let Some(metadata) = metadata.as_object() else {
        out.push(Finding::error(
            "metadata",
            format!("metadata must be a mapping, not {}", openapi::describe(metadata)),
            "write metadata as a mapping, e.g. metadata: {name: my-scaler}",
        ));
        return;
    };
    match metadata.get("name") {
        Some(Value::String(name)) if is_dns_subdomain(name) => {}
        Some(Value::String(name)) => out.push(Finding::error(
            "metadata.name",
            format!("name \"{name}\" is not a valid Kubernetes name"),
            DNS_SUBDOMAIN_HINT,
        )),
        Some(other) => out.push(not_a_string("metadata.name", other)),
        None => out.push(Finding::error(
            "metadata.name",
            "metadata.name is missing",
            "give the scaler a name under metadata.name",
        )),
    }
    match metadata.get("namespace") {
        None => {}
        Some(Value::String(namespace)) if is_dns_label(namespace) => {}
        Some(Value::String(namespace)) => out.push(Finding::error(
            "metadata.namespace",
            format!("namespace \"{namespace}\" is not a valid namespace name"),
            "use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
        )),
        Some(other) => out.push(not_a_string("metadata.namespace", other)),
    }
    for field in ["labels", "annotations"] {
        let path = format!("metadata.{field}");
        match metadata.get(field) {
            None => {}
            Some(Value::Object(map)) => {
                // A null value is stored as "" by the API server, as `app:` with nothing after it means.
                for (key, value) in map.iter().filter(|(_, v)| !v.is_string() && !v.is_null()) {
                    out.push(not_a_string(&format!("{path}.{key}"), value));
                }
            }
            Some(other) => out.push(Finding::error(
                path.as_str(),
                format!("{path} must be a mapping of strings, not {}", openapi::describe(other)),
                format!("write {field} as key: value pairs, e.g. {field}: {{app: my-app}}"),
            )),
        }
    }
}

/// A metadata field whose value YAML read as something other than text.
fn not_a_string(path: &str, value: &Value) -> Finding {
    let field = path.rsplit('.').next().unwrap_or(path);
    let example = match value {
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => "...".to_string(),
    };
    Finding::error(
        path,
        format!("{path} must be a string, not {}", openapi::describe(value)),
        format!("quote the value so YAML reads it as text: {field}: \"{example}\""),
    )
}

const SECRET_NAME_HINT: &str = "name a Secret in the scaler's own namespace: lowercase letters, digits, '-' and '.', at most 253 characters";

const ACTIVATION_HINT: &str =
    "set activationValue to the metric value at or below which the workload may rest at 0 (default 0)";

const URL_HINT: &str = "write the full URL with its scheme, e.g. http://prometheus.monitoring:9090";

const DNS_SUBDOMAIN_HINT: &str = "use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters";

/// What one replica costs and the budget: the fields a costAware policy cannot do without.
const COST_AWARE_HINT: &str =
    "add policy.costAware with its required fields: {maxMonthlyCost: 1000, costPerPodPerHour: 0.05}";

/// The checks no schema can express, on a spec that parsed. Also what the daemon runs before acting.
pub fn check_spec(spec: &GeneralScalerSpec) -> Vec<Finding> {
    let mut out = Vec::new();
    if spec.min_replicas > spec.max_replicas {
        out.push(Finding::error(
            "spec.minReplicas",
            format!("minReplicas {} is greater than maxReplicas {}", spec.min_replicas, spec.max_replicas),
            "lower minReplicas or raise maxReplicas so that minReplicas <= maxReplicas",
        ));
    }
    if spec.max_replicas < 1 {
        out.push(Finding::error(
            "spec.maxReplicas",
            "maxReplicas must be at least 1",
            "set maxReplicas to 1 or more",
        ));
    }
    let base = if spec.metric.is_some() { "spec.metric".to_string() } else { "spec.metrics".to_string() };
    if spec.metric.is_some() && !spec.metrics.is_empty() {
        out.push(Finding::error(
            "spec.metrics",
            "both metric and metrics are set",
            "keep one: metric for one metric, metrics for several",
        ));
    }
    if spec.metrics().is_empty() {
        out.push(Finding::error(
            "spec.metric",
            "no metric is set",
            "add a metric block with a type, a targetValue and its source",
        ));
    }
    let mut names = HashSet::new();
    for (i, metric) in spec.metrics().iter().enumerate() {
        let path = if spec.metric.is_some() { base.clone() } else { format!("{base}[{i}]") };
        if !names.insert(metric.display_name()) {
            out.push(Finding::error(
                format!("{path}.name"),
                format!("two metrics are named \"{}\"", metric.display_name()),
                "give each metric its own name (status reports them by name)",
            ));
        }
        check_metric(metric, &path, &mut out);
        queues::check_metric(metric, &path, &mut out);
        if metric.timeout_seconds > super::MAX_TIMEOUT_SECONDS {
            // Stored before the CRD had a maximum: the daemon reads it as the maximum.
            out.push(Finding::warning(
                format!("{path}.timeoutSeconds"),
                format!(
                    "timeoutSeconds {} is above the maximum of {}: it is read as {}",
                    metric.timeout_seconds,
                    super::MAX_TIMEOUT_SECONDS,
                    super::MAX_TIMEOUT_SECONDS
                ),
                "set timeoutSeconds from 1 to 60 (the default is 5)",
            ));
        }
    }
    check_policy(spec, &mut out);
    forecast::check(spec, &mut out);
    formula::check(spec, &mut out);
    let target = &spec.target_ref;
    if target.name.is_empty() || target.kind.is_empty() || target.api_version.is_empty() {
        out.push(Finding::error(
            "spec.targetRef",
            "targetRef needs apiVersion, kind and name",
            "point targetRef at the workload, e.g. {apiVersion: apps/v1, kind: Deployment, name: my-app}",
        ));
    }
    if !target.name.is_empty() && !is_dns_subdomain(&target.name) {
        out.push(Finding::error(
            "spec.targetRef.name",
            format!("targetRef name \"{}\" is not a valid Kubernetes name", target.name),
            format!("{DNS_SUBDOMAIN_HINT} (quote a name YAML would read as a number or .nan)"),
        ));
    }
    if let Some(kind) =
        WORKLOAD_KINDS.iter().find(|k| k.eq_ignore_ascii_case(&target.kind) && **k != target.kind)
    {
        out.push(Finding::error(
            "spec.targetRef.kind",
            format!("kind \"{}\" is not a Kubernetes kind: kinds are case-sensitive", target.kind),
            format!("write kind: {kind}"),
        ));
    }
    if spec.sync_interval_seconds > MAX_SYNC_INTERVAL_SECONDS {
        out.push(Finding::warning(
            "spec.syncIntervalSeconds",
            format!(
                "syncIntervalSeconds {} is more than a day: the scaler would hardly ever react to load",
                spec.sync_interval_seconds
            ),
            "set the seconds between two reconciles, usually 15 to 60 (the default is 30)",
        ));
    }
    schedules::check(spec, &mut out);
    resource::check(spec, &mut out);
    if let Some(replicas) = spec.fallback.replicas
        && replicas > spec.max_replicas
    {
        out.push(Finding::warning(
            "spec.fallback.replicas",
            format!("fallback replicas {replicas} is above maxReplicas {}", spec.max_replicas),
            "the fallback will be capped at maxReplicas; lower fallback.replicas to silence this",
        ));
    }
    out
}

/// The workload kinds with a /scale that people write by hand most, to catch their miscasing.
const WORKLOAD_KINDS: [&str; 3] = ["Deployment", "StatefulSet", "ReplicaSet"];

/// A reconcile interval longer than this is surely a mistake (a day, in seconds).
const MAX_SYNC_INTERVAL_SECONDS: u32 = 24 * 60 * 60;

fn check_metric(metric: &MetricSpec, path: &str, out: &mut Vec<Finding>) {
    if !positive(metric.target_value) {
        out.push(Finding::error(
            format!("{path}.targetValue"),
            format!("targetValue must be greater than 0, not {}", metric.target_value),
            "set targetValue to the value one replica should carry, e.g. 100",
        ));
    }
    if metric.activation_value.is_nan() || metric.activation_value < 0.0 {
        out.push(Finding::error(
            format!("{path}.activationValue"),
            format!("activationValue must be 0 or more, not {}", metric.activation_value),
            ACTIVATION_HINT,
        ));
    }
    let secret_refs = [
        (
            "prometheus.bearerTokenSecretRef",
            metric.prometheus.as_ref().and_then(|p| p.bearer_token_secret_ref.as_ref()),
        ),
        ("prometheus.caSecretRef", metric.prometheus.as_ref().and_then(|p| p.ca_secret_ref.as_ref())),
        ("redis.passwordSecretRef", metric.redis.as_ref().and_then(|r| r.password_secret_ref.as_ref())),
        ("redis.caSecretRef", metric.redis.as_ref().and_then(|r| r.ca_secret_ref.as_ref())),
        ("pubsub.credentialsSecret", metric.pubsub.as_ref().and_then(|p| p.credentials_secret.as_ref())),
        ("http.bearerTokenSecretRef", metric.http.as_ref().and_then(|h| h.bearer_token_secret_ref.as_ref())),
        ("http.caSecretRef", metric.http.as_ref().and_then(|h| h.ca_secret_ref.as_ref())),
        ("rabbitmq.usernameSecretRef", metric.rabbitmq.as_ref().and_then(|r| r.username_secret_ref.as_ref())),
        ("rabbitmq.passwordSecretRef", metric.rabbitmq.as_ref().and_then(|r| r.password_secret_ref.as_ref())),
        ("rabbitmq.caSecretRef", metric.rabbitmq.as_ref().and_then(|r| r.ca_secret_ref.as_ref())),
        ("nats.caSecretRef", metric.nats.as_ref().and_then(|n| n.ca_secret_ref.as_ref())),
        ("external.caSecretRef", metric.external.as_ref().and_then(|e| e.ca_secret_ref.as_ref())),
        ("kafka.caSecretRef", metric.kafka.as_ref().and_then(|k| k.ca_secret_ref.as_ref())),
        (
            "kafka.sasl.usernameSecretRef",
            metric.kafka.as_ref().and_then(|k| k.sasl.as_ref()).and_then(|s| s.username_secret_ref.as_ref()),
        ),
        (
            "kafka.sasl.passwordSecretRef",
            metric.kafka.as_ref().and_then(|k| k.sasl.as_ref()).map(|s| &s.password_secret_ref),
        ),
    ];
    for (field, reference) in secret_refs {
        if let Some(reference) = reference.filter(|r| !is_dns_subdomain(&r.name)) {
            out.push(Finding::error(
                format!("{path}.{field}.name"),
                format!("secret name \"{}\" is not a valid Kubernetes name", reference.name),
                SECRET_NAME_HINT,
            ));
        }
    }
    let blocks = [
        (MetricType::Prometheus, metric.prometheus.is_some()),
        (MetricType::Redis, metric.redis.is_some()),
        (MetricType::Pubsub, metric.pubsub.is_some()),
        (MetricType::Http, metric.http.is_some()),
        (MetricType::Resource, metric.resource.is_some()),
        (MetricType::Rabbitmq, metric.rabbitmq.is_some()),
        (MetricType::Nats, metric.nats.is_some()),
        (MetricType::External, metric.external.is_some()),
        (MetricType::Kafka, metric.kafka.is_some()),
    ];
    for (kind, present) in blocks {
        let name = kind.as_str();
        if kind == metric.kind && !present {
            out.push(Finding::error(
                format!("{path}.{name}"),
                format!("type {name} needs a {name} block"),
                format!("add {name}: {{...}} under the metric (see the README's {name} reference)"),
            ));
        } else if kind != metric.kind && present {
            out.push(Finding::warning(
                format!("{path}.{name}"),
                format!("the {name} block is ignored: the metric's type is {}", metric.kind.as_str()),
                format!("remove the {name} block, or set type: {name}"),
            ));
        }
    }
    if let Some(p) = &metric.prometheus {
        check_url(&p.server_url, &format!("{path}.prometheus.serverUrl"), out);
        if p.query.trim().is_empty() {
            out.push(Finding::error(
                format!("{path}.prometheus.query"),
                "query is empty",
                "write the PromQL that returns the metric",
            ));
        }
        if p.headers.keys().any(|k| k.eq_ignore_ascii_case("authorization")) {
            out.push(Finding::warning(
                format!("{path}.prometheus.headers"),
                "a credential is written in plain text in headers.Authorization",
                "put the token in a Secret and reference it with bearerTokenSecretRef",
            ));
        }
        warn_insecure(p.insecure_skip_verify, &format!("{path}.prometheus.insecureSkipVerify"), out);
    }
    if let Some(r) = &metric.redis {
        if r.host.trim().is_empty() {
            out.push(Finding::error(
                format!("{path}.redis.host"),
                "host is empty",
                "set host to the Redis server's name or address",
            ));
        }
        if r.queue_name.is_empty() {
            out.push(Finding::error(
                format!("{path}.redis.queueName"),
                "queueName is empty",
                "set queueName to the key holding the queue",
            ));
        }
        if r.password.is_some() {
            out.push(Finding::warning(
                format!("{path}.redis.password"),
                "the Redis password is written in plain text",
                "put it in a Secret and reference it with passwordSecretRef: {name, key}",
            ));
        }
        if r.consumer_group.is_some() && r.kind != RedisKind::Stream {
            out.push(Finding::warning(
                format!("{path}.redis.consumerGroup"),
                "consumerGroup is only read for streams",
                "add kind: stream, or remove consumerGroup",
            ));
        }
        warn_insecure(r.insecure_skip_verify, &format!("{path}.redis.insecureSkipVerify"), out);
    }
    if let Some(p) = &metric.pubsub {
        for (field, value) in [("projectId", &p.project_id), ("subscriptionId", &p.subscription_id)] {
            if value.trim().is_empty() {
                out.push(Finding::error(
                    format!("{path}.pubsub.{field}"),
                    format!("{field} is empty"),
                    format!("set {field}"),
                ));
            }
        }
    }
    if let Some(h) = &metric.http {
        check_url(&h.url, &format!("{path}.http.url"), out);
        if h.body.is_some() && h.method == super::HttpMethod::Get {
            out.push(Finding::warning(
                format!("{path}.http.body"),
                "body is ignored for GET",
                "add method: POST, or remove body",
            ));
        }
        warn_insecure(h.insecure_skip_verify, &format!("{path}.http.insecureSkipVerify"), out);
    }
    resource::check_metric(metric, path, out);
}

fn check_policy(spec: &GeneralScalerSpec, out: &mut Vec<Finding>) {
    let policy = &spec.policy;
    match policy.kind {
        PolicyType::Slo => {
            let slo = policy.slo.as_ref();
            let has_signal = slo.is_some_and(|s| s.latency_query.is_some() || s.error_rate_query.is_some());
            if !has_signal {
                out.push(Finding::warning(
                    "spec.policy.slo",
                    "the slo policy has no latencyQuery or errorRateQuery, so it acts as proportional",
                    "add latencyQuery (PromQL in milliseconds) and/or errorRateQuery (PromQL, a fraction) under policy.slo",
                ));
            }
            if let Some(slo) = slo {
                if slo.latency_query.is_some() && slo.target_latency_ms.is_none() {
                    out.push(Finding::error(
                        "spec.policy.slo.targetLatencyMs",
                        "latencyQuery is set without targetLatencyMs",
                        "add targetLatencyMs, the latency objective in milliseconds",
                    ));
                }
                if slo.error_rate_query.is_some() && slo.target_error_rate.is_none() {
                    out.push(Finding::error(
                        "spec.policy.slo.targetErrorRate",
                        "errorRateQuery is set without targetErrorRate",
                        "add targetErrorRate, the error-rate objective as a fraction such as 0.01",
                    ));
                }
                if slo.target_latency_ms.is_some_and(|t| !positive(t)) {
                    out.push(Finding::error(
                        "spec.policy.slo.targetLatencyMs",
                        "targetLatencyMs must be greater than 0",
                        "set the latency objective in milliseconds, e.g. 200",
                    ));
                }
                if slo.target_error_rate.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
                    out.push(Finding::error(
                        "spec.policy.slo.targetErrorRate",
                        "targetErrorRate must be a fraction between 0 and 1",
                        "write 1% as 0.01",
                    ));
                }
                if !(slo.scale_down_below > 0.0 && slo.scale_down_below <= 1.0) {
                    out.push(Finding::error(
                        "spec.policy.slo.scaleDownBelow",
                        "scaleDownBelow must be in (0, 1]",
                        "use a fraction of the latency objective, e.g. 0.8",
                    ));
                }
                if let Some(url) = &slo.server_url {
                    check_url(url, "spec.policy.slo.serverUrl", out);
                }
                let has_prometheus_server =
                    slo.server_url.is_some() || spec.metrics().iter().any(|m| m.prometheus.is_some());
                if has_signal && !has_prometheus_server {
                    out.push(Finding::error(
                        "spec.policy.slo.serverUrl",
                        "the slo queries have no Prometheus server to run on",
                        "add serverUrl under policy.slo (or a prometheus metric whose server it can share)",
                    ));
                }
            }
        }
        PolicyType::CostAware => {
            match &policy.cost_aware {
                Some(cost) => {
                    if !positive(cost.max_monthly_cost) {
                        out.push(Finding::error(
                            "spec.policy.costAware.maxMonthlyCost",
                            "maxMonthlyCost must be greater than 0",
                            "set the monthly budget, e.g. 1000",
                        ));
                    }
                    if !positive(cost.cost_per_pod_per_hour) {
                        out.push(Finding::error(
                            "spec.policy.costAware.costPerPodPerHour",
                            "costPerPodPerHour must be greater than 0",
                            "set what one replica costs per hour, e.g. 0.05",
                        ));
                    }
                    // A 31-day month at minReplicas must fit in the budget, or the scaler lives in BudgetExceeded.
                    let floor_cost = f64::from(spec.min_replicas) * cost.cost_per_pod_per_hour * 24.0 * 31.0;
                    if floor_cost > cost.max_monthly_cost {
                        out.push(Finding::warning(
                        "spec.policy.costAware.maxMonthlyCost",
                        format!("minReplicas {} alone costs up to {floor_cost:.2} a month, over the budget of {}", spec.min_replicas, cost.max_monthly_cost),
                        "raise maxMonthlyCost or lower minReplicas; the scaler never goes below minReplicas",
                    ));
                    }
                }
                None => out.push(Finding::error(
                    "spec.policy.costAware",
                    "policy type costAware needs a costAware block",
                    COST_AWARE_HINT,
                )),
            }
        }
        PolicyType::Proportional => {}
    }
}

/// The longest lead time: capacity bought an hour ahead is a schedule, not a forecast.
const MAX_LEAD_SECONDS: u32 = 3600;

fn check_url(url: &str, path: &str, out: &mut Vec<Finding>) {
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
        out.push(Finding::error(path, format!("\"{url}\" is not an http:// or https:// URL"), URL_HINT));
    }
}

fn warn_insecure(insecure: bool, path: &str, out: &mut Vec<Finding>) {
    if insecure {
        out.push(Finding::warning(
            path,
            "TLS certificate verification is off",
            "provide the CA with caSecretRef and remove insecureSkipVerify",
        ));
    }
}

/// Finite and above zero (NaN is neither).
fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// An RFC 1123 subdomain, as most object names must be: at most 253 characters of dot-separated
/// parts, each lowercase alphanumerics and '-' between alphanumerics. Unlike a label, a part may be
/// longer than 63 characters (Kubernetes' `IsDNS1123Subdomain` limits only the whole).
pub(crate) fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns_part)
}

/// An RFC 1123 label, as namespace names must be.
fn is_dns_label(name: &str) -> bool {
    name.len() <= 63 && is_dns_part(name)
}

/// Lowercase alphanumerics and '-', starting and ending with an alphanumeric.
fn is_dns_part(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn schema_hint(path: &str, kind: &ViolationKind) -> String {
    let field = path.rsplit('.').next().unwrap_or(path);
    let field = field.split('[').next().unwrap_or(field);
    match kind {
        ViolationKind::UnknownField => {
            format!("remove \"{field}\" or fix its spelling (field names are case-sensitive)")
        }
        ViolationKind::Required => match field {
            "maxReplicas" => "add maxReplicas: the most replicas gscale may set, at least 1".to_string(),
            "targetRef" => "add targetRef: {apiVersion: apps/v1, kind: Deployment, name: my-app}".to_string(),
            "targetValue" => "add targetValue: the value one replica should carry, above 0".to_string(),
            "type" => "add type: prometheus, redis, pubsub or http".to_string(),
            _ => format!("add {field}"),
        },
        ViolationKind::Type => format!("write {field} as the type named above"),
        ViolationKind::Enum(allowed) => format!("use one of: {}", allowed.join(", ")),
        ViolationKind::Range => match field {
            "maxReplicas" => "set maxReplicas to 1 or more".to_string(),
            "minReplicas" => "set minReplicas to 0 or more (0 allows scale to zero)".to_string(),
            "seasons" => "list each season once, at least one: seasons: [daily], [weekly] or [daily, weekly]"
                .to_string(),
            "leadSeconds" => "set how far ahead to buy capacity, from 1 to 3600 seconds, e.g. 60".to_string(),
            "timeoutSeconds" => "set timeoutSeconds from 1 to 60 (the default is 5): a backend that needs more holds its scaler past its interval".to_string(),
            _ => format!("bring {field} into the allowed range"),
        },
        ViolationKind::IntegerRange { min, max } => {
            format!("write {field} as a whole number from {min} to {max}")
        }
    }
}

fn cel_hint(message: &str) -> &'static str {
    if let Some(hint) = schedules::cel_hint(message) {
        hint
    } else if message.starts_with("secret name") {
        SECRET_NAME_HINT
    } else if message.contains("activationValue") {
        ACTIVATION_HINT
    } else if message.contains("http:// or https://") {
        URL_HINT
    } else if message.starts_with("prometheus query") {
        "write the PromQL that returns the metric"
    } else if message.starts_with("redis host") {
        "set host to the Redis server's name or address"
    } else if message.starts_with("maxMonthlyCost") {
        "set the monthly budget, e.g. 1000"
    } else if message.starts_with("costPerPodPerHour") {
        "set what one replica costs per hour, e.g. 0.05"
    } else if message.contains("minReplicas") {
        "lower minReplicas or raise maxReplicas so that minReplicas <= maxReplicas"
    } else if message.contains("targetValue") {
        "set targetValue to the value one replica should carry, e.g. 100"
    } else if message.contains("costAware") {
        COST_AWARE_HINT
    } else if message.contains("block") {
        "add the source block named by the metric's type (prometheus, redis, pubsub or http)"
    } else if message.contains("metric") {
        "use metric for one metric or metrics for several, not both"
    } else if message.contains("forecast.seasons") {
        "list each season once, at least one: seasons: [daily], [weekly] or [daily, weekly]"
    } else if message.contains("maxErrorRatio") {
        "set the typical relative error above which the forecast is not trusted, e.g. 0.5"
    } else if message.contains("fallback") {
        "add fallback.replicas, or use action: hold"
    } else {
        "fix the field as the message says"
    }
}

mod forecast;
mod formula;
mod queues;
mod resource;
mod schedules;

#[cfg(test)]
mod tests;
