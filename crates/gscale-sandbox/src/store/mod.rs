//! The in-memory object store: every object of every kind, one global resourceVersion counter, the
//! watch history, lists and pages, deletion (finalizers, namespaces taking their contents along)
//! and the commit of every write. The writes themselves are in `write` (create, update, status)
//! and `apply` (server-side apply), what they must pass in `admission`, the scale subresource in
//! `scale`, and the two shapes of an Event in `events`.
//!
//! Everything here is synchronous and runs under the sandbox's one lock; HTTP, watch streaming and
//! timers live in `server`. Objects are kept as JSON in their canonical form (core/v1 for Events)
//! and rendered per served version on the way out.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use base64::Engine;
use jiff::Timestamp;
use kube::core::cel::{CompiledSchema, Validator, compile_schema};
use serde_json::{Map, Value, json};

use super::patch;
use super::registry::{self, ResourceDef, Special};
use super::select::{FieldSelector, LabelSelector};
use super::status::ApiError;

mod admission;
mod apply;
mod events;
mod scale;
mod write;

use admission::{check_type, name_problem};
use apply::{managed_entry, managed_part, strip_identity};
use events::{core_to_events_v1, events_v1_to_core};

/// What happened to an object, as a watch reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Deleted.
    Deleted,
}

impl Change {
    /// The watch event type.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "ADDED",
            Change::Modified => "MODIFIED",
            Change::Deleted => "DELETED",
        }
    }
}

/// One entry of the watch history.
#[derive(Debug)]
pub struct Recorded {
    /// The resourceVersion this change produced.
    pub rv: u64,
    /// The store it happened in.
    pub storage: String,
    /// What happened.
    pub change: Change,
    /// The object after the change (before it, for a deletion).
    pub object: Arc<Value>,
    /// The object before a modification, for selector transitions.
    pub old: Option<Arc<Value>>,
}

/// An object and who manages which of its fields.
#[derive(Debug, Clone)]
struct Stored {
    object: Value,
    /// Last configuration applied per (manager, part), part "" or "status".
    applied: BTreeMap<(String, String), Value>,
    /// When each applier last applied.
    applied_at: BTreeMap<(String, String), String>,
    /// Managers that wrote with plain updates: (time, fields of their last request).
    updaters: BTreeMap<(String, String), (String, Value)>,
}

/// How a write was asked for.
#[derive(Debug, Clone)]
pub struct WriteCtx {
    /// The time of the request.
    pub now: Timestamp,
    /// `fieldManager` (or one derived from the user agent).
    pub manager: String,
    /// `dryRun=All`: compute and answer, store nothing.
    pub dry_run: bool,
    /// `fieldValidation=Strict`: unknown fields are an error instead of being pruned.
    pub strict: bool,
}

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The main resource: status changes are ignored when a status subresource exists.
    Main,
    /// The `/status` subresource: only status changes.
    Status,
}

impl Part {
    fn key(self) -> &'static str {
        match self {
            Part::Main => "",
            Part::Status => "status",
        }
    }
}

/// The objects, the history and the served resources.
pub struct Store {
    rv: u64,
    seq: u64,
    data: HashMap<String, BTreeMap<(String, String), Stored>>,
    history: VecDeque<Arc<Recorded>>,
    history_limit: usize,
    compacted: u64,
    defs: Vec<ResourceDef>,
    compiled: HashMap<String, (Arc<CompiledSchema>, bool)>,
    validator: Validator,
}

/// A page of a list.
pub struct Page {
    /// Items, rendered.
    pub items: Vec<Value>,
    /// The list's resourceVersion.
    pub rv: u64,
    /// Continue token for the next page.
    pub next: Option<String>,
    /// Items after this page.
    pub remaining: usize,
}

fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    let map = obj.as_object_mut().expect("made an object above");
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    meta.as_object_mut().expect("made an object above")
}

/// The object without the fields the server owns, for no-op detection.
/// Whether two objects are the same but for their resourceVersion and managedFields: a write
/// that changes nothing else is a no-op. Compared in place (objects can be large).
fn same_content(a: &Value, b: &Value) -> bool {
    equal_except(a, b, &[], |key, x, y| match key {
        "metadata" => equal_except(x, y, &["resourceVersion", "managedFields"], |_, x, y| x == y),
        _ => x == y,
    })
}

