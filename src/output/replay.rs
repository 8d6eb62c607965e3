//! What `gscale plan --replay` prints: a summary table, the scale events with their reasons, and
//! a terminal chart of replicas over time.

use comfy_table::{Cell, CellAlignment};

use super::plan::{fit, table, trimmed};
use super::plot::steps;
use crate::decision::num;
use crate::replay::Replay;

/// Scale events listed before the rest are summarised in one line.
const EVENTS_SHOWN: usize = 20;

/// The replay in words, fitted to `width` columns.
pub fn render(title: &str, replay: &Replay, max_replicas: i32, width: u16) -> String {
    let mut out = format!("{title}\n\n");
    let (Some(first), Some(last)) = (replay.ticks.first(), replay.ticks.last()) else {
        out.push_str("no ticks to replay\n");
        return out;
    };
    let rows: Vec<(&str, String)> = vec![
        ("from", first.time.strftime("%Y-%m-%d %H:%M UTC").to_string()),
        ("to", last.time.strftime("%Y-%m-%d %H:%M UTC").to_string()),
        ("ticks", replay.ticks.len().to_string()),
        ("replicas", format!("{} at start, {} at end", first.current, last.replicas)),
        ("range", format!("{}..{}", replay.replica_range.0, replay.replica_range.1)),
        ("scale events", replay.events.len().to_string()),
        ("pod-hours", format!("{:.1}", replay.pod_hours)),
        ("cost", replay.cost.map_or("- (no costPerPodPerHour)".to_string(), |c| format!("{c:.2}"))),
        ("at max", format!("{} min at {max_replicas} replicas", num(replay.minutes_at_max.round()))),
        ("missing data", format!("{} ticks", replay.ticks_missing_data)),
    ];
    let mut summary = table(width);
    for (k, v) in rows {
        summary.add_row([Cell::new(k), Cell::new(v)]);
    }
    fit(&mut summary, &[(1, 24)]);
    out.push_str(&trimmed(&summary));
    out.push_str("\n\nreplicas over time:\n");
    let replicas: Vec<i32> = replay.ticks.iter().map(|t| t.replicas).collect();
    out.push_str(&steps(&replicas, usize::from(width), 8));

    out.push_str("\nscale events:\n");
    if replay.events.is_empty() {
        out.push_str("  none\n");
    } else {
        let mut events = table(width);
        events.set_header(["TIME", "CHANGE", "WHY"]);
        for e in replay.events.iter().take(EVENTS_SHOWN) {
            events.add_row([
                Cell::new(e.time.strftime("%m-%d %H:%M").to_string()),
                Cell::new(format!("{} -> {}", e.from, e.to)).set_alignment(CellAlignment::Right),
                Cell::new(e.reason.split_once(": ").map_or(e.reason.as_str(), |(_, why)| why)),
            ]);
        }
        fit(&mut events, &[(2, 24)]);
        out.push_str(&trimmed(&events));
        out.push('\n');
        if replay.events.len() > EVENTS_SHOWN {
            out.push_str(&format!(
                "  ... and {} more (-o json lists them all)\n",
                replay.events.len() - EVENTS_SHOWN
            ));
        }
    }
    out
}
