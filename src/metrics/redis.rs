//! The Redis source: the length of a queue key, read over one reused connection per server.
//!
//! `kind: auto` asks `TYPE` and then `LLEN`, `ZCARD`, `SCARD`, `HLEN` or `XLEN`. A missing key reads as
//! 0: Redis deletes a list, set, sorted set or hash when its last element goes, so an absent key *is* an
//! empty queue, a real zero (unlike an empty Prometheus result). A key of another type (a string) is an
//! error. `kind: stream` reads `XLEN`, or with `consumerGroup` the group's pending count plus its lag
//! from `XINFO GROUPS` (Redis 7+); there a missing key or group is an error, since a consumer group
//! exists only on purpose.
//!
//! The pool keeps one auto-reconnecting multiplexed connection per server and credentials, so
//! reconciles never open a connection each. [`parse_groups`] is pure.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo, Value};
use tokio::sync::OnceCell;

use super::MetricSource;
use super::error::{MetricError, Problem, Target, snippet};
use super::transport::SecretString;
use crate::api::{MetricType, RedisKind};

/// One Redis read, ready to send.
#[derive(Clone)]
pub struct RedisQuery {
    pub(crate) target: Target,
    pub(crate) connection: ConnectionManager,
    pub(crate) key: String,
    pub(crate) kind: RedisKind,
    pub(crate) consumer_group: Option<String>,
}

/// The target of a Redis read, for messages and dedup.
pub fn target(host: &str, port: u16, db: u32, key: &str, kind: RedisKind, group: Option<&str>) -> Target {
    let query = match (kind, group) {
        (RedisKind::Auto, _) => format!("key `{key}`"),
        (RedisKind::Stream, None) => format!("stream `{key}`"),
        (RedisKind::Stream, Some(group)) => format!("stream `{key}` group `{group}`"),
    };
    Target { kind: MetricType::Redis, backend: format!("{host}:{port}/{db}"), query }
}

/// Where and as whom to connect: one pooled connection per distinct value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ServerKey {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Database number.
    pub db: u32,
    /// ACL user.
    pub username: Option<String>,
    /// Fingerprint of the password (never the password).
    pub password_fingerprint: Option<u64>,
    /// TLS on.
    pub tls: bool,
    /// TLS without verification.
    pub insecure_skip_verify: bool,
    /// Fingerprint of the CA bundle.
    pub ca_fingerprint: Option<u64>,
}

/// What a connection needs beyond its key.
pub(crate) struct Credentials {
    /// Password, if any.
    pub password: Option<SecretString>,
    /// PEM CA bundle, if any.
    pub ca_pem: Option<String>,
}

/// Connections unused this long are closed (a scaler deleted, a password rotated).
const IDLE: Duration = Duration::from_secs(600);

/// A pooled connection (opened on first use) and when it was last handed out.
type Slot = (Arc<OnceCell<ConnectionManager>>, Instant);

/// One auto-reconnecting multiplexed connection per server and credentials.
#[derive(Default)]
pub(crate) struct RedisPool {
    connections: Mutex<HashMap<ServerKey, Slot>>,
}

impl RedisPool {
    /// The connection for `key`, opened on first use; a failed open is not remembered.
    pub(crate) async fn get(
        &self,
        key: &ServerKey,
        credentials: &Credentials,
        timeout: Duration,
        target: &Target,
    ) -> Result<ConnectionManager, MetricError> {
        let cell = {
            let mut connections = self.connections.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let now = Instant::now();
            connections.retain(|_, (_, used)| now.duration_since(*used) < IDLE);
            let (cell, used) = connections.entry(key.clone()).or_insert_with(|| (Arc::default(), now));
            *used = now;
            cell.clone()
        };
        let connection = cell
            .get_or_try_init(|| async {
                let addr = if key.tls {
                    ConnectionAddr::TcpTls {
                        host: key.host.clone(),
                        port: key.port,
                        insecure: key.insecure_skip_verify,
                        tls_params: None,
                    }
                } else {
                    ConnectionAddr::Tcp(key.host.clone(), key.port)
                };
                let mut settings = RedisConnectionInfo::default().set_db(i64::from(key.db));
                if let Some(username) = &key.username {
                    settings = settings.set_username(username);
                }
                if let Some(password) = &credentials.password {
                    settings = settings.set_password(password.expose());
                }
                let info = addr
                    .into_connection_info()
                    .map_err(|err| redis_error(target, &err))?
                    .set_redis_settings(settings);
                let client = match (&credentials.ca_pem, key.tls && !key.insecure_skip_verify) {
                    (Some(pem), true) => redis::Client::build_with_tls(
                        info,
                        redis::TlsCertificates { client_tls: None, root_cert: Some(pem.as_bytes().to_vec()) },
                    ),
                    _ => redis::Client::open(info),
                }
                .map_err(|err| redis_error(target, &err))?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_secs(2));
                ConnectionManager::new_with_config(client, config)
                    .await
                    .map_err(|err| redis_error(target, &err))
            })
            .await?;
        Ok(connection.clone())
    }
}

