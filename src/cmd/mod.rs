//! One file per subcommand: each turns its parsed flags into settings and does the work.
//!
//! Commands return the process exit code for outcomes that are not errors (`validate` finding an
//! invalid manifest returns 1); errors go up to `main`, which prints them and maps the exit code.

#[cfg(feature = "demo")]
mod demo;
pub mod generate;
mod import;
mod input;
mod install;
mod install_crd;
mod plan;
mod run;
#[cfg(feature = "demo")]
mod sandbox;
mod simulate;
mod status;
mod validate;

use std::fmt;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::cli::{Cli, Command, KubeFlags, exit};
pub use crate::explain::{chain, failed, kube_error as explain_kube_error};

/// An error that is the caller's doing: bad flags or input that cannot be read. Exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Run the parsed command line; the exit code on success.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Install(args) => install::install(&args, &cli.kube).await,
        Command::Uninstall(args) => install::uninstall(&args, &cli.kube).await,
        Command::InstallCrd(args) => install_crd::run(&args, &cli.kube).await,
        Command::Run(args) => run::run(&args, &cli.kube).await,
        Command::Plan(args) => plan::run(&args, &cli.kube).await,
        Command::Status(args) => status::run(&args, &cli.kube).await,
        Command::Simulate(args) => simulate::run(&args),
        #[cfg(feature = "demo")]
        Command::Demo(args) => demo::run(&args).await,
        Command::Import(args) => import::run(&args, &cli.kube).await,
        Command::Completions(args) => generate::print_completions(args.shell),
        Command::Man => generate::print_man(),
        Command::Generate(args) => generate::write_all(&args.dir),
        #[cfg(feature = "demo")]
        Command::Sandbox(args) => sandbox::run(&args, &cli.kube).await,
        #[cfg(not(feature = "demo"))]
        Command::Demo(_) | Command::Sandbox(_) => Err(UsageError(
            "this gscale was built without the sandbox API (cargo feature `demo`)\nhint: build with default features for `gscale demo`"
                .to_string(),
        )
        .into()),
    }
}

/// The exit code for an error that reached `main`.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.is::<UsageError>()) { exit::USAGE } else { exit::FAILURE }
}

/// A kube client from the kubeconfig flags, found the way kubectl finds it, and the server's URL;
/// every call but a watch has [`crate::controller::calls::DEFAULT_REQUEST_TIMEOUT`].
pub async fn client(flags: &KubeFlags) -> anyhow::Result<(kube::Client, String)> {
    let (config, server) = config(flags).await?;
    let builder = kube::client::ClientBuilder::try_from(config)
        .map_err(|e| failed(format_args!("cannot build a client for {server}"), &e, KUBECONFIG_PICK))?;
    let calls = crate::controller::calls::Calls::new(crate::controller::calls::DEFAULT_REQUEST_TIMEOUT);
    Ok((builder.with_layer(&calls).build(), server))
}

/// [`client`], its calls (watches aside) each with `deadline` for their whole reply, and with
/// `layer` in its stack (the daemon counts its API requests so). Its User-Agent names `identity`
/// (`gscale/VERSION (identity)`), so an audit log tells the replicas apart.
pub async fn client_with(
    flags: &KubeFlags,
    layer: &crate::controller::telemetry::CountedLayer,
    deadline: Duration,
    identity: &str,
) -> anyhow::Result<(kube::Client, String)> {
    let (mut config, server) = config(flags).await?;
    let agent = format!("gscale/{} ({identity})", env!("CARGO_PKG_VERSION"));
    if let Ok(agent) = http::HeaderValue::from_str(&agent) {
        config.headers.retain(|(name, _)| name != http::header::USER_AGENT);
        config.headers.push((http::header::USER_AGENT, agent));
    }
    let builder = kube::client::ClientBuilder::try_from(config)
        .map_err(|e| failed(format_args!("cannot build a client for {server}"), &e, KUBECONFIG_PICK))?;
    let calls = crate::controller::calls::Calls::new(deadline);
    Ok((builder.with_layer(&calls).with_layer(layer).build(), server))
}

const KUBECONFIG_PICK: &str = "check --context, --cluster and --user against `kubectl config view`";

/// The client configuration the kubeconfig flags pick, and the server's URL.
async fn config(flags: &KubeFlags) -> anyhow::Result<(kube::Config, String)> {
    const PICK: &str = KUBECONFIG_PICK;
    let options = KubeConfigOptions {
        context: flags.context.clone(),
        cluster: flags.cluster.clone(),
        user: flags.user.clone(),
    };
    let mut config = match &flags.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|e| {
                failed(
                    format_args!("cannot read kubeconfig {}", path.display()),
                    &e,
                    "check the path given to --kubeconfig",
                )
            })?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| failed(format_args!("kubeconfig {} cannot be used", path.display()), &e, PICK))?
        }
        None if options.context.is_none() && options.cluster.is_none() && options.user.is_none() => {
            kube::Config::infer().await.map_err(|e| {
                failed(
                    "no cluster configured",
                    &e,
                    "pass --kubeconfig FILE, set KUBECONFIG, or run inside a pod with a service account",
                )
            })?
        }
        None => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| failed("kubeconfig cannot be used", &e, PICK))?,
    };
    let server = config.cluster_url.to_string();
    // Named in the API server's audit log (and the sandbox's request log) as gscale, not as kube-rs.
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(concat!("gscale/", env!("CARGO_PKG_VERSION"))),
    ));
    // No retries hidden inside a call: kube's retry layer obeys any Retry-After and backs off for
    // minutes, past a Lease's deadline and with nothing logged. gscale retries itself, capped,
    // logged and reported in status.
    config.default_retry = false;
    Ok((config, server))
}

/// Resolves at the first SIGTERM or Ctrl-C: the shutdown future `run`, `demo` and `sandbox` hand on.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = ctrl_c.await;
}
