//! `gscale run` against hostile metric backends: a Redis server answering 100 MB (a bulk string,
//! an array of a hundred million integers, an endless line, nesting without end), backends whose
//! error replies and labels carry words that must never be shown, and a daemon whose environment
//! names a proxy. The real binary, the sandbox API, and servers of the test's own on loopback.

mod common;

use std::time::Duration;

use common::cluster::{Cluster, Load, eventually};
use common::http::{Response, serve};
use common::resp::{Reply, RespServer};
use serde_json::json;

const SECONDS: fn(u64) -> Duration = Duration::from_secs;

/// 100 MB, what the hostile servers answer.
const HUGE: u64 = 100 * 1024 * 1024;

fn spec(target: &str, metric: serde_json::Value) -> serde_json::Value {
    json!({"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
           "maxReplicas": 10, "syncIntervalSeconds": 2, "metric": metric})
}

fn redis_metric(server: &RespServer, key: &str) -> serde_json::Value {
    json!({"type": "redis", "targetValue": 10, "redis": {"host": server.host, "port": server.port, "queueName": key}})
}

/// What the hostile Redis answers: `TYPE` says list; `LLEN` of each key is one of the attacks.
fn hostile(command: &[String]) -> Reply {
    let word = |i: usize| command.get(i).map(String::as_str).unwrap_or("");
    match (word(0).to_ascii_uppercase().as_str(), word(1)) {
        ("TYPE", _) => Reply::simple("list"),
        ("LLEN", "bulk") => Reply::Stream {
            head: format!("${HUGE}\r\n").into_bytes(),
            fill: b"x".to_vec(),
            times: HUGE,
            tail: b"\r\n".to_vec(),
        },
        ("LLEN", "array") => Reply::Stream {
            head: format!("*{}\r\n", HUGE / 4).into_bytes(),
            fill: b":1\r\n".to_vec(),
            times: HUGE / 4,
            tail: Vec::new(),
        },
        ("LLEN", "line") => {
            Reply::Stream { head: b"+".to_vec(), fill: b"x".to_vec(), times: HUGE, tail: b"\r\n".to_vec() }
        }
        ("LLEN", "nested") => Reply::Stream {
            head: Vec::new(),
            fill: b"*1\r\n".to_vec(),
            times: HUGE / 4,
            tail: b":1\r\n".to_vec(),
        },
        ("LLEN", "error") => Reply::Raw(b"-ERR SECRET-WORDS-REDIS the server's own text\r\n".to_vec()),
        ("LLEN", _) => Reply::Raw(b":20\r\n".to_vec()),
        _ => Reply::simple("OK"),
    }
}

/// Four attacks at once, each repeated at every tick: the daemon reads at most the 1 MiB cap of any
/// reply, says so in status, and its peak RSS stays under 64 MiB (it was 664 MB for one 100 MB
/// bulk string, 1.45 GB for the array, before replies were capped under the redis crate's parser).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_redis_answering_100_mb_cannot_make_the_daemon_hold_it() {
    let cluster = Cluster::start().await;
    let server = RespServer::start(hostile);
    let attacks = ["bulk", "array", "line", "nested"];
    for key in attacks.into_iter().chain(["calm"]) {
        cluster.deployment(key, 1).await;
        cluster.apply_scaler(key, spec(key, redis_metric(&server, key))).await;
    }
    let daemon = cluster.daemon("d", &["--no-leader-election"]);
    eventually("the calm scaler at 2 replicas", SECONDS(20), || async {
        cluster.replicas("calm").await == 2
    })
    .await;
    for key in attacks {
        eventually(&format!("{key}: the metric refused"), SECONDS(20), || async {
            cluster.condition(key, "MetricsAvailable").await.is_some_and(|c| c.0 == "False")
        })
        .await;
    }
    // Several ticks of every attack, each on a new connection.
    let llen =
        |server: &RespServer| server.commands().iter().filter(|c| c[0].eq_ignore_ascii_case("LLEN")).count();
    let before = llen(&server);
    eventually("three more ticks of the attacks", SECONDS(30), || async { llen(&server) >= before + 3 * 5 })
        .await;

    let peak_kib = daemon.peak_rss_kib();
    eprintln!("daemon peak RSS {} KiB; the hostile server wrote {} bytes", peak_kib, server.written());
    assert!(peak_kib > 0, "the daemon's /proc status was read");
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB is not under 64 MiB");
    for key in ["bulk", "array", "line"] {
        let (_, reason, message) = cluster.condition(key, "MetricsAvailable").await.unwrap();
        assert_eq!(reason, "MetricUnavailable");
        assert!(message.contains("reply larger than 1 MiB"), "{key}: {message}");
    }
    let (_, _, nested) = cluster.condition("nested", "MetricsAvailable").await.unwrap();
    assert!(nested.contains("a reply nested too deep"), "{nested}");
    assert_eq!(cluster.replicas("calm").await, 2, "the same server's calm key still reads");
}

