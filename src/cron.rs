//! Five-field cron expressions (`minute hour day-of-month month day-of-week`) as KEDA's cron scaler
//! and Crane read them (robfig/cron, after Vixie cron), and their fire times in a time zone.
//!
//! Our own small parser rather than a crate: the Rust cron crates either read Quartz-style 6 or 7
//! fields with Sunday as 1 and both day fields ANDed, which would silently move a window copied
//! from KEDA, or are built on chrono; and a window needs what they do not offer, the most recent
//! fire before a time, with daylight-saving gaps and folds resolved as a person expects:
//! a time that a spring-forward skips fires once, at the first instant after the gap (Vixie cron
//! runs such jobs right after the change), and a time that a fall-back repeats fires once, at its
//! first occurrence. Pure: times in, times out, no clock. Windows themselves live in
//! `decision::schedule`.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};

/// How far a search for a fire time looks, in days: eight years, so that a window on 29 February
/// is found across a century year that is not a leap year (2100).
const HORIZON_DAYS: i32 = 8 * 366 + 1;

/// The most a wall clock can move within one day (a DST change); candidates further than this on
/// the wrong side of the search time can be skipped without resolving them.
const MAX_SHIFT_HOURS: i8 = 4;

/// A parsed cron expression: one bit per allowed value of each field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    /// Bits 1 to 31.
    days: u32,
    /// Bits 1 to 12.
    months: u16,
    /// Bits 0 (Sunday) to 6.
    weekdays: u8,
    /// Day-of-month was `*` or `?`: the day fields are ANDed, not ORed (Vixie and robfig rule).
    any_day: bool,
    /// Day-of-week was `*` or `?`.
    any_weekday: bool,
}

/// Why an expression is not a cron expression, in words for `validate` and the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronError(String);

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CronError {}

/// One field's name, range and value names.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field { name: "minute", min: 0, max: 59, names: &[] };
const HOUR: Field = Field { name: "hour", min: 0, max: 23, names: &[] };
const DAY: Field = Field { name: "day-of-month", min: 1, max: 31, names: &[] };
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
};
// 7 is Sunday too, as in Vixie cron; folded onto 0 after parsing.
const WEEKDAY: Field =
    Field { name: "day-of-week", min: 0, max: 7, names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] };

impl FromStr for Cron {
    type Err = CronError;

    fn from_str(text: &str) -> Result<Self, CronError> {
        let text = text.trim();
        let expanded = match text.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other if other.starts_with('@') => {
                return Err(CronError(format!(
                    "unknown macro \"{text}\": use @yearly, @monthly, @weekly, @daily or @hourly, or 5 fields"
                )));
            }
            _ => text,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(CronError(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            )));
        }
        let (minutes, _) = parse_field(fields[0], &MINUTE)?;
        let (hours, _) = parse_field(fields[1], &HOUR)?;
        let (days, any_day) = parse_field(fields[2], &DAY)?;
        let (months, _) = parse_field(fields[3], &MONTH)?;
        let (weekdays, any_weekday) = parse_field(fields[4], &WEEKDAY)?;
        let weekdays = (weekdays | (weekdays >> 7)) & 0x7f;
        Ok(Self {
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: weekdays as u8,
            any_day,
            any_weekday,
        })
    }
}

/// One field: a comma-separated list of `*`, `N`, `N-M`, each with an optional `/STEP`. Returns the
/// bits and whether the field was a bare `*` or `?` (robfig: a step above 1 makes it not one).
fn parse_field(text: &str, field: &Field) -> Result<(u64, bool), CronError> {
    let mut bits = 0u64;
    let mut star = false;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().map_err(|_| {
                    CronError(format!("{} \"{text}\": step \"{step}\" is not a whole number", field.name))
                })?;
                if step == 0 || step > field.max {
                    return Err(CronError(format!(
                        "{} \"{text}\": step {step} must be from 1 to {}",
                        field.name, field.max
                    )));
                }
                (range, Some(step))
            }
            None => (part, None),
        };
        let (low, high) = if range == "*" || range == "?" {
            star |= step.is_none_or(|s| s == 1);
            (field.min, field.max)
        } else if let Some((low, high)) = range.split_once('-') {
            let (low, high) = (value(low, text, field)?, value(high, text, field)?);
            if low > high {
                return Err(CronError(format!(
                    "{} \"{text}\": range {range} runs backwards (write it as two ranges, e.g. {low}-{},{}-{high})",
                    field.name, field.max, field.min
                )));
            }
            (low, high)
        } else {
            let low = value(range, text, field)?;
            // `N/STEP` means from N to the end of the range, as in robfig and Vixie cron.
            (low, if step.is_some() { field.max } else { low })
        };
        let step = step.unwrap_or(1);
        let mut v = low;
        while v <= high {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok((bits, star))
}

