//! `gscale run` against a hostile API server: the sandbox losing the reply to a write it applied
//! (the connection hangs, or drops), throttling with only a `Retry-After` header as the
//! kube-apiserver's overload filters do, and a metric that keeps failing. The real binary, the
//! sandbox's request log and the scaler's status are asserted; time is an order of logged events,
//! never a stopwatch.

mod common;

use std::time::Duration;

use common::cluster::{Cluster, Load, base_spec, eventually, wait_replicas};
use gscale_sandbox::{FaultMatch, Lost, RequestRecord};
use jiff::SignedDuration;
use serde_json::json;

const SECONDS: fn(u64) -> Duration = Duration::from_secs;

fn is_status_write(r: &RequestRecord) -> bool {
    r.verb == "patch" && r.subresource == "status" && r.name == "app"
}

/// The API server applies every scale and the reply never comes (`Lost::Hang`) or the connection
/// drops before it (`Lost::Drop`). The scaler reads /scale back, records the scale as made
/// (status, memory, Event), logs the lost reply, and goes on deciding: a second scale follows.
async fn a_scale_whose_reply_is_lost(how: Lost) {
    let cluster = Cluster::start().await;
    cluster.deployment("app", 2).await;
    let load = Load::new(100.0);
    cluster.apply_scaler("app", base_spec(&load, 50.0)).await;
    let daemon = cluster.daemon("d", &[]);
    eventually("a first status", SECONDS(15), || async { cluster.scaler("app").await.status.is_some() })
        .await;
    let lost = cluster
        .sandbox
        .faults()
        .lose_reply(FaultMatch::any().verb("patch").path("/deployments/app/scale"), how);

    load.set(200.0);
    wait_replicas(&cluster, "app", 4, SECONDS(15)).await;
    eventually("status records the scale to 4", SECONDS(15), || async {
        let status = cluster.scaler("app").await.status.unwrap();
        status.recent_decisions.last().is_some_and(|d| (d.from, d.to) == (2, 4))
            && status.last_scale_time.is_some()
    })
    .await;
    // Still deciding after the lost reply: the next change is scaled, its reply lost too.
    load.set(400.0);
    wait_replicas(&cluster, "app", 8, SECONDS(15)).await;
    eventually("status records the scale to 8", SECONDS(15), || async {
        let status = cluster.scaler("app").await.status.unwrap();
        status.recent_decisions.last().is_some_and(|d| (d.from, d.to) == (4, 8))
    })
    .await;
    // The status carrying the scale is written before the PATCH; the Event only once it is known made.
    eventually("a ScaledUp Event for each scale", SECONDS(15), || async {
        cluster.event_reasons("app").await.iter().filter(|r| *r == "ScaledUp").count() == 2
    })
    .await;
    let lost_patches = cluster.sandbox.count_requests(|r| r.subresource == "scale" && r.reply_lost);
    assert_eq!(lost_patches, 2, "one PATCH per scale, each applied, each reply lost");
    cluster.sandbox.faults().remove(lost);
    let log = daemon.log();
    assert!(log.contains("/scale read back holds 8: recorded as made"), "{log}");
    if how == Lost::Hang {
        assert!(log.contains("no reply to PATCH"), "the stuck call is logged: {log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_whose_reply_never_comes_is_read_back_and_the_scaler_goes_on() {
    a_scale_whose_reply_is_lost(Lost::Hang).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_whose_connection_drops_before_the_reply_is_read_back_and_recorded() {
    a_scale_whose_reply_is_lost(Lost::Drop).await;
}

/// A 429 with a `Retry-After` header and a plain-text body (no Status details), as the
/// kube-apiserver's max-in-flight and priority-and-fairness filters answer: the retry waits the
/// header's 4 s, not the 1 s a Status without details would give.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_given_only_as_a_header_is_honoured() {
    let cluster = Cluster::start().await;
    cluster.deployment("app", 1).await;
    let load = Load::new(50.0);
    cluster.apply_scaler("app", base_spec(&load, 50.0)).await;
    let _daemon = cluster.daemon("d", &["--no-leader-election"]);
    eventually("a first status", SECONDS(10), || async { cluster.scaler("app").await.status.is_some() })
        .await;
    cluster
        .sandbox
        .faults()
        .overload(FaultMatch::any().verb("patch").path("/deployments/app/scale").times(1), 4);
    load.set(200.0);
    wait_replicas(&cluster, "app", 4, SECONDS(20)).await;
    let log = cluster.sandbox.requests();
    let scale = |r: &&RequestRecord| r.verb == "patch" && r.subresource == "scale";
    let throttled = log.iter().filter(scale).find(|r| r.status == 429).expect("a throttled PATCH").clone();
    let retried = log.iter().filter(scale).find(|r| r.at > throttled.at).expect("a retry").clone();
    assert!(
        retried.at >= throttled.at + SignedDuration::from_secs(4),
        "the retry waited for the header's Retry-After: 4 ({} then {})",
        throttled.at,
        retried.at
    );
}

/// A metric that keeps failing climbs its failure count every sync; status is written when the
/// failure starts, not at every count (the count is a gauge on /metrics).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_metric_writes_status_once_not_every_sync() {
    let cluster = Cluster::start().await;
    cluster.deployment("app", 2).await;
    let load = Load::new(100.0);
    let mut spec = base_spec(&load, 50.0);
    spec["fallback"] = json!({"failureThreshold": 100});
    cluster.apply_scaler("app", spec).await;
    let port = common::free_port().to_string();
    let metrics_addr = format!("127.0.0.1:{port}");
    let _daemon = cluster.daemon("d", &["--no-leader-election", "--metrics-addr", &metrics_addr]);
    eventually("a first status", SECONDS(10), || async { cluster.scaler("app").await.status.is_some() })
        .await;

    load.fail();
    let failing = load.wait_ticks(1, SECONDS(10)).await[0].at;
    load.wait_ticks(8, SECONDS(30)).await;
    eventually("MetricsAvailable False", SECONDS(5), || async {
        cluster.condition("app", "MetricsAvailable").await.is_some_and(|c| c.0 == "False")
    })
    .await;
    let writes = cluster.sandbox.count_requests(|r| is_status_write(r) && r.at >= failing);
    assert_eq!(writes, 1, "one status write for the failure, none for its count over eight syncs");
    let (_, metrics) = common::http_request("GET", &format!("http://{metrics_addr}/metrics"), None).unwrap();
    let gauge = metrics
        .lines()
        .find(|l| l.starts_with("gscale_scaler_metric_failures{") && l.contains("name=\"app\""))
        .unwrap_or_else(|| panic!("a failure gauge: {metrics}"));
    let count: u32 = gauge.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 8, "the count is in the metrics: {gauge}");
}

