//! `gscale demo`: the whole loop on this machine with no cluster. It starts the sandbox API, installs
//! the CRD, creates a Deployment and a GeneralScaler, drives a load wave (an embedded HTTP metric, or a
//! real Redis list with `--redis`), runs the real reconcile loop in-process and shows replicas
//! following the load with each decision's reason, until Ctrl-C or `--duration`.
//!
//! The view is deliberately small (the full status table is `gscale status`): redrawn in place on a
//! terminal, one plain line per change otherwise. Nothing here decides: the daemon does.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::api::{DecisionRecord, GeneralScaler};
use crate::cli::{DemoArgs, exit};
use crate::controller::{self, RunSettings};
use gscale_sandbox::{Sandbox, SandboxOptions};

use super::{UsageError, input};

/// The namespace and name of everything the demo creates.
const NAMESPACE: &str = "default";
const NAME: &str = "demo-app";
/// The load wave runs between these (items per second, or items queued with `--redis`).
const LOW: f64 = 4.0;
const HIGH: f64 = 76.0;
/// What one replica handles: the wave asks for 1 to 8 replicas.
const PER_REPLICA: f64 = 10.0;
const MAX_REPLICAS: i32 = 10;
/// The Redis list the load generator fills with `--redis`.
const QUEUE: &str = "gscale-demo-queue";

/// The demo's settings, resolved from flags.
struct Settings {
    duration: Option<Duration>,
    redis: Option<reqwest::Url>,
    wave_period: Duration,
}

fn settings(args: &DemoArgs) -> Result<Settings, UsageError> {
    let duration = args
        .duration
        .as_deref()
        .map(|d| input::positive_duration_ms("--duration", d).map(|ms| Duration::from_millis(ms as u64)))
        .transpose()?;
    let wave_period = Duration::from_millis(input::duration_ms("--wave-period", &args.wave_period)? as u64);
    if wave_period < Duration::from_secs(4) {
        return Err(UsageError("--wave-period must be at least 4s".into()));
    }
    let redis = match &args.redis {
        Some(url) => {
            let parsed = reqwest::Url::parse(url).ok().filter(|u| {
                matches!(u.scheme(), "redis" | "rediss") && u.host_str().is_some_and(|h| !h.is_empty())
            });
            Some(parsed.ok_or_else(|| {
                UsageError(format!("--redis {url}: expected a URL such as redis://127.0.0.1:6379/0"))
            })?)
        }
        None => None,
    };
    Ok(Settings { duration, redis, wave_period })
}

/// The load over time: quiet, a rise to the peak at half a period, back to quiet, repeated.
#[derive(Clone, Copy)]
struct Wave {
    start: Instant,
    period: Duration,
}

impl Wave {
    fn at(&self, elapsed: Duration) -> f64 {
        let phase = elapsed.as_secs_f64() / self.period.as_secs_f64();
        LOW + (HIGH - LOW) * (1.0 - (std::f64::consts::TAU * phase).cos()) / 2.0
    }

    fn now(&self) -> f64 {
        self.at(self.start.elapsed())
    }
}

