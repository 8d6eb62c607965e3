//! The decision-quality benchmark: every policy and the Kubernetes HPA reference, over a sweep of
//! targets, on every trace of ../shared/traces/, as a Pareto table of pod-hours against
//! SLO-violation minutes, in five families of replay (DESIGN §7): live (demand moving between the
//! points with correlated noise, read through a Prometheus `rate()`; two noise levels), period
//! (5-minute means published late), and the step replay compressed and in real time. Besides gscale's configurations (forecast On among them) it replays a clairvoyant scaler,
//! the limit no forecaster can pass, and judges forecast On against the goal of DESIGN §8 and the
//! share of the clairvoyant's saving it captures. Not timed by a test: run it, read it, commit what
//! it writes.
//!
//! `cargo bench --bench quality -- [--traces DIR] [--write BENCHMARKS.md]` (while tuning:
//! `--family live,period` and `--only NAME,...` run part of it, `--trace NAME` one trace).
//! (`GSCALE_TRACES` also sets the directory). Without `--write` the section goes to stdout.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use gscale::api::GeneralScalerSpec;
use gscale::sim::{self, Clairvoyant, Gscale, Noise, Pipeline, Settings, Shape, Summary, Trace, hpa::Hpa};
use serde_json::{Value, json};

/// Units one pod serves per second.
const CAPACITY: f64 = 100.0;
/// Demand is scaled so that the trace's mean needs this many pods at full capacity.
const MEAN_PODS: f64 = 20.0;
/// Every trace step is replayed in this many seconds.
const STEP_SECONDS: f64 = 15.0;
/// Seconds before a new pod serves.
const POD_START_SECONDS: i64 = 30;
/// gscale must save at least this share of the HPA's pod-hours at no more violation (step replay).
const GOAL: f64 = 0.15;
/// On the live families, at the HPA's 70% point (issue 21).
const LIVE_GOAL: f64 = 0.08;
/// Seed of the live families' noise.
const SEED: u64 = 1;

const BEGIN: &str = "<!-- gscale-sim-quality:begin -->";
const END: &str = "<!-- gscale-sim-quality:end -->";

/// A gscale configuration under test: the spec fields besides the metric, or a prototype scaler
/// that reads the same metric.
struct Config {
    name: &'static str,
    about: &'static str,
    spec: fn(f64) -> Value,
    /// Not gscale: the clairvoyant limit, reading the trace.
    clairvoyant: bool,
    /// Replayed in the live and period families too (the step families replay every configuration).
    live: bool,
}

impl Config {
    fn engine(name: &'static str, about: &'static str, spec: fn(f64) -> Value) -> Self {
        Config { name, about, spec, clairvoyant: false, live: false }
    }

    fn live(self) -> Self {
        Config { live: true, ..self }
    }

    fn runs_in(&self, family: Family) -> bool {
        self.live || !family.live()
    }
}

/// The configuration the forecast verdict judges: one for every trace, tuned to none.
const FORECAST_ON: &str = "forecast On";
/// The limit.
const CLAIRVOYANT: &str = "clairvoyant (limit)";

fn forecast_on() -> Config {
    Config::engine(
        FORECAST_ON,
        "gscale with `forecast: {mode: On}` and nothing else (defaults: leadSeconds 60, seasons [daily], \
maxErrorRatio 0.5, scaleDownEarly true; gscale's default rails); the forecaster learns the trace reading by \
reading from the start, as the daemon would: the trend and the minute forecasts after their first hour, the \
profile's raises after a day and an hour",
        |_| json!({"forecast": {"mode": "On"}}),
    )
    .live()
}

