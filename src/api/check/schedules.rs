//! The checks of `spec.schedules` no schema can express: cron syntax, IANA time zones, a window that
//! never opens, and a window whose bounds fight the spec's own. Each finding names the field and the
//! fix; the daemon refuses a scaler with an error here (`InvalidSpec`), as `validate` does.

use std::collections::HashSet;

use jiff::Timestamp;

use super::Finding;
use crate::api::{GeneralScalerSpec, ScheduleWindow};
use crate::cron::Cron;

const CRON_HINT: &str = "write 5 fields, minute hour day-of-month month day-of-week, as KEDA's cron scaler does, e.g. \"0 9 * * MON-FRI\" for 09:00 on weekdays (no seconds field)";

/// Every schedule of the spec.
pub(super) fn check(spec: &GeneralScalerSpec, out: &mut Vec<Finding>) {
    let mut names = HashSet::new();
    for (i, window) in spec.schedules.iter().enumerate() {
        let path = format!("spec.schedules[{i}]");
        if !names.insert(window.name.as_str()) {
            out.push(Finding::error(
                format!("{path}.name"),
                format!("two schedules are named \"{}\"", window.name),
                "give each schedule its own name (plans, status and Events name them)",
            ));
        }
        check_window(spec, window, &path, out);
    }
}

fn check_window(spec: &GeneralScalerSpec, window: &ScheduleWindow, path: &str, out: &mut Vec<Finding>) {
    let name = &window.name;
    if !super::is_dns_label(name) {
        out.push(Finding::error(
            format!("{path}.name"),
            format!("schedule name \"{name}\" is not lowercase letters, digits and '-'"),
            "name the schedule like a Kubernetes object, e.g. business-hours",
        ));
    }
    let zone = window.timezone.trim();
    if jiff::tz::db().get(zone).is_err() {
        out.push(Finding::error(
            format!("{path}.timezone"),
            format!("timezone \"{zone}\" is not in the IANA time zone database"),
            match closest_zone(zone) {
                Some(close) => format!("did you mean {close}? Use an IANA name, e.g. Europe/Berlin or UTC"),
                None => "use an IANA name, e.g. Europe/Berlin, America/New_York or UTC".to_string(),
            },
        ));
    }
    let start = parse_cron(&window.start, &format!("{path}.start"), "start", out);
    let end = parse_cron(&window.end, &format!("{path}.end"), "end", out);
    if let (Some(start), Some(end)) = (start, end)
        && start == end
    {
        out.push(Finding::error(
            format!("{path}.end"),
            format!(
                "start and end are the same time (\"{}\"), so the schedule never opens",
                window.end.trim()
            ),
            "set end to when the window closes, e.g. start \"0 9 * * MON-FRI\" and end \"0 18 * * MON-FRI\"",
        ));
    }

    match (window.min_replicas, window.max_replicas) {
        (None, None) => out.push(Finding::error(
            format!("{path}.minReplicas"),
            format!("schedule {name} sets neither minReplicas nor maxReplicas"),
            "add minReplicas (capacity to keep while open) and/or maxReplicas (a cap while open)",
        )),
        (Some(min), Some(max)) if min > max => out.push(Finding::error(
            format!("{path}.minReplicas"),
            format!("schedule {name} has minReplicas {min} above its maxReplicas {max}"),
            "lower the schedule's minReplicas or raise its maxReplicas",
        )),
        (Some(min), max) if min > spec.max_replicas && max.is_none_or(|m| m < min) => {
            out.push(Finding::error(
                format!("{path}.minReplicas"),
                format!(
                    "schedule {name} raises minReplicas to {min}, above the spec's maxReplicas {}, without raising maxReplicas",
                    spec.max_replicas
                ),
                format!("add maxReplicas: {min} (or more) to the schedule, or lower its minReplicas"),
            ));
        }
        (min, Some(max)) if max < spec.min_replicas && min.is_none_or(|m| m > max) => {
            out.push(Finding::warning(
                format!("{path}.maxReplicas"),
                format!(
                    "schedule {name} lowers maxReplicas to {max}, below the spec's minReplicas {}, without lowering minReplicas: the minimum wins while it is open",
                    spec.min_replicas
                ),
                format!("add minReplicas: {max} (or less) to the schedule"),
            ));
        }
        _ => {}
    }
}

