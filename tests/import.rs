//! `gscale import`: a case per mapped field (the GeneralScaler holds it) and per field not mapped (a
//! `# not mapped:` comment names it), the fixtures from the Kubernetes and KEDA documentation
//! through the real binary (each output passes `gscale validate` and the real `kubectl apply` to
//! the sandbox API), and importing from the cluster.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gscale::import::{self, Settings};
use serde_json::{Value, json};

const KUBECTL: &str = "/usr/bin/kubectl";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import")
}

fn fixture_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    files
}

/// JSON merge of `patch` into `base` (objects merge, anything else replaces; null removes).
fn merge(base: &mut Value, patch: &Value) {
    match (base.as_object_mut(), patch.as_object()) {
        (Some(b), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(k);
                } else {
                    merge(b.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *base = patch.clone(),
    }
}

fn hpa(patch: Value) -> Value {
    let mut base = json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2, "maxReplicas": 20,
            "metrics": [{"type": "External", "external": {
                "metric": {"name": "rps", "selector": {"matchLabels": {"service": "web"}}},
                "target": {"type": "AverageValue", "averageValue": "100"}}}]
        }
    });
    merge(&mut base, &patch);
    base
}

fn scaled_object(patch: Value) -> Value {
    let mut base = json!({
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": {"name": "worker", "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"name": "worker"},
            "triggers": [{"type": "prometheus", "metadata": {
                "serverAddress": "http://prom:9090", "query": "sum(queue)", "threshold": "50"}}]
        }
    });
    merge(&mut base, &patch);
    base
}

fn trigger(kind: &str, metadata: Value) -> Value {
    json!({"spec": {"triggers": [{"type": kind, "metadata": metadata}]}})
}

fn auth(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication",
           "metadata": {"name": name, "namespace": "shop"}, "spec": spec})
}

struct Imported {
    scaler: Value,
    yaml: String,
    not_mapped: usize,
}

fn convert_with(doc: &Value, settings: &Settings) -> Imported {
    let converted = import::convert(doc, settings).unwrap();
    let checked = gscale::api::check::check(&converted.scaler);
    assert!(!checked.has_errors(), "{:?}\n{}", checked.findings, import::render(&converted));
    Imported {
        yaml: import::render(&converted),
        not_mapped: converted.not_mapped(),
        scaler: converted.scaler,
    }
}

fn convert(doc: &Value) -> Imported {
    convert_with(doc, &Settings::default())
}

/// The metric of a one-metric scaler, or metric `i` of several.
fn metric(scaler: &Value, i: usize) -> &Value {
    match scaler.pointer("/spec/metric") {
        Some(m) if i == 0 => m,
        _ => &scaler["spec"]["metrics"][i],
    }
}

