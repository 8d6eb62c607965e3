//! Server-side apply: the applied configuration merged over the live object, fields owned per
//! manager in `managedFields`, conflicts with other managers (unless forced), and the entries
//! an Apply or Update operation leaves behind. The merge itself is `patch::apply_merge`.

use super::*;

impl Store {
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
        let Some(existing) = self.stored(def, ns, name) else {
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
}

pub(super) fn managed_entry(
    manager: &str,
    operation: &str,
    api_version: &Value,
    part: &str,
    fields: Value,
) -> Value {
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

pub(super) fn strip_identity(config: &Value) -> Value {
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

pub(super) fn managed_part(obj: &Value) -> Value {
    patch::fields_v1(&strip_identity(obj))
}
