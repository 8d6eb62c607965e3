//! Forecasting end to end: the real `gscale run` binary against the sandbox API and a real
//! Prometheus that holds four days of a load's past (written into its storage with promtool, as an
//! operator backfills one). The load repeats every day: 100 and 150 alternating every 10 minutes,
//! and a surge to 380 for half an hour at a time of day a few minutes after the test starts.
//!
//! Proves: a daemon learns the past from Prometheus and keeps it in status; a daemon started
//! after it (a restart, or a new leader) forecasts from that status at once, with no new warm-up
//! and no new range query, and buys the surge's capacity before the surge; `Observe` explains
//! the same forecast and never changes a replica count. No stopwatch: "before the surge" compares
//! the sandbox's request times with the surge's time of day.
//!
//! And the cadence forecast on a real daemon's ticks: an HTTP metric that steps at a fixed period.

mod common;

use std::time::Duration;

use common::cluster::{Cluster, Load, eventually};
use jiff::Timestamp;
use serde_json::json;

const DAY: i64 = 86_400;
/// Pods the surge needs at the target (380 / 50, rounded up).
const SURGE_PODS: i32 = 8;

/// The load at `t` (unix seconds): a day that repeats, surging for 30 minutes from `surge`'s time.
fn demand(t: i64, surge: i64) -> f64 {
    if (t - surge).rem_euclid(DAY) < 1800 {
        380.0
    } else if t.div_euclid(600) % 2 == 0 {
        100.0
    } else {
        150.0
    }
}

fn spec(target: &str, prometheus: &str, mode: &str) -> serde_json::Value {
    json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "minReplicas": 1, "maxReplicas": 10, "syncIntervalSeconds": 2,
        "metric": {"type": "prometheus", "targetValue": 50, "targetType": "AverageValue",
                   "prometheus": {"serverUrl": prometheus, "query": "max(demand)"}},
        "forecast": {"mode": mode, "leadSeconds": 120}
    })
}