pub async fn run(args: &DemoArgs) -> anyhow::Result<u8> {
    let settings = settings(args)?;
    let options = SandboxOptions { replica_delay: Duration::from_millis(800), ..SandboxOptions::default() };
    let sandbox = Sandbox::start(options).await.map_err(|e| {
        super::failed("cannot start the sandbox API", &e, "check that 127.0.0.1 accepts listeners")
    })?;
    let client = sandbox.client();
    let wave = Wave { start: Instant::now(), period: settings.wave_period };

    let (metric, source) = match &settings.redis {
        Some(url) => (redis_metric(&client, url).await?, format!("Redis list {QUEUE} at {}", redact(url))),
        None => {
            let url = serve_load(wave).await?;
            (
                json!({"type": "http", "name": "load", "targetValue": PER_REPLICA, "targetType": "AverageValue",
                       "http": {"url": url, "valuePath": "$.value"}}),
                format!("HTTP metric at {url}"),
            )
        }
    };
    create_objects(&client, metric, settings.wave_period).await?;
    let generator = settings.redis.clone().map(|url| tokio::spawn(drive_redis(url, wave)));

    let run_settings = RunSettings { namespace: Some(NAMESPACE.to_string()), ..RunSettings::default() };
    let server = sandbox.url();
    let mut config = kube::Config::new(server.parse().context("the sandbox's URL")?);
    config.default_retry = false; // as `gscale run` builds its client
    let daemon_client = kube::Client::try_from(config).context("a client for the sandbox")?;
    // The daemon shuts down as it would in a cluster: in-flight work finishes, then it returns.
    let (stop_daemon, daemon_stop) = tokio::sync::oneshot::channel::<()>();
    let mut daemon = tokio::spawn(async move {
        let shutdown = async move {
            let _ = daemon_stop.await;
        };
        controller::run(daemon_client, &server, run_settings, shutdown).await
    });

    let mut out = std::io::stdout();
    writeln!(
        out,
        "gscale demo: sandbox API at {}; load from {source}\nkubeconfig: {}\n  try: kubectl --kubeconfig {} get gsc,deploy\n",
        sandbox.url(),
        sandbox.kubeconfig_path().display(),
        sandbox.kubeconfig_path().display()
    )?;
    out.flush()?;

    let mut view = View::new(std::io::stdout().is_terminal(), settings.duration, wave);
    let stop = async {
        match settings.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop);
    let signal = super::shutdown_signal();
    tokio::pin!(signal);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = &mut signal => break,
            _ = tick.tick() => {}
        }
        if daemon.is_finished() {
            match (&mut daemon).await {
                // The loop ended by itself (it returns only after a shutdown): stop the view too.
                Ok(Ok(())) => break,
                Ok(Err(e)) => return Err(e.context("the reconcile loop stopped")),
                Err(e) => return Err(anyhow::anyhow!("the reconcile loop stopped unexpectedly: {e}")),
            }
        }
        view.sample(&client).await;
        view.draw(&mut out)?;
    }
    let _ = stop_daemon.send(());
    if !daemon.is_finished() {
        match daemon.await {
            Ok(result) => result.context("the reconcile loop stopped")?,
            Err(e) => return Err(anyhow::anyhow!("the reconcile loop stopped unexpectedly: {e}")),
        }
    }
    if let Some(generator) = generator {
        generator.abort();
    }
    if let Some(url) = &settings.redis {
        clear_queue(url).await;
    }
    view.finish(&mut out)?;
    Ok(exit::OK)
}

/// The CRD, the Deployment and the GeneralScaler, with timings scaled to the wave.
async fn create_objects(client: &kube::Client, metric: Value, period: Duration) -> anyhow::Result<()> {
    let apply = PatchParams::apply(controller::FIELD_MANAGER).force();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(crate::api::CRD_NAME, &apply, &Patch::Apply(crate::api::crd()))
        .await
        .context("installing the CRD in the sandbox")?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": NAME}},
                 "template": {"metadata": {"labels": {"app": NAME}},
                              "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}
    });
    deployments
        .create(&PostParams::default(), &serde_json::from_value(deployment)?)
        .await
        .context("creating the demo Deployment")?;
    // A fortieth of the wave per tick; scale-down waits a tenth of it (the real defaults are 30 s and 300 s).
    let secs = period.as_secs();
    let scaler = json!({
        "apiVersion": crate::api::API_VERSION, "kind": "GeneralScaler",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
            "minReplicas": 1, "maxReplicas": MAX_REPLICAS,
            "metric": metric,
            "behavior": {"scaleUp": {"maxIncrement": 3, "cooldownSeconds": 0},
                         "scaleDown": {"maxDecrement": 2, "cooldownSeconds": (secs / 10).max(1),
                                       "stabilizationWindowSeconds": secs / 10}},
            "syncIntervalSeconds": (secs / 40).max(1),
        }
    });
    let scalers: Api<GeneralScaler> = Api::namespaced(client.clone(), NAMESPACE);
    scalers.patch(NAME, &apply, &Patch::Apply(scaler)).await.context("creating the demo GeneralScaler")?;
    Ok(())
}

