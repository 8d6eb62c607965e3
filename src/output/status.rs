//! What `gscale status` prints: the table of scalers (also used by `gscale demo`), and one
//! scaler in detail (conditions, decision trail, a sparkline of desired replicas, Events).
//!
//! Pure: the caller passes the objects, the time and the width, so output is the same in tests.

use comfy_table::{Cell, CellAlignment, Color, Table};
use jiff::Timestamp;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;

use super::plan::{fit, table as plain_table, trimmed};
use super::plot::sparkline;
use crate::api::{GeneralScaler, names};
use crate::decision::{duration_text, num, schedule};

/// How to lay out the table.
#[derive(Clone, Copy, Debug)]
pub struct TableOptions {
    /// Widest line.
    pub width: u16,
    /// A NAMESPACE column (for `-A`).
    pub namespaces: bool,
    /// More columns (`-o wide`): the Ready message and the last decision.
    pub wide: bool,
    /// ANSI colour on the Ready column.
    pub color: bool,
    /// The time relative ages are computed from.
    pub now: Timestamp,
}

/// The scalers as a table at `width` columns, ages relative to now, no colour (for `gscale demo`).
pub fn table(scalers: &[GeneralScaler], width: u16) -> String {
    render_table(
        scalers,
        &TableOptions { width, namespaces: false, wide: false, color: false, now: Timestamp::now() },
    )
}

/// `4 -> 7`, or `4` when current and desired agree, `-` before the first decision.
pub fn replicas_text(scaler: &GeneralScaler) -> String {
    let status = scaler.status.as_ref();
    match (status.and_then(|s| s.current_replicas), status.and_then(|s| s.desired_replicas)) {
        (Some(c), Some(d)) if c != d => format!("{c} -> {d}"),
        (Some(c), _) => c.to_string(),
        (None, Some(d)) => format!("? -> {d}"),
        (None, None) => "-".to_string(),
    }
}

/// The target as kubectl abbreviates it: `deploy/web`, `sts/db`, else `Kind/name`.
pub fn target_text(target: &crate::api::TargetRef) -> String {
    let kind = match target.kind.as_str() {
        "Deployment" => "deploy",
        "StatefulSet" => "sts",
        "ReplicaSet" => "rs",
        "ReplicationController" => "rc",
        other => other,
    };
    format!("{kind}/{}", target.name)
}

