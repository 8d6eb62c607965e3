//! The HTTP side: accepting connections on 127.0.0.1, applying fault rules and denials, logging
//! each request, and dispatching object requests (get, list, create, update, patch, apply, delete,
//! /scale, Tables and metadata) to the store. Paths and verbs are parsed in `routing`; watches are
//! streamed by `watches`.
//!
//! The store is synchronous behind one mutex that is never held across an await; watches read the
//! store's history whenever the global resourceVersion moves.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::discovery;
use super::faults::{FaultAction, Faults, Lost, RequestLog, RequestRecord};
use super::patch;
use super::protobuf;
use super::registry::{ResourceDef, Special};
use super::select::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{Part, Store, WriteCtx};
use super::table;

mod routing;
mod watches;

use routing::{Route, Target, parse_query, parse_route, verb_of};
use watches::start_watch;

/// Largest request body accepted.
const MAX_BODY: usize = 3 * 1024 * 1024;

type Body = BoxBody<Bytes, std::io::Error>;

/// State shared by every connection.
pub(crate) struct Shared {
    pub store: Mutex<Store>,
    pub changed: watch::Sender<u64>,
    pub faults: Faults,
    pub log: RequestLog,
    pub replica_delay: Mutex<Duration>,
    pub bookmark_interval: Duration,
    pub address: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    pub(crate) fn notify(&self) {
        let rv = self.store().rv();
        self.changed.send_if_modified(|current| {
            let moved = *current != rv;
            *current = rv;
            moved
        });
    }
}

/// Serve until `shutdown` turns true.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, shutdown: watch::Receiver<bool>) {
    let mut stopped = shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                let mut stop = shutdown.clone();
                tokio::spawn(async move {
                    // A handler's error (a lost reply) makes hyper close the connection unanswered.
                let service = service_fn(move |req| handle(shared.clone(), req));
                    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = conn => {}
                        _ = stop.wait_for(|s| *s) => {}
                    }
                });
            }
            _ = stopped.wait_for(|s| *s) => return,
        }
    }
}

