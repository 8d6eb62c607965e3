//! CPU and memory of a target's pods, imported from an HPA's `Resource` and `ContainerResource`
//! metrics and KEDA's `cpu` and `memory` triggers: gscale's `resource` source, which reads the
//! pods and the resource metrics API as the HPA does (`Utilization` in percent of requests,
//! `AverageValue` in cores or bytes per pod). Also the pod-name pattern the HPA's `Pods` metrics
//! are queried with, since those go through Prometheus.

use serde_json::{Value, json};

use super::{Builder, number};

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

/// Push the `resource` metric for a resource onto the scaler being built: the same pods, the same
/// metrics API and the same rule for missing and unready pods as the HPA's, so nothing to check.
pub(crate) fn push(out: &mut Builder, resource: &Resource<'_>, metric_name: &str) {
    out.metrics.push(metric(resource, metric_name));
}

/// The `resource` metric for a resource and its target.
pub fn metric(resource: &Resource<'_>, metric_name: &str) -> Value {
    let (target_value, target_type) = match resource.target {
        Target::Utilization(percent) => (percent, "Utilization"),
        Target::AverageValue(per_pod) => (per_pod, "AverageValue"),
    };
    let mut source = json!({"name": resource.name});
    if let Some(container) = resource.container {
        source["container"] = json!(container);
    }
    let mut metric = json!({
        "type": "resource",
        "targetValue": number(target_value),
        "targetType": target_type,
        "resource": source,
    });
    // The name defaults to the resource's; a different one (a KEDA trigger's name) is kept.
    if metric_name != resource.name {
        metric["name"] = json!(metric_name);
    }
    metric
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_utilization_becomes_a_resource_metric() {
        let r = Resource { name: "cpu", container: None, target: Target::Utilization(50.0) };
        assert_eq!(
            metric(&r, "cpu"),
            json!({"type": "resource", "targetValue": 50, "targetType": "Utilization", "resource": {"name": "cpu"}})
        );
    }

    #[test]
    fn a_container_memory_average_value_keeps_its_container_and_name() {
        let r = Resource { name: "memory", container: Some("app"), target: Target::AverageValue(5e8) };
        assert_eq!(
            metric(&r, "mem"),
            json!({"type": "resource", "name": "mem", "targetValue": 500000000, "targetType": "AverageValue",
                   "resource": {"name": "memory", "container": "app"}})
        );
    }

    #[test]
    fn pods_are_named_as_their_controller_names_them() {
        assert_eq!(pod_regex("StatefulSet", "db"), "db-[0-9]+");
    }
}
