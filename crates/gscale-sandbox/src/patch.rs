//! Patch semantics: JSON merge patch (RFC 7396), JSON patch (RFC 6902), an approximation of
//! strategic merge patch, and the merge behind server-side apply with per-manager ownership.
//!
//! Approximations, stated once:
//! - strategic merge patch is a merge patch in which lists of objects that all carry a merge key
//!   (`name`, `type`, `containerPort`, `mountPath`, `ip`) are merged item by item on that key, and
//!   `$patch: delete|replace`, `$retainKeys`, `$setElementOrder/..`, `$deleteFromPrimitiveList/..`
//!   directives are honoured only as far as delete/replace of list items and maps; the rest are dropped.
//! - server-side apply treats every list as atomic (replaced whole), owns fields per manager as the
//!   last configuration that manager applied, removes fields a manager stops applying, and reports a
//!   conflict when another apply manager applied a different value at the same leaf path (a plain
//!   update takes ownership of the leaves it changes away from their appliers). `managedFields` lists
//!   each manager with the fields of its last request; it is a faithful shape, not a full field set.

use serde_json::{Map, Value};

use super::status::ApiError;

/// Apply a JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// Apply a JSON patch (a list of operations).
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
    json_patch::patch(target, &ops)
        .map_err(|e| ApiError::new(422, "Invalid", format!("the JSON patch failed: {e}")))
}

const MERGE_KEYS: [&str; 5] = ["name", "type", "containerPort", "mountPath", "ip"];

/// Apply a strategic merge patch (approximated, see the module notes).
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replaced = patch.clone();
        replaced.remove("$patch");
        *target = Value::Object(replaced);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(out) = target.as_object_mut() else { return };
    for (key, value) in patch {
        if key.starts_with('$') {
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(gone)) = (out.get_mut(field), value) {
                list.retain(|v| !gone.contains(v));
            }
            continue;
        }
        match value {
            Value::Null => {
                out.remove(key);
            }
            Value::Array(items) => match out.get_mut(key) {
                Some(Value::Array(existing)) => {
                    if let Some(merge_key) = list_merge_key(existing, items) {
                        merge_list(existing, items, merge_key);
                    } else {
                        *existing = items.clone();
                    }
                }
                _ => {
                    let cleaned: Vec<Value> = items
                        .iter()
                        .filter(|i| i.get("$patch").and_then(Value::as_str) != Some("delete"))
                        .cloned()
                        .collect();
                    out.insert(key.clone(), Value::Array(cleaned));
                }
            },
            Value::Object(inner) if inner.get("$patch").and_then(Value::as_str) == Some("delete") => {
                out.remove(key);
            }
            Value::Object(_) => {
                let slot = out.entry(key.clone()).or_insert(Value::Null);
                strategic_merge(slot, value);
            }
            scalar => {
                out.insert(key.clone(), scalar.clone());
            }
        }
    }
    out.retain(|k, _| !k.starts_with("$setElementOrder/") && !k.starts_with("$deleteFromPrimitiveList/"));
}

fn list_merge_key(existing: &[Value], patch: &[Value]) -> Option<&'static str> {
    MERGE_KEYS.into_iter().find(|key| {
        !patch.is_empty()
            && patch.iter().chain(existing).all(|item| item.get(*key).is_some_and(|v| !v.is_null()))
    })
}

fn merge_list(existing: &mut Vec<Value>, patch: &[Value], key: &str) {
    for item in patch {
        let id = item.get(key);
        let at = existing.iter().position(|e| e.get(key) == id);
        let directive = item.get("$patch").and_then(Value::as_str);
        match (at, directive) {
            (Some(i), Some("delete")) => {
                existing.remove(i);
            }
            (None, Some("delete")) => {}
            (Some(i), _) => strategic_merge(&mut existing[i], item),
            (None, _) => {
                let mut fresh = Value::Object(Map::new());
                strategic_merge(&mut fresh, item);
                existing.push(fresh);
            }
        }
    }
}

/// Merge an applied configuration into `target`: set what `applied` sets, and remove what this
/// manager applied last time (`previous`) but applies no more.
pub fn apply_merge(target: &mut Value, applied: &Value, previous: Option<&Value>) {
    let (Some(out), Some(fields)) = (target.as_object_mut(), applied.as_object()) else {
        *target = applied.clone();
        return;
    };
    if let Some(Value::Object(prev)) = previous {
        for key in prev.keys() {
            if !fields.contains_key(key) {
                out.remove(key);
            }
        }
    }
    for (key, value) in fields {
        let prev = previous.and_then(|p| p.get(key));
        match (out.get_mut(key), value) {
            (_, Value::Null) => {
                out.remove(key);
            }
            (Some(existing @ Value::Object(_)), Value::Object(_)) => apply_merge(existing, value, prev),
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Every leaf of a configuration, as (path, value); lists are leaves (atomic).
pub fn leaves(value: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    collect_leaves(value, String::new(), &mut out);
    out
}

fn collect_leaves<'a>(value: &'a Value, path: String, out: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                collect_leaves(v, format!("{path}.{k}"), out);
            }
        }
        _ => out.push((path, value)),
    }
}

/// The value at a dotted leaf path.
pub fn at_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').filter(|p| !p.is_empty()).try_fold(value, |v, key| v.get(key))
}

/// Remove a dotted leaf path (used when a field changes owner); empty parents are removed too.
pub fn remove_path(value: &mut Value, path: &str) {
    let parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    remove_parts(value, &parts);
}

fn remove_parts(value: &mut Value, parts: &[&str]) -> bool {
    let Some(map) = value.as_object_mut() else { return false };
    match parts {
        [] => false,
        [last] => {
            map.remove(*last);
            map.is_empty()
        }
        [first, rest @ ..] => {
            if let Some(child) = map.get_mut(*first)
                && remove_parts(child, rest)
            {
                map.remove(*first);
            }
            map.is_empty()
        }
    }
}

/// The `fieldsV1` set of a configuration: `{"f:spec": {"f:replicas": {}}}`.
pub fn fields_v1(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(format!("f:{k}"), fields_v1(v));
            }
            Value::Object(out)
        }
        _ => Value::Object(Map::new()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn strategic_merge_merges_named_lists_and_honours_delete() {
        let mut target =
            json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let patch =
            json!({"spec": {"containers": [{"name": "a", "image": "z"}, {"name": "b", "$patch": "delete"}]}});
        strategic_merge(&mut target, &patch);
        assert_eq!(target, json!({"spec": {"containers": [{"name": "a", "image": "z"}]}}));
    }

    #[test]
    fn apply_merge_removes_fields_the_manager_stops_applying() {
        let mut target = json!({"spec": {"a": 1, "b": 2, "c": 3}});
        let previous = json!({"spec": {"a": 1, "b": 2}});
        apply_merge(&mut target, &json!({"spec": {"a": 5}}), Some(&previous));
        assert_eq!(target, json!({"spec": {"a": 5, "c": 3}}));
    }

    #[test]
    fn leaves_and_paths_round_trip() {
        let value = json!({"spec": {"replicas": 3, "list": [1]}});
        let all = leaves(&value);
        assert_eq!(all.len(), 2);
        assert_eq!(at_path(&value, ".spec.replicas"), Some(&json!(3)));
        let mut v = value.clone();
        remove_path(&mut v, ".spec.replicas");
        remove_path(&mut v, ".spec.list");
        assert_eq!(v, json!({}));
    }
}
