//! The kafka source: a consumer group's lag on a topic, as KEDA's kafka scaler reads it.
//!
//! gscale speaks the Kafka protocol itself (the `kafka-protocol` crate's codec, no librdkafka) over
//! sockets it opens: every address, the bootstrap servers' and those the cluster advertises, passes
//! the host policy; TLS is rustls (the spec's CA, else the system's roots, or none checked with
//! `insecureSkipVerify`); SASL is PLAIN or SCRAM-SHA-256/512 with the password from a Secret; a reply
//! longer than `--max-metric-reply-bytes` is refused by its size prefix before it is read. One read:
//! ApiVersions (the versions both sides speak), Metadata for the topic's partitions and leaders,
//! FindCoordinator for the group, OffsetFetch at the coordinator for the committed offsets, and
//! ListOffsets (latest) at each partition's leader. Lag per partition is latest minus committed; a
//! partition with no committed offset counts as `offsetResetPolicy` says (KEDA's rule); the sum is
//! the reading, capped at partitions × targetValue unless `allowIdleConsumers`. Connections live for
//! one read. A broker's own error text is never shown: errors name the Kafka error code. Kafka keeps
//! no history of a group's lag that gscale can ask for: no `plan --replay`.

pub mod scram;

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, FindCoordinatorRequest,
    FindCoordinatorResponse, GroupId, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest,
    MetadataResponse, OffsetFetchRequest, OffsetFetchResponse, RequestHeader, ResponseHeader,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
    TopicName, list_offsets_request, metadata_request, offset_fetch_request,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::error::{MetricError, Problem, Target};
use super::hosts::{HostPolicy, Refused, resolve_checked};
use super::{MetricSource, Sample, SecretString};
use crate::api::{KafkaOffsetReset, KafkaSaslMechanism, MetricType};

/// The target of a kafka read, for messages and dedup.
pub fn target(bootstrap: &[String], group: &str, topic: &str) -> Target {
    let backend = match bootstrap {
        [] => "(no broker)".to_string(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} (+{} more)", rest.len()),
    };
    Target { kind: MetricType::Kafka, backend, query: format!("group `{group}` on topic `{topic}`") }
}

/// What a partition with no committed offset counts as, and how the sum is capped: KEDA's rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LagRules {
    /// What a partition with no committed offset counts as.
    pub reset: KafkaOffsetReset,
    /// With reset Latest: such a partition counts 0, not 1.
    pub scale_to_zero_on_invalid_offset: bool,
    /// No cap at partitions × targetValue.
    pub allow_idle_consumers: bool,
    /// Cap at the partitions with lag, not all.
    pub limit_to_partitions_with_lag: bool,
    /// Leave out a partition whose committed offset did not move since the previous read.
    pub exclude_persistent_lag: bool,
}

/// One partition's offsets as read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offsets {
    /// The partition.
    pub partition: i32,
    /// The latest offset (the next to be written).
    pub latest: i64,
    /// The group's committed offset; None when it has none.
    pub committed: Option<i64>,
}

