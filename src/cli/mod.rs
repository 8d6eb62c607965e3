//! Command-line definitions (clap derive): flags only, no behaviour.
//!
//! Parsed flags are turned into settings by `cmd/` before anything else sees them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit codes, as documented in `--help` and the README.
pub mod exit {
    /// Success; for `validate`, every manifest is valid.
    pub const OK: u8 = 0;
    /// The command ran and found a problem: an invalid manifest, a failed operation.
    pub const FAILURE: u8 = 1;
    /// Usage error or unreadable input.
    pub const USAGE: u8 = 2;
    /// `plan`: the scaler would change the replica count now (0: it would hold).
    pub const WOULD_SCALE: u8 = 3;
}

const AFTER_HELP: &str = "\
Exit codes:
  0  success (validate: every manifest is valid)
  1  the command ran and found a problem (an invalid manifest, an unreachable cluster, a failed apply)
  2  usage error or unreadable input (a missing file, a bad flag)
  3  plan: the scaler would change the replica count now (0: it would hold)

Kubeconfig is found as kubectl finds it: --kubeconfig, then $KUBECONFIG, then ~/.kube/config,
then the in-cluster service account.";

/// gscale: autoscale Kubernetes workloads from any metric, through policies you can read.
#[derive(Debug, Parser)]
#[command(name = "gscale", version, about, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    /// Cluster access, as kubectl takes it.
    #[command(flatten)]
    pub kube: KubeFlags,

    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Kubeconfig selection, the kubectl way.
#[derive(Debug, Clone, Default, Args)]
pub struct KubeFlags {
    /// Path to the kubeconfig file.
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The kubeconfig cluster to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,
    /// The kubeconfig user to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Output format of listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A table.
    Table,
    /// A table with more columns.
    Wide,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Install or upgrade gscale in the cluster: namespace, CRD, RBAC, the daemon's Deployment, its
    /// PodDisruptionBudget and metrics Service (server-side apply, printing what changed).
    Install(InstallArgs),
    /// Remove what `gscale install` made; the CRD and the scalers stay unless --crd.
    Uninstall(UninstallArgs),
    /// Install or update the GeneralScaler CRD (server-side apply) and wait until it is Established.
    InstallCrd(InstallCrdArgs),
    /// Run the autoscaler: watch GeneralScalers, read metrics, decide, scale.
    Run(RunArgs),
    /// Show what a scaler would do now and why, stage by stage, changing nothing.
    Plan(PlanArgs),
    /// List scalers: current -> desired, metrics vs targets, last scale, conditions.
    Status(StatusArgs),
    /// Check GeneralScaler manifests offline, with line-precise messages and fixes.
    Validate(ValidateArgs),
    /// Replay a load trace through a scaler's decisions, with no cluster at all.
    #[command(long_about = SIMULATE_ABOUT)]
    Simulate(SimulateArgs),
    /// Watch gscale scale a demo workload on this machine, with no cluster.
    Demo(DemoArgs),
    /// Turn HorizontalPodAutoscalers and KEDA ScaledObjects into GeneralScalers (YAML on stdout).
    Import(ImportArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
    /// Print the man page (roff); `man -l -` reads it.
    Man,
    /// Write every completion script, man page and examples/deploy manifest into DIR (the committed copies).
    #[command(hide = true)]
    Generate(GenerateArgs),
    /// Serve an in-memory Kubernetes API on 127.0.0.1 and write its kubeconfig to --kubeconfig FILE.
    #[command(hide = true)]
    Sandbox(SandboxArgs),
}

/// `gscale sandbox` (hidden; for tests and demos).
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 (default: a free one).
    #[arg(long)]
    pub port: Option<u16>,
    /// Milliseconds before a workload's status follows a change of spec.replicas.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub replica_delay_ms: u64,
}

/// `gscale install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Print the objects as YAML and exit, touching no cluster (`| kubectl apply -f -` works).
    #[arg(long)]
    pub print: bool,
    /// Namespace of the daemon, its ServiceAccount and its leader-election Leases.
    #[arg(short = 'n', long, value_name = "NS", default_value = "gscale-system")]
    pub namespace: String,
    /// Image holding the gscale binary (the repository's Dockerfile builds it).
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// Replicas of the daemon: one leads, the others take over within the lease duration.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(i32).range(1..))]
    pub replicas: i32,
    /// Run the replicas with automatic shards (`auto`): each decides for a share of the scalers,
    /// and a stopped one's share is taken over within the lease duration.
    #[arg(long, value_name = "auto")]
    pub shards: Option<String>,
    /// CPU request of the daemon (a Kubernetes quantity).
    #[arg(long, value_name = "QUANTITY", default_value = "50m")]
    pub cpu_request: String,
    /// Memory request of the daemon.
    #[arg(long, value_name = "QUANTITY", default_value = "64Mi")]
    pub memory_request: String,
    /// Memory limit of the daemon.
    #[arg(long, value_name = "QUANTITY", default_value = "256Mi")]
    pub memory_limit: String,
    /// Also a ServiceMonitor for the metrics Service (needs the Prometheus Operator's CRDs).
    #[arg(long)]
    pub service_monitor: bool,
    /// Also a PrometheusRule with gscale's alert rules (needs the Prometheus Operator's CRDs).
    #[arg(long)]
    pub prometheus_rule: bool,
    /// Seconds to wait for the CRD to become Established (0: do not wait).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub wait: u64,
}

