//! `gscale demo` on the real binary: a short wave (hidden `--wave-period`) scales up and down and
//! exits 0 with its summary; the printed kubeconfig works with kubectl while it runs; Ctrl-C ends it
//! cleanly; `--redis` drives a real Redis list.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Run `gscale demo` to its end. It ends by itself (after `--duration`, or at once on a usage
/// error); one still running after a generous deadline is killed and fails the test.
fn demo(args: &[&str]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_gscale"))
        .arg("demo")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    match finished.recv_timeout(Duration::from_secs(300)) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("gscale demo {args:?} did not end by itself");
        }
    }
}

/// The seconds the closing paragraph says the demo ran.
fn ran_for(stdout: &str) -> f64 {
    let after =
        stdout.split("demo finished after ").nth(1).unwrap_or_else(|| panic!("no summary:\n{stdout}"));
    after.split('s').next().unwrap().parse().unwrap_or_else(|_| panic!("no duration in:\n{after}"))
}

/// `(scale events up, down, peak)` from the closing paragraph.
fn summary(stdout: &str) -> (usize, usize, i32) {
    let paragraph =
        stdout.split("demo finished after").nth(1).unwrap_or_else(|| panic!("no summary:\n{stdout}"));
    let counts = paragraph.split(" scale events (").nth(1).unwrap();
    let up: usize = counts.split(" up, ").next().unwrap().parse().unwrap();
    let down: usize = counts.split(" up, ").nth(1).unwrap().split(" down)").next().unwrap().parse().unwrap();
    let peak: i32 = paragraph.split("a peak of ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    (up, down, peak)
}

#[test]
fn a_short_demo_follows_the_wave_up_and_down_and_exits_0() {
    let out = demo(&["--duration", "22s", "--wave-period", "12s"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stdout}\n{stderr}", out.status);
    // It ended by itself, having run the whole --duration it was given (and no wave longer).
    assert!(ran_for(&stdout) >= 22.0, "ran the whole duration:\n{stdout}");
    assert!(stdout.contains("kubeconfig: "), "{stdout}");
    let (up, down, peak) = summary(&stdout);
    assert!(up >= 1 && down >= 1, "scaled both ways:\n{stdout}");
    assert!((5..=10).contains(&peak), "the wave asks for up to 8 replicas, peak {peak}:\n{stdout}");
    // Not a terminal: one plain line per decision, with its reason.
    assert!(stdout.lines().any(|l| l.contains("] scale up 1 -> ")), "{stdout}");
    assert!(stdout.lines().any(|l| l.contains("] scale down ")), "{stdout}");
    assert!(!stdout.contains('\x1b'), "no terminal escapes when piped:\n{stdout}");
}

#[test]
fn the_printed_kubeconfig_works_while_it_runs_and_ctrl_c_ends_it_with_0() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gscale"))
        .args(["demo", "--wave-period", "8s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let mut process = common::Process::new("gscale demo", child);
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let kubeconfig = loop {
        let line = lines.recv_timeout(Duration::from_secs(30)).expect("the demo prints its kubeconfig");
        seen.push(line.clone());
        if let Some(path) = line.strip_prefix("kubeconfig: ") {
            break path.to_string();
        }
    };
    if let Some(kubectl) = common::require("/usr/bin/kubectl", "kubectl against the demo") {
        let home = common::TempDir::new("demo-kubectl");
        let out = Command::new(kubectl)
            .args(["--kubeconfig", &kubeconfig, "get", "gsc,deploy"])
            .env("HOME", home.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("generalscaler.autoscaling.generalscaler.io/demo-app"), "{text}");
        assert!(text.contains("deployment.apps/demo-app"), "{text}");
    }
    // Let it run a moment, then Ctrl-C.
    let until = Instant::now() + Duration::from_secs(3);
    while let Ok(line) = lines.recv_timeout(until.saturating_duration_since(Instant::now())) {
        seen.push(line);
    }
    Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap();
    let status = process.wait_exit(Duration::from_secs(15)).expect("the demo stops on Ctrl-C");
    seen.extend(lines.try_iter());
    let text = seen.join("\n");
    assert!(status.success(), "{status:?}\n{text}");
    assert!(text.contains("demo finished after"), "{text}");
    assert!(!Path::new(&kubeconfig).exists(), "the kubeconfig is removed at the end");
}

#[test]
fn with_redis_it_drives_a_real_list() {
    let options = common::redis::Options { password: Some("s3cret-pw".into()), ..Default::default() };
    let Some(redis) = common::redis::start_with(options) else { return };
    let url = format!("redis://:s3cret-pw@127.0.0.1:{}/0", redis.port);
    let out = demo(&["--duration", "10s", "--wave-period", "8s", "--redis", &url]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("load from Redis list gscale-demo-queue"), "{stdout}");
    assert!(!stdout.contains("s3cret-pw"), "the password never shows:\n{stdout}");
    let (up, _, peak) = summary(&stdout);
    assert!(up >= 1 && peak >= 4, "the queue drove a scale-up:\n{stdout}");
    assert_eq!(redis.cli(&["EXISTS", "gscale-demo-queue"]), "0", "the demo cleans up its list");
}

#[test]
fn a_bad_redis_url_or_duration_is_a_usage_error() {
    for args in [&["--redis", "http://nope"][..], &["--duration", "soon"]] {
        let out = demo(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(args[0]) && err.contains(args[1]),
            "the message names the flag and value: {err}"
        );
    }
}

#[test]
fn an_unreachable_redis_fails_with_a_hint() {
    let port = common::free_port();
    let out = demo(&["--duration", "5s", "--redis", &format!("redis://127.0.0.1:{port}")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot connect to Redis") && err.contains("hint:"), "{err}");
}
