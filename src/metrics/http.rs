//! The HTTP source: GET (or POST with a body) any URL and read one number from the reply.
//!
//! The reply is JSON (the number found by a JSON Pointer `/a/b/0` or a path `$.a.b[0]`), Prometheus
//! text exposition (the series named by `name{label="v"}`), or a bare number. Numbers may be JSON
//! numbers, strings, or Kubernetes quantities (`500m`). [`parse_reply`] is pure; [`HttpQuery`] sends
//! through `send` (redirects, reply cap, host policy). A reply's content never reaches an error message:
//! the endpoint may be something the scaler's author could not read otherwise, and errors land in
//! status and Events. Errors say the status, content type and size, or the JSON type found.

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::error::{MetricError, Problem, Target};
use super::transport::{self, SecretString};
use super::{Limits, MetricSource, number, send};
use crate::api::{HttpMethod, MetricType};

/// One HTTP read, ready to send.
#[derive(Clone, Debug)]
pub struct HttpQuery {
    pub(crate) target: Target,
    pub(crate) client: reqwest::Client,
    pub(crate) limits: Limits,
    pub(crate) url: String,
    pub(crate) method: HttpMethod,
    pub(crate) body: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) bearer_token: Option<SecretString>,
    pub(crate) value_path: Option<String>,
}

/// The target of an HTTP read, for messages and dedup.
pub fn target(url: &str, method: HttpMethod, value_path: Option<&str>) -> Target {
    let method = match method {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
    };
    Target {
        kind: MetricType::Http,
        backend: transport::display_url(url),
        query: match value_path.map(str::trim).filter(|path| !path.is_empty()) {
            Some(path) => format!("{method} valuePath `{path}`"),
            None => format!("{method} (the whole reply)"),
        },
    }
}

impl MetricSource for HttpQuery {
    fn target(&self) -> &Target {
        &self.target
    }

    async fn read(&self) -> Result<f64, MetricError> {
        let url = reqwest::Url::parse(&self.url)
            .map_err(|err| MetricError::InvalidSource { kind: "http", detail: format!("url: {err}") })?;
        let (method, body) = match self.method {
            HttpMethod::Get => (Method::GET, None),
            HttpMethod::Post => (Method::POST, Some(self.body.clone().unwrap_or_default())),
        };
        let request = send::Request {
            method,
            url,
            body,
            headers: &self.headers,
            bearer_token: self.bearer_token.as_ref(),
        };
        let reply = send::send(&self.client, &self.limits, &self.target, request).await?;
        if reply.status == StatusCode::UNAUTHORIZED || reply.status == StatusCode::FORBIDDEN {
            return Err(MetricError::Auth { target: self.target.clone(), detail: reply.describe() });
        }
        if !reply.status.is_success() {
            return Err(Problem::Backend(reply.describe()).at(&self.target));
        }
        parse_reply(&reply.content_type, &reply.text(), self.value_path.as_deref())
            .map_err(|problem| problem.at(&self.target))
    }
}

/// The number in a reply, by content type (JSON, else Prometheus text, else a bare number).
pub fn parse_reply(content_type: &str, body: &str, value_path: Option<&str>) -> Result<f64, Problem> {
    let path = value_path.map(str::trim).filter(|path| !path.is_empty());
    let trimmed = body.trim_start();
    let looks_json = content_type.contains("json") || trimmed.starts_with(['{', '[', '"']);
    if looks_json {
        let json: Value = serde_json::from_str(body).map_err(|err| {
            Problem::BadReply(format!("not JSON ({err}; {}, {})", shown_type(content_type), size(body)))
        })?;
        let value = match path {
            Some(path) => select_json(&json, path)?,
            None => &json,
        };
        return json_number(value, path.unwrap_or(""));
    }
    match path {
        None => number::parse(body),
        Some(path) if path.starts_with(['/', '$']) => Err(Problem::BadReply(format!(
            "reply is not JSON ({}, {}) but valuePath is a JSON path",
            shown_type(content_type),
            size(body)
        ))),
        Some(series) => exposition_value(body, series),
    }
}

/// The content type as shown in messages.
fn shown_type(content_type: &str) -> String {
    match content_type.split(';').next().map(str::trim) {
        Some(kind) if !kind.is_empty() => kind.chars().filter(|c| !c.is_control()).take(80).collect(),
        _ => "no content type".to_owned(),
    }
}

fn size(body: &str) -> String {
    super::error::bytes(body.len() as u64)
}

