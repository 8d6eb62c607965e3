//! `gscale plan` and `gscale status` on the real binary against the sandbox API, with real Redis
//! and Prometheus: plan agrees with what `run --once` then does, status agrees with
//! `kubectl get gsc`, `--watch` under a pseudo-terminal, `--replay` over Prometheus history, and
//! the output at 80 columns against committed snapshots.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::cluster::{Cluster, Load};
use gscale::api::GeneralScaler;
use jiff::{SignedDuration, Timestamp};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gscale");

fn gscale(cluster: &Cluster, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Compare with `tests/snapshots/NAME`; `UPDATE_SNAPSHOTS=1` (or a missing file) writes it.
fn assert_snapshot(name: &str, actual: &str) {
    assert_narrow(actual);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() || !path.exists() {
        std::fs::write(&path, actual).unwrap();
        eprintln!("wrote snapshot {}", path.display());
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert!(
        expected == actual,
        "{name} differs from its snapshot (UPDATE_SNAPSHOTS=1 to accept):\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

fn assert_narrow(text: &str) {
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "a line is wider than 80 columns: {line:?}");
    }
}

fn deployment_spec(name: &str, metric: Value) -> Value {
    json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "minReplicas": 1,
        "maxReplicas": 10,
        "metric": metric,
        "behavior": {"scaleUp": {"cooldownSeconds": 0},
                     "scaleDown": {"cooldownSeconds": 0, "stabilizationWindowSeconds": 0}}
    })
}

/// One case: a Deployment at `before` replicas, a scaler, optionally a memory in status.
struct Scenario {
    name: &'static str,
    before: i32,
    spec: Value,
    history: Option<Value>,
    /// The stage expected to explain the verdict (its `why` must change the count or hold it).
    stage: &'static str,
}

async fn set_history(cluster: &Cluster, name: &str, history: Value) {
    let api: Api<GeneralScaler> = Api::namespaced(cluster.client.clone(), "default");
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(json!({"status": {"history": history}})))
        .await
        .unwrap();
}

fn ago(seconds: i64) -> String {
    (Timestamp::now() - SignedDuration::from_secs(seconds)).to_string()
}

