//! The GeneralScaler status: what the daemon saw and did, and the memory the engine needs.
//!
//! Everything a restarted daemon must honour (scale times, the recommendation window, the failure
//! count, spend, the forecaster's memory) lives in [`History`], which the pure engine reads and
//! returns. The forecaster's memory is a few KiB of numbers, so it travels as compact base64 strings
//! (see [`ForecastHistory`]); what it means and how it is updated lives in `decision::forecast`. Conditions use
//! the Kubernetes `metav1.Condition` shape so `kubectl describe` and `kubectl wait` understand them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the daemon last observed and decided for one scaler.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeneralScalerStatus {
    /// The spec generation this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Replicas of the target when last observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_replicas: Option<i32>,
    /// Replicas the last decision asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<i32>,
    /// One line for `kubectl get`: each metric's value against its target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_summary: Option<String>,
    /// Each metric's last reading.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricStatus>,
    /// When the target was last scaled, either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_time: Option<Timestamp>,
    /// The last decision, stage by stage in one line each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_decision: Option<DecisionRecord>,
    /// The most recent decisions that changed something, newest last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_decisions: Vec<DecisionRecord>,
    /// The schedules (`spec.schedules`) open at the last decision, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active_schedules: Vec<String>,
    /// The engine's memory: windows, cooldowns, failures, spend.
    #[serde(default)]
    pub history: History,
    /// Ready, Scaling, MetricsAvailable, and the warnings (BudgetExceeded, FallbackActive, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// One metric's last reading.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricStatus {
    /// The metric's name (its `name`, else its type).
    pub name: String,
    /// The value read, if the read succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The metric's target value.
    pub target: f64,
    /// The replica count this metric alone asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<i32>,
    /// Why the read failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One decision, as kept in status.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionRecord {
    /// When it was made.
    pub time: Timestamp,
    /// Replicas before.
    pub from: i32,
    /// Replicas decided.
    pub to: i32,
    /// The verdict in words.
    pub reason: String,
}

/// The engine's memory, carried from one decision to the next through status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct History {
    /// Recommendations inside the longest stabilization window, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recommendations: Vec<Recommendation>,
    /// When gscale last scaled the target up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_up_time: Option<Timestamp>,
    /// When gscale last scaled the target down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_down_time: Option<Timestamp>,
    /// Consecutive decisions in which every metric failed.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Spend this calendar month, for costAware.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend: Option<Spend>,
    /// The forecaster's memory (spec.forecast Observe or On): the load's learnt shape and its error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<ForecastHistoryWire>")]
    pub forecast: Option<ForecastHistory>,
}

/// One recommendation of the stabilization window.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub struct Recommendation {
    /// When it was made.
    pub time: Timestamp,
    /// The count recommended before stabilization.
    pub replicas: i32,
}

/// Spend integrated from replica-hours over the current calendar month (UTC).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Spend {
    /// Spend so far this month.
    pub cost: f64,
    /// Up to when replica-hours are counted.
    pub accounted_until: Timestamp,
    /// The replica count in force since `accountedUntil`.
    pub replicas: i32,
}

/// Seconds in one slot of the history: readings are averaged per minute.
pub const FORECAST_SLOT_SECONDS: i64 = 60;
/// Slots of the daily profile: one per minute of the day.
pub const DAILY_SLOTS: usize = 1440;
/// Minutes per slot of the weekly profile (a finer one would not fit the 16 KiB budget).
pub const WEEKLY_SLOT_MINUTES: i64 = 5;
/// Slots of the weekly profile: one per 5 minutes of the week.
pub const WEEKLY_SLOTS: usize = 2016;
/// Closed minutes kept as they were measured (the level and the error are read from them).
pub const RECENT_MINUTES: usize = 60;
/// Forecast errors kept, one per closed minute: the last four hours.
pub const ERROR_MINUTES: usize = 240;
/// Bases the short-horizon forecast sizes capacity from (`decision::forecast` names them).
pub const BASES: usize = 6;
/// Measured ratios kept, one set per closed minute: the last four hours.
pub const RATIO_MINUTES: usize = 240;
/// Changes of the reading kept (their gaps and sizes): what the cadence forecast learns from.
pub const STEP_CHANGES: usize = 64;

