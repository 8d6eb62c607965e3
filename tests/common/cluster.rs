//! A sandbox Kubernetes API with the GeneralScaler CRD installed, workloads and scalers, and the
//! real `gscale run` binary as a child process against it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gscale::api::{GeneralScaler, crd};
use gscale_sandbox::{RequestRecord, Sandbox, SandboxOptions};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::http::{HttpServer, Response, serve};
use super::{Process, TempDir};

/// A sandbox API with the CRD established.
pub struct Cluster {
    /// The sandbox (request log, faults).
    pub sandbox: Sandbox,
    /// A client for the test's own reads and writes.
    pub client: kube::Client,
    dir: TempDir,
}

impl Cluster {
    /// Start a sandbox and install the CRD.
    pub async fn start() -> Self {
        let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();
        let client = sandbox.client();
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        crds.patch(gscale::api::CRD_NAME, &PatchParams::apply("test").force(), &Patch::Apply(crd()))
            .await
            .unwrap();
        Self { sandbox, client, dir: TempDir::new("cluster") }
    }

    /// The kubeconfig file of the sandbox.
    pub fn kubeconfig(&self) -> PathBuf {
        self.sandbox.kubeconfig_path().to_path_buf()
    }

    /// Create a Deployment with this many replicas.
    pub async fn deployment(&self, name: &str, replicas: i32) {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), "default");
        let deployment: Deployment = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}
        }))
        .unwrap();
        api.create(&PostParams::default(), &deployment).await.unwrap();
    }

    /// Delete a Deployment.
    pub async fn delete_deployment(&self, name: &str) {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), "default");
        api.delete(name, &DeleteParams::default()).await.unwrap();
    }

    /// A Deployment's spec.replicas.
    pub async fn replicas(&self, name: &str) -> i32 {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), "default");
        api.get(name).await.unwrap().spec.replicas.unwrap_or(1)
    }

    /// Wait (up to `deadline`) until a Deployment's spec.replicas is `expected`.
    pub async fn wait_replicas(&self, name: &str, expected: i32, deadline: Duration) {
        eventually(&format!("{name} at {expected} replicas"), deadline, || async {
            self.replicas(name).await == expected
        })
        .await;
    }

    /// Create a Secret in `default` from string data.
    pub async fn secret(&self, name: &str, data: serde_json::Value) {
        let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(self.client.clone(), "default");
        let secret = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "default"}, "stringData": data}))
        .unwrap();
        api.create(&PostParams::default(), &secret).await.unwrap();
    }

    /// Set a Deployment's replicas directly (as a person with kubectl scale would).
    pub async fn set_replicas(&self, name: &str, replicas: i32) {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), "default");
        api.patch_scale(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": replicas}})),
        )
        .await
        .unwrap();
    }

    /// Create or update a GeneralScaler from its spec as JSON.
    pub async fn apply_scaler(&self, name: &str, spec: serde_json::Value) {
        let api: Api<GeneralScaler> = Api::namespaced(self.client.clone(), "default");
        let object = json!({"apiVersion": gscale::api::API_VERSION, "kind": "GeneralScaler",
                            "metadata": {"name": name}, "spec": spec});
        api.patch(name, &PatchParams::apply("test").force(), &Patch::Apply(object)).await.unwrap();
    }

    /// A scaler as stored.
    pub async fn scaler(&self, name: &str) -> GeneralScaler {
        let api: Api<GeneralScaler> = Api::namespaced(self.client.clone(), "default");
        api.get(name).await.unwrap()
    }

    /// A condition of a scaler: (status, reason, message).
    pub async fn condition(&self, scaler: &str, type_: &str) -> Option<(String, String, String)> {
        let s = self.scaler(scaler).await;
        s.status?.conditions.into_iter().find(|c| c.type_ == type_).map(|c| (c.status, c.reason, c.message))
    }

    /// The Events about a scaler, oldest first.
    pub async fn events(&self, scaler: &str) -> Vec<Event> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), "default");
        let mut events: Vec<Event> = api
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(scaler))
            .collect();
        events.sort_by_key(|e| e.metadata.creation_timestamp.clone().map(|t| t.0));
        events
    }

    /// The reasons of the Events about a scaler, oldest first.
    pub async fn event_reasons(&self, scaler: &str) -> Vec<String> {
        self.events(scaler).await.into_iter().filter_map(|e| e.reason).collect()
    }

    /// The successful scale PATCHes of a target, in the order the sandbox received them.
    pub fn scale_patches(&self, target: &str) -> Vec<RequestRecord> {
        let mut patches: Vec<RequestRecord> = self
            .sandbox
            .requests()
            .into_iter()
            .filter(|r| r.verb == "patch" && r.subresource == "scale" && r.status < 300 && r.name == target)
            .collect();
        patches.sort_by_key(|r| r.at);
        patches
    }

    /// The `n`-th (from 0) successful scale PATCH of a target, once the sandbox has logged it: it logs
    /// a request when it answers, so a test that saw the new count may be a moment ahead of the log.
    pub async fn scale_patch(&self, target: &str, n: usize) -> RequestRecord {
        let logged = format!("scale PATCH {} of {target} in the request log", n + 1);
        eventually(&logged, Duration::from_secs(5), || async { self.scale_patches(target).len() > n }).await;
        self.scale_patches(target)[n].clone()
    }

    /// The holder of the Lease `name` in `default`; "" when it is free or missing.
    pub async fn lease_holder(&self, name: &str) -> String {
        let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
            Api::namespaced(self.client.clone(), "default");
        leases.get_opt(name).await.unwrap().and_then(|l| l.spec?.holder_identity).unwrap_or_default()
    }

    /// `gscale run` against this cluster with extra flags (a `--once` pass, or a run that fails
    /// its preflight), awaited to its exit; what it printed.
    pub async fn run_to_exit(&self, args: &[&str]) -> std::process::Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_gscale"))
            .args(["run", "--kubeconfig"])
            .arg(self.kubeconfig())
            .args(args)
            .output()
            .await
            .unwrap()
    }

    /// Start `gscale run` against this cluster with extra flags; it logs to a file.
    pub fn daemon(&self, name: &str, args: &[&str]) -> Daemon {
        self.daemon_with_env(name, args, &[])
    }

    /// [`Cluster::daemon`] with extra environment variables (endpoint overrides).
    pub fn daemon_with_env(&self, name: &str, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let log = self.dir.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_gscale"))
            .envs(env.iter().copied())
            .arg("run")
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(args)
            .env("RUST_LOG", "gscale=debug")
            .env("HOSTNAME", name)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        let pid = child.id();
        Daemon { process: Process::new(name, child), pid, log }
    }
}

