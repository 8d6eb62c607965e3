//! A real `redis-server` on a free loopback port, in a temp dir, killed on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{Process, TempDir, free_port, require, wait_for};

/// How to start the server.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `requirepass` for the default user.
    pub password: Option<String>,
    /// An ACL user and password (`user NAME on >PASS ~* &* +@all`).
    pub acl_user: Option<(String, String)>,
    /// Serve TLS only, with these files (CA, cert, key).
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf, std::path::PathBuf)>,
    /// Fixed port (to restart a server where it was); 0 or None: a free one.
    pub port: Option<u16>,
}

/// A running redis-server.
pub struct RedisServer {
    /// `redis://127.0.0.1:PORT` (or rediss://).
    pub url: String,
    /// Its port.
    pub port: u16,
    process: Process,
    dir: TempDir,
    options: Options,
}

impl RedisServer {
    /// Run a command through `redis-cli` (with the server's password and TLS), returning its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut command = Command::new("redis-cli");
        command.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(password) = &self.options.password {
            command.args(["-a", password, "--no-auth-warning"]);
        }
        if let Some((ca, cert, key)) = &self.options.tls {
            command.arg("--tls").arg("--cacert").arg(ca).arg("--cert").arg(cert).arg("--key").arg(key);
        }
        let out = command.args(args).output().expect("run redis-cli");
        assert!(out.status.success(), "redis-cli {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Push `n` items onto list `key`.
    pub fn push(&self, key: &str, n: usize) {
        for start in (0..n).step_by(500) {
            let items: Vec<String> = (start..n.min(start + 500)).map(|i| format!("item{i}")).collect();
            let mut args = vec!["RPUSH", key];
            args.extend(items.iter().map(String::as_str));
            self.cli(&args);
        }
    }

    /// Kill the server (a crash).
    pub fn stop(&mut self) {
        self.process.kill();
    }

    /// Start a new server on the same port with the same options (data is not kept).
    pub fn restart(&mut self) {
        self.process.kill();
        let options = Options { port: Some(self.port), ..self.options.clone() };
        let fresh = start_in(options, TempDir::new("redis")).expect("redis-server vanished");
        *self = fresh;
    }
}

/// Start a plain redis-server (None when it is missing outside CI: the test then returns).
pub fn start() -> Option<RedisServer> {
    start_with(Options::default())
}

/// Start a redis-server with options.
pub fn start_with(options: Options) -> Option<RedisServer> {
    start_in(options, TempDir::new("redis"))
}

fn start_in(options: Options, dir: TempDir) -> Option<RedisServer> {
    let binary = require("redis-server", "redis tests")?;
    let port = options.port.filter(|p| *p != 0).unwrap_or_else(free_port);
    let log = dir.path().join("redis.log");
    let mut command = Command::new(binary);
    command.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"]);
    command.arg("--dir").arg(dir.path()).arg("--logfile").arg(&log);
    match &options.tls {
        Some((ca, cert, key)) => {
            command.args(["--port", "0", "--tls-port", &port.to_string(), "--tls-auth-clients", "no"]);
            command
                .arg("--tls-ca-cert-file")
                .arg(ca)
                .arg("--tls-cert-file")
                .arg(cert)
                .arg("--tls-key-file")
                .arg(key);
        }
        None => {
            command.args(["--port", &port.to_string()]);
        }
    }
    if let Some(password) = &options.password {
        command.args(["--requirepass", password]);
    }
    if let Some((user, password)) = &options.acl_user {
        command.args(["--user", user, "on", &format!(">{password}"), "~*", "&*", "+@all"]);
    }
    let child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn redis-server");
    let mut process = Process::new("redis-server", child);
    wait_for("redis-server to accept connections", Duration::from_secs(20), || {
        process.assert_running(&log);
        if options.tls.is_some() {
            // A TLS port: ready once the log says so.
            std::fs::read_to_string(&log).is_ok_and(|log| log.contains("Ready to accept connections"))
        } else {
            ping(port)
        }
    });
    let scheme = if options.tls.is_some() { "rediss" } else { "redis" };
    Some(RedisServer { url: format!("{scheme}://127.0.0.1:{port}"), port, process, dir, options })
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 64];
    // +PONG, or -NOAUTH when a password is set: either way the server is up.
    matches!(stream.read(&mut reply), Ok(n) if n > 0)
}
