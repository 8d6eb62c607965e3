//! The in-memory object store: every object of every kind, one global resourceVersion counter, the
//! watch history, and the write semantics of the API server (create, update, status, delete,
//! server-side apply, generation, conflicts, admission of custom resources, kind-specific rules).
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
fn comparable(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
        meta.remove("managedFields");
    }
    v
}

/// What `generation` tracks: everything but metadata (and status, when it is a subresource).
fn generation_part(obj: &Value, has_status: bool) -> Value {
    let mut v = obj.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("metadata");
        map.remove("apiVersion");
        map.remove("kind");
        if has_status {
            map.remove("status");
        }
    }
    v
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

    /// Create an object.
    pub fn create(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        body: Value,
        ctx: &WriteCtx,
    ) -> Result<Value, ApiError> {
        if !text(&body, "/metadata/resourceVersion").is_empty() {
            // What etcd storage answers, as a 500, on a real server.
            return Err(ApiError::new(
                500,
                "InternalError",
                "resourceVersion should not be set on objects to be created",
            ));
        }
        self.create_as(def, ns, body, ctx, None)
    }

    fn create_as(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        body: Value,
        ctx: &WriteCtx,
        applied: Option<Value>,
    ) -> Result<Value, ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request("the request body must be a JSON object"));
        }
        check_type(def, &body)?;
        let request_fields = managed_part(&body);
        let mut obj = Self::ingest(def, body);
        let meta = meta_mut(&mut obj);
        let body_ns = meta.get("namespace").and_then(Value::as_str).unwrap_or_default().to_string();
        if def.namespaced {
            if !body_ns.is_empty() && body_ns != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            meta.insert("namespace".to_string(), json!(ns));
        } else {
            meta.remove("namespace");
        }
        let mut name = meta.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        if name.is_empty() {
            let prefix = meta.get("generateName").and_then(Value::as_str).unwrap_or_default().to_string();
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    &def.group_kind(),
                    "",
                    vec![(
                        "metadata.name".into(),
                        "FieldValueRequired",
                        "Required value: name or generateName is required".into(),
                    )],
                ));
            }
            name = format!("{prefix}{}", self.suffix());
        }
        if let Some(problem) = name_problem(&name, def.special == Special::Namespace) {
            return Err(ApiError::invalid(
                &def.group_kind(),
                &name,
                vec![(
                    "metadata.name".into(),
                    "FieldValueInvalid",
                    format!("Invalid value: \"{name}\": {problem}"),
                )],
            ));
        }
        if def.namespaced && !self.namespace_exists(ns) {
            return Err(ApiError::not_found("namespaces", ns));
        }
        if self.stored(def, ns, &name).is_some() {
            return Err(ApiError::already_exists(&def.group_resource(), &name));
        }
        let uid = self.uid(ctx.now);
        let meta = meta_mut(&mut obj);
        meta.insert("name".to_string(), json!(name));
        meta.insert("uid".to_string(), json!(uid));
        meta.insert(
            "creationTimestamp".to_string(),
            json!(ctx.now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
        );
        for gone in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(gone);
        }
        if def.generation {
            meta.insert("generation".to_string(), json!(1));
        } else {
            meta.remove("generation");
        }
        if def.status
            && def.special != Special::Namespace
            && let Some(map) = obj.as_object_mut()
        {
            map.remove("status");
        }
        self.prepare(def, &mut obj, None, ctx)?;
        let mut stored = Stored {
            object: obj,
            applied: BTreeMap::new(),
            applied_at: BTreeMap::new(),
            updaters: BTreeMap::new(),
        };
        match applied {
            Some(config) => {
                stored.applied_at.insert((ctx.manager.clone(), String::new()), stamp(ctx.now));
                stored.applied.insert((ctx.manager.clone(), String::new()), config);
            }
            None => {
                stored
                    .updaters
                    .insert((ctx.manager.clone(), String::new()), (stamp(ctx.now), request_fields));
            }
        }
        if ctx.dry_run {
            return Ok(Self::render(def, &stored.object));
        }
        let out = self.commit(def, ns, &name, stored, Change::Added, None, ctx.now);
        if def.special == Special::Crd {
            self.rebuild_defs();
        }
        Ok(Self::render(def, &out))
    }

    /// Replace an object (PUT), or the result of a patch.
    pub fn update(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        body: Value,
        part: Part,
        ctx: &WriteCtx,
    ) -> Result<Value, ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request("the request body must be a JSON object"));
        }
        check_type(def, &body)?;
        self.write(def, ns, name, Self::ingest(def, body), part, ctx, None)
    }

    /// Server-side apply: create or merge `config` as `ctx.manager`.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        config: Value,
        part: Part,
        force: bool,
        ctx: &WriteCtx,
    ) -> Result<Value, ApiError> {
        if !config.is_object() {
            return Err(ApiError::bad_request("the apply configuration must be an object"));
        }
        check_type(def, &config)?;
        let body_name = text(&config, "/metadata/name");
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let raw = config.clone();
        let config = Self::ingest(def, config);
        let config = match part {
            Part::Status => {
                json!({"status": config.get("status").cloned().unwrap_or(json!({}))})
            }
            Part::Main if def.status => {
                let mut c = config;
                if let Some(m) = c.as_object_mut() {
                    m.remove("status");
                }
                c
            }
            Part::Main => config,
        };
        let Some(existing) = self.stored(def, ns, name).cloned() else {
            if part == Part::Status {
                return Err(ApiError::not_found(&def.group_resource(), name));
            }
            let mut body = raw;
            if def.status
                && let Some(map) = body.as_object_mut()
            {
                map.remove("status");
            }
            meta_mut(&mut body).insert("name".to_string(), json!(name));
            return self.create_as(def, ns, body, ctx, Some(config));
        };
        let key = (ctx.manager.clone(), part.key().to_string());
        let mut conflicts = Vec::new();
        for (path, value) in patch::leaves(&config) {
            if is_config_leaf_skipped(&path) {
                continue;
            }
            for (other, cfg) in &existing.applied {
                if *other != key && patch::at_path(cfg, &path).is_some_and(|v| v != value) {
                    conflicts.push((other.0.clone(), path.clone()));
                }
            }
        }
        if !conflicts.is_empty() && !force {
            let causes: Vec<Value> = conflicts
                .iter()
                .map(|(m, p)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{m}\""), "field": p}))
                .collect();
            let list: Vec<String> =
                conflicts.iter().map(|(m, p)| format!("conflict with \"{m}\": {p}")).collect();
            let mut err = ApiError::new(
                409,
                "Conflict",
                format!(
                    "Apply failed with {} conflict{}: {}",
                    list.len(),
                    if list.len() == 1 { "" } else { "s" },
                    list.join(", ")
                ),
            );
            err.details =
                Some(json!({"name": name, "group": def.group, "kind": def.plural, "causes": causes}));
            return Err(err);
        }
        let previous = existing.applied.get(&key).cloned();
        let mut merged = existing.object.clone();
        patch::apply_merge(&mut merged, &config, previous.as_ref());
        let rv_wanted = text(&config, "/metadata/resourceVersion");
        meta_mut(&mut merged).insert("resourceVersion".to_string(), json!(rv_wanted));
        self.write(def, ns, name, merged, part, ctx, Some(config))
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        body: Value,
        part: Part,
        ctx: &WriteCtx,
        applied: Option<Value>,
    ) -> Result<Value, ApiError> {
        let Some(existing) = self.stored(def, ns, name).cloned() else {
            return Err(ApiError::not_found(&def.group_resource(), name));
        };
        let old = &existing.object;
        let body_name = text(&body, "/metadata/name");
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let wanted_rv = text(&body, "/metadata/resourceVersion");
        let current_rv = text(old, "/metadata/resourceVersion");
        if !wanted_rv.is_empty() && wanted_rv != current_rv {
            return Err(ApiError::conflict(&def.group_resource(), name));
        }
        // A uid in the body is a precondition: a write meant for an object that was deleted and
        // recreated under the same name must not land. A PUT fails it as a conflict; an apply, as
        // the API server does, as a change to the immutable uid. A status write keeps the stored
        // metadata whatever the body says (the API server's status strategy), so it checks nothing.
        let (wanted_uid, current_uid) = (text(&body, "/metadata/uid"), text(old, "/metadata/uid"));
        if part == Part::Main && !wanted_uid.is_empty() && wanted_uid != current_uid {
            if applied.is_some() {
                return Err(super::server::uid_is_immutable(def, name, &wanted_uid));
            }
            let mut err = ApiError::conflict(&def.group_resource(), name);
            err.message = format!(
                "Precondition failed: UID in precondition: {wanted_uid}, UID in object meta: {current_uid}"
            );
            return Err(err);
        }
        let request_fields = match part {
            Part::Main => managed_part(&body),
            Part::Status => managed_part(&json!({"status": body.get("status").cloned().unwrap_or_default()})),
        };
        let mut obj = match part {
            Part::Status => {
                let mut o = old.clone();
                match body.get("status") {
                    Some(status) => o["status"] = status.clone(),
                    None => {
                        if let Some(m) = o.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
                o
            }
            Part::Main => {
                let mut o = body;
                if def.status && def.special != Special::Namespace {
                    match old.get("status") {
                        Some(status) => o["status"] = status.clone(),
                        None => {
                            if let Some(m) = o.as_object_mut() {
                                m.remove("status");
                            }
                        }
                    }
                }
                let old_meta = old.get("metadata").cloned().unwrap_or_default();
                let meta = meta_mut(&mut o);
                for keep in [
                    "name",
                    "namespace",
                    "uid",
                    "creationTimestamp",
                    "generation",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                ] {
                    match old_meta.get(keep) {
                        Some(v) => meta.insert(keep.to_string(), v.clone()),
                        None => meta.remove(keep),
                    };
                }
                o
            }
        };
        if let Some(map) = obj.as_object_mut() {
            map.insert("apiVersion".to_string(), old.get("apiVersion").cloned().unwrap_or_default());
            map.insert("kind".to_string(), old.get("kind").cloned().unwrap_or_default());
        }
        self.prepare(def, &mut obj, Some(old), ctx)?;
        if def.generation {
            let bump = generation_part(&obj, def.status) != generation_part(old, def.status);
            let generation = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
            meta_mut(&mut obj).insert("generation".to_string(), json!(generation + i64::from(bump)));
        }
        meta_mut(&mut obj).insert("resourceVersion".to_string(), json!(current_rv));
        let mut stored = existing.clone();
        let key = (ctx.manager.clone(), part.key().to_string());
        match applied {
            Some(config) => {
                stored.applied_at.insert(key.clone(), stamp(ctx.now));
                stored.applied.insert(key.clone(), config);
            }
            None => {
                stored.updaters.insert(key.clone(), (stamp(ctx.now), request_fields));
            }
        }
        // A field changed away from what its applier set now belongs to the writer.
        for (manager, config) in stored.applied.iter_mut() {
            if *manager == key {
                continue;
            }
            let moved: Vec<String> = patch::leaves(config)
                .into_iter()
                .filter(|(p, v)| !is_config_leaf_skipped(p) && patch::at_path(&obj, p) != Some(*v))
                .map(|(p, _)| p)
                .collect();
            for path in moved {
                patch::remove_path(config, &path);
            }
        }
        let finished = obj.pointer("/metadata/deletionTimestamp").is_some()
            && obj.pointer("/metadata/finalizers").and_then(Value::as_array).is_none_or(|f| f.is_empty());
        if ctx.dry_run {
            return Ok(Self::render(def, &obj));
        }
        if finished {
            let out = self.remove(def, ns, name, ctx.now);
            return Ok(Self::render(def, &out));
        }
        if comparable(&obj) == comparable(old) {
            // A no-op write changes no resourceVersion and sends no event, but ownership is recorded.
            if let Some(slot) =
                self.data.get_mut(&def.storage).and_then(|m| m.get_mut(&(ns.to_string(), name.to_string())))
            {
                slot.applied = stored.applied;
            }
            return Ok(Self::render(def, old));
        }
        stored.object = obj;
        let out = self.commit(def, ns, name, stored, Change::Modified, Some(existing.object), ctx.now);
        if def.special == Special::Crd {
            self.rebuild_defs();
        }
        Ok(Self::render(def, &out))
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

    /// Kind-specific rules and custom-resource admission, before a write is stored.
    fn prepare(
        &mut self,
        def: &ResourceDef,
        obj: &mut Value,
        old: Option<&Value>,
        ctx: &WriteCtx,
    ) -> Result<(), ApiError> {
        match def.special {
            Special::Namespace => {
                obj["status"] = json!({"phase": "Active"});
            }
            Special::Secret => {
                if let Some(Value::Object(plain)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) {
                    let data = obj.as_object_mut().map(|m| m.entry("data").or_insert_with(|| json!({})));
                    if let Some(Value::Object(data)) = data {
                        for (k, v) in plain {
                            let bytes = v.as_str().unwrap_or_default().as_bytes().to_vec();
                            data.insert(k, json!(base64::engine::general_purpose::STANDARD.encode(bytes)));
                        }
                    }
                }
                if obj.get("type").is_none() {
                    obj["type"] = json!("Opaque");
                }
            }
            Special::Workload => {
                if obj.pointer("/spec/replicas").is_none_or(Value::is_null) {
                    if !obj.get("spec").is_some_and(Value::is_object) {
                        obj["spec"] = json!({});
                    }
                    obj["spec"]["replicas"] = json!(1);
                }
                if obj.pointer("/spec/replicas").is_none_or(|r| r.as_i64().is_none_or(|n| n < 0)) {
                    return Err(ApiError::invalid(
                        &def.group_kind(),
                        &text(obj, "/metadata/name"),
                        vec![(
                            "spec.replicas".into(),
                            "FieldValueInvalid",
                            "must be greater than or equal to 0".into(),
                        )],
                    ));
                }
                if obj.pointer("/spec/selector").is_none_or(Value::is_null) {
                    return Err(ApiError::invalid(
                        &def.group_kind(),
                        &text(obj, "/metadata/name"),
                        vec![("spec.selector".into(), "FieldValueRequired", "Required value".into())],
                    ));
                }
                let selector = LabelSelector::from_object(&obj["spec"]["selector"]);
                let template = json!({"metadata": {"labels": obj.pointer("/spec/template/metadata/labels")}});
                if !selector.matches(&template) {
                    return Err(ApiError::invalid(
                        &def.group_kind(),
                        &text(obj, "/metadata/name"),
                        vec![(
                            "spec.template.metadata.labels".into(),
                            "FieldValueInvalid",
                            format!(
                                "Invalid value: selector does not match template labels ({})",
                                selector.to_query()
                            ),
                        )],
                    ));
                }
                if def.kind == "Deployment" {
                    let spec = &mut obj["spec"];
                    for (k, v) in [
                        ("revisionHistoryLimit", json!(10)),
                        ("progressDeadlineSeconds", json!(600)),
                        (
                            "strategy",
                            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
                        ),
                    ] {
                        if spec.get(k).is_none() {
                            spec[k] = v;
                        }
                    }
                }
            }
            Special::Crd => prepare_crd(obj, ctx.now)?,
            Special::Custom => self.admit_custom(def, obj, old, ctx.strict)?,
            // events.k8s.io/v1 validates new Events strictly; core/v1 keeps its legacy leniency.
            Special::EventsV1 if old.is_none() => validate_new_event(obj)?,
            Special::CoreEvent | Special::EventsV1 | Special::Plain | Special::AccessReview => {}
        }
        Ok(())
    }

    fn admit_custom(
        &mut self,
        def: &ResourceDef,
        obj: &mut Value,
        old: Option<&Value>,
        strict: bool,
    ) -> Result<(), ApiError> {
        let Some(schema) = def.schema.as_ref() else { return Ok(()) };
        let name = text(obj, "/metadata/name");
        let Some(map) = obj.as_object_mut() else { return Ok(()) };
        let metadata = map.remove("metadata");
        let api_version = map.remove("apiVersion");
        let kind = map.remove("kind");
        let mut unknown = Vec::new();
        prune(schema, obj, String::new(), &mut unknown, 0);
        if strict && !unknown.is_empty() {
            let list: Vec<String> = unknown.iter().map(|p| format!("unknown field \"{p}\"")).collect();
            return Err(ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                def.kind,
                def.version,
                def.kind,
                list.join(", ")
            )));
        }
        let mut defaulted = kube::core::cel::apply_defaults(schema, obj);
        let mut causes = Vec::new();
        for v in gscale_manifest::openapi::check(schema, &defaulted) {
            let reason = match v.kind {
                gscale_manifest::openapi::ViolationKind::Required => "FieldValueRequired",
                gscale_manifest::openapi::ViolationKind::Type => "FieldValueTypeInvalid",
                gscale_manifest::openapi::ViolationKind::Enum(_) => "FieldValueNotSupported",
                _ => "FieldValueInvalid",
            };
            causes.push((v.path, reason, v.message));
        }
        if let Some(map) = defaulted.as_object_mut() {
            for (key, value) in [("apiVersion", api_version), ("kind", kind), ("metadata", metadata)] {
                if let Some(value) = value {
                    map.insert(key.to_string(), value);
                }
            }
        }
        let key = format!("{}/{}", def.storage, def.version);
        let (compiled, status_rules) = self
            .compiled
            .entry(key)
            .or_insert_with(|| {
                let status = schema.pointer("/properties/status").map(Value::to_string).unwrap_or_default();
                let rules = schema.get("x-kubernetes-validations").is_some()
                    || status.contains("x-kubernetes-validations");
                (Arc::new(compile_schema(schema)), rules)
            })
            .clone();
        // Ratcheting, as the API server does: rules over an unchanged spec cannot newly fail, so a
        // write that changes only status and metadata skips them (unless rules read status).
        let only_status = old.is_some_and(|o| generation_part(o, true) == generation_part(&defaulted, true));
        let run_rules = status_rules || !only_status;
        if causes.is_empty()
            && run_rules
            && let Err(errors) = self.validator.validate_compiled(&compiled, &defaulted, old)
        {
            for e in errors.into_vec() {
                let field = e.field_path.trim_start_matches('.').to_string();
                causes.push((field, "FieldValueInvalid", e.message.clone()));
            }
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid(&def.group_kind(), &name, causes));
        }
        *obj = defaulted;
        Ok(())
    }
}

