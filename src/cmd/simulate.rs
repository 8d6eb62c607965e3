//! `gscale simulate -f SCALER.yaml --trace CSV`: replay a load trace through the scaler's decisions
//! (and, with `--against hpa`, through the Kubernetes HPA reference) with no cluster at all.
//!
//! Flags are resolved into [`sim::Settings`] first; every bad flag or unreadable input is a usage
//! error naming what to fix. The simulation itself lives in `sim`; this file reads, runs, prints.

use std::path::Path;

use std::fmt::Write as _;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use crate::api::GeneralScalerSpec;
use crate::cli::{OutputFormat, SimulateArgs, exit};
use crate::output::chart;
use crate::sim::{self, Gscale, Noise, Pipeline, Run, Settings, Shape, Summary, Trace, hpa::Hpa};
use gscale_manifest::yaml;

use super::{UsageError, input};

/// The largest trace file read.
const MAX_TRACE_BYTES: u64 = 256 * 1024 * 1024;

/// The most demand a trace may ask for once scaled, in units per second: beyond it the backlog's
/// arithmetic loses meaning (and no workload serves a quadrillion requests a second).
const MAX_DEMAND: f64 = 1e15;

/// Everything a simulation needs, resolved from the flags.
struct Resolved {
    name: String,
    spec: GeneralScalerSpec,
    trace: Trace,
    settings: Settings,
    against_hpa: bool,
}

/// The document printed by `-o json` and `-o yaml`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    scaler: &'a str,
    trace: String,
    points: usize,
    trace_step_seconds: f64,
    compress: f64,
    scale_demand: f64,
    capacity_per_pod: f64,
    pod_start_seconds: f64,
    /// How demand moves: `interpolated` or `held`, with the noise if any.
    demand: String,
    /// What each metric reads of it, in the spec's order.
    reading: Vec<String>,
    gscale: &'a Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    hpa: Option<&'a Summary>,
}

pub fn run(args: &SimulateArgs) -> anyhow::Result<u8> {
    let r = resolve(args)?;
    let demand = r.settings.demand(&r.trace);
    let gscale = sim::run_demand(&demand, &r.spec, &r.settings, &mut Gscale::new(&r.spec));
    let hpa =
        r.against_hpa.then(|| sim::run_demand(&demand, &r.spec, &r.settings, &mut Hpa::from_spec(&r.spec)));

    if let Some(path) = &args.plot {
        let svg = plot(&r, &gscale, hpa.as_ref());
        std::fs::write(path, svg)
            .map_err(|e| UsageError(format!("cannot write the plot to {}: {e}", path.display())))?;
    }

    let report = Report {
        scaler: &r.name,
        trace: args.trace.display().to_string(),
        points: r.trace.points.len(),
        trace_step_seconds: r.trace.step_ms() as f64 / 1000.0,
        compress: r.settings.compress,
        scale_demand: r.settings.scale_demand,
        capacity_per_pod: r.settings.capacity_per_pod,
        pod_start_seconds: r.settings.pod_start_ms as f64 / 1000.0,
        demand: describe_demand(&r.settings),
        reading: r.spec.metrics().iter().map(|m| r.settings.pipeline_for(m).to_string()).collect(),
        gscale: &gscale.summary,
        hpa: hpa.as_ref().map(|h| &h.summary),
    };
    let mut text = String::new();
    match args.output {
        OutputFormat::Json => text = serde_json::to_string_pretty(&report)? + "\n",
        OutputFormat::Yaml => text = yaml::to_string(&serde_json::to_value(&report)?),
        OutputFormat::Table | OutputFormat::Wide => {
            table(&mut text, &report, args.output == OutputFormat::Wide);
            let width = if args.output == OutputFormat::Wide { 100 } else { 60 };
            let top = gscale
                .timeline
                .iter()
                .chain(hpa.iter().flat_map(|h| h.timeline.iter()))
                .map(|s| s.replicas)
                .max()
                .unwrap_or(0);
            let _ = writeln!(
                text,
                "replicas over time (each mark: the mean count over 1/{width} of the run, scale 0-{top})"
            );
            let _ = writeln!(text, "  gscale {}", sparkline(&gscale.timeline, width, top));
            if let Some(h) = &hpa {
                let _ = writeln!(text, "  hpa    {}", sparkline(&h.timeline, width, top));
            }
        }
    }
    input::print(&text)?;
    Ok(exit::OK)
}

