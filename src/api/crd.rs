//! The CustomResourceDefinition, generated from the types (the committed `examples/crd.yaml` is
//! checked against it by a test).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use super::GeneralScaler;

/// The GeneralScaler CRD.
pub fn crd() -> CustomResourceDefinition {
    GeneralScaler::crd()
}

/// The CRD as YAML, as `install-crd --print` writes it.
pub fn crd_yaml() -> String {
    let value = serde_json::to_value(crd()).expect("a CRD always serializes to JSON");
    gscale_manifest::yaml::to_string(&value)
}
