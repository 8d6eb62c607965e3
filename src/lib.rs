//! gscale autoscales Kubernetes workloads from any metric through policies a person can read.
//!
//! The crate is laid out as DESIGN §5 says:
//! - [`api`]: the GeneralScaler resource (spec, status, CRD, checks);
//! - [`decision`]: the pure engine, `decide(input) -> Decision`, no I/O and no clock;
//! - [`metrics`]: the metric sources (Prometheus, Redis, Pub/Sub, HTTP) and the per-reconcile fetcher;
//! - [`output`]: printing (tables, charts, YAML, JSON); the one place that touches the YAML crate;
//! - [`formula`]: CEL formulas over a scaler's named metrics (`spec.formula`);
//! - [`cron`]: 5-field cron expressions and their fire times in a time zone (for `spec.schedules`);
//! - [`import`]: HPAs and KEDA ScaledObjects converted into GeneralScalers (`gscale import`);
//! - [`install`]: the objects `gscale install` applies (and `examples/deploy/` holds);
//! - [`against`]: a replay beside the HPA reference on the same history (`plan --replay --against hpa`);
//! - [`replay`]: metric history stepped through `decide` (`gscale plan --replay`);
//! - [`sim`]: replaying load traces through the engine and the Kubernetes HPA reference;
//! - [`cli`]: clap definitions only; [`cmd`]: one file per subcommand;
//!
//! The engine never imports kube, reqwest or tokio; sources and the controller never decide.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod against;
pub mod api;
pub mod cli;
pub mod cmd;
pub mod controller;
pub mod cron;
pub mod decision;
pub mod explain;
pub mod formula;
pub mod import;
pub mod install;
pub mod metrics;
pub mod output;
pub mod reading;
pub mod replay;
pub mod sim;
