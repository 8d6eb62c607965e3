//! `gscale plan`: what a scaler would do now and why, stage by stage, changing nothing; and
//! `--replay`, its decisions over Prometheus history.
//!
//! Plan reuses the daemon's own `controller::observe` and `controller::decide_outcome`, so plan
//! and `gscale run` agree. It never writes to the cluster.

use std::io::Write as _;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use kube::api::Api;

use super::{UsageError, client, explain_kube_error, input};
use crate::api::{
    ForecastHistory, GeneralScaler, GeneralScalerSpec, History, MetricSpec, PolicyType, PrometheusSource,
};
use crate::cli::{KubeFlags, OutputFormat, PlanArgs, exit};
use crate::controller::backfill;
use crate::controller::targets::{Replicas, TargetError};
use crate::controller::{self, Observation, Outcome};
use crate::metrics::Fetcher;
use crate::output::{self, plan::PlanView};
use crate::replay;
use gscale_manifest::yaml;

/// Where the scaler to plan comes from.
enum Origin {
    Cluster,
    File(String),
}

/// Run `gscale plan`.
pub async fn run(args: &PlanArgs, flags: &KubeFlags) -> anyhow::Result<u8> {
    if let Some(reference) = &args.against
        && reference != "hpa"
    {
        return Err(UsageError(format!(
            "--against {reference:?} is not a reference gscale knows\nhint: write --against hpa (the Kubernetes HPA algorithm)"
        ))
        .into());
    }
    let replay_settings = match &args.replay {
        Some(span) => {
            let span = SignedDuration::from_millis(input::positive_duration_ms("--replay", span)?);
            let step = SignedDuration::from_millis(input::positive_duration_ms("--step", &args.step)?);
            if step > span {
                return Err(UsageError(format!(
                    "--step {} is longer than --replay {}\nhint: pick a step shorter than the span, e.g. --step 1m",
                    args.step,
                    args.replay.as_deref().unwrap_or_default()
                ))
                .into());
            }
            if span.as_secs() / step.as_secs().max(1) > 11_000 {
                return Err(UsageError(format!(
                    "--replay {} at --step {} is more than 11000 points, Prometheus's limit for one range query\nhint: use a longer --step",
                    args.replay.as_deref().unwrap_or_default(),
                    args.step
                ))
                .into());
            }
            Some((span, step))
        }
        None => None,
    };
    if matches!(args.output, OutputFormat::Wide) {
        return Err(
            UsageError("-o wide is for status\nhint: plan prints -o table, json or yaml".into()).into()
        );
    }

    let (client, server) = client(flags).await?;
    let (mut scaler, origin) = match (&args.name, &args.file) {
        (Some(name), None) => {
            let namespace = args.namespace.clone().unwrap_or_else(|| client.default_namespace().to_string());
            let api: Api<GeneralScaler> = Api::namespaced(client.clone(), &namespace);
            let scaler = api.get_opt(name).await.map_err(|e| match e {
                kube::Error::Api(s) if s.code == 404 => anyhow::anyhow!(
                    "generalscaler CRD not found\nhint: run gscale install-crd, or plan a manifest offline with -f FILE --current N"
                ),
                other => explain_kube_error(other, "read generalscalers", &server),
            })?;
            let scaler = scaler.ok_or_else(|| {
                anyhow::anyhow!(
                    "generalscaler {name} not found in namespace {namespace}\nhint: `gscale status -A` lists them; plan a manifest not applied yet with -f FILE"
                )
            })?;
            (scaler, Origin::Cluster)
        }
        (None, Some(path)) => {
            let mut scaler = input::one_scaler(path, "plan")?;
            let namespace = args
                .namespace
                .clone()
                .or_else(|| scaler.metadata.namespace.clone())
                .unwrap_or_else(|| client.default_namespace().to_string());
            scaler.metadata.namespace = Some(namespace);
            (scaler, Origin::File(path.display().to_string()))
        }
        _ => return Err(UsageError("give a scaler NAME or -f FILE, not both".into()).into()),
    };
    let namespace = scaler.namespace().unwrap_or_default();
    let target = format!("{}/{}", scaler.spec.target_ref.kind, scaler.spec.target_ref.name);

    // The daemon's own target reader and metric fetcher (what `controller::observe` joins), so plan
    // sees what `gscale run` sees; observed separately here so `--current` can stand in for a target
    // that does not exist yet.
    // Unlike the daemon, plan runs as the person who typed it: through their proxy, as curl would.
    let limits = crate::metrics::Limits { proxy_from_environment: true, ..crate::metrics::Limits::default() };
    let fetcher =
        Fetcher::new(Some(client.clone()), crate::metrics::Settings { limits, ..Default::default() });
    // The target watch is a task of this command's own, ended when plan returns.
    let (tasks, _stop_tasks) = controller::tasks::Tasks::new();
    let targets = controller::targets::Targets::new(client, Some(namespace.clone()), tasks);

    let mut notes = Vec::new();
    let current = match (targets.replicas(&namespace, &scaler.spec.target_ref).await, args.current) {
        (_, Some(n)) if n < 0 => {
            return Err(UsageError(format!("--current {n}: a replica count is 0 or more")).into());
        }
        (Ok(n), Some(given)) => {
            notes.push(format!(
                "{target} has {} replicas; planning from --current {given} as asked",
                n.replicas
            ));
            Ok(Replicas { replicas: given, ready: None })
        }
        (Ok(n), None) => Ok(n),
        (Err(TargetError::NotFound { .. }), Some(given)) => {
            notes.push(format!("{target} does not exist; planning from --current {given}"));
            Ok(Replicas { replicas: given, ready: None })
        }
        (Err(e), _) => Err(e),
    };
    let current = match current {
        Ok(n) => n,
        Err(e @ TargetError::NotFound { .. }) => {
            return Err(anyhow::anyhow!(
                "{e}\nhint: create it, fix spec.targetRef, or plan from a replica count with --current N"
            ));
        }
        Err(e) => {
            return Err(anyhow::anyhow!(
                "cannot read the replicas of {target}: {}\nhint: check that the kind has a /scale subresource and that you may list it",
                super::chain(&e)
            ));
        }
    };
    if let Origin::File(_) = origin {
        // A manifest not applied has no memory yet: no cooldowns or windows running.
        scaler.status = None;
    }

    if let Some((span, step)) = replay_settings {
        return run_replay(args, &fetcher, &scaler, current.replicas, span, step).await;
    }

    let readings = fetcher.fetch(&namespace, &scaler.spec).await;
    let observation = Observation { current: Ok(current), readings };
    let now = input::wall_now()?;
    let history = controller::persisted_history(&scaler);
    let outcome = controller::decide_outcome(&scaler, &observation, history, now, false);
    let (report, warnings) = match outcome {
        Outcome::Decided { report, warnings, .. } => (report, warnings),
        Outcome::InvalidSpec(message) => {
            return Err(anyhow::anyhow!(
                "the scaler's spec is invalid: {message}\nhint: `gscale validate -f FILE` lists every problem"
            ));
        }
        Outcome::TargetNotFound(message) => {
            return Err(anyhow::anyhow!("{message}\nhint: create the target or fix spec.targetRef"));
        }
        // Plan never scales, nor claims a target.
        Outcome::ScaleFailed(message) | Outcome::Conflict(message) => {
            return Err(anyhow::anyhow!("{message}"));
        }
    };
    notes.extend(warnings.into_iter().map(|w| format!("warning: {w}")));
    let scaler_name = match &origin {
        Origin::Cluster => format!("{namespace}/{}", scaler.name_any()),
        Origin::File(path) => format!("{namespace}/{} ({path})", scaler.name_any()),
    };
    let code = if report.apply { exit::WOULD_SCALE } else { exit::OK };
    let schedules = crate::decision::schedule::report(&scaler.spec, now);
    let schedule_lines: Vec<String> = schedules.iter().map(|w| w.text.clone()).collect();
    let text = match args.output {
        OutputFormat::Table | OutputFormat::Wide => output::plan::render(
            &PlanView {
                scaler: &scaler_name,
                target: &target,
                bounds: {
                    // The bounds in force: an open schedule's, else the spec's own.
                    let b = crate::decision::schedule::bounds(&scaler.spec, now);
                    (b.min, b.max)
                },
                policy: scaler.spec.policy.kind.as_str(),
                notes: &notes,
                schedules: &schedule_lines,
                report: &report,
            },
            output::terminal_width(),
        ),
        OutputFormat::Json | OutputFormat::Yaml => {
            let mut value = serde_json::to_value(&*report)?;
            value["scaler"] = scaler_name.clone().into();
            value["target"] = target.clone().into();
            value["notes"] = serde_json::to_value(&notes)?;
            if !schedules.is_empty() {
                value["schedules"] = serde_json::to_value(&schedules)?;
            }
            if matches!(args.output, OutputFormat::Json) {
                format!("{}\n", serde_json::to_string_pretty(&value)?)
            } else {
                yaml::to_string(&value)
            }
        }
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(code)
}

/// Where a replayed series comes from: a Prometheus range query (a metric's, or the slo policy's
/// signals), or a metric's own history (a Pub/Sub subscription's, from Cloud Monitoring).
enum Recorded<'a> {
    Prometheus(PrometheusSource),
    Metric(&'a MetricSpec),
}

/// A history of one-minute points on the replay's steps: at each time, the newest point at or before
/// it, if it is at most two steps (or two minutes) old.
fn held(points: &[(Timestamp, f64)], times: &[Timestamp], step: SignedDuration) -> Vec<Option<f64>> {
    let stale = step.max(SignedDuration::from_mins(1)) * 2;
    let mut next = 0;
    let mut last: Option<(Timestamp, f64)> = None;
    times
        .iter()
        .map(|&t| {
            while let Some(&point) = points.get(next).filter(|(at, _)| *at <= t) {
                last = Some(point);
                next += 1;
            }
            last.filter(|(at, _)| t.duration_since(*at) <= stale).map(|(_, v)| v)
        })
        .collect()
}

/// `--replay`: fetch each metric's history (Prometheus `query_range`, Cloud Monitoring for Pub/Sub),
/// then step `decide` over it.
async fn run_replay(
    args: &PlanArgs,
    fetcher: &Fetcher,
    scaler: &GeneralScaler,
    current: i32,
    span: SignedDuration,
    step: SignedDuration,
) -> anyhow::Result<u8> {
    let namespace = scaler.namespace().unwrap_or_default();
    let metrics = scaler.spec.metrics();
    let without: Vec<String> = metrics
        .iter()
        .filter(|m| !crate::metrics::keeps_history(m))
        .map(|m| format!("{} ({})", m.display_name(), m.kind.as_str()))
        .collect();
    if !without.is_empty() {
        return Err(anyhow::anyhow!(
            "cannot replay {}: {} {} no history to replay (only Prometheus and Cloud Monitoring, for Pub/Sub, keep one)\nhint: `gscale simulate -f FILE --trace CSV` replays a recorded load trace instead",
            scaler.name_any(),
            without.join(", "),
            if without.len() == 1 { "has" } else { "have" }
        ));
    }
    let end = Timestamp::now().round(jiff::Unit::Second)?;
    let end = end - SignedDuration::from_secs(end.as_second().rem_euclid(step.as_secs().max(1)));
    let start = end - span;
    let step_std = Duration::from_secs(step.as_secs() as u64);
    let count = (span.as_secs() / step.as_secs()) as usize + 1;
    let times: Vec<Timestamp> = (0..count).map(|i| start + step * i as i32).collect();

    let bar = output::progress_stderr().then(|| {
        let bar = indicatif::ProgressBar::new(metrics.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} fetching history {pos}/{len} {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    });
    // What to fetch: each metric, then the slo policy's signals when it has them.
    let mut wanted: Vec<(String, Recorded<'_>, u32)> = metrics
        .iter()
        .map(|m| {
            let source = match &m.prometheus {
                Some(source) => Recorded::Prometheus(source.clone()),
                None => Recorded::Metric(m),
            };
            (format!("metric {}", m.display_name()), source, m.timeout_seconds)
        })
        .collect();
    let slo_queries = slo_sources(&scaler.spec);
    let slo_count = slo_queries.len();
    wanted.extend(
        slo_queries.into_iter().map(|(what, source, timeout)| (what, Recorded::Prometheus(source), timeout)),
    );
    if let Some(bar) = &bar {
        bar.set_length(wanted.len() as u64);
    }
    let mut series = Vec::with_capacity(wanted.len());
    for (what, source, timeout_seconds) in &wanted {
        if let Some(bar) = &bar {
            bar.set_message(what.clone());
        }
        let timeout = Duration::from_secs(u64::from((*timeout_seconds).max(1)) * 6);
        let cannot = |e: &crate::metrics::MetricError, hint: &str| {
            super::failed(format_args!("cannot fetch the history of {what}"), e, hint)
        };
        let values = match source {
            Recorded::Prometheus(source) => {
                let points = fetcher.query_range(&namespace, source, start, end, step_std, timeout).await.map_err(|e| {
                    cannot(&e, "check that Prometheus is reachable and keeps this much history (--storage.tsdb.retention.time)")
                })?;
                let mut values = vec![None; times.len()];
                for (t, v) in points {
                    let offset = t.duration_since(start).as_secs();
                    if offset >= 0
                        && offset % step.as_secs() == 0
                        && let Some(slot) = values.get_mut((offset / step.as_secs()) as usize)
                    {
                        *slot = Some(v);
                    }
                }
                values
            }
            Recorded::Metric(metric) => {
                let since = start - step.max(SignedDuration::from_mins(1)) * 2;
                let points = fetcher.history(&namespace, &scaler.spec, metric, (since, end), timeout).await.map_err(|e| {
                    cannot(&e, "check that Cloud Monitoring is reachable and the credentials may list time series (roles/monitoring.viewer); it keeps six weeks")
                })?;
                held(&points, &times, step)
            }
        };
        series.push(values);
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    }
    let mut slo = replay::SloSeries::default();
    for ((what, _, _), values) in wanted.iter().zip(&series).skip(metrics.len()) {
        if what.contains("latency") {
            slo.latency_ms = Some(values.clone());
        } else {
            slo.error_rate = Some(values.clone());
        }
    }
    debug_assert_eq!(series.len(), metrics.len() + slo_count);
    series.truncate(metrics.len());
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }

    let (history, warm) = forecast_history(fetcher, &namespace, &scaler.spec, start).await;
    let result = replay::replay(&scaler.spec, current, history, &times, &series, &slo, step);
    let comparison = args
        .against
        .as_ref()
        .map(|_| crate::against::compare(&scaler.spec, &result, current, &times, &series, step));
    if let Some(path) = &args.plot {
        let points: Vec<Vec<(f64, f64)>> = series
            .iter()
            .map(|s| {
                s.iter()
                    .zip(&times)
                    .filter_map(|(v, t)| v.map(|v| (t.duration_since(start).as_secs_f64(), v)))
                    .collect()
            })
            .collect();
        let load: Vec<output::plot::Series<'_>> = metrics
            .iter()
            .zip(&points)
            .map(|(m, p)| output::plot::Series { label: m.display_name(), points: p })
            .collect();
        let replicas: Vec<(f64, f64)> = result
            .ticks
            .iter()
            .map(|t| (t.time.duration_since(start).as_secs_f64(), f64::from(t.replicas)))
            .collect();
        let title =
            format!("gscale plan {} --replay {}", scaler.name_any(), args.replay.as_deref().unwrap_or(""));
        let written = match &comparison {
            Some(c) => {
                let hpa: Vec<(f64, f64)> = times
                    .iter()
                    .zip(&c.hpa.replicas)
                    .map(|(t, &n)| (t.duration_since(start).as_secs_f64(), f64::from(n)))
                    .collect();
                output::against::plot_svg(
                    path,
                    &format!("{title} --against hpa"),
                    &load,
                    &output::plot::Series { label: "gscale", points: &replicas },
                    &output::plot::Series { label: "hpa", points: &hpa },
                )
            }
            None => output::plot::plot_svg(
                path,
                &title,
                &load,
                &output::plot::Series { label: "replicas", points: &replicas },
            ),
        };
        written.map_err(|e| {
            anyhow::anyhow!(
                "cannot write the plot to {}: {e}\nhint: check that the directory exists and is writable",
                path.display()
            )
        })?;
    }
    let text = match args.output {
        OutputFormat::Json | OutputFormat::Yaml => {
            let mut value = serde_json::to_value(&result)?;
            if let Some(c) = &comparison {
                value["against"] = serde_json::to_value(c)?;
            }
            if matches!(args.output, OutputFormat::Json) {
                format!("{}\n", serde_json::to_string_pretty(&value)?)
            } else {
                yaml::to_string(&value)
            }
        }
        _ => {
            let title = format!(
                "replay of {namespace}/{} over the last {} at {} steps, from {current} replicas (paused and dryRun ignored)",
                scaler.name_any(),
                args.replay.as_deref().unwrap_or_default(),
                args.step
            );
            let mut text =
                output::replay::render(&title, &result, scaler.spec.max_replicas, output::terminal_width());
            if let (Some(f), Some(warm)) = (&result.forecast, &warm) {
                let line = format!("forecast: {warm}; {}", f.summary.describe("then"));
                text.push_str(&output::plan::wrap(&line, usize::from(output::terminal_width()), "  "));
            }
            if let Some(c) = &comparison {
                text.push_str(&output::against::render(
                    c,
                    scaler.spec.max_replicas,
                    output::terminal_width(),
                ));
            }
            if let Some(path) = &args.plot {
                text.push_str(&format!("\nplot written to {}\n", path.display()));
            }
            text
        }
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(exit::OK)
}

/// The history a forecasting scaler's replay starts from: what the daemon would have backfilled at the
/// replay's start (the days before it, from Prometheus), with what it is in words. A scaler that does
/// not forecast starts from none and gets no words; one whose history cannot be read learns from the
/// replay's own readings, and the words say why.
async fn forecast_history(
    fetcher: &Fetcher,
    namespace: &str,
    spec: &GeneralScalerSpec,
    start: Timestamp,
) -> (History, Option<String>) {
    if spec.forecast_enabled().is_none() {
        return (History::default(), None);
    }
    let Some(days) = backfill::days_wanted(spec) else {
        return (
            History::default(),
            Some(
                "learnt from the replay's own readings (a per-pod metric: no history to backfill)"
                    .to_string(),
            ),
        );
    };
    let words = match backfill::series(fetcher, namespace, spec, days, start).await {
        Ok(points) => {
            let forecast = ForecastHistory::from_series(spec, points);
            let words = format!(
                "started from {:.1} h of {} history before the replay, as the daemon backfills it",
                forecast.hours(),
                backfill::backend_name(spec)
            );
            return (History { forecast: Some(forecast), ..History::default() }, Some(words));
        }
        Err(e) => format!(
            "learnt from the replay's own readings (the {days} days before it could not be read: {e})"
        ),
    };
    (History::default(), Some(words))
}

/// The slo policy's latency and error-rate queries as Prometheus sources, as the daemon reads
/// them: on `slo.serverUrl`, else on the first prometheus metric's server (with its credentials).
fn slo_sources(spec: &GeneralScalerSpec) -> Vec<(String, PrometheusSource, u32)> {
    let Some(slo) = spec.policy.slo.as_ref().filter(|_| spec.policy.kind == PolicyType::Slo) else {
        return Vec::new();
    };
    let first = spec.metrics().iter().find(|m| m.prometheus.is_some());
    let base = first.and_then(|m| m.prometheus.as_ref());
    let timeout = first.map_or(5, |m| m.timeout_seconds);
    let source = |query: &str| match (base, &slo.server_url) {
        (Some(base), Some(url)) if base.server_url.trim_end_matches('/') != url.trim_end_matches('/') => {
            Some(PrometheusSource { server_url: url.clone(), query: query.to_string(), ..plain() })
        }
        (Some(base), _) => Some(PrometheusSource { query: query.to_string(), ..base.clone() }),
        (None, Some(url)) => {
            Some(PrometheusSource { server_url: url.clone(), query: query.to_string(), ..plain() })
        }
        (None, None) => None,
    };
    let mut out = Vec::new();
    if let Some(source) = slo.latency_query.as_deref().and_then(source) {
        out.push(("slo latency".to_string(), source, timeout));
    }
    if let Some(source) = slo.error_rate_query.as_deref().and_then(source) {
        out.push(("slo error rate".to_string(), source, timeout));
    }
    out
}

fn plain() -> PrometheusSource {
    PrometheusSource {
        server_url: String::new(),
        query: String::new(),
        headers: Default::default(),
        bearer_token_secret_ref: None,
        ca_secret_ref: None,
        insecure_skip_verify: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_points_are_held_on_the_replay_steps_until_stale() {
        let at = |s: i64| Timestamp::from_second(1_800_000_000 + s).unwrap();
        let points = [(at(0), 1.0), (at(60), 2.0), (at(120), 3.0), (at(600), 4.0)];
        let times: Vec<Timestamp> = (0..12).map(|i| at(30 * i - 30)).collect();
        let values = held(&points, &times, SignedDuration::from_secs(30));
        assert_eq!(
            values,
            [
                None,
                Some(1.0),
                Some(1.0),
                Some(2.0),
                Some(2.0),
                Some(3.0),
                Some(3.0),
                Some(3.0),
                Some(3.0),
                Some(3.0),
                None,
                None
            ],
            "a point holds until the next, and at most two minutes"
        );
    }
}
