use serde_json::json;

use super::*;

fn scaler(spec: Value) -> Value {
    json!({"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "s"}, "spec": spec})
}

fn base_spec() -> Value {
    json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
        "maxReplicas": 10,
        "metric": {"type": "http", "targetValue": 100, "http": {"url": "http://x/metric"}}
    })
}

fn errors(value: &Value) -> Vec<(String, String)> {
    check(value)
        .findings
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| (f.path, f.message))
        .collect()
}

#[test]
fn a_minimal_scaler_is_valid_and_defaulted() {
    let checked = check(&scaler(base_spec()));
    assert!(checked.findings.is_empty(), "{:#?}", checked.findings);
    let spec = checked.scaler.unwrap().spec;
    assert_eq!(spec.min_replicas, 1);
    assert_eq!(spec.behavior.scale_down.cooldown_seconds, 300);
    assert_eq!(spec.metrics()[0].effective_target_type(), crate::api::TargetType::Value);
}

#[test]
fn cel_rules_run_client_side_with_field_paths() {
    let mut spec = base_spec();
    spec["minReplicas"] = json!(12);
    assert!(errors(&scaler(spec)).iter().any(|(p, m)| p == "spec.minReplicas" && m.contains("maxReplicas")));

    let mut spec = base_spec();
    spec["metric"]["targetValue"] = json!(0);
    let found = errors(&scaler(spec));
    assert_eq!(found.len(), 1, "one finding per field: {found:#?}");
    assert_eq!(found[0].0, "spec.metric.targetValue");

    let mut spec = base_spec();
    spec["fallback"] = json!({"action": "setReplicas"});
    assert!(errors(&scaler(spec)).iter().any(|(p, _)| p == "spec.fallback.replicas"));
}

#[test]
fn several_problems_are_all_reported() {
    let spec = json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment"},
        "maxReplicas": "ten",
        "metric": {"type": "kafka", "targetValue": 1},
        "colour": "blue"
    });
    let paths: Vec<String> = errors(&scaler(spec)).into_iter().map(|(p, _)| p).collect();
    for expected in ["spec.targetRef.name", "spec.maxReplicas", "spec.metric.type", "spec.colour"] {
        assert!(paths.iter().any(|p| p == expected), "{expected} in {paths:?}");
    }
}

#[test]
fn warnings_do_not_make_a_scaler_invalid() {
    let mut spec = base_spec();
    spec["metric"]["http"]["insecureSkipVerify"] = json!(true);
    spec["policy"] = json!({"type": "slo", "slo": {"targetLatencyMs": 200}});
    let checked = check(&scaler(spec));
    assert!(!checked.has_errors(), "{:#?}", checked.findings);
    assert!(checked.scaler.is_some());
    let warned: Vec<&str> = checked.findings.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(warned, ["spec.metric.http.insecureSkipVerify", "spec.policy.slo"]);
}
