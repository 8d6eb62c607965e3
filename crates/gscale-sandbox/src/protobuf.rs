//! Just enough of the Kubernetes protobuf encoding to read what `kubectl create namespace`,
//! `kubectl create configmap` and `kubectl create secret generic` send (they send protobuf for
//! built-in kinds): the `k8s\0` + `runtime.Unknown` envelope, ObjectMeta's common fields, and the
//! fields of Namespace, ConfigMap and Secret. Anything else is refused with 415 by the caller.

use base64::Engine;
use serde_json::{Map, Value, json};

/// One protobuf field value.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(buf: &[u8], at: &mut usize) -> Option<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*at)?;
        *at += 1;
        out |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(out);
        }
    }
    None
}

/// Every (field number, value) of a message, or `None` when it is malformed.
fn fields(buf: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let key = varint(buf, &mut at)?;
        let value = match key & 7 {
            0 => Field::Varint(varint(buf, &mut at)?),
            1 => {
                at = at.checked_add(8).filter(|end| *end <= buf.len())?;
                continue;
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut at)?).ok()?;
                let end = at.checked_add(len).filter(|end| *end <= buf.len())?;
                let bytes = &buf[at..end];
                at = end;
                Field::Bytes(bytes)
            }
            5 => {
                at = at.checked_add(4).filter(|end| *end <= buf.len())?;
                continue;
            }
            _ => return None,
        };
        out.push((key >> 3, value));
    }
    Some(out)
}

fn text(bytes: &[u8]) -> Option<String> {
    String::from_utf8(bytes.to_vec()).ok()
}

/// A map<string, string|bytes> entry list, into a JSON object (bytes base64-encoded).
fn map_into(target: &mut Map<String, Value>, entry: &[u8], binary: bool) -> Option<()> {
    let (mut key, mut value) = (String::new(), Value::String(String::new()));
    for (n, f) in fields(entry)? {
        match (n, f) {
            (1, Field::Bytes(b)) => key = text(b)?,
            (2, Field::Bytes(b)) if binary => {
                value = json!(base64::engine::general_purpose::STANDARD.encode(b));
            }
            (2, Field::Bytes(b)) => value = json!(text(b)?),
            _ => {}
        }
    }
    target.insert(key, value);
    Some(())
}

fn object_meta(buf: &[u8]) -> Option<Value> {
    let mut meta = Map::new();
    let (mut labels, mut annotations, mut finalizers) = (Map::new(), Map::new(), Vec::new());
    for (n, f) in fields(buf)? {
        match (n, f) {
            (1, Field::Bytes(b)) => {
                meta.insert("name".into(), json!(text(b)?));
            }
            (2, Field::Bytes(b)) => {
                meta.insert("generateName".into(), json!(text(b)?));
            }
            (3, Field::Bytes(b)) => {
                meta.insert("namespace".into(), json!(text(b)?));
            }
            (11, Field::Bytes(b)) => map_into(&mut labels, b, false)?,
            (12, Field::Bytes(b)) => map_into(&mut annotations, b, false)?,
            (14, Field::Bytes(b)) => finalizers.push(json!(text(b)?)),
            _ => {}
        }
    }
    for (key, map) in [("labels", labels), ("annotations", annotations)] {
        if !map.is_empty() {
            meta.insert(key.into(), Value::Object(map));
        }
    }
    if !finalizers.is_empty() {
        meta.insert("finalizers".into(), Value::Array(finalizers));
    }
    Some(Value::Object(meta))
}

/// Decode a protobuf request body of a supported kind into its JSON form.
pub fn decode(body: &[u8]) -> Option<Value> {
    let envelope = body.strip_prefix(b"k8s\0")?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), None);
    for (n, f) in fields(envelope)? {
        match (n, f) {
            (1, Field::Bytes(type_meta)) => {
                for (m, g) in fields(type_meta)? {
                    match (m, g) {
                        (1, Field::Bytes(b)) => api_version = text(b)?,
                        (2, Field::Bytes(b)) => kind = text(b)?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(b)) => raw = Some(b),
            _ => {}
        }
    }
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!(api_version));
    out.insert("kind".into(), json!(kind.clone()));
    let (mut data, mut binary, mut string_data) = (Map::new(), Map::new(), Map::new());
    for (n, f) in fields(raw?)? {
        match (kind.as_str(), n, f) {
            (_, 1, Field::Bytes(b)) => {
                out.insert("metadata".into(), object_meta(b)?);
            }
            ("ConfigMap", 2, Field::Bytes(b)) => map_into(&mut data, b, false)?,
            ("ConfigMap", 3, Field::Bytes(b)) => map_into(&mut binary, b, true)?,
            ("ConfigMap", 4, Field::Varint(v)) | ("Secret", 5, Field::Varint(v)) => {
                out.insert("immutable".into(), json!(v != 0));
            }
            ("Secret", 2, Field::Bytes(b)) => map_into(&mut data, b, true)?,
            ("Secret", 3, Field::Bytes(b)) => {
                out.insert("type".into(), json!(text(b)?));
            }
            ("Secret", 4, Field::Bytes(b)) => map_into(&mut string_data, b, false)?,
            ("Namespace" | "ConfigMap" | "Secret", _, _) => {}
            _ => return None,
        }
    }
    for (key, map) in [("data", data), ("binaryData", binary), ("stringData", string_data)] {
        if !map.is_empty() {
            out.insert(key.into(), Value::Object(map));
        }
    }
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![((n << 3) | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn a_secret_from_kubectl_create_decodes() {
        let meta =
            [field(1, b"s1"), field(3, b"ns"), field(11, &[field(1, b"app"), field(2, b"web")].concat())]
                .concat();
        let object =
            [field(1, &meta), field(2, &[field(1, b"k"), field(2, b"v")].concat()), field(3, b"Opaque")]
                .concat();
        let envelope =
            [field(1, &[field(1, b"v1"), field(2, b"Secret")].concat()), field(2, &object)].concat();
        let body = [b"k8s\0".as_slice(), &envelope].concat();
        let v = decode(&body).unwrap();
        assert_eq!(v["kind"], "Secret");
        assert_eq!(v["metadata"]["name"], "s1");
        assert_eq!(v["metadata"]["labels"]["app"], "web");
        assert_eq!(v["data"]["k"], "dg==");
        assert_eq!(v["type"], "Opaque");
        assert!(decode(b"k8s\0\xff").is_none(), "malformed input is refused, not a panic");
        assert!(decode(b"{}").is_none());
    }
}