fn json_response(code: u16, value: &Value, content_type: &str) -> Response<Body> {
    let body = Full::new(Bytes::from(value.to_string())).map_err(|never: Infallible| match never {}).boxed();
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

fn error_response(err: &ApiError) -> Response<Body> {
    let mut resp = json_response(err.code, &err.to_status(), "application/json");
    if let Some(secs) = err.retry_after {
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// A reply not sent on purpose (a `LoseReply` fault): the connection closes instead.
#[derive(Debug)]
struct ReplyLost;

impl std::fmt::Display for ReplyLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the reply was dropped on purpose (a test fault)")
    }
}

impl std::error::Error for ReplyLost {}

fn overloaded(retry_after_secs: u64) -> Response<Body> {
    // As kube-apiserver's max-in-flight and APF filters answer: http.Error text, no Status.
    let text = "Too many requests, please try again later.\n";
    let body = Full::new(Bytes::from(text)).map_err(|never: Infallible| match never {}).boxed();
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    resp
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, ReplyLost> {
    let at = Timestamp::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or_default().to_string();
    let query = parse_query(&raw_query);
    let route = parse_route(&path);
    let verb = verb_of(&method, &route, &query);
    let header_text = |name: header::HeaderName| {
        req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    };
    let user_agent = header_text(header::USER_AGENT);
    let accept = header_text(header::ACCEPT);
    let content_type = header_text(header::CONTENT_TYPE);
    let mut record = RequestRecord {
        at,
        answered: at,
        method: method.to_string(),
        path: path.clone(),
        query: raw_query,
        verb: verb.clone(),
        resource: String::new(),
        subresource: String::new(),
        namespace: String::new(),
        name: String::new(),
        status: 0,
        user_agent: user_agent.clone(),
        reply_lost: false,
    };
    if let Some(Route::Object(t)) = &route {
        record.resource = t.plural.clone();
        record.subresource = t.sub.clone().unwrap_or_default();
        record.namespace = t.namespace.clone().unwrap_or_default();
        record.name = t.name.clone().unwrap_or_default();
    }
    let (delay, fault) = shared.faults.check(&verb, &path);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let denied = match &route {
        Some(Route::Object(t)) => forbidden(&shared.faults, &verb, t),
        _ => None,
    };
    let lost = match fault {
        Some(FaultAction::LoseReply(how)) => Some(how),
        _ => None,
    };
    let response = match (denied, fault) {
        (Some(err), _) => Err(err),
        (None, Some(FaultAction::Overloaded { retry_after_secs })) => Ok(overloaded(retry_after_secs)),
        (None, Some(FaultAction::Error(code))) => Err(fault_error(code, &record)),
        (None, Some(FaultAction::Throttle { retry_after_secs })) => {
            let mut err = ApiError::new(
                429,
                "TooManyRequests",
                "the sandbox is throttling this request (a test fault)",
            );
            err.retry_after = Some(retry_after_secs);
            Err(err)
        }
        _ => {
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(collected) => Ok(collected.to_bytes()),
                Err(_) => Err(ApiError::new(
                    413,
                    "RequestEntityTooLarge",
                    "the request body is too large or was cut",
                )),
            };
            match body {
                Ok(body) => {
                    let request =
                        Req { method, route, query, verb, accept, content_type, user_agent, body, at };
                    dispatch(&shared, request).await
                }
                Err(e) => Err(e),
            }
        }
    };
    let response = response.unwrap_or_else(|e| error_response(&e));
    record.status = response.status().as_u16();
    record.answered = Timestamp::now();
    record.reply_lost = lost.is_some();
    shared.log.push(record);
    match lost {
        None => Ok(response),
        Some(Lost::Drop) => Err(ReplyLost),
        // Until the client gives up and closes the connection, or the sandbox stops.
        Some(Lost::Hang) => std::future::pending().await,
    }
}

/// `POST /sandbox/faults` adds a rule (`{"verb", "path", "times"}` to match, and one of `"error":
/// CODE`, `"throttle": RETRY_AFTER_SECS`, `"overload": RETRY_AFTER_SECS` (header only), `"latencyMs":
/// MS` or `"loseReply": "hang"|"drop"`); `DELETE` clears every rule.
fn fault_switches(shared: &Shared, req: &Req) -> Result<Response<Body>, ApiError> {
    if req.method == Method::DELETE {
        shared.faults.clear();
        return Ok(json_response(200, &json!({"cleared": true}), "application/json"));
    }
    if req.method != Method::POST {
        return Err(ApiError::new(405, "MethodNotAllowed", "POST a rule, or DELETE to clear them"));
    }
    let rule = req.json_body()?;
    let text = |key: &str| rule.get(key).and_then(Value::as_str);
    let mut matcher = super::faults::FaultMatch::any();
    if let Some(verb) = text("verb") {
        matcher = matcher.verb(verb);
    }
    if let Some(path) = text("path") {
        matcher = matcher.path(path);
    }
    if let Some(times) = rule.get("times").and_then(Value::as_u64) {
        matcher = matcher.times(u32::try_from(times).unwrap_or(u32::MAX));
    }
    let number = |key: &str| rule.get(key).and_then(Value::as_u64);
    let lost = match text("loseReply") {
        Some("hang") => Some(Lost::Hang),
        Some("drop") => Some(Lost::Drop),
        _ => None,
    };
    let actions = [
        number("error").filter(|code| (400..600).contains(code)).map(|code| FaultAction::Error(code as u16)),
        number("throttle").map(|secs| FaultAction::Throttle { retry_after_secs: secs }),
        number("overload").map(|secs| FaultAction::Overloaded { retry_after_secs: secs }),
        number("latencyMs").map(|ms| FaultAction::Latency(Duration::from_millis(ms))),
        lost.map(FaultAction::LoseReply),
    ];
    let mut given = actions.into_iter().flatten();
    let action = match (given.next(), given.next()) {
        (Some(action), None) => action,
        _ => {
            return Err(ApiError::bad_request(
                "a fault rule needs exactly one of \"error\" (400-599), \"throttle\" (seconds), \"overload\" (seconds), \"latencyMs\" or \"loseReply\" (\"hang\" or \"drop\")",
            ));
        }
    };
    shared.faults.add(matcher, action);
    Ok(json_response(201, &json!({"added": true}), "application/json"))
}

fn record_json(r: &RequestRecord) -> Value {
    json!({
        "at": r.at.to_string(), "answered": r.answered.to_string(), "method": r.method, "path": r.path,
        "query": r.query, "verb": r.verb, "resource": r.resource, "subresource": r.subresource,
        "namespace": r.namespace, "name": r.name, "status": r.status, "userAgent": r.user_agent,
        "replyLost": r.reply_lost,
    })
}

/// The 403 an RBAC denial earns, in the API server's words.
fn forbidden(faults: &Faults, verb: &str, t: &Target) -> Option<ApiError> {
    let resource = match &t.sub {
        Some(sub) => format!("{}/{sub}", t.plural),
        None => t.plural.clone(),
    };
    if faults.allows(verb, &t.group, &resource) {
        return None;
    }
    let subject = if t.group.is_empty() { t.plural.clone() } else { format!("{}.{}", t.plural, t.group) };
    let mut message = match &t.name {
        Some(name) => format!("{subject} \"{name}\" is forbidden: "),
        None => format!("{subject} is forbidden: "),
    };
    message.push_str(&format!(
        "User \"system:serviceaccount:default:gscale\" cannot {verb} resource \"{resource}\" in API group \"{}\"",
        t.group
    ));
    match &t.namespace {
        Some(ns) => message.push_str(&format!(" in the namespace \"{ns}\"")),
        None => message.push_str(" at the cluster scope"),
    }
    let mut err = ApiError::new(403, "Forbidden", message);
    err.details =
        Some(json!({"name": t.name.clone().unwrap_or_default(), "group": t.group, "kind": t.plural}));
    Some(err)
}

/// Answer a SelfSubjectAccessReview from the denied permissions.
fn access_review(faults: &Faults, mut review: Value) -> Result<Value, ApiError> {
    let Some(attrs) = review.pointer("/spec/resourceAttributes").cloned() else {
        return Err(ApiError::invalid(
            "SelfSubjectAccessReview.authorization.k8s.io",
            "",
            vec![("spec.resourceAttributes".into(), "FieldValueRequired", "Required value".into())],
        ));
    };
    let field = |k: &str| attrs.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let resource = match field("subresource").as_str() {
        "" => field("resource"),
        sub => format!("{}/{sub}", field("resource")),
    };
    let allowed = faults.allows(&field("verb"), &field("group"), &resource);
    review["status"] = if allowed {
        json!({"allowed": true, "reason": "the gscale sandbox allows everything not denied by a test"})
    } else {
        json!({"allowed": false, "reason": "denied by a test (Faults::forbid)"})
    };
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    review["kind"] = json!("SelfSubjectAccessReview");
    Ok(review)
}

fn fault_error(code: u16, record: &RequestRecord) -> ApiError {
    let reason = ApiError::reason_for(code);
    let message = match code {
        403 => format!(
            "{} \"{}\" is forbidden: User \"system:anonymous\" cannot {} resource \"{}\" (a test fault)",
            record.resource, record.name, record.verb, record.resource
        ),
        _ => {
            format!("the sandbox failed this {} request on purpose (a test fault, HTTP {code})", record.verb)
        }
    };
    ApiError::new(code, reason, message)
}

struct Req {
    method: Method,
    route: Option<Route>,
    query: HashMap<String, String>,
    verb: String,
    accept: String,
    content_type: String,
    user_agent: String,
    body: Bytes,
    at: Timestamp,
}

impl Req {
    fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str).filter(|s| !s.is_empty())
    }

    fn ctx(&self) -> WriteCtx {
        let manager = self.param("fieldManager").map(str::to_string).unwrap_or_else(|| {
            let agent = self.user_agent.split('/').next().unwrap_or_default();
            if agent.is_empty() { "unknown".to_string() } else { agent.to_string() }
        });
        WriteCtx {
            now: self.at,
            manager,
            dry_run: self.param("dryRun") == Some("All"),
            strict: self.param("fieldValidation").is_some_and(|v| v.eq_ignore_ascii_case("strict")),
        }
    }

    fn json_body(&self) -> Result<Value, ApiError> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        let media = self.content_type.to_ascii_lowercase();
        if media.contains("protobuf")
            && let Some(value) = protobuf::decode(&self.body)
        {
            return Ok(value);
        }
        if media.contains("protobuf") || media.contains("cbor") {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the gscale sandbox reads JSON and YAML bodies (and protobuf only for Namespaces, \
                     ConfigMaps and Secrets), not this {media} body; use `kubectl apply -f` instead"
                ),
            ));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
    }
}

