//! The HPA's rule for resource metrics as pure arithmetic: usage over the pods that are ready and
//! measured, then the pods without metrics and the pods not ready counted conservatively (the
//! Kubernetes docs' "algorithm details"), and the figure the engine should use. No I/O here: the
//! pods come in as plain data from `resource`.

use crate::decision::num;

/// How far a pod is along, as the HPA sorts pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Running and ready (or, for memory, running): its metrics count.
    Ready,
    /// Pending, or (for cpu) running but not ready: set aside, counted at 0% on a scale-up.
    NotReady,
}

/// One pod of the target, as the rule needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Pod {
    /// The pod's name, for messages.
    pub name: String,
    /// Ready or not.
    pub standing: Standing,
    /// Usage of the resource over the containers counted (cores or bytes); `None`: no metrics.
    pub usage: Option<f64>,
    /// Requests of the resource over the same containers (cores or bytes); 0 for AverageValue.
    pub request: f64,
}

/// What each pod should use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Goal {
    /// Percent of the pods' requests.
    Utilization(f64),
    /// Cores or bytes per pod.
    AverageValue(f64),
}

/// What the rule made of the pods: the figure for the engine and the account behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    /// What the engine gets: a utilization (percent) for Utilization, a total (cores or bytes) for
    /// AverageValue, scaled so the engine's formula at `current` replicas gives the HPA's count.
    pub value: f64,
    /// Usage measured over the ready, measured pods: percent of requests, or per pod.
    pub measured: f64,
    /// Ready pods with metrics.
    pub measured_pods: usize,
    /// Pods without metrics.
    pub missing: usize,
    /// Pods not ready.
    pub not_ready: usize,
    /// Usage once missing and unready pods are counted conservatively, when they were.
    pub adjusted: Option<f64>,
    /// Why the count holds where the rule says so, if it does.
    pub hold: Option<Hold>,
}

/// Why the HPA's rule keeps the current count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// The usage is within tolerance of the target.
    Tolerance,
    /// Counting the missing and unready pods reverses the direction of the change.
    Reversed,
}

