//! What `gscale install` puts in a cluster, as plain objects: the namespace, the CRD, the
//! ServiceAccount, least-privilege RBAC, the Deployment of `gscale run`, its PodDisruptionBudget and
//! metrics Service, and, when asked, a ServiceMonitor and a PrometheusRule (the alert rules of
//! `deploy/alerts.yaml`). `examples/deploy/` is written from the same objects (a test compares).
//!
//! Only the manifests live here; applying, diffing and removing them is `cmd::install`'s work.

use serde_json::{Value, json};

use crate::api::GROUP;

/// The name of every namespaced object, and of the ClusterRole and its binding.
pub const NAME: &str = "gscale";
/// The Service in front of the daemon's `/metrics`.
pub const METRICS_SERVICE: &str = "gscale-metrics";
/// The Role (and binding) for the leader-election Leases.
pub const LEASE_ROLE: &str = "gscale-leader-election";
/// The label every object carries, so an uninstall finds what an install made.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "gscale");
/// The alert rules, a plain Prometheus rules file (`promtool check rules` checks it in a test).
pub const ALERT_RULES: &str = include_str!("../deploy/alerts.yaml");
/// The Grafana dashboard.
pub const DASHBOARD: &str = include_str!("../deploy/grafana-dashboard.json");

/// What to install, resolved from flags.
#[derive(Clone, Debug, PartialEq)]
pub struct InstallSettings {
    /// The namespace of the daemon, its ServiceAccount and its Leases.
    pub namespace: String,
    /// The image holding the gscale binary.
    pub image: String,
    /// Replicas of the daemon (one leads; the others take over within the lease duration).
    pub replicas: i32,
    /// Automatic shards (`gscale run --shards auto`): every replica decides for its share, and a
    /// stopped one's share is taken over within the lease duration.
    pub shards: bool,
    /// CPU request of the daemon's container.
    pub cpu_request: String,
    /// Memory request.
    pub memory_request: String,
    /// Memory limit.
    pub memory_limit: String,
    /// A Prometheus Operator ServiceMonitor for the metrics Service.
    pub service_monitor: bool,
    /// A Prometheus Operator PrometheusRule with the alert rules.
    pub prometheus_rule: bool,
}

impl Default for InstallSettings {
    fn default() -> Self {
        Self {
            namespace: "gscale-system".to_string(),
            image: default_image(),
            replicas: 2,
            shards: false,
            cpu_request: "50m".to_string(),
            memory_request: "64Mi".to_string(),
            memory_limit: "256Mi".to_string(),
            service_monitor: false,
            prometheus_rule: false,
        }
    }
}

/// The image of this build: `ghcr.io/gscale/gscale:VERSION` (built from the repository's Dockerfile).
pub fn default_image() -> String {
    format!("ghcr.io/gscale/gscale:{}", env!("CARGO_PKG_VERSION"))
}

/// The metrics port of the daemon.
const METRICS_PORT: u16 = 9090;

fn labels() -> Value {
    json!({
        "app.kubernetes.io/name": NAME,
        "app.kubernetes.io/version": env!("CARGO_PKG_VERSION"),
        MANAGED_BY.0: MANAGED_BY.1,
    })
}

fn meta(name: &str, namespace: Option<&str>) -> Value {
    let mut meta = json!({"name": name, "labels": labels()});
    if let Some(namespace) = namespace {
        meta["namespace"] = json!(namespace);
    }
    meta
}

/// Every object, in the order they are applied (and the reverse of the order they are removed).
pub fn objects(s: &InstallSettings) -> Vec<Value> {
    let crd = serde_json::to_value(crate::api::crd()).expect("a CRD always serializes to JSON");
    let mut all = vec![namespace(s), crd];
    all.extend(rbac(s));
    all.extend([service(s), deployment(s), disruption_budget(s)]);
    if s.service_monitor {
        all.push(service_monitor(s));
    }
    if s.prometheus_rule {
        all.push(prometheus_rule(s));
    }
    all
}

/// The namespace.
pub fn namespace(s: &InstallSettings) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta(&s.namespace, None)})
}

