//! The Pub/Sub emulator that ships with the Google Cloud CLI, on a free loopback port, killed on drop;
//! plus REST helpers to create topics and subscriptions and publish.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::{Process, TempDir, free_port, http_request as request, require, wait_for};

/// Where the emulator ships on these machines.
pub const EMULATOR: &str = "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator";

/// A running emulator.
pub struct Emulator {
    /// `127.0.0.1:PORT`, the value for `PUBSUB_EMULATOR_HOST`.
    pub host: String,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    process: Process,
    dir: TempDir,
}

impl Emulator {
    fn call(&self, method: &str, path: &str, body: Option<&str>) -> String {
        let (status, reply) =
            request(method, &format!("{}{path}", self.url), body).expect("emulator answers");
        assert!(status < 300, "{method} {path}: {status} {reply}");
        reply
    }

    /// Create a topic.
    pub fn create_topic(&self, project: &str, topic: &str) {
        self.call("PUT", &format!("/v1/projects/{project}/topics/{topic}"), None);
    }

    /// Create a pull subscription on a topic.
    pub fn create_subscription(&self, project: &str, topic: &str, subscription: &str) {
        let body = format!("{{\"topic\":\"projects/{project}/topics/{topic}\"}}");
        self.call("PUT", &format!("/v1/projects/{project}/subscriptions/{subscription}"), Some(&body));
    }

    /// Publish `n` messages.
    pub fn publish(&self, project: &str, topic: &str, n: usize) {
        let messages: Vec<String> = (0..n).map(|_| "{\"data\":\"aGk=\"}".to_owned()).collect();
        let body = format!("{{\"messages\":[{}]}}", messages.join(","));
        self.call("POST", &format!("/v1/projects/{project}/topics/{topic}:publish"), Some(&body));
    }
}

/// Start the emulator (None when it is missing outside CI).
pub fn start() -> Option<Emulator> {
    let binary = require(EMULATOR, "pubsub tests")?;
    require("java", "pubsub tests")?;
    let dir = TempDir::new("pubsub");
    let port = free_port();
    let log = dir.path().join("emulator.log");
    let child = Command::new(binary)
        .arg("--host=127.0.0.1")
        .arg(format!("--port={port}"))
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn the pubsub emulator");
    let mut process = Process::new("pubsub emulator", child);
    let url = format!("http://127.0.0.1:{port}");
    wait_for("the pubsub emulator to answer", Duration::from_secs(90), || {
        process.assert_running(&log);
        request("GET", &format!("{url}/"), None).is_some_and(|(status, _)| status == 200)
    });
    Some(Emulator { host: format!("127.0.0.1:{port}"), url, process, dir })
}