/// `gscale uninstall`.
#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// Namespace gscale was installed into.
    #[arg(short = 'n', long, value_name = "NS", default_value = "gscale-system")]
    pub namespace: String,
    /// Also delete the GeneralScaler CRD, and with it every scaler in the cluster.
    #[arg(long)]
    pub crd: bool,
}

/// `gscale install-crd`.
#[derive(Debug, Args)]
pub struct InstallCrdArgs {
    /// Print the CRD as YAML and exit, touching no cluster.
    #[arg(long)]
    pub print: bool,
    /// Seconds to wait for the CRD to become Established (0: do not wait).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub wait: u64,
}

/// `gscale run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Namespace to watch (default: all namespaces).
    #[arg(short = 'n', long, conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,
    /// Watch every namespace (the default).
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Only scalers with these labels (kubectl selector syntax).
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// One pass over every scaler, then exit.
    #[arg(long)]
    pub once: bool,
    /// Decide and record, never scale.
    #[arg(long)]
    pub dry_run: bool,
    /// Serve the daemon's own Prometheus metrics, /healthz and /readyz here.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,
    /// Handle only the scalers of shard i of N (hash of namespace/name), e.g. 0/2.
    #[arg(long, value_name = "I/N", conflicts_with = "shards")]
    pub shard: Option<String>,
    /// Share the scalers among every running replica (`auto`): each holds a Lease of its own, and a
    /// replica that stops has its scalers taken over by the others within the lease duration.
    #[arg(long, value_name = "auto", conflicts_with_all = ["once", "no_leader_election"])]
    pub shards: Option<String>,
    /// Run without leader election (only when one daemon is certain).
    #[arg(long)]
    pub no_leader_election: bool,
    /// Namespace of the leader-election Lease (default: $POD_NAMESPACE, else default).
    #[arg(long, value_name = "NS")]
    pub lease_namespace: Option<String>,
    /// Seconds a leader is trusted without renewing; a follower takes over after this.
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    pub lease_duration: u64,
    /// Reconciles one namespace may have in flight at once, of the daemon's 256: a namespace whose
    /// metrics all hang holds no more, and the others' scalers go on.
    #[arg(long, value_name = "N", default_value_t = 64,
        value_parser = clap::value_parser!(u64).range(1..=256))]
    pub namespace_concurrency: u64,
    /// Seconds one Kubernetes API call (a watch aside) may take before it is cut and logged; a
    /// scaler's own calls are cut sooner, at its syncIntervalSeconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout: u64,
    /// Longest metric reply read (Prometheus, HTTP, Redis), in bytes; a longer one is an error, not
    /// read on.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20,
        value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_metric_reply_bytes: u64,
    /// The most seconds one metric read may take, whatever a scaler's timeoutSeconds asks (at most
    /// 60, the CRD's maximum); lower it to bound how long a hanging backend holds its scalers.
    #[arg(long, value_name = "SECONDS", default_value_t = 60,
        value_parser = clap::value_parser!(u32).range(1..=60))]
    pub max_metric_timeout: u32,
    /// Send Prometheus and HTTP metric requests through the proxy HTTPS_PROXY, HTTP_PROXY, ALL_PROXY
    /// and NO_PROXY name (without it they ignore those variables); the host policy still applies to
    /// each target host.
    #[arg(long)]
    pub metric_proxy_from_environment: bool,
    /// Let metric URLs reach this address, network (CIDR) or host name, though a default denies it
    /// (link-local and cloud metadata are denied by default); repeatable, or comma-separated.
    #[arg(long, value_name = "HOST|CIDR")]
    pub allow_metric_host: Vec<String>,
    /// Keep metric URLs from reaching this address, network (CIDR) or host name; the most specific
    /// rule wins (deny 0.0.0.0/0 and allow a few networks for an allow list); repeatable.
    #[arg(long, value_name = "HOST|CIDR")]
    pub deny_metric_host: Vec<String>,
}

/// `gscale plan`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("scaler").required(true).args(["name", "file"])))]
pub struct PlanArgs {
    /// The scaler's name in the cluster.
    pub name: Option<String>,
    /// A scaler manifest not applied yet.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Namespace of the scaler.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// With -f: the replica count to plan from when the target does not exist yet.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub current: Option<i32>,
    /// Replay this much history (e.g. 24h): Prometheus's, or Cloud Monitoring's for Pub/Sub. A
    /// forecasting scaler starts from the days before it, as the daemon would have backfilled them.
    #[arg(long, value_name = "DURATION")]
    pub replay: Option<String>,
    /// Replay step (e.g. 1m).
    #[arg(long, value_name = "DURATION", default_value = "1m")]
    pub step: String,
    /// Write the replay as an SVG plot.
    #[arg(long, value_name = "FILE", requires = "replay")]
    pub plot: Option<PathBuf>,
    /// With --replay: step a reference autoscaler over the same history beside gscale (hpa).
    #[arg(long, value_name = "REFERENCE", requires = "replay")]
    pub against: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// `gscale status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// One scaler, in detail.
    pub name: Option<String>,
    /// Namespace.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Only scalers with these labels.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Keep watching and redraw.
    #[arg(short = 'w', long)]
    pub watch: bool,
}