/// The forecaster's memory: a seasonal profile per season (an exponentially weighted average per
/// minute of the day, or per 5 minutes of the week), the last hour as measured with what the profile
/// expected, the relative error of the seasonal forecast over the last four hours, and the ratios of
/// the highest demand a lead time ahead to each base the short-horizon forecast sizes from. Values are
/// kept as 16-bit log codes ([`code`]: 0.07% apart) and ratios as 8-bit ones ([`ratio_code`]), so what
/// a restarted daemon reads back from status is exactly what the running one held: at most
/// 2 x (1440 + 2016) + 16 x 60 + 8 x 240 + 6 x 240 + 7 x 64 bytes of data (11.5 KiB; about 15.5 KiB
/// of base64 in status).
///
/// The arithmetic (recording a reading, predicting, building from a backend's series) is
/// `decision::forecast`'s; this type is its data.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(into = "ForecastHistoryWire", try_from = "ForecastHistoryWire")]
pub struct ForecastHistory {
    /// The lead time (seconds) the recorded errors were measured at.
    pub lead_seconds: u32,
    /// The scale-down horizon (lead time plus the scale-down window, seconds) the second pair of
    /// errors was measured at.
    pub hold_seconds: u32,
    /// The minute (Unix seconds / 60) being recorded, `None` before the first reading.
    pub minute: Option<i64>,
    /// Sum and count of the readings of that minute so far.
    pub partial: (f64, u32),
    /// The highest reading of that minute so far.
    pub partial_peak: f64,
    /// Minutes recorded since the history began (saturating).
    pub recorded_minutes: u32,
    /// Per minute of the day, when daily is a season.
    pub daily: Option<Profile>,
    /// Per 5 minutes of the week, when weekly is a season.
    pub weekly: Option<Profile>,
    /// The last closed minutes, oldest first.
    pub recent: std::collections::VecDeque<RecentMinute>,
    /// Relative errors (actual / predicted - 1) in thousandths, one per closed minute, oldest first:
    /// the forecast's and that of the reading held as it was (what the reactive rules assume, the
    /// yardstick the forecast must beat), each made a lead time earlier and a scale-down horizon
    /// earlier: `[forecast, held, forecast at the horizon, held at the horizon]`.
    pub errors: std::collections::VecDeque<[i16; 4]>,
    /// Per closed minute, oldest first: the highest demand over the lead time that ended with it over
    /// each base as it stood when that lead time began ([`ratio_code`]s, 0: the base was unknown).
    pub ratios: std::collections::VecDeque<[u8; BASES]>,
    /// Figures of those errors, kept with them so a decision need not sort them.
    pub stats: ForecastStats,
    /// When and by how much the reading itself changed, reading by reading: the cadence forecast's.
    pub steps: Steps,
    /// The trend forecast's readings and record, reading by reading.
    pub trend: Trend,
}

/// Records the trend forecast keeps: two hours of 15 s decisions.
pub const TREND_RECORD: usize = 480;

/// The trend forecast's memory (`decision::forecast::trend`): the last minutes of readings, the
/// predictions whose lead time has not passed yet, and for each settled prediction how the peak over
/// its lead time compared with it and with the scale-down window's hold. Status keeps the record
/// (2 x [`TREND_RECORD`] codes, under 2.6 KiB of base64); the readings and pending predictions span
/// a few minutes and are rebuilt after a restart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trend {
    /// `(Unix ms, demand)`, oldest first.
    pub readings: std::collections::VecDeque<(i64, f64)>,
    /// `(Unix ms, prediction, window's hold)`, oldest first.
    pub pending: std::collections::VecDeque<(i64, f64, f64)>,
    /// `(Unix ms, replicas)` the trend asked for, oldest first.
    pub counts: std::collections::VecDeque<(i64, i32)>,
    /// Per settled prediction, oldest first: the peak over its lead time over the prediction, and over
    /// the window's hold, as [`code`]s.
    pub record: std::collections::VecDeque<[u16; 2]>,
    /// What the record says (the margin, and the capacity over the window's), as last worked out, and
    /// the predictions settled since: sorting the record at every decision would cost more than the
    /// rest of the decision, and a minute's records move it little.
    pub figures: Option<(f64, f64)>,
    /// Predictions settled since `figures` was worked out.
    pub settled: u32,
}

/// The reading's changes, as read at each decision (not per minute): a metric that changes only at a
/// regular period (a gauge scraped or aggregated every few minutes) says when its next change is due.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Steps {
    /// The demand last read, `None` before the first reading or after a silence.
    pub value: Option<f64>,
    /// When it was last read (Unix seconds).
    pub seen: i64,
    /// When it last changed (Unix seconds); `None` until a change is seen after a silence: the phase
    /// of the next change is not known then.
    pub changed: Option<i64>,
    /// Whether that change was a rise.
    pub rose: bool,
    /// The last changes, oldest first.
    pub changes: std::collections::VecDeque<Change>,
}