/// The group's lag over `partitions` by `rules`, with `target_value` a replica's share: the
/// reading and its account. `previous` holds the committed offsets of the previous read (for
/// excludePersistentLag) and is replaced by this read's.
pub fn lag(
    partitions: &[Offsets],
    previous: &mut BTreeMap<i32, i64>,
    rules: LagRules,
    target_value: f64,
) -> (f64, String) {
    let mut total: i64 = 0;
    let mut with_lag = 0usize;
    let mut parts = Vec::new();
    let mut notes = Vec::new();
    let mut seen = BTreeMap::new();
    for p in partitions {
        let (lag, shown) = match p.committed {
            None => {
                let counts = match rules.reset {
                    KafkaOffsetReset::Earliest => p.latest.max(0),
                    KafkaOffsetReset::Latest => i64::from(!rules.scale_to_zero_on_invalid_offset),
                };
                (counts, format!("p{} {counts} (none committed)", p.partition))
            }
            Some(committed) => {
                seen.insert(p.partition, committed);
                let lag = p.latest.saturating_sub(committed).max(0);
                let stuck = rules.exclude_persistent_lag
                    && lag > 0
                    && previous.get(&p.partition).is_some_and(|before| *before == committed);
                if stuck {
                    notes.push(format!(
                        "p{} left out: lag {lag} at an offset that has not moved",
                        p.partition
                    ));
                    (0, format!("p{} 0 (stuck)", p.partition))
                } else {
                    (lag, format!("p{} {lag}", p.partition))
                }
            }
        };
        if lag > 0 {
            with_lag += 1;
        }
        total = total.saturating_add(lag);
        parts.push(shown);
    }
    *previous = seen;
    let mut value = total as f64;
    if !rules.allow_idle_consumers || rules.limit_to_partitions_with_lag {
        let (bound, what) = if rules.limit_to_partitions_with_lag {
            (with_lag, "partitions with lag")
        } else {
            (partitions.len(), "partitions")
        };
        let cap = bound as f64 * target_value;
        if value > cap {
            value = cap;
            notes.push(format!(
                "capped at {bound} {what} × targetValue {} (a consumer beyond one a partition idles; allowIdleConsumers lifts it)",
                fmt(target_value)
            ));
        }
    }
    const SHOWN: usize = 8;
    let mut listed = parts.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if parts.len() > SHOWN {
        listed.push_str(&format!(", {} more", parts.len() - SHOWN));
    }
    let mut detail = format!("lag {total} over {} partitions ({listed})", partitions.len());
    for note in notes {
        detail.push_str("; ");
        detail.push_str(&note);
    }
    (value, detail)
}

fn fmt(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 { format!("{}", x as i64) } else { format!("{x:.3}") }
}

/// SASL credentials, resolved.
#[derive(Clone, Debug)]
pub struct Sasl {
    /// The mechanism.
    pub mechanism: KafkaSaslMechanism,
    /// The user.
    pub username: SecretString,
    /// The password.
    pub password: SecretString,
}

/// The committed offsets each kafka query saw last, for excludePersistentLag.
#[derive(Default)]
pub struct KafkaMemory {
    seen: Mutex<HashMap<u64, BTreeMap<i32, i64>>>,
}

impl KafkaMemory {
    fn take(&self, key: u64) -> BTreeMap<i32, i64> {
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.remove(&key).unwrap_or_default()
    }

    fn put(&self, key: u64, offsets: BTreeMap<i32, i64>) {
        let mut seen = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if seen.len() >= 4096 {
            seen.clear();
        }
        seen.insert(key, offsets);
    }
}

/// One kafka read, ready to send.
#[derive(Clone)]
pub struct KafkaQuery {
    pub(crate) target: Target,
    pub(crate) bootstrap: Vec<String>,
    pub(crate) group: String,
    pub(crate) topic: String,
    pub(crate) partitions: Vec<i32>,
    pub(crate) rules: LagRules,
    pub(crate) target_value: f64,
    pub(crate) sasl: Option<Sasl>,
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    pub(crate) hosts: Arc<HostPolicy>,
    pub(crate) max_reply_bytes: u64,
    pub(crate) memory: Arc<KafkaMemory>,
    pub(crate) memory_key: u64,
}

/// A request gscale sends and the reply it reads (the codec's own `Request` trait also needs the
/// broker side's decoders, which a client has no use for).
pub trait Call: Encodable + HeaderVersion {
    /// Its API.
    const KEY: ApiKey;
    /// Its reply.
    type Reply: Decodable + HeaderVersion;
}

macro_rules! calls {
    ($($request:ty => $reply:ty, $key:ident;)*) => {
        $(impl Call for $request {
            const KEY: ApiKey = ApiKey::$key;
            type Reply = $reply;
        })*
    };
}

