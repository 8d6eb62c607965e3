//! Resolving a metric's spec into a ready source: its URL, headers and Secrets read from the
//! scaler's namespace, TLS settings, and the key identical queries share. Separate from the
//! fetcher's scheduling (dedup, concurrency, timing) in `mod.rs`.

use super::*;

/// What an HTTP-based source (Prometheus, HTTP) takes from its spec.
pub(super) struct HttpParts {
    pub(super) client: reqwest::Client,
    pub(super) headers: reqwest::header::HeaderMap,
    pub(super) token: Option<SecretString>,
    pub(super) tls: TlsSettings,
}

/// A source built for one fetch, with what the fetcher needs around it.
pub(super) struct Resolved {
    pub(super) source: Source,
    /// Every parameter that can change the answer, hashed (secrets only by fingerprint).
    pub(super) dedup_key: u64,
    /// Values to scrub from error messages.
    pub(super) secrets: Vec<SecretString>,
    /// The backend for concurrency limits: a Redis `host:port`, a Google project, or a URL whose
    /// origin is the backend (worked out only when a query is sent, not at every shared read).
    pub(super) backend: String,
}

/// The origin (`scheme://host:port`) of a URL, or the text itself.
pub(super) fn origin(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => format!(
            "{}://{}:{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or(""),
            parsed.port_or_known_default().unwrap_or(0)
        ),
        Err(_) => url.to_owned(),
    }
}

impl Fetcher {
    /// Build the source for `metric`: resolve its secrets in `namespace`, attach pooled clients.
    pub(super) async fn resolve(
        &self,
        namespace: &str,
        scope: Scope<'_>,
        metric: &MetricSpec,
    ) -> Result<Resolved, MetricError> {
        let target = target_of(metric)?;
        let secrets = &self.inner.secrets;
        match metric.kind {
            MetricType::Prometheus => {
                let spec = metric.prometheus.as_ref().expect("checked by target_of");
                self.resolve_prometheus(namespace, spec, target).await
            }
            MetricType::Http => {
                let spec = metric.http.as_ref().expect("checked by target_of");
                let HttpParts { client, headers, token, tls } = self
                    .http_parts(
                        namespace,
                        "http",
                        &spec.headers,
                        spec.bearer_token_secret_ref.as_ref(),
                        spec.ca_secret_ref.as_ref(),
                        spec.insecure_skip_verify,
                    )
                    .await?;
                let dedup_key = hash_of(&(
                    "http",
                    &spec.url,
                    spec.method as u8,
                    &spec.body,
                    &spec.headers,
                    &spec.value_path,
                    token.as_ref().map(SecretString::fingerprint),
                    &tls,
                ));
                let mut hidden: Vec<SecretString> = spec.headers.values().map(SecretString::new).collect();
                hidden.extend(token.clone());
                let source = http::HttpQuery {
                    target,
                    client,
                    limits: self.inner.settings.limits.clone(),
                    url: spec.url.clone(),
                    method: spec.method,
                    body: spec.body.clone(),
                    headers,
                    bearer_token: token,
                    value_path: spec.value_path.clone(),
                };
                Ok(Resolved {
                    source: Source::Http(source),
                    dedup_key,
                    secrets: hidden,
                    backend: spec.url.clone(),
                })
            }
            MetricType::Redis => {
                let spec = metric.redis.as_ref().expect("checked by target_of");
                let password = match (&spec.password_secret_ref, &spec.password) {
                    (Some(reference), _) => Some(secrets.get(namespace, reference).await?),
                    (None, Some(password)) => {
                        self.warn_once(
                            format!("{namespace}/{}:{}", spec.host, spec.port),
                            "redis password given in plain text; prefer passwordSecretRef",
                        );
                        Some(SecretString::new(password.clone()))
                    }
                    (None, None) => None,
                };
                let ca_pem = match &spec.ca_secret_ref {
                    Some(reference) => Some(secrets.get(namespace, reference).await?.expose().to_owned()),
                    None => None,
                };
                if spec.consumer_group.is_some() && spec.kind != RedisKind::Stream {
                    return Err(MetricError::InvalidSource {
                        kind: "redis",
                        detail: "consumerGroup needs kind: stream".into(),
                    });
                }
                let key = redis::ServerKey {
                    host: spec.host.clone(),
                    port: spec.port,
                    db: spec.db,
                    username: spec.username.clone(),
                    password_fingerprint: password.as_ref().map(SecretString::fingerprint),
                    tls: spec.tls,
                    insecure_skip_verify: spec.insecure_skip_verify,
                    ca_fingerprint: ca_pem.as_ref().map(hash_of),
                };
                let limits = &self.inner.settings.limits;
                let seconds = metric.timeout_seconds.clamp(1, limits.max_timeout_seconds.max(1));
                let bounds = redis::Bounds {
                    max_reply_bytes: limits.max_reply_bytes,
                    hosts: &limits.hosts,
                    timeout: Duration::from_secs(u64::from(seconds)),
                };
                let credentials = redis::Credentials { password: password.clone(), ca_pem };
                let dedup_key = hash_of(&(
                    "redis",
                    &key,
                    &spec.queue_name,
                    spec.kind == RedisKind::Stream,
                    &spec.consumer_group,
                ));
                let link =
                    self.inner.redis.get(&key, &credentials, bounds, &target).await.map_err(|err| {
                        err.redact(
                            &password.as_ref().map(SecretString::expose).into_iter().collect::<Vec<_>>(),
                        )
                    })?;
                let source = redis::RedisQuery {
                    target,
                    link,
                    max_reply_bytes: limits.max_reply_bytes,
                    key: spec.queue_name.clone(),
                    kind: spec.kind,
                    consumer_group: spec.consumer_group.clone(),
                };
                let backend = format!("{}:{}", spec.host, spec.port);
                Ok(Resolved {
                    source: Source::Redis(source),
                    dedup_key,
                    secrets: password.into_iter().collect(),
                    backend,
                })
            }
            MetricType::Pubsub => self.resolve_pubsub(namespace, metric, target).await,
            MetricType::Resource => self.resolve_resource(namespace, scope, metric, target),
            MetricType::Rabbitmq => self.resolve_rabbitmq(namespace, metric, target).await,
            MetricType::Nats => self.resolve_nats(namespace, metric, target).await,
            MetricType::External => self.resolve_external(namespace, scope, metric, target).await,
            MetricType::Kafka => self.resolve_kafka(namespace, metric, target).await,
            MetricType::Formula => Err(MetricError::InvalidSource {
                kind: "formula",
                detail: "a formula is spec.formula, not a metric's type".into(),
            }),
        }
    }

