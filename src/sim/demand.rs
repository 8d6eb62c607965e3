//! Demand and the reading (DESIGN §7): what the pods must serve, and what a scaler sees of it.
//!
//! [`Demand`] is the truth: the trace's points interpolated linearly between them on a 5-second grid
//! ([`Shape::Interpolated`], the default) or held for each whole trace step ([`Shape::Held`], the step
//! replay), times an optional seeded noise ([`Noise`]) that is multiplicative, mean-one and correlated
//! over a set time (an Ornstein-Uhlenbeck process on its logarithm). It is piecewise constant, so the
//! capacity model integrates it exactly between its changes.
//!
//! A [`Pipeline`] is how a source reports it: at once ([`Pipeline::Instant`]), as Prometheus' `rate()`
//! of a counter scraped every 15 s over a 1-minute window ([`Pipeline::Rate`]), as the mean of a
//! closed period published some time after it ends ([`Pipeline::PeriodMean`], a 5-minute aggregate),
//! or as a value sampled every so often and published late ([`Pipeline::Sampled`], Cloud Monitoring's
//! Pub/Sub backlog). The scaler and the HPA reference read through the same pipeline.

use std::fmt;

/// Simulated milliseconds between two values of interpolated or noisy demand.
pub const GRID_MS: i64 = 5_000;

/// How demand moves between the trace's points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Linear between the points, on a [`GRID_MS`] grid: demand moves all the time, as live load does.
    Interpolated,
    /// Each point's value for its whole step, jumping at the next point: the step replay.
    Held,
}

/// Correlated multiplicative noise on demand.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Noise {
    /// Standard deviation of the noise's logarithm: 0.03 moves demand by about 3%.
    pub level: f64,
    /// Simulated milliseconds over which the noise forgets itself (its correlation time).
    pub correlation_ms: i64,
    /// Seed: the same seed replays the same noise.
    pub seed: u64,
}

/// Demand over simulated time: piecewise constant, from simulated 0 to `end`.
#[derive(Clone, Debug, PartialEq)]
pub struct Demand {
    /// Simulated ms at which each value starts, increasing, the first 0.
    starts: Vec<i64>,
    /// Units per second from each start to the next.
    values: Vec<f64>,
    /// Units arrived before each start.
    before: Vec<f64>,
    /// Simulated ms at which the replay ends.
    end: i64,
    /// Unix ms of simulated time 0 (the trace's first point).
    origin_ms: i64,
}

impl Demand {
    /// Demand from `points` (`(trace ms, units per second)`, increasing in time, at least one) whose
    /// time axis is divided by `compress`, ending one `step_ms` of trace after the last point.
    pub fn new(
        points: &[(i64, f64)],
        step_ms: i64,
        compress: f64,
        shape: Shape,
        noise: Option<Noise>,
    ) -> Self {
        let compress = if compress > 0.0 && compress.is_finite() { compress } else { 1.0 };
        let origin_ms = points.first().map_or(0, |p| p.0);
        let sim = |trace_ms: i64| ((trace_ms - origin_ms) as f64 / compress).round() as i64;
        let last = points.last().map_or(0, |p| sim(p.0));
        let end = last.saturating_add(((step_ms as f64 / compress).round() as i64).max(1));
        let (mut starts, mut values) = (Vec::new(), Vec::new());
        if shape == Shape::Held && noise.is_none() {
            for p in points {
                starts.push(sim(p.0));
                values.push(p.1);
            }
        } else {
            let mut noise = noise.filter(|n| n.level > 0.0).map(NoiseSource::new);
            let mut i = 0;
            let mut t = 0;
            while t < end {
                while i + 1 < points.len() && sim(points[i + 1].0) <= t {
                    i += 1;
                }
                let base = match (shape, points.get(i + 1)) {
                    (Shape::Interpolated, Some(next)) => {
                        let (a, b) = (sim(points[i].0), sim(next.0));
                        let f = if b > a { (t - a) as f64 / (b - a) as f64 } else { 0.0 };
                        points[i].1 + (next.1 - points[i].1) * f
                    }
                    _ => points.get(i).map_or(0.0, |p| p.1),
                };
                let factor = noise.as_mut().map_or(1.0, NoiseSource::next);
                starts.push(t);
                values.push(base * factor);
                t += GRID_MS;
            }
        }
        if starts.first() != Some(&0) {
            starts.insert(0, 0);
            values.insert(0, values.first().copied().unwrap_or(0.0));
        }
        let mut before = Vec::with_capacity(starts.len());
        let mut total = 0.0;
        for k in 0..starts.len() {
            before.push(total);
            let until = starts.get(k + 1).copied().unwrap_or(end);
            total += values[k] * (until - starts[k]).max(0) as f64 / 1000.0;
        }
        Demand { starts, values, before, end, origin_ms }
    }