calls! {
    ApiVersionsRequest => ApiVersionsResponse, ApiVersions;
    MetadataRequest => MetadataResponse, Metadata;
    FindCoordinatorRequest => FindCoordinatorResponse, FindCoordinator;
    OffsetFetchRequest => OffsetFetchResponse, OffsetFetch;
    ListOffsetsRequest => ListOffsetsResponse, ListOffsets;
    SaslHandshakeRequest => SaslHandshakeResponse, SaslHandshake;
    SaslAuthenticateRequest => SaslAuthenticateResponse, SaslAuthenticate;
    // Not sent by gscale: a test's producer and committer speak through the same trait.
    kafka_protocol::messages::CreateTopicsRequest => kafka_protocol::messages::CreateTopicsResponse, CreateTopics;
    kafka_protocol::messages::ProduceRequest => kafka_protocol::messages::ProduceResponse, Produce;
    kafka_protocol::messages::OffsetCommitRequest => kafka_protocol::messages::OffsetCommitResponse, OffsetCommit;
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// The API versions gscale speaks, lowest and highest, per API it uses.
const METADATA: (i16, i16) = (1, 12);
const FIND_COORDINATOR: (i16, i16) = (1, 3);
const OFFSET_FETCH: (i16, i16) = (1, 7);
const LIST_OFFSETS: (i16, i16) = (1, 7);
const SASL_AUTHENTICATE: (i16, i16) = (0, 2);

/// A Kafka error code's name (ours, not the broker's words).
pub fn code_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "no error".into(),
        Some(ResponseError::Unknown(code)) => format!("error code {code}"),
        Some(known) => format!("{known:?} ({code})"),
    }
}

/// A broker address as shown: the text when it reads as `host:port`, else withheld.
fn shown(address: &str) -> String {
    let plain =
        address.len() <= 260 && address.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
    if plain { address.to_string() } else { "(an address not shown)".to_string() }
}

/// One connection to one broker, for one read.
struct Conn {
    io: Pin<Box<dyn Io>>,
    /// How the broker is named in messages: its spec address, or its node id when the cluster
    /// advertised it (an advertised name is the broker's text, never shown).
    label: String,
    correlation: i32,
    versions: HashMap<i16, (i16, i16)>,
    max_reply_bytes: u64,
}

impl Conn {
    /// The highest version of `key` in `ours` the broker speaks.
    fn version(&self, key: ApiKey, (low, high): (i16, i16), target: &Target) -> Result<i16, MetricError> {
        let (their_low, their_high) =
            self.versions.get(&(key as i16)).copied().ok_or_else(|| {
                Problem::Backend(format!("{} does not offer {key:?}", self.label)).at(target)
            })?;
        let version = high.min(their_high);
        if version < low.max(their_low) {
            return Err(Problem::Backend(format!(
                "{} speaks {key:?} versions {their_low} to {their_high}, gscale {low} to {high}",
                self.label
            ))
            .at(target));
        }
        Ok(version)
    }

    /// Send `request` as `version` and read its reply.
    async fn call<R: Call>(
        &mut self,
        request: &R,
        version: i16,
        target: &Target,
    ) -> Result<R::Reply, MetricError> {
        let key = R::KEY;
        self.correlation = self.correlation.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("gscale")));
        let mut body = BytesMut::new();
        let encoded = header
            .encode(&mut body, R::header_version(version))
            .and_then(|()| request.encode(&mut body, version));
        if encoded.is_err() {
            return Err(MetricError::InvalidSource {
                kind: "kafka",
                detail: format!("a {key:?} request does not encode (a name too long?)"),
            });
        }
        let mut frame = BytesMut::with_capacity(body.len() + 4);
        frame.put_i32(body.len() as i32);
        frame.put_slice(&body);
        let broken = |what: &str| MetricError::Unreachable {
            target: target.clone(),
            detail: format!("{}: the connection broke while {what} {key:?}", self.label),
        };
        self.io.write_all(&frame).await.map_err(|_| broken("sending"))?;
        self.io.flush().await.map_err(|_| broken("sending"))?;
        let size = self.io.read_i32().await.map_err(|_| broken("awaiting"))?;
        let Ok(size) = u64::try_from(size) else {
            return Err(Problem::BadReply(format!("a {key:?} reply with a negative size")).at(target));
        };
        if size > self.max_reply_bytes {
            return Err(MetricError::TooLarge { target: target.clone(), limit: self.max_reply_bytes });
        }
        let mut reply = vec![0u8; size as usize];
        self.io.read_exact(&mut reply).await.map_err(|_| broken("reading"))?;
        let mut reply = Bytes::from(reply);
        let unreadable = || Problem::BadReply(format!("the {key:?} reply does not decode")).at(target);
        let header = ResponseHeader::decode(&mut reply, R::Reply::header_version(version))
            .map_err(|_| unreadable())?;
        if header.correlation_id != self.correlation {
            return Err(Problem::BadReply(format!("the {key:?} reply answers another request")).at(target));
        }
        let response = R::Reply::decode(&mut reply, version).map_err(|_| unreadable())?;
        Ok(response)
    }
}

