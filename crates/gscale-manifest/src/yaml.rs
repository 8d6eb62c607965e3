//! The one place that touches a YAML crate (saphyr): multi-document parsing into JSON values that
//! remember the line of every field, and emitting JSON values as YAML.
//!
//! Parsing goes through JSON values on purpose: the types deserialize from `serde_json::Value` with
//! field paths (`serde_path_to_error`), and the line index maps those paths back to the source.

use std::collections::HashMap;
use std::fmt;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, Yaml, YamlData, YamlEmitter};
use serde_json::{Map, Number, Value};

/// Largest nesting accepted, far beyond any Kubernetes object; deeper input is refused, not recursed.
const MAX_DEPTH: usize = 128;

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What the parser said.
    pub message: String,
    /// The key, when the error is a key written twice in one mapping.
    pub duplicate_key: Option<String>,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} column {}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for YamlError {}

/// One YAML document as a JSON value, with the line of each field path.
#[derive(Debug, Clone)]
pub struct Document {
    /// 1-based position among the file's non-empty documents.
    pub number: usize,
    /// The document's content.
    pub value: Value,
    /// The document's first line.
    pub line: usize,
    lines: HashMap<String, usize>,
}

impl Document {
    /// The items of a `kind: List` document (what `kubectl get -o yaml` prints), each a document of
    /// its own whose fields keep their lines; empty for any other document.
    pub fn list_items(&self) -> Vec<Document> {
        if self.value.get("kind").and_then(Value::as_str) != Some("List") {
            return Vec::new();
        }
        let items = self.value.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
        items
            .into_iter()
            .enumerate()
            .map(|(i, value)| {
                let prefix = format!("items[{i}]");
                let lines = self
                    .lines
                    .iter()
                    .filter_map(|(path, line)| {
                        let rest = path.strip_prefix(&prefix)?;
                        rest.strip_prefix('.').map(|field| (field.to_string(), *line))
                    })
                    .collect();
                Document { number: self.number, value, line: self.line_of(&prefix), lines }
            })
            .collect()
    }

    /// The line of a field path such as `spec.metrics[0].targetValue`, or of its nearest ancestor
    /// present in the source.
    pub fn line_of(&self, path: &str) -> usize {
        let mut path = path;
        loop {
            if let Some(line) = self.lines.get(path) {
                return *line;
            }
            match path.rfind(['.', '[']) {
                Some(cut) => path = &path[..cut],
                None => return self.line,
            }
        }
    }
}

/// Parse every document of a YAML stream; empty documents are skipped.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, YamlError> {
    let parsed = parse_until_error(text);
    match parsed.error {
        Some(e) => Err(e),
        None => Ok(parsed.documents),
    }
}

/// The documents of a YAML stream up to its first error, and that error.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The documents before the one holding the error (all of them when there is none).
    pub documents: Vec<Document>,
    /// The first syntax error.
    pub error: Option<YamlError>,
}

/// Parse a YAML stream, keeping the documents that come before a syntax error, so one broken
/// document does not hide the findings of the others.
pub fn parse_until_error(text: &str) -> Parsed {
    let error = match load(text) {
        Ok(nodes) => return convert(&nodes),
        Err(e) => e,
    };
    // The loader returns nothing on error: parse again up to the `---` that opens the broken
    // document. The error may be reported at the next `---` or at the end, so try a few back.
    let starts: Vec<usize> = text
        .split_inclusive('\n')
        .take(error.line.saturating_sub(1))
        .scan(0, |offset, line| {
            let start = *offset;
            *offset += line.len();
            Some((start, line))
        })
        .filter(|(_, line)| is_document_start(line))
        .map(|(start, _)| start)
        .collect();
    let documents = starts
        .iter()
        .rev()
        .take(3)
        .find_map(|&start| {
            load(&text[..start]).ok().map(|nodes| convert(&nodes)).filter(|p| p.error.is_none())
        })
        .map(|prefix| prefix.documents)
        .unwrap_or_default();
    Parsed { documents, error: Some(error) }
}