/// One value of a field: a number in range, or a name (JAN, MON), any case.
fn value(text: &str, whole: &str, field: &Field) -> Result<u32, CronError> {
    if let Some(i) = field.names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(field.min + i as u32);
    }
    let n: u32 = text.parse().map_err(|_| {
        let names = if field.names.is_empty() {
            String::new()
        } else {
            format!(" or a name ({}-{})", field.names[0], field.names[field.names.len() - 1])
        };
        CronError(format!(
            "{} \"{whole}\": \"{text}\" is not a number from {} to {}{names}",
            field.name, field.min, field.max
        ))
    })?;
    if n < field.min || n > field.max {
        return Err(CronError(format!(
            "{} \"{whole}\": {n} is out of range {}-{}",
            field.name, field.min, field.max
        )));
    }
    Ok(n)
}

impl Cron {
    /// Whether the expression fires on this civil date (Vixie rule: with both day fields
    /// restricted, either may match; with one of them `*`, both must).
    fn fires_on(&self, date: Date) -> bool {
        if self.months & (1 << date.month()) == 0 {
            return false;
        }
        let by_day = self.days & (1 << date.day()) != 0;
        let by_weekday = self.weekdays & (1 << date.weekday().to_sunday_zero_offset()) != 0;
        if self.any_day || self.any_weekday { by_day && by_weekday } else { by_day || by_weekday }
    }

