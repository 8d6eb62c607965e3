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
//! With `--replicas N` (N > 1) it runs N daemons with automatic shards (`--shards auto`) and reports
//! per replica the scalers it owns, its RSS and CPU; the scalers whose series no replica or two
//! replicas hold, and the decisions per scaler per interval over all replicas; with
//! `--kill-one-after S`, S seconds into the steady window one replica is SIGKILLed and every
//! target's load changes: the time until each of its scalers is scaled by another replica, and
//! writes to one scaler from two replicas in overlapping turns (from the sandbox's request log,
//! where each replica names itself in its User-Agent); then it returns, and the share that moves
//! back and the overlaps are counted again.
//!
//! Run: `cargo build --release && cargo run --release --example daemon_load -- --scalers 10000`
//! (flags: --scalers N, --interval SECONDS, --steady SECONDS, --forecast 1 for forecasting scalers,
//! each starting from four days of history in status, as in steady state; --replicas N,
//! --kill-one-after SECONDS, --return-after SECONDS (from the kill), --lease-duration SECONDS).

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
    /// Daemons with automatic shards (1: one daemon, no election).
    replicas: usize,
    /// Kill one replica this long into the steady window.
    kill_one_after: Option<u64>,
    /// The replicas' lease duration.
    lease_duration: u64,
    /// The killed replica comes back this long after the kill (default: once its scalers were
    /// taken over, or the bound for it passed).
    return_after: Option<u64>,
}