impl Store {
    /// The `autoscaling/v1` Scale of an object with a scale subresource.
    pub fn scale_of(def: &ResourceDef, obj: &Value) -> Result<Value, ApiError> {
        let Some(paths) = &def.scale else {
            return Err(ApiError::no_route(&format!("{}/scale", def.plural)));
        };
        let int = |p: &str| patch::at_path(obj, p).and_then(Value::as_i64).unwrap_or(0);
        let selector = match paths.selector.as_deref().and_then(|p| patch::at_path(obj, p)) {
            Some(Value::String(s)) => s.clone(),
            Some(object @ Value::Object(_)) => LabelSelector::from_object(object).to_query(),
            _ => String::new(),
        };
        let meta = &obj["metadata"];
        let mut status = json!({"replicas": int(&paths.status)});
        if !selector.is_empty() {
            status["selector"] = json!(selector);
        }
        Ok(json!({
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
                "resourceVersion": meta["resourceVersion"],
                "creationTimestamp": meta["creationTimestamp"],
            },
            "spec": {"replicas": int(&paths.spec)},
            "status": status,
        }))
    }

    /// Write a Scale back to its object: only the desired replica count changes.
    pub fn set_scale(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        scale: &Value,
        ctx: &WriteCtx,
    ) -> Result<Value, ApiError> {
        let Some(paths) = def.scale.clone() else {
            return Err(ApiError::no_route(&format!("{}/scale", def.plural)));
        };
        let Some(existing) = self.stored(def, ns, name) else {
            return Err(ApiError::not_found(&def.group_resource(), name));
        };
        let mut obj = existing.object.clone();
        let wanted_rv = text(scale, "/metadata/resourceVersion");
        if !wanted_rv.is_empty() && wanted_rv != text(&obj, "/metadata/resourceVersion") {
            return Err(ApiError::conflict(&def.group_resource(), name));
        }
        let replicas = scale.pointer("/spec/replicas").and_then(Value::as_i64).filter(|n| *n >= 0);
        let Some(replicas) = replicas else {
            return Err(ApiError::invalid(
                "Scale.autoscaling",
                name,
                vec![(
                    "spec.replicas".into(),
                    "FieldValueInvalid",
                    "must be greater than or equal to 0".into(),
                )],
            ));
        };
        set_path(&mut obj, &paths.spec, json!(replicas));
        meta_mut(&mut obj).remove("resourceVersion");
        let out = self.update(def, ns, name, obj, Part::Main, ctx)?;
        Self::scale_of(def, &out)
    }

    /// Make a workload's status report its desired replicas as ready (what the controllers and
    /// kubelets of a real cluster do eventually); `false` when there was nothing to do.
    pub fn follow_replicas(&mut self, storage: &str, ns: &str, name: &str, now: Timestamp) -> bool {
        let Some(def) = self.defs.iter().find(|d| d.storage == storage && d.scale.is_some()).cloned() else {
            return false;
        };
        let Some(existing) = self.stored(&def, ns, name) else { return false };
        let mut obj = existing.object.clone();
        let want = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0);
        let generation = obj.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
        let mut status = obj.get("status").cloned().filter(Value::is_object).unwrap_or_else(|| json!({}));
        status["observedGeneration"] = generation;
        let mut fields = vec!["replicas", "readyReplicas", "availableReplicas", "updatedReplicas"];
        if def.kind == "StatefulSet" {
            fields.push("currentReplicas");
        }
        for field in fields {
            match status.as_object_mut() {
                // Zero counts are omitted, as the Go types' omitempty does.
                Some(map) if want == 0 => {
                    map.remove(field);
                }
                Some(map) => {
                    map.insert(field.to_string(), json!(want));
                }
                None => {}
            }
        }
        obj["status"] = status;
        meta_mut(&mut obj).remove("resourceVersion");
        let ctx =
            WriteCtx { now, manager: "kube-controller-manager".to_string(), dry_run: false, strict: false };
        let before = self.rv;
        self.update(&def, ns, name, obj, Part::Status, &ctx).is_ok() && self.rv != before
    }
}