    /// Simulated ms at which the replay ends.
    pub fn end(&self) -> i64 {
        self.end
    }

    /// Unix ms of simulated time 0.
    pub fn origin_ms(&self) -> i64 {
        self.origin_ms
    }

    /// Values demand takes (its pieces).
    pub fn pieces(&self) -> usize {
        self.values.len()
    }

    /// The index of the piece in force at `t` (before 0: the first).
    fn index(&self, t: i64) -> usize {
        self.starts.partition_point(|&s| s <= t).saturating_sub(1)
    }

    /// Units per second at `t`.
    pub fn at(&self, t: i64) -> f64 {
        self.values[self.index(t)]
    }

    /// The piece in force at `t` and when the next one starts, moving `cursor` forward (for a replay
    /// that walks time in order; a `t` before the cursor's piece searches again).
    pub fn walk(&self, t: i64, cursor: &mut usize) -> (f64, i64) {
        if self.starts.get(*cursor).is_none_or(|&s| s > t) {
            *cursor = self.index(t);
        }
        while *cursor + 1 < self.starts.len() && self.starts[*cursor + 1] <= t {
            *cursor += 1;
        }
        (self.values[*cursor], self.starts.get(*cursor + 1).copied().unwrap_or(self.end))
    }

    /// Units arrived from 0 to `t` (clamped to the replay).
    pub fn arrived(&self, t: i64) -> f64 {
        let t = t.clamp(0, self.end);
        let k = self.index(t);
        self.before[k] + self.values[k] * (t - self.starts[k]) as f64 / 1000.0
    }

    /// Mean units per second over `[a, b)`; the value at `a` when the span is empty.
    pub fn mean(&self, a: i64, b: i64) -> f64 {
        if b <= a { self.at(a) } else { (self.arrived(b) - self.arrived(a)) / ((b - a) as f64 / 1000.0) }
    }

    /// Highest units per second over `[a, b]`.
    pub fn peak(&self, a: i64, b: i64) -> f64 {
        let first = self.index(a);
        let mut peak = self.values[first];
        for k in first + 1..self.starts.len() {
            if self.starts[k] > b {
                break;
            }
            peak = peak.max(self.values[k]);
        }
        peak
    }
}

/// The noise's state: an Ornstein-Uhlenbeck process on the logarithm, sampled every [`GRID_MS`].
struct NoiseSource {
    rng: SplitMix64,
    log: f64,
    keep: f64,
    level: f64,
}

impl NoiseSource {
    fn new(noise: Noise) -> Self {
        let keep = (-(GRID_MS as f64) / noise.correlation_ms.max(1) as f64).exp();
        let mut rng = SplitMix64(noise.seed);
        let log = rng.normal() * noise.level;
        NoiseSource { rng, log, keep, level: noise.level }
    }

    /// The next factor: mean one, log-normal.
    fn next(&mut self) -> f64 {
        let factor = (self.log - self.level * self.level / 2.0).exp();
        self.log =
            self.log * self.keep + (1.0 - self.keep * self.keep).sqrt() * self.level * self.rng.normal();
        factor
    }
}

/// A small seeded generator (SplitMix64): the noise must replay identically on every machine.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// How a source reports demand to the scaler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pipeline {
    /// The value at the moment of the reading.
    Instant,
    /// Prometheus' `rate()` of a counter scraped every `scrape_ms` over `window_ms`: the increase
    /// between the first and last scrapes inside the window over the time between them.
    Rate {
        /// Simulated ms between two scrapes.
        scrape_ms: i64,
        /// The range of the query.
        window_ms: i64,
    },
    /// The mean of the last closed `period_ms`, published `delay_ms` after it closes.
    PeriodMean {
        /// Length of a period.
        period_ms: i64,
        /// Time from a period's end to its publication.
        delay_ms: i64,
    },
    /// The value sampled every `every_ms`, published `delay_ms` after the sample.
    Sampled {
        /// Simulated ms between two samples.
        every_ms: i64,
        /// Time from a sample to its publication.
        delay_ms: i64,
    },
}