    /// A RabbitMQ queue: the management API with basic auth from the spec or its Secrets.
    async fn resolve_rabbitmq(
        &self,
        namespace: &str,
        metric: &MetricSpec,
        target: Target,
    ) -> Result<Resolved, MetricError> {
        let spec = metric.rabbitmq.as_ref().expect("checked by target_of");
        let secrets = &self.inner.secrets;
        let none = std::collections::BTreeMap::new();
        let HttpParts { client, tls, .. } = self
            .http_parts(
                namespace,
                "rabbitmq",
                &none,
                None,
                spec.ca_secret_ref.as_ref(),
                spec.insecure_skip_verify,
            )
            .await?;
        let user = match (&spec.username_secret_ref, &spec.username) {
            (Some(reference), _) => Some(secrets.get(namespace, reference).await?),
            (None, Some(user)) => Some(SecretString::new(user.clone())),
            (None, None) => None,
        };
        let password = match &spec.password_secret_ref {
            Some(reference) => Some(secrets.get(namespace, reference).await?),
            None => None,
        };
        let mut hidden: Vec<SecretString> = password.iter().cloned().collect();
        let headers = match (&user, &password) {
            (None, None) => reqwest::header::HeaderMap::new(),
            (user, password) => {
                let user = user.as_ref().map_or("", SecretString::expose);
                let password = password.as_ref().map_or("", SecretString::expose);
                let (headers, encoded) = rabbitmq::basic_auth(user, password)?;
                hidden.push(encoded);
                headers
            }
        };
        let dedup_key = hash_of(&(
            "rabbitmq",
            spec.url.trim_end_matches('/'),
            &spec.vhost,
            &spec.queue_name,
            spec.mode,
            spec.exclude_unacknowledged,
            user.as_ref().map(SecretString::fingerprint),
            password.as_ref().map(SecretString::fingerprint),
            &tls,
        ));
        let source = rabbitmq::RabbitMqQuery {
            target,
            client,
            limits: self.inner.settings.limits.clone(),
            url: spec.url.clone(),
            vhost: spec.vhost.clone(),
            queue: spec.queue_name.clone(),
            mode: spec.mode,
            exclude_unacknowledged: spec.exclude_unacknowledged,
            headers,
        };
        Ok(Resolved {
            source: Source::RabbitMq(source),
            dedup_key,
            secrets: hidden,
            backend: spec.url.clone(),
        })
    }

