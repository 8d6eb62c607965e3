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
    assert_eq!(spec.behavior.scale_down.cooldown_seconds, 0);
    assert_eq!(spec.behavior.scale_down.stabilization_window_seconds, 300);
    assert_eq!(spec.sync_interval_seconds, 15);
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
        "metric": {"type": "kinesis", "targetValue": 1},
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

#[test]
fn metadata_and_target_ref_are_checked_as_kubernetes_would() {
    let with_metadata = |metadata: Value| {
        let mut value = scaler(base_spec());
        value["metadata"] = metadata;
        value
    };
    let with_target = |field: &str, v: Value| {
        let mut spec = base_spec();
        spec["targetRef"][field] = v;
        scaler(spec)
    };
    let cases = [
        (with_metadata(json!({"name": 5})), "metadata.name", "must be a string"),
        (with_metadata(json!({"name": "s", "namespace": 5})), "metadata.namespace", "must be a string"),
        (
            with_metadata(json!({"name": "s", "labels": {"app": 5}})),
            "metadata.labels.app",
            "must be a string",
        ),
        (with_metadata(json!({"name": "s", "namespace": "Bad_NS"})), "metadata.namespace", "not a valid"),
        (
            with_metadata(json!({"name": "s", "namespace": "a".repeat(64)})),
            "metadata.namespace",
            "not a valid",
        ),
        (with_metadata(json!({"name": "a..b"})), "metadata.name", "not a valid"),
        (with_target("name", json!("NaN")), "spec.targetRef.name", "not a valid"),
        (with_target("name", json!("café")), "spec.targetRef.name", "not a valid"),
        (with_target("kind", json!("deployment")), "spec.targetRef.kind", "case-sensitive"),
        (with_target("kind", json!("REPLICASET")), "spec.targetRef.kind", "case-sensitive"),
    ];
    for (value, path, message) in cases {
        let found = errors(&value);
        assert_eq!(found.len(), 1, "{value}: {found:#?}");
        assert_eq!(found[0].0, path, "{value}");
        assert!(found[0].1.contains(message), "{value}: {found:#?}");
    }
    // Valid names and custom kinds pass.
    for value in [
        with_metadata(json!({"name": "a.b-c", "namespace": "team-1", "labels": {"app": "x"}})),
        // `app:` with no value: the API server stores "".
        with_metadata(json!({"name": "s", "labels": {"app": null}, "annotations": {"note": null}})),
        with_target("name", json!("my-app.v2")),
        // A subdomain limits the whole name to 253, not each part to 63.
        with_target("name", json!("a".repeat(64))),
        with_metadata(json!({"name": format!("{}.x", "b".repeat(100))})),
        with_target("kind", json!("Rollout")),
    ] {
        assert!(errors(&value).is_empty(), "{value}: {:#?}", errors(&value));
    }
}

#[test]
fn overflowing_integers_name_the_range_and_stop_there() {
    for (field, value) in [("maxReplicas", json!(99_999_999_999_i64)), ("minReplicas", json!(1e308))] {
        let mut spec = base_spec();
        spec[field] = value;
        let found = check(&scaler(spec)).findings;
        assert_eq!(found.len(), 1, "{field}: {found:#?}");
        assert_eq!(found[0].path, format!("spec.{field}"));
        assert!(found[0].message.contains("whole number from"), "{found:#?}");
        assert!(found[0].hint.contains("2147483647"), "{found:#?}");
    }
}

#[test]
fn cost_aware_without_its_block_hints_at_its_fields() {
    let mut spec = base_spec();
    spec["policy"] = json!({"type": "costAware"});
    let found = check(&scaler(spec)).findings;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].path, "spec.policy.costAware");
    assert!(
        found[0].hint.contains("maxMonthlyCost") && found[0].hint.contains("costPerPodPerHour"),
        "{found:#?}"
    );
}

