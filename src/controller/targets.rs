//! Scale targets: their replica counts from one watch per kind in use (never a GET per interval),
//! and scaling through the `/scale` subresource, so any scalable kind works.
//!
//! Only what a decision needs is kept per target (its replicas), not the whole object: a cluster of
//! 10,000 Deployments costs a few hundred kilobytes here, not their full manifests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::watch;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

use super::calls;
use super::tasks::Tasks;
use crate::api::TargetRef;

/// Why a target's replicas cannot be read or set.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The kind is not served by the cluster, or has no /scale subresource.
    #[error("{kind} ({api_version}) is not a scalable kind in this cluster: {reason}")]
    UnknownKind {
        /// The kind.
        kind: String,
        /// Its API version.
        api_version: String,
        /// What discovery said.
        reason: String,
    },
    /// No object of that name.
    #[error("{kind}/{name} not found in namespace {namespace}")]
    NotFound {
        /// The kind.
        kind: String,
        /// The name.
        name: String,
        /// The namespace.
        namespace: String,
    },
    /// The watch of this kind has not delivered its first list yet.
    #[error("the watch of {0} has not synced yet")]
    NotSynced(String),
    /// The API refused or failed.
    #[error("the API failed on {what}")]
    Api {
        /// What was attempted.
        what: String,
        /// The error.
        #[source]
        source: kube::Error,
    },
}

impl TargetError {
    /// Whether a failed write may still have been applied (see [`super::calls::outcome_unknown`]).
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, Self::Api { source, .. } if super::calls::outcome_unknown(source))
    }
}

/// A target's replica counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replicas {
    /// `spec.replicas`.
    pub replicas: i32,
    /// `status.readyReplicas`, when the kind reports it.
    pub ready: Option<i32>,
}

/// One watched kind: replicas by (namespace, name), and whether the first list arrived.
struct Watched {
    resource: ApiResource,
    /// Where the kind keeps its replica count, as a JSON pointer (`/spec/replicas` but for custom
    /// kinds whose /scale maps another field).
    replicas_path: String,
    replicas: RwLock<HashMap<(String, String), Replicas>>,
    synced: watch::Receiver<bool>,
}

/// Replica counts of every target kind in use, kept current by watches.
#[derive(Clone)]
pub struct Targets {
    client: kube::Client,
    kinds: Arc<Mutex<HashMap<GroupVersionKind, Arc<Watched>>>>,
    /// Namespace the watches are limited to, when the daemon is.
    namespace: Option<String>,
    /// Where the watches run: owned by the daemon, ended at shutdown.
    tasks: Tasks,
    /// One discovery at a time: the first reconciles of thousands of scalers of one kind ask once.
    discovering: Arc<tokio::sync::Mutex<()>>,
    /// Kinds discovery did not find, and until when that answer stands.
    unknown: Arc<Mutex<HashMap<GroupVersionKind, (tokio::time::Instant, String)>>>,
}

/// How long a kind that discovery did not find is taken as unknown before asking again.
const UNKNOWN_KIND_FOR: Duration = Duration::from_secs(60);

impl Targets {
    /// Targets seen through `client`; watches start lazily, one per kind in use.
    pub fn new(client: kube::Client, namespace: Option<String>, tasks: Tasks) -> Self {
        Self {
            client,
            kinds: Arc::default(),
            namespace,
            tasks,
            discovering: Arc::default(),
            unknown: Arc::default(),
        }
    }

    /// The target's replicas as last seen by the watch of its kind.
    pub async fn replicas(&self, namespace: &str, target: &TargetRef) -> Result<Replicas, TargetError> {
        let watched = self.watched(target).await?;
        let mut synced = watched.synced.clone();
        if !*synced.borrow() {
            let wait = synced.wait_for(|s| *s);
            if tokio::time::timeout(Duration::from_secs(30), wait).await.is_err() {
                return Err(TargetError::NotSynced(target.kind.clone()));
            }
        }
        let key = (namespace.to_string(), target.name.clone());
        let replicas =
            watched.replicas.read().expect("a poisoned lock means a panic elsewhere").get(&key).copied();
        replicas.ok_or_else(|| TargetError::NotFound {
            kind: target.kind.clone(),
            name: target.name.clone(),
            namespace: namespace.to_string(),
        })
    }

