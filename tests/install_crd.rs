//! `gscale install-crd` without a cluster: `--print` needs none, and an unreachable cluster gets a
//! message that says which server and what to check. (Against a live API: tests/sandbox_*.rs.)

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_gscale");

#[test]
fn print_needs_no_cluster() {
    let out =
        Command::new(BIN).args(["install-crd", "--print", "--kubeconfig", "/nonexistent"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("apiVersion: apiextensions.k8s.io/v1\n"));
}

#[test]
fn an_unreachable_cluster_is_named_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    // Port 9 on loopback: nothing listens there, the connection is refused at once.
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:9\n\
         contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n",
    )
    .unwrap();
    let out = Command::new(BIN).args(["install-crd", "--kubeconfig"]).arg(&kubeconfig).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("gscale: cannot reach the cluster at http://127.0.0.1:9/"), "{err}");
    assert!(err.contains("\nhint: check that the cluster is up"), "{err}");
    assert!(!err.contains("panicked") && !err.contains("Error {"), "no Debug dumps: {err}");
}

#[test]
fn a_missing_kubeconfig_is_a_clear_error() {
    let out =
        Command::new(BIN).args(["install-crd", "--kubeconfig", "/nonexistent/kubeconfig"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("gscale: cannot read kubeconfig /nonexistent/kubeconfig"), "{err}");
    assert!(err.contains("hint: check the path given to --kubeconfig"), "{err}");
}
