//! `gscale import`'s conversion: Kubernetes HorizontalPodAutoscalers and KEDA ScaledObjects into
//! GeneralScalers, every field either mapped or named in a comment, never dropped in silence.
//!
//! Pure: objects come in as JSON values (from files or the cluster, read by `cmd/import`), a
//! GeneralScaler comes out as a JSON value with [`Note`]s on its field paths, and [`render`] prints
//! it as YAML with the notes as comments. The HPA mapping is in [`hpa`], KEDA's in [`keda`], and
//! CPU and memory (which gscale reads through Prometheus from cAdvisor and kube-state-metrics) in
//! [`resource`]. No I/O, no kube client here.

pub mod hpa;
pub mod keda;
mod render;
pub mod resource;

use serde_json::{Map, Value, json};

pub use render::render;

use crate::api::{API_VERSION, KIND};

/// Where Prometheus is assumed to be when neither the source nor `--prometheus-url` says.
pub const DEFAULT_PROMETHEUS_URL: &str = "http://prometheus-operated.monitoring.svc:9090";

/// The HPA controller's sync period: what an imported scaler reconciles at, to react as fast.
pub const HPA_SYNC_SECONDS: u32 = 15;

/// How a note reads and whether it counts as a field not mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteKind {
    /// A source field with no equivalent: its meaning is lost (counted; `--strict` fails on it).
    NotMapped,
    /// Mapped, but something to check: a derived query, a difference in semantics.
    Check,
}

/// A comment attached to a field path of the output, such as `spec.metrics[0]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// Field path in the GeneralScaler (`spec.behavior.scaleDown`); empty: the whole document.
    pub path: String,
    /// Not mapped, or to check.
    pub kind: NoteKind,
    /// What the source said and why it is not (or not exactly) there.
    pub text: String,
}

/// One converted object.
#[derive(Clone, Debug, PartialEq)]
pub struct Converted {
    /// `Kind/namespace/name` of the source, for messages.
    pub source: String,
    /// The GeneralScaler.
    pub scaler: Value,
    /// Comments on its fields.
    pub notes: Vec<Note>,
}

impl Converted {
    /// How many source fields were not mapped.
    pub fn not_mapped(&self) -> usize {
        self.notes.iter().filter(|n| n.kind == NoteKind::NotMapped).count()
    }
}

/// What an object cannot be converted for (not a field: the object as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The document is neither an HPA nor a ScaledObject.
    #[error("{kind} is not a HorizontalPodAutoscaler or a KEDA ScaledObject")]
    UnsupportedKind {
        /// `apiVersion kind` of the document.
        kind: String,
    },
    /// A field the conversion needs is missing or of the wrong type.
    #[error("{object}: {field} {problem}\nhint: {hint}")]
    Field {
        /// `Kind/name` of the source.
        object: String,
        /// Field path in the source.
        field: String,
        /// What is wrong with it.
        problem: String,
        /// How to fix it.
        hint: String,
    },
}

/// What the conversion is told beyond the object itself.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Prometheus for HPA custom, external and resource metrics, and KEDA cpu and memory triggers.
    pub prometheus_url: Option<String>,
    /// KEDA TriggerAuthentications (and ClusterTriggerAuthentications) the triggers may name.
    pub trigger_auths: Vec<Value>,
}

/// Whether a document is something [`convert`] takes.
pub fn is_importable(doc: &Value) -> bool {
    hpa::is_hpa(doc) || keda::is_scaled_object(doc)
}

/// Convert an HPA or a ScaledObject.
pub fn convert(doc: &Value, settings: &Settings) -> Result<Converted, ImportError> {
    if hpa::is_hpa(doc) {
        hpa::convert(doc, settings)
    } else if keda::is_scaled_object(doc) {
        keda::convert(doc, settings)
    } else {
        Err(ImportError::UnsupportedKind { kind: kind_of(doc) })
    }
}

/// `apiVersion kind` of a document, for messages.
pub fn kind_of(doc: &Value) -> String {
    let text = |key: &str| doc.get(key).and_then(Value::as_str).unwrap_or("?").to_string();
    format!("{} {}", text("apiVersion"), text("kind"))
}

/// The GeneralScaler being built and its notes.
pub(crate) struct Builder {
    pub source: String,
    pub namespace: Option<String>,
    pub spec: Map<String, Value>,
    pub metrics: Vec<Value>,
    pub notes: Vec<Note>,
    name: String,
    labels: Option<Value>,
}

