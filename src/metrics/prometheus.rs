//! The Prometheus source: an instant query on `/api/v1/query`, and `query_range` for replays.
//!
//! [`parse_instant`] and [`parse_range`] are pure functions over the HTTP API's JSON reply; the
//! [`PrometheusQuery`] around them only sends the request (headers, bearer token, TLS as the spec says).
//! Secrets are resolved by the fetcher before a query is built; nothing here reads the cluster.
//! Requests go through `send` (redirects, reply cap, host policy). A reply's words never reach a
//! message: an error says the HTTP status, Prometheus's `errorType` (one of its known few) and the
//! size of its text, an ambiguous reply how many series came back, never their labels.

use jiff::Timestamp;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::error::{MetricError, Problem, Target, bytes};
use super::transport::{self, SecretString};
use super::{Limits, MetricSource, number, send};
use crate::api::MetricType;

/// One instant query, ready to send.
#[derive(Clone, Debug)]
pub struct PrometheusQuery {
    pub(crate) target: Target,
    pub(crate) client: reqwest::Client,
    pub(crate) limits: Limits,
    pub(crate) server_url: String,
    pub(crate) query: String,
    pub(crate) headers: HeaderMap,
    pub(crate) bearer_token: Option<SecretString>,
}

/// The target of a query on a server, for messages and dedup.
pub fn target(server_url: &str, query: &str) -> Target {
    Target {
        kind: MetricType::Prometheus,
        backend: transport::display_url(server_url),
        query: format!("query `{query}`"),
    }
}

impl PrometheusQuery {
    async fn send(&self, path: &str, params: &[(&str, String)]) -> Result<Value, MetricError> {
        let url = send::with_query(&self.server_url, path, params).map_err(|err| {
            MetricError::InvalidSource { kind: "prometheus", detail: format!("serverUrl: {err}") }
        })?;
        let request = send::Request {
            method: Method::GET,
            url,
            body: None,
            headers: &self.headers,
            bearer_token: self.bearer_token.as_ref(),
        };
        let reply = send::send(&self.client, &self.limits, &self.target, request).await?;
        if reply.status == StatusCode::UNAUTHORIZED || reply.status == StatusCode::FORBIDDEN {
            return Err(MetricError::Auth { target: self.target.clone(), detail: reply.describe() });
        }
        match serde_json::from_slice::<Value>(&reply.body) {
            Ok(json) if json.get("status").and_then(Value::as_str) == Some("error") => {
                Err(Problem::Backend(format!("{}, {}", error_words(&json), reply.describe()))
                    .at(&self.target))
            }
            Ok(json) => Ok(json),
            Err(_) if !reply.status.is_success() => Err(Problem::Backend(reply.describe()).at(&self.target)),
            Err(_) => Err(Problem::BadReply(format!("not JSON ({})", reply.shape())).at(&self.target)),
        }
    }

    /// The series of the query between `start` and `end`, one point per `step`: one series expected.
    pub async fn query_range(
        &self,
        start: Timestamp,
        end: Timestamp,
        step: std::time::Duration,
    ) -> Result<Vec<(Timestamp, f64)>, MetricError> {
        let params = [
            ("query", self.query.clone()),
            ("start", format_time(start)),
            ("end", format_time(end)),
            ("step", format!("{}", step.as_secs_f64())),
        ];
        let json = self.send("/api/v1/query_range", &params).await?;
        parse_range(&json).map_err(|problem| problem.at(&self.target))
    }
}

impl MetricSource for PrometheusQuery {
    fn target(&self) -> &Target {
        &self.target
    }

    async fn read(&self) -> Result<f64, MetricError> {
        let json = self.send("/api/v1/query", &[("query", self.query.clone())]).await?;
        parse_instant(&json).map_err(|problem| problem.at(&self.target))
    }
}

fn format_time(time: Timestamp) -> String {
    format!("{:.3}", time.as_millisecond() as f64 / 1000.0)
}

