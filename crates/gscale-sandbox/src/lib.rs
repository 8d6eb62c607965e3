//! The sandbox: an in-memory subset of the Kubernetes API served over real HTTP on 127.0.0.1, for
//! tests and `gscale demo`. The real kube client (watchers, controllers, server-side apply, /scale)
//! and the real `kubectl` work against it.
//!
//! Served: discovery (legacy and aggregated v2) and OpenAPI v3, CRDs and their custom resources (defaulting, pruning or strict
//! unknown-field errors, structural and CEL validation, status and scale subresources, printer
//! columns), apps/v1 Deployments and StatefulSets (replicas follow spec after a configurable delay),
//! core/v1 Namespaces, Secrets, ConfigMaps, Events (and plain Pods), apps/v1 ReplicaSets (plain),
//! events.k8s.io/v1 Events (one store with core/v1 Events), metrics.k8s.io/v1beta1 PodMetrics
//! (get and list only, as metrics-server serves them, set by a test with
//! [`Sandbox::set_pod_metrics`]), coordination.k8s.io/v1 Leases and
//! SelfSubjectAccessReviews, and, stored as given and never enforced, Services, ServiceAccounts and
//! rbac.authorization.k8s.io/v1 Roles, ClusterRoles and their bindings (so in-cluster manifests
//! apply). Generic semantics: one resourceVersion counter, 409 on stale versions,
//! generation on spec changes only, merge/JSON/strategic patches, server-side apply, watches with
//! resume, 410 Gone, bookmarks and streaming lists, label and field selectors, paged lists, Tables
//! and PartialObjectMetadata. Test controls: fault rules, RBAC-style denials, dropped watches,
//! history compaction, a request log (also over HTTP: `POST`/`DELETE /sandbox/faults`, `GET
//! /sandbox/requests`, for clients outside the process).
//!
//! Known approximations (patch and apply details are in `patch`): no controllers beyond workload
//! replica counts (no pods are made, no garbage collection of owned objects); no authentication,
//! and authorization only as test denials; lists always serve the latest state (a list's
//! `resourceVersion` is accepted and ignored; continue tokens resume after the last key, not from a
//! snapshot); deleting a namespace removes its contents at once; built-in kinds are
//! defaulted lightly and not schema-validated; OpenAPI v2 is an empty document (kubectl falls back to
//! it only for kinds the v3 index lacks); request bodies must be
//! JSON or YAML, or protobuf only for Namespaces, ConfigMaps and Secrets (what `kubectl create
//! namespace|configmap|secret` send); other protobuf bodies are answered 415.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use gscale_sandbox::{FaultMatch, Sandbox, SandboxOptions};
//! let sandbox = Sandbox::start(SandboxOptions::default()).await?;
//! let client = sandbox.client(); // or pass sandbox.kubeconfig_path() to a binary
//! sandbox.faults().throttle(FaultMatch::any().verb("patch").path("/scale").times(1), 2);
//! let scale_patches = sandbox.count_requests(|r| r.verb == "patch" && r.subresource == "scale");
//! # let _ = (client, scale_patches);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod discovery;
mod faults;
mod patch;
mod protobuf;
mod registry;
mod select;
mod server;
mod status;
mod store;
mod table;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use faults::{FaultAction, FaultId, FaultMatch, Faults, Lost, Permission, RequestRecord};
pub use status::ApiError;

use server::Shared;
use store::Store;

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Port on 127.0.0.1; `None` picks a free one.
    pub port: Option<u16>,
    /// How long after a change of `spec.replicas` a workload's status follows it.
    pub replica_delay: Duration,
    /// Watch history kept, in events; a watch from before it gets 410 Gone. The default is the
    /// most a kube-apiserver watch cache holds for a resource (100 x 1024 events): a smaller one
    /// would expire watches in a burst of writes that a real server serves from its cache.
    pub history_limit: usize,
    /// How often a watch that allows bookmarks gets one.
    pub bookmark_interval: Duration,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            port: None,
            replica_delay: Duration::ZERO,
            history_limit: 100 * 1024,
            bookmark_interval: Duration::from_secs(5),
        }
    }
}