    /// A NATS JetStream consumer: the monitoring endpoint, which takes no credentials.
    async fn resolve_nats(
        &self,
        namespace: &str,
        metric: &MetricSpec,
        target: Target,
    ) -> Result<Resolved, MetricError> {
        let spec = metric.nats.as_ref().expect("checked by target_of");
        let none = std::collections::BTreeMap::new();
        let HttpParts { client, tls, .. } = self
            .http_parts(
                namespace,
                "nats",
                &none,
                None,
                spec.ca_secret_ref.as_ref(),
                spec.insecure_skip_verify,
            )
            .await?;
        let dedup_key = hash_of(&(
            "nats",
            spec.monitoring_url.trim_end_matches('/'),
            &spec.account,
            &spec.stream,
            &spec.consumer,
            spec.include_ack_pending,
            &tls,
        ));
        let source = nats::NatsQuery {
            target,
            client,
            limits: self.inner.settings.limits.clone(),
            monitoring_url: spec.monitoring_url.clone(),
            account: spec.account.clone(),
            stream: spec.stream.clone(),
            consumer: spec.consumer.clone(),
            include_ack_pending: spec.include_ack_pending,
        };
        Ok(Resolved {
            source: Source::Nats(source),
            dedup_key,
            secrets: Vec::new(),
            backend: spec.monitoring_url.clone(),
        })
    }

    /// A Kafka consumer group: SASL credentials and the CA from Secrets, sockets opened per read.
    async fn resolve_kafka(
        &self,
        namespace: &str,
        metric: &MetricSpec,
        target: Target,
    ) -> Result<Resolved, MetricError> {
        let spec = metric.kafka.as_ref().expect("checked by target_of");
        let secrets = &self.inner.secrets;
        let sasl = match &spec.sasl {
            Some(sasl) => {
                let username = match (&sasl.username_secret_ref, &sasl.username) {
                    (Some(reference), _) => secrets.get(namespace, reference).await?,
                    (None, Some(user)) => SecretString::new(user.clone()),
                    (None, None) => {
                        return Err(MetricError::InvalidSource {
                            kind: "kafka",
                            detail: "sasl needs username or usernameSecretRef".into(),
                        });
                    }
                };
                let password = secrets.get(namespace, &sasl.password_secret_ref).await?;
                Some(kafka::Sasl { mechanism: sasl.mechanism, username, password })
            }
            None => None,
        };
        let ca = match (&spec.ca_secret_ref, spec.tls) {
            (Some(reference), true) => Some(secrets.get(namespace, reference).await?.expose().to_owned()),
            _ => None,
        };
        let tls =
            match spec.tls {
                true => Some(Arc::new(redis::tls_config(spec.insecure_skip_verify, ca.as_deref()).map_err(
                    |e| MetricError::InvalidSource { kind: "kafka", detail: format!("tls: {e}") },
                )?)),
                false => None,
            };
        let rules = kafka::LagRules {
            reset: spec.offset_reset_policy,
            scale_to_zero_on_invalid_offset: spec.scale_to_zero_on_invalid_offset,
            allow_idle_consumers: spec.allow_idle_consumers,
            limit_to_partitions_with_lag: spec.limit_to_partitions_with_lag,
            exclude_persistent_lag: spec.exclude_persistent_lag,
        };
        let dedup_key = hash_of(&(
            "kafka",
            &spec.bootstrap_servers,
            &spec.consumer_group,
            &spec.topic,
            &spec.partitions,
            rules,
            metric.target_value.to_bits(),
            sasl.as_ref().map(|s| (s.mechanism, s.username.fingerprint(), s.password.fingerprint())),
            spec.tls,
            spec.insecure_skip_verify,
            ca.as_ref().map(hash_of),
        ));
        let limits = &self.inner.settings.limits;
        let hidden: Vec<SecretString> = sasl.iter().map(|s| s.password.clone()).collect();
        let source = kafka::KafkaQuery {
            target,
            bootstrap: spec.bootstrap_servers.clone(),
            group: spec.consumer_group.clone(),
            topic: spec.topic.clone(),
            partitions: spec.partitions.clone(),
            rules,
            target_value: metric.target_value,
            sasl,
            tls,
            hosts: limits.hosts.clone(),
            max_reply_bytes: limits.max_reply_bytes,
            memory: self.inner.kafka.clone(),
            memory_key: dedup_key,
        };
        Ok(Resolved {
            source: Source::Kafka(source),
            dedup_key,
            secrets: hidden,
            backend: spec.bootstrap_servers.join(","),
        })
    }

