//! The HTTP side: accepting connections on 127.0.0.1, parsing Kubernetes API paths and query
//! parameters, applying fault rules, dispatching to the store, streaming watches, and logging.
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
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::discovery;
use super::faults::{FaultAction, Faults, RequestLog, RequestRecord};
use super::patch;
use super::protobuf;
use super::registry::{ResourceDef, Special};
use super::select::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{Change, Part, Store, WriteCtx};
use super::table;

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

    fn notify(&self) {
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

/// A parsed request path.
#[derive(Debug, Clone, PartialEq)]
enum Route {
    Root,
    Health,
    Version,
    Api,
    Apis,
    Group(String),
    Resources { group: String, version: String },
    OpenApiIndex,
    OpenApiDoc { group: String, version: String },
    OpenApiV2,
    Object(Target),
}

/// A resource path: `/apis/g/v/namespaces/ns/plural/name/sub`.
#[derive(Debug, Clone, PartialEq, Default)]
struct Target {
    group: String,
    version: String,
    namespace: Option<String>,
    plural: String,
    name: Option<String>,
    sub: Option<String>,
    watch_prefix: bool,
}

fn parse_route(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let route = match segs.as_slice() {
        [] => Route::Root,
        ["healthz" | "readyz" | "livez", ..] => Route::Health,
        ["version"] => Route::Version,
        ["api"] => Route::Api,
        ["api", v] => Route::Resources { group: String::new(), version: v.to_string() },
        ["api", v, rest @ ..] => Route::Object(target("", v, rest)?),
        ["apis"] => Route::Apis,
        ["apis", g] => Route::Group(g.to_string()),
        ["apis", g, v] => Route::Resources { group: g.to_string(), version: v.to_string() },
        ["apis", g, v, rest @ ..] => Route::Object(target(g, v, rest)?),
        ["openapi", "v3"] => Route::OpenApiIndex,
        ["openapi", "v3", "api", v] => Route::OpenApiDoc { group: String::new(), version: v.to_string() },
        ["openapi", "v3", "apis", g, v] => Route::OpenApiDoc { group: g.to_string(), version: v.to_string() },
        ["openapi", "v2"] | ["swagger.json"] => Route::OpenApiV2,
        _ => return None,
    };
    Some(route)
}

fn target(group: &str, version: &str, rest: &[&str]) -> Option<Target> {
    let mut t = Target { group: group.to_string(), version: version.to_string(), ..Target::default() };
    let mut rest = rest;
    if rest.first() == Some(&"watch") {
        t.watch_prefix = true;
        rest = &rest[1..];
    }
    let core = group.is_empty();
    let own = |s: &str| Some(s.to_string());
    match rest {
        ["namespaces", ns, sub @ ("status" | "finalize")] if core => {
            t.plural = "namespaces".to_string();
            t.name = own(ns);
            t.sub = own(sub);
        }
        ["namespaces", ns, plural, tail @ ..] if tail.len() <= 2 => {
            t.namespace = own(ns);
            t.plural = plural.to_string();
            t.name = tail.first().map(|s| s.to_string());
            t.sub = tail.get(1).map(|s| s.to_string());
        }
        [plural, tail @ ..] if tail.len() <= 2 => {
            t.plural = plural.to_string();
            t.name = tail.first().map(|s| s.to_string());
            t.sub = tail.get(1).map(|s| s.to_string());
        }
        _ => return None,
    }
    Some(t)
}

/// The query string's parameters, decoded as a form (`+` is a space), the last of a repeated name kept.
fn parse_query(query: &str) -> HashMap<String, String> {
    form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn verb_of(method: &Method, route: &Option<Route>, query: &HashMap<String, String>) -> String {
    let Some(Route::Object(t)) = route else { return method.as_str().to_ascii_lowercase() };
    let watch = t.watch_prefix || matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    match *method {
        Method::GET if watch => "watch",
        Method::GET if t.name.is_none() => "list",
        Method::GET => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if t.name.is_none() => "deletecollection",
        Method::DELETE => "delete",
        _ => "unknown",
    }
    .to_string()
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

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
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
    let response = match (denied, fault) {
        (Some(err), _) => Err(err),
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
    shared.log.push(record);
    Ok(response)
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
    if req.method != Method::GET && !matches!(route, Route::Object(_)) {
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
        Route::OpenApiV2 => Err(ApiError::no_route("/openapi/v2 is not served; use /openapi/v3")),
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
            if table {
                let v = table::table(&def, &page.items, &rv, true, req.at);
                return Ok(json_response(200, &v, "application/json;as=Table;v=v1;g=meta.k8s.io"));
            }
            let mut meta = json!({"resourceVersion": rv});
            if let Some(next) = page.next {
                meta["continue"] = json!(next);
                meta["remainingItemCount"] = json!(page.remaining);
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

struct WatchFilter {
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

fn start_watch(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_into_routes() {
        let t = |p: &str| match parse_route(p) {
            Some(Route::Object(t)) => t,
            other => panic!("{p}: {other:?}"),
        };
        let d = t("/apis/apps/v1/namespaces/a/deployments/web/scale");
        assert_eq!(
            (d.namespace.as_deref(), d.plural.as_str(), d.name.as_deref(), d.sub.as_deref()),
            (Some("a"), "deployments", Some("web"), Some("scale"))
        );
        let n = t("/api/v1/namespaces/a");
        assert_eq!((n.namespace, n.plural.as_str(), n.name.as_deref()), (None, "namespaces", Some("a")));
        let s = t("/api/v1/namespaces/a/status");
        assert_eq!((s.plural.as_str(), s.sub.as_deref()), ("namespaces", Some("status")));
        let w = t("/api/v1/watch/namespaces/a/events");
        assert!(w.watch_prefix);
        assert_eq!(parse_route("/apis/x/v1/a/b/c/d/e"), None);
    }

    #[test]
    fn queries_are_percent_decoded() {
        let q = parse_query("labelSelector=app%3Dweb%2Ctier+in+%28a%29&limit=5&x");
        assert_eq!(q["labelSelector"], "app=web,tier in (a)");
        assert_eq!(q["limit"], "5");
        assert_eq!(q["x"], "");
        assert_eq!(parse_query("fieldSelector=a%3D")["fieldSelector"], "a=", "an escape at the very end");
    }
}
