//! `spec.schedules` end to end: the real `gscale run` against the sandbox API brings a window's
//! minimum at its start (woken by the edge, not its interval) and ramps down by its rails after the
//! end, with `plan`, `status` and Events saying why; `validate`, `simulate` and kubectl on the
//! example and on bad input.
//!
//! Cron has minute resolution, so the daemon's wall clock is moved (the test-only
//! `GSCALE_TEST_CLOCK_OFFSET_SECONDS`) to put an edge a few seconds ahead instead of waiting for a
//! real minute. Asserts are on order and outcome, never on how long the test took.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::cluster::{Cluster, Daemon, Load, eventually};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

const SECONDS: fn(u64) -> Duration = Duration::from_secs;
const OFFSET: &str = "GSCALE_TEST_CLOCK_OFFSET_SECONDS";
const KUBECTL: &str = "/usr/bin/kubectl";

/// The whole seconds to add to the real clock so that it reads `at` now.
fn offset_to(at: Timestamp) -> String {
    (at.as_second() - Timestamp::now().as_second()).to_string()
}

/// `M H * * *` in UTC: the minute `at` falls in, every day.
fn cron_at(at: Timestamp) -> String {
    let utc = at.to_zoned(jiff::tz::TimeZone::UTC);
    format!("{} {} * * *", utc.minute(), utc.hour())
}