/// One change of the reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// Seconds since the change before it.
    pub gap: u32,
    /// New over old as a [`code`] (a rise from zero reads as 10x).
    pub ratio: u16,
    /// Whether the change before it was a rise (what follows a rise and a fall differ).
    pub after_rise: bool,
}

/// What the recent errors say, updated with them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ForecastStats {
    /// Errors measured (at most 240).
    #[serde(default)]
    pub errors: u32,
    /// Median relative error, either way, over them.
    #[serde(default)]
    pub typical: f32,
    /// Median relative error, either way, over the last 30.
    #[serde(default)]
    pub recent: f32,
    /// The safety margin: an upper percentile of actual / forecast - 1, at least 0.
    #[serde(default)]
    pub margin: f32,
    /// The margin before letting scale-down go sooner: a higher percentile, at least 0.
    #[serde(default)]
    pub hold_margin: f32,
    /// Mean relative error, either way, of the forecast.
    #[serde(default)]
    pub mean: f32,
    /// Mean relative error, either way, of the reading held a lead time: the forecast must do better.
    #[serde(default)]
    pub persistence: f32,
    /// Mean relative error, either way, of the forecast at the scale-down horizon.
    #[serde(default)]
    pub hold_mean: f32,
    /// The same for the reading held that long.
    #[serde(default)]
    pub hold_persistence: f32,
    /// The base the short-horizon forecast sizes from (1 + its index; 0: none measured enough).
    #[serde(default)]
    pub base: u32,
    /// That base's ratio: the share of it that covered the demand a lead time ahead as often as asked.
    #[serde(default)]
    pub ratio: f32,
    /// The share of minutes the ratio covers: as many as the 5-minute window did (at least half).
    #[serde(default)]
    pub coverage: f32,
    /// The median over the last hour of each minute's peak over its mean: how much the load moves
    /// within a minute.
    #[serde(default)]
    pub spread: f32,
}

/// A seasonal profile: one log-coded value per slot, 0 where nothing was seen yet.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// The slots.
    pub slots: Vec<u16>,
    /// How many slots hold a value.
    pub seen: u32,
}

impl Profile {
    /// An empty profile of `len` slots.
    pub fn new(len: usize) -> Self {
        Profile { slots: vec![0; len], seen: 0 }
    }
}

/// One closed minute as measured, with what the forecast knew then (log codes, 0: unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecentMinute {
    /// Unix seconds / 60.
    pub minute: i64,
    /// The mean demand measured.
    pub actual: u16,
    /// What the seasonal profiles expected, before learning this minute.
    pub expected: u16,
    /// The level (recent demand over what the profiles expected) once this minute closed.
    pub level: u16,
    /// The highest reading of the minute.
    pub peak: u16,
}

/// 8-bit log codes of ratios: 0 is "unknown", then 64 steps per unit of ln from e^-2 (0.14) to about
/// e^2 (7.3), bounded at both ends.
pub mod ratio_code {
    const STEPS: f64 = 64.0;
    const ONE: f64 = 128.0;

    /// The code of a ratio > 0 (others code as unknown).
    pub fn encode(r: f64) -> u8 {
        if !r.is_finite() || r <= 0.0 {
            return 0;
        }
        (ONE + (r.ln() * STEPS).round()).clamp(1.0, 255.0) as u8
    }

    /// The ratio of a code; `None` for 0.
    pub fn decode(c: u8) -> Option<f64> {
        (c != 0).then(|| ((f64::from(c) - ONE) / STEPS).exp())
    }
}

/// Log codes: 0 is "nothing", 1 is zero, then 1024 steps per octave from 2^-20 to about 2^44.
pub mod code {
    const STEPS_PER_OCTAVE: f64 = 1024.0;
    const LOWEST_OCTAVE: f64 = -20.0;

    /// The most a decoded value can exceed the value encoded, relative: half a step.
    pub const PRECISION: f64 = 3.385e-4;

    /// The code of a value (negative, NaN and infinite values code as nothing).
    pub fn encode(v: f64) -> u16 {
        if !v.is_finite() || v < 0.0 {
            return 0;
        }
        let octaves = v.log2() - LOWEST_OCTAVE;
        if octaves < 0.0 {
            return 1;
        }
        (2.0 + (octaves * STEPS_PER_OCTAVE).round()).min(f64::from(u16::MAX)) as u16
    }