    /// A KEDA external scaler: a pooled gRPC channel over a socket the host policy checks.
    async fn resolve_external(
        &self,
        namespace: &str,
        scope: Scope<'_>,
        metric: &MetricSpec,
        target: Target,
    ) -> Result<Resolved, MetricError> {
        let spec = metric.external.as_ref().expect("checked by target_of");
        let ca = match (&spec.ca_secret_ref, spec.tls) {
            (Some(reference), true) => {
                Some(self.inner.secrets.get(namespace, reference).await?.expose().to_owned())
            }
            _ => None,
        };
        let dial = external::Dial {
            address: spec.scaler_address.clone(),
            tls: spec.tls.then_some((ca, spec.insecure_skip_verify)),
        };
        let limits = &self.inner.settings.limits;
        let channel = self.inner.external.get(&dial, limits.hosts.clone(), &target)?;
        let object = external::ScaledObjectRef {
            name: scope.target_ref.name.clone(),
            namespace: namespace.to_string(),
            scaler_metadata: spec.metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        };
        let dedup_key = hash_of(&(
            "external",
            &dial,
            namespace,
            &scope.target_ref.name,
            &spec.metadata,
            &spec.metric_name,
            metric.target_value.to_bits(),
        ));
        let source = external::ExternalQuery {
            target,
            channel,
            max_reply_bytes: limits.max_reply_bytes,
            object,
            metric_name: spec.metric_name.clone(),
            target_value: metric.target_value,
        };
        Ok(Resolved {
            source: Source::External(source),
            dedup_key,
            secrets: Vec::new(),
            backend: spec.scaler_address.clone(),
        })
    }

    /// A resource metric reads the target's pods through the fetcher's own kube client.
    fn resolve_resource(
        &self,
        namespace: &str,
        scope: Scope<'_>,
        metric: &MetricSpec,
        target: Target,
    ) -> Result<Resolved, MetricError> {
        let spec = metric.resource.as_ref().expect("checked by target_of");
        let client = self.inner.client.clone().ok_or_else(|| MetricError::InvalidSource {
            kind: "resource",
            detail: "a resource metric reads the cluster's pods, and no cluster connection was given".into(),
        })?;
        let goal = match metric.effective_target_type() {
            crate::api::TargetType::Utilization => resource::hpa::Goal::Utilization(metric.target_value),
            crate::api::TargetType::AverageValue => resource::hpa::Goal::AverageValue(metric.target_value),
            crate::api::TargetType::Value => {
                return Err(MetricError::InvalidSource {
                    kind: "resource",
                    detail: "targetType Value does not apply to a resource metric: use Utilization or AverageValue"
                        .into(),
                });
            }
        };
        // Everything the answer depends on: the pods (namespace, target) and the rule's inputs.
        let dedup_key = hash_of(&(
            "resource",
            namespace,
            scope.target_ref,
            spec.name,
            &spec.container,
            format!("{goal:?}"),
            scope.tolerance.to_bits(),
        ));
        let source = resource::ResourceQuery {
            target,
            client,
            kinds: self.inner.kinds.clone(),
            namespace: namespace.to_string(),
            target_ref: scope.target_ref.clone(),
            resource: spec.name,
            container: spec.container.clone(),
            goal,
            tolerance: scope.tolerance,
        };
        Ok(Resolved {
            source: Source::Resource(source),
            dedup_key,
            secrets: Vec::new(),
            backend: resource::METRICS_API.to_string(),
        })
    }