    /// The first fire strictly after `t`, in `tz`; `None` if it never fires within eight years.
    pub fn next_after(&self, t: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = tz.to_datetime(t);
        let mut date = local.date();
        let first = date;
        let last = date.checked_add(jiff::Span::new().days(HORIZON_DAYS)).ok()?;
        while date <= last {
            if self.months & (1 << date.month()) == 0 {
                // A month that never fires: on to its next month's first day.
                date = date.last_of_month().tomorrow().ok()?;
                continue;
            }
            if self.fires_on(date) {
                let skip_below = if date == first { local.hour() - MAX_SHIFT_HOURS } else { -1 };
                for hour in bits_up(u64::from(self.hours), 23).filter(|h| *h as i8 >= skip_below) {
                    for minute in bits_up(self.minutes, 59) {
                        let fire = resolve(date.at(hour as i8, minute as i8, 0, 0), tz)?;
                        if fire > t {
                            return Some(fire);
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// The most recent fire at or before `t`, in `tz`; `None` if none within eight years.
    pub fn last_at_or_before(&self, t: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = tz.to_datetime(t);
        let mut date = local.date();
        let first = date;
        let last = date.checked_sub(jiff::Span::new().days(HORIZON_DAYS)).ok()?;
        while date >= last {
            if self.months & (1 << date.month()) == 0 {
                date = date.first_of_month().yesterday().ok()?;
                continue;
            }
            if self.fires_on(date) {
                let skip_above = if date == first { local.hour() + MAX_SHIFT_HOURS } else { 24 };
                for hour in bits_down(u64::from(self.hours), 23).filter(|h| *h as i8 <= skip_above) {
                    for minute in bits_down(self.minutes, 59) {
                        let fire = resolve(date.at(hour as i8, minute as i8, 0, 0), tz)?;
                        if fire <= t {
                            return Some(fire);
                        }
                    }
                }
            }
            date = date.yesterday().ok()?;
        }
        None
    }
}

/// The set bits of `bits` from 0 to `max`, ascending.
fn bits_up(bits: u64, max: u32) -> impl Iterator<Item = u32> {
    (0..=max).filter(move |i| bits & (1 << i) != 0)
}

/// The set bits of `bits` from `max` to 0, descending.
fn bits_down(bits: u64, max: u32) -> impl Iterator<Item = u32> {
    (0..=max).rev().filter(move |i| bits & (1 << i) != 0)
}

/// The instant a wall-clock time names in `tz`: a time skipped by a gap is the first instant after
/// the gap; a time repeated by a fold is its first occurrence. `None` only past jiff's range.
fn resolve(dt: DateTime, tz: &TimeZone) -> Option<Timestamp> {
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok(),
        AmbiguousOffset::Gap { after, .. } => {
            // Read with the later offset, the time lands before the gap; the next transition ends it.
            let inside = after.to_timestamp(dt).ok()?;
            tz.following(inside).next().map(|transition| transition.timestamp())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    fn next(cron: &str, after: &str, zone: &str) -> String {
        let cron: Cron = cron.parse().unwrap();
        cron.next_after(at(after), &tz(zone)).unwrap().to_string()
    }

    fn last(cron: &str, at_or_before: &str, zone: &str) -> String {
        let cron: Cron = cron.parse().unwrap();
        cron.last_at_or_before(at(at_or_before), &tz(zone)).unwrap().to_string()
    }

    #[test]
    fn fields_lists_ranges_steps_and_names() {
        let cases = [
            // (cron, after, the next fire), UTC; 2026-01-05 is a Monday.
            ("0 9 * * MON-FRI", "2026-01-03T12:00:00Z", "2026-01-05T09:00:00Z"),
            ("0 9 * * mon-fri", "2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z"),
            ("*/15 * * * *", "2026-01-05T09:07:00Z", "2026-01-05T09:15:00Z"),
            ("5/20 * * * *", "2026-01-05T09:26:00Z", "2026-01-05T09:45:00Z"),
            ("0 8-18/5 * * *", "2026-01-05T13:00:00Z", "2026-01-05T18:00:00Z"),
            ("30 1,13 * * *", "2026-01-05T02:00:00Z", "2026-01-05T13:30:00Z"),
            ("0 0 1 JAN,jul *", "2026-01-05T00:00:00Z", "2026-07-01T00:00:00Z"),
            ("0 0 * * 7", "2026-01-05T00:00:00Z", "2026-01-11T00:00:00Z"),
            ("0 0 * * SUN", "2026-01-05T00:00:00Z", "2026-01-11T00:00:00Z"),
            // Both day fields restricted: either matches (the 13th or a Friday).
            ("0 0 13 * FRI", "2026-01-05T00:00:00Z", "2026-01-09T00:00:00Z"),
            ("0 0 13 * FRI", "2026-01-10T00:00:00Z", "2026-01-13T00:00:00Z"),
            // One of them `*`: both must match.
            ("0 0 13 * *", "2026-01-10T00:00:00Z", "2026-01-13T00:00:00Z"),
            ("0 0 29 2 *", "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z"),
            ("@daily", "2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z"),
            ("@weekly", "2026-01-05T00:00:00Z", "2026-01-11T00:00:00Z"),
        ];
        for (cron, after, want) in cases {
            assert_eq!(next(cron, after, "UTC"), want, "{cron} after {after}");
        }
    }

    #[test]
    fn the_last_fire_is_at_or_before() {
        assert_eq!(last("0 9 * * MON-FRI", "2026-01-05T09:00:00Z", "UTC"), "2026-01-05T09:00:00Z");
        assert_eq!(last("0 9 * * MON-FRI", "2026-01-05T08:59:59Z", "UTC"), "2026-01-02T09:00:00Z");
        assert_eq!(last("*/15 * * * *", "2026-01-05T09:14:00Z", "UTC"), "2026-01-05T09:00:00Z");
        assert_eq!(last("0 0 29 2 *", "2027-06-01T00:00:00Z", "UTC"), "2024-02-29T00:00:00Z");
    }

    #[test]
    fn a_time_zone_moves_the_fire() {
        // 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
        assert_eq!(next("0 9 * * *", "2026-01-05T00:00:00Z", "Europe/Berlin"), "2026-01-05T08:00:00Z");
        assert_eq!(next("0 9 * * *", "2026-07-06T00:00:00Z", "Europe/Berlin"), "2026-07-06T07:00:00Z");
        // Late in the UTC day it is already the next day in Tokyo.
        assert_eq!(next("0 9 * * MON", "2026-01-04T23:30:00Z", "Asia/Tokyo"), "2026-01-05T00:00:00Z");
    }

    #[test]
    fn a_time_skipped_by_spring_forward_fires_once_right_after_the_gap() {
        // Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC); 02:30 does not exist.
        let day_before = "2026-03-28T12:00:00Z";
        assert_eq!(next("30 2 * * *", day_before, "Europe/Berlin"), "2026-03-29T01:00:00Z");
        assert_eq!(next("30 2 * * *", "2026-03-29T01:00:00Z", "Europe/Berlin"), "2026-03-30T00:30:00Z");
        assert_eq!(last("30 2 * * *", "2026-03-29T01:00:00Z", "Europe/Berlin"), "2026-03-29T01:00:00Z");
        assert_eq!(last("30 2 * * *", "2026-03-29T00:59:59Z", "Europe/Berlin"), "2026-03-28T01:30:00Z");
        // Every minute of the skipped hour lands on the same instant: one fire, not sixty.
        let cron: Cron = "* 2 * * *".parse().unwrap();
        let berlin = tz("Europe/Berlin");
        let first = cron.next_after(at(day_before), &berlin).unwrap();
        assert_eq!(first.to_string(), "2026-03-29T01:00:00Z");
        assert_eq!(cron.next_after(first, &berlin).unwrap().to_string(), "2026-03-30T00:00:00Z");
        // New York, 2026-03-08: 02:30 does not exist either; 03:00 EDT is 07:00 UTC.
        assert_eq!(next("30 2 8 3 *", "2026-03-01T00:00:00Z", "America/New_York"), "2026-03-08T07:00:00Z");
    }

    #[test]
    fn a_time_repeated_by_fall_back_fires_once_at_its_first_occurrence() {
        // New York, 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:30 happens twice.
        let ny = "America/New_York";
        assert_eq!(next("30 1 * * *", "2026-10-31T12:00:00Z", ny), "2026-11-01T05:30:00Z");
        // Inside the repeated hour, after the first 01:30: the next fire is the next day's.
        assert_eq!(next("30 1 * * *", "2026-11-01T05:30:00Z", ny), "2026-11-02T06:30:00Z");
        assert_eq!(next("30 1 * * *", "2026-11-01T06:10:00Z", ny), "2026-11-02T06:30:00Z");
        // The most recent fire seen from the second 01:45 is the first 01:30.
        assert_eq!(last("30 1 * * *", "2026-11-01T06:45:00Z", ny), "2026-11-01T05:30:00Z");
        // Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 fires at 00:30 UTC only.
        assert_eq!(next("30 2 * * *", "2026-10-24T12:00:00Z", "Europe/Berlin"), "2026-10-25T00:30:00Z");
        assert_eq!(next("30 2 * * *", "2026-10-25T00:30:00Z", "Europe/Berlin"), "2026-10-26T01:30:00Z");
    }

    #[test]
    fn the_zone_database_is_built_in() {
        // What a distroless image without /usr/share/zoneinfo falls back to (jiff's tzdb-bundle-always).
        let bundled = jiff::tz::TimeZoneDatabase::bundled();
        let berlin = bundled.get("Europe/Berlin").unwrap();
        let cron: Cron = "0 9 * * *".parse().unwrap();
        assert_eq!(
            cron.next_after(at("2026-07-06T00:00:00Z"), &berlin).unwrap().to_string(),
            "2026-07-06T07:00:00Z"
        );
        assert!(bundled.get("America/New_York").is_ok() && bundled.get("Asia/Tokyo").is_ok());
    }

    #[test]
    fn a_cron_that_never_fires_finds_nothing() {
        let cron: Cron = "0 0 30 2 *".parse().unwrap();
        assert_eq!(cron.next_after(at("2026-01-01T00:00:00Z"), &TimeZone::UTC), None);
        assert_eq!(cron.last_at_or_before(at("2026-01-01T00:00:00Z"), &TimeZone::UTC), None);
    }

    #[test]
    fn bad_expressions_say_which_field_and_why() {
        let cases = [
            ("0 9 * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 4"),
            ("0 0 9 * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 6"),
            ("60 9 * * *", "minute \"60\": 60 is out of range 0-59"),
            ("0 24 * * *", "hour \"24\": 24 is out of range 0-23"),
            ("0 9 0 * *", "day-of-month \"0\": 0 is out of range 1-31"),
            ("0 9 * 13 *", "month \"13\": 13 is out of range 1-12"),
            ("0 9 * * 8", "day-of-week \"8\": 8 is out of range 0-7"),
            (
                "0 9 * * MON-FRY",
                "day-of-week \"MON-FRY\": \"FRY\" is not a number from 0 to 7 or a name (SUN-SAT)",
            ),
            (
                "0 9 * * FRI-MON",
                "day-of-week \"FRI-MON\": range FRI-MON runs backwards (write it as two ranges, e.g. 5-7,0-1)",
            ),
            ("*/0 9 * * *", "minute \"*/0\": step 0 must be from 1 to 59"),
            ("*/x 9 * * *", "minute \"*/x\": step \"x\" is not a whole number"),
            ("0 9 * * ", "expected 5 fields (minute hour day-of-month month day-of-week), found 4"),
            (
                "@reboot",
                "unknown macro \"@reboot\": use @yearly, @monthly, @weekly, @daily or @hourly, or 5 fields",
            ),
        ];
        for (cron, want) in cases {
            assert_eq!(cron.parse::<Cron>().unwrap_err().to_string(), want, "{cron}");
        }
    }
}
