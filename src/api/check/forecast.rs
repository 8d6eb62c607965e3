//! The checks of `spec.forecast`: its mode, lead time, seasons and error ratio, each finding
//! naming the field and the fix.

use super::*;

pub(super) fn check(spec: &GeneralScalerSpec, out: &mut Vec<Finding>) {
    let Some(f) = &spec.forecast else { return };
    if f.lead_seconds < 1 || f.lead_seconds > MAX_LEAD_SECONDS {
        out.push(Finding::error(
            "spec.forecast.leadSeconds",
            format!("leadSeconds must be from 1 to {MAX_LEAD_SECONDS}, not {}", f.lead_seconds),
            "set how far ahead to buy capacity: at least the pods' start time, e.g. 60",
        ));
    }
    if f.seasons.is_empty() {
        out.push(Finding::error(
            "spec.forecast.seasons",
            "forecast.seasons is empty",
            "list the shapes to learn: seasons: [daily], [weekly] or [daily, weekly]",
        ));
    }
    let mut seen = HashSet::new();
    if let Some(twice) = f.seasons.iter().find(|s| !seen.insert(**s)) {
        out.push(Finding::error(
            "spec.forecast.seasons",
            format!("forecast.seasons lists {} twice", season_name(*twice)),
            "list each season once",
        ));
    }
    if !(f.max_error_ratio.is_finite() && f.max_error_ratio > 0.0 && f.max_error_ratio <= 10.0) {
        out.push(Finding::error(
            "spec.forecast.maxErrorRatio",
            format!("maxErrorRatio must be above 0 and at most 10, not {}", f.max_error_ratio),
            "set the typical relative error above which the forecast is not trusted, e.g. 0.5 (off by half)",
        ));
    }
    if f.mode == ForecastMode::Off {
        return;
    }
    if f.lead_seconds < spec.sync_interval_seconds {
        out.push(Finding::warning(
            "spec.forecast.leadSeconds",
            format!(
                "leadSeconds {} is shorter than syncIntervalSeconds {}: capacity may be bought after the demand arrives",
                f.lead_seconds, spec.sync_interval_seconds
            ),
            "set leadSeconds to at least the pods' start time plus one sync interval",
        ));
    }
    if spec.metrics().len() > 1 {
        out.push(Finding::warning(
            "spec.forecast",
            "the forecast learns the first metric only; the others stay reactive",
            "put the metric that follows the load's daily shape first",
        ));
    }
}

fn season_name(season: Season) -> &'static str {
    match season {
        Season::Daily => "daily",
        Season::Weekly => "weekly",
    }
}
