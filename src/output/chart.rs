//! SVG line charts written by hand: a few polylines on axes, no plotting crate.
//!
//! Used by `simulate --plot` (demand and replicas over time). Long series are reduced to at most
//! [`MAX_POINTS`] per line by keeping each bucket's highest value, so peaks stay visible.

use std::fmt::Write as _;

/// Most points drawn per series.
pub const MAX_POINTS: usize = 2000;

/// One line of a chart.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// An SVG colour.
    pub color: &'static str,
    /// `(x, y)` in increasing x.
    pub points: Vec<(f64, f64)>,
}

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// An SVG document with the series drawn as step lines over shared axes.
pub fn svg(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let all = series.iter().flat_map(|s| s.points.iter());
    let (mut x_max, mut y_max) = (0.0_f64, 0.0_f64);
    let mut x_min = f64::INFINITY;
    for &(x, y) in all {
        x_min = x_min.min(x);
        x_max = x_max.max(x);
        y_max = y_max.max(y);
    }
    if !x_min.is_finite() {
        x_min = 0.0;
    }
    if x_max <= x_min {
        x_max = x_min + 1.0;
    }
    let y_max = if y_max > 0.0 { y_max * 1.05 } else { 1.0 };
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let sx = |x: f64| LEFT + (x - x_min) / (x_max - x_min) * plot_w;
    let sy = |y: f64| TOP + plot_h - y / y_max * plot_h;

    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = write!(out, r#"<text x="{LEFT}" y="22" font-size="15">{}</text>"#, escape(title));
    for i in 0..=5 {
        let y = y_max * f64::from(i) / 5.0;
        let py = sy(y);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            tick(y)
        );
        let x = x_min + (x_max - x_min) * f64::from(i) / 5.0;
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            sx(x),
            HEIGHT - BOTTOM + 18.0,
            tick(x)
        );
    }
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">{}</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 12.0,
        escape(x_label),
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        escape(y_label)
    );
    for (n, s) in series.iter().enumerate() {
        let mut path = String::new();
        let mut last_y = None;
        for (x, y) in reduce(&s.points) {
            let (px, py) = (sx(x), sy(y));
            match last_y {
                None => {
                    let _ = write!(path, "{px:.1},{py:.1}");
                }
                Some(ly) => {
                    let _ = write!(path, " {px:.1},{ly:.1} {px:.1},{py:.1}");
                }
            }
            last_y = Some(py);
        }
        let _ =
            write!(out, r#"<polyline fill="none" stroke="{}" stroke-width="1.3" points="{path}"/>"#, s.color);
        let lx = LEFT + 10.0 + 190.0 * n as f64;
        let _ = write!(
            out,
            r#"<rect x="{lx:.1}" y="{:.1}" width="14" height="3" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            TOP - 12.0,
            s.color,
            lx + 18.0,
            TOP - 7.0,
            escape(&s.name)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// At most [`MAX_POINTS`] points: each bucket keeps its first x and its highest y.
fn reduce(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    if points.len() <= MAX_POINTS {
        return points.to_vec();
    }
    let per = points.len().div_ceil(MAX_POINTS);
    points.chunks(per).map(|c| (c[0].0, c.iter().map(|p| p.1).fold(f64::MIN, f64::max))).collect()
}

fn tick(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.trunc() { format!("{v:.0}") } else { format!("{v:.1}") }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_every_series_and_escapes_text() {
        let s = vec![
            Series { name: "a<b".into(), color: "red", points: vec![(0.0, 1.0), (1.0, 2.0)] },
            Series {
                name: "c".into(),
                color: "blue",
                points: (0..10_000).map(|i| (i as f64, 1.0)).collect(),
            },
        ];
        let out = svg("t & t", "x", "y", &s);
        assert!(out.starts_with("<svg") && out.ends_with("</svg>\n"));
        assert_eq!(out.matches("<polyline").count(), 2);
        assert!(out.contains("a&lt;b") && out.contains("t &amp; t"));
        assert!(reduce(&s[1].points).len() <= MAX_POINTS);
    }
}
