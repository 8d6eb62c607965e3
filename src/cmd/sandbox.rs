//! `gscale sandbox` (hidden): serve the in-memory Kubernetes API until killed, for tests and demos.

use std::time::Duration;

use crate::cli::{KubeFlags, SandboxArgs, exit};
use gscale_sandbox::{Sandbox, SandboxOptions};

pub async fn run(args: &SandboxArgs, kube: &KubeFlags) -> anyhow::Result<u8> {
    let Some(path) = &kube.kubeconfig else {
        return Err(super::UsageError(
            "gscale sandbox needs somewhere to write its kubeconfig\nhint: pass --kubeconfig FILE"
                .to_string(),
        )
        .into());
    };
    let options = SandboxOptions {
        port: args.port,
        replica_delay: Duration::from_millis(args.replica_delay_ms),
        ..SandboxOptions::default()
    };
    let sandbox = Sandbox::start(options).await.map_err(|e| {
        super::failed(
            "cannot start the sandbox API",
            &e,
            "pick another --port, or leave it out for a free one",
        )
    })?;
    sandbox.write_kubeconfig(path).map_err(|e| {
        super::failed(
            format_args!("cannot write the kubeconfig to {}", path.display()),
            &e,
            "check that the directory exists and is writable",
        )
    })?;
    eprintln!("sandbox API serving at {}; kubeconfig written to {}", sandbox.url(), path.display());
    super::shutdown_signal().await;
    Ok(exit::OK)
}