/// Set a dotted path, creating objects on the way.
fn set_path(obj: &mut Value, path: &str, value: Value) {
    let parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    let mut at = obj;
    for (i, part) in parts.iter().enumerate() {
        if !at.is_object() {
            *at = json!({});
        }
        let Some(map) = at.as_object_mut() else { return };
        if i + 1 == parts.len() {
            map.insert(part.to_string(), value);
            return;
        }
        at = map.entry(part.to_string()).or_insert_with(|| json!({}));
    }
}

/// The checks events.k8s.io/v1 makes on a new Event (seen here in its stored core/v1 shape).
fn validate_new_event(core: &Value) -> Result<(), ApiError> {
    let field = |k: &str| core.get(k).and_then(Value::as_str).unwrap_or_default();
    let mut causes = Vec::new();
    let mut required = |name: &str, value: &str| {
        if value.is_empty() {
            causes.push((name.to_string(), "FieldValueRequired", "Required value".to_string()));
        }
    };
    required("eventTime", field("eventTime"));
    required("reportingController", field("reportingComponent"));
    required("reportingInstance", field("reportingInstance"));
    required("action", field("action"));
    required("reason", field("reason"));
    for (name, key, max) in [
        ("action", "action", 128),
        ("reason", "reason", 128),
        ("reportingInstance", "reportingInstance", 128),
    ] {
        if field(key).len() > max {
            causes.push((
                name.to_string(),
                "FieldValueTooLong",
                format!("Too long: may not be more than {max} bytes"),
            ));
        }
    }
    if field("message").len() > 1024 {
        causes.push((
            "note".to_string(),
            "FieldValueTooLong",
            "Too long: may not be more than 1024 bytes".to_string(),
        ));
    }
    if !matches!(field("type"), "Normal" | "Warning") {
        causes.push((
            "type".to_string(),
            "FieldValueNotSupported",
            format!("Unsupported value: \"{}\": supported values: \"Normal\", \"Warning\"", field("type")),
        ));
    }
    if causes.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid("Event.events.k8s.io", &text(core, "/metadata/name"), causes))
}