/// A cron field, parsed; a finding when it does not parse or never fires.
fn parse_cron(text: &str, path: &str, field: &str, out: &mut Vec<Finding>) -> Option<Cron> {
    match text.parse::<Cron>() {
        Ok(cron) => {
            // Any fixed time serves: a cron that fires at all fires within the search's eight years.
            if cron.next_after(Timestamp::UNIX_EPOCH, &jiff::tz::TimeZone::UTC).is_none() {
                out.push(Finding::error(
                    path,
                    format!("{field} \"{}\" never fires: no such date", text.trim()),
                    "check the day-of-month against the month (30 February does not exist)",
                ));
                return None;
            }
            Some(cron)
        }
        Err(e) => {
            out.push(Finding::error(
                path,
                format!("{field} \"{}\" is not a cron expression: {e}", text.trim()),
                CRON_HINT,
            ));
            None
        }
    }
}

/// The zone name nearest to a misspelt one: same city under another region, or at most two
/// letters off.
fn closest_zone(wanted: &str) -> Option<String> {
    let wanted_lower = wanted.to_ascii_lowercase();
    let city = wanted_lower.rsplit('/').next().unwrap_or(&wanted_lower).to_string();
    let mut best: Option<(usize, String)> = None;
    for name in jiff::tz::db().available() {
        let name = name.as_str().to_string();
        let lower = name.to_ascii_lowercase();
        let distance = if lower.rsplit('/').next() == Some(city.as_str()) && lower.contains('/') {
            0
        } else {
            edit_distance(&lower, &wanted_lower)
        };
        if distance <= 2 && best.as_ref().is_none_or(|(d, n)| distance < *d || (distance == *d && name < *n))
        {
            best = Some((distance, name));
        }
    }
    best.map(|(_, name)| name)
}