#[test]
fn a_sync_interval_over_a_day_is_a_warning() {
    let mut spec = base_spec();
    spec["syncIntervalSeconds"] = json!(86_401);
    let checked = check(&scaler(spec));
    assert!(!checked.has_errors(), "{:#?}", checked.findings);
    assert_eq!(checked.findings.len(), 1, "{:#?}", checked.findings);
    assert_eq!(checked.findings[0].path, "spec.syncIntervalSeconds");
    assert_eq!(checked.findings[0].severity, Severity::Warning);

    let mut spec = base_spec();
    spec["syncIntervalSeconds"] = json!(86_400);
    assert!(check(&scaler(spec)).findings.is_empty());
}

/// What `validate` refuses, the CRD's CEL rules refuse too: each case is refused by the rules alone
/// (the schema's own CEL validator, as the API server runs it) and by `check` with one finding.
#[test]
fn the_crd_refuses_what_validate_refuses() {
    let prometheus = |block: Value| json!({"type": "prometheus", "targetValue": 1, "prometheus": block});
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "spec.metric.activationValue",
            json!({"type": "http", "targetValue": 1, "activationValue": -1,
            "http": {"url": "http://x/"}}),
            "activationValue must be 0 or more",
        ),
        (
            "spec.metric.http.url",
            json!({"type": "http", "targetValue": 1, "http": {"url": "ftp://x/m"}}),
            "url is not an http:// or https:// URL",
        ),
        (
            "spec.metric.prometheus.serverUrl",
            prometheus(json!({"serverUrl": "prom:9090", "query": "up"})),
            "serverUrl is not an http:// or https:// URL",
        ),
        (
            "spec.metric.prometheus.query",
            prometheus(json!({"serverUrl": "http://prom", "query": ""})),
            "prometheus query must not be empty",
        ),
        (
            "spec.metric.redis.host",
            json!({"type": "redis", "targetValue": 1,
            "redis": {"host": "", "queueName": "q"}}),
            "redis host must not be empty",
        ),
        (
            "spec.metric.prometheus.bearerTokenSecretRef.name",
            prometheus(json!({"serverUrl": "http://prom",
            "query": "up", "bearerTokenSecretRef": {"name": "../../team-b/secrets/x", "key": "t"}})),
            "secret name must be a Kubernetes name",
        ),
        (
            "spec.metric.http.caSecretRef.name",
            json!({"type": "http", "targetValue": 1,
            "http": {"url": "http://x/", "caSecretRef": {"name": "Upper", "key": "ca"}}}),
            "secret name must be a Kubernetes name",
        ),
        (
            "spec.metric.redis.passwordSecretRef.name",
            json!({"type": "redis", "targetValue": 1,
            "redis": {"host": "r", "queueName": "q", "passwordSecretRef": {"name": "a/b", "key": "p"}}}),
            "secret name must be a Kubernetes name",
        ),
        (
            "spec.metric.pubsub.credentialsSecret.name",
            json!({"type": "pubsub", "targetValue": 1,
            "pubsub": {"projectId": "p", "subscriptionId": "s", "credentialsSecret": {"name": "x..y", "key": "k"}}}),
            "secret name must be a Kubernetes name",
        ),
    ];
    let policies: Vec<(&str, Value, &str)> = vec![
        (
            "spec.policy.costAware.maxMonthlyCost",
            json!({"type": "costAware",
            "costAware": {"maxMonthlyCost": 0, "costPerPodPerHour": 0.05}}),
            "maxMonthlyCost must be greater than 0",
        ),
        (
            "spec.policy.costAware.costPerPodPerHour",
            json!({"type": "costAware",
            "costAware": {"maxMonthlyCost": 100, "costPerPodPerHour": -0.05}}),
            "costPerPodPerHour must be greater than 0",
        ),
        (
            "spec.policy.slo.serverUrl",
            json!({"type": "slo", "slo": {"targetLatencyMs": 100,
            "latencyQuery": "l", "serverUrl": "ftp://prom"}}),
            "serverUrl is not an http:// or https:// URL",
        ),
    ];
    let documents = cases
        .into_iter()
        .map(|(path, metric, says)| {
            let mut spec = base_spec();
            spec["metric"] = metric;
            (path, spec, says)
        })
        .chain(policies.into_iter().map(|(path, policy, says)| {
            let mut spec = base_spec();
            spec["policy"] = policy;
            (path, spec, says)
        }));
    for (path, spec, says) in documents {
        let document = scaler(spec);
        let refused = Validator::new().validate(schema(), &document, None).unwrap_err().into_vec();
        assert!(
            refused.iter().any(|e| e.field_path.trim_start_matches('.') == path && e.message.contains(says)),
            "the CRD's rules accept {path}: {refused:#?}"
        );
        let found = errors(&document);
        assert_eq!(found.iter().filter(|(p, _)| p == path).count(), 1, "{path}: {found:#?}");
        assert!(found.iter().any(|(p, m)| p == path && m.contains(says)), "{path}: {found:#?}");
    }
    // Names that are valid stay valid, and the daemon's own check refuses a bad one too.
    let mut spec = base_spec();
    spec["metric"]["http"]["bearerTokenSecretRef"] = json!({"name": "team-a.tokens", "key": "t"});
    assert!(errors(&scaler(spec.clone())).is_empty());
    spec["metric"]["http"]["bearerTokenSecretRef"]["name"] = json!("../x");
    let parsed: GeneralScalerSpec = serde_json::from_value(spec).unwrap();
    assert!(check_spec(&parsed).iter().any(|f| f.path == "spec.metric.http.bearerTokenSecretRef.name"));
}

