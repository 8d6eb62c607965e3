//! The sandbox API against the real kube client: CRUD, conflicts, /scale, status separation,
//! generation, watches (resume, 410 Gone, bookmarks), server-side apply, Events, faults and the
//! request log.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use gscale_sandbox::{FaultMatch, RequestRecord, Sandbox, SandboxOptions};
use jiff::SignedDuration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event as CoreEvent, Namespace, Secret};
use k8s_openapi::api::events::v1::Event as EventV1;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
    PostParams, WatchEvent, WatchParams,
};
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};

/// Long enough for anything on a loaded machine; conditions are awaited, never slept for.
const DEADLINE: Duration = Duration::from_secs(20);

async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxOptions::default()).await.expect("the sandbox starts")
}

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "nginx"}]}},
        },
    }))
    .unwrap()
}

fn code(err: kube::Error) -> u16 {
    match err {
        kube::Error::Api(status) => status.code,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn install_crd(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &gscale::api::crd()).await.unwrap();
    let established = await_condition(crds, gscale::api::CRD_NAME, conditions::is_crd_established());
    tokio::time::timeout(DEADLINE, established).await.unwrap().unwrap();
}

fn scalers(client: &Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(gscale::api::GROUP, gscale::api::VERSION, gscale::api::KIND);
    Api::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::from_gvk_with_plural(&gvk, "generalscalers"),
    )
}

fn scaler(name: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": gscale::api::API_VERSION,
        "kind": gscale::api::KIND,
        "metadata": {"name": name},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 5,
            "metric": {"type": "http", "targetValue": 10, "http": {"url": "http://127.0.0.1:9/m", "valuePath": "$.v"}},
        },
    }))
    .unwrap()
}

#[tokio::test]
async fn crud_conflicts_and_not_found_are_faithful() {
    let sb = sandbox().await;
    // No status write may move resourceVersion between our read and our replace.
    sb.set_replica_delay(Duration::from_secs(600));
    let api: Api<Deployment> = Api::default_namespaced(sb.client());
    let created = api.create(&PostParams::default(), &deployment("web", 2)).await.unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.is_some() && meta.creation_timestamp.is_some());
    assert_eq!(meta.generation, Some(1));
    assert_eq!(code(api.create(&PostParams::default(), &deployment("web", 2)).await.unwrap_err()), 409);

    let mut stale = created.clone();
    let mut fresh = api.get("web").await.unwrap();
    fresh.spec.replicas = Some(4);
    let replaced = api.replace("web", &PostParams::default(), &fresh).await.unwrap();
    assert_eq!(replaced.metadata.generation, Some(2), "a spec change bumps generation");
    stale.spec.replicas = Some(5);
    let err = api.replace("web", &PostParams::default(), &stale).await.unwrap_err();
    let kube::Error::Api(status) = err else { panic!("expected a Status") };
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));

    // A uid in the body guards against writing to another object of the same name, as the API
    // server does: a PUT fails its precondition (409), a patch changes an immutable field (422).
    let mut other = api.get("web").await.unwrap();
    other.metadata.uid = Some("not-this-one".into());
    let kube::Error::Api(status) = api.replace("web", &PostParams::default(), &other).await.unwrap_err()
    else {
        panic!("expected a Status")
    };
    assert_eq!(status.code, 409);
    assert!(status.message.contains("UID in precondition: not-this-one"), "{}", status.message);
    let patch = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "uid": "not-this-one"}, "spec": {"replicas": 6}});
    for p in [kube::api::Patch::Merge(&patch), kube::api::Patch::Apply(&patch)] {
        let params = kube::api::PatchParams::apply("test");
        let kube::Error::Api(status) = api.patch("web", &params, &p).await.unwrap_err() else {
            panic!("expected a Status")
        };
        assert_eq!(status.code, 422);
        assert!(
            status.message.contains("metadata.uid: Invalid value: \"not-this-one\": field is immutable"),
            "{}",
            status.message
        );
    }
    // A status write keeps the stored metadata whatever its body says: no uid check there.
    let status =
        serde_json::json!({"metadata": {"uid": "not-this-one"}, "status": {"observedGeneration": 1}});
    api.patch_status("web", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(api.get("web").await.unwrap().metadata.uid, meta.uid);
    let patch = serde_json::json!({"metadata": {"uid": meta.uid}, "spec": {"replicas": 6}});
    api.patch("web", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();

    let listed = api.list(&ListParams::default().labels("app=web")).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(api.list(&ListParams::default().labels("app=other")).await.unwrap().items.is_empty());

    api.delete("web", &DeleteParams::default()).await.unwrap();
    let err = api.get("web").await.unwrap_err();
    let kube::Error::Api(status) = err else { panic!("expected a Status") };
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));

    let elsewhere: Api<Deployment> = Api::namespaced(sb.client(), "nowhere");
    assert_eq!(code(elsewhere.create(&PostParams::default(), &deployment("x", 1)).await.unwrap_err()), 404);
}

#[tokio::test]
async fn bad_requests_get_a_400_status_not_a_panic() {
    let sb = sandbox().await;
    let client = reqwest_free_post(&sb, "/apis/apps/v1/namespaces/default/deployments", "{not json").await;
    assert!(client.starts_with("HTTP/1.1 400"), "{client}");
    let weird = reqwest_free_post(&sb, "/apis/apps/v1/namespaces/default/deployments", "[1,2]").await;
    assert!(weird.starts_with("HTTP/1.1 400"), "{weird}");
    let unknown = reqwest_free_post(&sb, "/apis/nope/v1/things", "{}").await;
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
}