/// The ServiceAccount, the ClusterRole and its binding, and the Lease Role and its binding.
pub fn rbac(s: &InstallSettings) -> Vec<Value> {
    let ns = s.namespace.as_str();
    let subject = json!([{"kind": "ServiceAccount", "name": NAME, "namespace": ns}]);
    let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| json!({"apiGroups": groups, "resources": resources, "verbs": verbs});
    // Each rule is what the daemon asks (tests/install.rs checks it against the API's request log):
    // scalers from a watch and their status by server-side apply (a GET only when the watch lags
    // behind a write of its own); targets' replicas from a watch, scaling through /scale only (a
    // GET of /scale for a resource metric's pod selector); the HPAs on targets (gscale leaves
    // those targets alone); the Secrets scalers name, in their own namespace; a resource metric's
    // pods and their usage from metrics-server; an Event per scale and per new error. Another kind
    // with a /scale subresource needs its resource (list, watch), its /scale (get, patch) and a GET
    // of its CustomResourceDefinition added.
    let cluster_rules = json!([
        rule(&[GROUP], &["generalscalers"], &["get", "list", "watch"]),
        rule(&[GROUP], &["generalscalers/status"], &["patch"]),
        rule(&["apps"], &["deployments", "statefulsets"], &["list", "watch"]),
        rule(&["apps"], &["deployments/scale", "statefulsets/scale"], &["get", "patch"]),
        rule(&["autoscaling"], &["horizontalpodautoscalers"], &["list", "watch"]),
        rule(&[""], &["secrets"], &["get"]),
        rule(&[""], &["pods"], &["list"]),
        rule(&["metrics.k8s.io"], &["pods"], &["list"]),
        rule(&["events.k8s.io"], &["events"], &["create"]),
    ]);
    let role_ref =
        |kind: &str, name: &str| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name});
    vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(NAME, Some(ns))}),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": meta(NAME, None), "rules": cluster_rules,
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": meta(NAME, None), "roleRef": role_ref("ClusterRole", NAME), "subjects": subject,
        }),
        // Leader election: Leases in gscale's own namespace only.
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": meta(LEASE_ROLE, Some(ns)),
            "rules": [rule(&["coordination.k8s.io"], &["leases"], lease_verbs(s))],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": meta(LEASE_ROLE, Some(ns)), "roleRef": role_ref("Role", LEASE_ROLE), "subjects": subject,
        }),
    ]
}

/// What the daemon does with Leases: leader election gets, creates and updates one; automatic
/// shards create and update a Lease per replica, list the others and delete their own at shutdown
/// (and a crashed replica's, three lease durations after it stopped renewing).
fn lease_verbs(s: &InstallSettings) -> &'static [&'static str] {
    if s.shards { &["get", "list", "create", "update", "delete"] } else { &["get", "create", "update"] }
}

/// The Deployment of `gscale run`.
pub fn deployment(s: &InstallSettings) -> Value {
    let selector = json!({"app.kubernetes.io/name": NAME});
    let field = |path: &str| json!({"valueFrom": {"fieldRef": {"fieldPath": path}}});
    let env = |name: &str, value: Value| {
        let mut var = value;
        var["name"] = json!(name);
        var
    };
    let probe = |path: &str, period: u32| json!({"httpGet": {"path": path, "port": "metrics"}, "periodSeconds": period});
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(NAME, Some(&s.namespace)),
        "spec": {
            "replicas": s.replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": selector},
                "spec": {
                    "serviceAccountName": NAME,
                    // A leader finishes in-flight reconciles (10 s at most) and releases its Lease.
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {
                        "runAsNonRoot": true,
                        "runAsUser": 65532,
                        "runAsGroup": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    // Replicas on different nodes where the cluster allows: a node's loss takes one.
                    "topologySpreadConstraints": [{
                        "maxSkew": 1,
                        "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": selector},
                    }],
                    "containers": [{
                        "name": NAME,
                        "image": s.image,
                        // Metric URLs are written by scalers' authors and fetched from this pod: the
                        // API server's in-cluster names are denied (link-local and cloud metadata are
                        // by default); see `gscale run --help` for --deny-metric-host.
                        "args": run_args(s),
                        "env": [
                            // The Lease holder's identity and the Leases' namespace.
                            env("POD_NAME", field("metadata.name")),
                            env("POD_NAMESPACE", field("metadata.namespace")),
                            env("RUST_LOG", json!({"value": "gscale=info"})),
                            // One malloc arena: 200 MiB instead of 276 at 10,000 forecasting scalers.
                            env("MALLOC_ARENA_MAX", json!({"value": "1"})),
                        ],
                        "ports": [{"name": "metrics", "containerPort": METRICS_PORT}],
                        "livenessProbe": probe("/healthz", 10),
                        "readinessProbe": probe("/readyz", 5),
                        "resources": {
                            "requests": {"cpu": s.cpu_request, "memory": s.memory_request},
                            "limits": {"memory": s.memory_limit},
                        },
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }],
                },
            },
        },
    })
}

