//! The sandbox against real clients outside this process: `/usr/bin/kubectl` (apply with
//! validation, get with printer columns, scale, describe with Events) and the built `gscale`
//! binary (`install-crd`, `sandbox`).
//!
//! A missing kubectl is a visible skip, or a failure in CI (`common::require`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use gscale_sandbox::{Sandbox, SandboxOptions};
use kube::Resource;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::wait::await_condition;

const KUBECTL: &str = "/usr/bin/kubectl";
const DEADLINE: Duration = Duration::from_secs(30);

/// kubectl, or a visible skip (a failure in CI).
fn kubectl_available() -> bool {
    common::require(KUBECTL, "kubectl against the sandbox").is_some()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gscale-kubectl-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Run a command off the async runtime (the sandbox serves on it meanwhile).
async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("the command starts")).await.unwrap()
}

/// kubectl against `sb`, with its cache and home in `dir`.
fn kubectl_command(sb: &Sandbox, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(KUBECTL);
    command
        .arg("--kubeconfig")
        .arg(sb.kubeconfig_path())
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(args)
        .env("HOME", dir)
        .env_remove("KUBECONFIG");
    command
}

async fn kubectl(sb: &Sandbox, dir: &Path, args: &[&str]) -> String {
    let out = run(kubectl_command(sb, dir, args)).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kubectl {args:?} failed:\n{stdout}\n{stderr}");
    stdout
}

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-app
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: my-app}
  template:
    metadata:
      labels: {app: my-app}
    spec:
      containers:
      - name: app
        image: nginx
";