/// A workload: how its metric reads the model, the targets swept, the configurations compared.
struct Scenario {
    title: &'static str,
    about: &'static str,
    target_name: &'static str,
    targets: &'static [f64],
    /// The finest step forecast On's target is sought to between two targets of the sweep, for the
    /// verdict: an operator sets any target, not only the sweep's (`None`: the sweep's only).
    fine: Option<f64>,
    label: fn(f64) -> String,
    metric: fn(f64) -> Value,
    configs: fn() -> Vec<Config>,
    /// Replayed in the live and period families (a rate metric read through a pipeline).
    live: bool,
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            title: "web service: a rate metric (Prometheus requests per second per pod, Value)",
            about: "The metric is the arrival rate per serving pod; the target is a share of a pod's capacity \
(target utilisation). Both sides see the same readings.",
            target_name: "target utilisation",
            targets: &[0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95],
            fine: Some(0.01),
            label: |u| format!("{:.0}%", u * 100.0),
            metric: |u| {
                json!({"type": "prometheus", "targetValue": u * CAPACITY,
                       "prometheus": {"serverUrl": "http://prometheus:9090", "query": "rps per pod"}})
            },
            configs: web_configs,
            live: true,
        },
        Scenario {
            title: "queue worker: a backlog metric (Redis list length, AverageValue)",
            about: "The metric is the queue length; the target is the backlog per pod, written here as the \
seconds of work it holds (items = seconds x capacity). Both sides see the same readings.",
            target_name: "target backlog per pod",
            targets: &[1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 90.0, 120.0],
            fine: None,
            label: |k| format!("{k:.0} s"),
            metric: |k| {
                json!({"type": "redis", "targetValue": k * CAPACITY,
                       "redis": {"host": "redis", "queueName": "jobs"}})
            },
            configs: worker_configs,
            live: false,
        },
    ]
}

fn web_configs() -> Vec<Config> {
    vec![
        Config::engine(
            "proportional",
            "the metric stage alone, with gscale's default rails (scale-down window 300 s, no cooldown, \
15 s sync: no `behavior` block)",
            |_| json!({"policy": {"type": "proportional"}}),
        )
        .live(),
        down_cooldown(),
        Config::engine(
            "proportional, HPA-like rails",
            "the metric stage alone; scale-down window 300 s and no scale-down cooldown (as the HPA), \
scale-up cooldown 30 s (new pods serve before the next scale-up is judged)",
            |_| json!({"policy": {"type": "proportional"}, "behavior": hpa_like_rails()}),
        ),
        Config::engine(
            "proportional, 60 s window",
            "as HPA-like rails, with a 60 s scale-down window",
            |_| {
                json!({"policy": {"type": "proportional"}, "behavior": {"scaleUp": {"cooldownSeconds": 30},
                "scaleDown": {"stabilizationWindowSeconds": 60, "cooldownSeconds": 0}}})
            },
        ),
        Config::engine(
            "slo",
            "HPA-like rails; latency objective = a pod's M/M/1 response time at the target load / 0.8 (so \
scale-down needs the load below the target), error rate 1%",
            |u| {
                json!({"policy": {"type": "slo", "slo": {
                    "targetLatencyMs": 1000.0 / CAPACITY / (1.0 - u.min(0.99)) / 0.8, "targetErrorRate": 0.01}},
                    "behavior": hpa_like_rails()})
            },
        ),
        cost_down(),
        forecast_on(),
        Config {
            name: CLAIRVOYANT,
            about: "not a scaler anyone can run: at every 15 s tick, the pods the highest demand of the next pod \
start plus one tick (45 s) needs at the target, read from the trace itself; no window, no cooldown, no margin. \
The limit no forecaster can pass under this model",
            spec: |_| json!({}),
            clairvoyant: true,
            live: true,
        },
    ]
}

fn worker_configs() -> Vec<Config> {
    vec![
        Config::engine(
            "proportional",
            "the metric stage alone, with gscale's default rails",
            |_| json!({"policy": {"type": "proportional"}}),
        ),
        down_cooldown(),
        Config::engine(
            "proportional, HPA-like rails",
            "as for the web service",
            |_| json!({"policy": {"type": "proportional"}, "behavior": hpa_like_rails()}),
        ),
        cost_down(),
    ]
}

fn down_cooldown() -> Config {
    Config::engine(
        "proportional, 300 s scale-down cooldown",
        "gscale's default rails with `scaleDown.cooldownSeconds: 300` (the default before issue 21): 300 s \
between two scale-downs on top of the 300 s window",
        |_| json!({"policy": {"type": "proportional"}, "behavior": {"scaleDown": {"cooldownSeconds": 300}}}),
    )
    .live()
}

fn cost_down() -> Config {
    Config::engine(
        "costAware down",
        "gscale's default rails, a budget far above the spend, preferredScaleDirection down",
        |_| {
            json!({"policy": {"type": "costAware", "costAware": {
                "maxMonthlyCost": 1.0e9, "costPerPodPerHour": 0.05, "preferredScaleDirection": "down"}}})
        },
    )
}

fn hpa_like_rails() -> Value {
    json!({"scaleUp": {"cooldownSeconds": 30}, "scaleDown": {"stabilizationWindowSeconds": 300, "cooldownSeconds": 0}})
}

