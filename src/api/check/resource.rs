//! The checks of `resource` metrics no schema can express: which target types apply (Utilization
//! and AverageValue, as the HPA has them), units that look mistaken, and a scale to zero that a
//! resource metric cannot wake from. Each finding names the field and the fix.

use super::Finding;
use crate::api::{GeneralScalerSpec, MetricSpec, MetricType, ResourceName, TargetType};

/// Below this many bytes a memory target is surely meant in Mi (512 is 512 bytes, not 512Mi).
const SMALLEST_MEMORY_TARGET: f64 = 1024.0 * 1024.0;
/// Above this many cores per pod a cpu target is surely meant in millicores (500 is not 500m).
const LARGEST_CPU_TARGET: f64 = 256.0;

/// One metric: its target type and its resource block.
pub(super) fn check_metric(metric: &MetricSpec, path: &str, out: &mut Vec<Finding>) {
    let target_type = metric.effective_target_type();
    if metric.kind != MetricType::Resource {
        if target_type == TargetType::Utilization {
            out.push(Finding::error(
                format!("{path}.targetType"),
                format!("targetType Utilization is for resource metrics, not {}", metric.kind.as_str()),
                "use Value (the metric is per pod) or AverageValue (the metric is a total)",
            ));
        }
        return;
    }
    if target_type == TargetType::Value {
        out.push(Finding::error(
            format!("{path}.targetType"),
            "targetType Value does not apply to a resource metric",
            "use Utilization (targetValue in percent of requests, the default) or AverageValue (cores or bytes per pod)",
        ));
    }
    let Some(source) = &metric.resource else { return };
    if source.container.as_deref().is_some_and(|c| c.trim().is_empty()) {
        out.push(Finding::error(
            format!("{path}.resource.container"),
            "container is empty",
            "name the container to measure, or remove container to measure the whole pod",
        ));
    }
    if target_type == TargetType::AverageValue {
        let value = metric.target_value;
        match source.name {
            ResourceName::Memory if value > 0.0 && value < SMALLEST_MEMORY_TARGET => {
                out.push(Finding::warning(
                    format!("{path}.targetValue"),
                    format!("a memory targetValue of {value} is {value} bytes per pod"),
                    "write memory in bytes, e.g. 536870912 for 512Mi",
                ))
            }
            ResourceName::Cpu if value > LARGEST_CPU_TARGET => out.push(Finding::warning(
                format!("{path}.targetValue"),
                format!("a cpu targetValue of {value} is {value} cores per pod"),
                "write cpu in cores, e.g. 0.5 for 500m",
            )),
            _ => {}
        }
    }
}

/// The whole spec: a resource metric cannot wake a workload resting at zero (no pods, no usage).
pub(super) fn check(spec: &GeneralScalerSpec, out: &mut Vec<Finding>) {
    let resource_only = spec.metrics().iter().all(|m| m.kind == MetricType::Resource);
    if spec.min_replicas == 0 && resource_only && !spec.metrics().is_empty() {
        out.push(Finding::warning(
            "spec.minReplicas",
            "a workload scaled to 0 has no pods, so its cpu and memory cannot wake it",
            "set minReplicas to 1 or more, or add a metric that reads demand outside the pods (a queue, a request rate)",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::check_spec;
    use super::*;

    fn spec(metric: serde_json::Value, min: i32) -> GeneralScalerSpec {
        serde_json::from_value(serde_json::json!({
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": min, "maxReplicas": 10, "metric": metric,
        }))
        .unwrap()
    }

    fn findings(metric: serde_json::Value, min: i32) -> Vec<(String, String)> {
        check_spec(&spec(metric, min)).into_iter().map(|f| (f.path, f.message)).collect()
    }

    #[test]
    fn a_cpu_utilization_metric_is_clean_and_defaults_to_utilization() {
        let metric = serde_json::json!({"type": "resource", "targetValue": 60, "resource": {"name": "cpu"}});
        assert_eq!(findings(metric.clone(), 1), Vec::<(String, String)>::new());
        assert_eq!(spec(metric, 1).metrics()[0].effective_target_type(), TargetType::Utilization);
    }

    #[test]
    fn target_types_units_and_scale_to_zero_are_checked() {
        let value = serde_json::json!({"type": "resource", "targetValue": 60, "targetType": "Value", "resource": {"name": "cpu"}});
        assert!(findings(value, 1).contains(&(
            "spec.metric.targetType".into(),
            "targetType Value does not apply to a resource metric".into()
        )));
        let elsewhere = serde_json::json!({"type": "http", "targetValue": 60, "targetType": "Utilization", "http": {"url": "http://x/"}});
        assert!(
            findings(elsewhere, 1)
                .iter()
                .any(|(p, m)| p == "spec.metric.targetType" && m.contains("Utilization"))
        );
        let tiny = serde_json::json!({"type": "resource", "targetValue": 512, "targetType": "AverageValue", "resource": {"name": "memory"}});
        assert!(
            findings(tiny, 1).iter().any(|(p, m)| p == "spec.metric.targetValue" && m.contains("512 bytes"))
        );
        let zero = serde_json::json!({"type": "resource", "targetValue": 60, "resource": {"name": "memory", "container": ""}});
        let found = findings(zero, 0);
        assert!(found.iter().any(|(p, _)| p == "spec.minReplicas"), "{found:?}");
        assert!(
            found.iter().any(|(p, m)| p == "spec.metric.resource.container" && m == "container is empty")
        );
        let missing = serde_json::json!({"type": "resource", "targetValue": 60});
        assert!(
            findings(missing, 1)
                .iter()
                .any(|(p, m)| p == "spec.metric.resource" && m == "type resource needs a resource block")
        );
    }
}
