//! Reading `*SecretRef` keys from Secrets in the scaler's own namespace, with a short cache.
//!
//! A Secret is read with `Api<Secret>::namespaced` on the scaler's namespace and nowhere else, so a
//! scaler can never borrow another namespace's credentials. Values are cached for
//! [`super::Settings::secret_ttl`] so that thousands of scalers sharing a Secret cost one GET per TTL.
//! Errors name the Secret and key, never the value.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::error::MetricError;
use super::transport::SecretString;
use crate::api::SecretKeyRef;

type SecretData = Arc<BTreeMap<String, ByteString>>;

/// Secret reader with a per-(namespace, name) cache.
pub struct Secrets {
    client: Option<kube::Client>,
    ttl: Duration,
    cache: Mutex<HashMap<(String, String), (Instant, SecretData)>>,
}

impl Secrets {
    /// A reader on `client`; without a client every lookup fails with a clear message.
    pub fn new(client: Option<kube::Client>, ttl: Duration) -> Self {
        Self { client, ttl, cache: Mutex::new(HashMap::new()) }
    }

    /// The value of `key` in Secret `name` of `namespace`.
    pub async fn get(&self, namespace: &str, reference: &SecretKeyRef) -> Result<SecretString, MetricError> {
        let error = |detail: String| MetricError::Secret {
            namespace: namespace.to_owned(),
            name: reference.name.clone(),
            key: reference.key.clone(),
            detail,
        };
        // A name is put in the request path: `../../other-namespace/secrets/x` must never get there.
        if !crate::api::check::is_dns_subdomain(&reference.name) {
            return Err(error("not a valid Secret name (lowercase letters, digits, '-' and '.')".into()));
        }
        let data = self.data(namespace, &reference.name).await.map_err(error)?;
        let bytes = data.get(&reference.key).ok_or_else(|| {
            error(format!("no such key (keys: {})", data.keys().cloned().collect::<Vec<_>>().join(", ")))
        })?;
        let text = String::from_utf8(bytes.0.clone()).map_err(|_| error("value is not UTF-8 text".into()))?;
        Ok(SecretString::new(text.trim_end_matches(['\n', '\r'])))
    }

    /// Drop the cached Secrets of `namespace` (after an authentication failure: a fixed Secret is then
    /// read at the next fetch rather than after the TTL).
    pub fn forget(&self, namespace: &str) {
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.retain(|(cached_namespace, _), _| cached_namespace != namespace);
    }

    async fn data(&self, namespace: &str, name: &str) -> Result<SecretData, String> {
        let cache_key = (namespace.to_owned(), name.to_owned());
        {
            let cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some((read_at, data)) = cache.get(&cache_key)
                && read_at.elapsed() < self.ttl
            {
                return Ok(data.clone());
            }
        }
        let client = self
            .client
            .clone()
            .ok_or_else(|| "cannot read secrets without a kubernetes client".to_owned())?;
        let api: Api<Secret> = Api::namespaced(client, namespace);
        let secret = match api.get_opt(name).await {
            Ok(Some(secret)) => secret,
            Ok(None) => return Err("secret not found in the scaler's namespace".into()),
            Err(kube::Error::Api(status)) if status.code == 403 => {
                return Err("forbidden: gscale may not read this secret (check its RBAC)".into());
            }
            Err(kube::Error::Api(status)) => {
                return Err(format!(
                    "cannot read secret: the API server answered {}: {}",
                    status.code, status.message
                ));
            }
            Err(err) => return Err(format!("cannot read secret: {err}")),
        };
        let mut data = secret.data.unwrap_or_default();
        for (key, value) in secret.string_data.unwrap_or_default() {
            data.insert(key, ByteString(value.into_bytes()));
        }
        let data = Arc::new(data);
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.insert(cache_key, (Instant::now(), data.clone()));
        Ok(data)
    }
}
