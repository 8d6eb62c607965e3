//! A stand-in for the Cloud Monitoring API (`GET /v3/projects/{p}/timeSeries`): it answers the
//! Pub/Sub subscription series with values the test sets. Only Monitoring is stood in for; the Pub/Sub
//! side is the real emulator.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::http::{HttpServer, Request, Response, serve};

/// What the stand-in answers for one (project, subscription id, metric suffix).
#[derive(Clone, Debug)]
pub enum Series {
    /// One INT64 point with this value.
    Value(i64),
    /// No series at all.
    Empty,
    /// A garbage body.
    Garbage,
    /// Two series (ambiguous).
    Two,
    /// A 403.
    Forbidden,
    /// The value, after a delay.
    Slow(i64, Duration),
}

type Table = Arc<Mutex<BTreeMap<(String, String, String), Series>>>;

/// The running stand-in.
pub struct Monitoring {
    /// Its HTTP server (`server.url` is the endpoint to configure).
    pub server: HttpServer,
    table: Table,
}

impl Monitoring {
    /// Set what `projects/{project}` answers for `subscription`'s `num_undelivered_messages` ("backlog")
    /// or `oldest_unacked_message_age` ("age").
    pub fn set(&self, project: &str, subscription: &str, which: &str, series: Series) {
        self.table.lock().unwrap().insert((project.into(), subscription.into(), which.into()), series);
    }

    /// Shorthand: the backlog of a subscription.
    pub fn set_backlog(&self, project: &str, subscription: &str, value: i64) {
        self.set(project, subscription, "backlog", Series::Value(value));
    }
}

fn series_json(subscription: &str, value: i64) -> serde_json::Value {
    let now = jiff::Timestamp::now();
    let earlier = now - jiff::SignedDuration::from_secs(60);
    serde_json::json!({
        "metric": {"type": "pubsub.googleapis.com/subscription/num_undelivered_messages"},
        "resource": {"type": "pubsub_subscription", "labels": {"subscription_id": subscription}},
        "metricKind": "GAUGE", "valueType": "INT64",
        "points": [
            {"interval": {"startTime": now.to_string(), "endTime": now.to_string()}, "value": {"int64Value": value.to_string()}},
            {"interval": {"startTime": earlier.to_string(), "endTime": earlier.to_string()}, "value": {"int64Value": "999999"}}
        ]
    })
}

fn answer(table: &Table, request: &Request) -> Response {
    let parts: Vec<&str> = request.path().trim_matches('/').split('/').collect();
    let ["v3", "projects", project, "timeSeries"] = parts.as_slice() else {
        return Response::json(
            404,
            &serde_json::json!({"error": {"code": 404, "message": "no such method", "status": "NOT_FOUND"}}),
        );
    };
    let filter = request.query("filter").unwrap_or_default();
    let which = if filter.contains("oldest_unacked_message_age") { "age" } else { "backlog" };
    let subscription = filter
        .split("resource.labels.subscription_id = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
        .to_owned();
    let series =
        table.lock().unwrap().get(&(project.to_string(), subscription.clone(), which.into())).cloned();
    match series.unwrap_or(Series::Empty) {
        Series::Value(value) => Response::json(
            200,
            &serde_json::json!({"timeSeries": [series_json(&subscription, value)], "unit": "1"}),
        ),
        Series::Slow(value, delay) => {
            Response::json(200, &serde_json::json!({"timeSeries": [series_json(&subscription, value)]}))
                .delayed(delay)
        }
        Series::Empty => Response::json(200, &serde_json::json!({})),
        Series::Garbage => Response::text(200, "application/json", "{\"timeSeries\": [{\"points\": \"oops"),
        Series::Two => Response::json(
            200,
            &serde_json::json!({"timeSeries": [series_json(&subscription, 1), series_json(&subscription, 2)]}),
        ),
        Series::Forbidden => Response::json(
            403,
            &serde_json::json!({"error": {"code": 403, "message": "permission denied", "status": "PERMISSION_DENIED"}}),
        ),
    }
}

/// Start the stand-in.
pub fn start() -> Monitoring {
    let table: Table = Arc::default();
    let for_server = table.clone();
    let server = serve(move |request| answer(&for_server, request));
    Monitoring { server, table }
}
