//! The message-queue triggers: rabbitmq (its management API; an AMQP host is turned into the
//! management URL with a check note) and nats-jetstream (the monitoring endpoint), and
//! `advanced.scalingModifiers` as `spec.formula` when its expr-lang formula reads the same in CEL.

use super::*;

/// The management API of a KEDA rabbitmq `host`: `(url, vhost, had credentials, derived from AMQP)`.
fn management(host: &str) -> Option<(String, Option<String>, bool, bool)> {
    let url = reqwest::Url::parse(host).ok()?;
    let (scheme, port, derived) = match url.scheme() {
        "http" | "https" => (url.scheme(), url.port(), false),
        "amqp" => ("http", Some(15672), true),
        "amqps" => ("https", Some(15671), true),
        _ => return None,
    };
    let host_name = url.host_str()?;
    let base = match port {
        Some(port) => format!("{scheme}://{host_name}:{port}"),
        None => format!("{scheme}://{host_name}"),
    };
    let path = url.path().trim_start_matches('/');
    let vhost = (!path.is_empty()).then(|| percent_decode(path));
    let credentials = !url.username().is_empty() || url.password().is_some();
    Some((base, vhost, credentials, derived))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) =
                (bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn rabbitmq(
    out: &mut Builder,
    tr: &mut Trigger<'_>,
    auth: &mut Auth,
    metric: &mut Value,
    path: &str,
) -> bool {
    let host = tr.text("host");
    if let Some(v) = tr.text("hostFromEnv") {
        out.not_mapped(path, format!("{}.metadata.hostFromEnv {v:?}: gscale reads no container environment; write the management URL as host", tr.path()));
    }
    if auth.secret("host").is_some() {
        out.not_mapped(path, format!("{} parameter host: the management URL is not a secret in gscale; write it as rabbitmq.url (credentials go in usernameSecretRef and passwordSecretRef)", auth.name));
    }
    let Some(host) = required(out, tr, "host", host) else { return false };
    let Some((url, vhost, credentials, derived)) = management(&host) else {
        out.not_mapped(
            "spec.metrics",
            format!("{}: rabbitmq host is not an amqp:// or http:// URL", tr.path()),
        );
        return false;
    };
    if credentials {
        out.not_mapped(path, format!("{}.metadata.host carries credentials: gscale takes them from a Secret (usernameSecretRef, passwordSecretRef), never from the URL", tr.path()));
    }
    if derived {
        out.check(
            path,
            format!(
                "{}.metadata.host is an AMQP URL: gscale reads the management API, assumed at {url}",
                tr.path()
            ),
        );
    }
    if let Some(protocol) = tr.text("protocol").filter(|p| p == "amqp") {
        out.check(
            path,
            format!(
                "{}.metadata.protocol {protocol}: gscale reads the same counts from the management API",
                tr.path()
            ),
        );
    }
    let mode = tr.text("mode");
    let legacy = tr.number("queueLength");
    let (mode, value) = match mode.as_deref() {
        Some("MessageRate") => ("MessageRate", tr.number("value")),
        Some("QueueLength") | None => ("QueueLength", tr.number("value").or(legacy).or(Some(20.0))),
        Some(other) => {
            out.not_mapped(
                "spec.metrics",
                format!("{}: rabbitmq mode {other:?} has no equivalent", tr.path()),
            );
            return false;
        }
    };
    let Some(value) = value.filter(|v| *v > 0.0) else {
        out.not_mapped(
            "spec.metrics",
            format!("{}: rabbitmq trigger without a positive metadata.value", tr.path()),
        );
        return false;
    };
    let queue = tr.text("queueName");
    let Some(queue) = required(out, tr, "queueName", queue) else { return false };
    let mut source = json!({"url": url, "queueName": queue, "mode": mode});
    if let Some(vhost) = tr.text("vhostName").or(vhost) {
        source["vhost"] = json!(vhost);
    }
    if tr.flag("excludeUnacknowledged") {
        source["excludeUnacknowledged"] = json!(true);
    }
    if tr.flag("unsafeSsl") {
        source["insecureSkipVerify"] = json!(true);
    }
    if let Some(secret) = auth.secret("username") {
        source["usernameSecretRef"] = secret;
    }
    if let Some(secret) = auth.secret("password") {
        source["passwordSecretRef"] = secret;
    }
    if let Some(secret) = auth.secret("ca") {
        source["caSecretRef"] = secret;
    }
    for key in ["useRegex", "operation", "pageSize", "timeout"] {
        if let Some(v) = tr.text(key) {
            out.not_mapped(
                path,
                format!("{}.metadata.{key} {v:?}: gscale reads one queue by name", tr.path()),
            );
        }
    }
    super::triggers::finish(metric, "rabbitmq", value, source)
}

pub(super) fn nats(
    out: &mut Builder,
    tr: &mut Trigger<'_>,
    auth: &mut Auth,
    metric: &mut Value,
    path: &str,
) -> bool {
    let endpoint = tr.text("natsServerMonitoringEndpoint");
    if auth.secret("natsServerMonitoringEndpoint").is_some() {
        out.not_mapped(path, format!("{} parameter natsServerMonitoringEndpoint: the endpoint is not a secret in gscale; write it as nats.monitoringUrl", auth.name));
    }
    let stream = tr.text("stream");
    let consumer = tr.text("consumer");
    let https = tr.flag("useHttps");
    let (Some(endpoint), Some(stream), Some(consumer)) = (
        required(out, tr, "natsServerMonitoringEndpoint", endpoint),
        required(out, tr, "stream", stream),
        required(out, tr, "consumer", consumer),
    ) else {
        return false;
    };
    let Some(threshold) = target_value(out, tr, "lagThreshold", Some(10.0)) else { return false };
    let url = if endpoint.contains("://") {
        endpoint
    } else {
        format!("{}://{endpoint}", if https { "https" } else { "http" })
    };
    let mut source = json!({"monitoringUrl": url, "stream": stream, "consumer": consumer});
    if let Some(account) = tr.text("account") {
        source["account"] = json!(account);
    }
    super::triggers::finish(metric, "nats", threshold, source)
}

/// An external scaler: its address, and every other metadata key handed to it as KEDA hands it.
pub(super) fn external(
    out: &mut Builder,
    tr: &mut Trigger<'_>,
    auth: &mut Auth,
    metric: &mut Value,
    path: &str,
) -> bool {
    let address = tr.text("scalerAddress");
    let Some(address) = required(out, tr, "scalerAddress", address) else { return false };
    let mut metadata = Map::new();
    for (key, value) in tr.metadata {
        if key == "scalerAddress" {
            continue;
        }
        let text = value.as_str().map_or_else(|| value.to_string(), str::to_string);
        metadata.insert(key.clone(), json!(text));
    }
    for key in ["tlsCertFile", "unsafeSsl"] {
        tr.taken.insert(key);
    }
    tr.all_taken = true;
    let mut source = json!({"scalerAddress": address});
    if !metadata.is_empty() {
        source["metadata"] = Value::Object(metadata);
    }
    if let Some(secret) = auth.secret("caCert") {
        source["tls"] = json!(true);
        source["caSecretRef"] = secret;
    }
    if tr.metadata.contains_key("tlsCertFile") {
        out.not_mapped(path, format!("{}.metadata.tlsCertFile: gscale reads certificates from Secrets (caCert in a TriggerAuthentication), not files", tr.path()));
    }
    for parameter in ["tlsClientCert", "tlsClientKey"] {
        if auth.secret(parameter).is_some() {
            out.not_mapped(
                path,
                format!("{} parameter {parameter}: gscale sends no client certificate", auth.name),
            );
        }
    }
    out.check(
        path,
        "the scaler's own targetSize (GetMetricSpec) holds each replica: targetValue 1 stands for it",
    );
    super::triggers::finish(metric, "external", 1.0, source)
}

/// `spec.advanced.scalingModifiers` as `spec.formula`, when CEL reads the formula over the mapped
/// metrics' names; else a note saying why not.
pub(super) fn scaling_modifiers(out: &mut Builder, modifiers: &Value) {
    let path = "spec.advanced.scalingModifiers";
    let text =
        |key: &str| modifiers.get(key).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
    let Some(expression) = text("formula") else {
        out.not_mapped("spec", format!("{path} without a formula: gscale takes the highest metric"));
        return;
    };
    let target = text("target").and_then(|t| quantity(&json!(t))).filter(|t| *t > 0.0);
    let Some(target) = target else {
        out.not_mapped(
            "spec",
            format!("{path}.formula {expression:?} without a positive target: not mapped"),
        );
        return;
    };
    let names: Vec<String> = out
        .metrics
        .iter()
        .filter_map(|m| m.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    if let Err(why) = crate::formula::Formula::compile(&expression, &refs) {
        out.not_mapped("spec", format!("{path}.formula {expression:?}: {why} (expr-lang beyond what CEL reads the same, or a trigger not mapped)"));
        return;
    }
    let mut formula = json!({"expression": expression, "targetValue": number(target)});
    if let Some(activation) = text("activationTarget").and_then(|t| quantity(&json!(t))) {
        formula["activationValue"] = number(activation);
    }
    match text("metricType").as_deref() {
        Some("Value") => formula["targetType"] = json!("Value"),
        None | Some("AverageValue") => {}
        Some(other) => {
            out.not_mapped("spec.formula", format!("{path}.metricType {other}: read as AverageValue"))
        }
    }
    out.spec.insert("formula".into(), formula);
    out.check("spec.formula", "the metrics' own targetValue is unused while the formula decides");
}

/// KEDA's partitionLimitation, `1,2,5-7`, as a list; None when it does not read.
fn partition_list(text: &str) -> Option<Vec<i32>> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.trim().parse::<i32>().ok()?, b.trim().parse::<i32>().ok()?);
                if a > b || b - a > 10_000 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// A Kafka consumer group's lag: brokers, group and topic; lagThreshold the target; KEDA's lag
/// rules; SASL and TLS from the TriggerAuthentication's Secrets.
pub(super) fn kafka(
    out: &mut Builder,
    tr: &mut Trigger<'_>,
    auth: &mut Auth,
    metric: &mut Value,
    path: &str,
) -> bool {
    for key in ["bootstrapServersFromEnv", "consumerGroupFromEnv", "topicFromEnv"] {
        if let Some(v) = tr.text(key) {
            out.not_mapped(
                path,
                format!(
                    "{}.metadata.{key} {v:?}: gscale reads no container environment; write the value itself",
                    tr.path()
                ),
            );
        }
    }
    let servers = tr.text("bootstrapServers");
    let group = tr.text("consumerGroup");
    let topic = tr.text("topic");
    let (Some(servers), Some(group)) =
        (required(out, tr, "bootstrapServers", servers), required(out, tr, "consumerGroup", group))
    else {
        return false;
    };
    let Some(topic) = topic else {
        out.not_mapped("spec.metrics", format!("{}: kafka trigger without metadata.topic: gscale reads one topic of the group (KEDA reads every topic the group committed)", tr.path()));
        return false;
    };
    let Some(threshold) = target_value(out, tr, "lagThreshold", Some(10.0)) else { return false };
    let servers: Vec<String> =
        servers.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
    let mut source = json!({"bootstrapServers": servers, "consumerGroup": group, "topic": topic});
    if let Some(limit) = tr.text("partitionLimitation") {
        match partition_list(&limit) {
            Some(list) if !list.is_empty() => source["partitions"] = json!(list),
            _ => out.not_mapped(path, format!("{}.metadata.partitionLimitation {limit:?}: not a list of partitions and ranges; all partitions read", tr.path())),
        }
    }
    match tr.text("offsetResetPolicy").as_deref() {
        None | Some("latest") => {}
        Some("earliest") => source["offsetResetPolicy"] = json!("Earliest"),
        Some(other) => out.not_mapped(
            path,
            format!("{}.metadata.offsetResetPolicy {other:?}: latest or earliest; read as latest", tr.path()),
        ),
    }
    for (key, field) in [
        ("allowIdleConsumers", "allowIdleConsumers"),
        ("scaleToZeroOnInvalidOffset", "scaleToZeroOnInvalidOffset"),
        ("limitToPartitionsWithLag", "limitToPartitionsWithLag"),
        ("excludePersistentLag", "excludePersistentLag"),
    ] {
        if tr.flag(key) {
            source[field] = json!(true);
        }
    }
    if let Some(version) = tr.text("version") {
        out.check(
            path,
            format!(
                "{}.metadata.version {version}: gscale asks the broker which protocol versions it speaks",
                tr.path()
            ),
        );
    }
    // SASL: the mode in metadata; a mode kept in a Secret cannot be read at import.
    let mode = tr.text("sasl");
    if auth.secret("sasl").is_some() {
        out.not_mapped(path, format!("{} parameter sasl: the mechanism is kept in a Secret gscale cannot read at import; set kafka.sasl.mechanism", auth.name));
    }
    let mechanism = match mode.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("none") | Some("") => None,
        Some("plaintext") | Some("plain") => Some("PLAIN"),
        Some("scram_sha256") => Some("SCRAM-SHA-256"),
        Some("scram_sha512") => Some("SCRAM-SHA-512"),
        Some(other) => {
            out.not_mapped(
                path,
                format!(
                    "{}.metadata.sasl {other:?}: gscale speaks SASL PLAIN and SCRAM-SHA-256/512 only",
                    tr.path()
                ),
            );
            None
        }
    };
    let (user, password) = (auth.secret("username"), auth.secret("password"));
    if let Some(mechanism) = mechanism {
        match (user, password) {
            (Some(user), Some(password)) => {
                source["sasl"] = json!({"mechanism": mechanism, "usernameSecretRef": user, "passwordSecretRef": password});
            }
            _ => out.not_mapped(path, format!("{}.metadata.sasl {mechanism}: username and password Secrets (a TriggerAuthentication) are needed; no sasl block written", tr.path())),
        }
    }
    let tls = tr.text("tls").is_some_and(|t| t.eq_ignore_ascii_case("enable"));
    if auth.secret("tls").is_some() {
        out.not_mapped(
            path,
            format!(
                "{} parameter tls: kept in a Secret gscale cannot read at import; set kafka.tls",
                auth.name
            ),
        );
    }
    if tls {
        source["tls"] = json!(true);
    }
    if let Some(ca) = auth.secret("ca") {
        source["tls"] = json!(true);
        source["caSecretRef"] = ca;
    }
    if tr.flag("unsafeSsl") {
        source["insecureSkipVerify"] = json!(true);
    }
    for parameter in ["cert", "key", "keyPassword"] {
        if auth.secret(parameter).is_some() {
            out.not_mapped(
                path,
                format!("{} parameter {parameter}: gscale sends no client certificate", auth.name),
            );
        }
    }
    super::triggers::finish(metric, "kafka", threshold, source)
}
