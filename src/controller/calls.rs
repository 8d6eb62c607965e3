//! What every call to the Kubernetes API gets, whichever part of gscale makes it: a deadline, a log
//! line when a call is cut at it, and the server's `Retry-After` header carried into the `Status`
//! that kube parses.
//!
//! [`Calls`] is a tower layer on the kube client. A request other than a watch must have its whole
//! reply (headers and body) within the deadline, or it fails as [`Cut`]: a hung connection, or an
//! API server that applied a write and never answered, can no longer hold a reconcile, a discovery
//! or a list forever. A watch is a long poll the API server ends itself (`timeoutSeconds`), so it is
//! not cut. kube reads a 429's `Status` body and drops the headers; the kube-apiserver's overload
//! filters (max-in-flight, priority and fairness) answer 429 with a `Retry-After` header and a
//! plain-text body, so the header is written into the `Status` here, where the reconcile's error
//! policy reads it. [`within`] bounds one call more tightly, by a scaler's interval; an error
//! that is not the API server's answer ([`outcome_unknown`]) leaves a write's outcome unknown.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};
use tower::{BoxError, Layer, Service};

/// The deadline of one API call when no flag sets it (`gscale run --request-timeout`).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A call that had no whole reply by its deadline: the request may or may not have been applied.
#[derive(Debug, thiserror::Error)]
#[error("no reply to {what} within {after:?}: the call was cut (if it was a write, its outcome is unknown)")]
pub struct Cut {
    /// The method and path.
    pub what: String,
    /// The deadline that passed.
    pub after: Duration,
}

impl Cut {
    fn new(what: String, after: Duration) -> Self {
        let cut = Self { what, after };
        tracing::warn!("{cut}");
        cut
    }
}

/// Whether a failed call may still have been applied: anything but an answer of the API server
/// (a cut call, a dropped connection, an unreadable reply to a write that succeeded).
pub fn outcome_unknown(error: &kube::Error) -> bool {
    !matches!(error, kube::Error::Api(_))
}

/// Run one API call with a deadline of `budget`; a call cut there is logged and its error is a
/// [`kube::Error::Service`] holding a [`Cut`], so it reads as an unknown outcome like any other.
pub async fn within<T>(
    budget: Duration,
    what: impl FnOnce() -> String,
    call: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, kube::Error> {
    match tokio::time::timeout(budget, call).await {
        Ok(result) => result,
        Err(_) => Err(kube::Error::Service(Box::new(Cut::new(what(), budget)))),
    }
}

/// The layer: every non-watch call bounded by `deadline`, every `Retry-After` kept.
#[derive(Clone, Copy, Debug)]
pub struct Calls {
    deadline: Duration,
}

impl Calls {
    /// Calls bounded by `deadline`.
    pub fn new(deadline: Duration) -> Self {
        Self { deadline }
    }
}

impl<S> Layer<S> for Calls {
    type Service = Bounded<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Bounded { inner, deadline: self.deadline }
    }
}

/// The service [`Calls`] wraps around the kube client's stack.
#[derive(Clone, Debug)]
pub struct Bounded<S> {
    inner: S,
    deadline: Duration,
}

/// A reply body, cut at its call's deadline.
pub type ReplyBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

type CallFuture = Pin<Box<dyn Future<Output = Result<Response<ReplyBody>, BoxError>> + Send>>;

impl<S, ReqBody, B> Service<Request<ReqBody>> for Bounded<S>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ReplyBody>;
    type Error = BoxError;
    type Future = CallFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let what = format!("{} {}", request.method(), request.uri().path());
        let deadline = (!is_watch(request.uri())).then(|| (Instant::now() + self.deadline, self.deadline));
        let reply = self.inner.call(request);
        Box::pin(async move {
            let response = match deadline {
                None => reply.await.map_err(boxed)?,
                Some((at, after)) => match tokio::time::timeout_at(at, reply).await {
                    Ok(response) => response.map_err(boxed)?,
                    Err(_) => return Err(Box::new(Cut::new(what, after)) as BoxError),
                },
            };
            let (parts, body) = response.into_parts();
            let body: ReplyBody = match deadline {
                None => body.map_err(boxed).boxed_unsync(),
                Some((at, after)) => {
                    Deadline { body, sleep: Box::pin(tokio::time::sleep_until(at)), what, after }
                        .boxed_unsync()
                }
            };
            let retry_after = parts.headers.get(header::RETRY_AFTER).and_then(retry_after_seconds);
            match retry_after {
                Some(seconds) if parts.status == StatusCode::TOO_MANY_REQUESTS => {
                    let status = with_retry_after(&read_capped(body).await?, seconds);
                    let body = Full::new(Bytes::from(status)).map_err(boxed).boxed_unsync();
                    Ok(Response::from_parts(parts, body))
                }
                _ => Ok(Response::from_parts(parts, body)),
            }
        })
    }
}

/// An error reply's body, at most 64 KiB of it (a `Status` is a few hundred bytes).
async fn read_capped(mut body: ReplyBody) -> Result<Vec<u8>, BoxError> {
    let mut text = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            let room = (64 * 1024usize).saturating_sub(text.len());
            text.extend_from_slice(&data[..data.len().min(room)]);
        }
    }
    Ok(text)
}