/// Serve `{"value": load}` on 127.0.0.1; the URL of the metric.
async fn serve_load(wave: Wave) -> anyhow::Result<String> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.context("starting the demo metric server")?;
    let url = format!("http://{}/load", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service_fn(move |_: hyper::Request<hyper::body::Incoming>| async move {
                let body = json!({"value": (wave.now() * 10.0).round() / 10.0}).to_string();
                let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
                response
                    .headers_mut()
                    .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
                Ok::<_, std::convert::Infallible>(response)
            });
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    Ok(url)
}

/// A redis metric for the URL; a password goes into a sandbox Secret, as it should in a cluster.
async fn redis_metric(client: &kube::Client, url: &reqwest::Url) -> anyhow::Result<Value> {
    let mut redis = json!({
        "host": url.host_str().unwrap_or("127.0.0.1"),
        "port": url.port().unwrap_or(6379),
        "db": url.path().trim_start_matches('/').parse::<u32>().unwrap_or(0),
        "queueName": QUEUE,
        "tls": url.scheme() == "rediss",
    });
    if !url.username().is_empty() {
        redis["username"] = json!(url.username());
    }
    if let Some(password) = url.password() {
        let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
                            "metadata": {"name": "demo-redis", "namespace": NAMESPACE},
                            "stringData": {"password": password}});
        secrets.create(&PostParams::default(), &serde_json::from_value(secret)?).await?;
        redis["passwordSecretRef"] = json!({"name": "demo-redis", "key": "password"});
    }
    // Fail now, with the URL, rather than as a metric error in the view.
    let mut connection = redis_connection(url).await?;
    let _: () = redis::cmd("DEL").arg(QUEUE).query_async(&mut connection).await?;
    Ok(json!({"type": "redis", "name": "queue", "targetValue": PER_REPLICA, "redis": redis}))
}

async fn redis_connection(url: &reqwest::Url) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let what = || format!("cannot connect to Redis at {}", redact(url));
    let hint = "\nhint: start one (redis-server) or leave out --redis for the built-in HTTP metric";
    let client = redis::Client::open(url.as_str()).with_context(what)?;
    tokio::time::timeout(Duration::from_secs(5), client.get_multiplexed_async_connection())
        .await
        .map_err(|_| anyhow::anyhow!("{}: no answer within 5s{hint}", what()))?
        .map_err(|e| anyhow::anyhow!("{}: {e}{hint}", what()))
}

/// Keep the list as long as the wave says: push what is missing, pop what is too much.
async fn drive_redis(url: reqwest::Url, wave: Wave) {
    let Ok(mut connection) = redis_connection(&url).await else { return };
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let want = wave.now().round() as i64;
        let Ok(have) = redis::cmd("LLEN").arg(QUEUE).query_async::<i64>(&mut connection).await else {
            continue;
        };
        let result = if want > have {
            let items: Vec<String> = (have..want).map(|i| format!("job-{i}")).collect();
            redis::cmd("RPUSH").arg(QUEUE).arg(items).query_async::<()>(&mut connection).await
        } else if have > want {
            redis::cmd("LTRIM").arg(QUEUE).arg(have - want).arg(-1).query_async::<()>(&mut connection).await
        } else {
            Ok(())
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "the demo load generator could not update the Redis list");
        }
    }
}

async fn clear_queue(url: &reqwest::Url) {
    if let Ok(mut connection) = redis_connection(url).await {
        let _ = redis::cmd("DEL").arg(QUEUE).query_async::<()>(&mut connection).await;
    }
}

