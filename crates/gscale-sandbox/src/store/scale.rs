//! The scale subresource: an `autoscaling/v1` Scale read from and written to the paths a kind
//! declares (`spec.replicas` for workloads, the CRD's `specReplicasPath` for custom kinds), and
//! workload status that follows `spec.replicas` (the sandbox's only controller).

use super::*;

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
pub(super) fn set_path(obj: &mut Value, path: &str, value: Value) {
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
