//! The resource source: CPU or memory of the target's pods from the resource metrics API
//! (`metrics.k8s.io/v1beta1` PodMetrics, served by metrics-server), as the HPA reads them.
//!
//! One read: the target's `/scale` (its replicas and `status.selector`), the pods that selector
//! picks, and their PodMetrics; then the HPA's rule in [`hpa`] (pure) turns them into the figure
//! the engine uses and an account of the pods counted. [`pods_of`] and [`usage_of`] are pure
//! functions over the API's objects. Nothing here decides a count: that is `decision`.

pub mod hpa;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use serde_json::Value;

use super::error::{MetricError, Target};
use super::{MetricSource, Sample, number};
use crate::api::{MetricType, ResourceName, ResourceSource, TargetRef, TargetType};
use hpa::{Goal, Standing};

/// Where the resource metrics API lives: the API group metrics-server serves.
pub const METRICS_API: &str = "metrics.k8s.io/v1beta1";

/// The target of a resource metric, for messages, dedup and limits.
pub fn target(source: &ResourceSource, target_type: TargetType) -> Target {
    let what = match target_type {
        TargetType::AverageValue => "average",
        _ => "utilization",
    };
    let container = source.container.as_ref().map_or(String::new(), |c| format!(" (container `{c}`)"));
    Target {
        kind: MetricType::Resource,
        backend: METRICS_API.to_string(),
        query: format!("{} {what} of the target's pods{container}", source.name.as_str()),
    }
}

/// The ApiResource of each target kind, found once by discovery.
pub(crate) type Kinds = Arc<Mutex<HashMap<GroupVersionKind, ApiResource>>>;

/// One read of a target's pods' cpu or memory, ready to send.
#[derive(Clone)]
pub struct ResourceQuery {
    pub(crate) target: Target,
    pub(crate) client: kube::Client,
    pub(crate) kinds: Kinds,
    pub(crate) namespace: String,
    pub(crate) target_ref: TargetRef,
    pub(crate) resource: ResourceName,
    pub(crate) container: Option<String>,
    pub(crate) goal: Goal,
    pub(crate) tolerance: f64,
}

impl MetricSource for ResourceQuery {
    fn target(&self) -> &Target {
        &self.target
    }

    async fn read(&self) -> Result<f64, MetricError> {
        self.sample().await.map(|sample| sample.value)
    }
}

impl ResourceQuery {
    /// Read the pods and their metrics, and apply the HPA's rule: the figure with its account.
    pub async fn sample(&self) -> Result<Sample, MetricError> {
        let (replicas, selector) = self.scale().await?;
        let labels = ListParams::default().labels(&selector);
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let metrics: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &self.namespace, &pod_metrics_resource());
        let (pods, metrics) = tokio::join!(pods.list(&labels), metrics.list(&labels));
        let pods = pods.map_err(|e| self.api_error("list pods", e))?.items;
        let metrics = metrics.map_err(|e| self.api_error(&format!("list {METRICS_API} pods"), e))?.items;
        let usage = usage_of(&metrics, self.resource, self.container.as_deref());
        let counted = pods_of(&pods, &usage, self.resource, self.container.as_deref(), self.goal)
            .map_err(|detail| MetricError::NoData { target: self.target.clone(), detail })?;
        let assessment = hpa::assess(&counted, self.goal, replicas, self.tolerance)
            .map_err(|detail| MetricError::NoData { target: self.target.clone(), detail })?;
        Ok(Sample {
            value: assessment.value,
            detail: Some(assessment.describe(self.resource.as_str(), self.goal)),
        })
    }

    /// The target's replicas and pod selector, from its `/scale`.
    async fn scale(&self) -> Result<(i32, String), MetricError> {
        let resource = self.kind().await?;
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &self.namespace, &resource);
        let scale = api.get_scale(&self.target_ref.name).await.map_err(|e| {
            self.api_error(&format!("GET {}/{}/scale", self.target_ref.kind, self.target_ref.name), e)
        })?;
        let replicas = scale.spec.and_then(|s| s.replicas).unwrap_or(0);
        let selector = scale.status.and_then(|s| s.selector).filter(|s| !s.is_empty()).ok_or_else(|| {
            MetricError::NoData {
                target: self.target.clone(),
                detail: format!(
                    "{}/{}'s /scale reports no pod selector, so its pods cannot be found",
                    self.target_ref.kind, self.target_ref.name
                ),
            }
        })?;
        if replicas == 0 {
            return Err(MetricError::NoData {
                target: self.target.clone(),
                detail: format!(
                    "{}/{} has 0 replicas: no pods to measure",
                    self.target_ref.kind, self.target_ref.name
                ),
            });
        }
        Ok((replicas, selector))
    }

    /// The target kind's ApiResource, by discovery the first time.
    async fn kind(&self) -> Result<ApiResource, MetricError> {
        let (group, version) =
            self.target_ref.api_version.split_once('/').unwrap_or(("", self.target_ref.api_version.as_str()));
        let gvk = GroupVersionKind::gvk(group, version, &self.target_ref.kind);
        if let Some(found) = self.kinds.lock().unwrap_or_else(|p| p.into_inner()).get(&gvk) {
            return Ok(found.clone());
        }
        let (resource, _) = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|e| self.api_error(&format!("discovery of {}", self.target_ref.api_version), e))?;
        let mut kinds = self.kinds.lock().unwrap_or_else(|p| p.into_inner());
        if kinds.len() < 1024 {
            kinds.insert(gvk, resource.clone());
        }
        Ok(resource)
    }

    fn api_error(&self, what: &str, error: kube::Error) -> MetricError {
        let target = self.target.clone();
        match &error {
            kube::Error::Api(status) if status.code == 404 && what.contains(METRICS_API) => {
                MetricError::Backend {
                    target,
                    detail: format!(
                        "the resource metrics API is not served ({})\nhint: install metrics-server in the cluster",
                        api_words(status)
                    ),
                }
            }
            kube::Error::Api(status) if status.code == 401 || status.code == 403 => MetricError::Auth {
                target,
                detail: format!(
                    "{what}: {}\nhint: allow get and list on pods and on pods.metrics.k8s.io (examples/deploy/10-rbac.yaml)",
                    api_words(status)
                ),
            },
            kube::Error::Api(status) => {
                MetricError::Backend { target, detail: format!("{what}: {}", api_words(status)) }
            }
            other => MetricError::Unreachable {
                target,
                detail: format!("{what}: {}", crate::explain::chain(other)),
            },
        }
    }
}