/// Map a client error to a metric error; passwords never appear in redis-rs messages, and the fetcher
/// redacts them anyway.
fn redis_error(target: &Target, err: &redis::RedisError) -> MetricError {
    let detail = snippet(&err.to_string(), 300);
    let target = target.clone();
    let code = err.code().unwrap_or("");
    if err.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(code, "WRONGPASS" | "NOAUTH" | "NOPERM")
    {
        MetricError::Auth { target, detail }
    } else if err.is_connection_refusal() || err.is_io_error() || err.is_timeout() {
        MetricError::Unreachable { target, detail }
    } else if err.kind() == redis::ErrorKind::Parse || err.kind() == redis::ErrorKind::UnexpectedReturnType {
        MetricError::BadReply { target, detail }
    } else {
        MetricError::Backend { target, detail }
    }
}

impl RedisQuery {
    async fn command(&self, cmd: &redis::Cmd) -> Result<Value, MetricError> {
        let mut connection = self.connection.clone();
        cmd.query_async(&mut connection).await.map_err(|err| redis_error(&self.target, &err))
    }

    async fn length(&self, command: &str) -> Result<f64, MetricError> {
        let reply = self.command(redis::cmd(command).arg(&self.key)).await?;
        integer(&reply).map_err(|problem| problem.at(&self.target))
    }
}

impl MetricSource for RedisQuery {
    fn target(&self) -> &Target {
        &self.target
    }

    async fn read(&self) -> Result<f64, MetricError> {
        match (self.kind, &self.consumer_group) {
            (RedisKind::Stream, Some(group)) => {
                let reply = self.command(redis::cmd("XINFO").arg("GROUPS").arg(&self.key)).await?;
                parse_groups(&reply, group).map_err(|problem| problem.at(&self.target))
            }
            (RedisKind::Stream, None) => self.length("XLEN").await,
            (RedisKind::Auto, _) => {
                let reply = self.command(redis::cmd("TYPE").arg(&self.key)).await?;
                let command = length_command(&reply).map_err(|problem| problem.at(&self.target))?;
                match command {
                    None => Ok(0.0),
                    Some(command) => self.length(command).await,
                }
            }
        }
    }
}

/// The length command for a `TYPE` reply; `None` for a missing key (an empty queue).
pub fn length_command(reply: &Value) -> Result<Option<&'static str>, Problem> {
    let kind = text(reply).ok_or_else(|| Problem::BadReply(format!("TYPE replied {}", kind_of(reply))))?;
    match kind.as_str() {
        "none" => Ok(None),
        "list" => Ok(Some("LLEN")),
        "zset" => Ok(Some("ZCARD")),
        "set" => Ok(Some("SCARD")),
        "hash" => Ok(Some("HLEN")),
        "stream" => Ok(Some("XLEN")),
        other => Err(Problem::InvalidValue(format!(
            "key is a {other}, not a list, set, sorted set, hash or stream"
        ))),
    }
}

/// What kind of reply this is, for messages: never Rust's debug text, never the data.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Nil => "nil",
        Value::Int(_) => "an integer",
        Value::BulkString(_) | Value::SimpleString(_) | Value::VerbatimString { .. } => "a string",
        Value::Okay => "OK",
        Value::Array(_) => "an array",
        Value::Set(_) => "a set",
        Value::Map(_) => "a map",
        Value::Double(_) => "a double",
        Value::Boolean(_) => "a boolean",
        Value::BigNumber(_) => "a big number",
        Value::ServerError(_) => "an error",
        _ => "an unexpected reply",
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::SimpleString(text) => Some(text.clone()),
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Okay => Some("OK".into()),
        _ => None,
    }
}

fn integer(value: &Value) -> Result<f64, Problem> {
    match value {
        Value::Int(n) if *n >= 0 => Ok(*n as f64),
        Value::Int(n) => Err(Problem::InvalidValue(format!("negative value {n}"))),
        Value::Nil => Err(Problem::NoData("nil".into())),
        other => Err(Problem::BadReply(format!("expected an integer, got {}", kind_of(other)))),
    }
}

