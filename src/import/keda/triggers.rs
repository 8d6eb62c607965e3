//! One converter per KEDA trigger type that maps to a gscale source: prometheus, redis (lists and
//! streams), gcp-pubsub and metrics-api. Each fills the metric's source block and notes what does
//! not map; the ScaledObject around them is the parent module.

use super::*;

pub(super) fn prometheus(
    out: &mut Builder,
    tr: &mut Trigger<'_>,
    auth: &mut Auth,
    metric: &mut Value,
    path: &str,
) -> bool {
    let server = tr.text("serverAddress");
    let query = tr.text("query");
    let threshold = tr.number("threshold");
    let (Some(server), Some(query)) =
        (required(out, tr, "serverAddress", server), required(out, tr, "query", query))
    else {
        return false;
    };
    let Some(threshold) = threshold.filter(|t| *t > 0.0) else {
        out.not_mapped(
            "spec.metrics",
            format!("{}: prometheus trigger without a positive threshold", tr.path()),
        );
        return false;
    };
    let mut source = json!({"serverUrl": server, "query": query});
    let mut headers = Map::new();
    if let Some(custom) = tr.text("customHeaders") {
        for pair in custom.split(',').filter(|p| !p.trim().is_empty()) {
            match pair.split_once('=') {
                Some((k, v)) => {
                    headers.insert(k.trim().to_string(), json!(v.trim()));
                }
                None => out.not_mapped(path, format!("customHeaders entry {pair:?} is not name=value")),
            }
        }
    }
    if let Some(org) = tr.text("cortexOrgID") {
        headers.insert("X-Scope-OrgID".into(), json!(org));
    }
    if !headers.is_empty() {
        source["headers"] = Value::Object(headers);
    }
    if tr.flag("unsafeSsl") {
        source["insecureSkipVerify"] = json!(true);
    }
    let modes = tr.text("authModes").unwrap_or_default();
    for mode in modes.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        match mode {
            "bearer" => match auth.secret("bearerToken") {
                Some(secret) => source["bearerTokenSecretRef"] = secret,
                None => out.not_mapped(
                    path,
                    format!("authModes bearer without a bearerToken Secret in {}", auth.name),
                ),
            },
            "tls" => {
                if let Some(secret) = auth.secret("ca") {
                    source["caSecretRef"] = secret;
                }
                // The client certificate has no equivalent; its parameters are reported as unused.
            }
            other => {
                out.not_mapped(path, format!("authModes {other}: gscale sends a bearer token or nothing"))
            }
        }
    }
    // A custom CA is read whatever the auth mode.
    if source.get("caSecretRef").is_none()
        && let Some(secret) = auth.secret("ca")
    {
        source["caSecretRef"] = secret;
    }
    if let Some(v) = tr.text("ignoreNullValues")
        && v.eq_ignore_ascii_case("false")
    {
        // gscale's own rule: an empty result is an error.
    } else {
        out.check(path, "KEDA reads an empty query result as 0 (ignoreNullValues); gscale reads it as missing data and holds: end the query with `or vector(0)` if empty means idle");
    }
    for key in ["namespace", "queryParameters", "timeout"] {
        if let Some(v) = tr.text(key) {
            out.not_mapped(path, format!("{}.metadata.{key} {v:?}: gscale sends the query alone", tr.path()));
        }
    }
    finish(metric, "prometheus", threshold, source)
}