/// A raw HTTP/1.1 POST, to send bodies no client would.
async fn reqwest_free_post(sb: &Sandbox, path: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(sb.address()).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn scale_subresource_reads_and_writes_replicas_and_status_follows() {
    let sb = sandbox().await;
    sb.set_replica_delay(Duration::from_secs(1));
    let api: Api<Deployment> = Api::default_namespaced(sb.client());
    api.create(&PostParams::default(), &deployment("web", 2)).await.unwrap();

    let scale = api.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(2));
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=web"));

    let patched = api
        .patch_scale("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 3}})))
        .await
        .unwrap();
    assert_eq!(patched.spec.unwrap().replicas, Some(3));
    let now = api.get("web").await.unwrap();
    assert_eq!(now.spec.replicas, Some(3));
    assert_ne!(now.status.and_then(|s| s.replicas), Some(3), "status follows only after the delay");
    let followed = await_condition(api.clone(), "web", |d: Option<&Deployment>| {
        d.and_then(|d| d.status.as_ref())
            .is_some_and(|s| s.replicas == Some(3) && s.ready_replicas == Some(3))
    });
    tokio::time::timeout(DEADLINE, followed).await.unwrap().unwrap();

    let json_patch: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/spec/replicas", "value": 4}])).unwrap();
    let patched =
        api.patch_scale("web", &PatchParams::default(), &Patch::<()>::Json(json_patch)).await.unwrap();
    assert_eq!(patched.spec.unwrap().replicas, Some(4));
    // Status writes move resourceVersion too; let this one land before reading the Scale to PUT.
    let followed = await_condition(api.clone(), "web", |d: Option<&Deployment>| {
        d.and_then(|d| d.status.as_ref()).is_some_and(|s| s.replicas == Some(4))
    });
    tokio::time::timeout(DEADLINE, followed).await.unwrap().unwrap();
    sb.set_replica_delay(Duration::from_secs(600));

    let mut scale = api.get_scale("web").await.unwrap();
    scale.spec.as_mut().unwrap().replicas = Some(5);
    let stale = scale.clone();
    let replaced = api.replace_scale("web", &PostParams::default(), &scale).await.unwrap();
    assert_eq!(replaced.spec.unwrap().replicas, Some(5));
    let err = api.replace_scale("web", &PostParams::default(), &stale).await.unwrap_err();
    assert_eq!(code(err), 409, "a stale Scale resourceVersion conflicts");
}

#[tokio::test]
async fn custom_resources_keep_status_and_spec_apart_and_bump_generation_on_spec_only() {
    let sb = sandbox().await;
    let client = sb.client();
    install_crd(&client).await;
    let api = scalers(&client);
    let mut body = scaler("s1");
    body.data["status"] = json!({"desiredReplicas": 9});
    let created = api.create(&PostParams::default(), &body).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.data.get("status").is_none(), "create ignores status when /status exists");
    assert_eq!(created.data["spec"]["minReplicas"], json!(1), "schema defaults apply");

    let status = api
        .patch_status(
            "s1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"desiredReplicas": 3}, "spec": {"maxReplicas": 9}})),
        )
        .await
        .unwrap();
    assert_eq!(status.data["status"]["desiredReplicas"], json!(3));
    assert_eq!(status.data["spec"]["maxReplicas"], json!(5), "a status write leaves spec alone");
    assert_eq!(status.metadata.generation, Some(1), "a status write keeps generation");

    let main = api
        .patch(
            "s1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"desiredReplicas": 7}, "metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(main.data["status"]["desiredReplicas"], json!(3), "a main write leaves status alone");
    assert_eq!(main.metadata.generation, Some(1), "a metadata change keeps generation");

    let spec = api
        .patch("s1", &PatchParams::default(), &Patch::Merge(json!({"spec": {"maxReplicas": 8}})))
        .await
        .unwrap();
    assert_eq!(spec.metadata.generation, Some(2));
    let labelled = api.list(&ListParams::default().labels("a=b")).await.unwrap();
    assert_eq!(labelled.items.len(), 1);

    let invalid =
        api.patch("s1", &PatchParams::default(), &Patch::Merge(json!({"spec": {"minReplicas": 20}}))).await;
    let kube::Error::Api(status) = invalid.unwrap_err() else { panic!("expected a Status") };
    assert_eq!(
        (status.code, status.reason.as_str()),
        (422, "Invalid"),
        "CEL rule minReplicas <= maxReplicas"
    );
    assert!(status.message.contains("minReplicas"), "{}", status.message);

    let strict = PostParams::default();
    let mut unknown = scaler("s2");
    unknown.data["spec"]["bogus"] = json!(1);
    let pruned = api.create(&strict, &unknown).await.unwrap();
    assert!(pruned.data["spec"].get("bogus").is_none(), "unknown fields are pruned without Strict");
}

async fn next<K>(
    events: &mut futures::stream::BoxStream<'static, Result<watcher::Event<K>, watcher::Error>>,
) -> watcher::Event<K> {
    tokio::time::timeout(DEADLINE, events.try_next()).await.unwrap().unwrap().unwrap()
}

#[tokio::test]
async fn watcher_sees_adds_modifications_and_deletes() {
    let sb = sandbox().await;
    let api: Api<Deployment> = Api::default_namespaced(sb.client());
    let mut events = watcher(api.clone(), watcher::Config::default()).default_backoff().boxed();
    assert!(matches!(next(&mut events).await, watcher::Event::Init));
    assert!(matches!(next(&mut events).await, watcher::Event::InitDone));
    api.create(&PostParams::default(), &deployment("web", 1)).await.unwrap();
    let watcher::Event::Apply(added) = next(&mut events).await else { panic!("expected Apply") };
    assert_eq!(added.name_any(), "web");
    // The status controller's write arrives too; wait for the spec change.
    api.patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 2}}))).await.unwrap();
    loop {
        match next(&mut events).await {
            watcher::Event::Apply(d) if d.spec.replicas == Some(2) => break,
            watcher::Event::Apply(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
    api.delete("web", &DeleteParams::default()).await.unwrap();
    loop {
        match next(&mut events).await {
            watcher::Event::Delete(d) => {
                assert_eq!(d.name_any(), "web");
                break;
            }
            watcher::Event::Apply(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn watches_resume_from_a_version_and_get_410_when_it_is_too_old() {
    let sb = sandbox().await;
    let api: Api<Namespace> = Api::all(sb.client());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "team-a"}})).unwrap();
    let created = api.create(&PostParams::default(), &ns).await.unwrap();
    let from = created.resource_version().unwrap();
    api.patch("team-a", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"x": "1"}}})))
        .await
        .unwrap();

    let stream = api.watch(&WatchParams::default(), &from).await.unwrap();
    futures::pin_mut!(stream);
    let first = tokio::time::timeout(DEADLINE, stream.try_next()).await.unwrap().unwrap().unwrap();
    let WatchEvent::Modified(ns) = first else { panic!("expected MODIFIED, got {first:?}") };
    assert_eq!(ns.labels().get("x").map(String::as_str), Some("1"));

    sb.compact_history();
    let stream = api.watch(&WatchParams::default(), &from).await.unwrap();
    futures::pin_mut!(stream);
    let gone = tokio::time::timeout(DEADLINE, stream.try_next()).await.unwrap().unwrap().unwrap();
    let WatchEvent::Error(status) = gone else { panic!("expected ERROR, got {gone:?}") };
    assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
}