/// Why a name is not a valid RFC 1123 subdomain (or label, for namespaces), if it is not.
fn name_problem(name: &str, label: bool) -> Option<String> {
    let max = if label { 63 } else { 253 };
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (c == '.' && !label);
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let valid = name.len() <= max
        && name.chars().all(allowed)
        && edge(name.chars().next())
        && edge(name.chars().last());
    (!valid).then(|| {
        let what = if label { "RFC 1123 label" } else { "RFC 1123 subdomain" };
        format!(
            "a lowercase {what} must consist of lower case alphanumeric characters, '-'{} and must start and \
             end with an alphanumeric character (at most {max} characters)",
            if label { "" } else { " or '.'" }
        )
    })
}

fn stamp(now: Timestamp) -> String {
    now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn managed_entry(manager: &str, operation: &str, api_version: &Value, part: &str, fields: Value) -> Value {
    let mut entry = json!({
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    });
    if !part.is_empty() {
        entry["subresource"] = json!(part);
    }
    entry
}

fn strip_identity(config: &Value) -> Value {
    let mut c = config.clone();
    if let Some(map) = c.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in ["name", "namespace", "resourceVersion", "uid", "managedFields"] {
                meta.remove(k);
            }
            if meta.is_empty() {
                map.remove("metadata");
            }
        }
    }
    c
}