fn resolve(args: &SimulateArgs) -> anyhow::Result<Resolved> {
    // Flags first: a typo is reported before any file is read.
    let capacity = match args.capacity_per_pod {
        Some(c) if !(c.is_finite() && c > 0.0) => {
            return Err(usage(format!("--capacity-per-pod must be a number above 0, got {c}")));
        }
        other => other,
    };
    let pod_start_ms = input::duration_ms("--pod-start", &args.pod_start)?;
    let compress = match &args.compress {
        None => 1.0,
        Some(text) => compression(text)?,
    };
    if !(args.scale_demand.is_finite() && args.scale_demand > 0.0) {
        return Err(usage(format!("--scale-demand must be a number above 0, got {}", args.scale_demand)));
    }
    let level = noise_level(&args.noise)?;
    let correlation_ms = input::positive_duration_ms("--noise-correlation", &args.noise_correlation)?;
    let noise = (level > 0.0).then_some(Noise { level, correlation_ms, seed: args.seed });
    let reading = pipeline(&args.reading)?;
    let against_hpa = match args.against.as_deref() {
        None => false,
        Some(r) if r.eq_ignore_ascii_case("hpa") => true,
        Some(other) => {
            return Err(usage(format!(
                "--against {other:?} is not a known reference\nhint: the reference is `hpa`"
            )));
        }
    };

    let scaler = input::one_scaler(&args.file, "simulate")?;
    let (name, spec) = (scaler.metadata.name.unwrap_or_else(|| "?".to_string()), scaler.spec);
    let trace = read_trace(&args.trace)?;
    let peak = trace.peak() * args.scale_demand;
    if !peak.is_finite() || peak > MAX_DEMAND {
        return Err(usage(format!(
            "the trace's peak, {:e} x --scale-demand {:e}, is {peak:e} units per second, more than {MAX_DEMAND:e}\nhint: check the trace's values, or scale them down with e.g. --scale-demand 0.001",
            trace.peak(),
            args.scale_demand
        )));
    }
    let mut settings = Settings::for_spec(&spec, capacity);
    settings.pod_start_ms = pod_start_ms;
    settings.compress = compress;
    settings.scale_demand = args.scale_demand;
    settings.shape = if args.hold { Shape::Held } else { Shape::Interpolated };
    settings.noise = noise;
    settings.reading = reading;
    let interval_ms = i64::from(spec.sync_interval_seconds.max(1)).min(sim::hpa::SYNC_PERIOD_SECONDS) * 1000;
    // Both sides decide at every tick: the HPA's replay costs as much as gscale's.
    let sides = if against_hpa { 2.0 } else { 1.0 };
    let decisions = sim::simulated_ms(&trace, &settings) / interval_ms as f64 * sides;
    if decisions > sim::MAX_DECISIONS {
        return Err(usage(format!(
            "this would replay {decisions:.0} decisions, more than {:.0}\nhint: compress the trace (e.g. --compress 5m=15s), or check its timestamps: a gap of years between two points replays every tick of it",
            sim::MAX_DECISIONS
        )));
    }
    // Demand that moves between the points is kept every 5 simulated seconds, 24 bytes each.
    let pieces = sim::simulated_ms(&trace, &settings) / sim::demand::GRID_MS as f64;
    if (settings.shape == Shape::Interpolated || settings.noise.is_some()) && pieces > sim::MAX_DECISIONS {
        return Err(usage(format!(
            "demand moving between the points would take {pieces:.0} values of 5 s, more than {:.0}\nhint: compress the trace (e.g. --compress 5m=15s), or --hold each point without --noise",
            sim::MAX_DECISIONS
        )));
    }
    Ok(Resolved { name, spec, trace, settings, against_hpa })
}

fn usage(message: String) -> anyhow::Error {
    UsageError(message).into()
}

fn read_trace(path: &Path) -> anyhow::Result<Trace> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_TRACE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| usage(format!("cannot read trace {}: {e}\nhint: check the path", path.display())))?;
    if bytes.len() as u64 > MAX_TRACE_BYTES {
        return Err(usage(format!(
            "trace {} is larger than {} MiB",
            path.display(),
            MAX_TRACE_BYTES / 1024 / 1024
        )));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        usage(format!(
            "trace {} is not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    Trace::parse(&text).map_err(|e| {
        let at = if e.line == 0 { String::new() } else { format!(":{}", e.line) };
        usage(format!(
            "trace {}{at}: {}\nhint: a trace is CSV `timestamp,value`, one point per line, timestamps increasing",
            path.display(),
            e.message
        ))
    })
}

/// `5m=15s`: each 5 minutes of the trace replayed in 15 s; trace time per simulated time.
fn compression(text: &str) -> Result<f64, UsageError> {
    let Some((from, to)) = text.split_once('=') else {
        return Err(UsageError(format!(
            "--compress {text:?} is not FROM=TO\nhint: e.g. --compress 5m=15s replays each 5 minutes of the trace in 15 s"
        )));
    };
    let from = input::positive_duration_ms("--compress FROM", from)?;
    let to = input::positive_duration_ms("--compress TO", to)?;
    Ok(from as f64 / to as f64)
}

