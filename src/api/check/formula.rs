//! The checks of `spec.formula` no schema can express: the expression is CEL that reads only the
//! metrics' names and gives a number (a type check by evaluating it with every metric at 1), each
//! metric's name can be read in it, and its target is usable.

use super::Finding;
use crate::api::{GeneralScalerSpec, TargetType};
use crate::formula::is_variable_name;

/// The formula, when the spec has one.
pub(super) fn check(spec: &GeneralScalerSpec, out: &mut Vec<Finding>) {
    let Some(formula) = &spec.formula else { return };
    let base = if spec.metric.is_some() { "spec.metric".to_string() } else { "spec.metrics".to_string() };
    let mut names_ok = true;
    for (i, metric) in spec.metrics().iter().enumerate() {
        let name = metric.display_name();
        if !is_variable_name(name) {
            names_ok = false;
            let path = if spec.metric.is_some() { base.clone() } else { format!("{base}[{i}]") };
            out.push(Finding::error(
                format!("{path}.name"),
                format!("metric name \"{name}\" cannot be read in spec.formula"),
                "name the metric with letters, digits and _ (not starting with a digit, not a CEL word such as in or metrics)",
            ));
        }
    }
    if names_ok && let Err(message) = formula.compile(spec) {
        out.push(Finding::error(
            "spec.formula.expression",
            message,
            "write CEL over the metrics' names, e.g. (lag + inflight) / 2, with lag ?? 0 where a metric may fail",
        ));
    }
    if !(formula.target_value.is_finite() && formula.target_value > 0.0) {
        out.push(Finding::error(
            "spec.formula.targetValue",
            format!("targetValue must be greater than 0, not {}", formula.target_value),
            "set targetValue to the formula's value one replica should carry, e.g. 100",
        ));
    }
    if formula.activation_value.is_nan() || formula.activation_value < 0.0 {
        out.push(Finding::error(
            "spec.formula.activationValue",
            format!("activationValue must be 0 or more, not {}", formula.activation_value),
            "set activationValue to the formula's value at or below which the workload may rest at 0",
        ));
    }
    if formula.target_type == Some(TargetType::Utilization) {
        out.push(Finding::error(
            "spec.formula.targetType",
            "targetType Utilization is for resource metrics, not a formula",
            "use AverageValue (the result is a total, the default) or Value (the result is per pod)",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(formula: serde_json::Value, second_name: &str) -> Vec<Finding> {
        let spec: GeneralScalerSpec = serde_json::from_value(serde_json::json!({
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
            "maxReplicas": 30,
            "metrics": [
                {"type": "prometheus", "name": "inflight", "targetValue": 20,
                 "prometheus": {"serverUrl": "http://p:9090", "query": "q"}},
                {"type": "redis", "name": second_name, "targetValue": 50, "redis": {"host": "r", "queueName": "q"}},
            ],
            "formula": formula,
        }))
        .unwrap();
        let mut out = Vec::new();
        check(&spec, &mut out);
        out
    }

    #[test]
    fn a_good_formula_has_no_finding() {
        assert!(
            findings(serde_json::json!({"expression": "(lag ?? 0) + inflight", "targetValue": 100}), "lag")
                .is_empty()
        );
    }

    #[test]
    fn each_mistake_is_named_with_its_field() {
        let out = findings(
            serde_json::json!({"expression": "lag + queue", "targetValue": 0, "targetType": "Utilization"}),
            "lag",
        );
        let paths: Vec<&str> = out.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["spec.formula.expression", "spec.formula.targetValue", "spec.formula.targetType"]);
        assert!(out[0].message.contains("`queue`, which is no metric's name"), "{}", out[0].message);
        let out = findings(serde_json::json!({"expression": "inflight > 2", "targetValue": 1}), "lag");
        assert_eq!(out[0].message, "with every metric at 1, the formula gives a bool, not a number");
        let out = findings(serde_json::json!({"expression": "inflight", "targetValue": 1}), "queue-lag");
        assert_eq!(out[0].path, "spec.metrics[1].name");
    }
}
