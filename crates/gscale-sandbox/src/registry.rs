//! The resources the sandbox serves: the built-in kinds and the ones each CRD defines, with what
//! discovery, OpenAPI, tables and the store need to know about them.
//!
//! Behaviour specific to a kind (deployment replicas, event conversion, CRD status) lives in the
//! store; this module only describes.

use serde_json::Value;

/// What a built-in kind does beyond generic storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// Nothing.
    Plain,
    /// Namespaces: phase Active, deleting one deletes its contents.
    Namespace,
    /// Secrets: `stringData` folds into base64 `data`.
    Secret,
    /// core/v1 Events (the canonical store of both Event APIs).
    CoreEvent,
    /// events.k8s.io/v1 Events, converted to and from core/v1 on the way.
    EventsV1,
    /// Deployments and StatefulSets: replica status follows spec after a delay.
    Workload,
    /// CRDs: Established at once, define new resources.
    Crd,
    /// A custom resource: defaulted and validated from its CRD's schema.
    Custom,
    /// SelfSubjectAccessReview: create-only, answered from the denied permissions, never stored.
    AccessReview,
    /// metrics.k8s.io PodMetrics: get and list only, as metrics-server serves them; a test sets
    /// them with `Sandbox::set_pod_metrics`.
    Metrics,
}

/// Where a kind keeps its replica count, for `/scale`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalePaths {
    /// Dotted path of the desired count, e.g. `.spec.replicas`.
    pub spec: String,
    /// Dotted path of the observed count.
    pub status: String,
    /// Dotted path of a selector: a string (CRDs) or a LabelSelector object (workloads).
    pub selector: Option<String>,
}

/// An `additionalPrinterColumn`.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Header.
    pub name: String,
    /// `string`, `integer`, `number`, `boolean`, `date`.
    pub kind: String,
    /// Optional format.
    pub format: String,
    /// Description.
    pub description: String,
    /// 0 shows by default; higher only with `-o wide`.
    pub priority: i64,
    /// JSONPath.
    pub json_path: String,
}

/// One served resource at one version.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceDef {
    /// API group, "" for core.
    pub group: String,
    /// Version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Plural resource name.
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names.
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Has a `/status` subresource.
    pub status: bool,
    /// Has a `/scale` subresource.
    pub scale: Option<ScalePaths>,
    /// `metadata.generation` is kept (bumped on changes outside metadata and status).
    pub generation: bool,
    /// The structural schema (custom resources).
    pub schema: Option<std::sync::Arc<Value>>,
    /// Printer columns (custom resources).
    pub columns: Vec<Column>,
    /// The store this resource lives in (shared by versions and by both Event APIs).
    pub storage: String,
    /// Special behaviour.
    pub special: Special,
}

impl ResourceDef {
    /// `group/version`, or `version` for core.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// `plural.group`, as error messages name a resource.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() { self.plural.clone() } else { format!("{}.{}", self.plural, self.group) }
    }

    /// `Kind.group`, as validation errors name a kind.
    pub fn group_kind(&self) -> String {
        if self.group.is_empty() { self.kind.clone() } else { format!("{}.{}", self.kind, self.group) }
    }
}

#[allow(clippy::too_many_arguments)]
fn builtin(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
    short: &[&str],
    status: bool,
    special: Special,
) -> ResourceDef {
    let storage = match special {
        Special::CoreEvent | Special::EventsV1 => "events".to_string(),
        _ => format!("{group}/{plural}"),
    };
    let workload = special == Special::Workload;
    ResourceDef {
        group: group.to_string(),
        version: version.to_string(),
        kind: kind.to_string(),
        plural: plural.to_string(),
        singular: kind.to_ascii_lowercase(),
        namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: if workload || (matches!(plural, "pods" | "replicasets") && special != Special::Metrics) {
            vec!["all".to_string()]
        } else {
            Vec::new()
        },
        status,
        scale: workload.then(|| ScalePaths {
            spec: ".spec.replicas".to_string(),
            status: ".status.replicas".to_string(),
            selector: Some(".spec.selector".to_string()),
        }),
        generation: workload || special == Special::Crd,
        schema: None,
        columns: Vec::new(),
        storage,
        special,
    }
}

