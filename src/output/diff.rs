//! What changed between two versions of an object, one line per field, as `gscale install` prints
//! it: `~ spec.replicas: 2 -> 3`, `+ spec.template.spec.priorityClassName: high`, `- metadata.labels.x`.
//!
//! Lists are compared item by item (a container's image shows as `containers[0].image`).

use serde_json::Value;

/// The changed fields from `before` to `after`, each on one line: fields of `before` in key order,
/// then the fields only `after` has.
pub fn changes(before: &Value, after: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    walk("", before, after, &mut lines);
    lines
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn short(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    // A whole changed block (a new rule, a new container) is summed up, not printed in full.
    if text.chars().count() > 100 {
        format!("{}...", text.chars().take(97).collect::<String>())
    } else {
        text
    }
}

fn walk(path: &str, before: &Value, after: &Value, lines: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, old) in a {
                match b.get(key) {
                    Some(new) => walk(&join(path, key), old, new, lines),
                    None => lines.push(format!("- {}", join(path, key))),
                }
            }
            for (key, new) in b.iter().filter(|(key, _)| !a.contains_key(*key)) {
                lines.push(format!("+ {}: {}", join(path, key), short(new)));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (old, new)) in a.iter().zip(b).enumerate() {
                walk(&format!("{path}[{i}]"), old, new, lines);
            }
            for (i, new) in b.iter().enumerate().skip(a.len()) {
                lines.push(format!("+ {path}[{i}]: {}", short(new)));
            }
            for i in b.len()..a.len() {
                lines.push(format!("- {path}[{i}]"));
            }
        }
        (old, new) if old != new => lines.push(format!("~ {path}: {} -> {}", short(old), short(new))),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_changed_field_is_one_line() {
        let before = json!({"spec": {"replicas": 2, "template": {"containers": [{"image": "a:1", "args": ["run"]}]}, "old": 1}});
        let after = json!({"spec": {"replicas": 3, "template": {"containers": [{"image": "a:2", "args": ["run", "-v"]}]}, "new": {"x": 1}}});
        assert_eq!(
            changes(&before, &after),
            [
                "- spec.old",
                "~ spec.replicas: 2 -> 3",
                "+ spec.template.containers[0].args[1]: -v",
                "~ spec.template.containers[0].image: a:1 -> a:2",
                "+ spec.new: {\"x\":1}",
            ]
        );
        assert!(changes(&after, &after).is_empty());
    }
}
