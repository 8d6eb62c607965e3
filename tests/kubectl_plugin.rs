//! `kubectl gscale`: the gscale binary found on PATH as `kubectl-gscale`, run by a real kubectl
//! against the sandbox, with kubectl's --kubeconfig, --context and -n, and $KUBECONFIG.

mod common;

use std::process::Command;

use common::cluster::Cluster;

const KUBECTL: &str = "/usr/bin/kubectl";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_gscale_status_works_through_kubectl() {
    let Some(kubectl) = common::require(KUBECTL, "kubectl gscale") else { return };
    let cluster = Cluster::start().await;
    cluster.deployment("web", 2).await;
    cluster
        .apply_scaler(
            "web",
            serde_json::json!({"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "maxReplicas": 5, "metric": {"type": "http", "targetValue": 1,
                "http": {"url": "http://127.0.0.1:9/m", "valuePath": "/v"}}}),
        )
        .await;
    let bin = common::TempDir::new("kubectl-plugin");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_gscale"), bin.path().join("kubectl-gscale")).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    let kubeconfig = cluster.kubeconfig();
    let home = bin.path().to_path_buf();
    let run = move |args: &[&str], env_kubeconfig: bool| {
        let mut command = Command::new(&kubectl);
        command.args(args).env("PATH", &path).env("HOME", &home).env_remove("KUBECONFIG");
        if env_kubeconfig {
            command.env("KUBECONFIG", &kubeconfig);
        } else {
            command.arg("--kubeconfig").arg(&kubeconfig);
        }
        let out = command.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    tokio::task::spawn_blocking(move || {
        let (code, stdout, stderr) =
            run(&["gscale", "status", "-n", "default", "--context", "sandbox"], false);
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        let header: Vec<&str> = stdout.lines().next().unwrap_or_default().split_whitespace().collect();
        assert_eq!(header.first(), Some(&"NAME"), "{stdout}");
        assert!(stdout.lines().nth(1).unwrap_or_default().starts_with("web "), "{stdout}");

        // $KUBECONFIG, as kubectl passes its environment on; -A for every namespace.
        let (code, stdout, stderr) = run(&["gscale", "status", "-A"], true);
        assert_eq!(code, Some(0), "{stderr}");
        assert!(stdout.contains("web"), "{stdout}");

        // --context is honoured: a context the kubeconfig lacks is an error naming it.
        let (code, _, stderr) = run(&["gscale", "status", "--context", "elsewhere"], false);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("elsewhere"), "{stderr}");

        // Help and usage errors call it what the user typed.
        let (code, stdout, _) = run(&["gscale", "--help"], false);
        assert_eq!(code, Some(0));
        assert!(stdout.contains("Usage: kubectl gscale"), "{stdout}");
    })
    .await
    .unwrap();
}
