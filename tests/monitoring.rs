//! The daemon's /metrics through a real Prometheus: a `gscale run` on the sandbox, scraped every
//! second; each per-scaler series is there for a scaler, and gone once the scaler is deleted; every
//! query of the Grafana dashboard returns data; the daemon asks the API for exactly what the RBAC
//! of `gscale install` grants.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::cluster::{Cluster, Load, Reply, eventually};
use serde_json::{Value, json};

const SECONDS: fn(u64) -> Duration = Duration::from_secs;

/// The result of an instant query (empty on any failure).
fn query(prometheus: &common::prometheus::PrometheusServer, expr: &str) -> Vec<Value> {
    let url = format!("{}/api/v1/query?query={}", prometheus.url, common::prometheus::encode(expr));
    common::http_request("GET", &url, None)
        .and_then(|(code, body)| (code == 200).then_some(body))
        .and_then(|body| serde_json::from_str::<Value>(&body).ok())
        .and_then(|v| v["data"]["result"].as_array().cloned())
        .unwrap_or_default()
}

fn scaler(target: &str, url: &str, forecast: bool) -> Value {
    let mut spec = json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "minReplicas": 1, "maxReplicas": 10, "syncIntervalSeconds": 1,
        "fallback": {"failureThreshold": 1, "action": "hold"},
        "metric": {"type": "http", "name": "load", "targetValue": 10, "targetType": "AverageValue",
                   "http": {"url": url, "valuePath": "/value"}},
    });
    if forecast {
        spec["forecast"] = json!({"mode": "Observe", "leadSeconds": 30});
    }
    spec
}