impl KafkaQuery {
    /// Connect to `address` (`host:port`), checked by the host policy; TLS, ApiVersions and SASL done.
    async fn connect(&self, address: &str, label: &str) -> Result<Conn, MetricError> {
        let target = &self.target;
        let (host, port) = address
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
            .filter(|(h, _)| !h.is_empty())
            .ok_or_else(|| MetricError::InvalidSource {
                kind: "kafka",
                detail: format!("{label}: its address is not host:port"),
            })?;
        let unreachable = |detail: String| MetricError::Unreachable { target: target.clone(), detail };
        // A bootstrap address is the spec's; an advertised one is the broker's text, so its denial
        // names the broker by node instead of repeating the name.
        let advertised = !self.bootstrap.iter().any(|b| b == address);
        let addrs = resolve_checked(&self.hosts, &host, port).await.map_err(|refused| match refused {
            Refused::Denied(_) if advertised => MetricError::Denied {
                target: target.clone(),
                detail: format!(
                    "{label}: the address the cluster advertises for it may not be reached (the host policy)\nhint: if gscale should read it, run the daemon with --allow-metric-host naming that broker (the operator decides, not the scaler)"
                ),
            },
            Refused::Denied(denied) => {
                MetricError::Denied { target: target.clone(), detail: denied.to_string() }
            }
            Refused::Lookup(_) => unreachable(format!("{label}: the name does not resolve")),
        })?;
        let mut stream = None;
        for addr in &addrs {
            if let Ok(s) = tokio::net::TcpStream::connect(addr).await {
                stream = Some(s);
                break;
            }
        }
        let stream = stream.ok_or_else(|| unreachable(format!("cannot connect to {label}")))?;
        let _ = stream.set_nodelay(true);
        let io: Pin<Box<dyn Io>> = match &self.tls {
            Some(config) => {
                let bare = host.trim_start_matches('[').trim_end_matches(']').to_string();
                let name = rustls::pki_types::ServerName::try_from(bare).map_err(|_| {
                    MetricError::InvalidSource {
                        kind: "kafka",
                        detail: format!("{label}: its address is no TLS server name"),
                    }
                })?;
                let tls = tokio_rustls::TlsConnector::from(config.clone()).connect(name, stream).await;
                Box::pin(tls.map_err(|_| {
                    unreachable(format!(
                        "{label}: the TLS handshake failed (is it TLS, and is the CA right?)"
                    ))
                })?)
            }
            None => Box::pin(stream),
        };
        let mut conn = Conn {
            io,
            label: label.to_string(),
            correlation: 0,
            versions: HashMap::new(),
            max_reply_bytes: self.max_reply_bytes,
        };
        let versions = conn.call(&ApiVersionsRequest::default(), 0, target).await?;
        if versions.error_code != 0 {
            return Err(
                Problem::Backend(format!("ApiVersions: {}", code_name(versions.error_code))).at(target)
            );
        }
        conn.versions =
            versions.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect();
        if let Some(sasl) = &self.sasl {
            self.authenticate(&mut conn, sasl).await?;
        }
        Ok(conn)
    }

