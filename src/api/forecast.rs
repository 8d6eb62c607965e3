//! (ext) The forecast's settings: `spec.forecast` (DESIGN §10). The arithmetic lives in
//! `decision::forecast`; its memory in `status`.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// (ext) Predictive scaling: learn the load's daily or weekly shape and buy capacity `leadSeconds`
/// ahead of it, with the reactive count on current readings as a floor.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(
    validation = Rule::new("size(self.seasons) > 0").message("forecast.seasons needs at least one season").field_path(".seasons"),
    validation = Rule::new("self.seasons.all(s, self.seasons.exists_one(t, t == s))").message("forecast.seasons lists a season twice").field_path(".seasons"),
    validation = Rule::new("self.maxErrorRatio > 0.0 && self.maxErrorRatio <= 10.0").message("forecast.maxErrorRatio must be above 0 and at most 10").field_path(".maxErrorRatio")
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForecastSpec {
    /// Off (default), Observe (compute, record and explain, never change the count) or On. Quote it
    /// (`mode: "On"`): kubectl reads YAML 1.1, where a bare On or Off is a boolean.
    #[serde(default)]
    pub mode: ForecastMode,
    /// How far ahead capacity is bought, in seconds: at least the pods' start time.
    #[serde(default = "default_lead_seconds")]
    #[schemars(range(min = 1, max = 3600))]
    pub lead_seconds: u32,
    /// The load's repeating shapes to learn: daily, weekly or both.
    #[serde(default = "default_seasons")]
    #[schemars(length(min = 1, max = 2))]
    pub seasons: Vec<Season>,
    /// The forecast's typical relative error (median over recent hours) above which it is not trusted
    /// and the reactive rules decide alone; 0.5 means off by half.
    #[serde(default = "default_max_error_ratio")]
    pub max_error_ratio: f64,
    /// Scale down without waiting for the scale-down window and cooldown when the forecast, margin
    /// included, says demand stays low for the lead time plus the window.
    #[serde(default = "default_true")]
    pub scale_down_early: bool,
}

fn default_lead_seconds() -> u32 {
    60
}

fn default_seasons() -> Vec<Season> {
    vec![Season::Daily]
}

fn default_max_error_ratio() -> f64 {
    0.5
}

fn default_true() -> bool {
    true
}

impl Default for ForecastSpec {
    fn default() -> Self {
        Self {
            mode: ForecastMode::Off,
            lead_seconds: default_lead_seconds(),
            seasons: default_seasons(),
            max_error_ratio: default_max_error_ratio(),
            scale_down_early: true,
        }
    }
}

/// Whether the forecast acts.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum ForecastMode {
    /// No forecast, no history kept.
    #[default]
    Off,
    /// Compute, record and explain the forecast; never change the count.
    Observe,
    /// The forecast raises the count ahead of demand and may let scale-down proceed sooner.
    On,
}

/// A repeating shape of the load.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Season {
    /// The same time of day.
    Daily,
    /// The same time of the week.
    Weekly,
}
