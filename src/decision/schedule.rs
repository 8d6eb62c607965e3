//! Which of a scaler's `spec.schedules` windows are open at a time, the bounds they put in force,
//! and when the next one opens or closes. Pure: `now` in, no clock.
//!
//! A window is open from the most recent fire of its `start` to the first fire of its `end` after
//! that. Where several are open, the highest minimum and the highest maximum win; a bound no open
//! window sets is the spec's own. `decide` reads the bounds here for its activation and bounds
//! stages; the daemon wakes a scaler at [`next_edge`]; `plan` and `status` print [`WindowState`]s.
//! Cron parsing and DST handling live in [`crate::cron`]; a window whose cron or time zone does not
//! parse is never open (`api::check` refuses it, and the daemon with it).

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::api::{GeneralScalerSpec, ScheduleWindow};
use crate::cron::Cron;

/// The replica bounds in force at one time, and which window (index into `spec.schedules`) set
/// each, if one did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bounds {
    /// The lowest count.
    pub min: i32,
    /// The highest count, never below `min`.
    pub max: i32,
    /// The window whose minReplicas is `min`; `None`: the spec's own.
    pub min_window: Option<u16>,
    /// The window whose maxReplicas is `max`; `None`: the spec's own.
    pub max_window: Option<u16>,
}

impl Bounds {
    /// The spec's own bounds, as no window changes them.
    pub fn of_spec(spec: &GeneralScalerSpec) -> Self {
        let min = spec.min_replicas.max(0);
        Self { min, max: spec.max_replicas.max(min), min_window: None, max_window: None }
    }
}

/// One window at one time.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowState {
    /// Its index in `spec.schedules`.
    pub index: usize,
    /// Whether it is open.
    pub open: bool,
    /// When it opened, if open.
    pub opened: Option<Timestamp>,
    /// When it next closes (if open) or opens (if closed); `None` if never, or if it is invalid.
    pub next_edge: Option<Timestamp>,
    /// Its time zone; `None` if the name is not a zone.
    pub zone: Option<TimeZone>,
    /// Its cron or time zone does not parse: it is never open.
    pub invalid: bool,
}

/// A window's crons and zone, parsed.
fn parse(window: &ScheduleWindow) -> (Option<(Cron, Cron)>, Option<TimeZone>) {
    let zone = jiff::tz::db().get(window.timezone.trim()).ok();
    let crons = window.start.parse::<Cron>().ok().zip(window.end.parse::<Cron>().ok());
    (crons, zone)
}

/// The state of one window at `now`.
pub fn window_state(index: usize, window: &ScheduleWindow, now: Timestamp) -> WindowState {
    let (crons, zone) = parse(window);
    let (Some((start, end)), Some(tz)) = (crons, zone.as_ref()) else {
        return WindowState { index, open: false, opened: None, next_edge: None, zone, invalid: true };
    };
    let opened = start.last_at_or_before(now, tz);
    // An end fire at the very instant of the start does not close the window it opens.
    let closes = opened.and_then(|s| end.next_after(s, tz));
    match (opened, closes) {
        (Some(opened), Some(closes)) if closes > now => WindowState {
            index,
            open: true,
            opened: Some(opened),
            next_edge: Some(closes),
            zone,
            invalid: false,
        },
        _ => WindowState {
            index,
            open: false,
            opened: None,
            next_edge: start.next_after(now, tz),
            zone,
            invalid: false,
        },
    }
}

/// Every window of the spec at `now`, in spec order.
pub fn windows(spec: &GeneralScalerSpec, now: Timestamp) -> Vec<WindowState> {
    spec.schedules.iter().enumerate().map(|(i, w)| window_state(i, w, now)).collect()
}

/// The bounds in force at `now`: the spec's own, with each bound an open window sets replaced by
/// the highest any open window sets.
pub fn bounds(spec: &GeneralScalerSpec, now: Timestamp) -> Bounds {
    if spec.schedules.is_empty() {
        return Bounds::of_spec(spec);
    }
    bounds_of(spec, &windows(spec, now))
}

/// [`bounds`] from window states already computed.
pub fn bounds_of(spec: &GeneralScalerSpec, states: &[WindowState]) -> Bounds {
    let mut min: Option<(i32, u16)> = None;
    let mut max: Option<(i32, u16)> = None;
    for state in states.iter().filter(|s| s.open) {
        let Some(window) = spec.schedules.get(state.index) else { continue };
        // At most 20 windows (the CRD's limit), so an index always fits.
        let index = u16::try_from(state.index).unwrap_or(u16::MAX);
        if let Some(m) = window.min_replicas
            && min.is_none_or(|(v, _)| m > v)
        {
            min = Some((m, index));
        }
        if let Some(m) = window.max_replicas
            && max.is_none_or(|(v, _)| m > v)
        {
            max = Some((m, index));
        }
    }
    let mut bounds = Bounds::of_spec(spec);
    if let Some((m, i)) = min {
        bounds.min = m.max(0);
        bounds.min_window = Some(i);
    }
    if let Some((m, i)) = max {
        bounds.max = m;
        bounds.max_window = Some(i);
    }
    // A minimum above the maximum wins, as the spec's own bounds do (`validate` flags it).
    bounds.max = bounds.max.max(bounds.min);
    bounds
}

