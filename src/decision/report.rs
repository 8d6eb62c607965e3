//! A decision in words and plain data: what `plan -o json`, status, Events and logs show.

use serde::Serialize;

use crate::api::{GeneralScalerSpec, MetricType, TargetType};

use super::{Decision, Flags, Reading, Stage, Step};

/// A decision with every reason put in words, ready to print or serialize.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionReport {
    /// Replicas observed.
    pub current: i32,
    /// Replicas decided.
    pub desired: i32,
    /// Whether the target would be scaled.
    pub apply: bool,
    /// One line: `scale 4 -> 7: ...` or `hold at 4: ...`.
    pub verdict: String,
    /// Each metric.
    pub metrics: Vec<MetricReport>,
    /// Each stage.
    pub steps: Vec<StepReport>,
    /// Conditions raised.
    pub flags: Flags,
}

/// One metric of a report.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricReport {
    /// The metric's name.
    pub name: String,
    /// Its source type.
    #[serde(rename = "type")]
    pub kind: MetricType,
    /// The value read.
    pub value: Option<f64>,
    /// The target.
    pub target: f64,
    /// Value, AverageValue or Utilization.
    pub target_type: TargetType,
    /// The count this metric asks for.
    pub desired: Option<i32>,
    /// Why the read failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How the source made the value, where it says (a resource metric's pods and how each counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One stage of a report.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepReport {
    /// The stage.
    pub stage: Stage,
    /// Count in.
    pub input: i32,
    /// Count out.
    pub output: i32,
    /// Why, in words.
    pub why: String,
}

impl DecisionReport {
    /// The report with each metric's account from its source (`Readings::details`, in metric order).
    pub fn with_details(mut self, details: &[Option<String>]) -> Self {
        for (metric, detail) in self.metrics.iter_mut().zip(details) {
            metric.detail.clone_from(detail);
        }
        self
    }
}

impl Decision {
    /// The whole decision in words; `readings` are the ones given to `decide`, for error texts.
    pub fn report(&self, spec: &GeneralScalerSpec, readings: &[Reading]) -> DecisionReport {
        let metrics = spec
            .metrics()
            .iter()
            .zip(&self.metrics)
            .enumerate()
            .map(|(i, (m, o))| MetricReport {
                name: m.display_name().to_string(),
                kind: m.kind,
                value: o.value,
                target: o.target,
                target_type: o.target_type,
                desired: o.desired,
                error: match readings.get(i) {
                    Some(Err(e)) => Some(e.clone()),
                    Some(Ok(v)) if o.value.is_none() => {
                        Some(format!("unusable value {v}: not a finite number >= 0"))
                    }
                    None => Some("no reading".to_string()),
                    _ => None,
                },
                detail: None,
            })
            .collect();
        let steps = self
            .steps
            .iter()
            .map(|s| StepReport {
                stage: s.stage,
                input: s.input,
                output: s.output,
                why: s.why.describe(spec, self.current, &self.metrics),
            })
            .collect();
        DecisionReport {
            current: self.current,
            desired: self.desired,
            apply: self.apply,
            verdict: self.verdict(spec),
            metrics,
            steps,
            flags: self.flags,
        }
    }

    /// One line: `scale 4 -> 7: <why>`, `hold at 4: <why>`, or the paused/dryRun equivalent.
    pub fn verdict(&self, spec: &GeneralScalerSpec) -> String {
        let why = |step: &Step| step.why.describe(spec, self.current, &self.metrics);
        let last = self.reason_step();
        let (from, to) = (self.current, self.desired);
        if to == from {
            return format!("hold at {}: {}", from, why(last));
        }
        // A floor or ceiling that pulled against the move (a bound raising 0 to 1 in a scale
        // 10 -> 1) follows the stage that made the move, so the line never reads "raised" for a
        // scale-down. A step limit explains its move alone ("maxIncrement 2").
        let up = to > from;
        let against = matches!(last.stage, Stage::Bounds | Stage::Activation)
            && if up { last.output < last.input } else { last.output > last.input };
        let mover = self.steps[..Stage::Apply as usize]
            .iter()
            .rev()
            .find(|s| if up { s.output > s.input } else { s.output < s.input });
        let reason = match mover {
            Some(mover) if against => format!("{}; then {}", why(mover), why(last)),
            _ => why(last),
        };
        let verb = if spec.paused {
            "paused, would scale"
        } else if spec.dry_run {
            "dry run, would scale"
        } else {
            "scale"
        };
        format!("{verb} {from} -> {to}: {reason}")
    }

    /// The step that explains the outcome: for a hold, the last stage that brought the count back
    /// (or the first that held it); for a scale, the last stage that moved it.
    fn reason_step(&self) -> &Step {
        let rails = &self.steps[..Stage::Apply as usize];
        if self.desired == self.current {
            rails
                .iter()
                .rev()
                .find(|s| s.input != s.output && s.output == self.current)
                .or_else(|| rails.iter().find(|s| s.why.is_hold()))
                .unwrap_or(&self.steps[Stage::Metrics as usize])
        } else {
            rails.iter().rev().find(|s| s.input != s.output).unwrap_or(&self.steps[Stage::Metrics as usize])
        }
    }
}
