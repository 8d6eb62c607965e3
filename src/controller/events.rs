//! Events about scalers (events.k8s.io/v1), published on transitions only: a scale, a new error.
//!
//! kube's `Recorder` folds every Event with the same reason into one series that keeps the first
//! note, so a second, different error would read as a repeat of the first. Transitions are rare,
//! so each gets its own Event with its own note.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};

/// The component name Events are reported under.
pub const REPORTING_CONTROLLER: &str = "gscale";

/// Normal or Warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Something happened as intended (a scale).
    Normal,
    /// Something needs attention (an error).
    Warning,
}

/// Publishes Events as one reporting instance.
#[derive(Clone)]
pub struct Publisher {
    client: kube::Client,
    instance: String,
}

impl Publisher {
    /// A publisher reporting as `instance` (this daemon's identity).
    pub fn new(client: kube::Client, instance: String) -> Self {
        Self { client, instance }
    }

    /// Publish one Event about `regarding`; the note is cut to 1 kB.
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        event_type: EventType,
        reason: &str,
        action: &str,
        note: &str,
    ) -> Result<(), kube::Error> {
        let namespace = regarding.namespace.clone().unwrap_or_else(|| "default".to_string());
        let now = Timestamp::now();
        let name = format!(
            "{}.{:x}",
            regarding.name.as_deref().unwrap_or("gscale"),
            now.as_nanosecond() as u64 ^ u64::from(std::process::id())
        );
        let note: String = note.chars().take(1000).collect();
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(now)),
            action: Some(action.to_string()),
            reason: Some(reason.to_string()),
            note: Some(note),
            type_: Some(
                match event_type {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_string(),
            ),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(REPORTING_CONTROLLER.to_string()),
            reporting_instance: Some(self.instance.clone()),
            ..Event::default()
        };
        Api::<Event>::namespaced(self.client.clone(), &namespace)
            .create(&PostParams::default(), &event)
            .await
            .map(|_| ())
    }
}
