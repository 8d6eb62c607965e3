//! Admission: what a write must pass before it is stored. Kind and apiVersion checks, names (RFC
//! 1123), defaulting, pruning or strict unknown-field errors and structural and CEL validation
//! of custom resources against their CRD's schema, CRDs established at once, and the checks
//! events.k8s.io/v1 makes on a new Event.

use super::*;

impl Store {
    /// Kind-specific rules and custom-resource admission, before a write is stored.
    pub(super) fn prepare(
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
            Special::CoreEvent
            | Special::EventsV1
            | Special::Plain
            | Special::AccessReview
            | Special::Metrics => {}
        }
        Ok(())
    }

    pub(super) fn admit_custom(
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
        let only_status = old.is_some_and(|o| same_generation_part(o, &defaulted, true));
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

/// The checks events.k8s.io/v1 makes on a new Event (seen here in its stored core/v1 shape).
pub(super) fn validate_new_event(core: &Value) -> Result<(), ApiError> {
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
pub(super) fn name_problem(name: &str, label: bool) -> Option<String> {
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

/// The kind and apiVersion of a body must be the resource's (or absent).
pub(super) fn check_type(def: &ResourceDef, body: &Value) -> Result<(), ApiError> {
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
pub(super) fn prune(
    schema: &Value,
    value: &mut Value,
    path: String,
    unknown: &mut Vec<String>,
    depth: usize,
) {
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
pub(super) fn prepare_crd(obj: &mut Value, now: Timestamp) -> Result<(), ApiError> {
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
