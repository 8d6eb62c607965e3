//! The manifests in `examples/`: each validates with the real `gscale validate`, each example runs end
//! to end (the real `gscale run` against the sandbox API, with the real backend it names), and the real
//! `kubectl apply` accepts every manifest.
//!
//! At test time only the backend endpoints (hosts, ports, URLs) and the timings (sync interval,
//! cooldowns, windows: seconds instead of minutes) are rewritten; the committed YAML stays realistic.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{Cluster, Daemon};
use common::http::{Response, serve};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};

const SECONDS: fn(u64) -> Duration = Duration::from_secs;
const KUBECTL: &str = "/usr/bin/kubectl";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// The YAML files of one example directory, in the order `kubectl apply -f DIR` reads them.
fn files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifests in examples/{dir}");
    files
}

/// Every document of an example directory.
fn documents(dir: &str) -> Vec<Value> {
    files(dir)
        .iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            gscale_manifest::yaml::parse_documents(&text).unwrap().into_iter().map(|d| d.value)
        })
        .collect()
}

fn kind<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in the example"))
}

/// Seconds, not minutes: a test cannot wait for the production timings.
fn fast(scaler: &mut Value) {
    let spec = &mut scaler["spec"];
    spec["syncIntervalSeconds"] = json!(1);
    spec["behavior"]["scaleUp"]["cooldownSeconds"] = json!(0);
    spec["behavior"]["scaleDown"]["cooldownSeconds"] = json!(1);
    spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] = json!(0);
}

/// Server-side apply every document (the GeneralScaler as rewritten) into the sandbox.
async fn apply(cluster: &Cluster, docs: &[Value], scaler: &Value) {
    for doc in docs {
        let doc = if doc["kind"] == "GeneralScaler" { scaler } else { doc };
        let (group, version) = match doc["apiVersion"].as_str().unwrap().split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", doc["apiVersion"].as_str().unwrap()),
        };
        let kind = doc["kind"].as_str().unwrap();
        let plural = format!("{}s", kind.to_ascii_lowercase());
        let resource =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), &plural);
        let namespace = doc["metadata"]["namespace"].as_str().unwrap_or("default");
        let api: Api<DynamicObject> = Api::namespaced_with(cluster.client.clone(), namespace, &resource);
        let name = doc["metadata"]["name"].as_str().unwrap();
        api.patch(name, &PatchParams::apply("examples-test").force(), &Patch::Apply(doc))
            .await
            .unwrap_or_else(|e| panic!("applying {kind} {name}: {e}"));
    }
}

/// A Deployment's spec.replicas, read without a request (so the request log is the daemon's alone).
fn replicas(cluster: &Cluster, name: &str) -> i64 {
    let deployment = cluster.sandbox.peek("apps", "v1", "deployments", "default", name).unwrap();
    deployment["spec"]["replicas"].as_i64().unwrap()
}

async fn wait_replicas(cluster: &Cluster, daemon: &mut Daemon, name: &str, want: i64, deadline: Duration) {
    let what = format!("at {want} replicas");
    wait_until(cluster, daemon, name, &what, deadline, |c| replicas(c, name) == want).await;
}