/// The built `gscale` with `args`, its clock moved by `offset` seconds.
fn gscale(cluster: &Cluster, offset: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_gscale"))
        .args(args)
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .env(OFFSET, offset)
        .env("COLUMNS", "200")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.code().is_some_and(|c| c == 0 || c == 3),
        "gscale {args:?}: {}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The notes of the Events about `scaler` with this reason, oldest first.
async fn event_notes(cluster: &Cluster, scaler: &str, reason: &str) -> Vec<String> {
    let events = cluster.events(scaler).await.into_iter();
    events.filter(|e| e.reason.as_deref() == Some(reason)).filter_map(|e| e.note).collect()
}

async fn wait_replicas(cluster: &Cluster, daemon: &mut Daemon, name: &str, want: i32, deadline: Duration) {
    let start = std::time::Instant::now();
    while cluster.replicas(name).await != want {
        daemon.assert_running();
        if start.elapsed() > deadline {
            let status = serde_json::to_string_pretty(&cluster.scaler("shop-scaler").await.status).unwrap();
            panic!(
                "{name} not at {want} replicas after {deadline:?}; status:\n{status}\nlog:\n{}",
                daemon.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_brings_its_minimum_at_the_start_and_the_end_ramps_down_by_the_rails() {
    let cluster = Cluster::start().await;
    cluster.deployment("shop", 1).await;
    let load = Load::new(5.0); // 5 / 10 per replica: the metric alone asks for 1
    // A window from a whole minute well ahead of the real clock to the minute after it.
    let start = Timestamp::from_second((Timestamp::now().as_second() / 60 + 10) * 60).unwrap();
    let end = start + SignedDuration::from_secs(60);
    let mut spec = json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop"},
        "minReplicas": 1, "maxReplicas": 20,
        "metric": load.metric(10.0),
        // Long: a tick cannot explain a scale at the start, only the edge wake can.
        "syncIntervalSeconds": 300,
        "behavior": {"scaleUp": {"cooldownSeconds": 0},
                     "scaleDown": {"maxDecrement": 3, "cooldownSeconds": 1, "stabilizationWindowSeconds": 0}},
        "schedules": [{"name": "business-hours", "start": cron_at(start), "end": cron_at(end), "minReplicas": 8}],
    });
    cluster.apply_scaler("shop-scaler", spec.clone()).await;

    // The daemon's clock ten seconds before the start.
    let offset = offset_to(start - SignedDuration::from_secs(10));
    let mut daemon =
        cluster.daemon_with_env("before-start", &["--no-leader-election"], &[(OFFSET, offset.as_str())]);
    eventually("a first decision", SECONDS(20), || async {
        cluster.scaler("shop-scaler").await.status.and_then(|s| s.last_decision).is_some()
    })
    .await;
    let first = cluster.scaler("shop-scaler").await.status.unwrap().last_decision.unwrap();
    assert!(first.time < start, "the first decision ({}) came before the window ({start})", first.time);
    assert_eq!(cluster.replicas("shop").await, 1);
    let plan = gscale(&cluster, &offset, &["plan", "shop-scaler"]);
    assert!(plan.contains("schedule: business-hours (raises min to 8) opens "), "{plan}");

    // The start: the edge wakes the scaler (its next tick is minutes away) and the bound comes at once.
    wait_replicas(&cluster, &mut daemon, "shop", 8, SECONDS(40)).await;
    let status = cluster.scaler("shop-scaler").await.status.unwrap();
    let up = status.recent_decisions.iter().find(|d| (d.from, d.to) == (1, 8)).expect("the scale 1 -> 8");
    assert!(up.time >= start, "scaled at {}, not before the start {start}", up.time);
    assert!(
        up.time < start + SignedDuration::from_secs(150),
        "at the edge, not at the next tick: {}",
        up.time
    );
    eprintln!("scaled {} after the start", up.time.duration_since(start));
    assert_eq!(up.reason, "scale 1 -> 8: business-hours raises min to 8");
    eventually("a ScaledUp Event naming the window", SECONDS(10), || async {
        event_notes(&cluster, "shop-scaler", "ScaledUp")
            .await
            .iter()
            .any(|n| n.contains("business-hours raises min to 8"))
    })
    .await;
    let status_text = gscale(&cluster, &offset, &["status", "shop-scaler"]);
    assert!(status_text.contains("bounds: 8..20 (schedule business-hours; own 1..20)"), "{status_text}");
    assert!(status_text.contains("Schedules:"), "{status_text}");
    let line = status_text.lines().find(|l| l.trim_start().starts_with("business-hours")).unwrap();
    assert!(
        line.contains(" open ") && line.contains("raises min to 8") && line.contains("closes "),
        "{line}"
    );
    let plan = gscale(&cluster, &offset, &["plan", "shop-scaler"]);
    assert!(plan.contains("schedule: business-hours raises min to 8 until "), "{plan}");
    assert!(plan.contains("8 replicas now, bounds 8..20"), "{plan}");
    // No scale-down cooldown by default: the metric asks for 1, the rate limit for 5, the window's 8 holds.
    assert!(
        plan.lines().any(|l| l.contains("bounds") && l.contains("5    8  business-hours raises min to 8")),
        "{plan}"
    );
    assert_eq!(daemon.terminate(SECONDS(10)).map(|s| s.success()), Some(true), "{}", daemon.log());

    // The end, by a second daemon (status carries the memory) ticking every second: the rails ramp.
    spec["syncIntervalSeconds"] = json!(1);
    cluster.apply_scaler("shop-scaler", spec).await;
    let offset = offset_to(end - SignedDuration::from_secs(6));
    let mut daemon =
        cluster.daemon_with_env("after-end", &["--no-leader-election"], &[(OFFSET, offset.as_str())]);
    wait_replicas(&cluster, &mut daemon, "shop", 1, SECONDS(40)).await;
    let status = cluster.scaler("shop-scaler").await.status.unwrap();
    let downs: Vec<_> = status.recent_decisions.iter().filter(|d| d.to < d.from).collect();
    let steps: Vec<(i32, i32)> = downs.iter().map(|d| (d.from, d.to)).collect();
    assert_eq!(steps, [(8, 5), (5, 2), (2, 1)], "maxDecrement 3 a step: {:#?}", status.recent_decisions);
    assert!(downs.iter().all(|d| d.time >= end), "nothing before the end ({end}): {downs:#?}");
    assert_eq!(downs[0].reason, "scale 8 -> 5: maxDecrement 3");
    for pair in downs.windows(2) {
        assert!(
            pair[1].time.duration_since(pair[0].time) >= SignedDuration::from_secs(1),
            "cooldown: {pair:#?}"
        );
    }
    let notes = event_notes(&cluster, "shop-scaler", "ScaledDown").await;
    assert!(notes.first().is_some_and(|n| n.contains("maxDecrement 3")), "{notes:?}");
    let plan = gscale(&cluster, &offset, &["plan", "shop-scaler"]);
    assert!(plan.contains("schedule: business-hours (raises min to 8) opens "), "{plan}");
    assert!(plan.contains("bounds 1..20"), "{plan}");
    daemon.assert_running();
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/business-hours")
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gscale"));
    command.args(args).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    command.stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(text) = stdin {
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

#[test]
fn the_example_validates() {
    let file = example().join("generalscaler.yaml");
    let out = run(&["validate", "-f", file.to_str().unwrap()], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("0 errors, 0 warnings"), "{text}");
}

#[test]
fn validate_names_bad_cron_and_zones_with_their_lines() {
    let manifest = "\
apiVersion: autoscaling.generalscaler.io/v1alpha1
kind: GeneralScaler
metadata:
  name: shop
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: shop}
  maxReplicas: 10
  metric: {type: http, targetValue: 10, http: {url: 'http://m/x'}}
  schedules:
    - name: business-hours
      timezone: Europe/Berln
      start: '0 25 * * MON-FRI'
      end: '0 18 * * MON-FRI'
      minReplicas: 20
";
    let out = run(&["validate", "-f", "-"], Some(manifest));
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    for want in [
        "spec.schedules[0].timezone",
        "timezone \"Europe/Berln\" is not in the IANA time zone database",
        "did you mean Europe/Berlin?",
        "start \"0 25 * * MON-FRI\" is not a cron expression: hour \"25\": 25 is out of range 0-23",
        "schedule business-hours raises minReplicas to 20, above the spec's maxReplicas 10, without raising maxReplicas",
    ] {
        assert!(text.contains(want), "{want:?} in:\n{text}");
    }
}

#[test]
fn simulate_applies_the_windows_at_the_trace_timestamps() {
    let dir = common::TempDir::new("schedules-simulate");
    let trace: String = std::iter::once("timestamp,value".to_string())
        .chain((0..24).map(|h| format!("2026-01-05T{h:02}:00:00Z,100")))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.path().join("trace.csv"), trace).unwrap();
    let scaler = |schedules: &str| {
        format!(
            "apiVersion: autoscaling.generalscaler.io/v1alpha1
kind: GeneralScaler
metadata: {{name: web}}
spec:
  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
  minReplicas: 1
  maxReplicas: 20
  metric: {{type: prometheus, targetValue: 100, prometheus: {{serverUrl: 'http://p:9090', query: rps}}}}
{schedules}"
        )
    };
    let report = |name: &str, schedules: &str| -> serde_json::Value {
        let file = dir.path().join(name);
        std::fs::write(&file, scaler(schedules)).unwrap();
        let trace = dir.path().join("trace.csv");
        let out = run(
            &[
                "simulate",
                "-f",
                file.to_str().unwrap(),
                "--trace",
                trace.to_str().unwrap(),
                "--capacity-per-pod",
                "125",
                "-o",
                "json",
            ],
            None,
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let plain = report("plain.yaml", "");
    let windowed = report(
        "windowed.yaml",
        "  schedules: [{name: day, start: '0 9 * * *', end: '0 17 * * *', minReplicas: 8}]\n",
    );
    assert_eq!(plain["gscale"]["peakReplicas"], 1, "{plain}");
    assert_eq!(windowed["gscale"]["peakReplicas"], 8, "{windowed}");
    let (a, b) =
        (plain["gscale"]["podHours"].as_f64().unwrap(), windowed["gscale"]["podHours"].as_f64().unwrap());
    // 8 hours at 8 instead of 1: 56 pod-hours more (give or take the ramp at the edges).
    assert!((b - a - 56.0).abs() < 2.0, "{a} -> {b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_the_example() {
    if !Path::new(KUBECTL).exists() {
        assert!(!common::in_ci(), "kubectl is not installed; CI needs it");
        eprintln!("SKIPPED kubectl_applies_the_example: no kubectl");
        return;
    }
    let cluster = Cluster::start().await;
    let home = common::TempDir::new("schedules-kubectl");
    let out = Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .arg("--cache-dir")
        .arg(home.path().join("cache"))
        .args(["apply", "--server-side", "-f"])
        .arg(example())
        .env("HOME", home.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    let scaler = cluster.scaler("storefront-scaler").await;
    let names: Vec<&str> = scaler.spec.schedules.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["business-hours", "autumn-sale", "night"]);
    assert_eq!(scaler.spec.schedules[2].timezone, "Europe/Berlin");
}