/// A refusal as code and reason (`403 Forbidden`), not its message: the metrics API is served by an
/// aggregated server (metrics-server or another), and a backend's words never reach status.
fn api_words(status: &kube::core::Status) -> String {
    let reason: String = status.reason.chars().filter(char::is_ascii_alphanumeric).take(40).collect();
    if reason.is_empty() { format!("http {}", status.code) } else { format!("http {} {reason}", status.code) }
}

/// The `pods` resource of the metrics API (kind PodMetrics).
fn pod_metrics_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", "PodMetrics"),
        "pods",
    )
}

/// Each pod's usage of `resource` (cores or bytes) over its containers (or only `container`), by
/// pod name; a pod whose metrics lack the resource, the container or a readable quantity is left out
/// (it counts as a pod without metrics).
pub fn usage_of(
    metrics: &[DynamicObject],
    resource: ResourceName,
    container: Option<&str>,
) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for pod in metrics {
        let Some(name) = pod.metadata.name.clone() else { continue };
        let containers =
            pod.data.get("containers").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let chosen: Vec<&Value> = containers
            .iter()
            .filter(|c| container.is_none_or(|want| c.get("name").and_then(Value::as_str) == Some(want)))
            .collect();
        if chosen.is_empty() {
            continue;
        }
        let usage: Option<f64> = chosen
            .iter()
            .map(|c| {
                c.pointer(&format!("/usage/{}", resource.as_str()))
                    .and_then(Value::as_str)
                    .and_then(number::parse_quantity)
                    .filter(|q| q.is_finite() && *q >= 0.0)
            })
            .sum();
        if let Some(usage) = usage {
            out.insert(name, usage);
        }
    }
    out
}

