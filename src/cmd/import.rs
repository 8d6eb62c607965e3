//! `gscale import`: HorizontalPodAutoscalers and KEDA ScaledObjects, from files or the cluster, printed
//! as GeneralScalers ready for `kubectl apply`.
//!
//! This file reads (files, stdin, the API) and prints; the conversion itself is the pure
//! `crate::import`. Every output is checked as `gscale validate` checks it before it is printed;
//! fields not mapped are comments in the YAML and a count on stderr (`--strict`: exit 1 on any).

use std::collections::BTreeSet;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde_json::Value;

use super::{UsageError, client, explain_kube_error, input, validate};
use crate::api::check;
use crate::cli::{ImportArgs, KubeFlags, exit};
use crate::import::{self, Converted, Settings, keda};
use gscale_manifest::yaml;

/// Run `gscale import`.
pub async fn run(args: &ImportArgs, flags: &KubeFlags) -> anyhow::Result<u8> {
    if let Some(url) = &args.prometheus_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(UsageError(format!(
            "--prometheus-url {url:?} is not an http:// or https:// URL\nhint: e.g. --prometheus-url http://prometheus.monitoring.svc:9090"
        ))
        .into());
    }
    let mut documents: Vec<(String, Value)> = Vec::new();
    for path in &args.files {
        documents.extend(read_file(path)?);
    }
    if !args.objects.is_empty() || args.all {
        documents.extend(read_cluster(args, flags).await?);
    }

    let mut settings = Settings { prometheus_url: args.prometheus_url.clone(), trigger_auths: Vec::new() };
    let mut objects = Vec::new();
    for (origin, doc) in documents {
        if keda::is_trigger_auth(&doc) {
            settings.trigger_auths.push(doc);
        } else if import::is_importable(&doc) {
            objects.push((origin, doc));
        } else {
            eprintln!(
                "{origin}: skipped: {} is not a HorizontalPodAutoscaler or a ScaledObject",
                import::kind_of(&doc)
            );
        }
    }
    if objects.is_empty() {
        return Err(anyhow::anyhow!(
            "no HorizontalPodAutoscaler or ScaledObject to import\nhint: pass their manifests with -f FILE, or name them: gscale import hpa/NAME scaledobject/NAME (--all -n NS for a namespace)"
        ));
    }

    let (mut not_mapped, mut invalid, mut printed) = (0, 0, Vec::new());
    for (origin, mut doc) in objects {
        if let Some(ns) = &args.namespace
            && let Some(metadata) = doc.get_mut("metadata").and_then(Value::as_object_mut)
        {
            metadata.insert("namespace".into(), ns.clone().into());
        }
        let converted = match import::convert(&doc, &settings) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{origin}: error: {e}");
                invalid += 1;
                continue;
            }
        };
        not_mapped += converted.not_mapped();
        if let Some(problem) = problem(&converted) {
            eprintln!(
                "{origin}: error: the GeneralScaler for {} does not validate: {problem}",
                converted.source
            );
            invalid += 1;
        }
        printed.push(import::render(&converted));
    }
    input::print(&printed.join("---\n"))?;
    let count = printed.len();
    eprintln!(
        "imported {count} scaler{}: {not_mapped} field{} not mapped{}",
        if count == 1 { "" } else { "s" },
        if not_mapped == 1 { "" } else { "s" },
        if not_mapped > 0 { " (see the `# not mapped:` comments)" } else { "" }
    );
    if invalid > 0 {
        return Ok(exit::FAILURE);
    }
    Ok(if args.strict && not_mapped > 0 { exit::FAILURE } else { exit::OK })
}

/// The first error `gscale validate` would report on the converted scaler.
fn problem(converted: &Converted) -> Option<String> {
    let checked = check::check(&converted.scaler);
    checked
        .findings
        .iter()
        .find(|f| f.severity == check::Severity::Error)
        .map(|f| format!("{}: {} (hint: {})", f.path, f.message, f.hint))
}

/// The documents of a file (`-`: stdin), the items of a `kind: List` each on its own.
fn read_file(path: &std::path::Path) -> anyhow::Result<Vec<(String, Value)>> {
    let name = if path.as_os_str() == "-" { "<stdin>".to_string() } else { path.display().to_string() };
    let text = validate::read(path)?.map_err(|problem| UsageError(format!("{name}: {problem}")))?;
    let documents = yaml::parse_documents(&text).map_err(|e| {
        UsageError(format!(
            "{name}:{}: not valid YAML: {} (column {})\nhint: fix the YAML at that line",
            e.line, e.message, e.column
        ))
    })?;
    Ok(documents
        .into_iter()
        .flat_map(|doc| {
            let items = doc.list_items();
            if items.is_empty() { vec![doc] } else { items }
        })
        .map(|doc| (format!("{name}:{}", doc.line), doc.value))
        .collect())
}

fn hpa_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("autoscaling", "v2", "HorizontalPodAutoscaler"),
        "horizontalpodautoscalers",
    )
}

fn keda_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("keda.sh", "v1alpha1", kind), plural)
}

const NO_KEDA: &str = "KEDA is not installed in this cluster (no scaledobjects.keda.sh CRD)";

/// Whether the API serves ScaledObjects (a GET of a missing object and of a missing kind both
/// read as "not found"; a list tells them apart).
async fn keda_installed(api: &Api<DynamicObject>) -> bool {
    !matches!(api.list(&ListParams::default().limit(1)).await, Err(kube::Error::Api(s)) if s.code == 404)
}