#[tokio::test]
async fn bookmarks_arrive_when_allowed() {
    let sb = Sandbox::start(SandboxOptions {
        bookmark_interval: Duration::from_millis(50),
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let api: Api<Deployment> = Api::default_namespaced(sb.client());
    let rv = sb.resource_version().to_string();
    let stream = api.watch(&WatchParams::default().timeout(10), &rv).await.unwrap();
    futures::pin_mut!(stream);
    let event = tokio::time::timeout(DEADLINE, stream.try_next()).await.unwrap().unwrap().unwrap();
    let WatchEvent::Bookmark(bookmark) = event else { panic!("expected BOOKMARK, got {event:?}") };
    assert_eq!(bookmark.metadata.resource_version, rv);
}

#[tokio::test]
async fn server_side_apply_creates_merges_owns_and_conflicts() {
    let sb = sandbox().await;
    let api: Api<Deployment> = Api::default_namespaced(sb.client());
    let mut config = serde_json::to_value(deployment("web", 2)).unwrap();
    config["metadata"]["labels"]["team"] = json!("a");
    let created = api.patch("web", &PatchParams::apply("tool-a"), &Patch::Apply(&config)).await.unwrap();
    assert_eq!(created.spec.replicas, Some(2));
    let managers: Vec<String> = created.managed_fields().iter().filter_map(|m| m.manager.clone()).collect();
    assert_eq!(managers, vec!["tool-a".to_string()]);

    config["spec"]["replicas"] = json!(3);
    config["metadata"]["labels"].as_object_mut().unwrap().remove("team");
    let updated = api.patch("web", &PatchParams::apply("tool-a"), &Patch::Apply(&config)).await.unwrap();
    assert_eq!(updated.spec.replicas, Some(3));
    assert!(!updated.labels().contains_key("team"), "a field the manager stops applying is removed");

    let other = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 7}});
    let err = api.patch("web", &PatchParams::apply("tool-b"), &Patch::Apply(&other)).await.unwrap_err();
    assert_eq!(code(err), 409, "another manager's field conflicts");
    let forced =
        api.patch("web", &PatchParams::apply("tool-b").force(), &Patch::Apply(&other)).await.unwrap();
    assert_eq!(forced.spec.replicas, Some(7));

    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    via: yaml\n";
    let req = http::Request::patch("/apis/apps/v1/namespaces/default/deployments/web?fieldManager=tool-c")
        .header("Content-Type", "application/apply-patch+yaml")
        .body(yaml.as_bytes().to_vec())
        .unwrap();
    let out: Deployment = sb.client().request(req).await.unwrap();
    assert_eq!(out.labels().get("via").map(String::as_str), Some("yaml"));
}

#[tokio::test]
async fn events_from_the_recorder_show_through_both_event_apis() {
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let sb = sandbox().await;
    let client = sb.client();
    let api: Api<Deployment> = Api::default_namespaced(client.clone());
    let web = api.create(&PostParams::default(), &deployment("web", 1)).await.unwrap();
    let recorder = Recorder::new(client.clone(), Reporter { controller: "gscale".into(), instance: None });
    let event = Event {
        type_: EventType::Normal,
        reason: "ScaledUp".into(),
        note: Some("1 -> 3".into()),
        action: "Scale".into(),
        secondary: None,
    };
    recorder.publish(&event, &web.object_ref(&())).await.unwrap();
    recorder.publish(&event, &web.object_ref(&())).await.unwrap();

    let v1: Api<EventV1> = Api::default_namespaced(client.clone());
    let listed = v1.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1, "a repeated event is one series");
    assert_eq!(listed.items[0].series.as_ref().map(|s| s.count), Some(2));

    let core: Api<CoreEvent> = Api::default_namespaced(client);
    let uid = web.uid().unwrap();
    let selector = format!(
        "involvedObject.name=web,involvedObject.namespace=default,involvedObject.kind=Deployment,involvedObject.uid={uid}"
    );
    let found = core.list(&ListParams::default().fields(&selector)).await.unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].message.as_deref(), Some("1 -> 3"));
    assert_eq!(found.items[0].reason.as_deref(), Some("ScaledUp"));
    let none = core.list(&ListParams::default().fields("involvedObject.name=other")).await.unwrap();
    assert!(none.items.is_empty());
}

