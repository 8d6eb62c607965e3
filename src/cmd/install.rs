//! `gscale install` and `gscale uninstall`: the objects of `crate::install` applied by server-side
//! apply (field manager `gscale`), each first applied as a server-side dry run and compared with
//! what the cluster holds, so that an object that would not change is not written and the changes
//! are printed field by field; and removed again, keeping the CRD and the scalers unless asked.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::discovery::{Scope, pinned_kind};
use serde_json::Value;

use crate::cli::{InstallArgs, KubeFlags, UninstallArgs, exit};
use crate::install::{InstallSettings, MANAGED_BY, objects};
use crate::output::diff::changes;

use super::UsageError;
use super::install_crd::FIELD_MANAGER;

/// Flags to settings; a bad quantity or namespace is a usage error naming the flag.
fn settings(args: &InstallArgs) -> anyhow::Result<InstallSettings> {
    for (flag, value) in [
        ("--cpu-request", &args.cpu_request),
        ("--memory-request", &args.memory_request),
        ("--memory-limit", &args.memory_limit),
    ] {
        if crate::metrics::parse_quantity(value).is_none_or(|q| q <= 0.0) {
            return Err(UsageError(format!(
                "{flag} {value}: not a Kubernetes quantity\nhint: write it as Kubernetes does, e.g. 100m or 0.5 for CPU, 128Mi or 1Gi for memory"
            ))
            .into());
        }
    }
    let dns_label = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    if !dns_label(&args.namespace) {
        return Err(UsageError(format!(
            "--namespace {}: not a namespace name\nhint: lowercase letters, digits and '-', at most 63, e.g. gscale-system",
            args.namespace
        ))
        .into());
    }
    Ok(InstallSettings {
        namespace: args.namespace.clone(),
        image: args.image.clone().unwrap_or_else(crate::install::default_image),
        replicas: args.replicas,
        shards: match args.shards.as_deref() {
            None => false,
            Some("auto") => true,
            Some(other) => {
                return Err(UsageError(format!(
                    "--shards {other}: expected auto\nhint: --shards auto has every replica decide for a share of the scalers"
                ))
                .into());
            }
        },
        cpu_request: args.cpu_request.clone(),
        memory_request: args.memory_request.clone(),
        memory_limit: args.memory_limit.clone(),
        service_monitor: args.service_monitor,
        prometheus_rule: args.prometheus_rule,
    })
}

/// `kind.group/name`, as kubectl names an object.
fn display(object: &Value) -> String {
    let kind = object["kind"].as_str().unwrap_or_default().to_ascii_lowercase();
    let group = object["apiVersion"].as_str().and_then(|v| v.rsplit_once('/')).map(|(g, _)| g);
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    match group {
        Some(group) => format!("{kind}.{group}/{name}"),
        None => format!("{kind}/{name}"),
    }
}

/// An object's API, found by discovery (a kind the cluster does not serve is named with a hint).
async fn api_for(client: &kube::Client, object: &Value, server: &str) -> anyhow::Result<Api<DynamicObject>> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, caps): (ApiResource, _) = pinned_kind(client, &gvk).await.map_err(|e| match &e {
        kube::Error::Api(s) if s.code == 404 => anyhow::anyhow!(
            "{server} does not serve {kind} ({api_version})\nhint: {kind} comes with the Prometheus Operator; install it first, or leave out the flag that asks for {kind}"
        ),
        _ => super::explain_kube_error(e, &format!("discover {kind} ({api_version})"), server),
    })?;
    let namespace = object["metadata"]["namespace"].as_str();
    Ok(match (caps.scope, namespace) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resource),
        _ => Api::all_with(client.clone(), &resource),
    })
}

/// What a comparison ignores: what the server keeps about an object rather than what it says.
fn comparable(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in ["managedFields", "resourceVersion", "generation", "creationTimestamp", "uid", "selfLink"]
        {
            meta.remove(key);
        }
    }
    if let Some(object) = object.as_object_mut() {
        object.remove("status");
    }
    object
}

/// How one object fared.
enum Applied {
    Created,
    Configured(Vec<String>),
    Unchanged,
    /// Left alone (a namespace that exists and is not gscale's).
    Skipped(String),
}

async fn apply_one(client: &kube::Client, object: &Value, server: &str) -> anyhow::Result<Applied> {
    let api = api_for(client, object, server).await?;
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let what = display(object);
    let read = |e| super::explain_kube_error(e, &format!("read {what}"), server);
    let current = api.get_opt(name).await.map_err(read)?;
    let current = current.map(|c| serde_json::to_value(c).unwrap_or(Value::Null));
    if object["kind"] == "Namespace"
        && let Some(current) = &current
        && current["metadata"]["labels"][MANAGED_BY.0] != MANAGED_BY.1
    {
        return Ok(Applied::Skipped(format!(
            "{what} exists and is not gscale's: left as it is (uninstall leaves it too)"
        )));
    }
    let write = |e| super::explain_kube_error(e, &format!("apply {what}"), server);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let would = api.patch(name, &params.clone().dry_run(), &Patch::Apply(object)).await.map_err(write)?;
    let would = comparable(&serde_json::to_value(would).unwrap_or(Value::Null));
    let outcome = match &current {
        None => Applied::Created,
        Some(current) => {
            let lines = changes(&comparable(current), &would);
            if lines.is_empty() {
                return Ok(Applied::Unchanged);
            }
            Applied::Configured(lines)
        }
    };
    api.patch(name, &params, &Patch::Apply(object)).await.map_err(write)?;
    Ok(outcome)
}