/// The target's pods as the HPA's rule counts them: pods being deleted or finished are left out,
/// Pending pods (and, for cpu, pods not Ready) are not ready. For Utilization every counted
/// container needs a request of the resource, else an error naming it (as the HPA says).
pub fn pods_of(
    pods: &[Pod],
    usage: &HashMap<String, f64>,
    resource: ResourceName,
    container: Option<&str>,
    goal: Goal,
) -> Result<Vec<hpa::Pod>, String> {
    let mut out = Vec::new();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
        if pod.metadata.deletion_timestamp.is_some() || matches!(phase, "Failed" | "Succeeded") {
            continue;
        }
        let ready = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True");
        let standing = if phase == "Pending" || (resource == ResourceName::Cpu && !ready) {
            Standing::NotReady
        } else {
            Standing::Ready
        };
        let containers = pod.spec.as_ref().map(|s| s.containers.as_slice()).unwrap_or_default();
        let chosen: Vec<_> =
            containers.iter().filter(|c| container.is_none_or(|want| c.name == want)).collect();
        if let Some(want) = container
            && chosen.is_empty()
        {
            return Err(format!("pod {name} has no container `{want}`\nhint: check resource.container"));
        }
        let mut request = 0.0;
        if let Goal::Utilization(_) = goal {
            for c in &chosen {
                let quantity = c
                    .resources
                    .as_ref()
                    .and_then(|r| r.requests.as_ref())
                    .and_then(|r| r.get(resource.as_str()))
                    .and_then(|q| number::parse_quantity(&q.0));
                match quantity {
                    Some(q) if q.is_finite() && q > 0.0 => request += q,
                    _ => {
                        return Err(format!(
                            "container `{}` of pod {name} has no {} request, so utilization cannot be computed\nhint: set resources.requests.{} on it, or use targetType: AverageValue",
                            c.name,
                            resource.as_str(),
                            resource.as_str()
                        ));
                    }
                }
            }
        }
        out.push(hpa::Pod { name: name.clone(), standing, usage: usage.get(&name).copied(), request });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(value: Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    fn running(name: &str, ready: bool, requests: Value) -> Pod {
        pod(serde_json::json!({
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "app", "resources": {"requests": requests}}, {"name": "sidecar", "resources": {"requests": {"cpu": "100m"}}}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]},
        }))
    }

    fn metrics(name: &str, app_cpu: &str) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": METRICS_API, "kind": "PodMetrics",
            "metadata": {"name": name}, "timestamp": "2024-01-01T00:00:00Z", "window": "30s",
            "containers": [{"name": "app", "usage": {"cpu": app_cpu, "memory": "64Mi"}}, {"name": "sidecar", "usage": {"cpu": "50m", "memory": "16Mi"}}],
        }))
        .unwrap()
    }

    #[test]
    fn usage_sums_containers_or_reads_one() {
        let m = [metrics("a", "900m"), metrics("b", "bad")];
        let all = usage_of(&m, ResourceName::Cpu, None);
        assert!((all["a"] - 0.95).abs() < 1e-9);
        assert!(!all.contains_key("b"), "an unreadable quantity is no data, not zero");
        let app = usage_of(&m, ResourceName::Cpu, Some("app"));
        assert!((app["a"] - 0.9).abs() < 1e-9);
        let mem = usage_of(&m, ResourceName::Memory, Some("sidecar"));
        assert_eq!(mem["a"], 16.0 * 1024.0 * 1024.0);
    }

    #[test]
    fn pods_are_sorted_as_the_hpa_sorts_them() {
        let usage = HashMap::from([("a".to_string(), 0.9)]);
        let mut gone = running("gone", true, serde_json::json!({"cpu": "1"}));
        gone.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH));
        let pods = [
            running("a", true, serde_json::json!({"cpu": "1"})),
            running("b", false, serde_json::json!({"cpu": "1"})),
            pod(
                serde_json::json!({"metadata": {"name": "c"}, "spec": {"containers": [{"name": "app", "resources": {"requests": {"cpu": "1"}}}]}, "status": {"phase": "Pending"}}),
            ),
            gone,
        ];
        let counted =
            pods_of(&pods, &usage, ResourceName::Cpu, Some("app"), Goal::Utilization(60.0)).unwrap();
        let standing: Vec<_> = counted.iter().map(|p| (p.name.as_str(), p.standing, p.usage)).collect();
        assert_eq!(
            standing,
            [
                ("a", Standing::Ready, Some(0.9)),
                ("b", Standing::NotReady, None),
                ("c", Standing::NotReady, None)
            ]
        );
        assert_eq!(counted[0].request, 1.0);
        // For memory only Pending pods are set aside.
        let counted =
            pods_of(&pods, &usage, ResourceName::Memory, Some("app"), Goal::AverageValue(1.0)).unwrap();
        assert_eq!(counted[1].standing, Standing::Ready);
    }

    #[test]
    fn a_container_without_a_request_is_an_error_naming_it() {
        let pods = [running("a", true, serde_json::json!({"memory": "64Mi"}))];
        let err =
            pods_of(&pods, &HashMap::new(), ResourceName::Cpu, None, Goal::Utilization(60.0)).unwrap_err();
        assert!(err.starts_with("container `app` of pod a has no cpu request"), "{err}");
        assert!(pods_of(&pods, &HashMap::new(), ResourceName::Cpu, None, Goal::AverageValue(0.5)).is_ok());
        let err = pods_of(&pods, &HashMap::new(), ResourceName::Cpu, Some("web"), Goal::Utilization(60.0))
            .unwrap_err();
        assert!(err.starts_with("pod a has no container `web`"), "{err}");
    }
}