#[tokio::test]
async fn secrets_fold_string_data_and_leases_store_as_given() {
    let sb = sandbox().await;
    let secrets: Api<Secret> = Api::default_namespaced(sb.client());
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}}))
            .unwrap();
    let created = secrets.create(&PostParams::default(), &secret).await.unwrap();
    assert_eq!(created.data.unwrap()["password"].0, b"hunter2".to_vec());
    assert!(created.string_data.is_none());

    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::default_namespaced(sb.client());
    let lease = serde_json::from_value(
        json!({"metadata": {"name": "gscale"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}),
    )
    .unwrap();
    let created = leases.create(&PostParams::default(), &lease).await.unwrap();
    let mut stale = created.clone();
    let mut taken = created.clone();
    taken.spec.as_mut().unwrap().holder_identity = Some("b".into());
    leases.replace("gscale", &PostParams::default(), &taken).await.unwrap();
    stale.spec.as_mut().unwrap().holder_identity = Some("c".into());
    assert_eq!(
        code(leases.replace("gscale", &PostParams::default(), &stale).await.unwrap_err()),
        409,
        "a lease race has one winner"
    );
}

#[tokio::test]
async fn faults_throttle_fail_delay_and_are_counted() {
    let sb = sandbox().await;
    let api: Api<Deployment> = Api::default_namespaced(sb.client());
    api.create(&PostParams::default(), &deployment("web", 1)).await.unwrap();
    let faults = sb.faults();

    sb.clear_requests();
    faults.throttle(FaultMatch::any().verb("get").path("/deployments/web").times(1), 1);
    api.get("web").await.expect("kube retries a 429 after Retry-After");
    let gets: Vec<RequestRecord> = sb.requests().into_iter().filter(|r| r.verb == "get").collect();
    assert_eq!(gets.iter().map(|r| r.status).collect::<Vec<_>>(), vec![429, 200]);
    // By the sandbox's own clock: the retry came after the Retry-After the 429 asked for.
    assert!(
        gets[1].at >= gets[0].answered + SignedDuration::from_secs(1),
        "Retry-After was honoured: {gets:?}"
    );

    let id = faults.error(FaultMatch::any().verb("patch").path("/scale"), 500);
    let err = api
        .patch_scale("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 2}})))
        .await
        .unwrap_err();
    assert_eq!(code(err), 500);
    faults.remove(id);
    api.patch_scale("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 2}})))
        .await
        .unwrap();

    faults.latency(FaultMatch::any().verb("list"), Duration::from_millis(300));
    sb.clear_requests();
    api.list(&ListParams::default()).await.unwrap();
    let list = sb.requests().pop().expect("the list is logged");
    assert!(
        list.answered >= list.at + SignedDuration::from_millis(300),
        "the answer was held back: {list:?}"
    );
    faults.clear();

    sb.clear_requests();
    for _ in 0..3 {
        api.get("web").await.unwrap();
    }
    api.list(&ListParams::default()).await.unwrap();
    assert_eq!(sb.count_requests(|r| r.verb == "get" && r.resource == "deployments"), 3);
    assert_eq!(sb.count_requests(|r| r.verb == "list"), 1);
    let record = &sb.requests()[0];
    assert_eq!(
        (record.method.as_str(), record.path.as_str()),
        ("GET", "/apis/apps/v1/namespaces/default/deployments/web")
    );
}

#[tokio::test]
async fn a_watcher_recovers_from_dropped_watches() {
    let sb = sandbox().await;
    let api: Api<Deployment> = Api::default_namespaced(sb.client());
    let mut names =
        watcher(api.clone(), watcher::Config::default()).default_backoff().applied_objects().boxed();
    api.create(&PostParams::default(), &deployment("one", 1)).await.unwrap();
    let first = tokio::time::timeout(DEADLINE, names.try_next()).await.unwrap().unwrap().unwrap();
    assert_eq!(first.name_any(), "one");
    let watches_before = sb.count_requests(|r| r.verb == "watch");
    sb.faults().drop_watches();
    api.create(&PostParams::default(), &deployment("two", 1)).await.unwrap();
    let seen = async {
        while let Some(d) = names.try_next().await.unwrap() {
            if d.name_any() == "two" {
                return;
            }
        }
    };
    tokio::time::timeout(DEADLINE, seen).await.expect("the watcher sees objects after the drop");
    assert!(sb.count_requests(|r| r.verb == "watch") > watches_before, "the watch was re-established");
}

#[tokio::test]
async fn discovery_and_status_objects_match_what_clients_expect() {
    let sb = sandbox().await;
    let client = sb.client();
    install_crd(&client).await;
    let discovery = kube::discovery::Discovery::new(client.clone()).run().await.unwrap();
    let (resource, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk(gscale::api::GROUP, gscale::api::VERSION, gscale::api::KIND))
        .expect("the CRD's kind is discoverable");
    assert_eq!(resource.plural, "generalscalers");
    assert!(
        caps.subresources.iter().any(|(r, _)| r.plural == "generalscalers/status" || r.plural == "status")
    );
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.major, "1");

    let raw: Value =
        client.request(http::Request::get("/openapi/v3").body(Vec::new()).unwrap()).await.unwrap();
    let url = raw["paths"]["apis/autoscaling.generalscaler.io/v1alpha1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let doc: Value = client.request(http::Request::get(url).body(Vec::new()).unwrap()).await.unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(schemas.values().any(|s| s["x-kubernetes-group-version-kind"][0]["kind"] == "GeneralScaler"));
}

#[tokio::test]
async fn a_streaming_list_watcher_gets_its_initial_events_and_then_changes() {
    let sb = sandbox().await;
    let api: Api<Deployment> = Api::default_namespaced(sb.client());
    api.create(&PostParams::default(), &deployment("before", 1)).await.unwrap();
    let mut events = watcher(api.clone(), watcher::Config::default().streaming_lists()).boxed();
    assert!(matches!(next(&mut events).await, watcher::Event::Init));
    let watcher::Event::InitApply(first) = next(&mut events).await else { panic!("expected InitApply") };
    assert_eq!(first.name_any(), "before");
    assert!(matches!(next(&mut events).await, watcher::Event::InitDone), "the initial-events-end bookmark");
    api.create(&PostParams::default(), &deployment("after", 1)).await.unwrap();
    loop {
        if let watcher::Event::Apply(d) = next(&mut events).await
            && d.name_any() == "after"
        {
            break;
        }
    }
    let watch = sb.requests().into_iter().find(|r| r.verb == "watch").unwrap();
    assert!(watch.query.contains("sendInitialEvents=true"), "{}", watch.query);
}

#[tokio::test]
async fn a_watcher_relists_when_its_version_is_compacted_away() {
    let sb = sandbox().await;
    let api: Api<Deployment> = Api::default_namespaced(sb.client());
    let mut events = watcher(api.clone(), watcher::Config::default()).default_backoff().boxed();
    assert!(matches!(next(&mut events).await, watcher::Event::Init));
    assert!(matches!(next(&mut events).await, watcher::Event::InitDone));
    api.create(&PostParams::default(), &deployment("web", 1)).await.unwrap();
    assert!(matches!(next(&mut events).await, watcher::Event::Apply(_)));
    // Cut the watch, change something it cannot have seen, and lose the history: the resume gets 410.
    sb.faults().drop_watches();
    api.create(&PostParams::default(), &deployment("unseen", 1)).await.unwrap();
    sb.compact_history();
    let mut saw_gone = false;
    let relisted = async {
        loop {
            match events.next().await {
                Some(Ok(watcher::Event::Init)) => return,
                Some(Err(watcher::Error::WatchError(status))) => saw_gone |= status.code == 410,
                Some(_) => continue,
                None => panic!("the watcher ended"),
            }
        }
    };
    tokio::time::timeout(DEADLINE, relisted).await.expect("the watcher relists after 410 Gone");
    assert!(saw_gone, "the resume was refused with 410 Gone");
    let mut names = Vec::new();
    loop {
        match next(&mut events).await {
            watcher::Event::InitApply(d) => names.push(d.name_any()),
            watcher::Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    names.sort();
    assert_eq!(names, ["unseen", "web"], "the relist brings what the watch missed");
    assert_eq!(sb.count_requests(|r| r.verb == "list"), 2);
}

#[tokio::test]
async fn status_is_applied_server_side_apart_from_spec_and_no_op_applies_change_nothing() {
    let sb = sandbox().await;
    let client = sb.client();
    install_crd(&client).await;
    let api = scalers(&client);
    api.create(&PostParams::default(), &scaler("s1")).await.unwrap();
    let status = json!({
        "apiVersion": gscale::api::API_VERSION,
        "kind": gscale::api::KIND,
        "metadata": {"name": "s1"},
        "status": {"desiredReplicas": 4, "metricSummary": "rps 12/10"},
    });
    let applied =
        api.patch_status("s1", &PatchParams::apply("gscale").force(), &Patch::Apply(&status)).await.unwrap();
    assert_eq!(applied.data["status"]["desiredReplicas"], json!(4));
    assert_eq!(applied.metadata.generation, Some(1));
    let rv = applied.resource_version();
    let again =
        api.patch_status("s1", &PatchParams::apply("gscale").force(), &Patch::Apply(&status)).await.unwrap();
    assert_eq!(again.resource_version(), rv, "a no-op apply changes no resourceVersion");

    let spec = json!({
        "apiVersion": gscale::api::API_VERSION,
        "kind": gscale::api::KIND,
        "metadata": {"name": "s1"},
        "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 6,
                 "metric": {"type": "http", "targetValue": 10, "http": {"url": "http://127.0.0.1:9/m"}}},
    });
    let user = api.patch("s1", &PatchParams::apply("user"), &Patch::Apply(&spec)).await.unwrap();
    assert_eq!(user.data["status"]["desiredReplicas"], json!(4), "a spec apply leaves status alone");
    assert_eq!(user.data["spec"]["maxReplicas"], json!(6));
    assert_eq!(user.metadata.generation, Some(2));
}

#[tokio::test]
async fn statefulsets_scale_and_dry_runs_store_nothing() {
    use k8s_openapi::api::apps::v1::StatefulSet;
    let sb = sandbox().await;
    let api: Api<StatefulSet> = Api::default_namespaced(sb.client());
    let sts: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "db"},
        "spec": {"replicas": 1, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "x"}]}}},
    }))
    .unwrap();
    let dry = api.create(&PostParams { dry_run: true, ..PostParams::default() }, &sts).await.unwrap();
    assert_eq!(dry.metadata.name.as_deref(), Some("db"));
    assert_eq!(code(api.get("db").await.unwrap_err()), 404, "a dry run stores nothing");
    api.create(&PostParams::default(), &sts).await.unwrap();
    let scaled = api
        .patch_scale("db", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 3}})))
        .await
        .unwrap();
    assert_eq!(scaled.status.unwrap().selector.as_deref(), Some("app=db"));
    let ready = await_condition(api.clone(), "db", |s: Option<&StatefulSet>| {
        s.and_then(|s| s.status.as_ref()).is_some_and(|st| st.ready_replicas == Some(3))
    });
    tokio::time::timeout(DEADLINE, ready).await.unwrap().unwrap();
}

