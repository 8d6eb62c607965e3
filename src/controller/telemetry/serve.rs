//! The HTTP endpoint: `/metrics` (the Prometheus text format, or OpenMetrics when the scraper's
//! `Accept` header asks for `application/openmetrics-text`), `/healthz` and `/readyz`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::Telemetry;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serve `/metrics`, `/healthz` and `/readyz` on `addr` until the task is dropped.
pub async fn serve(addr: SocketAddr, telemetry: Arc<Telemetry>) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    loop {
        let (stream, _) = listener.accept().await?;
        let telemetry = telemetry.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let telemetry = telemetry.clone();
                async move { Ok::<_, std::convert::Infallible>(respond(&req, telemetry).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Whether an `Accept` header prefers OpenMetrics (Prometheus sends it first when it can parse it).
fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| {
        accept.split(',').any(|kind| {
            let mut params = kind.split(';').map(str::trim);
            let media = params.next().unwrap_or_default();
            let quality =
                params.find_map(|p| p.strip_prefix("q=")).and_then(|q| q.parse::<f64>().ok()).unwrap_or(1.0);
            media.eq_ignore_ascii_case("application/openmetrics-text") && quality > 0.0
        })
    })
}

async fn respond(req: &Request<hyper::body::Incoming>, telemetry: Arc<Telemetry>) -> Response<Full<Bytes>> {
    let (status, body, content_type) = match req.uri().path() {
        "/metrics" => {
            let accept = req.headers().get(hyper::header::ACCEPT).and_then(|v| v.to_str().ok());
            let openmetrics = wants_openmetrics(accept);
            let content_type = if openmetrics {
                OPENMETRICS
            } else {
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE
            };
            // Every scaler's series: tens of megabytes at 100,000 scalers, rendered off the
            // reconciles' threads so a scrape never delays a tick.
            let telemetry = telemetry.clone();
            match tokio::task::spawn_blocking(move || telemetry.render(openmetrics)).await {
                Ok(body) => (StatusCode::OK, body, content_type),
                Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n".to_string(), "text/plain"),
            }
        }
        "/healthz" => (StatusCode::OK, "ok\n".to_string(), "text/plain"),
        "/readyz" if telemetry.ready.load(Ordering::Relaxed) => {
            (StatusCode::OK, "ready\n".to_string(), "text/plain")
        }
        "/readyz" => {
            (StatusCode::SERVICE_UNAVAILABLE, "not ready: caches syncing\n".to_string(), "text/plain")
        }
        _ => (StatusCode::NOT_FOUND, "try /metrics, /healthz or /readyz\n".to_string(), "text/plain"),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_only_when_asked() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(wants_openmetrics(Some(prometheus)));
        assert!(!wants_openmetrics(Some("text/plain;version=0.0.4")));
        assert!(!wants_openmetrics(Some("application/openmetrics-text;q=0")));
        assert!(!wants_openmetrics(None));
    }
}
