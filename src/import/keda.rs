//! KEDA `ScaledObject` (`keda.sh/v1alpha1`) to GeneralScaler.
//!
//! Triggers map one to one onto metrics (several: the highest count wins, as in KEDA):
//! prometheus, redis (lists), redis-streams, gcp-pubsub, metrics-api (to http), rabbitmq,
//! nats-jetstream, external, kafka, cpu and memory (via [`super::resource`]); `advanced.scalingModifiers` becomes
//! `spec.formula` where CEL reads it. A trigger's `metricType` becomes the `targetType` (KEDA's default is
//! AverageValue, written out because gscale's default depends on the source). Secrets a trigger
//! takes through a TriggerAuthentication's `secretTargetRef` become Secret refs; any metadata key,
//! auth parameter or spec field without an equivalent becomes a `# not mapped:` comment. cron
//! triggers become `spec.schedules` windows (their `desiredReplicas` the window's minimum).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::resource::{self, Resource, Target};
use super::{Builder, Converted, ImportError, Settings, hpa, number, quantity};
use queues::{external, kafka, nats, rabbitmq, scaling_modifiers};
use triggers::{metrics_api, prometheus, pubsub, redis};

mod queues;
mod triggers;

/// The paused annotation: `"true"` stops scaling.
pub const PAUSED: &str = "autoscaling.keda.sh/paused";
/// The paused-replicas annotation: scale to this count, then stop scaling.
pub const PAUSED_REPLICAS: &str = "autoscaling.keda.sh/paused-replicas";

/// Whether a document is a ScaledObject.
pub fn is_scaled_object(doc: &Value) -> bool {
    doc.get("kind").and_then(Value::as_str) == Some("ScaledObject")
        && doc.get("apiVersion").and_then(Value::as_str).is_some_and(|v| v.starts_with("keda.sh/"))
}

/// Whether a document is a TriggerAuthentication or ClusterTriggerAuthentication.
pub fn is_trigger_auth(doc: &Value) -> bool {
    matches!(
        doc.get("kind").and_then(Value::as_str),
        Some("TriggerAuthentication" | "ClusterTriggerAuthentication")
    ) && doc.get("apiVersion").and_then(Value::as_str).is_some_and(|v| v.starts_with("keda.sh/"))
}

