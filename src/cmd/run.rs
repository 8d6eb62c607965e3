//! `gscale run`: flags to settings, then the daemon.

use std::time::Duration;

use crate::cli::{KubeFlags, RunArgs, exit};
use crate::controller::{self, RunSettings, Shard, leader::LeaseSettings};

use super::UsageError;

pub async fn run(args: &RunArgs, kube: &KubeFlags) -> anyhow::Result<u8> {
    let shard = match &args.shard {
        Some(text) => Shard::parse(text).map_err(UsageError)?,
        None => Shard::default(),
    };
    let metrics_addr = match &args.metrics_addr {
        Some(addr) => Some(addr.parse().map_err(|_| {
            UsageError(format!(
                "--metrics-addr {addr}: expected an address and port, e.g. 127.0.0.1:9090 or 0.0.0.0:9090"
            ))
        })?),
        None => None,
    };
    let hosts = crate::metrics::HostPolicy::with_rules(&args.allow_metric_host, &args.deny_metric_host)
        .map_err(UsageError)?;
    let metric_limits = crate::metrics::Limits {
        max_reply_bytes: args.max_metric_reply_bytes,
        hosts: std::sync::Arc::new(hosts),
        max_timeout_seconds: args.max_metric_timeout,
        proxy_from_environment: args.metric_proxy_from_environment,
    };
    if args.lease_duration < 3 {
        return Err(UsageError("--lease-duration must be at least 3 seconds".into()).into());
    }
    let auto = match args.shards.as_deref() {
        None => false,
        Some("auto") => true,
        Some(other) => {
            return Err(UsageError(format!(
                "--shards {other}: expected auto\nhint: --shards auto shares the scalers among every replica; --shard i/N fixes one shard"
            ))
            .into());
        }
    };
    let lease_namespace = args
        .lease_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .unwrap_or_else(|| "default".to_string());
    let identity = identity();
    let members = auto.then(|| {
        let duration = Duration::from_secs(args.lease_duration);
        controller::members::MemberSettings {
            namespace: lease_namespace.clone(),
            identity: identity.clone(),
            duration,
            renew: duration / 3,
        }
    });
    // With --once the Lease is only read: a pass must not act beside a daemon that leads.
    let lease = (!args.no_leader_election && !auto).then(|| {
        let duration = Duration::from_secs(args.lease_duration);
        LeaseSettings {
            name: if shard.count > 1 {
                format!("gscale-shard-{}-of-{}", shard.index, shard.count)
            } else {
                "gscale-leader".to_string()
            },
            namespace: lease_namespace.clone(),
            identity: identity.clone(),
            duration,
            renew: duration / 3,
        }
    });
    let settings = RunSettings {
        namespace: args.namespace.clone(),
        selector: args.selector.clone(),
        once: args.once,
        dry_run: args.dry_run,
        metrics_addr,
        shard,
        members,
        lease,
        status_heartbeat: Duration::from_secs(600),
        metric_limits,
        namespace_turns: args.namespace_concurrency as usize,
        clock_offset: super::input::test_clock_offset()?,
        api_requests: controller::telemetry::ApiRequests::default(),
    };
    let deadline = Duration::from_secs(args.request_timeout);
    let (client, server) =
        super::client_with(kube, &settings.api_requests.layer(), deadline, &identity).await?;
    controller::run(client, &server, settings, super::shutdown_signal()).await?;
    Ok(exit::OK)
}

/// `host-pid`: unique per process, readable in `kubectl get lease -o yaml`.
fn identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "gscale".to_string());
    format!("{host}-{}", std::process::id())
}