/// The arguments of `gscale run` in the Deployment.
fn run_args(s: &InstallSettings) -> Value {
    let mut args = vec![
        "run".to_string(),
        format!("--metrics-addr=0.0.0.0:{METRICS_PORT}"),
        "--max-metric-reply-bytes=1048576".to_string(),
        "--deny-metric-host=kubernetes.default.svc,kubernetes.default.svc.cluster.local".to_string(),
    ];
    if s.shards {
        args.push("--shards=auto".to_string());
    }
    json!(args)
}

/// At most one replica away at a time for a drain: the other keeps leading (with one replica, a
/// drain is not blocked).
pub fn disruption_budget(s: &InstallSettings) -> Value {
    json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(NAME, Some(&s.namespace)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}}},
    })
}

/// The Service in front of `/metrics`, for Prometheus and the ServiceMonitor.
pub fn service(s: &InstallSettings) -> Value {
    let mut metadata = meta(METRICS_SERVICE, Some(&s.namespace));
    // `app.kubernetes.io/component` tells the ServiceMonitor's selector this Service apart.
    metadata["labels"]["app.kubernetes.io/component"] = json!("metrics");
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "selector": {"app.kubernetes.io/name": NAME},
            "ports": [{"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics"}],
        },
    })
}

/// A Prometheus Operator ServiceMonitor. `honorLabels` keeps the per-scaler `namespace` label
/// (the scaler's) instead of the target's namespace.
pub fn service_monitor(s: &InstallSettings) -> Value {
    json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": meta(NAME, Some(&s.namespace)),
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME, "app.kubernetes.io/component": "metrics"}},
            "endpoints": [{"port": "metrics", "interval": "30s", "honorLabels": true}],
        },
    })
}

/// A Prometheus Operator PrometheusRule holding the groups of `deploy/alerts.yaml`.
pub fn prometheus_rule(s: &InstallSettings) -> Value {
    let rules = gscale_manifest::yaml::parse_documents(ALERT_RULES)
        .ok()
        .and_then(|docs| docs.into_iter().next())
        .map(|doc| doc.value)
        .expect("deploy/alerts.yaml is one YAML document (a test parses it)");
    json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": meta(NAME, Some(&s.namespace)),
        "spec": {"groups": rules["groups"]},
    })
}

/// The objects as multi-document YAML, each with a `#` line saying what it is for.
pub fn to_yaml(objects: &[Value]) -> String {
    objects
        .iter()
        .map(|o| format!("# {}\n{}", purpose(o), gscale_manifest::yaml::to_string(o)))
        .collect::<Vec<_>>()
        .join("---\n")
}

/// What an object is for, in one line.
pub fn purpose(object: &Value) -> &'static str {
    match object["kind"].as_str().unwrap_or_default() {
        "Namespace" => {
            "gscale's own namespace: the daemon, its ServiceAccount and its leader-election Leases"
        }
        "CustomResourceDefinition" => "the GeneralScaler resource (kept by `gscale uninstall` unless --crd)",
        "ServiceAccount" => "the daemon's identity",
        "ClusterRole" => "least privilege: exactly the requests the daemon makes, cluster-wide",
        "ClusterRoleBinding" => "grants the ClusterRole to the daemon's ServiceAccount",
        "Role" => "Leases in gscale's namespace only: the leader's, or with --shards auto one per replica",
        "RoleBinding" => "grants the Lease Role to the daemon's ServiceAccount",
        "Service" => "the daemon's /metrics, for Prometheus",
        "Deployment" => {
            "`gscale run`: one replica leads (with --shards auto each decides for a share); a stopped one's work is taken over within 15 s"
        }
        "PodDisruptionBudget" => "a node drain takes one replica at a time",
        "ServiceMonitor" => "Prometheus Operator: scrape the metrics Service",
        "PrometheusRule" => "Prometheus Operator: the alert rules of deploy/alerts.yaml",
        _ => "",
    }
}

/// `examples/deploy/`'s files, as `gscale generate` writes them: the objects of
/// `gscale install --replicas 3 --shards auto` without the CRD (`examples/crd.yaml` holds it),
/// split by what they are for.
pub fn example_files() -> Vec<(&'static str, String)> {
    let s = InstallSettings { replicas: 3, shards: true, ..InstallSettings::default() };
    let header = "# Generated by `gscale generate .` from src/install.rs (what `gscale install` applies);\n# edit that file, not this one. examples/deploy/README.md says what each object is for.\n";
    let file = |objects: Vec<Value>| format!("{header}{}", to_yaml(&objects));
    vec![
        ("00-namespace.yaml", file(vec![namespace(&s)])),
        ("10-rbac.yaml", file(rbac(&s))),
        ("20-deployment.yaml", file(vec![service(&s), deployment(&s), disruption_budget(&s)])),
    ]
}