pub(super) fn redis(
    out: &mut Builder,
    tr: &mut Trigger<'_>,
    auth: &mut Auth,
    metric: &mut Value,
    stream: bool,
    path: &str,
) -> bool {
    let address = tr.text("address");
    let host = tr.text("host");
    let port = tr.text("port");
    for key in ["addressFromEnv", "hostFromEnv", "portFromEnv", "passwordFromEnv", "usernameFromEnv"] {
        if let Some(v) = tr.text(key) {
            out.not_mapped(path, format!("{}.metadata.{key} {v:?}: gscale reads no container environment; write the value or use a TriggerAuthentication Secret", tr.path()));
        }
    }
    let (host, port) = match (address, host) {
        (Some(address), _) => match address.rsplit_once(':') {
            Some((h, p)) => (Some(h.to_string()), p.parse::<u16>().ok()),
            None => (Some(address), None),
        },
        (None, Some(host)) => (Some(host), port.as_deref().and_then(|p| p.parse().ok())),
        (None, None) => (None, None),
    };
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        out.not_mapped(
            "spec.metrics",
            format!("{}: {} trigger without address or host (from env only?)", tr.path(), tr.kind),
        );
        return false;
    };
    let mut source = json!({"host": host});
    if let Some(port) = port {
        source["port"] = json!(port);
    }
    if let Some(db) = tr.number("databaseIndex") {
        source["db"] = json!(db as u32);
    }
    if let Some(user) = tr.text("username") {
        source["username"] = json!(user);
    }
    if tr.flag("enableTLS") {
        source["tls"] = json!(true);
        if tr.flag("unsafeSsl") {
            source["insecureSkipVerify"] = json!(true);
        }
        if let Some(ca) = auth.secret("ca") {
            source["caSecretRef"] = ca;
        }
    }
    if let Some(secret) = auth.secret("password") {
        source["passwordSecretRef"] = secret;
    }
    if auth.secrets.contains_key("username") || auth.elsewhere.contains_key("username") {
        auth.used.insert("username".into());
        out.not_mapped(path, format!("{} parameter username from a Secret: gscale takes the ACL user name as plain text (redis.username)", auth.name));
    }
    let target = if stream {
        let Some(stream_name) = required(
            out,
            tr,
            "stream",
            tr.metadata.get("stream").and_then(Value::as_str).map(str::to_string),
        ) else {
            return false;
        };
        tr.taken.insert("stream");
        source["queueName"] = json!(stream_name);
        source["kind"] = json!("stream");
        let group = tr.text("consumerGroup");
        let pending = tr.number("pendingEntriesCount");
        let length = tr.number("streamLength");
        let lag = tr.number("lagCount");
        match (pending, length, lag, group) {
            (None, Some(length), _, group) => {
                if let Some(g) = group {
                    out.check(path, format!("streamLength: gscale reads XLEN of the whole stream; consumerGroup {g} is not used"));
                }
                Some(length)
            }
            (pending, _, lag, Some(group)) => {
                source["consumerGroup"] = json!(group);
                out.check(
                    path,
                    "gscale counts the group's pending entries plus its lag, where KEDA counts one of them",
                );
                pending.or(lag).or(Some(5.0))
            }
            (_, _, _, None) => {
                out.not_mapped(
                    "spec.metrics",
                    format!("{}: redis-streams trigger needs consumerGroup or streamLength", tr.path()),
                );
                return false;
            }
        }
    } else {
        let Some(list) = required(
            out,
            tr,
            "listName",
            tr.metadata.get("listName").and_then(Value::as_str).map(str::to_string),
        ) else {
            return false;
        };
        tr.taken.insert("listName");
        source["queueName"] = json!(list);
        // KEDA's default listLength.
        tr.number("listLength").or(Some(5.0))
    };
    let Some(target) = target.filter(|t| *t > 0.0) else {
        out.not_mapped(
            "spec.metrics",
            format!("{}: {} trigger without a positive target", tr.path(), tr.kind),
        );
        return false;
    };
    finish(metric, "redis", target, source)
}

pub(super) fn pubsub(
    out: &mut Builder,
    tr: &mut Trigger<'_>,
    auth: &mut Auth,
    metric: &mut Value,
    path: &str,
) -> bool {
    let subscription = tr.text("subscriptionName");
    for key in [
        "subscriptionNameFromEnv",
        "topicName",
        "credentialsFromEnv",
        "credentialsFromEnvFile",
        "aggregation",
        "valueIfNull",
        "timeHorizon",
    ] {
        if let Some(v) = tr.text(key) {
            out.not_mapped(path, format!("{}.metadata.{key} {v:?}: gscale reads a subscription's backlog or oldest age, with credentials from a Secret or the pod's identity", tr.path()));
        }
    }
    let Some(subscription) = subscription else {
        out.not_mapped("spec.metrics", format!("{}: gcp-pubsub trigger without subscriptionName", tr.path()));
        return false;
    };
    let (project, subscription_id) = match subscription
        .strip_prefix("projects/")
        .and_then(|r| r.split_once("/subscriptions/"))
    {
        Some((p, s)) => (p.to_string(), s.to_string()),
        None => {
            out.not_mapped(path, format!("{}.metadata.subscriptionName {subscription:?} names no project (KEDA takes it from the credentials): set pubsub.projectId", tr.path()));
            ("PROJECT_ID".to_string(), subscription.clone())
        }
    };
    let mode = match tr.text("mode").as_deref() {
        None | Some("SubscriptionSize") => "backlog",
        Some("OldestUnackedMessageAge") => "oldestUnackedAge",
        Some(other) => {
            out.not_mapped(
                "spec.metrics",
                format!(
                    "{}: gcp-pubsub mode {other}: gscale reads SubscriptionSize or OldestUnackedMessageAge",
                    tr.path()
                ),
            );
            return false;
        }
    };
    let mut source = json!({"projectId": project, "subscriptionId": subscription_id, "mode": mode});
    match auth.secret("GoogleApplicationCredentials") {
        Some(secret) => source["credentialsSecret"] = secret,
        None if auth.pod_identity.as_deref() == Some("gcp") => {
            out.check(path, "podIdentity gcp: gscale uses Application Default Credentials (workload identity) when no credentialsSecret is set");
        }
        None => {}
    }
    let value = tr.number("subscriptionSize");
    let Some(target) = tr.number("value").or(value).or(Some(10.0)).filter(|t| *t > 0.0) else {
        out.not_mapped("spec.metrics", format!("{}: gcp-pubsub trigger without a positive value", tr.path()));
        return false;
    };
    finish(metric, "pubsub", target, source)
}