/// A running `gscale run`, killed on drop.
pub struct Daemon {
    process: Process,
    pid: u32,
    log: PathBuf,
}

impl Daemon {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The most memory it has held (VmHWM, in KiB), from /proc.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("VmHWM: 0 kB");
        line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kill it at once, as a crash would.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// SIGTERM, then wait (up to `deadline`) for it to exit; its exit status.
    pub fn terminate(&mut self, deadline: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status();
        self.process.wait_exit(deadline)
    }

    /// Panic with the log if it exited.
    pub fn assert_running(&mut self) {
        self.process.assert_running(&self.log);
    }
}

/// What a [`Load`] answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `{"value": N}`.
    Value(f64),
    /// 503.
    Down,
    /// A reply after this long (past a scaler's timeout).
    Slow(Duration),
    /// Not JSON at all.
    Garbage,
    /// JSON without the value.
    Empty,
}

/// One reading a [`Load`] served: when it was asked (by the server's clock, which is the
/// sandbox's), and what it answered.
#[derive(Clone, Debug)]
pub struct Fetch {
    /// When the request arrived.
    pub at: Timestamp,
    /// What it was answered.
    pub reply: Reply,
}

/// An HTTP metric whose value the test sets: `{"value": N}` at `/metric`. Every reading is logged,
/// so a test can count the daemon's ticks and order them against the sandbox's request log.
pub struct Load {
    reply: Arc<Mutex<Reply>>,
    served: Arc<Mutex<Vec<Fetch>>>,
    /// The server (its request count).
    pub server: HttpServer,
}