/// The error types Prometheus's HTTP API documents; any other is shown as `unknown`.
const ERROR_TYPES: [&str; 8] = [
    "timeout",
    "canceled",
    "execution",
    "bad_data",
    "internal",
    "unavailable",
    "not_found",
    "not_acceptable",
];

/// An error reply in words of our own: its type, if Prometheus documents it, and its text's size.
fn error_words(json: &Value) -> String {
    let kind = json.get("errorType").and_then(Value::as_str).filter(|kind| ERROR_TYPES.contains(kind));
    let text = json.get("error").and_then(Value::as_str).unwrap_or("");
    format!(
        "prometheus error {} (its message, {}, not shown)",
        kind.unwrap_or("unknown"),
        bytes(text.len() as u64)
    )
}

fn check_status(json: &Value) -> Result<&Value, Problem> {
    match json.get("status").and_then(Value::as_str) {
        Some("success") => json.get("data").ok_or_else(|| Problem::BadReply("no `data` in reply".into())),
        Some("error") => Err(Problem::Backend(error_words(json))),
        _ => Err(Problem::BadReply(format!("no `status` in reply ({})", json_type(json)))),
    }
}

/// A `[timestamp, "value"]` pair as the HTTP API writes samples.
fn sample(pair: &Value) -> Result<(f64, &str), Problem> {
    let bad = || {
        Problem::BadReply(format!(
            "malformed sample ({} where [time, \"value\"] is expected)",
            json_type(pair)
        ))
    };
    let pair = pair.as_array().filter(|pair| pair.len() == 2).ok_or_else(bad)?;
    let time = pair[0].as_f64().ok_or_else(bad)?;
    let value = pair[1].as_str().ok_or_else(bad)?;
    Ok((time, value))
}

/// What kind of JSON value this is, for messages that must not quote it.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The one number of an instant query's reply: a scalar, or a vector of exactly one series.
pub fn parse_instant(json: &Value) -> Result<f64, Problem> {
    let data = check_status(json)?;
    let result = data.get("result").ok_or_else(|| Problem::BadReply("no `data.result` in reply".into()))?;
    match data.get("resultType").and_then(Value::as_str) {
        Some("scalar") => number::parse(sample(result)?.1),
        Some("vector") => {
            let series = result.as_array().ok_or_else(|| Problem::BadReply("vector is not a list".into()))?;
            match series.as_slice() {
                [] => Err(Problem::NoData("empty vector (no series matched)".into())),
                [one] => {
                    let value =
                        one.get("value").ok_or_else(|| Problem::BadReply("series without value".into()))?;
                    number::parse(sample(value)?.1)
                }
                several => Err(Problem::Ambiguous(format!(
                    "{} series where one is expected (aggregate with sum() or similar; the query run in \
                     Prometheus shows them)",
                    several.len()
                ))),
            }
        }
        Some(other) => {
            let known = ["matrix", "string"].contains(&other);
            let shown = if known { other } else { "unknown" };
            Err(Problem::BadReply(format!("result type {shown} where a scalar or vector is expected")))
        }
        None => Err(Problem::BadReply("no `data.resultType` in reply".into())),
    }
}

