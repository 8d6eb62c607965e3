//! What `gscale plan` prints: the metrics, one row per decision stage (in, out, why) and the
//! verdict, as a table fitted to a terminal width.
//!
//! Replays are printed by [`crate::output::replay`]; the data itself is `decision::DecisionReport`.

use comfy_table::{Cell, CellAlignment, ColumnConstraint, ContentArrangement, Table, Width, presets};

use crate::decision::{DecisionReport, FORECAST_OFF, Stage, num};

/// A plan ready to print.
pub struct PlanView<'a> {
    /// `namespace/name` of the scaler (or the file it came from).
    pub scaler: &'a str,
    /// `Kind/name` of the target.
    pub target: &'a str,
    /// minReplicas, maxReplicas.
    pub bounds: (i32, i32),
    /// The policy's name.
    pub policy: &'a str,
    /// Lines printed before the table (the target is missing, spec warnings).
    pub notes: &'a [String],
    /// One line per `spec.schedules` window: open or not, and its next edge.
    pub schedules: &'a [String],
    /// The decision in words.
    pub report: &'a DecisionReport,
}

/// A kubectl-like borderless table of at most `width` columns (three spaces between columns).
pub fn table(width: u16) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width)
        .force_no_tty();
    table
}

/// Lay out `table`: columns not in `flexible` keep their whole content; the flexible ones,
/// given as (index, narrowest), wrap but never below their narrowest width, so a short word such
/// as `Unknown` is never cut. Call after the header and rows are in.
pub fn fit(table: &mut Table, flexible: &[(usize, u16)]) {
    let content = table.column_max_content_widths();
    let last = content.len().saturating_sub(1);
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, if i == last { 0 } else { 2 }));
        match flexible.iter().find(|(index, _)| *index == i) {
            Some((_, narrowest)) => {
                let narrowest = (*narrowest).min(content.get(i).copied().unwrap_or(0));
                column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(narrowest)));
            }
            None => {
                column.set_constraint(ColumnConstraint::ContentWidth);
            }
        }
    }
}

/// The plan in words: a header, the metrics, the stages, the verdict.
pub fn render(view: &PlanView<'_>, width: u16) -> String {
    let report = view.report;
    let mut out = format!(
        "plan for {} -> {}\n{} replicas now, bounds {}..{}, policy {}\n",
        view.scaler, view.target, report.current, view.bounds.0, view.bounds.1, view.policy
    );
    for note in view.notes {
        out.push_str(&wrap(&format!("note: {note}"), usize::from(width), "  "));
    }
    for line in view.schedules {
        out.push_str(&wrap(&format!("schedule: {line}"), usize::from(width), "  "));
    }
    out.push('\n');

    let mut metrics = table(width);
    metrics.set_header(["METRIC", "VALUE", "TARGET", "WANTS"]);
    for m in &report.metrics {
        let value = match (&m.value, &m.error) {
            (Some(v), _) => num(*v),
            (None, Some(e)) => format!("error: {e}"),
            (None, None) => "-".to_string(),
        };
        let target_type = match m.target_type {
            crate::api::TargetType::Value => "per pod",
            crate::api::TargetType::AverageValue => "total",
            crate::api::TargetType::Utilization => "% of requests",
        };
        metrics.add_row([
            Cell::new(&m.name),
            Cell::new(value),
            Cell::new(format!("{} ({target_type})", num(m.target))),
            Cell::new(m.desired.map_or("-".to_string(), |d| d.to_string()))
                .set_alignment(CellAlignment::Right),
        ]);
    }
    fit(&mut metrics, &[(1, 16)]);
    out.push_str(&trimmed(&metrics));
    out.push('\n');
    // A source's account of its value (a resource metric's pods), under the table.
    for m in &report.metrics {
        if let Some(detail) = &m.detail {
            out.push_str(&wrap(&format!("{}: {detail}", m.name), usize::from(width), "  "));
        }
    }
    out.push('\n');

    let mut steps = table(width);
    steps.set_header(["STAGE", "IN", "OUT", "WHY"]);
    // A scaler that does not forecast is shown the stages it uses.
    let shown = report.steps.iter().filter(|s| !(s.stage == Stage::Forecast && s.why == FORECAST_OFF));
    for s in shown {
        let mark = if s.input != s.output { "*" } else { " " };
        steps.add_row([
            Cell::new(format!("{mark}{}", s.stage.as_str())),
            Cell::new(s.input).set_alignment(CellAlignment::Right),
            Cell::new(s.output).set_alignment(CellAlignment::Right),
            Cell::new(&s.why),
        ]);
    }
    fit(&mut steps, &[(3, 24)]);
    out.push_str(&trimmed(&steps));
    out.push_str("\n\n");
    out.push_str(&verdict(view.target, report));
    out.push('\n');
    out
}

/// `would scale Deployment/x 4 -> 7: ...`, `would hold at 4: ...`, or the paused/dry-run form.
pub fn verdict(target: &str, report: &DecisionReport) -> String {
    let line = &report.verdict;
    if let Some(rest) = line.strip_prefix("scale ") {
        format!("would scale {target} {rest}")
    } else if let Some(rest) = line.strip_prefix("hold ") {
        format!("would hold {rest}")
    } else {
        // "paused, would scale 4 -> 7: ..." and "dry run, would scale ...": name the target too.
        line.replacen("would scale ", &format!("would scale {target} "), 1)
    }
}

/// `text` wrapped at spaces to `width` columns, continuation lines indented; ends with a newline.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line = indent.to_string();
        } else if !line.is_empty() && line != indent {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// A table's lines without trailing blanks (the NOTHING preset pads every cell).
pub fn trimmed(table: &Table) -> String {
    table.lines().map(|l| l.trim_end().to_string()).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_and_indents() {
        assert_eq!(wrap("note: aaa bbb ccc", 10, "  "), "note: aaa\n  bbb ccc\n");
        assert_eq!(wrap("short", 10, "  "), "short\n");
    }
}