/// The URL without its password.
fn redact(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

/// What the view shows and what the summary counts.
struct View {
    tty: bool,
    duration: Option<Duration>,
    wave: Wave,
    /// (load, desired replicas) every sample, newest last, for the sparklines.
    samples: VecDeque<(f64, i32)>,
    replicas: Option<i32>,
    ready: i32,
    peak: i32,
    ups: usize,
    downs: usize,
    lowest_load: f64,
    highest_load: f64,
    decisions: Vec<DecisionRecord>,
    printed: usize,
    drawn_lines: usize,
    ticks: u64,
    started: jiff::Timestamp,
    last_plain: Option<(Instant, i32, i32)>,
}

impl View {
    fn new(tty: bool, duration: Option<Duration>, wave: Wave) -> Self {
        View {
            tty,
            duration,
            wave,
            samples: VecDeque::new(),
            replicas: None,
            ready: 0,
            peak: 0,
            ups: 0,
            downs: 0,
            lowest_load: f64::INFINITY,
            highest_load: 0.0,
            decisions: Vec::new(),
            printed: 0,
            drawn_lines: 0,
            ticks: 0,
            started: jiff::Timestamp::now(),
            last_plain: None,
        }
    }

    /// Read the Deployment and the scaler's status (a failed read keeps the last sample).
    async fn sample(&mut self, client: &kube::Client) {
        let load = self.wave.now();
        self.lowest_load = self.lowest_load.min(load);
        self.highest_load = self.highest_load.max(load);
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
        if let Ok(deployment) = deployments.get(NAME).await {
            let desired = deployment.spec.replicas.unwrap_or(1);
            self.ready = deployment.status.and_then(|s| s.ready_replicas).unwrap_or(0);
            match self.replicas {
                Some(before) if desired > before => self.ups += 1,
                Some(before) if desired < before => self.downs += 1,
                _ => {}
            }
            self.replicas = Some(desired);
            self.peak = self.peak.max(desired);
        }
        let scalers: Api<GeneralScaler> = Api::namespaced(client.clone(), NAMESPACE);
        if let Ok(status) = scalers.get(NAME).await.map(|s| s.status.unwrap_or_default()) {
            for record in status.recent_decisions {
                if self.decisions.last().is_none_or(|last| record.time > last.time) {
                    self.decisions.push(record);
                }
            }
        }
        // The sparklines keep one sample a second: 40 columns cover a whole default wave.
        if self.ticks.is_multiple_of(4) || self.samples.is_empty() {
            self.samples.push_back((load, self.replicas.unwrap_or(0)));
        } else if let Some(last) = self.samples.back_mut() {
            *last = (load, self.replicas.unwrap_or(0));
        }
        self.ticks += 1;
        if self.samples.len() > 40 {
            self.samples.pop_front();
        }
    }

    fn elapsed(&self) -> f64 {
        self.wave.start.elapsed().as_secs_f64()
    }

    fn draw(&mut self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        if self.tty { self.draw_in_place(out) } else { self.draw_lines(out) }
    }

    /// One line per decision, and one when replicas or readiness change (at most every 2 s).
    fn draw_lines(&mut self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        let (load, replicas) = self.samples.back().copied().unwrap_or_default();
        for record in &self.decisions[self.printed..] {
            let verb = if record.to > record.from { "scale up" } else { "scale down" };
            writeln!(
                out,
                "[{:6.1}s] {verb} {} -> {}: {}",
                self.elapsed(),
                record.from,
                record.to,
                reason(record)
            )?;
        }
        self.printed = self.decisions.len();
        let changed = self.last_plain.is_none_or(|(at, r, ready)| {
            (r, ready) != (replicas, self.ready) || at.elapsed() >= Duration::from_secs(5)
        });
        if changed && self.last_plain.is_none_or(|(at, ..)| at.elapsed() >= Duration::from_secs(2)) {
            writeln!(
                out,
                "[{:6.1}s] load {load:5.1}  replicas {replicas} ({} ready)",
                self.elapsed(),
                self.ready
            )?;
            self.last_plain = Some((Instant::now(), replicas, self.ready));
        }
        out.flush()
    }

    fn draw_in_place(&mut self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        let (load, replicas) = self.samples.back().copied().unwrap_or_default();
        let mut text = String::new();
        if self.drawn_lines > 0 {
            // Back to the first line of the last frame, and clear it all.
            let _ = write!(text, "\x1b[{}F\x1b[J", self.drawn_lines);
        }
        let until = self
            .duration
            .map_or_else(|| "Ctrl-C to stop".to_string(), |d| format!("of {}s, Ctrl-C to stop", d.as_secs()));
        let _ = writeln!(text, "{:.0}s {until}", self.elapsed());
        let loads: Vec<f64> = self.samples.iter().map(|s| s.0).collect();
        let counts: Vec<f64> = self.samples.iter().map(|s| f64::from(s.1)).collect();
        let _ =
            writeln!(text, "load      {}  {load:.0} (target {PER_REPLICA} a replica)", spark(&loads, HIGH));
        let _ = writeln!(
            text,
            "replicas  {}  {replicas} ({} ready), max {MAX_REPLICAS}",
            spark(&counts, f64::from(MAX_REPLICAS)),
            self.ready
        );
        let _ = writeln!(text, "decisions ({} up, {} down):", self.ups, self.downs);
        let recent = &self.decisions[self.decisions.len().saturating_sub(5)..];
        if recent.is_empty() {
            let _ = writeln!(text, "  (none yet: waiting for the load to move)");
        }
        for record in recent {
            let reason: String = reason(record).chars().take(58).collect();
            let at = record.time.duration_since(self.started).as_secs_f64();
            let _ = writeln!(text, "  {at:5.1}s {:>2} -> {:<2} {reason}", record.from, record.to);
        }
        self.drawn_lines = text.lines().count();
        out.write_all(text.as_bytes())?;
        out.flush()
    }

    /// The closing paragraph: what the load did and how gscale followed it.
    fn finish(&mut self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        if !self.tty {
            self.draw_lines(out)?;
        }
        let last = self.replicas.unwrap_or(1);
        let low = if self.lowest_load.is_finite() { self.lowest_load } else { LOW };
        writeln!(
            out,
            "\ndemo finished after {:.0}s. The load moved between {low:.0} and {:.0} (target {PER_REPLICA} per replica); \
             gscale made {} scale events ({} up, {} down), from 1 to a peak of {} replicas, ending at {last}. \
             Every decision and its reason is in the scaler's status (kubectl describe gsc {NAME} while the demo runs). \
             On a real cluster: gscale install-crd, kubectl apply -f examples/custom-metric/, then gscale run.",
            self.elapsed(),
            self.highest_load,
            self.ups + self.downs,
            self.ups,
            self.downs,
            self.peak.max(1),
        )?;
        out.flush()
    }
}

/// The reason without the `scale 2 -> 5: ` the view already shows.
fn reason(record: &DecisionRecord) -> &str {
    let prefix = format!("scale {} -> {}: ", record.from, record.to);
    record.reason.strip_prefix(prefix.as_str()).unwrap_or(&record.reason)
}

/// A sparkline of `values` scaled to `max`.
fn spark(values: &[f64], max: f64) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let line: String =
        values.iter().map(|v| BARS[((v / max).clamp(0.0, 1.0) * 7.0).round() as usize]).collect();
    format!("{line:<40}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wave_rises_to_the_peak_and_falls_back() {
        let wave = Wave { start: Instant::now(), period: Duration::from_secs(40) };
        assert!((wave.at(Duration::ZERO) - LOW).abs() < 1e-9);
        assert!((wave.at(Duration::from_secs(20)) - HIGH).abs() < 1e-9);
        assert!((wave.at(Duration::from_secs(40)) - LOW).abs() < 1e-9);
        assert!(wave.at(Duration::from_secs(10)) > LOW && wave.at(Duration::from_secs(10)) < HIGH);
    }

    #[test]
    fn on_a_terminal_each_frame_replaces_the_last() {
        let wave = Wave { start: Instant::now(), period: Duration::from_secs(40) };
        let mut view = View::new(true, Some(Duration::from_secs(60)), wave);
        view.samples.push_back((30.0, 3));
        view.decisions.push(DecisionRecord {
            time: jiff::Timestamp::now(),
            from: 1,
            to: 3,
            reason: "scale 1 -> 3: load 30 / target 10 = 3 -> 3".into(),
        });
        let mut first = Vec::new();
        view.draw(&mut first).unwrap();
        let first = String::from_utf8(first).unwrap();
        assert!(!first.contains('\x1b'), "nothing to erase yet:\n{first}");
        assert!(first.contains("1 -> 3  load 30 / target 10 = 3 -> 3"), "{first}");
        let mut second = Vec::new();
        view.draw(&mut second).unwrap();
        let second = String::from_utf8(second).unwrap();
        assert!(second.starts_with(&format!("\x1b[{}F\x1b[J", first.lines().count())), "{second:?}");
        assert!(first.lines().all(|l| l.chars().count() <= 80), "fits 80 columns:\n{first}");
    }

    #[test]
    fn a_password_never_shows() {
        let url = reqwest::Url::parse("redis://user:hunter2@127.0.0.1:6379/0").unwrap();
        assert!(!redact(&url).contains("hunter2"));
    }
}