fn json_number(value: &Value, path: &str) -> Result<f64, Problem> {
    let at = if path.is_empty() { "the reply".to_owned() } else { format!("`{path}`") };
    let not_a_number = |kind: &str| Problem::InvalidValue(format!("{kind} at {at}, not a number"));
    match value {
        Value::Number(number) => number::check(number.as_f64().unwrap_or(f64::NAN)),
        Value::String(text) => number::parse(text).map_err(|problem| match problem {
            Problem::InvalidValue(_) if number::parse_raw(text.trim()).is_none() => {
                not_a_number(&format!("a string of {}", number::characters(text)))
            }
            other => other,
        }),
        Value::Null => Err(Problem::NoData(format!("null at {at}"))),
        Value::Bool(_) => Err(not_a_number("a boolean")),
        Value::Array(_) => Err(not_a_number("an array")),
        Value::Object(_) => Err(not_a_number("an object")),
    }
}

/// The value at a JSON Pointer (`/a/b/0`) or a dotted path (`$.a.b[0]`, `$['a'].b`, `a.b`).
pub fn select_json<'a>(json: &'a Value, path: &str) -> Result<&'a Value, Problem> {
    if path.starts_with('/') {
        return json
            .pointer(path)
            .ok_or_else(|| Problem::NoData(format!("nothing at JSON Pointer `{path}`")));
    }
    let steps =
        path_steps(path).ok_or_else(|| Problem::BadReply(format!("cannot read valuePath `{path}`")))?;
    let mut current = json;
    for step in &steps {
        let next = match step {
            Step::Key(key) => current.get(key.as_str()),
            Step::Index(index) => current.get(*index),
        };
        current = next.ok_or_else(|| Problem::NoData(format!("nothing at `{path}`")))?;
    }
    Ok(current)
}

#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

fn path_steps(path: &str) -> Option<Vec<Step>> {
    let rest = path.strip_prefix('$').unwrap_or(path);
    let mut steps = Vec::new();
    let mut chars = rest.chars().peekable();
    // A path without `$` starts with a bare key.
    let mut expect_key = !path.starts_with('$');
    while chars.peek().is_some() || expect_key {
        if expect_key || chars.peek() == Some(&'.') {
            if !expect_key {
                chars.next();
            }
            expect_key = false;
            let mut key = String::new();
            while let Some(&c) = chars.peek() {
                if c == '.' || c == '[' {
                    break;
                }
                key.push(c);
                chars.next();
            }
            if key.is_empty() {
                return None;
            }
            steps.push(Step::Key(key));
        } else if chars.peek() == Some(&'[') {
            chars.next();
            let mut inner = String::new();
            for c in chars.by_ref() {
                if c == ']' {
                    break;
                }
                inner.push(c);
            }
            let inner = inner.trim();
            if let Some(quoted) = inner
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
            {
                steps.push(Step::Key(quoted.to_owned()));
            } else {
                steps.push(Step::Index(inner.parse().ok()?));
            }
        } else {
            return None;
        }
    }
    Some(steps)
}

/// One sample line of the Prometheus text format: name, labels, value text.
#[derive(Debug, PartialEq)]
pub struct Sample<'a> {
    /// The metric name.
    pub name: &'a str,
    /// The labels in order of appearance.
    pub labels: Vec<(String, String)>,
    /// The value as written.
    pub value: &'a str,
}

/// A series name, its labels, and the text after them.
type ParsedSeries<'a> = (&'a str, Vec<(String, String)>, &'a str);

/// Parse `name{a="b",c="d"}` (labels optional); also used for sample lines (then followed by a value).
fn parse_series(text: &str) -> Option<ParsedSeries<'_>> {
    let text = text.trim_start();
    let name_end =
        text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(text.len());
    let (name, mut rest) = text.split_at(name_end);
    if name.is_empty() {
        return None;
    }
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=')?;
            let label = rest[..eq].trim().to_owned();
            rest = rest[eq + 1..].trim_start().strip_prefix('"')?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                let (at, c) = chars.next()?;
                match c {
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    '"' => break at,
                    other => value.push(other),
                }
            };
            rest = &rest[end + 1..];
            labels.push((label, value));
        }
    }
    Some((name, labels, rest))
}

/// The samples of a Prometheus text exposition (comments and blank lines skipped).
pub fn parse_exposition(body: &str) -> Result<Vec<Sample<'_>>, Problem> {
    body.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (name, labels, rest) = parse_series(line)
                .ok_or_else(|| Problem::BadReply("a line is not Prometheus text format".into()))?;
            let value = rest
                .split_whitespace()
                .next()
                .ok_or_else(|| Problem::BadReply(format!("series `{name}` has no value")))?;
            Ok(Sample { name, labels, value })
        })
        .collect()
}