/// Whether two objects are equal in what `generation` tracks: everything but metadata (and
/// status, when it is a subresource).
fn same_generation_part(a: &Value, b: &Value, has_status: bool) -> bool {
    let skipped: &[&str] = if has_status {
        &["metadata", "apiVersion", "kind", "status"]
    } else {
        &["metadata", "apiVersion", "kind"]
    };
    equal_except(a, b, skipped, |_, x, y| x == y)
}

/// Two values equal when both are objects with the same keys outside `skipped` and each pair of
/// values passes `same`; other values compare as they are.
fn equal_except(a: &Value, b: &Value, skipped: &[&str], same: impl Fn(&str, &Value, &Value) -> bool) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else { return a == b };
    let kept = |map: &'_ serde_json::Map<String, Value>| {
        map.iter().filter(|(k, _)| !skipped.contains(&k.as_str())).count()
    };
    kept(a) == kept(b)
        && a.iter()
            .filter(|(k, _)| !skipped.contains(&k.as_str()))
            .all(|(k, x)| b.get(k).is_some_and(|y| same(k, x, y)))
}

fn is_config_leaf_skipped(path: &str) -> bool {
    matches!(
        path,
        ".apiVersion"
            | ".kind"
            | ".metadata.name"
            | ".metadata.namespace"
            | ".metadata.resourceVersion"
            | ".metadata.uid"
            | ".metadata.managedFields"
    )
}

