//! `gscale run` end to end: the real binary against the sandbox Kubernetes API, with an HTTP metric
//! the test drives. Replicas, status, Events and the sandbox's request log are asserted.
//!
//! No test times the daemon with a stopwatch: "soon" is an order (the PATCH came in the tick that
//! read the new value, or the next), "not before" compares the sandbox's request times with what
//! the daemon itself stamped in status, and "never" is a number of ticks (readings of the metric)
//! that passed without it. Deadlines only bound how long a broken daemon can hang a test.

mod common;

use std::time::Duration;

use common::cluster::{Cluster, Load, base_spec, eventually, wait_replicas};
use gscale_sandbox::{FaultMatch, RequestRecord};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

const SECONDS: fn(u64) -> Duration = Duration::from_secs;

fn is_scale_patch(r: &RequestRecord) -> bool {
    r.verb == "patch" && r.subresource == "scale" && r.status < 300
}

/// `at` plus whole seconds.
fn plus(at: Timestamp, seconds: i64) -> Timestamp {
    at + SignedDuration::from_secs(seconds)
}

/// When the daemon stamped its last scale-up of `scaler` (its own clock, from status).
async fn last_scale_up(cluster: &Cluster, scaler: &str) -> Timestamp {
    let status = cluster.scaler(scaler).await.status.expect("a status");
    status.history.last_scale_up_time.expect("a scale-up time in status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_load_up_at_once_and_down_after_cooldown_and_window() {
    let cluster = Cluster::start().await;
    cluster.deployment("app", 2).await;
    let load = Load::new(100.0);
    let mut spec = base_spec(&load, 50.0);
    spec["behavior"]["scaleDown"] = json!({"cooldownSeconds": 4, "stabilizationWindowSeconds": 3});
    cluster.apply_scaler("app", spec).await;
    let mut daemon = cluster.daemon("d1", &[]);

    eventually("a first status", SECONDS(15), || async { cluster.scaler("app").await.status.is_some() })
        .await;
    assert_eq!(cluster.replicas("app").await, 2, "100 / 50 = 2: hold");

    load.set(400.0);
    wait_replicas(&cluster, "app", 8, SECONDS(15)).await;
    // Up at once: the PATCH came after the first reading of 400 and before the next-but-one tick.
    let high = load.wait_fetches(3, SECONDS(15), |f| f.reply == common::cluster::Reply::Value(400.0)).await;
    let up = cluster.scale_patch("app", 0).await;
    assert!(high[0].at < up.at && up.at < high[2].at, "scaled in the tick that read 400 or the next: {up:?}");
    let scaled_up = last_scale_up(&cluster, "app").await;

    load.set(50.0);
    wait_replicas(&cluster, "app", 1, SECONDS(15)).await;
    let down = cluster.scale_patch("app", 1).await;
    assert!(
        down.at >= plus(scaled_up, 4),
        "the scale-down waited out the 4 s cooldown from the scale-up the daemon stamped ({scaled_up}): {down:?}"
    );

    eventually("status shows 1 -> 1", SECONDS(5), || async {
        let status = cluster.scaler("app").await.status.unwrap();
        (status.current_replicas, status.desired_replicas) == (Some(1), Some(1))
    })
    .await;
    let reasons = cluster.event_reasons("app").await;
    assert!(
        reasons.contains(&"ScaledUp".to_string()) && reasons.contains(&"ScaledDown".to_string()),
        "{reasons:?}"
    );
    assert_eq!(cluster.sandbox.count_requests(is_scale_patch), 2, "exactly one PATCH per change");
    daemon.assert_running();
}

/// Status is not rewritten while only timestamps change, so after a long steady spell the stored
/// time of the standing recommendation is old. The window must still count from the last time the
/// count was recommended (a tick ago), not from that write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_down_window_counts_from_the_last_recommendation_not_the_last_write() {
    let cluster = Cluster::start().await;
    cluster.deployment("app", 2).await;
    let load = Load::new(400.0);
    let mut spec = base_spec(&load, 50.0);
    spec["behavior"]["scaleDown"] = json!({"cooldownSeconds": 0, "stabilizationWindowSeconds": 4});
    cluster.apply_scaler("app", spec).await;
    let mut daemon = cluster.daemon("d1", &[]);
    wait_replicas(&cluster, "app", 8, SECONDS(15)).await;
    // Steady at 8 for twice the window (eight ticks): the recommendation of 8 is renewed every tick,
    // in memory, while status is not rewritten.
    load.wait_ticks(8, SECONDS(30)).await;
    assert_eq!(cluster.scale_patches("app").len(), 1, "held at 8 through the steady spell");

    load.set(50.0);
    wait_replicas(&cluster, "app", 1, SECONDS(15)).await;
    // The last recommendation of 8 was made in the tick of the last reading of 400, so after the one
    // before it. Counted from the last status write (a steady spell ago) the window would have let go
    // in the first tick that read 50.
    let high = load.fetches_of(400.0);
    let before_last = &high[high.len() - 2];
    let down = cluster.scale_patch("app", 1).await;
    assert!(
        down.at > plus(before_last.at, 4),
        "the 4 s window counted from the last recommendation of 8 ({}): {down:?}",
        before_last.at
    );
    daemon.assert_running();
}