#[tokio::test]
async fn lists_page_with_continue_tokens_and_selector_watches_see_objects_enter_and_leave() {
    let sb = sandbox().await;
    let api: Api<Deployment> = Api::default_namespaced(sb.client());
    for i in 0..5 {
        api.create(&PostParams::default(), &deployment(&format!("d{i}"), 1)).await.unwrap();
    }
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    let token = first.metadata.continue_.clone().expect("a continue token");
    let second = api.list(&ListParams::default().limit(2).continue_token(&token)).await.unwrap();
    let third = api
        .list(&ListParams::default().limit(2).continue_token(second.metadata.continue_.as_deref().unwrap()))
        .await
        .unwrap();
    assert!(third.metadata.continue_.is_none());
    let names: Vec<String> =
        first.items.iter().chain(&second.items).chain(&third.items).map(|d| d.name_any()).collect();
    assert_eq!(names, ["d0", "d1", "d2", "d3", "d4"]);

    let rv = sb.resource_version().to_string();
    let stream = api.watch(&WatchParams::default().labels("tier=web"), &rv).await.unwrap();
    futures::pin_mut!(stream);
    let label = |v: Option<&str>| Patch::Merge(json!({"metadata": {"labels": {"tier": v}}}));
    api.patch("d1", &PatchParams::default(), &label(Some("web"))).await.unwrap();
    api.patch("d1", &PatchParams::default(), &label(Some("db"))).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match tokio::time::timeout(DEADLINE, stream.try_next()).await.unwrap().unwrap().unwrap() {
            WatchEvent::Added(d) => seen.push(format!("added {}", d.name_any())),
            WatchEvent::Deleted(d) => seen.push(format!("deleted {}", d.name_any())),
            WatchEvent::Modified(d) => seen.push(format!("modified {}", d.name_any())),
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(seen, ["added d1", "deleted d1"], "a selector watch sees objects enter and leave it");
}

#[tokio::test]
async fn metadata_watchers_get_partial_object_metadata() {
    let sb = sandbox().await;
    let api: Api<Deployment> = Api::default_namespaced(sb.client());
    api.create(&PostParams::default(), &deployment("web", 1)).await.unwrap();
    let list = api.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].metadata.name.as_deref(), Some("web"));
    let raw: Value = sb
        .client()
        .request(
            http::Request::get("/apis/apps/v1/namespaces/default/deployments")
                .header("Accept", "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(raw["kind"], "PartialObjectMetadataList");
    assert!(raw["items"][0].get("spec").is_none());
    let metas: Api<kube::core::PartialObjectMeta<Deployment>> = Api::default_namespaced(sb.client());
    let mut events = watcher(metas, watcher::Config::default()).boxed();
    assert!(matches!(next(&mut events).await, watcher::Event::Init));
    let watcher::Event::InitApply(meta) = next(&mut events).await else { panic!("expected InitApply") };
    assert_eq!(meta.metadata.name.as_deref(), Some("web"));
}

#[tokio::test]
async fn events_v1_can_be_applied_and_patched_and_read_back_in_both_shapes() {
    let sb = sandbox().await;
    let v1: Api<EventV1> = Api::default_namespaced(sb.client());
    let event = json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "e1"},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "gscale",
        "reportingInstance": "gscale-1",
        "action": "Scale",
        "reason": "ScaledDown",
        "type": "Normal",
        "note": "3 -> 2",
        "regarding": {"kind": "Deployment", "name": "web", "namespace": "default"},
    });
    let created = v1.patch("e1", &PatchParams::apply("gscale"), &Patch::Apply(&event)).await.unwrap();
    assert_eq!(created.note.as_deref(), Some("3 -> 2"));
    let patched =
        v1.patch("e1", &PatchParams::default(), &Patch::Merge(json!({"note": "3 -> 1"}))).await.unwrap();
    assert_eq!(patched.note.as_deref(), Some("3 -> 1"));
    assert_eq!(patched.regarding.as_ref().and_then(|r| r.name.as_deref()), Some("web"));
    let core: Api<CoreEvent> = Api::default_namespaced(sb.client());
    let e = core.get("e1").await.unwrap();
    assert_eq!(e.message.as_deref(), Some("3 -> 1"));
    assert_eq!(e.involved_object.name.as_deref(), Some("web"));
    assert_eq!(e.reporting_component.as_deref(), Some("gscale"));
}