fn spec(scenario: &Scenario, config: Option<&Config>, target: f64) -> GeneralScalerSpec {
    let mut value = json!({
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1,
        "maxReplicas": 1000,
        "syncIntervalSeconds": 15,
        "metric": (scenario.metric)(target)
    });
    if let (Some(base), Some(Value::Object(extra))) =
        (value.as_object_mut(), config.map(|c| (c.spec)(target)))
    {
        base.extend(extra);
    }
    serde_json::from_value(value).expect("benchmark specs are valid")
}

struct TraceRun {
    name: String,
    points: usize,
    settings: Settings,
    hpa: Vec<(f64, Summary)>,
    gscale: Vec<(&'static str, Vec<(f64, Summary)>)>,
    /// forecast On at the sweep's targets and at those sought between them for each HPA point.
    forecast_fine: Vec<(f64, Summary)>,
    seconds_per_run: f64,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut dir = std::env::var_os("GSCALE_TRACES").map(PathBuf::from);
    let mut write: Option<PathBuf> = None;
    let mut only: Option<String> = None;
    let mut families: Option<String> = None;
    let mut trace_filter: Option<String> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--traces" => dir = args.next().map(PathBuf::from),
            "--write" => write = args.next().map(PathBuf::from),
            // While tuning: only the configurations whose name contains this (and never --write).
            "--only" => only = args.next(),
            // While tuning: only the families whose name contains one of these.
            "--family" => families = args.next(),
            // While tuning: only the traces whose file name contains this.
            "--trace" => trace_filter = args.next(),
            // `cargo bench` passes --bench to harness-less benches.
            "--bench" => {}
            other => {
                eprintln!(
                    "quality: unknown argument {other:?}\nusage: cargo bench --bench quality -- [--traces DIR] [--write FILE]"
                );
                std::process::exit(2);
            }
        }
    }
    if (only.is_some() || families.is_some() || trace_filter.is_some()) && write.is_some() {
        eprintln!("quality: --only, --family and --trace measure part of the table: they cannot --write");
        std::process::exit(2);
    }
    let dir = dir.unwrap_or_else(|| PathBuf::from("../shared/traces"));
    let traces = match read_traces(&dir) {
        Ok(traces) => traces
            .into_iter()
            .filter(|(name, _)| trace_filter.as_deref().is_none_or(|f| name.contains(f)))
            .collect::<Vec<_>>(),
        Err(e) => {
            eprintln!("quality: {e}");
            std::process::exit(1);
        }
    };
    let mut verdicts = Vec::new();
    let mut rows = Vec::new();
    let mut details = String::new();
    let chosen =
        |f: Family| families.as_deref().is_none_or(|list| list.split(',').any(|p| f.name().contains(p)));
    for family in Family::ALL.into_iter().filter(|f| chosen(*f)) {
        let _ = writeln!(details, "### {}\n\n{}\n", family.title(), family.about());
        for scenario in scenarios().into_iter().filter(|s| s.live || !family.live()) {
            if !(scenario.configs)().iter().any(|c| c.runs_in(family) && selected(c, only.as_deref())) {
                continue;
            }
            let runs: Vec<TraceRun> = traces
                .iter()
                .map(|(name, trace)| run_trace(&scenario, name, trace, family, only.as_deref()))
                .collect();
            details.push_str(&render(&scenario, &runs, family, &mut verdicts, &mut rows));
        }
    }
    let section = format!("{}{}{}{details}{END}\n", header(), forecast_verdict(&rows), verdict(&verdicts));
    match write {
        Some(path) => {
            let old = std::fs::read_to_string(&path).unwrap_or_default();
            let new = splice(&old, &section);
            if let Err(e) = std::fs::write(&path, new) {
                eprintln!("quality: cannot write {}: {e}", path.display());
                std::process::exit(1);
            }
            eprintln!("quality: wrote {}", path.display());
        }
        None => print!("{section}"),
    }
}

/// A family of replays (DESIGN §7): how demand moves and what the scaler reads of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    /// Demand linear between the points with 3% noise correlated over a minute, read as Prometheus'
    /// `rate()` over a minute of 15 s scrapes: a live request rate.
    Live,
    /// The same with 8% noise correlated over 5 minutes: a burstier live load.
    LiveBursty,
    /// Continuous demand (as `Live`) read as 5-minute means published 2 minutes after each period:
    /// where the cadence forecast claims to help.
    Period,
    /// Each trace step held and replayed in one 15 s sync, read at once.
    Compressed,
    /// Each trace step held for as long as it was measured, read at once.
    RealTime,
}