/// `gscale` run to its exit against the cluster; its stdout and stderr together.
async fn gscale(cluster: &Cluster, args: &[&str]) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_gscale"))
        .args(args)
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .output()
        .await
        .unwrap();
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Backends whose replies carry words: a Prometheus error's text, an ambiguous reply's labels, a
/// Redis error reply, an HTTP error page. Status, Events, `plan`, `status -o yaml` and the daemon's
/// log (at debug) say what failed by code, kind and size, and never repeat a word of theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backends_words_never_reach_status_events_plan_or_logs() {
    const WORDS: &str = "SECRET-WORDS";
    let prometheus = serve(|request| match request.path() {
        "/err/api/v1/query" => Response::json(
            400,
            &json!({"status": "error", "errorType": "bad_data", "error": format!("{WORDS} in an error text")}),
        ),
        "/ambiguous/api/v1/query" => Response::json(
            200,
            &json!({"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {"job": format!("{WORDS}-a")}, "value": [1, "1"]},
                {"metric": {"job": format!("{WORDS}-b")}, "value": [1, "2"]}]}}),
        ),
        _ => Response::text(500, "text/html", format!("<h1>{WORDS} on an error page</h1>")),
    });
    let redis = RespServer::start(hostile);
    let prometheus_metric = |base: &str| {
        json!({"type": "prometheus", "targetValue": 1,
               "prometheus": {"serverUrl": format!("{}/{base}", prometheus.url), "query": "sum(up)"}})
    };
    let cluster = Cluster::start().await;
    let scalers = [
        (
            "perr",
            prometheus_metric("err"),
            "prometheus error bad_data (its message, 29 bytes, not shown), http 400",
        ),
        ("pamb", prometheus_metric("ambiguous"), "2 series where one is expected"),
        ("rerr", redis_metric(&redis, "error"), "redis error ERR (its message, 40 bytes, not shown)"),
        (
            "herr",
            json!({"type": "http", "targetValue": 1, "http": {"url": format!("{}/page", prometheus.url)}}),
            "http 500 Internal Server Error (text/html",
        ),
    ];
    for (name, metric, _) in &scalers {
        cluster.deployment(name, 1).await;
        cluster.apply_scaler(name, spec(name, metric.clone())).await;
    }
    let daemon = cluster.daemon("d", &["--no-leader-election"]);
    for (name, _, says) in &scalers {
        eventually(&format!("{name}: the failure in status"), SECONDS(20), || async {
            cluster.condition(name, "MetricsAvailable").await.is_some_and(|c| c.0 == "False")
        })
        .await;
        let (_, _, message) = cluster.condition(name, "MetricsAvailable").await.unwrap();
        assert!(message.contains(says), "{name} says what failed: {message}");
    }
    let mut seen = vec![("log".to_string(), daemon.log())];
    for (name, _, _) in &scalers {
        let status = serde_json::to_string(&cluster.scaler(name).await).unwrap();
        let events = serde_json::to_string(&cluster.events(name).await).unwrap();
        assert!(events.contains("MetricUnavailable"), "{name}: {events}");
        seen.push((format!("{name} status"), status));
        seen.push((format!("{name} events"), events));
        seen.push((format!("{name} plan"), gscale(&cluster, &["plan", name]).await));
        seen.push((format!("{name} plan -o yaml"), gscale(&cluster, &["plan", name, "-o", "yaml"]).await));
        seen.push((
            format!("{name} status -o yaml"),
            gscale(&cluster, &["status", name, "-o", "yaml"]).await,
        ));
    }
    seen.push(("status".into(), gscale(&cluster, &["status", "-o", "wide"]).await));
    for (what, text) in seen {
        assert!(!text.contains(WORDS), "{what} repeats a backend's words:\n{text}");
    }
}