/// Each per-scaler series of the issue, by name.
const SCALER_SERIES: [&str; 15] = [
    "gscale_scaler_metric_value",
    "gscale_scaler_metric_target",
    "gscale_scaler_current_replicas",
    "gscale_scaler_desired_replicas",
    "gscale_scaler_forecast_replicas",
    "gscale_scaler_min_replicas",
    "gscale_scaler_max_replicas",
    "gscale_scaler_binding_stage",
    "gscale_scaler_metric_latency_seconds",
    "gscale_scaler_fallback_active",
    "gscale_scaler_paused",
    "gscale_scaler_budget_exceeded",
    "gscale_scaler_metric_failures",
    "gscale_scaler_ready",
    "gscale_scaler_metric_errors_total",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sees_each_scaler_series_the_dashboard_has_data_and_a_deleted_scaler_goes() {
    let cluster = Cluster::start().await;
    cluster.deployment("web", 1).await;
    cluster.deployment("worker", 1).await;
    let load = Load::new(30.0);
    let broken = Load::new(1.0);
    broken.answer(Reply::Down);
    cluster.apply_scaler("web", scaler("web", &load.url(), true)).await;
    // Every 503 is an error of reason BackendStatus (or the like): the errors series and the fallback.
    cluster.apply_scaler("broken", scaler("worker", &broken.url(), false)).await;
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let daemon = cluster.daemon("monitored", &["--metrics-addr", &addr]);
    eventually("the daemon serves /metrics", SECONDS(30), || async {
        common::http_request("GET", &format!("http://{addr}/metrics"), None).is_some()
    })
    .await;
    let Some(prometheus) = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || common::prometheus::start(&addr)
    })
    .await
    .unwrap() else {
        return;
    };
    eventually("web scaled to 3, as Prometheus sees it", SECONDS(60), || async {
        let found =
            query(&prometheus, r#"gscale_scaler_current_replicas{namespace="default",name="web"} == 3"#);
        !found.is_empty()
    })
    .await;
    // web's backend fails for a moment (so its errors panel has data), then answers again; rate()
    // needs a few scrapes after that.
    load.answer(Reply::Down);
    eventually("an error of web in a rate", SECONDS(30), || async {
        !query(&prometheus, r#"rate(gscale_scaler_metric_errors_total{name="web"}[10s]) > 0"#).is_empty()
    })
    .await;
    load.set(30.0);
    eventually("web reads again", SECONDS(30), || async {
        !query(&prometheus, r#"gscale_scaler_metric_value{name="web"} == 30"#).is_empty()
    })
    .await;

    for series in SCALER_SERIES {
        let scaler = if series == "gscale_scaler_metric_errors_total" { "broken" } else { "web" };
        let found = query(&prometheus, &format!(r#"{series}{{namespace="default",name="{scaler}"}}"#));
        assert!(!found.is_empty(), "{series} for default/{scaler} in Prometheus");
    }
    let stage = query(&prometheus, r#"gscale_scaler_binding_stage{namespace="default",name="web"}"#);
    assert_eq!(stage.len(), 1, "one binding stage at a time: {stage:?}");
    let fallback = query(&prometheus, r#"gscale_scaler_fallback_active{name="broken"} == 1"#);
    assert!(!fallback.is_empty(), "the broken scaler's fallback is active");
    let not_ready =
        query(&prometheus, r#"gscale_scaler_ready{name="broken",reason="MetricUnavailable"} == 0"#);
    assert!(!not_ready.is_empty(), "the broken scaler is not Ready, reason MetricUnavailable");
    let value = query(&prometheus, r#"gscale_scaler_metric_value{name="broken"}"#);
    assert!(value.is_empty(), "no data is not zero: a failing metric has no value series");
    let api = query(
        &prometheus,
        r#"gscale_api_requests_total{verb="patch",resource="generalscalers/status",code="200"}"#,
    );
    assert!(!api.is_empty(), "API requests by verb and code");
    assert!(!query(&prometheus, "gscale_build_info").is_empty());
    assert!(!query(&prometheus, "gscale_owned_scalers == 2").is_empty(), "two scalers owned");

    // Every query of every dashboard panel returns data, for the fleet and for default/web.
    let dashboard: Value = serde_json::from_str(gscale::install::DASHBOARD).unwrap();
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$namespace", "default")
                .replace("$name", "web")
                .replace("$__rate_interval", "10s");
            assert!(
                !query(&prometheus, &expr).is_empty(),
                "panel {:?}: {expr} returns no data",
                panel["title"]
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} queries");
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(q) = variable["query"]["query"].as_str() {
            let metric = q.split(['(', ',', '{']).nth(1).unwrap().trim();
            assert!(!query(&prometheus, metric).is_empty(), "variable {} reads {metric}", variable["name"]);
        }
    }

    // The scaler deleted: its series leave the daemon, and Prometheus marks them stale.
    let scalers: kube::Api<gscale::api::GeneralScaler> =
        kube::Api::namespaced(cluster.client.clone(), "default");
    scalers.delete("web", &Default::default()).await.unwrap();
    eventually("web's series gone from Prometheus", SECONDS(30), || async {
        query(&prometheus, r#"{namespace="default",name="web"}"#).is_empty()
    })
    .await;
    assert!(!query(&prometheus, r#"gscale_scaler_ready{name="broken"}"#).is_empty(), "the other stays");
    let text = common::http_request("GET", &format!("http://{addr}/metrics"), None).unwrap().1;
    assert!(!text.contains("name=\"web\""), "{text}\n{}", daemon.log());
    // OpenMetrics when asked (Prometheus asked for it in its scrapes; a plain GET gets 0.0.4 text).
    assert!(!text.contains("# EOF"));
}

/// (group, resource[/subresource], verb) of every request the daemon made (by its User-Agent).
fn asked(cluster: &Cluster) -> BTreeSet<(String, String, String)> {
    cluster
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.user_agent.starts_with("gscale/") && !r.resource.is_empty())
        .map(|r| {
            let group = r.path.strip_prefix("/apis/").and_then(|p| p.split('/').next()).unwrap_or_default();
            let resource = if r.subresource.is_empty() {
                r.resource.clone()
            } else {
                format!("{}/{}", r.resource, r.subresource)
            };
            (group.to_string(), resource, r.verb.clone())
        })
        .collect()
}

/// (group, resource, verb) of every rule of the install's ClusterRole and Role.
fn granted() -> BTreeSet<(String, String, String)> {
    let mut all = BTreeSet::new();
    for object in gscale::install::rbac(&Default::default()) {
        for rule in object["rules"].as_array().into_iter().flatten() {
            let list = |key: &str| -> Vec<String> {
                rule[key].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
            };
            for group in list("apiGroups") {
                for resource in list("resources") {
                    for verb in list("verbs") {
                        all.insert((group.clone(), resource.clone(), verb));
                    }
                }
            }
        }
    }
    all
}

/// The daemon, doing everything it does (scaling a Deployment and a StatefulSet, a Secret, a
/// resource metric, Events, a Lease, a GET of a scaler whose watch lags behind a write), asks for
/// exactly what the install's RBAC grants: nothing more (a real API server would refuse it),
/// nothing less (a grant nobody uses is privilege to spare).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rbac_of_install_is_exactly_what_the_daemon_asks() {
    let cluster = Cluster::start().await;
    cluster.deployment("web", 1).await;
    let client = cluster.client.clone();
    let sets: kube::Api<k8s_openapi::api::apps::v1::StatefulSet> =
        kube::Api::namespaced(client.clone(), "default");
    let set = json!({"metadata": {"name": "db"}, "spec": {"replicas": 2, "serviceName": "db",
        "selector": {"matchLabels": {"app": "db"}},
        "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "db",
            "resources": {"requests": {"cpu": "100m"}}}]}}}});
    sets.create(&Default::default(), &serde_json::from_value(set).unwrap()).await.unwrap();
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client.clone(), "default");
    for (app, i) in [("db", 0), ("db", 1), ("web", 0)] {
        let name = format!("{app}-{i}");
        let pod = json!({"metadata": {"name": name, "labels": {"app": app}},
            "spec": {"containers": [{"name": "db", "image": "db", "resources": {"requests": {"cpu": "100m"}}}]}});
        pods.create(&Default::default(), &serde_json::from_value(pod).unwrap()).await.unwrap();
        // Status is the kubelet's to write, through the status subresource.
        let status =
            json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        pods.patch_status(&name, &Default::default(), &kube::api::Patch::Merge(status)).await.unwrap();
        let usage = if app == "db" { "300m" } else { "50m" };
        cluster
            .sandbox
            .set_pod_metrics("default", &name, json!([{"name": "db", "usage": {"cpu": usage}}]))
            .unwrap();
    }
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client.clone(), "default");
    let secret = json!({"metadata": {"name": "token"}, "stringData": {"token": "s3cret"}});
    secrets.create(&Default::default(), &serde_json::from_value(secret).unwrap()).await.unwrap();
    let load = Load::new(30.0);
    let mut web = scaler("web", &load.url(), false);
    web["metric"]["http"]["bearerTokenSecretRef"] = json!({"name": "token", "key": "token"});
    // A resource metric beside it: its pods are read through the Deployment's /scale selector.
    let http = web.as_object_mut().unwrap().remove("metric").unwrap();
    web["metrics"] = json!([http, {"type": "resource", "targetValue": 100, "resource": {"name": "cpu"}}]);
    cluster.apply_scaler("web", web).await;
    cluster
        .apply_scaler(
            "db",
            json!({"targetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db"},
                   "minReplicas": 1, "maxReplicas": 10, "syncIntervalSeconds": 1,
                   "metric": {"type": "resource", "targetValue": 100, "resource": {"name": "cpu"}}}),
        )
        .await;
    cluster.sandbox.clear_requests();
    let daemon = cluster.daemon("rbac", &["--lease-duration", "3"]);
    eventually("web scaled to 3 and db up from 2", SECONDS(60), || async {
        let db = cluster.sandbox.peek("apps", "v1", "statefulsets", "default", "db");
        cluster.replicas("web").await == 3 && db.is_some_and(|d| d["spec"]["replicas"].as_i64() > Some(2))
    })
    .await;
    // The scalers' watch stalls (each watch request waits 3 s before it is served) while the
    // daemon keeps writing status: it reads the scaler afresh rather than build on a stale copy.
    cluster
        .sandbox
        .faults()
        .latency(gscale_sandbox::FaultMatch::any().verb("watch").path("/generalscalers"), SECONDS(3));
    cluster.sandbox.faults().drop_watches();
    load.set(60.0);
    let deadline = std::time::Instant::now() + SECONDS(60);
    while !asked(&cluster).is_superset(&granted()) {
        let missing: Vec<_> = granted().difference(&asked(&cluster)).cloned().collect();
        assert!(
            std::time::Instant::now() < deadline,
            "granted and never asked: {missing:?}\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let asked = asked(&cluster);
    let granted = granted();
    let more: Vec<_> = asked.difference(&granted).collect();
    assert!(
        more.is_empty(),
        "the daemon asks for what the install does not grant: {more:?}\n{}",
        daemon.log()
    );
    let denied: Vec<_> = cluster.sandbox.requests().into_iter().filter(|r| r.status == 403).collect();
    assert!(denied.is_empty(), "{denied:?}");
}