/// Each metric's value against its target: `rps 130/100, queue err`.
pub fn metrics_text(scaler: &GeneralScaler) -> String {
    let Some(status) = scaler.status.as_ref().filter(|s| !s.metrics.is_empty()) else {
        return scaler
            .spec
            .metrics()
            .iter()
            .map(|m| format!("{} -/{}", m.display_name(), num(m.target_value)))
            .collect::<Vec<_>>()
            .join(", ");
    };
    status
        .metrics
        .iter()
        .map(|m| match m.value {
            Some(v) => format!("{} {}/{}", m.name, num(v), num(m.target)),
            None => format!("{} error/{}", m.name, num(m.target)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn ago(then: Option<Timestamp>, now: Timestamp) -> String {
    match then {
        Some(t) => {
            let ms = now.duration_since(t).as_millis().max(0) as i64;
            format!("{} ago", duration_text(ms))
        }
        None => "never".to_string(),
    }
}

fn ready(scaler: &GeneralScaler) -> (String, String, Option<bool>) {
    let condition =
        scaler.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == names::READY));
    match condition {
        Some(c) => {
            let ok = c.status == "True";
            let text = if ok { "True".to_string() } else { format!("{} ({})", c.status, c.reason) };
            (text, c.message.clone(), Some(ok))
        }
        None => {
            ("Unknown".to_string(), "no decision recorded yet: is `gscale run` running?".to_string(), None)
        }
    }
}

/// The table of scalers.
pub fn render_table(scalers: &[GeneralScaler], options: &TableOptions) -> String {
    render_table_owned(scalers, options, None)
}

/// The table of scalers; with `-o wide` and `owner`, an OWNER column: the replica that decides
/// for each (automatic shards).
pub fn render_table_owned(
    scalers: &[GeneralScaler],
    options: &TableOptions,
    owner: Option<&dyn Fn(&GeneralScaler) -> String>,
) -> String {
    let owner = owner.filter(|_| options.wide);
    if scalers.is_empty() {
        return "no generalscalers found\n".to_string();
    }
    let mut table: Table = plain_table(options.width);
    if options.color {
        table.enforce_styling();
    }
    let mut header = Vec::new();
    if options.namespaces {
        header.push("NAMESPACE");
    }
    header.extend(["NAME", "TARGET", "REPLICAS", "MIN/MAX", "METRICS", "POLICY", "SCALED", "READY"]);
    if options.wide {
        header.extend(["LAST DECISION", "MESSAGE"]);
    }
    if owner.is_some() {
        header.push("OWNER");
    }
    table.set_header(header);
    for scaler in scalers {
        let spec = &scaler.spec;
        let (ready_text, message, ok) = ready(scaler);
        let mut ready_cell = Cell::new(ready_text);
        if options.color {
            ready_cell = ready_cell.fg(match ok {
                Some(true) => Color::Green,
                Some(false) => Color::Red,
                None => Color::Yellow,
            });
        }
        let mut row = Vec::new();
        if options.namespaces {
            row.push(Cell::new(scaler.namespace().unwrap_or_default()));
        }
        row.extend([
            Cell::new(scaler.name_any()),
            Cell::new(target_text(&spec.target_ref)),
            Cell::new(replicas_text(scaler)).set_alignment(CellAlignment::Right),
            Cell::new(format!("{}/{}", spec.min_replicas, spec.max_replicas)),
            Cell::new(metrics_text(scaler)),
            Cell::new(spec.policy.kind.as_str()),
            Cell::new(ago(scaler.status.as_ref().and_then(|s| s.last_scale_time), options.now)),
            ready_cell,
        ]);
        if options.wide {
            let last = scaler
                .status
                .as_ref()
                .and_then(|s| s.recent_decisions.last())
                .map_or("-".to_string(), |d| d.reason.clone());
            row.extend([Cell::new(last), Cell::new(message)]);
        }
        if let Some(owner) = owner {
            row.push(Cell::new(owner(scaler)));
        }
        table.add_row(row);
    }
    let first = usize::from(options.namespaces);
    let mut flexible = vec![(first + 4, 12), (first + 7, 9)];
    if options.wide {
        flexible.extend([(first + 8, 24), (first + 9, 24)]);
    }
    fit(&mut table, &flexible);
    let mut out = trimmed(&table);
    out.push('\n');
    out
}

/// One scaler in detail, with the Events about it (any order; the newest five are shown).
pub fn render_detail(scaler: &GeneralScaler, events: &[Event], width: u16, now: Timestamp) -> String {
    let spec = &scaler.spec;
    let status = scaler.status.clone().unwrap_or_default();
    let mut out = format!(
        "{}/{} -> {}/{}\n",
        scaler.namespace().unwrap_or_default(),
        scaler.name_any(),
        spec.target_ref.kind,
        spec.target_ref.name
    );
    let mut flags = Vec::new();
    if spec.paused {
        flags.push("paused");
    }
    if spec.dry_run {
        flags.push("dry run");
    }
    let bounds = schedule::bounds(spec, now);
    let own = schedule::Bounds::of_spec(spec);
    let by_schedule = if bounds == own {
        String::new()
    } else {
        let mut names: Vec<&str> = [bounds.min_window, bounds.max_window]
            .into_iter()
            .flatten()
            .filter_map(|i| spec.schedules.get(usize::from(i)).map(|w| w.name.as_str()))
            .collect();
        names.dedup();
        format!(" (schedule {}; own {}..{})", names.join(", "), own.min, own.max)
    };
    out.push_str(&format!(
        "replicas: {}   bounds: {}..{}{by_schedule}   policy: {}{}\n",
        replicas_text(scaler),
        bounds.min,
        bounds.max,
        spec.policy.kind.as_str(),
        if flags.is_empty() { String::new() } else { format!("   ({})", flags.join(", ")) },
    ));
    out.push_str(&format!(
        "metrics: {}\nlast scale: {}\n",
        metrics_text(scaler),
        ago(status.last_scale_time, now)
    ));
    if !spec.schedules.is_empty() {
        out.push_str("\nSchedules:\n");
        let mut table = plain_table(width);
        table.set_header(["NAME", "STATE", "SETS", "NEXT EDGE"]);
        for (window, state) in spec.schedules.iter().zip(schedule::windows(spec, now)) {
            let edge = schedule::edge_text(spec, &state, now);
            let (state_text, edge_text) = match (state.invalid, state.open, edge) {
                (true, _, _) => ("invalid", "never: see gscale validate".to_string()),
                (false, true, Some(edge)) => ("open", format!("closes {edge}")),
                (false, false, Some(edge)) => ("closed", format!("opens {edge}")),
                (false, _, None) => (if state.open { "open" } else { "closed" }, "none".to_string()),
            };
            table.add_row([
                window.name.clone(),
                state_text.to_string(),
                schedule::sets_text(spec, window),
                edge_text,
            ]);
        }
        fit(&mut table, &[(2, 12), (3, 24)]);
        out.push_str(&indent(&trimmed(&table)));
        out.push('\n');
    }

    out.push_str("\nConditions:\n");
    if status.conditions.is_empty() {
        out.push_str("  none yet: no decision recorded (is `gscale run` running?)\n");
    } else {
        let mut table = plain_table(width);
        table.set_header(["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"]);
        for c in &status.conditions {
            table.add_row([
                &c.type_,
                &c.status,
                &c.reason,
                &ago(Some(c.last_transition_time.0), now),
                &c.message,
            ]);
        }
        fit(&mut table, &[(4, 20)]);
        out.push_str(&indent(&trimmed(&table)));
        out.push('\n');
    }

    out.push_str("\nRecent decisions:\n");
    if status.recent_decisions.is_empty() {
        out.push_str("  none yet\n");
    } else {
        let mut desired: Vec<i32> = status.recent_decisions.first().map(|d| d.from).into_iter().collect();
        desired.extend(status.recent_decisions.iter().map(|d| d.to));
        let lo = desired.iter().min().copied().unwrap_or(0);
        let hi = desired.iter().max().copied().unwrap_or(0);
        out.push_str(&format!("  desired {}  ({lo}..{hi})\n", sparkline(&desired)));
        let mut table = plain_table(width);
        table.set_header(["WHEN", "CHANGE", "WHY"]);
        for d in status.recent_decisions.iter().rev() {
            table.add_row([ago(Some(d.time), now), format!("{} -> {}", d.from, d.to), d.reason.clone()]);
        }
        fit(&mut table, &[(2, 20)]);
        out.push_str(&indent(&trimmed(&table)));
        out.push('\n');
    }

    out.push_str("\nEvents:\n");
    let mut events: Vec<&Event> = events.iter().collect();
    events.sort_by_key(|e| event_time(e));
    let newest: Vec<&Event> = events.iter().rev().take(5).rev().copied().collect();
    if newest.is_empty() {
        out.push_str("  none\n");
    } else {
        let mut table = plain_table(width);
        table.set_header(["AGE", "TYPE", "REASON", "NOTE"]);
        for e in newest {
            table.add_row([
                ago(event_time(e), now),
                e.type_.clone().unwrap_or_default(),
                e.reason.clone().unwrap_or_default(),
                e.note.clone().unwrap_or_default(),
            ]);
        }
        fit(&mut table, &[(3, 20)]);
        out.push_str(&indent(&trimmed(&table)));
        out.push('\n');
    }
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}

fn event_time(e: &Event) -> Option<Timestamp> {
    e.event_time.as_ref().map(|t| t.0).or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}