    /// The value of a code; `None` for 0.
    pub fn decode(c: u16) -> Option<f64> {
        match c {
            0 => None,
            1 => Some(0.0),
            _ => Some(((f64::from(c) - 2.0) / STEPS_PER_OCTAVE + LOWEST_OCTAVE).exp2()),
        }
    }
}

/// How [`ForecastHistory`] is written in status: numbers as base64 of little-endian arrays.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ForecastHistoryWire {
    /// The encoding's version (3; 2 had no steps, 1 no peaks nor ratios).
    pub version: u32,
    /// The lead time (seconds) the errors were measured at.
    pub lead_seconds: u32,
    /// The scale-down horizon (seconds) the second pair of errors was measured at.
    #[serde(default)]
    pub hold_seconds: u32,
    /// The minute being recorded (Unix seconds / 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minute: Option<i64>,
    /// Sum of that minute's readings so far.
    #[serde(default)]
    pub partial_sum: f64,
    /// Count of that minute's readings so far.
    #[serde(default)]
    pub partial_count: u32,
    /// The highest of that minute's readings so far.
    #[serde(default)]
    pub partial_peak: f64,
    /// Minutes recorded since the history began.
    #[serde(default)]
    pub recorded_minutes: u32,
    /// The daily profile: 1440 u16 log codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily: Option<String>,
    /// The weekly profile: 2016 u16 log codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly: Option<String>,
    /// The last hour: per minute an i64 minute and four u16 codes (actual, expected, level, peak;
    /// version 1: the first three).
    #[serde(default)]
    pub recent: String,
    /// Recent errors: per minute four i16 thousandths (forecast, reading held; the same at the horizon).
    #[serde(default)]
    pub errors: String,
    /// Recent ratios: per minute one u8 code per base.
    #[serde(default)]
    pub ratios: String,
    /// What those errors say.
    #[serde(default)]
    pub stats: ForecastStats,
    /// The demand last read (version 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_value: Option<f64>,
    /// When it was last read (Unix seconds).
    #[serde(default)]
    pub step_seen: i64,
    /// When it last changed (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_changed: Option<i64>,
    /// Whether that change was a rise.
    #[serde(default)]
    pub step_rose: bool,
    /// The reading's last changes: per change a u32 gap (seconds), a u16 ratio code and a u8 flag
    /// (1: it followed a rise).
    #[serde(default)]
    pub steps: String,
    /// The trend forecast's record: pairs of 16-bit codes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub trend: String,
}

impl From<ForecastHistory> for ForecastHistoryWire {
    fn from(h: ForecastHistory) -> Self {
        let words = |v: &[u16]| BASE64.encode(v.iter().flat_map(|c| c.to_le_bytes()).collect::<Vec<u8>>());
        let mut recent = Vec::with_capacity(h.recent.len() * 16);
        for r in &h.recent {
            recent.extend(r.minute.to_le_bytes());
            for c in [r.actual, r.expected, r.level, r.peak] {
                recent.extend(c.to_le_bytes());
            }
        }
        let errors: Vec<u8> = h.errors.iter().flat_map(|e| e.iter().flat_map(|x| x.to_le_bytes())).collect();
        let ratios: Vec<u8> = h.ratios.iter().flatten().copied().collect();
        let mut steps = Vec::with_capacity(h.steps.changes.len() * 7);
        for c in &h.steps.changes {
            steps.extend(c.gap.to_le_bytes());
            steps.extend(c.ratio.to_le_bytes());
            steps.push(u8::from(c.after_rise));
        }
        ForecastHistoryWire {
            version: 3,
            lead_seconds: h.lead_seconds,
            hold_seconds: h.hold_seconds,
            minute: h.minute,
            partial_sum: h.partial.0,
            partial_count: h.partial.1,
            partial_peak: h.partial_peak,
            recorded_minutes: h.recorded_minutes,
            daily: h.daily.as_ref().map(|p| words(&p.slots)),
            weekly: h.weekly.as_ref().map(|p| words(&p.slots)),
            recent: BASE64.encode(recent),
            errors: BASE64.encode(errors),
            ratios: BASE64.encode(ratios),
            stats: h.stats,
            step_value: h.steps.value,
            step_seen: h.steps.seen,
            step_changed: h.steps.changed,
            step_rose: h.steps.rose,
            steps: BASE64.encode(steps),
            trend: if h.trend.record.is_empty() {
                String::new()
            } else {
                words(&h.trend.record.iter().flatten().copied().collect::<Vec<u16>>())
            },
        }
    }
}