/// `gscale install`.
pub async fn install(args: &InstallArgs, kube: &KubeFlags) -> anyhow::Result<u8> {
    let settings = settings(args)?;
    let objects = objects(&settings);
    if args.print {
        super::input::print(&crate::install::to_yaml(&objects))?;
        return Ok(exit::OK);
    }
    let (client, server) = super::client(kube).await?;
    let (mut created, mut configured, mut unchanged) = (0, 0, 0);
    for object in &objects {
        let what = display(object);
        match apply_one(&client, object, &server).await? {
            Applied::Created => {
                created += 1;
                println!("{what} created");
            }
            Applied::Configured(lines) => {
                configured += 1;
                println!("{what} configured");
                for line in lines {
                    println!("    {line}");
                }
            }
            Applied::Unchanged => {
                unchanged += 1;
                println!("{what} unchanged");
            }
            Applied::Skipped(why) => println!("{why}"),
        }
        if object["kind"] == "CustomResourceDefinition" && args.wait > 0 {
            let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
            super::install_crd::wait_established(&crds, Duration::from_secs(args.wait), &server).await?;
        }
    }
    if created + configured == 0 {
        eprintln!("nothing changed: gscale is installed as asked in namespace {}", settings.namespace);
    } else {
        eprintln!(
            "{created} created, {configured} configured, {unchanged} unchanged\nnext: kubectl -n {} rollout status deploy/{}",
            settings.namespace,
            crate::install::NAME
        );
    }
    Ok(exit::OK)
}

/// `gscale uninstall`.
pub async fn uninstall(args: &UninstallArgs, kube: &KubeFlags) -> anyhow::Result<u8> {
    // Every kind an install may have made (the optional ones included), removed in reverse order.
    let settings = InstallSettings {
        namespace: args.namespace.clone(),
        service_monitor: true,
        prometheus_rule: true,
        ..InstallSettings::default()
    };
    let (client, server) = super::client(kube).await?;
    let mut kept = Vec::new();
    for object in objects(&settings).iter().rev() {
        let what = display(object);
        let kind = object["kind"].as_str().unwrap_or_default();
        if kind == "CustomResourceDefinition" && !args.crd {
            let scalers = count_scalers(&client).await;
            kept.push(format!("{what} and {scalers} (pass --crd to delete them too)"));
            continue;
        }
        let api = match api_for(&client, object, &server).await {
            Ok(api) => api,
            // Not served (no Prometheus Operator): there is nothing of that kind to remove.
            Err(_) if matches!(kind, "ServiceMonitor" | "PrometheusRule") => continue,
            Err(e) => return Err(e),
        };
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        if kind == "Namespace" {
            let ours = api.get_opt(name).await.ok().flatten().is_some_and(|ns| {
                ns.metadata.labels.as_ref().and_then(|l| l.get(MANAGED_BY.0)).map(String::as_str)
                    == Some(MANAGED_BY.1)
            });
            if !ours {
                remove_leases(&client, name, &server).await?;
                kept.push(format!("{what} (not made by gscale install)"));
                continue;
            }
        }
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => println!("{what} deleted"),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(super::explain_kube_error(e, &format!("delete {what}"), &server)),
        }
    }
    for what in kept {
        eprintln!("kept: {what}");
    }
    Ok(exit::OK)
}

/// `N GeneralScalers`, or `the GeneralScalers` when they cannot be counted.
async fn count_scalers(client: &kube::Client) -> String {
    let api: Api<crate::api::GeneralScaler> = Api::all(client.clone());
    match api.list_metadata(&ListParams::default()).await {
        Ok(list) => format!("{} GeneralScaler(s)", list.items.len()),
        Err(_) => "the GeneralScalers".to_string(),
    }
}

/// The daemon's Leases, where its namespace stays: `gscale-leader` and the shards' `gscale-shard-*`.
async fn remove_leases(client: &kube::Client, namespace: &str, server: &str) -> anyhow::Result<()> {
    let api: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(client.clone(), namespace);
    let leases = match api.list_metadata(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(e) => return Err(super::explain_kube_error(e, &format!("list leases in {namespace}"), server)),
    };
    for lease in leases {
        let name = lease.metadata.name.unwrap_or_default();
        if name == "gscale-leader" || name.starts_with("gscale-shard-") {
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => println!("lease.coordination.k8s.io/{name} deleted"),
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(super::explain_kube_error(e, &format!("delete lease {name}"), server)),
            }
        }
    }
    Ok(())
}
