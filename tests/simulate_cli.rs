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
        "--against",
        "hpa",
        "-o",
        "json",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
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
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["simulate", "-f", s, "--trace", c], ":3: cannot read value \"oops\""),
        (vec!["simulate", "-f", s, "--trace", "/nonexistent.csv"], "cannot read trace"),
        (vec!["simulate", "-f", c, "--trace", c], "no GeneralScaler"),
        (vec!["simulate", "-f", s, "--trace", c, "--compress", "fast"], "--compress"),
        (vec!["simulate", "-f", s, "--trace", c, "--pod-start", "soon"], "--pod-start"),
        (vec!["simulate", "-f", s, "--trace", c, "--capacity-per-pod", "0"], "--capacity-per-pod"),
        (vec!["simulate", "-f", s, "--trace", c, "--scale-demand", "0"], "--scale-demand"),
        (vec!["simulate", "-f", s, "--trace", c, "--against", "keda"], "--against"),
        (vec!["simulate", "-f", s, "--trace", &long, "--compress", "1ms=1h"], "decisions"),
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
