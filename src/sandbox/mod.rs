//! The sandbox: an in-memory subset of the Kubernetes API served over real HTTP on 127.0.0.1, for
//! tests and `gscale demo`. The real kube client (watchers, controllers, server-side apply, /scale)
//! and the real `kubectl` work against it.
//!
//! Served: discovery and OpenAPI v3, CRDs and their custom resources (defaulting, structural and
//! CEL validation, status and scale subresources, printer columns), apps/v1 Deployments and
//! StatefulSets (replicas follow spec after a configurable delay), core/v1 Namespaces, Secrets,
//! ConfigMaps and Events, events.k8s.io/v1 Events, coordination.k8s.io/v1 Leases, and, stored as
//! given and never enforced, Services, ServiceAccounts and rbac.authorization.k8s.io/v1 Roles,
//! ClusterRoles and their bindings (so in-cluster manifests apply). Generic semantics: one
//! resourceVersion counter, conflicts, generation, merge/JSON/strategic patches, server-side apply,
//! watches with resume, 410 Gone and bookmarks, label and field selectors, paged lists, tables. Test controls: fault rules, dropped watches, a request log.
//!
//! Known approximations (see `patch` for patch and apply details): no pods or controllers beyond
//! workload replica counts; no authentication or RBAC (use a 403 fault); lists always serve the
//! latest state (`resourceVersion` on a list is accepted and ignored; continue tokens resume after the
//! last key, not from a snapshot); deleting a namespace removes its contents at once; no aggregated
//! discovery and no OpenAPI v2; built-in kinds are not schema-validated.

mod discovery;
mod faults;
mod patch;
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

pub use faults::{FaultAction, FaultId, FaultMatch, Faults, RequestRecord};
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
    /// Watch history kept, in events; a watch from before it gets 410 Gone.
    pub history_limit: usize,
    /// How often a watch that allows bookmarks gets one.
    pub bookmark_interval: Duration,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            port: None,
            replica_delay: Duration::ZERO,
            history_limit: 10_000,
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
        crate::output::yaml::to_string(&config)
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