/// Apply the HPA's rule to the target's `pods` at `current` replicas. An error when no ready pod
/// has metrics (no data is not zero) or the requests sum to nothing.
pub fn assess(pods: &[Pod], goal: Goal, current: i32, tolerance: f64) -> Result<Assessment, String> {
    let counted: Vec<&Pod> =
        pods.iter().filter(|p| p.standing == Standing::Ready && p.usage.is_some()).collect();
    let missing: Vec<&Pod> =
        pods.iter().filter(|p| p.standing == Standing::Ready && p.usage.is_none()).collect();
    let not_ready: Vec<&Pod> = pods.iter().filter(|p| p.standing == Standing::NotReady).collect();
    if counted.is_empty() {
        return Err(format!(
            "no ready pod has metrics ({} pods: {} without metrics, {} not ready)",
            pods.len(),
            missing.len(),
            not_ready.len()
        ));
    }
    // (usage, request) over a set of pods, each pod's usage given by `usage_of`.
    let usage_over = |set: &mut dyn Iterator<Item = (f64, f64)>| -> Result<(f64, f64), String> {
        let (usage, request, n) = set.fold((0.0, 0.0, 0usize), |(u, r, n), (pu, pr)| (u + pu, r + pr, n + 1));
        let level = match goal {
            Goal::Utilization(_) if request <= 0.0 => {
                return Err("the pods' requests sum to 0: utilization cannot be computed".to_string());
            }
            Goal::Utilization(_) => 100.0 * usage / request,
            Goal::AverageValue(_) => usage / n.max(1) as f64,
        };
        Ok((level, n as f64))
    };
    let target = match goal {
        Goal::Utilization(t) | Goal::AverageValue(t) => t,
    };
    let (measured, n) = usage_over(&mut counted.iter().map(|p| (p.usage.unwrap_or(0.0), p.request)))?;
    let ratio = measured / target;
    let current_f = f64::from(current.max(1));
    // What the engine needs at `current` replicas for `ceil(ratio * pods)`, or for a hold.
    let hand = |ratio: f64, pods: f64| match goal {
        Goal::Utilization(t) => t * ratio * pods / current_f,
        Goal::AverageValue(t) => t * ratio * pods,
    };
    let hold_value = match goal {
        Goal::Utilization(t) => t,
        Goal::AverageValue(t) => t * current_f,
    };
    let mut out = Assessment {
        value: hand(ratio, n),
        measured,
        measured_pods: counted.len(),
        missing: missing.len(),
        not_ready: not_ready.len(),
        adjusted: None,
        hold: None,
    };
    let within = |r: f64| (r - 1.0).abs() <= tolerance + 1e-9;
    let up_with_unready = !not_ready.is_empty() && ratio > 1.0;
    if missing.is_empty() && !up_with_unready {
        if within(ratio) {
            out.value = hold_value;
            out.hold = Some(Hold::Tolerance);
        }
        return Ok(out);
    }
    // Missing pods: at the target on a scale-down, at 0 on a scale-up; unready ones at 0 on a scale-up.
    let fill = |p: &Pod| match goal {
        Goal::Utilization(t) => p.request * t / 100.0,
        Goal::AverageValue(t) => t,
    };
    let mut all: Vec<(f64, f64)> = counted.iter().map(|p| (p.usage.unwrap_or(0.0), p.request)).collect();
    if ratio < 1.0 {
        all.extend(missing.iter().map(|p| (fill(p), p.request)));
    } else if ratio > 1.0 {
        all.extend(missing.iter().map(|p| (0.0, p.request)));
    }
    if up_with_unready {
        all.extend(not_ready.iter().map(|p| (0.0, p.request)));
    }
    let (adjusted, pods_counted) = usage_over(&mut all.into_iter())?;
    let new_ratio = adjusted / target;
    out.adjusted = Some(adjusted);
    let reversed = (ratio > 1.0 && new_ratio < 1.0) || (ratio < 1.0 && new_ratio > 1.0);
    let count = (new_ratio * pods_counted - 1e-9).ceil();
    let current_count = f64::from(current);
    let against = (new_ratio < 1.0 && count > current_count) || (new_ratio > 1.0 && count < current_count);
    if within(new_ratio) {
        out.value = hold_value;
        out.hold = Some(Hold::Tolerance);
    } else if reversed || against {
        out.value = hold_value;
        out.hold = Some(Hold::Reversed);
    } else {
        out.value = hand(new_ratio, pods_counted);
    }
    Ok(out)
}

impl Assessment {
    /// The account in words: `cpu 90% of requests over 3 pods`, then how missing and unready pods
    /// were counted and whether that holds the count.
    pub fn describe(&self, resource: &str, goal: Goal) -> String {
        let level = |x: f64| match goal {
            Goal::Utilization(_) => format!("{}% of requests", num(x)),
            Goal::AverageValue(_) => format!("{} per pod", quantity(resource, x)),
        };
        let plural = |n: usize| if n == 1 { "pod" } else { "pods" };
        let mut text = format!(
            "{resource} {} over {} ready {}",
            level(self.measured),
            self.measured_pods,
            plural(self.measured_pods)
        );
        let target = match goal {
            Goal::Utilization(t) | Goal::AverageValue(t) => t,
        };
        let up = self.measured > target;
        let mut counted = Vec::new();
        if self.missing > 0 {
            let at = if up { "0".to_string() } else { format!("the target ({})", level(target)) };
            counted.push(format!("{} without metrics counted at {at}", self.missing));
        }
        if self.not_ready > 0 {
            if self.adjusted.is_some() && up {
                counted.push(format!("{} not ready counted at 0", self.not_ready));
            } else {
                counted.push(format!("{} not ready left out", self.not_ready));
            }
        }
        if !counted.is_empty() {
            text.push_str("; ");
            text.push_str(&counted.join(", "));
        }
        if let Some(adjusted) = self.adjusted {
            text.push_str(&format!(": {}", level(adjusted)));
        }
        match self.hold {
            Some(Hold::Tolerance) => text.push_str(", within tolerance: hold"),
            Some(Hold::Reversed) => text.push_str(", which reverses the direction: hold"),
            None => {}
        }
        text
    }
}

