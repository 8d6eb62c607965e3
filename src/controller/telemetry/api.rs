//! Kubernetes API requests by verb, group, resource and code (`gscale_api_requests_total`): a
//! tower layer in the kube client's stack sees every request the daemon makes and its reply.
//!
//! The verb is the Kubernetes one (get, list, watch, create, update, patch, delete), worked out
//! from the method and the path as the API server's own request info does; a request that got no
//! reply at all counts with code `error`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Method, Request, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// One kind of request and its reply.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    verb: &'static str,
    group: String,
    resource: String,
    code: String,
}

/// The counter of API requests; cheap to clone (every clone counts into the same family).
#[derive(Clone, Debug, Default)]
pub struct ApiRequests(Family<RequestLabels, Counter>);

impl ApiRequests {
    /// The layer that counts a client's requests here.
    pub fn layer(&self) -> CountedLayer {
        CountedLayer(self.clone())
    }

    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "gscale_api_requests",
            "Kubernetes API requests by verb, group, resource (with subresource) and HTTP code",
            self.0.clone(),
        );
    }

    fn count(&self, request: &RequestInfo, code: String) {
        let labels = RequestLabels {
            verb: request.verb,
            group: request.group.clone(),
            resource: request.resource.clone(),
            code,
        };
        self.0.get_or_create(&labels).inc();
    }
}

/// A request, as RBAC names it.
#[derive(Debug, PartialEq)]
struct RequestInfo {
    verb: &'static str,
    group: String,
    resource: String,
}

/// The verb, group and resource of a request to `path` (with its `query`) by `method`.
fn classify(method: &Method, path: &str, query: &str) -> RequestInfo {
    let segments: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let (group, rest) = match segments.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => ("", &[][..]),
    };
    // namespaces/NS/RESOURCE/... is namespaced; namespaces[/NAME] alone is the Namespace itself.
    let rest = match rest {
        ["namespaces", _ns, resource, more @ ..] => {
            let mut parts = vec![*resource];
            parts.extend_from_slice(more);
            parts
        }
        other => other.to_vec(),
    };
    let (resource, name, subresource) = match rest.as_slice() {
        [] => ("", None, None),
        [resource] => (*resource, None, None),
        [resource, name] => (*resource, Some(*name), None),
        [resource, name, sub, ..] => (*resource, Some(*name), Some(*sub)),
    };
    let watch = query.split('&').any(|p| p == "watch=true" || p == "watch=1");
    let verb = match *method {
        Method::GET if watch => "watch",
        Method::GET | Method::HEAD if name.is_none() && !resource.is_empty() => "list",
        Method::GET | Method::HEAD => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if name.is_none() => "deletecollection",
        Method::DELETE => "delete",
        _ => "other",
    };
    let resource = match subresource {
        Some(sub) => format!("{resource}/{sub}"),
        None => resource.to_string(),
    };
    RequestInfo { verb, group: group.to_string(), resource }
}

/// The tower layer of [`ApiRequests`].
#[derive(Clone, Debug)]
pub struct CountedLayer(ApiRequests);

impl<S> tower::Layer<S> for CountedLayer {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted { inner, requests: self.0.clone() }
    }
}

/// A service that counts each request it passes on, by its reply's code.
#[derive(Clone, Debug)]
pub struct Counted<S> {
    inner: S,
    requests: ApiRequests,
}

impl<S, B, R> tower::Service<Request<B>> for Counted<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let info = classify(request.method(), request.uri().path(), request.uri().query().unwrap_or(""));
        let requests = self.requests.clone();
        let reply = self.inner.call(request);
        Box::pin(async move {
            let reply = reply.await;
            let code = match &reply {
                Ok(response) => response.status().as_u16().to_string(),
                Err(_) => "error".to_string(),
            };
            requests.count(&info, code);
            reply
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_named_as_rbac_names_them() {
        let cases = [
            ("GET", "/apis/apps/v1/namespaces/default/deployments", "", ("list", "apps", "deployments")),
            (
                "GET",
                "/apis/apps/v1/deployments",
                "watch=true&resourceVersion=1",
                ("watch", "apps", "deployments"),
            ),
            (
                "PATCH",
                "/apis/apps/v1/namespaces/a/deployments/web/scale",
                "",
                ("patch", "apps", "deployments/scale"),
            ),
            (
                "PATCH",
                "/apis/autoscaling.generalscaler.io/v1alpha1/namespaces/a/generalscalers/s/status",
                "fieldManager=gscale",
                ("patch", "autoscaling.generalscaler.io", "generalscalers/status"),
            ),
            ("GET", "/api/v1/namespaces/a/secrets/creds", "", ("get", "", "secrets")),
            ("GET", "/api/v1/namespaces/a", "", ("get", "", "namespaces")),
            ("GET", "/api/v1/namespaces", "", ("list", "", "namespaces")),
            (
                "PUT",
                "/apis/coordination.k8s.io/v1/namespaces/a/leases/l",
                "",
                ("update", "coordination.k8s.io", "leases"),
            ),
            ("POST", "/apis/events.k8s.io/v1/namespaces/a/events", "", ("create", "events.k8s.io", "events")),
            ("DELETE", "/api/v1/namespaces/a/pods", "", ("deletecollection", "", "pods")),
            ("GET", "/version", "", ("get", "", "")),
        ];
        for (method, path, query, (verb, group, resource)) in cases {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let info = classify(&method, path, query);
            assert_eq!(
                info,
                RequestInfo { verb, group: group.to_string(), resource: resource.to_string() },
                "{method} {path}?{query}"
            );
        }
    }
}