// Mapped: each case's input and where the GeneralScaler holds it.
#[test]
fn hpa_fields_map() {
    let cases: Vec<(&str, Value, &str, Value)> = vec![
        ("minReplicas", json!({}), "/spec/minReplicas", json!(2)),
        ("minReplicas default", json!({"spec": {"minReplicas": null}}), "/spec/minReplicas", json!(1)),
        ("maxReplicas", json!({}), "/spec/maxReplicas", json!(20)),
        (
            "scaleTargetRef",
            json!({"spec": {"scaleTargetRef": {"kind": "StatefulSet"}}}),
            "/spec/targetRef",
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web"}),
        ),
        ("sync period", json!({}), "/spec/syncIntervalSeconds", json!(15)),
        ("no cooldown", json!({}), "/spec/behavior/scaleDown/cooldownSeconds", json!(0)),
        ("external AverageValue", json!({}), "/spec/metric/targetType", json!("AverageValue")),
        ("external target", json!({}), "/spec/metric/targetValue", json!(100)),
        ("external selector", json!({}), "/spec/metric/prometheus/query", json!("sum(rps{service=\"web\"})")),
        (
            "external Value",
            json!({"spec": {"metrics": [{"type": "External", "external": {"metric": {"name": "lag"},
            "target": {"type": "Value", "value": "1.5k"}}}]}}),
            "/spec/metric/targetValue",
            json!(1500),
        ),
        (
            "selector expressions",
            json!({"spec": {"metrics": [{"type": "External", "external": {"metric": {"name": "q",
            "selector": {"matchExpressions": [{"key": "queue", "operator": "In", "values": ["a.b", "c"]},
                {"key": "env", "operator": "NotIn", "values": ["dev"]}, {"key": "team", "operator": "Exists"}]}},
            "target": {"type": "AverageValue", "averageValue": 5}}}]}}),
            "/spec/metric/prometheus/query",
            json!("sum(q{queue=~\"a\\\\.b|c\",env!~\"dev\",team!=\"\"})"),
        ),
        (
            "object Value",
            json!({"spec": {"metrics": [{"type": "Object", "object": {"metric": {"name": "requests-per-second"},
            "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "main-route"},
            "target": {"type": "Value", "value": "10k"}}}]}}),
            "/spec/metric",
            json!({"type": "prometheus", "name": "requests-per-second", "targetType": "Value", "targetValue": 10000,
                   "prometheus": {"serverUrl": import::DEFAULT_PROMETHEUS_URL,
                   "query": "sum({__name__=\"requests-per-second\",namespace=\"shop\",ingress=\"main-route\"})"}}),
        ),
        (
            "pods",
            json!({"spec": {"metrics": [{"type": "Pods", "pods": {"metric": {"name": "packets_per_second"},
            "target": {"type": "AverageValue", "averageValue": "1k"}}}]}}),
            "/spec/metric/prometheus/query",
            json!("sum(packets_per_second{namespace=\"shop\",pod=~\"web-[a-z0-9]+-[a-z0-9]+\"})"),
        ),
        (
            "cpu utilization",
            json!({"spec": {"metrics": [{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 50}}}]}}),
            "/spec/metric",
            json!({"type": "resource", "targetType": "Utilization", "targetValue": 50, "resource": {"name": "cpu"}}),
        ),
        (
            "memory average value",
            json!({"spec": {"metrics": [{"type": "Resource", "resource": {"name": "memory",
            "target": {"type": "AverageValue", "averageValue": "512Mi"}}}]}}),
            "/spec/metric",
            json!({"type": "resource", "targetType": "AverageValue", "targetValue": 536870912,
                   "resource": {"name": "memory"}}),
        ),
        (
            "stabilization up",
            json!({"spec": {"behavior": {"scaleUp": {"stabilizationWindowSeconds": 60}}}}),
            "/spec/behavior/scaleUp/stabilizationWindowSeconds",
            json!(60),
        ),
        (
            "stabilization down",
            json!({"spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 600}}}}),
            "/spec/behavior/scaleDown/stabilizationWindowSeconds",
            json!(600),
        ),
        (
            "pods policy",
            json!({"spec": {"behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 3, "periodSeconds": 15}]}}}}),
            "/spec/behavior/scaleUp/maxIncrement",
            json!(3),
        ),
        (
            "largest policy",
            json!({"spec": {"behavior": {"scaleDown": {"policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 60}, {"type": "Percent", "value": 10, "periodSeconds": 60}]}}}}),
            "/spec/behavior/scaleDown/maxDecrement",
            json!(4),
        ),
        (
            "percent of max",
            json!({"spec": {"behavior": {"scaleDown": {"policies": [
            {"type": "Pods", "value": 1, "periodSeconds": 15}, {"type": "Percent", "value": 25, "periodSeconds": 15}]}}}}),
            "/spec/behavior/scaleDown/maxDecrement",
            json!(5),
        ),
        (
            "selectPolicy Min",
            json!({"spec": {"behavior": {"scaleDown": {"selectPolicy": "Min", "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 60}, {"type": "Percent", "value": 50, "periodSeconds": 60}]}}}}),
            "/spec/behavior/scaleDown/maxDecrement",
            json!(4),
        ),
        (
            "selectPolicy Disabled down",
            json!({"spec": {"behavior": {"scaleDown": {"selectPolicy": "Disabled"}}}}),
            "/spec/behavior/scaleDown/maxDecrement",
            json!(0),
        ),
        (
            "selectPolicy Disabled up",
            json!({"spec": {"behavior": {"scaleUp": {"selectPolicy": "Disabled"}}}}),
            "/spec/behavior/scaleUp/maxIncrement",
            json!(0),
        ),
        (
            "policy period",
            json!({"spec": {"behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]}}}}),
            "/spec/behavior/scaleUp/cooldownSeconds",
            json!(60),
        ),
        (
            "tolerance",
            json!({"spec": {"behavior": {"scaleUp": {"tolerance": 0.05}, "scaleDown": {"tolerance": 0.05}}}}),
            "/spec/behavior/tolerance",
            json!(0.05),
        ),
        (
            "autoscaling/v1",
            json!({"apiVersion": "autoscaling/v1", "spec": {"metrics": null, "targetCPUUtilizationPercentage": 70}}),
            "/spec/metric/targetValue",
            json!(70),
        ),
        ("labels", json!({"metadata": {"labels": {"team": "web"}}}), "/metadata/labels/team", json!("web")),
    ];
    for (what, patch, pointer, want) in cases {
        let out = convert(&hpa(patch));
        assert_eq!(out.scaler.pointer(pointer), Some(&want), "{what}:\n{}", out.yaml);
        assert_eq!(out.not_mapped, 0, "{what}:\n{}", out.yaml);
    }
}

#[test]
fn hpa_container_resource_becomes_a_container_level_resource_metric() {
    let doc =
        hpa(json!({"spec": {"metrics": [{"type": "ContainerResource", "containerResource": {"name": "cpu",
        "container": "application", "target": {"type": "Utilization", "averageUtilization": 60}}}]}}));
    let settings = Settings { prometheus_url: Some("http://thanos:10902".into()), ..Settings::default() };
    let out = convert_with(&doc, &settings);
    let m = metric(&out.scaler, 0);
    assert_eq!(
        *m,
        json!({"type": "resource", "targetType": "Utilization", "targetValue": 60,
               "resource": {"name": "cpu", "container": "application"}})
    );
    // The same pods, metrics API and rule as the HPA's: nothing to check, no Prometheus involved.
    assert!(!out.yaml.contains("# check: ContainerResource"), "{}", out.yaml);
    assert!(!out.yaml.contains("thanos"), "{}", out.yaml);
}

// Not mapped: each case's input and the words its comment holds; the count says so too.
#[test]
fn hpa_fields_not_mapped_are_comments() {
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "tolerances differ",
            json!({"spec": {"behavior": {"scaleUp": {"tolerance": 0.05}}}}),
            "# not mapped: spec.behavior: tolerance 0.05 up and 0.1 down",
        ),
        (
            "other resource",
            json!({"spec": {"metrics": [{"type": "Resource", "resource": {"name": "ephemeral-storage",
            "target": {"type": "AverageValue", "averageValue": "1Gi"}}}, {"type": "External", "external": {
            "metric": {"name": "rps"}, "target": {"type": "Value", "value": 5}}}]}}),
            "# not mapped: spec.metrics[0]: Resource metric ephemeral-storage",
        ),
        (
            "unknown metric type",
            json!({"spec": {"metrics": [{"type": "Custom"}, {"type": "External", "external": {
            "metric": {"name": "rps"}, "target": {"type": "Value", "value": 5}}}]}}),
            "# not mapped: spec.metrics[0]: metric type \"Custom\"",
        ),
        (
            "unknown policy type",
            json!({"spec": {"behavior": {"scaleUp": {"policies": [{"type": "Replicas", "value": 2}]}}}}),
            "# not mapped: spec.behavior.scaleUp.policies[0]: type \"Replicas\"",
        ),
    ];
    for (what, patch, comment) in cases {
        let out = convert(&hpa(patch));
        assert!(out.yaml.contains(comment), "{what}: no {comment:?} in\n{}", out.yaml);
        assert_eq!(out.not_mapped, 1, "{what}:\n{}", out.yaml);
    }
}

#[test]
fn keda_fields_map() {
    let prom_auth = auth(
        "prom",
        json!({"secretTargetRef": [
        {"parameter": "bearerToken", "name": "prom-secret", "key": "token"},
        {"parameter": "ca", "name": "prom-secret", "key": "ca.crt"}]}),
    );
    let redis_auth = auth(
        "redis",
        json!({"secretTargetRef": [{"parameter": "password", "name": "redis-secret", "key": "pw"}]}),
    );
    let gcp_auth = auth(
        "gcp",
        json!({"secretTargetRef": [
        {"parameter": "GoogleApplicationCredentials", "name": "gcp-secret", "key": "creds.json"}]}),
    );
    let api_auth =
        auth("api", json!({"secretTargetRef": [{"parameter": "token", "name": "api-secret", "key": "t"}]}));
    let with_auth = |kind: &str, metadata: Value, name: &str| json!({"spec": {"triggers": [{"type": kind, "metadata": metadata, "authenticationRef": {"name": name}}]}});
    let cases: Vec<(&str, Value, &str, Value)> = vec![
        ("minReplicaCount default", json!({}), "/spec/minReplicas", json!(0)),
        ("maxReplicaCount default", json!({}), "/spec/maxReplicas", json!(100)),
        ("minReplicaCount", json!({"spec": {"minReplicaCount": 2}}), "/spec/minReplicas", json!(2)),
        ("maxReplicaCount", json!({"spec": {"maxReplicaCount": 7}}), "/spec/maxReplicas", json!(7)),
        (
            "target defaults",
            json!({}),
            "/spec/targetRef",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "worker"}),
        ),
        ("pollingInterval", json!({"spec": {"pollingInterval": 10}}), "/spec/syncIntervalSeconds", json!(10)),
        (
            "cron to a schedule window",
            json!({"spec": {"triggers": [
                {"type": "prometheus", "metadata": {"serverAddress": "http://p:9090", "query": "q", "threshold": "5"}},
                {"type": "cron", "metadata": {"timezone": "Europe/Paris", "start": "0 8 * * 1-5",
                 "end": "0 18 * * 1-5", "desiredReplicas": "10"}}]}}),
            "/spec/schedules/0",
            json!({"name": "cron-1", "timezone": "Europe/Paris", "start": "0 8 * * 1-5", "end": "0 18 * * 1-5",
                   "minReplicas": 10}),
        ),
        (
            "cooldownPeriod",
            json!({"spec": {"cooldownPeriod": 120}}),
            "/spec/behavior/scaleDown/cooldownSeconds",
            json!(120),
        ),
        (
            "prometheus serverAddress",
            json!({}),
            "/spec/metric/prometheus/serverUrl",
            json!("http://prom:9090"),
        ),
        ("prometheus query", json!({}), "/spec/metric/prometheus/query", json!("sum(queue)")),
        ("prometheus threshold", json!({}), "/spec/metric/targetValue", json!(50)),
        ("metricType default", json!({}), "/spec/metric/targetType", json!("AverageValue")),
        (
            "metricType Value",
            json!({"spec": {"triggers": [{"type": "prometheus", "metricType": "Value",
            "metadata": {"serverAddress": "http://p:9090", "query": "q", "threshold": "5"}}]}}),
            "/spec/metric/targetType",
            json!("Value"),
        ),
        (
            "trigger name",
            json!({"spec": {"triggers": [{"type": "prometheus", "name": "backlog",
            "metadata": {"serverAddress": "http://p:9090", "query": "q", "threshold": "5"}}]}}),
            "/spec/metric/name",
            json!("backlog"),
        ),
        (
            "activationThreshold",
            trigger(
                "prometheus",
                json!({"serverAddress": "http://p:9090", "query": "q",
            "threshold": "5", "activationThreshold": "2.5"}),
            ),
            "/spec/metric/activationValue",
            json!(2.5),
        ),
        (
            "customHeaders",
            trigger(
                "prometheus",
                json!({"serverAddress": "http://p:9090", "query": "q", "threshold": "5",
            "customHeaders": "X-A=1,X-B=2"}),
            ),
            "/spec/metric/prometheus/headers",
            json!({"X-A": "1", "X-B": "2"}),
        ),
        (
            "unsafeSsl",
            trigger(
                "prometheus",
                json!({"serverAddress": "https://p:9090", "query": "q", "threshold": "5",
            "unsafeSsl": "true"}),
            ),
            "/spec/metric/prometheus/insecureSkipVerify",
            json!(true),
        ),
        (
            "bearer token",
            with_auth(
                "prometheus",
                json!({"serverAddress": "https://p:9090", "query": "q", "threshold": "5",
            "authModes": "bearer"}),
                "prom",
            ),
            "/spec/metric/prometheus/bearerTokenSecretRef",
            json!({"name": "prom-secret", "key": "token"}),
        ),
        (
            "prometheus ca",
            with_auth(
                "prometheus",
                json!({"serverAddress": "https://p:9090", "query": "q", "threshold": "5",
            "authModes": "bearer"}),
                "prom",
            ),
            "/spec/metric/prometheus/caSecretRef",
            json!({"name": "prom-secret", "key": "ca.crt"}),
        ),
        (
            "redis list",
            with_auth(
                "redis",
                json!({"address": "redis.shop:6380", "listName": "jobs", "databaseIndex": "2"}),
                "redis",
            ),
            "/spec/metric",
            json!({"type": "redis", "name": "redis", "targetType": "AverageValue", "targetValue": 5,
                "redis": {"host": "redis.shop", "port": 6380, "db": 2, "queueName": "jobs",
                          "passwordSecretRef": {"name": "redis-secret", "key": "pw"}}}),
        ),
        (
            "redis host and port",
            trigger("redis", json!({"host": "r", "port": "7000", "listName": "l", "listLength": "20"})),
            "/spec/metric/redis/port",
            json!(7000),
        ),
        (
            "redis listLength",
            trigger("redis", json!({"address": "r:6379", "listName": "l", "listLength": "20"})),
            "/spec/metric/targetValue",
            json!(20),
        ),
        (
            "redis tls",
            trigger("redis", json!({"address": "r:6379", "listName": "l", "enableTLS": "true"})),
            "/spec/metric/redis/tls",
            json!(true),
        ),
        (
            "redis stream group",
            trigger(
                "redis-streams",
                json!({"address": "r:6379", "stream": "s", "consumerGroup": "g",
            "pendingEntriesCount": "10"}),
            ),
            "/spec/metric/redis",
            json!({"host": "r", "port": 6379, "queueName": "s", "kind": "stream", "consumerGroup": "g"}),
        ),
        (
            "redis stream length",
            trigger("redis-streams", json!({"address": "r:6379", "stream": "s", "streamLength": "30"})),
            "/spec/metric/targetValue",
            json!(30),
        ),
        (
            "pubsub",
            with_auth(
                "gcp-pubsub",
                json!({"subscriptionName": "projects/p1/subscriptions/s1", "value": "7",
            "mode": "OldestUnackedMessageAge"}),
                "gcp",
            ),
            "/spec/metric/pubsub",
            json!({"projectId": "p1", "subscriptionId": "s1", "mode": "oldestUnackedAge",
                   "credentialsSecret": {"name": "gcp-secret", "key": "creds.json"}}),
        ),
        (
            "pubsub value",
            trigger("gcp-pubsub", json!({"subscriptionName": "projects/p1/subscriptions/s1", "value": "7"})),
            "/spec/metric/targetValue",
            json!(7),
        ),
        (
            "metrics-api",
            trigger(
                "metrics-api",
                json!({"url": "http://api:3232/stats", "valueLocation": "components.worker.tasks",
            "targetValue": "8.8"}),
            ),
            "/spec/metric/http",
            json!({"url": "http://api:3232/stats", "valuePath": "/components/worker/tasks"}),
        ),
        (
            "metrics-api bearer",
            with_auth(
                "metrics-api",
                json!({"url": "https://api/stats", "targetValue": "3",
            "authMode": "bearer"}),
                "api",
            ),
            "/spec/metric/http/bearerTokenSecretRef",
            json!({"name": "api-secret", "key": "t"}),
        ),
        (
            "metrics-api activation",
            trigger(
                "metrics-api",
                json!({"url": "http://api/s", "targetValue": "3",
            "activationTargetValue": "1"}),
            ),
            "/spec/metric/activationValue",
            json!(1),
        ),
        (
            "cpu",
            json!({"spec": {"triggers": [{"type": "cpu", "metricType": "Utilization", "metadata": {"value": "60"}}]}}),
            "/spec/metric/targetValue",
            json!(60),
        ),
        (
            "memory average",
            json!({"spec": {"triggers": [{"type": "memory", "metricType": "AverageValue", "metadata": {"value": "1Gi"}}]}}),
            "/spec/metric/targetType",
            json!("AverageValue"),
        ),
        (
            "fallback static",
            json!({"spec": {"fallback": {"failureThreshold": 4, "replicas": 6}}}),
            "/spec/fallback",
            json!({"failureThreshold": 4, "action": "setReplicas", "replicas": 6}),
        ),
        (
            "fallback currentReplicas",
            json!({"spec": {"fallback": {"failureThreshold": 3, "replicas": 6, "behavior": "currentReplicas"}}}),
            "/spec/fallback/action",
            json!("hold"),
        ),
        (
            "fallback currentReplicasIfHigher",
            json!({"spec": {"fallback": {"failureThreshold": 3, "replicas": 2,
            "behavior": "currentReplicasIfHigher"}}}),
            "/spec/fallback/replicas",
            json!(2),
        ),
        (
            "paused",
            json!({"metadata": {"annotations": {"autoscaling.keda.sh/paused": "true"}}}),
            "/spec/paused",
            json!(true),
        ),
        (
            "advanced behavior",
            json!({"spec": {"advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {
            "stabilizationWindowSeconds": 60, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 15}]}}}}}}),
            "/spec/behavior/scaleDown",
            json!({"stabilizationWindowSeconds": 60, "maxDecrement": 1, "cooldownSeconds": 300}),
        ),
        (
            "several triggers",
            json!({"spec": {"triggers": [
            {"type": "prometheus", "metadata": {"serverAddress": "http://p:9090", "query": "a", "threshold": "1"}},
            {"type": "redis", "metadata": {"address": "r:6379", "listName": "l"}}]}}),
            "/spec/metrics/1/type",
            json!("redis"),
        ),
    ];
    let settings =
        Settings { trigger_auths: vec![prom_auth, redis_auth, gcp_auth, api_auth], ..Settings::default() };
    for (what, patch, pointer, want) in cases {
        let out = convert_with(&scaled_object(patch), &settings);
        assert_eq!(out.scaler.pointer(pointer), Some(&want), "{what}:\n{}", out.yaml);
        assert_eq!(out.not_mapped, 0, "{what}:\n{}", out.yaml);
    }
}

#[test]
fn keda_fields_not_mapped_are_comments() {
    let prom = || json!({"type": "prometheus", "metadata": {"serverAddress": "http://p:9090", "query": "q", "threshold": "5"}});
    let vault = auth("vault", json!({"hashiVault": {"address": "http://vault:8200"}}));
    let env = auth("env", json!({"env": [{"parameter": "password", "name": "REDIS_PASSWORD"}]}));
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "cron without its replicas",
            json!({"spec": {"triggers": [prom(), {"type": "cron", "metadata": {"timezone": "Europe/Paris",
            "start": "0 8 * * 1-5", "end": "0 18 * * 1-5"}}]}}),
            "# not mapped: spec.triggers[1]: cron trigger without start, end and desiredReplicas",
        ),
        (
            "kafka without its brokers",
            json!({"spec": {"triggers": [prom(), {"type": "kafka", "metadata": {"topic": "t", "consumerGroup": "g"}}]}}),
            "# not mapped: spec.triggers[1]: kafka trigger without metadata.bootstrapServers",
        ),
        (
            "idleReplicaCount",
            json!({"spec": {"idleReplicaCount": 0, "minReplicaCount": 1}}),
            "# not mapped: spec.idleReplicaCount 0",
        ),
        (
            "initialCooldownPeriod",
            json!({"spec": {"initialCooldownPeriod": 60}}),
            "# not mapped: spec.initialCooldownPeriod 60",
        ),
        (
            "restoreToOriginalReplicaCount",
            json!({"spec": {"advanced": {"restoreToOriginalReplicaCount": true}}}),
            "# not mapped: spec.advanced.restoreToOriginalReplicaCount true",
        ),
        (
            "scalingModifiers",
            json!({"spec": {"advanced": {"scalingModifiers": {"formula": "a + b", "target": "2"}}}}),
            "# not mapped: spec.advanced.scalingModifiers",
        ),
        (
            "hpa name",
            json!({"spec": {"advanced": {"horizontalPodAutoscalerConfig": {"name": "custom-hpa"}}}}),
            "# not mapped: spec.advanced.horizontalPodAutoscalerConfig.name \"custom-hpa\"",
        ),
        (
            "envSourceContainerName",
            json!({"spec": {"scaleTargetRef": {"envSourceContainerName": "app"}}}),
            "# not mapped: spec.scaleTargetRef.envSourceContainerName \"app\"",
        ),
        (
            "paused-replicas",
            json!({"metadata": {"annotations": {"autoscaling.keda.sh/paused-replicas": "3"}}}),
            "# not mapped: annotation autoscaling.keda.sh/paused-replicas: \"3\"",
        ),
        (
            "fallback currentReplicasIfLower",
            json!({"spec": {"fallback": {"failureThreshold": 3, "replicas": 2,
            "behavior": "currentReplicasIfLower"}}}),
            "# not mapped: spec.fallback.behavior currentReplicasIfLower",
        ),
        (
            "unknown metadata key",
            trigger(
                "prometheus",
                json!({"serverAddress": "http://p:9090", "query": "q",
            "threshold": "5", "metricName": "x"}),
            ),
            "# not mapped: spec.triggers[0].metadata.metricName",
        ),
        (
            "prometheus namespace",
            trigger(
                "prometheus",
                json!({"serverAddress": "http://p:9090", "query": "q",
            "threshold": "5", "namespace": "tenant"}),
            ),
            "# not mapped: spec.triggers[0].metadata.namespace \"tenant\"",
        ),
        (
            "basic auth",
            trigger(
                "prometheus",
                json!({"serverAddress": "http://p:9090", "query": "q",
            "threshold": "5", "authModes": "basic"}),
            ),
            "# not mapped: authModes basic",
        ),
        (
            "auth not found",
            json!({"spec": {"triggers": [{"type": "prometheus", "authenticationRef": {"name": "missing"},
            "metadata": {"serverAddress": "http://p:9090", "query": "q", "threshold": "5"}}]}}),
            "# not mapped: spec.triggers[0].authenticationRef: TriggerAuthentication missing was not found",
        ),
        (
            "vault",
            json!({"spec": {"triggers": [{"type": "prometheus", "authenticationRef": {"name": "vault"},
            "metadata": {"serverAddress": "http://p:9090", "query": "q", "threshold": "5"}}]}}),
            "# not mapped: TriggerAuthentication vault spec.hashiVault",
        ),
        (
            "auth from env",
            json!({"spec": {"triggers": [{"type": "redis", "authenticationRef": {"name": "env"},
            "metadata": {"address": "r:6379", "listName": "l"}}]}}),
            "# not mapped: TriggerAuthentication env parameter password comes from env",
        ),
        (
            "address from env",
            trigger("redis", json!({"host": "r", "listName": "l", "passwordFromEnv": "REDIS_PASSWORD"})),
            "# not mapped: spec.triggers[0].metadata.passwordFromEnv \"REDIS_PASSWORD\"",
        ),
        (
            "pubsub without project",
            trigger("gcp-pubsub", json!({"subscriptionName": "mysubscription"})),
            "# not mapped: spec.triggers[0].metadata.subscriptionName \"mysubscription\" names no project",
        ),
        (
            "pubsub topic",
            trigger(
                "gcp-pubsub",
                json!({"subscriptionName": "projects/p/subscriptions/s", "topicName": "t"}),
            ),
            "# not mapped: spec.triggers[0].metadata.topicName \"t\"",
        ),
        (
            "metrics-api apiKey",
            trigger("metrics-api", json!({"url": "http://api/s", "targetValue": "3", "authMode": "apiKey"})),
            "# not mapped: authMode apiKey",
        ),
    ];
    let settings = Settings { trigger_auths: vec![vault, env], ..Settings::default() };
    for (what, patch, comment) in cases {
        let out = convert_with(&scaled_object(patch), &settings);
        assert!(out.yaml.contains(comment), "{what}: no {comment:?} in\n{}", out.yaml);
        assert_eq!(out.not_mapped, 1, "{what}:\n{}", out.yaml);
    }
}

/// A comment sits on the line above the field it is about, at its indentation.
#[test]
fn comments_sit_above_their_field() {
    let out = convert(&hpa(json!({"spec": {"behavior": {"scaleDown": {"selectPolicy": "Sometimes"}}}})));
    let lines: Vec<&str> = out.yaml.lines().collect();
    let at = lines.iter().position(|l| l.contains("# not mapped:")).unwrap();
    assert_eq!(lines[at + 1], "    scaleDown:", "{}", out.yaml);
    assert!(lines[at].starts_with("    # not mapped:"), "{}", out.yaml);
}

/// `gscale import ARGS` with `stdin`: (exit code, stdout, stderr).
fn gscale(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gscale"))
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_fixture_imports_and_validates() {
    let dir = common::TempDir::new("import-fixtures");
    for path in fixture_files() {
        let (code, out, err) = gscale(&["import", "-f", path.to_str().unwrap()], None);
        assert_eq!(code, 0, "{}: {err}", path.display());
        assert!(err.contains("imported "), "{err}");
        let written = dir.path().join(path.file_name().unwrap());
        std::fs::write(&written, &out).unwrap();
        let (code, report, _) = gscale(&["validate", "-f", written.to_str().unwrap()], None);
        assert_eq!(code, 0, "{}:\n{report}\n{out}", path.display());
        assert!(report.contains(": 0 errors, 0 warnings"), "{}:\n{report}", path.display());
    }
}

#[test]
fn the_count_of_fields_not_mapped_is_on_stderr_and_strict_fails_on_it() {
    let path = fixtures().join("keda-spec-reference.yaml");
    let (code, out, err) = gscale(&["import", "-f", path.to_str().unwrap()], None);
    let comments = out.matches("# not mapped:").count();
    assert!(comments >= 5, "{out}");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("imported 2 scalers: {comments} fields not mapped")), "{err}");
    let (code, _, _) = gscale(&["import", "--strict", "-f", path.to_str().unwrap()], None);
    assert_eq!(code, 1);
    let clean = fixtures().join("keda-redis.yaml");
    let (code, _, err) = gscale(&["import", "--strict", "-f", clean.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn stdin_and_a_scaled_object_with_no_metric_left() {
    let text = std::fs::read_to_string(fixtures().join("hpa-walkthrough.yaml")).unwrap();
    let (code, out, _) = gscale(&["import", "-f", "-"], Some(&text));
    assert_eq!(code, 0);
    assert_eq!(out.matches("kind: GeneralScaler").count(), 2, "{out}");

    let cron_only = "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: nightly}\nspec:\n  scaleTargetRef: {name: batch}\n  triggers:\n  - type: cron\n    metadata: {timezone: UTC, start: 0 1 * * *, end: 0 5 * * *, desiredReplicas: \"4\"}\n";
    let (code, out, err) = gscale(&["import", "-f", "-"], Some(cron_only));
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("schedules:") && out.contains("name: cron-1"), "the window is kept: {out}");
    assert!(err.contains("does not validate") && err.contains("metric"), "{err}");

    let (code, _, err) =
        gscale(&["import", "-f", "-"], Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"));
    assert_eq!(code, 1);
    assert!(err.contains("skipped: v1 ConfigMap") && err.contains("hint:"), "{err}");
}

fn kubectl(kubeconfig: &Path, home: &Path, args: &[&str]) -> String {
    let out = Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(home.join("cache"))
        .args(args)
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "kubectl {args:?} failed:\n{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_every_import() {
    if common::require(KUBECTL, "kubectl applies every import").is_none() {
        return;
    }
    let sandbox = gscale_sandbox::Sandbox::start(Default::default()).await.unwrap();
    let home = common::TempDir::new("import-kubectl");
    let (config, home) = (sandbox.kubeconfig_path().to_path_buf(), home.path().to_path_buf());
    tokio::task::spawn_blocking(move || {
        let crd = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/crd.yaml");
        kubectl(&config, &home, &["apply", "-f", crd.to_str().unwrap()]);
        kubectl(
            &config,
            &home,
            &["wait", "--for=condition=Established", "crd/generalscalers.autoscaling.generalscaler.io"],
        );
        for ns in ["my-project", "keda-pubsub-test", "keda", "legacy", "shop"] {
            kubectl(&config, &home, &["create", "namespace", ns]);
        }
        let mut names = Vec::new();
        for path in fixture_files() {
            let (code, out, err) = gscale(&["import", "-f", path.to_str().unwrap()], None);
            assert_eq!(code, 0, "{err}");
            let file = home.join(path.file_name().unwrap());
            std::fs::write(&file, &out).unwrap();
            let applied = kubectl(&config, &home, &["apply", "-f", file.to_str().unwrap()]);
            assert_eq!(applied.lines().count(), out.matches("kind: GeneralScaler").count(), "{applied}");
            assert!(applied.lines().all(|l| l.ends_with(" created")), "{applied}");
            names.extend(out.lines().filter_map(|l| l.strip_prefix("  name: ")).map(str::to_string));
        }
        let listed = kubectl(&config, &home, &["get", "gsc", "-A"]);
        for name in names {
            assert!(listed.contains(&name), "{name} not in\n{listed}");
        }
    })
    .await
    .unwrap();
}

/// From the cluster: a named HPA, `--all` (KEDA's own HPA skipped, its ScaledObject imported with
/// the TriggerAuthentication it names), and a clear note when KEDA is not installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_from_the_cluster() {
    use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
    let sandbox = gscale_sandbox::Sandbox::start(Default::default()).await.unwrap();
    let client = sandbox.client();
    let config = sandbox.kubeconfig_path().to_path_buf();
    let apply = |group: &str, version: &str, kind: &str, plural: &str, doc: Value| {
        let client = client.clone();
        let resource =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        async move {
            let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &resource);
            let name = doc["metadata"]["name"].as_str().unwrap().to_string();
            api.patch(&name, &PatchParams::apply("test").force(), &Patch::Apply(doc)).await.unwrap();
        }
    };
    let mut web = hpa(json!({"metadata": {"namespace": "default"}}));
    web["metadata"]["name"] = json!("web");
    apply("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", web).await;
    let run = |args: Vec<String>| {
        let mut all =
            vec!["--kubeconfig".to_string(), config.to_str().unwrap().to_string(), "import".to_string()];
        all.extend(args);
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            gscale(&refs, None)
        })
    };
    let (code, out, err) = run(vec!["hpa/web".into()]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("name: web") && out.contains("sum(rps{service=\\\"web\\\"})"), "{out}");

    // No KEDA CRD: --all imports the HPAs and says why there is nothing else.
    let (code, out, err) = run(vec!["--all".into(), "-n".into(), "default".into()]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("KEDA is not installed"), "{err}");
    assert_eq!(out.matches("kind: GeneralScaler").count(), 1, "{out}");
    let (code, _, err) = run(vec!["scaledobject/worker".into()]).await.unwrap();
    assert_eq!(code, 1);
    assert!(err.contains("KEDA is not installed"), "{err}");

    // KEDA's CRDs (schemas kept open, as only the shape matters here), a ScaledObject, its auth, its HPA.
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    for (kind, plural) in
        [("ScaledObject", "scaledobjects"), ("TriggerAuthentication", "triggerauthentications")]
    {
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.keda.sh")},
            "spec": {"group": "keda.sh", "scope": "Namespaced",
                     "names": {"kind": kind, "plural": plural, "singular": kind.to_ascii_lowercase()},
                     "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                                   "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
        crds.patch(&format!("{plural}.keda.sh"), &PatchParams::apply("test").force(), &Patch::Apply(crd))
            .await
            .unwrap();
    }
    let mut so = scaled_object(
        json!({"metadata": {"namespace": "default"}, "spec": {"triggers": [{"type": "redis",
        "authenticationRef": {"name": "redis-auth"}, "metadata": {"address": "redis:6379", "listName": "jobs"}}]}}),
    );
    so["metadata"]["namespace"] = json!("default");
    apply("keda.sh", "v1alpha1", "ScaledObject", "scaledobjects", so).await;
    let mut ta = auth(
        "redis-auth",
        json!({"secretTargetRef": [{"parameter": "password", "name": "redis", "key": "pw"}]}),
    );
    ta["metadata"]["namespace"] = json!("default");
    apply("keda.sh", "v1alpha1", "TriggerAuthentication", "triggerauthentications", ta).await;
    let mut keda_hpa = hpa(
        json!({"metadata": {"namespace": "default", "ownerReferences": [{"apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject", "name": "worker", "uid": "0c0f9d4e-0000-4000-8000-000000000001"}]}}),
    );
    keda_hpa["metadata"]["name"] = json!("keda-hpa-worker");
    apply("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", keda_hpa).await;

    let (code, out, err) = run(vec!["--all".into(), "-n".into(), "default".into()]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("hpa/keda-hpa-worker: skipped: KEDA made it for scaledobject/worker"), "{err}");
    assert_eq!(out.matches("kind: GeneralScaler").count(), 2, "{out}");
    assert!(out.contains("name: redis\n") && out.contains("key: pw"), "the auth's Secret is a ref:\n{out}");
}

#[test]
fn keda_queue_triggers_and_scaling_modifiers_map() {
    let path = fixtures().join("keda-queues.yaml");
    let (code, out, err) = gscale(&["import", "--strict", "-f", path.to_str().unwrap()], None);
    assert_eq!(code, 0, "every field maps: {err}\n{out}");
    for expected in [
        "expression: (queue + pending) / 2",
        "targetValue: 100",
        "activationValue: 5",
        "url: \"http://rabbitmq.shop.svc:15672\"",
        "# check: spec.triggers[0].metadata.host is an AMQP URL",
        "usernameSecretRef:",
        "name: rabbitmq-secret",
        "monitoringUrl: \"http://nats.shop.svc:8222\"",
        "consumer: worker",
        "type: nats",
    ] {
        assert!(out.contains(expected), "{expected}:\n{out}");
    }

    // Credentials in the URL are never copied; a formula CEL does not read stays a comment.
    let rabbit = trigger(
        "rabbitmq",
        json!({"host": "http://user:pw@rabbit:15672/prod", "queueName": "q", "value": "5"}),
    );
    let mut doc = scaled_object(rabbit);
    doc["spec"]["advanced"] = json!({"scalingModifiers": {"formula": "rabbitmq ** 2", "target": "3"}});
    let imported = convert(&doc);
    let source = &metric(&imported.scaler, 0)["rabbitmq"];
    assert_eq!(
        (source["url"].as_str(), source["vhost"].as_str()),
        (Some("http://rabbit:15672"), Some("prod"))
    );
    assert!(!imported.yaml.contains("user:pw"), "{}", imported.yaml);
    assert!(
        imported.yaml.contains("carries credentials: gscale takes them from a Secret"),
        "{}",
        imported.yaml
    );
    assert!(
        imported.yaml.contains("# not mapped: spec.advanced.scalingModifiers.formula \"rabbitmq ** 2\""),
        "{}",
        imported.yaml
    );
    assert!(imported.scaler["spec"].get("formula").is_none());
}

#[test]
fn the_issues_scaled_object_maps_all_three_triggers_and_the_formula() {
    let doc = json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": {"name": "orders", "namespace": "shop"},
        "spec": {"scaleTargetRef": {"name": "orders-consumer"}, "minReplicaCount": 1, "maxReplicaCount": 30,
            "advanced": {"scalingModifiers": {"formula": "(lag + inflight) / 2", "target": "100"}},
            "triggers": [
                {"type": "kafka", "name": "lag", "metadata": {"bootstrapServers": "kafka:9092", "consumerGroup": "orders", "topic": "orders", "lagThreshold": "50"}},
                {"type": "prometheus", "name": "inflight", "metadata": {"serverAddress": "http://prom:9090", "query": "sum(inflight{app='orders'})", "threshold": "20"}},
                {"type": "external", "metadata": {"scalerAddress": "ext-scaler:6000", "foo": "bar"}}]}});
    let imported = convert(&doc);
    let kafka = metric(&imported.scaler, 0);
    assert_eq!(kafka["type"], "kafka");
    assert_eq!(kafka["name"], "lag");
    assert_eq!(kafka["targetValue"], 50);
    assert_eq!(
        kafka["kafka"],
        json!({"bootstrapServers": ["kafka:9092"], "consumerGroup": "orders", "topic": "orders"})
    );
    assert_eq!(metric(&imported.scaler, 1)["type"], "prometheus");
    let external = metric(&imported.scaler, 2);
    assert_eq!(external["type"], "external");
    assert_eq!(external["external"], json!({"scalerAddress": "ext-scaler:6000", "metadata": {"foo": "bar"}}));
    assert_eq!(
        imported.scaler["spec"]["formula"],
        json!({"expression": "(lag + inflight) / 2", "targetValue": 100})
    );
    assert_eq!(imported.not_mapped, 0, "{}", imported.yaml);
    // That it validates through the binary: tests/fixtures/import/keda-kafka.yaml holds this object
    // (every_fixture_imports_and_validates).
}

#[test]
fn a_kafka_trigger_maps_keda_s_lag_rules_sasl_and_tls() {
    let path = fixtures().join("keda-kafka.yaml");
    let (code, out, err) = gscale(&["import", "--strict", "-f", path.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}\n{out}");
    for line in [
        "bootstrapServers:\n        - \"kafka-0.kafka.shop.svc:9093\"\n        - \"kafka-1.kafka.shop.svc:9093\"",
        "partitions:\n        - 0\n        - 2\n        - 3\n        - 4",
        "offsetResetPolicy: Earliest",
        "excludePersistentLag: true",
        "mechanism: SCRAM-SHA-512",
        "tls: true",
        "caSecretRef:\n        key: ca.crt\n        name: kafka-secret",
        "activationValue: 3",
    ] {
        assert!(out.contains(line), "{line}:\n{out}");
    }
    let oauth = json!({"spec": {"triggers": [{"type": "kafka", "metadata": {
        "bootstrapServers": "k:9092", "consumerGroup": "g", "topic": "t", "sasl": "oauthbearer"}}]}});
    let imported = convert(&scaled_object(oauth));
    assert!(
        imported.yaml.contains("sasl \"oauthbearer\": gscale speaks SASL PLAIN and SCRAM"),
        "{}",
        imported.yaml
    );
    assert!(metric(&imported.scaler, 0)["kafka"].get("sasl").is_none());
}
