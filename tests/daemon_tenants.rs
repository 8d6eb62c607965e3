//! `gscale run` with a hostile tenant: 300 scalers in namespace `evil` whose HTTP metrics never
//! answer (at the CRD's longest `timeoutSeconds`), spread over ten backends, beside one healthy
//! scaler in `default`. The healthy scaler must decide at its own pace while every evil read is
//! still hanging: no slot of the daemon is theirs to hold. Time is an order of logged events.

mod common;

use std::time::Duration;

use common::cluster::{Cluster, Load, eventually};
use common::http::{Gate, Response, serve};
use gscale::api::GeneralScaler;
use jiff::SignedDuration;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

const SECONDS: fn(u64) -> Duration = Duration::from_secs;

/// The CRD's maximum `timeoutSeconds`: what the evil scalers ask.
const EVIL_TIMEOUT: i64 = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_whose_metrics_never_answer_does_not_starve_another() {
    let cluster = Cluster::start().await;
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    for name in ["default", "evil"] {
        let namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        let _ = namespaces.create(&PostParams::default(), &namespace).await;
    }
    let gate = std::sync::Arc::new(Gate::closed());
    let silent: Vec<_> = (0..10)
        .map(|_| {
            let gate = gate.clone();
            serve(move |_| Response::json(200, &json!({"value": 1})).held(&gate))
        })
        .collect();
    let evil: Api<GeneralScaler> = Api::namespaced(cluster.client.clone(), "evil");
    for i in 0..300 {
        let url = format!("{}/m/{i}", silent[i % silent.len()].url);
        let scaler = json!({"apiVersion": gscale::api::API_VERSION, "kind": "GeneralScaler",
            "metadata": {"name": format!("evil-{i}")},
            "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": format!("evil-{i}")},
                     "maxReplicas": 10, "syncIntervalSeconds": 1,
                     "metric": {"type": "http", "targetValue": 1, "timeoutSeconds": EVIL_TIMEOUT,
                                "http": {"url": url, "valuePath": "$.value"}}}});
        evil.patch(&format!("evil-{i}"), &PatchParams::apply("test").force(), &Patch::Apply(scaler))
            .await
            .unwrap();
    }
    cluster.deployment("app", 1).await;
    let load = Load::new(200.0);
    cluster
        .apply_scaler(
            "app",
            json!({"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
                   "maxReplicas": 10, "syncIntervalSeconds": 1, "metric": load.metric(50.0)}),
        )
        .await;

    let _daemon = cluster.daemon("d", &["--no-leader-election"]);
    eventually("the evil reads hanging", SECONDS(30), || async {
        silent.iter().map(|s| s.requests()).sum::<usize>() >= 50
    })
    .await;
    eventually("the healthy scaler at 4 replicas", SECONDS(45), || async {
        cluster.replicas("app").await == 4
    })
    .await;
    let decided = load.wait_ticks(3, SECONDS(30)).await;

    let first_evil = silent.iter().flat_map(|s| s.served()).map(|s| s.at).min().expect("an evil read");
    let freed = first_evil + SignedDuration::from_secs(EVIL_TIMEOUT);
    assert!(
        decided[2].at < freed,
        "the healthy scaler read its metric three more times ({}) before any evil read could time out ({freed})",
        decided[2].at
    );
    let answered = silent.iter().flat_map(|s| s.served()).filter(|s| s.answered.is_some()).count();
    assert_eq!(answered, 0, "every evil read was still hanging");
    let in_flight: usize = silent.iter().map(|s| s.requests()).sum();
    assert!(in_flight <= 64, "evil holds at most its namespace's 64 turns: {in_flight} reads");
    eprintln!(
        "healthy decided {:.1}s after the first evil read; {in_flight} evil reads in flight",
        decided[0].at.duration_since(first_evil).as_secs_f64()
    );
    gate.open();
}
