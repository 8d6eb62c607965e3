//! Events in two shapes: stored as core/v1, served as events.k8s.io/v1 too. The conversions
//! between the two keep every field either API can set.

use super::*;

/// core/v1 Event -> events.k8s.io/v1 Event.
pub(super) fn core_to_events_v1(core: &Value) -> Value {
    let mut out = Map::new();
    let renames = [
        ("involvedObject", "regarding"),
        ("message", "note"),
        ("reportingComponent", "reportingController"),
        ("reportingInstance", "reportingInstance"),
        ("source", "deprecatedSource"),
        ("firstTimestamp", "deprecatedFirstTimestamp"),
        ("lastTimestamp", "deprecatedLastTimestamp"),
        ("count", "deprecatedCount"),
    ];
    for key in ["metadata", "reason", "type", "action", "related", "series", "eventTime"] {
        if let Some(v) = core.get(key).filter(|v| !v.is_null()) {
            out.insert(key.to_string(), v.clone());
        }
    }
    for (from, to) in renames {
        if let Some(v) = core.get(from).filter(|v| !v.is_null()) {
            out.insert(to.to_string(), v.clone());
        }
    }
    if !out.contains_key("reportingController")
        && let Some(c) = core.pointer("/source/component")
    {
        out.insert("reportingController".to_string(), c.clone());
    }
    Value::Object(out)
}

/// events.k8s.io/v1 Event -> core/v1 Event (the stored form).
pub(super) fn events_v1_to_core(v1: &Value) -> Value {
    let mut out = Map::new();
    for key in ["metadata", "reason", "type", "action", "related", "series", "eventTime"] {
        if let Some(v) = v1.get(key).filter(|v| !v.is_null()) {
            out.insert(key.to_string(), v.clone());
        }
    }
    let renames = [
        ("regarding", "involvedObject"),
        ("note", "message"),
        ("reportingController", "reportingComponent"),
        ("reportingInstance", "reportingInstance"),
        ("deprecatedSource", "source"),
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"),
    ];
    for (from, to) in renames {
        if let Some(v) = v1.get(from).filter(|v| !v.is_null()) {
            out.insert(to.to_string(), v.clone());
        }
    }
    if let Some(count) = v1.pointer("/series/count") {
        out.insert("count".to_string(), count.clone());
    }
    if !out.contains_key("source")
        && let Some(c) = v1.get("reportingController")
    {
        out.insert("source".to_string(), json!({"component": c}));
    }
    if !out.contains_key("involvedObject") {
        out.insert("involvedObject".to_string(), json!({}));
    }
    out.insert("apiVersion".to_string(), json!("v1"));
    out.insert("kind".to_string(), json!("Event"));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_convert_between_the_two_apis_without_loss() {
        let v1 = json!({
            "metadata": {"name": "e"},
            "regarding": {"kind": "Deployment", "name": "web"},
            "note": "scaled",
            "reason": "ScaledUp",
            "type": "Normal",
            "reportingController": "gscale",
            "series": {"count": 3, "lastObservedTime": "2026-01-01T00:00:00.000000Z"},
        });
        let core = events_v1_to_core(&v1);
        assert_eq!(core["involvedObject"]["name"], "web");
        assert_eq!(core["message"], "scaled");
        assert_eq!(core["count"], 3);
        assert_eq!(core["source"]["component"], "gscale");
        let back = core_to_events_v1(&core);
        for key in ["regarding", "note", "reason", "type", "reportingController", "series"] {
            assert_eq!(back[key], v1[key], "{key}");
        }
    }
}
