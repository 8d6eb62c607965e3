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
    /// A value every minute, as this function of the minute's Unix time (seconds), over whatever
    /// interval is asked for, newest first as Monitoring answers, [`PAGE`] points a page.
    Wave(fn(i64) -> i64),
}

/// Points per page of a [`Series::Wave`]: fewer than gscale asks for, as the real API may answer,
/// so that paging is exercised.
pub const PAGE: usize = 500;

type Table = Arc<Mutex<BTreeMap<(String, String, String), Series>>>;

/// A read of a series over an interval aligned by minute (a history read, not a latest-value one):
/// its start, end and page token as sent.
#[derive(Clone, Debug)]
pub struct HistoryRead {
    pub start: String,
    pub end: String,
    pub page_token: String,
}

/// The running stand-in.
pub struct Monitoring {
    /// Its HTTP server (`server.url` is the endpoint to configure).
    pub server: HttpServer,
    table: Table,
    history_reads: Arc<Mutex<Vec<HistoryRead>>>,
}

impl Monitoring {
    /// Set what `projects/{project}` answers for `subscription`'s `num_undelivered_messages` ("backlog")
    /// or `oldest_unacked_message_age` ("age").
    pub fn set(&self, project: &str, subscription: &str, which: &str, series: Series) {
        self.table.lock().unwrap().insert((project.into(), subscription.into(), which.into()), series);
    }

    /// The history reads made so far, in order.
    pub fn history_reads(&self) -> Vec<HistoryRead> {
        self.history_reads.lock().unwrap().clone()
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

/// A [`Series::Wave`] over the request's interval as the API answers it: `(startTime, endTime]`,
/// newest first, the points of an aligned read anchored at `endTime` every alignment period (one
/// minute here) as doubles (a mean of integers), of a raw read at whole minutes as integers; at most
/// `pageSize` (and [`PAGE`]) points a page.
fn wave(subscription: &str, value: fn(i64) -> i64, request: &Request) -> Response {
    let time = |name: &str| {
        request.query(name).and_then(|t| t.parse::<jiff::Timestamp>().ok()).map(|t| t.as_second())
    };
    let end = time("interval.endTime").unwrap_or_else(|| jiff::Timestamp::now().as_second());
    let start = time("interval.startTime").unwrap_or(end - 1);
    let aligned = request.query("aggregation.alignmentPeriod").is_some();
    // Enums come as numbers (`$alt=json;enum-encoding=int`, as the Google clients send them) or names.
    let aligner = request.query("aggregation.perSeriesAligner");
    if aligned && !matches!(aligner.as_deref(), Some("12" | "ALIGN_MEAN")) {
        return Response::json(
            400,
            &serde_json::json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
                "message": "The aligner cannot be ALIGN_NONE if the alignment period is specified."}}),
        );
    }
    let newest = if aligned { end } else { end.div_euclid(60) * 60 };
    let times: Vec<i64> = (0..).map(|k| newest - 60 * k).take_while(|t| *t > start).collect();
    let size = request.query("pageSize").and_then(|s| s.parse().ok()).filter(|s| *s > 0).unwrap_or(PAGE);
    let skip: usize = request.query("pageToken").and_then(|t| t.parse().ok()).unwrap_or(0);
    let page: Vec<serde_json::Value> = times
        .iter()
        .skip(skip)
        .take(size.min(PAGE))
        .map(|&t| {
            let at = jiff::Timestamp::from_second(t).unwrap().to_string();
            let value = if aligned {
                serde_json::json!({"doubleValue": value(t) as f64})
            } else {
                serde_json::json!({"int64Value": value(t).to_string()})
            };
            serde_json::json!({"interval": {"startTime": at, "endTime": at}, "value": value})
        })
        .collect();
    let read = skip + page.len();
    let next = if read < times.len() { read.to_string() } else { String::new() };
    let series = serde_json::json!({
        "metric": {"type": "pubsub.googleapis.com/subscription/num_undelivered_messages"},
        "resource": {"type": "pubsub_subscription", "labels": {"subscription_id": subscription}},
        "metricKind": "GAUGE", "valueType": if aligned { "DOUBLE" } else { "INT64" }, "points": page
    });
    Response::json(200, &serde_json::json!({"timeSeries": [series], "nextPageToken": next}))
}

fn answer(table: &Table, history_reads: &Mutex<Vec<HistoryRead>>, request: &Request) -> Response {
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
    if request.query("aggregation.alignmentPeriod").is_some() {
        history_reads.lock().unwrap().push(HistoryRead {
            start: request.query("interval.startTime").unwrap_or_default(),
            end: request.query("interval.endTime").unwrap_or_default(),
            page_token: request.query("pageToken").unwrap_or_default(),
        });
    }
    match series.unwrap_or(Series::Empty) {
        Series::Wave(value) => wave(&subscription, value, request),
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
    let history_reads: Arc<Mutex<Vec<HistoryRead>>> = Arc::default();
    let (for_server, reads) = (table.clone(), history_reads.clone());
    let server = serve(move |request| answer(&for_server, &reads, request));
    Monitoring { server, table, history_reads }
}
