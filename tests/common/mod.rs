//! Test helpers that start real backends on loopback (Redis, Prometheus, the Pub/Sub emulator), a tiny
//! HTTP server for exporters and stand-ins, and a stub Kubernetes API serving Secrets.
//!
//! Every server binds 127.0.0.1 on a free port, lives in its own temp dir, is awaited with a deadline
//! (never a blind sleep) and is killed when its handle drops. A missing server binary fails the test
//! under `CI=true` and prints a visible skip elsewhere ([`require`]).
#![allow(dead_code)]

pub mod cluster;
pub mod http;
pub mod kube_api;
pub mod monitoring;
pub mod prometheus;
pub mod pubsub;
pub mod redis;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// Whether this run is CI (a missing server is then a failure, not a skip).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

/// `Some(path)` of a server binary; `None` (after printing a skip notice) when it is missing outside CI.
pub fn require(binary: &str, test: &str) -> Option<PathBuf> {
    let found = if binary.contains('/') {
        Some(PathBuf::from(binary)).filter(|path| path.exists())
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths).map(|dir| dir.join(binary)).find(|path| path.is_file())
        })
    };
    match found {
        Some(path) => Some(path),
        None if in_ci() => panic!("{binary} is not installed; CI needs it for {test} (see .ci/run)"),
        None => {
            eprintln!("SKIPPED {test}: {binary} is not installed (apt-get install it to run this test)");
            None
        }
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Poll `check` every 50 ms until it holds or `deadline` passes (then panic with `what`).
pub fn wait_for(what: &str, deadline: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < deadline, "timed out after {deadline:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Async flavour of [`wait_for`].
pub async fn wait_for_async<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < deadline, "timed out after {deadline:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
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

/// A blocking HTTP/1.1 request to a loopback `http://` URL: `(status, body)`, None when unreachable.
pub fn http_request(method: &str, url: &str, body: Option<&str>) -> Option<(u16, String)> {
    use std::io::{BufRead, BufReader, Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    // Read the head, then exactly content-length bytes: some servers keep the socket open.
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).ok()?;
    let status = status_line.split_whitespace().nth(1)?.parse().ok()?;
    let mut length = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.contains("chunked"),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            out.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = length {
        out.resize(length, 0);
        reader.read_exact(&mut out).ok()?;
    } else {
        reader.read_to_end(&mut out).ok()?;
    }
    Some((status, String::from_utf8_lossy(&out).into_owned()))
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
    fetcher.read(namespace, metric, Duration::ZERO).await
}
