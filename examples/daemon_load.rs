//! The daemon at scale (DESIGN §8): many scalers on the sandbox API, the real `gscale run` binary
//! as a child process, an HTTP metric backend with one query shared by every 100 scalers.
//!
//! Reports: time until every scaler has its first decision (counted by the daemon, and visible in
//! status); in steady state the daemon's CPU (% of
//! one core, from /proc) and RSS, API requests per scaler per minute and scale PATCHes (from the
//! sandbox's request log), backend queries per distinct query per interval (counted at the
//! backend), reconcile lateness p99 (the daemon's own histogram); then the reaction time from a
//! metric change to the PATCH of /scale, p99 over the scalers whose metric changed.
//!
//! Run: `cargo build --release && cargo run --release --example daemon_load -- --scalers 10000`
//! (flags: --scalers N, --interval SECONDS, --steady SECONDS, --forecast 1 for forecasting scalers,
//! each starting from four days of history in status, as in steady state).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use gscale::api::{CRD_NAME, GeneralScaler, crd};
use gscale_sandbox::{Sandbox, SandboxOptions};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

/// Scalers per distinct metric query.
const SHARING: usize = 100;

struct Args {
    scalers: usize,
    interval: u64,
    steady: u64,
    /// Every scaler forecasts (`spec.forecast.mode: On`), to measure what its memory costs.
    forecast: bool,
}

fn args() -> Args {
    let mut args = Args { scalers: 10_000, interval: 15, steady: 60, forecast: false };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or_else(|| {
            eprintln!(
                "usage: daemon_load [--scalers N] [--interval SECONDS] [--steady SECONDS] [--forecast 0|1]"
            );
            std::process::exit(2)
        });
        match flag.as_str() {
            "--scalers" => args.scalers = value as usize,
            "--interval" => args.interval = value,
            "--steady" => args.steady = value,
            "--forecast" => args.forecast = value != 0,
            _ => {
                eprintln!("unknown flag {flag}");
                std::process::exit(2)
            }
        }
    }
    args
}

/// The metric backend: `/q/K` answers `{"value": V[K]}` and counts its requests.
struct Backend {
    values: Vec<AtomicU64>,
    requests: AtomicU64,
    url: String,
}

async fn backend(queries: usize) -> Arc<Backend> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let backend = Arc::new(Backend {
        values: (0..queries).map(|_| AtomicU64::new(20f64.to_bits())).collect(),
        requests: AtomicU64::new(0),
        url,
    });
    let shared = backend.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let backend = shared.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        backend.requests.fetch_add(1, Ordering::Relaxed);
                        let k: usize = req.uri().path().trim_start_matches("/q/").parse().unwrap_or(0);
                        let value = f64::from_bits(
                            backend.values[k.min(backend.values.len() - 1)].load(Ordering::Relaxed),
                        );
                        let body = format!("{{\"value\": {value}}}");
                        async move {
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(
                                body,
                            ))))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    backend
}

