//! The RabbitMQ source: a queue's length or publish rate from the management API
//! (`GET /api/queues/{vhost}/{queue}`), with basic auth from Secrets.
//!
//! [`parse_queue`] is pure over the API's JSON; [`RabbitMqQuery`] sends through `send` (reply cap,
//! host policy, credentials only to the URL's origin). A reply's words never reach a message: a 404
//! says the queue or vhost is not there, other failures the status, type and size. The management
//! API keeps only minutes of samples, so there is no history for `plan --replay`.

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use super::error::{MetricError, Problem, Target};
use super::transport::{self, SecretString};
use super::{Limits, MetricSource, number, send};
use crate::api::{MetricType, RabbitMqMode};

/// One queue read, ready to send.
#[derive(Clone, Debug)]
pub struct RabbitMqQuery {
    pub(crate) target: Target,
    pub(crate) client: reqwest::Client,
    pub(crate) limits: Limits,
    pub(crate) url: String,
    pub(crate) vhost: String,
    pub(crate) queue: String,
    pub(crate) mode: RabbitMqMode,
    pub(crate) exclude_unacknowledged: bool,
    /// `Authorization: Basic ...`, when credentials are set.
    pub(crate) headers: HeaderMap,
}

/// The target of a queue read, for messages and dedup.
pub fn target(url: &str, vhost: &str, queue: &str, mode: RabbitMqMode) -> Target {
    let what = match mode {
        RabbitMqMode::QueueLength => "length",
        RabbitMqMode::MessageRate => "publish rate",
    };
    Target {
        kind: MetricType::Rabbitmq,
        backend: transport::display_url(url),
        query: format!("queue `{queue}` in vhost `{vhost}`, {what}"),
    }
}

/// The basic-auth header for `user` and `password` (hidden from error texts by the caller).
pub fn basic_auth(user: &str, password: &str) -> Result<(HeaderMap, SecretString), MetricError> {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let value = format!("Basic {encoded}");
    let mut header = HeaderValue::from_str(&value).map_err(|_| MetricError::InvalidSource {
        kind: "rabbitmq",
        detail: "the username or password holds a character no header can carry".into(),
    })?;
    header.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, header);
    Ok((headers, SecretString::new(encoded)))
}

fn queue_url(base: &str, vhost: &str, queue: &str) -> Result<Url, String> {
    let mut url = Url::parse(base).map_err(|err| err.to_string())?;
    url.path_segments_mut()
        .map_err(|()| "not a base URL".to_string())?
        .pop_if_empty()
        .extend(["api", "queues", vhost, queue]);
    url.query_pairs_mut().append_pair(
        "columns",
        "messages,messages_ready,messages_unacknowledged,message_stats.publish_details.rate",
    );
    Ok(url)
}

impl MetricSource for RabbitMqQuery {
    fn target(&self) -> &Target {
        &self.target
    }

    async fn read(&self) -> Result<f64, MetricError> {
        let url = queue_url(&self.url, &self.vhost, &self.queue)
            .map_err(|err| MetricError::InvalidSource { kind: "rabbitmq", detail: format!("url: {err}") })?;
        let request = send::Request {
            method: Method::GET,
            url,
            body: None,
            headers: &self.headers,
            bearer_token: None,
        };
        let reply = send::send(&self.client, &self.limits, &self.target, request).await?;
        if reply.status == StatusCode::UNAUTHORIZED || reply.status == StatusCode::FORBIDDEN {
            return Err(MetricError::Auth { target: self.target.clone(), detail: reply.describe() });
        }
        if reply.status == StatusCode::NOT_FOUND {
            return Err(
                Problem::Backend(format!("no such queue or vhost ({})", reply.describe())).at(&self.target)
            );
        }
        if !reply.status.is_success() {
            return Err(Problem::Backend(reply.describe()).at(&self.target));
        }
        let json: Value = serde_json::from_slice(&reply.body)
            .map_err(|_| Problem::BadReply(format!("not JSON ({})", reply.shape())).at(&self.target))?;
        parse_queue(&json, self.mode, self.exclude_unacknowledged).map_err(|problem| problem.at(&self.target))
    }
}

/// The metric in a queue's JSON: `messages` (or `messages_ready`), or the publish rate. A queue
/// whose counts are not yet collected has no data; one never published to has a rate of 0.
pub fn parse_queue(json: &Value, mode: RabbitMqMode, exclude_unacknowledged: bool) -> Result<f64, Problem> {
    if !json.is_object() {
        return Err(Problem::BadReply("not a queue object".into()));
    }
    let (field, value) = match mode {
        RabbitMqMode::QueueLength if exclude_unacknowledged => ("messages_ready", json.get("messages_ready")),
        RabbitMqMode::QueueLength => ("messages", json.get("messages")),
        RabbitMqMode::MessageRate => match json.get("message_stats") {
            None => return Ok(0.0),
            Some(stats) => ("message_stats.publish_details.rate", stats.pointer("/publish_details/rate")),
        },
    };
    match value {
        None | Some(Value::Null) if mode == RabbitMqMode::MessageRate => Ok(0.0),
        None | Some(Value::Null) => Err(Problem::NoData(format!(
            "`{field}` not in the reply yet (the broker collects it every few seconds)"
        ))),
        Some(Value::Number(n)) => number::check(n.as_f64().unwrap_or(f64::NAN)),
        Some(_) => Err(Problem::InvalidValue(format!("`{field}` is not a number"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn queue_replies_as_recorded() {
        let reply = json!({"message_stats": {"publish_details": {"rate": 2.5}}, "messages": 3,
            "messages_ready": 2, "messages_unacknowledged": 1});
        assert_eq!(parse_queue(&reply, RabbitMqMode::QueueLength, false), Ok(3.0));
        assert_eq!(parse_queue(&reply, RabbitMqMode::QueueLength, true), Ok(2.0));
        assert_eq!(parse_queue(&reply, RabbitMqMode::MessageRate, false), Ok(2.5));
        let fresh = json!({});
        assert!(matches!(parse_queue(&fresh, RabbitMqMode::QueueLength, false), Err(Problem::NoData(_))));
        assert_eq!(parse_queue(&fresh, RabbitMqMode::MessageRate, false), Ok(0.0));
        let odd = json!({"messages": "many"});
        assert!(matches!(parse_queue(&odd, RabbitMqMode::QueueLength, false), Err(Problem::InvalidValue(_))));
        assert!(matches!(
            parse_queue(&json!([1]), RabbitMqMode::QueueLength, false),
            Err(Problem::BadReply(_))
        ));
        assert!(parse_queue(&json!({"messages": -1}), RabbitMqMode::QueueLength, false).is_err());
    }

    #[test]
    fn the_vhost_and_queue_are_path_segments() {
        let url = queue_url("http://rabbit:15672/", "/", "a/b c").unwrap();
        assert!(url.as_str().starts_with("http://rabbit:15672/api/queues/%2F/a%2Fb%20c?columns="), "{url}");
        let (headers, secret) = basic_auth("guest", "pw").unwrap();
        assert_eq!(headers[AUTHORIZATION].to_str().unwrap(), format!("Basic {}", secret.expose()));
    }
}
