//! What the gscale CLI and its sandbox API server both do to a manifest, in one leaf crate with no
//! Kubernetes client in it: [`yaml`] reads and writes YAML (the one place that touches a YAML
//! crate, so it can be swapped in one place), and [`openapi`] checks a value against a CRD's
//! structural schema as the API server's strict field validation does.
//!
//! It is a crate rather than a module of `gscale` because the sandbox (a separate crate that
//! `gscale` depends on for `gscale demo`) needs both, and a crate cannot depend on its dependent.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod openapi;
pub mod yaml;
