//! `gscale simulate` as a user runs it: the built binary on small hand-made files, checking the
//! figures it prints, the reference side by side, the plot, and the errors for bad input.

use std::path::PathBuf;
use std::process::{Command, Output};

const SCALER: &str = "\
apiVersion: autoscaling.generalscaler.io/v1alpha1
kind: GeneralScaler
metadata:
  name: web
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 20
  syncIntervalSeconds: 15
  metric:
    type: prometheus
    targetValue: 100
    prometheus: {serverUrl: 'http://prometheus:9090', query: 'rps'}
";

/// A step from 100/s to 400/s at 600 s, held to 1800 s (the `step_load` case of the unit tests).
const STEP: &str =
    "timestamp,value\n1970-01-01 00:00:00,100\n1970-01-01 00:10:00,400\n1970-01-01 00:20:00,400\n";

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gscale-simulate-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn gscale(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gscale")).args(args).output().expect("the gscale binary runs")
}

fn files(name: &str, trace: &str) -> (PathBuf, PathBuf, PathBuf) {
    let d = dir(name);
    let (scaler, csv) = (d.join("scaler.yaml"), d.join("trace.csv"));
    std::fs::write(&scaler, SCALER).unwrap();
    std::fs::write(&csv, trace).unwrap();
    (d, scaler, csv)
}

