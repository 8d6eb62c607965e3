//! How errors read: a cause chain on one line, and Kubernetes API errors in words a person can act
//! on. A leaf module: the controller and every subcommand use it, and it uses nothing of the crate.

use std::fmt;

/// An error and its causes on one line, `a: b: c`, skipping a cause its parent already quoted.
/// An API error reads as the API server said it (`the API server answered 500 InternalError:
/// etcd timeout`), not as kube's debug dump of it; the chain ends there.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let (part, last) = match e.downcast_ref::<kube::Error>() {
            Some(kube::Error::Api(status)) => (api_status(status), true),
            _ => (e.to_string(), false),
        };
        if !text.ends_with(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        next = if last { None } else { e.source() };
    }
    text
}

/// An API server's Status in words: its code, its reason and its message.
fn api_status(status: &kube::core::Status) -> String {
    let mut text = format!("the API server answered {}", status.code);
    if !status.reason.is_empty() {
        text.push(' ');
        text.push_str(&status.reason);
    }
    if !status.message.is_empty() {
        text.push_str(": ");
        text.push_str(&status.message);
    }
    text
}

/// An error in three parts: what failed, why (the whole cause chain), and what to do.
pub fn failed(
    what: impl fmt::Display,
    cause: &(dyn std::error::Error + 'static),
    hint: &str,
) -> anyhow::Error {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("status write failed")]
    struct Outer(#[source] kube::Error);

    #[test]
    fn api_errors_read_as_the_server_said_them() {
        let status =
            kube::core::Status::failure("etcdserver: request timed out", "InternalError").with_code(500);
        let text = chain(&Outer(kube::Error::Api(Box::new(status))));
        assert_eq!(
            text,
            "status write failed: the API server answered 500 InternalError: etcdserver: request timed out"
        );
        assert!(!text.contains("Status {"), "no debug dump: {text}");
    }
}
