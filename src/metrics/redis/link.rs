//! Connections to Redis servers: one multiplexed connection per server and credentials, opened on
//! first use, opened again once it breaks, each over a socket whose replies are capped ([`Capped`]).
//!
//! gscale opens the socket itself (TCP, or TLS by rustls: the system roots or the spec's CA, or no
//! verification with `insecureSkipVerify`) and hands it to the redis crate, which does the rest
//! (AUTH, SELECT, the protocol). The host is checked against the host policy as HTTP sources are:
//! a scaler's author picks it, the daemon connects from inside the cluster.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisConnectionInfo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OnceCell;

use super::super::error::{MetricError, Target};
use super::super::hosts::HostPolicy;
use super::super::transport::SecretString;
use super::wire::{Capped, CutAt};

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

/// What a connection may read and reach: the reply cap and the host policy.
pub(crate) struct Bounds<'a> {
    /// Longest reply read, in bytes.
    pub max_reply_bytes: u64,
    /// Which hosts may be reached.
    pub hosts: &'a HostPolicy,
    /// How long connecting (and each command) may take.
    pub timeout: Duration,
}

/// An open connection, with whether it still works and why it was cut, if it was.
#[derive(Clone)]
pub(crate) struct Link {
    /// The connection the commands go through.
    pub connection: MultiplexedConnection,
    /// Why its socket was cut (a reply over the cap...), once it was.
    pub cut: CutAt,
    alive: Arc<AtomicBool>,
}

/// Connections unused this long are closed (a scaler deleted, a password rotated).
const IDLE: Duration = Duration::from_secs(600);

/// A pooled connection (opened on first use) and when it was last handed out.
type Slot = (Arc<OnceCell<Link>>, Instant);

/// One multiplexed connection per server and credentials.
#[derive(Default)]
pub(crate) struct RedisPool {
    connections: Mutex<HashMap<ServerKey, Slot>>,
}

/// A socket of either kind, for the redis crate.
trait Socket: AsyncRead + AsyncWrite + Send + Unpin {}
impl<S: AsyncRead + AsyncWrite + Send + Unpin> Socket for S {}

impl RedisPool {
    /// The connection for `key`, opened on first use and again once it broke; a failed open is
    /// not remembered.
    pub(crate) async fn get(
        &self,
        key: &ServerKey,
        credentials: &Credentials,
        bounds: Bounds<'_>,
        target: &Target,
    ) -> Result<Link, MetricError> {
        let cell = {
            let mut connections = self.connections.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let now = Instant::now();
            connections.retain(|_, (cell, used)| {
                now.duration_since(*used) < IDLE
                    && cell.get().is_none_or(|link| link.alive.load(Ordering::SeqCst))
            });
            let (cell, used) = connections.entry(key.clone()).or_insert_with(|| (Arc::default(), now));
            *used = now;
            cell.clone()
        };
        let link = cell.get_or_try_init(|| open(key, credentials, &bounds, target)).await?;
        Ok(link.clone())
    }
}

/// Open a connection: resolve (through the host policy), connect, TLS, then the redis handshake.
async fn open(
    key: &ServerKey,
    credentials: &Credentials,
    bounds: &Bounds<'_>,
    target: &Target,
) -> Result<Link, MetricError> {
    let unreachable = |detail: String| MetricError::Unreachable { target: target.clone(), detail };
    let connecting = async {
        let addrs = super::super::hosts::resolve_checked(bounds.hosts, &key.host, key.port).await.map_err(
            |refused| match refused {
                super::super::hosts::Refused::Denied(denied) => {
                    MetricError::Denied { target: target.clone(), detail: denied.to_string() }
                }
                super::super::hosts::Refused::Lookup(e) => {
                    unreachable(format!("cannot resolve the host: {e}"))
                }
            },
        )?;
        let tcp = connect_any(&addrs).await.map_err(|e| unreachable(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let socket: Box<dyn Socket> = if key.tls {
            let config = tls_config(key.insecure_skip_verify, credentials.ca_pem.as_deref())
                .map_err(|detail| MetricError::InvalidSource { kind: "redis", detail })?;
            let name = rustls::pki_types::ServerName::try_from(key.host.clone()).map_err(|_| {
                MetricError::InvalidSource { kind: "redis", detail: "host is not a TLS server name".into() }
            })?;
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .map_err(|e| unreachable(format!("TLS: {e}")))?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let cut = CutAt::default();
        let capped = Capped::new(socket, bounds.max_reply_bytes, cut.clone());
        let mut info = RedisConnectionInfo::default().set_db(i64::from(key.db));
        if let Some(username) = &key.username {
            info = info.set_username(username);
        }
        if let Some(password) = &credentials.password {
            info = info.set_password(password.expose());
        }
        let config = AsyncConnectionConfig::new().set_response_timeout(Some(bounds.timeout));
        let (connection, driver) = MultiplexedConnection::new_with_config(&info, capped, config)
            .await
            .map_err(|e| super::redis_error(target, &e, cut.get().copied(), bounds.max_reply_bytes))?;
        let alive = Arc::new(AtomicBool::new(true));
        let running = alive.clone();
        // The driver reads and writes the socket until it breaks; then the next read reconnects.
        tokio::spawn(async move {
            driver.await;
            running.store(false, Ordering::SeqCst);
        });
        Ok(Link { connection, cut, alive })
    };
    match tokio::time::timeout(bounds.timeout, connecting).await {
        Ok(link) => link,
        Err(_) => {
            Err(MetricError::Timeout { target: target.clone(), seconds: bounds.timeout.as_secs() as u32 })
        }
    }
}

/// The first of `addrs` that accepts a connection.
async fn connect_any(addrs: &[SocketAddr]) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "the host has no address");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// rustls settings: the spec's CA alone when it gives one, else the system's roots; none checked
/// with `insecureSkipVerify` (the spec asked, and the status warns).
pub(crate) fn tls_config(insecure: bool, ca_pem: Option<&str>) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let builder = rustls::ClientConfig::builder();
    if insecure {
        let provider = rustls::crypto::ring::default_provider();
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|_| "caSecretRef: the CA bundle is not valid PEM".to_string())?;
                roots
                    .add(cert)
                    .map_err(|_| "caSecretRef: a certificate of the CA bundle is unusable".to_string())?;
            }
            if roots.is_empty() {
                return Err("caSecretRef: the CA bundle holds no certificate".into());
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// A verifier that accepts any certificate, for `insecureSkipVerify`; signatures are still
/// checked, so the handshake itself stays sound.
#[derive(Debug)]
struct AnyCertificate(rustls::crypto::CryptoProvider);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