impl Store {
    /// An empty store with the built-in resources and the namespaces every cluster has.
    pub fn new(history_limit: usize, now: Timestamp) -> Self {
        let mut store = Store {
            rv: 0,
            seq: 0,
            data: HashMap::new(),
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            compacted: 0,
            defs: registry::builtins(),
            compiled: HashMap::new(),
            validator: Validator::new(),
        };
        let ctx = WriteCtx { now, manager: "sandbox".to_string(), dry_run: false, strict: false };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let def = store.def("", "v1", "namespaces").cloned();
            if let Some(def) = def {
                let created = store.create(&def, "", json!({"metadata": {"name": ns}}), &ctx);
                debug_assert!(created.is_ok());
            }
        }
        store
    }

    /// The current resourceVersion.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// Every served resource.
    pub fn defs(&self) -> &[ResourceDef] {
        &self.defs
    }

    /// A served resource by group, version and plural.
    pub fn def(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceDef> {
        self.defs.iter().find(|d| d.group == group && d.version == version && d.plural == plural)
    }

    /// Drop the whole watch history: any watch from an earlier resourceVersion gets 410 Gone.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }

    /// Events after `since` (exclusive), or `None` when `since` is older than the history.
    pub fn events_since(&self, since: u64) -> Option<Vec<Arc<Recorded>>> {
        if since < self.compacted {
            return None;
        }
        let start = self.history.partition_point(|e| e.rv <= since);
        Some(self.history.range(start..).cloned().collect())
    }

    /// The object as `def` serves it: its apiVersion and kind (and the events.k8s.io shape).
    pub fn render(def: &ResourceDef, object: &Value) -> Value {
        let mut out = match def.special {
            Special::EventsV1 => core_to_events_v1(object),
            _ => object.clone(),
        };
        if let Some(map) = out.as_object_mut() {
            map.insert("apiVersion".to_string(), json!(def.api_version()));
            map.insert("kind".to_string(), json!(def.kind));
        }
        out
    }

    fn ingest(def: &ResourceDef, body: Value) -> Value {
        match def.special {
            Special::EventsV1 => events_v1_to_core(&body),
            _ => body,
        }
    }

    fn stored(&self, def: &ResourceDef, ns: &str, name: &str) -> Option<&Stored> {
        self.data.get(&def.storage).and_then(|m| m.get(&(ns.to_string(), name.to_string())))
    }

    /// One object, rendered.
    pub fn get(&self, def: &ResourceDef, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.stored(def, ns, name)
            .map(|s| Self::render(def, &s.object))
            .ok_or_else(|| ApiError::not_found(&def.group_resource(), name))
    }

    /// A filtered, paged list, rendered.
    pub fn list(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        limit: Option<usize>,
        continue_from: Option<&str>,
    ) -> Result<Page, ApiError> {
        let start = match continue_from {
            Some(token) => Some(decode_continue(token)?),
            None => None,
        };
        let mut items = Vec::new();
        let mut next = None;
        let mut remaining = 0;
        if let Some(objects) = self.data.get(&def.storage) {
            let from = match start {
                Some(key) => Bound::Excluded(key),
                None => Bound::Unbounded,
            };
            for ((o_ns, o_name), stored) in objects.range((from, Bound::Unbounded)) {
                if ns.is_some_and(|n| n != o_ns) {
                    continue;
                }
                // Only the events.k8s.io shape differs in the fields a selector reads.
                let selected = if def.special == Special::EventsV1 {
                    let rendered = Self::render(def, &stored.object);
                    labels.matches(&rendered) && fields.matches(&rendered)
                } else {
                    labels.matches(&stored.object) && fields.matches(&stored.object)
                };
                if !selected {
                    continue;
                }
                if limit.is_some_and(|l| items.len() >= l) {
                    remaining += 1;
                    continue;
                }
                if limit.is_some_and(|l| items.len() + 1 == l) {
                    next = Some(encode_continue(o_ns, o_name));
                }
                items.push(Self::render(def, &stored.object));
            }
        }
        if remaining == 0 {
            next = None;
        }
        Ok(Page { items, rv: self.rv, next, remaining })
    }

    /// How many stored objects of `def` (in `ns`, or all) satisfy `pred`, as stored (not rendered).
    pub fn count(&self, def: &ResourceDef, ns: Option<&str>, pred: impl Fn(&Value) -> bool) -> usize {
        self.data.get(&def.storage).map_or(0, |objects| {
            objects
                .iter()
                .filter(|((o_ns, _), stored)| ns.is_none_or(|n| n == o_ns) && pred(&stored.object))
                .count()
        })
    }

    fn namespace_exists(&self, ns: &str) -> bool {
        self.data.get("/namespaces").is_some_and(|m| m.contains_key(&(String::new(), ns.to_string())))
    }

    fn uid(&mut self, now: Timestamp) -> String {
        self.seq += 1;
        let n = self.seq;
        let t = now.as_nanosecond() as u128;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (t >> 32) as u32,
            (t >> 16) as u16,
            (n >> 12) & 0xfff,
            n & 0xfff,
            (t as u64 ^ n.rotate_left(29)) & 0xffff_ffff_ffff
        )
    }

    fn suffix(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        self.seq += 1;
        let mut n = self.seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ self.rv;
        (0..5)
            .map(|_| {
                let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
                n /= ALPHABET.len() as u64;
                c
            })
            .collect()
    }

    /// Delete an object (or mark it, when it has finalizers).
    pub fn delete(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        options: &Value,
        ctx: &WriteCtx,
    ) -> Result<Value, ApiError> {
        let Some(existing) = self.stored(def, ns, name).cloned() else {
            return Err(ApiError::not_found(&def.group_resource(), name));
        };
        let obj = &existing.object;
        for (field, pointer) in [("uid", "/metadata/uid"), ("resourceVersion", "/metadata/resourceVersion")] {
            if let Some(want) = options.pointer(&format!("/preconditions/{field}")).and_then(Value::as_str) {
                let have = text(obj, pointer);
                if want != have {
                    let mut err = ApiError::conflict(&def.group_resource(), name);
                    err.message = format!(
                        "Precondition failed: {field} in precondition: {want}, {field} in object meta: {have}"
                    );
                    return Err(err);
                }
            }
        }
        if def.special == Special::Namespace && matches!(name, "default" | "kube-system" | "kube-public") {
            return Err(ApiError::new(
                403,
                "Forbidden",
                format!("namespace {name} is forbidden: this namespace may not be deleted"),
            ));
        }
        if ctx.dry_run {
            return Ok(Self::render(def, obj));
        }
        let has_finalizers =
            obj.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
        if has_finalizers {
            if obj.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok(Self::render(def, obj));
            }
            let mut marked = existing.clone();
            let meta = meta_mut(&mut marked.object);
            meta.insert("deletionTimestamp".to_string(), json!(stamp(ctx.now)));
            meta.insert("deletionGracePeriodSeconds".to_string(), json!(0));
            let out = self.commit(def, ns, name, marked, Change::Modified, Some(existing.object), ctx.now);
            return Ok(Self::render(def, &out));
        }
        if def.special == Special::Namespace {
            let storages: Vec<String> = self.data.keys().cloned().collect();
            for storage in storages {
                let names: Vec<String> = self.data[&storage]
                    .keys()
                    .filter(|(o_ns, _)| o_ns == name)
                    .map(|(_, n)| n.clone())
                    .collect();
                if let Some(d) = self.defs.iter().find(|d| d.storage == storage).cloned() {
                    for n in names {
                        self.remove(&d, name, &n, ctx.now);
                    }
                }
            }
        }
        let out = self.remove(def, ns, name, ctx.now);
        if def.special == Special::Crd {
            let storage = format!("crd:{}/{}", text(&out, "/spec/group"), text(&out, "/spec/names/plural"));
            if let Some(d) = self.defs.iter().find(|d| d.storage == storage).cloned() {
                let keys: Vec<(String, String)> =
                    self.data.get(&storage).map(|m| m.keys().cloned().collect()).unwrap_or_default();
                for (o_ns, n) in keys {
                    self.remove(&d, &o_ns, &n, ctx.now);
                }
            }
            self.data.remove(&storage);
            self.rebuild_defs();
        }
        Ok(Self::render(def, &out))
    }

    fn remove(&mut self, def: &ResourceDef, ns: &str, name: &str, _now: Timestamp) -> Value {
        let removed =
            self.data.get_mut(&def.storage).and_then(|m| m.remove(&(ns.to_string(), name.to_string())));
        let Some(stored) = removed else { return Value::Null };
        self.rv += 1;
        let mut object = stored.object;
        meta_mut(&mut object).insert("resourceVersion".to_string(), json!(self.rv.to_string()));
        self.record(def, Change::Deleted, object.clone(), None);
        object
    }

    #[allow(clippy::too_many_arguments)]
    fn commit(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        mut stored: Stored,
        change: Change,
        old: Option<Value>,
        _now: Timestamp,
    ) -> Value {
        self.rv += 1;
        let api_version = stored.object.get("apiVersion").cloned().unwrap_or(json!(def.api_version()));
        let mut managed = Vec::new();
        for (key, config) in &stored.applied {
            let (manager, part) = key;
            let mut entry = managed_entry(
                manager,
                "Apply",
                &api_version,
                part,
                patch::fields_v1(&strip_identity(config)),
            );
            if let Some(time) = stored.applied_at.get(key) {
                entry["time"] = json!(time);
            }
            managed.push(entry);
        }
        for ((manager, part), (time, fields)) in &stored.updaters {
            let mut entry = managed_entry(manager, "Update", &api_version, part, fields.clone());
            entry["time"] = json!(time);
            managed.push(entry);
        }
        let meta = meta_mut(&mut stored.object);
        meta.insert("resourceVersion".to_string(), json!(self.rv.to_string()));
        meta.insert("managedFields".to_string(), Value::Array(managed));
        let object = stored.object.clone();
        self.data.entry(def.storage.clone()).or_default().insert((ns.to_string(), name.to_string()), stored);
        self.record(def, change, object.clone(), old);
        object
    }

    fn record(&mut self, def: &ResourceDef, change: Change, object: Value, old: Option<Value>) {
        self.history.push_back(Arc::new(Recorded {
            rv: self.rv,
            storage: def.storage.clone(),
            change,
            object: Arc::new(object),
            old: old.map(Arc::new),
        }));
        while self.history.len() > self.history_limit {
            if let Some(gone) = self.history.pop_front() {
                self.compacted = gone.rv;
            }
        }
    }

    fn rebuild_defs(&mut self) {
        let mut defs = registry::builtins();
        if let Some(crds) = self.data.get("apiextensions.k8s.io/customresourcedefinitions") {
            for stored in crds.values() {
                defs.extend(registry::from_crd(&stored.object));
            }
        }
        self.compiled.clear();
        self.defs = defs;
    }
}