/// `HTTP_PROXY` in the daemon's environment: metric requests ignore it, so a denied host (127.0.0.1
/// here, a metadata host name always) is refused and no request reaches the proxy. With
/// `--metric-proxy-from-environment` requests go through it, and the host policy still refuses the
/// denied hosts before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environments_proxy_is_not_taken_and_a_denied_host_is_never_reached() {
    let proxied: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let log = proxied.clone();
    let proxy = serve(move |request| {
        log.lock().unwrap().push(format!("{} {}", request.header("host").unwrap_or(""), request.target));
        Response::json(200, &json!({"value": 400}))
    });
    let load = Load::new(400.0);
    let cluster = Cluster::start().await;
    let http = |url: String| {
        json!({"type": "http", "targetValue": 50, "targetType": "AverageValue",
                                    "http": {"url": url, "valuePath": "$.value"}})
    };
    let scalers = [
        ("local", http(load.url())),
        ("metadata", http("http://metadata.google.internal/computeMetadata/v1/instance".into())),
        ("elsewhere", http("http://metrics.gscale-test.invalid/metric".into())),
    ];
    for (name, metric) in &scalers {
        cluster.deployment(name, 1).await;
        cluster.apply_scaler(name, spec(name, metric.clone())).await;
    }
    let env = [("HTTP_PROXY", proxy.url.as_str()), ("http_proxy", proxy.url.as_str())];
    let deny = ["--no-leader-election", "--deny-metric-host", "127.0.0.1"];
    let denied = |name: &'static str| {
        let cluster = &cluster;
        async move {
            let (status, _, message) = cluster.condition(name, "MetricsAvailable").await.unwrap_or_default();
            status == "False" && message.contains("may not be reached")
        }
    };

    let mut daemon = cluster.daemon_with_env("plain", &deny, &env);
    for name in ["local", "metadata"] {
        eventually(&format!("{name} refused by the host policy"), SECONDS(20), || denied(name)).await;
    }
    eventually("elsewhere unreachable without the proxy", SECONDS(20), || async {
        cluster.condition("elsewhere", "MetricsAvailable").await.is_some_and(|c| c.0 == "False")
    })
    .await;
    daemon.terminate(SECONDS(15));
    assert!(
        proxied.lock().unwrap().is_empty(),
        "nothing went through the proxy: {:?}",
        proxied.lock().unwrap()
    );
    assert!(load.fetches().is_empty(), "the denied host was never reached");

    let flags = [&deny[..], &["--metric-proxy-from-environment"]].concat();
    let _daemon = cluster.daemon_with_env("proxied", &flags, &env);
    eventually("elsewhere read through the proxy", SECONDS(20), || async {
        cluster.replicas("elsewhere").await == 8
    })
    .await;
    eventually("two more readings through the proxy", SECONDS(20), || async {
        proxied.lock().unwrap().len() >= 3
    })
    .await;
    let through = proxied.lock().unwrap().clone();
    assert!(
        through.iter().all(|r| r.starts_with("metrics.gscale-test.invalid")),
        "only the allowed host went through the proxy: {through:?}"
    );
    assert!(denied("local").await && denied("metadata").await, "still refused with a proxy");
    assert!(load.fetches().is_empty(), "the denied host was never reached, through the proxy or not");
}