impl Family {
    const ALL: [Family; 5] =
        [Family::Live, Family::LiveBursty, Family::Period, Family::Compressed, Family::RealTime];

    /// Its short name in the tables.
    fn name(self) -> &'static str {
        match self {
            Family::Live => "live 3%/1m",
            Family::LiveBursty => "live 8%/5m",
            Family::Period => "period",
            Family::Compressed => "step compressed",
            Family::RealTime => "step real time",
        }
    }

    /// The share of the HPA's pod-hours forecast On must save at the HPA's 70% point.
    fn goal(self) -> f64 {
        match self {
            Family::Live | Family::LiveBursty => LIVE_GOAL,
            Family::Period => 0.0,
            Family::Compressed | Family::RealTime => GOAL,
        }
    }

    /// Whether demand moves between readings (only the web service, a rate metric, is replayed).
    fn live(self) -> bool {
        matches!(self, Family::Live | Family::LiveBursty | Family::Period)
    }

    fn title(self) -> &'static str {
        match self {
            Family::Live => {
                "Live: demand moving between the points, 3% noise over a minute, read through rate()"
            }
            Family::LiveBursty => "Live, bursty: 8% noise over 5 minutes, read through rate()",
            Family::Period => "Period metric: continuous demand read as 5-minute means, 2 minutes late",
            Family::Compressed => "Step replay, compressed: one trace step per 15 s sync",
            Family::RealTime => "Step replay, real time: each trace step as long as it was measured",
        }
    }

    fn about(self) -> &'static str {
        match self {
            Family::Live => {
                "Demand moves linearly between the trace's points (on a 5 s grid) times correlated multiplicative \
noise (3%, forgetting itself over a minute, seed 1): a live metric moves at every scrape. Both sides read it as \
Prometheus' `rate(...[1m])` of a counter scraped every 15 s: the reading is the mean of the last 45 s, so it lags \
demand. In real time."
            }
            Family::LiveBursty => {
                "As live, with 8% noise that lasts about 5 minutes: bursts a scaler cannot tell from a trend until \
they pass."
            }
            Family::Period => {
                "Demand as live (3% over a minute); the metric is a 5-minute mean published 2 minutes after its \
period closes (a Cloud Monitoring or batch aggregate): the reading changes every 5 minutes and is 2 to 7 \
minutes old. The cadence forecast claims to help here."
            }
            Family::Compressed => {
                "Each trace step is held and replayed in 15 s (nyc_taxi: 30 min = 15 s; the others: 5 min = 15 s), \
read at once, so the load jumps at every tick and the HPA's 300 s window spans 20 trace steps. Rises arrive \
faster than pods start."
            }
            Family::RealTime => {
                "Each 5-minute or 30-minute step is held as long as it was measured and read at once: the load is \
constant between steps and jumps at them. Live load does not hold still; this family is kept to show what \
changed (the forecasts' savings here came from learning when the held value next changes)."
            }
        }
    }

    fn settings(self, trace: &Trace) -> Settings {
        let scale_demand = MEAN_PODS * CAPACITY / trace.mean();
        let pod_start = POD_START_SECONDS * 1000;
        let noise =
            |level: f64, minutes: i64| Some(Noise { level, correlation_ms: minutes * 60_000, seed: SEED });
        let live = |noise, reading| Settings {
            noise,
            reading: Some(reading),
            ..Settings::step_replay(CAPACITY, pod_start, 1.0, scale_demand)
        };
        let interpolated = |s: Settings| Settings { shape: Shape::Interpolated, ..s };
        match self {
            Family::Live => interpolated(live(noise(0.03, 1), Pipeline::PROMETHEUS)),
            Family::LiveBursty => interpolated(live(noise(0.08, 5), Pipeline::PROMETHEUS)),
            Family::Period => interpolated(live(noise(0.03, 1), Pipeline::PERIOD)),
            Family::Compressed => Settings::step_replay(
                CAPACITY,
                pod_start,
                trace.step_ms() as f64 / 1000.0 / STEP_SECONDS,
                scale_demand,
            ),
            Family::RealTime => Settings::step_replay(CAPACITY, pod_start, 1.0, scale_demand),
        }
    }
}

fn read_traces(dir: &Path) -> Result<Vec<(String, Trace)>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| {
            format!("cannot read trace directory {}: {e} (set --traces or GSCALE_TRACES)", dir.display())
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no .csv trace in {}", dir.display()));
    }
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let trace = Trace::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            Ok((name, trace))
        })
        .collect()
}

