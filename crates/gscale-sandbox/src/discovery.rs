//! What clients learn about the server before they ask for objects: `/version`, the legacy
//! discovery documents (`/api`, `/api/v1`, `/apis`, `/apis/<group>[/<version>]`) and the OpenAPI v3
//! documents kubectl reads to validate and patch (`/openapi/v3` and one document per group-version).
//!
//! Aggregated discovery (`apidiscovery.k8s.io/v2`, one `APIGroupDiscoveryList` from `/api` and one
//! from `/apis`) is served when asked for by Accept, as kubectl and kube's `run_aggregated` do.
//! `/openapi/v2` answers 404, which kubectl tolerates once v3 works.
//! Built-in schemas are shallow (objects that keep unknown fields); CRD schemas are served in full.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Value, json};

use super::registry::{ResourceDef, Special};

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0-gscale-sandbox",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `/api`.
pub fn core_versions(address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    })
}

/// Group name -> versions, in first-seen order (the first is preferred).
fn groups(defs: &[ResourceDef]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for def in defs.iter().filter(|d| !d.group.is_empty()) {
        let versions = out.entry(def.group.clone()).or_default();
        if !versions.contains(&def.version) {
            versions.push(def.version.clone());
        }
    }
    out
}

fn group_doc(name: &str, versions: &[String]) -> Value {
    let list: Vec<Value> =
        versions.iter().map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v})).collect();
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": name,
        "versions": list,
        "preferredVersion": list.first().cloned().unwrap_or_default(),
    })
}

/// `/apis`.
pub fn group_list(defs: &[ResourceDef]) -> Value {
    let list: Vec<Value> = groups(defs).iter().map(|(name, versions)| group_doc(name, versions)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list})
}

/// `/apis/<group>`, or `None` when no such group is served.
pub fn group(defs: &[ResourceDef], name: &str) -> Option<Value> {
    groups(defs).get(name).map(|versions| group_doc(name, versions))
}

