//! Label and field selectors, parsed from the `labelSelector` and `fieldSelector` query parameters
//! and matched against stored objects.
//!
//! Label selectors take the full kubectl syntax (`a=b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`,
//! `!a`). Field selectors take `path=value`, `path==value` and `path!=value` over any dotted path
//! of the object (`metadata.name`, `involvedObject.uid`, ...); a missing field reads as "".

use std::collections::BTreeSet;

use serde_json::Value;

use super::status::ApiError;

#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<LabelReq>);

impl LabelSelector {
    /// Parse the selector syntax kubectl sends.
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let bad = |part: &str| ApiError::bad_request(format!("unable to parse requirement: {part:?}"));
        let mut reqs = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            if let Some(key) = part.strip_prefix('!') {
                reqs.push(LabelReq::NotExists(key.trim().to_string()));
            } else if let Some((key, value)) = part.split_once("!=") {
                reqs.push(LabelReq::NotEq(key.trim().to_string(), value.trim().to_string()));
            } else if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
                reqs.push(LabelReq::Eq(key.trim().to_string(), value.trim().to_string()));
            } else if let Some(open) = part.find('(') {
                let head = part[..open].trim();
                let values = part[open + 1..].strip_suffix(')').ok_or_else(|| bad(part))?;
                let set: BTreeSet<String> =
                    values.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
                if let Some(key) = head.strip_suffix(" notin") {
                    reqs.push(LabelReq::NotIn(key.trim().to_string(), set));
                } else if let Some(key) = head.strip_suffix(" in") {
                    reqs.push(LabelReq::In(key.trim().to_string(), set));
                } else {
                    return Err(bad(part));
                }
            } else if part.contains(char::is_whitespace) {
                return Err(bad(part));
            } else {
                reqs.push(LabelReq::Exists(part.to_string()));
            }
        }
        Ok(LabelSelector(reqs))
    }

    /// A selector from a `metav1.LabelSelector` object (`matchLabels`, `matchExpressions`).
    pub fn from_object(selector: &Value) -> Self {
        let mut reqs = Vec::new();
        if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in labels {
                reqs.push(LabelReq::Eq(k.clone(), v.as_str().unwrap_or_default().to_string()));
            }
        }
        for expr in selector.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
            let key = expr.get("key").and_then(Value::as_str).unwrap_or_default().to_string();
            let values: BTreeSet<String> = expr
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            match expr.get("operator").and_then(Value::as_str) {
                Some("In") => reqs.push(LabelReq::In(key, values)),
                Some("NotIn") => reqs.push(LabelReq::NotIn(key, values)),
                Some("Exists") => reqs.push(LabelReq::Exists(key)),
                Some("DoesNotExist") => reqs.push(LabelReq::NotExists(key)),
                _ => {}
            }
        }
        LabelSelector(reqs)
    }

    /// The selector in string form, as `Scale.status.selector` carries it.
    pub fn to_query(&self) -> String {
        let join = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(",");
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|r| match r {
                LabelReq::Eq(k, v) => format!("{k}={v}"),
                LabelReq::NotEq(k, v) => format!("{k}!={v}"),
                LabelReq::In(k, s) => format!("{k} in ({})", join(s)),
                LabelReq::NotIn(k, s) => format!("{k} notin ({})", join(s)),
                LabelReq::Exists(k) => k.clone(),
                LabelReq::NotExists(k) => format!("!{k}"),
            })
            .collect();
        parts.join(",")
    }

    /// Whether an object's labels satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels").and_then(Value::as_object);
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
            LabelReq::NotEq(k, v) => get(k) != Some(v.as_str()),
            LabelReq::In(k, s) => get(k).is_some_and(|x| s.contains(x)),
            LabelReq::NotIn(k, s) => get(k).is_none_or(|x| !s.contains(x)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
        })
    }
}

/// A parsed field selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parse `path=value,path!=value`.
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (path, equal, value) = if let Some((p, v)) = part.split_once("!=") {
                (p, false, v)
            } else if let Some((p, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (p, true, v)
            } else {
                return Err(ApiError::bad_request(format!("invalid field selector: {part:?}")));
            };
            reqs.push((path.trim().to_string(), equal, value.trim().to_string()));
        }
        Ok(FieldSelector(reqs))
    }

    /// Whether the object's fields satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(path, equal, value)| {
            let mut at = Some(object);
            for part in path.split('.') {
                at = at.and_then(|v| v.get(part));
            }
            let found = match at {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (found == *value) == *equal
        })
    }
}

/// Split on commas outside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn label_selectors_match_as_kubectl_documents() {
        let obj = json!({"metadata": {"labels": {"app": "web", "tier": "front"}}});
        let cases = [
            ("", true),
            ("app=web", true),
            ("app==web,tier=front", true),
            ("app!=web", false),
            ("app in (web, api)", true),
            ("app notin (web)", false),
            ("tier", true),
            ("!tier", false),
            ("missing", false),
            ("!missing", true),
        ];
        for (text, want) in cases {
            assert_eq!(LabelSelector::parse(text).unwrap().matches(&obj), want, "{text}");
        }
        assert!(LabelSelector::parse("a b").is_err());
    }

    #[test]
    fn field_selectors_read_nested_paths() {
        let obj = json!({"metadata": {"name": "x"}, "involvedObject": {"kind": "GeneralScaler"}});
        assert!(
            FieldSelector::parse("metadata.name=x,involvedObject.kind=GeneralScaler").unwrap().matches(&obj)
        );
        assert!(!FieldSelector::parse("metadata.name!=x").unwrap().matches(&obj));
        assert!(FieldSelector::parse("involvedObject.uid=").unwrap().matches(&obj));
    }

    #[test]
    fn match_labels_become_a_query_string() {
        let sel = LabelSelector::from_object(&json!({"matchLabels": {"app": "web"}}));
        assert_eq!(sel.to_query(), "app=web");
    }
}
