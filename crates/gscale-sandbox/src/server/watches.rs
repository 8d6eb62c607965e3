//! Watches: a filtered view of the store's history (namespace, label and field selectors, objects
//! entering and leaving a selection), bookmarks, the initial events of a streaming list, resume from
//! a resourceVersion and 410 Gone, streamed as JSON lines until the timeout or shutdown.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{Body, Req, Shared, partial_metadata};
use crate::registry::{ResourceDef, Special};
use crate::select::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{Change, Store};
use crate::table;

pub(super) struct WatchFilter {
    def: ResourceDef,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl WatchFilter {
    fn selects(&self, stored: &Value) -> bool {
        // Only the events.k8s.io shape differs in the fields a selector reads.
        if self.def.special == Special::EventsV1 {
            let rendered = Store::render(&self.def, stored);
            return self.labels.matches(&rendered) && self.fields.matches(&rendered);
        }
        self.labels.matches(stored) && self.fields.matches(stored)
    }

    /// The watch line for a recorded change, if this watch sees it.
    fn line(&self, change: Change, object: &Value, old: Option<&Value>) -> Option<Value> {
        let ns = object.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
        if self.namespace.as_deref().is_some_and(|n| n != ns) {
            return None;
        }
        let now_in = self.selects(object);
        let kind = match (change, old) {
            (Change::Modified, Some(old)) => {
                let was_in = self.selects(old);
                match (was_in, now_in) {
                    (true, true) => "MODIFIED",
                    (false, true) => "ADDED",
                    (true, false) => "DELETED",
                    (false, false) => return None,
                }
            }
            _ if now_in => change.as_str(),
            _ => return None,
        };
        Some(json!({"type": kind, "object": Store::render(&self.def, object)}))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Value {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        json!({"type": "BOOKMARK", "object": {"kind": self.def.kind, "apiVersion": self.def.api_version(), "metadata": meta}})
    }
}

pub(super) fn start_watch(
    shared: &Arc<Shared>,
    req: &Req,
    def: ResourceDef,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
) -> Result<Response<Body>, ApiError> {
    let filter = WatchFilter { def, namespace, labels, fields };
    let bookmarks = req.param("allowWatchBookmarks") == Some("true");
    let send_initial = req.param("sendInitialEvents") == Some("true");
    let timeout = req
        .param("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let since = match req.param("resourceVersion") {
        None | Some("0") => None,
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}")))?,
        ),
    };
    let mut changed = shared.changed.subscribe();
    let mut drops = shared.faults.drop_signal();
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    let mut initial = Vec::new();
    let mut cursor;
    let mut expired = None;
    {
        let store = shared.store();
        cursor = store.rv();
        match since {
            Some(rv) if !send_initial => {
                if store.events_since(rv).is_none() {
                    expired = Some(rv);
                } else {
                    cursor = rv;
                }
            }
            _ => {
                let page = store.list(
                    &filter.def,
                    filter.namespace.as_deref(),
                    &filter.labels,
                    &filter.fields,
                    None,
                    None,
                )?;
                initial = page.items.into_iter().map(|o| json!({"type": "ADDED", "object": o})).collect();
            }
        }
    }
    let interval = shared.bookmark_interval;
    let as_table = req.accept.contains("as=Table");
    let as_metadata = !as_table && req.accept.contains("as=PartialObjectMetadata");
    let shared = shared.clone();
    tokio::spawn(async move {
        // `kubectl get -w` asks for Tables: each object becomes a one-row Table, headers once.
        let mut header_sent = false;
        let mut send = |v: &Value| {
            let mut v = v.clone();
            let object_event = matches!(v["type"].as_str(), Some("ADDED" | "MODIFIED" | "DELETED"));
            if as_metadata && object_event {
                v["object"] = partial_metadata(&v["object"]);
            }
            if as_table && object_event {
                let rv = v
                    .pointer("/object/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let mut t = table::table(
                    &filter.def,
                    std::slice::from_ref(&v["object"]),
                    &rv,
                    true,
                    Timestamp::now(),
                );
                if header_sent {
                    t["columnDefinitions"] = json!([]);
                }
                header_sent = true;
                v["object"] = t;
            }
            let mut line = v.to_string();
            line.push('\n');
            Ok(Bytes::from(line))
        };
        if let Some(rv) = expired {
            let err = ApiError::expired(format!("too old resource version: {rv} ({})", shared.store().rv()));
            let _ = tx.send(send(&json!({"type": "ERROR", "object": err.to_status()}))).await;
            return;
        }
        for line in &initial {
            if tx.send(send(line)).await.is_err() {
                return;
            }
        }
        if send_initial && bookmarks && tx.send(send(&filter.bookmark(cursor, true))).await.is_err() {
            return;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut next_bookmark = tokio::time::Instant::now() + interval;
        let dropped = || {
            Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "watch dropped by a test fault"))
        };
        loop {
            // Checked before every batch: nothing committed after `drop_watches` reaches an old watch.
            if drops.has_changed().unwrap_or(true) {
                let _ = tx.send(dropped()).await;
                return;
            }
            let batch = {
                let store = shared.store();
                let events = store.events_since(cursor);
                if events.is_some() {
                    cursor = store.rv();
                }
                events
            };
            let Some(batch) = batch else {
                let err = ApiError::expired(format!("too old resource version: {cursor}"));
                let _ = tx.send(send(&json!({"type": "ERROR", "object": err.to_status()}))).await;
                return;
            };
            for event in batch.iter().filter(|e| e.storage == filter.def.storage) {
                if let Some(line) = filter.line(event.change, &event.object, event.old.as_deref())
                    && tx.send(send(&line)).await.is_err()
                {
                    return;
                }
            }
            tokio::select! {
                moved = changed.changed() => if moved.is_err() { return },
                _ = tokio::time::sleep_until(next_bookmark) => {
                    next_bookmark = tokio::time::Instant::now() + interval;
                    if bookmarks {
                        // Catch up first, so the bookmark's version covers everything sent.
                        let pending = shared.store().events_since(cursor).is_some_and(|e| !e.is_empty());
                        if !pending && tx.send(send(&filter.bookmark(cursor, false))).await.is_err() {
                            return;
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return,
                _ = drops.changed() => {
                    let _ = tx.send(dropped()).await;
                    return;
                }
                _ = tx.closed() => return,
            }
        }
    });
    let mut rx = rx;
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let body = StreamBody::new(futures::StreamExt::map(stream, |item| item.map(Frame::data))).boxed();
    let mut resp = Response::new(body);
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}
