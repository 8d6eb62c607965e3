//! A metric reply far over the cap (100 MB, streamed or declared) is refused at the cap, stops the
//! server's sending, and keeps the process's peak memory low. Alone in its binary so that the peak
//! measured is this test's own.

mod common;
mod metrics_raw;

use std::time::Duration;

use common::{metric, read};
use metrics_raw::{Body, RawServer, ok_json, path_of};
use serde_json::json;

fn http_metric(source: serde_json::Value) -> gscale::api::MetricSpec {
    metric(json!({"type": "http", "targetValue": 10, "timeoutSeconds": 5, "http": source}))
}

/// The process's peak resident memory, from /proc (Linux only).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[tokio::test]
async fn a_huge_reply_is_refused_at_the_cap_and_not_read_on() {
    use std::sync::atomic::Ordering;
    const HUNDRED_MB: u64 = 100_000_000;
    for declared in [false, true] {
        let server = RawServer::start(move |_| {
            (
                "HTTP/1.1 200 OK\r\ncontent-type: application/json".to_owned(),
                Body::Stream { total: HUNDRED_MB, declared },
            )
        })
        .await;
        let fetcher = common::fetcher(None);
        let http = http_metric(json!({"url": format!("{}/big?token=t0k", server.url), "valuePath": "$.n"}));
        let prometheus = metric(json!({"type": "prometheus", "targetValue": 1, "timeoutSeconds": 5,
            "prometheus": {"serverUrl": server.url, "query": "up"}}));
        for spec in [&http, &prometheus] {
            let err = read(&fetcher, "team", spec).await.unwrap_err();
            assert_eq!(err.reason(), "ReplyTooLarge", "{err}");
            assert!(err.to_string().contains(": reply larger than 1 MiB\nhint: "), "{err}");
            assert!(err.to_string().contains("--max-metric-reply-bytes"), "{err}");
        }
        // The server stops when gscale hangs up: what it got out is the cap plus socket buffers.
        common::wait_for_async("both replies to end", Duration::from_secs(30), || async {
            server.finished.load(Ordering::SeqCst) == 2
        })
        .await;
        let sent = server.sent.load(Ordering::SeqCst);
        assert!(sent < 2 * 32 * 1024 * 1024, "declared {declared}: {sent} bytes went out for two reads");
    }
    if let Some(peak) = peak_rss_bytes() {
        assert!(peak < 64 * 1024 * 1024, "peak RSS {peak} bytes after four 100 MB replies");
    }

    // The cap is the daemon's to set; a reply within it is read as usual.
    let server = RawServer::start(|head| {
        let padding = if path_of(head) == "/large" { "x".repeat(3000) } else { String::new() };
        ok_json(json!({"n": 4, "padding": padding}))
    })
    .await;
    let fetcher = gscale::metrics::Fetcher::new(
        None,
        gscale::metrics::Settings {
            dedup_window: Some(Duration::ZERO),
            limits: gscale::metrics::Limits { max_reply_bytes: 2048, ..Default::default() },
            ..Default::default()
        },
    );
    let small = http_metric(json!({"url": format!("{}/small", server.url), "valuePath": "$.n"}));
    assert_eq!(read(&fetcher, "team", &small).await, Ok(4.0));
    let large = http_metric(json!({"url": format!("{}/large", server.url), "valuePath": "$.n"}));
    let err = read(&fetcher, "team", &large).await.unwrap_err();
    assert!(err.to_string().contains("reply larger than 2 KiB"), "{err}");
}