/// A `---` line, which starts a new document.
fn is_document_start(line: &str) -> bool {
    line.strip_prefix("---").is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
}

fn load(text: &str) -> Result<Vec<MarkedYaml<'_>>, YamlError> {
    MarkedYaml::load_from_str(text).map_err(|e| {
        let (line, column) = (e.marker().line(), e.marker().col());
        let duplicate_key =
            (e.info() == "duplicated key in mapping").then(|| key_at(text, line, column)).flatten();
        let message = match &duplicate_key {
            Some(key) => format!("the key \"{key}\" appears twice in the same mapping"),
            None => e.info().to_string(),
        };
        YamlError { line, column: column + 1, message, duplicate_key }
    })
}

/// The mapping key written at a 1-based line and 0-based column, unquoted.
fn key_at(text: &str, line: usize, column: usize) -> Option<String> {
    let rest: String = text.lines().nth(line.checked_sub(1)?)?.chars().skip(column).collect();
    let key = match rest.chars().next()? {
        quote @ ('"' | '\'') => rest[1..].split(quote).next()?,
        _ => rest.split([':', ',', '}']).next()?.trim(),
    };
    (!key.is_empty()).then(|| key.to_string())
}

fn convert(nodes: &[MarkedYaml<'_>]) -> Parsed {
    let mut documents = Vec::new();
    for node in nodes {
        let mut lines = HashMap::new();
        let value = match to_json(node, String::new(), &mut lines, 0) {
            Ok(value) => value,
            Err(error) => return Parsed { documents, error: Some(error) },
        };
        if value.is_null() {
            continue;
        }
        documents.push(Document { number: documents.len() + 1, value, line: node.span.start.line(), lines });
    }
    Parsed { documents, error: None }
}

fn to_json(
    node: &MarkedYaml<'_>,
    path: String,
    lines: &mut HashMap<String, usize>,
    depth: usize,
) -> Result<Value, YamlError> {
    let line = node.span.start.line();
    let err =
        |message: String| YamlError { line, column: node.span.start.col() + 1, message, duplicate_key: None };
    if depth > MAX_DEPTH {
        return Err(err(format!("nesting deeper than {MAX_DEPTH} levels")));
    }
    lines.entry(path.clone()).or_insert(line);
    Ok(match &node.data {
        YamlData::Value(scalar) => scalar_to_json(scalar),
        YamlData::Representation(text, _, _) => Value::String(text.to_string()),
        YamlData::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(to_json(item, format!("{path}[{i}]"), lines, depth + 1)?);
            }
            Value::Array(out)
        }
        YamlData::Mapping(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                let key_text = match &key.data {
                    YamlData::Value(Scalar::String(s)) => s.to_string(),
                    YamlData::Value(scalar) => match scalar_to_json(scalar) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    },
                    _ => return Err(err("a mapping key must be a plain scalar".to_string())),
                };
                let child = if path.is_empty() { key_text.clone() } else { format!("{path}.{key_text}") };
                lines.insert(child.clone(), key.span.start.line());
                let value = to_json(value, child, lines, depth + 1)?;
                out.insert(key_text, value);
            }
            Value::Object(out)
        }
        YamlData::Tagged(_, inner) => to_json(inner, path, lines, depth + 1)?,
        YamlData::Alias(_) => {
            return Err(err(
                "YAML aliases (*name) are not supported: write the value out in full".to_string()
            ));
        }
        YamlData::BadValue => return Err(err("unreadable value".to_string())),
    })
}

