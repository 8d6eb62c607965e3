//! What `gscale plan --replay --against hpa` prints: gscale and the HPA reference side by side
//! (pod-hours, cost, minutes at max, minutes under-provisioned, scale events, and the difference),
//! a terminal chart of each timeline, and the SVG with both.

use std::path::Path;

use comfy_table::{Cell, CellAlignment};

use super::plan::{table, trimmed};
use super::plot::{Series, steps};
use crate::against::Comparison;

fn signed(v: f64, decimals: usize) -> String {
    let text = format!("{:+.*}", decimals, v);
    if text.trim_start_matches(['+', '-']).chars().all(|c| c == '0' || c == '.') {
        format!("{:.*}", decimals, 0.0)
    } else {
        text
    }
}

fn percent(ours: f64, theirs: f64) -> String {
    if theirs.abs() < 1e-12 { String::new() } else { format!(" ({:+.0}%)", (ours - theirs) / theirs * 100.0) }
}

/// The comparison in words, fitted to `width` columns.
pub fn render(c: &Comparison, max_replicas: i32, width: u16) -> String {
    let mut out = format!(
        "\ngscale against the HPA reference on the same history (HPA defaults, {max_replicas} max):\n"
    );
    let mut t = table(width);
    t.set_header(["", "GSCALE", "HPA", "DIFFERENCE"]);
    let rows: Vec<(&str, String, String, String)> = vec![
        (
            "pod-hours",
            format!("{:.1}", c.gscale.pod_hours),
            format!("{:.1}", c.hpa.pod_hours),
            format!("{}{}", signed(c.pod_hours_difference, 1), percent(c.gscale.pod_hours, c.hpa.pod_hours)),
        ),
        (
            "cost",
            c.gscale.cost.map_or("-".into(), |v| format!("{v:.2}")),
            c.hpa.cost.map_or("-".into(), |v| format!("{v:.2}")),
            c.cost_difference.map_or("- (no costPerPodPerHour)".into(), |v| signed(v, 2)),
        ),
        (
            "min at max",
            format!("{:.0}", c.gscale.minutes_at_max),
            format!("{:.0}", c.hpa.minutes_at_max),
            signed(c.at_max_difference, 0),
        ),
        (
            "min under-provisioned",
            format!("{:.0}", c.gscale.minutes_under_provisioned),
            format!("{:.0}", c.hpa.minutes_under_provisioned),
            signed(c.under_provisioned_difference, 0),
        ),
        (
            "scale events",
            c.gscale.scale_events.to_string(),
            c.hpa.scale_events.to_string(),
            signed(c.gscale.scale_events as f64 - c.hpa.scale_events as f64, 0),
        ),
    ];
    for (k, a, b, d) in rows {
        t.add_row([
            Cell::new(k),
            Cell::new(a).set_alignment(CellAlignment::Right),
            Cell::new(b).set_alignment(CellAlignment::Right),
            Cell::new(d).set_alignment(CellAlignment::Right),
        ]);
    }
    out.push_str(&trimmed(&t));
    out.push_str("\n\nHPA replicas over time:\n");
    out.push_str(&steps(&c.hpa.replicas, usize::from(width), 8));
    out.push_str(
        "under-provisioned: fewer replicas than the metrics asked for at that count, within the bounds\n",
    );
    out
}

/// An SVG with the load on top and both replica timelines below.
pub fn plot_svg(
    path: &Path,
    title: &str,
    load: &[Series<'_>],
    ours: &Series<'_>,
    hpa: &Series<'_>,
) -> anyhow::Result<()> {
    use plotters::prelude::*;

    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 18))?;
    let (top, bottom) = root.split_vertically(300);
    let all = || load.iter().flat_map(|s| s.points.iter()).chain(ours.points).chain(hpa.points);
    let end = all().map(|p| p.0 / 3600.0).fold(0.0_f64, f64::max).max(1.0 / 60.0);
    let load_max = load.iter().flat_map(|s| s.points.iter()).map(|p| p.1).fold(0.0_f64, f64::max).max(1.0);
    let mut chart = ChartBuilder::on(&top)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..end, 0.0..load_max * 1.1)?;
    chart.configure_mesh().x_desc("hours").y_desc("load").draw()?;
    for (i, series) in load.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(series.points.iter().map(|p| (p.0 / 3600.0, p.1)), color))?
            .label(series.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    let replicas_max = ours.points.iter().chain(hpa.points).map(|p| p.1).fold(0.0_f64, f64::max).max(1.0);
    let mut chart = ChartBuilder::on(&bottom)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..end, 0.0..replicas_max * 1.1)?;
    chart.configure_mesh().x_desc("hours").y_desc("replicas").draw()?;
    for (series, color) in [(ours, BLUE), (hpa, RED)] {
        // Replicas change in steps: each value holds until the next sample.
        let mut stepped = Vec::with_capacity(series.points.len() * 2);
        for pair in series.points.windows(2) {
            stepped.push((pair[0].0 / 3600.0, pair[0].1));
            stepped.push((pair[1].0 / 3600.0, pair[0].1));
        }
        if let Some(last) = series.points.last() {
            stepped.push((last.0 / 3600.0, last.1));
        }
        chart
            .draw_series(LineSeries::new(stepped, color.stroke_width(2)))?
            .label(series.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::against::Side;

    #[test]
    fn differences_are_signed_and_zero_is_plain() {
        assert_eq!(signed(-3.04, 1), "-3.0");
        assert_eq!(signed(2.0, 0), "+2");
        assert_eq!(signed(-0.01, 1), "0.0");
        let side = |label: &str, pod_hours: f64| Side {
            label: label.into(),
            replicas: vec![1, 2],
            scale_events: 1,
            pod_hours,
            cost: None,
            minutes_at_max: 0.0,
            minutes_under_provisioned: 0.0,
        };
        let c = Comparison {
            gscale: side("gscale", 8.0),
            hpa: side("hpa", 10.0),
            pod_hours_difference: -2.0,
            cost_difference: None,
            under_provisioned_difference: 0.0,
            at_max_difference: 0.0,
        };
        let text = render(&c, 10, 100);
        assert!(text.contains("-2.0 (-20%)"), "{text}");
        assert!(text.contains("no costPerPodPerHour"), "{text}");
    }
}