impl TryFrom<ForecastHistoryWire> for ForecastHistory {
    type Error = String;

    fn try_from(w: ForecastHistoryWire) -> Result<Self, String> {
        if !(1..=3).contains(&w.version) {
            return Err(format!("forecast history version {} is not 1, 2 or 3", w.version));
        }
        let bytes = |name: &str, s: &str| {
            BASE64.decode(s).map_err(|e| format!("forecast history {name} is not base64: {e}"))
        };
        let profile = |name: &str, s: &Option<String>, len: usize| -> Result<Option<Profile>, String> {
            let Some(s) = s else { return Ok(None) };
            let b = bytes(name, s)?;
            if b.len() != len * 2 {
                return Err(format!("forecast history {name} holds {} bytes, not {}", b.len(), len * 2));
            }
            let slots: Vec<u16> = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
            let seen = slots.iter().filter(|c| **c != 0).count() as u32;
            Ok(Some(Profile { slots, seen }))
        };
        // Version 1 kept no peak: the minute's mean stands for it.
        let per_minute = if w.version == 1 { 14 } else { 16 };
        let recent = bytes("recent", &w.recent)?;
        if recent.len() % per_minute != 0 || recent.len() / per_minute > RECENT_MINUTES {
            return Err(format!("forecast history recent holds {} bytes", recent.len()));
        }
        let word = |c: &[u8], i: usize| u16::from_le_bytes([c[i], c[i + 1]]);
        let recent = recent
            .chunks_exact(per_minute)
            .map(|c| RecentMinute {
                minute: i64::from_le_bytes(c[..8].try_into().unwrap_or_default()),
                actual: word(c, 8),
                expected: word(c, 10),
                level: word(c, 12),
                peak: if per_minute == 16 { word(c, 14) } else { word(c, 8) },
            })
            .collect();
        let ratios = bytes("ratios", &w.ratios)?;
        if ratios.len() % BASES != 0 || ratios.len() / BASES > RATIO_MINUTES {
            return Err(format!("forecast history ratios holds {} bytes", ratios.len()));
        }
        let errors = bytes("errors", &w.errors)?;
        if errors.len() % 8 != 0 || errors.len() / 8 > ERROR_MINUTES {
            return Err(format!("forecast history errors holds {} bytes", errors.len()));
        }
        let trend = bytes("trend", &w.trend)?;
        if trend.len() % 4 != 0 || trend.len() / 4 > TREND_RECORD {
            return Err(format!("forecast history trend holds {} bytes", trend.len()));
        }
        let record = trend.chunks_exact(4).map(|c| [word(c, 0), word(c, 2)]).collect();
        let steps = bytes("steps", &w.steps)?;
        if steps.len() % 7 != 0 || steps.len() / 7 > STEP_CHANGES {
            return Err(format!("forecast history steps holds {} bytes", steps.len()));
        }
        let changes = steps
            .chunks_exact(7)
            .map(|c| Change {
                gap: u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                ratio: word(c, 4),
                after_rise: c[6] != 0,
            })
            .collect();
        Ok(ForecastHistory {
            lead_seconds: w.lead_seconds,
            hold_seconds: w.hold_seconds,
            minute: w.minute,
            partial: (if w.partial_sum.is_finite() { w.partial_sum.max(0.0) } else { 0.0 }, w.partial_count),
            partial_peak: if w.partial_peak.is_finite() { w.partial_peak.max(0.0) } else { 0.0 },
            recorded_minutes: w.recorded_minutes,
            daily: profile("daily", &w.daily, DAILY_SLOTS)?,
            weekly: profile("weekly", &w.weekly, WEEKLY_SLOTS)?,
            recent,
            errors: errors
                .chunks_exact(8)
                .map(|c| std::array::from_fn(|i| i16::from_le_bytes([c[2 * i], c[2 * i + 1]])))
                .collect(),
            ratios: ratios.chunks_exact(BASES).map(|c| std::array::from_fn(|i| c[i])).collect(),
            stats: w.stats,
            steps: Steps {
                value: w.step_value.filter(|v| v.is_finite() && *v >= 0.0),
                seen: w.step_seen,
                changed: w.step_changed,
                rose: w.step_rose,
                changes,
            },
            trend: Trend { record, ..Trend::default() },
        })
    }
}