    /// SaslHandshake then SaslAuthenticate, PLAIN or SCRAM.
    async fn authenticate(&self, conn: &mut Conn, sasl: &Sasl) -> Result<(), MetricError> {
        let target = &self.target;
        let mechanism = sasl.mechanism.as_str();
        let refused = |detail: String| MetricError::Auth { target: target.clone(), detail };
        let handshake = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
        let reply = conn.call(&handshake, 1, target).await?;
        if reply.error_code != 0 {
            return Err(refused(format!("SASL {mechanism}: {}", code_name(reply.error_code))));
        }
        let version = conn.version(ApiKey::SaslAuthenticate, SASL_AUTHENTICATE, target)?;
        let mut step = async |bytes: Vec<u8>| -> Result<Bytes, MetricError> {
            let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(bytes));
            let reply = conn.call(&request, version, target).await?;
            if reply.error_code != 0 {
                return Err(refused(format!("SASL {mechanism}: {}", code_name(reply.error_code))));
            }
            Ok(reply.auth_bytes)
        };
        let (user, password) = (sasl.username.expose(), sasl.password.expose());
        match sasl.mechanism {
            KafkaSaslMechanism::Plain => {
                step(format!("\0{user}\0{password}").into_bytes()).await?;
            }
            KafkaSaslMechanism::ScramSha256 | KafkaSaslMechanism::ScramSha512 => {
                let hash = if sasl.mechanism == KafkaSaslMechanism::ScramSha256 {
                    scram::Hash::Sha256
                } else {
                    scram::Hash::Sha512
                };
                let nonce = scram::Scram::random_nonce().map_err(|e| refused(e.to_string()))?;
                let exchange = scram::Scram::new(hash, user, password, &nonce);
                let first = step(exchange.first().into_bytes()).await?;
                let answer =
                    exchange.answer(&first).map_err(|e| refused(format!("SASL {mechanism}: {e}")))?;
                let last = step(answer.message.clone().into_bytes()).await?;
                answer.check(&last).map_err(|e| refused(format!("SASL {mechanism}: {e}")))?;
            }
        }
        Ok(())
    }

    /// The first bootstrap server that answers.
    async fn bootstrap(&self) -> Result<(String, Conn), MetricError> {
        let mut last = None;
        for address in &self.bootstrap {
            match self.connect(address, &format!("broker {}", shown(address))).await {
                Ok(conn) => return Ok((address.clone(), conn)),
                // Refused credentials, the host policy or a bad address fail the same on every broker.
                Err(
                    err @ (MetricError::Auth { .. }
                    | MetricError::Denied { .. }
                    | MetricError::InvalidSource { .. }),
                ) => {
                    return Err(err);
                }
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| MetricError::InvalidSource {
            kind: "kafka",
            detail: "bootstrapServers is empty".into(),
        }))
    }

    /// Read once, with the account of the lag.
    pub async fn sample(&self) -> Result<Sample, MetricError> {
        let target = &self.target;
        let backend = |detail: String| Problem::Backend(detail).at(target);
        let mut conns: HashMap<String, Conn> = HashMap::new();
        let (boot_address, boot) = self.bootstrap().await?;
        conns.insert(boot_address.clone(), boot);
        let topic_name = TopicName(StrBytes::from_string(self.topic.clone()));

        // The topic's partitions and their leaders, and where the brokers are.
        let conn = conns.get_mut(&boot_address).expect("just put");
        let version = conn.version(ApiKey::Metadata, METADATA, target)?;
        let request = MetadataRequest::default()
            .with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(topic_name.clone())),
            ]))
            // Never create the topic (a field of v4 on; before it, left at its default or it does not encode).
            .with_allow_auto_topic_creation(version < 4);
        let metadata = conn.call(&request, version, target).await?;
        let brokers: HashMap<BrokerId, String> =
            metadata.brokers.iter().map(|b| (b.node_id, format!("{}:{}", b.host.as_str(), b.port))).collect();
        let topic = metadata
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.as_str() == self.topic))
            .ok_or_else(|| Problem::NoData("Metadata does not list the topic".into()).at(target))?;
        if topic.error_code != 0 {
            return Err(backend(format!("Metadata for the topic: {}", code_name(topic.error_code))));
        }
        let mut leaders: BTreeMap<i32, BrokerId> = BTreeMap::new();
        for p in &topic.partitions {
            if self.partitions.is_empty() || self.partitions.contains(&p.partition_index) {
                leaders.insert(p.partition_index, p.leader_id);
            }
        }
        if let Some(missing) = self.partitions.iter().find(|p| !leaders.contains_key(p)) {
            return Err(Problem::NoData(format!(
                "partition {missing} is not one of the topic's {}",
                topic.partitions.len()
            ))
            .at(target));
        }
        if leaders.is_empty() {
            return Err(Problem::NoData("the topic has no partitions".into()).at(target));
        }
        if let Some(p) = topic
            .partitions
            .iter()
            .find(|p| leaders.contains_key(&p.partition_index) && p.error_code != 0 && p.leader_id.0 < 0)
        {
            return Err(backend(format!(
                "partition {} has no leader: {}",
                p.partition_index,
                code_name(p.error_code)
            )));
        }

        // The group's coordinator and the committed offsets.
        let version = conn.version(ApiKey::FindCoordinator, FIND_COORDINATOR, target)?;
        let request = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(self.group.clone()))
            .with_key_type(0);
        let coordinator = conn.call(&request, version, target).await?;
        if coordinator.error_code != 0 {
            return Err(backend(format!(
                "FindCoordinator for the group: {}",
                code_name(coordinator.error_code)
            )));
        }
        let coordinator_address = format!("{}:{}", coordinator.host.as_str(), coordinator.port);
        let label = format!("the group's coordinator (broker {})", coordinator.node_id.0);
        let conn = self.conn(&mut conns, &coordinator_address, &label).await?;
        let version = conn.version(ApiKey::OffsetFetch, OFFSET_FETCH, target)?;
        let request = OffsetFetchRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.group.clone())))
            .with_topics(Some(vec![
                offset_fetch_request::OffsetFetchRequestTopic::default()
                    .with_name(topic_name.clone())
                    .with_partition_indexes(leaders.keys().copied().collect()),
            ]));
        let fetched = conn.call(&request, version, target).await?;
        if fetched.error_code != 0 {
            return Err(backend(format!("OffsetFetch for the group: {}", code_name(fetched.error_code))));
        }
        let mut committed: BTreeMap<i32, Option<i64>> = BTreeMap::new();
        for t in fetched.topics.iter().filter(|t| t.name.as_str() == self.topic) {
            for p in &t.partitions {
                if p.error_code != 0 {
                    return Err(backend(format!(
                        "OffsetFetch, partition {}: {}",
                        p.partition_index,
                        code_name(p.error_code)
                    )));
                }
                committed.insert(p.partition_index, (p.committed_offset >= 0).then_some(p.committed_offset));
            }
        }

        // The latest offsets, from each partition's leader.
        let mut by_leader: BTreeMap<BrokerId, Vec<i32>> = BTreeMap::new();
        for (partition, leader) in &leaders {
            by_leader.entry(*leader).or_default().push(*partition);
        }
        let mut latest: BTreeMap<i32, i64> = BTreeMap::new();
        for (leader, partitions) in by_leader {
            let address = brokers.get(&leader).cloned().ok_or_else(|| {
                backend(format!(
                    "the leader of partition {} (broker {}) is not among the brokers Metadata lists",
                    partitions[0], leader.0
                ))
            })?;
            let conn = self.conn(&mut conns, &address, &format!("broker {}", leader.0)).await?;
            let version = conn.version(ApiKey::ListOffsets, LIST_OFFSETS, target)?;
            let request = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
                list_offsets_request::ListOffsetsTopic::default()
                    .with_name(topic_name.clone())
                    .with_partitions(
                        partitions
                            .iter()
                            .map(|p| {
                                list_offsets_request::ListOffsetsPartition::default()
                                    .with_partition_index(*p)
                                    .with_current_leader_epoch(-1)
                                    .with_timestamp(-1)
                            })
                            .collect(),
                    ),
            ]);
            let offsets = conn.call(&request, version, target).await?;
            for t in offsets.topics.iter().filter(|t| t.name.as_str() == self.topic) {
                for p in &t.partitions {
                    if p.error_code != 0 {
                        return Err(backend(format!(
                            "ListOffsets, partition {}: {}",
                            p.partition_index,
                            code_name(p.error_code)
                        )));
                    }
                    latest.insert(p.partition_index, p.offset);
                }
            }
        }
        let mut read = Vec::with_capacity(leaders.len());
        for partition in leaders.keys() {
            let Some(&latest) = latest.get(partition) else {
                return Err(Problem::NoData(format!("ListOffsets gave no offset for partition {partition}"))
                    .at(target));
            };
            read.push(Offsets {
                partition: *partition,
                latest,
                committed: committed.get(partition).copied().flatten(),
            });
        }
        let mut previous = self.memory.take(self.memory_key);
        let (value, detail) = lag(&read, &mut previous, self.rules, self.target_value);
        self.memory.put(self.memory_key, previous);
        Ok(Sample { value, detail: Some(detail) })
    }

    /// The connection to `address`, opened on first use within this read.
    async fn conn<'a>(
        &self,
        conns: &'a mut HashMap<String, Conn>,
        address: &str,
        label: &str,
    ) -> Result<&'a mut Conn, MetricError> {
        if !conns.contains_key(address) {
            let conn = self.connect(address, label).await?;
            conns.insert(address.to_string(), conn);
        }
        Ok(conns.get_mut(address).expect("just put"))
    }
}