#[test]
fn json_report_with_the_hpa_side_by_side_and_a_plot() {
    let (d, scaler, csv) = files("ok", STEP);
    let plot = d.join("out.svg");
    let out = gscale(&[
        "simulate",
        "-f",
        scaler.to_str().unwrap(),
        "--trace",
        csv.to_str().unwrap(),
        "--capacity-per-pod",
        "125",
        "--pod-start",
        "10s",
        "--hold",
        "--against",
        "hpa",
        "-o",
        "json",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["demand"], "held");
    assert_eq!(report["reading"], serde_json::json!(["instant"]));
    for side in ["gscale", "hpa"] {
        let s = &report[side];
        assert!((s["podHours"].as_f64().unwrap() - 1.5).abs() < 1e-6, "{side}: {s}");
        assert!((s["sloViolationMinutes"].as_f64().unwrap() - 37.5 / 60.0).abs() < 1e-6, "{side}: {s}");
        assert_eq!(s["peakReplicas"], 4, "{side}: {s}");
    }
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert_eq!(svg.matches("<polyline").count(), 3);
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn table_report_names_both_sides() {
    let (d, scaler, csv) = files("table", STEP);
    let out = gscale(&[
        "simulate",
        "-f",
        scaler.to_str().unwrap(),
        "--trace",
        csv.to_str().unwrap(),
        "--against",
        "hpa",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("pod-hours") && text.contains("SLO-violation minutes") && text.contains("hpa"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn bad_input_is_a_usage_error_with_the_line() {
    let (d, scaler, csv) = files("bad-trace", "timestamp,value\n0,1\n15,oops\n");
    let s = scaler.to_str().unwrap();
    let c = csv.to_str().unwrap();
    let long_path = d.join("long.csv");
    std::fs::write(&long_path, STEP).unwrap();
    let long = long_path.to_str().unwrap().to_string();
    let two_path = d.join("two.yaml");
    std::fs::write(&two_path, format!("{SCALER}---\n{}", SCALER.replace("name: web\n", "name: other\n")))
        .unwrap();
    let two = two_path.to_str().unwrap().to_string();
    // Two points four years apart: 17 million ticks of 15 s for both sides together.
    let gap_path = d.join("gap.csv");
    std::fs::write(&gap_path, "timestamp,value\n2000-01-01 00:00:00,100\n2004-06-01 00:00:00,200\n").unwrap();
    let gap = gap_path.to_str().unwrap().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["simulate", "-f", s, "--trace", c], ":3: cannot read value \"oops\""),
        (vec!["simulate", "-f", s, "--trace", "/nonexistent.csv"], "cannot read trace"),
        (vec!["simulate", "-f", c, "--trace", c], "no GeneralScaler"),
        (vec!["simulate", "-f", s, "--trace", c, "--compress", "fast"], "--compress"),
        (vec!["simulate", "-f", s, "--trace", c, "--pod-start", "soon"], "--pod-start"),
        (vec!["simulate", "-f", s, "--trace", c, "--capacity-per-pod", "0"], "--capacity-per-pod"),
        (vec!["simulate", "-f", s, "--trace", c, "--scale-demand", "0"], "--scale-demand"),
        (vec!["simulate", "-f", s, "--trace", c, "--against", "keda"], "--against"),
        (vec!["simulate", "-f", s, "--trace", c, "--noise", "150%"], "--noise \"150%\" is not a level"),
        (vec!["simulate", "-f", s, "--trace", c, "--noise-correlation", "0s"], "--noise-correlation"),
        (vec!["simulate", "-f", s, "--trace", c, "--reading", "avg"], "--reading \"avg\" is not a pipeline"),
        (vec!["simulate", "-f", s, "--trace", c, "--reading", "rate=1m/15s"], "window shorter"),
        (vec!["simulate", "-f", s, "--trace", &long, "--compress", "1ms=1h"], "decisions"),
        (
            vec!["simulate", "-f", s, "--trace", c, "--compress", "0s=15s"],
            "--compress FROM \"0s\" must be longer than 0",
        ),
        (
            vec!["simulate", "-f", s, "--trace", c, "--scale-demand", "-1"],
            "--scale-demand must be a number above 0, got -1",
        ),
        (
            vec!["simulate", "-f", s, "--trace", c, "--capacity-per-pod", "-5"],
            "--capacity-per-pod must be a number above 0",
        ),
        (
            vec!["simulate", "-f", s, "--trace", c, "--pod-start", "-1s"],
            "--pod-start \"-1s\" is not a duration",
        ),
        (vec!["simulate", "-f", s, "--trace", &long, "--scale-demand", "1e308"], "more than 1e15"),
        (
            vec!["simulate", "-f", &two, "--trace", &long],
            "2 GeneralScalers in this file (web (line 1), other (line",
        ),
        (vec!["simulate", "-f", s, "--trace", &gap, "--against", "hpa"], "a gap of years"),
    ];
    for (args, needle) in cases {
        let out = gscale(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn reads_the_scaler_from_stdin_and_unix_milliseconds() {
    let (d, _, csv) = files("stdin", "1404172800000,100\n1404173100000,400\n1404173400000,400\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gscale"))
        .args(["simulate", "-f", "-", "--trace", csv.to_str().unwrap(), "-o", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), SCALER.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["scaler"], "web");
    // Milliseconds since the epoch, told from seconds by size: 5-minute steps, not 83-hour ones.
    assert_eq!(report["traceStepSeconds"], 300.0);
    let _ = std::fs::remove_dir_all(d);
}

/// A reader that stops early (`| head -1`) ends gscale quietly, not with a panic.
#[test]
fn a_closed_stdout_ends_quietly() {
    let (d, scaler, csv) = files("pipe", STEP);
    for output in ["table", "json"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gscale"))
            .args([
                "simulate",
                "-f",
                scaler.to_str().unwrap(),
                "--trace",
                csv.to_str().unwrap(),
                "-o",
                output,
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{output}: {err}");
        assert!(!err.contains("panicked"), "{output}: {err}");
    }
    let _ = std::fs::remove_dir_all(d);
}

// The examples' scalers on every shared trace (../shared/traces beside the repository, as in CI):
// each run succeeds and reports both sides. Skipped, visibly, where the traces are not there.
#[test]
fn example_scalers_on_the_shared_traces() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let traces = root.join("../shared/traces");
    let Ok(entries) = std::fs::read_dir(&traces) else {
        eprintln!("skipped: no trace directory at {}", traces.display());
        return;
    };
    let mut csvs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    csvs.sort();
    assert!(!csvs.is_empty(), "no .csv in {}", traces.display());
    let examples = [("http-service.yaml", "10"), ("worker-service.yaml", "1")];
    for csv in &csvs {
        for (example, demand) in examples {
            let scaler = root.join("examples/simulate").join(example);
            let out = gscale(&[
                "simulate",
                "-f",
                scaler.to_str().unwrap(),
                "--trace",
                csv.to_str().unwrap(),
                "--compress",
                "5m=15s",
                "--scale-demand",
                demand,
                "--against",
                "hpa",
                "-o",
                "json",
            ]);
            assert!(
                out.status.success(),
                "{example} on {}: {}",
                csv.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert!(report["gscale"]["podHours"].as_f64().unwrap() > 0.0);
            assert!(report["hpa"]["podHours"].as_f64().unwrap() > 0.0);
        }
    }
}

/// A forecasting scaler says how long it learnt from the trace before it forecast, and how often
/// it then acted or fell back: three days of a daily wave, five minutes a point, replayed in real
/// time, so the reading changes every 5 minutes: the cadence forecast knows that period after eight
/// changes, sooner than the hour of measured minutes the short-horizon forecast needs.
#[test]
fn a_forecasting_scaler_says_how_much_of_the_trace_warmed_it_up() {
    let mut trace = String::from("timestamp,value\n");
    for i in 0..(3 * 288) {
        let t = jiff::Timestamp::from_second(i * 300).unwrap();
        let value = 200.0 + 150.0 * (i as f64 / 288.0 * std::f64::consts::TAU).sin();
        trace.push_str(&format!("{},{value:.1}\n", t.strftime("%Y-%m-%d %H:%M:%S")));
    }
    let (_, scaler, csv) = files("forecast", &trace);
    std::fs::write(&scaler, format!("{SCALER}  forecast: {{mode: \"On\"}}\n")).unwrap();
    let out =
        gscale(&["simulate", "-f", scaler.to_str().unwrap(), "--trace", csv.to_str().unwrap(), "--hold"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("demand held, read instant"), "{text}");
    assert!(
        text.contains("forecast: learnt from the first 0.8 simulated hours"),
        "nine changes of the trace: {text}"
    );
    assert!(text.contains("(99% from the reading's cadence,"), "{text}");
    assert!(text.contains("fell back to the reactive rules in"), "{text}");
}

/// The same wave live: demand moving between the points with noise, read through a Prometheus
/// rate. No cadence to learn; the trend of the readings takes part after an hour of its record, and
/// the same seed replays the same run.
#[test]
fn a_live_replay_reads_through_the_sources_pipeline() {
    let mut trace = String::from("timestamp,value\n");
    for i in 0..(2 * 288) {
        let t = jiff::Timestamp::from_second(i * 300).unwrap();
        let value = 200.0 + 150.0 * (i as f64 / 288.0 * std::f64::consts::TAU).sin();
        trace.push_str(&format!("{},{value:.1}\n", t.strftime("%Y-%m-%d %H:%M:%S")));
    }
    let (_, scaler, csv) = files("live", &trace);
    std::fs::write(&scaler, format!("{SCALER}  forecast: {{mode: \"On\"}}\n")).unwrap();
    let args =
        ["simulate", "-f", scaler.to_str().unwrap(), "--trace", csv.to_str().unwrap(), "--noise", "3%"];
    let out = gscale(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("demand interpolated, noise 3% over 1m00s (seed 1), read rate=15s/1m"), "{text}");
    assert!(text.contains("forecast: ") && text.contains("% from its trend;"), "{text}");
    assert_eq!(gscale(&args).stdout, out.stdout);
    let other = gscale(&[&args[..], &["--seed", "2"]].concat());
    assert_ne!(other.stdout, out.stdout);
}
