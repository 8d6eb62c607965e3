//! A real `prometheus` on a free loopback port scraping one target every second, in a temp dir,
//! killed on drop. `start` returns once the first scrape of the target has landed.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::{Process, TempDir, free_port, require, wait_for};

/// A running Prometheus.
pub struct PrometheusServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its port.
    pub port: u16,
    process: Process,
    dir: TempDir,
}

fn get(url: &str) -> Option<String> {
    super::http_request("GET", url, None).filter(|(status, _)| *status == 200).map(|(_, body)| body)
}

impl PrometheusServer {
    /// The server's own `/metrics` text.
    pub fn own_metrics(&self) -> String {
        get(&format!("{}/metrics", self.url)).unwrap_or_default()
    }

    /// How many instant queries (`/api/v1/query`) the server has answered, from its own
    /// `prometheus_http_requests_total` (read from `/metrics`, which is not a query itself).
    pub fn instant_queries(&self) -> u64 {
        self.requests_to("/api/v1/query")
    }

    /// How many range queries (`/api/v1/query_range`) the server has answered.
    pub fn range_queries(&self) -> u64 {
        self.requests_to("/api/v1/query_range")
    }

    fn requests_to(&self, handler: &str) -> u64 {
        let label = format!("handler=\"{handler}\"");
        self.own_metrics()
            .lines()
            .filter(|line| line.starts_with("prometheus_http_requests_total{") && line.contains(&label))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// Wait until an instant query of `query` returns `want` (for a changed exporter value).
    pub fn wait_value(&self, query: &str, want: f64, deadline: Duration) {
        let url = format!("{}/api/v1/query?query={}", self.url, encode(query));
        wait_for(&format!("prometheus to see {query} = {want}"), deadline, || {
            get(&url).is_some_and(|body| body.contains(&format!("\"{want}\"]")))
        });
    }
}

/// Percent-encode a query string value.
pub fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Start Prometheus scraping `scrape_target` (`127.0.0.1:PORT`, path `/metrics`) every second as job
/// `exporter`; returns after the first scrape landed. None when prometheus is missing outside CI.
pub fn start(scrape_target: &str) -> Option<PrometheusServer> {
    start_with_history(scrape_target, &[])
}

/// [`start`], with the past of one series already stored: `(name{labels}, unix seconds, value)`
/// samples written into the server's storage by `promtool tsdb create-blocks-from openmetrics`,
/// as an operator backfills one.
pub fn start_with_history(scrape_target: &str, history: &[(String, i64, f64)]) -> Option<PrometheusServer> {
    let binary = require("prometheus", "prometheus tests")?;
    let dir = TempDir::new("prometheus");
    if !history.is_empty() {
        let promtool = require("promtool", "prometheus tests with a history")?;
        let mut text = String::new();
        for (series, at, value) in history {
            text.push_str(&format!("{series} {value} {at}\n"));
        }
        text.push_str("# EOF\n");
        let input = dir.path().join("history.om");
        std::fs::write(&input, text).unwrap();
        let out = Command::new(promtool)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&input)
            .arg(dir.path().join("data"))
            .output()
            .expect("run promtool");
        assert!(out.status.success(), "promtool: {}", String::from_utf8_lossy(&out.stderr));
    }
    let port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: exporter\n    static_configs:\n      - targets: ['{scrape_target}']\n"
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let log = dir.path().join("prometheus.log");
    let child = Command::new(binary)
        .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn prometheus");
    let mut process = Process::new("prometheus", child);
    let url = format!("http://127.0.0.1:{port}");
    wait_for("prometheus to be ready", Duration::from_secs(60), || {
        process.assert_running(&log);
        get(&format!("{url}/-/ready")).is_some()
    });
    let up = format!("{url}/api/v1/query?query={}", encode("up{job=\"exporter\"}"));
    wait_for("the first scrape of the exporter", Duration::from_secs(60), || {
        get(&up).is_some_and(|body| body.contains("\"1\"]"))
    });
    Some(PrometheusServer { url, port, process, dir })
}

/// An exporter serving gauges in the Prometheus text format on `/metrics`; values change with [`Exporter::set`].
pub struct Exporter {
    /// The HTTP server; `server.addr` is the scrape target.
    pub server: super::http::HttpServer,
    values: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, String>>>,
}

impl Exporter {
    /// Start an exporter with these series (`name` or `name{label="v"}`) and values (as written:
    /// `42`, `NaN`, `-5`).
    pub fn start(series: &[(&str, &str)]) -> Self {
        let values: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, String>>> =
            std::sync::Arc::new(std::sync::Mutex::new(
                series.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ));
        let shared = values.clone();
        let server = super::http::serve(move |_| {
            let body: String =
                shared.lock().unwrap().iter().map(|(series, value)| format!("{series} {value}\n")).collect();
            super::http::Response::text(200, "text/plain; version=0.0.4", body)
        });
        Self { server, values }
    }

    /// An exporter of one series whose value is worked out at each scrape (a load that follows
    /// the clock); `set` does not apply to it.
    pub fn computed(series: &str, value: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        let series = series.to_owned();
        let server = super::http::serve(move |_| {
            super::http::Response::text(200, "text/plain; version=0.0.4", format!("{series} {}\n", value()))
        });
        Self { server, values: Default::default() }
    }

    /// `127.0.0.1:PORT`, for [`start`].
    pub fn target(&self) -> String {
        self.server.addr.to_string()
    }

    /// Set a series' value.
    pub fn set(&self, series: &str, value: impl ToString) {
        self.values.lock().unwrap().insert(series.to_owned(), value.to_string());
    }
}
