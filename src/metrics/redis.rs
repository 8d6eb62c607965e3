//! The Redis source: the length of a queue key, read over one reused connection per server.
//!
//! `kind: auto` asks `TYPE` and then `LLEN`, `ZCARD`, `SCARD`, `HLEN` or `XLEN`. A missing key reads as
//! 0: Redis deletes a list, set, sorted set or hash when its last element goes, so an absent key *is* an
//! empty queue, a real zero (unlike an empty Prometheus result). A key of another type (a string) is an
//! error. `kind: stream` reads `XLEN`, or with `consumerGroup` the group's pending count plus its lag
//! from `XINFO GROUPS` (Redis 7+); there a missing key or group is an error, since a consumer group
//! exists only on purpose.
//!
//! [`link`] keeps one multiplexed connection per server and credentials (so reconciles never open a
//! connection each), over a socket whose replies [`wire`] caps at `--max-metric-reply-bytes`.
//! A server's words never reach a message: an error reply is told by its code and size, a type or
//! a consumer group by what gscale expects. [`parse_groups`] is pure.

mod link;
pub mod wire;

use redis::Value;

pub(crate) use link::{Bounds, Credentials, Link, RedisPool, ServerKey, tls_config};

use super::MetricSource;
use super::error::{MetricError, Problem, Target, bytes, snippet};
use crate::api::{MetricType, RedisKind};

/// One Redis read, ready to send.
#[derive(Clone)]
pub struct RedisQuery {
    pub(crate) target: Target,
    pub(crate) link: Link,
    pub(crate) max_reply_bytes: u64,
    pub(crate) key: String,
    pub(crate) kind: RedisKind,
    pub(crate) consumer_group: Option<String>,
}

/// The target of a Redis read, for messages and dedup.
pub fn target(host: &str, port: u16, db: u32, key: &str, kind: RedisKind, group: Option<&str>) -> Target {
    let (key, group) = (snippet(key, 200), group.map(|group| snippet(group, 200)));
    let query = match (kind, group) {
        (RedisKind::Auto, _) => format!("key `{key}`"),
        (RedisKind::Stream, None) => format!("stream `{key}`"),
        (RedisKind::Stream, Some(group)) => format!("stream `{key}` group `{group}`"),
    };
    Target { kind: MetricType::Redis, backend: format!("{host}:{port}/{db}"), query }
}

/// A client error as a metric error, in words of our own: the cut that ended the connection, if
/// one did; an error reply's code and size, never its text; a transport failure in the transport's
/// words (which hold none of the server's). Passwords never appear either way.
pub(crate) fn redis_error(
    target: &Target,
    err: &redis::RedisError,
    cut: Option<wire::Cut>,
    limit: u64,
) -> MetricError {
    let target = target.clone();
    match cut {
        Some(wire::Cut::TooLarge) => return MetricError::TooLarge { target, limit },
        Some(other) => return MetricError::BadReply { target, detail: other.describe().to_owned() },
        None => {}
    }
    // A code is the server's first word (ERR, WRONGTYPE): shown when it looks like one.
    let code = err
        .code()
        .filter(|code| code.len() <= 24 && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
        .map(str::to_owned);
    let said = err.detail().map_or(0, str::len);
    if err.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(code.as_deref(), Some("WRONGPASS" | "NOAUTH" | "NOPERM"))
    {
        let code = code.map_or_else(String::new, |code| format!(" ({code})"));
        MetricError::Auth { target, detail: format!("the server refused the credentials{code}") }
    } else if err.is_connection_refusal()
        || err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
    {
        MetricError::Unreachable { target, detail: snippet(&err.to_string(), 300) }
    } else if err.kind() == redis::ErrorKind::Parse || err.kind() == redis::ErrorKind::UnexpectedReturnType {
        MetricError::BadReply { target, detail: "a reply the client cannot read".into() }
    } else {
        let code = code.unwrap_or_else(|| "without a code".into());
        MetricError::Backend {
            target,
            detail: format!("redis error {code} (its message, {}, not shown)", bytes(said as u64)),
        }
    }
}

impl RedisQuery {
    async fn command(&self, cmd: &redis::Cmd) -> Result<Value, MetricError> {
        let mut connection = self.link.connection.clone();
        cmd.query_async(&mut connection).await.map_err(|err| {
            redis_error(&self.target, &err, self.link.cut.get().copied(), self.max_reply_bytes)
        })
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
        // The type's name is the server's word: named only when it is one Redis has.
        "string" => {
            Err(Problem::InvalidValue("key is a string, not a list, set, sorted set, hash or stream".into()))
        }
        _ => Err(Problem::InvalidValue(
            "key is of a type that is not a list, set, sorted set, hash or stream".into(),
        )),
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
    let mut others = 0;
    for entry in groups {
        let fields = fields(entry)
            .ok_or_else(|| Problem::BadReply(format!("unreadable group entry ({})", kind_of(entry))))?;
        let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
        let name = get("name").and_then(text).unwrap_or_default();
        if name != group {
            others += 1;
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
    // The other groups' names are the server's words: counted, not named.
    Err(Problem::NoData(format!("no consumer group `{group}` ({others} other group(s) on the stream)")))
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
            Err(Problem::NoData(detail)) => {
                assert_eq!(detail, "no consumer group `other` (1 other group(s) on the stream)")
            }
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