    /// Set the target's replicas through /scale, within `budget`; the local view follows at once so
    /// the next reconcile does not act on a stale count before the watch event arrives.
    pub async fn scale(
        &self,
        namespace: &str,
        target: &TargetRef,
        replicas: i32,
        budget: Duration,
    ) -> Result<(), TargetError> {
        let watched = self.watched(target).await?;
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, &watched.resource);
        let patch = serde_json::json!({"spec": {"replicas": replicas}});
        let what = || format!("PATCH {}/{}/scale", target.kind, target.name);
        let (params, merge) = (PatchParams::default(), Patch::Merge(&patch));
        let call = api.patch_scale(&target.name, &params, &merge);
        calls::within(budget, what, call)
            .await
            .map_err(|source| api_error(namespace, target, "PATCH", source))?;
        remember(&watched, namespace, target, replicas);
        Ok(())
    }

    /// The target's replicas as the API server holds them now (a GET of /scale, within `budget`): what
    /// a scale whose reply was lost did. The local view follows.
    pub async fn read_back(
        &self,
        namespace: &str,
        target: &TargetRef,
        budget: Duration,
    ) -> Result<i32, TargetError> {
        let watched = self.watched(target).await?;
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, &watched.resource);
        let what = || format!("GET {}/{}/scale", target.kind, target.name);
        let scale = calls::within(budget, what, api.get_scale(&target.name))
            .await
            .map_err(|source| api_error(namespace, target, "GET", source))?;
        let replicas = scale.spec.and_then(|spec| spec.replicas).unwrap_or(0);
        remember(&watched, namespace, target, replicas);
        Ok(replicas)
    }

    /// Know `target`'s kind without discovery or a watch, with these replicas: for unit tests
    /// whose mock API server answers only the requests under test.
    #[cfg(test)]
    pub fn seed(&self, namespace: &str, target: &TargetRef, replicas: Replicas) {
        let gvk = gvk_of(target);
        let plural = format!("{}s", target.kind.to_ascii_lowercase());
        let (_, synced) = watch::channel(true);
        let watched = Watched {
            resource: ApiResource::from_gvk_with_plural(&gvk, &plural),
            replicas_path: "/spec/replicas".to_string(),
            replicas: RwLock::new(HashMap::from([((namespace.to_string(), target.name.clone()), replicas)])),
            synced,
        };
        self.kinds.lock().expect("a poisoned lock means a panic elsewhere").insert(gvk, Arc::new(watched));
    }

    async fn watched(&self, target: &TargetRef) -> Result<Arc<Watched>, TargetError> {
        let gvk = gvk_of(target);
        if let Some(w) = self.kinds.lock().expect("a poisoned lock means a panic elsewhere").get(&gvk) {
            return Ok(w.clone());
        }
        let _one_at_a_time = self.discovering.lock().await;
        if let Some(w) = self.kinds.lock().expect("a poisoned lock means a panic elsewhere").get(&gvk) {
            return Ok(w.clone());
        }
        let unknown = |reason: String| TargetError::UnknownKind {
            kind: gvk.kind.clone(),
            api_version: gvk.api_version(),
            reason,
        };
        let known_unknown =
            self.unknown.lock().expect("a poisoned lock means a panic elsewhere").get(&gvk).cloned();
        if let Some((until, reason)) = known_unknown
            && tokio::time::Instant::now() < until
        {
            return Err(unknown(reason));
        }
        let (resource, caps) = match discover(&self.client, &gvk).await {
            Ok(found) => found,
            Err(TargetError::UnknownKind { reason, .. }) => {
                let until = tokio::time::Instant::now() + UNKNOWN_KIND_FOR;
                let mut unknowns = self.unknown.lock().expect("a poisoned lock means a panic elsewhere");
                unknowns.insert(gvk.clone(), (until, reason.clone()));
                return Err(unknown(reason));
            }
            Err(e) => return Err(e),
        };
        let replicas_path = replicas_path(&self.client, &resource).await;
        let mut kinds = self.kinds.lock().expect("a poisoned lock means a panic elsewhere");
        if let Some(w) = kinds.get(&gvk) {
            return Ok(w.clone());
        }
        let (tx, rx) = watch::channel(false);
        let watched = Arc::new(Watched {
            resource: resource.clone(),
            replicas_path,
            replicas: RwLock::default(),
            synced: rx,
        });
        let api: Api<DynamicObject> = match (&self.namespace, caps.scope) {
            (Some(ns), Scope::Namespaced) => Api::namespaced_with(self.client.clone(), ns, &resource),
            _ => Api::all_with(self.client.clone(), &resource),
        };
        self.tasks.spawn(follow(api, watched.clone(), tx));
        kinds.insert(gvk, watched.clone());
        Ok(watched)
    }
}

