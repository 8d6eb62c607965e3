//! A Redis-speaking server of the test's own on loopback, answering each command as the test says:
//! a hostile server (replies of 100 MB, endless lines, deep nesting, error replies carrying words
//! that must never be shown). It reads RESP command arrays, as clients send them, and streams its
//! replies in chunks, so it never holds a large reply itself; it stops when its handle drops.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the server answers one command with.
#[derive(Clone, Debug)]
pub enum Reply {
    /// These bytes, as they are (`+OK\r\n`, `:3\r\n`, `-ERR ...\r\n`).
    Raw(Vec<u8>),
    /// `head`, then `len` bytes of `fill`, then `tail`: a large reply that is never in memory.
    Stream {
        /// What comes first (`$104857600\r\n`).
        head: Vec<u8>,
        /// The byte repeated.
        fill: Vec<u8>,
        /// How many times `fill` is repeated.
        times: u64,
        /// What comes last.
        tail: Vec<u8>,
    },
}

impl Reply {
    /// `+text`.
    pub fn simple(text: &str) -> Self {
        Self::Raw(format!("+{text}\r\n").into_bytes())
    }
}

/// A running server; stops when dropped.
pub struct RespServer {
    /// `127.0.0.1`.
    pub host: String,
    /// Its port.
    pub port: u16,
    written: Arc<AtomicU64>,
    commands: Arc<Mutex<Vec<Vec<String>>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RespServer {
    /// Serve `answer` (given each command's words) on a free port of 127.0.0.1.
    pub fn start(answer: impl Fn(&[String]) -> Reply + Send + Sync + 'static) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let written = Arc::new(AtomicU64::new(0));
        let commands: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
        let answer = Arc::new(answer);
        let (counted, logged) = (written.clone(), commands.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                let accept = async {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else { continue };
                        let (answer, counted, logged) = (answer.clone(), counted.clone(), logged.clone());
                        tokio::spawn(async move {
                            let (read, mut write) = stream.into_split();
                            let mut read = BufReader::new(read);
                            while let Some(command) = read_command(&mut read).await {
                                logged.lock().unwrap().push(command.clone());
                                if send(&mut write, answer(&command), &counted).await.is_err() {
                                    return;
                                }
                            }
                        });
                    }
                };
                tokio::select! {
                    () = accept => {}
                    _ = stop => {}
                }
            });
        });
        Self {
            host: "127.0.0.1".into(),
            port,
            written,
            commands,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// Bytes written to clients so far (what the kernel took).
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    /// Every command received, in order.
    pub fn commands(&self) -> Vec<Vec<String>> {
        self.commands.lock().unwrap().clone()
    }
}

impl Drop for RespServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One command array (`*N`, then `$len` and the argument, N times); `None` when the client left.
async fn read_command(read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<Vec<String>> {
    let mut line = String::new();
    read.read_line(&mut line).await.ok().filter(|n| *n > 0)?;
    let count: usize = line.trim().strip_prefix('*')?.parse().ok()?;
    let mut words = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        line.clear();
        read.read_line(&mut line).await.ok()?;
        let len: usize = line.trim().strip_prefix('$')?.parse().ok()?;
        let mut word = vec![0; len + 2];
        read.read_exact(&mut word).await.ok()?;
        word.truncate(len);
        words.push(String::from_utf8_lossy(&word).into_owned());
    }
    Some(words)
}

async fn send(
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    reply: Reply,
    counted: &AtomicU64,
) -> std::io::Result<()> {
    match reply {
        Reply::Raw(bytes) => put(write, &bytes, counted).await,
        Reply::Stream { head, fill, times, tail } => {
            put(write, &head, counted).await?;
            let per_chunk = (64 * 1024 / fill.len().max(1)).max(1) as u64;
            let chunk = fill.repeat(per_chunk as usize);
            let mut left = times;
            while left > 0 {
                let n = left.min(per_chunk) as usize;
                put(write, &chunk[..n * fill.len()], counted).await?;
                left -= n as u64;
            }
            put(write, &tail, counted).await
        }
    }
}

async fn put(
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    bytes: &[u8],
    counted: &AtomicU64,
) -> std::io::Result<()> {
    write.write_all(bytes).await?;
    counted.fetch_add(bytes.len() as u64, Ordering::SeqCst);
    Ok(())
}
