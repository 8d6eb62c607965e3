//! How errors read: a cause chain on one line, and Kubernetes API errors in words a person can act
//! on. A leaf module: the controller and every subcommand use it, and it uses nothing of the crate.

use std::fmt;

/// An error and its causes on one line, `a: b: c`, skipping a cause its parent already quoted.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}

/// An error in three parts: what failed, why (the whole cause chain), and what to do.
pub fn failed(what: impl fmt::Display, cause: &dyn std::error::Error, hint: &str) -> anyhow::Error {
    anyhow::anyhow!("{what}: {}\nhint: {hint}", chain(cause))
}

/// Put a Kubernetes API error in words a person can act on.
pub fn kube_error(err: kube::Error, action: &str, server: &str) -> anyhow::Error {
    match err {
        kube::Error::Api(status) if status.code == 403 => anyhow::anyhow!(
            "forbidden: the cluster refused to let you {action}: {}\nhint: ask a cluster admin to grant it, or to run this command for you",
            status.message
        ),
        kube::Error::Api(status) if status.code == 401 => anyhow::anyhow!(
            "unauthorized: the cluster did not accept your credentials\nhint: refresh them (e.g. your cloud's get-credentials command) or pick another --context"
        ),
        kube::Error::Api(status) => {
            anyhow::anyhow!(
                "the cluster refused to {action}: {} ({} {})",
                status.message,
                status.code,
                status.reason
            )
        }
        other => failed(
            format_args!("cannot reach the cluster at {server} to {action}"),
            &other,
            "check that the cluster is up and that --context/--kubeconfig point at it (`kubectl cluster-info` should work)",
        ),
    }
}