impl Load {
    /// Serve `initial`.
    pub fn new(initial: f64) -> Self {
        let reply = Arc::new(Mutex::new(Reply::Value(initial)));
        let served: Arc<Mutex<Vec<Fetch>>> = Arc::default();
        let (shared, log) = (reply.clone(), served.clone());
        let server = serve(move |_| {
            // Stamped under the reply's lock: a reading after a `set` always serves the new value.
            let reply = shared.lock().unwrap();
            log.lock().unwrap().push(Fetch { at: Timestamp::now(), reply: reply.clone() });
            match reply.clone() {
                Reply::Value(v) => Response::json(200, &json!({"value": v})),
                Reply::Down => Response::text(503, "text/plain", "down"),
                Reply::Slow(delay) => Response::json(200, &json!({"value": 1})).delayed(delay),
                Reply::Garbage => Response::text(200, "application/json", "<html>oops</html>"),
                Reply::Empty => Response::json(200, &json!({})),
            }
        });
        Self { reply, served, server }
    }

    /// Change the value.
    pub fn set(&self, value: f64) {
        self.answer(Reply::Value(value));
    }

    /// Answer 503 from now on (a backend that is down).
    pub fn fail(&self) {
        self.answer(Reply::Down);
    }

    /// Answer this from now on.
    pub fn answer(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    /// Every reading so far, oldest first.
    pub fn fetches(&self) -> Vec<Fetch> {
        self.served.lock().unwrap().clone()
    }

    /// The readings that served `value`, oldest first.
    pub fn fetches_of(&self, value: f64) -> Vec<Fetch> {
        self.fetches().into_iter().filter(|f| f.reply == Reply::Value(value)).collect()
    }

    /// Wait until `n` readings satisfy `pred` (the daemon's ticks, counted); those readings.
    pub async fn wait_fetches(
        &self,
        n: usize,
        deadline: Duration,
        pred: impl Fn(&Fetch) -> bool,
    ) -> Vec<Fetch> {
        let matching = || self.fetches().into_iter().filter(|f| pred(f)).collect::<Vec<_>>();
        eventually(&format!("{n} readings of the load"), deadline, || async { matching().len() >= n }).await;
        matching()
    }

    /// Wait for `n` readings after now: `n` ticks of a daemon reading this load.
    pub async fn wait_ticks(&self, n: usize, deadline: Duration) -> Vec<Fetch> {
        let now = Timestamp::now();
        self.wait_fetches(n, deadline, |f| f.at > now).await
    }

    /// The URL of the metric.
    pub fn url(&self) -> String {
        format!("{}/metric", self.server.url)
    }

    /// An AverageValue http metric on this load: desired = ceil(value / target).
    pub fn metric(&self, target: f64) -> serde_json::Value {
        json!({"type": "http", "name": "load", "targetValue": target, "targetType": "AverageValue",
               "http": {"url": self.url(), "valuePath": "$.value"}})
    }
}

/// A scaler of Deployment `app` on `load` (AverageValue, `target` a replica), deciding every second
/// with no cooldown or window: the daemon tests' base.
pub fn base_spec(load: &Load, target: f64) -> serde_json::Value {
    json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
        "minReplicas": 1,
        "maxReplicas": 10,
        "metric": load.metric(target),
        "syncIntervalSeconds": 1,
        "behavior": {"scaleUp": {"cooldownSeconds": 0},
                     "scaleDown": {"cooldownSeconds": 0, "stabilizationWindowSeconds": 0}}
    })
}

/// Wait (up to `deadline`) until Deployment `name` has `expected` replicas.
pub async fn wait_replicas(cluster: &Cluster, name: &str, expected: i32, deadline: Duration) {
    eventually(&format!("{name} at {expected} replicas"), deadline, || async {
        cluster.replicas(name).await == expected
    })
    .await;
}

/// Poll an async condition until it holds or the deadline passes.
pub async fn eventually<F, Fut>(what: &str, deadline: Duration, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    super::wait_for_async(what, deadline, check).await
}
