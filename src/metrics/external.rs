//! The external source: a KEDA external scaler spoken to over gRPC, `externalscaler.proto`'s
//! `IsActive`, `GetMetricSpec` and `GetMetrics`, so a scaler written for KEDA works unchanged.
//!
//! The messages are written here by hand as prost structs (no protoc, no build script); the client is
//! tonic's channel over a socket gscale opens itself: the host policy checks every address, TLS is
//! rustls (the spec's CA, else the system's roots, or none checked with `insecureSkipVerify`), and
//! replies are capped at `--max-metric-reply-bytes` by the codec. The reading is the scaler's metric
//! value scaled so that its own `targetSize` lands on the metric's `targetValue` (KEDA holds each
//! replica to `targetSize`), and 0 while `IsActive` says the scaler is inactive (KEDA's way to scale
//! to zero). A status's message is the scaler's words: errors give its code and size only. External
//! scalers keep no history gscale can ask for: no `plan --replay`.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use http::uri::PathAndQuery;
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::transport::{Channel, Endpoint};

use super::error::{MetricError, Problem, Target};
use super::hosts::{HostPolicy, Refused, resolve_checked};
use super::{MetricSource, Sample, number};
use crate::api::MetricType;

/// `ScaledObjectRef`: which scaler asks, with the trigger's metadata.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScaledObjectRef {
    /// The asking object's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its namespace.
    #[prost(string, tag = "2")]
    pub namespace: String,
    /// The trigger's metadata.
    #[prost(map = "string, string", tag = "3")]
    pub scaler_metadata: HashMap<String, String>,
}

/// `IsActiveResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IsActiveResponse {
    /// Whether the workload should run at all.
    #[prost(bool, tag = "1")]
    pub result: bool,
}

/// `GetMetricSpecResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetMetricSpecResponse {
    /// The scaler's metrics and their per-replica targets.
    #[prost(message, repeated, tag = "1")]
    pub metric_specs: Vec<ExternalMetricSpec>,
}

/// `MetricSpec` of the proto.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExternalMetricSpec {
    /// The metric's name.
    #[prost(string, tag = "1")]
    pub metric_name: String,
    /// Its per-replica target.
    #[prost(int64, tag = "2")]
    pub target_size: i64,
    /// Its per-replica target, fractional (preferred when set).
    #[prost(double, tag = "3")]
    pub target_size_float: f64,
}

/// `GetMetricsRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetMetricsRequest {
    /// Which scaler asks.
    #[prost(message, optional, tag = "1")]
    pub scaled_object_ref: Option<ScaledObjectRef>,
    /// Which metric.
    #[prost(string, tag = "2")]
    pub metric_name: String,
}

/// `GetMetricsResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GetMetricsResponse {
    /// The values.
    #[prost(message, repeated, tag = "1")]
    pub metric_values: Vec<MetricValue>,
}

/// `MetricValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricValue {
    /// The metric's name.
    #[prost(string, tag = "1")]
    pub metric_name: String,
    /// The value.
    #[prost(int64, tag = "2")]
    pub metric_value: i64,
    /// The value, fractional (preferred when set).
    #[prost(double, tag = "3")]
    pub metric_value_float: f64,
}

/// The gRPC paths of the service `externalscaler.ExternalScaler`.
pub mod paths {
    /// `IsActive`.
    pub const IS_ACTIVE: &str = "/externalscaler.ExternalScaler/IsActive";
    /// `GetMetricSpec`.
    pub const GET_METRIC_SPEC: &str = "/externalscaler.ExternalScaler/GetMetricSpec";
    /// `GetMetrics`.
    pub const GET_METRICS: &str = "/externalscaler.ExternalScaler/GetMetrics";
}

/// How gscale reaches one scaler.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Dial {
    /// `host:port`.
    pub address: String,
    /// TLS: `Some((ca_pem, insecure_skip_verify))`.
    pub tls: Option<(Option<String>, bool)>,
}