/// A failed /scale call as a target error: not found, or the API's failure on `method`.
fn api_error(namespace: &str, target: &TargetRef, method: &str, source: kube::Error) -> TargetError {
    match &source {
        kube::Error::Api(s) if s.code == 404 => TargetError::NotFound {
            kind: target.kind.clone(),
            name: target.name.clone(),
            namespace: namespace.to_string(),
        },
        _ => TargetError::Api { what: format!("{method} {}/{}/scale", target.kind, target.name), source },
    }
}

/// What /scale now holds, in the local view, before the watch brings it.
fn remember(watched: &Watched, namespace: &str, target: &TargetRef, replicas: i32) {
    let mut map = watched.replicas.write().expect("a poisoned lock means a panic elsewhere");
    let entry =
        map.entry((namespace.to_string(), target.name.clone())).or_insert(Replicas { replicas, ready: None });
    entry.replicas = replicas;
}

fn gvk_of(target: &TargetRef) -> GroupVersionKind {
    let (group, version) = target.api_version.split_once('/').unwrap_or(("", target.api_version.as_str()));
    GroupVersionKind::gvk(group, version, &target.kind)
}

async fn discover(
    client: &kube::Client,
    gvk: &GroupVersionKind,
) -> Result<(ApiResource, ApiCapabilities), TargetError> {
    let unknown = |reason: String| TargetError::UnknownKind {
        kind: gvk.kind.clone(),
        api_version: gvk.api_version(),
        reason,
    };
    let (resource, caps) = kube::discovery::pinned_kind(client, gvk).await.map_err(|e| match e {
        // The server answered and does not serve the kind: an answer worth remembering.
        kube::Error::Api(s) if s.code == 404 => unknown(s.message.clone()),
        kube::Error::Discovery(_) => unknown(crate::explain::chain(&e)),
        // The server could not be asked: try again at the next reconcile.
        source => TargetError::Api { what: format!("discovery of {}", gvk.api_version()), source },
    })?;
    if !caps.subresources.iter().any(|(sub, _)| sub.plural == "scale") {
        return Err(unknown("it has no /scale subresource".to_string()));
    }
    Ok((resource, caps))
}

/// Where a kind keeps the count its /scale reads: `spec.replicas` for the built-in workloads, and
/// for a custom kind its CRD's `scale.specReplicasPath` (a CRD may map `.spec.size` or
/// `.spec.members`). The CRD is read once per kind; when it cannot be (no RBAC to read CRDs),
/// `spec.replicas` is assumed, with a warning naming the permission.
async fn replicas_path(client: &kube::Client, resource: &ApiResource) -> String {
    const DEFAULT: &str = "/spec/replicas";
    if matches!(resource.group.as_str(), "" | "apps") {
        return DEFAULT.to_string();
    }
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = format!("{}.{}", resource.plural, resource.group);
    let path = match crds.get(&name).await {
        Ok(crd) => crd
            .spec
            .versions
            .iter()
            .find(|v| v.name == resource.version)
            .and_then(|v| v.subresources.as_ref()?.scale.as_ref())
            .map(|scale| scale.spec_replicas_path.clone()),
        Err(e) => {
            tracing::warn!(crd = %name, error = %crate::explain::chain(&e), "cannot read the target kind's CRD (allow get on customresourcedefinitions to fix); assuming its /scale reads spec.replicas");
            None
        }
    };
    path.map_or_else(|| DEFAULT.to_string(), |p| pointer_of(&p))
}

/// `.spec.size` (a CRD's JSON path) as the JSON pointer `/spec/size`.
fn pointer_of(json_path: &str) -> String {
    json_path.trim_start_matches('.').split('.').fold(String::new(), |mut pointer, part| {
        pointer.push('/');
        pointer.push_str(part);
        pointer
    })
}

