//! HorizontalPodAutoscaler (`autoscaling/v2`, `v2beta2`, `v1`) to GeneralScaler.
//!
//! Bounds and target map as they are; Resource and ContainerResource metrics through
//! [`super::resource`]; Pods, Object and External metrics become Prometheus queries on the metric
//! name and selector (what prometheus-adapter serves them from, so each says `# check:`). The
//! `behavior` maps to gscale's rails: windows as they are, the largest policy (the smallest with
//! `selectPolicy: Min`) as a step limit with its period as a cooldown, tolerance where set. The HPA
//! has no cooldown, so the imported scale-down cooldown is 0 unless a policy period sets one.
//! KEDA's `advanced.horizontalPodAutoscalerConfig.behavior` goes through [`behavior`] too.

use serde_json::{Value, json};

use super::resource::{self, Resource, Target};
use super::{
    Builder, Converted, DEFAULT_PROMETHEUS_URL, HPA_SYNC_SECONDS, ImportError, Settings, number, quantity,
};

/// Whether a document is an HPA.
pub fn is_hpa(doc: &Value) -> bool {
    doc.get("kind").and_then(Value::as_str) == Some("HorizontalPodAutoscaler")
        && doc.get("apiVersion").and_then(Value::as_str).is_some_and(|v| v.starts_with("autoscaling/"))
}

/// Convert one HPA.
pub fn convert(doc: &Value, settings: &Settings) -> Result<Converted, ImportError> {
    let mut out = Builder::new("HorizontalPodAutoscaler", doc)?;
    let spec = doc.get("spec").filter(|s| s.is_object()).ok_or_else(|| {
        out.field_error(
            "spec",
            "is missing",
            "pass the whole object, as `kubectl get hpa NAME -o yaml` prints it",
        )
    })?;
    let target = target_ref(&mut out, spec.get("scaleTargetRef"), "spec.scaleTargetRef", "apps/v1", None)?;
    let min = int(spec.get("minReplicas")).unwrap_or(1);
    let max = int(spec.get("maxReplicas"))
        .ok_or_else(|| out.field_error("spec.maxReplicas", "is missing", "an HPA always has maxReplicas"))?;
    out.spec.insert("minReplicas".into(), json!(min));
    out.spec.insert("maxReplicas".into(), json!(max));
    out.spec.insert("syncIntervalSeconds".into(), json!(HPA_SYNC_SECONDS));
    out.check(
        "",
        format!(
            "imported from HorizontalPodAutoscaler {}: delete it when this scaler is applied (gscale does not scale a target an HPA also scales)",
            out.source.trim_start_matches("HorizontalPodAutoscaler/")
        ),
    );

    let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    if api_version == "autoscaling/v1" {
        let percent = spec.get("targetCPUUtilizationPercentage").and_then(Value::as_f64).unwrap_or(80.0);
        let r = Resource { name: "cpu", container: None, target: Target::Utilization(percent) };
        resource::push(&mut out, &r, "cpu");
    } else {
        let metrics = spec.get("metrics").and_then(Value::as_array).cloned().unwrap_or_default();
        if metrics.is_empty() {
            // The HPA's documented default: CPU at 80% of requests.
            let r = Resource { name: "cpu", container: None, target: Target::Utilization(80.0) };
            resource::push(&mut out, &r, "cpu");
        }
        for (i, m) in metrics.iter().enumerate() {
            metric(&mut out, m, &format!("spec.metrics[{i}]"), &target, settings);
        }
    }
    behavior(&mut out, spec.get("behavior"), "spec.behavior", (min, max));
    Ok(out.finish())
}

/// `scaleTargetRef` into `spec.targetRef`: (kind, name).
pub(crate) fn target_ref(
    out: &mut Builder,
    reference: Option<&Value>,
    path: &str,
    default_api_version: &str,
    default_kind: Option<&str>,
) -> Result<(String, String), ImportError> {
    let text = |key: &str| reference.and_then(|r| r.get(key)).and_then(Value::as_str).map(str::to_string);
    let name = text("name").ok_or_else(|| {
        out.field_error(&format!("{path}.name"), "is missing", "name the workload to scale")
    })?;
    let kind = match (text("kind"), default_kind) {
        (Some(kind), _) => kind,
        (None, Some(kind)) => kind.to_string(),
        (None, None) => {
            return Err(out.field_error(&format!("{path}.kind"), "is missing", "write kind: Deployment"));
        }
    };
    let api_version = text("apiVersion").unwrap_or_else(|| default_api_version.to_string());
    out.spec.insert("targetRef".into(), json!({"apiVersion": api_version, "kind": kind, "name": name}));
    Ok((kind, name))
}

fn int(value: Option<&Value>) -> Option<i32> {
    value.and_then(Value::as_i64).and_then(|v| i32::try_from(v).ok())
}