#[test]
fn forecast_settings_are_checked_with_the_field_and_the_fix() {
    // Without the block nothing changes; with an empty one, the defaults.
    let checked = check(&scaler(base_spec()));
    assert!(checked.scaler.unwrap().spec.forecast.is_none());
    let mut spec = base_spec();
    spec["forecast"] = json!({});
    let checked = check(&scaler(spec));
    assert!(checked.findings.is_empty(), "{:#?}", checked.findings);
    let f = checked.scaler.unwrap().spec.forecast.unwrap();
    assert_eq!(
        (f.mode, f.lead_seconds, f.seasons.clone()),
        (crate::api::ForecastMode::Off, 60, vec![Season::Daily])
    );

    let cases = [
        (json!({"mode": "On", "seasons": ["daily", "daily"]}), "spec.forecast.seasons", "twice"),
        (json!({"mode": "On", "seasons": []}), "spec.forecast.seasons", "at least 1"),
        (json!({"mode": "On", "maxErrorRatio": 0}), "spec.forecast.maxErrorRatio", "above 0"),
        (json!({"mode": "On", "leadSeconds": 0}), "spec.forecast.leadSeconds", ""),
        (json!({"mode": "Sometimes"}), "spec.forecast.mode", ""),
    ];
    for (forecast, path, words) in cases {
        let mut spec = base_spec();
        spec["forecast"] = forecast.clone();
        let found = check(&scaler(spec)).findings;
        assert!(
            found.iter().any(|f| f.severity == Severity::Error
                && f.path == path
                && f.message.contains(words)
                && !f.hint.is_empty()),
            "{forecast}: {found:#?}"
        );
    }

    // A lead shorter than a sync interval works, with a warning.
    let mut spec = base_spec();
    spec["forecast"] = json!({"mode": "Observe", "leadSeconds": 10});
    let checked = check(&scaler(spec));
    assert!(!checked.has_errors());
    assert!(
        checked
            .findings
            .iter()
            .any(|f| f.path == "spec.forecast.leadSeconds" && f.severity == Severity::Warning)
    );
}

#[test]
fn a_timeout_above_the_maximum_is_an_error_and_a_stored_one_a_warning() {
    let mut spec = base_spec();
    spec["metric"]["timeoutSeconds"] = json!(3600);
    let checked = check(&scaler(spec.clone()));
    let found: Vec<&Finding> =
        checked.findings.iter().filter(|f| f.path == "spec.metric.timeoutSeconds").collect();
    assert_eq!(found.len(), 1, "one finding for the field: {found:#?}");
    assert_eq!(found[0].severity, Severity::Error);
    assert!(found[0].hint.contains("from 1 to 60"), "{:?}", found[0]);
    // Stored before the CRD had its maximum, the daemon reads it as 60 and says so.
    let stored: crate::api::GeneralScalerSpec = serde_json::from_value(spec).unwrap();
    let warned = check_spec(&stored);
    assert!(
        warned.iter().any(|f| f.severity == Severity::Warning && f.message.contains("read as 60")),
        "{warned:#?}"
    );
}