impl Pipeline {
    /// A Prometheus query: `rate(...[1m])` with a 15 s scrape.
    pub const PROMETHEUS: Pipeline = Pipeline::Rate { scrape_ms: 15_000, window_ms: 60_000 };
    /// Cloud Monitoring's Pub/Sub backlog: sampled every minute, visible about two minutes later.
    pub const PUBSUB: Pipeline = Pipeline::Sampled { every_ms: 60_000, delay_ms: 120_000 };
    /// A 5-minute aggregate published two minutes after its period closes.
    pub const PERIOD: Pipeline = Pipeline::PeriodMean { period_ms: 300_000, delay_ms: 120_000 };

    /// What a rate source reports of `demand` at `t`.
    pub fn read(&self, demand: &Demand, t: i64) -> f64 {
        match *self {
            Pipeline::Instant => demand.at(t),
            Pipeline::Rate { scrape_ms, window_ms } => {
                let scrape = scrape_ms.max(1);
                let last = t.div_euclid(scrape) * scrape;
                // Scrapes inside (t - window, t]: the first is a whole number of scrapes before the last.
                let span = ((window_ms - 1).max(0) / scrape) * scrape;
                let first = (last - span).max(0);
                if last <= first { demand.at(t) } else { demand.mean(first, last) }
            }
            Pipeline::PeriodMean { period_ms, delay_ms } => {
                let period = period_ms.max(1);
                let end = (t - delay_ms).div_euclid(period) * period;
                if end <= 0 { demand.at(0) } else { demand.mean(end - period, end) }
            }
            Pipeline::Sampled { .. } => demand.at(self.sample_time(t).max(0)),
        }
    }

    /// For a sampled pipeline, the time of the sample visible at `t`; otherwise `t`.
    pub fn sample_time(&self, t: i64) -> i64 {
        match *self {
            Pipeline::Sampled { every_ms, delay_ms } => {
                let every = every_ms.max(1);
                (t - delay_ms).div_euclid(every) * every
            }
            _ => t,
        }
    }
}

impl fmt::Display for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = short_duration;
        match *self {
            Pipeline::Instant => f.write_str("instant"),
            Pipeline::Rate { scrape_ms, window_ms } => write!(f, "rate={}/{}", s(scrape_ms), s(window_ms)),
            Pipeline::PeriodMean { period_ms, delay_ms } => {
                write!(f, "period={}+{}", s(period_ms), s(delay_ms))
            }
            Pipeline::Sampled { every_ms, delay_ms } => write!(f, "sampled={}+{}", s(every_ms), s(delay_ms)),
        }
    }
}