/// One HPA metric.
fn metric(out: &mut Builder, m: &Value, path: &str, target: &(String, String), settings: &Settings) {
    let kind = m.get("type").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "Resource" | "ContainerResource" => {
            let block = if kind == "Resource" { &m["resource"] } else { &m["containerResource"] };
            let name = block["name"].as_str().unwrap_or_default();
            let container = block["container"].as_str();
            let goal = &block["target"];
            let target_value = match goal["type"].as_str() {
                Some("Utilization") => {
                    goal.get("averageUtilization").and_then(quantity).map(Target::Utilization)
                }
                Some("AverageValue") => goal.get("averageValue").and_then(quantity).map(Target::AverageValue),
                _ => None,
            };
            match target_value {
                Some(t) if resource::supported(name) => {
                    let r = Resource { name, container, target: t };
                    resource::push(out, &r, name);
                }
                _ => out.not_mapped(
                    "spec.metrics",
                    format!(
                        "{path}: {kind} metric {name} with target {}: gscale derives queries for cpu and memory at Utilization or AverageValue only",
                        goal
                    ),
                ),
            }
        }
        "Pods" | "Object" | "External" => custom(out, m, kind, path, target, settings),
        other => {
            out.not_mapped("spec.metrics", format!("{path}: metric type {other:?} is not one gscale knows"))
        }
    }
}

/// A Pods, Object or External metric: a Prometheus query on the metric's name and selector.
fn custom(
    out: &mut Builder,
    m: &Value,
    kind: &str,
    path: &str,
    target: &(String, String),
    settings: &Settings,
) {
    let block = &m[kind.to_ascii_lowercase()];
    let name = block.pointer("/metric/name").and_then(Value::as_str).unwrap_or_default();
    let goal = &block["target"];
    let (target_type, target_value) = match goal["type"].as_str() {
        Some("Value") => ("Value", goal.get("value").and_then(quantity)),
        Some("AverageValue") => ("AverageValue", goal.get("averageValue").and_then(quantity)),
        _ => ("", None),
    };
    let (Some(target_value), false) = (target_value.filter(|v| *v > 0.0), name.is_empty()) else {
        out.not_mapped(
            "spec.metrics",
            format!("{path}: {kind} metric {name:?} with target {goal}: no name or no positive value target"),
        );
        return;
    };
    let namespace = out.namespace.clone().unwrap_or_else(|| "default".to_string());
    let mut matchers = Vec::new();
    match kind {
        "Pods" => {
            matchers.push(format!("namespace=\"{}\"", escape(&namespace)));
            let pods = resource::pod_regex(&target.0, &target.1);
            matchers.push(format!("pod=~\"{pods}\""));
        }
        "Object" => {
            matchers.push(format!("namespace=\"{}\"", escape(&namespace)));
            let described = &block["describedObject"];
            if let (Some(k), Some(n)) = (described["kind"].as_str(), described["name"].as_str()) {
                matchers.push(format!("{}=\"{}\"", k.to_ascii_lowercase(), escape(n)));
            }
        }
        _ => {}
    }
    let (selector, unmapped) = selector_matchers(block.pointer("/metric/selector"));
    matchers.extend(selector);
    for what in unmapped {
        out.not_mapped("spec.metrics", format!("{path}: selector {what}"));
    }
    // A name PromQL cannot write bare (`packets-per-second`) is matched on `__name__`.
    let bare = name
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()));
    let query = if bare {
        format!("sum({name}{{{}}})", matchers.join(","))
    } else {
        matchers.insert(0, format!("__name__=\"{}\"", escape(name)));
        format!("sum({{{}}})", matchers.join(","))
    };
    // Pods: the per-pod average against averageValue is the total against it per pod.
    let target_type = if kind == "Pods" { "AverageValue" } else { target_type };
    let metric_path = out.next_metric_path();
    let server = settings.prometheus_url.clone().unwrap_or_else(|| DEFAULT_PROMETHEUS_URL.to_string());
    out.metrics.push(json!({
        "type": "prometheus",
        "name": name,
        "targetValue": number(target_value),
        "targetType": target_type,
        "prometheus": {"serverUrl": server, "query": query},
    }));
    out.check(
        metric_path,
        format!("{kind} metric {name}: the HPA reads it through a metrics adapter; check this query against the adapter's rule for it"),
    );
}

/// A PromQL string literal's content.
pub(crate) fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A LabelSelector as PromQL label matchers, and the parts that have none.
fn selector_matchers(selector: Option<&Value>) -> (Vec<String>, Vec<String>) {
    let (mut out, mut unmapped) = (Vec::new(), Vec::new());
    let Some(selector) = selector else { return (out, unmapped) };
    for (k, v) in selector.get("matchLabels").and_then(Value::as_object).into_iter().flatten() {
        out.push(format!("{k}=\"{}\"", escape(v.as_str().unwrap_or_default())));
    }
    for e in selector.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<String> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|v| escape(&regex_literal(v)))
            .collect();
        match e["operator"].as_str() {
            Some("In") => out.push(format!("{key}=~\"{}\"", values.join("|"))),
            Some("NotIn") => out.push(format!("{key}!~\"{}\"", values.join("|"))),
            Some("Exists") => out.push(format!("{key}!=\"\"")),
            Some("DoesNotExist") => out.push(format!("{key}=\"\"")),
            other => unmapped.push(format!("operator {other:?} on {key}")),
        }
    }
    (out, unmapped)
}

