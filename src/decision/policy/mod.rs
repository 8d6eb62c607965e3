//! Stage 2: the policy turns the metric stage's count into the policy's count.
//!
//! One file per policy. A policy sees the metric stage's result and the decision's input, never
//! the clock or the network.

mod cost;
mod slo;

use crate::api::{GeneralScalerSpec, History, PolicyType};

use super::metric::MetricStage;
use super::{Flags, Input, Why};

/// Apply the spec's policy to the metric stage's count.
pub(super) fn apply(
    spec: &GeneralScalerSpec,
    current: i32,
    stage: &MetricStage,
    healthy: bool,
    input: &Input<'_>,
    history: &mut History,
    flags: &mut Flags,
) -> (i32, Why) {
    match spec.policy.kind {
        PolicyType::Proportional => (stage.count, Why::Proportional),
        PolicyType::Slo => slo::apply(spec, current, stage.count, input.slo, flags),
        PolicyType::CostAware => cost::apply(spec, current, stage, healthy, input, history, flags),
    }
}