#[tokio::test]
async fn names_and_resource_versions_on_create_are_checked_as_a_real_server_does() {
    let sb = sandbox().await;
    let api: Api<Deployment> = Api::default_namespaced(sb.client());
    assert_eq!(code(api.create(&PostParams::default(), &deployment("Web_App", 1)).await.unwrap_err()), 422);
    let created = api.create(&PostParams::default(), &deployment("web", 1)).await.unwrap();
    let mut again = created.clone();
    again.metadata.name = Some("web2".into());
    assert_eq!(
        code(api.create(&PostParams::default(), &again).await.unwrap_err()),
        500,
        "resourceVersion set"
    );
    let mut generated = deployment("", 1);
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("web-".into());
    let made = api.create(&PostParams::default(), &generated).await.unwrap();
    let name = made.name_any();
    assert!(name.starts_with("web-") && name.len() == "web-".len() + 5, "{name}");
}

#[tokio::test]
async fn finalizers_hold_deletion_and_namespaces_take_their_contents_along() {
    let sb = sandbox().await;
    let namespaces: Api<Namespace> = Api::all(sb.client());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "team-b"}})).unwrap();
    namespaces.create(&PostParams::default(), &ns).await.unwrap();
    let api: Api<Deployment> = Api::namespaced(sb.client(), "team-b");
    let mut held = deployment("held", 1);
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &held).await.unwrap();
    api.delete("held", &DeleteParams::default()).await.unwrap();
    let marked = api.get("held").await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some(), "a finalizer holds the object, marked");
    api.patch("held", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}})))
        .await
        .unwrap();
    assert_eq!(code(api.get("held").await.unwrap_err()), 404, "gone once the finalizer is removed");

    api.create(&PostParams::default(), &deployment("web", 1)).await.unwrap();
    namespaces.delete("team-b", &DeleteParams::default()).await.unwrap();
    assert_eq!(code(api.get("web").await.unwrap_err()), 404);
    assert_eq!(code(namespaces.delete("default", &DeleteParams::default()).await.unwrap_err()), 403);
}

