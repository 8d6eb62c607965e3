//! The CRD: the committed copy matches the code, it is a valid `CustomResourceDefinition`, its
//! schema is structural, and its CEL rules compile.

use std::process::Command;

use gscale_manifest::yaml;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

const COMMITTED: &str = include_str!("../examples/crd.yaml");

#[test]
fn committed_crd_matches_the_code() {
    let out = Command::new(env!("CARGO_BIN_EXE_gscale")).args(["install-crd", "--print"]).output().unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(
        printed == COMMITTED,
        "examples/crd.yaml is stale: run `cargo run -- install-crd --print > examples/crd.yaml` and commit it"
    );
}

fn crd_value() -> Value {
    let docs = yaml::parse_documents(COMMITTED).unwrap();
    assert_eq!(docs.len(), 1);
    docs.into_iter().next().unwrap().value
}

#[test]
fn printed_crd_deserializes_as_a_custom_resource_definition() {
    let crd: CustomResourceDefinition = serde_json::from_value(crd_value()).unwrap();
    assert_eq!(crd.metadata.name.as_deref(), Some("generalscalers.autoscaling.generalscaler.io"));
    assert_eq!(crd.spec.names.short_names.as_deref(), Some(&["gsc".to_string()][..]));
    assert_eq!(crd.spec.scope, "Namespaced");
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    assert!(version.served && version.storage);
    assert!(version.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some(), "status subresource");
    let columns: Vec<&str> =
        version.additional_printer_columns.iter().flatten().map(|c| c.name.as_str()).collect();
    assert_eq!(columns, ["Target", "Min", "Max", "Current", "Desired", "Metric", "Ready", "Age"]);
}

/// Structural schema rules (apiextensions): every node has a type unless it preserves unknown
/// fields or is int-or-string; no $ref; items for arrays.
fn assert_structural(schema: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(node) = schema.as_object() else {
        problems.push(format!("{path}: not an object"));
        return;
    };
    if node.contains_key("$ref") || node.contains_key("anyOf") && !node.contains_key("type") {
        problems.push(format!("{path}: $ref/anyOf without type"));
    }
    let exempt = node.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
        || node.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    match node.get("type").and_then(Value::as_str) {
        Some("array") => match node.get("items") {
            Some(items) => assert_structural(items, &format!("{path}[]"), problems),
            None => problems.push(format!("{path}: array without items")),
        },
        Some("object") => {
            for (name, child) in node.get("properties").and_then(Value::as_object).into_iter().flatten() {
                assert_structural(child, &format!("{path}.{name}"), problems);
            }
            if let Some(additional) = node.get("additionalProperties").filter(|a| a.is_object()) {
                assert_structural(additional, &format!("{path}{{}}"), problems);
            }
        }
        Some(_) => {}
        None if exempt => {}
        None => problems.push(format!("{path}: no type")),
    }
}

fn schema() -> Value {
    crd_value().pointer("/spec/versions/0/schema/openAPIV3Schema").unwrap().clone()
}

#[test]
fn schema_is_structural_with_spec_and_status_split() {
    let schema = schema();
    let mut problems = vec![];
    assert_structural(&schema, "", &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
    let properties = schema["properties"].as_object().unwrap();
    assert!(properties.contains_key("spec") && properties.contains_key("status"));
    assert_eq!(schema["required"], serde_json::json!(["spec"]));
    assert!(schema.pointer("/properties/spec/properties/status").is_none(), "status is not inside spec");
}

fn rules(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            for rule in map.get("x-kubernetes-validations").and_then(Value::as_array).into_iter().flatten() {
                out.push(rule["rule"].as_str().unwrap().to_string());
            }
            map.values().for_each(|v| rules(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| rules(v, out)),
        _ => {}
    }
}

#[test]
fn cel_rules_compile() {
    let schema = schema();
    let mut all = vec![];
    rules(&schema, &mut all);
    assert!(all.len() >= 8, "the issue's rules are all present: {all:#?}");
    for needle in ["self.minReplicas <= self.maxReplicas", "has(self.prometheus)", "self.targetValue > 0.0"] {
        assert!(all.iter().any(|r| r.contains(needle)), "missing rule {needle}");
    }
    let compiled = kube::core::cel::compile_schema(&schema);
    let errors = compiled_errors(&compiled);
    assert!(errors.is_empty(), "{errors:#?}");
    // The check can fail: a broken rule is caught.
    let broken = serde_json::json!({"type": "object", "properties": {"a": {"type": "integer",
        "x-kubernetes-validations": [{"rule": "self >"}]}}});
    assert_eq!(compiled_errors(&kube::core::cel::compile_schema(&broken)).len(), 1);
}

fn compiled_errors(schema: &kube::core::cel::CompiledSchema) -> Vec<String> {
    let mut out: Vec<String> = schema.compilation_errors().iter().map(|e| e.to_string()).collect();
    for child in schema.properties.values() {
        out.extend(compiled_errors(child));
    }
    if let Some(items) = &schema.items {
        out.extend(compiled_errors(items));
    }
    out
}
