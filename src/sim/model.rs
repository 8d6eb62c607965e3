//! The capacity model of DESIGN §7: pods that serve `capacityPerPod` units per second once they have
//! started, demand above capacity queued as a backlog carried over, and the time a queue exists
//! counted as SLO violation.
//!
//! Between two events (a decision, a trace point, a pod becoming ready) demand and capacity are
//! constant, so the backlog is integrated exactly rather than in small steps: the model is both
//! precise and fast. It knows nothing of autoscalers; the driver in `sim` asks it and moves it.

/// Backlogs below this many units are empty: float noise must not count as a queue.
const EMPTY: f64 = 1e-9;

/// The pods, the queue and the running totals.
#[derive(Clone, Debug)]
pub struct Model {
    /// Units one ready pod serves per second.
    capacity_per_pod: f64,
    /// Cohorts of pods created together: when they start serving (simulated ms) and how many,
    /// oldest first. Cohorts keep a large count cheap: one entry per scale-up, not per pod.
    cohorts: Vec<(i64, i32)>,
    /// Units waiting.
    backlog: f64,
    /// Integral of replicas over time, in pod-milliseconds.
    pod_ms: f64,
    /// Time during which a queue existed, in milliseconds.
    violation_ms: f64,
    /// Units that arrived.
    arrived: f64,
}

impl Model {
    /// A model with `replicas` pods, all serving from time 0.
    pub fn new(capacity_per_pod: f64, replicas: i32) -> Self {
        let cohorts = if replicas > 0 { vec![(i64::MIN, replicas)] } else { Vec::new() };
        Model { capacity_per_pod, cohorts, backlog: 0.0, pod_ms: 0.0, violation_ms: 0.0, arrived: 0.0 }
    }

    /// Pods that exist (serving or starting): what the workload's `/scale` reports.
    pub fn replicas(&self) -> i32 {
        self.cohorts.iter().map(|c| c.1).sum()
    }

    /// Pods serving at `t`.
    pub fn ready(&self, t: i64) -> i32 {
        self.cohorts.iter().filter(|c| c.0 <= t).map(|c| c.1).sum()
    }

    /// Units per second the ready pods serve at `t`.
    pub fn capacity(&self, t: i64) -> f64 {
        f64::from(self.ready(t)) * self.capacity_per_pod
    }

    /// Units per second one pod serves.
    pub fn capacity_per_pod(&self) -> f64 {
        self.capacity_per_pod
    }

    /// Units waiting.
    pub fn backlog(&self) -> f64 {
        self.backlog
    }

    /// Pod-hours so far.
    pub fn pod_hours(&self) -> f64 {
        self.pod_ms / 3_600_000.0
    }

    /// Minutes during which a queue existed.
    pub fn violation_minutes(&self) -> f64 {
        self.violation_ms / 60_000.0
    }

    /// Units that arrived so far.
    pub fn arrived(&self) -> f64 {
        self.arrived
    }

    /// The first time after `t` at which a starting pod becomes ready.
    pub fn next_ready_after(&self, t: i64) -> Option<i64> {
        self.cohorts.iter().map(|c| c.0).filter(|&r| r > t).min()
    }

    /// Scale to `replicas` at `t`: new pods serve after `start_ms`; removal takes the newest
    /// pods first (those still starting), as a ReplicaSet does.
    pub fn scale_to(&mut self, replicas: i32, t: i64, start_ms: i64) {
        let mut excess = self.replicas() - replicas.max(0);
        if excess < 0 {
            self.cohorts.push((t.saturating_add(start_ms.max(0)), -excess));
            return;
        }
        while excess > 0 {
            let Some(last) = self.cohorts.last_mut() else { break };
            let take = last.1.min(excess);
            last.1 -= take;
            excess -= take;
            if last.1 == 0 {
                self.cohorts.pop();
            }
        }
    }

    /// Move from `t0` to `t1` with `demand` units per second arriving and the pods as they are
    /// (no pod becomes ready strictly inside the interval: the driver stops at each readiness).
    pub fn advance(&mut self, t0: i64, t1: i64, demand: f64) {
        if t1 <= t0 {
            return;
        }
        let dt_ms = (t1 - t0) as f64;
        let dt = dt_ms / 1000.0;
        let capacity = self.capacity(t0);
        self.pod_ms += f64::from(self.replicas()) * dt_ms;
        self.arrived += demand * dt;
        if demand > capacity {
            self.backlog += (demand - capacity) * dt;
            self.violation_ms += dt_ms;
        } else if self.backlog > EMPTY {
            let drain = capacity - demand;
            let clear_ms = if drain > 0.0 { self.backlog / drain * 1000.0 } else { f64::INFINITY };
            self.violation_ms += clear_ms.min(dt_ms);
            self.backlog = (self.backlog - drain * dt).max(0.0);
            if self.backlog <= EMPTY {
                self.backlog = 0.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demand_within_capacity_leaves_no_queue() {
        let mut m = Model::new(10.0, 2);
        m.advance(0, 3_600_000, 20.0);
        assert_eq!(m.backlog(), 0.0);
        assert_eq!(m.violation_minutes(), 0.0);
        assert!((m.pod_hours() - 2.0).abs() < 1e-12);
    }

    #[test]
    fn excess_demand_queues_and_drains() {
        let mut m = Model::new(10.0, 1);
        // 60 s at 15/s against 10/s: 300 units queue, one minute of violation.
        m.advance(0, 60_000, 15.0);
        assert!((m.backlog() - 300.0).abs() < 1e-9);
        // Back to 5/s: drains at 5/s, 60 s to clear, inside a 120 s interval.
        m.advance(60_000, 180_000, 5.0);
        assert_eq!(m.backlog(), 0.0);
        assert!((m.violation_minutes() - 2.0).abs() < 1e-9);
    }

    #[test]
    fn new_pods_serve_after_their_start_delay_and_removal_takes_the_newest() {
        let mut m = Model::new(10.0, 1);
        m.scale_to(3, 1_000, 30_000);
        assert_eq!(m.replicas(), 3);
        assert_eq!(m.ready(30_999), 1);
        assert_eq!(m.ready(31_000), 3);
        assert_eq!(m.next_ready_after(1_000), Some(31_000));
        m.scale_to(2, 2_000, 30_000);
        assert_eq!((m.replicas(), m.ready(2_000)), (2, 1));
        m.scale_to(0, 3_000, 30_000);
        assert_eq!(m.replicas(), 0);
        assert_eq!(m.next_ready_after(3_000), None);
        // A huge count is one cohort, not a billion entries.
        m.scale_to(i32::MAX, 4_000, 30_000);
        assert_eq!((m.replicas(), m.ready(34_000)), (i32::MAX, i32::MAX));
    }
}