#[tokio::test]
async fn a_dropped_sandbox_stops_serving_and_removes_its_kubeconfig() {
    let sb = sandbox().await;
    let (address, kubeconfig) = (sb.address(), sb.kubeconfig_path().to_path_buf());
    assert!(std::fs::read_to_string(&kubeconfig).unwrap().contains(&sb.url()));
    drop(sb);
    let refused = async {
        while tokio::net::TcpStream::connect(address).await.is_ok() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(DEADLINE, refused).await.expect("the port closes");
    assert!(!kubeconfig.exists());
}

#[tokio::test]
async fn denied_permissions_answer_403_and_access_reviews_agree() {
    use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
    let sb = sandbox().await;
    let api: Api<Deployment> = Api::default_namespaced(sb.client());
    api.create(&PostParams::default(), &deployment("web", 1)).await.unwrap();
    sb.faults().forbid("patch", "apps", "deployments/scale");

    let err = api
        .patch_scale("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 2}})))
        .await;
    let kube::Error::Api(status) = err.unwrap_err() else { panic!("expected a Status") };
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    assert!(
        status.message.contains("cannot patch resource \"deployments/scale\" in API group \"apps\""),
        "{}",
        status.message
    );
    api.get_scale("web").await.expect("get is still allowed");

    let reviews: Api<SelfSubjectAccessReview> = Api::all(sb.client());
    let ask = |verb: &str, sub: &str| -> SelfSubjectAccessReview {
        serde_json::from_value(json!({"spec": {"resourceAttributes": {
            "verb": verb, "group": "apps", "resource": "deployments", "subresource": sub, "namespace": "default"
        }}}))
        .unwrap()
    };
    let denied = reviews.create(&PostParams::default(), &ask("patch", "scale")).await.unwrap();
    assert!(!denied.status.unwrap().allowed);
    let allowed = reviews.create(&PostParams::default(), &ask("get", "scale")).await.unwrap();
    assert!(allowed.status.unwrap().allowed);

    sb.faults().allow_all();
    api.patch_scale("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 2}})))
        .await
        .unwrap();
}

#[tokio::test]
async fn new_events_and_workloads_are_validated_as_a_real_server_does() {
    let sb = sandbox().await;
    let v1: Api<EventV1> = Api::default_namespaced(sb.client());
    let event = |note: String| -> EventV1 {
        serde_json::from_value(json!({
            "metadata": {"name": "e"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "gscale", "reportingInstance": "gscale-1",
            "action": "Scale", "reason": "ScaledUp", "type": "Normal", "note": note,
            "regarding": {"kind": "Deployment", "name": "web", "namespace": "default"},
        }))
        .unwrap()
    };
    let err = v1.create(&PostParams::default(), &event("x".repeat(1025))).await.unwrap_err();
    let kube::Error::Api(status) = err else { panic!("expected a Status") };
    assert_eq!(status.code, 422);
    assert!(status.message.contains("note"), "{}", status.message);
    v1.create(&PostParams::default(), &event("x".repeat(1024))).await.expect("1024 bytes is the limit");

    let api: Api<Deployment> = Api::default_namespaced(sb.client());
    let mut mismatched = deployment("web", 1);
    mismatched.spec.selector.match_labels = Some([("app".to_string(), "other".to_string())].into());
    assert_eq!(code(api.create(&PostParams::default(), &mismatched).await.unwrap_err()), 422);
}

#[tokio::test]
async fn watches_end_cleanly_at_their_timeout() {
    let sb = sandbox().await;
    let api: Api<Namespace> = Api::all(sb.client());
    let rv = sb.resource_version().to_string();
    let stream = api.watch(&WatchParams::default().timeout(1), &rv).await.unwrap();
    futures::pin_mut!(stream);
    let ended = tokio::time::timeout(DEADLINE, stream.try_next()).await.expect("the server ends the watch");
    assert!(ended.unwrap().is_none(), "a clean end, not an error");
}

#[tokio::test]
async fn tests_can_await_requests_and_objects_without_polling_or_logging() {
    let sb = sandbox().await;
    sb.set_replica_delay(Duration::from_millis(200));
    let api: Api<Deployment> = Api::default_namespaced(sb.client());
    let patcher = {
        let api = api.clone();
        tokio::spawn(async move {
            api.create(&PostParams::default(), &deployment("web", 1)).await.unwrap();
            api.patch_scale("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 4}})))
                .await
                .unwrap();
        })
    };
    let scaled = sb.wait_for_request(DEADLINE, |r| r.verb == "patch" && r.subresource == "scale").await;
    assert_eq!(scaled.expect("the scale patch is seen").name, "web");
    patcher.await.unwrap();
    let logged = sb.requests().len();
    let ready = sb
        .wait_for_object("apps", "v1", "deployments", "default", "web", DEADLINE, |d| {
            d.and_then(|d| d.pointer("/status/readyReplicas")) == Some(&json!(4))
        })
        .await;
    assert!(ready.unwrap().is_some());
    assert_eq!(sb.peek_list("apps", "v1", "deployments", Some("default")).len(), 1);
    assert_eq!(sb.requests().len(), logged, "waiting and peeking send no requests");
    let never = sb.wait_for_request(Duration::from_millis(50), |r| r.verb == "deletecollection").await;
    assert!(never.is_none());
}

#[tokio::test]
async fn aggregated_discovery_lists_every_group_with_subresources() {
    let sb = sandbox().await;
    let client = sb.client();
    install_crd(&client).await;
    let discovery = kube::discovery::Discovery::new(client.clone()).run_aggregated().await.unwrap();
    let gvk = GroupVersionKind::gvk(gscale::api::GROUP, gscale::api::VERSION, gscale::api::KIND);
    let (resource, caps) = discovery.resolve_gvk(&gvk).expect("the CRD's kind is in aggregated discovery");
    assert_eq!(resource.plural, "generalscalers");
    assert!(caps.subresources.iter().any(|(r, _)| r.plural.ends_with("status")), "{:?}", caps.subresources);
    let deployments = GroupVersionKind::gvk("apps", "v1", "Deployment");
    let (_, caps) = discovery.resolve_gvk(&deployments).unwrap();
    assert!(caps.subresources.iter().any(|(r, _)| r.plural.ends_with("scale")));
    assert!(discovery.resolve_gvk(&GroupVersionKind::gvk("", "v1", "Namespace")).is_some());
}

#[tokio::test]
async fn services_service_accounts_and_rbac_kinds_are_stored_as_given() {
    use k8s_openapi::api::core::v1::{Service, ServiceAccount};
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
    let sb = sandbox().await;
    let client = sb.client();
    let apply = PatchParams::apply("test");
    let roles: Api<ClusterRole> = Api::all(client.clone());
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "reader"},
        "rules": [{"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get", "patch"]}]});
    roles.patch("reader", &apply, &Patch::Apply(&role)).await.unwrap();
    let stored = roles.get("reader").await.unwrap();
    assert_eq!(stored.rules.unwrap()[0].resources, Some(vec!["deployments/scale".to_string()]));
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "reader"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": "default"}]});
    bindings.patch("reader", &apply, &Patch::Apply(&binding)).await.unwrap();
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let account = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bot"}});
    accounts.patch("bot", &apply, &Patch::Apply(&account)).await.unwrap();
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
    services.patch("web", &apply, &Patch::Apply(&service)).await.unwrap();
    assert_eq!(services.get("web").await.unwrap().spec.unwrap().ports.unwrap()[0].port, 80);
    let role_api: Api<Role> = Api::namespaced(client.clone(), "default");
    let binding_api: Api<RoleBinding> = Api::namespaced(client.clone(), "default");
    assert!(role_api.list(&Default::default()).await.unwrap().items.is_empty());
    assert!(binding_api.list(&Default::default()).await.unwrap().items.is_empty());
    // Stored, never enforced: the sandbox has no authorization (a 403 is a fault rule).
    assert_eq!(accounts.list(&Default::default()).await.unwrap().items.len(), 1);
}

/// PodMetrics as metrics-server serves them: set by the test, listed by label selector (the pod's
/// labels), read one by one, and refused to any write or watch.
#[tokio::test]
async fn pod_metrics_are_served_read_only_as_metrics_server_serves_them() {
    let sb = sandbox().await;
    let client = sb.client();
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), "default");
    for (name, app) in [("web-1", "web"), ("db-1", "db")] {
        let pod = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"containers": [{"name": "app", "image": "nginx"}]},
        }))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
        sb.set_pod_metrics(
            "default",
            name,
            json!([{"name": "app", "usage": {"cpu": "250m", "memory": "64Mi"}}]),
        )
        .unwrap();
    }
    sb.set_pod_metrics(
        "default",
        "web-1",
        json!([{"name": "app", "usage": {"cpu": "900m", "memory": "64Mi"}}]),
    )
    .unwrap();
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", "PodMetrics"),
        "pods",
    );
    let metrics: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &resource);
    let web = metrics.list(&ListParams::default().labels("app=web")).await.unwrap().items;
    assert_eq!(web.len(), 1);
    assert_eq!(web[0].data["containers"][0]["usage"]["cpu"], "900m", "the latest set replaces the earlier");
    assert_eq!(web[0].data["window"], "30s");
    assert!(web[0].data["timestamp"].is_string());
    assert_eq!(metrics.get("db-1").await.unwrap().data["containers"][0]["usage"]["memory"], "64Mi");

    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics", "metadata": {"name": "x"}, "containers": []
    }))
    .unwrap();
    assert_eq!(code(metrics.create(&PostParams::default(), &object).await.unwrap_err()), 405);
    assert_eq!(code(metrics.delete("web-1", &DeleteParams::default()).await.unwrap_err()), 405);
    let watch = metrics.watch(&WatchParams::default(), "0").await;
    assert_eq!(code(watch.err().expect("no watch")), 405);

    let discovery =
        kube::discovery::pinned_group(&client, &"metrics.k8s.io/v1beta1".parse().unwrap()).await.unwrap();
    let (found, caps) = discovery.recommended_kind("PodMetrics").unwrap();
    assert_eq!((found.plural.as_str(), &caps.scope), ("pods", &kube::discovery::Scope::Namespaced));
    assert!(caps.supports_operation(kube::discovery::verbs::LIST));
    assert!(!caps.supports_operation(kube::discovery::verbs::WATCH));

    sb.remove_pod_metrics("default", "web-1");
    assert_eq!(code(metrics.get("web-1").await.unwrap_err()), 404);
}
