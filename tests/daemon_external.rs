//! `gscale run` end to end on a KEDA external scaler: a real gRPC server speaking
//! `externalscaler.proto` (tonic, served by the test on loopback) answers IsActive, GetMetricSpec and
//! GetMetrics; the daemon scales the sandbox's Deployment up, down, to zero while the scaler says
//! inactive, and holds with the failure named when the scaler goes away.

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use common::cluster::{Cluster, eventually};
use gscale::metrics::external::{
    ExternalMetricSpec, GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse,
    MetricValue, ScaledObjectRef, paths,
};
use serde_json::json;
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic_prost::ProstCodec;

const SECONDS: fn(u64) -> Duration = Duration::from_secs;

/// What the scaler answers, and what it was asked.
#[derive(Default)]
struct State {
    value: AtomicI64,
    active: AtomicBool,
    metadata: Mutex<Option<HashMap<String, String>>>,
}

#[derive(Clone)]
struct Scaler(Arc<State>);

impl NamedService for Scaler {
    const NAME: &'static str = "externalscaler.ExternalScaler";
}

struct Unary<F>(F);

impl<Q, R, F: FnMut(Q) -> R> UnaryService<Q> for Unary<F> {
    type Response = R;
    type Future = std::future::Ready<Result<tonic::Response<R>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<Q>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new((self.0)(request.into_inner()))))
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Scaler {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let state = self.0.clone();
        Box::pin(async move {
            let path = request.uri().path().to_string();
            Ok(match path.as_str() {
                paths::IS_ACTIVE => {
                    let codec = ProstCodec::<IsActiveResponse, ScaledObjectRef>::default();
                    let answer = |asked: ScaledObjectRef| {
                        *state.metadata.lock().unwrap() = Some(asked.scaler_metadata);
                        IsActiveResponse { result: state.active.load(Ordering::SeqCst) }
                    };
                    Grpc::new(codec).unary(Unary(answer), request).await
                }
                paths::GET_METRIC_SPEC => {
                    let codec = ProstCodec::<GetMetricSpecResponse, ScaledObjectRef>::default();
                    let answer = |_: ScaledObjectRef| GetMetricSpecResponse {
                        metric_specs: vec![ExternalMetricSpec {
                            metric_name: "queue".into(),
                            target_size: 10,
                            target_size_float: 0.0,
                        }],
                    };
                    Grpc::new(codec).unary(Unary(answer), request).await
                }
                paths::GET_METRICS => {
                    let codec = ProstCodec::<GetMetricsResponse, GetMetricsRequest>::default();
                    let answer = |asked: GetMetricsRequest| GetMetricsResponse {
                        metric_values: vec![MetricValue {
                            metric_name: asked.metric_name,
                            metric_value: state.value.load(Ordering::SeqCst),
                            metric_value_float: 0.0,
                        }],
                    };
                    Grpc::new(codec).unary(Unary(answer), request).await
                }
                _ => tonic::Status::unimplemented("no such method").into_http(),
            })
        })
    }
}

/// Serve the scaler on a free loopback port until `stop` fires.
async fn serve(state: Arc<State>) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(async move {
        let server = tonic::transport::Server::builder();
        let _ = server
            .serve_with_incoming_shutdown(Scaler(state), incoming, async {
                let _ = stopped.await;
            })
            .await;
    });
    (address, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_scaler_drives_gscale_run_as_it_drives_keda() {
    let state = Arc::new(State::default());
    state.active.store(true, Ordering::SeqCst);
    state.value.store(45, Ordering::SeqCst);
    let (address, stop) = serve(state.clone()).await;
    let cluster = Cluster::start().await;
    cluster.deployment("queue-worker", 1).await;
    let spec = json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "queue-worker"},
        "minReplicas": 0,
        "maxReplicas": 20,
        "metric": {"type": "external", "targetValue": 1,
                   "external": {"scalerAddress": address, "metadata": {"foo": "bar"}}},
        "syncIntervalSeconds": 1,
        "behavior": {"scaleDown": {"cooldownSeconds": 0, "stabilizationWindowSeconds": 0}}
    });
    cluster.apply_scaler("queue-worker", spec).await;
    let mut daemon = cluster.daemon("d", &["--no-leader-election"]);

    // 45 against the scaler's targetSize 10: 5 replicas, as KEDA's HPA would hold it.
    cluster.wait_replicas("queue-worker", 5, SECONDS(30)).await;
    assert_eq!(state.metadata.lock().unwrap().clone(), Some(HashMap::from([("foo".into(), "bar".into())])));
    let status = cluster.scaler("queue-worker").await.status.unwrap();
    assert_eq!(status.metrics[0].value, Some(4.5), "{status:?}");
    state.value.store(12, Ordering::SeqCst);
    cluster.wait_replicas("queue-worker", 2, SECONDS(30)).await;
    // Inactive: read as 0, and minReplicas 0 lets the workload rest at 0.
    state.active.store(false, Ordering::SeqCst);
    cluster.wait_replicas("queue-worker", 0, SECONDS(30)).await;
    state.active.store(true, Ordering::SeqCst);
    state.value.store(30, Ordering::SeqCst);
    cluster.wait_replicas("queue-worker", 3, SECONDS(30)).await;

    // The scaler goes away: the replicas hold and the status names the failure.
    let _ = stop.send(());
    eventually("MetricsAvailable False", SECONDS(20), || async {
        cluster.condition("queue-worker", "MetricsAvailable").await.is_some_and(|c| c.0 == "False")
    })
    .await;
    let (_, _, message) = cluster.condition("queue-worker", "MetricsAvailable").await.unwrap();
    assert!(message.contains(&format!("grpc {address}")) && message.contains("unreachable"), "{message}");
    tokio::time::sleep(SECONDS(3)).await;
    assert_eq!(cluster.replicas("queue-worker").await, 3, "no scale-down on missing data");
    daemon.assert_running();
}