/// `3%` or `0.03`: the noise's level, below 1 (100%).
fn noise_level(text: &str) -> Result<f64, UsageError> {
    let t = text.trim();
    let value = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    };
    match value {
        Ok(v) if v.is_finite() && (0.0..1.0).contains(&v) => Ok(v),
        _ => Err(UsageError(format!(
            "--noise {text:?} is not a level from 0 to below 100%\nhint: e.g. --noise 3% (or 0.03) moves demand by about 3%"
        ))),
    }
}

/// `auto`, `instant`, `rate[=15s/1m]`, `period[=5m+2m]`, `sampled[=1m+2m]`; `None` for auto.
fn pipeline(text: &str) -> Result<Option<Pipeline>, UsageError> {
    let bad = |why: &str| {
        UsageError(format!(
            "--reading {text:?} {why}\nhint: auto, instant, rate=SCRAPE/WINDOW (rate=15s/1m), period=PERIOD+DELAY (period=5m+2m) or sampled=EVERY+DELAY (sampled=1m+2m)"
        ))
    };
    let (name, arg) = match text.trim().split_once('=') {
        Some((n, a)) => (n, Some(a)),
        None => (text.trim(), None),
    };
    let pair = |sep: char, default: Pipeline| -> Result<(i64, i64), UsageError> {
        let Some(arg) = arg else {
            return Ok(match default {
                Pipeline::Rate { scrape_ms, window_ms } => (scrape_ms, window_ms),
                Pipeline::PeriodMean { period_ms, delay_ms } => (period_ms, delay_ms),
                Pipeline::Sampled { every_ms, delay_ms } => (every_ms, delay_ms),
                Pipeline::Instant => (0, 0),
            });
        };
        let (a, b) =
            arg.split_once(sep).ok_or_else(|| bad(&format!("needs two durations joined by {sep}")))?;
        Ok((input::positive_duration_ms("--reading", a)?, input::duration_ms("--reading", b)?))
    };
    Ok(Some(match name.to_ascii_lowercase().as_str() {
        "auto" if arg.is_none() => return Ok(None),
        "instant" if arg.is_none() => Pipeline::Instant,
        "rate" => {
            let (scrape_ms, window_ms) = pair('/', Pipeline::PROMETHEUS)?;
            if window_ms < scrape_ms {
                return Err(bad("has a window shorter than its scrape interval"));
            }
            Pipeline::Rate { scrape_ms, window_ms }
        }
        "period" => {
            let (period_ms, delay_ms) = pair('+', Pipeline::PERIOD)?;
            Pipeline::PeriodMean { period_ms, delay_ms }
        }
        "sampled" => {
            let (every_ms, delay_ms) = pair('+', Pipeline::PUBSUB)?;
            Pipeline::Sampled { every_ms, delay_ms }
        }
        _ => return Err(bad("is not a pipeline")),
    }))
}

/// `interpolated`, `held`, `interpolated, noise 3% over 1m (seed 1)`.
fn describe_demand(settings: &Settings) -> String {
    let shape = match settings.shape {
        Shape::Interpolated => "interpolated",
        Shape::Held => "held",
    };
    match settings.noise {
        Some(n) => format!(
            "{shape}, noise {}% over {} (seed {})",
            num(n.level * 100.0),
            crate::decision::duration_text(n.correlation_ms),
            n.seed
        ),
        None => shape.to_string(),
    }
}

/// Reads one figure of a summary.
type Figure = fn(&Summary) -> Option<f64>;

fn table(out: &mut String, r: &Report<'_>, wide: bool) {
    let _ = writeln!(
        out,
        "scaler {}, trace {} ({} points, step {}s), compress x{}, demand x{}, capacity {}/s per pod, pod start {}s",
        r.scaler,
        r.trace,
        r.points,
        r.trace_step_seconds,
        num(r.compress),
        num(r.scale_demand),
        num(r.capacity_per_pod),
        num(r.pod_start_seconds)
    );
    let _ = writeln!(out, "demand {}, read {}", r.demand, r.reading.join(", "));
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    let mut header = vec!["".to_string(), "gscale".to_string()];
    if r.hpa.is_some() {
        header.push("hpa".to_string());
        header.push("gscale vs hpa".to_string());
    }
    table.set_header(header);
    let rows: Vec<(&str, Figure, bool)> = vec![
        ("pod-hours", |s| Some(s.pod_hours), true),
        ("cost", |s| s.cost, true),
        ("SLO-violation minutes", |s| Some(s.slo_violation_minutes), true),
        ("scale events", |s| Some(f64::from(s.scale_events)), true),
        ("peak replicas", |s| Some(f64::from(s.peak_replicas)), true),
        ("mean replicas", |s| Some(s.mean_replicas), wide),
        ("simulated hours", |s| Some(s.hours), wide),
        ("decisions", |s| Some(f64::from(s.decisions)), wide),
        ("backlog at end", |s| Some(s.final_backlog), wide),
    ];
    for (label, get, show) in rows {
        if !show {
            continue;
        }
        let g = get(r.gscale);
        if g.is_none() && label == "cost" {
            continue;
        }
        let mut row = vec![label.to_string(), g.map_or("-".into(), num)];
        if let Some(h) = r.hpa {
            let h = get(h);
            row.push(h.map_or("-".into(), num));
            row.push(match (g, h) {
                (Some(g), Some(h)) if h != 0.0 => format!("{:+.1}%", (g - h) / h * 100.0),
                (Some(g), Some(h)) if g == h => "=".to_string(),
                _ => "-".to_string(),
            });
        }
        table.add_row(row);
    }
    let _ = writeln!(out, "{table}");
    if let Some(f) = &r.gscale.forecast {
        let warmup = match f.warmup_hours {
            Some(h) => format!("learnt from the first {h:.1} simulated hours of the trace, then"),
            None => "still learning at the end of the trace:".to_string(),
        };
        let _ = writeln!(out, "forecast: {}", f.describe(&warmup));
    }
}

