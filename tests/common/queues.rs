//! Real message brokers on loopback: `rabbitmq-server` (with the management plugin) and
//! `nats-server -js`, each on free ports in its own temp dir, stopped when its handle drops.
//!
//! RabbitMQ runs under its own RABBITMQ_* environment (node name, mnesia, log and feature-flag files
//! in the temp dir, the management plugin enabled by an enabled_plugins file, its own epmd port) in
//! a process group of its own, so stopping it stops the Erlang VM and the epmd it started. The test
//! talks to it through the management API; to NATS through the NATS protocol itself.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{Process, TempDir, free_port, require, wait_for};

/// One HTTP/1.1 request to `127.0.0.1:port` with basic auth guest:guest: `(status, body)`.
fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    let status = reply.split_whitespace().nth(1)?.parse().ok()?;
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

/// A running rabbitmq-server.
pub struct RabbitMq {
    /// The management API, `http://127.0.0.1:PORT`.
    pub url: String,
    /// The management port.
    pub port: u16,
    epmd_port: u16,
    process: Option<Process>,
    pgid: u32,
    dir: TempDir,
}

/// Start rabbitmq-server with the management plugin; None when it is missing outside CI.
pub fn rabbitmq() -> Option<RabbitMq> {
    // The Debian wrapper in /usr/sbin switches to the rabbitmq user; the real script runs as the caller.
    let script = "/usr/lib/rabbitmq/bin/rabbitmq-server";
    require(
        if std::path::Path::new(script).exists() { script } else { "rabbitmq-server" },
        "rabbitmq tests",
    )?;
    let dir = TempDir::new("rabbitmq");
    let (amqp, port, dist, epmd) = (free_port(), free_port(), free_port(), free_port());
    let path = |name: &str| dir.path().join(name);
    std::fs::write(
        path("rabbitmq.conf"),
        format!(
            "listeners.tcp.1 = 127.0.0.1:{amqp}\nmanagement.tcp.port = {port}\nmanagement.tcp.ip = 127.0.0.1\n\
             collect_statistics_interval = 1000\n"
        ),
    )
    .unwrap();
    std::fs::write(path("enabled_plugins"), "[rabbitmq_management].\n").unwrap();
    let log = path("out.log");
    let child = Command::new(script)
        .env("HOME", dir.path())
        .env("RABBITMQ_NODENAME", format!("gscale{port}@localhost"))
        .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
        .env("RABBITMQ_NODE_PORT", amqp.to_string())
        .env("RABBITMQ_DIST_PORT", dist.to_string())
        .env("ERL_EPMD_PORT", epmd.to_string())
        .env("RABBITMQ_CONFIG_FILE", path("rabbitmq"))
        .env("RABBITMQ_ADVANCED_CONFIG_FILE", path("advanced.config"))
        .env("RABBITMQ_CONF_ENV_FILE", path("env.conf"))
        .env("RABBITMQ_ENABLED_PLUGINS_FILE", path("enabled_plugins"))
        .env("RABBITMQ_MNESIA_BASE", path("mnesia"))
        .env("RABBITMQ_LOG_BASE", path("log"))
        .env("RABBITMQ_PLUGINS_EXPAND_DIR", path("plugins"))
        .env("RABBITMQ_PID_FILE", path("pid"))
        .env("RABBITMQ_FEATURE_FLAGS_FILE", path("feature_flags"))
        .env("RABBITMQ_QUORUM_DIR", path("quorum"))
        .env("RABBITMQ_STREAM_DIR", path("stream"))
        .process_group(0)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn rabbitmq-server");
    let pgid = child.id();
    let mut process = Process::new("rabbitmq-server", child);
    wait_for("rabbitmq's management API", Duration::from_secs(90), || {
        process.assert_running(&log);
        http(port, "GET", "/api/overview", None).is_some_and(|(status, _)| status == 200)
    });
    Some(RabbitMq {
        url: format!("http://127.0.0.1:{port}"),
        port,
        epmd_port: epmd,
        process: Some(process),
        pgid,
        dir,
    })
}

