//! CPU and memory of a target's pods as gscale reads them today: a Prometheus query over cAdvisor
//! (`container_cpu_usage_seconds_total`, `container_memory_working_set_bytes`) and kube-state-metrics
//! (`kube_pod_container_resource_requests`), shaped so the HPA's rule holds.
//!
//! `Utilization` becomes the pods' usage as a percent of their requests, a per-pod `Value` target
//! (desired = ceil(current * utilization / target), the HPA's formula); `AverageValue` becomes the
//! pods' total usage against the per-pod target (desired = ceil(total / target)). The pods are
//! picked by name as their controller names them, which a `# check:` comment says.

use serde_json::{Value, json};

use super::{Builder, DEFAULT_PROMETHEUS_URL, Settings, number};

/// Which resource and how its target is written.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource<'a> {
    /// `cpu` or `memory` (anything else is not mapped by the caller).
    pub name: &'a str,
    /// A container's name, for `ContainerResource` and KEDA's `containerName`.
    pub container: Option<&'a str>,
    /// The target.
    pub target: Target,
}

/// A resource target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// Percent of the pods' requests.
    Utilization(f64),
    /// Cores or bytes per pod.
    AverageValue(f64),
}

/// Whether gscale can derive a query for this resource.
pub fn supported(name: &str) -> bool {
    matches!(name, "cpu" | "memory")
}

/// The pods of a target, by the names its controller gives them.
pub(crate) fn pod_regex(target_kind: &str, target_name: &str) -> String {
    let name = target_name.replace('.', "\\\\.");
    match target_kind {
        "Deployment" => format!("{name}-[a-z0-9]+-[a-z0-9]+"),
        "StatefulSet" => format!("{name}-[0-9]+"),
        _ => format!("{name}-.*"),
    }
}

/// The PromQL for a resource of the target's pods, and what it reads in words.
pub fn query(
    resource: &Resource<'_>,
    namespace: &str,
    target_kind: &str,
    target_name: &str,
) -> (String, String) {
    let pods = pod_regex(target_kind, target_name);
    let container = match resource.container {
        Some(c) => format!("container=\"{c}\""),
        None => "container!=\"\",container!=\"POD\"".to_string(),
    };
    let selector = format!("namespace=\"{namespace}\",pod=~\"{pods}\",{container}");
    let usage = if resource.name == "cpu" {
        format!("sum(rate(container_cpu_usage_seconds_total{{{selector}}}[2m]))")
    } else {
        format!("sum(container_memory_working_set_bytes{{{selector}}})")
    };
    let unit = if resource.name == "cpu" { "cores" } else { "bytes" };
    match resource.target {
        Target::Utilization(_) => {
            let requests_container = match resource.container {
                Some(c) => format!(",container=\"{c}\""),
                None => String::new(),
            };
            let requests = format!(
                "sum(kube_pod_container_resource_requests{{namespace=\"{namespace}\",pod=~\"{pods}\",resource=\"{}\"{requests_container}}})",
                resource.name
            );
            (
                format!("100 * {usage} / {requests}"),
                format!("{} usage in percent of requests (cAdvisor and kube-state-metrics)", resource.name),
            )
        }
        Target::AverageValue(_) => (usage, format!("total {} usage in {unit} (cAdvisor)", resource.name)),
    }
}

/// Push the metric for a resource onto the scaler being built, with its `# check:` note.
pub(crate) fn push(
    out: &mut Builder,
    resource: &Resource<'_>,
    metric_name: &str,
    target: (&str, &str),
    settings: &Settings,
    source_text: &str,
) {
    let namespace = out.namespace.clone().unwrap_or_else(|| "default".to_string());
    let (query, reads) = query(resource, &namespace, target.0, target.1);
    let (target_value, target_type) = match resource.target {
        Target::Utilization(percent) => (percent, "Value"),
        Target::AverageValue(per_pod) => (per_pod, "AverageValue"),
    };
    let path = out.next_metric_path();
    let server = settings.prometheus_url.clone().unwrap_or_else(|| DEFAULT_PROMETHEUS_URL.to_string());
    let metric = json!({
        "type": "prometheus",
        "name": metric_name,
        "targetValue": number(target_value),
        "targetType": target_type,
        "prometheus": {"serverUrl": server, "query": query},
    });
    out.metrics.push(metric);
    out.check(
        path,
        format!(
            "{source_text}: read through Prometheus as {reads}, for the pods named like {}'s; check the query matches your pods",
            target.1
        ),
    );
}

/// The target's value in a source's words, for notes.
pub fn describe(target: Target, name: &str) -> String {
    match target {
        Target::Utilization(p) => format!("{name} at {}% of requests", number(p)),
        Target::AverageValue(v) => format!("{name} at {} per pod", number(v)),
    }
}

/// A `Value` holding the resource's target, as the HPA writes it.
pub fn target_json(target: Target) -> Value {
    match target {
        Target::Utilization(p) => json!({"type": "Utilization", "averageUtilization": number(p)}),
        Target::AverageValue(v) => json!({"type": "AverageValue", "averageValue": number(v)}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_utilization_is_usage_over_requests() {
        let r = Resource { name: "cpu", container: None, target: Target::Utilization(50.0) };
        let (q, _) = query(&r, "shop", "Deployment", "php-apache");
        assert_eq!(
            q,
            "100 * sum(rate(container_cpu_usage_seconds_total{namespace=\"shop\",pod=~\"php-apache-[a-z0-9]+-[a-z0-9]+\",container!=\"\",container!=\"POD\"}[2m])) / sum(kube_pod_container_resource_requests{namespace=\"shop\",pod=~\"php-apache-[a-z0-9]+-[a-z0-9]+\",resource=\"cpu\"})"
        );
    }

    #[test]
    fn memory_average_value_is_the_total() {
        let r = Resource { name: "memory", container: Some("app"), target: Target::AverageValue(5e8) };
        let (q, reads) = query(&r, "ns", "StatefulSet", "db");
        assert_eq!(
            q,
            "sum(container_memory_working_set_bytes{namespace=\"ns\",pod=~\"db-[0-9]+\",container=\"app\"})"
        );
        assert!(reads.contains("bytes"));
    }
}
