//! `kubectl get` tables (`meta.k8s.io/v1` Table): the columns a CRD declares in
//! `additionalPrinterColumns` (through a JSONPath subset) and kubectl-like defaults for built-ins.
//!
//! The JSONPath subset: `.a.b`, `.a[0]`, `.a[*]`, and filters `[?(@.k=="v")]` / `!=`; a column
//! with several results shows them comma-separated. Other JSONPath forms yield an empty cell.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::registry::{Column, ResourceDef, Special};

/// Evaluate a JSONPath of the supported subset.
pub fn json_path<'a>(root: &'a Value, path: &str) -> Vec<&'a Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let path = path.strip_prefix('$').unwrap_or(path);
    let mut current = vec![root];
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let key = &after[..end];
            rest = &after[end..];
            if key.is_empty() {
                continue;
            }
            current = current.into_iter().filter_map(|v| v.get(key)).collect();
        } else if let Some(after) = rest.strip_prefix('[') {
            let Some(end) = find_close(after) else { return Vec::new() };
            let inner = &after[..end];
            rest = &after[end + 1..];
            current = step_bracket(current, inner);
        } else {
            return Vec::new();
        }
    }
    current
}

fn find_close(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quoted = None;
    for (i, c) in text.char_indices() {
        match (c, quoted) {
            ('"' | '\'', None) => quoted = Some(c),
            (q, Some(open)) if q == open => quoted = None,
            ('(', None) => depth += 1,
            (')', None) => depth = depth.saturating_sub(1),
            (']', None) if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

fn step_bracket<'a>(current: Vec<&'a Value>, inner: &str) -> Vec<&'a Value> {
    let items = current.into_iter().flat_map(|v| v.as_array().into_iter().flatten());
    if inner == "*" {
        return items.collect();
    }
    if let Ok(index) = inner.parse::<usize>() {
        return items.collect::<Vec<_>>().get(index).copied().into_iter().collect();
    }
    let Some(filter) = inner.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) else { return Vec::new() };
    let (lhs, equal, rhs) = match filter.split_once("!=") {
        Some((l, r)) => (l, false, r),
        None => match filter.split_once("==") {
            Some((l, r)) => (l, true, r),
            None => return Vec::new(),
        },
    };
    let Some(field) = lhs.trim().strip_prefix('@') else { return Vec::new() };
    let rhs = rhs.trim();
    let want: Value = if let Some(s) = rhs.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Value::String(s.to_string())
    } else if let Some(s) = rhs.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        Value::String(s.to_string())
    } else {
        serde_json::from_str(rhs).unwrap_or(Value::String(rhs.to_string()))
    };
    items.filter(|item| json_path(item, field).first().is_some_and(|v| **v == want) == equal).collect()
}

/// A duration the way kubectl prints ages (`45s`, `3m12s`, `5h`, `12d`).
pub fn age(since: &str, now: Timestamp) -> String {
    let Ok(then) = since.parse::<Timestamp>() else { return "<unknown>".to_string() };
    let secs = (now.as_second() - then.as_second()).max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    match () {
        _ if secs < 120 => format!("{secs}s"),
        _ if m < 10 && secs % 60 == 0 => format!("{m}m"),
        _ if m < 10 => format!("{m}m{}s", secs % 60),
        _ if m < 180 => format!("{m}m"),
        _ if h < 8 && m % 60 == 0 => format!("{h}h"),
        _ if h < 8 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if d < 8 && h % 24 == 0 => format!("{d}d"),
        _ if d < 8 => format!("{d}d{}h", h % 24),
        _ if d < 730 => format!("{d}d"),
        _ => format!("{}y", d / 365),
    }
}

fn column(name: &str, kind: &str, json_path: &str) -> Column {
    Column {
        name: name.to_string(),
        kind: kind.to_string(),
        format: if name == "Name" { "name".to_string() } else { String::new() },
        description: String::new(),
        priority: 0,
        json_path: json_path.to_string(),
    }
}

