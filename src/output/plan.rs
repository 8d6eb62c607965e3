//! What `gscale plan` prints: the metrics, one row per decision stage (in, out, why) and the
//! verdict, as a table fitted to a terminal width.
//!
//! Replays are printed by [`crate::output::replay`]; the data itself is `decision::DecisionReport`.

use comfy_table::{Cell, CellAlignment, ContentArrangement, Table, presets};

use crate::decision::{DecisionReport, num};

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
    /// The decision in words.
    pub report: &'a DecisionReport,
}

/// A kubectl-like borderless table of at most `width` columns.
pub fn table(width: u16) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width)
        .force_no_tty();
    table
}

/// The plan in words: a header, the metrics, the stages, the verdict.
pub fn render(view: &PlanView<'_>, width: u16) -> String {
    let report = view.report;
    let mut out = format!(
        "plan for {} -> {}: {} replicas now, bounds {}..{}, policy {}\n",
        view.scaler, view.target, report.current, view.bounds.0, view.bounds.1, view.policy
    );
    for note in view.notes {
        out.push_str(&format!("note: {note}\n"));
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
        };
        metrics.add_row([
            Cell::new(&m.name),
            Cell::new(value),
            Cell::new(format!("{} ({target_type})", num(m.target))),
            Cell::new(m.desired.map_or("-".to_string(), |d| d.to_string()))
                .set_alignment(CellAlignment::Right),
        ]);
    }
    out.push_str(&trimmed(&metrics));
    out.push_str("\n\n");

    let mut steps = table(width);
    steps.set_header(["STAGE", "IN", "OUT", "WHY"]);
    for s in &report.steps {
        let mark = if s.input != s.output { "*" } else { " " };
        steps.add_row([
            Cell::new(format!("{mark}{}", s.stage.as_str())),
            Cell::new(s.input).set_alignment(CellAlignment::Right),
            Cell::new(s.output).set_alignment(CellAlignment::Right),
            Cell::new(&s.why),
        ]);
    }
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

/// A table's lines without trailing blanks (the NOTHING preset pads every cell).
pub fn trimmed(table: &Table) -> String {
    table.lines().map(|l| l.trim_end().to_string()).collect::<Vec<_>>().join("\n")
}
