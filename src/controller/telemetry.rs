//! The daemon's own Prometheus metrics and its `/healthz` and `/readyz` endpoints.
//!
//! Counters are plain atomics rendered in the text exposition format on each scrape; the metric
//! sources' counters come from the fetcher's own stats. No metrics crate is needed for this.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::api::MetricType;
use crate::metrics::{Fetcher, LATENCY_BUCKETS, SourceStats};

/// What the daemon counts about itself.
#[derive(Default)]
pub struct Telemetry {
    /// Decisions made.
    pub decisions: AtomicU64,
    /// Scale-ups applied.
    pub scaled_up: AtomicU64,
    /// Scale-downs applied.
    pub scaled_down: AtomicU64,
    /// Status writes.
    pub status_writes: AtomicU64,
    /// Reconciles that ended in an error (API failures).
    pub reconcile_errors: AtomicU64,
    /// Whether this daemon leads (or needs no election).
    pub leading: AtomicBool,
    /// Whether the first pass over the scalers is done.
    pub ready: AtomicBool,
    /// How late reconciles start against their tick.
    pub lateness: Histogram,
    replicas: Mutex<BTreeMap<(String, String), (i32, i32)>>,
    /// Per scaler, its decisions in a row with every metric failed (status is not rewritten for it).
    failures: Mutex<BTreeMap<(String, String), u32>>,
}

/// Upper bounds of the lateness histogram, in seconds.
pub const LATENESS_BUCKETS: [f64; 9] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// A Prometheus histogram of durations, lock-free.
#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENESS_BUCKETS.len()],
    count: AtomicU64,
    /// Sum in microseconds.
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Count one observation of `seconds`.
    pub fn observe(&self, seconds: f64) {
        for (bound, bucket) in LATENESS_BUCKETS.iter().zip(&self.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, bucket) in LATENESS_BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", bucket.load(Ordering::Relaxed));
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
    }
}

impl Telemetry {
    /// Record a scaler's current and desired replicas.
    pub fn set_replicas(&self, key: &super::ScalerKey, current: i32, desired: i32) {
        let mut replicas = self.replicas.lock().expect("a poisoned lock means a panic elsewhere");
        match replicas.get_mut(key) {
            Some(entry) => *entry = (current, desired),
            None => {
                replicas.insert(key.clone(), (current, desired));
            }
        }
    }

    /// Record a scaler's decisions in a row with every metric failed; a scaler at 0 is not listed.
    pub fn set_failures(&self, key: &super::ScalerKey, failures: u32) {
        let mut all = self.failures.lock().expect("a poisoned lock means a panic elsewhere");
        match (all.get_mut(key), failures) {
            (Some(entry), 1..) => *entry = failures,
            (Some(_), 0) => {
                all.remove(key);
            }
            (None, 1..) => {
                all.insert(key.clone(), failures);
            }
            (None, 0) => {}
        }
    }

    /// Keep only the scalers that still exist (deleted ones leave no stale gauges behind).
    pub fn retain(&self, live: &std::collections::HashSet<super::ScalerKey>) {
        self.replicas
            .lock()
            .expect("a poisoned lock means a panic elsewhere")
            .retain(|key, _| live.contains(key));
        self.failures
            .lock()
            .expect("a poisoned lock means a panic elsewhere")
            .retain(|key, _| live.contains(key));
    }

