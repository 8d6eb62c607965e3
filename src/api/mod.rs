//! The GeneralScaler resource: spec and status types, defaults, the CRD, and the names of
//! conditions and Event reasons.
//!
//! Types here are plain serde/schemars data; they carry no behaviour beyond small accessors.
//! Semantic checks beyond the schema live in [`check`]; the decision engine lives in `decision`.

pub mod check;
mod crd;
mod forecast;
mod formula;
pub mod names;
mod queues;
mod schedule;
mod spec;
mod status;

pub use crd::{crd, crd_yaml};
pub use forecast::*;
pub use formula::{DecisionView, FormulaSpec};
pub use queues::*;
pub use schedule::*;
pub use spec::*;
pub use status::*;

/// The API group.
pub const GROUP: &str = "autoscaling.generalscaler.io";
/// The API version within the group.
pub const VERSION: &str = "v1alpha1";
/// `group/version`, as written in `apiVersion`.
pub const API_VERSION: &str = "autoscaling.generalscaler.io/v1alpha1";
/// The kind.
pub const KIND: &str = "GeneralScaler";
/// The CRD's name.
pub const CRD_NAME: &str = "generalscalers.autoscaling.generalscaler.io";
