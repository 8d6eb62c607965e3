//! `spec.formula` (ext): one CEL expression over the scaler's named metrics and the target its result
//! is held to, as KEDA's `scalingModifiers` combine triggers; and the view the engine decides from
//! when a scaler has one.
//!
//! The engine knows metrics, not formulas: a scaler with a formula is decided as if its one metric
//! were the formula, whose reading is the expression's value over the metrics read (a metric that
//! failed is absent; the expression may fall back with `name ?? value`), and whose account in
//! `plan` and status names every metric's value. The language lives in [`crate::formula`].

use std::borrow::Cow;

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{GeneralScalerSpec, MetricSpec, MetricType, TargetType};
use crate::formula::Formula;
use crate::reading::Reading;

/// (ext) Several metrics combined into one number by a CEL expression, held to one target.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(
    validation = Rule::new("self.targetValue > 0.0").message("formula.targetValue must be greater than 0").field_path(".targetValue"),
    validation = Rule::new("!has(self.activationValue) || self.activationValue >= 0.0").message("formula.activationValue must be 0 or more").field_path(".activationValue")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FormulaSpec {
    /// A CEL expression over the metrics' names, such as `(lag + inflight) / 2`; `lag ?? 0` reads a
    /// metric that failed as 0 (without a fallback, a failed metric fails the formula).
    #[schemars(length(min = 1, max = 1024))]
    pub expression: String,
    /// The value one replica should carry (AverageValue) or each replica's value (Value); above 0.
    pub target_value: f64,
    /// AverageValue (default, as KEDA's composite metric): the result is a total; Value: per pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,
    /// At or below it the workload may rest at 0 when minReplicas is 0.
    #[serde(default)]
    pub activation_value: f64,
    /// The name shown in status and plans; default `formula`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl FormulaSpec {
    /// The name shown in status and plans.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or("formula")
    }

    /// The expression compiled over `spec`'s metrics, or why it cannot be.
    pub fn compile(&self, spec: &GeneralScalerSpec) -> Result<Formula, String> {
        let names: Vec<&str> = spec.metrics().iter().map(MetricSpec::display_name).collect();
        Formula::compile(&self.expression, &names)
    }

    /// The one metric the engine decides from.
    fn as_metric(&self) -> MetricSpec {
        MetricSpec {
            kind: MetricType::Formula,
            name: Some(self.display_name().to_string()),
            target_value: self.target_value,
            target_type: Some(self.target_type.unwrap_or(TargetType::AverageValue)),
            activation_value: self.activation_value,
            timeout_seconds: 5,
            prometheus: None,
            redis: None,
            pubsub: None,
            http: None,
            resource: None,
            rabbitmq: None,
            nats: None,
            external: None,
            kafka: None,
        }
    }
}

/// What the engine decides from: the spec and its readings as they are, or, with a formula, a spec
/// whose one metric is the formula and its one reading.
#[derive(Debug)]
pub struct DecisionView<'a> {
    /// The spec to decide from.
    pub spec: Cow<'a, GeneralScalerSpec>,
    /// One reading per metric of `spec.metrics()`.
    pub readings: Cow<'a, [Reading]>,
    /// Per metric, its account for `plan` and status (with a formula: every input's value).
    pub details: Cow<'a, [Option<String>]>,
}

impl GeneralScalerSpec {
    /// The view the engine decides from, given one reading (and account) per metric of `self`.
    pub fn decision_view<'a>(
        &'a self,
        readings: &'a [Reading],
        details: &'a [Option<String>],
    ) -> DecisionView<'a> {
        let Some(formula) = &self.formula else {
            return DecisionView {
                spec: Cow::Borrowed(self),
                readings: Cow::Borrowed(readings),
                details: Cow::Borrowed(details),
            };
        };
        let (reading, detail) = evaluate(self, formula, readings);
        let spec = GeneralScalerSpec {
            metric: Some(formula.as_metric()),
            metrics: Vec::new(),
            formula: None,
            ..self.clone()
        };
        DecisionView {
            spec: Cow::Owned(spec),
            readings: Cow::Owned(vec![reading]),
            details: Cow::Owned(vec![Some(detail)]),
        }
    }
}

/// The formula's reading and its account: `(lag + inflight) / 2 over lag 120, inflight 80`.
fn evaluate(spec: &GeneralScalerSpec, formula: &FormulaSpec, readings: &[Reading]) -> (Reading, String) {
    let metrics = spec.metrics();
    let values: Vec<(&str, Option<f64>)> = metrics
        .iter()
        .enumerate()
        .map(|(i, m)| (m.display_name(), readings.get(i).and_then(|r| r.as_ref().ok().copied())))
        .collect();
    let inputs: Vec<String> = metrics
        .iter()
        .enumerate()
        .map(|(i, m)| match readings.get(i) {
            Some(Ok(v)) => format!("{} {}", m.display_name(), num(*v)),
            Some(Err(e)) => format!("{} failed ({e})", m.display_name()),
            None => format!("{} unread", m.display_name()),
        })
        .collect();
    let detail = format!("{} over {}", formula.expression, inputs.join(", "));
    let reading = formula.compile(spec).and_then(|f| f.eval(&values));
    (reading, detail)
}

/// A number as status and plans print it: whole where it is, else at most three decimals.
fn num(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        let s = format!("{x:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> GeneralScalerSpec {
        serde_json::from_value(serde_json::json!({
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
            "maxReplicas": 30,
            "metrics": [
                {"type": "prometheus", "name": "inflight", "targetValue": 20,
                 "prometheus": {"serverUrl": "http://p:9090", "query": "q"}},
                {"type": "redis", "name": "lag", "targetValue": 50, "redis": {"host": "r", "queueName": "q"}},
            ],
            "formula": {"expression": "(lag + inflight) / 2", "targetValue": 100}
        }))
        .unwrap()
    }

    #[test]
    fn the_engine_sees_one_metric_the_formula() {
        let spec = spec();
        let readings = vec![Ok(80.0), Ok(320.0)];
        let details = vec![None, None];
        let view = spec.decision_view(&readings, &details);
        let metric = &view.spec.metrics()[0];
        assert_eq!(
            (view.spec.metrics().len(), metric.kind, metric.display_name()),
            (1, MetricType::Formula, "formula")
        );
        assert_eq!(metric.effective_target_type(), TargetType::AverageValue);
        assert_eq!(&*view.readings, &[Ok(200.0)]);
        assert_eq!(view.details[0].as_deref(), Some("(lag + inflight) / 2 over inflight 80, lag 320"));
    }

    #[test]
    fn a_failed_metric_fails_the_formula_unless_it_falls_back() {
        let mut spec = spec();
        let readings = vec![Ok(80.0), Err("redis r:6379: timed out".to_string())];
        let details = vec![None, None];
        let view = spec.decision_view(&readings, &details);
        assert!(view.readings[0].as_ref().unwrap_err().contains("metric lag failed"));
        assert!(view.details[0].as_deref().unwrap().contains("lag failed (redis r:6379: timed out)"));
        spec.formula.as_mut().unwrap().expression = "((lag ?? 0) + inflight) / 2".into();
        assert_eq!(&*spec.decision_view(&readings, &details).readings, &[Ok(40.0)]);
    }

    #[test]
    fn without_a_formula_the_view_is_the_spec() {
        let mut spec = spec();
        spec.formula = None;
        let readings = vec![Ok(1.0), Ok(2.0)];
        let details = vec![None, Some("x".to_string())];
        let view = spec.decision_view(&readings, &details);
        assert!(matches!(view.spec, Cow::Borrowed(_)));
        assert_eq!(view.readings.len(), 2);
    }
}
