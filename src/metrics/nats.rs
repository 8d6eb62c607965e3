//! The NATS JetStream source: a durable consumer's pending messages from the server's monitoring
//! endpoint (`GET /jsz?acc=ACCOUNT&consumers=true`), as KEDA's `nats-jetstream` scaler reads them.
//!
//! [`parse_jsz`] is pure over the endpoint's JSON; [`NatsQuery`] sends through `send` (reply cap,
//! host policy). The monitoring endpoint has no authentication of its own in nats-server, so there
//! is no credential to read; TLS takes a CA from a Secret. A reply's words never reach a message.
//! The endpoint keeps no past, so there is no history for `plan --replay`.

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::error::{MetricError, Problem, Target};
use super::{Limits, MetricSource, number, send, transport};
use crate::api::MetricType;

/// One consumer read, ready to send.
#[derive(Clone, Debug)]
pub struct NatsQuery {
    pub(crate) target: Target,
    pub(crate) client: reqwest::Client,
    pub(crate) limits: Limits,
    pub(crate) monitoring_url: String,
    pub(crate) account: String,
    pub(crate) stream: String,
    pub(crate) consumer: String,
    pub(crate) include_ack_pending: bool,
}

/// The target of a consumer read, for messages and dedup.
pub fn target(monitoring_url: &str, account: &str, stream: &str, consumer: &str) -> Target {
    Target {
        kind: MetricType::Nats,
        backend: transport::display_url(monitoring_url),
        query: format!("account `{account}` stream `{stream}` consumer `{consumer}`, pending"),
    }
}

impl MetricSource for NatsQuery {
    fn target(&self) -> &Target {
        &self.target
    }

    async fn read(&self) -> Result<f64, MetricError> {
        let params = [("acc", self.account.clone()), ("consumers", "true".to_string())];
        let url = send::with_query(&self.monitoring_url, "/jsz", &params).map_err(|err| {
            MetricError::InvalidSource { kind: "nats", detail: format!("monitoringUrl: {err}") }
        })?;
        let headers = HeaderMap::new();
        let request =
            send::Request { method: Method::GET, url, body: None, headers: &headers, bearer_token: None };
        let reply = send::send(&self.client, &self.limits, &self.target, request).await?;
        if reply.status == StatusCode::UNAUTHORIZED || reply.status == StatusCode::FORBIDDEN {
            return Err(MetricError::Auth { target: self.target.clone(), detail: reply.describe() });
        }
        if !reply.status.is_success() {
            return Err(Problem::Backend(reply.describe()).at(&self.target));
        }
        let json: Value = serde_json::from_slice(&reply.body)
            .map_err(|_| Problem::BadReply(format!("not JSON ({})", reply.shape())).at(&self.target))?;
        parse_jsz(&json, &self.account, &self.stream, &self.consumer, self.include_ack_pending)
            .map_err(|problem| problem.at(&self.target))
    }
}

/// The consumer's `num_pending` (plus `num_ack_pending` when asked) in a `/jsz` reply.
pub fn parse_jsz(
    json: &Value,
    account: &str,
    stream: &str,
    consumer: &str,
    include_ack_pending: bool,
) -> Result<f64, Problem> {
    let named = |list: Option<&Value>, key: &str, name: &str| -> Option<Value> {
        list?.as_array()?.iter().find(|item| item.get(key).and_then(Value::as_str) == Some(name)).cloned()
    };
    let account_detail = named(json.get("account_details"), "name", account)
        .ok_or_else(|| Problem::NoData("no such account with JetStream on this server".into()))?;
    let stream_detail = named(account_detail.get("stream_detail"), "name", stream)
        .ok_or_else(|| Problem::NoData("no such stream in the account".into()))?;
    let consumer_detail = named(stream_detail.get("consumer_detail"), "name", consumer)
        .ok_or_else(|| Problem::NoData("no such consumer on the stream".into()))?;
    let count = |field: &str| -> Result<f64, Problem> {
        match consumer_detail.get(field) {
            Some(Value::Number(n)) => number::check(n.as_f64().unwrap_or(f64::NAN)),
            // nats-server leaves a zero count out.
            None | Some(Value::Null) => Ok(0.0),
            Some(_) => Err(Problem::InvalidValue(format!("`{field}` is not a number"))),
        }
    };
    let pending = count("num_pending")?;
    Ok(if include_ack_pending { pending + count("num_ack_pending")? } else { pending })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(pending: Value) -> Value {
        json!({"server_id": "N", "account_details": [{"name": "$G", "id": "$G", "stream_detail": [
            {"name": "other", "consumer_detail": []},
            {"name": "orders", "state": {"messages": 7}, "consumer_detail": [
                {"stream_name": "orders", "name": "worker", "num_ack_pending": 2, "num_pending": pending}]}]}]})
    }

    #[test]
    fn pending_of_the_named_consumer() {
        assert_eq!(parse_jsz(&reply(json!(7)), "$G", "orders", "worker", false), Ok(7.0));
        assert_eq!(parse_jsz(&reply(json!(7)), "$G", "orders", "worker", true), Ok(9.0));
        assert_eq!(parse_jsz(&reply(Value::Null), "$G", "orders", "worker", false), Ok(0.0));
        let missing = |a, s, c| parse_jsz(&reply(json!(1)), a, s, c, false).unwrap_err();
        assert_eq!(
            missing("A", "orders", "worker"),
            Problem::NoData("no such account with JetStream on this server".into())
        );
        assert_eq!(missing("$G", "x", "worker"), Problem::NoData("no such stream in the account".into()));
        assert_eq!(missing("$G", "orders", "x"), Problem::NoData("no such consumer on the stream".into()));
        assert!(matches!(
            parse_jsz(&reply(json!("7")), "$G", "orders", "worker", false),
            Err(Problem::InvalidValue(_))
        ));
        assert!(parse_jsz(&json!([]), "$G", "orders", "worker", false).is_err());
    }
}