/// Levenshtein distance, for suggestions only.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb)).min(row[j] + 1).min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The fix for a CEL message of a schedule's rules (api/schedule.rs), if it is one.
pub(super) fn cel_hint(message: &str) -> Option<&'static str> {
    if message.starts_with("a schedule sets") {
        Some("add minReplicas (capacity to keep while open) and/or maxReplicas (a cap while open)")
    } else if message.starts_with("a schedule's minReplicas") {
        Some("lower the schedule's minReplicas or raise its maxReplicas")
    } else if message.starts_with("schedule name") {
        Some("name the schedule like a Kubernetes object, e.g. business-hours")
    } else if message.starts_with("start must be") || message.starts_with("end must be") {
        Some(CRON_HINT)
    } else if message.starts_with("start and end are the same") {
        Some("set end to when the window closes, e.g. start \"0 9 * * MON-FRI\" and end \"0 18 * * MON-FRI\"")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::{Severity, check};
    use crate::api::{API_VERSION, KIND};

    fn scaler(schedules: Value) -> Value {
        json!({"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "s"}, "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
            "minReplicas": 2, "maxReplicas": 20,
            "metric": {"type": "http", "targetValue": 100, "http": {"url": "http://x/metric"}},
            "schedules": schedules,
        }})
    }

    fn window(extra: Value) -> Value {
        let mut w = json!({"name": "business-hours", "timezone": "Europe/Berlin",
                           "start": "0 9 * * MON-FRI", "end": "0 18 * * MON-FRI", "minReplicas": 10});
        if let (Some(w), Value::Object(extra)) = (w.as_object_mut(), extra) {
            w.extend(extra);
        }
        w
    }

    /// (severity, path, message, hint) of each finding.
    fn findings(schedules: Value) -> Vec<(Severity, String, String, String)> {
        check(&scaler(schedules))
            .findings
            .into_iter()
            .map(|f| (f.severity, f.path, f.message, f.hint))
            .collect()
    }

    fn one(schedules: Value) -> (Severity, String, String, String) {
        let mut found = findings(schedules);
        assert_eq!(found.len(), 1, "one finding: {found:#?}");
        found.remove(0)
    }

    #[test]
    fn a_good_window_passes_and_the_zone_defaults_to_utc() {
        assert_eq!(findings(json!([window(json!({}))])), []);
        let checked = check(&scaler(
            json!([{"name": "night", "start": "0 0 * * *", "end": "0 6 * * *", "minReplicas": 0}]),
        ));
        assert!(checked.findings.is_empty(), "{:#?}", checked.findings);
        assert_eq!(checked.scaler.unwrap().spec.schedules[0].timezone, "UTC");
    }

    #[test]
    fn bad_cron_names_the_field_the_problem_and_the_form() {
        let (severity, path, message, hint) = one(json!([window(json!({"start": "0 25 * * MON-FRI"}))]));
        assert_eq!(severity, Severity::Error);
        assert_eq!(path, "spec.schedules[0].start");
        assert_eq!(
            message,
            "start \"0 25 * * MON-FRI\" is not a cron expression: hour \"25\": 25 is out of range 0-23"
        );
        assert!(hint.contains("\"0 9 * * MON-FRI\""), "{hint}");

        let (_, path, message, _) = one(json!([window(json!({"end": "0 18 * * MON-FRY"}))]));
        assert_eq!(path, "spec.schedules[0].end");
        assert!(message.contains("\"FRY\" is not a number from 0 to 7 or a name (SUN-SAT)"), "{message}");

        // Six fields (a seconds field, as Quartz writes it): the API server's own rule says so.
        let (_, path, message, hint) = one(json!([window(json!({"start": "0 0 9 * * MON-FRI"}))]));
        assert_eq!(path, "spec.schedules[0].start");
        assert_eq!(message, "start must be 5 cron fields (minute hour day-of-month month day-of-week)");
        assert!(hint.contains("no seconds field"), "{hint}");

        let (_, path, message, _) = one(json!([window(json!({"start": "0 0 30 2 *"}))]));
        assert_eq!(path, "spec.schedules[0].start");
        assert_eq!(message, "start \"0 0 30 2 *\" never fires: no such date");
    }

    #[test]
    fn a_zone_that_is_not_iana_is_refused_with_a_suggestion() {
        let (severity, path, message, hint) = one(json!([window(json!({"timezone": "Europe/Berln"}))]));
        assert_eq!((severity, path.as_str()), (Severity::Error, "spec.schedules[0].timezone"));
        assert_eq!(message, "timezone \"Europe/Berln\" is not in the IANA time zone database");
        assert!(hint.starts_with("did you mean Europe/Berlin?"), "{hint}");
        let (_, _, _, hint) = one(json!([window(json!({"timezone": "Berlin"}))]));
        assert!(hint.starts_with("did you mean Europe/Berlin?"), "{hint}");
        let (_, _, _, hint) = one(json!([window(json!({"timezone": "Somewhere/Else"}))]));
        assert_eq!(hint, "use an IANA name, e.g. Europe/Berlin, America/New_York or UTC");
    }

    #[test]
    fn start_equal_to_end_never_opens() {
        let (_, path, message, _) = one(json!([window(json!({"end": "0 9 * * MON-FRI"}))]));
        assert_eq!(path, "spec.schedules[0].end");
        assert_eq!(message, "start and end are the same time, so the schedule never opens");
        // The same time written differently is caught after parsing.
        let (_, path, message, _) = one(json!([window(json!({"end": "0 9 * * 1-5"}))]));
        assert_eq!(path, "spec.schedules[0].end");
        assert_eq!(message, "start and end are the same time (\"0 9 * * 1-5\"), so the schedule never opens");
    }

    #[test]
    fn bounds_that_fight_the_spec_are_named_with_the_fix() {
        let (severity, path, message, hint) = one(json!([window(json!({"minReplicas": 30}))]));
        assert_eq!((severity, path.as_str()), (Severity::Error, "spec.schedules[0].minReplicas"));
        assert_eq!(
            message,
            "schedule business-hours raises minReplicas to 30, above the spec's maxReplicas 20, without raising maxReplicas"
        );
        assert_eq!(hint, "add maxReplicas: 30 (or more) to the schedule, or lower its minReplicas");
        assert_eq!(findings(json!([window(json!({"minReplicas": 30, "maxReplicas": 40}))])), []);

        let (severity, path, message, _) =
            one(json!([{"name": "weekend", "start": "0 0 * * SAT", "end": "0 0 * * MON", "maxReplicas": 1}]));
        assert_eq!((severity, path.as_str()), (Severity::Warning, "spec.schedules[0].maxReplicas"));
        assert!(message.contains("without lowering minReplicas: the minimum wins"), "{message}");

        let (_, path, message, hint) =
            one(json!([{"name": "weekend", "start": "0 0 * * SAT", "end": "0 0 * * MON"}]));
        assert_eq!(path, "spec.schedules[0].minReplicas");
        assert_eq!(message, "a schedule sets minReplicas, maxReplicas or both");
        assert!(hint.starts_with("add minReplicas"), "{hint}");

        let (_, path, _, _) = one(json!([window(json!({"minReplicas": 9, "maxReplicas": 5}))]));
        assert_eq!(path, "spec.schedules[0].minReplicas");
    }

    #[test]
    fn names_are_kubernetes_like_and_unique() {
        let (_, path, message, _) = one(json!([window(json!({"name": "Business Hours"}))]));
        assert_eq!(path, "spec.schedules[0].name");
        assert!(message.starts_with("schedule name must be"), "{message}");
        let found = findings(json!([window(json!({})), window(json!({}))]));
        assert!(
            found.iter().any(|(_, p, m, _)| p == "spec.schedules[1].name" && m.contains("two schedules")),
            "{found:#?}"
        );
    }
}