/// Whether `--only` (comma-separated parts of names) selects `config`.
fn selected(config: &Config, only: Option<&str>) -> bool {
    only.is_none_or(|o| o.split(',').any(|part| config.name.contains(part)))
}

fn run_trace(scenario: &Scenario, name: &str, trace: &Trace, family: Family, only: Option<&str>) -> TraceRun {
    let settings = family.settings(trace);
    let demand = settings.demand(trace);
    let started = Instant::now();
    let mut count = 0;
    let hpa: Vec<(f64, Summary)> = scenario
        .targets
        .iter()
        .map(|&t| {
            let s = spec(scenario, None, t);
            count += 1;
            (t, sim::run_demand(&demand, &s, &settings, &mut Hpa::from_spec(&s)).summary)
        })
        .collect();
    let mut gscale = Vec::new();
    let mut forecast_fine = Vec::new();
    for config in (scenario.configs)().into_iter().filter(|c| c.runs_in(family) && selected(c, only)) {
        let results: Vec<(f64, Summary)> = scenario
            .targets
            .iter()
            .map(|&t| {
                let s = spec(scenario, Some(&config), t);
                count += 1;
                let summary = if config.clairvoyant {
                    // Knowing the demand exactly, it needs no headroom: pods serve at full capacity.
                    let per_pod = settings.capacity_per_pod;
                    let mut scaler =
                        Clairvoyant::new(&demand, &settings, per_pod, s.min_replicas, s.max_replicas);
                    sim::run_demand(&demand, &s, &settings, &mut scaler).summary
                } else {
                    let summary = sim::run_demand(&demand, &s, &settings, &mut Gscale::new(&s)).summary;
                    if std::env::var_os("GSCALE_QUALITY_DEBUG").is_some() {
                        eprintln!(
                            "{name} {} {} {t}: {:?} pod-h {:.1} viol {:.1}",
                            family.name(),
                            config.name,
                            summary.forecast,
                            summary.pod_hours,
                            summary.slo_violation_minutes
                        );
                    }
                    summary
                };
                (t, summary)
            })
            .collect();
        if config.name == FORECAST_ON {
            forecast_fine = refine(&results, &hpa, scenario.fine, |t| {
                count += 1;
                let s = spec(scenario, Some(&config), t);
                sim::run_demand(&demand, &s, &settings, &mut Gscale::new(&s)).summary
            });
        }
        gscale.push((config.name, results));
    }
    let seconds_per_run = started.elapsed().as_secs_f64() / f64::from(count);
    eprintln!("quality: {} {name}: {count} runs, {:.1} ms per run", family.name(), seconds_per_run * 1000.0);
    TraceRun {
        name: name.to_string(),
        points: trace.points.len(),
        settings,
        hpa,
        gscale,
        forecast_fine,
        seconds_per_run,
    }
}