fn scalar_to_json(scalar: &Scalar<'_>) -> Value {
    match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Number((*i).into()),
        // JSON has no NaN or infinity: keep them as text so a number field reports a type error.
        Scalar::FloatingPoint(f) => {
            Number::from_f64(f.into_inner()).map_or_else(|| Value::String(f.to_string()), Value::Number)
        }
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

/// A JSON value as a YAML document (no leading `---`).
pub fn to_string(value: &Value) -> String {
    let yaml = to_yaml(value);
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline(true);
    // Writing to a String cannot fail.
    let _ = emitter.dump(&yaml);
    let out = out.strip_prefix("---\n").or_else(|| out.strip_prefix("---")).unwrap_or(&out).trim_start();
    let mut out = out.to_string();
    out.push('\n');
    out
}

fn to_yaml(value: &Value) -> Yaml<'static> {
    match value {
        Value::Null => Yaml::Value(Scalar::Null),
        Value::Bool(b) => Yaml::Value(Scalar::Boolean(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Value(Scalar::Integer(i)),
            None => Yaml::Value(Scalar::FloatingPoint(n.as_f64().unwrap_or(f64::NAN).into())),
        },
        Value::String(s) => Yaml::Value(Scalar::String(s.clone().into())),
        Value::Array(items) => Yaml::Sequence(items.iter().map(to_yaml).collect()),
        Value::Object(map) => Yaml::Mapping(
            map.iter().map(|(k, v)| (Yaml::Value(Scalar::String(k.clone().into())), to_yaml(v))).collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_field_paths() {
        let docs = parse_documents("a: 1\nb:\n  c:\n    - x\n    - y: 2\n---\n---\nz: true\n").unwrap();
        assert_eq!(docs.len(), 2);
        let d = &docs[0];
        assert_eq!(d.line_of("a"), 1);
        assert_eq!(d.line_of("b.c"), 3);
        assert_eq!(d.line_of("b.c[1].y"), 5);
        assert_eq!(d.line_of("b.c[1].missing"), 5);
        assert_eq!(docs[1].number, 2);
        assert_eq!(docs[1].line_of("z"), 8);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse_documents("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.line >= 1, "{err}");
    }

    #[test]
    fn duplicate_keys_are_named() {
        for (text, key, line) in [
            ("a: 1\nb:\n  c: 1\n  c: 2\n", "c", 4),
            ("a: {x: 1, x: 2}\n", "x", 1),
            ("\"q\": 1\n\"q\": 2\n", "q", 2),
        ] {
            let err = parse_documents(text).unwrap_err();
            assert_eq!(err.duplicate_key.as_deref(), Some(key), "{text}: {err}");
            assert_eq!(err.line, line, "{text}: {err}");
            assert!(err.message.contains(&format!("\"{key}\"")), "{err}");
        }
    }

    #[test]
    fn documents_before_a_syntax_error_are_kept() {
        let parsed = parse_until_error("a: 1\n---\nb: 2\n---\nc: [3\n---\nd: 4\n");
        let values: Vec<&Value> = parsed.documents.iter().map(|d| &d.value).collect();
        assert_eq!(values, [&serde_json::json!({"a": 1}), &serde_json::json!({"b": 2})]);
        assert!(parsed.error.unwrap().line >= 5);

        let parsed = parse_until_error("a: [1\n---\nb: 2\n");
        assert!(parsed.documents.is_empty());
        assert!(parsed.error.is_some());
    }

    #[test]
    fn round_trips_awkward_strings() {
        let value = serde_json::json!({"s": "true", "n": "123", "e": "", "m": "a: b", "list": [1, 2.5, null], "t": "x\ny\n"});
        let text = to_string(&value);
        let back = parse_documents(&text).unwrap();
        assert_eq!(back[0].value, value, "{text}");
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = "[".repeat(10_000);
        assert!(parse_documents(&text).is_err());
    }

    #[test]
    fn a_list_yields_its_items_with_their_lines() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- kind: A\n  spec:\n    x: 1\n- kind: B\n";
        let doc = parse_documents(text).unwrap().remove(0);
        let items = doc.list_items();
        assert_eq!(items.len(), 2);
        assert_eq!((items[0].line, items[0].line_of("spec.x")), (4, 6));
        assert_eq!(items[1].value["kind"], "B");
        assert!(items[0].list_items().is_empty());
    }
}
