//! A mock API server for the controller's unit tests (kube-rs's `tower_test` pattern): it answers
//! only the requests a test expects, in order, so a request not expected fails the test, and so
//! does one expected and not made. A reply can also be lost after the request was taken in (held
//! forever, or the connection dropped), as a hung or cut API server loses it.

use http::Response;
use http_body_util::BodyExt;
use kube::client::Body;
use serde_json::{Value, json};

use super::testing::ApiServer;
use crate::api::GeneralScaler;

/// What the mock does with a request it expects.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// Reply with this code (an echo of what was sent below 300, a `Status` otherwise).
    Code(u16),
    /// Take the request in and never reply (a hung connection).
    Never,
    /// Take the request in and drop the connection without a reply.
    Hangup,
}

/// A request the mock API server expects: method, the end of its path, and its answer.
pub struct Expect {
    method: &'static str,
    path: &'static str,
    answer: Answer,
}

/// Expect `method` on a path ending in `path`, answered with `code`.
pub fn expect(method: &'static str, path: &'static str, code: u16) -> Expect {
    Expect { method, path, answer: Answer::Code(code) }
}

/// Expect `method` on a path ending in `path`, whose reply is lost as `answer` says.
pub fn lost(method: &'static str, path: &'static str, answer: Answer) -> Expect {
    Expect { method, path, answer }
}

/// The scaler `ns/web` on Deployment `web`, a Redis queue metric, with `status` if given.
pub fn scaler(status: Option<Value>) -> GeneralScaler {
    let mut object = json!({
        "apiVersion": crate::api::API_VERSION, "kind": "GeneralScaler",
        "metadata": {"name": "web", "namespace": "ns", "uid": "uid-1", "generation": 1},
        "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "minReplicas": 1, "maxReplicas": 10,
                 "metric": {"type": "redis", "targetValue": 10, "redis": {"host": "r", "queueName": "q"}}}
    });
    if let Some(status) = status {
        object["status"] = status;
    }
    serde_json::from_value(object).unwrap()
}

/// Answer `expected` in order, then check that nothing else was asked; the bodies received. A GET
/// of `/scale` reads the replicas of the last PATCH of `/scale`, answered or not (it was applied).
pub async fn serve(mut api: ApiServer, expected: Vec<Expect>) -> Vec<Value> {
    let mut bodies = Vec::new();
    let mut held = Vec::new();
    let mut scale = json!({"replicas": 2});
    for e in expected {
        let (request, reply) =
            api.next_request().await.expect("the daemon made fewer requests than expected");
        let (parts, body) = request.into_parts();
        assert_eq!(
            (parts.method.as_str(), parts.uri.path().ends_with(e.path)),
            (e.method, true),
            "{}",
            parts.uri
        );
        let body = body.collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let path = parts.uri.path();
        if path.ends_with("/scale") && parts.method == http::Method::PATCH {
            scale = body["spec"].clone();
        }
        bodies.push(body.clone());
        let code = match e.answer {
            Answer::Code(code) => code,
            Answer::Never => {
                held.push(reply);
                continue;
            }
            Answer::Hangup => {
                drop(reply);
                continue;
            }
        };
        let answer = if code < 300 {
            // The client decodes replies into the type it asked for: echo what was sent.
            if path.ends_with("/scale") {
                json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web"}, "spec": scale})
            } else if path.ends_with("/status") {
                serde_json::to_value(scaler(Some(body["status"].clone()))).unwrap()
            } else if parts.method == http::Method::GET {
                serde_json::to_value(scaler(None)).unwrap()
            } else {
                body
            }
        } else {
            json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": code,
                   "reason": "Refused", "message": format!("refused with {code}")})
        };
        reply.send_response(
            Response::builder().status(code).body(Body::from(serde_json::to_vec(&answer).unwrap())).unwrap(),
        );
    }
    assert!(api.next_request().await.is_none(), "the daemon made a request that was not expected");
    drop(held);
    bodies
}