/// `15s`, `1m`, `90s`, `500ms`: as the flags take it back.
fn short_duration(ms: i64) -> String {
    match ms {
        ms if ms % 60_000 == 0 && ms != 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

/// Past values of a queue metric as read at each decision, for a sampled pipeline to publish late.
#[derive(Clone, Debug, Default)]
pub struct Tap {
    /// `(simulated ms, value)`, oldest first; only what a pipeline may still publish is kept.
    values: std::collections::VecDeque<(i64, f64)>,
}

impl Tap {
    /// Record `value` read at `t`, and return what `pipeline` publishes at `t`: the value itself, or
    /// for a sampled pipeline the last value read at or before the sample visible now (the first
    /// value read while no sample is visible yet).
    pub fn read(&mut self, pipeline: &Pipeline, t: i64, value: f64) -> f64 {
        let Pipeline::Sampled { .. } = pipeline else { return value };
        self.values.push_back((t, value));
        let at = pipeline.sample_time(t);
        while self.values.len() > 1 && self.values[1].0 <= at {
            self.values.pop_front();
        }
        self.values.front().map_or(value, |v| v.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    // 100/s at 0, 200/s at 60 s, a 60 s step: held, 100 until 60 s then 200 until 120 s; interpolated,
    // 100 + t/60 s x 100 on a 5 s grid, then 200 for the last step.
    #[test]
    fn held_and_interpolated_demand() {
        let points = [(0, 100.0), (60_000, 200.0)];
        let held = Demand::new(&points, 60_000, 1.0, Shape::Held, None);
        assert_eq!((held.at(59_999), held.at(60_000), held.end(), held.pieces()), (100.0, 200.0, 120_000, 2));
        assert!(close(held.arrived(120_000), 100.0 * 60.0 + 200.0 * 60.0));
        let live = Demand::new(&points, 60_000, 1.0, Shape::Interpolated, None);
        assert_eq!(live.pieces(), 24);
        assert!(
            close(live.at(30_000), 150.0)
                && close(live.at(34_999), 150.0)
                && close(live.at(35_000), 100.0 + 35.0 / 0.6)
        );
        assert!(close(live.at(100_000), 200.0));
        assert!(close(
            live.mean(0, 60_000),
            (0..12).map(|k| 100.0 + f64::from(k) * 5.0 / 0.6).sum::<f64>() / 12.0
        ));
        assert_eq!(live.peak(0, 120_000), 200.0);
        let mut cursor = 0;
        assert_eq!(live.walk(7_000, &mut cursor), (live.at(5_000), 10_000));
        assert_eq!(live.walk(3_000, &mut cursor), (100.0, 5_000));
        // Compressed 20x: the 60 s step lasts 3 s.
        assert_eq!(Demand::new(&points, 60_000, 20.0, Shape::Held, None).end(), 6_000);
    }

    // The noise is reproducible by its seed, moves demand by about its level, averages to the demand
    // itself, and is correlated over its correlation time.
    #[test]
    fn noise_is_seeded_mean_one_and_correlated() {
        let points = [(0, 100.0), (86_400_000, 100.0)];
        let noise = Noise { level: 0.05, correlation_ms: 60_000, seed: 42 };
        let a = Demand::new(&points, 60_000, 1.0, Shape::Held, Some(noise));
        let b = Demand::new(&points, 60_000, 1.0, Shape::Held, Some(noise));
        let c = Demand::new(&points, 60_000, 1.0, Shape::Held, Some(Noise { seed: 43, ..noise }));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let values: Vec<f64> = (0..a.end() / GRID_MS).map(|k| a.at(k * GRID_MS) / 100.0 - 1.0).collect();
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(mean.abs() < 0.005, "mean {mean}");
        assert!((0.04..0.06).contains(&sd), "sd {sd}");
        let lag = |k: usize| {
            values.windows(k + 1).map(|w| (w[0] - mean) * (w[k] - mean)).sum::<f64>()
                / (n - k as f64)
                / sd
                / sd
        };
        // exp(-5/60) one grid step apart, exp(-1) a correlation time apart.
        assert!((lag(1) - (-5.0_f64 / 60.0).exp()).abs() < 0.05, "{}", lag(1));
        assert!((lag(12) - (-1.0_f64).exp()).abs() < 0.1, "{}", lag(12));
    }

    // A ramp of 1/s per second read through each pipeline at 600 s.
    #[test]
    fn pipelines_lag_as_their_sources_do() {
        let points: Vec<(i64, f64)> = (0..=20).map(|k| (k * 60_000, f64::from(k as i32) * 60.0)).collect();
        let d = Demand::new(&points, 60_000, 1.0, Shape::Interpolated, None);
        let at = |p: Pipeline, t: i64| p.read(&d, t);
        assert_eq!(at(Pipeline::Instant, 600_000), 600.0);
        // rate over the scrapes at 555, 570, 585 and 600 s: the mean over [555, 600) on the 5 s grid.
        assert!(close(at(Pipeline::PROMETHEUS, 607_000), d.mean(555_000, 600_000)));
        assert!(close(at(Pipeline::PROMETHEUS, 607_000), 575.0));
        // The 5-minute period [300, 600) closes at 600 and is published at 720 s.
        assert!(close(at(Pipeline::PERIOD, 719_999), d.mean(0, 300_000)));
        assert!(close(at(Pipeline::PERIOD, 720_000), d.mean(300_000, 600_000)));
        assert_eq!(at(Pipeline::PERIOD, 10_000), 0.0);
        // Sampled each minute, published two minutes late.
        assert_eq!(at(Pipeline::PUBSUB, 779_000), 600.0);
        assert_eq!(at(Pipeline::PUBSUB, 780_000), 660.0);
        assert_eq!(Pipeline::PUBSUB.sample_time(780_000), 660_000);
        assert_eq!(Pipeline::PROMETHEUS.to_string(), "rate=15s/1m");
        assert_eq!(Pipeline::PERIOD.to_string(), "period=5m+2m");
        assert_eq!(Pipeline::PUBSUB.to_string(), "sampled=1m+2m");
    }

    // A queue read every 15 s, published as Pub/Sub's sampled backlog.
    #[test]
    fn a_tap_publishes_what_was_read_when_sampled() {
        let mut tap = Tap::default();
        let p = Pipeline::PUBSUB;
        let read: Vec<f64> = (0..20).map(|k| tap.read(&p, k * 15_000, k as f64)).collect();
        // Until a sample is visible (120 s), the first value read; then the value read at the sample.
        assert_eq!(&read[..9], &[0.0; 9]);
        assert_eq!(read[11], 0.0);
        assert_eq!(read[12], 4.0);
        assert_eq!(read[16], 8.0);
        assert_eq!(tap.read(&Pipeline::Instant, 0, 7.0), 7.0);
    }
}