/// `sweep` with, for each HPA point, the target between the sweep's cheapest point within its
/// violation and the next target sought to `step` by bisection (violation grows with the target).
fn refine(
    sweep: &[(f64, Summary)],
    hpa: &[(f64, Summary)],
    step: Option<f64>,
    mut run: impl FnMut(f64) -> Summary,
) -> Vec<(f64, Summary)> {
    let mut points = sweep.to_vec();
    let Some(step) = step else { return points };
    for (_, h) in hpa {
        let limit = h.slo_violation_minutes;
        let Some(best) = cheapest_within(sweep, limit).map(|p| p.0) else { continue };
        let Some(next) = sweep.iter().map(|p| p.0).find(|t| *t > best) else { continue };
        let (mut lo, mut hi) = (0, ((next - best) / step).round() as i32);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            let t = best + f64::from(mid) * step;
            let summary = match points.iter().find(|p| (p.0 - t).abs() < step / 10.0) {
                Some(p) => p.1.clone(),
                None => {
                    let s = run(t);
                    points.push((t, s.clone()));
                    s
                }
            };
            if summary.slo_violation_minutes <= limit + 1e-9 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

/// The cheapest point of `points` with no more violation than `limit`.
fn cheapest_within(points: &[(f64, Summary)], limit: f64) -> Option<&(f64, Summary)> {
    points
        .iter()
        .filter(|(_, s)| s.slo_violation_minutes <= limit + 1e-9)
        .min_by(|a, b| a.1.pod_hours.total_cmp(&b.1.pod_hours))
}

fn header() -> String {
    let mut md = String::new();
    let _ = writeln!(md, "{BEGIN}");
    let _ = writeln!(md, "## Decision quality: gscale against the Kubernetes HPA (`gscale simulate`)\n");
    let _ = writeln!(
        md,
        "Generated by the benchmark; reproduce from the repository root, with `shared/` beside it:\n"
    );
    let _ = writeln!(
        md,
        "```sh\ncargo bench --bench quality -- --traces ../shared/traces --write BENCHMARKS.md\n```\n"
    );
    let _ = writeln!(
        md,
        "Model (DESIGN §7, `src/sim/`): each pod serves {CAPACITY}/s once started, {POD_START_SECONDS} s after it \
is created; demand above capacity queues, and the time a queue exists is SLO violation. Each trace is scaled so \
that its mean needs {MEAN_PODS} pods at full capacity and replayed in five families (below): live and live bursty \
(demand moving between the points with correlated noise, read through Prometheus' `rate()`), period (5-minute \
means published late), and the step replay compressed ({STEP_SECONDS} s per trace step) and in real time; the web \
service is replayed in all five, the queue worker in the step families. minReplicas 1, maxReplicas 1000; every scaler syncs every 15 s. The HPA is \
`src/sim/hpa.rs` with its documented defaults (tolerance 0.1, up max(4 pods, 100%) per 15 s, down 100% per 15 s \
after a 300 s window; Value targets use ready pods). Pod-hours and minutes are simulated time. For each HPA point \
the comparison tables give the cheapest point of each gscale sweep with no more violation minutes, and its \
pod-hours against the HPA's (negative: gscale is cheaper; a dash: no gscale point is that good on violation).\n"
    );
    md
}

/// One HPA point as the forecast verdict sees it.
struct ForecastRow {
    family: Family,
    trace: String,
    label: String,
    hpa: Summary,
    /// forecast On's cheapest point within the HPA's violation: its saving, target label, violation.
    forecast: Option<(f64, String, f64)>,
    /// The clairvoyant's.
    clairvoyant: Option<(f64, String, f64)>,
}

fn render(
    scenario: &Scenario,
    runs: &[TraceRun],
    family: Family,
    verdicts: &mut Vec<Verdict>,
    rows: &mut Vec<ForecastRow>,
) -> String {
    let mut md = String::new();
    for r in runs {
        let find = |name: &str| r.gscale.iter().find(|(n, _)| *n == name).map(|(_, p)| p);
        let (Some(forecast), Some(clairvoyant)) = (find(FORECAST_ON), find(CLAIRVOYANT)) else { continue };
        for (t, h) in &r.hpa {
            let best = |points: &[(f64, Summary)]| {
                cheapest_within(points, h.slo_violation_minutes).map(|(gt, g)| {
                    (1.0 - g.pod_hours / h.pod_hours, (scenario.label)(*gt), g.slo_violation_minutes)
                })
            };
            let fine = if r.forecast_fine.is_empty() { forecast } else { &r.forecast_fine };
            rows.push(ForecastRow {
                family,
                trace: r.name.clone(),
                label: (scenario.label)(*t),
                hpa: h.clone(),
                forecast: best(fine),
                clairvoyant: best(clairvoyant),
            });
        }
    }
    let _ = writeln!(md, "#### {}\n\n{}\n", scenario.title, scenario.about);
    for c in
        (scenario.configs)().iter().filter(|c| runs.iter().any(|r| r.gscale.iter().any(|g| g.0 == c.name)))
    {
        let _ = writeln!(md, "- `{}`: {}", c.name, c.about);
    }
    let _ = writeln!(md);
    for r in runs {
        let _ = writeln!(
            md,
            "##### {} ({} points, demand x{:.4}, compress x{}, {:.2} ms per simulation)\n",
            r.name,
            r.points,
            r.settings.scale_demand,
            r.settings.compress,
            r.seconds_per_run * 1000.0
        );
        let columns: Vec<String> =
            r.gscale.iter().flat_map(|(name, _)| [format!("{name} pod-h"), "viol min".to_string()]).collect();
        table_head(&mut md, scenario.target_name, &columns);
        for (i, (t, h)) in r.hpa.iter().enumerate() {
            hpa_cells(&mut md, &(scenario.label)(*t), h);
            for (_, points) in &r.gscale {
                let s = &points[i].1;
                let _ = write!(md, " {:.1} | {:.1} |", s.pod_hours, s.slo_violation_minutes);
            }
            let _ = writeln!(md);
        }
        let _ = writeln!(md);
        let columns: Vec<String> = r
            .gscale
            .iter()
            .map(|(name, _)| format!("{name}: best point within the HPA's violation"))
            .collect();
        table_head(&mut md, "HPA at", &columns);
        for (t, h) in &r.hpa {
            hpa_cells(&mut md, &(scenario.label)(*t), h);
            for (name, points) in &r.gscale {
                let found = cheapest_within(points, h.slo_violation_minutes);
                let saving = found.map(|(_, g)| 1.0 - g.pod_hours / h.pod_hours);
                verdicts.push(Verdict {
                    family,
                    trace: r.name.clone(),
                    scenario: scenario.title,
                    config: name,
                    saving,
                });
                let cell = match found {
                    Some((gt, g)) => format!(
                        "{:+.1}% (at {}: {:.1} pod-h, {:.1} min)",
                        (g.pod_hours / h.pod_hours - 1.0) * 100.0,
                        (scenario.label)(*gt),
                        g.pod_hours,
                        g.slo_violation_minutes
                    ),
                    None => "-".to_string(),
                };
                let _ = write!(md, " {cell} |");
            }
            let _ = writeln!(md);
        }
        let _ = writeln!(md);
    }
    md
}

/// A table's header row and rule: the lead column, the HPA's two, then `columns`.
fn table_head(md: &mut String, lead: &str, columns: &[String]) {
    let _ = write!(md, "| {lead} | HPA pod-h | HPA viol min |");
    for c in columns {
        let _ = write!(md, " {c} |");
    }
    let _ = writeln!(md, "\n|---|---|---|{}", "---|".repeat(columns.len()));
}

/// A row's first three cells: the HPA point and its figures.
fn hpa_cells(md: &mut String, label: &str, h: &Summary) {
    let _ = write!(md, "| {label} | {:.1} | {:.1} |", h.pod_hours, h.slo_violation_minutes);
}

/// One comparison at one HPA point: the share of the HPA's pod-hours gscale saves, if it can match.
struct Verdict {
    family: Family,
    trace: String,
    scenario: &'static str,
    config: &'static str,
    saving: Option<f64>,
}

fn verdict(verdicts: &[Verdict]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "### Verdict\n\nEach cell: gscale's pod-hours against the HPA's at the HPA point of that trace where gscale \
does worst, at no more violation minutes (negative is cheaper; \"never\": at some HPA point no gscale point has as \
few violation minutes), then at how many of the HPA's points gscale saves the family's share: {:.0}% on the step \
replay (DESIGN §8), {:.0}% on the live families (issue 21), 0% (never dearer) on the period family.\n",
        GOAL * 100.0,
        LIVE_GOAL * 100.0
    );
    let mut traces: Vec<&str> = Vec::new();
    let mut keys: Vec<(Family, &str, &str)> = Vec::new();
    for v in verdicts {
        if !traces.contains(&v.trace.as_str()) {
            traces.push(&v.trace);
        }
        if !keys.contains(&(v.family, v.scenario, v.config)) {
            keys.push((v.family, v.scenario, v.config));
        }
    }
    let _ = write!(md, "| family | workload | configuration |");
    for trace in &traces {
        let _ = write!(md, " {} |", trace.split(['_', '.']).next().unwrap_or(trace));
    }
    let _ = writeln!(md, "\n|---|---|---|{}", "---|".repeat(traces.len()));
    for (family, scenario, config) in keys {
        let workload = scenario.split(':').next().unwrap_or(scenario);
        let _ = write!(md, "| {} | {workload} | {config} |", family.name());
        for trace in &traces {
            let mine: Vec<&Verdict> = verdicts
                .iter()
                .filter(|v| {
                    v.family == family && v.trace == *trace && v.scenario == scenario && v.config == config
                })
                .collect();
            let met = mine.iter().filter(|v| v.saving.is_some_and(|s| s >= family.goal())).count();
            let worst = if mine.iter().any(|v| v.saving.is_none()) {
                "never".to_string()
            } else {
                let w = mine.iter().filter_map(|v| v.saving).fold(f64::INFINITY, f64::min);
                format!("{:+.1}%", -w * 100.0)
            };
            let _ = write!(md, " {worst}, {met}/{} |", mine.len());
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(md);
    md
}

/// The HPA point the real-time goal is judged at.
const GOAL_POINT: &str = "70%";
/// Points whose violation is at most this share of the trace's minutes are the range an operator runs.
const OPERATING_VIOLATION: f64 = 0.05;
/// In compressed replay gscale may be at most this much dearer.
const COMPRESSED_SLACK: f64 = 0.05;

fn forecast_verdict(rows: &[ForecastRow]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "### Forecast verdict (DESIGN §8, issues 11 and 21)\n\n`{FORECAST_ON}` is one configuration for every trace \
and family. Goal, live families: at the HPA's {GOAL_POINT} point a point with no more violation minutes and at least \
{:.0}% fewer pod-hours; at every other HPA point whose violation minutes are at most {:.0}% of the trace's minutes, \
never dearer. Period family: never dearer at any such point. Step replay in real time: as live with {:.0}% at \
{GOAL_POINT}; compressed: never more than {:.0}% dearer at any HPA point. Savings are against the HPA's pod-hours at its point, for the \
cheapest point of the sweep with no more violation minutes; \"captured\" is forecast On's saving over the \
clairvoyant's (the aim beyond issue 11 is half).\n",
        LIVE_GOAL * 100.0,
        OPERATING_VIOLATION * 100.0,
        GOAL * 100.0,
        COMPRESSED_SLACK * 100.0
    );
    let _ = writeln!(
        md,
        "| family | trace | HPA at | HPA pod-h | HPA viol min (% of trace) | forecast On | clairvoyant | captured | verdict |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    let (mut passed, mut failed) = (0, 0);
    for r in rows {
        let minutes = r.hpa.hours * 60.0;
        let share = r.hpa.slo_violation_minutes / minutes;
        let cell = |b: &Option<(f64, String, f64)>| match b {
            Some((saving, at, viol)) => format!("{:+.1}% (at {at}, {viol:.1} min)", -saving * 100.0),
            None => "never".to_string(),
        };
        let saving = r.forecast.as_ref().map(|f| f.0);
        let clair = r.clairvoyant.as_ref().map(|c| c.0);
        let captured = match (saving, clair) {
            (Some(s), Some(c)) if c > 0.0 => format!("{:.0}%", s / c * 100.0),
            _ => "-".to_string(),
        };
        let goal = r.family.goal();
        let verdict = match r.family {
            Family::Compressed => match saving {
                Some(s) if s >= -COMPRESSED_SLACK => "ok".to_string(),
                Some(s) => format!("**{:.1}% dearer**", -s * 100.0),
                None => "**never as few violation minutes**".to_string(),
            },
            _ if r.label == GOAL_POINT && goal > 0.0 => match saving {
                Some(s) if s >= goal => format!("meets {:.0}%", goal * 100.0),
                Some(s) => format!("**misses {:.0}% by {:.1} points**", goal * 100.0, (goal - s) * 100.0),
                None => "**never as few violation minutes**".to_string(),
            },
            _ if share > OPERATING_VIOLATION => "outside the operating range".to_string(),
            _ => match saving {
                Some(s) if s >= 0.0 => "not dearer".to_string(),
                Some(s) => format!("**{:.1}% dearer**", -s * 100.0),
                None => "**never as few violation minutes**".to_string(),
            },
        };
        if verdict.starts_with("**") {
            failed += 1;
        } else if verdict != "outside the operating range" {
            passed += 1;
        }
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.1} | {:.1} ({:.1}%) | {} | {} | {captured} | {verdict} |",
            r.family.name(),
            r.trace.split(['_', '.']).next().unwrap_or(&r.trace),
            r.label,
            r.hpa.pod_hours,
            r.hpa.slo_violation_minutes,
            share * 100.0,
            cell(&r.forecast),
            // The clairvoyant sizes at full capacity whatever the target: every point is the same.
            r.clairvoyant
                .as_ref()
                .map_or("never".to_string(), |(s, _, v)| format!("{:+.1}% ({v:.1} min)", -s * 100.0)),
        );
    }
    let (meet, miss) =
        (if passed == 1 { "meets" } else { "meet" }, if failed == 1 { "misses" } else { "miss" });
    let _ = writeln!(md, "\n{passed} points {meet} their goal, {failed} {miss} it.\n");
    md
}

/// Replace this benchmark's section in `old`, or append it; other sections stay as they are.
fn splice(old: &str, section: &str) -> String {
    match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if e > b => {
            format!("{}{}{}", &old[..b], section.trim_end(), &old[e + END.len()..])
        }
        _ if old.trim().is_empty() => format!("# Benchmarks\n\n{section}"),
        _ => format!("{}\n\n{section}", old.trim_end()),
    }
}