/// A running sandbox API server; it stops when dropped.
pub struct Sandbox {
    shared: Arc<Shared>,
    address: SocketAddr,
    shutdown: watch::Sender<bool>,
    kubeconfig: PathBuf,
}

impl Sandbox {
    /// Start serving; returns once the port accepts connections and the kubeconfig is written.
    pub async fn start(options: SandboxOptions) -> std::io::Result<Sandbox> {
        let listener = TcpListener::bind(("127.0.0.1", options.port.unwrap_or(0))).await?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new(options.history_limit, Timestamp::now())),
            changed: watch::channel(0).0,
            faults: Faults::new(),
            log: Default::default(),
            replica_delay: Mutex::new(options.replica_delay),
            bookmark_interval: options.bookmark_interval.max(Duration::from_millis(10)),
            address: address.to_string(),
        });
        let (shutdown, stop) = watch::channel(false);
        tokio::spawn(server::serve(listener, shared.clone(), stop));
        let kubeconfig = std::env::temp_dir().join(format!(
            "gscale-sandbox-{}-{}.kubeconfig",
            std::process::id(),
            address.port()
        ));
        let sandbox = Sandbox { shared, address, shutdown, kubeconfig };
        sandbox.write_kubeconfig(&sandbox.kubeconfig)?;
        Ok(sandbox)
    }

    /// The address served.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A kubeconfig for this sandbox, as YAML (context `sandbox`, namespace `default`).
    pub fn kubeconfig(&self) -> String {
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sandbox", "cluster": {"server": self.url()}}],
            "users": [{"name": "sandbox", "user": {}}],
            "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "sandbox", "namespace": "default"}}],
            "current-context": "sandbox",
        });
        gscale_manifest::yaml::to_string(&config)
    }

    /// The kubeconfig file written at start (removed when the sandbox is dropped).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// Write the kubeconfig to `path` atomically (a reader never sees half a file).
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        let partial = path.with_extension("partial");
        std::fs::write(&partial, self.kubeconfig())?;
        std::fs::rename(&partial, path)
    }

    /// A kube client for this sandbox.
    pub fn client(&self) -> kube::Client {
        let url = self.url().parse().expect("a socket address always makes a valid URL");
        let config = kube::Config::new(url);
        kube::Client::try_from(config).expect("a plain-HTTP kube client needs no TLS or credentials")
    }

    /// The fault switches.
    pub fn faults(&self) -> Faults {
        self.shared.faults.clone()
    }

    /// Every request served so far (since the last `clear_requests`).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.log.snapshot()
    }

    /// How many logged requests satisfy `pred`.
    pub fn count_requests(&self, pred: impl Fn(&RequestRecord) -> bool) -> usize {
        self.shared.log.snapshot().iter().filter(|r| pred(r)).count()
    }

    /// Empty the request log.
    pub fn clear_requests(&self) {
        self.shared.log.clear();
    }

    /// Wait until a logged request (already logged, or logged later) satisfies `pred`; `None` after
    /// `timeout`. For tests that await what a daemon asks, without polling.
    pub async fn wait_for_request(
        &self,
        timeout: Duration,
        pred: impl Fn(&RequestRecord) -> bool,
    ) -> Option<RequestRecord> {
        let mut pushed = self.shared.log.subscribe();
        let waiting = async {
            loop {
                if let Some(found) = self.shared.log.first(&pred) {
                    return Some(found);
                }
                if pushed.changed().await.is_err() {
                    return None;
                }
            }
        };
        tokio::time::timeout(timeout, waiting).await.ok().flatten()
    }

    /// Wait until an object satisfies `pred` (given `None` while it does not exist), reading the
    /// store directly so the request log is untouched; returns the object (or `None` if absent)
    /// once `pred` holds, or `Err(last seen)` after `timeout`. Group "" is core.
    #[allow(clippy::too_many_arguments)]
    pub async fn wait_for_object(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        namespace: &str,
        name: &str,
        timeout: Duration,
        pred: impl Fn(Option<&Value>) -> bool,
    ) -> Result<Option<Value>, Option<Value>> {
        let mut changed = self.shared.changed.subscribe();
        let mut last = None;
        let waiting = async {
            loop {
                last = self.peek(group, version, plural, namespace, name);
                if pred(last.as_ref()) {
                    return true;
                }
                if changed.changed().await.is_err() {
                    return false;
                }
            }
        };
        match tokio::time::timeout(timeout, waiting).await {
            Ok(true) => Ok(last),
            _ => Err(last),
        }
    }

    /// Every object of a resource (in one namespace, or all), read without HTTP (not logged).
    pub fn peek_list(&self, group: &str, version: &str, plural: &str, namespace: Option<&str>) -> Vec<Value> {
        let store = self.shared.store();
        let Some(def) = store.def(group, version, plural).cloned() else { return Vec::new() };
        let none = (select::LabelSelector::default(), select::FieldSelector::default());
        store.list(&def, namespace, &none.0, &none.1, None, None).map(|page| page.items).unwrap_or_default()
    }

    /// How many objects of a resource (in one namespace, or all) satisfy `pred`, read in place
    /// without HTTP or copies (not logged): a harness can poll it often at any size.
    pub fn peek_count(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        namespace: Option<&str>,
        pred: impl Fn(&Value) -> bool,
    ) -> usize {
        let store = self.shared.store();
        let Some(def) = store.def(group, version, plural).cloned() else { return 0 };
        store.count(&def, namespace, pred)
    }

    /// Set the resource metrics of pod `name` in `namespace`, as metrics-server reports them:
    /// `containers` is `[{"name": "app", "usage": {"cpu": "900m", "memory": "64Mi"}}]`. The
    /// PodMetrics carries the pod's labels (so label selectors pick it as they pick the pod), the
    /// time now and a 30 s window; it replaces any earlier one.
    pub fn set_pod_metrics(&self, namespace: &str, name: &str, containers: Value) -> Result<Value, ApiError> {
        let mut store = self.shared.store();
        let labels = store
            .def("", "v1", "pods")
            .cloned()
            .and_then(|pods| store.get(&pods, namespace, name).ok())
            .and_then(|pod| pod.pointer("/metadata/labels").cloned())
            .unwrap_or_else(|| json!({}));
        let def = store
            .def("metrics.k8s.io", "v1beta1", "pods")
            .cloned()
            .ok_or_else(|| ApiError::no_route("metrics.k8s.io/v1beta1 pods"))?;
        let now = Timestamp::now();
        let ctx =
            store::WriteCtx { now, manager: "metrics-server".to_string(), dry_run: false, strict: false };
        if store.get(&def, namespace, name).is_ok() {
            store.delete(&def, namespace, name, &Value::Null, &ctx)?;
        }
        let body = json!({
            "apiVersion": "metrics.k8s.io/v1beta1",
            "kind": "PodMetrics",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "timestamp": now.to_string(),
            "window": "30s",
            "containers": containers,
        });
        let created = store.create(&def, namespace, body, &ctx)?;
        drop(store);
        self.shared.notify();
        Ok(created)
    }

    /// Remove the resource metrics of pod `name`, as metrics-server does for a pod it has no
    /// recent sample of; nothing happens if there are none.
    pub fn remove_pod_metrics(&self, namespace: &str, name: &str) {
        let mut store = self.shared.store();
        let Some(def) = store.def("metrics.k8s.io", "v1beta1", "pods").cloned() else { return };
        let ctx = store::WriteCtx {
            now: Timestamp::now(),
            manager: "metrics-server".to_string(),
            dry_run: false,
            strict: false,
        };
        if store.delete(&def, namespace, name, &Value::Null, &ctx).is_ok() {
            drop(store);
            self.shared.notify();
        }
    }

    /// Change how long workload status takes to follow `spec.replicas`.
    pub fn set_replica_delay(&self, delay: Duration) {
        *self.shared.replica_delay.lock().unwrap_or_else(|e| e.into_inner()) = delay;
    }

    /// Forget the watch history: any watch resumed from an earlier resourceVersion gets 410 Gone.
    pub fn compact_history(&self) {
        self.shared.store().compact();
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store().rv()
    }

    /// Read an object without going through HTTP (not logged): group "" for core.
    pub fn peek(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let store = self.shared.store();
        let def = store.def(group, version, plural)?.clone();
        store.get(&def, namespace, name).ok()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        let _ = std::fs::remove_file(&self.kubeconfig);
    }
}