    /// The HTTP client (by TLS settings), headers and bearer token an HTTP-based source needs.
    pub(super) async fn http_parts(
        &self,
        namespace: &str,
        kind: &'static str,
        headers: &std::collections::BTreeMap<String, String>,
        bearer_token: Option<&crate::api::SecretKeyRef>,
        ca: Option<&crate::api::SecretKeyRef>,
        insecure_skip_verify: bool,
    ) -> Result<HttpParts, MetricError> {
        let secrets = &self.inner.secrets;
        let token = match bearer_token {
            Some(reference) => Some(secrets.get(namespace, reference).await?),
            None => None,
        };
        let ca_pem = match ca {
            Some(reference) => Some(secrets.get(namespace, reference).await?.expose().to_owned()),
            None => None,
        };
        let tls = TlsSettings { ca_pem, insecure_skip_verify };
        let client = self.inner.http.get(kind, &tls)?;
        let headers = transport::header_map(kind, headers)?;
        Ok(HttpParts { client, headers, token, tls })
    }

    pub(super) async fn resolve_prometheus(
        &self,
        namespace: &str,
        spec: &PrometheusSource,
        target: Target,
    ) -> Result<Resolved, MetricError> {
        let HttpParts { client, headers, token, tls } = self
            .http_parts(
                namespace,
                "prometheus",
                &spec.headers,
                spec.bearer_token_secret_ref.as_ref(),
                spec.ca_secret_ref.as_ref(),
                spec.insecure_skip_verify,
            )
            .await?;
        let dedup_key = hash_of(&(
            "prometheus",
            spec.server_url.trim_end_matches('/'),
            &spec.query,
            &spec.headers,
            token.as_ref().map(SecretString::fingerprint),
            &tls,
        ));
        let mut hidden: Vec<SecretString> = spec.headers.values().map(SecretString::new).collect();
        hidden.extend(token.clone());
        let source = prometheus::PrometheusQuery {
            target,
            client,
            limits: self.inner.settings.limits.clone(),
            server_url: spec.server_url.clone(),
            query: spec.query.clone(),
            headers,
            bearer_token: token,
        };
        Ok(Resolved {
            source: Source::Prometheus(source),
            dedup_key,
            secrets: hidden,
            backend: spec.server_url.clone(),
        })
    }

    #[cfg(feature = "pubsub")]
    pub(super) async fn resolve_pubsub(
        &self,
        namespace: &str,
        metric: &MetricSpec,
        target: Target,
    ) -> Result<Resolved, MetricError> {
        let spec = metric.pubsub.as_ref().expect("checked by target_of");
        let key = match &spec.credentials_secret {
            Some(reference) => Some(self.inner.secrets.get(namespace, reference).await?),
            None => None,
        };
        let settings = &self.inner.settings;
        let clients = self
            .inner
            .gcp
            .get(
                settings.pubsub_endpoint.as_deref(),
                settings.monitoring_endpoint.as_deref(),
                key.as_ref(),
                &target,
            )
            .await?;
        let dedup_key = hash_of(&(
            "pubsub",
            &spec.project_id,
            &spec.subscription_id,
            spec.mode == crate::api::PubSubMode::Backlog,
            key.as_ref().map(SecretString::fingerprint),
        ));
        let source = pubsub::PubSubQuery {
            target,
            clients,
            project_id: spec.project_id.clone(),
            subscription_id: spec.subscription_id.clone(),
            mode: spec.mode,
            check_interval: settings.pubsub_check_interval,
        };
        let backend = format!("projects/{}", spec.project_id);
        Ok(Resolved {
            source: Source::PubSub(source),
            dedup_key,
            secrets: key.into_iter().collect(),
            backend,
        })
    }

    #[cfg(not(feature = "pubsub"))]
    pub(super) async fn resolve_pubsub(
        &self,
        _: &str,
        _: &MetricSpec,
        _: Target,
    ) -> Result<Resolved, MetricError> {
        Err(MetricError::Unsupported { kind: "pubsub", feature: "pubsub" })
    }
}