/// The fields of one entry of an `XINFO GROUPS` reply (RESP2 flat list or RESP3 map).
fn fields(entry: &Value) -> Option<Vec<(String, &Value)>> {
    match entry {
        Value::Array(items) => {
            items.chunks(2).map(|pair| if let [k, v] = pair { Some((text(k)?, v)) } else { None }).collect()
        }
        Value::Map(pairs) => pairs.iter().map(|(k, v)| Some((text(k)?, v))).collect(),
        _ => None,
    }
}

/// A group's backlog from an `XINFO GROUPS` reply: pending (delivered, not acked) plus lag (not yet
/// delivered). A nil lag (Redis cannot compute it after deletions) is an error, not a zero.
pub fn parse_groups(reply: &Value, group: &str) -> Result<f64, Problem> {
    let groups = match reply {
        Value::Array(groups) | Value::Set(groups) => groups,
        other => return Err(Problem::BadReply(format!("XINFO GROUPS replied {}", kind_of(other)))),
    };
    let mut names = Vec::new();
    for entry in groups {
        let fields = fields(entry)
            .ok_or_else(|| Problem::BadReply(format!("unreadable group entry ({})", kind_of(entry))))?;
        let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
        let name = get("name").and_then(text).unwrap_or_default();
        if name != group {
            names.push(name);
            continue;
        }
        let pending = integer(get("pending").unwrap_or(&Value::Nil))
            .map_err(|_| Problem::BadReply("group entry without a pending count".into()))?;
        let lag = match get("lag") {
            None => {
                return Err(Problem::BadReply("no lag in XINFO GROUPS (Redis 7 or later is needed)".into()));
            }
            Some(Value::Nil) => {
                return Err(Problem::NoData("lag unknown (entries were deleted from the stream)".into()));
            }
            Some(lag) => integer(lag)?,
        };
        return Ok(pending + lag);
    }
    Err(Problem::NoData(format!("no consumer group `{group}` (groups: {})", names.join(", "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    // Recorded from redis-server 7.0 (RESP2) after XADD x3, XGROUP CREATE g 0, XREADGROUP COUNT 2.
    fn groups_reply(lag: Value) -> Value {
        Value::Array(vec![Value::Array(vec![
            bulk("name"),
            bulk("workers"),
            bulk("consumers"),
            Value::Int(1),
            bulk("pending"),
            Value::Int(2),
            bulk("last-delivered-id"),
            bulk("1764214800000-1"),
            bulk("entries-read"),
            Value::Int(2),
            bulk("lag"),
            lag,
        ])])
    }

    #[test]
    fn group_backlog_is_pending_plus_lag() {
        assert_eq!(parse_groups(&groups_reply(Value::Int(1)), "workers"), Ok(3.0));
        assert!(matches!(parse_groups(&groups_reply(Value::Nil), "workers"), Err(Problem::NoData(_))));
        match parse_groups(&groups_reply(Value::Int(1)), "other") {
            Err(Problem::NoData(detail)) => assert_eq!(detail, "no consumer group `other` (groups: workers)"),
            other => panic!("{other:?}"),
        }
        let resp3 = Value::Array(vec![Value::Map(vec![
            (bulk("name"), bulk("workers")),
            (bulk("pending"), Value::Int(4)),
            (bulk("lag"), Value::Int(0)),
        ])]);
        assert_eq!(parse_groups(&resp3, "workers"), Ok(4.0));
        assert!(matches!(parse_groups(&Value::Okay, "workers"), Err(Problem::BadReply(_))));
    }

    #[test]
    fn type_to_command() {
        let cases = [
            ("none", None),
            ("list", Some("LLEN")),
            ("zset", Some("ZCARD")),
            ("set", Some("SCARD")),
            ("hash", Some("HLEN")),
            ("stream", Some("XLEN")),
        ];
        for (kind, want) in cases {
            assert_eq!(length_command(&Value::SimpleString(kind.into())), Ok(want), "{kind}");
        }
        assert!(matches!(
            length_command(&Value::SimpleString("string".into())),
            Err(Problem::InvalidValue(_))
        ));
        assert!(matches!(length_command(&Value::Int(3)), Err(Problem::BadReply(_))));
    }

    #[test]
    fn lengths() {
        assert_eq!(integer(&Value::Int(500)), Ok(500.0));
        assert!(matches!(integer(&bulk("x")), Err(Problem::BadReply(_))));
    }
}