/// Hours of history in the scaler's status (what a restarted daemon starts from).
async fn hours_in_status(cluster: &Cluster, scaler: &str) -> f64 {
    let status = cluster.scaler(scaler).await.status;
    status.and_then(|s| s.history.forecast).map_or(0.0, |f| f.hours())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_daemon_forecasts_from_status_at_once_and_observe_never_scales() {
    let now = Timestamp::now().as_second();
    // The surge's time of day: the minute that starts 4 minutes from now.
    let surge = (now + 240).div_euclid(60) * 60;
    let history: Vec<(String, i64, f64)> = (1..=4 * 24 * 60)
        .rev()
        .map(|minutes_ago| now - 60 * minutes_ago)
        .map(|t| ("demand{source=\"history\"}".to_string(), t, demand(t, surge)))
        .collect();
    // The live load follows the same day.
    let exporter =
        common::prometheus::Exporter::computed("demand", move || demand(Timestamp::now().as_second(), surge));
    let Some(prometheus) = common::prometheus::start_with_history(&exporter.target(), &history) else {
        return;
    };

    let cluster = Cluster::start().await;
    cluster.deployment("on", 2).await;
    cluster.deployment("observe", 2).await;
    cluster.apply_scaler("on", spec("on", &prometheus.url, "On")).await;
    cluster.apply_scaler("observe", spec("observe", &prometheus.url, "Observe")).await;

    // The first daemon learns the four days from Prometheus and writes them to status.
    let mut first = cluster.daemon("first", &["--no-leader-election"]);
    eventually("the backfilled history in both statuses", Duration::from_secs(60), || async {
        hours_in_status(&cluster, "on").await >= 90.0 && hours_in_status(&cluster, "observe").await >= 90.0
    })
    .await;
    first.kill();
    let backfills = prometheus.range_queries();
    assert!(backfills >= 8, "four days, a query a day, for each scaler: {backfills}");

    // A new daemon: no warm-up, no new backfill; it buys the surge ahead.
    let restarted = Timestamp::now();
    assert!(
        restarted.as_second() + 150 < surge,
        "the restart came too late to see the surge ahead; a slow machine"
    );
    let second =
        cluster.daemon_with_env("second", &["--no-leader-election"], &[("RUST_LOG", "gscale=debug")]);
    eventually("the surge's capacity", Duration::from_secs(240), || async {
        cluster.replicas("on").await >= SURGE_PODS
    })
    .await;
    let bought = cluster.scale_patches("on").last().expect("a scale").at;
    let surge_at = Timestamp::from_second(surge).unwrap();
    let log = second.log();
    let verdicts: Vec<&str> = log.lines().filter(|l| l.contains("scaler=on")).rev().take(6).collect();
    assert!(
        bought < surge_at,
        "capacity came at {bought}, not before the surge at {surge_at}: {verdicts:#?}"
    );
    assert!(bought > restarted, "the second daemon bought it");
    assert_eq!(prometheus.range_queries(), backfills, "the restarted daemon read its history from status");
    assert!(!second.log().contains("backfilled"), "no second backfill: {}", second.log());

    // Observe sees the same forecast, says so, and leaves the count to the readings.
    let observing = cluster.replicas("observe").await;
    assert!(observing < SURGE_PODS, "observe bought capacity: {observing} replicas");
    let plan = std::process::Command::new(env!("CARGO_BIN_EXE_gscale"))
        .args(["plan", "observe", "--kubeconfig"])
        .arg(cluster.kubeconfig())
        .output()
        .unwrap();
    // The table wraps its WHY column where the numbers make it: compare the words, not the lines.
    let plan = String::from_utf8_lossy(&plan.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    if Timestamp::now() < surge_at {
        assert!(
            plan.contains("raised from the") && plan.contains("observe only: the count stands"),
            "{plan}"
        );
    }
    // The surge is still up to a lead time away, then read at the next tick.
    eventually("the surge read by the observing scaler", Duration::from_secs(240), || async {
        cluster.replicas("observe").await >= SURGE_PODS
    })
    .await;
    let raised = cluster.scale_patches("observe").last().expect("a scale").at;
    assert!(raised >= surge_at, "observe scaled to the surge at {raised}, before it came at {surge_at}");
}

/// An HTTP metric that steps between 100 and 300 every 6 s of the wall clock, read every second
/// (`leadSeconds: 1`): once the daemon has seen eight of its changes it knows the cadence, raises the
/// count for the 300 while the reading is still 100 (the reactive count), and after each fall to
/// 100 lets the count go at once (no window: the reading holds until its next change). Shown by the
/// decisions in status, whose words say what moved them; no stopwatch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_that_steps_at_a_period_gets_its_capacity_before_each_step() {
    const PERIOD: i64 = 6;
    let load = std::sync::Arc::new(Load::new(100.0));
    let stepping = load.clone();
    let steps = tokio::spawn(async move {
        // Bounded: the test ends well before.
        for _ in 0..60 {
            let now = Timestamp::now();
            let next = (now.as_second() / PERIOD + 1) * PERIOD;
            let wait = Timestamp::from_second(next).unwrap().duration_since(now);
            tokio::time::sleep(wait.unsigned_abs()).await;
            stepping.set(if (next / PERIOD) % 2 == 1 { 300.0 } else { 100.0 });
        }
    });
    let cluster = Cluster::start().await;
    cluster.deployment("stepped", 2).await;
    cluster
        .apply_scaler(
            "stepped",
            json!({
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "stepped"},
                "minReplicas": 1, "maxReplicas": 10, "syncIntervalSeconds": 1,
                "metric": load.metric(50.0),
                "behavior": {"scaleUp": {"cooldownSeconds": 0}, "scaleDown": {"cooldownSeconds": 0}},
                "forecast": {"mode": "On", "leadSeconds": 1}
            }),
        )
        .await;
    let _daemon = cluster.daemon("cadence", &["--no-leader-election"]);

    let decisions =
        || async { cluster.scaler("stepped").await.status.map(|s| s.recent_decisions).unwrap_or_default() };
    eventually("a raise ahead of a step and a release right after one", Duration::from_secs(150), || async {
        let d = decisions().await;
        let ahead = d.iter().any(|r| {
            r.from <= 2
                && r.to == 6
                && r.reason.contains("the reading changes every 6s")
                && r.reason.contains("within the lead time")
                && r.reason.contains("raised from the reactive 2")
        });
        // The reactive count moves the release (its words are the reading's), but only the cadence lets
        // it through the default 300 s window, seconds after the raise: no other forecast has the hour
        // of minutes it needs yet.
        let released = d.iter().any(|r| r.from == 6 && r.to == 2);
        ahead && released
    })
    .await;
    steps.abort();
}