/// `gscale validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifests to check (multi-document YAML); `-` reads stdin.
    #[arg(short = 'f', long = "filename", value_name = "FILE", num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// More manifests, without -f.
    #[arg(value_name = "FILES", required_unless_present = "files")]
    pub more_files: Vec<PathBuf>,
    /// Print only problems, not the valid documents.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `gscale simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The scaler manifest.
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file: PathBuf,
    /// Load trace, CSV `timestamp,value`.
    #[arg(long, value_name = "CSV")]
    pub trace: PathBuf,
    /// Units one pod serves per second.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub capacity_per_pod: Option<f64>,
    /// Delay before a new pod serves (e.g. 30s).
    #[arg(long, value_name = "DURATION", default_value = "30s", allow_hyphen_values = true)]
    pub pod_start: String,
    /// Time compression, trace step = simulated step (e.g. 5m=15s).
    #[arg(long, value_name = "FROM=TO")]
    pub compress: Option<String>,
    /// Multiply demand by this factor.
    #[arg(long, value_name = "X", default_value_t = 1.0, allow_negative_numbers = true)]
    pub scale_demand: f64,
    /// Hold each trace point for its whole step (the step replay) instead of moving linearly to the next.
    #[arg(long)]
    pub hold: bool,
    /// Correlated multiplicative noise on demand, e.g. 3% or 0.03 (0: none).
    #[arg(long, value_name = "LEVEL", default_value = "0", allow_hyphen_values = true)]
    pub noise: String,
    /// How long the noise takes to forget itself.
    #[arg(long, value_name = "DURATION", default_value = "60s", allow_hyphen_values = true)]
    pub noise_correlation: String,
    /// Seed of the noise: the same seed replays the same run.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// What the metric reports of demand: auto (as its source does), instant, rate[=SCRAPE/WINDOW],
    /// period[=PERIOD+DELAY], sampled[=EVERY+DELAY].
    #[arg(long, value_name = "PIPELINE", default_value = "auto")]
    pub reading: String,
    /// Compare with a reference autoscaler.
    #[arg(long, value_name = "REFERENCE")]
    pub against: Option<String>,
    /// Write an SVG plot.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

const SIMULATE_ABOUT: &str = "Replay a load trace through a scaler's decisions, with no cluster at all.

Demand, what the pods must serve, is the trace moving linearly between its points (--hold: each point held \
for its step, the step replay), times optional correlated noise (--noise 3% --noise-correlation 1m). The \
reading, what the scaler and the HPA reference both see, comes through the source's pipeline: a Prometheus \
metric as rate() over a minute of 15 s scrapes, a Pub/Sub backlog sampled each minute and published two \
minutes late, the others at once (--reading changes it; a step replay reads at once).

BENCHMARKS.md names the family each of gscale's figures comes from: live (interpolated, noise 3% over 1m or \
8% over 5m, read through rate()), period (5-minute means published 2 minutes late), step (held, compressed \
or in real time).";

/// `gscale demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Stop after this long (e.g. 60s); default: until Ctrl-C.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Drive a real Redis list at this URL instead of the embedded HTTP metric.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// Length of one load wave (tests use a short one); the scaler's timings follow it.
    #[arg(long, value_name = "DURATION", default_value = "40s", hide = true)]
    pub wave_period: String,
}

/// `gscale import`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).multiple(true).args(["objects", "files", "all"])))]
pub struct ImportArgs {
    /// Objects in the cluster: hpa/NAME, scaledobject/NAME.
    #[arg(value_name = "KIND/NAME")]
    pub objects: Vec<String>,
    /// Manifests of HPAs and ScaledObjects (and the TriggerAuthentications they name); `-` reads stdin.
    #[arg(short = 'f', long = "filename", value_name = "FILE", num_args = 1..)]
    pub files: Vec<std::path::PathBuf>,
    /// Every HPA and ScaledObject of the namespace.
    #[arg(long)]
    pub all: bool,
    /// Namespace to read from, and of the scalers printed.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Prometheus serving the HPA's custom and external metrics and cAdvisor's CPU and memory.
    #[arg(long, value_name = "URL")]
    pub prometheus_url: Option<String>,
    /// Exit 1 when any field could not be mapped.
    #[arg(long)]
    pub strict: bool,
}

/// `gscale completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `gscale generate` (hidden).
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Directory to write `completions/` and `man/` into.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