/// A custom kind whose /scale maps `.spec.size`: the daemon reads the count where the CRD says,
/// so it scales once and then holds (reading `spec.replicas` it would see 1 and PATCH every tick).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_kind_is_read_where_its_scale_subresource_points() {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let cluster = Cluster::start().await;
    let crds: kube::Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = kube::Api::all(cluster.client.clone());
    let crd = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "pools.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "pools", "singular": "pool", "kind": "Pool"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                    "subresources": {"status": {}, "scale": {
                        "specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size"}}}]}
    }))
    .unwrap();
    crds.create(&Default::default(), &crd).await.unwrap();
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v1", "Pool"), "pools");
    let pools: kube::Api<DynamicObject> =
        kube::Api::namespaced_with(cluster.client.clone(), "default", &resource);
    let pool: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Pool", "metadata": {"name": "pool"}, "spec": {"size": 2}
    }))
    .unwrap();
    pools.create(&Default::default(), &pool).await.unwrap();

    let load = Load::new(200.0);
    let mut spec = base_spec(&load, 50.0);
    spec["targetRef"] = json!({"apiVersion": "example.com/v1", "kind": "Pool", "name": "pool"});
    cluster.apply_scaler("pool", spec).await;
    let _daemon = cluster.daemon("d", &["--no-leader-election"]);
    let size = || async { pools.get("pool").await.unwrap().data["spec"]["size"].as_i64() };
    eventually("the pool at 4", SECONDS(15), || async { size().await == Some(4) }).await;
    load.wait_ticks(3, SECONDS(15)).await;
    assert_eq!(cluster.sandbox.count_requests(|r| is_scale_patch(r) && r.path.contains("/pools/")), 1);
    let status = cluster.scaler("pool").await.status.unwrap();
    assert_eq!((status.current_replicas, status.desired_replicas), (Some(4), Some(4)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rails_hold_bounds_rate_limits_tolerance_paused_and_dry_run() {
    let cluster = Cluster::start().await;
    for name in ["bounded", "limited", "tolerant", "paused", "dry"] {
        cluster.deployment(name, 2).await;
    }
    let loads: Vec<Load> = (0..5).map(|_| Load::new(100.0)).collect();
    let spec = |i: usize, name: &str| {
        let mut s = base_spec(&loads[i], 50.0);
        s["targetRef"]["name"] = json!(name);
        s
    };
    let mut bounded = spec(0, "bounded");
    bounded["maxReplicas"] = json!(6);
    let mut limited = spec(1, "limited");
    limited["behavior"]["scaleUp"]["maxIncrement"] = json!(2);
    let mut tolerant = spec(2, "tolerant");
    tolerant["behavior"]["tolerance"] = json!(0.2);
    let mut paused = spec(3, "paused");
    paused["paused"] = json!(true);
    let mut dry = spec(4, "dry");
    dry["dryRun"] = json!(true);
    for (name, s) in
        [("bounded", bounded), ("limited", limited), ("tolerant", tolerant), ("paused", paused), ("dry", dry)]
    {
        cluster.apply_scaler(name, s).await;
    }
    let _daemon = cluster.daemon("rails", &["--no-leader-election"]);
    eventually("every scaler evaluated", SECONDS(15), || async {
        let mut all = true;
        for name in ["bounded", "limited", "tolerant", "paused", "dry"] {
            all &= cluster.scaler(name).await.status.is_some();
        }
        all
    })
    .await;

    loads[0].set(1000.0); // 20 replicas asked, max 6
    loads[1].set(500.0); // 10 asked, +2 per step
    loads[2].set(115.0); // ratio 1.15 within 0.2
    loads[3].set(500.0);
    loads[4].set(500.0);
    wait_replicas(&cluster, "bounded", 6, SECONDS(5)).await;
    wait_replicas(&cluster, "limited", 4, SECONDS(5)).await;
    wait_replicas(&cluster, "limited", 10, SECONDS(10)).await;
    let steps = cluster.sandbox.count_requests(|r| is_scale_patch(r) && r.name == "limited");
    assert_eq!(steps, 4, "2 -> 4 -> 6 -> 8 -> 10: four steps of maxIncrement 2");

    eventually("paused and dry-run scalers record what they would do", SECONDS(5), || async {
        let p = cluster.scaler("paused").await.status.unwrap();
        let d = cluster.scaler("dry").await.status.unwrap();
        p.desired_replicas == Some(10) && d.desired_replicas == Some(10)
    })
    .await;
    let ready = cluster.condition("paused", "Ready").await.unwrap();
    assert_eq!((ready.0.as_str(), ready.1.as_str()), ("True", "Paused"), "{ready:?}");
    assert!(ready.2.contains("would scale 2 -> 10"), "{ready:?}");
    let ready = cluster.condition("dry", "Ready").await.unwrap();
    assert_eq!(ready.1, "DryRun", "{ready:?}");
    // Ticks that read 115 for the tolerant scaler: none of them moved it.
    loads[2].wait_fetches(3, SECONDS(15), |f| f.reply == common::cluster::Reply::Value(115.0)).await;
    assert_eq!(cluster.replicas("tolerant").await, 2, "within the tolerance");
    for name in ["paused", "dry"] {
        assert_eq!(cluster.replicas(name).await, 2, "{name} never scales");
    }
    assert_eq!(
        cluster.sandbox.count_requests(
            |r| is_scale_patch(r) && (r.name == "paused" || r.name == "dry" || r.name == "tolerant")
        ),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_daemon_keeps_the_cooldown() {
    let cluster = Cluster::start().await;
    cluster.deployment("app", 1).await;
    let load = Load::new(50.0);
    let mut spec = base_spec(&load, 50.0);
    spec["behavior"]["scaleDown"] = json!({"cooldownSeconds": 8, "stabilizationWindowSeconds": 0});
    cluster.apply_scaler("app", spec).await;
    let mut first = cluster.daemon("first", &["--no-leader-election"]);
    load.set(300.0);
    wait_replicas(&cluster, "app", 6, SECONDS(15)).await;
    // A first scale-down starts the wait between scale-downs.
    load.set(100.0);
    wait_replicas(&cluster, "app", 2, SECONDS(15)).await;
    eventually("the scale-down time is in status", SECONDS(10), || async {
        cluster.scaler("app").await.status.is_some_and(|s| s.history.last_scale_down_time.is_some())
    })
    .await;
    let scaled_down =
        cluster.scaler("app").await.status.and_then(|s| s.history.last_scale_down_time).unwrap();
    first.kill();

    load.set(50.0);
    let mut second = cluster.daemon("second", &["--no-leader-election"]);
    wait_replicas(&cluster, "app", 1, SECONDS(20)).await;
    // The second daemon read 50 while the first one's cooldown ran, and held until it ended.
    let low = load.fetches_of(50.0);
    let cooled = plus(scaled_down, 8);
    assert!(low.first().is_some_and(|f| f.at < cooled), "the restarted daemon read 50 within the cooldown");
    // The third scale of the run: 1 -> 6, 6 -> 2 by the first daemon, 2 -> 1 by the second.
    let down = cluster.scale_patch("app", 2).await;
    assert!(down.at >= cooled, "not before the 8 s cooldown from the first daemon's scale-down: {down:?}");
    second.assert_running();
}

/// How many times the Lease was read after `since` up to the first write that took it over: a
/// follower looks once a renewal period, so this counts renewal periods, not seconds.
async fn lease_reads_until_taken(cluster: &Cluster, since: Timestamp) -> usize {
    // A request is logged once answered, just after the store changed: wait for the write's record.
    let write = |r: &RequestRecord| {
        r.resource == "leases"
            && r.name == "gscale-leader"
            && r.at > since
            && r.verb == "update"
            && r.status < 300
    };
    assert!(cluster.sandbox.wait_for_request(SECONDS(15), write).await.is_some(), "a write took the Lease");
    let log = cluster.sandbox.requests();
    let lease = |r: &&RequestRecord| r.resource == "leases" && r.name == "gscale-leader" && r.at > since;
    let taken = log
        .iter()
        .filter(lease)
        .filter(|r| r.verb == "update" && r.status < 300)
        .map(|r| r.at)
        .min()
        .expect("a write took the Lease");
    log.iter().filter(lease).filter(|r| r.verb == "get" && r.at <= taken).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_one_leader_and_failover_within_the_lease() {
    let cluster = Cluster::start().await;
    cluster.deployment("app", 1).await;
    let load = Load::new(50.0);
    cluster.apply_scaler("app", base_spec(&load, 50.0)).await;
    let mut a = cluster.daemon("alpha", &["--lease-duration", "3"]);
    let mut b = cluster.daemon("beta", &["--lease-duration", "3"]);
    let holder = || cluster.lease_holder("gscale-leader");
    eventually("a leader", SECONDS(10), || async { !holder().await.is_empty() }).await;

    for (i, value) in [200.0, 400.0].into_iter().enumerate() {
        load.set(value);
        wait_replicas(&cluster, "app", (value / 50.0) as i32, SECONDS(15)).await;
        load.wait_ticks(2, SECONDS(10)).await;
        assert_eq!(cluster.sandbox.count_requests(is_scale_patch), i + 1, "exactly one daemon scales, once");
    }

    let leader = holder().await;
    let (dead, survivor) = if leader.starts_with("alpha") { (&mut a, &mut b) } else { (&mut b, &mut a) };
    dead.kill();
    let killed = Timestamp::now();
    load.set(100.0);
    // Only the survivor reads the Lease from here until the test asks again below.
    wait_replicas(&cluster, "app", 2, SECONDS(15)).await;
    let reads = lease_reads_until_taken(&cluster, killed).await;
    assert!(reads <= 5, "taken over within the lease (3 s, a look a second): {reads} looks at the Lease");
    assert_ne!(holder().await, leader, "the Lease changed hands");
    survivor.assert_running();

    // SIGTERM releases the Lease at once.
    let status = survivor.terminate(SECONDS(10)).expect("exits on SIGTERM");
    assert!(status.success(), "{status:?}");
    assert_eq!(holder().await, "", "the Lease is released on shutdown");
}

/// A leader whose Lease renewals hang while its scales are throttled and slow: it keeps trying to
/// scale, but no write of its reaches the API after the moment a follower may take over (its last
/// renewal's arrival plus the lease's duration). Before the fence, kube's hidden retries sent
/// PATCHes long after the leader had stepped down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_writes_nothing_after_a_follower_may_take_over() {
    let cluster = Cluster::start().await;
    cluster.deployment("app", 1).await;
    let load = Load::new(50.0);
    cluster.apply_scaler("app", base_spec(&load, 50.0)).await;
    let mut daemon = cluster.daemon("alpha", &["--lease-duration", "3"]);
    load.set(200.0);
    wait_replicas(&cluster, "app", 4, SECONDS(15)).await;

    // Every scale is throttled late, and the leader keeps retrying it...
    let faults = cluster.sandbox.faults();
    faults.latency(FaultMatch::any().path("/scale"), Duration::from_millis(700));
    faults.throttle(FaultMatch::any().verb("patch").path("/scale"), 1);
    let throttled = |r: &RequestRecord| r.subresource == "scale" && r.status == 429;
    load.set(400.0);
    eventually("a throttled scale", SECONDS(15), || async { cluster.sandbox.count_requests(throttled) > 0 })
        .await;
    // ...when its Lease stops being renewable (the calls hang).
    faults.latency(FaultMatch::any().path("/leases/"), SECONDS(60));
    let faulted = Timestamp::now();
    // Proving an absence takes a span of time: three lease durations.
    tokio::time::sleep(SECONDS(9)).await;

    let log = cluster.sandbox.requests();
    let renewed = log
        .iter()
        .filter(|r| {
            r.resource == "leases" && matches!(r.verb.as_str(), "update" | "create") && r.status < 300
        })
        .map(|r| r.at)
        .max()
        .expect("the daemon held the Lease");
    let follower_may_take_over = renewed + SignedDuration::from_secs(3);
    let writes: Vec<&RequestRecord> = log
        .iter()
        .filter(|r| matches!(r.verb.as_str(), "patch" | "create" | "update") && r.resource != "leases")
        .collect();
    let tried = log.iter().filter(|r| throttled(r)).count();
    assert!(tried >= 1, "the leader was trying to scale when its Lease began to fail");
    assert!(renewed < faulted + SignedDuration::from_secs(2), "no renewal went through after the fault");
    let late: Vec<String> = writes
        .iter()
        .filter(|r| r.at >= follower_may_take_over)
        .map(|r| {
            format!("{} {} at {} (takeover possible from {follower_may_take_over})", r.verb, r.path, r.at)
        })
        .collect();
    assert!(late.is_empty(), "writes after a follower may take over: {late:#?}");
    daemon.assert_running();
}

/// A holder whose clock runs an hour ahead wrote a `renewTime` in the future, then died. A
/// follower judges expiry by its own clock (no renewal seen for the lease's duration), so it takes
/// over within the lease, not an hour later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_holder_with_a_clock_ahead_is_taken_over_within_the_lease() {
    use k8s_openapi::api::coordination::v1::Lease;
    let cluster = Cluster::start().await;
    let leases: kube::Api<Lease> = kube::Api::namespaced(cluster.client.clone(), "default");
    let ahead = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    let ghost: Lease = serde_json::from_value(json!({
        "metadata": {"name": "gscale-leader"},
        "spec": {"holderIdentity": "ghost", "leaseDurationSeconds": 3,
                 "acquireTime": ahead.to_string(), "renewTime": ahead.to_string()}
    }))
    .unwrap();
    leases.create(&Default::default(), &ghost).await.unwrap();
    let created = Timestamp::now();
    let _daemon = cluster.daemon("d", &["--lease-duration", "3"]);
    // Read from the store, not over HTTP: the request log then holds only the daemon's looks.
    let taken = cluster
        .sandbox
        .wait_for_object(
            "coordination.k8s.io",
            "v1",
            "leases",
            "default",
            "gscale-leader",
            SECONDS(15),
            |l| {
                l.and_then(|l| l["spec"]["holderIdentity"].as_str())
                    .is_some_and(|h| !h.is_empty() && h != "ghost")
            },
        )
        .await;
    assert!(taken.is_ok(), "the daemon leads: {taken:?}");
    let reads = lease_reads_until_taken(&cluster, created).await;
    assert!(reads <= 5, "within the lease and a renewal (a look a second), not an hour: {reads} looks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_scalers_say_why_and_leave_the_others_alone() {
    let cluster = Cluster::start().await;
    for name in ["healthy", "doomed", "invalid", "starved", "asleep"] {
        cluster.deployment(name, 3).await;
    }
    let good = Load::new(150.0);
    let flaky = Load::new(150.0);
    let sleepy = Load::new(0.0);
    let named = |load: &Load, name: &str| {
        let mut s = base_spec(load, 50.0);
        s["targetRef"]["name"] = json!(name);
        s
    };
    cluster.apply_scaler("healthy", named(&good, "healthy")).await;
    let mut doomed = named(&good, "doomed");
    doomed["metric"]["http"]["url"] = json!(format!("{}/metric?doomed", good.server.url));
    cluster.apply_scaler("doomed", doomed).await;
    let mut invalid = named(&good, "invalid");
    // The CRD refuses a URL without http(s)://; one without a host only the daemon's check refuses.
    invalid["metric"] = json!({"type": "prometheus", "targetValue": 5,
        "prometheus": {"serverUrl": "http://", "query": "up"}});
    cluster.apply_scaler("invalid", invalid).await;
    let mut starved = named(&flaky, "starved");
    starved["fallback"] = json!({"failureThreshold": 3, "action": "setReplicas", "replicas": 5});
    cluster.apply_scaler("starved", starved).await;
    let mut asleep = named(&sleepy, "asleep");
    asleep["minReplicas"] = json!(0);
    asleep["fallback"] = json!({"failureThreshold": 2, "action": "setReplicas", "replicas": 2});
    cluster.apply_scaler("asleep", asleep).await;

    let _daemon = cluster.daemon("d", &["--no-leader-election"]);
    wait_replicas(&cluster, "asleep", 0, SECONDS(10)).await;
    cluster.delete_deployment("doomed").await;
    flaky.fail();
    sleepy.fail();

    eventually("TargetNotFound on the scaler whose Deployment is gone", SECONDS(10), || async {
        cluster.condition("doomed", "Ready").await.is_some_and(|c| c.1 == "TargetNotFound")
    })
    .await;
    let invalid = cluster.condition("invalid", "Ready").await.unwrap();
    assert_eq!(invalid.1, "InvalidSpec", "{invalid:?}");
    assert!(invalid.2.contains("spec.metric.prometheus.serverUrl"), "{invalid:?}");

    eventually("MetricsAvailable False then the fallback", SECONDS(15), || async {
        cluster.condition("starved", "FallbackActive").await.is_some()
    })
    .await;
    let metrics = cluster.condition("starved", "MetricsAvailable").await.unwrap();
    assert_eq!(metrics.0, "False", "{metrics:?}");
    assert!(metrics.2.contains("503"), "the reason names what came back: {metrics:?}");
    wait_replicas(&cluster, "starved", 5, SECONDS(5)).await;
    wait_replicas(&cluster, "asleep", 2, SECONDS(10)).await; // fallback works from 0 replicas

    for (scaler, reason) in [
        ("doomed", "TargetNotFound"),
        ("invalid", "InvalidSpec"),
        ("starved", "MetricUnavailable"),
        ("starved", "FallbackActive"),
    ] {
        let reasons = cluster.event_reasons(scaler).await;
        assert_eq!(
            reasons.iter().filter(|r| *r == reason).count(),
            1,
            "one {reason} Event on {scaler}: {reasons:?}"
        );
    }
    assert_eq!(cluster.replicas("invalid").await, 3, "an invalid scaler never scales");
    assert_eq!(cluster.replicas("healthy").await, 3, "the healthy one is unaffected (150 / 50 = 3)");
    good.set(400.0);
    wait_replicas(&cluster, "healthy", 8, SECONDS(5)).await;

    // The backend returns: the scaler recovers by itself.
    flaky.set(50.0);
    eventually("metrics available again", SECONDS(10), || async {
        cluster.condition("starved", "MetricsAvailable").await.is_some_and(|c| c.0 == "True")
    })
    .await;
    assert!(cluster.condition("starved", "FallbackActive").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_faults_end_with_the_right_replicas_and_no_duplicate_scale() {
    let cluster = Cluster::start().await;
    cluster.deployment("app", 1).await;
    let load = Load::new(50.0);
    cluster.apply_scaler("app", base_spec(&load, 50.0)).await;
    let daemon = cluster.daemon("d", &["--no-leader-election"]);
    eventually("a first status", SECONDS(10), || async { cluster.scaler("app").await.status.is_some() })
        .await;
    let faults = cluster.sandbox.faults();

    // 409 on the status write right after a scale, 500 on the first scale attempt.
    faults.error(FaultMatch::any().verb("patch").path("/generalscalers/app/status").times(1), 409);
    faults.error(FaultMatch::any().verb("patch").path("/deployments/app/scale").times(1), 500);
    load.set(200.0);
    wait_replicas(&cluster, "app", 4, SECONDS(8)).await;

    // 429 with Retry-After on the scale: honoured, then done once.
    faults.throttle(FaultMatch::any().verb("patch").path("/deployments/app/scale").times(1), 2);
    load.set(300.0);
    wait_replicas(&cluster, "app", 6, SECONDS(15)).await;
    let log = cluster.sandbox.requests();
    let scale = |r: &&RequestRecord| r.verb == "patch" && r.subresource == "scale";
    let throttled = log.iter().filter(scale).find(|r| r.status == 429).expect("a throttled PATCH").clone();
    let retried = log.iter().filter(scale).find(|r| r.at > throttled.at).expect("a retry").clone();
    assert!(
        retried.at >= throttled.at + SignedDuration::from_secs(2),
        "the retry waited for Retry-After: 2 ({} then {})",
        throttled.at,
        retried.at
    );

    // Dropped watches: the daemon resumes and still sees changes to its scalers.
    faults.drop_watches();
    let mut spec = base_spec(&load, 50.0);
    spec["maxReplicas"] = json!(5);
    cluster.apply_scaler("app", spec).await;
    wait_replicas(&cluster, "app", 5, SECONDS(10)).await;

    let patches = cluster.sandbox.count_requests(is_scale_patch);
    assert_eq!(patches, 3, "1 -> 4 -> 6 -> 5, one successful PATCH each");
    drop(daemon);
}

/// A /scale that keeps refusing (RBAC, a webhook) says so in status and an Event, is retried at
/// the scaler's own pace rather than every 2 s, and clears once the refusal ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_scale_is_reported_and_retried_at_the_scalers_pace() {
    let cluster = Cluster::start().await;
    cluster.deployment("app", 1).await;
    let load = Load::new(50.0);
    let mut spec = base_spec(&load, 50.0);
    spec["syncIntervalSeconds"] = json!(4);
    cluster.apply_scaler("app", spec).await;
    let _daemon = cluster.daemon("d", &["--no-leader-election"]);
    eventually("a first status", SECONDS(10), || async { cluster.scaler("app").await.status.is_some() })
        .await;
    let refused = |r: &RequestRecord| r.verb == "patch" && r.subresource == "scale" && r.status == 403;
    let faults = cluster.sandbox.faults();
    let fault = faults.error(FaultMatch::any().verb("patch").path("/deployments/app/scale"), 403);
    load.set(200.0);
    eventually("Ready=False ScaleFailed", SECONDS(20), || async {
        cluster.condition("app", "Ready").await.is_some_and(|(status, reason, message)| {
            status == "False" && reason == "ScaleFailed" && message.contains("from 1 to 4")
        })
    })
    .await;
    assert!(cluster.event_reasons("app").await.contains(&"ScaleFailed".to_string()));
    // Retried, not given up: three more refusals. The backoff starts at 2 s and doubles up to the
    // scaler's 4 s interval, where it stays: from the third retry on, they come an interval apart.
    let before = cluster.sandbox.count_requests(refused);
    eventually("three more retries", SECONDS(30), || async {
        cluster.sandbox.count_requests(refused) >= before + 3
    })
    .await;
    let mut times: Vec<Timestamp> =
        cluster.sandbox.requests().iter().filter(|r| refused(r)).map(|r| r.at).collect();
    times.sort();
    let gaps: Vec<SignedDuration> = times.windows(2).map(|w| w[1].duration_since(w[0])).collect();
    assert!(
        gaps.iter().skip(2).all(|gap| *gap > SignedDuration::from_secs(3)),
        "retried at the 4 s interval, not every 2 s: {gaps:?}"
    );

    faults.remove(fault);
    wait_replicas(&cluster, "app", 4, SECONDS(10)).await;
    eventually("Ready again", SECONDS(10), || async {
        cluster.condition("app", "Ready").await.is_some_and(|(status, _, _)| status == "True")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_costs_no_patches_no_gets_and_rare_status_writes() {
    let cluster = Cluster::start().await;
    let load = Load::new(100.0);
    for i in 0..3 {
        let name = format!("app{i}");
        cluster.deployment(&name, 2).await;
        let mut spec = base_spec(&load, 50.0);
        spec["targetRef"]["name"] = json!(name);
        cluster.apply_scaler(&name, spec).await;
    }
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let daemon = cluster.daemon("d", &["--metrics-addr", &addr]);
    eventually("all evaluated", SECONDS(15), || async {
        let mut all = true;
        for i in 0..3 {
            all &= cluster
                .scaler(&format!("app{i}"))
                .await
                .status
                .is_some_and(|s| s.desired_replicas == Some(2));
        }
        all
    })
    .await;
    let get = |path: &str| {
        common::http_request("GET", &format!("http://{addr}{path}"), None).expect("metrics server up")
    };
    let http_counts = || {
        let text = get("/metrics").1;
        let count = |name: &str| -> u64 {
            let line = format!("{name}{{source=\"http\"}} ");
            text.lines().find_map(|l| l.strip_prefix(line.as_str())?.parse().ok()).unwrap()
        };
        (count("gscale_metric_fetches_total"), count("gscale_metric_queries_total"))
    };
    load.wait_ticks(2, SECONDS(10)).await;
    cluster.sandbox.clear_requests();
    let (fetches_before, queries_before) = http_counts();
    load.wait_ticks(8, SECONDS(30)).await; // eight intervals

    let log = cluster.sandbox.requests();
    let count = |f: &dyn Fn(&RequestRecord) -> bool| log.iter().filter(|r| f(r)).count();
    assert_eq!(count(&|r| r.verb == "patch" && r.subresource == "scale"), 0, "no scale PATCH");
    assert_eq!(count(&|r| r.verb == "get" && r.resource == "generalscalers"), 0, "no GET of scalers");
    assert_eq!(
        count(&|r| r.verb == "get" && (r.resource == "deployments")),
        0,
        "no GET of targets or /scale"
    );
    assert!(count(&|r| r.subresource == "status") <= 3, "status writes at most once per scaler per minute");
    let others: Vec<String> = log
        .iter()
        .filter(|r| !(r.resource == "leases" || r.verb == "watch"))
        .map(|r| format!("{} {} {}", r.verb, r.path, r.status))
        .collect();
    assert!(others.is_empty(), "only Lease renewals and open watches: {others:#?}");
    // Three scalers share one query and one tick: one query for three readings, not three.
    let (fetches, queries) = http_counts();
    let (fetches, queries) = (fetches - fetches_before, queries - queries_before);
    assert!(queries >= 7, "a query per tick: {queries}");
    assert!(fetches >= 2 * queries, "readings shared within a tick: {fetches} readings, {queries} queries");

    // The daemon's own metrics and health.
    assert_eq!(get("/healthz").0, 200);
    assert_eq!(get("/readyz").0, 200, "{}", daemon.log());
    let (code, text) = get("/metrics");
    assert_eq!(code, 200);
    for needle in [
        "gscale_decisions_total ",
        "gscale_scale_actions_total{direction=\"up\"} 0",
        "gscale_scaler_desired_replicas{namespace=\"default\",name=\"app1\"} 2",
        "gscale_metric_dedup_hits_total{source=\"http\"}",
        "gscale_metric_fetch_duration_seconds_bucket{source=\"http\",le=\"+Inf\"}",
        "gscale_leader 1",
    ] {
        assert!(text.contains(needle), "{needle} in\n{text}");
    }
    let hits: u64 = text
        .lines()
        .find(|l| l.starts_with("gscale_metric_dedup_hits_total{source=\"http\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap();
    assert!(hits >= 8, "two of three scalers share each reading: {hits} dedup hits");

    // A deleted scaler leaves no stale gauge behind.
    let scalers: kube::Api<gscale::api::GeneralScaler> =
        kube::Api::namespaced(cluster.client.clone(), "default");
    scalers.delete("app1", &Default::default()).await.unwrap();
    eventually("the deleted scaler's gauges are gone", SECONDS(15), || async {
        !get("/metrics").1.contains("name=\"app1\"")
    })
    .await;
    assert!(get("/metrics").1.contains("name=\"app2\""), "the others stay");
}

/// Passes of `run --once` (a cron job) keep the windows' own times: the scale-down window lets a
/// recommendation go once it has aged, however many passes ran meanwhile. Each pass is judged
/// against the time the first one stamped on its recommendation, never against a stopwatch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_passes_let_the_scale_down_window_expire() {
    const WINDOW: i64 = 5;
    let cluster = Cluster::start().await;
    cluster.deployment("app", 1).await;
    let load = Load::new(200.0);
    let mut spec = base_spec(&load, 50.0);
    spec["behavior"]["scaleDown"] = json!({"cooldownSeconds": 0, "stabilizationWindowSeconds": WINDOW});
    cluster.apply_scaler("app", spec).await;
    let pass = || async {
        let started = Timestamp::now();
        let out = cluster.run_to_exit(&["--once", "--no-leader-election"]).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (started, Timestamp::now(), cluster.replicas("app").await)
    };
    assert_eq!(pass().await.2, 4);
    let status = cluster.scaler("app").await.status.unwrap();
    let recommended =
        status.history.recommendations.iter().find(|r| r.replicas == 4).expect("4 recommended").time;
    let expires = plus(recommended, WINDOW);
    load.set(50.0);
    let mut passes = Vec::new();
    while passes.last().is_none_or(|(_, _, replicas)| *replicas != 1) {
        assert!(passes.len() < 20, "the window never let the 4 go: {passes:?}");
        passes.push(pass().await);
        tokio::time::sleep(SECONDS(1)).await;
    }
    for (started, finished, replicas) in &passes {
        if *finished < expires {
            assert_eq!(*replicas, 4, "a pass inside the {WINDOW} s window holds ({started} .. {finished})");
        }
        if *started > expires {
            assert_eq!(*replicas, 1, "a pass after the window lets the 4 go ({started} .. {finished})");
        }
    }
    let held = passes.iter().filter(|(_, _, replicas)| *replicas == 4).count();
    assert!(held >= 2, "passes ran inside the window and held: {passes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_and_preflight() {
    let cluster = Cluster::start().await;
    cluster.deployment("app", 1).await;
    let load = Load::new(200.0);
    cluster.apply_scaler("app", base_spec(&load, 50.0)).await;
    let out = cluster.run_to_exit(&["--once", "--dry-run"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(cluster.replicas("app").await, 1, "--dry-run never scales");
    assert_eq!(cluster.scaler("app").await.status.unwrap().desired_replicas, Some(4));

    let out = cluster.run_to_exit(&["--once"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(cluster.replicas("app").await, 4, "--once scales and exits");

    // Beside a daemon that holds the Lease, a pass refuses to act, and says what to do.
    let leader = cluster.daemon("leader", &[]);
    eventually("the daemon leads", SECONDS(10), || async {
        !cluster.lease_holder("gscale-leader").await.is_empty()
    })
    .await;
    let out = cluster.run_to_exit(&["--once"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("another gscale leads") && err.contains("--no-leader-election"), "{err}");
    drop(leader);

    // Preflight: the CRD missing is named, with the command that fixes it.
    let crds: kube::Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = kube::Api::all(cluster.client.clone());
    crds.delete(gscale::api::CRD_NAME, &Default::default()).await.unwrap();
    let out = cluster.run_to_exit(&[]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("gscale: generalscaler CRD not found\nhint: run gscale install-crd"), "{err}");

    // RBAC: which verb on which resource.
    cluster.sandbox.faults().error(FaultMatch::any().verb("list").path("generalscalers"), 403);
    let out = cluster.run_to_exit(&[]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("forbidden: cannot list generalscalers.autoscaling.generalscaler.io in all namespaces"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_split_the_scalers_with_a_lease_each() {
    let cluster = Cluster::start().await;
    let load = Load::new(200.0);
    let names: Vec<String> = (0..6).map(|i| format!("svc{i}")).collect();
    for name in &names {
        cluster.deployment(name, 1).await;
        let mut spec = base_spec(&load, 50.0);
        spec["targetRef"]["name"] = json!(name);
        cluster.apply_scaler(name, spec).await;
    }
    let _zero = cluster.daemon("zero", &["--shard", "0/2", "--lease-duration", "3"]);
    let _one = cluster.daemon("one", &["--shard", "1/2", "--lease-duration", "3"]);
    for name in &names {
        wait_replicas(&cluster, name, 4, SECONDS(15)).await;
    }
    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(cluster.client.clone(), "default");
    for (shard, holder) in [("gscale-shard-0-of-2", "zero"), ("gscale-shard-1-of-2", "one")] {
        let lease = leases.get(shard).await.unwrap();
        let identity = lease.spec.unwrap().holder_identity.unwrap();
        assert!(identity.starts_with(holder), "{shard} held by {identity}");
    }
    let events: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(cluster.client.clone(), "default");
    let events = events.list(&Default::default()).await.unwrap().items;
    let zero = gscale::controller::Shard::parse("0/2").unwrap();
    let mut per_shard = [0, 0];
    for name in &names {
        let scaled: Vec<String> = events
            .iter()
            .filter(|e| {
                e.reason.as_deref() == Some("ScaledUp")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
            })
            .filter_map(|e| e.reporting_instance.clone())
            .collect();
        assert_eq!(scaled.len(), 1, "{name} scaled once: {scaled:?}");
        let expected = if zero.owns("default", name) { "zero" } else { "one" };
        assert!(
            scaled[0].starts_with(expected),
            "{name} belongs to shard {expected}, scaled by {}",
            scaled[0]
        );
        per_shard[usize::from(expected == "one")] += 1;
    }
    assert!(per_shard[0] > 0 && per_shard[1] > 0, "both shards had work: {per_shard:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_reading_holds_says_why_and_recovers() {
    use common::cluster::Reply;
    let cluster = Cluster::start().await;
    cluster.deployment("app", 6).await;
    let load = Load::new(300.0);
    let mut spec = base_spec(&load, 50.0);
    spec["metric"]["timeoutSeconds"] = json!(1);
    cluster.apply_scaler("app", spec).await;
    let _daemon = cluster.daemon("d", &["--no-leader-election"]);
    eventually("a first status", SECONDS(10), || async { cluster.scaler("app").await.status.is_some() })
        .await;

    for (reply, says) in [
        (Reply::Down, "503"),
        (Reply::Slow(SECONDS(3)), "no answer within 1s"),
        (Reply::Garbage, "not JSON"),
        (Reply::Empty, "$.value"),
    ] {
        load.answer(reply.clone());
        eventually(&format!("{reply:?} reported"), SECONDS(10), || async {
            cluster
                .condition("app", "MetricsAvailable")
                .await
                .is_some_and(|c| c.0 == "False" && c.2.contains(says))
        })
        .await;
        assert_eq!(cluster.replicas("app").await, 6, "{reply:?}: holds, no scale-down on missing data");
        load.set(300.0);
        eventually(&format!("recovered from {reply:?}"), SECONDS(10), || async {
            cluster.condition("app", "MetricsAvailable").await.is_some_and(|c| c.0 == "True")
        })
        .await;
    }
    let reasons = cluster.event_reasons("app").await;
    assert_eq!(
        reasons.iter().filter(|r| *r == "MetricUnavailable").count(),
        4,
        "one Event per new error: {reasons:?}"
    );
    load.set(50.0);
    wait_replicas(&cluster, "app", 1, SECONDS(5)).await;
}

/// A new forecasting scaler on a Prometheus total reads its metric's past at first sight (a day
/// per range query, over the days its season needs) rather than warming up for a day; the
/// backfill runs beside the first decision, not before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_forecasting_scaler_backfills_its_history_from_prometheus() {
    use std::sync::{Arc, Mutex};
    let cluster = Cluster::start().await;
    cluster.deployment("app", 1).await;
    let ranges: Arc<Mutex<Vec<(f64, f64)>>> = Arc::default();
    let seen = ranges.clone();
    let prometheus = common::http::serve(move |req| {
        let vector = |v: f64| {
            json!({"status": "success", "data": {"resultType": "vector",
            "result": [{"metric": {}, "value": [Timestamp::now().as_second(), v.to_string()]}]}})
        };
        if req.path() != "/api/v1/query_range" {
            return common::http::Response::json(200, &vector(100.0));
        }
        let number = |name: &str| req.query(name).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        let (start, end) = (number("start"), number("end"));
        seen.lock().unwrap().push((start, end));
        // A daily wave, one point a minute.
        let values: Vec<serde_json::Value> = (0..)
            .map(|i| start + 60.0 * f64::from(i))
            .take_while(|t| *t <= end)
            .map(|t| json!([t, (100.0 + 50.0 * (t / 86_400.0 * std::f64::consts::TAU).sin()).to_string()]))
            .collect();
        common::http::Response::json(
            200,
            &json!({"status": "success",
            "data": {"resultType": "matrix", "result": [{"metric": {}, "values": values}]}}),
        )
    });
    let spec = json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
        "minReplicas": 1, "maxReplicas": 10, "syncIntervalSeconds": 1,
        "metric": {"type": "prometheus", "targetValue": 50, "targetType": "AverageValue",
                   "prometheus": {"serverUrl": format!("http://{}", prometheus.addr), "query": "sum(rate(requests[1m]))"}},
        "forecast": {"mode": "On"}
    });
    cluster.apply_scaler("app", spec).await;
    let daemon = cluster.daemon("forecaster", &["--no-leader-election"]);
    eventually("the backfill", SECONDS(30), || async {
        daemon.log().contains("forecast history backfilled")
    })
    .await;
    let ranges = ranges.lock().unwrap().clone();
    assert_eq!(ranges.len(), 4, "four days, a day per query: {ranges:?}");
    assert!(ranges.windows(2).all(|w| w[0].1 <= w[1].0 + 1.0), "oldest first, back to back: {ranges:?}");
    assert!(daemon.log().contains("hours=9"), "about four days learnt: {}", daemon.log());
}
