//! A small HTTP server for tests, on hyper: exporters for Prometheus to scrape, stand-ins
//! (Monitoring, the Kubernetes Secrets API), plain HTTP and TLS (tokio-rustls), with a log of what
//! it served (arrival and reply order, for tests that assert order rather than durations), an
//! optional reply delay and a gate that holds replies until the test opens it.
//!
//! Certificates for the TLS servers come from the openssl CLI ([`certs`]); the HTTP parsing is
//! hyper's, not ours.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use jiff::Timestamp;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A request as the handler sees it.
#[derive(Clone, Debug)]
pub struct Request {
    /// `GET`, `POST`...
    pub method: String,
    /// Path and query string.
    pub target: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The path without the query string.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// A query parameter, decoded (`+` as space, percent escapes).
    pub fn query(&self, name: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }
}

/// Holds replies until opened; a closed gate makes a backend as slow as the test wants, with no
/// duration to guess.
#[derive(Debug)]
pub struct Gate(watch::Sender<bool>);

impl Gate {
    /// A closed gate.
    pub fn closed() -> Self {
        Gate(watch::channel(false).0)
    }

    /// Let every held reply (and every later one) go.
    pub fn open(&self) {
        self.0.send_replace(true);
    }

    fn waiter(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }
}

/// A reply.
#[derive(Clone, Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Content type.
    pub content_type: String,
    /// Body.
    pub body: Vec<u8>,
    /// Wait this long before answering (a slow backend).
    pub delay: Duration,
    /// Wait for this gate to open before answering.
    gate: Option<watch::Receiver<bool>>,
}

impl Response {
    /// A text reply.
    pub fn text(status: u16, content_type: &str, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: content_type.into(),
            body: body.into().into_bytes(),
            delay: Duration::ZERO,
            gate: None,
        }
    }

    /// A JSON reply.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::text(status, "application/json", value.to_string())
    }

    /// The same reply, after `delay`.
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The same reply, once `gate` is open.
    pub fn held(mut self, gate: &Gate) -> Self {
        self.gate = Some(gate.waiter());
        self
    }
}

/// One request the server answered (or is answering), in the server's own order.
#[derive(Clone, Debug)]
pub struct Served {
    /// Path and query string.
    pub target: String,
    /// Its place in the server's sequence of events (arrivals and replies share one counter).
    pub arrived: u64,
    /// When it arrived.
    pub at: Timestamp,
    /// The event number of its reply, once sent.
    pub answered: Option<u64>,
    /// When its reply went out.
    pub answered_at: Option<Timestamp>,
}

/// The log of requests, with one counter ordering arrivals and replies.
#[derive(Default)]
struct ServedLog {
    events: AtomicU64,
    served: Mutex<Vec<Served>>,
}

impl ServedLog {
    fn arrive(&self, target: &str) -> usize {
        let mut served = self.served.lock().unwrap();
        let arrived = self.events.fetch_add(1, Ordering::SeqCst);
        served.push(Served {
            target: target.to_owned(),
            arrived,
            at: Timestamp::now(),
            answered: None,
            answered_at: None,
        });
        served.len() - 1
    }

    fn answer(&self, index: usize) {
        let mut served = self.served.lock().unwrap();
        served[index].answered = Some(self.events.fetch_add(1, Ordering::SeqCst));
        served[index].answered_at = Some(Timestamp::now());
    }
}

