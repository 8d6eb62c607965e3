//! Routing: a Kubernetes API path parsed into what it addresses (discovery, OpenAPI, or a resource
//! with its group, version, namespace, name and subresource), the query string decoded, and the
//! request's Kubernetes verb. Pure functions of the request line; nothing here touches the store.

use std::collections::HashMap;

use http::Method;

/// A parsed request path.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Route {
    Root,
    Health,
    Version,
    Api,
    Apis,
    Group(String),
    Resources {
        group: String,
        version: String,
    },
    OpenApiIndex,
    OpenApiDoc {
        group: String,
        version: String,
    },
    OpenApiV2,
    /// `/sandbox/faults`: the fault switches, for clients outside this process (`gscale sandbox`).
    Faults,
    /// `/sandbox/requests`: the request log, likewise.
    Requests,
    Object(Target),
}

/// A resource path: `/apis/g/v/namespaces/ns/plural/name/sub`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Target {
    pub(super) group: String,
    pub(super) version: String,
    pub(super) namespace: Option<String>,
    pub(super) plural: String,
    pub(super) name: Option<String>,
    pub(super) sub: Option<String>,
    pub(super) watch_prefix: bool,
}

pub(super) fn parse_route(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let route = match segs.as_slice() {
        [] => Route::Root,
        ["healthz" | "readyz" | "livez", ..] => Route::Health,
        ["version"] => Route::Version,
        ["api"] => Route::Api,
        ["api", v] => Route::Resources { group: String::new(), version: v.to_string() },
        ["api", v, rest @ ..] => Route::Object(target("", v, rest)?),
        ["apis"] => Route::Apis,
        ["apis", g] => Route::Group(g.to_string()),
        ["apis", g, v] => Route::Resources { group: g.to_string(), version: v.to_string() },
        ["apis", g, v, rest @ ..] => Route::Object(target(g, v, rest)?),
        ["openapi", "v3"] => Route::OpenApiIndex,
        ["openapi", "v3", "api", v] => Route::OpenApiDoc { group: String::new(), version: v.to_string() },
        ["openapi", "v3", "apis", g, v] => Route::OpenApiDoc { group: g.to_string(), version: v.to_string() },
        ["openapi", "v2"] | ["swagger.json"] => Route::OpenApiV2,
        ["sandbox", "faults"] => Route::Faults,
        ["sandbox", "requests"] => Route::Requests,
        _ => return None,
    };
    Some(route)
}

fn target(group: &str, version: &str, rest: &[&str]) -> Option<Target> {
    let mut t = Target { group: group.to_string(), version: version.to_string(), ..Target::default() };
    let mut rest = rest;
    if rest.first() == Some(&"watch") {
        t.watch_prefix = true;
        rest = &rest[1..];
    }
    let core = group.is_empty();
    let own = |s: &str| Some(s.to_string());
    match rest {
        ["namespaces", ns, sub @ ("status" | "finalize")] if core => {
            t.plural = "namespaces".to_string();
            t.name = own(ns);
            t.sub = own(sub);
        }
        ["namespaces", ns, plural, tail @ ..] if tail.len() <= 2 => {
            t.namespace = own(ns);
            t.plural = plural.to_string();
            t.name = tail.first().map(|s| s.to_string());
            t.sub = tail.get(1).map(|s| s.to_string());
        }
        [plural, tail @ ..] if tail.len() <= 2 => {
            t.plural = plural.to_string();
            t.name = tail.first().map(|s| s.to_string());
            t.sub = tail.get(1).map(|s| s.to_string());
        }
        _ => return None,
    }
    Some(t)
}

/// The query string's parameters, decoded as a form (`+` is a space), the last of a repeated name kept.
pub(super) fn parse_query(query: &str) -> HashMap<String, String> {
    form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

pub(super) fn verb_of(method: &Method, route: &Option<Route>, query: &HashMap<String, String>) -> String {
    let Some(Route::Object(t)) = route else { return method.as_str().to_ascii_lowercase() };
    let watch = t.watch_prefix || matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    match *method {
        Method::GET if watch => "watch",
        Method::GET if t.name.is_none() => "list",
        Method::GET => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if t.name.is_none() => "deletecollection",
        Method::DELETE => "delete",
        _ => "unknown",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_into_routes() {
        let t = |p: &str| match parse_route(p) {
            Some(Route::Object(t)) => t,
            other => panic!("{p}: {other:?}"),
        };
        let d = t("/apis/apps/v1/namespaces/a/deployments/web/scale");
        assert_eq!(
            (d.namespace.as_deref(), d.plural.as_str(), d.name.as_deref(), d.sub.as_deref()),
            (Some("a"), "deployments", Some("web"), Some("scale"))
        );
        let n = t("/api/v1/namespaces/a");
        assert_eq!((n.namespace, n.plural.as_str(), n.name.as_deref()), (None, "namespaces", Some("a")));
        let s = t("/api/v1/namespaces/a/status");
        assert_eq!((s.plural.as_str(), s.sub.as_deref()), ("namespaces", Some("status")));
        let w = t("/api/v1/watch/namespaces/a/events");
        assert!(w.watch_prefix);
        assert_eq!(parse_route("/apis/x/v1/a/b/c/d/e"), None);
    }

    #[test]
    fn queries_are_percent_decoded() {
        let q = parse_query("labelSelector=app%3Dweb%2Ctier+in+%28a%29&limit=5&x");
        assert_eq!(q["labelSelector"], "app=web,tier in (a)");
        assert_eq!(q["limit"], "5");
        assert_eq!(q["x"], "");
        assert_eq!(parse_query("fieldSelector=a%3D")["fieldSelector"], "a=", "an escape at the very end");
    }
}
