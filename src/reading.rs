//! What a metric source hands to the engine: a reading, or why there is none. A leaf module, so the
//! sources (`metrics`) and the engine (`decision`) share these types without depending on each other.

/// A metric reading: its value, or why it could not be read.
pub type Reading = Result<f64, String>;

/// The readings of the slo policy's own queries; `None` where a query is not configured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SloReadings {
    /// Current latency in milliseconds.
    pub latency_ms: Option<Reading>,
    /// Current error rate as a fraction.
    pub error_rate: Option<Reading>,
}
