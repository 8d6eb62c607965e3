//! `gscale install` and `uninstall` against the sandbox API: every object created, a second run
//! changes nothing and says so, a changed flag shows the changed field, uninstall removes what it
//! should and keeps the CRD and the scalers; `kubectl apply --dry-run=server` takes `--print`;
//! `examples/deploy/` is what install applies; the alert rules pass promtool.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use gscale_sandbox::{Sandbox, SandboxOptions};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gscale");
const KUBECTL: &str = "/usr/bin/kubectl";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

async fn gscale(sandbox: &Sandbox, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command.arg("--kubeconfig").arg(sandbox.kubeconfig_path()).args(args);
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Where each object of a default install lives: (group, version, plural, namespace, name).
const OBJECTS: [(&str, &str, &str, &str, &str); 11] = [
    ("", "v1", "namespaces", "", "gscale-system"),
    (
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "",
        "generalscalers.autoscaling.generalscaler.io",
    ),
    ("", "v1", "serviceaccounts", "gscale-system", "gscale"),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", "", "gscale"),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "", "gscale"),
    ("rbac.authorization.k8s.io", "v1", "roles", "gscale-system", "gscale-leader-election"),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", "gscale-system", "gscale-leader-election"),
    ("", "v1", "services", "gscale-system", "gscale-metrics"),
    ("apps", "v1", "deployments", "gscale-system", "gscale"),
    ("policy", "v1", "poddisruptionbudgets", "gscale-system", "gscale"),
    ("coordination.k8s.io", "v1", "leases", "gscale-system", "gscale-leader"),
];

fn peek(
    sandbox: &Sandbox,
    (group, version, plural, ns, name): (&str, &str, &str, &str, &str),
) -> Option<Value> {
    sandbox.peek(group, version, plural, ns, name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_is_idempotent_shows_changes_and_uninstall_keeps_the_scalers() {
    let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let out = gscale(&sandbox, &["install", "--image", "registry.example/gscale:1", "--wait", "20"]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.lines().filter(|l| l.ends_with(" created")).count(), 10, "{stdout}");
    for object in &OBJECTS[..10] {
        assert!(peek(&sandbox, *object).is_some(), "{object:?} was not created:\n{stdout}");
    }
    let deployment = peek(&sandbox, OBJECTS[8]).unwrap();
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["image"], "registry.example/gscale:1");
    assert_eq!(pod["serviceAccountName"], "gscale");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(deployment["spec"]["replicas"], 2);
    let appliers: Vec<&str> = deployment["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["operation"] == "Apply")
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert_eq!(appliers, ["gscale"], "server-side apply with gscale's field manager");

    // Again: nothing written, and said so.
    sandbox.clear_requests();
    let out = gscale(&sandbox, &["install", "--image", "registry.example/gscale:1", "--wait", "20"]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.lines().filter(|l| l.ends_with(" unchanged")).count(), 10, "{stdout}");
    assert!(stderr.contains("nothing changed"), "{stderr}");
    let writes: Vec<String> = sandbox
        .requests()
        .iter()
        .filter(|r| !matches!(r.verb.as_str(), "get" | "list" | "watch") && !r.query.contains("dryRun=All"))
        .map(|r| format!("{} {}", r.verb, r.path))
        .collect();
    assert!(writes.is_empty(), "a second install writes nothing: {writes:?}");

    // A changed flag: that field, and only that object.
    let out = gscale(&sandbox, &["install", "--image", "registry.example/gscale:1", "--replicas", "3"]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("deployment.apps/gscale configured\n    ~ spec.replicas: 2 -> 3\n"), "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.ends_with(" unchanged")).count(), 9, "{stdout}");
    assert_eq!(peek(&sandbox, OBJECTS[8]).unwrap()["spec"]["replicas"], 3);

    // A scaler and a Lease, as a running daemon leaves them; then uninstall.
    let client = sandbox.client();
    let scalers: kube::Api<gscale::api::GeneralScaler> = kube::Api::namespaced(client.clone(), "default");
    let scaler = serde_json::json!({
        "apiVersion": gscale::api::API_VERSION, "kind": "GeneralScaler", "metadata": {"name": "web"},
        "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5,
                 "metric": {"type": "http", "targetValue": 1, "http": {"url": "http://127.0.0.1:9/m", "valuePath": "/v"}}},
    });
    scalers.create(&Default::default(), &serde_json::from_value(scaler).unwrap()).await.unwrap();
    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(client.clone(), "gscale-system");
    let lease =
        serde_json::json!({"metadata": {"name": "gscale-leader"}, "spec": {"holderIdentity": "gscale-0"}});
    leases.create(&Default::default(), &serde_json::from_value(lease).unwrap()).await.unwrap();
    let out = gscale(&sandbox, &["uninstall"]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    for object in OBJECTS.iter().filter(|o| o.2 != "customresourcedefinitions") {
        assert!(peek(&sandbox, *object).is_none(), "{object:?} is left:\n{stdout}");
    }
    assert!(peek(&sandbox, OBJECTS[1]).is_some(), "the CRD stays");
    assert!(scalers.get_opt("web").await.unwrap().is_some(), "the scalers stay");
    assert!(stderr.contains("kept: customresourcedefinition.apiextensions.k8s.io/generalscalers.autoscaling.generalscaler.io and 1 GeneralScaler(s) (pass --crd"), "{stderr}");

    // With --crd, the CRD goes and the scalers with it.
    let out = gscale(&sandbox, &["uninstall", "--crd"]).await;
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(peek(&sandbox, OBJECTS[1]).is_none(), "the CRD is deleted with --crd");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_not_made_by_install_is_neither_labelled_nor_deleted() {
    let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let out = gscale(&sandbox, &["install", "-n", "default", "--wait", "20"]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("namespace/default exists and is not gscale's: left as it is"), "{stdout}");
    let ns = sandbox.peek("", "v1", "namespaces", "", "default").unwrap();
    assert!(ns["metadata"]["labels"]["app.kubernetes.io/managed-by"].is_null(), "{ns}");
    assert!(sandbox.peek("apps", "v1", "deployments", "default", "gscale").is_some());
    let out = gscale(&sandbox, &["uninstall", "-n", "default"]).await;
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(sandbox.peek("", "v1", "namespaces", "", "default").is_some(), "default stays");
    assert!(sandbox.peek("apps", "v1", "deployments", "default", "gscale").is_none());
    assert!(stderr.contains("kept: namespace/default (not made by gscale install)"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_takes_print_in_a_server_side_dry_run() {
    let Some(kubectl) = common::require(KUBECTL, "kubectl apply --dry-run=server of install --print") else {
        return;
    };
    let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let dir = common::TempDir::new("install-print");
    let (config, home) = (sandbox.kubeconfig_path().to_path_buf(), dir.path().to_path_buf());
    let kubectl = move |args: &[&str]| {
        let out = Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(&config)
            .arg("--cache-dir")
            .arg(home.join("cache"))
            .args(args)
            .env("HOME", &home)
            .env_remove("KUBECONFIG")
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "kubectl {args:?}:\n{stdout}\n{stderr}");
        stdout
    };
    // The Prometheus Operator's CRDs (for the ServiceMonitor and the PrometheusRule), and the
    // namespace and CRD the dry run's namespaced objects and their kinds need to exist.
    let operator = root().join("tests/fixtures/prometheus-operator-crds.yaml");
    let dir_path = dir.path().to_path_buf();
    let printed = Command::new(BIN)
        .args(["install", "--print", "--service-monitor", "--prometheus-rule"])
        .output()
        .unwrap();
    assert!(printed.status.success());
    std::fs::write(dir_path.join("install.yaml"), &printed.stdout).unwrap();
    let file = dir_path.join("install.yaml").to_string_lossy().into_owned();
    tokio::task::spawn_blocking(move || {
        kubectl(&["apply", "-f", operator.to_str().unwrap()]);
        // A server-side dry run of a namespaced object needs its namespace; the CRD is applied
        // for real so that its kind exists too (as `gscale install` would have applied it first).
        kubectl(&["create", "namespace", "gscale-system"]);
        kubectl(&["apply", "-f", root().join("examples/crd.yaml").to_str().unwrap()]);
        let out = kubectl(&["apply", "--dry-run=server", "-f", &file]);
        assert_eq!(out.lines().count(), 12, "one line per object:\n{out}");
        assert!(out.lines().all(|l| l.ends_with("(server dry run)")), "{out}");
        assert!(out.contains("poddisruptionbudget.policy/gscale created (server dry run)"), "{out}");
        assert!(
            out.contains("prometheusrule.monitoring.coreos.com/gscale created (server dry run)"),
            "{out}"
        );
    })
    .await
    .unwrap();
}

#[test]
fn examples_deploy_is_what_install_applies() {
    for (name, text) in gscale::install::example_files() {
        let committed =
            std::fs::read_to_string(root().join("examples/deploy").join(name)).unwrap_or_default();
        assert!(
            committed == text,
            "examples/deploy/{name} drifted from src/install.rs; run `cargo run -- generate .` and commit"
        );
    }
}

#[test]
fn alert_rules_pass_promtool_check_and_unit_tests() {
    let Some(promtool) = common::require("promtool", "promtool check rules and test rules") else { return };
    let deploy = root().join("deploy");
    let out =
        Command::new(&promtool).arg("check").arg("rules").arg(deploy.join("alerts.yaml")).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "promtool check rules:\n{stdout}\n{stderr}");
    assert!(stdout.contains("SUCCESS: 9 rules found"), "{stdout}");
    let out = Command::new(&promtool)
        .arg("test")
        .arg("rules")
        .arg("alerts-test.yaml")
        .current_dir(&deploy)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "promtool test rules:\n{stdout}\n{stderr}");
    // Every alert has a unit test that expects it to fire.
    let tests = std::fs::read_to_string(deploy.join("alerts-test.yaml")).unwrap();
    let rules = std::fs::read_to_string(deploy.join("alerts.yaml")).unwrap();
    for alert in rules.lines().filter_map(|l| l.trim().strip_prefix("- alert: ")) {
        let firing =
            tests.split("alertname: ").skip(1).any(|t| t.starts_with(alert) && t.contains("exp_labels"));
        assert!(firing, "no unit test sees {alert} fire");
    }
    // The PrometheusRule of install carries the same groups.
    let settings = gscale::install::InstallSettings { prometheus_rule: true, ..Default::default() };
    let rule = gscale::install::prometheus_rule(&settings);
    assert_eq!(rule["spec"]["groups"][0]["rules"].as_array().unwrap().len(), 9);
}