async fn dispatch(shared: &Arc<Shared>, req: Req) -> Result<Response<Body>, ApiError> {
    let ok = |v: Value| Ok(json_response(200, &v, "application/json"));
    let Some(route) = req.route.clone() else {
        return Err(ApiError::no_route("unknown path"));
    };
    if req.method != Method::GET && !matches!(route, Route::Object(_) | Route::Faults) {
        return Err(ApiError::new(405, "MethodNotAllowed", "only GET is served here"));
    }
    match route {
        Route::Root => {
            ok(json!({"paths": ["/api", "/api/v1", "/apis", "/openapi/v3", "/version", "/healthz"]}))
        }
        Route::Health => {
            let body =
                Full::new(Bytes::from_static(b"ok")).map_err(|never: Infallible| match never {}).boxed();
            Ok(Response::new(body))
        }
        Route::Version => ok(discovery::version()),
        Route::Api | Route::Apis if discovery::wants_aggregated(&req.accept) => {
            let v = discovery::aggregated(shared.store().defs(), route == Route::Api);
            Ok(json_response(200, &v, discovery::AGGREGATED_V2))
        }
        Route::Api => ok(discovery::core_versions(&shared.address)),
        Route::Apis => ok(discovery::group_list(shared.store().defs())),
        Route::Group(g) => {
            discovery::group(shared.store().defs(), &g).map_or_else(|| Err(ApiError::no_route(&g)), ok)
        }
        Route::Resources { group, version } => {
            discovery::resource_list(shared.store().defs(), &group, &version)
                .map_or_else(|| Err(ApiError::no_route(&format!("{group}/{version}"))), ok)
        }
        Route::OpenApiIndex => ok(discovery::openapi_index(shared.store().defs())),
        Route::OpenApiDoc { group, version } => {
            discovery::openapi_doc(shared.store().defs(), &group, &version)
                .map_or_else(|| Err(ApiError::no_route(&format!("openapi {group}/{version}"))), ok)
        }
        Route::OpenApiV2 if req.accept.contains("protobuf") => {
            let body = Full::new(Bytes::from(discovery::openapi_v2_protobuf()))
                .map_err(|never: Infallible| match never {})
                .boxed();
            let mut response = Response::new(body);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                // As kube-openapi answers it: Go's mime parser refuses the "@" of the Accept type.
                HeaderValue::from_static("application/octet-stream"),
            );
            Ok(response)
        }
        Route::OpenApiV2 => ok(discovery::openapi_v2_json()),
        Route::Faults => fault_switches(shared, &req),
        Route::Requests => ok(Value::Array(shared.log.snapshot().iter().map(record_json).collect())),
        Route::Object(t) => object_request(shared, &req, t).await,
    }
}