/// The columns of a resource: its printer columns, or the defaults for built-ins.
fn columns(def: &ResourceDef) -> Vec<Column> {
    let name = column("Name", "string", ".metadata.name");
    let age_col = column("Age", "date", ".metadata.creationTimestamp");
    match (def.special, def.kind.as_str()) {
        (Special::Custom, _) if !def.columns.is_empty() => {
            std::iter::once(name).chain(def.columns.iter().cloned()).collect()
        }
        (Special::Workload, "Deployment") => vec![
            name,
            column("Ready", "string", "#ready"),
            column("Up-to-date", "integer", ".status.updatedReplicas"),
            column("Available", "integer", ".status.availableReplicas"),
            age_col,
        ],
        (Special::Workload, _) => vec![name, column("Ready", "string", "#ready"), age_col],
        (Special::Namespace, _) => vec![name, column("Status", "string", ".status.phase"), age_col],
        (Special::Secret, _) => {
            vec![name, column("Type", "string", ".type"), column("Data", "integer", "#data"), age_col]
        }
        (Special::CoreEvent | Special::EventsV1, _) => vec![
            column("Last Seen", "string", "#lastseen"),
            column("Type", "string", ".type"),
            column("Reason", "string", ".reason"),
            column("Object", "string", "#object"),
            column("Message", "string", "#message"),
        ],
        (Special::Crd, _) => vec![name, column("Created At", "string", ".metadata.creationTimestamp")],
        _ if def.kind == "Lease" => vec![name, column("Holder", "string", ".spec.holderIdentity"), age_col],
        _ if def.kind == "ConfigMap" => vec![name, column("Data", "integer", "#data"), age_col],
        _ => vec![name, age_col],
    }
}

fn cell(col: &Column, obj: &Value, now: Timestamp) -> Value {
    let int = |p: &str| obj.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    match col.json_path.as_str() {
        "#ready" => return json!(format!("{}/{}", int("/status/readyReplicas"), int("/spec/replicas"))),
        "#data" => {
            let n = obj.get("data").and_then(Value::as_object).map_or(0, |m| m.len());
            return json!(n);
        }
        "#object" => {
            let r = obj.get("involvedObject").or_else(|| obj.get("regarding")).cloned().unwrap_or_default();
            let kind = r["kind"].as_str().unwrap_or_default().to_ascii_lowercase();
            return json!(format!("{kind}/{}", r["name"].as_str().unwrap_or_default()));
        }
        "#message" => return obj.get("message").or_else(|| obj.get("note")).cloned().unwrap_or(json!("")),
        "#lastseen" => {
            let ts = ["lastTimestamp", "deprecatedLastTimestamp", "eventTime"]
                .iter()
                .filter_map(|k| obj.get(*k).and_then(Value::as_str))
                .chain(obj.pointer("/series/lastObservedTime").and_then(Value::as_str))
                .chain(obj.pointer("/metadata/creationTimestamp").and_then(Value::as_str))
                .next()
                .unwrap_or_default();
            return json!(age(ts, now));
        }
        _ => {}
    }
    let found = json_path(obj, &col.json_path);
    let Some(first) = found.first() else { return Value::Null };
    match col.kind.as_str() {
        "date" => first.as_str().map_or(Value::Null, |s| json!(age(s, now))),
        "integer" | "number" | "boolean" if found.len() == 1 => (*first).clone(),
        _ => {
            let parts: Vec<String> = found
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            json!(parts.join(","))
        }
    }
}

/// A Table of `objects` (already rendered for `def`).
pub fn table(
    def: &ResourceDef,
    objects: &[Value],
    resource_version: &str,
    wide: bool,
    now: Timestamp,
) -> Value {
    let cols: Vec<Column> = columns(def).into_iter().filter(|c| wide || c.priority == 0).collect();
    let definitions: Vec<Value> = cols
        .iter()
        .map(|c| {
            let ty = if c.kind == "date" { "string" } else { c.kind.as_str() };
            json!({"name": c.name, "type": ty, "format": c.format, "description": c.description, "priority": c.priority})
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let cells: Vec<Value> = cols.iter().map(|c| cell(c, obj, now)).collect();
            json!({
                "cells": cells,
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj.get("metadata").cloned().unwrap_or_default(),
                },
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_path_subset_reads_fields_indexes_and_filters() {
        let obj = json!({"status": {"conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "Active", "status": "False"}
        ]}, "spec": {"n": 3}});
        assert_eq!(json_path(&obj, ".spec.n"), vec![&json!(3)]);
        assert_eq!(json_path(&obj, ".status.conditions[1].type"), vec![&json!("Active")]);
        assert_eq!(json_path(&obj, ".status.conditions[*].type").len(), 2);
        assert_eq!(json_path(&obj, r#".status.conditions[?(@.type=="Ready")].status"#), vec![&json!("True")]);
        assert_eq!(
            json_path(&obj, r#".status.conditions[?(@.type!="Ready")].status"#),
            vec![&json!("False")]
        );
        assert!(json_path(&obj, ".missing.x").is_empty());
    }

    #[test]
    fn ages_print_like_kubectl() {
        let now: Timestamp = "2026-01-01T01:00:00Z".parse().unwrap();
        assert_eq!(age("2026-01-01T00:59:15Z", now), "45s");
        assert_eq!(age("2026-01-01T00:55:00Z", now), "5m");
        assert_eq!(age("2026-01-01T00:55:30Z", now), "4m30s");
        assert_eq!(age("2026-01-01T00:00:00Z", now), "60m");
        assert_eq!(age("2025-12-30T01:00:00Z", now), "2d");
    }
}
