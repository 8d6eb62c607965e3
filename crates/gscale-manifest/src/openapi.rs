//! Checking a JSON value against a CRD's structural OpenAPI v3 schema, the way the API server's
//! strict field validation does: types, required fields, enums, ranges, lengths, unknown fields.
//!
//! Used by `gscale validate` and by the sandbox API for any CRD it serves. CEL rules are checked
//! separately (kube's CEL validator); this module only walks the structural part.

use serde_json::Value;

/// One way a value breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Field path, such as `spec.metrics[0].targetValue`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What kind of wrong, for hints.
    pub kind: ViolationKind,
}

/// The kinds of schema violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViolationKind {
    /// A field the schema does not know.
    UnknownField,
    /// A required field is missing.
    Required,
    /// The value has the wrong JSON type.
    Type,
    /// The value is not one of the allowed ones.
    Enum(Vec<String>),
    /// The value is out of range or too long/short.
    Range,
    /// A whole number outside what its integer format (int32, uint32...) can hold, whatever the
    /// schema's own bounds: the allowed range, both ends included.
    IntegerRange {
        /// Smallest allowed value.
        min: i128,
        /// Largest allowed value.
        max: i128,
    },
}

/// Check `value` against `schema`; every violation is collected, none stops the walk.
pub fn check(schema: &Value, value: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    walk(schema, value, "", &mut out, 0);
    out
}

fn walk(schema: &Value, value: &Value, path: &str, out: &mut Vec<Violation>, depth: usize) {
    if depth > 64 {
        return;
    }
    let push = |out: &mut Vec<Violation>, kind: ViolationKind, message: String| {
        out.push(Violation { path: path.to_string(), message, kind });
    };
    if value.is_null() {
        if !schema.get("nullable").and_then(Value::as_bool).unwrap_or(false) {
            let expected = schema.get("type").and_then(Value::as_str).unwrap_or("a value");
            push(out, ViolationKind::Type, format!("must be {}, not null", article(expected)));
        }
        return;
    }
    if schema.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true) {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            push(
                out,
                ViolationKind::Type,
                format!("must be an integer or a string, not {}", describe(value)),
            );
        }
        return;
    }
    if let Some(ty) = schema.get("type").and_then(Value::as_str) {
        let ok = match ty {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0),
            "number" => value.is_number(),
            _ => true,
        };
        if !ok {
            push(out, ViolationKind::Type, format!("must be {}, not {}", article(ty), describe(value)));
            return;
        }
        if ty == "integer"
            && let Some((format_min, format_max)) = format_range(schema)
            && let Some(n) = value.as_f64()
            && !(format_min as f64..=format_max as f64).contains(&n)
        {
            let (min, max) = narrow(schema, format_min, format_max);
            // The parsed type cannot hold it: the schema's minimum/maximum would only add noise.
            push(
                out,
                ViolationKind::IntegerRange { min, max },
                format!("must be a whole number from {min} to {max}, not {value}"),
            );
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let names: Vec<String> =
            allowed.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect();
        push(
            out,
            ViolationKind::Enum(names.clone()),
            format!("{} is not one of: {}", value, names.join(", ")),
        );
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            let exclusive = schema.get("exclusiveMinimum").and_then(Value::as_bool).unwrap_or(false);
            if n < min || (exclusive && n == min) {
                let op = if exclusive { "greater than" } else { "at least" };
                push(out, ViolationKind::Range, format!("must be {op} {min}, not {value}"));
            }
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            let exclusive = schema.get("exclusiveMaximum").and_then(Value::as_bool).unwrap_or(false);
            if n > max || (exclusive && n == max) {
                let op = if exclusive { "less than" } else { "at most" };
                push(out, ViolationKind::Range, format!("must be {op} {max}, not {value}"));
            }
        }
    }
    if let Some(s) = value.as_str() {
        let len = s.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            push(out, ViolationKind::Range, format!("must be at least {min} characters long"));
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            push(out, ViolationKind::Range, format!("must be at most {max} characters long"));
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            push(out, ViolationKind::Range, format!("must have at least {min} items"));
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
            && (items.len() as u64) > max
        {
            push(out, ViolationKind::Range, format!("must have at most {max} items"));
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                walk(item_schema, item, &format!("{path}[{i}]"), out, depth + 1);
            }
        }
    }
    if let Some(fields) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties").filter(|a| a.is_object());
        let preserve =
            schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !fields.contains_key(name) {
                    out.push(Violation {
                        path: join(path, name),
                        message: "is required".to_string(),
                        kind: ViolationKind::Required,
                    });
                }
            }
        }
        for (name, field) in fields {
            let child = join(path, name);
            if let Some(field_schema) = properties.and_then(|p| p.get(name)) {
                walk(field_schema, field, &child, out, depth + 1);
            } else if depth == 0 && matches!(name.as_str(), "apiVersion" | "kind" | "metadata") {
                // The API server accepts these at the root of every object; CRD schemas leave them out.
            } else if let Some(additional) = additional {
                walk(additional, field, &child, out, depth + 1);
            } else if !preserve
                && (properties.is_some() || schema.get("additionalProperties") == Some(&Value::Bool(false)))
            {
                let known: Vec<&str> =
                    properties.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
                let message = match closest(name, &known) {
                    Some(close) => format!("unknown field \"{name}\" (did you mean \"{close}\"?)"),
                    None => format!("unknown field \"{name}\""),
                };
                out.push(Violation { path: child, message, kind: ViolationKind::UnknownField });
            }
        }
    }
}