    /// The text exposition of every metric.
    pub fn render(&self, fetcher: &Fetcher) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        };
        counter(
            &mut out,
            "gscale_decisions_total",
            "Decisions made.",
            self.decisions.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP gscale_scale_actions_total Scales applied to targets.\n# TYPE gscale_scale_actions_total counter\n\
             gscale_scale_actions_total{{direction=\"up\"}} {}\ngscale_scale_actions_total{{direction=\"down\"}} {}",
            self.scaled_up.load(Ordering::Relaxed),
            self.scaled_down.load(Ordering::Relaxed)
        );
        counter(
            &mut out,
            "gscale_status_writes_total",
            "Status writes.",
            self.status_writes.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "gscale_reconcile_errors_total",
            "Reconciles that failed on the Kubernetes API.",
            self.reconcile_errors.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP gscale_leader Whether this daemon is acting (leads its Lease).\n# TYPE gscale_leader gauge\ngscale_leader {}",
            u8::from(self.leading.load(Ordering::Relaxed))
        );

        self.lateness.render(
            &mut out,
            "gscale_reconcile_lateness_seconds",
            "How late a scheduled reconcile started against its tick.",
        );

        let stats = fetcher.stats();
        type Counter = fn(&SourceStats) -> u64;
        let per_source: [(&str, &str, Counter); 4] = [
            ("gscale_metric_fetches_total", "Metric readings asked for.", |s| s.fetches),
            ("gscale_metric_queries_total", "Queries sent to metric backends.", |s| s.queries),
            ("gscale_metric_fetch_errors_total", "Metric readings that failed.", |s| s.errors),
            (
                "gscale_metric_dedup_hits_total",
                "Readings shared with an identical query of the same interval.",
                |s| s.dedup_hits,
            ),
        ];
        for (name, help, get) in per_source {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for kind in MetricType::ALL {
                let _ = writeln!(out, "{name}{{source=\"{}\"}} {}", kind.as_str(), get(stats.of(kind)));
            }
        }
        let name = "gscale_metric_fetch_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Time to read one metric.\n# TYPE {name} histogram");
        for kind in MetricType::ALL {
            let s = stats.of(kind);
            let source = kind.as_str();
            // The fetcher's buckets are already cumulative.
            for (le, count) in LATENCY_BUCKETS.iter().zip(s.latency_buckets) {
                let _ = writeln!(out, "{name}_bucket{{source=\"{source}\",le=\"{le}\"}} {count}");
            }
            let _ = writeln!(out, "{name}_bucket{{source=\"{source}\",le=\"+Inf\"}} {}", s.fetches);
            let _ = writeln!(out, "{name}_sum{{source=\"{source}\"}} {}", s.latency_seconds_sum);
            let _ = writeln!(out, "{name}_count{{source=\"{source}\"}} {}", s.fetches);
        }

        let replicas = self.replicas.lock().expect("a poisoned lock means a panic elsewhere");
        for (name, help, pick) in [
            ("gscale_scaler_current_replicas", "The target's replicas as last observed.", 0),
            ("gscale_scaler_desired_replicas", "The replicas the last decision asked for.", 1),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for ((ns, scaler), (current, desired)) in replicas.iter() {
                let value = if pick == 0 { current } else { desired };
                let _ = writeln!(out, "{name}{{namespace=\"{ns}\",scaler=\"{scaler}\"}} {value}");
            }
        }
        drop(replicas);
        let name = "gscale_scaler_metric_failures";
        let _ = writeln!(
            out,
            "# HELP {name} Decisions in a row whose every metric failed (scalers failing now only).\n# TYPE {name} gauge"
        );
        for ((ns, scaler), failures) in
            self.failures.lock().expect("a poisoned lock means a panic elsewhere").iter()
        {
            let _ = writeln!(out, "{name}{{namespace=\"{ns}\",scaler=\"{scaler}\"}} {failures}");
        }
        out
    }
}

/// Serve `/metrics`, `/healthz` and `/readyz` on `addr` until the task is dropped.
pub async fn serve(addr: SocketAddr, telemetry: Arc<Telemetry>, fetcher: Fetcher) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    loop {
        let (stream, _) = listener.accept().await?;
        let telemetry = telemetry.clone();
        let fetcher = fetcher.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let response = respond(req.uri().path(), &telemetry, &fetcher);
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn respond(path: &str, telemetry: &Telemetry, fetcher: &Fetcher) -> Response<Full<Bytes>> {
    let (status, body, content_type) = match path {
        "/metrics" => (StatusCode::OK, telemetry.render(fetcher), "text/plain; version=0.0.4"),
        "/healthz" => (StatusCode::OK, "ok\n".to_string(), "text/plain"),
        "/readyz" if telemetry.ready.load(Ordering::Relaxed) => {
            (StatusCode::OK, "ready\n".to_string(), "text/plain")
        }
        "/readyz" => {
            (StatusCode::SERVICE_UNAVAILABLE, "not ready: caches syncing\n".to_string(), "text/plain")
        }
        _ => (StatusCode::NOT_FOUND, "try /metrics, /healthz or /readyz\n".to_string(), "text/plain"),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    response
}