/// The earliest time after `now` at which any window opens or closes: when the daemon must decide
/// again. `None` without windows (or none that ever fires).
pub fn next_edge(spec: &GeneralScalerSpec, now: Timestamp) -> Option<Timestamp> {
    spec.schedules.iter().enumerate().filter_map(|(i, w)| window_state(i, w, now).next_edge).min()
}

/// What a window sets, against the spec's own bounds: `raises min to 10`, `lowers max to 2 and
/// raises min to 3`.
pub fn sets_text(spec: &GeneralScalerSpec, window: &ScheduleWindow) -> String {
    let verb = |mine: i32, own: i32| match mine.cmp(&own) {
        std::cmp::Ordering::Greater => "raises {} to",
        std::cmp::Ordering::Less => "lowers {} to",
        std::cmp::Ordering::Equal => "keeps {} at",
    };
    let mut parts = Vec::new();
    if let Some(m) = window.min_replicas {
        parts.push(format!("{} {m}", verb(m, spec.min_replicas).replace("{}", "min")));
    }
    if let Some(m) = window.max_replicas {
        parts.push(format!("{} {m}", verb(m, spec.max_replicas).replace("{}", "max")));
    }
    if parts.is_empty() { "sets nothing".to_string() } else { parts.join(" and ") }
}

/// `18:00 Europe/Berlin` on the same local day as `now`, `Mon 18:00 Europe/Berlin` within a week,
/// else `2026-12-24 18:00 Europe/Berlin`.
pub fn local_text(at: Timestamp, tz: &TimeZone, zone_name: &str, now: Timestamp) -> String {
    let local = at.to_zoned(tz.clone());
    let today = now.to_zoned(tz.clone()).date();
    let days = (local.date() - today).get_days();
    let when = if local.date() == today {
        local.strftime("%H:%M").to_string()
    } else if (0..7).contains(&days) {
        local.strftime("%a %H:%M").to_string()
    } else {
        local.strftime("%Y-%m-%d %H:%M").to_string()
    };
    format!("{when} {zone_name}")
}

/// One window in a line, as `plan` and `status` print it:
/// `business-hours raises min to 10 until 18:00 Europe/Berlin, in 3h12m` while open,
/// `business-hours (raises min to 10) opens Mon 09:00 Europe/Berlin, in 14h48m` while closed.
pub fn describe(spec: &GeneralScalerSpec, state: &WindowState, now: Timestamp) -> String {
    let Some(window) = spec.schedules.get(state.index) else { return String::new() };
    let name = &window.name;
    let sets = sets_text(spec, window);
    if state.invalid {
        return format!(
            "{name} ({sets}) is never open: its cron or time zone is invalid (see gscale validate)"
        );
    }
    match (state.open, edge_text(spec, state, now)) {
        (true, Some(edge)) => format!("{name} {sets} until {edge}"),
        (true, None) => format!("{name} {sets}, with no end in sight"),
        (false, Some(edge)) => format!("{name} ({sets}) opens {edge}"),
        (false, None) => format!("{name} ({sets}) never opens"),
    }
}

/// The window's next edge in its own zone and how far off: `18:00 Europe/Berlin, in 3h12m`.
pub fn edge_text(spec: &GeneralScalerSpec, state: &WindowState, now: Timestamp) -> Option<String> {
    let window = spec.schedules.get(state.index)?;
    let (at, tz) = (state.next_edge?, state.zone.as_ref()?);
    let wait = at.as_millisecond().saturating_sub(now.as_millisecond());
    Some(format!("{}, in {}", local_text(at, tz, window.timezone.trim(), now), wait_text(wait)))
}

/// `3h12m` as elsewhere, but `2d14h` from two days on (a window's next edge can be months off).
fn wait_text(ms: i64) -> String {
    const DAY_MS: i64 = 24 * 3600 * 1000;
    if ms >= 2 * DAY_MS {
        let hours = ms / (3600 * 1000);
        format!("{}d{:02}h", hours / 24, hours % 24)
    } else {
        super::duration_text(ms)
    }
}

/// One window at one time as `plan -o json` and `status` show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowReport {
    /// The window's name.
    pub name: String,
    /// Whether it is open.
    pub open: bool,
    /// When it next closes (open) or opens (closed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_edge: Option<Timestamp>,
    /// The line [`describe`] prints.
    pub text: String,
}

/// Every window of the spec at `now`, ready to print or serialize.
pub fn report(spec: &GeneralScalerSpec, now: Timestamp) -> Vec<WindowReport> {
    windows(spec, now)
        .iter()
        .map(|state| WindowReport {
            name: spec.schedules.get(state.index).map(|w| w.name.clone()).unwrap_or_default(),
            open: state.open,
            next_edge: state.next_edge,
            text: describe(spec, state, now),
        })
        .collect()
}

#[cfg(test)]
mod tests;
