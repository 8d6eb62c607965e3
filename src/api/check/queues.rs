//! The checks of the message-queue sources (`rabbitmq`, `nats`, `external`, `kafka`) no schema can express: URLs that
//! are URLs and carry no credentials, names that are not empty, and TLS verification turned off.

use super::{Finding, check_url, warn_insecure};
use crate::api::MetricSpec;

/// One metric's rabbitmq or nats block.
pub(super) fn check_metric(metric: &MetricSpec, path: &str, out: &mut Vec<Finding>) {
    let empty = |field: &str, value: &str, hint: &str, out: &mut Vec<Finding>| {
        if value.trim().is_empty() {
            out.push(Finding::error(format!("{path}.{field}"), format!("{field} is empty"), hint));
        }
    };
    if let Some(r) = &metric.rabbitmq {
        check_url(&r.url, &format!("{path}.rabbitmq.url"), out);
        if reqwest::Url::parse(&r.url).is_ok_and(|u| !u.username().is_empty() || u.password().is_some()) {
            out.push(Finding::error(
                format!("{path}.rabbitmq.url"),
                "the management URL carries credentials",
                "remove them from the URL; reference a Secret with usernameSecretRef and passwordSecretRef",
            ));
        }
        empty("rabbitmq.queueName", &r.queue_name, "name the queue whose length is the metric", out);
        empty("rabbitmq.vhost", &r.vhost, "set vhost to the queue's virtual host (`/` by default)", out);
        if r.password_secret_ref.is_some() && r.username.is_none() && r.username_secret_ref.is_none() {
            out.push(Finding::error(
                format!("{path}.rabbitmq.username"),
                "a password is set without a username",
                "set username (or usernameSecretRef) beside passwordSecretRef",
            ));
        }
        warn_insecure(r.insecure_skip_verify, &format!("{path}.rabbitmq.insecureSkipVerify"), out);
    }
    if let Some(n) = &metric.nats {
        check_url(&n.monitoring_url, &format!("{path}.nats.monitoringUrl"), out);
        empty("nats.stream", &n.stream, "name the JetStream stream", out);
        empty(
            "nats.consumer",
            &n.consumer,
            "name the durable consumer whose pending messages are the metric",
            out,
        );
        empty("nats.account", &n.account, "set account to the stream's account (`$G` by default)", out);
        warn_insecure(n.insecure_skip_verify, &format!("{path}.nats.insecureSkipVerify"), out);
    }
    if let Some(e) = &metric.external {
        let valid =
            e.scaler_address.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !valid {
            out.push(Finding::error(
                format!("{path}.external.scalerAddress"),
                format!("scalerAddress \"{}\" is not host:port", e.scaler_address),
                "write the scaler's gRPC address, e.g. my-scaler.default.svc:6000",
            ));
        }
        if !e.tls && (e.ca_secret_ref.is_some() || e.insecure_skip_verify) {
            out.push(Finding::warning(
                format!("{path}.external.tls"),
                "caSecretRef and insecureSkipVerify apply only with tls: true",
                "set tls: true, or remove them",
            ));
        }
        warn_insecure(e.tls && e.insecure_skip_verify, &format!("{path}.external.insecureSkipVerify"), out);
    }
    if let Some(k) = &metric.kafka {
        for (i, server) in k.bootstrap_servers.iter().enumerate() {
            let valid =
                server.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !valid {
                out.push(Finding::error(
                    format!("{path}.kafka.bootstrapServers[{i}]"),
                    format!("bootstrap server \"{server}\" is not host:port"),
                    "write each broker as host:port, e.g. kafka-0.kafka.svc:9092",
                ));
            }
        }
        empty(
            "kafka.consumerGroup",
            &k.consumer_group,
            "name the consumer group whose lag is the metric",
            out,
        );
        empty("kafka.topic", &k.topic, "name the topic the group consumes", out);
        if let Some(sasl) = &k.sasl
            && sasl.username.is_none()
            && sasl.username_secret_ref.is_none()
        {
            out.push(Finding::error(
                format!("{path}.kafka.sasl.username"),
                "sasl has no user",
                "set username (or usernameSecretRef) beside passwordSecretRef",
            ));
        }
        if k.sasl.as_ref().is_some_and(|s| s.mechanism == crate::api::KafkaSaslMechanism::Plain) && !k.tls {
            out.push(Finding::warning(
                format!("{path}.kafka.sasl.mechanism"),
                "SASL PLAIN without tls sends the password in the clear",
                "set tls: true, or use SCRAM-SHA-256 or SCRAM-SHA-512",
            ));
        }
        if !k.tls && (k.ca_secret_ref.is_some() || k.insecure_skip_verify) {
            out.push(Finding::warning(
                format!("{path}.kafka.tls"),
                "caSecretRef and insecureSkipVerify apply only with tls: true",
                "set tls: true, or remove them",
            ));
        }
        if k.limit_to_partitions_with_lag && k.allow_idle_consumers {
            out.push(Finding::error(
                format!("{path}.kafka.limitToPartitionsWithLag"),
                "limitToPartitionsWithLag and allowIdleConsumers contradict each other",
                "keep one of them (KEDA refuses the pair too)",
            ));
        }
        warn_insecure(k.tls && k.insecure_skip_verify, &format!("{path}.kafka.insecureSkipVerify"), out);
    }
}