/// The points of a range query's reply: a matrix of exactly one series; every point must be usable.
pub fn parse_range(json: &Value) -> Result<Vec<(Timestamp, f64)>, Problem> {
    let data = check_status(json)?;
    if data.get("resultType").and_then(Value::as_str) != Some("matrix") {
        return Err(Problem::BadReply("range query did not return a matrix".into()));
    }
    let series = data
        .get("result")
        .and_then(Value::as_array)
        .ok_or_else(|| Problem::BadReply("matrix is not a list".into()))?;
    let one = match series.as_slice() {
        [] => return Err(Problem::NoData("empty matrix (no series matched)".into())),
        [one] => one,
        several => {
            return Err(Problem::Ambiguous(format!("{} series where one is expected", several.len())));
        }
    };
    let values = one
        .get("values")
        .and_then(Value::as_array)
        .ok_or_else(|| Problem::BadReply("series without values".into()))?;
    values
        .iter()
        .map(|pair| {
            let (time, text) = sample(pair)?;
            let at = Timestamp::from_millisecond((time * 1000.0).round() as i64)
                .map_err(|_| Problem::BadReply(format!("timestamp {time} out of range")))?;
            let value = number::parse(text).map_err(|problem| match problem {
                Problem::InvalidValue(detail) => Problem::InvalidValue(format!("{detail} at {at}")),
                other => other,
            })?;
            Ok((at, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<f64, Problem> {
        parse_instant(&serde_json::from_str(text).unwrap())
    }

    // Replies recorded from Prometheus 2.42.
    const VECTOR_ONE: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"queue_depth","instance":"127.0.0.1:9999","job":"exporter"},"value":[1764214800.123,"42"]}]}}"#;
    const VECTOR_EMPTY: &str = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
    const VECTOR_TWO: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"q":"a"},"value":[1764214800,"1"]},{"metric":{"q":"b"},"value":[1764214800,"2"]}]}}"#;
    const SCALAR: &str =
        r#"{"status":"success","data":{"resultType":"scalar","result":[1764214800.5,"7.25"]}}"#;
    const ERROR: &str = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"}"#;
    const MATRIX: &str = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1764214800,"1"],[1764214860,"2.5"]]}]}}"#;

    #[test]
    fn instant_replies() {
        assert_eq!(parse(VECTOR_ONE), Ok(42.0));
        assert_eq!(parse(SCALAR), Ok(7.25));
        assert_eq!(parse(VECTOR_EMPTY), Err(Problem::NoData("empty vector (no series matched)".into())));
        match parse(VECTOR_TWO) {
            Err(Problem::Ambiguous(detail)) => {
                assert!(detail.starts_with("2 series") && !detail.contains("\"q\""), "no labels: {detail}")
            }
            other => panic!("{other:?}"),
        }
        match parse(ERROR) {
            Err(Problem::Backend(detail)) => {
                assert_eq!(detail, "prometheus error bad_data (its message, 70 bytes, not shown)")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn instant_values_that_are_not_data() {
        let with = |value: &str| {
            parse(&format!(
                r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{}},"value":[1,"{value}"]}}]}}}}"#
            ))
        };
        assert_eq!(with("NaN"), Err(Problem::InvalidValue("NaN".into())));
        assert_eq!(with("+Inf"), Err(Problem::InvalidValue("+Inf".into())));
        assert_eq!(with("-1"), Err(Problem::InvalidValue("negative value -1".into())));
        assert_eq!(with("0"), Ok(0.0));
    }

    #[test]
    fn a_reply_never_lends_its_words_to_a_message() {
        let words = "SECRET-WORDS";
        let error = format!(r#"{{"status":"error","errorType":"{words}","error":"{words} in the text"}}"#);
        let odd_type = format!(r#"{{"status":"success","data":{{"resultType":"{words}","result":[]}}}}"#);
        for reply in [error, odd_type] {
            let problem = format!("{:?}", parse(&reply));
            assert!(!problem.contains(words), "{problem}");
        }
    }

    #[test]
    fn garbage_replies() {
        assert!(matches!(parse(r#"{"hello":1}"#), Err(Problem::BadReply(_))));
        assert!(matches!(
            parse(r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#),
            Err(Problem::BadReply(_))
        ));
        assert!(matches!(
            parse(r#"{"status":"success","data":{"resultType":"vector","result":[{"value":[1,2]}]}}"#),
            Err(Problem::BadReply(_))
        ));
    }

    #[test]
    fn range_reply() {
        let points = parse_range(&serde_json::from_str(MATRIX).unwrap()).unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].0, Timestamp::from_second(1764214800).unwrap());
        assert_eq!(points[1].1, 2.5);
        let empty = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(matches!(parse_range(&serde_json::from_str(empty).unwrap()), Err(Problem::NoData(_))));
        let nan = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1764214800,"NaN"]]}]}}"#;
        assert!(matches!(parse_range(&serde_json::from_str(nan).unwrap()), Err(Problem::InvalidValue(_))));
    }
}