/// `/api/v1` or `/apis/<group>/<version>`, or `None` when nothing is served there.
pub fn resource_list(defs: &[ResourceDef], group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for def in defs.iter().filter(|d| d.group == group && d.version == version) {
        let verbs: &[&str] = match def.special {
            Special::AccessReview => &["create"],
            Special::Metrics => &["get", "list"],
            _ => &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        };
        resources.push(json!({
            "name": def.plural,
            "singularName": def.singular,
            "namespaced": def.namespaced,
            "kind": def.kind,
            "verbs": verbs,
            "shortNames": def.short_names,
            "categories": def.categories,
        }));
        if def.status {
            resources.push(json!({
                "name": format!("{}/status", def.plural),
                "singularName": "",
                "namespaced": def.namespaced,
                "kind": def.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        if def.scale.is_some() {
            resources.push(json!({
                "name": format!("{}/scale", def.plural),
                "singularName": "",
                "namespaced": def.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
    )
}

/// The Content-Type of an aggregated discovery answer.
pub const AGGREGATED_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether an Accept header asks for aggregated discovery v2.
pub fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|media| {
        let params: Vec<&str> = media.split(';').map(str::trim).collect();
        ["g=apidiscovery.k8s.io", "v=v2", "as=APIGroupDiscoveryList"].iter().all(|p| params.contains(p))
    })
}

/// A version and its resources' discovery entries.
type VersionResources = (String, Vec<Value>);

/// The aggregated discovery list of the core group (`core`) or of every other group.
pub fn aggregated(defs: &[ResourceDef], core: bool) -> Value {
    let gvk =
        |group: &str, version: &str, kind: &str| json!({"group": group, "version": version, "kind": kind});
    // Group -> version -> resources, in first-seen order (the first version is preferred).
    let mut groups: Vec<(String, Vec<VersionResources>)> = Vec::new();
    for def in defs.iter().filter(|d| d.group.is_empty() == core) {
        let mut subresources = Vec::new();
        if def.status {
            subresources.push(json!({
                "subresource": "status",
                "responseKind": gvk(&def.group, &def.version, &def.kind),
                "verbs": ["get", "patch", "update"],
            }));
        }
        if def.scale.is_some() {
            subresources.push(json!({
                "subresource": "scale",
                "responseKind": gvk("autoscaling", "v1", "Scale"),
                "verbs": ["get", "patch", "update"],
            }));
        }
        let verbs: &[&str] = match def.special {
            Special::AccessReview => &["create"],
            Special::Metrics => &["get", "list"],
            _ => &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        };
        let resource = json!({
            "resource": def.plural,
            "responseKind": gvk(&def.group, &def.version, &def.kind),
            "scope": if def.namespaced { "Namespaced" } else { "Cluster" },
            "singularResource": def.singular,
            "verbs": verbs,
            "shortNames": def.short_names,
            "categories": def.categories,
            "subresources": subresources,
        });
        let group = match groups.iter_mut().find(|(g, _)| *g == def.group) {
            Some(group) => group,
            None => {
                groups.push((def.group.clone(), Vec::new()));
                groups.last_mut().expect("just pushed")
            }
        };
        match group.1.iter_mut().find(|(v, _)| *v == def.version) {
            Some(version) => version.1.push(resource),
            None => group.1.push((def.version.clone(), vec![resource])),
        }
    }
    let items: Vec<Value> = groups
        .into_iter()
        .map(|(name, versions)| {
            let versions: Vec<Value> = versions
                .into_iter()
                .map(|(version, resources)| json!({"version": version, "resources": resources, "freshness": "Current"}))
                .collect();
            json!({"metadata": {"name": name, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

/// The OpenAPI path key of a group-version: `api/v1` or `apis/<group>/<version>`.
fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

/// `/openapi/v2` as the protobuf kubectl asks for (gnostic's `openapi_v2.Document`): an empty
/// Swagger 2.0 document. kubectl falls back to it for a kind the v3 index does not list; empty,
/// its validation passes the object on, and kubectl then says the kind is not served ("no matches
/// for kind"), as against a real API server, rather than "failed to download openapi".
pub fn openapi_v2_protobuf() -> Vec<u8> {
    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        // Length-delimited fields only, each shorter than 128 bytes: one-byte tag and length.
        let mut out = vec![(number << 3) | 2, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }
    // Document { swagger = 1, info = 2 }, Info { title = 1, version = 2 }.
    let info = [field(1, b"gscale sandbox"), field(2, b"v1")].concat();
    [field(1, b"2.0"), field(2, &info)].concat()
}

/// `/openapi/v2` as JSON, for a client that asks for JSON.
pub fn openapi_v2_json() -> Value {
    serde_json::json!({"swagger": "2.0", "info": {"title": "gscale sandbox", "version": "v1"}, "paths": {}, "definitions": {}})
}

/// `/openapi/v3`: one entry per group-version, each with a content hash kubectl caches by.
pub fn openapi_index(defs: &[ResourceDef]) -> Value {
    let mut paths = serde_json::Map::new();
    let mut seen: Vec<(String, String)> = Vec::new();
    for def in defs {
        let gv = (def.group.clone(), def.version.clone());
        if seen.contains(&gv) {
            continue;
        }
        seen.push(gv);
        let key = gv_path(&def.group, &def.version);
        let doc = openapi_doc(defs, &def.group, &def.version).unwrap_or_default();
        let mut hasher = DefaultHasher::new();
        doc.to_string().hash(&mut hasher);
        let url = format!("/openapi/v3/{key}?hash={:016X}", hasher.finish());
        paths.insert(key, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

/// The schema name of a kind, as the API server names them.
fn schema_name(def: &ResourceDef) -> String {
    if def.schema.is_some() {
        let reversed: Vec<&str> = def.group.split('.').rev().collect();
        return format!("{}.{}.{}", reversed.join("."), def.version, def.kind);
    }
    let group = match def.group.as_str() {
        "" => "core",
        "events.k8s.io" => "events",
        "coordination.k8s.io" => "coordination",
        "apiextensions.k8s.io" => {
            return format!(
                "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{}.{}",
                def.version, def.kind
            );
        }
        other => other,
    };
    format!("io.k8s.api.{group}.{}.{}", def.version, def.kind)
}

fn gvk(def: &ResourceDef) -> Value {
    json!({"group": def.group, "version": def.version, "kind": def.kind})
}

fn operation(def: &ResourceDef, action: &str, schema_ref: &Value, body: bool) -> Value {
    let mut params = vec![
        json!({"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}}),
        json!({"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}}),
        json!({"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}}),
    ];
    if action == "patch" {
        params.push(
            json!({"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}),
        );
    }
    let mut op = json!({
        "operationId": format!("{action}{}", def.kind),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(def),
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": schema_ref}}}},
    });
    if body {
        op["parameters"] = Value::Array(params);
        // No strategic-merge-patch content type: kubectl then patches built-ins with its compiled-in
        // strategy and custom resources with a JSON merge patch, as against a real server.
        let types: &[&str] = if action == "patch" {
            &["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"]
        } else {
            &["application/json"]
        };
        let content: serde_json::Map<String, Value> =
            types.iter().map(|t| (t.to_string(), json!({"schema": schema_ref}))).collect();
        op["requestBody"] = json!({"content": content});
    }
    op
}

/// One group-version's OpenAPI v3 document, or `None` when nothing is served there.
pub fn openapi_doc(defs: &[ResourceDef], group: &str, version: &str) -> Option<Value> {
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    schemas.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta".to_string(),
        json!({"type": "object", "description": "Standard object metadata.", "x-kubernetes-preserve-unknown-fields": true}),
    );
    let mut any = false;
    for def in defs.iter().filter(|d| d.group == group && d.version == version) {
        any = true;
        let name = schema_name(def);
        let schema_ref = json!({"$ref": format!("#/components/schemas/{name}")});
        let base = if def.namespaced {
            format!("/{}/namespaces/{{namespace}}/{}", gv_path(group, version), def.plural)
        } else {
            format!("/{}/{}", gv_path(group, version), def.plural)
        };
        paths.insert(
            base.clone(),
            json!({"get": operation(def, "list", &schema_ref, false), "post": operation(def, "post", &schema_ref, true)}),
        );
        let item = json!({
            "get": operation(def, "get", &schema_ref, false),
            "put": operation(def, "put", &schema_ref, true),
            "patch": operation(def, "patch", &schema_ref, true),
            "delete": operation(def, "delete", &schema_ref, false),
        });
        paths.insert(format!("{base}/{{name}}"), item.clone());
        if def.status {
            paths.insert(format!("{base}/{{name}}/status"), item);
        }
        let mut schema = match &def.schema {
            Some(s) => Value::clone(s),
            None => json!({
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                },
                "x-kubernetes-preserve-unknown-fields": true,
            }),
        };
        if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert(
                "metadata".to_string(),
                json!({"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}], "default": {}}),
            );
        }
        schema["x-kubernetes-group-version-kind"] = json!([gvk(def)]);
        schemas.insert(name, schema);
    }
    any.then(|| {
        json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": paths,
            "components": {"schemas": schemas},
        })
    })
}
