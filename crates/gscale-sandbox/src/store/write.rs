//! Writes that replace an object: create (names, generateName, uid, defaults), update and status
//! updates (resourceVersion preconditions, generation on spec changes, no-op detection), with the
//! managed fields of an Update operation. Server-side apply is in `apply`; what a write must pass
//! is in `admission`.

use super::*;

impl Store {
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

    pub(super) fn create_as(
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

    #[allow(clippy::too_many_arguments)]
    pub(super) fn write(
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
                return Err(crate::server::uid_is_immutable(def, name, &wanted_uid));
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
            let bump = !same_generation_part(&obj, old, def.status);
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
        if same_content(&obj, old) {
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
}