fn proc_stat(pid: u32) -> (f64, u64, u64) {
    let ticks = 100.0; // USER_HZ on Linux
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(") ").next().unwrap_or("").split_whitespace().collect();
    let cpu = fields.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (cpu / ticks, kib("VmRSS:"), kib("VmHWM:"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let args = args();
    let queries = args.scalers.div_ceil(SHARING);
    let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let client = sandbox.client();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(CRD_NAME, &PatchParams::apply("bench").force(), &Patch::Apply(crd())).await.unwrap();
    let backend = backend(queries).await;

    // A forecasting scaler in steady state carries days of history: every scaler starts from a full
    // one in status (four days of the backend's value, a minute apart), as after a backfill.
    let history = args.forecast.then(|| {
        let spec: gscale::api::GeneralScalerSpec = serde_json::from_value(json!({
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "any"},
            "maxReplicas": 10, "metric": {"type": "http", "targetValue": 10, "targetType": "AverageValue",
                                          "http": {"url": "http://any", "valuePath": "$.value"}},
            "forecast": {"mode": "On"}
        }))
        .unwrap();
        let now = jiff::Timestamp::now();
        let minutes = (1..=4 * 24 * 60).rev().map(|m| (now - jiff::SignedDuration::from_mins(m), 20.0));
        let forecast = gscale::api::ForecastHistory::from_series(&spec, minutes);
        json!({"status": {"history": {"forecast": forecast}}})
    });

    eprintln!("creating {} Deployments and scalers ({queries} distinct queries)...", args.scalers);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let scalers: Api<GeneralScaler> = Api::namespaced(client.clone(), "default");
    futures::stream::iter(0..args.scalers)
        .map(|i| {
            let (deployments, scalers, url) = (deployments.clone(), scalers.clone(), backend.url.clone());
            let history = history.clone();
            async move {
                let name = format!("svc-{i:05}");
                let deployment: Deployment = serde_json::from_value(json!({
                    "metadata": {"name": name},
                    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                             "template": {"metadata": {"labels": {"app": name}},
                                          "spec": {"containers": [{"name": "app", "image": "app"}]}}}
                }))
                .unwrap();
                deployments.create(&PostParams::default(), &deployment).await.unwrap();
                let mut scaler = json!({
                    "apiVersion": gscale::api::API_VERSION, "kind": "GeneralScaler",
                    "metadata": {"name": name},
                    "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                             "minReplicas": 1, "maxReplicas": 10, "syncIntervalSeconds": args.interval,
                             "metric": {"type": "http", "targetValue": 10, "targetType": "AverageValue",
                                        "http": {"url": format!("{url}/q/{}", i / SHARING), "valuePath": "$.value"}}}
                });
                if args.forecast {
                    scaler["spec"]["forecast"] = json!({"mode": "On"});
                }
                let scaler: GeneralScaler = serde_json::from_value(scaler).unwrap();
                scalers.create(&PostParams::default(), &scaler).await.unwrap();
                if let Some(history) = history {
                    scalers.patch_status(&name, &PatchParams::default(), &Patch::Merge(history)).await.unwrap();
                }
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;

    let exe = std::env::current_exe().unwrap();
    let gscale = exe.parent().and_then(|p| p.parent()).map(|p| p.join("gscale")).unwrap();
    assert!(
        gscale.exists(),
        "build the binary first: cargo build --release ({} is missing)",
        gscale.display()
    );
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    sandbox.clear_requests();
    let started = Instant::now();
    let mut daemon = std::process::Command::new(&gscale)
        .args(["run", "--kubeconfig"])
        .arg(sandbox.kubeconfig_path())
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}"), "--no-leader-election"])
        .env("RUST_LOG", "gscale=warn")
        .spawn()
        .unwrap();
    let pid = daemon.id();

    // First decision for all, as the daemon counts them, then as status shows them.
    let decided = loop {
        let text = scrape_metrics(metrics_port).await;
        let count = text
            .lines()
            .find(|l| l.starts_with("gscale_decisions_total "))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0);
        if count >= args.scalers as f64 {
            break started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(300), "only {count} decisions after 5 min");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let first_all = loop {
        // Read from the store directly: a LIST of 10,000 objects every poll would load the API.
        let done = sandbox
            .peek_list(gscale::api::GROUP, gscale::api::VERSION, "generalscalers", Some("default"))
            .iter()
            .filter(|s| s.pointer("/status/lastDecision").is_some())
            .count();
        if done == args.scalers {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "only {done} of {} decided after 5 min",
            args.scalers
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!(
        "all {} scalers decided {:.1}s after start; settling one interval...",
        args.scalers,
        first_all.as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(args.interval + 2)).await;

    // Steady state.
    sandbox.clear_requests();
    let (cpu0, _, _) = proc_stat(pid);
    let queries0 = backend.requests.load(Ordering::Relaxed);
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.steady)).await;
    let elapsed = window.elapsed().as_secs_f64();
    let (cpu1, rss, hwm) = proc_stat(pid);
    let log = sandbox.requests();
    let api_requests = log.iter().filter(|r| r.verb != "watch").count();
    let patches = log.iter().filter(|r| r.subresource == "scale" && r.verb == "patch").count();
    let status_writes = log.iter().filter(|r| r.subresource == "status").count();
    let backend_queries = backend.requests.load(Ordering::Relaxed) - queries0;
    let intervals = elapsed / args.interval as f64;
    let metrics = scrape_metrics(metrics_port).await;
    let lateness_p99 = histogram_p99(&metrics, "gscale_reconcile_lateness_seconds");

    // Reaction: double the load on the first 10 queries (1,000 scalers) and time each PATCH.
    sandbox.clear_requests();
    let changed: Vec<usize> = (0..queries.min(10)).collect();
    let at = jiff::Timestamp::now();
    for k in &changed {
        backend.values[*k].store(40f64.to_bits(), Ordering::Relaxed);
    }
    let expected = changed.len() * SHARING.min(args.scalers);
    let mut delays: Vec<f64> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(args.interval * 3);
    while Instant::now() < deadline {
        let mut first: HashMap<String, f64> = HashMap::new();
        for r in sandbox
            .requests()
            .iter()
            .filter(|r| r.subresource == "scale" && r.verb == "patch" && r.status < 300)
        {
            first
                .entry(r.name.clone())
                .or_insert((r.at.as_millisecond() - at.as_millisecond()) as f64 / 1000.0);
        }
        if first.len() >= expected {
            delays = first.into_values().collect();
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    delays.sort_by(f64::total_cmp);
    let _ = daemon.kill();
    let _ = daemon.wait();

    let per_scaler_minute = api_requests as f64 / args.scalers as f64 / (elapsed / 60.0);
    let rows = [
        ("scalers", format!("{}", args.scalers), String::new()),
        ("sync interval", format!("{} s", args.interval), String::new()),
        (
            "first decision for all (the daemon's count)",
            format!("{:.1} s", decided.as_secs_f64()),
            "<= 10 s".into(),
        ),
        ("first decision for all in status", format!("{:.1} s", first_all.as_secs_f64()), String::new()),
        (
            "daemon CPU, steady",
            format!("{:.1}% of one core", (cpu1 - cpu0) / elapsed * 100.0),
            "<= 25%".into(),
        ),
        (
            "daemon RSS, steady (peak)",
            format!("{} MiB ({} MiB)", rss / 1024, hwm / 1024),
            "<= 128 MiB".into(),
        ),
        (
            "API requests per scaler per minute",
            format!("{per_scaler_minute:.4} ({api_requests} in {elapsed:.0} s)"),
            "<= 0.1".into(),
        ),
        ("scale PATCHes, steady", format!("{patches}"), "0".into()),
        ("status writes, steady", format!("{status_writes}"), String::new()),
        (
            "backend queries per distinct query per interval",
            format!("{:.2}", backend_queries as f64 / queries as f64 / intervals),
            "<= 1".into(),
        ),
        ("reconcile lateness p99", format!("{:.0} ms", lateness_p99 * 1000.0), "<= 100 ms".into()),
        (
            "reaction (metric change -> PATCH) p99 / max",
            format!(
                "{:.2} s / {:.2} s over {} scalers",
                percentile(&delays, 0.99),
                delays.last().copied().unwrap_or(f64::NAN),
                delays.len()
            ),
            format!("<= {}.2 s", args.interval),
        ),
    ];
    println!("| measure | value | target |\n|---|---|---|");
    for (name, value, target) in rows {
        println!("| {name} | {value} | {target} |");
    }
}

async fn scrape_metrics(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return String::new();
    };
    let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body).await;
    body
}

/// The smallest bucket bound holding 99% of observations.
fn histogram_p99(text: &str, name: &str) -> f64 {
    let prefix = format!("{name}_bucket{{le=\"");
    let buckets: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|l| {
            let (bound, count) = l.split_once("\"} ")?;
            Some((if bound == "+Inf" { f64::INFINITY } else { bound.parse().ok()? }, count.parse().ok()?))
        })
        .collect();
    let total = buckets.last().map_or(0.0, |b| b.1);
    buckets.iter().find(|(_, c)| *c >= 0.99 * total).map_or(f64::NAN, |(b, _)| *b)
}
