//! One file per subcommand: each turns its parsed flags into settings and does the work.
//!
//! Commands return the process exit code for outcomes that are not errors (`validate` finding an
//! invalid manifest returns 1); errors go up to `main`, which prints them and maps the exit code.

mod demo;
pub mod generate;
mod input;
mod install_crd;
mod plan;
mod run;
mod sandbox;
mod simulate;
mod status;
mod validate;

use std::fmt;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::cli::{Cli, Command, KubeFlags, exit};

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
        Command::InstallCrd(args) => install_crd::run(&args, &cli.kube).await,
        Command::Run(args) => run::run(&args, &cli.kube).await,
        Command::Plan(args) => plan::run(&args, &cli.kube).await,
        Command::Status(args) => status::run(&args, &cli.kube).await,
        Command::Simulate(args) => simulate::run(&args),
        Command::Demo(args) => demo::run(&args).await,
        Command::Completions(args) => generate::print_completions(args.shell),
        Command::Man => generate::print_man(),
        Command::Generate(args) => generate::write_all(&args.dir),
        Command::Sandbox(args) => sandbox::run(&args, &cli.kube).await,
    }
}

/// The exit code for an error that reached `main`.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.is::<UsageError>()) { exit::USAGE } else { exit::FAILURE }
}

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

/// A kube client from the kubeconfig flags, found the way kubectl finds it, and the server's URL.
pub async fn client(flags: &KubeFlags) -> anyhow::Result<(kube::Client, String)> {
    const PICK: &str = "check --context, --cluster and --user against `kubectl config view`";
    let options = KubeConfigOptions {
        context: flags.context.clone(),
        cluster: flags.cluster.clone(),
        user: flags.user.clone(),
    };
    let config = match &flags.kubeconfig {
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
    let client = kube::Client::try_from(config)
        .map_err(|e| failed(format_args!("cannot build a client for {server}"), &e, PICK))?;
    Ok((client, server))
}

/// Put a Kubernetes API error in words a person can act on.
pub fn explain_kube_error(err: kube::Error, action: &str, server: &str) -> anyhow::Error {
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