fn args() -> Args {
    let mut args = Args {
        scalers: 10_000,
        interval: 15,
        steady: 60,
        forecast: false,
        replicas: 1,
        kill_one_after: None,
        lease_duration: 15,
        return_after: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or_else(|| {
            eprintln!(
                "usage: daemon_load [--scalers N] [--interval SECONDS] [--steady SECONDS] [--forecast 0|1] [--replicas N] [--kill-one-after SECONDS] [--return-after SECONDS] [--lease-duration SECONDS]"
            );
            std::process::exit(2)
        });
        match flag.as_str() {
            "--scalers" => args.scalers = value as usize,
            "--interval" => args.interval = value,
            "--steady" => args.steady = value,
            "--forecast" => args.forecast = value != 0,
            "--replicas" => args.replicas = (value as usize).max(1),
            "--kill-one-after" => args.kill_one_after = Some(value),
            "--lease-duration" => args.lease_duration = value.max(3),
            "--return-after" => args.return_after = Some(value),
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
    sandbox.clear_requests();
    let started = Instant::now();
    let spawn = |i: usize| Replica::spawn(&gscale, sandbox.kubeconfig_path(), i, &args);
    let mut replicas: Vec<Replica> = (0..args.replicas).map(spawn).collect();

    // First decision for all, as the daemons count them (each replica's /readyz turns ready once
    // it reconciled every scaler it serves; the decision counters, read at most once a second,
    // confirm it: rendering /metrics with every scaler's series several times a second would
    // load the daemons more than Prometheus ever does), then as status shows them.
    let (mut scraped, mut count) = (Instant::now(), 0.0);
    let decided = loop {
        let mut all_ready = true;
        for r in &replicas {
            all_ready &= ready(r.port).await;
        }
        if all_ready || scraped.elapsed() >= Duration::from_secs(1) {
            scraped = Instant::now();
            count = 0.0;
            for r in &replicas {
                count += counter(&scrape_metrics(r.port).await, "gscale_decisions_total");
            }
            if count >= args.scalers as f64 {
                break started.elapsed();
            }
        }
        assert!(started.elapsed() < Duration::from_secs(600), "only {count} decisions after 10 min");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let first_all = loop {
        // Counted in the store in place: a LIST (or a copy) of every object each poll would load
        // the API server the daemons share.
        let done = sandbox.peek_count(
            gscale::api::GROUP,
            gscale::api::VERSION,
            "generalscalers",
            Some("default"),
            |s| s.pointer("/status/lastDecision").is_some(),
        );
        if done == args.scalers {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "only {done} of {} decided after 10 min",
            args.scalers
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // What the start cost the API server: pages listed of the scalers (more than one list per
    // replica means a watch expired and was listed again) and status writes.
    let start_log = sandbox.requests();
    let scaler_lists =
        start_log.iter().filter(|r| r.resource == "generalscalers" && r.verb == "list").count();
    let start_writes = start_log.iter().filter(|r| r.subresource == "status").count();
    eprintln!(
        "all {} scalers decided {:.1}s after start; settling one interval...",
        args.scalers,
        first_all.as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(args.interval + 2)).await;

    // Steady state.
    sandbox.clear_requests();
    let cpu0: Vec<f64> = replicas.iter().map(|r| proc_stat(r.pid).0).collect();
    let (mut decisions0, mut lateness0) = (0.0, Vec::new());
    for r in &replicas {
        let metrics = scrape_metrics(r.port).await;
        decisions0 += counter(&metrics, "gscale_decisions_total");
        add_buckets(&mut lateness0, &buckets(&metrics, "gscale_reconcile_lateness_seconds"), 1.0);
    }
    let queries0 = backend.requests.load(Ordering::Relaxed);
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.steady)).await;
    let elapsed = window.elapsed().as_secs_f64();
    let stats: Vec<(f64, u64, u64)> = replicas.iter().map(|r| proc_stat(r.pid)).collect();
    let log = sandbox.requests();
    let api_requests = log.iter().filter(|r| r.verb != "watch").count();
    // What they were, the commonest first.
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for r in log.iter().filter(|r| r.verb != "watch") {
        *kinds
            .entry(format!(
                "{} {}{}",
                r.verb,
                r.resource,
                if r.subresource.is_empty() { String::new() } else { format!("/{}", r.subresource) }
            ))
            .or_default() += 1;
    }
    let mut kinds: Vec<(String, usize)> = kinds.into_iter().collect();
    kinds.sort_by_key(|k| std::cmp::Reverse(k.1));
    let kinds: Vec<String> = kinds.iter().take(4).map(|(k, n)| format!("{k}: {n}")).collect();
    let patches = log.iter().filter(|r| r.subresource == "scale" && r.verb == "patch").count();
    let status_writes = log.iter().filter(|r| r.subresource == "status").count();
    let backend_queries = backend.requests.load(Ordering::Relaxed) - queries0;
    let intervals = elapsed / args.interval as f64;
    // Lateness in the steady window: every replica's histogram at its end less at its start.
    let (mut lateness, mut decisions1) = (Vec::new(), 0.0);
    add_buckets(&mut lateness, &lateness0, -1.0);
    let mut holders: HashMap<String, usize> = HashMap::new();
    let mut per_replica = Vec::new();
    for (i, r) in replicas.iter().enumerate() {
        let metrics = scrape_metrics(r.port).await;
        add_buckets(&mut lateness, &buckets(&metrics, "gscale_reconcile_lateness_seconds"), 1.0);
        decisions1 += counter(&metrics, "gscale_decisions_total");
        for name in scalers_in(&metrics) {
            *holders.entry(name).or_default() += 1;
        }
        let (cpu1, rss, hwm) = stats[i];
        per_replica.push(format!(
            "{}: {} owned, CPU {:.1}%, RSS {} MiB (peak {} MiB)",
            r.name,
            counter(&metrics, "gscale_owned_scalers"),
            (cpu1 - cpu0[i]) / elapsed * 100.0,
            rss / 1024,
            hwm / 1024
        ));
    }
    let by_none = args.scalers - holders.len().min(args.scalers);
    let by_two = holders.values().filter(|n| **n > 1).count();
    let per_interval = (decisions1 - decisions0) / args.scalers as f64 / intervals;
    let lateness_p99 = p99(&lateness);

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

    let mut rows = vec![
        ("scalers", format!("{}", args.scalers), String::new()),
        ("sync interval", format!("{} s", args.interval), String::new()),
        (
            "first decision for all (the daemons' count)",
            format!("{:.1} s", decided.as_secs_f64()),
            "<= 10 s".into(),
        ),
        ("first decision for all in status", format!("{:.1} s", first_all.as_secs_f64()), String::new()),
        (
            "start: LIST requests of scalers (pages) / status writes",
            format!("{scaler_lists} / {start_writes}"),
            String::new(),
        ),
    ];
    if args.replicas == 1 {
        let (cpu1, rss, hwm) = stats[0];
        rows.push((
            "daemon CPU, steady",
            format!("{:.1}% of one core", (cpu1 - cpu0[0]) / elapsed * 100.0),
            "<= 25%".into(),
        ));
        rows.push((
            "daemon RSS, steady (peak)",
            format!("{} MiB ({} MiB)", rss / 1024, hwm / 1024),
            "<= 128 MiB".into(),
        ));
    } else {
        rows.push(("replicas (automatic shards)", format!("{}", args.replicas), String::new()));
        rows.push(("per replica: owned, CPU, RSS", per_replica.join("; "), "RSS <= 320 MiB".into()));
        rows.push((
            "scalers decided by no replica / by two (series held)",
            format!("{by_none} / {by_two}"),
            "0 / 0".into(),
        ));
        rows.push((
            "decisions per scaler per interval, all replicas",
            format!("{per_interval:.2}"),
            "1".into(),
        ));
    }
    let per_scaler_minute = api_requests as f64 / args.scalers as f64 / (elapsed / 60.0);
    rows.extend([
        (
            "API requests per scaler per minute",
            format!("{per_scaler_minute:.4} ({api_requests} in {elapsed:.0} s: {})", kinds.join(", ")),
            "<= 0.1".into(),
        ),
        ("scale PATCHes, steady", format!("{patches}"), "0".into()),
        ("status writes, steady", format!("{status_writes}"), String::new()),
        (
            // Each replica reads a query once per interval for all the scalers it owns that share it.
            "backend queries per distinct query per interval",
            format!("{:.2}", backend_queries as f64 / queries as f64 / intervals),
            if args.replicas == 1 { "<= 1".into() } else { format!("<= {} (1 per replica)", args.replicas) },
        ),
        ("reconcile lateness p99, steady", format!("{:.0} ms", lateness_p99 * 1000.0), "<= 100 ms".into()),
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
    ]);

    if let (Some(after), true) = (args.kill_one_after, args.replicas > 1) {
        // The victim's share, from the series it holds, then SIGKILL and a new load for every target.
        let victim = 0;
        let owned: std::collections::HashSet<String> =
            scalers_in(&scrape_metrics(replicas[victim].port).await).into_iter().collect();
        let mut log = sandbox.requests();
        sandbox.clear_requests();
        tokio::time::sleep(Duration::from_secs(after)).await;
        replicas[victim].kill();
        let (killed, killed_at) = (jiff::Timestamp::now(), Instant::now());
        // A load above any before (6 pods, from 2 or 4): a scale-up, which no stabilization window
        // holds back, so every scaler's next decision shows as a PATCH of its scale.
        for value in &backend.values {
            value.store(60f64.to_bits(), Ordering::Relaxed);
        }
        let bound = args.lease_duration + 2 * args.interval;
        let deadline = Instant::now() + Duration::from_secs(bound + 2 * args.interval);
        let mut taken: HashMap<String, f64> = HashMap::new();
        while Instant::now() < deadline && taken.len() < owned.len() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            for r in sandbox
                .requests()
                .iter()
                .filter(|r| r.subresource == "scale" && r.verb == "patch" && r.status < 300)
            {
                if owned.contains(&r.name) {
                    taken
                        .entry(r.name.clone())
                        .or_insert((r.at.as_millisecond() - killed.as_millisecond()) as f64 / 1000.0);
                }
            }
        }
        let mut times: Vec<f64> = taken.values().copied().collect();
        times.sort_by(f64::total_cmp);
        log.extend(sandbox.requests());
        rows.push((
            "SIGKILL of one: its scalers scaled by another, p50 / p99 / max",
            format!(
                "{:.1} s / {:.1} s / {:.1} s; {} of {} taken over",
                percentile(&times, 0.5),
                percentile(&times, 0.99),
                times.last().copied().unwrap_or(f64::NAN),
                times.len(),
                owned.len()
            ),
            format!("all, <= {bound} s (lease + 2 intervals)"),
        ));

        // It returns (a new process, a new identity): about 1/N moves to it, again without overlap.
        if let Some(after) = args.return_after {
            tokio::time::sleep_until((killed_at + Duration::from_secs(after)).into()).await;
        }
        let back = Instant::now();
        replicas[victim] = spawn(victim);
        let port = replicas[victim].port;
        while !ready(port).await && back.elapsed() < Duration::from_secs(300) {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let returned = back.elapsed();
        sandbox.clear_requests();
        // Up again (8 pods): a scale-up of every scaler, made by whichever replica owns it now.
        for value in &backend.values {
            value.store(80f64.to_bits(), Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_secs(3 * args.interval)).await;
        let now = sandbox.requests();
        let name = replicas[victim].identity();
        let moved_back: std::collections::HashSet<&String> = now
            .iter()
            .filter(|r| r.subresource == "scale" && r.verb == "patch" && r.status < 300)
            .filter(|r| replica_of(&r.user_agent) == name)
            .map(|r| &r.name)
            .collect();
        let moved_back = moved_back.len();
        log.extend(now);
        rows.push((
            "it returns: ready after / scalers it scales again",
            format!("{:.1} s / {moved_back} of {}", returned.as_secs_f64(), args.scalers),
            format!("about {}", args.scalers / args.replicas),
        ));
        rows.push((
            "overlapping writes (kill, takeover, return; by process)",
            format!("{}", overlaps(&log)),
            "0".into(),
        ));
    }
    for r in &mut replicas {
        r.kill();
    }

    println!("| measure | value | target |\n|---|---|---|");
    for (name, value, target) in rows {
        println!("| {name} | {value} | {target} |");
    }
}

/// A `gscale run` child: its name (the host part of its identity), pid and metrics port.
struct Replica {
    name: String,
    child: std::process::Child,
    pid: u32,
    port: u16,
}

impl Replica {
    fn spawn(gscale: &std::path::Path, kubeconfig: &std::path::Path, i: usize, args: &Args) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let name = format!("replica{i}");
        let mut command = std::process::Command::new(gscale);
        command.args(["run", "--kubeconfig"]).arg(kubeconfig);
        command.args(["--metrics-addr", &format!("127.0.0.1:{port}")]);
        if args.replicas > 1 {
            let lease = args.lease_duration.to_string();
            command.args(["--shards", "auto", "--lease-namespace", "default", "--lease-duration", &lease]);
        } else {
            command.arg("--no-leader-election");
        }
        let child = command.env("RUST_LOG", "gscale=warn").env("HOSTNAME", &name).spawn().unwrap();
        let pid = child.id();
        Self { name, child, pid, port }
    }

    /// Its identity as its Lease and User-Agent show it: host and process id.
    fn identity(&self) -> String {
        format!("{}-{}", self.name, self.pid)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The replica process a request came from: the identity (host and process id) in its User-Agent.
/// A replica that returns is a new process, a new member: what it takes back is a handover.
fn replica_of(user_agent: &str) -> String {
    user_agent.split_once('(').map_or("", |(_, rest)| rest.trim_end_matches(')')).to_string()
}

/// Writes to one scaler (its status or its target's scale) by a replica process that comes back
/// after another wrote to it in between: two replicas acting on it in overlapping turns.
fn overlaps(log: &[gscale_sandbox::RequestRecord]) -> usize {
    let mut writes: Vec<&gscale_sandbox::RequestRecord> = log
        .iter()
        .filter(|r| {
            r.status < 300 && r.verb == "patch" && matches!(r.subresource.as_str(), "scale" | "status")
        })
        .collect();
    writes.sort_by_key(|r| r.at);
    let mut turns: HashMap<&str, Vec<String>> = HashMap::new();
    let mut overlapping = 0;
    for r in writes {
        let replica = replica_of(&r.user_agent);
        let runs = turns.entry(r.name.as_str()).or_default();
        if runs.last() != Some(&replica) {
            if runs.contains(&replica) {
                overlapping += 1;
            }
            runs.push(replica);
        }
    }
    overlapping
}

/// The scalers whose per-scaler series a replica holds (it decided them since they became its).
fn scalers_in(metrics: &str) -> Vec<String> {
    metrics
        .lines()
        .filter(|l| l.starts_with("gscale_scaler_ready{"))
        .filter_map(|l| l.split("name=\"").nth(1)?.split('"').next().map(str::to_string))
        .collect()
}

/// A counter or gauge without labels.
fn counter(metrics: &str, name: &str) -> f64 {
    let prefix = format!("{name} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)?.trim().parse::<f64>().ok()).unwrap_or(0.0)
}

async fn ready(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else { return false };
    let _ = stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body).await;
    body.starts_with("HTTP/1.1 200")
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

/// A histogram's cumulative buckets: (upper bound, count).
fn buckets(text: &str, name: &str) -> Vec<(f64, f64)> {
    let prefix = format!("{name}_bucket{{le=\"");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|l| {
            let (bound, count) = l.split_once("\"} ")?;
            Some((if bound == "+Inf" { f64::INFINITY } else { bound.parse().ok()? }, count.parse().ok()?))
        })
        .collect()
}

/// Add `sign` times `more` into `sum`, bucket by bucket (the same bounds in every replica).
fn add_buckets(sum: &mut Vec<(f64, f64)>, more: &[(f64, f64)], sign: f64) {
    if sum.is_empty() {
        sum.extend(more.iter().map(|(bound, _)| (*bound, 0.0)));
    }
    for ((_, total), (_, count)) in sum.iter_mut().zip(more) {
        *total += sign * count;
    }
}

/// The smallest bucket bound holding 99% of observations (NaN without any).
fn p99(buckets: &[(f64, f64)]) -> f64 {
    let total = buckets.last().map_or(0.0, |b| b.1);
    if total <= 0.0 {
        return f64::NAN;
    }
    buckets.iter().find(|(_, c)| *c >= 0.99 * total).map_or(f64::NAN, |(b, _)| *b)
}
