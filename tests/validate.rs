//! `gscale validate`, run as the real binary: the original project's YAML passes unchanged, and
//! every kind of bad input fails with exit 1 and a message naming the field, the line and the fix.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_gscale");
const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference");

/// A scaler with everything but the parts the reference snippets supply.
const BASE: &str = "apiVersion: autoscaling.generalscaler.io/v1alpha1
kind: GeneralScaler
metadata:
  name: snippet
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: app
  maxReplicas: 10
";

const PROMETHEUS_METRIC: &str = "  metric:
    type: prometheus
    targetValue: 100
    prometheus:
      serverUrl: http://prometheus:9090
      query: sum(rate(http_requests_total[1m]))
";

fn validate_text(text: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scaler.yaml");
    std::fs::write(&path, text).unwrap();
    validate(&[path.as_path()])
}

fn validate(paths: &[&Path]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("validate");
    for p in paths {
        cmd.arg("-f").arg(p);
    }
    cmd.output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn indent(snippet: &str) -> String {
    snippet.lines().map(|l| if l.is_empty() { String::new() } else { format!("  {l}\n") }).collect()
}

#[test]
fn the_original_readme_example_is_valid_as_written() {
    let out = validate(&[&Path::new(REFERENCE).join("my-app-scaler.yaml")]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    assert!(text.contains("ok: GeneralScaler my-app-scaler (document 1)"), "{text}");
    // It uses the slo policy without latency/error queries: valid, with a warning saying what to add.
    assert!(text.contains("warning: spec.policy.slo: the slo policy has no latencyQuery"), "{text}");
}

#[test]
fn every_reference_snippet_is_valid_inside_a_scaler() {
    for (file, needs_metric) in [
        ("prometheus-metric.yaml", false),
        ("redis-metric.yaml", false),
        ("pubsub-metric.yaml", false),
        ("slo-policy.yaml", true),
        ("cost-aware-policy.yaml", true),
        ("behavior.yaml", true),
    ] {
        let snippet = std::fs::read_to_string(Path::new(REFERENCE).join(file)).unwrap();
        let mut text = BASE.to_string();
        if needs_metric {
            text.push_str(PROMETHEUS_METRIC);
        }
        text.push_str(&indent(&snippet));
        let out = validate_text(&text);
        assert_eq!(out.status.code(), Some(0), "{file}:\n{text}\n{}", stdout(&out));
    }
}

#[test]
fn plain_text_password_is_valid_with_a_warning_that_points_to_the_secret_ref() {
    let snippet = std::fs::read_to_string(Path::new(REFERENCE).join("redis-metric.yaml")).unwrap();
    let out = validate_text(&format!("{BASE}{}", indent(&snippet)));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("scaler.yaml:19: warning: spec.metric.redis.password"), "{text}");
    assert!(text.contains("hint: put it in a Secret and reference it with passwordSecretRef"), "{text}");
}

/// Bad input: (name, text, expected substrings of stdout).
fn bad_cases() -> Vec<(&'static str, String, Vec<&'static str>)> {
    let full = format!("{BASE}{PROMETHEUS_METRIC}");
    vec![
        (
            "min above max",
            full.replace("  maxReplicas: 10\n", "  maxReplicas: 3\n  minReplicas: 5\n"),
            vec!["scaler.yaml:11: error: spec.minReplicas", "hint: lower minReplicas or raise maxReplicas"],
        ),
        (
            "unknown metric type",
            full.replace("type: prometheus", "type: prometheos"),
            vec![
                "scaler.yaml:12: error: spec.metric.type",
                "\"prometheos\" is not one of",
                "hint: use one of: prometheus, redis, pubsub, http",
            ],
        ),
        (
            "provider block missing",
            format!("{BASE}  metric:\n    type: redis\n    targetValue: 50\n"),
            vec!["error: spec.metric.redis", "type redis needs a redis block"],
        ),
        (
            "targetValue zero",
            full.replace("targetValue: 100", "targetValue: 0"),
            vec!["scaler.yaml:13: error: spec.metric.targetValue", "greater than 0", "hint: set targetValue"],
        ),
        (
            "targetValue negative",
            full.replace("targetValue: 100", "targetValue: -5"),
            vec!["scaler.yaml:13: error: spec.metric.targetValue"],
        ),
        (
            "maxReplicas zero",
            full.replace("maxReplicas: 10", "maxReplicas: 0"),
            vec![
                "scaler.yaml:10: error: spec.maxReplicas",
                "at least 1",
                "hint: set maxReplicas to 1 or more",
            ],
        ),
        (
            "wrong apiVersion",
            full.replace("autoscaling.generalscaler.io/v1alpha1", "autoscaling.generalscaler.io/v1"),
            vec![
                "scaler.yaml:1: error: apiVersion",
                "hint: set apiVersion: autoscaling.generalscaler.io/v1alpha1",
            ],
        ),
        (
            "wrong kind",
            full.replace("kind: GeneralScaler", "kind: GeneralScalar"),
            vec!["scaler.yaml:2: error: kind", "hint: set kind: GeneralScaler"],
        ),
        (
            "unknown field",
            full.replace("  maxReplicas: 10\n", "  maxReplicas: 10\n  maxReplica: 12\n"),
            vec![
                "scaler.yaml:11: error: spec.maxReplica: unknown field \"maxReplica\" (did you mean \"maxReplicas\"?)",
                "hint: remove",
            ],
        ),
        (
            "wrong type",
            full.replace("maxReplicas: 10", "maxReplicas: ten"),
            vec!["scaler.yaml:10: error: spec.maxReplicas: must be an integer, not the string \"ten\""],
        ),
        (
            "not yaml",
            "spec: [unclosed\n  maxReplicas: {\n".to_string(),
            vec!["error: not valid YAML", "hint:"],
        ),
        ("a yaml scalar", "just some words\n".to_string(), vec!["error: the document is not a mapping"]),
        ("empty file", String::new(), vec!["error: the file is empty", "hint:"]),
        ("only comments", "# nothing\n---\n".to_string(), vec!["error: the file is empty"]),
        (
            "missing spec",
            "apiVersion: autoscaling.generalscaler.io/v1alpha1\nkind: GeneralScaler\nmetadata:\n  name: x\n"
                .to_string(),
            vec!["error: spec: is required"],
        ),
        (
            "metric and metrics",
            format!(
                "{full}  metrics:\n  - type: http\n    targetValue: 1\n    http:\n      url: http://x/\n"
            ),
            vec!["error: spec.metrics", "not both"],
        ),
        (
            "bad url",
            full.replace("http://prometheus:9090", "prometheus:9090"),
            vec!["error: spec.metric.prometheus.serverUrl", "is not an http:// or https:// URL"],
        ),
        (
            "name is a number",
            full.replace("name: snippet", "name: 5"),
            vec!["scaler.yaml:4: error: metadata.name: metadata.name must be a string", "hint: quote"],
        ),
        (
            "namespace is a number",
            full.replace("name: snippet", "name: snippet\n  namespace: 5"),
            vec!["scaler.yaml:5: error: metadata.namespace: metadata.namespace must be a string"],
        ),
        (
            "label value is a number",
            full.replace("name: snippet", "name: snippet\n  labels: {app: 5}"),
            vec!["error: metadata.labels.app: metadata.labels.app must be a string", "hint: quote"],
        ),
        (
            "namespace not a dns label",
            full.replace("name: snippet", "name: snippet\n  namespace: Bad_NS"),
            vec![
                "scaler.yaml:5: error: metadata.namespace: namespace \"Bad_NS\" is not a valid namespace name",
            ],
        ),
        (
            "namespace of 70 characters",
            full.replace("name: snippet", &format!("name: snippet\n  namespace: {}", "a".repeat(70))),
            vec!["error: metadata.namespace", "at most 63 characters"],
        ),
        (
            "maxReplicas beyond int32",
            full.replace("maxReplicas: 10", "maxReplicas: 99999999999"),
            vec![
                "scaler.yaml:10: error: spec.maxReplicas: must be a whole number from 1 to 2147483647",
                "hint: write maxReplicas as a whole number from 1 to 2147483647",
            ],
        ),
        (
            "maxReplicas 1e308",
            full.replace("maxReplicas: 10", "maxReplicas: 1e308"),
            vec!["error: spec.maxReplicas: must be a whole number from 1 to 2147483647"],
        ),
        (
            "costAware without its block",
            format!("{full}  policy:\n    type: costAware\n"),
            vec!["error: spec.policy.costAware", "hint: add policy.costAware with its required fields"],
        ),
        (
            "duplicate key",
            full.replace("  maxReplicas: 10\n", "  maxReplicas: 10\n  maxReplicas: 11\n"),
            vec![
                "scaler.yaml:11: error: not valid YAML: the key \"maxReplicas\" appears twice",
                "hint: keep one \"maxReplicas\"",
            ],
        ),
        (
            "targetRef name .nan",
            full.replace("name: app", "name: .nan"),
            vec!["scaler.yaml:9: error: spec.targetRef.name", "is not a valid Kubernetes name"],
        ),
        (
            "targetRef name unicode",
            full.replace("name: app", "name: café"),
            vec!["scaler.yaml:9: error: spec.targetRef.name: targetRef name \"café\""],
        ),
        (
            "targetRef kind lowercase",
            full.replace("kind: Deployment", "kind: deployment"),
            vec![
                "scaler.yaml:8: error: spec.targetRef.kind",
                "case-sensitive",
                "hint: write kind: Deployment",
            ],
        ),
        (
            "targetRef kind statefulset",
            full.replace("kind: Deployment", "kind: statefulSet"),
            vec!["hint: write kind: StatefulSet"],
        ),
        ("deep nesting", format!("{BASE}  x: {}\n", "[".repeat(5000)), vec!["error"]),
        ("binary", "\u{0}\u{1}garbage\u{fffd}".to_string(), vec!["error"]),
    ]
}

#[test]
fn bad_input_fails_with_exit_1_and_names_the_field_and_the_fix() {
    for (name, text, expected) in bad_cases() {
        let out = validate_text(&text);
        let got = stdout(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: exit code\n{got}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for needle in expected {
            assert!(got.contains(needle), "{name}: expected {needle:?} in\n{got}");
        }
        assert!(got.contains("hint: "), "{name}: every error says how to fix it\n{got}");
        assert!(
            out.stderr.is_empty() || !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{name}"
        );
    }
}

#[test]
fn knock_on_findings_do_not_follow_a_field_that_cannot_parse() {
    let text = format!("{BASE}{PROMETHEUS_METRIC}")
        .replace("  maxReplicas: 10\n", "  maxReplicas: 10\n  minReplicas: 99999999999\n");
    let out = validate_text(&text);
    let got = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{got}");
    assert!(
        got.contains("scaler.yaml:11: error: spec.minReplicas: must be a whole number from 0 to 2147483647"),
        "{got}"
    );
    assert!(!got.contains("maxReplicas"), "no minReplicas <= maxReplicas finding: {got}");
    assert!(!got.contains("expected i32"), "no serde text: {got}");
    assert!(got.contains("1 error, 0 warnings"), "{got}");
}

#[test]
fn an_interval_over_a_day_is_a_warning() {
    let text = format!("{BASE}{PROMETHEUS_METRIC}  syncIntervalSeconds: 4294967295\n");
    let out = validate_text(&text);
    let got = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{got}");
    assert!(got.contains("scaler.yaml:17: warning: spec.syncIntervalSeconds"), "{got}");
    assert!(got.contains("more than a day"), "{got}");
}

#[test]
fn a_syntax_error_in_a_later_document_still_reports_the_earlier_ones() {
    let good = format!("{BASE}{PROMETHEUS_METRIC}");
    let text = format!("{good}---\n{good}---\nspec: [unclosed\n");
    let out = validate_text(&text);
    let got = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{got}");
    assert!(got.contains("scaler.yaml:1: ok: GeneralScaler snippet (document 1)"), "{got}");
    assert!(got.contains("scaler.yaml:18: ok: GeneralScaler snippet (document 2)"), "{got}");
    assert!(got.contains("error: not valid YAML"), "{got}");
    assert!(got.contains("1 file, 2 scalers: 1 error, 0 warnings"), "{got}");
}

#[test]
fn a_ten_megabyte_file_is_refused_not_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    let mut file = std::fs::File::create(&path).unwrap();
    let line = "# padding padding padding padding padding padding padding padding padding\n";
    for _ in 0..(10 * 1024 * 1024 / line.len()) {
        file.write_all(line.as_bytes()).unwrap();
    }
    drop(file);
    let out = validate(&[&path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("larger than 4 MiB"), "{}", stdout(&out));
}

#[test]
fn non_utf8_is_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.yaml");
    std::fs::write(&path, b"name: caf\xe9\n").unwrap();
    let out = validate(&[&path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("not UTF-8"), "{}", stdout(&out));
}

#[test]
fn multi_document_files_report_each_document_and_skip_other_kinds() {
    let good = format!("{BASE}{PROMETHEUS_METRIC}");
    let bad = good.replace("name: snippet", "name: second").replace("maxReplicas: 10", "maxReplicas: 0");
    let text =
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n---\n{good}---\n{bad}");
    let out = validate_text(&text);
    let got = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{got}");
    assert!(
        got.contains("scaler.yaml:1: skipped: apps/v1 Deployment is not a GeneralScaler (document 1)"),
        "{got}"
    );
    assert!(got.contains("ok: GeneralScaler snippet (document 2)"), "{got}");
    assert!(got.contains("scaler.yaml:32: error: spec.maxReplicas"), "{got}");
    assert!(got.contains("(document 3)"), "{got}");
}

#[test]
fn a_directory_is_read_for_its_manifests_and_files_of_other_kinds_are_noted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("scaler.yaml"), format!("{BASE}{PROMETHEUS_METRIC}")).unwrap();
    std::fs::write(
        dir.path().join("deploy.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a manifest").unwrap();
    let out = validate(&[dir.path()]);
    let got = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{got}");
    assert!(
        got.contains("deploy.yaml: skipped: no GeneralScaler in this file (found: apps/v1 Deployment)"),
        "{got}"
    );
    assert!(got.contains("ok: GeneralScaler snippet"), "{got}");
    assert!(got.contains("2 files, 1 scaler: 0 errors"), "{got}");
}

#[test]
fn a_list_from_kubectl_is_checked_item_by_item() {
    let good = indent(&format!("{BASE}{PROMETHEUS_METRIC}"));
    let bad = good.replace("name: snippet", "name: second").replace("maxReplicas: 10", "maxReplicas: 0");
    let item = |scaler: &str| format!("- {}", scaler.trim_start());
    let text = format!("apiVersion: v1\nkind: List\nitems:\n{}{}", item(&good), item(&bad));
    let out = validate_text(&text);
    let got = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{got}");
    assert!(got.contains("ok: GeneralScaler snippet"), "{got}");
    assert!(got.contains("error: spec.maxReplicas"), "{got}");
}

#[test]
fn stdin_is_read_with_a_dash() {
    let mut child = Command::new(BIN)
        .args(["validate", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{BASE}{PROMETHEUS_METRIC}").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("<stdin>:1: ok: GeneralScaler snippet"), "{}", stdout(&out));
}

#[test]
fn unreadable_files_and_bad_usage_exit_2() {
    let out = validate(&[Path::new("/nonexistent/scaler.yaml")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("gscale: cannot read /nonexistent/scaler.yaml"), "{err}");
    assert!(err.contains("hint: check the path"), "{err}");

    let out = Command::new(BIN).arg("validate").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no -f is a usage error");
}

/// A reader that stops early (`| head -1`) ends validate quietly, not with a panic.
#[test]
fn a_closed_stdout_ends_quietly() {
    let mut child = Command::new(BIN)
        .args(["validate", "-f", "examples/http-service/generalscaler.yaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `gscale validate FILE` works without -f, as linters take files.
#[test]
fn files_may_be_given_without_dash_f() {
    let out = Command::new(BIN)
        .args([
            "validate",
            "examples/http-service/generalscaler.yaml",
            "-f",
            "examples/worker-service/generalscaler.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).contains("2 files, 2 scalers"), "{}", stdout(&out));
}
