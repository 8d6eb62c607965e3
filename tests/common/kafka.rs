//! A real Kafka-compatible broker on loopback: `tansu` (a broker written by others, in Rust), with
//! in-memory storage (`memory://`, which keeps consumer-group offsets), on a free port, stopped when
//! its handle drops; optionally with SASL required, and with TLS (a certificate from the openssl
//! CLI) terminated by `socat` in front of it, the address tansu advertises: tansu 0.6's `--cert` and
//! `--key` exclude each other on its command line, so it cannot serve TLS itself.
//!
//! The test talks to it in the Kafka protocol itself through the `kafka-protocol` codec: it creates
//! topics, produces record batches and commits a group's offsets as a consumer would.

use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gscale::metrics::kafka::Call;
use kafka_protocol::messages::{
    CreateTopicsRequest, GroupId, OffsetCommitRequest, ProduceRequest, RequestHeader, ResponseHeader,
    SaslAuthenticateRequest, SaslHandshakeRequest, TopicName, create_topics_request, offset_commit_request,
    produce_request,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Process, TempDir, free_port, require};

/// A running tansu broker.
pub struct Tansu {
    /// `127.0.0.1:PORT`.
    pub address: String,
    /// How the test itself reaches it when it speaks TLS: the CA to trust.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// How the test itself signs in when SASL is required: PLAIN user and password.
    pub plain: Option<(String, String)>,
    process: Option<Process>,
    front: Option<Process>,
    /// The log file.
    pub log: std::path::PathBuf,
    _dir: TempDir,
}

/// Start tansu with memory storage; None when it is missing outside CI. `tls`: (cert, key) files.
pub fn tansu(tls: Option<(&std::path::Path, &std::path::Path)>, authentication: bool) -> Option<Tansu> {
    let binary = require("tansu", "kafka tests (cargo install --locked tansu --features dynostore)")?;
    let dir = TempDir::new("tansu");
    let port = free_port();
    let plain = format!("127.0.0.1:{port}");
    // With TLS, clients reach socat's port, which tansu advertises as its own.
    let socat = match tls {
        Some(_) => Some(require("socat", "kafka tls tests")?),
        None => None,
    };
    let address = match socat {
        Some(_) => format!("127.0.0.1:{}", free_port()),
        None => plain.clone(),
    };
    let log = dir.path().join("tansu.log");
    let mut command = Command::new(binary);
    command
        .arg("broker")
        .args(["--listener-url", &format!("tcp://{plain}")])
        .args(["--advertised-listener-url", &format!("tcp://{address}")])
        .args(["--storage-engine", "memory://tansu/"])
        .args(["--cluster-id", "gscale-test"])
        .arg("--silent")
        .env_remove("STORAGE_ENGINE")
        .env_remove("LISTENER_URL")
        .env_remove("ADVERTISED_LISTENER_URL")
        .env("RUST_LOG", "warn")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.path().join("tansu.err")).unwrap());
    if authentication {
        command.arg("--authentication");
    }
    let process = Process::new("tansu", command.spawn().unwrap());
    super::wait_for("tansu listening", Duration::from_secs(30), || {
        std::net::TcpStream::connect(&plain).is_ok()
    });
    let front = match (socat, tls) {
        (Some(socat), Some((cert, key))) => {
            let listen = format!(
                "OPENSSL-LISTEN:{},bind=127.0.0.1,reuseaddr,fork,verify=0,cert={},key={}",
                address.rsplit(':').next().unwrap(),
                cert.display(),
                key.display()
            );
            let child = Command::new(socat)
                .args([listen, format!("TCP:{plain}")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.path().join("socat.err")).unwrap())
                .spawn()
                .unwrap();
            let front = Process::new("socat", child);
            super::wait_for("socat listening", Duration::from_secs(30), || {
                std::net::TcpStream::connect(&address).is_ok()
            });
            Some(front)
        }
        _ => None,
    };
    Some(Tansu { address, tls: None, plain: None, process: Some(process), front, log, _dir: dir })
}