impl MetricSource for KafkaQuery {
    fn target(&self) -> &Target {
        &self.target
    }

    async fn read(&self) -> Result<f64, MetricError> {
        self.sample().await.map(|s| s.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: LagRules = LagRules {
        reset: KafkaOffsetReset::Latest,
        scale_to_zero_on_invalid_offset: false,
        allow_idle_consumers: false,
        limit_to_partitions_with_lag: false,
        exclude_persistent_lag: false,
    };

    fn p(partition: i32, latest: i64, committed: Option<i64>) -> Offsets {
        Offsets { partition, latest, committed }
    }

    #[test]
    fn lag_sums_partitions_and_counts_uncommitted_as_keda_does() {
        let parts = [p(0, 50, Some(10)), p(1, 30, Some(30)), p(2, 7, None)];
        let mut seen = BTreeMap::new();
        let (value, detail) = lag(&parts, &mut seen, RULES, 100.0);
        assert_eq!(value, 41.0);
        assert_eq!(detail, "lag 41 over 3 partitions (p0 40, p1 0, p2 1 (none committed))");
        assert_eq!(seen, BTreeMap::from([(0, 10), (1, 30)]));
        let zero = LagRules { scale_to_zero_on_invalid_offset: true, ..RULES };
        assert_eq!(lag(&parts, &mut seen, zero, 100.0).0, 40.0);
        let earliest = LagRules { reset: KafkaOffsetReset::Earliest, ..RULES };
        assert_eq!(lag(&parts, &mut seen, earliest, 100.0).0, 47.0);
    }

    #[test]
    fn idle_consumers_cap_the_lag() {
        let parts = [p(0, 500, Some(0)), p(1, 0, Some(0))];
        let mut seen = BTreeMap::new();
        let (value, detail) = lag(&parts, &mut seen, RULES, 10.0);
        assert_eq!(value, 20.0, "two partitions, 10 a replica: at most 2 replicas' worth");
        assert!(detail.contains("capped at 2 partitions × targetValue 10"), "{detail}");
        let with_lag = LagRules { limit_to_partitions_with_lag: true, ..RULES };
        assert_eq!(lag(&parts, &mut seen, with_lag, 10.0).0, 10.0);
        let idle = LagRules { allow_idle_consumers: true, ..RULES };
        assert_eq!(lag(&parts, &mut seen, idle, 10.0).0, 500.0);
    }

    #[test]
    fn persistent_lag_is_left_out_once_it_has_not_moved() {
        let rules = LagRules { exclude_persistent_lag: true, allow_idle_consumers: true, ..RULES };
        let mut seen = BTreeMap::new();
        assert_eq!(lag(&[p(0, 20, Some(5)), p(1, 9, Some(3))], &mut seen, rules, 1.0).0, 21.0);
        // Partition 0 stuck at 5, partition 1 moved on.
        let (value, detail) = lag(&[p(0, 25, Some(5)), p(1, 12, Some(4))], &mut seen, rules, 1.0);
        assert_eq!(value, 8.0);
        assert!(detail.contains("p0 left out: lag 20"), "{detail}");
    }

    #[test]
    fn code_names_are_ours() {
        assert_eq!(code_name(3), "UnknownTopicOrPartition (3)");
        assert_eq!(code_name(58), "SaslAuthenticationFailed (58)");
        assert_eq!(code_name(-77), "error code -77");
        assert_eq!(shown("kafka-0.kafka:9092"), "kafka-0.kafka:9092");
        assert_eq!(shown("evil\nhost:1"), "(an address not shown)");
    }
}