/// The value of the one series matching `selector` (`name{label="v"}`: the name, and these labels).
pub fn exposition_value(body: &str, selector: &str) -> Result<f64, Problem> {
    let (name, wanted, rest) = parse_series(selector)
        .ok_or_else(|| Problem::BadReply(format!("cannot read valuePath `{selector}`")))?;
    if !rest.trim().is_empty() {
        return Err(Problem::BadReply(format!("cannot read valuePath `{selector}`")));
    }
    let samples = parse_exposition(body)?;
    let matching: Vec<&Sample> = samples
        .iter()
        .filter(|sample| sample.name == name && wanted.iter().all(|label| sample.labels.contains(label)))
        .collect();
    match matching.as_slice() {
        [] => Err(Problem::NoData(format!("no series `{selector}` in {} samples", samples.len()))),
        [one] => number::parse(one.value),
        several => Err(Problem::Ambiguous(format!(
            "{} series match `{selector}`; add labels to pick one",
            several.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"queue":{"depth":12,"rate":"2.5","mem":"500m","items":[{"n":3},{"n":"7"}],"none":null,"name":"x"}}"#;

    #[test]
    fn json_pointer_and_paths() {
        let cases = [
            ("/queue/depth", 12.0),
            ("$.queue.depth", 12.0),
            ("queue.depth", 12.0),
            ("$.queue.rate", 2.5),
            ("$.queue.mem", 0.5),
            ("$.queue.items[1].n", 7.0),
            ("$['queue'].items[0]['n']", 3.0),
            ("/queue/items/0/n", 3.0),
        ];
        for (path, want) in cases {
            assert_eq!(parse_reply("application/json", JSON, Some(path)), Ok(want), "{path}");
        }
    }

    #[test]
    fn json_misses() {
        assert!(matches!(
            parse_reply("application/json", JSON, Some("/queue/missing")),
            Err(Problem::NoData(_))
        ));
        assert!(matches!(
            parse_reply("application/json", JSON, Some("$.queue.items[5]")),
            Err(Problem::NoData(_))
        ));
        assert!(matches!(
            parse_reply("application/json", JSON, Some("$.queue.none")),
            Err(Problem::NoData(_))
        ));
        assert!(matches!(
            parse_reply("application/json", JSON, Some("$.queue.name")),
            Err(Problem::InvalidValue(_))
        ));
        assert!(matches!(
            parse_reply("application/json", JSON, Some("$.queue")),
            Err(Problem::InvalidValue(_))
        ));
        assert!(matches!(parse_reply("application/json", "{oops", Some("$.a")), Err(Problem::BadReply(_))));
        assert!(matches!(
            parse_reply("application/json", r#"{"a":-1}"#, Some("$.a")),
            Err(Problem::InvalidValue(_))
        ));
    }

    const EXPOSITION: &str = "# HELP jobs_waiting Jobs waiting.\n# TYPE jobs_waiting gauge\njobs_waiting{queue=\"high\",shard=\"1\"} 17\njobs_waiting{queue=\"low\",shard=\"1\"} 3 1764214800000\nup 1\nweird{path=\"a\\\"b\"} NaN\n";

    #[test]
    fn exposition() {
        assert_eq!(
            parse_reply("text/plain; version=0.0.4", EXPOSITION, Some("jobs_waiting{queue=\"high\"}")),
            Ok(17.0)
        );
        assert_eq!(
            parse_reply("text/plain", EXPOSITION, Some("jobs_waiting{queue=\"low\", shard=\"1\"}")),
            Ok(3.0)
        );
        assert_eq!(parse_reply("text/plain", EXPOSITION, Some("up")), Ok(1.0));
        assert!(matches!(
            parse_reply("text/plain", EXPOSITION, Some("jobs_waiting")),
            Err(Problem::Ambiguous(_))
        ));
        assert!(matches!(parse_reply("text/plain", EXPOSITION, Some("missing")), Err(Problem::NoData(_))));
        assert!(matches!(
            parse_reply("text/plain", EXPOSITION, Some("weird{path=\"a\\\"b\"}")),
            Err(Problem::InvalidValue(_))
        ));
        assert!(matches!(parse_reply("text/plain", "{{{ garbage", Some("up")), Err(Problem::BadReply(_))));
    }

    #[test]
    fn bare_numbers() {
        assert_eq!(parse_reply("text/plain", "42\n", None), Ok(42.0));
        assert_eq!(parse_reply("text/plain", "250m", None), Ok(0.25));
        assert_eq!(parse_reply("application/json", "\"3\"", None), Ok(3.0));
        assert!(matches!(parse_reply("text/html", "<html>oops</html>", None), Err(Problem::InvalidValue(_))));
        assert!(matches!(parse_reply("text/plain", "", None), Err(Problem::NoData(_))));
    }
}