type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// A running server; stops (and closes its connections) when dropped.
pub struct HttpServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT` (or https).
    pub url: String,
    requests: Arc<AtomicUsize>,
    log: Arc<ServedLog>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpServer {
    /// Requests handled so far (counted when the handler has chosen the reply, before any delay).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Every request so far, in order of arrival.
    pub fn served(&self) -> Vec<Served> {
        self.log.served.lock().unwrap().clone()
    }

    /// The most requests that were ever between arrival and reply at once.
    pub fn max_in_flight(&self) -> usize {
        let mut events: Vec<(u64, i32)> = Vec::new();
        for served in self.served() {
            events.push((served.arrived, 1));
            if let Some(answered) = served.answered {
                events.push((answered, -1));
            }
        }
        events.sort();
        let (mut now, mut most) = (0, 0);
        for (_, step) in events {
            now += step;
            most = most.max(now);
        }
        most as usize
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serve `handler` on a free port.
pub fn serve(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> HttpServer {
    serve_on(0, None, handler)
}

/// Serve `handler` over TLS with this PEM certificate chain and key.
pub fn serve_tls(
    cert_pem: &str,
    key_pem: &str,
    handler: impl Fn(&Request) -> Response + Send + Sync + 'static,
) -> HttpServer {
    serve_on(0, Some((cert_pem.to_owned(), key_pem.to_owned())), handler)
}

/// Serve on a given port (0: any), plain or TLS. The server runs on its own thread and runtime, so
/// it answers whatever runtime (or none) the test uses.
pub fn serve_on(
    port: u16,
    tls: Option<(String, String)>,
    handler: impl Fn(&Request) -> Response + Send + Sync + 'static,
) -> HttpServer {
    let handler: Handler = Arc::new(handler);
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind test http server");
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let log = Arc::new(ServedLog::default());
    let (shutdown, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let acceptor = tls.map(|(cert, key)| tls_acceptor(&cert, &key));
    let url = format!("{}://127.0.0.1:{}", if acceptor.is_some() { "https" } else { "http" }, addr.port());
    let (counter, served) = (requests.clone(), log.clone());
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        // Dropping the runtime at the end drops every connection task: a stopped server is gone.
        runtime.block_on(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let service = Service { handler: handler.clone(), counter: counter.clone(), log: served.clone() };
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            match acceptor {
                                Some(acceptor) => {
                                    if let Ok(stream) = acceptor.accept(stream).await {
                                        connection(TokioIo::new(stream), service).await;
                                    }
                                }
                                None => connection(TokioIo::new(stream), service).await,
                            }
                        });
                    }
                }
            }
        });
    });
    HttpServer { addr, url, requests, log, shutdown: Some(shutdown), thread: Some(thread) }
}

fn tls_acceptor(cert_pem: &str, key_pem: &str) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(cert_pem.as_bytes()).collect::<Result<_, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// What one connection needs to answer requests.
#[derive(Clone)]
struct Service {
    handler: Handler,
    counter: Arc<AtomicUsize>,
    log: Arc<ServedLog>,
}

impl Service {
    async fn answer(
        self,
        request: hyper::Request<Incoming>,
    ) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
        let target =
            parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_owned(), |pq| pq.to_string());
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| {
                (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned())
            })
            .collect();
        let request = Request { method: parts.method.to_string(), target, headers, body };
        let index = self.log.arrive(&request.target);
        let response = (self.handler)(&request);
        self.counter.fetch_add(1, Ordering::SeqCst);
        if let Some(mut gate) = response.gate.clone() {
            let _ = gate.wait_for(|open| *open).await;
        }
        if !response.delay.is_zero() {
            tokio::time::sleep(response.delay).await;
        }
        self.log.answer(index);
        let reply = hyper::Response::builder()
            .status(response.status)
            .header(http::header::CONTENT_TYPE, response.content_type)
            .body(Full::new(Bytes::from(response.body)))
            .expect("a status code and a content type make a valid response");
        Ok(reply)
    }
}

async fn connection<I>(io: I, service: Service)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| service.clone().answer(request));
    // One request per connection, as before: a test that stops a server sees its clients reconnect.
    let _ = hyper::server::conn::http1::Builder::new().keep_alive(false).serve_connection(io, service).await;
}

/// A CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI.
pub struct Certs {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// The server certificate, PEM.
    pub cert_pem: String,
    /// The server key, PEM.
    pub key_pem: String,
    /// Files of the above, for servers that read files.
    pub ca_path: std::path::PathBuf,
    /// Server certificate file.
    pub cert_path: std::path::PathBuf,
    /// Server key file.
    pub key_path: std::path::PathBuf,
}

/// Make a CA and a server certificate in `dir` (None when openssl is missing outside CI).
pub fn certs(dir: &std::path::Path) -> Option<Certs> {
    let openssl = super::require("openssl", "tls tests")?;
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&openssl).args(args).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=gscale test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.pem",
    ]);
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    Some(Certs {
        ca_pem: read("ca.pem"),
        cert_pem: read("server.pem"),
        key_pem: read("server.key"),
        ca_path: dir.join("ca.pem"),
        cert_path: dir.join("server.pem"),
        key_path: dir.join("server.key"),
    })
}