fn managed_part(obj: &Value) -> Value {
    patch::fields_v1(&strip_identity(obj))
}

/// The kind and apiVersion of a body must be the resource's (or absent).
fn check_type(def: &ResourceDef, body: &Value) -> Result<(), ApiError> {
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or_default();
    if !kind.is_empty() && kind != def.kind {
        return Err(ApiError::bad_request(format!(
            "the kind of the object ({kind}) does not match the resource ({}, kind {})",
            def.plural, def.kind
        )));
    }
    let api_version = body.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    if !api_version.is_empty() && api_version != def.api_version() {
        return Err(ApiError::bad_request(format!(
            "the apiVersion of the object ({api_version}) does not match the request ({})",
            def.api_version()
        )));
    }
    Ok(())
}

/// Remove fields the schema does not declare; their paths go to `unknown`.
fn prune(schema: &Value, value: &mut Value, path: String, unknown: &mut Vec<String>, depth: usize) {
    if depth > 64 || schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true)
    {
        return;
    }
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                let sub = properties.and_then(|p| p.get(&key)).or(additional.filter(|a| a.is_object()));
                match sub {
                    Some(sub) => {
                        if let Some(v) = map.get_mut(&key) {
                            prune(sub, v, child, unknown, depth + 1);
                        }
                    }
                    None if additional == Some(&Value::Bool(true)) => {}
                    None if properties.is_some()
                        || additional == Some(&Value::Bool(false))
                        || schema.get("type").and_then(Value::as_str) == Some("object") =>
                    {
                        map.remove(&key);
                        unknown.push(child);
                    }
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(item_schema, item, format!("{path}[{i}]"), unknown, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// CRDs are Established and their names accepted at once.
fn prepare_crd(obj: &mut Value, now: Timestamp) -> Result<(), ApiError> {
    let name = text(obj, "/metadata/name");
    let group = text(obj, "/spec/group");
    let plural = text(obj, "/spec/names/plural");
    let kind = text(obj, "/spec/names/kind");
    let mut causes = Vec::new();
    if group.is_empty() {
        causes.push(("spec.group".to_string(), "FieldValueRequired", "Required value".to_string()));
    }
    if plural.is_empty() {
        causes.push(("spec.names.plural".to_string(), "FieldValueRequired", "Required value".to_string()));
    }
    if kind.is_empty() {
        causes.push(("spec.names.kind".to_string(), "FieldValueRequired", "Required value".to_string()));
    }
    if name != format!("{plural}.{group}") {
        causes.push((
            "metadata.name".to_string(),
            "FieldValueInvalid",
            "must be spec.names.plural+\".\"+spec.group".to_string(),
        ));
    }
    let versions = obj.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    if versions.is_empty() {
        causes.push((
            "spec.versions".to_string(),
            "FieldValueRequired",
            "Required value: must have exactly one version marked as storage version".to_string(),
        ));
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid("CustomResourceDefinition.apiextensions.k8s.io", &name, causes));
    }
    let names = &mut obj["spec"]["names"];
    if names.get("singular").is_none() {
        names["singular"] = json!(kind.to_ascii_lowercase());
    }
    if names.get("listKind").is_none() {
        names["listKind"] = json!(format!("{kind}List"));
    }
    let accepted = names.clone();
    if obj["spec"].get("conversion").is_none() {
        obj["spec"]["conversion"] = json!({"strategy": "None"});
    }
    let storage: Vec<Value> = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name").cloned())
        .collect();
    let time = stamp(now);
    let since = obj
        .pointer("/status/conditions/0/lastTransitionTime")
        .and_then(Value::as_str)
        .map_or(time, str::to_string);
    obj["status"] = json!({
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": since},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": since},
        ],
        "acceptedNames": accepted,
        "storedVersions": storage,
    });
    Ok(())
}