impl Builder {
    pub fn new(kind: &str, doc: &Value) -> Result<Self, ImportError> {
        let name = doc.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
        if name.is_empty() {
            return Err(ImportError::Field {
                object: kind.to_string(),
                field: "metadata.name".into(),
                problem: "is missing".into(),
                hint: "give the object a name".into(),
            });
        }
        let namespace = doc.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_string);
        let labels = doc.pointer("/metadata/labels").filter(|l| l.as_object().is_some_and(|m| !m.is_empty()));
        Ok(Builder {
            source: format!("{kind}/{name}"),
            namespace,
            spec: Map::new(),
            metrics: Vec::new(),
            notes: Vec::new(),
            name,
            labels: labels.cloned(),
        })
    }

    pub fn not_mapped(&mut self, path: impl Into<String>, text: impl Into<String>) {
        self.notes.push(Note { path: path.into(), kind: NoteKind::NotMapped, text: text.into() });
    }

    pub fn check(&mut self, path: impl Into<String>, text: impl Into<String>) {
        self.notes.push(Note { path: path.into(), kind: NoteKind::Check, text: text.into() });
    }

    /// A field error on the source object.
    pub fn field_error(&self, field: &str, problem: &str, hint: &str) -> ImportError {
        ImportError::Field {
            object: self.source.clone(),
            field: field.to_string(),
            problem: problem.to_string(),
            hint: hint.to_string(),
        }
    }

    /// The path in the output of the metric about to be pushed.
    pub fn next_metric_path(&self) -> String {
        format!("spec.metrics[{}]", self.metrics.len())
    }

    /// Set `spec.behavior.<direction>.<field>`.
    pub fn behavior(&mut self, direction: &str, field: &str, value: Value) {
        let behavior = self.spec.entry("behavior").or_insert_with(|| json!({}));
        if direction.is_empty() {
            behavior[field] = value;
        } else {
            if behavior.get(direction).is_none() {
                behavior[direction] = json!({});
            }
            behavior[direction][field] = value;
        }
    }

    pub fn finish(mut self) -> Converted {
        // One metric is written in the original `metric:` form; notes on `spec.metrics[0]` follow it.
        let metric_count = self.metrics.len();
        if metric_count == 1 {
            self.spec.insert("metric".into(), self.metrics.remove(0));
            for note in &mut self.notes {
                if let Some(rest) = note.path.strip_prefix("spec.metrics") {
                    note.path = format!("spec.metric{}", rest.strip_prefix("[0]").unwrap_or(rest));
                }
            }
        } else if metric_count > 1 {
            self.spec.insert("metrics".into(), Value::Array(std::mem::take(&mut self.metrics)));
        }
        let mut metadata = json!({"name": self.name});
        if let Some(ns) = &self.namespace {
            metadata["namespace"] = json!(ns);
        }
        if let Some(labels) = self.labels {
            metadata["labels"] = labels;
        }
        let scaler = json!({
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": metadata,
            "spec": Value::Object(self.spec),
        });
        Converted { source: self.source, scaler, notes: self.notes }
    }
}

/// A Kubernetes quantity (`500m`, `1k`, `10Gi`, `2.5`, `1e3`) or a JSON number, as a float.
pub fn quantity(value: &Value) -> Option<f64> {
    let parsed = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => quantity_text(s.trim()),
        _ => None,
    };
    parsed.filter(|v| v.is_finite())
}

fn quantity_text(text: &str) -> Option<f64> {
    if let Ok(v) = text.parse::<f64>() {
        // `parse` takes `inf` and `NaN`, which no quantity is; it also takes `1e3`, which one is.
        return text.bytes().all(|b| b.is_ascii_digit() || b".+-eE".contains(&b)).then_some(v);
    }
    crate::metrics::parse_quantity(text)
}

/// A number as compact JSON: integers stay integers.
pub fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9e15 { json!(v as i64) } else { json!(v) }
}

/// A quantity as people write it back in a comment (`500m` stays `500m`).
pub fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_as_kubernetes_writes_them() {
        for (text, want) in [
            (json!("500m"), 0.5),
            (json!("1k"), 1000.0),
            (json!("10Mi"), 10.0 * 1_048_576.0),
            (json!("2.5"), 2.5),
            (json!("1e3"), 1000.0),
            (json!(30), 30.0),
            (json!("100"), 100.0),
            (json!("1.5Gi"), 1.5 * 1_073_741_824.0),
        ] {
            assert_eq!(quantity(&text), Some(want), "{text}");
        }
        for bad in [json!(""), json!("m"), json!("ten"), json!("inf"), json!("NaN"), json!(null), json!("5x")]
        {
            assert_eq!(quantity(&bad), None, "{bad}");
        }
    }
}