/// Wait until `check` holds while the daemon runs; past `deadline`, fail with the scaler's status
/// and the daemon's log. The deadline bounds a hang; it is not what the test asserts.
async fn wait_until(
    cluster: &Cluster,
    daemon: &mut Daemon,
    name: &str,
    what: &str,
    deadline: Duration,
    check: impl Fn(&Cluster) -> bool,
) {
    let start = Instant::now();
    while !check(cluster) {
        daemon.assert_running();
        if start.elapsed() > deadline {
            let status = cluster.scaler_status_json(name).await;
            panic!("{name} not {what} after {deadline:?}; status:\n{status}\nlog:\n{}", daemon.log());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Cluster {
    /// The status of the scaler that targets `deployment`, as JSON, for failure messages.
    async fn scaler_status_json(&self, deployment: &str) -> String {
        let api: Api<gscale::api::GeneralScaler> = Api::namespaced(self.client.clone(), "default");
        let scalers = api.list(&Default::default()).await.unwrap();
        scalers
            .items
            .iter()
            .filter(|s| s.spec.target_ref.name == deployment)
            .map(|s| serde_json::to_string_pretty(&s.status).unwrap())
            .collect()
    }
}

#[test]
fn every_example_validates() {
    for dir in [
        "http-service",
        "worker-service",
        "custom-metric",
        "pubsub-worker",
        "business-hours",
        "formula",
        "rabbitmq-worker",
        "nats-worker",
        "kafka-consumer",
    ] {
        let file = examples().join(dir).join("generalscaler.yaml");
        let out =
            Command::new(env!("CARGO_BIN_EXE_gscale")).arg("validate").arg("-f").arg(&file).output().unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "examples/{dir} does not validate:\n{text}");
        assert!(text.contains(": ok: GeneralScaler "), "{text}");
        assert!(!text.contains("password"), "examples/{dir}: no plain-text secrets:\n{text}");
    }
}

#[test]
fn the_first_three_examples_keep_the_original_readme_yaml() {
    let readme = std::fs::read_to_string("/work/shared/reference/generalscaler-original-README.md");
    let Ok(readme) = readme else {
        eprintln!("SKIPPED: the original README is not on this machine");
        return;
    };
    let first = readme.split("```yaml\n").nth(1).unwrap().split("```").next().unwrap();
    let original = gscale_manifest::yaml::parse_documents(first).unwrap().remove(0).value;
    let docs = documents("http-service");
    assert_eq!(kind(&docs, "GeneralScaler", "my-app-scaler"), &original, "the README's scaler, unchanged");
    // The worker example is made of the README's snippets: the cost-aware policy and behavior as written.
    let worker = documents("worker-service");
    let scaler = kind(&worker, "GeneralScaler", "worker-scaler");
    assert_eq!(
        scaler["spec"]["policy"],
        json!({"type": "costAware", "costAware": {"maxMonthlyCost": 1000, "costPerPodPerHour": 0.05,
               "preferredScaleDirection": "down"}})
    );
    assert_eq!(scaler["spec"]["metric"]["redis"]["queueName"], "job-queue");
}

/// A scrape target for `http_requests_total{app="my-app"}` growing at a set rate, and one
/// `up{app="my-app"}` series per pod, as Prometheus would see the service.
struct Service {
    server: common::http::HttpServer,
    pods: Arc<AtomicI32>,
}

fn service(rate: f64, pods: i32) -> Service {
    let pods = Arc::new(AtomicI32::new(pods));
    let counter = Arc::new(Mutex::new((0.0_f64, Instant::now())));
    let p = pods.clone();
    let server = serve(move |_| {
        let mut counter = counter.lock().unwrap();
        counter.0 += rate * counter.1.elapsed().as_secs_f64();
        counter.1 = Instant::now();
        let mut body = format!("http_requests_total{{app=\"my-app\"}} {}\n", counter.0);
        for pod in 0..p.load(Ordering::SeqCst) {
            body.push_str(&format!("up{{app=\"my-app\",pod=\"my-app-{pod}\"}} 1\n"));
        }
        Response::text(200, "text/plain; version=0.0.4", body)
    });
    Service { server, pods }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_service_scales_on_the_prometheus_request_rate() {
    let app = service(1200.0, 2);
    let Some(prometheus) = common::prometheus::start(&app.server.addr.to_string()) else { return };
    let cluster = Cluster::start().await;
    let docs = documents("http-service");
    let mut scaler = kind(&docs, "GeneralScaler", "my-app-scaler").clone();
    scaler["spec"]["metric"]["prometheus"]["serverUrl"] = json!(prometheus.url);
    fast(&mut scaler);
    apply(&cluster, &docs, &scaler).await;
    assert_eq!(replicas(&cluster, "my-app"), 2);
    let mut daemon = cluster.daemon("http-service", &[]);

    // 1200 req/s over 2 pods is 600 per pod against a target of 100. rate(...[1m]) of a series younger
    // than a minute reads low and climbs, so the test waits for a clear scale-up, not the final 12.
    let pods = app.pods.clone();
    let follow = {
        let client = cluster.client.clone();
        tokio::spawn(async move {
            let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(client, "default");
            loop {
                if let Ok(d) = api.get("my-app").await {
                    pods.store(d.spec.replicas.unwrap_or(0), Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    // A generous deadline only bounds a hang: the outcome asserted is the scale-up and its reasons.
    wait_until(&cluster, &mut daemon, "my-app", "scaled up to 4 or more", SECONDS(180), |c| {
        replicas(c, "my-app") >= 4
    })
    .await;
    let status = cluster.scaler("my-app-scaler").await.status.unwrap();
    let reading = status.metrics[0].value.expect("a Prometheus reading");
    assert!(reading > 0.0, "{status:?}");
    assert!(cluster.event_reasons("my-app-scaler").await.contains(&"ScaledUp".to_string()));
    let ups: Vec<_> = status.recent_decisions.iter().filter(|d| d.to > d.from).collect();
    assert!(ups.iter().all(|d| d.to - d.from <= 5 && d.reason.contains("per pod vs target 100")), "{ups:?}");
    follow.abort();
    daemon.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_service_follows_the_redis_queue_within_its_budget() {
    let docs = documents("worker-service");
    let password = kind(&docs, "Secret", "redis-credentials")["stringData"]["password"].as_str().unwrap();
    let options = common::redis::Options { password: Some(password.to_string()), ..Default::default() };
    let Some(redis) = common::redis::start_with(options) else { return };
    let cluster = Cluster::start().await;
    let mut scaler = kind(&docs, "GeneralScaler", "worker-scaler").clone();
    scaler["spec"]["metric"]["redis"]["host"] = json!("127.0.0.1");
    scaler["spec"]["metric"]["redis"]["port"] = json!(redis.port);
    fast(&mut scaler);
    apply(&cluster, &docs, &scaler).await;
    let mut daemon = cluster.daemon("worker-service", &[]);

    // 500 jobs at 50 per worker: 10 workers (well inside $1000 a month at $0.05 a pod-hour).
    redis.push("job-queue", 500);
    wait_replicas(&cluster, &mut daemon, "worker", 10, SECONDS(30)).await;
    redis.cli(&["DEL", "job-queue"]);
    // Drained: down to minReplicas, at most 5 at a time.
    wait_replicas(&cluster, &mut daemon, "worker", 1, SECONDS(30)).await;
    let reasons = cluster.event_reasons("worker-scaler").await;
    assert!(reasons.contains(&"ScaledUp".to_string()) && reasons.contains(&"ScaledDown".to_string()));
    let status = cluster.scaler("worker-scaler").await.status.unwrap();
    assert!(status.history.spend.is_some(), "costAware keeps its spend in status: {status:?}");
    let down: Vec<_> = status.recent_decisions.iter().filter(|d| d.to < d.from).collect();
    assert!(down.iter().all(|d| d.from - d.to <= 5), "maxDecrement 5 holds: {down:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_metric_reads_json_with_the_bearer_token_from_its_secret() {
    let docs = documents("custom-metric");
    let token = kind(&docs, "Secret", "order-service-token")["stringData"]["token"].as_str().unwrap();
    let expected = format!("Bearer {token}");
    let pending = Arc::new(AtomicU64::new(100));
    let shared = pending.clone();
    let stats = serve(move |request| {
        if request.path() != "/api/v1/stats" || request.header("authorization") != Some(expected.as_str()) {
            return Response::text(401, "text/plain", "unauthorized");
        }
        Response::json(200, &json!({"orders": {"pending": shared.load(Ordering::SeqCst), "shipped": 7}}))
    });
    let cluster = Cluster::start().await;
    let mut scaler = kind(&docs, "GeneralScaler", "order-processor-scaler").clone();
    let url = scaler["spec"]["metric"]["http"]["url"].as_str().unwrap().to_string();
    let path = &url[url.find("/api/").unwrap()..];
    scaler["spec"]["metric"]["http"]["url"] = json!(format!("{}{path}", stats.url));
    fast(&mut scaler);
    apply(&cluster, &docs, &scaler).await;
    cluster.sandbox.clear_requests();
    let mut daemon = cluster.daemon("custom-metric", &[]);

    // 100 pending at 20 per processor: 5 (one step: maxIncrement 4 from 1).
    wait_replicas(&cluster, &mut daemon, "order-processor", 5, SECONDS(30)).await;
    pending.store(10, Ordering::SeqCst);
    wait_replicas(&cluster, &mut daemon, "order-processor", 1, SECONDS(30)).await;

    // Everything the daemon asked of the API (it alone used it meanwhile) is granted by examples/deploy.
    let requests = cluster.sandbox.requests();
    let used: std::collections::BTreeSet<_> =
        requests.iter().map(permission).filter(|p| !p.1.is_empty()).collect();
    for want in [
        ("", "secrets", "get"),
        ("apps", "deployments/scale", "patch"),
        ("events.k8s.io", "events", "create"),
    ] {
        assert!(
            used.contains(&(want.0.to_string(), want.1.to_string(), want.2.to_string())),
            "{want:?} in {used:?}"
        );
    }
    let rules = deploy_rules();
    let denied: Vec<_> = used.iter().filter(|p| !allowed(&rules, p)).collect();
    assert!(denied.is_empty(), "examples/deploy/10-rbac.yaml does not grant {denied:?}");
    let status = cluster.scaler("order-processor-scaler").await.status.unwrap();
    assert_eq!(status.metrics[0].name, "pending-orders");
    assert_eq!(status.metrics[0].value, Some(10.0));
    let text = serde_json::to_string(&status).unwrap();
    assert!(!text.contains(token), "the token never reaches status");
}

#[cfg(feature = "pubsub")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_worker_follows_the_backlog_to_zero_and_back() {
    let Some(emulator) = common::pubsub::start() else { return };
    emulator.create_topic("my-project", "jobs");
    emulator.create_subscription("my-project", "jobs", "my-subscription");
    let monitoring = common::monitoring::start();
    monitoring.set_backlog("my-project", "my-subscription", 450);
    let cluster = Cluster::start().await;
    let docs = documents("pubsub-worker");
    let mut scaler = kind(&docs, "GeneralScaler", "pubsub-worker-scaler").clone();
    fast(&mut scaler);
    apply(&cluster, &docs, &scaler).await;
    assert_eq!(replicas(&cluster, "pubsub-worker"), 0);
    let mut daemon = cluster.daemon_with_env(
        "pubsub-worker",
        &[],
        &[("PUBSUB_EMULATOR_HOST", &emulator.host), ("GSCALE_MONITORING_ENDPOINT", &monitoring.server.url)],
    );

    // 450 undelivered at 100 per worker: from zero to 5.
    wait_replicas(&cluster, &mut daemon, "pubsub-worker", 5, SECONDS(30)).await;
    // Empty: back to rest at zero (activationValue 0).
    monitoring.set_backlog("my-project", "my-subscription", 0);
    wait_replicas(&cluster, &mut daemon, "pubsub-worker", 0, SECONDS(30)).await;
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
async fn kubectl_applies_every_manifest() {
    if common::require(KUBECTL, "kubectl applies every example").is_none() {
        return;
    }
    let sandbox = gscale_sandbox::Sandbox::start(Default::default()).await.unwrap();
    let home = common::TempDir::new("examples-kubectl");
    let (config, home) = (sandbox.kubeconfig_path().to_path_buf(), home.path().to_path_buf());
    tokio::task::spawn_blocking(move || {
        let crd = examples().join("crd.yaml");
        kubectl(&config, &home, &["apply", "-f", crd.to_str().unwrap()]);
        kubectl(
            &config,
            &home,
            &["wait", "--for=condition=Established", "crd/generalscalers.autoscaling.generalscaler.io"],
        );
        for dir in [
            "deploy",
            "http-service",
            "worker-service",
            "custom-metric",
            "pubsub-worker",
            "business-hours",
            "formula",
            "rabbitmq-worker",
            "nats-worker",
            "external-scaler",
            "kafka-consumer",
        ] {
            let path = examples().join(dir);
            let applied = kubectl(&config, &home, &["apply", "-f", path.to_str().unwrap()]);
            let documents = documents(dir).len();
            assert_eq!(applied.lines().count(), documents, "examples/{dir}: one line per object:\n{applied}");
            // Applying again changes nothing (a Secret's stringData always reads as configured, as on a
            // real API server: it is folded into data; and kubectl's compiled-in strategy replaces a
            // PodDisruptionBudget's selector whole, so its patch is never empty; a custom resource's
            // list of objects, `metrics`, is replaced whole by a JSON merge patch, and the server's
            // copy holds the schema's defaults, so it too reads as configured).
            let again = kubectl(&config, &home, &["apply", "-f", path.to_str().unwrap()]);
            assert!(
                again.lines().all(|l| l.ends_with("unchanged")
                    || l.starts_with("secret/")
                    || (dir == "formula" && l.starts_with("generalscaler."))
                    || l.starts_with("poddisruptionbudget.policy/")),
                "examples/{dir}:\n{again}"
            );
        }
        let scalers = kubectl(&config, &home, &["get", "gsc", "-A"]);
        for name in ["my-app-scaler", "worker-scaler", "order-processor-scaler", "pubsub-worker-scaler"] {
            assert!(scalers.contains(name), "{scalers}");
        }
        let system =
            kubectl(&config, &home, &["-n", "gscale-system", "get", "deploy,sa,role,rolebinding,svc"]);
        assert!(system.contains("gscale-leader-election") && system.contains("gscale-metrics"), "{system}");
        kubectl(&config, &home, &["get", "clusterrole/gscale", "clusterrolebinding/gscale"]);
    })
    .await
    .unwrap();
}

/// (API group, resource[/subresource], verb) of a request; resource "" for discovery.
fn permission(r: &gscale_sandbox::RequestRecord) -> (String, String, String) {
    let group = match r.path.strip_prefix("/apis/") {
        Some(rest) => rest.split('/').next().unwrap_or_default().to_string(),
        None => String::new(),
    };
    let resource = if r.subresource.is_empty() {
        r.resource.clone()
    } else {
        format!("{}/{}", r.resource, r.subresource)
    };
    (group, resource, r.verb.clone())
}

/// The rules of the ClusterRole and the Role in examples/deploy.
fn deploy_rules() -> Vec<Value> {
    documents("deploy")
        .into_iter()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
        .flat_map(|d| d["rules"].as_array().unwrap().clone())
        .collect()
}

fn allowed(rules: &[Value], (group, resource, verb): &(String, String, String)) -> bool {
    let has = |list: &Value, item: &str| list.as_array().unwrap().iter().any(|v| v == item || v == "*");
    rules.iter().any(|rule| {
        has(&rule["apiGroups"], group) && has(&rule["resources"], resource) && has(&rule["verbs"], verb)
    })
}

#[test]
fn the_deploy_role_grants_no_more_than_the_daemon_uses() {
    let rules = deploy_rules();
    let everything: Vec<String> = rules
        .iter()
        .flat_map(|rule| {
            let list = |key: &str| {
                rule[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            };
            let (groups, resources, verbs) = (list("apiGroups"), list("resources"), list("verbs"));
            groups.into_iter().flat_map(move |g| {
                let verbs = verbs.clone();
                resources.clone().into_iter().flat_map(move |r| {
                    let g = g.clone();
                    verbs.clone().into_iter().map(move |v| format!("{g}:{r}:{v}"))
                })
            })
        })
        .collect();
    assert!(everything.iter().all(|p| !p.contains('*')), "no wildcards: {everything:?}");
    for forbidden in [":secrets:list", ":secrets:watch", "apps:deployments:patch", "apps:deployments:update"]
    {
        assert!(everything.iter().all(|p| !p.contains(forbidden)), "{forbidden} is more than gscale needs");
    }
    // Pods are only listed (a resource metric's pods, by the target's selector), never watched or changed.
    let pods: Vec<&String> = everything.iter().filter(|p| p.starts_with(":pods:")).collect();
    assert_eq!(pods, [":pods:list"], "core pods: list alone");
    let metrics: Vec<&String> = everything.iter().filter(|p| p.starts_with("metrics.k8s.io:")).collect();
    assert_eq!(metrics, ["metrics.k8s.io:pods:list"], "the metrics API: listed alone");
}
