//! A raw HTTP/1.1 test server for the metric tests: redirects with a Location, replies of any size
//! streamed, request heads recorded. The shared test server in `common` answers whole bodies only.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

/// What the raw server sends after the status line and headers.
pub enum Body {
    /// These bytes, with a content-length.
    Bytes(Vec<u8>),
    /// This many bytes of `1`s in 64 KiB chunks, chunked (`declared`: with a content-length instead).
    Stream { total: u64, declared: bool },
}

/// A raw HTTP/1.1 server on 127.0.0.1 for what the shared test server cannot say: a Location header,
/// a reply of 100 MB streamed. It records each request head and counts the body bytes it got out.
pub struct RawServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    heads: Arc<Mutex<Vec<String>>>,
    /// Body bytes written so far.
    pub sent: Arc<std::sync::atomic::AtomicU64>,
    /// Connections answered (or given up) so far.
    pub finished: Arc<std::sync::atomic::AtomicUsize>,
}

impl RawServer {
    /// Serve `reply` on a free port of 127.0.0.1 until the test's runtime ends.
    pub async fn start(reply: impl Fn(&str) -> (String, Body) + Send + Sync + 'static) -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let server = Self { url, heads: Arc::default(), sent: Arc::default(), finished: Arc::default() };
        let (heads, sent, finished) = (server.heads.clone(), server.sent.clone(), server.finished.clone());
        let reply = Arc::new(reply);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (heads, sent, finished, reply) =
                    (heads.clone(), sent.clone(), finished.clone(), reply.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match stream.read(&mut byte).await {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    heads.lock().unwrap().push(head.clone());
                    let (status_and_headers, body) = reply(&head);
                    let chunk = vec![b'1'; 64 * 1024];
                    let _ = async {
                        match body {
                            Body::Bytes(bytes) => {
                                let head = format!(
                                    "{status_and_headers}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                                    bytes.len()
                                );
                                stream.write_all(head.as_bytes()).await?;
                                stream.write_all(&bytes).await?;
                                sent.fetch_add(bytes.len() as u64, Ordering::SeqCst);
                            }
                            Body::Stream { total, declared } => {
                                let framing = if declared {
                                    format!("content-length: {total}")
                                } else {
                                    "transfer-encoding: chunked".to_owned()
                                };
                                let head =
                                    format!("{status_and_headers}\r\n{framing}\r\nconnection: close\r\n\r\n");
                                stream.write_all(head.as_bytes()).await?;
                                let mut left = total;
                                while left > 0 {
                                    let n = left.min(chunk.len() as u64) as usize;
                                    if !declared {
                                        stream.write_all(format!("{n:x}\r\n").as_bytes()).await?;
                                    }
                                    stream.write_all(&chunk[..n]).await?;
                                    if !declared {
                                        stream.write_all(b"\r\n").await?;
                                    }
                                    sent.fetch_add(n as u64, Ordering::SeqCst);
                                    left -= n as u64;
                                }
                                if !declared {
                                    stream.write_all(b"0\r\n\r\n").await?;
                                }
                            }
                        }
                        stream.shutdown().await
                    }
                    .await;
                    finished.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        server
    }

    /// The request heads so far, lowercased.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().iter().map(|head| head.to_ascii_lowercase()).collect()
    }
}

/// A 200 JSON reply.
pub fn ok_json(value: serde_json::Value) -> (String, Body) {
    (
        "HTTP/1.1 200 OK\r\ncontent-type: application/json".to_owned(),
        Body::Bytes(value.to_string().into_bytes()),
    )
}

/// A redirect to `location`.
pub fn redirect(status: u16, location: &str) -> (String, Body) {
    (format!("HTTP/1.1 {status} Moved\r\nlocation: {location}"), Body::Bytes(Vec::new()))
}

/// The request path of a recorded head.
pub fn path_of(head: &str) -> &str {
    head.split_whitespace().nth(1).unwrap_or("")
}