async fn object_request(shared: &Arc<Shared>, req: &Req, t: Target) -> Result<Response<Body>, ApiError> {
    let def = shared
        .store()
        .def(&t.group, &t.version, &t.plural)
        .cloned()
        .ok_or_else(|| ApiError::no_route(&format!("{}/{} {}", t.group, t.version, t.plural)))?;
    if !def.namespaced && t.namespace.is_some() {
        return Err(ApiError::no_route(&format!("{} is not namespaced", def.plural)));
    }
    let collection = t.name.is_none();
    if def.namespaced
        && t.namespace.is_none()
        && !(collection && matches!(req.verb.as_str(), "list" | "watch"))
    {
        return Err(ApiError::no_route(&format!("{} is namespaced", def.plural)));
    }
    if let Some(sub) = &t.sub {
        let known = (sub == "status" && def.status) || (sub == "scale" && def.scale.is_some());
        if !known {
            return Err(ApiError::no_route(&format!("{}/{sub}", def.plural)));
        }
    }
    // metrics-server serves get and list alone: no writes, no watch.
    if def.special == Special::Metrics && !matches!(req.verb.as_str(), "get" | "list") {
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ));
    }
    let ns = t.namespace.clone().unwrap_or_default();
    let name = t.name.clone().unwrap_or_default();
    let table = req.accept.contains("as=Table");
    let metadata_only = !table && req.accept.contains("as=PartialObjectMetadata");
    let labels = LabelSelector::parse(req.param("labelSelector").unwrap_or_default())?;
    let mut fields = FieldSelector::parse(req.param("fieldSelector").unwrap_or_default())?;
    if req.verb == "watch" && !collection {
        fields = FieldSelector::parse(&format!("metadata.name={name}"))?;
    }
    let ok = |v: Value| Ok(json_response(200, &v, "application/json"));
    let created = |v: Value| Ok(json_response(201, &v, "application/json"));
    let scale = t.sub.as_deref() == Some("scale");
    let part = if t.sub.as_deref() == Some("status") { Part::Status } else { Part::Main };
    let ctx = req.ctx();
    let result = match req.verb.as_str() {
        "watch" => return start_watch(shared, req, def, t.namespace.clone(), labels, fields),
        "list" => {
            let limit = req.param("limit").and_then(|l| l.parse::<usize>().ok()).filter(|l| *l > 0);
            let store = shared.store();
            let page =
                store.list(&def, t.namespace.as_deref(), &labels, &fields, limit, req.param("continue"))?;
            let rv = page.rv.to_string();
            let mut meta = json!({"resourceVersion": rv});
            if let Some(next) = page.next {
                meta["continue"] = json!(next);
                meta["remainingItemCount"] = json!(page.remaining);
            }
            if table {
                // kubectl pages tables (500 rows a request): the continue token must come along.
                let mut v = table::table(&def, &page.items, &rv, true, req.at);
                v["metadata"] = meta;
                return Ok(json_response(200, &v, "application/json;as=Table;v=v1;g=meta.k8s.io"));
            }
            if metadata_only {
                let items: Vec<Value> = page.items.iter().map(partial_metadata).collect();
                return ok(json!({
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": meta,
                    "items": items,
                }));
            }
            return ok(json!({
                "kind": format!("{}List", def.kind),
                "apiVersion": def.api_version(),
                "metadata": meta,
                "items": page.items,
            }));
        }
        "get" => {
            let obj = shared.store().get(&def, &ns, &name)?;
            if scale {
                return ok(Store::scale_of(&def, &obj)?);
            }
            if table {
                let rv = obj
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let v = table::table(&def, std::slice::from_ref(&obj), &rv, true, req.at);
                return Ok(json_response(200, &v, "application/json;as=Table;v=v1;g=meta.k8s.io"));
            }
            if metadata_only {
                return ok(partial_metadata(&obj));
            }
            return ok(obj);
        }
        "create" if def.special == Special::AccessReview => {
            return created(access_review(&shared.faults, req.json_body()?)?);
        }
        _ if def.special == Special::AccessReview => {
            return Err(ApiError::new(
                405,
                "MethodNotAllowed",
                "selfsubjectaccessreviews only support create",
            ));
        }
        "create" => {
            let body = req.json_body()?;
            let out = shared.store().create(&def, &ns, body, &ctx)?;
            after_write(shared, &def, &ns, &text_of(&out, "/metadata/name"), ctx.dry_run);
            return created(out);
        }
        "update" => {
            let body = req.json_body()?;
            let out = if scale {
                shared.store().set_scale(&def, &ns, &name, &body, &ctx)?
            } else {
                shared.store().update(&def, &ns, &name, body, part, &ctx)?
            };
            after_write(shared, &def, &ns, &name, ctx.dry_run);
            out
        }
        "patch" => {
            let out = patch_request(shared, req, &def, &ns, &name, scale, part, &ctx)?;
            after_write(shared, &def, &ns, &name, ctx.dry_run);
            match out {
                Patched::Created(v) => return created(v),
                Patched::Updated(v) => v,
            }
        }
        "delete" => {
            let options = req.json_body()?;
            let out = shared.store().delete(&def, &ns, &name, &options, &ctx)?;
            shared.notify();
            out
        }
        "deletecollection" => {
            let mut store = shared.store();
            let page = store.list(&def, t.namespace.as_deref(), &labels, &fields, None, None)?;
            let mut items = Vec::new();
            for item in page.items {
                let o_ns = text_of(&item, "/metadata/namespace");
                let o_name = text_of(&item, "/metadata/name");
                items.push(store.delete(&def, &o_ns, &o_name, &Value::Null, &ctx)?);
            }
            drop(store);
            shared.notify();
            json!({"kind": format!("{}List", def.kind), "apiVersion": def.api_version(), "metadata": {}, "items": items})
        }
        _ => {
            return Err(ApiError::new(
                405,
                "MethodNotAllowed",
                format!("{} is not allowed here", req.method),
            ));
        }
    };
    ok(result)
}