impl RabbitMq {
    /// Declare a queue in vhost `/`.
    pub fn declare(&self, queue: &str) {
        let (status, body) =
            http(self.port, "PUT", &format!("/api/queues/%2F/{queue}"), Some(r#"{"durable":false}"#))
                .unwrap();
        assert!(status < 300, "declare {queue}: {status} {body}");
    }

    /// Publish `n` messages to `queue` through the default exchange.
    pub fn publish(&self, queue: &str, n: usize) {
        let message = format!(
            r#"{{"properties":{{}},"routing_key":"{queue}","payload":"x","payload_encoding":"string"}}"#
        );
        for _ in 0..n {
            let (status, body) =
                http(self.port, "POST", "/api/exchanges/%2F/amq.default/publish", Some(&message)).unwrap();
            assert!(status == 200 && body.contains("\"routed\":true"), "publish: {status} {body}");
        }
    }

    /// Drop every message of `queue`.
    pub fn purge(&self, queue: &str) {
        let (status, body) =
            http(self.port, "DELETE", &format!("/api/queues/%2F/{queue}/contents"), None).unwrap();
        assert!(status < 300, "purge {queue}: {status} {body}");
    }

    /// Wait until the management API counts `n` messages in `queue` (its statistics lag by a second).
    pub fn wait_count(&self, queue: &str, n: usize) {
        let want = format!("\"messages\":{n},");
        wait_for(&format!("rabbitmq to count {n} in {queue}"), Duration::from_secs(20), || {
            http(self.port, "GET", &format!("/api/queues/%2F/{queue}?columns=messages,name"), None)
                .is_some_and(|(_, body)| body.contains(&want))
        });
    }

    /// Stop the broker (the Erlang VM and its epmd).
    pub fn stop(&mut self) {
        if self.process.take().is_some() {
            let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", self.pgid)]).status();
            // epmd daemonized into a session of its own; it stops when no node is left in it.
            let port = self.epmd_port.to_string();
            for _ in 0..100 {
                let killed = Command::new("epmd")
                    .args(["-port", &port, "-kill"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if killed && TcpStream::connect(("127.0.0.1", self.epmd_port)).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = &self.dir;
    }
}

impl Drop for RabbitMq {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running `nats-server -js`.
pub struct Nats {
    /// The client port.
    pub port: u16,
    /// The monitoring endpoint, `http://127.0.0.1:PORT`.
    pub monitoring_url: String,
    process: Process,
    dir: TempDir,
}

/// Start nats-server with JetStream; None when it is missing outside CI.
pub fn nats() -> Option<Nats> {
    let binary = require("nats-server", "nats tests")?;
    let dir = TempDir::new("nats");
    let (port, monitor) = (free_port(), free_port());
    let log = dir.path().join("nats.log");
    let child = Command::new(binary)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-m", &monitor.to_string(), "-sd"])
        .arg(dir.path())
        .arg("-l")
        .arg(&log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nats-server");
    let mut process = Process::new("nats-server", child);
    let url = format!("http://127.0.0.1:{monitor}");
    wait_for("nats-server's monitoring endpoint", Duration::from_secs(20), || {
        process.assert_running(&log);
        super::http_request("GET", &format!("{url}/healthz"), None).is_some_and(|(status, _)| status == 200)
    });
    Some(Nats { port, monitoring_url: url, process, dir })
}

impl Nats {
    /// Send NATS protocol lines (CONNECT first), then PING, and wait for the PONG: every command
    /// before it has been processed. The JetStream API replies land on an inbox and are returned.
    fn send(&self, commands: &[(String, String, Option<&str>)]) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut out = String::from("CONNECT {\"verbose\":false}\r\nSUB _INBOX.gscale 1\r\n");
        for (subject, payload, reply) in commands {
            let reply = reply.map(|r| format!(" {r}")).unwrap_or_default();
            out.push_str(&format!("PUB {subject}{reply} {}\r\n{payload}\r\n", payload.len()));
        }
        out.push_str("PING\r\n");
        stream.write_all(out.as_bytes()).unwrap();
        let mut seen = String::new();
        let mut buffer = [0u8; 4096];
        // JetStream answers on the inbox after its own work: wait for every reply as well as the PONG.
        let replies = commands.iter().filter(|c| c.2.is_some()).count();
        while !seen.contains("PONG") || seen.matches("MSG _INBOX.gscale").count() < replies {
            let n = stream.read(&mut buffer).unwrap();
            assert!(n > 0, "nats closed the connection: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
        seen
    }

    /// Create a memory stream on `subject.>` and a durable pull consumer on it.
    pub fn stream_with_consumer(&self, stream: &str, subject: &str, consumer: &str) {
        let create = format!(r#"{{"name":"{stream}","subjects":["{subject}.>"],"storage":"memory"}}"#);
        let durable = format!(
            r#"{{"stream_name":"{stream}","config":{{"durable_name":"{consumer}","ack_policy":"explicit","deliver_policy":"all"}}}}"#
        );
        let inbox = Some("_INBOX.gscale");
        self.send(&[(format!("$JS.API.STREAM.CREATE.{stream}"), create, inbox)]);
        let replies =
            self.send(&[(format!("$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{consumer}"), durable, inbox)]);
        assert!(!replies.contains("\"error\""), "{replies}");
    }

    /// Publish `n` messages on `subject`.
    pub fn publish(&self, subject: &str, n: usize) {
        let messages: Vec<_> = (0..n).map(|_| (subject.to_string(), "x".to_string(), None)).collect();
        self.send(&messages);
    }

    /// Drop every message of `stream` (its consumers' pending counts go to 0).
    pub fn purge(&self, stream: &str) {
        let replies =
            self.send(&[(format!("$JS.API.STREAM.PURGE.{stream}"), String::new(), Some("_INBOX.gscale"))]);
        assert!(replies.contains("\"success\":true"), "{replies}");
    }

    /// Stop the server.
    pub fn stop(&mut self) {
        self.process.kill();
        let _ = &self.dir;
    }
}