pub(super) fn metrics_api(
    out: &mut Builder,
    tr: &mut Trigger<'_>,
    auth: &mut Auth,
    metric: &mut Value,
    path: &str,
) -> bool {
    let url = tr.text("url");
    let location = tr.text("valueLocation");
    let Some(url) = required(out, tr, "url", url) else { return false };
    let Some(target) = target_value(out, tr, "targetValue", None) else { return false };
    let format = tr.text("format").unwrap_or_else(|| "json".to_string());
    let mut source = json!({"url": url});
    match (format.as_str(), location) {
        ("json", Some(location)) => match gjson_pointer(&location) {
            Some(pointer) => source["valuePath"] = json!(pointer),
            None => {
                out.not_mapped(
                    "spec.metrics",
                    format!(
                        "{}: valueLocation {location:?} uses GJSON features beyond a plain path",
                        tr.path()
                    ),
                );
                return false;
            }
        },
        ("prometheus", Some(location)) => source["valuePath"] = json!(location),
        (_, None) => {}
        (other, _) => {
            out.not_mapped(
                "spec.metrics",
                format!("{}: metrics-api format {other}: gscale reads JSON or Prometheus text", tr.path()),
            );
            return false;
        }
    }
    if tr.text("method").is_some_and(|m| m.eq_ignore_ascii_case("POST")) {
        source["method"] = json!("POST");
    }

    if tr.flag("unsafeSsl") {
        source["insecureSkipVerify"] = json!(true);
    }
    match tr.text("authMode").as_deref() {
        None => {}
        Some("bearer") => match auth.secret("token") {
            Some(secret) => source["bearerTokenSecretRef"] = secret,
            None => out.not_mapped(path, format!("authMode bearer without a token Secret in {}", auth.name)),
        },
        Some(other) => {
            out.not_mapped(path, format!("authMode {other}: gscale sends a bearer token or nothing"))
        }
    }
    if let Some(ca) = auth.secret("ca") {
        source["caSecretRef"] = ca;
    }
    finish(metric, "http", target, source)
}

/// Fill `metric` as a `kind` source with its block and target: the trigger is mapped.
pub(super) fn finish(metric: &mut Value, kind: &str, target: f64, source: Value) -> bool {
    metric["type"] = json!(kind);
    metric["targetValue"] = number(target);
    metric[kind] = source;
    true
}

/// A plain GJSON path (`components.worker.tasks`, `items.0.value`) as a JSON Pointer.
pub(super) fn gjson_pointer(path: &str) -> Option<String> {
    if path.is_empty()
        || path
            .contains(['*', '?', '#', '|', '@', '\\', '!', '=', '<', '>', '%', '(', ')', '[', ']', '{', '}'])
    {
        return None;
    }
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    Some(parts.iter().map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1"))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gjson_paths_become_pointers() {
        assert_eq!(gjson_pointer("components.worker.tasks").as_deref(), Some("/components/worker/tasks"));
        assert_eq!(gjson_pointer("items.0.value").as_deref(), Some("/items/0/value"));
        assert_eq!(gjson_pointer("a/b").as_deref(), Some("/a~1b"));
        for bad in ["", "items.#.value", "a..b", "a|@reverse"] {
            assert_eq!(gjson_pointer(bad), None, "{bad}");
        }
    }
}