fn boxed(error: impl Into<BoxError>) -> BoxError {
    error.into()
}

/// Whether a request is a watch (`?watch=true`, or `1`), which the API server ends by itself.
fn is_watch(uri: &http::Uri) -> bool {
    uri.query().is_some_and(|query| query.split('&').any(|pair| matches!(pair, "watch=true" | "watch=1")))
}

/// `Retry-After` in seconds: a number of seconds or an HTTP date (RFC 9110), never negative.
fn retry_after_seconds(value: &http::HeaderValue) -> Option<u64> {
    let text = value.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(seconds);
    }
    let at = jiff::fmt::rfc2822::parse(text).ok()?.timestamp();
    let seconds = at.duration_since(jiff::Timestamp::now()).as_secs();
    Some(seconds.max(0) as u64)
}

/// A 429's body as a `Status` carrying `details.retryAfterSeconds`: the server's own `Status` with
/// the header's value added where it gave none, or one built around a plain-text body.
fn with_retry_after(body: &[u8], seconds: u64) -> Vec<u8> {
    let seconds = u32::try_from(seconds).unwrap_or(u32::MAX);
    let mut status = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) if value.get("kind").and_then(serde_json::Value::as_str) == Some("Status") => value,
        _ => {
            let text = String::from_utf8_lossy(body);
            serde_json::json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "reason": "TooManyRequests", "code": 429,
                "message": text.trim().chars().take(256).collect::<String>(),
            })
        }
    };
    let given = status.pointer("/details/retryAfterSeconds").and_then(serde_json::Value::as_u64);
    if given.is_none_or(|given| given == 0)
        && let Some(object) = status.as_object_mut()
    {
        let details = object.entry("details").or_insert_with(|| serde_json::json!({}));
        if let Some(details) = details.as_object_mut() {
            details.insert("retryAfterSeconds".into(), seconds.into());
        }
    }
    serde_json::to_vec(&status).unwrap_or_default()
}

/// A reply body that fails as [`Cut`] when its call's deadline passes before its end.
struct Deadline<B> {
    body: B,
    sleep: Pin<Box<Sleep>>,
    what: String,
    after: Duration,
}

impl<B> Body for Deadline<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(boxed)));
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                let what = std::mem::take(&mut self.what);
                Poll::Ready(Some(Err(Box::new(Cut::new(what, self.after)))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(body: &[u8]) -> serde_json::Value {
        serde_json::from_slice(body).unwrap()
    }

    #[test]
    fn a_plain_text_429_becomes_a_status_with_the_headers_wait() {
        let status = status_of(&with_retry_after(b"Too many requests, please try again later.\n", 7));
        assert_eq!(status["code"], 429);
        assert_eq!(status["details"]["retryAfterSeconds"], 7);
        assert_eq!(status["message"], "Too many requests, please try again later.");
        let parsed: kube::core::Status = serde_json::from_value(status).unwrap();
        assert_eq!(parsed.details.unwrap().retry_after_seconds, 7);
    }

    #[test]
    fn a_status_keeps_its_own_wait_and_gains_the_headers_where_it_had_none() {
        let own = br#"{"kind":"Status","code":429,"details":{"retryAfterSeconds":3}}"#;
        assert_eq!(status_of(&with_retry_after(own, 9))["details"]["retryAfterSeconds"], 3);
        let none = br#"{"kind":"Status","code":429,"message":"slow down"}"#;
        let status = status_of(&with_retry_after(none, 9));
        assert_eq!(
            (&status["details"]["retryAfterSeconds"], &status["message"]),
            (&9.into(), &"slow down".into())
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let header = |text: &str| http::HeaderValue::from_str(text).unwrap();
        assert_eq!(retry_after_seconds(&header("12")), Some(12));
        assert_eq!(retry_after_seconds(&header("Sun, 06 Nov 1994 08:49:37 GMT")), Some(0), "a past date");
        let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120);
        let date = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&later).unwrap();
        assert!(retry_after_seconds(&header(&date)).is_some_and(|s| (100..=120).contains(&s)), "{date}");
        assert_eq!(retry_after_seconds(&header("soon")), None);
    }

    #[test]
    fn watches_are_told_apart() {
        let uri = |text: &str| text.parse::<http::Uri>().unwrap();
        assert!(is_watch(&uri("/api/v1/pods?resourceVersion=1&watch=true&timeoutSeconds=290")));
        assert!(!is_watch(&uri("/api/v1/pods?limit=500")));
        assert!(!is_watch(&uri("/api/v1/pods?watch=false")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_past_its_budget_is_cut_as_an_unknown_outcome() {
        let hung = std::future::pending::<Result<(), kube::Error>>();
        let error = within(Duration::from_secs(2), || "PATCH /x/scale".into(), hung).await.unwrap_err();
        assert!(outcome_unknown(&error));
        assert!(error.to_string().contains("PATCH /x/scale"), "{error}");
    }
}