/// The named objects, or with `--all` every HPA and ScaledObject of the namespace, and the
/// TriggerAuthentications their triggers name.
async fn read_cluster(args: &ImportArgs, flags: &KubeFlags) -> anyhow::Result<Vec<(String, Value)>> {
    let (client, server) = client(flags).await?;
    let namespace = args.namespace.clone().unwrap_or_else(|| client.default_namespace().to_string());
    let hpas: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &hpa_resource());
    let scaled: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &namespace, &keda_resource("ScaledObject", "scaledobjects"));
    let mut out = Vec::new();
    let to_value = |o: DynamicObject| serde_json::to_value(o).unwrap_or(Value::Null);
    for object in &args.objects {
        let (kind, name) = object.split_once('/').ok_or_else(|| {
            UsageError(format!("{object:?} is not KIND/NAME\nhint: write hpa/NAME or scaledobject/NAME"))
        })?;
        let is_hpa = matches!(
            kind.to_ascii_lowercase().as_str(),
            "hpa"
                | "horizontalpodautoscaler"
                | "horizontalpodautoscalers"
                | "horizontalpodautoscaler.autoscaling"
        );
        let is_so = matches!(
            kind.to_ascii_lowercase().as_str(),
            "so" | "scaledobject" | "scaledobjects" | "scaledobject.keda.sh"
        );
        let api = match (is_hpa, is_so) {
            (true, _) => &hpas,
            (_, true) => &scaled,
            _ => {
                return Err(UsageError(format!(
                    "{object}: kind {kind:?} is not one gscale imports\nhint: write hpa/NAME or scaledobject/NAME"
                ))
                .into());
            }
        };
        match api.get_opt(name).await {
            Ok(Some(o)) => out.push((format!("{kind}/{name}"), to_value(o))),
            Ok(None) if is_so && !keda_installed(&scaled).await => {
                return Err(anyhow::anyhow!(
                    "{NO_KEDA}\nhint: import KEDA manifests from files with -f FILE"
                ));
            }
            Ok(None) => {
                return Err(anyhow::anyhow!(
                    "{kind}/{name} not found in namespace {namespace}\nhint: `kubectl get {kind} -n {namespace}` lists them; pass -n for another namespace"
                ));
            }
            Err(kube::Error::Api(s)) if s.code == 404 && is_so => {
                return Err(anyhow::anyhow!(
                    "{NO_KEDA}\nhint: import KEDA manifests from files with -f FILE"
                ));
            }
            Err(e) => return Err(explain_kube_error(e, &format!("read {kind}/{name}"), &server)),
        }
    }
    if args.all {
        let listed = hpas
            .list(&ListParams::default())
            .await
            .map_err(|e| explain_kube_error(e, "list horizontalpodautoscalers", &server))?;
        for o in listed.items {
            let owner = o.metadata.owner_references.iter().flatten().find(|r| r.kind == "ScaledObject");
            let name = o.metadata.name.clone().unwrap_or_default();
            match owner {
                // KEDA's own HPA: its ScaledObject is imported instead.
                Some(r) => eprintln!("hpa/{name}: skipped: KEDA made it for scaledobject/{}", r.name),
                None => out.push((format!("hpa/{name}"), to_value(o))),
            }
        }
        match scaled.list(&ListParams::default()).await {
            Ok(list) => {
                for o in list.items {
                    let name = o.metadata.name.clone().unwrap_or_default();
                    out.push((format!("scaledobject/{name}"), to_value(o)));
                }
            }
            Err(kube::Error::Api(s)) if s.code == 404 => eprintln!("note: {NO_KEDA}: importing HPAs only"),
            Err(e) => return Err(explain_kube_error(e, "list scaledobjects.keda.sh", &server)),
        }
    }
    // The TriggerAuthentications the ScaledObjects name.
    let wanted: BTreeSet<(String, String)> = out
        .iter()
        .filter(|(_, v)| keda::is_scaled_object(v))
        .flat_map(|(_, v)| v.pointer("/spec/triggers").and_then(Value::as_array).cloned().unwrap_or_default())
        .filter_map(|t| {
            let r = t.get("authenticationRef")?;
            let kind = r.get("kind").and_then(Value::as_str).unwrap_or("TriggerAuthentication").to_string();
            Some((kind, r.get("name")?.as_str()?.to_string()))
        })
        .collect();
    for (kind, name) in wanted {
        let found = if kind == "ClusterTriggerAuthentication" {
            let api: Api<DynamicObject> =
                Api::all_with(client.clone(), &keda_resource(&kind, "clustertriggerauthentications"));
            api.get_opt(&name).await
        } else {
            let api: Api<DynamicObject> = Api::namespaced_with(
                client.clone(),
                &namespace,
                &keda_resource(&kind, "triggerauthentications"),
            );
            api.get_opt(&name).await
        };
        match found {
            Ok(Some(o)) => out.push((format!("{kind}/{name}"), to_value(o))),
            // Reported on the trigger as not mapped.
            Ok(None) | Err(kube::Error::Api(_)) => {}
            Err(e) => return Err(explain_kube_error(e, &format!("read {kind}/{name}"), &server)),
        }
    }
    Ok(out)
}
