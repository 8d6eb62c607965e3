//! A stub Kubernetes API that serves Secrets (GET only) to a real `kube::Client`, for metric tests that
//! resolve `*SecretRef` fields without a cluster. The sandbox API replaces it in end-to-end tests.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::http::{HttpServer, Response, serve};

/// Secrets by (namespace, name), each a map of key to plain value.
pub type SecretStore = Arc<Mutex<BTreeMap<(String, String), BTreeMap<String, String>>>>;

/// The stub and a client pointing at it.
pub struct SecretsApi {
    /// The stub's HTTP server.
    pub server: HttpServer,
    /// Its secrets; edit freely.
    pub secrets: SecretStore,
    /// A kube client talking to it.
    pub client: kube::Client,
}

impl SecretsApi {
    /// Put a Secret.
    pub fn put(&self, namespace: &str, name: &str, data: &[(&str, &str)]) {
        let data = data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.secrets.lock().unwrap().insert((namespace.into(), name.into()), data);
    }
}

/// Start the stub.
pub fn start() -> SecretsApi {
    let secrets: SecretStore = Arc::default();
    let store = secrets.clone();
    let server = serve(move |request| {
        let parts: Vec<&str> = request.path().trim_matches('/').split('/').collect();
        if let ["api", "v1", "namespaces", namespace, "secrets", name] = parts.as_slice() {
            let store = store.lock().unwrap();
            if let Some(data) = store.get(&(namespace.to_string(), name.to_string())) {
                let data: serde_json::Map<String, serde_json::Value> =
                    data.iter().map(|(k, v)| (k.clone(), STANDARD.encode(v.as_bytes()).into())).collect();
                return Response::json(
                    200,
                    &serde_json::json!({"apiVersion": "v1", "kind": "Secret",
                        "metadata": {"name": name, "namespace": namespace}, "type": "Opaque", "data": data}),
                );
            }
        }
        Response::json(
            404,
            &serde_json::json!({"apiVersion": "v1", "kind": "Status", "status": "Failure",
                "message": "not found", "reason": "NotFound", "code": 404}),
        )
    });
    let config = kube::Config::new(server.url.parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    SecretsApi { server, secrets, client }
}
