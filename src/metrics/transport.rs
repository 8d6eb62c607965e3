//! What the HTTP-based sources share: the reqwest clients (one per TLS setting, reused across
//! reconciles, resolving through the host policy, and with no proxy from the environment unless the
//! daemon was told to use it), request headers, transport error mapping, and [`SecretString`].
//!
//! No source logic lives here; Prometheus and HTTP build their requests on top of it.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::error::{MetricError, Target};
use super::hosts::{HostPolicy, Resolver};

/// A secret value: never printed, compared or logged, only handed to the wire.
#[derive(Clone)]
pub struct SecretString(String);

impl SecretString {
    /// Wrap a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A process-local fingerprint, so that two queries with different credentials are never merged.
    pub fn fingerprint(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.0.hash(&mut hasher);
        hasher.finish()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

/// A URL as shown in messages: without user info or query string.
pub fn display_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.to_string().trim_end_matches('/').to_owned()
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or(url).to_owned(),
    }
}

/// The error for a failed request: denied by the host policy, unreachable, timed out or other.
pub fn request_error(target: &Target, err: reqwest::Error) -> MetricError {
    if let Some(denied) = super::hosts::denied_in(&err) {
        return MetricError::Denied { target: target.clone(), detail: denied.to_string() };
    }
    // reqwest's Display includes the URL, which may carry a query string; keep the cause chain only.
    let mut detail = String::new();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        if !detail.is_empty() {
            detail.push_str(": ");
        }
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    let (connect, timeout, decode) = (err.is_connect(), err.is_timeout(), err.is_decode() || err.is_body());
    if detail.is_empty() {
        detail = err.without_url().to_string();
    }
    if connect {
        MetricError::Unreachable { target: target.clone(), detail }
    } else if timeout {
        MetricError::Unreachable { target: target.clone(), detail: format!("timed out: {detail}") }
    } else if decode {
        MetricError::BadReply { target: target.clone(), detail }
    } else {
        MetricError::Unreachable { target: target.clone(), detail }
    }
}

/// The spec's headers as a header map.
pub fn header_map(kind: &'static str, headers: &BTreeMap<String, String>) -> Result<HeaderMap, MetricError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let invalid = |what: &str| MetricError::InvalidSource {
            kind,
            detail: format!("header `{name}`: invalid {what}"),
        };
        let name_parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid("name"))?;
        let mut value = HeaderValue::from_str(value).map_err(|_| invalid("value"))?;
        value.set_sensitive(true);
        map.insert(name_parsed, value);
    }
    Ok(map)
}

/// TLS settings that make one reqwest client differ from another.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TlsSettings {
    /// Extra PEM CA bundle, trusted besides the system roots.
    pub ca_pem: Option<String>,
    /// Accept any certificate.
    pub insecure_skip_verify: bool,
}

/// The reqwest clients, one per TLS setting: connections are pooled and reused across reconciles.
/// Each resolves names through the host policy and follows no redirect itself (see `send`). reqwest
/// sends through the proxy its environment names unless told not to; through a proxy the policy
/// would see only the proxy's address, so there is none unless the daemon was told to use it.
pub struct HttpClients {
    hosts: Arc<HostPolicy>,
    proxy_from_environment: bool,
    clients: Mutex<HashMap<TlsSettings, reqwest::Client>>,
}

impl HttpClients {
    /// No client yet; those built will enforce `hosts`, through the environment's proxy only with
    /// `proxy_from_environment`.
    pub fn new(hosts: Arc<HostPolicy>, proxy_from_environment: bool) -> Self {
        Self { hosts, proxy_from_environment, clients: Mutex::default() }
    }

    /// The client for these TLS settings, built on first use.
    pub fn get(&self, kind: &'static str, tls: &TlsSettings) -> Result<reqwest::Client, MetricError> {
        let mut clients = self.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(client) = clients.get(tls) {
            return Ok(client.clone());
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(300))
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .dns_resolver(Arc::new(Resolver::new(self.hosts.clone())))
            .user_agent(concat!("gscale/", env!("CARGO_PKG_VERSION")));
        if !self.proxy_from_environment {
            builder = builder.no_proxy();
        }
        if let Some(pem) = &tls.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|_| {
                MetricError::InvalidSource { kind, detail: "CA bundle is not valid PEM".into() }
            })?;
            if certs.is_empty() {
                return Err(MetricError::InvalidSource {
                    kind,
                    detail: "CA bundle holds no certificate".into(),
                });
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if tls.insecure_skip_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let client = builder
            .build()
            .map_err(|err| MetricError::InvalidSource { kind, detail: format!("http client: {err}") })?;
        clients.insert(tls.clone(), client.clone());
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_url_hides_credentials() {
        assert_eq!(display_url("http://user:pw@prom:9090/?token=x"), "http://prom:9090");
        assert_eq!(display_url("https://prom.example/api"), "https://prom.example/api");
    }

    #[test]
    fn secret_debug_is_redacted() {
        let secret = SecretString::new("hunter2");
        assert_eq!(format!("{secret:?}"), "SecretString(***)");
        assert_ne!(secret.fingerprint(), SecretString::new("hunter3").fingerprint());
    }
}