/// The timeline's replicas in `width` marks, each the mean of its share of the samples.
fn sparkline(timeline: &[sim::Sample], width: usize, top: i32) -> String {
    const MARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    if timeline.is_empty() || top <= 0 {
        return String::new();
    }
    let per = timeline.len().div_ceil(width.max(1));
    timeline
        .chunks(per)
        .map(|c| {
            let mean = c.iter().map(|s| f64::from(s.replicas)).sum::<f64>() / c.len() as f64;
            MARKS[((mean / f64::from(top)).clamp(0.0, 1.0) * 7.0).round() as usize]
        })
        .collect()
}

fn num(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn plot(r: &Resolved, gscale: &Run, hpa: Option<&Run>) -> String {
    let hours = |t: f64| t / 3600.0;
    let mut series = vec![chart::Series {
        name: "demand (pods at capacity)".into(),
        color: "#999999",
        points: gscale
            .timeline
            .iter()
            .map(|s| (hours(s.t), s.demand / r.settings.capacity_per_pod))
            .collect(),
    }];
    series.push(chart::Series {
        name: "gscale replicas".into(),
        color: "#1f77b4",
        points: gscale.timeline.iter().map(|s| (hours(s.t), f64::from(s.replicas))).collect(),
    });
    if let Some(h) = hpa {
        series.push(chart::Series {
            name: "hpa replicas".into(),
            color: "#d62728",
            points: h.timeline.iter().map(|s| (hours(s.t), f64::from(s.replicas))).collect(),
        });
    }
    chart::svg(&format!("gscale simulate: {}", r.name), "simulated hours", "pods", &series)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_names_what_is_wrong() {
        assert_eq!(compression("5m=15s").unwrap(), 20.0);
        assert_eq!(compression("30m=15s").unwrap(), 120.0);
        assert_eq!(compression("1d=1h").unwrap(), 24.0);
        assert!(compression("5m").unwrap_err().0.contains("is not FROM=TO"));
        assert!(
            compression("0s=15s").unwrap_err().0.starts_with("--compress FROM \"0s\" must be longer than 0")
        );
        assert!(
            compression("5m=soon").unwrap_err().0.starts_with("--compress TO \"soon\" is not a duration")
        );
    }

    #[test]
    fn readings_and_noise_name_what_is_wrong() {
        assert_eq!(pipeline("auto").unwrap(), None);
        assert_eq!(pipeline("instant").unwrap(), Some(Pipeline::Instant));
        assert_eq!(pipeline("rate").unwrap(), Some(Pipeline::PROMETHEUS));
        assert_eq!(
            pipeline("rate=30s/2m").unwrap(),
            Some(Pipeline::Rate { scrape_ms: 30_000, window_ms: 120_000 })
        );
        assert_eq!(pipeline("period=5m+2m").unwrap(), Some(Pipeline::PERIOD));
        assert_eq!(pipeline("sampled").unwrap(), Some(Pipeline::PUBSUB));
        assert!(pipeline("rate=1m/15s").unwrap_err().0.contains("window shorter than its scrape"));
        assert!(pipeline("rate=15s").unwrap_err().0.contains("needs two durations joined by /"));
        assert!(pipeline("avg").unwrap_err().0.contains("is not a pipeline\nhint: auto, instant"));
        assert!(pipeline("period=0s+1m").unwrap_err().0.contains("must be longer than 0"));
        assert_eq!(noise_level("3%").unwrap(), 0.03);
        assert_eq!(noise_level("0.08").unwrap(), 0.08);
        assert!(noise_level("150%").unwrap_err().0.contains("--noise \"150%\" is not a level"));
        assert!(noise_level("lots").is_err());
    }
}
