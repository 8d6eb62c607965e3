//! Charts for `plan --replay` and `status`: a one-line sparkline, a small terminal step chart,
//! and a two-panel SVG plot (plotters, SVG backend only) of load and replicas over time.
//!
//! Pure functions from numbers to text; nothing here reads a terminal or a clock. The hand-written
//! single-axis SVG of `simulate --plot` is [`super::chart`].

use std::path::Path;

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One character per value, scaled between the smallest and largest.
pub fn sparkline(values: &[i32]) -> String {
    let (Some(&lo), Some(&hi)) = (values.iter().min(), values.iter().max()) else {
        return String::new();
    };
    values
        .iter()
        .map(|&v| {
            if hi == lo { BARS[3] } else { BARS[((v - lo) as usize * (BARS.len() - 1)) / (hi - lo) as usize] }
        })
        .collect()
}

/// A step chart of `values` in `width` columns and `height` rows, with the y axis labelled.
/// Each column shows the largest value of the samples it covers, so a short peak stays visible.
pub fn steps(values: &[i32], width: usize, height: usize) -> String {
    if values.is_empty() || width < 12 || height < 2 {
        return String::new();
    }
    let hi = *values.iter().max().unwrap_or(&0);
    let lo = (*values.iter().min().unwrap_or(&0)).min(hi);
    let label_width = hi.to_string().len().max(lo.to_string().len());
    let columns = (width - label_width - 2).min(values.len()).max(1);
    let sampled: Vec<i32> = (0..columns)
        .map(|c| {
            let from = c * values.len() / columns;
            let to = ((c + 1) * values.len() / columns).max(from + 1);
            values[from..to].iter().copied().max().unwrap_or(0)
        })
        .collect();
    let span = (hi - lo).max(1) as f64;
    let row_of = |v: i32| (((v - lo) as f64 / span) * (height - 1) as f64).round() as usize;
    let mut out = String::new();
    for row in (0..height).rev() {
        let label = if row == height - 1 && hi != lo {
            hi.to_string()
        } else if row == 0 {
            lo.to_string()
        } else {
            String::new()
        };
        out.push_str(&format!("{label:>label_width$} │"));
        for &v in &sampled {
            let r = row_of(v);
            out.push(if r == row {
                '▀'
            } else if r > row {
                '│'
            } else {
                ' '
            });
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    }
    out.push_str(&format!("{:>label_width$} └{}\n", "", "─".repeat(sampled.len())));
    out
}

/// One series of an SVG plot.
pub struct Series<'a> {
    /// Its legend.
    pub label: &'a str,
    /// (seconds from the start, value).
    pub points: &'a [(f64, f64)],
}

/// Write an SVG with `load` on the top panel and `replicas` on the bottom one, x in hours.
pub fn plot_svg(path: &Path, title: &str, load: &[Series<'_>], replicas: &Series<'_>) -> anyhow::Result<()> {
    use plotters::prelude::*;

    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 18))?;
    let (top, bottom) = root.split_vertically(300);
    let end = load
        .iter()
        .flat_map(|s| s.points.iter())
        .chain(replicas.points)
        .map(|p| p.0 / 3600.0)
        .fold(0.0_f64, f64::max)
        .max(1.0 / 60.0);
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
    let replicas_max = replicas.points.iter().map(|p| p.1).fold(0.0_f64, f64::max).max(1.0);
    let mut chart = ChartBuilder::on(&bottom)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..end, 0.0..replicas_max * 1.1)?;
    chart.configure_mesh().x_desc("hours").y_desc(replicas.label).draw()?;
    // Replicas change in steps: draw each value until the next sample.
    let mut stepped = Vec::with_capacity(replicas.points.len() * 2);
    for pair in replicas.points.windows(2) {
        stepped.push((pair[0].0 / 3600.0, pair[0].1));
        stepped.push((pair[1].0 / 3600.0, pair[0].1));
    }
    if let Some(last) = replicas.points.last() {
        stepped.push((last.0 / 3600.0, last.1));
    }
    chart.draw_series(LineSeries::new(stepped, BLUE.stroke_width(2)))?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_spans_lowest_to_highest() {
        assert_eq!(sparkline(&[1, 2, 3, 8]), "▁▂▃█");
        assert_eq!(sparkline(&[4, 4]), "▄▄");
        assert_eq!(sparkline(&[]), "");
    }

    #[test]
    fn steps_keeps_peaks_and_labels_the_axis() {
        let chart = steps(&[1, 1, 9, 1, 1, 1], 20, 3);
        assert_eq!(chart, "9 │  ▀\n  │  │\n1 │▀▀│▀▀▀\n  └──────\n");
    }
}