/// A label value matched literally inside a regex.
fn regex_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An HPA `behavior` onto gscale's rails. `bounds` is (minReplicas, maxReplicas).
pub(crate) fn behavior(out: &mut Builder, behavior: Option<&Value>, path: &str, bounds: (i32, i32)) {
    // The HPA has no cooldown: only its windows and policies hold a scale-down back.
    out.behavior("scaleDown", "cooldownSeconds", json!(0));
    let mut tolerances = [None, None];
    for (i, direction) in ["scaleUp", "scaleDown"].into_iter().enumerate() {
        let Some(rules) = behavior.and_then(|b| b.get(direction)).filter(|r| r.is_object()) else {
            continue;
        };
        let src = format!("{path}.{direction}");
        let dst = format!("spec.behavior.{direction}");
        if let Some(window) = rules.get("stabilizationWindowSeconds").and_then(Value::as_u64) {
            out.behavior(direction, "stabilizationWindowSeconds", json!(window));
        }
        tolerances[i] = rules.get("tolerance").and_then(quantity);
        match rules.get("selectPolicy").and_then(Value::as_str).unwrap_or("Max") {
            "Disabled" => {
                let step = if direction == "scaleUp" { "maxIncrement" } else { "maxDecrement" };
                out.behavior(direction, step, json!(0));
                continue;
            }
            select @ ("Max" | "Min") => step_limit(out, rules, select, direction, &src, &dst, bounds),
            other => {
                out.not_mapped(&dst, format!("{src}.selectPolicy {other:?} is not Max, Min or Disabled"))
            }
        }
    }
    let [up, down] = tolerances;
    match (up, down) {
        (None, None) => {}
        (Some(t), None) | (None, Some(t)) if (t - 0.1).abs() < 1e-12 => {}
        (Some(a), Some(b)) if (a - b).abs() < 1e-12 => out.behavior("", "tolerance", number(a)),
        (a, b) => {
            let (a, b) = (a.unwrap_or(0.1), b.unwrap_or(0.1));
            let t = a.min(b);
            out.behavior("", "tolerance", number(t));
            out.not_mapped(
                "spec.behavior.tolerance",
                format!(
                    "{path}: tolerance {} up and {} down: gscale has one tolerance, the smaller is kept",
                    number(a),
                    number(b)
                ),
            );
        }
    }
}

/// The scaling policies of one direction as a step limit per sync and a cooldown for its period.
fn step_limit(
    out: &mut Builder,
    rules: &Value,
    select: &str,
    direction: &str,
    src: &str,
    dst: &str,
    bounds: (i32, i32),
) {
    let policies = rules.get("policies").and_then(Value::as_array).cloned().unwrap_or_default();
    if policies.is_empty() {
        return;
    }
    let (min, max) = bounds;
    let span = (max - min).max(1);
    // Each policy's largest step: Pods as written, Percent of the largest count it can apply to.
    let mut steps: Vec<(i32, i64, String)> = Vec::new();
    for (i, p) in policies.iter().enumerate() {
        let value = p.get("value").and_then(Value::as_i64).unwrap_or(0);
        let period = p.get("periodSeconds").and_then(Value::as_i64).unwrap_or(15);
        let step = match p.get("type").and_then(Value::as_str) {
            Some("Pods") => value,
            Some("Percent") => ((value as f64 / 100.0) * f64::from(max)).ceil() as i64,
            other => {
                out.not_mapped(
                    dst,
                    format!(
                        "{src}.policies[{i}]: type {:?} is not Pods or Percent",
                        other.unwrap_or_default()
                    ),
                );
                continue;
            }
        };
        let step = step.clamp(1, i64::from(i32::MAX)) as i32;
        let unit = if p["type"] == "Percent" { "%" } else { " pods" };
        let text = format!("{value}{unit} per {period}s");
        steps.push((step, period, text));
    }
    let chosen =
        if select == "Min" { steps.iter().min_by_key(|s| s.0) } else { steps.iter().max_by_key(|s| s.0) };
    let Some((step, period, text)) = chosen.cloned() else { return };
    let field = if direction == "scaleUp" { "maxIncrement" } else { "maxDecrement" };
    if step < span {
        out.behavior(direction, field, json!(step));
    }
    if period > i64::from(HPA_SYNC_SECONDS) {
        out.behavior(direction, "cooldownSeconds", json!(period));
    }
    // Worth a word only where the step or the cooldown is an approximation.
    let limited = step < span || period > i64::from(HPA_SYNC_SECONDS);
    if limited && (steps.len() > 1 || text.contains('%')) {
        out.check(
            dst,
            format!(
                "{src}.policies, selectPolicy {select}: {text} taken as {} per step{}",
                if step < span { format!("at most {step} replicas") } else { "no limit".to_string() },
                if period > i64::from(HPA_SYNC_SECONDS) {
                    format!(", then a {period}s cooldown")
                } else {
                    String::new()
                }
            ),
        );
    }
}