fn stamp(now: Timestamp) -> String {
    now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn encode_continue(ns: &str, name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{ns}\u{0}{name}"))
}

fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    let bad = || ApiError::bad_request("invalid continue token");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (ns, name) = text.split_once('\u{0}').ok_or_else(bad)?;
    Ok((ns.to_string(), name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_compare_in_place_skipping_only_what_they_should() {
        let old = json!({"metadata": {"name": "a", "resourceVersion": "1", "managedFields": [1]},
                         "spec": {"x": 1}, "status": {"y": 1}});
        let touched =
            json!({"metadata": {"name": "a", "resourceVersion": "2"}, "spec": {"x": 1}, "status": {"y": 1}});
        assert!(same_content(&old, &touched), "resourceVersion and managedFields alone are no change");
        let labelled =
            json!({"metadata": {"name": "a", "labels": {"k": "v"}}, "spec": {"x": 1}, "status": {"y": 1}});
        assert!(!same_content(&old, &labelled));
        let status = json!({"metadata": {"name": "a"}, "spec": {"x": 1}, "status": {"y": 2}});
        assert!(!same_content(&old, &status));
        assert!(same_generation_part(&old, &status, true), "status is a subresource: no new generation");
        assert!(!same_generation_part(&old, &status, false));
        let spec = json!({"metadata": {"name": "a"}, "spec": {"x": 2}, "status": {"y": 1}});
        assert!(!same_generation_part(&old, &spec, true));
        let extra = json!({"metadata": {"name": "a"}, "spec": {"x": 1}, "status": {"y": 1}, "data": {}});
        assert!(!same_generation_part(&old, &extra, true), "a new top-level field is a change");
    }

    fn ctx() -> WriteCtx {
        WriteCtx { now: Timestamp::UNIX_EPOCH, manager: "test".into(), dry_run: false, strict: false }
    }

    fn crd(status_subresource: bool) -> Value {
        let subresources = if status_subresource { json!({"status": {}}) } else { json!({}) };
        json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true, "subresources": subresources,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {"size": {"type": "integer", "default": 1}}},
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}],
            },
        })
    }

    fn with_crd(status_subresource: bool) -> (Store, ResourceDef) {
        let mut store = Store::new(100, Timestamp::UNIX_EPOCH);
        let crds = store.def("apiextensions.k8s.io", "v1", "customresourcedefinitions").cloned().unwrap();
        let created = store.create(&crds, "", crd(status_subresource), &ctx()).unwrap();
        assert_eq!(created["status"]["conditions"][1]["type"], "Established");
        let def = store.def("example.com", "v1", "widgets").cloned().unwrap();
        (store, def)
    }

    #[test]
    fn without_a_status_subresource_any_change_but_metadata_bumps_generation() {
        let (mut store, def) = with_crd(false);
        let w = store.create(
            &def,
            "default",
            json!({"metadata": {"name": "w"}, "spec": {}, "status": {"x": 1}}),
            &ctx(),
        );
        let w = w.unwrap();
        assert_eq!(w["status"]["x"], 1, "status is plain data without the subresource");
        assert_eq!(w["spec"]["size"], 1, "defaults apply");
        let mut next = w.clone();
        next["status"]["x"] = json!(2);
        let out = store.update(&def, "default", "w", next, Part::Main, &ctx()).unwrap();
        assert_eq!(out["metadata"]["generation"], 2);
        let mut labelled = out.clone();
        labelled["metadata"]["labels"] = json!({"a": "b"});
        let out = store.update(&def, "default", "w", labelled, Part::Main, &ctx()).unwrap();
        assert_eq!(out["metadata"]["generation"], 2);
    }

    #[test]
    fn history_serves_events_after_a_version_until_compacted() {
        let (mut store, def) = with_crd(true);
        let start = store.rv();
        store.create(&def, "default", json!({"metadata": {"name": "a"}}), &ctx()).unwrap();
        store.create(&def, "default", json!({"metadata": {"name": "b"}}), &ctx()).unwrap();
        let events = store.events_since(start).unwrap();
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.change == Change::Added));
        assert!(store.events_since(store.rv()).unwrap().is_empty());
        store.compact();
        assert!(store.events_since(start).is_none(), "too old: 410");
        assert!(store.events_since(store.rv()).is_some());
    }

    #[test]
    fn deleting_a_crd_deletes_its_objects_and_stops_serving_it() {
        let (mut store, def) = with_crd(true);
        store.create(&def, "default", json!({"metadata": {"name": "a"}}), &ctx()).unwrap();
        let crds = store.def("apiextensions.k8s.io", "v1", "customresourcedefinitions").cloned().unwrap();
        let before = store.rv();
        store.delete(&crds, "", "widgets.example.com", &Value::Null, &ctx()).unwrap();
        assert!(store.def("example.com", "v1", "widgets").is_none());
        let events = store.events_since(before).unwrap();
        assert!(events.iter().any(|e| e.change == Change::Deleted && e.storage == def.storage));
    }
}