/// Convert one ScaledObject.
pub fn convert(doc: &Value, settings: &Settings) -> Result<Converted, ImportError> {
    let mut out = Builder::new("ScaledObject", doc)?;
    let spec = doc.get("spec").filter(|s| s.is_object()).ok_or_else(|| {
        out.field_error(
            "spec",
            "is missing",
            "pass the whole object, as `kubectl get scaledobject NAME -o yaml` prints it",
        )
    })?;
    let target = hpa::target_ref(
        &mut out,
        spec.get("scaleTargetRef"),
        "spec.scaleTargetRef",
        "apps/v1",
        Some("Deployment"),
    )?;
    let min = int(spec, "minReplicaCount").unwrap_or(0);
    let max = int(spec, "maxReplicaCount").unwrap_or(100);
    out.spec.insert("minReplicas".into(), json!(min));
    out.spec.insert("maxReplicas".into(), json!(max));
    out.spec.insert("syncIntervalSeconds".into(), json!(int(spec, "pollingInterval").unwrap_or(30).max(1)));
    out.check(
        "",
        format!(
            "imported from ScaledObject {}: delete it when this scaler is applied (KEDA and gscale would both scale {})",
            out.source.trim_start_matches("ScaledObject/"),
            target.1
        ),
    );

    let mut known: BTreeSet<&str> = [
        "scaleTargetRef",
        "minReplicaCount",
        "maxReplicaCount",
        "pollingInterval",
        "cooldownPeriod",
        "triggers",
        "fallback",
        "advanced",
    ]
    .into();
    for (key, value) in spec.as_object().into_iter().flatten() {
        match key.as_str() {
            "idleReplicaCount" => out.not_mapped(
                "spec.minReplicas",
                format!("spec.idleReplicaCount {value}: gscale rests at 0 only with minReplicas 0 (then activationValue decides); there is no separate idle count"),
            ),
            "initialCooldownPeriod" => out.not_mapped(
                "spec.behavior.scaleDown",
                format!("spec.initialCooldownPeriod {value}: gscale has no delay after creation before the first scale-down"),
            ),
            k if known.contains(k) => {}
            k => out.not_mapped("spec", format!("spec.{k}: not a ScaledObject field gscale knows")),
        }
    }
    known.clear();
    if let Some(extra) = spec.pointer("/scaleTargetRef/envSourceContainerName") {
        out.not_mapped(
            "spec.targetRef",
            format!(
                "spec.scaleTargetRef.envSourceContainerName {extra}: gscale reads no container environment"
            ),
        );
    }

    let triggers = spec.get("triggers").and_then(Value::as_array).cloned().unwrap_or_default();
    for (i, t) in triggers.iter().enumerate() {
        trigger(&mut out, t, i, settings);
    }
    if triggers.is_empty() {
        out.not_mapped("spec", "spec.triggers is empty: a GeneralScaler needs a metric");
    }

    // The HPA KEDA creates has the HPA's behavior unless `advanced` says otherwise.
    let advanced = spec.get("advanced");
    hpa::behavior(
        &mut out,
        advanced.and_then(|a| a.pointer("/horizontalPodAutoscalerConfig/behavior")),
        "spec.advanced.horizontalPodAutoscalerConfig.behavior",
        (min, max),
    );
    let cooldown = int(spec, "cooldownPeriod").unwrap_or(300);
    let current = out
        .spec
        .get("behavior")
        .and_then(|b| b.pointer("/scaleDown/cooldownSeconds"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    out.behavior("scaleDown", "cooldownSeconds", json!(i64::from(cooldown.max(0)).max(current)));
    out.check(
        "spec.behavior.scaleDown.cooldownSeconds",
        format!("cooldownPeriod {cooldown}: KEDA waits it only before the last replica goes (1 -> 0); gscale waits it before every scale-down"),
    );
    for (key, value) in advanced.and_then(Value::as_object).into_iter().flatten() {
        match key.as_str() {
            "horizontalPodAutoscalerConfig" => {
                for (k, v) in value.as_object().into_iter().flatten() {
                    if k != "behavior" {
                        out.not_mapped(
                            "spec.behavior",
                            format!(
                                "spec.advanced.horizontalPodAutoscalerConfig.{k} {v}: gscale creates no HPA"
                            ),
                        );
                    }
                }
            }
            "restoreToOriginalReplicaCount" if value == &json!(false) => {}
            "scalingModifiers" => scaling_modifiers(&mut out, value),
            k => out.not_mapped(
                "spec",
                format!("spec.advanced.{k} {}: gscale has no equivalent", compact(value)),
            ),
        }
    }
    fallback(&mut out, spec.get("fallback"));
    paused(&mut out, doc);
    Ok(out.finish())
}

fn int(spec: &Value, key: &str) -> Option<i32> {
    let value = spec.get(key)?;
    value.as_i64().or_else(|| value.as_str().and_then(|s| s.parse().ok())).and_then(|v| i32::try_from(v).ok())
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// `spec.fallback`: replicas while every trigger fails, after failureThreshold failures.
fn fallback(out: &mut Builder, fallback: Option<&Value>) {
    let Some(f) = fallback.filter(|f| f.is_object()) else { return };
    let mut mapped = json!({});
    if let Some(threshold) = f.get("failureThreshold").and_then(Value::as_u64) {
        mapped["failureThreshold"] = json!(threshold.max(1));
    }
    let replicas = f.get("replicas").and_then(Value::as_i64);
    match (f.get("behavior").and_then(Value::as_str).unwrap_or("static"), replicas) {
        ("currentReplicas", _) => mapped["action"] = json!("hold"),
        ("static", Some(r)) => {
            mapped["action"] = json!("setReplicas");
            mapped["replicas"] = json!(r);
            out.check("spec.fallback", "fallback behavior static: gscale goes to fallback.replicas but never below the current count while metrics are missing");
        }
        ("currentReplicasIfHigher", Some(r)) => {
            mapped["action"] = json!("setReplicas");
            mapped["replicas"] = json!(r);
        }
        (other, _) => {
            out.not_mapped("spec.fallback", format!("spec.fallback.behavior {other} (replicas {}): gscale holds the current count or raises it to fallback.replicas", replicas.map_or("none".to_string(), |r| r.to_string())));
        }
    }
    out.spec.insert("fallback".into(), mapped);
}

/// The paused annotations.
fn paused(out: &mut Builder, doc: &Value) {
    let annotations = doc.pointer("/metadata/annotations").and_then(Value::as_object);
    let get = |key: &str| annotations.and_then(|a| a.get(key)).and_then(Value::as_str);
    let paused = get(PAUSED).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if paused {
        out.spec.insert("paused".into(), json!(true));
    }
    if let Some(replicas) = get(PAUSED_REPLICAS) {
        out.spec.insert("paused".into(), json!(true));
        out.not_mapped(
            "spec.paused",
            format!("annotation {PAUSED_REPLICAS}: \"{replicas}\": gscale pauses where the count is; scale to it yourself: kubectl scale --replicas={replicas}"),
        );
    }
}

/// Secrets and other sources a trigger's TriggerAuthentication gives, by parameter.
#[derive(Default)]
struct Auth {
    /// What the reference names, for notes.
    name: String,
    /// parameter -> Secret {name, key}.
    secrets: BTreeMap<String, Value>,
    /// Parameters taken from somewhere gscale does not read (env, Vault, a ConfigMap).
    elsewhere: BTreeMap<String, String>,
    /// `podIdentity.provider`.
    pod_identity: Option<String>,
    used: BTreeSet<String>,
}

impl Auth {
    /// A Secret ref for a parameter, if it comes from a Secret.
    fn secret(&mut self, parameter: &str) -> Option<Value> {
        let found = self.secrets.get(parameter).cloned();
        if found.is_some() || self.elsewhere.contains_key(parameter) {
            self.used.insert(parameter.to_string());
        }
        found
    }
}

fn resolve_auth(out: &mut Builder, reference: Option<&Value>, path: &str, settings: &Settings) -> Auth {
    let mut auth = Auth::default();
    let Some(reference) = reference else { return auth };
    let name = reference.get("name").and_then(Value::as_str).unwrap_or_default();
    let kind = reference.get("kind").and_then(Value::as_str).unwrap_or("TriggerAuthentication");
    auth.name = format!("{kind} {name}");
    let namespace = out.namespace.clone();
    let found = settings.trigger_auths.iter().find(|a| {
        a.get("kind").and_then(Value::as_str) == Some(kind)
            && a.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
            && (kind == "ClusterTriggerAuthentication"
                || a.pointer("/metadata/namespace").and_then(Value::as_str).is_none()
                || namespace.is_none()
                || a.pointer("/metadata/namespace").and_then(Value::as_str) == namespace.as_deref())
    });
    let Some(found) = found else {
        out.not_mapped(
            path,
            format!("{path}.authenticationRef: {kind} {name} was not found, so its secrets are not mapped; pass it with -f too (or import from the cluster)"),
        );
        return auth;
    };
    if kind == "ClusterTriggerAuthentication" {
        out.check(
            path,
            format!("{kind} {name}: gscale reads Secrets from the scaler's namespace only; copy them there"),
        );
    }
    let spec = &found["spec"];
    for (key, value) in spec.as_object().into_iter().flatten() {
        match key.as_str() {
            "secretTargetRef" => {
                for s in value.as_array().into_iter().flatten() {
                    if let (Some(p), Some(n), Some(k)) =
                        (s["parameter"].as_str(), s["name"].as_str(), s["key"].as_str())
                    {
                        auth.secrets.insert(p.to_string(), json!({"name": n, "key": k}));
                    }
                }
            }
            "podIdentity" => {
                auth.pod_identity = value.get("provider").and_then(Value::as_str).map(str::to_string)
            }
            "env" | "configMapTargetRef" => {
                for s in value.as_array().into_iter().flatten() {
                    if let Some(p) = s["parameter"].as_str() {
                        auth.elsewhere.insert(p.to_string(), key.clone());
                    }
                }
            }
            other => out.not_mapped(
                path,
                format!("{kind} {name} spec.{other}: gscale reads secrets from Kubernetes Secrets only"),
            ),
        }
    }
    auth
}

/// Parameters of a TriggerAuthentication no mapping took.
fn unused_auth(out: &mut Builder, auth: &Auth, path: &str) {
    for p in auth.secrets.keys().chain(auth.elsewhere.keys()) {
        if !auth.used.contains(p) {
            out.not_mapped(
                path,
                format!("{} parameter {p}: no equivalent for this trigger in gscale", auth.name),
            );
        }
    }
    for (p, from) in &auth.elsewhere {
        if auth.used.contains(p) {
            out.not_mapped(
                path,
                format!(
                    "{} parameter {p} comes from {from}: gscale reads Kubernetes Secrets only",
                    auth.name
                ),
            );
        }
    }
}

/// What one trigger reads, before it becomes a metric.
struct Trigger<'a> {
    index: usize,
    kind: &'a str,
    metadata: &'a Map<String, Value>,
    taken: BTreeSet<&'static str>,
    /// Every metadata key is passed on (an external scaler's).
    all_taken: bool,
}

impl Trigger<'_> {
    fn path(&self) -> String {
        format!("spec.triggers[{}]", self.index)
    }

    /// A metadata value as text, marking the key as taken.
    fn text(&mut self, key: &'static str) -> Option<String> {
        self.taken.insert(key);
        match self.metadata.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    fn number(&mut self, key: &'static str) -> Option<f64> {
        self.taken.insert(key);
        self.metadata.get(key).and_then(quantity)
    }

    fn flag(&mut self, key: &'static str) -> bool {
        self.text(key).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

fn trigger(out: &mut Builder, t: &Value, index: usize, settings: &Settings) {
    let kind = t.get("type").and_then(Value::as_str).unwrap_or_default();
    let empty = Map::new();
    let metadata = t.get("metadata").and_then(Value::as_object).unwrap_or(&empty);
    let mut tr = Trigger { index, kind, metadata, taken: BTreeSet::new(), all_taken: false };
    let path = tr.path();
    let metric_path = out.next_metric_path();
    let mut auth = resolve_auth(out, t.get("authenticationRef"), &path, settings);
    let metric_type = t.get("metricType").and_then(Value::as_str);
    let target_type = match metric_type {
        None | Some("AverageValue") => "AverageValue",
        Some("Value") => "Value",
        Some(other) if !matches!(kind, "cpu" | "memory") => {
            out.not_mapped(
                "spec.metrics",
                format!("{path}.metricType {other}: only cpu and memory take it; read as AverageValue"),
            );
            "AverageValue"
        }
        Some(_) => "AverageValue",
    };
    let name = t.get("name").and_then(Value::as_str).unwrap_or(kind).to_string();
    if t.get("useCachedMetrics").is_some_and(|v| v == &json!(true)) {
        out.check(
            &metric_path,
            format!("{path}.useCachedMetrics: gscale reads each distinct query once per interval anyway"),
        );
    }
    let mut metric = json!({"type": "", "name": name, "targetType": target_type});
    let mapped = match kind {
        "prometheus" => prometheus(out, &mut tr, &mut auth, &mut metric, &metric_path),
        "redis" => redis(out, &mut tr, &mut auth, &mut metric, false, &metric_path),
        "redis-streams" => redis(out, &mut tr, &mut auth, &mut metric, true, &metric_path),
        "gcp-pubsub" => pubsub(out, &mut tr, &mut auth, &mut metric, &metric_path),
        "metrics-api" => metrics_api(out, &mut tr, &mut auth, &mut metric, &metric_path),
        "rabbitmq" => rabbitmq(out, &mut tr, &mut auth, &mut metric, &metric_path),
        "nats-jetstream" => nats(out, &mut tr, &mut auth, &mut metric, &metric_path),
        "external" => external(out, &mut tr, &mut auth, &mut metric, &metric_path),
        "kafka" => kafka(out, &mut tr, &mut auth, &mut metric, &metric_path),
        "cpu" | "memory" => {
            let value = tr.number("value");
            let old_type = tr.text("type");
            let container = tr.text("containerName");
            let as_utilization = metric_type.or(old_type.as_deref()) != Some("AverageValue");
            match value {
                Some(v) if v > 0.0 => {
                    let target_value =
                        if as_utilization { Target::Utilization(v) } else { Target::AverageValue(v) };
                    let r = Resource { name: kind, container: container.as_deref(), target: target_value };
                    resource::push(out, &r, &name);
                }
                _ => {
                    out.not_mapped("spec.metrics", format!("{path}: {kind} trigger without a positive value"))
                }
            }
            false
        }
        "cron" => {
            // A cron trigger is a window of known busy hours: spec.schedules, with the trigger's
            // replicas as the window's minimum.
            let text =
                |k: &str| metadata.get(k).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
            let desired = tr.number("desiredReplicas");
            match (text("start"), text("end"), desired) {
                (Some(start), Some(end), Some(replicas)) if replicas >= 0.0 => {
                    let schedules = out.spec.entry("schedules").or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(windows) = schedules {
                        let mut window = json!({"name": format!("cron-{}", windows.len() + 1), "start": start,
                                                "end": end, "minReplicas": replicas as i64});
                        if let Some(zone) = text("timezone") {
                            window["timezone"] = json!(zone);
                        }
                        windows.push(window);
                    }
                }
                _ => out.not_mapped(
                    "spec.schedules",
                    format!("{path}: cron trigger without start, end and desiredReplicas"),
                ),
            }
            tr.taken.extend(["start", "end", "timezone", "desiredReplicas"]);
            false
        }
        other => {
            out.not_mapped("spec.metrics", format!("{path}: trigger type {other:?} has no gscale source (gscale reads prometheus, redis, pubsub, http, rabbitmq, nats-jetstream, external, kafka, cpu and memory)"));
            unused_auth_quiet(&mut auth);
            return;
        }
    };
    if mapped {
        if let Some(activation) = tr.number(activation_key(kind)) {
            metric["activationValue"] = number(activation);
        }
        out.metrics.push(metric);
    }
    for key in metadata.keys() {
        if !tr.all_taken && !tr.taken.contains(key.as_str()) {
            out.not_mapped(&metric_path, format!("{path}.metadata.{key}: not mapped for a {kind} trigger"));
        }
    }
    unused_auth(out, &auth, &metric_path);
}

/// An unknown trigger's whole auth is already covered by its note.
fn unused_auth_quiet(auth: &mut Auth) {
    auth.used.extend(auth.secrets.keys().cloned());
    auth.used.extend(auth.elsewhere.keys().cloned());
}

fn activation_key(kind: &str) -> &'static str {
    match kind {
        "prometheus" => "activationThreshold",
        "redis" => "activationListLength",
        "redis-streams" => "activationLagCount",
        "metrics-api" => "activationTargetValue",
        "nats-jetstream" | "kafka" => "activationLagThreshold",
        _ => "activationValue",
    }
}

fn required(out: &mut Builder, tr: &Trigger<'_>, key: &str, value: Option<String>) -> Option<String> {
    if value.is_none() {
        out.not_mapped(
            "spec.metrics",
            format!("{}: {} trigger without metadata.{key}: not mapped", tr.path(), tr.kind),
        );
    }
    value
}

fn target_value(
    out: &mut Builder,
    tr: &mut Trigger<'_>,
    key: &'static str,
    default: Option<f64>,
) -> Option<f64> {
    let value = tr.number(key).or(default).filter(|v| *v > 0.0);
    if value.is_none() {
        out.not_mapped(
            "spec.metrics",
            format!("{}: {} trigger without a positive metadata.{key}", tr.path(), tr.kind),
        );
    }
    value
}