/// The first example of the original README, unchanged.
fn reference_scaler() -> String {
    let readme = std::fs::read_to_string("/work/shared/reference/generalscaler-original-README.md").ok();
    let from_readme = readme.and_then(|text| {
        let start =
            text.find("```yaml\napiVersion: autoscaling.generalscaler.io/v1alpha1")? + "```yaml\n".len();
        let end = start + text[start..].find("```")?;
        Some(text[start..end].to_string())
    });
    from_readme.unwrap_or_else(|| {
        "apiVersion: autoscaling.generalscaler.io/v1alpha1\nkind: GeneralScaler\nmetadata:\n  name: my-app-scaler\n  namespace: default\nspec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: my-app}\n  minReplicas: 2\n  maxReplicas: 20\n  metric:\n    type: prometheus\n    targetValue: 100\n    prometheus: {serverUrl: 'http://prometheus:9090', query: 'up'}\n".to_string()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_gets_scales_and_describes() {
    if !kubectl_available() {
        return;
    }
    let sb = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let dir = scratch("flow");
    std::fs::write(dir.join("crd.yaml"), gscale::api::crd_yaml()).unwrap();
    std::fs::write(dir.join("deploy.yaml"), DEPLOYMENT).unwrap();
    std::fs::write(dir.join("scaler.yaml"), reference_scaler()).unwrap();
    let file = |n: &str| dir.join(n).to_string_lossy().into_owned();

    let out = kubectl(&sb, &dir, &["apply", "-f", &file("crd.yaml")]).await;
    assert!(out.contains("customresourcedefinition.apiextensions.k8s.io/generalscalers.autoscaling.generalscaler.io created"), "{out}");
    let out = kubectl(&sb, &dir, &["apply", "-f", &file("deploy.yaml")]).await;
    assert!(out.contains("deployment.apps/my-app created"), "{out}");
    let out = kubectl(&sb, &dir, &["apply", "-f", &file("scaler.yaml")]).await;
    assert!(out.contains("generalscaler.autoscaling.generalscaler.io/my-app-scaler created"), "{out}");
    let out = kubectl(&sb, &dir, &["apply", "-f", &file("scaler.yaml")]).await;
    assert!(out.contains("my-app-scaler unchanged"), "{out}");
    let requests = sb.requests();
    assert!(
        requests.iter().any(|r| r.query.contains("fieldValidation=Strict")),
        "kubectl validated on the server"
    );

    let out = kubectl(&sb, &dir, &["get", "gsc"]).await;
    let header: Vec<&str> = out.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "TARGET", "MIN", "MAX", "CURRENT", "DESIRED", "METRIC", "READY", "AGE"],
        "{out}"
    );
    let row: Vec<&str> = out.lines().nth(1).unwrap_or_default().split_whitespace().collect();
    assert_eq!(&row[..4], ["my-app-scaler", "my-app", "2", "20"], "{out}");

    let out = kubectl(&sb, &dir, &["scale", "deployment", "my-app", "--replicas=3"]).await;
    assert!(out.contains("deployment.apps/my-app scaled"), "{out}");
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = Api::default_namespaced(sb.client());
    let ready =
        await_condition(deployments, "my-app", |d: Option<&k8s_openapi::api::apps::v1::Deployment>| {
            d.and_then(|d| d.status.as_ref()).is_some_and(|s| s.ready_replicas == Some(3))
        });
    tokio::time::timeout(DEADLINE, ready).await.unwrap().unwrap();
    let out = kubectl(&sb, &dir, &["get", "deploy"]).await;
    let row: Vec<&str> = out.lines().nth(1).unwrap_or_default().split_whitespace().collect();
    assert_eq!(&row[..4], ["my-app", "3/3", "3", "3"], "{out}");

    let client = sb.client();
    let gvk = GroupVersionKind::gvk(gscale::api::GROUP, gscale::api::VERSION, gscale::api::KIND);
    let scalers: Api<DynamicObject> = Api::default_namespaced_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk, "generalscalers"),
    );
    let scaler = scalers.get("my-app-scaler").await.unwrap();
    let recorder =
        Recorder::new(client, Reporter { controller: "gscale".into(), instance: Some("test".into()) });
    let event = Event {
        type_: EventType::Normal,
        reason: "ScaledUp".into(),
        note: Some("scaled my-app from 2 to 3".into()),
        action: "Scale".into(),
        secondary: None,
    };
    recorder
        .publish(&event, &scaler.object_ref(&ApiResource::from_gvk_with_plural(&gvk, "generalscalers")))
        .await
        .unwrap();
    let out = kubectl(&sb, &dir, &["describe", "gsc", "my-app-scaler"]).await;
    assert!(out.contains("Max Replicas:"), "{out}");
    let events = &out[out.find("Events:").expect("an Events section")..];
    assert!(events.contains("ScaledUp") && events.contains("scaled my-app from 2 to 3"), "{out}");

    let out =
        kubectl(&sb, &dir, &["get", "gsc", "my-app-scaler", "-o", "jsonpath={.metadata.generation}"]).await;
    assert_eq!(out, "1");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_gets_errors_from_validation() {
    if !kubectl_available() {
        return;
    }
    let sb = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let dir = scratch("invalid");
    std::fs::write(dir.join("crd.yaml"), gscale::api::crd_yaml()).unwrap();
    kubectl(&sb, &dir, &["apply", "-f", &dir.join("crd.yaml").to_string_lossy()]).await;
    let bad = reference_scaler().replace("minReplicas: 2", "minReplicas: 2\n  bogusField: 1");
    std::fs::write(dir.join("bad.yaml"), bad).unwrap();
    let mut command = Command::new(KUBECTL);
    command
        .args(["--kubeconfig"])
        .arg(sb.kubeconfig_path())
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(["apply", "-f"])
        .arg(dir.join("bad.yaml"));
    let out = run(command).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("unknown field \"spec.bogusField\""), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn gscale() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gscale"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_crd_applies_and_waits_for_established() {
    let sb = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let mut command = gscale();
    command.arg("--kubeconfig").arg(sb.kubeconfig_path()).args(["install-crd", "--wait", "20"]);
    let out = run(command).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("applied and established"), "{stderr}");
    let crd = sb.peek("apiextensions.k8s.io", "v1", "customresourcedefinitions", "", gscale::api::CRD_NAME);
    let crd = crd.expect("the CRD is stored");
    assert_eq!(crd["status"]["conditions"][1]["type"], "Established");
    assert!(
        sb.count_requests(|r| r.verb == "patch" && r.query.contains("fieldManager=gscale")) >= 1,
        "server-side apply"
    );

    let mut again = gscale();
    again.arg("--kubeconfig").arg(sb.kubeconfig_path()).args(["install-crd", "--wait", "20"]);
    assert!(run(again).await.status.success(), "applying twice is fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_crd_explains_a_403() {
    let sb = Sandbox::start(SandboxOptions::default()).await.unwrap();
    sb.faults().forbid("patch", "apiextensions.k8s.io", "customresourcedefinitions");
    let mut command = gscale();
    command.arg("--kubeconfig").arg(sb.kubeconfig_path()).args(["install-crd", "--wait", "5"]);
    let out = run(command).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("forbidden"), "{stderr}");
    assert!(stderr.contains("cannot patch resource \"customresourcedefinitions\""), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_subcommand_writes_a_working_kubeconfig() {
    let dir = scratch("subcommand");
    let path = dir.join("kubeconfig");
    let mut child = gscale()
        .arg("--kubeconfig")
        .arg(&path)
        .arg("sandbox")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gscale starts");
    // The subcommand announces itself on stderr once the kubeconfig is written.
    let stderr = child.stderr.take().expect("stderr is piped");
    let announced = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stderr), &mut line).map(|_| line)
    });
    let waited = tokio::time::timeout(DEADLINE, announced).await;
    let result = async {
        let line = waited
            .map_err(|_| "no announcement".to_string())?
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if !line.contains("kubeconfig written") {
            return Err(format!("unexpected announcement: {line}"));
        }
        let config = kube::config::Kubeconfig::read_from(&path).map_err(|e| e.to_string())?;
        let options = kube::config::KubeConfigOptions::default();
        let config =
            kube::Config::from_custom_kubeconfig(config, &options).await.map_err(|e| e.to_string())?;
        let client = kube::Client::try_from(config).map_err(|e| e.to_string())?;
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
        let list = namespaces.list(&Default::default()).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(list.items.len())
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(result.unwrap() >= 2, "default and kube-system exist");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_generators_work_for_namespaces_configmaps_and_secrets() {
    if !kubectl_available() {
        return;
    }
    let sb = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let dir = scratch("create");
    assert!(
        kubectl(&sb, &dir, &["create", "namespace", "team-a"]).await.contains("namespace/team-a created")
    );
    kubectl(
        &sb,
        &dir,
        &["create", "secret", "generic", "creds", "-n", "team-a", "--from-literal=password=hunter2"],
    )
    .await;
    kubectl(&sb, &dir, &["create", "configmap", "settings", "-n", "team-a", "--from-literal=mode=fast"])
        .await;
    let secret = sb.peek("", "v1", "secrets", "team-a", "creds").expect("the secret is stored");
    assert_eq!(secret["data"]["password"], "aHVudGVyMg==");
    let config = sb.peek("", "v1", "configmaps", "team-a", "settings").expect("the configmap is stored");
    assert_eq!(config["data"]["mode"], "fast");
    let _ = std::fs::remove_dir_all(&dir);
}

/// kubectl pages a `get` 500 rows at a time: every page's Table carries the continue token, so
/// all of a large list is shown, not the first 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_shows_every_row_of_a_long_list() {
    if !kubectl_available() {
        return;
    }
    let sb = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let dir = scratch("paged");
    let maps: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(sb.client(), "default");
    for i in 0..1_100 {
        let map =
            serde_json::from_value(serde_json::json!({"metadata": {"name": format!("m{i:04}")}})).unwrap();
        maps.create(&Default::default(), &map).await.unwrap();
    }
    let table = kubectl(&sb, &dir, &["get", "configmaps", "--no-headers"]).await;
    assert_eq!(table.lines().count(), 1_100, "every row, across three pages");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The fault switches and the request log over HTTP, for a client outside this process (a shell
/// test against `gscale sandbox`): a rule added by POST answers the next request, DELETE clears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_switches_and_the_request_log_over_http() {
    let sb = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let url = sb.url();
    let call = move |method: &'static str, path: &'static str, body: Option<&'static str>| {
        let url = format!("{url}{path}");
        tokio::task::spawn_blocking(move || {
            common::http_request(method, &url, body).expect("the sandbox answers")
        })
    };
    let rule = r#"{"verb": "get", "path": "/configmaps", "times": 1, "error": 503}"#;
    assert_eq!(call("POST", "/sandbox/faults", Some(rule)).await.unwrap().0, 201);
    assert_eq!(call("GET", "/api/v1/namespaces/default/configmaps/x", None).await.unwrap().0, 503);
    assert_eq!(
        call("GET", "/api/v1/namespaces/default/configmaps/x", None).await.unwrap().0,
        404,
        "once only"
    );
    let (code, log) = call("GET", "/sandbox/requests", None).await.unwrap();
    assert_eq!(code, 200);
    let log: Vec<serde_json::Value> = serde_json::from_str(&log).unwrap();
    assert!(log.iter().any(|r| r["resource"] == "configmaps" && r["status"] == 503), "{log:?}");
    let bad = call("POST", "/sandbox/faults", Some(r#"{"error": 503, "throttle": 2}"#)).await.unwrap();
    assert_eq!(bad.0, 400, "{}", bad.1);
    assert!(bad.1.contains("exactly one of"), "{}", bad.1);
    assert_eq!(call("DELETE", "/sandbox/faults", None).await.unwrap().0, 200);
}

/// An object of a kind the server does not serve: kubectl falls back to OpenAPI v2 for it, and then
/// says what a real API server makes it say, not "failed to download openapi".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applying_an_unknown_kind_says_no_matches_for_kind() {
    if !kubectl_available() {
        return;
    }
    let sb = Sandbox::start(SandboxOptions::default()).await.unwrap();
    let dir = scratch("unknown-kind");
    let file = dir.join("widget.yaml");
    std::fs::write(&file, "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n").unwrap();
    let out = run(kubectl_command(&sb, &dir, &["apply", "-f", file.to_str().unwrap()])).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(r#"no matches for kind "Widget" in version "example.com/v1""#), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