/// Every request that was not a read, as `METHOD path`.
fn writes(cluster: &Cluster) -> Vec<String> {
    let requests = cluster.sandbox.requests();
    let writes = requests.iter().filter(|r| !matches!(r.method.as_str(), "GET" | "HEAD"));
    writes.map(|r| format!("{} {}", r.method, r.path)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_agrees_with_run_once_on_every_stage() {
    let cluster = Cluster::start().await;
    let loads: Vec<Load> = Vec::new();
    let mut loads = loads;
    let mut load = |value: f64| {
        loads.push(Load::new(value));
        loads.last().unwrap().metric(10.0)
    };
    let failing = Load::new(0.0);
    failing.fail();

    // Real Redis (a list of 45 items, AverageValue 10 -> 5) and real Prometheus (a per-pod gauge).
    let redis = common::redis::start();
    let exporter = common::prometheus::Exporter::start(&[("per_pod_load", "30")]);
    let prometheus = common::prometheus::start(&exporter.target());

    let mut scenarios = vec![
        Scenario {
            name: "up",
            before: 2,
            spec: deployment_spec("up", load(50.0)),
            history: None,
            stage: "metrics",
        },
        Scenario {
            name: "tolerance",
            before: 5,
            spec: deployment_spec("tolerance", load(52.0)),
            history: None,
            stage: "metrics",
        },
        Scenario {
            name: "failing",
            before: 5,
            spec: deployment_spec("failing", failing.metric(10.0)),
            history: None,
            stage: "metrics",
        },
        Scenario {
            name: "budget",
            before: 4,
            spec: {
                let mut s = deployment_spec("budget", load(80.0));
                s["policy"] =
                    json!({"type": "costAware", "costAware": {"maxMonthlyCost": 1, "costPerPodPerHour": 1}});
                s
            },
            history: None,
            stage: "policy",
        },
        Scenario {
            name: "zero",
            before: 1,
            spec: {
                let mut s = deployment_spec("zero", load(3.0));
                s["minReplicas"] = json!(0);
                s["metric"]["activationValue"] = json!(5);
                s
            },
            history: None,
            stage: "activation",
        },
        Scenario {
            name: "window",
            before: 6,
            spec: {
                let mut s = deployment_spec("window", load(20.0));
                s["behavior"]["scaleDown"]["stabilizationWindowSeconds"] = json!(600);
                s
            },
            history: Some(json!({"recommendations": [{"time": ago(60), "replicas": 6}]})),
            stage: "stabilization",
        },
        Scenario {
            name: "cooldown",
            before: 4,
            spec: {
                let mut s = deployment_spec("cooldown", load(80.0));
                s["behavior"]["scaleUp"]["cooldownSeconds"] = json!(600);
                s
            },
            history: Some(json!({"lastScaleUpTime": ago(60)})),
            stage: "cooldown",
        },
        Scenario {
            name: "limit",
            before: 2,
            spec: {
                let mut s = deployment_spec("limit", load(100.0));
                s["behavior"]["scaleUp"]["maxIncrement"] = json!(3);
                s
            },
            history: None,
            stage: "rate limit",
        },
        Scenario {
            name: "ceiling",
            before: 3,
            spec: deployment_spec("ceiling", load(500.0)),
            history: None,
            stage: "bounds",
        },
        Scenario {
            name: "floor",
            before: 1,
            spec: {
                let mut s = deployment_spec("floor", load(10.0));
                s["minReplicas"] = json!(3);
                s
            },
            history: None,
            stage: "bounds",
        },
        Scenario {
            name: "paused",
            before: 2,
            spec: {
                let mut s = deployment_spec("paused", load(80.0));
                s["paused"] = json!(true);
                s
            },
            history: None,
            stage: "apply",
        },
        Scenario {
            name: "dry",
            before: 2,
            spec: {
                let mut s = deployment_spec("dry", load(80.0));
                s["dryRun"] = json!(true);
                s
            },
            history: None,
            stage: "apply",
        },
    ];
    if let Some(redis) = &redis {
        redis.push("jobs", 45);
        scenarios.push(Scenario {
            name: "redis",
            before: 1,
            spec: deployment_spec(
                "redis",
                json!({"type": "redis", "targetValue": 10,
                       "redis": {"host": "127.0.0.1", "port": redis.port, "queueName": "jobs"}}),
            ),
            history: None,
            stage: "metrics",
        });
    }
    if let Some(prometheus) = &prometheus {
        scenarios.push(Scenario {
            name: "prometheus",
            before: 2,
            spec: deployment_spec(
                "prometheus",
                json!({"type": "prometheus", "targetValue": 10,
                       "prometheus": {"serverUrl": prometheus.url, "query": "max(per_pod_load)"}}),
            ),
            history: None,
            stage: "metrics",
        });
    }
    assert!(scenarios.len() >= 12);

    for s in &scenarios {
        cluster.deployment(s.name, s.before).await;
        cluster.apply_scaler(s.name, s.spec.clone()).await;
        if let Some(history) = &s.history {
            set_history(&cluster, s.name, history.clone()).await;
        }
    }

    let writes_before = writes(&cluster);
    let mut plans = Vec::new();
    for s in &scenarios {
        let out = gscale(&cluster, &["plan", s.name, "-n", "default", "-o", "json"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let plan: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: plan -o json is not JSON ({e}): {stderr}", s.name));
        let apply = plan["apply"].as_bool().unwrap();
        assert_eq!(out.status.code(), Some(if apply { 3 } else { 0 }), "{}: exit code: {plan}", s.name);
        let step = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|st| st["stage"].as_str().unwrap().replace("rateLimit", "rate limit") == s.stage);
        let step = step.unwrap_or_else(|| panic!("{}: no stage {}", s.name, s.stage));
        assert!(
            step["input"] != step["output"] || s.stage == "apply" || plan["desired"] == plan["current"],
            "{}: the {} stage was expected to matter: {plan:#}",
            s.name,
            s.stage
        );
        plans.push(plan);
    }

    // Plan changed nothing: no request but reads reached the API while the plans ran.
    let writes_after = writes(&cluster);
    assert_eq!(writes_after, writes_before, "plan wrote to the cluster");
    let reads = cluster.sandbox.count_requests(|r| r.method == "GET" && r.path.contains("/generalscalers/"));
    assert!(reads >= scenarios.len(), "the request log missed plan's reads ({reads})");

    let out = Command::new(BIN)
        .args(["run", "--once", "--no-leader-election", "--kubeconfig"])
        .arg(cluster.kubeconfig())
        .output()
        .unwrap();
    assert!(out.status.success(), "run --once: {}", String::from_utf8_lossy(&out.stderr));

    for (s, plan) in scenarios.iter().zip(&plans) {
        let after = cluster.replicas(s.name).await;
        let desired = plan["desired"].as_i64().unwrap() as i32;
        let expected = if plan["apply"].as_bool().unwrap() { desired } else { s.before };
        assert_eq!(after, expected, "{}: run --once did not do what plan said: {}", s.name, plan["verdict"]);
        let status = cluster.scaler(s.name).await.status.unwrap();
        assert_eq!(status.desired_replicas, Some(desired), "{}: status desired vs plan", s.name);
        assert_eq!(status.current_replicas, Some(s.before), "{}: status current", s.name);
    }
    // Spot checks that the scenarios mean what their names say.
    let by_name = |n: &str| &plans[scenarios.iter().position(|s| s.name == n).unwrap()];
    assert_eq!(by_name("up")["desired"], 5);
    assert_eq!(by_name("tolerance")["desired"], 5);
    assert_eq!(by_name("failing")["desired"], 5);
    assert_eq!(by_name("zero")["desired"], 0);
    assert_eq!(by_name("window")["desired"], 6);
    assert_eq!(by_name("cooldown")["desired"], 4);
    assert!(
        by_name("cooldown")["verdict"].as_str().unwrap().contains("left"),
        "{}",
        by_name("cooldown")["verdict"]
    );
    assert_eq!(by_name("limit")["desired"], 5);
    assert_eq!(by_name("ceiling")["desired"], 10);
    assert_eq!(by_name("floor")["desired"], 3);
    assert_eq!(by_name("paused")["apply"], false);
    assert_eq!(by_name("dry")["apply"], false);
    if redis.is_some() {
        assert_eq!(by_name("redis")["desired"], 5);
    }
    if prometheus.is_some() {
        assert_eq!(by_name("prometheus")["desired"], 6);
    }

    // kubectl get gsc and gscale status agree on current and desired.
    if let Some(kubectl) = common::require("kubectl", "kubectl get gsc vs gscale status") {
        let out = Command::new(kubectl)
            .args(["get", "gsc", "--no-headers", "-o", "custom-columns=NAME:.metadata.name,CURRENT:.status.currentReplicas,DESIRED:.status.desiredReplicas", "--kubeconfig"])
            .arg(cluster.kubeconfig())
            .output()
            .unwrap();
        assert!(out.status.success(), "kubectl: {}", String::from_utf8_lossy(&out.stderr));
        let kubectl_rows = text(&out);
        let status = text(&gscale(&cluster, &["status", "-o", "wide"]));
        let header = status.lines().next().unwrap();
        let (from, to) = (header.find("REPLICAS").unwrap(), header.find("MIN/MAX").unwrap());
        let mut checked = 0;
        for row in kubectl_rows.lines() {
            let cols: Vec<&str> = row.split_whitespace().collect();
            let want =
                if cols[1] == cols[2] { cols[1].to_string() } else { format!("{} -> {}", cols[1], cols[2]) };
            let line = status.lines().find(|l| l.split_whitespace().next() == Some(cols[0])).unwrap();
            assert_eq!(
                line[from..to].trim(),
                want,
                "{}: kubectl says {row}; gscale status says {line}",
                cols[0]
            );
            checked += 1;
        }
        assert_eq!(checked, scenarios.len());
        // And kubectl's own table (printer columns) shows the same numbers.
        let out = Command::new("kubectl")
            .args(["get", "gsc", "up", "--kubeconfig"])
            .arg(cluster.kubeconfig())
            .output()
            .unwrap();
        let table = text(&out);
        let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
        let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
        let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
        assert_eq!((col("CURRENT"), col("DESIRED")), ("2", "5"), "{table}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_and_status_snapshots_at_80_columns() {
    let cluster = Cluster::start().await;
    let load = Load::new(65.0);
    cluster.deployment("web", 3).await;
    let mut spec = deployment_spec("web", load.metric(10.0));
    spec["behavior"]["scaleUp"]["maxIncrement"] = json!(2);
    cluster.apply_scaler("web", spec).await;

    let out = gscale(&cluster, &["plan", "web"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert_snapshot("plan_web.txt", &text(&out));

    // A manifest not applied, whose target does not exist: planned from --current.
    let dir = common::TempDir::new("plan");
    let file = dir.path().join("api.yaml");
    let manifest = format!(
        "apiVersion: autoscaling.generalscaler.io/v1alpha1\nkind: GeneralScaler\nmetadata:\n  name: api\nspec:\n  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: api}}\n  maxReplicas: 20\n  metric:\n    type: http\n    name: queue\n    targetValue: 10\n    targetType: AverageValue\n    http: {{url: \"{}\", valuePath: $.value, headers: {{Authorization: Bearer s3cr3t-token}}}}\n",
        load.url()
    );
    std::fs::write(&file, manifest).unwrap();
    let out = gscale(&cluster, &["plan", "-f", file.to_str().unwrap(), "--current", "7"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let plan = text(&out).replace(file.to_str().unwrap(), "api.yaml");
    assert!(!plan.contains("s3cr3t"), "a secret leaked: {plan}");
    assert_snapshot("plan_file.txt", &plan);
    let out = gscale(&cluster, &["plan", "-f", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Deployment/api not found") && err.contains("--current N"), "{err}");
    let out = gscale(&cluster, &["plan", "nope"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("generalscaler nope not found in namespace default\nhint:"), "{err}");

    let out = gscale(&cluster, &["plan", "web", "-o", "yaml"]);
    let yaml = text(&out);
    assert!(yaml.contains("verdict: ") && yaml.contains("desired: 5"), "{yaml}");

    // Status before any decision, then after one pass of the daemon.
    let out = gscale(&cluster, &["status"]);
    assert_snapshot("status_before.txt", &text(&out));
    let run = Command::new(BIN)
        .args(["run", "--once", "--no-leader-election", "--kubeconfig"])
        .arg(cluster.kubeconfig())
        .output()
        .unwrap();
    assert!(run.status.success());
    let out = gscale(&cluster, &["status"]);
    assert_narrow(&text(&out));
    assert_snapshot("status_after.txt", &normalize_ages(&text(&out)));
    let out = gscale(&cluster, &["status", "web"]);
    assert_narrow(&text(&out));
    let detail = normalize_ages(&text(&out));
    assert!(detail.contains("desired ") && detail.contains("ScaledUp"), "{detail}");
    assert_snapshot("status_detail.txt", &detail);
    let out = gscale(&cluster, &["status", "-A", "-o", "json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["items"][0]["status"]["desiredReplicas"], 5);
}

/// Ages (`3s ago`, `1m02s ago`) vary with the machine's speed: each becomes `T ago`, and runs of
/// spaces (whose width followed the ages) become two.
fn normalize_ages(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        let mut kept: Vec<String> = Vec::new();
        for (i, word) in words.iter().enumerate() {
            let is_age = words.get(i + 1) == Some(&"ago")
                && word.chars().next().is_some_and(|c| c.is_ascii_digit())
                && word.ends_with(['s', 'm']);
            kept.push(if is_age { "T".to_string() } else { word.to_string() });
        }
        let mut line = kept.join(" ");
        while line.contains("   ") {
            line = line.replace("   ", "  ");
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_watch_redraws_under_a_pty_and_prints_lines_otherwise() {
    let Some(script) = common::require("script", "status --watch under a pty") else { return };
    let script = script.as_path();
    let cluster = Cluster::start().await;
    let load = Load::new(30.0);
    cluster.deployment("app", 3).await;
    cluster.apply_scaler("app", deployment_spec("app", load.metric(10.0))).await;
    let command = format!("{BIN} status --watch --kubeconfig {}", cluster.kubeconfig().display());
    // `script` gives the child a pseudo-terminal; timeout stops the watch after two frames or so.
    let out = Command::new("timeout")
        .args(["-s", "INT", "5"])
        .arg(script)
        .args(["-qfec", &command, "/dev/null"])
        .env("TERM", "xterm")
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.starts_with("\x1b[H\x1b[2J"), "the screen is not cleared first: {screen:?}");
    assert!(screen.matches("\x1b[H").count() >= 2, "redrawn only once in 5s: {screen:?}");
    assert_eq!(screen.matches("\x1b[2J").count(), 1, "later frames should overwrite, not clear: {screen:?}");
    assert!(screen.contains("\x1b[38;5;11mUnknown"), "no colour on a terminal: {screen:?}");
    assert!(screen.contains("app") && screen.contains("Ctrl-C to stop"), "{screen:?}");

    // NO_COLOR on a terminal: no colour.
    let out = Command::new(script)
        .args(["-qfec", &command.replace(" --watch", ""), "/dev/null"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("Unknown") && !screen.contains("\x1b[38"), "{screen:?}");

    // Not a terminal: plain blocks, no escape sequences, a new block only on change.
    let child = Command::new(BIN)
        .args(["status", "--watch", "--kubeconfig"])
        .arg(cluster.kubeconfig())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(4500));
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let out = child.wait_with_output().unwrap();
    let plain = String::from_utf8_lossy(&out.stdout);
    assert!(!plain.contains('\x1b'), "{plain:?}");
    assert_eq!(plain.matches("--- ").count(), 1, "unchanged scalers printed again: {plain}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_over_prometheus_history_equals_stepping_decide() {
    let exporter = common::prometheus::Exporter::start(&[("queue_depth", "40")]);
    let Some(prometheus) = common::prometheus::start(&exporter.target()) else { return };
    let cluster = Cluster::start().await;
    cluster.deployment("worker", 2).await;
    let mut spec = deployment_spec(
        "worker",
        json!({"type": "prometheus", "targetValue": 10, "targetType": "AverageValue",
               "prometheus": {"serverUrl": prometheus.url, "query": "max(queue_depth)"}}),
    );
    spec["policy"] =
        json!({"type": "costAware", "costAware": {"maxMonthlyCost": 100000, "costPerPodPerHour": 0.5}});
    cluster.apply_scaler("worker", spec.clone()).await;
    // Some history with a change in it.
    std::thread::sleep(Duration::from_secs(3));
    exporter.set("queue_depth", 90);
    prometheus.wait_value("max(queue_depth)", 90.0, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(3));

    let dir = common::TempDir::new("replay");
    let svg = dir.path().join("replay.svg");
    let out = gscale(
        &cluster,
        &["plan", "worker", "--replay", "30s", "--step", "1s", "-o", "json", "--plot", svg.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let replay: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ticks = replay["ticks"].as_array().unwrap();
    assert_eq!(ticks.len(), 31);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));

    // The same series stepped through decide by hand gives the same timeline.
    let spec: gscale::api::GeneralScalerSpec = serde_json::from_value(spec).unwrap();
    let mut history = gscale::api::History::default();
    let mut current = 2;
    let mut samples = 0;
    for tick in ticks {
        let now: Timestamp = tick["time"].as_str().unwrap().parse().unwrap();
        let reading = match tick["values"][0].as_f64() {
            Some(v) => {
                samples += 1;
                Ok(v)
            }
            None => Err("no sample in history at this time".to_string()),
        };
        let decision = gscale::decision::decide(&gscale::decision::Input {
            spec: &spec,
            current_replicas: current,
            ready_replicas: None,
            readings: &[reading],
            slo: &Default::default(),
            history: &history,
            now,
        });
        assert_eq!(tick["current"], current);
        if decision.apply {
            current = decision.desired;
        }
        history = decision.history;
        assert_eq!(tick["replicas"], current, "at {now}");
    }
    assert!(samples >= 5, "too little history: {replay}");
    assert_eq!(ticks.last().unwrap()["replicas"], 9, "90 / 10 at the end: {replay}");
    assert!(replay["cost"].as_f64().unwrap() > 0.0);

    let out = gscale(&cluster, &["plan", "worker", "--replay", "30s", "--step", "1s"]);
    let table = text(&out);
    assert!(
        table.contains("pod-hours") && table.contains("scale events:") && table.contains("2 -> 4"),
        "{table}"
    );

    // Sources without history say so.
    let load = Load::new(1.0);
    cluster.deployment("http", 1).await;
    cluster.apply_scaler("http", deployment_spec("http", load.metric(10.0))).await;
    let out = gscale(&cluster, &["plan", "http", "--replay", "1h"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("load (http) has no history to replay"), "{err}");
}

#[test]
fn replay_output_snapshot_at_80_columns() {
    let spec: gscale::api::GeneralScalerSpec = serde_json::from_value(json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "worker"},
        "minReplicas": 2,
        "maxReplicas": 12,
        "metric": {"type": "prometheus", "name": "queue", "targetValue": 50, "targetType": "AverageValue",
                   "prometheus": {"serverUrl": "http://prom:9090", "query": "sum(queue)"}},
        "policy": {"type": "costAware", "costAware": {"maxMonthlyCost": 100000, "costPerPodPerHour": 0.25}},
        "behavior": {"scaleUp": {"maxIncrement": 4, "cooldownSeconds": 120},
                     "scaleDown": {"cooldownSeconds": 300, "stabilizationWindowSeconds": 600}}
    }))
    .unwrap();
    let step = SignedDuration::from_mins(1);
    let start: Timestamp = "2026-11-02T00:00:00Z".parse().unwrap();
    let times: Vec<Timestamp> = (0..24 * 60 + 1).map(|i| start + step * i).collect();
    // A day: quiet night, a morning ramp to a peak above capacity, an evening decline, a gap.
    let load: Vec<Option<f64>> = (0..times.len())
        .map(|i| {
            let hour = i as f64 / 60.0;
            if (15.0..15.5).contains(&hour) {
                None
            } else {
                Some(if hour < 7.0 {
                    80.0
                } else if hour < 12.0 {
                    80.0 + (hour - 7.0) * 140.0
                } else {
                    780.0 - (hour - 12.0) * 55.0
                })
            }
        })
        .collect();
    let replay =
        gscale::replay::replay(&spec, 2, Default::default(), &times, &[load], &Default::default(), step);
    let text =
        gscale::output::replay::render("replay of default/worker over 24h at 1m steps", &replay, 12, 80);
    assert_snapshot("replay_day.txt", &text);
}