/// Every value of `spec.replicas` the Deployments of `names` take, in order, by a watch.
fn record_replicas(cluster: &Cluster) -> std::sync::Arc<std::sync::Mutex<Vec<(String, i32)>>> {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let seen: std::sync::Arc<std::sync::Mutex<Vec<(String, i32)>>> = Default::default();
    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(cluster.client.clone(), "default");
    let log = seen.clone();
    tokio::spawn(async move {
        let mut events = watcher(api, watcher::Config::default()).applied_objects().boxed();
        while let Some(Ok(deployment)) = events.next().await {
            let name = deployment.metadata.name.clone().unwrap_or_default();
            let replicas = deployment.spec.replicas.unwrap_or(1);
            log.lock().unwrap().push((name, replicas));
        }
    });
    seen
}

/// Two scalers on each of four targets, the newer one (whose name sorts first) asking for 8, the
/// older for 4. Across five starts (with and without leader election) every scale is the older
/// scaler's: no target ever takes the newer scaler's count, even for a moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_pair_across_restarts_scales_only_as_the_older_says() {
    let cluster = Cluster::start().await;
    let targets = ["t1", "t2", "t3", "t4"];
    for target in targets {
        cluster.deployment(target, 1).await;
    }
    let (four, eight) = (Load::new(200.0), Load::new(400.0));
    let spec = |load: &Load, target: &str| {
        let mut spec = base_spec(load, 50.0);
        spec["targetRef"]["name"] = json!(target);
        spec
    };
    for target in targets {
        cluster.apply_scaler(&format!("z-older-{target}"), spec(&four, target)).await;
    }
    // Creation times have whole seconds: the newer ones are created in a later second.
    let second = jiff::Timestamp::now().as_second();
    eventually("the next second", SECONDS(3), || async { jiff::Timestamp::now().as_second() > second }).await;
    for target in targets {
        cluster.apply_scaler(&format!("a-newer-{target}"), spec(&eight, target)).await;
    }
    let seen = record_replicas(&cluster);
    for start in 0..5 {
        let flags: &[&str] = if start % 2 == 0 { &["--no-leader-election"] } else { &[] };
        let mut daemon = cluster.daemon(&format!("d{start}"), flags);
        for target in targets {
            wait_replicas(&cluster, target, 4, SECONDS(20)).await;
        }
        eventually("the newer scalers report the conflict", SECONDS(10), || async {
            let mut all = true;
            for target in targets {
                let ready = cluster.condition(&format!("a-newer-{target}"), "Ready").await;
                all &= ready.is_some_and(|c| c.1 == "TargetConflict");
            }
            all
        })
        .await;
        four.wait_ticks(2, SECONDS(10)).await;
        daemon.terminate(SECONDS(15));
        for target in targets {
            cluster.set_replicas(target, 1).await;
        }
    }
    let seen = seen.lock().unwrap().clone();
    let newer: Vec<&(String, i32)> = seen.iter().filter(|(_, replicas)| *replicas == 8).collect();
    assert!(newer.is_empty(), "a newer scaler scaled its target: {newer:?} of {seen:?}");
    assert!(
        seen.iter().filter(|(_, r)| *r == 4).count() >= 20,
        "each start scaled each target to 4: {seen:?}"
    );
}