/// Keep `watched` in step with the watch of its kind, forever; the watcher retries with backoff.
async fn follow(api: Api<DynamicObject>, watched: Arc<Watched>, synced: watch::Sender<bool>) {
    let mut pending: HashMap<(String, String), Replicas> = HashMap::new();
    let mut events =
        watcher::watcher(api, watcher::Config::default().any_semantic()).default_backoff().boxed();
    let kind = &watched.resource.kind;
    let mut failing = WatchFailures::default();
    while let Some(event) = events.next().await {
        // The watcher resumes by itself (with backoff); the map keeps its last known state meanwhile.
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                failing.failed(kind, &e, tokio::time::Instant::now());
                continue;
            }
        };
        failing.resumed(kind);
        let map = || watched.replicas.write().expect("a poisoned lock means a panic elsewhere");
        match event {
            Event::Apply(obj) => {
                map().insert(key_of(&obj), replicas_of(&obj, &watched.replicas_path));
            }
            Event::Delete(obj) => {
                map().remove(&key_of(&obj));
            }
            Event::Init => pending.clear(),
            Event::InitApply(obj) => {
                pending.insert(key_of(&obj), replicas_of(&obj, &watched.replicas_path));
            }
            Event::InitDone => {
                *map() = std::mem::take(&mut pending);
                synced.send_replace(true);
            }
        }
    }
}

/// A target watch's errors in the log: the first at once, then at most one line a minute while
/// they go on (with how many there were), and one line when the watch works again.
#[derive(Default)]
struct WatchFailures {
    /// Errors since the last line logged, and when that line was.
    since_logged: Option<(u32, tokio::time::Instant)>,
}

impl WatchFailures {
    const EVERY: Duration = Duration::from_secs(60);

    fn failed(&mut self, kind: &str, error: &watcher::Error, now: tokio::time::Instant) {
        match &mut self.since_logged {
            Some((count, at)) if now.duration_since(*at) < Self::EVERY => *count += 1,
            Some((count, at)) => {
                tracing::warn!(%kind, errors = *count + 1, error = %crate::explain::chain(error), "target watch still failing; retrying with backoff");
                (*count, *at) = (0, now);
            }
            None => {
                tracing::warn!(%kind, error = %crate::explain::chain(error), "target watch failed; retrying with backoff (replicas read from the last known state meanwhile)");
                self.since_logged = Some((0, now));
            }
        }
    }

    fn resumed(&mut self, kind: &str) {
        if self.since_logged.take().is_some() {
            tracing::info!(%kind, "target watch resumed");
        }
    }
}

fn key_of(obj: &DynamicObject) -> (String, String) {
    (obj.metadata.namespace.clone().unwrap_or_default(), obj.metadata.name.clone().unwrap_or_default())
}

/// The count at `replicas_path` (Kubernetes defaults `spec.replicas` to 1 for the workload kinds)
/// and `status.readyReplicas` (omitted when 0, so a status with `replicas` and no `readyReplicas`
/// is 0).
fn replicas_of(obj: &DynamicObject, replicas_path: &str) -> Replicas {
    let int = |path: &str| {
        obj.data.pointer(path).and_then(serde_json::Value::as_i64).and_then(|r| i32::try_from(r).ok())
    };
    let ready = int("/status/readyReplicas").or_else(|| int("/status/replicas").map(|_| 0));
    Replicas { replicas: int(replicas_path).unwrap_or(1), ready }
}

#[cfg(test)]
mod tests {
    use http::{Request, Response};
    use kube::client::Body;

    use super::*;

    fn target(kind: &str) -> TargetRef {
        serde_json::from_value(serde_json::json!({"apiVersion": "example.com/v1", "kind": kind, "name": "x"}))
            .unwrap()
    }

    #[tokio::test]
    async fn an_unknown_kind_is_discovered_once_for_many_scalers_and_remembered() {
        let (service, mut api) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let (tasks, _stop) = Tasks::new();
        let targets = Targets::new(kube::Client::new(service, "default"), None, tasks);
        let server = tokio::spawn(async move {
            let (request, reply) = api.next_request().await.expect("one discovery");
            assert_eq!(request.uri().path(), "/apis/example.com/v1");
            let status = serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "code": 404, "reason": "NotFound", "message": "the server could not find the requested resource"});
            reply.send_response(
                Response::builder().status(404).body(Body::from(status.to_string().into_bytes())).unwrap(),
            );
            assert!(api.next_request().await.is_none(), "asked again");
        });
        let widget = target("Widget");
        let asks = (0..50).map(|_| targets.replicas("ns", &widget));
        for result in futures::future::join_all(asks).await {
            assert!(matches!(result, Err(TargetError::UnknownKind { .. })), "{result:?}");
        }
        assert!(matches!(targets.replicas("ns", &widget).await, Err(TargetError::UnknownKind { .. })));
        drop(targets);
        server.await.unwrap();
    }
}