/// The `PartialObjectMetadata` form metadata-only clients (kube's `metadata_watcher`) ask for.
fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_default(),
    })
}

fn text_of(v: &Value, pointer: &str) -> String {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// A patch (merge, JSON, strategic or apply) naming another uid: metadata.uid is immutable, so
/// the API server refuses it as invalid (a PUT gets a 409 precondition failure instead).
pub(super) fn uid_is_immutable(def: &ResourceDef, name: &str, wanted: &str) -> ApiError {
    ApiError::invalid(
        &def.group_resource(),
        name,
        vec![(
            "metadata.uid".to_string(),
            "FieldValueInvalid",
            format!("Invalid value: {wanted:?}: field is immutable"),
        )],
    )
}

enum Patched {
    Created(Value),
    Updated(Value),
}

#[allow(clippy::too_many_arguments)]
fn patch_request(
    shared: &Arc<Shared>,
    req: &Req,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    scale: bool,
    part: Part,
    ctx: &WriteCtx,
) -> Result<Patched, ApiError> {
    let media = req.content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if media == "application/apply-patch+yaml" {
        if req.param("fieldManager").is_none() {
            return Err(ApiError::new(
                422,
                "Invalid",
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            ));
        }
        let config = parse_apply_body(&req.body)?;
        let force = req.param("force") == Some("true");
        let mut store = shared.store();
        if scale {
            let current = Store::scale_of(def, &store.get(def, ns, name)?)?;
            let mut merged = current;
            patch::merge_patch(&mut merged, &config);
            return store.set_scale(def, ns, name, &merged, ctx).map(Patched::Updated);
        }
        let existed = store.get(def, ns, name).is_ok();
        let out = store.apply(def, ns, name, config, part, force, ctx)?;
        return Ok(if existed { Patched::Updated(out) } else { Patched::Created(out) });
    }
    let patch_body = req.json_body()?;
    let mut store = shared.store();
    let current = store.get(def, ns, name)?;
    let uid = text_of(&current, "/metadata/uid");
    let mut target = if scale { Store::scale_of(def, &current)? } else { current };
    match media.as_str() {
        "application/json-patch+json" => patch::json_patch(&mut target, &patch_body)?,
        "application/merge-patch+json" => patch::merge_patch(&mut target, &patch_body),
        "application/strategic-merge-patch+json" if def.special == Special::Custom => {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: \
                 application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            ));
        }
        "application/strategic-merge-patch+json" => patch::strategic_merge(&mut target, &patch_body),
        other => {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!("unsupported patch type {other:?}"),
            ));
        }
    }
    let out = if scale {
        store.set_scale(def, ns, name, &target, ctx)?
    } else {
        let wanted = text_of(&target, "/metadata/uid");
        if part == Part::Main && wanted != uid {
            return Err(uid_is_immutable(def, name, &wanted));
        }
        store.update(def, ns, name, target, part, ctx)?
    };
    Ok(Patched::Updated(out))
}

/// An apply body is YAML (JSON is YAML too); one document.
fn parse_apply_body(body: &[u8]) -> Result<Value, ApiError> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Ok(v);
    }
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("the apply body is not UTF-8"))?;
    let docs = gscale_manifest::yaml::parse_documents(text)
        .map_err(|e| ApiError::bad_request(format!("the apply body is not valid YAML: {e}")))?;
    match docs.len() {
        1 => Ok(docs.into_iter().next().map(|d| d.value).unwrap_or_default()),
        n => Err(ApiError::bad_request(format!("the apply body must hold one document, not {n}"))),
    }
}

/// After a successful write: wake watches, and let workload replicas follow spec after the delay.
fn after_write(shared: &Arc<Shared>, def: &ResourceDef, ns: &str, name: &str, dry_run: bool) {
    if dry_run {
        return;
    }
    shared.notify();
    if def.special != Special::Workload {
        return;
    }
    let delay = *lock(&shared.replica_delay);
    let (shared, storage, ns, name) = (shared.clone(), def.storage.clone(), ns.to_string(), name.to_string());
    tokio::spawn(async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let changed = shared.store().follow_replicas(&storage, &ns, &name, Timestamp::now());
        if changed {
            shared.notify();
        }
    });
}