/// core/v1 Event -> events.k8s.io/v1 Event.
fn core_to_events_v1(core: &Value) -> Value {
    let mut out = Map::new();
    let renames = [
        ("involvedObject", "regarding"),
        ("message", "note"),
        ("reportingComponent", "reportingController"),
        ("reportingInstance", "reportingInstance"),
        ("source", "deprecatedSource"),
        ("firstTimestamp", "deprecatedFirstTimestamp"),
        ("lastTimestamp", "deprecatedLastTimestamp"),
        ("count", "deprecatedCount"),
    ];
    for key in ["metadata", "reason", "type", "action", "related", "series", "eventTime"] {
        if let Some(v) = core.get(key).filter(|v| !v.is_null()) {
            out.insert(key.to_string(), v.clone());
        }
    }
    for (from, to) in renames {
        if let Some(v) = core.get(from).filter(|v| !v.is_null()) {
            out.insert(to.to_string(), v.clone());
        }
    }
    if !out.contains_key("reportingController")
        && let Some(c) = core.pointer("/source/component")
    {
        out.insert("reportingController".to_string(), c.clone());
    }
    Value::Object(out)
}

/// events.k8s.io/v1 Event -> core/v1 Event (the stored form).
fn events_v1_to_core(v1: &Value) -> Value {
    let mut out = Map::new();
    for key in ["metadata", "reason", "type", "action", "related", "series", "eventTime"] {
        if let Some(v) = v1.get(key).filter(|v| !v.is_null()) {
            out.insert(key.to_string(), v.clone());
        }
    }
    let renames = [
        ("regarding", "involvedObject"),
        ("note", "message"),
        ("reportingController", "reportingComponent"),
        ("reportingInstance", "reportingInstance"),
        ("deprecatedSource", "source"),
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"),
    ];
    for (from, to) in renames {
        if let Some(v) = v1.get(from).filter(|v| !v.is_null()) {
            out.insert(to.to_string(), v.clone());
        }
    }
    if let Some(count) = v1.pointer("/series/count") {
        out.insert("count".to_string(), count.clone());
    }
    if !out.contains_key("source")
        && let Some(c) = v1.get("reportingController")
    {
        out.insert("source".to_string(), json!({"component": c}));
    }
    if !out.contains_key("involvedObject") {
        out.insert("involvedObject".to_string(), json!({}));
    }
    out.insert("apiVersion".to_string(), json!("v1"));
    out.insert("kind".to_string(), json!("Event"));
    Value::Object(out)
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

    #[test]
    fn events_convert_between_the_two_apis_without_loss() {
        let v1 = json!({
            "metadata": {"name": "e"},
            "regarding": {"kind": "Deployment", "name": "web"},
            "note": "scaled",
            "reason": "ScaledUp",
            "type": "Normal",
            "reportingController": "gscale",
            "series": {"count": 3, "lastObservedTime": "2026-01-01T00:00:00.000000Z"},
        });
        let core = events_v1_to_core(&v1);
        assert_eq!(core["involvedObject"]["name"], "web");
        assert_eq!(core["message"], "scaled");
        assert_eq!(core["count"], 3);
        assert_eq!(core["source"]["component"], "gscale");
        let back = core_to_events_v1(&core);
        for key in ["regarding", "note", "reason", "type", "reportingController", "series"] {
            assert_eq!(back[key], v1[key], "{key}");
        }
    }
}
