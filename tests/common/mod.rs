//! Test helpers that start real backends on loopback (Redis, Prometheus, the Pub/Sub emulator), a tiny
//! HTTP server for exporters and stand-ins, and a stub Kubernetes API serving Secrets.
//!
//! Every server binds 127.0.0.1 on a free port, lives in its own temp dir, is awaited with a deadline
//! (never a blind sleep) and is killed when its handle drops. A missing binary (a server, kubectl,
//! openssl, man) fails the test in CI and prints a visible skip elsewhere ([`require`]).
#![allow(dead_code)]

pub mod cluster;
pub mod http;
pub mod kafka;
pub mod kube_api;
pub mod monitoring;
pub mod prometheus;
pub mod pubsub;
pub mod queues;
pub mod redis;
pub mod resp;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// Whether this run is CI (`CI=true` or `CI=1`, as CI services and `.ci/run` set it): a missing
/// backend binary is then a failure, not a skip. The one definition every test uses.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

/// Where a binary is: a path as given, or a name looked up on `PATH`.
fn locate(binary: &str) -> Option<PathBuf> {
    if binary.contains('/') {
        return Some(PathBuf::from(binary)).filter(|path| path.is_file());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|dir| dir.join(binary)).find(|path| path.is_file())
    })
}

/// `Some(path)` of a binary a test needs. Missing, it fails the test in CI ([`in_ci`]) and
/// elsewhere prints a visible skip and returns `None`, so the test returns early.
pub fn require(binary: &str, test: &str) -> Option<PathBuf> {
    require_any(&[binary], test)
}

/// [`require`] for a test that can use any one of `binaries` (the first found wins).
pub fn require_any(binaries: &[&str], test: &str) -> Option<PathBuf> {
    if let Some(found) = binaries.iter().find_map(|binary| locate(binary)) {
        return Some(found);
    }
    let names = binaries.join(" or ");
    assert!(!in_ci(), "{names} is not installed; CI needs it for {test} (see .ci/run)");
    eprintln!("skipped: {test}: {names} not installed");
    None
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Poll `check` every 50 ms until it holds or `deadline` passes (then panic with `what`).
pub fn wait_for(what: &str, deadline: Duration, mut check: impl FnMut() -> bool) {
    // The deadline only bounds a hang; nothing here judges how fast the condition came.
    let give_up = Instant::now() + deadline;
    while !check() {
        if Instant::now() >= give_up {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Async flavour of [`wait_for`].
pub async fn wait_for_async<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    // The deadline only bounds a hang; nothing here judges how fast the condition came.
    let poll = async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    if tokio::time::timeout(deadline, poll).await.is_err() {
        panic!("timed out after {deadline:?} waiting for {what}");
    }
}

/// A temp dir removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh dir under the system temp dir.
    pub fn new(prefix: &str) -> Self {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("gscale-{prefix}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (and reaped) on drop.
pub struct Process {
    child: Option<Child>,
    name: String,
}

impl Process {
    /// Own `child`.
    pub fn new(name: &str, child: Child) -> Self {
        Self { child: Some(child), name: name.to_owned() }
    }

    /// Panic with the log if the process already exited.
    pub fn assert_running(&mut self, log: &Path) {
        if let Some(status) = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{} exited early ({status}):\n{log}", self.name);
        }
    }

    /// Wait up to `deadline` for it to exit by itself.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < deadline {
            if let Some(status) = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Kill it now (as a crash would).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A blocking HTTP request to a loopback `http://` URL: `(status, body)`, None when unreachable.
/// reqwest on a one-thread runtime of its own thread, so it works from sync and async tests alike.
pub fn http_request(method: &str, url: &str, body: Option<&str>) -> Option<(u16, String)> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).ok()?;
    let (url, body) = (url.to_owned(), body.map(str::to_owned));
    let request = async move {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().ok()?;
        let mut request = client.request(method, url).header("content-type", "application/json");
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.ok()?))
    };
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(request)
    })
    .join()
    .expect("the request thread does not panic")
}

/// A scaler spec from JSON metrics (the rest defaulted), as a user would write it.
pub fn scaler(metrics: serde_json::Value) -> gscale::api::GeneralScalerSpec {
    serde_json::from_value(serde_json::json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
        "maxReplicas": 10,
        "metrics": metrics,
    }))
    .expect("valid spec")
}

/// One metric spec from JSON.
pub fn metric(json: serde_json::Value) -> gscale::api::MetricSpec {
    serde_json::from_value(json).expect("valid metric")
}

/// A fetcher that never shares results across time (each call queries), without a kube client.
pub fn fetcher(client: Option<kube::Client>) -> gscale::metrics::Fetcher {
    gscale::metrics::Fetcher::new(
        client,
        gscale::metrics::Settings {
            dedup_window: Some(Duration::ZERO),
            pubsub_endpoint: None,
            monitoring_endpoint: None,
            ..Default::default()
        },
    )
}

/// Read one metric with a fetcher.
pub async fn read(
    fetcher: &gscale::metrics::Fetcher,
    namespace: &str,
    metric: &gscale::api::MetricSpec,
) -> Result<f64, gscale::metrics::MetricError> {
    let spec = scaler(serde_json::json!([serde_json::to_value(metric).expect("a metric serializes")]));
    fetcher.read(namespace, &spec, metric, Duration::ZERO).await
}