impl Tansu {
    /// Stop the broker (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut process) = self.front.take() {
            process.kill();
        }
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// A connection, TLS and SASL PLAIN done when the broker asks them.
    async fn connect(&self) -> Box<dyn Io> {
        let tcp = tokio::net::TcpStream::connect(&self.address).await.unwrap();
        let mut stream: Box<dyn Io> = match &self.tls {
            Some(config) => {
                let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
                Box::new(tokio_rustls::TlsConnector::from(config.clone()).connect(name, tcp).await.unwrap())
            }
            None => Box::new(tcp),
        };
        if let Some((user, password)) = &self.plain {
            let handshake =
                SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN"));
            let reply = exchange(&mut stream, handshake, 1).await;
            assert_eq!(reply.error_code, 0, "{reply:?}");
            let auth = SaslAuthenticateRequest::default()
                .with_auth_bytes(Bytes::from(format!("\0{user}\0{password}")));
            let reply = exchange(&mut stream, auth, 1).await;
            assert_eq!(reply.error_code, 0, "{reply:?}");
        }
        stream
    }

    /// One request on a fresh connection, `version` fixed.
    async fn call<R: Call>(&self, request: R, version: i16) -> R::Reply {
        let mut stream = self.connect().await;
        exchange(&mut stream, request, version).await
    }

    /// Create `topic` with `partitions` partitions.
    pub async fn create_topic(&self, topic: &str, partitions: i32) {
        let request = CreateTopicsRequest::default().with_timeout_ms(10_000).with_topics(vec![
            create_topics_request::CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.into())))
                .with_num_partitions(partitions)
                .with_replication_factor(1),
        ]);
        let reply = self.call(request, 5).await;
        assert_eq!(reply.topics[0].error_code, 0, "create topic {topic}: {reply:?}");
    }

    /// Produce `count` records to `topic`'s `partition`.
    pub async fn produce(&self, topic: &str, partition: i32, count: usize) {
        let records: Vec<Record> = (0..count)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: -1,
                timestamp: 0,
                key: None,
                value: Some(Bytes::from(format!("order {i}"))),
                headers: Default::default(),
            })
            .collect();
        let mut batch = BytesMut::new();
        let options = RecordEncodeOptions { version: 2, compression: Compression::None };
        RecordBatchEncoder::encode(&mut batch, &records, &options).unwrap();
        let request = ProduceRequest::default().with_acks(-1).with_timeout_ms(10_000).with_topic_data(vec![
            produce_request::TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.into())))
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch.freeze())),
                ]),
        ]);
        let reply = self.call(request, 7).await;
        let code = reply.responses[0].partition_responses[0].error_code;
        assert_eq!(code, 0, "produce to {topic}/{partition}: {reply:?}");
    }

    /// Commit `group`'s offsets on `topic`: (partition, offset) pairs, as a consumer outside any
    /// generation (a simple consumer) commits them.
    pub async fn commit(&self, group: &str, topic: &str, offsets: &[(i32, i64)]) {
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.into())))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(StrBytes::from_static_str(""))
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.into())))
                    .with_partitions(
                        offsets
                            .iter()
                            .map(|(partition, offset)| {
                                offset_commit_request::OffsetCommitRequestPartition::default()
                                    .with_partition_index(*partition)
                                    .with_committed_offset(*offset)
                            })
                            .collect(),
                    ),
            ]);
        let reply = self.call(request, 7).await;
        for topic in &reply.topics {
            for partition in &topic.partitions {
                assert_eq!(partition.error_code, 0, "commit {group} {offsets:?}: {reply:?}");
            }
        }
    }
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Io for T {}

/// One request and its reply on `stream`.
async fn exchange<R: Call>(stream: &mut Box<dyn Io>, request: R, version: i16) -> R::Reply {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("test")));
    let mut body = BytesMut::new();
    header.encode(&mut body, R::header_version(version)).unwrap();
    request.encode(&mut body, version).unwrap();
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    stream.write_all(&frame).await.unwrap();
    stream.flush().await.unwrap();
    let size = stream.read_i32().await.unwrap();
    let mut reply = vec![0u8; size as usize];
    stream.read_exact(&mut reply).await.unwrap();
    let mut reply = Bytes::from(reply);
    let header = ResponseHeader::decode(&mut reply, R::Reply::header_version(version)).unwrap();
    assert_eq!(header.correlation_id, 7);
    R::Reply::decode(&mut reply, version).unwrap()
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.stop();
    }
}