/// The built-in resources.
pub fn builtins() -> Vec<ResourceDef> {
    vec![
        builtin("", "v1", "Namespace", "namespaces", false, &["ns"], true, Special::Namespace),
        builtin("", "v1", "Secret", "secrets", true, &[], false, Special::Secret),
        builtin("", "v1", "ConfigMap", "configmaps", true, &["cm"], false, Special::Plain),
        builtin("", "v1", "Event", "events", true, &["ev"], false, Special::CoreEvent),
        builtin("", "v1", "Pod", "pods", true, &["po"], true, Special::Plain),
        builtin("apps", "v1", "ReplicaSet", "replicasets", true, &["rs"], true, Special::Plain),
        // Stored as given, so in-cluster manifests (examples/deploy) apply; nothing enforces them.
        builtin("", "v1", "Service", "services", true, &["svc"], true, Special::Plain),
        builtin("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"], false, Special::Plain),
        builtin(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
            &["pdb"],
            true,
            Special::Plain,
        ),
        // Stored as given (no controller acts on them): gscale refuses to scale a target one names.
        builtin(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            true,
            &["hpa"],
            true,
            Special::Plain,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            false,
            &[],
            false,
            Special::Plain,
        ),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
            &[],
            false,
            Special::Plain,
        ),
        builtin("rbac.authorization.k8s.io", "v1", "Role", "roles", true, &[], false, Special::Plain),
        builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            true,
            &[],
            false,
            Special::Plain,
        ),
        builtin("apps", "v1", "Deployment", "deployments", true, &["deploy"], true, Special::Workload),
        builtin("apps", "v1", "StatefulSet", "statefulsets", true, &["sts"], true, Special::Workload),
        builtin("events.k8s.io", "v1", "Event", "events", true, &["ev"], false, Special::EventsV1),
        builtin("coordination.k8s.io", "v1", "Lease", "leases", true, &[], false, Special::Plain),
        // The resource metrics API as metrics-server serves it: read-only, namespaced, no watch.
        builtin("metrics.k8s.io", "v1beta1", "PodMetrics", "pods", true, &[], false, Special::Metrics),
        builtin(
            "authorization.k8s.io",
            "v1",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            false,
            &[],
            false,
            Special::AccessReview,
        ),
        builtin(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
            &["crd", "crds"],
            true,
            Special::Crd,
        ),
    ]
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// The resources a CRD defines, one per served version.
pub fn from_crd(crd: &Value) -> Vec<ResourceDef> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let group = text(&spec["group"]);
    let plural = text(&names["plural"]);
    let kind = text(&names["kind"]);
    let singular = names["singular"].as_str().map_or_else(|| kind.to_ascii_lowercase(), str::to_string);
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let mut defs = Vec::new();
    for version in spec["versions"].as_array().into_iter().flatten() {
        if version["served"].as_bool() == Some(false) {
            continue;
        }
        let subresources = &version["subresources"];
        let scale = subresources.get("scale").filter(|s| s.is_object()).map(|s| ScalePaths {
            spec: text(&s["specReplicasPath"]),
            status: text(&s["statusReplicasPath"]),
            selector: s["labelSelectorPath"].as_str().map(str::to_string),
        });
        let columns = version["additionalPrinterColumns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| Column {
                name: text(&c["name"]),
                kind: text(&c["type"]),
                format: text(&c["format"]),
                description: text(&c["description"]),
                priority: c["priority"].as_i64().unwrap_or(0),
                json_path: text(&c["jsonPath"]),
            })
            .collect();
        defs.push(ResourceDef {
            group: group.clone(),
            version: text(&version["name"]),
            kind: kind.clone(),
            plural: plural.clone(),
            singular: singular.clone(),
            namespaced,
            short_names: strings(names.get("shortNames")),
            categories: strings(names.get("categories")),
            status: subresources.get("status").is_some_and(Value::is_object),
            scale,
            generation: true,
            schema: version.pointer("/schema/openAPIV3Schema").cloned().map(std::sync::Arc::new),
            columns,
            storage: format!("crd:{group}/{plural}"),
            special: Special::Custom,
        });
    }
    defs
}