/// A hostile Kafka "broker" of the test's own (raw frames on a socket): one answers every request
/// with a size prefix of 100 MB, another speaks the protocol but puts words in its error messages
/// and advertises a coordinator whose name is words (denied by the host policy). The daemon refuses
/// the huge reply by its size prefix (reading none of it), names the failures by Kafka error code
/// and broker node, and never repeats the broker's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_kafka_broker_is_refused_by_size_and_its_words_never_shown() {
    const WORDS: &str = "SECRET-WORDS";
    /// A Kafka string (i16 length).
    fn string(out: &mut Vec<u8>, text: &str) {
        out.extend((text.len() as i16).to_be_bytes());
        out.extend(text.as_bytes());
    }
    /// The reply to one request, by API key: ApiVersions v0, FindCoordinator v1 (mode decides).
    fn reply(api_key: i16, mode: &str) -> Vec<u8> {
        let mut body = Vec::new();
        match api_key {
            18 => {
                body.extend(0i16.to_be_bytes());
                let apis: [(i16, i16, i16); 5] = [(18, 0, 0), (3, 1, 1), (10, 1, 1), (9, 1, 1), (2, 1, 1)];
                body.extend((apis.len() as i32).to_be_bytes());
                for (key, low, high) in apis {
                    body.extend(key.to_be_bytes());
                    body.extend(low.to_be_bytes());
                    body.extend(high.to_be_bytes());
                }
            }
            3 => {
                // Metadata v1: broker 1 at a name of words, topic `t` with partition 0 led by it.
                body.extend(1i32.to_be_bytes());
                body.extend(1i32.to_be_bytes());
                string(&mut body, &format!("{WORDS}.example"));
                body.extend(9092i32.to_be_bytes());
                body.extend((-1i16).to_be_bytes());
                body.extend(1i32.to_be_bytes());
                body.extend(1i32.to_be_bytes());
                body.extend(0i16.to_be_bytes());
                string(&mut body, "t");
                body.push(0);
                body.extend(1i32.to_be_bytes());
                body.extend(0i16.to_be_bytes());
                body.extend(0i32.to_be_bytes());
                body.extend(1i32.to_be_bytes());
                body.extend(0i32.to_be_bytes());
                body.extend(0i32.to_be_bytes());
            }
            10 => {
                // FindCoordinator v1: refused with words, or a coordinator whose name is words.
                body.extend(0i32.to_be_bytes());
                if mode == "refuse" {
                    body.extend(15i16.to_be_bytes());
                    string(&mut body, &format!("{WORDS} in an error message"));
                    body.extend((-1i32).to_be_bytes());
                    string(&mut body, "");
                    body.extend((-1i32).to_be_bytes());
                } else {
                    body.extend(0i16.to_be_bytes());
                    body.extend((-1i16).to_be_bytes());
                    body.extend(1i32.to_be_bytes());
                    string(&mut body, &format!("{WORDS}.example"));
                    body.extend(9092i32.to_be_bytes());
                }
            }
            _ => {}
        }
        body
    }
    async fn serve(listener: tokio::net::TcpListener, mode: &'static str) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                loop {
                    let Ok(size) = socket.read_i32().await else { return };
                    let mut request = vec![0u8; size.max(0) as usize];
                    if socket.read_exact(&mut request).await.is_err() || request.len() < 8 {
                        return;
                    }
                    let api_key = i16::from_be_bytes([request[0], request[1]]);
                    let correlation = &request[4..8];
                    if mode == "huge" {
                        let _ = socket.write_all(&(100 * 1024 * 1024i32).to_be_bytes()).await;
                        let _ = socket.write_all(correlation).await;
                        let _ = socket.write_all(&vec![b'x'; 64 * 1024]).await;
                        return;
                    }
                    let body = reply(api_key, mode);
                    let mut frame = ((body.len() + 4) as i32).to_be_bytes().to_vec();
                    frame.extend(correlation);
                    frame.extend(body);
                    if socket.write_all(&frame).await.is_err() {
                        return;
                    }
                }
            });
        }
    }
    let cluster = Cluster::start().await;
    let mut scalers = Vec::new();
    for (name, mode, says) in [
        ("khuge", "huge", "reply larger than 1 MiB"),
        ("krefuse", "refuse", "FindCoordinator for the group: CoordinatorNotAvailable (15)"),
        (
            "kname",
            "name",
            "the group's coordinator (broker 1): the address the cluster advertises for it may not be",
        ),
    ] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(serve(listener, mode));
        let metric = json!({"type": "kafka", "targetValue": 10,
            "kafka": {"bootstrapServers": [address], "consumerGroup": "g", "topic": "t"}});
        cluster.deployment(name, 1).await;
        cluster.apply_scaler(name, spec(name, metric)).await;
        scalers.push((name, says));
    }
    // The advertised name is denied by name, so nothing is looked up outside this machine.
    let deny = format!("{WORDS}.example");
    let daemon = cluster.daemon("d", &["--no-leader-election", "--deny-metric-host", &deny]);
    let mut seen = vec![];
    for (name, says) in &scalers {
        eventually(&format!("{name}: the failure in status"), SECONDS(20), || async {
            cluster.condition(name, "MetricsAvailable").await.is_some_and(|c| c.0 == "False")
        })
        .await;
        let (_, _, message) = cluster.condition(name, "MetricsAvailable").await.unwrap();
        assert!(message.contains(says), "{name} says what failed: {message}");
        seen.push((format!("{name} status"), serde_json::to_string(&cluster.scaler(name).await).unwrap()));
        seen.push((format!("{name} events"), serde_json::to_string(&cluster.events(name).await).unwrap()));
        seen.push((format!("{name} plan"), gscale(&cluster, &["plan", name]).await));
    }
    seen.push(("log".to_string(), daemon.log()));
    for (what, text) in seen {
        assert!(!text.contains(WORDS), "{what} repeats the broker's words:\n{text}");
    }
    assert!(daemon.peak_rss_kib() < 64 * 1024, "the 100 MB reply was not read");
}