/// Channels by dial, reused across reads (tonic reconnects a channel by itself).
#[derive(Default)]
pub struct ExternalPool {
    channels: Mutex<HashMap<Dial, Channel>>,
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

impl ExternalPool {
    /// The channel to `dial`, made on first use.
    pub fn get(&self, dial: &Dial, hosts: Arc<HostPolicy>, target: &Target) -> Result<Channel, MetricError> {
        let mut channels = self.channels.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(channel) = channels.get(dial) {
            return Ok(channel.clone());
        }
        let invalid = |detail: String| MetricError::InvalidSource { kind: "external", detail };
        let (host, port) = dial
            .address
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
            .filter(|(h, _)| !h.is_empty())
            .ok_or_else(|| invalid(format!("scalerAddress {:?} is not host:port", dial.address)))?;
        let tls = match &dial.tls {
            Some((ca, insecure)) => Some(Arc::new(
                super::redis::tls_config(*insecure, ca.as_deref())
                    .map_err(|e| invalid(format!("tls: {e}")))?,
            )),
            None => None,
        };
        let endpoint = Endpoint::from_shared(format!("http://{}", dial.address))
            .map_err(|_| invalid(format!("scalerAddress {:?} is not host:port", dial.address)))?;
        let denied_target = target.clone();
        let connector = tower::service_fn(move |_uri: http::Uri| {
            let (host, hosts, tls, target) =
                (host.clone(), hosts.clone(), tls.clone(), denied_target.clone());
            async move {
                let addrs = resolve_checked(&hosts, &host, port).await.map_err(|refused| match refused {
                    Refused::Denied(denied) => {
                        Box::new(Blocked(MetricError::Denied { target, detail: denied.to_string() }))
                            as Box<dyn std::error::Error + Send + Sync>
                    }
                    Refused::Lookup(e) => Box::new(e),
                })?;
                let mut last = None;
                let mut stream = None;
                for addr in addrs {
                    match tokio::net::TcpStream::connect(addr).await {
                        Ok(s) => {
                            stream = Some(s);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                let stream = stream.ok_or_else(|| {
                    last.unwrap_or_else(|| std::io::Error::other("the name has no address"))
                })?;
                let io: Pin<Box<dyn Io>> = match tls {
                    Some(config) => {
                        let name = rustls::pki_types::ServerName::try_from(host.clone())
                            .map_err(|_| std::io::Error::other("not a TLS server name"))?;
                        Box::pin(tokio_rustls::TlsConnector::from(config).connect(name, stream).await?)
                    }
                    None => Box::pin(stream),
                };
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(hyper_util::rt::TokioIo::new(io))
            }
        });
        let channel = endpoint.connect_with_connector_lazy(connector);
        if channels.len() >= 1024 {
            channels.clear();
        }
        channels.insert(dial.clone(), channel.clone());
        Ok(channel)
    }
}

/// A connection the host policy refused, carried through tonic's error chain.
#[derive(Debug)]
struct Blocked(MetricError);

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for Blocked {}

/// One external read, ready to send.
#[derive(Clone, Debug)]
pub struct ExternalQuery {
    pub(crate) target: Target,
    pub(crate) channel: Channel,
    pub(crate) max_reply_bytes: u64,
    pub(crate) object: ScaledObjectRef,
    pub(crate) metric_name: Option<String>,
    pub(crate) target_value: f64,
}

/// The target of an external read, for messages and dedup.
pub fn target(address: &str, metric_name: Option<&str>) -> Target {
    Target {
        kind: MetricType::External,
        backend: format!("grpc {address}"),
        query: match metric_name {
            Some(name) => format!("metric `{name}`"),
            None => "its first metric".to_string(),
        },
    }
}

impl ExternalQuery {
    async fn call<Q, R>(&self, path: &'static str, request: Q) -> Result<R, MetricError>
    where
        Q: prost::Message + Send + Sync + 'static,
        R: prost::Message + Default + Send + Sync + 'static,
    {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone())
            .max_decoding_message_size(usize::try_from(self.max_reply_bytes).unwrap_or(usize::MAX));
        grpc.ready().await.map_err(|e| self.transport(&e))?;
        let codec = tonic_prost::ProstCodec::<Q, R>::default();
        let reply = grpc.unary(tonic::Request::new(request), PathAndQuery::from_static(path), codec).await;
        reply.map(tonic::Response::into_inner).map_err(|status| self.status(path, &status))
    }

    fn transport(&self, err: &(dyn std::error::Error + 'static)) -> MetricError {
        let mut source = Some(err);
        while let Some(e) = source {
            if let Some(Blocked(denied)) = e.downcast_ref::<Blocked>() {
                return denied.clone();
            }
            source = e.source();
        }
        MetricError::Unreachable {
            target: self.target.clone(),
            detail: "cannot connect to the scaler".into(),
        }
    }

    fn status(&self, path: &str, status: &tonic::Status) -> MetricError {
        let call = path.rsplit('/').next().unwrap_or(path);
        if let Some(source) = std::error::Error::source(status) {
            return self.transport(source);
        }
        match status.code() {
            tonic::Code::Unavailable => self.transport(status),
            tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => MetricError::Auth {
                target: self.target.clone(),
                detail: format!("{call}: grpc {:?}", status.code()),
            },
            tonic::Code::ResourceExhausted | tonic::Code::OutOfRange
                if status.message().contains("message length too large") =>
            {
                MetricError::TooLarge { target: self.target.clone(), limit: self.max_reply_bytes }
            }
            code => Problem::Backend(format!(
                "{call}: grpc {code:?} (its message, {} bytes, not shown)",
                status.message().len()
            ))
            .at(&self.target),
        }
    }

    /// Read once, with the account of the scaler's answer.
    pub async fn sample(&self) -> Result<Sample, MetricError> {
        let (active, spec) = futures::try_join!(
            self.call::<_, IsActiveResponse>(paths::IS_ACTIVE, self.object.clone()),
            self.call::<_, GetMetricSpecResponse>(paths::GET_METRIC_SPEC, self.object.clone()),
        )?;
        let chosen = pick_spec(&spec, self.metric_name.as_deref()).map_err(|p| p.at(&self.target))?;
        let request =
            GetMetricsRequest { scaled_object_ref: Some(self.object.clone()), metric_name: chosen.0.clone() };
        let values = self.call::<_, GetMetricsResponse>(paths::GET_METRICS, request).await?;
        let (value, detail) =
            reading(&values, &chosen, active.result, self.target_value).map_err(|p| p.at(&self.target))?;
        Ok(Sample { value, detail: Some(detail) })
    }
}

impl MetricSource for ExternalQuery {
    fn target(&self) -> &Target {
        &self.target
    }

    async fn read(&self) -> Result<f64, MetricError> {
        self.sample().await.map(|s| s.value)
    }
}

/// The metric asked for (by name, else the first) and its per-replica target.
pub fn pick_spec(reply: &GetMetricSpecResponse, name: Option<&str>) -> Result<(String, f64), Problem> {
    let spec = match name {
        Some(name) => reply.metric_specs.iter().find(|s| s.metric_name == name),
        None => reply.metric_specs.first(),
    };
    let Some(spec) = spec else {
        return Err(Problem::NoData(match name {
            Some(_) => format!("GetMetricSpec lists {} metrics, none by that name", reply.metric_specs.len()),
            None => "GetMetricSpec lists no metric".into(),
        }));
    };
    let size = if spec.target_size_float != 0.0 { spec.target_size_float } else { spec.target_size as f64 };
    if !(size.is_finite() && size > 0.0) {
        return Err(Problem::InvalidValue(format!("the scaler's targetSize {size} is not above 0")));
    }
    Ok((spec.metric_name.clone(), size))
}

/// The reading: the metric's value with the scaler's target scaled onto `target_value`, or 0 while
/// inactive; and its account.
pub fn reading(
    reply: &GetMetricsResponse,
    (name, size): &(String, f64),
    active: bool,
    target_value: f64,
) -> Result<(f64, String), Problem> {
    let found = reply.metric_values.iter().find(|v| &v.metric_name == name).or(reply.metric_values.first());
    let Some(found) = found else { return Err(Problem::NoData("GetMetrics gave no value".into())) };
    let raw =
        if found.metric_value_float != 0.0 { found.metric_value_float } else { found.metric_value as f64 };
    let raw = number::check(raw)?;
    let value = if active { raw * target_value / size } else { 0.0 };
    let state = if active { "active" } else { "inactive: read as 0" };
    Ok((value, format!("{name} {} against the scaler's targetSize {} ({state})", fmt(raw), fmt(*size))))
}

fn fmt(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 { format!("{}", x as i64) } else { format!("{x:.3}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, size: i64, float: f64) -> ExternalMetricSpec {
        ExternalMetricSpec { metric_name: name.into(), target_size: size, target_size_float: float }
    }

    #[test]
    fn the_scalers_target_lands_on_the_metrics() {
        let specs = GetMetricSpecResponse { metric_specs: vec![spec("a", 10, 0.0), spec("b", 0, 2.5)] };
        assert_eq!(pick_spec(&specs, None), Ok(("a".into(), 10.0)));
        assert_eq!(pick_spec(&specs, Some("b")), Ok(("b".into(), 2.5)));
        assert!(matches!(pick_spec(&specs, Some("c")), Err(Problem::NoData(_))));
        let zero = GetMetricSpecResponse { metric_specs: vec![spec("a", 0, 0.0)] };
        assert!(matches!(pick_spec(&zero, None), Err(Problem::InvalidValue(_))));
        let values = GetMetricsResponse {
            metric_values: vec![MetricValue {
                metric_name: "a".into(),
                metric_value: 45,
                metric_value_float: 0.0,
            }],
        };
        // 45 against 10 a replica: 4.5 replicas' worth, as 450 against a targetValue of 100.
        let (value, detail) = reading(&values, &("a".into(), 10.0), true, 100.0).unwrap();
        assert_eq!((value, detail.as_str()), (450.0, "a 45 against the scaler's targetSize 10 (active)"));
        assert_eq!(reading(&values, &("a".into(), 10.0), false, 100.0).unwrap().0, 0.0);
        let negative = GetMetricsResponse {
            metric_values: vec![MetricValue {
                metric_name: "a".into(),
                metric_value: -1,
                metric_value_float: 0.0,
            }],
        };
        assert!(reading(&negative, &("a".into(), 10.0), true, 1.0).is_err());
        assert!(reading(&GetMetricsResponse::default(), &("a".into(), 1.0), true, 1.0).is_err());
    }

    #[test]
    fn messages_encode_as_the_proto_says() {
        use prost::Message;
        let object = ScaledObjectRef {
            name: "n".into(),
            namespace: "ns".into(),
            scaler_metadata: HashMap::from([("k".to_string(), "v".to_string())]),
        };
        // Field 1 "n", field 2 "ns", field 3 a map entry {1: "k", 2: "v"}.
        assert_eq!(object.encode_to_vec(), b"\x0a\x01n\x12\x02ns\x1a\x06\x0a\x01k\x12\x01v".to_vec());
    }
}