/// The range an integer format (int32, uint32...) can hold; `None` for other formats.
fn format_range(schema: &Value) -> Option<(i128, i128)> {
    Some(match schema.get("format").and_then(Value::as_str)? {
        "int8" => (i128::from(i8::MIN), i128::from(i8::MAX)),
        "int16" => (i128::from(i16::MIN), i128::from(i16::MAX)),
        "int32" => (i128::from(i32::MIN), i128::from(i32::MAX)),
        "int64" => (i128::from(i64::MIN), i128::from(i64::MAX)),
        "uint8" => (0, i128::from(u8::MAX)),
        "uint16" => (0, i128::from(u16::MAX)),
        "uint32" => (0, i128::from(u32::MAX)),
        "uint64" => (0, i128::from(u64::MAX)),
        _ => return None,
    })
}

/// A format's range narrowed by the schema's minimum and maximum, to name what is really allowed.
fn narrow(schema: &Value, mut min: i128, mut max: i128) -> (i128, i128) {
    // The float-to-int cast saturates, so a bound beyond i128 cannot wrap.
    if let Some(lo) = schema.get("minimum").and_then(Value::as_f64) {
        min = min.max(lo.ceil() as i128);
    }
    if let Some(hi) = schema.get("maximum").and_then(Value::as_f64) {
        max = max.min(hi.floor() as i128);
    }
    (min, max)
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

fn article(ty: &str) -> String {
    match ty {
        "object" | "array" | "integer" => format!("an {ty}"),
        _ => format!("a {ty}"),
    }
}

/// A value in words for a message: `the number 5`, `the string \"x\"`, `a mapping`.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > 40 => "a string".to_string(),
        Value::String(s) => format!("the string \"{s}\""),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a mapping".to_string(),
    }
}

/// The known name nearest to a misspelt one, when it is near enough to be a likely typo.
pub fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&lower, &k.to_ascii_lowercase()), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn collects_every_violation_with_its_path() {
        let schema = json!({"type": "object", "required": ["a"], "properties": {
            "a": {"type": "integer", "minimum": 1},
            "b": {"type": "array", "items": {"type": "string", "enum": ["x", "y"]}},
            "m": {"type": "object", "additionalProperties": {"type": "string"}}
        }});
        let v = check(&schema, &json!({"b": ["x", "z", 3], "m": {"k": 1}, "aa": true}));
        let paths: Vec<&str> = v.iter().map(|v| v.path.as_str()).collect();
        assert_eq!(paths, ["a", "aa", "b[1]", "b[2]", "m.k"], "{v:#?}");
        assert!(v[1].message.contains("did you mean \"a\""), "{}", v[1].message);
        assert!(check(&schema, &json!({"a": 0})).iter().any(|v| v.kind == ViolationKind::Range));
    }

    #[test]
    fn object_root_fields_are_always_known() {
        let schema =
            json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"x": {}}}}});
        let doc = json!({"apiVersion": "v1", "kind": "K", "metadata": {"name": "x"}, "spec": {}});
        assert!(check(&schema, &doc).is_empty());
        assert_eq!(check(&schema, &json!({"spec": {"kind": 1}}))[0].path, "spec.kind");
    }

    #[test]
    fn integers_beyond_their_format_name_the_range_once() {
        let schema = json!({"type": "object", "properties": {
            "i": {"type": "integer", "format": "int32", "minimum": 1.0},
            "u": {"type": "integer", "format": "uint32"}
        }});
        for (value, path, range) in [
            (json!({"i": 99_999_999_999_i64}), "i", (1, 2_147_483_647)),
            (json!({"i": 1e308}), "i", (1, 2_147_483_647)),
            (json!({"u": -1}), "u", (0, 4_294_967_295)),
        ] {
            let v = check(&schema, &value);
            assert_eq!(v.len(), 1, "{v:#?}");
            assert_eq!(v[0].path, path);
            assert_eq!(v[0].kind, ViolationKind::IntegerRange { min: range.0, max: range.1 });
            assert!(
                v[0].message.starts_with(&format!("must be a whole number from {} to {}", range.0, range.1))
            );
        }
        assert!(check(&schema, &json!({"i": 2_147_483_647, "u": 4_294_967_295_u64})).is_empty());
        // Inside the format but below the schema's minimum: a plain range violation.
        assert_eq!(check(&schema, &json!({"i": 0}))[0].kind, ViolationKind::Range);
    }

    #[test]
    fn suggests_near_names_only() {
        assert_eq!(closest("maxReplica", &["maxReplicas", "minReplicas"]), Some("maxReplicas"));
        assert_eq!(closest("zzz", &["maxReplicas"]), None);
    }
}