/// A cpu or memory amount as people write it: `0.45 cores`, `512Mi`.
fn quantity(resource: &str, x: f64) -> String {
    if resource != "memory" {
        return format!("{} cores", num(x));
    }
    const UNITS: [(&str, f64); 3] =
        [("Gi", 1024.0 * 1024.0 * 1024.0), ("Mi", 1024.0 * 1024.0), ("Ki", 1024.0)];
    match UNITS.iter().find(|(_, size)| x >= *size) {
        Some((unit, size)) => format!("{}{unit}", num(x / size)),
        None => format!("{} bytes", num(x)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, standing: Standing, usage: Option<f64>, request: f64) -> Pod {
        Pod { name: name.to_string(), standing, usage, request }
    }

    fn ready(usage: f64) -> Pod {
        pod("p", Standing::Ready, Some(usage), 1.0)
    }

    /// The count the engine's Utilization formula makes of an assessment at `current` replicas.
    fn engine_count(a: &Assessment, target: f64, current: i32, tolerance: f64) -> i32 {
        let ratio = a.value / target;
        if (ratio - 1.0).abs() <= tolerance + 1e-9 {
            current
        } else {
            (f64::from(current) * ratio - 1e-9).ceil() as i32
        }
    }

    #[test]
    fn every_pod_measured_gives_the_plain_formula() {
        let pods = vec![ready(0.9), ready(0.9), ready(0.9)];
        let a = assess(&pods, Goal::Utilization(60.0), 3, 0.1).unwrap();
        assert!((a.measured - 90.0).abs() < 1e-9);
        assert_eq!(a.hold, None);
        assert_eq!(engine_count(&a, 60.0, 3, 0.1), 5, "ceil(3 * 90 / 60)");
        assert_eq!(a.describe("cpu", Goal::Utilization(60.0)), "cpu 90% of requests over 3 ready pods");
    }

    #[test]
    fn utilization_is_usage_over_requests_summed() {
        let pods = vec![pod("a", Standing::Ready, Some(0.5), 1.0), pod("b", Standing::Ready, Some(1.0), 0.5)];
        let a = assess(&pods, Goal::Utilization(100.0), 2, 0.1).unwrap();
        assert!((a.measured - 100.0).abs() < 1e-9, "1.5 cores of 1.5 requested");
        assert_eq!(a.hold, Some(Hold::Tolerance));
    }

    #[test]
    fn a_missing_pod_on_a_scale_down_counts_at_the_target_and_can_hold() {
        // Two pods at 30% of a 60% target would halve; the third, unmeasured, counts at 60%: 40%
        // over three pods asks ceil(3 * 40/60) = 2, a smaller step down.
        let mut pods = vec![ready(0.3), ready(0.3), pod("gone", Standing::Ready, None, 1.0)];
        let a = assess(&pods, Goal::Utilization(60.0), 3, 0.1).unwrap();
        assert!((a.adjusted.unwrap() - 40.0).abs() < 1e-9);
        assert_eq!(engine_count(&a, 60.0, 3, 0.1), 2);
        // At 52% (ratio 0.87, a scale-down alone), the missing pod at 60% lifts the average to
        // 54.67%: ratio 0.91, within tolerance: hold.
        pods[0].usage = Some(0.52);
        pods[1].usage = Some(0.52);
        let a = assess(&pods, Goal::Utilization(60.0), 3, 0.1).unwrap();
        assert_eq!(a.hold, Some(Hold::Tolerance));
        assert_eq!(engine_count(&a, 60.0, 3, 0.1), 3);
        assert_eq!(
            a.describe("cpu", Goal::Utilization(60.0)),
            "cpu 52% of requests over 2 ready pods; 1 without metrics counted at the target (60% of requests): 54.667% of requests, within tolerance: hold"
        );
    }

    #[test]
    fn a_missing_pod_on_a_scale_up_counts_at_zero_and_a_reversal_holds() {
        // 90% on two pods, the third at 0: 60%, exactly the target: hold.
        let pods = vec![ready(0.9), ready(0.9), pod("gone", Standing::Ready, None, 1.0)];
        let a = assess(&pods, Goal::Utilization(60.0), 3, 0.1).unwrap();
        assert_eq!(a.hold, Some(Hold::Tolerance));
        // 75% on two pods, the third at 0: 50%, below the target: the direction reverses.
        let pods = vec![ready(0.75), ready(0.75), pod("gone", Standing::Ready, None, 1.0)];
        let a = assess(&pods, Goal::Utilization(60.0), 3, 0.1).unwrap();
        assert_eq!(a.hold, Some(Hold::Reversed));
        assert_eq!(engine_count(&a, 60.0, 3, 0.1), 3);
        // 150% on two pods, the third at 0: 100%, still up: ceil(3 * 100/60) = 5.
        let pods = vec![ready(1.5), ready(1.5), pod("gone", Standing::Ready, None, 1.0)];
        let a = assess(&pods, Goal::Utilization(60.0), 3, 0.1).unwrap();
        assert_eq!(a.hold, None);
        assert_eq!(engine_count(&a, 60.0, 3, 0.1), 5);
    }

    #[test]
    fn unready_pods_count_at_zero_on_a_scale_up_and_are_left_out_of_a_scale_down() {
        let starting = pod("new", Standing::NotReady, None, 1.0);
        let pods = vec![ready(1.2), ready(1.2), starting.clone()];
        let a = assess(&pods, Goal::Utilization(60.0), 3, 0.1).unwrap();
        // 120% on two, 0 on the third: 80%, ceil(3 * 80/60) = 4.
        assert_eq!(engine_count(&a, 60.0, 3, 0.1), 4);
        assert!(a.describe("cpu", Goal::Utilization(60.0)).contains("1 not ready counted at 0"));
        let pods = vec![ready(0.3), ready(0.3), starting];
        let a = assess(&pods, Goal::Utilization(60.0), 3, 0.1).unwrap();
        // Scale-down over the ready pods alone: ceil(2 * 30/60) = 1.
        assert_eq!(engine_count(&a, 60.0, 3, 0.1), 1);
        assert!(a.describe("cpu", Goal::Utilization(60.0)).contains("1 not ready left out"));
    }

    #[test]
    fn average_value_hands_the_total() {
        let mib = 1024.0 * 1024.0;
        let pods = vec![ready(600.0 * mib), ready(600.0 * mib)];
        let a = assess(&pods, Goal::AverageValue(256.0 * mib), 2, 0.1).unwrap();
        assert!((a.value - 1200.0 * mib).abs() < 1.0, "ceil(1200Mi / 256Mi) = 5 in the engine");
        assert_eq!(
            a.describe("memory", Goal::AverageValue(256.0 * mib)),
            "memory 600Mi per pod over 2 ready pods"
        );
        let held = assess(&pods, Goal::AverageValue(600.0 * mib), 2, 0.1).unwrap();
        assert_eq!(held.value, 1200.0 * mib, "a hold is the target times the replicas");
    }

    #[test]
    fn no_measured_pod_is_no_data() {
        let pods = vec![pod("a", Standing::Ready, None, 1.0), pod("b", Standing::NotReady, Some(0.5), 1.0)];
        let err = assess(&pods, Goal::Utilization(60.0), 2, 0.1).unwrap_err();
        assert_eq!(err, "no ready pod has metrics (2 pods: 1 without metrics, 1 not ready)");
        assert!(assess(&[], Goal::Utilization(60.0), 0, 0.1).is_err());
    }
}
